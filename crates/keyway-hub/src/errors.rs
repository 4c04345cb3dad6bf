//! The one place where typed errors become HTTP responses.
//!
//! OAuth endpoints answer RFC 6749 §5.2 JSON; everything else answers RFC 9457
//! `application/problem+json`.

use std::any::Any;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyway_auth::{ErrorCode, OAuthError};
use serde_json::json;

/// An OAuth error on a JSON endpoint (token, introspection, revocation).
pub(crate) struct OAuthJsonError(pub OAuthError);

impl From<OAuthError> for OAuthJsonError {
    fn from(error: OAuthError) -> OAuthJsonError {
        OAuthJsonError(error)
    }
}

pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for OAuthJsonError {
    fn into_response(self) -> Response {
        let error = self.0;
        ::metrics::counter!("keyway_oauth_errors_total", "error" => error.code.as_str())
            .increment(1);
        let status = status_of(error.code);
        let body = json!({
            "error": error.code.as_str(),
            "error_description": error.description,
        });
        let mut response = (status, no_store(), axum::Json(body)).into_response();
        // RFC 6749 §5.2: a 401 challenges with the scheme the client can use (HTTP Basic).
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keyway\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, required on token responses (RFC 6749 §5.1).
pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// An RFC 9457 problem document.
pub(crate) fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// A handler panicked: log it, answer 500 without details, keep serving.
pub(crate) fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    tracing::error!(%detail, "handler panicked");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        "the request failed unexpectedly",
    )
}

/// Marks an answer relayed from another server (the gateway's target): never rewritten.
#[derive(Clone, Copy)]
pub(crate) struct Relayed;

/// axum's own rejections of a body (over the size limit, of a type a handler cannot read)
/// are plain text: they become problem documents like every other HTTP error the hub
/// answers (docs/oauth.md, "Errors").
pub(crate) async fn plain_rejections(response: Response) -> Response {
    // A relayed answer is the target's; a toki-signed one would lose its signature.
    if response.extensions().get::<Relayed>().is_some()
        || response.headers().contains_key(keyway_toki::HEADER_NAME)
    {
        return response;
    }
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/plain"));
    if !plain
        || !matches!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE
        )
    {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than this endpoint takes",
        _ => "the request body's Content-Type is not one this endpoint reads",
    };
    problem(status, status.canonical_reason().unwrap_or("Error"), detail)
}

pub(crate) async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "Not Found", "no such resource")
}
