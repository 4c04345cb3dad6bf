//! `keyway link submit --strict`: check the whole hash file before anything is sent, so a file
//! with a bad row links nothing (instead of linking the good rows and reporting the rest).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use anyhow::Context;
use keyway_link::batch::{Header, check_hash};

use super::link::AtomicFile;

/// Writes `line,patid,reason` rows.
struct Report {
    file: Option<AtomicFile>,
    bad: u64,
}

impl Report {
    fn add(&mut self, line: u64, patid: &str, reason: &str) -> anyhow::Result<()> {
        self.bad += 1;
        if let Some(file) = self.file.as_mut() {
            let mut row = format!("{line},");
            super::link_submit::csv_field(&mut row, patid);
            row.push(',');
            super::link_submit::csv_field(&mut row, reason);
            writeln!(file.writer(), "{row}")?;
        }
        Ok(())
    }
}

/// The file lines `record` spans: newlines inside quoted fields count.
pub(crate) fn lines_of(record: &csv::StringRecord) -> u64 {
    1 + record
        .iter()
        .map(|f| f.matches('\n').count() as u64)
        .sum::<u64>()
}

/// Whether `record` is an empty line (skipped, not an error).
pub(crate) fn is_blank(record: &csv::StringRecord) -> bool {
    record.len() == 1 && record.get(0).is_some_and(|f| f.trim().is_empty())
}

/// Opens a hash file: its CSV reader past the header row (BOM dropped), the parsed header and
/// the file's size. Shared by `submit` and its `--strict` check so both read files alike.
pub(crate) fn open_hash_file(
    input: &Path,
) -> anyhow::Result<(csv::Reader<BufReader<File>>, Header, u64)> {
    let file = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record)? {
        anyhow::bail!("{} is empty (no header row)", input.display());
    }
    let names: Vec<&str> = record
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 0 {
                f.trim_start_matches('\u{feff}')
            } else {
                f
            }
        })
        .collect();
    let header = Header::parse(&names).with_context(|| format!("{}", input.display()))?;
    Ok((reader, header, size))
}

/// Checks every row of `input` as the hub would (field count, empty patid, hash format) and
/// refuses a patid given twice anywhere in the file. Returns the number of bad rows; they are
/// listed in `errors` when given (written only if there are any).
pub(crate) fn precheck(input: &Path, errors: Option<&Path>) -> anyhow::Result<u64> {
    let (mut reader, header, _) = open_hash_file(input)?;
    let mut record = csv::StringRecord::new();
    let mut report = Report {
        file: errors.map(AtomicFile::create).transpose()?,
        bad: 0,
    };
    if let Some(file) = report.file.as_mut() {
        writeln!(file.writer(), "line,patid,reason")?;
    }
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut line_no: u64 = 1;
    while reader
        .read_record(&mut record)
        .with_context(|| format!("reading {}", input.display()))?
    {
        let line = line_no + 1;
        line_no += lines_of(&record);
        if is_blank(&record) {
            continue;
        }
        let patid = keyway_link::read_cell(record.get(header.patid).unwrap_or_default().trim());
        if record.len() != header.width {
            report.add(line, patid, "wrong number of fields")?;
            continue;
        }
        if patid.is_empty() {
            report.add(line, patid, "empty patid")?;
            continue;
        }
        let bad_hash = header
            .rules
            .iter()
            .find_map(|(i, rule)| check_hash(*rule, record.get(*i).unwrap_or_default()).err());
        if let Some(reason) = bad_hash {
            report.add(line, patid, &reason)?;
            continue;
        }
        if let Some(first) = seen.get(patid) {
            report.add(
                line,
                patid,
                &format!("duplicate patid (first on line {first})"),
            )?;
            continue;
        }
        seen.insert(patid.to_string(), line);
    }
    // A clean file leaves no report behind (the temporary file is removed on drop).
    if let Some(file) = report.file
        && report.bad > 0
    {
        file.commit()?;
    }
    Ok(report.bad)
}
