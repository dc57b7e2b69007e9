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
use std::sync::Arc;
use std::time::Duration;

use rig_kernel::graph::EndAfter;
use rig_kernel::{GraphReport, NodeSpec, NodeStats, Pipeline, Schema};
use tokio::sync::watch;

use crate::containers::ContainersHandle;
use crate::containers::enrich::{self as container_enrich, ContainerStage, Then};
use crate::containers::filter::{self, ContainerFilter, FilterError, FilterReport, Keeper};
use crate::containers::selector::Selector;
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
    /// The containers actor: events are enriched from it and selections resolved against it.
    /// `None`: no container discovery (every event gets empty container fields).
    pub containers: Option<ContainersHandle>,
    /// Which containers (and whether the host) to show; the default shows everything.
    pub selector: Selector,
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
    /// What the in-kernel container filter did, when the run selected containers.
    pub containers: Option<FilterReport>,
    /// The ids of the run's WASM operator nodes (builtins included), in graph order.
    pub operators: Vec<String>,
}

/// The counters every WASM operator node reports besides its own: guest calls (`init`,
/// `process`, `flush`), nanoseconds spent in them, instance restarts and traps.
pub const HOST_COUNTERS: [&str; 4] = ["calls", "guest_ns", "restarts", "traps"];

/// One row of `--stats`.
#[derive(Debug, Clone)]
pub struct NodeLine {
    /// The node's statistics (zero for a node that reported none).
    pub stats: NodeStats,
    /// A WASM operator node: its counters include every one of [`HOST_COUNTERS`].
    pub operator: bool,
    /// The node had not drained within the bound and reported nothing.
    pub abandoned: bool,
}

impl RunReport {
    /// The rows of `--stats`: every node the graph reported, upstream first, then every node
    /// that reported nothing (abandoned, or a WASM operator no batch reached) with zero
    /// statistics. A WASM operator's row always carries [`HOST_COUNTERS`], 0 when it has none,
    /// so it shows from the start whether or not a batch reached it; counters a guest declared
    /// in `init` (`counter-add(name, 0)`) show at 0 too.
    pub fn stats(&self) -> Vec<NodeLine> {
        let mut lines: Vec<NodeLine> = self
            .graph
            .nodes
            .iter()
            .map(|n| NodeLine {
                stats: n.clone(),
                operator: self.operators.contains(&n.node),
                abandoned: false,
            })
            .collect();
        for id in self.graph.abandoned.iter().chain(&self.operators) {
            if lines.iter().any(|l| &l.stats.node == id) {
                continue;
            }
            lines.push(NodeLine {
                stats: NodeStats {
                    node: id.clone(),
                    ..NodeStats::default()
                },
                operator: self.operators.contains(id),
                abandoned: self.graph.abandoned.contains(id),
            });
        }
        for l in lines.iter_mut().filter(|l| l.operator) {
            for c in HOST_COUNTERS {
                l.stats.counters.entry(c.to_owned()).or_insert(0);
            }
        }
        lines
    }
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
    /// The container filter could not be set up.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A container selection was asked for without container discovery.
    #[error("{0} needs container discovery, but the run has none (no --runtimes enabled)")]
    NoDiscovery(String),
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
    let mut params = encode_params(gadget, &opts.params)?;
    let schema = container_schema(&ds.schema, opts.containers.is_some());
    let selector = Arc::new(opts.selector.clone());
    let mut keeper = match prepare_filter(gadget, &schema, opts, &selector).await {
        Ok(k) => k,
        Err(e) => return Err(e),
    };
    if keeper.is_some() {
        params.insert(filter::FILTER_SWITCH.to_owned(), vec![1]);
    }
    let terminal = TerminalOptions {
        output: opts.output,
        fields: opts.fields.clone(),
        out,
    };
    let mut built = graph::build(&schema, &opts.operators, terminal, || OperatorHost::new(None))?;
    if let Some(handle) = &opts.containers
        && let Some(format) = built.nodes.iter_mut().find(|n| n.id == graph::FORMAT_NODE)
    {
        let enrich = ContainerStage::new(handle, selector.clone(), filter::host_mntns());
        Then::prepend(&mut format.stage, Box::new(enrich));
    }
    if let Some(n) = stream_limit(&opts.operators, &ds.kind) {
        built.nodes = end_after_limit(built.nodes, n);
    }
    let built_operators = std::mem::take(&mut built.operators);
    let pipeline = Pipeline::spawn(built.nodes, &built.entry, &schema)?;
    let pin = keeper.as_ref().and_then(Keeper::pin_path);
    let pins: Vec<(&str, &std::path::Path)> = pin.iter().map(|p| (filter::FILTER_MAP, p.as_path())).collect();
    let mut loaded = match load::load_pinned(&gadget.object, &params, &pins) {
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
    let keeping = match (keeper.take(), &opts.containers) {
        (Some(mut k), Some(handle)) => {
            k.unpin();
            Some(tokio::spawn(k.run(handle.clone(), stop_rx.clone())))
        }
        _ => None,
    };
    let result = match &ds.kind {
        DatasourceKind::Tracer { map } => source::run_tracer(&mut loaded, map, &schema, &pipeline, stop_rx).await,
        DatasourceKind::Snapshotter { programs } => {
            source::run_snapshot(&mut loaded, programs, &schema, &pipeline).await
        }
    };
    // Detach and unload before draining the graph; the container hook goes after the gadget.
    drop(loaded);
    let containers = match keeping {
        Some(task) => {
            let abort = task.abort_handle();
            match tokio::time::timeout(Duration::from_millis(500), task).await {
                Ok(Ok(report)) => Some(report),
                _ => {
                    abort.abort();
                    None
                }
            }
        }
        None => None,
    };
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
        containers,
        operators: built_operators,
    })
}

/// The datasource's schema for this run: without container discovery the container column is
/// hidden in columns output (it would always be empty).
fn container_schema(schema: &Arc<Schema>, discovery: bool) -> Arc<Schema> {
    let first = container_enrich::FIELDS[0].0;
    match schema.find(first) {
        Some(id) if !discovery => {
            let mut s = (**schema).clone();
            s.fields[id.0 as usize]
                .annotations
                .insert("columns.hidden".into(), "true".into());
            Arc::new(s)
        }
        _ => schema.clone(),
    }
}

/// Sets up in-kernel selection when the run selects containers: loads the container hook and
/// fills the filter map from the containers known now, before the gadget is loaded, so no
/// selected container's event is dropped while the run starts.
async fn prepare_filter(
    gadget: &Gadget,
    schema: &Schema,
    opts: &RunOptions,
    selector: &Arc<Selector>,
) -> Result<Option<Keeper>, RunError> {
    if selector.is_everything() {
        return Ok(None);
    }
    let what = if selector.has_container_criteria() {
        selector.describe()
    } else {
        "--host=false".to_owned()
    };
    let Some(handle) = &opts.containers else {
        return Err(RunError::NoDiscovery(what));
    };
    if !filter::has_filter_map(&gadget.object) {
        let has_key = schema.fields.iter().any(|f| {
            matches!(
                f.special,
                Some(rig_kernel::Special::MntnsId | rig_kernel::Special::NetnsId)
            )
        });
        if !has_key {
            return Err(FilterError::NoFilterMap { what }.into());
        }
        // Selection still applies, in user space, by the enrichment stage.
        tracing::warn!(
            "gadget has no {}: {what} is applied in user space, not in the kernel",
            filter::FILTER_MAP
        );
        return Ok(None);
    }
    handle.wait_synced(Duration::from_secs(2)).await;
    let mut keeper = Keeper::new(ContainerFilter::load(filter::host_mntns())?, selector.clone());
    keeper.reconcile(handle);
    Ok(Some(keeper))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_node_has_a_stats_row_with_its_host_counters() {
        let node = |id: &str, counters: &[(&str, u64)]| NodeStats {
            node: id.into(),
            counters: counters.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            ..NodeStats::default()
        };
        let report = RunReport {
            stopped: StopReason::Timeout,
            source: SourceStats::default(),
            graph: GraphReport {
                nodes: vec![
                    node("source", &[]),
                    node("mine", &[("calls", 2), ("kept", 0)]),
                    node("sink/terminal", &[]),
                ],
                fatal: None,
                abandoned: vec!["stuck".into()],
            },
            containers: None,
            operators: vec!["mine".into(), "stuck".into(), "unreached".into()],
        };
        let lines = report.stats();
        let ids: Vec<&str> = lines.iter().map(|l| l.stats.node.as_str()).collect();
        assert_eq!(ids, ["source", "mine", "sink/terminal", "stuck", "unreached"]);
        let mine = &lines[1];
        assert!(mine.operator && !mine.abandoned);
        assert_eq!(mine.stats.counters["calls"], 2, "reported values are kept");
        assert_eq!(mine.stats.counters["kept"], 0, "a counter declared at init shows at 0");
        for l in &lines[3..] {
            assert!(l.operator);
            assert!(HOST_COUNTERS.iter().all(|c| l.stats.counters[*c] == 0), "{l:?}");
        }
        assert!(lines[3].abandoned && !lines[4].abandoned);
        assert!(!lines[0].operator && lines[0].stats.counters.is_empty());
    }
}
