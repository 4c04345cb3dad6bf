//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 30-second steps,
//! 6 digits — what every authenticator app computes from an `otpauth://` URI.
//!
//! Pure functions (the secret, the code and the time are arguments). A code is accepted for
//! the current step and one step either side (clock drift, RFC 6238 §5.2), and only for a
//! step later than the last one accepted, so a code seen over someone's shoulder cannot be
//! used again within its window.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// RFC 6238 §4.1: X, the step, in seconds.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret: 160 bits, the HMAC-SHA1 block size RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of the current one.
const DRIFT_STEPS: i64 = 1;

/// The RFC 6238 time step of `unix_secs`.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECONDS)
}

/// RFC 4226 §5.3: HOTP of `counter`, `digits` long (zero-padded).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    // Dynamic truncation: the low nibble of the last byte picks four bytes.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    let modulus = 10u32.pow(digits);
    format!("{:0width$}", binary % modulus, width = digits as usize)
}

/// RFC 6238: the code for `unix_secs`.
pub fn totp(secret: &[u8], unix_secs: i64, digits: u32) -> String {
    hotp(secret, step_at(unix_secs).max(0) as u64, digits)
}

/// Checks a 6-digit `code` at `unix_secs`: the step it matches (current ±1), if that step is
/// later than `last_step` (the last one accepted for this secret). The caller records the
/// returned step before answering, atomically, so two requests cannot both spend it.
pub fn verify(secret: &[u8], code: &str, unix_secs: i64, last_step: i64) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    // Every candidate is computed and compared, so timing says nothing about which matched.
    let mut matched = None;
    for step in (now - DRIFT_STEPS)..=(now + DRIFT_STEPS) {
        if step < 0 {
            continue;
        }
        let expected = hotp(secret, step as u64, DIGITS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched.filter(|step| *step > last_step)
}

/// RFC 4648 §6 base32 without padding: how `otpauth://` URIs carry the secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://totp/…` URI (Google Authenticator's Key Uri Format) that authenticator apps
/// read, usually from a QR code: label `issuer:account`, the secret, the issuer again.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    // Percent-encoding throughout (%20 for a space, not `+`, which some apps show as is); the
    // colon between issuer and account stays literal, as apps split the label on it.
    let encode = |text: &str| {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode(issuer),
        encode(account),
        base32(secret),
        encode(issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA1 rows (8 digits, the ASCII secret "12345678901234567890").
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp(secret, time, 8), code, "T = {time}");
        }
    }

    /// RFC 4226 Appendix D: HOTP values for counters 0 and 9 of the same secret.
    #[test]
    fn rfc4226_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(hotp(secret, 0, 6), "755224");
        assert_eq!(hotp(secret, 9, 6), "520489");
    }

    /// One step of drift either way is accepted; two are not; a step once accepted (or an
    /// earlier one) is not accepted again; anything but six digits never matches.
    #[test]
    fn verify_window_and_replay() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890;
        let step = step_at(now);
        let code = totp(secret, now, DIGITS);
        assert_eq!(verify(secret, &code, now, 0), Some(step));
        assert_eq!(verify(secret, &code, now + STEP_SECONDS, 0), Some(step));
        assert_eq!(verify(secret, &code, now - STEP_SECONDS, 0), Some(step));
        assert_eq!(verify(secret, &code, now + 2 * STEP_SECONDS, 0), None);
        assert_eq!(verify(secret, &code, now, step), None, "replayed");
        assert_eq!(verify(secret, &code, now, step + 1), None);
        for bad in ["", "12345", "1234567", "12345a", " 123456", "１２３４５６"] {
            assert_eq!(verify(secret, bad, now, 0), None, "{bad:?}");
        }
    }

    /// RFC 4648 §10 base32 vectors, without padding.
    #[test]
    fn base32_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
    }

    #[test]
    fn otpauth_uri_is_what_authenticator_apps_read() {
        let uri = otpauth_uri("keyway hub", "alice", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/keyway%20hub:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=keyway%20hub&algorithm=SHA1&digits=6&period=30"
        );
    }
}
