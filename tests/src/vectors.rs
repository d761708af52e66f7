//! The `.vec` files of RFC.md Appendix B.6: one message example each, naming where its bytes
//! come from in a raw capture, how to decode them, and the field values RFC.md states.
//! `tests/rfc_vectors.rs` (sections 4–13, stock rsync captures) and
//! `tests/constant_vectors.rs` (section 15, a recorded constant session) both read them here.
//!
//! A malformed vector file is a broken test fixture: the functions panic with its name and line.

// Fixture loading for tests: a panic is how a broken fixture fails the test that reads it.
#![allow(clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a vector's bytes come from.
#[derive(Debug)]
pub enum Source {
    /// `source FILE raw OFFSET LEN`: bytes of the raw capture file.
    Raw {
        /// The capture file, relative to the vectors' `raw/` directory.
        file: String,
        /// Offset.
        off: usize,
        /// Length.
        len: usize,
    },
    /// `source FILE data MUX_START OFFSET LEN`: bytes of the logical stream, i.e. the
    /// concatenated `MSG_DATA` payloads of the frames that start at raw offset `MUX_START`.
    Data {
        /// The capture file.
        file: String,
        /// Raw offset where multiplexing starts.
        mux_start: usize,
        /// Offset in the logical stream.
        off: usize,
        /// Length.
        len: usize,
    },
}

/// One `.vec` file.
#[derive(Debug)]
pub struct Vector {
    /// The file name.
    pub name: String,
    /// The RFC labels it illustrates.
    pub labels: Vec<String>,
    /// Where its bytes are in the capture.
    pub source: Source,
    /// The decoder to use.
    pub decode: String,
    /// `param KEY VALUE` lines (decoder parameters).
    pub params: BTreeMap<String, String>,
    /// The bytes (`hex` lines).
    pub hex: Vec<u8>,
    /// `(line, key, value)` of each `expect` line.
    pub expects: Vec<(usize, String, String)>,
}

/// Hex digits (whitespace ignored) as bytes.
///
/// # Errors
/// An odd number of digits or a non-hex character.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .ok_or_else(|| format!("non-ASCII in {s:?}"))
                .and_then(|d| u8::from_str_radix(d, 16).map_err(|e| format!("{e} in {s:?}")))
        })
        .collect()
}

/// A decimal number of a vector file (panics on anything else).
pub fn num(s: &str) -> usize {
    s.parse()
        .unwrap_or_else(|e| panic!("bad number {s:?}: {e}"))
}

/// Reads one `.vec` file.
pub fn load(path: &Path) -> Vector {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (mut labels, mut source, mut decode) = (Vec::new(), None, None);
    let (mut params, mut hex, mut expects) = (BTreeMap::new(), Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match key {
            "labels" => labels.extend(rest.split_whitespace().map(str::to_owned)),
            "source" => {
                let w: Vec<&str> = rest.split_whitespace().collect();
                source = Some(match w.as_slice() {
                    [f, "raw", o, l] => Source::Raw {
                        file: (*f).to_owned(),
                        off: num(o),
                        len: num(l),
                    },
                    [f, "data", m, o, l] => Source::Data {
                        file: (*f).to_owned(),
                        mux_start: num(m),
                        off: num(o),
                        len: num(l),
                    },
                    _ => panic!("{name}:{}: bad source line", i + 1),
                });
            }
            "decode" => decode = Some(rest.to_owned()),
            "param" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                params.insert(k.to_owned(), v.trim().to_owned());
            }
            "hex" => {
                hex.extend(parse_hex(rest).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1)))
            }
            "expect" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                expects.push((i + 1, k.to_owned(), v.trim().to_owned()));
            }
            _ => panic!("{name}:{}: unknown key {key:?}", i + 1),
        }
    }
    Vector {
        labels,
        source: source.unwrap_or_else(|| panic!("{name}: no source line")),
        decode: decode.unwrap_or_else(|| panic!("{name}: no decode line")),
        name,
        params,
        hex,
        expects,
    }
}

/// Every `.vec` file of `dir`, in name order.
pub fn load_dir(dir: &Path) -> Vec<Vector> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "vec"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

/// `len` bytes of `bytes` at `off`, or why not.
///
/// # Errors
/// The range is past the end.
pub fn cut(bytes: &[u8], off: usize, len: usize) -> Result<Vec<u8>, String> {
    bytes
        .get(off..off.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format!("{off}+{len} is past the end ({} bytes)", bytes.len()))
}

/// The text of the workspace's `RFC.md`.
pub fn rfc_md() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../RFC.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}
