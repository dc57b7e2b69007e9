//! A real containerd for the container tests: Debian's containerd 1.6 with runc, one daemon per
//! fixture with its own root, state, socket and runc root in a temporary directory and its own
//! containerd namespace (`rigtest-<pid>-<n>`: cgroup paths are global), so tests run in
//! parallel without seeing each other's containers. The busybox image is built offline once
//! per process (Debian's busybox-static, `umoci`, `skopeo`) and imported with `ctr`. Drop kills
//! every task, removes containers, stops the daemon and its shims, unmounts what it mounted
//! and removes its cgroups — also when the test panics. Every step is bounded in time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The image every fixture imports.
pub const BUSYBOX: &str = "docker.io/rig/busybox:latest";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A running containerd, stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Containerd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    namespace: String,
}

/// A container started by [`Containerd::run`].
#[derive(Debug)]
pub struct RunningContainer {
    /// Its id (the name it was run with).
    pub id: String,
    socket: PathBuf,
    namespace: String,
}

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} not found: the container tests need it (run ./setup.sh)");
}

/// Runs a command with a time bound; returns its output (killed and reported at the bound).
fn run_bounded(cmd: &mut Command, bound: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("wait {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The busybox image as an oci-archive, built once per process.
fn busybox_archive() -> &'static Path {
    static ARCHIVE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = ARCHIVE.get_or_init(|| {
        for t in ["umoci", "skopeo"] {
            require(t);
        }
        assert!(
            Path::new("/bin/busybox").is_file(),
            "/bin/busybox not found: the container tests need busybox-static (run ./setup.sh)"
        );
        let dir = tempfile::tempdir().expect("image temp dir");
        let d = dir.path();
        let layout = format!("{}:latest", d.join("layout").display());
        let bundle = d.join("bundle");
        let step = |args: &[&str]| {
            let o = run_bounded(Command::new(args[0]).args(&args[1..]), Duration::from_secs(60));
            assert!(o.status.success(), "{args:?}: {}", text(&o));
        };
        step(&["umoci", "init", "--layout", &d.join("layout").display().to_string()]);
        step(&["umoci", "new", "--image", &layout]);
        step(&["umoci", "unpack", "--image", &layout, &bundle.display().to_string()]);
        let rootfs = bundle.join("rootfs");
        for sub in ["bin", "etc", "tmp", "root", "home/app"] {
            std::fs::create_dir_all(rootfs.join(sub)).expect("rootfs dirs");
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "echo", "sleep", "cat", "ls", "true", "id", "env", "ps", "touch", "unshare"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet link");
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").expect("group");
        step(&["umoci", "repack", "--image", &layout, &bundle.display().to_string()]);
        step(&["umoci", "config", "--image", &layout, "--config.cmd", "sh", "--config.env", "PATH=/bin"]);
        let archive = d.join("busybox.tar");
        step(&[
            "skopeo",
            "copy",
            &format!("oci:{layout}"),
            &format!("oci-archive:{}:{BUSYBOX}", archive.display()),
        ]);
        (dir, archive)
    });
    path
}

impl Containerd {
    /// Starts a private containerd and waits until it answers (≤ 20 s).
    pub fn start() -> Containerd {
        crate::require_kernel();
        for t in ["containerd", "ctr", "runc", "containerd-shim-runc-v2"] {
            require(t);
        }
        let dir = tempfile::Builder::new()
            .prefix("rig-ctd-")
            .tempdir()
            .expect("containerd temp dir");
        let namespace = format!("rigtest-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.internal.v1.opt\", \
             \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\", \
             \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \
             \"io.containerd.tracing.processor.v1.otlp\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("containerd config");
        std::fs::create_dir_all(d.join("runc")).expect("runc root");
        let mut c = Containerd {
            child: None,
            dir,
            namespace,
        };
        c.spawn_daemon();
        c
    }

    fn spawn_daemon(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("containerd.log"))
            .expect("containerd log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = run_bounded(self.ctr().arg("version"), Duration::from_secs(5));
            if o.status.success() {
                return;
            }
            if Instant::now() > deadline {
                panic!("containerd did not answer within 20 s: {}\n{}", text(&o), self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// This fixture's containerd namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn ctr(&self) -> Command {
        ctr_cmd(&self.socket(), &self.namespace)
    }

    /// `ctr ARGS`, which must succeed (≤ 60 s); returns stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let o = run_bounded(self.ctr().args(args), Duration::from_secs(60));
        assert!(o.status.success(), "ctr {args:?}: {}\n{}", text(&o), self.log());
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Imports the busybox image; returns its reference.
    pub fn import_busybox(&self) -> String {
        let archive = busybox_archive().display().to_string();
        self.ctr_ok(&["images", "import", "--all-platforms", &archive]);
        BUSYBOX.to_owned()
    }

    /// The imported image's manifest digest (`sha256:…`).
    pub fn image_digest(&self) -> String {
        let out = self.ctr_ok(&["images", "ls"]);
        out.lines()
            .find(|l| l.starts_with(BUSYBOX))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("sha256:")))
            .unwrap_or_else(|| panic!("{BUSYBOX} not in `ctr images ls`: {out}"))
            .to_owned()
    }

    /// Runs a detached container from busybox with these labels; returns once its task runs.
    pub fn run(&self, name: &str, labels: &[(&str, &str)], cmd: &[&str]) -> RunningContainer {
        let runc_root = self.dir.path().join("runc");
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--runc-root".into(),
            runc_root.display().to_string(),
        ];
        for (k, v) in labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push(BUSYBOX.into());
        args.push(name.into());
        args.extend(cmd.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctr_ok(&refs);
        RunningContainer {
            id: name.to_owned(),
            socket: self.socket(),
            namespace: self.namespace.clone(),
        }
    }

    /// Stops containerd (SIGTERM, then SIGKILL after 5 s); the containers' shims keep running.
    pub fn stop_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }

    /// Starts containerd again on the same socket, root and state.
    pub fn restart_daemon(&mut self) {
        self.stop_daemon();
        self.spawn_daemon();
    }

    fn cleanup_containers(&self) {
        let bound = Duration::from_secs(10);
        let tasks = run_bounded(self.ctr().args(["task", "ls", "-q"]), bound);
        for id in String::from_utf8_lossy(&tasks.stdout).lines().map(str::trim).filter(|l| !l.is_empty()) {
            let _ = run_bounded(self.ctr().args(["task", "kill", "-s", "KILL", id]), bound);
        }
        let containers = run_bounded(self.ctr().args(["containers", "ls", "-q"]), bound);
        for id in String::from_utf8_lossy(&containers.stdout).lines().map(str::trim).filter(|l| !l.is_empty()) {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let o = run_bounded(self.ctr().args(["task", "rm", "-f", id]), bound);
                let gone = o.status.success() || text(&o).contains("not found");
                if gone || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = run_bounded(self.ctr().args(["containers", "rm", id]), bound);
        }
        let _ = run_bounded(self.ctr().args(["images", "rm", BUSYBOX]), bound);
    }
}

fn ctr_cmd(socket: &Path, namespace: &str) -> Command {
    let mut c = Command::new("ctr");
    c.arg("--address").arg(socket).arg("--namespace").arg(namespace);
    c
}

fn stop_child(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl RunningContainer {
    /// The host PID of the container's init process.
    pub fn pid(&self) -> u32 {
        let o = run_bounded(ctr_cmd(&self.socket, &self.namespace).args(["task", "ls"]), Duration::from_secs(10));
        let out = String::from_utf8_lossy(&o.stdout);
        out.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(self.id.as_str())).then(|| w.next()).flatten()
            })
            .find_map(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("task {} not in `ctr task ls`: {}", self.id, text(&o)))
    }

    /// Runs CMD in the container (`ctr task exec`) and waits (≤ 30 s); returns its stdout.
    pub fn exec(&self, cmd: &[&str]) -> String {
        let exec_id = format!("e{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let o = run_bounded(
            ctr_cmd(&self.socket, &self.namespace)
                .args(["task", "exec", "--exec-id", &exec_id, &self.id])
                .args(cmd),
            Duration::from_secs(30),
        );
        assert!(o.status.success(), "exec {cmd:?} in {}: {}", self.id, text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Kills the container's task (SIGKILL) and deletes it (≤ 10 s).
    pub fn kill(&self) {
        let c = || ctr_cmd(&self.socket, &self.namespace);
        let _ = run_bounded(c().args(["task", "kill", "-s", "KILL", &self.id]), Duration::from_secs(10));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let o = run_bounded(c().args(["task", "rm", "-f", &self.id]), Duration::from_secs(10));
            if o.status.success() || text(&o).contains("not found") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the task and removes the container.
    pub fn remove(&self) {
        self.kill();
        let _ = run_bounded(
            ctr_cmd(&self.socket, &self.namespace).args(["containers", "rm", &self.id]),
            Duration::from_secs(10),
        );
    }
}

/// Mount points under `dir` (deepest first), from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v
}

/// Removes a cgroup directory tree, leaves first.
fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Kills processes whose command line mentions `needle` (the fixture's leftover shims).
fn kill_matching(needle: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) && pid != std::process::id() as i32 {
            // SAFETY: kill(2) with a pid read from /proc; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.cleanup_containers();
        }
        self.stop_daemon();
        kill_matching(&self.namespace);
        kill_matching(&self.dir.path().display().to_string());
        for m in mounts_under(self.dir.path()) {
            if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
                // SAFETY: umount2 with a NUL-terminated path we own.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                remove_cgroup(&h.path().join(&self.namespace));
            }
        }
        remove_cgroup(&Path::new("/sys/fs/cgroup").join(&self.namespace));
    }
}
