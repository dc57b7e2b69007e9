//! ns/event of container enrichment (`ContainerStage::process`) with 100 containers known,
//! next to the same batches without enrichment (the stage the run uses otherwise: none).
//!
//! `cargo bench -p rig-host --bench containers` — plain `Instant` timing, median of 7 runs.
//! Batches of 512 rows (the source's batch size) of a trace_exec-like schema with the eleven
//! container fields. Three mixes: every row from another of the 100 containers (the worst
//! case: each container's strings written once per batch, the other rows share them), bursts
//! of one container at a time (what real workloads produce), and host processes only (the
//! fields stay empty). The baseline clones the same batch and passes it on unchanged; the
//! enrichment cost is the difference. Goal: ≤ 30 ns/event.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rig_host::containers::enrich::{self, ContainerStage};
use rig_host::containers::selector::Selector;
use rig_host::containers::{Container, K8sMeta, RuntimeName, Snapshot};
use rig_kernel::{Batch, FieldKind, Schema, SchemaBuilder, Special, Stage};
use tokio::sync::watch;

const ROWS: usize = 512;
const CONTAINERS: u64 = 100;
const HOST: u64 = 4_026_531_841;

fn schema() -> Arc<Schema> {
    let mut b = SchemaBuilder::new("exec", 320);
    b.inline("timestamp_raw", FieldKind::U64, 0, 8);
    let m = b.inline("proc.mntns_id", FieldKind::U64, 8, 8);
    b.field_mut(m).special = Some(Special::MntnsId);
    b.inline("proc.comm", FieldKind::Str, 16, 16);
    b.inline("proc.pid", FieldKind::U32, 32, 4);
    b.inline("exepath", FieldKind::Str, 64, 256);
    enrich::add_fields(&mut b, true);
    b.build().expect("schema")
}

fn snapshot() -> Arc<Snapshot> {
    let mut by_mntns = HashMap::new();
    for i in 0..CONTAINERS {
        let pod = i % 2 == 0;
        let c = Arc::new(Container {
            id: format!("{:064x}", i * 7919 + 1),
            name: format!("app-{i}"),
            runtime: RuntimeName::Containerd,
            runtime_namespace: "k8s.io".into(),
            image_name: format!("registry.example/team/service-{i}:1.2.3"),
            image_digest: format!("sha256:{:064x}", i * 104_729 + 3),
            pid: 10_000 + i as u32,
            mntns: 4_026_532_000 + i,
            netns: 4_026_533_000 + i,
            labels: BTreeMap::new(),
            k8s: if pod {
                K8sMeta {
                    namespace: "shop".into(),
                    pod_name: format!("cart-{i}-7d9f8c6b5-x2x4z"),
                    pod_uid: format!("{:08x}-aaaa-bbbb-cccc-{:012x}", i, i),
                    container_name: format!("app-{i}"),
                    pod_labels: [("app".to_string(), format!("cart-{i}")), ("tier".into(), "web".into())].into(),
                }
            } else {
                K8sMeta::default()
            },
            exited_at: None,
        });
        by_mntns.insert(c.mntns, c);
    }
    Arc::new(Snapshot {
        by_mntns,
        by_netns: HashMap::new(),
        generation: 1,
        synced: true,
    })
}

fn batch(schema: &Arc<Schema>, key: impl Fn(usize) -> u64) -> Batch {
    let mut b = Batch::with_capacity(schema.clone(), ROWS);
    for i in 0..ROWS {
        let mut rec = vec![0u8; 320];
        rec[0..8].copy_from_slice(&(i as u64).to_le_bytes());
        rec[8..16].copy_from_slice(&key(i).to_le_bytes());
        rec[16..19].copy_from_slice(b"cat");
        b.push_record(&rec);
    }
    b
}

/// Median ns/event over 7 runs of ~0.2 s each of `f` on clones of `input`.
fn measure(input: &Batch, mut f: impl FnMut(Batch) -> Option<Batch>) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(200) {
            black_box(f(input.clone()));
            n += input.len() as u64;
        }
        runs.push(start.elapsed().as_nanos() as f64 / n as f64);
    }
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn main() {
    let schema = schema();
    let (_tx, rx) = watch::channel(snapshot());
    let mixes: [(&str, Batch); 3] = [
        (
            "100 containers, round robin",
            batch(&schema, |i| 4_026_532_000 + (i as u64 % CONTAINERS)),
        ),
        (
            "100 containers, bursts of 64",
            batch(&schema, |i| 4_026_532_000 + ((i / 64) as u64 * 13 % CONTAINERS)),
        ),
        ("host processes only", batch(&schema, |_| HOST)),
    ];
    println!("container enrichment, {ROWS}-row batches, {CONTAINERS} containers known (ns/event, median of 7)");
    println!("{:<32} {:>10} {:>10} {:>12}", "mix", "baseline", "enriched", "enrichment");
    for (name, input) in &mixes {
        let base = measure(input, Some);
        let mut stage = ContainerStage::from_parts(rx.clone(), None, Arc::new(Selector::default()), "node-1".into(), HOST);
        stage.init(&schema).expect("init");
        let enriched = measure(input, |b| stage.process(b).expect("process"));
        println!("{name:<32} {base:>10.1} {enriched:>10.1} {:>12.1}", enriched - base);
    }
}
