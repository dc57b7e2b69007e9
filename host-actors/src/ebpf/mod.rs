//! The eBPF host actor's machinery: from an object file to batches of events.
//!
//! [`object`] reads what a gadget declares, [`layout`] turns its event structs into schemas,
//! [`params`] turns its `GADGET_PARAM`s into typed flags, [`load`] loads and attaches it with
//! aya (relocating against the small per-object BTF that [`core_btf`] caches), and [`source`]
//! drains it into the graph. [`Gadget`] ties them together for one gadget.

pub mod btf;
pub mod core_btf;
pub mod fingerprint;
pub mod layout;
pub mod load;
pub mod object;
pub mod params;
pub mod source;

use std::sync::Arc;

use rig_kernel::input::escape_control;
use rig_kernel::{GadgetMetadata, Schema};

use layout::LayoutError;
use object::GadgetObject;
use params::ParamDef;

/// How a datasource produces rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasourceKind {
    /// A ring buffer drained continuously.
    Tracer {
        /// The ring buffer map.
        map: String,
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
    /// Datasources, tracers first.
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
    /// The gadget needs a datasource type rig does not run yet.
    #[error("{path}: {what} is not supported yet")]
    Unsupported {
        /// The object.
        path: String,
        /// What.
        what: String,
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
        // Map iterators are not run yet: refuse them, alone or next to a tracer, rather than
        // run the gadget with a datasource missing.
        if let Some(m) = object.mapiters.first() {
            return Err(GadgetError::Unsupported {
                path,
                what: format!("GADGET_MAPITER({}, {})", escape_control(&m.name), escape_control(&m.map)),
            });
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
