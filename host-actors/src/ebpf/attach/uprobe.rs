//! User-space probes: `uprobe/LIB:SYMBOL` and `uretprobe/LIB:SYMBOL` sections, resolved as IG's
//! `uprobetracer` resolves them.
//!
//! `LIB` is an absolute path, or a library name such as `libc` or `libssl`: every entry of
//! `/etc/ld.so.cache` whose name starts with `LIB.so` (IG's rule, so `libc` finds `libc.so.6`,
//! 64- and 32-bit alike), or, when the cache has none, the libraries running processes map
//! (`/proc/*/maps`). Each distinct file (device, inode) gets the probe on `SYMBOL` for all
//! processes; a file without the symbol (say the 32-bit copy) is skipped. A library found
//! nowhere, or whose symbol no copy has, is *skipped* with a warning naming the section and what
//! was searched, as IG skips it (trace_ssl probes libssl, libcrypto, libgnutls and NSS, and a
//! host rarely has all of them); the loader fails only when no program at all attached.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use aya::programs::UProbe;
use aya::programs::uprobe::UProbeScope;

use super::AttachError;

/// The cache file the dynamic loader reads.
const LD_CACHE: &str = "/etc/ld.so.cache";
/// Largest ld cache read (IG caps it too).
const LD_CACHE_MAX: u64 = 16 << 20;
/// The header of the glibc ≥ 2.x ("new") cache format.
const CACHE_NEW: &[u8] = b"glibc-ld.so.cache1.1";
/// The header of the old format, which may precede the new one.
const CACHE_OLD: &[u8] = b"ld.so-1.7.0";

/// `LIB:SYMBOL` of a uprobe section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UprobeTarget {
    /// A library name or an absolute path.
    pub library: String,
    /// The function.
    pub symbol: String,
}

impl UprobeTarget {
    /// Parses the part after `uprobe/`: `libc:malloc`, `/path/lib.so:fn`.
    pub fn parse(section: &str) -> Result<Self, AttachError> {
        let bad = || AttachError::UprobeSection {
            section: section.to_owned(),
        };
        let (_, rest) = section.split_once('/').ok_or_else(bad)?;
        let (library, symbol) = rest.rsplit_once(':').ok_or_else(bad)?;
        // IG: "section name must be either an absolute path or a library name".
        if library.is_empty() || symbol.is_empty() || (!library.starts_with('/') && library.contains('/')) {
            return Err(bad());
        }
        Ok(Self {
            library: library.to_owned(),
            symbol: symbol.to_owned(),
        })
    }
}

/// Reads a NUL-terminated string at `off` of `data`.
fn c_str_at(data: &[u8], off: usize) -> Option<&[u8]> {
    let tail = data.get(off..)?;
    let end = tail.iter().position(|b| *b == 0)?;
    Some(&tail[..end])
}

fn u32_at(data: &[u8], off: usize) -> Option<usize> {
    let b: [u8; 4] = data.get(off..off + 4)?.try_into().ok()?;
    usize::try_from(u32::from_ne_bytes(b)).ok()
}

/// The paths of every `/etc/ld.so.cache` entry whose name starts with `prefix`, parsed as glibc
/// writes it (the new format, after an optional old-format block). Offsets of names are
/// relative to the new-format header.
pub fn ld_cache_lookup(data: &[u8], prefix: &str) -> Vec<PathBuf> {
    let mut start = 0;
    if data.starts_with(CACHE_OLD) {
        // Old header: magic (12 bytes with NUL) + nlibs, 12-byte entries, then the new format
        // aligned to 8 bytes.
        let Some(n) = u32_at(data, 12) else { return Vec::new() };
        start = (16 + n.saturating_mul(12)).next_multiple_of(8);
    }
    let Some(new) = data.get(start..) else {
        return Vec::new();
    };
    if !new.starts_with(CACHE_NEW) {
        return Vec::new();
    }
    let Some(nlibs) = u32_at(new, 20) else {
        return Vec::new();
    };
    // Header: magic(20) nlibs(4) len_strings(4) flags(1) pad(3) extension(4) unused(12) = 48.
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let mut out = Vec::new();
    for i in 0..nlibs.min(new.len() / ENTRY) {
        let e = HEADER + i * ENTRY;
        let (Some(key), Some(value)) = (u32_at(new, e + 4), u32_at(new, e + 8)) else {
            break;
        };
        let (Some(k), Some(v)) = (c_str_at(new, key), c_str_at(new, value)) else {
            continue;
        };
        if k.starts_with(prefix.as_bytes()) {
            out.push(PathBuf::from(String::from_utf8_lossy(v).into_owned()));
        }
    }
    out
}

/// Libraries mapped by running processes whose file name starts with `prefix`.
fn mapped_libraries(prefix: &str) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for p in procs.flatten() {
        if !p.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(maps) = std::fs::read_to_string(p.path().join("maps")) else {
            continue;
        };
        for line in maps.lines() {
            let Some(path) = line.split_whitespace().nth(5) else {
                continue;
            };
            let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned());
            if path.starts_with('/') && name.is_some_and(|n| n.starts_with(prefix)) {
                out.insert(PathBuf::from(path));
            }
        }
    }
    out.into_iter().collect()
}

/// The distinct files (by device and inode) a target names, and what was searched.
pub fn resolve(target: &UprobeTarget) -> (Vec<PathBuf>, String) {
    if target.library.starts_with('/') {
        let p = PathBuf::from(&target.library);
        let found = if p.is_file() { vec![p] } else { Vec::new() };
        return (found, target.library.clone());
    }
    let prefix = format!("{}.so", target.library);
    let mut searched = format!("{LD_CACHE} for {prefix}*");
    let cache = std::fs::File::open(LD_CACHE).and_then(|f| {
        use std::io::Read as _;
        let mut data = Vec::new();
        f.take(LD_CACHE_MAX).read_to_end(&mut data)?;
        Ok(data)
    });
    let mut found = match cache {
        Ok(data) => ld_cache_lookup(&data, &prefix),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read {LD_CACHE}");
            Vec::new()
        }
    };
    if found.is_empty() {
        searched.push_str(&format!(
            ", libraries mapped by running processes (/proc/*/maps) named {prefix}*"
        ));
        found = mapped_libraries(&prefix);
    }
    let mut seen = BTreeSet::new();
    found.retain(|p| {
        std::fs::metadata(p)
            .map(|m| seen.insert((m.dev(), m.ino())))
            .unwrap_or(false)
    });
    (found, searched)
}

/// What attaching one uprobe program did.
#[derive(Debug)]
pub enum UprobeOutcome {
    /// Attached to these files.
    Attached(Vec<PathBuf>),
    /// Nothing to attach to; the reason says what was searched.
    Skipped(AttachError),
}

/// Attaches `prog` to `target.symbol` in every file the target resolves to.
pub fn attach(prog: &mut UProbe, section: &str) -> Result<UprobeOutcome, AttachError> {
    let target = UprobeTarget::parse(section)?;
    let (files, searched) = resolve(&target);
    if files.is_empty() {
        return Ok(UprobeOutcome::Skipped(AttachError::LibraryNotFound {
            library: target.library,
            searched,
        }));
    }
    let mut attached = Vec::new();
    let mut last = None;
    for f in &files {
        match prog.attach([target.symbol.as_str()], f, UProbeScope::AllProcesses) {
            Ok(_) => attached.push(f.clone()),
            Err(source) => {
                tracing::debug!(file = %f.display(), error = %super::chain(&source), "uprobe not attached to this copy");
                last = Some(source);
            }
        }
    }
    match (attached.is_empty(), last) {
        (false, _) | (true, None) => Ok(UprobeOutcome::Attached(attached)),
        (true, Some(source)) => {
            // A symbol no copy has (a library version without it) is skipped as IG does; the
            // kernel refusing the probe is an error.
            let missing_symbol = matches!(
                &source,
                aya::programs::ProgramError::UProbeError(aya::programs::uprobe::UProbeError::SymbolError { .. })
            );
            let e = AttachError::Uprobe {
                symbol: target.symbol,
                files: files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                source: Box::new(source),
            };
            if missing_symbol {
                Ok(UprobeOutcome::Skipped(e))
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uprobe_section_splits_into_library_and_symbol() {
        let t = UprobeTarget::parse("uprobe/libc:malloc").expect("parse");
        assert_eq!((t.library.as_str(), t.symbol.as_str()), ("libc", "malloc"));
        let t = UprobeTarget::parse("uretprobe//tmp/x/libmylib.so:allocate_memory").expect("parse");
        assert_eq!(t.library, "/tmp/x/libmylib.so");
        assert_eq!(t.symbol, "allocate_memory");
        for bad in [
            "uprobe/libc",
            "uprobe/:malloc",
            "uprobe/libc:",
            "uprobe/rel/path.so:f",
            "uprobe",
        ] {
            assert!(UprobeTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn libc_resolves_through_this_machines_ld_cache() {
        let t = UprobeTarget::parse("uprobe/libc:getpid").expect("parse");
        let (found, searched) = resolve(&t);
        assert!(
            found.iter().any(|p| p.to_string_lossy().contains("libc.so")),
            "{found:?} ({searched})"
        );
    }

    #[test]
    fn a_missing_library_resolves_to_nothing_and_says_what_was_searched() {
        let t = UprobeTarget::parse("uprobe/librignosuchlib:f").expect("parse");
        let (found, searched) = resolve(&t);
        assert!(found.is_empty());
        assert!(
            searched.contains("ld.so.cache") && searched.contains("librignosuchlib.so"),
            "{searched}"
        );
    }

    #[test]
    fn a_truncated_or_foreign_cache_yields_nothing() {
        assert!(ld_cache_lookup(b"", "libc.so").is_empty());
        assert!(ld_cache_lookup(b"glibc-ld.so.cache1.1\xff\xff\xff\xff", "libc.so").is_empty());
        assert!(ld_cache_lookup(b"not a cache at all", "libc.so").is_empty());
    }
}
