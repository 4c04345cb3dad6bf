//! One AES-256-GCM box for every value the hub seals (pending sign-in requests, pending
//! upstream sign-ins, secrets under the master key): `nonce ‖ ciphertext ‖ tag`, with a fresh
//! random nonce each time and an AAD that binds the value to its purpose or owner.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;

use crate::Entropy;

pub(crate) struct SealKey(LessSafeKey);

impl SealKey {
    /// A key of its own for `purpose`, derived from the hub's CSRF secret.
    pub(crate) fn derived(secret: &hmac::Key, purpose: &[u8]) -> Option<SealKey> {
        SealKey::from_bytes(hmac::sign(secret, purpose).as_ref())
    }

    /// A key from 32 raw bytes.
    pub(crate) fn from_bytes(raw: &[u8]) -> Option<SealKey> {
        let key = UnboundKey::new(&AES_256_GCM, raw).ok()?;
        Some(SealKey(LessSafeKey::new(key)))
    }

    /// `plain` sealed for `aad`: nonce ‖ ciphertext ‖ tag.
    pub(crate) fn seal(&self, aad: &[u8], plain: &[u8], entropy: &dyn Entropy) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        entropy.fill(&mut nonce);
        let mut data = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(out)
    }

    /// The plain text of a box [`SealKey::seal`] made for `aad` with this key, or `None`.
    pub(crate) fn open(&self, aad: &[u8], raw: &[u8]) -> Option<Vec<u8>> {
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let len = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut sealed)
            .ok()?
            .len();
        sealed.truncate(len);
        Some(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemEntropy;

    #[test]
    fn opens_only_with_its_key_and_aad() {
        let key = SealKey::from_bytes(&[1u8; 32]).unwrap();
        let other = SealKey::from_bytes(&[2u8; 32]).unwrap();
        let boxed = key
            .seal(b"a", b"secret", &SystemEntropy::default())
            .unwrap();
        assert_eq!(key.open(b"a", &boxed).as_deref(), Some(&b"secret"[..]));
        assert_eq!(key.open(b"b", &boxed), None);
        assert_eq!(other.open(b"a", &boxed), None);
        assert_eq!(key.open(b"a", &boxed[..5]), None);
    }
}
