//! Human-readable rendering of raw kernel values (errnos, signals, syscall
//! numbers, open(2) flags, file modes, sizes, durations, timestamps, IP addresses, endpoints
//! and protocols).
//!
//! eBPF programs ship raw integers; operators and sinks turn them into the
//! strings users expect (`ENOENT`, `SIGKILL`, `SYS_OPENAT`, `O_RDONLY|O_CLOEXEC`,
//! `-rw-r--r--`, `2026-11-27T13:45:01.123456789Z`, ...). These writers run once
//! per event on hot paths (around a million events per second), so every one of
//! them appends to a caller-owned `String` and avoids allocating: tables are
//! `'static`, numbers are rendered through a stack buffer. Anything unknown
//! falls back to the plain number so no information is lost.

mod errno;
mod fs;
pub mod histogram;
mod human;
mod net;
mod signal;
mod syscall;
mod time;

pub use errno::{errno_from_name, errno_name, write_errno};
pub use fs::{write_file_flags, write_file_mode};
pub use human::{write_bytes, write_duration};
pub use net::{write_endpoint, write_ip, write_protocol};
pub use signal::{signal_from_name, signal_name, write_signal};
pub use syscall::{syscall_from_name, syscall_name, write_syscall};
pub use time::WallClock;

/// Resolves numeric user and group ids to names.
///
/// The kernel crate only defines the contract; the host implements it (from
/// `/etc/passwd` and `/etc/group`) and formatters call it per event, which is
/// why lookups take `&mut self` (implementations cache and refresh lazily).
pub trait NameResolver: Send {
    /// The user name for `uid`, if known.
    fn user(&mut self, uid: u32) -> Option<&str>;
    /// The group name for `gid`, if known.
    fn group(&mut self, gid: u32) -> Option<&str>;
}

/// Appends the decimal form of `v` without going through `core::fmt`.
pub(crate) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast cannot truncate.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    push_ascii(out, &buf[i..]);
}

/// Appends the decimal form of `v`, with a leading `-` when negative.
pub(crate) fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `v` zero-padded to at least `width` digits (width <= 20).
pub(crate) fn push_u64_padded(out: &mut String, v: u64, width: usize) {
    let mut digits = 1;
    let mut rest = v / 10;
    while rest != 0 {
        digits += 1;
        rest /= 10;
    }
    for _ in digits..width {
        out.push('0');
    }
    push_u64(out, v);
}

/// Appends `v` as lowercase hex with a `0x` prefix.
pub(crate) fn push_hex(out: &mut String, v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        // Masked to four bits, so the index is always in range.
        buf[i] = DIGITS[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.push_str("0x");
    push_ascii(out, &buf[i..]);
}

/// Appends bytes known to be ASCII.
fn push_ascii(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len());
    for &b in bytes {
        out.push(char::from(b));
    }
}

/// Case-insensitive lookup of `name` in a table indexed by value, where `""`
/// marks holes. Used by the `*_from_name` parsers (filters, not hot paths).
pub(crate) fn find_in_table(table: &[&str], name: &str, base: u64) -> Option<u64> {
    table
        .iter()
        .position(|n| !n.is_empty() && n.eq_ignore_ascii_case(name))
        .map(|i| base + i as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex_helpers() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_i64(&mut s, i64::MIN);
        s.push(' ');
        push_u64_padded(&mut s, 7, 3);
        s.push(' ');
        push_u64_padded(&mut s, 12345, 3);
        s.push(' ');
        push_hex(&mut s, 0);
        s.push(' ');
        push_hex(&mut s, 0xdead_beef);
        assert_eq!(
            s,
            "0 18446744073709551615 -9223372036854775808 007 12345 0x0 0xdeadbeef"
        );
    }

    #[test]
    fn table_lookup_skips_holes() {
        let table = ["", "ONE", "", "THREE"];
        assert_eq!(find_in_table(&table, "three", 10), Some(13));
        assert_eq!(find_in_table(&table, "", 0), None);
        assert_eq!(find_in_table(&table, "two", 0), None);
    }

    struct Fixed;

    impl NameResolver for Fixed {
        fn user(&mut self, uid: u32) -> Option<&str> {
            (uid == 0).then_some("root")
        }
        fn group(&mut self, gid: u32) -> Option<&str> {
            (gid == 0).then_some("wheel")
        }
    }

    #[test]
    fn name_resolver_is_object_safe() {
        let mut r: Box<dyn NameResolver> = Box::new(Fixed);
        assert_eq!(r.user(0), Some("root"));
        assert_eq!(r.group(0), Some("wheel"));
        assert_eq!(r.user(1), None);
    }
}
