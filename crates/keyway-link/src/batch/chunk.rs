//! Linking transactions: parsed items cut into chunks, a chunk's records handed to the linker,
//! and its answer written in input order.

use std::collections::HashMap;

use super::{Format, Item, write_answer};
use crate::linker::{Decision, LinkRecord};

/// Records per linking transaction. Large, because each commit rewrites every B-tree page
/// its random hash and UUID keys touched: 10,000-record transactions spent most of their time
/// writing the WAL. The hub-wide link lock is held for a chunk (a few seconds at most).
pub const CHUNK_RECORDS: usize = 100_000;

/// Cuts parsed items into chunks of `size` records. Remembers how far it has counted, so
/// each item is looked at once however many body pieces a chunk arrives in.
#[derive(Debug, Clone)]
pub struct ChunkCutter {
    size: usize,
    /// Items at the front of `pending` already counted, and the records among them.
    counted: usize,
    records: usize,
}

impl Default for ChunkCutter {
    fn default() -> ChunkCutter {
        ChunkCutter::new(CHUNK_RECORDS)
    }
}

impl ChunkCutter {
    pub fn new(size: usize) -> ChunkCutter {
        ChunkCutter {
            size: size.max(1),
            counted: 0,
            records: 0,
        }
    }

    /// The next chunk taken from the front of `pending`: up to and including the `size`-th
    /// record, or everything once the body has `ended`.
    pub fn next(&mut self, pending: &mut Vec<Item>, ended: bool) -> Option<Vec<Item>> {
        while self.counted < pending.len() && self.records < self.size {
            if matches!(pending[self.counted], Item::Record { .. }) {
                self.records += 1;
            }
            self.counted += 1;
        }
        let rest_of_body = ended && !pending.is_empty();
        if self.records < self.size && !rest_of_body {
            return None;
        }
        let rest = pending.split_off(self.counted);
        self.counted = 0;
        self.records = 0;
        Some(std::mem::replace(pending, rest))
    }
}

/// Answers per flag in one chunk (counted per chunk: a metrics look-up per record is
/// measurable at 100,000 records).
pub type FlagCounts = HashMap<&'static str, u64>;

/// One chunk on its way through the linker: the records go to the linker, the rejected rows
/// wait in their place.
#[derive(Debug)]
pub struct LinkChunk {
    /// What the linker is to decide, in order.
    pub records: Vec<LinkRecord>,
    /// Per input item: `None` where a record's decision goes, else the rejected row.
    slots: Vec<Option<(u64, String, String)>>,
}

impl LinkChunk {
    pub fn new(items: Vec<Item>) -> LinkChunk {
        let mut records = Vec::with_capacity(items.len());
        let mut slots = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Item::Record { record, .. } => {
                    records.push(record);
                    slots.push(None);
                }
                Item::Rejected {
                    line,
                    patid,
                    reason,
                } => slots.push(Some((line, patid, reason))),
            }
        }
        LinkChunk { records, slots }
    }

    /// Writes one answer per item of the chunk, in input order: the linker's `decisions` (one
    /// per record, in order) and `ERROR` rows (`line N: reason`) for the rejected ones.
    pub fn write_answers(
        self,
        decisions: Vec<Decision>,
        format: Format,
        out: &mut Vec<u8>,
    ) -> FlagCounts {
        let mut decisions = decisions.into_iter();
        let mut counts = FlagCounts::new();
        for slot in self.slots {
            match slot {
                None => {
                    if let Some(d) = decisions.next() {
                        *counts.entry(d.flag.as_str()).or_default() += 1;
                        write_answer(format, out, &d.patid, &d.uuid, d.flag.as_str(), &d.reason);
                    }
                }
                Some((line, patid, reason)) => {
                    *counts.entry("ERROR").or_default() += 1;
                    let reason = format!("line {line}: {reason}");
                    write_answer(format, out, &patid, "", "ERROR", &reason);
                }
            }
        }
        counts
    }
}
