//! The `-o json`, `-o jsonpretty` and `-o yaml` writers: one nested object per event.
//!
//! Dotted field names nest (`proc.comm` → `{"proc":{"comm":…}}`); the fields of one group are
//! emitted together at the position of the group's first member. Since every event has every
//! field, all the punctuation, keys and indentation between two values is the same for every
//! event: [`Plan::new`] renders it once into a list of [`Step`]s (static bytes, then one field's
//! value) and a suffix, and an event is written by copying those bytes around its values — no
//! per-event tree walk, no allocation.
//!
//! When a field's name is also the prefix of other fields (`src` and `src.port`), the group wins
//! and the field itself is left out of these formats, as IG does; it still shows in columns.
//!
//! Text fields are written from their raw bytes, losslessly: text that is not UTF-8 keeps every
//! byte, each invalid one as the four characters `\xNN` (`"dir/\\xff\\xfeNAME"` in JSON).

use rig_kernel::{Batch, FieldId, FieldKind, Schema, Storage, Value};

use super::text::{
    push_f64, push_i64, push_json_str, push_json_text, push_u64, push_yaml_f64, push_yaml_str, text_str,
};

/// Which structured format a plan writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// One compact object per line.
    Json,
    /// Objects indented by two spaces.
    JsonPretty,
    /// One `---` document per event.
    Yaml,
}

/// The nesting of the selected fields.
#[derive(Debug)]
enum Node {
    Leaf { key: String, field: FieldId },
    Group { key: String, children: Vec<Node> },
}

impl Node {
    fn key(&self) -> &str {
        match self {
            Node::Leaf { key, .. } | Node::Group { key, .. } => key,
        }
    }
}

/// Static bytes, then the value of one field.
#[derive(Debug, Clone)]
struct Step {
    prefix: Vec<u8>,
    field: FieldId,
    /// For a text field: `Some(inline)`, so its raw bytes are rendered (losslessly, invalid UTF-8
    /// as `\xNN`) instead of a `Value`'s UTF-8 prefix.
    text: Option<bool>,
    /// For a histogram companion: its slots field, slot size and unit, written as IG's
    /// `{"unit", "intervals"}` object (valid YAML flow too).
    histogram: Option<(FieldId, usize, String)>,
}

/// The per-event output precomputed for a field selection.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    style: Style,
    steps: Vec<Step>,
    suffix: Vec<u8>,
}

fn insert(nodes: &mut Vec<Node>, path: &[&str], field: FieldId, full: &str) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    let pos = nodes.iter().position(|n| n.key() == *head);
    if rest.is_empty() {
        match pos {
            None => nodes.push(Node::Leaf {
                key: (*head).to_owned(),
                field,
            }),
            Some(_) => tracing::debug!(field = full, "field shadowed by a group of the same name; left out"),
        }
        return;
    }
    let i = match pos {
        Some(i) => {
            if let Node::Leaf { field: shadowed, .. } = nodes[i] {
                tracing::debug!(
                    ?shadowed,
                    group = *head,
                    "field shadowed by a group of the same name; left out"
                );
                nodes[i] = Node::Group {
                    key: (*head).to_owned(),
                    children: Vec::new(),
                };
            }
            i
        }
        None => {
            nodes.push(Node::Group {
                key: (*head).to_owned(),
                children: Vec::new(),
            });
            nodes.len() - 1
        }
    };
    if let Node::Group { children, .. } = &mut nodes[i] {
        insert(children, rest, field, full);
    }
}

fn indent(out: &mut Vec<u8>, depth: usize) {
    out.resize(out.len() + 2 * depth, b' ');
}

struct Emitter {
    style: Style,
    pending: Vec<u8>,
    steps: Vec<Step>,
}

impl Emitter {
    fn value(&mut self, field: FieldId) {
        self.steps.push(Step {
            prefix: std::mem::take(&mut self.pending),
            field,
            text: None,
            histogram: None,
        });
    }

    fn object(&mut self, nodes: &[Node], depth: usize) {
        match self.style {
            Style::Json | Style::JsonPretty => {
                let pretty = self.style == Style::JsonPretty;
                self.pending.push(b'{');
                for (i, node) in nodes.iter().enumerate() {
                    if i > 0 {
                        self.pending.push(b',');
                    }
                    if pretty {
                        self.pending.push(b'\n');
                        indent(&mut self.pending, depth + 1);
                    }
                    push_json_str(&mut self.pending, node.key());
                    self.pending.extend_from_slice(if pretty { b": " } else { b":" });
                    match node {
                        Node::Leaf { field, .. } => self.value(*field),
                        Node::Group { children, .. } => self.object(children, depth + 1),
                    }
                }
                if pretty && !nodes.is_empty() {
                    self.pending.push(b'\n');
                    indent(&mut self.pending, depth);
                }
                self.pending.push(b'}');
            }
            Style::Yaml => {
                for node in nodes {
                    indent(&mut self.pending, depth);
                    push_yaml_str(&mut self.pending, node.key());
                    self.pending.push(b':');
                    match node {
                        Node::Leaf { field, .. } => {
                            self.pending.push(b' ');
                            self.value(*field);
                            self.pending.push(b'\n');
                        }
                        Node::Group { children, .. } => {
                            self.pending.push(b'\n');
                            self.object(children, depth + 1);
                        }
                    }
                }
            }
        }
    }
}

impl Plan {
    /// Nests `fields` by their dotted names and renders everything between their values.
    pub(super) fn new(schema: &Schema, fields: &[FieldId], style: Style) -> Self {
        let mut root = Vec::new();
        for &id in fields {
            let name = schema.field(id).name.as_str();
            let path: Vec<&str> = name.split('.').collect();
            insert(&mut root, &path, id, name);
        }
        let mut e = Emitter {
            style,
            pending: Vec::new(),
            steps: Vec::new(),
        };
        if style == Style::Yaml {
            e.pending.extend_from_slice(b"---\n");
            if root.is_empty() {
                e.pending.extend_from_slice(b"{}\n");
            }
        }
        e.object(&root, 0);
        for step in &mut e.steps {
            let f = schema.field(step.field);
            if f.kind == FieldKind::Str {
                step.text = Some(matches!(f.storage, Storage::Inline { .. }));
            }
            step.histogram = f.derived.as_ref().and_then(|d| match &d.special {
                rig_kernel::Special::Other(t) => rig_kernel::format::histogram::slot_size(t).map(|slot| {
                    (
                        d.source,
                        slot,
                        f.annotation("metrics.unit").unwrap_or_default().to_owned(),
                    )
                }),
                _ => None,
            });
        }
        if style != Style::Yaml {
            e.pending.push(b'\n');
        }
        Self {
            style,
            steps: e.steps,
            suffix: e.pending,
        }
    }

    /// Appends one event.
    pub(super) fn write_row(&self, batch: &Batch, row: usize, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        for step in &self.steps {
            out.extend_from_slice(&step.prefix);
            if let Some((slots, slot, unit)) = &step.histogram {
                rig_kernel::format::histogram::write_json(batch.bytes(row, *slots), *slot, unit, out);
                continue;
            }
            if let Some(inline) = step.text {
                let cell = batch.bytes(row, step.field);
                match self.style {
                    // The hot path of `-o json`: NUL search, escape check and copy in one pass.
                    Style::Json | Style::JsonPretty => push_json_text(out, cell, inline),
                    Style::Yaml => push_yaml_str(out, text_str(cell, inline, scratch)),
                }
                continue;
            }
            let value = batch.value(row, step.field);
            match self.style {
                Style::Json | Style::JsonPretty => push_json_value(out, value),
                Style::Yaml => push_yaml_value(out, value, scratch),
            }
        }
        out.extend_from_slice(&self.suffix);
    }
}

fn push_json_value(out: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::U64(n) => push_u64(out, n),
        Value::I64(n) => push_i64(out, n),
        Value::F64(x) if x.is_finite() => push_f64(out, x),
        Value::F64(_) => out.extend_from_slice(b"null"),
        Value::Str(s) => push_json_str(out, s),
        Value::Bytes(b) => {
            // Base64, as Go's encoding/json (and so IG) writes []byte, and as the export operator.
            out.push(b'"');
            out.extend(rig_kernel::batch::base64_chunks(b).flatten());
            out.push(b'"');
        }
    }
}

fn push_yaml_value(out: &mut Vec<u8>, value: Value<'_>, scratch: &mut Vec<u8>) {
    match value {
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::U64(n) => push_u64(out, n),
        Value::I64(n) => push_i64(out, n),
        Value::F64(x) if x.is_nan() => out.extend_from_slice(b".nan"),
        Value::F64(x) if x.is_infinite() => out.extend_from_slice(if x > 0.0 { b".inf" } else { b"-.inf" }),
        Value::F64(x) => push_yaml_f64(out, x),
        Value::Str(s) => push_yaml_str(out, s),
        Value::Bytes(b) => {
            scratch.clear();
            scratch.extend(rig_kernel::batch::base64_chunks(b).flatten());
            // Base64 digits are ASCII.
            push_yaml_str(out, std::str::from_utf8(scratch).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(names: &[&str]) -> Vec<Node> {
        let mut root = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let path: Vec<&str> = n.split('.').collect();
            insert(&mut root, &path, FieldId(i as u32), n);
        }
        root
    }

    fn shape(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| match n {
                Node::Leaf { key, .. } => key.clone(),
                Node::Group { key, children } => format!("{key}({})", shape(children)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn groups_sit_at_their_first_member() {
        let t = tree(&["proc.comm", "fname", "proc.creds.uid", "proc.pid", "ret"]);
        assert_eq!(shape(&t), "proc(comm,creds(uid),pid),fname,ret");
    }

    #[test]
    fn groups_shadow_fields_of_the_same_name() {
        assert_eq!(
            shape(&tree(&["src", "src.port", "dst.port", "dst"])),
            "src(port),dst(port)"
        );
    }

    #[test]
    /// Bytes are base64 in JSON and YAML, as in Go's encoding/json and the export operator.
    fn floats_and_bytes() {
        let mut out = Vec::new();
        for v in [Value::F64(f64::NAN), Value::F64(2.5), Value::Bytes(&[0xde, 0xad])] {
            push_json_value(&mut out, v);
            out.push(b' ');
        }
        let mut scratch = Vec::new();
        for v in [
            Value::F64(f64::NEG_INFINITY),
            Value::F64(1e20),
            Value::Bytes(&[0x12]),
            Value::Bytes(&[0xab]),
        ] {
            push_yaml_value(&mut out, v, &mut scratch);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "null 2.5 \"3q0=\" -.inf 1.0e+20 Eg== qw== "
        );
    }
}
