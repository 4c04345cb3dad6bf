//! Sign-in through an upstream OpenID Connect provider: the login page's buttons post to
//! `/login/upstream/start` (or `/authorize?type=<name>` goes there directly), the provider
//! sends the browser back to `/login/upstream/callback`. The pending sign-in lives sealed in
//! a cookie bound to this browser (keyway-auth `upstream`); handlers only translate.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyway_auth::{AuthorizeOutcome, OAuthError, UpstreamCallback};

use super::browser::{check_request_csrf, redirect, show_consent};
use crate::AppState;
use crate::cookies;
use crate::errors::status_of;
use crate::form::parse_form;
use crate::pages::error_page;
use crate::session::{self, csrf_refused, with_cookies};

pub(crate) const START: &str = "/login/upstream/start";
pub(crate) const CALLBACK: &str = keyway_auth::UPSTREAM_CALLBACK_PATH;

/// Sends the browser to `upstream` for the pending request, keeping the sealed pending
/// sign-in in its cookie. `set_browser` is the browser cookie when it was just made.
pub(super) async fn begin(
    state: &AppState,
    request_id: &str,
    upstream: &str,
    browser: &str,
    set_browser: Option<String>,
) -> Response {
    match state
        .auth
        .start_upstream_login(request_id, upstream, browser)
        .await
    {
        Ok(start) => {
            let secure = state.auth.config().uses_https();
            let cookie = cookies::set(cookies::UPSTREAM, &start.cookie, 600, secure);
            with_cookies(
                redirect(
                    &keyway_auth::Redirect::to(start.location),
                    StatusCode::FOUND,
                ),
                &[set_browser, Some(cookie)],
            )
        }
        Err(err) => with_cookies(error_page(status_of(err.code), &err), &[set_browser]),
    }
}

/// POST /login/upstream/start: fields `request_id`, `csrf`, `upstream`.
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    let Some((request_id, browser)) = check_request_csrf(&state, &headers, &form) else {
        return csrf_refused();
    };
    let Some(upstream) = form.single("upstream").ok().flatten() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request("upstream is missing"),
        );
    };
    begin(&state, &request_id, upstream, &browser, None).await
}

/// GET /login/upstream/callback?code=…&state=… (or error=…).
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut callback = UpstreamCallback::default();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match name.as_ref() {
            "state" => &mut callback.state,
            "code" => &mut callback.code,
            "error" => &mut callback.error,
            "error_description" => &mut callback.error_description,
            "iss" => &mut callback.iss,
            _ => continue,
        };
        // A parameter twice is not an answer the hub can trust either way.
        if slot.replace(value.into_owned()).is_some() {
            let err = OAuthError::invalid_request(format!("{name} appears twice"));
            return error_page(StatusCode::BAD_REQUEST, &err);
        }
    }
    let secure = state.auth.config().uses_https();
    let sealed = cookies::read_up_to(&headers, cookies::UPSTREAM, secure, cookies::UPSTREAM_MAX);
    let browser = cookies::read(&headers, cookies::BROWSER, secure);
    // The pending sign-in is over whatever happens next.
    let cleared = Some(cookies::clear(cookies::UPSTREAM, secure));
    let finished = state
        .auth
        .finish_upstream_login(sealed.as_deref(), browser.as_deref(), &callback)
        .await;
    let (session_token, outcome) = match finished {
        Ok(done) => done,
        Err(err) => {
            // The cause may quote the provider (error_description): control characters are
            // escaped, so nobody can write lines or terminal escapes into the log.
            tracing::info!(error = %err.to_string().escape_debug(), "upstream sign-in refused");
            return with_cookies(error_page(status_of(err.code), &err), &[cleared]);
        }
    };
    if let Err(err) = session::replace_previous_session(&state, &headers, &session_token).await {
        return with_cookies(error_page(status_of(err.code), &err), &[cleared]);
    }
    let session_cookie = Some(session::session_cookie(&state, &session_token));
    let response = match outcome {
        AuthorizeOutcome::Redirect(to) => redirect(&to, StatusCode::SEE_OTHER),
        AuthorizeOutcome::Consent(pending)
        | AuthorizeOutcome::Login(pending)
        | AuthorizeOutcome::Upstream { pending, .. } => {
            let user_id = match state.auth.session_user(&session_token).await {
                Ok(Some(user)) => user.user_id,
                _ => String::new(),
            };
            show_consent(
                &state,
                &pending,
                browser.as_deref().unwrap_or_default(),
                &user_id,
            )
            .await
        }
    };
    with_cookies(response, &[session_cookie, cleared])
}
