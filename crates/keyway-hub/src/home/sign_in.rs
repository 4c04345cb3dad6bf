//! The hub's sign-in page for hub sessions (`/login`) and sign-out (`/logout`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyway_auth::TokenRequest;

use super::local_path::local_path;
use super::{HOME, LOGIN, LOGIN_FORM, LOGOUT_FORM};
use crate::AppState;
use crate::cookies;
use crate::errors::status_of;
use crate::form::parse_form;
use crate::pages::{SignInPage, error_page, html, html_scripted, see_other};
use crate::session::{
    self, browser_id, check_csrf, cleared_session_cookie, csrf_refused, session_cookie,
    session_user, username_of, with_cookies,
};
use crate::sign_in_steps::{SignInForm, SignInStep, passkey_button, sign_in_step};

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
    let passkey = passkey_button(
        state,
        LOGIN,
        LOGIN_FORM,
        vec![
            ("next".to_string(), next.to_string()),
            ("csrf".to_string(), csrf.clone()),
        ],
    );
    let page = SignInPage {
        action: LOGIN,
        issuer: &state.auth.config().issuer,
        next,
        csrf: &csrf,
        username,
        signed_in_as: signed_in_as.as_deref().filter(|name| !name.is_empty()),
        error,
        passkey,
    };
    if page.passkey.is_some() {
        html_scripted(status, &page)
    } else {
        html(status, &page)
    }
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
    // Who is expected (a transmit link made for them): the name is filled in. Bounded and
    // printable, as any username.
    let hint = query
        .single("login_hint")
        .ok()
        .flatten()
        .filter(|hint| hint.len() <= 128 && !hint.chars().any(char::is_control))
        .unwrap_or_default();
    let (browser, set_browser) = browser_id(&state, &headers);
    let page = form_page(
        &state,
        &headers,
        StatusCode::OK,
        &browser,
        &next,
        hint,
        None,
    )
    .await;
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
    let csrf = state.auth.csrf_token(LOGIN_FORM, &browser);
    let page = SignInForm {
        action: LOGIN,
        purpose: LOGIN_FORM,
        fields: vec![
            ("next".to_string(), next.clone()),
            ("csrf".to_string(), csrf.clone()),
        ],
    };
    let step = sign_in_step(&state, peer, &headers, &form, &page, &browser).await;
    let (user, how) = match step {
        Ok(SignInStep::Done(user, how)) => (user, how),
        Ok(SignInStep::SecondStep(page)) => return page,
        Ok(SignInStep::FirstStepRefused(refusal)) => {
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
    let started = state.auth.start_session_by(&user, how).await;
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

/// POST /logout (`csrf`, and `everywhere=1` for every session of the person): ends the
/// login session (removed from the store, the cookie cleared) and goes to the home page.
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
    let everywhere = form.single("everywhere").ok().flatten() == Some("1");
    if let Some(token) = cookies::read(&headers, cookies::SESSION, state.auth.config().uses_https())
    {
        let ended = if everywhere {
            state.auth.logout_everywhere(&token).await.map(|_| ())
        } else {
            state.auth.logout(&token).await
        };
        if let Err(err) = ended {
            return error_page(status_of(err.code), &err);
        }
    }
    let to = if everywhere {
        "/?signed-out=everywhere"
    } else {
        HOME
    };
    with_cookies(see_other(to), &[Some(cleared_session_cookie(&state))])
}
