//! The target BTF for CO-RE relocations: a minimal one per object and kernel, cached.
//!
//! Relocating a gadget against the whole kernel BTF is the slowest part of starting a run after
//! the verifier: aya parses ~6 MB of `/sys/kernel/btf/vmlinux` (≈ 25 ms here) and then searches
//! it by name for every relocation (≈ 20 ms more for `trace_exec`). Neither depends on anything
//! but the object and the kernel, so rig does it once: `bpftool gen min_core_btf` (the BTFGen
//! step Inspektor Gadget uses for its prebuilt BTFs) writes the few types the object's
//! relocations touch — about a kilobyte — to `<cache dir>/core-btf/<object>-<kernel>.btf`, and
//! later runs relocate against that file in well under a millisecond.
//!
//! It is an optimisation, never a requirement: when bpftool is missing, fails or takes longer
//! than [`BPFTOOL_BOUND`], or when loading against the minimal BTF fails for any reason, the
//! loader falls back to the whole kernel BTF, exactly as before. The kernel part of the cache key
//! is `uname`'s release and version with the BTF file's size (a kernel's BTF changes only with
//! the kernel, which needs a reboot), so it costs no hashing of the 6 MB file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aya::{Btf, Endianness};
use sha2::{Digest, Sha256};

/// The kernel's BTF.
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
/// Longest wait for `bpftool gen min_core_btf` (it takes ~30 ms here).
pub const BPFTOOL_BOUND: Duration = Duration::from_secs(10);

/// The minimal target BTF for `object` on this kernel, from the cache or made now; `None` when
/// it cannot be had (the caller then uses the whole kernel BTF). Never fails the run.
pub fn minimal(object: &[u8]) -> Option<Btf> {
    let path = cache_path(object)?;
    if !path.is_file()
        && let Err(why) = generate(object, &path)
    {
        tracing::debug!(%why, "no minimal CO-RE BTF; relocating against the whole kernel BTF");
        return None;
    }
    match Btf::parse_file(&path, Endianness::default()) {
        Ok(btf) => Some(btf),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "unreadable minimal CO-RE BTF; removing it");
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

/// Forgets the cached minimal BTF of `object` (after a load against it failed).
pub fn forget(object: &[u8]) {
    if let Some(path) = cache_path(object) {
        let _ = std::fs::remove_file(path);
    }
}

/// `<cache dir>/core-btf/<object digest>-<kernel key>.btf`.
fn cache_path(object: &[u8]) -> Option<PathBuf> {
    let kernel = kernel_key()?;
    let obj = hex::encode(&Sha256::digest(object)[..12]);
    Some(crate::compile::cache_dir().join("core-btf").join(format!("{obj}-{kernel}.btf")))
}

/// What identifies this kernel's BTF without reading it.
fn kernel_key() -> Option<String> {
    let size = std::fs::metadata(VMLINUX).ok()?.len();
    // SAFETY: `uname` fills the zeroed struct it is given; its fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect::<Vec<u8>>();
    let mut h = Sha256::new();
    h.update(field(&u.release));
    h.update([0]);
    h.update(field(&u.version));
    h.update(size.to_le_bytes());
    Some(hex::encode(&h.finalize()[..8]))
}

/// Runs bpftool on a private copy of the object and moves its output into place.
fn generate(object: &[u8], dest: &Path) -> Result<(), String> {
    let dir = dest.parent().ok_or("no cache directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Private scratch names (pid-unique) next to the destination; removed on every path.
    let obj = dest.with_extension(format!("{}.o", std::process::id()));
    let out = dest.with_extension(format!("{}.tmp", std::process::id()));
    let result = run_bpftool(object, &obj, &out, dest);
    let _ = std::fs::remove_file(&obj);
    let _ = std::fs::remove_file(&out);
    result
}

fn run_bpftool(object: &[u8], obj: &Path, out: &Path, dest: &Path) -> Result<(), String> {
    let bpftool = crate::compile::find_tool("RIG_BPFTOOL", &["bpftool"]).map_err(|e| e.to_string())?;
    std::fs::write(obj, object).map_err(|e| format!("{}: {e}", obj.display()))?;
    let started = Instant::now();
    let mut child = Command::new(&bpftool)
        .args(["gen", "min_core_btf", VMLINUX])
        .arg(out)
        .arg(obj)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bpftool.display()))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < BPFTOOL_BOUND => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("bpftool took longer than {BPFTOOL_BOUND:?}"));
            }
            Err(e) => return Err(format!("waiting for bpftool: {e}")),
        }
    };
    if !status.success() {
        return Err(format!("bpftool gen min_core_btf: {status}"));
    }
    std::fs::rename(out, dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    tracing::debug!(path = %dest.display(), ms = started.elapsed().as_millis() as u64, "made the minimal CO-RE BTF");
    Ok(())
}
