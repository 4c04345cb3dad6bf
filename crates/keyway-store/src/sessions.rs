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
}

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<LoginSessionRecord, StoreError> {
    Ok(LoginSessionRecord {
        session_hash: row.try_get("session_hash")?,
        user_id: row.try_get("user_id")?,
        auth_time: row.try_get("auth_time")?,
        expires_at: row.try_get("expires_at")?,
        login_method: row.try_get("login_method")?,
    })
}

impl Store {
    pub async fn insert_login_session(&self, s: &LoginSessionRecord) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO login_sessions (session_hash, user_id, auth_time, expires_at, \
             login_method) VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(&s.session_hash)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .bind(&s.login_method)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn login_session(
        &self,
        session_hash: &str,
    ) -> Result<Option<LoginSessionRecord>, StoreError> {
        let row = sqlx::query(self.sql(
            "SELECT session_hash, user_id, auth_time, expires_at, login_method FROM login_sessions \
             WHERE session_hash = ?",
        ))
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
        let rows = sqlx::query(self.sql(
            "SELECT session_hash, user_id, auth_time, expires_at, login_method FROM login_sessions \
             WHERE user_id = ? AND expires_at > ? ORDER BY auth_time DESC",
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Ends every login session of a user and, with `revoke_at`, revokes every token family
    /// of theirs, in one transaction. The number of sessions ended.
    pub async fn end_user_sessions(
        &self,
        user_id: &str,
        revoke_at: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(self.sql("DELETE FROM login_sessions WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if let Some(now) = revoke_at {
            self.revoke_families_where(&mut tx, "user_id", user_id, now)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub async fn delete_login_session(&self, session_hash: &str) -> Result<(), StoreError> {
        sqlx::query(self.sql("DELETE FROM login_sessions WHERE session_hash = ?"))
            .bind(session_hash)
            .execute(self.writer())
            .await?;
        Ok(())
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
