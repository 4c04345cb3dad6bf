//! `orders`: takes orders and books each one at `ledger`, with toki calls; reports its calls
//! to the hub's activity map. Start it with (README, "A tour", step 4):
//!
//! ```sh
//! TOKI_ID=$ORDERS_ID TOKI_SECRET=$ORDERS_SECRET TOKI_KEY=orders.key PEER_ID=$LEDGER_ID \
//!   cargo run --release -q -p keyway-toki-http --example toki-orders
//! ```

#[path = "shared/toki_service.rs"]
mod toki_service;

use axum::routing::get;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings =
        match toki_service::Settings::from_env("127.0.0.1:7001", "http://127.0.0.1:7002", 300) {
            Ok(settings) => settings,
            Err(why) => {
                eprintln!("toki-orders: {why}");
                return std::process::ExitCode::FAILURE;
            }
        };
    // ledger reads an order back now and then (it must hold the scope orders:call).
    let routes = axum::Router::new().route(
        "/v1/orders/{id}",
        get(
            |axum::extract::Path(id): axum::extract::Path<u64>| async move {
                format!("{{\"order\":{id},\"status\":\"booked\"}}")
            },
        ),
    );
    let result = toki_service::run("toki-orders", settings, "orders:call", routes, |n| {
        let amount = 100 + (n * 37) % 900;
        (
            reqwest::Method::POST,
            format!("/v1/entries?order={n}"),
            format!("{{\"order\":{n},\"amount\":{amount}}}"),
        )
    })
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("toki-orders: {why}");
            std::process::ExitCode::FAILURE
        }
    }
}
