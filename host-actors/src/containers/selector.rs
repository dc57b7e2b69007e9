//! Which containers a run watches: IG's `-c`, `--runtime-containername`, `-n`, `-p`,
//! `--k8s-containername`, `-l` and `--host`, as one typed value.
//!
//! A [`Selector`] with no container criteria selects every container; with criteria, a
//! container must match all of them (as IG's flags combine). `--host` decides whether processes
//! that are in no container are shown too. [`Selector::parse_labels`] reads the `-l` syntax
//! (`app=cart,tier!=db`) up front, so a typo is an error before anything is loaded.

use std::collections::BTreeMap;

use super::Container;

/// Why a selector flag is malformed.
#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    /// A `-l` entry is not `key=value` or `key!=value`.
    #[error("--k8s-selector: {entry:?} is not key=value or key!=value")]
    BadLabel {
        /// The entry.
        entry: String,
    },
}

/// One `-l` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    /// `key=value` (or `key==value`).
    Equals(String, String),
    /// `key!=value`: the label is absent or differs.
    NotEquals(String, String),
}

impl LabelRequirement {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelRequirement::Equals(k, v) => labels.get(k) == Some(v),
            LabelRequirement::NotEquals(k, v) => labels.get(k) != Some(v),
        }
    }
}

/// What a run selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// `-c/--containername`: the runtime or Kubernetes container name.
    pub container_name: Option<String>,
    /// `--runtime-containername`: the runtime's container name only.
    pub runtime_container_name: Option<String>,
    /// `-n/--k8s-namespace`.
    pub k8s_namespace: Option<String>,
    /// `-p/--k8s-podname`.
    pub k8s_pod_name: Option<String>,
    /// `--k8s-containername`.
    pub k8s_container_name: Option<String>,
    /// `-l/--k8s-selector`: pod labels, all of which must hold.
    pub labels: Vec<LabelRequirement>,
    /// `--host`: processes outside any container are shown too.
    pub host: bool,
}

impl Default for Selector {
    /// The host and every container (rig's default; IG's `ig` defaults to containers only).
    fn default() -> Self {
        Selector {
            container_name: None,
            runtime_container_name: None,
            k8s_namespace: None,
            k8s_pod_name: None,
            k8s_container_name: None,
            labels: Vec::new(),
            host: true,
        }
    }
}

impl Selector {
    /// Parses `-l app=cart,tier!=db`.
    pub fn parse_labels(text: &str) -> Result<Vec<LabelRequirement>, SelectorError> {
        let mut out = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || SelectorError::BadLabel { entry: entry.to_owned() };
            let req = if let Some((k, v)) = entry.split_once("!=") {
                LabelRequirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = entry.split_once("==").or_else(|| entry.split_once('=')) {
                LabelRequirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else {
                return Err(bad());
            };
            let (LabelRequirement::Equals(k, _) | LabelRequirement::NotEquals(k, _)) = &req;
            if k.is_empty() {
                return Err(bad());
            }
            out.push(req);
        }
        Ok(out)
    }

    /// True when some container criterion is set (so not every container is selected).
    pub fn has_container_criteria(&self) -> bool {
        self.container_name.is_some()
            || self.runtime_container_name.is_some()
            || self.k8s_namespace.is_some()
            || self.k8s_pod_name.is_some()
            || self.k8s_container_name.is_some()
            || !self.labels.is_empty()
    }

    /// True when the run shows everything: the host and all containers, so nothing needs to be
    /// filtered in the kernel.
    pub fn is_everything(&self) -> bool {
        self.host && !self.has_container_criteria()
    }

    /// Does `c` match every container criterion?
    pub fn matches(&self, c: &Container) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let name_ok = self
            .container_name
            .as_deref()
            .is_none_or(|w| w == c.name || (!c.k8s.container_name.is_empty() && w == c.k8s.container_name));
        name_ok
            && eq(&self.runtime_container_name, &c.name)
            && eq(&self.k8s_namespace, &c.k8s.namespace)
            && eq(&self.k8s_pod_name, &c.k8s.pod_name)
            && eq(&self.k8s_container_name, &c.k8s.container_name)
            && self.labels.iter().all(|r| r.holds(&c.k8s.pod_labels))
    }

    /// The selection in words, for "waiting for a container matching …".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{flag} {v}"));
            }
        };
        push("--containername", &self.container_name);
        push("--runtime-containername", &self.runtime_container_name);
        push("--k8s-namespace", &self.k8s_namespace);
        push("--k8s-podname", &self.k8s_pod_name);
        push("--k8s-containername", &self.k8s_container_name);
        if !self.labels.is_empty() {
            let l: Vec<String> = self
                .labels
                .iter()
                .map(|r| match r {
                    LabelRequirement::Equals(k, v) => format!("{k}={v}"),
                    LabelRequirement::NotEquals(k, v) => format!("{k}!={v}"),
                })
                .collect();
            parts.push(format!("--k8s-selector {}", l.join(",")));
        }
        if parts.is_empty() {
            "any container".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::{K8sMeta, RuntimeName};

    fn container(name: &str, k8s_name: &str, labels: &[(&str, &str)]) -> Container {
        Container {
            id: format!("{name}-id"),
            name: name.into(),
            runtime: RuntimeName::Containerd,
            runtime_namespace: "default".into(),
            image_name: String::new(),
            image_digest: String::new(),
            pid: 1,
            mntns: 1,
            netns: 1,
            labels: BTreeMap::new(),
            k8s: K8sMeta {
                namespace: if k8s_name.is_empty() { String::new() } else { "shop".into() },
                pod_name: if k8s_name.is_empty() { String::new() } else { "cart-7d9".into() },
                pod_uid: String::new(),
                container_name: k8s_name.into(),
                pod_labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            },
            exited_at: None,
        }
    }

    #[test]
    fn labels_parse_and_reject_garbage() {
        let l = Selector::parse_labels("app=cart, tier!=db,x==y").unwrap();
        assert_eq!(
            l,
            vec![
                LabelRequirement::Equals("app".into(), "cart".into()),
                LabelRequirement::NotEquals("tier".into(), "db".into()),
                LabelRequirement::Equals("x".into(), "y".into()),
            ]
        );
        assert!(Selector::parse_labels("app").unwrap_err().to_string().contains("\"app\""));
        assert!(Selector::parse_labels("=v").is_err());
    }

    #[test]
    fn criteria_combine() {
        let web = container("web", "", &[]);
        let cart = container("cart", "app", &[("app", "cart")]);
        let mut s = Selector::default();
        assert!(s.is_everything() && s.matches(&web) && s.matches(&cart));
        s.container_name = Some("web".into());
        assert!(s.matches(&web) && !s.matches(&cart));
        s.container_name = Some("app".into());
        assert!(s.matches(&cart), "-c matches the Kubernetes container name too");
        let s = Selector {
            labels: Selector::parse_labels("app=cart").unwrap(),
            ..Selector::default()
        };
        assert!(s.matches(&cart) && !s.matches(&web));
        assert!(!s.is_everything());
        assert_eq!(s.describe(), "--k8s-selector app=cart");
    }
}
