//! Tracers on a perf event array (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`): IG's buffer helpers fall
//! back to `bpf_perf_event_output` on kernels without ring buffers, and some gadgets declare
//! `GADGET_TRACER` on a perf array of their own.
//!
//! One perf buffer of [`PAGES_PER_CPU`] pages is opened per online CPU and stored in the array
//! at that CPU's index. They are drained on the tracer's timer (fast right after attach, then
//! every [`super::source::DRAIN_INTERVAL`]) rather than on each wake-up: the kernel wakes a perf
//! reader per event, and one wake-up per event is what rig's timer draining avoids. Records the
//! kernel could not store (`PERF_RECORD_LOST`) are added to the datasource's lost count.

use std::sync::Arc;

use aya::maps::perf::{PerfEvent, PerfEventArrayBuffer};
use aya::maps::{Map, MapData, PerfEventArray};
use rig_kernel::{Batch, Schema};
use tokio::sync::watch;

use super::load::chain;
use super::source::{DrainTimer, Emitter, MAX_BATCH_ROWS, SourceStats};

/// Pages of each CPU's perf buffer (a power of two): 256 KiB with 4 KiB pages.
pub const PAGES_PER_CPU: usize = 64;

/// Why a perf event array could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    /// The map is not a usable perf event array.
    #[error("perf event array {map}: {reason}")]
    Map {
        /// The map.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// The online CPUs could not be listed.
    #[error("perf event array {map}: listing online CPUs ({what}): {source}")]
    Cpus {
        /// The map.
        map: String,
        /// The file read.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A CPU's buffer could not be opened or stored.
    #[error("perf event array {map}: CPU {cpu}: {reason}")]
    Buffer {
        /// The map.
        map: String,
        /// The CPU.
        cpu: u32,
        /// What failed.
        reason: String,
    },
}

/// A perf event array with one open buffer per online CPU.
pub struct PerfSource {
    /// Kept so the buffers stay stored in the array while the run lasts.
    _array: PerfEventArray<MapData>,
    buffers: Vec<PerfEventArrayBuffer>,
}

impl std::fmt::Debug for PerfSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfSource").field("cpus", &self.buffers.len()).finish()
    }
}

impl PerfSource {
    /// Opens a buffer per online CPU and stores each in the array `map`.
    pub fn open(map: &str, m: Map) -> Result<Self, PerfError> {
        let mut array = PerfEventArray::try_from(m).map_err(|e| PerfError::Map {
            map: map.to_owned(),
            reason: chain(&e),
        })?;
        let cpus = aya::util::online_cpus().map_err(|(what, source)| PerfError::Cpus {
            map: map.to_owned(),
            what,
            source,
        })?;
        let mut buffers = Vec::with_capacity(cpus.len());
        for cpu in cpus {
            let buf = PerfEventArrayBuffer::open(cpu, PAGES_PER_CPU).map_err(|e| PerfError::Buffer {
                map: map.to_owned(),
                cpu,
                reason: chain(&e),
            })?;
            array.set(cpu, &buf).map_err(|e| PerfError::Buffer {
                map: map.to_owned(),
                cpu,
                reason: chain(&e),
            })?;
            buffers.push(buf);
        }
        Ok(Self { _array: array, buffers })
    }
}

/// Drains every CPU's buffer into batches; true when at least one batch went out.
async fn drain(src: &mut PerfSource, schema: &Arc<Schema>, out: &Emitter<'_>, stats: &mut SourceStats) -> bool {
    let mut batches = vec![Batch::with_capacity(schema.clone(), 64)];
    let mut joined = Vec::new();
    let mut lost = 0u64;
    for buf in &mut src.buffers {
        buf.for_each(|ev| match ev {
            PerfEvent::Sample { head, tail } => {
                if batches.last().is_some_and(|b| b.len() >= MAX_BATCH_ROWS) {
                    batches.push(Batch::with_capacity(schema.clone(), 64));
                }
                let Some(b) = batches.last_mut() else { return };
                if tail.is_empty() {
                    b.push_record(head);
                } else {
                    joined.clear();
                    joined.extend_from_slice(head);
                    joined.extend_from_slice(tail);
                    b.push_record(&joined);
                }
            }
            PerfEvent::Lost { count } => lost += count,
        });
    }
    stats.lost += lost;
    let mut sent = false;
    for b in batches.into_iter().filter(|b| !b.is_empty()) {
        stats.events += b.len() as u64;
        stats.batches += 1;
        if !out.send(b).await {
            return sent;
        }
        sent = true;
    }
    sent
}

/// Drains the perf buffers until `stop` turns true, then once more.
pub async fn run(
    mut src: PerfSource,
    schema: &Arc<Schema>,
    out: &Emitter<'_>,
    mut stop: watch::Receiver<bool>,
) -> Result<SourceStats, PerfError> {
    let mut stats = SourceStats::default();
    let mut timer = DrainTimer::new();
    loop {
        timer.update(stats.events);
        let stopping = tokio::select! {
            biased;
            r = stop.changed() => r.is_err() || *stop.borrow(),
            _ = timer.tick() => false,
        };
        let sent = drain(&mut src, schema, out, &mut stats).await;
        if !sent && !timer.early && !stopping {
            // An idle tick, as for ring buffers: lets holding stages release rows.
            let _ = out.send(Batch::with_capacity(schema.clone(), 0)).await;
        }
        if stopping {
            return Ok(stats);
        }
    }
}
