//! File push (`send_file`) and pull (`get_file`) on the client, with resume and a progress
//! hook. The hook gets (bytes done, total) and returns whether to go on.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::client::{refusal, reply_of};
use crate::confined_dir::open_local_part;
use crate::digest::{FileDigest, hash_prefix};
use crate::file_body::{BodyPart, PourError, next_part, pour};
use crate::file_sink::FileSink;
use crate::file_source::FileSource;
use crate::frame::{Frame, FrameError, Kind, write_frame};
use crate::server_files::{FLAG_OVERWRITE, FLAG_RESUME};
use crate::{Client, Reply, TransferError};

impl Client {
    /// Pushes `local` to the server as `remote_name`. If an earlier push of the same file was
    /// interrupted, the server resumes it from its last synced offset.
    pub async fn send_file(
        &mut self,
        local: &Path,
        remote_name: &str,
        overwrite: bool,
        progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<Reply, TransferError> {
        let result = self
            .push_file(local, remote_name, overwrite, progress)
            .await;
        self.explain_refusal(result).await
    }

    async fn push_file(
        &mut self,
        local: &Path,
        remote_name: &str,
        overwrite: bool,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<Reply, TransferError> {
        let local_error = |source| TransferError::LocalFile {
            path: local.display().to_string(),
            source,
        };
        let file = tokio::fs::File::open(local).await.map_err(local_error)?;
        let size = file.metadata().await.map_err(local_error)?.len();
        let flags = FLAG_RESUME | if overwrite { FLAG_OVERWRITE } else { 0 };
        let request = Frame::Request {
            kind: Kind::FilePush,
            flags,
            size,
            name: remote_name.to_string(),
        };
        write_frame(&mut self.stream, &request).await?;
        self.stream.flush().await?;
        let offset = match self.expect_ready().await? {
            Ok((offset, announced)) if announced == size && offset <= size => offset,
            Ok(_) => return Err(FrameError::Malformed("ready").into()),
            Err(refusal) => return Err(refusal),
        };
        let file = file.into_std().await;
        let mut source = FileSource::start(file, FileDigest::new(remote_name, size), offset, size);
        let mut sent = offset;
        if !progress(sent, size) {
            return Err(TransferError::Aborted);
        }
        while let Some((mut block, n)) = source.next().await? {
            if let Err(err) = block.send(&mut self.stream, n).await {
                return Err(self.why_sending_failed(err.into()).await);
            }
            source.give_back(block);
            if let Some(stop) = self.early_answer().await {
                // The server stopped the push (its disk failed, say): no point in going on.
                return Err(stop);
            }
            sent += n as u64;
            if !progress(sent, size) {
                return Err(TransferError::Aborted);
            }
        }
        let digest = source.finish().await?;
        write_frame(&mut self.stream, &Frame::Digest(digest)).await?;
        self.stream.flush().await?;
        match self.read_reply().await? {
            // A negative status is a refusal of the file (digest mismatch, storage).
            reply if reply.status < 0 => Err(refusal(reply)),
            reply => Ok(reply),
        }
    }

    /// Pulls `remote_name` into `local` (written under a temporary name, verified, fsynced,
    /// then renamed). A partial download left by an interrupted pull is resumed.
    pub async fn get_file(
        &mut self,
        remote_name: &str,
        local: &Path,
        overwrite: bool,
        progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<u64, TransferError> {
        let result = self
            .pull_file(remote_name, local, overwrite, progress)
            .await;
        self.explain_refusal(result).await
    }

    async fn pull_file(
        &mut self,
        remote_name: &str,
        local: &Path,
        overwrite: bool,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<u64, TransferError> {
        if !overwrite && std::fs::symlink_metadata(local).is_ok() {
            return Err(TransferError::LocalExists(local.display().to_string()));
        }
        let part = part_path(local);
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let request = Frame::Request {
            kind: Kind::FileGet,
            flags: 0,
            size: have,
            name: remote_name.to_string(),
        };
        write_frame(&mut self.stream, &request).await?;
        self.stream.flush().await?;
        let (offset, size) = match self.expect_ready().await? {
            Ok((offset, size)) if offset <= size && offset <= have => (offset, size),
            Ok(_) => return Err(FrameError::Malformed("ready").into()),
            Err(refusal) => return Err(refusal),
        };
        let digest = FileDigest::new(remote_name, size);
        let reading = part.clone();
        let part_error = |source| TransferError::LocalFile {
            path: part.display().to_string(),
            source,
        };
        let digest = hash_prefix(move || std::fs::File::open(reading), offset, digest)
            .await
            .map_err(part_error)?;
        let writing = part.clone();
        let open = move |direct| open_local_part(&writing, direct);
        let mut writer = FileSink::open(open, offset, size, digest)
            .await
            .map_err(part_error)?;
        let mut received = offset;
        if !progress(received, size) {
            return Err(TransferError::Aborted);
        }
        let expected = loop {
            match next_part(&mut self.stream).await? {
                BodyPart::Data(len) if received + len as u64 <= size => {
                    match pour(&mut self.stream, len, &mut writer).await {
                        Ok(()) => {}
                        Err(PourError::Stream(err)) => {
                            // What arrived is kept for a resume (which checks it again).
                            let _ = writer.finish().await;
                            return Err(err.into());
                        }
                        Err(PourError::Sink(err)) => return Err(err.into()),
                    }
                    received += len as u64;
                    if !progress(received, size) {
                        writer.finish().await?;
                        return Err(TransferError::Aborted);
                    }
                }
                BodyPart::Frame(Frame::Digest(expected)) if received == size => break expected,
                BodyPart::Frame(Frame::Error { code, message }) => {
                    return Err(TransferError::Remote { code, message });
                }
                BodyPart::Data(_) | BodyPart::Frame(_) => {
                    return Err(FrameError::Malformed("file body (unexpected frame)").into());
                }
                BodyPart::Closed => {
                    // What arrived is kept for a resume.
                    writer.finish().await?;
                    return Err(FrameError::Truncated.into());
                }
            }
        };
        if writer.finish().await? != expected {
            let _ = std::fs::remove_file(&part);
            return Err(TransferError::Integrity);
        }
        let placed = if overwrite {
            std::fs::rename(&part, local)
        } else {
            std::fs::hard_link(&part, local).and_then(|()| std::fs::remove_file(&part))
        };
        placed.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                TransferError::LocalExists(local.display().to_string())
            }
            _ => TransferError::LocalFile {
                path: local.display().to_string(),
                source: e,
            },
        })?;
        Ok(size)
    }

    /// Reads READY, or turns a refusal reply into an error.
    async fn expect_ready(&mut self) -> Result<Result<(u64, u64), TransferError>, TransferError> {
        match self.next_frame().await? {
            Some(Frame::Ready { offset, size }) => Ok(Ok((offset, size))),
            other => match reply_of(other) {
                Ok(reply) => Ok(Err(refusal(reply))),
                Err(remote @ TransferError::Remote { .. }) => Ok(Err(remote)),
                Err(err) => Err(err),
            },
        }
    }
}

/// Where a pull is written until it is verified: a hidden name beside the destination.
fn part_path(local: &Path) -> PathBuf {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    local.with_file_name(format!(".{name}.keyway-part"))
}
