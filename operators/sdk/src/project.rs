//! Projections: an operator declares the only fields it reads and writes, and only those cross.
//!
//! Without one, every `process` call copies whole rows into the guest (352 bytes per trace_open
//! event) and a rewrite copies them back out. With [`Schema::project`], called from
//! [`crate::Operator::init`], the host packs just the named columns, and a rewrite answers only
//! the columns it writes:
//!
//! - `process` receives rows laid out as [`Projection::reads`]: the read fields packed from
//!   offset 0 in the order named (heap fields as their 8-byte slot, with the heap passed along
//!   only when one is read); resolve the fields you read against that schema;
//! - [`crate::Output::Keep`] still names input rows;
//! - [`crate::Output::Rows`] holds one row per input row laid out as [`Projection::writes`]; the
//!   host copies those fields back into the batch and appends the answer's heap to the batch's
//!   (a written heap slot counts from the start of the answer's heap).
//!
//! An operator that projects keeps the input schema as its output schema.
//!
//! ```
//! use rig_operator_sdk::{BatchView, Config, FieldKind, FieldRef, Operator, Output, Schema};
//!
//! /// Keeps events of one process: reads 4 bytes per event, not the whole row.
//! #[derive(Debug)]
//! struct OnePid { pid: FieldRef, want: u64 }
//!
//! impl Operator for OnePid {
//!     fn init(config: &Config, input: &Schema) -> Result<Self, String> {
//!         let p = input.project(&["proc.pid"], &[])?;
//!         Ok(Self { pid: p.reads.resolve("proc.pid")?, want: config.parse_or("pid", 1)? })
//!     }
//!     fn process(&mut self, b: &BatchView<'_>) -> Result<Output, String> {
//!         let keep = (0..b.len()).filter(|&r| b.get_u64(r, &self.pid) == Some(self.want));
//!         Ok(Output::Keep(keep.map(|r| r as u32).collect()))
//!     }
//! }
//! # let s = Schema::new("ds", vec![rig_operator_sdk::Field::inline("proc.pid", FieldKind::U32, 4, 4)], 8).unwrap();
//! # let mut r = rig_operator_sdk::Runner::<OnePid>::init(&[], s).unwrap();
//! # let rows = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0];
//! # let out = r.apply(&rows, &[], 2).unwrap();
//! # assert_eq!(out.count, 1);
//! ```

use std::cell::RefCell;

use crate::batch::OwnedBatch;
use crate::schema::{Field, Schema};

/// The row layouts of a projected operator (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// The rows `process` receives: the read fields, packed.
    pub reads: Schema,
    /// The rows an [`crate::Output::Rows`] answer holds: the written fields, packed, one row per
    /// input row.
    pub writes: Schema,
}

thread_local! {
    /// What the running `init` declared; [`crate::Runner`] takes it.
    static DECLARED: RefCell<Option<Projection>> = const { RefCell::new(None) };
}

impl Schema {
    /// Declares that the operator reads only `reads` and writes only `writes` (see the module
    /// docs); call it from `init`. An unknown or repeated name is an error naming it.
    pub fn project(&self, reads: &[&str], writes: &[&str]) -> Result<Projection, String> {
        let p = imp::project(self, reads, writes)?;
        DECLARED.with_borrow_mut(|d| *d = Some(p.clone()));
        Ok(p)
    }
}

/// Forgets what an earlier `init` declared.
pub(crate) fn clear() {
    DECLARED.with_borrow_mut(|d| *d = None);
}

/// What the `init` that just ran declared.
pub(crate) fn take() -> Option<Projection> {
    DECLARED.with_borrow_mut(Option::take)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Projection;
    use crate::schema::Schema;

    pub fn project(_input: &Schema, reads: &[&str], writes: &[&str]) -> Result<Projection, String> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = crate::bindings::rig::operator::host::project(&owned(reads), &owned(writes))?;
        Ok(Projection {
            reads: crate::glue::schema_from_wit(p.reads),
            writes: crate::glue::schema_from_wit(p.writes),
        })
    }
}

/// The host's packing, in plain Rust, for native builds (unit tests).
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Projection, view};
    use crate::schema::Schema;

    pub fn project(input: &Schema, reads: &[&str], writes: &[&str]) -> Result<Projection, String> {
        Ok(Projection {
            reads: view(input, reads, "reads")?,
            writes: view(input, writes, "writes")?,
        })
    }
}

/// The packed layout of `names` of `input`.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
fn view(input: &Schema, names: &[&str], what: &str) -> Result<Schema, String> {
    let mut fields: Vec<Field> = Vec::with_capacity(names.len());
    let mut at = 0;
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(format!("project: {what} names {name:?} twice"));
        }
        let r = input.field(name).ok_or_else(|| {
            format!(
                "project: {what} names {name:?}, which datasource {} does not have",
                input.datasource
            )
        })?;
        let f = Field {
            offset: at,
            ..input.describe(&r).clone()
        };
        at += f.size;
        fields.push(f);
    }
    Ok(Schema {
        datasource: input.datasource.clone(),
        fields,
        row_size: at,
    })
}

impl Projection {
    /// Packs the read columns of full `rows` of `input`, as the host does before `process`.
    pub fn pack(&self, input: &Schema, rows: &[u8]) -> Vec<u8> {
        let rs = input.row_size as usize;
        let mut out = Vec::with_capacity(rows.len() / rs.max(1) * self.reads.row_size as usize);
        for row in rows.chunks_exact(rs) {
            for f in &self.reads.fields {
                let src = input.field(&f.name).map_or(0, |r| r.offset as usize);
                out.extend_from_slice(&row[src..src + f.size as usize]);
            }
        }
        out
    }

    /// Applies a rows answer to full `rows` of `input` with `heap`, as the host does: the
    /// written columns are copied back, the answer's heap appended and written slots rebased.
    pub fn patch(&self, input: &Schema, rows: &[u8], heap: &[u8], answer: &OwnedBatch) -> Result<OwnedBatch, String> {
        let rs = input.row_size as usize;
        let count = rows.len() / rs.max(1);
        let wr = self.writes.row_size as usize;
        if answer.count as usize != count || answer.rows.len() != count * wr {
            return Err(format!(
                "answered {} rows ({} bytes) for a {count}-row batch of {wr}-byte writes",
                answer.count,
                answer.rows.len()
            ));
        }
        let mut out = rows.to_vec();
        let base = heap.len() as u32;
        for (dst, src) in out.chunks_exact_mut(rs).zip(answer.rows.chunks_exact(wr.max(1))) {
            for f in &self.writes.fields {
                let at = input.field(&f.name).map_or(0, |r| r.offset as usize);
                let (from, n) = (f.offset as usize, f.size as usize);
                dst[at..at + n].copy_from_slice(&src[from..from + n]);
                if f.heap {
                    let off = u32::from_le_bytes([src[from], src[from + 1], src[from + 2], src[from + 3]]);
                    dst[at..at + 4].copy_from_slice(&(off + base).to_le_bytes());
                }
            }
        }
        let mut h = heap.to_vec();
        h.extend_from_slice(&answer.heap);
        Ok(OwnedBatch {
            rows: out,
            heap: h,
            count: count as u32,
        })
    }
}
