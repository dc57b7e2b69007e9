//! Section names IG accepts and aya does not: IG's networking gadgets put their socket filter
//! in `socket1` (libbpf reads any `socket*` section as a socket filter), which aya's parser
//! refuses ("invalid program section"). Before load such a name is rewritten in place to one of
//! the same length that aya reads the same way (`socket1` → `socket/`), both in the ELF section
//! name table and in the BTF string table (whose `.BTF.ext` func and line info name sections).
//! rig's own [`super::super::object`] keeps the original names, so errors say `socket1`.

use std::borrow::Cow;

use object::{Object as _, ObjectSection as _};

/// The name aya accepts for an IG section name, when they differ (same length).
fn aya_name(name: &str) -> Option<String> {
    let rest = name.strip_prefix("socket")?;
    if rest.is_empty() || rest.starts_with('/') {
        return None;
    }
    Some(format!("socket{}", "/".repeat(rest.len())))
}

/// Replaces every NUL-delimited `from` in `table` (a string table) by `to` (same length).
fn replace_strings(table: &mut [u8], from: &[u8], to: &[u8]) {
    let mut i = 0;
    while i + from.len() <= table.len() {
        let starts = i == 0 || table[i - 1] == 0;
        let ends = table.get(i + from.len()).is_none_or(|b| *b == 0);
        if starts && ends && &table[i..i + from.len()] == from {
            table[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// Where each section's name starts in the file (64-bit little-endian ELF; others: `None`).
fn section_name_offsets(b: &[u8]) -> Option<Vec<usize>> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
    if b.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let (entsize, num, strndx) = (
        usize::from(u16_at(0x3a)?),
        usize::from(u16_at(0x3c)?),
        usize::from(u16_at(0x3e)?),
    );
    let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
    let strtab = usize::try_from(u64_at(header(strndx)? + 0x18)?).ok()?;
    (0..num)
        .map(|i| Some(strtab + usize::try_from(u32_at(header(i)?)?).ok()?))
        .collect()
}

/// `bytes` with IG-only section names rewritten for aya, or `bytes` when there are none.
pub fn for_aya(bytes: &[u8]) -> Cow<'_, [u8]> {
    let Ok(elf) = object::File::parse(bytes) else {
        return Cow::Borrowed(bytes);
    };
    let renames: Vec<(String, String)> = elf
        .sections()
        .filter_map(|s| s.name().ok().and_then(|n| aya_name(n).map(|a| (n.to_owned(), a))))
        .collect();
    if renames.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = bytes.to_vec();
    // BTF strings (what `.BTF.ext` names sections by): whole strings only.
    if let Some((at, len)) = elf.section_by_name(".BTF").and_then(|s| s.file_range()) {
        let (at, len) = (
            usize::try_from(at).unwrap_or(usize::MAX),
            usize::try_from(len).unwrap_or(0),
        );
        if let Some(t) = out.get_mut(at..at.saturating_add(len)) {
            for (from, to) in &renames {
                replace_strings(t, from.as_bytes(), to.as_bytes());
            }
        }
    }
    // Section header names, each at its own offset: a name may be the tail of a longer one
    // (".relsocket1"), which then reads ".relsocket/" (relocation sections are found by index).
    if let Some(names) = section_name_offsets(bytes) {
        for at in names {
            for (from, to) in &renames {
                let end = at + from.len();
                if out.get(at..end) == Some(from.as_bytes()) && out.get(end) == Some(&0) {
                    out[at..end].copy_from_slice(to.as_bytes());
                    tracing::debug!(section = %from, as_ = %to, "section renamed for aya");
                }
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_n_becomes_a_name_aya_reads_as_a_socket_filter() {
        assert_eq!(aya_name("socket1").as_deref(), Some("socket/"));
        assert_eq!(aya_name("socket12").as_deref(), Some("socket//"));
        assert_eq!(aya_name("socket"), None);
        assert_eq!(aya_name("socket/x"), None);
        assert_eq!(aya_name("tracepoint/x/y"), None);
    }

    #[test]
    fn only_whole_strings_are_replaced() {
        let mut t = b"\0socket1\0.relsocket1\0socket12\0".to_vec();
        replace_strings(&mut t, b"socket1", b"socket/");
        assert_eq!(&t, b"\0socket/\0.relsocket1\0socket12\0");
    }
}
