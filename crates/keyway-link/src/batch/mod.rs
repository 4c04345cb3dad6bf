//! Submitted batches, sans I/O: bytes in, parsed items, chunks for the linker and answer bytes
//! out. The hub only moves bytes between the connection and these types.
//!
//! - [`BatchParser`] (`parser.rs`) cuts records and checks them, in time linear in the input
//!   whatever the piece sizes, with limits on the body, line and field lengths;
//! - [`ChunkCutter`] (`chunk.rs`) groups items into linking transactions of [`CHUNK_RECORDS`];
//! - [`LinkChunk`] (`chunk.rs`) hands a chunk's records to the linker and writes one answer per
//!   item, in input order, with [`write_answer`] (`answer.rs`).
//!
//! A batch may hold only a patid and hash columns; a header that still names identifying
//! columns (names, birth date, sex, race, address…) is refused as a whole. Bad rows (a hash
//! that is not 64 hex digits, an empty or duplicate patid) become [`Item::Rejected`] and the
//! rest of the batch proceeds. A line or field over its limit refuses the whole batch: such a
//! line is not a hash row, and its text is never echoed back.

mod answer;
mod chunk;
mod parser;

use thiserror::Error;

use crate::Rule;
use crate::linker::LinkRecord;

pub use answer::{ANSWER_HEADER, write_answer};
pub use chunk::{CHUNK_RECORDS, ChunkCutter, FlagCounts, LinkChunk};
pub use parser::{BatchParser, split_csv_line};

/// Longest patid accepted (the store indexes it).
pub const MAX_PATID: usize = 190;
/// Longest record (a line, or the lines of one record with quoted newlines), in bytes. A hash
/// row is at most about 600 bytes (a 190-byte patid, four 64-digit hashes), 1.5 KiB as NDJSON
/// with every patid byte escaped; the limit leaves room and bounds the memory a line takes.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Longest field (a CSV cell after unquoting, an NDJSON key or string value), in bytes.
pub const MAX_FIELD_BYTES: usize = 256;
/// Largest batch body, in bytes (`keyway link submit` sends 50,000 rows, about 15 MiB).
pub const MAX_BATCH_BYTES: u64 = 2 << 30;

/// The size limits a [`BatchParser`] enforces; the default is the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub batch_bytes: u64,
    pub line_bytes: usize,
    pub field_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            batch_bytes: MAX_BATCH_BYTES,
            line_bytes: MAX_LINE_BYTES,
            field_bytes: MAX_FIELD_BYTES,
        }
    }
}

/// Why a whole batch is refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("the batch is empty (no header row)")]
    Empty,
    #[error(
        "the file holds identifying columns ({0}): only PATID and hash columns may leave the site"
    )]
    IdentifierColumns(String),
    #[error(
        "unknown column {0:?}: expected PATID and F_L_D_R, F_L_D_S, F_L_D_R_FOLD, F_L_D_S_FOLD"
    )]
    UnknownColumn(String),
    #[error("the header has no PATID column")]
    NoPatid,
    #[error("column {0:?} appears twice")]
    DuplicateColumn(String),
    #[error("the header is not valid UTF-8")]
    BadHeader,
    /// The offending text is deliberately not part of the message.
    #[error("line {line} is longer than {limit} bytes (the limit per line)")]
    LineTooLong { line: u64, limit: usize },
    #[error("line {line} has a field longer than {limit} bytes (the limit per field)")]
    FieldTooLong { line: u64, limit: usize },
    #[error("the batch is larger than {limit} bytes")]
    BatchTooLarge { limit: u64 },
}

impl BatchError {
    /// Whether a size limit refused the batch (HTTP 413) rather than its content (400).
    pub fn is_size_limit(&self) -> bool {
        matches!(
            self,
            BatchError::LineTooLong { .. }
                | BatchError::FieldTooLong { .. }
                | BatchError::BatchTooLarge { .. }
        )
    }
}

/// The wire formats of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// One parsed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Record {
        line: u64,
        record: LinkRecord,
    },
    Rejected {
        line: u64,
        patid: String,
        reason: String,
    },
}

/// Column names (lowercase, letters and digits only) that identify a person.
const IDENTIFYING: &[&str] = &[
    "first",
    "last",
    "dob",
    "sex",
    "race",
    "name",
    "firstname",
    "lastname",
    "middlename",
    "birthdate",
    "dateofbirth",
    "gender",
    "zip",
    "zipcode",
    "city",
    "address",
    "street",
    "ssn",
    "phone",
    "email",
    "mrn",
];

pub(crate) fn is_identifying(column: &str) -> bool {
    let key: String = column
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    IDENTIFYING.contains(&key.as_str()) || key.contains("name") || key.contains("birth")
}

/// Where the patid and each rule's hash are in a CSV row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub width: usize,
    pub patid: usize,
    pub rules: Vec<(usize, Rule)>,
}

impl Header {
    /// Checks a header row: PATID plus rule columns, nothing identifying, nothing unknown.
    pub fn parse(fields: &[&str]) -> Result<Header, BatchError> {
        let identifying: Vec<&str> = fields
            .iter()
            .copied()
            .filter(|f| is_identifying(f))
            .collect();
        if !identifying.is_empty() {
            return Err(BatchError::IdentifierColumns(identifying.join(", ")));
        }
        let mut patid = None;
        let mut rules: Vec<(usize, Rule)> = Vec::new();
        for (i, field) in fields.iter().enumerate() {
            let field = field.trim();
            if field.eq_ignore_ascii_case("patid") {
                if patid.replace(i).is_some() {
                    return Err(BatchError::DuplicateColumn(field.to_string()));
                }
            } else if let Ok(rule) = Rule::parse(field) {
                if rules.iter().any(|(_, r)| *r == rule) {
                    return Err(BatchError::DuplicateColumn(field.to_string()));
                }
                rules.push((i, rule));
            } else {
                return Err(BatchError::UnknownColumn(field.to_string()));
            }
        }
        Ok(Header {
            width: fields.len(),
            patid: patid.ok_or(BatchError::NoPatid)?,
            rules,
        })
    }
}

/// Checks one hash cell: 64 hex digits, returned lowercase; `None` for an empty cell.
pub fn check_hash(rule: Rule, cell: &str) -> Result<Option<String>, String> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    if cell.len() != 64 || !cell.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{}: not a SHA-256 hash (64 hex digits)",
            rule.name()
        ));
    }
    Ok(Some(cell.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests;
