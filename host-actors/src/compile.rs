//! Building gadgets from C: the ABI headers, the kernel's `vmlinux.h`, clang and a cache.
//!
//! rig carries its gadget headers and bundled gadgets inside the binary (see `build.rs`) and
//! writes them to its cache directory on first use; `vmlinux.h` is generated from this kernel's
//! BTF with bpftool, never shipped. An object is rebuilt only when its inputs change: the cache
//! key hashes the sources, headers, kernel BTF and compiler flags, and any other header clang
//! read (`#include "../shared.h"`, from its dependency file) is recorded with its hash beside the
//! object, which is used only while those are unchanged. clang's own diagnostics are
//! kept in the error, because they are what a gadget author needs to read.
//!
//! What clang sees is what Inspektor Gadget's builder gives it: `-I` rig's include directory
//! (`gadget/*.h`, rig's own, and `bpf/*.h`, libbpf's BPF-side headers from the `libbpf-sys`
//! package, never the host's older ones), then the directory of `vmlinux.h`, then the gadget's
//! folder; after those, as `-idirafter`, the host compiler's system directories that `-target
//! bpf` leaves out (Debian's multiarch `/usr/include/<triple>`, where `asm/types.h` and
//! `asm/errno.h` live), asked of clang itself so no architecture is hard-coded.

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

/// clang flags for gadgets, as Inspektor Gadget builds them (plus [`target_arch_define`]), and
/// `-mcpu=v3`: clang-19 still defaults to the v1 instruction set, whose 64-bit-only arithmetic
/// loses the bounds the verifier needs where code checks a 32-bit index and then masks the 64-bit
/// register (IG's advise_seccomp: `syscalls[id]` is refused as out of range). v3 (32-bit
/// sub-registers, kernels ≥ 5.1) keeps them, and is what newer clang picks by default.
const CFLAGS: &[&str] = &["-target", "bpf", "-mcpu=v3", "-g", "-O2", "-Wall", "-Wno-unused-function"];

/// The `__TARGET_ARCH_*` define libbpf's `bpf_tracing.h` needs to read `struct pt_regs`, for the
/// architecture rig runs on (gadgets run on the machine that builds them).
fn target_arch_define() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" | "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv",
        "powerpc64" => "powerpc",
        "s390x" => "s390",
        "loongarch64" => "loongarch",
        "mips" | "mips64" => "mips",
        "sparc64" => "sparc",
        other => other,
    };
    format!("-D__TARGET_ARCH_{arch}")
}

/// The directories in the `#include <...>` search list of clang `-v` output.
fn search_list(verbose: &str) -> Vec<PathBuf> {
    verbose
        .lines()
        .skip_while(|l| !l.starts_with("#include <...> search starts here:"))
        .skip(1)
        .take_while(|l| !l.starts_with("End of search list."))
        .map(|l| PathBuf::from(l.trim()))
        .collect()
}

/// The host's system include directories that `clang -target bpf` does not search (the
/// multiarch directory with `asm/*.h`), in the host's order: libbpf-bootstrap's recipe. Asked
/// once per process; an empty list if clang cannot tell (clang's errors then name the header).
fn host_system_includes(clang: &Path) -> &'static [PathBuf] {
    static DIRS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let list = |target: &[&str]| -> Vec<PathBuf> {
            let out = Command::new(clang)
                .args(target)
                .args(["-v", "-E", "-x", "c", "/dev/null", "-o", "/dev/null"])
                .output();
            match out {
                Ok(out) => search_list(&String::from_utf8_lossy(&out.stderr)),
                Err(error) => {
                    tracing::warn!(clang = %clang.display(), %error, "cannot ask clang for its include path");
                    Vec::new()
                }
            }
        };
        let bpf = list(&["-target", "bpf"]);
        let extra: Vec<PathBuf> = list(&[]).into_iter().filter(|d| !bpf.contains(d)).collect();
        tracing::debug!(clang = %clang.display(), dirs = ?extra, "host system include directories for gadgets");
        extra
    })
}

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
    let arch = target_arch_define();
    let system = host_system_includes(&clang);
    h.update(kernel_hash.as_bytes());
    h.update(CFLAGS.join(" ").as_bytes());
    h.update(arch.as_bytes());
    for d in system {
        h.update(d.as_os_str().as_encoded_bytes());
    }
    let key = hex::encode(&h.finalize()[..12]);
    let objdir = cache_dir().join("objects");
    let obj = objdir.join(format!("{key}.bpf.o"));
    let deps_file = objdir.join(format!("{key}.deps"));
    if obj.is_file() && deps_unchanged(&deps_file) {
        return Ok(obj);
    }
    fs::create_dir_all(&objdir).map_err(io(&objdir))?;
    let tmp = objdir.join(format!("{key}.{}.tmp.o", std::process::id()));
    let depfile = objdir.join(format!("{key}.{}.tmp.d", std::process::id()));
    tracing::info!(source = %src.display(), "compiling gadget");
    let mut cmd = Command::new(&clang);
    cmd.args(CFLAGS)
        .arg(&arch)
        .arg("-I")
        .arg(&include)
        .arg("-I")
        .arg(&vmlinux)
        .arg("-I")
        .arg(dir);
    for d in system {
        cmd.arg("-idirafter").arg(d);
    }
    let out = cmd
        .arg("-MD")
        .arg("-MF")
        .arg(&depfile)
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&tmp)
        .output()
        .map_err(io(&clang))?;
    let made = fs::read_to_string(&depfile).unwrap_or_default();
    let _ = fs::remove_file(&depfile);
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
    // What the key does not cover: headers clang read from anywhere but rig's embedded include
    // directory, vmlinux.h and the system directories (`#include "../shared.h"`), with their
    // hashes, so a cached object is used only while they are unchanged.
    let keyed: Vec<&Path> = [include.as_path(), vmlinux.as_path(), Path::new("/usr")]
        .into_iter()
        .chain(system.iter().map(PathBuf::as_path))
        .collect();
    let mut deps = String::new();
    for dep in depfile_paths(&made) {
        let path = PathBuf::from(dep);
        if path == src || keyed.iter().any(|d| path.starts_with(d)) {
            continue;
        }
        // Absolute, so a later run from another working directory checks the same file.
        let path = fs::canonicalize(&path).map_err(io(&path))?;
        let data = fs::read(&path).map_err(io(&path))?;
        deps.push_str(&format!("{} {}\n", hex::encode(Sha256::digest(&data)), path.display()));
    }
    atomic_write(&deps_file, deps.as_bytes())?;
    fs::rename(&tmp, &obj).map_err(io(&obj))?;
    Ok(obj)
}

/// The prerequisites of a make-style dependency file (`obj: a b \` continued), unescaping `\ `.
fn depfile_paths(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let Some((_, rest)) = joined.split_once(": ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                cur.push(' ');
                chars.next();
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether every header recorded in `deps_file` still has the content it had when the object was
/// built (a missing record means an object from before records were kept: rebuild it once).
fn deps_unchanged(deps_file: &Path) -> bool {
    let Ok(text) = fs::read_to_string(deps_file) else {
        return false;
    };
    text.lines().all(|line| {
        line.split_once(' ').is_some_and(|(hash, path)| {
            fs::read(path).is_ok_and(|data| hex::encode(Sha256::digest(&data)) == hash)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depfiles_list_every_prerequisite_with_escaped_spaces() {
        let d = "/c/k.tmp.o: /g/program.bpf.c /c/include/gadget/types.h \\\n  /g/../shared.h /g/with\\ space.h\n";
        assert_eq!(
            depfile_paths(d),
            ["/g/program.bpf.c", "/c/include/gadget/types.h", "/g/../shared.h", "/g/with space.h"]
        );
        assert!(depfile_paths("").is_empty());
    }

    #[test]
    fn a_header_outside_the_gadget_folder_invalidates_the_cached_object() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("g");
        fs::create_dir_all(&dir).unwrap();
        fs::write(root.path().join("shared.h"), "#define RIG_VALUE 1\n").unwrap();
        fs::write(
            dir.join("program.bpf.c"),
            "#include \"../shared.h\"\nint rig_value = RIG_VALUE;\nchar LICENSE[] __attribute__((section(\"license\"))) = \"GPL\";\n",
        )
        .unwrap();
        let first = compile(&dir, "program.bpf.c").expect("compiles");
        let before = fs::read(&first).unwrap();
        assert_eq!(compile(&dir, "program.bpf.c").unwrap(), first, "unchanged inputs hit the cache");
        fs::write(root.path().join("shared.h"), "#define RIG_VALUE 2\n").unwrap();
        let second = compile(&dir, "program.bpf.c").expect("compiles again");
        assert_ne!(fs::read(&second).unwrap(), before, "the edited header was compiled in");
    }

    #[test]
    fn search_list_reads_clang_verbose_output() {
        let verbose = "clang version 19\n#include \"...\" search starts here:\n\
                       #include <...> search starts here:\n /usr/lib/llvm-19/lib/clang/19/include\n \
                       /usr/local/include\n /usr/include/x86_64-linux-gnu\n /usr/include\nEnd of search list.\n";
        let dirs = search_list(verbose);
        assert_eq!(
            dirs,
            [
                "/usr/lib/llvm-19/lib/clang/19/include",
                "/usr/local/include",
                "/usr/include/x86_64-linux-gnu",
                "/usr/include"
            ]
            .map(PathBuf::from)
        );
        assert!(search_list("no list here").is_empty());
    }

    #[test]
    fn target_arch_is_libbpfs_name() {
        let define = target_arch_define();
        assert!(define.starts_with("-D__TARGET_ARCH_"), "{define}");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(define, "-D__TARGET_ARCH_x86");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(define, "-D__TARGET_ARCH_arm64");
    }

    /// The multiarch directory is what `-target bpf` misses on Debian; found by asking clang.
    #[test]
    fn host_system_includes_add_the_multiarch_dir() {
        let Ok(clang) = find_tool("RIG_CLANG", &["clang-19", "clang"]) else {
            panic!("clang is needed to build gadgets; run ./setup.sh");
        };
        let dirs = host_system_includes(&clang);
        assert!(
            dirs.iter().any(|d| d.join("asm/types.h").is_file()),
            "no directory with asm/types.h in {dirs:?}"
        );
    }
}
