//! In-kernel container selection: the container hook and the keeper of a run's filter map.
//!
//! When a run selects containers (`-c web`, `-l app=cart`, `--host=false`), its gadget is loaded
//! with `gadget_filter_by_mntns = true`, so the kernel drops every event whose mount namespace is
//! not in the gadget's `gadget_mntns_filter_map`. [`ContainerFilter::load`] first loads rig's
//! container hook (`gadgets/helpers/container_hook`), which creates that map, pinned in a
//! private bpffs mount so the gadget, loaded next, opens the same map instead of its own. The
//! pin is removed as soon as the gadget holds the map ([`ContainerFilter::unpin`]).
//!
//! The hook inserts every mount namespace that appears during the run as PENDING, in the
//! kernel, before the task that entered it runs on (see the program's comment). The keeper
//! ([`ContainerFilter::keep`]) then reconciles the map with the containers actor's snapshot on
//! every change and every [`RECONCILE_INTERVAL`]: selected containers become SELECTED, every
//! other namespace is removed and marked decided (the hook never admits it again), and a
//! PENDING namespace nobody claims within [`super::enrich::HOLD_BOUND`] is treated as the host's.
//! Exited containers leave the map once the snapshot forgets them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::{Array, HashMap as BpfHashMap, MapData};
use tokio::sync::watch;

use super::selector::Selector;
use super::ContainersHandle;
use crate::compile::{self, CompileError};
use crate::ebpf::load::{self, LoadError, Loaded};
use crate::ebpf::object::{GadgetObject, ObjectError};

/// The map the gadget and the hook share.
pub const FILTER_MAP: &str = "gadget_mntns_filter_map";
/// The gadget's switch that turns the filter on.
pub const FILTER_SWITCH: &str = "gadget_filter_by_mntns";
/// How often the keeper reconciles without a snapshot change.
pub const RECONCILE_INTERVAL: Duration = Duration::from_millis(100);

/// Filter-map values (the gadget only tests presence).
const SELECTED: u32 = 1;
const PENDING: u32 = 2;
const HOST: u32 = 3;

/// Why the container filter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The hook program could not be built.
    #[error("container hook: {0}")]
    Compile(#[from] CompileError),
    /// The hook's object is malformed (a build bug).
    #[error("container hook: {0}")]
    Object(#[from] ObjectError),
    /// The hook could not be loaded or attached.
    #[error("container hook: {0}")]
    Load(#[from] LoadError),
    /// The private bpffs could not be mounted.
    #[error("cannot mount a bpffs at {path} (needed to share the container filter map): {source}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A map of the hook is missing or of the wrong type.
    #[error("container hook: map {map}: {reason}")]
    Map {
        /// The map.
        map: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The gadget has no `gadget_mntns_filter_map`, so containers cannot be selected in the
    /// kernel.
    #[error(
        "gadget has no {FILTER_MAP} (it does not include <gadget/mntns_filter.h>), so {what} cannot be applied"
    )]
    NoFilterMap {
        /// The selection asked for.
        what: String,
    },
}

/// A private bpffs mount holding one pin (the map `map`); unmounted and removed on drop. The
/// socket enricher shares its map with the gadget the same way.
#[derive(Debug)]
pub(crate) struct PinDir {
    dir: PathBuf,
    map: &'static str,
    mounted: bool,
}

impl PinDir {
    /// Mounts a fresh bpffs for a pin of `map`; the error names the directory.
    pub(crate) fn mount(map: &'static str) -> Result<Self, (PathBuf, std::io::Error)> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rig-bpffs-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| (dir.clone(), e))?;
        let mut pins = PinDir {
            dir,
            map,
            mounted: false,
        };
        let target = std::ffi::CString::new(pins.dir.as_os_str().as_encoded_bytes())
            .map_err(|e| (pins.dir.clone(), std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
        let rc = unsafe { libc::mount(c"bpf".as_ptr(), target.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) };
        if rc != 0 {
            return Err((pins.dir.clone(), std::io::Error::last_os_error()));
        }
        pins.mounted = true;
        Ok(pins)
    }

    /// Where the map is (to be) pinned.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(self.map)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
        if self.mounted
            && let Ok(target) = std::ffi::CString::new(self.dir.as_os_str().as_encoded_bytes())
        {
            // SAFETY: a valid NUL-terminated path; MNT_DETACH never blocks.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The host's mount namespace: PID 1's (also right when rig runs in a container with the host's
/// PID namespace), else rig's own when PID 1's cannot be read (a sandbox that hides it).
pub fn host_mntns() -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    ["/proc/1/ns/mnt", "/proc/self/ns/mnt"]
        .iter()
        .find_map(|p| std::fs::metadata(p).ok().map(|m| m.ino()))
        .unwrap_or(0)
}

/// The container hook of one run and the map it shares with the gadget.
pub struct ContainerFilter {
    /// The attached hook: dropping it detaches the programs.
    _hook: Loaded,
    filter: BpfHashMap<MapData, u64, u32>,
    decided: BpfHashMap<MapData, u64, u8>,
    admitted: Array<MapData, u64>,
    pins: Option<PinDir>,
    host_mntns: u64,
}

/// What the keeper did, for the run's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterReport {
    /// Mount namespaces the hook admitted in the kernel as they appeared.
    pub admitted: u64,
    /// Containers selected at some point.
    pub selected: u64,
}

fn take<T>(hook: &mut Loaded, map: &'static str) -> Result<T, FilterError>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let m = hook.ebpf.take_map(map).ok_or(FilterError::Map {
        map,
        reason: "not in the hook's object".into(),
    })?;
    T::try_from(m).map_err(|e| FilterError::Map {
        map,
        reason: load::chain(&e),
    })
}

impl std::fmt::Debug for ContainerFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerFilter").field("host_mntns", &self.host_mntns).finish()
    }
}

impl ContainerFilter {
    /// Builds, loads and attaches the container hook; the filter map it creates is pinned at
    /// [`ContainerFilter::pin_path`] until [`ContainerFilter::unpin`].
    pub fn load(host_mntns: u64) -> Result<Self, FilterError> {
        let obj_path = compile::helper("container_hook")?;
        let bytes = std::fs::read(&obj_path).map_err(|source| CompileError::Io {
            path: obj_path.display().to_string(),
            source,
        })?;
        let object = GadgetObject::parse_helper(bytes, &obj_path.display().to_string())?;
        let pins = PinDir::mount(FILTER_MAP).map_err(|(path, source)| FilterError::Mount { path, source })?;
        let pin = pins.path();
        let mut params = std::collections::BTreeMap::new();
        params.insert("rig_host_mntns".to_owned(), host_mntns.to_le_bytes().to_vec());
        let mut hook = load::load_pinned(&object, &params, &[(FILTER_MAP, pin.as_path())])?;
        let filter = take(&mut hook, FILTER_MAP)?;
        let decided = take(&mut hook, "rig_mntns_decided")?;
        let admitted = take(&mut hook, "rig_admitted")?;
        Ok(ContainerFilter {
            _hook: hook,
            filter,
            decided,
            admitted,
            pins: Some(pins),
            host_mntns,
        })
    }

}

/// Keeps one run's filter map in line with the containers actor's snapshot.
#[derive(Debug)]
pub struct Keeper {
    filter: ContainerFilter,
    selector: Arc<Selector>,
    selected: HashSet<u64>,
    pending_since: HashMap<u64, Instant>,
    warned: bool,
    ever_selected: HashSet<u64>,
}

impl Keeper {
    /// A keeper of `filter` for `selector`.
    pub fn new(filter: ContainerFilter, selector: Arc<Selector>) -> Self {
        Keeper {
            filter,
            selector,
            selected: HashSet::new(),
            pending_since: HashMap::new(),
            warned: false,
            ever_selected: HashSet::new(),
        }
    }

    /// Where the filter map is pinned, for the gadget's loader.
    pub fn pin_path(&self) -> Option<PathBuf> {
        self.filter.pins.as_ref().map(PinDir::path)
    }

    /// Removes the pin and the private bpffs (the gadget and the hook keep the map open).
    pub fn unpin(&mut self) {
        self.filter.pins = None;
    }

    /// Reconciles on every snapshot change and every [`RECONCILE_INTERVAL`] until `stop` turns
    /// true; the hook is detached when this returns.
    pub async fn run(mut self, handle: ContainersHandle, mut stop: watch::Receiver<bool>) -> FilterReport {
        self.unpin();
        let mut snapshots = handle.watch();
        let mut tick = tokio::time::interval(RECONCILE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.reconcile(&handle);
            let mut actor_gone = false;
            tokio::select! {
                r = stop.changed() => if r.is_err() { break },
                r = snapshots.changed() => actor_gone = r.is_err(),
                _ = tick.tick() => {}
            }
            if *stop.borrow() {
                break;
            }
            if actor_gone {
                tick.tick().await;
            }
        }
        FilterReport {
            admitted: self.filter.admitted.get(&0, 0).unwrap_or(0),
            selected: self.ever_selected.len() as u64,
        }
    }

    fn set(&mut self, mntns: u64, value: u32) {
        let f = &mut self.filter;
        if f.filter.get(&mntns, 0).ok() != Some(value)
            && let Err(e) = f.filter.insert(&mntns, &value, 0)
        {
            tracing::warn!(mntns, "cannot add a mount namespace to the container filter: {}", load::chain(&e));
        }
        let _ = f.decided.insert(&mntns, &1, 0);
    }

    fn reject(&mut self, mntns: u64) {
        let f = &mut self.filter;
        let _ = f.decided.insert(&mntns, &0, 0);
        let _ = f.filter.remove(&mntns);
        self.selected.remove(&mntns);
    }

    /// One reconciliation against the actor's current snapshot.
    pub fn reconcile(&mut self, handle: &ContainersHandle) {
        let snap = handle.snapshot();
        let host = self.filter.host_mntns;
        let mut want = HashSet::new();
        if self.selector.host && host != 0 {
            want.insert(host);
        }
        let mut matched = 0;
        for c in snap.by_mntns.values() {
            if c.mntns == 0 {
                continue;
            }
            if self.selector.matches(c) {
                want.insert(c.mntns);
                if c.exited_at.is_none() {
                    matched += 1;
                }
            } else {
                self.reject(c.mntns);
            }
        }
        for m in &want {
            self.set(*m, SELECTED);
            self.selected.insert(*m);
            self.ever_selected.insert(*m);
        }
        let gone: Vec<u64> = self.selected.iter().filter(|m| !want.contains(m)).copied().collect();
        for m in gone {
            self.reject(m);
        }
        // Namespaces the hook admitted that no container claims (yet).
        let pending: Vec<u64> = self
            .filter
            .filter
            .iter()
            .filter_map(Result::ok)
            .filter(|(m, v)| *v == PENDING && !want.contains(m) && !snap.by_mntns.contains_key(m))
            .map(|(m, _)| m)
            .collect();
        let now = Instant::now();
        self.pending_since.retain(|m, _| pending.contains(m));
        for m in pending {
            let since = *self.pending_since.entry(m).or_insert_with(|| {
                let h = handle.clone();
                tokio::spawn(async move { h.resolve_mntns(m).await });
                now
            });
            if now.duration_since(since) >= super::enrich::HOLD_BOUND {
                // Nobody claimed it: a host process with a mount namespace of its own.
                if self.selector.host {
                    self.set(m, HOST);
                } else {
                    self.reject(m);
                }
                self.pending_since.remove(&m);
            }
        }
        if self.selector.has_container_criteria() && matched == 0 && snap.synced && !self.warned {
            self.warned = true;
            tracing::warn!(
                "no running container matches {}: waiting for one to start",
                self.selector.describe()
            );
        }
    }
}

/// True when a gadget object can be filtered in the kernel.
pub fn has_filter_map(object: &GadgetObject) -> bool {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
    let Ok(elf) = object::File::parse(&*object.bytes) else {
        return false;
    };
    elf.symbols().any(|sym| {
        sym.name() == Ok(FILTER_MAP)
            && sym
                .section_index()
                .and_then(|i| elf.section_by_index(i).ok())
                .is_some_and(|sec| sec.name() == Ok(".maps"))
    })
}

