//! OData system query options of a collection request, checked against the entity.

use crate::apply::{Apply, parse_apply};
use crate::expand::{ExpandRequest, parse_expand};
use crate::filter::{Expr, parse_filter};
use crate::search::{Search, parse_search};
use crate::{Entity, FilterError};

/// A collection query, validated.
#[derive(Debug, Clone)]
pub struct CollectionQuery {
    pub filter: Option<Expr>,
    /// Canonical property names to return (`id` always included); `None` = all visible.
    pub select: Option<Vec<String>>,
    /// (canonical property, descending)
    pub order_by: Vec<(String, bool)>,
    /// The client's `$top`: how many rows it wants in all (over as many pages as the
    /// server's page size makes); `None`: all that match.
    pub top: Option<u32>,
    pub skip: u64,
    pub count: bool,
    /// `$expand`, as written (the service resolves the names for the caller).
    pub expand: Vec<ExpandRequest>,
    /// `$search`, checked against the entity when compiled.
    pub search: Option<Search>,
    /// `$apply` when it groups or aggregates (its filters alone join `filter`).
    pub apply: Option<Apply>,
}

/// A bad query option; the message names the option, the offending token and its 1-based
/// character position in the option's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl From<FilterError> for QueryError {
    fn from(err: FilterError) -> QueryError {
        QueryError(err.to_string())
    }
}

/// At most 40 characters of a caller's text, for an error that quotes it (the error stays
/// small whatever the caller sent).
pub fn shortened(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        short.push('…');
    }
    short
}

/// The canonical name of property `name`, found at 1-based character `position` of the
/// option's value.
fn canonical(
    entity: &Entity,
    name: &str,
    option: &str,
    position: usize,
) -> Result<String, QueryError> {
    if name.eq_ignore_ascii_case("id") {
        return Ok("id".into());
    }
    entity
        .property(name)
        .map(|p| p.name.clone())
        .ok_or_else(|| {
            QueryError(format!(
                "{option}: {} has no property {:?} at position {position}",
                entity.name,
                shortened(name)
            ))
        })
}

/// The comma-separated items of an option's value, blanks around them removed, each with the
/// 1-based character position where it starts (where it would start, for an empty one).
fn items(value: &str) -> Vec<(usize, &str)> {
    let mut items = Vec::new();
    let mut before = 0;
    for part in value.split(',') {
        let leading = part.chars().take_while(|c| c.is_whitespace()).count();
        items.push((before + leading + 1, part.trim()));
        before += part.chars().count() + 1;
    }
    items
}

/// The blank-separated words of `text`, which starts at 1-based character `position`, each
/// with its own position.
fn words(text: &str, position: usize) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (chars, (byte, c)) in text.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (true, Some((from_byte, from_char))) => {
                words.push((position + from_char, &text[from_byte..byte]));
                start = None;
            }
            (false, None) => start = Some((byte, chars)),
            _ => {}
        }
    }
    if let Some((from_byte, from_char)) = start {
        words.push((position + from_char, &text[from_byte..]));
    }
    words
}

fn empty_item(option: &str, position: usize) -> QueryError {
    QueryError(format!(
        "{option}: empty item at position {position} (items are separated by single commas)"
    ))
}

/// `$select`: property names.
fn select(entity: &Entity, value: &str) -> Result<Vec<String>, QueryError> {
    items(value)
        .into_iter()
        .map(|(position, name)| match name {
            "" => Err(empty_item("$select", position)),
            _ => canonical(entity, name, "$select", position),
        })
        .collect()
}

/// `$orderby`: `name [asc|desc]` items, each name resolved by `resolve(name, position)`.
fn order_by(
    value: &str,
    resolve: impl Fn(&str, usize) -> Result<String, QueryError>,
) -> Result<Vec<(String, bool)>, QueryError> {
    let mut order = Vec::new();
    for (position, item) in items(value) {
        let words = words(item, position);
        let Some(&(name_at, name)) = words.first() else {
            return Err(empty_item("$orderby", position));
        };
        let descending = match words.get(1) {
            None => false,
            Some((_, w)) if w.eq_ignore_ascii_case("asc") => false,
            Some((_, w)) if w.eq_ignore_ascii_case("desc") => true,
            Some((at, w)) => {
                return Err(QueryError(format!(
                    "$orderby: expected asc or desc after {name:?}, found {w:?} at position {at}"
                )));
            }
        };
        if let Some((at, w)) = words.get(2) {
            return Err(QueryError(format!(
                "$orderby: unexpected {w:?} at position {at} (items are separated by commas)"
            )));
        }
        order.push((resolve(name, name_at)?, descending));
    }
    Ok(order)
}

impl CollectionQuery {
    /// Parses the query string pairs. Unknown options are refused by name.
    pub fn parse(
        entity: &Entity,
        pairs: &[(String, String)],
    ) -> Result<CollectionQuery, QueryError> {
        let mut query = CollectionQuery {
            filter: None,
            select: None,
            order_by: Vec::new(),
            top: None,
            skip: 0,
            count: false,
            expand: Vec::new(),
            search: None,
            apply: None,
        };
        let mut order_text = None;
        let mut seen = Vec::new();
        for (key, value) in pairs {
            let option = key.to_ascii_lowercase();
            if seen.contains(&option) {
                return Err(QueryError(format!("{key} is given more than once")));
            }
            seen.push(option.clone());
            match option.as_str() {
                "$filter" => query.filter = Some(parse_filter(value)?),
                "$select" => query.select = Some(select(entity, value)?),
                "$expand" => query.expand = parse_expand(value)?,
                "$search" => query.search = Some(parse_search(value)?),
                "$orderby" => order_text = Some(value.as_str()),
                "$apply" => query.apply = Some(parse_apply(entity, value)?),
                "$top" => {
                    let top: u32 = value.trim().parse().map_err(|_| {
                        QueryError(format!(
                            "$top must be a non-negative integer below 2^32, got {value:?}"
                        ))
                    })?;
                    query.top = Some(top);
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
                        "unsupported query option {key:?} (supported: $filter, $search, $select, $expand, $orderby, $top, $skip, $count, $apply)"
                    )));
                }
            }
        }
        query.fold_apply()?;
        if let Some(text) = order_text {
            query.order_by = match &query.apply {
                Some(apply) => order_by(text, |name, at| apply_name(apply, name, at))?,
                None => order_by(text, |name, at| canonical(entity, name, "$orderby", at))?,
            };
        }
        Ok(query)
    }

    /// An `$apply` of filters only is a filter: they join `$filter`. A grouping one takes no
    /// options that would apply to its rows' items.
    fn fold_apply(&mut self) -> Result<(), QueryError> {
        let Some(apply) = self.apply.take() else {
            return Ok(());
        };
        if !apply.grouped {
            for expr in apply.filters {
                self.filter = Some(match self.filter.take() {
                    Some(filter) => Expr::And(Box::new(filter), Box::new(expr)),
                    None => expr,
                });
            }
            return Ok(());
        }
        let conflicting = [
            ("$filter", self.filter.is_some()),
            ("$select", self.select.is_some()),
            ("$expand", !self.expand.is_empty()),
        ];
        if let Some((option, _)) = conflicting.iter().find(|(_, given)| *given) {
            return Err(QueryError(format!(
                "{option} does not apply to groups: put filters inside $apply (filter(…)/groupby(…))"
            )));
        }
        self.apply = Some(apply);
        Ok(())
    }
}

/// A `$orderby` name after a grouping `$apply`: a grouped property or an aggregate's alias.
fn apply_name(apply: &Apply, name: &str, position: usize) -> Result<String, QueryError> {
    let grouped = apply.group_by.iter().find(|g| g.eq_ignore_ascii_case(name));
    let alias = apply
        .aggregates
        .iter()
        .find(|a| a.alias == name)
        .map(|a| &a.alias);
    grouped.or(alias).cloned().ok_or_else(|| {
        QueryError(format!(
            "$orderby: {name:?} at position {position} is neither grouped nor an aggregate's alias"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SchemaSet;

    fn contact() -> Entity {
        let text = "entities:\n  Contact:\n    properties:\n      firstName: { type: string }\n      status: { type: enum, values: [lead, customer] }\n";
        SchemaSet::parse(text, true, "t")
            .unwrap()
            .entity("contact")
            .unwrap()
            .clone()
    }

    fn error(option: &str, value: &str) -> String {
        let pairs = [(option.to_string(), value.to_string())];
        CollectionQuery::parse(&contact(), &pairs)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn select_and_orderby_errors_point_at_their_token() {
        assert_eq!(
            error("$select", "firstName, nope"),
            "$select: Contact has no property \"nope\" at position 12"
        );
        assert_eq!(
            error("$select", "firstName,,status"),
            "$select: empty item at position 11 (items are separated by single commas)"
        );
        assert_eq!(
            error("$orderby", "status desc,  zoë asc"),
            "$orderby: Contact has no property \"zoë\" at position 15"
        );
        assert_eq!(
            error("$orderby", "firstName sideways"),
            "$orderby: expected asc or desc after \"firstName\", found \"sideways\" at position 11"
        );
        assert_eq!(
            error("$orderby", "firstName asc status"),
            "$orderby: unexpected \"status\" at position 15 (items are separated by commas)"
        );
        assert_eq!(
            error("$orderby", "  "),
            "$orderby: empty item at position 3 (items are separated by single commas)"
        );
        // Characters, not bytes, before the token.
        assert_eq!(
            error("$orderby", "firstName\u{a0}desc, é"),
            "$orderby: Contact has no property \"é\" at position 17"
        );
    }

    #[test]
    fn filter_syntax_errors_keep_their_position() {
        assert_eq!(
            error("$filter", "firstName eq"),
            "$filter: expected a property name or a value, found the end of $filter at position 13"
        );
    }
}
