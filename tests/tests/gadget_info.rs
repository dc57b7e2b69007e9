//! `rig gadget info`: what an operator author writes against, from the built binary — the
//! layout of every field of a bundled gadget as JSON and as tables, and its parameters.
//!
//! Nothing is loaded into the kernel, but the gadget is compiled (clang, BTF) as for a run, so
//! these tests insist on root and BTF like every other end-to-end test.

use rig_tests::{repo, require_kernel, rig};
use serde_json::Value;

fn info_json(args: &[&str]) -> Value {
    let mut all = vec!["gadget", "info"];
    all.extend_from_slice(args);
    let out = rig(&all);
    assert!(out.status.success(), "rig {}: {}", all.join(" "), out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", out.stdout))
}

fn field<'a>(ds: &'a Value, name: &str) -> &'a Value {
    ds["fields"]
        .as_array()
        .expect("fields is a list")
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {ds}"))
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn trace_open_lists_fname_with_its_kind_offset_and_size() {
    require_kernel();
    let info = info_json(&["trace_open", "-o", "json"]);
    assert_eq!(info["gadget"], "trace_open");
    let ds = &info["datasources"][0];
    assert_eq!(ds["name"], "open");
    assert_eq!(ds["type"], "tracer");
    let (row_size, raw_size) = (num(&ds["row_size"]), num(&ds["raw_size"]));
    assert!(
        row_size > 0 && row_size.is_multiple_of(8) && raw_size <= row_size,
        "{ds}"
    );

    let fname = field(ds, "fname");
    assert_eq!(fname["kind"], "text", "{fname}");
    assert_eq!(
        fname["heap"], false,
        "trace_open's fname is a char array in the record: {fname}"
    );
    assert_eq!(fname["hidden"], false, "{fname}");
    let (offset, size) = (num(&fname["offset"]), num(&fname["size"]));
    assert!(
        size > 0 && offset + size <= raw_size,
        "fname {offset}+{size} lies in the {raw_size}-byte record"
    );
    assert!(
        fname["tags"].is_array() && fname["annotations"]["description"].is_string(),
        "{fname}"
    );

    // Every field fits its row, no two share a name, and heap values are 8-byte slots past the record.
    let mut names = std::collections::BTreeSet::new();
    for f in ds["fields"].as_array().expect("fields") {
        assert!(
            names.insert(f["name"].as_str().expect("name").to_owned()),
            "{f} repeated"
        );
        let (o, s) = (num(&f["offset"]), num(&f["size"]));
        assert!(s > 0 && o + s <= row_size, "{f} outside the {row_size}-byte row");
        if f["heap"] == true {
            assert!(s == 8 && o >= raw_size, "{f}");
        }
    }
    // Derived text (the errno's name) lives in the heap.
    let error = field(ds, "error");
    assert_eq!(
        (error["kind"].as_str(), error["heap"].as_bool()),
        (Some("text"), Some(true))
    );

    // The parameters, as `rig run trace_open --help` shows them.
    let params = info["params"].as_array().expect("params is a list");
    let comm = params.iter().find(|p| p["name"] == "comm").expect("--comm is listed");
    assert!(comm["type"].as_str().is_some_and(|t| t.starts_with("string")), "{comm}");
    assert!(comm["description"].as_str().is_some_and(|d| !d.is_empty()), "{comm}");
    let help = rig(&["run", "trace_open", "--help"]);
    for p in params {
        let flag = format!("--{}", p["name"].as_str().expect("name"));
        assert!(
            help.stdout.contains(&flag),
            "{flag} is not in rig run's help:\n{}",
            help.stdout
        );
    }
}

#[test]
fn the_tables_name_every_field_and_parameter() {
    require_kernel();
    let out = rig(&["gadget", "info", "trace_open"]);
    assert!(out.status.success(), "{}", out.stderr);
    let text = &out.stdout;
    assert!(text.contains("datasource open (tracer)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FIELD") && l.contains("OFFSET") && l.contains("SIZE")),
        "{text}"
    );
    let fname = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("fname"))
        .unwrap_or_else(|| panic!("no fname row:\n{text}"));
    let json = info_json(&["trace_open", "-o", "json"]);
    let f = field(&json["datasources"][0], "fname");
    let cols: Vec<&str> = fname.split_whitespace().collect();
    assert_eq!(cols[1], "text", "{fname}");
    assert_eq!(
        cols[2],
        f["offset"].to_string(),
        "the table and the JSON agree: {fname}"
    );
    assert_eq!(cols[3], f["size"].to_string(), "{fname}");
    assert_eq!(cols[4], "inline", "{fname}");
    assert!(text.contains("--comm"), "{text}");
}

#[test]
fn a_folder_and_flags_after_the_name_work_as_for_rig_run() {
    require_kernel();
    let dir = repo().join("tests/gadgets/custom");
    let info = info_json(&[dir.to_str().expect("utf-8"), "--pull", "never", "-o", "json"]);
    assert_eq!(info["datasources"][0]["name"], "custom", "{info}");
    let bad = rig(&["gadget", "info", "trace_open", "--no-such-flag"]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    let unknown = rig(&["gadget", "info", "trace_opne"]);
    assert!(!unknown.status.success());
    assert!(unknown.stderr.contains("did you mean trace_open"), "{}", unknown.stderr);
}
