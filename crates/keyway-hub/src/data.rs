//! `/api/…`: the schema-driven data API over HTTP. Each handler checks the bearer token, calls
//! `DataService`, and maps its typed error to an RFC 9457 problem.

// Helpers here return the very response to send as their error; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keyway_data::{DataError, DataService, Item, UpdateMode};

use crate::AppState;
use crate::caller::{self, Scheme, TokiCall};
use crate::errors::problem;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route(
            "/api/{segment}",
            get(read)
                .post(create)
                .put(|s, t, p, h, b| update(s, t, p, h, b, UpdateMode::Replace))
                .patch(|s, t, p, h, b| update(s, t, p, h, b, UpdateMode::Merge))
                .delete(delete)
                .fallback(other_method),
        )
        .route("/api/{segment}/{extra}", get(count))
}

fn service(state: &AppState) -> Result<&Arc<DataService>, Response> {
    state.data.as_ref().ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            "this hub serves no data schemas (start it with --schemas FILE)",
        )
    })
}

/// The caller's scopes (bearer token for this API's audience, or a toki service), or the
/// 401 to send.
async fn scopes(
    state: &AppState,
    headers: &HeaderMap,
    toki: &TokiCall,
) -> Result<Vec<String>, Response> {
    let caller = caller::authenticate(state, headers, toki).await?;
    // The token must be meant for this API (RFC 8707 audience).
    if !caller.is_for(&state.auth.config().default_audience) {
        return Err(caller::invalid_token());
    }
    Ok(caller.scopes())
}

fn data_error(err: DataError, scheme: Scheme) -> Response {
    match err {
        DataError::NotFound(detail) => problem(StatusCode::NOT_FOUND, "Not Found", &detail),
        DataError::BadRequest(detail) => problem(StatusCode::BAD_REQUEST, "Bad Request", &detail),
        DataError::PreconditionFailed => problem(
            StatusCode::PRECONDITION_FAILED,
            "Precondition Failed",
            &err.to_string(),
        ),
        DataError::Forbidden(ref allowed) => {
            let mut response = problem(StatusCode::FORBIDDEN, "Forbidden", &err.to_string());
            scheme.challenge(
                &mut response,
                &format!(
                    "error=\"insufficient_scope\", scope=\"{}\"",
                    allowed.join(" ")
                ),
            );
            response
        }
        DataError::Store(e) => {
            tracing::error!(error = %e, "data API store error");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "the store is unavailable",
            )
        }
    }
}

/// The data service and the caller's scopes, or the response that refuses the request.
async fn authorised(
    state: &AppState,
    headers: &HeaderMap,
    toki: &TokiCall,
) -> Result<(Arc<DataService>, Vec<String>), Response> {
    let data = service(state)?.clone();
    Ok((data, scopes(state, headers, toki).await?))
}

/// `Contact` or `Contact(<id>)` / `Contact('<id>')`.
fn split_segment(segment: &str) -> (String, Option<String>) {
    match segment.split_once('(') {
        Some((name, rest)) if rest.ends_with(')') => {
            let key = rest[..rest.len() - 1].trim_matches('\'').to_string();
            (name.to_string(), Some(key))
        }
        _ => (segment.to_string(), None),
    }
}

fn pairs(query: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn base_url(state: &AppState) -> String {
    format!("{}/api", state.auth.config().issuer)
}

fn item_response(status: StatusCode, item: Item, location: Option<String>) -> Response {
    let mut response = (status, axum::Json(item.body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&item.etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<serde_json::Value, Response> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "send application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("the body is not JSON: {e}"),
        )
    })
}

const ON_COLLECTION: &str = "GET, POST";
const ON_ITEM: &str = "GET, PUT, PATCH, DELETE";

/// 405 with the `Allow` header RFC 9110 requires.
fn method_not_allowed(allow: &'static str, detail: &str) -> Response {
    let mut response = problem(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", detail);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Methods the routes do not serve: 405 naming the ones this path (collection or item) does.
async fn other_method(Path(segment): Path<String>) -> Response {
    match split_segment(&segment) {
        (_, Some(_)) => method_not_allowed(ON_ITEM, "an item allows GET, PUT, PATCH and DELETE"),
        (_, None) => method_not_allowed(ON_COLLECTION, "a collection allows GET and POST"),
    }
}

async fn openapi(State(state): State<AppState>) -> Response {
    match service(&state) {
        Ok(data) => axum::Json(keyway_data::openapi_document(
            data.schemas(),
            &state.auth.config().issuer,
            data.max_top,
        ))
        .into_response(),
        Err(response) => response,
    }
}

async fn read(
    State(state): State<AppState>,
    toki: TokiCall,
    Path(segment): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (data, scopes) = match authorised(&state, &headers, &toki).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match split_segment(&segment) {
        (entity, Some(id)) => match data.get(&entity, &id, &scopes).await {
            Ok(item) => item_response(StatusCode::OK, item, None),
            Err(err) => data_error(err, toki.scheme()),
        },
        (entity, None) => match data
            .list(&entity, &pairs(query), &scopes, &base_url(&state))
            .await
        {
            Ok(page) => axum::Json(page).into_response(),
            Err(err) => data_error(err, toki.scheme()),
        },
    }
}

async fn count(
    State(state): State<AppState>,
    toki: TokiCall,
    Path((segment, extra)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if extra != "$count" {
        return problem(StatusCode::NOT_FOUND, "Not Found", "no such resource");
    }
    let (data, scopes) = match authorised(&state, &headers, &toki).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match data.count(&segment, &pairs(query), &scopes).await {
        Ok(n) => ([(header::CONTENT_TYPE, "text/plain")], n.to_string()).into_response(),
        Err(err) => data_error(err, toki.scheme()),
    }
}

async fn create(
    State(state): State<AppState>,
    toki: TokiCall,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (data, scopes) = match authorised(&state, &headers, &toki).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (entity, id) = split_segment(&segment);
    if id.is_some() {
        return method_not_allowed(ON_ITEM, "POST to the collection, not to an item");
    }
    let json = match json_body(&headers, &body) {
        Ok(json) => json,
        Err(response) => return response,
    };
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match data.create(&entity, &json, &scopes).await {
        Ok(item) => {
            let canonical = data
                .schemas()
                .entity(&entity)
                .map(|e| e.name.clone())
                .unwrap_or(entity);
            let location = format!("{}/{canonical}({})", base_url(&state), item.id);
            item_response(StatusCode::CREATED, item, Some(location))
        }
        Err(err) => data_error(err, toki.scheme()),
    }
}

/// PATCH and PUT of one item.
async fn update(
    State(state): State<AppState>,
    toki: TokiCall,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    mode: UpdateMode,
) -> Response {
    let (data, scopes) = match authorised(&state, &headers, &toki).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (entity, Some(id)) = split_segment(&segment) else {
        return method_not_allowed(ON_COLLECTION, "PATCH or PUT an item: /api/Entity(id)");
    };
    let json = match json_body(&headers, &body) {
        Ok(json) => json,
        Err(response) => return response,
    };
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match data
        .update(&entity, &id, &json, if_match, &scopes, mode)
        .await
    {
        Ok(item) => item_response(StatusCode::OK, item, None),
        Err(err) => data_error(err, toki.scheme()),
    }
}

async fn delete(
    State(state): State<AppState>,
    toki: TokiCall,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (data, scopes) = match authorised(&state, &headers, &toki).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (entity, Some(id)) = split_segment(&segment) else {
        return method_not_allowed(ON_COLLECTION, "DELETE an item: /api/Entity(id)");
    };
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match data.delete(&entity, &id, if_match, &scopes).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => data_error(err, toki.scheme()),
    }
}
