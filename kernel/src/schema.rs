//! Schemas: what the columns of a datasource are and where each one lives in a row.
//!
//! A [`Schema`] is built once per datasource (from a gadget's BTF and `gadget.yaml`) and shared by
//! every [`crate::Batch`] of that datasource through an `Arc`. It is the only place that knows the
//! row layout, so sinks, enrichers and (later) WASM operators read values through it and never by
//! hard-coded offsets.
//!
//! Row layout invariants:
//! - the raw kernel record occupies bytes `0..raw_size` of every row, so BTF member offsets are
//!   field offsets unchanged;
//! - every variable-length value (trailing bytes, derived strings) has an 8-byte slot past the raw
//!   part holding `(heap offset: u32, length: u32)` little-endian into the batch heap;
//! - `row_size` is a multiple of 8.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Index of a field in its schema. Only valid for the schema that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u32);

/// How a value is encoded: one definition for host and guest, in `rig-layout`.
pub use rig_layout::FieldKind;

/// Where a value is stored in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `size` bytes at `offset` in the row.
    Inline {
        /// Byte offset in the row.
        offset: u32,
        /// Byte length in the row.
        size: u32,
    },
    /// An 8-byte `(heap offset, length)` slot at `slot` in the row.
    Heap {
        /// Byte offset of the slot in the row.
        slot: u32,
    },
}

/// Where a field's bytes are as an operator sees them (`wit/operator.wit`'s `field`): an inline
/// value's `offset` and `size` in the row, or, for a heap value, its 8-byte `(heap offset,
/// length)` slot with `heap` set. `rig gadget info` prints exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Byte offset in the row (of the value, or of its heap slot).
    pub offset: u32,
    /// Bytes in the row: the value's size, or [`rig_layout::SLOT_SIZE`] for a heap slot.
    pub size: u32,
    /// The value lives in the batch heap; the row holds its slot.
    pub heap: bool,
}

impl Storage {
    /// The operator's view of this storage.
    pub fn placement(self) -> Placement {
        match self {
            Storage::Inline { offset, size } => Placement {
                offset,
                size,
                heap: false,
            },
            Storage::Heap { slot } => Placement {
                offset: slot,
                size: rig_layout::SLOT_SIZE,
                heap: true,
            },
        }
    }
}

/// The special meaning of a value, from the gadget ABI's BTF type names (`gadget_errno`, …).
///
/// Enrichers and formatters act on these; the runtime never looks at a field's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Special {
    /// `gadget_timestamp`: nanoseconds since boot (`bpf_ktime_get_boot_ns`).
    Timestamp,
    /// `gadget_mntns_id`.
    MntnsId,
    /// `gadget_netns_id`.
    NetnsId,
    /// `gadget_errno`: a positive errno.
    Errno,
    /// `gadget_signal`.
    Signal,
    /// `gadget_syscall`: an x86_64 syscall number.
    Syscall,
    /// `gadget_uid`.
    Uid,
    /// `gadget_gid`.
    Gid,
    /// `gadget_file_mode`.
    FileMode,
    /// `gadget_file_flags`.
    FileFlags,
    /// `gadget_bytes`.
    Bytes,
    /// `gadget_duration` in nanoseconds.
    Duration,
    /// `gadget_kernel_stack`: a stack id.
    KernelStack,
    /// `union gadget_ip_addr_t`: 16 bytes, an IPv4 address in the first 4 (network order) or IPv6.
    IpAddr,
    /// `struct gadget_l3endpoint_t`, shown as its address.
    L3Endpoint,
    /// `struct gadget_l4endpoint_t`, shown as `addr:port`.
    L4Endpoint,
    /// An IP protocol number (`proto_raw` of an L4 endpoint), shown as `TCP`, `UDP`, ….
    Protocol,
    /// `struct gadget_user_stack`: a stack id and the process it belongs to.
    UserStack,
    /// NUL-separated strings in a `char` array beside its `<name>_size` (IG's trace_exec
    /// `args`), shown joined by U+00A0 as IG's trace_exec does.
    ArgList,
    /// A C enum: value → enumerator name.
    Enum(Arc<EnumDef>),
    /// Any other `gadget_*` typedef, kept as a tag only.
    Other(String),
}

/// A C enum's enumerators, from BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumDef {
    /// The enum's BTF name.
    pub name: String,
    /// Value → enumerator name.
    pub values: BTreeMap<i64, String>,
    /// True for `*_set` enums, rendered as a `|`-joined flag list.
    pub is_set: bool,
}

/// How a derived field gets its value from another field of the same row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivation {
    /// The field the value comes from.
    pub source: FieldId,
    /// What to turn it into.
    pub special: Special,
}

/// One column of a datasource.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Dotted name (`proc.creds.uid`), unique in the schema.
    pub name: String,
    /// Value encoding.
    pub kind: FieldKind,
    /// Where it lives in a row.
    pub storage: Storage,
    /// Special meaning from the gadget ABI, if any.
    pub special: Option<Special>,
    /// Set when an enricher fills this field from another one.
    pub derived: Option<Derivation>,
    /// Hidden from default output (`__` prefix, `_raw` companions, `columns.hidden`).
    pub hidden: bool,
    /// Tags such as `type:gadget_errno`, `kind:enum`.
    pub tags: Vec<String>,
    /// gadget.yaml annotations (`description`, `columns.width`, `template`, …).
    pub annotations: BTreeMap<String, String>,
}

impl Field {
    /// An annotation value, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// The columns of one datasource and its row layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Datasource name (`exec`, `open`).
    pub datasource: String,
    /// Columns in declaration order.
    pub fields: Vec<Field>,
    /// Size of the raw kernel record at the start of each row.
    pub raw_size: u32,
    /// Bytes per row (raw part + heap slots), a multiple of 8.
    pub row_size: u32,
    /// Datasource annotations from gadget.yaml.
    pub annotations: BTreeMap<String, String>,
    /// The field that receives bytes past `raw_size` in a record (`ebpf.rest.name`).
    pub rest: Option<FieldId>,
}

/// A schema that failed its invariants.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Two fields share a name.
    #[error("datasource {datasource}: field {} is declared twice", crate::input::quote(.name, 80))]
    DuplicateField {
        /// The datasource.
        datasource: String,
        /// The repeated name.
        name: String,
    },
    /// A field does not fit the row: it would make [`crate::Batch`] read past a row.
    #[error("datasource {datasource}: field {name} ({start}..{end}) lies outside the {size}-byte {part}")]
    OutsideRecord {
        /// The datasource.
        datasource: String,
        /// The field, quoted and escaped.
        name: String,
        /// First byte of the field.
        start: u64,
        /// One past its last byte.
        end: u64,
        /// Size of the part it must lie in.
        size: u64,
        /// `raw record` for inline fields, `row` for heap slots.
        part: &'static str,
    },
    /// The row would be larger than [`MAX_ROW_SIZE`].
    #[error("datasource {datasource}: rows of {size} bytes are larger than the maximum of {MAX_ROW_SIZE}")]
    RowTooLarge {
        /// The datasource.
        datasource: String,
        /// The size asked for.
        size: u64,
    },
    /// The `rest` field (trailing record bytes) is not a heap-backed field of this schema.
    #[error(
        "datasource {datasource}: the field for trailing record bytes must be a string or bytes field stored in the heap"
    )]
    BadRest {
        /// The datasource.
        datasource: String,
    },
    /// A derived field names a source field that does not exist.
    #[error("datasource {datasource}: field {name} is derived from field #{source_id}, which does not exist")]
    BadDerivation {
        /// The datasource.
        datasource: String,
        /// The derived field, quoted and escaped.
        name: String,
        /// The missing source id.
        source_id: u32,
    },
    /// A field does not exist.
    #[error("datasource {datasource} has no field {} (fields: {known})", crate::input::quote(.name, 80))]
    UnknownField {
        /// The datasource.
        datasource: String,
        /// What was asked for.
        name: String,
        /// Comma-separated visible field names.
        known: String,
    },
}

/// Builds a [`Schema`]: raw fields at their BTF offsets, then heap-backed fields appended.
#[derive(Debug)]
pub struct SchemaBuilder {
    schema: Schema,
    heap_slots: u32,
}

impl SchemaBuilder {
    /// Starts a schema whose raw records are `raw_size` bytes.
    pub fn new(datasource: impl Into<String>, raw_size: u32) -> Self {
        Self {
            schema: Schema {
                datasource: datasource.into(),
                fields: Vec::new(),
                raw_size,
                row_size: 0,
                annotations: BTreeMap::new(),
                rest: None,
            },
            heap_slots: 0,
        }
    }

    /// Adds a field stored inline in the raw record.
    pub fn inline(&mut self, name: impl Into<String>, kind: FieldKind, offset: u32, size: u32) -> FieldId {
        self.push(name.into(), kind, Storage::Inline { offset, size })
    }

    /// Adds a variable-length field stored in the batch heap.
    pub fn heap(&mut self, name: impl Into<String>, kind: FieldKind) -> FieldId {
        let slot = self.heap_slots;
        self.heap_slots += 1;
        // Slots are placed after the raw part once its size is known; record the slot index now.
        self.push(name.into(), kind, Storage::Heap { slot })
    }

    fn push(&mut self, name: String, kind: FieldKind, storage: Storage) -> FieldId {
        let id = FieldId(self.schema.fields.len() as u32);
        self.schema.fields.push(Field {
            name,
            kind,
            storage,
            special: None,
            derived: None,
            hidden: false,
            tags: Vec::new(),
            annotations: BTreeMap::new(),
        });
        id
    }

    /// Mutable access to a field added earlier.
    pub fn field_mut(&mut self, id: FieldId) -> &mut Field {
        &mut self.schema.fields[id.0 as usize]
    }

    /// Looks a field up by name.
    pub fn find(&self, name: &str) -> Option<FieldId> {
        self.schema.find(name)
    }

    /// The fields added so far.
    pub fn fields(&self) -> &[Field] {
        &self.schema.fields
    }

    /// Marks the field that receives trailing record bytes.
    pub fn set_rest(&mut self, id: FieldId) {
        self.schema.rest = Some(id);
    }

    /// Datasource annotations.
    pub fn annotations_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.schema.annotations
    }

    /// Lays out heap slots after the raw part and checks the invariants [`crate::Batch`] relies on:
    /// names are unique, every inline field lies inside the raw record (`offset + size <=
    /// raw_size`, no overflow), rows are at most [`MAX_ROW_SIZE`] bytes, the `rest` field is
    /// heap-backed, and derivations name existing fields.
    pub fn build(mut self) -> Result<Arc<Schema>, SchemaError> {
        let ds = || self.schema.datasource.clone();
        let base = u64::from(self.schema.raw_size).div_ceil(8) * 8;
        let row_size = (base + u64::from(self.heap_slots) * 8).max(8);
        if row_size > u64::from(MAX_ROW_SIZE) {
            return Err(SchemaError::RowTooLarge {
                datasource: ds(),
                size: row_size,
            });
        }
        // Both fit in u32: row_size <= MAX_ROW_SIZE.
        let base = base as u32;
        self.schema.row_size = row_size as u32;
        for f in &mut self.schema.fields {
            if let Storage::Heap { slot } = &mut f.storage {
                *slot = base + *slot * 8;
            }
        }
        self.schema.check()?;
        Ok(Arc::new(self.schema))
    }
}

/// Largest row a schema may describe (raw record plus heap slots): 1 MiB.
pub const MAX_ROW_SIZE: u32 = 1 << 20;

impl Schema {
    /// Checks the layout invariants every [`crate::Batch`] accessor relies on (see
    /// [`SchemaBuilder::build`]); schemas assembled by hand (e.g. from an operator's answer) call
    /// it before use.
    pub fn check(&self) -> Result<(), SchemaError> {
        let ds = || self.datasource.clone();
        let (raw, rs) = (u64::from(self.raw_size), u64::from(self.row_size));
        if rs == 0 || !rs.is_multiple_of(8) || rs > u64::from(MAX_ROW_SIZE) || raw > rs {
            return Err(SchemaError::RowTooLarge {
                datasource: ds(),
                size: rs.max(raw),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.fields {
            if !seen.insert(f.name.as_str()) {
                return Err(SchemaError::DuplicateField {
                    datasource: ds(),
                    name: f.name.clone(),
                });
            }
            let (start, end, size, part) = match f.storage {
                Storage::Inline { offset, size } => (
                    u64::from(offset),
                    u64::from(offset) + u64::from(size),
                    raw,
                    "raw record",
                ),
                Storage::Heap { slot } => (u64::from(slot), u64::from(slot) + 8, rs, "row"),
            };
            if end > size {
                return Err(SchemaError::OutsideRecord {
                    datasource: ds(),
                    name: crate::input::quote(&f.name, 80),
                    start,
                    end,
                    size,
                    part,
                });
            }
            if let Some(d) = &f.derived
                && d.source.0 as usize >= self.fields.len()
            {
                return Err(SchemaError::BadDerivation {
                    datasource: ds(),
                    name: crate::input::quote(&f.name, 80),
                    source_id: d.source.0,
                });
            }
        }
        if let Some(rest) = self.rest
            && !self
                .fields
                .get(rest.0 as usize)
                .is_some_and(|f| matches!(f.storage, Storage::Heap { .. }))
        {
            return Err(SchemaError::BadRest { datasource: ds() });
        }
        Ok(())
    }

    /// Looks a field up by its dotted name.
    pub fn find(&self, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| FieldId(i as u32))
    }

    /// Looks a field up by name, or says which names exist.
    pub fn resolve(&self, name: &str) -> Result<FieldId, SchemaError> {
        self.find(name).ok_or_else(|| SchemaError::UnknownField {
            datasource: self.datasource.clone(),
            name: name.to_owned(),
            known: self
                .fields
                .iter()
                .filter(|f| !f.hidden)
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The field behind an id.
    pub fn field(&self, id: FieldId) -> &Field {
        &self.fields[id.0 as usize]
    }

    /// Ids of all fields, in declaration order.
    pub fn ids(&self) -> impl Iterator<Item = FieldId> + '_ {
        (0..self.fields.len() as u32).map(FieldId)
    }

    /// Ids of the fields shown by default.
    pub fn visible(&self) -> Vec<FieldId> {
        self.ids().filter(|id| !self.field(*id).hidden).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_slots_follow_the_raw_part_aligned() {
        let mut b = SchemaBuilder::new("ds", 13);
        let a = b.inline("a", FieldKind::U32, 0, 4);
        let s = b.heap("s", FieldKind::Str);
        let t = b.heap("t", FieldKind::Bytes);
        let schema = b.build().unwrap();
        assert_eq!(schema.field(a).storage, Storage::Inline { offset: 0, size: 4 });
        assert_eq!(schema.field(s).storage, Storage::Heap { slot: 16 });
        assert_eq!(schema.field(t).storage, Storage::Heap { slot: 24 });
        assert_eq!(schema.row_size, 32);
        assert_eq!(
            schema.field(s).storage.placement(),
            Placement {
                offset: 16,
                size: 8,
                heap: true
            }
        );
        assert_eq!(
            schema.field(a).storage.placement(),
            Placement {
                offset: 0,
                size: 4,
                heap: false
            }
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut b = SchemaBuilder::new("ds", 8);
        b.inline("a", FieldKind::U32, 0, 4);
        b.inline("a", FieldKind::U32, 4, 4);
        let e = b.build().unwrap_err();
        assert!(matches!(e, SchemaError::DuplicateField { .. }));
        assert_eq!(e.to_string(), "datasource ds: field \"a\" is declared twice");
    }

    #[test]
    fn unknown_names_are_quoted_not_debug_printed() {
        let mut b = SchemaBuilder::new("ds", 8);
        b.inline("a", FieldKind::U32, 0, 4);
        let e = b.build().unwrap().resolve("x\u{1b}[2J").unwrap_err().to_string();
        assert_eq!(e, "datasource ds has no field \"x\\e[2J\" (fields: a)");
    }

    #[test]
    fn fields_outside_the_record_are_refused() {
        let mut b = SchemaBuilder::new("ds", 8);
        b.inline("a", FieldKind::U64, 4, 8);
        let e = b.build().unwrap_err().to_string();
        assert_eq!(
            e,
            "datasource ds: field \"a\" (4..12) lies outside the 8-byte raw record"
        );
        let mut b = SchemaBuilder::new("ds", 8);
        b.inline("wrap", FieldKind::Str, u32::MAX, 2);
        assert!(matches!(b.build(), Err(SchemaError::OutsideRecord { .. })));
        let b = SchemaBuilder::new("ds", u32::MAX);
        assert!(matches!(b.build(), Err(SchemaError::RowTooLarge { .. })));
        let mut b = SchemaBuilder::new("ds", 8);
        let a = b.inline("a", FieldKind::Str, 0, 8);
        b.set_rest(a);
        assert!(matches!(b.build(), Err(SchemaError::BadRest { .. })));
        let mut b = SchemaBuilder::new("ds", 8);
        let a = b.heap("a", FieldKind::Str);
        b.field_mut(a).derived = Some(Derivation {
            source: FieldId(7),
            special: Special::Uid,
        });
        assert!(matches!(b.build(), Err(SchemaError::BadDerivation { .. })));
    }

    #[test]
    fn unknown_field_lists_visible_names() {
        let mut b = SchemaBuilder::new("ds", 8);
        b.inline("a", FieldKind::U32, 0, 4);
        let h = b.inline("__h", FieldKind::U32, 4, 4);
        b.field_mut(h).hidden = true;
        let err = b.build().unwrap().resolve("zz").unwrap_err().to_string();
        assert_eq!(err, "datasource ds has no field \"zz\" (fields: a)");
    }
}
