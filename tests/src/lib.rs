//! Shared fixtures for rig's end-to-end tests: finding the `rig` binary, insisting on root, and
//! running rig as a child process that is killed when the test ends, however it ends.
//!
//! These tests exercise the real kernel. They never skip: without root (or BTF) they fail with
//! a message that says why, in CI and everywhere else.

pub mod containerd;
pub mod registry;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// The `rig` binary built alongside the tests (`$RIG_BIN` overrides).
pub fn rig_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RIG_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/rig
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("rig");
    assert!(
        bin.is_file(),
        "rig binary not found at {} (build it with cargo build -p rig)",
        bin.display()
    );
    bin
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Fails the test unless it runs as root with kernel BTF: these tests load eBPF for real.
pub fn require_kernel() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid,
        0,
        "end-to-end tests load eBPF programs and must run as root (CI={:?})",
        std::env::var("CI").ok()
    );
    assert!(
        Path::new("/sys/kernel/btf/vmlinux").is_file(),
        "end-to-end tests need kernel BTF at /sys/kernel/btf/vmlinux"
    );
}

/// A running `rig`, killed on drop.
#[derive(Debug)]
pub struct RigRun {
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
}

/// What a finished run printed.
#[derive(Debug)]
pub struct RigOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl RigOutput {
    /// stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(rig_bin());
    cmd.args(args)
        .env("RUST_LOG", "rig_host=info,warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `rig ARGS` to completion.
pub fn rig(args: &[&str]) -> RigOutput {
    rig_env(args, &[])
}

/// Runs `rig ARGS` to completion with extra environment variables.
pub fn rig_env(args: &[&str], env: &[(&str, &str)]) -> RigOutput {
    let out = command(args).envs(env.iter().copied()).output().expect("spawn rig");
    RigOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl RigRun {
    /// Starts `rig ARGS` and waits until its gadget is attached (or it exits).
    pub fn start(args: &[&str]) -> RigRun {
        let mut child = command(args).spawn().expect("spawn rig");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut run = RigRun {
            child: Some(child),
            stderr: rx,
            stderr_seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match run.stderr.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let ready = line.contains("gadget attached");
                    run.stderr_seen.push(line);
                    if ready {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(Ok(Some(_))) = run.child.as_mut().map(Child::try_wait) {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "rig did not attach within 120 s: {:?}",
                        run.stderr_seen
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        run
    }

    /// The process id, while rig runs (to send it signals).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits for rig to exit (it must have a --timeout) and collects its output.
    pub fn wait(mut self) -> RigOutput {
        let mut child = self.child.take().expect("child");
        let mut stdout = String::new();
        if let Some(mut s) = child.stdout.take() {
            s.read_to_string(&mut stdout).expect("read stdout");
        }
        let status = child.wait().expect("wait rig");
        let mut stderr = std::mem::take(&mut self.stderr_seen);
        stderr.extend(self.stderr.try_iter());
        RigOutput {
            status,
            stdout,
            stderr: stderr.join("\n"),
        }
    }
}

impl Drop for RigRun {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `rig run GADGET -o json --timeout 3 EXTRA…` (see [`RigRun::start`]).
pub fn run_json(gadget: &str, extra: &[&str]) -> RigRun {
    let mut args = vec!["run", gadget, "-o", "json", "--timeout", "3"];
    args.extend_from_slice(extra);
    RigRun::start(&args)
}

/// `rig operator new --lang LANG NAME --dir DIR`, which must succeed.
pub fn operator_new(lang: &str, name: &str, dir: &Path) {
    let out = rig(&["operator", "new", "--lang", lang, name, "--dir", utf8(dir)]);
    assert!(
        out.status.success(),
        "operator new --lang {lang} {name}: {}",
        out.stderr
    );
}

/// `rig operator build PROJECT [-o OUT]` with extra environment variables, which must succeed;
/// a failure names the script that installs the guest toolchains.
pub fn operator_build(project: &Path, out: Option<&Path>, env: &[(&str, &str)]) -> RigOutput {
    let mut args = vec!["operator", "build", utf8(project)];
    if let Some(o) = out {
        args.extend(["-o", utf8(o)]);
    }
    let built = rig_env(&args, env);
    assert!(
        built.status.success(),
        "rig operator build {} (operators/examples/install-toolchains.sh installs the guest toolchains):\n{}\n{}",
        project.display(),
        built.stdout,
        built.stderr
    );
    built
}

/// A path as the `&str` of a command-line argument (test paths are UTF-8).
pub fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A tag no other process on the host uses, for a test to mark its own events with.
pub fn tag(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("rig-{what}-{}-{nanos}", std::process::id())
}

/// Runs a command to completion, ignoring its output.
pub fn sh(cmd: &str, args: &[&str]) {
    let _ = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs `/bin/true` in a loop until dropped, so trace_exec always has events.
#[derive(Debug)]
pub struct Execs(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Execs {
    /// Starts the loop.
    pub fn start() -> Execs {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let _ = Command::new("/bin/true").status();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Execs(stop, Some(t))
    }
}

impl Drop for Execs {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}
