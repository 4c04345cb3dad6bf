//! Every data API answer carries `OData-Version: 4.01`; errors are in the OData format for
//! OData requests: a client that says it speaks OData (an
//! `OData-Version` or `OData-MaxVersion` header, or an `Accept` with OData parameters) gets
//! `{"error": {"code", "message"}}` (OData JSON Format 4.01 §21) instead of an RFC 9457
//! problem, with the same status, detail and headers.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
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

/// The OData error code: `insufficient_scope` where the challenge says so, else the status's
/// reason in snake case (`bad_request`, `not_found`, `precondition_failed`, …).
fn code(response: &Response) -> String {
    let challenged = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("insufficient_scope"));
    if challenged {
        return "insufficient_scope".into();
    }
    response
        .status()
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

pub(crate) async fn odata_errors(request: Request, next: Next) -> Response {
    let odata = speaks_odata(request.headers());
    let mut response = next.run(request).await;
    // Every answer of the OData service says which OData it speaks (OData 4.01 §8.1.5).
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.01"));
    if !odata || !is_problem(&response) {
        return response;
    }
    let code = code(&response);
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = problem["detail"].as_str().unwrap_or_default();
    let error = json!({ "error": { "code": code, "message": message } });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert("odata-version", HeaderValue::from_static("4.01"));
    Response::from_parts(parts, Body::from(error.to_string()))
}
