//! A real containerd for the container tests: Debian's containerd 1.6 with runc, one daemon per
//! fixture with its own root, state, socket and runc root in a temporary directory and its own
//! containerd namespace (`rigtest-<pid>-<n>`: cgroup paths are global), so tests run in
//! parallel without seeing each other's containers. The busybox image is built offline once
//! per process (Debian's busybox-static, `umoci`, `skopeo`) and imported with `ctr`. Drop kills
//! every task, removes containers, stops the daemon and its shims, unmounts what it mounted
//! and removes its cgroups — also when the test panics. Every step is bounded in time, and a
//! step that fails says so on stderr (which the test harness shows with a failing test) and
//! the next step still runs: Drop never panics. What a killed test process could not clean up
//! (namespaces `rigtest-<dead pid>-*`, temp dirs `rig-ctd-<dead pid>-*`) the next
//! [`Containerd::start`] removes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The image every fixture imports.
pub const BUSYBOX: &str = "docker.io/rig/busybox:latest";
/// Fixture namespaces are `rigtest-<pid>-<n>`.
const NS_PREFIX: &str = "rigtest-";
/// Fixture temp dirs are `<tmp>/rig-ctd-<pid>-<random>`.
const DIR_PREFIX: &str = "rig-ctd-";

/// Numbers the fixtures of this process (their namespaces).
static NEXT_FIXTURE: AtomicUsize = AtomicUsize::new(0);
/// Numbers `ctr task exec` processes, unique in the process.
static NEXT_EXEC: AtomicUsize = AtomicUsize::new(0);
/// Every step of the cleanup waits at most this long.
const STEP: Duration = Duration::from_secs(10);

/// A running containerd, stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Containerd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    namespace: String,
    snapshotter: &'static str,
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

/// Runs a command with a time bound (killed at the bound); its output, or why it could not run.
fn try_bounded(cmd: &mut Command, bound: Duration) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
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
    child.wait_with_output()
}

/// [`try_bounded`] for the test body: a command that cannot run fails the test.
fn run_bounded(cmd: &mut Command, bound: Duration) -> Output {
    try_bounded(cmd, bound).unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// [`try_bounded`] for cleanup: failures are reported on stderr, never panic.
fn cleanup_step(cmd: &mut Command) -> Option<Output> {
    match try_bounded(cmd, STEP) {
        Ok(o) if o.status.success() => Some(o),
        Ok(o) => {
            eprintln!("containerd fixture cleanup: {cmd:?}: {} {}", o.status, text(&o).trim());
            Some(o)
        }
        Err(e) => {
            eprintln!("containerd fixture cleanup: {cmd:?}: {e}");
            None
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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
        // Every applet this busybox has (`busybox --list`), as a link beside it.
        let list = run_bounded(Command::new("/bin/busybox").arg("--list"), Duration::from_secs(10));
        let applets = String::from_utf8_lossy(&list.stdout).into_owned();
        for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty() && *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet link");
        }
        for needed in ["sh", "echo", "sleep", "cat", "ls", "true", "id", "env"] {
            assert!(
                rootfs.join("bin").join(needed).exists(),
                "/bin/busybox has no {needed} applet (`busybox --list`: {applets:?}); the container tests need Debian's busybox-static (run ./setup.sh)"
            );
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").expect("group");
        step(&["umoci", "repack", "--image", &layout, &bundle.display().to_string()]);
        step(&[
            "umoci",
            "config",
            "--image",
            &layout,
            "--config.cmd",
            "sh",
            "--config.env",
            "PATH=/bin",
        ]);
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
        for t in [
            "containerd",
            "ctr",
            "runc",
            "containerd-shim-runc-v2",
            "umoci",
            "skopeo",
        ] {
            require(t);
        }
        reap_stale();
        let pid = std::process::id();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{pid}-"))
            .tempdir()
            .expect("containerd temp dir");
        let namespace = format!("{NS_PREFIX}{pid}-{}", NEXT_FIXTURE.fetch_add(1, Ordering::Relaxed));
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
        // runc's state: without cri, containerd takes runc options from the client only, so
        // `run` passes `--runc-root` for every container (see there).
        std::fs::create_dir_all(d.join("runc")).expect("runc root");
        let mut c = Containerd {
            child: None,
            dir,
            namespace,
            snapshotter: "overlayfs",
        };
        c.spawn_daemon();
        c.snapshotter = c.pick_snapshotter();
        c
    }

    /// overlayfs when containerd's overlayfs plugin loaded here (it tests the root's file
    /// system at start), else native.
    fn pick_snapshotter(&self) -> &'static str {
        let plugins = self.ctr_ok(&["plugins", "ls"]);
        let overlay_ok = plugins.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&"io.containerd.snapshotter.v1")
                && w.get(1) == Some(&"overlayfs")
                && w.last() == Some(&"ok")
        });
        if overlay_ok { "overlayfs" } else { "native" }
    }

    /// The snapshotter the fixture's images and containers use (`overlayfs` or `native`).
    pub fn snapshotter(&self) -> &str {
        self.snapshotter
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
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("containerd exited ({status}) before answering:\n{}", self.log());
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
        self.ctr_ok(&[
            "images",
            "import",
            "--all-platforms",
            "--snapshotter",
            self.snapshotter,
            &archive,
        ]);
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
            // Detached, the container's stdout would go to fifos nobody reads once ctr exits,
            // and a chatty container would block when they fill.
            "--null-io".into(),
            "--snapshotter".into(),
            self.snapshotter.into(),
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

    /// Kills every task of the namespace and removes its containers and the image, through
    /// the daemon (which must run); each step bounded, failures reported.
    fn cleanup_containers(&self) {
        let lines = |o: Option<Output>| -> Vec<String> {
            o.filter(|o| o.status.success())
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        for id in lines(cleanup_step(self.ctr().args(["task", "ls", "-q"]))) {
            cleanup_step(self.ctr().args(["task", "kill", "-s", "KILL", &id]));
        }
        for id in lines(cleanup_step(self.ctr().args(["containers", "ls", "-q"]))) {
            delete_task(&self.socket(), &self.namespace, &id);
            cleanup_step(self.ctr().args(["containers", "rm", &id]));
        }
        cleanup_step(self.ctr().args(["images", "rm", BUSYBOX]));
    }
}

/// Deletes a (killed) task, retrying while it is still stopping (≤ 10 s); true once it is gone.
fn delete_task(socket: &Path, namespace: &str, id: &str) -> bool {
    let deadline = Instant::now() + STEP;
    loop {
        let o = try_bounded(ctr_cmd(socket, namespace).args(["task", "rm", "-f", id]), STEP);
        if let Ok(o) = &o
            && (o.status.success() || text(o).contains("not found"))
        {
            return true;
        }
        if Instant::now() > deadline {
            let why = o.map(|o| text(&o)).unwrap_or_else(|e| e.to_string());
            eprintln!(
                "containerd fixture cleanup: task {id} in {namespace} not deleted: {}",
                why.trim()
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
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
        let o = run_bounded(
            ctr_cmd(&self.socket, &self.namespace).args(["task", "ls"]),
            Duration::from_secs(10),
        );
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
        let exec_id = format!("e{}", NEXT_EXEC.fetch_add(1, Ordering::Relaxed));
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
        cleanup_step(ctr_cmd(&self.socket, &self.namespace).args(["task", "kill", "-s", "KILL", &self.id]));
        delete_task(&self.socket, &self.namespace, &self.id);
    }

    /// Kills the task and removes the container.
    pub fn remove(&self) {
        self.kill();
        cleanup_step(ctr_cmd(&self.socket, &self.namespace).args(["containers", "rm", &self.id]));
    }
}

/// Mount points under `dir` (deepest first), from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal escapes.
fn unescape_mount_path(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|o| b[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(o) => {
                out.push(o.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Lazily unmounts everything mounted under `dir`.
fn unmount_under(dir: &Path) {
    for m in mounts_under(dir) {
        let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        // SAFETY: umount2 reads a NUL-terminated path we own; no other memory is involved.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            let e = std::io::Error::last_os_error();
            eprintln!("containerd fixture cleanup: umount {}: {e}", m.display());
        }
    }
}

/// Every cgroup directory of `namespace` in every hierarchy (v1 controllers and the v2 tree),
/// leaves first.
fn cgroup_dirs(namespace: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                }
            }
        }
        out.push(dir.to_path_buf());
    }
    let root = Path::new("/sys/fs/cgroup");
    let mut tops = vec![root.join(namespace)];
    if let Ok(hierarchies) = std::fs::read_dir(root) {
        tops.extend(hierarchies.flatten().map(|h| h.path().join(namespace)));
    }
    let mut out = Vec::new();
    for top in tops.iter().filter(|t| t.is_dir()) {
        walk(top, &mut out);
    }
    out
}

/// Kills every process left in the namespace's cgroups (a container whose shim died keeps
/// running), waits until they are gone (≤ 10 s), then removes the cgroups, leaves first.
fn remove_cgroups(namespace: &str) {
    let dirs = cgroup_dirs(namespace);
    let me = std::process::id();
    let deadline = Instant::now() + STEP;
    loop {
        let mut left = 0;
        for d in &dirs {
            // A frozen process cannot die: thaw (cgroup v1 freezer; v2 has cgroup.freeze).
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            let _ = std::fs::write(d.join("cgroup.freeze"), "0");
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if u32::try_from(pid).is_ok_and(|p| p != me) {
                    left += 1;
                    // SAFETY: kill(2) with a pid read from the fixture's own cgroup; no memory is involved.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("containerd fixture cleanup: {left} processes still in cgroups of {namespace}");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for d in &dirs {
        if let Err(e) = std::fs::remove_dir(d)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("containerd fixture cleanup: rmdir {}: {e}", d.display());
        }
    }
}

/// The containerd processes (daemon and shims: argv\[0\] is `containerd*`) of a fixture: an
/// argument is its namespace exactly (`-namespace NS`) or a path under its directory
/// (`--config DIR/config.toml`, `-address DIR/containerd.sock`). Whole arguments, so
/// `rigtest-1-1` never matches `rigtest-1-10`'s shims.
pub fn processes_of(namespace: &str, dir: &Path) -> Vec<i32> {
    matching_processes(Some(namespace), Some(dir))
}

fn matching_processes(namespace: Option<&str>, dir: Option<&Path>) -> Vec<i32> {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let mut args = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty());
            let argv0 = Path::new(std::ffi::OsStr::from_bytes(args.next()?));
            let is_containerd = argv0.file_name()?.as_bytes().starts_with(b"containerd");
            let ours = args.any(|a| {
                namespace.is_some_and(|n| a == n.as_bytes())
                    || dir.is_some_and(|d| Path::new(std::ffi::OsStr::from_bytes(a)).starts_with(d))
            });
            (is_containerd && ours).then_some(pid)
        })
        .collect()
}

/// Where containerd 1.6 puts the socket of the shim of container `id` in `namespace` of the
/// daemon at `address`: `/run/containerd/s/<sha256(address/namespace/id)>` (global, so a
/// shim that is killed leaves it behind unless someone removes it).
pub fn shim_socket(address: &Path, namespace: &str, id: &str) -> PathBuf {
    let key = address.join(namespace).join(id);
    Path::new("/run/containerd/s").join(crate::registry::hex_sha256(key.as_os_str().as_encoded_bytes()))
}

/// The socket of a running shim, from its command line (`-namespace NS -id ID -address A`).
fn socket_of_shim(pid: i32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let value = |flag: &[u8]| {
        let at = args.iter().position(|a| *a == flag)?;
        std::str::from_utf8(args.get(at + 1)?).ok()
    };
    Some(shim_socket(
        Path::new(value(b"-address")?),
        value(b"-namespace")?,
        value(b"-id")?,
    ))
}

/// SIGKILLs what [`matching_processes`] finds, waits until it is gone (≤ 10 s), and removes
/// the sockets of the shims it killed.
fn kill_processes(namespace: Option<&str>, dir: Option<&Path>) {
    let deadline = Instant::now() + STEP;
    let mut sockets = Vec::new();
    loop {
        let pids = matching_processes(namespace, dir);
        if pids.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("containerd fixture cleanup: {pids:?} ({namespace:?}, {dir:?}) outlived SIGKILL");
            break;
        }
        for pid in pids {
            sockets.extend(socket_of_shim(pid));
            // SAFETY: kill(2) with a pid read from /proc; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for s in sockets {
        if let Err(e) = std::fs::remove_file(&s)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("containerd fixture cleanup: removing shim socket {}: {e}", s.display());
        }
    }
}

/// Whether a process with this pid exists.
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// The pid in a fixture name `<prefix><pid>-…`.
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Removes what fixtures of dead test processes left (a test killed by a timeout or SIGKILL
/// runs no Drop): their daemons and shims, container processes and cgroups, mounts and temp dirs.
fn reap_stale() {
    let mut namespaces: Vec<String> = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_path_buf()];
    if let Ok(es) = std::fs::read_dir(root) {
        hierarchies.extend(es.flatten().map(|e| e.path()));
    }
    for h in hierarchies {
        let Ok(es) = std::fs::read_dir(&h) else { continue };
        for e in es.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if owner_pid(&name, NS_PREFIX).is_some_and(|p| !alive(p)) && !namespaces.contains(&name) {
                namespaces.push(name);
            }
        }
    }
    let tmp = std::env::temp_dir();
    let dirs: Vec<PathBuf> = std::fs::read_dir(&tmp)
        .map(|es| {
            es.flatten()
                .filter(|e| owner_pid(&e.file_name().to_string_lossy(), DIR_PREFIX).is_some_and(|p| !alive(p)))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    for d in &dirs {
        eprintln!(
            "containerd fixture: removing {}, left by a dead test process",
            d.display()
        );
        kill_processes(None, Some(d));
    }
    for ns in &namespaces {
        eprintln!("containerd fixture: removing namespace {ns}, left by a dead test process");
        kill_processes(Some(ns), None);
        remove_cgroups(ns);
    }
    for d in &dirs {
        unmount_under(d);
        if let Err(e) = std::fs::remove_dir_all(d)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("containerd fixture: removing {}: {e}", d.display());
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.cleanup_containers();
        }
        self.stop_daemon();
        kill_processes(Some(&self.namespace), Some(self.dir.path()));
        remove_cgroups(&self.namespace);
        unmount_under(self.dir.path());
        // The TempDir field removes the directory after this (ignoring errors).
    }
}
