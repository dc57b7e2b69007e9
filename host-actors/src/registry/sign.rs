//! Image signatures in cosign's key-based ("legacy") format, so `cosign verify --key` accepts
//! what rig signs and rig accepts what cosign signs.
//!
//! A signature of image digest `sha256:H` is an OCI manifest tagged `sha256-H.sig` in the same
//! repository. Each of its layers is a *simple-signing payload* — JSON naming the repository
//! (`docker-reference`) and the digest (`docker-manifest-digest`) — of media type
//! `application/vnd.dev.cosign.simplesigning.v1+json`, and carries the base64 of an ECDSA P-256
//! signature (SHA-256, ASN.1 DER) of that payload in the annotation
//! `dev.cosignproject.cosign/signature`. Keys are PEM: PKCS#8 or SEC1 private keys, SPKI public
//! keys (what `cosign public-key` prints). cosign's own password-encrypted private keys are not
//! read; `rig image keygen` makes a plain pair. An image verifies when one payload names its
//! digest and that payload's signature checks out under one of the trusted keys.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding,
};
use serde::{Deserialize, Serialize};

use super::oci::{self, Descriptor, Manifest};
use super::reference::{Digest, ImageRef};
use super::store::{Store, StoreError};

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A key file is not a key rig reads.
    #[error("{path}: {why}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Verification was asked for with no key to verify against.
    #[error("image verification is on but no public key is configured (--public-keys)")]
    NoKeys,
    /// The image carries no signature.
    #[error("image {reference} is not signed: no signature {tag} was found")]
    Unsigned {
        /// The image.
        reference: String,
        /// The tag looked for.
        tag: String,
    },
    /// Signatures exist, but none by a trusted key over this digest.
    #[error("image {reference} ({digest}): no signature verifies with the configured public keys ({why})")]
    Untrusted {
        /// The image.
        reference: String,
        /// Its digest.
        digest: Digest,
        /// What was found wrong.
        why: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SignError + '_ {
    move |source| SignError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Generates a P-256 key pair: `<prefix>.key` (PKCS#8 PEM, mode 0600) and `<prefix>.pub`.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf), SignError> {
    let key_path = prefix.with_extension("key");
    let pub_path = prefix.with_extension("pub");
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(SignError::Key {
                path: p.clone(),
                why: "already exists; refusing to overwrite a key".into(),
            });
        }
    }
    let secret = loop {
        let mut bytes = [0u8; 32];
        let urandom = Path::new("/dev/urandom");
        use std::io::Read as _;
        fs::File::open(urandom)
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(io(urandom))?;
        // A random 32-byte string is a valid scalar except with negligible probability.
        if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
            break k;
        }
    };
    let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| SignError::Key {
        path: key_path.clone(),
        why: e.to_string(),
    })?;
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .map_err(io(&key_path))?;
        f.write_all(pem.as_bytes()).map_err(io(&key_path))?;
    }
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SignError::Key {
            path: pub_path.clone(),
            why: e.to_string(),
        })?;
    fs::write(&pub_path, public).map_err(io(&pub_path))?;
    Ok((key_path, pub_path))
}

/// Reads a private key (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SignError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let bad = |why: String| SignError::Key {
        path: path.to_owned(),
        why,
    };
    if text.contains("ENCRYPTED") {
        return Err(bad(
            "password-encrypted keys (cosign's format) are not supported; use `rig image keygen` or an unencrypted PKCS#8 P-256 key"
                .into(),
        ));
    }
    let secret = if text.contains("BEGIN EC PRIVATE KEY") {
        p256::SecretKey::from_sec1_pem(&text).map_err(|e| bad(format!("not a P-256 SEC1 key: {e}")))?
    } else {
        p256::SecretKey::from_pkcs8_pem(&text).map_err(|e| bad(format!("not a P-256 PKCS#8 private key: {e}")))?
    };
    Ok(SigningKey::from(&secret))
}

/// Reads public keys (SPKI `PUBLIC KEY` PEM; several may be concatenated in one file).
pub fn load_public_keys(paths: &[PathBuf]) -> Result<Vec<VerifyingKey>, SignError> {
    let mut keys = Vec::new();
    for path in paths {
        let text = fs::read_to_string(path).map_err(io(path))?;
        let mut found = 0;
        for block in text.split_inclusive("-----END PUBLIC KEY-----") {
            let Some(start) = block.find("-----BEGIN PUBLIC KEY-----") else {
                continue;
            };
            let key = p256::PublicKey::from_public_key_pem(&block[start..]).map_err(|e| SignError::Key {
                path: path.clone(),
                why: format!("not a P-256 public key: {e}"),
            })?;
            keys.push(VerifyingKey::from(&key));
            found += 1;
        }
        if found == 0 {
            return Err(SignError::Key {
                path: path.clone(),
                why: "no PEM PUBLIC KEY block".into(),
            });
        }
    }
    Ok(keys)
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: ImageId,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ImageId {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The simple-signing payload cosign signs for `reference` at `digest`.
pub fn payload(reference: &ImageRef, digest: &Digest) -> Vec<u8> {
    oci::to_json(&Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: reference.name(),
            },
            image: ImageId {
                docker_manifest_digest: digest.to_string(),
            },
            kind: "cosign container image signature".into(),
        },
        optional: None,
    })
}

/// cosign's config blob for a signature manifest, naming the payload layers.
fn signature_config(layers: &[Descriptor]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    oci::to_json(&serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"diff_ids": diff_ids, "type": "layers"},
    }))
}

/// The tag of `digest`'s signature manifest in `reference`'s repository.
pub fn signature_ref(reference: &ImageRef, digest: &Digest) -> ImageRef {
    reference.with_tag(&digest.signature_tag())
}

/// Signs the store's image `reference` with `key` and records the signature in the store
/// (added to any signatures already there). Returns the signature's reference.
pub fn sign(store: &Store, reference: &ImageRef, key: &SigningKey) -> Result<ImageRef, SignError> {
    let desc = store.get(reference)?;
    let digest = super::store::parse_digest(&desc.digest, store.root())?;
    let payload = payload(reference, &digest);
    let sig: Signature = key.sign(&payload);
    let sig_b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
    let sig_ref = signature_ref(reference, &digest);
    let lock = store.lock()?;
    let mut layers = match store.resolve(&sig_ref)? {
        Some(d) => serde_json::from_slice::<Manifest>(&store.read(&d)?)
            .map(|m| m.layers)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut layer = Descriptor::of(oci::MEDIA_SIMPLESIGNING, &payload);
    layer.annotations.insert(oci::ANN_COSIGN_SIGNATURE.to_owned(), sig_b64);
    if !layers.contains(&layer) {
        layers.push(layer);
    }
    store.write_blob(&lock, &payload)?;
    let config = signature_config(&layers);
    store.write_blob(&lock, &config)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(oci::MEDIA_MANIFEST.to_owned()),
        artifact_type: None,
        config: Descriptor::of(oci::MEDIA_OCI_CONFIG, &config),
        layers,
        annotations: BTreeMap::new(),
    };
    let json = oci::to_json(&manifest);
    store.write_blob(&lock, &json)?;
    store.set_tag(&lock, &sig_ref, &Descriptor::of(oci::MEDIA_MANIFEST, &json))?;
    Ok(sig_ref)
}

/// Checks a signature manifest of `digest` against `keys`; `blob` fetches a payload layer
/// (and must check its digest). Succeeds when one payload names the digest and is signed by
/// one of the keys.
pub fn verify_manifest(
    reference: &str,
    digest: &Digest,
    manifest: &Manifest,
    keys: &[VerifyingKey],
    mut blob: impl FnMut(&Descriptor) -> Result<Vec<u8>, SignError>,
) -> Result<(), SignError> {
    if keys.is_empty() {
        return Err(SignError::NoKeys);
    }
    let mut why = Vec::new();
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == oci::MEDIA_SIMPLESIGNING)
    {
        let Some(sig_b64) = layer.annotations.get(oci::ANN_COSIGN_SIGNATURE) else {
            why.push("a payload without signature annotation".to_owned());
            continue;
        };
        let payload = blob(layer)?;
        let parsed: Payload = match serde_json::from_slice(&payload) {
            Ok(p) => p,
            Err(e) => {
                why.push(format!("unreadable payload: {e}"));
                continue;
            }
        };
        if parsed.critical.image.docker_manifest_digest != digest.as_str() {
            why.push(format!(
                "a signature is for {}",
                parsed.critical.image.docker_manifest_digest
            ));
            continue;
        }
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(sig_b64.trim()) else {
            why.push("a signature is not base64".to_owned());
            continue;
        };
        let Ok(sig) = Signature::from_der(&der) else {
            why.push("a signature is not DER-encoded ECDSA".to_owned());
            continue;
        };
        if keys.iter().any(|k| k.verify(&payload, &sig).is_ok()) {
            return Ok(());
        }
        why.push("a signature was made by another key".to_owned());
    }
    if why.is_empty() {
        why.push("no simple-signing layer".to_owned());
    }
    Err(SignError::Untrusted {
        reference: reference.to_owned(),
        digest: digest.clone(),
        why: why.join("; "),
    })
}

/// Verifies the store's image `reference` with the signature the store holds for it.
pub fn verify_local(store: &Store, reference: &ImageRef, keys: &[VerifyingKey]) -> Result<Digest, SignError> {
    if keys.is_empty() {
        return Err(SignError::NoKeys);
    }
    let desc = store.get(reference)?;
    let digest = super::store::parse_digest(&desc.digest, store.root())?;
    let sig_ref = signature_ref(reference, &digest);
    let Some(sig_desc) = store.resolve(&sig_ref)? else {
        return Err(SignError::Unsigned {
            reference: reference.to_string(),
            tag: digest.signature_tag(),
        });
    };
    let manifest: Manifest = serde_json::from_slice(&store.read(&sig_desc)?).map_err(|e| SignError::Untrusted {
        reference: reference.to_string(),
        digest: digest.clone(),
        why: format!("malformed signature manifest: {e}"),
    })?;
    verify_manifest(&reference.to_string(), &digest, &manifest, keys, |d| Ok(store.read(d)?))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_matches_cosign_byte_for_byte() {
        let r = ImageRef::parse_with("localhost:5000/g/trace_open:1.0", "x.io").unwrap();
        let d: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(
            String::from_utf8(payload(&r, &d)).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"localhost:5000/g/trace_open"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
    }

    #[test]
    fn sign_and_verify_with_generated_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (k1, p1) = keygen(&dir.path().join("one")).unwrap();
        let (_, p2) = keygen(&dir.path().join("two")).unwrap();
        assert!(keygen(&dir.path().join("one")).is_err(), "never overwrite a key");
        let store = Store::open(dir.path().join("store")).unwrap();
        let r = ImageRef::parse_with("localhost:5000/g/x:1", "x.io").unwrap();
        {
            let lock = store.lock().unwrap();
            store.write_blob(&lock, b"{}").unwrap();
            store
                .set_tag(&lock, &r, &Descriptor::of(oci::MEDIA_MANIFEST, b"{}"))
                .unwrap();
        }
        assert!(matches!(
            verify_local(&store, &r, &load_public_keys(std::slice::from_ref(&p1)).unwrap()),
            Err(SignError::Unsigned { .. })
        ));
        sign(&store, &r, &load_signing_key(&k1).unwrap()).unwrap();
        verify_local(&store, &r, &load_public_keys(std::slice::from_ref(&p1)).unwrap()).unwrap();
        let err = verify_local(&store, &r, &load_public_keys(std::slice::from_ref(&p2)).unwrap()).unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
        // Either of several keys will do.
        verify_local(&store, &r, &load_public_keys(&[p2, p1]).unwrap()).unwrap();
    }
}
