//! A linking transaction: it holds the hub-wide link lock (the single `link_lock` row, updated
//! first: a row lock on PostgreSQL/MariaDB, the write lock on SQLite) while a chunk of records
//! is read and written.
//!
//! Values reach the database in bulk, never one statement per record:
//! - SQLite: one JSON array per statement, expanded by the database itself (`json_each`).
//!   Binding every value through sqlx had cost more than the B-tree work (about 25 µs per
//!   linked record, perf 2026-12-02).
//! - PostgreSQL, MySQL/MariaDB: `IN (…)` lists and multi-row inserts of a few hundred values
//!   each (see [`LinkTx::bulk`]; `JSON_TABLE` columns carry a collation of their own that need
//!   not compare with the tables').

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::link::{LinkConflictRow, LinkHashRow, LinkRecordRow};
use crate::{Backend, Store, StoreError};

/// Values per `IN (…)` list or per multi-row insert statement on MySQL (well under its limit on
/// bound parameters).
const IN_CHUNK: usize = 500;
const INSERT_ROWS: usize = 400;
/// Values (or rows) per JSON array: bounds a statement's parameter to a few MiB.
const JSON_ROWS: usize = 20_000;

/// A linking transaction holding the hub-wide link lock.
pub struct LinkTx {
    store: Store,
    tx: Transaction<'static, Any>,
    /// The `seq` the next linked record gets.
    pub next_seq: i64,
}

/// How a statement takes many values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Json,
    Lists,
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

/// `?, ?, ?` with `n` placeholders.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?), (?, ?)` for `rows` rows of `width` values.
fn row_marks(rows: usize, width: usize) -> String {
    let one = format!("({})", marks(width));
    vec![one; rows].join(", ")
}

/// A JSON array of `items`, each serialised on its own (strings escaped by serde_json).
fn json_array<T: Serialize>(items: impl Iterator<Item = T>) -> Result<String, StoreError> {
    let mut out = Vec::with_capacity(64 * 1024);
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &item)
            .map_err(|_| StoreError::Corrupt("link values are not serialisable as JSON"))?;
    }
    out.push(b']');
    String::from_utf8(out).map_err(|_| StoreError::Corrupt("link values are not UTF-8"))
}

impl LinkTx {
    pub(crate) fn new(store: Store, tx: Transaction<'static, Any>, next_seq: i64) -> LinkTx {
        LinkTx {
            store,
            tx,
            next_seq,
        }
    }

    fn bulk(&self) -> Bulk {
        match self.store.backend() {
            Backend::Sqlite => Bulk::Json,
            // PostgreSQL took the JSON arrays too, but its plan for `= ANY(ARRAY(SELECT
            // json_array_elements_text(…)))` over a grown table made partner B of the 1 M
            // benchmark 9× slower (302 s, plan not yet examined); with lists the same benchmark
            // takes 72.6 s (bench/README.md).
            Backend::Postgres | Backend::Mysql => Bulk::Lists,
        }
    }

    /// `column` is one of the values of a JSON array parameter (SQLite).
    fn in_json(column: &str) -> String {
        format!("{column} IN (SELECT value FROM json_each(?))")
    }

    /// The rows of `select` (ending in `WHERE …`) whose `column` is one of `values`; `first`
    /// is bound before them.
    async fn select_in(
        &mut self,
        select: &str,
        column: &str,
        first: Option<&str>,
        values: &[&str],
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut out = Vec::new();
        let per_statement = match self.bulk() {
            Bulk::Json => JSON_ROWS,
            Bulk::Lists => IN_CHUNK,
        };
        for part in values.chunks(per_statement) {
            let (sql, json) = match self.bulk() {
                Bulk::Json => (
                    format!("{select} {}", Self::in_json(column)),
                    Some(json_array(part.iter())?),
                ),
                Bulk::Lists => (
                    format!("{select} {column} IN ({})", marks(part.len())),
                    None,
                ),
            };
            let mut query = sqlx::query(self.store.sql(&sql));
            if let Some(first) = first {
                query = query.bind(first);
            }
            match json {
                Some(json) => query = query.bind(json),
                None => {
                    for value in part {
                        query = query.bind(*value);
                    }
                }
            }
            out.extend(query.fetch_all(&mut *self.tx).await?);
        }
        Ok(out)
    }

    /// The stored records of `partner` among `patids`.
    pub async fn records(
        &mut self,
        partner: &str,
        patids: &[&str],
    ) -> Result<Vec<LinkRecordRow>, StoreError> {
        let rows = self
            .select_in(
                "SELECT partner, patid, uuid, flag, reason, seq, created_at FROM link_records \
                 WHERE partner = ? AND",
                "patid",
                Some(partner),
                patids,
            )
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Every stored entry for any of `hashes` (whatever the rule).
    pub async fn hash_entries(&mut self, hashes: &[&str]) -> Result<Vec<LinkHashRow>, StoreError> {
        let rows = self
            .select_in(
                "SELECT hash, rule, partner, patid, uuid FROM link_hashes WHERE",
                "hash",
                None,
                hashes,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LinkHashRow {
                    hash: row.try_get("hash")?,
                    rule: row.try_get("rule")?,
                    partner: row.try_get("partner")?,
                    patid: row.try_get("patid")?,
                    uuid: row.try_get("uuid")?,
                })
            })
            .collect()
    }

    /// `(uuid, patid)` of the records of `partner` linked to any of `uuids`.
    pub async fn partner_uuids(
        &mut self,
        partner: &str,
        uuids: &[&str],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .select_in(
                "SELECT uuid, patid FROM link_records WHERE partner = ? AND",
                "uuid",
                Some(partner),
                uuids,
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Inserts `json` rows (arrays of `width` values) into `table (columns)` (SQLite).
    async fn insert_json(
        &mut self,
        table: &str,
        columns: &str,
        width: usize,
        json: String,
    ) -> Result<(), StoreError> {
        let values: Vec<String> = (0..width).map(|i| format!("value ->> {i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({columns}) SELECT {} FROM json_each(?)",
            values.join(", ")
        );
        sqlx::query(self.store.sql(&sql))
            .bind(json)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_records(&mut self, rows: &[LinkRecordRow]) -> Result<(), StoreError> {
        const COLUMNS: &str = "partner, patid, uuid, flag, reason, seq, created_at";
        if self.bulk() == Bulk::Json {
            for part in rows.chunks(JSON_ROWS) {
                let json = json_array(part.iter().map(|r| {
                    (
                        &r.partner,
                        &r.patid,
                        &r.uuid,
                        &r.flag,
                        &r.reason,
                        r.seq,
                        r.created_at,
                    )
                }))?;
                self.insert_json("link_records", COLUMNS, 7, json).await?;
            }
            return Ok(());
        }
        for part in rows.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO link_records ({COLUMNS}) VALUES {}",
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
        const COLUMNS: &str = "hash, rule, partner, patid, uuid";
        if self.bulk() == Bulk::Json {
            // In key order: each insert lands next to the previous one in the B-tree, on a page
            // that is already in the cache.
            let mut sorted: Vec<&LinkHashRow> = rows.iter().collect();
            sorted.sort_unstable_by(|a, b| (&a.hash, &a.rule).cmp(&(&b.hash, &b.rule)));
            for part in sorted.chunks(JSON_ROWS) {
                let json = json_array(
                    part.iter()
                        .map(|r| (&r.hash, &r.rule, &r.partner, &r.patid, &r.uuid)),
                )?;
                self.insert_json("link_hashes", COLUMNS, 5, json).await?;
            }
            return Ok(());
        }
        for part in rows.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO link_hashes ({COLUMNS}) VALUES {}",
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

    /// Conflicts are few (one per disagreeing record): plain multi-row inserts on every backend.
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

    #[test]
    fn json_arrays_escape_what_they_carry() -> Result<(), StoreError> {
        let json = json_array(["a\"b", "c,d\n"].iter())?;
        assert_eq!(json, r#"["a\"b","c,d\n"]"#);
        assert_eq!(json_array(std::iter::empty::<&str>())?, "[]");
        let rows = json_array([("p", 7i64)].iter())?;
        assert_eq!(rows, r#"[["p",7]]"#);
        Ok(())
    }
}
