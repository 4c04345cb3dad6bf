//! Confinement of remote names to a key's root, by file descriptors rather than path strings.
//!
//! A name's directories are opened one component at a time below the root with
//! `openat(O_NOFOLLOW | O_DIRECTORY)`, creating a missing one (for a push) with `mkdirat` in
//! the directory just opened; a symbolic link anywhere in the name is refused, wherever it
//! points. Everything after that (the part file, its `.meta`, placing, removing, reading for a
//! pull) happens relative to the directory's descriptor, with `O_NOFOLLOW` on the last
//! component, so nothing is read, created or removed outside the root, even if the tree
//! changes meanwhile. (The old check created the directories first and compared the
//! canonicalised parent with the root afterwards: a refused push through a link had already
//! created directories outside.)
//!
//! The root itself is opened as configured: if the operator made it a symlink, it is followed.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::paths::{PathError, components};

/// Created directories get `rwxrwxrwx` less the process umask, as `create_dir_all` gave them.
const DIR_MODE: u32 = 0o777;
/// Created files get `rw-rw-rw-` less the umask, as `File::create` gives them.
const FILE_MODE: u32 = 0o666;

/// A directory inside a key's root, held open; cheap to clone (the descriptor is shared).
#[derive(Clone, Debug)]
pub(crate) struct ConfinedDir {
    fd: Arc<OwnedFd>,
}

/// A resolved remote name: its directory (held open) and last component.
#[derive(Debug)]
pub(crate) struct ConfinedName {
    pub dir: ConfinedDir,
    pub file_name: String,
    /// `root/name`, for the handler and messages; never used to open anything.
    pub shown: PathBuf,
}

/// Whether a missing directory of the name is created (push) or means "not found" (pull).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MissingDirs {
    Create,
    NotFound,
}

/// Resolves `name` below `root`. The outer error is an I/O failure (a missing directory with
/// [`MissingDirs::NotFound`] is `ErrorKind::NotFound`); the inner one a refusal of the name.
pub(crate) fn resolve(
    root: &Path,
    name: &str,
    missing: MissingDirs,
) -> std::io::Result<Result<ConfinedName, PathError>> {
    let parts = match components(name) {
        Ok(parts) => parts,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let Some((file_name, dirs)) = parts.split_last() else {
        return Ok(Err(PathError::NotConfined(name.to_string())));
    };
    let mut dir = rustix::fs::openat(
        CWD,
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for (depth, part) in dirs.iter().enumerate() {
        let opened = match open_dir(&dir, part) {
            Err(Errno::NOENT) if missing == MissingDirs::Create => {
                match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(DIR_MODE)) {
                    // EEXIST: made meanwhile; it is opened (and checked) like any other.
                    Ok(()) | Err(Errno::EXIST) => open_dir(&dir, part),
                    Err(err) => Err(err),
                }
            }
            other => other,
        };
        dir = match opened {
            Ok(next) => next,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let component = parts[..=depth].join("/");
                return Ok(Err(not_followed(&dir, part, name, component)?));
            }
            Err(err) => return Err(err.into()),
        };
    }
    Ok(Ok(ConfinedName {
        dir: ConfinedDir { fd: Arc::new(dir) },
        file_name: (*file_name).to_string(),
        shown: root.join(name),
    }))
}

fn open_dir(dir: &OwnedFd, part: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        part,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Why `part` (in `dir`) could not be entered: a symlink, or not a directory.
fn not_followed(
    dir: &OwnedFd,
    part: &str,
    name: &str,
    component: String,
) -> std::io::Result<PathError> {
    let name = name.to_string();
    Ok(match file_type(dir, part)? {
        Some(FileType::Symlink) => PathError::Symlink { name, component },
        _ => PathError::NotADirectory { name, component },
    })
}

fn file_type(dir: impl AsFd, name: &str) -> std::io::Result<Option<FileType>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

impl ConfinedDir {
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// What `name` in this directory is (a symlink is not followed), if it exists.
    pub(crate) fn file_type(&self, name: &str) -> std::io::Result<Option<FileType>> {
        file_type(self.as_fd(), name)
    }

    /// Opens `name` for reading; a symlink fails with `ELOOP` (see [`Self::refusal_for`]).
    /// `O_NONBLOCK` so that a FIFO cannot block the opening thread; it changes nothing for
    /// regular files, and anything else is refused by the caller after `fstat`.
    pub(crate) fn open_read(&self, name: &str) -> std::io::Result<File> {
        let fd = rustix::fs::openat(
            self.as_fd(),
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// The refusal for a last component that could not be opened with `err`, if it was
    /// refused for being a symlink.
    pub(crate) fn refusal_for(
        &self,
        err: &std::io::Error,
        file_name: &str,
        name: &str,
    ) -> Option<PathError> {
        let is_link = err.raw_os_error() == Some(Errno::LOOP.raw_os_error())
            && matches!(self.file_type(file_name), Ok(Some(FileType::Symlink)));
        is_link.then(|| PathError::Symlink {
            name: name.to_string(),
            component: name.to_string(),
        })
    }

    pub(crate) fn read_to_string(&self, name: &str) -> std::io::Result<String> {
        let mut text = String::new();
        self.open_read(name)?.read_to_string(&mut text)?;
        Ok(text)
    }

    /// Replaces `name`'s content (created if missing; a symlink is not followed).
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let fd = rustix::fs::openat(
            self.as_fd(),
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(FILE_MODE),
        )?;
        File::from(fd).write_all(bytes)
    }

    pub(crate) fn remove(&self, name: &str) -> std::io::Result<()> {
        Ok(rustix::fs::unlinkat(self.as_fd(), name, AtFlags::empty())?)
    }

    /// `rename(from, to)` within this directory (replaces `to`).
    pub(crate) fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        Ok(rustix::fs::renameat(self.as_fd(), from, self.as_fd(), to)?)
    }

    /// A hard link `to` of `from` within this directory; fails if `to` exists.
    pub(crate) fn link(&self, from: &str, to: &str) -> std::io::Result<()> {
        Ok(rustix::fs::linkat(
            self.as_fd(),
            from,
            self.as_fd(),
            to,
            AtFlags::empty(),
        )?)
    }

    /// fsyncs the directory itself (its entries), after a rename or link.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        Ok(rustix::fs::fsync(self.as_fd())?)
    }
}

/// Opens (creating it) a file being received, for writing, relative to `dir` (`CWD` and a whole
/// path on the client, the confined directory and one component on the server), without
/// following a symlink in the last component; with `O_DIRECT` if `direct` (Linux).
pub(crate) fn open_part(dir: impl AsFd, name: &Path, direct: bool) -> std::io::Result<File> {
    let mut flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    #[cfg(target_os = "linux")]
    if direct {
        flags |= OFlags::DIRECT;
    }
    #[cfg(not(target_os = "linux"))]
    if direct {
        return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
    }
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(FILE_MODE))?;
    Ok(File::from(fd))
}

/// [`open_part`] of a path on the client's side (its own files: no root to confine to).
pub(crate) fn open_local_part(path: &Path, direct: bool) -> std::io::Result<File> {
    open_part(CWD, path, direct)
}

/// Turns `O_DIRECT` off on an open file (the sink's fallback to the page cache), keeping the
/// descriptor: no need to open the file again by name.
#[cfg(target_os = "linux")]
pub(crate) fn leave_direct(file: &File) -> std::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    Ok(rustix::fs::fcntl_setfl(file, flags - OFlags::DIRECT)?)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn leave_direct(_file: &File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[allow(clippy::unwrap_used)] // a test helper: failing here fails the test
    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&outside).unwrap();
        (dir, root, outside)
    }

    #[test]
    fn symlinks_are_never_followed_and_nothing_is_created_through_them() {
        let (_dir, root, outside) = tree();
        symlink(&outside, root.join("link")).unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        symlink(root.join("real"), root.join("alias")).unwrap();
        for (name, component) in [
            ("link/x", "link"),
            ("link/a/b/x", "link"),
            ("alias/x", "alias"),
        ] {
            for missing in [MissingDirs::Create, MissingDirs::NotFound] {
                assert_eq!(
                    resolve(&root, name, missing).unwrap().unwrap_err(),
                    PathError::Symlink {
                        name: name.into(),
                        component: component.into()
                    }
                );
            }
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(
            std::fs::read_dir(root.join("real"))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[test]
    fn missing_directories_are_created_or_not_found() {
        let (_dir, root, _outside) = tree();
        let err = resolve(&root, "a/b/c", MissingDirs::NotFound).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(!root.join("a").exists());
        let name = resolve(&root, "a/b/c", MissingDirs::Create)
            .unwrap()
            .unwrap();
        assert!(root.join("a/b").is_dir());
        assert_eq!(name.file_name, "c");
        assert_eq!(name.shown, root.join("a/b/c"));
        name.dir.write("c", b"hi").unwrap();
        assert_eq!(std::fs::read(root.join("a/b/c")).unwrap(), b"hi");
        std::fs::write(root.join("file"), b"").unwrap();
        assert_eq!(
            resolve(&root, "file/x", MissingDirs::Create)
                .unwrap()
                .unwrap_err(),
            PathError::NotADirectory {
                name: "file/x".into(),
                component: "file".into()
            }
        );
    }

    #[test]
    fn a_symlink_as_the_last_component_is_not_opened_or_written() {
        let (_dir, root, outside) = tree();
        std::fs::write(outside.join("secret"), b"s").unwrap();
        symlink(outside.join("secret"), root.join("f")).unwrap();
        let name = resolve(&root, "f", MissingDirs::NotFound).unwrap().unwrap();
        let err = name.dir.open_read("f").unwrap_err();
        assert!(name.dir.refusal_for(&err, "f", "f").is_some());
        assert!(name.dir.write("f", b"overwritten").is_err());
        assert!(open_part(name.dir.as_fd(), Path::new("f"), false).is_err());
        assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"s");
    }
}
