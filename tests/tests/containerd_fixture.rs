//! The containerd fixture itself: two private daemons side by side, a container with a label
//! in its own mount namespace, exec into it, survival of a daemon restart, and nothing left
//! behind (shim, mount, cgroup) after the fixture drops.

use std::path::Path;

use rig_tests::containerd::Containerd;

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
                // ctr may lose the output of a process that exits at once; its status is what counts.
                web.exec(&["/bin/echo", "hi"]);
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
    for t in threads {
        let (dir, ns, pid) = t.join().expect("fixture thread");
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the container's init is gone");
        assert!(!dir.exists(), "the temp dir is gone");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(!mounts.contains(&dir.display().to_string()), "no mount is left");
        for h in std::fs::read_dir("/sys/fs/cgroup").expect("cgroups").flatten() {
            assert!(!h.path().join(&ns).exists(), "cgroup {} is left", h.path().join(&ns).display());
        }
    }
}

#[test]
fn a_container_survives_a_daemon_restart() {
    let mut c = Containerd::start();
    c.import_busybox();
    let web = c.run("web", &[], &["sleep", "30"]);
    let pid = web.pid();
    c.stop_daemon();
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "the container outlives containerd");
    c.restart_daemon();
    assert_eq!(web.pid(), pid, "ctr sees the same task again");
    web.exec(&["/bin/sh", "-c", "echo back > /tmp/back"]);
    let back = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/back")).expect("the exec's file");
    assert_eq!(back.trim(), "back");
}
