//! How long rig takes to know 100 containers: a private containerd (the test fixture) runs 100
//! busybox containers; then, five times each, a fresh containers actor is spawned and timed
//! until its first snapshot is synced with all 100 (connect, list namespaces, containers, tasks,
//! images, and read each init's namespaces from /proc), and `rig list-containers -o json` is timed
//! from launch to exit. The peer, in the same run: `ctr containers ls` plus `ctr task ls`, the two
//! calls a shell user makes to get the same table (without namespaces or images).
//!
//! `cargo build --release -p rig && cargo bench -p rig-tests --bench list_containers` (as root). Goal: ≤ 100 ms for 100 containers.

use std::process::Command;
use std::time::{Duration, Instant};

use rig_host::containers::{ContainersConfig, RuntimeName};
use rig_tests::containerd::Containerd;

const CONTAINERS: usize = 100;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let c = Containerd::start();
    c.import_busybox();
    let started = Instant::now();
    let mut running = Vec::with_capacity(CONTAINERS);
    for i in 0..CONTAINERS {
        running.push(c.run(&format!("c{i:03}"), &[("bench", "yes")], &["sleep", "600"]));
    }
    eprintln!("started {CONTAINERS} containers in {:.1?}", started.elapsed());
    let socket = c.socket();

    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut actor = Vec::new();
    for _ in 0..RUNS {
        let config = ContainersConfig {
            runtimes: vec![RuntimeName::Containerd],
            containerd_socket: socket.clone(),
            ..ContainersConfig::default()
        };
        let took = rt.block_on(async {
            let t = Instant::now();
            let handle = rig_host::containers::spawn(config);
            assert!(handle.wait_synced(Duration::from_secs(10)).await, "not synced in 10 s");
            let n = handle.snapshot().running().len();
            let took = t.elapsed();
            assert_eq!(n, CONTAINERS, "the actor knows every container");
            took
        });
        actor.push(took);
    }

    let rig = rig_tests::rig_bin();
    let sock = socket.display().to_string();
    let mut cli = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = Command::new(&rig)
            .args(["list-containers", "-o", "json", "--runtimes", "containerd", "--containerd-socketpath", &sock])
            .output()
            .expect("run rig list-containers");
        cli.push(t.elapsed());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let n = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("\"c0")).count();
        assert_eq!(n, CONTAINERS, "rig list-containers prints every container");
    }

    let mut ctr = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for what in ["containers", "tasks"] {
            let o = Command::new("ctr")
                .args(["--address", &sock, "--namespace", c.namespace(), what, "ls"])
                .output()
                .expect("run ctr");
            assert!(o.status.success());
        }
        ctr.push(t.elapsed());
    }

    let (a, l, p) = (median(actor), median(cli), median(ctr));
    println!("{CONTAINERS} containers, median of {RUNS}:");
    println!("  containers actor, spawn → synced snapshot: {a:.1?}");
    println!("  rig list-containers -o json (process start to exit): {l:.1?}");
    println!("  ctr containers ls + ctr tasks ls: {p:.1?}");
    println!("  ratio rig list-containers / ctr: {:.2}", l.as_secs_f64() / p.as_secs_f64());
    drop(running);
}
