//! Whole-file integrity: BLAKE3 (in its key-derivation mode, with this protocol's context
//! string) over the file's name and size, then its content, so a file cannot be swapped for
//! another of a different name or length (docs/transfer.md). BLAKE3 rather than SHA-256
//! because the digest runs over every byte on both sides: SHA-256 was the largest single cost
//! of a transfer (30–43% of the client's CPU), BLAKE3's SIMD code is several times faster.

/// BLAKE3 `derive_key` context: names the protocol version and the use.
pub(crate) const CONTEXT: &str = "keyway-transfer v2 whole-file digest";

pub(crate) struct FileDigest(blake3::Hasher);

impl FileDigest {
    pub(crate) fn new(name: &str, size: u64) -> FileDigest {
        let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
        hasher.update(&(name.len() as u16).to_be_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&size.to_be_bytes());
        FileDigest(hasher)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// Feeds the first `len` bytes of the file `open` opens into `digest` (the part a resumed
/// transfer skips), on the blocking pool.
pub(crate) async fn hash_prefix(
    open: impl FnOnce() -> std::io::Result<std::fs::File> + Send + 'static,
    len: u64,
    mut digest: FileDigest,
) -> std::io::Result<FileDigest> {
    if len == 0 {
        return Ok(digest); // nothing to read, and the file may not exist yet
    }
    tokio::task::spawn_blocking(move || {
        let mut file = open()?;
        hash_prefix_blocking(&mut file, len, &mut digest)?;
        Ok(digest)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Feeds the first `len` bytes of `file` into `digest`, reading from its start.
pub(crate) fn hash_prefix_blocking(
    file: &mut std::fs::File,
    len: u64,
    digest: &mut FileDigest,
) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut left = len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shorter than expected",
            ));
        }
        digest.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The empty file's vector (docs/transfer.md): name "e", size 0.
    #[test]
    fn empty_vector() {
        let hex: String = FileDigest::new("e", 0)
            .finish()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "6d4282811d69fa7ead7c414fdc4823bb115b47d53ecd6e3d7b7d1129ed80f341"
        );
    }

    /// The vector of docs/transfer.md: name "a.txt", size 5, content "hello".
    #[test]
    fn vector() {
        let mut d = FileDigest::new("a.txt", 5);
        d.update(b"hel");
        d.update(b"lo");
        let hex: String = d.finish().iter().map(|b| format!("{b:02x}")).collect();
        // Computed independently with Python's `blake3` package (docs/transfer.md).
        assert_eq!(
            hex,
            "f5bc36224c9dcd4e4001b7566a29f49d4932cc8b355556fef8a62c7070a50b0a"
        );
    }
}
