//! Containers end to end: a private containerd (the fixture), real containers, `rig run
//! trace_exec` on the real kernel. `-c web` shows web's execs only, each naming its container;
//! a container started after rig is caught from its first process; CRI labels become `k8s.*`
//! and `-l` selects by them; containerd going away mid-run loses nothing and is warned about once.

use std::time::Duration;

use rig_tests::containerd::Containerd;
use rig_tests::{RigOutput, RigRun, require_kernel};
use serde_json::Value;

/// `rig run trace_exec -o json` against the fixture's containerd only, plus `extra` flags.
fn start(c: &Containerd, timeout: &str, extra: &[&str]) -> RigRun {
    let socket = c.socket().to_str().expect("utf-8 socket path").to_owned();
    let mut args = vec![
        "run",
        "trace_exec",
        "-o",
        "json",
        "--timeout",
        timeout,
        "--runtimes",
        "containerd",
        "--containerd-socketpath",
        &socket,
    ];
    args.extend_from_slice(extra);
    RigRun::start(&args)
}

/// The events whose command line contains `needle` (not the host's `ctr task exec …` naming it).
/// The events whose `args` contain `needle` (arguments are separated by U+00A0, as IG separates
/// them; `needle` is written with plain spaces).
fn with_args<'a>(events: &'a [Value], needle: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["args"].as_str().is_some_and(|a| a.replace('\u{a0}', " ").contains(needle)))
        .filter(|e| e["proc"]["comm"].as_str() != Some("ctr"))
        .collect()
}

fn field<'a>(e: &'a Value, path: &str) -> &'a str {
    path.split('.')
        .fold(e, |v, k| &v[k])
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string in {e}"))
}

/// Stops rig with SIGINT once the test's processes ran, after the enrichment hold (1.5 s) and a
/// drain tick, instead of a `--timeout` that a loaded machine may spend before the test acts.
fn finish(run: RigRun) -> (RigOutput, Vec<Value>) {
    std::thread::sleep(Duration::from_millis(2500));
    if let Some(pid) = run.pid().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGINT) };
    }
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    (out, events)
}

#[test]
fn containername_shows_only_that_container_with_its_identity() {
    require_kernel();
    let c = Containerd::start();
    let image = c.import_busybox();
    let web = c.run("web", &[("app", "web")], &["sleep", "60"]);
    let db = c.run("db", &[], &["sleep", "60"]);
    let run = start(&c, "60", &["-c", "web"]);
    web.exec(&["/bin/echo", "WEBMARK"]);
    db.exec(&["/bin/echo", "DBMARK"]);
    rig_tests::sh("/bin/echo", &["HOSTMARK"]);
    let (out, events) = finish(run);
    let marks = with_args(&events, "WEBMARK");
    assert_eq!(marks.len(), 1, "web's exec shows once: {}\n{}", out.stdout, out.stderr);
    let e = marks[0];
    assert_eq!(field(e, "runtime.containerName"), "web");
    assert_eq!(field(e, "runtime.containerId"), web.id);
    assert_eq!(field(e, "runtime.runtimeName"), "containerd");
    assert_eq!(field(e, "runtime.containerImageName"), image);
    assert!(field(e, "runtime.containerImageDigest").starts_with("sha256:"), "{e}");
    assert!(with_args(&events, "DBMARK").is_empty(), "db is not web: {}", out.stdout);
    assert!(with_args(&events, "HOSTMARK").is_empty(), "-c leaves the host out: {}", out.stdout);
    assert!(
        events.iter().all(|e| field(e, "runtime.containerName") == "web"),
        "every event is web's: {}",
        out.stdout
    );
}

#[test]
fn a_container_started_after_rig_is_caught_from_its_first_process() {
    require_kernel();
    let c = Containerd::start();
    c.import_busybox();
    let run = start(&c, "60", &["-c", "late"]);
    // Each test echoes its own word: tests run in parallel, and their containers' events must not
    // be mistaken for each other's (see docs/containers.md on mount namespace reuse).
    let late = c.run("late", &[], &["/bin/sh", "-c", "/bin/echo SHMARK; sleep 30"]);
    let (out, events) = finish(run);
    let marks = with_args(&events, "/bin/echo SHMARK");
    let echo = marks
        .iter()
        .find(|e| field(e, "exepath").ends_with("echo") || field(e, "proc.comm") == "echo")
        .unwrap_or_else(|| panic!("the echo is caught: {}\n{}", out.stdout, out.stderr));
    assert_eq!(field(echo, "runtime.containerName"), "late");
    assert_eq!(field(echo, "runtime.containerId"), late.id);
    // The container's very first exec (runc's init becoming /bin/sh) is there too.
    assert!(
        marks.iter().any(|e| field(e, "proc.comm") != "echo" && field(e, "args").starts_with("/bin/sh")),
        "the init's exec is caught: {}",
        out.stdout
    );
}

#[test]
fn a_late_container_whose_command_is_echo_mark_shows_that_exec() {
    require_kernel();
    let c = Containerd::start();
    c.import_busybox();
    let run = start(&c, "60", &["-c", "late"]);
    // The entrypoint itself: runc's init execs /bin/echo and the container is over at once.
    let late = c.run("late", &[], &["/bin/echo", "ENTRYMARK"]);
    let (out, events) = finish(run);
    let marks = with_args(&events, "/bin/echo ENTRYMARK");
    assert_eq!(marks.len(), 1, "ENTRYMARK's exec shows once: {}\n{}", out.stdout, out.stderr);
    assert_eq!(field(marks[0], "runtime.containerName"), "late");
    assert_eq!(field(marks[0], "runtime.containerId"), late.id);
    assert_eq!(field(marks[0], "runtime.runtimeName"), "containerd");
}

#[test]
fn cri_labels_fill_k8s_fields_and_a_label_selector_picks_the_pod() {
    require_kernel();
    let c = Containerd::start();
    c.import_busybox();
    let cart = c.run(
        "cart-app",
        &[
            ("io.kubernetes.pod.name", "cart-7d9"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.uid", "0b7c5f7e-1111-4222-8333-944455556666"),
            ("io.kubernetes.container.name", "app"),
            ("app", "cart"),
        ],
        &["sleep", "60"],
    );
    let other = c.run("other", &[("app", "other")], &["sleep", "60"]);
    let run = start(&c, "60", &["-l", "app=cart"]);
    cart.exec(&["/bin/echo", "CARTMARK"]);
    other.exec(&["/bin/echo", "OTHERMARK"]);
    let (out, events) = finish(run);
    let marks = with_args(&events, "CARTMARK");
    assert_eq!(marks.len(), 1, "{}", out.stdout);
    let e = marks[0];
    assert_eq!(field(e, "k8s.namespace"), "shop");
    assert_eq!(field(e, "k8s.podName"), "cart-7d9");
    assert_eq!(field(e, "k8s.containerName"), "app");
    assert_eq!(field(e, "k8s.podUid"), "0b7c5f7e-1111-4222-8333-944455556666");
    assert_eq!(field(e, "k8s.podLabels"), "app=cart");
    assert!(!field(e, "k8s.node").is_empty(), "a pod's event names its node: {e}");
    assert_eq!(field(e, "runtime.containerName"), "app", "a pod's container is named as in its spec");
    assert!(with_args(&events, "OTHERMARK").is_empty(), "app=other is not selected: {}", out.stdout);
}

#[test]
fn containerd_going_away_mid_run_keeps_tracing_and_warns_once() {
    require_kernel();
    let mut c = Containerd::start();
    c.import_busybox();
    let web = c.run("web", &[], &["sleep", "60"]);
    let run = start(&c, "60", &[]);
    web.exec(&["/bin/echo", "BEFOREMARK"]);
    c.stop_daemon();
    // Tracing goes on without containerd; the container it knew still resolves.
    rig_tests::sh("/bin/echo", &["DURINGMARK"]);
    std::thread::sleep(Duration::from_secs(2));
    c.restart_daemon();
    // rig retries with a backoff capped at 5 s; give it that long to list again.
    std::thread::sleep(Duration::from_millis(5500));
    let back = c.run("back", &[], &["/bin/sh", "-c", "/bin/echo BACKMARK; sleep 30"]);
    let (out, events) = finish(run);
    let before = with_args(&events, "BEFOREMARK");
    assert_eq!(before.len(), 1, "{}", out.stdout);
    assert_eq!(field(before[0], "runtime.containerName"), "web");
    assert_eq!(with_args(&events, "DURINGMARK").len(), 1, "host events go on: {}", out.stdout);
    let after = with_args(&events, "/bin/echo BACKMARK");
    assert!(
        after.iter().any(|e| field(e, "runtime.containerName") == "back" && field(e, "runtime.containerId") == back.id),
        "a container started after containerd returned is known: {}\n{}",
        out.stdout,
        out.stderr
    );
    let socket = c.socket().display().to_string();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&socket))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning naming the socket: {}", out.stderr);
}
