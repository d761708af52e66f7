//! Deletions on the receiving side: `--delete` in a directory of the list, the removal of a
//! directory that is in the way of an entry of another type, and the directory a
//! `--delete-missing-args` entry names.
//!
//! Reference: rsync `delete_in_dir`, `do_delete_pass` (generator.c), `delete_item`,
//! `delete_dir_contents` (delete.c), `log_delete` (log.c), `write_del_stats` (main.c).
//! A directory's listing is processed in reverse file-list order (rsync walks its sorted
//! `get_dirlist` backwards); a directory being deleted is emptied depth first, each item
//! reported as it goes, then removed itself.

use super::super::error::SessionError;
use super::super::events::Event;
use super::super::types::{FsAnswer, FsRequest, ListedName};
use super::Receiver;
use crate::flist::{compare_names, mode, WirePath};
use crate::mux::MsgCode;

/// One directory being processed.
#[derive(Debug)]
struct Frame {
    /// Its path (`.` for the transfer root).
    path: Vec<u8>,
    /// `delete_in_dir` (only names missing from the list) or the content of a directory
    /// being deleted.
    kind: Kind,
    /// Children left, in processing order; `None` until listed.
    todo: Option<Vec<ListedName>>,
    /// A child could not be deleted (or is protected).
    nonempty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `delete_in_dir`: names that the file list does not have.
    InDir,
    /// `delete_dir_contents` of a directory named by `delete_item` (`top`) or found inside
    /// one; the directory itself is removed afterwards (reported unless it makes room).
    Contents { top: bool },
}

/// A deletion in progress (see the module documentation).
#[derive(Debug)]
pub(super) struct Deleter {
    stack: Vec<Frame>,
    /// `DEL_RECURSE`.
    recurse: bool,
    /// Making room for a new item of this kind (`DEL_FOR_*`): the top directory is not
    /// reported, and a failure is reported as `could not make way for new …`.
    make_room: Option<&'static str>,
    /// Waiting for a listing.
    listing: bool,
    ok: bool,
}

impl Deleter {
    /// `delete_in_dir(dir)`.
    pub(super) fn in_dir(dir: Vec<u8>) -> Self {
        Self::with_frame(dir, Kind::InDir, true, None)
    }

    /// `delete_item(path, dir, 0 or DEL_RECURSE)`: remove the directory at `path`, reported
    /// as a deletion; its content too with `recurse` (`--delete`, `--force`), else only an
    /// empty one (`cannot delete non-empty directory`).
    pub(super) fn item(path: Vec<u8>, recurse: bool) -> Self {
        Self::with_frame(path, Kind::Contents { top: true }, recurse, None)
    }

    /// `delete_item(path, dir, DEL_FOR_*)`: remove the directory at `path` to make room
    /// for a new `what` (`regular file`, `symlink`, …); its content only with `recurse`
    /// (`--delete`).
    pub(super) fn make_room(path: Vec<u8>, what: &'static str, recurse: bool) -> Self {
        Self::with_frame(path, Kind::Contents { top: true }, recurse, Some(what))
    }

    fn with_frame(
        path: Vec<u8>,
        kind: Kind,
        recurse: bool,
        make_room: Option<&'static str>,
    ) -> Self {
        Self {
            stack: vec![Frame {
                path,
                kind,
                todo: None,
                nonempty: false,
            }],
            recurse,
            make_room,
            listing: false,
            ok: true,
        }
    }
}

/// `dir/name`, or `name` in the root.
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir == b"." {
        name.to_vec()
    } else {
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(name);
        p
    }
}

fn is_dir(m: u32) -> bool {
    m & mode::S_IFMT == mode::S_IFDIR
}

impl Receiver {
    /// Runs `d` until it needs a listing (`Ok(None)`) or is finished (`Ok(Some(ok))`).
    /// `answer` is the listing it waits for, if it has arrived.
    pub(super) fn del_step(
        &mut self,
        d: &mut Deleter,
        mut answer: Option<FsAnswer>,
    ) -> Result<Option<bool>, SessionError> {
        loop {
            let Some(top) = d.stack.last_mut() else {
                return Ok(Some(d.ok));
            };
            if top.todo.is_none() {
                if !d.listing {
                    d.listing = true;
                    let path = WirePath::new(top.path.clone())
                        .map_err(|_| SessionError::UnexpectedAnswer { what: "path" })?;
                    let ndx = self.ndx_of_dir(&top.path);
                    self.core.fs.push_back(FsRequest::ListDir { ndx, path });
                    return Ok(None);
                }
                match answer.take() {
                    Some(FsAnswer::DirList { names, .. }) => {
                        d.listing = false;
                        let (todo, protected) = self.plan_listing(&top.path, top.kind, names);
                        top.nonempty |= protected;
                        if top.kind != Kind::InDir && !d.recurse && !todo.is_empty() {
                            top.nonempty = true;
                            top.todo = Some(Vec::new());
                        } else {
                            top.todo = Some(todo);
                        }
                    }
                    Some(_) => {
                        return Err(SessionError::UnexpectedAnswer {
                            what: "not a directory listing",
                        })
                    }
                    None => return Ok(None),
                }
            }
            let next = top.todo.as_mut().and_then(Vec::pop);
            match next {
                Some(child) => {
                    let path = join(&top.path, &child.name);
                    if is_dir(child.mode) {
                        let top = matches!(top.kind, Kind::InDir);
                        d.stack.push(Frame {
                            path,
                            kind: Kind::Contents { top },
                            todo: None,
                            nonempty: false,
                        });
                    } else {
                        self.deleted(&path, child.mode);
                    }
                }
                None => {
                    let Some(done) = d.stack.pop() else {
                        continue;
                    };
                    let ok = self.finish_frame(&done, d.stack.is_empty(), d.make_room);
                    if let Some(parent) = d.stack.last_mut() {
                        parent.nonempty |= !ok;
                    } else {
                        d.ok = ok;
                    }
                }
            }
        }
    }

    /// The names to delete, in processing order (the last to process first), and whether
    /// one was protected.
    fn plan_listing(
        &self,
        dir: &[u8],
        kind: Kind,
        names: Vec<ListedName>,
    ) -> (Vec<ListedName>, bool) {
        let p = u32::from(self.core.protocol());
        let mut protected = false;
        let mut todo: Vec<ListedName> = names
            .into_iter()
            .filter(|n| {
                !n.name.is_empty() && n.name != b"." && n.name != b".." && !n.name.contains(&b'/')
            })
            .filter(|n| {
                let path = join(dir, &n.name);
                if self.gen.protection.protects(&path, is_dir(n.mode)) {
                    protected = true;
                    return false;
                }
                // delete_in_dir: flist_find_ignore_dirness.
                kind != Kind::InDir || !self.gen.names.contains(path.as_slice())
            })
            .collect();
        // get_dirlist sorts like the file list; the walk goes backwards, so the first to
        // process is last here (popped first).
        todo.sort_by(|a, b| compare_names(&a.name, is_dir(a.mode), &b.name, is_dir(b.mode), p));
        (todo, protected)
    }

    /// The end of a directory: an `InDir` frame is done; a directory whose content went is
    /// removed (`delete_item` with `DEL_DIR_IS_EMPTY`). Returns whether it is gone.
    fn finish_frame(
        &mut self,
        f: &Frame,
        outermost: bool,
        make_room: Option<&'static str>,
    ) -> bool {
        let Kind::Contents { top } = f.kind else {
            return true;
        };
        let name = String::from_utf8_lossy(&f.path).into_owned();
        if f.nonempty {
            // delete_dir_contents: `done:`.
            self.core.log(
                MsgCode::Info,
                format!("cannot delete non-empty directory: {name}\n").into_bytes(),
            );
        }
        let gone = if top {
            // delete_item: a non-empty result skips the rmdir.
            !f.nonempty
        } else if f.nonempty && !self.core.opts.dry_run {
            // The rmdir of a non-empty directory fails (a dry run "removes" it).
            self.core.log(
                MsgCode::Info,
                format!("cannot delete non-empty directory: {name}\n").into_bytes(),
            );
            false
        } else {
            true
        };
        if !gone {
            if let (true, Some(what)) = (outermost, make_room) {
                self.failures = true;
                self.core.log(
                    MsgCode::ErrorXfer,
                    format!("could not make way for new {what}: {name}\n").into_bytes(),
                );
            }
            return false;
        }
        if outermost && make_room.is_some() {
            // Making room: removed, not reported.
            if !self.core.opts.dry_run {
                if let Ok(path) = WirePath::new(f.path.clone()) {
                    self.core
                        .fs
                        .push_back(FsRequest::Delete { path, is_dir: true });
                }
            }
        } else {
            self.deleted(&f.path, mode::S_IFDIR | 0o755);
        }
        true
    }

    /// An item removed and reported (delete.c `delete_item` success, log.c `log_delete`).
    pub(super) fn deleted(&mut self, path: &[u8], m: u32) {
        let Ok(name) = WirePath::new(path.to_vec()) else {
            return;
        };
        let dir = is_dir(m);
        if !self.core.opts.dry_run {
            self.core.fs.push_back(FsRequest::Delete {
                path: name.clone(),
                is_dir: dir,
            });
        }
        self.stats.deleted.add(m);
        if self.core.opts.server {
            if self.core.protocol() >= 29 {
                let mut payload = name.as_bytes().to_vec();
                if dir {
                    payload.push(0);
                }
                self.core.send_msg(MsgCode::Deleted, &payload);
            } else if self.core.opts.itemize > 0 {
                // The server's --log-format=%i has no %n.
                self.core.send_msg(MsgCode::Info, b"*deleting  \n");
            } else if self.core.opts.verbose > 0 {
                let slash = if dir { "/" } else { "" };
                let text = format!("deleting {}{slash}\n", String::from_utf8_lossy(path));
                self.core.send_msg(MsgCode::Info, text.as_bytes());
            }
        }
        self.core
            .events
            .push_back(Event::Deleted { name, is_dir: dir });
    }

    /// The index of a directory of the list (for [`FsRequest::ListDir`]), −1 if none.
    fn ndx_of_dir(&self, path: &[u8]) -> i32 {
        self.gen.dir_ndx.get(path).copied().unwrap_or(-1)
    }
}
