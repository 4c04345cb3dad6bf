//! Each backend's own full-text index over an entity's searchable properties, created and
//! kept in step at start. Its name carries a digest of the property list, so a schema that
//! changes the list gets a new index (the old one is dropped) and an unchanged one is left be.
//!
//! - SQLite: an FTS5 table with the entity table as external content (`unicode61`, diacritics
//!   removed), kept current by three triggers, filled by `rebuild` when made.
//! - PostgreSQL: a stored generated `tsvector` column (`simple` configuration: names and
//!   addresses are not stemmed) with a GIN index.
//! - MariaDB: a stored generated column of the text, case- and accent-insensitive, under a
//!   `FULLTEXT` index (InnoDB: words under 3 characters and its stopwords are not indexed).

use keyway_store::{ColumnKind, DynValue, Store};

use crate::filter::sql::quote;
use crate::table::{TableError, digest, table_name};
use crate::{Dialect, Entity};

fn signature(entity: &Entity) -> String {
    let names: Vec<&str> = entity
        .searchable()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    // The layout's version is part of the digest: an index of an older layout is remade.
    format!("{:08x}", digest(&format!("2:{}", names.join(","))) as u32)
}

/// SQLite: the FTS5 table of `entity`.
pub(crate) fn fts_table(entity: &Entity) -> String {
    format!("{}_search_{}", table_name(entity), signature(entity))
}

/// PostgreSQL: the `tsvector` column of `entity`; MariaDB: its text column under a FULLTEXT
/// index.
pub(crate) fn search_column(entity: &Entity) -> String {
    format!("kw_search_{}", signature(entity))
}

/// Whether `column` is a search column rather than a property's.
pub(crate) fn is_search_column(column: &str) -> bool {
    column.starts_with("kw_search_")
}

async fn names(store: &Store, sql: &str, table: &str) -> Result<Vec<String>, TableError> {
    let rows = store
        .dyn_fetch(
            sql,
            &[DynValue::Text(table.to_string())],
            &[ColumnKind::Text],
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(DynValue::Text(name)) => Some(name),
            _ => None,
        })
        .collect())
}

/// Makes `entity`'s full-text index match its searchable properties.
pub(crate) async fn sync_search(
    store: &Store,
    entity: &Entity,
    dialect: Dialect,
) -> Result<(), TableError> {
    let wanted = !entity.searchable().is_empty();
    let table = table_name(entity);
    let t = quote(dialect, &table);
    let mut statements = Vec::new();
    match dialect {
        Dialect::Sqlite => {
            let expected = fts_table(entity);
            let existing = names(
                store,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? \
                 AND sql LIKE 'CREATE VIRTUAL TABLE%'",
                &format!("{table}_search_%"),
            )
            .await?;
            for old in existing.iter().filter(|n| **n != expected || !wanted) {
                for suffix in ["ai", "ad", "au"] {
                    statements.push(format!(
                        "DROP TRIGGER IF EXISTS {}",
                        quote(dialect, &format!("{old}_{suffix}"))
                    ));
                }
                statements.push(format!("DROP TABLE IF EXISTS {}", quote(dialect, old)));
            }
            if wanted && !existing.contains(&expected) {
                statements.extend(sqlite_index(entity, &t, &expected));
            }
        }
        Dialect::Postgres | Dialect::Mysql => {
            let expected = search_column(entity);
            let existing: Vec<String> = store
                .table_columns(&table)
                .await?
                .into_iter()
                .filter(|c| is_search_column(c))
                .collect();
            for old in existing.iter().filter(|n| **n != expected || !wanted) {
                statements.push(format!(
                    "ALTER TABLE {t} DROP COLUMN {}",
                    quote(dialect, old)
                ));
            }
            if wanted && !existing.contains(&expected) {
                statements.extend(generated_index(entity, dialect, &table, &expected));
            }
        }
    }
    if !statements.is_empty() {
        store.dyn_ddl(&statements).await?;
    }
    Ok(())
}

/// PostgreSQL and MariaDB: a stored generated column of the searchable text, indexed. On
/// MariaDB it has a case- and accent-insensitive collation of its own: the tables' binary
/// collation (exact `$filter` comparisons) would make a FULLTEXT search case-sensitive.
fn generated_index(entity: &Entity, dialect: Dialect, table: &str, column: &str) -> Vec<String> {
    let t = quote(dialect, table);
    let c = quote(dialect, column);
    let names: Vec<String> = entity
        .searchable()
        .iter()
        .map(|p| quote(dialect, &p.name))
        .collect();
    if dialect == Dialect::Postgres {
        let text: Vec<String> = names.iter().map(|n| format!("coalesce({n}, '')")).collect();
        vec![
            format!(
                "ALTER TABLE {t} ADD COLUMN {c} tsvector GENERATED ALWAYS AS \
                 (to_tsvector('simple', {})) STORED",
                text.join(" || ' ' || ")
            ),
            // Without the pending list (`fastupdate`), whose entries every search reads one
            // by one until a vacuum: busy tables searched often are the data API's case.
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} USING GIN ({c}) WITH (fastupdate = off)",
                quote(dialect, &format!("{table}_{column}_idx"))
            ),
        ]
    } else {
        vec![
            format!(
                "ALTER TABLE {t} ADD COLUMN {c} TEXT CHARACTER SET utf8mb4 COLLATE \
                 utf8mb4_unicode_ci AS (CONCAT_WS(' ', {})) STORED",
                names.join(", ")
            ),
            format!("CREATE FULLTEXT INDEX {c} ON {t} ({c})"),
        ]
    }
}

/// The FTS5 table over `table` (quoted) and its triggers, filled from the rows there. One
/// column holds the searchable properties' text joined, as PostgreSQL's `tsvector` and
/// MariaDB's generated column do: a phrase may then span two properties (`"bob smith"`) on
/// every backend alike. Contentless: the triggers give the text to delete.
fn sqlite_index(entity: &Entity, table: &str, fts: &str) -> Vec<String> {
    let d = Dialect::Sqlite;
    let f = quote(d, fts);
    let text = |row: &str| {
        entity
            .searchable()
            .iter()
            .map(|p| format!("coalesce({row}{}, '')", quote(d, &p.name)))
            .collect::<Vec<_>>()
            .join(" || ' ' || ")
    };
    let trigger = |suffix: &str| quote(d, &format!("{fts}_{suffix}"));
    vec![
        format!(
            "CREATE VIRTUAL TABLE {f} USING fts5(text, content='', \
             tokenize='unicode61 remove_diacritics 2')"
        ),
        format!(
            "CREATE TRIGGER {} AFTER INSERT ON {table} BEGIN \
             INSERT INTO {f}(rowid, text) VALUES (new.rowid, {}); END",
            trigger("ai"),
            text("new.")
        ),
        format!(
            "CREATE TRIGGER {} AFTER DELETE ON {table} BEGIN \
             INSERT INTO {f}({f}, rowid, text) VALUES ('delete', old.rowid, {}); END",
            trigger("ad"),
            text("old.")
        ),
        format!(
            "CREATE TRIGGER {} AFTER UPDATE ON {table} BEGIN \
             INSERT INTO {f}({f}, rowid, text) VALUES ('delete', old.rowid, {}); \
             INSERT INTO {f}(rowid, text) VALUES (new.rowid, {}); END",
            trigger("au"),
            text("old."),
            text("new.")
        ),
        format!(
            "INSERT INTO {f}(rowid, text) SELECT rowid, {} FROM {table}",
            text("")
        ),
    ]
}
