use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::error::TokiError;

/// The RFC 9530 `Content-Digest` field value of `body` with SHA-256: `sha-256=:<base64>:`.
/// An empty body has a digest too; it is always bound.
pub fn content_digest(body: &[u8]) -> String {
    // One allocation: this runs twice per call on each side.
    let mut out = String::with_capacity(54);
    out.push_str("sha-256=:");
    let mut text = [0u8; 44];
    if let Ok(len) = STANDARD.encode_slice(digest(&SHA256, body), &mut text)
        && let Ok(text) = std::str::from_utf8(&text[..len])
    {
        out.push_str(text);
    }
    out.push(':');
    out
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the unpadded base64url of `bytes` (no allocation of its own: this runs several
/// times per call).
pub(crate) fn push_b64(out: &mut String, bytes: &[u8]) {
    // Through a stack buffer: `encode_string` goes through a chunked encoder, several times
    // slower for the 16- and 32-byte values of tokens.
    let mut text = [0u8; 64];
    match URL_SAFE_NO_PAD.encode_slice(bytes, &mut text) {
        Ok(len) if let Ok(text) = std::str::from_utf8(&text[..len]) => out.push_str(text),
        _ => URL_SAFE_NO_PAD.encode_string(bytes, out),
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` < 10: the cast cannot truncate.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// Decodes unpadded base64url into exactly `N` bytes.
pub(crate) fn b64_fixed<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], TokiError> {
    // Exactly N bytes have exactly this many characters; the decoder checks the rest
    // (alphabet, canonical trailing bits) and writes into a stack buffer.
    if text.len() != (N * 4).div_ceil(3) {
        return Err(TokiError::Malformed(what));
    }
    let mut out = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
        Ok(written) if written == N => Ok(out),
        _ => Err(TokiError::Malformed(what)),
    }
}

/// Parses a canonical unsigned decimal: digits only, no sign, no leading zero (except `0`).
pub(crate) fn decimal_u64(text: &str, what: &'static str) -> Result<u64, TokiError> {
    let canonical = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(TokiError::Malformed(what));
    }
    text.parse().map_err(|_| TokiError::Malformed(what))
}

/// Refuses a value that could smuggle a line break or other control character into a
/// canonical string.
pub(crate) fn bindable(value: &str, what: &'static str) -> Result<(), TokiError> {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(TokiError::InvalidField(what));
    }
    Ok(())
}

/// Appends `len:u16 BE || bytes` (handshake fields).
pub(crate) fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// Reads handshake fields front to back.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { rest: bytes, what }
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], TokiError> {
        if self.rest.len() < len {
            return Err(TokiError::Malformed(self.what));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], TokiError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn prefixed(&mut self) -> Result<&'a [u8], TokiError> {
        let len = u16::from_be_bytes(self.fixed::<2>()?);
        self.take(usize::from(len))
    }

    pub(crate) fn finish(self) -> Result<(), TokiError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(TokiError::Malformed(self.what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9530 Appendix B (the `{"hello": "world"}` body) and the empty body.
    #[test]
    fn content_digest_matches_rfc9530() {
        assert_eq!(
            content_digest(b"{\"hello\": \"world\"}"),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(decimal_u64("0", "n"), Ok(0));
        assert_eq!(decimal_u64("1024", "n"), Ok(1024));
        for bad in ["", "01", "+1", "-1", "1a", "99999999999999999999"] {
            assert_eq!(
                decimal_u64(bad, "n"),
                Err(TokiError::Malformed("n")),
                "{bad}"
            );
        }
    }
}
