//! The WebAssembly operator host, end to end: real components (the hostile test operator and the
//! builtins, built from `operators/` by build.rs) run through `WasmStage`.
//!
//! Every misbehaviour must be stopped quickly (< 200 ms), reported with the operator's name, and
//! leave the host working; the sandbox must hold (no file system, no network); what is not a
//! compatible rig operator must be refused at load with a message that says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rig_host::wasm::{
    Grants, Limits, MAX_OUTPUT_FIELDS, MAX_OUTPUT_ROWS, MAX_RESTARTS_IN_A_ROW, OnError, OperatorHost, OperatorSource, OperatorSpec, WIT_VERSION, WasmError,
    WasmStage, builtin, builtin_names,
};
use rig_kernel::{Batch, FieldKind, Schema, SchemaBuilder, Stage, StageError, Value};

const ARTIFACTS: &str = env!("RIG_OPERATORS_ARTIFACTS");
/// What "stopped quickly" means.
const STOP_BUDGET: Duration = Duration::from_millis(200);

fn artifact(rel: &str) -> PathBuf {
    let p = Path::new(ARTIFACTS).join(rel);
    assert!(
        p.is_file(),
        "{} was not built (build.rs builds operators/)",
        p.display()
    );
    p
}

fn hostile() -> OperatorSource {
    OperatorSource::File(artifact("rig_op_hostile.wasm"))
}

/// One host for the whole test binary, with its own cache directory.
fn host() -> &'static Arc<OperatorHost> {
    static HOST: OnceLock<Arc<OperatorHost>> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        OperatorHost::new(Some(dir)).expect("operator host")
    })
}

/// A small trace_open-like schema: inline scalars and text, and a heap-backed path.
fn schema() -> Arc<Schema> {
    let mut b = SchemaBuilder::new("open", 28);
    b.inline("proc.pid", FieldKind::U32, 0, 4);
    b.inline("proc.comm", FieldKind::Str, 4, 16);
    b.inline("error", FieldKind::S32, 20, 4);
    b.inline("fd", FieldKind::S32, 24, 4);
    b.heap("fname", FieldKind::Str);
    b.build().expect("schema")
}

fn batch(schema: &Arc<Schema>, comms: &[&str]) -> Batch {
    let fname = schema.find("fname").expect("fname");
    let mut b = Batch::with_capacity(schema.clone(), comms.len());
    for (i, comm) in comms.iter().enumerate() {
        let mut rec = vec![0u8; 28];
        rec[0..4].copy_from_slice(&(100 + i as u32).to_le_bytes());
        rec[4..4 + comm.len()].copy_from_slice(comm.as_bytes());
        rec[20..24].copy_from_slice(&(if i % 2 == 0 { 0i32 } else { 2 }).to_le_bytes());
        rec[24..28].copy_from_slice(&(3 + i as i32).to_le_bytes());
        b.push_record(&rec);
        b.set_heap(i, fname, format!("/etc/file{i}").as_bytes());
    }
    b
}

fn rows(n: usize) -> Vec<&'static str> {
    ["cat", "ls", "bash", "cat"].into_iter().cycle().take(n).collect()
}

fn spec(node: &str, mode: &str, extra: &[(&str, &str)]) -> OperatorSpec {
    let mut config = vec![("mode".to_owned(), mode.to_owned())];
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    OperatorSpec::new(node, hostile(), config)
}

/// A spec whose deadline leaves room for slow host calls (file and socket calls count towards
/// the per-call deadline, and a loaded CI machine can be slow): for tests of capabilities, not
/// of time.
fn roomy(mut spec: OperatorSpec) -> OperatorSpec {
    spec.limits.deadline = Duration::from_secs(2);
    spec
}

fn start(spec: OperatorSpec) -> (WasmStage, Arc<Schema>) {
    let s = schema();
    let mut stage = WasmStage::new(host(), spec).expect("stage");
    let out = stage.init(&s).expect("init");
    (stage, out)
}

fn message(e: &StageError) -> &str {
    match e {
        StageError::Batch(m) | StageError::Fatal(m) => m,
    }
}

/// A fresh `pass` instance still works: the host survived.
fn host_still_works() {
    let (mut stage, _) = start(spec("after", "pass", &[]));
    let out = stage.process(batch(&schema(), &rows(3))).expect("pass").expect("rows");
    assert_eq!(out.len(), 3);
}

#[test]
fn pass_round_trips_a_batch_and_reports_counters() {
    let s = schema();
    let mut stage = WasmStage::new(host(), spec("pass", "pass", &[])).expect("stage");
    let out_schema = stage.init(&s).expect("init");
    assert!(Arc::ptr_eq(&out_schema, &s), "an unchanged schema keeps its Arc");
    let input = batch(&s, &rows(5));
    let out = stage.process(input.clone()).expect("process").expect("rows");
    assert_eq!(out.rows_bytes(), input.rows_bytes());
    assert_eq!(out.heap_bytes(), input.heap_bytes());
    assert_eq!(out.value(4, s.find("fname").unwrap()), Value::Str("/etc/file4"));
    assert!(stage.finish().expect("finish").is_none());
    let c = stage.counters();
    assert_eq!(c["calls"], 3, "init, process, flush: {c:?}");
    assert_eq!(c["traps"], 0);
    assert_eq!(c["restarts"], 0);
    assert_eq!(c["hostile.rows"], 5);
    assert!(c["guest_ns"] > 0);
}

/// Runs one batch through a misbehaving operator with `on-error: stop` and checks it is stopped
/// in time, fatally, with a message naming the operator and `want`.
fn stopped(mode: &str, want: &str) -> String {
    let (mut stage, _) = start(spec(&format!("bad-{mode}"), mode, &[]));
    let t = Instant::now();
    let err = stage.process(batch(&schema(), &rows(3))).expect_err("must fail");
    let took = t.elapsed();
    eprintln!("mode {mode}: stopped after {took:?}: {err}");
    assert!(matches!(err, StageError::Fatal(_)), "{err:?}");
    let msg = message(&err).to_owned();
    assert!(msg.contains(&format!("bad-{mode}")), "names the node: {msg}");
    assert!(msg.contains("rig_op_hostile.wasm"), "names the component: {msg}");
    assert!(msg.contains(want), "says what happened ({want}): {msg}");
    assert!(took < STOP_BUDGET, "mode {mode} took {took:?}");
    // A stopped stage stays stopped.
    assert!(matches!(
        stage.process(batch(&schema(), &rows(1))),
        Err(StageError::Fatal(_))
    ));
    assert_eq!(stage.counters()["traps"], u64::from(mode != "flood"));
    host_still_works();
    msg
}

#[test]
fn an_infinite_loop_hits_the_deadline() {
    stopped("loop", "deadline exceeded (100 ms)");
}

#[test]
fn a_huge_allocation_hits_the_memory_cap() {
    stopped("alloc", "out of memory (limit 64 MiB");
}

#[test]
fn a_panic_is_a_trap_with_the_guest_message() {
    let msg = stopped("trap", "the operator panicked");
    assert!(
        msg.contains("the operator's stderr:") && msg.contains("panics on purpose"),
        "the guest's panic message is kept, labelled as the operator's: {msg}"
    );
}

#[test]
fn a_flood_of_rows_is_refused() {
    let msg = stopped("flood", "returned 300 rows, more than its cap of 48 rows");
    assert!(msg.contains("invalid output"), "{msg}");
}

#[test]
fn restart_recovers_on_the_next_batch() {
    for mode in ["trap", "loop", "alloc", "shadow", "flood"] {
        let mut sp = spec(&format!("restart-{mode}"), mode, &[("on", "3")]);
        sp.on_error = OnError::Restart;
        let (mut stage, _) = start(sp);
        let t = Instant::now();
        let err = stage
            .process(batch(&schema(), &rows(3)))
            .expect_err("misbehaves on 3 rows");
        let took = t.elapsed();
        eprintln!("restart {mode}: lost batch after {took:?}: {err}");
        assert!(matches!(err, StageError::Batch(_)), "{err:?}");
        assert!(message(&err).contains(&format!("restart-{mode}")));
        assert!(took < STOP_BUDGET, "mode {mode} took {took:?} including the restart");
        let out = stage
            .process(batch(&schema(), &rows(2)))
            .expect("recovered")
            .expect("rows");
        assert_eq!(out.len(), 2);
        let c = stage.counters();
        assert_eq!(c["restarts"], 1, "{mode}: {c:?}");
    }
}

#[test]
fn an_operator_that_fails_every_batch_is_not_restarted_forever() {
    let mut sp = spec("always-traps", "trap", &[]);
    sp.on_error = OnError::Restart;
    let (mut stage, _) = start(sp);
    for i in 0..MAX_RESTARTS_IN_A_ROW {
        let err = stage.process(batch(&schema(), &rows(1))).expect_err("traps");
        assert!(matches!(err, StageError::Batch(_)), "batch {i}: {err:?}");
    }
    let err = stage.process(batch(&schema(), &rows(1))).expect_err("traps");
    assert!(matches!(err, StageError::Fatal(_)), "{err:?}");
    assert!(message(&err).contains("in a row"), "says why it gave up: {err}");
    assert_eq!(stage.counters()["restarts"], u64::from(MAX_RESTARTS_IN_A_ROW));
    host_still_works();
}

#[test]
fn skip_drops_the_batch_and_keeps_the_instance() {
    let mut sp = roomy(spec("skip", "shadow", &[("on", "3")]));
    sp.on_error = OnError::Skip;
    let (mut stage, _) = start(sp);
    let err = stage.process(batch(&schema(), &rows(3))).expect_err("fails on 3 rows");
    assert!(matches!(err, StageError::Batch(_)), "{err:?}");
    assert_eq!(stage.process(batch(&schema(), &rows(2))).unwrap().unwrap().len(), 2);
    assert_eq!(stage.counters()["restarts"], 0);
    // A trap poisons the instance: skip needs a fresh one.
    let mut sp = spec("skip-trap", "trap", &[("on", "3")]);
    sp.on_error = OnError::Skip;
    let (mut stage, _) = start(sp);
    assert!(matches!(
        stage.process(batch(&schema(), &rows(3))),
        Err(StageError::Batch(_))
    ));
    assert_eq!(stage.process(batch(&schema(), &rows(1))).unwrap().unwrap().len(), 1);
    assert_eq!(stage.counters()["traps"], 1);
}

#[test]
fn no_file_system_without_a_grant() {
    let (mut stage, _) = start(roomy(spec("shadow", "shadow", &[])));
    let err = stage.process(batch(&schema(), &rows(1))).expect_err("guest reports");
    let msg = message(&err);
    eprintln!("shadow: {msg}");
    assert!(msg.contains("cannot open /etc/shadow"), "{msg}");
    assert!(!msg.contains("READ"), "{msg}");
}

#[test]
fn no_network() {
    // A real listener: if the sandbox let the guest out, the connection would arrive here.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr").to_string();
    for target in [addr.as_str(), "127.0.0.1:1"] {
        let (mut stage, _) = start(roomy(spec("socket", "socket", &[("addr", target)])));
        let err = stage.process(batch(&schema(), &rows(1))).expect_err("guest reports");
        let msg = message(&err);
        eprintln!("socket {target}: {msg}");
        assert!(msg.contains("cannot connect"), "{msg}");
        assert!(!msg.contains("CONNECTED"), "{msg}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection reached the listener"
    );
}

#[test]
fn writes_only_inside_the_granted_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let granted = root.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    let write = |path: &str, dir: Option<&Path>| {
        let mut sp = roomy(spec("write", "write", &[("path", path)]));
        sp.grants = Grants {
            dir: dir.map(Path::to_path_buf),
        };
        let (mut stage, _) = start(sp);
        stage.process(batch(&schema(), &rows(1))).map(|b| b.map(|b| b.len()))
    };
    assert_eq!(
        write("/out.txt", Some(&granted)).expect("absolute path in the grant"),
        Some(1)
    );
    assert_eq!(
        write("rel.txt", Some(&granted)).expect("relative path in the grant"),
        Some(1)
    );
    assert!(granted.join("out.txt").is_file() && granted.join("rel.txt").is_file());
    let escape = write("/../escape.txt", Some(&granted)).expect_err("escape refused");
    eprintln!("escape: {escape}");
    assert!(!root.path().join("escape.txt").exists());
    let absolute = root.path().join("abs.txt");
    write(absolute.to_str().unwrap(), Some(&granted)).ok();
    assert!(
        !absolute.exists(),
        "a host absolute path is resolved inside the grant, never outside"
    );
    let none = write("/out2.txt", None).expect_err("no grant, no file system");
    assert!(message(&none).contains("write /out2.txt"), "{none}");
    // A grant that does not exist is refused when the stage starts.
    let mut sp = spec("write", "write", &[]);
    sp.grants.dir = Some(root.path().join("missing"));
    let e = WasmStage::new(host(), sp).expect_err("missing grant");
    assert!(e.to_string().contains("granted directory"), "{e}");
}

#[test]
fn what_is_not_an_operator_is_refused_at_load() {
    let load = |name: &str, bytes: Vec<u8>| {
        host()
            .load(&OperatorSource::Bytes {
                name: name.into(),
                bytes,
            })
            .expect_err("refused")
    };
    let e = load("noise", b"definitely not wasm".to_vec());
    assert!(matches!(e, WasmError::NotAComponent { .. }), "{e}");
    assert!(
        e.to_string().contains("noise") && e.to_string().contains("magic number"),
        "{e}"
    );

    // The smallest core module.
    let e = load("core", b"\0asm\x01\0\0\0".to_vec());
    assert!(e.to_string().contains("core WebAssembly module"), "{e}");

    let plain = std::fs::read(artifact("examples/plain.wasm")).unwrap();
    let e = load("plain", plain);
    let msg = e.to_string();
    eprintln!("plain: {msg}");
    assert!(matches!(e, WasmError::NotAnOperator { .. }), "{msg}");
    assert!(
        msg.contains(&format!("rig:operator/operator@{WIT_VERSION}")),
        "says what is missing: {msg}"
    );
    assert!(msg.contains("greet"), "lists what it exports: {msg}");

    let e = host()
        .load(&OperatorSource::Builtin("nope".into()))
        .expect_err("unknown");
    assert!(e.to_string().contains("unknown builtin operator \"nope\""), "{e}");
    let e = host()
        .load(&OperatorSource::File("/nonexistent/op.wasm".into()))
        .expect_err("missing file");
    assert!(e.to_string().contains("/nonexistent/op.wasm"), "{e}");
}

#[test]
fn another_major_version_of_the_contract_is_refused() {
    let v1 = std::fs::read(artifact("examples/wit_v1.wasm")).unwrap();
    let e = host()
        .load(&OperatorSource::Bytes {
            name: "v1".into(),
            bytes: v1,
        })
        .expect_err("refused");
    let msg = e.to_string();
    eprintln!("v1: {msg}");
    assert!(matches!(e, WasmError::WitVersion { .. }), "{msg}");
    assert!(msg.contains("rig:operator@1.0.0"), "{msg}");
    assert!(msg.contains(&format!("rig:operator@{WIT_VERSION}")), "{msg}");
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cold = OperatorHost::new(Some(dir.path().to_path_buf())).unwrap();
    let t = Instant::now();
    cold.load(&hostile()).expect("compile");
    let compile = t.elapsed();
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "cwasm"));
    drop(cold);
    let warm = OperatorHost::new(Some(dir.path().to_path_buf())).unwrap();
    let t = Instant::now();
    let loaded = warm.load(&hostile()).expect("from cache");
    let cached = t.elapsed();
    eprintln!("compile {compile:?}, from cache {cached:?}");
    let mut stage = WasmStage::new(&warm, spec("cached", "pass", &[])).unwrap();
    stage.init(&schema()).unwrap();
    assert_eq!(stage.process(batch(&schema(), &rows(2))).unwrap().unwrap().len(), 2);
    assert_eq!(loaded.sha256().len(), 64);
    // A corrupt cache file is ignored (and rewritten), never loaded.
    std::fs::write(&files[0], b"garbage").unwrap();
    let again = OperatorHost::new(Some(dir.path().to_path_buf())).unwrap();
    again.load(&hostile()).expect("recompiled");
    assert!(std::fs::metadata(&files[0]).unwrap().len() > 100);
}

#[test]
fn guests_that_print_work_inside_tokio_runtimes() {
    // `pass` prints at init: WASI stdout under a runtime must neither panic nor deadlock.
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let n = multi.block_on(async {
        tokio::spawn(async {
            let (mut stage, _) = start(spec("tokio", "pass", &[]));
            stage.process(batch(&schema(), &rows(4))).unwrap().unwrap().len()
        })
        .await
        .unwrap()
    });
    assert_eq!(n, 4);
    let current = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let n = current.block_on(async {
        let (mut stage, _) = start(spec("tokio", "pass", &[]));
        stage.process(batch(&schema(), &rows(2))).unwrap().unwrap().len()
    });
    assert_eq!(n, 2);
}

#[test]
fn limits_and_policies_parse() {
    assert_eq!("restart".parse::<OnError>().unwrap(), OnError::Restart);
    assert_eq!("skip".parse::<OnError>().unwrap(), OnError::Skip);
    assert_eq!("stop".parse::<OnError>().unwrap(), OnError::Stop);
    assert!("retry".parse::<OnError>().unwrap_err().to_string().contains("retry"));
    let l = Limits::default();
    assert_eq!(
        (l.memory_bytes, l.deadline, l.max_output_factor),
        (64 << 20, Duration::from_millis(100), 16)
    );
}

#[test]
fn builtin_filter_and_limit() {
    assert_eq!(builtin_names(), &["filter", "sort", "limit", "export"]);
    for name in builtin_names() {
        assert!(builtin(name).is_some_and(|b| b.starts_with(b"\0asm")), "{name}");
    }
    let s = schema();
    let comm = s.find("proc.comm").unwrap();
    let source = OperatorSource::Builtin("filter".into());
    let mut filter = WasmStage::new(
        host(),
        OperatorSpec::new("filt", source, vec![("filter".into(), "proc.comm==cat".into())]),
    )
    .expect("filter");
    filter.init(&s).expect("init");
    let out = filter.process(batch(&s, &rows(8))).expect("process").expect("rows");
    assert_eq!(out.len(), 4);
    assert!((0..out.len()).all(|r| out.value(r, comm) == Value::Str("cat")));
    assert_eq!(out.value(1, s.find("fname").unwrap()), Value::Str("/etc/file3"));

    let mut bad = WasmStage::new(
        host(),
        OperatorSpec::new(
            "filt",
            OperatorSource::Builtin("filter".into()),
            vec![("filter".into(), "nope==1".into())],
        ),
    )
    .expect("loads");
    let e = bad.init(&s).expect_err("unknown field");
    assert!(message(&e).contains("filt"), "{e}");

    let mut limit = WasmStage::new(
        host(),
        OperatorSpec::new(
            "lim",
            OperatorSource::Builtin("limit".into()),
            vec![("max-entries".into(), "3".into())],
        ),
    )
    .expect("limit");
    limit.init(&s).expect("init");
    let a = limit
        .process(batch(&s, &rows(2)))
        .expect("process")
        .map_or(0, |b| b.len());
    let b = limit
        .process(batch(&s, &rows(2)))
        .expect("process")
        .map_or(0, |b| b.len());
    let c = limit
        .process(batch(&s, &rows(2)))
        .expect("process")
        .map_or(0, |b| b.len());
    assert_eq!((a, b, c), (2, 1, 0));
}

#[test]
fn a_sort_window_emits_each_window_sorted() {
    let s = schema();
    let pid = s.find("proc.pid").unwrap();
    let mut spec = OperatorSpec::new(
        "sort",
        OperatorSource::Builtin("sort".into()),
        vec![("by".into(), "-proc.pid".into())],
    );
    spec.flush_every = Some(Duration::from_millis(200));
    let mut sort = WasmStage::new(host(), spec).expect("sort");
    sort.init(&s).expect("init");
    let pids = |b: Option<Batch>| -> Vec<u64> {
        let b = b.unwrap_or_else(|| Batch::with_capacity(s.clone(), 0));
        (0..b.len())
            .map(|r| match b.value(r, pid) {
                Value::U64(v) => v,
                v => panic!("pid {v:?}"),
            })
            .collect()
    };
    // Inside the window: held.
    assert_eq!(
        pids(sort.process(batch(&s, &rows(3))).expect("process")),
        Vec::<u64>::new()
    );
    std::thread::sleep(Duration::from_millis(250));
    // The first batch after the window: both batches' rows, sorted, come out with it.
    assert_eq!(
        pids(sort.process(batch(&s, &rows(2))).expect("process")),
        [102, 101, 101, 100, 100]
    );
    // A new window has begun; the end of the run flushes what it holds.
    assert_eq!(
        pids(sort.process(batch(&s, &rows(1))).expect("process")),
        Vec::<u64>::new()
    );
    assert_eq!(pids(sort.finish().expect("finish")), [100]);
}

#[test]
fn a_guest_blocked_in_a_sleep_is_stopped_at_its_deadline() {
    stopped("sleep", "deadline exceeded in a blocking host call (100 ms)");
    // Inside a multi-thread runtime too, as in a run (the stage runs in a kameo actor).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (mut stage, _) = start(spec("sleep-rt", "sleep", &[]));
        let t = Instant::now();
        let err = stage.process(batch(&schema(), &rows(1))).expect_err("stopped");
        assert!(message(&err).contains("blocking host call"), "{err}");
        assert!(t.elapsed() < STOP_BUDGET, "{:?}", t.elapsed());
    });
}

#[test]
fn a_stack_overflow_says_so() {
    stopped("recurse", "stack overflow");
}

#[test]
fn a_huge_guest_error_is_cut_escaped_and_attributed() {
    let (mut stage, _) = start(roomy(spec("errflood", "errflood", &[])));
    let err = stage.process(batch(&schema(), &rows(1))).expect_err("guest error");
    let msg = message(&err);
    assert!(msg.len() < 4096, "{} bytes", msg.len());
    assert!(!msg.contains(['\n', '\r', '\x1b']), "control characters escaped: {msg}");
    assert!(msg.starts_with("operator errflood"), "{msg}");
    assert!(msg.contains("bytes in all)"), "says it was cut: {msg}");
}

#[test]
fn a_log_flood_is_rate_limited() {
    let mut sp = spec("logflood", "logflood", &[("lines", "20000")]);
    sp.limits.deadline = Duration::from_secs(20);
    let (mut stage, _) = start(sp);
    stage.process(batch(&schema(), &rows(1))).expect("logs").expect("rows");
    let c = stage.counters();
    assert!(c["log_lines_suppressed"] > 30_000, "{c:?}");
}

#[test]
fn skip_is_not_bounded_like_restart() {
    let mut sp = spec("skip-always", "trap", &[]);
    sp.on_error = OnError::Skip;
    let (mut stage, _) = start(sp);
    for i in 0..MAX_RESTARTS_IN_A_ROW + 5 {
        let err = stage.process(batch(&schema(), &rows(1))).expect_err("traps");
        assert!(matches!(err, StageError::Batch(_)), "batch {i}: {err:?}");
    }
}

#[test]
fn a_schema_bomb_is_refused_quickly() {
    let t = Instant::now();
    let mut stage = WasmStage::new(host(), spec("bomb", "pass", &[("fields", "200000")])).expect("stage");
    let err = stage.init(&schema()).expect_err("too many fields");
    assert!(message(&err).contains(&format!("more than the {MAX_OUTPUT_FIELDS}")), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let t = Instant::now();
    let n = MAX_OUTPUT_FIELDS.to_string();
    let mut stage = WasmStage::new(host(), spec("wide", "pass", &[("fields", &n)])).expect("stage");
    let out = stage.init(&schema()).expect("the largest schema allowed");
    assert_eq!(out.fields.len(), MAX_OUTPUT_FIELDS);
    assert!(t.elapsed() < Duration::from_secs(1), "linear set-up: {:?}", t.elapsed());
}

#[test]
fn chained_amplification_hits_the_absolute_cap() {
    let s = schema();
    let mut chain: Vec<WasmStage> = (0..3)
        .map(|i| {
            let mut st = WasmStage::new(host(), roomy(spec(&format!("grow{i}"), "grow", &[]))).expect("stage");
            st.init(&s).expect("init");
            st
        })
        .collect();
    let mut b = batch(&s, &rows(512));
    let mut failed = None;
    for st in &mut chain {
        match st.process(b.clone()) {
            Ok(Some(out)) => {
                assert!(out.len() as u64 <= MAX_OUTPUT_ROWS);
                b = out;
            }
            Ok(None) => unreachable!(),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let err = failed.expect("the third stage would output 2 Mi rows");
    assert!(message(&err).contains(&format!("cap of {MAX_OUTPUT_ROWS} rows")), "{err}");
}

#[test]
fn a_symlink_planted_in_a_grant_is_not_followed_by_the_file_sink() {
    let root = tempfile::tempdir().expect("tempdir");
    let granted = root.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    let victim = root.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let mut sp = roomy(spec("planter", "symlink", &[]));
    sp.grants.dir = Some(granted.clone());
    let (mut stage, _) = start(sp);
    stage.process(batch(&schema(), &rows(1))).expect("planted").expect("rows");
    let out = granted.join("out.jsonl");
    assert!(out.symlink_metadata().unwrap().file_type().is_symlink(), "the guest planted it");
    let err = rig_host::sinks::create_sink_file(out.to_str().unwrap()).expect_err("not followed");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // A regular file is created and truncated as before.
    let plain = root.path().join("plain.jsonl");
    std::fs::write(&plain, "old").unwrap();
    rig_host::sinks::create_sink_file(plain.to_str().unwrap()).expect("regular file");
    assert_eq!(std::fs::read(&plain).unwrap().len(), 0);
}
