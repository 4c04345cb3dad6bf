//! The command line. Every command takes the same `--config`, `--data-dir` and `--database`
//! options (also as `KEYWAY_*` variables), so the admin commands find the hub's store.

use std::path::PathBuf;

pub(crate) use crate::cli_users::{GroupCommand, UserCommand};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "keyway",
    version,
    about = "keyway: one trust fabric for services and partner sites",
    long_about = "keyway: one trust fabric for services and partner sites.\n\n\
                  `keyway serve` runs the hub: an OAuth 2.0 authorization server with OpenID \
                  Connect, rolling per-call request tokens between services (toki) with a live \
                  activity map, record linkage of partner sites' hashed identifiers, and a \
                  schema-driven data API guarded by scopes. `client`, `user` and `keys` \
                  administer its store; `link` hashes and submits identifiers at a partner site; \
                  `transfer` moves messages and files end to end encrypted between servers, no \
                  hub needed; `data` checks schema files and exports data.\n\n\
                  Start with `keyway serve`, then, from another terminal in the same directory, \
                  `keyway client create`. The README and docs/ of the source explain each part."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the hub's store is, given before the command (`keyway --data-dir D client list`).
/// The commands that use the store also take these after their name.
#[derive(Debug, Args, Default)]
#[command(
    next_help_heading = "Hub store (for serve, client, user, group, keys, audit, link partner|conflicts|stats, data export, transfer serve --hub-clients)"
)]
pub(crate) struct GlobalArgs {
    /// Configuration file (TOML); KEYWAY_* variables and flags override it.
    #[arg(long, env = "KEYWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the hub keeps its database and signing keys [default: ./keyway-data].
    #[arg(long, env = "KEYWAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite:PATH, postgres://… or mysql://… [default: SQLite in the data dir].
    #[arg(long, env = "KEYWAY_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Issuer URL of the hub (the `iss` of its tokens) [default: for serve, http://LISTEN, or
    /// https://LISTEN with --tls-cert; for admin commands, the issuer the hub last served as].
    #[arg(long, env = "KEYWAY_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// Log format of the servers (serve, transfer serve): text or json.
    #[arg(long, env = "KEYWAY_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// The master key sealing the store's secrets: 32 random bytes, base64 on one line, mode
    /// 0600 (`openssl rand -base64 32`); every node of a cluster is given the same file
    /// [default: master.key in the data dir, made at the hub's first start].
    #[arg(long, env = "KEYWAY_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
}

/// The hub's store, on a command that uses it (and its subcommands).
#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "Hub store")]
pub(crate) struct StoreArgs {
    /// Configuration file (TOML); KEYWAY_* variables and flags override it.
    #[arg(long = "config", global = true, value_name = "FILE")]
    pub store_config: Option<PathBuf>,
    /// The hub's data directory (database and signing keys) [default: ./keyway-data].
    #[arg(long = "data-dir", global = true, value_name = "DIR")]
    pub store_data_dir: Option<PathBuf>,
    /// Database URL: sqlite:PATH, postgres://… or mysql://… [default: SQLite in the data dir].
    #[arg(long = "database", global = true, value_name = "URL")]
    pub store_database: Option<String>,
    /// Issuer URL of the hub [default: for serve, http://LISTEN, or https://LISTEN with
    /// --tls-cert; for admin commands, the issuer the hub last served as].
    #[arg(long = "issuer", global = true, value_name = "URL")]
    pub store_issuer: Option<String>,
    /// The master key sealing the store's secrets [default: master.key in the data dir].
    #[arg(long = "master-key-file", global = true, value_name = "FILE")]
    pub store_master_key_file: Option<PathBuf>,
}

/// Log format, on the commands that run a server.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct LogArgs {
    /// Log format: text (coloured only on a terminal, never with NO_COLOR) or json.
    #[arg(long = "log-format", value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

impl GlobalArgs {
    /// These settings with the ones given after the command name, which win.
    pub(crate) fn with(&self, store: Option<&StoreArgs>, log: Option<&LogArgs>) -> GlobalArgs {
        let store = store.cloned().unwrap_or_default();
        let log = log.cloned().unwrap_or_default();
        GlobalArgs {
            config: store.store_config.or_else(|| self.config.clone()),
            data_dir: store.store_data_dir.or_else(|| self.data_dir.clone()),
            database: store.store_database.or_else(|| self.database.clone()),
            issuer: store.store_issuer.or_else(|| self.issuer.clone()),
            log_format: log.log_format.or_else(|| self.log_format.clone()),
            master_key_file: store
                .store_master_key_file
                .or_else(|| self.master_key_file.clone()),
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the hub (HTTP server) until SIGINT or SIGTERM.
    Serve(crate::cli_serve::ServeArgs),
    /// Register and manage OAuth clients.
    Client(Admin<ClientCommand>),
    /// Manage users (resource owners who log in at the hub).
    User(Admin<UserCommand>),
    /// Manage groups of users (keyway-admins: the hub's administrators).
    Group(Admin<GroupCommand>),
    /// Manage the hub's token-signing keys.
    Keys(Admin<crate::cli_keys::KeysCommand>),
    /// Show the audit log: decisions between clients (transmit, exchange, gateway) and admin
    /// changes (clients, rules, users, groups, keys), oldest first.
    Audit {
        #[command(flatten)]
        args: AuditArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write an online, consistent backup of a SQLite hub (its database, sealed under the
    /// master key) while it serves. PostgreSQL and MariaDB: docs/deploy.md, "Backups".
    Backup(crate::cli_backup::BackupArgs),
    /// Restore a backup made by `keyway backup` into a new data directory (the hub stopped).
    /// The master key it was sealed under must be given (--master-key-file) or be in the
    /// data directory.
    Restore(crate::cli_backup::RestoreArgs),
    /// Privacy-preserving record linkage: hash and submit (partner), partners and stats (hub).
    #[command(subcommand)]
    Link(LinkCommand),
    /// End-to-end encrypted server-to-server transfer (TLS 1.3 with raw Ed25519 keys).
    #[command(subcommand)]
    Transfer(TransferCommand),
    /// Schema-driven data API: check schema files, export what the hub stores.
    #[command(subcommand)]
    Data(DataCommand),
    /// Print a shell completion script, e.g. `keyway completions bash > ~/.local/share/bash-completion/completions/keyway`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one per command with --out-dir.
    Man {
        /// Write keyway.1, keyway-client.1, keyway-client-create.1, … into this directory.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// Validate a schema file (YAML, or TOML with a [data] section); errors name the place.
    Check {
        /// The schema file (YAML, or TOML with a [data] section).
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List the entities of a schema file with their scopes and properties.
    Schemas {
        /// The schema file (YAML, or TOML with a [data] section).
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Write every item of ENTITY from the hub's store as NDJSON (one JSON object a line, in
    /// id order, every property: read scopes do not apply to the operator). Safe while the
    /// hub runs.
    Export(DataExportArgs),
}

/// An admin command group: its subcommands, and where the hub's store is.
#[derive(Debug, Args)]
pub(crate) struct Admin<C: Subcommand> {
    #[command(subcommand)]
    pub command: C,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl Command {
    /// The store and log settings given after the command name, if it takes any.
    pub(crate) fn store_args(&self) -> (Option<&StoreArgs>, Option<&LogArgs>) {
        match self {
            Command::Serve(args) => (Some(&args.store), Some(&args.log)),
            Command::Client(admin) => (Some(&admin.store), None),
            Command::User(admin) => (Some(&admin.store), None),
            Command::Group(admin) => (Some(&admin.store), None),
            Command::Keys(admin) => (Some(&admin.store), None),
            Command::Audit { store, .. } => (Some(store), None),
            Command::Backup(args) => (Some(&args.store), None),
            Command::Restore(args) => (Some(&args.store), None),
            Command::Link(LinkCommand::Partner(admin)) => (Some(&admin.store), None),
            Command::Link(LinkCommand::Conflicts(args)) => (Some(&args.store), None),
            Command::Link(LinkCommand::Stats(args)) => (Some(&args.store), None),
            Command::Link(LinkCommand::Hash(_) | LinkCommand::Submit(_)) => (None, None),
            Command::Transfer(TransferCommand::Serve(args)) => (Some(&args.store), Some(&args.log)),
            Command::Transfer(_) => (None, None),
            Command::Data(DataCommand::Export(args)) => (Some(&args.store), None),
            Command::Data(_) | Command::Completions { .. } | Command::Man { .. } => (None, None),
        }
    }

    /// Servers and network clients: a closed socket must never end them by signal.
    pub(crate) fn uses_network(&self) -> bool {
        matches!(
            self,
            Command::Serve(_) | Command::Transfer(_) | Command::Link(LinkCommand::Submit(_))
        )
    }

    /// Commands that talk over a single connection and gain nothing from more threads.
    pub(crate) fn is_one_connection(&self) -> bool {
        matches!(
            self,
            Command::Transfer(TransferCommand::Send(_) | TransferCommand::Get(_))
        )
    }
}

impl DataCommand {
    /// Commands that read only a schema file, not the hub's store.
    pub(crate) fn is_offline(&self) -> bool {
        !matches!(self, DataCommand::Export(_))
    }
}

#[derive(Debug, Args)]
pub(crate) struct DataExportArgs {
    /// Entity name (matched case-insensitively, like the API).
    pub entity: String,
    /// The schema file the hub serves (`schemas` in keyway.toml by default).
    #[arg(long, env = "KEYWAY_SCHEMAS", value_name = "FILE")]
    pub schemas: Option<PathBuf>,
    /// Only items matching this OData $filter expression, e.g. "city eq 'Utrecht'".
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Write to FILE (created or replaced only when the export completes) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TransferCommand {
    /// Make an Ed25519 identity: private key file (0600) and its public key line on stdout.
    Keygen {
        /// Private key file [default: ~/.keyway/transfer_ed25519]; FILE.pub gets the public key.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        /// Comment appended to the public key line.
        #[arg(short = 'C', long)]
        comment: Option<String>,
    },
    /// Receive messages and data from clients whose keys are in authorized_keys.
    Serve(TransferServeArgs),
    /// Send a message, data or a file to a transfer server and print its (status, response).
    Send(TransferSendArgs),
    /// Pull a file from a transfer server (resumes an interrupted pull).
    Get(TransferGetArgs),
}

/// How the client reaches and pins a transfer server.
#[derive(Debug, Args)]
pub(crate) struct TransferPeerArgs {
    /// The client's private key file.
    #[arg(long, value_name = "FILE")]
    pub identity: PathBuf,
    /// Pinned server keys [default: ~/.keyway/known_hosts].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Trust and record the server key on first contact.
    #[arg(long, conflicts_with = "server_key")]
    pub accept_new: bool,
    /// The expected server key ("keyway-ed25519 BASE64").
    #[arg(long, value_name = "KEY")]
    pub server_key: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TransferGetArgs {
    /// Server address HOST:PORT.
    #[arg(long)]
    pub from: String,
    #[command(flatten)]
    pub peer: TransferPeerArgs,
    /// Replace LOCAL if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// The file's name on the server (relative to the key's root).
    pub remote: String,
    /// Where to write it.
    pub local: PathBuf,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct TransferServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:7422.
    #[arg(long)]
    pub listen: String,
    /// The server's private key file (from `keyway transfer keygen`).
    #[arg(long, value_name = "FILE")]
    pub identity: PathBuf,
    /// Client public keys allowed to connect, one per line (OpenSSH-like, with options).
    #[arg(long, value_name = "FILE", required_unless_present = "hub_clients")]
    pub authorized_keys: Option<PathBuf>,
    /// Also admit the transfer keys registered at the hub (`keyway client add-key`), read from
    /// the hub's store (--data-dir / --database / --config); the client_id becomes the comment.
    #[arg(long)]
    pub hub_clients: bool,
    /// Directory that received files are confined to (per key: root="…" in authorized_keys).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Pipe each message to CMD (stdin: payload; env KEYWAY_SENDER_KEY, KEYWAY_SENDER_COMMENT,
    /// KEYWAY_KIND, KEYWAY_NAME); its exit status and stdout become (status, response).
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Largest message or data body accepted, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_body: u64,
    /// Largest file accepted, in bytes [default: no limit].
    #[arg(long)]
    pub max_file_size: Option<u64>,
    /// Seconds a connection has to complete its TLS handshake before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub handshake_timeout: u64,
    /// Handshakes in progress per source address (IPv6: per /64); one more from the same
    /// address replaces that address's oldest.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_handshakes_per_address: u64,
    /// Handshakes in progress in all; beyond that a new one replaces the oldest pending
    /// handshake of the address holding the most.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_handshakes: u64,
    #[command(flatten)]
    pub log: LogArgs,
    /// Where the hub's store is (with --hub-clients).
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("payload").required(true).args(["message", "data_file", "file"])))]
pub(crate) struct TransferSendArgs {
    /// Server address HOST:PORT.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub peer: TransferPeerArgs,
    /// A text message.
    #[arg(long)]
    pub message: Option<String>,
    /// Send the bytes of this file as raw data (held in memory by the server's handler).
    #[arg(long, value_name = "PATH")]
    pub data_file: Option<PathBuf>,
    /// Push this file, streamed to disk on the server (resumes an interrupted push).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Name it is sent under, relative to the server root [default: the file name].
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Replace the file on the server if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LinkCommand {
    /// Normalise identifiers and hash them with the linkage rules (offline, streaming).
    ///
    /// Exit status: 0 all rows hashed, 3 done but some rows were rejected (see --errors),
    /// 1 nothing written.
    Hash(LinkHashArgs),
    /// Send a hash file to the hub and write the links it answers (client credentials).
    ///
    /// Exit status: 0 all rows linked, 3 done but the hub refused some rows (see --errors),
    /// 1 failure (nothing written).
    Submit(crate::cli_link::LinkSubmitArgs),
    /// Hub operator: register and list partner sites.
    Partner(Admin<crate::cli_link::LinkPartnerCommand>),
    /// Hub operator: conflicts the linker settled by rule priority.
    Conflicts(crate::cli_link::LinkConflictsArgs),
    /// Hub operator: counts of partners, records, persons, conflicts and collisions.
    Stats(LinkStatsArgs),
}

impl LinkCommand {
    /// Whether the command runs without the hub's store (partner side).
    pub(crate) fn is_offline(&self) -> bool {
        matches!(self, LinkCommand::Hash(_) | LinkCommand::Submit(_))
    }
}

#[derive(Debug, Args)]
pub(crate) struct LinkStatsArgs {
    #[command(flatten)]
    pub json: JsonFlag,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LinkHashArgs {
    /// CSV with columns patid, first, last, dob, sex, race (see --column).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write PATID and one hash column per rule (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Comma-separated rules: F_L_D_S, F_L_D_R (legacy), F_L_D_S_FOLD, F_L_D_R_FOLD.
    #[arg(long, default_value = "F_L_D_S,F_L_D_R")]
    pub rules: String,
    /// Legacy salt appended before SHA-256 (default: none).
    #[arg(long, conflicts_with = "secret_file")]
    pub salt: Option<String>,
    /// Keyed mode: HMAC-SHA256 with the secret in this file (shared by partners, never the hub).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Map a field to another header, e.g. --column first=FIRST_NAME (repeatable).
    #[arg(long = "column", value_name = "FIELD=HEADER")]
    pub columns: Vec<String>,
    /// Write rejected rows (line, patid, reason) to this CSV.
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
    /// Stop at the first bad row and write nothing.
    #[arg(long)]
    pub strict: bool,
    /// No progress bar or summary (for cron).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client; prints its client_id and, once, its client_secret.
    Create(Box<ClientCreateArgs>),
    /// List registered clients.
    List(JsonFlag),
    /// Show one client.
    Show {
        /// The client's id, or its name when no other client has it (`keyway client list`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change a client's name, grants, scopes, redirect URIs or keys (a running hub applies it
    /// within a second; its id, secret and way of authenticating stay).
    Update(Box<ClientUpdateArgs>),
    /// Issue a new client secret; the old one stops working at once.
    RotateSecret {
        /// The client's id, or its name when no other client has it (`keyway client list`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        #[command(flatten)]
        json: JsonFlag,
        /// Print `export NAME_SECRET=…` for a shell's eval.
        #[arg(long, value_name = "NAME", conflicts_with = "json", value_parser = shell_name)]
        export: Option<String>,
    },
    /// Register a keyway-transfer public key for a client, so one Ed25519 identity serves both
    /// (`keyway transfer serve --hub-clients` then admits it).
    AddKey {
        /// The client's id, or its name when no other client has it (`keyway client list`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// The public key line ("keyway-ed25519 BASE64 [comment]") or a .pub file holding it.
        #[arg(long, visible_alias = "public-key", value_name = "KEY|FILE")]
        key: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Register (or replace) a client's toki key: the Ed25519 public key that identifies the
    /// service in oscartoki calls (docs/toki.md). Peers fetch it from GET /toki/v1/peers/ID.
    AddTokiKey {
        /// The client's id, or its name when no other client has it (`keyway client list`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// A file holding the public key line ("keyway-ed25519 BASE64 [comment]"), or - for stdin.
        #[arg(long, visible_alias = "key", value_name = "FILE|-")]
        public_key: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a client and revoke everything issued to it (and every rule naming it).
    Delete {
        /// The client's id, or its name when no other client has it (`keyway client list`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Let client A hand users to, exchange tokens for, or call client B (nothing crosses
    /// between clients without a rule; a running hub applies it within a second).
    Allow(RuleArgs),
    /// Remove a rule made with `keyway client allow`.
    Disallow(RuleTarget),
    /// List the rules between clients.
    Rules(JsonFlag),
}

/// The two clients and purpose a rule is about.
#[derive(Debug, Args)]
pub(crate) struct RuleTarget {
    /// The client that acts (its id, or its name when unique).
    #[arg(allow_hyphen_values = true)]
    pub from: String,
    /// The client it acts towards (its id, or its name when unique).
    #[arg(long, value_name = "CLIENT", allow_hyphen_values = true)]
    pub to: String,
    /// transmit: hand a signed-in user over (POST /oauth2/transmit); exchange: trade a user's
    /// token for one meant for B (RFC 8693); call: call B's API through /gateway/B/….
    #[arg(long = "for", value_name = "PURPOSE", value_parser = ["transmit", "exchange", "call"])]
    pub purpose: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct RuleArgs {
    #[command(flatten)]
    pub target: RuleTarget,
    /// The scopes that may cross (spaces or commas separate): what B receives is the user's
    /// scopes within these. Without it, the scopes of the user's token cross as they are.
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ClientCreateArgs {
    /// A name people recognise (shown on the consent page).
    #[arg(long)]
    pub name: String,
    /// Grant types: client_credentials, authorization_code, refresh_token (repeat or comma-separate).
    #[arg(long = "grant", value_name = "GRANT", num_args = 1.., required = true)]
    pub grants: Vec<String>,
    /// Scopes the client may ask for, separated by spaces or commas (as --grant is).
    #[arg(long, default_value = "")]
    pub scope: String,
    /// Exact redirect URI for the authorization code flow (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI", num_args = 1..)]
    pub redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE protects its codes).
    #[arg(long)]
    pub public: bool,
    /// JWK Set file with the client's public keys (private_key_jwt authentication).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<PathBuf>,
    /// URL of the client's JWK Set (private_key_jwt authentication).
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
    /// Its authorization requests must be pushed first (RFC 9126, POST /oauth2/par).
    #[arg(long)]
    pub require_par: bool,
    /// Its authorization requests must be signed request objects (RFC 9101), signed with a
    /// key of --jwks-file / --jwks-uri.
    #[arg(long)]
    pub require_signed_request: bool,
    /// Its access tokens must be DPoP-bound: every token request carries a DPoP proof
    /// (RFC 9449).
    #[arg(long)]
    pub require_dpop: bool,
    /// Its users must sign in with a second factor (a password and a TOTP code or passkey, or
    /// a passkey alone); sessions without one do not count for it.
    #[arg(long)]
    pub require_mfa: bool,
    /// A protocol profile: `g2d1` signs authorization requests and redirects with the
    /// client's signing secret (docs/oauth.md, "The g2d1 profile"); one is made and printed
    /// once unless --signing-secret-file gives it.
    #[arg(long, value_name = "PROFILE", value_parser = ["g2d1"])]
    pub profile: Option<String>,
    /// The client's signing secret (32–256 bytes of text, a trailing newline dropped; the file
    /// must be mode 0600): the key of g2d1 signatures and of HS256 request objects. Stored
    /// sealed with the hub's master key.
    #[arg(long, value_name = "FILE")]
    pub signing_secret_file: Option<PathBuf>,
    /// How its users may sign in: `password` and/or upstream providers' names from
    /// [[login.upstream]] in keyway.toml (e.g. --login-types password corp); default all.
    #[arg(long, value_name = "TYPE", num_args = 1..)]
    pub login_types: Vec<String>,
    /// Where the hub may send the browser after logout at /oauth2/logout (OpenID Connect
    /// RP-Initiated Logout; exact match, repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI", num_args = 1..)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where the hub POSTs a logout token when a session the client signed in through ends
    /// (OpenID Connect Back-Channel Logout; https, http only on loopback).
    #[arg(long, value_name = "URL")]
    pub backchannel_logout_uri: Option<String>,
    /// Where users handed over by other clients arrive (the signed redirect with a code;
    /// https, http only on loopback; confidential clients only).
    #[arg(long, value_name = "URL")]
    pub transmit_url: Option<String>,
    /// The base URL of its API: /gateway/CLIENT/PATH is forwarded to URL/PATH (https, http
    /// only on loopback; no query).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Print `export NAME_ID=…` and `export NAME_SECRET=…` (and `NAME_SIGNING_SECRET` for a
    /// g2d1 client) for a shell's eval, e.g. eval "$(keyway client create … --export BILLING)".
    #[arg(long, value_name = "NAME", conflicts_with = "json", value_parser = shell_name)]
    pub export: Option<String>,
}

/// A shell variable prefix: an uppercase letter or `_`, then uppercase letters, digits, `_`.
fn shell_name(value: &str) -> Result<String, String> {
    let mut chars = value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    if first_ok
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && value.len() <= 64
    {
        Ok(value.to_string())
    } else {
        Err("a shell variable prefix like BILLING (A–Z, 0–9, _; not starting with a digit)".into())
    }
}

#[derive(Debug, Args)]
pub(crate) struct ClientUpdateArgs {
    /// The client to change: its id, or its name when no other client has it.
    #[arg(allow_hyphen_values = true)]
    pub client_id: String,
    /// A new name (shown on the consent page).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the grant types (repeat or comma-separate).
    #[arg(long = "grant", value_name = "GRANT", num_args = 1..)]
    pub grants: Option<Vec<String>>,
    /// Replace the scopes (spaces or commas separate); refresh tokens lose removed scopes.
    #[arg(long, conflicts_with_all = ["add_scope", "remove_scope"])]
    pub scope: Option<String>,
    /// Scopes to add (spaces or commas separate).
    #[arg(long, value_name = "SCOPES")]
    pub add_scope: Option<String>,
    /// Scopes to take away (spaces or commas separate).
    #[arg(long, value_name = "SCOPES")]
    pub remove_scope: Option<String>,
    /// Replace the redirect URIs (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI", num_args = 1.., conflicts_with_all = ["add_redirect_uris", "remove_redirect_uris"])]
    pub redirect_uris: Option<Vec<String>>,
    /// A redirect URI to add (repeatable).
    #[arg(long = "add-redirect-uri", value_name = "URI")]
    pub add_redirect_uris: Vec<String>,
    /// A redirect URI to remove (repeatable).
    #[arg(long = "remove-redirect-uri", value_name = "URI")]
    pub remove_redirect_uris: Vec<String>,
    /// Replace the client's keys with this JWK Set file (private_key_jwt clients).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<PathBuf>,
    /// Replace the client's keys with this JWK Set URL (private_key_jwt clients).
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// Whether its authorization requests must be pushed first (RFC 9126).
    #[arg(long, value_name = "true|false")]
    pub require_par: Option<bool>,
    /// Whether its authorization requests must be signed request objects (RFC 9101).
    #[arg(long, value_name = "true|false")]
    pub require_signed_request: Option<bool>,
    /// Whether its access tokens must be DPoP-bound (RFC 9449).
    #[arg(long, value_name = "true|false")]
    pub require_dpop: Option<bool>,
    /// Whether its users must sign in with a second factor.
    #[arg(long, value_name = "true|false")]
    pub require_mfa: Option<bool>,
    /// Replace the client's signing secret with this file's (32–256 bytes of text, mode
    /// 0600); the old one stops working at once.
    #[arg(long, value_name = "FILE")]
    pub signing_secret_file: Option<PathBuf>,
    /// Replace how its users may sign in: `password` and/or upstream names (`all`: every
    /// way the hub offers).
    #[arg(long, value_name = "TYPE", num_args = 1..)]
    pub login_types: Option<Vec<String>>,
    /// Replace the post-logout redirect URIs (repeatable; '' alone removes them all).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI", num_args = 1..)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Replace the back-channel logout URL ('' removes it).
    #[arg(long, value_name = "URL")]
    pub backchannel_logout_uri: Option<String>,
    /// Replace where transmitted users arrive ('' removes it).
    #[arg(long, value_name = "URL")]
    pub transmit_url: Option<String>,
    /// Replace the base URL of its API ('' removes it).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only entries at or after this time: RFC 3339 (2026-12-05T10:00:00Z), a date
    /// (2026-12-05), or an age (90s, 15m, 2h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// The newest this many entries (printed oldest first).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every command, option and argument says what it is for in `--help`.
    #[test]
    fn everything_in_help_has_a_description() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() && path != "keyway" {
                missing.push(path.to_string());
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut command = Cli::command();
        command.build();
        walk(&command, "keyway", &mut missing);
        assert!(missing.is_empty(), "without a description: {missing:#?}");
    }
}
