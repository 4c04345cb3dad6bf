//! The hub's linker: decides which person (UUID) each submitted record belongs to.
//!
//! Pure: a [`Linker`] is given what the store already knows about a chunk of records
//! ([`Known`]) and returns one [`Decision`] per record plus the rows to insert ([`Rows`]). It
//! keeps what it decided in the same maps, so the records of one chunk see each other in
//! order exactly as they would had each been stored before the next was read. That is what
//! makes the result independent of how a sequence of records is cut into chunks or batches.
//! The rules are specified in `docs/linkage.md` ("Linker (hub)").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_lc_rs::hmac;

use crate::Rule;

/// The maps a chunk is linked with. foldhash instead of SipHash: they hold up to a few hundred
/// thousand keys per chunk and hashing was a tenth of the linker's time. Its per-process
/// random seed still keeps keys from being chosen to collide; and only authenticated partners
/// submit them.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn fast_map<K, V>(capacity: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default())
}

/// The default rule priority used to settle conflicts.
pub const DEFAULT_PRIORITY: [Rule; 4] = [Rule::FLDS, Rule::FLDR, Rule::FLDSFold, Rule::FLDRFold];

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// No known hash: a new person.
    New,
    /// Known hashes all pointed at one person.
    Linked,
    /// Known hashes pointed at several persons; one was chosen by rule priority.
    Conflict,
    /// A hash (or a candidate person) already belongs to another patid of the same partner.
    Collision,
    /// The row was refused (bad hash, empty or duplicate patid); nothing stored.
    Error,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::New => "NEW",
            Flag::Linked => "LINKED",
            Flag::Conflict => "CONFLICT",
            Flag::Collision => "COLLISION",
            Flag::Error => "ERROR",
        }
    }

    pub fn parse(text: &str) -> Option<Flag> {
        Some(match text {
            "NEW" => Flag::New,
            "LINKED" => Flag::Linked,
            "CONFLICT" => Flag::Conflict,
            "COLLISION" => Flag::Collision,
            "ERROR" => Flag::Error,
            _ => return None,
        })
    }
}

/// A submitted record after validation: a patid and its hashes (lowercase hex), one per rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    pub patid: String,
    pub hashes: Vec<(Rule, String)>,
}

/// The answer for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub patid: String,
    pub uuid: String,
    pub flag: Flag,
    pub reason: String,
}

/// A stored record of the submitting partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub uuid: String,
    pub flag: Flag,
    pub reason: String,
}

/// A stored hash entry: which partner's patid (and person) a hash belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashEntry {
    pub partner: String,
    pub patid: String,
    pub uuid: String,
}

/// What the store knows that bears on a chunk of one partner's records.
#[derive(Debug, Default, Clone)]
pub struct Known {
    /// The partner's stored records among the chunk's patids.
    pub records: FastMap<String, StoredRecord>,
    /// Every entry for the chunk's hashes, by hash (see [`Known::add_entry`]). Keyed by the
    /// hash alone so that a look-up borrows the submitted string instead of copying it.
    entries: FastMap<String, Vec<(Rule, HashEntry)>>,
    /// UUID → patid, for the partner's records linked to any UUID in `entries`.
    pub partner_uuids: FastMap<String, String>,
}

impl Known {
    /// Room for a chunk of `records` records holding `hashes` hashes in all, with what the
    /// store knows of them: the maps then never grow (and rehash) while the chunk is linked,
    /// which had been a third of the linker's time.
    pub fn with_capacity(records: usize, hashes: usize) -> Known {
        Known {
            records: fast_map(records),
            entries: fast_map(hashes),
            partner_uuids: fast_map(records),
        }
    }

    /// Records that `hash` (under `rule`) belongs to `entry`.
    pub fn add_entry(&mut self, rule: Rule, hash: String, entry: HashEntry) {
        self.entries.entry(hash).or_default().push((rule, entry));
    }

    /// The entries of `hash` under `rule`.
    pub fn entries(&self, rule: Rule, hash: &str) -> impl Iterator<Item = &HashEntry> {
        self.entries
            .get(hash)
            .into_iter()
            .flatten()
            .filter(move |(r, _)| *r == rule)
            .map(|(_, entry)| entry)
    }

    /// Every known entry, whatever its hash.
    pub fn all_entries(&self) -> impl Iterator<Item = &HashEntry> {
        self.entries.values().flatten().map(|(_, entry)| entry)
    }
}

/// A record to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub patid: String,
    pub uuid: String,
    pub flag: Flag,
    pub reason: String,
    pub seq: i64,
}

/// A conflict to record: all candidates per rule, and the choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConflict {
    pub seq: i64,
    pub patid: String,
    pub chosen: String,
    pub candidates: BTreeMap<&'static str, Vec<String>>,
    pub reason: String,
}

/// Rows a chunk adds to the store.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rows {
    pub records: Vec<NewRecord>,
    /// (rule, hash, seq of the record it belongs to)
    pub hashes: Vec<(Rule, String, i64)>,
    pub conflicts: Vec<NewConflict>,
}

/// Derives the UUID of a new person: UUIDv8 from the first 16 bytes of
/// HMAC-SHA256(hub link key, partner ‖ 0x00 ‖ patid).
pub fn person_uuid(key: &hmac::Key, partner: &str, patid: &str) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(partner.as_bytes());
    ctx.update(&[0]);
    ctx.update(patid.as_bytes());
    let tag = ctx.sign();
    let mut b = [0u8; 16];
    b.copy_from_slice(&tag.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    keyway_store::uuid_string(&b)
}

/// Links the records of one partner, in order, against what is known.
pub struct Linker<'a> {
    key: &'a hmac::Key,
    priority: &'a [Rule],
    partner: &'a str,
    known: Known,
    next_seq: i64,
    rows: Rows,
}

impl<'a> Linker<'a> {
    pub fn new(
        key: &'a hmac::Key,
        priority: &'a [Rule],
        partner: &'a str,
        known: Known,
        next_seq: i64,
    ) -> Linker<'a> {
        Linker {
            key,
            priority,
            partner,
            known,
            next_seq,
            rows: Rows::default(),
        }
    }

    /// The rows to insert and the next free sequence number.
    pub fn finish(self) -> (Rows, i64) {
        (self.rows, self.next_seq)
    }

    fn rank(&self, rule: Rule) -> usize {
        self.priority
            .iter()
            .position(|r| *r == rule)
            .unwrap_or(self.priority.len() + rule as usize)
    }

    /// Decides one record and remembers the decision for the records that follow.
    pub fn link(&mut self, record: &LinkRecord) -> Decision {
        if let Some(stored) = self.known.records.get(&record.patid) {
            return Decision {
                patid: record.patid.clone(),
                uuid: stored.uuid.clone(),
                flag: stored.flag,
                reason: stored.reason.clone(),
            };
        }
        let mut collisions = Vec::new();
        // rank → (rule, candidate UUIDs)
        let mut by_rule: BTreeMap<usize, (Rule, BTreeSet<String>)> = BTreeMap::new();
        for (rule, hash) in &record.hashes {
            if let Some(own) = self
                .known
                .entries(*rule, hash)
                .find(|e| e.partner == self.partner)
            {
                collisions.push(format!(
                    "{} hash already submitted for patid {}",
                    rule.name(),
                    own.patid
                ));
                continue;
            }
            for entry in self.known.entries(*rule, hash) {
                if let Some(owner) = self.known.partner_uuids.get(&entry.uuid) {
                    collisions.push(format!(
                        "{} candidate {} already linked to patid {}",
                        rule.name(),
                        entry.uuid,
                        owner
                    ));
                    continue;
                }
                by_rule
                    .entry(self.rank(*rule))
                    .or_insert_with(|| (*rule, BTreeSet::new()))
                    .1
                    .insert(entry.uuid.clone());
            }
        }
        let distinct: BTreeSet<&String> = by_rule.values().flat_map(|(_, set)| set).collect();
        let seq = self.next_seq;
        self.next_seq += 1;
        let (uuid, mut flag, mut reason) = match distinct.len() {
            0 => (
                person_uuid(self.key, self.partner, &record.patid),
                Flag::New,
                if record.hashes.is_empty() {
                    "no hash submitted".to_string()
                } else {
                    "no known hash".to_string()
                },
            ),
            1 => {
                let uuid = distinct.iter().next().map(|u| u.to_string());
                let rules: Vec<&str> = by_rule.values().map(|(r, _)| r.name()).collect();
                let uuid = uuid.unwrap_or_default();
                let reason = format!("{} matched {uuid}", rules.join(", "));
                (uuid, Flag::Linked, reason)
            }
            n => {
                // The first rule in priority order with candidates decides; within it, the
                // smallest UUID. Never arbitrary.
                let (rule, set) = by_rule
                    .values()
                    .next()
                    .map(|(r, s)| (*r, s.clone()))
                    .unwrap_or((Rule::FLDS, BTreeSet::new()));
                let chosen = set.iter().next().cloned().unwrap_or_default();
                let reason = format!(
                    "hashes point to {n} persons; chose {chosen} by rule {}{}",
                    rule.name(),
                    if set.len() > 1 {
                        " (smallest of its candidates)"
                    } else {
                        ""
                    }
                );
                self.rows.conflicts.push(NewConflict {
                    seq,
                    patid: record.patid.clone(),
                    chosen: chosen.clone(),
                    candidates: by_rule
                        .values()
                        .map(|(r, s)| (r.name(), s.iter().cloned().collect()))
                        .collect(),
                    reason: reason.clone(),
                });
                (chosen, Flag::Conflict, reason)
            }
        };
        if !collisions.is_empty() {
            if flag != Flag::Conflict {
                flag = Flag::Collision;
            }
            reason = format!("{reason}; collision: {}", collisions.join("; "));
        }
        self.remember(record, &uuid, flag, &reason, seq);
        Decision {
            patid: record.patid.clone(),
            uuid,
            flag,
            reason,
        }
    }

    fn remember(&mut self, record: &LinkRecord, uuid: &str, flag: Flag, reason: &str, seq: i64) {
        self.known.records.insert(
            record.patid.clone(),
            StoredRecord {
                uuid: uuid.to_string(),
                flag,
                reason: reason.to_string(),
            },
        );
        self.known
            .partner_uuids
            .insert(uuid.to_string(), record.patid.clone());
        for (rule, hash) in &record.hashes {
            self.known.add_entry(
                *rule,
                hash.clone(),
                HashEntry {
                    partner: self.partner.to_string(),
                    patid: record.patid.clone(),
                    uuid: uuid.to_string(),
                },
            );
            self.rows.hashes.push((*rule, hash.clone(), seq));
        }
        self.rows.records.push(NewRecord {
            patid: record.patid.clone(),
            uuid: uuid.to_string(),
            flag,
            reason: reason.to_string(),
            seq,
        });
    }
}
