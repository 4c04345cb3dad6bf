//! The gateway's own way in. A gateway call (with a bearer or DPoP token, or none: answered
//! 401 as the router would) is served here rather than through the hub's router, whose generic layers (each a boxed service cloned for every
//! request) cost more than the gateway's own checks: in bench/gateway's profile the router
//! and its layers were a tenth of the hub's CPU per call. What those layers do for a gateway
//! call is done here as well: a panic is a 500 problem, the request body must keep arriving
//! (`body_deadline.rs`), the call is counted in the metrics under its route template, an https
//! hub sends HSTS, and the answer to a HEAD request has no body (hyper leaves it out over
//! HTTP/1.1, not over HTTP/2). Everything else takes the router: calls with toki (its layer verifies them),
//! and every call while a server database does not answer (the router fails them fast).

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;

use super::{ROUTE_CLIENT, ROUTE_CLIENT_SLASH, ROUTE_PATH};
use crate::AppState;
use crate::caller::Caller;

/// Serves gateway calls without the router.
pub(crate) struct Direct {
    state: AppState,
    hsts: bool,
    /// A server database: while it does not answer, calls take the router (which fails them).
    watch_store: bool,
}

impl Direct {
    pub(crate) fn new(state: AppState) -> Direct {
        Direct {
            hsts: crate::tls::sends_hsts(&state.auth.config().issuer),
            watch_store: state.auth.store().backend() != keyway_store::Backend::Sqlite,
            state,
        }
    }

    /// Whether this request is a gateway call to serve here.
    pub(crate) fn takes<B>(&self, request: &axum::http::Request<B>) -> bool {
        route_of(request.uri().path()).is_some()
            && !request.headers().contains_key(keyway_toki::HEADER_NAME)
            && (!self.watch_store || self.state.store_watch.reachable())
    }

    /// Serves a request [`Direct::takes`].
    pub(crate) async fn serve(&self, peer: SocketAddr, request: Request) -> Response {
        let route = route_of(request.uri().path()).unwrap_or(ROUTE_PATH);
        let method = crate::metrics::method_label(request.method());
        let head = request.method() == axum::http::Method::HEAD;
        let started = Instant::now();
        let request = crate::body_deadline::with_deadline(request).await;
        let answer = AssertUnwindSafe(call(self.state.clone(), peer, request))
            .catch_unwind()
            .await;
        let mut response = answer.unwrap_or_else(crate::errors::panic_response);
        crate::metrics::record(route, method, response.status().as_u16(), started);
        if head {
            *response.body_mut() = axum::body::Body::empty();
        }
        if self.hsts {
            response.headers_mut().insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(crate::tls::HSTS),
            );
        }
        response
    }
}

/// The caller, then the gateway's handler, as the router would call them.
async fn call(state: AppState, peer: SocketAddr, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let request = Request::from_parts(parts, body);
    super::forward(State(state), ConnectInfo(peer), caller, request).await
}

/// The route template the router would match `path` with, if it is a gateway call (an
/// empty client segment followed by `/` matches too: the handler answers it 404).
fn route_of(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/gateway/")?;
    match rest.split_once('/') {
        None if rest.is_empty() => None,
        None => Some(ROUTE_CLIENT),
        Some((_, "")) => Some(ROUTE_CLIENT_SLASH),
        Some(_) => Some(ROUTE_PATH),
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::MatchedPath;
    use tower::ServiceExt;

    use super::*;

    /// The router's matching and [`route_of`] agree on every shape of path.
    #[tokio::test]
    async fn direct_calls_are_the_ones_the_gateway_routes_match() {
        let echo = |matched: MatchedPath| async move { matched.as_str().to_string() };
        let router = axum::Router::new()
            .route(ROUTE_CLIENT, axum::routing::any(echo))
            .route(ROUTE_CLIENT_SLASH, axum::routing::any(echo))
            .route(ROUTE_PATH, axum::routing::any(echo));
        for path in [
            "/gateway/b",
            "/gateway/b/",
            "/gateway/b/x",
            "/gateway/b/x/y/",
            "/gateway/b//x",
            "/gateway/b%2Fc/x",
            "/gateway/a%20b",
            "/gateway/",
            "/gateway//x",
            "/gateway//",
            "/gateway///",
            "/gateway",
            "/gatewayx/b",
            "/api/b",
        ] {
            let request = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let answer = router.clone().oneshot(request).await.unwrap();
            let matched = if answer.status() == 200 {
                let body = axum::body::to_bytes(answer.into_body(), 1024)
                    .await
                    .unwrap();
                Some(String::from_utf8(body.to_vec()).unwrap())
            } else {
                None
            };
            assert_eq!(route_of(path).map(str::to_string), matched, "{path}");
        }
    }
}
