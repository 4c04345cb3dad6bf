//! The pushed authorization request endpoint (RFC 9126 §2): client authentication as at the
//! token endpoint, the request checked by the rules of `/authorize`, `201` with a
//! `request_uri` that is good once, for this client, for `expires_in` seconds.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::errors::{OAuthJsonError, no_store};

pub(super) async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<_, OAuthJsonError> = async {
        let (client, form) =
            super::endpoints::authenticated_form(&state, &headers, &body, super::PAR).await?;
        // RFC 9449 §10.1: a DPoP proof with the push binds the code to its key.
        let dpop = crate::dpop::endpoint_proof(&state, &headers, super::PAR).await?;
        let pushed = state
            .auth
            .push_authorization_request_bound(&client, &form, dpop.as_ref().map(|p| &p.key))
            .await?;
        if let Some(proof) = &dpop {
            state.auth.record_dpop_proof(proof).await?;
        }
        Ok(pushed)
    }
    .await;
    let mut response = match result {
        Ok(pushed) => {
            ::metrics::counter!("keyway_pushed_requests_total").increment(1);
            (StatusCode::CREATED, no_store(), axum::Json(pushed)).into_response()
        }
        Err(err) => err.into_response(),
    };
    crate::dpop::offer_nonce(&state, &mut response);
    response
}
