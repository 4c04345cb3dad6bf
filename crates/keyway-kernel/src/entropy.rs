use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroize;

/// Where random bytes come from (keys, nonces, tokens, ids). Logic takes this as a parameter
/// so tests can be repeatable.
pub trait Entropy: Send + Sync {
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

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` to `out` as lowercase hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// `bytes` random bytes as lowercase hex (identifiers people copy into commands).
pub fn random_hex(entropy: &dyn Entropy, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    entropy.fill(&mut buf);
    let mut out = String::with_capacity(bytes * 2);
    push_hex(&mut out, &buf);
    out
}

/// A random (version 4) UUID in its hyphenated lowercase form.
pub fn uuid_v4(entropy: &dyn Entropy) -> String {
    let mut b = [0u8; 16];
    entropy.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, group) in [&b[..4], &b[4..6], &b[6..8], &b[8..10], &b[10..]]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        push_hex(&mut out, group);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);

    impl Entropy for Fixed {
        fn fill(&self, dest: &mut [u8]) {
            dest.fill(self.0);
        }
    }

    #[test]
    fn uuid_v4_sets_version_and_variant() {
        assert_eq!(
            uuid_v4(&Fixed(0xff)),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(uuid_v4(&Fixed(0)), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn tokens_and_hex_have_their_lengths() {
        assert_eq!(random_token(&Fixed(1), 32).len(), 43);
        assert_eq!(random_hex(&Fixed(0xab), 3), "ababab");
        let system = SystemEntropy::default();
        assert_ne!(random_token(&system, 32), random_token(&system, 32));
    }
}
