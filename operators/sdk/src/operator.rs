//! The [`Operator`] trait and the [`Runner`] that drives one operator instance.
//!
//! The WIT world has free functions (`init`, `process`, `flush`) and no notion of an instance;
//! an operator author wants a struct with state. [`Runner`] is the bridge: it keeps the
//! operator's input and output schemas next to the operator value, turns raw batches into
//! [`BatchView`]s, and checks every answer (keep indices in range, returned rows sized by the
//! output schema) so that an operator bug becomes an error naming it rather than a batch the
//! host cannot read. It is plain Rust, so operators are unit-tested natively through it:
//!
//! ```
//! use rig_operator_sdk::{BatchView, Config, Operator, Output, Runner, Schema};
//!
//! #[derive(Debug)]
//! struct KeepAll;
//! impl Operator for KeepAll {
//!     fn init(_: &Config, _: &Schema) -> Result<Self, String> { Ok(KeepAll) }
//!     fn process(&mut self, b: &BatchView<'_>) -> Result<Output, String> {
//!         Ok(Output::keep_all(b.len()))
//!     }
//! }
//!
//! let schema = Schema::new("ds", vec![], 8).unwrap();
//! let mut r = Runner::<KeepAll>::init(&[], schema).unwrap();
//! assert_eq!(r.process(&[0; 16], &[], 2).unwrap(), Output::Keep(vec![0, 1]));
//! ```

use crate::batch::{BatchView, OwnedBatch};
use crate::config::Config;
use crate::project::{self, Projection};
use crate::schema::Schema;

/// What [`Operator::process`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Keep these input rows, in this order (may drop, reorder or repeat). The cheapest answer:
    /// only indices cross back, and the host keeps the input heap.
    Keep(Vec<u32>),
    /// Replace the batch with these rows, laid out by the output schema.
    Rows(OwnedBatch),
}

impl Output {
    /// Keeps all `n` rows, unchanged and in order.
    pub fn keep_all(n: usize) -> Self {
        Output::Keep((0..n as u32).collect())
    }

    /// Keeps no row.
    pub fn keep_none() -> Self {
        Output::Keep(Vec::new())
    }
}

/// A rig operator written in Rust. Implement it, then export the type with
/// [`crate::export_operator!`].
///
/// ```
/// use rig_operator_sdk::{BatchView, Config, FieldRef, Operator, Output, Schema};
///
/// /// Keeps events whose `proc.comm` is the configured `comm`.
/// #[derive(Debug)]
/// struct CommFilter { comm: String, field: FieldRef }
///
/// impl Operator for CommFilter {
///     fn init(config: &Config, input: &Schema) -> Result<Self, String> {
///         Ok(Self { comm: config.require("comm")?.to_owned(), field: input.resolve("proc.comm")? })
///     }
///     fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String> {
///         let keep = (0..batch.len())
///             .filter(|&r| batch.get_str(r, &self.field) == Some(self.comm.as_str()))
///             .map(|r| r as u32);
///         Ok(Output::Keep(keep.collect()))
///     }
/// }
/// // rig_operator_sdk::export_operator!(CommFilter);
/// ```
pub trait Operator: Sized + 'static {
    /// Reads the configuration and resolves fields against the input schema. Errors here (a
    /// missing key, an unknown field, a type mismatch) are reported before any event flows.
    fn init(config: &Config, input: &Schema) -> Result<Self, String>;

    /// The layout of the rows this operator returns with [`Output::Rows`] and from
    /// [`Operator::flush`]; `None` (the default) means the input schema.
    fn output_schema(&self) -> Option<Schema> {
        None
    }

    /// Called once per batch.
    fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String>;

    /// End of the stream, or of a window (an interval, a snapshot): rows held back, laid out by
    /// the output schema. The default holds nothing.
    fn flush(&mut self) -> Result<Option<OwnedBatch>, String> {
        Ok(None)
    }
}

/// One initialised operator and its schemas.
#[derive(Debug)]
pub struct Runner<T> {
    input: Schema,
    output: Schema,
    /// What `init` declared with [`Schema::project`], if anything.
    projection: Option<Projection>,
    op: T,
}

impl<T: Operator> Runner<T> {
    /// Validates the input schema, reads the configuration and initialises the operator.
    pub fn init(config: &[(String, String)], input: Schema) -> Result<Self, String> {
        input.validate()?;
        let config = Config::new(config.to_vec());
        project::clear();
        let op = T::init(&config, &input)?;
        let projection = project::take();
        if projection.is_some() && op.output_schema().is_some_and(|s| s != input) {
            return Err("an operator that projects must keep its input schema as its output".to_owned());
        }
        let output = match op.output_schema() {
            Some(s) => {
                s.validate().map_err(|e| format!("output schema: {e}"))?;
                s
            }
            None => input.clone(),
        };
        Ok(Self {
            input,
            output,
            projection,
            op,
        })
    }

    /// The input schema.
    pub fn input_schema(&self) -> &Schema {
        &self.input
    }

    /// The output schema (what `init` returns to the host).
    pub fn output_schema(&self) -> &Schema {
        &self.output
    }

    /// The operator itself.
    pub fn operator(&mut self) -> &mut T {
        &mut self.op
    }

    /// What `init` declared with [`Schema::project`], if anything.
    pub fn projection(&self) -> Option<&Projection> {
        self.projection.as_ref()
    }

    /// Runs the operator on one batch as the host passes it (for a projected operator: the
    /// packed read columns) and checks its answer.
    pub fn process(&mut self, rows: &[u8], heap: &[u8], count: u32) -> Result<Output, String> {
        let schema = self.projection.as_ref().map_or(&self.input, |p| &p.reads);
        let view = BatchView::new(schema, rows, heap, count as usize)?;
        let out = self.op.process(&view)?;
        match &out {
            Output::Keep(idx) => {
                if let Some(i) = idx.iter().find(|&&i| i >= count) {
                    return Err(format!("operator kept row {i} of a {count}-row batch"));
                }
            }
            Output::Rows(b) => match &self.projection {
                Some(_) if b.count != count => {
                    return Err(format!(
                        "operator answered {} rows for a {count}-row batch (a projected operator answers one row of its writes per input row)",
                        b.count
                    ));
                }
                Some(p) => b
                    .view(&p.writes)
                    .map(|_| ())
                    .map_err(|e| format!("operator returned a bad batch: {e}"))?,
                None => self.check(b)?,
            },
        }
        Ok(out)
    }

    /// Runs the operator on full rows of the input schema, as the host calls it: a projected
    /// operator gets the packed read columns (and the heap only when it reads a heap field).
    pub fn process_full(&mut self, rows: &[u8], heap: &[u8], count: u32) -> Result<Output, String> {
        let Some(p) = &self.projection else {
            return self.process(rows, heap, count);
        };
        let packed = p.pack(&self.input, rows);
        let heap = if p.reads.heap_slots().next().is_some() { heap } else { &[] };
        self.process(&packed, heap, count)
    }

    /// Runs the operator on full rows of the input schema and returns the batch the host would
    /// pass on: packs the read columns of a projected operator, then applies its answer (kept
    /// rows, or written columns copied back). For unit tests.
    pub fn apply(&mut self, rows: &[u8], heap: &[u8], count: u32) -> Result<OwnedBatch, String> {
        let out = self.process_full(rows, heap, count)?;
        let rs = self.input.row_size as usize;
        match (out, &self.projection) {
            (Output::Keep(idx), _) => Ok(OwnedBatch {
                rows: idx
                    .iter()
                    .flat_map(|&i| &rows[i as usize * rs..(i as usize + 1) * rs])
                    .copied()
                    .collect(),
                heap: heap.to_vec(),
                count: idx.len() as u32,
            }),
            (Output::Rows(b), Some(p)) => p.patch(&self.input, rows, heap, &b),
            (Output::Rows(b), None) => Ok(b),
        }
    }

    /// Flushes the operator and checks the rows it returns.
    pub fn flush(&mut self) -> Result<Option<OwnedBatch>, String> {
        let out = self.op.flush()?;
        if let Some(b) = &out {
            self.check(b)?;
        }
        Ok(out)
    }

    fn check(&self, b: &OwnedBatch) -> Result<(), String> {
        b.view(&self.output)
            .map(|_| ())
            .map_err(|e| format!("operator returned a bad batch: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::RowsBuilder;

    #[derive(Debug)]
    struct Bad(u32);
    impl Operator for Bad {
        fn init(config: &Config, _: &Schema) -> Result<Self, String> {
            Ok(Bad(config.parse_or("mode", 0)?))
        }
        fn process(&mut self, b: &BatchView<'_>) -> Result<Output, String> {
            match self.0 {
                0 => Ok(Output::Keep(vec![b.len() as u32])),
                _ => Ok(Output::Rows(OwnedBatch {
                    rows: vec![0; 3],
                    heap: vec![],
                    count: 1,
                })),
            }
        }
        fn flush(&mut self) -> Result<Option<OwnedBatch>, String> {
            Ok(Some(RowsBuilder::new(&Schema::new("x", vec![], 16)?).finish()))
        }
    }

    #[test]
    fn runner_checks_answers() {
        let s = Schema::new("ds", vec![], 8).unwrap();
        let mut r = Runner::<Bad>::init(&[], s.clone()).unwrap();
        assert_eq!(
            r.process(&[0; 8], &[], 1).unwrap_err(),
            "operator kept row 1 of a 1-row batch"
        );
        assert!(r.process(&[0; 9], &[], 1).unwrap_err().contains("9 row bytes"));
        assert_eq!(r.flush().unwrap().unwrap().count, 0);
        let cfg = vec![("mode".to_owned(), "1".to_owned())];
        let mut r = Runner::<Bad>::init(&cfg, s).unwrap();
        let e = r.process(&[0; 8], &[], 1).unwrap_err();
        assert!(e.starts_with("operator returned a bad batch"), "{e}");
    }
}
