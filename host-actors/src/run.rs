//! One run of a gadget, start to finish: the embeddable entry point of rig.
//!
//! [`run`] wires the default graph (source → formatter → sink), validates everything the user
//! asked for *before* the kernel is touched (parameters, `--fields`), loads and attaches the
//! gadget, streams until a stop condition (the caller's stop signal, `--timeout`, a snapshot being
//! complete, or a fatal stage error), then detaches, drains the graph and reports statistics.
//! The order of teardown is fixed: detach first, so no event arrives into a half-stopped graph.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use rig_kernel::{GraphReport, Pipeline};
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
    let built = graph::build(&ds.schema, &opts.operators, terminal, || OperatorHost::new(None))?;
    let pipeline = Pipeline::spawn(built.nodes, &built.entry, &ds.schema)?;
    let mut loaded = match load::load(&gadget.object, &params) {
        Ok(l) => l,
        Err(e) => {
            pipeline.finish(SourceStats::default().node()).await;
            return Err(e.into());
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut fatal = pipeline.fatal_signal();
    let timeout = opts.timeout;
    let stopper = tokio::spawn(async move {
        let reason = tokio::select! {
            _ = stop.wait_for(|v| *v) => StopReason::Interrupted,
            _ = async { match timeout { Some(t) => tokio::time::sleep(t).await, None => std::future::pending().await } } => StopReason::Timeout,
            _ = fatal.wait_for(|f| f.is_some()) => StopReason::StageFailed,
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
