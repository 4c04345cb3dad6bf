//! End-to-end tests of the `keyway` binary: the hub as a process, the admin CLI against its
//! data dir, and third-party clients (Python Authlib/PyJWT/jwcrypto, headless Chromium).
//!
//! The interop tests need `scripts/install-test-deps.sh`; without those tools they print
//! "SKIPPED: …" and pass, unless KEYWAY_REQUIRE_INTEROP=1.

// Test helpers outside #[test] functions may panic on unexpected input: that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backup;
mod cli_client_rules;
mod cli_clients;
mod cli_misc;
mod cli_workers;
mod cluster;
mod cluster_load;
mod cluster_tls;
mod cluster_toki;
mod data;
mod deploy_files;
mod deploy_tour;
mod docs_between_apps;
mod docs_scim;
mod handoff_walk;
mod harness;
mod interop;
mod link_cli;
mod oauth;
mod passkey_walk;
mod readme_tour;
mod schemathesis;
mod store_outage;
mod tls;
mod tls_ca;
mod transfer;
