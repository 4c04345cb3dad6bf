//! The reading half of `keyway link submit`: a thread that cuts the hash file into request
//! bodies, one batch ahead of the batch in flight, so the hub never waits for the client to
//! read and format the next batch (about 5 s of a 1 M record run when done in turn).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context;
use keyway_link::batch::Header;
use tokio::sync::mpsc;

use super::link_strict::{is_blank, lines_of};
use super::link_submit::csv_field;

/// One request's worth of the hash file.
pub(crate) struct Batch {
    /// CSV body: the header line, then one row per entry of `lines`.
    pub body: String,
    /// The file line of each row of `body`.
    pub lines: Vec<u64>,
    /// Rows refused before sending (`line`, patid, reason), in file order, all before the
    /// rows of `body`.
    pub refused: Vec<(u64, String, &'static str)>,
    /// Bytes of the file read once this batch was cut.
    pub position: u64,
}

/// Reads `reader` in a thread and hands batches of `batch_size` rows over a channel that
/// holds one batch: reading stays exactly one batch ahead, and memory bounded by two batches.
pub(crate) fn spawn(
    mut reader: csv::Reader<BufReader<File>>,
    header: Header,
    input: PathBuf,
    batch_size: usize,
) -> mpsc::Receiver<anyhow::Result<Batch>> {
    let (sender, receiver) = mpsc::channel(1);
    std::thread::spawn(move || {
        let result = read_all(&mut reader, &header, batch_size, &sender)
            .with_context(|| format!("reading {}", input.display()));
        if let Err(err) = result {
            // The receiver stops at the first error; if it has gone, nobody is left to tell.
            let _ = sender.blocking_send(Err(err));
        }
    });
    receiver
}

fn head_line(header: &Header) -> String {
    let mut line = String::from("PATID");
    for (_, rule) in &header.rules {
        line.push(',');
        line.push_str(rule.name());
    }
    line.push('\n');
    line
}

fn read_all(
    reader: &mut csv::Reader<BufReader<File>>,
    header: &Header,
    batch_size: usize,
    sender: &mpsc::Sender<anyhow::Result<Batch>>,
) -> anyhow::Result<()> {
    let head = head_line(header);
    let batch_size = batch_size.max(1);
    let fresh = || Batch {
        body: head.clone(),
        lines: Vec::with_capacity(batch_size),
        refused: Vec::new(),
        position: 0,
    };
    let mut batch = fresh();
    let mut record = csv::StringRecord::new();
    let mut line_no: u64 = 1;
    while reader.read_record(&mut record)? {
        // Lines as counted by records (header = 1), newlines inside quotes included.
        line_no += lines_of(&record);
        if is_blank(&record) {
            continue;
        }
        // A hash file written by `keyway link hash` guards formula-like patids.
        let patid = keyway_link::read_cell(record.get(header.patid).unwrap_or_default());
        if record.len() != header.width {
            batch
                .refused
                .push((line_no, patid.to_string(), "wrong number of fields"));
            continue;
        }
        csv_field(&mut batch.body, patid);
        for (i, _) in &header.rules {
            batch.body.push(',');
            csv_field(&mut batch.body, record.get(*i).unwrap_or_default());
        }
        batch.body.push('\n');
        batch.lines.push(line_no);
        if batch.lines.len() >= batch_size {
            batch.position = reader.position().byte();
            if sender
                .blocking_send(Ok(std::mem::replace(&mut batch, fresh())))
                .is_err()
            {
                return Ok(()); // the sender gave up (a batch failed): stop reading
            }
        }
    }
    if !batch.lines.is_empty() || !batch.refused.is_empty() {
        batch.position = reader.position().byte();
        // As above: a receiver that has gone needs nothing more.
        let _ = sender.blocking_send(Ok(batch));
    }
    Ok(())
}
