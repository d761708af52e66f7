//! Names with their leading directories (`-R`): the `--files-from` names, all beneath the
//! one source directory, and `-R` source operands, each beneath its own (rsync flist.c
//! `send_file_list` with `relative_paths`).
//!
//! An operand `DIR/./NAME` is `NAME` beneath `DIR`; any other is the whole operand beneath
//! `/` (absolute) or the current directory. `NAME`'s parents are sent first as implied
//! directories (from protocol 30 flagged `XMIT_TOP_DIR | XMIT_NO_CONTENT_DIR`, so that
//! `--delete` never reaches into them: flist.c `send_implied_dirs`), unfiltered; `NAME`
//! itself, a directory, is a top directory. A name that is empty or `.` means the contents
//! of its directory, as `DIR/` without `-R`.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use rsync_proto::flist::FileEntry;
use rsync_proto::session::MissingArgs;

use super::{ListBuilder, SenderFs, Source, IOERR_GENERAL, IOERR_VANISHED};
use crate::fs::{walk, FileKind, RelPath};
use crate::transfer::{report, Role};

impl Source {
    /// How a `-R` operand is walked: `(directory to open, name beneath it)`. The name has no
    /// empty or `.` component and no leading or trailing `/`; empty means the directory's
    /// contents.
    pub(super) fn split_relative(&self) -> (PathBuf, Vec<u8>) {
        let p = self.0.as_slice();
        let (dir, name): (&[u8], &[u8]) = match p.windows(3).position(|w| w == b"/./") {
            Some(0) => (b"/", &p[3..]),
            Some(i) => (&p[..i], &p[i + 3..]),
            None if p.starts_with(b"/") => (b"/", p),
            None => (b".", p),
        };
        (
            PathBuf::from(std::ffi::OsStr::from_bytes(dir)),
            clean_name(name),
        )
    }
}

/// `name` without empty and `.` components (rsync `clean_fname`); `..` stays, to be refused.
fn clean_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for comp in name.split(|&b| b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(comp);
    }
    out
}

impl SenderFs {
    /// `--files-from`: each name beneath the single source directory, with its parents.
    pub(super) fn walk_names(
        &mut self,
        names: &[Vec<u8>],
        out: &mut ListBuilder,
        io_error: &mut i32,
    ) {
        let mut seen = BTreeSet::new();
        for raw in names {
            let name = clean_name(raw);
            if name.is_empty() {
                continue;
            }
            let shown = || format!("bad --files-from name {:?}", String::from_utf8_lossy(raw));
            self.walk_name(0, &name, &shown, &mut seen, out, io_error);
        }
    }

    /// `-R` operands: each `(root, name)` of [`Source::split_relative`], with its parents;
    /// which root each name came from is recorded when there are several.
    pub(super) fn walk_relative(
        &mut self,
        starts: &[(usize, usize, Vec<u8>)],
        out: &mut ListBuilder,
        io_error: &mut i32,
    ) {
        let mut seen = BTreeSet::new();
        for (src, idx, name) in starts {
            let before = out.len();
            if name.is_empty() {
                self.walk_source(*idx, None, out, io_error);
            } else {
                let operand = String::from_utf8_lossy(&self.sources[*src].0).into_owned();
                let shown = || format!("bad source name {operand:?}");
                self.walk_name(*idx, name, &shown, &mut seen, out, io_error);
            }
            if self.roots.len() > 1 {
                out.flush();
                for e in out.done.get(before..).unwrap_or_default() {
                    self.owner.entry(e.name.as_bytes().to_vec()).or_insert(*idx);
                }
            }
        }
    }

    /// One name beneath root `idx` with its implied parents (`-R`); `bad` words the error
    /// for a name that is not a relative path.
    fn walk_name(
        &mut self,
        idx: usize,
        name: &[u8],
        bad: &dyn Fn() -> String,
        seen: &mut BTreeSet<Vec<u8>>,
        out: &mut ListBuilder,
        io_error: &mut i32,
    ) {
        let Some(root) = self.roots.get(idx) else {
            return;
        };
        let Ok(rel) = RelPath::new(name) else {
            self.fail(io_error, &bad());
            return;
        };
        // flist.c send_file_list: a name that does not exist (ENOENT only) is an error,
        // skipped silently (--ignore-missing-args), or sent as a mode-0 entry that makes
        // the receiver delete it (--delete-missing-args, not filtered); its implied
        // directories are sent only then.
        let enoent = Some(rustix::io::Errno::NOENT.raw_os_error());
        let missing = match root.lstat(&rel) {
            Err(e) if e.errno() == enoent => match self.opts.missing_args {
                MissingArgs::Ignore => return,
                MissingArgs::Delete => true,
                _ => {
                    let msg = format!("link_stat \"{}\" failed: {e}", rel.display());
                    self.fail(io_error, &msg);
                    return;
                }
            },
            _ => false,
        };
        // Implied parent directories (-R).
        if self.opts.relative {
            let mut parent = rel.parent();
            let mut chain = Vec::new();
            while let Some(p) = parent {
                parent = p.parent();
                chain.push(p);
            }
            for p in chain.into_iter().rev() {
                if seen.insert(p.as_bytes().to_vec()) {
                    match root.lstat(&p) {
                        Ok(m) => {
                            if let Some(mut e) = self.entry(out, p.as_bytes(), &m, None) {
                                if e.is_dir() && self.opts.protocol >= 30 {
                                    e.set_top_dir(true);
                                    e.set_no_content_dir(true);
                                }
                                out.push(p.as_bytes(), e);
                            }
                        }
                        Err(e) if missing && e.errno() == enoent => {
                            // send_implied_dirs → send_file_name: a warning, exit 24.
                            *io_error |= IOERR_VANISHED;
                            self.failures.vanished();
                            report(Role::Sender, &format!("file has vanished: {}", p.display()));
                        }
                        Err(e) => self.fail(io_error, &e.to_string()),
                    }
                }
            }
        }
        // --no-relative: names relative to the listed entry's parent.
        let base = if self.opts.relative {
            0
        } else {
            rel.parent().map_or(0, |p| p.as_bytes().len() + 1)
        };
        if missing {
            let name = rel.as_bytes().get(base..).unwrap_or_default();
            if seen.insert(name.to_vec()) {
                out.push(name, FileEntry::new(out.placeholder.clone(), 0));
            }
            return;
        }
        let mut w = walk(root.dir_fd(), Some(&rel), self.opts.recursive);
        let first = w.next();
        let is_dir = matches!(&first, Some(Ok(e)) if e.meta.kind == FileKind::Dir);
        let items = first.into_iter().chain(
            if is_dir && self.opts.recursive {
                Some(w)
            } else {
                None
            }
            .into_iter()
            .flatten(),
        );
        for (i, item) in items.enumerate() {
            match item {
                Ok(e) if self.hidden(e.path.as_bytes(), e.meta.kind == FileKind::Dir) => {}
                Ok(e) => {
                    let name = e.path.as_bytes().get(base..).unwrap_or_default().to_vec();
                    if seen.insert(name.clone()) {
                        if let Some(mut fe) = self.entry(out, &name, &e.meta, e.link_target) {
                            // The named directory itself (flist.c: FLAG_TOP_DIR).
                            fe.set_top_dir(i == 0 && fe.is_dir());
                            out.push(&name, fe);
                        }
                    }
                }
                Err(e) => {
                    if e.errno() == enoent {
                        report(
                            Role::Sender,
                            &format!("link_stat \"{}\" failed: {e}", rel.display()),
                        );
                    } else {
                        report(Role::Sender, &e.to_string());
                    }
                    *io_error |= IOERR_GENERAL;
                    self.failures.error();
                }
            }
        }
    }
}
