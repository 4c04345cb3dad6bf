//! Secret files (signing keys, the hub's toki key, the database): created 0600 in a 0700
//! directory, written under a temporary name, fsynced and renamed so they are never seen
//! half-written; and refused on load when someone else may read them, as OpenSSH does.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a private file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is readable by others (mode {mode:04o}); it holds a secret: chmod 600 {path}")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} is over {limit} bytes: not a key or secret file")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path} is a directory, not a key or secret file")]
    Directory { path: PathBuf },
}

/// Secret files are keys and short secrets: anything larger is the wrong file, and is not
/// read into memory whole.
const PRIVATE_FILE_LIMIT: u64 = 1 << 20;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrivateFileError + '_ {
    move |source| PrivateFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) if missing; a directory it creates is 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), PrivateFileError> {
    let existed = dir.exists();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if !existed {
        restrict_to_owner(dir)?;
    }
    Ok(())
}

/// Takes group and other permissions off `path` (0600 for files, 0700 for directories).
pub fn restrict_to_owner(path: &Path) -> Result<(), PrivateFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes a secret file atomically: created 0600 under a temporary name in `dir`, fsynced,
/// renamed into place, and the directory fsynced. A missing `dir` is created 0700; an
/// existing one keeps its mode (it may be the user's own directory).
pub fn write_private_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), PrivateFileError> {
    create_private_dir(dir)?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = std::fs::remove_file(&tmp);
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Reads a secret file, refusing it when its group or others may read or write it.
pub fn read_private_file(path: &Path) -> Result<Vec<u8>, PrivateFileError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let metadata = file.metadata().map_err(io(path))?;
    // Checked first: a directory's mode (1777 for /tmp) says nothing about a secret.
    if metadata.is_dir() {
        return Err(PrivateFileError::Directory {
            path: path.to_path_buf(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(PrivateFileError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(&file, PRIVATE_FILE_LIMIT + 1),
        &mut bytes,
    )
    .map_err(io(path))?;
    if bytes.len() as u64 > PRIVATE_FILE_LIMIT {
        return Err(PrivateFileError::TooLarge {
            path: path.to_path_buf(),
            limit: PRIVATE_FILE_LIMIT,
        });
    }
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_directory_is_named_as_such_whatever_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = super::read_private_file(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("is a directory, not a key or secret file"),
            "{err}"
        );
    }

    use super::*;

    #[test]
    fn private_files_are_written_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let path = keys.join("k.p8");
        write_private_file(&keys, &path, b"secret").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(read_private_file(&path).unwrap(), b"secret");
    }

    #[test]
    fn a_secret_others_can_read_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.p8");
        std::fs::write(&path, b"secret").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_private_file(&path).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("k.p8") && text.contains("0644"), "{text}");
        assert!(matches!(err, PrivateFileError::TooOpen { mode: 0o644, .. }));
    }

    #[test]
    fn a_file_too_large_for_a_secret_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.key");
        write_private_file(
            dir.path(),
            &path,
            &vec![b'a'; (PRIVATE_FILE_LIMIT + 1) as usize],
        )
        .unwrap();
        let err = read_private_file(&path).unwrap_err();
        assert!(err.to_string().contains("huge.key"), "{err}");
        assert!(matches!(err, PrivateFileError::TooLarge { .. }));
        let fits = dir.path().join("fits.key");
        write_private_file(dir.path(), &fits, &vec![b'a'; PRIVATE_FILE_LIMIT as usize]).unwrap();
        assert_eq!(
            read_private_file(&fits).unwrap().len() as u64,
            PRIVATE_FILE_LIMIT
        );
    }
}
