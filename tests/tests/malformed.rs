//! The malformed-input corpus: every file under `tests/malformed/<category>/cases.json` lists cases
//! that feed rig one broken input each (a gadget.yaml, a C source, an object, a graph file, a
//! filter, a flag value, an operator `.wasm`, an image layout, a reference) and say what a good
//! refusal looks like. For every case rig must finish within its time bound, never panic or die
//! by a signal, print a short error (≤ 4 KB unless the case says otherwise) that names the culprit,
//! print no raw control bytes and no Rust debug text, stay under a memory bound, and leave no
//! program of its gadget loaded. `docs/testing.md` describes the manifest format.
//!
//! One test per category; within a category a few cases run at once. All failures of a category
//! are collected and printed as one table.

use std::collections::VecDeque;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rig_tests::{repo, require_kernel, rig_bin};
use serde_json::Value;

/// Cases of one category running at once (the test harness runs two categories at once).
const WORKERS: usize = 2;
/// Bytes of stdout/stderr kept per case (the rest is drained and counted).
const KEEP: usize = 1 << 20;

fn corpus() -> PathBuf {
    repo().join("tests/malformed")
}

/// What the corpus shares: the base gadget's compiled object and an exported image layout.
struct Shared {
    dir: tempfile::TempDir,
}

impl Shared {
    fn object(&self) -> PathBuf {
        self.dir.path().join("base.bpf.o")
    }
    fn layout_tar(&self) -> PathBuf {
        self.dir.path().join("base.tar")
    }
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("store");
        let base = corpus().join("base");
        let run = |args: &[&str]| {
            let out = Command::new(rig_bin())
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("spawn rig");
            assert!(
                out.status.success(),
                "corpus set-up `rig {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let store_s = store.to_str().unwrap();
        run(&["image", "build", base.to_str().unwrap(), "-t", "malformed-base:1", "--store", store_s]);
        let tar = dir.path().join("base.tar");
        run(&["image", "export", "malformed-base:1", tar.to_str().unwrap(), "--store", store_s]);
        // The eBPF layer is the one blob that is an ELF file.
        let blobs = store.join("blobs/sha256");
        let elf = fs::read_dir(&blobs)
            .expect("store blobs")
            .flatten()
            .map(|e| fs::read(e.path()).unwrap())
            .find(|b| b.starts_with(b"\x7fELF"))
            .expect("the base image has an ELF layer");
        fs::write(dir.path().join("base.bpf.o"), elf).unwrap();
        Shared { dir }
    })
}

/// Replaces `{tmp}`, `{case}`, `{repo}`, `{corpus}` and `{store}` in a manifest string.
fn expand(s: &str, tmp: &Path, case: &Path) -> String {
    s.replace("{tmp}", tmp.to_str().unwrap())
        .replace("{store}", tmp.join("store").to_str().unwrap())
        .replace("{case}", case.to_str().unwrap())
        .replace("{corpus}", corpus().to_str().unwrap())
        .replace("{repo}", repo().to_str().unwrap())
}

/// The bytes an op describes: `text`, `hex`, or `parts` (strings and `{repeat, times}`).
fn content(op: &Value, tmp: &Path, case: &Path) -> Result<Vec<u8>, String> {
    if let Some(t) = op.get("text").and_then(Value::as_str) {
        return Ok(expand(t, tmp, case).into_bytes());
    }
    if let Some(h) = op.get("hex").and_then(Value::as_str) {
        let h: String = h.chars().filter(|c| !c.is_whitespace()).collect();
        return (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(|e| format!("hex: {e}")))
            .collect();
    }
    if let Some(parts) = op.get("parts").and_then(Value::as_array) {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Value::String(s) => out.extend(expand(s, tmp, case).as_bytes()),
                Value::Object(_) => {
                    let unit = p["repeat"].as_str().ok_or("repeat needs a string")?;
                    let unit = unit.replace("{i}", "\u{0}");
                    let times = p["times"].as_u64().ok_or("repeat needs times")?;
                    for i in 0..times {
                        out.extend(unit.replace('\u{0}', &i.to_string()).as_bytes());
                    }
                }
                _ => return Err(format!("bad part {p}")),
            }
        }
        return Ok(out);
    }
    Err(format!("op has no text, hex or parts: {op}"))
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Stores `bytes` as a blob of `layout` and returns its digest.
fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let tmp = layout.join("blob.tmp");
    fs::write(&tmp, bytes).unwrap();
    let hex = sha256(&tmp);
    fs::rename(&tmp, layout.join("blobs/sha256").join(&hex)).unwrap();
    format!("sha256:{hex}")
}

/// Replaces, below `doc` (an index or manifest), every descriptor of `media` with `bytes`, rewriting
/// the documents above it so all digests and sizes stay right. Returns whether it replaced any.
fn replace_blob(layout: &Path, doc: &mut Value, media: &str, bytes: &[u8]) -> bool {
    let mut changed = false;
    let mut descriptors: Vec<&mut Value> = Vec::new();
    for (key, v) in doc.as_object_mut().into_iter().flatten() {
        match (key.as_str(), v) {
            ("manifests" | "layers", Value::Array(a)) => descriptors.extend(a.iter_mut()),
            ("config", v) => descriptors.push(v),
            _ => {}
        }
    }
    for d in descriptors {
        let new = if d["mediaType"].as_str() == Some(media) {
            Some(bytes.to_vec())
        } else if d["mediaType"].as_str().is_some_and(|m| m.ends_with("+json")) {
            let digest = d["digest"].as_str().unwrap_or_default();
            let path = layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
            let Ok(text) = fs::read(&path) else { continue };
            let Ok(mut child) = serde_json::from_slice::<Value>(&text) else { continue };
            replace_blob(layout, &mut child, media, bytes).then(|| serde_json::to_vec(&child).unwrap())
        } else {
            None
        };
        if let Some(new) = new {
            d["size"] = Value::from(new.len());
            d["digest"] = Value::from(put_blob(layout, &new));
            changed = true;
        }
    }
    changed
}

fn apply(op: &Value, tmp: &Path, case: &Path) -> Result<(), String> {
    let path = |key: &str| -> Result<PathBuf, String> {
        let p = op[key].as_str().ok_or_else(|| format!("op needs `{key}`: {op}"))?;
        Ok(tmp.join(expand(p, tmp, case)))
    };
    let io = |e: std::io::Error| format!("{op}: {e}");
    match op["op"].as_str().unwrap_or_default() {
        "base" => copy_dir(&corpus().join("base"), &path("to")?).map_err(io),
        "copy" => {
            let from = repo().join(expand(op["from"].as_str().unwrap_or_default(), tmp, case));
            let to = path("to")?;
            if from.is_dir() {
                copy_dir(&from, &to).map_err(io)
            } else {
                fs::copy(&from, &to).map(drop).map_err(io)
            }
        }
        "object" => fs::copy(shared().object(), path("to")?).map(drop).map_err(io),
        "layout" => {
            let to = path("to")?;
            fs::create_dir_all(&to).map_err(io)?;
            run_tool(&["tar", "-C", to.to_str().unwrap(), "-xf", shared().layout_tar().to_str().unwrap()])
        }
        "write" => {
            let p = path("path")?;
            if let Some(d) = p.parent() {
                fs::create_dir_all(d).map_err(io)?;
            }
            fs::write(p, content(op, tmp, case)?).map_err(io)
        }
        "append" => {
            let p = path("path")?;
            let extra = content(op, tmp, case)?;
            let files: Vec<PathBuf> = if p.is_dir() {
                fs::read_dir(&p).map_err(io)?.flatten().map(|e| e.path()).collect()
            } else {
                vec![p]
            };
            for f in files {
                let mut b = fs::read(&f).map_err(io)?;
                b.extend(&extra);
                fs::write(&f, b).map_err(io)?;
            }
            Ok(())
        }
        "remove" => fs::remove_file(path("path")?).map_err(io),
        "truncate" => {
            let p = path("path")?;
            let mut b = fs::read(&p).map_err(io)?;
            let len = match (op["len"].as_u64(), op["fraction"].as_f64()) {
                (Some(n), _) => n as usize,
                (None, Some(f)) => (b.len() as f64 * f) as usize,
                _ => return Err(format!("truncate needs len or fraction: {op}")),
            };
            b.truncate(len);
            fs::write(p, b).map_err(io)
        }
        "flip" => {
            // XOR `xor` into the byte `offset` bytes after the first match of `after` (hex), or
            // after the start of the file.
            let p = path("path")?;
            let mut b = fs::read(&p).map_err(io)?;
            let start = match op.get("after") {
                Some(_) => {
                    let pat = content(&serde_json::json!({ "hex": op["after"] }), tmp, case)?;
                    b.windows(pat.len()).position(|w| w == pat.as_slice()).ok_or("pattern not found")?
                }
                None => 0,
            };
            let at = start + op["offset"].as_u64().unwrap_or(0) as usize;
            let x = op["xor"].as_u64().unwrap_or(0xff) as u8;
            let byte = b.get_mut(at).ok_or("flip past the end")?;
            *byte ^= x;
            fs::write(p, b).map_err(io)
        }
        "json" => {
            // Set (or with "delete": true, remove) the value at a JSON pointer of a JSON file.
            let p = path("path")?;
            let mut v: Value = serde_json::from_slice(&fs::read(&p).map_err(io)?).map_err(|e| e.to_string())?;
            let ptr = op["pointer"].as_str().unwrap_or_default();
            if op["delete"].as_bool() == Some(true) {
                let (parent, key) = ptr.rsplit_once('/').ok_or("bad pointer")?;
                let obj = v.pointer_mut(parent).and_then(Value::as_object_mut).ok_or("no parent")?;
                obj.remove(key);
            } else {
                let (parent, key) = ptr.rsplit_once('/').ok_or("bad pointer")?;
                let obj = v.pointer_mut(parent).and_then(Value::as_object_mut).ok_or("no parent")?;
                obj.insert(key.replace("~1", "/"), op["value"].clone());
            }
            fs::write(p, serde_json::to_vec(&v).unwrap()).map_err(io)
        }
        "replace_blob" => {
            let layout = path("layout")?;
            let media = op["media"].as_str().unwrap_or_default();
            let bytes = content(op, tmp, case)?;
            let index = layout.join("index.json");
            let mut v: Value = serde_json::from_slice(&fs::read(&index).map_err(io)?).map_err(|e| e.to_string())?;
            if !replace_blob(&layout, &mut v, media, &bytes) {
                return Err(format!("no blob of media type {media}"));
            }
            fs::write(index, serde_json::to_vec(&v).unwrap()).map_err(io)
        }
        "tar" => {
            let from = path("from")?;
            let to = path("to")?;
            run_tool(&["tar", "-C", from.to_str().unwrap(), "-cf", to.to_str().unwrap(), "."])
        }
        "run" => {
            let argv: Vec<String> = op["argv"]
                .as_array()
                .ok_or("run needs argv")?
                .iter()
                .map(|a| expand(a.as_str().unwrap_or_default(), tmp, case))
                .collect();
            run_tool(&argv.iter().map(String::as_str).collect::<Vec<_>>())
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

fn run_tool(argv: &[&str]) -> Result<(), String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{argv:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

/// What one rig process did.
struct Outcome {
    /// Exit code, or `None` when killed by a signal.
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_len: usize,
    stderr_len: usize,
    max_rss_kib: i64,
    pid: u32,
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<(Vec<u8>, usize)> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut total = 0;
        let mut buf = [0u8; 65536];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
            let room = KEEP.saturating_sub(kept.len());
            kept.extend(&buf[..n.min(room)]);
        }
        (kept, total)
    })
}

fn run_rig(args: &[String], tmp: &Path, limit: Duration) -> Outcome {
    let mut child = Command::new(rig_bin())
        .args(args)
        .current_dir(tmp)
        .env("RIG_STORE", tmp.join("store"))
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rig");
    let pid = child.id();
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let (status, rss) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 only writes into the two out-pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child; status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid as i32 {
            break (status, usage.ru_maxrss);
        }
        if r < 0 {
            break (0, 0);
        }
        if Instant::now() > deadline && !timed_out {
            timed_out = true;
            // SAFETY: signalling our own, not yet reaped child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = std::process::ExitStatus::from_raw(status);
    let (stdout, stdout_len) = out.join().unwrap();
    let (stderr, stderr_len) = err.join().unwrap();
    Outcome {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout,
        stderr,
        stdout_len,
        stderr_len,
        max_rss_kib: rss,
        pid,
    }
}

/// Pids holding each program id, from `/proc/*/fdinfo`: a program fd or a link fd (both show
/// `prog_id:`). bpftool's own `pids` lists need a skeleton build this machine's bpftool lacks.
fn holders() -> std::collections::HashMap<u64, Vec<u64>> {
    let mut map: std::collections::HashMap<u64, Vec<u64>> = Default::default();
    for proc_entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = proc_entry.file_name().to_str().and_then(|p| p.parse::<u64>().ok()) else {
            continue;
        };
        for fd in fs::read_dir(proc_entry.path().join("fdinfo")).into_iter().flatten().flatten() {
            let Ok(info) = fs::read_to_string(fd.path()) else { continue };
            for line in info.lines() {
                if let Some(id) = line.strip_prefix("prog_id:").and_then(|v| v.trim().parse().ok()) {
                    map.entry(id).or_default().push(pid);
                }
            }
        }
    }
    map
}

/// Programs named in `names` that stay loaded with no live holder, or held by `pid` (a rig that
/// has exited). Programs other cases are running right now have holders and are not counted.
fn leaked(names: &[String], pid: u32) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    let mut left = Vec::new();
    for _ in 0..20 {
        let out = Command::new("bpftool").args(["-j", "prog", "show"]).output().expect("bpftool");
        let progs: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let others = holders();
        left = progs
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| names.iter().any(|n| p["name"].as_str() == Some(n.as_str())))
            .filter(|p| {
                let mut pids: Vec<u64> =
                    p["pids"].as_array().into_iter().flatten().filter_map(|h| h["pid"].as_u64()).collect();
                pids.extend(others.get(&p["id"].as_u64().unwrap_or(0)).into_iter().flatten());
                pids.is_empty() || pids.contains(&u64::from(pid))
            })
            .map(|p| format!("{} (id {})", p["name"].as_str().unwrap_or("?"), p["id"]))
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    left
}

fn has_control_bytes(b: &[u8]) -> bool {
    b.iter().any(|&c| (c < 0x20 && c != b'\n' && c != b'\t') || c == 0x7f)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s: String = s.chars().flat_map(char::escape_debug).collect();
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

/// Runs one case; returns what is wrong with rig's behaviour (empty when it passed).
fn run_case(cat_dir: &Path, case: &Value) -> Vec<String> {
    let name = case["name"].as_str().unwrap_or("?");
    let case_dir = cat_dir.join(name);
    let tmp = tempfile::tempdir().expect("temp dir");
    let tmp = tmp.path();
    fs::create_dir_all(tmp.join("store")).unwrap();
    if case_dir.is_dir() {
        if let Err(e) = copy_dir(&case_dir, tmp) {
            return vec![format!("set-up: copying {}: {e}", case_dir.display())];
        }
    }
    for op in case["setup"].as_array().into_iter().flatten() {
        if let Err(e) = apply(op, tmp, &case_dir) {
            return vec![format!("set-up: {e}")];
        }
    }
    let limit = Duration::from_secs(case["timeout"].as_u64().unwrap_or(20));
    let mut problems = Vec::new();
    let argv = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|a| match a {
                Value::String(s) => expand(s, tmp, &case_dir),
                other => String::from_utf8_lossy(&content(other, tmp, &case_dir).unwrap_or_default())
                    .into_owned(),
            })
            .collect()
    };
    // `args`, then optionally `then`: the first step that fails is the one checked against the
    // expectations (a refusal may come at import or at run); every step is checked for panics,
    // hangs, floods, raw control bytes and leaks.
    let mut steps = vec![argv(&case["args"])];
    if case.get("then").is_some() {
        steps.push(argv(&case["then"]));
    }
    let programs: Vec<String> = case["programs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    let last = steps.len() - 1;
    for (i, args) in steps.iter().enumerate() {
        let o = run_rig(args, tmp, limit);
        let step = if last == 0 { String::new() } else { format!("(step {}: rig {}) ", i + 1, shorten(&args.join(" "))) };
        let both = [o.stdout.as_slice(), o.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&both).to_lowercase();
        if o.timed_out {
            problems.push(format!("{step}hang: still running after {} s (killed)", limit.as_secs()));
        } else if let Some(sig) = o.signal {
            problems.push(format!("{step}killed by signal {sig}"));
        }
        if text.contains("panicked") || o.code == Some(101) {
            problems.push(format!("{step}panic"));
        }
        let max_rss = case["max_rss_mib"].as_i64().unwrap_or(1024);
        if o.max_rss_kib > max_rss * 1024 {
            problems.push(format!("{step}used {} MiB of memory (bound {max_rss})", o.max_rss_kib / 1024));
        }
        let max_err = case["max_stderr"].as_u64().unwrap_or(4096) as usize;
        if o.stderr_len > max_err {
            problems.push(format!("{step}stderr is {} bytes (bound {max_err})", o.stderr_len));
        }
        if let Some(max_out) = case["max_stdout"].as_u64() {
            if o.stdout_len > max_out as usize {
                problems.push(format!("{step}stdout is {} bytes (bound {max_out})", o.stdout_len));
            }
        }
        if has_control_bytes(&both) {
            problems.push(format!("{step}raw control bytes in the output"));
        }
        for debug in ["some(", "string(", "none)"] {
            if text.contains(debug) {
                problems.push(format!("{step}Rust debug text {debug:?} in the output"));
            }
        }
        for p in leaked(&programs, o.pid) {
            problems.push(format!("{step}program left loaded: {p}"));
        }
        let checked = i == last || o.code != Some(0);
        if checked && !o.timed_out && o.signal.is_none() {
            let err_text = String::from_utf8_lossy(&o.stderr).to_lowercase();
            let exit = case["exit"].as_str().unwrap_or("error");
            if exit == "ok" && o.code != Some(0) {
                problems.push(format!("{step}exit {:?}, expected 0", o.code));
            }
            if exit == "error" && o.code == Some(0) {
                problems.push(format!("{step}exit 0, expected an error"));
            }
            if o.code != Some(0) && !err_text.lines().any(|l| l.starts_with("error:")) {
                problems.push(format!("{step}no `error:` line on stderr"));
            }
            for want in case["expect"].as_array().into_iter().flatten() {
                let want = want.as_str().unwrap_or_default().to_lowercase();
                if !err_text.contains(&want) {
                    problems.push(format!("{step}stderr does not name {want:?}"));
                }
            }
        }
        if !problems.is_empty() {
            problems.push(format!(
                "{step}exit {:?}; stderr ({} B): {}; stdout ({} B): {}",
                o.code,
                o.stderr_len,
                show(&o.stderr),
                o.stdout_len,
                show(&o.stdout)
            ));
        }
        if checked {
            break;
        }
    }
    problems
}

fn cases(category: &str) -> Vec<Value> {
    let path = corpus().join(category).join("cases.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    v["cases"].as_array().cloned().unwrap_or_else(|| panic!("{}: no `cases` list", path.display()))
}

/// Runs every case of `category`, a few at once, and fails with a table of the failing ones.
fn run_category(category: &str) {
    require_kernel();
    let _ = shared();
    let all = cases(category);
    let cat_dir = corpus().join(category);
    let queue = Mutex::new(all.iter().collect::<VecDeque<_>>());
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let Some(case) = queue.lock().unwrap().pop_front() else { break };
                    let problems = run_case(&cat_dir, case);
                    if !problems.is_empty() {
                        let name = case["name"].as_str().unwrap_or("?").to_owned();
                        failures.lock().unwrap().push((name, problems));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    eprintln!(
        "malformed/{category}: {} cases, {} failing, {:.1} s",
        all.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        let mut table = String::new();
        for (name, problems) in &failures {
            table.push_str(&format!("\n  {category}/{name}\n"));
            for p in problems {
                table.push_str(&format!("      - {p}\n"));
            }
        }
        panic!("{} of {} {category} cases failed:{table}", failures.len(), all.len());
    }
}

#[test]
fn corpus_has_at_least_100_cases() {
    let total: usize = fs::read_dir(corpus())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("cases.json").is_file())
        .map(|e| cases(e.file_name().to_str().unwrap()).len())
        .sum();
    assert!(total >= 100, "the corpus has {total} cases, fewer than 100");
}

macro_rules! category {
    ($($test:ident => $dir:literal),* $(,)?) => {
        $(#[test]
        fn $test() {
            run_category($dir);
        })*
    };
}

category! {
    gadget_yaml => "gadget-yaml",
    c_sources => "c",
    elf_btf => "elf",
    graph_files => "graph",
    filters => "filter",
    cli_values => "cli",
    operator_wasm => "wasm",
    image_layouts => "image",
    references => "reference",
}
