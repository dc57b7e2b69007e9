//! `builtin/filter`: keeps the rows that match a condition.
//!
//! Two ways to write the condition, both compiled once at `init` against the input schema:
//!
//! - `filter`: Inspektor Gadget's `--filter` syntax (`proc.comm==cat,fname~^/etc/`), see [`ig`];
//! - `expr`: a boolean expression (`proc.comm in ["cat","less"] && fname matches "^/etc/"`),
//!   see [`expr`].
//!
//! Only the fields the condition reads cross into the operator (it projects them, see
//! `Schema::project`): a filter on `proc.comm` copies 16 bytes per event, not the whole row.
//!
//! When both are set, a row must match both. An unknown field, a literal of the wrong type or a
//! bad regex fails `init` with an error naming the field. The answer is `keep(indices)`, so
//! matching rows cross back as 4-byte indices; the number of dropped rows is added to the
//! counter `filtered_out` once per batch.

pub mod expr;
pub mod ig;
pub mod pred;
mod scan;

use rig_operator_sdk::{BatchView, Config, Operator, Output, Schema, export_operator, host};

use crate::pred::Pred;

/// The filter operator.
#[derive(Debug)]
pub struct Filter {
    pred: Pred,
    /// Per-row results of the current batch.
    matched: Vec<bool>,
    /// Scratch buffers of [`Pred::eval_batch`], kept between batches.
    pool: Vec<Vec<bool>>,
}

impl Filter {
    /// The compiled condition.
    pub fn pred(&self) -> &Pred {
        &self.pred
    }
}

impl Operator for Filter {
    fn init(config: &Config, input: &Schema) -> Result<Self, String> {
        // Shown by --stats from the start, at 0 until something is filtered out.
        host::counter_add("filtered_out", 0);
        config.allow_only(&["filter", "expr"])?;
        if config.get("filter").is_none() && config.get("expr").is_none() {
            return Err("filter: set \"filter\" (IG syntax) or \"expr\" (expression)".into());
        }
        let mut pred = Pred::True;
        if let Some(f) = config.get("filter") {
            pred = Pred::and(pred, ig::compile(f, input)?);
        }
        if let Some(e) = config.get("expr") {
            pred = Pred::and(pred, expr::compile(e, input)?);
        }
        // Only the fields the condition reads cross into the guest: project them and rebind
        // the compiled condition to their packed layout.
        let mut names: Vec<String> = Vec::new();
        pred.fields_mut(&mut |r| {
            let name = &input.describe(r).name;
            if !names.contains(name) {
                names.push(name.clone());
            }
        });
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let reads = input.project(&names, &[])?.reads;
        let mut rebound = Ok(());
        pred.fields_mut(&mut |r| match reads.resolve(&input.describe(r).name) {
            Ok(new) => *r = new,
            Err(e) => rebound = Err(e),
        });
        rebound?;
        Ok(Self {
            pred,
            matched: Vec::new(),
            pool: Vec::new(),
        })
    }

    fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String> {
        self.matched.clear();
        self.matched.resize(batch.len(), false);
        self.pred.eval_batch(batch, &mut self.matched, &mut self.pool);
        let kept: Vec<u32> = (0..batch.len() as u32).filter(|&r| self.matched[r as usize]).collect();
        let dropped = batch.len() - kept.len();
        if dropped > 0 {
            host::counter_add("filtered_out", dropped as u64);
        }
        Ok(Output::Keep(kept))
    }
}

export_operator!(Filter);

#[cfg(test)]
mod tests;
