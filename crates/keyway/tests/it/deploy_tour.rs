//! docs/deploy.md's two "try it on one machine" walkthroughs, run as a reader pastes them:
//! every top-level ```sh block of "### Try it on one machine" (three nodes on PostgreSQL behind
//! HAProxy) and of "### A cluster with TLS on every hop" (the same with TLS on every hop), in
//! order, in one bash session, in a scratch directory holding deploy/. So the walkthroughs
//! cannot go stale.
//!
//! What differs from a person at a terminal: `keyway` is this build's binary; the databases
//! the walkthroughs create are dropped before and after; and the session ends by stopping
//! every job it started. The walkthroughs' ports (8080–8083, 8404, 8439–8443, 8405) are used
//! as printed: the test says so and stops if one is taken.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{BIN, repo_root, run_with_timeout};
use crate::interop::available;

const PORTS: [u16; 11] = [
    8080, 8081, 8082, 8083, 8404, 8405, 8439, 8440, 8441, 8442, 8443,
];
const DATABASES: [&str; 2] = ["keyway", "keyway_tls"];

/// The top-level ```sh blocks of the section headed `heading` (up to the next heading of the
/// same or a higher level).
fn section_blocks(doc: &str, heading: &str) -> Vec<String> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut blocks = Vec::new();
    let (mut inside, mut current): (bool, Option<String>) = (false, None);
    for line in doc.lines() {
        if current.is_none() && line.starts_with('#') {
            let this = line.chars().take_while(|c| *c == '#').count();
            if line == heading {
                inside = true;
                continue;
            }
            if inside && this <= level {
                break;
            }
        }
        if !inside {
            continue;
        }
        match current.take() {
            None if line == "```sh" => current = Some(String::new()),
            None => {}
            Some(block) if line == "```" => blocks.push(block),
            Some(mut block) => {
                block.push_str(line);
                block.push('\n');
                current = Some(block);
            }
        }
    }
    blocks
}

fn tool_missing(tools: &[&str]) -> Option<String> {
    tools.iter().find_map(|tool| {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        (!found).then(|| format!("{tool} is not installed"))
    })
}

fn drop_databases() {
    for name in DATABASES {
        let _ = Command::new("dropdb")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "--if-exists",
                "--force",
                name,
            ])
            .output();
    }
}

#[test]
fn the_deploy_walkthroughs_run_as_pasted() {
    if !available(
        "deploy_tour::the_deploy_walkthroughs_run_as_pasted",
        tool_missing(&[
            "haproxy", "createdb", "dropdb", "curl", "openssl", "python3",
        ]),
    ) {
        return;
    }
    if std::env::var("KEYWAY_TEST_POSTGRES_URL").is_err() {
        keyway_kernel::report_skip(
            "deploy_tour",
            "KEYWAY_TEST_POSTGRES_URL is not set (the walkthroughs need PostgreSQL on 127.0.0.1)",
            ".ci/run sets it",
        );
        return;
    }
    for port in PORTS {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port}, which docs/deploy.md's walkthroughs use, is taken on this machine"
        );
    }
    let doc = std::fs::read_to_string(repo_root().join("docs/deploy.md")).expect("deploy.md");
    let plain = section_blocks(&doc, "### Try it on one machine");
    let tls = section_blocks(&doc, "### A cluster with TLS on every hop");
    assert_eq!(
        plain.len(),
        2,
        "the plain walkthrough's blocks changed: {plain:?}"
    );
    assert_eq!(
        tls.len(),
        4,
        "the TLS walkthrough's blocks changed: {tls:?}"
    );

    let dir = tempfile::tempdir().expect("scratch dir");
    copy_dir(&repo_root().join("deploy"), &dir.path().join("deploy"));
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    std::os::unix::fs::symlink(BIN, bin.join("keyway")).expect("link keyway");
    let mut script =
        String::from("trap 'exit 1' TERM INT\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n");
    for block in plain.iter().chain(&tls) {
        script.push_str(block);
        script.push_str("echo '--- end of block ---'\n");
    }
    // The renewal's reload is seen within the 2 s the nodes look at their files.
    script.push_str("sleep 3\n");
    drop_databases();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = Command::new("timeout");
    bash.args(["-k", "5", "240", "bash", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("KEYWAY_DATABASE")
        .env_remove("KEYWAY_DATA_DIR")
        .env_remove("KEYWAY_ISSUER");
    let (status, output) = run_with_timeout(&mut bash, Duration::from_secs(300));
    drop_databases();
    let logs = || {
        let mut all = String::new();
        for sub in ["cluster", "cluster/tls"] {
            for n in 1..=3 {
                let log = dir.path().join(sub).join(format!("node{n}.log"));
                if let Ok(text) = std::fs::read_to_string(&log) {
                    all.push_str(&format!("--- {} ---\n{text}\n", log.display()));
                }
            }
        }
        all
    };
    assert_eq!(
        output.matches("--- end of block ---").count(),
        6,
        "a block did not finish ({status:?}):\n{output}\n{}",
        logs()
    );
    // What the walkthroughs' comments promise.
    for node in ["node1", "node2", "node3"] {
        assert!(
            output.matches(&format!("\"node\":\"{node}\"")).count() >= 2,
            "readyz through both balancers names {node}:\n{output}"
        );
    }
    assert_eq!(
        output.matches("\"active\":true").count(),
        6,
        "a token is active at every node of both clusters:\n{output}"
    );
    assert!(output.contains("HTTP/2 200"), "{output}");
    let logs_now = logs();
    assert_eq!(
        logs_now.matches("TLS certificate reloaded").count(),
        3,
        "every TLS node reloads the renewed certificate:\n{logs_now}"
    );
    assert!(
        output
            .to_ascii_lowercase()
            .contains("location: https://127.0.0.1:8440/healthz"),
        "{output}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}
