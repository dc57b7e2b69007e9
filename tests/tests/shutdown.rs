//! Every way a run ends, on the real kernel: a closed stdout (`rig … | head`) ends it quietly
//! with exit 0, a closed stderr never panics it, Ctrl-C drains it and prints statistics, a second
//! SIGTERM exits at once, `--max-entries N` ends a stream after N rows, and a failed attach prints
//! no column header before its error. Each run must end within a bound; a run that does not is
//! killed and the test fails (the old hang of issue 7).

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rig_tests::{Execs, RigRun, repo, require_kernel, rig, rig_bin};

/// How long a run may take to end once its stop condition happened.
const BOUND: Duration = Duration::from_secs(15);

/// The gadget compiled once, so the bounds below measure rig's run and not clang.
fn warm_up() {
    let out = rig(&["run", "trace_exec", "--timeout", "1"]);
    assert!(out.status.success(), "warm-up run failed: {}", out.stderr);
}

/// Waits for `child` at most `bound`; kills it and fails the test otherwise.
fn wait_within(child: &mut Child, bound: Duration, what: &str) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if t0.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a shell pipeline with `$RIG` set, bounded; returns its status and stdout.
fn pipeline(script: &str) -> (ExitStatus, String) {
    let mut child = Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {script}")])
        .env("RIG", rig_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bash");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let status = wait_within(&mut child, BOUND, script);
    (status, reader.join().unwrap_or_default())
}

fn signal(run: &RigRun, sig: i32) {
    let pid = run.pid().expect("rig is running");
    // SAFETY: kill(2) with a pid this test spawned and owns.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0, "kill {pid}");
}

/// SIGKILLs `run` if it is still alive after `bound`, so `RigRun::wait` cannot hang the test;
/// the test then sees the SIGKILL in the exit status.
fn watchdog(run: &RigRun, bound: Duration) {
    let pid = run.pid().expect("rig is running") as i32;
    std::thread::spawn(move || {
        std::thread::sleep(bound);
        // SAFETY: kill(2) on the pid of a child this test spawned; if it already exited and was
        // reaped, the pid is unlikely to be reused within the test's lifetime.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
}

fn not_killed(status: ExitStatus) {
    use std::os::unix::process::ExitStatusExt;
    assert_ne!(status.signal(), Some(libc::SIGKILL), "rig hung and was killed after {BOUND:?}");
}

#[test]
fn piping_into_head_ends_the_run_with_exit_0() {
    require_kernel();
    warm_up();
    let _execs = Execs::start();
    // stdout and stderr into the pipe `head` closes: the hang of issue 7.
    let (status, out) = pipeline("\"$RIG\" run trace_exec -o json --timeout 60 2>&1 | head -1");
    assert!(status.success(), "rig | head exited with {status}: {out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    // Columns (the header first), stderr to the terminal of the test.
    let (status, out) = pipeline("\"$RIG\" run trace_exec --timeout 60 | head -2");
    assert!(status.success(), "rig | head exited with {status}: {out}");
    assert!(out.starts_with("COMM") || out.contains("PID"), "{out}");
}

#[test]
fn a_closed_stderr_never_panics() {
    require_kernel();
    warm_up();
    let _execs = Execs::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    // stderr into a pipe whose reader (`true`) is gone at once; info logs make rig write to it.
    let (status, _) = pipeline(&format!(
        "\"$RIG\" -v run trace_exec -o json --timeout 2 2>&1 >{} | true",
        file.display()
    ));
    assert!(status.success(), "exited with {status}");
    let events = std::fs::read_to_string(&file).unwrap();
    assert!(events.lines().count() > 0, "no events written");
    // stderr closed outright.
    let (status, out) = pipeline("\"$RIG\" -v run trace_exec -o json --timeout 60 2>&- | head -1");
    assert!(status.success(), "exited with {status}: {out}");
}

#[test]
fn sigint_ends_the_run_cleanly_with_statistics() {
    require_kernel();
    let _execs = Execs::start();
    let run = RigRun::start(&["run", "trace_exec", "-o", "json", "--stats"]);
    std::thread::sleep(Duration::from_millis(500));
    watchdog(&run, BOUND);
    signal(&run, libc::SIGINT);
    let out = run.wait();
    not_killed(out.status);
    assert!(out.status.success(), "{}: {}", out.status, out.stderr);
    assert!(!out.json_lines().is_empty(), "no events: {}", out.stderr);
    assert!(out.stderr.contains("NODE"), "no statistics: {}", out.stderr);
    assert!(out.stderr.contains("sink/terminal") || out.stderr.contains("source"), "{}", out.stderr);
}

#[test]
fn a_second_sigterm_exits_at_once() {
    require_kernel();
    let _execs = Execs::start();
    // Nobody reads rig's stdout, so the sink blocks and a clean stop would take the full drain
    // bound; the second SIGTERM must not wait for it.
    let run = RigRun::start(&["run", "trace_exec", "-o", "jsonpretty"]);
    std::thread::sleep(Duration::from_secs(3));
    signal(&run, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    watchdog(&run, BOUND);
    let t0 = Instant::now();
    signal(&run, libc::SIGTERM);
    let status = run.wait().status;
    let took = t0.elapsed();
    not_killed(status);
    assert!(took < Duration::from_secs(1), "exit took {took:?} after the second SIGTERM");
    assert!(
        status.code() == Some(143) || status.success(),
        "exited with {status}"
    );
}

#[test]
fn max_entries_ends_a_stream_after_n_rows() {
    require_kernel();
    warm_up();
    let _execs = Execs::start();
    let (status, out) = pipeline("\"$RIG\" run trace_exec -o json --max-entries 3 --timeout 60");
    assert!(status.success(), "exited with {status}");
    assert_eq!(out.lines().count(), 3, "{out}");
    for line in out.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
}

#[test]
fn a_failed_attach_prints_no_header() {
    require_kernel();
    let out = rig(&[
        "run",
        repo().join("tests/gadgets/bad_hook").to_str().unwrap(),
        "--timeout",
        "1",
    ]);
    assert!(!out.status.success(), "attach should fail");
    assert_ne!(out.status.code(), Some(101), "panicked: {}", out.stderr);
    assert_eq!(out.stdout, "", "printed before the error");
    assert!(out.stderr.contains("error:"), "{}", out.stderr);
}
