//! One integration binary: a real axum server with the toki layer, the reqwest wrapper, and a
//! byte-level proxy that tampers with traffic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod activity;
mod calls;
mod harness;
