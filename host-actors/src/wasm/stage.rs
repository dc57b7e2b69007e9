//! [`WasmStage`]: one operator instance as a node of the graph.
//!
//! `init` converts the input schema, instantiates the component and calls the guest's `init`;
//! `process` makes exactly one guest call per batch; `finish` calls `flush`, and so does a batch
//! that arrives once the spec's window (`flush_every`) has elapsed. Each call runs under a
//! deadline ([`Limits::deadline`], [`LONG_CALL_FACTOR`] times that for `init` and `flush`) that
//! holds both in guest code (epoch interrupt) and in blocking WASI host calls (the call's future
//! is dropped), in a store whose memory is capped ([`Limits::memory_bytes`], and all instances
//! of a host together by [`super::RUN_MEMORY_BYTES`]), and its output is validated and capped
//! (relative to its input and absolutely) before it becomes a batch.
//!
//! Failure handling is the spec's [`OnError`]: `stop` makes the failure fatal to the run; `skip`
//! drops the batch and carries on (with a fresh instance when a trap poisoned the old one);
//! `restart` drops the batch and always starts a fresh instance, re-running `init` with the same
//! config and schema, and gives up after [`MAX_RESTARTS_IN_A_ROW`] failing batches in a row. A
//! fresh instance that cannot be started is fatal. Invariant: after a trap or a dropped call the
//! old store is never entered again.
//!
//! Guest text (error strings, panic messages, log lines) is untrusted: it is cut, escaped and
//! labelled as the operator's ([`super::sandbox::guest_text`]), and logs are rate-limited.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rig_kernel::{Batch, Schema, Stage, StageError};
use wasmtime::{Store, Trap};

use super::bindings::rig::operator::types::BatchParam;
use super::bindings::{Output, RigOperator};
use super::convert::{self, Cap};
use super::engine::{EPOCH_TICK, LoadedComponent};
use super::project::{Declared, Projection};
use super::sandbox::{CallFailure, HostState, LogBudget, MemoryLimitExceeded, RunMemoryExceeded, guest_text, run_guest};
use super::{Limits, OnError, OperatorHost, OperatorSpec, WasmError};

/// Most distinct guest counter names kept per stage.
const MAX_COUNTERS: usize = 256;

/// Fresh instances started for consecutive failing batches before the failure becomes fatal: an
/// operator that fails every batch would otherwise cost an instantiation and an `init` per batch
/// forever while its output is lost.
pub const MAX_RESTARTS_IN_A_ROW: u32 = 20;

/// `init` and `flush` get this many times [`Limits::deadline`]: starting an interpreter (Python,
/// JS) or emitting a whole sort window takes longer than one batch.
pub const LONG_CALL_FACTOR: u32 = 10;

/// A wasm backtrace this deep at an out-of-bounds access means the guest's stack (kept in its
/// linear memory by Rust and C toolchains) ran past its end: a stack overflow.
const DEEP_STACK_FRAMES: usize = 128;

/// Which export a call enters: sets the deadline and how messages name the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Instantiate,
    Init,
    Process,
    Flush,
}

impl Call {
    fn limit(self, limits: &Limits) -> Duration {
        match self {
            Call::Process => limits.deadline,
            Call::Instantiate | Call::Init | Call::Flush => limits.deadline.saturating_mul(LONG_CALL_FACTOR),
        }
    }
}

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
    /// The log rate limit, shared by every instance of this stage.
    logs: Arc<LogBudget>,
    /// The fields the guest declared with `host.project` in its last `init`, if it did.
    projection: Option<Projection>,
    /// The packed read columns of the batch being processed (reused across calls).
    scratch: Vec<u8>,
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

/// The epoch deadline of a call of `limit`, in ticks.
fn ticks(deadline: Duration) -> u64 {
    // One tick more than the deadline, since the current tick may be about to end.
    (deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).min(u128::from(u32::MAX)) as u64).max(1) + 1
}

/// How long a call may wait in host calls: past its epoch deadline by two ticks, so guest code
/// that runs out of time is reported by the epoch interrupt, which names it as such.
fn wall_limit(deadline: Duration) -> Duration {
    deadline.saturating_add(EPOCH_TICK * 2)
}

fn millis(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
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
            logs: Arc::new(LogBudget::new()),
            projection: None,
            scratch: Vec::new(),
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
            self.host.run_memory(),
            self.logs.clone(),
            self.params.clone(),
            &self.spec.grants,
        )?;
        let mut store = Store::new(self.host.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        let limit = Call::Instantiate.limit(self.limits());
        store.set_epoch_deadline(ticks(limit));
        let pre = self.component.pre().clone();
        let r = run_guest(wall_limit(limit), pre.instantiate_async(&mut store));
        let bindings = r.map_err(|e| match self.classify(&store, e, Call::Instantiate) {
            WasmError::Trap { kind, detail, .. } => WasmError::Instantiate {
                operator: self.label.to_string(),
                reason: detail.map(|d| format!("{kind} ({d})")).unwrap_or(kind),
            },
            other => other,
        })?;
        Ok(Instance { store, bindings })
    }

    /// Names what stopped a call: the deadline (in guest code or in a blocking host call), the
    /// memory caps, a stack overflow, a panic, a trap code, or a host error.
    fn classify(&self, store: &Store<HostState>, failure: CallFailure, call: Call) -> WasmError {
        let limits = self.limits();
        let limit = millis(call.limit(limits));
        let detail = store.data().stderr.last_words();
        let e = match failure {
            CallFailure::Blocked => {
                return WasmError::Trap {
                    operator: self.label.to_string(),
                    kind: format!("deadline exceeded in a blocking host call ({limit})"),
                    detail,
                };
            }
            CallFailure::Wasm(e) => e,
        };
        let oom = e.chain().find_map(|c| c.downcast_ref::<MemoryLimitExceeded>());
        let run_oom = e.chain().find_map(|c| c.downcast_ref::<RunMemoryExceeded>());
        let panicked = detail.as_deref().is_some_and(|d| d.contains("panicked at"));
        let depth = e.downcast_ref::<wasmtime::WasmBacktrace>().map_or(0, |b| b.frames().len());
        let kind = if let Some(m) = oom {
            format!(
                "out of memory (limit {}, asked for {} MiB)",
                mib(limits.memory_bytes),
                m.desired.div_ceil(1 << 20)
            )
        } else if let Some(m) = run_oom {
            format!(
                "out of memory (the run's operators together are capped at {}, and it asked for {} MiB more)",
                mib(m.limit),
                m.more.div_ceil(1 << 20)
            )
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => format!("deadline exceeded ({limit})"),
                Some(Trap::StackOverflow) => "stack overflow".to_owned(),
                Some(Trap::MemoryOutOfBounds) if depth >= DEEP_STACK_FRAMES => {
                    format!("stack overflow (out of bounds memory access {depth} calls deep)")
                }
                Some(Trap::UnreachableCodeReached) if panicked => "the operator panicked".to_owned(),
                Some(Trap::UnreachableCodeReached) => "trap: unreachable".to_owned(),
                Some(t) => format!("trap: {t}"),
                None => format!("error: {}", guest_text(&format!("{e:#}"))),
            }
        };
        WasmError::Trap {
            operator: self.label.to_string(),
            kind,
            detail,
        }
    }

    /// Moves what the guest added to its counters since the last call out of the store (so they
    /// survive restarts). The names stay in the store at zero, so the next `counter-add` of a
    /// known name allocates nothing; a counter first added with 0 (declared at `init`) is shown
    /// from then on.
    fn drain_counters(&mut self) {
        let Some(inst) = self.instance.as_mut() else { return };
        for (name, n) in inst.store.data_mut().counters.iter_mut() {
            if let Some(c) = self.guest_counters.get_mut(name.as_str()) {
                *c = c.saturating_add(std::mem::take(n));
            } else if self.guest_counters.len() < MAX_COUNTERS {
                self.guest_counters.insert(name.clone(), std::mem::take(n));
            }
        }
    }

    /// Calls the guest's `init` on the current instance.
    fn call_init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, WasmError> {
        let limit = Call::Init.limit(self.limits());
        let Some(inst) = self.instance.as_mut() else {
            return Err(WasmError::Instantiate {
                operator: self.label.to_string(),
                reason: "no instance".to_owned(),
            });
        };
        inst.store.set_epoch_deadline(ticks(limit));
        inst.store.data_mut().declared = Declared {
            input: Some(input.clone()),
            projection: None,
        };
        let config = &self.spec.config;
        let t = Instant::now();
        let r = convert::with_wit_schema(input, |schema| {
            let config: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (bindings, store) = (&inst.bindings, &mut inst.store);
            run_guest(
                wall_limit(limit),
                bindings.rig_operator_operator().call_init(store, &config, schema),
            )
        });
        self.guest += t.elapsed();
        self.calls += 1;
        self.projection = std::mem::take(&mut inst.store.data_mut().declared).projection;
        self.drain_counters();
        match r {
            Ok(Ok(out)) => {
                let out = convert::schema_from_wit(out, input).map_err(|reason| WasmError::Output {
                    operator: self.label.to_string(),
                    reason: format!("init: {reason}"),
                })?;
                if self.projection.is_some() && *out != **input {
                    return Err(WasmError::Output {
                        operator: self.label.to_string(),
                        reason: "init: an operator that projects must return its input schema".to_owned(),
                    });
                }
                Ok(out)
            }
            Ok(Err(message)) => Err(WasmError::Guest {
                operator: self.label.to_string(),
                message: format!("init: {}", guest_text(&message)),
            }),
            Err(e) => {
                self.traps += 1;
                let Some(inst) = self.instance.take() else {
                    unreachable!("checked above")
                };
                Err(self.classify(&inst.store, e, Call::Init))
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
        // Only `restart` is bounded (docs/operators.md): `skip` replaces a poisoned instance for
        // as long as batches come, since dropping failing batches is what it was asked to do.
        if recover && policy == OnError::Restart && self.restarts_in_a_row >= MAX_RESTARTS_IN_A_ROW {
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
        let limit = Call::Process.limit(self.limits());
        let Some(inst) = self.instance.as_mut() else {
            return Err(StageError::Fatal(format!("operator {}: no instance", self.label)));
        };
        inst.store.set_epoch_deadline(ticks(limit));
        // A projected guest gets only the columns it reads (and the heap only if it reads one).
        let param = match &self.projection {
            Some(p) => {
                p.pack(&batch, &mut self.scratch);
                BatchParam {
                    rows: &self.scratch,
                    heap: if p.reads_heap() { batch.heap_bytes() } else { &[] },
                    count: count as u32,
                }
            }
            None => BatchParam {
                rows: batch.rows_bytes(),
                heap: batch.heap_bytes(),
                count: count as u32,
            },
        };
        let t = Instant::now();
        let (bindings, store) = (&inst.bindings, &mut inst.store);
        let r = run_guest(
            wall_limit(limit),
            bindings.rig_operator_operator().call_process(store, param),
        );
        self.guest += t.elapsed();
        self.calls += 1;
        self.drain_counters();
        let cap = Cap::of(self.limits().max_output_factor, count as u64, in_bytes);
        let applied = match r {
            Ok(Ok(Output::Keep(indices))) => convert::apply_keep(batch, &indices, &out_schema, cap),
            Ok(Ok(Output::Rows(rows))) => match &self.projection {
                Some(p) => p.patch(batch, &rows.rows, rows.heap, rows.count, cap),
                None => convert::apply_rows(rows, &out_schema, cap),
            },
            Ok(Err(message)) => {
                let err = WasmError::Guest {
                    operator: self.label.to_string(),
                    message: guest_text(&message),
                };
                return Err(self.fail(err, false));
            }
            Err(e) => {
                self.traps += 1;
                let err = match self.instance.as_ref() {
                    Some(inst) => self.classify(&inst.store, e, Call::Process),
                    None => WasmError::Trap {
                        operator: self.label.to_string(),
                        kind: "the instance is gone".to_owned(),
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
        let r = self.flush_now();
        let suppressed = self.logs.suppressed();
        if suppressed > 0 {
            tracing::warn!("operator {}: {suppressed} log lines suppressed (more than {} a second)", self.label, super::sandbox::LOG_LINES_PER_SECOND);
        }
        r
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let mut c = self.guest_counters.clone();
        c.insert("calls".into(), self.calls);
        c.insert("traps".into(), self.traps);
        c.insert("restarts".into(), self.restarts);
        c.insert("guest_ns".into(), self.guest.as_nanos() as u64);
        let suppressed = self.logs.suppressed();
        if suppressed > 0 {
            c.insert("log_lines_suppressed".into(), suppressed);
        }
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
        let limit = Call::Flush.limit(self.limits());
        let Some(inst) = self.instance.as_mut() else {
            return Ok(None);
        };
        inst.store.set_epoch_deadline(ticks(limit));
        let t = Instant::now();
        let (bindings, store) = (&inst.bindings, &mut inst.store);
        let r = run_guest(wall_limit(limit), bindings.rig_operator_operator().call_flush(store));
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
                message: format!("flush: {}", guest_text(&message)),
            },
            Err(e) => {
                self.traps += 1;
                let inst = self.instance.take();
                match inst {
                    Some(inst) => self.classify(&inst.store, e, Call::Flush),
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
