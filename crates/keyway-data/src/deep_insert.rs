//! Deep insert (OData 4.01 §11.4.2.2): a POST whose body nests related items — an
//! Organization with its `contacts`, a Contact with a new `organization` — creates them all in
//! one transaction, each checked as if posted alone (scopes, properties, required values).
//! And `organization@odata.bind: "Organization(<id>)"`, in any write, sets the key that
//! points at an existing item.

use keyway_store::{DynStatement, DynValue};
use serde_json::{Map, Value};

use crate::expand::MAX_EXPAND_DEPTH;
use crate::filter::sql::quote;
use crate::id_counters::{ChosenIds, NewIds};
use crate::schema::{Relation, RelationKind};
use crate::table::table_name;
use crate::writes::{MAX_UNIT_STATEMENTS, Prepared};
use crate::{DataError, DataService, Entity, Item};

/// Items one deep insert may create at most.
pub(crate) const MAX_DEEP_ITEMS: usize = 1000;

fn bad(message: String) -> DataError {
    DataError::BadRequest(message)
}

/// One row to insert.
struct Planned<'a> {
    entity: &'a Entity,
    id: String,
    values: Vec<(String, DynValue)>,
}

/// A body naming one property (or relation) twice, in different cases, is refused: which one
/// would win is not the client's to guess.
pub(crate) fn check_unique_keys(object: &Map<String, Value>) -> Result<(), DataError> {
    let mut seen = std::collections::HashSet::new();
    for key in object.keys() {
        if !seen.insert(key.to_ascii_lowercase()) {
            return Err(bad(format!(
                "{key:?} is given twice (names match case-insensitively)"
            )));
        }
    }
    Ok(())
}

/// Whether `body` nests related items (a relation's name with an object or array).
pub(crate) fn is_deep(entity: &Entity, body: &Value) -> bool {
    body.as_object().is_some_and(|object| {
        object
            .iter()
            .any(|(k, v)| entity.relation(k).is_some() && (v.is_object() || v.is_array()))
    })
}

/// The id in an `@odata.bind` value: `Organization(<id>)`, `Organization('<id>')`, or the
/// same after the service root (`https://hub/api/Organization(<id>)`).
fn bound_id(relation: &Relation, value: &Value) -> Result<String, DataError> {
    let wrong = || {
        bad(format!(
            "{}@odata.bind must be \"{}(<id>)\"",
            relation.name, relation.target
        ))
    };
    let text = value.as_str().ok_or_else(wrong)?;
    let tail = text.rsplit('/').next().unwrap_or(text);
    let (set, rest) = tail.split_once('(').ok_or_else(wrong)?;
    if !set.eq_ignore_ascii_case(&relation.target) {
        return Err(bad(format!(
            "{}@odata.bind names {set:?}; this relation leads to {}",
            relation.name, relation.target
        )));
    }
    let id = rest.strip_suffix(')').ok_or_else(wrong)?.trim_matches('\'');
    Ok(id.to_string())
}

/// `body` with every `relation@odata.bind` turned into the relation's key property (as if
/// the client had written `organizationId`), and a to-one relation given as null (no item
/// to create) left out. Any other navigation property is refused by name: it nests items,
/// which only a create does.
pub(crate) fn resolve_binds(entity: &Entity, body: &Value) -> Result<Value, DataError> {
    let Some(object) = body.as_object() else {
        return Ok(body.clone());
    };
    for (key, value) in object {
        if let Some(relation) = entity.relation(key) {
            if value.is_null() && !relation.is_collection() {
                continue;
            }
            return Err(bad(format!(
                "{key} is a navigation property: related items are created with a POST of this \
                 one (deep insert), bound with {key}@odata.bind, or changed at their own URL"
            )));
        }
    }
    let object: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| entity.relation(k).is_none())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let object = &object;
    if !object.keys().any(|k| k.ends_with("@odata.bind")) {
        return Ok(Value::Object(object.clone()));
    }
    let mut out = Map::new();
    for (key, value) in object {
        let Some(name) = key.strip_suffix("@odata.bind") else {
            out.insert(key.clone(), value.clone());
            continue;
        };
        let relation = entity.relation(name).ok_or_else(|| {
            bad(format!(
                "{} has no navigation property {name:?} to bind",
                entity.name
            ))
        })?;
        let RelationKind::ToOne { key: property, .. } = &relation.kind else {
            return Err(bad(format!(
                "{name} is a collection: bind its items from their side ({}'s key)",
                relation.target
            )));
        };
        if object.keys().any(|k| k.eq_ignore_ascii_case(property)) {
            return Err(bad(format!("give {property} or {key}, not both")));
        }
        // A null bind unlinks (OData 4.01: `"organization@odata.bind": null`).
        let id = if value.is_null() {
            Value::Null
        } else {
            let id = bound_id(relation, value)?;
            match entity.property(property).map(|p| p.kind) {
                // The key of an entity with integer ids holds a number.
                Some(crate::PropertyType::Integer) => {
                    Value::from(crate::ids::integer_id(&id).ok_or_else(|| {
                        bad(format!(
                            "{key}: {}'s ids are integers, not {:?}",
                            relation.target,
                            crate::shortened(&id)
                        ))
                    })?)
                }
                _ => Value::String(id),
            }
        };
        out.insert(property.clone(), id);
    }
    Ok(Value::Object(out))
}

impl DataService {
    /// `POST /api/Entity` with nested items: everything or nothing.
    pub(crate) async fn create_deep(
        &self,
        entity: &Entity,
        body: &Value,
        scopes: &[&str],
        base_url: &str,
    ) -> Result<(Item, String), DataError> {
        let write = self
            .prepare_create(&entity.name, body, scopes, &ChosenIds::new())
            .await?;
        if write.statements.len() > MAX_UNIT_STATEMENTS {
            return Err(bad(format!(
                "a deep insert creates at most {MAX_UNIT_STATEMENTS} items"
            )));
        }
        if let Err(failed) = self.store.dyn_unit(&write.statements).await {
            return Err(self
                .explain(&write, failed.index, failed.cause, scopes)
                .await);
        }
        let id = match &write.result {
            crate::writes::Planned::Item { id, .. } => id.clone(),
            _ => String::new(),
        };
        let item = match self.outcome(write, scopes, base_url).await {
            crate::writes::WriteOutcome::Item { item, .. } => item,
            crate::writes::WriteOutcome::Deleted => Item {
                id: id.clone(),
                etag: String::new(),
                body: serde_json::json!({ "id": id }),
            },
        };
        Ok((item, id))
    }

    /// The integer ids a create (nested items too) chooses.
    pub(crate) fn chosen_ids(
        &self,
        entity_name: &str,
        body: &Value,
        scopes: &[&str],
    ) -> Result<ChosenIds, DataError> {
        let entity = self.entity(entity_name)?;
        let mut ids = NewIds::counting(&ChosenIds::new());
        self.plan_all(entity, body, scopes, &mut ids)?;
        Ok(ids.chosen())
    }

    /// Plans a whole create: its id, its rows, the `$expand` that shows them.
    fn plan_all<'a>(
        &'a self,
        entity: &'a Entity,
        body: &Value,
        scopes: &[&str],
        ids: &mut NewIds,
    ) -> Result<(String, Vec<Planned<'a>>, String), DataError> {
        let mut plan = Vec::new();
        let mut shown = Shown::default();
        let id = self.plan(entity, body, scopes, (1, None), &mut plan, &mut shown, ids)?;
        Ok((id, plan, shown.render()))
    }

    /// A create (nested items too) as a write of a unit.
    /// `avoid`: integer ids other writes of the same transaction chose.
    pub(crate) async fn prepare_create(
        &self,
        entity_name: &str,
        body: &Value,
        scopes: &[&str],
        avoid: &ChosenIds,
    ) -> Result<Prepared<'_>, DataError> {
        let entity = self.entity(entity_name)?;
        let mut ids = NewIds::counting(avoid);
        let mut planned = self.plan_all(entity, body, scopes, &mut ids)?;
        if ids.wants_any() {
            ids.take(self).await?;
            planned = self.plan_all(entity, body, scopes, &mut ids)?;
        }
        let (id, plan, expand) = planned;
        let now = (self.now_ms)();
        let statements = plan
            .iter()
            .map(|item| self.insert_statement(item, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Prepared {
            entity,
            statements,
            written: plan
                .into_iter()
                .map(|item| (item.entity, item.values))
                .collect(),
            result: crate::writes::Planned::Item { id, expand },
        })
    }

    fn insert_statement(&self, item: &Planned<'_>, now: i64) -> Result<DynStatement, DataError> {
        let mut columns = vec![
            "id".to_string(),
            "version".into(),
            "created_at".into(),
            "updated_at".into(),
        ];
        let mut values = vec![
            crate::ids::id_bind(item.entity, &item.id)?,
            DynValue::Int(1),
            DynValue::Int(now),
            DynValue::Int(now),
        ];
        for (column, value) in &item.values {
            columns.push(column.clone());
            values.push(value.clone());
        }
        Ok(DynStatement {
            sql: format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quote(self.dialect(), &table_name(item.entity)),
                self.column_list(&columns),
                vec!["?"; columns.len()].join(", ")
            ),
            values,
            expect_rows: Some(1),
        })
    }

    /// Plans the rows of `body` (an item of `entity`), related items first where this one
    /// points at them and after it where they point here. `at` is the nesting depth and, for
    /// an item nested in a to-many relation, its key property and the id of the parent it
    /// belongs to. `expand` collects the `$expand` that shows what was created; `ids` gives
    /// the new items' ids.
    #[allow(clippy::too_many_arguments)]
    fn plan<'a>(
        &'a self,
        entity: &'a Entity,
        body: &Value,
        scopes: &[&str],
        at: (usize, Option<(&str, &str)>),
        plan: &mut Vec<Planned<'a>>,
        expand: &mut Shown,
        ids: &mut NewIds,
    ) -> Result<String, DataError> {
        let (depth, link) = at;
        Self::require(entity.scopes_to_write(), scopes)?;
        let Some(object) = body.as_object() else {
            return Err(bad(format!(
                "a nested {} must be a JSON object",
                entity.name
            )));
        };
        check_unique_keys(object)?;
        // Relations are looked up as the caller sees them: a hidden one is an unknown name.
        let view = entity.readable_by(scopes);
        let mut own = Map::new();
        let mut to_many = Vec::new();
        for (key, value) in object {
            let Some(relation) = view.relation(key) else {
                own.insert(key.clone(), value.clone());
                continue;
            };
            if value.is_null() && !relation.is_collection() {
                // No related item to create.
                continue;
            }
            if depth > MAX_EXPAND_DEPTH {
                return Err(bad(format!(
                    "a deep insert nests at most {MAX_EXPAND_DEPTH} levels of related items"
                )));
            }
            let target = self.entity(&relation.target)?;
            match &relation.kind {
                RelationKind::ToOne { key: property, .. } => {
                    if object.keys().any(|k| k.eq_ignore_ascii_case(property)) {
                        return Err(bad(format!(
                            "give {property} or {}, not both",
                            relation.name
                        )));
                    }
                    let id = self.plan(
                        target,
                        value,
                        scopes,
                        (depth + 1, None),
                        plan,
                        expand.child(&relation.name),
                        ids,
                    )?;
                    own.insert(property.clone(), crate::ids::id_json(target, &id));
                }
                RelationKind::ToMany { key: property, .. } => {
                    let Some(items) = value.as_array() else {
                        return Err(bad(format!(
                            "{} is a collection: give an array of {} items",
                            relation.name, relation.target
                        )));
                    };
                    to_many.push((
                        target,
                        property.clone(),
                        items.clone(),
                        relation.name.clone(),
                    ));
                }
            }
        }
        let (id, _chosen) = ids.next(self, entity, object)?;
        if let Some((property, parent)) = link {
            // The key, or a bind of the relation it belongs to.
            let names_parent = |k: &String| {
                k.eq_ignore_ascii_case(property)
                    || k.strip_suffix("@odata.bind").is_some_and(|name| {
                        entity.relation(name).is_some_and(|r| {
                            matches!(&r.kind, RelationKind::ToOne { key, .. } if key == property)
                        })
                    })
            };
            if own.keys().any(names_parent) {
                return Err(bad(format!(
                    "a nested {} takes its {property} from the item it is nested in",
                    entity.name
                )));
            }
            // The key holds the parent's id, as the parent's id type writes it.
            let parent_id = match entity.property(property).map(|p| p.kind) {
                Some(crate::PropertyType::Integer) => crate::ids::integer_id(parent)
                    .map_or_else(|| Value::String(parent.to_string()), Value::from),
                _ => Value::String(parent.to_string()),
            };
            own.insert(property.to_string(), parent_id);
        }
        let own = resolve_binds(&view, &Value::Object(own))?;
        let values = Self::writable_values(entity, &own, scopes, true)?;
        self.require_targets_readable(entity, &values, scopes)?;
        plan.push(Planned {
            entity,
            id: id.clone(),
            values,
        });
        for (target, property, items, name) in to_many {
            // Every item of the collection adds what it nests: siblings of different shapes
            // are all shown.
            let nested = expand.child(&name);
            for item in &items {
                if plan.len() >= MAX_DEEP_ITEMS {
                    return Err(bad(format!(
                        "a deep insert creates at most {MAX_DEEP_ITEMS} items"
                    )));
                }
                self.plan(
                    target,
                    item,
                    scopes,
                    (depth + 1, Some((&property, &id))),
                    plan,
                    nested,
                    ids,
                )?;
            }
        }
        Ok(id)
    }
}

/// What a deep insert created, as the `$expand` that shows it: per navigation property, what
/// is expanded inside it (merged over all the items of a collection).
#[derive(Default)]
pub(crate) struct Shown(std::collections::BTreeMap<String, Shown>);

impl Shown {
    fn child(&mut self, name: &str) -> &mut Shown {
        self.0.entry(name.to_string()).or_default()
    }

    fn render(&self) -> String {
        self.0
            .iter()
            .map(|(name, inner)| match inner.render() {
                nested if nested.is_empty() => name.clone(),
                nested => format!("{name}($expand={nested})"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}
