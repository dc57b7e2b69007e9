//! WASM operators in `rig run` on real kernel events: the graph file's order decides what comes
//! out, the CLI flags build the default chain, a custom component plugs in, and a misbehaving
//! operator is stopped without costing the other branches their events.
//!
//! Every test tags its own events with a unique string and filters on it, so the events of tests
//! running in parallel (and of the rest of the host) do not disturb the expectations.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rig_tests::{RigRun, repo, require_kernel, rig, run_json, sh, tag};
use serde_json::Value;

/// A component built by host-actors/build.rs from the operators/ workspace.
fn component(file: &str) -> PathBuf {
    let p = repo().join("operators/target/wasm32-wasip2/release").join(file);
    assert!(
        p.is_file(),
        "{} is missing: `cargo build -p rig-host` builds it",
        p.display()
    );
    p
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p.to_str().expect("utf-8 path").to_owned()
}

/// Runs `/bin/true ARG` for each argument, in order.
fn exec_each(args: impl IntoIterator<Item = String>) {
    for a in args {
        sh("/bin/true", &[&a]);
    }
}

/// The second word of each exec's `args` that carries `tag`.
fn tagged_args(events: &[Value], tag: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["args"].as_str())
        .filter(|a| a.contains(tag))
        .map(|a| a.split_whitespace().nth(1).unwrap_or_default().to_owned())
        .collect()
}

/// Runs trace_exec with `extra` flags while `act` runs, and returns what it printed.
fn exec_run(extra: &[&str], act: impl FnOnce()) -> rig_tests::RigOutput {
    let run = run_json("trace_exec", extra);
    act();
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    out
}

#[test]
fn swapping_filter_and_limit_in_the_graph_file_changes_the_output_predictably() {
    require_kernel();
    let t = tag("swap");
    let dir = tempfile::tempdir().expect("tempdir");
    let filter = format!("{{ id: only-mine, operator: builtin/filter, with: {{ filter: 'args~{t}-keep' }} }}");
    let limit = "{ id: first-three, operator: builtin/limit, with: { max-entries: 3 } }";
    let filter_first = write(
        dir.path(),
        "filter-first.yaml",
        &format!("nodes:\n  - {filter}\n  - {limit}\n"),
    );
    let limit_first = write(
        dir.path(),
        "limit-first.yaml",
        &format!("nodes:\n  - {limit}\n  - {filter}\n"),
    );
    // Three decoys that the filter drops, then six events that it keeps.
    let events = || {
        exec_each((0..3).map(|i| format!("{t}-decoy-{i}")));
        exec_each((0..6).map(|i| format!("{t}-keep-{i}")));
    };

    // filter → limit: the first three events that match.
    let out = exec_run(&["--graph", &filter_first], events);
    let want: Vec<String> = (0..3).map(|i| format!("{t}-keep-{i}")).collect();
    assert_eq!(tagged_args(&out.json_lines(), &t), want, "filter then limit");
    assert_eq!(
        out.json_lines().len(),
        3,
        "the limit caps the whole output:\n{}",
        out.stdout
    );

    // limit → filter: the first three events of the host, of which none is one we keep (they are
    // our decoys, or other processes' execs if any came first).
    let out = exec_run(&["--graph", &limit_first], events);
    assert_eq!(out.json_lines(), Vec::<Value>::new(), "limit then filter");
}

#[test]
fn filter_sort_and_limit_flags_build_the_default_chain() {
    require_kernel();
    let t = tag("flags");
    let names: Vec<String> = ["b", "d", "a", "c"]
        .iter()
        .map(|n| format!("/nonexistent/{t}/{n}"))
        .collect();
    let run = run_json(
        "trace_open",
        &[
            "--filter",
            &format!("proc.comm==cat,fname~^/nonexistent/{t}/,error!=0"),
            "--sort",
            "-fname",
            "--max-entries",
            "3",
        ],
    );
    for n in &names {
        sh("cat", &[n]);
    }
    sh("head", &[&names[0]]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let want: Vec<&str> = [1, 3, 0].iter().map(|&i| names[i].as_str()).collect();
    let events = out.json_lines();
    let got: Vec<&str> = events.iter().map(|e| e["fname"].as_str().unwrap_or_default()).collect();
    assert_eq!(got, want, "sorted by fname descending, first three:\n{}", out.stdout);
    for e in &events {
        assert_eq!(e["proc"]["comm"], "cat");
        assert_eq!(e["error"], "ENOENT");
    }
}

#[test]
fn filter_expressions_with_boolean_logic() {
    require_kernel();
    let t = tag("expr");
    let expr =
        format!(r#"proc.comm in ["cat","head"] && fname matches "^/nonexistent/{t}/" && !(fname matches "skip$")"#);
    let run = run_json("trace_open", &["--filter-expr", &expr]);
    sh("cat", &[&format!("/nonexistent/{t}/one")]);
    sh("head", &[&format!("/nonexistent/{t}/two")]);
    sh("tail", &[&format!("/nonexistent/{t}/three")]);
    sh("cat", &[&format!("/nonexistent/{t}/skip")]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let got: Vec<String> = out
        .json_lines()
        .iter()
        .map(|e| e["fname"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(got, [format!("/nonexistent/{t}/one"), format!("/nonexistent/{t}/two")]);
}

#[test]
fn an_unknown_field_in_a_filter_is_refused_before_anything_attaches() {
    require_kernel();
    let out = rig(&["run", "trace_open", "--filter", "no.such.field==1", "--timeout", "3"]);
    assert!(!out.status.success(), "an unknown field must fail the run");
    assert!(out.stderr.contains("no.such.field"), "names the field: {}", out.stderr);
    assert!(out.stderr.contains("filter"), "names the node: {}", out.stderr);
    assert!(
        !out.stderr.contains("gadget attached"),
        "refused before attaching: {}",
        out.stderr
    );
}

#[test]
fn a_custom_component_redacts_a_field_of_real_events() {
    require_kernel();
    let t = tag("redact");
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = dir.path().join("redact.wasm");
    std::fs::copy(component("rig_op_redact.wasm"), &wasm).expect("copy component");
    let run = run_json(
        "trace_open",
        &[
            "--filter",
            "proc.comm==cat",
            "--operator",
            wasm.to_str().expect("utf-8"),
            "--operator-param",
            "redact.fields=fname",
            "--stats",
        ],
    );
    sh("cat", &[&format!("/nonexistent/{t}")]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    assert!(!events.is_empty(), "no open by cat came through");
    assert!(events.iter().all(|e| e["fname"] == "[redacted]"), "{}", out.stdout);
    assert!(!out.stdout.contains(&t), "the file name leaked: {}", out.stdout);
    assert!(events.iter().any(|e| e["error"] == "ENOENT"), "other fields are intact");
    for node in ["filter", "redact"] {
        assert!(out.stderr.contains(node), "--stats shows {node}: {}", out.stderr);
    }
}

/// A graph where `bad` (the hostile operator in `mode`) feeds the terminal and a filter feeds a file.
fn hostile_graph(dir: &Path, t: &str, mode: &str, on_error: &str) -> (String, PathBuf) {
    let copy = dir.join("copy.jsonl");
    let graph = format!(
        "nodes:
  - {{ id: bad, operator: {hostile}, with: {{ mode: {mode} }}, on-error: {on_error} }}
  - {{ id: mine, operator: builtin/filter, with: {{ filter: 'args~{t}' }} }}
  - {{ id: copy, sink: file, with: {{ path: {copy}, format: json }} }}
edges: [ [source, bad], [bad, sink/terminal], [source, mine], [mine, copy] ]
",
        hostile = component("rig_op_hostile.wasm").display(),
        copy = copy.display(),
    );
    (write(dir, "graph.yaml", &graph), copy)
}

#[test]
fn a_looping_operator_is_skipped_and_the_other_branch_keeps_its_events() {
    require_kernel();
    let t = tag("loop");
    let dir = tempfile::tempdir().expect("tempdir");
    let (graph, copy) = hostile_graph(dir.path(), &t, "loop", "skip");
    let out = exec_run(&["--graph", &graph, "--stats"], || {
        exec_each((0..3).map(|i| format!("{t}-{i}")))
    });
    assert!(
        !out.stdout.contains(&t),
        "the looping branch printed events: {}",
        out.stdout
    );
    assert!(out.stderr.contains("bad"), "the error names the node: {}", out.stderr);
    assert!(out.stderr.contains("deadline"), "the error says why: {}", out.stderr);
    let kept = std::fs::read_to_string(&copy).expect("the file sink wrote its events");
    let events: Vec<Value> = kept
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        tagged_args(&events, &t),
        [format!("{t}-0"), format!("{t}-1"), format!("{t}-2")]
    );
}

#[test]
fn a_trapping_operator_with_on_error_stop_ends_the_run_at_once_naming_it() {
    require_kernel();
    let t = tag("trap");
    let dir = tempfile::tempdir().expect("tempdir");
    let (graph, _) = hostile_graph(dir.path(), &t, "trap", "stop");
    let run = RigRun::start(&["run", "trace_exec", "-o", "json", "--timeout", "30", "--graph", &graph]);
    let start = Instant::now();
    exec_each([t.clone()]);
    let out = run.wait();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the run went on after the trap"
    );
    assert!(!out.status.success(), "on-error: stop must fail the run");
    assert!(out.stderr.contains("bad"), "the error names the node: {}", out.stderr);
    // The hostile guest traps by panicking: the error says so as the operator's panic.
    assert!(
        out.stderr.contains("the operator panicked"),
        "the error says the operator trapped in a panic: {}",
        out.stderr
    );
}

#[test]
fn host_keys_set_the_deadline_and_refuse_bad_sizes() {
    require_kernel();
    let t = tag("keys");
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = component("rig_op_hostile.wasm");
    let graph = |with: &str| {
        let text = format!(
            "nodes:\n  - {{ id: spin, operator: {}, with: {{ mode: loop, {with} }}, on-error: skip }}\n",
            hostile.display()
        );
        write(dir.path(), "graph.yaml", &text)
    };
    let out = exec_run(&["--graph", &graph("deadline: 300ms")], || exec_each([t.clone()]));
    assert!(out.stderr.contains("deadline exceeded (300 ms)"), "{}", out.stderr);

    let out = rig(&[
        "run",
        "trace_exec",
        "--graph",
        &graph("memory-limit: 9GiB"),
        "--timeout",
        "3",
    ]);
    assert!(!out.status.success(), "a bad memory-limit must fail the run");
    assert!(
        out.stderr.contains("spin") && out.stderr.contains("memory-limit"),
        "names the node and the key: {}",
        out.stderr
    );
}
