//! Finding a gadget from what the user typed: a bundled name, a folder, or an object file.
//!
//! `rig run trace_exec` uses the gadget bundled in the binary; `rig run ./my-gadget/` builds the
//! folder's `program.bpf.c` (or what its `build.yaml` names) on the fly; `rig run x.bpf.o` runs a
//! prebuilt object with the `gadget.yaml` beside it, if any. Every failure names what was tried.

use std::fs;
use std::path::{Path, PathBuf};

use rig_kernel::GadgetMetadata;
use rig_kernel::metadata::MetadataError;
use serde::Deserialize;

use crate::compile::{self, CompileError};
use crate::ebpf::object::{GadgetObject, ObjectError};
use crate::ebpf::{Gadget, GadgetError};

/// Why a gadget reference could not be turned into a [`Gadget`].
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Nothing matches the reference.
    #[error(
        "unknown gadget {reference:?}: not a folder, not an object file, and not a bundled gadget (bundled: {bundled})"
    )]
    Unknown {
        /// What the user typed.
        reference: String,
        /// Comma-separated bundled names.
        bundled: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// build.yaml is malformed.
    #[error("{path}: {source}")]
    BuildYaml {
        /// The file.
        path: String,
        /// The YAML error.
        #[source]
        source: serde_yaml::Error,
    },
    /// The gadget did not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// gadget.yaml is malformed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The object is malformed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The declarations do not hold together.
    #[error(transparent)]
    Gadget(#[from] GadgetError),
}

/// `build.yaml`, as Inspektor Gadget reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BuildYaml {
    /// The eBPF source (default `program.bpf.c`).
    pub ebpfsource: Option<String>,
    /// The metadata file (default `gadget.yaml`).
    pub metadata: Option<String>,
    /// An optional WASM module.
    pub wasm: Option<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, ResolveError> {
    fs::read(path).map_err(|source| ResolveError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn metadata_at(path: &Path) -> Result<GadgetMetadata, ResolveError> {
    if !path.is_file() {
        return Ok(GadgetMetadata::default());
    }
    let text = read(path)?;
    Ok(GadgetMetadata::parse(
        &String::from_utf8_lossy(&text),
        &path.display().to_string(),
    )?)
}

/// Builds (if needed) and reads a gadget folder.
pub fn from_dir(dir: &Path) -> Result<Gadget, ResolveError> {
    let build_path = dir.join("build.yaml");
    let build: BuildYaml = if build_path.is_file() {
        serde_yaml::from_slice(&read(&build_path)?).map_err(|source| ResolveError::BuildYaml {
            path: build_path.display().to_string(),
            source,
        })?
    } else {
        BuildYaml::default()
    };
    let source = build.ebpfsource.as_deref().unwrap_or("program.bpf.c");
    let meta_path = dir.join(build.metadata.as_deref().unwrap_or("gadget.yaml"));
    // Metadata first: a broken gadget.yaml is reported before a long compile.
    let metadata = metadata_at(&meta_path)?;
    let obj = compile::compile(dir, source)?;
    let object = GadgetObject::parse(read(&obj)?, &dir.join(source).display().to_string())?;
    Ok(Gadget::new(object, metadata)?)
}

/// Reads a prebuilt object and the gadget.yaml beside it.
pub fn from_object(path: &Path) -> Result<Gadget, ResolveError> {
    let metadata = metadata_at(&path.with_file_name("gadget.yaml"))?;
    let object = GadgetObject::parse(read(path)?, &path.display().to_string())?;
    Ok(Gadget::new(object, metadata)?)
}

/// Resolves what the user typed after `rig run`.
pub fn resolve(reference: &str) -> Result<Gadget, ResolveError> {
    let path = PathBuf::from(reference);
    if path.is_dir() {
        return from_dir(&path);
    }
    if path.is_file() {
        return from_object(&path);
    }
    if let Some(dir) = compile::bundled_dir(reference)? {
        return from_dir(&dir);
    }
    Err(ResolveError::Unknown {
        reference: reference.to_owned(),
        bundled: compile::bundled().join(", "),
    })
}
