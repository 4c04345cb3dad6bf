//! `keyway`: the hub and its admin CLI. Parses, wires configuration into the hub, prints.

mod cli;
mod cli_backup;
#[cfg(test)]
mod cli_doc_examples;
mod cli_keys;
mod cli_link;
mod cli_serve;
mod cli_users;
mod commands;
mod settings;
mod terminal;

use clap::Parser;

use crate::cli::{Cli, Command};

// The hub allocates and frees millions of small strings per linked batch; glibc's allocator
// spent a quarter of the linker's CPU consolidating them (perf, 2026-12-02).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `keyway client list | head -1`: a reader that goes away ends the command quietly, as in
    // every Unix tool, instead of a "failed printing to stdout" panic. Commands that hold
    // network connections keep ignoring SIGPIPE: a peer closing a socket must be an error they
    // explain, not a silent death (tokio's socket writes raise the signal).
    if !cli.command.uses_network() {
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
            eprintln!("warning: {}", describe(&err));
            std::process::ExitCode::from(3)
        }
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: many errors already include their
/// cause's text, which `{:#}` would print again ("Broken pipe: Broken pipe").
fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (store, log) = cli.command.store_args();
    let global = cli.global.with(store, log);
    // Offline partner-side commands need no hub settings.
    let command = match cli.command {
        Command::Link(cmd) if cmd.is_offline() => return commands::link::run(cmd).await,
        Command::Transfer(cmd) => return commands::transfer::run(cmd, &global).await,
        Command::Data(cmd) if cmd.is_offline() => return commands::data::run(cmd),
        Command::Completions { shell } => {
            commands::shell_help::completions(shell);
            return Ok(());
        }
        Command::Man { out_dir } => return commands::shell_help::man(out_dir.as_deref()),
        other => other,
    };
    let settings = settings::Settings::resolve(&global)?;
    match command {
        Command::Serve(args) => commands::serve::run(settings, args).await,
        Command::Client(admin) => commands::client::run(settings, admin.command).await,
        Command::User(admin) => commands::user::run(settings, admin.command).await,
        Command::Group(admin) => commands::group::run(settings, admin.command).await,
        Command::Keys(admin) => commands::keys::run(settings, admin.command).await,
        Command::Audit { args, .. } => commands::audit::run(settings, args).await,
        Command::Backup(args) => commands::backup::backup(settings, args).await,
        Command::Restore(args) => commands::restore::restore(settings, args).await,
        Command::Link(cmd) => commands::link_admin::run(settings, cmd).await,
        Command::Transfer(cmd) => commands::transfer::run(cmd, &global).await,
        Command::Data(cmd) => commands::data_export::run(settings, cmd).await,
        Command::Completions { .. } | Command::Man { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn causes_already_in_the_message_are_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let text = io.to_string();
        let err = anyhow::Error::new(io).context(format!("I/O: {text}"));
        assert_eq!(describe(&err), format!("I/O: {text}"));
        let err = anyhow::anyhow!("disk full").context("cannot write out.csv");
        assert_eq!(describe(&err), "cannot write out.csv: disk full");
    }
}
