//! `rig list-containers` and the containers actor against a real, private containerd (the
//! fixture): the listing names each container with its PID, namespaces, image and CRI-derived
//! `k8s.*` fields; `--watch` prints a container's start and end; containerd going away keeps the
//! table with one warning and a container started after it returns is picked up.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rig_host::containers::{ContainersConfig, RuntimeName};
use rig_tests::containerd::{BUSYBOX, Containerd};
use serde_json::Value;

/// The fixture's socket as a string.
fn socket(c: &Containerd) -> String {
    c.socket().to_str().expect("utf-8 socket path").to_owned()
}

/// A process's mount or network namespace inode, read from /proc.
fn ns(pid: u32, kind: &str) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).expect("read ns link");
    let text = link.to_string_lossy().into_owned();
    text.trim_start_matches(|c: char| !c.is_ascii_digit())
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|_| panic!("odd ns link {text}"))
}

/// The container named `name` in a JSON listing.
fn named<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|v| v["runtime"]["containerName"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {lines:?}"))
}

/// `rig list-containers ARGS` to completion (bounded), stdout as JSON lines when asked.
fn list(args: &[&str]) -> (String, String) {
    let out = Command::new(rig_tests::rig_bin())
        .arg("list-containers")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run rig list-containers");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "rig list-containers failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn lists_containers_with_pid_namespaces_image_and_k8s_fields() {
    let c = Containerd::start();
    let image = c.import_busybox();
    let web = c.run("web", &[], &["sleep", "300"]);
    let db = c.run(
        "db",
        &[
            ("io.kubernetes.pod.name", "cart-7d9"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.uid", "5f1d3c4e-0000-4000-8000-000000000001"),
            ("io.kubernetes.container.name", "app"),
            ("app", "cart"),
        ],
        &["sleep", "300"],
    );
    let sock = socket(&c);
    // The default runtimes (runc, crun and podman find nothing here) plus the fixture's socket.
    let (stdout, stderr) = list(&["--containerd-socketpath", &sock, "-o", "json"]);
    assert!(
        !stderr.contains("WARN"),
        "a host without podman or crun is no warning: {stderr}"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let w = named(&lines, "web");
    assert_eq!(w["runtime"]["runtimeName"], "containerd");
    assert_eq!(w["runtime"]["containerId"], "web");
    assert_eq!(w["runtime"]["containerImageName"], image.as_str());
    assert_eq!(image, BUSYBOX);
    assert_eq!(w["runtime"]["containerImageDigest"], c.image_digest().as_str());
    assert_eq!(w["pid"], web.pid());
    assert_eq!(w["mntns"], ns(web.pid(), "mnt"));
    assert_eq!(w["netns"], ns(web.pid(), "net"));
    assert_eq!(w["k8s"]["podName"], "");
    // A CRI container is named by its Kubernetes container name.
    let d = named(&lines, "app");
    assert_eq!(d["runtime"]["containerId"], "db");
    assert_eq!(d["pid"], db.pid());
    assert_eq!(d["mntns"], ns(db.pid(), "mnt"));
    assert_eq!(d["k8s"]["namespace"], "shop");
    assert_eq!(d["k8s"]["podName"], "cart-7d9");
    assert_eq!(d["k8s"]["containerName"], "app");
    assert_eq!(d["k8s"]["podUid"], "5f1d3c4e-0000-4000-8000-000000000001");
    assert_eq!(d["k8s"]["podLabels"], serde_json::json!({"app": "cart"}));
    assert_eq!(
        lines.iter().filter(|v| v["runtime"]["containerId"] == "web").count(),
        1,
        "listed once"
    );

    let (columns, _) = list(&["--runtimes", "containerd", "--containerd-socketpath", &sock]);
    let mut rows = columns.lines();
    let header: Vec<&str> = rows.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "RUNTIME",
            "CONTAINERNAME",
            "CONTAINERID",
            "IMAGE",
            "PID",
            "MNTNS",
            "NETNS",
            "K8S.NAMESPACE",
            "K8S.PODNAME",
            "K8S.CONTAINERNAME"
        ]
    );
    let db_row: Vec<&str> = rows
        .find(|r| r.contains("cart-7d9"))
        .expect("db's row")
        .split_whitespace()
        .collect();
    assert_eq!(db_row[..3], ["containerd", "app", "db"]);
    assert_eq!(db_row[4], db.pid().to_string());
    assert_eq!(db_row[7..], ["shop", "cart-7d9", "app"]);
}

#[test]
fn unknown_runtime_is_refused_by_name() {
    let out = Command::new(rig_tests::rig_bin())
        .args(["list-containers", "--runtimes", "containerd,dockerd"])
        .output()
        .expect("run rig");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dockerd"), "{stderr}");
}

/// A running `rig list-containers --watch -o json`, killed on drop.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<Value>,
    stderr: mpsc::Receiver<String>,
}

impl Watch {
    fn start(sock: &str) -> Watch {
        let mut child = Command::new(rig_tests::rig_bin())
            .args(["list-containers", "--watch", "-o", "json", "--runtimes", "containerd"])
            .args(["--containerd-socketpath", sock])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rig list-containers --watch");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let (etx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if etx.send(l).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines, stderr }
    }

    /// The next line with this event for this container id, within `bound`.
    fn expect(&self, event: &str, id: &str, bound: Duration) -> Value {
        let deadline = Instant::now() + bound;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) if v["event"] == event && v["runtime"]["containerId"] == id => return v,
                Ok(v) => seen.push(v),
                Err(_) => break,
            }
        }
        panic!("no {event:?} for {id} within {bound:?}; saw {seen:?}");
    }

    /// The lines it printed on stderr so far.
    fn stderr(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// Sends SIGINT and waits (bounded) for a clean exit.
    fn interrupt(mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "Ctrl-C ends --watch cleanly: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "--watch did not end within 5 s of SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_prints_added_then_removed() {
    let c = Containerd::start();
    c.import_busybox();
    let web = c.run("web", &[], &["sleep", "300"]);
    let w = Watch::start(&socket(&c));
    // What runs already comes first, as added.
    let first = w.expect("added", "web", Duration::from_secs(10));
    assert_eq!(first["pid"], web.pid());
    let late = c.run("late", &[("app", "x")], &["sleep", "300"]);
    let added = w.expect("added", "late", Duration::from_secs(10));
    assert_eq!(added["pid"], late.pid());
    assert_eq!(added["mntns"], ns(late.pid(), "mnt"));
    assert_eq!(added["runtime"]["containerImageName"], BUSYBOX);
    late.kill();
    let removed = w.expect("removed", "late", Duration::from_secs(10));
    assert_eq!(removed["mntns"], added["mntns"]);
    w.interrupt();
}

#[test]
fn watch_ends_when_stdout_closes() {
    let c = Containerd::start();
    let mut child = Command::new(rig_tests::rig_bin())
        .args([
            "list-containers",
            "--watch",
            "--runtimes",
            "containerd",
            "--containerd-socketpath",
            &socket(&c),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rig");
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("--watch kept running after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a closed stdout is a clean end: {status}");
}

#[test]
fn containerd_outage_keeps_the_table_warns_once_and_resynchronises() {
    let mut c = Containerd::start();
    c.import_busybox();
    let web_mntns = ns(c.run("web", &[], &["sleep", "300"]).pid(), "mnt");
    let sock = socket(&c);
    let w = Watch::start(&sock);
    w.expect("added", "web", Duration::from_secs(10));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = ContainersConfig {
        runtimes: vec![RuntimeName::Containerd],
        containerd_socket: Path::new(&sock).to_owned(),
        ..ContainersConfig::default()
    };
    let _guard = rt.enter();
    let handle = rig_host::containers::spawn(config);
    assert!(rt.block_on(handle.wait_synced(Duration::from_secs(5))), "synced");
    assert!(handle.snapshot().by_mntns(web_mntns).is_some(), "web is known");

    c.stop_daemon();
    // Long enough for several reconnection attempts (100 ms, 200 ms, 400 ms, 800 ms…).
    std::thread::sleep(Duration::from_secs(3));
    let kept = handle.snapshot();
    let w_kept = kept
        .by_mntns(web_mntns)
        .expect("web is still known while containerd is away");
    assert!(w_kept.exited_at.is_none(), "web still runs: {w_kept:?}");

    c.restart_daemon();
    let after = c.run("after", &[], &["sleep", "300"]);
    let added = w.expect("added", "after", Duration::from_secs(15));
    assert_eq!(added["pid"], after.pid());
    let deadline = Instant::now() + Duration::from_secs(15);
    while handle.snapshot().by_mntns(ns(after.pid(), "mnt")).is_none() {
        assert!(
            Instant::now() < deadline,
            "the actor did not pick up a container started after containerd returned"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        handle.snapshot().by_mntns(web_mntns).is_some(),
        "web survives the resync"
    );

    let warnings: Vec<String> = w.stderr().into_iter().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one warning per outage: {warnings:?}");
    assert!(
        warnings[0].contains(&sock),
        "the warning names the socket: {warnings:?}"
    );
    rt.block_on(handle.shutdown());
    w.interrupt();
}

#[test]
fn resolve_mntns_names_a_container_no_runtime_reported() {
    let c = Containerd::start();
    c.import_busybox();
    let pid = c.run("web", &[], &["sleep", "300"]).pid();
    let mntns = ns(pid, "mnt");
    let empty = tempfile::tempdir().expect("tempdir");
    // Only a (empty) runc root: no runtime reports web, /proc and its cgroup still name it.
    let config = ContainersConfig {
        runtimes: vec![RuntimeName::Runc],
        runc_roots: vec![empty.path().to_owned()],
        ..ContainersConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let handle = rig_host::containers::spawn(config);
    assert!(rt.block_on(handle.wait_synced(Duration::from_secs(5))), "synced");
    assert!(handle.snapshot().by_mntns(mntns).is_none());
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let found = rt
        .block_on(handle.resolve_mntns(mntns))
        .unwrap_or_else(|| panic!("web's mount namespace is a container's (cgroup {cgroup:?})"));
    assert_eq!(found.runtime, RuntimeName::Unknown);
    assert_eq!(found.id, "web", "cgroup {cgroup:?}");
    assert_eq!(found.mntns, mntns);
    assert!(handle.snapshot().by_mntns(mntns).is_some(), "added to the table");
    let own = ns(std::process::id(), "mnt");
    assert!(
        rt.block_on(handle.resolve_mntns(own)).is_none(),
        "the host is no container"
    );
    rt.block_on(handle.shutdown());
}

#[test]
fn a_missing_named_socket_warns_once_and_lists_nothing() {
    let (stdout, stderr) = list(&[
        "--runtimes",
        "containerd",
        "--containerd-socketpath",
        "/nonexistent/containerd.sock",
    ]);
    assert_eq!(stdout.lines().count(), 1, "only the header: {stdout}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("/nonexistent/containerd.sock"), "{stderr}");
}
