//! One real table per entity: `data_<entity>` with `id`, `version` (the ETag), timestamps, and
//! a typed column per property, indexes on filterable properties. Schema changes migrate the
//! table: new properties become new (nullable) columns; a column whose property was removed
//! is dropped only when the operator says so.

use keyway_store::{ColumnKind, DynValue, Store};

use crate::filter::sql::quote;
use crate::schema::{IdType, OnDelete, Relation, RelationKind};
use crate::search_index::{is_search_column, sync_search};
use crate::{Dialect, Entity, Property, PropertyType, SchemaSet};

/// Why the tables could not be brought in line with the schemas.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(
        "table {table} has columns no longer in the schema ({columns}); \
         start with --allow-drop-columns to drop them (their data is lost)"
    )]
    WouldDrop { table: String, columns: String },
    #[error(
        "{table}.{column} is the key of relation {relation} but has no foreign key yet, and \
         {rows} of its rows name a {target} that does not exist: correct or clear them first"
    )]
    Orphans {
        table: String,
        column: String,
        relation: String,
        target: String,
        rows: i64,
    },
    #[error(
        "{table}.{column} became the key of relation {relation}; SQLite cannot add a foreign key \
         to an existing column: add the relation with a new key property (and copy the values \
         over), or export, drop the table and start again"
    )]
    SqliteExistingColumn {
        table: String,
        column: String,
        relation: String,
    },
    #[error(
        "{table}.{column} has a foreign key with ON DELETE {rule}, but the schema now says \
         {now}; SQLite cannot change a foreign key: export the data, drop the table and start \
         again (or put the relation back as it was)"
    )]
    SqliteForeignKeyChanged {
        table: String,
        column: String,
        rule: String,
        now: String,
    },
    #[error(
        "table {table} holds {entity}s with {was} ids, but the schema now says id: {now}; ids \
         cannot change type in place: put `id: {was}` back, or save the rows (keyway data \
         export), drop the table (and the tables whose relations name it) and create the items \
         again through the API"
    )]
    IdTypeChanged {
        table: String,
        entity: String,
        was: &'static str,
        now: &'static str,
    },
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

/// The to-one relation whose key `property` is, if any.
fn key_of<'a>(entity: &'a Entity, property: &str) -> Option<(&'a Relation, OnDelete)> {
    entity.relations.iter().find_map(|r| match &r.kind {
        RelationKind::ToOne { key, on_delete } if key == property => Some((r, *on_delete)),
        _ => None,
    })
}

/// The column type of `property` (a relation key is typed like the `id` it holds: MariaDB
/// joins and constrains only equal types).
fn column_type(entity: &Entity, property: &Property, dialect: Dialect) -> &'static str {
    if dialect == Dialect::Mysql
        && property.kind == PropertyType::Uuid
        && key_of(entity, &property.name).is_some()
    {
        return "VARCHAR(36)";
    }
    sql_type(column_kind(property.kind), dialect)
}

/// A constraint's name: readable, or (past MariaDB's 64 and PostgreSQL's 63 characters) a
/// stable digest of it — MariaDB wants foreign key names unique in the whole database.
fn constraint_name(table: &str, column: &str) -> String {
    let readable = format!("{table}_{}_fk", column.to_ascii_lowercase());
    if readable.len() <= 63 {
        return readable;
    }
    format!("fk_{:016x}", digest(&readable))
}

/// FNV-1a of `text`: stable across builds and platforms, unlike std's hasher (names made
/// from it must be the same at every start).
pub(crate) fn digest(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `FOREIGN KEY (key) REFERENCES data_target (id) ON DELETE …` for `relation` of `entity`.
fn foreign_key(entity: &Entity, relation: &Relation, dialect: Dialect) -> Option<String> {
    let RelationKind::ToOne { key, on_delete } = &relation.kind else {
        return None;
    };
    Some(format!(
        "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
        quote(dialect, &constraint_name(&table_name(entity), key)),
        quote(dialect, key),
        quote(dialect, &target_table(&relation.target)),
        quote(dialect, "id"),
        on_delete.sql()
    ))
}

fn target_table(target: &str) -> String {
    format!("data_{}", target.to_ascii_lowercase())
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
    // An integer id on SQLite is the rowid itself (`INTEGER PRIMARY KEY`).
    let id_type = match (entity.id_type, dialect) {
        (IdType::Integer, Dialect::Sqlite) => "INTEGER",
        (IdType::Integer, _) => "BIGINT",
        (IdType::Uuid, Dialect::Mysql) => "VARCHAR(36)",
        (IdType::Uuid, _) => "TEXT",
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
            column_type(entity, p, dialect)
        ));
    }
    // SQLite cannot add a constraint later; the others get theirs once every table exists
    // (relations may form cycles).
    if dialect == Dialect::Sqlite {
        columns.extend(
            entity
                .relations
                .iter()
                .filter_map(|r| foreign_key(entity, r, dialect)),
        );
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
            .map(|p| index_statement(entity, p, dialect)),
    );
    statements
}

fn index_statement(entity: &Entity, property: &Property, dialect: Dialect) -> String {
    let table = table_name(entity);
    let column = &property.name;
    let name = quote(
        dialect,
        &format!("{table}_{}_idx", column.to_ascii_lowercase()),
    );
    // MySQL indexes TEXT only by a prefix; 191 characters of utf8mb4 fit its key limit.
    let text = column_type(entity, property, dialect) == "TEXT";
    let target = if dialect == Dialect::Mysql && text {
        format!("{}(191)", quote(dialect, column))
    } else {
        quote(dialect, column)
    };
    format!(
        "CREATE INDEX IF NOT EXISTS {name} ON {} ({target})",
        quote(dialect, &table)
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
    crate::id_counters::check_id_types(store, schemas).await?;
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
            let mut column = format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(dialect, &table),
                quote(dialect, &p.name),
                column_type(entity, p, dialect)
            );
            if let (Dialect::Sqlite, Some((relation, on_delete))) =
                (dialect, key_of(entity, &p.name))
            {
                // SQLite's only way to constrain a column after CREATE TABLE.
                column.push_str(&format!(
                    " REFERENCES {} ({}) ON DELETE {}",
                    quote(dialect, &target_table(&relation.target)),
                    quote(dialect, "id"),
                    on_delete.sql()
                ));
            }
            statements.push(column);
            if p.filterable {
                statements.push(index_statement(entity, p, dialect));
            }
        }
        let removed: Vec<&String> = existing
            .iter()
            .filter(|c| {
                !SYSTEM_COLUMNS.contains(&c.as_str())
                    && !is_search_column(c)
                    && entity.property(c).is_none()
            })
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
            // The search index (its triggers, its generated column) may read a column that
            // goes: it is remade over the properties that stay before any column is dropped.
            store.dyn_ddl(&std::mem::take(&mut statements)).await?;
            sync_search(store, entity, dialect).await?;
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
    for entity in schemas.entities() {
        constrain_keys(store, entity, dialect).await?;
        sync_search(store, entity, dialect).await?;
    }
    crate::id_counters::sync_id_counters(store, schemas, dialect).await?;
    Ok(())
}

/// Gives every relation key of `entity` its foreign key, where it has none yet.
async fn constrain_keys(
    store: &Store,
    entity: &Entity,
    dialect: Dialect,
) -> Result<(), TableError> {
    let table = table_name(entity);
    let existing = store.foreign_keys(&table).await?;
    // Foreign keys the schema no longer wants, or wants with another ON DELETE: the database
    // would otherwise go on cascading (or refusing) where the schema — and the scope checks
    // that follow it — say otherwise.
    let mut constrained = Vec::new();
    let mut drops = Vec::new();
    for fk in &existing {
        let wanted = key_of(entity, &fk.column).map(|(_, on_delete)| on_delete);
        if wanted.is_some_and(|rule| rule.sql() == fk.delete_rule.to_ascii_uppercase()) {
            constrained.push(fk.column.clone());
            continue;
        }
        if dialect == Dialect::Sqlite {
            return Err(TableError::SqliteForeignKeyChanged {
                table,
                column: fk.column.clone(),
                rule: fk.delete_rule.clone(),
                now: wanted.map_or("no relation".into(), |rule| {
                    format!("onDelete: {}", rule.as_str())
                }),
            });
        }
        if fk.constraint == constraint_name(&table, &fk.column) {
            drops.push(match dialect {
                Dialect::Mysql => format!(
                    "ALTER TABLE {} DROP FOREIGN KEY {}",
                    quote(dialect, &table),
                    quote(dialect, &fk.constraint)
                ),
                _ => format!(
                    "ALTER TABLE {} DROP CONSTRAINT {}",
                    quote(dialect, &table),
                    quote(dialect, &fk.constraint)
                ),
            });
        }
    }
    store.dyn_ddl(&drops).await?;
    for relation in &entity.relations {
        let RelationKind::ToOne { key, .. } = &relation.kind else {
            continue;
        };
        if constrained.iter().any(|c| c.eq_ignore_ascii_case(key)) {
            continue;
        }
        if dialect == Dialect::Sqlite {
            return Err(TableError::SqliteExistingColumn {
                table,
                column: key.clone(),
                relation: relation.name.clone(),
            });
        }
        let orphans = format!(
            "SELECT COUNT(*) FROM {t} WHERE {k} IS NOT NULL AND {k} NOT IN (SELECT {id} FROM {target})",
            t = quote(dialect, &table),
            k = quote(dialect, key),
            id = quote(dialect, "id"),
            target = quote(dialect, &target_table(&relation.target)),
        );
        let rows = match store
            .dyn_fetch(&orphans, &[], &[ColumnKind::Int])
            .await?
            .first()
            .and_then(|r| r.first())
        {
            Some(DynValue::Int(n)) => *n,
            _ => 0,
        };
        if rows > 0 {
            return Err(TableError::Orphans {
                table,
                column: key.clone(),
                relation: relation.name.clone(),
                target: relation.target.clone(),
                rows,
            });
        }
        let mut statements = Vec::new();
        let uuid_key = entity
            .property(key)
            .is_some_and(|p| p.kind == PropertyType::Uuid);
        if dialect == Dialect::Mysql && uuid_key {
            // A TEXT column (a plain uuid property until now) becomes VARCHAR(36), whose index
            // is whole rather than a prefix.
            let index = quote(
                dialect,
                &format!("{table}_{}_idx", key.to_ascii_lowercase()),
            );
            statements.push(format!(
                "DROP INDEX IF EXISTS {index} ON {}",
                quote(dialect, &table)
            ));
            statements.push(format!(
                "ALTER TABLE {} MODIFY {} VARCHAR(36)",
                quote(dialect, &table),
                quote(dialect, key)
            ));
            if let Some(property) = entity.property(key) {
                statements.push(index_statement(entity, property, dialect));
            }
        }
        if let Some(constraint) = foreign_key(entity, relation, dialect) {
            statements.push(format!(
                "ALTER TABLE {} ADD {constraint}",
                quote(dialect, &table)
            ));
        }
        store.dyn_ddl(&statements).await?;
    }
    Ok(())
}
