//! `.kconfig` externs (`extern int LINUX_KERNEL_VERSION __kconfig;`, `CONFIG_*`), which aya
//! 0.16 does not resolve (it knows `.ksyms` only), resolved by rewriting the object before load.
//!
//! clang compiles a read of such an extern to `rX = &EXTERN ll; rY = *(uN *)(rX + off)` with a
//! relocation against an undefined symbol. libbpf backs them with a frozen map; rig instead
//! folds the value into the code: the pair becomes `rY = VALUE ll; rY = rY`, the symbol is
//! marked a data object (so aya's extern and map relocations pass it by), and the `.kconfig`
//! DATASEC of the BTF gets real offsets and static linkage (the kernel refuses extern VARs).
//! Values come from `uname(2)` (`LINUX_KERNEL_VERSION`, as libbpf computes it), libbpf's
//! feature externs (`LINUX_HAS_BPF_COOKIE`, `LINUX_HAS_SYSCALL_WRAPPER`), and the kernel's
//! configuration (`/proc/config.gz`, decompressed with `gzip -dc`, else
//! `/boot/config-$(uname -r)`): `y` is 1, `m` is 2, `n` or unset is 0 (libbpf's tristate),
//! numbers are numbers and strings are bytes. A weak extern the configuration lacks is 0; a
//! strong one is an error naming it, as in libbpf. An object without `.kconfig` is untouched.

use std::borrow::Cow;
use std::collections::BTreeMap;

use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

/// Why the `.kconfig` externs of an object could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum KconfigError {
    /// The ELF or its BTF is malformed where rig looked.
    #[error("cannot read the object's {what}")]
    Malformed {
        /// What.
        what: &'static str,
    },
    /// The kernel configuration could not be read and an extern needs it.
    #[error(
        "extern {name} needs the kernel configuration, which could not be read (/proc/config.gz, /boot/config-RELEASE)"
    )]
    NoConfig {
        /// The extern.
        name: String,
    },
    /// A strong (non-weak) extern the configuration does not set.
    #[error("extern {name} (__kconfig) is not set in this kernel's configuration; declare it __weak to read 0")]
    Unset {
        /// The extern.
        name: String,
    },
    /// A read of an extern rig cannot fold into the code.
    #[error(
        "extern {name} (__kconfig) is used at instruction {insn} of section {section} in a way rig cannot resolve (not an address load followed by a load through it)"
    )]
    Unfoldable {
        /// The extern.
        name: String,
        /// The section.
        section: String,
        /// The instruction index.
        insn: usize,
    },
}

/// The running kernel's version, as libbpf's `KERNEL_VERSION(a, b, c)` encodes it.
pub fn kernel_version() -> u32 {
    // SAFETY: uname fills the zeroed struct; the release field is NUL-terminated.
    let release = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return 0;
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b.min(255) << 8) | c.min(255)
}

/// The running kernel's configuration, `CONFIG_X` → raw value, or `None` when unreadable.
fn kernel_config() -> Option<BTreeMap<String, String>> {
    let text = std::process::Command::new("gzip")
        .args(["-dc", "/proc/config.gz"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .or_else(|| {
            // SAFETY: as in kernel_version.
            let release = unsafe {
                let mut u: libc::utsname = std::mem::zeroed();
                if libc::uname(&mut u) != 0 {
                    return None;
                }
                std::ffi::CStr::from_ptr(u.release.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            };
            std::fs::read_to_string(format!("/boot/config-{release}")).ok()
        })?;
    Some(parse_config(&text))
}

/// `CONFIG_X=value` lines (comments such as `# CONFIG_X is not set` mean unset).
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The bytes of a config value for an extern of `size` bytes.
pub fn config_bytes(value: &str, size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    let num: Option<u64> = match value {
        "y" => Some(1),
        "m" => Some(2),
        "n" => Some(0),
        v if v.starts_with("0x") => u64::from_str_radix(&v[2..], 16).ok(),
        v => v.parse::<i64>().ok().map(|n| u64::from_ne_bytes(n.to_ne_bytes())),
    };
    match num {
        Some(n) if size <= 8 => out.copy_from_slice(&n.to_le_bytes()[..size]),
        _ => {
            let s = value.trim_matches('"').as_bytes();
            let n = s.len().min(size.saturating_sub(1));
            out[..n].copy_from_slice(&s[..n]);
        }
    }
    out
}

/// One `.kconfig` VAR of the BTF: its name, size and where its linkage and secinfo are.
struct KconfigVar {
    name: String,
    size: usize,
    /// Byte offset (in the ELF) of the VAR's linkage field.
    linkage_at: usize,
    /// Byte offset (in the ELF) of its `btf_var_secinfo` (type, offset, size).
    secinfo_at: usize,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Finds the `.kconfig` DATASEC in a `.BTF` section that starts at `base` of the ELF `elf`;
/// returns its VARs and the ELF offset of the DATASEC's size field.
fn kconfig_datasec(elf: &[u8], base: usize, len: usize) -> Option<(Vec<KconfigVar>, usize)> {
    let btf = elf.get(base..base + len)?;
    if btf.get(0..2)? != [0x9f, 0xeb] {
        return None;
    }
    let hdr = usize::try_from(u32_at(btf, 4)?).ok()?;
    let (type_off, type_len) = (u32_at(btf, 8)? as usize, u32_at(btf, 12)? as usize);
    let str_off = u32_at(btf, 16)? as usize;
    let strings = btf.get(hdr + str_off..)?;
    let name_of = |off: u32| -> Option<String> {
        let s = strings.get(off as usize..)?;
        let end = s.iter().position(|b| *b == 0)?;
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    };
    let types = hdr + type_off;
    // (kind, start) of every type, id order from 1.
    let mut starts = vec![(0u32, 0usize)];
    let mut at = types;
    while at < types + type_len {
        let info = u32_at(btf, at + 4)?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => vlen * 12,
            6 | 13 => vlen * 8,
            _ => 0,
        };
        starts.push((kind, at));
        at += 12 + extra;
    }
    for &(kind, start) in &starts {
        if kind != 15 || name_of(u32_at(btf, start)?)?.as_str() != ".kconfig" {
            continue;
        }
        let vlen = (u32_at(btf, start + 4)? & 0xffff) as usize;
        let mut vars = Vec::new();
        for i in 0..vlen {
            let si = start + 12 + i * 12;
            let ty = u32_at(btf, si)? as usize;
            let &(vk, vstart) = starts.get(ty)?;
            if vk != 14 {
                return None;
            }
            vars.push(KconfigVar {
                name: name_of(u32_at(btf, vstart)?)?,
                size: u32_at(btf, si + 8)? as usize,
                linkage_at: base + vstart + 12,
                secinfo_at: base + si,
            });
        }
        return Some((vars, base + start + 8));
    }
    None
}

/// The value of one extern, or `None` when nothing sets it.
fn value_of(
    name: &str,
    size: usize,
    config: &mut Option<Option<BTreeMap<String, String>>>,
) -> Result<Option<Vec<u8>>, KconfigError> {
    let int = |v: u64| Some(v.to_le_bytes()[..size.min(8)].to_vec());
    match name {
        "LINUX_KERNEL_VERSION" => return Ok(int(u64::from(kernel_version()))),
        // Both hold on every kernel rig runs on (≥ 5.15, syscall wrappers on x86-64/arm64).
        "LINUX_HAS_BPF_COOKIE" | "LINUX_HAS_SYSCALL_WRAPPER" => return Ok(int(1)),
        _ => {}
    }
    let cfg = config.get_or_insert_with(kernel_config);
    let Some(cfg) = cfg else {
        return Err(KconfigError::NoConfig { name: name.to_owned() });
    };
    Ok(cfg.get(name).map(|v| config_bytes(v, size)))
}

/// Returns `bytes` with every `.kconfig` extern folded in, or `bytes` itself when it has none.
pub fn resolve(bytes: &[u8]) -> Result<Cow<'_, [u8]>, KconfigError> {
    let malformed = |what| KconfigError::Malformed { what };
    let elf = object::File::parse(bytes).map_err(|_| malformed("ELF"))?;
    let Some(btf) = elf.section_by_name(".BTF") else {
        return Ok(Cow::Borrowed(bytes));
    };
    let Some((base, len)) = btf.file_range() else {
        return Ok(Cow::Borrowed(bytes));
    };
    let (Ok(base), Ok(len)) = (usize::try_from(base), usize::try_from(len)) else {
        return Err(malformed("BTF"));
    };
    let Some((vars, datasec_size_at)) = kconfig_datasec(bytes, base, len) else {
        return Ok(Cow::Borrowed(bytes));
    };
    let mut out = bytes.to_vec();
    // Values, and the BTF made loadable: sequential offsets, static linkage.
    let mut config = None;
    let mut values = BTreeMap::new();
    let mut offset = 0usize;
    for v in &vars {
        let weak = elf
            .symbols()
            .find(|s| s.name() == Ok(v.name.as_str()))
            .is_some_and(|s| s.is_weak());
        let value = match value_of(&v.name, v.size, &mut config)? {
            Some(val) => val,
            None if weak => vec![0; v.size],
            None => return Err(KconfigError::Unset { name: v.name.clone() }),
        };
        tracing::debug!(name = %v.name, value = ?value, "kconfig extern");
        values.insert(v.name.clone(), value);
        let align = v.size.clamp(1, 8).next_power_of_two();
        offset = offset.next_multiple_of(align);
        out[v.linkage_at..v.linkage_at + 4].copy_from_slice(&0u32.to_le_bytes());
        out[v.secinfo_at + 4..v.secinfo_at + 8].copy_from_slice(&(offset as u32).to_le_bytes());
        offset += v.size;
    }
    out[datasec_size_at..datasec_size_at + 4].copy_from_slice(&(offset.max(1) as u32).to_le_bytes());
    // Symbols: note their indexes and mark them data objects.
    let symtab = elf.section_by_name(".symtab").ok_or(malformed(".symtab"))?;
    let (sym_base, _) = symtab.file_range().ok_or(malformed(".symtab"))?;
    let sym_base = usize::try_from(sym_base).map_err(|_| malformed(".symtab"))?;
    let mut by_index = BTreeMap::new();
    for s in elf.symbols() {
        let Ok(name) = s.name() else { continue };
        if s.is_undefined() && values.contains_key(name) {
            by_index.insert(s.index().0, name.to_owned());
            let info_at = sym_base + s.index().0 * 24 + 4;
            let info = out[info_at];
            out[info_at] = (info & 0xf0) | 1; // STT_OBJECT
        }
    }
    // Code: fold every address load and the load through it.
    for sec in elf.sections().filter(|s| s.kind() == object::SectionKind::Text) {
        let Some((sec_base, sec_len)) = sec.file_range() else {
            continue;
        };
        let (sec_base, sec_len) = (sec_base as usize, sec_len as usize);
        let sec_name = sec.name().unwrap_or_default().to_owned();
        for (off, rel) in sec.relocations() {
            let object::RelocationTarget::Symbol(sym) = rel.target() else {
                continue;
            };
            let Some(name) = by_index.get(&sym.0) else { continue };
            let at = sec_base + off as usize;
            let unfoldable = || KconfigError::Unfoldable {
                name: name.clone(),
                section: sec_name.clone(),
                insn: off as usize / 8,
            };
            if at + 24 > sec_base + sec_len || out[at] != 0x18 {
                return Err(unfoldable());
            }
            let addr_reg = out[at + 1] & 0x0f;
            let ldx = &out[at + 16..at + 24];
            let (code, regs) = (ldx[0], ldx[1]);
            // BPF_LDX | BPF_MEM with the address register as source.
            if code & 0x07 != 0x01 || code & 0xe0 != 0x60 || regs >> 4 != addr_reg {
                return Err(unfoldable());
            }
            let size = match code & 0x18 {
                0x00 => 4,
                0x08 => 2,
                0x10 => 1,
                _ => 8,
            };
            let field_off = usize::try_from(i16::from_le_bytes([ldx[2], ldx[3]])).map_err(|_| unfoldable())?;
            let val = &values[name];
            let mut le = [0u8; 8];
            for (i, b) in le.iter_mut().enumerate().take(size) {
                *b = val.get(field_off + i).copied().unwrap_or(0);
            }
            let imm = u64::from_le_bytes(le);
            let dst = regs & 0x0f;
            let mut ld = [0u8; 16];
            ld[0] = 0x18;
            ld[1] = dst;
            ld[4..8].copy_from_slice(&(imm as u32).to_le_bytes());
            ld[12..16].copy_from_slice(&((imm >> 32) as u32).to_le_bytes());
            out[at..at + 16].copy_from_slice(&ld);
            // mov64 dst, dst: a no-op where the load was.
            out[at + 16..at + 24].copy_from_slice(&[0xbf, (dst << 4) | dst, 0, 0, 0, 0, 0, 0]);
        }
    }
    tracing::debug!(externs = values.len(), "kconfig externs folded into the code");
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_follow_libbpfs_rules() {
        assert_eq!(config_bytes("y", 1), vec![1]);
        assert_eq!(config_bytes("m", 1), vec![2]);
        assert_eq!(config_bytes("n", 4), vec![0, 0, 0, 0]);
        assert_eq!(config_bytes("250", 4), 250u32.to_le_bytes().to_vec());
        assert_eq!(config_bytes("0x10", 8), 16u64.to_le_bytes().to_vec());
        assert_eq!(config_bytes("\"abc\"", 5), b"abc\0\0".to_vec());
        let cfg = parse_config("# CONFIG_X is not set\nCONFIG_HZ=250\nCONFIG_BPF=y\n");
        assert_eq!(cfg.get("CONFIG_HZ").map(String::as_str), Some("250"));
        assert!(!cfg.contains_key("CONFIG_X"));
    }

    #[test]
    fn the_kernel_version_is_uname_s() {
        let v = kernel_version();
        assert!(v >> 16 >= 5, "{v:#x}");
    }

    #[test]
    fn this_kernels_configuration_is_readable() {
        let cfg = kernel_config().expect("config");
        assert_eq!(cfg.get("CONFIG_BPF_SYSCALL").map(String::as_str), Some("y"));
    }
}
