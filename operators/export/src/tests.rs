//! Export tests: real files in a temporary directory, driven through the SDK's [`Runner`].

use rig_operator_sdk::{Field, FieldKind, Output, OwnedBatch, RowsBuilder, Runner, Schema, host::native};

use super::{Export, resolve_path};

fn schema() -> Schema {
    let mut raw = Field::inline("timestamp_raw", FieldKind::U64, 0, 8);
    raw.hidden = true;
    raw.tags.push("type:gadget_timestamp".into());
    Schema::new(
        "open",
        vec![
            raw,
            Field::inline("proc.pid", FieldKind::U32, 8, 4),
            Field::inline("proc.comm", FieldKind::Text, 12, 16),
            Field::heap("timestamp", FieldKind::Text, 32),
            Field::heap("fname", FieldKind::Text, 40),
        ],
        48,
    )
    .unwrap()
}

fn batch(rows: &[(u32, &str, &str)]) -> OwnedBatch {
    let s = schema();
    let f = |n| s.resolve(n).unwrap();
    let mut b = RowsBuilder::new(&s);
    for (i, &(pid, comm, fname)) in rows.iter().enumerate() {
        let r = b.push_zeroed();
        b.set_u64(r, &f("timestamp_raw"), 99).unwrap();
        b.set_u64(r, &f("proc.pid"), u64::from(pid)).unwrap();
        b.set_str(r, &f("proc.comm"), comm).unwrap();
        b.set_str(r, &f("timestamp"), &format!("2023-11-14T22:13:2{i}Z"))
            .unwrap();
        b.set_str(r, &f("fname"), fname).unwrap();
    }
    b.finish()
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("rig-op-export-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn runner(cfg: &[(&str, &str)]) -> Result<Runner<Export>, String> {
    let cfg: Vec<(String, String)> = cfg.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    Runner::<Export>::init(&cfg, schema())
}

#[test]
fn jsonl_writes_every_row_nested_and_passes_the_batch() {
    native::reset();
    let dir = TempDir::new("jsonl");
    let path = dir.file("events.jsonl");
    let mut r = runner(&[("path", &path)]).unwrap();
    let b = batch(&[(1, "cat", "/etc/passwd"), (2, "less", "/tmp/\"q\"")]);
    assert_eq!(r.process(&b.rows, &b.heap, b.count).unwrap(), Output::Keep(vec![0, 1]));
    let b = batch(&[(3, "sh", "")]);
    assert_eq!(r.process(&b.rows, &b.heap, b.count).unwrap(), Output::Keep(vec![0]));
    assert_eq!(r.process(&[], &[], 0).unwrap(), Output::Keep(vec![]));
    assert_eq!(r.flush().unwrap(), None);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"proc":{"pid":1,"comm":"cat"},"timestamp":"2023-11-14T22:13:20Z","fname":"/etc/passwd"}"#,
            "\n",
            r#"{"proc":{"pid":2,"comm":"less"},"timestamp":"2023-11-14T22:13:21Z","fname":"/tmp/\"q\""}"#,
            "\n",
            r#"{"proc":{"pid":3,"comm":"sh"},"timestamp":"2023-11-14T22:13:20Z","fname":""}"#,
            "\n",
        )
    );
    assert_eq!(native::counter("exported"), 3);
}

#[test]
fn otlp_json_writes_one_request_per_batch() {
    native::reset();
    native::set_now_ns(1_700_000_001_000_000_000);
    let dir = TempDir::new("otlp");
    let path = dir.file("logs.json");
    let mut r = runner(&[("path", &path), ("format", "otlp-json")]).unwrap();
    let b = batch(&[(1, "cat", "/a"), (2, "dog", "/b")]);
    r.process(&b.rows, &b.heap, b.count).unwrap();
    r.process(&b.rows, &b.heap, b.count).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let l = lines[0];
    assert!(l.starts_with(r#"{"resourceLogs":[{"resource":"#), "{l}");
    assert!(l.contains(r#""scopeLogs":[{"scope":{"name":"rig","attributes":[{"key":"rig.datasource","value":{"stringValue":"open"}}]},"logRecords":[{"timeUnixNano":"1700000000000000000","observedTimeUnixNano":"1700000001000000000","body":{"kvlistValue":{"values":[{"key":"proc","value":{"kvlistValue":{"values":[{"key":"pid","value":{"intValue":"1"}},{"key":"comm","value":{"stringValue":"cat"}}]}}}"#), "{l}");
    assert!(
        l.contains(r#"{"timeUnixNano":"1700000001000000000""#),
        "second record has its own time: {l}"
    );
    assert_eq!(l.matches("\"body\"").count(), 2);
    assert!(!l.contains("timestamp_raw"), "hidden fields are not exported");
}

#[test]
fn time_field_can_be_chosen() {
    let dir = TempDir::new("timefield");
    let path = dir.file("t.json");
    let mut r = runner(&[("path", &path), ("format", "otlp"), ("time-field", "proc.pid")]).unwrap();
    let b = batch(&[(42, "x", "/")]);
    r.process(&b.rows, &b.heap, b.count).unwrap();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains(r#""timeUnixNano":"42""#)
    );
    let e = runner(&[("path", &path), ("format", "otlp-json"), ("time-field", "nope")]).unwrap_err();
    assert!(
        e.starts_with("export: time-field: datasource open has no field \"nope\""),
        "{e}"
    );
    let e = runner(&[("path", &path), ("time-field", "proc.pid")]).unwrap_err();
    assert!(e.contains("otlp-json only"), "{e}");
}

#[test]
fn append_keeps_earlier_lines_and_default_truncates() {
    let dir = TempDir::new("append");
    let path = dir.file("a.jsonl");
    let b = batch(&[(1, "a", "/")]);
    for _ in 0..2 {
        let mut r = runner(&[("path", &path), ("append", "true")]).unwrap();
        r.process(&b.rows, &b.heap, b.count).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    let mut r = runner(&[("path", &path)]).unwrap();
    r.process(&b.rows, &b.heap, b.count).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[test]
fn errors_name_the_path() {
    let e = runner(&[("path", "/nonexistent-dir/x.jsonl")]).unwrap_err();
    assert!(
        e.starts_with("export: cannot open \"/nonexistent-dir/x.jsonl\": "),
        "{e}"
    );
    if std::path::Path::new("/dev/full").exists() {
        let mut r = runner(&[("path", "/dev/full"), ("append", "true")]).unwrap();
        let b = batch(&[(1, "a", "/")]);
        let e = r.process(&b.rows, &b.heap, b.count).unwrap_err();
        assert!(e.starts_with("export: cannot write \"/dev/full\": "), "{e}");
    }
    assert_eq!(runner(&[]).unwrap_err(), "export: missing config key \"path\"");
    let e = runner(&[("path", "x"), ("format", "csv")]).unwrap_err();
    assert_eq!(e, "export: unknown format \"csv\" (formats: jsonl, otlp-json)");
}

#[test]
fn paths_resolve_inside_the_granted_directory() {
    let one = vec!["/out".to_owned()];
    assert_eq!(resolve_path("events.jsonl", &one).unwrap(), "/out/events.jsonl");
    assert_eq!(resolve_path("sub/e.jsonl", &one).unwrap(), "/out/sub/e.jsonl");
    assert_eq!(resolve_path("/out/e.jsonl", &one).unwrap(), "/out/e.jsonl");
    assert_eq!(resolve_path("e", &[".".to_owned()]).unwrap(), "./e");
    assert_eq!(resolve_path("e", &["/".to_owned()]).unwrap(), "/e");
    assert_eq!(resolve_path("/x/e", &["/".to_owned()]).unwrap(), "/x/e");
    assert_eq!(
        resolve_path("/outside/e", &one).unwrap_err(),
        "export: path \"/outside/e\" is outside the granted directory (\"/out\")"
    );
    assert!(
        resolve_path("/outfoo/e", &one).is_err(),
        "a prefix of the name is not inside it"
    );
    assert!(
        resolve_path("../e", &one)
            .unwrap_err()
            .contains("must not contain \"..\"")
    );
    assert!(resolve_path("a/../../e", &one).is_err());
    assert!(
        resolve_path("e", &[])
            .unwrap_err()
            .contains("granted this operator no directory")
    );
    assert!(
        resolve_path("/e", &[])
            .unwrap_err()
            .contains("granted this operator no directory")
    );
    let two = vec!["/a".to_owned(), "/b".to_owned()];
    assert!(resolve_path("e", &two).unwrap_err().contains("ambiguous"));
    assert_eq!(resolve_path("/b/e", &two).unwrap(), "/b/e");
    assert!(resolve_path("", &one).unwrap_err().contains("empty"));
}
