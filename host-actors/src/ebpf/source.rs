//! The data source of a run: kernel records into batches, batches into the graph.
//!
//! A tracer's ring buffer is drained whenever the kernel wakes the reader (the ABI's buffer
//! helpers only wake it when the ring is a quarter full) and on a short timer otherwise, so no
//! event costs a wake-up of its own. The first events should not wait for that timer: right after
//! attach the ring is drained every [`EARLY_DRAIN_INTERVAL`] until the first record arrives (for
//! at most [`EARLY_WINDOW`]), then every [`DRAIN_INTERVAL`]. Each drain becomes one or more batches of at most
//! [`MAX_BATCH_ROWS`] rows; sending waits while the graph is full, and what the kernel could not
//! store meanwhile is counted in the `gadget_lost_samples` map and reported at the end.
//! Snapshotters run their iterator programs once and emit one batch. Tracers on a perf event
//! array ([`super::perf`]) and map iterators ([`super::mapiter`]) live in their own modules;
//! every source sends through an [`Emitter`], which labels rows with their datasource when a
//! gadget has several.

use std::sync::Arc;
use std::time::Duration;

use aya::maps::{Map, MapData, PerCpuArray, RingBuf};
use rig_kernel::{Batch, FieldId, NodeStats, Pipeline, Schema};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::load::{LoadError, Loaded, chain, run_iter};

/// Rows per batch at most.
pub const MAX_BATCH_ROWS: usize = 512;
/// How often the ring buffer is drained when the kernel did not wake us.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(50);
/// How often it is drained right after attach, until the first record arrives.
pub const EARLY_DRAIN_INTERVAL: Duration = Duration::from_millis(2);
/// How long the early, fast draining lasts at most when no record arrives.
pub const EARLY_WINDOW: Duration = Duration::from_secs(1);

/// Why a source stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The named map is missing or of the wrong type.
    #[error("map {map}: {reason}")]
    Map {
        /// The map.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// Polling the ring buffer failed.
    #[error("reading ring buffer {map}: {source}")]
    Poll {
        /// The map.
        map: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An iterator could not run (boxed: a load error carries the verifier's log).
    #[error(transparent)]
    Iter(Box<LoadError>),
    /// A map iterator could not be set up or read.
    #[error(transparent)]
    MapIter(#[from] super::mapiter::MapIterError),
    /// A perf event array could not be set up or read.
    #[error(transparent)]
    Perf(#[from] super::perf::PerfError),
}

impl From<LoadError> for SourceError {
    fn from(e: LoadError) -> Self {
        Self::Iter(Box::new(e))
    }
}

/// The field that names a row's datasource, added to every datasource of a gadget that has
/// more than one (hidden in columns output, where each datasource prints its own table).
pub const DATASOURCE_FIELD: &str = "datasource";

/// Where a source sends its batches: the datasource's pipeline, filling the
/// [`DATASOURCE_FIELD`] of each row when the schema has one.
#[derive(Debug)]
pub struct Emitter<'a> {
    pipeline: &'a Pipeline,
    label: Option<(FieldId, String)>,
}

impl<'a> Emitter<'a> {
    /// An emitter into `pipeline` for rows of `schema`.
    pub fn new(pipeline: &'a Pipeline, schema: &Schema) -> Self {
        let label = schema
            .find(DATASOURCE_FIELD)
            .filter(|id| schema.field(*id).tags.iter().any(|t| t == DATASOURCE_TAG))
            .map(|id| (id, schema.datasource.clone()));
        Self { pipeline, label }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        self.pipeline
    }

    /// Sends a batch; false when the graph is gone.
    pub async fn send(&self, mut batch: Batch) -> bool {
        if let Some((id, name)) = &self.label {
            for row in 0..batch.len() {
                batch.set_heap(row, *id, name.as_bytes());
            }
        }
        self.pipeline.send(batch).await.is_ok()
    }
}

/// The tag that marks the field [`DATASOURCE_FIELD`] as rig's, not the gadget's.
pub const DATASOURCE_TAG: &str = "rig:datasource";

/// What the source saw.
#[derive(Debug, Clone, Default)]
pub struct SourceStats {
    /// Records read.
    pub events: u64,
    /// Records the kernel dropped because the buffer was full.
    pub lost: u64,
    /// Batches sent.
    pub batches: u64,
    /// Map fetches done (map iterators).
    pub fetches: u64,
}

impl SourceStats {
    /// As a graph node's statistics.
    pub fn node(&self) -> NodeStats {
        self.node_named("source")
    }

    /// As the statistics of the node `node`.
    pub fn node_named(&self, node: &str) -> NodeStats {
        NodeStats {
            node: node.into(),
            batches: self.batches,
            events_in: self.events + self.lost,
            events_out: self.events,
            events_lost: self.lost,
            ..NodeStats::default()
        }
    }
}

/// The kernel's count of records dropped because a buffer was full (one counter per object).
pub fn lost_samples(loaded: &Loaded) -> u64 {
    let Some(map) = loaded.ebpf.map("gadget_lost_samples") else {
        return 0;
    };
    let Ok(arr) = PerCpuArray::<&MapData, u64>::try_from(map) else {
        return 0;
    };
    arr.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(0)
}

/// A tracer's buffer, taken out of the loaded object.
pub enum TracerBuffer {
    /// A ring buffer.
    Ring(AsyncFd<RingBuf<MapData>>),
    /// A perf event array, one buffer per CPU.
    Perf(super::perf::PerfSource),
}

impl std::fmt::Debug for TracerBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ring(_) => f.write_str("Ring"),
            Self::Perf(p) => p.fmt(f),
        }
    }
}

impl TracerBuffer {
    /// Takes the tracer map `map` out of `loaded`: a ring buffer or a perf event array.
    pub fn open(loaded: &mut Loaded, map: &str) -> Result<Self, SourceError> {
        if let Some(i) = loaded.perf.iter().position(|(name, _)| name == map) {
            return Ok(Self::Perf(loaded.perf.swap_remove(i).1));
        }
        let m = loaded.ebpf.take_map(map).ok_or_else(|| SourceError::Map {
            map: map.into(),
            reason: "not in the object (GADGET_TRACER names a map that GADGET_TRACER_MAP does not define)".into(),
        })?;
        if matches!(m, Map::PerfEventArray(_)) {
            return Ok(Self::Perf(super::perf::PerfSource::open(map, m)?));
        }
        let ring = RingBuf::try_from(m).map_err(|e| SourceError::Map {
            map: map.into(),
            reason: chain(&e),
        })?;
        // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the AsyncFd
        // (which owns the ring buffer) is dropped.
        let fd = unsafe { AsyncFd::register(ring) }.map_err(|e| SourceError::Poll {
            map: map.into(),
            source: std::io::Error::from(e),
        })?;
        Ok(Self::Ring(fd))
    }
}

/// Drains a tracer's buffer into its pipeline until `stop` turns true, then drains once more.
pub async fn run_tracer(
    buffer: TracerBuffer,
    map: &str,
    schema: &Arc<Schema>,
    out: &Emitter<'_>,
    stop: watch::Receiver<bool>,
) -> Result<SourceStats, SourceError> {
    match buffer {
        TracerBuffer::Ring(fd) => run_ring(fd, map, schema, out, stop).await,
        TracerBuffer::Perf(p) => Ok(super::perf::run(p, schema, out, stop).await?),
    }
}

/// The drain timer: fast until the first record (for at most [`EARLY_WINDOW`]), then
/// [`DRAIN_INTERVAL`].
pub(super) struct DrainTimer {
    started: tokio::time::Instant,
    /// Still in the early, fast phase.
    pub early: bool,
    tick: tokio::time::Interval,
}

impl DrainTimer {
    pub(super) fn new() -> Self {
        let mut tick = tokio::time::interval(EARLY_DRAIN_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            started: tokio::time::Instant::now(),
            early: true,
            tick,
        }
    }

    /// Leaves the early phase once a record arrived or the window passed.
    pub(super) fn update(&mut self, events: u64) {
        if self.early && (events > 0 || self.started.elapsed() >= EARLY_WINDOW) {
            self.early = false;
            self.tick = tokio::time::interval_at(tokio::time::Instant::now() + DRAIN_INTERVAL, DRAIN_INTERVAL);
            self.tick
                .set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
    }

    pub(super) async fn tick(&mut self) {
        self.tick.tick().await;
    }
}

async fn run_ring(
    mut fd: AsyncFd<RingBuf<MapData>>,
    map: &str,
    schema: &Arc<Schema>,
    out: &Emitter<'_>,
    mut stop: watch::Receiver<bool>,
) -> Result<SourceStats, SourceError> {
    let mut stats = SourceStats::default();
    let mut timer = DrainTimer::new();
    loop {
        timer.update(stats.events);
        let mut ticked = false;
        let stopping = tokio::select! {
            biased;
            r = stop.changed() => r.is_err() || *stop.borrow(),
            r = fd.readable_mut() => {
                let mut guard = r.map_err(|source| SourceError::Poll { map: map.into(), source })?;
                guard.clear_ready();
                false
            }
            _ = timer.tick() => { ticked = true; false }
        };
        let sent = drain(fd.get_mut(), schema, out, &mut stats).await;
        if ticked && !sent && !timer.early {
            // An idle tick: an empty batch lets stages that hold rows back (the container
            // enricher waiting for a new container's name) release them without new events.
            let _ = out.send(Batch::with_capacity(schema.clone(), 0)).await;
        }
        if stopping {
            break;
        }
    }
    Ok(stats)
}

/// Sends what the ring holds; true when at least one batch went out.
async fn drain(ring: &mut RingBuf<MapData>, schema: &Arc<Schema>, out: &Emitter<'_>, stats: &mut SourceStats) -> bool {
    let mut sent = false;
    loop {
        let mut batch = Batch::with_capacity(schema.clone(), 1024);
        while batch.len() < MAX_BATCH_ROWS {
            let Some(item) = ring.next() else { break };
            batch.push_record(&item);
        }
        if batch.is_empty() {
            return sent;
        }
        let full = batch.len() == MAX_BATCH_ROWS;
        stats.events += batch.len() as u64;
        stats.batches += 1;
        if !out.send(batch).await {
            return sent;
        }
        sent = true;
        if !full {
            return sent;
        }
    }
}

/// Runs a snapshotter's iterator programs once and sends their rows as one batch.
pub async fn run_snapshot(
    loaded: &mut Loaded,
    programs: &[(String, String)],
    schema: &Arc<Schema>,
    out: &Emitter<'_>,
) -> Result<SourceStats, SourceError> {
    let mut stats = SourceStats::default();
    let mut batch = Batch::with_capacity(schema.clone(), 256);
    let size = schema.raw_size.max(1) as usize;
    for (program, section) in programs {
        let bytes = run_iter(loaded, program, section)?;
        for rec in bytes.chunks_exact(size) {
            batch.push_record(rec);
        }
    }
    stats.events = batch.len() as u64;
    stats.batches = 1;
    let _ = out.send(batch).await;
    Ok(stats)
}
