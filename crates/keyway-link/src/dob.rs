//! Lenient date-of-birth parsing, month first, written back as `YYYY-MM-DD`.
//!
//! Accepted: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, `YYYYMMDD` (each may carry a time after
//! `T` or a space), `M/D/YYYY`, `M-D-YYYY`, `M.D.YYYY`, and English month names (`Jan 5, 2010`,
//! `January 5 2010`, `5 Jan 2010`, `5-Jan-2010`). Two-digit years are refused: for a date of
//! birth the century cannot be guessed safely.

use std::fmt;

use crate::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Date {
    /// Writes `YYYY-MM-DD` into `out` without allocating.
    pub fn write_iso(&self, out: &mut String) {
        out.clear();
        let digits = |n: u32, width: usize, out: &mut String| {
            for i in (0..width).rev() {
                let d = (n / 10u32.pow(i as u32)) % 10;
                out.push(char::from(b'0' + d as u8));
            }
        };
        digits(u32::from(self.year), 4, out);
        out.push('-');
        digits(u32::from(self.month), 2, out);
        out.push('-');
        digits(u32::from(self.day), 2, out);
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month_by_name(word: &str) -> Option<u8> {
    let lower = word.to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    MONTHS
        .iter()
        .zip(full)
        .position(|(short, long)| {
            lower == *short || lower == long || (lower == "sept" && *short == "sep")
        })
        .map(|i| i as u8 + 1)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap =
                (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
            if leap { 29 } else { 28 }
        }
    }
}

fn build(year: u32, month: u32, day: u32, raw: &str) -> Result<Date, FieldError> {
    let bad = || FieldError::BadDate(raw.to_string());
    if !(1800..=2200).contains(&year) || !(1..=12).contains(&month) {
        return Err(bad());
    }
    let (year, month) = (year as u16, month as u8);
    if day == 0 || day > u32::from(days_in_month(year, month)) {
        return Err(bad());
    }
    Ok(Date {
        year,
        month,
        day: day as u8,
    })
}

/// Parses a date of birth.
pub fn parse_dob(raw: &str) -> Result<Date, FieldError> {
    let text = raw.trim();
    let bad = || FieldError::BadDate(raw.to_string());
    // Drop a time part: "2010-01-01T00:00:00", "2010-01-01 00:00".
    let date_part = match text.find(['T', ' ']) {
        Some(i)
            if i >= 8
                && text[..i]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"-/.".contains(&b)) =>
        {
            &text[..i]
        }
        _ => text,
    };
    if date_part.len() == 8 && date_part.bytes().all(|b| b.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| date_part[r].parse::<u32>().map_err(|_| bad());
        return build(n(0..4)?, n(4..6)?, n(6..8)?, raw);
    }
    let mut parts = [""; 3];
    let mut count = 0;
    for part in date_part
        .split(|c: char| c == '-' || c == '/' || c == '.' || c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        if count == 3 {
            return Err(bad());
        }
        parts[count] = part;
        count += 1;
    }
    if count != 3 {
        return Err(bad());
    }
    let numeric = parts.map(|p| {
        (p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 4)
            .then(|| p.parse::<u32>().ok())
            .flatten()
    });
    match (numeric[0], numeric[1], numeric[2]) {
        (Some(y), Some(m), Some(d)) if parts[0].len() == 4 => build(y, m, d, raw),
        (Some(m), Some(d), Some(y)) if parts[2].len() == 4 => build(y, m, d, raw),
        (Some(_), Some(_), Some(_)) if parts[2].len() <= 2 => {
            Err(FieldError::TwoDigitYear(raw.to_string()))
        }
        // "Jan 5 2010"
        (None, Some(d), Some(y)) if parts[2].len() == 4 => build(
            y,
            u32::from(month_by_name(parts[0]).ok_or_else(bad)?),
            d,
            raw,
        ),
        // "5 Jan 2010"
        (Some(d), None, Some(y)) if parts[2].len() == 4 => build(
            y,
            u32::from(month_by_name(parts[1]).ok_or_else(bad)?),
            d,
            raw,
        ),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(raw: &str) -> String {
        parse_dob(raw)
            .map(|d| d.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn accepted_forms() {
        for raw in [
            "2010-01-05",
            "2010/01/05",
            "2010.1.5",
            "20100105",
            "1/5/2010",
            "01/05/2010",
            "1-5-2010",
            "01.05.2010",
            "Jan 5, 2010",
            "January 5 2010",
            "5 Jan 2010",
            "5-jan-2010",
            "2010-01-05T00:00:00",
            "2010-01-05 13:45",
            " 2010-01-05 ",
        ] {
            assert_eq!(iso(raw), "2010-01-05", "{raw}");
        }
    }

    #[test]
    fn refused_forms() {
        for raw in [
            "",
            "2010-13-01",
            "2010-02-30",
            "2011-02-29",
            "1/5/10",
            "yesterday",
            "2010-01",
            "0000-01-01",
        ] {
            assert!(parse_dob(raw).is_err(), "{raw}");
        }
        assert_eq!(iso("2012-02-29"), "2012-02-29");
        assert_eq!(iso("2000-02-29"), "2000-02-29");
        assert!(parse_dob("1900-02-29").is_err());
    }

    #[test]
    fn write_iso_matches_display() {
        let date = Date {
            year: 987 + 1000,
            month: 3,
            day: 9,
        };
        let mut out = String::new();
        date.write_iso(&mut out);
        assert_eq!(out, date.to_string());
    }
}
