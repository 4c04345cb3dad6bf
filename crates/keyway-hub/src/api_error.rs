//! `ApiError`: the one error type of the hub's APIs (everything but the OAuth endpoints, which
//! answer RFC 6749 JSON through [`crate::errors::OAuthJsonError`]). Handlers return
//! `Result<_, ApiError>`; this is the only place such an error becomes an RFC 9457 problem,
//! with the `WWW-Authenticate` challenge RFC 6750 (or docs/toki.md) asks for.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyway_data::DataError;

use crate::errors::problem;

use keyway_auth::jose::VERIFIED_ALGS as DPOP_ALGS;

/// How a caller authenticated, and so how a refusal challenges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Bearer realm="keyway", <params>` (RFC 6750).
    Bearer,
    /// `Toki <params>`, as the toki layer's own refusals (docs/toki.md).
    Toki,
    /// `DPoP algs="…", <params>` (RFC 9449 §7.1), for a token bound to a key.
    Dpop,
}

impl Scheme {
    fn challenge(self, params: &str) -> String {
        match (self, params) {
            (Scheme::Bearer, "") => "Bearer realm=\"keyway\"".to_string(),
            (Scheme::Bearer, params) => format!("Bearer realm=\"keyway\", {params}"),
            (Scheme::Toki, "") => "Toki".to_string(),
            (Scheme::Toki, params) => format!("Toki {params}"),
            (Scheme::Dpop, "") => format!("DPoP algs=\"{}\"", DPOP_ALGS.join(" ")),
            (Scheme::Dpop, params) => format!("DPoP algs=\"{}\", {params}", DPOP_ALGS.join(" ")),
        }
    }
}

/// Why a hub API refused a request or failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No credentials at all: 401 with a bare challenge.
    #[error("{detail}")]
    Unauthenticated { scheme: Scheme, detail: String },
    /// Credentials that do not hold: 401 `error="<code>"` (`invalid_token`, `unknown_peer`).
    #[error("{detail}")]
    InvalidCredentials {
        scheme: Scheme,
        code: &'static str,
        detail: String,
    },
    /// A DPoP proof without the hub's current nonce: 401 `use_dpop_nonce` with `DPoP-Nonce`
    /// (RFC 9449 §9).
    #[error("{detail}")]
    UseDpopNonce { nonce: String, detail: String },
    /// Authenticated, but without one of `scopes`: 403 `insufficient_scope`.
    #[error("the caller lacks the scope {}", scopes.join(" or "))]
    InsufficientScope { scheme: Scheme, scopes: Vec<String> },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    MethodNotAllowed { allow: &'static str, detail: String },
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request contradicts the stored state (a delete of a row others still reference).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A gateway's upstream failed (refused, garbage, redirected, too large).
    #[error("{0}")]
    BadGateway(String),
    /// The request body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// A gateway's upstream did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
    /// The store (or another dependency) did not answer; the cause is logged, not sent.
    #[error("the database did not answer; retry later")]
    Unavailable,
}

impl ApiError {
    /// The same refusal, challenged in `scheme` (the scheme the caller authenticated with).
    pub(crate) fn challenged_in(mut self, scheme: Scheme) -> ApiError {
        match &mut self {
            ApiError::Unauthenticated { scheme: s, .. }
            | ApiError::InvalidCredentials { scheme: s, .. }
            | ApiError::InsufficientScope { scheme: s, .. } => *s = scheme,
            _ => {}
        }
        self
    }

    /// Logs `cause` and answers 503: the client learns that it may retry, not why.
    pub(crate) fn unavailable(what: &str, cause: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(error = %cause, "{what} failed");
        ApiError::Unavailable
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated { .. }
            | ApiError::InvalidCredentials { .. }
            | ApiError::UseDpopNonce { .. } => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope { .. } | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `WWW-Authenticate` for the refusals that carry one.
    fn challenge(&self) -> Option<String> {
        match self {
            ApiError::Unauthenticated { scheme, .. } => Some(scheme.challenge("")),
            ApiError::InvalidCredentials { scheme, code, .. } => {
                Some(scheme.challenge(&format!("error=\"{code}\"")))
            }
            ApiError::UseDpopNonce { .. } => Some(Scheme::Dpop.challenge(
                "error=\"use_dpop_nonce\", error_description=\"Resource server requires nonce in DPoP proof\"",
            )),
            ApiError::InsufficientScope { scheme, scopes } => Some(scheme.challenge(&format!(
                "error=\"insufficient_scope\", scope=\"{}\"",
                scopes.join(" ")
            ))),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let mut response = problem(status, title, &self.to_string());
        if let Some(value) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        if let ApiError::UseDpopNonce { nonce, .. } = &self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            response.headers_mut().insert("dpop-nonce", value);
        }
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            // RFC 9110 §15.5.6: a 405 names the methods the resource has.
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<DataError> for ApiError {
    fn from(err: DataError) -> ApiError {
        match err {
            DataError::NotFound(detail) => ApiError::NotFound(detail),
            DataError::BadRequest(detail) => ApiError::BadRequest(detail),
            DataError::PreconditionFailed => ApiError::PreconditionFailed(err.to_string()),
            DataError::Conflict(detail) => ApiError::Conflict(detail),
            DataError::Forbidden(scopes) => ApiError::InsufficientScope {
                scheme: Scheme::Bearer,
                scopes,
            },
            DataError::Store(e) => ApiError::unavailable("data API store", &e),
        }
    }
}

impl From<keyway_store::StoreError> for ApiError {
    fn from(err: keyway_store::StoreError) -> ApiError {
        ApiError::unavailable("store", &err)
    }
}

impl From<keyway_auth::AdminError> for ApiError {
    fn from(err: keyway_auth::AdminError) -> ApiError {
        ApiError::unavailable("registry look-up", &err)
    }
}

impl From<keyway_auth::OAuthError> for ApiError {
    fn from(err: keyway_auth::OAuthError) -> ApiError {
        ApiError::unavailable("authorization check", &err.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_refusals_challenge_in_the_callers_scheme() {
        let refusal = ApiError::InsufficientScope {
            scheme: Scheme::Bearer,
            scopes: vec!["link:read".into()],
        }
        .challenged_in(Scheme::Toki);
        let response = refusal.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Toki error=\"insufficient_scope\", scope=\"link:read\""
        );
    }

    #[test]
    fn a_405_names_the_allowed_methods() {
        let response = ApiError::MethodNotAllowed {
            allow: "GET, POST",
            detail: "no".into(),
        }
        .into_response();
        assert_eq!(response.headers()[header::ALLOW], "GET, POST");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
