//! OData system query options of a collection request, checked against the entity.

use crate::filter::{Expr, parse_filter};
use crate::{Entity, FilterError};

/// A collection query, validated.
#[derive(Debug, Clone)]
pub struct CollectionQuery {
    pub filter: Option<Expr>,
    /// Canonical property names to return (`id` always included); `None` = all visible.
    pub select: Option<Vec<String>>,
    /// (canonical property, descending)
    pub order_by: Vec<(String, bool)>,
    pub top: u32,
    pub skip: u64,
    pub count: bool,
}

/// A bad query option; the message names the option (and, for `$filter`, the position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl From<FilterError> for QueryError {
    fn from(err: FilterError) -> QueryError {
        QueryError(err.to_string())
    }
}

fn canonical(entity: &Entity, name: &str, option: &str) -> Result<String, QueryError> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("id") {
        return Ok("id".into());
    }
    entity
        .property(name)
        .map(|p| p.name.clone())
        .ok_or_else(|| {
            QueryError(format!(
                "{option}: {} has no property {name:?}",
                entity.name
            ))
        })
}

impl CollectionQuery {
    /// Parses the query string pairs. Unknown options are refused by name.
    pub fn parse(
        entity: &Entity,
        pairs: &[(String, String)],
        default_top: u32,
        max_top: u32,
    ) -> Result<CollectionQuery, QueryError> {
        let mut query = CollectionQuery {
            filter: None,
            select: None,
            order_by: Vec::new(),
            top: default_top,
            skip: 0,
            count: false,
        };
        let mut seen = Vec::new();
        for (key, value) in pairs {
            let option = key.to_ascii_lowercase();
            if seen.contains(&option) {
                return Err(QueryError(format!("{key} is given more than once")));
            }
            seen.push(option.clone());
            match option.as_str() {
                "$filter" => query.filter = Some(parse_filter(value)?),
                "$select" => {
                    let names = value
                        .split(',')
                        .map(|n| canonical(entity, n, "$select"))
                        .collect::<Result<Vec<_>, _>>()?;
                    query.select = Some(names);
                }
                "$orderby" => {
                    for item in value.split(',') {
                        let mut words = item.split_whitespace();
                        let name = words
                            .next()
                            .ok_or_else(|| QueryError("$orderby: empty item".into()))?;
                        let descending = match words.next().map(|w| w.to_ascii_lowercase()) {
                            None => false,
                            Some(w) if w == "asc" => false,
                            Some(w) if w == "desc" => true,
                            Some(w) => {
                                return Err(QueryError(format!(
                                    "$orderby: expected asc or desc, found {w:?}"
                                )));
                            }
                        };
                        if words.next().is_some() {
                            return Err(QueryError(format!(
                                "$orderby: unexpected text in {item:?}"
                            )));
                        }
                        query
                            .order_by
                            .push((canonical(entity, name, "$orderby")?, descending));
                    }
                }
                "$top" => {
                    let top: u32 = value.trim().parse().map_err(|_| {
                        QueryError(format!(
                            "$top must be a non-negative integer, got {value:?}"
                        ))
                    })?;
                    if top > max_top {
                        return Err(QueryError(format!(
                            "$top {top} exceeds the maximum page size {max_top}"
                        )));
                    }
                    query.top = top;
                }
                "$skip" => {
                    query.skip = value.trim().parse().map_err(|_| {
                        QueryError(format!(
                            "$skip must be a non-negative integer, got {value:?}"
                        ))
                    })?;
                }
                "$count" => {
                    query.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(QueryError(format!(
                                "$count must be true or false, got {value:?}"
                            )));
                        }
                    }
                }
                _ => {
                    return Err(QueryError(format!(
                        "unsupported query option {key:?} (supported: $filter, $select, $orderby, $top, $skip, $count)"
                    )));
                }
            }
        }
        Ok(query)
    }
}
