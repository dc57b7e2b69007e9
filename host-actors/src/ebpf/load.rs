//! Loading a gadget into the kernel and attaching its programs by section name.
//!
//! aya does the heavy lifting (CO-RE against the kernel BTF, map creation, verification); this
//! module decides what each ELF section means (`tracepoint/<cat>/<name>`, `raw_tp/<tp>`,
//! `tp_btf/<tp>`, `iter/<type>`; socket filters, classifiers, uprobes and perf events through
//! [`super::attach`]) and turns every failure into an error that names the program,
//! its section and the kernel's reason, keeping the verifier log. Everything loaded is owned by
//! [`Loaded`]: dropping it detaches and unloads all of it, which is how a run cleans up on every
//! path, including errors half-way through attaching.
//!
//! A verifier log can run to megabytes: [`LoadError::Verifier`] keeps all of it (as aya does) and
//! writes it to `<cache dir>/verifier/<program>-<time>.log`, but prints only the kernel's verdict
//! and the log's last [`LOG_TAIL_LINES`] lines (at most [`LOG_TAIL_BYTES`]) with that file's path.
//! Hints ("kprobes are not available", "lsm programs are refused by this kernel") are chosen from the OS error
//! number of the failure, never by matching its text.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

use aya::programs::{Iter, Program, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader};

use super::attach::{self, AttachError, AttachOptions, Attachments, Outcome};
use super::core_btf;
use super::object::{GadgetObject, ProgramSpec};

/// Why a gadget could not be loaded or attached.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A tracer's perf event array could not get its per-CPU buffers.
    #[error("{path}: {source}")]
    PerfBuffers {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: super::perf::PerfError,
    },
    /// The kernel's BTF could not be read.
    #[error("cannot read the kernel BTF (/sys/kernel/btf/vmlinux): {0}")]
    KernelBtf(String),
    /// aya refused the object (relocation, map creation, …).
    #[error("{path}: cannot load the object: {reason}")]
    Object {
        /// The object.
        path: String,
        /// aya's error chain.
        reason: String,
    },
    /// A program failed the verifier.
    #[error("program {program} (section {section}) was rejected by the kernel: {reason}{}", log_summary(verifier_log.as_deref(), log_file.as_ref()))]
    Verifier {
        /// The program.
        program: String,
        /// Its section.
        section: String,
        /// The error chain.
        reason: String,
        /// The verifier's whole log, when there is one (only its tail is displayed).
        verifier_log: Option<String>,
        /// Where the whole log was written, when it could be.
        log_file: Option<PathBuf>,
    },
    /// A program's hook is missing or refused on this kernel.
    #[error("program {program} (section {section}) cannot attach: {reason}")]
    Attach {
        /// The program.
        program: String,
        /// Its section.
        section: String,
        /// The kernel's reason, with a hint.
        reason: String,
    },
    /// The object's `.kconfig` externs could not be resolved.
    #[error("{path}: {source}")]
    Kconfig {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: super::kconfig::KconfigError,
    },
    /// `bpf_core_type_matches()` relocations could not be resolved.
    #[error("{path}: {source}")]
    TypeMatch {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: super::type_match::TypeMatchError,
    },
    /// A socket filter, classifier, uprobe or perf-event program could not be attached.
    #[error("program {program} (section {section}) cannot attach: {source}")]
    Hook {
        /// The program.
        program: String,
        /// Its section.
        section: String,
        /// Why.
        #[source]
        source: AttachError,
    },
    /// Every program of the object was skipped (uprobes whose libraries are missing).
    #[error("{path}: no program attached: {}", reasons.join("; "))]
    NothingAttached {
        /// The object.
        path: String,
        /// Why each was skipped (program, section, reason).
        reasons: Vec<String>,
    },
    /// A section rig does not know how to attach.
    #[error(
        "program {program}: section {} is not an attach point rig supports (tracepoint/, raw_tp/, tp_btf/, iter/, socket, classifier/ingress|egress/, uprobe/, uretprobe/, perf_event/)",
        rig_kernel::input::quote(section, 120)
    )]
    UnsupportedSection {
        /// The program.
        program: String,
        /// Its section.
        section: String,
    },
}

/// Lines of the verifier log shown in an error.
pub const LOG_TAIL_LINES: usize = 20;
/// Most bytes of the verifier log shown in an error.
pub const LOG_TAIL_BYTES: usize = 3072;

/// The last lines of a verifier log (bounded) and where the whole log is.
fn log_summary(log: Option<&str>, file: Option<&PathBuf>) -> String {
    let Some(log) = log else { return String::new() };
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut tail = String::new();
    for l in lines.iter().rev().take(LOG_TAIL_LINES) {
        let l = rig_kernel::input::shorten(&rig_kernel::input::escape_control(l), 200).into_owned();
        if tail.len() + l.len() + 1 > LOG_TAIL_BYTES {
            break;
        }
        tail.insert_str(0, &format!("  {l}\n"));
    }
    let shown = tail.lines().count();
    let mut out = format!("\nlast {shown} of {} lines of the verifier log:\n{tail}", lines.len());
    match file {
        Some(f) => out.push_str(&format!("whole log: {}", f.display())),
        None => out.push_str("(the whole log could not be saved)"),
    }
    out
}

/// Writes a verifier log to `<cache dir>/verifier/<program>-<unix time>.log`.
fn save_log(program: &str, log: &str) -> Option<PathBuf> {
    let dir = crate::compile::cache_dir().join("verifier");
    std::fs::create_dir_all(&dir).ok()?;
    let safe: String = program
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let path = dir.join(format!("{safe}-{}.{:09}.log", now.as_secs(), now.subsec_nanos()));
    std::fs::write(&path, log).ok()?;
    Some(path)
}

/// The OS error number behind an error, searching its sources.
fn os_error(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io.raw_os_error();
        }
        if let Some(ProgramError::SyscallError(s)) = c.downcast_ref::<ProgramError>() {
            return s.io_error.raw_os_error();
        }
        if let Some(ProgramError::LoadError { io_error, .. }) = c.downcast_ref::<ProgramError>() {
            return io_error.raw_os_error();
        }
        cur = c.source();
    }
    None
}

/// The kernel-internal "operation not supported" that bpf(2) returns for some program types.
const ENOTSUPP: i32 = 524;

/// True when aya could not find the hook's BTF type (a `tp_btf`/`fentry` target that is missing).
fn unknown_btf_target(e: &ProgramError) -> bool {
    matches!(e, ProgramError::Btf(aya::BtfError::UnknownBtfTypeName { .. }))
}

/// Joins an error and its sources into one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// A loaded, attached gadget. Dropping it detaches and unloads everything.
#[derive(Debug)]
pub struct Loaded {
    /// The aya handle (maps, programs, links).
    pub ebpf: Ebpf,
    /// The kernel BTF, read on first use (iterator programs loaded later need it).
    kernel_btf: KernelBtf,
    /// Raw sockets, TCX links and dispatchers of networking programs.
    _attachments: Attachments,
    /// Tracers' perf event arrays with their per-CPU buffers, opened before any program was
    /// attached (a sample sent to a CPU slot with no buffer yet is dropped uncounted).
    pub perf: Vec<(String, super::perf::PerfSource)>,
}

/// The whole kernel BTF, parsed at most once and only when something needs it: `tp_btf`,
/// fentry/fexit/lsm and iterator programs, or a load the minimal CO-RE BTF could not serve.
#[derive(Debug, Default)]
struct KernelBtf(OnceLock<Result<Btf, String>>);

impl KernelBtf {
    fn get(&self) -> Result<&Btf, LoadError> {
        self.0
            .get_or_init(|| Btf::from_sys_fs().map_err(|e| chain(&e)))
            .as_ref()
            .map_err(|e| LoadError::KernelBtf(e.clone()))
    }
}

/// True for sections whose programs are loaded against a kernel type (and so need its BTF).
fn needs_kernel_btf(section: &str) -> bool {
    let kind = section.split('/').next().unwrap_or_default();
    matches!(
        kind.trim_end_matches(".s"),
        "tp_btf" | "fentry" | "fexit" | "fmod_ret" | "lsm"
    )
}

/// Mounts tracefs at `/sys/kernel/tracing` when neither it nor debugfs's copy is there: fresh
/// machines (and containers) often boot without it, and tracepoints cannot attach without it.
fn ensure_tracefs() {
    let mounted = |p: &str| std::path::Path::new(p).join("events").is_dir();
    if mounted("/sys/kernel/tracing") || mounted("/sys/kernel/debug/tracing") {
        return;
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        tracing::warn!(
            "tracefs is not mounted and mounting it failed: {}",
            std::io::Error::last_os_error()
        );
    } else {
        tracing::info!("mounted tracefs at /sys/kernel/tracing");
    }
}

/// The magic number of a bpffs in `statfs(2)`.
const BPF_FS_MAGIC: libc::__fsword_t = 0xcafe_4a11;

/// Mounts a bpffs at `/sys/fs/bpf` when an object pins maps by name (`LIBBPF_PIN_BY_NAME`, as
/// IG's GPU bridge maps are) and none is mounted there: aya, like libbpf, pins them in that
/// directory, and a machine booted without systemd often lacks it.
fn ensure_bpffs(bytes: &[u8]) {
    let pins = bytes.windows(9).any(|w| w == b"\0pinning\0");
    if !pins {
        return;
    }
    let target = c"/sys/fs/bpf";
    // SAFETY: statfs fills the zeroed struct; the path is a valid C string.
    let is_bpffs = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(target.as_ptr(), &mut st) == 0 && st.f_type == BPF_FS_MAGIC
    };
    if is_bpffs {
        return;
    }
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe { libc::mount(c"bpf".as_ptr(), target.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        tracing::warn!(
            "the object pins maps by name but no bpffs is mounted at /sys/fs/bpf and mounting one failed: {}",
            std::io::Error::last_os_error()
        );
    } else {
        tracing::info!("mounted a bpffs at /sys/fs/bpf (the object pins maps by name)");
    }
}

/// Loads `object` with the given parameter bytes (variable → value) and attaches every program
/// except iterators, which snapshots attach on demand.
///
/// Start-up is on the path to a run's first event, so: CO-RE relocates against the object's
/// minimal BTF ([`core_btf`]) when there is one, the kernel BTF is parsed only when a program
/// needs it (on another thread, meanwhile), and the programs go through the verifier in
/// parallel; they are attached afterwards in the object's order, and the first failure in that
/// order is the one reported, so errors stay reproducible. A load that fails against the minimal
/// BTF is retried once against the whole kernel BTF.
pub fn load(object: &GadgetObject, params: &BTreeMap<String, Vec<u8>>) -> Result<Loaded, LoadError> {
    load_pinned(object, params, &[])
}

/// [`load`], with some maps shared: each `(map, path)` opens the map pinned at `path` (in a bpffs)
/// instead of creating it, or creates it and pins it there when nothing is pinned yet. This is
/// how a run's container hook and its gadget share one `gadget_mntns_filter_map`.
pub fn load_pinned(
    object: &GadgetObject,
    params: &BTreeMap<String, Vec<u8>>,
    pins: &[(&str, &std::path::Path)],
) -> Result<Loaded, LoadError> {
    load_with_options(object, params, pins, &AttachOptions::default())
}

/// [`load_pinned`], with where networking programs attach and how perf events sample.
pub fn load_with_options(
    object: &GadgetObject,
    params: &BTreeMap<String, Vec<u8>>,
    pins: &[(&str, &std::path::Path)],
    opts: &AttachOptions,
) -> Result<Loaded, LoadError> {
    ensure_tracefs();
    ensure_bpffs(&object.bytes);
    let patched: GadgetObject;
    let object = match super::type_match::resolve(&object.bytes) {
        Ok(std::borrow::Cow::Borrowed(_)) => object,
        Ok(std::borrow::Cow::Owned(bytes)) => {
            patched = GadgetObject {
                bytes,
                ..object.clone()
            };
            &patched
        }
        Err(source) => {
            return Err(LoadError::TypeMatch {
                path: object.path.clone(),
                source,
            });
        }
    };
    let kernel_btf = KernelBtf::default();
    let minimal = std::thread::scope(|s| {
        if object.programs.iter().any(|p| needs_kernel_btf(&p.section)) {
            s.spawn(|| {
                let _ = kernel_btf.get();
            });
        }
        core_btf::minimal(&object.bytes)
    });
    if let Some(min) = &minimal {
        match load_with(object, params, pins, min, &kernel_btf, opts) {
            Ok((ebpf, attachments, perf)) => {
                return Ok(Loaded {
                    ebpf,
                    kernel_btf,
                    _attachments: attachments,
                    perf,
                });
            }
            Err(
                e @ (LoadError::Attach { .. }
                | LoadError::Hook { .. }
                | LoadError::NothingAttached { .. }
                | LoadError::Kconfig { .. }
                | LoadError::UnsupportedSection { .. }
                | LoadError::KernelBtf(_)),
            ) => {
                return Err(e);
            }
            Err(e) => {
                tracing::debug!(error = %e, "load against the minimal CO-RE BTF failed; retrying with the kernel's")
            }
        }
    }
    let (ebpf, attachments, perf) = load_with(object, params, pins, kernel_btf.get()?, &kernel_btf, opts)?;
    if minimal.is_some() {
        // The whole BTF served where the minimal one did not: do not use that one again.
        core_btf::forget(&object.bytes);
    }
    Ok(Loaded {
        ebpf,
        kernel_btf,
        _attachments: attachments,
        perf,
    })
}

/// One attempt: relocate against `target`, verify every program, attach them in order.
fn load_with(
    object: &GadgetObject,
    params: &BTreeMap<String, Vec<u8>>,
    pins: &[(&str, &std::path::Path)],
    target: &Btf,
    kernel_btf: &KernelBtf,
    opts: &AttachOptions,
) -> Result<(Ebpf, Attachments, Vec<(String, super::perf::PerfSource)>), LoadError> {
    let mut loader = EbpfLoader::new();
    loader.btf(target);
    for (map, path) in pins {
        loader.map_pin_path(map, *path);
    }
    for (var, bytes) in params {
        loader.override_global(var.as_str(), bytes.as_slice(), true);
    }
    let bytes = super::kconfig::resolve(&object.bytes).map_err(|source| LoadError::Kconfig {
        path: object.path.clone(),
        source,
    })?;
    let bytes = attach::sections::for_aya(&bytes);
    let mut ebpf = loader.load(&bytes).map_err(|e| LoadError::Object {
        path: object.path.clone(),
        reason: chain(&e),
    })?;
    verify_all(&mut ebpf, object, kernel_btf)?;
    let mut perf = Vec::new();
    for t in &object.tracers {
        if matches!(ebpf.map(&t.map), Some(aya::maps::Map::PerfEventArray(_)))
            && let Some(m) = ebpf.take_map(&t.map)
        {
            let src = super::perf::PerfSource::open(&t.map, m).map_err(|source| LoadError::PerfBuffers {
                path: object.path.clone(),
                source,
            })?;
            perf.push((t.map.clone(), src));
        }
    }
    let mut attachments = Attachments::default();
    let (mut attached, mut skipped) = (0usize, Vec::new());
    for spec in &object.programs {
        // A twin is attached through the program it duplicates, which alone was loaded.
        let Some(prog) = ebpf.program_mut(spec.twin_of.as_deref().unwrap_or(&spec.name)) else {
            continue;
        };
        if !attach::handles(prog) {
            attach(prog, &spec.name, &spec.section)?;
            attached += 1;
            continue;
        }
        let hook_err = |source| LoadError::Hook {
            program: spec.name.clone(),
            section: spec.section.clone(),
            source,
        };
        match attach::attach(prog, &spec.section, opts, &mut attachments).map_err(hook_err)? {
            Outcome::Attached(at) => {
                tracing::debug!(program = %spec.name, section = %spec.section, "attached to {at}");
                attached += 1;
            }
            Outcome::Skipped(why) => {
                tracing::debug!("program {} (section {}) skipped: {why}", spec.name, spec.section);
                skipped.push(format!("program {} (section {}): {why}", spec.name, spec.section));
            }
        }
    }
    if attached > 0 && !skipped.is_empty() {
        // IG skips these quietly; one line says how many, -vv says which and why.
        let first = skipped.first().map(String::as_str).unwrap_or_default();
        tracing::warn!(
            "{} of {} program(s) skipped (uprobes whose library or symbol is not on this host), e.g. {first}",
            skipped.len(),
            skipped.len() + attached
        );
    }
    if attached == 0 && !skipped.is_empty() {
        return Err(LoadError::NothingAttached {
            path: object.path.clone(),
            reasons: skipped,
        });
    }
    // A gadget always has a datasource (parsing refuses it otherwise); a helper program such as
    // the container hook has none, and must not read as the gadget being ready.
    let what = if object.tracers.is_empty() && object.snapshotters.is_empty() && object.mapiters.is_empty() {
        "helper attached"
    } else {
        "gadget attached"
    };
    tracing::info!(object = %object.path, programs = object.programs.len(), "{what}");
    Ok((ebpf, attachments, perf))
}

/// Puts every program (iterators and twins aside) through the verifier, on up to one thread per
/// CPU; the error reported is the first in the object's order.
fn verify_all(ebpf: &mut Ebpf, object: &GadgetObject, kernel_btf: &KernelBtf) -> Result<(), LoadError> {
    let mut by_name: BTreeMap<&str, &mut Program> = ebpf.programs_mut().collect();
    let work: Vec<(usize, &ProgramSpec, &mut Program)> = object
        .programs
        .iter()
        .enumerate()
        .filter(|(_, spec)| spec.twin_of.is_none())
        .filter_map(|(i, spec)| by_name.remove(spec.name.as_str()).map(|p| (i, spec, p)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(work.len());
    let queue = Mutex::new(work.into_iter());
    let failures = Mutex::new(Vec::new());
    let next = || queue.lock().unwrap_or_else(PoisonError::into_inner).next();
    let run = || {
        while let Some((i, spec, prog)) = next() {
            if let Err(e) = verify(prog, &spec.name, &spec.section, kernel_btf) {
                failures.lock().unwrap_or_else(PoisonError::into_inner).push((i, e));
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(run);
        }
        run();
    });
    let mut failures = failures.into_inner().unwrap_or_else(PoisonError::into_inner);
    failures.sort_by_key(|(i, _)| *i);
    failures.into_iter().next().map_or(Ok(()), |(_, e)| Err(e))
}

fn verifier(program: &str, section: &str, e: ProgramError) -> LoadError {
    let verifier_log = match &e {
        ProgramError::LoadError { verifier_log, .. } => Some(verifier_log.to_string()).filter(|l| !l.trim().is_empty()),
        _ => None,
    };
    let reason = match &e {
        // aya's text ends "Verifier output: " with nothing after it when the kernel refused the
        // program before verifying it: say what failed instead.
        ProgramError::LoadError { io_error, .. } if verifier_log.is_none() => {
            format!("the kernel refused to load it (bpf BPF_PROG_LOAD: {io_error}, no verifier output)")
        }
        _ => chain(&e),
    };
    let hint = hint(section, &e);
    if !hint.is_empty() {
        return LoadError::Attach {
            program: program.into(),
            section: section.into(),
            reason: format!("{reason}{hint}"),
        };
    }
    let log_file = verifier_log.as_deref().and_then(|l| save_log(program, l));
    LoadError::Verifier {
        program: program.into(),
        section: section.into(),
        reason: rig_kernel::input::shorten(&reason, 400).into_owned(),
        verifier_log,
        log_file,
    }
}

/// True for the OS errors a kernel that refuses a program type returns.
fn refused(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::EPERM | libc::EACCES | libc::EOPNOTSUPP | ENOTSUPP))
}

/// A hint for a failure, chosen from its OS error number (and aya's typed BTF lookup error).
fn hint(section: &str, e: &ProgramError) -> &'static str {
    let kind = section.split('/').next().unwrap_or_default();
    let errno = os_error(e);
    match kind {
        "kprobe" | "kretprobe" => {
            " (kprobes are not available on this kernel; use a tracepoint, raw_tp or tp_btf hook)"
        }
        "fentry" | "fentry.s" if refused(errno) => {
            " (fentry programs are refused by this kernel, as are fexit and lsm; use a tracepoint, raw_tp or tp_btf hook)"
        }
        "fexit" | "fexit.s" if refused(errno) => {
            " (fexit programs are refused by this kernel, as are fentry and lsm; use a tracepoint, raw_tp or tp_btf hook)"
        }
        "lsm" | "lsm.s" if refused(errno) => {
            " (lsm programs are refused by this kernel, as are fentry and fexit; use a tracepoint, raw_tp or tp_btf hook)"
        }
        "fmod_ret" if refused(errno) => {
            " (fmod_ret programs are refused by this kernel, as are fentry, fexit and lsm; use a tracepoint, raw_tp or tp_btf hook)"
        }
        "uprobe" | "uretprobe" if errno == Some(libc::ENOENT) => " (uprobes need tracefs and CONFIG_UPROBE_EVENTS)",
        "perf_event" if errno == Some(libc::ENOENT) || errno == Some(libc::EOPNOTSUPP) => {
            " (this kernel has no software CPU-clock perf event)"
        }
        "tracepoint" | "tp" if errno == Some(libc::ENOENT) => " (no such tracepoint on this kernel)",
        "raw_tp" | "raw_tracepoint" | "tp_btf" if errno == Some(libc::ENOENT) || unknown_btf_target(e) => {
            " (no such tracepoint on this kernel)"
        }
        "fentry" | "fexit" | "lsm" | "fmod_ret" if errno == Some(libc::ENOENT) || unknown_btf_target(e) => {
            " (no such kernel function on this kernel)"
        }
        _ => "",
    }
}

/// Loads one program into the kernel (the verifier's part); iterators are loaded when run.
fn verify(prog: &mut Program, name: &str, section: &str, kernel_btf: &KernelBtf) -> Result<(), LoadError> {
    let load_err = |e| verifier(name, section, e);
    let target = section.split_once('/').map_or("", |(_, t)| t);
    match prog {
        Program::TracePoint(p) => p.load().map_err(load_err),
        Program::RawTracePoint(p) => p.load().map_err(load_err),
        Program::KProbe(p) => p.load().map_err(load_err),
        Program::BtfTracePoint(p) => p.load(target, kernel_btf.get()?).map_err(load_err),
        Program::FEntry(p) => p.load(target, kernel_btf.get()?).map_err(load_err),
        Program::FExit(p) => p.load(target, kernel_btf.get()?).map_err(load_err),
        Program::Lsm(p) => p.load(target, kernel_btf.get()?).map_err(load_err),
        Program::SocketFilter(p) => p.load().map_err(load_err),
        Program::SchedClassifier(p) => p.load().map_err(load_err),
        Program::UProbe(p) => p.load().map_err(load_err),
        Program::PerfEvent(p) => p.load().map_err(load_err),
        Program::Iter(_) => Ok(()),
        _ => Err(LoadError::UnsupportedSection {
            program: name.into(),
            section: section.into(),
        }),
    }
}

/// Attaches one loaded program to the hook its section names.
fn attach(prog: &mut Program, name: &str, section: &str) -> Result<(), LoadError> {
    let attach_err = |e: ProgramError| {
        let reason = chain(&e);
        LoadError::Attach {
            program: name.into(),
            section: section.into(),
            reason: format!("{reason}{}", hint(section, &e)),
        }
    };
    let unsupported = || LoadError::UnsupportedSection {
        program: name.into(),
        section: section.into(),
    };
    let (kind, target) = section.split_once('/').unwrap_or((section, ""));
    match (prog, kind) {
        (Program::TracePoint(p), "tracepoint" | "tp") => {
            let (cat, tp) = target.split_once('/').ok_or_else(unsupported)?;
            p.attach(cat, tp).map_err(attach_err)?;
        }
        (Program::RawTracePoint(p), _) => {
            p.attach(target).map_err(attach_err)?;
        }
        (Program::KProbe(p), _) => {
            p.attach(target, 0).map_err(attach_err)?;
        }
        (Program::BtfTracePoint(p), _) => {
            p.attach().map_err(attach_err)?;
        }
        (Program::FEntry(p), _) => {
            p.attach().map_err(attach_err)?;
        }
        (Program::FExit(p), _) => {
            p.attach().map_err(attach_err)?;
        }
        (Program::Lsm(p), _) => {
            p.attach().map_err(attach_err)?;
        }
        (Program::Iter(_), _) => {}
        _ => return Err(unsupported()),
    }
    Ok(())
}

/// Runs an iterator program once and returns everything it wrote.
pub fn run_iter(loaded: &mut Loaded, program: &str, section: &str) -> Result<Vec<u8>, LoadError> {
    use std::io::Read as _;
    let target = section.split_once('/').map(|(_, t)| t).unwrap_or_default();
    let Some(Program::Iter(p)) = loaded.ebpf.program_mut(program) else {
        return Err(LoadError::UnsupportedSection {
            program: program.into(),
            section: section.into(),
        });
    };
    let p: &mut Iter = p;
    if p.fd().is_err() {
        p.load(target, loaded.kernel_btf.get()?)
            .map_err(|e| verifier(program, section, e))?;
    }
    let attach_err = |reason: String| LoadError::Attach {
        program: program.into(),
        section: section.into(),
        reason,
    };
    let link_id = p.attach().map_err(|e| attach_err(chain(&e)))?;
    let link = p.take_link(link_id).map_err(|e| attach_err(chain(&e)))?;
    let mut file = link.into_file().map_err(|e| attach_err(chain(&e)))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).map_err(|e| attach_err(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The hint matcher on errors built the way aya builds them (a failed syscall's OS error
    //! number), so no kernel is needed: hints follow the errno and the section, never the text.

    use super::*;

    fn syscall(errno: i32) -> ProgramError {
        ProgramError::SyscallError(aya::sys::SyscallError {
            call: "bpf_prog_load",
            io_error: std::io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn a_refused_fentry_fexit_or_lsm_load_names_the_hook_and_says_the_kernel_refuses_it() {
        for section in [
            "fentry/do_sys_openat2",
            "fexit/do_sys_openat2",
            "lsm/file_open",
            "fmod_ret/security_x",
        ] {
            for errno in [libc::EPERM, libc::EACCES, libc::EOPNOTSUPP, ENOTSUPP] {
                let e = verifier("rig_prog", section, syscall(errno));
                assert!(matches!(e, LoadError::Attach { .. }), "{section} errno {errno}: {e:?}");
                let msg = e.to_string();
                assert!(msg.contains(section), "{msg}");
                assert!(msg.contains("rig_prog"), "{msg}");
                let kind = section.split('/').next().unwrap_or_default();
                assert!(
                    msg.contains(&format!("{kind} programs are refused by this kernel")),
                    "{msg}"
                );
            }
        }
        let msg = verifier("rig_prog", "lsm/file_open", syscall(libc::EPERM)).to_string();
        assert!(
            msg.contains("Operation not permitted"),
            "the kernel's reason is kept: {msg}"
        );
    }

    #[test]
    fn a_kprobe_section_says_kprobes_are_unavailable_whatever_the_errno() {
        for section in ["kprobe/do_sys_openat2", "kretprobe/do_sys_openat2"] {
            for errno in [libc::ENOENT, libc::EPERM, libc::EINVAL] {
                assert!(
                    hint(section, &syscall(errno)).contains("kprobes are not available"),
                    "{section} {errno}"
                );
            }
        }
    }

    #[test]
    fn a_missing_hook_is_named_by_kind() {
        assert!(hint("tracepoint/syscalls/sys_enter_nosuch", &syscall(libc::ENOENT)).contains("no such tracepoint"));
        assert!(hint("raw_tp/nosuch", &syscall(libc::ENOENT)).contains("no such tracepoint"));
        assert!(hint("fentry/nosuch", &syscall(libc::ENOENT)).contains("no such kernel function"));
    }

    #[test]
    fn an_unrelated_error_gets_no_hint() {
        // A verifier rejection (EINVAL) on an fentry program is not "refused by this kernel".
        assert_eq!(hint("fentry/do_sys_openat2", &syscall(libc::EINVAL)), "");
        assert_eq!(hint("lsm/file_open", &ProgramError::AlreadyAttached), "");
        assert_eq!(hint("tracepoint/syscalls/sys_enter_openat", &syscall(libc::EPERM)), "");
        assert_eq!(hint("tp_btf/sched_switch", &syscall(libc::E2BIG)), "");
        let e = verifier(
            "rig_prog",
            "tracepoint/syscalls/sys_enter_openat",
            syscall(libc::EINVAL),
        );
        assert!(matches!(e, LoadError::Verifier { .. }), "{e:?}");
    }
}
