//! The operator host: one wasmtime engine, its epoch ticker, and the compiled-component cache.
//!
//! Compiling a component takes tens of milliseconds (Rust) to seconds (Python, JS), so
//! [`OperatorHost::load`] compiles each distinct component once per process (an in-memory map
//! keyed by the SHA-256 of its bytes) and once per machine (a file cache keyed by that hash and
//! the engine's compatibility hash, which covers the wasmtime version and every codegen setting).
//! Loading also checks the component *is* a rig operator of a compatible contract version, and
//! links its imports once (`InstancePre`), so instantiating a stage later costs microseconds and
//! cannot fail on a missing import.
//!
//! Time: the engine has epoch interruption on; a ticker thread bumps the epoch every
//! [`EPOCH_TICK`], and each call sets its deadline in ticks. The ticker stops when the host is
//! dropped (every stage holds an `Arc` to it). WASI is linked asynchronously and every call is a
//! `call_async` under a timer ([`super::sandbox::run_guest`]), so time spent blocked in a host
//! call counts against the same deadline.
//!
//! Cache file invariants: `<cache>/<sha256 of component>-<engine hash>.cwasm` holds the SHA-256
//! of the rest of the file, then the bytes of `Component::serialize` from an engine with the same
//! compatibility hash. Files are written to a temporary name and renamed, in a directory only the
//! owner can write; a file whose digest does not match is ignored and rewritten.

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::{RigOperator, RigOperatorPre};
use super::sandbox::{HostState, RunMemory};
use super::{OperatorSource, WIT_VERSION, WasmError, builtin};

/// How often the epoch advances: the granularity of every deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The package name of the contract, without version.
const PACKAGE: &str = "rig:operator";
/// The interface an operator exports.
const OPERATOR_INTERFACE: &str = "rig:operator/operator";

/// A component ready to instantiate: compiled, checked to be a rig operator, imports linked.
#[derive(Clone)]
pub struct LoadedComponent {
    name: String,
    digest: [u8; 32],
    pre: RigOperatorPre<HostState>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("name", &self.name)
            .field("sha256", &hex::encode(self.digest))
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    /// The operator's name (`builtin/filter`, a path, an image reference).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component's bytes, hex.
    pub fn sha256(&self) -> String {
        hex::encode(self.digest)
    }

    pub(crate) fn pre(&self) -> &RigOperatorPre<HostState> {
        &self.pre
    }
}

struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The process's WebAssembly host for operators. Create one with [`OperatorHost::new`] and share
/// the `Arc` between stages.
pub struct OperatorHost {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    engine_hash: String,
    loaded: Mutex<HashMap<[u8; 32], LoadedComponent>>,
    run_memory: Arc<RunMemory>,
    _ticker: Ticker,
}

impl std::fmt::Debug for OperatorHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorHost")
            .field("cache_dir", &self.cache_dir)
            .field("engine_hash", &self.engine_hash)
            .finish_non_exhaustive()
    }
}

/// Feeds `Hash` output into SHA-256, so a `Hash` value becomes a stable file-name component.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn engine_error(e: impl std::fmt::Display) -> WasmError {
    WasmError::Engine { reason: e.to_string() }
}

impl OperatorHost {
    /// Starts the engine and its epoch ticker. `cache_dir` defaults to
    /// `rig_host::compile::cache_dir()/components`.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Arc<OperatorHost>, WasmError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // Deep enough to tell a stack overflow (hundreds of frames) from a wild pointer.
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(256));
        let engine = Engine::new(&config).map_err(engine_error)?;

        let mut linker = Linker::new(&engine);
        // WASI asynchronously: a guest's sleep or poll is a pending future its deadline can drop.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        super::sandbox::start_guest_runtime().map_err(engine_error)?;
        RigOperator::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s).map_err(engine_error)?;

        let mut h = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
        let engine_hash = hex::encode(&h.0.finalize()[..8]);

        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rig-wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(engine_error)?
        };
        Ok(Arc::new(OperatorHost {
            engine,
            linker,
            cache_dir: cache_dir.unwrap_or_else(|| crate::compile::cache_dir().join("components")),
            engine_hash,
            loaded: Mutex::new(HashMap::new()),
            run_memory: Arc::new(RunMemory {
                limit: super::RUN_MEMORY_BYTES,
                used: std::sync::atomic::AtomicUsize::new(0),
            }),
            _ticker: Ticker {
                stop,
                thread: Some(thread),
            },
        }))
    }

    /// The engine every operator runs in.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The memory budget every instance of this host shares.
    pub(crate) fn run_memory(&self) -> Arc<RunMemory> {
        self.run_memory.clone()
    }

    /// Bytes of linear memory the live instances of this host hold together.
    pub fn memory_in_use(&self) -> usize {
        self.run_memory.used.load(Ordering::Relaxed)
    }

    /// Where compiled components are cached.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Compiles (or takes from the cache) and checks a component: it must be a component, export
    /// `rig:operator/operator` of a version compatible with [`WIT_VERSION`], and import nothing
    /// rig does not provide.
    pub fn load(&self, source: &OperatorSource) -> Result<LoadedComponent, WasmError> {
        let name = source.name();
        let owned;
        let bytes: &[u8] = match source {
            OperatorSource::Builtin(b) => builtin(b).ok_or_else(|| WasmError::UnknownBuiltin {
                name: b.clone(),
                known: super::builtin_names().join(", "),
            })?,
            OperatorSource::File(path) => {
                owned = std::fs::read(path).map_err(|source| WasmError::Io {
                    operator: name.clone(),
                    path: path.clone(),
                    source,
                })?;
                &owned
            }
            OperatorSource::Bytes { bytes, .. } => bytes,
        };
        check_header(&name, bytes)?;
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(hit) = self.loaded.lock().ok().and_then(|m| m.get(&digest).cloned()) {
            return Ok(LoadedComponent { name, ..hit });
        }
        let component = self.compile_cached(&name, &digest, bytes)?;
        check_world(&self.engine, &name, &component)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| WasmError::Instantiate {
                operator: name.clone(),
                reason: format!("{e:#}"),
            })?;
        let pre = RigOperatorPre::new(instance_pre).map_err(|e| WasmError::Instantiate {
            operator: name.clone(),
            reason: format!("{e:#}"),
        })?;
        let loaded = LoadedComponent { name, digest, pre };
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(digest, loaded.clone());
        }
        Ok(loaded)
    }

    fn cache_path(&self, digest: &[u8; 32]) -> PathBuf {
        self.cache_dir
            .join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_hash))
    }

    fn compile_cached(&self, name: &str, digest: &[u8; 32], bytes: &[u8]) -> Result<Component, WasmError> {
        let path = self.cache_path(digest);
        if let Ok(file) = std::fs::read(&path)
            && let Some(component) = self.deserialize(&path, &file)
        {
            tracing::debug!(operator = name, cache = %path.display(), "compiled component taken from the cache");
            return Ok(component);
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| WasmError::Compile {
            operator: name.to_owned(),
            reason: format!("{e:#}"),
        })?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(operator = name, cache = %path.display(), "cannot cache the compiled component: {e}");
        }
        Ok(component)
    }

    fn deserialize(&self, path: &Path, file: &[u8]) -> Option<Component> {
        let (sum, artifact) = file.split_at_checked(32)?;
        if Sha256::digest(artifact).as_slice() != sum {
            tracing::warn!(cache = %path.display(), "ignoring a corrupt compiled component");
            return None;
        }
        // SAFETY: `Component::deserialize` trusts its input to be the output of
        // `Component::serialize`, since it maps it as executable code. This file is: it lives in
        // rig's own cache directory (created owner-only by `store`), was written by `store` from
        // `Component::serialize` (to a temporary name, then renamed, so never seen half-written),
        // its name carries the engine's compatibility hash (wasmtime version and codegen
        // settings), and the SHA-256 checked just above proves the bytes are those `store` wrote.
        // wasmtime additionally checks the artifact's header against this engine and errors on
        // any mismatch, which we treat as a cache miss.
        match unsafe { Component::deserialize(&self.engine, artifact) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(cache = %path.display(), "ignoring a stale compiled component: {e}");
                None
            }
        }
    }

    fn store(&self, path: &Path, component: &Component) -> Result<(), String> {
        use std::io::Write;
        let artifact = component.serialize().map_err(|e| e.to_string())?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut tmp = tempfile_in(dir).map_err(|e| e.to_string())?;
        tmp.1.write_all(&Sha256::digest(&artifact)).map_err(|e| e.to_string())?;
        tmp.1.write_all(&artifact).map_err(|e| e.to_string())?;
        tmp.1.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp.0, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp.0);
            e.to_string()
        })
    }
}

/// A new owner-only file with a unique name in `dir`.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    for i in 0..100u32 {
        let p = dir.join(format!(".tmp-{}-{nanos}-{i}", std::process::id()));
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        match o.open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary file"))
}

/// Refuses what is not a component before wasmtime tries: random bytes, core modules.
fn check_header(operator: &str, bytes: &[u8]) -> Result<(), WasmError> {
    let refuse = |reason: &str| {
        Err(WasmError::NotAComponent {
            operator: operator.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return refuse("it does not start with the WebAssembly magic number `\\0asm`");
    }
    match &bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => refuse(
            "it is a core WebAssembly module; operators are components of the world \
             rig:operator/rig-operator (build for wasm32-wasip2, or wrap the module with `wasm-tools component new`)",
        ),
        other => refuse(&format!("unknown WebAssembly version/layer {other:02x?}")),
    }
}

/// `(major, minor, patch)` of a plain `X.Y.Z` version; pre-release versions do not parse.
fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
    let r = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(r)
}

/// Whether a component built for `found` works with a host for `expected`, by the component
/// model's semver rule: same major (≥ 1), else same minor (0.y, y ≥ 1), else the same version.
pub(crate) fn compatible(found: &str, expected: &str) -> bool {
    match (parse_version(found), parse_version(expected)) {
        (Some((fa, fb, fc)), Some((ea, eb, ec))) => {
            if ea > 0 {
                fa == ea
            } else if eb > 0 {
                fa == 0 && fb == eb
            } else {
                (fa, fb, fc) == (ea, eb, ec)
            }
        }
        _ => found == expected,
    }
}

/// Splits `ns:pkg/iface@1.2.3` into `("ns:pkg/iface", Some("1.2.3"))`.
fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, v)) => (base, Some(v)),
        None => (name, None),
    }
}

fn check_world(engine: &Engine, operator: &str, component: &Component) -> Result<(), WasmError> {
    let ty = component.component_type();
    let expected = format!("{PACKAGE}@{WIT_VERSION}");
    let version_error = |found: Option<&str>| WasmError::WitVersion {
        operator: operator.to_owned(),
        found: format!("{PACKAGE}@{}", found.unwrap_or("(unversioned)")),
        expected: expected.clone(),
    };
    let mut exports = Vec::new();
    let mut found = None;
    for (name, item) in ty.exports(engine) {
        let kind = match item.ty {
            ComponentItem::ComponentInstance(_) => "instance",
            ComponentItem::ComponentFunc(_) => "func",
            ComponentItem::CoreFunc(_) => "core func",
            ComponentItem::Module(_) => "module",
            ComponentItem::Component(_) => "component",
            ComponentItem::Type(_) => "type",
            ComponentItem::Resource(_) => "resource",
        };
        exports.push(format!("{name} ({kind})"));
        let (base, version) = split_name(name);
        if base == OPERATOR_INTERFACE {
            found = Some(version.map(str::to_owned));
        }
    }
    match found {
        None => {
            return Err(WasmError::NotAnOperator {
                operator: operator.to_owned(),
                missing: format!("{OPERATOR_INTERFACE}@{WIT_VERSION}"),
                exports: if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports.join(", ")
                },
            });
        }
        Some(v) if !v.as_deref().is_some_and(|v| compatible(v, WIT_VERSION)) => {
            return Err(version_error(v.as_deref()));
        }
        Some(_) => {}
    }
    // An import of another version of our own package is a version problem, not a missing import.
    for (name, _) in ty.imports(engine) {
        let (base, version) = split_name(name);
        if base.starts_with(&format!("{PACKAGE}/")) && !version.is_some_and(|v| compatible(v, WIT_VERSION)) {
            return Err(version_error(version));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_rule_of_the_component_model() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.3", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("2.0.0", "1.0.0"));
        assert!(!compatible("0.0.2", "0.0.1"));
        assert!(!compatible("0.1.0-rc1", "0.1.0"));
    }

    #[test]
    fn headers_say_what_they_are() {
        let e = check_header("x", b"hello world").unwrap_err().to_string();
        assert!(e.contains("magic number"), "{e}");
        let e = check_header("x", b"\0asm\x01\0\0\0").unwrap_err().to_string();
        assert!(e.contains("core WebAssembly module"), "{e}");
        assert!(check_header("x", b"\0asm\x0d\0\x01\0").is_ok());
    }
}
