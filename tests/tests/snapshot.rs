//! The bundled snapshot_process gadget on the real kernel: a snapshot runs its `iter/task`
//! program once, prints one row per process and ends on its own, leaving no program behind.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rig_tests::{RigOutput, require_kernel, rig_bin};
use serde_json::Value;

/// The iterator program's name (program names are cut at 15 bytes in `bpftool prog show`).
const PROG: &str = "ig_snap_proc";

/// How long a snapshot may take: it must end on its own, without --timeout.
const DEADLINE: Duration = Duration::from_secs(20);

/// The tests check that no snapshot program is left loaded, so they must not overlap.
static SERIAL: Mutex<()> = Mutex::new(());

/// A child process killed when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sleep 30`, a process this test knows the pid, name and parent of.
fn sleeper() -> Reaped {
    let child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    // Wait until the fork has exec'd sleep, so the snapshot cannot see the pre-exec comm.
    let comm = format!("/proc/{}/comm", child.id());
    let t0 = Instant::now();
    while std::fs::read_to_string(&comm)
        .map(|c| c.trim() != "sleep")
        .unwrap_or(true)
    {
        assert!(t0.elapsed() < Duration::from_secs(5), "sleep did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    Reaped(child)
}

/// Runs `rig ARGS`, which must exit on its own within [`DEADLINE`]; kills it and fails otherwise.
fn rig_snapshot(args: &[&str]) -> RigOutput {
    let mut child = Command::new(rig_bin())
        .args(args)
        .env("RUST_LOG", "rig_host=info,warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rig");
    let mut stdout_pipe = child.stdout.take().expect("stdout piped");
    let mut stderr_pipe = child.stderr.take().expect("stderr piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait rig") {
            break status;
        }
        if t0.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rig {args:?} did not end on its own within {DEADLINE:?} (a snapshot must finish without --timeout); stderr: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    RigOutput {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Fails if a program named like the snapshot's iterator is still loaded.
fn assert_no_program_left() {
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .expect("bpftool must be installed to check that rig unloaded its programs");
    assert!(out.status.success(), "bpftool prog show failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let left: Vec<&str> = text.lines().filter(|l| l.contains(&format!("name {PROG} "))).collect();
    assert!(left.is_empty(), "rig left its iterator program loaded: {left:?}");
}

fn snapshot_rows(out: &RigOutput) -> Vec<Value> {
    assert!(out.status.success(), "rig failed ({}): {}", out.status, out.stderr);
    let rows = out.json_lines();
    assert!(!rows.is_empty(), "empty snapshot; stderr: {}", out.stderr);
    rows
}

#[test]
fn snapshot_process_lists_a_running_process_and_ends() {
    require_kernel();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sleep = sleeper();
    let pid = u64::from(sleep.0.id());
    let me = u64::from(std::process::id());

    let t0 = Instant::now();
    let out = rig_snapshot(&["run", "snapshot_process", "-o", "json"]);
    let took = t0.elapsed();
    let rows = snapshot_rows(&out);

    let row = rows
        .iter()
        .find(|r| r["pid"].as_u64() == Some(pid))
        .unwrap_or_else(|| panic!("no row for sleep (pid {pid}) among {} rows: {}", rows.len(), out.stdout));
    assert_eq!(row["comm"], "sleep", "{row}");
    assert_eq!(
        row["tid"].as_u64(),
        Some(pid),
        "a process row is its main thread: {row}"
    );
    assert_eq!(row["ppid"].as_u64(), Some(me), "ppid is this test: {row}");
    assert_eq!(row["uid"], 0, "{row}");
    assert_eq!(row["user"], "root", "{row}");
    assert_eq!(row["gid"], 0, "{row}");
    assert_eq!(row["state"], "sleeping", "{row}");
    assert_eq!(row["nr_threads"], 1, "{row}");
    assert!(row["mntns_id"].as_u64().is_some_and(|m| m > 0), "{row}");
    let start = row["start_time"].as_str().unwrap_or_default();
    assert!(
        start.starts_with("20") && start.ends_with('Z'),
        "wall-clock start time: {row}"
    );

    // This test's own process is listed too, once: without --threads only main threads appear.
    let mine: Vec<_> = rows.iter().filter(|r| r["pid"].as_u64() == Some(me)).collect();
    assert_eq!(mine.len(), 1, "rows for this test's pid {me}: {mine:?}");
    assert!(
        rows.iter().all(|r| r["pid"] == r["tid"]),
        "a thread that is not a main thread was listed without --threads"
    );
    // Every row is a whole record: the schema's fields are all there.
    for r in &rows {
        for f in ["comm", "pid", "tid", "ppid", "uid", "gid", "mntns_id", "state"] {
            assert!(r.get(f).is_some(), "row without {f}: {r}");
        }
    }
    eprintln!("snapshot of {} processes in {took:?}", rows.len());

    drop(sleep);
    assert_no_program_left();
}

#[test]
fn snapshot_process_threads_and_filters() {
    require_kernel();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let me = u64::from(std::process::id());
    let me_s = me.to_string();

    // The test harness runs this test on a thread of its own, so this process has at least two.
    let out = rig_snapshot(&["run", "snapshot_process", "-o", "json", "--threads", "--pid", &me_s]);
    let rows = snapshot_rows(&out);
    assert!(
        rows.iter().all(|r| r["pid"].as_u64() == Some(me)),
        "--pid {me} let other processes through: {}",
        out.stdout
    );
    assert!(
        rows.iter().any(|r| r["tid"].as_u64() == Some(me)),
        "main thread missing: {}",
        out.stdout
    );
    assert!(
        rows.iter().any(|r| r["tid"].as_u64() != Some(me)),
        "--threads did not list the test's other threads: {}",
        out.stdout
    );

    let sleep = sleeper();
    let pid = u64::from(sleep.0.id());
    let out = rig_snapshot(&["run", "snapshot_process", "-o", "json", "--comm", "sleep"]);
    let rows = snapshot_rows(&out);
    assert!(
        rows.iter().all(|r| r["comm"] == "sleep"),
        "--comm sleep let others through: {}",
        out.stdout
    );
    assert!(
        rows.iter().any(|r| r["pid"].as_u64() == Some(pid)),
        "sleep {pid} missing: {}",
        out.stdout
    );

    drop(sleep);
    assert_no_program_left();
}
