//! The container enrichment stage: fills IG's `runtime.*` and `k8s.*` fields of every event
//! from its mount (or network) namespace, once per batch, and applies the run's selection.
//!
//! [`add_fields`] puts the fields into a datasource's schema when it has a `gadget_mntns_id`
//! (or `gadget_netns_id`) field; [`ContainerStage`] fills them. Per batch it looks at the
//! actor's latest [`Snapshot`] (one `watch` borrow, no lock per event) and keeps a per-namespace
//! verdict cache, so a row costs a hash lookup, and a container's strings are written into the
//! heap once per batch: the other rows of that container share them ([`Batch::share_heap`]).
//!
//! A row from a namespace nobody knows yet (a container that started a few milliseconds ago,
//! admitted in the kernel by the container hook) is *held*, not guessed: the stage asks the
//! actor to resolve the namespace and keeps such rows until the snapshot names the container,
//! the actor says it is no container, or [`HOLD_BOUND`] passes (then it counts as the host).
//! Held rows leave on the next batch or on the source's idle tick, so none is lost or stuck.
//! Host processes get empty fields, never another process's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rig_kernel::graph::{Stage, StageError};
use rig_kernel::schema::{FieldId, FieldKind, SchemaBuilder, Special};
use rig_kernel::{Batch, Schema, Value};
use tokio::sync::watch;

use super::selector::Selector;
use super::{Container, ContainersHandle, Snapshot};

/// Longest time a row of an unknown namespace is held before it counts as a host process.
pub const HOLD_BOUND: Duration = Duration::from_millis(1500);

/// The fields added, in order, with their descriptions. The first one shows in columns.
pub const FIELDS: [(&str, &str); 11] = [
    ("runtime.containerName", "Name of the container"),
    ("runtime.containerId", "ID of the container"),
    ("runtime.runtimeName", "Container runtime (containerd, runc, crun, podman)"),
    ("runtime.containerImageName", "Image of the container"),
    ("runtime.containerImageDigest", "Digest of the container's image"),
    ("k8s.namespace", "Kubernetes namespace of the pod"),
    ("k8s.podName", "Name of the pod"),
    ("k8s.containerName", "Name of the container in the pod"),
    ("k8s.podLabels", "Labels of the pod (key=value,…)"),
    ("k8s.podUid", "UID of the pod"),
    ("k8s.node", "Kubernetes node (--node-name, NODE_NAME or the host name)"),
];

/// The tag every added field carries.
pub const TAG: &str = "enrich:containers";

/// Adds the container fields to a schema under construction when it has a namespace field
/// (and does not declare them itself). Returns whether it did.
pub fn add_fields(b: &mut SchemaBuilder, has_namespace: bool) -> bool {
    if !has_namespace {
        return false;
    }
    let mut added = false;
    for (i, (name, description)) in FIELDS.iter().enumerate() {
        if b.find(name).is_some() {
            continue;
        }
        let id = b.heap(*name, FieldKind::Str);
        let f = b.field_mut(id);
        f.tags.push(TAG.to_owned());
        f.annotations.insert("description".into(), (*description).into());
        if i == 0 {
            f.annotations.insert("columns.width".into(), "20".into());
        } else {
            f.annotations.insert("columns.hidden".into(), "true".into());
        }
        added = true;
    }
    added
}

/// The field an event's container is found by: the first `gadget_mntns_id`, else the first
/// `gadget_netns_id`.
fn key_field(schema: &Schema) -> Option<(FieldId, bool)> {
    let find = |want: &Special| {
        schema
            .ids()
            .find(|id| schema.field(*id).special.as_ref() == Some(want) && schema.field(*id).derived.is_none())
    };
    find(&Special::MntnsId)
        .map(|id| (id, true))
        .or_else(|| find(&Special::NetnsId).map(|id| (id, false)))
}

/// What a namespace is, as far as this stage knows.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// A container: its rendered values are `rendered[idx]`; `selected` if the selection
    /// includes it.
    Container { idx: u32, selected: bool },
    /// A host process (or a namespace nobody claimed within [`HOLD_BOUND`]).
    Host,
    /// Not known yet: rows are held until this instant.
    Unknown { until: Instant },
}

/// A container's values in [`FIELDS`] order, and the row of the current batch that holds them.
#[derive(Debug)]
struct Rendered {
    values: [String; 11],
    /// Batch stamp when `first_row` was written.
    stamp: u64,
    first_row: usize,
}

/// A hasher for namespace inodes: they are kernel-assigned, never attacker-chosen keys, so a
/// multiply is enough (SipHash costs more than the rest of a row's enrichment).
#[derive(Debug, Default, Clone, Copy)]
struct InodeHasher(u64);

impl std::hash::Hasher for InodeHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type InodeMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<InodeHasher>>;

/// Answers of the actor's fallback resolution, shared with the tasks that ask it.
type Answers = Arc<Mutex<HashMap<u64, bool>>>;

/// Fills the container fields and drops rows the selection excludes.
pub struct ContainerStage {
    snapshot_rx: watch::Receiver<Arc<Snapshot>>,
    snapshot: Arc<Snapshot>,
    handle: Option<ContainersHandle>,
    selector: Arc<Selector>,
    node: String,
    host_mntns: u64,
    key: Option<(FieldId, bool)>,
    fields: Vec<Option<FieldId>>,
    verdicts: InodeMap<Verdict>,
    rendered: Vec<Rendered>,
    /// Bumped per batch, so `Rendered::first_row` needs no reset.
    stamp: u64,
    /// The container fields' heap slots as one contiguous span of the row, when they are.
    span: Option<(u32, u32)>,
    /// Namespaces for which the actor answered "no container" (`false`) or "found" (`true`).
    answers: Answers,
    held: Vec<Batch>,
    enriched: u64,
    excluded: u64,
    held_rows: u64,
}

impl std::fmt::Debug for ContainerStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerStage")
            .field("selector", &self.selector)
            .field("held", &self.held.len())
            .finish()
    }
}

impl ContainerStage {
    /// A stage reading `handle`'s snapshots, selecting with `selector`.
    pub fn new(handle: &ContainersHandle, selector: Arc<Selector>, host_mntns: u64) -> Self {
        Self::from_parts(handle.watch(), Some(handle.clone()), selector, handle.node_name().to_owned(), host_mntns)
    }

    /// A stage over any snapshot channel (benchmarks and tests); without a handle, unknown
    /// namespaces are not resolved through the actor, only waited for.
    pub fn from_parts(
        snapshot_rx: watch::Receiver<Arc<Snapshot>>,
        handle: Option<ContainersHandle>,
        selector: Arc<Selector>,
        node: String,
        host_mntns: u64,
    ) -> Self {
        let snapshot = snapshot_rx.borrow().clone();
        ContainerStage {
            snapshot_rx,
            snapshot,
            handle,
            selector,
            node,
            host_mntns,
            key: None,
            fields: Vec::new(),
            verdicts: InodeMap::default(),
            rendered: Vec::new(),
            stamp: 0,
            span: None,
            answers: Arc::default(),
            held: Vec::new(),
            enriched: 0,
            excluded: 0,
            held_rows: 0,
        }
    }

    fn render(&mut self, c: &Container) -> Verdict {
        let labels = c
            .k8s
            .pod_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let node = if c.k8s.is_pod() { self.node.clone() } else { String::new() };
        let values = [
            c.name.clone(),
            c.id.clone(),
            c.runtime.as_str().to_owned(),
            c.image_name.clone(),
            c.image_digest.clone(),
            c.k8s.namespace.clone(),
            c.k8s.pod_name.clone(),
            c.k8s.container_name.clone(),
            labels,
            c.k8s.pod_uid.clone(),
            node,
        ];
        self.rendered.push(Rendered {
            values,
            stamp: 0,
            first_row: 0,
        });
        Verdict::Container {
            idx: (self.rendered.len() - 1) as u32,
            selected: self.selector.matches(c),
        }
    }

    /// The verdict for a namespace, computing (and caching) it on first sight.
    fn verdict(&mut self, key: u64, is_mntns: bool, now: Instant) -> Verdict {
        if let Some(&v) = self.verdicts.get(&key) {
            match v {
                Verdict::Unknown { until } if now < until => {
                    if self.answers.lock().unwrap_or_else(PoisonError::into_inner).get(&key) != Some(&false) {
                        return v;
                    }
                }
                Verdict::Unknown { .. } => {}
                _ => return v,
            }
            // An unknown namespace the actor disowned, or whose wait ran out: the host.
            self.verdicts.insert(key, Verdict::Host);
            return Verdict::Host;
        }
        let found = if is_mntns {
            self.snapshot.by_mntns.get(&key)
        } else {
            self.snapshot.by_netns.get(&key)
        };
        let v = match found {
            Some(c) => {
                let c = c.clone();
                self.render(&c)
            }
            None if key == 0 || key == self.host_mntns || !is_mntns => Verdict::Host,
            None => {
                self.ask(key);
                Verdict::Unknown { until: now + HOLD_BOUND }
            }
        };
        self.verdicts.insert(key, v);
        v
    }

    /// Asks the actor, in the background, whether an unknown mount namespace is a container.
    fn ask(&self, mntns: u64) {
        let (Some(handle), Ok(rt)) = (self.handle.clone(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let answers = self.answers.clone();
        rt.spawn(async move {
            let found = handle.resolve_mntns(mntns).await.is_some();
            answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(mntns, found);
        });
    }

    /// Picks up a newer snapshot: cached verdicts are recomputed against it.
    fn refresh(&mut self) {
        if self.snapshot_rx.has_changed().unwrap_or(false) {
            self.snapshot = self.snapshot_rx.borrow_and_update().clone();
            let snap = &self.snapshot;
            let known = |k: &u64| snap.by_mntns.contains_key(k) || snap.by_netns.contains_key(k);
            // Snapshots change when containers start and stop, rarely: containers are rendered
            // again lazily; a namespace taken for the host or still unknown is looked at again
            // once the snapshot names it.
            self.verdicts.retain(|k, v| match v {
                Verdict::Container { .. } => false,
                Verdict::Host | Verdict::Unknown { .. } => !known(k),
            });
            self.rendered.clear();
        }
    }

    /// Enriches `batch` in place; rows of unknown namespaces move to `hold` (when given).
    fn apply(&mut self, batch: &mut Batch, hold: Option<&mut Batch>) {
        let Some((key_id, is_mntns)) = self.key else { return };
        let now = Instant::now();
        let keep_host = self.selector.host;
        let may_hold = hold.is_some();
        self.stamp += 1;
        let stamp = self.stamp;
        // Per row: 0 keep, 1 drop, 2 hold; allocated only when a row is not kept.
        let mut mask: Option<Vec<u8>> = None;
        let mark = |mask: &mut Option<Vec<u8>>, row: usize, m: u8, len: usize| {
            mask.get_or_insert_with(|| vec![0; len])[row] = m;
        };
        let len = batch.len();
        let mut last: Option<(u64, Verdict)> = None;
        for row in 0..len {
            let key = match batch.value(row, key_id) {
                Value::U64(v) => v,
                Value::I64(v) => v as u64,
                _ => 0,
            };
            let v = match last {
                Some((lk, v)) if lk == key => v,
                _ => {
                    let v = self.verdict(key, is_mntns, now);
                    last = Some((key, v));
                    v
                }
            };
            match v {
                Verdict::Host => {
                    if !keep_host {
                        mark(&mut mask, row, 1, len);
                        self.excluded += 1;
                    }
                }
                Verdict::Container { selected: false, .. } => {
                    mark(&mut mask, row, 1, len);
                    self.excluded += 1;
                }
                Verdict::Container { idx, selected: true } => {
                    self.enriched += 1;
                    let r = &mut self.rendered[idx as usize];
                    if r.stamp == stamp {
                        match self.span {
                            Some((start, n)) => batch.share_heap_span(r.first_row, row, start, n),
                            None => {
                                for f in self.fields.iter().flatten() {
                                    batch.share_heap(r.first_row, row, *f);
                                }
                            }
                        }
                    } else {
                        for (f, text) in self.fields.iter().zip(r.values.iter()) {
                            if let Some(f) = f {
                                batch.set_heap(row, *f, text.as_bytes());
                            }
                        }
                        r.stamp = stamp;
                        r.first_row = row;
                    }
                }
                Verdict::Unknown { .. } => {
                    if may_hold {
                        mark(&mut mask, row, 2, len);
                    }
                }
            }
        }
        let Some(mask) = mask else { return };
        if let Some(h) = hold
            && mask.contains(&2)
        {
            let mut copy = batch.clone();
            let mut i = 0;
            copy.retain(|_, _| {
                i += 1;
                mask[i - 1] == 2
            });
            self.held_rows += copy.len() as u64;
            h.append(&copy);
        }
        let mut i = 0;
        batch.retain(|_, _| {
            i += 1;
            mask[i - 1] == 0
        });
    }

    /// Re-examines held rows: the decided ones are returned (enriched or dropped), the rest
    /// stay held.
    fn release(&mut self) -> Option<Batch> {
        if self.held.is_empty() {
            return None;
        }
        let mut out: Option<Batch> = None;
        for mut b in std::mem::take(&mut self.held) {
            let mut still = Batch::with_capacity(b.schema().clone(), 0);
            self.apply(&mut b, Some(&mut still));
            if !still.is_empty() {
                self.held.push(still);
            }
            match &mut out {
                Some(o) => o.append(&b),
                None => out = Some(b),
            }
        }
        out
    }
}

impl Stage for ContainerStage {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        self.key = key_field(input);
        self.fields = FIELDS.iter().map(|(name, _)| input.find(name)).collect();
        self.span = slot_span(input, &self.fields);
        Ok(input.clone())
    }

    fn process(&mut self, mut batch: Batch) -> Result<Option<Batch>, StageError> {
        if self.key.is_none() {
            return Ok(Some(batch));
        }
        self.refresh();
        let released = self.release();
        let mut hold = Batch::with_capacity(batch.schema().clone(), 0);
        self.apply(&mut batch, Some(&mut hold));
        if !hold.is_empty() {
            self.held.push(hold);
        }
        Ok(Some(match released {
            Some(mut r) => {
                r.append(&batch);
                r
            }
            None => batch,
        }))
    }

    fn finish(&mut self) -> Result<Option<Batch>, StageError> {
        // End of the run: what is still unknown is decided now (as the host, if nobody claimed
        // it), so nothing held is lost.
        self.refresh();
        let mut out: Option<Batch> = None;
        for mut b in std::mem::take(&mut self.held) {
            for v in self.verdicts.values_mut() {
                if let Verdict::Unknown { .. } = v {
                    *v = Verdict::Host;
                }
            }
            self.apply(&mut b, None);
            match &mut out {
                Some(o) => o.append(&b),
                None => out = Some(b),
            }
        }
        Ok(out)
    }

    fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        [
            ("containers.enriched".to_owned(), self.enriched),
            ("containers.excluded".to_owned(), self.excluded),
            ("containers.held".to_owned(), self.held_rows),
        ]
        .into_iter()
        .collect()
    }
}

/// The byte span of the row holding all the fields' heap slots, when they are contiguous and
/// in order (they are when [`add_fields`] added them all).
fn slot_span(schema: &Schema, fields: &[Option<FieldId>]) -> Option<(u32, u32)> {
    let mut slots = Vec::with_capacity(fields.len());
    for f in fields {
        match schema.field((*f)?).storage {
            rig_kernel::Storage::Heap { slot } => slots.push(slot),
            rig_kernel::Storage::Inline { .. } => return None,
        }
    }
    let first = *slots.first()?;
    let contiguous = slots.iter().enumerate().all(|(i, s)| *s == first + 8 * i as u32);
    contiguous.then(|| (first, 8 * slots.len() as u32))
}

/// Two stages run one after the other inside one node (the enricher before the formatter), so
/// enrichment costs no extra hop of the graph.
pub struct Then {
    first: Box<dyn Stage>,
    second: Box<dyn Stage>,
}

impl std::fmt::Debug for Then {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Then")
    }
}

impl Then {
    /// `first`, then `second`.
    pub fn new(first: Box<dyn Stage>, second: Box<dyn Stage>) -> Self {
        Then { first, second }
    }

    /// Puts `first` in front of the stage in `slot`.
    pub fn prepend(slot: &mut Box<dyn Stage>, first: Box<dyn Stage>) {
        let second = std::mem::replace(slot, Box::new(Pass));
        *slot = Box::new(Then::new(first, second));
    }
}

/// Forwards batches unchanged (a placeholder while stages are rearranged).
struct Pass;

impl Stage for Pass {
    fn process(&mut self, batch: Batch) -> Result<Option<Batch>, StageError> {
        Ok(Some(batch))
    }
}

impl Stage for Then {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        let mid = self.first.init(input)?;
        self.second.init(&mid)
    }

    fn process(&mut self, batch: Batch) -> Result<Option<Batch>, StageError> {
        match self.first.process(batch)? {
            Some(b) => self.second.process(b),
            None => Ok(None),
        }
    }

    fn finish(&mut self) -> Result<Option<Batch>, StageError> {
        let tail = match self.first.finish()? {
            Some(b) if !b.is_empty() => self.second.process(b)?,
            _ => None,
        };
        let last = self.second.finish()?;
        Ok(match (tail, last) {
            (Some(mut a), Some(b)) => {
                a.append(&b);
                Some(a)
            }
            (a, b) => a.or(b),
        })
    }

    fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        let mut c = self.first.counters();
        c.extend(self.second.counters());
        c
    }

    fn done(&self) -> bool {
        self.second.done()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::containers::{K8sMeta, RuntimeName};

    fn schema() -> Arc<Schema> {
        let mut b = SchemaBuilder::new("exec", 8);
        let id = b.inline("mntns_id", FieldKind::U64, 0, 8);
        b.field_mut(id).special = Some(Special::MntnsId);
        assert!(add_fields(&mut b, true));
        b.build().unwrap()
    }

    fn container(name: &str, mntns: u64, labels: &[(&str, &str)]) -> Arc<Container> {
        Arc::new(Container {
            id: format!("{name}-0123456789"),
            name: name.into(),
            runtime: RuntimeName::Containerd,
            runtime_namespace: "default".into(),
            image_name: "docker.io/rig/busybox:latest".into(),
            image_digest: "sha256:abc".into(),
            pid: 10,
            mntns,
            netns: mntns + 1000,
            labels: BTreeMap::new(),
            k8s: K8sMeta {
                pod_labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                pod_name: if labels.is_empty() { String::new() } else { "cart-7d9".into() },
                ..K8sMeta::default()
            },
            exited_at: None,
        })
    }

    fn snapshot(cs: &[Arc<Container>]) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            by_mntns: cs.iter().map(|c| (c.mntns, c.clone())).collect(),
            by_netns: HashMap::new(),
            generation: 1,
            synced: true,
        })
    }

    fn batch(schema: &Arc<Schema>, keys: &[u64]) -> Batch {
        let mut b = Batch::with_capacity(schema.clone(), keys.len());
        for k in keys {
            b.push_record(&k.to_le_bytes());
        }
        b
    }

    fn column(b: &Batch, name: &str) -> Vec<String> {
        let id = b.schema().find(name).unwrap();
        (0..b.len())
            .map(|r| String::from_utf8_lossy(b.bytes(r, id)).into_owned())
            .collect()
    }

    const HOST: u64 = 99;

    #[test]
    fn rows_get_their_container_and_host_rows_stay_empty() {
        let s = schema();
        let (_tx, rx) = watch::channel(snapshot(&[container("web", 1, &[]), container("db", 2, &[("app", "cart")])]));
        let mut st = ContainerStage::from_parts(rx, None, Arc::new(Selector::default()), "node1".into(), HOST);
        st.init(&s).unwrap();
        let out = st.process(batch(&s, &[1, 2, 1, HOST, 1])).unwrap().unwrap();
        assert_eq!(column(&out, "runtime.containerName"), ["web", "db", "web", "", "web"]);
        assert_eq!(column(&out, "runtime.runtimeName"), ["containerd", "containerd", "containerd", "", "containerd"]);
        assert_eq!(column(&out, "k8s.podLabels")[1], "app=cart");
        assert_eq!(column(&out, "k8s.node"), ["", "node1", "", "", ""], "the node is a pod's only");
    }

    #[test]
    fn a_selection_drops_the_others_and_holds_unknown_rows_until_named() {
        let s = schema();
        let (tx, rx) = watch::channel(snapshot(&[container("web", 1, &[]), container("db", 2, &[])]));
        let sel = Selector {
            container_name: Some("late".into()),
            host: false,
            ..Selector::default()
        };
        let mut st = ContainerStage::from_parts(rx, None, Arc::new(sel), String::new(), HOST);
        st.init(&s).unwrap();
        let out = st.process(batch(&s, &[1, 7, 2, HOST, 7])).unwrap().unwrap();
        assert!(out.is_empty(), "web, db and the host are not selected; 7 is unknown: held");
        // The container appears in the snapshot: the next (even empty) batch releases its rows.
        tx.send(snapshot(&[container("web", 1, &[]), container("late", 7, &[])])).unwrap();
        let out = st.process(batch(&s, &[])).unwrap().unwrap();
        assert_eq!(column(&out, "runtime.containerName"), ["late", "late"]);
        assert_eq!(st.counters()["containers.held"], 2);
    }

    #[test]
    fn unknown_rows_still_held_at_the_end_are_not_lost() {
        let s = schema();
        let (_tx, rx) = watch::channel(snapshot(&[]));
        let mut st = ContainerStage::from_parts(rx, None, Arc::new(Selector::default()), String::new(), HOST);
        st.init(&s).unwrap();
        assert!(st.process(batch(&s, &[5, 5])).unwrap().unwrap().is_empty());
        let out = st.finish().unwrap().unwrap();
        assert_eq!(column(&out, "runtime.containerName"), ["", ""]);
    }
}
