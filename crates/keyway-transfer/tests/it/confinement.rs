//! Remote names are resolved inside the key's root one component at a time, never following a
//! symbolic link, before anything is created; names with control characters are refused.

use std::path::Path;

use keyway_transfer::{TransferError, refused};

use crate::files::{connect, start_with};

fn is_bad_path(err: &TransferError) -> bool {
    matches!(
        err,
        TransferError::Refused {
            status: refused::BAD_PATH,
            ..
        }
    )
}

/// Everything under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `create_dir_all` used to run before the check: the refused push still made `a/b` outside.
#[cfg(unix)]
#[tokio::test]
async fn a_push_through_a_symlink_is_refused_and_creates_nothing_outside() {
    let f = start_with("", u64::MAX).await;
    let outside = f._dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, f.root.join("link")).unwrap();
    std::fs::create_dir(f.root.join("sub")).unwrap();
    std::os::unix::fs::symlink(&outside, f.root.join("sub/deeper")).unwrap();
    let source = f._dir.path().join("x");
    std::fs::write(&source, b"x").unwrap();
    let mut client = connect(&f).await;
    for name in ["link/a/b/c.txt", "link/c.txt", "sub/deeper/a/c.txt", "link"] {
        let err = client
            .send_file(&source, name, true, |_, _| true)
            .await
            .unwrap_err();
        assert!(is_bad_path(&err), "{name}: {err}");
        assert!(err.to_string().contains("symbolic link"), "{name}: {err}");
        assert_eq!(tree(&outside), Vec::<String>::new(), "after {name}");
    }
    assert_eq!(tree(&f.root), ["link", "sub", "sub/deeper"]);
    assert_eq!(client.send_message("still ok").await.unwrap().status, 0);
}

/// A newline in a name forged a line of the server's log; control characters are refused,
/// with the reason, and nothing is written.
#[tokio::test]
async fn names_with_control_characters_are_refused() {
    let f = start_with("", u64::MAX).await;
    let source = f._dir.path().join("x");
    std::fs::write(&source, b"x").unwrap();
    std::fs::write(f.root.join("plain.txt"), b"p").unwrap();
    let mut client = connect(&f).await;
    for name in [
        "evil\n2026-12-04T00:00:00Z  WARN keyway: forged.txt",
        "a\rb",
        "tab\there",
        "esc\u{1b}[31m",
        "del\u{7f}",
        "c1\u{85}next",
        "dir\n/plain.txt",
    ] {
        let err = client
            .send_file(&source, name, true, |_, _| true)
            .await
            .unwrap_err();
        assert!(is_bad_path(&err), "{name:?}: {err}");
        assert!(
            err.to_string().contains("control character"),
            "{name:?}: {err}"
        );
        assert!(
            !err.to_string().contains('\n'),
            "the refusal itself is one line: {err}"
        );
        let err = client
            .get_file(name, &f._dir.path().join("got"), true, |_, _| true)
            .await
            .unwrap_err();
        assert!(is_bad_path(&err), "{name:?}: {err}");
        assert!(
            err.to_string().contains("control character"),
            "{name:?}: {err}"
        );
    }
    assert_eq!(tree(&f.root), ["plain.txt"]);
    assert!(!f._dir.path().join("got").exists());
}

/// Pulls walk the same way: a symlinked directory is refused wherever it points, inside the
/// root too (the old check only compared the resolved parent with the root).
#[cfg(unix)]
#[tokio::test]
async fn a_pull_through_a_symlinked_directory_is_refused() {
    let f = start_with("", u64::MAX).await;
    let outside = f._dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, f.root.join("out")).unwrap();
    std::fs::create_dir(f.root.join("real")).unwrap();
    std::fs::write(f.root.join("real/f.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink(f.root.join("real"), f.root.join("alias")).unwrap();
    std::os::unix::fs::symlink(f.root.join("real/f.txt"), f.root.join("f-link")).unwrap();
    let mut client = connect(&f).await;
    let local = f._dir.path().join("got");
    for name in ["out/secret.txt", "alias/f.txt", "f-link"] {
        let err = client
            .get_file(name, &local, true, |_, _| true)
            .await
            .unwrap_err();
        assert!(is_bad_path(&err), "{name}: {err}");
        assert!(err.to_string().contains("symbolic link"), "{name}: {err}");
        assert!(!local.exists(), "{name}");
    }
    // The real path still works.
    client
        .get_file("real/f.txt", &local, true, |_, _| true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&local).unwrap(), b"inside");
}

/// A pull opens the file without blocking: a FIFO in the root (which a plain open would wait
/// on for ever, holding the connection) is refused as not a regular file.
#[cfg(unix)]
#[tokio::test]
async fn a_pull_of_a_fifo_is_refused_promptly() {
    let f = start_with("", u64::MAX).await;
    let made = std::process::Command::new("mkfifo")
        .arg(f.root.join("pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let mut client = connect(&f).await;
    let pulled = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.get_file("pipe", &f._dir.path().join("got"), true, |_, _| true),
    )
    .await
    .expect("the pull of a FIFO hung");
    assert!(
        matches!(
            pulled,
            Err(TransferError::Refused {
                status: refused::NOT_FOUND,
                ..
            })
        ),
        "{pulled:?}"
    );
}
