//! oscartoki over HTTP (docs/toki.md, "HTTP binding"): [`TokiLayer`], a tower layer for axum
//! servers, and [`TokiClient`], a `reqwest` wrapper for callers.
//!
//! The layer answers hellos at [`HELLO_PATH`], verifies the `oscartoki` header of every other
//! request against its method, `Host`, path and query and the digest of its body, hands the
//! authenticated [`VerifiedRequest`](keyway_toki::VerifiedRequest) to handlers as a request
//! extension, and signs every response (status and body digest). Refusals are `401` with
//! `WWW-Authenticate: Toki error="…"`, `403` from the [`TokiLayerBuilder::authorize`] hook,
//! `413` for bodies over the limit.
//!
//! The client opens a session on first use and after expiry, signs each request and returns
//! only answers whose toki verifies.
//!
//! With the hub (docs/toki.md, "Identities at the hub" and "Activity map"): [`HubPeerKeys`]
//! fetches and caches callers' registered toki keys and scopes (give it to the builder both as
//! the peers table and as [`TokiLayerBuilder::resolver`]); [`spawn_reporter`] sends the call
//! events that [`TokiLayerBuilder::activity`] records (a `try_send`, never waiting) to the hub
//! in batches; [`remember_route`] lets events carry route templates instead of paths.
//!
//! ```
//! use axum::{Extension, Router, routing::post};
//! use keyway_toki::*;
//! use keyway_toki_http::{TokiClient, TokiLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let entropy = SystemEntropy::default();
//! let (orders, ledger) = (ServiceId::new("orders")?, ServiceId::new("ledger")?);
//! let orders_key = TokiKeyPair::generate(&entropy)?;
//! let ledger_key = TokiKeyPair::generate(&entropy)?;
//! let ledger_public = ledger_key.public_key();
//!
//! // The callee: the layer knows the callers' registered toki keys.
//! let mut peers = StaticPeerKeys::new();
//! peers.insert(orders.clone(), orders_key.public_key());
//! let toki = TokiLayer::builder(ledger.clone(), ledger_key, peers)
//!     .authorize(|caller, _method, path| caller.as_str() == "orders" && path.starts_with("/v1/"))
//!     .build();
//! let app = Router::new()
//!     .route(
//!         "/v1/entries",
//!         post(|Extension(call): Extension<VerifiedRequest>, body: String| async move {
//!             format!("{} posted {body}", call.caller)
//!         }),
//!     )
//!     .layer(toki);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let base = format!("http://{}", listener.local_addr()?);
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! // The caller. (reqwest's TLS needs rustls' process-wide provider: aws-lc-rs here.)
//! let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
//! let client = TokiClient::builder(reqwest::Client::new(), orders, orders_key, ledger, ledger_public)
//!     .build();
//! let answer = client
//!     .send(client.http().post(format!("{base}/v1/entries")).body("{\"amount\":100}"))
//!     .await?;
//! assert_eq!(answer.status, 200);
//! assert_eq!(answer.text(), "orders posted {\"amount\":100}");
//! # Ok(())
//! # }
//! ```

mod activity;
mod client;
mod error;
mod hub;
#[cfg(feature = "server")]
mod layer;
mod peers;
#[cfg(feature = "server")]
mod shared;
mod wire;

#[cfg(feature = "server")]
pub use activity::remember_route;
pub use activity::{
    ActivitySink, CallEvent, DropCount, EVENTS_PATH, EventBatch, ReporterConfig, RouteTemplate,
    spawn_reporter,
};
pub use client::{TokiClient, TokiClientBuilder, TokiResponse};
pub use error::TokiHttpError;
pub use hub::{HubCredentials, HubPeerKeys, HubPeerSource, HubSession, PEERS_PATH, TOKEN_PATH};
#[cfg(feature = "server")]
pub use layer::{Authorize, TokiLayer, TokiLayerBuilder, TokiService};
pub use peers::{CachedPeerKeys, Peer, PeerLookup, PeerResolver, PeerSource};
#[cfg(feature = "server")]
pub use shared::{AnchorOutcome, ReplayKey, ShareError, ShareFuture, SharedSessions};
pub use wire::{CONTENT_DIGEST, HELLO_PATH, challenge, challenge_error, status_for};
