//! Crafted image layouts and references as untrusted input, through the `rig` binary: each is
//! refused with a short error naming the culprit (descriptor, blob, tag or file), rig exits
//! non-zero without panicking, prints no raw control bytes, and `rig image list` still works
//! afterwards. Layouts are built in each test's own temp dir and packed with `tar`.

use std::path::Path;

use rig_tests::registry::{check_store, hex_sha256};
use rig_tests::{RigOutput, rig};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.gadget.config.v1+yaml";
const EBPF: &str = "application/vnd.gadget.ebpf.program.v1+binary";

/// A one-manifest gadget layout to be spoiled by a test before it is packed.
struct Layout {
    config: Vec<u8>,
    layer: Vec<u8>,
    /// Overrides of the layer descriptor (media type, size).
    layer_media: String,
    layer_size: Option<u64>,
    tag: String,
    version: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            config: b"name: crafted\ndescription: a crafted image\n".to_vec(),
            layer: b"\x7fELF not really".to_vec(),
            layer_media: EBPF.into(),
            layer_size: None,
            tag: "localhost:5000/crafted/x:1.0".into(),
            version: "1.0.0".into(),
        }
    }
}

fn desc(media: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media, "digest": format!("sha256:{}", hex_sha256(data)), "size": data.len()})
}

impl Layout {
    /// Writes the layout under `dir/layout` and packs it as `dir/image.tar`; returns the tarball.
    fn pack(&self, dir: &Path) -> String {
        let root = dir.join("layout");
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let mut layer = desc(&self.layer_media, &self.layer);
        if let Some(n) = self.layer_size {
            layer["size"] = n.into();
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": "application/vnd.gadget.v1+binary",
            "config": desc(CONFIG, &self.config),
            "layers": [layer],
        }))
        .unwrap();
        let mut top = desc(MANIFEST, &manifest);
        top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": self.tag});
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [top]});
        for b in [&self.config, &self.layer, &manifest] {
            std::fs::write(blobs.join(hex_sha256(b)), b).unwrap();
        }
        std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        std::fs::write(
            root.join("oci-layout"),
            format!(r#"{{"imageLayoutVersion":"{}"}}"#, self.version),
        )
        .unwrap();
        let tar = dir.join("image.tar");
        let ok = std::process::Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .args(["oci-layout", "index.json", "blobs"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tar failed");
        tar.display().to_string()
    }
}

fn rig_s(store: &Path, args: &[&str]) -> RigOutput {
    let mut v = args.to_vec();
    v.extend(["--store", store.to_str().unwrap()]);
    rig(&v)
}

/// Asserts a clean refusal naming `needle`, then that the store still lists.
fn refused(store: &Path, out: &RigOutput, needle: &str) {
    assert!(!out.status.success(), "expected a refusal, got success: {}{}", out.stdout, out.stderr);
    assert_ne!(out.status.code(), Some(101), "rig panicked: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "rig panicked: {}", out.stderr);
    assert!(!out.stderr.contains('\x1b') && !out.stderr.contains('\x07'), "raw control bytes: {:?}", out.stderr);
    assert!(out.stderr.len() < 1024, "{} bytes of error: {}", out.stderr.len(), out.stderr);
    for debug in ["Some(", "String("] {
        assert!(!out.stderr.contains(debug), "Rust debug text: {}", out.stderr);
    }
    assert!(out.stderr.contains(needle), "error does not say {needle:?}: {}", out.stderr);
    let list = rig_s(store, &["image", "list"]);
    assert!(list.status.success(), "rig image list failed afterwards: {}", list.stderr);
}

fn import(layout: &Layout) -> (tempfile::TempDir, RigOutput) {
    let dir = tempfile::tempdir().unwrap();
    let tar = layout.pack(dir.path());
    let out = rig_s(&dir.path().join("store"), &["image", "import", &tar]);
    (dir, out)
}

#[test]
fn a_well_formed_layout_imports() {
    let (dir, out) = import(&Layout::default());
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "localhost:5000/crafted/x:1.0");
    assert_eq!(check_store(&dir.path().join("store")).len(), 1);
}

#[test]
fn media_type_with_escape_sequences_is_refused() {
    let (dir, out) = import(&Layout {
        layer_media: "application/\x1b]0;pwned\x07x".into(),
        ..Default::default()
    });
    refused(&dir.path().join("store"), &out, "invalid media type \"application/\\e]0;pwned\\u{7}x\"");
    assert!(out.stderr.contains("localhost:5000/crafted/x:1.0"), "{}", out.stderr);
}

#[test]
fn wrong_layer_size_is_refused() {
    let (dir, out) = import(&Layout {
        layer_size: Some(3),
        ..Default::default()
    });
    refused(&dir.path().join("store"), &out, "its descriptor says 3");
}

#[test]
fn unknown_layout_version_is_refused() {
    let (dir, out) = import(&Layout {
        version: "7.0.0".into(),
        ..Default::default()
    });
    refused(&dir.path().join("store"), &out, "unsupported OCI image layout version \"7.0.0\"");
}

#[test]
fn config_that_is_not_utf8_is_refused() {
    let (dir, out) = import(&Layout {
        config: b"name: \xff\xfe\n".to_vec(),
        ..Default::default()
    });
    refused(&dir.path().join("store"), &out, "is not UTF-8");
}

#[test]
fn deeply_nested_config_is_refused_quickly() {
    let t = std::time::Instant::now();
    let (dir, out) = import(&Layout {
        config: "- ".repeat(100_000).into_bytes(),
        ..Default::default()
    });
    refused(&dir.path().join("store"), &out, "nests deeper than");
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "took {:?}", t.elapsed());
}

#[test]
fn hostile_tag_names_are_escaped() {
    // Not a reference: skipped with a warning, which must be inert.
    let (_dir, out) = import(&Layout {
        tag: "\x1b]0;pwned\x07".into(),
        ..Default::default()
    });
    assert!(!out.stderr.contains('\x1b') && !out.stderr.contains('\x07'), "{:?}", out.stderr);
    assert_ne!(out.status.code(), Some(101), "{}", out.stderr);
}

#[test]
fn long_references_give_short_errors() {
    let store = tempfile::tempdir().unwrap();
    let long = format!("localhost:5000/X{}", "a".repeat(10_000));
    let out = rig_s(store.path(), &["image", "inspect", &long]);
    refused(store.path(), &out, "invalid image reference");
    let esc = "localhost:5000/\x1b]0;pwned\x07:1";
    let out = rig_s(store.path(), &["image", "inspect", esc]);
    refused(store.path(), &out, "invalid image reference");
}

#[test]
fn swollen_store_blob_is_refused_on_read() {
    let (dir, out) = import(&Layout::default());
    assert!(out.status.success(), "{}", out.stderr);
    let store = dir.path().join("store");
    // Make the layer blob far larger than its descriptor says.
    let layer = Layout::default().layer;
    let hex = hex_sha256(&layer);
    std::fs::write(store.join("blobs/sha256").join(&hex), vec![b'x'; 8 << 20]).unwrap();
    let tar = dir.path().join("out.tar");
    let out = rig_s(
        &store,
        &["image", "export", "localhost:5000/crafted/x:1.0", tar.to_str().unwrap()],
    );
    refused(&store, &out, &format!("blob sha256:{hex} is more than {} bytes", layer.len()));
}
