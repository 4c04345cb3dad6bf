//! Integer ids (`id: integer`): one counter per entity in the table `kw_data_ids`, moved on
//! and read back in one transaction, so two hubs on one database never hand out the same id.
//! A client may also choose an id. The counter does not jump past chosen ids (one chosen near
//! 2^53 would use every id up); instead the ids it hands out are checked against the table,
//! and a run of chosen ones ahead of it is stepped over (a gap is harmless, as with any
//! sequence).

use std::collections::{BTreeMap, BTreeSet};

use keyway_store::{ColumnKind, DynStatement, DynValue, Store};

use crate::filter::sql::quote;
use crate::schema::MAX_INTEGER_ID;
use crate::table::{TableError, table_name};
use crate::{DataError, Dialect, Entity, IdType, SchemaSet};

const COUNTERS: &str = "kw_data_ids";
/// Times a take steps over ids chosen ahead of the counter before it gives up.
const MAX_STEPS: usize = 8;

/// Refuses an entity whose existing table's id column has the other type (as the database
/// declares it). Runs before any table is changed.
pub(crate) async fn check_id_types(store: &Store, schemas: &SchemaSet) -> Result<(), TableError> {
    for entity in schemas.entities() {
        let table = table_name(entity);
        let Some(declared) = store.column_type(&table, "id").await? else {
            continue;
        };
        let integer_column = declared.to_ascii_lowercase().contains("int");
        let integer = entity.id_type == IdType::Integer;
        if integer_column != integer {
            let (was, now) = if integer {
                ("uuid", "integer")
            } else {
                ("integer", "uuid")
            };
            return Err(TableError::IdTypeChanged {
                table,
                entity: entity.name.clone(),
                was,
                now,
            });
        }
    }
    Ok(())
}

/// Creates the counters table and gives every integer entity a counter after its highest id
/// if it has none (also after the counters were lost). Runs once the entity tables exist;
/// two hubs may run it at once.
pub(crate) async fn sync_id_counters(
    store: &Store,
    schemas: &SchemaSet,
    dialect: Dialect,
) -> Result<(), TableError> {
    let name_type = if dialect == Dialect::Mysql {
        "VARCHAR(64)"
    } else {
        "TEXT"
    };
    let (c, e, n) = (
        quote(dialect, COUNTERS),
        quote(dialect, "entity"),
        quote(dialect, "next_id"),
    );
    store
        .dyn_ddl(&[format!(
            "CREATE TABLE IF NOT EXISTS {c} ({e} {name_type} PRIMARY KEY, {n} BIGINT NOT NULL)"
        )])
        .await?;
    for entity in schemas.entities() {
        if entity.id_type != IdType::Integer {
            continue;
        }
        let table = table_name(entity);
        let name = entity.name.to_ascii_lowercase();
        let seeded = store
            .dyn_execute(
                &format!(
                    "INSERT INTO {c} ({e}, {n}) SELECT ?, COALESCE(MAX({id}), 0) + 1 FROM {t} \
                     WHERE NOT EXISTS (SELECT 1 FROM {c} WHERE {e} = ?)",
                    id = quote(dialect, "id"),
                    t = quote(dialect, &table),
                ),
                &[DynValue::Text(name.clone()), DynValue::Text(name)],
            )
            .await;
        match seeded {
            // Another hub seeded it in the meantime.
            Err(e) if e.is_unique_violation() => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Takes `count` consecutive ids for `entity` that no row holds: the first of them.
pub(crate) async fn take_ids(
    store: &Store,
    dialect: Dialect,
    entity: &Entity,
    count: usize,
) -> Result<i64, DataError> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    for _ in 0..MAX_STEPS {
        let first = move_counter(store, dialect, entity, count).await?;
        let last = first.saturating_add(count - 1);
        if last > MAX_INTEGER_ID {
            return Err(DataError::BadRequest(format!(
                "{}'s ids are used up (the largest is {MAX_INTEGER_ID})",
                entity.name
            )));
        }
        let (t, id) = (quote(dialect, &table_name(entity)), quote(dialect, "id"));
        let held = store
            .dyn_fetch(
                &format!("SELECT COUNT(*) FROM {t} WHERE {id} >= ? AND {id} <= ?"),
                &[DynValue::Int(first), DynValue::Int(last)],
                &[ColumnKind::Int],
            )
            .await?;
        if matches!(held.first().and_then(|r| r.first()), Some(DynValue::Int(0))) {
            return Ok(first);
        }
        // Chosen ids lie ahead: go to the first held id from here that `count` free ones
        // follow (by the primary key, stopping at the first such gap).
        let free = store
            .dyn_fetch(
                &format!(
                    "SELECT a.{id} + 1 FROM {t} AS a WHERE a.{id} >= ? AND NOT EXISTS \
                     (SELECT 1 FROM {t} AS b WHERE b.{id} > a.{id} AND b.{id} <= a.{id} + ?) \
                     ORDER BY a.{id} LIMIT 1"
                ),
                &[DynValue::Int(first), DynValue::Int(count)],
                &[ColumnKind::Int],
            )
            .await?;
        if let Some(DynValue::Int(free)) = free.first().and_then(|r| r.first()) {
            raise_counter(store, dialect, entity, *free).await?;
        }
    }
    Err(DataError::Conflict(format!(
        "no free ids for {} after the counter: clients chose too many of the next ones",
        entity.name
    )))
}

/// Moves `entity`'s counter on by `count`: the first id of those passed.
async fn move_counter(
    store: &Store,
    dialect: Dialect,
    entity: &Entity,
    count: i64,
) -> Result<i64, DataError> {
    let name = DynValue::Text(entity.name.to_ascii_lowercase());
    let (c, e, n) = (
        quote(dialect, COUNTERS),
        quote(dialect, "entity"),
        quote(dialect, "next_id"),
    );
    let moved = DynStatement {
        sql: format!("UPDATE {c} SET {n} = {n} + ? WHERE {e} = ?"),
        values: vec![DynValue::Int(count), name.clone()],
        expect_rows: Some(1),
    };
    let read = format!("SELECT {n} FROM {c} WHERE {e} = ?");
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
    match rows.first().and_then(|row| row.first()) {
        Some(DynValue::Int(next)) => Ok(next - count),
        _ => Err(DataError::BadRequest(format!(
            "{} has no id counter: restart the hub to create it",
            entity.name
        ))),
    }
}

/// Moves `entity`'s counter to `next` unless it is there already.
async fn raise_counter(
    store: &Store,
    dialect: Dialect,
    entity: &Entity,
    next: i64,
) -> Result<(), DataError> {
    let (c, e, n) = (
        quote(dialect, COUNTERS),
        quote(dialect, "entity"),
        quote(dialect, "next_id"),
    );
    store
        .dyn_execute(
            &format!("UPDATE {c} SET {n} = ? WHERE {e} = ? AND {n} < ?"),
            &[
                DynValue::Int(next),
                DynValue::Text(entity.name.to_ascii_lowercase()),
                DynValue::Int(next),
            ],
        )
        .await?;
    Ok(())
}

/// The ids of the items one write creates. A deep insert is planned twice: a first pass
/// counts the integer ids it needs per entity and notes the ones the client chose; the ids
/// are then taken from the counters in one go per entity (with room to step over the chosen
/// ones), and a second pass hands them out.
pub(crate) struct NewIds {
    counting: bool,
    wanted: BTreeMap<String, usize>,
    chosen: BTreeMap<String, BTreeSet<i64>>,
    /// Ids other writes of the same transaction chose (not in the table yet either).
    avoid: ChosenIds,
    taken: BTreeMap<String, std::ops::Range<i64>>,
}

/// Integer ids chosen by the client, per entity (canonical name).
pub(crate) type ChosenIds = BTreeMap<String, BTreeSet<i64>>;

impl NewIds {
    /// A first pass, whose counted ids will step over `avoid` too.
    pub(crate) fn counting(avoid: &ChosenIds) -> NewIds {
        NewIds {
            counting: true,
            wanted: BTreeMap::new(),
            chosen: BTreeMap::new(),
            avoid: avoid.clone(),
            taken: BTreeMap::new(),
        }
    }

    /// The ids the write chose (after a pass).
    pub(crate) fn chosen(self) -> ChosenIds {
        self.chosen
    }

    /// Whether the first pass asked for integer ids (a second pass is then needed).
    pub(crate) fn wants_any(&self) -> bool {
        !self.wanted.is_empty()
    }

    /// Takes what the counting pass asked for, and turns to handing it out.
    pub(crate) async fn take(&mut self, service: &crate::DataService) -> Result<(), DataError> {
        for (name, count) in std::mem::take(&mut self.wanted) {
            let entity = service.entity(&name)?;
            let room = count
                + self.chosen.get(&name).map_or(0, BTreeSet::len)
                + self.avoid.get(&name).map_or(0, BTreeSet::len);
            let first = take_ids(&service.store, service.dialect(), entity, room).await?;
            let end = first.saturating_add(i64::try_from(room).unwrap_or(i64::MAX));
            self.taken.insert(name, first..end);
        }
        self.counting = false;
        Ok(())
    }

    /// The id of a new `entity` item whose body is `object`, and whether the client chose it.
    pub(crate) fn next(
        &mut self,
        service: &crate::DataService,
        entity: &Entity,
        object: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(String, bool), DataError> {
        if entity.id_type == IdType::Uuid {
            return Ok(((service.new_id)(), false));
        }
        if let Some(value) = chosen_value(object) {
            let id = given_id(entity, value)?;
            if self.counting {
                let chosen = self.chosen.entry(entity.name.clone()).or_default();
                if !chosen.insert(id) {
                    return Err(DataError::BadRequest(format!(
                        "two new {}s have the id {id}",
                        entity.name
                    )));
                }
            }
            return Ok((id.to_string(), true));
        }
        if self.counting {
            *self.wanted.entry(entity.name.clone()).or_default() += 1;
            // A stand-in: the plan of this pass is thrown away.
            return Ok(("1".into(), false));
        }
        let chosen = self.chosen.get(&entity.name);
        let avoid = self.avoid.get(&entity.name);
        let free = |id: &i64| {
            chosen.is_none_or(|c| !c.contains(id)) && avoid.is_none_or(|a| !a.contains(id))
        };
        let range = self.taken.get_mut(&entity.name);
        let id = range.and_then(|ids| ids.find(free)).ok_or_else(|| {
            // The second pass asked for more ids than the first counted: a planning bug.
            DataError::BadRequest(format!(
                "the ids taken for the new {}s ran out while the write was planned",
                entity.name
            ))
        })?;
        Ok((id.to_string(), false))
    }
}

/// The `id` a new item's body chooses, if any (names match case-insensitively).
pub(crate) fn chosen_value(
    object: &serde_json::Map<String, serde_json::Value>,
) -> Option<&serde_json::Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("id"))
        .map(|(_, value)| value)
        .filter(|value| !value.is_null())
}

/// A client's integer id for a new `entity` item (`5` or `5.0`, as integer properties).
pub(crate) fn given_id(entity: &Entity, value: &serde_json::Value) -> Result<i64, DataError> {
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_INTEGER_ID as f64)
                .map(|f| f as i64)
        })
        .filter(|id| (1..=MAX_INTEGER_ID).contains(id))
        .ok_or_else(|| {
            DataError::BadRequest(format!(
                "id: {}'s ids are integers from 1 to {MAX_INTEGER_ID}; {value} is not one",
                entity.name
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

    /// The schema docs/data.md shows for integer ids is valid as written there.
    #[test]
    fn the_documented_integer_id_schema_loads() {
        let docs = include_str!("../../../docs/data.md");
        let start = docs
            .find("```yaml\nentities:\n  Item:\n    id: integer")
            .expect("the integer id example in docs/data.md");
        let block = &docs[start + "```yaml\n".len()..];
        let block = &block[..block.find("```").expect("the example's end")];
        let schemas = SchemaSet::parse(block, true, "docs/data.md").unwrap();
        let item = schemas.entity("Item").unwrap();
        assert_eq!(item.id_type, crate::IdType::Integer);
        assert!(schemas.entity("Line").unwrap().relation("item").is_some());
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
