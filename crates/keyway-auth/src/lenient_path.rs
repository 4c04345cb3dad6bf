//! A URL path as the most lenient server might read it: what the gateway's confinement to a
//! target's API URL and the refusal of `resource` values resembling another client's API URL
//! must both see through. Lenient servers decode escapes more than once, read IIS's `%uXXXX`
//! escapes, decode overlong UTF-8 (`%c0%ae` as `.`, in any of its 2- to 6-byte forms), fold
//! full-width and small-form characters to ASCII (NFKC: `／` as `/`, `＼` and `﹨` as `\`,
//! `．`, `﹒` and `․` as `.`), read bytes that are no UTF-8 as Latin-1, and trim white space,
//! control and invisible characters around a segment and dots off its end (Windows: `..%20`
//! is `..`).

/// `path` decoded (up to four times) and folded as above; a byte that is no UTF-8 and no
/// overlong form is read as Latin-1 (`%a0` as a no-break space).
pub fn lenient_reading(path: &str) -> String {
    let mut text = path.to_string();
    for _ in 0..4 {
        let decoded = decode_once(&text);
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        fold_into(c, &mut folded);
    }
    folded
}

/// Characters a lenient server drops from around a name (trims, or never shows): white
/// space of every script, controls, and invisible ones (zero-width, bidirectional controls,
/// fillers, variation selectors, tags, byte order mark, …).
pub(crate) fn ignorable(c: char) -> bool {
    c.is_whitespace() || c.is_control() || invisible(c)
}

/// Invisible characters: format characters and fillers that show nothing, variation
/// selectors, tags, the braille blank, and noncharacters.
pub(crate) fn invisible(c: char) -> bool {
    let code = u32::from(c);
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}'
        | '\u{17b5}' | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{2800}' | '\u{3164}'
        | '\u{fdd0}'..='\u{fdef}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff9}'..='\u{fffb}' | '\u{13430}'..='\u{1343f}' | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
        || code & 0xfffe == 0xfffe
}

/// The segments of `path` as a lenient server reads them (split at `/`, `\`, and a decoded
/// `?` or `#`; each without `;parameters`, without what [`ignorable`] names around it, and
/// without trailing dots — but a segment of dots alone is kept, as `.` or `..`).
fn lenient_segments(path: &str) -> Vec<String> {
    lenient_reading(path)
        .split(['/', '\\', '?', '#'])
        .map(|segment| {
            let name = segment.split(';').next().unwrap_or_default();
            let name = name.trim_matches(ignorable);
            let trimmed = name.trim_end_matches(|c: char| c == '.' || ignorable(c));
            if trimmed.is_empty() && !name.is_empty() {
                // Only dots (and what a server drops): `.` or `..` to a lenient server.
                if name.chars().filter(|c| *c == '.').count() == 1 {
                    ".".to_string()
                } else {
                    "..".to_string()
                }
            } else {
                trimmed.to_string()
            }
        })
        .collect()
}

/// Whether `path` holds a `.` or `..` segment as a lenient server reads it.
pub fn has_dot_segment(path: &str) -> bool {
    // Nothing to decode or fold (most paths, on every gateway call): its segments as written.
    if path.bytes().all(|b| b.is_ascii() && b != b'%') {
        return path.split(['/', '\\']).any(|segment| {
            let name = segment.split(';').next().unwrap_or_default();
            !name.is_empty() && name.bytes().all(|b| b == b'.')
        });
    }
    lenient_segments(path)
        .iter()
        .any(|segment| segment == "." || segment == "..")
}

/// One pass of percent-decoding, with `%uXXXX` escapes and overlong UTF-8 decoded too.
fn decode_once(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut raw = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            if let Some(byte) = hex_byte(bytes.get(at + 1..at + 3)) {
                raw.push(byte);
                at += 3;
                continue;
            }
            let unicode = bytes
                .get(at + 1)
                .is_some_and(|u| u.eq_ignore_ascii_case(&b'u'));
            if let Some(code) = unicode
                .then(|| text.get(at + 2..at + 6))
                .flatten()
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            {
                let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0u8; 4];
                raw.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                at += 6;
                continue;
            }
        }
        raw.push(bytes[at]);
        at += 1;
    }
    lenient_utf8(&raw)
}

fn hex_byte(hex: Option<&[u8]>) -> Option<u8> {
    let hex = std::str::from_utf8(hex?).ok()?;
    u8::from_str_radix(hex, 16).ok()
}

/// `bytes` as UTF-8, reading overlong and 5- and 6-byte forms as their code point (as
/// lenient decoders do) and any other byte that is no UTF-8 as Latin-1 (as decoders that
/// fall back to it do).
fn lenient_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let lead = bytes[at];
        let (len, bits) = match lead {
            0x00..=0x7f => {
                out.push(char::from(lead));
                at += 1;
                continue;
            }
            0xc0..=0xdf => (2, u32::from(lead & 0x1f)),
            0xe0..=0xef => (3, u32::from(lead & 0x0f)),
            0xf0..=0xf7 => (4, u32::from(lead & 0x07)),
            0xf8..=0xfb => (5, u32::from(lead & 0x03)),
            0xfc..=0xfd => (6, u32::from(lead & 0x01)),
            _ => (0, 0),
        };
        let tail = bytes.get(at + 1..at + len.max(1));
        match tail.filter(|t| len > 0 && t.iter().all(|b| b & 0xc0 == 0x80)) {
            Some(tail) => {
                let code = tail
                    .iter()
                    .fold(bits, |code, b| (code << 6) | u32::from(b & 0x3f));
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                at += len;
            }
            None => {
                out.push(char::from(lead));
                at += 1;
            }
        }
    }
    out
}

/// Appends what NFKC folds `c` to, for the characters that read as URL punctuation or ASCII
/// letters (full-width forms, small forms, dot leaders), or `c` itself.
fn fold_into(c: char, out: &mut String) {
    let code = u32::from(c);
    match code {
        // Full-width ASCII: U+FF01..U+FF5E is U+0021..U+007E.
        0xff01..=0xff5e => out.push(char::from_u32(code - 0xfee0).unwrap_or(c)),
        0xfe52 | 0x2024 => out.push('.'),
        0x2025 | 0xfe30 => out.push_str(".."),
        0x2026 | 0xfe19 => out.push_str("..."),
        // Division and fraction slashes, big solidus (Windows' best-fit maps some to `/`).
        0x2215 | 0x2044 | 0x29f8 => out.push('/'),
        0xfe68 | 0x2216 | 0x29f5 | 0x29f9 => out.push('\\'),
        // Case folding's exceptions (dotless i, long s, Kelvin sign: Java's
        // `equalsIgnoreCase` reads `ı` as `i`).
        0x0131 => out.push('i'),
        0x017f => out.push('s'),
        0x212a => out.push('k'),
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_servers_ways_out_are_seen() {
        for way_out in [
            "/..",
            "/%2e%2e/x",
            "/%252e%252e/x",
            "/%c0%ae%c0%ae/x",
            "/%e0%80%ae%e0%80%ae/x",
            "/%f0%80%80%ae%f0%80%80%ae/x",
            "/%f8%80%80%80%ae%f8%80%80%80%ae/x",
            "/%fc%80%80%80%80%ae%fc%80%80%80%80%ae/x",
            "/%u002e%u002e/x",
            "/%U002E%U002E/x",
            "/..%20/x",
            "/..%09/x",
            "/..%0b/x",
            "/..;x/y",
            "/%ef%bc%8e%ef%bc%8e/x",
            "/\u{2025}/x",
            "/x/..%ef%bc%bcc",
            "/x/..%ef%b9%a8c",
            "/x\\..\\y",
            "/.../x",
            "/%09../x",
            "/%0a../x",
            "/%7f../x",
            "/%C2%A0../x",
            "/%E2%80%80../x",
            "/%E3%80%80../x",
            "/..%ef%bb%bf/x",
            "/%ef%bb%bf../x",
            "/%ef%b8%b0/x",
            "/..%e2%88%95x",
            "/..%e2%81%84x",
            "/..%e2%88%96x",
            "/..%e2%a7%b5x",
            "/..%3f",
            "/..%23",
            "/..%a0/x",
            "/..%85/x",
            "/..%e2%80%8b/x",
            "/..%c2%ad/x",
            "/..%e1%a0%8e/x",
        ] {
            assert!(has_dot_segment(way_out), "{way_out}");
        }
        for fine in ["/a.b/c", "/v1/orders", "/..a/b", "/a../b", "/caf%c3%a9"] {
            assert!(!has_dot_segment(fine), "{fine}");
        }
    }

    #[test]
    fn folding_reads_look_alikes_as_ascii() {
        assert_eq!(lenient_reading("/%EF%BC%A1%EF%BC%B0%EF%BC%A9"), "/API");
        assert_eq!(lenient_reading("/api%ef%bc%8fx"), "/api/x");
        assert_eq!(lenient_reading("/api%c0%af"), "/api/");
        assert_eq!(lenient_reading("/api%u002f"), "/api/");
        assert_eq!(lenient_reading("/caf%c3%a9"), "/café");
        assert_eq!(lenient_reading("/%ff%fe"), "/\u{ff}\u{fe}");
        assert_eq!(lenient_reading("/ap%c4%b1"), "/api");
    }
}
