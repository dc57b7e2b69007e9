//! The message graph: stages wired as kameo actors that pass whole batches.
//!
//! Every node of a run (enricher, formatter, operator, sink) is a [`Stage`]: a synchronous
//! batch-in/batch-out transformation with no knowledge of its neighbours. [`Pipeline::spawn`]
//! wraps each one in a [`StageActor`] whose bounded mailbox (kameo's default, 64) is the data-plane
//! channel: a full mailbox makes `tell().await` wait, so back-pressure reaches the source, where
//! the kernel's ring buffer counts what it had to drop. Nothing here is per event.
//!
//! Invariants: the graph is acyclic (checked before anything spawns); every node forwards one
//! [`Flow::End`] after it saw one from each of its inputs, so an end-of-run drains every stage in
//! order; a node's statistics ride along with the end marker to the pipeline's owner.
//!
//! Supervision: a stage that panics (in `init`, `process`, `finish` or `counters`) is caught, the
//! run gets a [`Fatal`] naming the node, and the node still forwards its end marker, so the graph
//! drains. Whatever else goes wrong (an actor that dies, a stage stuck in a write),
//! [`Pipeline::finish`] returns within [`FINISH_BOUND`] and names the nodes it abandoned. A stage
//! can also end the run early and cleanly by answering [`Stage::done`] (`--max-entries`).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kameo::actor::{Actor, ActorRef, Spawn, WeakActorRef};
use kameo::error::{ActorStopReason, PanicError};
use kameo::message::{Context, Message};
use tokio::sync::{mpsc, watch};

use crate::batch::Batch;
use crate::schema::Schema;

/// What a stage returns when a batch could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// This batch is lost (counted); the stage keeps running.
    #[error("{0}")]
    Batch(String),
    /// The stage cannot go on; the run stops.
    #[error("{0}")]
    Fatal(String),
}

/// A batch transformation: the unit of the graph.
pub trait Stage: Send + 'static {
    /// Called once before any batch with the schema of its input; returns its output schema.
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        Ok(input.clone())
    }
    /// Handles one batch; `None` (or an empty batch) forwards nothing.
    fn process(&mut self, batch: Batch) -> Result<Option<Batch>, StageError>;
    /// End of stream (run stopped or a snapshot is complete): emit what was held back.
    fn finish(&mut self) -> Result<Option<Batch>, StageError> {
        Ok(None)
    }
    /// Stage-specific counters (traps, restarts, an operator's own counters), read at the end.
    fn counters(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
    /// True once the stage wants no more input and the run may end (a limit reached); asked
    /// after every batch. The run then stops as if its timeout elapsed: a clean end, not an error.
    fn done(&self) -> bool {
        false
    }
}

/// The message of the fatal error a sink reports when its reader went away (`rig … | head`):
/// the end of the run, not a failure.
pub const OUTPUT_CLOSED: &str = "output closed";

/// How long [`Pipeline::finish`] waits for the graph to drain after the end marker; nodes still
/// busy then are abandoned (named in [`GraphReport::abandoned`]).
pub const FINISH_BOUND: Duration = Duration::from_secs(2);

/// How long stopping the actors may take once the graph drained (or was abandoned).
const STOP_BOUND: Duration = Duration::from_millis(300);

/// The first error that stopped a run, naming its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    /// The node's id.
    pub node: String,
    /// What went wrong (the panic message for a panic).
    pub message: String,
    /// The stage panicked (rather than returning [`StageError::Fatal`]).
    pub panicked: bool,
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.panicked { " panicked" } else { "" };
        write!(f, "node {}{how}: {}", crate::input::escape_control(&self.node), self.message)
    }
}

impl std::error::Error for Fatal {}

impl Fatal {
    /// The sink's reader went away: a normal end of the run.
    pub fn is_output_closed(&self) -> bool {
        !self.panicked && self.message == OUTPUT_CLOSED
    }
}

/// The text of a panic payload (`panic!("…")` gives `&str` or `String`).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".to_owned(),
    }
}

/// Runs one call into a stage, turning a panic into `Err(message)`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(&*p))
}

/// Ends the run once the wrapped stage has forwarded `limit` rows (`--max-entries` on a stream):
/// the limit stage keeps at most `limit` rows, this wrapper says [`Stage::done`] when they went by.
pub struct EndAfter {
    inner: Box<dyn Stage>,
    limit: u64,
    forwarded: u64,
}

impl std::fmt::Debug for EndAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndAfter")
            .field("limit", &self.limit)
            .field("forwarded", &self.forwarded)
            .finish_non_exhaustive()
    }
}

impl EndAfter {
    /// Wraps `inner`, done after `limit` forwarded rows.
    pub fn new(inner: Box<dyn Stage>, limit: u64) -> Self {
        Self {
            inner,
            limit,
            forwarded: 0,
        }
    }

    fn count(&mut self, out: Result<Option<Batch>, StageError>) -> Result<Option<Batch>, StageError> {
        if let Ok(Some(b)) = &out {
            self.forwarded += b.len() as u64;
        }
        out
    }
}

impl Stage for EndAfter {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        self.inner.init(input)
    }
    fn process(&mut self, batch: Batch) -> Result<Option<Batch>, StageError> {
        let out = self.inner.process(batch);
        self.count(out)
    }
    fn finish(&mut self) -> Result<Option<Batch>, StageError> {
        let out = self.inner.finish();
        self.count(out)
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        self.inner.counters()
    }
    fn done(&self) -> bool {
        self.forwarded >= self.limit || self.inner.done()
    }
}

/// Counters one node keeps; reported at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// The node's id in the graph.
    pub node: String,
    /// Batches received.
    pub batches: u64,
    /// Rows received.
    pub events_in: u64,
    /// Rows forwarded.
    pub events_out: u64,
    /// Batches that failed and were dropped.
    pub errors: u64,
    /// Rows in batches that failed.
    pub events_lost: u64,
    /// Time spent inside the stage.
    pub busy: Duration,
    /// Stage-specific counters ([`Stage::counters`]).
    pub counters: BTreeMap<String, u64>,
}

/// A message on the data plane.
#[derive(Debug)]
pub enum Flow {
    /// A batch of rows.
    Batch(Batch),
    /// End of stream, with the statistics of the nodes upstream of the sender.
    End(Vec<NodeStats>),
}

/// Something that happened in the graph that the run's owner must know at once.
#[derive(Debug)]
pub enum GraphEvent {
    /// A terminal node finished, with all statistics it collected.
    Finished(Vec<NodeStats>),
}

/// A graph that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// An edge points outside the node list.
    #[error("graph edge from {from} points to node #{to}, which does not exist")]
    DanglingEdge {
        /// The node the edge leaves.
        from: String,
        /// The missing index.
        to: usize,
    },
    /// The edges form a loop.
    #[error("graph has a cycle through node {0}")]
    Cycle(String),
    /// The graph has no entry node.
    #[error("graph has no entry node")]
    NoEntry,
    /// A node's `init` refused its input.
    #[error("node {node} refused its input: {source}")]
    Init {
        /// Which node.
        node: String,
        /// Why.
        #[source]
        source: StageError,
    },
    /// A node's `init` panicked.
    #[error("node {node} panicked in init: {message}")]
    InitPanicked {
        /// Which node.
        node: String,
        /// The panic message.
        message: String,
    },
    /// The entry node is gone (the run was already stopped).
    #[error("the graph stopped accepting batches")]
    Closed,
}

/// One node to spawn.
pub struct NodeSpec {
    /// Unique id, used in errors and statistics.
    pub id: String,
    /// The transformation.
    pub stage: Box<dyn Stage>,
    /// Indices of the nodes that receive this node's output.
    pub next: Vec<usize>,
}

impl std::fmt::Debug for NodeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSpec")
            .field("id", &self.id)
            .field("next", &self.next)
            .finish()
    }
}

/// The kameo actor around one stage.
pub struct StageActor {
    stage: Box<dyn Stage>,
    next: Vec<ActorRef<StageActor>>,
    stats: NodeStats,
    upstream_stats: Vec<NodeStats>,
    inputs: usize,
    ends_seen: usize,
    /// The end marker went downstream (normally or after a panic); never twice.
    ended: bool,
    events: mpsc::UnboundedSender<GraphEvent>,
    signals: Signals,
    failed: bool,
    /// The stage panicked: it is never called again.
    poisoned: bool,
}

/// The watches every actor can raise: the first fatal error, the first node that is done.
#[derive(Debug, Clone)]
struct Signals {
    fatal: watch::Sender<Option<Fatal>>,
    done: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for StageActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageActor").field("node", &self.stats.node).finish()
    }
}

impl Actor for StageActor {
    type Args = Self;
    type Error = std::convert::Infallible;

    async fn on_start(state: Self::Args, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(state)
    }

    /// A panic the handler did not catch (in forwarding, not in the stage): report it and pass
    /// the end marker on, so the rest of the graph still drains.
    async fn on_panic(
        &mut self,
        _: WeakActorRef<Self>,
        err: PanicError,
    ) -> Result<ControlFlow<ActorStopReason>, Self::Error> {
        let message = err.with_str(str::to_owned).unwrap_or_else(|| err.to_string());
        self.panicked(message);
        self.end().await;
        Ok(ControlFlow::Break(ActorStopReason::Panicked(err)))
    }
}

impl StageActor {
    async fn forward(&mut self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        self.stats.events_out += batch.len() as u64;
        if let Some((last, rest)) = self.next.split_last() {
            for n in rest {
                let _ = n.tell(Flow::Batch(batch.clone())).await;
            }
            let _ = last.tell(Flow::Batch(batch)).await;
        }
    }

    fn raise(&self, fatal: Fatal) {
        self.signals
            .fatal
            .send_if_modified(|f| f.is_none() && f.replace(fatal).is_none());
    }

    /// The stage panicked: it is poisoned, the run ends with an error naming the node.
    fn panicked(&mut self, message: String) {
        let message = crate::input::shorten(&crate::input::escape_control(&message), 500).into_owned();
        self.stats.errors += 1;
        self.failed = true;
        self.poisoned = true;
        tracing::error!(node = %self.stats.node, "stage panicked: {message}");
        self.raise(Fatal {
            node: self.stats.node.clone(),
            message,
            panicked: true,
        });
    }

    fn record(&mut self, result: Result<Result<Option<Batch>, StageError>, String>, rows: u64) -> Option<Batch> {
        match result {
            Ok(Ok(out)) => {
                if self.stage.done() {
                    let node = self.stats.node.clone();
                    self.signals.done.send_if_modified(|d| d.is_none() && d.replace(node).is_none());
                }
                out
            }
            Ok(Err(StageError::Batch(message))) => {
                self.stats.errors += 1;
                self.stats.events_lost += rows;
                tracing::warn!(node = %self.stats.node, "batch dropped: {message}");
                None
            }
            Ok(Err(StageError::Fatal(message))) => {
                self.failed = true;
                if message == OUTPUT_CLOSED {
                    // Nobody reads any more: not an error, and nothing to count as lost.
                    tracing::debug!(node = %self.stats.node, "output closed");
                } else {
                    self.stats.errors += 1;
                    self.stats.events_lost += rows;
                    tracing::error!(node = %self.stats.node, "stage failed: {message}");
                }
                self.raise(Fatal {
                    node: self.stats.node.clone(),
                    message,
                    panicked: false,
                });
                None
            }
            Err(panic) => {
                self.stats.events_lost += rows;
                self.panicked(panic);
                None
            }
        }
    }

    /// Sends this node's end marker (with every statistic it holds) downstream, once.
    async fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        if !self.poisoned {
            match guarded(|| self.stage.counters()) {
                Ok(c) => self.stats.counters = c,
                Err(panic) => self.panicked(panic),
            }
        }
        let mut all = std::mem::take(&mut self.upstream_stats);
        all.push(self.stats.clone());
        if self.next.is_empty() {
            let _ = self.events.send(GraphEvent::Finished(all));
        } else {
            // Each downstream node gets the statistics once, from its first input only.
            for (i, n) in self.next.iter().enumerate() {
                let s = if i == 0 { all.clone() } else { Vec::new() };
                let _ = n.tell(Flow::End(s)).await;
            }
        }
    }
}

impl Message<Flow> for StageActor {
    type Reply = ();

    async fn handle(&mut self, msg: Flow, _ctx: &mut Context<Self, Self::Reply>) {
        match msg {
            Flow::Batch(batch) => {
                if self.failed {
                    self.stats.events_lost += batch.len() as u64;
                    return;
                }
                let rows = batch.len() as u64;
                self.stats.batches += 1;
                self.stats.events_in += rows;
                let t = Instant::now();
                let out = guarded(|| self.stage.process(batch));
                self.stats.busy += t.elapsed();
                if let Some(out) = self.record(out, rows) {
                    self.forward(out).await;
                }
            }
            Flow::End(stats) => {
                self.upstream_stats.extend(stats);
                self.ends_seen += 1;
                if self.ends_seen < self.inputs {
                    return;
                }
                if !self.failed {
                    let t = Instant::now();
                    let out = guarded(|| self.stage.finish());
                    self.stats.busy += t.elapsed();
                    if let Some(out) = self.record(out, 0) {
                        self.forward(out).await;
                    }
                }
                self.end().await;
            }
        }
    }
}

/// A running graph: feed it batches, then end it and collect its statistics.
#[derive(Debug)]
pub struct Pipeline {
    entries: Vec<ActorRef<StageActor>>,
    actors: Vec<ActorRef<StageActor>>,
    ids: Vec<String>,
    terminals: usize,
    events: mpsc::UnboundedReceiver<GraphEvent>,
    fatal: watch::Receiver<Option<Fatal>>,
    done: watch::Receiver<Option<String>>,
}

/// The outcome of a finished graph.
#[derive(Debug, Default)]
pub struct GraphReport {
    /// Per-node statistics, upstream first.
    pub nodes: Vec<NodeStats>,
    /// The first fatal error.
    pub fatal: Option<Fatal>,
    /// Nodes that had not drained within [`FINISH_BOUND`] and were stopped without their
    /// statistics (a stage stuck in a write, an actor that died).
    pub abandoned: Vec<String>,
}

impl Pipeline {
    /// Validates and spawns a graph whose source feeds the nodes listed in `entry`.
    pub fn spawn(mut nodes: Vec<NodeSpec>, entry: &[usize], schema: &Arc<Schema>) -> Result<Self, GraphError> {
        if entry.is_empty() {
            return Err(GraphError::NoEntry);
        }
        let order = topo_order(&nodes, entry)?;
        // Propagate schemas in topological order so every stage sees its real input.
        let mut input: Vec<Option<Arc<Schema>>> = vec![None; nodes.len()];
        for &e in entry {
            input[e] = Some(schema.clone());
        }
        for &i in &order {
            let Some(s) = input[i].clone() else { continue };
            let node = &mut nodes[i];
            let out = guarded(|| node.stage.init(&s))
                .map_err(|message| GraphError::InitPanicked {
                    node: node.id.clone(),
                    message: crate::input::shorten(&crate::input::escape_control(&message), 500).into_owned(),
                })?
                .map_err(|source| GraphError::Init {
                    node: node.id.clone(),
                    source,
                })?;
            for &n in &nodes[i].next {
                input[n].get_or_insert_with(|| out.clone());
            }
        }
        let mut inputs = vec![0usize; nodes.len()];
        for &e in entry {
            inputs[e] += 1;
        }
        for n in &nodes {
            for &t in &n.next {
                inputs[t] += 1;
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (fatal_tx, fatal_rx) = watch::channel(None);
        let (done_tx, done_rx) = watch::channel(None);
        let signals = Signals {
            fatal: fatal_tx,
            done: done_tx,
        };
        let mut refs: Vec<Option<ActorRef<StageActor>>> = vec![None; nodes.len()];
        let mut specs: Vec<Option<NodeSpec>> = nodes.drain(..).map(Some).collect();
        let mut terminals = 0;
        let mut ids = Vec::new();
        for &i in order.iter().rev() {
            let Some(spec) = specs[i].take() else {
                continue;
            };
            let next = spec.next.iter().filter_map(|&n| refs[n].clone()).collect::<Vec<_>>();
            if next.is_empty() {
                terminals += 1;
            }
            ids.push(spec.id.clone());
            let actor = StageActor {
                stage: spec.stage,
                next,
                stats: NodeStats {
                    node: spec.id,
                    ..NodeStats::default()
                },
                upstream_stats: Vec::new(),
                inputs: inputs[i],
                ends_seen: 0,
                ended: false,
                events: tx.clone(),
                signals: signals.clone(),
                failed: false,
                poisoned: false,
            };
            refs[i] = Some(StageActor::spawn(actor));
        }
        let entries = entry.iter().filter_map(|&e| refs[e].clone()).collect();
        let actors = refs.into_iter().flatten().collect();
        Ok(Self {
            entries,
            actors,
            ids,
            terminals,
            events: rx,
            fatal: fatal_rx,
            done: done_rx,
        })
    }

    /// Sends a batch into the graph, waiting while the entry nodes are full.
    pub async fn send(&self, batch: Batch) -> Result<(), GraphError> {
        if let Some((last, rest)) = self.entries.split_last() {
            for e in rest {
                e.tell(Flow::Batch(batch.clone()))
                    .await
                    .map_err(|_| GraphError::Closed)?;
            }
            last.tell(Flow::Batch(batch)).await.map_err(|_| GraphError::Closed)?;
        }
        Ok(())
    }

    /// A watch that turns `Some(fatal)` when a node fails fatally or panics.
    pub fn fatal_signal(&self) -> watch::Receiver<Option<Fatal>> {
        self.fatal.clone()
    }

    /// A watch that turns `Some(node)` when a node's [`Stage::done`] says the run may end.
    pub fn done_signal(&self) -> watch::Receiver<Option<String>> {
        self.done.clone()
    }

    /// Ends the stream, drains every node and returns the statistics, within [`FINISH_BOUND`].
    pub async fn finish(self, source: NodeStats) -> GraphReport {
        self.finish_within(source, FINISH_BOUND).await
    }

    /// Ends the stream and drains every node, waiting at most `bound` for the graph to drain;
    /// nodes that did not report by then are named in [`GraphReport::abandoned`].
    pub async fn finish_within(mut self, source: NodeStats, bound: Duration) -> GraphReport {
        let deadline = tokio::time::Instant::now() + bound;
        let mut report = GraphReport::default();
        let drain = async {
            for e in &self.entries {
                let _ = e.tell(Flow::End(vec![source.clone()])).await;
            }
            let mut done = 0;
            while done < self.terminals {
                match self.events.recv().await {
                    Some(GraphEvent::Finished(stats)) => {
                        done += 1;
                        for s in stats {
                            if !report.nodes.iter().any(|n| n.node == s.node) {
                                report.nodes.push(s);
                            }
                        }
                    }
                    None => break,
                }
            }
        };
        let drained = tokio::time::timeout_at(deadline, drain).await.is_ok();
        report.fatal = self.fatal.borrow().clone();
        if !drained {
            report.abandoned = self
                .ids
                .iter()
                .filter(|id| !report.nodes.iter().any(|n| &n.node == *id))
                .cloned()
                .collect();
            tracing::warn!(
                nodes = %report.abandoned.join(", "),
                "the graph did not drain within {} ms; stopped without waiting",
                bound.as_millis()
            );
        }
        self.stop(drained).await;
        report
    }

    /// Stops every actor without draining (nothing ran yet, or the run is being abandoned):
    /// no stage's `finish` is called.
    pub async fn abort(self) {
        self.stop(false).await;
    }

    async fn stop(&self, gracefully: bool) {
        let stop = async {
            for a in &self.actors {
                if gracefully {
                    let _ = a.stop_gracefully().await;
                } else {
                    a.kill();
                }
            }
            for a in &self.actors {
                a.wait_for_shutdown().await;
            }
        };
        if tokio::time::timeout(STOP_BOUND, stop).await.is_err() {
            for a in &self.actors {
                a.kill();
            }
        }
    }
}

fn topo_order(nodes: &[NodeSpec], entry: &[usize]) -> Result<Vec<usize>, GraphError> {
    for n in nodes {
        if let Some(&to) = n.next.iter().find(|&&t| t >= nodes.len()) {
            return Err(GraphError::DanglingEdge { from: n.id.clone(), to });
        }
    }
    if let Some(&to) = entry.iter().find(|&&t| t >= nodes.len()) {
        return Err(GraphError::DanglingEdge {
            from: "source".into(),
            to,
        });
    }
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    fn visit(i: usize, nodes: &[NodeSpec], state: &mut [u8], order: &mut Vec<usize>) -> Result<(), GraphError> {
        match state[i] {
            2 => return Ok(()),
            1 => return Err(GraphError::Cycle(nodes[i].id.clone())),
            _ => {}
        }
        state[i] = 1;
        for &n in &nodes[i].next {
            visit(n, nodes, state, order)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in entry.iter().copied().chain(0..nodes.len()) {
        visit(i, nodes, &mut state, &mut order)?;
    }
    order.reverse();
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldKind, SchemaBuilder};

    struct KeepEven;
    impl Stage for KeepEven {
        fn process(&mut self, mut b: Batch) -> Result<Option<Batch>, StageError> {
            let id = b.schema().resolve("n").map_err(|e| StageError::Fatal(e.to_string()))?;
            b.retain(|b, r| matches!(b.value(r, id), crate::Value::U64(v) if v % 2 == 0));
            Ok(Some(b))
        }
    }

    struct Collect(Arc<std::sync::Mutex<Vec<u64>>>);
    impl Stage for Collect {
        fn process(&mut self, b: Batch) -> Result<Option<Batch>, StageError> {
            let id = b.schema().resolve("n").map_err(|e| StageError::Fatal(e.to_string()))?;
            for r in 0..b.len() {
                if let crate::Value::U64(v) = b.value(r, id) {
                    self.0.lock().unwrap().push(v);
                }
            }
            Ok(None)
        }
    }

    fn schema() -> Arc<Schema> {
        let mut b = SchemaBuilder::new("t", 8);
        b.inline("n", FieldKind::U64, 0, 8);
        b.build().unwrap()
    }

    #[tokio::test]
    async fn batches_flow_in_order_and_stats_come_back() {
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let nodes = vec![
            NodeSpec {
                id: "even".into(),
                stage: Box::new(KeepEven),
                next: vec![1],
            },
            NodeSpec {
                id: "sink".into(),
                stage: Box::new(Collect(got.clone())),
                next: vec![],
            },
        ];
        let s = schema();
        let p = Pipeline::spawn(nodes, &[0], &s).unwrap();
        for chunk in 0..3u64 {
            let mut b = Batch::with_capacity(s.clone(), 4);
            for i in 0..4u64 {
                b.push_record(&(chunk * 4 + i).to_le_bytes());
            }
            p.send(b).await.unwrap();
        }
        let report = p
            .finish(NodeStats {
                node: "source".into(),
                ..NodeStats::default()
            })
            .await;
        assert_eq!(*got.lock().unwrap(), vec![0, 2, 4, 6, 8, 10]);
        let names: Vec<_> = report.nodes.iter().map(|n| n.node.as_str()).collect();
        assert_eq!(names, ["source", "even", "sink"]);
        assert_eq!(report.nodes[1].events_in, 12);
        assert_eq!(report.nodes[1].events_out, 6);
    }

    /// Panics in `process` (on the batch it is told to) or in `finish`.
    struct Panics {
        in_finish: bool,
    }
    impl Stage for Panics {
        fn process(&mut self, b: Batch) -> Result<Option<Batch>, StageError> {
            if self.in_finish {
                return Ok(Some(b));
            }
            panic!("boom in process");
        }
        fn finish(&mut self) -> Result<Option<Batch>, StageError> {
            panic!("boom in finish");
        }
    }

    struct PanicsInInit;
    impl Stage for PanicsInInit {
        fn init(&mut self, _: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
            panic!("boom in init");
        }
        fn process(&mut self, b: Batch) -> Result<Option<Batch>, StageError> {
            Ok(Some(b))
        }
    }

    /// Never finishes: a stage stuck in a write.
    struct Stuck;
    impl Stage for Stuck {
        fn process(&mut self, b: Batch) -> Result<Option<Batch>, StageError> {
            Ok(Some(b))
        }
        fn finish(&mut self) -> Result<Option<Batch>, StageError> {
            std::thread::sleep(Duration::from_secs(30));
            Ok(None)
        }
    }

    fn chain(first: Box<dyn Stage>, got: &Arc<std::sync::Mutex<Vec<u64>>>) -> Vec<NodeSpec> {
        vec![
            NodeSpec {
                id: "bad".into(),
                stage: first,
                next: vec![1],
            },
            NodeSpec {
                id: "sink".into(),
                stage: Box::new(Collect(got.clone())),
                next: vec![],
            },
        ]
    }

    fn numbers(s: &Arc<Schema>, n: u64) -> Batch {
        let mut b = Batch::with_capacity(s.clone(), n as usize);
        for i in 0..n {
            b.push_record(&i.to_le_bytes());
        }
        b
    }

    fn source() -> NodeStats {
        NodeStats {
            node: "source".into(),
            ..NodeStats::default()
        }
    }

    /// Runs `f` on a runtime with a hard limit, so a regression fails instead of hanging.
    fn bounded<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async { tokio::time::timeout(FINISH_BOUND * 3, f).await.expect("the graph hung") });
        rt.shutdown_timeout(Duration::from_millis(100));
        out
    }

    #[test]
    fn a_panic_in_process_is_fatal_names_the_node_and_still_drains() {
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = schema();
        let report = bounded(async {
            let p = Pipeline::spawn(chain(Box::new(Panics { in_finish: false }), &got), &[0], &s).unwrap();
            let mut fatal = p.fatal_signal();
            p.send(numbers(&s, 3)).await.unwrap();
            fatal.wait_for(|f| f.is_some()).await.unwrap();
            // Later batches are counted as lost, never handed to the poisoned stage.
            p.send(numbers(&s, 2)).await.unwrap();
            let t = Instant::now();
            let report = p.finish(source()).await;
            assert!(t.elapsed() < FINISH_BOUND, "finish took {:?}", t.elapsed());
            report
        });
        let fatal = report.fatal.expect("fatal");
        assert_eq!(fatal.to_string(), "node bad panicked: boom in process");
        assert!(report.abandoned.is_empty(), "{:?}", report.abandoned);
        let names: Vec<_> = report.nodes.iter().map(|n| n.node.as_str()).collect();
        assert_eq!(names, ["source", "bad", "sink"]);
        assert_eq!(report.nodes[1].events_lost, 5);
        assert!(got.lock().unwrap().is_empty());
    }

    #[test]
    fn a_panic_in_finish_is_fatal_and_finish_returns() {
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = schema();
        let report = bounded(async {
            let p = Pipeline::spawn(chain(Box::new(Panics { in_finish: true }), &got), &[0], &s).unwrap();
            p.send(numbers(&s, 4)).await.unwrap();
            let t = Instant::now();
            let report = p.finish(source()).await;
            assert!(t.elapsed() < FINISH_BOUND, "finish took {:?}", t.elapsed());
            report
        });
        assert_eq!(report.fatal.unwrap().to_string(), "node bad panicked: boom in finish");
        assert_eq!(*got.lock().unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(report.nodes.len(), 3);
    }

    #[test]
    fn a_panic_in_init_is_an_error_naming_the_node() {
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let err = Pipeline::spawn(chain(Box::new(PanicsInInit), &got), &[0], &schema()).unwrap_err();
        assert_eq!(err.to_string(), "node bad panicked in init: boom in init");
    }

    #[test]
    fn a_stuck_stage_is_abandoned_within_the_bound() {
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = schema();
        let (report, took) = bounded(async {
            let p = Pipeline::spawn(chain(Box::new(Stuck), &got), &[0], &s).unwrap();
            p.send(numbers(&s, 1)).await.unwrap();
            let t = Instant::now();
            let report = p.finish_within(source(), Duration::from_millis(300)).await;
            (report, t.elapsed())
        });
        assert!(took < Duration::from_secs(2), "finish took {took:?}");
        assert_eq!(report.abandoned, ["sink", "bad"]);
        assert!(report.fatal.is_none());
    }

    #[test]
    fn end_after_says_done_once_the_limit_went_by() {
        let s = schema();
        let mut stage = EndAfter::new(Box::new(KeepEven), 3);
        stage.init(&s).unwrap();
        stage.process(numbers(&s, 4)).unwrap();
        assert!(!stage.done());
        stage.process(numbers(&s, 2)).unwrap();
        assert!(stage.done());
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let done = bounded(async {
            let p = Pipeline::spawn(chain(Box::new(EndAfter::new(Box::new(KeepEven), 2)), &got), &[0], &s).unwrap();
            let mut done = p.done_signal();
            p.send(numbers(&s, 4)).await.unwrap();
            done.wait_for(|d| d.is_some()).await.unwrap();
            let node = done.borrow().clone();
            p.finish(source()).await;
            node
        });
        assert_eq!(done.as_deref(), Some("bad"));
    }

    #[test]
    fn cycles_are_refused_before_spawning() {
        let nodes = vec![
            NodeSpec {
                id: "a".into(),
                stage: Box::new(KeepEven),
                next: vec![1],
            },
            NodeSpec {
                id: "b".into(),
                stage: Box::new(KeepEven),
                next: vec![0],
            },
        ];
        let err = Pipeline::spawn(nodes, &[0], &schema()).unwrap_err();
        assert!(matches!(err, GraphError::Cycle(_)), "{err}");
    }
}
