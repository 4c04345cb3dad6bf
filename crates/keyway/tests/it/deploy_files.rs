//! The files in deploy/ as shipped: the systemd unit passes `systemd-analyze verify` (with
//! this build's binary in place of /usr/local/bin/keyway) and HAProxy accepts its
//! configuration (`haproxy -c`). Missing tools skip, or fail under KEYWAY_REQUIRE_INTEROP=1.

use std::process::Command;

use crate::harness::{BIN, repo_root};
use crate::interop::available;

fn tool_missing(tool: &str, args: &[&str]) -> Option<String> {
    let found = Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success());
    (!found).then(|| format!("{tool} is not installed"))
}

#[test]
fn the_systemd_unit_verifies() {
    let missing = tool_missing("systemd-analyze", &["--version"]);
    if !available("deploy_files::the_systemd_unit_verifies", missing) {
        return;
    }
    let shipped = std::fs::read_to_string(repo_root().join("deploy/keyway.service")).unwrap();
    assert!(shipped.contains("ExecStart=/usr/local/bin/keyway serve"));
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("keyway.service");
    std::fs::write(&unit, shipped.replace("/usr/local/bin/keyway", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}

#[test]
fn haproxy_accepts_the_shipped_configuration() {
    if !available(
        "deploy_files::haproxy_accepts_the_shipped_configuration",
        tool_missing("haproxy", &["-v"]),
    ) {
        return;
    }
    let out = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(repo_root().join("deploy/haproxy.cfg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
