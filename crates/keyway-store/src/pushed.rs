//! Pushed authorization requests (RFC 9126): stored by the digest of their `request_uri`,
//! bound to the client that pushed them, used at most once.

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Keeps a pushed request (`params`: its parameters as JSON) until `expires_at`.
    pub async fn insert_pushed_request(
        &self,
        request_uri_hash: &str,
        client_id: &str,
        params: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO pushed_requests \
             (request_uri_hash, client_id, params, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(request_uri_hash)
        .bind(client_id)
        .bind(params)
        .bind(created_at)
        .bind(expires_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "pushed request"))?;
        Ok(())
    }

    /// Uses a pushed request of `client_id`: its parameters, once, while unexpired. The
    /// database makes it single-use (a conditional update), so two browsers racing with one
    /// `request_uri` cannot both get it.
    pub async fn take_pushed_request(
        &self,
        request_uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let taken = sqlx::query(self.sql(
            "UPDATE pushed_requests SET used_at = ? WHERE request_uri_hash = ? AND client_id = ? \
             AND used_at IS NULL AND expires_at > ?",
        ))
        .bind(now)
        .bind(request_uri_hash)
        .bind(client_id)
        .bind(now)
        .execute(self.writer())
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(None);
        }
        let row =
            sqlx::query(self.sql("SELECT params FROM pushed_requests WHERE request_uri_hash = ?"))
                .bind(request_uri_hash)
                .fetch_optional(self.writer())
                .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }
}
