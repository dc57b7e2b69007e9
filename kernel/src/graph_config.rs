//! The graph file: which operators a run uses, in which order, and where results go.
//!
//! `rig run GADGET --graph graph.yaml` replaces the default chain (formatter → filter → sort →
//! limit → terminal) with the user's own. The file names nodes (an operator reference plus its
//! parameters and error policy) and edges between `source`, node ids and sinks (`sink/terminal`,
//! `sink/file`). Without `edges`, nodes form a chain in file order from `source` to
//! `sink/terminal` — the linear shorthand. [`GraphConfig::validate`] checks the structure
//! (unique ids, known endpoints, no cycles, every node fed) before anything is loaded; the host
//! then resolves operator references and each operator's `init` checks fields and types, all
//! before the gadget attaches. Every error names the node.
//!
//! The file is untrusted text: its nesting is bounded ([`check_yaml_depth`]) before serde_yaml
//! sees it, the graph holds at most [`MAX_NODES`] nodes and [`MAX_EDGES`] edges (checks are
//! linear in them, never recursive), the host keys `deadline` and `flush-every` use the one
//! duration syntax ([`parse_duration`]) and `memory-limit` [`parse_memory_limit`], and every
//! id or value echoed in an error is escaped and shortened.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::input::{YamlTooDeep, check_yaml_depth, escape_control, parse_duration, quote, shorten};

/// The most nodes a graph file may have.
pub const MAX_NODES: usize = 256;
/// The most edges a graph file may have.
pub const MAX_EDGES: usize = 4096;
/// The largest `memory-limit` (wasm32's address space): 4 GiB.
pub const MAX_MEMORY_LIMIT: usize = 4 << 30;

/// What to do when an operator fails on a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop the run (default).
    #[default]
    Stop,
    /// Drop the batch, count it, keep the instance.
    Skip,
    /// Drop the batch, start a fresh instance, go on.
    Restart,
}

impl std::str::FromStr for OnError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stop" => Ok(Self::Stop),
            "skip" => Ok(Self::Skip),
            "restart" => Ok(Self::Restart),
            other => Err(format!("unknown on-error policy {other:?} (stop, skip, restart)")),
        }
    }
}

/// One node of the graph file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeConfig {
    /// Unique id, used by edges, errors and statistics.
    pub id: String,
    /// An operator reference: `builtin/NAME`, a `.wasm` path, or `oci://REF`.
    #[serde(default)]
    pub operator: Option<String>,
    /// A sink kind instead of an operator: `terminal` or `file`.
    #[serde(default)]
    pub sink: Option<String>,
    /// Parameters for the operator or sink.
    #[serde(default, rename = "with", deserialize_with = "string_map")]
    pub params: BTreeMap<String, String>,
    /// What to do when the operator fails.
    #[serde(default)]
    pub on_error: OnError,
}

/// The graph file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Nodes in file order.
    pub nodes: Vec<NodeConfig>,
    /// `[from, to]` pairs; omitted: a chain in file order from `source` to `sink/terminal`.
    #[serde(default)]
    pub edges: Option<Vec<(String, String)>>,
}

/// An endpoint of an edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The gadget's datasource.
    Source,
    /// A node by index.
    Node(usize),
    /// The terminal (stdout) sink.
    Terminal,
}

/// The graph after validation: nodes and resolved edges.
#[derive(Debug, Clone)]
pub struct ValidGraph {
    /// Nodes, in file order.
    pub nodes: Vec<NodeConfig>,
    /// Edges with resolved endpoints.
    pub edges: Vec<(Endpoint, Endpoint)>,
}

/// A graph file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GraphConfigError {
    /// YAML syntax or shape.
    #[error("{path}: {}", shorten(&escape_control(&.source.to_string()), 400))]
    Parse {
        /// The file.
        path: String,
        /// The YAML error.
        #[source]
        source: serde_yaml::Error,
    },
    /// The file nests deeper than YAML rig parses.
    #[error("{path}: {source}")]
    TooDeep {
        /// The file.
        path: String,
        /// Where.
        #[source]
        source: YamlTooDeep,
    },
    /// More nodes or edges than [`MAX_NODES`] / [`MAX_EDGES`].
    #[error("graph: {count} {what}, more than the {max} rig accepts")]
    TooLarge {
        /// `nodes` or `edges`.
        what: &'static str,
        /// How many the file has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A host key (`deadline`, `flush-every`, `memory-limit`) has a value rig cannot use.
    #[error("graph: node {}: {key}: {why}", quote(.node, 80))]
    HostKey {
        /// The node.
        node: String,
        /// The key.
        key: &'static str,
        /// What is wrong (the value quoted inside).
        why: String,
    },
    /// Two nodes share an id.
    #[error("graph: node id {} is used twice", quote(.0, 80))]
    DuplicateId(String),
    /// An id collides with a reserved name.
    #[error("graph: node id {} is reserved (source and sink/* are built in)", quote(.0, 80))]
    ReservedId(String),
    /// A node is neither an operator nor a sink, or both.
    #[error("graph: node {} needs exactly one of `operator:` or `sink:`", quote(.0, 80))]
    NodeKind(String),
    /// A sink kind is unknown.
    #[error("graph: node {} has unknown sink {} (terminal, file)", quote(.node, 80), quote(.sink, 80))]
    UnknownSink {
        /// The node.
        node: String,
        /// The kind.
        sink: String,
    },
    /// An edge names something that does not exist.
    #[error("graph: edge [{}, {}] names unknown node {}", plain(.from), plain(.to), quote(.missing, 80))]
    UnknownEndpoint {
        /// Edge start.
        from: String,
        /// Edge end.
        to: String,
        /// The unknown name.
        missing: String,
    },
    /// An edge goes the wrong way (into source, out of a sink).
    #[error("graph: edge [{}, {}] goes the wrong way ({why})", plain(.from), plain(.to))]
    Direction {
        /// Edge start.
        from: String,
        /// Edge end.
        to: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A loop.
    #[error("graph: cycle through node {}", quote(.0, 80))]
    Cycle(String),
    /// A node no edge from `source` reaches.
    #[error("graph: node {} is not connected to the source", quote(.0, 80))]
    Unreachable(String),
    /// Nothing leaves the source.
    #[error("graph: no edge leaves `source`")]
    NoSource,
}

/// A name from the file, escaped and shortened but not quoted (inside `[from, to]`).
fn plain(text: &str) -> String {
    shorten(&escape_control(text), 80).into_owned()
}

/// A memory cap: `256MiB`, `1GiB`, or plain MiB (`256`), from 1 MiB to [`MAX_MEMORY_LIMIT`].
pub fn parse_memory_limit(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("GiB") {
        (n, 1usize << 30)
    } else {
        (t.strip_suffix("MiB").unwrap_or(t), 1 << 20)
    };
    match number.trim().parse::<usize>() {
        Ok(n) if n > 0 && n.checked_mul(scale).is_some_and(|b| b <= MAX_MEMORY_LIMIT) => Ok(n * scale),
        _ => Err(format!(
            "{} is not a memory size from 1MiB to 4GiB (256MiB, 1GiB)",
            quote(text, 40)
        )),
    }
}

/// Checks the host keys of a node's `with:` (the same rules the host applies when it builds).
fn check_host_keys(n: &NodeConfig) -> Result<(), GraphConfigError> {
    let bad = |key, why: String| GraphConfigError::HostKey {
        node: n.id.clone(),
        key,
        why,
    };
    for key in ["deadline", "flush-every"] {
        if let Some(v) = n.params.get(key) {
            parse_duration(v).map_err(|e| bad(key, e.to_string()))?;
        }
    }
    if let Some(v) = n.params.get("memory-limit") {
        parse_memory_limit(v).map_err(|why| bad("memory-limit", why))?;
    }
    Ok(())
}

fn string_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_yaml::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            let v = match v {
                serde_yaml::Value::Null => return None,
                serde_yaml::Value::Bool(b) => b.to_string(),
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::String(s) => s,
                other => serde_yaml::to_string(&other).ok()?.trim_end().to_owned(),
            };
            Some((k, v))
        })
        .collect())
}

impl GraphConfig {
    /// Parses a graph file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, GraphConfigError> {
        check_yaml_depth(text).map_err(|source| GraphConfigError::TooDeep {
            path: path.to_owned(),
            source,
        })?;
        serde_yaml::from_str(text).map_err(|source| GraphConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Checks the structure and resolves edges.
    pub fn validate(self) -> Result<ValidGraph, GraphConfigError> {
        let too_large = |what, count, max| GraphConfigError::TooLarge { what, count, max };
        if self.nodes.len() > MAX_NODES {
            return Err(too_large("nodes", self.nodes.len(), MAX_NODES));
        }
        if let Some(e) = self.edges.as_ref().filter(|e| e.len() > MAX_EDGES) {
            return Err(too_large("edges", e.len(), MAX_EDGES));
        }
        let mut index = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            check_host_keys(n)?;
            if n.id == "source" || n.id.starts_with("sink/") {
                return Err(GraphConfigError::ReservedId(n.id.clone()));
            }
            if index.insert(n.id.clone(), i).is_some() {
                return Err(GraphConfigError::DuplicateId(n.id.clone()));
            }
            match (&n.operator, &n.sink) {
                (Some(_), None) => {}
                (None, Some(s)) if s == "terminal" || s == "file" => {}
                (None, Some(s)) => {
                    return Err(GraphConfigError::UnknownSink {
                        node: n.id.clone(),
                        sink: s.clone(),
                    });
                }
                _ => return Err(GraphConfigError::NodeKind(n.id.clone())),
            }
        }
        let raw_edges = match self.edges {
            Some(e) => e,
            None => {
                let mut names: Vec<String> = vec!["source".into()];
                names.extend(self.nodes.iter().map(|n| n.id.clone()));
                if self.nodes.last().is_none_or(|n| n.sink.is_none()) {
                    names.push("sink/terminal".into());
                }
                names.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect()
            }
        };
        let resolve = |name: &str, from: &str, to: &str| match name {
            "source" => Ok(Endpoint::Source),
            "sink/terminal" => Ok(Endpoint::Terminal),
            other => index
                .get(other)
                .map(|i| Endpoint::Node(*i))
                .ok_or_else(|| GraphConfigError::UnknownEndpoint {
                    from: from.into(),
                    to: to.into(),
                    missing: other.into(),
                }),
        };
        let mut edges = Vec::with_capacity(raw_edges.len());
        for (from, to) in &raw_edges {
            let a = resolve(from, from, to)?;
            let b = resolve(to, from, to)?;
            let wrong = |why| GraphConfigError::Direction {
                from: from.clone(),
                to: to.clone(),
                why,
            };
            if b == Endpoint::Source {
                return Err(wrong("nothing flows into source"));
            }
            if a == Endpoint::Terminal {
                return Err(wrong("nothing flows out of a sink"));
            }
            if let Endpoint::Node(i) = a
                && self.nodes[i].sink.is_some()
            {
                return Err(wrong("nothing flows out of a sink"));
            }
            edges.push((a, b));
        }
        if !edges.iter().any(|(a, _)| *a == Endpoint::Source) {
            return Err(GraphConfigError::NoSource);
        }
        // Reachability from source and cycles, by an iterative depth-first search over
        // adjacency lists: linear in nodes and edges, and no recursion a long chain could overflow.
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut roots = Vec::new();
        for (a, b) in &edges {
            if let Endpoint::Node(j) = b {
                match a {
                    Endpoint::Source => roots.push(*j),
                    Endpoint::Node(i) => out[*i].push(*j),
                    Endpoint::Terminal => {}
                }
            }
        }
        // 0: unseen, 1: on the current path, 2: done.
        let mut state = vec![0u8; self.nodes.len()];
        for root in roots {
            if state[root] != 0 {
                continue;
            }
            state[root] = 1;
            let mut stack = vec![(root, 0usize)];
            while let Some((i, k)) = stack.last_mut() {
                let i = *i;
                match out[i].get(*k) {
                    Some(&j) => {
                        *k += 1;
                        match state[j] {
                            1 => return Err(GraphConfigError::Cycle(self.nodes[j].id.clone())),
                            0 => {
                                state[j] = 1;
                                stack.push((j, 0));
                            }
                            _ => {}
                        }
                    }
                    None => {
                        state[i] = 2;
                        stack.pop();
                    }
                }
            }
        }
        if let Some(i) = state.iter().position(|s| *s == 0) {
            // A node not reached from source may still hide a cycle; report it as unreachable.
            return Err(GraphConfigError::Unreachable(self.nodes[i].id.clone()));
        }
        Ok(ValidGraph {
            nodes: self.nodes,
            edges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(text: &str) -> Result<ValidGraph, GraphConfigError> {
        GraphConfig::parse(text, "g.yaml")?.validate()
    }

    #[test]
    fn linear_shorthand_chains_nodes_to_the_terminal() {
        let g = valid("nodes:\n - {id: f, operator: builtin/filter, with: {filter: 'a==1'}}\n - {id: l, operator: builtin/limit, with: {max-entries: 3}}\n").unwrap();
        assert_eq!(
            g.edges,
            vec![
                (Endpoint::Source, Endpoint::Node(0)),
                (Endpoint::Node(0), Endpoint::Node(1)),
                (Endpoint::Node(1), Endpoint::Terminal)
            ]
        );
        assert_eq!(g.nodes[1].params["max-entries"], "3");
    }

    #[test]
    fn fan_out_and_on_error_parse() {
        let g = valid(
            "nodes:\n - {id: f, operator: builtin/filter, on-error: skip}\n - {id: copy, sink: file, with: {path: /tmp/x}}\nedges: [[source, f], [f, sink/terminal], [f, copy]]\n",
        )
        .unwrap();
        assert_eq!(g.nodes[0].on_error, OnError::Skip);
        assert_eq!(g.edges.len(), 3);
    }

    #[test]
    fn structural_errors_name_the_node() {
        let cyc =
            valid("nodes:\n - {id: a, operator: x}\n - {id: b, operator: y}\nedges: [[source, a], [a, b], [b, a]]\n");
        assert!(
            matches!(cyc, Err(GraphConfigError::Cycle(ref n)) if n == "a" || n == "b"),
            "{cyc:?}"
        );
        let unknown = valid("nodes:\n - {id: a, operator: x}\nedges: [[source, a], [a, nope]]\n").unwrap_err();
        assert_eq!(unknown.to_string(), "graph: edge [a, nope] names unknown node \"nope\"");
        let dup = valid("nodes:\n - {id: a, operator: x}\n - {id: a, operator: y}\n").unwrap_err();
        assert!(matches!(dup, GraphConfigError::DuplicateId(_)));
        let orphan = valid(
            "nodes:\n - {id: a, operator: x}\n - {id: b, operator: y}\nedges: [[source, a], [a, sink/terminal]]\n",
        )
        .unwrap_err();
        assert_eq!(orphan.to_string(), "graph: node \"b\" is not connected to the source");
        let typo = GraphConfig::parse("nodes:\n - {id: a, operater: x}\n", "g.yaml")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("operater"), "{typo}");
    }

    #[test]
    fn host_keys_are_checked_before_anything_loads() {
        let node = |with: &str| valid(&format!("nodes:\n - {{id: a, operator: x, with: {{{with}}}}}\n"));
        for bad in [
            "deadline: 300000000000000000m",
            "deadline: 30000000000000000000s",
            "deadline: 0",
            "deadline: soon",
            "flush-every: -1s",
            "flush-every: 1e309",
            "memory-limit: 4294967296",
            "memory-limit: 5GiB",
            "memory-limit: 0",
            "memory-limit: 18446744073709551615GiB",
        ] {
            let err = node(bad).unwrap_err().to_string();
            assert!(err.starts_with("graph: node \"a\": "), "{bad}: {err}");
            assert!(err.len() < 200, "{bad}: {err}");
        }
        for good in ["deadline: 2s", "deadline: 1.5", "flush-every: 500ms", "memory-limit: 256MiB", "memory-limit: 4GiB"] {
            node(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        assert_eq!(parse_memory_limit("1GiB"), Ok(1 << 30));
        assert_eq!(parse_memory_limit("256"), Ok(256 << 20));
    }

    #[test]
    fn hostile_files_give_short_errors() {
        let deep = format!("nodes: {}", "[".repeat(100_000));
        let t = std::time::Instant::now();
        assert!(matches!(GraphConfig::parse(&deep, "g.yaml"), Err(GraphConfigError::TooDeep { .. })));
        let block = format!("nodes:\n{}", "- ".repeat(100_000));
        assert!(matches!(GraphConfig::parse(&block, "g.yaml"), Err(GraphConfigError::TooDeep { .. })));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        let long = "x".repeat(10_000);
        let err = valid(&format!("nodes:\n - {{id: {long}, sink: nope}}\n")).unwrap_err().to_string();
        assert!(err.len() < 300, "{} bytes", err.len());
        let err = valid("nodes:\n - {id: \"\\e]0;owned\\a\", operator: x}\n - {id: \"\\e]0;owned\\a\", operator: y}\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
        let err = GraphConfig::parse(&format!("nodes: []\n\x1b[31m{long}: 1\n"), "g.yaml").unwrap_err().to_string();
        assert!(!err.contains('\x1b') && err.len() < 600, "{err:?}");
        // Billion laughs: serde_yaml refuses to expand aliases without bound.
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = (b'a' + i - 1) as char;
            let c = (b'a' + i) as char;
            laughs.push_str(&format!("{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"));
        }
        laughs.push_str("nodes: []\n");
        let t = std::time::Instant::now();
        assert!(GraphConfig::parse(&laughs, "g.yaml").is_err());
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn big_graphs_are_linear_and_bounded() {
        let chain = |n: usize| {
            let mut t = String::from("nodes:\n");
            for i in 0..n {
                t.push_str(&format!(" - {{id: n{i}, operator: x}}\n"));
            }
            t
        };
        let t = std::time::Instant::now();
        assert_eq!(valid(&chain(MAX_NODES)).unwrap().nodes.len(), MAX_NODES);
        assert!(matches!(valid(&chain(MAX_NODES + 1)), Err(GraphConfigError::TooLarge { .. })));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    /// Example graphs: the YAML blocks of docs/graph.md and the ones above.
    fn corpus() -> Vec<String> {
        let doc = include_str!("../../docs/graph.md");
        let mut out: Vec<String> = doc
            .split("```yaml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .filter(|b| b.contains("nodes:"))
            .map(str::to_owned)
            .collect();
        out.push("nodes:\n - {id: f, operator: builtin/filter, on-error: skip}\n - {id: copy, sink: file, with: {path: /tmp/x}}\nedges: [[source, f], [f, sink/terminal], [f, copy]]\n".into());
        out.push("nodes:\n  - id: s\n    operator: builtin/sort\n    with:\n      by: -timestamp\n      flush-every: 2s\n      deadline: 100ms\n      memory-limit: 64MiB\n".into());
        out
    }

    /// A bounded, deterministic fuzz of the parser and validator: every truncation of every
    /// example and thousands of seeded mutations; none may panic, each error must be short.
    #[test]
    fn mutated_graphs_never_panic() {
        const PIECES: &[&str] = &[
            "[", "]", "{", "}", "- ", ": ", "'", "\"", "\n", "\n  ", "&a ", "*a", "!!binary ", "~", "%", "\x1b]0;x\x07",
            "300000000000000000m", "30000000000000000000s", "-1", "4294967296", "1e309", "nan", "source", "sink/terminal",
            "sink/file", "edges: [[a, a]]", "on-error: restart", "\u{ff}", "\0", "? ", "|\n", ">-\n", "#",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let check = |text: &str| {
            if let Err(e) = GraphConfig::parse(text, "g.yaml").and_then(GraphConfig::validate) {
                let m = e.to_string();
                assert!(m.len() < 1200, "{} bytes for {text:?}", m.len());
                assert!(!m.contains('\x1b'), "{m:?}");
            }
        };
        let corpus = corpus();
        assert!(corpus.len() >= 3, "docs/graph.md lost its examples");
        for text in &corpus {
            for (cut, _) in text.char_indices() {
                check(&text[..cut]);
            }
        }
        for _ in 0..4000 {
            let mut text = corpus[rand(corpus.len())].clone();
            for _ in 0..1 + rand(4) {
                let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
                let at = cuts[rand(cuts.len())];
                match rand(3) {
                    0 => text.insert_str(at, PIECES[rand(PIECES.len())]),
                    1 => {
                        let end = cuts[rand(cuts.len())].max(at);
                        text.replace_range(at..end, PIECES[rand(PIECES.len())]);
                    }
                    _ => {
                        let end = cuts[rand(cuts.len())].max(at);
                        let dup = text[at..end].to_owned();
                        text.insert_str(end, &dup);
                    }
                }
            }
            check(&text);
        }
    }
}
