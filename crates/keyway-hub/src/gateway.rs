//! The platform gateway: `/gateway/{client}/{path…}` forwards a caller's request to the
//! target client's registered API URL + path + query, with a hub-minted token for the target
//! (`keyway_auth::gateway`). Bodies stream both ways (no buffering) under a size limit;
//! hop-by-hop headers and the caller's credentials and cookies stay behind; `Forwarded`
//! names the caller's address; redirects are not followed; upstream failures are RFC 9457
//! problems (502, 504). Every call is an edge caller → target on the activity map and an
//! entry in the audit log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::{StreamExt, TryStreamExt};
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
    client: reqwest::Client,
    options: GatewayOptions,
    /// `proto=…;host="…"` of `Forwarded`: the hub's own scheme and host (the issuer's),
    /// never the caller's Host header, whose quotes would be the caller's to close.
    forwarded_hub: Arc<str>,
}

impl Gateway {
    pub(crate) fn new(options: GatewayOptions, issuer: &str) -> Result<Gateway, reqwest::Error> {
        let forwarded_hub = match url::Url::parse(issuer) {
            Ok(url) => format!(
                "proto={};host=\"{}{}\"",
                url.scheme(),
                url.host_str().unwrap_or("hub"),
                url.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => "proto=http;host=\"hub\"".to_string(),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(512)
            .no_proxy()
            .build()?;
        Ok(Gateway {
            client,
            options,
            forwarded_hub: forwarded_hub.into(),
        })
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/gateway/{client}", any(forward))
        .route("/gateway/{client}/", any(forward))
        .route("/gateway/{client}/{*path}", any(forward))
}

/// Headers that belong to one connection (RFC 9110 §7.6.1) or to the caller's credentials
/// and session at the hub: never forwarded.
const DROPPED: [&str; 25] = [
    // Forwarding information only the gateway may state.
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-real-ip",
    "true-client-ip",
    "x-original-url",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "dpop",
    "cookie",
    "oscartoki",
];

/// Copies `from` without hop-by-hop headers (and those `Connection` names).
fn end_to_end(from: &HeaderMap, also_dropped: &[&str]) -> HeaderMap {
    let named: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        let lower = name.as_str();
        if DROPPED.contains(&lower)
            || also_dropped.contains(&lower)
            || named.iter().any(|n| n == lower)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The target's URL: its API URL + the path after `/gateway/{client}` + the query, which
/// may not leave the API URL's path (`..`, also percent-encoded).
fn upstream_url(api_url: &str, rest: &str, query: Option<&str>) -> Result<url::Url, ApiError> {
    confined(rest)?;
    let base = api_url.trim_end_matches('/');
    let mut text = format!("{base}{rest}");
    if let Some(query) = query {
        text.push('?');
        text.push_str(query);
    }
    let url = url::Url::parse(&text)
        .map_err(|e| ApiError::BadRequest(format!("the path does not make a URL: {e}")))?;
    // The API URL's path as written (it was parsed at registration); parsed again only when
    // the request's path does not start with it as written (a spelling the parser changes).
    let written = base_path(base);
    let prefix = if url.path().starts_with(written) {
        written.trim_end_matches('/').to_string()
    } else {
        url::Url::parse(base)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    };
    let path = url.path();
    let inside = path == prefix
        || path.starts_with(&format!("{prefix}/"))
        || (prefix.is_empty() && path.starts_with('/'));
    if !inside || rest.contains("/../") || rest.ends_with("/..") {
        return Err(ApiError::BadRequest(
            "the path leaves the target's API URL (a `..` segment)".into(),
        ));
    }
    Ok(url)
}

/// The path of an absolute URL as written: what follows its authority.
fn base_path(base: &str) -> &str {
    base.split_once("://")
        .map(|(_, rest)| rest.find('/').map_or("", |at| &rest[at..]))
        .unwrap_or_default()
}

/// Refuses what an upstream might read as a way out of the API URL's path once it decodes:
/// encoded slashes and backslashes, backslashes, `.` and `..` segments (with `;parameters`),
/// and the same encoded twice.
fn confined(rest: &str) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::BadRequest(format!(
            "the path leaves the target's API URL ({why})"
        )))
    };
    let lower = rest.to_ascii_lowercase();
    if rest.contains('\\') || lower.contains("%5c") {
        return refuse("a backslash");
    }
    if lower.contains("%2f") {
        return refuse("an encoded slash");
    }
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
    let twice = decoded.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"].iter().any(|e| twice.contains(e)) {
        return refuse("an encoding encoded again");
    }
    let dot_segment = decoded.split('/').any(|segment| {
        let name = segment.split(';').next().unwrap_or_default();
        name == "." || name == ".."
    });
    if dot_segment {
        return refuse("a `..` segment");
    }
    Ok(())
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
        GatewayRefusal::UnknownTarget(_) | GatewayRefusal::NoApiUrl(_) => {
            ApiError::NotFound(err.to_string())
        }
        GatewayRefusal::NoRule(_) | GatewayRefusal::NoScope(_) => {
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
    let scope = caller.scopes().join(" ");
    let decided = state
        .auth
        .gateway_ticket(
            GatewayCaller {
                client_id: caller.client_id(),
                user_id: user_id.as_deref(),
                username: username.as_deref(),
                scope: &scope,
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
    let what = format!("{method} {}", truncated(&rest, 200));
    // TRACE would echo the minted token back to the caller; CONNECT is not a request to an API.
    let refused = if matches!(
        method,
        axum::http::Method::TRACE | axum::http::Method::CONNECT
    ) {
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
        Ok(response) => {
            let status = response.status().as_u16();
            (response, status, format!("{what} -> {status}"))
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
    let limit = gateway.options.max_body_bytes;
    let url = upstream_url(&ticket.api_url, rest, query)?;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(format!(
            "the gateway forwards bodies of at most {limit} bytes"
        )));
    }
    let mut headers = end_to_end(&parts.headers, &["x-rewrite-url"]);
    let bearer = HeaderValue::from_str(&format!("Bearer {}", ticket.token))
        .map_err(|_| ApiError::unavailable("gateway token", &"not a header value"))?;
    headers.insert(header::AUTHORIZATION, bearer);
    let client_ip = state.trusted_proxies.client_address(peer, &parts.headers);
    let hub = &gateway.forwarded_hub;
    let forwarded = match client_ip {
        std::net::IpAddr::V4(ip) => format!("for={ip};{hub}"),
        std::net::IpAddr::V6(ip) => format!("for=\"[{ip}]\";{hub}"),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(HeaderName::from_static("forwarded"), value);
    }
    // The request body streams through, cut off past the limit.
    let too_big = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let flag = too_big.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        let total = seen.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        if total > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other(
                "request body over the gateway's limit",
            ));
        }
        Ok(chunk)
    });
    let outgoing = gateway
        .client
        .request(parts.method.clone(), url.clone())
        .headers(headers)
        .body(reqwest::Body::wrap_stream(stream));
    let target = &ticket.target.client_id;
    let answer = match tokio::time::timeout(gateway.options.response_timeout, outgoing.send()).await
    {
        Err(_) => {
            return Err(ApiError::GatewayTimeout(format!(
                "client {target}'s API did not answer within {} s",
                gateway.options.response_timeout.as_secs()
            )));
        }
        Ok(Err(_)) if too_big.load(Ordering::Relaxed) => {
            return Err(ApiError::PayloadTooLarge(format!(
                "the gateway forwards bodies of at most {limit} bytes"
            )));
        }
        Ok(Err(err)) if err.is_timeout() => {
            return Err(ApiError::GatewayTimeout(format!(
                "client {target}'s API did not accept a connection within {} s",
                gateway.options.connect_timeout.as_secs()
            )));
        }
        Ok(Err(err)) => {
            let why = if err.is_connect() {
                "cannot connect to it"
            } else {
                "it did not answer with HTTP"
            };
            // The caller learns what happened, not where the target's API lives.
            tracing::warn!(%target, upstream = %url.origin().ascii_serialization(), %err, "gateway: {why}");
            return Err(ApiError::BadGateway(format!(
                "client {target}'s API: {why}"
            )));
        }
        Ok(Ok(answer)) => answer,
    };
    let status = answer.status();
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        return Err(ApiError::BadGateway(format!(
            "client {target}'s API answered {status} (a redirect); the gateway does not follow \
             redirects"
        )));
    }
    if answer.content_length().is_some_and(|len| len > limit) {
        return Err(ApiError::BadGateway(format!(
            "client {target}'s API answered more than the gateway's limit of {limit} bytes"
        )));
    }
    let headers = end_to_end(answer.headers(), &["set-cookie"]);
    let mut sent = 0u64;
    let body = answer
        .bytes_stream()
        .map_err(std::io::Error::other)
        .map(move |chunk| {
            let chunk = chunk?;
            sent += chunk.len() as u64;
            if sent > limit {
                return Err(std::io::Error::other(
                    "response body over the gateway's limit",
                ));
            }
            Ok(chunk)
        });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
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
    fn the_target_is_the_first_segment() {
        assert_eq!(split_path("/gateway/app-b/v1/x"), ("app-b", "/v1/x"));
        assert_eq!(split_path("/gateway/app-b"), ("app-b", ""));
        assert_eq!(split_path("/gateway/app%20b/"), ("app%20b", "/"));
    }

    #[test]
    fn hop_by_hop_credentials_and_named_headers_stay_behind() {
        let mut from = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("authorization", "Bearer caller"),
            ("cookie", "keyway_session=1"),
            ("accept", "application/json"),
            ("transfer-encoding", "chunked"),
        ] {
            from.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let out = end_to_end(&from, &[]);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept"]);
    }
}
