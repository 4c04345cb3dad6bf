//! Record linkage (hub side): partners, linked records, their hashes and recorded conflicts.
//!
//! Linking runs chunk by chunk inside a [`LinkTx`] (`link_tx.rs`), which holds the hub-wide
//! link lock.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::link_tx::LinkTx;
use crate::{Backend, Store, StoreError};

/// A partner site, bound to the OAuth client that submits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPartnerRecord {
    pub code: String,
    pub client_id: String,
    pub created_at: i64,
}

/// One linked record: a partner's patient id and the person (UUID) it was linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecordRow {
    pub partner: String,
    pub patid: String,
    pub uuid: String,
    pub flag: String,
    pub reason: String,
    /// Hub-wide arrival order.
    pub seq: i64,
    pub created_at: i64,
}

/// One hash of one record, to insert: it points at the record by the record's `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHashRow {
    /// Lowercase hex (64 digits; stored as 32 bytes).
    pub hash: String,
    /// The rule's code (see `Rule::code` in keyway-link).
    pub rule: i64,
    pub seq: i64,
}

/// A stored hash with the record it points at: which partner's patid (and person) it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHashEntry {
    pub hash: String,
    pub rule: i64,
    pub partner: String,
    pub patid: String,
    pub uuid: String,
}

/// A record whose hashes pointed at several persons, with the choice made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConflictRow {
    /// The `seq` of the record the conflict belongs to.
    pub seq: i64,
    pub partner: String,
    pub patid: String,
    pub chosen_uuid: String,
    /// JSON object: rule name → candidate UUIDs.
    pub candidates: String,
    pub reason: String,
    pub created_at: i64,
}

/// Counts for `GET /link/v1/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatsRow {
    pub partners: i64,
    pub records: i64,
    pub persons: i64,
    pub conflicts: i64,
    /// Per partner: (code, records, collisions, conflicts).
    pub per_partner: Vec<(String, i64, i64, i64)>,
}

fn conflict_from_row(row: &AnyRow) -> Result<LinkConflictRow, StoreError> {
    Ok(LinkConflictRow {
        seq: row.try_get("seq")?,
        partner: row.try_get("partner")?,
        patid: row.try_get("patid")?,
        chosen_uuid: row.try_get("chosen_uuid")?,
        candidates: row.try_get("candidates")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Registers a partner bound to `client_id`.
    pub async fn insert_link_partner(&self, partner: &LinkPartnerRecord) -> Result<(), StoreError> {
        sqlx::query(
            self.sql("INSERT INTO link_partners (code, client_id, created_at) VALUES (?, ?, ?)"),
        )
        .bind(&partner.code)
        .bind(&partner.client_id)
        .bind(partner.created_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::conflict_or(e, "partner (code or client)"))?;
        Ok(())
    }

    pub async fn link_partners(&self) -> Result<Vec<LinkPartnerRecord>, StoreError> {
        let rows = sqlx::query(
            self.sql("SELECT code, client_id, created_at FROM link_partners ORDER BY code"),
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LinkPartnerRecord {
                    code: row.try_get("code")?,
                    client_id: row.try_get("client_id")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// The partner code bound to an OAuth client, if any.
    pub async fn link_partner_for_client(
        &self,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(self.sql("SELECT code FROM link_partners WHERE client_id = ?"))
            .bind(client_id)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Recorded conflicts with `seq > after`, oldest first.
    pub async fn link_conflicts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LinkConflictRow>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT seq, partner, patid, chosen_uuid, candidates, reason, created_at \
             FROM link_conflicts WHERE seq > ? ORDER BY seq LIMIT ?",
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(conflict_from_row).collect()
    }

    pub async fn link_stats(&self) -> Result<LinkStatsRow, StoreError> {
        let count = |sql: &'static str| async move {
            let row = sqlx::query(self.sql(sql)).fetch_one(self.reader()).await?;
            Ok::<i64, StoreError>(row.try_get::<i64, _>(0)?)
        };
        let mut stats = LinkStatsRow {
            partners: count("SELECT COUNT(*) FROM link_partners").await?,
            records: count("SELECT COUNT(*) FROM link_records").await?,
            persons: count("SELECT COUNT(DISTINCT uuid) FROM link_records").await?,
            conflicts: count("SELECT COUNT(*) FROM link_conflicts").await?,
            per_partner: Vec::new(),
        };
        let rows = sqlx::query(self.sql(
            "SELECT p.code, \
               (SELECT COUNT(*) FROM link_records r WHERE r.partner = p.code), \
               (SELECT COUNT(*) FROM link_records r WHERE r.partner = p.code \
                  AND r.flag = 'COLLISION'), \
               (SELECT COUNT(*) FROM link_conflicts c WHERE c.partner = p.code) \
             FROM link_partners p ORDER BY p.code",
        ))
        .fetch_all(self.reader())
        .await?;
        for row in rows {
            stats.per_partner.push((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ));
        }
        Ok(stats)
    }

    /// Refreshes the planner statistics of the link tables (PostgreSQL, MySQL). Without them a
    /// server whose autovacuum is off or late keeps planning for the empty tables it first
    /// saw: look-ups by hash turn into scans and linking slows down as the tables grow.
    /// SQLite plans by its indexes alone; nothing to do there.
    pub async fn analyze_link_tables(&self) -> Result<(), StoreError> {
        let sql = match self.backend() {
            Backend::Postgres => "ANALYZE link_records, link_hashes",
            Backend::Mysql => "ANALYZE TABLE link_records, link_hashes",
            Backend::Sqlite => return Ok(()),
        };
        sqlx::query(sql).execute(self.writer()).await?;
        Ok(())
    }

    /// Starts a linking transaction, waiting for any other linker to finish first.
    pub async fn begin_link(&self) -> Result<LinkTx, StoreError> {
        let mut tx = self.writer().begin().await?;
        // Writing first takes the lock at once (SQLite would otherwise start a read
        // transaction and could fail to upgrade it).
        sqlx::query(self.sql("UPDATE link_lock SET next_seq = next_seq WHERE id = 1"))
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(self.sql("SELECT next_seq FROM link_lock WHERE id = 1"))
            .fetch_one(&mut *tx)
            .await?;
        let next_seq = row.try_get::<i64, _>(0)?;
        Ok(LinkTx::new(self.clone(), tx, next_seq))
    }
}
