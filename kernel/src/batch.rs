//! Batches: the unit that moves between stages.
//!
//! A [`Batch`] is a schema plus two contiguous buffers: `rows` (fixed-size rows, the raw kernel
//! record first) and `heap` (variable-length values referenced from row slots). Every hop of the
//! graph moves a whole batch, so per-event costs are a copy of the record and nothing else; a WASM
//! operator can receive `rows` and `heap` as two byte lists with one copy each.
//!
//! Reading goes through [`Batch::value`], which decodes a field into a borrowed [`Value`].

use std::sync::Arc;

use crate::schema::{FieldId, FieldKind, Schema, Storage};

/// A decoded value, borrowed from its batch (defined in `rig-layout`, shared with the guest SDK).
pub use rig_layout::Value;
/// How bytes are written in JSON (base64) and non-UTF-8 text is shown losslessly (`\xNN`).
pub use rig_layout::{Escaped, base64_chunks};

/// What joins the NUL-separated strings of a text `rest` field (argv): U+00A0, IG's
/// `ArgsSeparator`, which no shell word splitting produces, so boundaries survive.
pub const ARG_SEPARATOR: &str = "\u{a0}";

/// Rows of one datasource.
#[derive(Debug, Clone)]
pub struct Batch {
    schema: Arc<Schema>,
    rows: Vec<u8>,
    heap: Vec<u8>,
    len: usize,
}

impl Batch {
    /// An empty batch with room for `capacity` rows.
    pub fn with_capacity(schema: Arc<Schema>, capacity: usize) -> Self {
        let rows = Vec::with_capacity(capacity * schema.row_size as usize);
        Self {
            schema,
            rows,
            heap: Vec::new(),
            len: 0,
        }
    }

    /// The schema of every row.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed rows.
    pub fn rows_bytes(&self) -> &[u8] {
        &self.rows
    }

    /// The heap of variable-length values.
    pub fn heap_bytes(&self) -> &[u8] {
        &self.heap
    }

    /// Rebuilds a batch from buffers produced elsewhere (e.g. by an operator), checking sizes.
    pub fn from_parts(schema: Arc<Schema>, rows: Vec<u8>, heap: Vec<u8>) -> Option<Self> {
        let row_size = schema.row_size as usize;
        if row_size == 0 || !rows.len().is_multiple_of(row_size) {
            return None;
        }
        let len = rows.len() / row_size;
        Some(Self {
            schema,
            rows,
            heap,
            len,
        })
    }

    /// Takes the batch apart into its schema, rows and heap (the inverse of [`Batch::from_parts`]),
    /// e.g. to rewrite fields in place.
    pub fn into_parts(self) -> (Arc<Schema>, Vec<u8>, Vec<u8>) {
        (self.schema, self.rows, self.heap)
    }

    /// Appends a row from a raw kernel record: the first `raw_size` bytes are copied (zero-padded
    /// when short) and any trailing bytes go to the schema's `rest` field.
    pub fn push_record(&mut self, record: &[u8]) {
        let row_size = self.schema.row_size as usize;
        let raw = self.schema.raw_size as usize;
        let start = self.rows.len();
        let n = record.len().min(raw);
        self.rows.extend_from_slice(&record[..n]);
        self.rows.resize(start + row_size, 0);
        if let Some(rest) = self.schema.rest
            && record.len() > raw
        {
            let row = self.len;
            self.len += 1;
            let tail = &record[raw..];
            if self.schema.field(rest).kind == FieldKind::Str {
                // Trailing text is a NUL-separated list (argv): joined with U+00A0 (no-break
                // space) as IG's trace_exec does, so `echo "a b" c` keeps its argument boundaries.
                let tail = tail.strip_suffix(b"\0").unwrap_or(tail);
                let mut joined = Vec::with_capacity(tail.len() + tail.len() / 8);
                for &c in tail {
                    match c {
                        0 => joined.extend_from_slice(ARG_SEPARATOR.as_bytes()),
                        c => joined.push(c),
                    }
                }
                self.set_heap(row, rest, &joined);
            } else {
                self.set_heap(row, rest, tail);
            }
            return;
        }
        self.len += 1;
    }

    /// Stores a variable-length value for a heap-backed field.
    ///
    /// # Panics
    /// When the field is stored inline: that is a schema-construction bug.
    pub fn set_heap(&mut self, row: usize, field: FieldId, value: &[u8]) {
        let Storage::Heap { slot } = self.schema.field(field).storage else {
            panic!("field {} is not heap-backed", self.schema.field(field).name);
        };
        let off = self.heap.len() as u32;
        self.heap.extend_from_slice(value);
        let rs = self.schema.row_size as usize;
        let written = self
            .rows
            .get_mut(row * rs..(row + 1) * rs)
            .is_some_and(|r| rig_layout::write_slot(r, slot as usize, off, value.len() as u32));
        assert!(
            written,
            "row {row} or the slot of field {} is out of range",
            self.schema.field(field).name
        );
    }

    /// Makes `row`'s value of a heap-backed field the same heap bytes as `from`'s, without
    /// copying them: an enricher writes a container's name once per batch and points every other
    /// row of that container at it. Rows out of range or an inline field change nothing.
    pub fn share_heap(&mut self, from: usize, row: usize, field: FieldId) {
        let Storage::Heap { slot } = self.schema.field(field).storage else {
            return;
        };
        let rs = self.schema.row_size as usize;
        let (s, n) = (slot as usize, rig_layout::SLOT_SIZE as usize);
        if from >= self.len || row >= self.len || s + n > rs {
            return;
        }
        self.rows.copy_within(from * rs + s..from * rs + s + n, row * rs + s);
    }

    /// [`Batch::share_heap`] for several fields whose slots lie side by side: `len` bytes of
    /// slots from byte `start` of the row (past the raw record), copied from row `from`.
    pub fn share_heap_span(&mut self, from: usize, row: usize, start: u32, len: u32) {
        let rs = self.schema.row_size as usize;
        let (s, n) = (start as usize, len as usize);
        let raw_end = (self.schema.raw_size as usize).div_ceil(8) * 8;
        if from >= self.len || row >= self.len || s < raw_end || s + n > rs {
            return;
        }
        self.rows.copy_within(from * rs + s..from * rs + s + n, row * rs + s);
    }

    /// The raw bytes of a row.
    pub fn row(&self, row: usize) -> &[u8] {
        let rs = self.schema.row_size as usize;
        &self.rows[row * rs..(row + 1) * rs]
    }

    /// The bytes of a field in a row: inline bytes, or the heap value.
    ///
    /// Never reads out of bounds, even for a schema that skipped [`Schema::check`]: a field past
    /// the row or a heap slot past the heap reads as empty.
    pub fn bytes(&self, row: usize, field: FieldId) -> &[u8] {
        let (offset, size, in_heap) = match self.schema.field(field).storage {
            Storage::Inline { offset, size } => (offset, size, false),
            Storage::Heap { slot } => (slot, rig_layout::SLOT_SIZE, true),
        };
        rig_layout::cell(self.row(row), &self.heap, offset, size, in_heap)
    }

    /// Decodes a field of a row.
    pub fn value(&self, row: usize, field: FieldId) -> Value<'_> {
        let f = self.schema.field(field);
        let b = self.bytes(row, field);
        decode(f.kind, b, matches!(f.storage, Storage::Inline { .. }))
    }

    /// Keeps the rows for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&Batch, usize) -> bool) {
        let rs = self.schema.row_size as usize;
        let mut out = 0;
        for i in 0..self.len {
            if keep(self, i) {
                if out != i {
                    self.rows.copy_within(i * rs..(i + 1) * rs, out * rs);
                }
                out += 1;
            }
        }
        self.len = out;
        self.rows.truncate(out * rs);
    }

    /// Keeps the rows at `indices`, which must be strictly increasing and in range (the caller
    /// checks): each run of consecutive indices moves with one copy, and the heap stays as is.
    pub fn keep_sorted(&mut self, indices: &[u32]) {
        let rs = self.schema.row_size as usize;
        let mut out = 0usize;
        let mut i = 0usize;
        while i < indices.len() {
            let start = indices[i] as usize;
            let mut end = start + 1;
            i += 1;
            while i < indices.len() && indices[i] as usize == end {
                end += 1;
                i += 1;
            }
            if out != start {
                self.rows.copy_within(start * rs..end * rs, out * rs);
            }
            out += end - start;
        }
        self.len = out;
        self.rows.truncate(out * rs);
    }

    /// Appends the rows of another batch of the same schema.
    pub fn append(&mut self, other: &Batch) {
        let rs = self.schema.row_size as usize;
        let base_heap = self.heap.len() as u32;
        let start = self.rows.len();
        self.rows.extend_from_slice(&other.rows);
        self.heap.extend_from_slice(&other.heap);
        if base_heap != 0 {
            let slots: Vec<u32> = heap_slots(&self.schema).collect();
            for r in 0..other.len {
                for &s in &slots {
                    let at = start + r * rs + s as usize;
                    let off = u32::from_le_bytes(self.rows[at..at + 4].try_into().unwrap_or_default());
                    self.rows[at..at + 4].copy_from_slice(&off.wrapping_add(base_heap).to_le_bytes());
                }
            }
        }
        self.len += other.len;
    }
}

fn heap_slots(schema: &Schema) -> impl Iterator<Item = u32> + '_ {
    schema.fields.iter().filter_map(|f| match f.storage {
        Storage::Heap { slot } => Some(slot),
        Storage::Inline { .. } => None,
    })
}

/// Decodes bytes of a given kind. Inline text stops at the first NUL; text that is not UTF-8
/// decodes to its longest valid prefix (show it whole with [`rig_layout::Escaped`]).
pub fn decode(kind: FieldKind, b: &[u8], inline: bool) -> Value<'_> {
    let b = if inline && kind == FieldKind::Str {
        rig_layout::text_end(b)
    } else {
        b
    };
    rig_layout::decode(kind, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaBuilder;

    fn schema() -> (Arc<Schema>, FieldId, FieldId, FieldId, FieldId) {
        let mut b = SchemaBuilder::new("t", 12);
        let n = b.inline("n", FieldKind::S32, 0, 4);
        let s = b.inline("s", FieldKind::Str, 4, 8);
        let rest = b.heap("rest", FieldKind::Bytes);
        let d = b.heap("d", FieldKind::Str);
        b.set_rest(rest);
        (b.build().unwrap(), n, s, rest, d)
    }

    #[test]
    fn records_round_trip_with_rest_and_heap() {
        let (sc, n, s, rest, d) = schema();
        let mut batch = Batch::with_capacity(sc, 4);
        let mut rec = (-5i32).to_le_bytes().to_vec();
        rec.extend_from_slice(b"cat\0\0\0\0\0xyz");
        batch.push_record(&rec);
        batch.push_record(&7i32.to_le_bytes());
        batch.set_heap(1, d, b"derived");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.value(0, n), Value::I64(-5));
        assert_eq!(batch.value(0, s), Value::Str("cat"));
        assert_eq!(batch.value(0, rest), Value::Bytes(b"xyz"));
        assert_eq!(batch.value(1, rest), Value::Bytes(b""));
        assert_eq!(batch.value(1, d), Value::Str("derived"));
    }

    #[test]
    fn keep_sorted_moves_runs_and_matches_retain() {
        let (sc, n, ..) = schema();
        let mut batch = Batch::with_capacity(sc, 10);
        for i in 0..10i32 {
            batch.push_record(&i.to_le_bytes());
        }
        let keep = [0u32, 2, 3, 4, 7, 9];
        let mut by_retain = batch.clone();
        by_retain.retain(|_, i| keep.contains(&(i as u32)));
        batch.keep_sorted(&keep);
        assert_eq!(batch.len(), keep.len());
        assert_eq!(batch.rows_bytes(), by_retain.rows_bytes());
        let got: Vec<Value<'_>> = (0..batch.len()).map(|r| batch.value(r, n)).collect();
        let want: Vec<Value<'_>> = keep.iter().map(|&i| Value::I64(i64::from(i))).collect();
        assert_eq!(got, want);
        batch.keep_sorted(&[]);
        assert!(batch.is_empty() && batch.rows_bytes().is_empty());
    }

    /// xorshift64*: a bounded, dependency-free source of random cases for the property test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// Random schemas (fields anywhere, most refused by `build`) and random row bytes: building,
    /// pushing records, rebuilding from parts, reading and formatting every value never panics.
    #[test]
    fn random_schemas_and_rows_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut built, mut refused) = (0, 0);
        for case in 0..3000 {
            let raw = rng.below(64) as u32;
            let mut b = SchemaBuilder::new("p", raw);
            for i in 0..rng.below(8) {
                let kind = FieldKind::ALL[rng.below(FieldKind::ALL.len() as u64) as usize];
                if rng.below(3) == 0 {
                    b.heap(format!("h{i}"), kind);
                } else {
                    let wild = rng.below(10) == 0;
                    let offset = if wild { rng.next() as u32 } else { rng.below(72) as u32 };
                    let size = if wild { rng.next() as u32 } else { rng.below(16) as u32 };
                    b.inline(format!("f{i}"), kind, offset, size);
                }
            }
            if rng.below(2) == 0
                && let Some(h) = b.find("h0")
            {
                b.set_rest(h);
            }
            let Ok(schema) = b.build() else {
                refused += 1;
                continue;
            };
            built += 1;
            let mut batch = Batch::with_capacity(schema.clone(), 4);
            for _ in 0..rng.below(4) {
                let rec: Vec<u8> = (0..rng.below(96)).map(|_| rng.next() as u8).collect();
                batch.push_record(&rec);
            }
            // Rows and heap from an untrusted producer: slots point anywhere.
            let rs = schema.row_size as usize;
            let rows: Vec<u8> = (0..rs * rng.below(3) as usize).map(|_| rng.next() as u8).collect();
            let heap: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
            let foreign = Batch::from_parts(schema.clone(), rows, heap).expect("whole rows");
            for b in [&batch, &foreign] {
                for r in 0..b.len() {
                    for id in schema.ids() {
                        let v = b.value(r, id);
                        assert!(!format!("{v:?}").is_empty(), "case {case}");
                    }
                }
            }
            batch.append(&foreign);
            batch.retain(|_, r| r % 2 == 0);
        }
        assert!(built > 500 && refused > 500, "built {built}, refused {refused}");
    }

    #[test]
    fn retain_and_append_keep_heap_references_right() {
        let (sc, n, _, _, d) = schema();
        let mut a = Batch::with_capacity(sc.clone(), 2);
        for i in 0..3i32 {
            a.push_record(&i.to_le_bytes());
            a.set_heap(i as usize, d, format!("v{i}").as_bytes());
        }
        a.retain(|b, r| b.value(r, n) != Value::I64(1));
        assert_eq!(a.len(), 2);
        assert_eq!(a.value(1, d), Value::Str("v2"));
        let mut c = Batch::with_capacity(sc, 1);
        c.push_record(&9i32.to_le_bytes());
        c.set_heap(0, d, b"first");
        c.append(&a);
        assert_eq!(c.value(2, d), Value::Str("v2"));
        assert_eq!(c.value(0, d), Value::Str("first"));
    }
}
