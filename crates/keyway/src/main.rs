//! `keyway`: the hub and its admin CLI. Parses, wires configuration into the hub, prints.

mod cli;
mod cli_link;
mod commands;
mod settings;

use clap::Parser;

use crate::cli::{Cli, Command};

// The hub allocates and frees millions of small strings per linked batch; glibc's allocator
// spent a quarter of the linker's CPU consolidating them (perf, 2026-12-02).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `keyway client list | head -1`: a reader that goes away ends the command quietly, as in
    // every Unix tool, instead of a "failed printing to stdout" panic. Servers keep ignoring
    // SIGPIPE (a handler's closed pipe must not stop them).
    if !cli.command.is_server() {
        sigpipe::reset();
    }
    // A transfer client drives one connection: on one worker thread its task is never handed
    // between threads (file reads and writes still run on the blocking pool). In alternating
    // runs of bench/transfer/run.sh it was 2–8% faster than a worker per core, or even.
    let mut builder = if cli.command.is_one_connection() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<commands::PartialSuccess>().is_some() => {
            eprintln!("warning: {err:#}");
            std::process::ExitCode::from(3)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Offline partner-side commands need no hub settings.
    let command = match cli.command {
        Command::Link(cmd) if cmd.is_offline() => return commands::link::run(cmd).await,
        Command::Transfer(cmd) => return commands::transfer::run(cmd, &cli.global).await,
        Command::Data(cmd) if cmd.is_offline() => return commands::data::run(cmd),
        other => other,
    };
    let settings = settings::Settings::resolve(&cli.global)?;
    match command {
        Command::Serve(args) => commands::serve::run(settings, args).await,
        Command::Client(cmd) => commands::client::run(settings, cmd).await,
        Command::User(cmd) => commands::user::run(settings, cmd).await,
        Command::Keys(cmd) => commands::keys::run(settings, cmd).await,
        Command::Link(cmd) => commands::link_admin::run(settings, cmd).await,
        Command::Transfer(cmd) => commands::transfer::run(cmd, &cli.global).await,
        Command::Data(cmd) => commands::data_export::run(settings, cmd).await,
    }
}
