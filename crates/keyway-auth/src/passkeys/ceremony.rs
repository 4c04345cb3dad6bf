//! A WebAuthn ceremony between its start and the browser's answer: webauthn-rs's state with
//! what it is bound to, sealed (AES-256-GCM under a key derived from the hub's CSRF secret)
//! into a form field.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::WebauthnError;

use super::PasskeyOptions;
use crate::{AuthService, OAuthError, sha256_hex};

/// How long a ceremony may take (the authenticator's own timeout is 5 minutes too).
const CEREMONY_TTL: i64 = 300;
/// Longest sealed ceremony read (ten credentials to exclude fit in a few KiB).
const MAX_SEALED_LEN: usize = 24 * 1024;
/// The purpose of a registration (the account page).
pub(crate) const REGISTER_PURPOSE: &str = "hub:passkeys";

pub(crate) const STALE: &str =
    "that took too long, or the page is stale or from another browser: start again";
pub(crate) const REPLAYED: &str = "this answer was used already: start again";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    Register,
    /// A passkey alone, any account (discoverable credentials).
    SignIn,
    /// A passkey after the password, the account's own credentials only.
    SecondFactor,
}

impl Kind {
    fn aad(self) -> &'static [u8] {
        match self {
            Kind::Register => b"keyway passkey register v1",
            Kind::SignIn => b"keyway passkey sign-in v1",
            Kind::SecondFactor => b"keyway passkey second factor v1",
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Ceremony {
    kind: Kind,
    /// Whose (registration and second factor).
    pub(crate) user_id: Option<String>,
    /// The user handle a registration gives the authenticator.
    pub(crate) user_handle: Option<String>,
    /// SHA-256 (hex) of the form it serves: an authorization request id, `hub:login` or
    /// `hub:passkeys`.
    purpose: String,
    /// SHA-256 (hex) of the browser cookie.
    browser: String,
    /// The challenge (base64url), spent when the answer is accepted.
    pub(crate) challenge: String,
    pub(crate) expires_at: i64,
    /// webauthn-rs's state.
    state: serde_json::Value,
}

/// What a ceremony is bound to besides its kind.
pub(crate) struct Binding<'a> {
    /// Whose (registration and second factor).
    pub(crate) user_id: Option<&'a str>,
    /// The user handle a registration gives the authenticator.
    pub(crate) user_handle: Option<String>,
    /// The form: an authorization request id, `hub:login` or `hub:passkeys`.
    pub(crate) purpose: &'a str,
    /// The browser cookie.
    pub(crate) browser: &'a str,
}

impl Ceremony {
    fn new(
        kind: Kind,
        binding: Binding<'_>,
        options: &serde_json::Value,
        state: &impl Serialize,
        now: i64,
    ) -> Result<Ceremony, OAuthError> {
        let challenge = options
            .pointer("/publicKey/challenge")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| OAuthError::server_error("WebAuthn options without a challenge"))?;
        Ok(Ceremony {
            kind,
            user_id: binding.user_id.map(str::to_string),
            user_handle: binding.user_handle,
            purpose: sha256_hex(binding.purpose),
            browser: sha256_hex(binding.browser),
            challenge: challenge.to_string(),
            expires_at: now + CEREMONY_TTL,
            state: serde_json::to_value(state).map_err(OAuthError::server_error)?,
        })
    }

    /// webauthn-rs's state, back.
    pub(crate) fn state<T: DeserializeOwned>(&self) -> Result<T, OAuthError> {
        serde_json::from_value(self.state.clone()).map_err(OAuthError::server_error)
    }
}

/// What a person is told when webauthn-rs refuses an answer (the details go to the log).
pub(crate) fn refusal(err: &WebauthnError) -> String {
    match err {
        WebauthnError::InvalidRPOrigin => {
            "the passkey answered for another site (its origin is not this hub's)".into()
        }
        WebauthnError::InvalidRPIDHash => {
            "the passkey was made for another site (its RP ID is not this hub's)".into()
        }
        WebauthnError::MismatchedChallenge => {
            "the passkey answered another challenge: start again".into()
        }
        WebauthnError::UserNotVerified => {
            "the authenticator did not verify you (no PIN or biometric): passkeys here need it"
                .into()
        }
        WebauthnError::CredentialPossibleCompromise => {
            "this passkey's signature counter went backwards, so it may have been copied: it is \
             refused. Sign in another way and remove it, or ask the hub's administrator"
                .into()
        }
        _ => "the passkey's answer did not verify".into(),
    }
}

impl AuthService {
    /// A new ceremony's options for the page, with its state sealed into `ceremony`.
    pub(crate) fn ceremony_options(
        &self,
        kind: Kind,
        binding: Binding<'_>,
        options: serde_json::Value,
        state: &impl Serialize,
    ) -> Result<PasskeyOptions, OAuthError> {
        let ceremony = Ceremony::new(kind, binding, &options, state, self.clock.now_secs())?;
        Ok(PasskeyOptions {
            ceremony: self.seal_ceremony(&ceremony)?,
            options,
        })
    }

    fn seal_ceremony(&self, ceremony: &Ceremony) -> Result<String, OAuthError> {
        let plain = serde_json::to_vec(ceremony).map_err(OAuthError::server_error)?;
        let sealed = self
            .passkeys
            .seal
            .seal(ceremony.kind.aad(), &plain, self.entropy.as_ref())
            .ok_or_else(|| OAuthError::server_error("sealing the passkey ceremony failed"))?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The ceremony sealed in `text` if it is of `kind`, for `purpose` in `browser`, and
    /// not too old.
    pub(crate) fn open_ceremony(
        &self,
        text: &str,
        kind: Kind,
        purpose: &str,
        browser: &str,
        now: i64,
    ) -> Option<Ceremony> {
        if text.len() > MAX_SEALED_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let plain = self.passkeys.seal.open(kind.aad(), &raw)?;
        let ceremony: Ceremony = serde_json::from_slice(&plain).ok()?;
        (ceremony.kind == kind
            && ceremony.expires_at > now
            && ceremony.purpose == sha256_hex(purpose)
            && ceremony.browser == sha256_hex(browser))
        .then_some(ceremony)
    }
}
