//! Sinks: where a run's batches leave rig.
//!
//! A sink is the last [`rig_kernel::Stage`] of a graph: it consumes batches and forwards nothing.
//! [`TerminalSink`] prints events in the formats `ig` users know (`-o columns|json|jsonpretty|yaml`,
//! `--fields`). Everything that depends only on the schema and the flags (which fields, column
//! geometry, JSON nesting) is decided when the sink is built, so a bad `--fields` fails before the
//! gadget starts and the per-event path only renders values.
//!
//! Modules: `terminal` (the stage and field selection), `columns` (the column layout),
//! `structured` (JSON and YAML), `text` (allocation-free number, hex and escaping writers),
//! `stderr` (the log writer that never fails or panics when stderr is a closed pipe).

mod columns;
pub mod stderr;
mod structured;
mod terminal;
mod text;

use std::fmt;
use std::str::FromStr;

use rig_kernel::input::quote;

pub use terminal::TerminalSink;

/// An output format of `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned text columns with a header line (the default).
    #[default]
    Columns,
    /// One compact JSON object per line.
    Json,
    /// JSON objects indented by two spaces.
    JsonPretty,
    /// One YAML document (`---`) per event.
    Yaml,
}

impl OutputFormat {
    /// Every format, in the order help texts list them.
    pub const ALL: [OutputFormat; 4] = [
        OutputFormat::Columns,
        OutputFormat::Json,
        OutputFormat::JsonPretty,
        OutputFormat::Yaml,
    ];

    /// The name `-o` accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Columns => "columns",
            OutputFormat::Json => "json",
            OutputFormat::JsonPretty => "jsonpretty",
            OutputFormat::Yaml => "yaml",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = SinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| SinkError::UnknownFormat { given: s.to_owned() })
    }
}

/// A sink that cannot be built from the flags it was given.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// `-o` named no known format.
    #[error("unknown output format {} (valid: columns, json, jsonpretty, yaml)", quote(.given, 80))]
    UnknownFormat {
        /// What was asked for.
        given: String,
    },
    /// `--fields` named a field the datasource does not have.
    #[error("datasource {datasource} has no field {} (fields: {known})", quote(.name, 80))]
    UnknownField {
        /// The datasource.
        datasource: String,
        /// The name as given.
        name: String,
        /// Comma-separated names of the fields shown by default.
        known: String,
    },
    /// Nothing would be printed: `--fields` selected nothing, or every field is hidden.
    #[error("datasource {datasource}: no field to print (--fields is empty or every field is hidden)")]
    NoFields {
        /// The datasource.
        datasource: String,
    },
}

/// Creates (or truncates) a file sink's output without following a symlink at its last
/// component (`O_NOFOLLOW`), and refuses anything that is not a regular file (a FIFO, a device):
/// rig runs as root, and an operator granted the directory could have planted
/// `out.jsonl -> ../victim.txt` there for the next run.
pub fn create_sink_file(path: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other("it is a symbolic link; rig does not write through one")
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    file.set_len(0)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_name_the_valid_ones() {
        for f in OutputFormat::ALL {
            assert_eq!(f.as_str().parse::<OutputFormat>().unwrap(), f);
        }
        assert_eq!("JSON".parse::<OutputFormat>().unwrap(), OutputFormat::Json);
        let err = "xml".parse::<OutputFormat>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown output format \"xml\" (valid: columns, json, jsonpretty, yaml)"
        );
        // What the user typed is quoted and escaped, never shown as Rust debug text.
        let err = "x\u{1b}[2J\u{7f}".parse::<OutputFormat>().unwrap_err().to_string();
        assert!(err.contains("\"x\\e[2J\\u{7f}\""), "{err}");
    }
}
