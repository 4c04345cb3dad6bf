//! What a person sees on the terminal: colour only there (and never under `NO_COLOR`), log
//! set-up shared by the servers, and how to spell a `keyway` command back to the user.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Colour on stderr: only a terminal gets escape codes, and `NO_COLOR` (any non-empty value,
/// no-color.org) turns them off there too.
pub(crate) fn colour_on_stderr() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// Logs to stderr as `text` (coloured on a terminal) or `json` lines; `RUST_LOG` overrides
/// `default_filter`.
pub(crate) fn init_logging(format: &str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.with_ansi(colour_on_stderr()).try_init()
    };
}

/// How the user runs keyway, for the commands a message suggests: `cargo run --release --`
/// under cargo (with `--manifest-path` outside the checkout), `keyway` when it is found on the
/// PATH, else the path it was started by.
pub(crate) fn command_prefix() -> String {
    if let Some(package) = std::env::var_os("CARGO_MANIFEST_DIR") {
        // The package is crates/keyway; the workspace is two levels up.
        let root = std::path::Path::new(&package).join("../..");
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let inside = std::env::current_dir().is_ok_and(|cwd| cwd.starts_with(&root));
        return if inside {
            "cargo run --release --".into()
        } else {
            format!(
                "cargo run --release -q --manifest-path {}/Cargo.toml --",
                root.display()
            )
        };
    }
    let invoked = std::env::args_os()
        .next()
        .map(|arg| arg.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyway".into());
    if invoked.contains('/') {
        let on_path = which_keyway().zip(std::fs::canonicalize(&invoked).ok());
        match on_path {
            Some((found, started)) if found == started => "keyway".into(),
            _ => invoked,
        }
    } else {
        invoked
    }
}

/// The `keyway` the shell would run, if any.
fn which_keyway() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("keyway"))
        .find(|candidate| candidate.is_file())
        .and_then(|found| std::fs::canonicalize(found).ok())
}
