//! Gadget images end to end, against a real registry (Debian's docker-registry on loopback):
//! build → push → remove → pull → run; the pushed documents checked field by field against
//! Inspektor Gadget's format; and every refusal — tampered layer, foreign signature, image not
//! allowed, registry refusing or vanishing — with a clear message, nothing run and the store
//! intact. Every test has its own store, so they run in parallel.

use std::path::{Path, PathBuf};

use rig_tests::registry::{Registry, TEST_USER, VanishingProxy, check_store, free_port, rig_env};
use rig_tests::{RigOutput, RigRun, repo, require_kernel, rig, sh};

fn gadget_dir(name: &str) -> String {
    repo().join("gadgets").join(name).display().to_string()
}

/// `rig ARGS --store STORE` (image subcommands take --store anywhere).
fn rig_s(store: &Path, args: &[&str]) -> RigOutput {
    let mut v: Vec<&str> = args.to_vec();
    v.extend(["--store", store.to_str().unwrap()]);
    rig(&v)
}

fn ok(out: RigOutput, what: &str) -> RigOutput {
    assert!(out.status.success(), "{what} failed:\n{}\n{}", out.stdout, out.stderr);
    out
}

fn refused(out: &RigOutput, needle: &str) {
    assert!(!out.status.success(), "expected a refusal, got success: {}", out.stdout);
    assert_ne!(out.status.code(), Some(101), "rig panicked: {}", out.stderr);
    let err = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {}", out.stderr));
    assert!(err.contains(needle), "error {err:?} does not say {needle:?}");
    assert!(!out.stderr.contains("gadget attached"), "something ran: {}", out.stderr);
}

fn digest_of(out: &RigOutput) -> String {
    out.stdout
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {:?}", out.stdout))
        .to_owned()
}

fn tags(store: &Path) -> Vec<String> {
    check_store(store).into_iter().map(|(t, _)| t).collect()
}

fn build(store: &Path, gadget: &str, tag: &str) -> String {
    digest_of(&ok(
        rig_s(store, &["image", "build", &gadget_dir(gadget), "-t", tag]),
        "build",
    ))
}

#[test]
fn build_push_remove_pull_run() {
    require_kernel();
    let reg = Registry::start();
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    let remote = format!("{}/g/trace_open:1.0", reg.addr);
    let built = build(s, "trace_open", "trace_open:latest");
    ok(rig_s(s, &["image", "tag", "trace_open", &remote]), "tag");
    let list = ok(rig_s(s, &["image", "list", "--no-trunc"]), "list");
    assert!(
        list.stdout.contains("trace_open") && list.stdout.contains(&built),
        "{}",
        list.stdout
    );
    let pushed = digest_of(&ok(rig_s(s, &["image", "push", &remote]), "push"));
    assert_eq!(pushed, built, "the registry has the digest the store had");

    // Removing one of two names only untags; removing the last deletes and collects.
    let out = ok(rig_s(s, &["image", "remove", "trace_open"]), "remove");
    assert!(out.stdout.contains("untagged"), "{}", out.stdout);
    let out = ok(rig_s(s, &["image", "remove", &remote]), "remove");
    assert!(out.stdout.contains("deleted"), "{}", out.stdout);
    assert!(tags(s).is_empty());
    let blobs = std::fs::read_dir(s.join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, 0, "garbage collection left blobs behind");

    let pulled = digest_of(&ok(rig_s(s, &["image", "pull", &remote]), "pull"));
    assert_eq!(pulled, built);
    assert_eq!(tags(s), vec![remote.clone()]);

    // Run it from the store, offline.
    let run = RigRun::start(&[
        "run",
        &remote,
        "--store",
        s.to_str().unwrap(),
        "--disallow-pulling",
        "-o",
        "json",
        "--comm",
        "cat",
        "--timeout",
        "3",
    ]);
    sh("cat", &["/etc/hostname"]);
    let out = run.wait();
    assert!(out.status.success(), "rig run failed: {}", out.stderr);
    assert!(out.stderr.contains("running image"), "{}", out.stderr);
    let events = out.json_lines();
    assert!(
        events.iter().any(|e| e["fname"] == "/etc/hostname"),
        "no open of /etc/hostname: {}",
        out.stdout
    );
}

#[test]
fn a_short_name_runs_the_local_image_first() {
    require_kernel();
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    build(s, "trace_open", "trace_open:latest");
    // `--help` resolves the gadget (and prints its flags) without loading it.
    let out = ok(
        rig(&[
            "run",
            "trace_open",
            "--store",
            s.to_str().unwrap(),
            "--disallow-pulling",
            "--help",
        ]),
        "run --help",
    );
    assert!(out.stderr.contains("running image"), "{}", out.stderr);
    assert!(out.stdout.contains("--comm"), "{}", out.stdout);
    // An empty store falls back to the bundled source, never to the network.
    let empty = tempfile::tempdir().unwrap();
    let out = ok(
        rig(&[
            "run",
            "trace_open",
            "--store",
            empty.path().to_str().unwrap(),
            "--disallow-pulling",
            "--help",
        ]),
        "run --help",
    );
    assert!(!out.stderr.contains("running image"), "{}", out.stderr);
    // A name that is nowhere, offline: refused, naming the setting.
    let out = rig(&[
        "run",
        "localhost:1/none/x:1",
        "--store",
        empty.path().to_str().unwrap(),
        "--disallow-pulling",
    ]);
    refused(&out, "pulling is disabled");
}

#[test]
fn the_pushed_image_has_ig_media_types_and_annotations() {
    require_kernel();
    let reg = Registry::start();
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let remote = format!("{}/g/trace_open:1.0", reg.addr);
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let built = digest_of(&ok(
        rig_env(
            &["image", "build", &gadget_dir("trace_open"), "-t", &remote, "--store", s],
            &epoch,
        ),
        "build",
    ));
    ok(rig(&["image", "push", &remote, "--store", s]), "push");

    // Reproducible: the same sources and epoch give the same digest in another store.
    let other = tempfile::tempdir().unwrap();
    let again = digest_of(&ok(
        rig_env(
            &[
                "image",
                "build",
                &gadget_dir("trace_open"),
                "-t",
                "x:1",
                "--store",
                other.path().to_str().unwrap(),
            ],
            &epoch,
        ),
        "rebuild",
    ));
    assert_eq!(again, built, "SOURCE_DATE_EPOCH builds are reproducible");

    let yaml = std::fs::read(repo().join("gadgets/trace_open/gadget.yaml")).unwrap();
    let meta: serde_json::Value = {
        let text = String::from_utf8_lossy(&yaml);
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name: "))
            .unwrap()
            .trim()
            .to_owned();
        let description = text
            .lines()
            .find_map(|l| l.strip_prefix("description: "))
            .unwrap()
            .trim()
            .to_owned();
        serde_json::json!({"name": name, "description": description})
    };
    let expect_annotations = |a: &serde_json::Value, level: &str| {
        assert_eq!(a["org.opencontainers.image.title"], meta["name"], "{level} title");
        assert_eq!(
            a["org.opencontainers.image.description"], meta["description"],
            "{level} description"
        );
        assert_eq!(
            a["org.opencontainers.image.created"], "2023-11-14T22:13:20Z",
            "{level} created"
        );
    };

    // Index.
    let index = reg.get(
        "/v2/g/trace_open/manifests/1.0",
        &["application/vnd.oci.image.index.v1+json"],
    );
    assert_eq!(index.status, 200, "{}", String::from_utf8_lossy(&index.body));
    assert_eq!(index.header("docker-content-digest"), Some(built.as_str()));
    let index = index.json();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    expect_annotations(&index["annotations"], "index");
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(entry["artifactType"], "application/vnd.gadget.v1+binary");
    assert_eq!(entry["platform"]["os"], "linux");
    assert_eq!(entry["platform"]["architecture"], "amd64");

    // Manifest.
    let digest = entry["digest"].as_str().unwrap();
    let m = reg.get(
        &format!("/v2/g/trace_open/manifests/{digest}"),
        &["application/vnd.oci.image.manifest.v1+json"],
    );
    assert_eq!(m.status, 200);
    assert_eq!(m.body.len() as u64, entry["size"].as_u64().unwrap());
    let m = m.json();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(m["artifactType"], "application/vnd.gadget.v1+binary");
    expect_annotations(&m["annotations"], "manifest");

    // Config: the raw gadget.yaml.
    let config = &m["config"];
    assert_eq!(config["mediaType"], "application/vnd.gadget.config.v1+yaml");
    expect_annotations(&config["annotations"], "config");
    let blob = reg.get(
        &format!("/v2/g/trace_open/blobs/{}", config["digest"].as_str().unwrap()),
        &[],
    );
    assert_eq!(blob.status, 200);
    assert_eq!(blob.body, yaml, "the config is gadget.yaml byte for byte");

    // Layers: exactly the eBPF ELF (no wasm, no btfgen for this gadget).
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/vnd.gadget.ebpf.program.v1+binary");
    let elf = reg.get(
        &format!("/v2/g/trace_open/blobs/{}", layers[0]["digest"].as_str().unwrap()),
        &[],
    );
    assert_eq!(elf.body.len() as u64, layers[0]["size"].as_u64().unwrap());
    assert_eq!(&elf.body[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([elf.body[18], elf.body[19]]),
        247,
        "an eBPF ELF (EM_BPF)"
    );
}

#[test]
fn a_tampered_layer_is_refused_in_the_registry_and_in_the_store() {
    require_kernel();
    let reg = Registry::start();
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    let remote = format!("{}/g/trace_open:1.0", reg.addr);
    build(s, "trace_open", &remote);
    ok(rig_s(s, &["image", "push", &remote]), "push");

    // Local store: flip a byte of the eBPF layer.
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(rig_s(s, &["image", "inspect", &remote]), "inspect").stdout).unwrap();
    let layer = inspect["manifest"]["layers"][0]["digest"].as_str().unwrap().to_owned();
    let path = s.join("blobs/sha256").join(layer.strip_prefix("sha256:").unwrap());
    let mut data = std::fs::read(&path).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let out = rig(&[
        "run",
        &remote,
        "--store",
        s.to_str().unwrap(),
        "--disallow-pulling",
        "--timeout",
        "1",
    ]);
    refused(&out, "tampered");

    // Registry: the same layer altered in the registry's storage.
    let reg_blob = reg.blob_path(&layer);
    std::fs::write(&reg_blob, &data).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let out = rig_s(fresh.path(), &["image", "pull", &remote]);
    refused(&out, &format!("pulling {remote}"));
    assert!(out.stderr.to_lowercase().contains("digest"), "{}", out.stderr);
    assert!(tags(fresh.path()).is_empty(), "a tampered image was tagged");
}

#[test]
fn signatures_by_another_key_and_unsigned_images_are_refused() {
    require_kernel();
    let reg = Registry::start();
    let keys = tempfile::tempdir().unwrap();
    let k = |n: &str| keys.path().join(n).display().to_string();
    ok(rig(&["image", "keygen", &k("mine")]), "keygen");
    ok(rig(&["image", "keygen", &k("other")]), "keygen");
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    let signed = format!("{}/g/trace_open:1.0", reg.addr);
    // Signatures are per digest: the unsigned image must be another build.
    let unsigned = format!("{}/g/trace_exec:1.0", reg.addr);
    build(s, "trace_open", &signed);
    build(s, "trace_exec", &unsigned);
    ok(rig_s(s, &["image", "push", &signed]), "push");
    let sig = ok(rig_s(s, &["image", "sign", "--key", &k("mine.key"), &signed]), "sign");
    assert!(sig.stdout.contains(".sig"), "{}", sig.stdout);
    ok(
        rig_s(s, &["image", "verify", "--public-keys", &k("mine.pub"), &signed]),
        "verify",
    );

    // The signature lives in the registry as cosign's sha256-<hex>.sig tag.
    let digest = {
        let i = reg.get(
            "/v2/g/trace_open/manifests/1.0",
            &["application/vnd.oci.image.index.v1+json"],
        );
        i.header("docker-content-digest").unwrap().to_owned()
    };
    let tag = format!("sha256-{}.sig", digest.strip_prefix("sha256:").unwrap());
    let sigm = reg.get(
        &format!("/v2/g/trace_open/manifests/{tag}"),
        &["application/vnd.oci.image.manifest.v1+json"],
    );
    assert_eq!(sigm.status, 200, "no {tag} in the registry");
    let sigm = sigm.json();
    let layer = &sigm["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json");
    assert!(layer["annotations"]["dev.cosignproject.cosign/signature"].is_string());
    let payload = reg.get(
        &format!("/v2/g/trace_open/blobs/{}", layer["digest"].as_str().unwrap()),
        &[],
    );
    let payload = payload.json();
    assert_eq!(payload["critical"]["image"]["docker-manifest-digest"], digest);
    assert_eq!(payload["critical"]["type"], "cosign container image signature");

    // Another key: refused at pull, nothing stored, nothing run.
    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path().to_str().unwrap();
    let out = rig(&[
        "run",
        &signed,
        "--store",
        f,
        "--verify-image",
        "--public-keys",
        &k("other.pub"),
        "--timeout",
        "1",
    ]);
    refused(&out, "another key");
    assert!(tags(fresh.path()).is_empty(), "an untrusted image was stored");
    // Unsigned: refused.
    ok(rig_s(s, &["image", "push", &unsigned]), "push");
    let out = rig(&[
        "run",
        &unsigned,
        "--store",
        f,
        "--public-keys",
        &k("mine.pub"),
        "--timeout",
        "1",
    ]);
    refused(&out, "not signed");
    // The right key: admitted (help resolves without loading), signature kept for offline runs.
    ok(
        rig(&["run", &signed, "--store", f, "--public-keys", &k("mine.pub"), "--help"]),
        "verified run",
    );
    let t = tags(fresh.path());
    assert!(t.contains(&signed) && t.iter().any(|x| x.ends_with(".sig")), "{t:?}");
    ok(
        rig(&[
            "run",
            &signed,
            "--store",
            f,
            "--public-keys",
            &k("mine.pub"),
            "--disallow-pulling",
            "--help",
        ]),
        "verified offline run",
    );
    // A local image that nobody signed is refused when verifying.
    let out = rig(&[
        "run",
        &unsigned,
        "--store",
        s.to_str().unwrap(),
        "--public-keys",
        &k("mine.pub"),
        "--timeout",
        "1",
    ]);
    refused(&out, "not signed");
}

#[test]
fn images_outside_allowed_gadgets_are_refused() {
    require_kernel();
    let reg = Registry::start();
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    let remote = format!("{}/g/trace_open:1.0", reg.addr);
    let digest = build(s, "trace_open", &remote);
    ok(rig_s(s, &["image", "push", &remote]), "push");
    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path().to_str().unwrap();
    let other = format!("{}/other/*", reg.addr);
    let out = rig(&[
        "run",
        &remote,
        "--store",
        f,
        "--allowed-gadgets",
        &other,
        "--timeout",
        "1",
    ]);
    refused(&out, "not in --allowed-gadgets");
    assert!(tags(fresh.path()).is_empty(), "a refused image was pulled");
    // Local images are checked too, and folders are not images.
    let out = rig(&[
        "run",
        &remote,
        "--store",
        s.to_str().unwrap(),
        "--allowed-gadgets",
        &other,
        "--timeout",
        "1",
    ]);
    refused(&out, "not in --allowed-gadgets");
    let out = rig(&[
        "run",
        &gadget_dir("trace_open"),
        "--allowed-gadgets",
        &other,
        "--timeout",
        "1",
    ]);
    refused(&out, "not in --allowed-gadgets");
    // Exact, digest and prefix patterns admit it.
    for pattern in [
        remote.clone(),
        format!("{}/g/trace_open@{digest}", reg.addr),
        format!("{}/g/*", reg.addr),
    ] {
        ok(
            rig(&["run", &remote, "--store", f, "--allowed-gadgets", &pattern, "--help"]),
            &format!("allowed by {pattern}"),
        );
    }
    let wrong_digest = format!("{}/g/trace_open@sha256:{}", reg.addr, "0".repeat(64));
    let out = rig(&[
        "run",
        &remote,
        "--store",
        f,
        "--allowed-gadgets",
        &wrong_digest,
        "--timeout",
        "1",
    ]);
    refused(&out, "not in --allowed-gadgets");
}

#[test]
fn registries_that_refuse_or_vanish_leave_the_store_intact() {
    require_kernel();
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    // Nothing listening.
    let nowhere = format!("127.0.0.1:{}/g/x:1", free_port());
    let out = rig_s(s, &["image", "pull", &nowhere]);
    refused(&out, "registry 127.0.0.1");
    assert!(tags(s).is_empty());

    // A registry that wants credentials.
    let reg = Registry::start_with_auth();
    let auth = tempfile::tempdir().unwrap();
    let authfile = auth.path().join("config.json");
    let af = authfile.to_str().unwrap();
    let remote = format!("{}/g/trace_open:1.0", reg.addr);
    build(s, "trace_open", &remote);
    let out = rig_s(s, &["image", "push", &remote, "--authfile", af]);
    refused(&out, &format!("pushing {remote}"));
    let e = out.stderr.to_lowercase();
    assert!(
        e.contains("unauthorized") || e.contains("not authorized"),
        "{}",
        out.stderr
    );
    ok(
        rig(&[
            "login",
            &reg.addr,
            "-u",
            TEST_USER.0,
            "-p",
            TEST_USER.1,
            "--authfile",
            af,
        ]),
        "login",
    );
    ok(
        rig_s(s, &["image", "push", &remote, "--authfile", af]),
        "push with credentials",
    );
    let fresh = tempfile::tempdir().unwrap();
    ok(
        rig_s(fresh.path(), &["image", "pull", &remote, "--authfile", af]),
        "pull with credentials",
    );
    ok(rig(&["logout", &reg.addr, "--authfile", af]), "logout");
    let fresh2 = tempfile::tempdir().unwrap();
    let out = rig_s(fresh2.path(), &["image", "pull", &remote, "--authfile", af]);
    refused(&out, &format!("pulling {remote}"));
    assert!(tags(fresh2.path()).is_empty());

    // A registry that disappears in the middle of a large layer.
    let reg = Registry::start();
    let big = tempfile::tempdir().unwrap();
    for f in ["program.bpf.c", "gadget.yaml"] {
        std::fs::copy(repo().join("gadgets/trace_open").join(f), big.path().join(f)).unwrap();
    }
    let noise: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(big.path().join("big.wasm"), noise).unwrap();
    std::fs::write(big.path().join("build.yaml"), "wasm: big.wasm\n").unwrap();
    let direct = format!("{}/g/big:1", reg.addr);
    ok(
        rig_s(s, &["image", "build", big.path().to_str().unwrap(), "-t", &direct]),
        "build big",
    );
    ok(rig_s(s, &["image", "push", &direct]), "push big");
    let proxy = VanishingProxy::start(&reg.addr, 1 << 20);
    let via_proxy = format!("{}/g/big:1", proxy.addr);
    let target = tempfile::tempdir().unwrap();
    let t = target.path();
    // Something already in the store must survive the failed pull.
    build(t, "trace_open", "keep:1");
    let before = check_store(t);
    let out = rig_s(t, &["image", "pull", &via_proxy]);
    assert!(proxy.vanished(), "the proxy never cut the transfer: {}", out.stderr);
    refused(&out, &format!("pulling {via_proxy}"));
    assert_eq!(check_store(t), before, "the store changed after a failed pull");
    // The same image pulls fine once the registry is reachable.
    ok(rig_s(t, &["image", "pull", &direct]), "pull after failure");
    assert_eq!(check_store(t).len(), 2);
}

#[test]
fn export_then_import_keeps_every_digest() {
    require_kernel();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let tarball: PathBuf = a.path().join("gadgets.tar");
    build(a.path(), "trace_open", "trace_open:latest");
    build(a.path(), "trace_exec", "trace_exec:latest");
    let t = tarball.to_str().unwrap();
    ok(
        rig_s(a.path(), &["image", "export", "trace_open", "trace_exec", t]),
        "export",
    );
    let store_a = tempfile::tempdir().unwrap();
    // Import into an empty store, then compare tags and digests.
    ok(rig_s(b.path(), &["image", "import", t]), "import");
    let mut left = check_store(a.path());
    let mut right = check_store(b.path());
    left.sort();
    right.sort();
    assert_eq!(left, right, "import changed a digest");
    // Exporting again gives the same bytes: the tarball is deterministic.
    let again = store_a.path().join("again.tar");
    ok(
        rig_s(
            b.path(),
            &["image", "export", "trace_exec", "trace_open", again.to_str().unwrap()],
        ),
        "export again",
    );
    assert_eq!(std::fs::read(&tarball).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn concurrent_builds_leave_a_valid_store() {
    require_kernel();
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap().to_owned();
    // Warm the compile cache so the builds race on the store, not on clang.
    build(store.path(), "trace_exec", "warm:1");
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let gadget = if i % 2 == 0 { "trace_exec" } else { "trace_open" };
                let tag = format!("race{i}:latest");
                rig(&["image", "build", &gadget_dir(gadget), "-t", &tag, "--store", &s])
            })
        })
        .collect();
    for h in handles {
        ok(h.join().unwrap(), "concurrent build");
    }
    let mut t = tags(store.path());
    t.sort();
    assert_eq!(t.len(), 7, "{t:?}");
    for i in 0..6 {
        assert!(
            t.iter().any(|x| x.ends_with(&format!("/race{i}:latest"))),
            "race{i} missing: {t:?}"
        );
    }
    // And removing them all concurrently leaves an empty, valid store.
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || rig(&["image", "remove", &format!("race{i}"), "--store", &s]))
        })
        .collect();
    for h in handles {
        ok(h.join().unwrap(), "concurrent remove");
    }
    assert_eq!(tags(store.path()).len(), 1);
}

#[test]
fn an_operator_image_from_the_registry_runs_as_oci_reference() {
    require_kernel();
    let reg = Registry::start();
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    let wasm = repo().join("operators/target/wasm32-wasip2/release/rig_op_redact.wasm");
    let remote = format!("{}/ops/redact:1.0", reg.addr);
    ok(
        rig_s(s, &["image", "build", wasm.to_str().unwrap(), "-t", &remote]),
        "build operator image",
    );
    ok(rig_s(s, &["image", "push", &remote]), "push");
    ok(rig_s(s, &["image", "remove", &remote]), "remove");

    // A fresh store: the run pulls the operator image, then uses it (node named `redact`).
    let fresh = tempfile::tempdir().unwrap();
    let operator = format!("oci://{remote}");
    let run = RigRun::start(&[
        "run",
        "trace_open",
        "--store",
        fresh.path().to_str().unwrap(),
        "-o",
        "json",
        "--comm",
        "cat",
        "--operator",
        &operator,
        "--operator-param",
        "redact.fields=fname",
        "--timeout",
        "3",
    ]);
    sh("cat", &["/etc/hostname"]);
    let out = run.wait();
    assert!(out.status.success(), "rig run failed: {}", out.stderr);
    let events = out.json_lines();
    assert!(!events.is_empty(), "no open by cat: {}", out.stderr);
    assert!(events.iter().all(|e| e["fname"] == "[redacted]"), "{}", out.stdout);
    assert!(
        tags(fresh.path()).contains(&remote),
        "the operator image was pulled into the store"
    );

    // A gadget image is not an operator: refused, naming the node and the image.
    let gadget = format!("{}/g/trace_open:1.0", reg.addr);
    build(s, "trace_open", &gadget);
    ok(rig_s(s, &["image", "push", &gadget]), "push gadget");
    let out = rig(&[
        "run",
        "trace_open",
        "--store",
        fresh.path().to_str().unwrap(),
        "--operator",
        &format!("oci://{gadget}"),
        "--timeout",
        "1",
    ]);
    refused(&out, "trace_open");
}
