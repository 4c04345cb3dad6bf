//! Item ids as the API carries them (text: a UUID, or an integer's digits) and as the
//! tables store them (text, or BIGINT for `id: integer`).

use keyway_store::{ColumnKind, DynValue};
use serde_json::Value;

use crate::schema::MAX_INTEGER_ID;
use crate::{DataError, Entity, IdType};

/// How `entity`'s id column is read.
pub(crate) fn id_column_kind(entity: &Entity) -> ColumnKind {
    match entity.id_type {
        IdType::Uuid => ColumnKind::Text,
        IdType::Integer => ColumnKind::Int,
    }
}

/// An integer id from its text: 1 to [`MAX_INTEGER_ID`], digits only.
pub(crate) fn integer_id(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>()
        .ok()
        .filter(|id| (1..=MAX_INTEGER_ID).contains(id))
}

/// The value that binds `id` (from a URL or a body) for `entity`'s id column; a 400 naming
/// the entity when an integer id is not one.
pub(crate) fn id_bind(entity: &Entity, id: &str) -> Result<DynValue, DataError> {
    match entity.id_type {
        IdType::Uuid => Ok(DynValue::Text(id.to_ascii_lowercase())),
        IdType::Integer => integer_id(id).map(DynValue::Int).ok_or_else(|| {
            DataError::BadRequest(format!(
                "{}'s ids are integers from 1 to {MAX_INTEGER_ID}: {:?} is not one",
                entity.name,
                crate::shortened(id)
            ))
        }),
    }
}

/// `id` as the API writes it: lowercase for a UUID, without leading zeros for an integer.
pub(crate) fn canonical_id(entity: &Entity, id: &str) -> Result<String, DataError> {
    Ok(match id_bind(entity, id)? {
        DynValue::Int(i) => i.to_string(),
        _ => id.to_ascii_lowercase(),
    })
}

/// `id` in a JSON answer: a number for an integer id.
pub(crate) fn id_json(entity: &Entity, id: &str) -> Value {
    match (entity.id_type, integer_id(id)) {
        (IdType::Integer, Some(i)) => Value::from(i),
        _ => Value::String(id.to_string()),
    }
}

/// The text of an id read back in a row (`"id": "…"` or `"id": 7`).
pub(crate) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => n.as_i64().map(|i| i.to_string()),
        _ => None,
    }
}

/// The text of a key value about to be bound (a UUID's text or an integer's digits).
pub(crate) fn dyn_text(value: &DynValue) -> Option<String> {
    match value {
        DynValue::Text(text) => Some(text.clone()),
        DynValue::Int(i) => Some(i.to_string()),
        _ => None,
    }
}
