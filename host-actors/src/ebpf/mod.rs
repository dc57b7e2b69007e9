//! The eBPF host actor's machinery: from an object file to batches of events.
//!
//! [`object`] reads what a gadget declares, [`layout`] turns its event structs into schemas,
//! [`params`] turns its `GADGET_PARAM`s into typed flags, [`load`] loads and attaches it with
//! aya (relocating against the small per-object BTF that [`core_btf`] caches), and [`source`]
//! drains it into the graph ([`perf`] for perf event arrays, [`mapiter`] for map iterators).
//! [`Gadget`] ties them together for one gadget: every datasource it declares, each run
//! through its own pipeline.

pub mod attach;
pub mod btf;
pub mod core_btf;
pub mod fingerprint;
pub mod kconfig;
pub mod layout;
pub mod load;
pub mod mapiter;
pub mod object;
pub mod params;
pub mod perf;
pub mod source;
pub mod type_match;

use std::sync::Arc;

use rig_kernel::{Field, FieldKind, GadgetMetadata, Schema, Storage};

use layout::LayoutError;
use object::GadgetObject;
use params::ParamDef;

/// How a datasource produces rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasourceKind {
    /// A ring buffer or perf event array drained continuously.
    Tracer {
        /// The ring buffer (or perf event array) map.
        map: String,
    },
    /// A hash map fetched (and emptied) periodically: `GADGET_MAPITER`.
    MapIter {
        /// The hash map.
        map: String,
        /// gadget.yaml's `ebpf.map.flush-on-stop: true`: fetch once more when the run stops.
        flush_on_stop: bool,
    },
    /// Iterator programs run once: `(program, section)`.
    Snapshotter {
        /// The programs.
        programs: Vec<(String, String)>,
    },
}

/// One datasource of a gadget.
#[derive(Debug, Clone)]
pub struct Datasource {
    /// Its schema.
    pub schema: Arc<Schema>,
    /// Where its rows come from.
    pub kind: DatasourceKind,
}

/// A gadget ready to load: object, metadata, schemas and parameters.
#[derive(Debug, Clone)]
pub struct Gadget {
    /// The object.
    pub object: GadgetObject,
    /// Its gadget.yaml.
    pub metadata: GadgetMetadata,
    /// Datasources: tracers, snapshotters, then map iterators, in the object's order.
    pub datasources: Vec<Datasource>,
    /// Parameters.
    pub params: Vec<ParamDef>,
}

/// Why a gadget's declarations do not hold together.
#[derive(Debug, thiserror::Error)]
pub enum GadgetError {
    /// A schema could not be built.
    #[error("{path}: {source}")]
    Layout {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: LayoutError,
    },
    /// A snapshotter names a program the object does not have.
    #[error("{path}: snapshotter {datasource} names program {program}, which the object does not define")]
    MissingProgram {
        /// The object.
        path: String,
        /// The datasource.
        datasource: String,
        /// The program.
        program: String,
    },
    /// The gadget needs something rig does not run yet.
    #[error("{path}: {what} is not supported yet")]
    Unsupported {
        /// The object.
        path: String,
        /// What.
        what: String,
    },
    /// A map iterator's map does not fit (not a hash map, key or value not a struct).
    #[error("{path}: {source}")]
    MapIter {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: Box<mapiter::MapIterError>,
    },
}

impl Gadget {
    /// Builds the schemas and parameters of an object with its metadata.
    pub fn new(object: GadgetObject, metadata: GadgetMetadata) -> Result<Self, GadgetError> {
        let path = object.path.clone();
        let layout = |ds: &str, st: &str| {
            layout::schema_from_btf(&object.btf, ds, st, metadata.datasources.get(ds)).map_err(|source| {
                GadgetError::Layout {
                    path: path.clone(),
                    source,
                }
            })
        };
        let mut datasources = Vec::new();
        for t in &object.tracers {
            datasources.push(Datasource {
                schema: layout(&t.name, &t.struct_name)?,
                kind: DatasourceKind::Tracer { map: t.map.clone() },
            });
        }
        for s in &object.snapshotters {
            let mut programs = Vec::new();
            for p in &s.programs {
                let section = object.section_of(p).ok_or_else(|| GadgetError::MissingProgram {
                    path: path.clone(),
                    datasource: s.name.clone(),
                    program: p.clone(),
                })?;
                programs.push((p.clone(), section.to_owned()));
            }
            datasources.push(Datasource {
                schema: layout(&s.name, &s.struct_name)?,
                kind: DatasourceKind::Snapshotter { programs },
            });
        }
        for m in &object.mapiters {
            let (key, value) =
                mapiter::key_value_structs(&object.btf, &m.name, &m.map).map_err(|source| GadgetError::MapIter {
                    path: path.clone(),
                    source: Box::new(source),
                })?;
            let meta = metadata.datasources.get(&m.name);
            let schema =
                layout::schema_from_structs(&object.btf, &m.name, &[&key, &value], meta).map_err(|source| {
                    GadgetError::Layout {
                        path: path.clone(),
                        source,
                    }
                })?;
            let flush_on_stop = meta
                .and_then(|d| d.annotations.get(mapiter::FLUSH_ON_STOP))
                .is_some_and(|v| v == "true");
            datasources.push(Datasource {
                schema,
                kind: DatasourceKind::MapIter {
                    map: m.map.clone(),
                    flush_on_stop,
                },
            });
        }
        // Several datasources print into one output: each row names its own.
        if datasources.len() > 1 {
            for d in &mut datasources {
                d.schema = with_datasource_field(&d.schema);
            }
        }
        // gadget.yaml entries the object does not have: warned about (as `rig image build`
        // refuses them), one line each kind, so a stale gadget.yaml still runs.
        let stale_ds: Vec<&str> = metadata
            .datasources
            .keys()
            .filter(|k| !datasources.iter().any(|d| &d.schema.datasource == *k))
            .map(String::as_str)
            .collect();
        if !stale_ds.is_empty() {
            tracing::warn!(object = %path, "gadget.yaml describes {} datasource(s) the object does not declare: {}", stale_ds.len(), layout::name_list(&stale_ds));
        }
        let stale_params: Vec<&str> = metadata
            .params
            .ebpf
            .keys()
            .filter(|k| !object.params.iter().any(|p| &p.var == *k))
            .map(String::as_str)
            .collect();
        if !stale_params.is_empty() {
            tracing::warn!(object = %path, "gadget.yaml describes {} parameter(s) the object has no GADGET_PARAM for: {}", stale_params.len(), layout::name_list(&stale_params));
        }
        let params = params::param_defs(&object, &metadata);
        Ok(Self {
            object,
            metadata,
            datasources,
            params,
        })
    }
}

/// Adds the heap field [`source::DATASOURCE_FIELD`] that the source fills with the datasource's
/// name (hidden in columns output). A gadget field of that name wins, with a warning.
fn with_datasource_field(schema: &Arc<Schema>) -> Arc<Schema> {
    if schema.find(source::DATASOURCE_FIELD).is_some() {
        tracing::warn!(
            datasource = %schema.datasource,
            "the gadget has a field named {0}; rows of this datasource are not labelled with a {0} field",
            source::DATASOURCE_FIELD
        );
        return schema.clone();
    }
    let mut s = (**schema).clone();
    let slot = s.row_size;
    s.row_size += 8;
    let mut field = Field {
        name: source::DATASOURCE_FIELD.to_owned(),
        kind: FieldKind::Str,
        storage: Storage::Heap { slot },
        special: None,
        derived: None,
        hidden: false,
        tags: vec![source::DATASOURCE_TAG.to_owned()],
        annotations: Default::default(),
    };
    field.annotations.insert("columns.hidden".into(), "true".into());
    field
        .annotations
        .insert("description".into(), "the datasource this row comes from".into());
    // Appended: field ids (derivations, `rest`) are indices and must not move.
    s.fields.push(field);
    match s.check() {
        Ok(()) => Arc::new(s),
        Err(e) => {
            tracing::warn!(datasource = %schema.datasource, "cannot add the {} field: {e}", source::DATASOURCE_FIELD);
            schema.clone()
        }
    }
}
