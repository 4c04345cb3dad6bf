//! Transmit states (issue 18): the single-use links client A sends a browser to, to hand its
//! signed-in user to client B.

use sqlx::Row;

use crate::{Store, StoreError};

/// A pending handover, stored by the digest of its link's random part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmitStateRecord {
    pub state_hash: String,
    pub from_client: String,
    pub to_client: String,
    /// The user A handed over: only their browser may take the link.
    pub user_id: String,
    /// What B will be asked for (already capped by the rule and A's token).
    pub scope: String,
    pub transmit_fun: Option<String>,
    pub transmit_data: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const COLUMNS: &str = "state_hash, from_client, to_client, user_id, scope, transmit_fun, \
     transmit_data, created_at, expires_at, used_at";

impl Store {
    pub async fn insert_transmit_state(&self, s: &TransmitStateRecord) -> Result<(), StoreError> {
        sqlx::query(self.sql(&format!(
            "INSERT INTO transmit_states ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )))
        .bind(&s.state_hash)
        .bind(&s.from_client)
        .bind(&s.to_client)
        .bind(&s.user_id)
        .bind(&s.scope)
        .bind(&s.transmit_fun)
        .bind(&s.transmit_data)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.used_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The state with this digest, used or not (the caller tells the two apart).
    pub async fn transmit_state(
        &self,
        state_hash: &str,
    ) -> Result<Option<TransmitStateRecord>, StoreError> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {COLUMNS} FROM transmit_states WHERE state_hash = ?"
        )))
        .bind(state_hash)
        .fetch_optional(self.writer())
        .await?;
        row.map(|row| {
            Ok(TransmitStateRecord {
                state_hash: row.try_get("state_hash")?,
                from_client: row.try_get("from_client")?,
                to_client: row.try_get("to_client")?,
                user_id: row.try_get("user_id")?,
                scope: row.try_get("scope")?,
                transmit_fun: row.try_get("transmit_fun")?,
                transmit_data: row.try_get("transmit_data")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                used_at: row.try_get("used_at")?,
            })
        })
        .transpose()
    }

    /// Spends a live state; false when it was spent already or has expired. The check and the
    /// mark are one statement, so two tabs racing for one link cannot both win.
    pub async fn spend_transmit_state(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE transmit_states SET used_at = ? \
             WHERE state_hash = ? AND used_at IS NULL AND expires_at > ?",
        ))
        .bind(now)
        .bind(state_hash)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
