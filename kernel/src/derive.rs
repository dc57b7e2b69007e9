//! The formatter stage: fills derived text fields from the raw values they describe.
//!
//! The schema decided, when it was built from BTF, which fields get a readable companion
//! (`error_raw` → `error`, `timestamp_raw` → `timestamp`, `proc.creds.uid` → `proc.creds.user`).
//! This stage writes those companions into the batch heap, once per batch and in one pass, so
//! every later stage (filters, operators, sinks) sees plain text and never re-derives it.
//! User and group names need the host's databases, so they come through a [`NameResolver`].

use std::sync::Arc;

use crate::batch::{Batch, Value};
use crate::format::{self, NameResolver, WallClock};
use crate::graph::{Stage, StageError};
use crate::schema::{FieldId, Schema, Special};

/// Fills every derived field of a schema.
pub struct DeriveStage {
    plan: Vec<(FieldId, FieldId, Special)>,
    /// Per plan entry, the last input value and its text: errno, flags, modes and ids repeat
    /// from one event to the next, so most rows skip formatting and lookups entirely.
    memo: Vec<Option<(u64, String)>>,
    clock: WallClock,
    names: Box<dyn NameResolver>,
    scratch: String,
}

impl std::fmt::Debug for DeriveStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeriveStage").field("fields", &self.plan.len()).finish()
    }
}

impl DeriveStage {
    /// A stage for batches of `schema`, reading the wall clock now.
    pub fn new(schema: &Schema, names: Box<dyn NameResolver>) -> Self {
        Self::with_clock(schema, names, WallClock::now())
    }

    /// Same, with a fixed clock (tests).
    pub fn with_clock(schema: &Schema, names: Box<dyn NameResolver>, clock: WallClock) -> Self {
        let plan = schema
            .ids()
            .filter_map(|id| {
                schema
                    .field(id)
                    .derived
                    .as_ref()
                    .map(|d| (id, d.source, d.special.clone()))
            })
            .collect::<Vec<_>>();
        let memo = vec![None; plan.len()];
        Self {
            plan,
            memo,
            clock,
            names,
            scratch: String::with_capacity(64),
        }
    }

    /// True when there is nothing to derive.
    pub fn is_empty(&self) -> bool {
        self.plan.is_empty()
    }
}

fn as_u64(v: Value<'_>) -> u64 {
    match v {
        Value::U64(v) => v,
        Value::I64(v) => v as u64,
        Value::Bool(b) => u64::from(b),
        Value::F64(f) => f as u64,
        Value::Str(_) | Value::Bytes(_) => 0,
    }
}

impl Stage for DeriveStage {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        // Rebuild the plan against the real input schema.
        *self = Self::with_clock(input, std::mem::replace(&mut self.names, Box::new(NoNames)), self.clock);
        Ok(input.clone())
    }

    fn process(&mut self, mut batch: Batch) -> Result<Option<Batch>, StageError> {
        for row in 0..batch.len() {
            for (i, (target, source, special)) in self.plan.iter().enumerate() {
                let v = as_u64(batch.value(row, *source));
                if !matches!(special, Special::Timestamp)
                    && let Some((last, text)) = &self.memo[i]
                    && *last == v
                {
                    batch.set_heap(row, *target, text.as_bytes());
                    continue;
                }
                let s = &mut self.scratch;
                s.clear();
                match special {
                    Special::Timestamp => self.clock.write_rfc3339(v, s),
                    Special::Errno => format::write_errno(v, s),
                    Special::Signal => format::write_signal(v, s),
                    Special::Syscall => format::write_syscall(v, s),
                    Special::FileMode => format::write_file_mode(v, s),
                    Special::FileFlags => format::write_file_flags(v, s),
                    Special::Bytes => format::write_bytes(v, s),
                    Special::Duration => format::write_duration(v, s),
                    Special::Uid => s.push_str(self.names.user(v as u32).unwrap_or_default()),
                    Special::Gid => s.push_str(self.names.group(v as u32).unwrap_or_default()),
                    Special::Enum(def) => write_enum(def, v, s),
                    Special::MntnsId | Special::NetnsId | Special::KernelStack | Special::Other(_) => {}
                }
                batch.set_heap(row, *target, s.as_bytes());
                if !matches!(special, Special::Timestamp) {
                    match &mut self.memo[i] {
                        Some((last, text)) => {
                            *last = v;
                            text.clear();
                            text.push_str(s);
                        }
                        slot => *slot = Some((v, s.clone())),
                    }
                }
            }
        }
        Ok(Some(batch))
    }
}

fn write_enum(def: &crate::schema::EnumDef, v: u64, out: &mut String) {
    use std::fmt::Write as _;
    if def.is_set {
        for (bit, name) in &def.values {
            if *bit != 0 && (v as i64) & bit == *bit {
                if !out.is_empty() {
                    out.push('|');
                }
                out.push_str(name);
            }
        }
        return;
    }
    match def.values.get(&(v as i64)) {
        Some(n) => out.push_str(n),
        None => {
            let _ = write!(out, "{v}");
        }
    }
}

/// A resolver that knows no names.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNames;

impl NameResolver for NoNames {
    fn user(&mut self, _: u32) -> Option<&str> {
        None
    }
    fn group(&mut self, _: u32) -> Option<&str> {
        None
    }
}
