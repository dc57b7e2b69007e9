//! A gadget written only for this test runs with no change to rig's Rust code: its own struct,
//! field types, enum, parameter and tracepoint come out as declared.

use rig_tests::{RigRun, repo, require_kernel, sh};

#[test]
fn a_test_only_gadget_folder_runs_unchanged() {
    require_kernel();
    let dir = repo().join("tests/gadgets/custom");
    let run = RigRun::start(&[
        "run",
        dir.to_str().unwrap(),
        "-o",
        "json",
        "--magic",
        "7",
        "--timeout",
        "3",
    ]);
    sh("uname", &["-a"]);
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    let ev = events
        .iter()
        .find(|e| e["proc"]["comm"] == "uname")
        .unwrap_or_else(|| panic!("no uname event: {}", out.stdout));
    assert_eq!(ev["neg"], -1234);
    assert_eq!(ev["magic"], 7, "the parameter reached the kernel");
    assert_eq!(ev["big"], -5_000_000_000i64);
    assert_eq!(ev["flag"], true);
    assert_eq!(ev["label"], "rig-custom");
    assert_eq!(ev["inner"]["a"], 7);
    assert_eq!(ev["inner"]["b"], 9);
    assert_eq!(ev["color"], "CUSTOM_GREEN");
    assert_eq!(ev["error"], "ENOENT");
    assert_eq!(
        ev["small"].as_u64().unwrap(),
        ev["proc"]["pid"].as_u64().unwrap() & 0xff
    );
    assert!(ev.get("color_raw").is_none(), "raw enum value is hidden by default");
}

#[test]
fn the_custom_gadget_types_its_parameter_from_btf() {
    require_kernel();
    let dir = repo().join("tests/gadgets/custom");
    let out = rig_tests::rig(&["run", dir.to_str().unwrap(), "--magic", "not-a-number"]);
    assert!(!out.status.success());
    let err = out.stderr.trim();
    assert!(
        err.contains("--magic") && err.contains("expected an integer (u32)"),
        "{err}"
    );
}
