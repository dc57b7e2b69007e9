//! Seed inputs for each fuzz target, gathered from what the repository already has, so no input
//! is committed twice: `tests/corpus/` (inputs that once broke a parser), the bundled and test
//! gadgets' `gadget.yaml` and compiled objects, `docs/examples/graph.yaml`, and the texts that
//! `tests/malformed/*/cases.json` writes to a `gadget.yaml` or a graph file.
//!
//! `examples/seed.rs` (run by `fuzz/seed.sh`) writes them to `fuzz/corpus/<target>/`, where
//! `cargo fuzz run` starts from; this crate's tests feed them straight to the target bodies.

use std::fs;
use std::path::{Path, PathBuf};

use object::{Object as _, ObjectSection as _};

/// The fuzz targets, as `cargo fuzz` names them.
pub const TARGETS: [&str; 4] = ["btf", "object", "gadget_yaml", "graph"];

/// Why seeds could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A seed file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed-corpus `cases.json` is not JSON.
    #[error("{path}: not JSON: {source}")]
    Cases {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// No such fuzz target.
    #[error("no fuzz target {0:?} (targets: btf, object, gadget_yaml, graph)")]
    UnknownTarget(String),
}

/// One seed: a file name for the corpus folder and its bytes.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Where it came from, flattened into one file name (`tests-corpus-objects-x.bpf.o`).
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

/// The repository this crate lives in.
pub fn repo() -> PathBuf {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    fuzz.parent().unwrap_or(fuzz).to_path_buf()
}

fn read(path: &Path) -> Result<Vec<u8>, SeedError> {
    fs::read(path).map_err(|source| SeedError::Read {
        path: path.to_owned(),
        source,
    })
}

fn seed(repo: &Path, path: &Path) -> Result<Seed, SeedError> {
    let rel = path.strip_prefix(repo).unwrap_or(path);
    Ok(Seed {
        name: rel.to_string_lossy().replace('/', "-"),
        bytes: read(path)?,
    })
}

/// Files in `dir` (relative to `repo`), optionally only those named `only`, one level down
/// when `nested` (`gadgets/*/gadget.yaml`). A missing folder has none.
fn files(repo: &Path, dir: &str, only: Option<&str>, nested: bool) -> Result<Vec<Seed>, SeedError> {
    let dir = repo.join(dir);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    if nested {
        paths = paths.into_iter().filter_map(|p| only.map(|f| p.join(f))).collect();
    }
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file() && only.is_none_or(|f| p.file_name().is_some_and(|n| n == f)))
        .map(|p| seed(repo, p))
        .collect()
}

/// The texts `tests/malformed/*/cases.json` writes to a file whose name ends with `suffix`.
fn case_texts(repo: &Path, suffix: &str) -> Result<Vec<Seed>, SeedError> {
    let mut out = Vec::new();
    for cases in files(repo, "tests/malformed", Some("cases.json"), true)? {
        let category = cases
            .name
            .trim_start_matches("tests-malformed-")
            .trim_end_matches("-cases.json");
        let v: serde_json::Value = serde_json::from_slice(&cases.bytes).map_err(|source| SeedError::Cases {
            path: repo.join("tests/malformed").join(category).join("cases.json"),
            source,
        })?;
        for case in v["cases"].as_array().into_iter().flatten() {
            let writes = case["setup"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|op| op["op"] == "write" && op["path"].as_str().is_some_and(|p| p.ends_with(suffix)));
            for op in writes {
                out.push(Seed {
                    name: format!("malformed-{category}-{}", case["name"].as_str().unwrap_or("case")),
                    bytes: op["text"].as_str().unwrap_or_default().as_bytes().to_vec(),
                });
            }
        }
    }
    Ok(out)
}

/// Compiled objects: the committed corpus and whatever the rig cache holds (bundled gadgets
/// compiled by earlier runs; none on a fresh machine).
fn objects(repo: &Path) -> Result<Vec<Seed>, SeedError> {
    let mut out = files(repo, "tests/corpus/objects", None, false)?;
    let cache = rig_host::compile::cache_dir();
    let mut stack = vec![cache.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".bpf.o") {
                let mut s = seed(&cache, &path)?;
                s.name = format!("cache-{}", s.name);
                out.push(s);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The seeds of one target.
pub fn seeds(target: &str) -> Result<Vec<Seed>, SeedError> {
    let repo = repo();
    let repo = repo.as_path();
    Ok(match target {
        "object" => objects(repo)?,
        "btf" => objects(repo)?
            .into_iter()
            .filter_map(|o| {
                let elf = object::File::parse(&*o.bytes).ok()?;
                let btf = elf.section_by_name(".BTF")?.data().ok()?.to_vec();
                Some(Seed {
                    name: format!("{}.BTF", o.name),
                    bytes: btf,
                })
            })
            .collect(),
        "gadget_yaml" => [
            files(repo, "tests/corpus/gadget-yaml", None, false)?,
            files(repo, "gadgets", Some("gadget.yaml"), true)?,
            files(repo, "tests/gadgets", Some("gadget.yaml"), true)?,
            files(repo, "tests/malformed/base", Some("gadget.yaml"), false)?,
            case_texts(repo, "gadget.yaml")?,
        ]
        .concat(),
        "graph" => [
            files(repo, "docs/examples", Some("graph.yaml"), false)?,
            case_texts(repo, "graph.yaml")?,
        ]
        .concat(),
        other => return Err(SeedError::UnknownTarget(other.to_owned())),
    })
}
