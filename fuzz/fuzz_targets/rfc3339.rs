//! The data API's RFC 3339 date and date-time grammar on arbitrary text.
#![no_main]

use keyway_data::{parse_date, parse_date_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(stamp) = parse_date_time(text) {
        // The stored form is canonical: fixed width, and it parses back to the same instant.
        let stored = stamp.to_string();
        assert_eq!(stored.len(), 24, "{text:?} stored as {stored:?}");
        assert_eq!(parse_date_time(&stored), Ok(stamp), "{text:?} stored as {stored:?}");
        // Only ASCII can be valid, so no multi-byte character was ever cut.
        assert!(text.is_ascii(), "{text:?}");
    }
    if let Ok(date) = parse_date(text) {
        // A date is exactly its printed form.
        assert_eq!(date.to_string(), text);
    }
});
