//! Running a grouping `$apply`: one `SELECT … GROUP BY` with per-dialect aggregate
//! expressions (PostgreSQL and MariaDB widen `SUM`/`AVG` of integers to NUMERIC/DECIMAL:
//! they are cast back, to `BIGINT`/`SIGNED` and to a double).

use keyway_store::{ColumnKind, DynValue};
use serde_json::{Map, Value, json};

use crate::apply::{Aggregate, Apply, Method};
use crate::body::row_json;
use crate::filter::Expr;
use crate::filter::sql::quote;
use crate::query::CollectionQuery;
use crate::service::next_link;
use crate::table::{column_kind, table_name};
use crate::{DataError, DataService, Dialect, Entity, PropertyType};

fn aggregate_sql(dialect: Dialect, entity: &Entity, aggregate: &Aggregate) -> (String, ColumnKind) {
    let column = aggregate
        .property
        .as_deref()
        .map(|p| quote(dialect, p))
        .unwrap_or_default();
    let kind = aggregate
        .property
        .as_deref()
        .map_or(PropertyType::Uuid, |p| property_kind(entity, p));
    let integer = kind == PropertyType::Integer;
    match aggregate.method {
        Method::Count => ("COUNT(*)".into(), ColumnKind::Int),
        Method::CountDistinct => (format!("COUNT(DISTINCT {column})"), ColumnKind::Int),
        Method::Min => (format!("MIN({column})"), column_kind(kind)),
        Method::Max => (format!("MAX({column})"), column_kind(kind)),
        Method::Sum if integer => (
            match dialect {
                Dialect::Sqlite => format!("SUM({column})"),
                Dialect::Postgres => format!("CAST(SUM({column}) AS BIGINT)"),
                Dialect::Mysql => format!("CAST(SUM({column}) AS SIGNED)"),
            },
            ColumnKind::Int,
        ),
        Method::Sum => (format!("SUM({column})"), ColumnKind::Float),
        Method::Average => (
            match dialect {
                Dialect::Sqlite => format!("AVG({column})"),
                Dialect::Postgres => format!("CAST(AVG({column}) AS DOUBLE PRECISION)"),
                Dialect::Mysql => format!("CAST(AVG({column}) AS DOUBLE)"),
            },
            ColumnKind::Float,
        ),
    }
}

/// Where a page of groups is (for its links) and how long it may be.
pub(crate) struct GroupPage<'a> {
    pub pairs: &'a [(String, String)],
    pub base_url: &'a str,
    pub size: u32,
}

/// The type of `name` in `entity`: a property's, or the id's.
fn property_kind(entity: &Entity, name: &str) -> PropertyType {
    if name.eq_ignore_ascii_case("id") {
        return entity.id_kind();
    }
    entity
        .property(name)
        .map_or(PropertyType::String, |p| p.kind)
}

impl DataService {
    /// `GET /api/Entity?$apply=…groupby/aggregate…`: one row per group (one row in all for
    /// an `aggregate` alone), paged like a collection.
    pub(crate) async fn list_groups(
        &self,
        entity: &Entity,
        query: &CollectionQuery,
        apply: &Apply,
        page: GroupPage<'_>,
        scopes: &[&str],
    ) -> Result<Value, DataError> {
        let GroupPage {
            pairs,
            base_url,
            size: page_size,
        } = page;
        let d = self.dialect();
        // The filters of $apply (and $search) decide which rows are grouped.
        let mut filtered = query.clone();
        filtered.filter = apply
            .filters
            .iter()
            .cloned()
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)));
        let reach = |name: &str| self.readable_target(name, scopes);
        let (where_sql, values) = self.where_clause(entity, &filtered, &reach)?;
        let mut select: Vec<String> = apply.group_by.iter().map(|g| quote(d, g)).collect();
        let mut kinds: Vec<ColumnKind> = apply
            .group_by
            .iter()
            .map(|g| column_kind(property_kind(entity, g)))
            .collect();
        for (i, aggregate) in apply.aggregates.iter().enumerate() {
            let (sql, kind) = aggregate_sql(d, entity, aggregate);
            select.push(format!("{sql} AS kw_a{i}"));
            kinds.push(kind);
        }
        if select.is_empty() {
            return Err(DataError::BadRequest(
                "$apply: groupby needs at least one property".into(),
            ));
        }
        let group_sql = if apply.group_by.is_empty() {
            String::new()
        } else {
            format!(
                " GROUP BY {}",
                apply
                    .group_by
                    .iter()
                    .map(|g| quote(d, g))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let alias_column = |name: &str| {
            apply
                .aggregates
                .iter()
                .position(|a| a.alias == name)
                .map_or_else(|| quote(d, name), |i| format!("kw_a{i}"))
        };
        let mut order: Vec<String> = query
            .order_by
            .iter()
            .map(|(name, desc)| {
                format!("{}{}", alias_column(name), if *desc { " DESC" } else { "" })
            })
            .collect();
        order.extend(apply.group_by.iter().map(|g| quote(d, g)));
        let order_sql = if order.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", order.join(", "))
        };
        let table = quote(d, &table_name(entity));
        let count_values = values.clone();
        let limit = query.top.map_or(page_size, |top| top.min(page_size));
        let sql = format!(
            "SELECT {} FROM {table}{where_sql}{group_sql}{order_sql}{}",
            select.join(", "),
            crate::service::limit_clause(i64::from(limit) + 1, query.skip)
        );
        let mut rows = self.fetch_rows(&sql, &values, &kinds).await?;
        let wanted_more = query.top.is_none_or(|top| top > limit);
        let more = limit > 0 && wanted_more && rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let groups: Vec<Value> = rows
            .into_iter()
            .map(|mut row| {
                let aggregates = row.split_off(apply.group_by.len());
                let mut item = Map::new();
                // Aggregated instances have no identity (OData JSON 4.01 §4.5.8).
                item.insert("@odata.id".into(), Value::Null);
                item.extend(row_json(entity, &apply.group_by, row));
                for (aggregate, value) in apply.aggregates.iter().zip(aggregates) {
                    let json = match value {
                        DynValue::Int(n) => json!(n),
                        DynValue::Float(f) => json!(f),
                        DynValue::Text(t) => json!(t),
                        DynValue::Null(_) => Value::Null,
                    };
                    item.insert(aggregate.alias.clone(), json);
                }
                Value::Object(item)
            })
            .collect();
        let mut page = Map::new();
        let shape: Vec<&str> = apply
            .group_by
            .iter()
            .map(String::as_str)
            .chain(apply.aggregates.iter().map(|a| a.alias.as_str()))
            .collect();
        page.insert(
            "@odata.context".into(),
            json!(format!(
                "{base_url}/$metadata#{}({})",
                entity.name,
                shape.join(",")
            )),
        );
        if query.count && apply.group_by.is_empty() {
            // An aggregate alone is one row, whatever it counts.
            page.insert("@odata.count".into(), json!(1));
        } else if query.count {
            let count_sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 AS kw_one FROM {table}{where_sql}{group_sql}) AS kw_groups"
            );
            let n = self.count_rows(&count_sql, &count_values).await?;
            page.insert("@odata.count".into(), json!(n));
        }
        if more {
            page.insert(
                "@odata.nextLink".into(),
                json!(next_link(base_url, &entity.name, pairs, query, limit)),
            );
        }
        page.insert("value".into(), Value::Array(groups));
        Ok(Value::Object(page))
    }
}
