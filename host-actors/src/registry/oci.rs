//! The OCI JSON documents rig writes and reads — descriptor, image manifest, image index — and
//! the media types of a gadget image, named once here.
//!
//! The media types and annotation keys are Inspektor Gadget's, so IG's tools read rig's images
//! and the other way round. Documents are serialized with a fixed field order and sorted
//! annotation maps, so building the same inputs twice yields the same bytes and digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reference::Digest;

/// An OCI image index.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image manifest.
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The artifact type of a gadget image manifest.
pub const ARTIFACT_GADGET: &str = "application/vnd.gadget.v1+binary";
/// A gadget's config: the raw gadget.yaml.
pub const MEDIA_GADGET_CONFIG: &str = "application/vnd.gadget.config.v1+yaml";
/// The config of an image without metadata.
pub const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The eBPF ELF object layer.
pub const MEDIA_EBPF: &str = "application/vnd.gadget.ebpf.program.v1+binary";
/// The optional WASM program layer.
pub const MEDIA_WASM: &str = "application/vnd.gadget.wasm.program.v1+binary";
/// The optional tarball of minimized BTFs.
pub const MEDIA_BTFGEN: &str = "application/vnd.gadget.btfgen.v1+binary";
/// The artifact type of a rig operator image (a WASM component).
pub const ARTIFACT_OPERATOR: &str = "application/vnd.rig.operator.v1+wasm";
/// The config of an operator image: its operator.yaml, if any.
pub const MEDIA_OPERATOR_CONFIG: &str = "application/vnd.rig.operator.config.v1+yaml";
/// The WASM component layer of an operator image.
pub const MEDIA_OPERATOR_COMPONENT: &str = "application/vnd.rig.operator.component.v1+wasm";
/// A cosign simple-signing payload layer.
pub const MEDIA_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The config media type cosign uses for signature manifests.
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Every layer media type rig accepts when pulling.
pub const LAYER_TYPES: &[&str] = &[
    MEDIA_EBPF,
    MEDIA_WASM,
    MEDIA_BTFGEN,
    MEDIA_OPERATOR_COMPONENT,
    MEDIA_SIMPLESIGNING,
];

/// Tag name annotation in an image layout's `index.json`.
pub const ANN_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Image title (the gadget's name).
pub const ANN_TITLE: &str = "org.opencontainers.image.title";
/// Description.
pub const ANN_DESCRIPTION: &str = "org.opencontainers.image.description";
/// Home page.
pub const ANN_URL: &str = "org.opencontainers.image.url";
/// Documentation.
pub const ANN_DOCUMENTATION: &str = "org.opencontainers.image.documentation";
/// Source code.
pub const ANN_SOURCE: &str = "org.opencontainers.image.source";
/// Creation time, RFC 3339.
pub const ANN_CREATED: &str = "org.opencontainers.image.created";
/// cosign's signature annotation on a simple-signing layer.
pub const ANN_COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// rig: hash of the embedded sources a bundled gadget image was built from.
pub const ANN_BUNDLED_SOURCES: &str = "io.rig.bundled.sources";

/// The platform of a manifest in an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture in Go's words (`amd64`, `arm64`).
    pub architecture: String,
    /// Always `linux`.
    pub os: String,
}

impl Platform {
    /// This machine's platform.
    pub fn host() -> Self {
        Platform {
            architecture: host_arch().to_owned(),
            os: "linux".to_owned(),
        }
    }
}

/// This machine's architecture in OCI's words.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Artifact type of the manifest it points to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Platform of the manifest it points to, in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// A descriptor of `data` with `media_type`.
    pub fn of(media_type: &str, data: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(data).to_string(),
            size: data.len() as u64,
            artifact_type: None,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The digest, typed (`None` if malformed).
    pub fn digest(&self) -> Option<Digest> {
        self.digest.parse().ok()
    }
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_MANIFEST`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// What the artifact is ([`ARTIFACT_GADGET`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (also the shape of a layout's `index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Index {
            schema_version: 2,
            media_type: Some(MEDIA_INDEX.to_owned()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `media_type` is a well-formed `type/subtype` (RFC 6838 restricted names, at most 255
/// characters): what may be sent as a `Content-Type` and printed without escaping.
pub fn valid_media_type(media_type: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    media_type.len() <= 255
        && media_type
            .split_once('/')
            .is_some_and(|(t, sub)| name(t) && name(sub))
}

/// Whether a config of this media type is YAML rig parses (gadget.yaml, operator.yaml).
pub fn is_yaml_config(media_type: &str) -> bool {
    media_type == MEDIA_GADGET_CONFIG || media_type == MEDIA_OPERATOR_CONFIG
}

/// Serializes a document as compact JSON (stable: struct order, sorted maps).
pub fn to_json<T: Serialize>(doc: &T) -> Vec<u8> {
    serde_json::to_vec(doc).expect("OCI documents always serialize")
}
