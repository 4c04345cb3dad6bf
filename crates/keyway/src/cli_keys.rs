//! Arguments of `keyway keys …`: signing keys, the hub's toki identity, the master key.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::JsonFlag;

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Start signing with the published next key, retire the current one, publish a new next.
    Rotate(JsonFlag),
    /// List signing keys and their state (next, current, retired).
    List(JsonFlag),
    /// Print the hub's toki identity: its service id (the issuer, as configured for this
    /// command: flags, KEYWAY_ISSUER, keyway.toml) and Ed25519 public key, which services pin
    /// to call the hub's APIs with oscartoki (key created on first use, sealed in the store).
    Toki(JsonFlag),
    /// Seal every secret in the store (signing keys, the hub's own keys, clients' signing
    /// secrets, TOTP secrets) under a new master key, in one transaction. Stop every hub node
    /// first. The data directory's default master.key is then replaced by the new key (the old
    /// one kept as master.key.before-ID); a key given by --master-key-file is not: start every
    /// node with the new file.
    RotateMaster(RotateMasterArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RotateMasterArgs {
    /// The new master key: 32 random bytes, base64 on one line, mode 0600
    /// (`openssl rand -base64 32 > new.key; chmod 600 new.key`).
    #[arg(long = "new", value_name = "FILE")]
    pub new_key_file: PathBuf,
    #[command(flatten)]
    pub json: JsonFlag,
}
