//! Pushing and pulling gadget images with oci-client, byte for byte.
//!
//! rig moves raw documents, never re-serialized ones, so a pushed image keeps the digests it
//! had in the store and a pulled one the digests it had in the registry. A pull downloads the
//! index, every manifest it lists, and their blobs into memory, checks every digest (and the
//! signature, when verification is on) and only then writes them into the store under its lock:
//! a registry that refuses, lies, or disappears half-way leaves the store as it was.
//!
//! Credentials come from Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, or the file given), which `rig login` writes. Registries listed as
//! insecure — and loopback hosts, as Docker does — are spoken to over plain HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use p256::ecdsa::VerifyingKey;

use super::oci::{self, Descriptor, Index, Manifest};
use super::reference::{Digest, ImageRef};
use super::sign::{self, SignError};
use super::store::{MAX_BLOB_SIZE, Store, StoreError};
use rig_kernel::input::quote;

/// Why talking to a registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The registry refused, failed or could not be reached.
    #[error("{op} {reference}: registry {registry} failed")]
    Registry {
        /// `pulling` or `pushing`.
        op: &'static str,
        /// The image.
        reference: String,
        /// The registry host.
        registry: String,
        /// oci-client's error (with the HTTP or connection error inside).
        #[source]
        source: OciDistributionError,
    },
    /// Content did not match the digest that names it.
    #[error("pulling {reference}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// The image.
        reference: String,
        /// Which document.
        what: &'static str,
        /// What was asked for.
        expected: String,
        /// What arrived.
        actual: Digest,
    },
    /// A document is not what it claims to be.
    #[error("pulling {reference}: malformed {what}: {source}")]
    Malformed {
        /// The image.
        reference: String,
        /// Which document.
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The registry sent a media type rig does not handle.
    #[error("pulling {reference}: unsupported manifest media type {media_type}")]
    MediaType {
        /// The image.
        reference: String,
        /// What it is, quoted and shortened.
        media_type: String,
    },
    /// A descriptor's media type cannot be sent as a Content-Type header.
    #[error("pushing {reference}: descriptor {digest} has an invalid media type {media_type}")]
    BadMediaType {
        /// The image.
        reference: String,
        /// The descriptor's digest.
        digest: String,
        /// The media type, quoted and shortened.
        media_type: String,
    },
    /// A blob is not the size its descriptor says, or larger than rig accepts.
    #[error("pulling {reference}: blob {digest} is {actual} bytes, its descriptor says {expected}")]
    WrongSize {
        /// The image.
        reference: String,
        /// The blob.
        digest: String,
        /// What the descriptor says.
        expected: u64,
        /// What arrived (`more than N` when the transfer was cut off).
        actual: String,
    },
    /// The auth file could not be read or written.
    #[error("{path}: {why}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A short name with no registry configured: nothing to pull from.
    #[error("{hint}")]
    NoRegistry {
        /// What to do instead, naming the image.
        hint: String,
    },
    /// Signature verification failed: nothing was stored.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reports transfer progress (the CLI draws bars; the library only counts).
pub trait Progress: Send + Sync {
    /// A transfer of `total` bytes starts.
    fn begin(&self, what: &str, total: u64);
    /// `n` more bytes moved.
    fn advance(&self, n: u64);
    /// The transfer is over.
    fn end(&self);
}

/// How to reach registries.
#[derive(Clone, Default)]
pub struct RemoteOptions {
    /// Registries (`host:port`) spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Docker-style auth file (default: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub auth_file: Option<PathBuf>,
    /// Where to report progress.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("insecure_registries", &self.insecure_registries)
            .field("auth_file", &self.auth_file)
            .finish_non_exhaustive()
    }
}

impl RemoteOptions {
    /// Options from the environment: `$RIG_INSECURE_REGISTRIES` (comma-separated).
    pub fn from_env() -> Self {
        RemoteOptions {
            insecure_registries: std::env::var("RIG_INSECURE_REGISTRIES")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        }
    }
}

fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// The Docker auth file rig reads and `rig login` writes.
pub fn auth_file_path(opts: &RemoteOptions) -> PathBuf {
    if let Some(p) = &opts.auth_file {
        return p.clone();
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker/config.json")
}

fn read_auth_file(path: &Path) -> Result<serde_json::Value, RemoteError> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data).map_err(|e| RemoteError::AuthFile {
            path: path.to_owned(),
            why: format!("not valid JSON: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(e) => Err(RemoteError::AuthFile {
            path: path.to_owned(),
            why: e.to_string(),
        }),
    }
}

/// Credentials for `registry` from the auth file (anonymous when none).
pub fn credentials(registry: &str, opts: &RemoteOptions) -> Result<RegistryAuth, RemoteError> {
    let path = auth_file_path(opts);
    let config = read_auth_file(&path)?;
    let Some(entry) = config.get("auths").and_then(|a| a.get(registry)) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bad = |why: &str| RemoteError::AuthFile {
        path: path.clone(),
        why: format!("auths.{registry}: {why}"),
    };
    if let (Some(u), Some(p)) = (
        entry.get("username").and_then(|v| v.as_str()),
        entry.get("password").and_then(|v| v.as_str()),
    ) {
        return Ok(RegistryAuth::Basic(u.to_owned(), p.to_owned()));
    }
    let Some(auth) = entry.get("auth").and_then(|v| v.as_str()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("auth is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("auth is not UTF-8"))?;
    let (u, p) = text.split_once(':').ok_or_else(|| bad("auth is not user:password"))?;
    Ok(RegistryAuth::Basic(u.to_owned(), p.to_owned()))
}

/// Stores credentials for `registry` in the auth file (mode 0600), keeping its other entries.
pub fn login(registry: &str, user: &str, password: &str, opts: &RemoteOptions) -> Result<PathBuf, RemoteError> {
    let path = auth_file_path(opts);
    let mut config = read_auth_file(&path)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    if !config.is_object() {
        config = serde_json::json!({});
    }
    let auths = config
        .as_object_mut()
        .expect("object")
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}));
    auths[registry] = serde_json::json!({ "auth": auth });
    write_auth_file(&path, &config)?;
    Ok(path)
}

/// Removes `registry`'s credentials; `false` if there were none.
pub fn logout(registry: &str, opts: &RemoteOptions) -> Result<bool, RemoteError> {
    let path = auth_file_path(opts);
    let mut config = read_auth_file(&path)?;
    let removed = config
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .and_then(|a| a.remove(registry))
        .is_some();
    if removed {
        write_auth_file(&path, &config)?;
    }
    Ok(removed)
}

fn write_auth_file(path: &Path, config: &serde_json::Value) -> Result<(), RemoteError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |e: std::io::Error| RemoteError::AuthFile {
        path: path.to_owned(),
        why: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(&serde_json::to_vec_pretty(config).expect("JSON"))
        .map_err(err)
}

fn client(registry: &str, opts: &RemoteOptions) -> Client {
    // Installing twice is harmless: the second call reports the first provider and is ignored.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut plain = opts.insecure_registries.clone();
    if is_loopback(registry) {
        plain.push(registry.to_owned());
    }
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain),
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    })
}

/// A writer into memory that reports progress and refuses more than `limit` bytes.
struct Sink {
    buf: Vec<u8>,
    limit: u64,
    overflowed: bool,
    progress: Option<Arc<dyn Progress>>,
}

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() as u64 + data.len() as u64 > this.limit {
            this.overflowed = true;
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the blob is larger than its descriptor's {} bytes",
                this.limit
            ))));
        }
        this.buf.extend_from_slice(data);
        if let Some(p) = &this.progress {
            p.advance(data.len() as u64);
        }
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

struct Session<'a> {
    client: Client,
    auth: RegistryAuth,
    reference: &'a ImageRef,
    op: &'static str,
    opts: &'a RemoteOptions,
}

impl Session<'_> {
    fn fail(&self) -> impl FnOnce(OciDistributionError) -> RemoteError + '_ {
        move |source| RemoteError::Registry {
            op: self.op,
            reference: self.reference.to_string(),
            registry: self.reference.registry.clone(),
            source,
        }
    }

    async fn manifest(&self, r: &ImageRef, expected: Option<&str>, what: &'static str) -> Result<Vec<u8>, RemoteError> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&r.to_oci(), &self.auth, &[oci::MEDIA_INDEX, oci::MEDIA_MANIFEST])
            .await
            .map_err(self.fail())?;
        let actual = Digest::of(&bytes);
        if let Some(e) = expected
            && actual.as_str() != e
        {
            return Err(RemoteError::DigestMismatch {
                reference: self.reference.to_string(),
                what,
                expected: e.to_owned(),
                actual,
            });
        }
        Ok(bytes.to_vec())
    }

    async fn blob(&self, desc: &Descriptor) -> Result<Vec<u8>, RemoteError> {
        let wrong_size = |actual: String| RemoteError::WrongSize {
            reference: self.reference.to_string(),
            digest: quote(&desc.digest, 80),
            expected: desc.size,
            actual,
        };
        if desc.size > MAX_BLOB_SIZE {
            return Err(wrong_size(format!("more than rig pulls ({MAX_BLOB_SIZE})")));
        }
        // The size is the registry's word: reserve only a bounded part of it up front.
        let mut sink = Sink {
            buf: Vec::with_capacity(desc.size.min(1 << 20) as usize),
            limit: desc.size,
            overflowed: false,
            progress: self.opts.progress.clone(),
        };
        let pulled = self
            .client
            .pull_blob(&self.reference.to_oci(), desc.digest.as_str(), &mut sink)
            .await;
        if sink.overflowed {
            return Err(wrong_size(format!("more than {}", desc.size)));
        }
        pulled.map_err(self.fail())?;
        if sink.buf.len() as u64 != desc.size {
            return Err(wrong_size(sink.buf.len().to_string()));
        }
        // oci-client checks the digest; check again so nothing unverified reaches the store.
        let actual = Digest::of(&sink.buf);
        if actual.as_str() != desc.digest {
            return Err(RemoteError::DigestMismatch {
                reference: self.reference.to_string(),
                what: "a blob",
                expected: desc.digest.clone(),
                actual,
            });
        }
        Ok(sink.buf)
    }

    /// Fetches a manifest document and its config and layers: (manifest bytes, blobs).
    async fn image_manifest(&self, desc: &Descriptor) -> Result<Vec<Vec<u8>>, RemoteError> {
        let digest: Digest = desc.digest().ok_or_else(|| RemoteError::DigestMismatch {
            reference: self.reference.to_string(),
            what: "a manifest descriptor",
            expected: desc.digest.clone(),
            actual: Digest::of(b""),
        })?;
        let bytes = self
            .manifest(&self.reference.with_digest(digest), Some(&desc.digest), "a manifest")
            .await?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|source| RemoteError::Malformed {
            reference: self.reference.to_string(),
            what: "manifest",
            source,
        })?;
        let mut out = vec![bytes];
        for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
            out.push(self.blob(d).await?);
        }
        Ok(out)
    }
}

fn media_type_of(reference: &ImageRef, bytes: &[u8]) -> Result<String, RemoteError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(bytes).map_err(|source| RemoteError::Malformed {
        reference: reference.to_string(),
        what: "manifest",
        source,
    })?;
    Ok(p.media_type.unwrap_or_else(|| {
        if p.manifests.is_some() {
            oci::MEDIA_INDEX.to_owned()
        } else {
            oci::MEDIA_MANIFEST.to_owned()
        }
    }))
}

/// Pulls `reference` into the store and tags it. With `verify_keys`, the image's cosign
/// signature is fetched and checked first (and kept in the store); an unsigned or untrusted
/// image is refused and nothing is stored.
pub async fn pull(
    store: &Store,
    reference: &ImageRef,
    opts: &RemoteOptions,
    verify_keys: Option<&[VerifyingKey]>,
) -> Result<Descriptor, RemoteError> {
    if super::reference::unconfigured_default(reference) {
        return Err(RemoteError::NoRegistry {
            hint: super::reference::no_registry_hint(reference),
        });
    }
    let s = Session {
        client: client(&reference.registry, opts),
        auth: credentials(&reference.registry, opts)?,
        reference,
        op: "pulling",
        opts,
    };
    tracing::info!(image = %reference, "pulling");
    let top = s
        .manifest(
            reference,
            reference.digest.as_ref().map(Digest::as_str),
            "the image index",
        )
        .await?;
    let media_type = media_type_of(reference, &top)?;
    let top_desc = Descriptor::of(&media_type, &top);
    let mut blobs = Vec::new();
    if media_type == oci::MEDIA_INDEX {
        let index: Index = serde_json::from_slice(&top).map_err(|source| RemoteError::Malformed {
            reference: reference.to_string(),
            what: "image index",
            source,
        })?;
        if let Some(p) = &opts.progress {
            p.begin(&reference.to_string(), 0);
        }
        for m in &index.manifests {
            blobs.extend(s.image_manifest(m).await?);
        }
    } else if media_type == oci::MEDIA_MANIFEST {
        if let Some(p) = &opts.progress {
            p.begin(&reference.to_string(), 0);
        }
        blobs.extend(s.image_manifest(&top_desc).await?);
    } else {
        return Err(RemoteError::MediaType {
            reference: reference.to_string(),
            media_type: quote(&media_type, 80),
        });
    }
    blobs.push(top);
    let digest = Digest::of(&blobs[blobs.len() - 1]);
    let mut sig_blobs = Vec::new();
    let mut sig_manifest = None;
    if let Some(keys) = verify_keys {
        let sig_ref = sign::signature_ref(reference, &digest);
        let sig = match s.manifest(&sig_ref, None, "the signature manifest").await {
            Ok(b) => b,
            Err(RemoteError::Registry {
                source: OciDistributionError::ImageManifestNotFoundError(_),
                ..
            }) => {
                return Err(SignError::Unsigned {
                    reference: reference.to_string(),
                    tag: digest.signature_tag(),
                }
                .into());
            }
            Err(RemoteError::Registry {
                source: OciDistributionError::RegistryError { envelope, .. },
                ..
            }) if envelope
                .errors
                .iter()
                .any(|e| format!("{:?}", e.code).contains("Unknown")) =>
            {
                return Err(SignError::Unsigned {
                    reference: reference.to_string(),
                    tag: digest.signature_tag(),
                }
                .into());
            }
            Err(e) => return Err(e),
        };
        let manifest: Manifest = serde_json::from_slice(&sig).map_err(|source| RemoteError::Malformed {
            reference: sig_ref.to_string(),
            what: "signature manifest",
            source,
        })?;
        let mut payloads = BTreeMap::new();
        for l in std::iter::once(&manifest.config).chain(&manifest.layers) {
            payloads.insert(l.digest.clone(), s.blob(l).await?);
        }
        sign::verify_manifest(&reference.to_string(), &digest, &manifest, keys, |d| {
            Ok(payloads.get(&d.digest).cloned().unwrap_or_default())
        })?;
        sig_blobs.extend(payloads.into_values());
        sig_manifest = Some(sig);
    }
    if let Some(p) = &opts.progress {
        p.end();
    }
    let lock = store.lock()?;
    for b in blobs.iter().chain(&sig_blobs).chain(&sig_manifest) {
        store.write_blob(&lock, b)?;
    }
    if let Some(sig) = &sig_manifest {
        store.set_tag(
            &lock,
            &sign::signature_ref(reference, &digest),
            &Descriptor::of(oci::MEDIA_MANIFEST, sig),
        )?;
    }
    store.set_tag(&lock, reference, &top_desc)?;
    tracing::info!(image = %reference, %digest, "pulled");
    Ok(top_desc)
}

/// Pushes the store's image `reference` (and its signature, if the store has one) to its registry.
pub async fn push(store: &Store, reference: &ImageRef, opts: &RemoteOptions) -> Result<Digest, RemoteError> {
    let desc = store.get(reference)?;
    let digest = super::store::parse_digest(&desc.digest, store.root())?;
    push_tree(store, reference, &desc, opts).await?;
    let sig_ref = sign::signature_ref(reference, &digest);
    if let Some(sig) = store.resolve(&sig_ref)? {
        push_tree(store, &sig_ref, &sig, opts).await?;
    }
    Ok(digest)
}

/// Pushes the signature of `reference` the store holds.
pub async fn push_signature(
    store: &Store,
    reference: &ImageRef,
    opts: &RemoteOptions,
) -> Result<ImageRef, RemoteError> {
    let desc = store.get(reference)?;
    let digest = super::store::parse_digest(&desc.digest, store.root())?;
    let sig_ref = sign::signature_ref(reference, &digest);
    let sig = store.get(&sig_ref)?;
    push_tree(store, &sig_ref, &sig, opts).await?;
    Ok(sig_ref)
}

async fn push_tree(
    store: &Store,
    reference: &ImageRef,
    desc: &Descriptor,
    opts: &RemoteOptions,
) -> Result<(), RemoteError> {
    let s = Session {
        client: client(&reference.registry, opts),
        auth: credentials(&reference.registry, opts)?,
        reference,
        op: "pushing",
        opts,
    };
    let oref = reference.to_oci();
    s.client
        .auth(&oref, &s.auth, RegistryOperation::Push)
        .await
        .map_err(s.fail())?;
    let top = store.read(desc)?;
    let manifests: Vec<Descriptor> = if desc.media_type == oci::MEDIA_INDEX {
        serde_json::from_slice::<Index>(&top)
            .map_err(|source| RemoteError::Malformed {
                reference: reference.to_string(),
                what: "image index",
                source,
            })?
            .manifests
    } else {
        vec![desc.clone()]
    };
    let mut docs = Vec::new();
    let mut total = 0;
    for m in &manifests {
        let bytes = store.read(m)?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|source| RemoteError::Malformed {
            reference: reference.to_string(),
            what: "manifest",
            source,
        })?;
        total += manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        docs.push((m.clone(), bytes, manifest));
    }
    if let Some(p) = &opts.progress {
        p.begin(&reference.to_string(), total);
    }
    for (m, bytes, manifest) in &docs {
        for b in std::iter::once(&manifest.config).chain(&manifest.layers) {
            let exists = s.client.blob_exists(&oref, &b.digest).await.map_err(s.fail())?;
            if !exists {
                let data = store.read(b)?;
                s.client.push_blob(&oref, data, &b.digest).await.map_err(s.fail())?;
            }
            if let Some(p) = &opts.progress {
                p.advance(b.size);
            }
        }
        if desc.media_type == oci::MEDIA_INDEX {
            let by_digest = reference.with_digest(super::store::parse_digest(&m.digest, store.root())?);
            s.client
                .push_manifest_raw(
                    &by_digest.to_oci(),
                    bytes.clone(),
                    oci::MEDIA_MANIFEST.parse().expect("header"),
                )
                .await
                .map_err(s.fail())?;
        }
    }
    // The media type may come from an imported tarball's index.json: check before sending it.
    let content_type = oci::valid_media_type(&desc.media_type)
        .then(|| desc.media_type.parse().ok())
        .flatten()
        .ok_or_else(|| RemoteError::BadMediaType {
            reference: reference.to_string(),
            digest: quote(&desc.digest, 80),
            media_type: quote(&desc.media_type, 80),
        })?;
    s.client
        .push_manifest_raw(&oref, top, content_type)
        .await
        .map_err(s.fail())?;
    if let Some(p) = &opts.progress {
        p.end();
    }
    tracing::info!(image = %reference, digest = %desc.digest, "pushed");
    Ok(())
}

/// Runs a future to completion from synchronous code, inside or outside a tokio runtime.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    let run = |fut: F| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime starts")
            .block_on(fut)
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        // Inside a runtime: run on a thread of our own rather than block a worker's reactor.
        std::thread::scope(|s| s.spawn(|| run(fut)).join().expect("registry thread panicked"))
    } else {
        run(fut)
    }
}
