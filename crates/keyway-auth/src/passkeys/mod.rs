//! Passkeys (WebAuthn Level 3, verified by webauthn-rs): a person registers one after signing
//! in, then signs in with it alone (a discoverable credential: no username typed) or gives it
//! after their password as a second factor.
//!
//! The relying party is the issuer: its host is the RP ID and its origin the only origin
//! accepted, so a hub whose issuer is an IP address (`http://127.0.0.1:8080`) cannot offer
//! passkeys (browsers refuse IP addresses as RP IDs) and says so.
//!
//! A ceremony's state (webauthn-rs's registration or authentication state, with who, which
//! form, which browser and until when) travels sealed in the page, as the second-factor
//! ticket does: nothing is written when a ceremony starts, so nobody can fill the store by
//! asking for challenges. The answer is good once: its challenge is spent in the store
//! (`webauthn_challenges`) after the signature checks, and a second answer to it is a replay.

mod ceremony;
mod sign_in;

use keyway_store::{PasskeyInsert, PasskeyRecord, StoreError};
use serde::Serialize;
use webauthn_rs::prelude::{
    Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::{AdminError, AuthService, OAuthError, sha256_hex};
use ceremony::{Binding, Ceremony, Kind};

/// Passkeys one account may have.
pub(crate) const MAX_PASSKEYS: i64 = 10;
/// Longest credential id taken (WebAuthn §4: "at most 1023 bytes").
const MAX_CREDENTIAL_ID: usize = 1023;
/// Longest passkey name, in characters.
const MAX_NAME_CHARS: usize = 64;
/// Longest answer from the browser read (a credential with a 1023-byte id and an attestation
/// fits many times over).
pub(crate) const MAX_RESPONSE_LEN: usize = 32 * 1024;

/// What the page needs to start a ceremony: `ceremony` goes back with the answer, `options`
/// is the `PublicKeyCredentialCreationOptions` / `…RequestOptions` (binary fields base64url,
/// under `publicKey`) for `navigator.credentials`.
#[derive(Debug, Serialize)]
pub struct PasskeyOptions {
    pub ceremony: String,
    #[serde(flatten)]
    pub options: serde_json::Value,
}

/// A registered passkey, as listed (`keyway user passkey list`, the account page).
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyInfo {
    /// The credential id (base64url).
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Since when it is refused as copied (its signature counter went backwards).
    pub compromised_at: Option<i64>,
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(record: &PasskeyRecord) -> PasskeyInfo {
        PasskeyInfo {
            id: record.credential_id.clone(),
            name: record.name.clone(),
            created_at: record.created_at,
            last_used_at: record.last_used_at,
            compromised_at: record.compromised_at,
        }
    }
}

/// The WebAuthn relying party of this hub, or why it has none.
pub(crate) struct RelyingParty {
    webauthn: Result<Webauthn, String>,
    seal: crate::sealed_box::SealKey,
}

impl RelyingParty {
    pub(crate) fn new(issuer: &str, csrf_key: &aws_lc_rs::hmac::Key) -> Option<RelyingParty> {
        let seal = crate::sealed_box::SealKey::derived(csrf_key, b"keyway passkey seal v1")?;
        Some(RelyingParty {
            webauthn: relying_party(issuer),
            seal,
        })
    }
}

fn relying_party(issuer: &str) -> Result<Webauthn, String> {
    let url = Url::parse(issuer).map_err(|e| format!("the issuer {issuer} is not a URL: {e}"))?;
    let Some(domain) = url.domain() else {
        return Err(format!(
            "passkeys need the hub to be reached by a domain name, and its issuer {issuer} is \
             an IP address (browsers refuse those): serve it as e.g. --issuer \
             http://localhost:{} or under its DNS name",
            url.port_or_known_default().unwrap_or(8080)
        ));
    };
    let origin = Url::parse(&url.origin().ascii_serialization())
        .map_err(|e| format!("the issuer's origin: {e}"))?;
    WebauthnBuilder::new(domain, &origin)
        .and_then(|builder| builder.rp_name(&format!("keyway {domain}")).build())
        .map_err(|e| format!("passkeys cannot use {issuer}: {e}"))
}

/// SHA-256 (hex) of a raw credential id: the key passkeys are stored by.
fn credential_hash(raw_id: &[u8]) -> String {
    crate::entropy::sha256_hex_of(raw_id)
}

/// base64url without padding, as WebAuthn writes binary fields.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// A stored passkey, parsed (a row that no longer parses is reported, not used).
fn passkey_of(record: &PasskeyRecord) -> Result<Passkey, OAuthError> {
    serde_json::from_str(&record.credential).map_err(|e| {
        OAuthError::server_error(format!(
            "stored passkey {} does not parse: {e}",
            record.credential_id
        ))
    })
}

/// A passkey name as typed: trimmed, at most 64 characters, no control characters; empty
/// means "passkey N".
fn checked_name(name: &str, held: usize) -> Result<String, String> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "a passkey name has at most {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a passkey name cannot contain control characters".into());
    }
    Ok(if name.is_empty() {
        format!("passkey {}", held + 1)
    } else {
        name.to_string()
    })
}

/// The new passkey's user handle: the one the user's other passkeys carry, or a new random
/// UUID (never derived from the user id: the authenticator may show it to anyone holding it).
fn user_handle(existing: &[PasskeyRecord], entropy: &dyn crate::Entropy) -> String {
    match existing.first() {
        Some(record) => record.user_handle.clone(),
        None => {
            let mut bytes = [0u8; 16];
            entropy.fill(&mut bytes);
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .hyphenated()
                .to_string()
        }
    }
}

impl AuthService {
    /// The relying party, or why passkeys cannot be used on this hub.
    pub(crate) fn webauthn(&self) -> Result<&Webauthn, OAuthError> {
        self.passkeys
            .webauthn
            .as_ref()
            .map_err(|why| OAuthError::invalid_request(why.clone()))
    }

    /// Why this hub cannot offer passkeys, if it cannot.
    pub fn passkeys_unavailable(&self) -> Option<&str> {
        self.passkeys.webauthn.as_ref().err().map(String::as_str)
    }

    /// Starts registering a passkey for a signed-in user in `browser` (the hub checks that
    /// the sign-in is recent).
    pub async fn begin_passkey_registration(
        &self,
        user_id: &str,
        browser: &str,
    ) -> Result<PasskeyOptions, OAuthError> {
        let webauthn = self.webauthn()?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("this account no longer exists"))?;
        let existing = self.store.passkeys_of(user_id).await?;
        if existing.len() as i64 >= MAX_PASSKEYS {
            return Err(OAuthError::invalid_request(format!(
                "you have {MAX_PASSKEYS} passkeys, the most an account may have: remove one first"
            )));
        }
        let handle = user_handle(&existing, self.entropy.as_ref());
        let uuid = Uuid::parse_str(&handle).map_err(OAuthError::server_error)?;
        // The authenticator is told which credentials the account has: it refuses to make a
        // second one for the same account.
        let exclude = existing
            .iter()
            .map(|record| passkey_of(record).map(|key| key.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = webauthn
            .start_passkey_registration(uuid, &user.username, &user.username, Some(exclude))
            .map_err(|e| OAuthError::server_error(format!("starting a registration: {e}")))?;
        let mut options = serde_json::to_value(&options).map_err(OAuthError::server_error)?;
        // A discoverable credential ("resident key") when the authenticator can keep one:
        // that is what lets the person sign in later without typing a username.
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "preferred".into());
        }
        let binding = Binding {
            user_id: Some(user_id),
            user_handle: Some(handle),
            purpose: ceremony::REGISTER_PURPOSE,
            browser,
        };
        self.ceremony_options(Kind::Register, binding, options, &state)
    }

    /// Finishes a registration: the browser's answer (`PublicKeyCredential` as JSON) to the
    /// ceremony begun by [`AuthService::begin_passkey_registration`] in this browser. The
    /// outer error is the hub's; the inner one says, for the person, why the passkey was not
    /// added. When it is the account's first second factor, every session of the user ends
    /// (a session opened with the password alone must not outlive the new requirement).
    pub async fn finish_passkey_registration(
        &self,
        user_id: &str,
        browser: &str,
        sealed: &str,
        response: &str,
        name: &str,
    ) -> Result<Result<PasskeyInfo, String>, OAuthError> {
        let webauthn = self.webauthn()?;
        let now = self.clock.now_secs();
        let Some(ceremony) = self.open_ceremony(
            sealed,
            Kind::Register,
            crate::passkeys::ceremony::REGISTER_PURPOSE,
            browser,
            now,
        ) else {
            return Ok(Err(ceremony::STALE.into()));
        };
        if ceremony.user_id.as_deref() != Some(user_id) {
            return Ok(Err(ceremony::STALE.into()));
        }
        if response.len() > MAX_RESPONSE_LEN {
            return Ok(Err("the browser's answer is too long".into()));
        }
        let credential: RegisterPublicKeyCredential = match serde_json::from_str(response) {
            Ok(credential) => credential,
            Err(e) => return Ok(Err(format!("the browser's answer does not parse: {e}"))),
        };
        let raw_id: &[u8] = credential.raw_id.as_ref();
        if credential.id != b64url(raw_id) {
            return Ok(Err("the answer's id and rawId differ".into()));
        }
        if raw_id.len() > MAX_CREDENTIAL_ID {
            return Ok(Err(format!(
                "its credential id is {} bytes long, and WebAuthn allows at most {MAX_CREDENTIAL_ID}",
                raw_id.len()
            )));
        }
        let state: PasskeyRegistration = ceremony.state()?;
        let passkey = match webauthn.finish_passkey_registration(&credential, &state) {
            Ok(passkey) => passkey,
            Err(e) => {
                tracing::info!(%user_id, error = %e, "passkey registration refused");
                return Ok(Err(ceremony::refusal(&e)));
            }
        };
        if !self.spend_challenge(&ceremony).await? {
            return Ok(Err(ceremony::REPLAYED.into()));
        }
        let existing = self.store.passkeys_of(user_id).await?;
        let name = match checked_name(name, existing.len()) {
            Ok(name) => name,
            Err(why) => return Ok(Err(why)),
        };
        let first_factor = !self.second_factors(user_id).await?.any();
        let raw_id: &[u8] = passkey.cred_id().as_ref();
        let record = PasskeyRecord {
            credential_hash: credential_hash(raw_id),
            credential_id: b64url(raw_id),
            user_id: user_id.to_string(),
            user_handle: ceremony.user_handle.clone().unwrap_or_default(),
            name,
            credential: serde_json::to_string(&passkey).map_err(OAuthError::server_error)?,
            created_at: now,
            last_used_at: None,
            compromised_at: None,
        };
        match self.store.insert_passkey(&record, MAX_PASSKEYS).await {
            Ok(PasskeyInsert::Inserted) => {}
            Ok(PasskeyInsert::LimitReached) => {
                return Ok(Err(format!(
                    "you have {MAX_PASSKEYS} passkeys, the most an account may have: remove one \
                     first"
                )));
            }
            Err(StoreError::Conflict(what)) => {
                return Ok(Err(format!(
                    "not added: {what} exists already (this authenticator is registered)"
                )));
            }
            Err(other) => return Err(other.into()),
        }
        if first_factor {
            self.end_all_sessions(user_id, false)
                .await
                .map_err(|e| OAuthError::server_error(e.to_string()))?;
        }
        Ok(Ok(PasskeyInfo::from(&record)))
    }

    /// A user's passkeys (the account page).
    pub async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyInfo>, OAuthError> {
        Ok(self
            .store
            .passkeys_of(user_id)
            .await?
            .iter()
            .map(PasskeyInfo::from)
            .collect())
    }

    /// `keyway user passkey list USER`.
    pub async fn passkeys(&self, username: &str) -> Result<Vec<PasskeyInfo>, AdminError> {
        let user = self.user_named(username).await?;
        Ok(self
            .store
            .passkeys_of(&user.user_id)
            .await?
            .iter()
            .map(PasskeyInfo::from)
            .collect())
    }

    /// `keyway user passkey remove USER PASSKEY` (its id, or its name when no id matches):
    /// the passkey removed. Every session of the user ends, as when a TOTP enrolment is
    /// removed: one signed in with a lost device must not go on.
    pub async fn remove_passkey(
        &self,
        username: &str,
        which: &str,
    ) -> Result<PasskeyInfo, AdminError> {
        let user = self.user_named(username).await?;
        let held = self.store.passkeys_of(&user.user_id).await?;
        let by_id = held.iter().find(|p| p.credential_id == which);
        let by_name: Vec<&PasskeyRecord> = held.iter().filter(|p| p.name == which).collect();
        let record = match (by_id, by_name.as_slice()) {
            (Some(record), _) => record,
            (None, [record]) => *record,
            (None, []) => {
                return Err(AdminError::NotFound(format!(
                    "a passkey {which:?} of {username} (keyway user passkey list {username} \
                     shows their ids and names)"
                )));
            }
            (None, _) => {
                return Err(AdminError::Invalid(format!(
                    "{username} has {} passkeys named {which:?}: give the id instead",
                    by_name.len()
                )));
            }
        };
        let removed = self
            .remove_own_passkey(&user.user_id, &record.credential_id)
            .await
            .map_err(|e| AdminError::Invalid(e.description))?
            .ok_or_else(|| AdminError::NotFound(format!("a passkey {which:?} of {username}")))?;
        let what = format!("passkey {:?}", removed.name);
        self.audit_change("user.passkey-remove", username, Some(what))
            .await;
        Ok(removed)
    }

    /// Removes one of the user's passkeys (by credential id) and ends their sessions: the
    /// passkey removed, `None` when they have no such passkey.
    pub async fn remove_own_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
    ) -> Result<Option<PasskeyInfo>, OAuthError> {
        let Some(raw) = b64url_decode(credential_id) else {
            return Ok(None);
        };
        let hash = credential_hash(&raw);
        let Some(record) = self
            .store
            .passkey(&hash)
            .await?
            .filter(|record| record.user_id == user_id)
        else {
            return Ok(None);
        };
        if !self.store.delete_passkey(user_id, &hash).await? {
            return Ok(None);
        }
        self.end_all_sessions(user_id, false)
            .await
            .map_err(|e| OAuthError::server_error(e.to_string()))?;
        Ok(Some(PasskeyInfo::from(&record)))
    }

    /// Spends the ceremony's challenge; false when it was spent already (a replay).
    async fn spend_challenge(&self, ceremony: &Ceremony) -> Result<bool, OAuthError> {
        Ok(self
            .store
            .spend_webauthn_challenge(&sha256_hex(&ceremony.challenge), ceremony.expires_at)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_issuer_has_no_relying_party_and_says_why() {
        let why = relying_party("http://127.0.0.1:8080").err().unwrap();
        assert!(why.contains("IP address"), "{why}");
        assert!(why.contains("--issuer http://localhost:8080"), "{why}");
        assert!(relying_party("http://localhost:8080").is_ok());
        assert!(relying_party("https://id.example.com/auth").is_ok());
    }

    #[test]
    fn names_are_trimmed_bounded_and_defaulted() {
        assert_eq!(checked_name("  laptop ", 0).unwrap(), "laptop");
        assert_eq!(checked_name("", 2).unwrap(), "passkey 3");
        assert!(checked_name(&"x".repeat(65), 0).is_err());
        assert_eq!(
            checked_name(&"é".repeat(64), 0).unwrap().chars().count(),
            64
        );
        assert!(checked_name("a\u{7}b", 0).is_err());
    }
}
