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
use crate::ebpf::mapiter::{self, FetchPlan, MapIterSource};
use crate::ebpf::params::ParamError;
use crate::ebpf::source::{self, Emitter, SourceError, SourceStats, TracerBuffer};
use crate::ebpf::{DatasourceKind, Gadget};
use crate::enrich::sockets::{SOCKETS_MAP, SocketEnricher};
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
    /// How map iterators fetch.
    pub map_fetch: MapFetchOptions,
}

/// `--map-fetch-interval` and `--map-fetch-count` (IG's names and defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapFetchOptions {
    /// Between fetches; `None`: [`mapiter::DEFAULT_INTERVAL`]; zero: no periodic fetch.
    pub interval: Option<Duration>,
    /// Fetches before a map iterator is complete; `None` or 0: unlimited.
    pub count: Option<u64>,
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
    /// The sources' counters (events read, lost in the kernel), summed over datasources.
    pub source: SourceStats,
    /// Each datasource's own counters, in the gadget's order.
    pub datasources: Vec<(String, SourceStats)>,
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
    /// `--map-fetch-count` above 1 with a zero interval (IG refuses it too).
    #[error("map iterator {datasource}: --map-fetch-count {count} needs a non-zero --map-fetch-interval")]
    FetchPlan {
        /// The datasource.
        datasource: String,
        /// The count asked for.
        count: u64,
    },
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

/// Runs `gadget` until `stop` turns true, the timeout elapses or every datasource is complete
/// (snapshots taken, map fetch counts reached), writing events to `out`.
///
/// Every datasource runs through its own graph (formatter, operators, sink) into the same
/// output; the sources run concurrently on this task.
pub async fn run(
    gadget: &Gadget,
    opts: &RunOptions,
    out: Box<dyn Write + Send>,
    stop: watch::Receiver<bool>,
) -> Result<RunReport, RunError> {
    if gadget.datasources.is_empty() {
        return Err(RunError::NoDatasource);
    }
    let mut params = encode_params(gadget, &opts.params)?;
    let plans = fetch_plans(gadget, &opts.map_fetch)?;
    let schemas: Vec<Arc<Schema>> = gadget
        .datasources
        .iter()
        .map(|d| container_schema(&d.schema, opts.containers.is_some()))
        .collect();
    let selector = Arc::new(opts.selector.clone());
    let mut keeper = prepare_filter(gadget, &schemas[0], opts, &selector).await?;
    if keeper.is_some() {
        params.insert(filter::FILTER_SWITCH.to_owned(), vec![1]);
    }
    let shared = SharedOut::new(out);
    let mut lanes: Vec<Lane<'_>> = Vec::with_capacity(schemas.len());
    let mut built_operators = Vec::new();
    let multi = schemas.len() > 1;
    for (ds, schema) in gadget.datasources.iter().zip(&schemas) {
        match build_lane(ds, schema, opts, &selector, shared.clone()) {
            Ok((lane, ops)) => {
                built_operators.extend(ops.into_iter().map(|o| lane_node(multi, &schema.datasource, &o)));
                lanes.push(lane);
            }
            Err(e) => {
                for l in lanes {
                    l.pipeline.abort().await;
                }
                return Err(e);
            }
        }
    }
    // A gadget reading `gadget_sockets` gets rig's socket enricher; without it (it failed to
    // load) its packets are still shown, only not attributed to processes.
    let mut sockets = if SocketEnricher::wanted(&gadget.object) {
        SocketEnricher::load()
            .inspect_err(|e| tracing::warn!("{e}; packets are not attributed to processes"))
            .ok()
    } else {
        None
    };
    let pin = keeper.as_ref().and_then(Keeper::pin_path);
    let sockets_pin = sockets.as_ref().and_then(SocketEnricher::pin_path);
    let pins: Vec<(&str, &std::path::Path)> = pin
        .iter()
        .map(|p| (filter::FILTER_MAP, p.as_path()))
        .chain(sockets_pin.iter().map(|p| (SOCKETS_MAP, p.as_path())))
        .collect();
    let loaded = load::load_pinned(&gadget.object, &params, &pins);
    if let Some(s) = sockets.as_mut() {
        s.unpin();
    }
    let mut loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            for l in lanes {
                l.pipeline.abort().await;
            }
            return Err(e.into());
        }
    };
    for stacks in lanes.iter().filter_map(|l| l.stacks.as_ref()) {
        if let Err(e) = stacks.fill(&mut loaded.ebpf) {
            tracing::warn!("{e}");
        }
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (fail_tx, fail_rx) = watch::channel(false);
    let stopper = spawn_stopper(&lanes, stop, fail_rx, opts.timeout, stop_tx);
    let keeping = match (keeper.take(), &opts.containers) {
        (Some(mut k), Some(handle)) => {
            k.unpin();
            Some(tokio::spawn(k.run(handle.clone(), stop_rx.clone())))
        }
        _ => None,
    };
    let result = run_sources(&mut loaded, &lanes, &plans, &stop_rx, &fail_tx).await;
    let lost = source::lost_samples(&loaded);
    // Detach and unload before draining the graphs; the container hook and the socket enricher
    // go after the gadget.
    drop(loaded);
    drop(sockets);
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
    // The stopper fired (a signal, the timeout, a limit, a stage error) or every datasource
    // completed on its own (snapshots, fetch counts).
    let stopped = if result.is_ok() && *stop_rx.borrow() {
        stopper.await.unwrap_or(StopReason::Interrupted)
    } else {
        stopper.abort();
        StopReason::Done
    };
    let mut stats = match result {
        Ok(s) => s,
        Err(e) => {
            for l in lanes {
                l.pipeline.finish(SourceStats::default().node()).await;
            }
            return Err(e.into());
        }
    };
    if let Some(i) = lanes
        .iter()
        .position(|l| matches!(l.kind, DatasourceKind::Tracer { .. }))
    {
        stats[i].lost += lost;
    }
    let mut graph = GraphReport::default();
    let mut total = SourceStats::default();
    let mut per_datasource = Vec::with_capacity(lanes.len());
    for (lane, s) in lanes.into_iter().zip(stats) {
        let name = lane.schema.datasource.clone();
        let report = lane.pipeline.finish(s.node()).await;
        graph.nodes.extend(report.nodes.into_iter().map(|mut n| {
            n.node = lane_node(multi, &name, &n.node);
            n
        }));
        graph
            .abandoned
            .extend(report.abandoned.iter().map(|a| lane_node(multi, &name, a)));
        if graph.fatal.is_none() {
            graph.fatal = report.fatal;
        }
        total.events += s.events;
        total.lost += s.lost;
        total.batches += s.batches;
        total.fetches += s.fetches;
        per_datasource.push((name, s));
    }
    let stopped = if graph.fatal.is_some() {
        StopReason::StageFailed
    } else {
        stopped
    };
    Ok(RunReport {
        stopped,
        source: total,
        datasources: per_datasource,
        graph,
        containers,
        operators: built_operators,
    })
}

/// One datasource's part of a run: its schema, how it produces rows, and its graph.
struct Lane<'g> {
    schema: Arc<Schema>,
    kind: &'g DatasourceKind,
    pipeline: Pipeline,
    /// The stack maps its stack enricher reads, filled after load (H4: enrich/stacks.rs).
    stacks: Option<crate::enrich::stacks::StackMaps>,
}

/// A node's id in the run's report: prefixed with its datasource when there are several.
fn lane_node(multi: bool, datasource: &str, node: &str) -> String {
    if multi {
        format!("{datasource}/{node}")
    } else {
        node.to_owned()
    }
}

/// Builds and spawns the graph of one datasource.
fn build_lane<'g>(
    ds: &'g crate::ebpf::Datasource,
    schema: &Arc<Schema>,
    opts: &RunOptions,
    selector: &Arc<Selector>,
    out: SharedOut,
) -> Result<(Lane<'g>, Vec<String>), RunError> {
    let terminal = TerminalOptions {
        output: opts.output,
        fields: opts.fields.clone(),
        out: Box::new(out),
    };
    let mut built = graph::build(schema, &opts.operators, terminal, || OperatorHost::new(None))?;
    if let Some(handle) = &opts.containers
        && let Some(format) = built.nodes.iter_mut().find(|n| n.id == graph::FORMAT_NODE)
    {
        let enrich = ContainerStage::new(handle, selector.clone(), filter::host_mntns());
        Then::prepend(&mut format.stage, Box::new(enrich));
    }
    let stacks = crate::enrich::stacks::StackStage::for_schema(schema).and_then(|(stage, maps)| {
        let format = built.nodes.iter_mut().find(|n| n.id == graph::FORMAT_NODE)?;
        Then::prepend(&mut format.stage, Box::new(stage));
        Some(maps)
    });
    if let Some(n) = stream_limit(&opts.operators, &ds.kind) {
        built.nodes = end_after_limit(built.nodes, n);
    }
    let operators = std::mem::take(&mut built.operators);
    let pipeline = Pipeline::spawn(built.nodes, &built.entry, schema)?;
    Ok((
        Lane {
            schema: schema.clone(),
            kind: &ds.kind,
            pipeline,
            stacks,
        },
        operators,
    ))
}

/// Ends the run on the caller's signal, the timeout, a fatal stage error or a reached limit in
/// any datasource's graph, or a failed source (`fail`), by turning `stop_tx` true.
fn spawn_stopper(
    lanes: &[Lane<'_>],
    mut stop: watch::Receiver<bool>,
    mut fail: watch::Receiver<bool>,
    timeout: Option<Duration>,
    stop_tx: watch::Sender<bool>,
) -> tokio::task::JoinHandle<StopReason> {
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::channel::<StopReason>(lanes.len().max(1));
    let mut watchers = Vec::with_capacity(lanes.len());
    for lane in lanes {
        let mut fatal = lane.pipeline.fatal_signal();
        let mut done = lane.pipeline.done_signal();
        let tx = ev_tx.clone();
        watchers.push(tokio::spawn(async move {
            let reason = tokio::select! {
                Ok(_) = fatal.wait_for(|f| f.is_some()) => StopReason::StageFailed,
                Ok(_) = done.wait_for(|d| d.is_some()) => StopReason::Limit,
                else => return,
            };
            let _ = tx.send(reason).await;
        }));
    }
    drop(ev_tx);
    tokio::spawn(async move {
        let reason = tokio::select! {
            _ = stop.wait_for(|v| *v) => StopReason::Interrupted,
            _ = async { match timeout { Some(t) => tokio::time::sleep(t).await, None => std::future::pending().await } } => StopReason::Timeout,
            Some(r) = ev_rx.recv() => r,
            Ok(_) = fail.wait_for(|f| *f) => StopReason::Done,
        };
        let _ = stop_tx.send(true);
        for w in watchers {
            w.abort();
        }
        reason
    })
}

type SourceFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<SourceStats, SourceError>> + Send + 'a>>;

/// Takes every datasource's buffer or map out of the object, takes the snapshots, then runs the
/// streaming sources (tracers, map iterators) concurrently until they end. A source that fails
/// stops the others (through `fail`); the first error is returned.
async fn run_sources(
    loaded: &mut load::Loaded,
    lanes: &[Lane<'_>],
    plans: &[Option<FetchPlan>],
    stop: &watch::Receiver<bool>,
    fail: &watch::Sender<bool>,
) -> Result<Vec<SourceStats>, SourceError> {
    let emitters: Vec<Emitter<'_>> = lanes.iter().map(|l| Emitter::new(&l.pipeline, &l.schema)).collect();
    let mut stats = vec![SourceStats::default(); lanes.len()];
    let mut streams: Vec<(usize, SourceFuture<'_>)> = Vec::new();
    for (i, lane) in lanes.iter().enumerate() {
        let schema = &lane.schema;
        let out = &emitters[i];
        match lane.kind {
            DatasourceKind::Tracer { map } => {
                let buffer = TracerBuffer::open(loaded, map)?;
                let rx = stop.clone();
                streams.push((i, Box::pin(source::run_tracer(buffer, map, schema, out, rx))));
            }
            DatasourceKind::MapIter { map, .. } => {
                let m = loaded.ebpf.take_map(map);
                let src = MapIterSource::open(map, &schema.datasource, m, schema)?;
                let plan = plans[i].unwrap_or(FetchPlan {
                    interval: mapiter::DEFAULT_INTERVAL,
                    count: 0,
                    flush_on_stop: false,
                });
                let rx = stop.clone();
                streams.push((
                    i,
                    Box::pin(async move { Ok(mapiter::run(src, plan, schema, out, rx).await?) }),
                ));
            }
            DatasourceKind::Snapshotter { .. } => {}
        }
    }
    for (i, lane) in lanes.iter().enumerate() {
        if let DatasourceKind::Snapshotter { programs } = lane.kind {
            stats[i] = source::run_snapshot(loaded, programs, &lane.schema, &emitters[i]).await?;
        }
    }
    let results = join_all(
        streams
            .into_iter()
            .map(|(i, f)| async move {
                let r = f.await;
                if r.is_err() {
                    let _ = fail.send(true);
                }
                (i, r)
            })
            .collect(),
    )
    .await;
    let mut first_err = None;
    for (i, r) in results {
        match r {
            Ok(s) => stats[i] = s,
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// Polls every future to completion on the current task; outputs in input order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(outputs.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The writer every datasource's sink shares: one `write` is written whole under a lock, so a
/// batch of one datasource never interleaves with another's.
#[derive(Clone)]
struct SharedOut(Arc<std::sync::Mutex<Box<dyn Write + Send>>>);

impl SharedOut {
    fn new(out: Box<dyn Write + Send>) -> Self {
        Self(Arc::new(std::sync::Mutex::new(out)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Write + Send>> {
        // A sink that panicked mid-write leaves the writer usable: the bytes are just bytes.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.lock().flush()
    }
}

/// `--map-fetch-interval` and `--map-fetch-count`, checked as IG checks them, per map iterator
/// (`None` for other datasources).
fn fetch_plans(gadget: &Gadget, opts: &MapFetchOptions) -> Result<Vec<Option<FetchPlan>>, RunError> {
    let interval = opts.interval.unwrap_or(mapiter::DEFAULT_INTERVAL);
    let count = opts.count.unwrap_or(0);
    gadget
        .datasources
        .iter()
        .map(|d| match &d.kind {
            DatasourceKind::MapIter { flush_on_stop, .. } => {
                if interval.is_zero() && count > 1 {
                    return Err(RunError::FetchPlan {
                        datasource: d.schema.datasource.clone(),
                        count,
                    });
                }
                Ok(Some(FetchPlan {
                    interval,
                    count,
                    flush_on_stop: *flush_on_stop,
                }))
            }
            _ => Ok(None),
        })
        .collect()
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
            datasources: Vec::new(),
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
