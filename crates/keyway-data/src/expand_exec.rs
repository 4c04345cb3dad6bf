//! `$expand` for one caller: resolving the names (scopes decide what may be expanded) and
//! reading the related items with one query per navigation property and level — the ids of
//! the rows already read go into `IN (…)` (in chunks), never one query per row. A to-many
//! expansion pages per parent with `ROW_NUMBER() OVER (PARTITION BY key …)`.

use std::collections::{BTreeSet, HashMap};

use keyway_store::{ColumnKind, DynValue};
use serde_json::{Map, Value, json};

use crate::body::row_json;
use crate::expand::{ExpandRequest, MAX_EXPAND_DEPTH};
use crate::filter::compile_filter_reaching;
use crate::filter::sql::quote;
use crate::query::{CollectionQuery, shortened};
use crate::schema::{Relation, RelationKind};
use crate::service::{sql_value, url_encode};
use crate::table::table_name;
use crate::{DataError, DataService, Entity};

/// Ids per `IN (…)`: far below every backend's limit on bound values.
const CHUNK: usize = 500;
/// Expanded items one navigation property may add to an answer (a to-one target counts once
/// per parent that shows it, with everything expanded inside it): a few nested `$expand`s
/// must not turn one request into millions of objects.
pub(crate) const MAX_EXPANDED_ITEMS: usize = 10_000;

/// The objects in `map`, itself included.
fn weight(map: &Map<String, Value>) -> usize {
    fn of(value: &Value) -> usize {
        match value {
            Value::Object(map) => weight(map),
            Value::Array(items) => items.iter().map(of).sum(),
            _ => 0,
        }
    }
    1 + map.values().map(of).sum::<usize>()
}

pub(crate) fn too_many(relation: &str) -> DataError {
    DataError::BadRequest(format!(
        "$expand={relation}: the answer would hold more than {MAX_EXPANDED_ITEMS} expanded items; \
         ask for fewer ($top, or $top inside the parentheses)"
    ))
}

/// A navigation property to expand, resolved for the caller.
pub(crate) struct Expansion {
    pub(crate) relation: Relation,
    /// The target as the caller may read it.
    pub(crate) target: Entity,
    pub(crate) query: CollectionQuery,
    /// The nested options as written (for a next link).
    options: Vec<(String, String)>,
    pub(crate) children: Vec<Expansion>,
    /// Items per parent at most (the server's page size, or the client's smaller
    /// `odata.maxpagesize`); more make a next link.
    page_size: u32,
}

/// Applies the client's page size preference to every expanded collection.
pub(crate) fn limit_pages(expansions: &mut [Expansion], page_size: u32) {
    for expansion in expansions {
        expansion.page_size = page_size;
        limit_pages(&mut expansion.children, page_size);
    }
}

impl Expansion {
    /// The column a parent row must carry for this expansion (a to-one relation's key).
    fn parent_key(&self) -> Option<&str> {
        match &self.relation.kind {
            RelationKind::ToOne { key, .. } => Some(key),
            RelationKind::ToMany { .. } => None,
        }
    }
}

fn bad(message: String) -> DataError {
    DataError::BadRequest(message)
}

impl DataService {
    /// Resolves `requests` made on `entity` (the caller's view of it) at nesting `depth`
    /// (1 for the request's own `$expand`).
    pub(crate) fn resolve_expand(
        &self,
        entity: &Entity,
        requests: &[ExpandRequest],
        scopes: &[&str],
        depth: usize,
    ) -> Result<Vec<Expansion>, DataError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        if depth > MAX_EXPAND_DEPTH {
            return Err(bad(format!(
                "$expand nests deeper than {MAX_EXPAND_DEPTH} levels"
            )));
        }
        let mut expansions: Vec<Expansion> = Vec::new();
        for request in requests {
            let all = request.name == "*";
            let relations: Vec<&Relation> = if all {
                entity.relations.iter().collect()
            } else {
                let relation = entity.relation(&request.name).ok_or_else(|| {
                    bad(format!(
                        "$expand: {} has no navigation property {:?} at position {}",
                        entity.name,
                        shortened(&request.name),
                        request.position
                    ))
                })?;
                vec![relation]
            };
            for relation in relations {
                if expansions.iter().any(|e| e.relation.name == relation.name) {
                    if all {
                        continue;
                    }
                    return Err(bad(format!("$expand: {} is expanded twice", relation.name)));
                }
                match self.resolve_one(entity, relation, request, scopes, depth) {
                    Ok(Some(expansion)) => expansions.push(expansion),
                    // `*` expands what the caller may read and quietly leaves the rest.
                    Ok(None) | Err(DataError::Forbidden(_)) if all => {}
                    Ok(None) => {
                        return Err(bad(format!(
                            "$expand: {} has no navigation property {:?} at position {}",
                            entity.name,
                            shortened(&request.name),
                            request.position
                        )));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(expansions)
    }

    fn resolve_one(
        &self,
        entity: &Entity,
        relation: &Relation,
        request: &ExpandRequest,
        scopes: &[&str],
        depth: usize,
    ) -> Result<Option<Expansion>, DataError> {
        let target = self.entity(&relation.target)?;
        // An entity the caller may not read is never expanded into an answer.
        Self::require(target.scopes_to_read(), scopes)?;
        let view = target.readable_by(scopes);
        if let RelationKind::ToMany { key, .. } = &relation.kind
            && view.property(key).is_none()
        {
            // The reverse of a key the caller cannot see is hidden with it.
            return Ok(None);
        }
        let query = CollectionQuery::parse(&view, &request.options).map_err(|e| {
            let mut message = e.to_string();
            if let Some(at) = message.find(" (supported:") {
                // Inside $expand fewer options apply than at the top.
                message.truncate(at);
                message.push_str(if relation.is_collection() {
                    " (inside $expand: $select, $expand, $filter, $orderby, $top, $skip, $count)"
                } else {
                    " (inside $expand of a single item: $select, $expand)"
                });
            }
            bad(format!("$expand={}: {message}", relation.name))
        })?;
        if query.apply.is_some() {
            return Err(bad(format!(
                "$expand={}: $apply applies to the request's own collection",
                relation.name
            )));
        }
        if query.search.is_some() {
            return Err(bad(format!(
                "$expand={}: $search applies to the request's own collection, not inside $expand",
                relation.name
            )));
        }
        let collection_only = query.filter.is_some()
            || !query.order_by.is_empty()
            || query.top.is_some()
            || query.skip > 0
            || query.count;
        if !relation.is_collection() && collection_only {
            return Err(bad(format!(
                "$expand={}: {} is a single {}; only $select and $expand apply to it",
                relation.name, relation.name, relation.target
            )));
        }
        let children = self.resolve_expand(&view, &query.expand, scopes, depth + 1)?;
        let _ = entity;
        Ok(Some(Expansion {
            relation: relation.clone(),
            target: view,
            query,
            options: request.options.clone(),
            children,
            page_size: self.page_size,
        }))
    }

    /// Adds to `columns`/`kinds` the keys `expansions` need that are not there; returns them
    /// (to be removed from the answer once expanded).
    pub(crate) fn add_parent_keys(
        columns: &mut Vec<String>,
        kinds: &mut Vec<ColumnKind>,
        expansions: &[Expansion],
    ) -> Vec<String> {
        let mut extra = Vec::new();
        for expansion in expansions {
            let Some(key) = expansion.parent_key() else {
                continue;
            };
            if !columns.iter().any(|c| c == key) {
                columns.push(key.to_string());
                // A to-one key holds an id of the target.
                kinds.push(crate::ids::id_column_kind(&expansion.target));
                extra.push(key.to_string());
            }
        }
        extra
    }

    /// Expands every row of `rows` (read with the keys `expansions` need).
    pub(crate) async fn expand_rows(
        &self,
        rows: &mut [Map<String, Value>],
        expansions: &[Expansion],
        scopes: &[&str],
        base_url: &str,
    ) -> Result<(), DataError> {
        for expansion in expansions {
            match &expansion.relation.kind {
                RelationKind::ToOne { key, .. } => {
                    self.expand_to_one(rows, expansion, key, scopes, base_url)
                        .await?;
                }
                RelationKind::ToMany { key, .. } => {
                    self.expand_to_many(rows, expansion, key, scopes, base_url)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The target columns an expansion reads: its selection, its children's keys, and
    /// `also`; with the ones to remove afterwards.
    fn target_columns(
        expansion: &Expansion,
        scopes: &[&str],
        also: Option<&str>,
    ) -> (Vec<String>, Vec<ColumnKind>, Vec<String>) {
        let (mut columns, mut kinds) =
            Self::visible(&expansion.target, scopes, expansion.query.select.as_ref());
        let mut extra = Self::add_parent_keys(&mut columns, &mut kinds, &expansion.children);
        if let Some(also) = also
            && !columns.iter().any(|c| c == also)
        {
            columns.push(also.to_string());
            kinds.push(
                expansion
                    .target
                    .property(also)
                    .map_or(ColumnKind::Text, |p| crate::table::column_kind(p.kind)),
            );
            extra.push(also.to_string());
        }
        (columns, kinds, extra)
    }

    async fn expand_to_one(
        &self,
        rows: &mut [Map<String, Value>],
        expansion: &Expansion,
        key: &str,
        scopes: &[&str],
        base_url: &str,
    ) -> Result<(), DataError> {
        let ids: BTreeSet<String> = rows
            .iter()
            .filter_map(|r| r.get(key).and_then(crate::ids::id_text))
            .collect();
        let (columns, kinds, extra) = Self::target_columns(expansion, scopes, None);
        let table = quote(self.dialect(), &table_name(&expansion.target));
        let id = quote(self.dialect(), "id");
        let mut targets = Vec::new();
        let ids: Vec<String> = ids.into_iter().collect();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {} FROM {table} WHERE {id} IN ({})",
                self.column_list(&columns),
                vec!["?"; chunk.len()].join(", ")
            );
            let values = chunk
                .iter()
                .map(|id| crate::ids::id_bind(&expansion.target, id))
                .collect::<Result<Vec<DynValue>, DataError>>()?;
            for row in self.fetch_rows(&sql, &values, &kinds).await? {
                targets.push(row_json(&expansion.target, &columns, row));
            }
        }
        self.finish(&mut targets, expansion, &extra, scopes, base_url)
            .await?;
        let by_id: HashMap<String, Map<String, Value>> = targets
            .into_iter()
            .filter_map(|t| Some((crate::ids::id_text(t.get("id")?)?, t)))
            .collect();
        let weights: HashMap<&String, usize> =
            by_id.iter().map(|(id, t)| (id, weight(t))).collect();
        let total: usize = rows
            .iter()
            .filter_map(|r| r.get(key).and_then(crate::ids::id_text))
            .filter_map(|id| weights.get(&id))
            .sum();
        if total > MAX_EXPANDED_ITEMS {
            return Err(too_many(&expansion.relation.name));
        }
        for row in rows.iter_mut() {
            let target = row
                .get(key)
                .and_then(crate::ids::id_text)
                .and_then(|id| by_id.get(&id))
                .map_or(Value::Null, |t| Value::Object(t.clone()));
            row.insert(expansion.relation.name.clone(), target);
        }
        Ok(())
    }

    /// Expands the children of freshly read targets, then drops their helper columns.
    async fn finish(
        &self,
        targets: &mut [Map<String, Value>],
        expansion: &Expansion,
        extra: &[String],
        scopes: &[&str],
        base_url: &str,
    ) -> Result<(), DataError> {
        Box::pin(self.expand_rows(targets, &expansion.children, scopes, base_url)).await?;
        for target in targets.iter_mut() {
            for column in extra {
                target.remove(column);
            }
        }
        Ok(())
    }

    async fn expand_to_many(
        &self,
        rows: &mut [Map<String, Value>],
        expansion: &Expansion,
        key: &str,
        scopes: &[&str],
        base_url: &str,
    ) -> Result<(), DataError> {
        let query = &expansion.query;
        let parents: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get("id").and_then(crate::ids::id_text))
            .collect();
        let (columns, mut kinds, extra) = Self::target_columns(expansion, scopes, Some(key));
        let kinds_key_is_int = expansion
            .target
            .property(key)
            .is_some_and(|p| p.kind == crate::PropertyType::Integer);
        let page_size = expansion.page_size.max(1);
        let limit = query.top.map_or(page_size, |top| top.min(page_size));
        let d = self.dialect();
        let k = quote(d, key);
        let mut order: Vec<String> = query
            .order_by
            .iter()
            .map(|(c, desc)| format!("{}{}", quote(d, c), if *desc { " DESC" } else { "" }))
            .collect();
        order.push(quote(d, "id"));
        let (filter_sql, filter_values) = match &query.filter {
            Some(expr) => {
                if crate::filter::mentions_it(expr) {
                    return Err(bad(format!(
                        "$expand={}: $it inside $expand would name the outer item; keyway does \
                         not serve that: filter on the expanded items' own properties",
                        expansion.relation.name
                    )));
                }
                let reach = |name: &str| self.readable_target(name, scopes);
                let fragment = compile_filter_reaching(expr, &expansion.target, d, &reach)
                    .map_err(|e| bad(format!("$expand={}: {e}", expansion.relation.name)))?;
                (
                    format!(" AND ({})", fragment.sql),
                    fragment.values.into_iter().map(sql_value).collect(),
                )
            }
            None => (String::new(), Vec::new()),
        };
        let list = self.column_list(&columns);
        let counted = if query.count {
            format!(", COUNT(*) OVER (PARTITION BY {k}) AS kw_c")
        } else {
            String::new()
        };
        // With $count and $skip, a parent whose rows all lie before $skip still needs its
        // count: its first row comes along for that and is dropped below.
        let first_too = if query.count && query.skip > 0 {
            " OR kw_n = 1"
        } else {
            ""
        };
        let skip = i64::try_from(query.skip).unwrap_or(i64::MAX);
        kinds.push(ColumnKind::Int);
        if query.count {
            kinds.push(ColumnKind::Int);
        }
        let mut groups: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
        let mut counts: HashMap<String, i64> = HashMap::new();
        let mut all = Vec::new();
        for chunk in parents.chunks(CHUNK) {
            // Rows still within the budget, and one to tell that it is exceeded (written in,
            // as `limit_clause` says why).
            let room = MAX_EXPANDED_ITEMS.saturating_sub(all.len()) + 1;
            let sql = format!(
                "SELECT {list}, kw_n{c} FROM (SELECT {list}, ROW_NUMBER() OVER \
                 (PARTITION BY {k} ORDER BY {}) AS kw_n{counted} FROM {} WHERE {k} IN ({}){filter_sql}) \
                 AS kw_x WHERE (kw_n > ? AND kw_n <= ?){first_too} ORDER BY {k}, kw_n LIMIT {room}",
                order.join(", "),
                quote(d, &table_name(&expansion.target)),
                vec!["?"; chunk.len()].join(", "),
                c = if query.count { ", kw_c" } else { "" },
            );
            // The parents' ids, against the target's key column (of the same type).
            let mut values: Vec<DynValue> = chunk
                .iter()
                .map(|id| match crate::ids::integer_id(id) {
                    Some(i) if kinds_key_is_int => DynValue::Int(i),
                    _ => DynValue::Text(id.clone()),
                })
                .collect();
            values.extend(filter_values.iter().cloned());
            values.push(DynValue::Int(skip));
            // One more than a page: whether a next link is due.
            values.push(DynValue::Int(skip.saturating_add(i64::from(limit) + 1)));
            let rows_read = self.fetch_rows(&sql, &values, &kinds).await?;
            if rows_read.len() >= room {
                return Err(too_many(&expansion.relation.name));
            }
            for mut row in rows_read {
                let count = if query.count { row.pop() } else { None };
                let n = match row.pop() {
                    Some(DynValue::Int(n)) => n,
                    _ => 0,
                };
                let item = row_json(&expansion.target, &columns, row);
                let Some(parent) = item.get(key).and_then(crate::ids::id_text) else {
                    continue;
                };
                if let Some(DynValue::Int(c)) = count {
                    counts.insert(parent.clone(), c);
                }
                if n > skip {
                    all.push((parent, item));
                }
            }
        }
        let mut items: Vec<Map<String, Value>> = Vec::with_capacity(all.len());
        let mut owners = Vec::with_capacity(all.len());
        for (parent, item) in all {
            owners.push(parent);
            items.push(item);
        }
        self.finish(&mut items, expansion, &extra, scopes, base_url)
            .await?;
        if items.iter().map(weight).sum::<usize>() > MAX_EXPANDED_ITEMS {
            return Err(too_many(&expansion.relation.name));
        }
        for (parent, item) in owners.into_iter().zip(items) {
            groups.entry(parent).or_default().push(item);
        }
        let name = &expansion.relation.name;
        let wanted_more = |limit: u32| query.top.is_none_or(|top| top > limit);
        for row in rows.iter_mut() {
            let Some(id) = row.get("id").and_then(crate::ids::id_text) else {
                continue;
            };
            let mut group = groups.remove(&id).unwrap_or_default();
            let more = limit > 0 && wanted_more(limit) && group.len() > limit as usize;
            group.truncate(limit as usize);
            if query.count {
                row.insert(
                    format!("{name}@odata.count"),
                    json!(counts.get(&id).copied().unwrap_or(0)),
                );
            }
            if more {
                let link = self.nested_next_link(expansion, key, &id, limit, base_url);
                row.insert(format!("{name}@odata.nextLink"), json!(link));
            }
            row.insert(
                name.clone(),
                Value::Array(group.into_iter().map(Value::Object).collect()),
            );
        }
        Ok(())
    }

    /// The rest of one parent's expanded collection, as a query on the target's own
    /// collection: its key equal to the parent's id, the nested options kept.
    fn nested_next_link(
        &self,
        expansion: &Expansion,
        key: &str,
        parent: &str,
        limit: u32,
        base_url: &str,
    ) -> String {
        let query = &expansion.query;
        let mut filter = format!("{key} eq {parent}");
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (option, value) in &expansion.options {
            match option.to_ascii_lowercase().as_str() {
                "$filter" => filter = format!("{filter} and ({value})"),
                "$top" | "$skip" | "$count" => {}
                _ => pairs.push((option.clone(), value.clone())),
            }
        }
        pairs.insert(0, ("$filter".into(), filter));
        if let Some(top) = query.top {
            pairs.push(("$top".into(), (top - limit).to_string()));
        }
        pairs.push(("$skip".into(), (query.skip + u64::from(limit)).to_string()));
        format!(
            "{base_url}/{}?{}",
            expansion.target.name,
            url_encode(&pairs)
        )
    }
}
