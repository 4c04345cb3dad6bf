//! `keyway backup` of a SQLite hub while it serves, and `keyway restore` after the data
//! directory is lost: the restored hub is the same hub (clients, secrets, tokens).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crate::harness::{Hub, keyway, str_field};

fn token(hub: &Hub, id: &str, secret: &str) -> reqwest::blocking::Response {
    hub.http
        .post(hub.endpoint("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .expect("token request")
}

fn introspect(hub: &Hub, id: &str, secret: &str, access: &str) -> Value {
    hub.http
        .post(hub.endpoint("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", access)])
        .send()
        .expect("introspection")
        .json()
        .expect("JSON")
}

/// `keyway ARGS` (no `--data-dir` added).
fn run(args: &[&str]) -> std::process::Output {
    keyway().args(args).output().expect("run keyway")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A backup with `backup`'s header holding `plain`, sealed as docs/backup.md says under the
/// key in `key_file` (one last frame).
fn reseal(backup: &[u8], key_file: &std::path::Path, plain: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use aws_lc_rs::digest::{SHA256, digest};
    use base64::Engine;
    let magic = b"keyway-backup 1\n";
    let rest = &backup[magic.len()..];
    let line = &rest[..rest.iter().position(|&b| b == b'\n').expect("header line")];
    let raw = base64::engine::general_purpose::STANDARD
        .decode(std::fs::read_to_string(key_file).expect("key").trim())
        .expect("base64 key");
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).expect("key"));
    let mut aad = magic.to_vec();
    aad.extend_from_slice(digest(&SHA256, line).as_ref());
    aad.extend_from_slice(&0u64.to_be_bytes());
    aad.push(1);
    let nonce = [3u8; 12];
    let mut sealed = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&aad),
        &mut sealed,
    )
    .expect("seal");
    let mut out = magic.to_vec();
    out.extend_from_slice(line);
    out.push(b'\n');
    out.extend_from_slice(&((12 + sealed.len()) as u32 | 1 << 31).to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

#[test]
fn a_backup_taken_while_serving_restores_the_same_hub() {
    let mut hub = Hub::start();
    let client = hub.create_client("kept", &["client_credentials"], "read", &[]);
    let (id, secret) = (
        str_field(&client, "client_id").to_string(),
        str_field(&client, "client_secret").to_string(),
    );
    let before = token(&hub, &id, &secret).json::<Value>().expect("JSON");
    let access = str_field(&before, "access_token").to_string();

    // Tokens are issued without a pause while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let (issued, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (http, url) = (hub.http.clone(), hub.endpoint("/oauth2/token"));
        let (id, secret) = (id.clone(), secret.clone());
        let (stop, issued, failed) = (stop.clone(), issued.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ok = http
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .is_ok_and(|r| r.status() == 200);
                let counter = if ok { &issued } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let saved = tempfile::tempdir().expect("temp dir");
    let backup = saved.path().join("hub.backup");
    // An output that would destroy what it backs up, or another file, is refused.
    let data = hub.data_dir().display().to_string();
    for inside in ["keyway.db", "master.key", "old.backup"] {
        let out = hub.cli(&["backup", "--output", &format!("{data}/{inside}")]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("inside the hub's data directory"),
            "{out:?}"
        );
    }
    let notes = saved.path().join("notes.txt");
    std::fs::write(&notes, "my notes").expect("write");
    let out = hub.cli(&["backup", "--output", &notes.display().to_string()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a keyway backup"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&notes).expect("notes"), "my notes");
    let made = hub.cli_json(&["backup", "--output", &backup.display().to_string()]);
    // No plain copy is left in the data directory.
    let leftovers: Vec<_> = std::fs::read_dir(hub.data_dir())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("snapshot"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the backup"
    );
    assert!(issued.load(Ordering::Relaxed) > 0);
    assert!(made["database_bytes"].as_u64().unwrap_or(0) > 0, "{made}");
    let bytes = std::fs::read(&backup).expect("backup");
    assert!(bytes.starts_with(b"keyway-backup 1\n"));
    // Sealed: neither SQLite's header nor a client's name can be read in it.
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("SQLite format") && !text.contains("kept"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = saved.path().join("master.key");
    std::fs::copy(hub.data_dir().join("master.key"), &key).expect("keep the key");
    // Made after the backup: not in it.
    hub.create_client("later", &["client_credentials"], "read", &[]);

    // Refusals first, each leaving nothing behind.
    let empty = tempfile::tempdir().expect("temp dir");
    let restore_into = |dir: &std::path::Path, input: &std::path::Path, key: &std::path::Path| {
        run(&[
            "restore",
            "--input",
            &input.display().to_string(),
            "--data-dir",
            &dir.display().to_string(),
            "--master-key-file",
            &key.display().to_string(),
        ])
    };
    let other_key = saved.path().join("other.key");
    crate::cluster::write_master_key(&other_key);
    let wrong = restore_into(empty.path(), &backup, &other_key);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("sealed under master key"),
        "{}",
        stderr(&wrong)
    );
    let mut damaged = bytes.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x40;
    let damaged_file = saved.path().join("damaged.backup");
    std::fs::write(&damaged_file, &damaged).expect("write");
    let refused = restore_into(empty.path(), &damaged_file, &key);
    assert!(
        stderr(&refused).contains("damaged or was changed"),
        "{}",
        stderr(&refused)
    );
    let refused = restore_into(empty.path(), &key, &key);
    assert!(
        stderr(&refused).contains("not a keyway backup"),
        "{}",
        stderr(&refused)
    );
    assert!(!empty.path().join("keyway.db").exists());
    assert_eq!(
        std::fs::read_dir(empty.path())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .count(),
        0,
        "a scratch file was left behind"
    );
    // Sealed under the right key, but not a database: refused at once, nothing left.
    let not_a_db = saved.path().join("text.backup");
    std::fs::write(
        &not_a_db,
        reseal(&bytes, &key, b"just some text, not SQLite"),
    )
    .expect("write");
    let refused = restore_into(empty.path(), &not_a_db, &key);
    assert!(
        stderr(&refused).contains("holds no SQLite database"),
        "{}",
        stderr(&refused)
    );
    assert!(!empty.path().join("keyway.db").exists());
    let occupied = restore_into(hub.data_dir(), &backup, &key);
    assert!(
        stderr(&occupied).contains("already exists"),
        "{}",
        stderr(&occupied)
    );
    let postgres = run(&[
        "backup",
        "--output",
        "/tmp/never",
        "--database",
        "postgres://nobody@127.0.0.1:1/none",
    ]);
    assert!(
        stderr(&postgres).contains("pg_dump"),
        "{}",
        stderr(&postgres)
    );

    // The data directory is lost; the backup and the key come back.
    let (status, _) = hub.terminate();
    assert!(status.success());
    for entry in std::fs::read_dir(hub.data_dir()).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("remove");
        } else {
            std::fs::remove_file(&path).expect("remove");
        }
    }
    let restored = restore_into(hub.data_dir(), &backup, &key);
    assert!(restored.status.success(), "{}", stderr(&restored));
    let key_arg = key.display().to_string();
    hub.kill_and_restart(&["--master-key-file", &key_arg]);
    // The same hub: its client and secret work, a token issued before the backup verifies.
    assert_eq!(token(&hub, &id, &secret).status(), 200);
    assert_eq!(introspect(&hub, &id, &secret, &access)["active"], true);
    let clients = hub.cli_json(&["client", "list", "--master-key-file", &key_arg]);
    let names: Vec<&str> = clients
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["kept"], "{clients}");
}

/// docs/backup.md's Python reader, as printed there, opens docs/backup-vector.hex.
#[test]
fn the_documented_python_reader_opens_the_test_vector() {
    if !crate::interop::available(
        "backup::the_documented_python_reader_opens_the_test_vector",
        crate::interop::python_missing(),
    ) {
        return;
    }
    let root = crate::harness::repo_root();
    let doc = std::fs::read_to_string(root.join("docs/backup.md")).expect("docs/backup.md");
    let code = doc
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a python block in docs/backup.md");
    let out = std::process::Command::new(crate::interop::python())
        .args(["-c", code])
        .current_dir(&root)
        .output()
        .expect("run python");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.contains("b'keyway backup test vector'"),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
