//! Integration tests of the hub over real HTTP, run against every configured backend:
//! SQLite always, PostgreSQL and MariaDB when `KEYWAY_TEST_POSTGRES_URL` /
//! `KEYWAY_TEST_MYSQL_URL` are set (as `.ci/run` does).

// Test helpers outside #[test] functions may panic on unexpected input: that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account_changes;
mod activity;
mod activity_page;
mod bad_input;
mod browser;
mod browser_flow;
mod client_credentials;
mod cluster_nodes;
mod data_api;
mod data_batch;
mod data_filter;
mod data_integer_ids;
mod data_relations;
mod discovery;
mod dpop;
mod edge;
mod g2d1;
mod gateway;
mod gateway_pool;
mod harness;
mod hub_pages;
mod introspection;
mod jar;
mod jarm;
mod keys;
mod link;
mod logout;
mod oauth2_crate;
mod par;
mod passkeys;
mod private_key_jwt;
mod refresh;
mod revocation;
mod scim;
mod scim_groups;
mod sealed_secrets;
mod second_factor;
mod soft_authenticator;
mod store_outage;
mod tls_edge;
mod token_exchange;
mod toki_calls;
mod toki_cluster;
mod toki_peers;
mod transmit;
mod upstream;
