//! Browser login sessions and remembered consent.

use sqlx::Row;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSessionRecord {
    pub session_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
    /// How the user signed in: `password` or an upstream provider's name (`None`: a session
    /// from before migration 8, which was a password sign-in).
    pub login_method: Option<String>,
    /// The session's public id, the ID token's `sid` (`None`: a session from before
    /// migration 11). Unlike the digest it reveals nothing of the cookie.
    pub sid: Option<String>,
}

/// A client a login session signed in to: the session's user and id, for a back-channel
/// logout token (OpenID Connect Back-Channel Logout 1.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClient {
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
}

const SESSION_COLUMNS: &str = "session_hash, user_id, auth_time, expires_at, login_method, sid";

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<LoginSessionRecord, StoreError> {
    Ok(LoginSessionRecord {
        session_hash: row.try_get("session_hash")?,
        user_id: row.try_get("user_id")?,
        auth_time: row.try_get("auth_time")?,
        expires_at: row.try_get("expires_at")?,
        login_method: row.try_get("login_method")?,
        sid: row.try_get("sid")?,
    })
}

impl Store {
    pub async fn insert_login_session(&self, s: &LoginSessionRecord) -> Result<(), StoreError> {
        let sql =
            format!("INSERT INTO login_sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)");
        sqlx::query(self.sql(&sql))
            .bind(&s.session_hash)
            .bind(&s.user_id)
            .bind(s.auth_time)
            .bind(s.expires_at)
            .bind(&s.login_method)
            .bind(&s.sid)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn login_session(
        &self,
        session_hash: &str,
    ) -> Result<Option<LoginSessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM login_sessions WHERE session_hash = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(session_hash)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// A user's live login sessions, newest sign-in first.
    pub async fn user_login_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<LoginSessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM login_sessions WHERE user_id = ? AND expires_at > ? \
             ORDER BY auth_time DESC"
        );
        let rows = sqlx::query(self.sql(&sql))
            .bind(user_id)
            .bind(now)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Ends every login session of a user and revokes, in one transaction, every token
    /// family of theirs (`revoke_all`) or those the sessions gave without `offline_access`.
    /// The sessions ended (expired ones included: their clients may still hold sessions).
    pub async fn end_user_sessions(
        &self,
        user_id: &str,
        revoke_all: bool,
        now: i64,
    ) -> Result<Vec<LoginSessionRecord>, StoreError> {
        let mut tx = self.writer().begin().await?;
        let ended = self.take_user_sessions(&mut tx, user_id).await?;
        if revoke_all {
            self.revoke_families_where(&mut tx, "user_id", user_id, now)
                .await?;
        } else {
            for sid in ended.iter().filter_map(|s| s.sid.as_deref()) {
                self.revoke_session_families(&mut tx, sid, now).await?;
            }
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// The same person signed in again in a browser that had session `old_hash`: the new
    /// session `new_hash` takes the old one's id (and so do the codes and pending requests
    /// issued in the new one), and the old row goes. Clients see one session throughout.
    /// False (nothing changed) unless both are the user's and the old one has an id.
    pub async fn carry_session_id(
        &self,
        old_hash: &str,
        new_hash: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let sql = format!("SELECT {SESSION_COLUMNS} FROM login_sessions WHERE session_hash = ?");
        let mut found = Vec::new();
        for hash in [old_hash, new_hash] {
            let row = sqlx::query(self.sql(&sql))
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await?;
            found.push(row.as_ref().map(session_from_row).transpose()?);
        }
        let (Some(Some(old)), Some(Some(new))) = (found.first(), found.get(1)) else {
            return Ok(false);
        };
        let (Some(old_sid), Some(new_sid)) = (&old.sid, &new.sid) else {
            return Ok(false);
        };
        if old.user_id != user_id || new.user_id != user_id {
            return Ok(false);
        }
        for statement in [
            "UPDATE login_sessions SET sid = ? WHERE sid = ?",
            "UPDATE authorization_codes SET sid = ? WHERE sid = ?",
            "UPDATE authorization_requests SET sid = ? WHERE sid = ?",
            "UPDATE token_families SET sid = ? WHERE sid = ?",
        ] {
            sqlx::query(self.sql(statement))
                .bind(old_sid)
                .bind(new_sid)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(self.sql("DELETE FROM login_sessions WHERE session_hash = ?"))
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes every login session of a user inside `tx`; the sessions deleted.
    pub(crate) async fn take_user_sessions(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        user_id: &str,
    ) -> Result<Vec<LoginSessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM login_sessions WHERE user_id = ?");
        let ended: Vec<LoginSessionRecord> = sqlx::query(self.sql(&sql))
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?;
        sqlx::query(self.sql("DELETE FROM login_sessions WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
        Ok(ended)
    }

    /// Ends one login session and revokes the token families it gave without
    /// `offline_access` (Back-Channel Logout 1.0 §2.7); the session, if it was there.
    pub async fn end_login_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<LoginSessionRecord>, StoreError> {
        let mut tx = self.writer().begin().await?;
        let sql = format!("SELECT {SESSION_COLUMNS} FROM login_sessions WHERE session_hash = ?");
        let session = sqlx::query(self.sql(&sql))
            .bind(session_hash)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()?;
        sqlx::query(self.sql("DELETE FROM login_sessions WHERE session_hash = ?"))
            .bind(session_hash)
            .execute(&mut *tx)
            .await?;
        if let Some(sid) = session.as_ref().and_then(|s| s.sid.as_deref()) {
            self.revoke_session_families(&mut tx, sid, now).await?;
        }
        tx.commit().await?;
        Ok(session)
    }

    /// Deletes expired login sessions, revoking what each gave without `offline_access`: a
    /// session's end settles its tokens whether a person signed out or it ran out. The number
    /// of sessions ended.
    pub async fn end_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.writer().begin().await?;
        let sids: Vec<Option<String>> =
            sqlx::query(self.sql("SELECT sid FROM login_sessions WHERE expires_at < ?"))
                .bind(now)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get::<Option<String>, _>(0))
                .collect::<Result<_, _>>()?;
        for sid in sids.iter().flatten() {
            self.revoke_session_families(&mut tx, sid, now).await?;
        }
        let done = sqlx::query(self.sql("DELETE FROM login_sessions WHERE expires_at < ?"))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Revokes the live families of session `sid` whose scope lacks `offline_access`: those
    /// live only as long as the session; offline ones outlive it (OIDC Core §11).
    pub(crate) async fn revoke_session_families(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        sid: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT family_id, scope FROM token_families WHERE sid = ? AND revoked_at IS NULL",
        ))
        .bind(sid)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let scope: String = row.try_get("scope")?;
            if !scope.split(' ').any(|s| s == "offline_access") {
                let family_id: String = row.try_get("family_id")?;
                self.revoke_families_where(tx, "family_id", &family_id, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// The clients session `sid` signed in to (a code redeemed in it), revoked or not.
    pub async fn session_clients(&self, sid: &str) -> Result<Vec<SessionClient>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT DISTINCT client_id, user_id FROM token_families WHERE sid = ? \
             ORDER BY client_id",
        ))
        .bind(sid)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SessionClient {
                    client_id: row.try_get("client_id")?,
                    user_id: row.try_get("user_id")?,
                    sid: sid.to_string(),
                })
            })
            .collect()
    }

    /// The scopes `user_id` has already granted `client_id` (space-separated), if any.
    pub async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query(self.sql("SELECT scope FROM consents WHERE user_id = ? AND client_id = ?"))
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(self.reader())
                .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Records the full set of scopes granted (replacing the previous set).
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(self.sql("DELETE FROM consents WHERE user_id = ? AND client_id = ?"))
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(self.sql(
            "INSERT INTO consents (user_id, client_id, scope, created_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
