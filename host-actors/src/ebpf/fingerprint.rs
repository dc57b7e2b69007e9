//! Which programs of an object are the same code, so the verifier sees each only once.
//!
//! Gadgets often hold twins: `trace_exec`'s exit handlers for `execve` and `execveat` are one
//! inline function compiled into two sections, and the verifier spends ≈ 28 ms on each here — the
//! largest part of a run's start. A program that is byte for byte the same as an earlier one, with
//! the same relocations (map and data references by symbol) and the same CO-RE relocation records
//! (`.BTF.ext`), relocates and verifies to the same result, so rig loads it once and attaches that
//! one program to both hooks (a tracepoint program may be attached any number of times).
//!
//! The fingerprint is deliberately strict: a section whose relocations cannot all be read, or
//! whose CO-RE records cannot be found, has none, and so is never shared. The end-to-end test is
//! `tests/tests/startup.rs` (trace_exec loads four programs for five hooks, and both fire).

use std::collections::BTreeMap;

use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
use sha2::{Digest, Sha256};

/// A program section's code identity.
pub type Fingerprint = [u8; 32];

/// Fingerprints of the sections named in `sections` (others are skipped).
pub fn of_sections(elf: &object::File<'_>, sections: &[&str]) -> BTreeMap<String, Fingerprint> {
    let core = core_relocations(elf);
    let mut out = BTreeMap::new();
    for sec in elf.sections() {
        let Ok(name) = sec.name() else { continue };
        if !sections.contains(&name) {
            continue;
        }
        let Some(fp) = fingerprint(elf, &sec, core.as_ref().map(|c| c.get(name).map(Vec::as_slice).unwrap_or_default()))
        else {
            continue;
        };
        out.insert(name.to_owned(), fp);
    }
    out
}

fn fingerprint(elf: &object::File<'_>, sec: &object::Section<'_, '_>, core: Option<&[u8]>) -> Option<Fingerprint> {
    let mut h = Sha256::new();
    let data = sec.data().ok()?;
    h.update((data.len() as u64).to_le_bytes());
    h.update(data);
    for (offset, rel) in sec.relocations() {
        h.update(offset.to_le_bytes());
        h.update(format!("{:?}/{:?}/{}", rel.kind(), rel.encoding(), rel.addend()).as_bytes());
        match rel.target() {
            RelocationTarget::Symbol(i) => {
                let sym = elf.symbol_by_index(i).ok()?;
                h.update(sym.name_bytes().ok()?);
                h.update([0]);
                // Section symbols (.rodata, .text) name their section, not themselves.
                if let Some(idx) = sym.section_index() {
                    h.update(elf.section_by_index(idx).ok()?.name_bytes().ok()?);
                }
                h.update(sym.address().to_le_bytes());
            }
            RelocationTarget::Section(idx) => h.update(elf.section_by_index(idx).ok()?.name_bytes().ok()?),
            _ => return None,
        }
    }
    // No CO-RE table at all: nothing to compare (an object without .BTF.ext has no CO-RE).
    h.update(core?);
    Some(h.finalize().into())
}

/// The CO-RE relocation records of `.BTF.ext`, per section name (the records' raw bytes, which
/// hold instruction offsets, local type ids and access-string offsets of the one object BTF).
/// `None` when `.BTF.ext` exists but cannot be read; empty when there is none.
fn core_relocations(elf: &object::File<'_>) -> Option<BTreeMap<String, Vec<u8>>> {
    let Some(ext) = elf.section_by_name(".BTF.ext") else {
        return Some(BTreeMap::new());
    };
    let ext = ext.data().ok()?;
    let btf = elf.section_by_name(".BTF")?.data().ok()?;
    let u32_at = |b: &[u8], at: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?)) };
    // .BTF: the string table (header length at 4, string offset and length at 16 and 20).
    let (hdr, str_off, str_len) = (u32_at(btf, 4)? as usize, u32_at(btf, 16)? as usize, u32_at(btf, 20)? as usize);
    let strings = btf.get(hdr + str_off..hdr + str_off + str_len)?;
    let string = |off: u32| -> Option<&str> {
        let s = strings.get(off as usize..)?;
        std::str::from_utf8(&s[..s.iter().position(|&b| b == 0)?]).ok()
    };
    // .BTF.ext: CO-RE records exist from a 32-byte header on (offset at 24, length at 28).
    let ext_hdr = u32_at(ext, 4)? as usize;
    let mut out = BTreeMap::new();
    if ext_hdr < 32 {
        return Some(out);
    }
    let (off, len) = (u32_at(ext, 24)? as usize, u32_at(ext, 28)? as usize);
    let relos = ext.get(ext_hdr + off..ext_hdr + off + len)?;
    if relos.is_empty() {
        return Some(out);
    }
    let rec = u32_at(relos, 0)? as usize;
    let mut at = 4;
    while at < relos.len() {
        let name = string(u32_at(relos, at)?)?;
        let n = u32_at(relos, at + 4)? as usize;
        let body = relos.get(at + 8..at + 8 + n.checked_mul(rec)?)?;
        out.insert(name.to_owned(), body.to_vec());
        at += 8 + body.len();
    }
    Some(out)
}
