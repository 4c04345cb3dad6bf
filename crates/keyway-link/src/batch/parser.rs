//! Cutting a batch body into records and records into items, in pieces of any size.
//!
//! Each byte is looked at once: a record that arrives in many pieces is collected in one
//! buffer that only grows by the new bytes (the earlier parser re-copied and re-scanned what
//! it held on every piece, so a long line without a newline cost O(n²): 9.5 s for 64 MB).
//! Nothing longer than the line limit ([`super::MAX_LINE_BYTES`]) is ever held.

use super::{BatchError, Format, Header, Item, Limits, MAX_PATID, check_hash, is_identifying};
use crate::linker::{FastMap, LinkRecord};
use crate::{Rule, read_cell};

/// Splits one CSV record into fields (RFC 4180 quoting, newlines inside quotes included).
pub fn split_csv_line(line: &str) -> Vec<String> {
    if !line.contains('"') {
        return line.split(',').map(str::to_string).collect();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    match reader.records().next() {
        Some(Ok(record)) => record.iter().map(str::to_string).collect(),
        _ => vec![line.to_string()],
    }
}

/// Parses a batch fed in arbitrary pieces.
pub struct BatchParser {
    format: Format,
    limits: Limits,
    header: Option<Header>,
    /// Physical lines consumed so far.
    line: u64,
    /// The start of the record being read, when it began in an earlier piece.
    pending: Vec<u8>,
    /// Whether the scan stopped inside a quoted CSV field.
    in_quotes: bool,
    /// Body bytes fed so far.
    fed: u64,
    /// Patids of this batch so far (a repeat is refused), with their lines.
    seen: FastMap<String, u64>,
}

impl BatchParser {
    pub fn new(format: Format) -> BatchParser {
        BatchParser::with_limits(format, Limits::default())
    }

    pub fn with_limits(format: Format, limits: Limits) -> BatchParser {
        BatchParser {
            format,
            limits,
            header: None,
            line: 0,
            pending: Vec::new(),
            in_quotes: false,
            fed: 0,
            seen: FastMap::default(),
        }
    }

    /// Whether the header (CSV) or a first line (NDJSON) has been read.
    pub fn started(&self) -> bool {
        self.header.is_some() || (self.format == Format::Ndjson && self.line > 0)
    }

    /// Parses every complete record of `bytes` (with what was left over before). A CSV
    /// record ends at a newline outside double quotes: a quoted field may hold newlines
    /// (RFC 4180), and `keyway link submit` quotes such patids.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Item>) -> Result<(), BatchError> {
        self.fed = self.fed.saturating_add(bytes.len() as u64);
        if self.fed > self.limits.batch_bytes {
            return Err(BatchError::BatchTooLarge {
                limit: self.limits.batch_bytes,
            });
        }
        let csv = self.format == Format::Csv;
        let mut start = 0;
        for (i, byte) in bytes.iter().enumerate() {
            match byte {
                b'"' if csv => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    let tail = &bytes[start..i];
                    if self.pending.is_empty() {
                        self.check_length(tail.len())?;
                        self.record(tail, out)?;
                    } else {
                        self.check_length(self.pending.len() + tail.len())?;
                        let mut record = std::mem::take(&mut self.pending);
                        record.extend_from_slice(tail);
                        self.record(&record, out)?;
                        // Keep the allocation for the next long record.
                        record.clear();
                        self.pending = record;
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        let rest = &bytes[start..];
        self.check_length(self.pending.len() + rest.len())?;
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// Refuses a record (the next line) longer than the line limit, as soon as it is.
    fn check_length(&self, len: usize) -> Result<(), BatchError> {
        if len > self.limits.line_bytes {
            return Err(BatchError::LineTooLong {
                line: self.line + 1,
                limit: self.limits.line_bytes,
            });
        }
        Ok(())
    }

    /// One record: its first line number is the next line; embedded newlines count too.
    fn record(&mut self, raw: &[u8], out: &mut Vec<Item>) -> Result<(), BatchError> {
        let embedded = raw.iter().filter(|b| **b == b'\n').count() as u64;
        self.line(raw, out)?;
        self.line += embedded;
        Ok(())
    }

    /// Parses what is left (a last line without a newline).
    pub fn finish(&mut self, out: &mut Vec<Item>) -> Result<(), BatchError> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.record(&rest, out)?;
        }
        if self.format == Format::Csv && self.header.is_none() {
            return Err(BatchError::Empty);
        }
        Ok(())
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<Item>) -> Result<(), BatchError> {
        self.line += 1;
        let line_no = self.line;
        let mut raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line_no == 1 {
            raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            if self.format == Format::Csv && self.header.is_none() {
                return Err(BatchError::BadHeader);
            }
            out.push(reject(line_no, "", "the line is not valid UTF-8"));
            return Ok(());
        };
        if text.trim().is_empty() {
            return Ok(());
        }
        let field_bytes = self.limits.field_bytes;
        let too_long = BatchError::FieldTooLong {
            line: line_no,
            limit: field_bytes,
        };
        let parsed = match self.format {
            Format::Csv => {
                let fields = split_csv_line(text);
                if fields.iter().any(|f| f.len() > field_bytes) {
                    return Err(too_long);
                }
                let Some(header) = &self.header else {
                    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
                    self.header = Some(Header::parse(&refs)?);
                    return Ok(());
                };
                csv_record(header, &fields)
            }
            Format::Ndjson => match ndjson_record(text, field_bytes) {
                Err(Refusal::FieldTooLong) => return Err(too_long),
                Err(Refusal::Row(patid, reason)) => Err((patid, reason)),
                Ok(record) => Ok(record),
            },
        };
        let item = match parsed {
            Err((patid, reason)) => reject(line_no, &patid, &reason),
            Ok(record) => {
                if let Some(first) = self.seen.get(&record.patid) {
                    let reason = format!("duplicate patid in this batch (first on line {first})");
                    reject(line_no, &record.patid, &reason)
                } else {
                    self.seen.insert(record.patid.clone(), line_no);
                    Item::Record {
                        line: line_no,
                        record,
                    }
                }
            }
        };
        out.push(item);
        Ok(())
    }
}

fn reject(line: u64, patid: &str, reason: &str) -> Item {
    Item::Rejected {
        line,
        patid: patid.to_string(),
        reason: reason.to_string(),
    }
}

fn check_patid(patid: &str) -> Result<(), String> {
    if patid.is_empty() {
        return Err("empty patid".into());
    }
    if patid.len() > MAX_PATID {
        return Err(format!("patid longer than {MAX_PATID} bytes"));
    }
    Ok(())
}

fn csv_record(header: &Header, fields: &[String]) -> Result<LinkRecord, (String, String)> {
    // A patid written by a keyway CSV writer may carry its formula guard (`csv_cell`).
    let patid = read_cell(fields.get(header.patid).map(|p| p.trim()).unwrap_or(""));
    if fields.len() != header.width {
        let reason = format!("{} fields, the header has {}", fields.len(), header.width);
        return Err((patid.to_string(), reason));
    }
    check_patid(patid).map_err(|r| (patid.to_string(), r))?;
    let mut hashes = Vec::with_capacity(header.rules.len());
    for (i, rule) in &header.rules {
        let cell = fields.get(*i).map(String::as_str).unwrap_or("");
        if let Some(hash) = check_hash(*rule, cell).map_err(|r| (patid.to_string(), r))? {
            hashes.push((*rule, hash));
        }
    }
    Ok(LinkRecord {
        patid: patid.to_string(),
        hashes,
    })
}

/// Why an NDJSON line is not a record: a bad row (patid, reason), or a field over the limit,
/// which refuses the batch.
enum Refusal {
    Row(String, String),
    FieldTooLong,
}

fn row(patid: &str, reason: impl Into<String>) -> Refusal {
    Refusal::Row(patid.to_string(), reason.into())
}

fn ndjson_record(text: &str, field_bytes: usize) -> Result<LinkRecord, Refusal> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| row("", format!("not a JSON object: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| row("", "not a JSON object"))?;
    let oversized = object.iter().any(|(key, value)| {
        key.len() > field_bytes || value.as_str().is_some_and(|s| s.len() > field_bytes)
    });
    if oversized {
        return Err(Refusal::FieldTooLong);
    }
    let patid = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("patid"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
        .trim()
        .to_string();
    check_patid(&patid).map_err(|r| row(&patid, r))?;
    let mut hashes = Vec::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("patid") {
            continue;
        }
        if is_identifying(key) {
            return Err(row(&patid, format!("identifying field {key:?} refused")));
        }
        let rule = Rule::parse(key).map_err(|_| row(&patid, format!("unknown field {key:?}")))?;
        let cell = match value {
            serde_json::Value::Null => "",
            serde_json::Value::String(s) => s.as_str(),
            _ => return Err(row(&patid, format!("{key}: not a string"))),
        };
        if let Some(hash) = check_hash(rule, cell).map_err(|r| row(&patid, r))? {
            hashes.push((rule, hash));
        }
    }
    hashes.sort();
    Ok(LinkRecord { patid, hashes })
}
