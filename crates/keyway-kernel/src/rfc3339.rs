//! RFC 3339 dates and date-times (§5.6), read by a small grammar over bytes.
//!
//! The earlier code sliced the text at byte offsets and parsed the pieces with `str::parse`,
//! which panicked on a multi-byte character at a cut (`2020-01-01T00:00é00000`: a 500) and
//! accepted signs (`2020-01-01T-5:-7:-9Z`, `2020-+1-+1`). Here every byte is matched by the
//! grammar, so neither can happen:
//!
//! ```text
//! date      = 4DIGIT "-" 2DIGIT "-" 2DIGIT          ; the day must exist (leap years)
//! date-time = date ("T" / "t") hh ":" mm [":" ss ["." 1*DIGIT]] ("Z" / "z" / ("+" / "-") hh ":" mm)
//! ```
//!
//! Seconds may be left out (OData's `dateTimeOffsetValue` allows it; RFC 3339 itself does
//! not); hours 00–23, minutes 00–59, seconds 00–60 (a leap second counts into the next
//! minute). Fractions are kept to the millisecond (further digits are cut, not rounded). A
//! date-time is normalised to UTC, and one whose UTC form leaves the years 0000–9999 is
//! refused, since the stored text form must keep its order.

use std::fmt;

/// Why a text is not an RFC 3339 date or date-time; `at` is the byte offset (0-based) where
/// the grammar failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateTimeError {
    #[error("expected {expected} at byte {at}")]
    Expected { expected: &'static str, at: usize },
    #[error("{field} {value} is out of range at byte {at}")]
    OutOfRange {
        field: &'static str,
        value: u32,
        at: usize,
    },
    #[error("unexpected text after the {what} at byte {at}")]
    Trailing { what: &'static str, at: usize },
    #[error("the date-time is outside the years 0000-9999 in UTC")]
    OutOfYears,
}

/// A calendar date that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u32,
    pub month: u32,
    pub day: u32,
}

/// An instant in UTC, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub unix_ms: i64,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expected<T>(&self, expected: &'static str) -> Result<T, DateTimeError> {
        Err(DateTimeError::Expected {
            expected,
            at: self.at,
        })
    }

    /// Exactly `n` ASCII digits as a number, in `range`.
    fn number(
        &mut self,
        n: usize,
        field: &'static str,
        expected: &'static str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, DateTimeError> {
        let start = self.at;
        let mut value = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(b) if b.is_ascii_digit() => {
                    value = value * 10 + u32::from(b - b'0');
                    self.at += 1;
                }
                _ => return self.expected(expected),
            }
        }
        if !range.contains(&value) {
            return Err(DateTimeError::OutOfRange {
                field,
                value,
                at: start,
            });
        }
        Ok(value)
    }

    /// One of `allowed`, returned.
    fn one_of(&mut self, allowed: &[u8], expected: &'static str) -> Result<u8, DateTimeError> {
        match self.peek() {
            Some(b) if allowed.contains(&b) => {
                self.at += 1;
                Ok(b)
            }
            _ => self.expected(expected),
        }
    }

    fn end(&self, what: &'static str) -> Result<(), DateTimeError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(DateTimeError::Trailing { what, at: self.at })
        }
    }

    fn date(&mut self) -> Result<Date, DateTimeError> {
        let year = self.number(4, "year", "a four-digit year", 0..=9999)?;
        self.one_of(b"-", "'-' after the year")?;
        let month = self.number(2, "month", "a two-digit month", 1..=12)?;
        self.one_of(b"-", "'-' after the month")?;
        let day = self.number(2, "day", "a two-digit day", 1..=days_in_month(year, month))?;
        Ok(Date { year, month, day })
    }
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD` (a day that exists).
pub fn parse_date(text: &str) -> Result<Date, DateTimeError> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let date = cursor.date()?;
    cursor.end("date")?;
    Ok(date)
}

/// Parses an RFC 3339 date-time with a zone (the grammar in the module documentation).
pub fn parse_date_time(text: &str) -> Result<Timestamp, DateTimeError> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let date = c.date()?;
    c.one_of(b"Tt", "'T' between date and time")?;
    let hour = c.number(2, "hour", "a two-digit hour", 0..=23)?;
    c.one_of(b":", "':' after the hour")?;
    let minute = c.number(2, "minute", "two-digit minutes", 0..=59)?;
    let (mut second, mut millis) = (0, 0);
    if c.peek() == Some(b':') {
        c.at += 1;
        second = c.number(2, "second", "two-digit seconds", 0..=60)?;
        if c.peek() == Some(b'.') {
            c.at += 1;
            let mut digits = 0;
            while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
                if digits < 3 {
                    millis = millis * 10 + u32::from(b - b'0');
                }
                digits += 1;
                c.at += 1;
            }
            if digits == 0 {
                return c.expected("a digit after '.'");
            }
            for _ in digits..3 {
                millis *= 10;
            }
        }
    }
    let offset_minutes = match c.one_of(b"Zz+-", "a zone: 'Z' or +hh:mm or -hh:mm")? {
        b'Z' | b'z' => 0,
        sign => {
            let hours = c.number(2, "zone hour", "a two-digit zone hour", 0..=23)?;
            c.one_of(b":", "':' in the zone")?;
            let minutes = c.number(2, "zone minute", "two-digit zone minutes", 0..=59)?;
            let total = i64::from(hours * 60 + minutes);
            if sign == b'-' { -total } else { total }
        }
    };
    c.end("date-time")?;
    let days = days_from_civil(date);
    let seconds =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    let stamp = Timestamp {
        unix_ms: seconds * 1000 + i64::from(millis),
    };
    // Years 0000-9999 in UTC, so the stored text has four year digits and sorts as time.
    const FIRST: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
    const END: i64 = 253_402_300_800_000; // 10000-01-01T00:00:00Z
    if !(FIRST..END).contains(&stamp.unix_ms) {
        return Err(DateTimeError::OutOfYears);
    }
    Ok(stamp)
}

/// A Unix time in whole seconds as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`), for people.
pub fn format_unix_secs(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The stored form of a date-time literal or value: UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn normalize_date_time(text: &str) -> Result<String, DateTimeError> {
    parse_date_time(text).map(|t| t.to_string())
}

/// Writes `YYYY-MM-DDTHH:MM:SS.mmmZ`, so text order is time order.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.unix_ms.rem_euclid(1000);
        let seconds = self.unix_ms.div_euclid(1000);
        let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
fn days_from_civil(date: Date) -> i64 {
    let (y, m, d) = (
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_format_for_people() {
        assert_eq!(format_unix_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_secs(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(format_unix_secs(-1), "1969-12-31T23:59:59Z");
    }
    use proptest::prelude::*;

    fn utc(text: &str) -> Result<String, DateTimeError> {
        normalize_date_time(text)
    }

    #[test]
    fn accepts_rfc3339_and_normalises_to_utc() {
        for (text, stored) in [
            ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00.000Z"),
            ("2024-02-29T12:00Z", "2024-02-29T12:00:00.000Z"),
            ("2024-02-29T12:00:01.5Z", "2024-02-29T12:00:01.500Z"),
            ("2024-02-29t12:00:01.123456789z", "2024-02-29T12:00:01.123Z"),
            ("1985-04-12T23:20:50.52Z", "1985-04-12T23:20:50.520Z"),
            ("1996-12-19T16:39:57-08:00", "1996-12-20T00:39:57.000Z"),
            ("1990-12-31T23:59:60Z", "1991-01-01T00:00:00.000Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z"),
            ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(utc(text).as_deref(), Ok(stored), "{text}");
        }
    }

    #[test]
    fn refuses_what_the_byte_slicing_let_through_or_panicked_on() {
        for text in [
            "2020-01-01T00:00é00000",
            "2020-01-01T-5:-7:-9Z",
            "2020-01-01T00:00:00é0000",
            "2020-01-01T00:00+0é:00",
            "éééééééééééééééé",
            "2020-+1-+1T00:00Z",
            "+020-01-01T00:00Z",
            "2024-13-01T00:00Z",
            "2023-02-29T00:00Z",
            "2024-04-31T00:00Z",
            "2024-01-01T24:00Z",
            "2024-01-01T00:60Z",
            "2024-01-01T00:00:61Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+01",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01 00:00:00Z",
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "",
        ] {
            assert!(utc(text).is_err(), "{text:?} was accepted");
        }
        assert_eq!(
            utc("2020-01-01T00:00é00000"),
            Err(DateTimeError::Expected {
                expected: "a zone: 'Z' or +hh:mm or -hh:mm",
                at: 16
            })
        );
    }

    #[test]
    fn dates_must_exist() {
        assert_eq!(
            parse_date("2000-02-29").map(|d| d.to_string()).as_deref(),
            Ok("2000-02-29")
        );
        for bad in [
            "1900-02-29",
            "2020-+1-+1",
            "2020-1-01",
            "2020-01-01x",
            "202a-01-01",
            "2020-00-10",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = parse_date_time(&text);
            let _ = parse_date(&text);
        }

        #[test]
        fn near_misses_never_panic(text in "[0-9T:+\\-.Zzé ]{0,32}") {
            if let Ok(stored) = normalize_date_time(&text) {
                prop_assert_eq!(normalize_date_time(&stored), Ok(stored.clone()));
            }
        }

        /// Any valid instant, written with any zone and fraction, reads back as that instant,
        /// and its stored form is canonical (parses to itself).
        #[test]
        fn valid_date_times_round_trip(
            unix_s in 0i64..253_402_300_799 - 86_400,
            ms in 0u32..1000,
            offset in -(23 * 60 + 59)..=(23 * 60 + 59i64),
        ) {
            let stamp = Timestamp { unix_ms: unix_s * 1000 + i64::from(ms) + 86_400_000 };
            let stored = stamp.to_string();
            prop_assert_eq!(parse_date_time(&stored), Ok(stamp));
            // The same instant written in local time with `offset`.
            let local = Timestamp { unix_ms: stamp.unix_ms + offset * 60_000 }.to_string();
            let sign = if offset < 0 { '-' } else { '+' };
            let zone = format!("{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60);
            let written = format!("{}{zone}", local.trim_end_matches('Z'));
            prop_assert_eq!(normalize_date_time(&written), Ok(stored));
        }
    }
}
