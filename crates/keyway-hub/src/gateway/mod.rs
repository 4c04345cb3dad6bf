//! The platform gateway: `/gateway/{client}/{path…}` forwards a caller's request to the
//! target client's registered API URL + path + query, with a hub-minted token for the target
//! (`keyway_auth::gateway`). Bodies stream both ways (no buffering) under a size limit;
//! hop-by-hop headers and the caller's credentials and cookies stay behind; `Forwarded`
//! names the caller's address; redirects are not followed; upstream failures are RFC 9457
//! problems (502, 504). Every call is an edge caller → target on the activity map and an
//! entry in the audit log.

mod direct;
mod headers;
mod pace;
mod stamps;
mod upstream;

pub(crate) use direct::Direct;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use keyway_auth::{Decision, GatewayCaller, GatewayRefusal, Outcome};

use crate::AppState;
use crate::caller::{ApiError, Caller};

/// Where the gateway lives under the issuer (the g2d1 `global_url`).
pub const GATEWAY_PATH: &str = "/gateway";
/// The route label of every gateway call (metrics and the activity map: never request text).
const ROUTE_LABEL: &str = "/gateway/{client}/{path}";

/// Limits of the gateway (`[gateway]` in keyway.toml).
#[derive(Debug, Clone, Copy)]
pub struct GatewayOptions {
    /// Request and response bodies, each.
    pub max_body_bytes: u64,
    pub connect_timeout: Duration,
    /// Until the upstream's response head has arrived.
    pub response_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> GatewayOptions {
        GatewayOptions {
            max_body_bytes: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(30),
        }
    }
}

/// The gateway's HTTP client (one connection pool per upstream host) and limits.
#[derive(Clone)]
pub(crate) struct Gateway {
    upstream: upstream::UpstreamClient,
    /// `proto=…;host="…"` of `Forwarded`: the hub's own scheme and host (the issuer's),
    /// never the caller's Host header, whose quotes would be the caller's to close.
    forwarded_hub: Arc<str>,
}

impl Gateway {
    pub(crate) fn new(
        options: GatewayOptions,
        issuer: &str,
        private_ca: &[rustls::pki_types::CertificateDer<'static>],
        workers: usize,
    ) -> Result<Gateway, rustls::Error> {
        let forwarded_hub = match url::Url::parse(issuer) {
            Ok(url) => format!(
                "proto={};host=\"{}{}\"",
                url.scheme(),
                url.host_str().unwrap_or("hub"),
                url.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => "proto=http;host=\"hub\"".to_string(),
        };
        Ok(Gateway {
            upstream: upstream::UpstreamClient::new(options, private_ca, workers)?,
            forwarded_hub: forwarded_hub.into(),
        })
    }
}

/// The gateway's routes (also matched by [`Direct`], which serves most calls).
const ROUTE_CLIENT: &str = "/gateway/{client}";
const ROUTE_CLIENT_SLASH: &str = "/gateway/{client}/";
const ROUTE_PATH: &str = "/gateway/{client}/{*path}";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(ROUTE_CLIENT, any(forward))
        .route(ROUTE_CLIENT_SLASH, any(forward))
        .route(ROUTE_PATH, any(forward))
}

/// The target's URL: its API URL + the path after `/gateway/{client}` + the query, which
/// may not leave the API URL's path (`..`, also percent-encoded).
fn upstream_url(api_url: &str, rest: &str, query: Option<&str>) -> Result<Uri, ApiError> {
    confined(rest)?;
    let base = api_url.trim_end_matches('/');
    let mut text =
        String::with_capacity(base.len() + rest.len() + query.map_or(0, |q| q.len() + 1));
    text.push_str(base);
    text.push_str(rest);
    if let Some(query) = query {
        text.push('?');
        text.push_str(query);
    }
    let uri = Uri::try_from(text)
        .map_err(|e| ApiError::BadRequest(format!("the path does not make a URL: {e}")))?;
    // `rest` came from a request line hyper parsed and has no dot segments (`confined`), so
    // no parser moves the path out of the API URL's; checked all the same, as written.
    let prefix = base_path(base);
    let path = uri.path();
    let inside = prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|after| after.starts_with('/'));
    if !inside {
        return Err(ApiError::BadRequest(
            "the path leaves the target's API URL".into(),
        ));
    }
    Ok(uri)
}

/// The path of an absolute URL as written: what follows its authority.
fn base_path(base: &str) -> &str {
    base.split_once("://")
        .map(|(_, rest)| rest.find('/').map_or("", |at| &rest[at..]))
        .unwrap_or_default()
}

/// Refuses what an upstream might read as a way out of the API URL's path once it decodes:
/// backslashes, encoded slashes and backslashes, NUL, and `.` and `..` segments, slashes and
/// backslashes as the most lenient server decodes the path.
fn confined(rest: &str) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::BadRequest(format!(
            "the path leaves the target's API URL ({why})"
        )))
    };
    if rest.contains('\\') || contains_escape(rest, b"%5c") {
        return refuse("a backslash");
    }
    if contains_escape(rest, b"%2f") {
        return refuse("an encoded slash");
    }
    if contains_escape(rest, b"%00") {
        return refuse("a NUL escape");
    }
    // The path as the most lenient server reads it (`keyway_auth::lenient_reading`: decoded
    // again and again, `%uXXXX`, overlong UTF-8, full-width and look-alike characters).
    if keyway_auth::has_dot_segment(rest) {
        return refuse("a `.` or `..` segment, also as a lenient server decodes it");
    }
    if !rest.bytes().all(|b| b.is_ascii() && b != b'%') {
        let reading = keyway_auth::lenient_reading(rest);
        if reading.contains('\\') || reading.matches('/').count() > rest.matches('/').count() {
            return refuse("a slash or backslash that decoding reveals");
        }
    }
    Ok(())
}

/// Whether `text` holds the percent escape `escape` (lower case), in either case.
fn contains_escape(text: &str, escape: &[u8; 3]) -> bool {
    text.as_bytes()
        .windows(escape.len())
        .any(|window| window.eq_ignore_ascii_case(escape))
}

/// The raw client segment and the rest of the path (from its `/`), as the caller sent them.
fn split_path(path: &str) -> (&str, &str) {
    let after = path.strip_prefix("/gateway/").unwrap_or_default();
    match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    }
}

fn refusal(err: GatewayRefusal) -> ApiError {
    match err {
        GatewayRefusal::NoApiUrl(_) => ApiError::NotFound(err.to_string()),
        GatewayRefusal::AmbiguousTarget(..) => ApiError::Conflict(err.to_string()),
        GatewayRefusal::NotCallable(_) | GatewayRefusal::NoScope(_) => {
            ApiError::Forbidden(err.to_string())
        }
        GatewayRefusal::Internal(why) => ApiError::unavailable("gateway decision", &why),
    }
}

/// Any method on `/gateway/{client}/{path…}`.
async fn forward(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    request: Request,
) -> Response {
    let started = Instant::now();
    let ts_ms = state.auth.clock().now_ms();
    let method = request.method().clone();
    let (raw_target, rest) = split_path(request.uri().path());
    let target_name = percent_encoding::percent_decode_str(raw_target)
        .decode_utf8_lossy()
        .into_owned();
    let rest = rest.to_string();
    let query = request.uri().query().map(str::to_string);
    let (user_id, username, token) = match &caller {
        Caller::Bearer(claims) => (
            claims.username.as_ref().map(|_| claims.sub.clone()),
            claims.username.clone(),
            Some((claims.jti.clone(), claims.exp)),
        ),
        Caller::Toki { .. } => (None, None, None),
    };
    let decided = state
        .auth
        .gateway_ticket(
            GatewayCaller {
                client_id: caller.client_id(),
                user_id: user_id.as_deref(),
                username: username.as_deref(),
                scope: caller.scope_text(),
                token: token.as_ref().map(|(jti, exp)| (jti.as_str(), *exp)),
            },
            &target_name,
        )
        .await;
    let audit = |outcome: Outcome, target: Option<&str>, rule: Option<String>, reason: String| {
        let auth = state.auth.clone();
        let client = caller.client_id().to_string();
        let target = target.map(str::to_string);
        let user = user_id.clone();
        async move {
            auth.audit_decision(Decision {
                action: "gateway",
                client: &client,
                target: target.as_deref(),
                user_id: user.as_deref(),
                rule,
                outcome,
                reason,
            })
            .await;
        }
    };
    let ticket = match decided {
        Ok(ticket) => ticket,
        Err(err) => {
            let asked = truncated(&target_name, 200);
            audit(Outcome::Refused, Some(asked), None, err.to_string()).await;
            return caller.refusal(refusal(err)).into_response();
        }
    };
    let target_id = ticket.target.client_id.clone();
    let what = call_line(&method, &rest);
    // TRACE (and IIS's TRACK) would echo the minted token back to the caller; CONNECT is not
    // a request to an API. Methods are case-sensitive, but some servers read `trace` as TRACE.
    let echoes = ["TRACE", "TRACK", "CONNECT"]
        .iter()
        .any(|echo| method.as_str().eq_ignore_ascii_case(echo));
    let refused = if echoes {
        Some(ApiError::MethodNotAllowed {
            allow: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
            detail: format!("the gateway does not forward {method}"),
        })
    } else {
        confined(&rest).err()
    };
    if let Some(err) = refused {
        let reason = format!("{what}: {err}");
        audit(
            Outcome::Refused,
            Some(&target_id),
            Some(ticket.rule.clone()),
            reason,
        )
        .await;
        return caller.refusal(err).into_response();
    }
    let result = send(&state, peer, request, &ticket, &rest, query.as_deref()).await;
    let (response, status, reason) = match result {
        Ok(mut response) => {
            let status = response.status();
            // The target's own answer, passed on as it is (errors::plain_rejections).
            response.extensions_mut().insert(crate::errors::Relayed);
            let mut reason = what;
            reason.push_str(" -> ");
            reason.push_str(status.as_str());
            (response, status.as_u16(), reason)
        }
        Err(err) => {
            let status = err.status().as_u16();
            let reason = format!("{what} -> {status}: {err}");
            (err.into_response(), status, reason)
        }
    };
    audit(
        Outcome::Allowed,
        Some(&target_id),
        Some(ticket.rule.clone()),
        reason,
    )
    .await;
    state.activity.ingest(
        &[crate::CallEvent {
            ts_ms,
            caller: Some(caller.client_id().to_string()),
            callee: target_id,
            method: crate::metrics::method_label(&method).to_string(),
            route: ROUTE_LABEL.to_string(),
            status,
            latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            bytes_in: 0,
            bytes_out: 0,
            failure: None,
        }],
        0,
        ts_ms,
    );
    response
}

/// `METHOD path` as the audit log shows a call, with room for its outcome (written on every
/// call: no formatting machinery).
fn call_line(method: &axum::http::Method, rest: &str) -> String {
    let path = shown_path(rest);
    let mut line = String::with_capacity(method.as_str().len() + path.len() + 16);
    line.push_str(method.as_str());
    line.push(' ');
    line.push_str(&path);
    line
}

/// Characters of a path the audit log shows in full; a longer one shows its start and end.
const SHOWN_PATH: usize = 400;

/// `path` as the audit log shows it: whole up to [`SHOWN_PATH`] characters; past that, its
/// start and its end around its length and a digest of the whole, so that padding cannot
/// make two calls one entry or hide where one went (a target's log can be matched on the
/// digest).
fn shown_path(path: &str) -> std::borrow::Cow<'_, str> {
    let length = path.chars().count();
    if length <= SHOWN_PATH {
        return path.into();
    }
    let part = SHOWN_PATH / 2 - 20;
    let end_at = path
        .char_indices()
        .nth(length - part)
        .map_or(path.len(), |(at, _)| at);
    let digest = keyway_auth::sha256_hex(path);
    format!(
        "{}…[{length} characters, sha256 {}]…{}",
        truncated(path, part),
        digest.get(..16).unwrap_or_default(),
        &path[end_at..]
    )
    .into()
}

fn truncated(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Forwards the request and streams the answer back.
async fn send(
    state: &AppState,
    peer: SocketAddr,
    request: Request,
    ticket: &keyway_auth::GatewayTicket,
    rest: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let gateway = &state.gateway;
    let uri = upstream_url(&ticket.api_url, rest, query)?;
    let (mut parts, body) = request.into_parts();
    let client_ip = state.trusted_proxies.client_address(peer, &parts.headers);
    let waits_for_continue = parts.headers.contains_key(header::EXPECT);
    headers::drop_from_request(&mut parts.headers);
    let bearer = stamps::bearer(&ticket.token)
        .ok_or_else(|| ApiError::unavailable("gateway token", &"not a header value"))?;
    parts.headers.insert(header::AUTHORIZATION, bearer);
    if let Some(value) = stamps::forwarded(client_ip, &gateway.forwarded_hub) {
        parts.headers.insert(header::FORWARDED, value);
    }
    gateway
        .upstream
        .send(
            &ticket.target.client_id,
            parts.method,
            uri,
            parts.headers,
            body,
            waits_for_continue,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_api_url() {
        let ok = |rest: &str, query: Option<&str>| {
            upstream_url("https://b.example/api/", rest, query).map(|u| u.to_string())
        };
        assert_eq!(
            ok("/v1/x", Some("a=1&b=%20")).unwrap(),
            "https://b.example/api/v1/x?a=1&b=%20"
        );
        assert_eq!(ok("", None).unwrap(), "https://b.example/api");
        for bad in [
            "/../admin",
            "/v1/../../admin",
            "/%2e%2e/admin",
            "/..",
            "/v1/%2E%2E/%2e%2e/x",
            // What an upstream may decode into a way out (seen with python's http.server).
            "/..%2fadmin%2fsecret.txt",
            "/%2e%2e%2fadmin",
            "/..%5cadmin",
            "/%5c..%5cadmin",
            "/..;/admin",
            "/a\\b",
            "/%252e%252e/admin",
            "/%252fadmin",
            "/%25252e%25252e/admin",
            "/%c0%ae%c0%ae/admin",
            "/%C0%AF..",
            "/..%00/admin",
            "/%ef%bc%8e%ef%bc%8e/admin",
            "/\u{ff0e}\u{ff0e}/admin",
            "/..%ef%bc%bccapi",
            "/..%ef%b9%a8capi",
            "/%f0%80%80%ae%f0%80%80%ae/admin",
            "/%f8%80%80%80%ae%f8%80%80%80%ae/admin",
            "/%u002e%u002e/admin",
            "/..%20/admin",
            "/..%09/admin",
            "/..%0b/admin",
        ] {
            assert!(ok(bad, None).is_err(), "{bad}");
        }
        assert!(
            ok("/a;b=1/c.d/..e", None).is_ok(),
            "params and dotted names are fine"
        );
        assert_eq!(
            upstream_url("http://127.0.0.1:9", "/x", None)
                .unwrap()
                .to_string(),
            "http://127.0.0.1:9/x"
        );
    }

    #[test]
    fn long_paths_show_their_start_end_and_digest() {
        assert_eq!(shown_path("/v1/orders"), "/v1/orders");
        let padding = "/".repeat(500);
        let admin = shown_path(&format!("{padding}admin/delete-everything")).into_owned();
        let orders = shown_path(&format!("{padding}orders/list")).into_owned();
        assert_ne!(admin, orders, "padding made two calls one entry");
        assert!(admin.ends_with("admin/delete-everything"), "{admin}");
        assert!(admin.contains("[523 characters, sha256 "), "{admin}");
        assert!(admin.chars().count() < SHOWN_PATH + 60, "{admin}");
        // Padding at the end too: the digest still tells them apart.
        let both = |mid: &str| shown_path(&format!("{padding}{mid}{padding}")).into_owned();
        assert_ne!(both("admin"), both("orders"));
        // Multi-byte characters are cut on their boundaries.
        assert!(shown_path(&"é".repeat(1_000)).starts_with('é'));
    }

    #[test]
    fn the_target_is_the_first_segment() {
        assert_eq!(split_path("/gateway/app-b/v1/x"), ("app-b", "/v1/x"));
        assert_eq!(split_path("/gateway/app-b"), ("app-b", ""));
        assert_eq!(split_path("/gateway/app%20b/"), ("app%20b", "/"));
    }
}
