//! `gadget.yaml`: the metadata a gadget ships next to its eBPF object.
//!
//! rig reads Inspektor Gadget's format unchanged: name and description, URLs, free annotations,
//! per-datasource and per-field annotations (`columns.width`, `template`, `description`, …) and
//! `params.ebpf.<variable>` entries that rename and document `GADGET_PARAM`s. Annotation values
//! may be written as YAML numbers or booleans; they are kept as strings, as IG does.
//! Parsing is pure: the caller reads the file and names it in errors.
//!
//! gadget.yaml may come from an untrusted image, so parsing is bounded: the nesting is checked by
//! [`check_yaml_depth`] before serde sees the text, column widths above [`MAX_COLUMN_WIDTH`] and
//! parameter keys that cannot be a flag (`""`, `bad key=x`) are errors naming the entry.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::input::{YamlTooDeep, check_yaml_depth, quote};

/// Widest column a gadget.yaml may ask for (`columns.width`, `minwidth`, `maxwidth`).
pub const MAX_COLUMN_WIDTH: u64 = 1024;

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
pub enum MetadataError {
    /// Not valid YAML, or not the gadget.yaml shape.
    #[error("{path}: {source}")]
    Yaml {
        /// Which file.
        path: String,
        /// The YAML error, with line and column.
        #[source]
        source: serde_yaml::Error,
    },
    /// Nested deeper than rig parses.
    #[error("{path}: {source}")]
    TooDeep {
        /// Which file.
        path: String,
        /// Where the limit was passed.
        #[source]
        source: YamlTooDeep,
    },
    /// A column width that is not a number from 0 to [`MAX_COLUMN_WIDTH`].
    #[error("{path}: datasources.{datasource}.fields.{field}: {key} {value} is not a width from 0 to {MAX_COLUMN_WIDTH}")]
    Width {
        /// Which file.
        path: String,
        /// The datasource (escaped).
        datasource: String,
        /// The field (escaped).
        field: String,
        /// The annotation.
        key: &'static str,
        /// The value given (escaped and shortened, quoted).
        value: String,
    },
    /// A parameter key that cannot be a command-line flag.
    #[error("{path}: params.ebpf.{var}: key {key} is not a flag name (letters, digits, '-' and '_', not starting with '-')")]
    ParamKey {
        /// Which file.
        path: String,
        /// The C variable (escaped).
        var: String,
        /// The key (quoted).
        key: String,
    },
}

/// True when `key` can be a `--key` flag: non-empty ASCII letters, digits, `-`, `_`, not
/// starting with `-`.
pub fn is_flag_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('-')
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl GadgetMetadata {
    /// Parses the text of a gadget.yaml; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, MetadataError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        check_yaml_depth(text).map_err(|source| MetadataError::TooDeep {
            path: path.to_owned(),
            source,
        })?;
        let meta: Self = serde_yaml::from_str(text).map_err(|source| MetadataError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        meta.check(path)?;
        Ok(meta)
    }

    fn check(&self, path: &str) -> Result<(), MetadataError> {
        let short = |s: &str| crate::input::shorten(&crate::input::escape_control(s), 64).into_owned();
        for (ds, d) in &self.datasources {
            for (field, f) in &d.fields {
                for key in ["columns.width", "columns.minwidth", "columns.maxwidth"] {
                    let Some(v) = f.annotations.get(key) else { continue };
                    if v.trim().parse::<u64>().is_ok_and(|w| w <= MAX_COLUMN_WIDTH) {
                        continue;
                    }
                    return Err(MetadataError::Width {
                        path: path.to_owned(),
                        datasource: short(ds),
                        field: short(field),
                        key,
                        value: quote(v, 40),
                    });
                }
            }
        }
        for (var, p) in &self.params.ebpf {
            if let Some(key) = &p.key
                && !is_flag_name(key)
            {
                return Err(MetadataError::ParamKey {
                    path: path.to_owned(),
                    var: short(var),
                    key: quote(key, 40),
                });
            }
        }
        Ok(())
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
    fn huge_widths_and_bad_keys_are_refused_by_name() {
        let wide = "datasources:\n  open:\n    fields:\n      fname:\n        annotations:\n          columns.width: 4294967296\n";
        let e = GadgetMetadata::parse(wide, "g.yaml").unwrap_err().to_string();
        assert!(e.contains("fields.fname: columns.width \"4294967296\""), "{e}");
        for key in ["\"\"", "\"bad key=x\"", "-x"] {
            let text = format!("params:\n  ebpf:\n    targ_pid: {{key: {key}}}\n");
            let e = GadgetMetadata::parse(&text, "g.yaml").unwrap_err().to_string();
            assert!(e.contains("params.ebpf.targ_pid: key"), "{e}");
        }
        let ok = "params:\n  ebpf:\n    targ_pid: {key: pid_2-x}\n";
        assert!(GadgetMetadata::parse(ok, "g.yaml").is_ok());
    }

    #[test]
    fn deep_yaml_is_refused_before_parsing() {
        let deep = format!("name: {}", "[".repeat(100_000));
        let e = GadgetMetadata::parse(&deep, "g.yaml").unwrap_err();
        assert!(matches!(e, MetadataError::TooDeep { .. }), "{e}");
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
