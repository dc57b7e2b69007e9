//! Map iterators (`GADGET_MAPITER(name, map)`): a hash map drained into one batch per fetch.
//!
//! IG's semantics, kept here: every `--map-fetch-interval` (default [`DEFAULT_INTERVAL`]) the map
//! is read *and emptied* with `BPF_MAP_LOOKUP_AND_DELETE_BATCH`, so each fetch holds what the
//! programs counted since the previous one; the entries of one fetch become the rows of one
//! batch (several when there are more than [`super::source::MAX_BATCH_ROWS`]), each row the key
//! struct followed by the value struct, their members flattened under their own names. After
//! `--map-fetch-count` fetches (0: unlimited) the datasource is complete. An interval of 0 means
//! no periodic fetch at all: with a count of 1 the map is fetched once right away, otherwise only
//! when the run stops — and then only when the datasource is annotated
//! `ebpf.map.flush-on-stop: true` (advise_seccomp), as in IG.
//!
//! The map's key and value types come from its BTF definition in `.maps` (`__type(key, struct
//! k)` is a pointer to `struct k`), and must be structs whose sizes are the map's.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Duration;

use aya::maps::{Map, MapData};
use rig_kernel::{Batch, Schema};
use tokio::sync::watch;

use super::btf::{Btf, BtfKind};
use super::source::{Emitter, MAX_BATCH_ROWS, SourceStats};

/// IG's default `--map-fetch-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(1000);
/// The datasource annotation that asks for a last fetch when the run stops.
pub const FLUSH_ON_STOP: &str = "ebpf.map.flush-on-stop";
/// `BPF_MAP_TYPE_HASH`.
pub const MAP_TYPE_HASH: u32 = 1;
/// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
pub const MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
/// `BPF_MAP_TYPE_LRU_HASH`.
pub const MAP_TYPE_LRU_HASH: u32 = 9;
/// `BPF_MAP_TYPE_RINGBUF`.
pub const MAP_TYPE_RINGBUF: u32 = 27;
/// `BPF_MAP_LOOKUP_AND_DELETE_BATCH`.
const LOOKUP_AND_DELETE_BATCH: libc::c_long = 25;
/// Entries asked for per batch call (doubled when a hash bucket holds more).
const FIRST_CHUNK: u32 = 256;
/// Most entries one batch call may be asked for.
const MAX_CHUNK: u32 = 1 << 16;

/// What a BTF map definition in `.maps` declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapDef {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: Option<u32>,
    /// The key's type id (what `key` points to).
    pub key: Option<u32>,
    /// The value's type id.
    pub value: Option<u32>,
}

/// Reads the definition of the BTF-defined map `map` (`None`: not in `.maps`).
pub fn map_def(btf: &Btf, map: &str) -> Option<MapDef> {
    if !btf.datasec_vars(".maps").contains(&map) {
        return None;
    }
    let (_, ty) = btf.vars().find(|(n, _)| *n == map)?;
    let (sid, _) = btf.resolve(ty).ok()?;
    let BtfKind::Struct { members, .. } = &btf.get(sid).kind else {
        return None;
    };
    let target = |name: &str| {
        let m = members.iter().find(|m| m.name == name)?;
        let (ptr, _) = btf.resolve(m.type_id).ok()?;
        btf.pointee(ptr)
    };
    let map_type = target("type").and_then(|a| match btf.get(a).kind {
        BtfKind::Array { len, .. } => Some(len),
        _ => None,
    });
    Some(MapDef {
        map_type,
        key: target("key"),
        value: target("value"),
    })
}

/// Why a map iterator cannot be set up or read.
#[derive(Debug, thiserror::Error)]
pub enum MapIterError {
    /// The map is not a BTF-defined map of the object.
    #[error("GADGET_MAPITER({datasource}, {map}): the object has no BTF-defined map {map} in .maps")]
    NoMap {
        /// The datasource.
        datasource: String,
        /// The map.
        map: String,
    },
    /// The map is not a hash map.
    #[error("GADGET_MAPITER({datasource}, {map}): map {map} is not a hash map (BPF_MAP_TYPE_{found})")]
    NotHash {
        /// The datasource.
        datasource: String,
        /// The map.
        map: String,
        /// Its type number, or `?`.
        found: String,
    },
    /// The key or value is not a named struct.
    #[error("GADGET_MAPITER({datasource}, {map}): the map's {what} is not a named struct ({found})")]
    NotStruct {
        /// The datasource.
        datasource: String,
        /// The map.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// What it is instead.
        found: String,
    },
    /// The map is missing from the loaded object.
    #[error("GADGET_MAPITER({datasource}, {map}): map {map} was not loaded")]
    NotLoaded {
        /// The datasource.
        datasource: String,
        /// The map.
        map: String,
    },
    /// The batch lookup-and-delete failed.
    #[error("fetching map {map}: BPF_MAP_LOOKUP_AND_DELETE_BATCH: {source}")]
    Fetch {
        /// The map.
        map: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The key and value struct names of a map iterator, checked as IG checks them.
pub fn key_value_structs(btf: &Btf, datasource: &str, map: &str) -> Result<(String, String), MapIterError> {
    let def = map_def(btf, map).ok_or_else(|| MapIterError::NoMap {
        datasource: datasource.to_owned(),
        map: map.to_owned(),
    })?;
    if !matches!(def.map_type, Some(MAP_TYPE_HASH | MAP_TYPE_LRU_HASH)) {
        return Err(MapIterError::NotHash {
            datasource: datasource.to_owned(),
            map: map.to_owned(),
            found: def.map_type.map_or_else(|| "?".to_owned(), |t| t.to_string()),
        });
    }
    let name = |what: &'static str, id: Option<u32>| {
        let resolved = id.and_then(|i| btf.resolve(i).ok()).map(|(b, _)| b);
        match resolved.map(|b| btf.get(b)) {
            Some(t) if matches!(t.kind, BtfKind::Struct { union: false, .. }) && !t.name.is_empty() => {
                Ok(t.name.clone())
            }
            other => Err(MapIterError::NotStruct {
                datasource: datasource.to_owned(),
                map: map.to_owned(),
                what,
                found: match (other, resolved) {
                    (Some(_), Some(b)) => btf.describe(b),
                    _ => "not declared with __type".to_owned(),
                },
            }),
        }
    };
    Ok((name("key", def.key)?, name("value", def.value)?))
}

/// How often and how many times to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPlan {
    /// Between fetches (zero: no periodic fetch).
    pub interval: Duration,
    /// Fetches before the datasource is complete (0: unlimited).
    pub count: u64,
    /// Fetch once more when the run stops.
    pub flush_on_stop: bool,
}

/// An open hash map, drained by batch lookup-and-delete.
#[derive(Debug)]
pub struct MapIterSource {
    map: String,
    data: MapData,
    key_size: usize,
    value_size: usize,
}

impl MapIterSource {
    /// Takes the hash map out of the loaded object.
    pub fn open(map_name: &str, datasource: &str, map: Option<Map>, schema: &Schema) -> Result<Self, MapIterError> {
        let data = match map {
            Some(Map::HashMap(d) | Map::LruHashMap(d)) => d,
            Some(_) => {
                return Err(MapIterError::NotHash {
                    datasource: datasource.to_owned(),
                    map: map_name.to_owned(),
                    found: "other".to_owned(),
                });
            }
            None => {
                return Err(MapIterError::NotLoaded {
                    datasource: datasource.to_owned(),
                    map: map_name.to_owned(),
                });
            }
        };
        let info = data.info().ok();
        let key_size = info.as_ref().map_or(0, |i| i.key_size() as usize);
        let value_size = info.as_ref().map_or(0, |i| i.value_size() as usize);
        if key_size + value_size != schema.raw_size as usize {
            // The kernel's sizes rule the copy; fields past them read as zero.
            tracing::warn!(
                map = map_name,
                key_size,
                value_size,
                structs = schema.raw_size,
                "the map's key and value sizes differ from its structs'"
            );
        }
        Ok(Self {
            map: map_name.to_owned(),
            data,
            key_size,
            value_size,
        })
    }

    /// Reads and deletes every entry; each as key bytes then value bytes.
    pub fn fetch(&self, mut each: impl FnMut(&[u8])) -> Result<u64, MapIterError> {
        let (ks, vs) = (self.key_size.max(1), self.value_size.max(1));
        let mut chunk = FIRST_CHUNK;
        let mut keys = vec![0u8; ks * chunk as usize];
        let mut values = vec![0u8; vs * chunk as usize];
        let mut in_batch = vec![0u8; ks.max(8)];
        let mut out_batch = vec![0u8; ks.max(8)];
        let mut first = true;
        let mut row = vec![0u8; ks + vs];
        let mut total = 0u64;
        loop {
            let mut attr = BatchAttr {
                in_batch: if first { 0 } else { in_batch.as_ptr() as u64 },
                out_batch: out_batch.as_mut_ptr() as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: chunk,
                map_fd: self.data.fd().as_fd().as_raw_fd() as u32,
                elem_flags: 0,
                flags: 0,
            };
            // SAFETY: `attr` is a valid `bpf_attr` prefix for the batch commands; every pointer
            // in it points to a live buffer of `count` keys/values (or one batch token) that the
            // kernel writes at most that much into.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    LOOKUP_AND_DELETE_BATCH,
                    &mut attr as *mut BatchAttr,
                    std::mem::size_of::<BatchAttr>(),
                )
            };
            let err = (r < 0).then(std::io::Error::last_os_error);
            let done = matches!(&err, Some(e) if e.raw_os_error() == Some(libc::ENOENT));
            if let Some(e) = err.filter(|_| !done) {
                if e.raw_os_error() == Some(libc::ENOSPC) && chunk < MAX_CHUNK {
                    // One bucket holds more entries than asked for: ask for more.
                    chunk *= 2;
                    keys.resize(ks * chunk as usize, 0);
                    values.resize(vs * chunk as usize, 0);
                    continue;
                }
                return Err(MapIterError::Fetch {
                    map: self.map.clone(),
                    source: e,
                });
            }
            let n = (attr.count.min(chunk)) as usize;
            for i in 0..n {
                row[..ks].copy_from_slice(&keys[i * ks..(i + 1) * ks]);
                row[ks..].copy_from_slice(&values[i * vs..(i + 1) * vs]);
                each(&row);
            }
            total += n as u64;
            if done {
                return Ok(total);
            }
            in_batch.copy_from_slice(&out_batch);
            first = false;
        }
    }
}

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// One fetch: every entry into batches of at most [`MAX_BATCH_ROWS`] rows, sent in order; an
/// empty map still sends one empty batch, so a consumer sees every fetch.
async fn fetch_once(
    src: &MapIterSource,
    schema: &Arc<Schema>,
    out: &Emitter<'_>,
    stats: &mut SourceStats,
) -> Result<(), MapIterError> {
    let mut batches = vec![Batch::with_capacity(schema.clone(), 64)];
    src.fetch(|row| {
        if batches.last().is_some_and(|b| b.len() >= MAX_BATCH_ROWS) {
            batches.push(Batch::with_capacity(schema.clone(), 64));
        }
        if let Some(b) = batches.last_mut() {
            b.push_record(row);
        }
    })?;
    stats.fetches += 1;
    for b in batches {
        stats.events += b.len() as u64;
        stats.batches += 1;
        if !out.send(b).await {
            break;
        }
    }
    Ok(())
}

/// Runs a map iterator until its fetch count is reached or `stop` turns true.
pub async fn run(
    src: MapIterSource,
    plan: FetchPlan,
    schema: &Arc<Schema>,
    out: &Emitter<'_>,
    mut stop: watch::Receiver<bool>,
) -> Result<SourceStats, MapIterError> {
    let mut stats = SourceStats::default();
    if plan.interval.is_zero() && plan.count == 1 {
        fetch_once(&src, schema, out, &mut stats).await?;
        return Ok(stats);
    }
    let mut tick = (!plan.interval.is_zero()).then(|| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + plan.interval, plan.interval);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let stopping = tokio::select! {
            r = stop.wait_for(|v| *v) => { let _ = r; true }
            _ = async { match tick.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } } => false,
        };
        if stopping {
            if plan.flush_on_stop {
                fetch_once(&src, schema, out, &mut stats).await?;
            }
            return Ok(stats);
        }
        fetch_once(&src, schema, out, &mut stats).await?;
        if plan.count > 0 && stats.fetches >= plan.count {
            return Ok(stats);
        }
    }
}
