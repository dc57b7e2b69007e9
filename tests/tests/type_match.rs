//! `bpf_core_type_matches()` (CO-RE relocation kind 12, which aya cannot parse) end to end: the
//! `type_match` fixture asks which flavors of kernel types this kernel has, and the answers it
//! reports on a `uname` the test runs must be the ones the kernel's own BTF gives, read here
//! independently with `bpftool btf dump`.

use std::process::Command;

use rig_tests::{RigRun, repo, require_kernel};

/// Which `block_rq_insert` tracepoint prototype the kernel's BTF declares: 1 for
/// `(void *, struct request *)` (Linux 5.11 on), 2 for the older one with the queue.
fn kernel_rq_insert() -> u64 {
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
        .output()
        .expect("bpftool");
    assert!(
        out.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = String::from_utf8_lossy(&out.stdout);
    let line = c
        .lines()
        .find(|l| l.contains("(*btf_trace_block_rq_insert)("))
        .expect("the kernel's BTF declares btf_trace_block_rq_insert");
    if line.contains("(void *, struct request *)") {
        1
    } else if line.contains("(void *, struct request_queue *, struct request *)") {
        2
    } else {
        0
    }
}

#[test]
fn the_flavor_matching_this_kernel_is_the_one_reported() {
    require_kernel();
    let g = repo().join("tests/gadgets/type_match");
    let g = g.to_string_lossy();
    let run = RigRun::start(&["run", &g, "-o", "json", "--timeout", "3"]);
    let st = Command::new("uname").output().expect("uname");
    assert!(st.status.success());
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    let ev = events.first().unwrap_or_else(|| panic!("no event: {}", out.stdout));
    assert_eq!(ev["rq_insert"], kernel_rq_insert(), "{ev}");
    assert_eq!(ev["task_has_pid"], 1, "task_struct has a pid member: {ev}");
    assert_eq!(ev["task_has_rig"], 0, "task_struct has no rig_no_such_member: {ev}");
}
