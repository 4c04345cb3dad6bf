//! Issue 18's "done when", with real parts: the sample apps of examples/handoff (Python)
//! against a hub, driven in headless Chromium (`interop/browser/handoff_walk.mjs`): alice
//! signs in at A and is handed to B with A's data; A calls B's API through the gateway; bob
//! gets the error page for alice's link; a handover carried to bob's browser is refused.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::harness::{Hub, free_port, repo_root, str_field};
use crate::interop::{
    available, browser_missing, chromium, interop_dir, python_missing, run_script,
};

const PASSWORD: &str = "handoff password 1";

/// A child process killed when the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a sample app; returns once it says it listens.
fn start_app(script: &str, env: &[(&str, &str)]) -> Running {
    let dir = repo_root().join("examples/handoff");
    let mut command = Command::new(crate::interop::python());
    command
        .arg(dir.join(script))
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn a sample app");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let ready = lines.any(|line| line.is_ok_and(|l| l.contains(" on http://")));
    assert!(ready, "{script} did not start");
    std::thread::spawn(move || lines.for_each(drop));
    running
}

#[test]
fn alice_is_handed_from_a_to_b_and_a_calls_b_through_the_gateway() {
    let name = "alice_is_handed_from_a_to_b_and_a_calls_b_through_the_gateway";
    if !available(name, browser_missing()) || !available(name, python_missing()) {
        return;
    }
    let hub = Hub::start();
    hub.create_user("alice", PASSWORD);
    hub.create_user("bob", PASSWORD);
    let (a_port, b_port) = (free_port(), free_port());
    let (a_url, b_url) = (
        format!("http://127.0.0.1:{a_port}"),
        format!("http://127.0.0.1:{b_port}"),
    );
    let a = hub.create_client(
        "Shop",
        &["authorization_code"],
        "openid contact.read",
        &["--redirect-uri", &format!("{a_url}/callback")],
    );
    let b = hub.create_client(
        "Orders",
        &["authorization_code"],
        "openid contact.read",
        &[
            "--redirect-uri",
            &format!("{b_url}/confirm"),
            "--transmit-url",
            &format!("{b_url}/from-a"),
            "--api-url",
            &format!("{b_url}/api"),
        ],
    );
    let (a_id, b_id) = (str_field(&a, "client_id"), str_field(&b, "client_id"));
    for (purpose, scope) in [
        ("transmit", "openid contact.read"),
        ("call", "contact.read"),
        ("exchange", "contact.read"),
    ] {
        hub.cli_json(&[
            "client", "allow", a_id, "--to", b_id, "--for", purpose, "--scope", scope,
        ]);
    }
    let _b = start_app(
        "app_b.py",
        &[
            ("KEYWAY_HUB_URL", &hub.url),
            ("B_CLIENT_ID", b_id),
            ("B_CLIENT_SECRET", str_field(&b, "client_secret")),
            ("B_PORT", &b_port.to_string()),
        ],
    );
    let _a = start_app(
        "app_a.py",
        &[
            ("KEYWAY_HUB_URL", &hub.url),
            ("A_CLIENT_ID", a_id),
            ("A_CLIENT_SECRET", str_field(&a, "client_secret")),
            ("A_PORT", &a_port.to_string()),
            ("B_CLIENT_ID", b_id),
        ],
    );
    let artifacts = std::env::var("KEYWAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/artifacts"))
        .join("browser-handoff");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let browser = interop_dir("browser");
    let mut command = Command::new("node");
    command
        .arg(browser.join("handoff_walk.mjs"))
        .current_dir(&browser);
    run_script(
        &hub,
        "browser/handoff_walk.mjs",
        &mut command,
        &[
            ("HANDOFF_A_URL", &a_url),
            ("HANDOFF_B_URL", &b_url),
            ("HANDOFF_A_ID", a_id),
            ("KEYWAY_PASSWORD", PASSWORD),
            ("KEYWAY_CHROMIUM", &chromium()),
            ("KEYWAY_ARTIFACTS", &artifacts.display().to_string()),
        ],
    );
    for shot in [
        "handoff-a-home.png",
        "handoff-consent.png",
        "handoff-b-home.png",
        "handoff-gateway.png",
        "handoff-wrong-person.png",
        "handoff-planted.png",
    ] {
        let size = std::fs::metadata(artifacts.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 1000, "screenshot {shot} missing or empty");
    }
    // What the operator sees: each step in the audit log (written within about a second).
    let expected = [
        "\"transmit\"",
        "\"gateway\"",
        "opened by another account, bob",
    ];
    let mut log = hub.cli_json(&["audit"]);
    for _ in 0..50 {
        if expected.iter().all(|e| log.to_string().contains(e)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        log = hub.cli_json(&["audit"]);
    }
    let text = log.to_string();
    for expected in expected {
        assert!(text.contains(expected), "audit lacks {expected}: {log}");
    }
}
