//! Toki keys: each service's registered Ed25519 public key (docs/toki.md), one per client.

use sqlx::Row;

use crate::{Store, StoreError};

/// A client's registered toki public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokiKeyRecord {
    pub client_id: String,
    /// `keyway-ed25519 BASE64`, checked by the caller before it is stored.
    pub public_key: String,
    pub created_at: i64,
}

impl Store {
    /// Registers or replaces a client's toki key. Delete then insert in one transaction: the
    /// three backends spell upserts differently, and a reader never sees the client keyless.
    pub async fn set_toki_key(&self, key: &TokiKeyRecord) -> Result<(), StoreError> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(self.sql("DELETE FROM toki_keys WHERE client_id = ?"))
            .bind(&key.client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            self.sql("INSERT INTO toki_keys (client_id, public_key, created_at) VALUES (?, ?, ?)"),
        )
        .bind(&key.client_id)
        .bind(&key.public_key)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "a toki key for this client"))?;
        tx.commit().await?;
        Ok(())
    }

    /// The toki key of one client, if it has one.
    pub async fn toki_key(&self, client_id: &str) -> Result<Option<TokiKeyRecord>, StoreError> {
        let row = sqlx::query(
            self.sql("SELECT client_id, public_key, created_at FROM toki_keys WHERE client_id = ?"),
        )
        .bind(client_id)
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(TokiKeyRecord {
                client_id: row.try_get("client_id")?,
                public_key: row.try_get("public_key")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Removes a client's toki key; false when it had none.
    pub async fn delete_toki_key(&self, client_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql("DELETE FROM toki_keys WHERE client_id = ?"))
            .bind(client_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
