//! `rig operator new` in each language gives a project that `rig operator build` turns into a
//! component rig accepts, and that passes real events through unchanged — what a user does first.
//!
//! The project records the name given to `rig operator new` (operator.yaml), the build names its
//! output and stamps its component after it, and a run names the node after it whatever the file
//! is called; `--stats` shows the node's host counters, and the counters its `init` declares at 0
//! even when no batch reached it.
//!
//! The guest toolchains come from operators/examples/install-toolchains.sh (test.sh runs it).
//! The JavaScript project installs its pinned componentize-js from npm on its first build.

use rig_tests::{RigOutput, RigRun, require_kernel, rig, sh};

/// The `--stats` row of `node`, split into its columns (NODE BATCHES IN OUT LOST BUSY CALLS GUEST
/// TRAPS RESTARTS COUNTERS…).
fn stats_row(out: &RigOutput, node: &str) -> Vec<String> {
    out.stderr
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.first().map(String::as_str) == Some(node))
        .unwrap_or_else(|| panic!("--stats has no row for node {node}:\n{}", out.stderr))
}

/// Makes the Rust skeleton's `init` declare a counter at 0 named after where `proc.comm` is
/// in its input: the layout the operator really receives, shown by `--stats`.
fn declare_layout_counter(project: &std::path::Path) {
    let lib = project.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).expect("read the skeleton");
    let anchor = "ROW_SIZE.set(input.row_size as usize);";
    assert!(
        text.contains(anchor),
        "the Rust template changed: no `{anchor}` in its init"
    );
    let declare = r#"
        if let Some(f) = input.fields.iter().find(|f| f.name == "proc.comm") {
            host::counter_add(&format!("layout.proc.comm@{}+{}", f.offset, f.size), 0);
        }"#;
    std::fs::write(&lib, text.replacen(anchor, &format!("{anchor}{declare}"), 1)).expect("write the skeleton");
}

/// `proc.comm`'s `offset+size` in trace_exec, as `rig gadget info` reports it.
fn comm_layout() -> String {
    let out = rig(&["gadget", "info", "trace_exec", "-o", "json"]);
    assert!(out.status.success(), "{}", out.stderr);
    let info: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let f = info["datasources"][0]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "proc.comm")
        .expect("trace_exec has proc.comm")
        .clone();
    format!("{}+{}", f["offset"], f["size"])
}

/// Creates, builds and runs the `lang` skeleton; returns its temporary folder, project and name.
fn new_build_run(lang: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    require_kernel();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("tpl-{lang}");
    // The folder is not named after the operator: the name recorded by `new` must win.
    let project = dir.path().join(format!("project-{lang}"));
    let project_s = project.to_str().expect("utf-8 path");
    let out = rig(&["operator", "new", "--lang", lang, &name, "--dir", project_s]);
    assert!(out.status.success(), "operator new --lang {lang}: {}", out.stderr);
    let record = std::fs::read_to_string(project.join("operator.yaml")).expect("operator.yaml is written");
    assert!(record.contains(&format!("name: {name}")), "{record}");
    if lang == "rust" {
        declare_layout_counter(&project);
    }

    let out = rig(&["operator", "build", project_s]);
    assert!(
        out.status.success(),
        "operator build ({lang}):\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("a rig operator"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("named {name}")), "{}", out.stdout);
    let wasm = project.join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "no {} (the recorded name names the output)",
        wasm.display()
    );
    // The name is in the component: a copy under another file name keeps it.
    let renamed = dir.path().join("renamed.wasm");
    std::fs::copy(&wasm, &renamed).expect("copy the component");

    // The skeleton passes every event through. Python and JS components are large: the first
    // compile happens before the gadget attaches, so the exec below is seen.
    let tag = format!("rig-template-{lang}-{}", std::process::id());
    let run = RigRun::start(&[
        "run",
        "trace_exec",
        "-o",
        "json",
        "--timeout",
        "3",
        "--stats",
        "--operator",
        renamed.to_str().expect("utf-8 path"),
    ]);
    sh("/bin/true", &[&tag]);
    let out = run.wait();
    assert!(out.status.success(), "rig run with the {lang} skeleton: {}", out.stderr);
    let seen = out
        .json_lines()
        .iter()
        .any(|e| e["args"].as_str().is_some_and(|a| a.contains(&tag)) && e["proc"]["comm"] == "true");
    assert!(seen, "the {lang} skeleton dropped or changed the exec:\n{}", out.stdout);
    let row = stats_row(&out, &name);
    assert!(row.len() >= 10, "{row:?}");
    assert!(!out.stderr.lines().any(|l| l.starts_with("renamed ")), "{}", out.stderr);
    (dir, project, name)
}

/// An operator no batch reaches still shows its host counters and the counters its `init`
/// declared, at 0.
fn counters_show_from_the_start(project: &std::path::Path, name: &str) {
    let wasm = project.join(format!("{name}.wasm"));
    let out = rig(&[
        "run",
        "trace_exec",
        "--timeout",
        "1",
        "--stats",
        "--filter",
        "proc.comm==no-such-comm",
        "--operator",
        wasm.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let row = stats_row(&out, name);
    assert_eq!(row[1], "0", "no batch reached {name}: {row:?}");
    assert!(
        row[6].parse::<u64>().is_ok_and(|calls| calls >= 1),
        "init was called: {row:?}"
    );
    assert_eq!(
        (row[8].as_str(), row[9].as_str()),
        ("0", "0"),
        "traps and restarts: {row:?}"
    );
    let declared = format!("layout.proc.comm@{}=0", comm_layout());
    assert!(
        row[10..].contains(&declared),
        "the counter init declared shows at 0, named after the layout `rig gadget info` reports ({declared}): {row:?}"
    );
}

#[test]
fn rust_template() {
    let (_dir, project, name) = new_build_run("rust");
    counters_show_from_the_start(&project, &name);
}

#[test]
fn python_template() {
    new_build_run("python");
}

#[test]
fn js_template() {
    new_build_run("js");
}

#[test]
fn c_template() {
    new_build_run("c");
}
