//! `keyway transfer keygen | serve | send` as two operators would run them.

use std::process::{Child, Stdio};
use std::time::Duration;

use std::path::Path;

use crate::harness::{free_port, keyway, poll, run_with_timeout, stdout_of};

/// The `openssl` program the key-format test runs (`KEYWAY_OPENSSL`, default `openssl`).
fn openssl() -> String {
    std::env::var("KEYWAY_OPENSSL").unwrap_or_else(|_| "openssl".into())
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `keyway transfer keygen -C NAME -f DIR/NAME`; returns the public key line.
fn keygen(dir: &Path, name: &str) -> String {
    stdout_of(
        keyway()
            .args(["transfer", "keygen", "-C", name, "-f"])
            .arg(dir.join(name)),
    )
}

/// `keyway transfer serve` on a free loopback port with DIR/server, DIR/authorized_keys and
/// DIR/root, once it listens; the server and its address.
fn serve(dir: &Path, extra: &[&str]) -> (KillOnDrop, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let server = keyway()
        .args(["transfer", "serve", "--listen", &listen, "--identity"])
        .arg(dir.join("server"))
        .arg("--authorized-keys")
        .arg(dir.join("authorized_keys"))
        .arg("--root")
        .arg(dir.join("root"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = KillOnDrop(server);
    assert!(poll(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&listen).is_ok()
    }));
    (server, listen)
}

#[test]
fn keygen_serve_and_send_a_message_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let keygen = |name: &str| keygen(dir.path(), name);
    let server_line = keygen("server");
    let client_line = keygen("client");
    assert!(
        client_line.starts_with("keyway-ed25519 ") && client_line.trim_end().ends_with(" client")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path("client"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    std::fs::write(path("authorized_keys"), &client_line).unwrap();
    std::fs::create_dir(path("root")).unwrap();
    let exec =
        "printf '%s:%s:' \"$KEYWAY_KIND\" \"$KEYWAY_SENDER_COMMENT\"; wc -c | tr -d ' '; exit 3";
    let (_server, listen) = serve(dir.path(), &["--exec", exec]);

    let server_key = server_line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let send = |extra: &[&str]| {
        keyway()
            .args(["transfer", "send", "--to", &listen, "--identity"])
            .arg(path("client"))
            .arg("--known-hosts")
            .arg(path("known_hosts"))
            .args(extra)
            .output()
            .unwrap()
    };
    // First contact without a pin is refused, loudly.
    let refused = send(&["--message", "hi"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not in known_hosts"));

    let out = send(&["--server-key", &server_key, "--message", "hello", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["status"], 3);
    assert_eq!(reply["response"], "message:client:5\n");

    std::fs::write(path("payload.bin"), vec![7u8; 300_000]).unwrap();
    let data_file = path("payload.bin");
    let out = send(&["--accept-new", "--data-file", data_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("data:client:300000"));

    // A file push (streamed to disk under --root) and a pull back, verified on both sides.
    std::fs::write(path("report.csv"), "a,b\n1,2\n").unwrap();
    let report = path("report.csv");
    let out = send(&[
        "--file",
        report.to_str().unwrap(),
        "--as",
        "in/report.csv",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("file:client:0"));
    assert_eq!(
        std::fs::read_to_string(path("root/in/report.csv")).unwrap(),
        "a,b\n1,2\n"
    );
    let back = path("back.csv");
    let out = keyway()
        .args(["transfer", "get", "--from", &listen, "--identity"])
        .arg(path("client"))
        .arg("--known-hosts")
        .arg(path("known_hosts"))
        .args(["--quiet", "in/report.csv"])
        .arg(&back)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "a,b\n1,2\n");
    // Traversal is refused with a clear message.
    let out = send(&[
        "--file",
        report.to_str().unwrap(),
        "--as",
        "../../etc/passwd",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a relative path"));

    // A different identity that is not in authorized_keys gets nothing.
    keygen("stranger");
    let out = keyway()
        .args(["transfer", "send", "--to", &listen, "--identity"])
        .arg(path("stranger"))
        .args(["--server-key", &server_key, "--message", "let me in"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// One identity for the hub and for transfer: `client add-key`, then `serve --hub-clients`.
#[test]
fn keys_registered_at_the_hub_are_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let hub = crate::harness::Hub::start();
    let data_dir = hub.data_dir().to_path_buf();
    let admin = |args: &[&str]| stdout_of(keyway().arg("--data-dir").arg(&data_dir).args(args));
    let created: serde_json::Value = serde_json::from_str(&admin(&[
        "client",
        "create",
        "--name",
        "partner",
        "--grant",
        "client_credentials",
        "--json",
    ]))
    .unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_string();
    for name in ["server", "client"] {
        let out = keyway()
            .args(["transfer", "keygen", "-f"])
            .arg(path(name))
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let pub_file = path("client.pub");
    admin(&[
        "client",
        "add-key",
        &client_id,
        "--key",
        pub_file.to_str().unwrap(),
    ]);
    assert!(admin(&["client", "show", &client_id]).contains("transfer key:"));
    // The same key file also registers the client's toki identity.
    admin(&[
        "client",
        "add-toki-key",
        &client_id,
        "--public-key",
        pub_file.to_str().unwrap(),
    ]);
    let line = std::fs::read_to_string(&pub_file).unwrap();
    let shown: serde_json::Value =
        serde_json::from_str(&admin(&["client", "show", &client_id, "--json"])).unwrap();
    let toki_key = shown["toki_key"].as_str().unwrap();
    assert!(line.starts_with(toki_key), "{toki_key} vs {line}");
    assert!(admin(&["client", "show", &client_id]).contains("toki key:"));
    let out = keyway()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["client", "add-toki-key", &client_id, "--public-key", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "an empty stdin is not a key");
    // A malformed key is refused with a clear message.
    let out = keyway()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["client", "add-key", &client_id, "--key", "ssh-rsa AAAA"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let listen = format!("127.0.0.1:{}", free_port());
    let server = keyway()
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "transfer",
            "serve",
            "--hub-clients",
            "--listen",
            &listen,
            "--identity",
        ])
        .arg(path("server"))
        .args(["--exec", "printf '%s' \"$KEYWAY_SENDER_COMMENT\""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = KillOnDrop(server);
    assert!(poll(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&listen).is_ok()
    }));
    let out = keyway()
        .args(["transfer", "send", "--to", &listen, "--identity"])
        .arg(path("client"))
        .arg("--known-hosts")
        .arg(path("known_hosts"))
        .args(["--accept-new", "--message", "hi", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        reply["response"],
        client_id.as_str(),
        "the sender is known by its client_id"
    );
}

/// `kill -9` on a `transfer send --file` mid-file: sent again, it resumes from the server's
/// last checkpoint (every 64 MiB, fsynced) and the file arrives intact.
#[test]
fn a_killed_send_resumes_from_the_servers_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let server_line = keygen(dir.path(), "server");
    std::fs::write(path("authorized_keys"), keygen(dir.path(), "client")).unwrap();
    std::fs::create_dir(path("root")).unwrap();
    let (_server, listen) = serve(dir.path(), &[]);
    let server_key: Vec<&str> = server_line.split_whitespace().take(2).collect();
    let server_key = server_key.join(" ");
    // Every MiB different, so a block written at the wrong offset would show.
    let content: Vec<u8> = (0..384u32 << 20)
        .map(|i| (i >> 20).wrapping_mul(151).wrapping_add(i.wrapping_mul(7)) as u8)
        .collect();
    std::fs::write(path("big.bin"), &content).unwrap();
    let send = || {
        let mut command = keyway();
        command
            .args(["transfer", "send", "--to", &listen, "--identity"])
            .arg(path("client"))
            .args(["--server-key", &server_key, "--json", "--file"])
            .arg(path("big.bin"));
        command
    };
    let first = send()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = KillOnDrop(first);
    let checkpointed = || {
        std::fs::read_dir(path("root")).unwrap().any(|entry| {
            let entry = entry.unwrap();
            entry
                .file_name()
                .to_string_lossy()
                .ends_with(".keyway-part.meta")
                && std::fs::read_to_string(entry.path()).is_ok_and(|text| {
                    text.split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse::<u64>().ok())
                        .is_some_and(|synced| synced >= 64 << 20)
                })
        })
    };
    assert!(poll(Duration::from_secs(60), checkpointed), "no checkpoint");
    first.0.kill().unwrap(); // SIGKILL
    assert!(!first.0.wait().unwrap().success());
    assert!(
        !path("root/big.bin").exists(),
        "no partial file under the final name"
    );

    let out = send().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resumed = reply["resumed_from"].as_u64().unwrap();
    assert!(
        resumed >= 64 << 20 && resumed < content.len() as u64,
        "{reply}"
    );
    assert!(std::fs::read(path("root/big.bin")).unwrap() == content);
}

/// Key files must be readable by standard tools: `openssl pkey` (3.0) refuses the PKCS#8 v2
/// keyway used to write. Without openssl the test fails, unless KEYWAY_SKIP_OPENSSL=1.
#[test]
fn keygen_writes_keys_openssl_reads() {
    let found = std::process::Command::new(openssl())
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("KEYWAY_SKIP_OPENSSL").as_deref() == Ok("1") {
            keyway_kernel::report_skip(
                "keygen_writes_keys_openssl_reads",
                &format!("no `{}` and KEYWAY_SKIP_OPENSSL=1", openssl()),
                "install openssl or point KEYWAY_OPENSSL at it",
            );
            return;
        }
        panic!(
            "`{}` was not found: install openssl, point KEYWAY_OPENSSL at it, or set \
             KEYWAY_SKIP_OPENSSL=1 to skip this test",
            openssl()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let line = keygen(dir.path(), "id");
    let key = dir.path().join("id");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let out = std::process::Command::new(openssl())
        .args(["pkey", "-noout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl pkey refused the key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // openssl derives the same public key: its SubjectPublicKeyInfo ends with our 32 bytes.
    let out = std::process::Command::new(openssl())
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let ours = line.split_whitespace().nth(1).unwrap();
    use base64::Engine;
    let ours = base64::engine::general_purpose::STANDARD
        .decode(ours)
        .unwrap();
    assert!(
        out.stdout.ends_with(&ours),
        "openssl derived another public key"
    );
}

/// Connections that never send a byte (a probe held 300 open) must not keep an authorised
/// sender out; `--handshake-timeout` closes them.
#[test]
fn idle_connections_do_not_lock_out_senders() {
    let dir = tempfile::tempdir().unwrap();
    let server_line = keygen(dir.path(), "server");
    std::fs::write(
        dir.path().join("authorized_keys"),
        keygen(dir.path(), "client"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    let server_key: Vec<&str> = server_line.split_whitespace().take(2).collect();
    let server_key = server_key.join(" ");
    let (_server, listen) = serve(dir.path(), &[]);
    let idle: Vec<_> = (0..300)
        .map(|_| std::net::TcpStream::connect(&listen).unwrap())
        .collect();
    let (status, output) = run_with_timeout(
        keyway()
            .args(["transfer", "send", "--to", &listen, "--identity"])
            .arg(dir.path().join("client"))
            .args(["--server-key", &server_key, "--message", "hi"]),
        Duration::from_secs(5),
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "300 idle connections kept the sender out ({status:?}): {output}"
    );
    drop(idle);

    let (_server, listen) = serve(dir.path(), &["--handshake-timeout", "1"]);
    let mut silent = std::net::TcpStream::connect(&listen).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = std::io::Read::read(&mut silent, &mut buf);
    assert!(
        matches!(&read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "a silent connection was not closed after --handshake-timeout 1: {read:?}"
    );
}

/// A symlink planted where the public key goes is replaced, not written through.
#[cfg(unix)]
#[test]
fn keygen_does_not_write_through_a_planted_public_key_link() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("id.pub")).unwrap();
    let line = keygen(dir.path(), "id");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let public = dir.path().join("id.pub");
    assert!(
        !std::fs::symlink_metadata(&public)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&public).unwrap().trim(),
        line.trim()
    );
}

/// `keyway transfer send --accept-new` to `listen` with DIR/IDENTITY and DIR/known_hosts.
fn send_first_contact(
    dir: &Path,
    listen: &str,
    identity: &str,
    payload: &[String],
) -> std::process::Output {
    keyway()
        .args([
            "transfer",
            "send",
            "--to",
            listen,
            "--accept-new",
            "--identity",
        ])
        .arg(dir.join(identity))
        .arg("--known-hosts")
        .arg(dir.join("known_hosts"))
        .args(payload)
        .output()
        .unwrap()
}

#[test]
fn a_key_the_server_does_not_know_is_named_as_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    keygen(dir.path(), "server");
    let known = keygen(dir.path(), "client");
    let made = keyway()
        .args(["transfer", "keygen", "-f"])
        .arg(path("stranger"))
        .output()
        .unwrap();
    let made = String::from_utf8_lossy(&made.stderr);
    let fingerprint = made
        .split(['(', ')'])
        .find(|part| part.starts_with("SHA256:"))
        .expect("keygen prints the fingerprint")
        .to_string();
    std::fs::write(path("authorized_keys"), &known).unwrap();
    std::fs::create_dir(path("root")).unwrap();
    std::fs::write(path("report.csv"), b"a,b\n").unwrap();
    let (_server, listen) = serve(dir.path(), &["--exec", "cat"]);
    for payload in [
        vec!["--message".to_string(), "hello".to_string()],
        vec![
            "--file".to_string(),
            path("report.csv").display().to_string(),
        ],
    ] {
        let out = send_first_contact(dir.path(), &listen, "stranger", &payload);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{listen} refused this client's key {fingerprint}"))
                && stderr.contains("authorized_keys"),
            "{payload:?}: {stderr}"
        );
        assert!(!stderr.contains("Broken pipe"), "{stderr}");
        if payload[0] == "--message" {
            assert!(
                stderr.contains(&format!("added {listen} (SHA256:")),
                "{stderr}"
            );
        }
    }
    // First contact with --accept-new said what it wrote, as OpenSSH does (once).
    let pinned = std::fs::read_to_string(path("known_hosts")).unwrap();
    assert_eq!(pinned.lines().count(), 1, "{pinned}");
}

#[test]
fn a_missing_file_to_send_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    keygen(dir.path(), "server");
    let client = keygen(dir.path(), "client");
    std::fs::write(path("authorized_keys"), &client).unwrap();
    std::fs::create_dir(path("root")).unwrap();
    let (_server, listen) = serve(dir.path(), &[]);
    let missing = path("no-such-report.csv");
    let file = ["--file".to_string(), missing.display().to_string()];
    let out = send_first_contact(dir.path(), &listen, "client", &file);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: No such file", missing.display())),
        "{stderr}"
    );
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    // Nothing was sent: the server was not even contacted (no pin was written).
    assert!(!dir.path().join("known_hosts").exists());
}

/// A server that dies while its handler runs is not reported as refusing the client's key.
#[test]
fn a_server_dying_mid_request_is_not_blamed_on_the_key() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "server");
    let client = keygen(dir.path(), "client");
    std::fs::write(dir.path().join("authorized_keys"), &client).unwrap();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    let (server, listen) = serve(dir.path(), &["--exec", "sleep 5"]);
    let sender = keyway()
        .args([
            "transfer",
            "send",
            "--to",
            &listen,
            "--accept-new",
            "--identity",
        ])
        .arg(dir.path().join("client"))
        .arg("--known-hosts")
        .arg(dir.path().join("known_hosts"))
        .args(["--message", "hello"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(server);
    let out = sender.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("this client's key"),
        "a lost connection is not a refused key: {stderr}"
    );
}

/// A wrong address or a server that is not a transfer server is named, with the cause.
#[test]
fn a_wrong_server_address_is_named() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "client");
    let nobody = format!("127.0.0.1:{}", free_port());
    let message = ["--message".to_string(), "hi".to_string()];
    let out = send_first_contact(dir.path(), &nobody, "client", &message);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot connect to {nobody}: Connection refused")),
        "{stderr}"
    );
    // An HTTP server where a transfer server was expected.
    let hub = crate::harness::Hub::start();
    let http = hub.url.trim_start_matches("http://").to_string();
    let out = send_first_contact(dir.path(), &http, "client", &message);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("handshake with {http} failed"))
            && stderr.contains("does not speak TLS"),
        "{stderr}"
    );
}
