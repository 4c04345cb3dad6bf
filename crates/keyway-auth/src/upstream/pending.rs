//! A sign-in through an upstream provider in progress, sealed into a cookie of the browser
//! that started it (AES-256-GCM under a key derived from the CSRF secret, like
//! `pending_seal.rs`): starting one writes nothing, so anonymous visitors cost no storage. The
//! callback spends its `state` in the store, so each answer is used once.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::Entropy;

/// Browsers keep cookies of about 4 KiB; a longer sealed login could not be kept.
pub(crate) const MAX_COOKIE_VALUE: usize = 3800;
/// Distinguishes this seal's texts from the authorization request seal's.
const AAD: &[u8] = b"keyway upstream login v1";

/// What the callback needs to finish the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingUpstreamLogin {
    /// The provider's name.
    pub upstream: String,
    pub state: String,
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636).
    pub verifier: String,
    /// The hub's authorization request this sign-in is for (sealed or stored id).
    pub request_id: String,
    /// SHA-256 (hex) of the browser cookie it was started with.
    pub browser: String,
    pub expires_at: i64,
}

pub(crate) struct LoginSeal(crate::sealed_box::SealKey);

impl LoginSeal {
    pub(crate) fn new(csrf_key: &hmac::Key) -> Option<LoginSeal> {
        crate::sealed_box::SealKey::derived(csrf_key, b"keyway upstream login seal v1")
            .map(LoginSeal)
    }

    pub(crate) fn seal(
        &self,
        pending: &PendingUpstreamLogin,
        entropy: &dyn Entropy,
    ) -> Option<String> {
        let data = serde_json::to_vec(pending).ok()?;
        let out = self.0.seal(AAD, &data, entropy)?;
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The pending login, if this hub sealed it and it has not expired.
    pub(crate) fn open(&self, text: &str, now: i64) -> Option<PendingUpstreamLogin> {
        if text.len() > MAX_COOKIE_VALUE {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let plain = self.0.open(AAD, &raw)?;
        let pending: PendingUpstreamLogin = serde_json::from_slice(&plain).ok()?;
        (pending.expires_at > now).then_some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemEntropy;

    #[test]
    fn opens_until_expiry_and_only_with_its_key() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"one");
        let seal = LoginSeal::new(&key).unwrap();
        let pending = PendingUpstreamLogin {
            upstream: "corp".into(),
            state: "st".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            request_id: "s.abc".into(),
            browser: "b".into(),
            expires_at: 600,
        };
        let text = seal.seal(&pending, &SystemEntropy::default()).unwrap();
        assert_eq!(seal.open(&text, 599), Some(pending));
        assert_eq!(seal.open(&text, 600), None);
        let other = LoginSeal::new(&hmac::Key::new(hmac::HMAC_SHA256, b"two")).unwrap();
        assert_eq!(other.open(&text, 0), None);
        assert_eq!(seal.open("!!", 0), None);
    }
}
