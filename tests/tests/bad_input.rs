//! Bad input gets a one-line error naming the culprit, a non-zero exit, no panic, and nothing
//! left attached in the kernel.
//!
//! Broken gadget declarations (a `GADGET_TRACER` naming a missing map, a `GADGET_MAPITER` beside a
//! tracer, a program the verifier rejects) are cases of the malformed-input corpus
//! (`tests/malformed/c/`, run by `malformed.rs`), which checks the exit, the ≤ 4 KB error and what
//! it names; the verifier case here also checks that the full log file it points to exists.

use std::fs;

use rig_tests::registry::rig_env;
use rig_tests::{repo, require_kernel, rig};

fn assert_clean_failure(out: &rig_tests::RigOutput, needle: &str) {
    assert!(!out.status.success(), "expected failure, got success: {}", out.stdout);
    assert_ne!(out.status.code(), Some(101), "rig panicked: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "rig panicked: {}", out.stderr);
    let first = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {}", out.stderr));
    assert!(first.contains(needle), "error {first:?} does not name {needle:?}");
}

fn no_program_left(name: &str) {
    let out = std::process::Command::new("bpftool")
        .args(["prog", "show", "name", name])
        .output()
        .expect("bpftool");
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "program {name} is still loaded"
    );
}

#[test]
fn a_corrupt_object_is_refused_by_name() {
    require_kernel();
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("broken.bpf.o");
    fs::write(&obj, b"\x7fELF\x02\x01\x01 this is not an object").unwrap();
    let out = rig(&["run", obj.to_str().unwrap()]);
    assert_clean_failure(&out, "broken.bpf.o");
}

#[test]
fn a_gadget_yaml_syntax_error_names_the_file_and_line() {
    require_kernel();
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("tests/gadgets/custom");
    fs::copy(src.join("program.bpf.c"), dir.path().join("program.bpf.c")).unwrap();
    fs::write(dir.path().join("gadget.yaml"), "name: custom\ndatasources: [unclosed\n").unwrap();
    let out = rig(&["run", dir.path().to_str().unwrap()]);
    assert_clean_failure(&out, "gadget.yaml");
    assert!(out.stderr.contains("line"), "{}", out.stderr);
}

#[test]
fn an_unknown_field_is_refused_before_attaching() {
    require_kernel();
    let out = rig(&["run", "trace_open", "--fields", "fname,nosuchfield", "--timeout", "1"]);
    assert_clean_failure(&out, "nosuchfield");
    assert!(
        !out.stderr.contains("gadget attached"),
        "refused only after attaching: {}",
        out.stderr
    );
}

#[test]
fn a_param_of_the_wrong_type_is_refused() {
    require_kernel();
    let out = rig(&["run", "trace_open", "--pid", "abc", "--timeout", "1"]);
    assert_clean_failure(&out, "--pid");
}

#[test]
fn a_missing_tracepoint_names_the_section() {
    require_kernel();
    let out = rig(&[
        "run",
        repo().join("tests/gadgets/bad_hook").to_str().unwrap(),
        "--timeout",
        "1",
    ]);
    assert_clean_failure(&out, "tracepoint/syscalls/sys_enter_does_not_exist");
    no_program_left("rig_bad_hook");
}

#[test]
fn a_kprobe_gadget_says_kprobes_are_unavailable() {
    require_kernel();
    let out = rig(&[
        "run",
        repo().join("tests/gadgets/kprobe_hook").to_str().unwrap(),
        "--timeout",
        "1",
    ]);
    assert_clean_failure(&out, "kprobe/do_sys_openat2");
    assert!(out.stderr.contains("kprobes are not available"), "{}", out.stderr);
}

#[test]
fn an_unknown_gadget_lists_the_bundled_ones() {
    let out = rig(&["run", "no_such_gadget"]);
    assert_clean_failure(&out, "no_such_gadget");
    assert!(out.stderr.contains("trace_exec"), "{}", out.stderr);
}

#[test]
fn a_verifier_rejection_is_short_names_the_program_and_saves_the_whole_log() {
    require_kernel();
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let gadget = dir.path().join("g");
    fs::create_dir(&gadget).unwrap();
    let corpus = repo().join("tests/malformed");
    fs::copy(corpus.join("base/gadget.yaml"), gadget.join("gadget.yaml")).unwrap();
    fs::copy(corpus.join("c/verifier-reject.bpf.c"), gadget.join("program.bpf.c")).unwrap();
    let out = rig_env(
        &["run", gadget.to_str().unwrap(), "--timeout", "1"],
        &[("RIG_CACHE_DIR", cache.path().to_str().unwrap())],
    );
    assert_clean_failure(&out, "rig_malformed");
    assert!(
        out.stderr.len() <= 4096,
        "error is {} bytes: {}",
        out.stderr.len(),
        out.stderr
    );
    // The path ends the message (the CLI may print the message's newlines escaped, as `\n`).
    let log = out
        .stderr
        .split_once("whole log: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(|p| p.split("\\n").next().unwrap_or(p))
        .unwrap_or_else(|| panic!("no path of the whole verifier log: {}", out.stderr));
    let log = std::path::Path::new(log);
    assert!(
        log.starts_with(cache.path().join("verifier")),
        "{} is not under the cache dir",
        log.display()
    );
    let text = fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(!text.trim().is_empty(), "{} is empty", log.display());
    no_program_left("rig_malformed");
}
