//! `/activity` in headless Chromium (playwright-core from crates/keyway/tests/interop/browser,
//! the system Chromium): the graph draws the reported edges, updates within a second, lists
//! failures; a screenshot goes to tests/artifacts/browser/activity.png. The graph's layout
//! (`app.js`) also runs in node alone (`activity_layout.mjs`). Missing tools skip with a
//! notice, unless KEYWAY_REQUIRE_INTEROP=1, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::TestHub;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> String {
    std::env::var("KEYWAY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn browser_dir() -> PathBuf {
    repo_root().join("crates/keyway/tests/interop/browser")
}

fn node_missing() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    (!node.is_ok_and(|out| out.status.success())).then(|| "node is not installed".into())
}

fn missing() -> Option<String> {
    if let Some(missing) = node_missing() {
        return Some(missing);
    }
    let module = browser_dir().join("node_modules/playwright-core");
    if !module.is_dir() {
        return Some(format!("{} is missing (npm ci)", module.display()));
    }
    let chromium = chromium();
    (!Path::new(&chromium).exists()).then(|| format!("{chromium} is missing"))
}

pub(crate) async fn screenshot(hub: &TestHub, caller: &str, callee: &str) {
    if let Some(missing) = missing() {
        keyway_kernel::report_skip(
            "activity page in Chromium",
            &missing,
            "run scripts/install-test-deps.sh",
        );
        return;
    }
    let session = crate::activity::session_cookie(hub).await;
    let artifacts = std::env::var("KEYWAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/artifacts"))
        .join("browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("activity.png");
    let _ = std::fs::remove_file(&shot);
    let mut command = tokio::process::Command::new("node");
    command
        .arg(browser_dir().join("activity.mjs"))
        .current_dir(browser_dir())
        .env("KEYWAY_HUB_URL", &hub.base)
        .env("KEYWAY_SESSION", &session)
        .env("KEYWAY_EDGE", format!("{caller}->{callee}"))
        .env("KEYWAY_CHROMIUM", chromium())
        .env("KEYWAY_ARTIFACTS", &artifacts)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("activity.mjs timed out")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("--- browser/activity.mjs ---\n{text}");
    assert!(output.status.success(), "activity.mjs failed:\n{text}");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 1000,
        "screenshot {} missing or empty",
        shot.display()
    );
}

/// The graph's layout in node: edge labels say calls and p99, no two labels overlap each other
/// or a node, the circle grows with the number of nodes (tests/it/activity_layout.mjs).
#[test]
fn activity_layout() {
    if let Some(missing) = node_missing() {
        if std::env::var("KEYWAY_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("activity layout: {missing}, and KEYWAY_REQUIRE_INTEROP=1");
        }
        eprintln!("SKIPPED: activity layout in node: {missing}");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/activity_layout.mjs");
    let output = Command::new("node").arg(&script).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("--- activity_layout.mjs ---\n{text}");
    assert!(
        output.status.success(),
        "activity_layout.mjs failed:\n{text}"
    );
}

/// Client names are chosen by whoever registers a client: the script only ever sets text.
#[test]
fn the_script_never_writes_html() {
    let script = include_str!("../../src/activity/app.js");
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ] {
        assert!(!script.contains(sink), "app.js uses {sink}");
    }
    assert!(script.contains("textContent"));
}
