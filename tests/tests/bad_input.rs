//! Bad input gets a one-line error naming the culprit, a non-zero exit, no panic, and nothing
//! left attached in the kernel.

use std::fs;

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
