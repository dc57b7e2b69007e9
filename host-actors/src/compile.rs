//! Building gadgets from C: the ABI headers, the kernel's `vmlinux.h`, clang and a cache.
//!
//! rig carries its gadget headers and bundled gadgets inside the binary (see `build.rs`) and
//! writes them to its cache directory on first use; `vmlinux.h` is generated from this kernel's
//! BTF with bpftool, never shipped. An object is rebuilt only when its inputs change: the cache
//! key hashes the sources, headers, kernel BTF and compiler flags. clang's own diagnostics are
//! kept in the error, because they are what a gadget author needs to read.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Why a gadget could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A tool is missing.
    #[error("{tool} not found ({hint}); run ./setup.sh")]
    MissingTool {
        /// The program.
        tool: String,
        /// Where rig looked.
        hint: String,
    },
    /// clang failed: its diagnostics follow.
    #[error("compiling {source_file} failed:\n{stderr}")]
    Clang {
        /// The C file.
        source_file: String,
        /// clang's output.
        stderr: String,
    },
    /// bpftool could not dump the kernel BTF.
    #[error("generating vmlinux.h with bpftool failed: {0}")]
    Vmlinux(String),
    /// A cache file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CompileError + '_ {
    move |source| CompileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// rig's cache directory: `$RIG_CACHE_DIR`, else `/var/cache/rig` for root, else `~/.cache/rig`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RIG_CACHE_DIR") {
        return PathBuf::from(d);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/rig");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/rig")
}

/// Parses a small YAML file (`build.yaml`) after checking its depth, so a deeply nested file is
/// refused in linear time instead of hanging the parser.
pub fn yaml_from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_yaml::Error> {
    let text = String::from_utf8_lossy(bytes);
    rig_kernel::input::check_yaml_depth(&text).map_err(<serde_yaml::Error as serde::de::Error>::custom)?;
    serde_yaml::from_str(&text)
}

/// Names of the bundled gadgets.
pub fn bundled() -> Vec<&'static str> {
    let mut v: Vec<&str> = embedded::FILES
        .iter()
        .filter_map(|(p, _)| p.strip_suffix("/program.bpf.c"))
        .filter(|p| !p.contains('/'))
        .collect();
    v.sort();
    v
}

pub(crate) fn find_tool(env: &str, names: &[&str]) -> Result<PathBuf, CompileError> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for n in names {
        for dir in
            std::env::split_paths(&path).chain([PathBuf::from("/usr/lib/llvm-19/bin"), PathBuf::from("/usr/sbin")])
        {
            let p = dir.join(n);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(CompileError::MissingTool {
        tool: names[0].into(),
        hint: format!("set {env} or install it"),
    })
}

/// Writes the embedded files whose path starts with `prefix` under `dest` (unchanged files kept).
fn materialize(prefix: &str, dest: &Path) -> Result<(), CompileError> {
    for (rel, text) in embedded::FILES.iter().filter(|(p, _)| p.starts_with(prefix)) {
        let path = dest.join(rel.strip_prefix(prefix).unwrap_or(rel).trim_start_matches('/'));
        if fs::read_to_string(&path).is_ok_and(|t| t == *text) {
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        atomic_write(&path, text.as_bytes())?;
    }
    Ok(())
}

fn atomic_write(path: &Path, data: &[u8]) -> Result<(), CompileError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io(path))
}

/// Where a bundled gadget's sources are written (created on demand).
pub fn bundled_dir(name: &str) -> Result<Option<PathBuf>, CompileError> {
    if !bundled().contains(&name) {
        return Ok(None);
    }
    let dest = cache_dir().join("gadgets").join(name);
    materialize(&format!("{name}/"), &dest)?;
    Ok(Some(dest))
}

/// Builds one of rig's own helper programs (`gadgets/helpers/<name>/program.bpf.c`, embedded
/// like the bundled gadgets but never listed as one) and returns its object's path.
pub fn helper(name: &str) -> Result<PathBuf, CompileError> {
    let dest = cache_dir().join("helpers").join(name);
    materialize(&format!("helpers/{name}/"), &dest)?;
    compile(&dest, "program.bpf.c")
}

fn include_dir() -> Result<PathBuf, CompileError> {
    let dest = cache_dir().join("include");
    materialize("include/", &dest)?;
    Ok(dest)
}

fn vmlinux_dir() -> Result<(PathBuf, String), CompileError> {
    let btf_path = Path::new("/sys/kernel/btf/vmlinux");
    let btf = fs::read(btf_path).map_err(io(btf_path))?;
    let hash = hex::encode(&Sha256::digest(&btf)[..8]);
    let dir = cache_dir().join("vmlinux").join(&hash);
    let header = dir.join("vmlinux.h");
    if !header.is_file() {
        let bpftool = find_tool("RIG_BPFTOOL", &["bpftool"])?;
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let out = Command::new(&bpftool)
            .args(["btf", "dump", "file"])
            .arg(btf_path)
            .args(["format", "c"])
            .output()
            .map_err(io(&bpftool))?;
        if !out.status.success() {
            return Err(CompileError::Vmlinux(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        atomic_write(&header, &out.stdout)?;
    }
    Ok((dir, hash))
}

/// clang flags for gadgets, as Inspektor Gadget builds them.
const CFLAGS: &[&str] = &[
    "-target",
    "bpf",
    "-g",
    "-O2",
    "-D__TARGET_ARCH_x86",
    "-Wall",
    "-Wno-unused-function",
];

/// Compiles `<dir>/<source>` into a cached object and returns its path.
pub fn compile(dir: &Path, source: &str) -> Result<PathBuf, CompileError> {
    let src = dir.join(source);
    let text = fs::read(&src).map_err(io(&src))?;
    let include = include_dir()?;
    let (vmlinux, kernel_hash) = vmlinux_dir()?;
    let clang = find_tool("RIG_CLANG", &["clang-19", "clang"])?;
    let mut h = Sha256::new();
    h.update(&text);
    for (rel, t) in embedded::FILES.iter().filter(|(p, _)| p.starts_with("include/")) {
        h.update(rel.as_bytes());
        h.update(t.as_bytes());
    }
    // Local headers next to the source take part in the build too.
    if let Ok(entries) = fs::read_dir(dir) {
        let mut local: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "h"))
            .collect();
        local.sort();
        for p in local {
            h.update(fs::read(&p).map_err(io(&p))?);
        }
    }
    h.update(kernel_hash.as_bytes());
    h.update(CFLAGS.join(" ").as_bytes());
    let key = hex::encode(&h.finalize()[..12]);
    let objdir = cache_dir().join("objects");
    let obj = objdir.join(format!("{key}.bpf.o"));
    if obj.is_file() {
        return Ok(obj);
    }
    fs::create_dir_all(&objdir).map_err(io(&objdir))?;
    let tmp = objdir.join(format!("{key}.{}.tmp.o", std::process::id()));
    tracing::info!(source = %src.display(), "compiling gadget");
    let out = Command::new(&clang)
        .args(CFLAGS)
        .arg("-I")
        .arg(&include)
        .arg("-I")
        .arg(&vmlinux)
        .arg("-I")
        .arg(dir)
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&tmp)
        .output()
        .map_err(io(&clang))?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(CompileError::Clang {
            source_file: src.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
        });
    }
    // Strip DWARF (BTF stays): smaller objects, as IG ships them.
    if let Ok(strip) = find_tool("RIG_LLVM_STRIP", &["llvm-strip-19", "llvm-strip"]) {
        let _ = Command::new(strip).arg("-g").arg(&tmp).status();
    }
    fs::rename(&tmp, &obj).map_err(io(&obj))?;
    Ok(obj)
}
