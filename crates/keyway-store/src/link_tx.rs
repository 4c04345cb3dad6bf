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

use crate::link::{LinkConflictRow, LinkHashEntry, LinkHashRow, LinkRecordRow};
use crate::{Backend, Store, StoreError, link_codec};

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

/// What a looked-up column holds, and so how its values are given to the database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Text,
    /// 32-byte hash, given as 64 hex digits.
    Hash,
    /// 16-byte UUID, given hyphenated.
    Uuid,
}

impl Column {
    /// One element of a JSON array parameter as the column's value (SQLite).
    fn json_value(self) -> &'static str {
        match self {
            Column::Text => "value",
            Column::Hash => "unhex(value)",
            Column::Uuid => "unhex(value, '-')",
        }
    }

    /// Checks `value` and gives its bytes to bind (None: bind the text).
    fn checked(self, value: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(match self {
            Column::Text => None,
            Column::Hash => Some(link_codec::hash_bytes(value)?.to_vec()),
            Column::Uuid => Some(link_codec::uuid_bytes(value)?.to_vec()),
        })
    }
}

fn record_from_row(row: &AnyRow) -> Result<LinkRecordRow, StoreError> {
    Ok(LinkRecordRow {
        partner: row.try_get("partner")?,
        patid: row.try_get("patid")?,
        uuid: link_codec::uuid_text(row.try_get::<&[u8], _>("uuid")?)?,
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

/// `[["<hash>",rule,seq],…]` written directly: the hashes have been checked to be hex, which
/// needs no escaping (serde_json's escaping scan had been 3% of linking).
fn hash_rows_json(rows: &[&LinkHashRow]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows.len() * 90 + 2);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "[\"{}\",{},{}]", r.hash, r.rule, r.seq);
    }
    out.push(']');
    out
}

/// `["a","b"]` of strings that need no JSON escaping.
fn plain_string_array(values: &[&str]) -> String {
    let mut out = String::with_capacity(values.iter().map(|v| v.len() + 3).sum::<usize>() + 2);
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(value);
        out.push('"');
    }
    out.push(']');
    out
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

    /// The rows of `select` (ending in `WHERE …`) whose `column` (holding `kind`) is one of
    /// `values`; `first` is bound before them.
    async fn select_in(
        &mut self,
        select: &str,
        (column, kind): (&str, Column),
        first: Option<&str>,
        values: &[&str],
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut out = Vec::new();
        let per_statement = match self.bulk() {
            Bulk::Json => JSON_ROWS,
            Bulk::Lists => IN_CHUNK,
        };
        for part in values.chunks(per_statement) {
            // Checked first: a bad hash or UUID would otherwise just match nothing.
            let bytes = part
                .iter()
                .map(|value| kind.checked(value))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = match self.bulk() {
                Bulk::Json => format!(
                    "{select} {column} IN (SELECT {} FROM json_each(?))",
                    kind.json_value()
                ),
                Bulk::Lists => format!("{select} {column} IN ({})", marks(part.len())),
            };
            let mut query = sqlx::query(self.store.sql(&sql));
            if let Some(first) = first {
                query = query.bind(first);
            }
            match self.bulk() {
                Bulk::Json => {
                    query = query.bind(match kind {
                        Column::Text => json_array(part.iter())?,
                        // Checked above to be hex digits (and hyphens): nothing to escape.
                        Column::Hash | Column::Uuid => plain_string_array(part),
                    });
                }
                Bulk::Lists => {
                    for (value, bytes) in part.iter().zip(bytes) {
                        query = match bytes {
                            Some(bytes) => query.bind(bytes),
                            None => query.bind(*value),
                        };
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
                ("patid", Column::Text),
                Some(partner),
                patids,
            )
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Every stored entry for any of `hashes` (whatever the rule), with the record it points at.
    pub async fn hash_entries(
        &mut self,
        hashes: &[&str],
    ) -> Result<Vec<LinkHashEntry>, StoreError> {
        let rows = self
            .select_in(
                "SELECT h.hash, h.rule, r.partner, r.patid, r.uuid \
                 FROM link_hashes h JOIN link_records r ON r.seq = h.seq WHERE",
                ("h.hash", Column::Hash),
                None,
                hashes,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LinkHashEntry {
                    hash: link_codec::hash_text(row.try_get::<&[u8], _>(0)?)?,
                    rule: row.try_get(1)?,
                    partner: row.try_get(2)?,
                    patid: row.try_get(3)?,
                    uuid: link_codec::uuid_text(row.try_get::<&[u8], _>(4)?)?,
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
        // By UUID alone, the partner checked here. Given `partner = ?` as well, PostgreSQL
        // with statistics from before the partner's first records estimated it to have none
        // and scanned all its records through the (partner, patid) index for every list (3,
        // then 7, 12, 19 s per chunk until the next ANALYZE). The extra rows (other partners'
        // records of the same persons) cost SQLite nothing measurable.
        let rows = self
            .select_in(
                "SELECT uuid, patid, partner FROM link_records WHERE",
                ("uuid", Column::Uuid),
                None,
                uuids,
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<&str, _>(2)? != partner {
                continue;
            }
            out.push((
                link_codec::uuid_text(row.try_get::<&[u8], _>(0)?)?,
                row.try_get(1)?,
            ));
        }
        Ok(out)
    }

    /// Inserts `json` rows (arrays of values) into `table (columns)`, each row's values taken
    /// by `values` (SQLite).
    async fn insert_json(
        &mut self,
        table: &str,
        columns: &str,
        values: &str,
        json: String,
    ) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO {table} ({columns}) SELECT {values} FROM json_each(?)");
        sqlx::query(self.store.sql(&sql))
            .bind(json)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Inserts linked records; their `seq`s must be new.
    pub async fn insert_records(&mut self, rows: &[LinkRecordRow]) -> Result<(), StoreError> {
        const COLUMNS: &str = "partner, patid, uuid, flag, reason, seq, created_at";
        let uuids = rows
            .iter()
            .map(|r| link_codec::uuid_bytes(&r.uuid))
            .collect::<Result<Vec<_>, _>>()?;
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
                let values = "value ->> 0, value ->> 1, unhex(value ->> 2, '-'), value ->> 3, \
                              value ->> 4, value ->> 5, value ->> 6";
                self.insert_json("link_records", COLUMNS, values, json)
                    .await?;
            }
            return Ok(());
        }
        for (part, uuids) in rows.chunks(INSERT_ROWS).zip(uuids.chunks(INSERT_ROWS)) {
            let sql = format!(
                "INSERT INTO link_records ({COLUMNS}) VALUES {}",
                row_marks(part.len(), 7)
            );
            let mut query = sqlx::query(self.store.sql(&sql));
            for (r, uuid) in part.iter().zip(uuids) {
                query = query
                    .bind(&r.partner)
                    .bind(&r.patid)
                    .bind(uuid.to_vec())
                    .bind(&r.flag)
                    .bind(&r.reason)
                    .bind(r.seq)
                    .bind(r.created_at);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Inserts hashes of records inserted before (in this transaction or earlier).
    pub async fn insert_hashes(&mut self, rows: &[LinkHashRow]) -> Result<(), StoreError> {
        const COLUMNS: &str = "hash, rule, seq";
        // In key order (lowercase hex sorts as its bytes do): each insert lands next to the
        // previous one in the B-tree, on a page that is already in the cache.
        let mut sorted: Vec<&LinkHashRow> = rows.iter().collect();
        sorted.sort_unstable_by(|a, b| (&a.hash, a.rule, a.seq).cmp(&(&b.hash, b.rule, b.seq)));
        let hashes = sorted
            .iter()
            .map(|r| link_codec::hash_bytes(&r.hash))
            .collect::<Result<Vec<_>, _>>()?;
        if self.bulk() == Bulk::Json {
            for part in sorted.chunks(JSON_ROWS) {
                let json = hash_rows_json(part);
                let values = "unhex(value ->> 0), value ->> 1, value ->> 2";
                self.insert_json("link_hashes", COLUMNS, values, json)
                    .await?;
            }
            return Ok(());
        }
        for (part, hashes) in sorted.chunks(INSERT_ROWS).zip(hashes.chunks(INSERT_ROWS)) {
            let sql = format!(
                "INSERT INTO link_hashes ({COLUMNS}) VALUES {}",
                row_marks(part.len(), 3)
            );
            let mut query = sqlx::query(self.store.sql(&sql));
            for (r, hash) in part.iter().zip(hashes) {
                query = query.bind(hash.to_vec()).bind(r.rule).bind(r.seq);
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
    fn hash_rows_are_json() -> Result<(), serde_json::Error> {
        let row = LinkHashRow {
            hash: "ab".repeat(32),
            rule: 2,
            seq: 9,
        };
        let json = hash_rows_json(&[&row, &row]);
        let parsed: serde_json::Value = serde_json::from_str(&json)?;
        assert_eq!(parsed[1], serde_json::json!(["ab".repeat(32), 2, 9]));
        assert_eq!(hash_rows_json(&[]), "[]");
        assert_eq!(plain_string_array(&["ab", "cd"]), r#"["ab","cd"]"#);
        Ok(())
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
