//! Handing a signed-in user from one client to another: `POST /oauth2/transmit` (client A,
//! back channel) and `GET /oauth2/transmit/{state}` (the browser). The rules live in
//! `keyway_auth::transmit`; these handlers translate.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyway_auth::{AuthorizeOutcome, ErrorCode, OAuthError, TransmitOpened};

use super::browser::{redirect, show_consent};
use super::endpoints::authenticated_form;
use crate::AppState;
use crate::errors::{OAuthJsonError, no_store, status_of};
use crate::pages::{error_page, see_other};
use crate::session::{browser_id, session_user, with_cookies};

pub(super) const TRANSMIT: &str = keyway_auth::TRANSMIT_PATH;
pub(super) const TRANSMIT_LINK: &str = "/oauth2/transmit/{state}";

/// POST /oauth2/transmit: client authentication as at the token endpoint, `to`,
/// `subject_token`, optional `scope`, `transmit_fun`, `transmit_data`.
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<_, OAuthJsonError> = async {
        let (client, form) = authenticated_form(&state, &headers, &body, TRANSMIT).await?;
        // A DPoP-bound subject token is presented with a proof by its key.
        let dpop = crate::dpop::endpoint_proof(&state, &headers, TRANSMIT).await?;
        let link = state
            .auth
            .transmit(&client, &form, dpop.as_ref().map(|p| &p.key))
            .await?;
        if let Some(proof) = &dpop {
            state.auth.record_dpop_proof(proof).await?;
        }
        Ok(link)
    }
    .await;
    match result {
        Ok(link) => (StatusCode::OK, no_store(), axum::Json(link)).into_response(),
        Err(err) => err.into_response(),
    }
}

/// GET /oauth2/transmit/{state}: the browser arrives from client A.
pub(super) async fn open(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(link): Path<String>,
) -> Response {
    let session = session_user(&state, &headers).await;
    let user_id = session.as_ref().map(|s| s.user_id.clone());
    let (browser, set_browser) = browser_id(&state, &headers);
    let response = match state.auth.open_transmit(&link, session).await {
        // The wrong person, or a rule taken away: forbidden, not malformed.
        Err(err) if err.code == ErrorCode::AccessDenied => error_page(StatusCode::FORBIDDEN, &err),
        Err(err) => error_page(status_of(err.code), &err),
        // Sign in as the user handed over, then come back to the same link.
        Ok(TransmitOpened::SignIn { username }) => {
            let next = format!("{TRANSMIT}/{link}");
            let mut to = crate::home::login_url(&next);
            to.push_str("&login_hint=");
            to.extend(url::form_urlencoded::byte_serialize(username.as_bytes()));
            see_other(&to)
        }
        Ok(TransmitOpened::Next(AuthorizeOutcome::Redirect(to))) => {
            redirect(&to, StatusCode::FOUND)
        }
        Ok(TransmitOpened::Next(AuthorizeOutcome::Consent(pending))) => {
            show_consent(
                &state,
                &pending,
                &browser,
                user_id.as_deref().unwrap_or_default(),
            )
            .await
        }
        Ok(TransmitOpened::Next(_)) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &OAuthError::server_error("unexpected step of a transmit"),
        ),
    };
    with_cookies(response, &[set_browser])
}
