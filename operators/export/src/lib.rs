//! `builtin/export`: writes every row to a file and passes the batch on unchanged.
//!
//! The operator has no ambient file access: the host grants it one directory as a WASI preopen,
//! and `path` names a file inside it. A relative path resolves inside the granted directory
//! whatever name the host gave it; an absolute path must lie under it; `..` is refused. The file
//! is opened at `init` (so a bad path fails before events flow) and each batch is written with
//! one `write` call, so what reached `process` is on disk when it returns.
//!
//! Config:
//! - `path` (required): the file.
//! - `format`: `jsonl` (default; one JSON object per row, dotted names nested:
//!   `{"proc":{"comm":"cat"}}`) or `otlp-json` (one OTLP `ExportLogsServiceRequest` per batch per
//!   line, see [`otlp`]).
//! - `append` (default `false`): append to an existing file instead of truncating it.
//! - `time-field` (`otlp-json` only): the field giving each record's `timeUnixNano` — RFC 3339
//!   text or integer nanoseconds since the epoch. By default the visible text field `timestamp`
//!   (rig's wall-clock rendering of the gadget timestamp) when the schema has one.
//!
//! Hidden fields are not written. The answer is `keep(all)`; rows written are added to the
//! counter `exported`. A write error fails the batch with an error naming the path.

pub mod json;
pub mod otlp;

use std::fs::File;
use std::io::Write as _;

use rig_operator_sdk::{BatchView, Config, FieldKind, Operator, Output, Schema, export_operator, host};

use crate::json::Node;
use crate::otlp::TimeSource;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per row.
    Jsonl,
    /// One OTLP logs request per batch.
    OtlpJson,
}

/// The export operator.
#[derive(Debug)]
pub struct Export {
    path: String,
    file: File,
    format: Format,
    datasource: String,
    nodes: Vec<(String, Node)>,
    time: TimeSource,
    buf: Vec<u8>,
}

/// Resolves `path` against the names of the directories the host granted.
///
/// A relative path is joined to the single granted directory; an absolute path must lie under
/// one of them. `..` components are refused outright.
pub fn resolve_path(path: &str, granted: &[String]) -> Result<String, String> {
    if path.is_empty() {
        return Err("export: config key \"path\" is empty".into());
    }
    if path.split('/').any(|c| c == "..") {
        return Err(format!("export: path {path:?} must not contain \"..\""));
    }
    let listed = || granted.iter().map(|g| format!("{g:?}")).collect::<Vec<_>>().join(", ");
    if path.starts_with('/') {
        let inside = granted.iter().any(|g| {
            let g = g.trim_end_matches('/');
            g.is_empty() || path.strip_prefix(g).is_some_and(|rest| rest.starts_with('/'))
        });
        return if inside {
            Ok(path.to_owned())
        } else if granted.is_empty() {
            Err(format!(
                "export: cannot write {path:?}: the host granted this operator no directory"
            ))
        } else {
            Err(format!(
                "export: path {path:?} is outside the granted directory ({})",
                listed()
            ))
        };
    }
    match granted {
        [] => Err(format!(
            "export: cannot write {path:?}: the host granted this operator no directory"
        )),
        [dir] => Ok(if dir.ends_with('/') {
            format!("{dir}{path}")
        } else {
            format!("{dir}/{path}")
        }),
        _ => Err(format!(
            "export: relative path {path:?} is ambiguous: several directories are granted ({}); give an absolute path",
            listed()
        )),
    }
}

/// The names of the directories the host preopened for this instance.
#[cfg(target_arch = "wasm32")]
fn granted_dirs() -> Option<Vec<String>> {
    Some(
        wasip2::filesystem::preopens::get_directories()
            .into_iter()
            .map(|(_, name)| name)
            .collect(),
    )
}

/// Natively (tests) paths are used as given.
#[cfg(not(target_arch = "wasm32"))]
fn granted_dirs() -> Option<Vec<String>> {
    None
}

/// Picks the field for `timeUnixNano`.
fn time_source(config: &Config, schema: &Schema) -> Result<TimeSource, String> {
    if let Some(name) = config.get("time-field") {
        let f = schema.resolve(name).map_err(|e| format!("export: time-field: {e}"))?;
        return match f.kind {
            FieldKind::Text => Ok(TimeSource::Rfc3339(f)),
            k if k.is_integer() => Ok(TimeSource::UnixNanos(f)),
            k => Err(format!(
                "export: time-field {name:?} is {k}; expected RFC 3339 text or integer nanoseconds"
            )),
        };
    }
    let text = |name: &str| {
        schema
            .field(name)
            .filter(|f| f.kind == FieldKind::Text && !schema.describe(f).hidden)
    };
    if let Some(f) = text("timestamp") {
        return Ok(TimeSource::Rfc3339(f));
    }
    // Any readable companion of a gadget timestamp (`x_raw` tagged `type:gadget_timestamp` → `x`).
    for raw in schema.fields.iter().filter(|f| f.has_tag("type:gadget_timestamp")) {
        if let Some(f) = raw.name.strip_suffix("_raw").and_then(text) {
            return Ok(TimeSource::Rfc3339(f));
        }
    }
    Ok(TimeSource::None)
}

impl Operator for Export {
    fn init(config: &Config, input: &Schema) -> Result<Self, String> {
        // Shown by --stats from the start, at 0 until something is exported.
        host::counter_add("exported", 0);
        config.allow_only(&["path", "format", "append", "time-field"])?;
        let format = match config.get("format").map(str::trim) {
            None | Some("jsonl" | "json") => Format::Jsonl,
            Some("otlp-json" | "otlp") => Format::OtlpJson,
            Some(f) => return Err(format!("export: unknown format {f:?} (formats: jsonl, otlp-json)")),
        };
        if format == Format::Jsonl && config.get("time-field").is_some() {
            return Err("export: time-field applies to format otlp-json only".into());
        }
        let given = config.require("path").map_err(|e| format!("export: {e}"))?;
        let path = match granted_dirs() {
            Some(dirs) => resolve_path(given, &dirs)?,
            None => given.to_owned(),
        };
        let append = config.bool_or("append", false).map_err(|e| format!("export: {e}"))?;
        let file = File::options()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .map_err(|e| format!("export: cannot open {given:?}: {e}"))?;
        Ok(Self {
            path: given.to_owned(),
            file,
            format,
            datasource: input.datasource.clone(),
            nodes: json::layout(input),
            time: time_source(config, input)?,
            buf: Vec::new(),
        })
    }

    fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String> {
        if batch.is_empty() {
            return Ok(Output::keep_none());
        }
        self.buf.clear();
        match self.format {
            Format::Jsonl => {
                for r in 0..batch.len() {
                    json::row(&mut self.buf, &self.nodes, batch, r);
                    self.buf.push(b'\n');
                }
            }
            Format::OtlpJson => {
                otlp::batch(
                    &mut self.buf,
                    &self.datasource,
                    &self.nodes,
                    self.time,
                    host::now_ns(),
                    batch,
                );
                self.buf.push(b'\n');
            }
        }
        self.file
            .write_all(&self.buf)
            .map_err(|e| format!("export: cannot write {:?}: {e}", self.path))?;
        host::counter_add("exported", batch.len() as u64);
        Ok(Output::keep_all(batch.len()))
    }

    fn flush(&mut self) -> Result<Option<rig_operator_sdk::OwnedBatch>, String> {
        self.file
            .flush()
            .map_err(|e| format!("export: cannot write {:?}: {e}", self.path))?;
        Ok(None)
    }
}

export_operator!(Export);

#[cfg(test)]
mod tests;
