//! `ledger`: books entries that `orders` posts, and reads an order back from `orders` now and
//! then, with toki calls; reports its calls to the hub's activity map. Start it with (README,
//! "A tour", step 4):
//!
//! ```sh
//! TOKI_ID=$LEDGER_ID TOKI_SECRET=$LEDGER_SECRET TOKI_KEY=ledger.key PEER_ID=$ORDERS_ID \
//!   cargo run --release -q -p keyway-toki-http --example toki-ledger
//! ```

#[path = "shared/toki_service.rs"]
mod toki_service;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::routing::post;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings =
        match toki_service::Settings::from_env("127.0.0.1:7002", "http://127.0.0.1:7001", 2000) {
            Ok(settings) => settings,
            Err(why) => {
                eprintln!("toki-ledger: {why}");
                return std::process::ExitCode::FAILURE;
            }
        };
    let booked = Arc::new(AtomicU64::new(0));
    let counter = booked.clone();
    // orders posts entries here (it must hold the scope ledger:call).
    let routes = axum::Router::new().route(
        "/v1/entries",
        post(move |body: String| {
            let counter = counter.clone();
            async move {
                let id = counter.fetch_add(1, Ordering::Relaxed) + 1;
                (
                    axum::http::StatusCode::CREATED,
                    format!("{{\"entry\":{id},\"booked\":{body}}}"),
                )
            }
        }),
    );
    let result = toki_service::run("toki-ledger", settings, "ledger:call", routes, move |_| {
        let last = booked.load(Ordering::Relaxed).max(1);
        (
            reqwest::Method::GET,
            format!("/v1/orders/{last}"),
            String::new(),
        )
    })
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("toki-ledger: {why}");
            std::process::ExitCode::FAILURE
        }
    }
}
