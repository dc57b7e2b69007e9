//! The four "redact" example operators (Rust, Python, JavaScript, C under
//! `operators/examples/`) run through rig's WebAssembly host on the same recorded batches and
//! must answer byte for byte the same — rows and heap — and correctly.
//!
//! The components are built by `operators/examples/build.sh` (incremental: a component newer
//! than its sources is kept). `RIG_EXAMPLES_PREBUILT=1` skips the build and only expects
//! `operators/examples/out/redact-{rust,python,js,c}.wasm`. A missing guest toolchain fails the
//! test, naming the tool: `operators/examples/install-toolchains.sh` installs them all.
//!
//! Run: `cargo test -p rig-host --test redact_examples`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rig_host::wasm::{OperatorHost, OperatorSource, OperatorSpec, WasmStage};
use rig_kernel::{Batch, FieldId, FieldKind, Schema, SchemaBuilder, Stage, Storage};

const LANGS: [&str; 4] = ["rust", "python", "js", "c"];
const REDACTED: &[u8] = b"[redacted]";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Builds (or finds) the four components, once per test process.
fn components() -> &'static [(&'static str, PathBuf)] {
    static BUILT: OnceLock<Vec<(&'static str, PathBuf)>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let examples = repo().join("operators/examples");
        let prebuilt = std::env::var_os("RIG_EXAMPLES_PREBUILT").is_some_and(|v| v != "0" && !v.is_empty());
        if !prebuilt {
            let out = Command::new("bash")
                .arg(examples.join("build.sh"))
                .output()
                .expect("run operators/examples/build.sh");
            assert!(
                out.status.success(),
                "operators/examples/build.sh failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        LANGS
            .iter()
            .map(|lang| {
                let p = examples.join(format!("out/redact-{lang}.wasm"));
                assert!(
                    p.is_file(),
                    "{} is missing: run operators/examples/build.sh",
                    p.display()
                );
                (*lang, p)
            })
            .collect()
    })
}

fn host() -> &'static Arc<OperatorHost> {
    static HOST: OnceLock<Arc<OperatorHost>> = OnceLock::new();
    HOST.get_or_init(|| OperatorHost::new(None).expect("start the operator host"))
}

/// Field ids of the test schema.
struct Ids {
    comm: FieldId,
    fname: FieldId,
    tty: FieldId,
    fullpath: FieldId,
    args: FieldId,
}

/// A trace_open-like datasource: inline `proc.comm[16]`, `fname[256]` and a short `tty[8]`
/// (narrower than `[redacted]`), plus heap-backed `fullpath` (text) and `args` (bytes).
fn schema() -> (Arc<Schema>, Ids) {
    let mut b = SchemaBuilder::new("open", 300);
    b.inline("timestamp", FieldKind::U64, 0, 8);
    b.inline("proc.pid", FieldKind::U32, 8, 4);
    b.inline("proc.creds.uid", FieldKind::U32, 12, 4);
    let comm = b.inline("proc.comm", FieldKind::Str, 16, 16);
    let fname = b.inline("fname", FieldKind::Str, 32, 256);
    let tty = b.inline("tty", FieldKind::Str, 288, 8);
    b.inline("error", FieldKind::S32, 296, 4);
    let fullpath = b.heap("fullpath", FieldKind::Str);
    let args = b.heap("args", FieldKind::Bytes);
    let s = b.build().expect("schema");
    (
        s,
        Ids {
            comm,
            fname,
            tty,
            fullpath,
            args,
        },
    )
}

/// A small deterministic generator, so every byte of every row is "recorded" noise.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// `n` rows of noise with plausible text (and garbage after the NUL) in the text fields, and heap
/// values of varied length (some empty).
fn batch(schema: &Arc<Schema>, ids: &Ids, n: usize, seed: u64) -> Batch {
    let mut rng = Lcg(seed);
    let mut b = Batch::with_capacity(schema.clone(), n);
    let paths = [
        "/etc/passwd",
        "/proc/self/status",
        "",
        "/var/lib/some/very/long/path/name.db",
    ];
    for i in 0..n {
        let mut rec = rng.bytes(schema.raw_size as usize);
        let mut text = |id: FieldId, s: &[u8]| {
            let Storage::Inline { offset, size } = schema.field(id).storage else {
                unreachable!()
            };
            let dst = &mut rec[offset as usize..(offset + size) as usize];
            let k = s.len().min(dst.len());
            dst[..k].copy_from_slice(&s[..k]);
            if k < dst.len() {
                dst[k] = 0; // NUL, then noise
            }
        };
        text(ids.comm, format!("cat{i}").as_bytes());
        text(ids.fname, paths[i % paths.len()].as_bytes());
        text(ids.tty, if i % 2 == 0 { b"pts/12345678" } else { b"tty1" });
        b.push_record(&rec);
        let full = format!("/host{}", paths[(i + 1) % paths.len()]);
        b.set_heap(i, ids.fullpath, if i % 3 == 2 { b"" } else { full.as_bytes() });
        let args = rng.bytes(i % 7);
        b.set_heap(i, ids.args, &args);
    }
    b
}

/// The recorded batches every language gets, in order.
fn recorded(schema: &Arc<Schema>, ids: &Ids) -> Vec<Batch> {
    [1usize, 3, 64, 0, 17]
        .iter()
        .enumerate()
        .map(|(i, &n)| batch(schema, ids, n, 7 + i as u64))
        .collect()
}

/// What redacting `fields` must produce, computed here independently of the operators.
fn expected(input: &Batch, fields: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let schema = input.schema();
    let mut rows = input.rows_bytes().to_vec();
    let mut heap = input.heap_bytes().to_vec();
    let targets: Vec<Storage> = fields
        .iter()
        .map(|f| schema.field(schema.find(f).unwrap()).storage)
        .collect();
    let heap_slot = if !input.is_empty() && targets.iter().any(|t| matches!(t, Storage::Heap { .. })) {
        let at = heap.len() as u32;
        heap.extend_from_slice(REDACTED);
        [at.to_le_bytes(), (REDACTED.len() as u32).to_le_bytes()].concat()
    } else {
        Vec::new()
    };
    let rs = schema.row_size as usize;
    for r in 0..input.len() {
        let row = &mut rows[r * rs..(r + 1) * rs];
        for t in &targets {
            match *t {
                Storage::Inline { offset, size } => {
                    let mut v = REDACTED.to_vec();
                    v.resize(size as usize, 0);
                    row[offset as usize..(offset + size) as usize].copy_from_slice(&v);
                }
                Storage::Heap { slot } => row[slot as usize..slot as usize + 8].copy_from_slice(&heap_slot),
            }
        }
    }
    (rows, heap)
}

fn stage(lang: &str, path: &Path, fields: &str) -> WasmStage {
    let mut spec = OperatorSpec::new(
        format!("redact-{lang}"),
        OperatorSource::File(path.to_path_buf()),
        vec![("fields".into(), fields.into())],
    );
    // Python and JS guests are slow to start; this test is about bytes, not deadlines.
    spec.limits.deadline = std::time::Duration::from_secs(5);
    WasmStage::new(host(), spec).unwrap_or_else(|e| panic!("redact-{lang}: {e}"))
}

/// One language's answers: (rows, heap, row count) per batch.
type Answers = Vec<(Vec<u8>, Vec<u8>, usize)>;

/// Runs every language over the recorded batches with `fields`; checks each output against the
/// expectation and against the Rust one, and the `redacted` counter.
fn all_languages_agree(fields: &str) {
    let (schema, ids) = schema();
    let batches = recorded(&schema, &ids);
    let names: Vec<&str> = fields.split(',').collect();
    let mut outputs: Vec<(&str, Answers)> = Vec::new();
    for (lang, path) in components() {
        let mut st = stage(lang, path, fields);
        let out_schema = Stage::init(&mut st, &schema).unwrap_or_else(|e| panic!("redact-{lang} init: {e}"));
        assert_eq!(
            *out_schema, *schema,
            "redact-{lang}: the output schema must be the input schema"
        );
        let mut got = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            let out = st
                .process(b.clone())
                .unwrap_or_else(|e| panic!("redact-{lang} batch {i}: {e}"))
                .unwrap_or_else(|| Batch::with_capacity(schema.clone(), 0));
            let (rows, heap) = expected(b, &names);
            assert_eq!(out.len(), b.len(), "redact-{lang} batch {i}: row count");
            assert!(
                out.rows_bytes() == rows.as_slice(),
                "redact-{lang} batch {i}: rows differ from the expected"
            );
            assert!(
                out.heap_bytes() == heap.as_slice(),
                "redact-{lang} batch {i}: heap differs from the expected"
            );
            // Read back through the kernel: every redacted text field says `[redacted]` (or its
            // prefix that fits).
            for r in 0..out.len() {
                for n in &names {
                    let id = schema.find(n).unwrap();
                    let rig_kernel::Value::Str(v) = out.value(r, id) else {
                        panic!("{n} is text")
                    };
                    let cap = match schema.field(id).storage {
                        Storage::Inline { size, .. } => size as usize,
                        Storage::Heap { .. } => usize::MAX,
                    };
                    assert_eq!(v.as_bytes(), &REDACTED[..REDACTED.len().min(cap)], "redact-{lang}: {n}");
                }
                let _ = out.value(r, ids.args);
            }
            got.push((out.rows_bytes().to_vec(), out.heap_bytes().to_vec(), out.len()));
        }
        assert!(
            Stage::finish(&mut st)
                .unwrap_or_else(|e| panic!("redact-{lang} flush: {e}"))
                .is_none()
        );
        let total: usize = batches.iter().map(Batch::len).sum::<usize>() * names.len();
        assert_eq!(
            st.counters().get("redacted").copied(),
            Some(total as u64),
            "redact-{lang}: counter `redacted` ({:?})",
            st.counters()
        );
        outputs.push((lang, got));
    }
    let (first, reference) = &outputs[0];
    for (lang, got) in &outputs[1..] {
        assert!(got == reference, "redact-{lang} and redact-{first} disagree");
    }
}

#[test]
fn one_inline_field() {
    all_languages_agree("fname");
}

#[test]
fn inline_truncated_and_heap_fields() {
    all_languages_agree("fname,proc.comm,tty,fullpath");
}

#[test]
fn init_refuses_bad_fields() {
    let (schema, _) = schema();
    let cases = [
        ("proc.pid", "redact: field \"proc.pid\" is u32, not text"),
        ("args", "redact: field \"args\" is bytes, not text"),
        ("fname,nope", "redact: no field \"nope\" in datasource open"),
        (" , ", "redact: config key \"fields\" names no field"),
    ];
    for (lang, path) in components() {
        for (fields, want) in cases {
            let mut st = stage(lang, path, fields);
            let err = Stage::init(&mut st, &schema).expect_err(fields).to_string();
            assert!(err.contains(want), "redact-{lang} with fields={fields:?}: {err}");
        }
    }
}
