//! Record linkage (hub side): partners, linked records, their hashes and recorded conflicts.
//!
//! Linking runs chunk by chunk inside a [`LinkTx`]: the transaction first updates the single
//! `link_lock` row, which serialises linkers hub-wide (a row lock on PostgreSQL/MariaDB, the
//! write lock on SQLite), then reads what it needs with a few batched `IN (…)` queries and
//! writes with multi-row inserts. Per-record round trips would be far too slow.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Backend, Store, StoreError};

/// Values per `IN (…)` list or per multi-row insert statement (well under every backend's
/// limit on bound parameters).
const IN_CHUNK: usize = 500;
const INSERT_ROWS: usize = 400;

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

/// One hash of one record, pointing at the record's UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHashRow {
    pub hash: String,
    pub rule: String,
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

fn record_from_row(row: &AnyRow) -> Result<LinkRecordRow, StoreError> {
    Ok(LinkRecordRow {
        partner: row.try_get("partner")?,
        patid: row.try_get("patid")?,
        uuid: row.try_get("uuid")?,
        flag: row.try_get("flag")?,
        reason: row.try_get("reason")?,
        seq: row.try_get("seq")?,
        created_at: row.try_get("created_at")?,
    })
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

/// `?, ?, ?` with `n` placeholders.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?), (?, ?)` for `rows` rows of `width` values.
fn row_marks(rows: usize, width: usize) -> String {
    let one = format!("({})", marks(width));
    vec![one; rows].join(", ")
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
        Ok(LinkTx {
            store: self.clone(),
            tx,
            next_seq,
        })
    }
}

/// A linking transaction holding the hub-wide link lock.
pub struct LinkTx {
    store: Store,
    tx: Transaction<'static, Any>,
    /// The `seq` the next linked record gets.
    pub next_seq: i64,
}

impl LinkTx {
    /// The stored records of `partner` among `patids`.
    pub async fn records(
        &mut self,
        partner: &str,
        patids: &[&str],
    ) -> Result<Vec<LinkRecordRow>, StoreError> {
        let mut out = Vec::new();
        for part in patids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT partner, patid, uuid, flag, reason, seq, created_at FROM link_records \
                 WHERE partner = ? AND patid IN ({})",
                marks(part.len())
            );
            let mut query = sqlx::query(self.store.sql(&sql)).bind(partner);
            for patid in part {
                query = query.bind(*patid);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                out.push(record_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Every stored entry for any of `hashes` (whatever the rule).
    pub async fn hash_entries(&mut self, hashes: &[&str]) -> Result<Vec<LinkHashRow>, StoreError> {
        let mut out = Vec::new();
        for part in hashes.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT hash, rule, partner, patid, uuid FROM link_hashes WHERE hash IN ({})",
                marks(part.len())
            );
            let mut query = sqlx::query(self.store.sql(&sql));
            for hash in part {
                query = query.bind(*hash);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                out.push(LinkHashRow {
                    hash: row.try_get("hash")?,
                    rule: row.try_get("rule")?,
                    partner: row.try_get("partner")?,
                    patid: row.try_get("patid")?,
                    uuid: row.try_get("uuid")?,
                });
            }
        }
        Ok(out)
    }

    /// `(uuid, patid)` of the records of `partner` linked to any of `uuids`.
    pub async fn partner_uuids(
        &mut self,
        partner: &str,
        uuids: &[&str],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for part in uuids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT uuid, patid FROM link_records WHERE partner = ? AND uuid IN ({})",
                marks(part.len())
            );
            let mut query = sqlx::query(self.store.sql(&sql)).bind(partner);
            for uuid in part {
                query = query.bind(*uuid);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                out.push((row.try_get(0)?, row.try_get(1)?));
            }
        }
        Ok(out)
    }

    pub async fn insert_records(&mut self, rows: &[LinkRecordRow]) -> Result<(), StoreError> {
        for part in rows.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO link_records (partner, patid, uuid, flag, reason, seq, created_at) \
                 VALUES {}",
                row_marks(part.len(), 7)
            );
            let mut query = sqlx::query(self.store.sql(&sql));
            for r in part {
                query = query
                    .bind(&r.partner)
                    .bind(&r.patid)
                    .bind(&r.uuid)
                    .bind(&r.flag)
                    .bind(&r.reason)
                    .bind(r.seq)
                    .bind(r.created_at);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    pub async fn insert_hashes(&mut self, rows: &[LinkHashRow]) -> Result<(), StoreError> {
        for part in rows.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO link_hashes (hash, rule, partner, patid, uuid) VALUES {}",
                row_marks(part.len(), 5)
            );
            let mut query = sqlx::query(self.store.sql(&sql));
            for r in part {
                query = query
                    .bind(&r.hash)
                    .bind(&r.rule)
                    .bind(&r.partner)
                    .bind(&r.patid)
                    .bind(&r.uuid);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    pub async fn insert_conflicts(&mut self, rows: &[LinkConflictRow]) -> Result<(), StoreError> {
        for part in rows.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO link_conflicts \
                 (seq, partner, patid, chosen_uuid, candidates, reason, created_at) VALUES {}",
                row_marks(part.len(), 7)
            );
            let mut query = sqlx::query(self.store.sql(&sql));
            for r in part {
                query = query
                    .bind(r.seq)
                    .bind(&r.partner)
                    .bind(&r.patid)
                    .bind(&r.chosen_uuid)
                    .bind(&r.candidates)
                    .bind(&r.reason)
                    .bind(r.created_at);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Records the next free `seq` and commits, releasing the link lock.
    pub async fn commit(mut self, next_seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            self.store
                .sql("UPDATE link_lock SET next_seq = ? WHERE id = 1"),
        )
        .bind(next_seq)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lists() {
        assert_eq!(marks(3), "?, ?, ?");
        assert_eq!(row_marks(2, 2), "(?, ?), (?, ?)");
    }
}
