//! State the nodes of a cluster share (migration 0018): the hub's toki sessions, the counters
//! and hello nonces each accepted once cluster-wide, and each node's activity map. The store
//! keeps text it is given: keyway-hub seals the roots, encodes the ids and the maps.

use sqlx::Row;

use crate::{Store, StoreError};

/// A shared toki session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokiSessionRow {
    pub expires_at: i64,
    pub epoch: i64,
    pub sealed: String,
    /// The ratchet anchor of `epoch`: its counter and both MACs (encoded by the caller).
    pub anchor: Option<(i64, String)>,
}

impl Store {
    /// Publishes a session just opened.
    pub async fn insert_toki_session(
        &self,
        id: &str,
        row: &TokiSessionRow,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql(
            "INSERT INTO toki_sessions (session_id, expires_at, epoch, sealed, anchor_counter, \
             anchor) VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(id)
        .bind(row.expires_at)
        .bind(row.epoch)
        .bind(&row.sealed)
        .bind(row.anchor.as_ref().map(|(counter, _)| *counter))
        .bind(row.anchor.as_ref().map(|(_, macs)| macs.as_str()))
        .execute(self.writer())
        .await
        .map_err(|err| StoreError::conflict_or(err, "toki session"))?;
        Ok(())
    }

    /// A live session (read from the primary: a node that was just told of it must find it).
    pub async fn toki_session(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<TokiSessionRow>, StoreError> {
        let row = sqlx::query(self.sql(
            "SELECT expires_at, epoch, sealed, anchor_counter, anchor FROM toki_sessions \
             WHERE session_id = ? AND expires_at > ?",
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(self.writer())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let counter: Option<i64> = row.try_get(3)?;
        let macs: Option<String> = row.try_get(4)?;
        Ok(Some(TokiSessionRow {
            expires_at: row.try_get(0)?,
            epoch: row.try_get(1)?,
            sealed: row.try_get(2)?,
            anchor: counter.zip(macs),
        }))
    }

    /// Moves a session to `epoch` with its roots (`sealed`), dropping the earlier epoch's
    /// anchor, if it is at an earlier epoch (however many behind); nothing happens if another
    /// node moved it that far first.
    pub async fn advance_toki_session(
        &self,
        id: &str,
        epoch: i64,
        sealed: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE toki_sessions SET epoch = ?, sealed = ?, anchor_counter = NULL, anchor = NULL \
             WHERE session_id = ? AND epoch < ?",
        ))
        .bind(epoch)
        .bind(sealed)
        .bind(id)
        .bind(epoch)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the anchor of `epoch` if it is later than the one recorded.
    pub async fn anchor_toki_session(
        &self,
        id: &str,
        epoch: i64,
        counter: i64,
        macs: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE toki_sessions SET anchor_counter = ?, anchor = ? WHERE session_id = ? \
             AND epoch = ? AND (anchor_counter IS NULL OR anchor_counter < ?)",
        ))
        .bind(counter)
        .bind(macs)
        .bind(id)
        .bind(epoch)
        .bind(counter)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether `claim` is recorded and not expired at `now`.
    pub async fn claimed(&self, claim: &str, now: i64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            self.sql("SELECT expires_at FROM replay_claims WHERE claim = ? AND expires_at > ?"),
        )
        .bind(claim)
        .bind(now)
        .fetch_optional(self.writer())
        .await?;
        Ok(row.is_some())
    }

    /// Records `claim` until `expires_at`: true the first time (one insert; a second one for
    /// the same claim violates the primary key).
    pub async fn claim_once(&self, claim: &str, expires_at: i64) -> Result<bool, StoreError> {
        let inserted =
            sqlx::query(self.sql("INSERT INTO replay_claims (claim, expires_at) VALUES (?, ?)"))
                .bind(claim)
                .bind(expires_at)
                .execute(self.writer())
                .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(err) => match StoreError::conflict_or(err, "toki claim") {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Replaces `node`'s activity share.
    pub async fn share_activity(
        &self,
        node: &str,
        now_ms: i64,
        payload: &str,
    ) -> Result<(), StoreError> {
        // One statement: readers never see the row missing, and no transaction is left open
        // if the caller stops half-way.
        let upsert = match self.backend() {
            crate::Backend::Mysql => {
                "INSERT INTO activity_shares (node, updated_at, payload) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), payload = VALUES(payload)"
            }
            crate::Backend::Sqlite | crate::Backend::Postgres => {
                "INSERT INTO activity_shares (node, updated_at, payload) VALUES (?, ?, ?) \
                 ON CONFLICT (node) DO UPDATE SET updated_at = excluded.updated_at, \
                 payload = excluded.payload"
            }
        };
        sqlx::query(self.sql(upsert))
            .bind(node)
            .bind(now_ms)
            .bind(payload)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The other nodes' activity shares updated since `since_ms`: (node, payload).
    pub async fn activity_shares(
        &self,
        except_node: &str,
        since_ms: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows =
            sqlx::query(self.sql(
                "SELECT node, payload FROM activity_shares WHERE node <> ? AND updated_at > ?",
            ))
            .bind(except_node)
            .bind(since_ms)
            .fetch_all(self.writer())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Failed sign-ins other nodes counted since `since_ms`: (counter, failures, last failure).
    pub async fn login_failures(
        &self,
        counters: &[String],
        since_ms: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let mut found = Vec::with_capacity(counters.len());
        for counter in counters {
            let row = sqlx::query(self.sql(
                "SELECT failures, last_failure_ms FROM login_failures \
                 WHERE counter = ? AND last_failure_ms > ?",
            ))
            .bind(counter)
            .bind(since_ms)
            .fetch_optional(self.writer())
            .await?;
            if let Some(row) = row {
                found.push((counter.clone(), row.try_get(0)?, row.try_get(1)?));
            }
        }
        Ok(found)
    }

    /// Counts one failed sign-in against each counter; a counter whose last failure is
    /// before `window_start_ms` starts again at 1.
    pub async fn record_login_failure(
        &self,
        counters: &[String],
        now_ms: i64,
        window_start_ms: i64,
    ) -> Result<(), StoreError> {
        let upsert = match self.backend() {
            crate::Backend::Mysql => {
                "INSERT INTO login_failures (counter, failures, last_failure_ms) VALUES (?, 1, ?) \
                 ON DUPLICATE KEY UPDATE failures = IF(last_failure_ms < ?, 1, failures + 1), \
                 last_failure_ms = GREATEST(last_failure_ms, VALUES(last_failure_ms))"
            }
            // A node whose clock is behind never moves the last failure back.
            crate::Backend::Postgres => {
                "INSERT INTO login_failures (counter, failures, last_failure_ms) VALUES (?, 1, ?) \
                 ON CONFLICT (counter) DO UPDATE SET failures = CASE WHEN \
                 login_failures.last_failure_ms < ? THEN 1 ELSE login_failures.failures + 1 END, \
                 last_failure_ms = GREATEST(login_failures.last_failure_ms, excluded.last_failure_ms)"
            }
            crate::Backend::Sqlite => {
                "INSERT INTO login_failures (counter, failures, last_failure_ms) VALUES (?, 1, ?) \
                 ON CONFLICT (counter) DO UPDATE SET failures = CASE WHEN \
                 login_failures.last_failure_ms < ? THEN 1 ELSE login_failures.failures + 1 END, \
                 last_failure_ms = MAX(login_failures.last_failure_ms, excluded.last_failure_ms)"
            }
        };
        for counter in counters {
            sqlx::query(self.sql(upsert))
                .bind(counter)
                .bind(now_ms)
                .bind(window_start_ms)
                .execute(self.writer())
                .await?;
        }
        Ok(())
    }

    /// Forgets the failures of these counters (a successful sign-in).
    pub async fn clear_login_failures(&self, counters: &[String]) -> Result<(), StoreError> {
        for counter in counters {
            sqlx::query(self.sql("DELETE FROM login_failures WHERE counter = ?"))
                .bind(counter)
                .execute(self.writer())
                .await?;
        }
        Ok(())
    }
}
