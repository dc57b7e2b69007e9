//! The registry actor: gadget images in a local OCI store, moved to and from OCI registries,
//! signed and verified, and admitted by policy before anything runs.
//!
//! [`reference`] parses what users type into [`ImageRef`]s; [`store`] is the local OCI image
//! layout (locked, garbage-collected); [`image`] builds images with Inspektor Gadget's media
//! types and reads them back; [`remote`] pushes and pulls with oci-client; [`sign`] makes and
//! checks cosign signatures; [`policy`] is `--allowed-gadgets`; [`export`] moves layouts as
//! tarballs. [`locate`] ties them together for `rig run`: local store first, then a bundled
//! gadget of that name, then the registry — as the pull policy allows — with the allow-list and
//! signature checks applied to whatever is found, before it is loaded.

pub mod export;
pub mod image;
pub mod metadata;
pub mod oci;
pub mod policy;
pub mod reference;
pub mod remote;
pub mod sign;
pub mod store;

use std::path::PathBuf;
use std::str::FromStr;

pub use image::ImageContent;
pub use reference::{Digest, ImageRef};
pub use remote::RemoteOptions;
pub use store::Store;

use image::ImageError;
use policy::{AllowedGadgets, PolicyError};
use reference::ReferenceError;
use remote::RemoteError;
use sign::SignError;
use store::StoreError;

/// Why an image could not be found, fetched or admitted.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image is unreadable.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The registry failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The signature check failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The allow-list refused it.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The image is not local and pulling is off.
    #[error("image {reference} is not in the local store {store} and pulling is disabled ({why})")]
    PullingDisallowed {
        /// The image.
        reference: String,
        /// The store.
        store: PathBuf,
        /// Which setting.
        why: &'static str,
    },
    /// A short name is not local and there is no registry to pull it from.
    #[error("{hint}")]
    NoRegistry {
        /// What to do instead, naming the image.
        hint: String,
    },
    /// A gadget built from source cannot be verified.
    #[error(
        "{what} {reference} cannot be verified: only signed images run with --verify-image (build and sign an image, or pass --verify-image=false)"
    )]
    NotVerifiable {
        /// What it is (bundled gadget, folder, object file).
        what: &'static str,
        /// What the user typed, quoted and shortened.
        reference: String,
    },
}

/// When `rig run` pulls an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Always pull, even when the store has the tag.
    Always,
    /// Pull only when the store lacks the tag.
    #[default]
    Missing,
    /// Never pull.
    Never,
}

impl FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(PullPolicy::Always),
            "missing" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(format!(
                "unknown pull policy {} (always, missing or never)",
                rig_kernel::input::quote(other, 40)
            )),
        }
    }
}

/// How `rig run` finds and admits images.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// The local store (default [`store::default_path`]).
    pub store: Option<PathBuf>,
    /// When to pull.
    pub pull: PullPolicy,
    /// Offline: never pull, whatever the policy.
    pub disallow_pulling: bool,
    /// Verify signatures: `None` means "when public keys are configured".
    pub verify: Option<bool>,
    /// Trusted public keys (PEM files).
    pub public_keys: Vec<PathBuf>,
    /// `--allowed-gadgets` patterns (empty: all).
    pub allowed_gadgets: Vec<String>,
    /// Registry access.
    pub remote: RemoteOptions,
}

fn env_list(name: &str) -> Vec<String> {
    std::env::var(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl ImageOptions {
    /// Defaults, with `$RIG_STORE`, `$RIG_PUBLIC_KEYS`, `$RIG_ALLOWED_GADGETS` and
    /// `$RIG_INSECURE_REGISTRIES` (comma-separated lists) applied.
    pub fn from_env() -> Self {
        ImageOptions {
            public_keys: env_list("RIG_PUBLIC_KEYS").into_iter().map(PathBuf::from).collect(),
            allowed_gadgets: env_list("RIG_ALLOWED_GADGETS"),
            remote: RemoteOptions::from_env(),
            ..Default::default()
        }
    }

    /// Whether signatures are checked.
    pub fn verifying(&self) -> bool {
        self.verify.unwrap_or(!self.public_keys.is_empty())
    }

    /// Opens the configured store.
    pub fn open_store(&self) -> Result<Store, StoreError> {
        Store::open(self.store.clone().unwrap_or_else(store::default_path))
    }

    /// Refuses a gadget that is not an image (folder, object, bundled source) when the
    /// options demand a verified or allow-listed image.
    pub fn admit_unpackaged(&self, what: &'static str, reference: &str) -> Result<(), RegistryError> {
        if self.verifying() {
            return Err(RegistryError::NotVerifiable {
                what,
                reference: rig_kernel::input::quote(reference, 80),
            });
        }
        let allowed = AllowedGadgets::parse(&self.allowed_gadgets)?;
        if !allowed.is_empty() {
            let as_ref = ImageRef::parse(reference).ok();
            match as_ref {
                Some(r) if what == "bundled gadget" => allowed.check(&r, None)?,
                _ => {
                    return Err(PolicyError::NotAllowed {
                        reference: rig_kernel::input::quote(reference, 80),
                        allowed: self.allowed_gadgets.join(", "),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }
}

/// Where a gadget reference led.
#[derive(Debug)]
pub enum Located {
    /// An image, checked by policy and signature.
    Image {
        /// Its full reference.
        reference: ImageRef,
        /// Its content.
        content: Box<ImageContent>,
    },
    /// No image: the bundled gadget of that name is to be built from source.
    Bundled(String),
}

/// Finds `reference` as `rig run` does: the local store, then a bundled gadget of that name,
/// then the registry (as the pull policy allows); then applies `--allowed-gadgets` and, when
/// verifying, the signature check. `is_bundled` says whether a name is a bundled gadget.
pub fn locate(
    reference: &str,
    opts: &ImageOptions,
    is_bundled: impl Fn(&str) -> bool,
) -> Result<Located, RegistryError> {
    let r = ImageRef::parse(reference)?;
    let store = opts.open_store()?;
    let allowed = AllowedGadgets::parse(&opts.allowed_gadgets)?;
    let bundled = is_bundled(reference).then(|| reference.to_owned());
    let keys = if opts.verifying() {
        let keys = sign::load_public_keys(&opts.public_keys)?;
        if keys.is_empty() {
            return Err(SignError::NoKeys.into());
        }
        Some(keys)
    } else {
        None
    };
    let may_pull = !opts.disallow_pulling && opts.pull != PullPolicy::Never;
    let mut local = if opts.pull == PullPolicy::Always && may_pull {
        None
    } else {
        store.resolve(&r)?
    };
    if let (Some(d), Some(name)) = (&local, &bundled) {
        // An image `--bundled` built from older sources than this binary carries is stale.
        let content = image::open(&store, &r.to_string(), d)?;
        if let Some(h) = content.annotations().get(oci::ANN_BUNDLED_SOURCES)
            && image::bundled_sources_hash(name)?.is_some_and(|now| &now != h)
        {
            tracing::info!(image = %r, "the stored image of this bundled gadget is older than this rig; building from source");
            local = None;
        }
    }
    let desc = match (local, &bundled) {
        (Some(d), _) => {
            if let Some(keys) = &keys {
                sign::verify_local(&store, &r, keys)?;
            }
            d
        }
        (None, Some(name)) if opts.pull != PullPolicy::Always => {
            opts.admit_unpackaged("bundled gadget", name)?;
            return Ok(Located::Bundled(name.clone()));
        }
        (None, _) => {
            if !may_pull {
                return Err(RegistryError::PullingDisallowed {
                    reference: r.to_string(),
                    store: store.root().to_owned(),
                    why: if opts.disallow_pulling {
                        "--disallow-pulling"
                    } else {
                        "--pull never"
                    },
                });
            }
            if reference::unconfigured_default(&r) {
                return Err(RegistryError::NoRegistry {
                    hint: reference::no_registry_hint(&r),
                });
            }
            // Refuse before the network when no digest pattern could still admit it.
            if let Err(e) = allowed.check(&r, None)
                && !opts.allowed_gadgets.iter().any(|p| p.contains('@'))
            {
                return Err(e.into());
            }
            remote::block_on(remote::pull(&store, &r, &opts.remote, keys.as_deref()))?
        }
    };
    let content = image::open(&store, &r.to_string(), &desc)?;
    allowed.check(&r, Some(&content.digest))?;
    Ok(Located::Image {
        reference: r,
        content: Box::new(content),
    })
}

/// Fetches an operator image (what a graph names `oci://…`) as [`locate`] fetches gadgets —
/// local store, then the registry per the pull policy, allow-list and signatures applied — and
/// returns its WASM component.
pub fn operator_component(reference: &str, opts: &ImageOptions) -> Result<Vec<u8>, RegistryError> {
    let wrong = |reference: String, found: Option<String>| -> RegistryError {
        ImageError::WrongArtifact {
            reference,
            found,
            expected: oci::ARTIFACT_OPERATOR,
        }
        .into()
    };
    match locate(reference, opts, |_| false)? {
        Located::Image { reference, content } => content
            .layer(oci::MEDIA_OPERATOR_COMPONENT)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| wrong(reference.to_string(), content.manifest.artifact_type.clone())),
        Located::Bundled(name) => Err(wrong(name, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_images_resolve_to_their_component() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("redact.wasm");
        std::fs::write(&wasm, b"\0asm\x0d\0\x01\0component").unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let package = image::package_operator(&wasm, &image::BuildOptions::default()).unwrap();
        let r = ImageRef::parse("localhost:5000/ops/redact:1.0").unwrap();
        image::commit(&store, &package, std::slice::from_ref(&r)).unwrap();
        let opts = ImageOptions {
            store: Some(store.root().to_owned()),
            disallow_pulling: true,
            ..Default::default()
        };
        let component = operator_component("oci://localhost:5000/ops/redact:1.0", &opts).unwrap();
        assert_eq!(component, std::fs::read(&wasm).unwrap());
        let err = operator_component("localhost:5000/ops/missing:1.0", &opts).unwrap_err();
        assert!(err.to_string().contains("pulling is disabled"), "{err}");
    }
}
