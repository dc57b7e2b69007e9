//! Every attach type this kernel has, end to end on the real kernel, each against a ground truth
//! the test makes itself: a socket filter seeing a UDP packet to a port the test chose, tc
//! classifiers seeing traffic on a veth into a private netns, a uprobe and a uretprobe on libc's
//! `getpid` called by a thread of this test, a perf-event program sampling a busy thread of this
//! test, `.kconfig` externs read back, and each hook this kernel cannot give failing with an
//! error that names it.

use std::net::UdpSocket;
use std::os::unix::fs::MetadataExt as _;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rig_tests::{RigOutput, RigRun, repo, require_kernel};

fn gadget(name: &str) -> String {
    repo().join("tests/gadgets").join(name).to_string_lossy().into_owned()
}

/// Starts `rig run GADGET -o json --timeout SECS EXTRA…`, waiting until it is attached.
fn start(name: &str, secs: &str, extra: &[&str]) -> RigRun {
    let g = gadget(name);
    let mut args = vec!["run", g.as_str(), "-o", "json", "--timeout", secs];
    args.extend_from_slice(extra);
    RigRun::start(&args)
}

/// Runs `work` repeatedly on a thread named `name` until the returned guard drops.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn spawn(name: &str, work: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    work();
                }
            })
            .expect("spawn worker");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn finished(run: RigRun) -> (RigOutput, Vec<serde_json::Value>) {
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    (out, events)
}

fn own_netns() -> u64 {
    std::fs::metadata("/proc/self/ns/net").expect("netns").ino()
}

/// A free UDP port (bound, then released).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn a_socket_filter_sees_a_udp_packet_to_a_port_the_test_chose() {
    require_kernel();
    let port = free_port();
    let run = start("attach_socket", "3", &["--port", &port.to_string()]);
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let _w = Worker::spawn("rig-udp-send", move || {
        let _ = sender.send_to(b"rig", ("127.0.0.1", port));
        std::thread::sleep(Duration::from_millis(100));
    });
    let (out, events) = finished(run);
    let ev = events
        .iter()
        .find(|e| e["dport"] == port)
        .unwrap_or_else(|| panic!("no packet to port {port}: {}", out.stdout));
    assert_eq!(ev["netns"], own_netns(), "the dispatcher wrote rig's netns into cb[0]");
    assert!(
        events.iter().all(|e| e["dport"] == port),
        "the filter only reports the chosen port"
    );
    // The socket enricher knows the sender: this test bound the socket (bind's exit recorded it),
    // so the outgoing copy's local socket belongs to this process. Nobody listens on `port`, so
    // the incoming copy's lookup finds no owner.
    let sent = events
        .iter()
        .find(|e| e["ingress"] == 0)
        .unwrap_or_else(|| panic!("no outgoing copy: {}", out.stdout));
    assert_eq!(sent["owner_pid"], std::process::id(), "the owner is this test: {sent}");
    assert!(
        events.iter().filter(|e| e["ingress"] == 1).all(|e| e["owner_pid"] == 0),
        "no owner for a port nobody bound: {}",
        out.stdout
    );
}

/// A private network namespace joined to this one by a veth pair; removed on drop.
struct VethNetns {
    name: String,
    host_if: String,
    host_ip: String,
    ns_ip: String,
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip");
    assert!(st.success(), "ip {args:?} failed");
}

impl VethNetns {
    fn create() -> Self {
        let pid = std::process::id();
        let (a, b) = ((pid >> 8) % 250, pid % 250);
        let me = Self {
            name: format!("rig-attach-{pid}"),
            host_if: format!("rga{pid}"),
            host_ip: format!("10.{}.{a}.{}", 200 + (b % 50), 1),
            ns_ip: format!("10.{}.{a}.{}", 200 + (b % 50), 2),
        };
        let peer = format!("rgb{pid}");
        ip(&["netns", "add", &me.name]);
        ip(&["link", "add", &me.host_if, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &me.name]);
        ip(&["addr", "add", &format!("{}/30", me.host_ip), "dev", &me.host_if]);
        ip(&["link", "set", &me.host_if, "up"]);
        ip(&["-n", &me.name, "addr", "add", &format!("{}/30", me.ns_ip), "dev", &peer]);
        ip(&["-n", &me.name, "link", "set", &peer, "up"]);
        ip(&["-n", &me.name, "link", "set", "lo", "up"]);
        me
    }

    fn host_ifindex(&self) -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", self.host_if))
            .expect("ifindex")
            .trim()
            .parse()
            .expect("ifindex number")
    }
}

impl Drop for VethNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

#[test]
fn tc_classifiers_see_both_directions_of_a_veth_into_a_private_netns() {
    require_kernel();
    let net = VethNetns::create();
    let port = free_port();
    // The classifiers attach to the interfaces that exist when the gadget starts.
    let run = start("attach_tc", "4", &["--port", &port.to_string()]);
    // Egress of the host end: packets from here to the namespace.
    let to_ns = UdpSocket::bind("0.0.0.0:0").expect("bind");
    let ns_ip = net.ns_ip.clone();
    let _out = Worker::spawn("rig-tc-egress", move || {
        let _ = to_ns.send_to(b"rig", (ns_ip.as_str(), port));
        std::thread::sleep(Duration::from_millis(100));
    });
    // Ingress of the host end: packets from inside the namespace to here.
    let script = format!(
        "for i in $(seq 20); do echo rig > /dev/udp/{}/{port}; sleep 0.1; done",
        net.host_ip
    );
    let st = Command::new("ip")
        .args(["netns", "exec", &net.name, "bash", "-c", &script])
        .status()
        .expect("ip netns exec");
    assert!(st.success());
    let (out, events) = finished(run);
    let ifindex = net.host_ifindex();
    let on_veth: Vec<_> = events.iter().filter(|e| e["ifindex"] == ifindex).collect();
    assert!(
        on_veth.iter().any(|e| e["ingress"] == 1 && e["dport"] == port),
        "no ingress packet on {}: {}",
        net.host_if,
        out.stdout
    );
    assert!(
        on_veth.iter().any(|e| e["ingress"] == 0 && e["dport"] == port),
        "no egress packet on {}: {}",
        net.host_if,
        out.stdout
    );
    assert!(on_veth.iter().all(|e| e["netns"] == own_netns()));
}

#[test]
fn a_uprobe_and_a_uretprobe_on_libc_getpid_report_the_calling_process() {
    require_kernel();
    let run = start("attach_uprobe", "3", &[]);
    let _w = Worker::spawn("rig-getpid", || {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() };
        std::thread::sleep(Duration::from_millis(50));
    });
    let (out, events) = finished(run);
    let me = u64::from(std::process::id());
    let entry = events
        .iter()
        .find(|e| e["is_return"] == 0)
        .unwrap_or_else(|| panic!("no uprobe event: {}", out.stdout));
    assert_eq!(entry["pid"], me);
    let ret = events
        .iter()
        .find(|e| e["is_return"] == 1)
        .unwrap_or_else(|| panic!("no uretprobe event: {}", out.stdout));
    assert_eq!(ret["pid"], me);
    assert_eq!(ret["ret"], me, "the uretprobe read getpid's return value");
}

#[test]
fn a_perf_event_program_samples_a_busy_thread_of_this_test() {
    require_kernel();
    let run = start("attach_perf", "3", &[]);
    let _w = Worker::spawn("rig-busy", || {
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
    });
    let (out, events) = finished(run);
    let me = u64::from(std::process::id());
    let mine = events.iter().filter(|e| e["pid"] == me).count();
    // 49 Hz for ~3 s on a thread that never sleeps: well over 20 samples.
    assert!(mine >= 20, "only {mine} samples of the busy thread: {}", out.stdout);
}

#[test]
fn kconfig_externs_read_back_the_running_kernel() {
    require_kernel();
    let run = start("attach_kconfig", "3", &[]);
    let st = Command::new("uname").arg("-r").output().expect("uname");
    let release = String::from_utf8_lossy(&st.stdout).trim().to_owned();
    let (out, events) = finished(run);
    let ev = events.first().unwrap_or_else(|| panic!("no event: {}", out.stdout));
    let mut v = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b, c) = (v.next().unwrap_or(0), v.next().unwrap_or(0), v.next().unwrap_or(0));
    assert_eq!(
        ev["version"],
        (a << 16) | (b.min(255) << 8) | c.min(255),
        "release {release}"
    );
    let cfg = Command::new("gzip")
        .args(["-dc", "/proc/config.gz"])
        .output()
        .expect("gzip");
    let cfg = String::from_utf8_lossy(&cfg.stdout).into_owned();
    let hz: u64 = cfg
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ="))
        .and_then(|v| v.parse().ok())
        .expect("CONFIG_HZ");
    assert_eq!(ev["hz"], hz);
    assert_eq!(ev["bpf_syscall"], 1);
    assert_eq!(ev["missing"], 0, "a weak extern the kernel does not set reads 0");
}

fn fails_naming(name: &str, section: &str, phrase: &str) {
    let g = gadget(name);
    let out = rig_tests::rig(&["run", &g, "--timeout", "2"]);
    assert!(!out.status.success(), "{name} ran: {}", out.stdout);
    assert!(out.stderr.contains(section), "{name}: {}", out.stderr);
    assert!(out.stderr.contains(phrase), "{name}: {}", out.stderr);
}

#[test]
fn hooks_this_kernel_cannot_give_fail_with_errors_naming_them() {
    require_kernel();
    fails_naming(
        "attach_lsm",
        "lsm/binder_set_context_mgr",
        "lsm programs are refused by this kernel",
    );
    fails_naming(
        "attach_fentry",
        "fentry/do_sys_openat2",
        "fentry programs are refused by this kernel",
    );
    fails_naming("kprobe_hook", "kprobe/do_sys_openat2", "kprobes are not available");
    fails_naming(
        "attach_nolib",
        "uprobe/librignosuchlib:rig_missing_function",
        "library librignosuchlib not found (searched /etc/ld.so.cache",
    );
}
