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

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

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
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The YAML error.
        #[source]
        source: serde_yaml::Error,
    },
    /// Two nodes share an id.
    #[error("graph: node id {0:?} is used twice")]
    DuplicateId(String),
    /// An id collides with a reserved name.
    #[error("graph: node id {0:?} is reserved (source and sink/* are built in)")]
    ReservedId(String),
    /// A node is neither an operator nor a sink, or both.
    #[error("graph: node {0:?} needs exactly one of `operator:` or `sink:`")]
    NodeKind(String),
    /// A sink kind is unknown.
    #[error("graph: node {node:?} has unknown sink {sink:?} (terminal, file)")]
    UnknownSink {
        /// The node.
        node: String,
        /// The kind.
        sink: String,
    },
    /// An edge names something that does not exist.
    #[error("graph: edge [{from}, {to}] names unknown node {missing:?}")]
    UnknownEndpoint {
        /// Edge start.
        from: String,
        /// Edge end.
        to: String,
        /// The unknown name.
        missing: String,
    },
    /// An edge goes the wrong way (into source, out of a sink).
    #[error("graph: edge [{from}, {to}] goes the wrong way ({why})")]
    Direction {
        /// Edge start.
        from: String,
        /// Edge end.
        to: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A loop.
    #[error("graph: cycle through node {0:?}")]
    Cycle(String),
    /// A node no edge from `source` reaches.
    #[error("graph: node {0:?} is not connected to the source")]
    Unreachable(String),
    /// Nothing leaves the source.
    #[error("graph: no edge leaves `source`")]
    NoSource,
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
        serde_yaml::from_str(text).map_err(|source| GraphConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Checks the structure and resolves edges.
    pub fn validate(self) -> Result<ValidGraph, GraphConfigError> {
        let mut index = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
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
        // Reachability from source and cycles, by depth-first search.
        let next =
            |e: &Endpoint| -> Vec<Endpoint> { edges.iter().filter(|(a, _)| a == e).map(|(_, b)| b.clone()).collect() };
        let mut state = vec![0u8; self.nodes.len()];
        fn dfs(
            e: &Endpoint,
            next: &dyn Fn(&Endpoint) -> Vec<Endpoint>,
            state: &mut [u8],
            nodes: &[NodeConfig],
        ) -> Result<(), GraphConfigError> {
            if let Endpoint::Node(i) = e {
                match state[*i] {
                    1 => return Err(GraphConfigError::Cycle(nodes[*i].id.clone())),
                    2 => return Ok(()),
                    _ => state[*i] = 1,
                }
            }
            for n in next(e) {
                dfs(&n, next, state, nodes)?;
            }
            if let Endpoint::Node(i) = e {
                state[*i] = 2;
            }
            Ok(())
        }
        dfs(&Endpoint::Source, &next, &mut state, &self.nodes)?;
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
}
