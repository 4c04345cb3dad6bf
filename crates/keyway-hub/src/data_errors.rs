//! Every data API answer carries `OData-Version: 4.01`; errors are in the OData format for
//! OData requests: a client that says it speaks OData (an
//! `OData-Version` or `OData-MaxVersion` header, or an `Accept` with OData parameters) gets
//! `{"error": {"code", "message"}}` (OData JSON Format 4.01 §21) instead of an RFC 9457
//! problem, with the same status, detail and headers.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

/// A problem body is small; anything larger is left alone.
const MAX_PROBLEM_BYTES: usize = 16 * 1024;

fn speaks_odata(headers: &HeaderMap) -> bool {
    headers.contains_key("odata-version")
        || headers.contains_key("odata-maxversion")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.to_ascii_lowercase().contains("odata."))
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// The OData error code of a refusal: `insufficient_scope` for a missing scope, else the
/// status's reason in snake case (`bad_request`, `not_found`, `precondition_failed`, …).
pub(crate) fn error_code(status: StatusCode, insufficient_scope: bool) -> String {
    if insufficient_scope {
        return "insufficient_scope".into();
    }
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

/// Rewrites an RFC 9457 problem answer into another error body, made by `body` from the
/// OData error code and the problem's detail; status and headers stay. Any other answer is
/// returned as it is.
pub(crate) async fn rewrite_problem(
    response: Response,
    body: impl FnOnce(String, String) -> Value,
) -> Response {
    if !is_problem(&response) {
        return response;
    }
    let challenged = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("insufficient_scope"));
    let code = error_code(response.status(), challenged);
    let (mut parts, problem) = response.into_parts();
    let bytes = axum::body::to_bytes(problem, MAX_PROBLEM_BYTES)
        .await
        .unwrap_or_default();
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let detail = problem["detail"].as_str().unwrap_or_default().to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body(code, detail).to_string()))
}

pub(crate) async fn odata_errors(request: Request, next: Next) -> Response {
    let odata = speaks_odata(request.headers());
    let mut response = next.run(request).await;
    // Every answer of the OData service says which OData it speaks (OData 4.01 §8.1.5).
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.01"));
    if !odata {
        return response;
    }
    rewrite_problem(
        response,
        |code, message| json!({ "error": { "code": code, "message": message } }),
    )
    .await
}
