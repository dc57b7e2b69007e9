//! Writing batches: new rows in rig's packed layout, with a heap rebuilt as values are added.
//!
//! Most operators answer `keep(indices)` and never build rows. Those that hold rows across calls
//! (sort), add fields or rewrite values produce an `rows(batch)` answer instead, and the only
//! subtle part of that is the heap: a copied row's heap slots point into the *input* heap, which
//! the operator does not get to return. [`RowsBuilder::push_copy`] copies the row and its heap
//! values, rewriting the slots, so the output batch is self-contained and compact.
//!
//! The builder is laid out by one schema (usually the operator's output schema). Rows of a
//! schema whose layout is a prefix of it (see [`crate::Schema::add_field`]) can be copied in.

use crate::batch::{BatchView, OwnedBatch, Value};
use crate::schema::{FieldKind, FieldRef, Schema};

/// Accumulates rows of one schema; [`RowsBuilder::finish`] hands them over as an [`OwnedBatch`].
#[derive(Debug, Clone)]
pub struct RowsBuilder {
    row_size: usize,
    rows: Vec<u8>,
    heap: Vec<u8>,
    count: u32,
}

impl RowsBuilder {
    /// An empty builder for rows of `schema`.
    pub fn new(schema: &Schema) -> Self {
        Self::with_capacity(schema, 0, 0)
    }

    /// An empty builder with room for `rows` rows and `heap` heap bytes.
    pub fn with_capacity(schema: &Schema, rows: usize, heap: usize) -> Self {
        let row_size = schema.row_size as usize;
        Self {
            row_size,
            rows: Vec::with_capacity(rows * row_size),
            heap: Vec::with_capacity(heap),
            count: 0,
        }
    }

    /// Number of rows so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes used by the heap so far.
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// A view of the rows built so far, laid out by `schema` (the builder's schema).
    pub fn view<'a>(&'a self, schema: &'a Schema) -> Result<BatchView<'a>, String> {
        BatchView::new(schema, &self.rows, &self.heap, self.count as usize)
    }

    /// Forgets every row, keeping the buffers' capacity.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.heap.clear();
        self.count = 0;
    }

    /// Appends a row of zeros (empty text, zero numbers) and returns its index.
    pub fn push_zeroed(&mut self) -> usize {
        self.rows.resize(self.rows.len() + self.row_size, 0);
        self.count += 1;
        self.count as usize - 1
    }

    /// Copies row `row` of `src`, with its heap values, and returns the new row's index.
    ///
    /// The first `min(src row size, row size)` bytes are copied and the rest zeroed; every heap
    /// slot of the source schema that lies in the copied part is re-pointed at a copy of its
    /// value in this builder's heap.
    ///
    /// # Panics
    /// When `row >= src.len()`.
    pub fn push_copy(&mut self, src: &BatchView<'_>, row: usize) -> usize {
        let from = src.row(row);
        let n = from.len().min(self.row_size);
        let start = self.rows.len();
        self.rows.extend_from_slice(&from[..n]);
        self.rows.resize(start + self.row_size, 0);
        let schema = src.schema();
        for f in schema.refs().filter(|f| f.heap && (f.offset + 8) as usize <= n) {
            let value = src.bytes(row, &f);
            let at = start + f.offset as usize;
            write_slot(&mut self.rows[at..at + 8], self.heap.len(), value.len());
            self.heap.extend_from_slice(value);
        }
        self.count += 1;
        self.count as usize - 1
    }

    /// The raw bytes of a row, for writes the typed setters do not cover.
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn row_mut(&mut self, row: usize) -> &mut [u8] {
        &mut self.rows[row * self.row_size..(row + 1) * self.row_size]
    }

    /// Stores `value` in field `f` of row `row`, converting between numeric kinds (`as` casts:
    /// integers wrap to the field's width) and between text and bytes. Inline text and bytes
    /// are cut to the field's size (text at a character boundary) and NUL-padded; heap values
    /// are appended to the heap.
    ///
    /// Errors when the value cannot be stored in the field's kind (text into a number, …).
    ///
    /// # Panics
    /// When `row >= len()` or `f` lies outside the row.
    pub fn set(&mut self, row: usize, f: &FieldRef, value: Value<'_>) -> Result<(), String> {
        let mismatch = || {
            format!(
                "cannot store a {} value in field #{} of kind {}",
                value_kind(&value),
                f.index,
                f.kind
            )
        };
        let rs = self.row_size;
        let at = row * rs + f.offset as usize;
        match f.kind {
            FieldKind::Text | FieldKind::Bytes => {
                let b = match value {
                    Value::Str(s) => s.as_bytes(),
                    Value::Bytes(b) => b,
                    _ => return Err(mismatch()),
                };
                if f.heap {
                    let (off, len) = (self.heap.len(), b.len());
                    self.heap.extend_from_slice(b);
                    write_slot(&mut self.rows[at..at + 8], off, len);
                } else {
                    let size = f.size as usize;
                    let mut n = b.len().min(size);
                    if let Value::Str(s) = value {
                        while !s.is_char_boundary(n) {
                            n -= 1;
                        }
                    }
                    let cell = &mut self.rows[at..at + size];
                    cell[..n].copy_from_slice(&b[..n]);
                    cell[n..].fill(0);
                }
            }
            FieldKind::Bool => {
                let v = match value {
                    Value::Bool(b) => b,
                    Value::U64(v) => v != 0,
                    Value::I64(v) => v != 0,
                    _ => return Err(mismatch()),
                };
                self.rows[at] = u8::from(v);
            }
            FieldKind::F32 | FieldKind::F64 => {
                let v = match value {
                    Value::F64(v) => v,
                    Value::U64(v) => v as f64,
                    Value::I64(v) => v as f64,
                    _ => return Err(mismatch()),
                };
                if f.kind == FieldKind::F32 {
                    self.rows[at..at + 4].copy_from_slice(&(v as f32).to_le_bytes());
                } else {
                    self.rows[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
            kind => {
                let v: u64 = match value {
                    Value::U64(v) => v,
                    Value::I64(v) => v as u64,
                    Value::Bool(b) => u64::from(b),
                    Value::F64(v) if kind.is_signed() => v as i64 as u64,
                    Value::F64(v) => v as u64,
                    Value::Str(_) | Value::Bytes(_) => return Err(mismatch()),
                };
                let n = kind.scalar_size().unwrap_or(8) as usize;
                self.rows[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
            }
        }
        Ok(())
    }

    /// [`RowsBuilder::set`] with an unsigned integer.
    pub fn set_u64(&mut self, row: usize, f: &FieldRef, v: u64) -> Result<(), String> {
        self.set(row, f, Value::U64(v))
    }

    /// [`RowsBuilder::set`] with a signed integer.
    pub fn set_i64(&mut self, row: usize, f: &FieldRef, v: i64) -> Result<(), String> {
        self.set(row, f, Value::I64(v))
    }

    /// [`RowsBuilder::set`] with a float.
    pub fn set_f64(&mut self, row: usize, f: &FieldRef, v: f64) -> Result<(), String> {
        self.set(row, f, Value::F64(v))
    }

    /// [`RowsBuilder::set`] with a boolean.
    pub fn set_bool(&mut self, row: usize, f: &FieldRef, v: bool) -> Result<(), String> {
        self.set(row, f, Value::Bool(v))
    }

    /// [`RowsBuilder::set`] with text.
    pub fn set_str(&mut self, row: usize, f: &FieldRef, v: &str) -> Result<(), String> {
        self.set(row, f, Value::Str(v))
    }

    /// [`RowsBuilder::set`] with bytes.
    pub fn set_bytes(&mut self, row: usize, f: &FieldRef, v: &[u8]) -> Result<(), String> {
        self.set(row, f, Value::Bytes(v))
    }

    /// The rows built so far, as a batch.
    pub fn finish(self) -> OwnedBatch {
        OwnedBatch {
            rows: self.rows,
            heap: self.heap,
            count: self.count,
        }
    }

    /// The rows built so far, as a batch, leaving the builder empty (with fresh buffers).
    pub fn take(&mut self) -> OwnedBatch {
        let b = OwnedBatch {
            rows: std::mem::take(&mut self.rows),
            heap: std::mem::take(&mut self.heap),
            count: self.count,
        };
        self.count = 0;
        b
    }
}

/// Heap offsets are u32 by contract; a wasm32 guest cannot hold a heap of 4 GiB, so the casts
/// never truncate there.
fn write_slot(slot: &mut [u8], off: usize, len: usize) {
    slot[..4].copy_from_slice(&(off as u32).to_le_bytes());
    slot[4..8].copy_from_slice(&(len as u32).to_le_bytes());
}

fn value_kind(v: &Value<'_>) -> &'static str {
    match v {
        Value::Bool(_) => "boolean",
        Value::U64(_) => "unsigned",
        Value::I64(_) => "signed",
        Value::F64(_) => "float",
        Value::Str(_) => "text",
        Value::Bytes(_) => "bytes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::{push_row, schema};

    #[test]
    fn push_copy_rebuilds_a_compact_heap() {
        let s = schema();
        let (mut rows, mut heap) = (Vec::new(), Vec::new());
        push_row(&mut rows, &mut heap, 1, "a", false, 0.0, 0, "/first");
        push_row(&mut rows, &mut heap, 2, "b", true, 0.0, 0, "/second");
        let v = BatchView::new(&s, &rows, &heap, 2).unwrap();
        let mut b = RowsBuilder::new(&s);
        assert_eq!(b.push_copy(&v, 1), 0);
        assert_eq!(b.push_copy(&v, 1), 1);
        let out = b.finish();
        assert_eq!(out.heap, b"/second\x01\x02\x03/second\x01\x02\x03");
        let o = out.view(&s).unwrap();
        let path = s.resolve("path").unwrap();
        assert_eq!(o.get_str(0, &path), Some("/second"));
        assert_eq!(o.get_str(1, &path), Some("/second"));
        assert_eq!(o.get(1, &s.resolve("raw").unwrap()), Value::Bytes(&[1, 2, 3]));
        assert_eq!(o.get_i64(1, &s.resolve("n").unwrap()), Some(2));
    }

    #[test]
    fn copies_into_a_wider_schema_and_sets_new_fields() {
        let s = schema();
        let mut wide = s.clone();
        let extra = wide.add_field("extra", FieldKind::Text).unwrap();
        let count = wide.add_field("count", FieldKind::U16).unwrap();
        let (mut rows, mut heap) = (Vec::new(), Vec::new());
        push_row(&mut rows, &mut heap, 5, "cat", false, 0.0, 0, "/x");
        let v = BatchView::new(&s, &rows, &heap, 1).unwrap();
        let mut b = RowsBuilder::new(&wide);
        let r = b.push_copy(&v, 0);
        b.set_str(r, &extra, "added").unwrap();
        b.set_u64(r, &count, 70_000).unwrap();
        let out = b.finish();
        let o = out.view(&wide).unwrap();
        assert_eq!(o.get_str(0, &extra), Some("added"));
        assert_eq!(o.get_u64(0, &count), Some(70_000 & 0xffff));
        assert_eq!(o.get_str(0, &wide.resolve("path").unwrap()), Some("/x"));
        assert_eq!(o.get_str(0, &wide.resolve("comm").unwrap()), Some("cat"));
    }

    #[test]
    fn setters_convert_cut_and_refuse() {
        let s = schema();
        let mut b = RowsBuilder::new(&s);
        let r = b.push_zeroed();
        let f = |n| s.resolve(n).unwrap();
        b.set_str(r, &f("comm"), "ab\u{e9}\u{e9}\u{e9}\u{e9}").unwrap();
        b.set_i64(r, &f("n"), -3).unwrap();
        b.set_f64(r, &f("f"), 2.5).unwrap();
        b.set_bool(r, &f("flag"), true).unwrap();
        b.set_bytes(r, &f("raw"), b"\0\x01").unwrap();
        let e = b.set_str(r, &f("n"), "x").unwrap_err();
        assert_eq!(e, "cannot store a text value in field #0 of kind s32");
        let out = b.finish();
        let o = out.view(&s).unwrap();
        // 8 bytes: "ab" + three 2-byte characters, the fourth does not fit.
        assert_eq!(o.get_str(0, &f("comm")), Some("ab\u{e9}\u{e9}\u{e9}"));
        assert_eq!(o.get_i64(0, &f("n")), Some(-3));
        assert_eq!(o.get_f64(0, &f("f")), Some(2.5));
        assert_eq!(o.get_bool(0, &f("flag")), Some(true));
        assert_eq!(o.get(0, &f("raw")), Value::Bytes(b"\0\x01"));
        assert_eq!(o.get_str(0, &f("path")), Some(""));
    }
}
