//! The sign-in and consent steps of an authorization (after `/authorize`), and the login
//! sessions they open: a password (or an upstream provider) proves who the user is, consent
//! answers the request once, and the session cookie remembers the sign-in.

use keyway_store::{LoginSessionRecord, UserRecord};

use crate::authorize::{extras_of, mode_of};
use crate::pending_seal::RequestSeal;
use crate::{
    AuthService, AuthorizeOutcome, ErrorCode, OAuthError, PASSWORD, PendingAuthorization, Redirect,
    ScopeSet, SessionUser, random_token, sha256_hex,
};

impl AuthService {
    /// A user proved who they are with their password on the login page of a pending
    /// request: they get a login session (returned token goes into the cookie) and move on to
    /// consent or back to the app.
    pub async fn login(
        &self,
        request_id: &str,
        user: &UserRecord,
    ) -> Result<(String, AuthorizeOutcome), OAuthError> {
        let now = self.clock.now_secs();
        self.login_with(request_id, user, PASSWORD, now).await
    }

    /// As [`AuthService::login`], for a user who signed in with login type `method`, which
    /// the request's client must allow (and the request must have asked for, if it asked).
    pub(crate) async fn login_with(
        &self,
        request_id: &str,
        user: &UserRecord,
        method: &str,
        auth_time: i64,
    ) -> Result<(String, AuthorizeOutcome), OAuthError> {
        let record = self.live_request(request_id).await?;
        let client = self
            .client(&record.client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the client no longer exists"))?;
        let asked = record
            .login_method
            .as_deref()
            .filter(|_| record.user_id.is_none());
        if self.requires_mfa(&client) && !crate::second_factor::is_multi_factor(method) {
            return Err(OAuthError::new(
                crate::ErrorCode::AccessDenied,
                format!(
                    "{} requires a second factor at sign-in, and this account has none: sign \
                     in at this hub and turn one on at /account/second-factor, or ask the \
                     hub's administrator",
                    client.name
                ),
            ));
        }
        if !self.session_fits(&client, Some(method), asked) {
            return Err(OAuthError::invalid_request(format!(
                "login type {method:?} may not be used for this request"
            )));
        }
        // When the person authenticated (now, or at the upstream provider).
        let now = auth_time;
        let (session_token, sid) = self.start_session_with(user, method, auth_time).await?;
        let mut record = record;
        record.login_method = Some(method.to_string());
        // Only what the user may have (user-granted scopes they hold) is asked for and given.
        let (granted, withheld) = self
            .scopes_for_user(&user.user_id, &ScopeSet::parse(&record.scope)?)
            .await?;
        record.scope = granted.to_string();
        if RequestSeal::is_sealed(request_id) {
            // The signed-in user's request becomes a stored one: consent answers it once.
            record.request_id = random_token(self.entropy.as_ref(), 24);
            record.user_id = Some(user.user_id.clone());
            record.auth_time = Some(now);
            record.sid = Some(sid.clone());
            self.store.insert_authorization_request(&record).await?;
        } else {
            record.sid = Some(sid.clone());
            self.store
                .set_authorization_request_user(request_id, &user.user_id, now, method, &sid)
                .await?;
        }
        let request_id = record.request_id.clone();
        let request_id = request_id.as_str();
        let scope = ScopeSet::parse(&record.scope)?;
        // `prompt=consent` asks again even when consent is remembered.
        let must_ask = record
            .prompt
            .as_deref()
            .is_some_and(|p| p.split(' ').any(|v| v == "consent"));
        let consented = self
            .has_consent(&user.user_id, &record.client_id, &scope)
            .await?;
        let outcome = if consented && !must_ask {
            self.store.delete_authorization_request(request_id).await?;
            AuthorizeOutcome::Redirect(self.issue_code(&record, &user.user_id, now).await?)
        } else {
            record.user_id = Some(user.user_id.clone());
            let mut pending = self.pending_view(&record, &client);
            pending.withheld = withheld;
            AuthorizeOutcome::Consent(pending)
        };
        Ok((session_token, outcome))
    }

    /// Opens a login session for a user who just signed in (through an authorization request
    /// or the hub's own sign-in page); the returned token goes into the session cookie, only
    /// its digest is stored.
    pub async fn start_session(&self, user: &UserRecord) -> Result<String, OAuthError> {
        let now = self.clock.now_secs();
        Ok(self.start_session_with(user, PASSWORD, now).await?.0)
    }

    /// As [`AuthService::start_session`], remembering how the user signed in (`method`).
    /// The session token and the session's public id (`sid`).
    pub(crate) async fn start_session_with(
        &self,
        user: &UserRecord,
        method: &str,
        auth_time: i64,
    ) -> Result<(String, String), OAuthError> {
        let now = self.clock.now_secs();
        let session_token = random_token(self.entropy.as_ref(), 32);
        // Random, not derived from the token: a `sid` in an ID token says nothing of the cookie.
        let sid = random_token(self.entropy.as_ref(), 16);
        self.store
            .insert_login_session(&LoginSessionRecord {
                session_hash: sha256_hex(&session_token),
                user_id: user.user_id.clone(),
                auth_time,
                expires_at: now + self.config.login_session_ttl,
                login_method: Some(method.to_string()),
                sid: Some(sid.clone()),
            })
            .await?;
        Ok((session_token, sid))
    }

    /// The pending request, for the consent page, if it belongs to this logged-in user.
    pub async fn pending_for(
        &self,
        request_id: &str,
        user_id: &str,
    ) -> Result<PendingAuthorization, OAuthError> {
        let record = self.live_request(request_id).await?;
        if record.user_id.as_deref() != Some(user_id) {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "this authorization request belongs to another login",
            ));
        }
        self.view_of(&record).await
    }

    /// The pending request for the login page.
    pub async fn pending(&self, request_id: &str) -> Result<PendingAuthorization, OAuthError> {
        let record = self.live_request(request_id).await?;
        self.view_of(&record).await
    }

    /// The user answered the consent page. Each request is answered once.
    pub async fn decide(
        &self,
        request_id: &str,
        user_id: &str,
        allow: bool,
    ) -> Result<Redirect, OAuthError> {
        let record = self.live_request(request_id).await?;
        if record.user_id.as_deref() != Some(user_id) {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "this authorization request belongs to another login",
            ));
        }
        if !self.store.delete_authorization_request(request_id).await? {
            return Err(OAuthError::invalid_request(
                "this request was already answered",
            ));
        }
        if !allow {
            let client = self.request_client(&record).await?;
            if let Some(from) = extras_of(&record)?.transmitted_from {
                self.audit_transmit_step(&from, &record, user_id, false, "the user declined")
                    .await;
            }
            return self.error_redirect(
                &client,
                &record.redirect_uri,
                mode_of(&record),
                record.state.as_deref(),
                &extras_of(&record)?,
                &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
            );
        }
        let asked = ScopeSet::parse(&record.scope)?;
        let previous = match self.store.consent(user_id, &record.client_id).await? {
            Some(text) => ScopeSet::parse(&text)?,
            None => ScopeSet::default(),
        };
        let now = self.clock.now_secs();
        self.store
            .save_consent(
                user_id,
                &record.client_id,
                &previous.union(&asked).to_string(),
                now,
            )
            .await?;
        let auth_time = record.auth_time.unwrap_or(now);
        self.issue_code(&record, user_id, auth_time).await
    }

    /// The user behind a login-session cookie, if the session is live.
    pub async fn session_user(
        &self,
        session_token: &str,
    ) -> Result<Option<SessionUser>, OAuthError> {
        let now = self.clock.now_secs();
        Ok(self
            .store
            .login_session(&sha256_hex(session_token))
            .await?
            .filter(|s| s.expires_at > now)
            .map(|s| SessionUser {
                user_id: s.user_id,
                auth_time: s.auth_time,
                login_method: s.login_method,
                sid: s.sid,
            }))
    }

    /// Ends a login session (as the end-session endpoint does: [`AuthService::end_session`]).
    pub async fn logout(&self, session_token: &str) -> Result<(), OAuthError> {
        self.end_session(session_token).await
    }
}
