//! The data source of a run: kernel records into batches, batches into the graph.
//!
//! A tracer's ring buffer is drained whenever the kernel wakes the reader (the ABI's buffer
//! helpers only wake it when the ring is a quarter full) and on a short timer otherwise, so no
//! event costs a wake-up of its own. The first events should not wait for that timer: right after
//! attach the ring is drained every [`EARLY_DRAIN_INTERVAL`] until the first record arrives (for
//! at most [`EARLY_WINDOW`]), then every [`DRAIN_INTERVAL`]. Each drain becomes one or more batches of at most
//! [`MAX_BATCH_ROWS`] rows; sending waits while the graph is full, and what the kernel could not
//! store meanwhile is counted in the `gadget_lost_samples` map and reported at the end.
//! Snapshotters run their iterator programs once and emit one batch.

use std::sync::Arc;
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use rig_kernel::{Batch, NodeStats, Pipeline, Schema};
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
    /// An iterator could not run.
    #[error(transparent)]
    Iter(#[from] LoadError),
}

/// What the source saw.
#[derive(Debug, Clone, Default)]
pub struct SourceStats {
    /// Records read.
    pub events: u64,
    /// Records the kernel dropped because the buffer was full.
    pub lost: u64,
    /// Batches sent.
    pub batches: u64,
}

impl SourceStats {
    /// As a graph node's statistics.
    pub fn node(&self) -> NodeStats {
        NodeStats {
            node: "source".into(),
            batches: self.batches,
            events_in: self.events + self.lost,
            events_out: self.events,
            events_lost: self.lost,
            ..NodeStats::default()
        }
    }
}

fn lost_samples(loaded: &Loaded) -> u64 {
    let Some(map) = loaded.ebpf.map("gadget_lost_samples") else {
        return 0;
    };
    let Ok(arr) = PerCpuArray::<&MapData, u64>::try_from(map) else {
        return 0;
    };
    arr.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(0)
}

/// Drains the ring buffer `map` into `pipeline` until `stop` turns true, then drains once more.
pub async fn run_tracer(
    loaded: &mut Loaded,
    map: &str,
    schema: &Arc<Schema>,
    pipeline: &Pipeline,
    mut stop: watch::Receiver<bool>,
) -> Result<SourceStats, SourceError> {
    let m = loaded.ebpf.take_map(map).ok_or_else(|| SourceError::Map {
        map: map.into(),
        reason: "not in the object (GADGET_TRACER names a map that GADGET_TRACER_MAP does not define)".into(),
    })?;
    let ring = RingBuf::try_from(m).map_err(|e| SourceError::Map {
        map: map.into(),
        reason: chain(&e),
    })?;
    // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the AsyncFd
    // (which owns the ring buffer) is dropped.
    let mut fd = unsafe { AsyncFd::register(ring) }.map_err(|e| SourceError::Poll {
        map: map.into(),
        source: std::io::Error::from(e),
    })?;
    let mut stats = SourceStats::default();
    let started = tokio::time::Instant::now();
    let mut early = true;
    let mut tick = tokio::time::interval(EARLY_DRAIN_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if early && (stats.events > 0 || started.elapsed() >= EARLY_WINDOW) {
            early = false;
            tick = tokio::time::interval_at(tokio::time::Instant::now() + DRAIN_INTERVAL, DRAIN_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut ticked = false;
        let stopping = tokio::select! {
            biased;
            r = stop.changed() => r.is_err() || *stop.borrow(),
            r = fd.readable_mut() => {
                let mut guard = r.map_err(|source| SourceError::Poll { map: map.into(), source })?;
                guard.clear_ready();
                false
            }
            _ = tick.tick() => { ticked = true; false }
        };
        let sent = drain(fd.get_mut(), schema, pipeline, &mut stats).await;
        if ticked && !sent && !early {
            // An idle tick: an empty batch lets stages that hold rows back (the container
            // enricher waiting for a new container's name) release them without new events.
            let _ = pipeline.send(Batch::with_capacity(schema.clone(), 0)).await;
        }
        if stopping {
            break;
        }
    }
    stats.lost = lost_samples(loaded);
    Ok(stats)
}

/// Sends what the ring holds; true when at least one batch went out.
async fn drain(ring: &mut RingBuf<MapData>, schema: &Arc<Schema>, pipeline: &Pipeline, stats: &mut SourceStats) -> bool {
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
        if pipeline.send(batch).await.is_err() {
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
    pipeline: &Pipeline,
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
    let _ = pipeline.send(batch).await;
    Ok(stats)
}
