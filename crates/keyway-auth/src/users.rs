//! Resource owners: people who log in at the hub.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use serde::Serialize;

use keyway_store::UserRecord;

use crate::{AdminError, AuthService, OAuthError, SecretString, random_token};

/// A user registration from `keyway user create`.
#[derive(Debug)]
pub struct NewUser {
    pub username: String,
    pub password: SecretString,
}

/// What `keyway user list` shows.
/// One live hub login session of a user, as `keyway user sessions` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    /// The first characters of the session's digest (never the cookie).
    pub id: String,
    pub signed_in_at: i64,
    pub expires_at: i64,
    /// `password` or an upstream provider's name.
    pub login_method: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub user_id: String,
    pub username: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    pub disabled: bool,
}

impl UserInfo {
    fn of(user: keyway_store::UserRecord) -> UserInfo {
        UserInfo {
            user_id: user.user_id,
            username: user.username,
            created_at: user.created_at,
            email: user.profile.email,
            email_verified: user.profile.email_verified,
            name: user.profile.name,
            given_name: user.profile.given_name,
            family_name: user.profile.family_name,
            disabled: user.disabled_at.is_some(),
        }
    }
}

/// Changes to a user's profile (`keyway user update`): `None` keeps a value, `Some("")`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// A username as `keyway user create` and SCIM accept it (trimmed): 1–128 bytes, no spaces,
/// control characters or invisible ones.
pub(crate) fn checked_username(username: &str) -> Result<String, AdminError> {
    let username = username.trim().to_string();
    if username.is_empty()
        || username.len() > 128
        || username
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || crate::upstream::is_invisible(c))
    {
        return Err(AdminError::Invalid(
            "username must be 1–128 characters without spaces, control characters or \
             invisible ones (zero-width, bidirectional controls)"
                .into(),
        ));
    }
    Ok(username)
}

/// An email address as `keyway user update` and SCIM accept it (`None`: empty).
pub(crate) fn checked_email(email: String) -> Result<Option<String>, AdminError> {
    let email = profile_value("email", email, 320)?;
    if email.as_deref().is_some_and(|e| {
        e.split_once('@')
            .is_none_or(|(local, domain)| local.is_empty() || !domain.contains('.'))
    }) {
        return Err(AdminError::Invalid(format!(
            "email {:?} is not an address (name@domain.example)",
            email.unwrap_or_default()
        )));
    }
    Ok(email)
}

/// A profile value: at most 200 characters (320 for an email), no control characters.
pub(crate) fn profile_value(
    field: &str,
    value: String,
    max: usize,
) -> Result<Option<String>, AdminError> {
    let value = value.trim().to_string();
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "{field}: at most {max} characters, no control characters"
        )));
    }
    Ok((!value.is_empty()).then_some(value))
}

/// A PHC hash of a password nobody has, so that an unknown username costs as much time as a
/// wrong password (no user enumeration by timing).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$q0cHSsLLnAxMG3yl6SC8zmIT3Ss9cxFxLAZ6zzdf7vI";

impl AuthService {
    pub async fn create_user(&self, new: NewUser) -> Result<UserInfo, AdminError> {
        let username = checked_username(&new.username)?;
        let hash = self.hash_password(&new.password).await?;
        let record = UserRecord {
            user_id: random_token(self.entropy(), 16),
            username,
            password_hash: hash,
            created_at: self.clock().now_secs(),
            profile: keyway_store::UserProfile::default(),
            disabled_at: None,
        };
        self.store.insert_user(&record).await?;
        self.audit_change("user.create", &record.username, None)
            .await;
        Ok(UserInfo::of(record))
    }

    /// Sets a user's password (the same rules as at creation) and ends their login sessions;
    /// with `revoke_tokens`, also revokes every token issued for them (after a compromise).
    pub async fn set_password(
        &self,
        username: &str,
        password: &SecretString,
        revoke_tokens: bool,
    ) -> Result<(), AdminError> {
        let hash = self.hash_password(password).await?;
        let now = self.clock().now_secs();
        let Some(ended) = self
            .store
            .set_user_password(username, &hash, revoke_tokens, now)
            .await?
        else {
            return Err(AdminError::NotFound(format!("user {username}")));
        };
        self.refresh_revocations().await?;
        // Whoever signed in with the old password is signed out everywhere it reached.
        self.notify_logout(&ended).await;
        let what = revoke_tokens.then(|| "tokens revoked".to_string());
        self.audit_change("user.password", username, what).await;
        Ok(())
    }

    /// Changes a user's profile (OpenID Connect claims given out by scope).
    pub async fn update_user(
        &self,
        username: &str,
        update: ProfileUpdate,
    ) -> Result<UserInfo, AdminError> {
        let user = self.user_named(username).await?;
        let mut profile = user.profile.clone();
        if let Some(email) = update.email {
            let email = checked_email(email)?;
            if email != profile.email {
                // A new address is not verified until someone says so.
                profile.email_verified = false;
            }
            profile.email = email;
        }
        if let Some(verified) = update.email_verified {
            profile.email_verified = verified && profile.email.is_some();
        }
        if let Some(name) = update.name {
            profile.name = profile_value("name", name, 200)?;
        }
        if let Some(given) = update.given_name {
            profile.given_name = profile_value("given name", given, 200)?;
        }
        if let Some(family) = update.family_name {
            profile.family_name = profile_value("family name", family, 200)?;
        }
        self.store.set_user_profile(&user.user_id, &profile).await?;
        self.audit_change("user.update", username, None).await;
        self.show_user(username).await
    }

    /// UserInfo's claims beyond `sub` and `preferred_username` for an access token of
    /// `user_id` with `scope` (OpenID Connect Core §5.3, §5.4).
    pub async fn userinfo_claims(
        &self,
        user_id: &str,
        scope: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OAuthError> {
        let scope = crate::ScopeSet::parse(scope)?;
        Ok(match self.store.user_by_id(user_id).await? {
            Some(user) if user.disabled_at.is_none() => self.user_claims(&user, &scope).await?,
            _ => serde_json::Map::new(),
        })
    }

    /// A user's claims by scope: OpenID Connect standard claims, and `groups` (the names of
    /// their groups) with the `groups` scope.
    pub(crate) async fn user_claims(
        &self,
        user: &keyway_store::UserRecord,
        scope: &crate::ScopeSet,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OAuthError> {
        let mut claims = crate::tokens::standard_claims(&user.profile, scope);
        if scope.contains("groups") {
            let groups = self.store.user_groups(&user.user_id).await?;
            claims.insert("groups".into(), groups.into());
        }
        Ok(claims)
    }

    /// A user as `keyway user show` prints it.
    pub async fn show_user(&self, username: &str) -> Result<UserInfo, AdminError> {
        Ok(UserInfo::of(self.user_named(username).await?))
    }

    /// Disables a user: they cannot sign in, their sessions end (the clients they signed in
    /// to are told, back-channel) and every token issued for them is revoked. `enable_user`
    /// lets them sign in again.
    pub async fn disable_user(&self, username: &str) -> Result<(), AdminError> {
        let user = self.user_named(username).await?;
        let now = self.clock().now_secs();
        let ended = self
            .store
            .set_user_disabled(&user.user_id, Some(now))
            .await?
            .unwrap_or_default();
        self.refresh_revocations().await?;
        self.notify_logout(&ended).await;
        self.audit_change("user.disable", username, None).await;
        Ok(())
    }

    pub async fn enable_user(&self, username: &str) -> Result<(), AdminError> {
        let user = self.user_named(username).await?;
        self.store.set_user_disabled(&user.user_id, None).await?;
        self.audit_change("user.enable", username, None).await;
        Ok(())
    }

    /// A user's live hub login sessions (`keyway user sessions`).
    pub async fn user_sessions(&self, username: &str) -> Result<Vec<SessionInfo>, AdminError> {
        let user = self.user_named(username).await?;
        let now = self.clock().now_secs();
        Ok(self
            .store
            .user_login_sessions(&user.user_id, now)
            .await?
            .into_iter()
            .map(|s| SessionInfo {
                // A prefix of the digest names a session without revealing anything.
                id: s.session_hash.chars().take(12).collect(),
                signed_in_at: s.auth_time,
                expires_at: s.expires_at,
                login_method: s.login_method.unwrap_or_else(|| crate::PASSWORD.into()),
            })
            .collect())
    }

    /// Ends every hub login session of a user (`keyway user logout`): what the sessions gave
    /// without `offline_access` is revoked, the clients they signed in to are told
    /// (back-channel logout); with `revoke_tokens`, every token issued for them is revoked.
    /// The number of live sessions ended.
    pub async fn logout_user(
        &self,
        username: &str,
        revoke_tokens: bool,
    ) -> Result<usize, AdminError> {
        let user = self.user_named(username).await?;
        let ended = self.end_all_sessions(&user.user_id, revoke_tokens).await?;
        let what = format!(
            "{ended} sessions ended{}",
            if revoke_tokens {
                ", tokens revoked"
            } else {
                ""
            }
        );
        self.audit_change("user.logout", username, Some(what)).await;
        Ok(ended)
    }

    /// Ends every session of a user: what they gave without `offline_access` is revoked (with
    /// `revoke_tokens`, everything issued for the user), their clients are told. The number
    /// of live sessions ended.
    pub(crate) async fn end_all_sessions(
        &self,
        user_id: &str,
        revoke_tokens: bool,
    ) -> Result<usize, AdminError> {
        let now = self.clock().now_secs();
        let ended = self
            .store
            .end_user_sessions(user_id, revoke_tokens, now)
            .await?;
        self.refresh_revocations().await?;
        self.notify_logout(&ended).await;
        Ok(ended.iter().filter(|s| s.expires_at > now).count())
    }

    /// "Sign out everywhere" on the hub's page: every session of the person whose session
    /// token this is (this one too); the number ended.
    pub async fn logout_everywhere(&self, session_token: &str) -> Result<usize, OAuthError> {
        let Some(session) = self.session_user(session_token).await? else {
            return Ok(0);
        };
        self.end_all_sessions(&session.user_id, false)
            .await
            .map_err(|e| OAuthError::server_error(e.to_string()))
    }

    pub(crate) async fn user_named(
        &self,
        username: &str,
    ) -> Result<keyway_store::UserRecord, AdminError> {
        self.store.user_by_name(username).await?.ok_or_else(|| {
            AdminError::NotFound(format!("user {username} (`keyway user list` shows them)"))
        })
    }

    /// Checks the password rules and hashes it with Argon2id off the async workers.
    pub(crate) async fn hash_password(
        &self,
        password: &SecretString,
    ) -> Result<String, AdminError> {
        if password.expose().chars().count() < 8 {
            return Err(AdminError::Invalid(
                "password must have at least 8 characters".into(),
            ));
        }
        let salt_bytes = random_token(self.entropy(), 16);
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(salt_bytes.as_bytes())
                .map_err(|e| AdminError::Crypto(e.to_string()))?;
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| AdminError::Crypto(e.to_string()))
        })
        .await
        .map_err(|e| AdminError::Crypto(e.to_string()))?
    }

    pub async fn list_users(&self) -> Result<Vec<UserInfo>, AdminError> {
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .map(UserInfo::of)
            .collect())
    }

    /// Deletes a user: their sessions end (the clients they signed in to are told), every
    /// token issued for them is revoked.
    pub async fn delete_user(&self, username: &str) -> Result<(), AdminError> {
        let now = self.clock().now_secs();
        let Some(ended) = self.store.delete_user(username, now).await? else {
            return Err(AdminError::NotFound(format!("user {username}")));
        };
        self.refresh_revocations().await?;
        self.notify_logout(&ended).await;
        self.audit_change("user.delete", username, None).await;
        Ok(())
    }

    /// Sign-in as one domain operation: reserve an attempt with the throttle, check the
    /// password (at most a few argon2 checks run at once, whatever the load), settle the
    /// attempt. `address` is the client's address as the hub sees it (docs/oauth.md).
    pub async fn sign_in(
        &self,
        username: &str,
        password: SecretString,
        address: &str,
    ) -> Result<SignIn, OAuthError> {
        let attempt = match self.begin_attempt(username, address).await? {
            Ok(attempt) => attempt,
            Err(wait_ms) => return Ok(SignIn::Throttled { wait_ms }),
        };
        let user = {
            let _permit = self
                .password_checks
                .acquire()
                .await
                .map_err(OAuthError::server_error)?;
            self.check_password(username, password).await?
        };
        self.settle_attempt(attempt, user.is_some()).await?;
        Ok(match user {
            Some(user) => SignIn::Accepted(user),
            None => SignIn::Refused,
        })
    }

    /// Checks a username and password; returns the user on success. Always runs one argon2
    /// verification so that timing does not tell whether the username exists.
    pub async fn check_password(
        &self,
        username: &str,
        password: SecretString,
    ) -> Result<Option<UserRecord>, OAuthError> {
        let user = self.store.user_by_name(username).await?;
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            // A user without a password (made by an upstream sign-in) costs the same argon2
            // run as anyone else, so timing does not tell how a user signs in.
            let (parsed, usable) = match PasswordHash::new(&hash) {
                Ok(parsed) => (Some(parsed), true),
                Err(_) => (PasswordHash::new(DUMMY_HASH).ok(), false),
            };
            parsed.is_some_and(|parsed| {
                Argon2::default()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
                    && usable
            })
        })
        .await
        .map_err(OAuthError::server_error)?;
        // A disabled user is refused like a wrong password (the check above ran all the same).
        Ok(user.filter(|u| matches && u.disabled_at.is_none()))
    }
}

/// The outcome of [`AuthService::sign_in`].
#[derive(Debug)]
pub enum SignIn {
    Accepted(UserRecord),
    /// Wrong username or password (which of the two is not said).
    Refused,
    /// Too many recent failures: try again after this many milliseconds.
    Throttled {
        wait_ms: i64,
    },
}
