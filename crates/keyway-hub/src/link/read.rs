//! `GET /link/v1/conflicts` and `GET /link/v1/stats` for the hub operator (scope `link:read`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::Read;
use crate::AppState;
use crate::caller::{ApiError, Authorized};

const MAX_LIMIT: i64 = 1000;

fn number(query: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, String> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{name} must be a non-negative integer")),
    }
}

pub(super) async fn conflicts(
    State(state): State<AppState>,
    _: Authorized<Read>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let after = number(&query, "after", 0).map_err(ApiError::BadRequest)?;
    let limit = number(&query, "limit", 100)
        .map_err(ApiError::BadRequest)?
        .clamp(1, MAX_LIMIT);
    let rows = state
        .link
        .conflicts(after, limit)
        .await
        .map_err(|e| ApiError::unavailable("reading conflicts", &e))?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    let list: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "seq": r.seq,
                "partner": r.partner,
                "patid": r.patid,
                "chosen_uuid": r.chosen_uuid,
                "candidates": serde_json::from_str::<Value>(&r.candidates).unwrap_or(Value::Null),
                "reason": r.reason,
                "created_at": r.created_at,
            })
        })
        .collect();
    Ok(Json(json!({ "conflicts": list, "next_after": next })))
}

pub(super) async fn stats(
    State(state): State<AppState>,
    _: Authorized<Read>,
) -> Result<Json<Value>, ApiError> {
    let stats = state
        .link
        .stats()
        .await
        .map_err(|e| ApiError::unavailable("reading link stats", &e))?;
    let per_partner: Vec<Value> = stats
        .per_partner
        .iter()
        .map(|(code, records, collisions, conflicts)| {
            json!({
                "partner": code,
                "records": records,
                "collisions": collisions,
                "conflicts": conflicts,
            })
        })
        .collect();
    Ok(Json(json!({
        "partners": stats.partners,
        "records": stats.records,
        "persons": stats.persons,
        "conflicts": stats.conflicts,
        "per_partner": per_partner,
    })))
}
