//! Giving up root once the captures are open: switch to an unprivileged user
//! (`--user` / `run.user`, as tcpdump `-Z` does), clear the capability
//! bounding set and set no-new-privs, so nothing the process does later (or
//! runs) can regain privileges.

use std::io;

use rustix::process::{Gid, Uid};
use thiserror::Error;

/// Why privileges could not be dropped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PrivilegeError {
    /// No such user.
    #[error("run.user {0:?}: no such user in /etc/passwd (give a name or UID[:GID])")]
    NoUser(String),
    /// Threads already running: the switch would leave them as root.
    #[error("run.user {0:?}: cannot switch user once threads are running")]
    Threads(String),
    /// A system call failed.
    #[error("run.user {user:?}: {what}: {source}")]
    Sys {
        /// The user.
        user: String,
        /// What was attempted.
        what: &'static str,
        /// Cause.
        source: io::Error,
    },
}

/// A user's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks a user up: a name in `passwd` text (the format of /etc/passwd), or
/// numeric `UID[:GID]` (the group defaults to the uid).
pub fn lookup_in(user: &str, passwd: &str) -> Result<Account, PrivilegeError> {
    let numeric = |s: &str| s.parse::<u32>().ok();
    if let Some((u, g)) = user.split_once(':') {
        if let (Some(uid), Some(gid)) = (numeric(u), numeric(g)) {
            return Ok(Account { uid, gid });
        }
    }
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == user {
            if let (Some(uid), Some(gid)) = (numeric(f[2]), numeric(f[3])) {
                return Ok(Account { uid, gid });
            }
        }
    }
    match numeric(user) {
        Some(uid) => Ok(Account { uid, gid: uid }),
        None => Err(PrivilegeError::NoUser(user.into())),
    }
}

/// [`lookup_in`] /etc/passwd.
pub fn lookup(user: &str) -> Result<Account, PrivilegeError> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    lookup_in(user, &passwd)
}

fn sys<'a>(user: &'a str, what: &'static str) -> impl Fn(rustix::io::Errno) -> PrivilegeError + 'a {
    move |e| PrivilegeError::Sys {
        user: user.into(),
        what,
        source: e.into(),
    }
}

/// Clears the capability bounding set (needs CAP_SETPCAP; without it, as
/// in a unit that already limits it, nothing is cleared: false).
pub fn clear_bounding_set() -> bool {
    let mut all = true;
    for cap in caps::all() {
        if caps::drop(None, caps::CapSet::Bounding, cap).is_err() {
            all = false;
        }
    }
    all
}

/// Sets no-new-privs: no exec can gain privileges (setuid binaries, file
/// capabilities) from here on.
pub fn set_no_new_privs() -> io::Result<()> {
    rustix::thread::set_no_new_privs(true).map_err(io::Error::from)
}

/// Switches the process to `user` and its primary group, with no
/// supplementary groups, and checks that root cannot be regained. Linux
/// keeps ids per thread, so this must run while the process has one thread
/// (it refuses otherwise); threads started later inherit the new ids.
pub fn switch_user(user: &str) -> Result<Account, PrivilegeError> {
    let acct = lookup(user)?;
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count);
    if threads != 1 {
        return Err(PrivilegeError::Threads(user.into()));
    }
    let (uid, gid) = (Uid::from_raw(acct.uid), Gid::from_raw(acct.gid));
    rustix::thread::set_thread_groups(&[gid]).map_err(sys(user, "setgroups"))?;
    rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(sys(user, "setresgid"))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(sys(user, "setresuid"))?;
    let regained = acct.uid != 0 && rustix::thread::set_thread_uid(Uid::ROOT).is_ok();
    let (ruid, euid, egid) = (
        rustix::process::getuid().as_raw(),
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    if ruid != acct.uid || euid != acct.uid || egid != acct.gid || regained {
        return Err(PrivilegeError::Sys {
            user: user.into(),
            what: "checking the switch",
            source: io::Error::other(format!(
                "uid {ruid}, euid {euid}, egid {egid}, root regained: {regained}"
            )),
        });
    }
    Ok(acct)
}

/// Drops every capability once the captures are open: from here on the
/// process needs only its state and log directories.
pub fn drop_capabilities() {
    use caps::CapSet;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        if let Err(e) = caps::clear(None, set) {
            tracing::debug!(error = %e, ?set, "could not clear capability set");
        }
    }
}

/// Once the captures are open: clear the bounding set, switch to `user`
/// when given, set no-new-privs and drop every capability.
pub fn drop_privileges(user: Option<&str>) -> Result<(), PrivilegeError> {
    let bounded = clear_bounding_set();
    if let Some(u) = user {
        let acct = switch_user(u)?;
        tracing::info!(
            user = u,
            uid = acct.uid,
            gid = acct.gid,
            bounding_set_cleared = bounded,
            "switched user"
        );
    }
    if let Err(e) = set_no_new_privs() {
        tracing::warn!(error = %e, "cannot set no-new-privs");
    }
    drop_capabilities();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_by_name_or_number() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\ndnswatch:x:991:987::/var/lib/dnswatch:/usr/sbin/nologin\n";
        assert_eq!(
            lookup_in("dnswatch", passwd).unwrap(),
            Account { uid: 991, gid: 987 }
        );
        assert_eq!(
            lookup_in("1234", passwd).unwrap(),
            Account {
                uid: 1234,
                gid: 1234
            }
        );
        assert_eq!(
            lookup_in("1234:55", passwd).unwrap(),
            Account { uid: 1234, gid: 55 }
        );
        assert!(matches!(
            lookup_in("nosuch", passwd),
            Err(PrivilegeError::NoUser(_))
        ));
    }
}
