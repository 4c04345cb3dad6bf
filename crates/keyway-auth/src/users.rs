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
}

/// A PHC hash of a password nobody has, so that an unknown username costs as much time as a
/// wrong password (no user enumeration by timing).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$q0cHSsLLnAxMG3yl6SC8zmIT3Ss9cxFxLAZ6zzdf7vI";

impl AuthService {
    pub async fn create_user(&self, new: NewUser) -> Result<UserInfo, AdminError> {
        let username = new.username.trim().to_string();
        if username.is_empty()
            || username.len() > 128
            || username
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(AdminError::Invalid(
                "username must be 1–128 characters without spaces or control characters".into(),
            ));
        }
        let hash = self.hash_password(&new.password).await?;
        let record = UserRecord {
            user_id: random_token(self.entropy(), 16),
            username,
            password_hash: hash,
            created_at: self.clock().now_secs(),
        };
        self.store.insert_user(&record).await?;
        Ok(UserInfo {
            user_id: record.user_id,
            username: record.username,
            created_at: record.created_at,
        })
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
        let revoke_at = revoke_tokens.then(|| self.clock().now_secs());
        if !self
            .store
            .set_user_password(username, &hash, revoke_at)
            .await?
        {
            return Err(AdminError::NotFound(format!("user {username}")));
        }
        if revoke_tokens {
            self.refresh_revocations().await?;
        }
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

    /// Ends every hub login session of a user (`keyway user logout`); with `revoke_tokens`,
    /// also revokes every token issued for them. The number of sessions ended.
    pub async fn logout_user(
        &self,
        username: &str,
        revoke_tokens: bool,
    ) -> Result<u64, AdminError> {
        let user = self.user_named(username).await?;
        let revoke_at = revoke_tokens.then(|| self.clock().now_secs());
        let ended = self
            .store
            .end_user_sessions(&user.user_id, revoke_at)
            .await?;
        if revoke_tokens {
            self.refresh_revocations().await?;
        }
        Ok(ended)
    }

    async fn user_named(&self, username: &str) -> Result<keyway_store::UserRecord, AdminError> {
        self.store.user_by_name(username).await?.ok_or_else(|| {
            AdminError::NotFound(format!("user {username} (`keyway user list` shows them)"))
        })
    }

    /// Checks the password rules and hashes it with Argon2id off the async workers.
    async fn hash_password(&self, password: &SecretString) -> Result<String, AdminError> {
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
            .map(|u| UserInfo {
                user_id: u.user_id,
                username: u.username,
                created_at: u.created_at,
            })
            .collect())
    }

    pub async fn delete_user(&self, username: &str) -> Result<(), AdminError> {
        let now = self.clock().now_secs();
        if self.store.delete_user(username, now).await? {
            Ok(())
        } else {
            Err(AdminError::NotFound(format!("user {username}")))
        }
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
        let attempt = match self.throttle.begin(username, address, self.clock.now_ms()) {
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
        let now = self.clock.now_ms();
        self.throttle.finish(attempt, user.is_some(), now);
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
        Ok(user.filter(|_| matches))
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
