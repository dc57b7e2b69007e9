//! Networking hooks: socket filters (`socket*` sections) and tc classifiers
//! (`classifier/ingress/*`, `classifier/egress/*`), attached the way IG attaches them.
//!
//! IG never attaches a networking gadget's program directly: per network namespace it loads a
//! *dispatcher* ([`super::sys`]) that stores that namespace's inode in `skb->cb[0]` and
//! tail-calls the gadget, so the gadget (and `gadget_socket_lookup`) knows where a packet was
//! seen. A socket filter's dispatcher sits on a raw `AF_PACKET`/`ETH_P_ALL` socket opened in the
//! namespace (IG's `rawsock.OpenRawSock`): it sees every packet of every interface there, and
//! since it returns 0 nothing is ever queued on that socket. A classifier's dispatcher is
//! attached through TCX to every interface of the namespace that exists when the gadget starts.
//! rig watches its own (the host) network namespace; [`WatchedNetns`] names others (entered
//! with `setns(2)` on a short-lived thread, so rig's own threads never change namespace).
//! Everything is an fd owned by [`NetAttachment`]: dropping it detaches.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

use super::AttachError;
use super::sys::{self, NetProgType, TcxDirection};

/// A network namespace rig attaches networking programs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedNetns {
    /// Its inode number (what the dispatcher writes into `skb->cb[0]`).
    pub inode: u64,
    /// A file that refers to it (`/proc/PID/ns/net`, `/run/netns/NAME`); `None` for rig's own.
    pub path: Option<PathBuf>,
}

impl WatchedNetns {
    /// rig's own network namespace (the host's, unless rig runs in a container).
    pub fn own() -> Result<Self, AttachError> {
        let inode = inode_of(&PathBuf::from("/proc/self/ns/net"))?;
        Ok(Self { inode, path: None })
    }

    /// The namespace `path` refers to.
    pub fn at(path: PathBuf) -> Result<Self, AttachError> {
        let inode = inode_of(&path)?;
        Ok(Self {
            inode,
            path: Some(path),
        })
    }

    /// How it reads in messages.
    fn label(&self) -> String {
        match &self.path {
            Some(p) => format!("netns {} ({})", self.inode, p.display()),
            None => format!("netns {} (rig's own)", self.inode),
        }
    }

    /// The 32 bits IG's dispatcher stores (`skb->cb[0]` is a `__u32`; netns inodes fit).
    fn cb_value(&self) -> u32 {
        u32::try_from(self.inode).unwrap_or(u32::MAX)
    }

    /// Runs `f` inside this namespace, on a thread of its own when it is not rig's.
    fn run_in<T: Send>(&self, f: impl FnOnce() -> std::io::Result<T> + Send) -> Result<T, AttachError> {
        let Some(path) = &self.path else {
            return f().map_err(|source| AttachError::InNetns {
                netns: self.label(),
                source,
            });
        };
        let file = std::fs::File::open(path).map_err(|source| AttachError::Netns {
            path: path.clone(),
            source,
        })?;
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns on this (scoped, soon finished) thread only; the fd is open.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
        })
        .map_err(|source| AttachError::InNetns {
            netns: self.label(),
            source,
        })
    }
}

/// The inode of a namespace file.
fn inode_of(path: &std::path::Path) -> Result<u64, AttachError> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|source| AttachError::Netns {
            path: path.to_owned(),
            source,
        })
}

/// One networking program attached in some namespaces; dropping it detaches everything.
#[derive(Debug)]
pub struct NetAttachment {
    /// The program array the dispatchers call through (holds the gadget's program).
    _prog_array: OwnedFd,
    /// Dispatchers, raw sockets and TCX links.
    _fds: Vec<OwnedFd>,
    /// Where it is attached, for logs.
    pub places: Vec<String>,
}

/// Attaches a socket filter through a dispatcher on a raw socket in each namespace.
pub fn socket_filter(prog: BorrowedFd<'_>, netns: &[WatchedNetns]) -> Result<NetAttachment, AttachError> {
    let prog_array = sys::prog_array(prog).map_err(AttachError::ProgArray)?;
    let mut fds = Vec::new();
    let mut places = Vec::new();
    for ns in netns {
        let dispatcher = sys::dispatcher(NetProgType::SocketFilter, ns.cb_value(), prog_array.as_fd())
            .map_err(AttachError::Dispatcher)?;
        let socket = ns.run_in(sys::raw_packet_socket)?;
        sys::attach_socket_filter(socket.as_fd(), dispatcher.as_fd()).map_err(|source| AttachError::SocketFilter {
            netns: ns.label(),
            source,
        })?;
        fds.push(dispatcher);
        fds.push(socket);
        places.push(format!("raw socket in {}", ns.label()));
    }
    tracing::debug!(places = ?places, "socket filter attached");
    Ok(NetAttachment {
        _prog_array: prog_array,
        _fds: fds,
        places,
    })
}

/// The direction a `classifier/<direction>/<name>` section names.
pub fn classifier_direction(section: &str) -> Option<TcxDirection> {
    match section.split('/').nth(1)? {
        "ingress" => Some(TcxDirection::Ingress),
        "egress" => Some(TcxDirection::Egress),
        _ => None,
    }
}

/// The interfaces (index, name) of the calling thread's network namespace.
fn interfaces() -> std::io::Result<Vec<(u32, String)>> {
    // SAFETY: if_nameindex returns a NULL-terminated array we free below, or NULL on error.
    let list = unsafe { libc::if_nameindex() };
    if list.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = list;
    // SAFETY: the array ends with an entry whose index is 0; names are NUL-terminated.
    unsafe {
        while (*cur).if_index != 0 {
            let name = std::ffi::CStr::from_ptr((*cur).if_name).to_string_lossy().into_owned();
            out.push(((*cur).if_index, name));
            cur = cur.add(1);
        }
        libc::if_freenameindex(list);
    }
    Ok(out)
}

/// Attaches a classifier through a dispatcher on every interface of each namespace (TCX).
pub fn classifier(
    prog: BorrowedFd<'_>,
    direction: TcxDirection,
    netns: &[WatchedNetns],
) -> Result<NetAttachment, AttachError> {
    let prog_array = sys::prog_array(prog).map_err(AttachError::ProgArray)?;
    let mut fds = Vec::new();
    let mut places = Vec::new();
    for ns in netns {
        let dispatcher = sys::dispatcher(NetProgType::SchedCls, ns.cb_value(), prog_array.as_fd())
            .map_err(AttachError::Dispatcher)?;
        let disp = dispatcher.as_fd();
        // TCX links are made inside the namespace: ifindexes are per namespace.
        let links = ns.run_in(|| {
            let mut links = Vec::new();
            for (index, name) in interfaces()? {
                match sys::tcx_attach(disp, index, direction) {
                    Ok(link) => links.push((name, link)),
                    // An interface that went away meanwhile, or cannot take tc programs.
                    Err(e) => {
                        tracing::warn!(interface = %name, error = %e, "cannot attach the classifier here; skipped")
                    }
                }
            }
            Ok(links)
        })?;
        if links.is_empty() {
            return Err(AttachError::NoInterface { netns: ns.label() });
        }
        for (name, link) in links {
            places.push(format!("{direction:?} of {name} in {}", ns.label()));
            fds.push(link);
        }
        fds.push(dispatcher);
    }
    tracing::debug!(places = ?places, "classifier attached");
    Ok(NetAttachment {
        _prog_array: prog_array,
        _fds: fds,
        places,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classifier_section_names_its_direction() {
        assert_eq!(
            classifier_direction("classifier/ingress/main"),
            Some(TcxDirection::Ingress)
        );
        assert_eq!(
            classifier_direction("classifier/egress/drop"),
            Some(TcxDirection::Egress)
        );
        assert_eq!(classifier_direction("classifier"), None);
        assert_eq!(classifier_direction("classifier/sideways/x"), None);
    }

    #[test]
    fn rig_knows_its_own_netns_and_its_interfaces() {
        let own = WatchedNetns::own().expect("own netns");
        assert!(own.inode > 0);
        let ifs = own.run_in(interfaces).expect("interfaces");
        assert!(ifs.iter().any(|(_, n)| n == "lo"), "{ifs:?}");
    }
}
