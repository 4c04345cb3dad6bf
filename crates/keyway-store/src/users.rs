use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// A resource owner who logs in at the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    pub username: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    pub created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO users (user_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&user.user_id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "user"))?;
        Ok(())
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(self.sql(
            "SELECT user_id, username, password_hash, created_at FROM users WHERE username = ?",
        ))
        .bind(username)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(self.sql(
            "SELECT user_id, username, password_hash, created_at FROM users WHERE user_id = ?",
        ))
        .bind(user_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, username, password_hash, created_at FROM users ORDER BY username",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces a user's password hash and ends their login sessions (whoever signed in with the
    /// old password must sign in again); with `revoke_tokens_at`, also revokes every token
    /// family of theirs (applications must have them sign in again). False when there is no
    /// such user.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        revoke_tokens_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let Some(user) = self.user_by_name(username).await? else {
            return Ok(false);
        };
        let mut tx = self.writer().begin().await?;
        sqlx::query(self.sql("UPDATE users SET password_hash = ? WHERE user_id = ?"))
            .bind(password_hash)
            .bind(&user.user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(self.sql("DELETE FROM login_sessions WHERE user_id = ?"))
            .bind(&user.user_id)
            .execute(&mut *tx)
            .await?;
        if let Some(now) = revoke_tokens_at {
            self.revoke_families_where(&mut tx, "user_id", &user.user_id, now)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a user with their sessions and consents, and revokes their token families.
    pub async fn delete_user(&self, username: &str, now: i64) -> Result<bool, StoreError> {
        let Some(user) = self.user_by_name(username).await? else {
            return Ok(false);
        };
        let mut tx = self.writer().begin().await?;
        for statement in [
            "DELETE FROM login_sessions WHERE user_id = ?",
            "DELETE FROM consents WHERE user_id = ?",
            "DELETE FROM authorization_codes WHERE user_id = ?",
            "DELETE FROM upstream_identities WHERE user_id = ?",
            "DELETE FROM group_members WHERE user_id = ?",
        ] {
            sqlx::query(self.sql(statement))
                .bind(&user.user_id)
                .execute(&mut *tx)
                .await?;
        }
        self.revoke_families_where(&mut tx, "user_id", &user.user_id, now)
            .await?;
        sqlx::query(self.sql("DELETE FROM users WHERE user_id = ?"))
            .bind(&user.user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
