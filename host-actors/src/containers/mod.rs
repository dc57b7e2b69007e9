//! Containers: who runs on this host, and which container an event came from.
//!
//! One [`actor`] per host process discovers containers (containerd over its gRPC socket, runc and
//! crun state directories, podman, and `/proc/PID/cgroup` as a fallback for runtimes it does not
//! know) and publishes an immutable [`Snapshot`] through a `watch` channel, plus deltas
//! ([`ContainerEvent`]) through a broadcast channel. Runs never ask the actor per event: the
//! enrichment stage ([`enrich`]) borrows the current snapshot once per batch and looks mount
//! namespaces up in a hash map. Selection (`-c web`, `-l app=cart`) is a [`selector::Selector`];
//! the run's [`filter`] keeper turns it into entries of the gadget's `gadget_mntns_filter_map`,
//! and a small helper eBPF program admits a new container's mount namespace in the kernel the
//! moment it appears, so its first exec is never lost (see `docs/containers.md`).
//!
//! The data model here is shared by all of them: a [`Container`] is what `rig list-containers`
//! prints and what the `runtime.*` and `k8s.*` fields of an event are filled from.

pub mod actor;
pub mod containerd;
pub mod enrich;
pub mod filter;
pub mod podman;
pub mod procfs;
pub mod runc;
pub mod selector;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use actor::{ContainersHandle, spawn};

/// How long a container that exited still resolves: events read from the ring buffer a moment
/// after its last process died still name it.
pub const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The CRI labels kubelet sets on every container it creates.
pub mod cri_labels {
    /// The pod's name.
    pub const POD_NAME: &str = "io.kubernetes.pod.name";
    /// The pod's namespace.
    pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
    /// The pod's UID.
    pub const POD_UID: &str = "io.kubernetes.pod.uid";
    /// The container's name in the pod spec.
    pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
    /// containerd's CRI plugin marks a pod's sandbox (pause) container with `kind=sandbox`.
    pub const CRI_KIND: &str = "io.cri-containerd.kind";
}

/// Which runtime a container was found through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuntimeName {
    /// containerd (its gRPC API).
    Containerd,
    /// runc's state directory (containers started by runc directly).
    Runc,
    /// crun's state directory.
    Crun,
    /// podman (its REST API).
    Podman,
    /// Only known from `/proc/PID/cgroup`: an id, no name.
    Unknown,
}

impl RuntimeName {
    /// The name IG prints in `runtime.runtimeName`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeName::Containerd => "containerd",
            RuntimeName::Runc => "runc",
            RuntimeName::Crun => "crun",
            RuntimeName::Podman => "podman",
            RuntimeName::Unknown => "unknown",
        }
    }

    /// Parses a `--runtimes` entry.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "containerd" => RuntimeName::Containerd,
            "runc" => RuntimeName::Runc,
            "crun" => RuntimeName::Crun,
            "podman" => RuntimeName::Podman,
            _ => return None,
        })
    }
}

impl std::fmt::Display for RuntimeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kubernetes identity, from the CRI labels (empty strings when the container is not a pod's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct K8sMeta {
    /// `io.kubernetes.pod.namespace`.
    pub namespace: String,
    /// `io.kubernetes.pod.name`.
    pub pod_name: String,
    /// `io.kubernetes.pod.uid`.
    pub pod_uid: String,
    /// `io.kubernetes.container.name`.
    pub container_name: String,
    /// The pod's labels: the sandbox container's labels when it is known, else the container's
    /// own, without the `io.kubernetes.*` and `io.cri-containerd.*` bookkeeping labels.
    pub pod_labels: BTreeMap<String, String>,
}

impl K8sMeta {
    /// True when the container belongs to a pod.
    pub fn is_pod(&self) -> bool {
        !self.pod_name.is_empty()
    }
}

/// One container, as far as rig knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The runtime's id (64 hex digits for most runtimes; whatever `ctr run` was given).
    pub id: String,
    /// The name users select with `-c`: the Kubernetes container name, else a name label
    /// (`nerdctl/name`, podman's name), else the id.
    pub name: String,
    /// The runtime it was found through.
    pub runtime: RuntimeName,
    /// containerd's namespace (`default`, `k8s.io`); empty for other runtimes.
    pub runtime_namespace: String,
    /// Image reference (`docker.io/library/busybox:latest`); empty when unknown.
    pub image_name: String,
    /// Image digest (`sha256:…`); empty when unknown.
    pub image_digest: String,
    /// Host PID of the container's init process (0 when it has none yet).
    pub pid: u32,
    /// Mount namespace inode of the init process (what `gadget_mntns_id` holds).
    pub mntns: u64,
    /// Network namespace inode of the init process.
    pub netns: u64,
    /// All labels the runtime reports.
    pub labels: BTreeMap<String, String>,
    /// Kubernetes identity.
    pub k8s: K8sMeta,
    /// Set once its task exited; it still resolves until [`EXIT_GRACE`] after this.
    pub exited_at: Option<Instant>,
}

/// What subscribers learn as the table changes.
#[derive(Debug, Clone)]
pub enum ContainerEvent {
    /// A container started (or was found by a resynchronisation).
    Added(Arc<Container>),
    /// A container's task exited (it stays resolvable for [`EXIT_GRACE`]).
    Removed(Arc<Container>),
}

/// An immutable view of all known containers, published by the actor after every change.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Containers by mount namespace inode (running ones and those within their exit grace).
    pub by_mntns: HashMap<u64, Arc<Container>>,
    /// Containers by network namespace inode (a pod's containers share one: the first wins).
    pub by_netns: HashMap<u64, Arc<Container>>,
    /// Bumped on every publication.
    pub generation: u64,
    /// True once every enabled runtime was listed at least once (or found unreachable).
    pub synced: bool,
}

impl Snapshot {
    /// Running containers (not the ones in their exit grace), sorted by runtime and name.
    pub fn running(&self) -> Vec<Arc<Container>> {
        let mut v: Vec<_> = self
            .by_mntns
            .values()
            .filter(|c| c.exited_at.is_none())
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.runtime, &a.name, &a.id).cmp(&(b.runtime, &b.name, &b.id)));
        v
    }

    /// The container of a mount namespace, if any.
    pub fn by_mntns(&self, mntns: u64) -> Option<&Arc<Container>> {
        self.by_mntns.get(&mntns)
    }
}

/// How the actor finds containers (IG's flag names in brackets).
#[derive(Debug, Clone)]
pub struct ContainersConfig {
    /// Runtimes to ask (`--runtimes`, default all).
    pub runtimes: Vec<RuntimeName>,
    /// containerd's socket (`--containerd-socketpath`, default `/run/containerd/containerd.sock`).
    pub containerd_socket: PathBuf,
    /// podman's socket (`--podman-socketpath`, default `/run/podman/podman.sock`).
    pub podman_socket: PathBuf,
    /// runc state roots to scan (default `/run/runc` and containerd's `/run/containerd/runc/*`).
    pub runc_roots: Vec<PathBuf>,
    /// crun state roots to scan (default `/run/crun`).
    pub crun_roots: Vec<PathBuf>,
    /// `/proc` (a test may point it elsewhere).
    pub proc_root: PathBuf,
    /// The node name for `k8s.node` (`--node-name`, `NODE_NAME`, else the host name).
    pub node_name: String,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig {
            runtimes: vec![
                RuntimeName::Containerd,
                RuntimeName::Runc,
                RuntimeName::Crun,
                RuntimeName::Podman,
            ],
            containerd_socket: PathBuf::from("/run/containerd/containerd.sock"),
            podman_socket: PathBuf::from("/run/podman/podman.sock"),
            runc_roots: vec![PathBuf::from("/run/runc"), PathBuf::from("/run/containerd/runc")],
            crun_roots: vec![PathBuf::from("/run/crun")],
            proc_root: PathBuf::from("/proc"),
            node_name: default_node_name(),
        }
    }
}

/// `NODE_NAME` if set, else the host name.
pub fn default_node_name() -> String {
    if let Ok(n) = std::env::var("NODE_NAME")
        && !n.is_empty()
    {
        return n;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Why discovery failed (the actor logs these and retries; they never end a run).
#[derive(Debug, thiserror::Error)]
pub enum ContainersError {
    /// containerd's socket could not be reached or answered with an error.
    #[error("containerd at {socket}: {reason}")]
    Containerd {
        /// The socket.
        socket: PathBuf,
        /// What went wrong (the gRPC status or transport error).
        reason: String,
    },
    /// podman's socket could not be reached or answered with an error.
    #[error("podman at {socket}: {reason}")]
    Podman {
        /// The socket.
        socket: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file under /proc or a state directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A runtime's state file is not what rig expects.
    #[error("{path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The actor is gone.
    #[error("the containers actor stopped")]
    ActorGone,
}
