//! Linux signal numbers ↔ names (`9` ↔ `SIGKILL`), x86_64 numbering.
//!
//! Gadgets tracing `kill(2)`, signal delivery or process exit report raw
//! signal numbers (`gadget_signal`). Real-time signals use the kernel's view:
//! `32` is `SIGRTMIN`, `33..=63` are `SIGRTMIN+n` and `64` is `SIGRTMAX`
//! (glibc reserves the first two for itself, but the kernel numbers are what
//! the probes see).

use super::push_u64;

/// Names for signals `0..=64`; `""` marks 0 (the "probe only" signal).
#[rustfmt::skip]
static NAMES: [&str; 65] = [
    /*  0 */ "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
    /*  8 */ "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
    /* 16 */ "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
    /* 24 */ "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    /* 32 */ "SIGRTMIN", "SIGRTMIN+1", "SIGRTMIN+2", "SIGRTMIN+3",
    /* 36 */ "SIGRTMIN+4", "SIGRTMIN+5", "SIGRTMIN+6", "SIGRTMIN+7",
    /* 40 */ "SIGRTMIN+8", "SIGRTMIN+9", "SIGRTMIN+10", "SIGRTMIN+11",
    /* 44 */ "SIGRTMIN+12", "SIGRTMIN+13", "SIGRTMIN+14", "SIGRTMIN+15",
    /* 48 */ "SIGRTMIN+16", "SIGRTMIN+17", "SIGRTMIN+18", "SIGRTMIN+19",
    /* 52 */ "SIGRTMIN+20", "SIGRTMIN+21", "SIGRTMIN+22", "SIGRTMIN+23",
    /* 56 */ "SIGRTMIN+24", "SIGRTMIN+25", "SIGRTMIN+26", "SIGRTMIN+27",
    /* 60 */ "SIGRTMIN+28", "SIGRTMIN+29", "SIGRTMIN+30", "SIGRTMIN+31",
    /* 64 */ "SIGRTMAX",
];

/// Kernel `SIGRTMIN`.
const RTMIN: u64 = 32;
/// Kernel `SIGRTMAX` (`_NSIG`).
const RTMAX: u64 = 64;

/// The symbolic name of signal `v`, if it has one (`0` has none).
pub fn signal_name(v: u64) -> Option<&'static str> {
    let name = NAMES.get(usize::try_from(v).ok()?).copied()?;
    (!name.is_empty()).then_some(name)
}

/// Appends the name of signal `v` (`SIGKILL`), or its decimal value if unnamed.
pub fn write_signal(v: u64, out: &mut String) {
    match signal_name(v) {
        Some(name) => out.push_str(name),
        None => push_u64(out, v),
    }
}

/// The signal number for `name`, case-insensitive, with or without the `SIG`
/// prefix (`SIGKILL`, `kill`). Accepts the aliases `SIGIOT`, `SIGPOLL`,
/// `SIGCLD`, `SIGUNUSED`, the real-time forms `SIGRTMIN+n` / `SIGRTMAX-n`,
/// and a plain decimal number.
pub fn signal_from_name(name: &str) -> Option<u64> {
    let name = name.trim();
    if let Ok(n) = name.parse::<u64>() {
        return Some(n);
    }
    let bare = match name.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("SIG") => &name[3..],
        _ => name,
    };
    if bare.is_empty() {
        return None;
    }
    const ALIASES: [(&str, u64); 4] = [("IOT", 6), ("POLL", 29), ("CLD", 17), ("UNUSED", 31)];
    if let Some(&(_, v)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(bare)) {
        return Some(v);
    }
    if let Some(v) = realtime_from_name(bare) {
        return Some(v);
    }
    NAMES[1..32]
        .iter()
        .position(|n| n[3..].eq_ignore_ascii_case(bare))
        .map(|i| i as u64 + 1)
}

/// Parses `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n` (prefix already stripped).
fn realtime_from_name(bare: &str) -> Option<u64> {
    let head = bare.get(..5)?;
    let rest = &bare[5..];
    let offset = |sign: char| -> Option<u64> {
        if rest.is_empty() {
            return Some(0);
        }
        rest.strip_prefix(sign)?.parse::<u64>().ok()
    };
    let v = if head.eq_ignore_ascii_case("RTMIN") {
        RTMIN.checked_add(offset('+')?)?
    } else if head.eq_ignore_ascii_case("RTMAX") {
        RTMAX.checked_sub(offset('-')?)?
    } else {
        return None;
    };
    (RTMIN..=RTMAX).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: u64) -> String {
        let mut s = String::new();
        write_signal(v, &mut s);
        s
    }

    #[test]
    fn matches_libc_constants() {
        let cases: &[(i32, &str)] = &[
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGTERM, "SIGTERM"),
            (libc::SIGSTKFLT, "SIGSTKFLT"),
            (libc::SIGCHLD, "SIGCHLD"),
            (libc::SIGSTOP, "SIGSTOP"),
            (libc::SIGWINCH, "SIGWINCH"),
            (libc::SIGIO, "SIGIO"),
            (libc::SIGPWR, "SIGPWR"),
            (libc::SIGSYS, "SIGSYS"),
        ];
        for &(num, name) in cases {
            let num = u64::try_from(num).expect("positive signal");
            assert_eq!(signal_name(num), Some(name), "{num}");
            assert_eq!(signal_from_name(name), Some(num), "{name}");
        }
    }

    #[test]
    fn realtime_signals() {
        assert_eq!(w(32), "SIGRTMIN");
        assert_eq!(w(33), "SIGRTMIN+1");
        assert_eq!(w(63), "SIGRTMIN+31");
        assert_eq!(w(64), "SIGRTMAX");
        assert_eq!(signal_from_name("SIGRTMIN"), Some(32));
        assert_eq!(signal_from_name("sigrtmin+3"), Some(35));
        assert_eq!(signal_from_name("SIGRTMAX-1"), Some(63));
        assert_eq!(signal_from_name("RTMAX"), Some(64));
        assert_eq!(signal_from_name("SIGRTMIN+33"), None);
        assert_eq!(signal_from_name("SIGRTMAX+1"), None);
        assert_eq!(signal_from_name("SIGRTMIN-1"), None);
        assert_eq!(signal_from_name("SIGRTMINX"), None);
    }

    #[test]
    fn every_named_value_round_trips() {
        for v in 0..=70 {
            if let Some(name) = signal_name(v) {
                assert_eq!(signal_from_name(name), Some(v), "{name}");
            }
        }
    }

    #[test]
    fn unknown_values_are_numbers() {
        assert_eq!(w(0), "0");
        assert_eq!(w(65), "65");
        assert_eq!(w(u64::MAX), u64::MAX.to_string());
        assert_eq!(w(9), "SIGKILL");
    }

    #[test]
    fn parses_aliases_and_bare_names() {
        assert_eq!(signal_from_name("kill"), Some(9));
        assert_eq!(signal_from_name("SIGIOT"), Some(6));
        assert_eq!(signal_from_name("SIGPOLL"), Some(29));
        assert_eq!(signal_from_name("SIGCLD"), Some(17));
        assert_eq!(signal_from_name("15"), Some(15));
        assert_eq!(signal_from_name("SIG"), None);
        assert_eq!(signal_from_name("SIGNOPE"), None);
        assert_eq!(signal_from_name("é"), None);
    }
}
