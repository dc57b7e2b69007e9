//! ns/event of WASM operators through the host (`WasmStage::process`), with a trace_open-like
//! schema (344-byte rows, one heap-backed field).
//!
//! `cargo bench -p rig-host --bench operators [-- WORD…]` — plain `Instant` timing, median of
//! several runs; WORDs pick the rows whose label contains one (`floor`, `filter`, `rust`…).
//! Reported as one table at batch sizes 1, 64, 512 and 1024: the hostile operator in `pass` mode
//! (the floor: one call, whole rows copied in, all rows kept, no work), the builtin filter with
//! `expr=true` (the floor of a projected operator: no field read, all rows kept), the filter keeping about a quarter of
//! the rows (`proc.comm==cat`), the redact example in each language that
//! `operators/examples/build.sh` built (Rust, C, Python, JavaScript: `fields=fname`, every row
//! kept and rewritten), and the filter called from inside a Tokio worker. Then the cost of the
//! call machinery (the deadline's timer, `block_on`, `block_in_place`) per call and per event.

use std::future::Future as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rig_host::wasm::{OnError, OperatorHost, OperatorSource, OperatorSpec, WasmStage};
use rig_kernel::{Batch, FieldKind, Schema, SchemaBuilder, Stage};

fn schema() -> Arc<Schema> {
    // The layout of IG's trace_open event (struct event in program.bpf.c), 340 bytes raw.
    let mut b = SchemaBuilder::new("open", 340);
    b.inline("timestamp_raw", FieldKind::U64, 0, 8);
    b.inline("proc.mntns_id", FieldKind::U64, 8, 8);
    b.inline("proc.comm", FieldKind::Str, 16, 16);
    b.inline("proc.pid", FieldKind::U32, 32, 4);
    b.inline("proc.tid", FieldKind::U32, 36, 4);
    b.inline("proc.creds.uid", FieldKind::U32, 40, 4);
    b.inline("proc.creds.gid", FieldKind::U32, 44, 4);
    b.inline("proc.parent.comm", FieldKind::Str, 48, 16);
    b.inline("proc.parent.pid", FieldKind::U32, 64, 4);
    b.inline("fd", FieldKind::S32, 68, 4);
    b.inline("flags_raw", FieldKind::S32, 72, 4);
    b.inline("mode_raw", FieldKind::U32, 76, 4);
    b.inline("error_raw", FieldKind::S32, 80, 4);
    b.inline("fname", FieldKind::Str, 84, 255);
    b.heap("proc.creds.user", FieldKind::Str);
    b.build().expect("schema")
}

fn batch(schema: &Arc<Schema>, n: usize) -> Batch {
    let user = schema.find("proc.creds.user").expect("user");
    let comms = ["cat", "ls", "bash", "nginx"];
    let mut b = Batch::with_capacity(schema.clone(), n);
    for i in 0..n {
        let mut rec = vec![0u8; 340];
        rec[0..8].copy_from_slice(&(i as u64 * 1000).to_le_bytes());
        let comm = comms[i % comms.len()];
        rec[16..16 + comm.len()].copy_from_slice(comm.as_bytes());
        rec[32..36].copy_from_slice(&(1000 + i as u32).to_le_bytes());
        let f = format!("/usr/lib/x86_64-linux-gnu/lib{i}.so");
        rec[84..84 + f.len()].copy_from_slice(f.as_bytes());
        b.push_record(&rec);
        b.set_heap(i, user, b"root");
    }
    b
}

/// Median ns/event of `process` over 5 runs of enough batches to fill ~0.2 s each, and the share
/// of it spent in the guest call (lowering the batch, the guest, lifting the answer).
fn measure(stage: &mut WasmStage, input: &Batch) -> (f64, f64) {
    let n = input.len();
    // Warm up and size the run.
    let t = Instant::now();
    let mut iters = 0u64;
    while t.elapsed() < Duration::from_millis(50) {
        black_box(stage.process(input.clone()).ok());
        iters += 1;
    }
    let per = t.elapsed().as_secs_f64() / iters as f64;
    let iters = ((0.2 / per) as u64).max(10);
    let mut results = Vec::new();
    for _ in 0..5 {
        // Each batch is cloned just before its call (outside the timing): fresh in cache, as a
        // batch just drained from a ring buffer is.
        let mut total = Duration::ZERO;
        let guest0 = stage.counters()["guest_ns"];
        for _ in 0..iters {
            let b = input.clone();
            let t = Instant::now();
            // An error is a dropped batch (a restart under on-error: restart); still timed.
            let out = stage.process(b).ok();
            total += t.elapsed();
            drop(black_box(out));
        }
        let guest = (stage.counters()["guest_ns"] - guest0) as f64;
        let total = total.as_nanos() as f64;
        let events = iters as f64 * n as f64;
        results.push((total / events, guest / total));
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    results[results.len() / 2]
}

fn stage(
    host: &Arc<OperatorHost>,
    schema: &Arc<Schema>,
    node: &str,
    source: OperatorSource,
    config: &[(&str, &str)],
) -> WasmStage {
    let config = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut s = WasmStage::new(host, OperatorSpec::new(node, source, config)).expect("stage");
    s.init(schema).expect("init");
    s
}

/// The batch sizes of the table.
const SIZES: [usize; 4] = [1, 64, 512, 1024];

/// One row of the table: ns/event at each of [`SIZES`] and the share spent in the guest call.
/// `cargo bench --bench operators -- WORD…` runs only the rows whose label contains a WORD.
fn wanted(label: &str) -> bool {
    let words: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    words.is_empty() || words.iter().any(|w| label.contains(w.as_str()))
}

fn row(label: &str, stage: &mut WasmStage, s: &Arc<Schema>, extra: impl Fn(&WasmStage) -> String) {
    if !wanted(label) {
        return;
    }
    print!("{label:<34}");
    for n in SIZES {
        let (f, g) = measure(stage, &batch(s, n));
        print!(" {f:>9.1} ({:>2.0}%)", g * 100.0);
    }
    println!("{}", extra(stage));
}

/// The cost of the call machinery alone, per call: what `run_guest` does around a guest call
/// that returns at once (enter the guest runtime, poll once), against what every call paid
/// before the fast path (`block_on` of that runtime with the deadline's timer), and the same
/// again from a Tokio worker (plus `block_in_place`).
fn machinery() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("runtime");
    let per_call = |f: &mut dyn FnMut()| {
        let n = 200_000u32;
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let limit = Duration::from_secs(1);
    let fast = per_call(&mut || {
        let _cx = rt.enter();
        let mut fut = std::pin::pin!(std::future::ready(black_box(1u32)));
        let r = fut.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        let _ = black_box(r);
    });
    let slow = per_call(&mut || {
        black_box(rt.block_on(async { tokio::time::timeout(limit, std::future::ready(black_box(1u32))).await }).ok());
    });
    let worker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let handle = rt.handle().clone();
    let in_worker = worker.block_on(async move {
        tokio::spawn(async move {
            let n = 20_000u32;
            let t = Instant::now();
            for _ in 0..n {
                tokio::task::block_in_place(|| {
                    black_box(handle.block_on(async { tokio::time::timeout(limit, std::future::ready(1u32)).await }).ok());
                });
            }
            t.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .await
        .expect("task")
    });
    println!(
        "call machinery per call: fast path (enter + one poll) {fast:.0} ns; block_on + deadline timer {slow:.0} ns; \
         the same from a tokio worker (block_in_place) {in_worker:.0} ns"
    );
    print!("  per event at batch");
    for n in SIZES {
        print!("  {n}: {:.2} / {:.2} / {:.2} ns", fast / n as f64, slow / n as f64, in_worker / n as f64);
    }
    println!();
}

fn main() {
    let cache = std::env::temp_dir().join("rig-bench-components");
    let host = OperatorHost::new(Some(cache)).expect("host");
    let s = schema();
    println!("row size {} bytes; ns/event (share of it in the guest call), median of 5 runs", s.row_size);
    print!("{:<34}", "operator \\ batch");
    for n in SIZES {
        print!(" {n:>15}");
    }
    println!();
    let hostile = Path::new(env!("RIG_OPERATORS_ARTIFACTS")).join("rig_op_hostile.wasm");
    if hostile.is_file() {
        let mut pass = stage(&host, &s, "pass", OperatorSource::File(hostile), &[("mode", "pass")]);
        row("floor: whole rows in, keeps all", &mut pass, &s, |_| String::new());
    } else {
        println!("floor: not built ({})", hostile.display());
    }
    let mut filter = stage(
        &host,
        &s,
        "filter",
        OperatorSource::Builtin("filter".into()),
        &[("filter", "proc.comm==cat")],
    );
    let kept = filter.process(batch(&s, 64)).expect("filter").map_or(0, |b| b.len());
    row(&format!("filter (Rust builtin, keeps {kept}/64)"), &mut filter, &s, |_| String::new());
    // The floor of a projected operator: it reads no field and keeps every row.
    let mut none = stage(&host, &s, "filter", OperatorSource::Builtin("filter".into()), &[("expr", "true")]);
    row("floor, projected: reads nothing", &mut none, &s, |_| String::new());
    // The redact example in every language that was built, slowest last.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../operators/examples/out");
    for lang in ["rust", "c", "python", "js"] {
        let wasm = examples.join(format!("redact-{lang}.wasm"));
        if !wasm.is_file() {
            println!("redact-{lang}: not built (operators/examples/build.sh {lang})");
            continue;
        }
        let node = format!("redact-{lang}");
        if !wanted(&format!("redact ({lang}")) {
            continue;
        }
        let mut spec = OperatorSpec::new(
            node.as_str(),
            OperatorSource::File(wasm),
            vec![("fields".into(), "fname".into())],
        );
        // The Python and JS guests do not free every buffer they return (a toolchain leak,
        // docs/benchmarks.md): room to measure, and a fresh instance when the cap is hit anyway.
        spec.limits.memory_bytes = 512 << 20;
        spec.on_error = OnError::Restart;
        let mut redact = WasmStage::new(&host, spec).expect("stage");
        redact.init(&s).expect("init");
        row(&format!("redact ({lang}, rewrites fname)"), &mut redact, &s, |st| {
            match st.counters()["restarts"] {
                0 => String::new(),
                r => format!("  restarts {r}"),
            }
        });
    }
    // The same filter called on a Tokio worker, as a kameo stage actor would.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let s2 = s.clone();
    rt.block_on(async move {
        tokio::spawn(async move { row("filter, from a tokio worker", &mut filter, &s2, |_| String::new()) })
            .await
            .expect("task")
    });
    if wanted("machinery") {
        machinery();
    }
}
