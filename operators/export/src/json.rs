//! JSON for rows: the nesting of dotted names, decided once, and a small allocation-free writer.
//!
//! A schema's visible fields become a tree by their dotted names (`proc.comm`, `proc.pid` →
//! `{"proc":{"comm":…,"pid":…}}`), in the order fields first appear. The tree is built at `init`;
//! writing a row walks it and appends to one reusable buffer, so the per-row cost is the bytes
//! written. No serde: the value set is small (numbers, booleans, text, bytes) and fixed.
//!
//! Encoding: integers as JSON numbers (exact, even past 2^53), finite floats with Rust's
//! shortest round-trip form, NaN and infinities as `null`, text escaped per RFC 8259, bytes as
//! standard base64 strings. A name that is both a value and a group (`a` and `a.b`) keeps the
//! value under the key `_` inside the group.

use rig_operator_sdk::{BatchView, FieldRef, Schema, Value};

/// A key of a JSON object: a field's value or a nested object.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A field.
    Leaf(FieldRef),
    /// A nested object.
    Group(Vec<(String, Node)>),
}

/// Builds the object tree of a schema's visible fields.
pub fn layout(schema: &Schema) -> Vec<(String, Node)> {
    let mut root: Vec<(String, Node)> = Vec::new();
    for (i, f) in schema.fields.iter().enumerate() {
        if f.hidden {
            continue;
        }
        insert(&mut root, &f.name, schema.field_ref(i));
    }
    root
}

fn insert(level: &mut Vec<(String, Node)>, name: &str, f: FieldRef) {
    match name.split_once('.') {
        None => match level.iter_mut().find(|(k, _)| k == name) {
            // `a.b` came first: the value of `a` goes inside its group.
            Some((_, Node::Group(children))) => children.insert(0, ("_".to_owned(), Node::Leaf(f))),
            _ => level.push((name.to_owned(), Node::Leaf(f))),
        },
        Some((head, rest)) => {
            let pos = match level.iter().position(|(k, _)| k == head) {
                Some(p) => p,
                None => {
                    level.push((head.to_owned(), Node::Group(Vec::new())));
                    level.len() - 1
                }
            };
            if let (_, Node::Leaf(leaf)) = &level[pos] {
                // `a` came first: turn it into a group holding its value under `_`.
                let leaf = *leaf;
                level[pos].1 = Node::Group(vec![("_".to_owned(), Node::Leaf(leaf))]);
            }
            if let (_, Node::Group(children)) = &mut level[pos] {
                insert(children, rest, f);
            }
        }
    }
}

/// Appends `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&b[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Appends `b` as standard base64 (with padding), without quotes: the encoding of
/// `rig_layout::base64_chunks`, shared with the host's JSON sink (and Go's `encoding/json`).
pub fn base64(out: &mut Vec<u8>, b: &[u8]) {
    out.extend(rig_operator_sdk::base64_chunks(b).flatten());
}

/// Appends a number with `Display` (no allocation: formats straight into the buffer).
pub fn display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{v}");
}

/// Appends one value as plain JSON.
pub fn value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::U64(n) => display(out, n),
        Value::I64(n) => display(out, n),
        Value::F64(f) if f.is_finite() => display(out, f),
        Value::F64(_) => out.extend_from_slice(b"null"),
        Value::Str(s) => string(out, s),
        Value::Bytes(b) => {
            out.push(b'"');
            base64(out, b);
            out.push(b'"');
        }
    }
}

/// Appends row `row` as one JSON object (no newline).
pub fn row(out: &mut Vec<u8>, nodes: &[(String, Node)], b: &BatchView<'_>, row: usize) {
    out.push(b'{');
    for (i, (k, n)) in nodes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, k);
        out.push(b':');
        match n {
            Node::Leaf(f) => value(out, b.get(row, f)),
            Node::Group(children) => self::row(out, children, b, row),
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_operator_sdk::{Field, FieldKind, RowsBuilder};

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(s(|o| string(o, "plain")), r#""plain""#);
        assert_eq!(
            s(|o| string(o, "a\"b\\c\nd\te\r\u{1}\u{1f}é")),
            r#""a\"b\\c\nd\te\r\u0001\u001fé""#
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(s(|o| base64(o, b"")), "");
        assert_eq!(s(|o| base64(o, b"f")), "Zg==");
        assert_eq!(s(|o| base64(o, b"fo")), "Zm8=");
        assert_eq!(s(|o| base64(o, b"foo")), "Zm9v");
        assert_eq!(s(|o| base64(o, &[0xff, 0, 0xfe, 1])), "/wD+AQ==");
    }

    #[test]
    fn values_encode_by_kind() {
        assert_eq!(s(|o| value(o, Value::U64(u64::MAX))), "18446744073709551615");
        assert_eq!(s(|o| value(o, Value::I64(-3))), "-3");
        assert_eq!(s(|o| value(o, Value::F64(0.1))), "0.1");
        assert_eq!(s(|o| value(o, Value::F64(2.0))), "2");
        assert_eq!(s(|o| value(o, Value::F64(f64::NAN))), "null");
        assert_eq!(s(|o| value(o, Value::Bool(true))), "true");
        assert_eq!(s(|o| value(o, Value::Bytes(b"hi"))), r#""aGk=""#);
    }

    #[test]
    fn rows_nest_by_dotted_names_and_skip_hidden_fields() {
        let mut hidden = Field::inline("timestamp_raw", FieldKind::U64, 0, 8);
        hidden.hidden = true;
        let schema = Schema::new(
            "open",
            vec![
                hidden,
                Field::inline("proc.pid", FieldKind::U32, 8, 4),
                Field::inline("x", FieldKind::Bool, 12, 1),
                Field::inline("proc.comm", FieldKind::Text, 16, 8),
                Field::inline("proc.creds.uid", FieldKind::U32, 24, 4),
                Field::heap("fname", FieldKind::Text, 32),
            ],
            40,
        )
        .unwrap();
        let f = |n| schema.resolve(n).unwrap();
        let mut b = RowsBuilder::new(&schema);
        let r = b.push_zeroed();
        b.set_u64(r, &f("proc.pid"), 7).unwrap();
        b.set_str(r, &f("proc.comm"), "cat").unwrap();
        b.set_u64(r, &f("proc.creds.uid"), 1000).unwrap();
        b.set_str(r, &f("fname"), "/etc/\"x\"").unwrap();
        let out = b.finish();
        let v = out.view(&schema).unwrap();
        assert_eq!(
            s(|o| row(o, &layout(&schema), &v, 0)),
            r#"{"proc":{"pid":7,"comm":"cat","creds":{"uid":1000}},"x":false,"fname":"/etc/\"x\""}"#
        );
    }

    #[test]
    fn a_value_and_a_group_of_the_same_name_share_the_key() {
        let schema = Schema::new(
            "d",
            vec![
                Field::inline("a", FieldKind::U8, 0, 1),
                Field::inline("a.b", FieldKind::U8, 1, 1),
                Field::inline("c.d", FieldKind::U8, 2, 1),
                Field::inline("c", FieldKind::U8, 3, 1),
            ],
            8,
        )
        .unwrap();
        let v = rig_operator_sdk::BatchView::new(&schema, &[1, 2, 3, 4, 0, 0, 0, 0], &[], 1).unwrap();
        assert_eq!(
            s(|o| row(o, &layout(&schema), &v, 0)),
            r#"{"a":{"_":1,"b":2},"c":{"_":4,"d":3}}"#
        );
    }
}
