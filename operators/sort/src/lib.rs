//! `builtin/sort`: holds rows and emits them sorted when the host flushes.
//!
//! Sorting needs every row of a window, so `process` copies each batch into the operator's own
//! buffer (rows plus a rebuilt heap) and answers `keep([])`; `flush` — called by the host at the
//! end of a run, per interval on streams, per snapshot for array datasources — returns the held
//! rows in order as `rows(batch)` with a fresh, compact heap, and empties the buffer.
//!
//! Config:
//! - `by` (required): comma-separated field names, IG `--sort` style; a `-` prefix sorts that
//!   key descending (`-timestamp,proc.pid`), `+` or nothing ascending. Ties keep arrival order.
//! - `max-rows` (default 100000): the most rows one flush returns. Beyond it the oldest rows are
//!   dropped and counted in the counter `dropped`. The buffer is trimmed back to `max-rows` each
//!   time it reaches twice that, so memory stays bounded and trimming costs O(1) per row.
//!
//! Numbers sort numerically (NaN after every other float), text and bytes bytewise, false
//! before true.

use std::cmp::Ordering;

use rig_operator_sdk::{
    BatchView, Config, FieldKind, FieldRef, Operator, Output, OwnedBatch, RowsBuilder, Schema, Value, export_operator,
    host,
};

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The field compared.
    pub field: FieldRef,
    /// True for a `-` prefix.
    pub descending: bool,
}

/// Parses `by` into keys resolved against the schema.
pub fn parse_keys(by: &str, schema: &Schema) -> Result<Vec<Key>, String> {
    let mut keys = Vec::new();
    for part in by.split(',') {
        let part = part.trim();
        let (descending, name) = match part.strip_prefix('-') {
            Some(n) => (true, n.trim()),
            None => (false, part.strip_prefix('+').unwrap_or(part).trim()),
        };
        if name.is_empty() {
            return Err(format!("sort: empty key in {by:?}"));
        }
        let field = schema.resolve(name).map_err(|e| format!("sort: {e}"))?;
        keys.push(Key { field, descending });
    }
    Ok(keys)
}

fn cmp_values(a: Value<'_>, b: Value<'_>) -> Ordering {
    match (a, b) {
        (Value::U64(x), Value::U64(y)) => x.cmp(&y),
        (Value::I64(x), Value::I64(y)) => x.cmp(&y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(&y),
        (Value::F64(x), Value::F64(y)) => match (x.is_nan(), y.is_nan()) {
            (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (nx, ny) => nx.cmp(&ny),
        },
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        // One field always decodes to one variant; mixed pairs cannot happen.
        _ => Ordering::Equal,
    }
}

/// Compares two rows (possibly of different views of the same schema) by `keys`.
pub fn cmp_rows(keys: &[Key], a: &BatchView<'_>, ra: usize, b: &BatchView<'_>, rb: usize) -> Ordering {
    for k in keys {
        let o = match k.field.kind {
            // Text compares on raw bytes: same order as UTF-8 text, and no validation per compare.
            FieldKind::Text | FieldKind::Bytes => a.text_bytes(ra, &k.field).cmp(b.text_bytes(rb, &k.field)),
            _ => cmp_values(a.get(ra, &k.field), b.get(rb, &k.field)),
        };
        let o = if k.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The sort operator.
#[derive(Debug)]
pub struct Sort {
    schema: Schema,
    keys: Vec<Key>,
    max_rows: usize,
    held: RowsBuilder,
}

impl Sort {
    /// Rows currently held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Keeps only the newest `max_rows` rows; returns how many were dropped.
    fn trim(&mut self) -> Result<u64, String> {
        let n = self.held.len();
        if n <= self.max_rows {
            return Ok(0);
        }
        let drop = n - self.max_rows;
        let mut kept = RowsBuilder::with_capacity(&self.schema, self.max_rows, 0);
        {
            let view = self.held.view(&self.schema)?;
            for r in drop..n {
                kept.push_copy(&view, r);
            }
        }
        self.held = kept;
        Ok(drop as u64)
    }
}

impl Operator for Sort {
    fn init(config: &Config, input: &Schema) -> Result<Self, String> {
        // Shown by --stats from the start, at 0 until something is dropped.
        host::counter_add("dropped", 0);
        config.allow_only(&["by", "max-rows"])?;
        let keys = parse_keys(config.require("by").map_err(|e| format!("sort: {e}"))?, input)?;
        let max_rows: usize = config.parse_or("max-rows", 100_000).map_err(|e| format!("sort: {e}"))?;
        if max_rows == 0 {
            return Err("sort: config key \"max-rows\" must be at least 1".into());
        }
        Ok(Self {
            schema: input.clone(),
            keys,
            max_rows,
            held: RowsBuilder::new(input),
        })
    }

    fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String> {
        for r in 0..batch.len() {
            self.held.push_copy(batch, r);
        }
        if self.held.len() >= self.max_rows.saturating_mul(2) {
            let dropped = self.trim()?;
            host::counter_add("dropped", dropped);
        }
        Ok(Output::keep_none())
    }

    fn flush(&mut self) -> Result<Option<OwnedBatch>, String> {
        let dropped = self.trim()?;
        if dropped > 0 {
            host::counter_add("dropped", dropped);
        }
        if self.held.is_empty() {
            return Ok(None);
        }
        let held = self.held.take();
        let view = held.view(&self.schema)?;
        let mut order: Vec<u32> = (0..view.len() as u32).collect();
        order.sort_by(|&a, &b| cmp_rows(&self.keys, &view, a as usize, &view, b as usize));
        let mut out = RowsBuilder::with_capacity(&self.schema, view.len(), held.heap.len());
        for &r in &order {
            out.push_copy(&view, r as usize);
        }
        Ok(Some(out.finish()))
    }
}

export_operator!(Sort);

#[cfg(test)]
mod tests {
    use super::*;
    use rig_operator_sdk::{Field, Runner, host::native};

    fn schema() -> Schema {
        Schema::new(
            "top",
            vec![
                Field::inline("pid", FieldKind::U32, 0, 4),
                Field::inline("delta", FieldKind::S32, 4, 4),
                Field::inline("cpu", FieldKind::F64, 8, 8),
                Field::inline("comm", FieldKind::Text, 16, 8),
                Field::heap("path", FieldKind::Text, 24),
            ],
            32,
        )
        .unwrap()
    }

    fn batch(rows: &[(u32, i32, f64, &str, &str)]) -> OwnedBatch {
        let s = schema();
        let f = |n| s.resolve(n).unwrap();
        let mut b = RowsBuilder::new(&s);
        for &(pid, delta, cpu, comm, path) in rows {
            let r = b.push_zeroed();
            b.set_u64(r, &f("pid"), u64::from(pid)).unwrap();
            b.set_i64(r, &f("delta"), i64::from(delta)).unwrap();
            b.set_f64(r, &f("cpu"), cpu).unwrap();
            b.set_str(r, &f("comm"), comm).unwrap();
            b.set_str(r, &f("path"), path).unwrap();
        }
        b.finish()
    }

    fn runner(cfg: &[(&str, &str)]) -> Result<Runner<Sort>, String> {
        let cfg: Vec<(String, String)> = cfg.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Runner::<Sort>::init(&cfg, schema())
    }

    /// Feeds the batches, flushes, and returns the `(pid, path)` of each emitted row.
    fn sorted(by: &str, batches: &[OwnedBatch]) -> Vec<(u64, String)> {
        let mut r = runner(&[("by", by)]).unwrap();
        for b in batches {
            assert_eq!(r.process(&b.rows, &b.heap, b.count).unwrap(), Output::Keep(vec![]));
        }
        let out = r.flush().unwrap().unwrap();
        let s = schema();
        let v = out.view(&s).unwrap();
        let (pid, path) = (s.resolve("pid").unwrap(), s.resolve("path").unwrap());
        (0..v.len())
            .map(|i| (v.get_u64(i, &pid).unwrap(), v.get_str(i, &path).unwrap().to_owned()))
            .collect()
    }

    fn pids(v: Vec<(u64, String)>) -> Vec<u64> {
        v.into_iter().map(|(p, _)| p).collect()
    }

    fn sample() -> Vec<OwnedBatch> {
        vec![
            batch(&[(30, -1, 0.5, "b", "/30"), (10, 5, 2.0, "a", "/10")]),
            batch(&[(20, -1, f64::NAN, "c", "/20"), (40, 0, 1.0, "a", "/40")]),
        ]
    }

    #[test]
    fn sorts_across_batches_with_heap_values_intact() {
        assert_eq!(
            sorted("pid", &sample()),
            vec![
                (10, "/10".into()),
                (20, "/20".into()),
                (30, "/30".into()),
                (40, "/40".into())
            ]
        );
        assert_eq!(pids(sorted("-pid", &sample())), [40, 30, 20, 10]);
        assert_eq!(pids(sorted("+pid", &sample())), [10, 20, 30, 40]);
    }

    #[test]
    fn multiple_keys_directions_and_stable_ties() {
        assert_eq!(pids(sorted("comm,-pid", &sample())), [40, 10, 30, 20]);
        assert_eq!(
            pids(sorted("delta", &sample())),
            [30, 20, 40, 10],
            "signed, ties in arrival order"
        );
        assert_eq!(pids(sorted("-delta, pid", &sample())), [10, 40, 20, 30]);
        assert_eq!(pids(sorted("path", &sample())), [10, 20, 30, 40], "heap text");
    }

    #[test]
    fn floats_put_nan_last() {
        assert_eq!(pids(sorted("cpu", &sample())), [30, 40, 10, 20]);
        assert_eq!(pids(sorted("-cpu", &sample())), [20, 10, 40, 30]);
    }

    #[test]
    fn flush_empties_the_buffer() {
        let mut r = runner(&[("by", "pid")]).unwrap();
        assert_eq!(r.flush().unwrap(), None);
        let b = batch(&[(2, 0, 0.0, "x", "/2"), (1, 0, 0.0, "x", "/1")]);
        r.process(&b.rows, &b.heap, b.count).unwrap();
        assert_eq!(r.flush().unwrap().unwrap().count, 2);
        assert_eq!(r.flush().unwrap(), None);
        assert_eq!(r.operator().held(), 0);
    }

    #[test]
    fn max_rows_drops_the_oldest_and_counts_them() {
        native::reset();
        let mut r = runner(&[("by", "-pid"), ("max-rows", "3")]).unwrap();
        for pid in 0..10u32 {
            let b = batch(&[(pid, 0, 0.0, "x", &format!("/{pid}"))]);
            r.process(&b.rows, &b.heap, b.count).unwrap();
            assert!(r.operator().held() < 6, "buffer stays below 2 × max-rows");
        }
        let out = r.flush().unwrap().unwrap();
        let s = schema();
        let v = out.view(&s).unwrap();
        let path = s.resolve("path").unwrap();
        let got: Vec<&str> = (0..v.len()).map(|i| v.get_str(i, &path).unwrap()).collect();
        assert_eq!(got, ["/9", "/8", "/7"]);
        assert_eq!(native::counter("dropped"), 7);
        // The emitted heap holds exactly the emitted values.
        assert_eq!(out.heap, b"/9/8/7");
    }

    #[test]
    fn config_errors_name_the_problem() {
        assert_eq!(runner(&[]).unwrap_err(), "sort: missing config key \"by\"");
        let e = runner(&[("by", "-pid,nope")]).unwrap_err();
        assert!(
            e.starts_with("sort: datasource top has no field \"nope\" (fields: pid, delta"),
            "{e}"
        );
        assert!(runner(&[("by", "pid,")]).unwrap_err().contains("empty key"));
        assert!(
            runner(&[("by", "pid"), ("max-rows", "0")])
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            runner(&[("by", "pid"), ("max-rows", "x")])
                .unwrap_err()
                .contains("\"max-rows\"")
        );
        assert!(
            runner(&[("by", "pid"), ("sort", "x")])
                .unwrap_err()
                .contains("unknown config key")
        );
    }
}
