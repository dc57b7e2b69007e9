//! Start-up, on the real kernel: the first run of a gadget caches its minimal CO-RE BTF
//! (`<cache>/core-btf/`, made by bpftool) and later runs reuse it; a cached file that is garbage,
//! or valid BTF that lacks the object's types, never fails a run: rig falls back to the whole
//! kernel BTF and replaces or forgets the bad file. Each test has its own cache directory.
//! Programs that are the same code (trace_exec's execve and execveat exit handlers) are verified
//! once and that program attached to both hooks; both still report events.
//!
//! How fast the first event arrives is measured by `bench/first_event.sh`, not here.

use std::path::{Path, PathBuf};

use rig_tests::registry::rig_env;
use rig_tests::{Execs, RigRun, require_kernel};

/// Runs trace_exec until its first event with `cache` as rig's cache directory.
fn first_exec(cache: &Path) -> rig_tests::RigOutput {
    let _execs = Execs::start();
    let out = rig_env(
        &["run", "trace_exec", "-o", "json", "--max-entries", "1", "--timeout", "30"],
        &[("RIG_CACHE_DIR", cache.to_str().expect("utf-8 temp path"))],
    );
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    assert_eq!(out.json_lines().len(), 1, "one event expected: {}", out.stdout);
    out
}

/// The cached minimal BTF files.
fn cached(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache.join("core-btf"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn the_first_run_caches_a_minimal_core_btf_that_later_runs_reuse() {
    require_kernel();
    let cache = tempfile::tempdir().expect("tempdir");
    first_exec(cache.path());
    let files = cached(cache.path());
    assert_eq!(files.len(), 1, "one minimal BTF, no scratch files left: {files:?}");
    let len = std::fs::metadata(&files[0]).expect("stat").len();
    assert!(len > 24 && len < 64 * 1024, "a minimal BTF is small, got {len} bytes");
    let before = std::fs::read(&files[0]).expect("read");
    first_exec(cache.path());
    assert_eq!(cached(cache.path()), files, "reused, not made again");
    assert_eq!(std::fs::read(&files[0]).expect("read"), before);
}

#[test]
fn a_bad_cached_btf_falls_back_to_the_kernel_btf() {
    require_kernel();
    let cache = tempfile::tempdir().expect("tempdir");
    first_exec(cache.path());
    let file = cached(cache.path()).pop().expect("a minimal BTF");

    // Not BTF at all: removed, the run goes on, and the next run makes it again.
    std::fs::write(&file, b"definitely not BTF").expect("write");
    first_exec(cache.path());
    assert_ne!(std::fs::read(&file).ok().as_deref(), Some(&b"definitely not BTF"[..]), "garbage kept");

    // Valid BTF with no types at all: CO-RE cannot resolve against it; the run falls back to
    // the kernel's BTF and forgets the file.
    let mut empty = Vec::new();
    empty.extend_from_slice(&0xeb9f_u16.to_le_bytes()); // magic
    empty.extend_from_slice(&[1, 0]); // version 1, no flags
    for v in [24_u32, 0, 0, 0, 1] {
        // header length, type offset, type length, string offset, string length
        empty.extend_from_slice(&v.to_le_bytes());
    }
    empty.push(0); // the empty string
    std::fs::write(&file, &empty).expect("write");
    first_exec(cache.path());
    assert_ne!(std::fs::read(&file).ok(), Some(empty), "the useless BTF was kept");
}

/// The eBPF programs `pid` holds open.
fn programs_held(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == "anon_inode:bpf-prog"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn twin_programs_are_verified_once_and_both_hooks_still_fire() {
    require_kernel();
    let run = RigRun::start(&["run", "trace_exec", "-o", "json", "--timeout", "4"]);
    let pid = run.pid().expect("rig runs");
    // Five programs, two of them the same exit handler: four loaded.
    assert_eq!(programs_held(pid), 4, "trace_exec's exit handlers should share one program");
    // execve(2) and execveat(2) (fexecve: execveat(fd, "", AT_EMPTY_PATH)) both reach the output.
    let marker = format!("rig-twin-{}", std::process::id());
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", &format!("/bin/echo {marker}-execve >/dev/null")])
        .status()
        .expect("sh");
    assert!(status.success());
    let py = format!(
        "import os; fd = os.open('/bin/echo', os.O_RDONLY); os.execve(fd, ['echo', '{marker}-execveat'], {{}})"
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &py])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 (installed by setup for the operator toolchains)");
    assert!(status.success());
    let out = run.wait();
    assert!(out.status.success(), "{}", out.stderr);
    for how in ["execve", "execveat"] {
        let want = format!("{marker}-{how}");
        assert!(
            out.json_lines().iter().any(|e| e["args"].as_str().is_some_and(|a| a.contains(&want))),
            "no event for {how}: {}",
            out.stderr
        );
    }
}
