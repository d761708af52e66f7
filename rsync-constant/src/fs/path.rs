//! [`RelPath`]: a validated relative path of bytes, the only path type the
//! file-system layer accepts from a peer or a file list.
//!
//! Parse, don't validate: a `RelPath` can only be built by [`RelPath::new`]
//! (or [`RelPath::join`]), so holding one proves the path is relative, has no
//! `.`/`..`/empty components, no NUL and fits the kernel's limits.

use std::fmt;

/// Longest accepted path in bytes (Linux `PATH_MAX` minus the NUL).
pub const MAX_PATH_LEN: usize = 4095;
/// Longest accepted single component in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// Why a byte string is not a valid [`RelPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty (or only `./`).
    #[error("empty path")]
    Empty,
    /// The path starts with `/`.
    #[error("absolute path")]
    Absolute,
    /// A component is `..`.
    #[error("path has a `..` component")]
    DotDot,
    /// A component (other than a single leading `./`) is `.`.
    #[error("path has a `.` component")]
    Dot,
    /// Two consecutive slashes, or a trailing slash.
    #[error("path has an empty component")]
    EmptyComponent,
    /// A single name (see [`RelPath::join`]) contains `/`.
    #[error("name contains `/`")]
    Slash,
    /// The path contains a NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
    /// The whole path is longer than [`MAX_PATH_LEN`].
    #[error("path is {len} bytes long, more than {max}")]
    TooLong {
        /// Length of the offending path.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A component is longer than [`MAX_NAME_LEN`].
    #[error("path component is {len} bytes long, more than {max}")]
    ComponentTooLong {
        /// Length of the offending component.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A relative path of bytes, guaranteed to stay beneath whatever directory it
/// is resolved against (as long as no component is a symlink, which the
/// resolvers in [`crate::fs`] refuse to follow).
///
/// Invariants: non-empty; does not start with `/`; components separated by
/// single `/`, each non-empty, not `.` or `..`, at most [`MAX_NAME_LEN`]
/// bytes; no NUL; total at most [`MAX_PATH_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    /// Parses `bytes` as a relative path. A single leading `./` is stripped.
    ///
    /// # Errors
    /// A [`PathError`] naming the first rule the path breaks.
    pub fn new(bytes: &[u8]) -> Result<Self, PathError> {
        let body = bytes.strip_prefix(b"./").unwrap_or(bytes);
        if body.is_empty() {
            return Err(PathError::Empty);
        }
        if body[0] == b'/' {
            return Err(PathError::Absolute);
        }
        if body.contains(&0) {
            return Err(PathError::Nul);
        }
        if body.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong {
                len: body.len(),
                max: MAX_PATH_LEN,
            });
        }
        for comp in body.split(|&b| b == b'/') {
            check_component(comp)?;
        }
        Ok(Self(body.to_vec()))
    }

    /// The path's bytes (no leading `./`, no trailing `/`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the path, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The components, first to last; each is non-empty and free of `/`.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.0.split(|&b| b == b'/')
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        self.split_last().1
    }

    /// The parent directory's bytes (`None` for a single-component path)
    /// and the last component.
    pub fn split_last(&self) -> (Option<&[u8]>, &[u8]) {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => (Some(&self.0[..i]), &self.0[i + 1..]),
            None => (None, &self.0),
        }
    }

    /// The parent path, or `None` for a single-component path.
    pub fn parent(&self) -> Option<Self> {
        self.split_last().0.map(|p| Self(p.to_vec()))
    }

    /// Appends one component.
    ///
    /// # Errors
    /// If `name` is not a valid single component or the result is too long.
    pub fn join(&self, name: &[u8]) -> Result<Self, PathError> {
        check_name(name)?;
        let len = self.0.len() + 1 + name.len();
        if len > MAX_PATH_LEN {
            return Err(PathError::TooLong {
                len,
                max: MAX_PATH_LEN,
            });
        }
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(&self.0);
        v.push(b'/');
        v.extend_from_slice(name);
        Ok(Self(v))
    }

    /// Builds a single-component path from a directory entry name.
    ///
    /// # Errors
    /// If `name` is not a valid single component.
    pub fn from_name(name: &[u8]) -> Result<Self, PathError> {
        check_name(name)?;
        Ok(Self(name.to_vec()))
    }

    /// A lossy, escaped rendering for messages: invalid UTF-8 becomes U+FFFD
    /// and control characters are escaped, so a hostile name cannot forge
    /// log lines.
    pub fn display(&self) -> String {
        display_bytes(&self.0)
    }
}

/// Checks a single directory-entry name.
fn check_name(name: &[u8]) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::Empty);
    }
    if name.contains(&b'/') {
        return Err(PathError::Slash);
    }
    if name.contains(&0) {
        return Err(PathError::Nul);
    }
    check_component(name)
}

fn check_component(comp: &[u8]) -> Result<(), PathError> {
    match comp {
        b"" => Err(PathError::EmptyComponent),
        b"." => Err(PathError::Dot),
        b".." => Err(PathError::DotDot),
        c if c.len() > MAX_NAME_LEN => Err(PathError::ComponentTooLong {
            len: c.len(),
            max: MAX_NAME_LEN,
        }),
        _ => Ok(()),
    }
}

/// Renders bytes lossily with control characters escaped.
pub(crate) fn display_bytes(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .flat_map(|c| {
            let esc: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            esc
        })
        .collect()
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl TryFrom<&[u8]> for RelPath {
    type Error = PathError;
    fn try_from(bytes: &[u8]) -> Result<Self, PathError> {
        Self::new(bytes)
    }
}

impl TryFrom<&str> for RelPath {
    type Error = PathError;
    fn try_from(s: &str) -> Result<Self, PathError> {
        Self::new(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_plain_paths() {
        let p = RelPath::new(b"a/b c/\xff\n").unwrap();
        assert_eq!(p.as_bytes(), b"a/b c/\xff\n");
        assert_eq!(p.file_name(), b"\xff\n");
        assert_eq!(p.parent().unwrap().as_bytes(), b"a/b c");
        assert_eq!(p.components().count(), 3);
        assert_eq!(RelPath::new(b"./x").unwrap().as_bytes(), b"x");
        assert_eq!(RelPath::new(b"...").unwrap().as_bytes(), b"...");
        assert_eq!(RelPath::new(b".x/..y").unwrap().as_bytes(), b".x/..y");
        assert_eq!(RelPath::new(b"x").unwrap().split_last(), (None, &b"x"[..]));
    }

    #[test]
    fn rejects_bad_paths() {
        use PathError::*;
        let cases: &[(&[u8], PathError)] = &[
            (b"", Empty),
            (b"./", Empty),
            (b"/etc/passwd", Absolute),
            (b".//x", Absolute),
            (b"..", DotDot),
            (b"a/../b", DotDot),
            (b"a/..", DotDot),
            (b".", Dot),
            (b"a/./b", Dot),
            (b"././a", Dot),
            (b"a//b", EmptyComponent),
            (b"a/", EmptyComponent),
            (b"a\0b", Nul),
        ];
        for (input, want) in cases {
            assert_eq!(RelPath::new(input).as_ref(), Err(want), "{input:?}");
        }
        let long_name = vec![b'n'; 256];
        assert_eq!(
            RelPath::new(&long_name),
            Err(ComponentTooLong { len: 256, max: 255 })
        );
        let long_path = [&b"a/"[..]; 2048].concat();
        assert!(matches!(
            RelPath::new(&long_path),
            Err(TooLong { len: 4096, .. })
        ));
    }

    #[test]
    fn join_and_from_name() {
        let p = RelPath::new(b"a").unwrap();
        assert_eq!(p.join(b"b").unwrap().as_bytes(), b"a/b");
        assert_eq!(p.join(b".."), Err(PathError::DotDot));
        assert_eq!(p.join(b"x/y"), Err(PathError::Slash));
        assert_eq!(p.join(b"/y"), Err(PathError::Slash));
        assert_eq!(p.join(b""), Err(PathError::Empty));
        assert_eq!(RelPath::from_name(b"a/b"), Err(PathError::Slash));
        assert_eq!(RelPath::from_name(b"."), Err(PathError::Dot));
        assert_eq!(RelPath::from_name(b"n\n").unwrap().as_bytes(), b"n\n");
    }

    #[test]
    fn error_display_is_pinned() {
        assert_eq!(PathError::DotDot.to_string(), "path has a `..` component");
        assert_eq!(PathError::Absolute.to_string(), "absolute path");
        assert_eq!(
            RelPath::new(b"a\nb").unwrap().to_string(),
            "a\\nb",
            "control characters are escaped in messages"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = RelPath::new(&bytes) {
                prop_assert!(!p.as_bytes().starts_with(b"/"));
                prop_assert!(p.components().all(|c| c != b".." && c != b"." && !c.is_empty()));
                prop_assert!(!p.as_bytes().contains(&0));
                let _ = p.display();
            }
        }

        #[test]
        fn slashy_bytes_never_escape(bytes in proptest::collection::vec(
            prop_oneof![Just(b'/'), Just(b'.'), Just(b'a'), Just(0u8)], 0..40)) {
            if let Ok(p) = RelPath::new(&bytes) {
                prop_assert!(!p.as_bytes().starts_with(b"/"));
                prop_assert!(p.components().all(|c| c != b".." && c != b"."));
                let again = RelPath::new(p.as_bytes());
                prop_assert_eq!(again.as_ref(), Ok(&p), "accepted paths are fixed points");
            }
        }
    }
}
