//! Field normalisation of the legacy rules.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::FieldError;

/// Names, sex and race: every character that is not a letter or a digit goes (punctuation,
/// symbols, all whitespace), the rest is lowercased. Accents stay: `José` → `josé`.
pub fn normalize_text(input: &str, out: &mut String) {
    out.clear();
    if input.is_ascii() {
        out.extend(
            input
                .bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| char::from(b.to_ascii_lowercase())),
        );
        return;
    }
    for ch in input.chars() {
        if ch.is_alphanumeric() {
            if ch.is_ascii() {
                out.push(ch.to_ascii_lowercase());
            } else {
                out.extend(ch.to_lowercase());
            }
        }
    }
}

/// The accent-folding variant (keyway's own rules, not legacy): canonical decomposition, drop
/// combining marks, then [`normalize_text`]. `José` → `jose`.
pub fn fold_accents(input: &str, out: &mut String) {
    if input.is_ascii() {
        return normalize_text(input, out);
    }
    let folded: String = input.nfd().filter(|c| !is_combining_mark(*c)).collect();
    normalize_text(&folded, out);
}

/// A PCORnet sex code, normalised: `a f m ni un ot`, or empty.
pub fn normalize_sex(input: &str, out: &mut String) -> Result<(), FieldError> {
    normalize_text(input, out);
    match out.as_str() {
        "" | "a" | "f" | "m" | "ni" | "un" | "ot" => Ok(()),
        _ => Err(FieldError::UnknownSex(input.to_string())),
    }
}

/// A PCORnet race code, normalised: `01`–`07` (a bare `1`–`7` gains its zero), `ni un ot`, or
/// empty.
pub fn normalize_race(input: &str, out: &mut String) -> Result<(), FieldError> {
    normalize_text(input, out);
    match out.as_bytes() {
        [] => Ok(()),
        [d @ b'1'..=b'7'] => {
            let digit = char::from(*d);
            out.clear();
            out.push('0');
            out.push(digit);
            Ok(())
        }
        [b'0', b'1'..=b'7'] => Ok(()),
        b"ni" | b"un" | b"ot" => Ok(()),
        _ => Err(FieldError::UnknownRace(input.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(input: &str) -> String {
        let mut out = String::new();
        normalize_text(input, &mut out);
        out
    }

    #[test]
    fn strips_punctuation_symbols_and_whitespace_keeps_accents() {
        assert_eq!(text(" O'Brien-Smith "), "obriensmith");
        assert_eq!(text("José\tMaría"), "josémaría");
        assert_eq!(text("Anne_Marie (Jr.) #2"), "annemariejr2");
        assert_eq!(text("ÆSIR"), "æsir");
        assert_eq!(text("\u{00a0}Zoë\u{2019}s"), "zoës");
    }

    #[test]
    fn folding_drops_accents() {
        let mut out = String::new();
        fold_accents("José Núñez", &mut out);
        assert_eq!(out, "josenunez");
    }

    #[test]
    fn codes() {
        let mut out = String::new();
        assert!(normalize_sex(" F ", &mut out).is_ok());
        assert_eq!(out, "f");
        assert!(normalize_sex("X", &mut out).is_err());
        assert!(normalize_race("5", &mut out).is_ok());
        assert_eq!(out, "05");
        assert!(normalize_race("07", &mut out).is_ok());
        assert!(normalize_race("08", &mut out).is_err());
        assert!(normalize_race("NI", &mut out).is_ok());
        assert_eq!(out, "ni");
    }
}
