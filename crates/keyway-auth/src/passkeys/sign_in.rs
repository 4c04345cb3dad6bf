//! Signing in with a passkey: alone (any account's discoverable credential; the user handle
//! it returns names the account) or after the password (the account's own credentials, named
//! in `allowCredentials`). Both go through the sign-in throttle like passwords and codes.

use keyway_store::UserRecord;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, PublicKeyCredential, WebauthnError,
};

use super::ceremony::{self, Binding, Ceremony, Kind};
use super::{MAX_RESPONSE_LEN, PasskeyOptions, credential_hash, passkey_of};
use crate::{AuthService, LocalSignIn, OAuthError, SecondFactor, sha256_hex};

impl AuthService {
    /// Starts a passwordless sign-in on the form `purpose` (an authorization request id or
    /// `hub:login`) in `browser`.
    pub fn begin_passkey_sign_in(
        &self,
        purpose: &str,
        browser: &str,
    ) -> Result<PasskeyOptions, OAuthError> {
        let binding = Binding {
            user_id: None,
            user_handle: None,
            purpose,
            browser,
        };
        self.start_sign_in_ceremony(Kind::SignIn, binding, None)
    }

    /// A sign-in ceremony with webauthn-rs's discoverable state (which names no credential:
    /// the sealed ceremony stays small whatever the account's credential ids), asking at once
    /// (a button, not conditional mediation); `allowed` names credentials to the browser (the
    /// answer is checked against the account's passkeys, read again when it comes).
    fn start_sign_in_ceremony(
        &self,
        kind: Kind,
        binding: Binding<'_>,
        allowed: Option<Vec<serde_json::Value>>,
    ) -> Result<PasskeyOptions, OAuthError> {
        let (options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(|e| OAuthError::server_error(format!("starting a passkey sign-in: {e}")))?;
        let mut options = serde_json::to_value(&options).map_err(OAuthError::server_error)?;
        if let Some(object) = options.as_object_mut() {
            object.remove("mediation");
        }
        if let Some(allowed) = allowed
            && let Some(public_key) = options
                .get_mut("publicKey")
                .and_then(serde_json::Value::as_object_mut)
        {
            public_key.insert("allowCredentials".into(), allowed.into());
        }
        self.ceremony_options(kind, binding, options, &state)
    }

    /// Starts the passkey step after a password: `ticket` is the first step's. `None` when
    /// the ticket does not open (too old, another form or browser) or the account has no
    /// passkey.
    pub async fn begin_passkey_second_factor(
        &self,
        ticket: &str,
        purpose: &str,
        browser: &str,
    ) -> Result<Option<PasskeyOptions>, OAuthError> {
        self.webauthn()?;
        let now = self.clock.now_secs();
        let Some(user) = self.ticket_user(ticket, purpose, browser, now).await? else {
            return Ok(None);
        };
        let passkeys = self.store.passkeys_of(&user.user_id).await?;
        if passkeys.is_empty() {
            return Ok(None);
        }
        let allowed = passkeys
            .iter()
            .map(|p| serde_json::json!({"type": "public-key", "id": p.credential_id}))
            .collect();
        let binding = Binding {
            user_id: Some(&user.user_id),
            user_handle: None,
            purpose,
            browser,
        };
        self.start_sign_in_ceremony(Kind::SecondFactor, binding, Some(allowed))
            .map(Some)
    }

    /// A passwordless sign-in's answer: the account whose passkey it is, if it verifies.
    pub async fn check_passkey_sign_in(
        &self,
        sealed: &str,
        purpose: &str,
        browser: &str,
        response: &str,
        address: &str,
    ) -> Result<SecondFactor, OAuthError> {
        let now = self.clock.now_secs();
        let Some(ceremony) = self.open_ceremony(sealed, Kind::SignIn, purpose, browser, now) else {
            return Ok(SecondFactor::Expired);
        };
        self.check_passkey_assertion(&ceremony, None, response, address)
            .await
    }

    /// The passkey step after a password: the first step's `ticket` and the answer to the
    /// ceremony begun by [`AuthService::begin_passkey_second_factor`].
    pub async fn check_passkey_second_factor(
        &self,
        ticket: &str,
        sealed: &str,
        purpose: &str,
        browser: &str,
        response: &str,
        address: &str,
    ) -> Result<SecondFactor, OAuthError> {
        let now = self.clock.now_secs();
        let Some(user) = self.ticket_user(ticket, purpose, browser, now).await? else {
            return Ok(SecondFactor::Expired);
        };
        let Some(ceremony) = self.open_ceremony(sealed, Kind::SecondFactor, purpose, browser, now)
        else {
            return Ok(SecondFactor::Expired);
        };
        if ceremony.user_id.as_deref() != Some(user.user_id.as_str()) {
            return Ok(SecondFactor::Expired);
        }
        self.check_passkey_assertion(&ceremony, Some(&user.user_id), response, address)
            .await
    }

    /// Verifies an assertion for `ceremony`; `owner` is the account it must belong to (the
    /// second factor), else the one its user handle names.
    async fn check_passkey_assertion(
        &self,
        ceremony: &Ceremony,
        owner: Option<&str>,
        response: &str,
        address: &str,
    ) -> Result<SecondFactor, OAuthError> {
        let refused = |why: &str| Ok(SecondFactor::PasskeyRefused(why.to_string()));
        let webauthn = self.webauthn()?;
        if response.len() > MAX_RESPONSE_LEN {
            return refused("the browser's answer is too long");
        }
        let credential: PublicKeyCredential = match serde_json::from_str(response) {
            Ok(credential) => credential,
            Err(_) => return refused("the browser's answer does not parse"),
        };
        // `id` is `rawId` in base64url (WebAuthn §5.1): an answer where they differ is not a
        // browser's.
        if credential.id != super::b64url(credential.get_credential_id()) {
            return refused("the answer's id and rawId differ");
        }
        let hash = credential_hash(credential.get_credential_id());
        let Some(record) = self.store.passkey(&hash).await? else {
            return refused(
                "this passkey is not registered at this hub (it may have been removed): sign \
                 in another way",
            );
        };
        if owner.is_some_and(|owner| owner != record.user_id) {
            return refused("this passkey belongs to another account");
        }
        // A discoverable credential names its account by the user handle it was made with.
        if owner.is_none() {
            let handle = webauthn
                .identify_discoverable_authentication(&credential)
                .map(|(handle, _)| handle.hyphenated().to_string());
            if handle.ok().as_deref() != Some(record.user_handle.as_str()) {
                return refused("this passkey's user handle is not the one it was made with");
            }
        }
        let Some(user) = self.store.user_by_id(&record.user_id).await? else {
            return refused("this passkey's account no longer exists");
        };
        if user.disabled_at.is_some() {
            return refused("this account is disabled: ask the hub's administrator");
        }
        if let Some(at) = record.compromised_at {
            return refused(&format!(
                "this passkey has been refused since {} because its signature counter went \
                 backwards (it may have been copied): sign in another way and remove it, or ask \
                 the hub's administrator",
                keyway_kernel::rfc3339::format_unix_secs(at)
            ));
        }
        let now = self.clock.now_secs();
        // Throttled per credential and address, apart from the account's password and code
        // budgets: a signature cannot be guessed, so wrong answers only need slowing down, and
        // someone who learnt a credential id must not be able to lock its owner out.
        let attempt = match self
            .begin_attempt(&format!("passkey:{hash}"), address)
            .await?
        {
            Ok(attempt) => attempt,
            Err(wait_ms) => return Ok(SecondFactor::Throttled { wait_ms }),
        };
        if self
            .store
            .webauthn_challenge_spent(&sha256_hex(&ceremony.challenge))
            .await?
        {
            self.settle_attempt(attempt, false).await?;
            tracing::warn!(username = %user.username, %address, "passkey answer replayed");
            return refused(ceremony::REPLAYED);
        }
        let mut passkey = passkey_of(&record)?;
        let state: DiscoverableAuthentication = ceremony.state()?;
        let verified = webauthn.finish_discoverable_authentication(
            &credential,
            state,
            &[DiscoverableKey::from(&passkey)],
        );
        let result = match verified {
            Ok(result) => result,
            Err(err) => {
                self.settle_attempt(attempt, false).await?;
                tracing::warn!(username = %user.username, %address, error = %err, "passkey refused");
                if matches!(err, WebauthnError::CredentialPossibleCompromise) {
                    self.passkey_copied(&user, &hash, now).await?;
                }
                return Ok(SecondFactor::PasskeyRefused(ceremony::refusal(&err)));
            }
        };
        if !self.spend_challenge(ceremony).await? {
            self.settle_attempt(attempt, false).await?;
            tracing::warn!(username = %user.username, %address, "passkey answer replayed");
            return refused(ceremony::REPLAYED);
        }
        // The new signature counter (and backup state), stored only over the state this
        // check read: two sign-ins racing with one credential cannot both move it.
        passkey.update_credential(&result);
        let updated = serde_json::to_string(&passkey).map_err(OAuthError::server_error)?;
        if !self
            .store
            .update_passkey_use(&hash, &record.credential, &updated, now)
            .await?
        {
            self.settle_attempt(attempt, false).await?;
            return refused("this passkey was used at the same moment elsewhere: try again");
        }
        self.settle_attempt(attempt, true).await?;
        let how = if owner.is_some() {
            LocalSignIn::PasswordAndPasskey
        } else {
            LocalSignIn::Passkey
        };
        Ok(SecondFactor::Accepted(user, how))
    }

    /// A validly signed answer whose counter went backwards: two copies of the key are in
    /// use. The passkey is refused from now on, and the account's sessions end (one of them
    /// may be the copy's).
    async fn passkey_copied(
        &self,
        user: &UserRecord,
        hash: &str,
        now: i64,
    ) -> Result<(), OAuthError> {
        tracing::warn!(username = %user.username, "passkey counter went backwards: refused from now on, sessions ended");
        self.store.mark_passkey_compromised(hash, now).await?;
        self.end_all_sessions(&user.user_id, false)
            .await
            .map_err(|e| OAuthError::server_error(e.to_string()))?;
        Ok(())
    }
}
