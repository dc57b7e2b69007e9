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
use rig_kernel::input::{escape_control, quote};
use rig_kernel::metadata::MetadataError;
use serde::Deserialize;

use crate::compile::{self, CompileError};
use crate::ebpf::object::{GadgetObject, ObjectError};
use crate::ebpf::{Gadget, GadgetError};
use crate::registry::image::{self, ImageError};
use crate::registry::{ImageOptions, Located, PullPolicy, RegistryError};

/// Why a gadget reference could not be turned into a [`Gadget`].
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Nothing matches the reference.
    #[error(
        "unknown gadget {}{}: not a folder, an object file, a local image or a bundled gadget (bundled: {bundled})",
        quote(.reference, 200),
        .suggestion.as_ref().map(|s| format!(" (did you mean {}?)", escape_control(s))).unwrap_or_default()
    )]
    Unknown {
        /// What the user typed.
        reference: String,
        /// Comma-separated bundled names.
        bundled: String,
        /// The closest bundled or local name, if one is close.
        suggestion: Option<String>,
    },
    /// A short name is not local, not bundled, and could not be pulled.
    #[error(
        "unknown gadget {}: not a folder, an object file, a local image or a bundled gadget ({bundled}), and pulling it failed",
        quote(.reference, 200)
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
    /// A gadget folder with a gadget.yaml but no eBPF program: one of IG's gadgets that its Go
    /// operators implement (`top_process`, `bpfstats`, `top_cpu_throttle`).
    #[error(
        "{gadget} is an IG operator-only gadget (gadget.yaml{operators}, no {source_file}: IG implements it in Go); rig does not implement it natively yet",
        gadget = quote(.gadget, 80),
        operators = if .operators.is_empty() { String::new() } else { format!(" configures IG's {} operator", escape_control(.operators)) },
        source_file = escape_control(.source_file)
    )]
    OperatorOnly {
        /// The gadget's folder name.
        gadget: String,
        /// The IG operators its gadget.yaml configures, comma-separated.
        operators: String,
        /// The program file that is missing.
        source_file: String,
    },
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
    let bytes = read(path)?;
    // A gadget.yaml is text: invalid UTF-8 is refused, not silently replaced.
    let text = std::str::from_utf8(&bytes).map_err(|e| ResolveError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        ),
    })?;
    Ok(GadgetMetadata::parse(text, &path.display().to_string())?)
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
    if !dir.join(source).exists() && meta_path.is_file() {
        return Err(operator_only(dir, &meta_path, source));
    }
    let obj = compile::compile(dir, source)?;
    let object = GadgetObject::parse(read(&obj)?, &dir.join(source).display().to_string())?;
    Ok(Gadget::new(object, metadata)?)
}

/// The refusal of a folder that has a gadget.yaml and no program, naming the IG operators
/// (`operator:` keys) the gadget.yaml configures.
fn operator_only(dir: &Path, meta_path: &Path, source: &str) -> ResolveError {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Operators {
        operator: std::collections::BTreeMap<String, serde_yaml::Value>,
    }
    let operators = fs::read(meta_path)
        .ok()
        .and_then(|b| crate::compile::yaml_from_slice::<Operators>(&b).ok())
        .map(|o| o.operator.into_keys().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let gadget = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    ResolveError::OperatorOnly {
        gadget,
        operators,
        source_file: source.to_owned(),
    }
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
    if !looks_like_registry_ref(reference) && !bundled.contains(&reference) && opts.pull != PullPolicy::Always {
        // A bare name (`trace_exex`) goes to the network only if it is in the local store:
        // a typo gets a suggestion, not a DNS error from the default registry.
        let local = local_names(opts);
        if !local.iter().any(|n| n == reference) {
            let known = bundled.iter().map(|b| b.to_string()).chain(local);
            return Err(ResolveError::Unknown {
                reference: reference.to_owned(),
                bundled: bundled.join(", "),
                suggestion: closest(reference, known),
            });
        }
    }
    let located = match crate::registry::locate(reference, opts, |n| bundled.contains(&n)) {
        Ok(l) => l,
        // Not a reference at all (`./missing/`, `Foo`): say what was tried.
        Err(RegistryError::Reference(_)) => {
            return Err(ResolveError::Unknown {
                reference: reference.to_owned(),
                bundled: bundled.join(", "),
                suggestion: closest(reference, bundled.iter().map(|b| b.to_string())),
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
                suggestion: None,
            }),
        },
    }
}

/// Whether `reference` names a registry image rather than a bare gadget name: it has a host,
/// a path, a tag or a digest (`/`, `.`, `:` or `@`).
fn looks_like_registry_ref(reference: &str) -> bool {
    reference.contains(['/', ':', '.', '@'])
}

/// The short names of the images in the local store (none if the store cannot be read).
fn local_names(opts: &ImageOptions) -> Vec<String> {
    let entries = opts.open_store().and_then(|s| s.entries());
    let mut names: Vec<String> = entries
        .into_iter()
        .flatten()
        .flat_map(|e| {
            let short = e.reference.short();
            let bare = short.split_once(':').map(|(n, _)| n.to_owned());
            [Some(short), bare].into_iter().flatten()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The known name closest to `typed` by edit distance, if it is close enough to be a typo.
fn closest(typed: &str, known: impl Iterator<Item = String>) -> Option<String> {
    if typed.chars().count() > 200 {
        return None;
    }
    let limit = (typed.chars().count() / 3).max(2);
    known
        .map(|k| (edit_distance(typed, &k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance between two short strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_name() {
        let known = || {
            ["trace_exec", "trace_open", "trace_signal"]
                .map(String::from)
                .into_iter()
        };
        assert_eq!(closest("trace_exex", known()).as_deref(), Some("trace_exec"));
        assert_eq!(closest("trace_opne", known()).as_deref(), Some("trace_open"));
        assert_eq!(closest("something_else", known()), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(looks_like_registry_ref("localhost:5000/g/x"));
        assert!(!looks_like_registry_ref("trace_exec"));
    }
}
