//! Reading batches: typed values out of rig's packed row layout.
//!
//! A batch crosses the WIT boundary as two byte lists (fixed-size `rows` and a `heap` of
//! variable-length values) plus a row count. [`BatchView`] borrows them together with the schema
//! and decodes one cell at a time into a borrowed [`Value`], without allocating: this is what an
//! operator's per-row loop calls. [`OwnedBatch`] is the owned form an operator returns (from
//! [`crate::RowsBuilder::finish`] or held across calls).
//!
//! Decoding never panics on malformed data: a heap slot pointing outside the heap reads as an
//! empty value, and text that is not UTF-8 is cut at the first invalid byte (as the host does).

use crate::schema::{FieldKind, FieldRef, Schema};

/// A decoded value, borrowed from its batch (the host's own type, from `rig-layout`).
pub use rig_layout::Value;

/// Rows of one schema, borrowed: what [`crate::Operator::process`] receives.
#[derive(Debug, Clone, Copy)]
pub struct BatchView<'a> {
    schema: &'a Schema,
    rows: &'a [u8],
    heap: &'a [u8],
    count: usize,
}

impl<'a> BatchView<'a> {
    /// A view over `count` rows, checking that `rows` holds exactly `count` rows of the schema.
    pub fn new(schema: &'a Schema, rows: &'a [u8], heap: &'a [u8], count: usize) -> Result<Self, String> {
        let expected = count.checked_mul(schema.row_size as usize);
        if expected != Some(rows.len()) {
            return Err(format!(
                "datasource {}: batch of {count} rows has {} row bytes (row size {})",
                schema.datasource,
                rows.len(),
                schema.row_size
            ));
        }
        Ok(Self {
            schema,
            rows,
            heap,
            count,
        })
    }

    /// The schema of every row.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The packed rows.
    pub fn rows_bytes(&self) -> &'a [u8] {
        self.rows
    }

    /// The heap.
    pub fn heap_bytes(&self) -> &'a [u8] {
        self.heap
    }

    /// The raw bytes of a row.
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn row(&self, row: usize) -> &'a [u8] {
        let rs = self.schema.row_size as usize;
        &self.rows[row * rs..(row + 1) * rs]
    }

    /// The stored bytes of a field: the inline bytes (all `size` of them), or the heap value.
    pub fn bytes(&self, row: usize, f: &FieldRef) -> &'a [u8] {
        // A hand-made `FieldRef` may claim a heap slot shorter than 8 bytes: read nothing.
        if f.heap && f.size < rig_layout::SLOT_SIZE {
            return &[];
        }
        rig_layout::cell(self.row(row), self.heap, f.offset, f.size, f.heap)
    }

    /// The bytes of a text field as text is compared: inline text stops at the first NUL.
    /// For other kinds, the same as [`BatchView::bytes`].
    pub fn text_bytes(&self, row: usize, f: &FieldRef) -> &'a [u8] {
        let b = self.bytes(row, f);
        if f.kind == FieldKind::Text && !f.heap {
            let n = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            &b[..n]
        } else {
            b
        }
    }

    /// Decodes a field of a row.
    pub fn get(&self, row: usize, f: &FieldRef) -> Value<'a> {
        decode(f.kind, self.text_bytes(row, f))
    }

    /// An integer (or boolean) field as `u64`; `None` for other kinds and negative values.
    pub fn get_u64(&self, row: usize, f: &FieldRef) -> Option<u64> {
        self.get(row, f).as_u64()
    }

    /// An integer (or boolean) field as `i64`; `None` for other kinds and values above `i64::MAX`.
    pub fn get_i64(&self, row: usize, f: &FieldRef) -> Option<i64> {
        self.get(row, f).as_i64()
    }

    /// A numeric field as `f64`.
    pub fn get_f64(&self, row: usize, f: &FieldRef) -> Option<f64> {
        self.get(row, f).as_f64()
    }

    /// A text field; `None` for other kinds.
    pub fn get_str(&self, row: usize, f: &FieldRef) -> Option<&'a str> {
        self.get(row, f).as_str()
    }

    /// A boolean field; `None` for other kinds.
    pub fn get_bool(&self, row: usize, f: &FieldRef) -> Option<bool> {
        self.get(row, f).as_bool()
    }
}

pub use rig_layout::{decode, str_prefix};

/// Rows owned by the operator: what `rows(batch)` and `flush` return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedBatch {
    /// `count * row_size` bytes.
    pub rows: Vec<u8>,
    /// Variable-length values referenced by heap slots.
    pub heap: Vec<u8>,
    /// Number of rows.
    pub count: u32,
}

impl OwnedBatch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A view of these rows laid out by `schema`.
    pub fn view<'a>(&'a self, schema: &'a Schema) -> Result<BatchView<'a>, String> {
        BatchView::new(schema, &self.rows, &self.heap, self.count as usize)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::Field;

    /// `n: s32 @0`, `comm: text[8] @4`, `flag: bool @12`, `f: f32 @16`, `big: u64 @24`,
    /// `path: text heap @32`, `raw: bytes heap @40`; 48-byte rows.
    pub(crate) fn schema() -> Schema {
        Schema::new(
            "t",
            vec![
                Field::inline("n", FieldKind::S32, 0, 4),
                Field::inline("comm", FieldKind::Text, 4, 8),
                Field::inline("flag", FieldKind::Bool, 12, 1),
                Field::inline("f", FieldKind::F32, 16, 4),
                Field::inline("big", FieldKind::U64, 24, 8),
                Field::heap("path", FieldKind::Text, 32),
                Field::heap("raw", FieldKind::Bytes, 40),
            ],
            48,
        )
        .unwrap()
    }

    /// One row of [`schema`] appended to `rows`/`heap`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_row(
        rows: &mut Vec<u8>,
        heap: &mut Vec<u8>,
        n: i32,
        comm: &str,
        flag: bool,
        f: f32,
        big: u64,
        path: &str,
    ) {
        let mut r = [0u8; 48];
        r[0..4].copy_from_slice(&n.to_le_bytes());
        let c = comm.as_bytes();
        r[4..4 + c.len().min(8)].copy_from_slice(&c[..c.len().min(8)]);
        r[12] = u8::from(flag);
        r[16..20].copy_from_slice(&f.to_le_bytes());
        r[24..32].copy_from_slice(&big.to_le_bytes());
        r[32..36].copy_from_slice(&(heap.len() as u32).to_le_bytes());
        r[36..40].copy_from_slice(&(path.len() as u32).to_le_bytes());
        heap.extend_from_slice(path.as_bytes());
        r[40..44].copy_from_slice(&(heap.len() as u32).to_le_bytes());
        r[44..48].copy_from_slice(&3u32.to_le_bytes());
        heap.extend_from_slice(&[1, 2, 3]);
        rows.extend_from_slice(&r);
    }

    #[test]
    fn values_decode_by_kind() {
        let s = schema();
        let (mut rows, mut heap) = (Vec::new(), Vec::new());
        push_row(&mut rows, &mut heap, -7, "cat", true, 1.5, u64::MAX, "/etc/passwd");
        push_row(&mut rows, &mut heap, 3, "12345678", false, 0.0, 0, "");
        let v = BatchView::new(&s, &rows, &heap, 2).unwrap();
        let f = |n| s.resolve(n).unwrap();
        assert_eq!(v.get(0, &f("n")), Value::I64(-7));
        assert_eq!(v.get_str(0, &f("comm")), Some("cat"));
        assert_eq!(v.get_str(1, &f("comm")), Some("12345678"));
        assert_eq!(v.get_bool(0, &f("flag")), Some(true));
        assert_eq!(v.get_f64(0, &f("f")), Some(1.5));
        assert_eq!(v.get_u64(0, &f("big")), Some(u64::MAX));
        assert_eq!(v.get_i64(0, &f("big")), None);
        assert_eq!(v.get_u64(0, &f("n")), None);
        assert_eq!(v.get_str(0, &f("path")), Some("/etc/passwd"));
        assert_eq!(v.get_str(1, &f("path")), Some(""));
        assert_eq!(v.get(1, &f("raw")), Value::Bytes(&[1, 2, 3]));
        assert_eq!(v.bytes(0, &f("comm")).len(), 8);
        assert_eq!(v.text_bytes(0, &f("comm")), b"cat");
    }

    #[test]
    fn wrong_row_bytes_are_refused() {
        let s = schema();
        let e = BatchView::new(&s, &[0; 47], &[], 1).unwrap_err();
        assert!(e.contains("47 row bytes"), "{e}");
        assert!(BatchView::new(&s, &[], &[], 0).unwrap().is_empty());
    }

    #[test]
    fn hand_made_refs_outside_the_row_read_empty() {
        let s = schema();
        let (mut rows, mut heap) = (Vec::new(), Vec::new());
        push_row(&mut rows, &mut heap, 0, "a", false, 0.0, 0, "ok");
        let v = BatchView::new(&s, &rows, &heap, 1).unwrap();
        let mut f = s.resolve("path").unwrap();
        f.size = 4;
        assert_eq!(v.bytes(0, &f), b"");
        f.offset = 100;
        f.size = 8;
        assert_eq!(v.bytes(0, &f), b"");
        f.heap = false;
        assert_eq!(v.get(0, &f), Value::Str(""));
    }

    #[test]
    fn bad_heap_slots_and_bad_utf8_read_as_prefixes() {
        let s = schema();
        let (mut rows, mut heap) = (Vec::new(), Vec::new());
        push_row(&mut rows, &mut heap, 0, "a\u{e9}", false, 0.0, 0, "ok");
        rows[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        rows[5] = 0xff;
        let v = BatchView::new(&s, &rows, &heap, 1).unwrap();
        assert_eq!(v.get_str(0, &s.resolve("path").unwrap()), Some(""));
        assert_eq!(v.get_str(0, &s.resolve("comm").unwrap()), Some("a"));
    }
}
