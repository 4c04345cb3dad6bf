//! Where received file bytes go: the part file, written from a dedicated blocking thread so the
//! next chunk is received, decrypted and hashed while the previous one is written, and on Linux
//! with `O_DIRECT` (the bytes go from our aligned buffer to the disk without being copied into
//! the page cache; on this machine's VM that copy was the largest single cost of receiving a
//! file, 42–45% of the receiver's CPU). Memory stays bounded: two buffers of [`BUFFER`] bytes.
//!
//! `O_DIRECT` needs aligned buffers, offsets and lengths; whenever one of them would not be
//! (a resume from an odd offset, a short write at a sync point, a file system that refuses the
//! flag, like tmpfs), the sink carries on through the page cache, never failing for it.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};

use crate::digest::FileDigest;

/// Bytes per write at most (a multiple of [`ALIGN`]). Large writes matter here: `dd` with
/// `oflag=direct` wrote a new 1 GiB file in 0.77 s with 1 MiB blocks, 0.60 s with 4 MiB and
/// 0.57 s with 8 MiB, and the benchmark's transfers were 7–9% faster with 8 MiB than 4 MiB
/// (16 MiB: no better). Smaller files get buffers of their own size.
pub(crate) const BUFFER: usize = 8 << 20;
/// Alignment `O_DIRECT` wants for memory, offsets and lengths (covers 512-byte devices too).
const ALIGN: usize = 4096;

/// A heap buffer with a window aligned to [`ALIGN`], made without `unsafe`: the vector is
/// allocated once and never grows, so the window's address stays put.
struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuffer {
    /// `capacity`: a multiple of [`ALIGN`], at most [`BUFFER`].
    fn new(capacity: usize) -> AlignedBuffer {
        let storage = vec![0u8; capacity + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuffer {
            storage,
            start,
            len: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.storage.len() - ALIGN
    }

    fn room(&self) -> usize {
        self.capacity() - self.len
    }

    fn push(&mut self, bytes: &[u8]) {
        let at = self.start + self.len;
        self.storage[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The filled part padded with zeros to a multiple of [`ALIGN`] (for the last write).
    fn padded(&mut self) -> &[u8] {
        let padded = self.len.div_ceil(ALIGN) * ALIGN;
        self.storage[self.start + self.len..self.start + padded].fill(0);
        &self.storage[self.start..self.start + padded]
    }
}

/// The file and how it is being written; moves to the blocking thread for each write.
struct Target {
    file: File,
    direct: bool,
    /// Bytes written so far (the file's logical end).
    position: u64,
    /// The whole-file digest, fed here in whole blocks: BLAKE3 spreads a block of many 1 KiB
    /// chunks over its SIMD lanes, while the ≤ 16 KiB pieces TLS hands out, misaligned by the
    /// frame headers, fell back to narrow subtrees (measured: more CPU than the copy saved).
    digest: FileDigest,
}

impl Target {
    /// Writes `buffer` at the current position; `last` allows a padded final `O_DIRECT` write.
    fn write(&mut self, buffer: &mut AlignedBuffer, last: bool) -> std::io::Result<()> {
        let len = buffer.len;
        self.digest.update(buffer.filled());
        if self.direct && (len.is_multiple_of(ALIGN) || last) {
            let attempt = if last {
                self.file.write_all(buffer.padded())
            } else {
                self.file.write_all(buffer.filled())
            };
            match attempt {
                Ok(()) => {
                    self.position += len as u64;
                    if last && !len.is_multiple_of(ALIGN) {
                        // The zeros of the padding are cut off again.
                        self.file.set_len(self.position)?;
                    }
                    return Ok(());
                }
                // The file system takes the flag at open but not these writes.
                Err(err) if err.raw_os_error() == Some(EINVAL) => {}
                Err(err) => return Err(err),
            }
        }
        if self.direct {
            self.leave_direct()?;
        }
        self.file.write_all(buffer.filled())?;
        self.position += len as u64;
        Ok(())
    }

    /// Goes on through the page cache at the current position: `O_DIRECT` is turned off on
    /// the same descriptor (the file is never opened again by name: on the server, names are
    /// only ever resolved inside the key's root, `confined_dir.rs`).
    fn leave_direct(&mut self) -> std::io::Result<()> {
        crate::confined_dir::leave_direct(&self.file)?;
        self.file.set_len(self.position)?;
        self.file.seek(SeekFrom::Start(self.position))?;
        self.direct = false;
        Ok(())
    }
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = 22;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = -1;

type WriteJob = tokio::task::JoinHandle<(Target, AlignedBuffer, std::io::Result<()>)>;
type Checkpoint = Box<dyn FnOnce() -> std::io::Result<()> + Send>;

/// Received file bytes on their way to a part file, hashed on the way. Call
/// [`FileSink::finish`] at the end: it writes what is buffered, fsyncs, and returns the digest
/// only when everything is on disk.
pub(crate) struct FileSink {
    target: Option<Target>,
    current: AlignedBuffer,
    spare: Option<AlignedBuffer>,
    pending: Option<WriteJob>,
    checkpoint: Option<Checkpoint>,
}

impl FileSink {
    /// Opens the part file with `open(direct)` (creating it) for writing at `offset` (the part
    /// is cut to it); `O_DIRECT` (`direct` = true) is tried first when the platform and the
    /// file system allow it and `offset` is aligned. `digest` has been fed everything before
    /// `offset`; the sink feeds it the rest, up to `size` bytes in all.
    pub(crate) async fn open(
        open: impl Fn(bool) -> std::io::Result<File> + Send + 'static,
        offset: u64,
        size: u64,
        digest: FileDigest,
    ) -> std::io::Result<FileSink> {
        let rest = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
        let capacity = rest.clamp(1, BUFFER).div_ceil(ALIGN) * ALIGN;
        let target = tokio::task::spawn_blocking(move || open_target(open, offset, digest))
            .await
            .map_err(std::io::Error::other)??;
        tracing::debug!(direct = target.direct, "receiving a file");
        Ok(FileSink {
            target: Some(target),
            current: AlignedBuffer::new(capacity),
            spare: Some(AlignedBuffer::new(capacity)),
            pending: None,
            checkpoint: None,
        })
    }

    pub(crate) async fn write_all(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let take = bytes.len().min(self.current.room());
            self.current.push(&bytes[..take]);
            bytes = &bytes[take..];
            if self.current.room() == 0 {
                self.hand_over().await?;
            }
        }
        Ok(())
    }

    /// Makes the bytes written so far a resume point without waiting for the disk: after the
    /// next block is written, the writer thread fsyncs the data and then runs `record` (which
    /// writes the resume point down). Waiting here instead stalled the receive loop for a
    /// write and an fsync every 64 MiB, while the sender's data piled up in TCP. A newer
    /// checkpoint replaces one not yet reached; one not reached by [`FileSink::finish`] is
    /// dropped, as everything is fsynced there anyway.
    pub(crate) fn checkpoint(
        &mut self,
        record: impl FnOnce() -> std::io::Result<()> + Send + 'static,
    ) {
        self.checkpoint = Some(Box::new(record));
    }

    /// Ends an interrupted file (the connection failed, `why`) so that it can resume from the
    /// latest checkpoint: one not yet reached is fsynced and recorded now. Returns `why`.
    pub(crate) async fn keep_checkpoint<E>(mut self, why: E) -> E {
        if self.checkpoint.is_none() {
            return why;
        }
        // The checkpoint goes with the buffered bytes (possibly none) in one last write job.
        let kept = match self.hand_over().await {
            Ok(()) => self.wait().await.map(drop),
            Err(err) => Err(err),
        };
        if let Err(err) = kept {
            tracing::warn!(%err, "the resume point of an interrupted file was not recorded");
        }
        why
    }

    /// Writes the rest, fsyncs data and size, closes; returns the digest of the whole file.
    pub(crate) async fn finish(mut self) -> std::io::Result<[u8; 32]> {
        let mut target = self.wait().await?;
        let mut last = std::mem::replace(&mut self.current, AlignedBuffer::new(0));
        tokio::task::spawn_blocking(move || {
            if last.len > 0 {
                target.write(&mut last, true)?;
            }
            target.file.sync_all()?;
            Ok(target.digest.finish())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Starts writing the current buffer on the blocking pool, after the previous write (also
    /// an empty one, when it carries a checkpoint).
    async fn hand_over(&mut self) -> std::io::Result<()> {
        if self.current.len == 0 && self.checkpoint.is_none() {
            return Ok(());
        }
        let mut target = self.wait().await?;
        let capacity = self.current.capacity();
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| AlignedBuffer::new(capacity));
        let mut full = std::mem::replace(&mut self.current, next);
        let checkpoint = self.checkpoint.take();
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let result = target
                .write(&mut full, false)
                .and_then(|()| match checkpoint {
                    Some(record) => target.file.sync_data().and_then(|()| record()),
                    None => Ok(()),
                });
            full.len = 0;
            (target, full, result)
        }));
        Ok(())
    }

    /// Waits for the write in flight (if any) and takes the target back.
    async fn wait(&mut self) -> std::io::Result<Target> {
        if let Some(job) = self.pending.take() {
            let (target, buffer, result) = job.await.map_err(std::io::Error::other)?;
            self.spare = Some(buffer);
            result?;
            return Ok(target);
        }
        self.take_target()
    }

    fn take_target(&mut self) -> std::io::Result<Target> {
        self.target
            .take()
            .ok_or_else(|| std::io::Error::other("file sink used after a failed write"))
    }
}

fn open_target(
    open: impl Fn(bool) -> std::io::Result<File>,
    offset: u64,
    digest: FileDigest,
) -> std::io::Result<Target> {
    let aligned = offset.is_multiple_of(ALIGN as u64);
    // A file system that refuses O_DIRECT at open (tmpfs: EINVAL) gets the page cache.
    let direct = if cfg!(target_os = "linux") && aligned {
        open(true).ok()
    } else {
        None
    };
    let (mut file, direct) = match direct {
        Some(file) => (file, true),
        None => (open(false)?, false),
    };
    file.set_len(offset)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(Target {
        file,
        direct,
        position: offset,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    async fn written(
        offset: u64,
        pieces: &[usize],
        sync_after: Option<usize>,
    ) -> (Vec<u8>, Vec<u8>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let head = pattern(offset as usize);
        std::fs::write(&path, &head).unwrap();
        let mut digest = FileDigest::new("part", 0);
        digest.update(&head);
        let total: usize = pieces.iter().sum();
        let size = offset + total as u64;
        let part = path.clone();
        let open = move |direct| crate::confined_dir::open_local_part(&part, direct);
        let mut sink = FileSink::open(open, offset, size, digest).await.unwrap();
        let data = pattern(total + 13);
        let mut at = 0;
        let recorded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for (n, &piece) in pieces.iter().enumerate() {
            sink.write_all(&data[at..at + piece]).await.unwrap();
            at += piece;
            if sync_after == Some(n) {
                let (path, reached) = (path.clone(), offset + at as u64);
                let recorded = recorded.clone();
                sink.checkpoint(move || {
                    // Runs after the fsync: the bytes are in the file.
                    assert!(std::fs::metadata(&path)?.len() >= reached);
                    recorded.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                });
            }
        }
        let digest = sink.finish().await.unwrap();
        let mut expected = head;
        expected.extend_from_slice(&data[..total]);
        let mut whole = FileDigest::new("part", 0);
        whole.update(&expected);
        assert_eq!(digest, whole.finish(), "digest for {offset} {pieces:?}");
        let recorded = recorded.load(std::sync::atomic::Ordering::SeqCst);
        (std::fs::read(&path).unwrap(), expected, recorded)
    }

    #[tokio::test]
    async fn odd_sizes_offsets_and_checkpoints_write_exactly_the_bytes() {
        // (offset, pieces, checkpoint after piece n, whether a later block reaches it)
        let cases: [(u64, &[usize], Option<usize>, bool); 6] = [
            (0, &[], None, false),
            (0, &[1], None, false),
            (0, &[BUFFER, BUFFER, 5], None, false),
            (0, &[300_000, 900_001, 2 * BUFFER + 17], Some(1), true),
            (8192, &[BUFFER + 4096], Some(0), false),
            (4097, &[10, BUFFER * 2], Some(0), true),
        ];
        for (offset, pieces, checkpoint, reached) in cases {
            let (got, expected, recorded) = written(offset, pieces, checkpoint).await;
            assert_eq!(got.len(), expected.len(), "{offset} {pieces:?}");
            assert!(got == expected, "content differs for {offset} {pieces:?}");
            assert_eq!(recorded, reached, "checkpoint for {offset} {pieces:?}");
        }
    }

    #[tokio::test]
    async fn an_interrupted_file_keeps_its_latest_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let data = pattern(BUFFER + 5000);
        let size = 4 * BUFFER as u64;
        let part = path.clone();
        let open = move |direct| crate::confined_dir::open_local_part(&part, direct);
        let mut sink = FileSink::open(open, 0, size, FileDigest::new("part", size))
            .await
            .unwrap();
        sink.write_all(&data).await.unwrap();
        let recorded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = recorded.clone();
        sink.checkpoint(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
        // The connection fails before another block fills: the 5000 buffered bytes are part
        // of the checkpoint, so they are written before it is recorded.
        let why = sink.keep_checkpoint("connection lost").await;
        assert_eq!(why, "connection lost");
        assert!(recorded.load(std::sync::atomic::Ordering::SeqCst));
        assert!(std::fs::read(&path).unwrap() == data);
    }
}
