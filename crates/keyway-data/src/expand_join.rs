//! A to-one `$expand` with nothing expanded inside it is read in the page's own query: the
//! page becomes a derived table, `LEFT JOIN`ed to each such target by its key. Rows cost far
//! more than columns on every backend (each row crosses the driver on its own), so this is
//! what keeps `$expand=organization` near the price of the plain list; deeper or to-many
//! expansions keep the batched path of `expand_exec.rs`.

use keyway_store::{ColumnKind, DynValue};
use serde_json::{Map, Value};

use crate::body::row_json;
use crate::expand_exec::{Expansion, MAX_EXPANDED_ITEMS, too_many};
use crate::filter::sql::quote;
use crate::schema::RelationKind;
use crate::table::{column_kind, table_name};
use crate::{DataError, DataService, Dialect, Entity};

/// A to-one expansion read by a join.
pub(crate) struct Join {
    name: String,
    key: String,
    target: Entity,
    columns: Vec<String>,
    kinds: Vec<ColumnKind>,
}

/// The expansions that can be joined, and the others.
pub(crate) fn joinable(expansions: Vec<Expansion>, scopes: &[&str]) -> (Vec<Join>, Vec<Expansion>) {
    let mut joins = Vec::new();
    let mut rest = Vec::new();
    for expansion in expansions {
        match &expansion.relation.kind {
            RelationKind::ToOne { key, .. } if expansion.children.is_empty() => {
                let (columns, kinds) = DataService::visible(
                    &expansion.target,
                    scopes,
                    expansion.query.select.as_ref(),
                );
                joins.push(Join {
                    name: expansion.relation.name.clone(),
                    key: key.clone(),
                    target: expansion.target,
                    columns,
                    kinds,
                });
            }
            _ => rest.push(expansion),
        }
    }
    (joins, rest)
}

/// The page query `inner` (selecting `columns`, ordered by `order`) with `joins` around it.
/// `columns` gains the order columns the outer query sorts by (returned, to be removed from
/// the answer), `kinds` the joined columns' kinds.
pub(crate) fn joined_sql(
    dialect: Dialect,
    entity: &Entity,
    columns: &mut Vec<String>,
    kinds: &mut Vec<ColumnKind>,
    order: &[(String, bool)],
    inner_tail: &str,
    joins: &[Join],
) -> (String, Vec<String>) {
    let mut extra = Vec::new();
    for (column, _) in order {
        if !columns.contains(column) {
            let kind = entity
                .property(column)
                .map_or(ColumnKind::Text, |p| column_kind(p.kind));
            columns.push(column.clone());
            kinds.push(kind);
            extra.push(column.clone());
        }
    }
    let inner_list: Vec<String> = columns.iter().map(|c| quote(dialect, c)).collect();
    let mut outer: Vec<String> = columns
        .iter()
        .map(|c| format!("m.{}", quote(dialect, c)))
        .collect();
    let mut from = format!(
        "(SELECT {} FROM {}{inner_tail}) AS m",
        inner_list.join(", "),
        quote(dialect, &table_name(entity))
    );
    for (i, join) in joins.iter().enumerate() {
        let alias = format!("kw_j{i}");
        outer.extend(
            join.columns
                .iter()
                .map(|c| format!("{alias}.{}", quote(dialect, c))),
        );
        kinds.extend(join.kinds.iter().copied());
        from.push_str(&format!(
            " LEFT JOIN {} AS {alias} ON {alias}.{} = m.{}",
            quote(dialect, &table_name(&join.target)),
            quote(dialect, "id"),
            quote(dialect, &join.key)
        ));
    }
    let mut sort: Vec<String> = order
        .iter()
        .map(|(c, desc)| {
            format!(
                "m.{}{}",
                quote(dialect, c),
                if *desc { " DESC" } else { "" }
            )
        })
        .collect();
    sort.push(format!("m.{}", quote(dialect, "id")));
    let sql = format!(
        "SELECT {} FROM {from} ORDER BY {}",
        outer.join(", "),
        sort.join(", ")
    );
    (sql, extra)
}

/// Splits each row into the page's columns (first `own` values) and the joined targets',
/// which go into the item under their relation's name (`null` when its key is).
pub(crate) fn attach(
    rows: Vec<Vec<DynValue>>,
    own: usize,
    entity: &Entity,
    columns: &[String],
    joins: &[Join],
) -> Result<Vec<Map<String, Value>>, DataError> {
    if let Some(join) = joins.first()
        && rows.len().saturating_mul(joins.len()) > MAX_EXPANDED_ITEMS
    {
        return Err(too_many(&join.name));
    }
    Ok(rows
        .into_iter()
        .map(|mut row| {
            let mut tail = row.split_off(own.min(row.len()));
            let mut map = row_json(entity, columns, row);
            for join in joins {
                let rest = tail.split_off(join.columns.len().min(tail.len()));
                let values = std::mem::replace(&mut tail, rest);
                let value = match values.first() {
                    Some(DynValue::Null(_)) | None => Value::Null,
                    Some(_) => Value::Object(row_json(&join.target, &join.columns, values)),
                };
                map.insert(join.name.clone(), value);
            }
            map
        })
        .collect())
}
