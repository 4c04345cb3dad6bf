//! `keyway user …`, refused inputs, `--help` everywhere, and stopping the hub with SIGTERM.

use std::process::Output;

use serde_json::Value;

use crate::harness::{Hub, keyway, str_field};
use crate::oauth::get_json;

pub(crate) fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn usernames(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("user list is not an array: {list}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn user_create_list_delete() {
    let hub = Hub::start();
    let alice = hub.create_user("alice", "correct horse battery");
    assert_eq!(alice["username"], "alice");
    assert!(!str_field(&alice, "user_id").is_empty());
    assert!(
        !alice.to_string().contains("correct horse"),
        "the password must not be echoed: {alice}"
    );
    hub.create_user("bob", "another-password");
    let listed = hub.cli_json(&["user", "list"]);
    assert_eq!(usernames(&listed).len(), 2, "{listed}");
    assert!(usernames(&listed).contains(&"alice"), "{listed}");

    let duplicate = hub.cli_with_stdin(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password-stdin",
            "--json",
        ],
        "yet another password\n",
    );
    assert!(
        !duplicate.status.success(),
        "a duplicate username must fail: {}",
        text(&duplicate)
    );

    let short = hub.cli_with_stdin(
        &["user", "create", "--username", "carol", "--password-stdin"],
        "short\n",
    );
    assert!(!short.status.success(), "a 5-character password must fail");
    assert!(
        String::from_utf8_lossy(&short.stderr).contains('8'),
        "the refusal should say the minimum length: {}",
        text(&short)
    );

    let deleted = hub.cli_json(&["user", "delete", "alice"]);
    assert_eq!(deleted["deleted"], "alice");
    let listed = hub.cli_json(&["user", "list"]);
    assert_eq!(usernames(&listed), vec!["bob"], "{listed}");
    let again = hub.cli(&["user", "delete", "alice"]);
    assert!(
        !again.status.success(),
        "deleting a missing user must fail: {}",
        text(&again)
    );
}

#[test]
fn unknown_grant_and_other_bad_inputs_are_refused() {
    let hub = Hub::start();
    let password = hub.cli(&[
        "client", "create", "--name", "legacy", "--grant", "password", "--scope", "read", "--json",
    ]);
    assert!(
        !password.status.success(),
        "the password grant must be refused: {}",
        text(&password)
    );
    let stderr = String::from_utf8_lossy(&password.stderr);
    assert!(
        stderr.contains("password") && stderr.to_lowercase().contains("grant"),
        "the refusal should name the grant: {}",
        text(&password)
    );
    assert!(
        password.stdout.is_empty(),
        "nothing on stdout on failure: {}",
        text(&password)
    );
    let listed = hub.cli_json(&["client", "list"]);
    assert_eq!(
        listed,
        serde_json::json!([]),
        "a refused client must not be stored"
    );

    for (args, why) in [
        (
            vec!["client", "show", "no-such-client"],
            "an unknown client",
        ),
        (
            vec!["client", "rotate-secret", "no-such-client"],
            "rotating an unknown client",
        ),
        (
            vec!["client", "delete", "no-such-client"],
            "deleting an unknown client",
        ),
        (
            vec!["client", "create", "--name", "x"],
            "create without --grant",
        ),
        (
            vec![
                "client",
                "create",
                "--name",
                "0123456789abcdef0123456789abcdef",
                "--grant",
                "client_credentials",
            ],
            "a name shaped like a client_id",
        ),
        (
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant",
                "client_credentials",
                "--jwks-file",
                "/nonexistent/jwks.json",
            ],
            "a missing JWKS file",
        ),
    ] {
        let output = hub.cli(&args);
        assert!(
            !output.status.success(),
            "{why} must fail: {}",
            text(&output)
        );
        assert!(
            !output.stderr.is_empty(),
            "{why} must say why on stderr: {}",
            text(&output)
        );
    }
}

/// Runs `keyway PATH --help`, checks it, and returns the subcommands it lists.
fn help_of(path: &[String]) -> Vec<String> {
    let output = keyway()
        .args(path)
        .arg("--help")
        .output()
        .expect("run keyway");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "keyway {path:?} --help: {}",
        text(&output)
    );
    assert!(
        stdout.contains("Usage:"),
        "keyway {path:?} --help: {stdout}"
    );
    if let Some(last) = path.last() {
        assert!(
            stdout.contains(last.as_str()),
            "help for {path:?} names it: {stdout}"
        );
    }
    stdout
        .lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn help_works_for_every_subcommand() {
    let mut seen = Vec::new();
    let mut queue = vec![Vec::<String>::new()];
    while let Some(path) = queue.pop() {
        for sub in help_of(&path) {
            let mut child = path.clone();
            child.push(sub);
            queue.push(child);
        }
        seen.push(path.join(" "));
    }
    for expected in [
        "serve",
        "client create",
        "client list",
        "client show",
        "client rotate-secret",
        "client delete",
        "user create",
        "user list",
        "user delete",
        "keys rotate",
        "keys list",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "no help for {expected:?}: {seen:?}"
        );
    }
    let version = keyway().arg("--version").output().expect("run keyway");
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("keyway "));
    let bare = keyway().output().expect("run keyway");
    assert!(!bare.status.success(), "no subcommand is a usage error");
}

#[test]
fn sigterm_stops_the_hub_gracefully() {
    let mut hub = Hub::start();
    let health = get_json(&hub, "/healthz");
    assert_eq!(health["status"], "ok");
    let ready = get_json(&hub, "/readyz");
    assert_eq!(ready["status"], "ready", "{ready}");
    // The banner is read from the hub's stdout by a thread: it may trail readiness a little.
    let banner = format!("keyway hub listening on {}", hub.url);
    let announced = crate::harness::poll(std::time::Duration::from_secs(10), || {
        hub.output().contains(&banner)
    });
    assert!(announced, "startup banner: {}", hub.output());
    let (status, output) = hub.terminate();
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}\n{output}"
    );
    assert!(
        output.contains("keyway hub stopped"),
        "no stop message:\n{output}"
    );
    assert!(
        hub.http.get(hub.endpoint("/healthz")).send().is_err(),
        "the port still answers after the hub stopped"
    );
}

#[test]
fn the_sample_config_is_valid_and_a_bad_rule_priority_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let sample = crate::harness::repo_root().join("docs/keyway.toml");
    // The sample's settings start a hub (flags override its listen address and data dir).
    let sample_arg = sample.display().to_string();
    let hub = crate::harness::Hub::start_with(&["--config", &sample_arg]);
    drop(hub);

    let config = dir.path().join("keyway.toml");
    std::fs::write(
        &config,
        "[link]\nrule_priority = [\"F_L_D_S\", \"SOUNDEX\"]\n",
    )
    .unwrap();
    let refused = keyway()
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("rule_priority: \"SOUNDEX\""),
        "{}",
        text(&refused)
    );

    // trusted_proxies (docs/keyway.toml): read from the file, and a bad entry is named.
    std::fs::write(
        &config,
        "trusted_proxies = [\"10.0.0.0/8\", \"proxy.example\"]\n",
    )
    .unwrap();
    let refused = keyway()
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("trusted proxy \"proxy.example\" is not an IP address"),
        "{}",
        text(&refused)
    );
}

/// `keyway client list | head -1`: a reader that has gone away ends the command quietly,
/// as in every Unix tool (it used to panic with "failed printing to stdout", exit 101).
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_a_listing_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let hub = crate::harness::Hub::start();
    for name in ["one", "two", "three"] {
        hub.create_client(name, &["client_credentials"], "read", &[]);
    }
    let mut child = crate::harness::keyway()
        .args(["client", "list", "--data-dir"])
        .arg(hub.data_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the command has printed anything.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("failed printing"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
    assert!(
        output.status.success() || output.status.signal() == Some(13),
        "{:?}: {stderr}",
        output.status
    );
}

/// A second `keyway serve` on the same SQLite data directory is refused, naming the first.
#[test]
fn a_second_hub_on_the_same_data_directory_is_refused() {
    let hub = crate::harness::Hub::start();
    let output = crate::harness::keyway()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(hub.data_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("another keyway serve (pid ") && stderr.contains("is using the data"),
        "{stderr}"
    );
}

/// Run from another directory, an admin command says where it looked and how to point it at
/// the hub's store, and creates nothing (it used to make an empty ./keyway-data).
#[test]
fn admin_commands_never_create_a_store() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [
        vec!["client", "list"],
        vec!["user", "list"],
        vec!["keys", "list"],
        vec!["link", "stats"],
        vec![
            "client",
            "create",
            "--name",
            "x",
            "--grant",
            "client_credentials",
        ],
    ] {
        let output = crate::harness::keyway()
            .args(&args)
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no keyway store at keyway-data/keyway.db")
                && stderr.contains(&cwd.path().display().to_string())
                && stderr.contains("--data-dir DIR, KEYWAY_DATA_DIR=DIR"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!cwd.path().join("keyway-data").exists());

    // An empty directory given with --data-dir is not a store either, and stays empty.
    let empty = tempfile::tempdir().unwrap();
    let output = crate::harness::keyway()
        .args(["user", "list", "--data-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("from --data-dir / KEYWAY_DATA_DIR"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

/// A data directory that is a file, or that cannot be created, is named with the reason.
#[test]
fn a_bad_data_directory_is_named_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        (file.clone(), "is not a directory".to_string()),
        (
            std::path::PathBuf::from("/proc/self/keyway-data"),
            "cannot create the data directory /proc/self/keyway-data: ".to_string(),
        ),
    ];
    for (data_dir, expected) in cases {
        let output = crate::harness::keyway()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains(&data_dir.display().to_string()) && stderr.contains(&expected),
            "{stderr}"
        );
        assert!(!stderr.contains("unable to open database file"), "{stderr}");
    }
}

/// Completion scripts and man pages come from the same definitions as --help.
#[test]
fn completions_and_man_pages_are_generated() {
    for (shell, marker) in [
        ("bash", "_keyway()"),
        ("zsh", "#compdef keyway"),
        ("fish", "complete -c keyway"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script =
            crate::harness::stdout_of(crate::harness::keyway().args(["completions", shell]));
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..script.len().min(300)]
        );
        assert!(script.contains("set-password"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    crate::harness::stdout_of(
        crate::harness::keyway()
            .args(["man", "--out-dir"])
            .arg(dir.path()),
    );
    let page = std::fs::read_to_string(dir.path().join("keyway-client-update.1")).unwrap();
    assert!(
        page.contains("add\\-scope") || page.contains("add-scope"),
        "{page}"
    );
    assert!(dir.path().join("keyway.1").is_file());
}

/// Logs that do not go to a terminal carry no colour codes.
#[test]
fn logs_off_a_terminal_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    // An error before start, then a first start that logs its migrations at INFO.
    let output = keyway()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env("KEYWAY_TRUSTED_PROXIES", "not-an-address")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--trusted-proxy"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let mut hub = std::process::Command::new(crate::harness::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = hub.stderr.take().unwrap();
    let mut logged = String::new();
    let mut buf = [0u8; 4096];
    while !logged.contains("link_compact") {
        let n = std::io::Read::read(&mut stderr, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        logged.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = hub.kill();
    let _ = hub.wait();
    assert!(logged.contains("INFO"), "{logged}");
    assert!(!logged.contains('\u{1b}'), "{logged:?}");
}

/// Admin commands speak for the issuer the running hub serves as, not for the default
/// address (`keyway keys toki` printed http://127.0.0.1:8080 for a hub on another port).
#[test]
fn admin_commands_use_the_issuer_the_hub_serves_as() {
    let hub = Hub::start();
    let toki = hub.cli_json(&["keys", "toki"]);
    assert_eq!(toki["service"], hub.url.as_str(), "{toki}");
    let published: Value = get_json(&hub, "/toki/v1/hub");
    assert_eq!(published["service"], toki["service"]);
}

/// A busy port is reported before anything is created.
#[test]
fn a_busy_port_leaves_no_store_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cwd = tempfile::tempdir().unwrap();
    let output = keyway()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot listen on 127.0.0.1:"), "{stderr}");
    assert!(!cwd.path().join("keyway-data").exists());
}

/// `keyway serve` with `text` as its configuration (`DIR/keyway.toml`, data in `DIR/data`),
/// run to its end.
pub(crate) fn serve_with_config(dir: &std::path::Path, text: &str) -> Output {
    let config = dir.join("keyway.toml");
    std::fs::write(&config, text).unwrap();
    keyway()
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap()
}

/// `[[login.upstream]]` mistakes stop `serve` before it listens, naming the file, the entry and
/// the key: a secret file others may read, an http issuer off loopback, an unknown key.
#[test]
fn a_bad_upstream_entry_stops_serve() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("corp.secret");
    std::fs::write(&secret, "s3cret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.path().join("keyway.toml");
    let entry = |issuer: &str, extra: &str| {
        format!(
            "[[login.upstream]]\nname = \"corp\"\ndisplay_name = \"Corp\"\nissuer = \"{issuer}\"\n\
             client_id = \"keyway\"\nclient_secret_file = \"{}\"\n{extra}",
            secret.display()
        )
    };
    let serve = |text: String| serve_with_config(dir.path(), &text);
    let readable = serve(entry("https://idp.example.com", ""));
    assert_eq!(readable.status.code(), Some(1), "{}", text(&readable));
    assert!(
        text(&readable).contains("[[login.upstream]] entry 1 (name \"corp\"): client_secret_file")
    );
    assert!(
        text(&readable).contains(&config.display().to_string()),
        "{}",
        text(&readable)
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let http = serve(entry("http://idp.example.com", ""));
    assert_eq!(http.status.code(), Some(1));
    assert!(
        text(&http).contains("http is allowed only for loopback"),
        "{}",
        text(&http)
    );
    let unknown = serve(entry("https://idp.example.com", "colour = \"blue\"\n"));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown).contains("colour"), "{}", text(&unknown));
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

/// `keyway group …`: create, list, show, add and remove members, delete; errors name the cause.
#[test]
fn groups_and_their_members() {
    let hub = crate::harness::Hub::start();
    hub.create_user("alice", "correct horse battery");
    let made = hub.cli_json(&["group", "create", "ops"]);
    assert_eq!(made["name"], "ops");
    assert!(hub.cli(&["group", "add", "ops", "alice"]).status.success());
    assert!(
        hub.cli(&["group", "add", "keyway-admins", "alice"])
            .status
            .success()
    );
    let shown = hub.cli_json(&["group", "show", "ops"]);
    assert_eq!(shown["members"], serde_json::json!(["alice"]));
    let list = hub.cli_json(&["group", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keyway-admins", "ops"]);
    for (args, cause) in [
        (vec!["group", "create", "Ops!"], "group name"),
        (vec!["group", "create", "ops"], "exists already"),
        (
            vec!["group", "add", "nope", "alice"],
            "keyway group create nope",
        ),
        (vec!["group", "add", "ops", "bob"], "user \"bob\""),
        (vec!["group", "delete", "nope"], "group \"nope\""),
    ] {
        let out = hub.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(cause),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        hub.cli(&["group", "remove", "ops", "alice"])
            .status
            .success()
    );
    let out = hub.cli(&["group", "remove", "ops", "alice"]);
    assert!(!out.status.success());
    assert!(hub.cli(&["group", "delete", "ops"]).status.success());
    assert_eq!(
        hub.cli_json(&["group", "list"]).as_array().unwrap().len(),
        1
    );
}

/// `keyway user sessions` and `keyway user logout` from the command line.
#[test]
fn user_sessions_and_logout() {
    let hub = crate::harness::Hub::start();
    hub.create_user("alice", "correct horse battery");
    assert_eq!(
        hub.cli_json(&["user", "sessions", "alice"]),
        serde_json::json!([])
    );
    let out = hub.cli(&["user", "logout", "alice", "--revoke-tokens"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ended 0 hub session(s) of alice"),
        "{stdout}"
    );
    let out = hub.cli(&["user", "logout", "bob"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("user bob"),
        "{stderr}"
    );
}

/// `keyway user update|disable|enable` and what `user show` says of them.
#[test]
fn user_profile_and_disabling() {
    let hub = crate::harness::Hub::start();
    hub.create_user("alice", "correct horse battery");
    let updated = hub.cli_json(&[
        "user",
        "update",
        "alice",
        "--email",
        "alice@example.com",
        "--name",
        "Alice Liddell",
    ]);
    assert_eq!(updated["email"], "alice@example.com");
    assert_eq!(updated["email_verified"], false);
    let out = hub.cli(&["user", "update", "alice"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to change"));
    let out = hub.cli(&["user", "update", "alice", "--email", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an address"));
    assert!(hub.cli(&["user", "disable", "alice"]).status.success());
    let shown = hub.cli_json(&["user", "show", "alice"]);
    assert_eq!(shown["disabled"], true, "{shown}");
    assert!(hub.cli(&["user", "enable", "alice"]).status.success());
    assert_eq!(hub.cli_json(&["user", "show", "alice"])["disabled"], false);
}

/// `keyway user grant|revoke` and `keyway group grant|revoke`, shown by `show`.
#[test]
fn scope_grants_from_the_command_line() {
    let hub = crate::harness::Hub::start();
    hub.create_user("alice", "correct horse battery");
    assert!(
        hub.cli(&["user", "grant", "alice", "--scope", "contact.read"])
            .status
            .success()
    );
    assert!(hub.cli(&["group", "create", "staff"]).status.success());
    assert!(
        hub.cli(&["group", "grant", "staff", "--scope", "contact.readwrite"])
            .status
            .success()
    );
    assert!(
        hub.cli(&["group", "add", "staff", "alice"])
            .status
            .success()
    );
    let shown = hub.cli_json(&["user", "show", "alice"]);
    assert_eq!(shown["granted_scopes"], serde_json::json!(["contact.read"]));
    assert_eq!(
        shown["held_scopes"],
        serde_json::json!(["contact.read", "contact.readwrite"])
    );
    assert_eq!(
        hub.cli_json(&["group", "show", "staff"])["scopes"],
        serde_json::json!(["contact.readwrite"])
    );
    let out = hub.cli(&["user", "grant", "alice", "--scope", ""]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("names no scope"));
    assert!(
        hub.cli(&["user", "revoke", "alice", "--scope", "contact.read"])
            .status
            .success()
    );
    assert_eq!(
        hub.cli_json(&["user", "show", "alice"])["granted_scopes"],
        serde_json::json!([])
    );
}

/// `serve --node-id` names the node in a cluster: `/readyz` says which node answered, and a
/// name that could not be stored or logged safely is refused before anything starts.
#[test]
fn serve_takes_a_node_id() {
    let hub = Hub::start_with(&["--node-id", "node-a.eu:1"]);
    let ready = get_json(&hub, "/readyz");
    assert_eq!(ready["node"], "node-a.eu:1", "{ready}");
    assert_eq!(ready["checks"]["master_key"], true, "{ready}");
    let dir = tempfile::tempdir().unwrap();
    let out = keyway()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--node-id",
            "two words",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--node-id"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("keyway.db").exists(),
        "nothing was created"
    );
}
