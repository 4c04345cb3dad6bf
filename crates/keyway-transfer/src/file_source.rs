//! Sending a file's body: a blocking thread reads the file ahead of the connection, straight
//! into the send buffers (behind room for the DATA header), and hashes it there, so the async
//! side only encrypts and writes. On two cores the sender's one async thread had been the
//! bottleneck of a transfer (reading through `tokio::fs` cost an extra copy of every byte, and
//! BLAKE3 ran on the same thread as AES-GCM). Memory stays bounded: [`BLOCKS`] buffers.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use crate::digest::{FileDigest, hash_prefix_blocking};
use crate::frame::{DataBuffer, MAX_PAYLOAD};

/// Bytes per block, and so per DATA frame.
pub(crate) const BLOCK: usize = MAX_PAYLOAD;
/// Blocks in circulation: one being sent, one ready, one being read.
const BLOCKS: usize = 3;

type Filled = std::io::Result<(DataBuffer, usize)>;

/// The blocks of a file, from an offset to its announced size, read and hashed ahead.
pub(crate) struct FileSource {
    filled: tokio::sync::mpsc::Receiver<Filled>,
    empty: std::sync::mpsc::Sender<DataBuffer>,
    reader: tokio::task::JoinHandle<Option<[u8; 32]>>,
}

impl FileSource {
    /// Starts reading `file` at `offset` until `size` bytes in all. The digest covers the
    /// whole content: the reader first feeds it the `offset` bytes the peer already has.
    pub(crate) fn start(file: File, digest: FileDigest, offset: u64, size: u64) -> FileSource {
        let (filled_tx, filled) = tokio::sync::mpsc::channel(BLOCKS);
        let (empty, empty_rx) = std::sync::mpsc::channel();
        for _ in 0..BLOCKS {
            // The receiver is alive: it is moved into the reader below.
            let _ = empty.send(DataBuffer::new(BLOCK));
        }
        let reader = tokio::task::spawn_blocking(move || {
            read_ahead(file, digest, offset, size, &filled_tx, &empty_rx)
        });
        FileSource {
            filled,
            empty,
            reader,
        }
    }

    /// The next block and its length; `None` once the announced size has been read.
    pub(crate) async fn next(&mut self) -> std::io::Result<Option<(DataBuffer, usize)>> {
        self.filled.recv().await.transpose()
    }

    /// Returns a sent block for reuse.
    pub(crate) fn give_back(&self, block: DataBuffer) {
        // Fails only when the reader has stopped, and then the block is not needed.
        let _ = self.empty.send(block);
    }

    /// The digest, once [`FileSource::next`] has returned `None`.
    pub(crate) async fn finish(self) -> std::io::Result<[u8; 32]> {
        drop(self.empty);
        self.reader
            .await
            .map_err(std::io::Error::other)?
            .ok_or_else(|| std::io::Error::other("the file reader stopped before the end"))
    }
}

/// The reader thread: `Some(digest)` when every block was read and handed over; errors go
/// to the consumer as its next block.
fn read_ahead(
    mut file: File,
    mut digest: FileDigest,
    offset: u64,
    size: u64,
    filled: &tokio::sync::mpsc::Sender<Filled>,
    empty: &std::sync::mpsc::Receiver<DataBuffer>,
) -> Option<[u8; 32]> {
    let mut step = || -> std::io::Result<bool> {
        hash_prefix_blocking(&mut file, offset, &mut digest)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut left = size.saturating_sub(offset);
        while left > 0 {
            let Ok(mut block) = empty.recv() else {
                return Ok(false); // the consumer is gone
            };
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(BLOCK);
            file.read_exact(block.space(n)).map_err(|err| {
                if err.kind() == std::io::ErrorKind::UnexpectedEof {
                    std::io::Error::new(err.kind(), "the file shrank while being sent")
                } else {
                    err
                }
            })?;
            digest.update(block.data(n));
            left -= n as u64;
            if filled.blocking_send(Ok((block, n))).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    };
    match step() {
        Ok(true) => Some(digest.finish()),
        Ok(false) => None,
        Err(err) => {
            let _ = filled.blocking_send(Err(err));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(source: &mut FileSource) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some((block, n)) = source.next().await? {
            out.extend_from_slice(block.data(n));
            source.give_back(block);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn blocks_cover_the_rest_and_the_digest_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..3 * BLOCK + 77).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        for offset in [0, 1, BLOCK as u64, content.len() as u64] {
            let size = content.len() as u64;
            let file = File::open(&path).unwrap();
            let mut source = FileSource::start(file, FileDigest::new("f", size), offset, size);
            let got = drain(&mut source).await.unwrap();
            assert!(got == content[offset as usize..], "offset {offset}");
            let mut whole = FileDigest::new("f", size);
            whole.update(&content);
            assert_eq!(source.finish().await.unwrap(), whole.finish());
        }
    }

    #[tokio::test]
    async fn a_file_shorter_than_announced_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; BLOCK + 10]).unwrap();
        let file = File::open(&path).unwrap();
        let size = 2 * BLOCK as u64;
        let mut source = FileSource::start(file, FileDigest::new("f", size), 0, size);
        let err = drain(&mut source).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(source.finish().await.is_err());
    }
}
