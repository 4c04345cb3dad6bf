//! docs/oauth.md "Between applications", run as a reader would paste it: every ```sh block of
//! the section, in order, in one bash session, in the directory of a fresh hub's store. So the
//! examples of the rules, token exchange, transmit, the gateway and the audit log cannot go
//! stale. As in the README tour's test, fixed ports are replaced by free ones (the hub's
//! 8080 and app B's API at 9002, where a small HTTP server stands in for B), and the audit
//! log is read a moment after the calls, as a reader would.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{BIN, free_port, repo_root};
use crate::readme_tour::{Shell, missing_tools, section_blocks, serve_in};

const SECTION: &str = "## Between applications: rules, token exchange, audit";

/// App B's API: answers every request with `{"answered_by":"app-b","request":"<its line>"}`.
fn app_b_api() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 65_536 {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head);
            let line = text.lines().next().unwrap_or_default().replace('"', "'");
            let body = format!("{{\"answered_by\":\"app-b\",\"request\":\"{line}\"}}");
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

fn openssl_missing() -> Option<String> {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!found).then(|| "openssl not installed".to_string())
}

#[test]
fn the_between_applications_examples_run_as_pasted() {
    let missing = missing_tools().or_else(openssl_missing);
    if !crate::interop::available("the_between_applications_examples_run_as_pasted", missing) {
        return;
    }
    let doc = std::fs::read_to_string(repo_root().join("docs/oauth.md")).unwrap();
    let blocks = section_blocks(&doc, SECTION);
    assert!(
        blocks.len() >= 6,
        "the section has {} sh blocks",
        blocks.len()
    );

    let scratch = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let api_port = app_b_api();
    let adapt = |text: &str| {
        text.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.1:9002", &format!("127.0.0.1:{api_port}"))
    };
    let mut hub = serve_in(scratch.path(), port, &[]);

    // `keyway` on the PATH is this build's.
    let bin = scratch.path().join(".docs-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("keyway")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell = Shell::start(scratch.path(), &path);
    let (status, out) = shell.run(
        &format!("set -e; exec 2>&1; HUB={hub_url}"),
        Duration::from_secs(5),
    );
    assert_eq!(status, 0, "{out}");

    let mut transcript = String::new();
    let mut printed = String::new();
    for block in &blocks {
        if block.text.starts_with("keyway audit") {
            // A reader reaches it later than a script: the hub writes decisions to the log
            // once a second ("an entry shows up within about a second").
            std::thread::sleep(Duration::from_millis(1_500));
        }
        let script = adapt(&block.text);
        let place = format!("docs/oauth.md line {}", block.line);
        let timeout = Duration::from_secs(60);
        shell.paste(&script, &place, timeout, &mut transcript, &mut printed);
    }
    drop(shell);
    let _ = hub.kill();
    let _ = hub.wait();

    for expected in [
        "may exchange tokens for app-b",                 // the rule
        "urn:ietf:params:oauth:token-type:access_token", // the exchanged token
        "\"answered_by\":\"app-b\"",                     // the gateway reached B's API
        "GET /api/v1/contacts?status=open",              // with the path and query under its URL
        "\"action\": \"exchange\"",                      // the audit log
    ] {
        assert!(
            printed.contains(expected),
            "no {expected:?} in the examples' output:\n{transcript}"
        );
    }
}
