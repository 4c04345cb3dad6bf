//! Submitted batches: parsing hash files (CSV or NDJSON) incrementally, and writing answers.
//!
//! A batch may hold only a patid and hash columns; a header that still names identifying
//! columns (names, birth date, sex, race, address…) is refused as a whole. Bad rows (a hash
//! that is not 64 hex digits, an empty or duplicate patid) become [`Item::Rejected`] and the
//! rest of the batch proceeds.

use thiserror::Error;

use crate::Rule;
use crate::linker::LinkRecord;

/// Longest patid accepted (the store indexes it).
pub const MAX_PATID: usize = 190;

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

fn is_identifying(column: &str) -> bool {
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
    header: Option<Header>,
    line: u64,
    pending: Vec<u8>,
    /// Whether the scan of `pending` stopped inside a quoted CSV field.
    in_quotes: bool,
    /// Patids of this batch so far (a repeat is refused), with their lines.
    seen: crate::linker::FastMap<String, u64>,
}

impl BatchParser {
    pub fn new(format: Format) -> BatchParser {
        BatchParser {
            format,
            header: None,
            line: 0,
            pending: Vec::new(),
            in_quotes: false,
            seen: crate::linker::FastMap::default(),
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
        let mut start = 0;
        // Bytes already in `pending` were scanned by the previous call.
        let from = self.pending.len();
        self.pending.extend_from_slice(bytes);
        let csv = self.format == Format::Csv;
        let block = std::mem::take(&mut self.pending);
        for (i, byte) in block.iter().enumerate().skip(from) {
            match byte {
                b'"' if csv => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    self.record(&block[start..i], out)?;
                    start = i + 1;
                }
                _ => {}
            }
        }
        self.pending = block[start..].to_vec();
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
        let parsed = match self.format {
            Format::Csv => {
                let fields = split_csv_line(text);
                let Some(header) = &self.header else {
                    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
                    self.header = Some(Header::parse(&refs)?);
                    return Ok(());
                };
                csv_record(header, &fields)
            }
            Format::Ndjson => ndjson_record(text),
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
    let patid = fields.get(header.patid).map(|p| p.trim()).unwrap_or("");
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

fn ndjson_record(text: &str) -> Result<LinkRecord, (String, String)> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| (String::new(), format!("not a JSON object: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| (String::new(), "not a JSON object".to_string()))?;
    let patid = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("patid"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
        .trim()
        .to_string();
    check_patid(&patid).map_err(|r| (patid.clone(), r))?;
    let mut hashes = Vec::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("patid") {
            continue;
        }
        if is_identifying(key) {
            return Err((patid, format!("identifying field {key:?} refused")));
        }
        let rule =
            Rule::parse(key).map_err(|_| (patid.clone(), format!("unknown field {key:?}")))?;
        let cell = match value {
            serde_json::Value::Null => "",
            serde_json::Value::String(s) => s.as_str(),
            _ => return Err((patid, format!("{key}: not a string"))),
        };
        if let Some(hash) = check_hash(rule, cell).map_err(|r| (patid.clone(), r))? {
            hashes.push((rule, hash));
        }
    }
    hashes.sort();
    Ok(LinkRecord { patid, hashes })
}

/// Appends one answer row `PATID,UUID,FLAG,REASON` (CSV) or a JSON line.
pub fn write_answer(
    format: Format,
    out: &mut Vec<u8>,
    patid: &str,
    uuid: &str,
    flag: &str,
    reason: &str,
) {
    match format {
        Format::Csv => {
            let mut first = true;
            for field in [patid, uuid, flag, reason] {
                if !first {
                    out.push(b',');
                }
                first = false;
                if field.contains([',', '"', '\n', '\r']) {
                    out.push(b'"');
                    out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
                    out.push(b'"');
                } else {
                    out.extend_from_slice(field.as_bytes());
                }
            }
            out.push(b'\n');
        }
        Format::Ndjson => {
            let line = serde_json::json!({
                "patid": patid, "uuid": uuid, "flag": flag, "reason": reason,
            });
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
    }
}

/// The header line of a CSV answer.
pub const ANSWER_HEADER: &str = "PATID,UUID,FLAG,REASON\n";
