//! Changes to existing items (`PUT`, `PATCH`, `DELETE`), and several writes as one unit
//! (a `$batch` atomicity group). Each write is first *prepared* — scopes, body, the ETag
//! read — into statements that carry their own checks (`… WHERE version = ?` must change one
//! row); one write runs them alone, a unit runs every write's in one transaction. A refusal
//! is then explained by the write and statement it came from.

use keyway_store::{DynStatement, DynValue, UnitCause, UnitFailed};
use serde_json::Value;

use crate::deep_insert::resolve_binds;
use crate::filter::sql::quote;
use crate::id_counters::ChosenIds;
use crate::table::table_name;
use crate::{DataError, DataService, Entity, Item};

/// Rows one unit (an atomicity group, a deep insert) writes at most: one transaction holds
/// SQLite's single writer, OAuth's writes included, for as long as it runs.
pub(crate) const MAX_UNIT_STATEMENTS: usize = 1000;

/// How a write to an existing item treats the properties its body leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// PATCH (RFC 7396 merge): absent properties keep their values.
    Merge,
    /// PUT: absent properties become null (required ones must be given).
    Replace,
}

/// One write of a unit.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Create {
        entity: String,
        body: Value,
    },
    Update {
        entity: String,
        id: String,
        body: Value,
        if_match: Option<String>,
        mode: UpdateMode,
    },
    Delete {
        entity: String,
        id: String,
        if_match: Option<String>,
    },
}

/// What a write of a unit did.
pub enum WriteOutcome {
    /// The item as it is now (created or changed), for the answer.
    Item {
        entity: String,
        item: Item,
    },
    Deleted,
}

/// A write ready to run.
pub(crate) struct Prepared<'a> {
    pub(crate) entity: &'a Entity,
    pub(crate) statements: Vec<DynStatement>,
    /// For each statement: the entity and values it writes (to name a missing reference).
    pub(crate) written: Vec<(&'a Entity, Vec<(String, DynValue)>)>,
    pub(crate) result: Planned,
}

pub(crate) enum Planned {
    /// Read the item `id` afterwards (with `expand`, for a deep insert).
    Item {
        id: String,
        expand: String,
    },
    /// Nothing to write: this is the item (an empty merge patch).
    Unchanged(Item),
    Deleted {
        id: String,
    },
}

impl DataService {
    /// `PATCH` (`UpdateMode::Merge`: the given properties change) or `PUT`
    /// (`UpdateMode::Replace`: the body replaces the item) of `/api/Entity(id)`, honouring
    /// `If-Match`. On replace, properties the caller may not read keep their values unless
    /// the body names them, so a caller cannot erase what it cannot see.
    pub async fn update(
        &self,
        entity_name: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        scopes: &[&str],
        mode: UpdateMode,
    ) -> Result<Item, DataError> {
        let prepared = self
            .prepare_update(entity_name, id, body, if_match, scopes, mode)
            .await?;
        self.run_alone(prepared, scopes).await
    }

    /// `DELETE /api/Entity(id)`, honouring `If-Match`.
    pub async fn delete(
        &self,
        entity_name: &str,
        id: &str,
        if_match: Option<&str>,
        scopes: &[&str],
    ) -> Result<(), DataError> {
        let prepared = self
            .prepare_delete(entity_name, id, if_match, scopes)
            .await?;
        self.run_alone(prepared, scopes).await.map(|_| ())
    }

    /// Runs `ops` in one transaction: all of them, or (the first refusal, by index) none.
    pub async fn write_atomically(
        &self,
        ops: &[WriteOp],
        scopes: &[&str],
        base_url: &str,
    ) -> Result<Vec<WriteOutcome>, (usize, DataError)> {
        let mut prepared = Vec::with_capacity(ops.len());
        let mut touched: Vec<(String, String)> = Vec::new();
        // The ids the unit's creates choose: the ones they count step over them all.
        let mut chosen = ChosenIds::new();
        for (index, op) in ops.iter().enumerate() {
            if let WriteOp::Create { entity, body } = op {
                let ids = self
                    .chosen_ids(entity, body, scopes)
                    .map_err(|e| (index, e))?;
                for (name, set) in ids {
                    chosen.entry(name).or_default().extend(set);
                }
            }
        }
        for (index, op) in ops.iter().enumerate() {
            if let WriteOp::Update { entity, id, .. } | WriteOp::Delete { entity, id, .. } = op {
                // Each write checks the version it read before the unit began: a second write
                // of the same item would always fail that check.
                // `Item(1)` and `Item(01)` are one item.
                let canonical = self
                    .entity(entity)
                    .ok()
                    .and_then(|e| crate::ids::canonical_id(e, id).ok())
                    .unwrap_or_else(|| id.to_ascii_lowercase());
                let item = (entity.to_ascii_lowercase(), canonical);
                if touched.contains(&item) {
                    return Err((
                        index,
                        DataError::BadRequest(format!(
                            "{entity}({id}) is already changed earlier in this unit: combine \
                             the changes into one request"
                        )),
                    ));
                }
                touched.push(item);
            }
            prepared.push(
                self.prepare(op, scopes, &chosen)
                    .await
                    .map_err(|e| (index, e))?,
            );
            let statements: usize = prepared.iter().map(|p| p.statements.len()).sum();
            if statements > MAX_UNIT_STATEMENTS {
                return Err((
                    index,
                    DataError::BadRequest(format!(
                        "the unit writes more than {MAX_UNIT_STATEMENTS} rows; split it"
                    )),
                ));
            }
        }
        let statements: Vec<DynStatement> = prepared
            .iter()
            .flat_map(|p| p.statements.iter().cloned())
            .collect();
        if let Err(failed) = self.store.dyn_unit(&statements).await {
            // Which write the failed statement belongs to.
            let mut index = failed.index;
            for (op, write) in prepared.iter().enumerate() {
                if index < write.statements.len() {
                    return Err((op, self.explain(write, index, failed.cause, scopes).await));
                }
                index -= write.statements.len();
            }
            return Err((ops.len().saturating_sub(1), explain_commit(failed)));
        }
        let mut outcomes = Vec::with_capacity(ops.len());
        for write in prepared {
            outcomes.push(self.outcome(write, scopes, base_url).await);
        }
        Ok(outcomes)
    }

    async fn prepare(
        &self,
        op: &WriteOp,
        scopes: &[&str],
        chosen: &ChosenIds,
    ) -> Result<Prepared<'_>, DataError> {
        match op {
            WriteOp::Create { entity, body } => {
                self.prepare_create(entity, body, scopes, chosen).await
            }
            WriteOp::Update {
                entity,
                id,
                body,
                if_match,
                mode,
            } => {
                self.prepare_update(entity, id, body, if_match.as_deref(), scopes, *mode)
                    .await
            }
            WriteOp::Delete {
                entity,
                id,
                if_match,
            } => {
                self.prepare_delete(entity, id, if_match.as_deref(), scopes)
                    .await
            }
        }
    }

    /// What a committed write answers: the item read back (expanded after a deep insert).
    /// The write is done whatever happens now: a read that fails (the item deleted meanwhile,
    /// say) answers with the id alone, never with an error that would invite a retry.
    pub(crate) async fn outcome(
        &self,
        write: Prepared<'_>,
        scopes: &[&str],
        base_url: &str,
    ) -> WriteOutcome {
        let entity = write.entity.name.clone();
        match write.result {
            Planned::Item { id, expand } => {
                let pairs: Vec<(String, String)> = if expand.is_empty() {
                    Vec::new()
                } else {
                    vec![("$expand".into(), expand)]
                };
                let item = match self.get(&entity, &id, &pairs, scopes, base_url).await {
                    Ok(item) => item,
                    Err(_) => Item {
                        body: serde_json::json!({ "id": self
                            .entity(&entity)
                            .map_or(Value::String(id.clone()), |e| crate::ids::id_json(e, &id)) }),
                        id,
                        etag: String::new(),
                    },
                };
                WriteOutcome::Item { entity, item }
            }
            Planned::Unchanged(item) => WriteOutcome::Item { entity, item },
            Planned::Deleted { .. } => WriteOutcome::Deleted,
        }
    }

    /// One write on its own: a single statement goes through the store's ordinary write path
    /// (SQLite's group commit), several run as one unit.
    async fn run_alone(&self, write: Prepared<'_>, scopes: &[&str]) -> Result<Item, DataError> {
        if let [statement] = write.statements.as_slice() {
            let changed = match self
                .store
                .dyn_execute(&statement.sql, &statement.values)
                .await
            {
                Ok(changed) => changed,
                Err(e) => return Err(self.explain(&write, 0, UnitCause::Store(e), scopes).await),
            };
            if let Some(expected) = statement.expect_rows
                && changed != expected
            {
                let cause = UnitCause::Rows { expected, changed };
                return Err(self.explain(&write, 0, cause, scopes).await);
            }
        } else if !write.statements.is_empty()
            && let Err(failed) = self.store.dyn_unit(&write.statements).await
        {
            let index = failed.index;
            return Err(self.explain(&write, index, failed.cause, scopes).await);
        }
        match write.result {
            Planned::Item { id, .. } => self.fetch(write.entity, &id, scopes).await,
            Planned::Unchanged(item) => Ok(item),
            Planned::Deleted { id } => Ok(Item {
                id,
                etag: String::new(),
                body: Value::Null,
            }),
        }
    }

    /// Why statement `index` of `write` failed, as the caller should hear it.
    pub(crate) async fn explain(
        &self,
        write: &Prepared<'_>,
        index: usize,
        cause: UnitCause,
        scopes: &[&str],
    ) -> DataError {
        match cause {
            UnitCause::Store(e) if e.is_foreign_key_violation() => match &write.result {
                Planned::Deleted { id } => self.still_referenced(write.entity, id, scopes).await,
                _ => match write.written.get(index) {
                    Some((entity, values)) => self.missing_reference(entity, values).await,
                    None => e.into(),
                },
            },
            // A new item's chosen integer id is taken.
            UnitCause::Store(e) if e.is_unique_violation() => {
                let what = write
                    .written
                    .get(index)
                    .map_or(write.entity.name.as_str(), |(entity, _)| {
                        entity.name.as_str()
                    });
                DataError::Conflict(format!("a {what} with one of the ids given exists already"))
            }
            UnitCause::Store(e) => e.into(),
            // The version in the WHERE no longer matched: changed (or deleted) meanwhile.
            UnitCause::Rows { .. } => DataError::PreconditionFailed,
        }
    }

    pub(crate) async fn prepare_update(
        &self,
        entity_name: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        scopes: &[&str],
        mode: UpdateMode,
    ) -> Result<Prepared<'_>, DataError> {
        let replace = mode == UpdateMode::Replace;
        let entity = self.entity(entity_name)?;
        Self::require(entity.scopes_to_write(), scopes)?;
        let body = &resolve_binds(&entity.readable_by(scopes), body)?;
        let body = &without_own_id(entity, id, body)?;
        let mut values = Self::writable_values(entity, body, scopes, replace)?;
        self.require_targets_readable(entity, &values, scopes)?;
        if replace {
            let named = |column: &str| {
                body.as_object()
                    .is_some_and(|o| o.keys().any(|k| k.eq_ignore_ascii_case(column)))
            };
            // A property written blind (its writeScope held, its read scope not) is replaced
            // only when named: a caller cannot erase what it cannot see.
            values.retain(|(column, _)| {
                let hidden = entity
                    .property(column)
                    .is_some_and(|p| !p.readable_by(scopes));
                !hidden || named(column)
            });
        }
        let current = self.fetch(entity, id, scopes).await?;
        let version = Self::check_etag(&current.etag, if_match)?;
        if values.is_empty() {
            // An empty merge patch (RFC 7396) changes nothing: no new version either.
            return Ok(Prepared {
                entity,
                statements: Vec::new(),
                written: Vec::new(),
                result: Planned::Unchanged(current),
            });
        }
        let d = self.dialect();
        let mut sets: Vec<String> = values
            .iter()
            .map(|(c, _)| format!("{} = ?", quote(d, c)))
            .collect();
        sets.push(format!("{} = ?", quote(d, "version")));
        sets.push(format!("{} = ?", quote(d, "updated_at")));
        let written = values.clone();
        let mut binds: Vec<DynValue> = values.into_iter().map(|(_, v)| v).collect();
        binds.push(DynValue::Int(version + 1));
        binds.push(DynValue::Int((self.now_ms)()));
        binds.push(crate::ids::id_bind(entity, &current.id)?);
        binds.push(DynValue::Int(version));
        // The version in the WHERE makes the check and the write one step: no lost update.
        let sql = format!(
            "UPDATE {} SET {} WHERE {} = ? AND {} = ?",
            quote(d, &table_name(entity)),
            sets.join(", "),
            quote(d, "id"),
            quote(d, "version")
        );
        Ok(Prepared {
            entity,
            statements: vec![DynStatement {
                sql,
                values: binds,
                expect_rows: Some(1),
            }],
            written: vec![(entity, written)],
            result: Planned::Item {
                id: current.id,
                expand: String::new(),
            },
        })
    }

    pub(crate) async fn prepare_delete(
        &self,
        entity_name: &str,
        id: &str,
        if_match: Option<&str>,
        scopes: &[&str],
    ) -> Result<Prepared<'_>, DataError> {
        let entity = self.entity(entity_name)?;
        Self::require(entity.scopes_to_write(), scopes)?;
        self.require_delete_reach(entity, scopes)?;
        let current = self.fetch(entity, id, scopes).await?;
        let version = Self::check_etag(&current.etag, if_match)?;
        let d = self.dialect();
        let sql = format!(
            "DELETE FROM {} WHERE {} = ? AND {} = ?",
            quote(d, &table_name(entity)),
            quote(d, "id"),
            quote(d, "version")
        );
        // `onDelete: setNull`: the items that name this one lose the key here, with a new
        // version (the database's own SET NULL would leave their ETags as they were).
        let key = crate::ids::id_bind(entity, &current.id)?;
        let mut statements = self.set_null_statements(entity, &key);
        statements.push(DynStatement {
            sql,
            values: vec![key, DynValue::Int(version)],
            expect_rows: Some(1),
        });
        Ok(Prepared {
            entity,
            statements,
            written: Vec::new(),
            result: Planned::Deleted { id: current.id },
        })
    }
}

fn explain_commit(failed: UnitFailed) -> DataError {
    match failed.cause {
        UnitCause::Store(e) => e.into(),
        UnitCause::Rows { .. } => DataError::PreconditionFailed,
    }
}

/// An update's body without `id` when it names the item being changed (OData clients send
/// the key back; a service ignores it); another id is refused: ids never change.
fn without_own_id(entity: &Entity, id: &str, body: &Value) -> Result<Value, DataError> {
    let Some(object) = body.as_object() else {
        return Ok(body.clone());
    };
    let Some((key, given)) = object.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")) else {
        return Ok(body.clone());
    };
    let same = match entity.id_type {
        crate::IdType::Integer => {
            crate::id_counters::given_id(entity, given).ok() == crate::ids::integer_id(id)
        }
        crate::IdType::Uuid => given.as_str().is_some_and(|g| g.eq_ignore_ascii_case(id)),
    };
    if !same {
        return Err(DataError::BadRequest(format!(
            "id cannot change: the body says {given}, the URL {}",
            crate::shortened(id)
        )));
    }
    let mut object = object.clone();
    object.remove(key.as_str());
    Ok(Value::Object(object))
}
