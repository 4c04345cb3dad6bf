//! One real table per entity: `data_<entity>` with `id`, `version` (the ETag), timestamps, and
//! a typed column per property, indexes on filterable properties. Schema changes migrate the
//! table: new properties become new (nullable) columns; a column whose property was removed
//! is dropped only when the operator says so.

use keyway_store::{ColumnKind, Store};

use crate::filter::sql::quote;
use crate::{Dialect, Entity, PropertyType, SchemaSet};

/// Why the tables could not be brought in line with the schemas.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(
        "table {table} has columns no longer in the schema ({columns}); \
         start with --allow-drop-columns to drop them (their data is lost)"
    )]
    WouldDrop { table: String, columns: String },
    #[error(transparent)]
    Store(#[from] keyway_store::StoreError),
}

pub fn table_name(entity: &Entity) -> String {
    format!("data_{}", entity.name.to_ascii_lowercase())
}

/// How a property is stored (see `filter/sql.rs` for the text formats).
pub(crate) fn column_kind(kind: PropertyType) -> ColumnKind {
    match kind {
        PropertyType::Integer | PropertyType::Boolean => ColumnKind::Int,
        PropertyType::Number => ColumnKind::Float,
        _ => ColumnKind::Text,
    }
}

fn sql_type(kind: ColumnKind, dialect: Dialect) -> &'static str {
    match (kind, dialect) {
        (ColumnKind::Int, _) => "BIGINT",
        (ColumnKind::Float, Dialect::Postgres) => "DOUBLE PRECISION",
        (ColumnKind::Float, _) => "DOUBLE",
        (ColumnKind::Text, _) => "TEXT",
    }
}

fn create_statements(entity: &Entity, dialect: Dialect) -> Vec<String> {
    let table = table_name(entity);
    let id_type = if dialect == Dialect::Mysql {
        "VARCHAR(36)"
    } else {
        "TEXT"
    };
    let mut columns = vec![
        format!("{} {id_type} PRIMARY KEY", quote(dialect, "id")),
        format!("{} BIGINT NOT NULL", quote(dialect, "version")),
        format!("{} BIGINT NOT NULL", quote(dialect, "created_at")),
        format!("{} BIGINT NOT NULL", quote(dialect, "updated_at")),
    ];
    for p in &entity.properties {
        columns.push(format!(
            "{} {}",
            quote(dialect, &p.name),
            sql_type(column_kind(p.kind), dialect)
        ));
    }
    let suffix = if dialect == Dialect::Mysql {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    } else {
        ""
    };
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS {} ({}){suffix}",
        quote(dialect, &table),
        columns.join(", ")
    )];
    statements.extend(
        entity
            .properties
            .iter()
            .filter(|p| p.filterable)
            .map(|p| index_statement(&table, &p.name, p.kind, dialect)),
    );
    statements
}

fn index_statement(table: &str, column: &str, kind: PropertyType, dialect: Dialect) -> String {
    let name = quote(
        dialect,
        &format!("{table}_{}_idx", column.to_ascii_lowercase()),
    );
    // MySQL indexes TEXT only by a prefix; 191 characters of utf8mb4 fit its key limit.
    let target = if dialect == Dialect::Mysql && column_kind(kind) == ColumnKind::Text {
        format!("{}(191)", quote(dialect, column))
    } else {
        quote(dialect, column)
    };
    format!(
        "CREATE INDEX IF NOT EXISTS {name} ON {} ({target})",
        quote(dialect, table)
    )
}

const SYSTEM_COLUMNS: [&str; 4] = ["id", "version", "created_at", "updated_at"];

/// Creates missing tables, adds columns for new properties, and refuses (or, allowed, drops)
/// columns of removed properties.
pub async fn sync_tables(
    store: &Store,
    schemas: &SchemaSet,
    dialect: Dialect,
    allow_drop: bool,
) -> Result<(), TableError> {
    for entity in schemas.entities() {
        let table = table_name(entity);
        let existing = store.table_columns(&table).await?;
        if existing.is_empty() {
            store.dyn_ddl(&create_statements(entity, dialect)).await?;
            continue;
        }
        let has = |name: &str| existing.iter().any(|c| c.eq_ignore_ascii_case(name));
        let mut statements = Vec::new();
        for p in entity.properties.iter().filter(|p| !has(&p.name)) {
            statements.push(format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(dialect, &table),
                quote(dialect, &p.name),
                sql_type(column_kind(p.kind), dialect)
            ));
            if p.filterable {
                statements.push(index_statement(&table, &p.name, p.kind, dialect));
            }
        }
        let removed: Vec<&String> = existing
            .iter()
            .filter(|c| !SYSTEM_COLUMNS.contains(&c.as_str()) && entity.property(c).is_none())
            .collect();
        if !removed.is_empty() {
            if !allow_drop {
                return Err(TableError::WouldDrop {
                    table,
                    columns: removed
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            for column in removed {
                // An indexed column cannot be dropped (SQLite refuses): drop its index first.
                let index = quote(
                    dialect,
                    &format!("{table}_{}_idx", column.to_ascii_lowercase()),
                );
                statements.push(match dialect {
                    Dialect::Mysql => {
                        format!("DROP INDEX IF EXISTS {index} ON {}", quote(dialect, &table))
                    }
                    _ => format!("DROP INDEX IF EXISTS {index}"),
                });
                statements.push(format!(
                    "ALTER TABLE {} DROP COLUMN {}",
                    quote(dialect, &table),
                    quote(dialect, column)
                ));
            }
        }
        store.dyn_ddl(&statements).await?;
    }
    Ok(())
}
