//! Answer rows: `PATID,UUID,FLAG,REASON` (CSV) or one JSON object a line.

use super::Format;
use crate::csv_cell;

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
                // Answers are opened in spreadsheets: patids are neutralised (`csv_cell`).
                out.extend_from_slice(csv_cell(field).as_bytes());
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
