//! The local image store: an OCI image layout on disk, safe under concurrent writers.
//!
//! Layout: `oci-layout`, `index.json` (one descriptor per tag, the tag in the annotation
//! `org.opencontainers.image.ref.name` holding the full reference) and `blobs/sha256/<hex>`.
//! Blobs are content-addressed and written atomically (temporary file, then rename), so a
//! reader never sees half a blob. Every change to `index.json` — and every blob write that
//! belongs to it — happens under an exclusive `flock` on `index.json.lock`, taken through
//! [`Store::lock`]; `index.json` itself is replaced atomically, so readers need no lock. That
//! fixes the corruption Inspektor Gadget once had under parallel builds. Removing the last tag
//! of an image garbage-collects every blob no tag reaches any more; removing one of several
//! tags of the same digest only untags. Every blob read is checked against its descriptor — at
//! most `size + 1` bytes are read, then the size and the digest must match — so a tampered or
//! swollen store is reported, never run and never read whole into memory. An `oci-layout` of a
//! version other than 1.x is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

use super::oci::{self, ANN_REF_NAME, Descriptor, Index, Manifest};
use super::reference::{Digest, ImageRef};
use rig_kernel::input::quote;

/// The largest blob rig reads or pulls (1 GiB): a descriptor claiming more is refused unread.
pub const MAX_BLOB_SIZE: u64 = 1 << 30;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store could not be read or written.
    #[error("image store {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `index.json` or a manifest is not valid JSON of the expected shape.
    #[error("image store {path}: malformed {what}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Which document.
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A blob's content does not match its digest.
    #[error("image store: blob {digest} is corrupt or was tampered with (its content hashes to {actual})")]
    Tampered {
        /// The expected digest.
        digest: Digest,
        /// What the content hashes to.
        actual: Digest,
    },
    /// A blob's size is not what its descriptor says.
    #[error("blob {digest} is {actual} bytes, its descriptor says {expected}")]
    WrongSize {
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// What the file holds (`more than N` when it is larger).
        actual: String,
    },
    /// A descriptor claims a blob larger than [`MAX_BLOB_SIZE`].
    #[error("blob {digest} claims {size} bytes, more than rig reads ({MAX_BLOB_SIZE})")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// The claimed size.
        size: u64,
    },
    /// A descriptor's digest is not `sha256:` and 64 lower-case hex digits.
    #[error("image store {path}: invalid digest {digest} (expected sha256: and 64 hex digits)")]
    BadDigest {
        /// The document holding it.
        path: PathBuf,
        /// The digest, quoted and shortened.
        digest: String,
    },
    /// `oci-layout` is missing its version or names one rig does not read.
    #[error("{path}: unsupported OCI image layout version {version} (rig reads 1.0.0)")]
    LayoutVersion {
        /// The `oci-layout` file (or the tarball it came from).
        path: PathBuf,
        /// The version found, quoted.
        version: String,
    },
    /// A blob is missing.
    #[error("image store {root}: blob {digest} is missing")]
    MissingBlob {
        /// The store.
        root: PathBuf,
        /// The blob.
        digest: Digest,
    },
    /// No image has that name.
    #[error("image {reference} is not in the local store {root}")]
    NotFound {
        /// The reference.
        reference: String,
        /// The store.
        root: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One tag in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full reference it is tagged as.
    pub reference: ImageRef,
    /// What it points to (an image index or a manifest).
    pub descriptor: Descriptor,
}

/// Held while changing the store; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// What [`Store::remove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// Only the tag went: another tag still names the digest.
    Untagged(Digest),
    /// The image went, and this many unreachable blobs with it.
    Deleted {
        /// The image digest.
        digest: Digest,
        /// Blobs removed by garbage collection.
        blobs: usize,
    },
}

/// A local OCI image layout.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// The default store: `$RIG_STORE`, else `/var/lib/rig/oci-store` for root, else `~/.rig/oci-store`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RIG_STORE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/rig/oci-store");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".rig/oci-store")
}

impl Store {
    /// Opens (creating if needed) the layout at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let blobs = root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io(&blobs))?;
        let layout = root.join("oci-layout");
        if layout.is_file() {
            let mut text = Vec::new();
            File::open(&layout)
                .and_then(|f| f.take(4096).read_to_end(&mut text))
                .map_err(io(&layout))?;
            check_layout(&text, &layout)?;
        } else {
            atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let store = Store { root };
        if !store.index_path().is_file() {
            let _lock = store.lock()?;
            if !store.index_path().is_file() {
                atomic_write(&store.index_path(), &oci::to_json(&Index::new()))?;
            }
        }
        Ok(store)
    }

    /// Opens the default store ([`default_path`]).
    pub fn open_default() -> Result<Self, StoreError> {
        Self::open(default_path())
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// The path of a blob.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Takes the store's exclusive lock (blocks while another writer holds it).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.root.join("index.json.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        loop {
            // SAFETY: the fd is valid for the life of `file`; flock has no other preconditions.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(StoreError::Io { path, source: err });
            }
        }
        Ok(StoreLock { _file: file })
    }

    /// Whether a blob is present (not checked).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a blob of unknown size (at most [`MAX_BLOB_SIZE`]) and checks its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.read_bounded(digest, None)
    }

    /// Reads a blob that must be exactly `size` bytes, and checks its digest.
    pub fn read_sized(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, StoreError> {
        self.read_bounded(digest, Some(size))
    }

    fn read_bounded(&self, digest: &Digest, size: Option<u64>) -> Result<Vec<u8>, StoreError> {
        let limit = size.unwrap_or(MAX_BLOB_SIZE);
        if limit > MAX_BLOB_SIZE {
            return Err(StoreError::TooLarge {
                digest: digest.clone(),
                size: limit,
            });
        }
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob {
                    root: self.root.clone(),
                    digest: digest.clone(),
                });
            }
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        // One byte more than allowed tells "too large" from "exact" without reading it all.
        let mut data = Vec::new();
        file.take(limit + 1).read_to_end(&mut data).map_err(io(&path))?;
        let len = data.len() as u64;
        if len > limit || size.is_some_and(|s| s != len) {
            return Err(StoreError::WrongSize {
                digest: digest.clone(),
                expected: limit,
                actual: if len > limit { format!("more than {limit}") } else { len.to_string() },
            });
        }
        let actual = Digest::of(&data);
        if &actual != digest {
            return Err(StoreError::Tampered {
                digest: digest.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Reads the blob a descriptor points to.
    pub fn read(&self, desc: &Descriptor) -> Result<Vec<u8>, StoreError> {
        let digest = parse_digest(&desc.digest, &self.index_path())?;
        self.read_sized(&digest, desc.size)
    }

    /// Writes a blob (idempotent) and returns its digest. Call with the lock held.
    pub fn write_blob(&self, _lock: &StoreLock, data: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(data);
        let path = self.blob_path(&digest);
        // An existing blob is kept only if it is intact; a tampered one is replaced.
        if !fs::read(&path).is_ok_and(|d| Digest::of(&d) == digest) {
            atomic_write(&path, data)?;
        }
        Ok(digest)
    }

    fn read_index(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::new()),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        serde_json::from_slice(&data).map_err(|source| StoreError::Malformed {
            path,
            what: "index.json",
            source,
        })
    }

    fn write_index(&self, _lock: &StoreLock, mut index: Index) -> Result<(), StoreError> {
        index.manifests.sort_by(|a, b| {
            (a.annotations.get(ANN_REF_NAME), &a.digest).cmp(&(b.annotations.get(ANN_REF_NAME), &b.digest))
        });
        atomic_write(&self.index_path(), &oci::to_json(&index))
    }

    /// Every tag, sorted by reference.
    pub fn entries(&self) -> Result<Vec<Entry>, StoreError> {
        let index = self.read_index()?;
        let mut out = Vec::new();
        for d in index.manifests {
            let Some(name) = d.annotations.get(ANN_REF_NAME) else {
                continue;
            };
            // Tags written by other tools may be bare (`1.0`); those are skipped, not fatal.
            match ImageRef::parse(name) {
                Ok(reference) => out.push(Entry {
                    reference,
                    descriptor: d,
                }),
                Err(e) => tracing::debug!(tag = %name, error = %e, "skipping a tag rig cannot parse"),
            }
        }
        Ok(out)
    }

    /// What a reference names in the store: a tag, or (for `name@digest`) a digest some tag of
    /// that repository points to.
    pub fn resolve(&self, reference: &ImageRef) -> Result<Option<Descriptor>, StoreError> {
        let entries = self.entries()?;
        if let Some(d) = &reference.digest {
            return Ok(entries
                .into_iter()
                .find(|e| e.descriptor.digest == d.as_str() && e.reference.name() == reference.name())
                .map(|e| e.descriptor));
        }
        let want = reference.to_string();
        Ok(entries
            .into_iter()
            .find(|e| e.reference.to_string() == want)
            .map(|e| e.descriptor))
    }

    /// Like [`Store::resolve`], but a missing image is an error.
    pub fn get(&self, reference: &ImageRef) -> Result<Descriptor, StoreError> {
        self.resolve(reference)?.ok_or_else(|| StoreError::NotFound {
            reference: reference.to_string(),
            root: self.root.clone(),
        })
    }

    /// Points `reference` (a tag) at `desc`, replacing what it named before. Call with the lock.
    pub fn set_tag(&self, lock: &StoreLock, reference: &ImageRef, desc: &Descriptor) -> Result<(), StoreError> {
        let name = reference.to_string();
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(ANN_REF_NAME) != Some(&name));
        let mut d = desc.clone();
        d.annotations.insert(ANN_REF_NAME.to_owned(), name);
        index.manifests.push(d);
        self.write_index(lock, index)
    }

    /// Removes a tag; when no other tag names its digest, deletes the image, its signatures and
    /// every blob nothing reaches any more.
    pub fn remove(&self, reference: &ImageRef) -> Result<Removed, StoreError> {
        let lock = self.lock()?;
        let desc = self.get(reference)?;
        let digest = parse_digest(&desc.digest, &self.index_path())?;
        let mut index = self.read_index()?;
        let name = reference.to_string();
        index.manifests.retain(|d| {
            let tag = d.annotations.get(ANN_REF_NAME);
            // `name@digest` removes every tag of that repository pointing at the digest.
            if reference.digest.is_some() {
                !(d.digest == desc.digest
                    && tag
                        .and_then(|t| ImageRef::parse(t).ok())
                        .is_some_and(|r| r.name() == reference.name()))
            } else {
                tag != Some(&name)
            }
        });
        let sig_tag = digest.signature_tag();
        let still_named = index.manifests.iter().any(|d| {
            d.digest == desc.digest && !d.annotations.get(ANN_REF_NAME).is_some_and(|t| t.ends_with(&sig_tag))
        });
        if still_named {
            self.write_index(&lock, index)?;
            return Ok(Removed::Untagged(digest));
        }
        index.manifests.retain(|d| {
            !d.annotations
                .get(ANN_REF_NAME)
                .is_some_and(|t| t.ends_with(&format!(":{sig_tag}")))
        });
        self.write_index(&lock, index)?;
        let blobs = self.gc(&lock)?;
        Ok(Removed::Deleted { digest, blobs })
    }

    /// Every blob reachable from a tag.
    pub fn reachable(&self) -> Result<BTreeSet<Digest>, StoreError> {
        let mut seen = BTreeMap::new();
        for d in self.read_index()?.manifests {
            self.walk(&d, &mut seen)?;
        }
        Ok(seen.into_keys().collect())
    }

    /// Adds `desc` and everything it references to `seen`, each blob with the size its
    /// descriptor gives (missing or unreadable documents are skipped).
    pub fn walk(&self, desc: &Descriptor, seen: &mut BTreeMap<Digest, u64>) -> Result<(), StoreError> {
        let Some(digest) = desc.digest() else {
            return Ok(());
        };
        if seen.insert(digest.clone(), desc.size).is_some() {
            return Ok(());
        }
        let is_index = desc.media_type == oci::MEDIA_INDEX;
        let is_manifest = desc.media_type == oci::MEDIA_MANIFEST;
        if !is_index && !is_manifest {
            return Ok(());
        }
        let Ok(data) = self.read_sized(&digest, desc.size) else {
            return Ok(());
        };
        if is_index {
            if let Ok(index) = serde_json::from_slice::<Index>(&data) {
                for m in &index.manifests {
                    self.walk(m, seen)?;
                }
            }
        } else if let Ok(manifest) = serde_json::from_slice::<Manifest>(&data) {
            self.walk(&manifest.config, seen)?;
            for l in &manifest.layers {
                self.walk(l, seen)?;
            }
        }
        Ok(())
    }

    /// Deletes every blob no tag reaches. Call with the lock held.
    pub fn gc(&self, _lock: &StoreLock) -> Result<usize, StoreError> {
        let keep = self.reachable()?;
        let dir = self.root.join("blobs/sha256");
        let mut removed = 0;
        for entry in fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep_it = format!("sha256:{name}")
                .parse::<Digest>()
                .is_ok_and(|d| keep.contains(&d));
            if !keep_it {
                let p = entry.path();
                fs::remove_file(&p).map_err(io(&p))?;
                removed += 1;
            }
        }
        tracing::debug!(store = %self.root.display(), removed, "garbage-collected blobs");
        Ok(removed)
    }
}

/// Parses a descriptor digest, naming the document it came from on failure.
pub(crate) fn parse_digest(s: &str, path: &Path) -> Result<Digest, StoreError> {
    s.parse().map_err(|_| StoreError::BadDigest {
        path: path.to_owned(),
        digest: quote(s, 80),
    })
}

/// Checks the text of an `oci-layout` file: JSON with an `imageLayoutVersion` of 1.x.
pub(crate) fn check_layout(text: &[u8], path: &Path) -> Result<(), StoreError> {
    let version = serde_json::from_slice::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("imageLayoutVersion").and_then(|v| v.as_str()).map(str::to_owned));
    match version {
        Some(v) if v == "1.0.0" || v.starts_with("1.0.") || v.starts_with("1.1.") => Ok(()),
        Some(v) => Err(StoreError::LayoutVersion {
            path: path.to_owned(),
            version: quote(&v, 40),
        }),
        None => Err(StoreError::LayoutVersion {
            path: path.to_owned(),
            version: "(none: not a JSON object with imageLayoutVersion)".to_owned(),
        }),
    }
}

/// Writes a file atomically: a unique temporary file beside it, then rename.
pub(crate) fn atomic_write(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(store: &Store, lock: &StoreLock, layer: &[u8]) -> Descriptor {
        let l = store.write_blob(lock, layer).unwrap();
        let c = store.write_blob(lock, b"name: x\n").unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(oci::MEDIA_MANIFEST.into()),
            artifact_type: Some(oci::ARTIFACT_GADGET.into()),
            config: Descriptor {
                digest: c.to_string(),
                ..Descriptor::of(oci::MEDIA_GADGET_CONFIG, b"name: x\n")
            },
            layers: vec![Descriptor {
                digest: l.to_string(),
                ..Descriptor::of(oci::MEDIA_EBPF, layer)
            }],
            annotations: Default::default(),
        };
        let m = oci::to_json(&manifest);
        store.write_blob(lock, &m).unwrap();
        Descriptor::of(oci::MEDIA_MANIFEST, &m)
    }

    #[test]
    fn tags_untag_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = ImageRef::parse_with("a", "localhost:5000").unwrap();
        let b = ImageRef::parse_with("b:1", "localhost:5000").unwrap();
        let lock = store.lock().unwrap();
        let d = image(&store, &lock, b"ELF1");
        store.set_tag(&lock, &a, &d).unwrap();
        store.set_tag(&lock, &b, &d).unwrap();
        drop(lock);
        assert_eq!(store.entries().unwrap().len(), 2);
        assert!(matches!(store.remove(&a).unwrap(), Removed::Untagged(_)));
        assert_eq!(store.get(&b).unwrap().digest, d.digest);
        assert!(matches!(store.remove(&b).unwrap(), Removed::Deleted { blobs: 3, .. }));
        assert!(store.entries().unwrap().is_empty());
        assert!(matches!(store.remove(&b), Err(StoreError::NotFound { .. })));
    }

    #[test]
    fn tampered_blobs_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lock = store.lock().unwrap();
        let d = store.write_blob(&lock, b"hello").unwrap();
        fs::write(store.blob_path(&d), b"HELLO").unwrap();
        assert!(matches!(store.read_blob(&d), Err(StoreError::Tampered { .. })));
        // Writing the same content again repairs it.
        store.write_blob(&lock, b"hello").unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    }

    #[test]
    fn blobs_are_read_only_up_to_their_descriptor_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lock = store.lock().unwrap();
        let d = store.write_blob(&lock, b"hello").unwrap();
        let desc = Descriptor {
            digest: d.to_string(),
            ..Descriptor::of(oci::MEDIA_EBPF, b"hello")
        };
        assert_eq!(store.read(&desc).unwrap(), b"hello");
        // A swollen blob: far larger than its descriptor says.
        fs::write(store.blob_path(&d), vec![b'x'; 1 << 20]).unwrap();
        let err = store.read(&desc).unwrap_err();
        assert!(matches!(err, StoreError::WrongSize { .. }), "{err}");
        assert_eq!(err.to_string(), format!("blob {d} is more than 5 bytes, its descriptor says 5"));
        let lying = Descriptor { size: u64::MAX, ..desc.clone() };
        assert!(matches!(store.read(&lying), Err(StoreError::TooLarge { .. })));
        let bad = Descriptor { digest: format!("sha256:\x1b]0;x\x07{}", "a".repeat(10_000)), ..desc };
        let err = store.read(&bad).unwrap_err().to_string();
        assert!(err.len() < 300 && !err.contains('\x1b'), "{err:?}");
    }

    #[test]
    fn unknown_layout_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("oci-layout"), br#"{"imageLayoutVersion":"9.9.9"}"#).unwrap();
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("unsupported OCI image layout version \"9.9.9\""), "{err}");
        fs::write(dir.path().join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Store::open(dir.path()).unwrap();
    }

    #[test]
    fn deep_json_is_an_error_not_a_crash() {
        // serde_json stops at 128 levels, so index.json and manifests cannot overflow the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = serde_json::from_str::<serde_json::Value>(&deep).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let nested = format!(r#"{{"schemaVersion":2,"manifests":[],"annotations":{}}}"#, "{\"a\":".repeat(100_000));
        assert!(serde_json::from_str::<Index>(&nested).is_err());
    }
}
