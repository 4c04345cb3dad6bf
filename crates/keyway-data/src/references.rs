//! Writes that meet a relation's foreign key: the database enforces it (so no race can leave
//! an orphan); this module decides who may delete what a delete cascades to, and turns a
//! refusal into a message that names the relation and the missing or referencing items.

use std::collections::BTreeSet;

use keyway_store::{DynStatement, DynValue};

use crate::filter::sql::quote;
use crate::schema::{OnDelete, RelationKind};
use crate::table::table_name;
use crate::{DataError, DataService, Entity};

/// Cascades followed (item to item) looking for the setNull referrers of what a delete takes
/// with it; a self-referencing cascade deeper than this leaves the ETags below as they were.
const MAX_CASCADE_DEPTH: usize = 8;
/// setNull statements one delete runs at most.
const MAX_SET_NULL_STATEMENTS: usize = 64;
/// Cascade relations followed in all (cascades that fan out would otherwise multiply).
const MAX_CASCADES_FOLLOWED: usize = 64;

impl DataService {
    /// A delete of `entity` also deletes (cascade) or changes (setNull) the items that
    /// reference it: the caller must be allowed to write those entities too, transitively.
    pub(crate) fn require_delete_reach(
        &self,
        entity: &Entity,
        scopes: &[&str],
    ) -> Result<(), DataError> {
        let mut seen = BTreeSet::from([entity.name.clone()]);
        let mut todo = vec![entity.name.clone()];
        while let Some(name) = todo.pop() {
            for (referrer, relation) in self.schemas().references_to(&name) {
                let RelationKind::ToOne { on_delete, .. } = &relation.kind else {
                    continue;
                };
                if *on_delete == OnDelete::Restrict {
                    continue;
                }
                Self::require(referrer.scopes_to_write(), scopes)?;
                if *on_delete == OnDelete::Cascade && seen.insert(referrer.name.clone()) {
                    todo.push(referrer.name.clone());
                }
            }
        }
        Ok(())
    }

    /// `UPDATE … SET key = NULL, version = version + 1` for every `onDelete: setNull` relation
    /// that points at `entity`'s item `id`, or at an item the delete takes with it through
    /// `onDelete: cascade` (the database's own SET NULL would leave their ETags as they were).
    /// Level by level: the direct referrers first, then those below each cascade.
    pub(crate) fn set_null_statements(&self, entity: &Entity, id: &DynValue) -> Vec<DynStatement> {
        let d = self.dialect();
        let id_column = quote(d, "id");
        let mut out = Vec::new();
        // The items that go, per entity: the one deleted (`None`: `= ?`), or a query selecting
        // the ids a cascade takes along as `kw_id`; every query ends in the deleted id.
        let mut level: Vec<(&Entity, Option<String>)> = vec![(entity, None)];
        let mut visited = 0;
        for depth in 0..=MAX_CASCADE_DEPTH {
            let mut below = Vec::new();
            for (goes, deleted) in &level {
                for (referrer, relation) in self.schemas().references_to(&goes.name) {
                    let RelationKind::ToOne { key, on_delete } = &relation.kind else {
                        continue;
                    };
                    let (table, k) = (quote(d, &table_name(referrer)), quote(d, key));
                    // (MariaDB reads the table it changes only through a derived table.)
                    let naming = match deleted {
                        None => format!("{k} = ?"),
                        Some(query) => {
                            format!("{k} IN (SELECT kw_id FROM ({query}) AS kw_d{depth})")
                        }
                    };
                    match on_delete {
                        OnDelete::SetNull if out.len() < MAX_SET_NULL_STATEMENTS => {
                            let mut sql = format!(
                                "UPDATE {table} SET {k} = NULL, {v} = {v} + 1, {u} = ? \
                                 WHERE {naming}",
                                v = quote(d, "version"),
                                u = quote(d, "updated_at"),
                            );
                            let mut values = vec![DynValue::Int((self.now_ms)()), id.clone()];
                            // Never the deleted item itself, however the chain comes back to
                            // it: it goes, checked by its version.
                            if referrer.name == entity.name {
                                sql.push_str(&format!(" AND {id_column} <> ?"));
                                values.push(id.clone());
                            }
                            out.push(DynStatement {
                                sql,
                                values,
                                expect_rows: None,
                            });
                        }
                        OnDelete::Cascade if visited < MAX_CASCADES_FOLLOWED => {
                            visited += 1;
                            let query =
                                format!("SELECT {id_column} AS kw_id FROM {table} WHERE {naming}");
                            below.push((referrer, Some(query)));
                        }
                        _ => {}
                    }
                }
            }
            if below.is_empty() {
                break;
            }
            level = below;
        }
        out
    }

    /// Why a create or update of `entity` with `values` broke a foreign key: the first key
    /// whose target does not exist.
    pub(crate) async fn missing_reference(
        &self,
        entity: &Entity,
        values: &[(String, DynValue)],
    ) -> DataError {
        for relation in &entity.relations {
            let RelationKind::ToOne { key, .. } = &relation.kind else {
                continue;
            };
            let Some((_, bound)) = values.iter().find(|(c, _)| c == key) else {
                continue;
            };
            let Some(id) = crate::ids::dyn_text(bound) else {
                continue;
            };
            let Some(target) = self.schemas().entity(&relation.target) else {
                continue;
            };
            let sql = format!(
                "SELECT {id_column} FROM {} WHERE {id_column} = ?",
                quote(self.dialect(), &table_name(target)),
                id_column = quote(self.dialect(), "id"),
            );
            match self
                .fetch_rows(
                    &sql,
                    std::slice::from_ref(bound),
                    &[crate::ids::id_column_kind(target)],
                )
                .await
            {
                Ok(rows) if rows.is_empty() => {
                    return DataError::BadRequest(format!(
                        "{key}: there is no {} with id {id} (relation {}.{})",
                        target.name, entity.name, relation.name
                    ));
                }
                Ok(_) => {}
                Err(e) => return e,
            }
        }
        DataError::Conflict(format!(
            "an item that this {} refers to was deleted meanwhile; read it again and retry",
            entity.name
        ))
    }

    /// A write that sets a relation's key must come from a caller that may read the target:
    /// else whether the write succeeds would tell it which ids exist there.
    pub(crate) fn require_targets_readable(
        &self,
        entity: &Entity,
        values: &[(String, DynValue)],
        scopes: &[&str],
    ) -> Result<(), DataError> {
        for relation in &entity.relations {
            let RelationKind::ToOne { key, .. } = &relation.kind else {
                continue;
            };
            // Any value but null names a target (a uuid's text or an integer id).
            let sets = values
                .iter()
                .any(|(column, value)| column == key && !matches!(value, DynValue::Null(_)));
            if let (true, Some(target)) = (sets, self.schemas().entity(&relation.target)) {
                Self::require(target.scopes_to_read(), scopes)?;
            }
        }
        Ok(())
    }

    /// Why deleting `entity`'s item `id` broke a foreign key: the relations (declared
    /// `onDelete: restrict`) whose items still reference it — those of entities the caller
    /// may read; of others it learns only that something still does.
    pub(crate) async fn still_referenced(
        &self,
        entity: &Entity,
        id: &str,
        scopes: &[&str],
    ) -> DataError {
        let mut holders = Vec::new();
        let readable = |e: &Entity| {
            e.scopes_to_read()
                .iter()
                .any(|s| scopes.contains(&s.as_str()))
        };
        for (referrer, relation) in self.schemas().references_to(&entity.name) {
            if !readable(referrer) {
                continue;
            }
            let RelationKind::ToOne {
                key,
                on_delete: OnDelete::Restrict,
            } = &relation.kind
            else {
                continue;
            };
            let sql = format!(
                "SELECT {} FROM {} WHERE {} = ? LIMIT 1",
                quote(self.dialect(), "id"),
                quote(self.dialect(), &table_name(referrer)),
                quote(self.dialect(), key),
            );
            let key = match crate::ids::id_bind(entity, id) {
                Ok(key) => key,
                Err(e) => return e,
            };
            match self
                .fetch_rows(&sql, &[key], &[crate::ids::id_column_kind(referrer)])
                .await
            {
                Ok(rows) if !rows.is_empty() => {
                    holders.push(format!("{}.{}", referrer.name, relation.name));
                }
                Ok(_) => {}
                Err(e) => return e,
            }
        }
        if holders.is_empty() {
            return DataError::Conflict(format!(
                "{}({id}) cannot be deleted: other items (or items it cascades to) still \
                 reference it (onDelete: restrict)",
                entity.name
            ));
        }
        DataError::Conflict(format!(
            "{}({id}) is still referenced by {} (onDelete: restrict): delete those items or \
             point them elsewhere first",
            entity.name,
            holders.join(", ")
        ))
    }
}
