//! Loading the session captures of `tests/capture/session_capture.py`
//! (`tests/data/vectors/captured/session/`): the trees, the options, the handshake and the
//! two raw streams, and a renderer of rsync's `%i %n%L` lines for the itemize checks.

use std::collections::HashMap;
use std::path::PathBuf;

use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_tests::pseudo_random;

use super::fakefs::{Fs, Inode, Kind};
use crate::flist::{mode, FileEntry, FlistOptions};
use crate::session::{iflags, DeleteTiming, SessionOptions};
use crate::wire::WireReader;

/// One capture.
pub(crate) struct SessionCapture {
    pub(crate) name: String,
    pub(crate) pull: bool,
    pub(crate) options: Vec<String>,
    pub(crate) protocol: u8,
    pub(crate) compat: u32,
    pub(crate) checksum: ChecksumKind,
    pub(crate) seed: i32,
    pub(crate) exit: i32,
    pub(crate) stdout: Vec<String>,
    pub(crate) src: Fs,
    pub(crate) dst: Fs,
    /// `after` lines: the destination after the run.
    pub(crate) after: Vec<String>,
    pub(crate) c2s: Vec<u8>,
    pub(crate) s2c: Vec<u8>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/vectors/captured/session")
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// tests/capture/filespec.py.
pub(crate) fn build_spec(s: &str) -> Vec<u8> {
    let mut parts = s.split(',');
    let base: Vec<&str> = parts.next().expect("base").split(':').collect();
    let mut buf = match base.as_slice() {
        ["prng", len, seed] => {
            pseudo_random(len.parse().expect("len"), seed.parse().expect("seed"))
        }
        ["hex", h] => unhex(h),
        ["hex"] => Vec::new(),
        _ => panic!("unsupported spec {s}"),
    };
    for edit in parts {
        let f: Vec<&str> = edit.split(':').collect();
        let ["splice", off, del, h] = f.as_slice() else {
            panic!("bad edit {edit}")
        };
        let (off, del): (usize, usize) = (off.parse().expect("off"), del.parse().expect("del"));
        buf.splice(off..off + del, unhex(h));
    }
    buf
}

/// Builds a tree from `TYPE PATH-HEX MODE MTIME NSEC UID GID INO EXTRA` lines.
fn tree(lines: &[&str]) -> Fs {
    let mut fs = Fs::new();
    let mut first_of: HashMap<String, Vec<u8>> = HashMap::new();
    let mut items = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        let [kind, path, perm, mtime, nsec, uid, gid, ino, extra] = f.as_slice() else {
            panic!("bad tree line {l}")
        };
        items.push((
            *kind,
            unhex(path),
            u32::from_str_radix(perm, 8).expect("mode"),
            mtime.parse::<i64>().expect("mtime"),
            nsec.parse::<u32>().expect("nsec"),
            uid.parse::<u32>().expect("uid"),
            gid.parse::<u32>().expect("gid"),
            *ino,
            *extra,
        ));
    }
    for (kind, path, perm, mtime, nsec, uid, gid, ino, extra) in &items {
        if *ino != "-" {
            if let Some(first) = first_of.get(*ino) {
                let first = first.clone();
                fs.link(path, &first);
                continue;
            }
            first_of.insert((*ino).to_string(), path.clone());
        }
        let k = match *kind {
            "f" if extra.starts_with('=') => continue,
            "f" => Kind::File(build_spec(extra)),
            "d" => Kind::Dir,
            "l" => Kind::Symlink(unhex(extra)),
            "c" | "b" => {
                let (a, b) = extra.split_once(',').expect("rdev");
                Kind::Device(a.parse().expect("major"), b.parse().expect("minor"))
            }
            "p" => Kind::Special,
            k => panic!("bad type {k}"),
        };
        let mut i = Inode::new(k, *perm, *mtime);
        i.mode = match *kind {
            "c" => mode::S_IFCHR | perm,
            "b" => mode::S_IFBLK | perm,
            _ => i.mode,
        };
        i.nsec = *nsec;
        i.uid = *uid;
        i.gid = *gid;
        if path.as_slice() == b"." {
            let ino = fs.paths[&b"."[..]];
            fs.inodes.insert(ino, i);
        } else {
            fs.put(path, i);
        }
    }
    // Restore the recorded times that the insertions bumped.
    for (_, path, _, mtime, nsec, ..) in &items {
        if let Some(&ino) = fs.paths.get(path) {
            if let Some(i) = fs.inodes.get_mut(&ino) {
                i.mtime = *mtime;
                i.nsec = *nsec;
            }
        }
    }
    fs
}

/// Every capture of the session directory, sorted by name.
pub(crate) fn session_captures() -> Vec<SessionCapture> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("session captures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    names.iter().map(load).collect()
}

fn load(p: &PathBuf) -> SessionCapture {
    let text = std::fs::read_to_string(p).expect("read");
    let mut keys: HashMap<&str, &str> = HashMap::new();
    let mut multi: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        multi.entry(k).or_default().push(v);
        keys.entry(k).or_insert(v);
    }
    let name = keys["name"].to_string();
    let read = |ext: &str| std::fs::read(dir().join(format!("{name}.{ext}"))).expect("raw");
    let lines = |k: &str| multi.get(k).cloned().unwrap_or_default();
    SessionCapture {
        pull: keys["direction"] == "pull",
        options: keys["options"].split(' ').map(str::to_string).collect(),
        protocol: keys["protocol"].parse().expect("protocol"),
        compat: u32::from_str_radix(keys["compat"].trim_start_matches("0x"), 16).expect("c"),
        checksum: ChecksumKind::from_name(keys["checksum"].as_bytes()).expect("checksum"),
        seed: keys["seed"].parse().expect("seed"),
        exit: keys["exit"].parse().expect("exit"),
        stdout: lines("stdout")
            .iter()
            .map(|h| String::from_utf8_lossy(&unhex(h)).into_owned())
            .collect(),
        src: tree(&lines("src")),
        dst: tree(&lines("dst")),
        after: lines("after").iter().map(|s| s.to_string()).collect(),
        c2s: read("c2s"),
        s2c: read("s2c"),
        name,
    }
}

impl SessionCapture {
    fn has(&self, o: &str) -> bool {
        self.options.iter().any(|x| x == o)
    }

    /// Short options given in clusters (`-aH`, `-rlp`, `-ii`).
    fn short(&self, c: char) -> usize {
        self.options
            .iter()
            .filter(|o| o.starts_with('-') && !o.starts_with("--"))
            .map(|o| o.chars().filter(|&x| x == c).count())
            .sum()
    }

    /// The options of one side of the session (we run as root, as the capture did).
    pub(crate) fn session_options(&self, server: bool) -> SessionOptions {
        let p = self.protocol;
        let mut flist = FlistOptions::new(u32::from(p.min(32)));
        flist.varint_flags = self.compat & 0x80 != 0;
        flist.id0_names = self.compat & 0x100 != 0;
        flist.safe_flist |= self.compat & 0x08 != 0;
        let a = self.short('a') > 0;
        if a {
            flist = flist.archive();
        }
        flist.preserve_links |= self.short('l') > 0;
        flist.preserve_hard_links = self.short('H') > 0;
        let strong =
            StrongSum::new(self.checksum, self.seed).with_seed_fix(self.compat & 0x20 != 0);
        let mut o = SessionOptions::with_parts(p, strong, flist, server);
        o.recursive = a || self.short('r') > 0;
        o.preserve_perms = a || self.short('p') > 0;
        o.preserve_times = a || self.short('t') > 0;
        o.itemize = self.short('i') as u8;
        o.verbose = self.short('v') as u8;
        o.dry_run = self.short('n') > 0;
        o.checksum = self.short('c') > 0;
        o.whole_file = self.short('W') > 0;
        o.inplace = self.has("--inplace");
        o.am_root = true;
        o.delete = if self.has("--delete") {
            Some(DeleteTiming::Auto)
        } else if self.has("--delete-after") {
            Some(DeleteTiming::After)
        } else if self.has("--delete-before") {
            Some(DeleteTiming::Before)
        } else {
            None
        };
        o
    }

    /// The streams after the handshake (client→server, server→client) and the handshake
    /// lengths.
    pub(crate) fn after_handshake(&self) -> (Vec<u8>, Vec<u8>, usize, usize) {
        let mut c = WireReader::new(&self.c2s);
        let mut s = WireReader::new(&self.s2c);
        let cv = c.int().expect("client version");
        let sv = s.int().expect("server version");
        let p = cv.min(sv);
        let mut compat = 0;
        if p >= 30 {
            compat = s.varint().expect("compat");
        }
        if compat & 0x80 != 0
            && !self
                .options
                .iter()
                .any(|o| o.starts_with("--checksum-choice"))
        {
            c.vstring().expect("client list");
            s.vstring().expect("server list");
        }
        s.int().expect("seed");
        let (cp, sp) = (c.position(), s.position());
        (self.c2s[cp..].to_vec(), self.s2c[sp..].to_vec(), cp, sp)
    }

    /// Whether the options preserve a field (for the tree comparison).
    pub(crate) fn preserves(&self, what: char) -> bool {
        let a = self.short('a') > 0;
        match what {
            'p' => a || self.short('p') > 0,
            't' => a || self.short('t') > 0,
            'o' => a || self.short('o') > 0,
            'g' => a || self.short('g') > 0,
            _ => false,
        }
    }
}

/// log.c `%i` for an item record (`missing`: `ITEM_MISSING_DATA`, a transfer below
/// protocol 29).
pub(crate) fn render_i(
    e: &FileEntry,
    flags: u16,
    op_send: bool,
    preserve_times: bool,
    missing: bool,
) -> String {
    let mut c = [b'.'; 11];
    c[0] = if flags & iflags::LOCAL_CHANGE != 0 {
        if flags & iflags::XNAME_FOLLOWS != 0 {
            b'h'
        } else {
            b'c'
        }
    } else if flags & iflags::TRANSFER == 0 {
        b'.'
    } else if op_send {
        b'<'
    } else {
        b'>'
    };
    let t = if flags & iflags::REPORT_TIME == 0 {
        b'.'
    } else if preserve_times {
        b't'
    } else {
        b'T'
    };
    if e.is_symlink() {
        c[1] = b'L';
        c[4] = t;
    } else {
        c[1] = if e.is_dir() {
            b'd'
        } else if e.is_special() {
            b'S'
        } else if e.is_device() {
            b'D'
        } else {
            b'f'
        };
        c[3] = if flags & iflags::REPORT_SIZE != 0 {
            b's'
        } else {
            b'.'
        };
        c[4] = t;
    }
    let bit = |f: u16, ch: u8| if flags & f != 0 { ch } else { b'.' };
    c[2] = bit(iflags::REPORT_CHANGE, b'c');
    c[5] = bit(iflags::REPORT_PERMS, b'p');
    c[6] = bit(iflags::REPORT_OWNER, b'o');
    c[7] = bit(iflags::REPORT_GROUP, b'g');
    c[8] = bit(iflags::REPORT_ATIME, b'u');
    c[9] = bit(iflags::REPORT_ACL, b'a');
    c[10] = bit(iflags::REPORT_XATTR, b'x');
    if flags & iflags::IS_NEW != 0 || missing {
        let ch = if flags & iflags::IS_NEW != 0 {
            b'+'
        } else {
            b'?'
        };
        for x in &mut c[2..] {
            *x = ch;
        }
    } else if matches!(c[0], b'.' | b'h' | b'c') && c[2..].iter().all(|&x| x == b'.') {
        for x in &mut c[2..] {
            *x = b' ';
        }
    }
    String::from_utf8_lossy(&c).into_owned()
}

/// `%n%L` of an entry.
pub(crate) fn render_name(e: &FileEntry, xname: Option<&[u8]>) -> String {
    let mut s = String::from_utf8_lossy(e.name.as_bytes()).into_owned();
    if e.is_dir() {
        s.push('/');
    }
    match (xname, e.symlink()) {
        (Some(x), _) if !x.is_empty() => {
            s.push_str(" => ");
            s.push_str(&String::from_utf8_lossy(x));
        }
        (_, Some(t)) if e.is_symlink() => {
            s.push_str(" -> ");
            s.push_str(&String::from_utf8_lossy(t));
        }
        _ => {}
    }
    s
}

/// A tree as `after` lines (the capture's format, directory times zeroed, `INO` as `-`
/// or `L` for a linked name), with what the options do not preserve masked.
pub(crate) fn tree_lines(fs: &Fs, cap: &SessionCapture) -> Vec<String> {
    let mut nlink: HashMap<u64, usize> = HashMap::new();
    for ino in fs.paths.values() {
        *nlink.entry(*ino).or_default() += 1;
    }
    let content = |tree: &Fs, p: &[u8]| match tree.get(p) {
        Some((
            _,
            Inode {
                kind: Kind::File(d),
                ..
            },
        )) => Some(d.clone()),
        _ => None,
    };
    let mut out = Vec::new();
    for (p, ino) in &fs.paths {
        let Some(i) = fs.inodes.get(ino) else {
            continue;
        };
        let (k, extra) = match &i.kind {
            Kind::File(d) => {
                let r = if content(&cap.src, p).as_ref() == Some(d) {
                    "=src".to_string()
                } else if content(&cap.dst, p).as_ref() == Some(d) {
                    "=dst".to_string()
                } else {
                    format!("hex:{}", hex(d))
                };
                ("f", r)
            }
            Kind::Dir => ("d", "-".to_string()),
            Kind::Symlink(t) => ("l", hex(t)),
            Kind::Device(a, b) => (
                if i.mode & mode::S_IFMT == mode::S_IFBLK {
                    "b"
                } else {
                    "c"
                },
                format!("{a},{b}"),
            ),
            Kind::Special => ("p", "-".to_string()),
        };
        let linked = if k != "d" && nlink[ino] > 1 { "L" } else { "-" };
        let (mt, ns) = if k == "d" { (0, 0) } else { (i.mtime, i.nsec) };
        out.push(mask(
            &format!(
                "{k} {} {:o} {mt} {ns} {} {} {linked} {extra}",
                hex(p),
                i.mode & 0o7777,
                i.uid,
                i.gid
            ),
            cap,
        ));
    }
    out
}

/// Masks the fields the options do not preserve, and the inode numbers.
pub(crate) fn mask(line: &str, cap: &SessionCapture) -> String {
    let mut f: Vec<String> = line.split(' ').map(str::to_string).collect();
    if f.len() < 9 {
        return line.to_string();
    }
    if f[7] != "-" {
        f[7] = "L".into();
    }
    if !cap.preserves('p') && f[0] != "l" {
        f[2] = "?".into();
    }
    if !cap.preserves('t') {
        f[3] = "?".into();
        f[4] = "?".into();
    }
    if !cap.preserves('o') {
        f[5] = "?".into();
    }
    if !cap.preserves('g') {
        f[6] = "?".into();
    }
    f.join(" ")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
