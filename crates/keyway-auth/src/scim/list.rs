//! List requests (RFC 7644 §3.4.2): `filter`, `startIndex`, `count`, `sortBy`, `sortOrder`,
//! `attributes`, `excludedAttributes`, read from the query string and checked.

use serde_json::{Value, json};

use super::attrs::{LIST_RESPONSE, SEARCH_REQUEST};
use super::discovery::MAX_RESULTS;
use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, Filter, attr_path, parse_filter};
use super::projection::Projection;

/// A checked list request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: i64,
    /// Capped at [`MAX_RESULTS`]; the default too.
    pub count: i64,
    pub sort: Option<(AttrPath, bool)>,
    pub projection: Projection,
}

fn integer(name: &str, text: &str) -> Result<i64, ScimError> {
    text.trim().parse::<i64>().map_err(|_| {
        ScimError::bad(
            ScimType::InvalidValue,
            format!("{name} must be an integer, not {text:?}"),
        )
    })
}

impl ListQuery {
    /// Reads the query pairs (parameter names case-insensitive); unknown ones are ignored.
    pub fn from_pairs(pairs: &[(String, String)], core_urn: &str) -> Result<ListQuery, ScimError> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let filter = get("filter")
            .filter(|f| !f.trim().is_empty())
            .map(|f| parse_filter(f, core_urn))
            .transpose()?;
        // RFC 7644 §3.4.2.4: values below 1 mean 1, negative counts mean 0.
        let start_index = get("startIndex")
            .map(|s| integer("startIndex", s))
            .transpose()?
            .unwrap_or(1)
            .max(1);
        let count = get("count")
            .map(|s| integer("count", s))
            .transpose()?
            .unwrap_or(MAX_RESULTS)
            .clamp(0, MAX_RESULTS);
        let descending = match get("sortOrder").map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("sortOrder is ascending or descending, not {other:?}"),
                ));
            }
        };
        let sort = get("sortBy")
            .map(|s| {
                attr_path(s.trim(), core_urn)
                    .map(|p| (p, descending))
                    .map_err(|_| ScimError::bad(ScimType::InvalidValue, format!("sortBy {s:?}")))
            })
            .transpose()?;
        Ok(ListQuery {
            filter,
            start_index,
            count,
            sort,
            projection: Projection::parse(get("attributes"), get("excludedAttributes"), core_urn)?,
        })
    }

    /// Reads a SearchRequest body (`POST …/.search`, RFC 7644 §3.4.3): the same parameters
    /// as a query string, as JSON (`attributes` and `excludedAttributes` as lists).
    pub fn from_search(body: &Value, core_urn: &str) -> Result<ListQuery, ScimError> {
        let object = body
            .as_object()
            .ok_or_else(|| super::body::syntax("the body must be a JSON object"))?;
        super::body::check_schemas(object, SEARCH_REQUEST)?;
        let mut pairs = Vec::new();
        for (key, value) in object {
            let name = match key.to_ascii_lowercase().as_str() {
                "schemas" => continue,
                "attributes" => "attributes",
                "excludedattributes" => "excludedAttributes",
                "filter" => "filter",
                "sortby" => "sortBy",
                "sortorder" => "sortOrder",
                "startindex" => "startIndex",
                "count" => "count",
                _ => {
                    return Err(super::body::syntax(format!(
                        "a SearchRequest has no attribute {key:?}"
                    )));
                }
            };
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| super::body::value_error(format!("{key}: a list of names")))?
                    .join(","),
                _ => {
                    return Err(super::body::value_error(format!(
                        "{key} has the wrong type"
                    )));
                }
            };
            pairs.push((name.to_string(), text));
        }
        ListQuery::from_pairs(&pairs, core_urn)
    }

    /// The ListResponse for a page of representations (projected here).
    pub fn response(&self, total: i64, items: Vec<Value>) -> Value {
        let resources: Vec<Value> = items
            .into_iter()
            .map(|item| self.projection.apply(item))
            .collect();
        json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "itemsPerPage": resources.len(),
            "startIndex": self.start_index,
            "Resources": resources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<ListQuery, ScimError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        ListQuery::from_pairs(&pairs, "urn:x")
    }

    #[test]
    fn paging_is_capped_and_checked() {
        let l = q(&[("count", "1000000"), ("startIndex", "-5")]).unwrap();
        assert_eq!((l.count, l.start_index), (MAX_RESULTS, 1));
        assert_eq!(q(&[("count", "-1")]).unwrap().count, 0);
        for bad in [("count", "ten"), ("startIndex", "1e3"), ("sortOrder", "up")] {
            assert_eq!(
                q(&[bad]).unwrap_err().scim_type(),
                Some(ScimType::InvalidValue),
                "{bad:?}"
            );
        }
        assert!(q(&[("filter", "userName eq")]).is_err());
        let search = serde_json::json!({"schemas": [SEARCH_REQUEST], "filter": "userName sw \"a\"",
            "attributes": ["userName", "name.givenName"], "startIndex": 2, "count": 5});
        let l = ListQuery::from_search(&search, "urn:x").unwrap();
        assert_eq!((l.start_index, l.count), (2, 5));
        assert!(l.filter.is_some() && l.projection.wants("name"));
        let unknown = serde_json::json!({"schemas": [SEARCH_REQUEST], "where": "x"});
        assert!(ListQuery::from_search(&unknown, "urn:x").is_err());
    }
}
