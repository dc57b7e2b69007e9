//! Operator configuration: the `(key, value)` pairs `init` receives.
//!
//! They come from `--operator-param NAME.KEY=VALUE` or from a graph file's `with:` map, so every
//! value is text. [`Config`] gives typed access whose errors name the key and the operator's
//! expectation, and [`Config::allow_only`] turns a misspelt key into an error instead of a
//! silently ignored setting.

use std::fmt::Display;
use std::str::FromStr;

/// An operator's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// A configuration from its pairs. When a key repeats, the last value wins.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Self { entries }
    }

    /// A configuration from borrowed pairs (handy in tests).
    pub fn from_pairs(entries: &[(&str, &str)]) -> Self {
        Self::new(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// Every pair, in the order given.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error saying it is required.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key).ok_or_else(|| format!("missing config key {key:?}"))
    }

    /// The value of `key` parsed as `T`, `None` when unset; the error names the key and value.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, String>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| format!("config key {key:?}: cannot parse {v:?}: {e}")),
        }
    }

    /// The value of `key` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, String>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// A boolean key: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case); `default` when
    /// unset.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, String> {
        let Some(v) = self.get(key) else { return Ok(default) };
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("config key {key:?}: expected true or false, got {v:?}")),
        }
    }

    /// Errors on any key not in `known`, listing the keys the operator accepts.
    pub fn allow_only(&self, known: &[&str]) -> Result<(), String> {
        match self.entries.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some((k, _)) => Err(format!("unknown config key {k:?} (known keys: {})", known.join(", "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_access_names_the_key() {
        let c = Config::from_pairs(&[("n", "12"), ("b", "Yes"), ("n", " 13 "), ("bad", "x")]);
        assert_eq!(c.parse::<u32>("n").unwrap(), Some(13));
        assert_eq!(c.parse_or::<u32>("missing", 7).unwrap(), 7);
        assert!(c.bool_or("b", false).unwrap());
        assert!(c.bool_or("none", true).unwrap());
        let e = c.parse::<u32>("bad").unwrap_err();
        assert!(e.starts_with("config key \"bad\": cannot parse \"x\""), "{e}");
        assert!(c.bool_or("bad", true).unwrap_err().contains("expected true or false"));
        assert_eq!(c.require("zz").unwrap_err(), "missing config key \"zz\"");
    }

    #[test]
    fn allow_only_lists_known_keys() {
        let c = Config::from_pairs(&[("by", "x"), ("max-row", "3")]);
        assert_eq!(
            c.allow_only(&["by", "max-rows"]).unwrap_err(),
            "unknown config key \"max-row\" (known keys: by, max-rows)"
        );
        assert!(c.allow_only(&["by", "max-row"]).is_ok());
    }
}
