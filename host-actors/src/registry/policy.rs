//! `--allowed-gadgets`: which images may run at all.
//!
//! A pattern is an exact reference (`trace_open:latest`, `localhost:5000/g/x:1.0`), a pinned
//! digest (`name@sha256:…`, matching that repository at that digest whatever the tag), or a
//! prefix ending in `*` (`localhost:5000/g/*`). Patterns are expanded like references, so the
//! short `trace_open:latest` means the default registry's. An empty list allows everything.
//! Checks happen on the full reference and on the digest the tag resolved to, before anything
//! is loaded.

use super::reference::{Digest, ImageRef, ReferenceError, default_registry};

/// An image outside the allowed list.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A pattern does not parse.
    #[error("--allowed-gadgets: bad pattern {pattern}: {source}")]
    Pattern {
        /// The pattern, quoted and shortened.
        pattern: String,
        /// Why.
        #[source]
        source: ReferenceError,
    },
    /// The image is not allowed.
    #[error("image {reference} is not in --allowed-gadgets ({allowed})")]
    NotAllowed {
        /// The image.
        reference: String,
        /// The list.
        allowed: String,
    },
}

#[derive(Debug, Clone)]
enum Pattern {
    Exact(ImageRef),
    Digest { name: String, digest: Digest },
    Prefix(String),
}

/// A parsed `--allowed-gadgets` list.
#[derive(Debug, Clone, Default)]
pub struct AllowedGadgets {
    patterns: Vec<Pattern>,
    text: Vec<String>,
}

impl AllowedGadgets {
    /// Parses the patterns (empty: allow all).
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PolicyError> {
        let mut out = AllowedGadgets::default();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            out.text.push(p.to_owned());
            let err = |source| PolicyError::Pattern {
                pattern: rig_kernel::input::quote(p, 80),
                source,
            };
            if let Some(prefix) = p.strip_suffix('*') {
                let first = prefix.split('/').next().unwrap_or_default();
                let host_like =
                    prefix.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
                let full = if host_like {
                    prefix.to_owned()
                } else {
                    format!("{}/{prefix}", default_registry())
                };
                out.patterns.push(Pattern::Prefix(full));
                continue;
            }
            let r = ImageRef::parse(p).map_err(err)?;
            match (&r.digest, &r.tag) {
                (Some(d), _) => out.patterns.push(Pattern::Digest {
                    name: r.name(),
                    digest: d.clone(),
                }),
                _ => out.patterns.push(Pattern::Exact(r)),
            }
        }
        Ok(out)
    }

    /// Whether the list is empty (everything allowed).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Allows `reference` (resolved to `digest`, when known) or says why not.
    pub fn check(&self, reference: &ImageRef, digest: Option<&Digest>) -> Result<(), PolicyError> {
        if self.patterns.is_empty() {
            return Ok(());
        }
        let full = reference.to_string();
        let digest = digest.or(reference.digest.as_ref());
        let ok = self.patterns.iter().any(|p| match p {
            Pattern::Exact(r) => r.to_string() == full,
            Pattern::Digest { name, digest: want } => *name == reference.name() && digest == Some(want),
            Pattern::Prefix(prefix) => full.starts_with(prefix.as_str()),
        });
        if ok {
            Ok(())
        } else {
            Err(PolicyError::NotAllowed {
                reference: full,
                allowed: self.text.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn exact_digest_and_prefix_patterns() {
        let d = Digest::of(b"image");
        let other = Digest::of(b"other");
        let allowed = AllowedGadgets::parse(&[
            "localhost:5000/g/trace_open:1.0".to_owned(),
            format!("localhost:5000/g/pinned@{d}"),
            "localhost:5000/ok/*".to_owned(),
            "trace_*".to_owned(),
        ])
        .unwrap();
        assert!(allowed.check(&r("localhost:5000/g/trace_open:1.0"), None).is_ok());
        assert!(allowed.check(&r("localhost:5000/g/trace_open:2.0"), None).is_err());
        assert!(allowed.check(&r("localhost:5000/g/pinned:any"), Some(&d)).is_ok());
        assert!(allowed.check(&r("localhost:5000/g/pinned:any"), Some(&other)).is_err());
        assert!(allowed.check(&r("localhost:5000/ok/x:9"), None).is_ok());
        assert!(allowed.check(&r("trace_exec"), None).is_ok());
        let err = allowed.check(&r("localhost:5000/evil/x:1"), None).unwrap_err();
        assert!(err.to_string().contains("not in --allowed-gadgets"), "{err}");
        assert!(AllowedGadgets::parse::<&str>(&[]).unwrap().check(&r("x"), None).is_ok());
    }
}
