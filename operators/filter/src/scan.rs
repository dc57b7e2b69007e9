//! Batch loops for the leaf checks: the filter's hot path.
//!
//! [`crate::pred::Pred::eval_batch`] evaluates one check over all rows of a batch at a time.
//! This module gives each check a tight loop over `rows.chunks_exact(row_size)` that reads the
//! cell straight from the row (no [`rig_operator_sdk::Value`] in between) and compares with a
//! closure specialised per operator, so the only per-row branch is the comparison itself. Reads
//! never panic: a cell that does not fit the row reads as absent (false), though a schema
//! validated by the SDK never produces one.

use rig_operator_sdk::{BatchView, FieldKind, FieldRef};

use crate::pred::{Check, CmpOp, format_int};

/// An integer (or boolean) cell as i128.
#[inline(always)]
fn int_at(kind: FieldKind, c: &[u8]) -> Option<i128> {
    Some(match kind {
        FieldKind::Bool | FieldKind::U8 => i128::from(*c.first()?),
        FieldKind::S8 => i128::from(*c.first()? as i8),
        FieldKind::U16 => i128::from(u16::from_le_bytes(*c.first_chunk()?)),
        FieldKind::S16 => i128::from(i16::from_le_bytes(*c.first_chunk()?)),
        FieldKind::U32 => i128::from(u32::from_le_bytes(*c.first_chunk()?)),
        FieldKind::S32 => i128::from(i32::from_le_bytes(*c.first_chunk()?)),
        FieldKind::U64 => i128::from(u64::from_le_bytes(*c.first_chunk()?)),
        FieldKind::S64 => i128::from(i64::from_le_bytes(*c.first_chunk()?)),
        FieldKind::F32 | FieldKind::F64 | FieldKind::Text | FieldKind::Bytes => return None,
    })
}

/// A numeric cell as f64.
#[inline(always)]
fn float_at(kind: FieldKind, c: &[u8]) -> Option<f64> {
    match kind {
        FieldKind::F32 => Some(f64::from(f32::from_le_bytes(*c.first_chunk()?))),
        FieldKind::F64 => Some(f64::from_le_bytes(*c.first_chunk()?)),
        k => int_at(k, c).map(|v| v as f64),
    }
}

/// The bytes of a text or bytes cell; inline text stops at its first NUL.
#[inline(always)]
fn text_at<'a>(f: &FieldRef, row: &'a [u8], heap: &'a [u8]) -> &'a [u8] {
    let o = f.offset as usize;
    if f.heap {
        let Some(slot) = row.get(o..).and_then(|r| r.first_chunk::<8>()) else {
            return &[];
        };
        let off = u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]) as usize;
        let len = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]) as usize;
        return off.checked_add(len).and_then(|e| heap.get(off..e)).unwrap_or_default();
    }
    let cell = row.get(o..o + f.size as usize).unwrap_or_default();
    if f.kind == FieldKind::Text {
        let n = cell.iter().position(|&c| c == 0).unwrap_or(cell.len());
        &cell[..n]
    } else {
        cell
    }
}

fn rows<'a>(b: &BatchView<'a>) -> std::slice::ChunksExact<'a, u8> {
    b.rows_bytes().chunks_exact(b.schema().row_size as usize)
}

/// `out[i] = test(cell)` for the rows in `mask` (all when `None`), false for the others.
#[inline(always)]
fn cells<T>(
    b: &BatchView<'_>,
    mask: Option<&[bool]>,
    out: &mut [bool],
    read: impl Fn(&[u8]) -> Option<T>,
    test: impl Fn(T) -> bool,
) {
    match mask {
        None => {
            for (row, o) in rows(b).zip(out) {
                *o = read(row).is_some_and(&test);
            }
        }
        Some(m) => {
            for ((row, o), &on) in rows(b).zip(out).zip(m) {
                *o = on && read(row).is_some_and(&test);
            }
        }
    }
}

fn ints(b: &BatchView<'_>, f: &FieldRef, mask: Option<&[bool]>, out: &mut [bool], test: impl Fn(i128) -> bool) {
    let (kind, o) = (f.kind, f.offset as usize);
    cells(b, mask, out, |row| row.get(o..).and_then(|c| int_at(kind, c)), test);
}

fn floats(b: &BatchView<'_>, f: &FieldRef, mask: Option<&[bool]>, out: &mut [bool], test: impl Fn(f64) -> bool) {
    let (kind, o) = (f.kind, f.offset as usize);
    cells(b, mask, out, |row| row.get(o..).and_then(|c| float_at(kind, c)), test);
}

fn texts(b: &BatchView<'_>, f: &FieldRef, mask: Option<&[bool]>, out: &mut [bool], test: impl Fn(&[u8]) -> bool) {
    let heap = b.heap_bytes();
    match mask {
        None => {
            for (row, o) in rows(b).zip(out) {
                *o = test(text_at(f, row, heap));
            }
        }
        Some(m) => {
            for ((row, o), &on) in rows(b).zip(out).zip(m) {
                *o = on && test(text_at(f, row, heap));
            }
        }
    }
}

/// Expands to one loop per comparison operator, each with its own inlined comparison.
macro_rules! by_op {
    ($op:expr, $scan:ident, $b:expr, $f:expr, $mask:expr, $out:expr, |$v:ident| $lhs:expr, $rhs:expr) => {
        match $op {
            CmpOp::Eq => $scan($b, $f, $mask, $out, |$v| $lhs == $rhs),
            CmpOp::Ne => $scan($b, $f, $mask, $out, |$v| $lhs != $rhs),
            CmpOp::Lt => $scan($b, $f, $mask, $out, |$v| $lhs < $rhs),
            CmpOp::Le => $scan($b, $f, $mask, $out, |$v| $lhs <= $rhs),
            CmpOp::Gt => $scan($b, $f, $mask, $out, |$v| $lhs > $rhs),
            CmpOp::Ge => $scan($b, $f, $mask, $out, |$v| $lhs >= $rhs),
        }
    };
}

/// Evaluates one check on every row of `b` (only the rows in `mask` for costly checks).
pub(crate) fn leaf(c: &Check, f: &FieldRef, b: &BatchView<'_>, mask: Option<&[bool]>, out: &mut [bool]) {
    match c {
        Check::Int(op, rhs) => by_op!(*op, ints, b, f, None, out, |v| v, *rhs),
        // IEEE comparisons: NaN is unordered, so only `!=` holds for it.
        Check::Float(op, rhs) => by_op!(*op, floats, b, f, None, out, |v| v, *rhs),
        Check::Bool(want) => ints(b, f, None, out, |v| (v != 0) == *want),
        // Equality with inline text needs no scan for the NUL: compare the literal's bytes and
        // check the one after it ends the text.
        Check::Text(op @ (CmpOp::Eq | CmpOp::Ne), rhs) if !f.heap && f.kind == FieldKind::Text && !rhs.contains(&0) => {
            let (o, size, n) = (f.offset as usize, f.size as usize, rhs.len());
            let want = *op == CmpOp::Eq;
            for (row, out) in rows(b).zip(out) {
                let hit = row
                    .get(o..o + size)
                    .is_some_and(|c| n <= size && c[..n] == rhs[..] && (n == size || c[n] == 0));
                *out = hit == want;
            }
        }
        Check::Text(op, rhs) => by_op!(*op, texts, b, f, None, out, |t| t, rhs.as_slice()),
        Check::IntIn(set) => ints(b, f, mask, out, |v| set.binary_search(&v).is_ok()),
        // A short list is faster scanned (lengths differ first) than bisected.
        Check::TextIn(set) if set.len() <= 8 => texts(b, f, mask, out, |t| set.iter().any(|s| s.as_slice() == t)),
        Check::TextIn(set) => texts(b, f, mask, out, |t| {
            set.binary_search_by(|s| s.as_slice().cmp(t)).is_ok()
        }),
        Check::Prefix(p) => texts(b, f, None, out, |t| t.starts_with(p)),
        Check::Suffix(p) => texts(b, f, None, out, |t| t.ends_with(p)),
        Check::Regex(re) => texts(b, f, mask, out, |t| re.is_match(t)),
        Check::IntRegex(re) => ints(b, f, mask, out, |v| {
            let mut buf = [0u8; 48];
            re.is_match(format_int(v, &mut buf))
        }),
        Check::Truthy => match f.kind {
            FieldKind::Text | FieldKind::Bytes => texts(b, f, None, out, |t| !t.is_empty()),
            FieldKind::F32 | FieldKind::F64 => floats(b, f, None, out, |v| v != 0.0),
            _ => ints(b, f, None, out, |v| v != 0),
        },
    }
}
