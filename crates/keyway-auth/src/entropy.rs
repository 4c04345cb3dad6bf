use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Where random bytes come from. Logic takes this as a parameter so tests can be repeatable.
pub trait Entropy: Send + Sync + 'static {
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's CSPRNG (through aws-lc).
#[derive(Debug, Default, Clone)]
pub struct SystemEntropy(SystemRandom);

impl Entropy for SystemEntropy {
    fn fill(&self, dest: &mut [u8]) {
        // aws-lc's system RNG fails only when the OS cannot supply entropy at all; continuing
        // with predictable bytes would be worse than stopping.
        #[allow(clippy::expect_used)]
        self.0.fill(dest).expect("operating system RNG failed");
    }
}

/// `bytes` random bytes, base64url without padding (32 bytes → 43 characters, 256 bits).
pub fn random_token(entropy: &dyn Entropy, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    entropy.fill(&mut buf);
    let token = URL_SAFE_NO_PAD.encode(&buf);
    buf.zeroize();
    token
}

/// `bytes` random bytes as lowercase hex (identifiers people copy into commands).
pub fn random_hex(entropy: &dyn Entropy, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    entropy.fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256: how high-entropy secrets and tokens are stored.
pub fn sha256_hex(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    out
}

/// A secret that never shows in logs or `Debug` output and is wiped when dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> SecretString {
        SecretString(value)
    }

    /// The secret itself; call only where it must leave the process (printing it once).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_token_has_expected_length() {
        let token = random_token(&SystemEntropy::default(), 32);
        assert_eq!(token.len(), 43);
    }

    #[test]
    fn secret_is_redacted() {
        let secret = SecretString::new("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
