//! One run of a gadget, start to finish: the embeddable entry point of rig.
//!
//! [`run`] wires the default graph (source → formatter → sink), validates everything the user
//! asked for *before* the kernel is touched (parameters, `--fields`), loads and attaches the
//! gadget, streams until a stop condition (the caller's stop signal, `--timeout`, a snapshot being
//! complete, `--max-entries` reached, or a fatal stage error), then detaches, drains the graph
//! and reports statistics. The order of teardown is fixed: detach first, so no event arrives into
//! a half-stopped graph. Draining is bounded ([`rig_kernel::graph::FINISH_BOUND`]): a run always
//! ends, naming the nodes it had to abandon. A gadget that fails to attach stops the graph
//! without draining it, so nothing (not even a column header) is printed before the error.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use rig_kernel::graph::EndAfter;
use rig_kernel::{GraphReport, NodeSpec, Pipeline};
use tokio::sync::watch;

use crate::ebpf::load::{self, LoadError};
use crate::ebpf::params::ParamError;
use crate::ebpf::source::{self, SourceError, SourceStats};
use crate::ebpf::{DatasourceKind, Gadget};
use crate::graph::{self, BuildError, OperatorOptions, TerminalOptions};
use crate::sinks::OutputFormat;
use crate::wasm::OperatorHost;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parameter values by flag key (`comm` → `cat`).
    pub params: BTreeMap<String, String>,
    /// Output format.
    pub output: OutputFormat,
    /// Fields to show (`None`: the visible ones).
    pub fields: Option<Vec<String>>,
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// Filter, sort, limit, custom operators or a graph file.
    pub operators: OperatorOptions,
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The caller's stop signal (Ctrl-C).
    Interrupted,
    /// `--timeout` elapsed.
    Timeout,
    /// A snapshot was complete.
    Done,
    /// `--max-entries` events went by (a stream without `--sort`).
    Limit,
    /// A stage failed.
    StageFailed,
}

/// What happened during a run.
#[derive(Debug)]
pub struct RunReport {
    /// Why it ended.
    pub stopped: StopReason,
    /// The source's counters (events read, lost in the kernel).
    pub source: SourceStats,
    /// Per-node statistics and the first fatal error.
    pub graph: GraphReport,
}

/// Why a run could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A parameter value is wrong.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A parameter does not exist.
    #[error("gadget has no parameter --{key} (parameters: {known})")]
    UnknownParam {
        /// The flag.
        key: String,
        /// Known flags.
        known: String,
    },
    /// The gadget has no datasource rig can run.
    #[error("gadget declares no datasource rig can run")]
    NoDatasource,
    /// The graph could not be built (graph file, operator, sink).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The graph could not be built.
    #[error(transparent)]
    Graph(#[from] rig_kernel::GraphError),
    /// Loading or attaching failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading events failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Encodes the user's parameter values (and gadget.yaml defaults) into variable bytes.
pub fn encode_params(
    gadget: &Gadget,
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Vec<u8>>, RunError> {
    if let Some(key) = values.keys().find(|k| !gadget.params.iter().any(|p| &p.key == *k)) {
        return Err(RunError::UnknownParam {
            key: key.clone(),
            known: gadget
                .params
                .iter()
                .map(|p| format!("--{}", p.key))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut out = BTreeMap::new();
    for p in &gadget.params {
        if let Some(v) = values.get(&p.key).or(p.default.as_ref()) {
            out.insert(p.var.clone(), p.encode(v)?);
        }
    }
    Ok(out)
}

/// Runs `gadget` until `stop` turns true, the timeout elapses or a snapshot is complete,
/// writing events to `out`.
pub async fn run(
    gadget: &Gadget,
    opts: &RunOptions,
    out: Box<dyn Write + Send>,
    mut stop: watch::Receiver<bool>,
) -> Result<RunReport, RunError> {
    let ds = gadget.datasources.first().ok_or(RunError::NoDatasource)?;
    let params = encode_params(gadget, &opts.params)?;
    let terminal = TerminalOptions {
        output: opts.output,
        fields: opts.fields.clone(),
        out,
    };
    let mut built = graph::build(&ds.schema, &opts.operators, terminal, || OperatorHost::new(None))?;
    if let Some(n) = stream_limit(&opts.operators, &ds.kind) {
        built.nodes = end_after_limit(built.nodes, n);
    }
    let pipeline = Pipeline::spawn(built.nodes, &built.entry, &ds.schema)?;
    let mut loaded = match load::load(&gadget.object, &params) {
        Ok(l) => l,
        Err(e) => {
            pipeline.abort().await;
            return Err(e.into());
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut fatal = pipeline.fatal_signal();
    let mut done = pipeline.done_signal();
    let timeout = opts.timeout;
    let stopper = tokio::spawn(async move {
        let reason = tokio::select! {
            _ = stop.wait_for(|v| *v) => StopReason::Interrupted,
            _ = async { match timeout { Some(t) => tokio::time::sleep(t).await, None => std::future::pending().await } } => StopReason::Timeout,
            _ = fatal.wait_for(|f| f.is_some()) => StopReason::StageFailed,
            _ = done.wait_for(|d| d.is_some()) => StopReason::Limit,
        };
        let _ = stop_tx.send(true);
        reason
    });
    let result = match &ds.kind {
        DatasourceKind::Tracer { map } => source::run_tracer(&mut loaded, map, &ds.schema, &pipeline, stop_rx).await,
        DatasourceKind::Snapshotter { programs } => {
            source::run_snapshot(&mut loaded, programs, &ds.schema, &pipeline).await
        }
    };
    // Detach and unload before draining the graph.
    drop(loaded);
    // A tracer only returns once the stopper fired; a snapshot returns when it is complete.
    let stopped = match (&ds.kind, &result) {
        (DatasourceKind::Tracer { .. }, Ok(_)) => stopper.await.unwrap_or(StopReason::Interrupted),
        _ => {
            stopper.abort();
            StopReason::Done
        }
    };
    let stats = match result {
        Ok(s) => s,
        Err(e) => {
            pipeline.finish(SourceStats::default().node()).await;
            return Err(e.into());
        }
    };
    let graph = pipeline.finish(stats.node()).await;
    let stopped = if graph.fatal.is_some() {
        StopReason::StageFailed
    } else {
        stopped
    };
    Ok(RunReport {
        stopped,
        source: stats,
        graph,
    })
}

/// `--max-entries N` ends a tracer's run after N events when nothing sorts them (IG does the
/// same for non-streaming use); with `--sort` the limit applies to the sorted result at the end,
/// and a graph file decides for itself.
fn stream_limit(ops: &OperatorOptions, kind: &DatasourceKind) -> Option<u64> {
    match kind {
        DatasourceKind::Tracer { .. } if ops.sort.is_none() && ops.graph.is_none() => ops.max_entries,
        _ => None,
    }
}

/// Wraps the default chain's `limit` node so the run ends once it forwarded `n` rows.
fn end_after_limit(nodes: Vec<NodeSpec>, n: u64) -> Vec<NodeSpec> {
    let last = nodes.iter().rposition(|s| s.id == graph::LIMIT_NODE);
    nodes
        .into_iter()
        .enumerate()
        .map(|(i, mut spec)| {
            if Some(i) == last {
                spec.stage = Box::new(EndAfter::new(spec.stage, n));
            }
            spec
        })
        .collect()
}
