//! Moving images between stores without a registry: `rig image export` writes a tarball of an
//! OCI image layout holding the chosen tags (and their signatures), `rig image import` reads one.
//!
//! Export is deterministic: entries in sorted order, directory entries first, every header with
//! mode 0644/0755, owner 0, mtime 0 — the same images give the same bytes. Import checks every
//! blob against its digest and that each tag's whole tree is present before it writes anything,
//! then writes under the store lock; blobs keep their digests, so a round trip changes none.
//!
//! A tarball is untrusted input: `oci-layout` must name version 1.x, no entry may exceed
//! [`MAX_BLOB_SIZE`] (nor all of them together [`MAX_IMPORT_SIZE`]), every descriptor's size
//! must match its blob and its media type must be a well-formed `type/subtype`, config blobs
//! rig reads as YAML must be UTF-8 and shallow ([`check_yaml_depth`]), and every name, tag or
//! media type echoed in an error is quoted, escaped and shortened.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use rig_kernel::input::{check_yaml_depth, quote};

use super::oci::{self, ANN_REF_NAME, Descriptor, Index, Manifest};
use super::reference::{Digest, ImageRef};
use super::sign;
use super::store::{self, MAX_BLOB_SIZE, Store, StoreError};

/// The most a tarball may hold in all (its blobs are checked in memory before any is stored).
pub const MAX_IMPORT_SIZE: u64 = 2 * MAX_BLOB_SIZE;

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tarball could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The tarball.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The tarball is not an OCI image layout rig can import.
    #[error("{path}: not an importable OCI image layout: {why}")]
    Invalid {
        /// The tarball.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

fn header(path: &str, size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("layout paths are short ASCII");
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_cksum();
    h
}

/// Writes the images `refs` (with their signatures) as an OCI layout tarball at `dst`.
/// Returns the number of blobs written.
pub fn export(store: &Store, refs: &[ImageRef], dst: &Path) -> Result<usize, ExportError> {
    let mut index = Index::new();
    let mut blobs = BTreeMap::new();
    let all = store.entries()?;
    for r in refs {
        let desc = store.get(r)?;
        let mut entry = desc.clone();
        entry.annotations.insert(ANN_REF_NAME.to_owned(), r.to_string());
        store.walk(&desc, &mut blobs)?;
        index.manifests.push(entry);
        if let Some(d) = desc.digest() {
            let sig = sign::signature_ref(r, &d).to_string();
            if let Some(e) = all.iter().find(|e| e.reference.to_string() == sig) {
                store.walk(&e.descriptor, &mut blobs)?;
                let mut s = e.descriptor.clone();
                s.annotations.insert(ANN_REF_NAME.to_owned(), sig);
                index.manifests.push(s);
            }
        }
    }
    index
        .manifests
        .sort_by(|a, b| a.annotations.get(ANN_REF_NAME).cmp(&b.annotations.get(ANN_REF_NAME)));
    index.manifests.dedup();
    let tmp = dst.with_file_name(format!(
        ".{}.{}.tmp",
        dst.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut append = |path: &str, data: &[u8], dir: bool| {
        tar.append(&header(path, data.len() as u64, dir), data)
            .map_err(io(&tmp))
    };
    append("blobs/", &[], true)?;
    append("blobs/sha256/", &[], true)?;
    for (d, size) in &blobs {
        append(&format!("blobs/sha256/{}", d.hex()), &store.read_sized(d, *size)?, false)?;
    }
    append("index.json", &oci::to_json(&index), false)?;
    append("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, false)?;
    let mut w = tar.into_inner().map_err(io(&tmp))?;
    w.flush().map_err(io(&tmp))?;
    drop(w);
    fs::rename(&tmp, dst).map_err(io(dst))?;
    Ok(blobs.len())
}

/// Imports every tag of the layout tarball `src` into the store; returns the tags.
pub fn import(store: &Store, src: &Path) -> Result<Vec<ImageRef>, ExportError> {
    let invalid = |why: String| ExportError::Invalid {
        path: src.to_owned(),
        why,
    };
    let file = File::open(src).map_err(io(src))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut blobs: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
    let mut index_json = None;
    let mut layout = None;
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let path = entry
            .path()
            .map_err(io(src))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let size = entry.size();
        total = total.saturating_add(size);
        if size > MAX_BLOB_SIZE || total > MAX_IMPORT_SIZE {
            return Err(invalid(format!(
                "entry {} is {size} bytes, more than rig imports ({MAX_BLOB_SIZE} per blob, {MAX_IMPORT_SIZE} in all)",
                quote(&path, 120)
            )));
        }
        let mut data = Vec::new();
        entry.take(MAX_BLOB_SIZE + 1).read_to_end(&mut data).map_err(io(src))?;
        if path == "index.json" {
            index_json = Some(data);
        } else if path == "oci-layout" {
            layout = Some(data);
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let want: Digest = format!("sha256:{hex}")
                .parse()
                .map_err(|_| invalid(format!("bad blob name {}", quote(&path, 120))))?;
            let actual = Digest::of(&data);
            if actual != want {
                return Err(invalid(format!(
                    "blob {want} is corrupt (its content hashes to {actual})"
                )));
            }
            blobs.insert(want, data);
        }
    }
    let layout = layout.ok_or_else(|| invalid("no oci-layout file".into()))?;
    store::check_layout(&layout, &src.join("oci-layout"))?;
    let index: Index = serde_json::from_slice(&index_json.ok_or_else(|| invalid("no index.json".into()))?)
        .map_err(|e| invalid(format!("index.json: {e}")))?;
    let mut tags = Vec::new();
    for d in &index.manifests {
        let Some(name) = d.annotations.get(ANN_REF_NAME) else {
            continue;
        };
        let Ok(r) = ImageRef::parse(name) else {
            tracing::warn!(tag = %quote(name, 120), "skipping a tag that is not a full image reference");
            continue;
        };
        check_tree(d, &blobs, 0).map_err(|why| invalid(format!("image {}: {why}", quote(name, 120))))?;
        tags.push((r, d.clone()));
    }
    let lock = store.lock()?;
    for data in blobs.values() {
        store.write_blob(&lock, data)?;
    }
    for (r, d) in &tags {
        let mut d = d.clone();
        d.annotations.remove(ANN_REF_NAME);
        store.set_tag(&lock, r, &d)?;
    }
    Ok(tags.into_iter().map(|(r, _)| r).collect())
}

/// How deep indexes may nest inside indexes (OCI allows nesting; nobody needs much).
const MAX_TREE_DEPTH: usize = 8;

/// Checks that `desc` and everything under it is present, of the size its descriptor says and
/// of a well-formed media type; config blobs rig parses as YAML must be UTF-8 and shallow.
fn check_tree(desc: &Descriptor, blobs: &BTreeMap<Digest, Vec<u8>>, depth: usize) -> Result<(), String> {
    let d = desc
        .digest()
        .ok_or_else(|| format!("descriptor has an invalid digest {}", quote(&desc.digest, 80)))?;
    if !oci::valid_media_type(&desc.media_type) {
        return Err(format!(
            "descriptor {d} has an invalid media type {}",
            quote(&desc.media_type, 80)
        ));
    }
    if depth > MAX_TREE_DEPTH {
        return Err(format!("index {d} nests deeper than {MAX_TREE_DEPTH} levels"));
    }
    let data = blobs.get(&d).ok_or_else(|| format!("blob {d} is missing"))?;
    if data.len() as u64 != desc.size {
        return Err(format!(
            "blob {d} is {} bytes, its descriptor says {}",
            data.len(),
            desc.size
        ));
    }
    if desc.media_type == oci::MEDIA_INDEX {
        let index: Index = serde_json::from_slice(data).map_err(|e| format!("index {d}: {e}"))?;
        for m in &index.manifests {
            check_tree(m, blobs, depth + 1)?;
        }
    } else if desc.media_type == oci::MEDIA_MANIFEST {
        let m: Manifest = serde_json::from_slice(data).map_err(|e| format!("manifest {d}: {e}"))?;
        for l in std::iter::once(&m.config).chain(&m.layers) {
            check_tree(l, blobs, depth + 1)?;
        }
    } else if oci::is_yaml_config(&desc.media_type) {
        let text = std::str::from_utf8(data).map_err(|e| format!("config blob {d} is not UTF-8 ({e})"))?;
        check_yaml_depth(text).map_err(|e| format!("config blob {d}: {e}"))?;
    }
    Ok(())
}
