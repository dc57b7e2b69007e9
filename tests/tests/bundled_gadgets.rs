//! The bundled gadgets on the real kernel: what `rig run` shows for real execs, opens and kills.

use std::process::Command;
use std::time::Duration;

use rig_tests::{RigRun, require_kernel, sh};
use serde_json::Value;

fn find(events: &[Value], pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    events.iter().find(|e| pred(e))
}

#[test]
fn trace_exec_shows_an_exec_of_true_with_its_context() {
    require_kernel();
    let run = RigRun::start(&["run", "trace_exec", "-o", "json", "--timeout", "3"]);
    sh("/bin/true", &["rig-e2e-arg"]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    let ev = find(&events, |e| {
        e["proc"]["comm"] == "true" && e["args"].as_str().is_some_and(|a| a.contains("rig-e2e-arg"))
    })
    .unwrap_or_else(|| panic!("no exec of /bin/true among {} events: {}", events.len(), out.stdout));
    assert!(ev["proc"]["pid"].as_u64().unwrap() > 0);
    assert_eq!(
        ev["proc"]["parent"]["pid"].as_u64().unwrap(),
        u64::from(std::process::id()),
        "ppid is this test"
    );
    // Arguments are joined with U+00A0 as IG does (see tests/tests/special_types.rs).
    assert_eq!(ev["args"], "/bin/true\u{a0}rig-e2e-arg");
    assert!(ev["proc"]["mntns_id"].as_u64().unwrap() > 0);
    assert_eq!(ev["proc"]["creds"]["uid"], 0);
    assert_eq!(ev["proc"]["creds"]["user"], "root");
    assert_eq!(ev["error"], "0");
    assert!(ev["exepath"].as_str().unwrap().ends_with("true"), "{ev}");
    let ts = ev["timestamp"].as_str().unwrap();
    assert!(
        ts.len() >= 20 && ts.ends_with('Z') && ts.starts_with("20"),
        "wall-clock timestamp: {ts}"
    );
}

#[test]
fn trace_open_filters_by_comm_and_reports_errors() {
    require_kernel();
    let run = RigRun::start(&["run", "trace_open", "-o", "json", "--comm", "cat", "--timeout", "3"]);
    sh("cat", &["/etc/hostname"]);
    sh("cat", &["/nonexistent/rig-e2e"]);
    sh("head", &["-c1", "/etc/hostname"]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    assert!(
        events.iter().all(|e| e["proc"]["comm"] == "cat"),
        "--comm cat let other commands through"
    );
    let ok = find(&events, |e| e["fname"] == "/etc/hostname").expect("open of /etc/hostname");
    assert!(ok["fd"].as_i64().unwrap() >= 0);
    assert_eq!(ok["error"], "0");
    assert!(ok["flags"].as_str().unwrap().contains("O_RDONLY"));
    let missing = find(&events, |e| e["fname"] == "/nonexistent/rig-e2e").expect("open of a missing file");
    assert_eq!(missing["error"], "ENOENT");
}

#[test]
fn trace_signal_shows_a_kill_in_yaml() {
    require_kernel();
    let run = RigRun::start(&["run", "trace_signal", "-o", "yaml", "--timeout", "3"]);
    let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(100));
    sh("kill", &["-USR1", &pid.to_string()]);
    let _ = child.wait();
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let doc = out
        .stdout
        .split("---")
        .find(|d| d.contains(&format!("tpid: {pid}")))
        .unwrap_or_else(|| panic!("no signal to {pid} in:\n{}", out.stdout));
    assert!(doc.contains("sig: SIGUSR1"), "{doc}");
    assert!(doc.contains("error: \"0\"") || doc.contains("error: '0'"), "{doc}");
}

#[test]
fn fields_selects_and_orders_columns() {
    require_kernel();
    let run = RigRun::start(&[
        "run",
        "trace_open",
        "--fields",
        "timestamp,proc.comm,fname,error",
        "--comm",
        "cat",
        "--timeout",
        "3",
    ]);
    sh("cat", &["/etc/hostname"]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["TIMESTAMP", "COMM", "FNAME", "ERROR"]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("/etc/hostname") && l.contains(" cat ")),
        "{}",
        out.stdout
    );
}
