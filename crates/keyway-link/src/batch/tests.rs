//! The batch parser's limits and the sans-IO chunk and answer types.

use proptest::prelude::*;

use super::*;
use crate::linker::{Decision, Flag};

fn h(n: u32) -> String {
    format!("{n:08x}").repeat(8)
}

fn parse(format: Format, body: &[u8], piece: usize) -> Result<Vec<Item>, BatchError> {
    let mut parser = BatchParser::new(format);
    let mut items = Vec::new();
    for part in body.chunks(piece.max(1)) {
        parser.feed(part, &mut items)?;
    }
    parser.finish(&mut items)?;
    Ok(items)
}

#[test]
fn a_long_line_is_refused_by_number_in_any_piece_size() {
    let long = "X".repeat(MAX_LINE_BYTES + 1);
    let header_only = long.clone();
    let second = format!("PATID,F_L_D_S\n{long}");
    let third = format!("PATID,F_L_D_S\np1,{}\n{long},{}\n", h(1), h(2));
    let quoted = format!(
        "PATID,F_L_D_S\n\"{}\",{}\n",
        "a\n".repeat(MAX_LINE_BYTES),
        h(3)
    );
    for (body, line) in [(header_only, 1), (second, 2), (third, 3), (quoted, 2)] {
        for piece in [1, 7, 4096, 1 << 20] {
            let err = parse(Format::Csv, body.as_bytes(), piece).unwrap_err();
            assert_eq!(
                err,
                BatchError::LineTooLong {
                    line,
                    limit: MAX_LINE_BYTES
                },
                "piece {piece}"
            );
            assert!(err.is_size_limit());
            assert!(!err.to_string().contains("XX"), "{err}");
        }
    }
    // Exactly at the limit is a line like any other (here: a bad row, not a refusal).
    let at_limit = format!("PATID,F_L_D_S\n{}", "X".repeat(MAX_LINE_BYTES));
    assert_eq!(
        parse(Format::Csv, at_limit.as_bytes(), 100),
        Err(BatchError::FieldTooLong {
            line: 2,
            limit: MAX_FIELD_BYTES
        })
    );
}

#[test]
fn a_long_field_is_refused_by_number() {
    let patid = "Y".repeat(MAX_FIELD_BYTES + 1);
    let csv = format!("PATID,F_L_D_S\np1,{}\n{patid},{}\n", h(1), h(2));
    let err = parse(Format::Csv, csv.as_bytes(), 64).unwrap_err();
    assert_eq!(
        err,
        BatchError::FieldTooLong {
            line: 3,
            limit: MAX_FIELD_BYTES
        }
    );
    assert!(!err.to_string().contains("YY"));
    let ndjson = format!("{{\"patid\":\"p1\"}}\n{{\"patid\":\"{patid}\"}}\n");
    assert_eq!(
        parse(Format::Ndjson, ndjson.as_bytes(), 64).unwrap_err(),
        BatchError::FieldTooLong {
            line: 2,
            limit: MAX_FIELD_BYTES
        }
    );
    let header = format!("PATID,{patid}\n");
    assert!(matches!(
        parse(Format::Csv, header.as_bytes(), 64),
        Err(BatchError::FieldTooLong { line: 1, .. })
    ));
    // A patid over 190 bytes but within the field limit is a bad row, as before.
    let row = format!("PATID\n{}\n", "z".repeat(MAX_PATID + 1));
    let items = parse(Format::Csv, row.as_bytes(), 64).unwrap();
    assert!(matches!(&items[0], Item::Rejected { line: 2, reason, .. } if reason.contains("190")));
}

#[test]
fn the_body_limit_is_counted_across_pieces() {
    let limits = Limits {
        batch_bytes: 1000,
        ..Limits::default()
    };
    let mut parser = BatchParser::with_limits(Format::Csv, limits);
    let mut items = Vec::new();
    parser.feed(b"PATID\n", &mut items).unwrap();
    let lines = b"p\n".repeat(100);
    for _ in 0..4 {
        parser.feed(&lines, &mut Vec::new()).unwrap();
    }
    assert_eq!(
        parser.feed(&lines, &mut Vec::new()),
        Err(BatchError::BatchTooLarge { limit: 1000 })
    );
}

#[test]
fn cuts_after_the_size_th_record_across_pieces() {
    let record = |n: u64| Item::Record {
        line: n,
        record: crate::linker::LinkRecord {
            patid: n.to_string(),
            hashes: Vec::new(),
        },
    };
    let rejected = |n: u64| Item::Rejected {
        line: n,
        patid: n.to_string(),
        reason: "bad".into(),
    };
    let mut cutter = ChunkCutter::new(3);
    let mut pending = vec![rejected(0), record(1), record(2)];
    assert!(cutter.next(&mut pending, false).is_none());
    pending.extend([record(3), rejected(4), record(5)]);
    let chunk = cutter.next(&mut pending, false).unwrap();
    assert_eq!(chunk.len(), 4, "the rejected row before them and 3 records");
    assert_eq!(pending.len(), 2);
    assert!(cutter.next(&mut pending, false).is_none());
    assert_eq!(cutter.next(&mut pending, true).unwrap().len(), 2);
    assert!(cutter.next(&mut pending, true).is_none());
}

#[test]
fn answers_keep_input_order_and_count_flags() {
    let body = format!("PATID,F_L_D_S\np1,{}\np2,bad\np3,\n", h(1));
    let items = parse(Format::Csv, body.as_bytes(), 5).unwrap();
    let chunk = LinkChunk::new(items);
    assert_eq!(chunk.records.len(), 2);
    let decision = |patid: &str, flag| Decision {
        patid: patid.into(),
        uuid: format!("uuid-{patid}"),
        flag,
        reason: String::new(),
    };
    let decisions = vec![decision("p1", Flag::New), decision("p3", Flag::Linked)];
    let mut out = Vec::new();
    let counts = chunk.write_answers(decisions, Format::Csv, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "p1,uuid-p1,NEW,\np2,,ERROR,line 3: F_L_D_S: not a SHA-256 hash (64 hex digits)\np3,uuid-p3,LINKED,\n"
    );
    assert_eq!(
        (counts["NEW"], counts["ERROR"], counts["LINKED"]),
        (1, 1, 1)
    );
}

proptest! {
    /// Whatever the piece sizes, a body parses to the same items (or the same refusal).
    #[test]
    fn pieces_never_change_the_result(
        rows in proptest::collection::vec("[a-z\",\\n]{0,12}", 0..20),
        long in 0usize..3,
        piece in 1usize..40,
    ) {
        let mut body = String::from("PATID,F_L_D_S\n");
        for (i, row) in rows.iter().enumerate() {
            body.push_str(row);
            if i % 7 == long {
                body.push_str(&"q".repeat(MAX_FIELD_BYTES + 1));
            }
            body.push_str(&format!(",{}\n", h(i as u32)));
        }
        let whole = parse(Format::Csv, body.as_bytes(), usize::MAX);
        prop_assert_eq!(parse(Format::Csv, body.as_bytes(), piece), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), piece in 1usize..64) {
        let _ = parse(Format::Csv, &body, piece);
        let _ = parse(Format::Ndjson, &body, piece);
    }
}
