//! Kernel addresses to function names, from `/proc/kallsyms`.
//!
//! Read once per run (≈ 200 k lines, tens of milliseconds) when a datasource has a kernel stack,
//! kept sorted by address; a lookup is a binary search for the last symbol at or below the
//! address, as IG's `LookupByInstructionPointer` (bcc's `ksyms__map_addr`) does, and an address
//! below every symbol is `[unknown]`. Addresses are only visible to root (`kptr_restrict`): when
//! every address reads as zero the table is empty and every frame is `[unknown]`.

use std::io::BufRead as _;
use std::path::Path;

/// Where the kernel lists its symbols.
pub const KALLSYMS: &str = "/proc/kallsyms";

/// Why the symbol table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KallsymsError {
    /// The file cannot be opened or read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The kernel's symbols, sorted by address.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    symbols: Vec<(u64, Box<str>)>,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms`.
    pub fn load() -> Result<Self, KallsymsError> {
        Self::from_file(Path::new(KALLSYMS))
    }

    /// Reads a kallsyms-format file (`ADDR TYPE NAME [module]` per line).
    pub fn from_file(path: &Path) -> Result<Self, KallsymsError> {
        let err = |source| KallsymsError::Read {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(err)?;
        let mut symbols = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(err)?;
            let mut it = line.split_ascii_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            // Text symbols only: data symbols would shadow the function an address is in.
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            match u64::from_str_radix(addr, 16) {
                Ok(0) | Err(_) => continue,
                Ok(a) => symbols.push((a, name.into())),
            }
        }
        symbols.sort_unstable_by_key(|(a, _)| *a);
        Ok(Self { symbols })
    }

    /// Number of symbols known.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// True when no symbol is known (no permission to see addresses).
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The function containing `ip`: the last symbol at or below it, or `[unknown]`.
    pub fn lookup(&self, ip: u64) -> &str {
        match self.symbols.partition_point(|(a, _)| *a <= ip) {
            0 => "[unknown]",
            i => &self.symbols[i - 1].1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_the_enclosing_function() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kallsyms");
        std::fs::write(
            &path,
            "ffffffff81000100 T b_func\nffffffff81000000 T a_func\nffffffff81000080 D a_data\n\
             0000000000000000 T hidden\nffffffffc0000000 t mod_func\t[mod]\ngarbage\n",
        )
        .unwrap();
        let k = KernelSymbols::from_file(&path).unwrap();
        assert_eq!(k.len(), 3);
        assert_eq!(k.lookup(0xffff_ffff_8100_0000), "a_func");
        assert_eq!(k.lookup(0xffff_ffff_8100_00ff), "a_func");
        assert_eq!(k.lookup(0xffff_ffff_8100_0150), "b_func");
        assert_eq!(k.lookup(0xffff_ffff_c000_0010), "mod_func");
        assert_eq!(k.lookup(0x10), "[unknown]");
        let e = KernelSymbols::from_file(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("reading ") && e.contains("none"), "{e}");
    }
}
