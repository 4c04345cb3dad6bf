//! CSV cells that a spreadsheet cannot run as formulas, and their exact reading back.
//!
//! Every CSV keyway writes (hash files, the hub's batch answers, `link submit`'s links and
//! refused rows) is opened in spreadsheets at partner sites. A cell starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return is taken for a formula (`=cmd|' /C calc'!A0`), so per
//! OWASP such a cell is written with a leading `'` and quoted. Refusing those patids instead
//! would turn away real ones (`-0042`).
//!
//! To keep data round-trippable the guard is reversible: a cell that is only `'`s before a
//! trigger gets one more `'` too, and [`read_cell`] drops exactly one `'` from a cell that is
//! `'`s then a trigger. So `-5` is written `"'-5"`, `'-5` is written `"''-5"`, and both read
//! back as written; `'abc` (no trigger) is left alone both ways. keyway reads its own CSV
//! (hash files, batch bodies, answers) with [`read_cell`].

use std::borrow::Cow;

/// The first characters that make a spreadsheet evaluate a cell (OWASP "CSV Injection").
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `text` is some `'`s (maybe none) and then a trigger.
fn guarded_form(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(TRIGGERS)
}

/// `cell` as one CSV field (RFC 4180 quoting), neutralised: the one function every keyway
/// CSV writer formats its cells with.
pub fn csv_cell(cell: &str) -> Cow<'_, str> {
    let guard = guarded_form(cell);
    if !guard && !cell.contains([',', '"', '\n', '\r']) {
        return Cow::Borrowed(cell);
    }
    let mut out = String::with_capacity(cell.len() + 4);
    out.push('"');
    if guard {
        out.push('\'');
    }
    out.push_str(&cell.replace('"', "\"\""));
    out.push('"');
    Cow::Owned(out)
}

/// The value of a cell written by [`csv_cell`] (after CSV unquoting): the guard `'` dropped.
pub fn read_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if guarded_form(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn owasp_triggers_get_a_quote_and_quotes() {
        for (cell, written) in [
            ("=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\""),
            ("+1", "\"'+1\""),
            ("-0042", "\"'-0042\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\tx", "\"'\tx\""),
            ("\rx", "\"'\rx\""),
            ("'-5", "\"''-5\""),
            ("=\"x\"", "\"'=\"\"x\"\"\""),
            ("P001", "P001"),
            ("'abc", "'abc"),
            ("a,b", "\"a,b\""),
            ("", ""),
        ] {
            assert_eq!(csv_cell(cell), written, "{cell:?}");
        }
    }

    /// What a CSV reader gives for the one field `written`.
    fn unquoted(written: &str) -> String {
        let line = format!("{written}\n");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let mut record = csv::StringRecord::new();
        assert!(reader.read_record(&mut record).unwrap());
        record[0].to_string()
    }

    proptest! {
        /// Every value reads back exactly, and no written cell starts with a trigger.
        #[test]
        fn cells_round_trip_and_never_start_a_formula(cell in "['=+@\\-\t\ra-z,\"]{1,8}") {
            let field = unquoted(&csv_cell(&cell));
            prop_assert!(!field.starts_with(TRIGGERS), "{field:?}");
            prop_assert_eq!(read_cell(&field), cell.as_str());
        }
    }
}
