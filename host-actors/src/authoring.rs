//! An operator's name, from the author's project to the node of a run.
//!
//! `rig operator new NAME` records NAME in the project's `operator.yaml` (`name: NAME`, the same
//! file `rig image build NAME.wasm` reads beside a component for its image config), and `rig
//! operator build DIR` writes `DIR/NAME.wasm` and embeds NAME in the component as a custom section
//! named [`NAME_SECTION`]. So the name travels with the bytes: `--operator ./any/path.wasm` names
//! its node after it, as `rig image build` names the image, wherever the file was built or copied.
//! Without a record (a project made by hand) the build falls back to the folder's name and embeds
//! nothing, and a component without the section is named after its file stem.
//!
//! Words: an [`OperatorName`] is a checked name (lowercase letters, digits and dashes, starting
//! with a letter: usable as a crate, a package, a file and a graph node id alike). The *record* is
//! `operator.yaml`'s `name`; the *stamp* is the custom section. Stamping is idempotent and
//! deterministic: an earlier stamp is replaced, never repeated, so building the same sources twice
//! gives the same bytes (and the compiled-component cache hits).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rig_kernel::GadgetMetadata;
use rig_kernel::input::quote;
use rig_kernel::metadata::MetadataError;
use wasm_encoder::Section as _;

/// The custom section that carries an operator's name in its component.
pub const NAME_SECTION: &str = "rig-operator-name";

/// The project file that records the name (`name: NAME`).
pub const RECORD_FILE: &str = "operator.yaml";

/// Longest operator name, in bytes.
pub const MAX_NAME: usize = 64;

/// Why a name could not be recorded, read or stamped.
#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    /// The name is not usable as an operator name.
    #[error(
        "invalid operator name {}: use lowercase letters, digits and dashes, starting with a letter (at most {MAX_NAME})",
        quote(.0, 80)
    )]
    InvalidName(String),
    /// `operator.yaml` records a name that is not valid.
    #[error("{}: records the operator name {}, which is not valid (lowercase letters, digits and dashes, starting with a letter)", path.display(), quote(.name, 80))]
    BadRecord {
        /// The record file.
        path: PathBuf,
        /// What it says.
        name: String,
    },
    /// `operator.yaml` is malformed.
    #[error(transparent)]
    Record(#[from] MetadataError),
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a WebAssembly binary whose sections can be walked.
    #[error("{}: not a WebAssembly component: {source}", path.display())]
    NotWasm {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        #[source]
        source: wasmparser::BinaryReaderError,
    },
}

/// A checked operator name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperatorName(String);

impl OperatorName {
    /// Checks `name`: lowercase ASCII letters, digits and dashes, starting with a letter, not
    /// ending with a dash, at most [`MAX_NAME`] bytes.
    pub fn parse(name: &str) -> Result<Self, AuthoringError> {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && name.len() <= MAX_NAME
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(AuthoringError::InvalidName(name.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a new project's `operator.yaml`.
pub fn record_text(name: &OperatorName) -> String {
    format!(
        "# Written by `rig operator new`. `name` is the operator's name: `rig operator build` writes\n\
         # {name}.wasm and embeds it, and runs and images name the operator after it.\n\
         name: {name}\n\
         description: A rig operator.\n"
    )
}

/// The name `dir/operator.yaml` records, if the file exists and names one.
pub fn recorded_name(dir: &Path) -> Result<Option<OperatorName>, AuthoringError> {
    let path = dir.join(RECORD_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| AuthoringError::Read {
        path: path.clone(),
        source,
    })?;
    let meta = GadgetMetadata::parse(&text, &path.display().to_string())?;
    if meta.name.is_empty() {
        return Ok(None);
    }
    OperatorName::parse(&meta.name)
        .map(Some)
        .map_err(|_| AuthoringError::BadRecord { path, name: meta.name })
}

/// Where `rig operator build DIR` writes by default: `DIR/NAME.wasm` with the recorded name,
/// else `DIR/<DIR's folder name>.wasm`. `dir` should be canonical (so `.` has a folder name).
pub fn default_output(dir: &Path) -> Result<PathBuf, AuthoringError> {
    let stem = match recorded_name(dir)? {
        Some(name) => name.0,
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "operator".into()),
    };
    Ok(dir.join(format!("{stem}.wasm")))
}

/// A stamp found in a binary: the whole section's byte range, and its contents.
type Stamp<'a> = (Range<usize>, &'a [u8]);

/// The top-level [`NAME_SECTION`] sections of a module or component. Nested modules and
/// components are skipped, not entered.
fn name_sections(bytes: &[u8]) -> Result<Vec<Stamp<'_>>, wasmparser::BinaryReaderError> {
    use wasmparser::{Chunk, Parser, Payload};
    let mut parser = Parser::new(0);
    let mut pos = 0;
    let mut found = Vec::new();
    loop {
        let rest = bytes.get(pos..).unwrap_or_default();
        let (consumed, payload) = match parser.parse(rest, true)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            // With `eof` set the parser reports truncation as an error; stop all the same.
            Chunk::NeedMoreData(_) => break,
        };
        let start = pos;
        pos += consumed;
        match payload {
            Payload::CustomSection(r) if r.name() == NAME_SECTION => found.push((start..pos, r.data())),
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                pos = usize::try_from(unchecked_range.end).unwrap_or(usize::MAX);
            }
            Payload::CodeSectionStart { size, .. } => {
                parser.skip_section();
                pos += size as usize;
            }
            Payload::End(_) => break,
            _ => {}
        }
        if pos > bytes.len() {
            break;
        }
    }
    Ok(found)
}

/// The name stamped into a component, if it has a valid one (the last stamp wins).
pub fn embedded_name(bytes: &[u8]) -> Result<Option<OperatorName>, wasmparser::BinaryReaderError> {
    let sections = name_sections(bytes)?;
    Ok(sections
        .last()
        .and_then(|(_, data)| std::str::from_utf8(data).ok())
        .and_then(|s| OperatorName::parse(s).ok()))
}

/// `bytes` with `name` stamped in: every earlier stamp removed, one appended at the end.
pub fn stamp(bytes: &[u8], name: &OperatorName) -> Result<Vec<u8>, wasmparser::BinaryReaderError> {
    let old = name_sections(bytes)?;
    let mut out = Vec::with_capacity(bytes.len() + NAME_SECTION.len() + name.0.len() + 8);
    let mut from = 0;
    for (range, _) in &old {
        out.extend_from_slice(&bytes[from..range.start]);
        from = range.end;
    }
    out.extend_from_slice(&bytes[from..]);
    wasm_encoder::CustomSection {
        name: NAME_SECTION.into(),
        data: name.0.as_bytes().into(),
    }
    .append_to(&mut out);
    Ok(out)
}

/// Stamps `name` into the component at `path`, in place (unchanged bytes are not rewritten).
pub fn stamp_file(path: &Path, name: &OperatorName) -> Result<(), AuthoringError> {
    let bytes = std::fs::read(path).map_err(|source| AuthoringError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let stamped = stamp(&bytes, name).map_err(|source| AuthoringError::NotWasm {
        path: path.to_path_buf(),
        source,
    })?;
    if stamped != bytes {
        std::fs::write(path, stamped).map_err(|source| AuthoringError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// The name stamped into the component file at `path`; `None` when the file cannot be read,
/// is not WebAssembly or has no stamp (the load reports a missing or broken file by itself).
pub fn file_name(path: &Path) -> Option<OperatorName> {
    let bytes = std::fs::read(path).ok()?;
    embedded_name(&bytes).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble and no section.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
    /// The smallest core module.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn name(s: &str) -> OperatorName {
        OperatorName::parse(s).unwrap()
    }

    #[test]
    fn names_are_checked() {
        for ok in ["redact", "my-op", "op2"] {
            assert_eq!(name(ok).as_str(), ok);
        }
        for bad in ["", "My", "2op", "-x", "x-", "a_b", "a b", "a/b", &"a".repeat(65)] {
            let e = OperatorName::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid operator name"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_stamp_is_read_back_and_replaced_not_repeated() {
        for base in [EMPTY_COMPONENT, EMPTY_MODULE] {
            assert_eq!(embedded_name(base).unwrap(), None);
            let once = stamp(base, &name("redact")).unwrap();
            assert_eq!(embedded_name(&once).unwrap(), Some(name("redact")));
            assert_eq!(
                stamp(&once, &name("redact")).unwrap(),
                once,
                "deterministic and idempotent"
            );
            let renamed = stamp(&once, &name("mask")).unwrap();
            assert_eq!(embedded_name(&renamed).unwrap(), Some(name("mask")));
            assert_eq!(renamed.len(), once.len() + "mask".len() - "redact".len());
        }
        // A component with a nested module: the stamp is found at the top level only.
        let mut nested = EMPTY_COMPONENT.to_vec();
        wasm_encoder::RawSection {
            id: 1,
            data: &stamp(EMPTY_MODULE, &name("inner")).unwrap(),
        }
        .append_to(&mut nested);
        assert_eq!(embedded_name(&nested).unwrap(), None);
        let outer = stamp(&nested, &name("outer")).unwrap();
        assert_eq!(embedded_name(&outer).unwrap(), Some(name("outer")));
        assert!(embedded_name(b"not wasm").is_err());
    }

    #[test]
    fn the_record_names_the_default_output() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("folder");
        std::fs::create_dir(&project).unwrap();
        assert_eq!(default_output(&project).unwrap(), project.join("folder.wasm"));
        std::fs::write(project.join(RECORD_FILE), record_text(&name("my-op"))).unwrap();
        assert_eq!(recorded_name(&project).unwrap(), Some(name("my-op")));
        assert_eq!(default_output(&project).unwrap(), project.join("my-op.wasm"));
        std::fs::write(project.join(RECORD_FILE), "name: Not_Valid\n").unwrap();
        let e = default_output(&project).unwrap_err().to_string();
        assert!(e.contains("Not_Valid") && e.contains(RECORD_FILE), "{e}");
    }
}
