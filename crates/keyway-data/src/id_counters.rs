//! Integer ids (`id: integer`): one counter per entity in the table `kw_data_ids`, moved on
//! and read back in one transaction, so two hubs on one database never hand out the same id.
//! A client may also give an id; the counter then moves past it, so the ids it hands out
//! later do not collide with the ones given (a gap is harmless, as with any sequence).

use keyway_store::{ColumnKind, DynStatement, DynValue, Store};

use crate::filter::sql::quote;
use crate::table::{TableError, table_name};
use crate::{DataError, Dialect, Entity, IdType, SchemaSet};

const COUNTERS: &str = "kw_data_ids";

/// Creates the counters table, refuses an entity whose id type changed, and gives every
/// integer entity its counter (after its highest id). Runs before the entity tables are
/// made: `existing` says which of them were there already.
pub(crate) async fn check_id_types(
    store: &Store,
    schemas: &SchemaSet,
    dialect: Dialect,
    existing: &dyn Fn(&Entity) -> bool,
) -> Result<(), TableError> {
    let name_type = if dialect == Dialect::Mysql {
        "VARCHAR(64)"
    } else {
        "TEXT"
    };
    store
        .dyn_ddl(&[format!(
            "CREATE TABLE IF NOT EXISTS {} ({} {name_type} PRIMARY KEY, {} BIGINT NOT NULL)",
            quote(dialect, COUNTERS),
            quote(dialect, "entity"),
            quote(dialect, "next_id"),
        )])
        .await?;
    let counted: Vec<String> = store
        .dyn_fetch(
            &format!(
                "SELECT {} FROM {}",
                quote(dialect, "entity"),
                quote(dialect, COUNTERS)
            ),
            &[],
            &[ColumnKind::Text],
        )
        .await?
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(DynValue::Text(name)) => Some(name),
            _ => None,
        })
        .collect();
    for entity in schemas.entities() {
        let has_counter = counted.contains(&entity.name.to_ascii_lowercase());
        let integer = entity.id_type == IdType::Integer;
        // A table made with the other id type: its id column cannot hold the new ids.
        if existing(entity) && has_counter != integer {
            let (was, now) = if integer {
                ("uuid", "integer")
            } else {
                ("integer", "uuid")
            };
            return Err(TableError::IdTypeChanged {
                table: table_name(entity),
                entity: entity.name.clone(),
                was,
                now,
            });
        }
    }
    Ok(())
}

/// Gives each integer entity without one a counter after its highest id (run once its table
/// exists).
pub(crate) async fn seed_counters(
    store: &Store,
    schemas: &SchemaSet,
    dialect: Dialect,
) -> Result<(), TableError> {
    for entity in schemas.entities() {
        if entity.id_type != IdType::Integer {
            continue;
        }
        let name = entity.name.to_ascii_lowercase();
        store
            .dyn_execute(
                &format!(
                    "INSERT INTO {c} ({e}, {n}) SELECT ?, COALESCE(MAX({id}), 0) + 1 FROM {t} \
                     WHERE NOT EXISTS (SELECT 1 FROM {c} WHERE {e} = ?)",
                    c = quote(dialect, COUNTERS),
                    e = quote(dialect, "entity"),
                    n = quote(dialect, "next_id"),
                    id = quote(dialect, "id"),
                    t = quote(dialect, &table_name(entity)),
                ),
                &[DynValue::Text(name.clone()), DynValue::Text(name)],
            )
            .await?;
    }
    Ok(())
}

/// Takes `count` ids for `entity` from its counter: the first of them.
pub(crate) async fn take_ids(
    store: &Store,
    dialect: Dialect,
    entity: &Entity,
    count: usize,
) -> Result<i64, DataError> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let name = DynValue::Text(entity.name.to_ascii_lowercase());
    let moved = DynStatement {
        sql: format!(
            "UPDATE {} SET {n} = {n} + ? WHERE {} = ?",
            quote(dialect, COUNTERS),
            quote(dialect, "entity"),
            n = quote(dialect, "next_id"),
        ),
        values: vec![DynValue::Int(count), name.clone()],
        expect_rows: Some(1),
    };
    let read = format!(
        "SELECT {} FROM {} WHERE {} = ?",
        quote(dialect, "next_id"),
        quote(dialect, COUNTERS),
        quote(dialect, "entity"),
    );
    let rows = store
        .dyn_unit_then_fetch(&[moved], (&read, &[name], &[ColumnKind::Int]))
        .await
        .map_err(|failed| match failed.cause {
            keyway_store::UnitCause::Store(e) => DataError::Store(e),
            keyway_store::UnitCause::Rows { .. } => DataError::BadRequest(format!(
                "{} has no id counter: restart the hub to create it",
                entity.name
            )),
        })?;
    let next = match rows.first().and_then(|row| row.first()) {
        Some(DynValue::Int(next)) => *next,
        _ => 1,
    };
    let first = next - count;
    if next - 1 > crate::schema::MAX_INTEGER_ID {
        return Err(DataError::BadRequest(format!(
            "{}'s ids are used up (the largest is {})",
            entity.name,
            crate::schema::MAX_INTEGER_ID
        )));
    }
    Ok(first)
}

/// Moves `entity`'s counter past `id`, which a client gave (in the same transaction as the
/// row it names).
pub(crate) fn passing(dialect: Dialect, entity: &Entity, id: i64) -> DynStatement {
    DynStatement {
        sql: format!(
            "UPDATE {} SET {n} = ? WHERE {} = ? AND {n} <= ?",
            quote(dialect, COUNTERS),
            quote(dialect, "entity"),
            n = quote(dialect, "next_id"),
        ),
        values: vec![
            DynValue::Int(id.saturating_add(1)),
            DynValue::Text(entity.name.to_ascii_lowercase()),
            DynValue::Int(id),
        ],
        expect_rows: None,
    }
}

/// The ids of the items one write creates. A deep insert is planned twice: a first pass
/// counts the integer ids it needs per entity, which are then taken from the counters in one
/// go each, and a second pass hands them out (a client's own `id` is used as given).
pub(crate) struct NewIds {
    counting: bool,
    wanted: std::collections::BTreeMap<String, usize>,
    taken: std::collections::BTreeMap<String, std::ops::Range<i64>>,
}

impl NewIds {
    pub(crate) fn counting() -> NewIds {
        NewIds {
            counting: true,
            wanted: Default::default(),
            taken: Default::default(),
        }
    }

    /// Whether the first pass asked for integer ids (a second pass is then needed).
    pub(crate) fn wants_any(&self) -> bool {
        !self.wanted.is_empty()
    }

    /// Takes what the counting pass asked for, and turns to handing it out.
    pub(crate) async fn take(&mut self, service: &crate::DataService) -> Result<(), DataError> {
        for (name, count) in std::mem::take(&mut self.wanted) {
            let entity = service.entity(&name)?;
            let first = take_ids(&service.store, service.dialect(), entity, count).await?;
            let end = first.saturating_add(i64::try_from(count).unwrap_or(i64::MAX));
            self.taken.insert(name, first..end);
        }
        self.counting = false;
        Ok(())
    }

    /// The id of a new `entity` item whose body is `object`, and the client's integer id if
    /// it gave one.
    pub(crate) fn next(
        &mut self,
        service: &crate::DataService,
        entity: &Entity,
        object: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(String, Option<i64>), DataError> {
        if entity.id_type == IdType::Uuid {
            return Ok(((service.new_id)(), None));
        }
        let given = object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("id"))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null());
        if let Some(value) = given {
            let id = given_id(entity, value)?;
            return Ok((id.to_string(), Some(id)));
        }
        if self.counting {
            *self.wanted.entry(entity.name.clone()).or_default() += 1;
            // A stand-in: the plan of this pass is thrown away.
            return Ok(("1".into(), None));
        }
        let id = self
            .taken
            .get_mut(&entity.name)
            .and_then(Iterator::next)
            .ok_or_else(|| DataError::BadRequest("the write changed while planned".into()))?;
        Ok((id.to_string(), None))
    }
}

/// A client's integer id for a new `entity` item.
pub(crate) fn given_id(entity: &Entity, value: &serde_json::Value) -> Result<i64, DataError> {
    value
        .as_i64()
        .filter(|id| (1..=crate::schema::MAX_INTEGER_ID).contains(id))
        .ok_or_else(|| {
            DataError::BadRequest(format!(
                "id: {}'s ids are integers from 1 to {}; {value} is not one",
                entity.name,
                crate::schema::MAX_INTEGER_ID
            ))
        })
}

#[cfg(test)]
mod tests {
    use crate::{Dialect, SchemaSet, sync_tables};

    #[tokio::test]
    async fn an_id_type_cannot_change_under_existing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("data.db").display());
        let store = keyway_store::Store::open(&url).await.unwrap();
        let uuid = SchemaSet::parse(
            "entities:\n  Item:\n    properties:\n      name: { type: string }\n",
            true,
            "t",
        )
        .unwrap();
        let integer = SchemaSet::parse(
            "entities:\n  Item:\n    id: integer\n    properties:\n      name: { type: string }\n",
            true,
            "t",
        )
        .unwrap();
        sync_tables(&store, &uuid, Dialect::Sqlite, false)
            .await
            .unwrap();
        let err = sync_tables(&store, &integer, Dialect::Sqlite, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds Items with uuid ids, but the schema now says id: integer"),
            "{err}"
        );
        sync_tables(&store, &uuid, Dialect::Sqlite, false)
            .await
            .unwrap();
    }

    #[test]
    fn schemas_name_a_wrong_id_type_or_key_type() {
        let error = |text: &str| SchemaSet::parse(text, true, "t").unwrap_err().to_string();
        assert_eq!(
            error(
                "entities:\n  Item:\n    id: int\n    properties:\n      name: { type: string }\n"
            ),
            "Item.id: \"int\" is not an id type (uuid or integer)"
        );
        let mismatch = "entities:\n  Item:\n    id: integer\n    properties:\n      name: { type: string }\n  Line:\n    properties:\n      itemId: { type: uuid }\n    relations:\n      item: { entity: Item, key: itemId }\n";
        assert_eq!(
            error(mismatch),
            "Line.relations.item.key: itemId must have type integer (it holds the target's id)"
        );
    }
}
