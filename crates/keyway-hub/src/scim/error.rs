//! SCIM error responses (RFC 7644 §3.12): every refusal under `/scim/v2`, authentication ones
//! included, is the SCIM error JSON; 401 and 403 keep the `WWW-Authenticate` challenge (and a
//! DPoP nonce) that [`ApiError`] would have sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyway_auth::scim::{ERROR_SCHEMA, ScimError, ScimType};
use serde_json::json;

use crate::api_error::ApiError;

pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// Why a `/scim/v2` request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScimHttpError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// Authentication or scope (from the `Caller` extractor).
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    MethodNotAllowed { allow: &'static str, detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotImplemented(String),
}

fn body(status: StatusCode, scim_type: Option<ScimType>, detail: &str) -> Response {
    let mut json = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(kind) = scim_type {
        json["scimType"] = kind.as_str().into();
    }
    let mut response = (status, json.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

impl IntoResponse for ScimHttpError {
    fn into_response(self) -> Response {
        match self {
            ScimHttpError::Scim(err) => {
                let status =
                    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let detail = match &err {
                    ScimError::Store(cause) => {
                        tracing::warn!(error = %cause, "SCIM store access failed");
                        "the database did not answer; retry later".to_string()
                    }
                    ScimError::Internal(cause) => {
                        tracing::warn!(error = %cause, "SCIM request failed");
                        "internal error".to_string()
                    }
                    other => other.to_string(),
                };
                body(status, err.scim_type(), &detail)
            }
            ScimHttpError::Api(err) => {
                let detail = err.to_string();
                let problem = err.into_response();
                let mut response = body(problem.status(), None, &detail);
                for name in [header::WWW_AUTHENTICATE, header::ALLOW] {
                    if let Some(value) = problem.headers().get(&name) {
                        response.headers_mut().insert(name, value.clone());
                    }
                }
                if let Some(value) = problem.headers().get("dpop-nonce") {
                    response.headers_mut().insert("dpop-nonce", value.clone());
                }
                response
            }
            ScimHttpError::PayloadTooLarge(detail) => {
                body(StatusCode::PAYLOAD_TOO_LARGE, None, &detail)
            }
            ScimHttpError::UnsupportedMediaType(detail) => {
                body(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, &detail)
            }
            ScimHttpError::NotFound(detail) => body(StatusCode::NOT_FOUND, None, &detail),
            ScimHttpError::NotImplemented(detail) => {
                body(StatusCode::NOT_IMPLEMENTED, None, &detail)
            }
            ScimHttpError::MethodNotAllowed { allow, detail } => {
                let mut response = body(StatusCode::METHOD_NOT_ALLOWED, None, &detail);
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
        }
    }
}
