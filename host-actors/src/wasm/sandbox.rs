//! The sandbox of one operator instance: what its `Store` holds and what the guest can reach.
//!
//! Every instance gets a fresh [`HostState`]: a WASI p2 context with no ambient authority (no
//! environment, arguments or stdin; stdout and stderr captured and forwarded line by line to
//! `tracing`, tagged with the operator's name; every socket address and name lookup denied; no
//! preopened directory unless [`Grants::dir`], then exactly that one, as `/`, through cap-std so
//! `..` and absolute escapes are refused), a [`MemoryCap`] limiter, and the `rig:operator/host`
//! imports (log, param, counter-add, now-ns).
//!
//! Invariants: nothing in a store outlives its instance except what the stage drains from it
//! (counters); the memory cap traps with [`MemoryLimitExceeded`] rather than letting
//! `memory.grow` fail quietly, so a blow-up is reported as such; and every call into the guest
//! goes through [`blocking`], because wasmtime-wasi's synchronous host functions (`println!`,
//! file and socket calls) block on a Tokio runtime, which panics on a thread that is already
//! driving async tasks.

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

/// Longest log line or message forwarded; longer ones are cut.
const MAX_LINE: usize = 4096;
/// Most distinct counter names one instance may create (a guest must not grow host memory
/// without bound).
const MAX_COUNTERS: usize = 256;
/// Largest table a guest may grow to, in elements.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Runs `f`, a call into a guest, where blocking the thread is allowed.
///
/// wasmtime-wasi's synchronous host functions run their async implementation with
/// `Handle::block_on` when a Tokio runtime is around, which panics on a thread that drives async
/// tasks (a kameo actor's handler, `Runtime::block_on`). On a multi-thread runtime
/// `block_in_place` makes blocking legal (it hands the worker's other tasks to another thread,
/// and costs nothing outside a worker); on a current-thread runtime the call moves to a scoped
/// thread. Without a runtime, `f` runs as is.
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

/// The error a guest gets (as a trap) when it grows its memory past its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (asked for {desired} bytes)")]
pub(crate) struct MemoryLimitExceeded {
    /// The cap.
    pub limit: usize,
    /// What the guest asked for.
    pub desired: usize,
}

/// Caps the linear memory of one instance; growing past the cap is a trap, not a quiet `-1`.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    limit: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                desired,
            }));
        }
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

fn cut(mut s: String) -> String {
    if s.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
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
    state: Arc<Mutex<PipeState>>,
}

impl LogPipe {
    fn new(operator: Arc<str>, stream: StdStream) -> Self {
        LogPipe {
            operator,
            stream,
            state: Arc::new(Mutex::new(PipeState {
                partial: Vec::new(),
                recent: VecDeque::new(),
            })),
        }
    }

    fn emit(&self, state: &mut PipeState, line: &[u8]) {
        let line = cut(String::from_utf8_lossy(line).trim_end_matches('\r').to_owned());
        match self.stream {
            StdStream::Out => tracing::info!(operator = %self.operator, stream = "stdout", "{line}"),
            StdStream::Err => tracing::warn!(operator = %self.operator, stream = "stderr", "{line}"),
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
        (!words.is_empty()).then(|| words.join(" / "))
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
    params: Arc<[(String, String)]>,
    /// Guest `counter-add`s since the stage last drained them.
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) stderr: LogPipe,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// A sandbox for `operator` with the given memory cap, config and grants.
    pub(crate) fn new(
        operator: Arc<str>,
        memory_bytes: usize,
        params: Arc<[(String, String)]>,
        grants: &Grants,
    ) -> Result<Self, WasmError> {
        let stderr = LogPipe::new(operator.clone(), StdStream::Err);
        let mut b = WasiCtxBuilder::new();
        // Defaults already give no env, no args, closed stdin and no preopens; say the rest.
        b.stdout(LogPipe::new(operator.clone(), StdStream::Out))
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
            limiter: MemoryCap { limit: memory_bytes },
            params,
            counters: BTreeMap::new(),
            stderr,
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
        let message = cut(message);
        match level {
            Level::Trace => tracing::trace!(operator = %op, "{message}"),
            Level::Debug => tracing::debug!(operator = %op, "{message}"),
            Level::Info => tracing::info!(operator = %op, "{message}"),
            Level::Warn => tracing::warn!(operator = %op, "{message}"),
            Level::Error => tracing::error!(operator = %op, "{message}"),
        }
    }

    fn param(&mut self, key: String) -> Option<String> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn counter_add(&mut self, name: String, delta: u64) {
        if let Some(c) = self.counters.get_mut(&name) {
            *c = c.saturating_add(delta);
        } else if self.counters.len() < MAX_COUNTERS {
            self.counters.insert(cut(name), delta);
        }
    }

    fn now_ns(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default()
    }
}
