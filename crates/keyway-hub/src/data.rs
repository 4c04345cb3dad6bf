//! `/api/…`: the schema-driven data API over HTTP. Each handler takes the [`Caller`] (bearer
//! token for the hub, or a toki service), calls `DataService` with the caller's scopes (which
//! decide per entity and property), and returns its typed error as an [`ApiError`].

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keyway_data::{DataService, Item, UpdateMode};

use crate::AppState;
use crate::caller::{ApiError, Caller};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api", get(service_document))
        .route("/api/", get(service_document))
        .route("/api/$metadata", get(metadata))
        .route(
            "/api/$batch",
            axum::routing::post(crate::data_batch::batch)
                .get(crate::data_batch::batch_get)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::data_batch::MAX_BATCH_BYTES,
                )),
        )
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
        .route_layer(axum::middleware::from_fn(crate::data_errors::odata_errors))
}

pub(crate) fn service(state: &AppState) -> Result<Arc<DataService>, ApiError> {
    state.data.clone().ok_or_else(|| {
        ApiError::NotFound("this hub serves no data schemas (start it with --schemas FILE)".into())
    })
}

/// `Contact` or `Contact(<id>)` / `Contact('<id>')`.
pub(crate) fn split_segment(segment: &str) -> (String, Option<String>) {
    let item = segment
        .split_once('(')
        .and_then(|(name, rest)| Some((name, rest.strip_suffix(')')?)));
    match item {
        Some((name, key)) => (name.to_string(), Some(key.trim_matches('\'').to_string())),
        None => (segment.to_string(), None),
    }
}

fn pairs(query: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn base_url(state: &AppState) -> String {
    format!("{}/api", state.auth.config().issuer)
}

/// `entity` as the schema spells it (names match case-insensitively); as given if unknown.
pub(crate) fn canonical(data: &DataService, entity: &str) -> String {
    data.schemas()
        .entity(entity)
        .map_or_else(|| entity.to_string(), |e| e.name.clone())
}

/// The context URL of one item of `entity` (OData JSON 4.01 §10.3).
fn item_context(state: &AppState, data: &DataService, entity: &str) -> String {
    format!(
        "{}/$metadata#{}/$entity",
        base_url(state),
        canonical(data, entity)
    )
}

/// An item's answer, with its context URL (required in OData JSON with minimal metadata).
fn item_response(
    status: StatusCode,
    mut item: Item,
    context: String,
    location: Option<String>,
) -> Response {
    if let Some(body) = item.body.as_object_mut() {
        body.insert("@odata.context".into(), serde_json::Value::String(context));
    }
    let mut response = (status, axum::Json(item.body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&item.etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Whether the request says its body is `application/json`.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<serde_json::Value, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "send application/json".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))
}

const ON_COLLECTION: &str = "GET, POST";
const ON_ITEM: &str = "GET, PUT, PATCH, DELETE";

fn method_not_allowed(allow: &'static str, detail: &str) -> ApiError {
    ApiError::MethodNotAllowed {
        allow,
        detail: detail.into(),
    }
}

/// Methods the routes do not serve: 405 naming the ones this path (collection or item) does.
async fn other_method(Path(segment): Path<String>) -> ApiError {
    match split_segment(&segment) {
        (_, Some(_)) => method_not_allowed(ON_ITEM, "an item allows GET, PUT, PATCH and DELETE"),
        (_, None) => method_not_allowed(ON_COLLECTION, "a collection allows GET and POST"),
    }
}

/// `GET /api/`: the OData service document (the entity sets the caller may read).
async fn service_document(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    let document =
        keyway_data::service_document(data.schemas(), &base_url(&state), &caller.scopes());
    Ok(odata(axum::Json(document).into_response()))
}

/// `GET /api/$metadata`: CSDL XML, or CSDL JSON for `$format=json` or an `Accept` that
/// prefers JSON; drawn for the caller's scopes.
async fn metadata(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    let scopes = caller.scopes();
    let mut format = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "$format" => format = Some(value),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "$metadata takes only $format (json or xml), not {:?}",
                    keyway_data::shortened(other)
                )));
            }
        }
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let json = match format.as_deref() {
        Some("json" | "application/json") => true,
        Some("xml" | "application/xml") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "$format={:?}: $metadata is served as json or xml",
                keyway_data::shortened(other)
            )));
        }
        None => accept.contains("json") && !accept.contains("xml"),
    };
    let response = if json {
        axum::Json(keyway_data::metadata_json(data.schemas(), &scopes)).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            keyway_data::metadata_xml(data.schemas(), &scopes),
        )
            .into_response()
    };
    Ok(odata(response))
}

/// Marks an answer as OData 4.01.
pub(crate) fn odata(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.01"));
    response
}

async fn openapi(State(state): State<AppState>) -> Result<Response, ApiError> {
    let data = service(&state)?;
    Ok(axum::Json(keyway_data::openapi_document(
        data.schemas(),
        &state.auth.config().issuer,
        data.page_size,
    ))
    .into_response())
}

/// `Prefer: odata.maxpagesize=N` (OData 4.01 §8.2.8.3; `maxpagesize` as in 4.0), anywhere
/// in the header's comma-separated preferences; a malformed value is ignored, as preferences
/// may be.
fn preferred_page_size(headers: &axum::http::HeaderMap) -> Option<u32> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(page_size_preference)
}

/// The page size in one `Prefer` header value, if it asks for one.
pub(crate) fn page_size_preference(value: &str) -> Option<u32> {
    value
        .split(',')
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| {
            let name = name.trim();
            name.eq_ignore_ascii_case("odata.maxpagesize")
                || name.eq_ignore_ascii_case("maxpagesize")
        })
        .and_then(|(_, value)| value.trim().trim_matches('"').parse().ok())
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`.
fn none_match(headers: &axum::http::HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|tags| tags_match(tags, etag))
}

/// Whether an `If-None-Match` value names `etag` (or is `*`).
pub(crate) fn tags_match(tags: &str, etag: &str) -> bool {
    tags.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag.trim_start_matches("W/"))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    let scopes = caller.scopes();
    Ok(match split_segment(&segment) {
        (entity, Some(id)) => {
            let item = data
                .get(&entity, &id, &pairs(query), &scopes, &base_url(&state))
                .await
                .map_err(|e| caller.refusal(e))?;
            if none_match(&headers, &item.etag) {
                // The caller's copy is current (RFC 9110 §13.1.2): no body.
                let mut response = StatusCode::NOT_MODIFIED.into_response();
                if let Ok(value) = HeaderValue::from_str(&item.etag) {
                    response.headers_mut().insert(header::ETAG, value);
                }
                return Ok(response);
            }
            item_response(
                StatusCode::OK,
                item,
                item_context(&state, &data, &entity),
                None,
            )
        }
        (entity, None) => {
            let page = data
                .list(
                    &entity,
                    &pairs(query),
                    &scopes,
                    &base_url(&state),
                    preferred_page_size(&headers),
                )
                .await
                .map_err(|e| caller.refusal(e))?;
            let mut response = axum::Json(page.body).into_response();
            if let Some(size) = page.max_page_size_applied
                && let Ok(value) =
                    axum::http::HeaderValue::from_str(&format!("odata.maxpagesize={size}"))
            {
                response.headers_mut().insert("preference-applied", value);
            }
            response
        }
    })
}

async fn count(
    State(state): State<AppState>,
    caller: Caller,
    Path((segment, extra)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    count_answer(&state, &caller, &segment, &extra, &pairs(query)).await
}

/// `/{segment}/$count` with `pairs` (V4 options): the number as text.
pub(crate) async fn count_answer(
    state: &AppState,
    caller: &Caller,
    segment: &str,
    extra: &str,
    pairs: &[(String, String)],
) -> Result<Response, ApiError> {
    if extra != "$count" {
        return Err(ApiError::NotFound("no such resource".into()));
    }
    let data = service(state)?;
    let n = data
        .count(segment, pairs, &caller.scopes())
        .await
        .map_err(|e| caller.refusal(e))?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], n.to_string()).into_response())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    let (entity, id) = split_segment(&segment);
    if id.is_some() {
        return Err(method_not_allowed(
            ON_ITEM,
            "POST to the collection, not to an item",
        ));
    }
    let json = json_body(&headers, &body)?;
    let item = data
        .create_at(&entity, &json, &caller.scopes(), &base_url(&state))
        .await
        .map_err(|e| caller.refusal(e))?;
    let canonical = canonical(&data, &entity);
    let location = format!("{}/{canonical}({})", base_url(&state), item.id);
    let context = item_context(&state, &data, &canonical);
    Ok(item_response(
        StatusCode::CREATED,
        item,
        context,
        Some(location),
    ))
}

/// PATCH and PUT of one item.
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    mode: UpdateMode,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    let (entity, Some(id)) = split_segment(&segment) else {
        return Err(method_not_allowed(
            ON_COLLECTION,
            "PATCH or PUT an item: /api/Entity(id)",
        ));
    };
    let json = json_body(&headers, &body)?;
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let item = data
        .update(&entity, &id, &json, if_match, &caller.scopes(), mode)
        .await
        .map_err(|e| caller.refusal(e))?;
    let context = item_context(&state, &data, &entity);
    Ok(item_response(StatusCode::OK, item, context, None))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let data = service(&state)?;
    let (entity, Some(id)) = split_segment(&segment) else {
        return Err(method_not_allowed(
            ON_COLLECTION,
            "DELETE an item: /api/Entity(id)",
        ));
    };
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    data.delete(&entity, &id, if_match, &caller.scopes())
        .await
        .map_err(|e| caller.refusal(e))?;
    Ok(StatusCode::NO_CONTENT)
}
