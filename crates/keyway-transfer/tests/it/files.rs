//! File push and pull: integrity, atomic placement, resume, confinement, limits.

use std::path::{Path, PathBuf};

use keyway_transfer::{
    AuthorizedKeys, Client, Identity, Incoming, Reply, Server, ServerConfig, ServerPin,
    TransferError, refused,
};

pub(crate) struct Files {
    addr: String,
    pin: ServerPin,
    client: Identity,
    pub(crate) root: PathBuf,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn start_with(options: &str, max_file: u64) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let server_identity = Identity::generate().unwrap();
    let client = Identity::generate().unwrap();
    let line = format!("{options} {} files-client", client.public_key());
    let authorized = AuthorizedKeys::parse(line.trim()).unwrap();
    let pin = ServerPin::Key(server_identity.public_key());
    let mut config = ServerConfig::new(server_identity, authorized);
    config.root = root.clone();
    config.max_file = max_file;
    let server = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr().unwrap().to_string();
    tokio::spawn(server.serve(|incoming: Incoming| async move {
        let path = incoming
            .path
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Reply::new(0, format!("stored {path}"))
    }));
    Files {
        addr,
        pin,
        client,
        root,
        _dir: dir,
    }
}

pub(crate) async fn connect(f: &Files) -> Client {
    Client::connect(&f.addr, &f.client, f.pin.clone())
        .await
        .unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 253) as u8).collect()
}

pub(crate) fn no_parts(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains("keyway-part")
    })
}

#[tokio::test]
async fn push_and_pull_round_trip_with_empty_and_large_files() {
    let f = start_with("", u64::MAX).await;
    let local = f._dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    for (name, len) in [
        ("empty.bin", 0usize),
        ("small.txt", 11),
        ("big.bin", 9_000_000),
    ] {
        let source = local.join(name);
        std::fs::write(&source, pattern(len)).unwrap();
        let mut client = connect(&f).await;
        let mut seen = 0;
        let reply = client
            .send_file(&source, &format!("in/{name}"), false, |done, total| {
                assert!(done <= total);
                seen = done;
                true
            })
            .await
            .unwrap();
        assert_eq!(reply.status, 0, "{}", String::from_utf8_lossy(&reply.body));
        assert_eq!(seen, len as u64);
        assert_eq!(
            std::fs::read(f.root.join("in").join(name)).unwrap(),
            pattern(len)
        );
        let back = local.join(format!("back-{name}"));
        let got = client
            .get_file(&format!("in/{name}"), &back, false, |_, _| true)
            .await
            .unwrap();
        assert_eq!(got, len as u64);
        assert_eq!(std::fs::read(&back).unwrap(), pattern(len));
    }
    assert!(no_parts(&f.root.join("in")) && no_parts(&local));
}

#[tokio::test]
async fn overwriting_needs_the_flag_on_both_sides() {
    let f = start_with("", u64::MAX).await;
    let source = f._dir.path().join("a.txt");
    std::fs::write(&source, b"first").unwrap();
    let mut client = connect(&f).await;
    client
        .send_file(&source, "a.txt", false, |_, _| true)
        .await
        .unwrap();
    std::fs::write(&source, b"second").unwrap();
    let err = client
        .send_file(&source, "a.txt", false, |_, _| true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Refused {
                status: refused::EXISTS,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(f.root.join("a.txt")).unwrap(), b"first");
    client
        .send_file(&source, "a.txt", true, |_, _| true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(f.root.join("a.txt")).unwrap(), b"second");
    // The replaced file was linked aside and is removed after the reply.
    let aside_gone = || {
        std::fs::read_dir(&f.root).unwrap().all(|e| {
            !e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("keyway-old")
        })
    };
    for _ in 0..100 {
        if aside_gone() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(aside_gone(), "the replaced file was not removed");
    assert!(no_parts(&f.root));
    let err = client
        .get_file("a.txt", &source, false, |_, _| true)
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::LocalExists(_)));
}

#[tokio::test]
async fn an_interrupted_push_resumes_from_the_synced_offset() {
    let f = start_with("", u64::MAX).await;
    let source = f._dir.path().join("resume.bin");
    let data = pattern(150 << 20);
    std::fs::write(&source, &data).unwrap();
    // Stop after 100 MiB: the server has synced at least 64 MiB of it.
    let mut client = connect(&f).await;
    let err = client
        .send_file(&source, "resume.bin", false, |done, _| done < (100 << 20))
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Aborted));
    drop(client);
    assert!(
        !f.root.join("resume.bin").exists(),
        "no partial file under the final name"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut client = connect(&f).await;
    let mut first = None;
    client
        .send_file(&source, "resume.bin", false, |done, _| {
            first.get_or_insert(done);
            true
        })
        .await
        .unwrap();
    assert!(first.unwrap() >= 64 << 20, "resumed from {first:?}");
    assert_eq!(std::fs::read(f.root.join("resume.bin")).unwrap(), data);
    assert!(no_parts(&f.root));
}

#[tokio::test]
async fn an_interrupted_pull_resumes() {
    let f = start_with("", u64::MAX).await;
    let data = pattern(20 << 20);
    std::fs::write(f.root.join("pull.bin"), &data).unwrap();
    let dest = f._dir.path().join("pull.bin");
    let mut client = connect(&f).await;
    let err = client
        .get_file("pull.bin", &dest, false, |done, _| done < (5 << 20))
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Aborted));
    assert!(!dest.exists());
    let mut client = connect(&f).await;
    let mut first = None;
    client
        .get_file("pull.bin", &dest, false, |done, _| {
            first.get_or_insert(done);
            true
        })
        .await
        .unwrap();
    assert!(first.unwrap() >= 5 << 20);
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[tokio::test]
async fn paths_are_confined_and_limits_and_rights_hold() {
    let f = start_with("", 1000).await;
    let source = f._dir.path().join("x");
    std::fs::write(&source, b"x").unwrap();
    let mut client = connect(&f).await;
    for bad in ["../../etc/passwd", "/etc/passwd", "a/../../b", ""] {
        let err = client
            .send_file(&source, bad, true, |_, _| true)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TransferError::Refused {
                    status: refused::BAD_PATH,
                    ..
                }
            ),
            "{bad}: {err}"
        );
        let err = client
            .get_file(bad, &f._dir.path().join("y"), true, |_, _| true)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TransferError::Refused {
                    status: refused::BAD_PATH,
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc", f.root.join("etc")).unwrap();
        let err = client
            .get_file("etc/hostname", &f._dir.path().join("h"), true, |_, _| true)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TransferError::Refused {
                    status: refused::BAD_PATH,
                    ..
                }
            ),
            "{err}"
        );
        let err = client
            .send_file(&source, "etc/evil", true, |_, _| true)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TransferError::Refused {
                    status: refused::BAD_PATH,
                    ..
                }
            ),
            "{err}"
        );
    }
    std::fs::write(&source, vec![0u8; 1001]).unwrap();
    let err = client
        .send_file(&source, "big", true, |_, _| true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Refused {
                status: refused::TOO_LARGE,
                ..
            }
        ),
        "{err}"
    );
    let err = client
        .get_file("missing", &f._dir.path().join("m"), true, |_, _| true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Refused {
                status: refused::NOT_FOUND,
                ..
            }
        ),
        "{err}"
    );
    // The connection survived every refusal.
    assert_eq!(client.send_message("still ok").await.unwrap().status, 0);
}

#[tokio::test]
async fn read_only_keys_pull_but_never_push_and_roots_are_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let own_root = dir.path().join("own");
    std::fs::create_dir(&own_root).unwrap();
    std::fs::write(own_root.join("report.csv"), b"a,b\n").unwrap();
    let f = start_with(
        &format!("root=\"{}\",read-only", own_root.display()),
        u64::MAX,
    )
    .await;
    let mut client = connect(&f).await;
    let dest = f._dir.path().join("report.csv");
    client
        .get_file("report.csv", &dest, false, |_, _| true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"a,b\n");
    let err = client
        .send_file(&dest, "new.csv", false, |_, _| true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Refused {
                status: refused::READ_ONLY,
                ..
            }
        ),
        "{err}"
    );
    assert!(!own_root.join("new.csv").exists() && !f.root.join("new.csv").exists());
}

/// The old system's flaw: a bare `file` header (its wire format: type padded to 10 bytes,
/// 4-byte length + name, empty key and IV, a flag byte, a 14-byte size) made the server
/// delete that path before any login. Here neither that nor a TLS peer with an unknown key can
/// write, delete or read anything.
#[tokio::test]
async fn an_unauthenticated_peer_can_neither_write_delete_nor_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = start_with("", u64::MAX).await;
    std::fs::write(f.root.join("victim.txt"), b"precious").unwrap();
    let outside = f._dir.path().join("outside.txt");
    std::fs::write(&outside, b"also precious").unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing(&f.root);
    for name in ["victim.txt".to_string(), outside.display().to_string()] {
        let mut header = b"file".to_vec();
        header.resize(10, 0);
        header.extend_from_slice(&(name.len() as u32).to_be_bytes());
        header.extend_from_slice(name.as_bytes());
        header.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, b'n']);
        header.extend_from_slice(&[0; 14]);
        let mut raw = tokio::net::TcpStream::connect(&f.addr).await.unwrap();
        let _ = raw.write_all(&header).await;
        let mut answer = Vec::new();
        let wait = std::time::Duration::from_secs(5);
        let _ = tokio::time::timeout(wait, raw.read_to_end(&mut answer)).await;
        assert!(!String::from_utf8_lossy(&answer).contains("precious"));
    }
    let stranger = keyway_transfer::Identity::generate().unwrap();
    let source = f._dir.path().join("evil.txt");
    std::fs::write(&source, b"overwritten").unwrap();
    let dest = f._dir.path().join("stolen.txt");
    for attempt in ["push", "pull", "message"] {
        // With TLS 1.3 the client learns of its rejection on its first read: connect may
        // succeed, the request may not.
        let Ok(mut client) = Client::connect(&f.addr, &stranger, f.pin.clone()).await else {
            continue;
        };
        let refused = match attempt {
            "push" => client
                .send_file(&source, "victim.txt", true, |_, _| true)
                .await
                .is_err(),
            "pull" => client
                .get_file("victim.txt", &dest, true, |_, _| true)
                .await
                .is_err(),
            _ => client.send_message("hello").await.is_err(),
        };
        assert!(refused, "{attempt} by an unknown key");
    }
    assert_eq!(listing(&f.root), before, "nothing created or deleted");
    assert_eq!(
        std::fs::read(f.root.join("victim.txt")).unwrap(),
        b"precious"
    );
    assert_eq!(std::fs::read(&outside).unwrap(), b"also precious");
    assert!(!dest.exists(), "nothing read");
}
