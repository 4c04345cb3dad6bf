//! OpenID Connect UserInfo: who the holder of an `openid` access token of a user is. The token
//! comes through the `Caller` extractor, so UserInfo follows every rule of the hub's APIs:
//! audience, revocation, and DPoP (a bound token only with a proof by its key).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api_error::ApiError;
use crate::caller::Caller;

pub(super) async fn userinfo(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require("openid")?;
    let username = match &caller {
        Caller::Bearer(claims) => claims
            .username
            .clone()
            .map(|name| (claims.sub.clone(), name)),
        Caller::Toki { .. } => None,
    };
    let Some((sub, username)) = username else {
        return Err(ApiError::InsufficientScope {
            scheme: caller.scheme(),
            scopes: vec!["openid (a user's token)".into()],
        });
    };
    let scope = caller.scopes().join(" ");
    let mut claims = state.auth.userinfo_claims(&sub, &scope).await?;
    claims.insert("sub".into(), json!(sub));
    claims.insert("preferred_username".into(), json!(username));
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::Value::Object(claims)),
    )
        .into_response())
}
