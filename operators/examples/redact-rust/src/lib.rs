//! Example operator: replaces the values of the text fields named in `fields` with `[redacted]`.
//!
//! Config: `fields` — comma-separated field names (`fname` or `fname,proc.comm`). Every named
//! field must exist and be text. Inline text fields get `[redacted]` truncated to their size and
//! NUL-padded; heap text fields point at one `[redacted]` value appended to the batch heap (the
//! input heap is kept as is). Every other byte of the batch is unchanged.
//!
//! The same operator is written in Python, JavaScript and C next to this folder
//! (`../redact-{python,js,c}`); all four produce byte-identical batches
//! (`host-actors/tests/redact_examples.rs` checks it).
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p rig-op-redact` in `operators/`
//! (or `operators/examples/build.sh`). Test: `cargo test -p rig-op-redact`.

use rig_operator_sdk::{
    BatchView, Config, FieldKind, FieldRef, Operator, Output, OwnedBatch, Schema, export_operator, host,
};

/// The replacement value.
pub const REDACTED: &[u8] = b"[redacted]";

/// The operator: the fields to redact, resolved once at `init`.
#[derive(Debug)]
pub struct Redact {
    fields: Vec<FieldRef>,
    row_size: usize,
}

impl Operator for Redact {
    fn init(config: &Config, input: &Schema) -> Result<Self, String> {
        let list = config.get("fields").ok_or("redact: missing config key \"fields\"")?;
        let mut fields = Vec::new();
        let mut names = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let f = input
                .field(name)
                .ok_or_else(|| format!("redact: no field \"{name}\" in datasource {}", input.datasource))?;
            if f.kind != FieldKind::Text {
                return Err(format!("redact: field \"{name}\" is {}, not text", f.kind));
            }
            fields.push(f);
            names.push(name);
        }
        if fields.is_empty() {
            return Err("redact: config key \"fields\" names no field".into());
        }
        host::debug(&format!("redact: redacting {}", names.join(", ")));
        Ok(Self {
            fields,
            row_size: input.row_size as usize,
        })
    }

    fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String> {
        let mut rows = batch.rows_bytes().to_vec();
        let mut heap = batch.heap_bytes().to_vec();
        let n = redact(&self.fields, self.row_size, &mut rows, &mut heap);
        host::counter_add("redacted", n);
        Ok(Output::Rows(OwnedBatch {
            rows,
            heap,
            count: batch.len() as u32,
        }))
    }
}

/// Redacts every row of `rows` in place; appends one `[redacted]` to `heap` when there is a row
/// and a heap field to point at it. Returns the number of values redacted.
pub fn redact(fields: &[FieldRef], row_size: usize, rows: &mut [u8], heap: &mut Vec<u8>) -> u64 {
    let count = rows.len() / row_size;
    let mut slot = [0u8; 8];
    if count > 0 && fields.iter().any(|f| f.heap) {
        slot[..4].copy_from_slice(&(heap.len() as u32).to_le_bytes());
        slot[4..].copy_from_slice(&(REDACTED.len() as u32).to_le_bytes());
        heap.extend_from_slice(REDACTED);
    }
    for row in rows.chunks_exact_mut(row_size) {
        for f in fields {
            let at = f.offset as usize;
            if f.heap {
                row[at..at + 8].copy_from_slice(&slot);
            } else {
                let dst = &mut row[at..at + f.size as usize];
                let n = REDACTED.len().min(dst.len());
                dst[..n].copy_from_slice(&REDACTED[..n]);
                dst[n..].fill(0);
            }
        }
    }
    (count * fields.len()) as u64
}

export_operator!(Redact);

#[cfg(test)]
mod tests {
    use rig_operator_sdk::{Field, Runner, host::native};

    use super::*;

    fn schema() -> Schema {
        Schema::new(
            "open",
            vec![
                Field::inline("pid", FieldKind::U32, 0, 4),
                Field::inline("comm", FieldKind::Text, 4, 4),
                Field::inline("fname", FieldKind::Text, 8, 16),
                Field::heap("path", FieldKind::Text, 24),
            ],
            32,
        )
        .unwrap()
    }

    fn cfg(v: &str) -> Vec<(String, String)> {
        vec![("fields".into(), v.into())]
    }

    #[test]
    fn init_checks_fields() {
        let err = |c: &[(String, String)]| Runner::<Redact>::init(c, schema()).unwrap_err();
        assert_eq!(err(&[]), "redact: missing config key \"fields\"");
        assert_eq!(err(&cfg("nope")), "redact: no field \"nope\" in datasource open");
        assert_eq!(err(&cfg("pid")), "redact: field \"pid\" is u32, not text");
        assert_eq!(err(&cfg(" ,")), "redact: config key \"fields\" names no field");
        native::reset();
        let r = Runner::<Redact>::init(&cfg(" fname , path ,"), schema()).unwrap();
        assert_eq!(r.output_schema(), &schema());
        assert_eq!(native::take_logs()[0].1, "redact: redacting fname, path");
    }

    #[test]
    fn inline_and_heap_values_are_replaced() {
        native::reset();
        let mut r = Runner::<Redact>::init(&cfg("comm,fname,path"), schema()).unwrap();
        let mut rows = vec![0xAAu8; 64];
        rows[24..32].copy_from_slice(&[0, 0, 0, 0, 3, 0, 0, 0]);
        let Output::Rows(out) = r.process(&rows, b"abc", 2).unwrap() else {
            panic!("expected rows")
        };
        assert_eq!(out.count, 2);
        assert_eq!(out.heap, b"abc[redacted]");
        for row in out.rows.chunks(32) {
            assert_eq!(&row[0..4], &[0xAA; 4]);
            assert_eq!(&row[4..8], b"[red");
            assert_eq!(&row[8..24], b"[redacted]\0\0\0\0\0\0");
            assert_eq!(&row[24..32], &[3, 0, 0, 0, 10, 0, 0, 0]);
        }
        assert_eq!(native::counter("redacted"), 6);
        // An empty batch gets no heap entry.
        let Output::Rows(out) = r.process(&[], b"", 0).unwrap() else {
            panic!("expected rows")
        };
        assert!(out.rows.is_empty() && out.heap.is_empty());
    }
}
