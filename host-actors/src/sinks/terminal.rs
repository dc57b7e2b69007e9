//! The terminal sink: prints every event of a datasource to stdout (or any writer).
//!
//! [`TerminalSink`] resolves `--fields` against the schema when it is built, precomputes the
//! chosen format's layout, and then, per batch, renders all rows into one reused buffer that
//! goes out in a single `write_all` and a flush — one system call per batch instead of one per
//! event (a batch that renders past [`CHUNK`] bytes is written in pieces, to bound memory). The
//! columns header is printed once, before the first batch, or at the end of a run that had no
//! events at all. A closed pipe (`rig … | head`) stops the run quietly with
//! `StageError::Fatal("output closed")`.

use std::io::{ErrorKind, Write};
use std::sync::Arc;

use rig_kernel::graph::OUTPUT_CLOSED;
use rig_kernel::{Batch, FieldId, Schema, Stage, StageError};

use super::columns::ColumnsLayout;
use super::structured::{Plan, Style};
use super::{OutputFormat, SinkError};

/// Rendered bytes past which a batch is written before it is complete.
const CHUNK: usize = 8 << 20;

/// How rows are rendered.
#[derive(Debug)]
enum Renderer {
    Columns(ColumnsLayout),
    Structured(Plan),
}

/// A [`Stage`] that prints events as columns, JSON or YAML and forwards nothing.
pub struct TerminalSink {
    schema: Arc<Schema>,
    format: OutputFormat,
    renderer: Renderer,
    out: Box<dyn Write + Send>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    header_pending: bool,
    closed: bool,
}

impl std::fmt::Debug for TerminalSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalSink")
            .field("datasource", &self.schema.datasource)
            .field("format", &self.format)
            .field("renderer", &self.renderer)
            .finish_non_exhaustive()
    }
}

/// The fields `--fields` selects, in print order.
///
/// `None` means every field that is not hidden, in schema order; for columns, fields annotated
/// `columns.hidden: true` are left out too (they still appear in JSON and YAML, as in IG). A list of names selects exactly
/// those (hidden ones included); when any entry starts with `+` or `-`, the list edits the
/// default selection instead (`-fname,+proc.creds.uid`), unprefixed names counting as `+`.
/// Blank entries are ignored and repeated names printed once.
fn select(schema: &Schema, format: OutputFormat, fields: Option<&[String]>) -> Result<Vec<FieldId>, SinkError> {
    let default = || {
        let mut v = schema.visible();
        if format == OutputFormat::Columns {
            v.retain(|id| schema.field(*id).annotation("columns.hidden") != Some("true"));
        }
        v
    };
    let resolve = |name: &str| {
        schema.find(name).ok_or_else(|| SinkError::UnknownField {
            datasource: schema.datasource.clone(),
            name: name.to_owned(),
            known: schema
                .visible()
                .iter()
                .map(|id| schema.field(*id).name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    };
    let selected = match fields {
        None => default(),
        Some(list) => {
            let names: Vec<&str> = list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
            let edits = names.iter().any(|n| n.starts_with(['+', '-']));
            let mut selected = if edits { default() } else { Vec::new() };
            for name in names {
                if let Some(removed) = name.strip_prefix('-') {
                    let id = resolve(removed.trim())?;
                    selected.retain(|s| *s != id);
                } else {
                    let id = resolve(name.strip_prefix('+').unwrap_or(name).trim())?;
                    if !selected.contains(&id) {
                        selected.push(id);
                    }
                }
            }
            selected
        }
    };
    if selected.is_empty() {
        return Err(SinkError::NoFields {
            datasource: schema.datasource.clone(),
        });
    }
    Ok(selected)
}

impl TerminalSink {
    /// Builds a sink for one datasource.
    ///
    /// `fields` is the `--fields` list: `None` prints every non-hidden field in schema order;
    /// names select exactly those fields in that order (hidden ones allowed); when any entry
    /// starts with `+` or `-` the list edits the default selection instead. An unknown name fails
    /// here with [`SinkError::UnknownField`], naming the fields that exist.
    pub fn new(
        schema: &Arc<Schema>,
        format: OutputFormat,
        fields: Option<&[String]>,
        out: Box<dyn Write + Send>,
    ) -> Result<TerminalSink, SinkError> {
        let selected = select(schema, format, fields)?;
        let renderer = match format {
            OutputFormat::Columns => Renderer::Columns(ColumnsLayout::new(schema, &selected)),
            OutputFormat::Json => Renderer::Structured(Plan::new(schema, &selected, Style::Json)),
            OutputFormat::JsonPretty => Renderer::Structured(Plan::new(schema, &selected, Style::JsonPretty)),
            OutputFormat::Yaml => Renderer::Structured(Plan::new(schema, &selected, Style::Yaml)),
        };
        tracing::debug!(datasource = %schema.datasource, %format, fields = selected.len(), "terminal sink ready");
        Ok(TerminalSink {
            schema: schema.clone(),
            format,
            header_pending: format == OutputFormat::Columns,
            renderer,
            out,
            buf: Vec::new(),
            scratch: Vec::new(),
            closed: false,
        })
    }

    /// Field ids are only meaningful for the schema the sink was built with.
    fn same_schema(&mut self, other: &Arc<Schema>) -> bool {
        if Arc::ptr_eq(other, &self.schema) {
            return true;
        }
        if **other == *self.schema {
            // Remember this Arc so the next batch takes the pointer check.
            self.schema = other.clone();
            return true;
        }
        false
    }

    fn push_header(&mut self) {
        if self.header_pending {
            self.header_pending = false;
            if let Renderer::Columns(layout) = &self.renderer {
                self.buf.extend_from_slice(layout.header());
            }
        }
    }

    /// Writes out the buffer (and flushes when asked), then empties it.
    fn write_buf(&mut self, flush: bool) -> Result<(), StageError> {
        if self.closed {
            return Err(StageError::Fatal(OUTPUT_CLOSED.into()));
        }
        let mut result = Ok(());
        if !self.buf.is_empty() {
            result = self.out.write_all(&self.buf);
            self.buf.clear();
        }
        if flush && result.is_ok() {
            result = self.out.flush();
        }
        result.map_err(|e| {
            if e.kind() == ErrorKind::BrokenPipe {
                self.closed = true;
                tracing::debug!(datasource = %self.schema.datasource, "output closed");
                StageError::Fatal(OUTPUT_CLOSED.into())
            } else {
                StageError::Fatal(format!(
                    "writing {} output of datasource {}: {e}",
                    self.format, self.schema.datasource
                ))
            }
        })
    }
}

impl Stage for TerminalSink {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        if !self.same_schema(input) {
            return Err(StageError::Fatal(format!(
                "the terminal sink was built for datasource {} but receives a different schema ({})",
                self.schema.datasource, input.datasource
            )));
        }
        Ok(input.clone())
    }

    fn process(&mut self, batch: Batch) -> Result<Option<Batch>, StageError> {
        if self.closed {
            return Err(StageError::Fatal(OUTPUT_CLOSED.into()));
        }
        if !self.same_schema(batch.schema()) {
            return Err(StageError::Batch(format!(
                "terminal sink for datasource {} got a batch with another schema ({})",
                self.schema.datasource,
                batch.schema().datasource
            )));
        }
        self.push_header();
        for row in 0..batch.len() {
            match &self.renderer {
                Renderer::Columns(layout) => layout.write_row(&batch, row, &mut self.buf, &mut self.scratch),
                Renderer::Structured(plan) => plan.write_row(&batch, row, &mut self.buf, &mut self.scratch),
            }
            if self.buf.len() >= CHUNK {
                self.write_buf(false)?;
            }
        }
        self.write_buf(true)?;
        Ok(None)
    }

    fn finish(&mut self) -> Result<Option<Batch>, StageError> {
        if self.closed {
            return Ok(None);
        }
        self.push_header();
        self.write_buf(true)?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rig_kernel::{FieldKind, SchemaBuilder};

    use super::*;

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Fixture {
        schema: Arc<Schema>,
        fname: FieldId,
    }

    fn fixture() -> Fixture {
        let mut b = SchemaBuilder::new("open", 32);
        let comm = b.inline("proc.comm", FieldKind::Str, 0, 16);
        b.field_mut(comm).annotations.insert("template".into(), "comm".into());
        let fname = b.heap("fname", FieldKind::Str);
        let pid = b.inline("proc.pid", FieldKind::U32, 16, 4);
        b.field_mut(pid).annotations.insert("template".into(), "pid".into());
        b.inline("ret", FieldKind::S32, 20, 4);
        let uid = b.inline("proc.creds.uid", FieldKind::U32, 24, 4);
        b.field_mut(uid).annotations.insert("template".into(), "uid".into());
        b.field_mut(uid).hidden = true;
        Fixture {
            schema: b.build().unwrap(),
            fname,
        }
    }

    /// comm, fname, pid, ret (uid is always 1000).
    const EVENTS: &[(&str, &str, u32, i32)] = &[
        ("cat", "/etc/hostname", 12, -2),
        ("sh", "/usr/lib/x86_64-linux-gnu/libc.so.6", 4242, 0),
        ("a\tb", "q\"b\\s\nx\u{1}", 7, 3),
    ];

    fn batch(fx: &Fixture, events: &[(&str, &str, u32, i32)]) -> Batch {
        let mut batch = Batch::with_capacity(fx.schema.clone(), events.len());
        for (row, (comm, fname, pid, ret)) in events.iter().enumerate() {
            let mut rec = [0u8; 32];
            rec[..comm.len()].copy_from_slice(comm.as_bytes());
            rec[16..20].copy_from_slice(&pid.to_le_bytes());
            rec[20..24].copy_from_slice(&ret.to_le_bytes());
            rec[24..28].copy_from_slice(&1000u32.to_le_bytes());
            batch.push_record(&rec);
            batch.set_heap(row, fx.fname, fname.as_bytes());
        }
        batch
    }

    fn run(format: OutputFormat, fields: Option<&[&str]>, events: &[(&str, &str, u32, i32)]) -> String {
        let fx = fixture();
        let out = Shared::default();
        let fields: Option<Vec<String>> = fields.map(|f| f.iter().map(|s| s.to_string()).collect());
        let mut sink = TerminalSink::new(&fx.schema, format, fields.as_deref(), Box::new(out.clone())).unwrap();
        sink.init(&fx.schema).unwrap();
        if !events.is_empty() {
            // Two batches: the header must still appear once.
            let (a, b) = events.split_at(1);
            assert!(sink.process(batch(&fx, a)).unwrap().is_none());
            assert!(sink.process(batch(&fx, b)).unwrap().is_none());
        }
        assert!(sink.finish().unwrap().is_none());
        out.text()
    }

    #[test]
    fn columns_align_truncate_and_sanitize() {
        let expected = "\
COMM             FNAME                         PID RET
cat              /etc/hostname                  12 -2
sh               /usr/lib/x86_64…             4242 0
a?b              q\"b\\s?x?                        7 3
";
        assert_eq!(run(OutputFormat::Columns, None, EVENTS), expected);
    }

    #[test]
    fn columns_header_alone_when_there_are_no_events() {
        assert_eq!(
            run(OutputFormat::Columns, None, &[]),
            "COMM             FNAME                         PID RET\n"
        );
        assert_eq!(run(OutputFormat::Json, None, &[]), "");
    }

    #[test]
    fn columns_honour_width_and_ellipsis_annotations() {
        let mut b = SchemaBuilder::new("ds", 8);
        let path = b.heap("path", FieldKind::Str);
        b.field_mut(path)
            .annotations
            .insert("columns.width".into(), "10".into());
        b.field_mut(path)
            .annotations
            .insert("columns.ellipsis".into(), "start".into());
        let n = b.inline("n", FieldKind::U64, 0, 8);
        b.field_mut(n)
            .annotations
            .insert("columns.alignment".into(), "right".into());
        b.field_mut(n).annotations.insert("columns.width".into(), "4".into());
        let schema = b.build().unwrap();
        let mut batch = Batch::with_capacity(schema.clone(), 1);
        batch.push_record(&123456u64.to_le_bytes());
        batch.set_heap(0, path, b"/very/long/path/file");
        let out = Shared::default();
        let mut sink = TerminalSink::new(&schema, OutputFormat::Columns, None, Box::new(out.clone())).unwrap();
        sink.process(batch).unwrap();
        assert_eq!(out.text(), "PATH          N\n…path/file 123…\n");
    }

    #[test]
    fn json_nests_escapes_and_keeps_numbers() {
        let expected = concat!(
            r#"{"proc":{"comm":"cat","pid":12},"fname":"/etc/hostname","ret":-2}"#,
            "\n",
            r#"{"proc":{"comm":"sh","pid":4242},"fname":"/usr/lib/x86_64-linux-gnu/libc.so.6","ret":0}"#,
            "\n",
            r#"{"proc":{"comm":"a\tb","pid":7},"fname":"q\"b\\s\nx\u0001","ret":3}"#,
            "\n",
        );
        let text = run(OutputFormat::Json, None, EVENTS);
        assert_eq!(text, expected);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn jsonpretty_indents_by_two() {
        let expected = r#"{
  "proc": {
    "comm": "cat",
    "pid": 12
  },
  "fname": "/etc/hostname",
  "ret": -2
}
"#;
        assert_eq!(run(OutputFormat::JsonPretty, None, &EVENTS[..1]), expected);
    }

    #[test]
    fn yaml_documents_quote_when_needed() {
        let events = [("cat", "/etc/hostname", 12, -2), ("12", "a: b", 1, 0)];
        let expected = "\
---
proc:
  comm: cat
  pid: 12
fname: /etc/hostname
ret: -2
---
proc:
  comm: \"12\"
  pid: 1
fname: \"a: b\"
ret: 0
";
        let text = run(OutputFormat::Yaml, None, &events);
        assert_eq!(text, expected);
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs[1]["proc"]["comm"], serde_yaml::Value::String("12".into()));
        assert_eq!(docs[1]["fname"], serde_yaml::Value::String("a: b".into()));
    }

    /// Text that is not UTF-8, inline (`proc.comm`) and on the heap (`fname`), in every format.
    fn run_raw(format: OutputFormat) -> String {
        let fx = fixture();
        let out = Shared::default();
        let fields = ["proc.comm", "fname"].map(String::from);
        let mut sink = TerminalSink::new(&fx.schema, format, Some(&fields), Box::new(out.clone())).unwrap();
        let mut batch = Batch::with_capacity(fx.schema.clone(), 1);
        let mut rec = [0u8; 32];
        rec[..4].copy_from_slice(b"c\xffm\0");
        batch.push_record(&rec);
        batch.set_heap(0, fx.fname, b"dir/\xff\xfeNAME");
        sink.process(batch).unwrap();
        out.text()
    }

    #[test]
    fn text_that_is_not_utf8_shows_every_byte() {
        assert_eq!(
            run_raw(OutputFormat::Columns),
            "COMM             FNAME\nc\\xffm           dir/\\xff\\xfeNAME\n"
        );
        let json = run_raw(OutputFormat::Json);
        assert_eq!(json, "{\"proc\":{\"comm\":\"c\\\\xffm\"},\"fname\":\"dir/\\\\xff\\\\xfeNAME\"}\n");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["fname"], "dir/\\xff\\xfeNAME");
        let pretty: serde_json::Value = serde_json::from_str(&run_raw(OutputFormat::JsonPretty)).unwrap();
        assert_eq!(pretty, v);
        let yaml = run_raw(OutputFormat::Yaml);
        assert_eq!(yaml, "---\nproc:\n  comm: c\\xffm\nfname: dir/\\xff\\xfeNAME\n");
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(doc["fname"], serde_yaml::Value::String("dir/\\xff\\xfeNAME".into()));
    }

    #[test]
    fn fields_select_order_and_hidden_ones() {
        let fields = ["ret", "proc.pid", "proc.creds.uid"];
        assert_eq!(
            run(OutputFormat::Json, Some(&fields), &EVENTS[..1]),
            "{\"ret\":-2,\"proc\":{\"pid\":12,\"creds\":{\"uid\":1000}}}\n"
        );
        assert_eq!(
            run(OutputFormat::Columns, Some(&fields), &EVENTS[..1]),
            "RET                           PID              UID\n-2                             12             1000\n"
        );
        let edits = ["-fname", "+proc.creds.uid"];
        assert_eq!(
            run(OutputFormat::Json, Some(&edits), &EVENTS[..1]),
            "{\"proc\":{\"comm\":\"cat\",\"pid\":12,\"creds\":{\"uid\":1000}},\"ret\":-2}\n"
        );
    }

    #[test]
    fn unknown_and_empty_field_lists_are_refused() {
        let fx = fixture();
        let fields = vec!["proc.pid".to_string(), "nope".to_string()];
        let err = TerminalSink::new(
            &fx.schema,
            OutputFormat::Json,
            Some(&fields),
            Box::new(Shared::default()),
        )
        .unwrap_err();
        assert!(matches!(&err, SinkError::UnknownField { name, .. } if name == "nope"));
        assert_eq!(
            err.to_string(),
            "datasource open has no field \"nope\" (fields: proc.comm, fname, proc.pid, ret)"
        );
        let err = TerminalSink::new(
            &fx.schema,
            OutputFormat::Json,
            Some(&[" ".into()]),
            Box::new(Shared::default()),
        )
        .unwrap_err();
        assert!(matches!(err, SinkError::NoFields { .. }));
    }

    #[test]
    fn a_closed_pipe_stops_the_run() {
        let fx = fixture();
        let mut sink = TerminalSink::new(&fx.schema, OutputFormat::Json, None, Box::new(Closed)).unwrap();
        let err = sink.process(batch(&fx, &EVENTS[..1])).unwrap_err();
        assert!(matches!(&err, StageError::Fatal(m) if m == "output closed"));
        assert!(sink.finish().unwrap().is_none());
    }

    #[test]
    fn another_schema_is_refused() {
        let fx = fixture();
        let mut other = SchemaBuilder::new("exec", 8);
        other.inline("pid", FieldKind::U32, 0, 4);
        let other = other.build().unwrap();
        let mut sink = TerminalSink::new(&fx.schema, OutputFormat::Json, None, Box::new(Shared::default())).unwrap();
        assert!(matches!(sink.init(&other), Err(StageError::Fatal(_))));
        let copy = Arc::new((*fx.schema).clone());
        assert!(sink.init(&copy).is_ok());
        assert!(matches!(
            sink.process(Batch::with_capacity(other, 0)),
            Err(StageError::Batch(_))
        ));
    }
}
