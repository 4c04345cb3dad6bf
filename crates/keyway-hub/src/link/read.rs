//! `GET /link/v1/conflicts` and `GET /link/v1/stats` for the hub operator (scope `link:read`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{SCOPE_READ, authorize_caller, unavailable};
use crate::AppState;
use crate::caller::TokiCall;
use crate::errors::problem;

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

pub async fn conflicts(
    State(state): State<AppState>,
    toki: TokiCall,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(response) = authorize_caller(&state, &headers, &toki, SCOPE_READ).await {
        return response;
    }
    let (after, limit) = match (number(&query, "after", 0), number(&query, "limit", 100)) {
        (Ok(after), Ok(limit)) => (after, limit.clamp(1, MAX_LIMIT)),
        (Err(detail), _) | (_, Err(detail)) => {
            return problem(StatusCode::BAD_REQUEST, "Bad Request", &detail);
        }
    };
    let rows = match state.link.conflicts(after, limit).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "reading conflicts failed");
            return unavailable();
        }
    };
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
    axum::Json(json!({ "conflicts": list, "next_after": next })).into_response()
}

pub async fn stats(State(state): State<AppState>, toki: TokiCall, headers: HeaderMap) -> Response {
    if let Err(response) = authorize_caller(&state, &headers, &toki, SCOPE_READ).await {
        return response;
    }
    let stats = match state.link.stats().await {
        Ok(stats) => stats,
        Err(err) => {
            tracing::warn!(error = %err, "reading link stats failed");
            return unavailable();
        }
    };
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
    axum::Json(json!({
        "partners": stats.partners,
        "records": stats.records,
        "persons": stats.persons,
        "conflicts": stats.conflicts,
        "per_partner": per_partner,
    }))
    .into_response()
}
