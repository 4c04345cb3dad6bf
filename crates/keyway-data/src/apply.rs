//! `$apply` (OData Data Aggregation 4.0): `filter(…)`, `groupby((a,b)[,aggregate(…)])` and
//! `aggregate(p with sum as Total, $count as N)`, chained with `/` — filters first, at most one
//! grouping or aggregation last. Property names are checked against the entity as the caller
//! sees it (a hidden property is undeclared here too), aliases against a plain identifier
//! grammar, and the whole compiles to one parameterised `SELECT … GROUP BY`.

use crate::expand::split_top;
use crate::filter::{Expr, parse_filter};
use crate::query::QueryError;
use crate::{Entity, PropertyType};

/// Transformations in one `$apply` at most.
pub(crate) const MAX_APPLY_STEPS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Sum,
    Min,
    Max,
    Average,
    CountDistinct,
    /// `$count as N`: the rows in the group.
    Count,
}

impl Method {
    fn parse(word: &str) -> Option<Method> {
        Some(match word {
            "sum" => Method::Sum,
            "min" => Method::Min,
            "max" => Method::Max,
            "average" => Method::Average,
            "countdistinct" => Method::CountDistinct,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub alias: String,
    pub method: Method,
    /// The canonical property (none for `$count`).
    pub property: Option<String>,
}

/// A parsed `$apply`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Apply {
    pub filters: Vec<Expr>,
    /// Canonical property names.
    pub group_by: Vec<String>,
    pub aggregates: Vec<Aggregate>,
    /// Whether a `groupby` or `aggregate` makes the answer one row per group.
    pub grouped: bool,
}

fn fail(message: String) -> QueryError {
    QueryError(format!("$apply: {message}"))
}

/// `name(inner)` → inner, for a transformation called `name`.
fn call<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn is_alias(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && text.len() <= 64
}

fn property(entity: &Entity, name: &str) -> Result<(String, PropertyType), QueryError> {
    if name.eq_ignore_ascii_case("id") {
        return Ok(("id".into(), entity.id_kind()));
    }
    entity
        .property(name)
        .map(|p| (p.name.clone(), p.kind))
        .ok_or_else(|| fail(format!("{} has no property {name:?}", entity.name)))
}

/// Parses a `$apply` value for `entity` (the caller's view).
pub(crate) fn parse_apply(entity: &Entity, value: &str) -> Result<Apply, QueryError> {
    let mut apply = Apply::default();
    let steps = split_top(value, '/').map_err(fail)?;
    if steps.len() > MAX_APPLY_STEPS {
        return Err(fail(format!(
            "{} steps; at most {MAX_APPLY_STEPS} (filters can be joined with and)",
            steps.len()
        )));
    }
    for (position, step) in steps {
        let step = step.trim();
        if apply.grouped {
            return Err(fail(format!(
                "{step:?} at position {position}: only filter(…) steps may come before a groupby or \
                 aggregate, and nothing after it"
            )));
        }
        if let Some(inner) = call(step, "filter") {
            apply.filters.push(
                parse_filter(inner)
                    .map_err(|e| fail(format!("filter(…) at position {position}: {e}")))?,
            );
        } else if let Some(inner) = call(step, "groupby") {
            group_by(entity, inner, &mut apply)?;
            apply.grouped = true;
        } else if let Some(inner) = call(step, "aggregate") {
            apply.aggregates = aggregates(entity, inner)?;
            apply.grouped = true;
        } else {
            let name: String = step
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '$')
                .collect();
            return Err(fail(format!(
                "{name:?} at position {position} is not supported (use filter, groupby or aggregate)"
            )));
        }
    }
    Ok(apply)
}

/// `(a,b)` or `(a,b),aggregate(…)`.
fn group_by(entity: &Entity, inner: &str, apply: &mut Apply) -> Result<(), QueryError> {
    let parts = split_top(inner, ',').map_err(fail)?;
    let Some((_, first)) = parts.first() else {
        return Err(fail(
            "groupby needs a list of properties: groupby((a,b))".into(),
        ));
    };
    let Some(list) = first
        .trim()
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
    else {
        return Err(fail(
            "groupby's first argument is a parenthesised list: groupby((status))".into(),
        ));
    };
    for (_, name) in split_top(list, ',').map_err(fail)? {
        let (name, _) = property(entity, name.trim())?;
        if apply.group_by.contains(&name) {
            return Err(fail(format!("{name} is grouped by twice")));
        }
        apply.group_by.push(name);
    }
    match parts.get(1..) {
        Some([]) | None => {}
        Some([(_, rest)]) => match call(rest.trim(), "aggregate") {
            Some(inner) => apply.aggregates = aggregates(entity, inner)?,
            None => {
                return Err(fail(
                    "groupby's second argument can only be aggregate(…)".into(),
                ));
            }
        },
        Some(_) => {
            return Err(fail(
                "groupby takes a list and at most one aggregate(…)".into(),
            ));
        }
    }
    for aggregate in &apply.aggregates {
        if apply.group_by.contains(&aggregate.alias) {
            return Err(fail(format!(
                "the alias {} is also a grouped property",
                aggregate.alias
            )));
        }
    }
    Ok(())
}

/// `p with sum as Total, $count as N`.
fn aggregates(entity: &Entity, inner: &str) -> Result<Vec<Aggregate>, QueryError> {
    let mut out: Vec<Aggregate> = Vec::new();
    for (_, item) in split_top(inner, ',').map_err(fail)? {
        let words: Vec<&str> = item.split_whitespace().collect();
        let aggregate = match words.as_slice() {
            ["$count", "as", alias] => Aggregate {
                alias: alias.to_string(),
                method: Method::Count,
                property: None,
            },
            [name, "with", method, "as", alias] => {
                let method = Method::parse(method).ok_or_else(|| {
                    fail(format!(
                        "{method:?} is not an aggregation method (sum, min, max, average, countdistinct)"
                    ))
                })?;
                let (name, kind) = property(entity, name)?;
                let numeric = matches!(kind, PropertyType::Integer | PropertyType::Number);
                let ordered = numeric
                    || matches!(
                        kind,
                        PropertyType::String
                            | PropertyType::Enum
                            | PropertyType::Date
                            | PropertyType::DateTime
                    );
                let fits = match method {
                    Method::Sum | Method::Average => numeric,
                    Method::Min | Method::Max => ordered,
                    Method::CountDistinct | Method::Count => true,
                };
                if !fits {
                    let allowed = if ordered {
                        "min, max, countdistinct"
                    } else {
                        "countdistinct"
                    };
                    return Err(fail(format!(
                        "{name} ({}) cannot be aggregated with {}: use {allowed}",
                        kind.as_str(),
                        words[2]
                    )));
                }
                Aggregate {
                    alias: alias.to_string(),
                    method,
                    property: Some(name),
                }
            }
            _ => {
                return Err(fail(format!(
                    "{:?} is not \"property with method as Alias\" or \"$count as Alias\"",
                    item.trim()
                )));
            }
        };
        if !is_alias(&aggregate.alias) || entity.property(&aggregate.alias).is_some() {
            return Err(fail(format!(
                "alias {:?}: letters, digits and _, not a property's name",
                aggregate.alias
            )));
        }
        if out.iter().any(|a| a.alias == aggregate.alias) {
            return Err(fail(format!("the alias {} is used twice", aggregate.alias)));
        }
        out.push(aggregate);
    }
    if out.is_empty() {
        return Err(fail("aggregate(…) needs at least one item".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SchemaSet;

    fn contact() -> Entity {
        let text = "entities:\n  Contact:\n    properties:\n      status: { type: enum, values: [a, b] }\n      score: { type: integer }\n      name: { type: string }\n      salary: { type: number, scope: hr.read }\n";
        SchemaSet::parse(text, true, "t")
            .unwrap()
            .entity("Contact")
            .unwrap()
            .readable_by(&[])
    }

    #[test]
    fn grammar_and_refusals() {
        let apply = parse_apply(
            &contact(),
            "filter(score gt 1)/groupby((status),aggregate(score with average as avg,$count as n))",
        )
        .unwrap();
        assert_eq!(apply.group_by, ["status"]);
        assert_eq!(apply.filters.len(), 1);
        assert_eq!(
            apply.aggregates[1],
            Aggregate {
                alias: "n".into(),
                method: Method::Count,
                property: None
            }
        );
        let error = |text: &str| parse_apply(&contact(), text).unwrap_err().to_string();
        assert!(
            error("groupby((salary))").contains("no property \"salary\""),
            "hidden is undeclared"
        );
        assert!(error("aggregate(salary with sum as s)").contains("no property"));
        assert!(error("aggregate(name with sum as s)").contains("cannot be aggregated"));
        assert!(error("aggregate(score with median as s)").contains("not an aggregation method"));
        assert!(error("groupby((status))/filter(score gt 1)").contains("nothing after it"));
        assert!(error("topcount(2,score)").contains("\"topcount\" at position 1 is not supported"));
        assert!(error("aggregate(score with sum as score)").contains("not a property's name"));
        assert!(error("aggregate(score with sum as a,$count as a)").contains("used twice"));
        assert!(error("groupby(status)").contains("parenthesised list"));
        assert!(error("filter(score gt)").contains("filter(…) at position 1"));
        assert!(error(&"filter(score eq 1)/".repeat(17)).contains("at most 16"));
    }
}
