//! File-related bit fields: open(2) flags (`O_RDONLY|O_CLOEXEC`) and
//! `st_mode` values in `ls -l` form (`-rw-r--r--`).
//!
//! File gadgets (`trace_open`, `trace_fsslower`, …) report the raw flag and
//! mode words (`gadget_file_flags`, `gadget_file_mode`). Values are the
//! x86_64 (asm-generic) octal constants; composite flags are handled so that
//! `O_SYNC` (`__O_SYNC|O_DSYNC`) and `O_TMPFILE` (`__O_TMPFILE|O_DIRECTORY`)
//! print once instead of as their parts.

use super::push_hex;

const O_ACCMODE: u64 = 0o3;
const O_DSYNC: u64 = 0o10000;
const O_DIRECTORY: u64 = 0o200000;
const O_SYNC_BIT: u64 = 0o4000000;
const O_TMPFILE_BIT: u64 = 0o20000000;

/// Single-bit open flags, in bit order (which is also how they print).
/// `O_SYNC`/`O_TMPFILE` print under their private bit when the companion
/// bit is set as well; see [`write_file_flags`].
const FLAGS: [(u64, &str); 17] = [
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (O_DSYNC, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (O_DIRECTORY, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (O_SYNC_BIT, "O_SYNC"),
    (0o10000000, "O_PATH"),
    (O_TMPFILE_BIT, "O_TMPFILE"),
];

/// Appends open(2) flags: the access mode first (`O_RDONLY`, `O_WRONLY`,
/// `O_RDWR`, or `O_ACCMODE` for the odd value 3), then every set flag in bit
/// order, joined with `|`; bits without a name end up as one trailing hex
/// term (`O_RDONLY|0x80000000`).
///
/// `O_SYNC` stands for `__O_SYNC|O_DSYNC` and `O_TMPFILE` for
/// `__O_TMPFILE|O_DIRECTORY`; a private bit set without its companion prints
/// as `__O_SYNC` / `__O_TMPFILE`.
pub fn write_file_flags(v: u64, out: &mut String) {
    out.push_str(match v & O_ACCMODE {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    });
    let mut rest = v & !O_ACCMODE;
    let full_sync = rest & (O_SYNC_BIT | O_DSYNC) == O_SYNC_BIT | O_DSYNC;
    let full_tmpfile = rest & (O_TMPFILE_BIT | O_DIRECTORY) == O_TMPFILE_BIT | O_DIRECTORY;
    if full_sync {
        rest &= !O_DSYNC;
    }
    if full_tmpfile {
        rest &= !O_DIRECTORY;
    }
    for &(bit, name) in &FLAGS {
        if rest & bit == 0 {
            continue;
        }
        rest &= !bit;
        out.push('|');
        match bit {
            O_SYNC_BIT if !full_sync => out.push_str("__O_SYNC"),
            O_TMPFILE_BIT if !full_tmpfile => out.push_str("__O_TMPFILE"),
            _ => out.push_str(name),
        }
    }
    if rest != 0 {
        out.push('|');
        push_hex(out, rest);
    }
}

/// File type mask of `st_mode`.
const S_IFMT: u64 = 0o170000;

/// Appends a mode in `ls -l` form: the type character (`-` regular or no type
/// bits, `d`, `l`, `c`, `b`, `p`, `s`, `?` for an invalid type), then the
/// `rwx` triplets with setuid/setgid (`s`/`S`) and sticky (`t`/`T`).
/// Bits above `S_IFMT` are ignored.
pub fn write_file_mode(v: u64, out: &mut String) {
    out.push(match v & S_IFMT {
        0 | 0o100000 => '-',
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '?',
    });
    // (shift of the triplet, special bit, char when special+x, when special only)
    const TRIPLETS: [(u32, u64, char, char); 3] = [(6, 0o4000, 's', 'S'), (3, 0o2000, 's', 'S'), (0, 0o1000, 't', 'T')];
    for (shift, special, with_x, without_x) in TRIPLETS {
        let bits = (v >> shift) & 0o7;
        out.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        out.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        out.push(match (v & special != 0, bits & 0o1 != 0) {
            (true, true) => with_x,
            (true, false) => without_x,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(v: u64) -> String {
        let mut s = String::new();
        write_file_flags(v, &mut s);
        s
    }

    fn mode(v: u64) -> String {
        let mut s = String::new();
        write_file_mode(v, &mut s);
        s
    }

    fn c(v: libc::c_int) -> u64 {
        u64::try_from(v).expect("non-negative flag")
    }

    #[test]
    fn table_matches_libc() {
        let pairs = [
            (libc::O_CREAT, "O_CREAT"),
            (libc::O_EXCL, "O_EXCL"),
            (libc::O_NOCTTY, "O_NOCTTY"),
            (libc::O_TRUNC, "O_TRUNC"),
            (libc::O_APPEND, "O_APPEND"),
            (libc::O_NONBLOCK, "O_NONBLOCK"),
            (libc::O_DSYNC, "O_DSYNC"),
            (libc::O_ASYNC, "O_ASYNC"),
            (libc::O_DIRECT, "O_DIRECT"),
            (libc::O_DIRECTORY, "O_DIRECTORY"),
            (libc::O_NOFOLLOW, "O_NOFOLLOW"),
            (libc::O_NOATIME, "O_NOATIME"),
            (libc::O_CLOEXEC, "O_CLOEXEC"),
            (libc::O_PATH, "O_PATH"),
        ];
        for (bit, name) in pairs {
            assert_eq!(flags(c(bit)), format!("O_RDONLY|{name}"));
        }
        // glibc defines O_LARGEFILE as 0 on 64-bit; the kernel forces its bit.
        assert_eq!(flags(0o100000), "O_RDONLY|O_LARGEFILE");
        assert_eq!(c(libc::O_SYNC), O_SYNC_BIT | O_DSYNC);
        assert_eq!(c(libc::O_TMPFILE), O_TMPFILE_BIT | O_DIRECTORY);
        assert_eq!(c(libc::O_ACCMODE), O_ACCMODE);
    }

    #[test]
    fn access_modes() {
        assert_eq!(flags(0), "O_RDONLY");
        assert_eq!(flags(c(libc::O_WRONLY)), "O_WRONLY");
        assert_eq!(flags(c(libc::O_RDWR)), "O_RDWR");
        assert_eq!(flags(3), "O_ACCMODE");
    }

    #[test]
    fn common_combinations() {
        assert_eq!(flags(c(libc::O_RDONLY | libc::O_CLOEXEC)), "O_RDONLY|O_CLOEXEC");
        assert_eq!(
            flags(c(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC)),
            "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
        );
        assert_eq!(
            flags(c(libc::O_RDONLY
                | libc::O_NONBLOCK
                | libc::O_DIRECTORY
                | libc::O_CLOEXEC)),
            "O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC"
        );
    }

    #[test]
    fn composite_flags_print_once() {
        assert_eq!(flags(c(libc::O_WRONLY | libc::O_SYNC)), "O_WRONLY|O_SYNC");
        assert_eq!(flags(c(libc::O_RDWR | libc::O_TMPFILE)), "O_RDWR|O_TMPFILE");
        assert_eq!(flags(c(libc::O_DSYNC)), "O_RDONLY|O_DSYNC");
        assert_eq!(flags(O_SYNC_BIT), "O_RDONLY|__O_SYNC");
        assert_eq!(flags(O_TMPFILE_BIT), "O_RDONLY|__O_TMPFILE");
        assert_eq!(
            flags(c(libc::O_SYNC | libc::O_TMPFILE | libc::O_CREAT)),
            "O_RDONLY|O_CREAT|O_SYNC|O_TMPFILE"
        );
    }

    #[test]
    fn unknown_bits_become_hex() {
        assert_eq!(flags(0x8000_0000), "O_RDONLY|0x80000000");
        assert_eq!(
            flags(0x4000_0000 | 0x8000_0000 | c(libc::O_CREAT) | 2),
            "O_RDWR|O_CREAT|0xc0000000"
        );
        // 17 named bits minus O_DSYNC and O_DIRECTORY (folded into O_SYNC and O_TMPFILE), plus hex.
        assert_eq!(flags(u64::MAX).matches('|').count(), 16);
    }

    #[test]
    fn flags_append() {
        let mut s = String::from("flags=");
        write_file_flags(c(libc::O_APPEND), &mut s);
        assert_eq!(s, "flags=O_RDONLY|O_APPEND");
    }

    #[test]
    fn modes_like_ls() {
        assert_eq!(mode(0o100644), "-rw-r--r--");
        assert_eq!(mode(0o644), "-rw-r--r--");
        assert_eq!(mode(0o40755), "drwxr-xr-x");
        assert_eq!(mode(0o120777), "lrwxrwxrwx");
        assert_eq!(mode(0o20620), "crw--w----");
        assert_eq!(mode(0o60660), "brw-rw----");
        assert_eq!(mode(0o10600), "prw-------");
        assert_eq!(mode(0o140755), "srwxr-xr-x");
        assert_eq!(mode(0o170644), "?rw-r--r--");
        assert_eq!(mode(0), "----------");
    }

    #[test]
    fn special_bits() {
        assert_eq!(mode(0o104755), "-rwsr-xr-x");
        assert_eq!(mode(0o104644), "-rwSr--r--");
        assert_eq!(mode(0o102755), "-rwxr-sr-x");
        assert_eq!(mode(0o102745), "-rwxr-Sr-x");
        assert_eq!(mode(0o41777), "drwxrwxrwt");
        assert_eq!(mode(0o41776), "drwxrwxrwT");
        assert_eq!(mode(0o7000), "---S--S--T");
        assert_eq!(mode(0o7777), "-rwsrwsrwt");
    }

    #[test]
    fn high_bits_are_ignored_in_mode() {
        assert_eq!(mode(0xffff_0000 | 0o100600), "-rw-------");
    }
}
