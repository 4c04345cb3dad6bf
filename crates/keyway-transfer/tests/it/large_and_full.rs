//! A multi-GiB sparse file both ways, and a server disk that fills up mid-push.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use keyway_transfer::TransferError;

use crate::files::{connect, no_parts, start_with};

/// Past 2^31 (offsets that overflow an i32) and not a multiple of any block size.
const SPARSE_SIZE: u64 = (2 << 30) + 5_000_001;

/// A sparse file: holes, with a few marked islands, one across the 2 GiB line.
fn sparse_file(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    file.set_len(SPARSE_SIZE).unwrap();
    for (at, mark) in [
        (0, "head"),
        ((1 << 30) - 3, "across one GiB"),
        ((2 << 30) - 5, "across two GiB"),
        (SPARSE_SIZE - 4, "tail"),
    ] {
        file.seek(SeekFrom::Start(at)).unwrap();
        let mark = &mark.as_bytes()[..mark.len().min((SPARSE_SIZE - at) as usize)];
        file.write_all(mark).unwrap();
    }
}

/// Compares two files piece by piece (they are too large to read whole).
fn same_content(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if a.metadata().unwrap().len() != b.metadata().unwrap().len() {
        return false;
    }
    let (mut x, mut y) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    loop {
        let n = a.read(&mut x).unwrap();
        if n == 0 {
            return true;
        }
        b.read_exact(&mut y[..n]).unwrap();
        if x[..n] != y[..n] {
            return false;
        }
    }
}

#[tokio::test]
async fn a_multi_gib_sparse_file_round_trips() {
    let f = start_with("", u64::MAX).await;
    let source = f._dir.path().join("sparse.img");
    sparse_file(&source);
    let mut client = connect(&f).await;
    let reply = client
        .send_file(&source, "sparse.img", false, |_, _| true)
        .await
        .unwrap();
    assert_eq!(reply.status, 0);
    let stored = f.root.join("sparse.img");
    assert!(same_content(&source, &stored), "the pushed copy differs");
    std::fs::remove_file(&source).unwrap(); // half the disk space back before the pull
    let back = f._dir.path().join("back.img");
    let got = client
        .get_file("sparse.img", &back, false, |_, _| true)
        .await
        .unwrap();
    assert_eq!(got, SPARSE_SIZE);
    assert!(same_content(&stored, &back), "the pulled copy differs");
    assert!(no_parts(&f.root) && no_parts(f._dir.path()));
}

/// A small tmpfs, unmounted on drop. Mounting needs root (CI runs as root and sets
/// `KEYWAY_REQUIRE_MOUNT=1`, so there the test cannot skip).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(&at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(SmallDisk(at)),
            other => {
                let why = format!("cannot mount a tmpfs (needs root): {other:?}");
                assert!(std::env::var_os("KEYWAY_REQUIRE_MOUNT").is_none(), "{why}");
                keyway_kernel::report_skip(
                    "transfer onto a full disk",
                    &why,
                    "run the tests as root (CI does, with KEYWAY_REQUIRE_MOUNT=1)",
                );
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_stops_the_push_with_a_clear_error_and_the_server_goes_on() {
    let outer = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(outer.path().join("small"), "8m") else {
        return;
    };
    std::fs::write(disk.0.join("kept.txt"), b"still here").unwrap();
    let f = start_with(&format!("root=\"{}\"", disk.0.display()), u64::MAX).await;
    let source = f._dir.path().join("big.bin");
    std::fs::write(&source, vec![0x5au8; 64 << 20]).unwrap();
    let mut client = connect(&f).await;
    let mut sent = 0;
    let err = client
        .send_file(&source, "big.bin", false, |done, _| {
            sent = done;
            true
        })
        .await
        .unwrap_err();
    match &err {
        TransferError::Remote { message, .. } => {
            assert!(message.contains("No space left"), "{message}")
        }
        other => panic!("expected the server's storage error, got {other}"),
    }
    assert!(sent < 48 << 20, "the client went on sending: {sent} bytes");
    assert!(
        !disk.0.join("big.bin").exists(),
        "no partial file under the final name"
    );
    // The server serves others: a new connection reads the file that was there.
    let mut other = connect(&f).await;
    assert_eq!(other.send_message("hello").await.unwrap().status, 0);
    let dest = f._dir.path().join("kept.txt");
    other
        .get_file("kept.txt", &dest, false, |_, _| true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"still here");
}
