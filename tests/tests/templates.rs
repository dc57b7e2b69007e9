//! `rig operator new` in each language gives a project that `rig operator build` turns into a
//! component rig accepts, and that passes real events through unchanged — what a user does first.
//!
//! The guest toolchains come from operators/examples/install-toolchains.sh (test.sh runs it).
//! The JavaScript project installs its pinned componentize-js from npm on its first build.

use rig_tests::{RigRun, require_kernel, rig, sh};

fn new_build_run(lang: &str) {
    require_kernel();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("tpl-{lang}");
    let project = dir.path().join(&name);
    let project_s = project.to_str().expect("utf-8 path");
    let out = rig(&["operator", "new", "--lang", lang, &name, "--dir", project_s]);
    assert!(out.status.success(), "operator new --lang {lang}: {}", out.stderr);

    let out = rig(&["operator", "build", project_s]);
    assert!(
        out.status.success(),
        "operator build ({lang}):\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("a rig operator"), "{}", out.stdout);
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "no {}", wasm.display());

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
        "--operator",
        wasm.to_str().expect("utf-8 path"),
    ]);
    sh("/bin/true", &[&tag]);
    let out = run.wait();
    assert!(out.status.success(), "rig run with the {lang} skeleton: {}", out.stderr);
    let seen = out
        .json_lines()
        .iter()
        .any(|e| e["args"].as_str().is_some_and(|a| a.contains(&tag)) && e["proc"]["comm"] == "true");
    assert!(seen, "the {lang} skeleton dropped or changed the exec:\n{}", out.stdout);
}

#[test]
fn rust_template() {
    new_build_run("rust");
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
