//! The WebAssembly operator host: untrusted batch transformations, run in wasmtime.
//!
//! An *operator* is a WebAssembly component of the world `rig:operator/rig-operator` (`wit/`):
//! it receives whole batches — the rows and heap of a [`rig_kernel::Batch`], byte for byte — and
//! answers with the rows to keep or with new rows. This module makes such a component a
//! [`rig_kernel::Stage`] ([`WasmStage`]), so the graph runs operators like any other node.
//!
//! Words: the [`OperatorHost`] owns the one wasmtime `Engine` of the process, its epoch ticker
//! and the cache of compiled components; [`OperatorHost::load`] turns an [`OperatorSource`]
//! into a [`LoadedComponent`] (compiled, world-checked, imports linked); a [`WasmStage`] is one
//! *instance* of it with its own store, memory cap, deadline and WASI capabilities
//! ([`OperatorSpec`]).
//!
//! Trust: operators are untrusted. Each instance gets no ambient authority — no environment,
//! arguments, inherited stdio, network or file system — except the one directory its
//! [`Grants`] name; a memory cap and a per-call epoch deadline ([`Limits`]); and its output is
//! validated before it becomes a batch (indices in range, sizes, heap slots inside the heap, at
//! most [`Limits::max_output_factor`] times its input). A trap, a timeout, an allocation past the
//! cap or a bad output ends that instance alone, reported with the operator's name; what happens
//! next is the spec's [`OnError`].
//!
//! Layout: [`bindings`] is the only `bindgen!`; [`engine`] the host and the compile cache;
//! [`sandbox`] the per-instance store (WASI context, limiter, host imports, captured stdio);
//! [`convert`] schemas and outputs across the boundary; [`stage`] the `Stage` itself; [`builtin`]
//! the operators shipped inside rig.

mod bindings;
mod builtin;
mod convert;
mod engine;
mod project;
mod sandbox;
mod stage;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use builtin::{builtin, builtin_names};
pub use engine::{LoadedComponent, OperatorHost};
pub use stage::{LONG_CALL_FACTOR, MAX_RESTARTS_IN_A_ROW, WasmStage};

/// The linear memory all operator instances of one [`OperatorHost`] (one run) may hold together:
/// the bound on guest memory however many operators a graph chains or restarts.
pub const RUN_MEMORY_BYTES: usize = 4 << 30;

/// Most rows one operator output may hold, whatever its input (the relative cap is
/// [`Limits::max_output_factor`]): chained operators cannot multiply a batch without bound.
pub const MAX_OUTPUT_ROWS: u64 = 64 << 10;

/// Most bytes (rows and heap) one operator output may hold, whatever its input.
pub const MAX_OUTPUT_BYTES: u64 = 64 << 20;

/// Most fields an operator's `init` may declare in its output schema.
pub const MAX_OUTPUT_FIELDS: usize = 4096;

/// The version of the `rig:operator` WIT package this host implements (from `wit/operator.wit`).
pub const WIT_VERSION: &str = env!("RIG_WIT_VERSION");

/// Where an operator's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorSource {
    /// One of the operators shipped inside rig ([`builtin_names`]).
    Builtin(String),
    /// A `.wasm` component on disk.
    File(PathBuf),
    /// Component bytes obtained elsewhere (a registry pull), with a name for messages.
    Bytes {
        /// How errors and logs name it (an image reference, say).
        name: String,
        /// The component.
        bytes: Vec<u8>,
    },
}

impl OperatorSource {
    /// The name used in errors and logs: `builtin/filter`, the file path, or the given name.
    pub fn name(&self) -> String {
        match self {
            OperatorSource::Builtin(n) => format!("builtin/{n}"),
            OperatorSource::File(p) => p.display().to_string(),
            OperatorSource::Bytes { name, .. } => name.clone(),
        }
    }
}

/// What a [`WasmStage`] does when its operator fails a batch (guest error, trap, deadline, memory
/// cap, bad output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop the run ([`rig_kernel::StageError::Fatal`]).
    #[default]
    Stop,
    /// Drop the batch and go on with the same instance (a fresh one if a trap poisoned it).
    Skip,
    /// Drop the batch and start a fresh instance (`init` again with the same config and schema).
    Restart,
}

/// An `on-error` value that is none of `stop`, `skip`, `restart`.
#[derive(Debug, thiserror::Error)]
#[error("unknown on-error policy {} (expected stop, skip or restart)", rig_kernel::input::quote(.0, 80))]
pub struct UnknownOnError(pub String);

impl FromStr for OnError {
    type Err = UnknownOnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stop" => Ok(OnError::Stop),
            "skip" => Ok(OnError::Skip),
            "restart" => Ok(OnError::Restart),
            other => Err(UnknownOnError(other.to_owned())),
        }
    }
}

/// Resource caps of one operator instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cap on the instance's linear memories together; growing past it traps. Default 64 MiB.
    pub memory_bytes: usize,
    /// Wall-clock budget of one `process` call (`init` and `flush` get [`LONG_CALL_FACTOR`]
    /// times as much). Default 100 ms. Time blocked in host calls (sleeps, polls, reads) counts.
    /// Enforced by epoch interruption and by dropping a call blocked in the host, so the
    /// effective deadline is up to two epoch ticks (10 ms) longer.
    pub deadline: Duration,
    /// An output may hold at most this many times the rows of its input (and this many times its
    /// bytes, counted from at least 64 KiB), and never more than [`MAX_OUTPUT_ROWS`] and
    /// [`MAX_OUTPUT_BYTES`]. Default 16.
    pub max_output_factor: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_millis(100),
            max_output_factor: 16,
        }
    }
}

/// WASI capabilities an operator is granted. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// A host directory the operator may read and write, seen by the guest as `/` (relative paths
    /// resolve in it too). `..` and absolute escapes are refused (cap-std).
    pub dir: Option<PathBuf>,
}

/// Everything needed to run one operator node.
#[derive(Debug, Clone)]
pub struct OperatorSpec {
    /// The graph node's id, used in errors, logs and statistics.
    pub node: String,
    /// The component.
    pub source: OperatorSource,
    /// The node's `with:` settings: passed to the guest's `init` and answered by `host.param`.
    pub config: Vec<(String, String)>,
    /// Memory, deadline and output caps.
    pub limits: Limits,
    /// WASI capabilities.
    pub grants: Grants,
    /// What a failure does.
    pub on_error: OnError,
    /// A window on streams: `flush` is also called once a batch arrives this long after the
    /// previous flush (a sort emits each window sorted). `None`: only at the end of the run.
    pub flush_every: Option<std::time::Duration>,
}

impl OperatorSpec {
    /// A spec with default limits, no grants and `on-error: stop`.
    pub fn new(node: impl Into<String>, source: OperatorSource, config: Vec<(String, String)>) -> Self {
        OperatorSpec {
            node: node.into(),
            source,
            config,
            limits: Limits::default(),
            grants: Grants::default(),
            on_error: OnError::default(),
            flush_every: None,
        }
    }
}

/// Why an operator could not be loaded or run. Every variant names the operator.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The wasmtime engine could not be set up.
    #[error("cannot start the WebAssembly engine: {reason}")]
    Engine {
        /// What wasmtime said.
        reason: String,
    },
    /// `builtin/NAME` is not shipped.
    #[error("unknown builtin operator {} (builtins: {known})", rig_kernel::input::quote(.name, 80))]
    UnknownBuiltin {
        /// What was asked for.
        name: String,
        /// Comma-separated builtin names.
        known: String,
    },
    /// A file could not be read or written.
    #[error("operator {operator}: {}: {source}", path.display())]
    Io {
        /// The operator.
        operator: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component (random bytes, a core module…).
    #[error("operator {operator} is not a WebAssembly component: {reason}")]
    NotAComponent {
        /// The operator.
        operator: String,
        /// What it is instead, and what to do.
        reason: String,
    },
    /// wasmtime refused to compile the component.
    #[error("operator {operator} does not compile: {reason}")]
    Compile {
        /// The operator.
        operator: String,
        /// wasmtime's message.
        reason: String,
    },
    /// A component that does not export the operator interface.
    #[error("operator {operator} is not a rig operator: it does not export `{missing}` (it exports: {exports})")]
    NotAnOperator {
        /// The operator.
        operator: String,
        /// The missing export.
        missing: String,
        /// What it exports instead.
        exports: String,
    },
    /// A component built against an incompatible version of the contract.
    #[error(
        "operator {operator} was built for {found}, but this rig implements {expected}: rebuild it against rig's wit/"
    )]
    WitVersion {
        /// The operator.
        operator: String,
        /// The package version the component uses (`rig:operator@1.0.0`).
        found: String,
        /// The package version rig implements.
        expected: String,
    },
    /// Linking or instantiating failed (an import rig does not provide, memory over the cap at
    /// start, a granted directory that cannot be opened…).
    #[error("operator {operator} cannot be instantiated: {reason}")]
    Instantiate {
        /// The operator.
        operator: String,
        /// Why.
        reason: String,
    },
    /// The guest trapped, ran past its deadline or hit its memory cap. The instance is dead.
    #[error("operator {operator} was stopped: {kind}{}", detail.as_deref().map(|d| format!(" (the operator's stderr: {d})")).unwrap_or_default())]
    Trap {
        /// The operator.
        operator: String,
        /// `deadline exceeded (100 ms)`, `deadline exceeded in a blocking host call (100 ms)`,
        /// `out of memory (limit 64 MiB)`, `stack overflow`, `the operator panicked`…
        kind: String,
        /// The guest's last words on stderr (a panic message), if any, escaped and cut.
        detail: Option<String>,
    },
    /// The guest returned an error string.
    #[error("operator {operator} failed: {message}")]
    Guest {
        /// The operator.
        operator: String,
        /// The guest's message.
        message: String,
    },
    /// The guest returned something that is not a valid output (bad indices, sizes, heap slots,
    /// schema, or more than its output cap).
    #[error("operator {operator} returned an invalid output: {reason}")]
    Output {
        /// The operator.
        operator: String,
        /// What is wrong with it.
        reason: String,
    },
}
