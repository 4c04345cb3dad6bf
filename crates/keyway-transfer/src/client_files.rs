//! File push (`send_file`) and pull (`get_file`) on the client, with resume and a progress
//! hook. The hook gets (bytes done, total) and returns whether to go on.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::digest::{FileDigest, hash_prefix};
use crate::file_sink::FileSink;
use crate::frame::{DataBuffer, Frame, FrameError, Kind, read_frame, write_frame};
use crate::server_files::{FLAG_OVERWRITE, FLAG_RESUME};
use crate::{Client, Reply, TransferError};

const CHUNK: usize = 256 * 1024;

impl Client {
    /// Pushes `local` to the server as `remote_name`. If an earlier push of the same file was
    /// interrupted, the server resumes it from its last synced offset.
    pub async fn send_file(
        &mut self,
        local: &Path,
        remote_name: &str,
        overwrite: bool,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<Reply, TransferError> {
        let mut file = tokio::fs::File::open(local).await?;
        let size = file.metadata().await?.len();
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
        let mut digest = FileDigest::new(remote_name, size);
        hash_prefix(&mut file, offset, &mut digest).await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let mut out = DataBuffer::new(CHUNK);
        let mut sent = offset;
        if !progress(sent, size) {
            return Err(TransferError::Aborted);
        }
        while sent < size {
            let want = usize::try_from(size - sent).unwrap_or(usize::MAX);
            let n = file.read(out.space(want)).await?;
            if n == 0 {
                return Err(TransferError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the local file shrank while being sent",
                )));
            }
            digest.update(out.data(n));
            out.send(&mut self.stream, n).await?;
            sent += n as u64;
            if !progress(sent, size) {
                return Err(TransferError::Aborted);
            }
        }
        write_frame(&mut self.stream, &Frame::Digest(digest.finish())).await?;
        self.stream.flush().await?;
        match read_frame(&mut self.stream).await? {
            Some(Frame::Response { status, body }) if status < 0 => Err(TransferError::Refused {
                status,
                message: String::from_utf8_lossy(&body).into_owned(),
            }),
            Some(Frame::Response { status, body }) => Ok(Reply { status, body }),
            Some(Frame::Error { code, message }) => Err(TransferError::Remote { code, message }),
            Some(_) => Err(FrameError::Malformed("reply (unexpected frame)").into()),
            None => Err(FrameError::Truncated.into()),
        }
    }

    /// Pulls `remote_name` into `local` (written under a temporary name, verified, fsynced,
    /// then renamed). A partial download left by an interrupted pull is resumed.
    pub async fn get_file(
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
        let mut digest = FileDigest::new(remote_name, size);
        let mut writer = FileSink::open(&part, offset).await?;
        if offset > 0 {
            let mut kept = tokio::fs::File::open(&part).await?;
            hash_prefix(&mut kept, offset, &mut digest).await?;
        }
        let mut received = offset;
        if !progress(received, size) {
            return Err(TransferError::Aborted);
        }
        let expected = loop {
            match read_frame(&mut self.stream).await? {
                Some(Frame::Data(chunk)) if received + chunk.len() as u64 <= size => {
                    writer.write_all(&chunk).await?;
                    digest.update(&chunk);
                    received += chunk.len() as u64;
                    if !progress(received, size) {
                        writer.finish().await?;
                        return Err(TransferError::Aborted);
                    }
                }
                Some(Frame::Digest(expected)) if received == size => break expected,
                Some(Frame::Error { code, message }) => {
                    return Err(TransferError::Remote { code, message });
                }
                Some(_) => return Err(FrameError::Malformed("file body (unexpected frame)").into()),
                None => {
                    // What arrived is kept for a resume.
                    writer.finish().await?;
                    return Err(FrameError::Truncated.into());
                }
            }
        };
        writer.finish().await?;
        if digest.finish() != expected {
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
            _ => TransferError::Io(e),
        })?;
        Ok(size)
    }

    /// Reads READY, or turns a refusal reply into an error.
    async fn expect_ready(&mut self) -> Result<Result<(u64, u64), TransferError>, TransferError> {
        match read_frame(&mut self.stream).await? {
            Some(Frame::Ready { offset, size }) => Ok(Ok((offset, size))),
            Some(Frame::Response { status, body }) => Ok(Err(TransferError::Refused {
                status,
                message: String::from_utf8_lossy(&body).into_owned(),
            })),
            Some(Frame::Error { code, message }) => {
                Ok(Err(TransferError::Remote { code, message }))
            }
            Some(_) => Err(FrameError::Malformed("expected ready").into()),
            None => Err(FrameError::Truncated.into()),
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
