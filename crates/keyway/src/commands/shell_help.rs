//! `keyway completions SHELL` and `keyway man`: generated from the same command definitions
//! as `--help`, so they cannot drift from what the binary accepts.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script for `shell` on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "keyway", &mut std::io::stdout());
}

/// Writes one man page per command into `out_dir` (keyway.1, keyway-client-create.1, …), or
/// the top page on stdout.
pub(crate) fn man(out_dir: Option<&Path>) -> anyhow::Result<()> {
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
            let count = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "1"))
                        .count()
                })
                .unwrap_or(0);
            eprintln!(
                "wrote {count} man pages into {}; read one with: man -l {}",
                dir.display(),
                dir.join("keyway.1").display()
            );
            Ok(())
        }
        None => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the man page")?;
            Ok(())
        }
    }
}
