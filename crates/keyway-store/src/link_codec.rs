//! How link values are stored: hashes as 32 bytes, UUIDs as 16 bytes (migration 0005). The
//! store's API speaks their text forms (lowercase hex; hyphenated UUIDs), as the wire does.

use crate::StoreError;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Hex digit values; 0xff marks a byte that is not a hex digit.
const DIGITS: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// The `N` bytes of the hex digits `digits` (exactly `2 * N` of them). Table-driven: this runs
/// for every hash and UUID a batch reads or writes (an iterator version was 5% of linking).
fn decode<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (DIGITS[usize::from(pair[0])], DIGITS[usize::from(pair[1])]);
        bad |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    // Only a non-digit (0xff) sets the high bits.
    (bad & 0xf0 == 0).then_some(out)
}

/// A 64-digit hex hash as the 32 bytes stored.
pub(crate) fn hash_bytes(text: &str) -> Result<[u8; 32], StoreError> {
    decode(text.as_bytes()).ok_or(StoreError::Corrupt("a link hash is not 64 hex digits"))
}

/// A UUID (hyphenated or not) as the 16 bytes stored.
pub(crate) fn uuid_bytes(text: &str) -> Result<[u8; 16], StoreError> {
    let text = text.as_bytes();
    let mut digits = [0u8; 32];
    let mut len = 0;
    for &c in text {
        if c == b'-' {
            continue;
        }
        if len == digits.len() {
            return Err(StoreError::Corrupt("a link UUID is not 32 hex digits"));
        }
        digits[len] = c;
        len += 1;
    }
    decode(&digits[..len]).ok_or(StoreError::Corrupt("a link UUID is not 32 hex digits"))
}

fn push_hex(out: &mut String, byte: u8) {
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// Lowercase hex of stored hash bytes.
pub(crate) fn hash_text(bytes: &[u8]) -> Result<String, StoreError> {
    if bytes.len() != 32 {
        return Err(StoreError::Corrupt("link_hashes.hash is not 32 bytes"));
    }
    let mut out = String::with_capacity(64);
    bytes.iter().for_each(|&b| push_hex(&mut out, b));
    Ok(out)
}

/// The hyphenated text of stored UUID bytes.
pub(crate) fn uuid_text(bytes: &[u8]) -> Result<String, StoreError> {
    let bytes: &[u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("link_records.uuid is not 16 bytes"))?;
    Ok(uuid_string(bytes))
}

/// The hyphenated lowercase text of a UUID (also how the linker writes the UUIDs it makes).
pub fn uuid_string(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, &byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        push_hex(&mut out, byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip() -> Result<(), StoreError> {
        let text = "0f1e2d3c-4b5a-8697-a8b9-cadbecfd0e1f";
        let bytes = uuid_bytes(text)?;
        assert_eq!(bytes[0], 0x0f);
        assert_eq!(uuid_text(&bytes)?, text);
        assert_eq!(uuid_bytes(&text.replace('-', ""))?, bytes);
        assert_eq!(uuid_text(&uuid_bytes(&text.to_uppercase())?)?, text);
        Ok(())
    }

    #[test]
    fn hashes_round_trip() -> Result<(), StoreError> {
        let text = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(hash_text(&hash_bytes(text)?)?, text);
        Ok(())
    }

    #[test]
    fn refuses_wrong_lengths_and_digits() {
        assert!(hash_bytes("abc").is_err());
        assert!(hash_bytes(&"g".repeat(64)).is_err());
        assert!(hash_bytes(&"a".repeat(66)).is_err());
        assert!(uuid_bytes("0f1e2d3c-4b5a").is_err());
        assert!(hash_text(&[0; 31]).is_err());
        assert!(uuid_text(&[0; 17]).is_err());
    }
}
