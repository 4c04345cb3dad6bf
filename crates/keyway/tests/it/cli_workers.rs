//! `keyway serve --workers`: the connection threads it starts, and the counts it refuses.

use crate::cli_misc::{serve_with_config, text};
use crate::harness::keyway;

/// `--workers N` starts N connection threads (`keyway-http-0`…, as `top -H` shows them);
/// 0 is refused by the flag and by keyway.toml, each naming where it came from.
#[test]
fn serve_starts_the_workers_asked_for_and_refuses_zero() {
    let hub = crate::harness::Hub::start_with(&["--workers", "3"]);
    let status = hub.http.get(hub.endpoint("/healthz")).send().unwrap();
    assert_eq!(status.status(), 200);
    let tasks = std::fs::read_dir(format!("/proc/{}/task", hub.pid())).unwrap();
    let mut workers: Vec<String> = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("keyway-http-"))
        .collect();
    workers.sort();
    assert_eq!(workers, ["keyway-http-0", "keyway-http-1", "keyway-http-2"]);
    drop(hub);

    let dir = tempfile::tempdir().unwrap();
    let flag = keyway()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(flag.status.code(), Some(2), "{}", text(&flag));
    assert!(text(&flag).contains("--workers"), "{}", text(&flag));

    let file = serve_with_config(dir.path(), "workers = 70000\n");
    assert_eq!(file.status.code(), Some(1), "{}", text(&file));
    assert!(
        !dir.path().join("data").exists(),
        "a refused setting leaves no data directory behind"
    );

    // Workers that cannot all start (here: out of open files) stop serve with the reason,
    // before it says it listens (it used to serve on the few that started, or none).
    let mut starved = std::process::Command::new("sh");
    starved.args(["-c", "ulimit -n 100 && exec \"$0\" \"$@\""]);
    starved
        .arg(crate::harness::BIN)
        .arg("--data-dir")
        .arg(dir.path().join("starved"))
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "200"]);
    for var in crate::harness::KEYWAY_VARS {
        starved.env_remove(var);
    }
    let starved = starved.output().unwrap();
    assert_eq!(starved.status.code(), Some(1), "{}", text(&starved));
    let said = text(&starved);
    assert!(
        said.contains("cannot start connection worker")
            && said.contains("of 200: Too many open files"),
        "{said}"
    );
    assert!(!said.contains("listening"), "{said}");
    assert!(
        text(&file).contains("keyway.toml workers = 70000: give 1 to 256 threads"),
        "{}",
        text(&file)
    );
}
