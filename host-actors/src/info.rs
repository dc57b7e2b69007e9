//! What an operator author writes against: a gadget's datasources, fields and parameters.
//!
//! `rig gadget info NAME` resolves a gadget exactly as `rig run NAME` does ([`crate::gadget`]:
//! a bundled name, an image, a folder or an object) and describes it without loading anything
//! into the kernel: the schemas come from the object's BTF and gadget.yaml, as they do for a run.
//!
//! A field is described as an operator's `init` receives it (`wit/operator.wit`'s `field`): its
//! WIT kind (`text`, not the kernel's `string`), its [`Placement`](rig_kernel::Placement) in the
//! row (for a heap value, its 8-byte slot), `hidden`, tags and annotations. The schema is the
//! datasource's as the first operator of a run sees it: the `format` node in front derives its
//! text fields into the heap slots already listed here, and changes no layout. (With
//! `--runtimes none` a run also hides `runtime.containerName`; nothing else differs.)
//!
//! [`GadgetInfo`] serialises to the stable JSON document of `rig gadget info -o json`; its field
//! names are a public format: add to them, do not rename them.

use std::collections::BTreeMap;

use rig_kernel::{Field, FieldKind, Schema};
use serde::Serialize;

use crate::ebpf::params::ParamDef;
use crate::ebpf::{Datasource, DatasourceKind, Gadget};

/// A gadget as an operator author needs to know it.
#[derive(Debug, Clone, Serialize)]
pub struct GadgetInfo {
    /// What the user named it (`trace_open`, an image reference, a folder).
    pub gadget: String,
    /// gadget.yaml's `name`, if it has one.
    pub name: String,
    /// gadget.yaml's `description`.
    pub description: String,
    /// Datasources, tracers first (the first one is what `rig run` runs).
    pub datasources: Vec<DatasourceInfo>,
    /// Parameters, in declaration order.
    pub params: Vec<ParamInfo>,
}

/// How a datasource produces rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Rows stream from a ring buffer.
    Tracer,
    /// Iterator programs run once; the rows are one batch.
    Snapshotter,
    /// A hash map fetched periodically; each fetch is one batch.
    MapIter,
}

impl Role {
    /// The role's name, as in the JSON document.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Tracer => "tracer",
            Role::Snapshotter => "snapshotter",
            Role::MapIter => "mapiter",
        }
    }
}

/// One datasource and its row layout.
#[derive(Debug, Clone, Serialize)]
pub struct DatasourceInfo {
    /// The datasource's name (`open`).
    pub name: String,
    /// Tracer or snapshotter.
    #[serde(rename = "type")]
    pub role: Role,
    /// Bytes per row (raw record, then heap slots), a multiple of 8.
    pub row_size: u32,
    /// Bytes of the raw kernel record at the start of each row.
    pub raw_size: u32,
    /// Datasource annotations from gadget.yaml.
    pub annotations: BTreeMap<String, String>,
    /// Fields in declaration order, hidden ones included.
    pub fields: Vec<FieldInfo>,
}

/// One field, as an operator's `init` receives it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldInfo {
    /// Dotted name (`proc.comm`).
    pub name: String,
    /// The value's encoding, by its WIT name (`u32`, `text`, `bytes`, `boolean`).
    #[serde(serialize_with = "wit_kind")]
    pub kind: FieldKind,
    /// Byte offset in the row (for a heap value: of its slot).
    pub offset: u32,
    /// Bytes in the row (for a heap value: 8, its slot).
    pub size: u32,
    /// The value lives in the batch heap; the row holds its `(heap offset, length)` slot.
    pub heap: bool,
    /// Hidden from default output.
    pub hidden: bool,
    /// Tags (`type:gadget_errno`, `kind:enum`, …).
    pub tags: Vec<String>,
    /// Annotations (`description`, `columns.width`, …).
    pub annotations: BTreeMap<String, String>,
}

/// One parameter, as `rig run NAME --help` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ParamInfo {
    /// The flag, without `--` (`comm`).
    pub name: String,
    /// The C variable behind it (`targ_comm`).
    pub variable: String,
    /// Its type as help shows it (`u32`, `bool`, `string (max 15 bytes)`).
    #[serde(rename = "type")]
    pub ty: String,
    /// The default from gadget.yaml (`None`: the value compiled into the object).
    pub default: Option<String>,
    /// Help text.
    pub description: String,
}

fn wit_kind<S: serde::Serializer>(kind: &FieldKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.wit_name())
}

impl GadgetInfo {
    /// Describes a resolved gadget; `reference` is what the user typed.
    pub fn new(reference: &str, gadget: &Gadget) -> Self {
        Self {
            gadget: reference.to_owned(),
            name: gadget.metadata.name.clone(),
            description: gadget.metadata.description.clone(),
            datasources: gadget.datasources.iter().map(DatasourceInfo::new).collect(),
            params: gadget.params.iter().map(ParamInfo::new).collect(),
        }
    }
}

impl DatasourceInfo {
    fn new(ds: &Datasource) -> Self {
        let role = match ds.kind {
            DatasourceKind::Tracer { .. } => Role::Tracer,
            DatasourceKind::Snapshotter { .. } => Role::Snapshotter,
            DatasourceKind::MapIter { .. } => Role::MapIter,
        };
        Self::of_schema(&ds.schema, role)
    }

    /// The description of one schema.
    pub fn of_schema(schema: &Schema, role: Role) -> Self {
        Self {
            name: schema.datasource.clone(),
            role,
            row_size: schema.row_size,
            raw_size: schema.raw_size,
            annotations: schema.annotations.clone(),
            fields: schema.fields.iter().map(FieldInfo::new).collect(),
        }
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl FieldInfo {
    fn new(f: &Field) -> Self {
        let p = f.storage.placement();
        Self {
            name: f.name.clone(),
            kind: f.kind,
            offset: p.offset,
            size: p.size,
            heap: p.heap,
            hidden: f.hidden,
            tags: f.tags.clone(),
            annotations: f.annotations.clone(),
        }
    }
}

impl ParamInfo {
    fn new(p: &ParamDef) -> Self {
        Self {
            name: p.key.clone(),
            variable: p.var.clone(),
            ty: p.type_name(),
            default: p.default.clone(),
            description: p.description.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_kernel::SchemaBuilder;

    #[test]
    fn fields_are_described_as_operators_see_them() {
        let mut b = SchemaBuilder::new("open", 12);
        b.inline("pid", FieldKind::U32, 0, 4);
        b.inline("comm", FieldKind::Str, 4, 8);
        let fname = b.heap("fname", FieldKind::Str);
        b.field_mut(fname).tags.push("type:char".into());
        b.field_mut(fname)
            .annotations
            .insert("description".into(), "the file".into());
        let schema = b.build().unwrap();
        let ds = DatasourceInfo::of_schema(&schema, Role::Tracer);
        assert_eq!((ds.row_size, ds.raw_size), (24, 12));
        let comm = ds.field("comm").unwrap();
        assert_eq!((comm.offset, comm.size, comm.heap), (4, 8, false));
        let json = serde_json::to_value(&ds).unwrap();
        assert_eq!(json["type"], "tracer");
        assert_eq!(
            json["fields"][2],
            serde_json::json!({
                "name": "fname", "kind": "text", "offset": 16, "size": 8, "heap": true,
                "hidden": false, "tags": ["type:char"], "annotations": {"description": "the file"}
            })
        );
    }
}
