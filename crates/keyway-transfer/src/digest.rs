//! Whole-file integrity: SHA-256 over a label, the file's name and size, and its content, so a
//! file cannot be swapped for another of a different name or length (docs/transfer.md).

use aws_lc_rs::digest::{Context, SHA256};

const LABEL: &[u8] = b"keyway-transfer file v1\0";

pub struct FileDigest(Context);

impl FileDigest {
    pub fn new(name: &str, size: u64) -> FileDigest {
        let mut context = Context::new(&SHA256);
        context.update(LABEL);
        context.update(&(name.len() as u16).to_be_bytes());
        context.update(name.as_bytes());
        context.update(&size.to_be_bytes());
        FileDigest(context)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// Feeds the first `len` bytes of `file` into `digest` (the part a resumed transfer skips).
pub async fn hash_prefix(
    file: &mut tokio::fs::File,
    len: u64,
    digest: &mut FileDigest,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    file.seek(std::io::SeekFrom::Start(0)).await?;
    let mut left = len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).await?;
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

    /// The vector of docs/transfer.md: name "a.txt", size 5, content "hello".
    #[test]
    fn vector() {
        let mut d = FileDigest::new("a.txt", 5);
        d.update(b"hel");
        d.update(b"lo");
        let hex: String = d.finish().iter().map(|b| format!("{b:02x}")).collect();
        // Computed independently with Python's hashlib (docs/transfer.md).
        assert_eq!(
            hex,
            "b2462ee87dccb2d80f7f7516ee5f12513c02a677937fce6036f41d899a95af3f"
        );
    }
}
