//! Confinement of remote file names to a key's root directory: no absolute paths, no `..`, no
//! way out through symlinks.

use std::path::{Component, Path, PathBuf};

/// Why a remote name cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error(
        "file name {0:?} is not a relative path inside the root (no '/', '..', '.' or empty parts)"
    )]
    NotConfined(String),
    #[error("{0:?} leads outside the root through a symbolic link")]
    SymlinkEscape(String),
    #[error("{0:?} is a symbolic link; refusing to follow it")]
    IsSymlink(String),
}

/// `root/name`, after checking `name` is a plain relative path.
pub fn confined(root: &Path, name: &str) -> Result<PathBuf, PathError> {
    let bad = || PathError::NotConfined(name.to_string());
    if name.is_empty() || name.len() > 4096 || name.contains('\0') || name.contains('\\') {
        return Err(bad());
    }
    let mut path = root.to_path_buf();
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad());
        }
        match Path::new(part).components().next() {
            Some(Component::Normal(_)) => path.push(part),
            _ => return Err(bad()),
        }
    }
    Ok(path)
}

/// Checks (after creating it when asked) that `target`'s directory is inside `root` once
/// symlinks are resolved, and that `target` itself is not a symlink.
pub fn check_real_location(
    root: &Path,
    target: &Path,
    name: &str,
    create_parent: bool,
) -> std::io::Result<Result<(), PathError>> {
    let parent = target.parent().unwrap_or(root);
    if create_parent {
        std::fs::create_dir_all(parent)?;
    }
    let real_root = std::fs::canonicalize(root)?;
    let real_parent = std::fs::canonicalize(parent)?;
    if !real_parent.starts_with(&real_root) {
        return Ok(Err(PathError::SymlinkEscape(name.to_string())));
    }
    match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Ok(Err(PathError::IsSymlink(name.to_string())))
        }
        _ => Ok(Ok(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_traversal_and_absolute_names() {
        let root = Path::new("/srv/drop");
        assert_eq!(
            confined(root, "a/b.txt").unwrap(),
            Path::new("/srv/drop/a/b.txt")
        );
        for bad in [
            "",
            "/etc/passwd",
            "../../etc/passwd",
            "a/../../b",
            "./a",
            "a//b",
            "a\\b",
            "a/\0",
            "a/.",
        ] {
            assert!(confined(root, bad).is_err(), "{bad:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlink_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), root.join("filelink")).unwrap();
        let target = confined(&root, "link/x").unwrap();
        assert!(matches!(
            check_real_location(&root, &target, "link/x", false).unwrap(),
            Err(PathError::SymlinkEscape(_))
        ));
        let target = confined(&root, "filelink").unwrap();
        assert!(matches!(
            check_real_location(&root, &target, "filelink", false).unwrap(),
            Err(PathError::IsSymlink(_))
        ));
        let target = confined(&root, "sub/ok").unwrap();
        assert_eq!(
            check_real_location(&root, &target, "sub/ok", true).unwrap(),
            Ok(())
        );
    }
}
