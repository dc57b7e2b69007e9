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

use rig_operator_sdk::{BatchView, Config, FieldKind, Operator, Output, OwnedBatch, Schema, export_operator, host};

/// The replacement value.
pub const REDACTED: &[u8] = b"[redacted]";

/// The operator: what every row's redacted fields become, computed once at `init`.
///
/// It projects (`Schema::project`): nothing is read, only the named fields are written, so a
/// call moves the written columns out of the guest and nothing else.
#[derive(Debug)]
pub struct Redact {
    /// One row of the projection's `writes`: the redacted value of every field.
    row: Vec<u8>,
    /// Some field lives in the heap (its slot points at one `[redacted]` in the answer's heap).
    heap: bool,
    fields: u64,
}

impl Operator for Redact {
    fn init(config: &Config, input: &Schema) -> Result<Self, String> {
        let list = config.get("fields").ok_or("redact: missing config key \"fields\"")?;
        let mut names = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let f = input
                .field(name)
                .ok_or_else(|| format!("redact: no field \"{name}\" in datasource {}", input.datasource))?;
            if f.kind != FieldKind::Text {
                return Err(format!("redact: field \"{name}\" is {}, not text", f.kind));
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.is_empty() {
            return Err("redact: config key \"fields\" names no field".into());
        }
        let writes = input.project(&[], &names)?.writes;
        host::debug(&format!("redact: redacting {}", names.join(", ")));
        Ok(Self {
            row: redacted_row(&writes),
            heap: writes.heap_slots().next().is_some(),
            fields: names.len() as u64,
        })
    }

    fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String> {
        let count = batch.len();
        host::counter_add("redacted", count as u64 * self.fields);
        Ok(Output::Rows(OwnedBatch {
            rows: self.row.repeat(count),
            heap: if self.heap && count > 0 { REDACTED.to_vec() } else { Vec::new() },
            count: count as u32,
        }))
    }
}

/// One row of `writes` with every field redacted: inline text gets `[redacted]` truncated to its
/// size and NUL-padded; a heap slot points at `[redacted]` at the start of the answer's heap.
pub fn redacted_row(writes: &Schema) -> Vec<u8> {
    let mut row = vec![0u8; writes.row_size as usize];
    for f in &writes.fields {
        let at = f.offset as usize;
        let dst = &mut row[at..at + f.size as usize];
        if f.heap {
            dst[4..].copy_from_slice(&(REDACTED.len() as u32).to_le_bytes());
        } else {
            let n = REDACTED.len().min(dst.len());
            dst[..n].copy_from_slice(&REDACTED[..n]);
        }
    }
    row
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
        let out = r.apply(&rows, b"abc", 2).unwrap();
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
        let out = r.apply(&[], b"", 0).unwrap();
        assert!(out.rows.is_empty() && out.heap.is_empty());
        // Only the written columns cross: nothing is read.
        assert_eq!(r.projection().unwrap().reads.row_size, 0);
    }
}
