//! Test-only access to the captured stock-rsync streams in `tests/data/vectors/captured/`.

use std::collections::HashMap;
use std::path::PathBuf;

/// One capture: its `.txt` keys and its raw byte streams.
pub(crate) struct Capture {
    pub(crate) name: String,
    pub(crate) keys: HashMap<String, String>,
    pub(crate) c2s: Vec<u8>,
    pub(crate) s2c: Vec<u8>,
    pub(crate) argv: Vec<String>,
}

impl Capture {
    pub(crate) fn key(&self, k: &str) -> &str {
        self.keys
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{}: no key {k}", self.name))
    }

    pub(crate) fn protocol(&self) -> i32 {
        self.key("protocol").parse().expect("protocol")
    }

    pub(crate) fn seed(&self) -> i32 {
        self.key("seed").parse().expect("seed")
    }

    pub(crate) fn compat(&self) -> u32 {
        u32::from_str_radix(self.key("compat").trim_start_matches("0x"), 16).expect("compat")
    }

    /// `--checksum-choice` given on the command line.
    pub(crate) fn choice(&self) -> Option<&str> {
        (self.key("checksum_source") == "choice").then(|| self.key("checksum"))
    }

    pub(crate) fn is_pull(&self) -> bool {
        self.key("direction") == "pull"
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/vectors/captured")
}

/// Every capture, sorted by name.
pub(crate) fn captures() -> Vec<Capture> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("captured dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    let caps: Vec<Capture> = names
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("read txt");
            let mut keys = HashMap::new();
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                if let Some((k, v)) = line.split_once(' ') {
                    keys.entry(k.to_string()).or_insert_with(|| v.to_string());
                }
            }
            let name = keys["name"].clone();
            let raw = dir().join("raw");
            let read = |ext: &str| std::fs::read(raw.join(format!("{name}.{ext}"))).expect("raw");
            let argv = String::from_utf8_lossy(&read("argv"))
                .split(|c: char| c.is_whitespace() || c == '\0')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect();
            Capture {
                c2s: read("c2s"),
                s2c: read("s2c"),
                argv,
                keys,
                name,
            }
        })
        .collect();
    assert!(
        caps.len() >= 18,
        "expected the 18 captures, found {}",
        caps.len()
    );
    caps
}
