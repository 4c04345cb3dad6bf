//! The data API's operations: scopes, OData collection queries, CRUD with ETags.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keyway_store::{ColumnKind, DynValue, Store};
use serde_json::{Map, Value, json};

use crate::body::{body_values, row_json};
use crate::deep_insert::{is_deep, resolve_binds};
use crate::expand_exec::{Expansion, limit_pages};
use crate::expand_join::{attach, joinable, joined_sql};
use crate::filter::sql::quote;
use crate::filter::{Reach, compile_filter_reaching};
use crate::query::CollectionQuery;
use crate::search::compile_search;
use crate::table::{column_kind, table_name};
use crate::{Dialect, Entity, Property, SchemaSet, SqlValue};

/// What went wrong, in the vocabulary of HTTP problems.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The token lacks every scope that would allow the operation.
    #[error("this operation needs one of the scopes: {}", .0.join(" "))]
    Forbidden(Vec<String>),
    #[error("the item changed since it was read (ETag mismatch)")]
    PreconditionFailed,
    /// The write contradicts stored rows (a delete of an item others still reference).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] keyway_store::StoreError),
}

/// Rows per page unless configured otherwise (as OData servers commonly do).
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// One page of a collection, and the page size preference it honoured (for
/// `Preference-Applied`).
pub struct Page {
    pub body: Value,
    pub max_page_size_applied: Option<u32>,
}

/// Wiring for the service: time and identifiers come from the hub.
pub struct DataService {
    pub(crate) store: Store,
    schemas: Arc<SchemaSet>,
    dialect: Dialect,
    /// Rows per page of a collection (server-driven paging: more rows → `@odata.nextLink`);
    /// a client's `Prefer: odata.maxpagesize` may lower it for its request.
    pub page_size: u32,
    pub(crate) now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    pub(crate) new_id: Arc<dyn Fn() -> String + Send + Sync>,
    /// Queries run so far (a test proves `$expand` runs no query per row with it).
    queries: AtomicU64,
}

/// One item with its ETag.
pub struct Item {
    pub id: String,
    pub etag: String,
    pub body: Value,
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

pub(crate) fn sql_value(v: SqlValue) -> DynValue {
    match v {
        SqlValue::Int(i) => DynValue::Int(i),
        SqlValue::Float(f) => DynValue::Float(f),
        SqlValue::Text(t) => DynValue::Text(t),
    }
}

impl DataService {
    pub fn new(
        store: Store,
        schemas: Arc<SchemaSet>,
        now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
        new_id: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> DataService {
        let dialect = match store.backend() {
            keyway_store::Backend::Sqlite => Dialect::Sqlite,
            keyway_store::Backend::Postgres => Dialect::Postgres,
            keyway_store::Backend::Mysql => Dialect::Mysql,
        };
        DataService {
            store,
            schemas,
            dialect,
            page_size: DEFAULT_PAGE_SIZE,
            now_ms,
            new_id,
            queries: AtomicU64::new(0),
        }
    }

    /// How many reading queries this service has run.
    pub fn queries_run(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Runs a `SELECT COUNT(*) …`.
    pub(crate) async fn count_rows(
        &self,
        sql: &str,
        values: &[DynValue],
    ) -> Result<i64, DataError> {
        let rows = self.fetch_rows(sql, values, &[ColumnKind::Int]).await?;
        Ok(match rows.first().and_then(|r| r.first()) {
            Some(DynValue::Int(n)) => *n,
            _ => 0,
        })
    }

    /// Runs a reading query (counted).
    pub(crate) async fn fetch_rows(
        &self,
        sql: &str,
        values: &[DynValue],
        kinds: &[ColumnKind],
    ) -> Result<Vec<Vec<DynValue>>, DataError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        match self.store.dyn_fetch(sql, values, kinds).await {
            Err(e) if e.is_data_exception() => Err(DataError::BadRequest(
                "the database cannot compute this answer (a value out of range, or a division \
                 by zero)"
                    .into(),
            )),
            result => Ok(result?),
        }
    }

    pub fn schemas(&self) -> &SchemaSet {
        &self.schemas
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(crate) fn entity(&self, name: &str) -> Result<&Entity, DataError> {
        self.schemas
            .entity(name)
            .ok_or_else(|| DataError::NotFound(format!("no entity {name:?}")))
    }

    pub(crate) fn require(allowed: Vec<String>, scopes: &[&str]) -> Result<(), DataError> {
        if allowed.iter().any(|a| scopes.contains(&a.as_str())) {
            Ok(())
        } else {
            Err(DataError::Forbidden(allowed))
        }
    }

    /// The columns a caller with `scopes` may read, in order, with their kinds.
    pub(crate) fn visible(
        entity: &Entity,
        scopes: &[&str],
        select: Option<&Vec<String>>,
    ) -> (Vec<String>, Vec<ColumnKind>) {
        let mut columns = vec!["id".to_string()];
        let mut kinds = vec![crate::ids::id_column_kind(entity)];
        for p in &entity.properties {
            let allowed = p.readable_by(scopes);
            let selected = select.is_none_or(|names| names.contains(&p.name));
            if allowed && selected {
                columns.push(p.name.clone());
                kinds.push(column_kind(p.kind));
            }
        }
        (columns, kinds)
    }

    pub(crate) fn column_list(&self, columns: &[String]) -> String {
        columns
            .iter()
            .map(|c| quote(self.dialect, c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `GET /api/Entity`: an OData collection page. Pages hold at most the server's page
    /// size (or the client's smaller `max_page_size`, from `Prefer: odata.maxpagesize`); a
    /// next link follows while more rows match, and never beyond the client's `$top`: it
    /// carries the `$top` still to come.
    pub async fn list(
        &self,
        entity_name: &str,
        pairs: &[(String, String)],
        scopes: &[&str],
        base_url: &str,
        max_page_size: Option<u32>,
    ) -> Result<Page, DataError> {
        let (entity, query) = self.readable_query(entity_name, pairs, scopes)?;
        let entity = &entity;
        let applied = max_page_size.filter(|asked| *asked > 0 && *asked < self.page_size);
        if let Some(apply) = &query.apply {
            let page_size = applied.unwrap_or(self.page_size).max(1);
            let body = self
                .list_groups(
                    entity,
                    &query,
                    apply,
                    crate::apply_exec::GroupPage {
                        pairs,
                        base_url,
                        size: page_size,
                    },
                    scopes,
                )
                .await?;
            return Ok(Page {
                body,
                max_page_size_applied: applied,
            });
        }
        let expansions = self.resolve_expand(entity, &query.expand, scopes, 1)?;
        let (mut columns, mut kinds) = Self::visible(entity, scopes, query.select.as_ref());
        let mut extra = Self::add_parent_keys(&mut columns, &mut kinds, &expansions);
        let (joins, mut expansions) = joinable(expansions, scopes);
        let table = quote(self.dialect, &table_name(entity));
        let reach = |name: &str| self.readable_target(name, scopes);
        let (where_sql, values) = self.where_clause(entity, &query, &reach)?;
        let mut order: Vec<String> = query
            .order_by
            .iter()
            .map(|(c, desc)| {
                format!(
                    "{}{}",
                    quote(self.dialect, c),
                    if *desc { " DESC" } else { "" }
                )
            })
            .collect();
        order.push(quote(self.dialect, "id"));
        let page_size = applied.unwrap_or(self.page_size).max(1);
        let limit = query.top.map_or(page_size, |top| top.min(page_size));
        let page_tail = format!(
            "{where_sql} ORDER BY {}{}",
            order.join(", "),
            limit_clause(i64::from(limit) + 1, query.skip)
        );
        let sql = if joins.is_empty() {
            format!(
                "SELECT {} FROM {table}{page_tail}",
                self.column_list(&columns)
            )
        } else {
            let (sql, order_extra) = joined_sql(
                self.dialect,
                entity,
                &mut columns,
                &mut kinds,
                &query.order_by,
                &page_tail,
                &joins,
            );
            extra.extend(order_extra);
            sql
        };
        let count_values = values.clone();
        limit_pages(&mut expansions, page_size);
        let mut rows = self.fetch_rows(&sql, &values, &kinds).await?;
        // More rows match, and the client wants more than this page (`$top=0` wants none: a
        // next link would point at this very page again).
        let wanted_more = query.top.is_none_or(|top| top > limit);
        let more = limit > 0 && wanted_more && rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let mut maps = attach(rows, columns.len(), entity, &columns, &joins)?;
        self.expand_rows(&mut maps, &expansions, scopes, base_url)
            .await?;
        let items: Vec<Value> = maps
            .into_iter()
            .map(|mut map| {
                for column in &extra {
                    map.remove(column);
                }
                Value::Object(map)
            })
            .collect();
        let mut page = Map::new();
        page.insert(
            "@odata.context".into(),
            json!(format!("{base_url}/$metadata#{}", entity.name)),
        );
        if query.count {
            let count_sql = format!("SELECT COUNT(*) FROM {table}{where_sql}");
            let n = self.count_rows(&count_sql, &count_values).await?;
            page.insert("@odata.count".into(), json!(n));
        }
        if more {
            page.insert(
                "@odata.nextLink".into(),
                json!(next_link(base_url, &entity.name, pairs, &query, limit)),
            );
        }
        page.insert("value".into(), Value::Array(items));
        Ok(Page {
            body: Value::Object(page),
            max_page_size_applied: applied,
        })
    }

    /// `GET /api/Entity/$count`.
    pub async fn count(
        &self,
        entity_name: &str,
        pairs: &[(String, String)],
        scopes: &[&str],
    ) -> Result<i64, DataError> {
        let (entity, query) = self.readable_query(entity_name, pairs, scopes)?;
        if query.apply.is_some() {
            return Err(DataError::BadRequest(
                "/$count counts items: to count groups, ask the collection with $apply and \
                 $count=true"
                    .into(),
            ));
        }
        let reach = |name: &str| self.readable_target(name, scopes);
        let (where_sql, values) = self.where_clause(&entity, &query, &reach)?;
        let sql = format!(
            "SELECT COUNT(*) FROM {}{where_sql}",
            quote(self.dialect, &table_name(&entity))
        );
        let rows = self.fetch_rows(&sql, &values, &[ColumnKind::Int]).await?;
        Ok(match rows.first().and_then(|r| r.first()) {
            Some(DynValue::Int(n)) => *n,
            _ => 0,
        })
    }

    /// Checks the read scope and parses the query options against the entity as the caller
    /// may read it, so a property it cannot read is unusable in `$filter`, `$orderby` and
    /// `$select` (and `$count`) and answered exactly as an undeclared one: reading rows
    /// through a filter or an order is reading the property.
    fn readable_query(
        &self,
        entity_name: &str,
        pairs: &[(String, String)],
        scopes: &[&str],
    ) -> Result<(Entity, CollectionQuery), DataError> {
        let entity = self.entity(entity_name)?;
        Self::require(entity.scopes_to_read(), scopes)?;
        let view = entity.readable_by(scopes);
        let query = CollectionQuery::parse(&view, pairs)
            .map_err(|e| DataError::BadRequest(e.to_string()))?;
        Ok((view, query))
    }

    /// The columns and values of a write body, checked against the entity as the caller may
    /// write it: a property it can neither read nor holds the `writeScope` of is refused as
    /// undeclared. A required property it may not write makes creating impossible (403).
    pub(crate) fn writable_values(
        entity: &Entity,
        body: &Value,
        scopes: &[&str],
        create: bool,
    ) -> Result<Vec<(String, DynValue)>, DataError> {
        let view = entity.writable_by(scopes);
        if create {
            let blocked: Vec<&Property> = entity
                .properties
                .iter()
                .filter(|p| p.required && view.property(&p.name).is_none())
                .collect();
            if !blocked.is_empty() {
                let scopes = blocked
                    .iter()
                    .flat_map(|p| p.read_scope.iter().chain(&p.write_scope))
                    .cloned()
                    .collect();
                return Err(DataError::Forbidden(scopes));
            }
        }
        body_values(&view, body, create).map_err(DataError::BadRequest)
    }

    /// The entity `name` as a caller holding `scopes` may read it, if it may: what `$filter`
    /// reaches through navigation properties (`$expand` checks the same).
    pub(crate) fn readable_target(&self, name: &str, scopes: &[&str]) -> Option<Entity> {
        let target = self.entity(name).ok()?;
        Self::require(target.scopes_to_read(), scopes).ok()?;
        Some(target.readable_by(scopes))
    }

    /// ` WHERE …` for `query`'s `$filter` and `$search`, whose navigation properties lead to
    /// the entities `reach` gives.
    pub(crate) fn where_clause(
        &self,
        entity: &Entity,
        query: &CollectionQuery,
        reach: Reach<'_>,
    ) -> Result<(String, Vec<DynValue>), DataError> {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        if let Some(expr) = &query.filter {
            let fragment = compile_filter_reaching(expr, entity, self.dialect, reach)
                .map_err(|e| DataError::BadRequest(e.to_string()))?;
            conditions.push(fragment.sql);
            values.extend(fragment.values.into_iter().map(sql_value));
        }
        if let Some(search) = &query.search {
            let fragment = compile_search(search, entity, self.dialect)
                .map_err(|e| DataError::BadRequest(e.to_string()))?;
            conditions.push(fragment.sql);
            values.extend(fragment.values.into_iter().map(sql_value));
        }
        if conditions.is_empty() {
            return Ok((String::new(), values));
        }
        Ok((format!(" WHERE ({})", conditions.join(") AND (")), values))
    }

    /// `GET /api/Entity(id)`, with `$select` and `$expand` if given (`pairs`).
    pub async fn get(
        &self,
        entity_name: &str,
        id: &str,
        pairs: &[(String, String)],
        scopes: &[&str],
        base_url: &str,
    ) -> Result<Item, DataError> {
        let entity = self.entity(entity_name)?;
        Self::require(entity.scopes_to_read(), scopes)?;
        if pairs.is_empty() {
            return self.fetch(entity, id, scopes).await;
        }
        let view = entity.readable_by(scopes);
        let query = CollectionQuery::parse(&view, pairs)
            .map_err(|e| DataError::BadRequest(e.to_string()))?;
        let for_collections = query.filter.is_some()
            || query.search.is_some()
            || query.apply.is_some()
            || !query.order_by.is_empty()
            || query.top.is_some()
            || query.skip > 0
            || query.count;
        if for_collections {
            return Err(DataError::BadRequest(
                "an item takes only $select and $expand ($filter, $orderby, $top, $skip and \
                 $count apply to collections)"
                    .into(),
            ));
        }
        let expansions = self.resolve_expand(&view, &query.expand, scopes, 1)?;
        self.fetch_with(
            entity,
            id,
            scopes,
            query.select.as_ref(),
            &expansions,
            base_url,
        )
        .await
    }

    pub(crate) async fn fetch(
        &self,
        entity: &Entity,
        id: &str,
        scopes: &[&str],
    ) -> Result<Item, DataError> {
        self.fetch_with(entity, id, scopes, None, &[], "").await
    }

    /// One item, its `select`ed properties (all visible ones for `None`), expanded.
    async fn fetch_with(
        &self,
        entity: &Entity,
        id: &str,
        scopes: &[&str],
        select: Option<&Vec<String>>,
        expansions: &[Expansion],
        base_url: &str,
    ) -> Result<Item, DataError> {
        let (mut columns, mut kinds) = Self::visible(entity, scopes, select);
        let extra = Self::add_parent_keys(&mut columns, &mut kinds, expansions);
        columns.push("version".into());
        kinds.push(ColumnKind::Int);
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ?",
            self.column_list(&columns),
            quote(self.dialect, &table_name(entity)),
            quote(self.dialect, "id")
        );
        let key = crate::ids::id_bind(entity, id)?;
        let mut rows = self.fetch_rows(&sql, &[key], &kinds).await?;
        let Some(mut row) = rows.pop() else {
            return Err(DataError::NotFound(format!(
                "no {} with id {id}",
                entity.name
            )));
        };
        let version = match row.pop() {
            Some(DynValue::Int(v)) => v,
            _ => 0,
        };
        columns.pop();
        let mut maps = [row_json(entity, &columns, row)];
        self.expand_rows(&mut maps, expansions, scopes, base_url)
            .await?;
        let [mut map] = maps;
        for column in &extra {
            map.remove(column);
        }
        Ok(Item {
            id: crate::ids::canonical_id(entity, id)?,
            etag: etag(version),
            body: Value::Object(map),
        })
    }

    /// `POST /api/Entity` (no nested items answer with next links, see [`Self::create_at`]).
    pub async fn create(
        &self,
        entity_name: &str,
        body: &Value,
        scopes: &[&str],
    ) -> Result<Item, DataError> {
        self.create_at(entity_name, body, scopes, "").await
    }

    /// `POST /api/Entity`, answered with links under `base_url`. A body that nests related
    /// items creates them too, in one transaction (deep insert), and answers with them.
    pub async fn create_at(
        &self,
        entity_name: &str,
        body: &Value,
        scopes: &[&str],
        base_url: &str,
    ) -> Result<Item, DataError> {
        let entity = self.entity(entity_name)?;
        Self::require(entity.scopes_to_write(), scopes)?;
        let view = entity.readable_by(scopes);
        if is_deep(&view, body) {
            return Ok(self.create_deep(entity, body, scopes, base_url).await?.0);
        }
        let body = &resolve_binds(&view, body)?;
        let values = Self::writable_values(entity, body, scopes, true)?;
        self.require_targets_readable(entity, &values, scopes)?;
        let written = values.clone();
        let mut id = self.id_for_new(entity, body).await?;
        let now = (self.now_ms)();
        let mut columns = vec![
            "id".to_string(),
            "version".into(),
            "created_at".into(),
            "updated_at".into(),
        ];
        let mut binds = vec![
            crate::ids::id_bind(entity, &id)?,
            DynValue::Int(1),
            DynValue::Int(now),
            DynValue::Int(now),
        ];
        for (column, value) in values {
            columns.push(column);
            binds.push(value);
        }
        let placeholders = vec!["?"; columns.len()].join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({placeholders})",
            quote(self.dialect, &table_name(entity)),
            self.column_list(&columns)
        );
        let counted = entity.id_type == crate::IdType::Integer
            && body
                .as_object()
                .and_then(crate::id_counters::chosen_value)
                .is_none();
        let mut retried = false;
        loop {
            match self.store.dyn_execute(&sql, &binds).await {
                Err(e) if e.is_foreign_key_violation() => {
                    return Err(self.missing_reference(entity, &written).await);
                }
                // A counted id that a client chose between the counter's check and this
                // insert: take the next one, once.
                Err(e) if e.is_unique_violation() && counted && !retried => {
                    retried = true;
                    id = self.id_for_new(entity, body).await?;
                    binds[0] = crate::ids::id_bind(entity, &id)?;
                }
                Err(e) if e.is_unique_violation() => {
                    return Err(DataError::Conflict(format!(
                        "{} {id} exists already",
                        entity.name
                    )));
                }
                result => {
                    result?;
                    break;
                }
            }
        }
        self.fetch(entity, &id, scopes).await
    }

    /// The id of a new item of `entity`: a new UUID; for integer ids the client's `id` if
    /// the body has one, else the next free one from the counter.
    pub(crate) async fn id_for_new(
        &self,
        entity: &Entity,
        body: &Value,
    ) -> Result<String, DataError> {
        if entity.id_type == crate::IdType::Uuid {
            return Ok((self.new_id)());
        }
        Ok(
            match body.as_object().and_then(crate::id_counters::chosen_value) {
                None => crate::id_counters::take_ids(&self.store, self.dialect, entity, 1)
                    .await?
                    .to_string(),
                Some(value) => crate::id_counters::given_id(entity, value)?.to_string(),
            },
        )
    }

    pub(crate) fn check_etag(current: &str, if_match: Option<&str>) -> Result<i64, DataError> {
        let version = current.trim_matches('"').parse::<i64>().unwrap_or(0);
        match if_match.map(str::trim) {
            None | Some("*") => Ok(version),
            Some(given)
                if given
                    .split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == current) =>
            {
                Ok(version)
            }
            Some(_) => Err(DataError::PreconditionFailed),
        }
    }
}

/// ` LIMIT n OFFSET m` with the numbers written in: SQLite's planner reads a LIMIT parameter's
/// bound value, so rebinding it (every request) makes SQLite prepare the statement anew each
/// time. The numbers are the server's own integers, never request text.
pub(crate) fn limit_clause(limit: i64, offset: u64) -> String {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    format!(" LIMIT {limit} OFFSET {offset}")
}

/// The link to the page after one of `limit` rows: the request's options, with `$skip`
/// moved on and what is left of its `$top`.
pub(crate) fn next_link(
    base_url: &str,
    entity: &str,
    pairs: &[(String, String)],
    query: &CollectionQuery,
    limit: u32,
) -> String {
    let mut next: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip") && !k.eq_ignore_ascii_case("$top"))
        .cloned()
        .collect();
    if let Some(top) = query.top {
        next.push(("$top".into(), (top - limit).to_string()));
    }
    next.push(("$skip".into(), (query.skip + u64::from(limit)).to_string()));
    format!("{base_url}/{entity}?{}", url_encode(&next))
}

pub(crate) fn url_encode(pairs: &[(String, String)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'$' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
