//! `/api/v2/…`: the data API in OData V2 for V2-only clients (SAP's pyodata and older SAP
//! tooling). Requests are translated to the V4 service's (`keyway_data::v2`), which decides
//! everything as for `/api/`; answers come back in V2 JSON, errors in V2's error format.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use keyway_data::{
    DataService, UpdateMode, body_from_v2, entry_v2, key_from_v2, metadata_v2_xml, pairs_from_v2,
    service_document_v2,
};
use serde_json::{Value, json};

use crate::AppState;
use crate::caller::{ApiError, Caller};
use crate::data::{base_url, service, split_segment};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2", get(service_document))
        .route("/api/v2/", get(service_document))
        .route("/api/v2/$metadata", get(metadata))
        .route("/api/v2/{segment}", any(resource))
        .route("/api/v2/{segment}/{extra}", get(count))
        .route_layer(axum::middleware::from_fn(v2_answers))
}

fn v2_base(state: &AppState) -> String {
    format!("{}/v2", base_url(state))
}

fn json_v2(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Marks V2 answers, and rewrites every RFC 9457 problem into V2's error format.
async fn v2_answers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("dataserviceversion", HeaderValue::from_static("2.0"));
    crate::data_errors::rewrite_problem(response, |code, message| {
        json!({ "error": { "code": code, "message": { "lang": "en", "value": message } } })
    })
    .await
}

async fn service_document(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    Ok(json_v2(
        StatusCode::OK,
        service_document_v2(data.schemas(), &caller.scopes()),
    ))
}

async fn metadata(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let data = service(&state)?;
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        metadata_v2_xml(data.schemas(), &caller.scopes()),
    )
        .into_response())
}

fn v2_pairs(query: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    pairs_from_v2(&pairs).map_err(ApiError::BadRequest)
}

fn entity_of<'a>(data: &'a DataService, name: &str) -> Result<&'a keyway_data::Entity, ApiError> {
    data.schemas()
        .entity(name)
        .ok_or_else(|| ApiError::NotFound(format!("no entity {name:?}")))
}

fn with_etag(mut response: Response, etag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// GET (a collection or an item), POST, PUT, PATCH, MERGE and DELETE of `/api/v2/{segment}`.
async fn resource(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    let scopes = caller.scopes();
    let (name, key) = split_segment(&segment);
    let entity = entity_of(&data, &name)?;
    let v4_base = base_url(&state);
    let base = v2_base(&state);
    let refuse = |e| caller.refusal(e);
    let parse_body = || -> Result<Value, ApiError> {
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
        body_from_v2(data.schemas(), entity, &json).map_err(ApiError::BadRequest)
    };
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    match (method.as_str(), key.map(|k| key_from_v2(&k))) {
        ("GET", None) => {
            let page = data
                .list(&name, &v2_pairs(query)?, &scopes, &v4_base, None)
                .await
                .map_err(refuse)?;
            let results: Vec<Value> = page.body["value"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|item| entry_v2(data.schemas(), entity, &base, item))
                .collect();
            let mut d = serde_json::Map::new();
            d.insert("results".into(), Value::Array(results));
            if let Some(count) = page.body.get("@odata.count") {
                d.insert("__count".into(), json!(count.to_string()));
            }
            if let Some(next) = page.body.get("@odata.nextLink").and_then(Value::as_str) {
                let next = next.replacen(&format!("{v4_base}/"), &format!("{base}/"), 1);
                d.insert("__next".into(), json!(next));
            }
            Ok(json_v2(StatusCode::OK, json!({ "d": d })))
        }
        ("GET", Some(id)) => {
            let item = data
                .get(&name, &id, &v2_pairs(query)?, &scopes, &v4_base)
                .await
                .map_err(refuse)?;
            let etag = item.etag.clone();
            let entry = entry_v2(data.schemas(), entity, &base, item.body);
            Ok(with_etag(
                json_v2(StatusCode::OK, json!({ "d": entry })),
                &etag,
            ))
        }
        ("POST", None) => {
            let item = data
                .create_at(&name, &parse_body()?, &scopes, &v4_base)
                .await
                .map_err(refuse)?;
            let key = match entity.id_type {
                keyway_data::IdType::Uuid => format!("guid'{}'", item.id),
                keyway_data::IdType::Integer => format!("{}L", item.id),
            };
            let location = format!("{base}/{}({key})", entity.name);
            let etag = item.etag.clone();
            let entry = entry_v2(data.schemas(), entity, &base, item.body);
            let mut response =
                with_etag(json_v2(StatusCode::CREATED, json!({ "d": entry })), &etag);
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        ("PUT" | "PATCH" | "MERGE", Some(id)) => {
            let mode = if method == Method::PUT {
                UpdateMode::Replace
            } else {
                UpdateMode::Merge
            };
            let item = data
                .update(&name, &id, &parse_body()?, if_match, &scopes, mode)
                .await
                .map_err(refuse)?;
            // V2 answers a change with 204 and the new ETag.
            Ok(with_etag(
                StatusCode::NO_CONTENT.into_response(),
                &item.etag,
            ))
        }
        ("DELETE", Some(id)) => {
            data.delete(&name, &id, if_match, &scopes)
                .await
                .map_err(refuse)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (_, Some(_)) => Err(ApiError::MethodNotAllowed {
            allow: "GET, PUT, PATCH, MERGE, DELETE",
            detail: "an item allows GET, PUT, PATCH, MERGE and DELETE".into(),
        }),
        (_, None) => Err(ApiError::MethodNotAllowed {
            allow: "GET, POST",
            detail: "a collection allows GET and POST".into(),
        }),
    }
}

async fn count(
    State(state): State<AppState>,
    caller: Caller,
    Path((segment, extra)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    crate::data::count_answer(&state, &caller, &segment, &extra, &v2_pairs(query)?).await
}
