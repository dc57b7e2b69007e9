//! Inspektor Gadget's published images, pulled as IG pushes them: an index with one manifest per
//! architecture (amd64 and arm64), manifests without a `mediaType` field (IG's Go marshalling
//! omits it), a btfgen layer next to the eBPF object, IG's annotations — uploaded to a real
//! registry on loopback under IG's own path (`inspektor-gadget/gadget/trace_open:v0.55.1`) by a
//! plain OCI client, not by rig. And the other side: a short name that is nowhere local, with no
//! registry configured, says how to build it or where to point rig instead of failing on DNS.

use std::path::Path;

use rig_tests::registry::{Registry, rig_env};
use rig_tests::{RigOutput, repo, require_kernel, tag};
use serde_json::{Value, json};

const IG_REPO: &str = "inspektor-gadget/gadget/trace_open";
const IG_TAG: &str = "v0.55.1";

fn ok(out: RigOutput, what: &str) -> RigOutput {
    assert!(out.status.success(), "{what} failed:\n{}\n{}", out.stdout, out.stderr);
    out
}

/// The eBPF object `rig image build` compiles for the bundled trace_open (written against the
/// same ABI as IG's), read back out of a scratch store.
fn trace_open_object(scratch: &Path) -> Vec<u8> {
    let store = scratch.join("build-store");
    let dir = repo().join("gadgets/trace_open");
    let s = store.to_str().unwrap();
    ok(
        rig_env(&["image", "build", dir.to_str().unwrap(), "-t", "obj:1", "--store", s], &[]),
        "image build",
    );
    let blob = |digest: &str| -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::read(store.join("blobs/sha256").join(hex)).expect("blob in the store")
    };
    let json = |digest: &str| -> Value { serde_json::from_slice(&blob(digest)).expect("JSON blob") };
    let top: Value = serde_json::from_slice(&std::fs::read(store.join("index.json")).unwrap()).unwrap();
    let index = json(top["manifests"][0]["digest"].as_str().unwrap());
    let manifest = json(index["manifests"][0]["digest"].as_str().unwrap());
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.gadget.ebpf.program.v1+binary")
        .expect("an eBPF layer");
    blob(layer["digest"].as_str().unwrap())
}

fn descriptor(media_type: &str, digest: &str, data: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": digest, "size": data.len()})
}

/// Pushes trace_open in IG's image layout and returns the index digest.
fn push_ig_image(reg: &Registry, elf: &[u8]) -> String {
    let yaml = std::fs::read(repo().join("gadgets/trace_open/gadget.yaml")).unwrap();
    let annotations = json!({
        "org.opencontainers.image.title": "trace open",
        "org.opencontainers.image.description": "trace open files",
        "org.opencontainers.image.url": "https://inspektor-gadget.io/",
        "org.opencontainers.image.documentation": "https://inspektor-gadget.io/docs",
        "org.opencontainers.image.source": "https://github.com/inspektor-gadget/inspektor-gadget/tree/main/gadgets/trace_open",
        "io.inspektor-gadget.builder.version": IG_TAG,
        "org.opencontainers.image.created": "2026-06-01T00:00:00Z",
    });
    let config_digest = reg.push_blob(IG_REPO, &yaml);
    let mut config = descriptor("application/vnd.gadget.config.v1+yaml", &config_digest, &yaml);
    config["annotations"] = annotations.clone();
    // Each architecture gets its own object and its own btfgen tarball (any bytes will do for
    // rig, which relocates against this kernel's BTF: it must simply not trip over the layer).
    let mut manifests = Vec::new();
    for (arch, object) in [("amd64", elf.to_vec()), ("arm64", b"\x7fELF not for this machine".to_vec())] {
        let btfgen = format!("btfgen tarball for {arch}").into_bytes();
        let object_digest = reg.push_blob(IG_REPO, &object);
        let btf_digest = reg.push_blob(IG_REPO, &btfgen);
        let manifest = json!({
            "schemaVersion": 2,
            "artifactType": "application/vnd.gadget.v1+binary",
            "config": config,
            "layers": [
                descriptor("application/vnd.gadget.ebpf.program.v1+binary", &object_digest, &object),
                descriptor("application/vnd.gadget.btfgen.v1+binary", &btf_digest, &btfgen),
            ],
            "annotations": annotations,
        });
        let body = serde_json::to_vec(&manifest).unwrap();
        let media = "application/vnd.oci.image.manifest.v1+json";
        let digest = reg.put_manifest(IG_REPO, &format!("sha256:{}", &rig_tests::registry::hex_sha256(&body)), media, &body);
        let mut d = descriptor(media, &digest, &body);
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        d["annotations"] = annotations.clone();
        manifests.push(d);
    }
    // IG lists architectures sorted: amd64 first. Put arm64 first so rig has to choose.
    manifests.reverse();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
        "annotations": annotations,
    });
    let body = serde_json::to_vec(&index).unwrap();
    reg.put_manifest(IG_REPO, IG_TAG, "application/vnd.oci.image.index.v1+json", &body)
}

#[test]
fn an_image_in_igs_layout_under_igs_path_pulls_and_runs() {
    require_kernel();
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let elf = trace_open_object(tmp.path());
    let index_digest = push_ig_image(&reg, &elf);
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();
    let reference = format!("{}/{IG_REPO}:{IG_TAG}", reg.addr);

    let marker = tmp.path().join(format!("ig-image-{}", tag("open")));
    let opener = {
        let marker = marker.clone();
        std::thread::spawn(move || {
            for _ in 0..60 {
                let _ = std::fs::write(&marker, b"x");
                let _ = std::fs::read(&marker);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
    let run = rig_env(
        &["run", &reference, "--store", s, "-o", "json", "--timeout", "4", "--filter", &format!("fname=={}", marker.display())],
        &[],
    );
    opener.join().unwrap();
    let run = ok(run, "rig run of the IG-layout image");
    let events: Vec<Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events.iter().any(|e| e["fname"] == marker.to_str().unwrap()),
        "no open of {} among {} events:\n{}",
        marker.display(),
        events.len(),
        run.stderr
    );

    // It is in the store under IG's name, pinned to the index IG pushed.
    let list = ok(rig_env(&["image", "list", "--no-trunc", "--store", s], &[]), "image list");
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains(IG_REPO))
        .unwrap_or_else(|| panic!("{IG_REPO} not listed:\n{}", list.stdout));
    assert!(line.contains(IG_TAG) && line.contains(&index_digest), "{line}");
}

#[test]
fn a_short_name_without_a_registry_says_how_to_get_the_gadget() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("store");
    for (args, name) in [
        (vec!["run", "trace_dns:latest"], "trace_dns:latest"),
        (vec!["run", "net/trace_dns"], "net/trace_dns:latest"),
        (vec!["image", "pull", "trace_dns:v1"], "trace_dns:v1"),
    ] {
        let mut v = args.clone();
        v.extend(["--store", s.to_str().unwrap()]);
        let out = rig_env(&v, &[]);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = out.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
        for needle in [name, "rig image build", "ghcr.io/inspektor-gadget/gadget/", "RIG_DEFAULT_REGISTRY"] {
            assert!(err.contains(needle), "{args:?}: {err:?} does not say {needle:?}");
        }
        assert!(!out.stderr.contains("dns error"), "{args:?} went to the network: {}", out.stderr);
    }
}
