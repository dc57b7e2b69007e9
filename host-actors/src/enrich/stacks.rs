//! Stack ids to symbolised frames: the stage that fills `kstack` and `ustack.symbols`.
//!
//! A gadget records a stack with `bpf_get_stackid` into its `ig_kstack` (kernel) or `ig_ustack`
//! (user) stack-trace map and sends only the id. The layout gave each stack field a derived text
//! companion (`kstack_raw` → `kstack`; `struct gadget_user_stack ustack` → `ustack.addresses`,
//! `ustack.symbols`); this stage reads the stack by id from the map and writes, as IG does, one
//! `frame; ` per frame (`__x64_sys_openat; do_syscall_64; `, user addresses as `0x%016x; `).
//!
//! The words: a [`StackStage`] is built from the schema before the gadget is loaded (the graph
//! starts first); its [`StackMaps`] handle is filled from the loaded object right after load
//! ([`StackMaps::fill`]), taking the two maps out of it, so the stage keeps reading them while the
//! graph drains after the gadget was detached. Until then, and for a map the object lacks, the
//! fields stay empty. Kernel frames come from `/proc/kallsyms` ([`KernelSymbols`]); user frames
//! from the ELF symbols of the live process through `blazesym` (`/proc/PID/maps` and
//! `map_files`, no DWARF, nothing downloaded): a process that exited before its batch was
//! formatted keeps its addresses but loses its names (`0x…`). A stack id is stable for the
//! lifetime of the map (the ABI never deletes), so texts are cached by id.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use aya::maps::{MapData, StackTraceMap};
use rig_kernel::graph::{Stage, StageError};
use rig_kernel::{Batch, FieldId, Schema, Special, Value};

use super::kallsyms::KernelSymbols;
use super::symbolizer::UserSymbolizer;

/// The kernel stack map of IG's `gadget/kernel_stack_map.h`.
pub const KERNEL_STACK_MAP: &str = "ig_kstack";
/// The user stack map of IG's `gadget/user_stack_map.h`.
pub const USER_STACK_MAP: &str = "ig_ustack";

/// Most cached stack texts per kind before the cache is cleared.
const CACHE_LIMIT: usize = 8192;

/// Why the stack maps could not be taken from the loaded gadget.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The datasource has a stack field but the object has no map to read it from.
    #[error(
        "datasource {datasource} has a {kind} stack field but the gadget has no {map} map \
         (include <gadget/{header}> and record stacks with its helper)"
    )]
    NoMap {
        /// The datasource.
        datasource: String,
        /// `kernel` or `user`.
        kind: &'static str,
        /// The map's name.
        map: &'static str,
        /// The header that declares it.
        header: &'static str,
    },
    /// The map exists but is not a stack-trace map.
    #[error("map {map} of datasource {datasource} is not a stack-trace map: {source}")]
    NotStackMap {
        /// The datasource.
        datasource: String,
        /// The map's name.
        map: &'static str,
        /// aya's reason.
        #[source]
        source: aya::maps::MapError,
    },
}

#[derive(Default)]
struct Maps {
    kernel: Option<StackTraceMap<MapData>>,
    user: Option<StackTraceMap<MapData>>,
}

/// The stack maps a [`StackStage`] reads, filled once the gadget is loaded.
#[derive(Clone)]
pub struct StackMaps {
    datasource: String,
    kernel: bool,
    user: bool,
    maps: Arc<Mutex<Maps>>,
}

impl std::fmt::Debug for StackMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackMaps")
            .field("kernel", &self.kernel)
            .field("user", &self.user)
            .finish()
    }
}

impl StackMaps {
    /// Takes `ig_kstack` / `ig_ustack` (those the schema needs) out of the loaded object. A
    /// missing map is an error naming the header that declares it; the other map is still taken.
    pub fn fill(&self, ebpf: &mut aya::Ebpf) -> Result<(), StackError> {
        let mut first_error = None;
        let mut maps = Maps::default();
        let wanted = [
            (self.kernel, KERNEL_STACK_MAP, "kernel", "kernel_stack_map.h"),
            (self.user, USER_STACK_MAP, "user", "user_stack_map.h"),
        ];
        for (want, map, kind, header) in wanted {
            if !want {
                continue;
            }
            let taken = match ebpf.take_map(map) {
                None => Err(StackError::NoMap {
                    datasource: self.datasource.clone(),
                    kind,
                    map,
                    header,
                }),
                Some(m) => StackTraceMap::try_from(m).map_err(|source| StackError::NotStackMap {
                    datasource: self.datasource.clone(),
                    map,
                    source,
                }),
            };
            match (taken, kind) {
                (Ok(m), "kernel") => maps.kernel = Some(m),
                (Ok(m), _) => maps.user = Some(m),
                (Err(e), _) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        *self.maps.lock().unwrap_or_else(PoisonError::into_inner) = maps;
        first_error.map_or(Ok(()), Err)
    }
}

/// A user stack's text fields and the members they read.
#[derive(Debug, Clone, Copy)]
struct UserJob {
    addresses: Option<FieldId>,
    symbols: Option<FieldId>,
    stack_id: FieldId,
    pid: Option<FieldId>,
    inode: Option<FieldId>,
}

/// Fills kernel and user stack texts (see the module docs).
pub struct StackStage {
    maps: StackMaps,
    /// (text field, stack id field).
    kernel: Vec<(FieldId, FieldId)>,
    user: Vec<UserJob>,
    ksyms: Option<KernelSymbols>,
    kcache: HashMap<u32, Arc<str>>,
    ucache: HashMap<(u32, u32), (Arc<str>, Arc<str>)>,
    /// Started on the first user stack.
    symbolizer: Option<UserSymbolizer>,
    lost: u64,
}

impl std::fmt::Debug for StackStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackStage")
            .field("kernel", &self.kernel.len())
            .field("user", &self.user.len())
            .finish()
    }
}

/// The jobs of a schema: kernel (text, id) pairs and user stacks grouped by struct.
fn plan(schema: &Schema) -> (Vec<(FieldId, FieldId)>, Vec<UserJob>) {
    let mut kernel = Vec::new();
    let mut user: Vec<UserJob> = Vec::new();
    for id in schema.ids() {
        let f = schema.field(id);
        let Some(d) = &f.derived else { continue };
        match d.special {
            Special::KernelStack => kernel.push((id, d.source)),
            Special::UserStack => {
                let Some((group, member)) = f.name.rsplit_once('.') else {
                    continue;
                };
                let sibling = |names: &[&str]| names.iter().find_map(|n| schema.find(&format!("{group}.{n}")));
                let job = match user.iter_mut().find(|j| j.stack_id == d.source) {
                    Some(j) => j,
                    None => {
                        user.push(UserJob {
                            addresses: None,
                            symbols: None,
                            stack_id: d.source,
                            pid: sibling(&["tgid_level0", "pid_level0"]),
                            inode: sibling(&["inode", "exe_inode"]),
                        });
                        let last = user.len() - 1;
                        &mut user[last]
                    }
                };
                match member {
                    "addresses" => job.addresses = Some(id),
                    "symbols" => job.symbols = Some(id),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    (kernel, user)
}

fn as_u64(v: Value<'_>) -> u64 {
    match v {
        Value::U64(v) => v,
        Value::I64(v) => v as u64,
        _ => 0,
    }
}

impl StackStage {
    /// A stage for `schema` and the handle to fill once the gadget is loaded; `None` when the
    /// schema has no stack field.
    pub fn for_schema(schema: &Schema) -> Option<(StackStage, StackMaps)> {
        let (kernel, user) = plan(schema);
        if kernel.is_empty() && user.is_empty() {
            return None;
        }
        let maps = StackMaps {
            datasource: schema.datasource.clone(),
            kernel: !kernel.is_empty(),
            user: !user.is_empty(),
            maps: Arc::default(),
        };
        let stage = StackStage {
            maps: maps.clone(),
            kernel,
            user,
            ksyms: None,
            kcache: HashMap::new(),
            ucache: HashMap::new(),
            symbolizer: None,
            lost: 0,
        };
        Some((stage, maps))
    }

    fn kernel_text(&mut self, map: &StackTraceMap<MapData>, id: u32) -> Option<Arc<str>> {
        if let Some(t) = self.kcache.get(&id) {
            return Some(t.clone());
        }
        let stack = map.get(&id, 0).ok()?;
        let ksyms = self.ksyms.get_or_insert_with(|| {
            KernelSymbols::load().unwrap_or_else(|e| {
                tracing::warn!("kernel stacks are shown as [unknown]: {e}");
                KernelSymbols::default()
            })
        });
        let mut text = String::new();
        for frame in stack.frames() {
            text.push_str(ksyms.lookup(frame.ip));
            text.push_str("; ");
        }
        let text: Arc<str> = text.into();
        if self.kcache.len() >= CACHE_LIMIT {
            self.kcache.clear();
        }
        self.kcache.insert(id, text.clone());
        Some(text)
    }

    fn user_text(&mut self, map: &StackTraceMap<MapData>, id: u32, pid: u32) -> Option<(Arc<str>, Arc<str>)> {
        use std::fmt::Write as _;
        if let Some(t) = self.ucache.get(&(pid, id)) {
            return Some(t.clone());
        }
        let stack = map.get(&id, 0).ok()?;
        let ips: Vec<u64> = stack.frames().iter().map(|f| f.ip).collect();
        let mut addresses = String::new();
        for ip in &ips {
            let _ = write!(addresses, "0x{ip:016x}; ");
        }
        if self.symbolizer.is_none() {
            self.symbolizer = UserSymbolizer::start()
                .map_err(|e| tracing::warn!("user stacks are shown as addresses: {e}"))
                .ok();
        }
        let syms = self
            .symbolizer
            .as_ref()
            .map_or_else(Vec::new, |s| s.symbolize(pid, &ips));
        let mut symbols = String::new();
        for (i, ip) in ips.iter().enumerate() {
            match syms.get(i) {
                Some(Some(name)) => symbols.push_str(name),
                _ => {
                    let _ = write!(symbols, "0x{ip:x}");
                }
            }
            symbols.push_str("; ");
        }
        let texts = (Arc::<str>::from(addresses), Arc::<str>::from(symbols));
        if self.ucache.len() >= CACHE_LIMIT {
            self.ucache.clear();
        }
        self.ucache.insert((pid, id), texts.clone());
        Some(texts)
    }
}

impl Stage for StackStage {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        (self.kernel, self.user) = plan(input);
        Ok(input.clone())
    }

    fn process(&mut self, mut batch: Batch) -> Result<Option<Batch>, StageError> {
        let shared = self.maps.maps.clone();
        let maps = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let kernel_jobs = std::mem::take(&mut self.kernel);
        let user_jobs = std::mem::take(&mut self.user);
        for row in 0..batch.len() {
            if let Some(map) = &maps.kernel {
                for &(text, source) in &kernel_jobs {
                    let id = as_u64(batch.value(row, source)) as u32;
                    match self.kernel_text(map, id) {
                        Some(t) => batch.set_heap(row, text, t.as_bytes()),
                        None => self.lost += 1,
                    }
                }
            }
            if let Some(map) = &maps.user {
                for job in &user_jobs {
                    // No executable inode: the gadget collected no user stack for this event.
                    if job.inode.is_some_and(|i| as_u64(batch.value(row, i)) == 0) {
                        continue;
                    }
                    let id = as_u64(batch.value(row, job.stack_id)) as u32;
                    let pid = job.pid.map_or(0, |p| as_u64(batch.value(row, p)) as u32);
                    let Some((addresses, symbols)) = self.user_text(map, id, pid) else {
                        self.lost += 1;
                        continue;
                    };
                    if let Some(f) = job.addresses {
                        batch.set_heap(row, f, addresses.as_bytes());
                    }
                    if let Some(f) = job.symbols {
                        batch.set_heap(row, f, symbols.as_bytes());
                    }
                }
            }
        }
        self.kernel = kernel_jobs;
        self.user = user_jobs;
        Ok(Some(batch))
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([("stacks_not_found".to_owned(), self.lost)])
    }
}
