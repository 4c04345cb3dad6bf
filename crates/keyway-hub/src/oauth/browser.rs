//! The browser side of the authorization code flow: `/authorize`, the login form and the
//! consent form.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyway_auth::{
    AuthorizationRequest, AuthorizeOutcome, ErrorCode, OAuthError, PendingAuthorization, Redirect,
};

use crate::AppState;
use crate::errors::status_of;
use crate::form::parse_form;
use crate::pages::{consent_page, error_page, login_page};
use crate::session::{
    self, browser_id, check_csrf, csrf_refused, session_user, username_of, with_cookies,
};
use crate::sign_in_steps::{SignInForm, SignInStep, sign_in_step};

pub(super) fn redirect(to: &Redirect, status: StatusCode) -> Response {
    if let Some(fields) = &to.post {
        let origin = url::Url::parse(&to.location)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| to.location.clone());
        let origin = if origin == "null" {
            to.location.clone()
        } else {
            origin
        };
        return crate::pages::html(
            StatusCode::OK,
            &crate::pages::FormPostPage {
                action: &to.location,
                origin: &origin,
                fields,
            },
        );
    }
    match HeaderValue::from_str(&to.location) {
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

pub(super) async fn show_consent(
    state: &AppState,
    pending: &PendingAuthorization,
    browser: &str,
    user_id: &str,
) -> Response {
    let csrf = state.auth.csrf_token(&pending.request_id, browser);
    let username = username_of(state, user_id).await;
    consent_page(pending, &csrf, &username)
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
            login_page(&state, StatusCode::OK, &pending, &csrf, "", None)
        }
        // `type=<upstream>`: straight to the provider (its own cookies go with the redirect).
        Ok(AuthorizeOutcome::Upstream { pending, upstream }) => {
            return super::upstream::begin(
                &state,
                &pending.request_id,
                &upstream,
                &browser,
                set_browser,
            )
            .await;
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

/// Checks the anti-CSRF token of a posted form of a pending request (bound to its
/// `request_id`); returns (request_id, browser id) when good.
pub(super) fn check_request_csrf(
    state: &AppState,
    headers: &HeaderMap,
    form: &keyway_auth::TokenRequest,
) -> Option<(String, String)> {
    let request_id = form.single("request_id").ok().flatten()?.to_string();
    let browser = check_csrf(state, headers, form, &request_id)?;
    Some((request_id, browser))
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
    let Some((request_id, browser)) = check_request_csrf(&state, &headers, &form) else {
        return csrf_refused();
    };
    let pending = match state.auth.pending(&request_id).await {
        Ok(pending) => pending,
        Err(err) => return error_page(status_of(err.code), &err),
    };
    let csrf = state.auth.csrf_token(&request_id, &browser);
    // The password is not even checked for a request that may not use it.
    if !pending.allows_password() {
        return error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request(
                "this request may not sign in with a password; use the login page's other ways",
            ),
        );
    }
    let page = SignInForm {
        action: super::LOGIN,
        purpose: &request_id,
        fields: vec![
            ("request_id".to_string(), request_id.clone()),
            ("csrf".to_string(), csrf.clone()),
        ],
    };
    let step = sign_in_step(&state, peer, &headers, &form, &page, &browser).await;
    let (user, how) = match step {
        Ok(SignInStep::Done(user, how)) => (user, how),
        Ok(SignInStep::SecondStep(page)) => return page,
        Ok(SignInStep::FirstStepRefused(refusal)) => {
            let username = form.single("username").ok().flatten().unwrap_or_default();
            let page = login_page(
                &state,
                refusal.status,
                &pending,
                &csrf,
                username,
                Some(&refusal.message),
            );
            return refusal.mark(page);
        }
        Err(err) => return error_page(status_of(err.code), &err),
    };
    let signed_in = state.auth.login_by(&request_id, &user, how).await;
    let (session_token, outcome) = match signed_in {
        Ok(result) => result,
        Err(err) => return error_page(status_of(err.code), &err),
    };
    if let Err(err) = session::replace_previous_session(&state, &headers, &session_token).await {
        return error_page(status_of(err.code), &err);
    }
    let session_cookie = session::session_cookie(&state, &session_token);
    let response = match outcome {
        AuthorizeOutcome::Redirect(to) => redirect(&to, StatusCode::SEE_OTHER),
        AuthorizeOutcome::Consent(pending)
        | AuthorizeOutcome::Login(pending)
        | AuthorizeOutcome::Upstream { pending, .. } => {
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
    let Some((request_id, _)) = check_request_csrf(&state, &headers, &form) else {
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
