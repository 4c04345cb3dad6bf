//! File pushes and pulls on the server: confined paths, streaming with bounded memory, a
//! temporary name until the whole-file digest checks out, fsync, then an atomic rename.
//! An interrupted push leaves its part file and a small `.meta` beside it, so the same sender
//! can resume from the last offset that was synced to disk.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::digest::{FileDigest, hash_prefix};
use crate::file_sink::FileSink;
use crate::frame::{DataBuffer, Frame, FrameError, read_frame, write_frame};
use crate::paths::{check_real_location, confined};
use crate::{KeyRights, PublicKey, Reply, ServerConfig, TransferError};

/// Flag bits of a REQUEST.
pub const FLAG_OVERWRITE: u8 = 1;
pub const FLAG_RESUME: u8 = 2;

/// fsync (and record a resume point) after this many bytes.
const SYNC_EVERY: u64 = 64 << 20;
/// Bytes per DATA frame when the server sends a file.
const CHUNK: usize = 256 * 1024;

/// Reply statuses of refused file requests (the connection stays usable).
pub mod refused {
    pub const INTEGRITY: i32 = -2;
    pub const READ_ONLY: i32 = -3;
    pub const TOO_LARGE: i32 = -4;
    pub const BAD_PATH: i32 = -5;
    pub const EXISTS: i32 = -6;
    pub const NOT_FOUND: i32 = -7;
    pub const STORAGE: i32 = -8;
}

/// Outcome of a push: the final path, or a refusal to send back as the reply.
pub enum PushOutcome {
    Stored(PathBuf),
    Refused(Reply),
}

fn root_of<'a>(config: &'a ServerConfig, rights: &'a KeyRights) -> &'a Path {
    rights.root.as_deref().unwrap_or(&config.root)
}

fn part_paths(target: &Path, sender: &PublicKey) -> (PathBuf, PathBuf) {
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tag: String = sender
        .fingerprint()
        .chars()
        .skip(7)
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    let part = target.with_file_name(format!(".{file_name}.{tag}.keyway-part"));
    let meta = target.with_file_name(format!(".{file_name}.{tag}.keyway-part.meta"));
    (part, meta)
}

/// Reads `size synced` from a part's meta file.
fn resume_point(meta: &Path, size: u64) -> u64 {
    std::fs::read_to_string(meta)
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
            match (parts.next().flatten(), parts.next().flatten()) {
                (Some(s), Some(synced)) if s == size && synced <= size => Some(synced),
                _ => None,
            }
        })
        .unwrap_or(0)
}

/// Serves one push. `Err` means the connection must close (protocol or storage failure).
pub async fn receive<S>(
    stream: &mut S,
    config: &ServerConfig,
    sender: &PublicKey,
    rights: &KeyRights,
    flags: u8,
    size: u64,
    name: &str,
) -> Result<PushOutcome, TransferError>
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let refuse =
        |status: i32, message: String| Ok(PushOutcome::Refused(Reply::new(status, message)));
    if rights.read_only {
        return refuse(refused::READ_ONLY, "this key is read-only".into());
    }
    if size > config.max_file {
        return refuse(
            refused::TOO_LARGE,
            format!(
                "file of {size} bytes exceeds the server's {}-byte limit",
                config.max_file
            ),
        );
    }
    let root = root_of(config, rights);
    let target = match confined(root, name) {
        Ok(target) => target,
        Err(err) => return refuse(refused::BAD_PATH, err.to_string()),
    };
    match check_real_location(root, &target, name, true) {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return refuse(refused::BAD_PATH, err.to_string()),
        Err(err) => {
            return refuse(
                refused::STORAGE,
                format!("cannot prepare the directory: {err}"),
            );
        }
    }
    let overwrite = flags & FLAG_OVERWRITE != 0;
    if !overwrite && std::fs::symlink_metadata(&target).is_ok() {
        return refuse(
            refused::EXISTS,
            format!("{name} exists; send with --overwrite to replace it"),
        );
    }
    let (part, meta) = part_paths(&target, sender);
    let offset = if flags & FLAG_RESUME != 0 {
        resume_point(&meta, size)
    } else {
        0
    };
    let mut digest = FileDigest::new(name, size);
    let mut writer = FileSink::open(&part, offset).await?;
    if offset > 0 {
        let mut kept = tokio::fs::File::open(&part).await?;
        hash_prefix(&mut kept, offset, &mut digest).await?;
    }
    write_frame(stream, &Frame::Ready { offset, size }).await?;
    stream.flush().await?;

    let mut received = offset;
    let mut synced = offset;
    let expected = loop {
        match read_frame(stream).await? {
            Some(Frame::Data(chunk)) => {
                if received + chunk.len() as u64 > size {
                    return Err(FrameError::Malformed("data (more than announced)").into());
                }
                if let Err(err) = writer.write_all(&chunk).await {
                    return Err(storage_failure(stream, err).await);
                }
                digest.update(&chunk);
                received += chunk.len() as u64;
                if received - synced >= SYNC_EVERY {
                    writer.sync_data().await?;
                    synced = received;
                    std::fs::write(&meta, format!("{size} {synced}\n"))?;
                }
            }
            Some(Frame::Digest(expected)) if received == size => break expected,
            Some(_) => return Err(FrameError::Malformed("file body (unexpected frame)").into()),
            None => return Err(FrameError::Truncated.into()),
        }
    };
    if let Err(err) = writer.finish().await {
        return Err(storage_failure(stream, err).await);
    }
    let _ = std::fs::remove_file(&meta);
    if digest.finish() != expected {
        let _ = std::fs::remove_file(&part);
        return refuse(
            refused::INTEGRITY,
            "integrity check failed: the file was not stored".into(),
        );
    }
    let placed = if overwrite {
        std::fs::rename(&part, &target)
    } else {
        // A hard link fails if the name appeared meanwhile: no silent clobbering.
        std::fs::hard_link(&part, &target).and_then(|()| std::fs::remove_file(&part))
    };
    if let Err(err) = placed {
        let _ = std::fs::remove_file(&part);
        return refuse(refused::EXISTS, format!("cannot place {name}: {err}"));
    }
    if let Some(parent) = target.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(PushOutcome::Stored(target))
}

/// Tells the client the disk failed (for example, it is full) and ends the connection; the
/// part file stays for a later resume.
async fn storage_failure<S: AsyncWrite + Unpin>(
    stream: &mut S,
    err: std::io::Error,
) -> TransferError {
    let frame = Frame::Error {
        code: crate::server::codes::STORAGE,
        message: format!("the server could not write the file: {err}"),
    };
    let _ = write_frame(stream, &frame).await;
    let _ = stream.shutdown().await;
    TransferError::Io(err)
}

/// Serves one pull: READY, DATA from the client's offset, DIGEST; or a refusal reply.
pub async fn send<S>(
    stream: &mut S,
    config: &ServerConfig,
    rights: &KeyRights,
    have: u64,
    name: &str,
) -> Result<Option<Reply>, TransferError>
where
    S: AsyncWrite + Unpin,
{
    let root = root_of(config, rights);
    let target = match confined(root, name) {
        Ok(target) => target,
        Err(err) => return Ok(Some(Reply::new(refused::BAD_PATH, err.to_string()))),
    };
    match check_real_location(root, &target, name, false) {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Ok(Some(Reply::new(refused::BAD_PATH, err.to_string()))),
        Err(_) => {
            return Ok(Some(Reply::new(
                refused::NOT_FOUND,
                format!("{name} does not exist"),
            )));
        }
    }
    let mut file = match tokio::fs::File::open(&target).await {
        Ok(file) => file,
        Err(_) => {
            return Ok(Some(Reply::new(
                refused::NOT_FOUND,
                format!("{name} does not exist"),
            )));
        }
    };
    let metadata = file.metadata().await?;
    if !metadata.is_file() {
        return Ok(Some(Reply::new(
            refused::NOT_FOUND,
            format!("{name} is not a regular file"),
        )));
    }
    let size = metadata.len();
    let offset = if have <= size { have } else { 0 };
    let mut digest = FileDigest::new(name, size);
    hash_prefix(&mut file, offset, &mut digest).await?;
    write_frame(stream, &Frame::Ready { offset, size }).await?;
    let mut out = DataBuffer::new(CHUNK);
    let mut sent = offset;
    while sent < size {
        let want = usize::try_from(size - sent).unwrap_or(usize::MAX);
        let n = file.read(out.space(want)).await?;
        if n == 0 {
            return Err(TransferError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while being sent",
            )));
        }
        digest.update(out.data(n));
        out.send(stream, n).await?;
        sent += n as u64;
    }
    write_frame(stream, &Frame::Digest(digest.finish())).await?;
    stream.flush().await?;
    Ok(None)
}
