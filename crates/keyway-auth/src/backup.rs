//! Sealed backups (`keyway backup`, `keyway restore`): a snapshot of a SQLite hub's database,
//! sealed under the hub's master key in chunks of AES-256-GCM, so a backup copied off the
//! machine reveals nothing without the key, and a changed, reordered, cut or lengthened one
//! is refused as a whole. The format is in docs/backup.md (with a test vector).
//!
//! ```text
//! "keyway-backup 1\n"
//! header: one line of JSON, "\n"
//! frames: u32 big-endian (bit 31: last frame; bits 0–30: length) ‖ nonce ‖ ciphertext ‖ tag
//! AAD of frame i: "keyway-backup 1\n" ‖ SHA-256(header line) ‖ u64 BE i ‖ u8 last
//! ```

use std::io::{BufRead, Read, Write};

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use crate::{Entropy, MasterKey};

/// The first line of every backup: the format and its version.
pub const BACKUP_MAGIC: &[u8] = b"keyway-backup 1\n";
/// Plain bytes per frame.
pub const BACKUP_CHUNK: usize = 1 << 20;
/// Nonce and tag around each frame's ciphertext.
const OVERHEAD: usize = 12 + 16;
const LAST: u32 = 1 << 31;
/// A header line longer than this is not one.
const MAX_HEADER: usize = 4096;

/// What a backup says about itself (its second line; authenticated by every frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// A random id of this backup: no two headers are alike, so frames of one backup can
    /// never be spliced into another made under the same key (the header is in every AAD).
    pub id: String,
    /// When it was made (Unix seconds).
    pub created: i64,
    /// The keyway version that made it.
    pub keyway: String,
    /// What it holds: `sqlite` (a SQLite database file).
    pub content: String,
    /// The id of the master key it is sealed under ([`MasterKey::id`]).
    pub master_key_id: String,
    /// Plain bytes per frame.
    pub chunk_bytes: u32,
}

/// Why a backup cannot be made or read back.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("this is not a keyway backup (it does not start with \"keyway-backup 1\")")]
    NotABackup,
    #[error("the backup's header is unreadable: {0}")]
    BadHeader(String),
    #[error(
        "this backup is sealed under master key {backup}, and the key given is {given}: give \
         the master key of the hub it was made from (--master-key-file)"
    )]
    WrongKey { backup: String, given: String },
    #[error("the backup is damaged or was changed (frame {0} does not open)")]
    Damaged(u64),
    #[error("the backup is cut short (it ends before its last frame, after {0} frames)")]
    Truncated(u64),
    #[error("the backup has bytes after its last frame (it was changed)")]
    Trailing,
    #[error("sealing a frame failed")]
    Crypto,
}

fn aad(header_digest: &[u8], index: u64, last: bool) -> Vec<u8> {
    let mut aad = BACKUP_MAGIC.to_vec();
    aad.extend_from_slice(header_digest);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

/// Reads until `buf` is full or the input ends; the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Writes `input` to `output` as a backup sealed under `key`; the plain bytes written.
pub fn seal_backup(
    key: &MasterKey,
    header: &BackupHeader,
    input: &mut impl Read,
    output: &mut impl Write,
    entropy: &dyn Entropy,
) -> Result<u64, BackupError> {
    let line = serde_json::to_string(header).map_err(|e| BackupError::BadHeader(e.to_string()))?;
    let digest = digest::digest(&digest::SHA256, line.as_bytes());
    output.write_all(BACKUP_MAGIC)?;
    output.write_all(line.as_bytes())?;
    output.write_all(b"\n")?;
    let chunk = usize::try_from(header.chunk_bytes)
        .unwrap_or(BACKUP_CHUNK)
        .max(1);
    let mut buf = vec![0u8; chunk];
    let mut total = 0u64;
    for index in 0u64.. {
        let n = read_full(input, &mut buf)?;
        // A short chunk is the last; a full one is followed by another (maybe empty).
        let last = n < chunk;
        let sealed = key
            .seal_key()
            .seal(&aad(digest.as_ref(), index, last), &buf[..n], entropy)
            .ok_or(BackupError::Crypto)?;
        let len = u32::try_from(sealed.len()).map_err(|_| BackupError::Crypto)?;
        output.write_all(&(len | if last { LAST } else { 0 }).to_be_bytes())?;
        output.write_all(&sealed)?;
        total += n as u64;
        if last {
            break;
        }
    }
    output.flush()?;
    Ok(total)
}

/// The header of a backup, read from its start (nothing is checked against a key yet).
pub fn read_backup_header(input: &mut impl BufRead) -> Result<(BackupHeader, String), BackupError> {
    let mut magic = [0u8; BACKUP_MAGIC.len()];
    if read_full(input, &mut magic)? != magic.len() || magic != BACKUP_MAGIC {
        return Err(BackupError::NotABackup);
    }
    let mut line = Vec::new();
    input.take(MAX_HEADER as u64).read_until(b'\n', &mut line)?;
    if line.pop() != Some(b'\n') {
        return Err(BackupError::BadHeader("no end of line in 4 KiB".into()));
    }
    let line = String::from_utf8(line).map_err(|_| BackupError::BadHeader("not UTF-8".into()))?;
    let header: BackupHeader =
        serde_json::from_str(&line).map_err(|e| BackupError::BadHeader(e.to_string()))?;
    if header.chunk_bytes == 0 || header.chunk_bytes > 64 << 20 {
        return Err(BackupError::BadHeader(format!(
            "chunk_bytes {} is out of range",
            header.chunk_bytes
        )));
    }
    Ok((header, line))
}

/// Opens the frames after the header into `output`, checking every one; the plain bytes.
/// Anything written before an error is to be thrown away by the caller.
pub fn open_backup(
    key: &MasterKey,
    header: &BackupHeader,
    header_line: &str,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<u64, BackupError> {
    if header.master_key_id != key.id() {
        return Err(BackupError::WrongKey {
            backup: header.master_key_id.clone(),
            given: key.id().to_string(),
        });
    }
    let digest = digest::digest(&digest::SHA256, header_line.as_bytes());
    let most = header.chunk_bytes as usize + OVERHEAD;
    let mut total = 0u64;
    let mut frame = vec![0u8; most];
    for index in 0u64.. {
        let mut word = [0u8; 4];
        if read_full(input, &mut word)? != 4 {
            return Err(BackupError::Truncated(index));
        }
        let word = u32::from_be_bytes(word);
        let (last, len) = (word & LAST != 0, (word & !LAST) as usize);
        if !(OVERHEAD..=most).contains(&len) {
            return Err(BackupError::Damaged(index));
        }
        if read_full(input, &mut frame[..len])? != len {
            return Err(BackupError::Truncated(index));
        }
        let plain = key
            .seal_key()
            .open(&aad(digest.as_ref(), index, last), &frame[..len])
            .ok_or(BackupError::Damaged(index))?;
        // Every frame but the last is whole.
        if !last && plain.len() != header.chunk_bytes as usize {
            return Err(BackupError::Damaged(index));
        }
        output.write_all(&plain)?;
        total += plain.len() as u64;
        if last {
            let mut more = [0u8; 1];
            if read_full(input, &mut more)? != 0 {
                return Err(BackupError::Trailing);
            }
            break;
        }
    }
    output.flush()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entropy that repeats one byte: the test vector's nonces.
    struct Fixed(u8);
    impl Entropy for Fixed {
        fn fill(&self, out: &mut [u8]) {
            out.fill(self.0);
        }
    }

    fn key(byte: u8) -> (MasterKey, tempfile::TempDir) {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let line = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        keyway_kernel::write_private_file(dir.path(), &path, format!("{line}\n").as_bytes())
            .unwrap();
        (
            MasterKey::load_or_create(&path, false, &Fixed(0)).unwrap(),
            dir,
        )
    }

    fn header(key: &MasterKey, chunk: u32) -> BackupHeader {
        BackupHeader {
            id: "test-vector".into(),
            created: 1_767_225_600,
            keyway: "0.1.0".into(),
            content: "sqlite".into(),
            master_key_id: key.id().into(),
            chunk_bytes: chunk,
        }
    }

    fn round_trip(plain: &[u8], chunk: u32) -> Vec<u8> {
        let (key, _dir) = key(1);
        let mut sealed = Vec::new();
        seal_backup(
            &key,
            &header(&key, chunk),
            &mut &plain[..],
            &mut sealed,
            &Fixed(7),
        )
        .unwrap();
        let mut reader = std::io::BufReader::new(&sealed[..]);
        let (read, line) = read_backup_header(&mut reader).unwrap();
        let mut opened = Vec::new();
        open_backup(&key, &read, &line, &mut reader, &mut opened).unwrap();
        assert_eq!(opened, plain);
        sealed
    }

    #[test]
    fn sizes_around_the_chunk_round_trip() {
        for size in [0usize, 1, 15, 16, 17, 47, 48, 49] {
            let plain: Vec<u8> = (0..size).map(|i| i as u8).collect();
            round_trip(&plain, 16);
        }
    }

    /// docs/backup.md's test vector: key 32 × 0x01, nonces 12 × 0x07, chunk 16 bytes.
    #[test]
    fn the_documented_test_vector() {
        let sealed = round_trip(b"keyway backup test vector", 16);
        let hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, include_str!("../../../docs/backup-vector.hex").trim());
    }

    #[test]
    fn changed_cut_reordered_or_lengthened_backups_are_refused() {
        let (key, _dir) = key(1);
        let plain = [9u8; 40];
        let mut sealed = Vec::new();
        seal_backup(
            &key,
            &header(&key, 16),
            &mut &plain[..],
            &mut sealed,
            &Fixed(7),
        )
        .unwrap();
        let open = |bytes: &[u8]| {
            let mut reader = std::io::BufReader::new(bytes);
            let (read, line) = read_backup_header(&mut reader)?;
            open_backup(&key, &read, &line, &mut reader, &mut Vec::new())
        };
        let body = sealed.iter().position(|&b| b == b'}').unwrap() + 2;
        let frame = 4 + 16 + 28;
        let mut flipped = sealed.clone();
        flipped[body + 10] ^= 1;
        assert!(matches!(open(&flipped), Err(BackupError::Damaged(0))));
        assert!(matches!(
            open(&sealed[..sealed.len() - 1]),
            Err(BackupError::Truncated(2))
        ));
        // Cut after a whole frame: the last-frame flag is missing.
        assert!(matches!(
            open(&sealed[..body + frame]),
            Err(BackupError::Truncated(1))
        ));
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(matches!(open(&longer), Err(BackupError::Trailing)));
        let mut swapped = sealed[..body].to_vec();
        swapped.extend_from_slice(&sealed[body + frame..body + 2 * frame]);
        swapped.extend_from_slice(&sealed[body..body + frame]);
        swapped.extend_from_slice(&sealed[body + 2 * frame..]);
        assert!(matches!(open(&swapped), Err(BackupError::Damaged(0))));
        // Another header (a later date) under the same frames.
        let text = String::from_utf8_lossy(&sealed[..body]).replace("1767225600", "1767225601");
        let mut redated = text.into_bytes();
        redated.extend_from_slice(&sealed[body..]);
        assert!(matches!(open(&redated), Err(BackupError::Damaged(0))));
        assert!(matches!(
            open(b"SQLite format 3\0"),
            Err(BackupError::NotABackup)
        ));
        let (other, _dir2) = self::key(2);
        let mut reader = std::io::BufReader::new(&sealed[..]);
        let (read, line) = read_backup_header(&mut reader).unwrap();
        assert!(matches!(
            open_backup(&other, &read, &line, &mut reader, &mut Vec::new()),
            Err(BackupError::WrongKey { .. })
        ));
    }
}
