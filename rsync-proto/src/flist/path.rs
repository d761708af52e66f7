//! `WirePath`: a file-list name that has been checked to be safe to use below a
//! transfer root (parse, don't validate).
//!
//! Spec: RFC.md §9 `[flist-name]` and §14. Reference: rsync `clean_fname` with
//! `CFN_REFUSE_DOT_DOT_DIRS` and the absolute-path check in `recv_file_entry` (flist.c).

use std::fmt;

/// The longest name accepted, in bytes: rsync's `MAXPATHLEN` (4096) minus the NUL.
pub const MAX_NAME_LEN: usize = 4095;

/// Why a name is not a safe relative path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The name is empty.
    #[error("empty file name")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("file name of {len} bytes exceeds {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The name starts with `/`.
    #[error("absolute file name")]
    Absolute,
    /// The name contains a NUL byte.
    #[error("NUL byte in file name at offset {offset}")]
    Nul {
        /// Offset of the NUL.
        offset: usize,
    },
    /// A `..` component.
    #[error("\"..\" component in file name")]
    DotDot,
    /// A `.` component other than the whole name `.`, an empty component (`a//b`)
    /// or a trailing `/`: rsync never sends these (it cleans names first).
    #[error("non-canonical component in file name")]
    NotCanonical,
}

/// A validated file-list name: raw bytes (no charset conversion), relative, `/`-separated,
/// at most [`MAX_NAME_LEN`] bytes, no NUL, no `..`, no empty or `.` components except the
/// name `.` itself (the transfer root).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WirePath(Vec<u8>);

impl WirePath {
    /// Checks `name` and wraps it.
    ///
    /// # Errors
    /// [`PathError`] naming the first rule broken.
    pub fn new(name: Vec<u8>) -> Result<Self, PathError> {
        Self::check(&name)?;
        Ok(Self(name))
    }

    /// Checks a name without taking it.
    ///
    /// # Errors
    /// [`PathError`] naming the first rule broken.
    pub fn check(name: &[u8]) -> Result<(), PathError> {
        if name.is_empty() {
            return Err(PathError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(PathError::TooLong {
                len: name.len(),
                max: MAX_NAME_LEN,
            });
        }
        if let Some(offset) = name.iter().position(|&b| b == 0) {
            return Err(PathError::Nul { offset });
        }
        if name[0] == b'/' {
            return Err(PathError::Absolute);
        }
        if name == b"." {
            return Ok(());
        }
        for comp in name.split(|&b| b == b'/') {
            match comp {
                b".." => return Err(PathError::DotDot),
                b"" | b"." => return Err(PathError::NotCanonical),
                _ => {}
            }
        }
        Ok(())
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name's bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Whether this is the transfer root `.`.
    pub fn is_dot(&self) -> bool {
        self.0 == b"."
    }
}

impl TryFrom<&[u8]> for WirePath {
    type Error = PathError;
    fn try_from(b: &[u8]) -> Result<Self, PathError> {
        Self::new(b.to_vec())
    }
}

impl TryFrom<&str> for WirePath {
    type Error = PathError;
    fn try_from(s: &str) -> Result<Self, PathError> {
        Self::new(s.as_bytes().to_vec())
    }
}

impl AsRef<[u8]> for WirePath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WirePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for WirePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in [
            &b"."[..],
            b"a",
            b"a/b",
            b"..a",
            b"a..",
            b".hidden/x",
            b"\xff\xfe",
        ] {
            assert!(WirePath::try_from(ok).is_ok(), "{ok:?}");
        }
        let cases: [(&[u8], PathError); 9] = [
            (b"", PathError::Empty),
            (b"/etc/passwd", PathError::Absolute),
            (b"a\0b", PathError::Nul { offset: 1 }),
            (b"..", PathError::DotDot),
            (b"a/../b", PathError::DotDot),
            (b"a/..", PathError::DotDot),
            (b"a//b", PathError::NotCanonical),
            (b"a/", PathError::NotCanonical),
            (b"./a", PathError::NotCanonical),
        ];
        for (name, err) in cases {
            assert_eq!(WirePath::try_from(name), Err(err), "{name:?}");
        }
        assert_eq!(
            WirePath::new(vec![b'x'; 4096]),
            Err(PathError::TooLong {
                len: 4096,
                max: 4095
            })
        );
        assert!(WirePath::new(vec![b'x'; 4095]).is_ok());
        assert_eq!(
            PathError::DotDot.to_string(),
            "\"..\" component in file name"
        );
    }
}
