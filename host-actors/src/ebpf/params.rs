//! Gadget parameters: `GADGET_PARAM` variables as typed, documented CLI flags.
//!
//! Every parameter's type comes from the BTF of its `const volatile` variable; gadget.yaml
//! (`params.ebpf.<var>`) can rename the flag (`targ_comm` → `--comm`), document it and give it a
//! default. The filter parameters of `filter.h` are part of the ABI, so their IG flag names apply
//! when gadget.yaml is silent. Values are validated and encoded to the variable's exact bytes
//! here; nothing reaches the loader as a string.

use rig_kernel::metadata::GadgetMetadata;

use super::object::{GadgetObject, ParamType};

/// A parameter the user can set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDef {
    /// The C variable.
    pub var: String,
    /// The flag name (without `--`).
    pub key: String,
    /// Its type.
    pub ty: ParamType,
    /// Default value, as text (`None`: the value compiled into the object).
    pub default: Option<String>,
    /// Help text.
    pub description: String,
}

/// A value that does not fit its parameter.
#[derive(Debug, thiserror::Error)]
#[error("invalid value {} for --{key}: {why}", rig_kernel::input::quote(.value, 80))]
pub struct ParamError {
    /// The flag.
    pub key: String,
    /// What was given.
    pub value: String,
    /// What is wrong.
    pub why: String,
}

/// ABI parameters whose IG flag names apply when gadget.yaml says nothing.
fn abi_default(var: &str) -> Option<(&'static str, &'static str)> {
    Some(match var {
        "targ_pid" => ("pid", "Show only events from this process id"),
        "targ_tid" => ("tid", "Show only events from this thread id"),
        "targ_uid" => ("uid", "Show only events from this user id"),
        "targ_gid" => ("gid", "Show only events from this group id"),
        "targ_comm" => ("comm", "Show only events from processes with this command name"),
        "collect_ustack" => ("collect-ustack", "Collect user stacks"),
        _ => return None,
    })
}

/// The parameters of a gadget, in declaration order.
pub fn param_defs(object: &GadgetObject, meta: &GadgetMetadata) -> Vec<ParamDef> {
    object
        .params
        .iter()
        .map(|p| {
            let m = meta.params.ebpf.get(&p.var);
            let abi = abi_default(&p.var);
            ParamDef {
                var: p.var.clone(),
                key: m
                    .and_then(|m| m.key.clone())
                    .or_else(|| abi.map(|a| a.0.to_owned()))
                    .unwrap_or_else(|| p.var.replace('_', "-")),
                ty: p.ty,
                default: m.and_then(|m| m.default_value.clone()).filter(|d| !d.is_empty()),
                description: m
                    .and_then(|m| m.description.clone())
                    .or_else(|| abi.map(|a| a.1.to_owned()))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

impl ParamDef {
    /// The type as shown in help.
    pub fn type_name(&self) -> String {
        match self.ty {
            ParamType::Bool => "bool".into(),
            ParamType::Int { size, signed } => {
                format!("{}{}", if signed { "s" } else { "u" }, size * 8)
            }
            ParamType::Str { size } => format!("string (max {} bytes)", size.saturating_sub(1)),
        }
    }

    /// Encodes a textual value into the variable's bytes.
    pub fn encode(&self, value: &str) -> Result<Vec<u8>, ParamError> {
        let err = |why: String| ParamError {
            key: self.key.clone(),
            value: value.to_owned(),
            why,
        };
        match self.ty {
            ParamType::Bool => match value {
                "true" | "1" | "yes" | "" => Ok(vec![1]),
                "false" | "0" | "no" => Ok(vec![0]),
                _ => Err(err("expected true or false".into())),
            },
            ParamType::Int { size, signed } => {
                let v: i128 = value
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("expected an integer ({})", self.type_name())))?;
                let bits = size * 8;
                let (min, max) = if signed {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    // -1 is the ABI's "any" for unsigned filters (uid/gid), as in IG.
                    (-1, (1i128 << bits) - 1)
                };
                if v < min || v > max {
                    return Err(err(format!("out of range for {}", self.type_name())));
                }
                Ok(v.to_le_bytes()[..size as usize].to_vec())
            }
            ParamType::Str { size } => {
                if value.len() >= size as usize {
                    return Err(err(format!("longer than {} bytes", size - 1)));
                }
                let mut b = value.as_bytes().to_vec();
                b.resize(size as usize, 0);
                Ok(b)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(ty: ParamType) -> ParamDef {
        ParamDef {
            var: "v".into(),
            key: "k".into(),
            ty,
            default: None,
            description: String::new(),
        }
    }

    #[test]
    fn values_are_encoded_to_exact_sizes() {
        assert_eq!(
            def(ParamType::Int { size: 4, signed: false }).encode("7").unwrap(),
            [7, 0, 0, 0]
        );
        assert_eq!(
            def(ParamType::Int { size: 4, signed: false }).encode("-1").unwrap(),
            [255; 4]
        );
        assert_eq!(
            def(ParamType::Int { size: 2, signed: true }).encode("-2").unwrap(),
            [0xfe, 0xff]
        );
        assert_eq!(def(ParamType::Str { size: 4 }).encode("ab").unwrap(), b"ab\0\0");
        assert_eq!(def(ParamType::Bool).encode("false").unwrap(), [0]);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let e = def(ParamType::Int { size: 1, signed: false })
            .encode("300")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "invalid value \"300\" for --k: out of range for u8");
        let e = def(ParamType::Int { size: 4, signed: true })
            .encode("abc")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected an integer (s32)"), "{e}");
        assert!(def(ParamType::Str { size: 4 }).encode("abcd").is_err());
        // Values are quoted for people (controls escaped, long ones cut), not Debug-printed.
        let e = def(ParamType::Bool).encode(&format!("\u{1b}{}", "y".repeat(100))).unwrap_err().to_string();
        assert!(e.starts_with("invalid value \"\\eyyy"), "{e}");
        assert!(e.contains("…(22 more characters)\" for --k: expected true or false"), "{e}");
    }
}
