//! The audit log (issue 18): an append-only record of cross-client decisions and admin
//! changes. Rows are only inserted, and deleted once older than the retention.

use sqlx::Row;

use crate::{Store, StoreError};

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
    /// Who: a client id for decisions, `cli:USER` or `scim:CLIENT` for admin changes.
    pub actor: String,
    /// What: `transmit`, `exchange`, `gateway`, `client.create`, `rule.allow`, …
    pub action: String,
    /// `allowed`, `refused` or `done` (admin changes).
    pub outcome: String,
    /// To whom or on what: the target client, user or key.
    pub target: Option<String>,
    /// The user concerned, when there is one.
    pub user_id: Option<String>,
    /// The rule that decided (`A -> B for exchange`).
    pub rule: Option<String>,
    /// Why it was refused, or what changed.
    pub reason: Option<String>,
    /// How many identical decisions this entry stands for (gathered within a second, the
    /// first at `at_ms`); 1 for every admin change.
    pub occurrences: i64,
}

/// An entry as read back, with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

const COLUMNS: &str = "at_ms, actor, action, outcome, target, user_id, rule, reason, occurrences";
/// Rows per INSERT: 9 parameters each stays far below every backend's parameter limit.
const ROWS_PER_INSERT: usize = 200;

impl Store {
    /// Appends entries in one transaction (a batch from the hub's audit writer, or one).
    pub async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer().begin().await?;
        for chunk in entries.chunks(ROWS_PER_INSERT) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = self.sql(&format!(
                "INSERT INTO audit_events ({COLUMNS}) VALUES {values}"
            ));
            let mut query = sqlx::query(sql);
            for e in chunk {
                query = query
                    .bind(e.at_ms)
                    .bind(&e.actor)
                    .bind(&e.action)
                    .bind(&e.outcome)
                    .bind(&e.target)
                    .bind(&e.user_id)
                    .bind(&e.rule)
                    .bind(&e.reason)
                    .bind(e.occurrences);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Entries at or after `since_ms`, oldest first, at most `limit` of them after `after_id`.
    pub async fn audit_events(
        &self,
        since_ms: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT id, {COLUMNS} FROM audit_events WHERE at_ms >= ? AND id > ? \
             ORDER BY id LIMIT ?"
        )))
        .bind(since_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(record_of).collect()
    }

    /// The newest `limit` entries at or after `since_ms`, returned oldest first.
    pub async fn latest_audit_events(
        &self,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT id, {COLUMNS} FROM audit_events WHERE at_ms >= ? ORDER BY id DESC LIMIT ?"
        )))
        .bind(since_ms)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        let mut records = rows.iter().map(record_of).collect::<Result<Vec<_>, _>>()?;
        records.reverse();
        Ok(records)
    }

    /// Deletes entries older than `before_ms` (the retention); how many went.
    pub async fn prune_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(self.sql("DELETE FROM audit_events WHERE at_ms < ?"))
            .bind(before_ms)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}

fn record_of(row: &sqlx::any::AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        entry: AuditEntry {
            at_ms: row.try_get("at_ms")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            outcome: row.try_get("outcome")?,
            target: row.try_get("target")?,
            user_id: row.try_get("user_id")?,
            rule: row.try_get("rule")?,
            reason: row.try_get("reason")?,
            occurrences: row.try_get("occurrences")?,
        },
    })
}
