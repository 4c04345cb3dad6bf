//! Operator export: every row of an entity, in id order, a page at a time.
//!
//! Pages are keyset-paged (`id > last`), not `OFFSET`-paged, so a large table costs the same
//! per page from start to end and rows written during the export are neither skipped nor
//! repeated.

use serde_json::Value;

use crate::body::row_json;
use crate::filter::sql::quote;
use crate::query::CollectionQuery;
use crate::table::table_name;
use crate::{DataError, DataService};

/// Where one export page ends and the next starts.
pub struct ExportPage {
    pub items: Vec<Value>,
    /// The id to pass as `after` for the next page; `None` when this was the last.
    pub next_after: Option<String>,
}

impl DataService {
    /// Up to `limit` items of `entity_name` with an id after `after`, all properties
    /// (the operator is not limited by read scopes), optionally narrowed by an OData
    /// `$filter` expression.
    pub async fn export_page(
        &self,
        entity_name: &str,
        filter: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ExportPage, DataError> {
        let entity = self.entity(entity_name)?;
        let pairs: Vec<(String, String)> = filter
            .map(|f| vec![("$filter".to_string(), f.to_string())])
            .unwrap_or_default();
        let query = CollectionQuery::parse(entity, &pairs)
            .map_err(|e| DataError::BadRequest(e.to_string()))?;
        let every_scope: Vec<&str> = entity
            .properties
            .iter()
            .filter_map(|p| p.read_scope.as_deref())
            .collect();
        let (columns, kinds) = Self::visible(entity, &every_scope, None);
        // An export is the operator's: every entity is reachable, whole.
        let reach = |name: &str| self.entity(name).ok().cloned();
        let (where_sql, mut values) = self.where_clause(entity, &query, &reach)?;
        let id = quote(self.dialect(), "id");
        let mut conditions = Vec::new();
        if !where_sql.is_empty() {
            conditions.push(format!("({})", where_sql.trim_start_matches(" WHERE ")));
        }
        if let Some(after) = after {
            conditions.push(format!("{id} > ?"));
            values.push(crate::ids::id_bind(entity, after)?);
        }
        let where_all = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM {}{where_all} ORDER BY {id} LIMIT {limit}",
            self.column_list(&columns),
            quote(self.dialect(), &table_name(entity)),
        );
        let rows = self.store.dyn_fetch(&sql, &values, &kinds).await?;
        let full = rows.len() == limit as usize;
        let items: Vec<Value> = rows
            .into_iter()
            .map(|row| Value::Object(row_json(entity, &columns, row)))
            .collect();
        let next_after = if full {
            items
                .last()
                .and_then(|item| item.get("id"))
                .and_then(crate::ids::id_text)
        } else {
            None
        };
        Ok(ExportPage { items, next_after })
    }
}
