//! x86_64 syscall numbers ↔ names, rendered Inspektor Gadget style
//! (`257` ↔ `SYS_OPENAT`).
//!
//! Syscall-level gadgets (seccomp advisors, syscall tracers, `traceloop`)
//! report the raw number from `orig_ax`; the table mirrors
//! `arch/x86/entry/syscalls/syscall_64.tbl` (64-bit and common entries,
//! `0..=336` and `424..=469`; x32-only entries are not included).

use super::push_u64;

/// Syscalls `0..=336` (`read` .. `uprobe`), densely numbered.
#[rustfmt::skip]
static LOW: [&str; 337] = [
    /*   0 */ "SYS_READ", "SYS_WRITE", "SYS_OPEN", "SYS_CLOSE",
    /*   4 */ "SYS_STAT", "SYS_FSTAT", "SYS_LSTAT", "SYS_POLL",
    /*   8 */ "SYS_LSEEK", "SYS_MMAP", "SYS_MPROTECT", "SYS_MUNMAP",
    /*  12 */ "SYS_BRK", "SYS_RT_SIGACTION", "SYS_RT_SIGPROCMASK", "SYS_RT_SIGRETURN",
    /*  16 */ "SYS_IOCTL", "SYS_PREAD64", "SYS_PWRITE64", "SYS_READV",
    /*  20 */ "SYS_WRITEV", "SYS_ACCESS", "SYS_PIPE", "SYS_SELECT",
    /*  24 */ "SYS_SCHED_YIELD", "SYS_MREMAP", "SYS_MSYNC", "SYS_MINCORE",
    /*  28 */ "SYS_MADVISE", "SYS_SHMGET", "SYS_SHMAT", "SYS_SHMCTL",
    /*  32 */ "SYS_DUP", "SYS_DUP2", "SYS_PAUSE", "SYS_NANOSLEEP",
    /*  36 */ "SYS_GETITIMER", "SYS_ALARM", "SYS_SETITIMER", "SYS_GETPID",
    /*  40 */ "SYS_SENDFILE", "SYS_SOCKET", "SYS_CONNECT", "SYS_ACCEPT",
    /*  44 */ "SYS_SENDTO", "SYS_RECVFROM", "SYS_SENDMSG", "SYS_RECVMSG",
    /*  48 */ "SYS_SHUTDOWN", "SYS_BIND", "SYS_LISTEN", "SYS_GETSOCKNAME",
    /*  52 */ "SYS_GETPEERNAME", "SYS_SOCKETPAIR", "SYS_SETSOCKOPT", "SYS_GETSOCKOPT",
    /*  56 */ "SYS_CLONE", "SYS_FORK", "SYS_VFORK", "SYS_EXECVE",
    /*  60 */ "SYS_EXIT", "SYS_WAIT4", "SYS_KILL", "SYS_UNAME",
    /*  64 */ "SYS_SEMGET", "SYS_SEMOP", "SYS_SEMCTL", "SYS_SHMDT",
    /*  68 */ "SYS_MSGGET", "SYS_MSGSND", "SYS_MSGRCV", "SYS_MSGCTL",
    /*  72 */ "SYS_FCNTL", "SYS_FLOCK", "SYS_FSYNC", "SYS_FDATASYNC",
    /*  76 */ "SYS_TRUNCATE", "SYS_FTRUNCATE", "SYS_GETDENTS", "SYS_GETCWD",
    /*  80 */ "SYS_CHDIR", "SYS_FCHDIR", "SYS_RENAME", "SYS_MKDIR",
    /*  84 */ "SYS_RMDIR", "SYS_CREAT", "SYS_LINK", "SYS_UNLINK",
    /*  88 */ "SYS_SYMLINK", "SYS_READLINK", "SYS_CHMOD", "SYS_FCHMOD",
    /*  92 */ "SYS_CHOWN", "SYS_FCHOWN", "SYS_LCHOWN", "SYS_UMASK",
    /*  96 */ "SYS_GETTIMEOFDAY", "SYS_GETRLIMIT", "SYS_GETRUSAGE", "SYS_SYSINFO",
    /* 100 */ "SYS_TIMES", "SYS_PTRACE", "SYS_GETUID", "SYS_SYSLOG",
    /* 104 */ "SYS_GETGID", "SYS_SETUID", "SYS_SETGID", "SYS_GETEUID",
    /* 108 */ "SYS_GETEGID", "SYS_SETPGID", "SYS_GETPPID", "SYS_GETPGRP",
    /* 112 */ "SYS_SETSID", "SYS_SETREUID", "SYS_SETREGID", "SYS_GETGROUPS",
    /* 116 */ "SYS_SETGROUPS", "SYS_SETRESUID", "SYS_GETRESUID", "SYS_SETRESGID",
    /* 120 */ "SYS_GETRESGID", "SYS_GETPGID", "SYS_SETFSUID", "SYS_SETFSGID",
    /* 124 */ "SYS_GETSID", "SYS_CAPGET", "SYS_CAPSET", "SYS_RT_SIGPENDING",
    /* 128 */ "SYS_RT_SIGTIMEDWAIT", "SYS_RT_SIGQUEUEINFO", "SYS_RT_SIGSUSPEND", "SYS_SIGALTSTACK",
    /* 132 */ "SYS_UTIME", "SYS_MKNOD", "SYS_USELIB", "SYS_PERSONALITY",
    /* 136 */ "SYS_USTAT", "SYS_STATFS", "SYS_FSTATFS", "SYS_SYSFS",
    /* 140 */ "SYS_GETPRIORITY", "SYS_SETPRIORITY", "SYS_SCHED_SETPARAM", "SYS_SCHED_GETPARAM",
    /* 144 */ "SYS_SCHED_SETSCHEDULER", "SYS_SCHED_GETSCHEDULER", "SYS_SCHED_GET_PRIORITY_MAX", "SYS_SCHED_GET_PRIORITY_MIN",
    /* 148 */ "SYS_SCHED_RR_GET_INTERVAL", "SYS_MLOCK", "SYS_MUNLOCK", "SYS_MLOCKALL",
    /* 152 */ "SYS_MUNLOCKALL", "SYS_VHANGUP", "SYS_MODIFY_LDT", "SYS_PIVOT_ROOT",
    /* 156 */ "SYS__SYSCTL", "SYS_PRCTL", "SYS_ARCH_PRCTL", "SYS_ADJTIMEX",
    /* 160 */ "SYS_SETRLIMIT", "SYS_CHROOT", "SYS_SYNC", "SYS_ACCT",
    /* 164 */ "SYS_SETTIMEOFDAY", "SYS_MOUNT", "SYS_UMOUNT2", "SYS_SWAPON",
    /* 168 */ "SYS_SWAPOFF", "SYS_REBOOT", "SYS_SETHOSTNAME", "SYS_SETDOMAINNAME",
    /* 172 */ "SYS_IOPL", "SYS_IOPERM", "SYS_CREATE_MODULE", "SYS_INIT_MODULE",
    /* 176 */ "SYS_DELETE_MODULE", "SYS_GET_KERNEL_SYMS", "SYS_QUERY_MODULE", "SYS_QUOTACTL",
    /* 180 */ "SYS_NFSSERVCTL", "SYS_GETPMSG", "SYS_PUTPMSG", "SYS_AFS_SYSCALL",
    /* 184 */ "SYS_TUXCALL", "SYS_SECURITY", "SYS_GETTID", "SYS_READAHEAD",
    /* 188 */ "SYS_SETXATTR", "SYS_LSETXATTR", "SYS_FSETXATTR", "SYS_GETXATTR",
    /* 192 */ "SYS_LGETXATTR", "SYS_FGETXATTR", "SYS_LISTXATTR", "SYS_LLISTXATTR",
    /* 196 */ "SYS_FLISTXATTR", "SYS_REMOVEXATTR", "SYS_LREMOVEXATTR", "SYS_FREMOVEXATTR",
    /* 200 */ "SYS_TKILL", "SYS_TIME", "SYS_FUTEX", "SYS_SCHED_SETAFFINITY",
    /* 204 */ "SYS_SCHED_GETAFFINITY", "SYS_SET_THREAD_AREA", "SYS_IO_SETUP", "SYS_IO_DESTROY",
    /* 208 */ "SYS_IO_GETEVENTS", "SYS_IO_SUBMIT", "SYS_IO_CANCEL", "SYS_GET_THREAD_AREA",
    /* 212 */ "SYS_LOOKUP_DCOOKIE", "SYS_EPOLL_CREATE", "SYS_EPOLL_CTL_OLD", "SYS_EPOLL_WAIT_OLD",
    /* 216 */ "SYS_REMAP_FILE_PAGES", "SYS_GETDENTS64", "SYS_SET_TID_ADDRESS", "SYS_RESTART_SYSCALL",
    /* 220 */ "SYS_SEMTIMEDOP", "SYS_FADVISE64", "SYS_TIMER_CREATE", "SYS_TIMER_SETTIME",
    /* 224 */ "SYS_TIMER_GETTIME", "SYS_TIMER_GETOVERRUN", "SYS_TIMER_DELETE", "SYS_CLOCK_SETTIME",
    /* 228 */ "SYS_CLOCK_GETTIME", "SYS_CLOCK_GETRES", "SYS_CLOCK_NANOSLEEP", "SYS_EXIT_GROUP",
    /* 232 */ "SYS_EPOLL_WAIT", "SYS_EPOLL_CTL", "SYS_TGKILL", "SYS_UTIMES",
    /* 236 */ "SYS_VSERVER", "SYS_MBIND", "SYS_SET_MEMPOLICY", "SYS_GET_MEMPOLICY",
    /* 240 */ "SYS_MQ_OPEN", "SYS_MQ_UNLINK", "SYS_MQ_TIMEDSEND", "SYS_MQ_TIMEDRECEIVE",
    /* 244 */ "SYS_MQ_NOTIFY", "SYS_MQ_GETSETATTR", "SYS_KEXEC_LOAD", "SYS_WAITID",
    /* 248 */ "SYS_ADD_KEY", "SYS_REQUEST_KEY", "SYS_KEYCTL", "SYS_IOPRIO_SET",
    /* 252 */ "SYS_IOPRIO_GET", "SYS_INOTIFY_INIT", "SYS_INOTIFY_ADD_WATCH", "SYS_INOTIFY_RM_WATCH",
    /* 256 */ "SYS_MIGRATE_PAGES", "SYS_OPENAT", "SYS_MKDIRAT", "SYS_MKNODAT",
    /* 260 */ "SYS_FCHOWNAT", "SYS_FUTIMESAT", "SYS_NEWFSTATAT", "SYS_UNLINKAT",
    /* 264 */ "SYS_RENAMEAT", "SYS_LINKAT", "SYS_SYMLINKAT", "SYS_READLINKAT",
    /* 268 */ "SYS_FCHMODAT", "SYS_FACCESSAT", "SYS_PSELECT6", "SYS_PPOLL",
    /* 272 */ "SYS_UNSHARE", "SYS_SET_ROBUST_LIST", "SYS_GET_ROBUST_LIST", "SYS_SPLICE",
    /* 276 */ "SYS_TEE", "SYS_SYNC_FILE_RANGE", "SYS_VMSPLICE", "SYS_MOVE_PAGES",
    /* 280 */ "SYS_UTIMENSAT", "SYS_EPOLL_PWAIT", "SYS_SIGNALFD", "SYS_TIMERFD_CREATE",
    /* 284 */ "SYS_EVENTFD", "SYS_FALLOCATE", "SYS_TIMERFD_SETTIME", "SYS_TIMERFD_GETTIME",
    /* 288 */ "SYS_ACCEPT4", "SYS_SIGNALFD4", "SYS_EVENTFD2", "SYS_EPOLL_CREATE1",
    /* 292 */ "SYS_DUP3", "SYS_PIPE2", "SYS_INOTIFY_INIT1", "SYS_PREADV",
    /* 296 */ "SYS_PWRITEV", "SYS_RT_TGSIGQUEUEINFO", "SYS_PERF_EVENT_OPEN", "SYS_RECVMMSG",
    /* 300 */ "SYS_FANOTIFY_INIT", "SYS_FANOTIFY_MARK", "SYS_PRLIMIT64", "SYS_NAME_TO_HANDLE_AT",
    /* 304 */ "SYS_OPEN_BY_HANDLE_AT", "SYS_CLOCK_ADJTIME", "SYS_SYNCFS", "SYS_SENDMMSG",
    /* 308 */ "SYS_SETNS", "SYS_GETCPU", "SYS_PROCESS_VM_READV", "SYS_PROCESS_VM_WRITEV",
    /* 312 */ "SYS_KCMP", "SYS_FINIT_MODULE", "SYS_SCHED_SETATTR", "SYS_SCHED_GETATTR",
    /* 316 */ "SYS_RENAMEAT2", "SYS_SECCOMP", "SYS_GETRANDOM", "SYS_MEMFD_CREATE",
    /* 320 */ "SYS_KEXEC_FILE_LOAD", "SYS_BPF", "SYS_EXECVEAT", "SYS_USERFAULTFD",
    /* 324 */ "SYS_MEMBARRIER", "SYS_MLOCK2", "SYS_COPY_FILE_RANGE", "SYS_PREADV2",
    /* 328 */ "SYS_PWRITEV2", "SYS_PKEY_MPROTECT", "SYS_PKEY_ALLOC", "SYS_PKEY_FREE",
    /* 332 */ "SYS_STATX", "SYS_IO_PGETEVENTS", "SYS_RSEQ", "SYS_URETPROBE",
    /* 336 */ "SYS_UPROBE",
];

/// Syscalls `424..=469` (`pidfd_send_signal` .. `file_setattr`), shared by all arches.
#[rustfmt::skip]
static HIGH: [&str; 46] = [
    /* 424 */ "SYS_PIDFD_SEND_SIGNAL", "SYS_IO_URING_SETUP", "SYS_IO_URING_ENTER", "SYS_IO_URING_REGISTER",
    /* 428 */ "SYS_OPEN_TREE", "SYS_MOVE_MOUNT", "SYS_FSOPEN", "SYS_FSCONFIG",
    /* 432 */ "SYS_FSMOUNT", "SYS_FSPICK", "SYS_PIDFD_OPEN", "SYS_CLONE3",
    /* 436 */ "SYS_CLOSE_RANGE", "SYS_OPENAT2", "SYS_PIDFD_GETFD", "SYS_FACCESSAT2",
    /* 440 */ "SYS_PROCESS_MADVISE", "SYS_EPOLL_PWAIT2", "SYS_MOUNT_SETATTR", "SYS_QUOTACTL_FD",
    /* 444 */ "SYS_LANDLOCK_CREATE_RULESET", "SYS_LANDLOCK_ADD_RULE", "SYS_LANDLOCK_RESTRICT_SELF", "SYS_MEMFD_SECRET",
    /* 448 */ "SYS_PROCESS_MRELEASE", "SYS_FUTEX_WAITV", "SYS_SET_MEMPOLICY_HOME_NODE", "SYS_CACHESTAT",
    /* 452 */ "SYS_FCHMODAT2", "SYS_MAP_SHADOW_STACK", "SYS_FUTEX_WAKE", "SYS_FUTEX_WAIT",
    /* 456 */ "SYS_FUTEX_REQUEUE", "SYS_STATMOUNT", "SYS_LISTMOUNT", "SYS_LSM_GET_SELF_ATTR",
    /* 460 */ "SYS_LSM_SET_SELF_ATTR", "SYS_LSM_LIST_MODULES", "SYS_MSEAL", "SYS_SETXATTRAT",
    /* 464 */ "SYS_GETXATTRAT", "SYS_LISTXATTRAT", "SYS_REMOVEXATTRAT", "SYS_OPEN_TREE_ATTR",
    /* 468 */ "SYS_FILE_GETATTR", "SYS_FILE_SETATTR",
];

/// First number of the [`HIGH`] block.
const HIGH_BASE: u64 = 424;

/// The `SYS_*` name of x86_64 syscall `v`, if it exists.
pub fn syscall_name(v: u64) -> Option<&'static str> {
    if v < LOW.len() as u64 {
        return Some(LOW[v as usize]);
    }
    let i = usize::try_from(v.checked_sub(HIGH_BASE)?).ok()?;
    HIGH.get(i).copied()
}

/// Appends the name of x86_64 syscall `v` (`SYS_OPENAT`), or its decimal
/// value if the number is not assigned.
pub fn write_syscall(v: u64, out: &mut String) {
    match syscall_name(v) {
        Some(name) => out.push_str(name),
        None => push_u64(out, v),
    }
}

/// The syscall number for `name`, case-insensitive, with or without the
/// `SYS_` prefix (`SYS_OPENAT`, `openat`). A plain decimal number is accepted
/// as well. Linear scan: meant for building filters, not per event.
pub fn syscall_from_name(name: &str) -> Option<u64> {
    let name = name.trim();
    if let Ok(n) = name.parse::<u64>() {
        return Some(n);
    }
    let bare = match name.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("SYS_") => &name[4..],
        _ => name,
    };
    if bare.is_empty() {
        return None;
    }
    let matches = |n: &&str| n[4..].eq_ignore_ascii_case(bare);
    LOW.iter()
        .position(matches)
        .map(|i| i as u64)
        .or_else(|| HIGH.iter().position(matches).map(|i| HIGH_BASE + i as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: u64) -> String {
        let mut s = String::new();
        write_syscall(v, &mut s);
        s
    }

    #[test]
    fn matches_libc_constants() {
        let cases: &[(libc::c_long, &str)] = &[
            (libc::SYS_read, "SYS_READ"),
            (libc::SYS_openat, "SYS_OPENAT"),
            (libc::SYS_execve, "SYS_EXECVE"),
            (libc::SYS_exit_group, "SYS_EXIT_GROUP"),
            (libc::SYS__sysctl, "SYS__SYSCTL"),
            (libc::SYS_rseq, "SYS_RSEQ"),
            (libc::SYS_pidfd_send_signal, "SYS_PIDFD_SEND_SIGNAL"),
            (libc::SYS_clone3, "SYS_CLONE3"),
            (libc::SYS_openat2, "SYS_OPENAT2"),
            (libc::SYS_memfd_secret, "SYS_MEMFD_SECRET"),
            (libc::SYS_set_mempolicy_home_node, "SYS_SET_MEMPOLICY_HOME_NODE"),
        ];
        for &(num, name) in cases {
            let num = u64::try_from(num).expect("positive syscall number");
            assert_eq!(syscall_name(num), Some(name), "{num}");
            assert_eq!(syscall_from_name(name), Some(num), "{name}");
        }
    }

    #[test]
    fn table_edges() {
        assert_eq!(w(0), "SYS_READ");
        assert_eq!(w(335), "SYS_URETPROBE");
        assert_eq!(w(336), "SYS_UPROBE");
        assert_eq!(w(337), "337");
        assert_eq!(w(423), "423");
        assert_eq!(w(424), "SYS_PIDFD_SEND_SIGNAL");
        assert_eq!(w(435), "SYS_CLONE3");
        assert_eq!(w(437), "SYS_OPENAT2");
        assert_eq!(w(461), "SYS_LSM_LIST_MODULES");
        assert_eq!(w(462), "SYS_MSEAL");
        assert_eq!(w(469), "SYS_FILE_SETATTR");
        assert_eq!(w(470), "470");
        assert_eq!(w(u64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn every_name_is_unique_prefixed_and_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for v in 0..600 {
            if let Some(name) = syscall_name(v) {
                assert!(name.starts_with("SYS_") && name.len() > 4, "{name}");
                assert!(!name[4..].contains(|c: char| c.is_ascii_lowercase()), "{name}");
                assert!(seen.insert(name), "duplicate {name}");
                assert_eq!(syscall_from_name(name), Some(v), "{name}");
            }
        }
        assert_eq!(seen.len(), LOW.len() + HIGH.len());
    }

    #[test]
    fn parses_prefixless_and_numbers() {
        assert_eq!(syscall_from_name("openat"), Some(257));
        assert_eq!(syscall_from_name("sys_clone3"), Some(435));
        assert_eq!(syscall_from_name("59"), Some(59));
        assert_eq!(syscall_from_name("SYS_"), None);
        assert_eq!(syscall_from_name("nope"), None);
    }
}
