//! The containerd fixture itself: two private daemons side by side, a container with a label
//! in its own mount namespace, exec into it, survival of a daemon restart, a chatty container
//! that does not block, and nothing left behind (daemon, shim, container process, mount,
//! cgroup, temp dir) after the fixture drops — normally, when the test panics, and when the
//! test process is killed (then the next fixture cleans up).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rig_tests::containerd::{Containerd, processes_of, shim_socket};

/// What a fixture left, checked after it is gone: its directory, namespace and a container pid.
fn assert_nothing_left(dir: &Path, ns: &str, pid: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the container's init {pid} is gone"
    );
    assert_eq!(
        processes_of(ns, dir),
        Vec::<i32>::new(),
        "no containerd or shim of {ns} is left"
    );
    assert!(!dir.exists(), "the temp dir {} is gone", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(&dir.display().to_string()), "no mount is left");
    let root = Path::new("/sys/fs/cgroup");
    assert!(!root.join(ns).exists(), "cgroup {} is left", root.join(ns).display());
    for h in std::fs::read_dir(root).expect("cgroups").flatten() {
        assert!(
            !h.path().join(ns).exists(),
            "cgroup {} is left",
            h.path().join(ns).display()
        );
    }
}

fn mntns(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/mnt: {e}"))
}

#[test]
fn two_fixtures_run_labelled_containers_side_by_side_and_leave_nothing() {
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let c = Containerd::start();
                c.import_busybox();
                assert!(c.image_digest().starts_with("sha256:"));
                let web = c.run("web", &[("app", "web")], &["sleep", "30"]);
                let info = c.ctr_ok(&["containers", "info", "web"]);
                assert!(info.contains("\"app\": \"web\""), "{info}");
                let pid = web.pid().to_string();
                assert_ne!(mntns(&pid), mntns("self"), "the container has its own mount namespace");
                assert_eq!(web.exec(&["/bin/echo", "hi"]).trim(), "hi");
                web.exec(&["/bin/sh", "-c", "echo hi > /tmp/hi"]);
                let hi = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/hi")).expect("the exec's file");
                assert_eq!(hi.trim(), "hi");
                let dir = c.socket().parent().expect("dir").to_path_buf();
                let ns = c.namespace().to_owned();
                drop(c);
                (dir, ns, pid)
            })
        })
        .collect();
    let mut namespaces = Vec::new();
    for t in threads {
        let (dir, ns, pid) = t.join().expect("fixture thread");
        assert_nothing_left(&dir, &ns, &pid);
        namespaces.push(ns);
    }
    assert_ne!(namespaces[0], namespaces[1], "each fixture has its own namespace");
}

#[test]
fn a_panicking_test_leaves_nothing() {
    let seen: Arc<Mutex<Option<(PathBuf, String, String)>>> = Arc::default();
    let s = seen.clone();
    let t = std::thread::spawn(move || {
        let c = Containerd::start();
        c.import_busybox();
        let web = c.run("web", &[], &["sleep", "30"]);
        let dir = c.socket().parent().expect("dir").to_path_buf();
        *s.lock().expect("lock") = Some((dir, c.namespace().to_owned(), web.pid().to_string()));
        panic!("a test fails with a container running");
    });
    assert!(t.join().is_err(), "the thread panicked");
    let (dir, ns, pid) = seen.lock().expect("lock").take().expect("the fixture ran a container");
    assert_nothing_left(&dir, &ns, &pid);
}

#[test]
fn a_chatty_container_does_not_block() {
    let c = Containerd::start();
    c.import_busybox();
    // ~2 MB on stdout, far past any pipe or fifo buffer, then a mark.
    let script = "i=0; while [ $i -lt 40000 ]; do echo 0123456789012345678901234567890123456789012345678; \
                  i=$((i+1)); done; touch /tmp/done; sleep 30";
    let chatty = c.run("chatty", &[], &["sh", "-c", script]);
    let done = format!("/proc/{}/root/tmp/done", chatty.pid());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Path::new(&done).exists() {
        assert!(
            Instant::now() < deadline,
            "the container did not finish writing within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Set in the child process that [`a_killed_test_process_is_cleaned_up_by_the_next_fixture`]
/// starts and kills.
const VICTIM: &str = "RIG_FIXTURE_VICTIM";

#[test]
fn a_killed_test_process_is_cleaned_up_by_the_next_fixture() {
    if std::env::var_os(VICTIM).is_some() {
        let c = Containerd::start();
        c.import_busybox();
        let web = c.run("web", &[], &["sleep", "300"]);
        let dir = c.socket().parent().expect("dir").display().to_string();
        println!("VICTIM {dir} {} {}", c.namespace(), web.pid());
        std::thread::sleep(Duration::from_secs(300));
        return;
    }
    let exe = std::env::current_exe().expect("test executable");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "a_killed_test_process_is_cleaned_up_by_the_next_fixture",
            "--nocapture",
        ])
        .env(VICTIM, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the victim test process");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("VICTIM ") {
                let _ = tx.send(rest.to_owned());
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(120));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("the victim reports its fixture within 120 s");
    let [dir, ns, pid] = line.split(' ').collect::<Vec<_>>()[..] else {
        panic!("bad victim line {line:?}");
    };
    assert!(Path::new(dir).is_dir(), "the killed process left its temp dir");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the killed process left its container running"
    );
    let socket = shim_socket(&Path::new(dir).join("containerd.sock"), ns, "web");
    assert!(
        socket.exists(),
        "the killed process left its shim's socket {}",
        socket.display()
    );
    let next = Containerd::start();
    drop(next);
    assert_nothing_left(Path::new(dir), ns, pid);
    assert!(!socket.exists(), "the shim's socket {} is gone", socket.display());
}

#[test]
fn a_container_survives_a_daemon_restart() {
    let mut c = Containerd::start();
    c.import_busybox();
    let web = c.run("web", &[], &["sleep", "30"]);
    let pid = web.pid();
    c.stop_daemon();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container outlives containerd"
    );
    c.restart_daemon();
    assert_eq!(web.pid(), pid, "ctr sees the same task again");
    web.exec(&["/bin/sh", "-c", "echo back > /tmp/back"]);
    let back = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/back")).expect("the exec's file");
    assert_eq!(back.trim(), "back");
}
