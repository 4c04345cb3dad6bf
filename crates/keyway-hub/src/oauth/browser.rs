//! The browser side of the authorization code flow: `/authorize`, the login form and the
//! consent form.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyway_auth::{
    AuthorizationRequest, AuthorizeOutcome, ErrorCode, OAuthError, PendingAuthorization, Redirect,
    SecretString, SignIn, random_token,
};

use crate::AppState;
use crate::cookies;
use crate::errors::status_of;
use crate::form::parse_form;
use crate::pages::{consent_page, error_page, login_page};

/// The browser's CSRF binding cookie, made when missing. Returns (value, Set-Cookie to send).
fn browser_id(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookies::read(headers, cookies::BROWSER) {
        Some(id) => (id, None),
        None => {
            let id = random_token(state.auth.entropy(), 24);
            let cookie = cookies::set(
                cookies::BROWSER,
                &id,
                24 * 3600,
                state.auth.config().uses_https(),
            );
            (id, Some(cookie))
        }
    }
}

fn with_cookies(mut response: Response, set_cookies: &[Option<String>]) -> Response {
    for cookie in set_cookies.iter().flatten() {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn redirect(to: &Redirect, status: StatusCode) -> Response {
    match HeaderValue::from_str(&to.0) {
        Ok(location) => {
            let mut response = status.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request("the redirect URI cannot be used"),
        ),
    }
}

async fn username_of(state: &AppState, user_id: &str) -> String {
    match state.auth.store().user_by_id(user_id).await {
        Ok(Some(user)) => user.username,
        _ => String::new(),
    }
}

async fn show_consent(
    state: &AppState,
    pending: &PendingAuthorization,
    browser: &str,
    user_id: &str,
) -> Response {
    let csrf = state.auth.csrf_token(&pending.request_id, browser);
    let username = username_of(state, user_id).await;
    consent_page(pending, &csrf, &username)
}

async fn session_user(state: &AppState, headers: &HeaderMap) -> Option<keyway_auth::SessionUser> {
    let token = cookies::read(headers, cookies::SESSION)?;
    state.auth.session_user(&token).await.ok().flatten()
}

/// GET /oauth2/authorize (RFC 6749 §4.1.1).
pub(super) async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let session = session_user(&state, &headers).await;
    let user_id = session.as_ref().map(|s| s.user_id.clone());
    let (browser, set_browser) = browser_id(&state, &headers);
    let outcome = state
        .auth
        .authorize(&AuthorizationRequest::new(pairs), session)
        .await;
    let response = match outcome {
        Err(err) => error_page(status_of(err.code), &err),
        Ok(AuthorizeOutcome::Redirect(to)) => redirect(&to, StatusCode::FOUND),
        Ok(AuthorizeOutcome::Login(pending)) => {
            let csrf = state.auth.csrf_token(&pending.request_id, &browser);
            login_page(StatusCode::OK, &pending, &csrf, "", None)
        }
        Ok(AuthorizeOutcome::Consent(pending)) => {
            show_consent(
                &state,
                &pending,
                &browser,
                user_id.as_deref().unwrap_or_default(),
            )
            .await
        }
    };
    with_cookies(response, &[set_browser])
}

/// The page shown when a form's anti-CSRF token is missing or wrong.
fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        &OAuthError::new(
            ErrorCode::AccessDenied,
            "the form could not be verified (expired page or cross-site request); start again",
        ),
    )
}

/// Checks the anti-CSRF token of a posted form; returns (request_id, browser id) when good.
fn check_csrf(
    state: &AppState,
    headers: &HeaderMap,
    form: &keyway_auth::TokenRequest,
) -> Option<(String, String)> {
    let request_id = form.single("request_id").ok().flatten()?.to_string();
    let browser = cookies::read(headers, cookies::BROWSER)?;
    let csrf = form.single("csrf").ok().flatten().unwrap_or_default();
    state
        .auth
        .csrf_ok(&request_id, &browser, csrf)
        .then_some((request_id, browser))
}

/// POST /oauth2/login: fields `username` and `password`.
pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    let Some((request_id, browser)) = check_csrf(&state, &headers, &form) else {
        return csrf_refused();
    };
    let pending = match state.auth.pending(&request_id).await {
        Ok(pending) => pending,
        Err(err) => return error_page(status_of(err.code), &err),
    };
    let csrf = state.auth.csrf_token(&request_id, &browser);
    let username = form
        .single("username")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let password = form
        .single("password")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    if username.is_empty() || password.is_empty() {
        return login_page(
            StatusCode::BAD_REQUEST,
            &pending,
            &csrf,
            &username,
            Some("Enter your username and password."),
        );
    }
    let address = state
        .trusted_proxies
        .client_address(peer, &headers)
        .to_string();
    let outcome = state
        .auth
        .sign_in(&username, SecretString::new(password), &address)
        .await;
    let user = match outcome {
        Ok(SignIn::Accepted(user)) => user,
        Ok(SignIn::Refused) => {
            ::metrics::counter!("keyway_login_failures_total").increment(1);
            tracing::info!(%username, %address, "sign-in refused: wrong username or password");
            return login_page(
                StatusCode::UNAUTHORIZED,
                &pending,
                &csrf,
                &username,
                Some("Incorrect username or password."),
            );
        }
        Ok(SignIn::Throttled { wait_ms }) => {
            let seconds = (wait_ms + 999) / 1000;
            ::metrics::counter!("keyway_login_throttled_total").increment(1);
            tracing::warn!(%username, %address, wait_s = seconds, "sign-in throttled");
            let unit = if seconds == 1 { "second" } else { "seconds" };
            let message =
                format!("Too many failed sign-in attempts. Try again in {seconds} {unit}.");
            let mut page = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &pending,
                &csrf,
                &username,
                Some(&message),
            );
            // RFC 6585 §4: say when to retry.
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
                page.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            return page;
        }
        Err(err) => return error_page(status_of(err.code), &err),
    };
    let (session_token, outcome) = match state.auth.login(&request_id, &user).await {
        Ok(result) => result,
        Err(err) => return error_page(status_of(err.code), &err),
    };
    let session_cookie = cookies::set(
        cookies::SESSION,
        &session_token,
        state.auth.config().login_session_ttl,
        state.auth.config().uses_https(),
    );
    let response = match outcome {
        AuthorizeOutcome::Redirect(to) => redirect(&to, StatusCode::SEE_OTHER),
        AuthorizeOutcome::Consent(pending) | AuthorizeOutcome::Login(pending) => {
            show_consent(&state, &pending, &browser, &user.user_id).await
        }
    };
    with_cookies(response, &[Some(session_cookie)])
}

/// POST /oauth2/consent: `decision=allow` or `decision=deny`.
pub(super) async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, &err),
    };
    let Some((request_id, _)) = check_csrf(&state, &headers, &form) else {
        return csrf_refused();
    };
    let allow = match form.single("decision").ok().flatten() {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &OAuthError::invalid_request("decision must be allow or deny"),
            );
        }
    };
    let Some(session) = session_user(&state, &headers).await else {
        return error_page(
            StatusCode::UNAUTHORIZED,
            &OAuthError::new(
                ErrorCode::LoginRequired,
                "your sign-in expired; start again",
            ),
        );
    };
    match state
        .auth
        .decide(&request_id, &session.user_id, allow)
        .await
    {
        Ok(to) => redirect(&to, StatusCode::SEE_OTHER),
        Err(err) => error_page(status_of(err.code), &err),
    }
}
