//! The sandbox of one operator instance: what its `Store` holds and what the guest can reach.
//!
//! Every instance gets a fresh [`HostState`]: a WASI p2 context with no ambient authority (no
//! environment, arguments or stdin; stdout and stderr captured and forwarded line by line to
//! `tracing`, tagged with the operator's name; every socket address and name lookup denied; no
//! preopened directory unless [`Grants::dir`], then exactly that one, as `/`, through cap-std so
//! `..` and absolute escapes are refused), a [`MemoryCap`] limiter, and the `rig:operator/host`
//! imports (log, param, counter-add, now-ns, project).
//!
//! Invariants: nothing in a store outlives its instance except what the stage drains from it
//! (counters); the memory cap traps with [`MemoryLimitExceeded`] rather than letting
//! `memory.grow` fail quietly, so a blow-up is reported as such; and every call into the guest
//! goes through [`run_guest`]: WASI is linked asynchronously, so a guest that sleeps, polls or
//! waits on a read is a pending future that the call's deadline drops, not a thread stuck in
//! the host where no epoch interrupt can reach it.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{Host, Level};
use super::{Grants, WasmError};

/// Longest piece of guest text (log line, error string, panic message) rig shows, in
/// characters; longer ones are cut and say how much was left out.
pub(crate) const MAX_GUEST_TEXT: usize = 512;
/// Longest line a guest's stdout/stderr may buffer before it is forwarded as is.
const MAX_LINE: usize = 4096;
/// Guest log lines (stdout, stderr, `host.log`) forwarded per second and operator, on average;
/// the rest are counted and reported once at the end of the run.
pub(crate) const LOG_LINES_PER_SECOND: u32 = 50;
/// Lines an operator may log in a burst above that rate.
const LOG_BURST: u32 = 200;
/// Most distinct counter names one instance may create (a guest must not grow host memory
/// without bound).
const MAX_COUNTERS: usize = 256;
/// Largest table a guest may grow to, in elements.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Runs `f`, a call into a guest, where blocking the thread is allowed.
///
/// A guest call blocks its thread until it returns (the stage API is synchronous). Inside a
/// Tokio worker (a kameo actor's handler, `Runtime::block_on`) that is only legal through
/// `block_in_place`, which hands the worker's other tasks to another thread and leaves the
/// runtime context, so [`run_guest`] may start its own `block_on`; on a current-thread runtime the
/// call moves to a scoped thread. Without a runtime, `f` runs as is.
pub(crate) fn blocking<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(h) if matches!(h.runtime_flavor(), tokio::runtime::RuntimeFlavor::CurrentThread) => {
            std::thread::scope(|s| match s.spawn(f).join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        }
        Ok(_) => tokio::task::block_in_place(f),
    }
}

/// The runtime every guest call is driven on: it runs wasmtime-wasi's async host calls (sleeps,
/// polls, file I/O) and the timer of each call's deadline. It lives as long as the process and is
/// never dropped, so a host call stuck in the blocking pool (a read of a FIFO) cannot hold up
/// rig's exit.
static GUEST_RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();

/// Starts [`GUEST_RUNTIME`] (once per process).
pub(crate) fn start_guest_runtime() -> std::io::Result<()> {
    if GUEST_RUNTIME.get().is_some() {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(16)
        .thread_name("rig-wasm-io")
        .enable_time()
        .build()?;
    // A racing caller may have set it first; either runtime serves.
    let _ = GUEST_RUNTIME.set(rt);
    Ok(())
}

/// What ended a guest call that did not return.
#[derive(Debug)]
pub(crate) enum CallFailure {
    /// A trap, the epoch deadline inside guest code, the memory cap, a host error.
    Wasm(wasmtime::Error),
    /// The deadline passed while the guest waited in a host call (a sleep, a poll, a read): the
    /// call was dropped mid-flight and the instance is dead.
    Blocked,
}

/// Runs one guest call (`fut`, a `call_async` future) to completion or until `limit` has passed,
/// whichever comes first. Compute-bound guest code is stopped by the epoch interrupt (the future
/// is not polled while wasm runs, so the timer cannot fire then); a guest waiting in a WASI host
/// call is a pending future, which the timer drops: that is what makes blocking calls count
/// against the deadline. The store must not be entered again after [`CallFailure::Blocked`].
///
/// The fast path: the future is polled once, right here, inside [`GUEST_RUNTIME`]'s context. A
/// call that never waits in a host call (every `process` of a filter, a sort, a rewrite) is
/// ready after that one poll, and costs no `block_in_place`, no `block_on` and no timer. Only a
/// call that returned pending (it waits on a sleep, a poll, a read) is driven on, under the
/// timer, for what is left of `limit`.
pub(crate) fn run_guest<R: Send>(
    limit: std::time::Duration,
    fut: impl std::future::Future<Output = wasmtime::Result<R>> + Send,
) -> Result<R, CallFailure> {
    let Some(rt) = GUEST_RUNTIME.get() else {
        return Err(CallFailure::Wasm(wasmtime::Error::msg(
            "the operator runtime was not started (OperatorHost::new starts it)",
        )));
    };
    let start = std::time::Instant::now();
    let mut fut = std::pin::pin!(fut);
    let first = {
        // Host calls that need a runtime (WASI's timers, its blocking pool) find this one.
        let _context = rt.enter();
        fut.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop()))
    };
    let r = match first {
        Poll::Ready(r) => Ok(r),
        Poll::Pending => {
            let left = limit.saturating_sub(start.elapsed());
            blocking(|| rt.block_on(async { tokio::time::timeout(left, fut).await }))
        }
    };
    match r {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(CallFailure::Wasm(e)),
        Err(_) => Err(CallFailure::Blocked),
    }
}

/// The error a guest gets (as a trap) when it grows its memory past its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (asked for {desired} bytes)")]
pub(crate) struct MemoryLimitExceeded {
    /// The cap.
    pub limit: usize,
    /// What the guest asked for.
    pub desired: usize,
}

/// The error a guest gets (as a trap) when growing its memory would take every operator
/// instance of the host together past [`RunMemory`]'s cap.
#[derive(Debug, thiserror::Error)]
#[error("the operators' memory cap of {limit} bytes is reached (asked for {more} bytes more)")]
pub(crate) struct RunMemoryExceeded {
    /// The cap on all instances together.
    pub limit: usize,
    /// How much more this instance asked for.
    pub more: usize,
}

/// The linear memory of every live instance of one host, together, and its cap: however many
/// operators a graph chains, their memories cannot exceed it.
#[derive(Debug)]
pub(crate) struct RunMemory {
    pub(crate) limit: usize,
    pub(crate) used: std::sync::atomic::AtomicUsize,
}

/// Caps the linear memory of one instance, and its share of the [`RunMemory`]; growing past
/// either cap is a trap, not a quiet `-1`. What the instance holds is returned to the run's
/// budget when its store is dropped.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    limit: usize,
    run: Arc<RunMemory>,
    /// Bytes of linear memory this instance holds (charged to `run`).
    held: usize,
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        self.run.used.fetch_sub(self.held, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        use std::sync::atomic::Ordering;
        if desired > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                desired,
            }));
        }
        let more = desired.saturating_sub(current);
        let taken = self.run.used.try_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            used.checked_add(more).filter(|&u| u <= self.run.limit)
        });
        if taken.is_err() {
            return Err(wasmtime::Error::new(RunMemoryExceeded {
                limit: self.run.limit,
                more,
            }));
        }
        self.held += more;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        // A component instance is made of a handful of core instances (the guest, the WASI
        // adapter, shims); a hundred is generous.
        100
    }

    fn memories(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        100
    }
}

/// Guest text made safe to print: at most [`MAX_GUEST_TEXT`] characters (saying how much was
/// left out), control characters escaped, so it is one inert line that cannot forge rig's own
/// output. Costs O(its shown part), whatever the input's length.
pub(crate) fn guest_text(text: &str) -> String {
    // Bound the work first: a guest may hand back megabytes.
    let mut end = text.len().min(MAX_GUEST_TEXT * 4);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let escaped = rig_kernel::input::escape_control(&text[..end]);
    match escaped.char_indices().nth(MAX_GUEST_TEXT) {
        None if end == text.len() => escaped.into_owned(),
        None => format!("{escaped}…(cut, {} bytes in all)", text.len()),
        Some((cut, _)) => format!("{}…(cut, {} bytes in all)", &escaped[..cut], text.len()),
    }
}

/// A token bucket on one operator's log lines (shared by the instances of a stage, so a restart
/// does not refill it), and the count of lines it suppressed.
#[derive(Debug)]
pub(crate) struct LogBudget {
    bucket: Mutex<(f64, std::time::Instant)>,
    suppressed: std::sync::atomic::AtomicU64,
}

impl LogBudget {
    pub(crate) fn new() -> Self {
        LogBudget {
            bucket: Mutex::new((f64::from(LOG_BURST), std::time::Instant::now())),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Takes a token: true when the line may be logged.
    fn allow(&self) -> bool {
        let Ok(mut b) = self.bucket.lock() else { return false };
        let now = std::time::Instant::now();
        let refill = now.duration_since(b.1).as_secs_f64() * f64::from(LOG_LINES_PER_SECOND);
        *b = ((b.0 + refill).min(f64::from(LOG_BURST)), now);
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            self.suppressed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }

    /// Lines dropped so far.
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StdStream {
    Out,
    Err,
}

#[derive(Debug)]
struct PipeState {
    partial: Vec<u8>,
    /// The last few complete lines (stderr), for the message of a trap.
    recent: VecDeque<String>,
}

/// A guest's stdout or stderr: bytes are split into lines and forwarded to `tracing` with the
/// operator's name; the last stderr lines are kept for trap messages.
#[derive(Debug, Clone)]
pub(crate) struct LogPipe {
    operator: Arc<str>,
    stream: StdStream,
    budget: Arc<LogBudget>,
    state: Arc<Mutex<PipeState>>,
}

impl LogPipe {
    fn new(operator: Arc<str>, stream: StdStream, budget: Arc<LogBudget>) -> Self {
        LogPipe {
            operator,
            stream,
            budget,
            state: Arc::new(Mutex::new(PipeState {
                partial: Vec::new(),
                recent: VecDeque::new(),
            })),
        }
    }

    fn emit(&self, state: &mut PipeState, line: &[u8]) {
        let raw_len = line.len();
        let head = &line[..raw_len.min(MAX_GUEST_TEXT * 4)];
        let mut line = guest_text(String::from_utf8_lossy(head).trim_end_matches('\r'));
        if head.len() < raw_len && !line.ends_with("in all)") {
            line.push_str(&format!("…(cut, {raw_len} bytes in all)"));
        }
        if self.budget.allow() {
            let op = &self.operator;
            match self.stream {
                StdStream::Out => tracing::info!(operator = %op, stream = "stdout", "operator {op} (stdout): {line}"),
                StdStream::Err => tracing::warn!(operator = %op, stream = "stderr", "operator {op} (stderr): {line}"),
            }
        }
        if state.recent.len() == 4 {
            state.recent.pop_front();
        }
        state.recent.push_back(line);
    }

    fn push(&self, bytes: &[u8]) {
        let Ok(mut state) = self.state.lock() else { return };
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut state.partial);
            line.extend_from_slice(&rest[..nl]);
            self.emit(&mut state, &line);
            rest = &rest[nl + 1..];
        }
        state.partial.extend_from_slice(rest);
        if state.partial.len() > MAX_LINE {
            let line = std::mem::take(&mut state.partial);
            self.emit(&mut state, &line);
        }
    }

    /// Forwards a trailing partial line and returns the last lines written, joined.
    pub(crate) fn last_words(&self) -> Option<String> {
        let Ok(mut state) = self.state.lock() else { return None };
        if !state.partial.is_empty() {
            let line = std::mem::take(&mut state.partial);
            self.emit(&mut state, &line);
        }
        let words: Vec<&str> = state
            .recent
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect();
        (!words.is_empty()).then(|| rig_kernel::input::shorten(&words.join(" / "), MAX_GUEST_TEXT * 2).into_owned())
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What one operator instance's `Store` holds.
pub(crate) struct HostState {
    operator: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryCap,
    logs: Arc<LogBudget>,
    params: Arc<[(String, String)]>,
    /// Guest `counter-add`s since the stage last drained them.
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) stderr: LogPipe,
    /// What the guest declared with `host.project` during `init`.
    pub(crate) declared: super::project::Declared,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// A sandbox for `operator` with the given memory caps, log budget, config and grants.
    pub(crate) fn new(
        operator: Arc<str>,
        memory_bytes: usize,
        run: Arc<RunMemory>,
        logs: Arc<LogBudget>,
        params: Arc<[(String, String)]>,
        grants: &Grants,
    ) -> Result<Self, WasmError> {
        let stderr = LogPipe::new(operator.clone(), StdStream::Err, logs.clone());
        let mut b = WasiCtxBuilder::new();
        // Defaults already give no env, no args, closed stdin and no preopens; say the rest.
        b.stdout(LogPipe::new(operator.clone(), StdStream::Out, logs.clone()))
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        if let Some(dir) = &grants.dir {
            b.preopened_dir(dir, "/", FsPerms::ReadWrite)
                .map_err(|e| WasmError::Instantiate {
                    operator: operator.to_string(),
                    reason: format!("cannot open the granted directory {}: {e}", dir.display()),
                })?;
        }
        Ok(HostState {
            operator,
            wasi: b.build(),
            table: ResourceTable::new(),
            limiter: MemoryCap {
                limit: memory_bytes,
                run,
                held: 0,
            },
            logs,
            params,
            counters: BTreeMap::new(),
            stderr,
            declared: super::project::Declared::default(),
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The `types` interface has no functions; linking it needs this marker.
impl super::bindings::rig::operator::types::Host for HostState {}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let op = &*self.operator;
        let enabled = match level {
            Level::Trace => tracing::enabled!(tracing::Level::TRACE),
            Level::Debug => tracing::enabled!(tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(tracing::Level::INFO),
            Level::Warn => tracing::enabled!(tracing::Level::WARN),
            Level::Error => tracing::enabled!(tracing::Level::ERROR),
        };
        if !enabled || !self.logs.allow() {
            return;
        }
        let message = guest_text(&message);
        match level {
            Level::Trace => tracing::trace!(operator = %op, "operator {op}: {message}"),
            Level::Debug => tracing::debug!(operator = %op, "operator {op}: {message}"),
            Level::Info => tracing::info!(operator = %op, "operator {op}: {message}"),
            Level::Warn => tracing::warn!(operator = %op, "operator {op}: {message}"),
            Level::Error => tracing::error!(operator = %op, "operator {op}: {message}"),
        }
    }

    fn param(&mut self, key: String) -> Option<String> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn counter_add(&mut self, name: String, delta: u64) {
        if let Some(c) = self.counters.get_mut(&name) {
            *c = c.saturating_add(delta);
            return;
        }
        // A name rig shows differently (cut, escaped) is looked up under what it shows.
        let key = guest_text(&name);
        if let Some(c) = self.counters.get_mut(&key) {
            *c = c.saturating_add(delta);
        } else if self.counters.len() < MAX_COUNTERS {
            self.counters.insert(key, delta);
        }
    }

    fn now_ns(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default()
    }

    fn project(
        &mut self,
        reads: Vec<String>,
        writes: Vec<String>,
    ) -> Result<super::bindings::rig::operator::types::Projection, String> {
        self.declared.project(&reads, &writes).map_err(|e| guest_text(&e))
    }
}
