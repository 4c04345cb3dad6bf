//! The README's tour, run as a reader would paste it: every ```sh block of the "A tour" section,
//! in order, in one bash session, in a scratch directory, against a fresh hub. So the README
//! cannot go stale.
//!
//! Three things differ from a person at two terminals, each said here:
//! - the block tagged `sh tour-hub` (terminal 1) is not pasted: the test starts the same
//!   `keyway serve --schemas examples/crm/schemas.yaml` in the same directory itself;
//! - the block tagged `sh tour-browser` (the code copied from the address bar) is replaced by
//!   the test signing in as alice over HTTP, as the browser would, and setting `CODE`;
//! - the hub, the transfer server and the two toki services listen on free ports instead of
//!   8080, 7422, 7001 and 7002 (every `127.0.0.1:PORT` of the tour is replaced), and
//!   `cargo run` runs the binaries this test build made.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::harness::{BIN, free_port, keyway, poll, repo_root};

/// A fenced block of a document: its info string's tag (after `sh`) and its text.
pub(crate) struct Block {
    pub(crate) tag: String,
    pub(crate) text: String,
    pub(crate) line: usize,
}

/// The fenced code blocks of the README's "A tour" section.
fn tour_blocks(readme: &str) -> Vec<Block> {
    section_blocks(readme, "## A tour")
}

/// The fenced `sh` blocks of the section of `text` headed `heading` (up to the next `## `).
pub(crate) fn section_blocks(text: &str, heading: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut in_tour = false;
    let mut current: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        if current.is_none() && line.starts_with("## ") {
            in_tour = line == heading;
            continue;
        }
        if !in_tour {
            continue;
        }
        match current.take() {
            None => {
                if let Some(info) = line.strip_prefix("```")
                    && let Some(tag) = info.strip_prefix("sh")
                {
                    current = Some(Block {
                        tag: tag.trim().to_string(),
                        text: String::new(),
                        line: n + 1,
                    });
                } else if line.starts_with("```") {
                    // Another language (the Python snippet): shown, not run.
                    current = Some(Block {
                        tag: "not-sh".into(),
                        text: String::new(),
                        line: n + 1,
                    });
                }
            }
            Some(mut block) => {
                if line.starts_with("```") {
                    blocks.push(block);
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                    current = Some(block);
                }
            }
        }
    }
    blocks.retain(|b| b.tag != "not-sh");
    blocks
}

/// One bash session fed block by block; stdout and stderr are one stream.
pub(crate) struct Shell {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

const DONE: &str = "__TOUR_BLOCK_DONE__";

impl Shell {
    pub(crate) fn start(dir: &Path, path: &str) -> Shell {
        let mut child = Command::new("bash")
            .args(["--norc", "--noprofile"])
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", dir)
            .env_remove("KEYWAY_DATA_DIR")
            .env_remove("KEYWAY_CONFIG")
            .env_remove("KEYWAY_DATABASE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Shell {
            child,
            stdin,
            lines,
        }
    }

    /// Runs `script`; its exit status and everything it printed.
    /// Runs `script`, the block at `place` of a document, as pasted: it and its output go to
    /// `transcript`, its output to `printed`; a block that fails fails the test, showing the
    /// transcript so far.
    pub(crate) fn paste(
        &mut self,
        script: &str,
        place: &str,
        timeout: Duration,
        transcript: &mut String,
        printed: &mut String,
    ) {
        let (status, output) = self.run(script, timeout);
        transcript.push_str(&format!("--- {place} ---\n{script}\n>>>\n{output}"));
        printed.push_str(&output);
        assert_eq!(status, 0, "the block at {place} failed:\n{transcript}");
    }

    pub(crate) fn run(&mut self, script: &str, timeout: Duration) -> (i32, String) {
        write!(self.stdin, "{script}\nprintf '\\n{DONE} %d\\n' $?\n").expect("write to bash");
        self.stdin.flush().expect("flush");
        let deadline = std::time::Instant::now() + timeout;
        let mut output = String::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(status) = line.strip_prefix(DONE) {
                        return (status.trim().parse().unwrap_or(-1), output);
                    }
                    output.push_str(&line);
                    output.push('\n');
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return (
                        -1,
                        format!("{output}(the shell exited: a command failed under set -e)\n"),
                    );
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the block did not finish within {timeout:?}; it printed:\n{output}")
                }
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        // The tour's background services: whatever the shell still runs.
        let _ = writeln!(self.stdin, "kill $(jobs -p) 2>/dev/null; exit");
        let _ = self.stdin.flush();
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of stand-ins put first on the PATH: `cargo run … -- ARGS` runs this build's
/// `keyway`, `cargo run … --example NAME` this build's example; both `exec`, so that `$!` and
/// `kill` reach the program itself, as with cargo.
fn stand_ins(dir: &Path, examples: &Path) -> PathBuf {
    let bin = dir.join(".tour-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        r#"#!/usr/bin/env bash
# Stand-in for `cargo run` in the README tour test.
example=""
while [ $# -gt 0 ]; do
  case "$1" in
    --example) example="$2"; shift 2 ;;
    --) shift; break ;;
    *) shift ;;
  esac
done
if [ -n "$example" ]; then exec "{examples}/$example" "$@"; fi
exec "{keyway}" "$@"
"#,
        examples = examples.display(),
        keyway = BIN
    );
    let path = bin.join("cargo");
    std::fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Where this build's examples are (built by `cargo test --workspace`; built here when this
/// test runs alone).
fn examples_dir() -> PathBuf {
    let dir = Path::new(BIN).parent().unwrap().join("examples");
    let wanted = ["toki-orders", "toki-ledger"];
    if wanted.iter().all(|name| dir.join(name).is_file()) {
        return dir;
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "-q",
            "-p",
            "keyway-toki-http",
            "--example",
            "toki-orders",
            "--example",
            "toki-ledger",
        ])
        .current_dir(repo_root())
        .status()
        .expect("cargo build the examples");
    assert!(status.success(), "cannot build the toki examples");
    dir
}

/// Signs in as `username` and allows, as a browser does; the `code` of the redirect. `hub` is
/// where the forms are posted (a load balancer may send each step to another node).
pub(crate) fn browser_sign_in(
    hub: &str,
    authorize: &str,
    username: &str,
    password: &str,
) -> String {
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: Vec<String> = Vec::new();
    let remember = |cookies: &mut Vec<String>, response: &reqwest::blocking::Response| {
        for value in response.headers().get_all("set-cookie") {
            let pair = value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            let name = pair.split('=').next().unwrap().to_string();
            cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            cookies.push(pair);
        }
    };
    let field = |html: &str, name: &str| -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in:\n{html}"))
            + marker.len();
        html[start..].split('"').next().unwrap().to_string()
    };
    let login = http.get(authorize).send().unwrap();
    remember(&mut cookies, &login);
    let login = login.text().unwrap();
    let consent = http
        .post(format!("{hub}/oauth2/login"))
        .header("cookie", cookies.join("; "))
        .form(&[
            ("request_id", field(&login, "request_id")),
            ("csrf", field(&login, "csrf")),
            ("username", username.into()),
            ("password", password.into()),
        ])
        .send()
        .unwrap();
    remember(&mut cookies, &consent);
    let consent = consent.text().unwrap();
    let allowed = http
        .post(format!("{hub}/oauth2/consent"))
        .header("cookie", cookies.join("; "))
        .form(&[
            ("request_id", field(&consent, "request_id")),
            ("csrf", field(&consent, "csrf")),
            ("decision", "allow".into()),
        ])
        .send()
        .unwrap();
    let location = allowed.headers()["location"].to_str().unwrap().to_string();
    location
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap_or_else(|| panic!("no code in {location}"))
        .to_string()
}

/// `keyway serve` on 127.0.0.1:`port` with `args`, its store in `dir` (as a reader's hub in
/// that directory), once it answers `/readyz`.
pub(crate) fn serve_in(dir: &Path, port: u16, args: &[&std::ffi::OsStr]) -> Child {
    let hub = keyway()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    assert!(poll(Duration::from_secs(20), || {
        http.get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .is_ok_and(|r| r.status() == 200)
    }));
    hub
}

/// Tools the tour needs besides keyway: a missing one skips (or fails under
/// KEYWAY_REQUIRE_INTEROP=1, as in CI).
/// Which of the shell tools the doc examples use (bash, curl, jq) are missing.
pub(crate) fn missing_tools() -> Option<String> {
    let missing: Vec<&str> = ["bash", "curl", "jq"]
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    (!missing.is_empty()).then(|| format!("{} not installed", missing.join(", ")))
}

#[test]
fn the_readme_tour_runs_as_pasted() {
    if !crate::interop::available("the_readme_tour_runs_as_pasted", missing_tools()) {
        return;
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let blocks = tour_blocks(&readme);
    assert!(
        blocks.len() >= 10,
        "the tour has {} sh blocks",
        blocks.len()
    );

    // The reader's checkout and terminal 2's scratch directory (the tour's /tmp/keyway-tour).
    let scratch = tempfile::tempdir().unwrap();
    let tour_dir = scratch.path().join("keyway-tour");
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let ports: Vec<(String, String)> = [7422, 7001, 7002]
        .into_iter()
        .map(|fixed| {
            (
                format!("127.0.0.1:{fixed}"),
                format!("127.0.0.1:{}", free_port()),
            )
        })
        .collect();
    let adapt = |text: &str| {
        let mut text = text
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace("/tmp/keyway-tour", &tour_dir.display().to_string());
        for (fixed, free) in &ports {
            text = text.replace(fixed, free);
        }
        text
    };

    // Terminal 1: the hub, as the tour-hub block starts it, in the same directory.
    let hub_block = blocks
        .iter()
        .find(|b| b.tag == "tour-hub")
        .expect("a tour-hub block");
    assert!(
        hub_block
            .text
            .contains("kw serve --schemas \"$KEYWAY_SRC/examples/crm/schemas.yaml\""),
        "the test starts the hub as README line {} does; keep them in step",
        hub_block.line
    );
    std::fs::create_dir_all(&tour_dir).unwrap();
    let schemas = repo_root().join("examples/crm/schemas.yaml");
    let mut hub = serve_in(
        &tour_dir,
        port,
        &["--schemas".as_ref(), schemas.as_os_str()],
    );

    let bin = stand_ins(scratch.path(), &examples_dir());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell = Shell::start(&repo_root(), &path);
    let (status, out) = shell.run(
        "shopt -s expand_aliases; set -e; exec 2>&1",
        Duration::from_secs(5),
    );
    assert_eq!(status, 0, "{out}");

    let mut transcript = String::new();
    // Only what the commands printed: the expectations below must not match the README's text.
    let mut printed = String::new();
    for block in blocks.iter().filter(|b| b.tag != "tour-hub") {
        let script = if block.tag == "tour-browser" {
            let (_, webapp) = shell.run("echo \"$WEBAPP_ID\"", Duration::from_secs(5));
            let authorize = format!(
                "{hub_url}/oauth2/authorize?response_type=code&client_id={}&redirect_uri=http://127.0.0.1:3000/callback&scope=openid%20profile.read&state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
                webapp.trim()
            );
            format!(
                "CODE='{}'",
                browser_sign_in(&hub_url, &authorize, "alice", "correct horse battery")
            )
        } else {
            adapt(&block.text)
        };
        let place = format!("README line {}", block.line);
        let timeout = Duration::from_secs(120);
        shell.paste(&script, &place, timeout, &mut transcript, &mut printed);
    }
    drop(shell);
    // KEYWAY_TOUR_TRANSCRIPT=FILE keeps what a reader would see, to check the README by eye.
    if let Ok(file) = std::env::var("KEYWAY_TOUR_TRANSCRIPT") {
        std::fs::write(file, &transcript).unwrap();
    }
    let _ = hub.kill();
    let _ = hub.wait();

    // What the reader is told to expect, step by step.
    for expected in [
        "\"scope\": \"invoices.read\"", // 1. a client_credentials token
        "not meant for this hub",       // 1. a token for another audience
        "\"active\": true",             // 2. introspection
        "\"invalid_grant\"",            // 3. the revoked refresh token
        "orders → ledger: ",            // 4. the activity edges, by name
        "copy.csv is identical",        // 6. transfer
        "1003",                         // 7. the rejected row
        "\"lastName\": \"Lee\"",        // 8. the data API
    ] {
        assert!(
            printed.contains(expected),
            "no {expected:?} in the tour's output:\n{transcript}"
        );
    }
}
