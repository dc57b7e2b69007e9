//! Image references: what a user types (`trace_open`, `localhost:5000/g/trace_open:1.0`,
//! `ghcr.io/x/y@sha256:…`) turned into a typed [`ImageRef`] once, at the edge.
//!
//! The rules follow Docker's: the first path component is a registry host when it contains a
//! `.` or a `:`, or is `localhost`; otherwise the name is relative to rig's *default registry*,
//! `ghcr.io/rig-gadgets` unless `$RIG_DEFAULT_REGISTRY` says otherwise. So `trace_open` is
//! `ghcr.io/rig-gadgets/trace_open:latest`, the same way Inspektor Gadget expands `trace_open` to
//! `ghcr.io/inspektor-gadget/gadget/trace_open:latest`. A reference without tag or digest gets the
//! tag `latest`. The local store records the full form, and listings show the short form again.

use std::fmt;
use std::str::FromStr;

use rig_kernel::input::quote;

/// The default registry (host plus path prefix) when `$RIG_DEFAULT_REGISTRY` is unset.
pub const DEFAULT_REGISTRY: &str = "ghcr.io/rig-gadgets";

/// The default registry prefix: `$RIG_DEFAULT_REGISTRY`, else [`DEFAULT_REGISTRY`].
pub fn default_registry() -> String {
    std::env::var("RIG_DEFAULT_REGISTRY")
        .ok()
        .map(|s| s.trim_end_matches('/').to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_REGISTRY.to_owned())
}

/// Whether `r` only names rig's placeholder default registry because no `$RIG_DEFAULT_REGISTRY`
/// is set: such a name is local-only, and pulling it would only meet a DNS error for a made-up host.
pub fn unconfigured_default(r: &ImageRef) -> bool {
    let configured = std::env::var("RIG_DEFAULT_REGISTRY").is_ok_and(|s| !s.trim().trim_end_matches('/').is_empty());
    !configured && r.name().starts_with(&format!("{DEFAULT_REGISTRY}/"))
}

/// What to say when a short name is nowhere local and no registry is configured: how to build it,
/// run it from source, or point rig at a registry (Inspektor Gadget's published images included).
pub fn no_registry_hint(r: &ImageRef) -> String {
    let short = r.short();
    let name = r.repository.rsplit('/').next().unwrap_or(&r.repository);
    let tag = r.tag.as_deref().unwrap_or("latest");
    format!(
        "{short} is not in the local store and names no registry, and no default registry is configured: \
         build it (`rig image build DIR -t {short}`), run its folder (`rig run ./DIR`), name a registry \
         (`rig run ghcr.io/inspektor-gadget/gadget/{name}:{tag}` for Inspektor Gadget's images), or set \
         RIG_DEFAULT_REGISTRY (e.g. ghcr.io/inspektor-gadget/gadget)"
    )
}

/// Why a reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Empty string.
    #[error("empty image reference")]
    Empty,
    /// A character or component that references cannot have.
    #[error("invalid image reference {reference}: {why}")]
    Invalid {
        /// What was given, quoted, escaped and shortened.
        reference: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// A content digest, `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        use sha2::{Digest as _, Sha256};
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(data))))
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The full `sha256:…` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cosign signature tag for this digest: `sha256-<hex>.sig`.
    pub fn signature_tag(&self) -> String {
        format!("sha256-{}.sig", self.hex())
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| ReferenceError::Invalid {
            reference: quote(s, 80),
            why: "digests must start with sha256:",
        })?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(ReferenceError::Invalid {
                reference: quote(s, 80),
                why: "a sha256 digest has 64 lower-case hex digits",
            });
        }
        Ok(Digest(s.to_owned()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed image reference: registry host, repository path, and a tag or a digest (or both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host (with port), e.g. `localhost:5000`.
    pub registry: String,
    /// Repository path, e.g. `g/trace_open`.
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Digest, when pinned.
    pub digest: Option<Digest>,
}

fn is_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn valid_path_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl ImageRef {
    /// Parses `s`, expanding short names against the default registry.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        Self::parse_with(s, &default_registry())
    }

    /// Parses `s`, expanding short names against `default` (`host[/prefix]`).
    pub fn parse_with(s: &str, default: &str) -> Result<Self, ReferenceError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let s = s.strip_prefix("oci://").unwrap_or(s);
        let invalid = |why| ReferenceError::Invalid {
            reference: quote(s, 80),
            why,
        };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(invalid("a tag has at most 128 characters of [A-Za-z0-9_.-]"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if is_host(first) => (first.to_owned(), path.to_owned()),
            _ => {
                let (host, prefix) = default.split_once('/').unwrap_or((default, ""));
                let repo = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                (host.to_owned(), repo)
            }
        };
        if registry.is_empty() || registry.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(invalid("bad registry host"));
        }
        if !repository.split('/').all(valid_path_component) {
            return Err(invalid(
                "repository components are lower-case letters, digits, '.', '_' or '-'",
            ));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest (cosign's `docker-reference`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        ImageRef {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to `digest` (tag dropped).
    pub fn with_digest(&self, digest: Digest) -> Self {
        ImageRef {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The short form for display: the part after the default registry prefix, if it is there.
    pub fn short(&self) -> String {
        let full = self.to_string();
        let default = default_registry();
        full.strip_prefix(&format!("{default}/"))
            .map(str::to_owned)
            .unwrap_or(full)
    }

    /// Converts to oci-client's reference type.
    pub fn to_oci(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (_, Some(d)) => {
                oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), d.to_string())
            }
            (Some(t), None) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), t.clone())
            }
            (None, None) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), "latest".into())
            }
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "ghcr.io/rig-gadgets";

    #[test]
    fn short_names_expand_to_the_default_registry() {
        let r = ImageRef::parse_with("trace_open", D).unwrap();
        assert_eq!(r.to_string(), "ghcr.io/rig-gadgets/trace_open:latest");
        assert_eq!(r.registry, "ghcr.io");
        assert_eq!(r.repository, "rig-gadgets/trace_open");
        let r = ImageRef::parse_with("trace_open:1.0", "localhost:5000").unwrap();
        assert_eq!(r.to_string(), "localhost:5000/trace_open:1.0");
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        let r = ImageRef::parse_with("localhost:5000/g/trace_open:1.0", D).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost:5000", "g/trace_open")
        );
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse_with(&format!("127.0.0.1:5000/x@{d}"), D).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.unwrap().as_str(), d);
        let r = ImageRef::parse_with("localhost/x", D).unwrap();
        assert_eq!(r.to_string(), "localhost/x:latest");
        assert_eq!(
            ImageRef::parse_with("oci://localhost:5000/ops/redact:1.0", D)
                .unwrap()
                .to_string(),
            "localhost:5000/ops/redact:1.0"
        );
    }

    #[test]
    fn bad_references_are_refused() {
        assert!(ImageRef::parse_with("", D).is_err());
        assert!(ImageRef::parse_with("UPPER", D).is_err());
        assert!(ImageRef::parse_with("x@sha256:123", D).is_err());
        assert!(ImageRef::parse_with("x:bad tag", D).is_err());
        assert!(ImageRef::parse_with("./dir/", D).is_err());
    }

    #[test]
    fn signature_tags() {
        let d = Digest::of(b"x");
        assert_eq!(d.signature_tag(), format!("sha256-{}.sig", d.hex()));
    }
}
