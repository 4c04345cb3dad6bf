//! File pushes and pulls on the server: confined paths, streaming with bounded memory, a
//! temporary name until the whole-file digest checks out, fsync, then an atomic rename.
//! An interrupted push leaves its part file and a small `.meta` beside it, so the same sender
//! can resume from the last offset that was synced to disk.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::digest::{FileDigest, hash_prefix};
use crate::file_body::{BodyPart, PourError, next_part, pour};
use crate::file_sink::FileSink;
use crate::file_source::FileSource;
use crate::frame::{Frame, FrameError, write_frame};
use crate::paths::{check_real_location, confined};
use crate::{KeyRights, PublicKey, Reply, ServerConfig, TransferError};

/// Flag bits of a REQUEST.
pub const FLAG_OVERWRITE: u8 = 1;
pub const FLAG_RESUME: u8 = 2;

/// fsync (and record a resume point) after this many bytes.
const SYNC_EVERY: u64 = 64 << 20;

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
    S: tokio::io::AsyncBufRead + AsyncWrite + Unpin,
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
    let digest = FileDigest::new(name, size);
    let digest = hash_prefix(&part, offset, digest).await?;
    let mut writer = FileSink::open(&part, offset, size, digest).await?;
    write_frame(stream, &Frame::Ready { offset, size }).await?;
    stream.flush().await?;

    let mut received = offset;
    let mut synced = offset;
    let expected = loop {
        let part = match next_part(stream).await {
            Ok(part) => part,
            Err(err) => return Err(writer.keep_checkpoint(err.into()).await),
        };
        match part {
            BodyPart::Data(len) => {
                if received + len as u64 > size {
                    return Err(FrameError::Malformed("data (more than announced)").into());
                }
                match pour(stream, len, &mut writer).await {
                    Ok(()) => {}
                    Err(PourError::Stream(err)) => {
                        return Err(writer.keep_checkpoint(err.into()).await);
                    }
                    Err(PourError::Sink(err)) => return Err(storage_failure(stream, err).await),
                }
                received += len as u64;
                if received - synced >= SYNC_EVERY {
                    // Recorded once fsynced, on the sink's thread, while receiving goes on.
                    let (meta, point) = (meta.clone(), received);
                    writer.checkpoint(move || std::fs::write(&meta, format!("{size} {point}\n")));
                    synced = received;
                }
            }
            BodyPart::Frame(Frame::Digest(expected)) if received == size => break expected,
            BodyPart::Frame(_) => {
                return Err(FrameError::Malformed("file body (unexpected frame)").into());
            }
            BodyPart::Closed => {
                return Err(writer.keep_checkpoint(FrameError::Truncated.into()).await);
            }
        }
    };
    let digest = match writer.finish().await {
        Ok(digest) => digest,
        Err(err) => return Err(storage_failure(stream, err).await),
    };
    let _ = std::fs::remove_file(&meta);
    if digest != expected {
        let _ = std::fs::remove_file(&part);
        return refuse(
            refused::INTEGRITY,
            "integrity check failed: the file was not stored".into(),
        );
    }
    let placing = (part.clone(), target.clone());
    let (placed, synced) = tokio::task::spawn_blocking(move || {
        let (part, target) = placing;
        let placed = place(&part, &target, overwrite);
        let synced = match (&placed, target.parent()) {
            (Ok(_), Some(parent)) => std::fs::File::open(parent).and_then(|dir| dir.sync_all()),
            _ => Ok(()),
        };
        (placed, synced)
    })
    .await
    .map_err(std::io::Error::other)?;
    let displaced = match placed {
        Ok(displaced) => displaced,
        Err(err) => {
            let _ = std::fs::remove_file(&part);
            return refuse(refused::EXISTS, format!("cannot place {name}: {err}"));
        }
    };
    if let Some(old) = displaced {
        // Freeing a large file's blocks took ~0.17 s per GiB here (in the directory's fsync):
        // the client need not wait for it.
        tokio::task::spawn_blocking(move || std::fs::remove_file(old));
    }
    synced?;
    Ok(PushOutcome::Stored(target))
}

/// Puts a verified part file in place (the caller fsyncs the directory). With `overwrite`, a file
/// already there is first linked aside (`.<name>.<tag>.keyway-old`, returned) so that the
/// rename does not free its blocks while the client waits; without, a hard link fails if the
/// name appeared meanwhile: no silent clobbering.
fn place(part: &Path, target: &Path, overwrite: bool) -> std::io::Result<Option<PathBuf>> {
    let mut displaced = None;
    if overwrite {
        let old = part.with_extension("keyway-old");
        let _ = std::fs::remove_file(&old); // left by a crash before its removal
        if std::fs::hard_link(target, &old).is_ok() {
            displaced = Some(old);
        }
        if let Err(err) = std::fs::rename(part, target) {
            if let Some(old) = &displaced {
                let _ = std::fs::remove_file(old);
            }
            return Err(err);
        }
    } else {
        std::fs::hard_link(part, target).and_then(|()| std::fs::remove_file(part))?;
    }
    Ok(displaced)
}

/// Tells the client the disk failed (for example, it is full) and ends the connection; the
/// part file stays for a later resume.
async fn storage_failure<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    err: std::io::Error,
) -> TransferError {
    let message = format!("the server could not write the file: {err}");
    crate::server::refuse(stream, crate::server::codes::STORAGE, &message).await;
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
    let file = match tokio::fs::File::open(&target).await {
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
    let file = file.into_std().await;
    let mut source = FileSource::start(file, FileDigest::new(name, size), offset, size);
    write_frame(stream, &Frame::Ready { offset, size }).await?;
    while let Some((mut block, n)) = source.next().await? {
        block.send(stream, n).await?;
        source.give_back(block);
    }
    let digest = source.finish().await?;
    write_frame(stream, &Frame::Digest(digest)).await?;
    stream.flush().await?;
    Ok(None)
}
