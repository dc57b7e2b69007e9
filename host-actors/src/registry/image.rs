//! Gadget images: building one from a gadget folder, and reading one back out of the store.
//!
//! A build compiles the folder's eBPF source (what `build.yaml` names, `program.bpf.c` by
//! default), checks `gadget.yaml` against the object's BTF — every datasource, field and
//! parameter it mentions must exist — and writes Inspektor Gadget's layout: an image index with
//! one manifest for this architecture, the manifest's `artifactType` set to
//! `application/vnd.gadget.v1+binary`, the raw gadget.yaml as config, the ELF (and an optional
//! WASM module) as layers, and the `org.opencontainers.image.*` annotations on the index, the
//! manifest and the config descriptor. `created` honours `SOURCE_DATE_EPOCH`, so a build is
//! reproducible byte for byte. WASM operator components are packaged the same way under their
//! own artifact type ([`oci::ARTIFACT_OPERATOR`]). Reading picks the manifest for this machine's
//! architecture and checks every blob's digest on the way.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rig_kernel::GadgetMetadata;
use rig_kernel::input::{YamlTooDeep, check_yaml_depth, escape_control, quote, shorten};
use rig_kernel::metadata::MetadataError;

use super::metadata;
use super::oci::{self, Descriptor, Index, Manifest, Platform};
use super::reference::{Digest, ImageRef};
use super::store::{Store, StoreError};
use crate::compile::{self, CompileError};
use crate::ebpf::object::{GadgetObject, ObjectError};
use crate::ebpf::{Gadget, GadgetError};
use crate::gadget::BuildYaml;

/// Why an image could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file of the gadget could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// build.yaml is malformed.
    #[error("{path}: {source}")]
    BuildYaml {
        /// The file.
        path: PathBuf,
        /// The YAML error.
        #[source]
        source: serde_yaml::Error,
    },
    /// The eBPF source did not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// gadget.yaml is malformed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The object is malformed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The object and its metadata do not hold together.
    #[error(transparent)]
    Gadget(#[from] GadgetError),
    /// gadget.yaml names things the object does not have.
    #[error("{path} does not match the eBPF object (run with --update-metadata to fix it):\n  {}", .problems.join("\n  "))]
    Validation {
        /// The gadget.yaml.
        path: PathBuf,
        /// One line per mismatch.
        problems: Vec<String>,
    },
    /// gadget.yaml could not be rewritten.
    #[error("{path}: cannot write updated metadata: {source}")]
    MetadataWrite {
        /// The file.
        path: PathBuf,
        /// The YAML error.
        #[source]
        source: serde_yaml::Error,
    },
    /// `SOURCE_DATE_EPOCH` is not a number of seconds.
    #[error("SOURCE_DATE_EPOCH={0} is not a number of seconds since 1970")]
    SourceDateEpoch(String),
    /// An image document is not the JSON it should be.
    #[error("image {reference}: malformed {what}: {source}")]
    Malformed {
        /// The image.
        reference: String,
        /// Which document.
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The image has no manifest for this architecture.
    #[error("image {reference} has no manifest for linux/{arch} (it has: {available})")]
    NoPlatform {
        /// The image.
        reference: String,
        /// This machine.
        arch: String,
        /// What it has.
        available: String,
    },
    /// The image is not of the expected kind.
    #[error("image {reference} is {}, not a {expected}", artifact_name(.found.as_deref()))]
    WrongArtifact {
        /// The image.
        reference: String,
        /// Its artifact type, if it has one.
        found: Option<String>,
        /// What was wanted.
        expected: &'static str,
    },
    /// A required layer is missing.
    #[error("image {reference} has no {media_type} layer")]
    NoLayer {
        /// The image.
        reference: String,
        /// The layer type.
        media_type: &'static str,
    },
    /// A blob of the image is missing, tampered with or not the size its descriptor says.
    #[error("image {reference}: {source}")]
    Blob {
        /// The image.
        reference: String,
        /// What the store found.
        #[source]
        source: StoreError,
    },
    /// The config blob is not UTF-8 text.
    #[error("image {reference}: config blob {digest} is not UTF-8 text ({source})")]
    ConfigNotUtf8 {
        /// The image.
        reference: String,
        /// The config blob.
        digest: String,
        /// Where the first bad byte is.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The config blob's YAML nests too deep to parse safely.
    #[error("image {reference}: config blob {digest}: {source}")]
    ConfigTooDeep {
        /// The image.
        reference: String,
        /// The config blob.
        digest: String,
        /// Where the limit was passed.
        #[source]
        source: YamlTooDeep,
    },
}

/// How an artifact type reads in a message: quoted, or "an image without artifact type".
fn artifact_name(found: Option<&str>) -> String {
    match found {
        Some(t) => format!("a {} artifact", quote(t, 80)),
        None => "an image without artifact type".to_owned(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Options of a build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// build.yaml to use instead of `<dir>/build.yaml`.
    pub build_file: Option<PathBuf>,
    /// Generate or update gadget.yaml from the object instead of refusing mismatches.
    pub update_metadata: bool,
    /// Skip the gadget.yaml check.
    pub no_validate: bool,
    /// Extra annotations on the index and manifest.
    pub annotations: BTreeMap<String, String>,
}

/// The blobs of an image, ready to be stored or pushed.
#[derive(Debug, Clone)]
pub struct Package {
    /// The image's name (gadget.yaml `name`, else the folder name).
    pub name: String,
    /// The image index (what tags point to).
    pub index: Descriptor,
    /// Every blob: index, manifest, config, layers.
    pub blobs: Vec<Vec<u8>>,
}

/// RFC 3339 time of `SOURCE_DATE_EPOCH`, or of now.
pub fn created_time() -> Result<String, ImageError> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse::<i64>()
            .map_err(|_| ImageError::SourceDateEpoch(quote(&s, 40)))?,
        _ => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    Ok(rfc3339(secs))
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn read(path: &Path) -> Result<Vec<u8>, ImageError> {
    fs::read(path).map_err(io(path))
}

/// The image annotations IG derives from gadget.yaml.
fn annotations(
    meta: &GadgetMetadata,
    name: &str,
    created: &str,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    // gadget.yaml's own annotations first: the standard keys below win.
    a.extend(meta.annotations.clone());
    a.insert(oci::ANN_TITLE.to_owned(), name.to_owned());
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            a.insert(k.to_owned(), v.clone());
        }
    };
    put(oci::ANN_DESCRIPTION, Some(&meta.description));
    put(oci::ANN_URL, meta.homepage_url.as_ref());
    put(oci::ANN_DOCUMENTATION, meta.documentation_url.as_ref());
    put(oci::ANN_SOURCE, meta.source_url.as_ref());
    a.insert(oci::ANN_CREATED.to_owned(), created.to_owned());
    a.extend(extra.clone());
    a
}

/// Assembles manifest and index around a config and layers.
fn assemble(
    artifact_type: &str,
    config: (&str, Vec<u8>),
    layers: Vec<(&str, Vec<u8>)>,
    annotations: BTreeMap<String, String>,
    name: String,
) -> Package {
    let mut config_desc = Descriptor::of(config.0, &config.1);
    config_desc.annotations = annotations.clone();
    let mut blobs = vec![config.1];
    let mut layer_descs = Vec::new();
    for (media, data) in layers {
        layer_descs.push(Descriptor::of(media, &data));
        blobs.push(data);
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(oci::MEDIA_MANIFEST.to_owned()),
        artifact_type: Some(artifact_type.to_owned()),
        config: config_desc,
        layers: layer_descs,
        annotations: annotations.clone(),
    };
    let manifest_json = oci::to_json(&manifest);
    let mut manifest_desc = Descriptor::of(oci::MEDIA_MANIFEST, &manifest_json);
    manifest_desc.artifact_type = Some(artifact_type.to_owned());
    manifest_desc.platform = Some(Platform::host());
    blobs.push(manifest_json);
    let index = Index {
        manifests: vec![manifest_desc],
        annotations,
        ..Index::new()
    };
    let index_json = oci::to_json(&index);
    let index_desc = Descriptor::of(oci::MEDIA_INDEX, &index_json);
    blobs.push(index_json);
    Package {
        name,
        index: index_desc,
        blobs,
    }
}

/// Compiles and packages a gadget folder (nothing is stored yet).
pub fn package_gadget(dir: &Path, opts: &BuildOptions) -> Result<Package, ImageError> {
    let build_path = opts.build_file.clone().unwrap_or_else(|| dir.join("build.yaml"));
    let build: BuildYaml = if build_path.is_file() {
        crate::compile::yaml_from_slice(&read(&build_path)?).map_err(|source| ImageError::BuildYaml {
            path: build_path.clone(),
            source,
        })?
    } else {
        BuildYaml::default()
    };
    let source = build.ebpfsource.as_deref().unwrap_or("program.bpf.c");
    let meta_path = dir.join(build.metadata.as_deref().unwrap_or("gadget.yaml"));
    let obj_path = compile::compile(dir, source)?;
    let elf = read(&obj_path)?;
    let object = GadgetObject::parse(elf.clone(), &dir.join(source).display().to_string())?;
    let mut meta_text = if meta_path.is_file() {
        Some(read(&meta_path)?)
    } else {
        None
    };
    if opts.update_metadata {
        let updated = metadata::update(meta_text.as_deref(), &object, &dir_name(dir)).map_err(|source| {
            ImageError::MetadataWrite {
                path: meta_path.clone(),
                source,
            }
        })?;
        fs::write(&meta_path, &updated).map_err(io(&meta_path))?;
        tracing::info!(path = %meta_path.display(), "gadget.yaml updated from the object");
        meta_text = Some(updated);
    }
    let meta = match &meta_text {
        Some(t) => GadgetMetadata::parse(&String::from_utf8_lossy(t), &meta_path.display().to_string())?,
        None => GadgetMetadata::default(),
    };
    if !opts.no_validate {
        let problems = metadata::validate(&meta, &object);
        if !problems.is_empty() {
            return Err(ImageError::Validation {
                path: meta_path,
                problems,
            });
        }
        match Gadget::new(object, meta.clone()) {
            Ok(_) | Err(GadgetError::Unsupported { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut layers = vec![(oci::MEDIA_EBPF, elf)];
    if let Some(wasm) = &build.wasm {
        layers.push((oci::MEDIA_WASM, read(&dir.join(wasm))?));
    }
    let name = if meta.name.is_empty() {
        dir_name(dir)
    } else {
        meta.name.clone()
    };
    let annotations = annotations(&meta, &name, &created_time()?, &opts.annotations);
    let config = match meta_text {
        Some(t) => (oci::MEDIA_GADGET_CONFIG, t),
        None => (oci::MEDIA_EMPTY, b"{}".to_vec()),
    };
    Ok(assemble(oci::ARTIFACT_GADGET, config, layers, annotations, name))
}

/// Packages a WASM operator component; `operator.yaml` beside it becomes the config. The
/// image's name is operator.yaml's `name`, else the name stamped into the component
/// ([`crate::authoring`]), else the file stem.
pub fn package_operator(wasm: &Path, opts: &BuildOptions) -> Result<Package, ImageError> {
    let component = read(wasm)?;
    let yaml_path = wasm.with_file_name("operator.yaml");
    let config = if yaml_path.is_file() {
        (oci::MEDIA_OPERATOR_CONFIG, read(&yaml_path)?)
    } else {
        (oci::MEDIA_EMPTY, b"{}".to_vec())
    };
    let meta: GadgetMetadata = if config.0 == oci::MEDIA_OPERATOR_CONFIG {
        GadgetMetadata::parse(&String::from_utf8_lossy(&config.1), &yaml_path.display().to_string())?
    } else {
        GadgetMetadata::default()
    };
    // operator.yaml's name, else the name `rig operator build` stamped in, else the file stem.
    let stamped = crate::authoring::embedded_name(&component).ok().flatten();
    let name = match (meta.name.is_empty(), stamped) {
        (false, _) => meta.name.clone(),
        (true, Some(stamped)) => stamped.to_string(),
        (true, None) => wasm
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let annotations = annotations(&meta, &name, &created_time()?, &opts.annotations);
    Ok(assemble(
        oci::ARTIFACT_OPERATOR,
        config,
        vec![(oci::MEDIA_OPERATOR_COMPONENT, component)],
        annotations,
        name,
    ))
}

fn dir_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "gadget".to_owned())
}

/// Writes a package into the store and tags it, all under the store lock.
pub fn commit(store: &Store, package: &Package, tags: &[ImageRef]) -> Result<Digest, StoreError> {
    let lock = store.lock()?;
    for b in &package.blobs {
        store.write_blob(&lock, b)?;
    }
    for t in tags {
        store.set_tag(&lock, t, &package.index)?;
    }
    Ok(Digest::of(package.blobs.last().map_or(&[][..], Vec::as_slice)))
}

/// A hash of a bundled gadget's sources as this binary carries them (see [`build_bundled`]).
pub fn bundled_sources_hash(name: &str) -> Result<Option<String>, ImageError> {
    let Some(dir) = compile::bundled_dir(name)? else {
        return Ok(None);
    };
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    let mut files = Vec::new();
    collect_files(&dir, &mut files);
    collect_files(&compile::cache_dir().join("include"), &mut files);
    files.sort();
    for f in files {
        h.update(f.to_string_lossy().as_bytes());
        h.update(read(&f)?);
    }
    Ok(Some(hex::encode(&h.finalize()[..16])))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "c" || x == "h" || x == "yaml") {
            out.push(p);
        }
    }
}

/// Builds a bundled gadget into the store as `<name>:latest` (short name, default registry),
/// annotated with the hash of its sources so a newer binary notices a stale image.
pub fn build_bundled(store: &Store, name: &str) -> Result<Option<(ImageRef, Digest)>, ImageError> {
    let Some(dir) = compile::bundled_dir(name)? else {
        return Ok(None);
    };
    // Compile first: it writes the headers the source hash covers.
    compile::compile(&dir, "program.bpf.c")?;
    let mut opts = BuildOptions::default();
    if let Some(h) = bundled_sources_hash(name)? {
        opts.annotations.insert(oci::ANN_BUNDLED_SOURCES.to_owned(), h);
    }
    let package = package_gadget(&dir, &opts)?;
    let tag = ImageRef::parse(name).map_err(|_| ImageError::WrongArtifact {
        reference: name.to_owned(),
        found: None,
        expected: "valid image name",
    })?;
    let digest = commit(store, &package, std::slice::from_ref(&tag))?;
    Ok(Some((tag, digest)))
}

/// An image read from the store: its manifest for this machine and the blobs it names.
#[derive(Debug, Clone)]
pub struct ImageContent {
    /// What the tag points to (index or manifest).
    pub digest: Digest,
    /// The manifest for this architecture.
    pub manifest: Manifest,
    /// The config blob.
    pub config: Vec<u8>,
    /// The layers, in order.
    pub layers: Vec<(Descriptor, Vec<u8>)>,
}

impl ImageContent {
    /// The first layer of `media_type`.
    pub fn layer(&self, media_type: &str) -> Option<&[u8]> {
        self.layers
            .iter()
            .find(|(d, _)| d.media_type == media_type)
            .map(|(_, b)| b.as_slice())
    }

    /// The image's annotations (manifest's).
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.manifest.annotations
    }
}

/// Picks the manifest for this machine out of an index or manifest descriptor.
pub fn platform_manifest(store: &Store, reference: &str, desc: &Descriptor) -> Result<Manifest, ImageError> {
    let blob = |d: &Descriptor| {
        store.read(d).map_err(|source| ImageError::Blob {
            reference: reference.to_owned(),
            source,
        })
    };
    let malformed = |what| {
        let reference = reference.to_owned();
        move |source| ImageError::Malformed {
            reference,
            what,
            source,
        }
    };
    let manifest_desc = if desc.media_type == oci::MEDIA_INDEX {
        let index: Index = serde_json::from_slice(&blob(desc)?).map_err(malformed("image index"))?;
        let arch = oci::host_arch();
        index
            .manifests
            .iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_none_or(|p| p.architecture == arch && p.os == "linux")
            })
            .cloned()
            .ok_or_else(|| ImageError::NoPlatform {
                reference: reference.to_owned(),
                arch: arch.to_owned(),
                available: index
                    .manifests
                    .iter()
                    .filter_map(|m| m.platform.as_ref().map(|p| format!("{}/{}", p.os, p.architecture)))
                    .map(|p| escape_control(&p).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
                    .chars()
                    .take(200)
                    .collect(),
            })?
    } else {
        desc.clone()
    };
    serde_json::from_slice(&blob(&manifest_desc)?).map_err(malformed("manifest"))
}

/// Reads an image out of the store, checking every digest.
pub fn open(store: &Store, reference: &str, desc: &Descriptor) -> Result<ImageContent, ImageError> {
    let manifest = platform_manifest(store, reference, desc)?;
    let blob = |d: &Descriptor| {
        store.read(d).map_err(|source| ImageError::Blob {
            reference: reference.to_owned(),
            source,
        })
    };
    let config = blob(&manifest.config)?;
    let mut layers = Vec::new();
    for l in &manifest.layers {
        layers.push((l.clone(), blob(l)?));
    }
    Ok(ImageContent {
        digest: super::store::parse_digest(&desc.digest, store.root())?,
        manifest,
        config,
        layers,
    })
}

/// The config blob as YAML text rig may parse: UTF-8, and nesting no deeper than
/// [`rig_kernel::input::MAX_YAML_DEPTH`] (libyaml is quadratic in depth).
pub fn config_text<'a>(content: &'a ImageContent, reference: &str) -> Result<&'a str, ImageError> {
    let digest = || shorten(&content.manifest.config.digest, 80).into_owned();
    let text = std::str::from_utf8(&content.config).map_err(|source| ImageError::ConfigNotUtf8 {
        reference: reference.to_owned(),
        digest: digest(),
        source,
    })?;
    check_yaml_depth(text).map_err(|source| ImageError::ConfigTooDeep {
        reference: reference.to_owned(),
        digest: digest(),
        source,
    })?;
    Ok(text)
}

/// Turns a gadget image into a loadable [`Gadget`].
pub fn gadget(content: &ImageContent, reference: &str) -> Result<Gadget, ImageError> {
    if content.manifest.artifact_type.as_deref() != Some(oci::ARTIFACT_GADGET)
        && content.layer(oci::MEDIA_EBPF).is_none()
    {
        return Err(ImageError::WrongArtifact {
            reference: reference.to_owned(),
            found: content.manifest.artifact_type.clone(),
            expected: oci::ARTIFACT_GADGET,
        });
    }
    let elf = content.layer(oci::MEDIA_EBPF).ok_or_else(|| ImageError::NoLayer {
        reference: reference.to_owned(),
        media_type: oci::MEDIA_EBPF,
    })?;
    let meta = if content.manifest.config.media_type == oci::MEDIA_GADGET_CONFIG {
        GadgetMetadata::parse(config_text(content, reference)?, &format!("{reference} (gadget.yaml)"))?
    } else {
        GadgetMetadata::default()
    };
    let object = GadgetObject::parse(elf.to_vec(), reference)?;
    Ok(Gadget::new(object, meta)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn operator_images_have_their_own_artifact_type() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("redact.wasm");
        fs::write(&wasm, b"\0asm\x0d\0\x01\0").unwrap();
        let p = package_operator(&wasm, &BuildOptions::default()).unwrap();
        let manifest: Manifest = serde_json::from_slice(&p.blobs[p.blobs.len() - 2]).unwrap();
        assert_eq!(manifest.artifact_type.as_deref(), Some(oci::ARTIFACT_OPERATOR));
        assert_eq!(manifest.layers[0].media_type, oci::MEDIA_OPERATOR_COMPONENT);
        assert_eq!(manifest.config.media_type, oci::MEDIA_EMPTY);
        assert_eq!(manifest.annotations[oci::ANN_TITLE], "redact");
    }
}
