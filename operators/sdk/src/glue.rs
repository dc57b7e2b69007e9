//! The bridge between the generated WIT bindings and [`Runner`]; used by [`crate::export_operator!`].
//!
//! The component exports free functions, so the one live operator instance is kept in a
//! thread-local slot (a component instance is single-threaded). `init` replaces it; `process`
//! and `flush` before a successful `init` are errors. Types are converted once per call: the
//! schema field by field at `init`, batches by moving their byte vectors (no copy).

use std::cell::RefCell;

use crate::batch::OwnedBatch;
use crate::bindings::exports::rig::operator::operator as wit;
use crate::bindings::rig::operator::types::FieldKind as WitKind;
use crate::operator::{Operator, Output, Runner};
use crate::schema::{Field, FieldKind, Schema};

/// An initialised operator of any type.
trait Instance {
    fn process(&mut self, rows: &[u8], heap: &[u8], count: u32) -> Result<Output, String>;
    fn flush(&mut self) -> Result<Option<OwnedBatch>, String>;
}

impl<T: Operator> Instance for Runner<T> {
    fn process(&mut self, rows: &[u8], heap: &[u8], count: u32) -> Result<Output, String> {
        Runner::process(self, rows, heap, count)
    }

    fn flush(&mut self) -> Result<Option<OwnedBatch>, String> {
        Runner::flush(self)
    }
}

thread_local! {
    static INSTANCE: RefCell<Option<Box<dyn Instance>>> = const { RefCell::new(None) };
}

const NOT_INITIALISED: &str = "operator called before a successful init";

/// `init` of the WIT interface for operator type `T`.
pub fn init<T: Operator>(config: Vec<(String, String)>, input: wit::Schema) -> Result<wit::Schema, String> {
    INSTANCE.with_borrow_mut(|slot| *slot = None);
    let runner = Runner::<T>::init(&config, schema_from_wit(input))?;
    let out = schema_to_wit(runner.output_schema());
    INSTANCE.with_borrow_mut(|slot| *slot = Some(Box::new(runner)));
    Ok(out)
}

/// `process` of the WIT interface.
pub fn process(input: wit::Batch) -> Result<wit::Output, String> {
    INSTANCE.with_borrow_mut(|slot| {
        let inst = slot.as_mut().ok_or(NOT_INITIALISED)?;
        Ok(match inst.process(&input.rows, &input.heap, input.count)? {
            Output::Keep(idx) => wit::Output::Keep(idx),
            Output::Rows(b) => wit::Output::Rows(batch_to_wit(b)),
        })
    })
}

/// `flush` of the WIT interface.
pub fn flush() -> Result<Option<wit::Batch>, String> {
    INSTANCE.with_borrow_mut(|slot| {
        let inst = slot.as_mut().ok_or(NOT_INITIALISED)?;
        Ok(inst.flush()?.map(batch_to_wit))
    })
}

fn batch_to_wit(b: OwnedBatch) -> wit::Batch {
    wit::Batch {
        rows: b.rows,
        heap: b.heap,
        count: b.count,
    }
}

fn kind_from_wit(k: WitKind) -> FieldKind {
    match k {
        WitKind::Boolean => FieldKind::Bool,
        WitKind::U8 => FieldKind::U8,
        WitKind::U16 => FieldKind::U16,
        WitKind::U32 => FieldKind::U32,
        WitKind::U64 => FieldKind::U64,
        WitKind::S8 => FieldKind::S8,
        WitKind::S16 => FieldKind::S16,
        WitKind::S32 => FieldKind::S32,
        WitKind::S64 => FieldKind::S64,
        WitKind::F32 => FieldKind::F32,
        WitKind::F64 => FieldKind::F64,
        WitKind::Text => FieldKind::Text,
        WitKind::Bytes => FieldKind::Bytes,
    }
}

fn kind_to_wit(k: FieldKind) -> WitKind {
    match k {
        FieldKind::Bool => WitKind::Boolean,
        FieldKind::U8 => WitKind::U8,
        FieldKind::U16 => WitKind::U16,
        FieldKind::U32 => WitKind::U32,
        FieldKind::U64 => WitKind::U64,
        FieldKind::S8 => WitKind::S8,
        FieldKind::S16 => WitKind::S16,
        FieldKind::S32 => WitKind::S32,
        FieldKind::S64 => WitKind::S64,
        FieldKind::F32 => WitKind::F32,
        FieldKind::F64 => WitKind::F64,
        FieldKind::Text => WitKind::Text,
        FieldKind::Bytes => WitKind::Bytes,
    }
}

pub(crate) fn schema_from_wit(s: wit::Schema) -> Schema {
    Schema {
        datasource: s.datasource,
        row_size: s.row_size,
        fields: s
            .fields
            .into_iter()
            .map(|f| Field {
                name: f.name,
                kind: kind_from_wit(f.kind),
                offset: f.offset,
                size: f.size,
                heap: f.heap,
                hidden: f.hidden,
                tags: f.tags,
                annotations: f.annotations,
            })
            .collect(),
    }
}

fn schema_to_wit(s: &Schema) -> wit::Schema {
    use crate::bindings::rig::operator::types::Field as WitField;
    wit::Schema {
        datasource: s.datasource.clone(),
        row_size: s.row_size,
        fields: s
            .fields
            .iter()
            .map(|f| WitField {
                name: f.name.clone(),
                kind: kind_to_wit(f.kind),
                offset: f.offset,
                size: f.size,
                heap: f.heap,
                hidden: f.hidden,
                tags: f.tags.clone(),
                annotations: f.annotations.clone(),
            })
            .collect(),
    }
}
