//! Remote file names: which are acceptable, and why one is refused. A name is a relative path
//! of plain components; it is resolved inside the key's root by `confined_dir.rs`, one
//! component at a time and without following symbolic links.

/// Why a remote name cannot be used. Names are shown escaped (`{:?}`), so a refusal can be
/// logged or printed as one line whatever the name holds.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error(
        "file name {0:?} is not a relative path inside the root (no '/', '..', '.' or empty parts)"
    )]
    NotConfined(String),
    /// A newline in a name forged a line of the server's log; no control character (C0, DEL,
    /// C1) has a use in a file name.
    #[error(
        "file name {name:?} contains the control character U+{code:04X}; names may not contain control characters"
    )]
    ControlCharacter { name: String, code: u32 },
    #[error(
        "{name:?}: {component:?} is a symbolic link; names are resolved inside the root without following links"
    )]
    Symlink { name: String, component: String },
    #[error("{name:?}: {component:?} is not a directory")]
    NotADirectory { name: String, component: String },
}

/// Longest name accepted (bytes), as Linux's `PATH_MAX`.
const MAX_NAME: usize = 4096;

/// The components of `name` once it is known to be a plain relative path: not empty, no
/// leading `/`, no `.`, `..` or empty parts, no backslash, no NUL or other control character.
pub(crate) fn components(name: &str) -> Result<Vec<&str>, PathError> {
    if let Some(control) = name.chars().find(|c| c.is_control()) {
        return Err(PathError::ControlCharacter {
            name: name.to_string(),
            code: u32::from(control),
        });
    }
    let bad = || PathError::NotConfined(name.to_string());
    if name.is_empty() || name.len() > MAX_NAME || name.contains('\\') {
        return Err(bad());
    }
    let parts: Vec<&str> = name.split('/').collect();
    if parts
        .iter()
        .any(|part| part.is_empty() || *part == "." || *part == "..")
    {
        return Err(bad());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_traversal_and_absolute_names() {
        assert_eq!(components("a/b.txt").unwrap(), ["a", "b.txt"]);
        assert_eq!(components("..a/b..").unwrap(), ["..a", "b.."]);
        for bad in [
            "",
            "/etc/passwd",
            "../../etc/passwd",
            "a/../../b",
            "./a",
            "a//b",
            "a\\b",
            "a/.",
            "a/",
        ] {
            assert_eq!(
                components(bad),
                Err(PathError::NotConfined(bad.into())),
                "{bad:?}"
            );
        }
        assert!(components(&"a".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn refuses_control_characters_and_says_which() {
        for (name, code) in [
            ("a\nb", 0x0a),
            ("a/\0", 0x00),
            ("\u{1b}[2J", 0x1b),
            ("x\u{7f}", 0x7f),
            ("x\u{9b}y", 0x9b),
        ] {
            let err = components(name).unwrap_err();
            assert_eq!(
                err,
                PathError::ControlCharacter {
                    name: name.into(),
                    code
                }
            );
            let text = err.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.contains(&format!("U+{code:04X}")), "{text}");
        }
        // Other non-ASCII text is fine.
        assert!(components("données/日本.txt").is_ok());
    }
}
