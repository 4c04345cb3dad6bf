//! Server-provided DPoP nonces (RFC 9449 §8, §9). With `require_dpop_nonce`, a proof must carry
//! a `nonce` the hub handed out recently, so proofs cannot be made in advance and kept.
//!
//! Nonces are stateless: `base64url(window ‖ HMAC(key, window)[..16])`, where `window` is the
//! number of the current 5-minute period and the key is derived from the hub's CSRF secret
//! (kept in the store), so every hub process on one store accepts the others' nonces and
//! nothing is written per nonce. A nonce is good in its window and the next, 5 to 10 minutes.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Length of a nonce window, in seconds.
const WINDOW_SECS: i64 = 300;
const TAG_LEN: usize = 16;

pub(crate) struct DpopNonces(hmac::Key);

impl DpopNonces {
    pub(crate) fn new(csrf_key: &hmac::Key) -> DpopNonces {
        let derived = hmac::sign(csrf_key, b"keyway DPoP nonce v1");
        DpopNonces(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    fn for_window(&self, window: i64) -> String {
        let window = window.to_be_bytes();
        let tag = hmac::sign(&self.0, &window);
        let mut raw = window.to_vec();
        raw.extend_from_slice(&tag.as_ref()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The nonce to hand out at `now`.
    pub(crate) fn current(&self, now: i64) -> String {
        self.for_window(now.div_euclid(WINDOW_SECS))
    }

    /// Whether `nonce` was handed out by this hub in the current or the previous window.
    pub(crate) fn is_fresh(&self, nonce: &str, now: i64) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((window, tag)) = raw.split_first_chunk::<8>() else {
            return false;
        };
        let window = i64::from_be_bytes(*window);
        let current = now.div_euclid(WINDOW_SECS);
        if window != current && window != current - 1 {
            return false;
        }
        let full = hmac::sign(&self.0, &window.to_be_bytes());
        tag.len() == TAG_LEN && subtle::ConstantTimeEq::ct_eq(tag, &full.as_ref()[..TAG_LEN]).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonces(secret: &[u8]) -> DpopNonces {
        DpopNonces::new(&hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    #[test]
    fn a_nonce_lives_between_five_and_ten_minutes() {
        let n = nonces(b"secret");
        let issued_at = 999_999_900 + 200; // 200 s into a window (999_999_900 = 300 × 3_333_333)
        let nonce = n.current(issued_at);
        assert!(n.is_fresh(&nonce, issued_at));
        assert!(n.is_fresh(&nonce, issued_at + 399));
        assert!(!n.is_fresh(&nonce, issued_at + 400));
        assert!(!n.is_fresh(&nonce, issued_at - 300), "from the future");
    }

    #[test]
    fn forged_or_foreign_nonces_are_refused() {
        let ours = nonces(b"secret");
        let theirs = nonces(b"another hub");
        let now = 1_000_000_000;
        assert!(!ours.is_fresh(&theirs.current(now), now));
        let mut tampered = URL_SAFE_NO_PAD.decode(ours.current(now)).unwrap();
        tampered[23] ^= 1;
        assert!(!ours.is_fresh(&URL_SAFE_NO_PAD.encode(tampered), now));
        for junk in ["", "x", "!!!!", &"A".repeat(400)] {
            assert!(!ours.is_fresh(junk, now));
        }
    }
}
