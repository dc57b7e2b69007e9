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

/// The fields beside an endpoint's address that its text needs (found by name: `src.version`,
/// `src.port` for the field `src` or `src.addr`).
#[derive(Debug, Clone, Copy, Default)]
struct Siblings {
    version: Option<FieldId>,
    port: Option<FieldId>,
    /// For an argument list: its `<name>_size` field.
    size: Option<FieldId>,
}

impl Siblings {
    fn of(schema: &Schema, target: FieldId, source: FieldId, special: &Special) -> Self {
        let group = match special {
            // `src` → `src.version`, `src.port`.
            Special::L3Endpoint | Special::L4Endpoint => schema.field(target).name.clone(),
            // `src.addr_raw` → `src.version`.
            Special::IpAddr => match schema.field(source).name.rsplit_once('.') {
                Some((parent, _)) => parent.to_owned(),
                None => return Self::default(),
            },
            Special::ArgList => {
                return Self {
                    size: schema.find(&format!("{}_size", schema.field(target).name)),
                    ..Self::default()
                };
            }
            _ => return Self::default(),
        };
        Self {
            version: schema.find(&format!("{group}.version")),
            port: schema.find(&format!("{group}.port")),
            size: None,
        }
    }
}

/// True for specials rendered from a field's bytes (and its siblings) rather than one number.
fn from_bytes(special: &Special) -> bool {
    matches!(special, Special::IpAddr | Special::L3Endpoint | Special::L4Endpoint)
}

/// Fills every derived field of a schema.
pub struct DeriveStage {
    plan: Vec<(FieldId, FieldId, Special)>,
    /// Per plan entry, the fields an address or endpoint text also reads.
    siblings: Vec<Siblings>,
    /// Per plan entry, the last input value and its text: errno, flags, modes and ids repeat
    /// from one event to the next, so most rows skip formatting and lookups entirely.
    memo: Vec<Option<(u64, String)>>,
    /// Per plan entry: for a histogram, its slot size and unit (`metrics.unit`).
    histograms: Vec<Option<(usize, String)>>,
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
                    // Stacks need the gadget's maps: the host's stack enricher fills them.
                    .filter(|d| !matches!(d.special, Special::KernelStack | Special::UserStack))
                    .map(|d| (id, d.source, d.special.clone()))
            })
            .collect::<Vec<_>>();
        let siblings = plan
            .iter()
            .map(|(target, source, special)| Siblings::of(schema, *target, *source, special))
            .collect();
        let memo = vec![None; plan.len()];
        let histograms = plan
            .iter()
            .map(|(target, _, special)| histogram_of(schema, *target, special))
            .collect();
        Self {
            plan,
            siblings,
            memo,
            histograms,
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
                if let Some((slot, unit)) = &self.histograms[i] {
                    self.scratch.clear();
                    format::histogram::write_text(batch.bytes(row, *source), *slot, unit, &mut self.scratch);
                    batch.set_heap(row, *target, self.scratch.as_bytes());
                    continue;
                }
                if let Special::ArgList = special {
                    let args = arg_list(&batch, row, *source, self.siblings[i].size);
                    batch.set_heap(row, *target, &args);
                    continue;
                }
                if from_bytes(special) {
                    let s = &mut self.scratch;
                    s.clear();
                    write_address(&batch, row, *source, special, self.siblings[i], s);
                    batch.set_heap(row, *target, s.as_bytes());
                    continue;
                }
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
                    Special::Protocol => format::write_protocol(v, s),
                    Special::MntnsId
                    | Special::NetnsId
                    | Special::KernelStack
                    | Special::UserStack
                    | Special::IpAddr
                    | Special::L3Endpoint
                    | Special::L4Endpoint
                    | Special::ArgList
                    | Special::Other(_) => {}
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

/// An address (`1.2.3.4`) or endpoint (`1.2.3.4:80`) text from the 16 address bytes of `source`.
fn write_address(batch: &Batch, row: usize, source: FieldId, special: &Special, sib: Siblings, out: &mut String) {
    let version = sib.version.map(|v| as_u64(batch.value(row, v)) as u8);
    let addr = batch.bytes(row, source);
    match (special, sib.port) {
        (Special::L4Endpoint, Some(port)) => {
            format::write_endpoint(addr, version, as_u64(batch.value(row, port)), out);
        }
        _ => format::write_ip(addr, version, out),
    }
}

/// The first `size` bytes of `source` (all when there is no size field), the NUL-separated
/// strings joined by U+00A0 and trailing NULs dropped.
fn arg_list(batch: &Batch, row: usize, source: FieldId, size: Option<FieldId>) -> Vec<u8> {
    let raw = batch.bytes(row, source);
    let n = size.map_or(raw.len(), |f| (as_u64(batch.value(row, f)) as usize).min(raw.len()));
    let raw = &raw[..n];
    let end = raw.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(end + end / 8);
    for &c in &raw[..end] {
        match c {
            0 => out.extend_from_slice(crate::batch::ARG_SEPARATOR.as_bytes()),
            c => out.push(c),
        }
    }
    out
}

/// A histogram companion's slot size and unit (IG's `metrics.unit` field annotation).
fn histogram_of(schema: &Schema, target: FieldId, special: &Special) -> Option<(usize, String)> {
    let Special::Other(t) = special else { return None };
    let slot = format::histogram::slot_size(t)?;
    let unit = schema.field(target).annotation("metrics.unit").unwrap_or_default();
    Some((slot, unit.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Derivation, FieldKind, SchemaBuilder};

    #[test]
    fn endpoints_addresses_and_argument_lists_read_their_siblings() {
        let mut b = SchemaBuilder::new("net", 40);
        let text = b.heap("src", FieldKind::Str);
        let addr = b.inline("src.addr_raw", FieldKind::Bytes, 0, 16);
        b.inline("src.port", FieldKind::U16, 16, 2);
        let proto = b.inline("src.proto_raw", FieldKind::U16, 18, 2);
        b.inline("src.version", FieldKind::U8, 20, 1);
        b.inline("args_size", FieldKind::U32, 24, 4);
        let args_raw = b.inline("args_raw", FieldKind::Str, 28, 12);
        for (name, source, special) in [
            ("src.addr", addr, Special::IpAddr),
            ("src.proto", proto, Special::Protocol),
            ("args", args_raw, Special::ArgList),
        ] {
            let id = b.heap(name, FieldKind::Str);
            b.field_mut(id).derived = Some(Derivation { source, special });
        }
        b.field_mut(text).derived = Some(Derivation {
            source: addr,
            special: Special::L4Endpoint,
        });
        let schema = b.build().unwrap();
        let mut record = [0u8; 40];
        record[..16].copy_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        record[16..18].copy_from_slice(&8080u16.to_le_bytes());
        record[18..20].copy_from_slice(&17u16.to_le_bytes());
        record[20] = 6;
        record[24..28].copy_from_slice(&7u32.to_le_bytes());
        record[28..35].copy_from_slice(b"a b\0c\0\0");
        record[35] = b'x'; // past args_size: not part of the list
        let mut batch = Batch::with_capacity(schema.clone(), 1);
        batch.push_record(&record);
        let mut stage = DeriveStage::new(&schema, Box::new(NoNames));
        let batch = stage.process(batch).unwrap().unwrap();
        let text = |name: &str| batch.value(0, schema.find(name).unwrap());
        assert_eq!(text("src"), Value::Str("::1:8080"));
        assert_eq!(text("src.addr"), Value::Str("::1"));
        assert_eq!(text("src.proto"), Value::Str("UDP"));
        assert_eq!(text("args"), Value::Str("a b\u{a0}c"));
    }
}
