//! Pending authorization requests of browsers that have not signed in yet travel sealed in
//! the login form instead of being stored: an unauthenticated `GET /oauth2/authorize` then
//! writes nothing, so nobody can fill the database by requesting sign-in pages. The seal is
//! AES-256-GCM under a key derived from the hub's CSRF secret (shared by every hub process
//! through the store), with the expiry inside the sealed text. A row is written only once a
//! user has signed in (see [`crate::AuthService::login`]).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_store::AuthorizationRequestRecord;
use serde::{Deserialize, Serialize};

use crate::Entropy;

/// Sealed request ids start with this, stored ones never do (they are base64url tokens).
const PREFIX: &str = "s.";
/// Bound on a sealed id: the parameters inside are capped (docs/oauth.md), so a longer
/// value is not one of ours and is not worth decrypting.
pub(crate) const MAX_SEALED_LEN: usize = 16 * 1024;

pub(crate) struct RequestSeal(crate::sealed_box::SealKey);

#[derive(Serialize, Deserialize)]
struct Sealed {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    prompt: Option<String>,
    code_challenge: String,
    resources: String,
    created_at: i64,
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extra: Option<String>,
    /// The login type asked for (`type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    login_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_jkt: Option<String>,
}

impl RequestSeal {
    /// The sealing key, derived from the CSRF secret for this one purpose.
    pub(crate) fn new(csrf_key: &hmac::Key) -> Option<RequestSeal> {
        crate::sealed_box::SealKey::derived(
            csrf_key,
            b"keyway pending authorization request seal v1",
        )
        .map(RequestSeal)
    }

    pub(crate) fn is_sealed(request_id: &str) -> bool {
        request_id.starts_with(PREFIX)
    }

    /// The request as an opaque id (`s.` + base64url(nonce ‖ ciphertext ‖ tag)).
    pub(crate) fn seal(
        &self,
        record: &AuthorizationRequestRecord,
        entropy: &dyn Entropy,
    ) -> Option<String> {
        let sealed = Sealed {
            client_id: record.client_id.clone(),
            redirect_uri: record.redirect_uri.clone(),
            scope: record.scope.clone(),
            state: record.state.clone(),
            nonce: record.nonce.clone(),
            prompt: record.prompt.clone(),
            code_challenge: record.code_challenge.clone(),
            resources: record.resources.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            response_mode: record.response_mode.clone(),
            extra: record.extra.clone(),
            login_method: record.login_method.clone(),
            dpop_jkt: record.dpop_jkt.clone(),
        };
        let data = serde_json::to_vec(&sealed).ok()?;
        let out = self.0.seal(PREFIX.as_bytes(), &data, entropy)?;
        Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The request inside a sealed id, if this hub sealed it and it has not expired.
    pub(crate) fn open(&self, request_id: &str, now: i64) -> Option<AuthorizationRequestRecord> {
        if request_id.len() > MAX_SEALED_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD
            .decode(request_id.strip_prefix(PREFIX)?)
            .ok()?;
        let plain = self.0.open(PREFIX.as_bytes(), &raw)?;
        let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
        (sealed.expires_at > now).then(|| AuthorizationRequestRecord {
            request_id: request_id.to_string(),
            client_id: sealed.client_id,
            redirect_uri: sealed.redirect_uri,
            scope: sealed.scope,
            state: sealed.state,
            nonce: sealed.nonce,
            prompt: sealed.prompt,
            code_challenge: sealed.code_challenge,
            resources: sealed.resources,
            user_id: None,
            auth_time: None,
            created_at: sealed.created_at,
            expires_at: sealed.expires_at,
            response_mode: sealed.response_mode,
            extra: sealed.extra,
            login_method: sealed.login_method,
            dpop_jkt: sealed.dpop_jkt,
            // Sealed requests are those nobody has signed in to yet.
            sid: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemEntropy;

    fn record() -> AuthorizationRequestRecord {
        AuthorizationRequestRecord {
            request_id: String::new(),
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "read".into(),
            state: Some("xyz".into()),
            nonce: None,
            prompt: None,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resources: String::new(),
            user_id: None,
            auth_time: None,
            created_at: 100,
            expires_at: 700,
            response_mode: Some("query.jwt".into()),
            extra: Some(r#"{"custom":[["order","A-1"]]}"#.into()),
            login_method: None,
            dpop_jkt: None,
            sid: None,
        }
    }

    #[test]
    fn a_sealed_request_opens_until_it_expires_and_only_with_its_key() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret one");
        let seal = RequestSeal::new(&key).unwrap();
        let id = seal.seal(&record(), &SystemEntropy::default()).unwrap();
        assert!(RequestSeal::is_sealed(&id));
        let opened = seal.open(&id, 699).unwrap();
        assert_eq!(opened.state.as_deref(), Some("xyz"));
        assert_eq!(opened.request_id, id);
        assert!(seal.open(&id, 700).is_none(), "expired");
        let other = RequestSeal::new(&hmac::Key::new(hmac::HMAC_SHA256, b"secret two")).unwrap();
        assert!(other.open(&id, 699).is_none(), "another hub's key");
        let mut tampered = id.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(seal.open(&tampered, 699).is_none(), "tampered");
        assert!(seal.open("s.", 0).is_none());
        assert!(seal.open("s.!!", 0).is_none());
    }
}
