//! The containers actor: one per host process, it owns the container table and publishes it.
//!
//! Sources run as tasks beside the actor and send it [`Update`]s: containerd (listing, then its
//! event stream, supervised in [`super::containerd`]), and a slow scanner (every 2 s and on
//! demand) over runc/crun state directories and podman. The actor keeps one table per runtime
//! and, after every change, merges them into the published view: containerd wins over podman,
//! podman over runc/crun, those over the `/proc` fallback, both by container id and by mount
//! namespace, so a container is never listed twice. The scanner's first pass waits for
//! containerd's first answer (bounded), so containerd's containers are not announced as runc's.
//!
//! Each publication is a new immutable [`Snapshot`] (generation + 1) on a `watch` channel, and a
//! [`ContainerEvent`] per container that started or ended goes out on a broadcast channel. A
//! container that ended stays in `by_mntns` with `exited_at` set for [`EXIT_GRACE`], then a
//! once-a-second prune drops it. `synced` turns true once every enabled runtime was listed or
//! found unreachable. The actor stops when the last [`ContainersHandle`] is dropped, or on
//! [`ContainersHandle::shutdown`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kameo::actor::{Actor, ActorRef, Spawn, WeakActorRef};
use kameo::error::ActorStopReason;
use kameo::message::{Context, Message};
use tokio::sync::{Notify, broadcast, oneshot, watch};
use tokio::task::JoinHandle;

use super::{
    Container, ContainerEvent, ContainersConfig, EXIT_GRACE, RuntimeName, Snapshot, containerd, podman, procfs, runc,
};

/// How often runc/crun state directories and podman are rescanned.
const SCAN_PERIOD: Duration = Duration::from_secs(2);

/// How often exited containers are pruned.
const PRUNE_PERIOD: Duration = Duration::from_secs(1);

/// How long "no container in this mount namespace" is remembered.
const NEGATIVE_TTL: Duration = Duration::from_secs(3);

/// How long a mount namespace whose cgroup names an id no runtime reported yet waits for one
/// to report it, before it becomes a [`RuntimeName::Unknown`] container. Under the enrichment
/// stage's hold bound (1.5 s), so held rows still get the runtime's record on a loaded host.
const NAME_WAIT: Duration = Duration::from_secs(1);

/// Longest wait for the scanner's first pass on containerd's first answer.
const FIRST_SCAN_WAIT: Duration = Duration::from_secs(2);

/// Runtimes in the order their records win.
const PRIORITY: [RuntimeName; 5] = [
    RuntimeName::Containerd,
    RuntimeName::Podman,
    RuntimeName::Runc,
    RuntimeName::Crun,
    RuntimeName::Unknown,
];

/// containerd namespaces whose `/<namespace>/<id>` cgroups are trusted even before a listing
/// named them.
const WELL_KNOWN_NAMESPACES: [&str; 3] = ["default", "k8s.io", "moby"];

/// What the sources tell the actor.
#[derive(Debug)]
pub enum Update {
    /// A full listing of one runtime: replaces its table (missing containers have exited).
    Listed {
        /// The runtime listed.
        runtime: RuntimeName,
        /// Its running containers.
        containers: Vec<Container>,
    },
    /// One container started.
    Started(Container),
    /// One container's init process ended.
    Exited {
        /// Its runtime.
        runtime: RuntimeName,
        /// Its id.
        id: String,
    },
    /// A runtime could not be reached; it counts as listed for `synced`.
    Unreachable(RuntimeName),
    /// A container only known from `/proc` (answered once it is published).
    AddUnknown(Container),
    /// The prune timer.
    Prune,
}

/// The actor's state: one table per runtime and what was last published.
pub struct ContainersActor {
    config: Arc<ContainersConfig>,
    tables: HashMap<RuntimeName, HashMap<String, Arc<Container>>>,
    listed: HashSet<RuntimeName>,
    published: HashMap<String, Arc<Container>>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    events: broadcast::Sender<ContainerEvent>,
    rescan: Arc<Notify>,
    containerd_answered: Option<oneshot::Sender<()>>,
    first_scan_gate: Option<oneshot::Receiver<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ContainersActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainersActor")
            .field("published", &self.published.len())
            .field("listed", &self.listed)
            .finish_non_exhaustive()
    }
}

impl Actor for ContainersActor {
    type Args = Self;
    type Error = std::convert::Infallible;

    async fn on_start(mut state: Self::Args, me: ActorRef<Self>) -> Result<Self, Self::Error> {
        let config = state.config.clone();
        if config.runtimes.contains(&RuntimeName::Containerd) {
            state
                .tasks
                .push(tokio::spawn(containerd::run(config.clone(), me.clone())));
        } else {
            state.containerd_answered = None;
        }
        let gate = state.first_scan_gate.take();
        state
            .tasks
            .push(tokio::spawn(scanner(config, me.clone(), state.rescan.clone(), gate)));
        state.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(PRUNE_PERIOD).await;
                if me.tell(Update::Prune).await.is_err() {
                    return;
                }
            }
        }));
        state.publish();
        Ok(state)
    }

    async fn on_stop(&mut self, _: WeakActorRef<Self>, _: ActorStopReason) -> Result<(), Self::Error> {
        for t in &self.tasks {
            t.abort();
        }
        Ok(())
    }
}

impl Message<Update> for ContainersActor {
    type Reply = ();

    async fn handle(&mut self, msg: Update, _ctx: &mut Context<Self, Self::Reply>) {
        let now = Instant::now();
        match msg {
            Update::Listed { runtime, containers } => {
                let table = self.tables.entry(runtime).or_default();
                let mut seen = HashSet::new();
                for c in containers {
                    seen.insert(c.id.clone());
                    match table.get(&c.id) {
                        Some(old) if **old == c => {}
                        _ => {
                            table.insert(c.id.clone(), Arc::new(c));
                        }
                    }
                }
                for c in table.values_mut() {
                    if !seen.contains(&c.id) && c.exited_at.is_none() {
                        *c = Arc::new(Container {
                            exited_at: Some(now),
                            ..(**c).clone()
                        });
                    }
                }
                self.mark_listed(runtime);
            }
            Update::Started(c) | Update::AddUnknown(c) => {
                self.tables
                    .entry(c.runtime)
                    .or_default()
                    .insert(c.id.clone(), Arc::new(c));
            }
            Update::Exited { runtime, id } => {
                if let Some(c) = self.tables.entry(runtime).or_default().get_mut(&id)
                    && c.exited_at.is_none()
                {
                    *c = Arc::new(Container {
                        exited_at: Some(now),
                        ..(**c).clone()
                    });
                }
            }
            Update::Unreachable(runtime) => self.mark_listed(runtime),
            Update::Prune => self.prune(now),
        }
        self.publish();
    }
}

impl ContainersActor {
    /// Notes a runtime's first answer (or failure).
    fn mark_listed(&mut self, runtime: RuntimeName) {
        self.listed.insert(runtime);
        if runtime == RuntimeName::Containerd
            && let Some(tx) = self.containerd_answered.take()
        {
            let _ = tx.send(());
        }
    }

    /// Drops containers past their exit grace; a `/proc`-only container ends when its PID does.
    fn prune(&mut self, now: Instant) {
        let proc_root = &self.config.proc_root;
        for table in self.tables.values_mut() {
            table.retain(|_, c| c.exited_at.is_none_or(|t| now.duration_since(t) < EXIT_GRACE));
        }
        if let Some(unknown) = self.tables.get_mut(&RuntimeName::Unknown) {
            for c in unknown.values_mut() {
                if c.exited_at.is_none() && procfs::ns_inode(proc_root, c.pid, "mnt").ok() != Some(c.mntns) {
                    *c = Arc::new(Container {
                        exited_at: Some(now),
                        ..(**c).clone()
                    });
                }
            }
        }
    }

    /// True once every enabled runtime answered (runc and crun come from one scanner).
    fn synced(&self) -> bool {
        self.config.runtimes.iter().all(|r| self.listed.contains(r))
    }

    /// Merges the tables, sends the deltas, and publishes a snapshot when anything changed.
    fn publish(&mut self) {
        let mut merged: HashMap<String, Arc<Container>> = HashMap::new();
        let mut claimed: HashSet<u64> = HashSet::new();
        for runtime in PRIORITY {
            let Some(table) = self.tables.get(&runtime) else {
                continue;
            };
            let mut ids: Vec<&String> = table.keys().collect();
            ids.sort();
            for id in ids {
                let c = &table[id];
                if merged.contains_key(id) || (c.exited_at.is_none() && claimed.contains(&c.mntns)) {
                    continue;
                }
                if c.exited_at.is_none() {
                    claimed.insert(c.mntns);
                }
                merged.insert(id.clone(), c.clone());
            }
        }
        let synced = self.synced();
        let unchanged = merged.len() == self.published.len()
            && merged
                .iter()
                .all(|(id, c)| self.published.get(id).is_some_and(|o| o == c));
        if unchanged && synced == self.snapshot.borrow().synced {
            return;
        }
        let running = |c: Option<&Arc<Container>>| c.is_some_and(|c| c.exited_at.is_none());
        for (id, c) in &merged {
            if running(Some(c)) && !running(self.published.get(id)) {
                let _ = self.events.send(ContainerEvent::Added(c.clone()));
            }
        }
        for (id, old) in &self.published {
            if running(Some(old)) && !running(merged.get(id)) {
                let gone = merged.get(id).cloned().unwrap_or_else(|| {
                    Arc::new(Container {
                        exited_at: Some(Instant::now()),
                        ..(**old).clone()
                    })
                });
                let _ = self.events.send(ContainerEvent::Removed(gone));
            }
        }
        let mut by_mntns = HashMap::new();
        let mut by_netns = HashMap::new();
        // Exited first, so a running container sharing a namespace wins.
        let (live, dead): (Vec<_>, Vec<_>) = merged.values().partition(|c| c.exited_at.is_none());
        for c in dead.into_iter().chain(live.iter().copied()) {
            by_mntns.insert(c.mntns, c.clone());
        }
        let mut live = live;
        live.sort_by(|a, b| (a.runtime, &a.id).cmp(&(b.runtime, &b.id)));
        for c in live {
            if c.netns != 0 {
                by_netns.entry(c.netns).or_insert_with(|| c.clone());
            }
        }
        let generation = self.snapshot.borrow().generation + 1;
        self.snapshot.send_replace(Arc::new(Snapshot {
            by_mntns,
            by_netns,
            generation,
            synced,
        }));
        self.published = merged;
    }
}

/// The slow source: runc/crun state directories and podman, every [`SCAN_PERIOD`] and when
/// poked. Its first pass waits (bounded) for containerd's first answer.
async fn scanner(
    config: Arc<ContainersConfig>,
    actor: ActorRef<ContainersActor>,
    rescan: Arc<Notify>,
    gate: Option<oneshot::Receiver<()>>,
) {
    if let Some(gate) = gate {
        let _ = tokio::time::timeout(FIRST_SCAN_WAIT, gate).await;
    }
    let podman_explicit = config.podman_socket != std::path::Path::new(podman::DEFAULT_SOCKET);
    let mut podman_warned = false;
    loop {
        for (runtime, roots) in [
            (RuntimeName::Runc, &config.runc_roots),
            (RuntimeName::Crun, &config.crun_roots),
        ] {
            if !config.runtimes.contains(&runtime) {
                continue;
            }
            let (roots, proc_root) = (roots.clone(), config.proc_root.clone());
            let containers = tokio::task::spawn_blocking(move || runc::scan(&roots, runtime, &proc_root))
                .await
                .unwrap_or_default();
            if actor.tell(Update::Listed { runtime, containers }).await.is_err() {
                return;
            }
        }
        if config.runtimes.contains(&RuntimeName::Podman) {
            let update = match podman::list(&config.podman_socket, &config.proc_root).await {
                Ok(containers) => {
                    podman_warned = false;
                    Update::Listed {
                        runtime: RuntimeName::Podman,
                        containers,
                    }
                }
                Err(e) => {
                    if podman_explicit && !podman_warned {
                        tracing::warn!("{e}; retrying");
                        podman_warned = true;
                    } else {
                        tracing::debug!("{e}");
                    }
                    Update::Unreachable(RuntimeName::Podman)
                }
            };
            if actor.tell(update).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(SCAN_PERIOD) => {}
            () = rescan.notified() => {}
        }
    }
}

/// What the handles share; dropping the last one stops the actor.
struct Shared {
    actor: ActorRef<ContainersActor>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    events: broadcast::Sender<ContainerEvent>,
    node_name: String,
    proc_root: PathBuf,
    rescan: Arc<Notify>,
    negative: Mutex<HashMap<u64, Instant>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.actor.kill();
    }
}

/// A cheap, cloneable handle on the containers actor.
#[derive(Clone)]
pub struct ContainersHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ContainersHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snap = self.snapshot();
        f.debug_struct("ContainersHandle")
            .field("node_name", &self.shared.node_name)
            .field("generation", &snap.generation)
            .field("containers", &snap.by_mntns.len())
            .finish()
    }
}

/// Starts the containers actor and its sources (call inside a tokio runtime).
pub fn spawn(config: ContainersConfig) -> ContainersHandle {
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (events, _) = broadcast::channel(1024);
    let rescan = Arc::new(Notify::new());
    let (answered_tx, answered_rx) = oneshot::channel();
    let node_name = config.node_name.clone();
    let proc_root = config.proc_root.clone();
    let actor = ContainersActor::spawn(ContainersActor {
        config: Arc::new(config),
        tables: HashMap::new(),
        listed: HashSet::new(),
        published: HashMap::new(),
        snapshot: snapshot_tx,
        events: events.clone(),
        rescan: rescan.clone(),
        containerd_answered: Some(answered_tx),
        first_scan_gate: Some(answered_rx),
        tasks: Vec::new(),
    });
    ContainersHandle {
        shared: Arc::new(Shared {
            actor,
            snapshot: snapshot_rx,
            events,
            node_name,
            proc_root,
            rescan,
            negative: Mutex::new(HashMap::new()),
        }),
    }
}

impl ContainersHandle {
    /// The current snapshot (a cheap `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.borrow().clone()
    }

    /// A receiver that sees every new snapshot.
    pub fn watch(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.shared.snapshot.clone()
    }

    /// Deltas from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.shared.events.subscribe()
    }

    /// Waits until every enabled runtime was listed once (or found unreachable), at most
    /// `bound`; returns whether that happened.
    pub async fn wait_synced(&self, bound: Duration) -> bool {
        let mut rx = self.watch();
        matches!(tokio::time::timeout(bound, rx.wait_for(|s| s.synced)).await, Ok(Ok(_)))
    }

    /// The node name for `k8s.node`.
    pub fn node_name(&self) -> &str {
        &self.shared.node_name
    }

    /// The container of a mount namespace, also one no runtime reported: a process in it is
    /// found under `/proc`, its cgroup names a container id, and an unknown id becomes a
    /// [`RuntimeName::Unknown`] container. `None` for the host (remembered for a few seconds).
    pub async fn resolve_mntns(&self, mntns: u64) -> Option<Arc<Container>> {
        let snap = self.snapshot();
        if let Some(c) = snap.by_mntns(mntns) {
            return Some(c.clone());
        }
        {
            let mut negative = self.shared.negative.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            negative.retain(|_, t| now.duration_since(*t) < NEGATIVE_TTL);
            if negative.contains_key(&mntns) {
                return None;
            }
        }
        let mut namespaces: Vec<String> = WELL_KNOWN_NAMESPACES.iter().map(|s| (*s).to_owned()).collect();
        namespaces.extend(
            snap.by_mntns
                .values()
                .map(|c| c.runtime_namespace.clone())
                .filter(|n| !n.is_empty()),
        );
        let proc_root = self.shared.proc_root.clone();
        let found = tokio::task::spawn_blocking(move || {
            let pid = procfs::process_in_mntns(&proc_root, mntns)?;
            let mut ns: Vec<&str> = namespaces.iter().map(String::as_str).collect();
            if procfs::under_monitor(&proc_root, pid) {
                ns.push("*");
            }
            let id = procfs::container_id_of(&proc_root, pid, &ns)?;
            let netns = procfs::ns_inode(&proc_root, pid, "net").unwrap_or(0);
            Some((pid, id, netns))
        })
        .await
        .ok()
        .flatten();
        let Some((pid, id, netns)) = found else {
            self.shared
                .negative
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(mntns, Instant::now());
            return None;
        };
        // A runtime's state may name it on the next pass, and containerd's event for a new
        // task may be a moment behind its first process: wait a little before it is Unknown.
        self.shared.rescan.notify_one();
        let mut rx = self.watch();
        let named = |s: &Snapshot| {
            s.by_mntns(mntns)
                .or_else(|| s.by_mntns.values().find(|c| c.id == id))
                .cloned()
        };
        let reported = match tokio::time::timeout(NAME_WAIT, rx.wait_for(|s| named(s).is_some())).await {
            Ok(Ok(snap)) => named(&snap),
            _ => None,
        };
        if reported.is_some() {
            return reported;
        }
        let container = Container {
            name: id.clone(),
            id,
            runtime: RuntimeName::Unknown,
            runtime_namespace: String::new(),
            image_name: String::new(),
            image_digest: String::new(),
            pid,
            mntns,
            netns,
            labels: Default::default(),
            k8s: Default::default(),
            exited_at: None,
        };
        let fallback = Arc::new(container.clone());
        if self.shared.actor.ask(Update::AddUnknown(container)).await.is_err() {
            return Some(fallback);
        }
        Some(self.snapshot().by_mntns(mntns).cloned().unwrap_or(fallback))
    }

    /// Stops the actor and its sources, waiting at most a second.
    pub async fn shutdown(&self) {
        let actor = &self.shared.actor;
        if actor.stop_gracefully().await.is_err() {
            return;
        }
        if tokio::time::timeout(Duration::from_secs(1), actor.wait_for_shutdown())
            .await
            .is_err()
        {
            actor.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, runtime: RuntimeName, mntns: u64) -> Container {
        Container {
            id: id.to_owned(),
            name: id.to_owned(),
            runtime,
            runtime_namespace: String::new(),
            image_name: String::new(),
            image_digest: String::new(),
            pid: 1,
            mntns,
            netns: mntns + 1,
            labels: Default::default(),
            k8s: Default::default(),
            exited_at: None,
        }
    }

    async fn send(h: &ContainersHandle, u: Update) {
        h.shared.actor.ask(u).await.expect("actor alive");
    }

    fn listed(runtime: RuntimeName, containers: Vec<Container>) -> Update {
        Update::Listed { runtime, containers }
    }

    #[tokio::test]
    async fn merges_runtimes_sends_deltas_and_keeps_exited_for_the_grace() {
        let config = ContainersConfig {
            runtimes: vec![RuntimeName::Runc],
            runc_roots: vec![],
            ..Default::default()
        };
        let h = spawn(config);
        let mut events = h.subscribe();
        assert!(h.wait_synced(Duration::from_secs(5)).await, "an empty runc scan syncs");
        let g0 = h.snapshot().generation;

        // runc sees "a" first, then containerd reports it: one container, containerd's record.
        send(&h, listed(RuntimeName::Runc, vec![container("a", RuntimeName::Runc, 10)])).await;
        send(&h, Update::Started(container("a", RuntimeName::Containerd, 10))).await;
        let snap = h.snapshot();
        assert!(snap.generation > g0);
        assert_eq!(snap.running().len(), 1, "{:?}", snap.running());
        assert_eq!(snap.by_mntns(10).map(|c| c.runtime), Some(RuntimeName::Containerd));
        assert_eq!(snap.by_netns.get(&11).map(|c| c.id.as_str()), Some("a"));
        assert!(matches!(events.try_recv(), Ok(ContainerEvent::Added(c)) if c.id == "a"));
        assert!(events.try_recv().is_err(), "no second Added for the same container");

        // Its exit: a Removed delta, and it still resolves, marked exited.
        send(
            &h,
            Update::Exited {
                runtime: RuntimeName::Containerd,
                id: "a".into(),
            },
        )
        .await;
        assert!(matches!(events.try_recv(), Ok(ContainerEvent::Removed(c)) if c.id == "a" && c.exited_at.is_some()));
        let snap = h.snapshot();
        assert!(snap.running().is_empty());
        assert!(snap.by_mntns(10).is_some_and(|c| c.exited_at.is_some()));

        // A listing without "b" ends "b"; an unchanged listing publishes nothing new.
        send(&h, listed(RuntimeName::Crun, vec![container("b", RuntimeName::Crun, 20)])).await;
        let g = h.snapshot().generation;
        send(&h, listed(RuntimeName::Crun, vec![container("b", RuntimeName::Crun, 20)])).await;
        assert_eq!(h.snapshot().generation, g, "nothing changed, nothing published");
        send(&h, listed(RuntimeName::Crun, vec![])).await;
        assert!(h.snapshot().by_mntns(20).is_some_and(|c| c.exited_at.is_some()));
        h.shutdown().await;
        assert!(!h.shared.actor.is_alive());
    }
}
