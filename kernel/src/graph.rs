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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kameo::actor::{Actor, ActorRef, Spawn};
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
    #[error("graph edge from {from:?} points to node #{to}, which does not exist")]
    DanglingEdge {
        /// The node the edge leaves.
        from: String,
        /// The missing index.
        to: usize,
    },
    /// The edges form a loop.
    #[error("graph has a cycle through node {0:?}")]
    Cycle(String),
    /// The graph has no entry node.
    #[error("graph has no entry node")]
    NoEntry,
    /// A node's `init` refused its input.
    #[error("node {node:?} refused its input: {source}")]
    Init {
        /// Which node.
        node: String,
        /// Why.
        #[source]
        source: StageError,
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
    events: mpsc::UnboundedSender<GraphEvent>,
    fatal: watch::Sender<Option<(String, String)>>,
    failed: bool,
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

    fn record(&mut self, result: Result<Option<Batch>, StageError>, rows: u64) -> Option<Batch> {
        match result {
            Ok(out) => out,
            Err(StageError::Batch(message)) => {
                self.stats.errors += 1;
                self.stats.events_lost += rows;
                tracing::warn!(node = %self.stats.node, "batch dropped: {message}");
                None
            }
            Err(StageError::Fatal(message)) => {
                self.stats.errors += 1;
                self.stats.events_lost += rows;
                self.failed = true;
                tracing::error!(node = %self.stats.node, "stage failed: {message}");
                let first = (self.stats.node.clone(), message);
                self.fatal
                    .send_if_modified(|f| f.is_none() && f.replace(first).is_none());
                None
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
                let out = self.stage.process(batch);
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
                    let out = self.stage.finish();
                    self.stats.busy += t.elapsed();
                    if let Some(out) = self.record(out, 0) {
                        self.forward(out).await;
                    }
                }
                self.stats.counters = self.stage.counters();
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
    }
}

/// A running graph: feed it batches, then end it and collect its statistics.
#[derive(Debug)]
pub struct Pipeline {
    entries: Vec<ActorRef<StageActor>>,
    actors: Vec<ActorRef<StageActor>>,
    terminals: usize,
    events: mpsc::UnboundedReceiver<GraphEvent>,
    fatal: watch::Receiver<Option<(String, String)>>,
}

/// The outcome of a finished graph.
#[derive(Debug, Default)]
pub struct GraphReport {
    /// Per-node statistics, upstream first.
    pub nodes: Vec<NodeStats>,
    /// The first fatal error, as `(node, message)`.
    pub fatal: Option<(String, String)>,
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
            let out = nodes[i].stage.init(&s).map_err(|source| GraphError::Init {
                node: nodes[i].id.clone(),
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
        let mut refs: Vec<Option<ActorRef<StageActor>>> = vec![None; nodes.len()];
        let mut specs: Vec<Option<NodeSpec>> = nodes.drain(..).map(Some).collect();
        let mut terminals = 0;
        for &i in order.iter().rev() {
            let Some(spec) = specs[i].take() else {
                continue;
            };
            let next = spec.next.iter().filter_map(|&n| refs[n].clone()).collect::<Vec<_>>();
            if next.is_empty() {
                terminals += 1;
            }
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
                events: tx.clone(),
                fatal: fatal_tx.clone(),
                failed: false,
            };
            refs[i] = Some(StageActor::spawn(actor));
        }
        let entries = entry.iter().filter_map(|&e| refs[e].clone()).collect();
        let actors = refs.into_iter().flatten().collect();
        Ok(Self {
            entries,
            actors,
            terminals,
            events: rx,
            fatal: fatal_rx,
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

    /// A watch that turns `Some((node, message))` when a node fails fatally.
    pub fn fatal_signal(&self) -> watch::Receiver<Option<(String, String)>> {
        self.fatal.clone()
    }

    /// Ends the stream, drains every node and returns the statistics.
    pub async fn finish(mut self, source: NodeStats) -> GraphReport {
        for e in &self.entries {
            let _ = e.tell(Flow::End(vec![source.clone()])).await;
        }
        let mut report = GraphReport {
            nodes: Vec::new(),
            fatal: None,
        };
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
        report.fatal = self.fatal.borrow().clone();
        for a in &self.actors {
            let _ = a.stop_gracefully().await;
        }
        for a in &self.actors {
            a.wait_for_shutdown().await;
        }
        report
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
