//! @NAME@: a rig operator.
//!
//! rig calls `init` once with this operator's settings (the graph file's `with:`) and the schema
//! of its input, then `process` once per batch of events, then `flush` at the end of the stream.
//! A batch is `count` fixed-size rows (`row-size` bytes each, laid out by the schema) plus a heap
//! for variable-length values: see `wit/operator.wit`.
//!
//! Build: `./build.sh` (or `rig operator build .`). Test: `cargo test`.

wit_bindgen::generate!({
    path: "wit",
    world: "rig-operator",
});

use std::cell::Cell;

use exports::rig::operator::operator::{Batch, Guest, Output, Schema};
use rig::operator::host::{self, Level};

/// Which rows of a batch to keep, in order. This skeleton keeps them all.
///
/// Edit here: read fields with `row[offset..offset + size]` (offsets come from the schema given
/// to `init`), and return the indices of the rows to keep. To change values instead, return
/// `Output::Rows` with new rows from `process`.
pub fn keep(rows: &[u8], row_size: usize) -> Vec<u32> {
    let count = rows.len().checked_div(row_size).unwrap_or(0);
    (0..count as u32).collect()
}

thread_local! {
    static ROW_SIZE: Cell<usize> = const { Cell::new(0) };
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Operator;

impl Guest for Operator {
    fn init(config: Vec<(String, String)>, input: Schema) -> Result<Schema, String> {
        // Edit here: read settings from `config`, find the fields you need in `input.fields`, and
        // return an error naming what is wrong; it is shown before any event flows.
        host::log(
            Level::Debug,
            &format!("@NAME@: {} settings, {} fields", config.len(), input.fields.len()),
        );
        ROW_SIZE.set(input.row_size as usize);
        Ok(input)
    }

    fn process(input: Batch) -> Result<Output, String> {
        let kept = keep(&input.rows, ROW_SIZE.get());
        host::counter_add("kept", kept.len() as u64);
        Ok(Output::Keep(kept))
    }

    fn flush() -> Result<Option<Batch>, String> {
        Ok(None)
    }
}

// Only for wasm32: natively (`cargo test`) the component's export names cannot be linked.
#[cfg(target_arch = "wasm32")]
export!(Operator);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_row() {
        assert_eq!(keep(&[0; 48], 16), vec![0, 1, 2]);
        assert!(keep(&[], 16).is_empty());
    }
}
