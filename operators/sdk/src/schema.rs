//! Schemas: the columns an operator receives and where each one lives in a row.
//!
//! The host describes its datasource once, in `init`, with the WIT `schema` record. This module is
//! the SDK's own copy of that record, independent of the generated bindings so it can be built
//! and tested on any target. An operator resolves the field names it needs once, at `init`, into
//! [`FieldRef`]s (kind + location, `Copy`), and then reads every row through them without any
//! name lookup.
//!
//! Invariants checked by [`Schema::validate`] (and therefore true for every schema the SDK hands
//! to an operator): `row_size` is a multiple of 8, every field lies inside the row, heap fields
//! are 8-byte slots, and names are unique. [`crate::BatchView`] relies on them to read rows
//! without bounds checks failing.

/// How a value is encoded: the one definition shared with the host, in `rig-layout`.
/// `FieldKind::Text` is the guest name of `FieldKind::Str`.
pub use rig_layout::FieldKind;

/// One column, as the host described it.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Dotted name, unique in the schema (`proc.comm`).
    pub name: String,
    /// Value encoding.
    pub kind: FieldKind,
    /// Inline fields: byte offset in the row. Heap fields: offset of the 8-byte slot.
    pub offset: u32,
    /// Inline fields: size in bytes. Heap fields: 8.
    pub size: u32,
    /// True when the value lives in the batch heap.
    pub heap: bool,
    /// Hidden from default output.
    pub hidden: bool,
    /// Tags such as `type:gadget_errno`.
    pub tags: Vec<String>,
    /// gadget.yaml annotations.
    pub annotations: Vec<(String, String)>,
}

impl Field {
    /// An inline field (tags and annotations empty).
    pub fn inline(name: impl Into<String>, kind: FieldKind, offset: u32, size: u32) -> Self {
        Self {
            name: name.into(),
            kind,
            offset,
            size,
            heap: false,
            hidden: false,
            tags: Vec::new(),
            annotations: Vec::new(),
        }
    }

    /// A heap field whose 8-byte slot is at `slot`.
    pub fn heap(name: impl Into<String>, kind: FieldKind, slot: u32) -> Self {
        Self {
            heap: true,
            ..Self::inline(name, kind, slot, 8)
        }
    }

    /// True when the field carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// An annotation value, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A resolved field: what is needed to read it from a row, nothing else. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldRef {
    /// Index of the field in its schema.
    pub index: u32,
    /// Value encoding.
    pub kind: FieldKind,
    /// Inline: byte offset. Heap: slot offset.
    pub offset: u32,
    /// Inline: size in bytes. Heap: 8.
    pub size: u32,
    /// True when the value lives in the batch heap.
    pub heap: bool,
}

/// The columns of a datasource and its row layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Datasource name (`open`, `exec`).
    pub datasource: String,
    /// Columns in declaration order.
    pub fields: Vec<Field>,
    /// Bytes per row, a multiple of 8.
    pub row_size: u32,
}

impl Schema {
    /// A schema from its parts, checked with [`Schema::validate`].
    pub fn new(datasource: impl Into<String>, fields: Vec<Field>, row_size: u32) -> Result<Self, String> {
        let s = Self {
            datasource: datasource.into(),
            fields,
            row_size,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks the layout invariants the SDK relies on; the error names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if self.row_size == 0 || !self.row_size.is_multiple_of(8) {
            return Err(format!(
                "datasource {}: row size {} is not a positive multiple of 8",
                self.datasource, self.row_size
            ));
        }
        for (i, f) in self.fields.iter().enumerate() {
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return Err(format!(
                    "datasource {}: field {:?} is declared twice",
                    self.datasource, f.name
                ));
            }
            if f.heap && f.size != 8 {
                return Err(format!(
                    "datasource {}: heap field {:?} has a {}-byte slot (must be 8)",
                    self.datasource, f.name, f.size
                ));
            }
            if let Some(n) = f.kind.scalar_size()
                && !f.heap
                && f.size < n
            {
                return Err(format!(
                    "datasource {}: field {:?} of kind {} is {} bytes (needs {n})",
                    self.datasource, f.name, f.kind, f.size
                ));
            }
            if u64::from(f.offset) + u64::from(f.size) > u64::from(self.row_size) {
                return Err(format!(
                    "datasource {}: field {:?} ({}..{}) lies outside the {}-byte row",
                    self.datasource,
                    f.name,
                    f.offset,
                    u64::from(f.offset) + u64::from(f.size),
                    self.row_size
                ));
            }
        }
        Ok(())
    }

    /// Looks a field up by its dotted name (hidden fields included).
    pub fn field(&self, name: &str) -> Option<FieldRef> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| self.field_ref(i))
    }

    /// Looks a field up by name, or returns an error naming it and listing the visible fields:
    /// `datasource open has no field "fnam" (fields: timestamp, proc.comm, fname)`.
    pub fn resolve(&self, name: &str) -> Result<FieldRef, String> {
        self.field(name).ok_or_else(|| {
            format!(
                "datasource {} has no field {name:?} (fields: {})",
                self.datasource,
                self.visible_names().join(", ")
            )
        })
    }

    /// The [`FieldRef`] of the field at `index`.
    ///
    /// # Panics
    /// When `index` is out of range.
    pub fn field_ref(&self, index: usize) -> FieldRef {
        let f = &self.fields[index];
        FieldRef {
            index: index as u32,
            kind: f.kind,
            offset: f.offset,
            size: f.size,
            heap: f.heap,
        }
    }

    /// The full description of a resolved field.
    ///
    /// # Panics
    /// When `r` comes from another schema with more fields.
    pub fn describe(&self, r: &FieldRef) -> &Field {
        &self.fields[r.index as usize]
    }

    /// References to every field, in declaration order.
    pub fn refs(&self) -> impl Iterator<Item = FieldRef> + '_ {
        (0..self.fields.len()).map(|i| self.field_ref(i))
    }

    /// Names of the fields shown by default, in declaration order.
    pub fn visible_names(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| !f.hidden)
            .map(|f| f.name.as_str())
            .collect()
    }

    /// Slot offsets of every heap field: the places a copied row points into its heap.
    pub fn heap_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.fields.iter().filter(|f| f.heap).map(|f| f.offset)
    }

    /// Appends a field at the end of the row (growing `row_size`, kept a multiple of 8) and
    /// returns its reference. Scalars are stored inline, naturally aligned; text and bytes get a
    /// heap slot. Rows of the old layout stay valid prefixes of the new one, so
    /// [`crate::RowsBuilder::push_copy`] can copy them.
    pub fn add_field(&mut self, name: impl Into<String>, kind: FieldKind) -> Result<FieldRef, String> {
        let name = name.into();
        if self.fields.iter().any(|f| f.name == name) {
            return Err(format!("datasource {}: field {name:?} already exists", self.datasource));
        }
        let end = self.fields.iter().map(|f| f.offset + f.size).max().unwrap_or(0);
        let (size, heap) = match kind.scalar_size() {
            Some(n) => (n, false),
            None => (8, true),
        };
        let offset = end.next_multiple_of(size);
        self.fields.push(Field {
            heap,
            ..Field::inline(name, kind, offset, size)
        });
        self.row_size = self.row_size.max((offset + size).next_multiple_of(8));
        Ok(self.field_ref(self.fields.len() - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn open_schema() -> Schema {
        let mut hidden = Field::inline("timestamp_raw", FieldKind::U64, 0, 8);
        hidden.hidden = true;
        Schema::new(
            "open",
            vec![
                hidden,
                Field::inline("proc.pid", FieldKind::U32, 8, 4),
                Field::inline("proc.comm", FieldKind::Text, 12, 16),
                Field::heap("fname", FieldKind::Text, 32),
            ],
            40,
        )
        .unwrap()
    }

    #[test]
    fn resolve_names_the_field_and_lists_visible_ones() {
        let s = open_schema();
        assert_eq!(s.resolve("proc.pid").unwrap().offset, 8);
        assert_eq!(s.resolve("timestamp_raw").unwrap().kind, FieldKind::U64);
        assert_eq!(
            s.resolve("fnam").unwrap_err(),
            "datasource open has no field \"fnam\" (fields: proc.pid, proc.comm, fname)"
        );
    }

    #[test]
    fn validate_refuses_out_of_row_fields_and_bad_sizes() {
        let e = Schema::new("d", vec![Field::inline("a", FieldKind::U64, 4, 8)], 8).unwrap_err();
        assert!(e.contains("\"a\"") && e.contains("outside"), "{e}");
        let e = Schema::new("d", vec![Field::inline("a", FieldKind::U32, 0, 2)], 8).unwrap_err();
        assert!(e.contains("needs 4"), "{e}");
        let e = Schema::new("d", vec![], 12).unwrap_err();
        assert!(e.contains("multiple of 8"), "{e}");
        let e = Schema::new(
            "d",
            vec![
                Field::inline("a", FieldKind::U8, 0, 1),
                Field::inline("a", FieldKind::U8, 1, 1),
            ],
            8,
        )
        .unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let mut f = Field::heap("h", FieldKind::Text, 0);
        f.size = 4;
        assert!(Schema::new("d", vec![f], 8).unwrap_err().contains("8"));
    }

    #[test]
    fn add_field_appends_aligned_and_grows_the_row() {
        let mut s = open_schema();
        let n = s.add_field("n", FieldKind::U16).unwrap();
        assert_eq!((n.offset, n.size, n.heap), (40, 2, false));
        assert_eq!(s.row_size, 48);
        let t = s.add_field("t", FieldKind::Text).unwrap();
        assert_eq!((t.offset, t.heap), (48, true));
        assert_eq!(s.row_size, 56);
        assert!(s.add_field("fname", FieldKind::U8).is_err());
        s.validate().unwrap();
    }
}
