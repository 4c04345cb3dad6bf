//! The hub's sign-in page for hub sessions (`/login`) and sign-out (`/logout`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyway_auth::{SecondFactor, TokenRequest};

use super::local_path::local_path;
use super::{HOME, LOGIN, LOGIN_FORM, LOGOUT_FORM};
use crate::AppState;
use crate::cookies;
use crate::errors::status_of;
use crate::form::parse_form;
use crate::pages::{SignInPage, error_page, html, see_other};
use crate::session::{
    self, browser_id, check_csrf, cleared_session_cookie, csrf_refused, session_cookie,
    session_user, username_of, with_cookies,
};

/// The sign-in form, with the user already signed in (if any) and an error (if any).
async fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    browser: &str,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let signed_in_as = match session_user(state, headers).await {
        Some(session) => Some(username_of(state, &session.user_id).await),
        None => None,
    };
    let csrf = state.auth.csrf_token(LOGIN_FORM, browser);
    html(
        status,
        &SignInPage {
            action: LOGIN,
            issuer: &state.auth.config().issuer,
            next,
            csrf: &csrf,
            username,
            signed_in_as: signed_in_as.as_deref().filter(|name| !name.is_empty()),
            error,
        },
    )
}

/// The `next` field of a query or form, as a local path.
fn next_of(form: &TokenRequest) -> String {
    local_path(form.single("next").ok().flatten().unwrap_or(HOME)).to_string()
}

/// GET /login?next=/activity
pub(super) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = TokenRequest::new(
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let next = next_of(&query);
    let (browser, set_browser) = browser_id(&state, &headers);
    let page = form_page(&state, &headers, StatusCode::OK, &browser, &next, "", None).await;
    with_cookies(page, &[set_browser])
}

/// POST /login: `username`, `password`, `next`, `csrf`. On success the browser gets a login
/// session (the cookie the OAuth sign-in sets) and goes on to `next`.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    let Some(browser) = check_csrf(&state, &headers, &form, LOGIN_FORM) else {
        return csrf_refused();
    };
    let next = next_of(&form);
    // The second step (a TOTP or recovery code) carries the first step's ticket.
    let csrf = state.auth.csrf_token(LOGIN_FORM, &browser);
    let second_step_fields = |ticket: &str| {
        vec![
            ("next".to_string(), next.clone()),
            ("csrf".to_string(), csrf.clone()),
            ("ticket".to_string(), ticket.to_string()),
        ]
    };
    let (user, with_second_factor) = match form.single("ticket").ok().flatten() {
        Some(ticket) => {
            match session::second_factor(&state, peer, &headers, &form, LOGIN_FORM, &browser).await
            {
                Ok(SecondFactor::Accepted(user)) => (user, true),
                Ok(SecondFactor::Expired) => {
                    let message = "That took too long, or the page is stale: sign in again.";
                    return form_page(
                        &state,
                        &headers,
                        StatusCode::UNAUTHORIZED,
                        &browser,
                        &next,
                        "",
                        Some(message),
                    )
                    .await;
                }
                Ok(refused) => {
                    let (status, message, retry) = session::second_factor_refusal(&refused);
                    return session::second_factor_page(
                        status,
                        LOGIN,
                        &second_step_fields(ticket),
                        Some(&message),
                        retry,
                    );
                }
                Err(err) => return error_page(status_of(err.code), &err),
            }
        }
        None => {
            let user = match session::sign_in(&state, peer, &headers, &form).await {
                Ok(Ok(user)) => user,
                Ok(Err(refusal)) => {
                    let username = form.single("username").ok().flatten().unwrap_or_default();
                    let page = form_page(
                        &state,
                        &headers,
                        refusal.status,
                        &browser,
                        &next,
                        username,
                        Some(&refusal.message),
                    )
                    .await;
                    return refusal.mark(page);
                }
                Err(err) => return error_page(status_of(err.code), &err),
            };
            match state.auth.needs_second_factor(&user.user_id).await {
                Ok(false) => (user, false),
                Ok(true) => {
                    return match state
                        .auth
                        .second_factor_ticket(&user, LOGIN_FORM, &browser)
                        .await
                    {
                        Ok(ticket) => session::second_factor_page(
                            StatusCode::OK,
                            LOGIN,
                            &second_step_fields(&ticket),
                            None,
                            None,
                        ),
                        Err(err) => error_page(status_of(err.code), &err),
                    };
                }
                Err(err) => return error_page(status_of(err.code), &err),
            }
        }
    };
    let started = if with_second_factor {
        state.auth.start_session_with_second_factor(&user).await
    } else {
        state.auth.start_session(&user).await
    };
    let token = match started {
        Ok(token) => token,
        Err(err) => return error_page(status_of(err.code), &err),
    };
    // One browser, one session: the one it had is taken over or ended.
    if let Err(err) = session::replace_previous_session(&state, &headers, &token).await {
        return error_page(status_of(err.code), &err);
    }
    tracing::info!(username = %user.username, "signed in at the hub");
    with_cookies(see_other(&next), &[Some(session_cookie(&state, &token))])
}

/// POST /logout (`csrf`): ends the login session (removed from the store, the cookie
/// cleared) and goes to the home page.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    if check_csrf(&state, &headers, &form, LOGOUT_FORM).is_none() {
        return csrf_refused();
    }
    if let Some(token) = cookies::read(&headers, cookies::SESSION, state.auth.config().uses_https())
        && let Err(err) = state.auth.logout(&token).await
    {
        return error_page(status_of(err.code), &err);
    }
    with_cookies(see_other(HOME), &[Some(cleared_session_cookie(&state))])
}
