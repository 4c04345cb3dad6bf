//! Arguments of the hub-side `keyway link …` commands (partners, submit, conflicts, stats).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::JsonFlag;

#[derive(Debug, Subcommand)]
pub(crate) enum LinkPartnerCommand {
    /// Register a partner site and bind it to the OAuth client that submits for it.
    Create(LinkPartnerCreateArgs),
    /// List partners.
    List(JsonFlag),
}

#[derive(Debug, Args)]
pub(crate) struct LinkPartnerCreateArgs {
    /// Partner code (1-32 letters, digits, '-' or '_'), e.g. FLM.
    #[arg(long)]
    pub code: String,
    /// client_id of a client_credentials client with scope link:submit.
    #[arg(long = "client", value_name = "CLIENT_ID")]
    pub client_id: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct LinkConflictsArgs {
    /// Only conflicts after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
    #[command(flatten)]
    pub store: crate::cli::StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LinkSubmitArgs {
    /// Base URL of the hub, e.g. https://hub.example.org.
    #[arg(long, value_name = "URL")]
    pub hub: String,
    /// A private CA's certificate (PEM) to trust for the hub's TLS, besides the public roots.
    #[arg(long, env = "KEYWAY_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// The partner's OAuth client (client_credentials, scope link:submit).
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// File holding the client secret (chmod 600).
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: PathBuf,
    /// Hash file: PATID and hash columns only (as written by `keyway link hash`).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write PATID,UUID,FLAG,REASON (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Write rows the hub refused (line, patid, reason) to this CSV.
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
    /// Check every row first (field count, patid, hash format, a patid given twice) and send
    /// nothing if any row is bad; without it bad rows are reported and the rest is linked.
    #[arg(long)]
    pub strict: bool,
    /// Rows per request (each is linked in one hub transaction; 50,000 rows of four hashes
    /// stay under the 16 MiB a toki-signed request may carry).
    #[arg(long, default_value_t = 50_000)]
    pub batch_size: usize,
    /// Attempts per batch before giving up (resubmitting is safe: linking is idempotent).
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// No progress bar or summary (for cron).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}
