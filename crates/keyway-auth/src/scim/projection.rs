//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes a
//! response carries. `id` and `schemas` are always returned; an attribute list wins over an
//! exclusion list when both are sent.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, attr_path};

/// Longest `attributes` / `excludedAttributes` value accepted.
const MAX_LIST_BYTES: usize = 2048;

/// A parsed attribute list.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    only: Option<Vec<AttrPath>>,
    excluded: Vec<AttrPath>,
}

fn list(text: &str, core_urn: &str) -> Result<Vec<AttrPath>, ScimError> {
    if text.len() > MAX_LIST_BYTES {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("attribute lists are at most {MAX_LIST_BYTES} bytes"),
        ));
    }
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            attr_path(s, core_urn).map_err(|_| {
                ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{s:?} is not an attribute path"),
                )
            })
        })
        .collect()
}

impl Projection {
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        core_urn: &str,
    ) -> Result<Projection, ScimError> {
        Ok(Projection {
            only: attributes.map(|a| list(a, core_urn)).transpose()?,
            excluded: excluded
                .map(|e| list(e, core_urn))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Whether the response will carry `attr` (so the store may skip reading it).
    pub fn wants(&self, attr: &str) -> bool {
        match &self.only {
            Some(only) => only.iter().any(|p| p.attr.eq_ignore_ascii_case(attr)),
            None => !self
                .excluded
                .iter()
                .any(|p| p.sub.is_none() && p.attr.eq_ignore_ascii_case(attr)),
        }
    }

    /// Applies the projection to a representation.
    pub fn apply(&self, body: Value) -> Value {
        let Value::Object(map) = body else {
            return body;
        };
        let always = |k: &str| k == "id" || k == "schemas";
        let out: Map<String, Value> = match &self.only {
            Some(only) => map
                .into_iter()
                .filter_map(|(k, v)| {
                    if always(&k) {
                        return Some((k, v));
                    }
                    let picks: Vec<&AttrPath> = only
                        .iter()
                        .filter(|p| p.attr.eq_ignore_ascii_case(&k))
                        .collect();
                    if picks.is_empty() {
                        return None;
                    }
                    if picks.iter().any(|p| p.sub.is_none()) {
                        return Some((k, v));
                    }
                    let subs: Vec<&str> = picks.iter().filter_map(|p| p.sub.as_deref()).collect();
                    let keep = |o: &Map<String, Value>| -> Map<String, Value> {
                        o.iter()
                            .filter(|(sk, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(sk)))
                            .map(|(a, b)| (a.clone(), b.clone()))
                            .collect()
                    };
                    let v = match v {
                        Value::Object(o) => Value::Object(keep(&o)),
                        Value::Array(items) => Value::Array(
                            items
                                .iter()
                                .map(|i| {
                                    i.as_object()
                                        .map(|o| Value::Object(keep(o)))
                                        .unwrap_or_default()
                                })
                                .collect(),
                        ),
                        other => other,
                    };
                    Some((k, v))
                })
                .collect(),
            None => map
                .into_iter()
                .filter_map(|(k, v)| {
                    if always(&k) {
                        return Some((k, v));
                    }
                    let drops: Vec<&AttrPath> = self
                        .excluded
                        .iter()
                        .filter(|p| p.attr.eq_ignore_ascii_case(&k))
                        .collect();
                    if drops.iter().any(|p| p.sub.is_none()) {
                        return None;
                    }
                    let subs: Vec<&str> = drops.iter().filter_map(|p| p.sub.as_deref()).collect();
                    let strip = |o: &mut Map<String, Value>| {
                        o.retain(|sk, _| !subs.iter().any(|s| s.eq_ignore_ascii_case(sk)));
                    };
                    let v = match v {
                        Value::Object(mut o) => {
                            strip(&mut o);
                            Value::Object(o)
                        }
                        Value::Array(mut items) => {
                            for item in &mut items {
                                if let Some(o) = item.as_object_mut() {
                                    strip(o);
                                }
                            }
                            Value::Array(items)
                        }
                        other => other,
                    };
                    Some((k, v))
                })
                .collect(),
        };
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    #[test]
    fn attributes_and_exclusions() {
        let body = json!({"schemas": ["s"], "id": "1", "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "L"}, "active": true,
            "meta": {"version": "v"}});
        let p = Projection::parse(Some("userName,name.givenName"), Some("userName"), URN).unwrap();
        assert_eq!(
            p.apply(body.clone()),
            json!({"schemas": ["s"], "id": "1", "userName": "ada", "name": {"givenName": "Ada"}})
        );
        let p = Projection::parse(
            None,
            Some(&format!("{URN}:active, name.familyName, id")),
            URN,
        )
        .unwrap();
        assert_eq!(
            p.apply(body),
            json!({"schemas": ["s"], "id": "1", "userName": "ada", "name": {"givenName": "Ada"},
                   "meta": {"version": "v"}})
        );
        assert!(!p.wants("active"));
        assert!(p.wants("groups"));
        assert!(Projection::parse(Some("a b"), None, URN).is_err());
    }
}
