//! `keyway serve`'s flags.

use std::path::PathBuf;

use clap::Args;

use crate::cli::{LogArgs, StoreArgs};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KEYWAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve the data API for the entities in this schema file (YAML or TOML; `schemas` in
    /// keyway.toml). Tables are created and migrated at start.
    #[arg(long, env = "KEYWAY_SCHEMAS", value_name = "FILE")]
    pub schemas: Option<PathBuf>,
    /// Allow a schema change to drop columns of removed properties (their data is lost).
    #[arg(long)]
    pub allow_drop_columns: bool,
    /// A reverse proxy (ADDR or ADDR/PREFIX, repeatable) whose X-Forwarded-For header names
    /// the client for sign-in throttling; from anyone else the header is ignored.
    #[arg(
        long,
        env = "KEYWAY_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "ADDR"
    )]
    pub trusted_proxy: Vec<String>,
    /// This node's name in a cluster (one store, several hubs): the holder of the upkeep lease
    /// (scheduled key rotation and purging run on one node at a time), shown by /readyz
    /// [default: HOST:PID].
    #[arg(long, env = "KEYWAY_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,
    /// Serve https with this certificate chain (PEM: the server's certificate, then the
    /// intermediates); reloaded on SIGHUP or when the file changes. Needs --tls-key.
    #[arg(
        long,
        env = "KEYWAY_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, or RSA PKCS#1, or EC SEC1).
    #[arg(
        long,
        env = "KEYWAY_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Threads that serve connections, 1 to 256, each with its own event loop (like nginx's
    /// worker_processes; keyway.toml `workers`). Each takes about 1 MB and 4 open files
    /// [default: one per CPU].
    #[arg(long, env = "KEYWAY_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=i64::from(keyway_hub::MAX_WORKERS)))]
    pub workers: Option<u16>,
    /// A private CA (PEM) the hub trusts, besides the public roots, when it calls out: the
    /// gateway's upstream APIs, clients' JWK Sets, upstream sign-in, back-channel logout.
    #[arg(long, env = "KEYWAY_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}
