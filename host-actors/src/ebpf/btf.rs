//! A small reader for the BTF of a gadget's object file.
//!
//! rig finds everything it needs to know about a gadget in the object's own BTF: the marker
//! variables (`gadget_tracer_…`, `gadget_param_…`), the event structs and their members, the
//! typedef names that carry the ABI's special meanings (`gadget_errno`, …) and enums. aya resolves
//! CO-RE against the kernel's BTF, but it does not expose the object's type graph, so this module
//! parses the `.BTF` section itself. It performs no I/O and trusts nothing: every index and offset
//! is bounds-checked and a malformed section is a [`BtfError`].
//!
//! The type graph of an untrusted object may be cyclic (a typedef naming itself, a struct that
//! contains itself, an array of itself) or absurdly deep; every walk over it counts its depth and
//! stops at [`MAX_DEPTH`] with an error naming the type, and sizes are computed with checked
//! arithmetic, so no object can overflow the stack or make rig allocate by a bogus size.

use std::collections::BTreeMap;

use rig_kernel::input::{escape_control, shorten};

/// How deep typedef chains, nested structs and arrays of arrays may go. C types in real gadgets
/// nest a handful of levels; anything deeper is a cycle or an attack.
pub const MAX_DEPTH: usize = 32;

/// BTF type kinds rig cares about (numbering from `include/uapi/linux/btf.h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfKind {
    /// `void` (type id 0).
    Void,
    /// An integer: size in bytes, signedness, char and bool encodings.
    Int {
        /// Size in bytes.
        size: u32,
        /// Signed encoding.
        signed: bool,
        /// `char` encoding.
        char: bool,
        /// `bool` encoding.
        bool: bool,
    },
    /// A pointer.
    Ptr,
    /// A fixed array.
    Array {
        /// Element type id.
        elem: u32,
        /// Number of elements.
        len: u32,
    },
    /// A struct or union.
    Struct {
        /// Size in bytes.
        size: u32,
        /// Members in order.
        members: Vec<Member>,
        /// True for unions.
        union: bool,
    },
    /// An enum (32 or 64 bit).
    Enum {
        /// Size in bytes.
        size: u32,
        /// Signed values.
        signed: bool,
        /// Enumerators.
        values: Vec<(String, i64)>,
    },
    /// A typedef of another type.
    Typedef(u32),
    /// `const`, `volatile`, `restrict` or a type tag around another type.
    Modifier(u32),
    /// A global variable of some type.
    Var(u32),
    /// A data section listing variables.
    Datasec(Vec<u32>),
    /// A float of this many bytes.
    Float(u32),
    /// A forward declaration of a struct or union (`union` is the BTF kind flag).
    Fwd {
        /// True for a forward-declared union.
        union: bool,
    },
    /// A function prototype: return type and parameter types.
    FuncProto {
        /// Return type id (0 for `void`).
        ret: u32,
        /// Parameter type ids in order (0 for a trailing `...`).
        params: Vec<u32>,
    },
    /// A function or declaration tag.
    Other,
}

/// A struct or union member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member name (empty for anonymous members).
    pub name: String,
    /// Member type id.
    pub type_id: u32,
    /// Offset in bits from the start of the struct.
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 when not a bitfield.
    pub bitfield_size: u32,
}

/// One BTF type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfType {
    /// The type's name (empty when anonymous).
    pub name: String,
    /// What it is.
    pub kind: BtfKind,
}

/// A `.BTF` section that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The object has no `.BTF` section (built without `-g`).
    #[error("the object has no .BTF section (compile with clang -g)")]
    Missing,
    /// The header is wrong.
    #[error("bad BTF header: {0}")]
    Header(&'static str),
    /// The type section ends early or holds an unknown kind.
    #[error("malformed BTF type #{id}: {what}")]
    Type {
        /// The type id being read.
        id: u32,
        /// What is wrong.
        what: String,
    },
    /// A type refers to itself, or nests deeper than [`MAX_DEPTH`].
    #[error("type {name} nests deeper than {MAX_DEPTH} levels (does it contain itself?)")]
    TooDeep {
        /// The type, as [`Btf::describe`] names it.
        name: String,
    },
    /// A type's size does not fit 32 bits.
    #[error("type {name} is larger than 4 GiB")]
    TooLarge {
        /// The type, as [`Btf::describe`] names it.
        name: String,
    },
}

/// The parsed types of one object.
#[derive(Debug, Clone)]
pub struct Btf {
    types: Vec<BtfType>,
    /// Pointer type id → pointee type id (kept beside [`BtfKind::Ptr`], which carries none).
    pointees: std::collections::HashMap<u32, u32>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }
}

fn read_str(strings: &[u8], off: u32) -> String {
    let s = strings.get(off as usize..).unwrap_or_default();
    let end = s.iter().position(|c| *c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

impl Btf {
    /// Parses the raw bytes of a `.BTF` section (little-endian only: rig targets x86_64/arm64).
    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        let mut h = Cursor { data, pos: 0 };
        let magic = data.get(0..2).ok_or(BtfError::Header("too short"))?;
        if magic != [0x9f, 0xeb] {
            return Err(BtfError::Header("bad magic (not little-endian BTF)"));
        }
        h.pos = 4;
        let hdr_len = h.u32().ok_or(BtfError::Header("too short"))? as usize;
        let type_off = h.u32().ok_or(BtfError::Header("too short"))? as usize;
        let type_len = h.u32().ok_or(BtfError::Header("too short"))? as usize;
        let str_off = h.u32().ok_or(BtfError::Header("too short"))? as usize;
        let str_len = h.u32().ok_or(BtfError::Header("too short"))? as usize;
        let types_bytes = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .ok_or(BtfError::Header("type section out of bounds"))?;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or(BtfError::Header("string section out of bounds"))?;
        let mut types = vec![BtfType {
            name: String::new(),
            kind: BtfKind::Void,
        }];
        let mut pointees = std::collections::HashMap::new();
        let mut c = Cursor {
            data: types_bytes,
            pos: 0,
        };
        while c.pos < types_bytes.len() {
            let id = types.len() as u32;
            let bad = |what: &str| BtfError::Type {
                id,
                what: what.to_owned(),
            };
            let name_off = c.u32().ok_or_else(|| bad("truncated"))?;
            let info = c.u32().ok_or_else(|| bad("truncated"))?;
            let size_or_type = c.u32().ok_or_else(|| bad("truncated"))?;
            let vlen = info & 0xffff;
            let kind_flag = info >> 31 == 1;
            let name = read_str(strings, name_off);
            let mut next = || c.u32().ok_or_else(|| bad("truncated"));
            let kind = match (info >> 24) & 0x1f {
                1 => {
                    let enc = next()?;
                    let e = (enc >> 24) & 0xf;
                    BtfKind::Int {
                        size: size_or_type,
                        signed: e & 1 != 0,
                        char: e & 2 != 0,
                        bool: e & 4 != 0,
                    }
                }
                2 => {
                    pointees.insert(id, size_or_type);
                    BtfKind::Ptr
                }
                3 => {
                    let elem = next()?;
                    let _index = next()?;
                    let len = next()?;
                    BtfKind::Array { elem, len }
                }
                k @ (4 | 5) => {
                    let mut members = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        let n = next()?;
                        let type_id = next()?;
                        let off = next()?;
                        let (bit_offset, bitfield_size) = if kind_flag {
                            (off & 0xff_ffff, off >> 24)
                        } else {
                            (off, 0)
                        };
                        members.push(Member {
                            name: read_str(strings, n),
                            type_id,
                            bit_offset,
                            bitfield_size,
                        });
                    }
                    BtfKind::Struct {
                        size: size_or_type,
                        members,
                        union: k == 5,
                    }
                }
                6 => {
                    let mut values = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        let n = next()?;
                        let v = next()?;
                        let v = if kind_flag { i64::from(v as i32) } else { i64::from(v) };
                        values.push((read_str(strings, n), v));
                    }
                    BtfKind::Enum {
                        size: size_or_type,
                        signed: kind_flag,
                        values,
                    }
                }
                19 => {
                    let mut values = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        let n = next()?;
                        let lo = next()?;
                        let hi = next()?;
                        values.push((read_str(strings, n), ((u64::from(hi) << 32) | u64::from(lo)) as i64));
                    }
                    BtfKind::Enum {
                        size: size_or_type,
                        signed: kind_flag,
                        values,
                    }
                }
                7 => BtfKind::Fwd { union: kind_flag },
                12 => BtfKind::Other,
                18 => BtfKind::Modifier(size_or_type),
                8 => BtfKind::Typedef(size_or_type),
                9..=11 => BtfKind::Modifier(size_or_type),
                13 => {
                    let mut params = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        next()?;
                        params.push(next()?);
                    }
                    BtfKind::FuncProto {
                        ret: size_or_type,
                        params,
                    }
                }
                14 => {
                    next()?;
                    BtfKind::Var(size_or_type)
                }
                15 => {
                    let mut vars = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        vars.push(next()?);
                        next()?;
                        next()?;
                    }
                    BtfKind::Datasec(vars)
                }
                16 => BtfKind::Float(size_or_type),
                17 => {
                    next()?;
                    BtfKind::Other
                }
                other => return Err(bad(&format!("unknown kind {other}"))),
            };
            types.push(BtfType { name, kind });
        }
        Ok(Self { types, pointees })
    }

    /// What a pointer type points to (`None` when `id` is not a pointer).
    pub fn pointee(&self, id: u32) -> Option<u32> {
        self.pointees.get(&id).copied()
    }

    /// The type behind an id (`void` for out-of-range ids).
    pub fn get(&self, id: u32) -> &BtfType {
        static VOID: BtfType = BtfType {
            name: String::new(),
            kind: BtfKind::Void,
        };
        self.types.get(id as usize).unwrap_or(&VOID)
    }

    /// All global variables: `(name, type id)`.
    pub fn vars(&self) -> impl Iterator<Item = (&str, u32)> {
        self.types.iter().filter_map(|t| match t.kind {
            BtfKind::Var(ty) => Some((t.name.as_str(), ty)),
            _ => None,
        })
    }

    /// Names of the variables a data section lists (`.maps`: the BTF-defined maps).
    pub fn datasec_vars(&self, section: &str) -> Vec<&str> {
        self.types
            .iter()
            .filter(|t| t.name == section)
            .filter_map(|t| match &t.kind {
                BtfKind::Datasec(vars) => Some(vars),
                _ => None,
            })
            .flatten()
            .filter(|id| matches!(self.get(**id).kind, BtfKind::Var(_)))
            .map(|id| self.get(*id).name.as_str())
            .collect()
    }

    /// Finds a struct (or union) by name.
    pub fn find_struct(&self, name: &str) -> Option<u32> {
        self.types
            .iter()
            .position(|t| t.name == name && matches!(t.kind, BtfKind::Struct { .. }))
            .map(|i| i as u32)
    }

    /// Names a type for a message: `struct ev`, `typedef gadget_errno`, `type #7` when anonymous
    /// (escaped and shortened: names come from an untrusted object).
    pub fn describe(&self, id: u32) -> String {
        let t = self.get(id);
        let kind = match &t.kind {
            BtfKind::Struct { union: true, .. } => "union",
            BtfKind::Struct { .. } => "struct",
            BtfKind::Typedef(_) => "typedef",
            BtfKind::Enum { .. } => "enum",
            BtfKind::Array { .. } => "array",
            BtfKind::Var(_) => "variable",
            _ => "type",
        };
        if t.name.is_empty() {
            format!("{kind} #{id}")
        } else {
            format!("{kind} {}", shorten(&escape_control(&t.name), 64))
        }
    }

    /// Follows typedefs and modifiers to the underlying type, collecting the typedef names met
    /// on the way (outermost first). A chain longer than [`MAX_DEPTH`] (a typedef loop) is an
    /// error naming the type it started from.
    pub fn resolve(&self, start: u32) -> Result<(u32, Vec<&str>), BtfError> {
        let mut typedefs = Vec::new();
        let mut id = start;
        for _ in 0..=MAX_DEPTH {
            match &self.get(id).kind {
                BtfKind::Typedef(t) => {
                    typedefs.push(self.get(id).name.as_str());
                    id = *t;
                }
                BtfKind::Modifier(t) | BtfKind::Var(t) => id = *t,
                _ => return Ok((id, typedefs)),
            }
        }
        Err(BtfError::TooDeep {
            name: self.describe(start),
        })
    }

    /// Size in bytes of a type (`None`: it has none, e.g. `void` or a function). Cycles, depth
    /// past [`MAX_DEPTH`] and sizes past `u32` are errors naming the type.
    pub fn size_of(&self, id: u32) -> Result<Option<u32>, BtfError> {
        self.size_at(id, 0)
    }

    fn size_at(&self, start: u32, depth: usize) -> Result<Option<u32>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep {
                name: self.describe(start),
            });
        }
        let (id, _) = self.resolve(start)?;
        Ok(match &self.get(id).kind {
            BtfKind::Int { size, .. } | BtfKind::Struct { size, .. } | BtfKind::Enum { size, .. } => Some(*size),
            BtfKind::Float(size) => Some(*size),
            BtfKind::Ptr => Some(8),
            BtfKind::Array { elem, len } => match self.size_at(*elem, depth + 1)? {
                Some(s) => Some(s.checked_mul(*len).ok_or_else(|| BtfError::TooLarge {
                    name: self.describe(id),
                })?),
                None => None,
            },
            _ => None,
        })
    }

    /// Enumerators of an enum type, by value.
    pub fn enum_values(&self, id: u32) -> BTreeMap<i64, String> {
        match &self.get(id).kind {
            BtfKind::Enum { values, .. } => values.iter().map(|(n, v)| (*v, n.clone())).collect(),
            _ => BTreeMap::new(),
        }
    }
}

impl Btf {
    /// Every type with its id, in id order (`void`, id 0, first).
    pub fn ids(&self) -> impl Iterator<Item = (u32, &BtfType)> {
        (0u32..).zip(&self.types)
    }
}

/// The string at offset `off` of the string section of the raw `.BTF` bytes `data` (how
/// `.BTF.ext` records name the ELF sections they refer to); `None` when the header is malformed
/// or the offset lies past the section.
pub fn string_at(data: &[u8], off: u32) -> Option<String> {
    let word = |at: usize| Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize);
    let (hdr_len, str_off, str_len) = (word(4)?, word(16)?, word(20)?);
    let start = hdr_len.checked_add(str_off)?;
    let strings = data.get(start..start.checked_add(str_len)?)?;
    ((off as usize) < strings.len()).then(|| read_str(strings, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(v: &mut Vec<u8>, words: &[u32]) {
        for w in words {
            v.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// struct ev { gadget_errno e; char c[4]; } built by hand.
    fn sample() -> Vec<u8> {
        let strings = b"\0int\0gadget_errno\0ev\0e\0c\0char\0".to_vec();
        let mut t = Vec::new();
        push(&mut t, &[1, 1 << 24, 4, 32]); // 1: int (unsigned 32)
        push(&mut t, &[5, 8 << 24, 1]); // 2: typedef gadget_errno -> 1
        push(&mut t, &[26, 1 << 24, 1, (2 << 24) | 8]); // 3: char (char encoding)
        push(&mut t, &[0, 3 << 24, 0, 3, 1, 4]); // 4: char[4]
        push(&mut t, &[18, (4 << 24) | 2, 8, 20, 2, 0, 22, 4, 32]); // 5: struct ev
        let mut out = Vec::new();
        push(
            &mut out,
            &[0x0001_eb9f, 24, 0, t.len() as u32, t.len() as u32, strings.len() as u32],
        );
        out.extend_from_slice(&t);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn parses_structs_typedefs_and_arrays() {
        let btf = Btf::parse(&sample()).unwrap();
        let ev = btf.find_struct("ev").unwrap();
        let BtfKind::Struct { members, size, .. } = &btf.get(ev).kind else {
            panic!()
        };
        assert_eq!(*size, 8);
        assert_eq!(members[1].bit_offset, 32);
        let (base, tds) = btf.resolve(members[0].type_id).unwrap();
        assert_eq!(tds, ["gadget_errno"]);
        assert!(matches!(
            btf.get(base).kind,
            BtfKind::Int {
                size: 4,
                signed: false,
                ..
            }
        ));
        assert_eq!(btf.size_of(members[1].type_id).unwrap(), Some(4));
    }

    fn section(t: &[u8], strings: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push(
            &mut out,
            &[0x0001_eb9f, 24, 0, t.len() as u32, t.len() as u32, strings.len() as u32],
        );
        out.extend_from_slice(t);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn cycles_are_errors_naming_the_type() {
        let strings = b"\0loop\0self\0m\0".to_vec();
        let mut t = Vec::new();
        push(&mut t, &[1, 8 << 24, 1]); // 1: typedef loop -> 1
        push(&mut t, &[0, 3 << 24, 0, 2, 1, 1_000_000]); // 2: array of itself
        push(&mut t, &[6, (4 << 24) | 1, 8, 11, 3, 0]); // 3: struct self { struct self m; }
        let btf = Btf::parse(&section(&t, &strings)).unwrap();
        let e = btf.resolve(1).unwrap_err().to_string();
        assert!(e.contains("typedef loop"), "{e}");
        assert!(btf.size_of(2).is_err());
        assert_eq!(btf.size_of(3).unwrap(), Some(8));
    }

    #[test]
    fn truncated_sections_are_errors_not_panics() {
        let data = sample();
        for cut in 0..data.len() {
            let _ = Btf::parse(&data[..cut]);
        }
        assert!(matches!(Btf::parse(b"xx"), Err(BtfError::Header(_))));
    }
}
