//! `keyway backup` and `keyway restore`'s flags.

use std::path::PathBuf;

use clap::Args;

use crate::cli::{JsonFlag, StoreArgs};

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Where to write the backup: the database, sealed under the master key (mode 0600; an
    /// existing file is replaced only once the new one is complete).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub json: JsonFlag,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A backup made by `keyway backup`.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    #[command(flatten)]
    pub json: JsonFlag,
    #[command(flatten)]
    pub store: StoreArgs,
}
