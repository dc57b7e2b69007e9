//! User and group names for numeric ids, read from `/etc/passwd` and
//! `/etc/group`.
//!
//! Events carry raw uids and gids; [`UserNames`] implements the kernel's
//! [`NameResolver`] so the formatting stage can show `root` instead of `0`.
//! It reads the local files only (no NSS: no LDAP or sssd round trips on the
//! event path), caches every name per id, and re-reads a file when a lookup
//! misses — but at most once every two seconds, so a user created while rig
//! runs shows up shortly after, while a flood of unknown ids (typical inside
//! containers with their own user databases) costs a hash lookup each, not a
//! disk read. Missing or unreadable files simply yield no names.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rig_kernel::format::NameResolver;

/// Minimum time between two reads of the same file triggered by misses.
const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Resolves uids and gids from passwd/group files, with lazy, rate-limited
/// reloading.
#[derive(Debug)]
pub struct UserNames {
    users: IdTable,
    groups: IdTable,
}

impl UserNames {
    /// Reads `/etc/passwd` and `/etc/group` (lazily, on first lookup).
    pub fn new() -> Self {
        Self::with_paths("/etc/passwd", "/etc/group")
    }

    /// Reads the given passwd- and group-format files instead of `/etc`
    /// (tests, or a container's root filesystem).
    pub fn with_paths(passwd: impl Into<PathBuf>, group: impl Into<PathBuf>) -> Self {
        UserNames {
            users: IdTable::new(passwd.into()),
            groups: IdTable::new(group.into()),
        }
    }

    /// Changes the minimum delay between miss-triggered reloads (default 2 s).
    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.users.interval = interval;
        self.groups.interval = interval;
        self
    }
}

impl Default for UserNames {
    fn default() -> Self {
        Self::new()
    }
}

impl NameResolver for UserNames {
    fn user(&mut self, uid: u32) -> Option<&str> {
        self.users.lookup(uid)
    }

    fn group(&mut self, gid: u32) -> Option<&str> {
        self.groups.lookup(gid)
    }
}

/// One colon-separated database (`name:password:id:...`) cached by id.
#[derive(Debug)]
struct IdTable {
    path: PathBuf,
    names: HashMap<u32, Box<str>>,
    /// When the file was last read; `None` until the first lookup.
    loaded_at: Option<Instant>,
    interval: Duration,
}

impl IdTable {
    fn new(path: PathBuf) -> Self {
        IdTable {
            path,
            names: HashMap::new(),
            loaded_at: None,
            interval: RELOAD_INTERVAL,
        }
    }

    fn lookup(&mut self, id: u32) -> Option<&str> {
        if !self.names.contains_key(&id) && self.reload_due() {
            self.reload();
        }
        self.names.get(&id).map(|name| &**name)
    }

    fn reload_due(&self) -> bool {
        self.loaded_at.is_none_or(|at| at.elapsed() >= self.interval)
    }

    /// Replaces the cache with the file's current content (or nothing, if
    /// the file cannot be read), so removed entries disappear too.
    fn reload(&mut self) {
        self.loaded_at = Some(Instant::now());
        self.names = match std::fs::read(&self.path) {
            Ok(bytes) => parse(&String::from_utf8_lossy(&bytes)),
            Err(err) => {
                tracing::debug!(path = %self.path.display(), %err, "no id names from file");
                HashMap::new()
            }
        };
        tracing::debug!(path = %self.path.display(), entries = self.names.len(), "loaded id names");
    }
}

/// Parses passwd/group lines: the name is field 0, the id field 2. Blank
/// lines, `#` comments, NIS compat entries (`+`/`-`) and malformed lines are
/// skipped; the first entry for an id wins, as with `getpwuid(3)`.
fn parse(text: &str) -> HashMap<u32, Box<str>> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with(['#', '+', '-']) {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Ok(id) = id.trim().parse::<u32>() else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        names.entry(id).or_insert_with(|| Box::from(name));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
+nisuser::::::
broken line without colons
bad:x:notanumber:1::/:/bin/sh
alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\r
dup:x:1000:1000::/:/bin/sh
";

    const GROUP: &str = "\
root:x:0:
wheel:x:10:alice,bob
users:x:100:
";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    fn fixture() -> (tempfile::TempDir, UserNames) {
        let dir = tempfile::tempdir().expect("tempdir");
        let passwd = write(dir.path(), "passwd", PASSWD);
        let group = write(dir.path(), "group", GROUP);
        (dir, UserNames::with_paths(passwd, group))
    }

    /// Pretends the last load happened long ago.
    fn age(table: &mut IdTable) {
        table.loaded_at = Instant::now().checked_sub(Duration::from_secs(3));
    }

    #[test]
    fn resolves_users_and_groups() {
        let (_dir, mut names) = fixture();
        assert_eq!(names.user(0), Some("root"));
        assert_eq!(names.user(1), Some("daemon"));
        assert_eq!(names.user(1000), Some("alice"), "first entry wins, CR stripped");
        assert_eq!(names.user(4242), None);
        assert_eq!(names.group(0), Some("root"));
        assert_eq!(names.group(10), Some("wheel"));
        assert_eq!(names.group(100), Some("users"));
        assert_eq!(names.group(1000), None);
    }

    #[test]
    fn skips_malformed_lines() {
        let names = parse(PASSWD);
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.values().all(|n| !n.starts_with('+') && &**n != "bad"));
    }

    #[test]
    fn misses_do_not_reread_within_the_interval() {
        let (dir, mut names) = fixture();
        assert_eq!(names.user(2000), None);
        let first_load = names.users.loaded_at;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("passwd"))
            .expect("open passwd");
        writeln!(file, "bob:x:2000:2000::/home/bob:/bin/sh").expect("append");
        for _ in 0..100 {
            assert_eq!(names.user(2000), None);
        }
        assert_eq!(names.users.loaded_at, first_load, "no reload within 2 s");
    }

    #[test]
    fn a_miss_after_the_interval_picks_up_new_users() {
        let (dir, mut names) = fixture();
        assert_eq!(names.user(2000), None);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("passwd"))
            .expect("open passwd");
        writeln!(file, "bob:x:2000:2000::/home/bob:/bin/sh").expect("append");
        age(&mut names.users);
        assert_eq!(names.user(2000), Some("bob"));
        assert_eq!(names.user(0), Some("root"));
    }

    #[test]
    fn hits_never_reload() {
        let (dir, mut names) = fixture();
        assert_eq!(names.user(0), Some("root"));
        write(dir.path(), "passwd", "admin:x:0:0::/:/bin/sh\n");
        age(&mut names.users);
        assert_eq!(names.user(0), Some("root"), "cached hit, file not re-read");
        assert_eq!(names.user(5), None, "miss triggers the reload");
        assert_eq!(names.user(0), Some("admin"));
    }

    #[test]
    fn reload_drops_removed_entries() {
        let (dir, mut names) = fixture();
        assert_eq!(names.group(10), Some("wheel"));
        write(dir.path(), "group", "staff:x:50:\n");
        let mut names = names.with_reload_interval(Duration::ZERO);
        assert_eq!(names.group(50), Some("staff"));
        assert_eq!(names.group(10), None);
    }

    #[test]
    fn missing_files_yield_no_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut names = UserNames::with_paths(dir.path().join("nope-passwd"), dir.path().join("nope-group"));
        assert_eq!(names.user(0), None);
        assert_eq!(names.group(0), None);
        assert!(names.users.loaded_at.is_some(), "a failed read still counts as a load");
        write(dir.path(), "nope-passwd", PASSWD);
        assert_eq!(names.user(0), None, "rate limited");
        age(&mut names.users);
        assert_eq!(names.user(0), Some("root"), "appears once the file exists");
    }

    #[test]
    fn unreadable_utf8_is_tolerated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let passwd = dir.path().join("passwd");
        std::fs::write(&passwd, b"caf\xe9:x:7:7::/:/bin/sh\nok:x:8:8::/:/bin/sh\n").expect("write");
        let mut names = UserNames::with_paths(passwd, dir.path().join("group"));
        assert_eq!(names.user(7), Some("caf\u{fffd}"));
        assert_eq!(names.user(8), Some("ok"));
    }

    #[test]
    fn default_paths_are_etc() {
        let names = UserNames::new();
        assert_eq!(names.users.path.as_path(), Path::new("/etc/passwd"));
        assert_eq!(names.groups.path.as_path(), Path::new("/etc/group"));
    }

    #[test]
    fn is_a_boxable_resolver() {
        let (_dir, names) = fixture();
        let mut boxed: Box<dyn NameResolver> = Box::new(names);
        assert_eq!(boxed.user(0), Some("root"));
    }
}
