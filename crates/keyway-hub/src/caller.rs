//! Who calls a hub API: a bearer access token (RFC 6750), or a registered service whose
//! `oscartoki` call the hub's toki layer verified (docs/toki.md, "Calling the hub with toki").
//!
//! [`Caller`] is an axum extractor and the only way a handler learns its caller: it checks the
//! token's signature, expiry, revocation, its client's existence and its **audience** (the hub)
//! in one place. [`Authorized<S>`] adds the route's required scope `S`. A handler that does not
//! take one of them cannot see who is calling, so it cannot forget a check.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use keyway_auth::{AccessTokenClaims, Presentation};
use keyway_toki::VerifiedRequest;

use crate::AppState;
pub(crate) use crate::api_error::{ApiError, Scheme};

/// An authenticated caller of a hub API, whose token was meant for the hub.
pub(crate) enum Caller {
    Bearer(Arc<AccessTokenClaims>),
    /// Its scopes are the client's registered ones, read on every call (cached ≤ 1 s), so a
    /// deleted client or a narrowed scope takes effect even on open toki sessions.
    Toki {
        client_id: String,
        scope: String,
    },
}

impl Caller {
    /// The scheme refusals of this caller are challenged in.
    pub(crate) fn scheme(&self) -> Scheme {
        match self {
            Caller::Bearer(claims) if claims.cnf.is_some() => Scheme::Dpop,
            Caller::Bearer(_) => Scheme::Bearer,
            Caller::Toki { .. } => Scheme::Toki,
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        match self {
            Caller::Bearer(claims) => &claims.client_id,
            Caller::Toki { client_id, .. } => client_id,
        }
    }

    /// The scopes as the token states them (space-separated).
    pub(crate) fn scope_text(&self) -> &str {
        match self {
            Caller::Bearer(claims) => &claims.scope,
            Caller::Toki { scope, .. } => scope,
        }
    }

    /// The caller's scopes, in token order.
    pub(crate) fn scopes(&self) -> Vec<&str> {
        self.scope_text()
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// `Ok` when the caller holds `scope`, else RFC 6750's 403 `insufficient_scope`.
    pub(crate) fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes().contains(&scope) {
            return Ok(());
        }
        Err(ApiError::InsufficientScope {
            scheme: self.scheme(),
            scopes: vec![scope.to_string()],
        })
    }

    /// `err` as this caller's refusal (challenged in the scheme it authenticated with).
    pub(crate) fn refusal(&self, err: impl Into<ApiError>) -> ApiError {
        err.into().challenged_in(self.scheme())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Only the hub's toki layer inserts this extension, after verifying the call.
        match parts.extensions.get::<VerifiedRequest>() {
            Some(verified) => toki_caller(state, verified.caller.as_str()).await,
            None => token_caller(state, parts).await,
        }
    }
}

async fn toki_caller(state: &AppState, client_id: &str) -> Result<Caller, ApiError> {
    match state.auth.client(client_id).await? {
        Some(client) => Ok(Caller::Toki {
            client_id: client_id.to_string(),
            scope: client.scopes.to_string(),
        }),
        None => Err(ApiError::InvalidCredentials {
            scheme: Scheme::Toki,
            code: "unknown_peer",
            detail: "the calling service is no longer registered at this hub".into(),
        }),
    }
}

/// A caller with an access token: `Authorization: Bearer`, or `Authorization: DPoP` with a
/// proof by the key the token is bound to (RFC 9449 §7). A bound token is honoured only so.
async fn token_caller(state: &AppState, parts: &Parts) -> Result<Caller, ApiError> {
    let headers = &parts.headers;
    let (token, dpop) = match (bearer_token(headers), dpop_token(headers)) {
        (Some(token), None) => (token, false),
        (None, Some(token)) => (token, true),
        _ => {
            return Err(ApiError::Unauthenticated {
                scheme: Scheme::Bearer,
                detail: "a Bearer (or DPoP) access token is required".into(),
            });
        }
    };
    let Some(claims) = state.auth.active_access_token(token).await? else {
        return Err(invalid_token(
            "the access token is invalid, expired or revoked",
        ));
    };
    check_audience(state, &claims)?;
    let url = format!("{}{}", state.auth.config().issuer, parts.uri.path());
    let presentation = if dpop {
        Presentation::Dpop {
            proof: crate::dpop::proof_header(headers).map_err(|e| dpop_refusal(state, e))?,
            method: parts.method.as_str(),
            url: &url,
        }
    } else {
        Presentation::Bearer
    };
    state
        .auth
        .check_presentation(&claims, token, presentation)
        .await
        .map_err(|e| dpop_refusal(state, e))?;
    Ok(Caller::Bearer(claims))
}

/// A refusal of how a token was presented, challenged as DPoP (RFC 9449 §7.1); a missing or
/// stale nonce comes with the one to use (§9).
fn dpop_refusal(state: &AppState, err: keyway_auth::OAuthError) -> ApiError {
    if err.code == keyway_auth::ErrorCode::UseDpopNonce
        && let Some(nonce) = state.auth.dpop_nonce()
    {
        return ApiError::UseDpopNonce {
            nonce,
            detail: err.description,
        };
    }
    ApiError::InvalidCredentials {
        scheme: Scheme::Dpop,
        code: err.code.as_str(),
        detail: err.description,
    }
}

/// The token of `Authorization: DPoP <token>`.
fn dpop_token(headers: &HeaderMap) -> Option<&str> {
    token_of(headers, "dpop")
}

/// RFC 8707: a token minted for another resource server must not open the hub's own
/// resources (its APIs and OIDC UserInfo).
pub(crate) fn check_audience(state: &AppState, claims: &AccessTokenClaims) -> Result<(), ApiError> {
    let hub = &state.auth.config().default_audience;
    if claims.aud.contains(hub) {
        return Ok(());
    }
    Err(invalid_token(&format!(
        "the access token is not meant for this hub (its audience does not include {hub})"
    )))
}

fn invalid_token(detail: &str) -> ApiError {
    ApiError::InvalidCredentials {
        scheme: Scheme::Bearer,
        code: "invalid_token",
        detail: detail.into(),
    }
}

/// A scope a route requires of every caller.
pub(crate) trait RequiredScope {
    const SCOPE: &'static str;
}

/// A [`Caller`] that holds the scope `S` (403 `insufficient_scope` otherwise). Only the
/// extractor makes one.
pub(crate) struct Authorized<S>(Caller, PhantomData<S>);

impl<S> Authorized<S> {
    pub(crate) fn caller(&self) -> &Caller {
        &self.0
    }
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(S::SCOPE)?;
        Ok(Authorized(caller, PhantomData))
    }
}

/// Declares a marker type for a required scope.
macro_rules! required_scope {
    ($(#[$doc:meta])* $name:ident = $scope:literal) => {
        $(#[$doc])*
        pub(crate) struct $name;
        impl $crate::caller::RequiredScope for $name {
            const SCOPE: &'static str = $scope;
        }
    };
}
pub(crate) use required_scope;

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    token_of(headers, "bearer")
}

/// The token of an `Authorization: <wanted> …` header (the scheme is case-insensitive).
fn token_of<'a>(headers: &'a HeaderMap, wanted: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case(wanted) && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_parsing_never_slices_inside_a_character() {
        let mut headers = HeaderMap::new();
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("Bearerabc", None),
        ] {
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer_token(&headers), expected, "{value:?}");
        }
        // Non-ASCII bytes in a header are not text: no token, no panic.
        headers.insert(
            header::AUTHORIZATION,
            axum::http::HeaderValue::from_bytes(b"Bear\xc3\xa9 x").unwrap(),
        );
        assert_eq!(bearer_token(&headers), None);
    }
}
