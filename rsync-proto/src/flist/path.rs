//! `WirePath`: a file-list name that has been checked to be safe to use below a
//! transfer root (parse, don't validate).
//!
//! Spec: RFC.md §9 `[flist-name]` and §14. Reference: rsync `clean_fname` with
//! `CFN_REFUSE_DOT_DOT_DIRS` and the absolute-path check in `recv_file_entry` (flist.c).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

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
    /// A [`PathBatch`] already holds [`MAX_BATCH_BYTES`] bytes of names.
    #[error("path batch full")]
    BatchFull,
}

/// The most name bytes one [`PathBatch`] holds before [`PathBatch::finish`].
pub const MAX_BATCH_BYTES: usize = u32::MAX as usize;

/// A validated file-list name: raw bytes (no charset conversion), relative, `/`-separated,
/// at most [`MAX_NAME_LEN`] bytes, no NUL, no `..`, no empty or `.` components except the
/// name `.` itself (the transfer root).
///
/// The bytes live in a shared, immutable buffer: a path made with [`Self::new`] has one of
/// its own, the paths of a [`PathBatch`] (the names of a file list) share one, so a list of
/// 100,000 names costs the name bytes plus 16 bytes a name, with no allocation per name.
/// Cloning is a reference-count increment. Equality, ordering and hashing are those of the
/// bytes (a `WirePath` can be looked up in a set with a `&[u8]`).
#[derive(Clone)]
pub struct WirePath {
    buf: Arc<Box<[u8]>>,
    start: u32,
    len: u32,
}

impl WirePath {
    /// Checks `name` and wraps it.
    ///
    /// # Errors
    /// [`PathError`] naming the first rule broken.
    pub fn new(name: Vec<u8>) -> Result<Self, PathError> {
        Self::check(&name)?;
        // `check` bounds the length by MAX_NAME_LEN.
        let len = name.len() as u32;
        Ok(Self {
            buf: Arc::new(name.into_boxed_slice()),
            start: 0,
            len,
        })
    }

    /// The transfer root `.`.
    pub fn dot() -> Self {
        Self {
            buf: Arc::new(Box::new(*b".")),
            start: 0,
            len: 1,
        }
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
        let (start, end) = (self.start as usize, self.start as usize + self.len as usize);
        // Always in range: set from the buffer's own layout when the path was made.
        self.buf.get(start..end).unwrap_or_default()
    }

    /// The name's bytes, by value (a copy).
    pub fn into_bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// Whether this is the transfer root `.`.
    pub fn is_dot(&self) -> bool {
        self.as_bytes() == b"."
    }
}

impl PartialEq for WirePath {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for WirePath {}

impl PartialOrd for WirePath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WirePath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for WirePath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for WirePath {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
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
        self.as_bytes()
    }
}

impl fmt::Debug for WirePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Display for WirePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Many [`WirePath`]s made at once, sharing one buffer: [`Self::push`] checks and stores
/// each name, [`Self::finish`] hands them out in order. Used to build file lists, where a
/// buffer per name would cost more than the name itself.
///
/// ```
/// use rsync_proto::flist::PathBatch;
/// let mut batch = PathBatch::default();
/// batch.push(b"a")?;
/// batch.push(b"a/b")?;
/// let paths: Vec<_> = batch.finish().collect();
/// assert_eq!(paths[1].as_bytes(), b"a/b");
/// assert!(batch.is_empty());
/// # Ok::<(), rsync_proto::flist::PathError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct PathBatch {
    bytes: Vec<u8>,
    /// End offset of each name in `bytes`.
    ends: Vec<u32>,
}

impl PathBatch {
    /// Checks `name` ([`WirePath::check`]) and appends it.
    ///
    /// # Errors
    /// [`PathError`] naming the first rule broken; nothing is appended then.
    pub fn push(&mut self, name: &[u8]) -> Result<(), PathError> {
        WirePath::check(name)?;
        if self.bytes.len() + name.len() > MAX_BATCH_BYTES {
            return Err(PathError::BatchFull);
        }
        self.bytes.extend_from_slice(name);
        self.ends.push(self.bytes.len() as u32);
        Ok(())
    }

    /// Appends a name the caller has checked with [`WirePath::check`] (at most
    /// [`MAX_NAME_LEN`] bytes; the batch is finished before it could fill up).
    pub(crate) fn push_checked(&mut self, name: &[u8]) {
        self.bytes.extend_from_slice(name);
        self.ends.push(self.bytes.len() as u32);
    }

    /// Names pushed since the last [`Self::finish`].
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no name is waiting.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of the names waiting.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The names pushed since the last call, in order, sharing one buffer; the batch is
    /// empty afterwards (and keeps its capacity for the next names).
    pub fn finish(&mut self) -> impl Iterator<Item = WirePath> + '_ {
        let buf = Arc::new(self.bytes.as_slice().into());
        self.bytes.clear();
        let mut start = 0;
        self.ends.drain(..).map(move |end| {
            let p = WirePath {
                buf: Arc::clone(&buf),
                start,
                len: end - start,
            };
            start = end;
            p
        })
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

    #[test]
    fn a_batch_hands_out_its_names_in_order_sharing_one_buffer() {
        let mut batch = PathBatch::default();
        for name in [&b"a"[..], b"a/b", b".", b"\xff c"] {
            batch.push(name).unwrap();
        }
        assert_eq!(batch.push(b"a/../b"), Err(PathError::DotDot));
        assert_eq!((batch.len(), batch.bytes()), (4, 1 + 3 + 1 + 3));
        let paths: Vec<WirePath> = batch.finish().collect();
        assert!(batch.is_empty() && batch.bytes() == 0);
        let bytes: Vec<&[u8]> = paths.iter().map(WirePath::as_bytes).collect();
        assert_eq!(bytes, [&b"a"[..], b"a/b", b".", b"\xff c"]);
        assert!(paths.iter().all(|p| Arc::ptr_eq(&p.buf, &paths[0].buf)));
        // The same values as paths made one by one.
        for p in &paths {
            let alone = WirePath::new(p.as_bytes().to_vec()).unwrap();
            assert_eq!(p, &alone);
            assert_eq!(p.cmp(&alone), std::cmp::Ordering::Equal);
        }
        assert!(paths[2].is_dot() && !paths[1].is_dot());
        assert_eq!(paths[2], WirePath::dot());
        assert!(paths[0] < paths[1]);
        // The next batch starts afresh.
        batch.push(b"z").unwrap();
        let next: Vec<WirePath> = batch.finish().collect();
        assert_eq!(next[0].as_bytes(), b"z");
        assert_eq!(paths[3].clone().into_bytes(), b"\xff c");
    }

    #[test]
    fn paths_are_found_by_their_bytes() {
        let mut set = std::collections::HashSet::new();
        let mut batch = PathBatch::default();
        batch.push(b"d/x").unwrap();
        set.extend(batch.finish());
        assert!(set.contains(&b"d/x"[..]));
        assert!(set.contains(&WirePath::try_from("d/x").unwrap()));
        assert!(!set.contains(&b"d"[..]));
    }
}
