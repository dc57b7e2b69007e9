//! Crossing the boundary: kernel schemas to WIT schemas and back, and guest outputs to batches.
//!
//! The WIT batch layout *is* the kernel's (fixed-size rows, 8-byte `(offset, length)` heap slots,
//! little-endian), so a batch crosses as two byte lists with one copy each way, and a `keep`
//! answer needs no copy at all when it keeps rows in order (the batch is compacted in place).
//!
//! Nothing a guest returns is trusted: a returned schema must fit its row size (every field
//! inside the row, scalars at their size, heap slots 8 bytes, names unique), `keep` indices must
//! be in range, returned rows must be a whole number of rows whose heap slots point inside the
//! heap, and every output is held to the stage's output cap. A violation is an error string the
//! stage turns into [`super::WasmError::Output`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rig_kernel::input::quote;
use rig_kernel::schema::MAX_ROW_SIZE;
use rig_kernel::{Batch, Field, FieldKind, Schema, Storage};

use super::bindings::FieldKind as WitKind;
use super::bindings::rig::operator::types::{BatchResult, FieldParam, SchemaParam, SchemaResult};

pub(crate) fn kind_to_wit(k: FieldKind) -> WitKind {
    match k {
        FieldKind::Bool => WitKind::Boolean,
        FieldKind::U8 => WitKind::U8,
        FieldKind::U16 => WitKind::U16,
        FieldKind::U32 => WitKind::U32,
        FieldKind::U64 => WitKind::U64,
        FieldKind::S8 => WitKind::S8,
        FieldKind::S16 => WitKind::S16,
        FieldKind::S32 => WitKind::S32,
        FieldKind::S64 => WitKind::S64,
        FieldKind::F32 => WitKind::F32,
        FieldKind::F64 => WitKind::F64,
        FieldKind::Str => WitKind::Text,
        FieldKind::Bytes => WitKind::Bytes,
    }
}

pub(crate) fn kind_from_wit(k: WitKind) -> FieldKind {
    match k {
        WitKind::Boolean => FieldKind::Bool,
        WitKind::U8 => FieldKind::U8,
        WitKind::U16 => FieldKind::U16,
        WitKind::U32 => FieldKind::U32,
        WitKind::U64 => FieldKind::U64,
        WitKind::S8 => FieldKind::S8,
        WitKind::S16 => FieldKind::S16,
        WitKind::S32 => FieldKind::S32,
        WitKind::S64 => FieldKind::S64,
        WitKind::F32 => FieldKind::F32,
        WitKind::F64 => FieldKind::F64,
        WitKind::Text => FieldKind::Str,
        WitKind::Bytes => FieldKind::Bytes,
    }
}

/// `(offset, size, heap)` of a kernel field, as the WIT contract lays it out.
fn placement(f: &Field) -> (u32, u32, bool) {
    let p = f.storage.placement();
    (p.offset, p.size, p.heap)
}

/// Calls `f` with the WIT view of `schema` (borrowing from it).
pub(crate) fn with_wit_schema<R>(schema: &Schema, f: impl FnOnce(SchemaParam<'_>) -> R) -> R {
    let tags: Vec<Vec<&str>> = schema
        .fields
        .iter()
        .map(|f| f.tags.iter().map(String::as_str).collect())
        .collect();
    let annotations: Vec<Vec<(&str, &str)>> = schema
        .fields
        .iter()
        .map(|f| f.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .collect();
    let fields: Vec<FieldParam<'_>> = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (offset, size, heap) = placement(f);
            FieldParam {
                name: &f.name,
                kind: kind_to_wit(f.kind),
                offset,
                size,
                heap,
                hidden: f.hidden,
                tags: &tags[i],
                annotations: &annotations[i],
            }
        })
        .collect();
    f(SchemaParam {
        datasource: &schema.datasource,
        fields: &fields,
        row_size: schema.row_size,
    })
}

/// True when the guest handed back exactly the schema it was given.
fn unchanged(out: &SchemaResult, input: &Schema) -> bool {
    out.datasource == input.datasource
        && out.row_size == input.row_size
        && out.fields.len() == input.fields.len()
        && out.fields.iter().zip(&input.fields).all(|(o, i)| {
            let (offset, size, heap) = placement(i);
            o.name == i.name
                && kind_from_wit(o.kind) == i.kind
                && (o.offset, o.size, o.heap) == (offset, size, heap)
                && o.hidden == i.hidden
                && o.tags == i.tags
                && o.annotations.len() == i.annotations.len()
                && o.annotations.iter().all(|(k, v)| i.annotations.get(k) == Some(v))
        })
}

/// Turns the schema a guest's `init` returned into a kernel schema, checking it fits its rows.
/// The input `Arc` is reused when nothing changed. Fields that keep their name, kind and place
/// keep what WIT cannot carry (special meaning, derivation), remapped by name.
pub(crate) fn schema_from_wit(out: SchemaResult, input: &Arc<Schema>) -> Result<Arc<Schema>, String> {
    if out.fields.len() > super::MAX_OUTPUT_FIELDS {
        return Err(format!(
            "output schema declares {} fields, more than the {} an operator may declare",
            out.fields.len(),
            super::MAX_OUTPUT_FIELDS
        ));
    }
    if unchanged(&out, input) {
        return Ok(input.clone());
    }
    let rs = out.row_size;
    if rs == 0 || !rs.is_multiple_of(8) || rs > MAX_ROW_SIZE {
        return Err(format!(
            "output schema row-size {rs} must be a positive multiple of 8 of at most {MAX_ROW_SIZE}"
        ));
    }
    let mut names = HashSet::new();
    for f in &out.fields {
        if f.name.is_empty() || !names.insert(f.name.as_str()) {
            return Err(format!(
                "output schema field name {} is empty or repeated",
                quote(&f.name, 80)
            ));
        }
        let kind = kind_from_wit(f.kind);
        let end = u64::from(f.offset) + u64::from(f.size);
        if end > u64::from(rs) {
            return Err(format!(
                "output field {} ends at byte {end}, past the row size {rs}",
                quote(&f.name, 80)
            ));
        }
        if f.heap {
            if f.size != 8 {
                return Err(format!(
                    "output heap field {} must have an 8-byte slot, not {}",
                    quote(&f.name, 80),
                    f.size
                ));
            }
        } else if let Some(want) = kind.scalar_size() {
            if f.size != want {
                return Err(format!(
                    "output field {} is {kind} but {} bytes wide",
                    quote(&f.name, 80),
                    f.size
                ));
            }
        } else if f.size == 0 {
            return Err(format!("output field {} has size 0", quote(&f.name, 80)));
        }
    }
    let old: BTreeMap<&str, &Field> = input.fields.iter().map(|f| (f.name.as_str(), f)).collect();
    let fields: Vec<Field> = out
        .fields
        .into_iter()
        .map(|f| {
            let kind = kind_from_wit(f.kind);
            let storage = if f.heap {
                Storage::Heap { slot: f.offset }
            } else {
                Storage::Inline {
                    offset: f.offset,
                    size: f.size,
                }
            };
            let same = old
                .get(f.name.as_str())
                .filter(|o| o.kind == kind && o.storage == storage);
            Field {
                special: same.and_then(|o| o.special.clone()),
                derived: None,
                name: f.name,
                kind,
                storage,
                hidden: f.hidden,
                tags: f.tags,
                annotations: f.annotations.into_iter().collect(),
            }
        })
        .collect();
    let mut schema = Schema {
        datasource: out.datasource,
        raw_size: input.raw_size.min(rs),
        row_size: rs,
        annotations: input.annotations.clone(),
        rest: None,
        fields,
    };
    // Derivations and the `rest` field point at field ids: remap them by name (a map, not
    // `Schema::find`, so this stays linear in the number of fields).
    let new_ids: std::collections::HashMap<&str, rig_kernel::FieldId> = schema
        .fields
        .iter()
        .zip(0u32..)
        .map(|(f, i)| (f.name.as_str(), rig_kernel::FieldId(i)))
        .collect();
    let by_name = |id: rig_kernel::FieldId| new_ids.get(input.field(id).name.as_str()).copied();
    let derived: Vec<_> = schema
        .fields
        .iter()
        .map(|f| {
            let o = old
                .get(f.name.as_str())
                .filter(|o| o.kind == f.kind && o.storage == f.storage)?;
            let d = o.derived.as_ref()?;
            Some(rig_kernel::schema::Derivation {
                source: by_name(d.source)?,
                special: d.special.clone(),
            })
        })
        .collect();
    let rest = input.rest.and_then(by_name);
    for (f, d) in schema.fields.iter_mut().zip(derived) {
        f.derived = d;
    }
    schema.rest = rest;
    Ok(Arc::new(schema))
}

/// Checks that every heap slot of every row points inside `heap`.
fn check_heap_slots(schema: &Schema, rows: &[u8], heap_len: usize) -> Result<(), String> {
    let slots: Vec<(usize, &str)> = schema
        .fields
        .iter()
        .filter_map(|f| match f.storage {
            Storage::Heap { slot } => Some((slot as usize, f.name.as_str())),
            Storage::Inline { .. } => None,
        })
        .collect();
    if slots.is_empty() {
        return Ok(());
    }
    let rs = schema.row_size as usize;
    for (r, row) in rows.chunks_exact(rs).enumerate() {
        for &(s, name) in &slots {
            let off = u32::from_le_bytes([row[s], row[s + 1], row[s + 2], row[s + 3]]) as usize;
            let len = u32::from_le_bytes([row[s + 4], row[s + 5], row[s + 6], row[s + 7]]) as usize;
            if off + len > heap_len {
                return Err(format!(
                    "row {r}, field {}: heap value {off}+{len} is past the end of the {heap_len}-byte heap",
                    quote(name, 80)
                ));
            }
        }
    }
    Ok(())
}

/// How much an output may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cap {
    /// Most rows.
    pub rows: u64,
    /// Most bytes (rows + heap).
    pub bytes: u64,
}

impl Cap {
    /// `factor` times `rows` and `bytes` of input (bytes counted from at least 64 KiB), and
    /// never more than [`super::MAX_OUTPUT_ROWS`] and [`super::MAX_OUTPUT_BYTES`].
    pub(crate) fn of(factor: u32, rows: u64, bytes: u64) -> Cap {
        let f = u64::from(factor.max(1));
        Cap {
            rows: f.saturating_mul(rows.max(1)).min(super::MAX_OUTPUT_ROWS),
            bytes: f.saturating_mul(bytes.max(64 << 10)).min(super::MAX_OUTPUT_BYTES),
        }
    }
}

/// Applies a `keep` answer to the batch it answers. In-order subsets compact the batch in place
/// (no copy of the heap); other selections copy the chosen rows and the heap.
pub(crate) fn apply_keep(batch: Batch, indices: &[u32], out: &Arc<Schema>, cap: Cap) -> Result<Batch, String> {
    let count = batch.len();
    if indices.len() as u64 > cap.rows {
        return Err(format!(
            "keeps {} rows of a {count}-row batch, more than its cap of {} rows",
            indices.len(),
            cap.rows
        ));
    }
    if let Some(bad) = indices.iter().find(|&&i| i as usize >= count) {
        return Err(format!("keep index {bad} is out of range for a {count}-row batch"));
    }
    let rs = batch.schema().row_size as usize;
    if out.row_size as usize != rs {
        return Err(format!(
            "keep answers need the input row layout, but init declared rows of {} bytes instead of {rs}",
            out.row_size
        ));
    }
    let ordered = indices.windows(2).all(|w| w[0] < w[1]);
    // In a graph the batch carries the very `Arc` init saw; compare contents only otherwise.
    let same_schema = Arc::ptr_eq(batch.schema(), out) || **batch.schema() == **out;
    if ordered && same_schema {
        if indices.len() == count {
            return Ok(batch);
        }
        let mut batch = batch;
        batch.keep_sorted(indices);
        return Ok(batch);
    }
    let bytes = (indices.len() * rs + batch.heap_bytes().len()) as u64;
    if bytes > cap.bytes {
        return Err(format!("keeps {bytes} bytes, more than its cap of {} bytes", cap.bytes));
    }
    let mut rows = Vec::with_capacity(indices.len() * rs);
    for &i in indices {
        rows.extend_from_slice(batch.row(i as usize));
    }
    Batch::from_parts(out.clone(), rows, batch.heap_bytes().to_vec())
        .ok_or_else(|| "the kept rows do not form a batch".to_owned())
}

/// Turns returned rows into a batch of the output schema, after checking them.
pub(crate) fn apply_rows(result: BatchResult, out: &Arc<Schema>, cap: Cap) -> Result<Batch, String> {
    let rs = out.row_size as usize;
    let count = result.count as usize;
    if result.rows.len() != count * rs {
        return Err(format!(
            "{} bytes of rows for {count} rows of {rs} bytes (expected {})",
            result.rows.len(),
            count * rs
        ));
    }
    if count as u64 > cap.rows {
        return Err(format!("returned {count} rows, more than its cap of {} rows", cap.rows));
    }
    let bytes = (result.rows.len() + result.heap.len()) as u64;
    if bytes > cap.bytes {
        return Err(format!(
            "returned {bytes} bytes, more than its cap of {} bytes",
            cap.bytes
        ));
    }
    check_heap_slots(out, &result.rows, result.heap.len())?;
    Batch::from_parts(out.clone(), result.rows, result.heap).ok_or_else(|| "the rows do not form a batch".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_kernel::SchemaBuilder;

    fn schema() -> Arc<Schema> {
        let mut b = SchemaBuilder::new("t", 12);
        b.inline("n", FieldKind::U32, 0, 4);
        b.inline("comm", FieldKind::Str, 4, 8);
        b.heap("path", FieldKind::Str);
        b.build().unwrap()
    }

    fn batch(s: &Arc<Schema>, n: u32) -> Batch {
        let mut b = Batch::with_capacity(s.clone(), n as usize);
        let path = s.find("path").unwrap();
        for i in 0..n {
            b.push_record(&i.to_le_bytes());
            b.set_heap(i as usize, path, format!("/p{i}").as_bytes());
        }
        b
    }

    fn round_trip(s: &Arc<Schema>) -> SchemaResult {
        with_wit_schema(s, |p| SchemaResult {
            datasource: p.datasource.to_owned(),
            row_size: p.row_size,
            fields: p
                .fields
                .iter()
                .map(|f| super::super::bindings::rig::operator::types::FieldResult {
                    name: f.name.to_owned(),
                    kind: f.kind,
                    offset: f.offset,
                    size: f.size,
                    heap: f.heap,
                    hidden: f.hidden,
                    tags: f.tags.iter().map(|t| t.to_string()).collect(),
                    annotations: f
                        .annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                })
                .collect(),
        })
    }

    #[test]
    fn an_unchanged_schema_is_the_same_arc() {
        let s = schema();
        let out = schema_from_wit(round_trip(&s), &s).unwrap();
        assert!(Arc::ptr_eq(&out, &s));
    }

    #[test]
    fn a_changed_schema_is_checked_and_rebuilt() {
        let s = schema();
        let mut r = round_trip(&s);
        r.fields[0].hidden = true;
        let out = schema_from_wit(r, &s).unwrap();
        assert!(!Arc::ptr_eq(&out, &s));
        assert!(out.fields[0].hidden);
        let mut r = round_trip(&s);
        r.fields[1].offset = 20;
        let e = schema_from_wit(r, &s).unwrap_err();
        assert!(e.contains("past the row size"), "{e}");
        let mut r = round_trip(&s);
        r.fields[0].size = 3;
        assert!(schema_from_wit(r, &s).unwrap_err().contains("bytes wide"));
        let mut r = round_trip(&s);
        r.row_size = 13;
        assert!(schema_from_wit(r, &s).unwrap_err().contains("multiple of 8"));
    }

    #[test]
    fn keep_compacts_in_order_and_copies_otherwise() {
        let s = schema();
        let n = s.find("n").unwrap();
        let path = s.find("path").unwrap();
        let cap = Cap::of(16, 4, 0);
        let b = apply_keep(batch(&s, 4), &[1, 3], &s, cap).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.value(1, n), rig_kernel::Value::U64(3));
        assert_eq!(b.value(1, path), rig_kernel::Value::Str("/p3"));
        let b = apply_keep(batch(&s, 4), &[3, 0, 3], &s, cap).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.value(0, path), rig_kernel::Value::Str("/p3"));
        assert_eq!(b.value(1, n), rig_kernel::Value::U64(0));
        let e = apply_keep(batch(&s, 4), &[4], &s, cap).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = apply_keep(batch(&s, 1), &[0; 17], &s, Cap::of(16, 1, 0)).unwrap_err();
        assert!(e.contains("cap"), "{e}");
    }

    #[test]
    fn returned_rows_are_checked() {
        let s = schema();
        let b = batch(&s, 2);
        let ok = BatchResult {
            rows: b.rows_bytes().to_vec(),
            heap: b.heap_bytes().to_vec(),
            count: 2,
        };
        assert_eq!(apply_rows(ok, &s, Cap::of(16, 2, 0)).unwrap().len(), 2);
        let short = BatchResult {
            rows: vec![0; 10],
            heap: vec![],
            count: 1,
        };
        assert!(
            apply_rows(short, &s, Cap::of(16, 2, 0))
                .unwrap_err()
                .contains("bytes of rows")
        );
        let bad_heap = BatchResult {
            rows: b.rows_bytes().to_vec(),
            heap: vec![],
            count: 2,
        };
        assert!(
            apply_rows(bad_heap, &s, Cap::of(16, 2, 0))
                .unwrap_err()
                .contains("past the end")
        );
    }
}
