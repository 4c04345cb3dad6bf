//! The command lines in README.md, docs/*.md and examples/*/README.md parse with this binary's definitions: every
//! `keyway …` or `kw …` line of a `sh` or `console` block, and every option named in its
//! `[optional]` parts exists on that command. So the docs cannot name a flag that is gone.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};

use crate::cli::Cli;

/// Shell words of one command line, quotes removed; `$VAR` stays as it is (a value).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// The keyway command lines of a markdown file: (line number, text), continuations joined,
/// prompts, comments and anything after a pipe, redirection or `&&` cut off.
fn command_lines(markdown: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_block = false;
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in markdown.lines().enumerate() {
        if let Some(info) = raw.strip_prefix("```") {
            in_block = !in_block && (info.starts_with("sh") || info.starts_with("console"));
            continue;
        }
        if !in_block {
            continue;
        }
        let (start, mut text) = match pending.take() {
            Some((start, text)) => (start, format!("{text} {}", raw.trim())),
            None => (n + 1, raw.trim().trim_start_matches("$ ").to_string()),
        };
        if let Some(rest) = text.strip_suffix('\\') {
            pending = Some((start, rest.to_string()));
            continue;
        }
        text.truncate(end_of_command(&text));
        let text = text.trim();
        let command = text
            .strip_prefix("kw ")
            .or_else(|| text.strip_prefix("keyway "))
            .or_else(|| {
                text.strip_prefix("eval \"$(kw ")
                    .map(|t| t.trim_end_matches(")\""))
            });
        if let Some(command) = command {
            found.push((start, command.to_string()));
        }
    }
    found
}

/// Where the keyway command of a shell line ends: at a comment, pipe, redirection, `&&`, `;`
/// or `&` outside quotes and outside a synopsis's `[…]` (where `|` separates alternatives).
fn end_of_command(line: &str) -> usize {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (at, ch) in line.char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(ch),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '#') if previous.is_whitespace() => return at,
            (None, '|' | '>' | '<' | ';' | '&') if depth == 0 => return at,
            _ => {}
        }
        previous = ch;
    }
    line.len()
}

/// Removes `[…]` groups (nested), returning the rest and the options named inside them.
fn split_optional(command: &str) -> (String, Vec<String>) {
    let mut kept = String::new();
    let mut inside = String::new();
    let mut depth = 0usize;
    for ch in command.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if depth > 0 => inside.push(c),
            c => kept.push(c),
        }
        if depth > 0 && ch == '[' {
            inside.push(' ');
        }
    }
    let optional = inside
        .split(|c: char| c.is_whitespace() || c == '|' || c == '=')
        .filter(|w| w.starts_with("--"))
        .map(str::to_string)
        .collect();
    (kept, optional)
}

/// The clap command at the end of the subcommand names in `args`.
fn subcommand_of<'a>(root: &'a clap::Command, args: &[String]) -> &'a clap::Command {
    let mut command = root;
    for arg in args {
        match command.find_subcommand(arg) {
            Some(sub) => command = sub,
            None if arg.starts_with('-') => continue,
            None => break,
        }
    }
    command
}

fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    if let Ok(entries) = std::fs::read_dir(root.join("docs")) {
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    // The examples' READMEs (examples/handoff/README.md) are instructions people paste too.
    if let Ok(entries) = std::fs::read_dir(root.join("examples")) {
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("README.md"))
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

#[test]
fn every_documented_command_line_parses() {
    let mut root = Cli::command();
    root.build();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, command) in command_lines(&text) {
            let (required, optional) = split_optional(&command);
            let args: Vec<String> = words(&required)
                .into_iter()
                .filter(|w| w != "…" && w != "...")
                .collect();
            let mut argv = vec!["keyway".to_string()];
            argv.extend(args.iter().cloned());
            let place = format!("{}:{line}: keyway {command}", file.display());
            if let Err(err) = Cli::try_parse_from(&argv) {
                failures.push(format!(
                    "{place}\n  {}",
                    err.render().to_string().lines().next().unwrap_or("")
                ));
                continue;
            }
            let command = subcommand_of(&root, &args);
            for option in optional {
                let name = option.trim_start_matches("--");
                if !command.get_arguments().any(|a| a.get_long() == Some(name)) {
                    failures.push(format!(
                        "{place}\n  no option {option} on `{}`",
                        command.get_name()
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 40,
        "only {checked} command lines found in the docs"
    );
    assert!(
        failures.is_empty(),
        "documented command lines that do not parse:\n{}",
        failures.join("\n")
    );
}

#[test]
fn command_lines_are_found_and_split_like_a_shell() {
    let doc = "```sh\nkw client create --name \"a b\" \\\n   --grant x   # note\nls\n```\n\
               ```console\n$ keyway data export C --filter \"s eq 'x'\" > out\n```\n";
    let lines = command_lines(doc);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        words(&lines[0].1),
        ["client", "create", "--name", "a b", "--grant", "x"]
    );
    assert_eq!(
        words(&lines[1].1),
        ["data", "export", "C", "--filter", "s eq 'x'"]
    );
    let (kept, optional) =
        split_optional("link hash --input a [--rules R] [--salt S | --secret-file F]");
    assert_eq!(
        kept.split_whitespace().collect::<Vec<_>>(),
        ["link", "hash", "--input", "a"]
    );
    assert_eq!(optional, ["--rules", "--salt", "--secret-file"]);
}
