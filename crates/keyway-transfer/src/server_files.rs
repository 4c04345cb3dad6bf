//! File pushes and pulls on the server: confined paths, streaming with bounded memory, a
//! temporary name until the whole-file digest checks out, fsync, then an atomic rename.
//! An interrupted push leaves its part file and a small `.meta` beside it, so the same sender
//! can resume from the last offset that was synced to disk.
//!
//! Every file operation goes through the name's [`ConfinedDir`] (a descriptor of its
//! directory, reached from the root without following links), never through a path string.

use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::confined_dir::{ConfinedDir, ConfinedName, MissingDirs, open_part, resolve};
use crate::digest::{FileDigest, hash_prefix};
use crate::file_body::{BodyPart, PourError, next_part, pour};
use crate::file_sink::FileSink;
use crate::file_source::FileSource;
use crate::frame::{Frame, FrameError, write_frame};
use crate::{KeyRights, PublicKey, Reply, ServerConfig, TransferError};

/// Flag bits of a REQUEST.
pub(crate) const FLAG_OVERWRITE: u8 = 1;
pub(crate) const FLAG_RESUME: u8 = 2;

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
pub(crate) enum PushOutcome {
    Stored(PathBuf),
    Refused(Reply),
}

fn root_of<'a>(config: &'a ServerConfig, rights: &'a KeyRights) -> &'a Path {
    rights.root.as_deref().unwrap_or(&config.root)
}

/// Names of a push's part file, its resume point and a replaced file set aside, beside the
/// target in its directory.
struct WorkNames {
    part: String,
    meta: String,
    old: String,
}

fn work_names(file_name: &str, sender: &PublicKey) -> WorkNames {
    let tag: String = sender
        .fingerprint()
        .chars()
        .skip(7)
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    WorkNames {
        part: format!(".{file_name}.{tag}.keyway-part"),
        meta: format!(".{file_name}.{tag}.keyway-part.meta"),
        old: format!(".{file_name}.{tag}.keyway-old"),
    }
}

/// Reads `size synced` from a part's meta file.
fn resume_point(dir: &ConfinedDir, meta: &str, size: u64) -> u64 {
    dir.read_to_string(meta)
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
pub(crate) async fn receive<S>(
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
    // Refusals of the name come before anything is created; directories are then made one by
    // one inside directories already reached from the root.
    let ConfinedName {
        dir,
        file_name,
        shown: target,
    } = match resolve(root, name, MissingDirs::Create) {
        Ok(Ok(resolved)) => resolved,
        Ok(Err(err)) => return refuse(refused::BAD_PATH, err.to_string()),
        Err(err) => {
            return refuse(
                refused::STORAGE,
                format!("cannot prepare the directory of {name:?}: {err}"),
            );
        }
    };
    let overwrite = flags & FLAG_OVERWRITE != 0;
    match dir.file_type(&file_name) {
        Ok(Some(FileType::Symlink)) => {
            let err = crate::PathError::Symlink {
                name: name.to_string(),
                component: name.to_string(),
            };
            return refuse(refused::BAD_PATH, err.to_string());
        }
        Ok(Some(_)) if !overwrite => {
            return refuse(
                refused::EXISTS,
                format!("{name:?} exists; send with --overwrite to replace it"),
            );
        }
        Ok(_) => {}
        Err(err) => {
            return refuse(refused::STORAGE, format!("cannot look up {name:?}: {err}"));
        }
    }
    let names = work_names(&file_name, sender);
    let offset = if flags & FLAG_RESUME != 0 {
        resume_point(&dir, &names.meta, size)
    } else {
        0
    };
    let digest = FileDigest::new(name, size);
    let (reading, part) = (dir.clone(), names.part.clone());
    let digest = hash_prefix(move || reading.open_read(&part), offset, digest).await?;
    let (writing, part) = (dir.clone(), names.part.clone());
    let open = move |direct| open_part(writing.as_fd(), Path::new(&part), direct);
    let mut writer = FileSink::open(open, offset, size, digest).await?;
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
                    let (dir, meta, point) = (dir.clone(), names.meta.clone(), received);
                    writer.checkpoint(move || {
                        dir.write(&meta, format!("{size} {point}\n").as_bytes())
                    });
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
    let _ = dir.remove(&names.meta);
    if digest != expected {
        let _ = dir.remove(&names.part);
        return refuse(
            refused::INTEGRITY,
            "integrity check failed: the file was not stored".into(),
        );
    }
    let (placing, file) = (dir.clone(), file_name.clone());
    let (part, old) = (names.part.clone(), names.old.clone());
    let (placed, synced) = tokio::task::spawn_blocking(move || {
        let placed = place(&placing, &part, &file, &old, overwrite);
        let synced = match &placed {
            Ok(_) => placing.sync(),
            Err(_) => Ok(()),
        };
        (placed, synced)
    })
    .await
    .map_err(std::io::Error::other)?;
    let displaced = match placed {
        Ok(displaced) => displaced,
        Err(err) => {
            let _ = dir.remove(&names.part);
            return refuse(refused::EXISTS, format!("cannot place {name:?}: {err}"));
        }
    };
    if displaced {
        // Freeing a large file's blocks took ~0.17 s per GiB here (in the directory's fsync):
        // the client need not wait for it.
        tokio::task::spawn_blocking(move || dir.remove(&names.old));
    }
    synced?;
    Ok(PushOutcome::Stored(target))
}

/// Puts a verified part file in place under `target` in `dir` (the caller fsyncs the
/// directory). With `overwrite`, a file already there is first linked aside as `old` (then
/// `true` is returned) so that the rename does not free its blocks while the client waits;
/// without, a hard link fails if the name appeared meanwhile: no silent clobbering.
fn place(
    dir: &ConfinedDir,
    part: &str,
    target: &str,
    old: &str,
    overwrite: bool,
) -> std::io::Result<bool> {
    let mut displaced = false;
    if overwrite {
        let _ = dir.remove(old); // left by a crash before its removal
        displaced = dir.link(target, old).is_ok();
        if let Err(err) = dir.rename(part, target) {
            if displaced {
                let _ = dir.remove(old);
            }
            return Err(err);
        }
    } else {
        dir.link(part, target).and_then(|()| dir.remove(part))?;
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
pub(crate) async fn send<S>(
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
    let not_found = || {
        Ok(Some(Reply::new(
            refused::NOT_FOUND,
            format!("{name:?} does not exist"),
        )))
    };
    let ConfinedName { dir, file_name, .. } = match resolve(root, name, MissingDirs::NotFound) {
        Ok(Ok(resolved)) => resolved,
        Ok(Err(err)) => return Ok(Some(Reply::new(refused::BAD_PATH, err.to_string()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return not_found(),
        Err(err) => {
            let message = format!("cannot open the directory of {name:?}: {err}");
            return Ok(Some(Reply::new(refused::STORAGE, message)));
        }
    };
    let file = match dir.open_read(&file_name) {
        Ok(file) => file,
        Err(err) => {
            if let Some(refusal) = dir.refusal_for(&err, &file_name, name) {
                return Ok(Some(Reply::new(refused::BAD_PATH, refusal.to_string())));
            }
            return not_found();
        }
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok(Some(Reply::new(
            refused::NOT_FOUND,
            format!("{name:?} is not a regular file"),
        )));
    }
    let size = metadata.len();
    let offset = if have <= size { have } else { 0 };
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
