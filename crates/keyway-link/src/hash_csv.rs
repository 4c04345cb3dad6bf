//! Streaming CSV hashing: identifiers in, `PATID` plus one hash column per rule out.
//! Memory stays flat whatever the file size: one record is held at a time and every buffer
//! is reused.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};

use crate::crlf::CrlfToLf;
use crate::csv_cell::csv_cell;
use crate::normalize::{fold_accents, normalize_race, normalize_sex, normalize_text};
use crate::{HashKey, LinkError, Person, Rule, RuleHasher, parse_dob};

/// The logical fields and their default headers.
const FIELDS: [&str; 6] = ["patid", "first", "last", "dob", "sex", "race"];

/// Maps logical fields to the input's headers (`--column first=FIRST_NAME`).
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    overrides: HashMap<&'static str, String>,
}

impl ColumnMap {
    /// Parses `field=HEADER` pairs.
    pub fn parse(pairs: &[String]) -> Result<ColumnMap, LinkError> {
        let mut overrides = HashMap::new();
        for pair in pairs {
            let (field, header) = pair.split_once('=').ok_or_else(|| LinkError::BadRow {
                line: 0,
                reason: format!("--column {pair:?}: expected field=HEADER"),
            })?;
            let field = FIELDS
                .iter()
                .find(|f| f.eq_ignore_ascii_case(field.trim()))
                .ok_or_else(|| LinkError::BadRow {
                    line: 0,
                    reason: format!(
                        "--column {pair:?}: unknown field (use {})",
                        FIELDS.join(", ")
                    ),
                })?;
            overrides.insert(*field, header.trim().to_string());
        }
        Ok(ColumnMap { overrides })
    }

    fn header_for(&self, field: &'static str) -> &str {
        self.overrides
            .get(field)
            .map(String::as_str)
            .unwrap_or(field)
    }
}

/// What to hash and how.
pub struct HashJob {
    pub rules: Vec<Rule>,
    pub key: HashKey,
    pub columns: ColumnMap,
    /// Stop at the first bad row instead of reporting it and going on.
    pub strict: bool,
}

/// Counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HashSummary {
    pub rows: u64,
    pub written: u64,
    pub rejected: u64,
    /// Rule cells left empty (a field missing, or an unknown sex/race code for that rule).
    pub skipped_cells: u64,
}

/// Column positions of the fields a job needs.
struct Positions {
    patid: usize,
    first: usize,
    last: usize,
    dob: usize,
    sex: Option<usize>,
    race: Option<usize>,
    /// Whether any rule needs accent-folded names (they cost an allocation per row).
    fold: bool,
}

fn locate(headers: &csv::StringRecord, job: &HashJob) -> Result<Positions, LinkError> {
    let find = |field: &'static str, needed: bool| -> Result<Option<usize>, LinkError> {
        let wanted = job.columns.header_for(field);
        let found = headers.iter().position(|h| {
            h.trim_start_matches('\u{feff}')
                .trim()
                .eq_ignore_ascii_case(wanted)
        });
        match (found, needed) {
            (None, true) => Err(LinkError::MissingColumn {
                field,
                column: wanted.to_string(),
            }),
            (found, _) => Ok(found),
        }
    };
    let need_sex = job.rules.iter().any(|r| r.uses_sex());
    let need_race = job.rules.iter().any(|r| r.uses_race());
    let required = |field| find(field, true).map(|p| p.unwrap_or_default());
    Ok(Positions {
        patid: required("patid")?,
        first: required("first")?,
        last: required("last")?,
        dob: required("dob")?,
        sex: find("sex", need_sex)?,
        race: find("race", need_race)?,
        fold: job.rules.iter().any(|r| r.folds()),
    })
}

/// Hashes `input` into `output`. Bad rows go to `errors` (CSV: line, patid, reason) unless the
/// job is strict. `progress` is called with the number of input bytes consumed so far.
pub fn hash_csv<R: Read, W: Write>(
    job: &HashJob,
    input: R,
    output: W,
    mut errors: Option<&mut dyn Write>,
    progress: &mut dyn FnMut(u64),
) -> Result<HashSummary, LinkError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(CrlfToLf::new(input));
    let headers = reader.headers()?.clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(LinkError::Empty);
    }
    let at = locate(&headers, job)?;
    // Rows are formatted here rather than by csv::Writer: every cell goes through `csv_cell`,
    // which guards patids a spreadsheet would run as formulas (csv::Writer only quotes).
    let mut writer = BufWriter::with_capacity(1 << 16, output);
    let mut row: Vec<u8> = Vec::with_capacity(512);
    row.extend_from_slice(b"PATID");
    for rule in &job.rules {
        row.push(b',');
        row.extend_from_slice(rule.name().as_bytes());
    }
    row.push(b'\n');
    writer.write_all(&row)?;
    if let Some(errors) = errors.as_deref_mut() {
        writeln!(errors, "line,patid,reason")?;
    }

    let mut summary = HashSummary::default();
    let mut record = csv::StringRecord::new();
    let mut person = Person::default();
    let mut input_buf = String::with_capacity(128);
    let mut hex = vec![[0u8; 64]; job.rules.len()];
    let mut hashed = vec![false; job.rules.len()];
    let mut hasher = RuleHasher::new(&job.key);
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) if is_row_error(&err) => {
                summary.rows += 1;
                reject(job, &mut errors, &mut summary, line, "", &err.to_string())?;
                continue;
            }
            Err(err) => return Err(err.into()),
        }
        summary.rows += 1;
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        if record.len() != headers.len() {
            let reason = format!(
                "row has {} fields, the header has {}",
                record.len(),
                headers.len()
            );
            reject(
                job,
                &mut errors,
                &mut summary,
                line,
                record.get(at.patid).unwrap_or(""),
                &reason,
            )?;
            continue;
        }
        let patid = record.get(at.patid).unwrap_or("").trim();
        if patid.is_empty() {
            reject(job, &mut errors, &mut summary, line, "", "empty patid")?;
            continue;
        }
        if let Err(reason) = fill_person(&record, &at, &mut person) {
            reject(job, &mut errors, &mut summary, line, patid, &reason)?;
            continue;
        }
        for (i, rule) in job.rules.iter().enumerate() {
            hashed[i] = person.rule_input(*rule, &mut input_buf);
            if hashed[i] {
                hasher.hash_hex(&input_buf, &mut hex[i]);
            } else {
                summary.skipped_cells += 1;
            }
        }
        row.clear();
        row.extend_from_slice(csv_cell(patid).as_bytes());
        for (i, digest) in hex.iter().enumerate() {
            row.push(b',');
            if hashed[i] {
                row.extend_from_slice(digest);
            }
        }
        row.push(b'\n');
        writer.write_all(&row)?;
        summary.written += 1;
        if summary.rows % 4096 == 0 {
            progress(reader.position().byte());
        }
    }
    writer.flush()?;
    progress(reader.position().byte());
    Ok(summary)
}

/// Errors that concern one record only (the reader can go on).
fn is_row_error(err: &csv::Error) -> bool {
    matches!(
        err.kind(),
        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
    )
}

fn fill_person(
    record: &csv::StringRecord,
    at: &Positions,
    person: &mut Person,
) -> Result<(), String> {
    let field = |i: usize| record.get(i).unwrap_or("");
    normalize_text(field(at.first), &mut person.first);
    normalize_text(field(at.last), &mut person.last);
    if at.fold {
        fold_accents(field(at.first), &mut person.first_folded);
        fold_accents(field(at.last), &mut person.last_folded);
    }
    let dob = field(at.dob).trim();
    if dob.is_empty() {
        person.dob.clear();
    } else {
        parse_dob(dob)
            .map_err(|e| e.to_string())?
            .write_iso(&mut person.dob);
    }
    match at.sex {
        Some(i) => normalize_sex(field(i), &mut person.sex).map_err(|e| e.to_string())?,
        None => person.sex.clear(),
    }
    match at.race {
        Some(i) => normalize_race(field(i), &mut person.race).map_err(|e| e.to_string())?,
        None => person.race.clear(),
    }
    Ok(())
}

fn reject(
    job: &HashJob,
    errors: &mut Option<&mut dyn Write>,
    summary: &mut HashSummary,
    line: u64,
    patid: &str,
    reason: &str,
) -> Result<(), LinkError> {
    if job.strict {
        return Err(LinkError::BadRow {
            line,
            reason: reason.to_string(),
        });
    }
    summary.rejected += 1;
    if let Some(errors) = errors.as_deref_mut() {
        let row = format!("{line},{},{}\n", csv_cell(patid), csv_cell(reason));
        errors.write_all(row.as_bytes())?;
    }
    Ok(())
}
