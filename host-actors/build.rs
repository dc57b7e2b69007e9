//! Embeds what the `rig` binary needs wherever it is installed:
//!
//! - the gadget ABI headers and the bundled gadgets' sources (`embedded.rs`), so `rig` can build
//!   gadgets anywhere; next to rig's own `gadget/*.h`, libbpf's BPF-side headers
//!   (`bpf/bpf_helpers.h`, `bpf/bpf_tracing.h`…) with their license, taken from the source package
//!   of the `libbpf-sys` build-dependency (found with `cargo metadata`; its C library is neither
//!   built nor linked), so gadgets never see the host's older libbpf;
//! - the builtin operators (`builtins.rs`): the guest workspace `operators/` is built for
//!   `wasm32-wasip2` by a nested `cargo build` and the `filter`, `sort`, `limit` and `export`
//!   components are `include_bytes!`-ed;
//! - the version of the WIT contract (`RIG_WIT_VERSION`), read from `wit/operator.wit`, so the
//!   host's version check and the contract cannot disagree.
//!
//! The nested build runs with a cleaned environment: nothing of the outer build's configuration
//! (target dir, RUSTFLAGS, target triple, jobserver, clippy wrapper…) may leak into a build for
//! another target. Its failure fails this build and shows its stderr. `RIG_SKIP_OPERATORS=1`
//! skips it (no builtins) for work that does not touch operators.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builtin operators: the name `builtin(…)` answers to, and the crate that builds it.
const BUILTINS: &[(&str, &str)] = &[
    ("filter", "rig_op_filter"),
    ("sort", "rig_op_sort"),
    ("limit", "rig_op_limit"),
    ("export", "rig_op_export"),
];

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, root, out);
        } else if let Some(ext) = p.extension().and_then(|e| e.to_str())
            && matches!(ext, "h" | "c" | "yaml")
        {
            let rel = p
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((rel, p));
        }
    }
}

/// libbpf's headers for BPF programs, as gadgets include them (`<bpf/NAME>`), and its licenses.
const LIBBPF_FILES: &[&str] = &[
    "src/bpf_helpers.h",
    "src/bpf_helper_defs.h",
    "src/bpf_tracing.h",
    "src/bpf_core_read.h",
    "src/bpf_endian.h",
    "src/usdt.bpf.h",
    "LICENSE",
    "LICENSE.BSD-2-Clause",
    "LICENSE.LGPL-2.1",
];

/// The directory of the `libbpf-sys` package in the resolved dependency graph (registry, vendor
/// or git checkout alike), asked of `cargo metadata` for the target being built (whose packages
/// cargo has already fetched, so it runs offline); if some other package of the graph is missing
/// (a dev-dependency never built), cargo may fetch it as it fetches any dependency.
fn libbpf_sys_dir(manifest: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let metadata = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.args(["metadata", "--format-version", "1", "--filter-platform", &target])
            .args(offline.then_some("--offline"))
            .arg("--manifest-path")
            .arg(manifest.join("Cargo.toml"));
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {} metadata: {e}", cargo.to_string_lossy()))
    };
    let mut out = metadata(true);
    if !out.status.success() {
        out = metadata(false);
    }
    if !out.status.success() {
        panic!(
            "cargo metadata failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let manifest_path = packages
        .iter()
        .find(|p| p["name"] == "libbpf-sys")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("libbpf-sys (a build-dependency of rig-host) is in cargo metadata's package list");
    Path::new(manifest_path)
        .parent()
        .expect("a manifest path has a parent")
        .to_path_buf()
}

/// libbpf's files as (path under `gadgets/`, file): headers in `include/bpf/`, licenses beside.
fn libbpf_files(manifest: &Path) -> Vec<(String, PathBuf)> {
    let libbpf = libbpf_sys_dir(manifest).join("libbpf");
    LIBBPF_FILES
        .iter()
        .map(|rel| {
            let path = libbpf.join(rel);
            assert!(path.is_file(), "libbpf-sys ships no {}", path.display());
            let name = rel.trim_start_matches("src/");
            (format!("include/bpf/{name}"), path)
        })
        .collect()
}

fn embed_gadgets(manifest: &Path, out_dir: &Path) {
    let gadgets = manifest.join("../gadgets");
    println!("cargo:rerun-if-changed={}", gadgets.display());
    let mut files = Vec::new();
    collect(&gadgets, &gadgets, &mut files);
    files.extend(libbpf_files(manifest));
    let mut src = String::from(
        "/// Files under `gadgets/`: (relative path, contents).\npub static FILES: &[(&str, &str)] = &[\n",
    );
    for (rel, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        src.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            path.canonicalize().unwrap_or(path.clone())
        ));
    }
    src.push_str("];\n");
    fs::write(out_dir.join("embedded.rs"), src).expect("write embedded.rs");
}

/// Emits `rerun-if-changed` for every source file of the operators workspace (never for its
/// `target/`, which the nested build itself changes).
fn watch_sources(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // Build outputs (cargo's, the examples' `out/`, Python's caches, built components) are not
        // sources: watching them would rebuild rig every time an example is built.
        let output = ["target", "node_modules", "out", "__pycache__"].contains(&name) || name.ends_with(".wasm");
        if name.starts_with('.') || output {
            continue;
        }
        if p.is_dir() {
            watch_sources(&p);
        } else {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

/// The version in `package rig:operator@X;`.
fn wit_version(wit: &Path) -> String {
    let path = wit.join("operator.wit");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("package rig:operator@")
                .map(|v| v.trim_end_matches(';').trim().to_owned())
        })
        .unwrap_or_else(|| panic!("{} has no `package rig:operator@VERSION;` line", path.display()))
}

/// True for variables that carry the outer build's configuration into the nested one.
fn leaks(key: &str) -> bool {
    let keep = [
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRY",
        "CARGO_REGISTRIES_",
        "CARGO_TERM_",
    ];
    if keep.iter().any(|k| key.starts_with(k)) {
        return false;
    }
    key.starts_with("CARGO_")
        || key.starts_with("__CARGO")
        || key.starts_with("DEP_")
        || matches!(
            key,
            "CARGO"
                | "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "RUSTC_WRAPPER"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "RUSTC_LINKER"
                | "MAKEFLAGS"
                | "MFLAGS"
                | "TARGET"
                | "HOST"
                | "OUT_DIR"
                | "OPT_LEVEL"
                | "PROFILE"
                | "DEBUG"
                | "NUM_JOBS"
        )
}

fn nested_cargo(cargo: &OsString, ops: &Path, extra: &[&str]) {
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(ops.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(ops.join("target"))
        .args(extra);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(leaks) {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} to build operators/: {e}", cargo.to_string_lossy()));
    if !out.status.success() {
        panic!(
            "building the operators workspace failed ({}):\n{cmd:?}\n--- stderr of the nested cargo ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn build_operators(repo: &Path, out_dir: &Path) {
    let ops = repo.join("operators");
    let wit = repo.join("wit");
    println!("cargo:rerun-if-env-changed=RIG_SKIP_OPERATORS");
    watch_sources(&wit);
    println!("cargo:rerun-if-changed={}", ops.join("Cargo.toml").display());
    watch_sources(&ops);
    println!("cargo:rustc-env=RIG_WIT_VERSION={}", wit_version(&wit));
    let artifacts = ops.join("target/wasm32-wasip2/release");
    println!("cargo:rustc-env=RIG_OPERATORS_ARTIFACTS={}", artifacts.display());
    let skip = std::env::var_os("RIG_SKIP_OPERATORS").is_some_and(|v| !v.is_empty() && v != "0");
    let mut table = Vec::new();
    if skip {
        println!("cargo:warning=RIG_SKIP_OPERATORS is set: rig is built without builtin operators");
    } else if !ops.join("Cargo.toml").is_file() {
        println!("cargo:warning=operators/Cargo.toml is missing: rig is built without builtin operators");
    } else {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        nested_cargo(&cargo, &ops, &[]);
        if ops.join("testing/hostile/Cargo.toml").is_file() {
            // Fixtures for the sandbox tests: components that are not (valid) rig operators.
            nested_cargo(&cargo, &ops, &["-p", "rig-op-hostile", "--examples"]);
        }
        for (name, krate) in BUILTINS {
            let path = artifacts.join(format!("{krate}.wasm"));
            if path.is_file() {
                table.push((*name, path));
            } else {
                println!(
                    "cargo:warning=builtin operator {name}: {} was not built",
                    path.display()
                );
            }
        }
    }
    let mut src = String::from(
        "/// Builtin operators compiled from `operators/`: (name, component bytes).\n\
         static BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &table {
        src.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    src.push_str("];\n");
    src.push_str("/// Names of [`BUILTINS`], in order.\nstatic BUILTIN_NAMES: &[&str] = &[");
    for (name, _) in &table {
        src.push_str(&format!("{name:?}, "));
    }
    src.push_str("];\n");
    fs::write(out_dir.join("builtins.rs"), src).expect("write builtins.rs");
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    embed_gadgets(&manifest, &out_dir);
    let repo = manifest.parent().expect("host-actors/ lives in the repository root");
    build_operators(repo, &out_dir);
}
