//! The batch/schema wire layout shared by rig's host and its guest operators.
//!
//! rig moves events as batches: fixed-size little-endian rows plus a heap of variable-length
//! values, described by a schema of typed fields. The kernel (`rig-kernel`), the host's WASM
//! bridge and the guest SDK (`rig-operator-sdk`) all read and write that layout, so it is defined
//! once, here, without `std` or an allocator (like `aya-log-common` for aya's log records):
//!
//! - [`FieldKind`]: the value encodings and their wire codes (the WIT `field-kind` order);
//! - [`cell`], [`read_slot`], [`write_slot`]: where a value's bytes are in a row and its heap;
//! - [`decode`] / [`Value`]: typed values out of those bytes;
//! - [`check_field`]: the bounds every schema must satisfy so reading can never go out of range;
//! - [`Escaped`] and [`base64_chunks`]: how text that is not UTF-8 and opaque bytes are shown.
//!
//! Nothing here panics on malformed data: a cell outside its row or a slot outside the heap reads
//! as empty.
#![no_std]

use core::fmt;

/// Bytes of a heap slot: `(heap offset: u32, length: u32)`, little-endian.
pub const SLOT_SIZE: u32 = 8;

/// Rows are a multiple of this many bytes.
pub const ROW_ALIGN: u32 = 8;

/// How a value is encoded. Integers and floats are little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FieldKind {
    /// One byte, zero is false.
    Bool = 0,
    /// Unsigned 8-bit integer.
    U8 = 1,
    /// Unsigned 16-bit integer.
    U16 = 2,
    /// Unsigned 32-bit integer.
    U32 = 3,
    /// Unsigned 64-bit integer.
    U64 = 4,
    /// Signed 8-bit integer.
    S8 = 5,
    /// Signed 16-bit integer.
    S16 = 6,
    /// Signed 32-bit integer.
    S32 = 7,
    /// Signed 64-bit integer.
    S64 = 8,
    /// 32-bit float.
    F32 = 9,
    /// 64-bit float.
    F64 = 10,
    /// Text, normally UTF-8. Inline text ends at the first NUL or at the field's size.
    Str = 11,
    /// Opaque bytes.
    Bytes = 12,
}

impl FieldKind {
    /// The guest SDK's name for [`FieldKind::Str`] (the WIT `text`).
    #[allow(non_upper_case_globals)]
    pub const Text: FieldKind = FieldKind::Str;

    /// Every kind, in wire-code order.
    pub const ALL: [FieldKind; 13] = [
        FieldKind::Bool,
        FieldKind::U8,
        FieldKind::U16,
        FieldKind::U32,
        FieldKind::U64,
        FieldKind::S8,
        FieldKind::S16,
        FieldKind::S32,
        FieldKind::S64,
        FieldKind::F32,
        FieldKind::F64,
        FieldKind::Str,
        FieldKind::Bytes,
    ];

    /// The wire code (the position in the WIT `field-kind` enum).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a wire code.
    pub fn from_code(code: u8) -> Option<FieldKind> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Size in bytes of an inline scalar of this kind; `None` for text and bytes.
    pub fn scalar_size(self) -> Option<u32> {
        Some(match self {
            FieldKind::Bool | FieldKind::U8 | FieldKind::S8 => 1,
            FieldKind::U16 | FieldKind::S16 => 2,
            FieldKind::U32 | FieldKind::S32 | FieldKind::F32 => 4,
            FieldKind::U64 | FieldKind::S64 | FieldKind::F64 => 8,
            FieldKind::Str | FieldKind::Bytes => return None,
        })
    }

    /// True for unsigned integer kinds.
    pub fn is_unsigned(self) -> bool {
        matches!(self, FieldKind::U8 | FieldKind::U16 | FieldKind::U32 | FieldKind::U64)
    }

    /// True for signed integer kinds.
    pub fn is_signed(self) -> bool {
        matches!(self, FieldKind::S8 | FieldKind::S16 | FieldKind::S32 | FieldKind::S64)
    }

    /// True for all integer kinds.
    pub fn is_integer(self) -> bool {
        self.is_unsigned() || self.is_signed()
    }

    /// True for the float kinds.
    pub fn is_float(self) -> bool {
        matches!(self, FieldKind::F32 | FieldKind::F64)
    }

    /// True for integers and floats.
    pub fn is_numeric(self) -> bool {
        self.is_integer() || self.is_float()
    }

    /// The name used in CLI help and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Bool => "bool",
            FieldKind::U8 => "u8",
            FieldKind::U16 => "u16",
            FieldKind::U32 => "u32",
            FieldKind::U64 => "u64",
            FieldKind::S8 => "s8",
            FieldKind::S16 => "s16",
            FieldKind::S32 => "s32",
            FieldKind::S64 => "s64",
            FieldKind::F32 => "f32",
            FieldKind::F64 => "f64",
            FieldKind::Str => "string",
            FieldKind::Bytes => "bytes",
        }
    }

    /// The name in the WIT contract (`boolean`, `text`, …).
    pub fn wit_name(self) -> &'static str {
        match self {
            FieldKind::Bool => "boolean",
            FieldKind::Str => "text",
            k => k.as_str(),
        }
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded value, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A boolean.
    Bool(bool),
    /// Any unsigned integer.
    U64(u64),
    /// Any signed integer.
    I64(i64),
    /// Any float.
    F64(f64),
    /// Text: the longest UTF-8 prefix of the stored bytes, which is what filters, sorting and
    /// operators compare. Output shows all of them, invalid bytes as `\xNN` (see [`Escaped`]).
    Str(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
}

impl<'a> Value<'a> {
    /// The value as an unsigned integer: integers that fit, booleans as 0/1.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) => u64::try_from(v).ok(),
            Value::Bool(b) => Some(u64::from(b)),
            Value::F64(_) | Value::Str(_) | Value::Bytes(_) => None,
        }
    }

    /// The value as a signed integer: integers that fit, booleans as 0/1.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I64(v) => Some(v),
            Value::Bool(b) => Some(i64::from(b)),
            Value::F64(_) | Value::Str(_) | Value::Bytes(_) => None,
        }
    }

    /// The value as a float (integers converted, possibly rounding).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            Value::Bool(_) | Value::Str(_) | Value::Bytes(_) => None,
        }
    }

    /// The text, for text values.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, for boolean values.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// The `(heap offset, length)` in the 8-byte slot at `slot` of `row`; `None` past the row.
pub fn read_slot(row: &[u8], slot: usize) -> Option<(u32, u32)> {
    let end = slot.checked_add(SLOT_SIZE as usize)?;
    let [o0, o1, o2, o3, l0, l1, l2, l3] = *row.get(slot..end)? else {
        return None;
    };
    Some((u32::from_le_bytes([o0, o1, o2, o3]), u32::from_le_bytes([l0, l1, l2, l3])))
}

/// Writes `(offset, len)` into the slot at `slot` of `row`; false (nothing written) past the row.
pub fn write_slot(row: &mut [u8], slot: usize, offset: u32, len: u32) -> bool {
    let Some(s) = slot.checked_add(SLOT_SIZE as usize).and_then(|end| row.get_mut(slot..end)) else {
        return false;
    };
    s[..4].copy_from_slice(&offset.to_le_bytes());
    s[4..].copy_from_slice(&len.to_le_bytes());
    true
}

/// The stored bytes of a field: the `size` inline bytes at `offset`, or (for a heap field) the
/// heap value its slot at `offset` points to. Empty when either lies out of range.
pub fn cell<'a>(row: &'a [u8], heap: &'a [u8], offset: u32, size: u32, in_heap: bool) -> &'a [u8] {
    let o = offset as usize;
    if in_heap {
        let Some((off, len)) = read_slot(row, o) else {
            return &[];
        };
        let (off, len) = (off as usize, len as usize);
        return off.checked_add(len).and_then(|end| heap.get(off..end)).unwrap_or_default();
    }
    o.checked_add(size as usize)
        .and_then(|end| row.get(o..end))
        .unwrap_or_default()
}

/// Inline text ends at its first NUL.
pub fn text_end(b: &[u8]) -> &[u8] {
    let n = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    &b[..n]
}

fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    let n = b.len().min(N);
    a[..n].copy_from_slice(&b[..n]);
    a
}

/// Decodes the stored bytes of a value of `kind` (inline text already cut by [`text_end`]).
/// Short scalars are zero-extended, so any byte string decodes.
pub fn decode(kind: FieldKind, b: &[u8]) -> Value<'_> {
    match kind {
        FieldKind::Bool => Value::Bool(b.first().is_some_and(|v| *v != 0)),
        FieldKind::U8 => Value::U64(u64::from(le::<1>(b)[0])),
        FieldKind::U16 => Value::U64(u64::from(u16::from_le_bytes(le(b)))),
        FieldKind::U32 => Value::U64(u64::from(u32::from_le_bytes(le(b)))),
        FieldKind::U64 => Value::U64(u64::from_le_bytes(le(b))),
        FieldKind::S8 => Value::I64(i64::from(le::<1>(b)[0] as i8)),
        FieldKind::S16 => Value::I64(i64::from(i16::from_le_bytes(le(b)))),
        FieldKind::S32 => Value::I64(i64::from(i32::from_le_bytes(le(b)))),
        FieldKind::S64 => Value::I64(i64::from_le_bytes(le(b))),
        FieldKind::F32 => Value::F64(f64::from(f32::from_le_bytes(le(b)))),
        FieldKind::F64 => Value::F64(f64::from_le_bytes(le(b))),
        FieldKind::Str => Value::Str(str_prefix(b)),
        FieldKind::Bytes => Value::Bytes(b),
    }
}

/// The longest valid UTF-8 prefix: what [`Value::Str`] holds without allocating.
pub fn str_prefix(b: &[u8]) -> &str {
    match core::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// Stored text shown losslessly: valid UTF-8 as is, every invalid byte as `\xNN`
/// (`dir/\xff\xfeNAME`), so a file name that is not UTF-8 is never cut short.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Why a field does not fit its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutError {
    /// The row size is zero, not a multiple of [`ROW_ALIGN`] or above the maximum.
    RowSize {
        /// The declared row size.
        row_size: u32,
        /// The largest row accepted.
        max: u32,
    },
    /// The field's bytes end past the row.
    Outside {
        /// First byte.
        offset: u32,
        /// One past the last byte (may exceed `u32`).
        end: u64,
        /// The row size.
        row_size: u32,
    },
    /// A heap field whose slot is not [`SLOT_SIZE`] bytes.
    SlotSize {
        /// The declared size.
        size: u32,
    },
    /// An inline scalar narrower than its kind.
    ScalarSize {
        /// The kind.
        kind: FieldKind,
        /// The declared size.
        size: u32,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutError::RowSize { row_size, max } => {
                write!(f, "row size {row_size} must be a positive multiple of {ROW_ALIGN} of at most {max}")
            }
            LayoutError::Outside { offset, end, row_size } => {
                write!(f, "({offset}..{end}) ends past the {row_size}-byte row")
            }
            LayoutError::SlotSize { size } => write!(f, "is a heap field with a {size}-byte slot (must be 8)"),
            LayoutError::ScalarSize { kind, size } => write!(
                f,
                "is {kind} but {size} bytes wide (needs {})",
                kind.scalar_size().unwrap_or_default()
            ),
        }
    }
}

/// Checks a row size: positive, a multiple of [`ROW_ALIGN`], at most `max`.
pub fn check_row_size(row_size: u32, max: u32) -> Result<(), LayoutError> {
    if row_size == 0 || !row_size.is_multiple_of(ROW_ALIGN) || row_size > max {
        return Err(LayoutError::RowSize { row_size, max });
    }
    Ok(())
}

/// Checks that a field lies inside a `row_size`-byte row (no overflow), that a heap slot is
/// [`SLOT_SIZE`] bytes and an inline scalar at least its kind's size. [`cell`] never fails on a
/// field that passes.
pub fn check_field(kind: FieldKind, offset: u32, size: u32, in_heap: bool, row_size: u32) -> Result<(), LayoutError> {
    if in_heap && size != SLOT_SIZE {
        return Err(LayoutError::SlotSize { size });
    }
    if let Some(n) = kind.scalar_size()
        && !in_heap
        && size < n
    {
        return Err(LayoutError::ScalarSize { kind, size });
    }
    let end = u64::from(offset) + u64::from(size);
    if end > u64::from(row_size) {
        return Err(LayoutError::Outside { offset, end, row_size });
    }
    Ok(())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Bytes as standard base64 with padding (how Go's `encoding/json`, and so Inspektor Gadget,
/// writes `[]byte`), four characters at a time.
pub fn base64_chunks(b: &[u8]) -> impl Iterator<Item = [u8; 4]> + '_ {
    b.chunks(3).map(|c| {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        let at = |shift: u32| B64[((n >> shift) & 63) as usize];
        [
            at(18),
            at(12),
            if c.len() > 1 { at(6) } else { b'=' },
            if c.len() > 2 { at(0) } else { b'=' },
        ]
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    #[test]
    fn wire_codes_follow_the_wit_order() {
        for (i, k) in FieldKind::ALL.iter().enumerate() {
            assert_eq!(FieldKind::from_code(i as u8), Some(*k));
            assert_eq!(k.code() as usize, i);
        }
        assert_eq!(FieldKind::from_code(13), None);
        assert_eq!(FieldKind::Text.wit_name(), "text");
    }

    #[test]
    fn cells_out_of_range_read_empty() {
        let mut row = [0u8; 16];
        assert!(write_slot(&mut row, 8, 1, 2));
        assert!(!write_slot(&mut row, 12, 0, 0));
        assert_eq!(cell(&row, b"abcd", 8, 8, true), b"bc");
        assert_eq!(cell(&row, b"a", 8, 8, true), b"");
        assert_eq!(cell(&row, b"", 12, 8, false), b"");
        assert_eq!(cell(&row, b"", u32::MAX, u32::MAX, false), b"");
        assert_eq!(cell(&row, b"", u32::MAX, 8, true), b"");
        assert_eq!(decode(FieldKind::U64, &[1]), Value::U64(1));
    }

    #[test]
    fn invalid_utf8_is_escaped_not_cut() {
        let name = b"dir/\xff\xfeNAME";
        assert_eq!(decode(FieldKind::Str, name), Value::Str("dir/"));
        assert_eq!(Escaped(name).to_string(), "dir/\\xff\\xfeNAME");
        assert_eq!(Escaped("é".as_bytes()).to_string(), "é");
    }

    #[test]
    fn base64_pads_like_go() {
        let enc = |b: &[u8]| String::from_utf8(base64_chunks(b).flatten().collect::<Vec<u8>>()).unwrap();
        assert_eq!(enc(b""), "");
        assert_eq!(enc(b"f"), "Zg==");
        assert_eq!(enc(b"fo"), "Zm8=");
        assert_eq!(enc(b"foo"), "Zm9v");
        assert_eq!(enc(&[0xff, 0, 0xfe, 1]), "/wD+AQ==");
    }

    #[test]
    fn fields_must_fit_their_row() {
        assert!(check_field(FieldKind::U64, 4, 8, false, 8).is_err());
        assert!(check_field(FieldKind::U32, 0, 2, false, 8).is_err());
        assert!(check_field(FieldKind::Str, 0, 4, true, 8).is_err());
        assert!(check_field(FieldKind::Str, u32::MAX, u32::MAX, false, 8).is_err());
        assert!(check_field(FieldKind::Str, 0, 8, true, 8).is_ok());
        assert!(check_row_size(12, 1 << 20).is_err());
    }
}
