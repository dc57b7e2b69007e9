//! The few bpf(2) calls rig makes itself, next to aya: IG's *dispatcher*, a five-instruction
//! program that writes the network namespace into `skb->cb[0]` and tail-calls the gadget's
//! program, plus the program array it calls through and TCX links for it.
//!
//! IG's networking gadgets read `skb->cb[0]` as "the netns this packet was seen in"
//! (`sockets-map.h`: "cb[0] initialized by dispatcher.bpf.c"), so a socket filter or classifier
//! cannot be attached directly: one dispatcher per namespace (its netns is an immediate) calls
//! the gadget's single program. The dispatcher is assembled here rather than compiled, so it
//! needs no clang and no ELF. Every handle is an [`OwnedFd`]: closing it detaches or frees it.

use std::ffi::c_void;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `BPF_MAP_CREATE`.
const BPF_MAP_CREATE: libc::c_long = 0;
/// `BPF_MAP_UPDATE_ELEM`.
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
/// `BPF_PROG_LOAD`.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_LINK_CREATE`.
const BPF_LINK_CREATE: libc::c_long = 28;
/// `BPF_MAP_TYPE_PROG_ARRAY`.
const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
/// `BPF_F_RDONLY_PROG`-free map flags (none).
const NO_FLAGS: u32 = 0;
/// `offsetof(struct __sk_buff, cb)`.
const SKB_CB_OFFSET: i16 = 48;
/// The `bpf_tail_call` helper.
const HELPER_TAIL_CALL: i32 = 12;

/// The program type a dispatcher has (that of the program it calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetProgType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER`: attached to a raw socket.
    SocketFilter,
    /// `BPF_PROG_TYPE_SCHED_CLS`: attached to an interface through TCX.
    SchedCls,
}

impl NetProgType {
    fn kernel(self) -> u32 {
        match self {
            Self::SocketFilter => 1,
            Self::SchedCls => 3,
        }
    }

    /// What the dispatcher returns when the tail call fails: "drop" for a socket filter (which
    /// only removes the packet from rig's own socket), `TC_ACT_UNSPEC` (the next program) for tc.
    fn fallthrough(self) -> i32 {
        match self {
            Self::SocketFilter => 0,
            Self::SchedCls => -1,
        }
    }
}

/// The TCX direction of a classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcxDirection {
    /// `BPF_TCX_INGRESS`.
    Ingress,
    /// `BPF_TCX_EGRESS`.
    Egress,
}

impl TcxDirection {
    fn attach_type(self) -> u32 {
        match self {
            Self::Ingress => 46,
            Self::Egress => 47,
        }
    }
}

/// One eBPF instruction, as the kernel reads it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// The dispatcher: `r6 = r1; w2 = netns; *(u32 *)(r1 + cb) = w2; r1 = r6; r2 = map; r3 = 0;
/// tail_call(); r0 = fallthrough; exit`.
fn dispatcher_insns(netns: u32, prog_array: i32, fallthrough: i32) -> [Insn; 10] {
    [
        insn(0xbf, 6, 1, 0, 0), // mov64 r6, r1
        // The immediate is the netns inode's bits; mov32 zero-extends it back.
        insn(0xb4, 2, 0, 0, i32::from_ne_bytes(netns.to_ne_bytes())), // mov32 w2, netns
        insn(0x63, 1, 2, SKB_CB_OFFSET, 0),                           // stxw [r1 + cb], w2
        insn(0xbf, 1, 6, 0, 0),                                       // mov64 r1, r6
        insn(0x18, 2, 1, 0, prog_array),                              // ld_imm64 r2, map fd
        insn(0, 0, 0, 0, 0),
        insn(0xb7, 3, 0, 0, 0),                // mov64 r3, 0
        insn(0x85, 0, 0, 0, HELPER_TAIL_CALL), // call bpf_tail_call
        insn(0xb7, 0, 0, 0, fallthrough),      // mov64 r0, fallthrough
        insn(0x95, 0, 0, 0, 0),                // exit
    ]
}

/// Calls bpf(2) with an attribute block; returns the new fd (or 0 for commands without one).
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` points to a live, initialised #[repr(C)] block of the size passed; the
    // kernel reads at most that many bytes and writes only into the log buffer it names.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr).cast::<c_void>(),
            std::mem::size_of::<T>(),
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Wraps a returned fd.
fn owned(fd: libc::c_long) -> std::io::Result<OwnedFd> {
    let raw = i32::try_from(fd).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    _rest: [u32; 27],
}

#[repr(C)]
#[derive(Default)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    _rest: [u32; 24],
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    _rest: [u32; 12],
}

/// A one-slot program array holding the gadget's program.
pub fn prog_array(gadget_prog: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_PROG_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        map_flags: NO_FLAGS,
        ..Default::default()
    };
    let map = owned(bpf(BPF_MAP_CREATE, &mut attr)?)?;
    let key = 0u32;
    let value = u32::try_from(gadget_prog.as_raw_fd()).unwrap_or_default();
    let mut update = MapUpdateAttr {
        map_fd: u32::try_from(map.as_raw_fd()).unwrap_or_default(),
        key: std::ptr::from_ref(&key) as u64,
        value: std::ptr::from_ref(&value) as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut update)?;
    Ok(map)
}

/// Loads a dispatcher for `netns` that tail-calls slot 0 of `prog_array`.
pub fn dispatcher(kind: NetProgType, netns: u32, prog_array: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    let insns = dispatcher_insns(netns, prog_array.as_raw_fd(), kind.fallthrough());
    let license = c"GPL";
    let mut log = vec![0u8; 4096];
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"rig_net_dis");
    let mut attr = ProgLoadAttr {
        prog_type: kind.kernel(),
        insn_cnt: u32::try_from(insns.len()).unwrap_or_default(),
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: u32::try_from(log.len()).unwrap_or_default(),
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        _rest: [0; 24],
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => owned(fd),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            tracing::debug!(log = %String::from_utf8_lossy(&log[..end]), "dispatcher rejected");
            Err(e)
        }
    }
}

/// Attaches a classifier to an interface through TCX; closing the link detaches it.
pub fn tcx_attach(prog: BorrowedFd<'_>, ifindex: u32, direction: TcxDirection) -> std::io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: u32::try_from(prog.as_raw_fd()).unwrap_or_default(),
        target_ifindex: ifindex,
        attach_type: direction.attach_type(),
        ..Default::default()
    };
    owned(bpf(BPF_LINK_CREATE, &mut attr)?)
}

/// Attaches a socket filter program to a socket (`SO_ATTACH_BPF`).
pub fn attach_socket_filter(socket: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> std::io::Result<()> {
    let fd: libc::c_int = prog.as_raw_fd();
    // SAFETY: both fds are open; the option value is a c_int that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_BPF,
            std::ptr::from_ref(&fd).cast::<c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A raw `AF_PACKET` socket that sees every protocol (`ETH_P_ALL`) in the calling thread's netns.
pub fn raw_packet_socket() -> std::io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::c_int::from(proto),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    //! The dispatcher on the real kernel: it must pass the verifier for both program types.

    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_dispatcher_loads_for_both_program_types() {
        // A program array needs a program of the same type in it only at call time; an empty
        // array (no update) is enough to load the dispatcher.
        for kind in [NetProgType::SocketFilter, NetProgType::SchedCls] {
            let mut attr = MapCreateAttr {
                map_type: BPF_MAP_TYPE_PROG_ARRAY,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
                ..Default::default()
            };
            let map = owned(bpf(BPF_MAP_CREATE, &mut attr).expect("map")).expect("fd");
            let prog = dispatcher(kind, 0xf000_0001, map.as_fd());
            assert!(prog.is_ok(), "{kind:?}: {prog:?}");
        }
    }
}
