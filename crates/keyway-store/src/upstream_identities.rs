//! Upstream identities: which local user a person signing in through an upstream OpenID
//! Connect provider is (one user per (provider, `sub`), enforced by the primary key).

use sqlx::Row;

use crate::{Store, StoreError, UserRecord};

/// One upstream identity linked to a local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIdentityRecord {
    /// The provider's name in keyway.toml (`[[login.upstream]] name`).
    pub upstream: String,
    /// The provider's `sub` for the person.
    pub subject: String,
    pub user_id: String,
    pub created_at: i64,
}

impl Store {
    /// The local user an upstream identity is linked to, if any.
    pub async fn upstream_identity_user(
        &self,
        upstream: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            self.sql("SELECT user_id FROM upstream_identities WHERE upstream = ? AND subject = ?"),
        )
        .bind(upstream)
        .bind(subject)
        .fetch_optional(self.writer())
        .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Links an identity to an existing user; `Conflict` when the identity is linked already.
    pub async fn insert_upstream_identity(
        &self,
        identity: &UpstreamIdentityRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO upstream_identities (upstream, subject, user_id, created_at) \
             VALUES (?, ?, ?, ?)",
        ))
        .bind(&identity.upstream)
        .bind(&identity.subject)
        .bind(&identity.user_id)
        .bind(identity.created_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "upstream identity"))?;
        Ok(())
    }

    /// Creates a user and links an identity to it in one transaction, so a failed link leaves
    /// no user behind. `Conflict("user")`: the username is taken; `Conflict("upstream
    /// identity")`: another sign-in provisioned this identity first.
    pub async fn insert_user_with_identity(
        &self,
        user: &UserRecord,
        identity: &UpstreamIdentityRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(self.sql(
            "INSERT INTO users (user_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&user.user_id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "user"))?;
        sqlx::query(self.sql(
            "INSERT INTO upstream_identities (upstream, subject, user_id, created_at) \
             VALUES (?, ?, ?, ?)",
        ))
        .bind(&identity.upstream)
        .bind(&identity.subject)
        .bind(&identity.user_id)
        .bind(identity.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "upstream identity"))?;
        tx.commit().await?;
        Ok(())
    }

    /// The upstream identities linked to a user, oldest first.
    pub async fn upstream_identities_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<UpstreamIdentityRecord>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT upstream, subject, user_id, created_at FROM upstream_identities \
             WHERE user_id = ? ORDER BY created_at, upstream, subject",
        ))
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UpstreamIdentityRecord {
                    upstream: row.try_get("upstream")?,
                    subject: row.try_get("subject")?,
                    user_id: row.try_get("user_id")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
