//! Hostile WASM operators, end to end through the `rig` binary on real kernel events: a guest
//! that blocks, plants symlinks in its granted directory, amplifies through a chain, floods rig
//! with text, panics or overflows its stack is contained — the run ends within a bound, names the
//! operator, and the host never writes where the operator could redirect it.
//!
//! The operator is `rig_op_hostile.wasm` (operators/testing/hostile, built by host-actors/build.rs);
//! its `mode` picks the misbehaviour. Every test tags its events and filters on the tag before the
//! hostile node, works in its own temporary directory, and bounds each run with a watchdog, so the
//! tests run in parallel with each other and with the rest of the host.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rig_tests::{RigOutput, RigRun, repo, require_kernel, rig};

/// How long a run may take after its gadget attached: `--timeout`, the bounded drain and slack.
const RUN_BOUND: Duration = Duration::from_secs(8);

/// The `--timeout` of every run, in seconds.
const TIMEOUT: &str = "2";

/// The hostile component.
fn hostile() -> PathBuf {
    let p = repo().join("operators/target/wasm32-wasip2/release/rig_op_hostile.wasm");
    assert!(p.is_file(), "{} is missing: `cargo build -p rig-host` builds it", p.display());
    p
}

/// One test's own temporary directory, and a tag no other process on the host uses.
struct Case {
    dir: tempfile::TempDir,
    tag: String,
}

impl Case {
    fn new(what: &str) -> Case {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = dir.path().file_name().unwrap_or_default().to_string_lossy().into_owned();
        let tag = format!("rig-hostile-{what}-{}{}", std::process::id(), name.trim_start_matches('.'));
        Case { dir, tag }
    }

    /// Writes `graph.yaml`: a filter on the tag first, then `nodes` (YAML flow mappings, in order,
    /// fed one into the next), then the terminal. `HOSTILE` in a node stands for the component.
    fn graph(&self, nodes: &[String]) -> String {
        let t = &self.tag;
        let mut text = format!("nodes:\n  - {{ id: mine, operator: builtin/filter, with: {{ filter: 'args~{t}' }} }}\n");
        for n in nodes {
            text.push_str(&format!("  - {}\n", n.replace("HOSTILE", &hostile().display().to_string())));
        }
        let path = self.dir.path().join("graph.yaml");
        std::fs::write(&path, text).expect("write graph file");
        path.to_str().expect("utf-8 path").to_owned()
    }

    /// Runs the graph of `nodes` with `extra` flags while `inputs` tagged processes start, and
    /// checks that the run ended within [`RUN_BOUND`] and not by a signal.
    fn run(&self, nodes: &[String], extra: &[&str], inputs: usize) -> Bounded {
        let b = bounded_run(&self.graph(nodes), extra, || exec_burst(&self.tag, inputs));
        assert_bounded(&b, &self.tag);
        b
    }
}

/// Runs `/bin/true TAG-i` `n` times, all at once, so the events tend to share a batch.
fn exec_burst(t: &str, n: usize) {
    let children: Vec<_> = (0..n)
        .filter_map(|i| std::process::Command::new("/bin/true").arg(format!("{t}-{i}")).spawn().ok())
        .collect();
    for mut c in children {
        let _ = c.wait();
    }
}

/// What a bounded run did.
struct Bounded {
    out: RigOutput,
    /// From the gadget attaching to rig's exit.
    took: Duration,
    /// rig's peak resident memory (VmHWM), in KiB, last seen before it exited.
    peak_rss_kib: u64,
}

/// Peak resident memory of `pid` in KiB, while it lives.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Starts `rig run trace_exec -o json --timeout 2 --graph GRAPH EXTRA…`, runs `act` once the
/// gadget is attached, and waits for rig — killing it if it outlives [`RUN_BOUND`] (the test then
/// fails on `took`).
fn bounded_run(graph: &str, extra: &[&str], act: impl FnOnce()) -> Bounded {
    let mut args = vec!["run", "trace_exec", "-o", "json", "--timeout", TIMEOUT, "--graph", graph];
    args.extend_from_slice(extra);
    let run = RigRun::start(&args);
    let pid = run.pid().expect("rig is running");
    let started = Instant::now();
    let finished = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let watchdog = {
        let (finished, peak) = (finished.clone(), peak.clone());
        std::thread::spawn(move || {
            while !finished.load(Ordering::Acquire) {
                if let Some(kib) = vm_hwm(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                if started.elapsed() > RUN_BOUND + Duration::from_secs(5) {
                    // SAFETY: signalling our own child, which has not been reaped (wait is blocked on it).
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    act();
    let out = run.wait();
    let took = started.elapsed();
    finished.store(true, Ordering::Release);
    watchdog.join().expect("watchdog");
    Bounded {
        out,
        took,
        peak_rss_kib: peak.load(Ordering::Relaxed),
    }
}

/// Asserts the run ended within [`RUN_BOUND`] and did not die by a signal.
fn assert_bounded(b: &Bounded, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert!(b.took < RUN_BOUND, "{what}: rig took {:?}:\n{}", b.took, b.out.stderr);
    assert_eq!(b.out.status.signal(), None, "{what}: rig died by a signal:\n{}", b.out.stderr);
}

#[test]
fn a_guest_blocked_in_a_sleep_does_not_hold_the_run_past_its_timeout() {
    require_kernel();
    let c = Case::new("sleep");
    // The default deadline (100 ms) cuts the blocking call; `skip` goes on to --timeout.
    let b = c.run(&["{ id: napper, operator: HOSTILE, with: { mode: sleep }, on-error: skip }".into()], &[], 1);
    assert!(b.out.status.success(), "skip keeps the run going: {}", b.out.stderr);
    assert!(
        b.out.stderr.contains("napper") && b.out.stderr.contains("blocking host call"),
        "names the operator and why: {}",
        b.out.stderr
    );
    // A deadline longer than the run: the guest is still asleep when --timeout fires, and the
    // bounded drain abandons it, naming it.
    let b = c.run(&["{ id: sleeper, operator: HOSTILE, with: { mode: sleep, deadline: 60s } }".into()], &[], 1);
    assert!(b.out.stderr.contains("sleeper"), "names the operator: {}", b.out.stderr);
}

#[test]
fn a_symlink_planted_in_a_grant_is_not_followed_by_a_later_file_sink() {
    require_kernel();
    let c = Case::new("plant");
    let grant = c.dir.path().join("grant");
    std::fs::create_dir(&grant).expect("mkdir grant");
    let victim = c.dir.path().join("victim.txt");
    std::fs::write(&victim, "untouched\n").expect("write victim");
    // Run 1: the operator plants grant/out.jsonl -> ../victim.txt.
    let planter = format!(
        "{{ id: planter, operator: HOSTILE, with: {{ mode: symlink, grant-dir: {} }} }}",
        grant.display()
    );
    let b = c.run(&[planter], &[], 1);
    let link = grant.join("out.jsonl");
    assert!(
        link.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()),
        "the operator planted its symlink: {}",
        b.out.stderr
    );
    // Run 2: a file sink on that path, with no grant in this run, refuses the link.
    let sink = c.dir.path().join("sink.yaml");
    std::fs::write(
        &sink,
        format!("nodes:\n  - {{ id: copy, sink: file, with: {{ path: {} }} }}\n", link.display()),
    )
    .expect("write graph");
    let out = rig(&["run", "trace_exec", "--timeout", TIMEOUT, "--graph", sink.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "writing through the link must fail");
    assert!(
        out.stderr.contains(&link.display().to_string()) && out.stderr.contains("symbolic link"),
        "a clear error naming the path: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("gadget attached"), "refused before attaching: {}", out.stderr);
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "untouched\n");
}

#[test]
fn a_file_sink_inside_a_granted_directory_is_refused_before_anything_attaches() {
    require_kernel();
    let dir = tempfile::tempdir().expect("tempdir");
    let grant = dir.path().join("grant");
    std::fs::create_dir(&grant).expect("mkdir grant");
    let path = grant.join("sub/out.jsonl");
    let g = dir.path().join("graph.yaml");
    std::fs::write(
        &g,
        format!(
            "nodes:\n  - {{ id: planter, operator: {}, with: {{ mode: pass }} }}\n  \
             - {{ id: copy, sink: file, with: {{ path: {} }} }}\n",
            hostile().display(),
            path.display()
        ),
    )
    .expect("write graph");
    // The grant comes from the command line: checked after --operator-param is merged.
    let started = Instant::now();
    let out = rig(&[
        "run",
        "trace_exec",
        "--timeout",
        TIMEOUT,
        "--graph",
        g.to_str().expect("utf-8"),
        "--operator-param",
        &format!("planter.grant-dir={}", grant.display()),
    ]);
    assert!(started.elapsed() < RUN_BOUND, "took {:?}", started.elapsed());
    assert!(!out.status.success(), "a sink inside a grant must be refused");
    for needle in ["copy", "planter", &path.display().to_string(), &grant.display().to_string()] {
        assert!(out.stderr.contains(needle), "names {needle}: {}", out.stderr);
    }
    assert!(!out.stderr.contains("gadget attached"), "refused before attaching: {}", out.stderr);
    assert_eq!(
        std::fs::read_dir(&grant).expect("grant").count(),
        0,
        "nothing was created in the grant"
    );
}

#[test]
fn amplification_through_three_chained_operators_stays_capped() {
    require_kernel();
    let c = Case::new("grow");
    let nodes: Vec<String> = (1..=3)
        .map(|i| format!("{{ id: grow{i}, operator: HOSTILE, with: {{ mode: grow, factor: 16 }}, on-error: skip }}"))
        .collect();
    let inputs = 24;
    let b = c.run(&nodes, &["--fields", "args"], inputs);
    assert!(b.out.status.success(), "skip keeps the run going: {}", b.out.stderr);
    let rows = b.out.stdout.lines().filter(|l| l.contains(&c.tag)).count();
    let per_input = 16 * 16 * 16;
    // Each input row comes out 4096 times, or its batch hit a cap and was dropped whole.
    assert!(rows <= inputs * per_input, "{rows} rows from {inputs} inputs");
    assert_eq!(rows % per_input, 0, "{rows} rows: a batch was cut, not dropped");
    if rows < inputs * per_input {
        assert!(
            // The row cap or the memory limit, whichever the wider rows (container fields
            // included) reach first.
            b.out.stderr.contains("grow")
                && (b.out.stderr.contains("cap") || b.out.stderr.contains("limit")),
            "a dropped batch is reported with its operator and cap: {}",
            b.out.stderr
        );
    }
    assert!(b.peak_rss_kib < 512 << 10, "rig peaked at {} MiB", b.peak_rss_kib >> 10);
}

#[test]
fn a_flood_of_guest_text_is_cut_rate_limited_and_forges_no_error_line() {
    require_kernel();
    let c = Case::new("flood");
    let nodes = [
        "{ id: shouter, operator: HOSTILE, with: { mode: logflood, lines: 20000, deadline: 3s }, on-error: skip }".into(),
        "{ id: ranter, operator: HOSTILE, with: { mode: errflood }, on-error: skip }".into(),
    ];
    let b = c.run(&nodes, &[], 3);
    let err = &b.out.stderr;
    assert!(b.out.status.success(), "skip keeps the run going: {err}");
    assert!(err.len() < 64 << 10, "stderr is bounded: {} bytes", err.len());
    assert!(err.contains("shouter"), "the log lines name their operator: {err}");
    assert!(err.contains("ranter") && err.contains("bytes in all)"), "the error is cut: {err}");
    assert!(!err.lines().any(|l| l.starts_with("error:")), "no forged error line: {err}");
    assert!(!err.contains(['\r', '\x1b', '\x07']), "no raw control bytes: {err:?}");
}

/// Runs the hostile operator in `mode` with `on-error: stop` and returns rig's stderr.
fn stopped_by(mode: &str) -> String {
    let c = Case::new(mode);
    let b = c.run(&[format!("{{ id: doomed-{mode}, operator: HOSTILE, with: {{ mode: {mode} }} }}")], &[], 1);
    assert!(!b.out.status.success(), "on-error: stop fails the run: {}", b.out.stderr);
    assert!(b.out.stderr.contains(&format!("doomed-{mode}")), "names the operator: {}", b.out.stderr);
    b.out.stderr
}

#[test]
fn a_guest_panic_is_named_as_the_operators_panic() {
    require_kernel();
    let err = stopped_by("trap");
    assert!(err.contains("the operator panicked"), "{err}");
    assert!(err.contains("hostile operator panics on purpose"), "the guest's message: {err}");
}

#[test]
fn a_guest_stack_overflow_is_named_as_such() {
    require_kernel();
    let err = stopped_by("recurse");
    assert!(err.contains("stack overflow"), "{err}");
}
