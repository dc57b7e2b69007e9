//! `gadget.yaml`: the metadata a gadget ships next to its eBPF object.
//!
//! rig reads Inspektor Gadget's format unchanged: name and description, URLs, free annotations,
//! per-datasource and per-field annotations (`columns.width`, `template`, `description`, …) and
//! `params.ebpf.<variable>` entries that rename and document `GADGET_PARAM`s. Annotation values
//! may be written as YAML numbers or booleans; they are kept as strings, as IG does.
//! Parsing is pure: the caller reads the file and names it in errors.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Parsed `gadget.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GadgetMetadata {
    /// Human name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Project home.
    #[serde(rename = "homepageURL")]
    pub homepage_url: Option<String>,
    /// Documentation.
    #[serde(rename = "documentationURL")]
    pub documentation_url: Option<String>,
    /// Source code.
    #[serde(rename = "sourceURL")]
    pub source_url: Option<String>,
    /// Free annotations, merged into image annotations.
    #[serde(deserialize_with = "string_map")]
    pub annotations: BTreeMap<String, String>,
    /// Datasources by name.
    pub datasources: BTreeMap<String, DatasourceMetadata>,
    /// Parameters by layer (`ebpf`, …).
    pub params: ParamsMetadata,
}

/// One datasource in gadget.yaml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DatasourceMetadata {
    /// Datasource annotations (`ebpf.rest.name`, `cli.clear-screen-before`, …).
    #[serde(deserialize_with = "string_map")]
    pub annotations: BTreeMap<String, String>,
    /// Fields by dotted name.
    pub fields: BTreeMap<String, FieldMetadata>,
}

/// One field in gadget.yaml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FieldMetadata {
    /// Field annotations.
    #[serde(deserialize_with = "string_map")]
    pub annotations: BTreeMap<String, String>,
}

/// `params:` in gadget.yaml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ParamsMetadata {
    /// eBPF `GADGET_PARAM` variables by C name.
    pub ebpf: BTreeMap<String, ParamMetadata>,
}

/// One parameter's documentation and CLI name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ParamMetadata {
    /// The CLI flag name (`comm` → `--comm`).
    pub key: Option<String>,
    /// Default value, as text.
    #[serde(deserialize_with = "opt_scalar")]
    pub default_value: Option<String>,
    /// Help text.
    pub description: Option<String>,
}

/// A gadget.yaml that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct MetadataError {
    /// Which file.
    pub path: String,
    /// The YAML error, with line and column.
    #[source]
    pub source: serde_yaml::Error,
}

impl GadgetMetadata {
    /// Parses the text of a gadget.yaml; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, MetadataError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text).map_err(|source| MetadataError {
            path: path.to_owned(),
            source,
        })
    }
}

fn scalar_to_string(v: serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::Null => None,
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::String(s) => Some(s),
        other => serde_yaml::to_string(&other).ok().map(|s| s.trim_end().to_owned()),
    }
}

fn string_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_yaml::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| scalar_to_string(v).map(|v| (k, v)))
        .collect())
}

fn opt_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(scalar_to_string(serde_yaml::Value::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ig_style_metadata() {
        let text = r#"
name: trace open
description: traces open
homepageURL: https://x
datasources:
  open:
    annotations: {ebpf.rest.name: args}
    fields:
      fname:
        annotations:
          columns.width: 32
          columns.hidden: true
          description: path
params:
  ebpf:
    targ_comm: {key: comm, defaultValue: "", description: only this comm}
    targ_uid: {key: uid, defaultValue: 4294967295}
"#;
        let m = GadgetMetadata::parse(text, "g.yaml").unwrap();
        assert_eq!(m.homepage_url.as_deref(), Some("https://x"));
        let f = &m.datasources["open"].fields["fname"].annotations;
        assert_eq!(f["columns.width"], "32");
        assert_eq!(f["columns.hidden"], "true");
        assert_eq!(m.datasources["open"].annotations["ebpf.rest.name"], "args");
        assert_eq!(m.params.ebpf["targ_comm"].key.as_deref(), Some("comm"));
        assert_eq!(m.params.ebpf["targ_uid"].default_value.as_deref(), Some("4294967295"));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err = GadgetMetadata::parse("name: [unclosed\n", "x/gadget.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x/gadget.yaml: "), "{err}");
        assert!(err.contains("line"), "{err}");
    }
}
