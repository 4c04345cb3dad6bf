//! Who calls a hub API: a bearer access token (RFC 6750), or a registered service whose
//! `oscartoki` call the hub's toki layer verified (docs/toki.md, "Calling the hub with toki").
//! Refusals carry a `WWW-Authenticate` challenge in the scheme the caller used ([`Scheme`]).

// Helpers here return the very response to send as their error; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use keyway_auth::AccessTokenClaims;
use keyway_toki::VerifiedRequest;

use crate::AppState;
use crate::errors::problem;

/// The verified toki call, when the hub's toki layer admitted this request.
pub struct TokiCall(pub Option<VerifiedRequest>);

impl TokiCall {
    /// The scheme refusals of this request are challenged in.
    pub fn scheme(&self) -> Scheme {
        if self.0.is_some() {
            Scheme::Toki
        } else {
            Scheme::Bearer
        }
    }
}

/// How a caller authenticated, and so how a refusal challenges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Bearer realm="keyway", <params>` (RFC 6750).
    Bearer,
    /// `Toki <params>`, as the toki layer's own refusals (docs/toki.md).
    Toki,
}

impl Scheme {
    /// Sets `WWW-Authenticate` to this scheme with `params` (`error="…"`, …; may be empty).
    pub fn challenge(self, response: &mut Response, params: &str) {
        let value = match (self, params) {
            (Scheme::Bearer, "") => "Bearer realm=\"keyway\"".to_string(),
            (Scheme::Bearer, params) => format!("Bearer realm=\"keyway\", {params}"),
            (Scheme::Toki, "") => "Toki".to_string(),
            (Scheme::Toki, params) => format!("Toki {params}"),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TokiCall {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(TokiCall(parts.extensions.get::<VerifiedRequest>().cloned()))
    }
}

/// An authenticated caller of a hub API.
pub enum Caller {
    Bearer(Arc<AccessTokenClaims>),
    /// Its scopes are the client's registered ones, read on every call (cached ≤ 1 s), so a
    /// deleted client or a narrowed scope takes effect even on open toki sessions.
    Toki {
        client_id: String,
        scope: String,
    },
}

impl Caller {
    fn scheme(&self) -> Scheme {
        match self {
            Caller::Bearer(_) => Scheme::Bearer,
            Caller::Toki { .. } => Scheme::Toki,
        }
    }

    pub fn client_id(&self) -> &str {
        match self {
            Caller::Bearer(claims) => &claims.client_id,
            Caller::Toki { client_id, .. } => client_id,
        }
    }

    pub fn scopes(&self) -> Vec<String> {
        let scope = match self {
            Caller::Bearer(claims) => &claims.scope,
            Caller::Toki { scope, .. } => scope,
        };
        scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether a bearer token was issued for `audience` (RFC 8707); a toki token always
    /// names the hub itself as its callee.
    pub fn is_for(&self, audience: &str) -> bool {
        match self {
            Caller::Bearer(claims) => claims.aud.contains(audience),
            Caller::Toki { .. } => true,
        }
    }

    /// `Ok` when the caller holds `scope`, else RFC 6750's 403 `insufficient_scope`.
    pub fn require(&self, scope: &str) -> Result<(), Response> {
        if self.scopes().iter().any(|s| s == scope) {
            return Ok(());
        }
        let mut response = problem(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("the caller lacks the scope {scope}"),
        );
        self.scheme().challenge(
            &mut response,
            &format!("error=\"insufficient_scope\", scope=\"{scope}\""),
        );
        Err(response)
    }
}

/// The caller: the toki service when the layer verified the call, else the bearer token.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    toki: &TokiCall,
) -> Result<Caller, Response> {
    let Some(verified) = &toki.0 else {
        return bearer(state, headers).await.map(Caller::Bearer);
    };
    let client_id = verified.caller.as_str();
    match state.auth.client(client_id).await {
        Ok(Some(client)) => Ok(Caller::Toki {
            client_id: client_id.to_string(),
            scope: client.scopes.to_string(),
        }),
        Ok(None) => {
            let mut response = problem(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "the calling service is no longer registered at this hub",
            );
            Scheme::Toki.challenge(&mut response, "error=\"unknown_peer\"");
            Err(response)
        }
        Err(err) => {
            tracing::warn!(error = %err, "client lookup for a toki caller failed");
            Err(unavailable())
        }
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            (v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ")).then(|| v[7..].trim())
        })
}

/// The claims of a valid bearer token, or RFC 6750's 401.
pub async fn bearer(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Arc<AccessTokenClaims>, Response> {
    let Some(token) = bearer_token(headers) else {
        let mut response = problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "a Bearer access token is required",
        );
        Scheme::Bearer.challenge(&mut response, "");
        return Err(response);
    };
    match state.auth.active_access_token(token).await {
        Ok(Some(claims)) => Ok(claims),
        Ok(None) => Err(invalid_token()),
        Err(err) => {
            tracing::warn!(error = %err, "token check failed");
            Err(unavailable())
        }
    }
}

/// RFC 6750's 401 `invalid_token`.
pub fn invalid_token() -> Response {
    let mut response = problem(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "the access token is invalid, expired or revoked",
    );
    Scheme::Bearer.challenge(&mut response, "error=\"invalid_token\"");
    response
}

pub fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "the database did not answer; retry later",
    )
}
