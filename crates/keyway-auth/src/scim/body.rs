//! Strict reading of SCIM request bodies: the `schemas` list must name the resource's schema,
//! every attribute must be one keyway serves (names case-insensitive), values must have the
//! attribute's type. readOnly attributes (`id`, `meta`, `groups`, `members.display`) are
//! ignored, as RFC 7644 §3.3 and §3.5.1 ask.

use serde_json::{Map, Value};

use super::attrs::{Attr, Kind, Mutability, find};
use super::error::{ScimError, ScimType};

pub(crate) fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidSyntax, detail)
}

pub(crate) fn value_error(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

/// Checks `schemas` of a resource body: present, a list of strings, naming `schema` and no
/// other (keyway serves no extensions).
pub(crate) fn check_schemas(body: &Map<String, Value>, schema: &str) -> Result<(), ScimError> {
    let schemas = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v)
        .ok_or_else(|| syntax(format!("the body has no \"schemas\": send [\"{schema}\"]")))?;
    let list = schemas
        .as_array()
        .ok_or_else(|| syntax("\"schemas\" must be a list of schema URNs"))?;
    let mut named = false;
    for urn in list {
        let urn = urn
            .as_str()
            .ok_or_else(|| syntax("\"schemas\" must be a list of schema URNs"))?;
        if urn.eq_ignore_ascii_case(schema) {
            named = true;
        } else {
            return Err(value_error(format!(
                "schema {urn:?} is not served here (only {schema})"
            )));
        }
    }
    if !named {
        return Err(value_error(format!("\"schemas\" must name {schema}")));
    }
    Ok(())
}

/// The resource's attributes that are set in `body`, by definition, after checking that
/// every key is known. Common attributes (`schemas`, `id`, `externalId`, `meta`) are handled
/// by the caller and skipped here.
pub(crate) fn known_attributes<'a>(
    body: &'a Map<String, Value>,
    attrs: &'static [Attr],
    what: &str,
) -> Result<Vec<(&'static Attr, &'a Value)>, ScimError> {
    let mut out = Vec::new();
    for (key, value) in body {
        if ["schemas", "id", "externalid", "meta"]
            .iter()
            .any(|c| key.eq_ignore_ascii_case(c))
        {
            continue;
        }
        let attr = find(attrs, key).ok_or_else(|| {
            syntax(format!(
                "{what} has no attribute {key:?} (docs/scim.md lists what keyway keeps)"
            ))
        })?;
        if attr.mutability == Mutability::ReadOnly {
            continue;
        }
        out.push((attr, value));
    }
    Ok(out)
}

/// The value of a sub-attribute or top-level key, case-insensitively.
pub(crate) fn get<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// An optional string (null and absent are `None`).
pub(crate) fn opt_string(value: Option<&Value>, what: &str) -> Result<Option<String>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(value_error(format!("{what} must be a string"))),
    }
}

/// A boolean; identity providers that send `"True"`/`"false"` strings are understood too.
pub(crate) fn boolean(value: &Value, what: &str) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(value_error(format!("{what} must be true or false"))),
    }
}

/// A complex value's sub-attributes, checked against `attr.sub`; readOnly ones are dropped.
pub(crate) fn complex<'a>(
    value: &'a Value,
    attr: &'static Attr,
) -> Result<Vec<(&'static Attr, &'a Value)>, ScimError> {
    let object = value
        .as_object()
        .ok_or_else(|| value_error(format!("{} must be an object", attr.name)))?;
    let mut out = Vec::new();
    for (key, v) in object {
        let sub = find(attr.sub, key)
            .ok_or_else(|| syntax(format!("{} has no sub-attribute {key:?}", attr.name)))?;
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        if sub.kind == Kind::Boolean {
            if !v.is_null() {
                boolean(v, &format!("{}.{}", attr.name, sub.name))?;
            }
        } else if !v.is_null() && !v.is_string() {
            return Err(value_error(format!(
                "{}.{} must be a string",
                attr.name, sub.name
            )));
        }
        out.push((sub, v));
    }
    Ok(out)
}

/// The elements of a multi-valued attribute (a single object is taken as a list of one).
pub(crate) fn elements<'a>(value: &'a Value, attr: &Attr) -> Result<Vec<&'a Value>, ScimError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items.iter().collect()),
        Value::Object(_) => Ok(vec![value]),
        _ => Err(value_error(format!("{} must be a list", attr.name))),
    }
}
