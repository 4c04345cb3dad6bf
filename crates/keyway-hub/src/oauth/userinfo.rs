//! OpenID Connect UserInfo: who the bearer of an `openid` access token is.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let challenge =
        format!("Bearer realm=\"keyway\", error=\"{error}\", error_description=\"{description}\"");
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(super) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = crate::caller::bearer_token(&headers) else {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"keyway\""),
        );
        return response;
    };
    let claims = match state.auth.active_access_token(token).await {
        Ok(Some(claims)) => claims,
        Ok(None) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid, expired or revoked",
            );
        }
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    // UserInfo is the hub's own resource: the same audience rule as every hub API.
    if let Err(refusal) = crate::caller::check_audience(&state, &claims) {
        return refusal.into_response();
    }
    // A DPoP-bound token is honoured only with a proof by its key; UserInfo does not take
    // DPoP yet, so such a token is refused here rather than accepted as a bearer token.
    if claims.cnf.is_some() {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "this access token is bound to a DPoP key; UserInfo does not accept DPoP yet",
        );
    }
    if !claims.scope.split(' ').any(|s| s == "openid") || claims.username.is_none() {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the openid scope of a user is required",
        );
    }
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "sub": claims.sub, "preferred_username": claims.username })),
    )
        .into_response()
}
