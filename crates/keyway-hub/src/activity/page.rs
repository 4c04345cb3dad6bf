//! `GET /activity`: the live page, for a signed-in hub user (others are sent to the hub's
//! sign-in page, `/login?next=/activity`). The HTML is server-rendered (the
//! failures table works without JavaScript); `app.js`, served from the hub itself so that the
//! CSP can stay `script-src 'self'` (no inline script, no CDN), draws the graph and keeps it
//! current from the server-sent events of `/activity/v1/stream`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::map::Failure;
use super::{NOT_ADMIN, STREAM, SessionAccess, session_access};
use crate::AppState;
use crate::pages::{html, see_other};

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage<'a> {
    stream: &'a str,
    script: &'a str,
    window_s: i64,
    failures: &'a [Failure],
    names: &'a BTreeMap<String, String>,
}

impl ActivityPage<'_> {
    /// A client's registered name, or its id.
    fn name<'b>(&'b self, id: &'b str) -> &'b str {
        self.names.get(id).map_or(id, String::as_str)
    }

    /// `2026-01-31 12:00:00.250` (UTC), as the script shows it. Reporters choose `ts_ms`, so
    /// it is first brought into the years 1970–9999.
    fn time(&self, ts_ms: &i64) -> String {
        let ts_ms = (*ts_ms).clamp(0, 253_402_300_799_999);
        let utc = keyway_kernel::rfc3339::format_unix_secs(ts_ms / 1000);
        format!(
            "{}.{:03}",
            utc.replacen('T', " ", 1).trim_end_matches('Z'),
            ts_ms % 1000
        )
    }
}

const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                   style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session_access(&state, &headers).await {
        Ok(SessionAccess::Admin) => {}
        Ok(SessionAccess::NotAdmin) => {
            return crate::pages::error_page(
                StatusCode::FORBIDDEN,
                &keyway_auth::OAuthError::new(keyway_auth::ErrorCode::AccessDenied, NOT_ADMIN),
            );
        }
        // The hub's sign-in page, and back here.
        Ok(SessionAccess::None) => return see_other(&crate::home::login_url(super::PAGE)),
        Err(err) => return err.into_response(),
    }
    let snapshot = state.activity.snapshot(state.auth.clock().now_ms());
    let page = ActivityPage {
        stream: STREAM,
        script: super::SCRIPT,
        window_s: snapshot.window_s,
        failures: &snapshot.failures,
        names: &snapshot.names,
    };
    let mut response = html(StatusCode::OK, &page);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

pub(super) async fn script() -> Response {
    crate::pages::script(include_str!("app.js"))
}
