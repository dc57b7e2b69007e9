//! The `-o columns` layout: fixed-width, aligned text columns as `ig` prints them.
//!
//! Everything that does not depend on an event is decided once, in [`ColumnsLayout::new`]: each
//! column's header, width, alignment and ellipsis, from the field's `columns.*` annotations, then
//! its `template`, then IG's defaults (width 16, left, ellipsis at the end). Per event only the
//! value is rendered: widths are counted in characters, longer values are cut with `…`, columns
//! are separated by one space and the last column carries no trailing padding. Values are
//! sanitized (control characters become `?`) so an event cannot drive the terminal; text that is
//! not UTF-8 shows every byte, each invalid one as `\xNN` (`dir/\xff\xfeNAME`).
//!
//! Width rule (IG without auto-scaling): `columns.width`, else 16 capped by `columns.maxwidth`;
//! then raised to `columns.minwidth`.

use std::collections::BTreeMap;

use rig_kernel::{Batch, FieldId, FieldKind, Schema, Storage, Value};

use super::text::{Scan, push_f64, push_hex, push_i64, push_sanitized, push_u64, scan, text_str};

/// IG's default column width.
const DEFAULT_WIDTH: usize = 16;

/// The `template` annotation values IG defines, with the column settings each one implies.
const TEMPLATES: &[(&str, &[(&str, &str)])] = &[
    (
        "timestamp",
        &[
            ("columns.width", "35"),
            ("columns.maxwidth", "35"),
            ("columns.ellipsis", "end"),
        ],
    ),
    ("node", &[("columns.width", "30"), ("columns.ellipsis", "middle")]),
    ("pod", &[("columns.width", "30"), ("columns.ellipsis", "middle")]),
    ("container", &[("columns.width", "30")]),
    ("namespace", &[("columns.width", "30")]),
    ("containerImageName", &[("columns.width", "30")]),
    ("containerImageDigest", &[("columns.width", "30")]),
    ("containerStartedAt", &[("columns.width", "35")]),
    ("comm", &[("columns.maxwidth", "16")]),
    ("pcomm", &[("columns.maxwidth", "16")]),
    ("pid", &[("columns.minwidth", "7"), ("columns.alignment", "right")]),
    ("uid", &[("columns.minwidth", "8"), ("columns.alignment", "right")]),
    ("gid", &[("columns.minwidth", "8"), ("columns.alignment", "right")]),
    ("ns", &[("columns.width", "12"), ("columns.alignment", "right")]),
    (
        "l4endpoint",
        &[
            ("columns.minwidth", "22"),
            ("columns.width", "40"),
            ("columns.maxwidth", "52"),
        ],
    ),
    ("syscall", &[("columns.width", "18"), ("columns.maxwidth", "28")]),
    ("errorString", &[("columns.width", "12")]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// Where `…` goes when a value is cut; `None` cuts without a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ellipsis {
    Start,
    Middle,
    End,
    None,
}

#[derive(Debug, Clone)]
struct Column {
    field: FieldId,
    width: usize,
    align: Align,
    ellipsis: Ellipsis,
    /// For a text field: `Some(inline)`, so its raw bytes are shown, not a `Value`'s UTF-8 prefix.
    text: Option<bool>,
}

/// The columns to print and the pre-rendered header line.
#[derive(Debug, Clone)]
pub(super) struct ColumnsLayout {
    columns: Vec<Column>,
    /// Histograms: printed under their row as IG's multi-line table, not in a cell.
    blocks: Vec<FieldId>,
    header: Vec<u8>,
}

/// A histogram companion (its text is a multi-line table).
fn is_block(f: &rig_kernel::Field) -> bool {
    f.derived.as_ref().is_some_and(|d| {
        matches!(&d.special, rig_kernel::Special::Other(t) if rig_kernel::format::histogram::slot_size(t).is_some())
    })
}

/// A field's column setting: its own annotation, else its template's.
fn setting<'a>(annotations: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    if let Some(v) = annotations.get(key) {
        return Some(v.as_str());
    }
    let template = annotations.get("template")?;
    TEMPLATES
        .iter()
        .find(|(name, _)| name == template)
        .and_then(|(_, settings)| settings.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
}

fn number(field: &str, key: &str, value: Option<&str>) -> Option<usize> {
    let value = value?;
    match value.trim().parse::<usize>() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(field, key, value, "ignoring a column annotation that is not a number");
            None
        }
    }
}

/// Header names: the last dotted component upper-cased, or the whole dotted name upper-cased for
/// the columns whose short names collide.
fn header_names(names: &[&str]) -> Vec<String> {
    let short: Vec<String> = names
        .iter()
        .map(|n| n.rsplit('.').next().unwrap_or(n).to_uppercase())
        .collect();
    short
        .iter()
        .zip(names)
        .map(|(s, full)| {
            if short.iter().filter(|o| *o == s).count() > 1 {
                full.to_uppercase()
            } else {
                s.clone()
            }
        })
        .collect()
}

impl ColumnsLayout {
    /// Decides every column's geometry and renders the header line.
    pub(super) fn new(schema: &Schema, fields: &[FieldId]) -> Self {
        let mut columns = Vec::with_capacity(fields.len());
        let mut blocks = Vec::new();
        for &id in fields {
            let f = schema.field(id);
            if is_block(f) {
                blocks.push(id);
                continue;
            }
            let a = &f.annotations;
            if let Some(t) = a.get("template")
                && !TEMPLATES.iter().any(|(name, _)| name == t)
            {
                tracing::warn!(field = %f.name, template = %t, "unknown column template; using defaults");
            }
            let min = number(&f.name, "columns.minwidth", setting(a, "columns.minwidth")).unwrap_or(0);
            let max = number(&f.name, "columns.maxwidth", setting(a, "columns.maxwidth")).filter(|m| *m > 0);
            let width = number(&f.name, "columns.width", setting(a, "columns.width"))
                .filter(|w| *w > 0)
                .unwrap_or_else(|| max.map_or(DEFAULT_WIDTH, |m| m.min(DEFAULT_WIDTH)))
                .max(min)
                .max(1);
            let align = match setting(a, "columns.alignment").map(str::trim) {
                None | Some("left") => Align::Left,
                Some("right") => Align::Right,
                Some(other) => {
                    tracing::warn!(field = %f.name, alignment = other, "unknown column alignment; using left");
                    Align::Left
                }
            };
            let ellipsis = match setting(a, "columns.ellipsis").map(str::trim) {
                None | Some("end") => Ellipsis::End,
                Some("start") => Ellipsis::Start,
                Some("middle") => Ellipsis::Middle,
                Some("none") => Ellipsis::None,
                Some(other) => {
                    tracing::warn!(field = %f.name, ellipsis = other, "unknown column ellipsis; using end");
                    Ellipsis::End
                }
            };
            columns.push(Column {
                field: id,
                width,
                align,
                ellipsis,
                text: (f.kind == FieldKind::Str).then_some(matches!(f.storage, Storage::Inline { .. })),
            });
        }
        let names: Vec<&str> = columns.iter().map(|c| schema.field(c.field).name.as_str()).collect();
        let mut header = Vec::new();
        for (i, (col, name)) in columns.iter().zip(header_names(&names)).enumerate() {
            if i > 0 {
                header.push(b' ');
            }
            push_cell(&mut header, &name, col, i + 1 == columns.len());
        }
        header.push(b'\n');
        Self {
            columns,
            blocks,
            header,
        }
    }

    /// The header line, newline included.
    pub(super) fn header(&self) -> &[u8] {
        &self.header
    }

    /// Appends one row, newline included. `scratch` holds rendered numbers and bytes.
    pub(super) fn write_row(&self, batch: &Batch, row: usize, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        let last = self.columns.len().saturating_sub(1);
        for (i, col) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            let text = match col.text {
                Some(inline) => text_str(batch.bytes(row, col.field), inline, scratch),
                None => cell_text(batch.value(row, col.field), scratch),
            };
            push_cell(out, text, col, i == last);
        }
        out.push(b'\n');
        for &id in &self.blocks {
            let text = text_str(batch.bytes(row, id), false, scratch);
            if !text.is_empty() {
                out.extend_from_slice(batch.schema().field(id).name.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
}

/// A value as column text; numbers and bytes are rendered into `scratch`.
fn cell_text<'a>(value: Value<'a>, scratch: &'a mut Vec<u8>) -> &'a str {
    scratch.clear();
    match value {
        Value::Str(s) => return s,
        Value::Bool(b) => return if b { "true" } else { "false" },
        Value::U64(n) => push_u64(scratch, n),
        Value::I64(n) => push_i64(scratch, n),
        // Go's %v shape for the common range; exponent form beyond it.
        Value::F64(x) if x.is_finite() && (x == 0.0 || (1e-5..1e16).contains(&x.abs())) => {
            let _ = std::io::Write::write_fmt(scratch, format_args!("{x}"));
        }
        Value::F64(x) if x.is_nan() => return "NaN",
        Value::F64(x) if x.is_infinite() => return if x > 0.0 { "+Inf" } else { "-Inf" },
        Value::F64(x) => push_f64(scratch, x),
        Value::Bytes(b) => push_hex(scratch, b),
    }
    // Digits, signs, dots and hex are ASCII.
    std::str::from_utf8(scratch).unwrap_or_default()
}

/// Byte index of the `k`-th character of `s` (`s.len()` past the end).
fn char_index(s: &str, ascii: bool, k: usize) -> usize {
    if ascii {
        k.min(s.len())
    } else {
        s.char_indices().nth(k).map_or(s.len(), |(i, _)| i)
    }
}

fn pad(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, b' ');
}

/// Appends `text` fitted to the column: cut with an ellipsis when too long, padded when short
/// (no trailing padding on the last column).
fn push_cell(out: &mut Vec<u8>, text: &str, col: &Column, last: bool) {
    let Scan { ascii, controls } = scan(text);
    let len = if ascii { text.len() } else { text.chars().count() };
    let w = col.width;
    if len <= w {
        match col.align {
            Align::Right => {
                pad(out, w - len);
                push_sanitized(out, text, controls);
            }
            Align::Left => {
                push_sanitized(out, text, controls);
                if !last {
                    pad(out, w - len);
                }
            }
        }
        return;
    }
    const MARK: &str = "…";
    match col.ellipsis {
        Ellipsis::End => {
            push_sanitized(out, &text[..char_index(text, ascii, w - 1)], controls);
            out.extend_from_slice(MARK.as_bytes());
        }
        Ellipsis::Start => {
            out.extend_from_slice(MARK.as_bytes());
            push_sanitized(out, &text[char_index(text, ascii, len - (w - 1))..], controls);
        }
        Ellipsis::Middle => {
            let keep = w - 1;
            let head = keep - keep / 2;
            push_sanitized(out, &text[..char_index(text, ascii, head)], controls);
            out.extend_from_slice(MARK.as_bytes());
            push_sanitized(out, &text[char_index(text, ascii, len - keep / 2)..], controls);
        }
        Ellipsis::None => push_sanitized(out, &text[..char_index(text, ascii, w)], controls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str, width: usize, align: Align, ellipsis: Ellipsis, last: bool) -> String {
        let col = Column {
            field: FieldId(0),
            width,
            align,
            ellipsis,
            text: None,
        };
        let mut out = Vec::new();
        push_cell(&mut out, text, &col, last);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cells_pad_align_and_cut() {
        assert_eq!(cell("ab", 5, Align::Left, Ellipsis::End, false), "ab   ");
        assert_eq!(cell("ab", 5, Align::Left, Ellipsis::End, true), "ab");
        assert_eq!(cell("ab", 5, Align::Right, Ellipsis::End, true), "   ab");
        assert_eq!(cell("abcdefgh", 5, Align::Left, Ellipsis::End, false), "abcd…");
        assert_eq!(cell("abcdefgh", 5, Align::Right, Ellipsis::Start, false), "…efgh");
        assert_eq!(cell("abcdefgh", 5, Align::Left, Ellipsis::Middle, false), "ab…gh");
        assert_eq!(cell("abcdefgh", 6, Align::Left, Ellipsis::Middle, false), "abc…gh");
        assert_eq!(cell("abcdefgh", 5, Align::Left, Ellipsis::None, false), "abcde");
        assert_eq!(cell("abcdefgh", 1, Align::Left, Ellipsis::End, false), "…");
        assert_eq!(cell("ééééé", 4, Align::Left, Ellipsis::End, false), "ééé…");
        assert_eq!(cell("é", 3, Align::Right, Ellipsis::End, false), "  é");
    }

    #[test]
    fn colliding_headers_use_full_names() {
        let h = header_names(&["proc.pid", "proc.parent.pid", "proc.comm", "fname"]);
        assert_eq!(h, ["PROC.PID", "PROC.PARENT.PID", "COMM", "FNAME"]);
    }

    #[test]
    fn settings_prefer_annotations_over_templates() {
        let mut a = BTreeMap::new();
        a.insert("template".to_owned(), "pid".to_owned());
        assert_eq!(setting(&a, "columns.alignment"), Some("right"));
        assert_eq!(setting(&a, "columns.minwidth"), Some("7"));
        a.insert("columns.alignment".to_owned(), "left".to_owned());
        assert_eq!(setting(&a, "columns.alignment"), Some("left"));
        assert_eq!(setting(&a, "columns.width"), None);
    }

    #[test]
    fn numbers_render_like_ig() {
        let mut s = Vec::new();
        assert_eq!(cell_text(Value::F64(1.5), &mut s), "1.5");
        assert_eq!(cell_text(Value::F64(f64::NAN), &mut s), "NaN");
        assert_eq!(cell_text(Value::F64(1e300), &mut s), "1e300");
        assert_eq!(cell_text(Value::I64(-4), &mut s), "-4");
        assert_eq!(cell_text(Value::Bytes(&[1, 255]), &mut s), "01ff");
    }
}
