//! User and group names for `-o`/`-g` without `--numeric-ids`, through the system's name
//! service (`getpwuid_r`/`getgrnam_r` via the `nix` crate), as rsync does: parsing
//! `/etc/passwd` and `/etc/group` ourselves would miss NSS sources such as LDAP or
//! systemd-userdb that rsync honours.

use nix::unistd::{Gid, Group, Uid, User};

/// The name of user `uid`, if it has one.
pub fn user_name(uid: u32) -> Option<Vec<u8>> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name.into_bytes())
}

/// The name of group `gid`, if it has one.
pub fn group_name(gid: u32) -> Option<Vec<u8>> {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name.into_bytes())
}

/// The local id of user `name` (names that are not UTF-8 are never found).
pub fn user_id(name: &[u8]) -> Option<u32> {
    let name = std::str::from_utf8(name).ok()?;
    User::from_name(name).ok().flatten().map(|u| u.uid.as_raw())
}

/// The local id of group `name`.
pub fn group_id(name: &[u8]) -> Option<u32> {
    let name = std::str::from_utf8(name).ok()?;
    Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}
