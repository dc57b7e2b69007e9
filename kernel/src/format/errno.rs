//! Linux errno numbers ↔ names (`2` ↔ `ENOENT`).
//!
//! Gadgets report failures as raw errno values (`gadget_errno`); users read
//! and filter on the symbolic names. The table covers asm-generic
//! `errno-base.h` and `errno.h` as used on x86_64 (1..=133), plus the
//! kernel-internal codes from `include/linux/errno.h` (512..=531) because
//! tracing at syscall exit can observe them (`ERESTARTSYS` and friends).

use super::{find_in_table, push_i64, push_u64};

/// Names for errno `0..=133`; `""` marks numbers without a name of their own
/// (0, and 41/58 which are only the aliases `EWOULDBLOCK`/`EDEADLOCK`).
#[rustfmt::skip]
static BASE: [&str; 134] = [
    /*   0 */ "", "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG",
    /*   8 */ "ENOEXEC", "EBADF", "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK",
    /*  16 */ "EBUSY", "EEXIST", "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE",
    /*  24 */ "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK",
    /*  32 */ "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY",
    /*  40 */ "ELOOP", "", "ENOMSG", "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST",
    /*  48 */ "ELNRNG", "EUNATCH", "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO",
    /*  56 */ "EBADRQC", "EBADSLT", "", "EBFONT", "ENOSTR", "ENODATA", "ETIME", "ENOSR",
    /*  64 */ "ENONET", "ENOPKG", "EREMOTE", "ENOLINK", "EADV", "ESRMNT", "ECOMM", "EPROTO",
    /*  72 */ "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW", "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC",
    /*  80 */ "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS",
    /*  88 */ "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT",
    /*  94 */ "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE",
    /*  99 */ "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET",
    /* 105 */ "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT",
    /* 111 */ "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE",
    /* 117 */ "EUCLEAN", "ENOTNAM", "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM",
    /* 124 */ "EMEDIUMTYPE", "ECANCELED", "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED",
    /* 130 */ "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL", "EHWPOISON",
];

/// First kernel-internal errno (`ERESTARTSYS`).
const INTERNAL_BASE: u64 = 512;

/// Kernel-internal errnos `512..=531` (never returned to user space, but
/// visible to probes); 520 is unassigned.
#[rustfmt::skip]
static INTERNAL: [&str; 20] = [
    /* 512 */ "ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ENOIOCTLCMD",
    /* 516 */ "ERESTART_RESTARTBLOCK", "EPROBE_DEFER", "EOPENSTALE", "ENOPARAM",
    /* 520 */ "", "EBADHANDLE", "ENOTSYNC", "EBADCOOKIE",
    /* 524 */ "ENOTSUPP", "ETOOSMALL", "ESERVERFAULT", "EBADTYPE",
    /* 528 */ "EJUKEBOX", "EIOCBQUEUED", "ERECALLCONFLICT", "ENOGRACE",
];

/// Largest errno magnitude the kernel encodes in a return value (`MAX_ERRNO`).
const MAX_ERRNO: u64 = 4095;

/// The symbolic name of errno `v`, if it has one.
pub fn errno_name(v: u64) -> Option<&'static str> {
    let name = if v < BASE.len() as u64 {
        BASE[v as usize]
    } else {
        let i = v.checked_sub(INTERNAL_BASE)?;
        INTERNAL.get(usize::try_from(i).ok()?).copied()?
    };
    (!name.is_empty()).then_some(name)
}

/// Appends the name of errno `v` (`ENOENT`), or its decimal value if unnamed.
///
/// A negated errno (a raw syscall return value such as `-2`, seen as a
/// two's-complement `u64`) is rendered by the name of its magnitude; an
/// unnamed negative value is written signed (`-600`), not as a huge number.
pub fn write_errno(v: u64, out: &mut String) {
    if let Some(name) = errno_name(v) {
        out.push_str(name);
        return;
    }
    let neg = v.wrapping_neg();
    if (1..=MAX_ERRNO).contains(&neg) {
        match errno_name(neg) {
            Some(name) => out.push_str(name),
            // `neg <= 4095`, so `-(neg as i64)` is exact.
            None => push_i64(out, -(neg as i64)),
        }
        return;
    }
    push_u64(out, v);
}

/// The errno value for `name` (case-insensitive), including the aliases
/// `EWOULDBLOCK` (= `EAGAIN`), `EDEADLOCK` (= `EDEADLK`) and `ENOTSUP`
/// (= `EOPNOTSUPP`). A plain decimal number is accepted as well.
pub fn errno_from_name(name: &str) -> Option<u64> {
    let name = name.trim();
    if let Ok(n) = name.parse::<u64>() {
        return Some(n);
    }
    const ALIASES: [(&str, u64); 3] = [("EWOULDBLOCK", 11), ("EDEADLOCK", 35), ("ENOTSUP", 95)];
    if let Some(&(_, v)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(name)) {
        return Some(v);
    }
    find_in_table(&BASE, name, 0).or_else(|| find_in_table(&INTERNAL, name, INTERNAL_BASE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: u64) -> String {
        let mut s = String::new();
        write_errno(v, &mut s);
        s
    }

    #[test]
    fn matches_libc_constants() {
        let cases: &[(i32, &str)] = &[
            (libc::EPERM, "EPERM"),
            (libc::ENOENT, "ENOENT"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::EACCES, "EACCES"),
            (libc::ERANGE, "ERANGE"),
            (libc::EDEADLK, "EDEADLK"),
            (libc::ELOOP, "ELOOP"),
            (libc::ENOMSG, "ENOMSG"),
            (libc::EBFONT, "EBFONT"),
            (libc::EOPNOTSUPP, "EOPNOTSUPP"),
            (libc::ECONNREFUSED, "ECONNREFUSED"),
            (libc::ETIMEDOUT, "ETIMEDOUT"),
            (libc::ECANCELED, "ECANCELED"),
            (libc::ENOTRECOVERABLE, "ENOTRECOVERABLE"),
            (libc::ERFKILL, "ERFKILL"),
            (libc::EHWPOISON, "EHWPOISON"),
        ];
        for &(num, name) in cases {
            let num = u64::try_from(num).expect("positive errno");
            assert_eq!(errno_name(num), Some(name), "{num}");
            assert_eq!(errno_from_name(name), Some(num), "{name}");
        }
    }

    #[test]
    fn every_named_value_round_trips() {
        for v in (0..BASE.len() as u64).chain(512..532) {
            if let Some(name) = errno_name(v) {
                assert_eq!(errno_from_name(name), Some(v), "{name}");
            }
        }
    }

    #[test]
    fn writes_names_and_falls_back_to_numbers() {
        assert_eq!(w(2), "ENOENT");
        assert_eq!(w(133), "EHWPOISON");
        assert_eq!(w(512), "ERESTARTSYS");
        assert_eq!(w(0), "0");
        assert_eq!(w(41), "41");
        assert_eq!(w(134), "134");
        assert_eq!(w(520), "520");
        assert_eq!(w(4096), "4096");
    }

    #[test]
    fn negated_errnos_use_the_magnitude() {
        assert_eq!(w(2u64.wrapping_neg()), "ENOENT");
        assert_eq!(w(512u64.wrapping_neg()), "ERESTARTSYS");
        assert_eq!(w(600u64.wrapping_neg()), "-600");
        assert_eq!(w(u64::MAX - 5000), (u64::MAX - 5000).to_string());
    }

    #[test]
    fn appends_without_clearing() {
        let mut s = String::from("err=");
        write_errno(13, &mut s);
        assert_eq!(s, "err=EACCES");
    }

    #[test]
    fn parses_aliases_case_and_numbers() {
        assert_eq!(errno_from_name("EWOULDBLOCK"), Some(11));
        assert_eq!(errno_from_name("edeadlock"), Some(35));
        assert_eq!(errno_from_name("ENOTSUP"), Some(95));
        assert_eq!(errno_from_name(" enoent "), Some(2));
        assert_eq!(errno_from_name("17"), Some(17));
        assert_eq!(errno_from_name("ENOPE"), None);
        assert_eq!(errno_from_name(""), None);
    }
}
