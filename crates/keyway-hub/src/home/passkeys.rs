//! Passkeys at the hub:
//! - `POST /passkeys/options` (`purpose`, `csrf`, and `ticket` after a password): the options
//!   of a new ceremony, as JSON, for `/passkeys.js`: a registration for `hub:passkeys` (the
//!   account page, with a sign-in of the last 5 minutes), the passkey step after a password
//!   (with a ticket), or a passwordless sign-in on the form `purpose`.
//! - `GET|POST /account/passkeys`: a signed-in person lists, adds (`action=add`) and removes
//!   (`action=remove`, `id`) their passkeys.
//! - `GET /passkeys.js`: the script the passkey buttons run.
//!
//! Answers to sign-in ceremonies go to the sign-in forms themselves (`sign_in_steps.rs`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyway_auth::{ErrorCode, OAuthError, SessionUser};

use super::{ACCOUNT_PASSKEYS, PASSKEYS_FORM, login_url};
use crate::AppState;
use crate::errors::{OAuthJsonError, no_store, status_of};
use crate::form::parse_form;
use crate::pages::{AccountPasskeysPage, error_page, html_scripted, see_other};
use crate::session::{
    browser_id, check_csrf, cleared_session_cookie, recent_session, username_of, with_cookies,
};
use crate::sign_in_steps::PASSKEY_OPTIONS;

/// POST /passkeys/options.
pub(super) async fn options(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthJsonError> {
    let form = parse_form(&headers, &body)?;
    let purpose = form.single("purpose")?.unwrap_or_default().to_string();
    let Some(browser) = check_csrf(&state, &headers, &form, &purpose) else {
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the page could not be verified (expired, or from another browser): reload it",
        )
        .into());
    };
    let options = if purpose == PASSKEYS_FORM {
        let Some(session) = recent_session(&state, &headers).await else {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "adding a passkey needs a sign-in within the last 5 minutes: sign in again",
            )
            .into());
        };
        state
            .auth
            .begin_passkey_registration(&session.user_id, &browser)
            .await?
    } else if let Some(ticket) = form.single("ticket")? {
        state
            .auth
            .begin_passkey_second_factor(ticket, &purpose, &browser)
            .await?
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::LoginRequired,
                    "that took too long, or the page is stale: sign in again",
                )
            })?
    } else {
        state.auth.begin_passkey_sign_in(&purpose, &browser)?
    };
    let mut response = (no_store(), Json(options)).into_response();
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// GET /passkeys.js.
pub(super) async fn script() -> Response {
    crate::pages::script(include_str!("passkeys.js"))
}

/// The account page, with a notice or an error.
async fn page(
    state: &AppState,
    session: &SessionUser,
    browser: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let passkeys = match state.auth.passkeys_of_user(&session.user_id).await {
        Ok(passkeys) => passkeys,
        Err(err) => return error_page(status_of(err.code), &err),
    };
    let username = username_of(state, &session.user_id).await;
    let csrf = state.auth.csrf_token(PASSKEYS_FORM, browser);
    let sign_in = login_url(ACCOUNT_PASSKEYS);
    html_scripted(
        status,
        &AccountPasskeysPage {
            username: &username,
            action: ACCOUNT_PASSKEYS,
            options: PASSKEY_OPTIONS,
            purpose: PASSKEYS_FORM,
            csrf: &csrf,
            passkeys: &passkeys,
            unavailable: state.auth.passkeys_unavailable(),
            notice,
            error,
            signed_out: false,
            sign_in: &sign_in,
        },
    )
}

/// GET /account/passkeys.
pub(super) async fn show(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(session) = recent_session(&state, &headers).await else {
        return see_other(&login_url(ACCOUNT_PASSKEYS));
    };
    let (browser, set_browser) = browser_id(&state, &headers);
    let response = page(&state, &session, &browser, StatusCode::OK, None, None).await;
    with_cookies(response, &[set_browser])
}

/// POST /account/passkeys: `action=add` (`passkey_ceremony`, `passkey_response`, `name`) or
/// `action=remove` (`id`), with `csrf`.
pub(super) async fn change(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, browser, session) =
        match super::account_post(&state, &headers, &body, PASSKEYS_FORM, ACCOUNT_PASSKEYS).await {
            Ok(post) => post,
            Err(answer) => return answer,
        };
    let field = |name: &str| form.single(name).ok().flatten().unwrap_or_default();
    let username = username_of(&state, &session.user_id).await;
    let sign_in = login_url(ACCOUNT_PASSKEYS);
    let signed_out = |message: &str| {
        // Every session of the person ended, this one too: say so, and drop the cookie.
        let page = html_scripted(
            StatusCode::OK,
            &AccountPasskeysPage {
                username: &username,
                action: ACCOUNT_PASSKEYS,
                options: PASSKEY_OPTIONS,
                purpose: PASSKEYS_FORM,
                csrf: "",
                passkeys: &[],
                unavailable: None,
                notice: Some(message),
                error: None,
                signed_out: true,
                sign_in: &sign_in,
            },
        );
        with_cookies(page, &[Some(cleared_session_cookie(&state))])
    };
    match field("action") {
        "add" => match state
            .auth
            .finish_passkey_registration(
                &session.user_id,
                &browser,
                field("passkey_ceremony"),
                field("passkey_response"),
                field("name"),
            )
            .await
        {
            Ok(Ok(added)) => {
                tracing::info!(user_id = %session.user_id, passkey = %added.name, "passkey added");
                // The account's first second factor ends its sessions (keyway-auth).
                if crate::session::session_user(&state, &headers)
                    .await
                    .is_some()
                {
                    let notice = format!("Passkey \u{201c}{}\u{201d} added.", added.name);
                    page(
                        &state,
                        &session,
                        &browser,
                        StatusCode::OK,
                        Some(&notice),
                        None,
                    )
                    .await
                } else {
                    signed_out(&format!(
                        "Passkey \u{201c}{}\u{201d} added. You are signed out everywhere: sign \
                         in again with it (or your password and it).",
                        added.name
                    ))
                }
            }
            Ok(Err(why)) => {
                let message = format!("The passkey was not added: {why}.");
                page(
                    &state,
                    &session,
                    &browser,
                    StatusCode::BAD_REQUEST,
                    None,
                    Some(&message),
                )
                .await
            }
            Err(err) => error_page(status_of(err.code), &err),
        },
        "remove" => match state
            .auth
            .remove_own_passkey(&session.user_id, field("id"))
            .await
        {
            Ok(Some(removed)) => {
                tracing::info!(user_id = %session.user_id, passkey = %removed.name, "passkey removed");
                signed_out(&format!(
                    "Passkey \u{201c}{}\u{201d} removed. You are signed out everywhere: sign in \
                     again.",
                    removed.name
                ))
            }
            Ok(None) => {
                page(
                    &state,
                    &session,
                    &browser,
                    StatusCode::NOT_FOUND,
                    None,
                    Some("You have no such passkey (removed already?)."),
                )
                .await
            }
            Err(err) => error_page(status_of(err.code), &err),
        },
        _ => error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request("action must be add or remove"),
        ),
    }
}
