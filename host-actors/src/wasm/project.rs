//! Projections: only the fields an operator declared cross the boundary.
//!
//! A guest that calls `host.project(reads, writes)` during `init` says which fields it looks at
//! and which it rewrites. The host then packs just the `reads` columns into a scratch buffer for
//! each `process` call (one copy of a few bytes per row, not of the whole row), passes the heap
//! only when a read field lives in it, and takes a `rows` answer as the `writes` columns of
//! every input row, which it copies back into the batch in place: no row is copied into the
//! guest or back out whole. `keep` answers index the input rows as always.
//!
//! Layouts: a view packs its fields from offset 0 in the order named, each at its size in the
//! input (heap fields as their 8-byte slot), and its row size is their sum, not rounded up.
//! Adjacent input bytes are copied as one run, so reading three neighbouring fields is one copy
//! per row.
//!
//! Nothing the guest returns is trusted: a patch must hold exactly one row per input row, and
//! every written heap slot must point inside the heap the answer brought; the answer's heap is
//! appended to the batch's, and the host rebases those slots.

use std::sync::Arc;

use rig_kernel::input::quote;
use rig_kernel::{Batch, Field, Schema};

use super::bindings::rig::operator::types::{
    FieldResult as WitField, Projection as WitProjection, SchemaResult as WitSchema,
};
use super::convert::{Cap, kind_to_wit};

/// One field of a view: where it is in the input row and in the view row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    /// Offset in the input row.
    src: usize,
    /// Offset in the view row.
    dst: usize,
    /// Bytes (8 for a heap slot).
    len: usize,
    /// True for a heap slot.
    heap: bool,
}

/// One packed layout: its columns and row size, and the runs of input bytes that fill it.
#[derive(Debug, Clone)]
struct View {
    columns: Vec<Column>,
    row_size: usize,
    /// `(input offset, length)` of each contiguous copy, merged where columns are adjacent in
    /// both layouts.
    runs: Vec<(usize, usize)>,
    schema: WitSchema,
}

/// What a guest declared with `host.project`, resolved against its input schema.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    reads: View,
    writes: View,
    /// A read field lives in the heap: the heap crosses too.
    reads_heap: bool,
    /// Input row size.
    row_size: usize,
}

impl Projection {
    /// Resolves `reads` and `writes` against `input`. An unknown or repeated name is an error
    /// naming it.
    pub(crate) fn new(input: &Schema, reads: &[String], writes: &[String]) -> Result<Projection, String> {
        let reads = View::new(input, reads, "reads")?;
        let writes = View::new(input, writes, "writes")?;
        Ok(Projection {
            reads_heap: reads.columns.iter().any(|c| c.heap),
            reads,
            writes,
            row_size: input.row_size as usize,
        })
    }

    /// The layouts as the guest gets them.
    pub(crate) fn to_wit(&self) -> WitProjection {
        WitProjection {
            reads: self.reads.schema.clone(),
            writes: self.writes.schema.clone(),
        }
    }

    /// True when a read field lives in the heap (the heap is passed to the guest).
    pub(crate) fn reads_heap(&self) -> bool {
        self.reads_heap
    }

    /// Packs the read columns of every row of `batch` into `out` (cleared first).
    pub(crate) fn pack(&self, batch: &Batch, out: &mut Vec<u8>) {
        out.clear();
        let rs = self.row_size;
        out.reserve(batch.len() * self.reads.row_size);
        if let [(src, len)] = self.reads.runs[..] {
            for row in batch.rows_bytes().chunks_exact(rs) {
                out.extend_from_slice(&row[src..src + len]);
            }
            return;
        }
        for row in batch.rows_bytes().chunks_exact(rs) {
            for &(src, len) in &self.reads.runs {
                out.extend_from_slice(&row[src..src + len]);
            }
        }
    }

    /// Applies a `rows` answer of a projected guest: its rows are the written columns of every
    /// input row; they are copied into `batch`, and the answer's heap is appended to the batch's.
    pub(crate) fn patch(&self, batch: Batch, rows: &[u8], heap: Vec<u8>, count: u32, cap: Cap) -> Result<Batch, String> {
        let n = batch.len();
        if self.writes.columns.is_empty() {
            return Err("answered rows, but its projection declares no field it writes".to_owned());
        }
        if count as usize != n {
            return Err(format!(
                "answered {count} rows for a {n}-row batch (a projected operator answers one row of its writes per input row)"
            ));
        }
        let wr = self.writes.row_size;
        if rows.len() != n * wr {
            return Err(format!(
                "{} bytes of rows for {n} rows of its {wr}-byte writes (expected {})",
                rows.len(),
                n * wr
            ));
        }
        let bytes = (batch.rows_bytes().len() + batch.heap_bytes().len() + heap.len()) as u64;
        if bytes > cap.bytes {
            return Err(format!("answered {bytes} bytes, more than its cap of {} bytes", cap.bytes));
        }
        let (schema, mut out, mut base_heap) = batch.into_parts();
        let base = base_heap.len();
        if u32::try_from(base + heap.len()).is_err() {
            return Err(format!("a heap of {} bytes is too large", base + heap.len()));
        }
        let rs = self.row_size;
        for (r, (dst_row, src_row)) in out.chunks_exact_mut(rs).zip(rows.chunks_exact(wr)).enumerate() {
            for (i, c) in self.writes.columns.iter().enumerate() {
                let value = &src_row[c.dst..c.dst + c.len];
                if !c.heap {
                    dst_row[c.src..c.src + c.len].copy_from_slice(value);
                    continue;
                }
                let off = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
                let len = u32::from_le_bytes([value[4], value[5], value[6], value[7]]);
                if u64::from(off) + u64::from(len) > heap.len() as u64 {
                    let name = &self.writes.schema.fields[i].name;
                    return Err(format!(
                        "row {r}, field {}: heap value {off}+{len} is past the end of the answer's {}-byte heap",
                        quote(name, 80),
                        heap.len()
                    ));
                }
                // Fits: base + the answer's heap fits in a u32 (checked above).
                let rebased = off + base as u32;
                dst_row[c.src..c.src + 4].copy_from_slice(&rebased.to_le_bytes());
                dst_row[c.src + 4..c.src + 8].copy_from_slice(&len.to_le_bytes());
            }
        }
        base_heap.extend_from_slice(&heap);
        Batch::from_parts(schema, out, base_heap).ok_or_else(|| "the patched rows do not form a batch".to_owned())
    }
}

impl View {
    fn new(input: &Schema, names: &[String], what: &str) -> Result<View, String> {
        let mut columns: Vec<Column> = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        let mut dst = 0usize;
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(format!("project: {what} names {} twice", quote(name, 80)));
            }
            let Some(id) = input.find(name) else {
                return Err(format!(
                    "project: {what} names {}, which datasource {} does not have",
                    quote(name, 80),
                    input.datasource
                ));
            };
            let f: &Field = input.field(id);
            let p = f.storage.placement();
            let (src, len, heap) = (p.offset as usize, p.size as usize, p.heap);
            fields.push(WitField {
                name: f.name.clone(),
                kind: kind_to_wit(f.kind),
                offset: dst as u32,
                size: len as u32,
                heap,
                hidden: f.hidden,
                tags: f.tags.clone(),
                annotations: f.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            });
            columns.push(Column { src, dst, len, heap });
            dst += len;
        }
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for c in &columns {
            match runs.last_mut() {
                Some((s, l)) if *s + *l == c.src => *l += c.len,
                _ => runs.push((c.src, c.len)),
            }
        }
        Ok(View {
            schema: WitSchema {
                datasource: input.datasource.clone(),
                fields,
                row_size: dst as u32,
            },
            columns,
            row_size: dst,
            runs,
        })
    }
}

/// The projection a guest declares during `init`, kept in its store until the stage takes it.
#[derive(Debug, Default)]
pub(crate) struct Declared {
    /// The schema `init` was called with; `None` outside `init`.
    pub(crate) input: Option<Arc<Schema>>,
    /// What the guest declared during this `init`.
    pub(crate) projection: Option<Projection>,
}

impl Declared {
    /// The `host.project` import.
    pub(crate) fn project(&mut self, reads: &[String], writes: &[String]) -> Result<WitProjection, String> {
        let Some(input) = &self.input else {
            return Err("project: called outside init".to_owned());
        };
        let p = Projection::new(input, reads, writes)?;
        let wit = p.to_wit();
        self.projection = Some(p);
        Ok(wit)
    }
}

#[cfg(test)]
mod tests {
    use rig_kernel::{FieldKind, SchemaBuilder};

    use super::*;

    fn schema() -> Arc<Schema> {
        let mut b = SchemaBuilder::new("ds", 24);
        b.inline("a", FieldKind::U32, 0, 4);
        b.inline("b", FieldKind::U32, 4, 4);
        b.inline("name", FieldKind::Str, 8, 16);
        b.heap("h", FieldKind::Str);
        b.build().expect("schema")
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn batch(s: &Arc<Schema>, n: u32) -> Batch {
        let mut b = Batch::with_capacity(s.clone(), n as usize);
        let h = s.find("h").expect("h");
        for i in 0..n {
            let mut rec = vec![0u8; 24];
            rec[0..4].copy_from_slice(&i.to_le_bytes());
            rec[4..8].copy_from_slice(&(100 + i).to_le_bytes());
            rec[8..11].copy_from_slice(b"abc");
            b.push_record(&rec);
            b.set_heap(i as usize, h, b"old");
        }
        b
    }

    #[test]
    fn packs_adjacent_fields_as_one_run_in_the_order_named() {
        let s = schema();
        let p = Projection::new(&s, &names(&["a", "b"]), &[]).expect("projection");
        assert_eq!(p.reads.runs, vec![(0, 8)]);
        let p = Projection::new(&s, &names(&["b", "a"]), &[]).expect("projection");
        assert_eq!(p.reads.runs, vec![(4, 4), (0, 4)]);
        let mut out = Vec::new();
        p.pack(&batch(&s, 2), &mut out);
        assert_eq!(out, [100, 0, 0, 0, 0, 0, 0, 0, 101, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(p.to_wit().reads.row_size, 8);
        assert!(!p.reads_heap());
    }

    #[test]
    fn unknown_and_repeated_names_are_errors_naming_them() {
        let s = schema();
        let e = Projection::new(&s, &names(&["nope"]), &[]).expect_err("unknown");
        assert!(e.contains("\"nope\"") && e.contains("ds"), "{e}");
        let e = Projection::new(&s, &[], &names(&["a", "a"])).expect_err("twice");
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn patches_inline_and_heap_fields_and_rebases_heap_slots() {
        let s = schema();
        let p = Projection::new(&s, &[], &names(&["b", "h"])).expect("projection");
        let input = batch(&s, 2);
        let heap_before = input.heap_bytes().len() as u32;
        let mut rows = Vec::new();
        for i in 0..2u32 {
            rows.extend_from_slice(&(7 + i).to_le_bytes());
            rows.extend_from_slice(&0u32.to_le_bytes());
            rows.extend_from_slice(&3u32.to_le_bytes());
        }
        let cap = Cap { rows: 100, bytes: 1 << 20 };
        let out = p.patch(input, &rows, b"new".to_vec(), 2, cap).expect("patch");
        let b = s.find("b").expect("b");
        let h = s.find("h").expect("h");
        assert_eq!(out.bytes(1, b), 8u32.to_le_bytes());
        assert_eq!(out.bytes(0, h), b"new");
        assert_eq!(out.bytes(1, h), b"new");
        assert_eq!(out.heap_bytes().len() as u32, heap_before + 3);
        assert_eq!(out.row(0)[0..4], 0u32.to_le_bytes(), "unwritten fields are kept");
    }

    #[test]
    fn bad_patches_are_errors() {
        let s = schema();
        let p = Projection::new(&s, &[], &names(&["h"])).expect("projection");
        let cap = Cap { rows: 100, bytes: 1 << 20 };
        let e = p.patch(batch(&s, 2), &[0; 8], Vec::new(), 1, cap).expect_err("count");
        assert!(e.contains("1 rows for a 2-row batch"), "{e}");
        let mut rows = vec![0u8; 16];
        rows[12] = 9; // second row: length 9 in an empty heap
        let e = p.patch(batch(&s, 2), &rows, Vec::new(), 2, cap).expect_err("slot");
        assert!(e.contains("row 1") && e.contains("\"h\""), "{e}");
        let none = Projection::new(&s, &names(&["a"]), &[]).expect("projection");
        let e = none.patch(batch(&s, 1), &[], Vec::new(), 1, cap).expect_err("no writes");
        assert!(e.contains("declares no field it writes"), "{e}");
    }
}
