//! Every datasource kind on the real kernel, checked against ground truth: a map iterator over
//! a hash map filled by a tracepoint (counts, fetch count, fetch interval, histograms in JSON and
//! columns), a gadget with a tracer next to a map iterator, a tracer on a perf event array, and
//! the refusal of an operator-only gadget.
//!
//! Ground truth is a copy of `/bin/true` under a name of the test's own (exec'd N times), so
//! the rows of that name count exactly the test's execs, whatever else runs on the host.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rig_tests::{Execs, RigOutput, RigRun, repo, require_kernel, rig, utf8};
use serde_json::Value;

/// A copy of `/bin/true` under a name no other process has (≤ 15 bytes: a whole comm), in a
/// temporary folder removed with it.
struct Binary {
    _dir: tempfile::TempDir,
    path: PathBuf,
    comm: String,
}

impl Binary {
    fn new(what: char) -> Binary {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let comm = format!("r{what}{:x}{:05x}", std::process::id() & 0xffff, nanos & 0xfffff);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(&comm);
        std::fs::copy("/bin/true", &path).expect("copy /bin/true");
        Binary { _dir: dir, path, comm }
    }

    /// Runs it `n` times; returns the pids.
    fn run(&self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let mut c = Command::new(&self.path).spawn().expect("spawn the test binary");
                let pid = u64::from(c.id());
                c.wait().expect("wait the test binary");
                pid
            })
            .collect()
    }

    /// Runs `gadget` (JSON, 3 s, plus `extra` flags) while this binary runs `n` times; returns the
    /// pids and rig's output. rig must succeed.
    fn traced(&self, gadget: &str, extra: &[&str], n: usize) -> (Vec<u64>, RigOutput) {
        let mut args = vec!["run", gadget, "-o", "json", "--timeout", "3"];
        args.extend_from_slice(extra);
        let run = RigRun::start(&args);
        let pids = self.run(n);
        let out = run.wait();
        assert!(out.status.success(), "rig failed: {}", out.stderr);
        (pids, out)
    }
}

fn gadget(name: &str) -> String {
    utf8(&repo().join("tests/gadgets").join(name)).to_owned()
}

fn rows_of<'a>(rows: &'a [Value], comm: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["comm"] == comm).collect()
}

#[test]
fn a_map_iterator_counts_every_exec_and_histograms_them() {
    require_kernel();
    let bin = Binary::new('m');
    let g = gadget("mapiter_exec");
    let (_, out) = bin.traced(&g, &["--map-fetch-interval", "500ms"], 5);
    let rows = out.json_lines();
    let mine = rows_of(&rows, &bin.comm);
    // Each fetch empties the map: the rows of all fetches add up to the execs.
    let count: u64 = mine.iter().map(|r| r["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(count, 5, "rows of {}: {mine:?}", bin.comm);
    let buckets: u64 = mine
        .iter()
        .flat_map(|r| r["pid_log2"]["intervals"].as_array().cloned().unwrap_or_default())
        .map(|b| b["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(buckets, 5, "histogram buckets: {mine:?}");
    let first = mine[0]["pid_log2"].clone();
    assert_eq!(first["unit"], "pid", "metrics.unit from gadget.yaml");
    let intervals = first["intervals"].as_array().expect("intervals");
    assert_eq!(intervals[0]["start"], 0);
    assert_eq!(intervals[0]["end"], 1);
    assert_eq!(intervals[3]["start"], 8);
    assert_eq!(intervals[3]["end"], 15);
    assert!(
        intervals.last().is_some_and(|b| b["count"].as_u64() > Some(0)),
        "trailing empty slots are left out: {first}"
    );
    assert!(
        mine[0].get("pid_log2_raw").is_none(),
        "raw slots are hidden: {}",
        mine[0]
    );
}

#[test]
fn a_histogram_prints_as_bars_in_columns() {
    require_kernel();
    let bin = Binary::new('c');
    let g = gadget("mapiter_exec");
    let run = RigRun::start(&["run", &g, "--timeout", "3", "--map-fetch-interval", "500ms"]);
    bin.run(3);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(&bin.comm))
        .unwrap_or_else(|| panic!("no row for {}: {}", bin.comm, out.stdout));
    assert!(
        lines[at].split_whitespace().any(|w| w == "3"),
        "count column: {}",
        lines[at]
    );
    assert_eq!(lines[at + 1], "pid_log2");
    assert_eq!(
        lines[at + 2].trim_end(),
        "        pid              : count    distribution"
    );
    let full = format!("|{}|", "*".repeat(40));
    let bar = lines[at + 3..]
        .iter()
        .take_while(|l| l.contains(" -> "))
        .find(|l| l.ends_with(&full))
        .unwrap_or_else(|| panic!("no full bar under {}: {}", bin.comm, out.stdout));
    assert!(bar.contains(": 3 "), "the largest slot holds the 3 execs: {bar}");
}

#[test]
fn map_fetch_count_ends_the_run_after_that_many_fetches() {
    require_kernel();
    let _execs = Execs::start();
    let g = gadget("mapiter_exec");
    let t0 = Instant::now();
    let run = RigRun::start(&[
        "run",
        &g,
        "-o",
        "json",
        "--map-fetch-interval",
        "400ms",
        "--map-fetch-count",
        "2",
    ]);
    let attached = t0.elapsed();
    let out = run.wait();
    let took = t0.elapsed() - attached;
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    // `true` runs every few ms: each fetch has exactly one row for it.
    let fetches = rows_of(&out.json_lines(), "true").len();
    assert_eq!(fetches, 2, "{}", out.stdout);
    assert!(took >= Duration::from_millis(700), "two 400 ms intervals took {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "the run did not end on its own soon: {took:?}"
    );
}

#[test]
fn map_fetch_interval_sets_the_pace_of_fetches() {
    require_kernel();
    let _execs = Execs::start();
    let g = gadget("mapiter_exec");
    let run = RigRun::start(&[
        "run",
        &g,
        "-o",
        "json",
        "--timeout",
        "3",
        "--map-fetch-interval",
        "300ms",
    ]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let fetches = rows_of(&out.json_lines(), "true").len();
    // 3 s / 300 ms = 10 fetches; the timeout counts from before the attach.
    assert!((6..=11).contains(&fetches), "{fetches} fetches in 3 s at 300 ms");
    let bad = rig(&[
        "run",
        &g,
        "--map-fetch-interval",
        "0",
        "--map-fetch-count",
        "3",
        "--timeout",
        "1",
    ]);
    assert!(!bad.status.success());
    assert!(
        bad.stderr
            .contains("--map-fetch-count 3 needs a non-zero --map-fetch-interval"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_tracer_and_a_map_iterator_of_one_gadget_both_emit_labelled_rows() {
    require_kernel();
    let bin = Binary::new('d');
    let g = gadget("multi_ds");
    let (pids, out) = bin.traced(&g, &[], 4);
    let rows = out.json_lines();
    let mine = rows_of(&rows, &bin.comm);
    let events: Vec<&&Value> = mine.iter().filter(|r| r["datasource"] == "execs").collect();
    let mut seen: Vec<u64> = events.iter().filter_map(|r| r["pid"].as_u64()).collect();
    seen.sort_unstable();
    let mut want = pids.clone();
    want.sort_unstable();
    assert_eq!(seen, want, "one tracer event per exec: {mine:?}");
    let counted: u64 = mine
        .iter()
        .filter(|r| r["datasource"] == "counts")
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 4, "the map iterator counted every exec: {mine:?}");
    assert!(
        rows.iter().all(|r| r["datasource"].is_string()),
        "every row is labelled"
    );
    // In columns each datasource prints its own table; the label column is hidden there.
    let cols = rig(&["run", &g, "--timeout", "1"]);
    assert!(cols.status.success(), "{}", cols.stderr);
    assert!(!cols.stdout.contains("DATASOURCE"), "{}", cols.stdout);
}

#[test]
fn a_tracer_on_a_perf_event_array_emits_every_event() {
    require_kernel();
    let bin = Binary::new('p');
    let g = gadget("perf_tracer");
    let (pids, out) = bin.traced(&g, &[], 6);
    let rows = out.json_lines();
    let mine = rows_of(&rows, &bin.comm);
    assert_eq!(mine.len(), 6, "{mine:?}");
    for r in &mine {
        assert_eq!(r["magic"], 0xfeed_beef_u64, "{r}");
        assert!(pids.contains(&r["pid"].as_u64().unwrap_or(0)), "{r}");
    }
    assert!(!out.stderr.contains("lost"), "{}", out.stderr);
}

#[test]
fn an_operator_only_gadget_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let g: &Path = &dir.path().join("top_process");
    std::fs::create_dir(g).expect("gadget folder");
    std::fs::write(
        g.join("gadget.yaml"),
        "name: top process\noperator:\n  process:\n    interval: 3s\ndatasources:\n  processes: {}\n",
    )
    .expect("gadget.yaml");
    let out = rig(&["run", utf8(g), "--timeout", "1"]);
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("\"top_process\" is an IG operator-only gadget (gadget.yaml configures IG's process operator, no program.bpf.c"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("rig does not implement it natively yet"),
        "{}",
        out.stderr
    );
}
