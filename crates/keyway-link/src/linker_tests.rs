//! The linker against an in-memory model of the store: decisions, and the guarantee that
//! the result depends only on the sequence of records, never on how it is cut into chunks.

use std::collections::HashMap;

use aws_lc_rs::hmac;
use proptest::prelude::*;

use crate::Rule;
use crate::batch::{BatchParser, Format, Item};
use crate::linker::{
    DEFAULT_PRIORITY, Decision, Flag, HashEntry, Known, LinkRecord, Linker, StoredRecord,
};

/// What the store would hold: records by (partner, patid), hash entries, conflicts.
#[derive(Default)]
struct Model {
    records: HashMap<(String, String), StoredRecord>,
    hashes: Vec<(Rule, String, HashEntry)>,
    conflicts: Vec<(i64, String)>,
    next_seq: i64,
}

impl Model {
    /// Answers the three queries `LinkService::link_chunk` makes, then links the chunk.
    fn link_chunk(
        &mut self,
        key: &hmac::Key,
        partner: &str,
        chunk: &[LinkRecord],
    ) -> Vec<Decision> {
        let mut known = Known::default();
        for r in chunk {
            if let Some(s) = self.records.get(&(partner.to_string(), r.patid.clone())) {
                known.records.insert(r.patid.clone(), s.clone());
            }
        }
        for (rule, hash, entry) in &self.hashes {
            if chunk
                .iter()
                .any(|r| r.hashes.iter().any(|(_, h)| h == hash))
            {
                known.add_entry(*rule, hash.clone(), entry.clone());
            }
        }
        let uuids: Vec<String> = known.all_entries().map(|e| e.uuid.clone()).collect();
        for ((p, patid), s) in &self.records {
            if p == partner && uuids.contains(&s.uuid) {
                known.partner_uuids.insert(s.uuid.clone(), patid.clone());
            }
        }
        let mut linker = Linker::new(key, &DEFAULT_PRIORITY, partner, known, self.next_seq);
        let decisions = chunk.iter().map(|r| linker.link(r)).collect();
        let (rows, next) = linker.finish();
        self.next_seq = next;
        let by_seq: HashMap<i64, (String, String)> = rows
            .records
            .iter()
            .map(|r| (r.seq, (r.patid.clone(), r.uuid.clone())))
            .collect();
        for r in rows.records {
            let stored = StoredRecord {
                uuid: r.uuid,
                flag: r.flag,
                reason: r.reason,
            };
            self.records.insert((partner.to_string(), r.patid), stored);
        }
        for (rule, hash, seq) in rows.hashes {
            let (patid, uuid) = by_seq[&seq].clone();
            self.hashes.push((
                rule,
                hash,
                HashEntry {
                    partner: partner.into(),
                    patid,
                    uuid,
                },
            ));
        }
        for c in rows.conflicts {
            self.conflicts.push((c.seq, c.reason));
        }
        decisions
    }
}

fn key() -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, b"test link key")
}

fn h(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn rec(patid: &str, hashes: &[(Rule, u8)]) -> LinkRecord {
    LinkRecord {
        patid: patid.into(),
        hashes: hashes.iter().map(|(r, n)| (*r, h(*n))).collect(),
    }
}

fn one(model: &mut Model, partner: &str, record: LinkRecord) -> Decision {
    model.link_chunk(&key(), partner, &[record]).remove(0)
}

#[test]
fn uuids_are_deterministic_v8() {
    let a = crate::linker::person_uuid(&key(), "FLM", "p1");
    assert_eq!(a, crate::linker::person_uuid(&key(), "FLM", "p1"));
    assert_ne!(a, crate::linker::person_uuid(&key(), "FLM", "p2"));
    assert_ne!(a, crate::linker::person_uuid(&key(), "FL", "Mp1"));
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "8");
    assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    // Computed independently with Python's hmac module (docs/linkage.md, "Linker").
    assert_eq!(a, "8f8b3bb4-c937-8386-a27f-39777d8f095e");
}

#[test]
fn same_person_from_two_partners_gets_one_uuid() {
    let mut m = Model::default();
    let a = one(&mut m, "A", rec("a1", &[(Rule::FLDS, 1), (Rule::FLDR, 2)]));
    assert_eq!(a.flag, Flag::New);
    let b = one(&mut m, "B", rec("b1", &[(Rule::FLDS, 1), (Rule::FLDR, 3)]));
    assert_eq!((b.flag, &b.uuid), (Flag::Linked, &a.uuid));
    // b1 linked its new F_L_D_R hash: a third partner matching only that finds the person.
    let c = one(&mut m, "C", rec("c1", &[(Rule::FLDR, 3)]));
    assert_eq!((c.flag, &c.uuid), (Flag::Linked, &a.uuid));
}

#[test]
fn conflicts_are_settled_by_rule_priority() {
    let mut m = Model::default();
    let x = one(&mut m, "A", rec("a1", &[(Rule::FLDR, 2)]));
    let y = one(&mut m, "A", rec("a2", &[(Rule::FLDS, 1)]));
    let c = one(&mut m, "B", rec("b1", &[(Rule::FLDR, 2), (Rule::FLDS, 1)]));
    assert_eq!(c.flag, Flag::Conflict);
    assert_eq!(c.uuid, y.uuid, "F_L_D_S outranks F_L_D_R");
    assert_ne!(x.uuid, y.uuid);
    assert_eq!(m.conflicts.len(), 1);
    assert!(m.conflicts[0].1.contains("F_L_D_S"), "{}", m.conflicts[0].1);
}

#[test]
fn same_hash_same_partner_other_patid_is_a_collision() {
    let mut m = Model::default();
    let a = one(&mut m, "A", rec("a1", &[(Rule::FLDS, 1)]));
    let twin = one(&mut m, "A", rec("a2", &[(Rule::FLDS, 1)]));
    assert_eq!(twin.flag, Flag::Collision);
    assert_ne!(twin.uuid, a.uuid);
    assert!(twin.reason.contains("a1"), "{}", twin.reason);
    // Reached through another partner's record: still never a second patid's UUID.
    one(&mut m, "B", rec("b1", &[(Rule::FLDS, 1), (Rule::FLDR, 9)]));
    let a3 = one(&mut m, "A", rec("a3", &[(Rule::FLDR, 9)]));
    assert_eq!(a3.flag, Flag::Collision);
    assert_ne!(a3.uuid, a.uuid);
}

#[test]
fn resubmission_returns_the_stored_answer() {
    let mut m = Model::default();
    let first = one(&mut m, "A", rec("a1", &[(Rule::FLDS, 1)]));
    let again = one(&mut m, "A", rec("a1", &[(Rule::FLDS, 7)]));
    assert_eq!(first, again);
    assert_eq!(m.records.len(), 1);
    assert_eq!(
        m.hashes.len(),
        1,
        "new hashes of a linked record are ignored"
    );
}

#[test]
fn parses_csv_in_pieces_with_bad_rows() {
    let text = format!(
        "\u{feff}PATID,F_L_D_R,F_L_D_S\r\np1,{},{}\r\n,{},\r\np2,xyz,\r\np1,,{}\np3,,\n",
        h(1).to_uppercase(),
        h(2),
        h(3),
        h(4)
    );
    for piece in [1, 7, 64, 10_000] {
        let mut parser = BatchParser::new(Format::Csv);
        let mut items = Vec::new();
        for part in text.as_bytes().chunks(piece) {
            parser.feed(part, &mut items).unwrap();
        }
        parser.finish(&mut items).unwrap();
        assert_eq!(items.len(), 5, "{items:?}");
        let Item::Record { line: 2, record } = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(record.hashes, vec![(Rule::FLDR, h(1)), (Rule::FLDS, h(2))]);
        assert!(
            matches!(&items[1], Item::Rejected { line: 3, reason, .. } if reason == "empty patid")
        );
        assert!(matches!(&items[2], Item::Rejected { line: 4, .. }));
        assert!(
            matches!(&items[3], Item::Rejected { line: 5, reason, .. } if reason.contains("duplicate"))
        );
        assert!(matches!(&items[4], Item::Record { line: 6, record } if record.hashes.is_empty()));
    }
}

#[test]
fn quoted_fields_may_hold_newlines_and_commas_in_any_piece_size() {
    let h = |n: u8| format!("{n:064x}");
    let text = format!(
        "\u{feff}PATID,F_L_D_R\r\n\"p,1\",{}\r\n\"two\nline\",{}\n\"say \"\"hi\"\"\",{}\nplain,{}",
        h(1),
        h(2),
        h(3),
        h(4)
    );
    for piece in [1, 2, 5, 64, 10_000] {
        let mut parser = BatchParser::new(Format::Csv);
        let mut items = Vec::new();
        for part in text.as_bytes().chunks(piece) {
            parser.feed(part, &mut items).unwrap();
        }
        parser.finish(&mut items).unwrap();
        let got: Vec<(u64, String)> = items
            .iter()
            .map(|item| match item {
                Item::Record { line, record } => (*line, record.patid.clone()),
                Item::Rejected { line, reason, .. } => panic!("line {line}: {reason}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "p,1".to_string()),
                (3, "two\nline".to_string()),
                (5, "say \"hi\"".to_string()),
                (6, "plain".to_string()),
            ],
            "piece {piece}"
        );
    }
}

#[test]
fn refuses_identifying_columns() {
    let mut parser = BatchParser::new(Format::Csv);
    let err = parser
        .feed(b"patid,first,last,F_L_D_S\n", &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("first, last"), "{err}");
    let mut parser = BatchParser::new(Format::Csv);
    assert!(parser.feed(b"PATID,Birth_Date\n", &mut Vec::new()).is_err());
    let mut parser = BatchParser::new(Format::Csv);
    assert!(parser.finish(&mut Vec::new()).is_err(), "empty batch");
}

#[test]
fn parses_ndjson() {
    let text = format!(
        "{{\"patid\":\"p1\",\"F_L_D_S\":\"{}\"}}\n{{\"patid\":\"p2\",\"first\":\"x\"}}\nnope\n",
        h(5)
    );
    let mut parser = BatchParser::new(Format::Ndjson);
    let mut items = Vec::new();
    parser.feed(text.as_bytes(), &mut items).unwrap();
    parser.finish(&mut items).unwrap();
    assert!(
        matches!(&items[0], Item::Record { record, .. } if record.hashes == vec![(Rule::FLDS, h(5))])
    );
    assert!(matches!(&items[1], Item::Rejected { reason, .. } if reason.contains("identifying")));
    assert!(matches!(&items[2], Item::Rejected { line: 3, .. }));
}

/// A sequence of (partner, record) with few distinct hashes, so links, conflicts and
/// collisions are frequent; patids unique per partner except deliberate resubmissions.
fn sequence() -> impl Strategy<Value = Vec<(String, LinkRecord)>> {
    let item = (
        0..3u8,
        0..12u8,
        proptest::collection::vec((0..4usize, 0..10u8), 0..4),
    );
    proptest::collection::vec(item, 1..60).prop_map(|items| {
        items
            .into_iter()
            .map(|(p, patid, hashes)| {
                let mut hashes: Vec<(Rule, String)> = hashes
                    .into_iter()
                    .map(|(r, n)| (DEFAULT_PRIORITY[r], h(n)))
                    .collect();
                hashes.sort();
                hashes.dedup_by_key(|(r, _)| *r);
                let partner = ["A", "B", "C"][p as usize].to_string();
                (
                    partner,
                    LinkRecord {
                        patid: format!("p{patid}"),
                        hashes,
                    },
                )
            })
            .collect()
    })
}

fn run_split(seq: &[(String, LinkRecord)], cuts: &[usize]) -> (Vec<Decision>, Vec<(i64, String)>) {
    let key = key();
    let mut model = Model::default();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cut = cuts.iter().cycle();
    while start < seq.len() {
        // A chunk holds one partner's consecutive records, at most `size` of them.
        let size = cut.next().copied().unwrap_or(1).max(1);
        let partner = &seq[start].0;
        let mut end = start;
        while end < seq.len() && end - start < size && &seq[end].0 == partner {
            end += 1;
        }
        let chunk: Vec<LinkRecord> = seq[start..end].iter().map(|(_, r)| r.clone()).collect();
        // Within one chunk a repeated patid is a resubmission (the batch parser rejects
        // duplicates inside one batch before they reach the linker).
        out.extend(model.link_chunk(&key, partner, &chunk));
        start = end;
    }
    (out, model.conflicts)
}

proptest! {
    #[test]
    fn chunking_never_changes_the_result(
        seq in sequence(),
        cuts in proptest::collection::vec(1..8usize, 1..6),
    ) {
        let one_by_one = run_split(&seq, &[1]);
        let split = run_split(&seq, &cuts);
        let whole = run_split(&seq, &[usize::MAX]);
        prop_assert_eq!(&one_by_one, &split);
        prop_assert_eq!(&one_by_one, &whole);
    }

    #[test]
    fn resubmitting_everything_changes_nothing(seq in sequence()) {
        let key = key();
        let mut model = Model::default();
        let mut first = Vec::new();
        for (partner, record) in &seq {
            first.push(model.link_chunk(&key, partner, std::slice::from_ref(record)).remove(0));
        }
        let records = model.records.len();
        let hashes = model.hashes.len();
        for (i, (partner, record)) in seq.iter().enumerate() {
            let again = model.link_chunk(&key, partner, std::slice::from_ref(record)).remove(0);
            let stored = &model.records[&(partner.clone(), record.patid.clone())];
            prop_assert_eq!(&again.uuid, &stored.uuid);
            // The first answer for this (partner, patid) is the one returned ever after.
            let first_answer = seq.iter().position(|(p, r)| p == partner && r.patid == record.patid);
            prop_assert_eq!(Some(&again), first_answer.map(|j| &first[j]));
            let _ = i;
        }
        prop_assert_eq!(model.records.len(), records);
        prop_assert_eq!(model.hashes.len(), hashes);
    }
}
