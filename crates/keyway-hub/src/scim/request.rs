//! Reading SCIM requests (media type, capped body, query pairs, conditional headers) and
//! writing SCIM responses (media type, ETag, Location).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyway_auth::scim::{self, ScimError, ScimType};
use serde_json::Value;

use super::ScimHttpError;
use super::error::SCIM_JSON;

/// A 200 answer with a SCIM JSON body.
pub(super) fn json_response(body: Value) -> Response {
    with_status(StatusCode::OK, body)
}

fn with_status(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// A resource: its version as `ETag`, its location as `Location` on a 201.
pub(super) fn resource_response(status: StatusCode, full: &Value, shown: Value) -> Response {
    let mut response = with_status(status, shown);
    if let Ok(etag) = HeaderValue::from_str(scim::version_of(full)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = full.pointer("/meta/location").and_then(Value::as_str)
        && let Ok(value) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 304 for a GET whose `If-None-Match` names the current version.
pub(super) fn not_modified(full: &Value) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(etag) = HeaderValue::from_str(scim::version_of(full)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

pub(super) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The query string as pairs.
pub(super) fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The request body as JSON: `application/scim+json` or `application/json`, at most
/// [`scim::MAX_PAYLOAD_BYTES`] bytes (read no further than that).
pub(super) async fn json_body(headers: &HeaderMap, body: Body) -> Result<Value, ScimHttpError> {
    let media = header_text(headers, header::CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if !matches!(
        media.as_deref(),
        Some("application/scim+json" | "application/json")
    ) {
        return Err(ScimHttpError::UnsupportedMediaType(
            "send application/scim+json (or application/json)".into(),
        ));
    }
    let bytes = axum::body::to_bytes(body, scim::MAX_PAYLOAD_BYTES)
        .await
        .map_err(|_| {
            ScimHttpError::PayloadTooLarge(format!(
                "the body is larger than {} bytes",
                scim::MAX_PAYLOAD_BYTES
            ))
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ScimHttpError::Scim(ScimError::bad(
            ScimType::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        ))
    })
}
