//! Building a run's graph: the default chain from CLI flags, or the user's graph file.
//!
//! Every run starts with the source and the `format` stage (derived text fields belong to the
//! datasource). After it comes either the default chain that IG users know — filter, custom
//! operators, sort, limit, then the terminal — built from `--filter`, `--filter-expr`,
//! `--operator`, `--sort` and `--max-entries`, or the nodes and edges of `--graph FILE`. Operator
//! references resolve here (`builtin/NAME`, a `.wasm` path, `oci://IMAGE`); each operator's `init` then checks
//! fields and types when the pipeline spawns — all before the gadget attaches.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rig_kernel::derive::DeriveStage;
use rig_kernel::graph_config::{Endpoint, GraphConfig, GraphConfigError, NodeConfig, OnError as ConfigOnError};
use rig_kernel::{Batch, NodeSpec, Schema, Stage, StageError};

use crate::enrich::users::UserNames;
use crate::registry::{self, ImageOptions, RegistryError};
use crate::sinks::{OutputFormat, SinkError, TerminalSink};
use crate::wasm::{OnError, OperatorHost, OperatorSource, OperatorSpec, WasmError, WasmStage};

/// Operator-related choices of a run.
#[derive(Debug, Clone, Default)]
pub struct OperatorOptions {
    /// `--filter` in IG syntax (`a==b,c~re`).
    pub filter: Option<String>,
    /// `--filter-expr` boolean expression.
    pub filter_expr: Option<String>,
    /// `--sort` (`-timestamp,proc.pid`).
    pub sort: Option<String>,
    /// `--sort-window` (`2s`): on a stream, emit each window's rows sorted instead of all at the end.
    pub sort_window: Option<String>,
    /// `--max-entries`.
    pub max_entries: Option<u64>,
    /// `--operator FILE.wasm` or `--operator oci://IMAGE`, in order.
    pub custom: Vec<String>,
    /// `--operator-param NODE.KEY=VALUE`.
    pub params: Vec<(String, String, String)>,
    /// `--graph FILE`.
    pub graph: Option<PathBuf>,
    /// How `oci://` operator references are found, pulled and admitted (the same rules as gadgets).
    pub images: ImageOptions,
}

/// Why a graph could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The graph file is malformed.
    #[error(transparent)]
    Config(#[from] GraphConfigError),
    /// The graph file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An operator could not be loaded.
    #[error("graph node {node}: {source}")]
    Operator {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: WasmError,
    },
    /// An `oci://` operator image could not be fetched or was not admitted.
    #[error("graph node {node}: operator image {reference}: {source}")]
    OperatorImage {
        /// The node.
        node: String,
        /// The image reference, without `oci://`.
        reference: String,
        /// Why.
        #[source]
        source: Box<RegistryError>,
    },
    /// A sink refused its configuration.
    #[error("graph node {node}: {source}")]
    Sink {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: SinkError,
    },
    /// A node's host-side parameters are missing or malformed (a file sink's `path`, `flush-every`).
    #[error("graph node {node}: {why}")]
    NodeParams {
        /// The node.
        node: String,
        /// What is missing.
        why: String,
    },
    /// `--operator-param` names no node of the graph.
    #[error("--operator-param {0}: no operator node with that name")]
    UnknownParamNode(String),
    /// A file sink would write inside a directory an operator of the same run may change: the
    /// operator could plant a symlink at any component of the path and redirect the host's writes.
    #[error(
        "graph node {node}: file sink path {} lies inside {}, the directory granted to operator {operator}: \
         rig never writes where an operator can redirect it (choose a path outside every grant-dir)",
        path.display(),
        grant.display()
    )]
    SinkInGrant {
        /// The file sink node.
        node: String,
        /// Its `path`, as given.
        path: PathBuf,
        /// The operator node whose `grant-dir` contains it.
        operator: String,
        /// That `grant-dir`, as given.
        grant: PathBuf,
    },
}

/// What the terminal sink prints.
pub struct TerminalOptions {
    /// Output format.
    pub output: OutputFormat,
    /// `--fields`.
    pub fields: Option<Vec<String>>,
    /// Where it writes.
    pub out: Box<dyn Write + Send>,
}

impl std::fmt::Debug for TerminalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalOptions")
            .field("output", &self.output)
            .field("fields", &self.fields)
            .finish()
    }
}

/// The nodes of a run and the indices the source feeds.
pub struct BuiltGraph {
    /// Nodes for [`rig_kernel::Pipeline::spawn`].
    pub nodes: Vec<NodeSpec>,
    /// Entry indices.
    pub entry: Vec<usize>,
    /// The ids of the WASM operator nodes (builtins included), in graph order.
    pub operators: Vec<String>,
}

impl std::fmt::Debug for BuiltGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltGraph")
            .field("nodes", &self.nodes)
            .field("entry", &self.entry)
            .field("operators", &self.operators)
            .finish()
    }
}

/// Builds a stage for the schema it will receive.
type MakeStage = Box<dyn FnOnce(&Arc<Schema>) -> Result<Box<dyn Stage>, String> + Send>;

/// A stage built when its input schema is known: sinks after operators that add fields must be
/// laid out for the schema they will really receive.
struct Lazy {
    make: Option<MakeStage>,
    inner: Option<Box<dyn Stage>>,
}

impl Lazy {
    fn new(make: impl FnOnce(&Arc<Schema>) -> Result<Box<dyn Stage>, String> + Send + 'static) -> Self {
        Self {
            make: Some(Box::new(make)),
            inner: None,
        }
    }
}

impl Stage for Lazy {
    fn init(&mut self, input: &Arc<Schema>) -> Result<Arc<Schema>, StageError> {
        let make = self
            .make
            .take()
            .ok_or_else(|| StageError::Fatal("initialised twice".into()))?;
        let mut inner = make(input).map_err(StageError::Fatal)?;
        let out = inner.init(input)?;
        self.inner = Some(inner);
        Ok(out)
    }
    fn process(&mut self, batch: Batch) -> Result<Option<Batch>, StageError> {
        match &mut self.inner {
            Some(s) => s.process(batch),
            None => Err(StageError::Fatal("not initialised".into())),
        }
    }
    fn finish(&mut self) -> Result<Option<Batch>, StageError> {
        self.inner.as_mut().map_or(Ok(None), |s| s.finish())
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        self.inner.as_ref().map(|s| s.counters()).unwrap_or_default()
    }
}

fn terminal_stage(format: OutputFormat, fields: Option<Vec<String>>, out: Box<dyn Write + Send>) -> Box<dyn Stage> {
    Box::new(Lazy::new(move |schema| {
        TerminalSink::new(schema, format, fields.as_deref(), out)
            .map(|s| Box::new(s) as Box<dyn Stage>)
            .map_err(|e| e.to_string())
    }))
}

/// What an operator reference names: `builtin/NAME`, `oci://IMAGE` (fetched here, through the
/// local store and the registry) or a `.wasm` path.
fn operator_source(node: &str, reference: &str, images: &ImageOptions) -> Result<OperatorSource, BuildError> {
    if let Some(name) = reference.strip_prefix("builtin/") {
        return Ok(OperatorSource::Builtin(name.to_owned()));
    }
    let Some(image) = reference.strip_prefix(OCI_PREFIX) else {
        return Ok(OperatorSource::File(PathBuf::from(reference)));
    };
    let bytes = registry::operator_component(image, images).map_err(|source| BuildError::OperatorImage {
        node: node.to_owned(),
        reference: image.to_owned(),
        source: Box::new(source),
    })?;
    Ok(OperatorSource::Bytes {
        name: reference.to_owned(),
        bytes,
    })
}

/// The id of the default chain's `--max-entries` node (`run` ends a stream once it forwarded N rows).
pub const LIMIT_NODE: &str = "limit";

/// The id of the first node, which fills derived fields (and, in a run with container
/// discovery, the container fields before them).
pub const FORMAT_NODE: &str = "format";

/// The scheme of operator references that name an image.
const OCI_PREFIX: &str = "oci://";

fn on_error(e: ConfigOnError) -> OnError {
    match e {
        ConfigOnError::Stop => OnError::Stop,
        ConfigOnError::Skip => OnError::Skip,
        ConfigOnError::Restart => OnError::Restart,
    }
}

/// The node name `--operator` gives: for a file, the name its author gave (stamped into the
/// component by `rig operator build`, see [`crate::authoring`]), else its file stem
/// (`./x/redact.wasm`: `redact`); for an image, the last path component of
/// `oci://ghcr.io/x/redact:1.0` without tag or digest (`redact`).
pub fn custom_node_name(reference: &str) -> String {
    let name = match reference.strip_prefix(OCI_PREFIX) {
        Some(image) => {
            let last = image.rsplit('/').next().unwrap_or(image);
            last.split(['@', ':']).next().unwrap_or(last).to_owned()
        }
        None => {
            let path = Path::new(reference);
            match crate::authoring::file_name(path) {
                Some(name) => name.to_string(),
                None => path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            }
        }
    };
    if name.is_empty() { "operator".into() } else { name }
}

/// The default chain's operator nodes, from flags.
fn default_nodes(ops: &OperatorOptions) -> Vec<NodeConfig> {
    let node = |id: &str, operator: String, params: &[(&str, String)]| NodeConfig {
        id: id.to_owned(),
        operator: Some(operator),
        sink: None,
        params: params.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        on_error: ConfigOnError::Stop,
    };
    let mut nodes = Vec::new();
    if ops.filter.is_some() || ops.filter_expr.is_some() {
        let mut p = Vec::new();
        if let Some(f) = &ops.filter {
            p.push(("filter", f.clone()));
        }
        if let Some(e) = &ops.filter_expr {
            p.push(("expr", e.clone()));
        }
        nodes.push(node("filter", "builtin/filter".into(), &p));
    }
    for reference in &ops.custom {
        nodes.push(node(&custom_node_name(reference), reference.clone(), &[]));
    }
    if let Some(by) = &ops.sort {
        let mut p = vec![("by", by.clone())];
        if let Some(w) = &ops.sort_window {
            p.push(("flush-every", w.clone()));
        }
        nodes.push(node("sort", "builtin/sort".into(), &p));
    }
    if let Some(n) = ops.max_entries {
        nodes.push(node(
            LIMIT_NODE,
            "builtin/limit".into(),
            &[("max-entries", n.to_string())],
        ));
    }
    nodes
}

fn operator_stage(
    host: &Arc<OperatorHost>,
    n: &NodeConfig,
    reference: &str,
    images: &ImageOptions,
) -> Result<Box<dyn Stage>, BuildError> {
    let mut config: Vec<(String, String)> = Vec::new();
    let mut spec = OperatorSpec::new(n.id.clone(), operator_source(&n.id, reference, images)?, Vec::new());
    let bad = |key: &str, why: String| BuildError::NodeParams {
        node: n.id.clone(),
        why: format!("{key}: {why}"),
    };
    for (k, v) in &n.params {
        // These keys are for the host, not the guest (docs/graph.md, "Host keys").
        match k.as_str() {
            "grant-dir" => spec.grants.dir = Some(PathBuf::from(v)),
            "flush-every" => spec.flush_every = Some(parse_window(v).map_err(|why| bad(k, why))?),
            "deadline" => spec.limits.deadline = parse_window(v).map_err(|why| bad(k, why))?,
            "memory-limit" => spec.limits.memory_bytes = parse_mib(v).map_err(|why| bad(k, why))?,
            _ => config.push((k.clone(), v.clone())),
        }
    }
    spec.config = config;
    spec.on_error = on_error(n.on_error);
    let stage = WasmStage::new(host, spec).map_err(|source| BuildError::Operator {
        node: n.id.clone(),
        source,
    })?;
    Ok(Box::new(stage))
}

/// A memory cap: `256MiB`, `1GiB`, or plain MiB (`256`), at most 4 GiB (wasm32's address space):
/// the graph file's rule ([`rig_kernel::graph_config::parse_memory_limit`]), so a
/// `--operator-param NODE.memory-limit=…` is read exactly like a graph file's `memory-limit`.
pub fn parse_mib(text: &str) -> Result<usize, String> {
    rig_kernel::graph_config::parse_memory_limit(text)
}

/// A window or deadline: rig's one duration syntax ([`rig_kernel::input::parse_duration`]:
/// `500ms`, `2s`, `1.5m`, `1h` or plain seconds), bounded so no value can overflow.
pub fn parse_window(text: &str) -> Result<Duration, String> {
    rig_kernel::input::parse_duration(text).map_err(|e| e.to_string())
}

fn file_sink(n: &NodeConfig) -> Result<Box<dyn Stage>, BuildError> {
    let path = n.params.get("path").ok_or_else(|| BuildError::NodeParams {
        node: n.id.clone(),
        why: "a file sink needs `path`".into(),
    })?;
    let format: OutputFormat = n
        .params
        .get("format")
        .map(String::as_str)
        .unwrap_or("json")
        .parse()
        .map_err(|source| BuildError::Sink {
            node: n.id.clone(),
            source,
        })?;
    let fields: Option<Vec<String>> = n
        .params
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let file = crate::sinks::create_sink_file(path).map_err(|source| BuildError::Read {
        path: path.clone(),
        source,
    })?;
    Ok(terminal_stage(format, fields, Box::new(std::io::BufWriter::new(file))))
}

/// `path` made absolute (against the working directory, as the open will be).
fn absolute(path: &Path) -> PathBuf {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path` made absolute with every symlink resolved, as far as it exists; the components that do
/// not exist yet are appended as written (a `..` among them removes the one before).
fn resolve(path: &Path) -> PathBuf {
    let abs = absolute(path);
    let Some((mut out, rest)) = abs
        .ancestors()
        .find_map(|a| Some((a.canonicalize().ok()?, abs.strip_prefix(a).ok()?)))
    else {
        return abs;
    };
    for c in rest.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Every place a file sink's open walks through: each directory on its path, resolved, and the
/// file itself (its last component is not followed: the open refuses a symlink there).
fn sink_walk(path: &Path) -> Vec<PathBuf> {
    let abs = absolute(path);
    let Some(dir) = abs.parent() else {
        return vec![resolve(&abs)];
    };
    let mut walk: Vec<PathBuf> = dir.ancestors().map(resolve).collect();
    walk.push(match abs.file_name() {
        Some(name) => resolve(dir).join(name),
        None => resolve(&abs),
    });
    walk
}

/// Refuses every file sink whose path lies inside (or is) a directory granted to an operator of
/// the same graph, or walks through one (`grant/sub/out.jsonl` with `grant/sub -> /etc` planted
/// by an earlier run), before any node is built: nothing is opened, compiled or attached yet.
fn check_sink_paths(configs: &[NodeConfig]) -> Result<(), BuildError> {
    let grants: Vec<(&NodeConfig, &String, PathBuf)> = configs
        .iter()
        .filter(|n| n.operator.is_some())
        .filter_map(|n| n.params.get("grant-dir").map(|g| (n, g, resolve(Path::new(g)))))
        .collect();
    let sinks = configs
        .iter()
        .filter(|n| n.operator.is_none() && n.sink.as_deref() == Some("file"));
    for sink in sinks {
        let Some(path) = sink.params.get("path") else {
            continue;
        };
        let walk = sink_walk(Path::new(path));
        let inside = |dir: &PathBuf| walk.iter().any(|p| p.starts_with(dir));
        if let Some((op, grant, _)) = grants.iter().find(|(_, _, dir)| inside(dir)) {
            return Err(BuildError::SinkInGrant {
                node: sink.id.clone(),
                path: PathBuf::from(path),
                operator: op.id.clone(),
                grant: PathBuf::from(grant),
            });
        }
    }
    Ok(())
}

/// Builds the run's nodes. `schema` is the datasource's; operators that change the schema are
/// validated when the pipeline spawns (each `init` sees its real input).
pub fn build(
    schema: &Arc<Schema>,
    ops: &OperatorOptions,
    terminal: TerminalOptions,
    host: impl Fn() -> Result<Arc<OperatorHost>, WasmError>,
) -> Result<BuiltGraph, BuildError> {
    let (mut configs, edges) = match &ops.graph {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| BuildError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let g = GraphConfig::parse(&text, &path.display().to_string())?.validate()?;
            (g.nodes, g.edges)
        }
        None => {
            let nodes = default_nodes(ops);
            let g = GraphConfig { nodes, edges: None }.validate()?;
            (g.nodes, g.edges)
        }
    };
    for (node, key, value) in &ops.params {
        let n = configs
            .iter_mut()
            .find(|n| &n.id == node && n.operator.is_some())
            .ok_or_else(|| BuildError::UnknownParamNode(format!("{node}.{key}={value}")))?;
        n.params.insert(key.clone(), value.clone());
    }
    check_sink_paths(&configs)?;
    // Node 0 is `format`; graph node i becomes index i + 1; the terminal (if used) comes last.
    let needs_terminal = edges.iter().any(|(_, b)| *b == Endpoint::Terminal);
    let terminal_index = configs.len() + 1;
    let index = |e: &Endpoint| match e {
        Endpoint::Source => 0,
        Endpoint::Node(i) => i + 1,
        Endpoint::Terminal => terminal_index,
    };
    let mut next: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (a, b) in &edges {
        next.entry(index(a)).or_default().push(index(b));
    }
    let mut host_cache: Option<Arc<OperatorHost>> = None;
    let mut nodes = Vec::with_capacity(configs.len() + 2);
    let names = UserNames::new();
    nodes.push(NodeSpec {
        id: FORMAT_NODE.into(),
        stage: Box::new(DeriveStage::new(schema, Box::new(names))),
        next: next.remove(&0).unwrap_or_default(),
    });
    for (i, n) in configs.iter().enumerate() {
        let stage: Box<dyn Stage> = match (&n.operator, n.sink.as_deref()) {
            (Some(reference), _) => {
                let h = match &host_cache {
                    Some(h) => h.clone(),
                    None => {
                        let h = host().map_err(|source| BuildError::Operator {
                            node: n.id.clone(),
                            source,
                        })?;
                        host_cache = Some(h.clone());
                        h
                    }
                };
                operator_stage(&h, n, reference, &ops.images)?
            }
            (None, Some("file")) => file_sink(n)?,
            (None, _) => terminal_stage(terminal_format(n), None, Box::new(std::io::stdout())),
        };
        nodes.push(NodeSpec {
            id: n.id.clone(),
            stage,
            next: next.remove(&(i + 1)).unwrap_or_default(),
        });
    }
    if needs_terminal {
        let stage = terminal_stage(terminal.output, terminal.fields, terminal.out);
        nodes.push(NodeSpec {
            id: "sink/terminal".into(),
            stage,
            next: Vec::new(),
        });
    }
    let operators = configs
        .iter()
        .filter(|n| n.operator.is_some())
        .map(|n| n.id.clone())
        .collect();
    Ok(BuiltGraph {
        nodes,
        entry: vec![0],
        operators,
    })
}

fn terminal_format(n: &NodeConfig) -> OutputFormat {
    n.params
        .get("format")
        .and_then(|f| f.parse().ok())
        .unwrap_or(OutputFormat::Columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_units() {
        assert_eq!(parse_window("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_window("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_window("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_window("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_window("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_window("0s").unwrap_err().contains("greater than zero"));
        assert!(parse_window("30000000000000000000s").unwrap_err().contains("maximum"));
        assert!(parse_window("300000000000000000m").is_err());
        assert!(parse_window("soon").is_err());
    }

    #[test]
    fn memory_sizes_parse_in_mib_and_gib() {
        assert_eq!(parse_mib("256MiB"), Ok(256 << 20));
        assert_eq!(parse_mib("1GiB"), Ok(1 << 30));
        assert_eq!(parse_mib("64"), Ok(64 << 20));
        assert!(parse_mib("5GiB").unwrap_err().contains("4GiB"));
        assert!(parse_mib("0").is_err());
        assert!(parse_mib("lots").is_err());
    }

    fn node(id: &str, operator: Option<&str>, sink: Option<&str>, params: &[(&str, &Path)]) -> NodeConfig {
        NodeConfig {
            id: id.into(),
            operator: operator.map(str::to_owned),
            sink: sink.map(str::to_owned),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.display().to_string()))
                .collect(),
            on_error: ConfigOnError::Stop,
        }
    }

    /// The error for a graph of one operator granted `grant` and one file sink writing `path`.
    fn sink_check(grant: &Path, path: &Path) -> Result<(), BuildError> {
        check_sink_paths(&[
            node("planter", Some("x.wasm"), None, &[("grant-dir", grant)]),
            node("copy", None, Some("file"), &[("path", path)]),
        ])
    }

    #[test]
    fn a_file_sink_inside_a_granted_directory_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let grant = root.path().join("grant");
        std::fs::create_dir(&grant).unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, grant.join("sub")).unwrap();
        std::os::unix::fs::symlink(&grant, root.path().join("alias")).unwrap();
        let refused = [
            grant.join("out.jsonl"),
            grant.clone(),
            grant.join("not/yet/out.jsonl"),
            grant.join("sub/out.jsonl"),
            root.path().join("alias/out.jsonl"),
            outside.join("../grant/out.jsonl"),
        ];
        for path in &refused {
            let e = sink_check(&grant, path)
                .expect_err(&path.display().to_string())
                .to_string();
            assert!(
                e.contains("copy") && e.contains(&path.display().to_string()),
                "names the sink and its path: {e}"
            );
            assert!(
                e.contains("planter") && e.contains(&grant.display().to_string()),
                "names the operator and its grant: {e}"
            );
        }
        // The grant named through a symlink, a path that does not exist yet.
        assert!(sink_check(&root.path().join("alias"), &grant.join("new/out.jsonl")).is_err());
        for path in [
            outside.join("out.jsonl"),
            root.path().join("grant-sibling.jsonl"),
            root.path().join("missing/out.jsonl"),
        ] {
            sink_check(&grant, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        // Without a grant nothing is refused.
        let plain = [node("copy", None, Some("file"), &[("path", &grant.join("out.jsonl"))])];
        assert!(check_sink_paths(&plain).is_ok());
    }

    #[test]
    fn custom_nodes_are_named_after_the_file_or_image() {
        assert_eq!(custom_node_name("./x/redact.wasm"), "redact");
        assert_eq!(custom_node_name("oci://localhost:5000/ops/redact:1.0"), "redact");
        assert_eq!(custom_node_name("oci://ghcr.io/o/mask@sha256:abcd"), "mask");
        assert_eq!(custom_node_name("oci://"), "operator");
        // A stamped component is named after its author's name, whatever the file is called.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("build-output.wasm");
        let name = crate::authoring::OperatorName::parse("my-op").unwrap();
        std::fs::write(&file, crate::authoring::stamp(b"\0asm\x0d\0\x01\0", &name).unwrap()).unwrap();
        assert_eq!(custom_node_name(&file.display().to_string()), "my-op");
    }
}
