//! `bpf_core_type_matches()` (CO-RE relocation kind 12), resolved by rewriting the object.
//!
//! clang compiles `bpf_core_type_matches(struct foo___flavor)` to an instruction carrying `1`
//! (a `mov` or an `ld_imm64`) and a `.BTF.ext` CO-RE record of kind `BPF_CORE_TYPE_MATCHES`
//! naming the local type. aya-obj 0.6 knows kinds 0–11 only and refuses the whole object
//! ("invalid BTF relocation kind `12`"), so rig answers these records itself before aya sees the
//! object: for each one it computes libbpf's answer (`bpf_core_types_match` in libbpf's
//! `relo_core.c`), writes `1` or `0` into the instruction, and drops the record from `.BTF.ext`.
//! Its words: the *essential name* of a type is its name with a `___flavor` suffix cut off; the
//! *candidates* are the kernel's types of a compatible kind whose essential name is the local
//! one's; the relocation is `1` when any candidate *matches*: after typedefs and modifiers,
//! same kind (a struct behind a pointer also matches a forward declaration), ints of the same
//! size and signedness, arrays of the same length of matching elements, pointers to matching
//! types (where structs then only compare kinds), every local struct member present in the
//! target by essential name with a matching type, every local enumerator present by name in an
//! enum of the same size, function prototypes with matching parameters and return type.
//!
//! Invariants: an object without kind-12 records is returned as it is (borrowed, no copy) and the
//! kernel's BTF (~6 MB) is read only when one exists; the rewrite changes the immediates of the
//! relocated instructions, the CO-RE records and the `core_relo_len` of the `.BTF.ext` header,
//! nothing else: the shortened record list is written in place and the bytes it freed are zeroed
//! (aya and libbpf read only what the header declares), so no ELF offset moves. Kernel module BTF
//! is not searched (libbpf searches it too): gadgets match vmlinux types.

use std::borrow::Cow;
use std::collections::HashMap;

use object::{Object as _, ObjectSection as _};

use super::btf::{self, Btf, BtfError, BtfKind, MAX_DEPTH};

/// The kernel's BTF.
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
/// `BPF_CORE_TYPE_MATCHES` in `enum bpf_core_relo_kind`.
pub const TYPE_MATCHES: u32 = 12;
/// The smallest `.BTF.ext` header that has the CO-RE fields (`core_relo_off`, `core_relo_len`).
const EXT_HEADER_CORE: usize = 32;
/// `struct bpf_core_relo`: `insn_off`, `type_id`, `access_str_off`, `kind`.
const RECORD: usize = 16;
/// Offset of `core_relo_len` in the `.BTF.ext` header.
const CORE_RELO_LEN_AT: usize = 28;

/// Why the `bpf_core_type_matches()` relocations of an object could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum TypeMatchError {
    /// The ELF itself could not be read.
    #[error("cannot read the object's ELF sections")]
    Elf(#[source] object::Error),
    /// `.BTF.ext` is malformed where rig looked.
    #[error("malformed .BTF.ext section: {what}")]
    Ext {
        /// What is wrong.
        what: &'static str,
    },
    /// The object has kind-12 relocations but its `.BTF` is missing or malformed.
    #[error("cannot read the object's .BTF section")]
    ObjectBtf(#[source] BtfError),
    /// The kernel's BTF could not be read.
    #[error("bpf_core_type_matches needs the kernel's BTF, which cannot be read ({path})")]
    KernelBtfRead {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel's BTF is malformed.
    #[error("cannot parse the kernel's BTF ({path})")]
    KernelBtf {
        /// The file.
        path: String,
        /// What is wrong.
        #[source]
        source: BtfError,
    },
    /// A record names a type without a name (libbpf refuses these too).
    #[error("a bpf_core_type_matches relocation names {ty}, which has no name")]
    Unnamed {
        /// The local type, as [`Btf::describe`] names it.
        ty: String,
    },
    /// Matching a type walked into a cycle or nested too deep.
    #[error("bpf_core_type_matches({ty}): the types nest deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// The local type.
        ty: String,
    },
    /// A record names an ELF section the object lacks.
    #[error("a bpf_core_type_matches relocation refers to section {section}, which the object lacks")]
    NoSection {
        /// The section name from `.BTF`'s strings.
        section: String,
    },
    /// The relocated instruction is not one rig (or libbpf) can patch.
    #[error("bpf_core_type_matches relocation in section {section} at byte {insn_off}: {what}")]
    Instruction {
        /// The ELF section.
        section: String,
        /// Byte offset of the instruction in it.
        insn_off: u32,
        /// What is wrong.
        what: &'static str,
    },
}

/// One record of the CO-RE subsection of `.BTF.ext`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CoreRelo {
    /// Byte offset of the instruction in its section.
    insn_off: u32,
    /// The local type id.
    type_id: u32,
    /// `enum bpf_core_relo_kind`.
    kind: u32,
    /// Where the whole record (`rec_size` bytes) starts in `.BTF.ext`.
    at: usize,
}

/// The records of one ELF section.
#[derive(Debug)]
struct Group {
    /// The section's name: an offset into `.BTF`'s strings.
    sec_name_off: u32,
    records: Vec<CoreRelo>,
}

/// The CO-RE subsection of `.BTF.ext`.
#[derive(Debug)]
struct CoreRelos {
    /// Where it starts in `.BTF.ext` (its `rec_size` word).
    start: usize,
    /// Its declared length.
    len: usize,
    rec_size: usize,
    groups: Vec<Group>,
}

fn word(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// Reads the CO-RE subsection of a `.BTF.ext` section (`None`: it has none).
fn parse_ext(ext: &[u8]) -> Result<Option<CoreRelos>, TypeMatchError> {
    let bad = |what| TypeMatchError::Ext { what };
    if ext.get(0..2) != Some(&[0x9f, 0xeb][..]) {
        return Err(bad("bad magic (not little-endian BTF.ext)"));
    }
    let hdr_len = word(ext, 4).ok_or(bad("truncated header"))? as usize;
    if hdr_len > ext.len() {
        return Err(bad("header longer than the section"));
    }
    if hdr_len < EXT_HEADER_CORE {
        return Ok(None);
    }
    let off = word(ext, 24).ok_or(bad("truncated header"))? as usize;
    let len = word(ext, CORE_RELO_LEN_AT).ok_or(bad("truncated header"))? as usize;
    if len == 0 {
        return Ok(None);
    }
    let start = hdr_len.checked_add(off).ok_or(bad("CO-RE subsection out of bounds"))?;
    let end = start.checked_add(len).ok_or(bad("CO-RE subsection out of bounds"))?;
    let sub = ext.get(start..end).ok_or(bad("CO-RE subsection out of bounds"))?;
    let rec_size = word(sub, 0).ok_or(bad("CO-RE subsection has no record size"))? as usize;
    if rec_size < RECORD {
        return Err(bad("CO-RE record size smaller than struct bpf_core_relo"));
    }
    let mut groups = Vec::new();
    let mut pos = 4;
    while pos < sub.len() {
        let sec_name_off = word(sub, pos).ok_or(bad("truncated CO-RE section header"))?;
        let count = word(sub, pos + 4).ok_or(bad("truncated CO-RE section header"))? as usize;
        pos += 8;
        if count == 0 {
            return Err(bad("a CO-RE section lists no records"));
        }
        let bytes = count.checked_mul(rec_size).ok_or(bad("CO-RE record count overflows"))?;
        if sub.len() - pos < bytes {
            return Err(bad("CO-RE records run past the subsection"));
        }
        let records = (0..count)
            .map(|i| {
                let r = pos + i * rec_size;
                CoreRelo {
                    insn_off: word(sub, r).unwrap_or_default(),
                    type_id: word(sub, r + 4).unwrap_or_default(),
                    kind: word(sub, r + 12).unwrap_or_default(),
                    at: start + r,
                }
            })
            .collect();
        pos += bytes;
        groups.push(Group { sec_name_off, records });
    }
    Ok(Some(CoreRelos {
        start,
        len,
        rec_size,
        groups,
    }))
}

/// The object with its `bpf_core_type_matches()` relocations resolved against this kernel's
/// BTF, or the object itself (borrowed) when it has none.
pub fn resolve(elf: &[u8]) -> Result<Cow<'_, [u8]>, TypeMatchError> {
    resolve_with(elf, kernel_btf)
}

/// Reads and parses `/sys/kernel/btf/vmlinux`.
fn kernel_btf() -> Result<Btf, TypeMatchError> {
    let data = std::fs::read(VMLINUX).map_err(|source| TypeMatchError::KernelBtfRead {
        path: VMLINUX.to_owned(),
        source,
    })?;
    Btf::parse(&data).map_err(|source| TypeMatchError::KernelBtf {
        path: VMLINUX.to_owned(),
        source,
    })
}

/// The byte range of a section in the file (`None`: it has no data there).
fn file_range(section: &object::Section<'_, '_>) -> Option<std::ops::Range<usize>> {
    let (off, size) = section.file_range()?;
    let start = usize::try_from(off).ok()?;
    Some(start..start.checked_add(usize::try_from(size).ok()?)?)
}

/// [`resolve`] against the kernel BTF `kernel` returns (called only when needed).
fn resolve_with(
    elf: &[u8],
    kernel: impl FnOnce() -> Result<Btf, TypeMatchError>,
) -> Result<Cow<'_, [u8]>, TypeMatchError> {
    let file = object::File::parse(elf).map_err(TypeMatchError::Elf)?;
    let Some(ext_range) = file.section_by_name(".BTF.ext").as_ref().and_then(file_range) else {
        return Ok(Cow::Borrowed(elf));
    };
    let ext = elf.get(ext_range.clone()).ok_or(TypeMatchError::Ext {
        what: "section lies past the end of the file",
    })?;
    let Some(relos) = parse_ext(ext)? else {
        return Ok(Cow::Borrowed(elf));
    };
    if !relos
        .groups
        .iter()
        .flat_map(|g| &g.records)
        .any(|r| r.kind == TYPE_MATCHES)
    {
        return Ok(Cow::Borrowed(elf));
    }
    let btf_data = file
        .section_by_name(".BTF")
        .as_ref()
        .and_then(file_range)
        .and_then(|r| elf.get(r))
        .ok_or(TypeMatchError::ObjectBtf(BtfError::Missing))?;
    let local = Btf::parse(btf_data).map_err(TypeMatchError::ObjectBtf)?;
    let kernel = kernel()?;
    let mut out = elf.to_vec();
    let mut answers: HashMap<u32, bool> = HashMap::new();
    for group in &relos.groups {
        let section = btf::string_at(btf_data, group.sec_name_off).ok_or(TypeMatchError::Ext {
            what: "a CO-RE section name lies past .BTF's strings",
        })?;
        let mut code = None;
        for r in group.records.iter().filter(|r| r.kind == TYPE_MATCHES) {
            let range = match &code {
                Some(range) => range,
                None => code.insert(
                    file.section_by_name(&section)
                        .as_ref()
                        .and_then(file_range)
                        .ok_or_else(|| TypeMatchError::NoSection {
                            section: section.clone(),
                        })?,
                ),
            };
            let matched = match answers.get(&r.type_id) {
                Some(m) => *m,
                None => {
                    let m = type_matches(&local, r.type_id, &kernel)?;
                    tracing::debug!(ty = %local.describe(r.type_id), matched = m, "bpf_core_type_matches resolved");
                    *answers.entry(r.type_id).or_insert(m)
                }
            };
            patch(&mut out[range.clone()], r.insn_off, u32::from(matched)).map_err(|what| {
                TypeMatchError::Instruction {
                    section: section.clone(),
                    insn_off: r.insn_off,
                    what,
                }
            })?;
        }
    }
    let ext_out = &mut out[ext_range];
    let (region, new_len) = rewrite_records(ext, &relos);
    ext_out[relos.start..relos.start + relos.len].copy_from_slice(&region);
    ext_out[CORE_RELO_LEN_AT..CORE_RELO_LEN_AT + 4].copy_from_slice(&new_len.to_le_bytes());
    Ok(Cow::Owned(out))
}

/// The CO-RE subsection without its kind-12 records, zero-padded to its old length, and its
/// new length (0 when no record is left).
fn rewrite_records(ext: &[u8], relos: &CoreRelos) -> (Vec<u8>, u32) {
    let mut region = Vec::with_capacity(relos.len);
    region.extend_from_slice(&(relos.rec_size as u32).to_le_bytes());
    for group in &relos.groups {
        let kept: Vec<&CoreRelo> = group.records.iter().filter(|r| r.kind != TYPE_MATCHES).collect();
        if kept.is_empty() {
            continue;
        }
        region.extend_from_slice(&group.sec_name_off.to_le_bytes());
        region.extend_from_slice(&(kept.len() as u32).to_le_bytes());
        for r in kept {
            region.extend_from_slice(&ext[r.at..r.at + relos.rec_size]);
        }
    }
    let new_len = if region.len() == 4 { 0 } else { region.len() as u32 };
    region.resize(relos.len, 0);
    (region, new_len)
}

/// Writes `value` into the instruction at `insn_off` of `code` as libbpf's `bpf_core_patch_insn`
/// does: the immediate of an ALU/ALU64 instruction with a constant operand, or the 64-bit
/// immediate of an `ld_imm64`; the instruction must carry clang's local answer, `1`.
fn patch(code: &mut [u8], insn_off: u32, value: u32) -> Result<(), &'static str> {
    const BPF_LD_IMM64: u8 = 0x18;
    let at = insn_off as usize;
    if !at.is_multiple_of(8) {
        return Err("the offset is not at an instruction boundary");
    }
    let insn = code
        .get_mut(at..at + 8)
        .ok_or("the offset lies past the end of the section")?;
    let op = insn[0];
    let imm = |b: &[u8]| u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    match op & 0x07 {
        0x04 | 0x07 if op & 0x08 == 0 => {
            if imm(insn) != 1 {
                return Err("the instruction's immediate is not 1 (clang's local answer)");
            }
            insn[4..8].copy_from_slice(&value.to_le_bytes());
        }
        0x00 if op == BPF_LD_IMM64 => {
            let pair = code
                .get_mut(at..at + 16)
                .ok_or("ld_imm64 is cut off by the end of the section")?;
            if imm(&pair[..8]) != 1 || imm(&pair[8..]) != 0 {
                return Err("the ld_imm64's immediate is not 1 (clang's local answer)");
            }
            pair[4..8].copy_from_slice(&value.to_le_bytes());
        }
        _ => return Err("not an ALU instruction with an immediate nor an ld_imm64"),
    }
    Ok(())
}

/// Length of a name's essential part: up to a `___flavor` suffix (libbpf's
/// `bpf_core_essential_name_len`: the last `X___Y` where X and Y are not underscores).
fn essential(name: &str) -> &str {
    let b = name.as_bytes();
    (0..b.len().saturating_sub(4))
        .rev()
        .find(|&i| b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_')
        .map_or(name, |i| &name[..=i])
}

/// libbpf's `bpf_core_names_match`: an anonymous target matches an anonymous local only.
fn names_match(local: &str, target: &str) -> bool {
    if target.is_empty() {
        return local.is_empty();
    }
    essential(local) == essential(target)
}

/// A kind as libbpf's `btf_kind_core_compat` compares them (enum and enum64 are one kind in
/// rig's reader already).
fn kind_class(kind: &BtfKind) -> (u8, bool) {
    match kind {
        BtfKind::Void => (0, false),
        BtfKind::Int { .. } => (1, false),
        BtfKind::Ptr => (2, false),
        BtfKind::Array { .. } => (3, false),
        BtfKind::Struct { union, .. } => (4, *union),
        BtfKind::Enum { .. } => (6, false),
        BtfKind::Fwd { .. } => (7, false),
        BtfKind::Typedef(_) => (8, false),
        BtfKind::Modifier(_) => (9, false),
        BtfKind::FuncProto { .. } => (13, false),
        BtfKind::Var(_) => (14, false),
        BtfKind::Datasec(_) => (15, false),
        BtfKind::Float(_) => (16, false),
        BtfKind::Other => (12, false),
    }
}

/// The relocation's value: does any kernel candidate of local type `id` match it?
fn type_matches(local: &Btf, id: u32, kernel: &Btf) -> Result<bool, TypeMatchError> {
    let t = local.get(id);
    if t.name.is_empty() {
        return Err(TypeMatchError::Unnamed { ty: local.describe(id) });
    }
    let want = essential(&t.name);
    let class = kind_class(&t.kind);
    let too_deep = || TypeMatchError::TooDeep { ty: local.describe(id) };
    for (cand, ct) in kernel.ids() {
        if ct.name.is_empty() || kind_class(&ct.kind) != class || essential(&ct.name) != want {
            continue;
        }
        if types_match(local, id, kernel, cand, false, MAX_DEPTH).map_err(|_| too_deep())? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Matching walked too deep (libbpf's `-EINVAL`).
struct Deep;

impl From<BtfError> for Deep {
    fn from(_: BtfError) -> Self {
        Deep
    }
}

/// libbpf's `__bpf_core_types_match`: `level` bounds the recursion through members and
/// parameters, the loop bounds the chain through pointers, arrays and return types.
fn types_match(l: &Btf, mut lid: u32, t: &Btf, mut tid: u32, mut behind_ptr: bool, level: usize) -> Result<bool, Deep> {
    if level == 0 {
        return Err(Deep);
    }
    for _ in 0..MAX_DEPTH {
        let (li, _) = l.resolve(lid)?;
        let (ti, _) = t.resolve(tid)?;
        let (lt, tt) = (l.get(li), t.get(ti));
        if !names_match(&lt.name, &tt.name) {
            return Ok(false);
        }
        match (&lt.kind, &tt.kind) {
            (BtfKind::Void, target) => return Ok(*target == BtfKind::Void),
            (BtfKind::Fwd { union: lu }, target) => {
                return Ok(match target {
                    BtfKind::Fwd { union: tu } => lu == tu,
                    BtfKind::Struct { union: tu, .. } => behind_ptr && lu == tu,
                    _ => false,
                });
            }
            (BtfKind::Enum { .. }, BtfKind::Enum { .. }) => return Ok(enums_match(&lt.kind, &tt.kind)),
            (
                BtfKind::Struct {
                    union: lu, members: lm, ..
                },
                target,
            ) => {
                return match target {
                    BtfKind::Struct { union: tu, .. } if behind_ptr => Ok(lu == tu),
                    BtfKind::Fwd { union: tu } if behind_ptr => Ok(lu == tu),
                    BtfKind::Struct {
                        union: tu, members: tm, ..
                    } if lu == tu => composites_match(l, lm, t, tm, level),
                    _ => Ok(false),
                };
            }
            (
                BtfKind::Int {
                    size: ls, signed: lsg, ..
                },
                BtfKind::Int {
                    size: ts, signed: tsg, ..
                },
            ) => return Ok(ls == ts && lsg == tsg),
            (BtfKind::Ptr, BtfKind::Ptr) => {
                behind_ptr = true;
                lid = l.pointee(li).unwrap_or_default();
                tid = t.pointee(ti).unwrap_or_default();
            }
            (BtfKind::Array { elem: le, len: ll }, BtfKind::Array { elem: te, len: tl }) => {
                if ll != tl {
                    return Ok(false);
                }
                (lid, tid) = (*le, *te);
            }
            (BtfKind::FuncProto { ret: lr, params: lp }, BtfKind::FuncProto { ret: tr, params: tp }) => {
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (a, b) in lp.iter().zip(tp) {
                    if !types_match(l, *a, t, *b, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                (lid, tid) = (*lr, *tr);
            }
            _ => return Ok(false),
        }
    }
    Err(Deep)
}

/// libbpf's `bpf_core_enums_match`: same size, every local enumerator named in the target.
fn enums_match(local: &BtfKind, target: &BtfKind) -> bool {
    let (
        BtfKind::Enum {
            size: ls, values: lv, ..
        },
        BtfKind::Enum {
            size: ts, values: tv, ..
        },
    ) = (local, target)
    else {
        return false;
    };
    ls == ts && lv.len() <= tv.len() && lv.iter().all(|(n, _)| tv.iter().any(|(m, _)| names_match(n, m)))
}

/// libbpf's `bpf_core_composites_match`: every local member has a target member of the same
/// essential name whose type matches.
fn composites_match(l: &Btf, lm: &[btf::Member], t: &Btf, tm: &[btf::Member], level: usize) -> Result<bool, Deep> {
    if lm.len() > tm.len() {
        return Ok(false);
    }
    for m in lm {
        let mut matched = false;
        for n in tm.iter().filter(|n| names_match(&m.name, &n.name)) {
            if types_match(l, m.type_id, t, n.type_id, false, level - 1)? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `BPF_CORE_TYPE_EXISTS`.
    const TYPE_EXISTS: u32 = 8;

    /// Flavors of kernel types, each asked `bpf_core_type_matches()` (`__builtin_preserve_type_info`
    /// kind 2) into its own slot of `out`; slot 15 asks `bpf_core_type_exists()` (builtin kind 0, record
    /// kind 8), which must stay a record for aya.
    const FLAVORS: &str = r#"
typedef _Bool bool;
struct task_struct___real { int pid; } __attribute__((preserve_access_index));
struct task_struct___fake { int rig_no_such_member; } __attribute__((preserve_access_index));
struct file___a { unsigned int f_flags; } __attribute__((preserve_access_index));
struct file___b { long f_flags; } __attribute__((preserve_access_index));
struct file___c { int f_flags; } __attribute__((preserve_access_index));
struct mm_struct___mine { int rig_unchecked_behind_a_pointer; };
struct task_struct___ptr { struct mm_struct___mine *mm; } __attribute__((preserve_access_index));
struct rig_no_such_type___x { int a; };
enum bpf_prog_type___x { BPF_PROG_TYPE_SOCKET_FILTER___x = 7 };
enum bpf_prog_type___y { RIG_NO_SUCH_PROG_TYPE___y = 1 };
struct task_struct;
typedef void (*btf_trace_sched_switch___good)(void *, bool, struct task_struct *, struct task_struct *, unsigned int);
typedef void (*btf_trace_sched_switch___short)(void *, bool, struct task_struct *, struct task_struct *);
typedef void (*btf_trace_sched_switch___long)(void *, bool, struct task_struct *, struct task_struct *, unsigned long);
unsigned long long out[16];
#define M(slot, T) out[slot] = __builtin_preserve_type_info(*(T *)0, 2)
__attribute__((section("tracepoint/syscalls/sys_enter_getpid"), used))
int prog(void *ctx)
{
	M(0, struct task_struct___real);
	M(1, struct task_struct___fake);
	M(2, struct file___a);
	M(3, struct file___b);
	M(4, struct file___c);
	M(5, struct task_struct___ptr);
	M(6, struct rig_no_such_type___x);
	M(7, enum bpf_prog_type___x);
	M(8, enum bpf_prog_type___y);
	M(9, btf_trace_sched_switch___good);
	M(10, btf_trace_sched_switch___short);
	M(11, btf_trace_sched_switch___long);
	out[15] = __builtin_preserve_type_info(*(struct task_struct___real *)0, 0);
	return 0;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#;

    /// What each flavor must resolve to on any kernel rig supports.
    const EXPECTED: &[(&str, u32)] = &[
        ("task_struct___real", 1),
        ("task_struct___fake", 0),
        ("file___a", 1),
        ("file___b", 0),
        ("file___c", 0),
        ("task_struct___ptr", 1),
        ("rig_no_such_type___x", 0),
        ("bpf_prog_type___x", 1),
        ("bpf_prog_type___y", 0),
        ("btf_trace_sched_switch___good", 1),
        ("btf_trace_sched_switch___short", 0),
        ("btf_trace_sched_switch___long", 0),
    ];

    /// Compiles `source` with clang as gadgets are compiled (`-target bpf -g -O2`).
    fn compile(source: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = dir.path().join("t.bpf.c");
        let o = dir.path().join("t.bpf.o");
        std::fs::write(&c, source).expect("write C");
        let clang = ["clang-19", "clang"]
            .into_iter()
            .find(|c| std::process::Command::new(c).arg("--version").output().is_ok())
            .expect("clang-19 or clang on PATH");
        let st = std::process::Command::new(clang)
            .args(["-target", "bpf", "-g", "-O2", "-c"])
            .arg(&c)
            .arg("-o")
            .arg(&o)
            .output()
            .expect("run clang");
        assert!(st.status.success(), "clang: {}", String::from_utf8_lossy(&st.stderr));
        std::fs::read(&o).expect("read object")
    }

    /// One CO-RE record of a compiled object, by names.
    #[derive(Debug, PartialEq)]
    struct Rec {
        kind: u32,
        ty: String,
        section: String,
        insn_off: u32,
    }

    fn section<'a>(elf: &'a [u8], name: &str) -> &'a [u8] {
        let file = object::File::parse(elf).unwrap();
        &elf[file_range(&file.section_by_name(name).unwrap()).unwrap()]
    }

    /// The object's CO-RE records, in order.
    fn records(elf: &[u8]) -> Vec<Rec> {
        let btf_data = section(elf, ".BTF");
        let local = Btf::parse(btf_data).unwrap();
        let Some(relos) = parse_ext(section(elf, ".BTF.ext")).unwrap() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for g in &relos.groups {
            for r in &g.records {
                out.push(Rec {
                    kind: r.kind,
                    ty: local.get(r.type_id).name.clone(),
                    section: btf::string_at(btf_data, g.sec_name_off).unwrap(),
                    insn_off: r.insn_off,
                });
            }
        }
        out
    }

    /// The immediate of the instruction a record targets.
    fn imm(elf: &[u8], r: &Rec) -> u32 {
        let at = r.insn_off as usize;
        u32::from_le_bytes(section(elf, &r.section)[at + 4..at + 8].try_into().unwrap())
    }

    #[test]
    fn flavors_resolve_as_libbpf_does_and_their_records_go() {
        let elf = compile(FLAVORS);
        let before = records(&elf);
        let matches: Vec<&Rec> = before.iter().filter(|r| r.kind == TYPE_MATCHES).collect();
        assert_eq!(matches.len(), EXPECTED.len(), "{before:?}");
        assert!(
            matches.iter().all(|r| imm(&elf, r) == 1),
            "clang writes the local answer 1"
        );
        let patched = resolve(&elf).expect("resolve");
        assert!(matches!(patched, Cow::Owned(_)));
        assert_eq!(patched.len(), elf.len(), "no ELF offset moves");
        let got: Vec<(&str, u32)> = matches.iter().map(|r| (r.ty.as_str(), imm(&patched, r))).collect();
        assert_eq!(got, EXPECTED);
        let after = records(&patched);
        let exists: Vec<&Rec> = before.iter().filter(|r| r.kind == TYPE_EXISTS).collect();
        assert_eq!(
            after.iter().collect::<Vec<_>>(),
            exists,
            "only the type_exists record stays"
        );
        assert_eq!(imm(&patched, &after[0]), 1, "aya relocates that one");
        // aya now parses the object (and relocates it against the kernel); it refused it before.
        let refused = aya::EbpfLoader::new().load(&elf).err().map(|e| {
            let mut chain = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                chain = format!("{chain}: {c}");
                cause = c.source();
            }
            chain
        });
        assert!(
            refused.as_deref().is_some_and(|e| e.contains("relocation kind `12`")),
            "{refused:?}"
        );
        aya::EbpfLoader::new()
            .load(&patched)
            .expect("aya loads the rewritten object");
    }

    #[test]
    fn objects_without_type_matches_pass_through_untouched() {
        let elf = compile(&FLAVORS.replace(", 2)", ", 0)"));
        assert!(records(&elf).iter().all(|r| r.kind == TYPE_EXISTS));
        let mut read_kernel = false;
        let out = resolve_with(&elf, || {
            read_kernel = true;
            kernel_btf()
        })
        .unwrap();
        assert!(matches!(out, Cow::Borrowed(b) if b.as_ptr() == elf.as_ptr()));
        assert!(!read_kernel, "the kernel's BTF is read only for kind-12 records");
    }

    #[test]
    fn a_malformed_btf_ext_is_an_error_not_a_panic() {
        let elf = compile(FLAVORS);
        let file = object::File::parse(&*elf).unwrap();
        let range = file_range(&file.section_by_name(".BTF.ext").unwrap()).unwrap();
        drop(file);
        let kernel = std::sync::OnceLock::new();
        let kernel = || Ok(kernel.get_or_init(|| kernel_btf().unwrap()).clone());
        // Every header and record-size word, set to values that break it.
        for at in (0..40).step_by(4) {
            for bad in [0u32, 3, 0xffff_fff0, u32::MAX] {
                let mut e = elf.clone();
                e[range.start + at..range.start + at + 4].copy_from_slice(&bad.to_le_bytes());
                let _ = resolve_with(&e, kernel);
            }
        }
        let mut e = elf.clone();
        e[range.start] = 0;
        let err = resolve_with(&e, kernel).unwrap_err();
        assert!(matches!(err, TypeMatchError::Ext { .. }), "{err}");
        assert!(err.to_string().contains(".BTF.ext"), "{err}");
    }

    #[test]
    fn instructions_are_patched_as_libbpf_patches_them() {
        // mov64 r1, 1; ld_imm64 r2, 1; mov64 r3, r4 (register source); mov64 r5, 7.
        let mut code = [
            [0xb7, 0x01, 0, 0, 1, 0, 0, 0],
            [0x18, 0x02, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0xbf, 0x43, 0, 0, 0, 0, 0, 0],
            [0xb7, 0x05, 0, 0, 7, 0, 0, 0],
        ]
        .concat();
        patch(&mut code, 0, 0).unwrap();
        patch(&mut code, 8, 0).unwrap();
        assert_eq!(code[4..8], [0; 4]);
        assert_eq!(code[12..16], [0; 4]);
        assert!(patch(&mut code, 24, 0).is_err(), "a register operand has no immediate");
        assert!(patch(&mut code, 32, 0).is_err(), "clang's local answer is 1");
        assert!(patch(&mut code, 4, 0).is_err(), "not an instruction boundary");
        assert!(patch(&mut code, 40, 0).is_err(), "past the end");
        assert!(patch(&mut code[..16], 8, 1).is_err(), "ld_imm64 cut off");
    }

    #[test]
    fn essential_names_cut_the_last_flavor() {
        assert_eq!(essential("task_struct___x"), "task_struct");
        assert_eq!(essential("a___b___c"), "a___b");
        assert_eq!(essential("foo____x"), "foo____x");
        assert_eq!(essential("___x"), "___x");
        assert_eq!(essential("plain"), "plain");
        assert!(names_match("", ""));
        assert!(!names_match("x", ""));
    }
}
