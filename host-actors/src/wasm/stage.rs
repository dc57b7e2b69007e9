//! [`WasmStage`]: one operator instance as a node of the graph.
//!
//! `init` converts the input schema, instantiates the component and calls the guest's `init`;
//! `process` makes exactly one guest call per batch; `finish` calls `flush`, and so does a batch
//! that arrives once the spec's window (`flush_every`) has elapsed. Each call runs under
//! an epoch deadline ([`Limits::deadline`], ten times that for `init` and `flush`) in a store
//! whose memory is capped ([`Limits::memory_bytes`]), and its output is validated and capped
//! before it becomes a batch.
//!
//! Failure handling is the spec's [`OnError`]: `stop` makes the failure fatal to the run; `skip`
//! drops the batch and carries on (with a fresh instance when a trap poisoned the old one);
//! `restart` drops the batch and always starts a fresh instance, re-running `init` with the same
//! config and schema. A fresh instance that cannot be started is fatal. Invariant: after a trap
//! the old store is never entered again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rig_kernel::{Batch, Schema, Stage, StageError};
use wasmtime::{Store, Trap};

use super::bindings::rig::operator::types::BatchParam;
use super::bindings::{Output, RigOperator};
use super::convert::{self, Cap};
use super::engine::{EPOCH_TICK, LoadedComponent};
use super::sandbox::{HostState, MemoryLimitExceeded, blocking};
use super::{Limits, OnError, OperatorHost, OperatorSpec, WasmError};

/// Most distinct guest counter names kept per stage.
const MAX_COUNTERS: usize = 256;

/// Fresh instances started for consecutive failing batches before the failure becomes fatal: an
/// operator that fails every batch would otherwise cost an instantiation and an `init` per batch
/// forever while its output is lost.
pub const MAX_RESTARTS_IN_A_ROW: u32 = 20;

/// A live instance: its store and its exports.
struct Instance {
    store: Store<HostState>,
    bindings: RigOperator,
}

/// An operator running as a [`Stage`]. Build it with [`WasmStage::new`].
pub struct WasmStage {
    host: Arc<OperatorHost>,
    component: LoadedComponent,
    spec: OperatorSpec,
    /// `node (source)`: how messages name this operator.
    label: Arc<str>,
    params: Arc<[(String, String)]>,
    instance: Option<Instance>,
    input: Option<Arc<Schema>>,
    output: Option<Arc<Schema>>,
    /// Set once a failure was fatal: the stage refuses further batches.
    stopped: Option<String>,
    calls: u64,
    traps: u64,
    restarts: u64,
    guest: Duration,
    guest_counters: BTreeMap<String, u64>,
    /// Rows and bytes seen since the last `flush`, the base of the flush output cap.
    pending_rows: u64,
    pending_bytes: u64,
    /// When `flush` last ran (or the stage started): the start of the current window.
    window_start: Instant,
    /// Restarts since the last batch that succeeded.
    restarts_in_a_row: u32,
}

impl std::fmt::Debug for WasmStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmStage")
            .field("operator", &self.label)
            .field("on_error", &self.spec.on_error)
            .field("limits", &self.spec.limits)
            .finish_non_exhaustive()
    }
}

fn ticks(deadline: Duration) -> u64 {
    // One tick more than the deadline, since the current tick may be about to end.
    (deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64).max(1) + 1
}

fn mib(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

impl WasmStage {
    /// Loads the spec's component (compiled once per host) and starts an instance. The guest's
    /// `init` runs later, in [`Stage::init`], when the input schema is known.
    pub fn new(host: &Arc<OperatorHost>, spec: OperatorSpec) -> Result<WasmStage, WasmError> {
        let component = host.load(&spec.source)?;
        let source = component.name().to_owned();
        let label: Arc<str> = if spec.node.is_empty() || spec.node == source {
            source.into()
        } else {
            format!("{} ({source})", spec.node).into()
        };
        let mut stage = WasmStage {
            host: host.clone(),
            component,
            params: spec.config.clone().into(),
            spec,
            label,
            instance: None,
            input: None,
            output: None,
            stopped: None,
            calls: 0,
            traps: 0,
            restarts: 0,
            guest: Duration::ZERO,
            guest_counters: BTreeMap::new(),
            pending_rows: 0,
            pending_bytes: 0,
            window_start: Instant::now(),
            restarts_in_a_row: 0,
        };
        stage.instance = Some(stage.instantiate()?);
        Ok(stage)
    }

    /// The operator's name in messages: `node (source)`.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn limits(&self) -> &Limits {
        &self.spec.limits
    }

    fn instantiate(&self) -> Result<Instance, WasmError> {
        let state = HostState::new(
            self.label.clone(),
            self.limits().memory_bytes,
            self.params.clone(),
            &self.spec.grants,
        )?;
        let mut store = Store::new(self.host.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks(self.limits().deadline * 10));
        let pre = self.component.pre().clone();
        let bindings = blocking(|| pre.instantiate(&mut store)).map_err(|e| match self.classify(&store, e) {
            WasmError::Trap { kind, detail, .. } => WasmError::Instantiate {
                operator: self.label.to_string(),
                reason: detail.map(|d| format!("{kind} ({d})")).unwrap_or(kind),
            },
            other => other,
        })?;
        Ok(Instance { store, bindings })
    }

    /// Names what stopped a call: the deadline, the memory cap, a trap code, or a host error.
    fn classify(&self, store: &Store<HostState>, e: wasmtime::Error) -> WasmError {
        let limits = self.limits();
        let oom = e.chain().find_map(|c| c.downcast_ref::<MemoryLimitExceeded>());
        let kind = if let Some(m) = oom {
            format!(
                "out of memory (limit {}, asked for {} MiB)",
                mib(limits.memory_bytes),
                m.desired.div_ceil(1 << 20)
            )
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => format!("deadline exceeded ({} ms)", limits.deadline.as_millis()),
                Some(Trap::UnreachableCodeReached) => "trap: unreachable".to_owned(),
                Some(t) => format!("trap: {t}"),
                None => format!("error: {e:#}"),
            }
        };
        WasmError::Trap {
            operator: self.label.to_string(),
            kind,
            detail: store.data().stderr.last_words(),
        }
    }

    /// Moves the guest's counters out of the store (they survive restarts).
    fn drain_counters(&mut self) {
        let Some(inst) = self.instance.as_mut() else { return };
        for (name, n) in std::mem::take(&mut inst.store.data_mut().counters) {
            if let Some(c) = self.guest_counters.get_mut(&name) {
                *c = c.saturating_add(n);
            } else if self.guest_counters.len() < MAX_COUNTERS {
                self.guest_counters.insert(name, n);
            }
        }
    }

    /// Calls the guest's `init` on the current instance.
    fn call_init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, WasmError> {
        let deadline = ticks(self.limits().deadline * 10);
        let Some(inst) = self.instance.as_mut() else {
            return Err(WasmError::Instantiate {
                operator: self.label.to_string(),
                reason: "no instance".to_owned(),
            });
        };
        inst.store.set_epoch_deadline(deadline);
        let config = &self.spec.config;
        let t = Instant::now();
        let r = convert::with_wit_schema(input, |schema| {
            let config: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (bindings, store) = (&inst.bindings, &mut inst.store);
            blocking(|| bindings.rig_operator_operator().call_init(store, &config, schema))
        });
        self.guest += t.elapsed();
        self.calls += 1;
        self.drain_counters();
        match r {
            Ok(Ok(out)) => convert::schema_from_wit(out, input).map_err(|reason| WasmError::Output {
                operator: self.label.to_string(),
                reason: format!("init: {reason}"),
            }),
            Ok(Err(message)) => Err(WasmError::Guest {
                operator: self.label.to_string(),
                message: format!("init: {message}"),
            }),
            Err(e) => {
                self.traps += 1;
                let Some(inst) = self.instance.take() else {
                    unreachable!("checked above")
                };
                Err(self.classify(&inst.store, e))
            }
        }
    }

    /// Replaces the instance with a fresh one and runs `init` again with the same schema.
    fn restart(&mut self) -> Result<(), WasmError> {
        self.instance = None;
        self.restarts += 1;
        self.instance = Some(self.instantiate()?);
        if let Some(input) = self.input.clone() {
            let out = self.call_init(&input)?;
            if self.output.as_ref().is_some_and(|o| *o != out) {
                return Err(WasmError::Output {
                    operator: self.label.to_string(),
                    reason: "init returned a different schema after a restart".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Turns a failed call into the stage's answer, following `on_error`. `poisoned` is true
    /// when the instance trapped and must not be entered again.
    fn fail(&mut self, err: WasmError, poisoned: bool) -> StageError {
        let msg = err.to_string();
        let policy = self.spec.on_error;
        if poisoned {
            self.instance = None;
        }
        let recover = match policy {
            OnError::Stop => {
                self.instance = None;
                self.stopped = Some(msg.clone());
                return StageError::Fatal(msg);
            }
            OnError::Skip => poisoned,
            OnError::Restart => true,
        };
        if recover && self.restarts_in_a_row >= MAX_RESTARTS_IN_A_ROW {
            self.instance = None;
            let fatal = format!(
                "{msg}; it failed {MAX_RESTARTS_IN_A_ROW} batches in a row after restarts: not restarting it again"
            );
            self.stopped = Some(fatal.clone());
            return StageError::Fatal(fatal);
        }
        if recover {
            self.restarts_in_a_row += 1;
        }
        if recover && let Err(again) = self.restart() {
            self.instance = None;
            let fatal = format!("{msg}; restarting it failed: {again}");
            self.stopped = Some(fatal.clone());
            return StageError::Fatal(fatal);
        }
        StageError::Batch(msg)
    }

    fn output_schema(&self) -> Result<Arc<Schema>, StageError> {
        self.output
            .clone()
            .ok_or_else(|| StageError::Fatal(format!("operator {}: process called before init", self.label)))
    }
}

impl Stage for WasmStage {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        if self.instance.is_none() {
            self.instance = Some(self.instantiate().map_err(|e| StageError::Fatal(e.to_string()))?);
        }
        self.input = Some(input.clone());
        let out = self.call_init(input).map_err(|e| StageError::Fatal(e.to_string()))?;
        self.output = Some(out.clone());
        Ok(out)
    }

    fn process(&mut self, batch: Batch) -> Result<Option<Batch>, StageError> {
        if let Some(msg) = &self.stopped {
            return Err(StageError::Fatal(msg.clone()));
        }
        let out_schema = self.output_schema()?;
        if self.instance.is_none() {
            // An earlier restart was dropped (cannot happen today), start again.
            self.restart().map_err(|e| StageError::Fatal(e.to_string()))?;
        }
        let count = batch.len();
        let in_bytes = (batch.rows_bytes().len() + batch.heap_bytes().len()) as u64;
        self.pending_rows += count as u64;
        self.pending_bytes += in_bytes;
        let deadline = ticks(self.limits().deadline);
        let Some(inst) = self.instance.as_mut() else {
            return Err(StageError::Fatal(format!("operator {}: no instance", self.label)));
        };
        inst.store.set_epoch_deadline(deadline);
        let param = BatchParam {
            rows: batch.rows_bytes(),
            heap: batch.heap_bytes(),
            count: count as u32,
        };
        let t = Instant::now();
        let (bindings, store) = (&inst.bindings, &mut inst.store);
        let r = blocking(|| bindings.rig_operator_operator().call_process(store, param));
        self.guest += t.elapsed();
        self.calls += 1;
        self.drain_counters();
        let cap = Cap::of(self.limits().max_output_factor, count as u64, in_bytes);
        let applied = match r {
            Ok(Ok(Output::Keep(indices))) => convert::apply_keep(batch, &indices, &out_schema, cap),
            Ok(Ok(Output::Rows(rows))) => convert::apply_rows(rows, &out_schema, cap),
            Ok(Err(message)) => {
                let err = WasmError::Guest {
                    operator: self.label.to_string(),
                    message,
                };
                return Err(self.fail(err, false));
            }
            Err(e) => {
                self.traps += 1;
                let err = match self.instance.as_ref() {
                    Some(inst) => self.classify(&inst.store, e),
                    None => WasmError::Trap {
                        operator: self.label.to_string(),
                        kind: format!("error: {e:#}"),
                        detail: None,
                    },
                };
                return Err(self.fail(err, true));
            }
        };
        match applied {
            Ok(b) => {
                self.restarts_in_a_row = 0;
                self.end_window(b)
            }
            Err(reason) => {
                let err = WasmError::Output {
                    operator: self.label.to_string(),
                    reason,
                };
                Err(self.fail(err, false))
            }
        }
    }

    fn finish(&mut self) -> Result<Option<Batch>, StageError> {
        self.flush_now()
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let mut c = self.guest_counters.clone();
        c.insert("calls".into(), self.calls);
        c.insert("traps".into(), self.traps);
        c.insert("restarts".into(), self.restarts);
        c.insert("guest_ns".into(), self.guest.as_nanos() as u64);
        c
    }
}

impl WasmStage {
    /// After a batch: when a window is set and has elapsed, flushes and appends what the flush
    /// returned to `batch` (a sort holds its rows, so `batch` is then empty).
    fn end_window(&mut self, mut batch: Batch) -> Result<Option<Batch>, StageError> {
        let Some(every) = self.spec.flush_every else {
            return Ok(Some(batch));
        };
        if self.window_start.elapsed() < every {
            return Ok(Some(batch));
        }
        if let Some(flushed) = self.flush_now()? {
            if batch.is_empty() {
                return Ok(Some(flushed));
            }
            // Both are laid out in the output schema (`keep` answers require it to be the input's).
            batch.append(&flushed);
        }
        Ok(Some(batch))
    }

    /// Calls the guest's `flush` and turns its answer into a batch.
    fn flush_now(&mut self) -> Result<Option<Batch>, StageError> {
        self.window_start = Instant::now();
        if self.stopped.is_some() || self.instance.is_none() {
            return Ok(None);
        }
        let out_schema = self.output_schema()?;
        let deadline = ticks(self.limits().deadline * 10);
        let Some(inst) = self.instance.as_mut() else {
            return Ok(None);
        };
        inst.store.set_epoch_deadline(deadline);
        let t = Instant::now();
        let (bindings, store) = (&inst.bindings, &mut inst.store);
        let r = blocking(|| bindings.rig_operator_operator().call_flush(store));
        self.guest += t.elapsed();
        self.calls += 1;
        self.drain_counters();
        let cap = Cap::of(self.limits().max_output_factor, self.pending_rows, self.pending_bytes);
        self.pending_rows = 0;
        self.pending_bytes = 0;
        let err = match r {
            Ok(Ok(None)) => return Ok(None),
            Ok(Ok(Some(rows))) => match convert::apply_rows(rows, &out_schema, cap) {
                Ok(b) => return Ok(Some(b)),
                Err(reason) => WasmError::Output {
                    operator: self.label.to_string(),
                    reason: format!("flush: {reason}"),
                },
            },
            Ok(Err(message)) => WasmError::Guest {
                operator: self.label.to_string(),
                message: format!("flush: {message}"),
            },
            Err(e) => {
                self.traps += 1;
                let inst = self.instance.take();
                match inst {
                    Some(inst) => self.classify(&inst.store, e),
                    None => unreachable!("checked above"),
                }
            }
        };
        // A restart would only lose the held rows again: the window's rows are dropped, counted.
        Err(match self.spec.on_error {
            OnError::Stop => StageError::Fatal(err.to_string()),
            OnError::Skip | OnError::Restart => StageError::Batch(err.to_string()),
        })
    }
}
