//! The linkage batch parser (`keyway_link::batch::BatchParser`) on arbitrary bytes.
#![no_main]

use keyway_link::batch::{BatchError, BatchParser, Format, Item, Limits};
use libfuzzer_sys::fuzz_target;

/// Small limits, so inputs of a few hundred bytes reach every refusal.
const LIMITS: Limits = Limits {
    batch_bytes: 4096,
    line_bytes: 200,
    field_bytes: 80,
};

fn parse(format: Format, body: &[u8], piece: usize) -> Result<Vec<Item>, BatchError> {
    let mut parser = BatchParser::with_limits(format, LIMITS);
    let mut items = Vec::new();
    for part in body.chunks(piece) {
        parser.feed(part, &mut items)?;
    }
    parser.finish(&mut items)?;
    Ok(items)
}

fuzz_target!(|data: &[u8]| {
    // First byte: the format and the piece size; the rest is the body.
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let format = if control & 1 == 0 { Format::Csv } else { Format::Ndjson };
    let piece = usize::from(control >> 1).max(1);
    let whole = parse(format, body, body.len().max(1));
    // Piece boundaries never change the result.
    assert_eq!(parse(format, body, piece), whole, "piece {piece}");
    match whole {
        Ok(items) => {
            let mut last = 0;
            for item in &items {
                let (line, patid) = match item {
                    Item::Record { line, record } => (*line, &record.patid),
                    Item::Rejected { line, patid, .. } => (*line, patid),
                };
                // Lines increase; nothing echoed is longer than a field may be.
                assert!(line > last, "line {line} after {last}");
                last = line;
                assert!(patid.len() <= LIMITS.field_bytes, "{} bytes echoed", patid.len());
            }
        }
        Err(err) => {
            // A refusal names a line and a limit, never the input: at most a short column name.
            let text = err.to_string();
            assert!(text.len() <= 200 + LIMITS.field_bytes, "{text}");
        }
    }
});
