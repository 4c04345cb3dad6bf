//! JSON bodies ↔ typed column values, validated against the entity.

use keyway_store::DynValue;
use serde_json::{Map, Value};

use crate::filter::sql::normalize_datetime;
use crate::table::column_kind;
use crate::{Entity, Property, PropertyType};

/// `YYYY-MM-DD`, a day that exists (`crate::datetime`: no signs, no slicing).
fn is_date(text: &str) -> bool {
    crate::datetime::parse_date(text).is_ok()
}

/// Converts one JSON value for `p`, checking type and constraints.
fn convert(p: &Property, value: &Value) -> Result<DynValue, String> {
    let name = &p.name;
    if value.is_null() {
        if p.required {
            return Err(format!("{name} is required and cannot be null"));
        }
        return Ok(DynValue::Null(column_kind(p.kind)));
    }
    let wrong = || Err(format!("{name} must be {}", describe(p.kind)));
    match p.kind {
        PropertyType::String | PropertyType::Enum => {
            let Some(text) = value.as_str() else {
                return wrong();
            };
            if let Some(max) = p.max_length
                && text.chars().count() > max as usize
            {
                return Err(format!("{name} is longer than {max} characters"));
            }
            if let Some(format) = &p.format
                && crate::formats::matches(format, text) == Some(false)
            {
                return Err(format!("{name} is not a valid {format}"));
            }
            if let Some(pattern) = &p.pattern
                && !pattern.is_match(text)
            {
                return Err(format!(
                    "{name} does not match the pattern {}",
                    pattern.as_str()
                ));
            }
            if p.kind == PropertyType::Enum && !p.values.iter().any(|v| v == text) {
                return Err(format!("{name} must be one of: {}", p.values.join(", ")));
            }
            Ok(DynValue::Text(text.to_string()))
        }
        PropertyType::Integer => {
            // JSON Schema counts 60.0 as an integer: accept a number with no fraction
            // that fits i64 exactly.
            let exact = value.as_i64().or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15)
                    .map(|f| f as i64)
            });
            let Some(n) = exact else {
                return wrong();
            };
            check_range(p, n as f64)?;
            Ok(DynValue::Int(n))
        }
        PropertyType::Number => {
            let Some(n) = value.as_f64().filter(|n| n.is_finite()) else {
                return wrong();
            };
            check_range(p, n)?;
            Ok(DynValue::Float(n))
        }
        PropertyType::Boolean => match value.as_bool() {
            Some(b) => Ok(DynValue::Int(i64::from(b))),
            None => wrong(),
        },
        PropertyType::Date => match value.as_str() {
            Some(text) if is_date(text) => Ok(DynValue::Text(text.to_string())),
            _ => wrong(),
        },
        PropertyType::DateTime => match value.as_str().and_then(normalize_datetime) {
            Some(utc) => Ok(DynValue::Text(utc)),
            None => wrong(),
        },
        PropertyType::Uuid => match value.as_str() {
            Some(text) if crate::formats::is_guid(text) => {
                Ok(DynValue::Text(text.to_ascii_lowercase()))
            }
            _ => wrong(),
        },
    }
}

fn check_range(p: &Property, n: f64) -> Result<(), String> {
    if p.minimum.is_some_and(|min| n < min) || p.maximum.is_some_and(|max| n > max) {
        return Err(format!(
            "{} must be between {} and {}",
            p.name,
            p.minimum.map_or("-∞".into(), |v| v.to_string()),
            p.maximum.map_or("∞".into(), |v| v.to_string())
        ));
    }
    Ok(())
}

fn describe(kind: PropertyType) -> &'static str {
    match kind {
        PropertyType::String => "a string",
        PropertyType::Enum => "one of the enum's strings",
        PropertyType::Integer => "an integer",
        PropertyType::Number => "a number",
        PropertyType::Boolean => "true or false",
        PropertyType::Date => "a date (YYYY-MM-DD)",
        PropertyType::DateTime => "a date-time (RFC 3339 with a zone)",
        PropertyType::Uuid => "a UUID",
    }
}

/// The columns and values of a body. `create` requires every required property; a patch
/// takes only the properties present. Unknown fields are refused, and so is `id` (except in
/// a new item with an integer id: the client may choose it, see `DataService::id_for_new`).
pub(crate) fn body_values(
    entity: &Entity,
    body: &Value,
    create: bool,
) -> Result<Vec<(String, DynValue)>, String> {
    let Some(object) = body.as_object() else {
        return Err("the body must be a JSON object".into());
    };
    let mut seen = std::collections::HashSet::new();
    for key in object.keys() {
        if !seen.insert(key.to_ascii_lowercase()) {
            return Err(format!(
                "{key:?} is given twice (names match case-insensitively)"
            ));
        }
    }
    for key in object.keys() {
        if key.starts_with("@odata.") {
            continue;
        }
        if key.eq_ignore_ascii_case("id") {
            if create && entity.id_type == crate::IdType::Integer {
                continue;
            }
            return Err(match entity.id_type {
                crate::IdType::Uuid => "id is assigned by the server and cannot be set",
                crate::IdType::Integer => "id is chosen when the item is created and cannot change",
            }
            .into());
        }
        if entity.property(key).is_none() {
            return Err(format!("{} has no property {key:?}", entity.name));
        }
    }
    let mut values = Vec::new();
    for p in &entity.properties {
        let given = object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&p.name))
            .map(|(_, v)| v);
        match given {
            Some(value) => values.push((p.name.clone(), convert(p, value)?)),
            None if create && p.required => return Err(format!("{} is required", p.name)),
            None if create => values.push((p.name.clone(), DynValue::Null(column_kind(p.kind)))),
            None => {}
        }
    }
    Ok(values)
}

/// A stored row as JSON, leaving out properties the caller may not see.
pub(crate) fn row_json(
    entity: &Entity,
    columns: &[String],
    row: Vec<DynValue>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (column, value) in columns.iter().zip(row) {
        let kind = entity.property(column).map(|p| p.kind);
        let json = match (value, kind) {
            (DynValue::Null(_), _) => Value::Null,
            (DynValue::Int(i), Some(PropertyType::Boolean)) => Value::Bool(i != 0),
            (DynValue::Int(i), _) => Value::from(i),
            (DynValue::Float(f), _) => {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            (DynValue::Text(t), _) => Value::String(t),
        };
        out.insert(column.clone(), json);
    }
    out
}
