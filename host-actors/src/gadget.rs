//! Finding a gadget from what the user typed: a folder, an object file, an image, or a bundled name.
//!
//! `rig run ./my-gadget/` builds the folder's `program.bpf.c` (or what its `build.yaml` names)
//! on the fly; `rig run x.bpf.o` runs a prebuilt object with the `gadget.yaml` beside it, if
//! any. Anything else is an image reference: `rig run trace_exec` looks in the local image store
//! first, then for a gadget of that name bundled in the binary, then pulls from the registry as
//! the pull policy allows (see [`crate::registry::locate`]); an image's eBPF layer and
//! gadget.yaml config become the [`Gadget`]. Every failure names what was tried.

use std::fs;
use std::path::{Path, PathBuf};

use rig_kernel::GadgetMetadata;
use rig_kernel::metadata::MetadataError;
use serde::Deserialize;

use crate::compile::{self, CompileError};
use crate::ebpf::object::{GadgetObject, ObjectError};
use crate::ebpf::{Gadget, GadgetError};
use crate::registry::image::{self, ImageError};
use crate::registry::{ImageOptions, Located, RegistryError};

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
    /// A short name is not local, not bundled, and could not be pulled.
    #[error(
        "unknown gadget {reference:?}: not a folder, an object file, a local image or a bundled gadget ({bundled}), and pulling it failed"
    )]
    NotFound {
        /// What the user typed.
        reference: String,
        /// Comma-separated bundled names.
        bundled: String,
        /// Why the pull failed.
        #[source]
        source: Box<crate::registry::remote::RemoteError>,
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
    /// The image could not be found, fetched or admitted.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The image is not a runnable gadget.
    #[error(transparent)]
    Image(#[from] ImageError),
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
        crate::compile::yaml_from_slice(&read(&build_path)?).map_err(|source| ResolveError::BuildYaml {
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

/// Resolves what the user typed after `rig run`, with the image options of the environment
/// ([`ImageOptions::from_env`]).
pub fn resolve(reference: &str) -> Result<Gadget, ResolveError> {
    resolve_with(reference, &ImageOptions::from_env())
}

/// Resolves what the user typed after `rig run`: a folder, an object file, or an image
/// reference (local store → bundled name → registry, per `opts`).
pub fn resolve_with(reference: &str, opts: &ImageOptions) -> Result<Gadget, ResolveError> {
    let path = PathBuf::from(reference);
    if path.is_dir() {
        opts.admit_unpackaged("gadget folder", reference)?;
        return from_dir(&path);
    }
    if path.is_file() {
        opts.admit_unpackaged("object file", reference)?;
        return from_object(&path);
    }
    let bundled = compile::bundled();
    let located = match crate::registry::locate(reference, opts, |n| bundled.contains(&n)) {
        Ok(l) => l,
        // Not a reference at all (`./missing/`, `Foo`): say what was tried.
        Err(RegistryError::Reference(_)) => {
            return Err(ResolveError::Unknown {
                reference: reference.to_owned(),
                bundled: bundled.join(", "),
            });
        }
        // A short name that is nowhere local: the pull from the default registry failed.
        Err(RegistryError::Remote(source)) if !reference.contains('/') => {
            return Err(ResolveError::NotFound {
                reference: reference.to_owned(),
                bundled: bundled.join(", "),
                source: Box::new(source),
            });
        }
        Err(e) => return Err(e.into()),
    };
    match located {
        Located::Image { reference, content } => {
            tracing::info!(image = %reference, digest = %content.digest, "running image");
            Ok(image::gadget(&content, &reference.to_string())?)
        }
        Located::Bundled(name) => match compile::bundled_dir(&name)? {
            Some(dir) => from_dir(&dir),
            None => Err(ResolveError::Unknown {
                reference: name,
                bundled: bundled.join(", "),
            }),
        },
    }
}
