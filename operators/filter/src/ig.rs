//! Inspektor Gadget's `--filter` syntax: `field==value,field!=value,field~regex`.
//!
//! Users of IG type this; rig accepts it unchanged. Conditions are separated by commas and all
//! must hold. Each is a field name, an operator (`==`, `!=`, `>=`, `<=`, `>`, `<`, `~` regex
//! match, `!~` regex non-match) and the rest of the condition as the value, untrimmed and
//! unquoted (`\,` puts a comma in a value; other backslashes are kept, so regex escapes work).
//! Values are compared numerically when the field is numeric and as text otherwise, and
//! `field==` matches an empty value.

use rig_operator_sdk::Schema;

use crate::pred::{CmpOp, Lit, Pred, compile_cmp, compile_regex};

/// One condition as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    /// Field name.
    pub field: String,
    /// Operator as written.
    pub op: &'static str,
    /// Value with `\,` unescaped.
    pub value: String,
}

const OPS: [&str; 8] = ["==", "!=", "!~", ">=", "<=", ">", "<", "~"];

/// Splits a filter into its conditions.
pub fn parse(filter: &str) -> Result<Vec<Cond>, String> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                cur.push(',');
            }
            ',' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts.iter().enumerate().map(|(i, p)| parse_cond(p, i + 1)).collect()
}

fn parse_cond(text: &str, n: usize) -> Result<Cond, String> {
    let t = text.trim_start();
    if t.trim().is_empty() {
        return Err(format!("filter: condition {n} is empty"));
    }
    let end = t.find(['=', '!', '<', '>', '~']).ok_or_else(|| {
        format!(
            "filter: condition {n} ({text:?}) has no operator (one of {})",
            OPS.join(" ")
        )
    })?;
    let field = t[..end].trim();
    if field.is_empty() {
        return Err(format!("filter: condition {n} ({text:?}) has no field name"));
    }
    let rest = &t[end..];
    let op = OPS.iter().find(|op| rest.starts_with(**op)).ok_or_else(|| {
        format!(
            "filter: condition {n} ({text:?}): unknown operator, expected one of {}",
            OPS.join(" ")
        )
    })?;
    Ok(Cond {
        field: field.to_owned(),
        op,
        value: rest[op.len()..].to_owned(),
    })
}

/// Compiles a filter against a schema: all conditions must hold.
pub fn compile(filter: &str, schema: &Schema) -> Result<Pred, String> {
    let mut out = Pred::True;
    for c in parse(filter)? {
        let p = match c.op {
            "~" => compile_regex(schema, &c.field, &c.value),
            "!~" => compile_regex(schema, &c.field, &c.value).map(Pred::negate),
            op => {
                let op = match op {
                    "==" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    ">=" => CmpOp::Ge,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    _ => CmpOp::Lt,
                };
                compile_cmp(schema, &c.field, op, &Lit::Text(c.value.clone()))
            }
        }
        .map_err(|e| format!("filter: {e}"))?;
        out = Pred::and(out, p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(field: &str, op: &'static str, value: &str) -> Cond {
        Cond {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn splits_on_commas_and_unescapes() {
        assert_eq!(
            parse("proc.comm==cat,fname~^/etc/,error!=0").unwrap(),
            vec![
                cond("proc.comm", "==", "cat"),
                cond("fname", "~", "^/etc/"),
                cond("error", "!=", "0")
            ]
        );
        assert_eq!(parse(r"fname==a\,b").unwrap(), vec![cond("fname", "==", "a,b")]);
        assert_eq!(parse(r"fname~\d+\.log").unwrap(), vec![cond("fname", "~", r"\d+\.log")]);
        assert_eq!(parse("fname==").unwrap(), vec![cond("fname", "==", "")]);
        assert_eq!(parse("  ").unwrap(), vec![]);
    }

    #[test]
    fn picks_the_longest_operator_and_keeps_the_value_raw() {
        assert_eq!(parse("a>=1").unwrap(), vec![cond("a", ">=", "1")]);
        assert_eq!(parse("a<=1").unwrap(), vec![cond("a", "<=", "1")]);
        assert_eq!(parse("a>1").unwrap(), vec![cond("a", ">", "1")]);
        assert_eq!(parse("a!~x").unwrap(), vec![cond("a", "!~", "x")]);
        assert_eq!(parse("a== b=c ").unwrap(), vec![cond("a", "==", " b=c ")]);
        assert_eq!(parse(" a ==x").unwrap(), vec![cond("a", "==", "x")]);
    }

    #[test]
    fn malformed_conditions_say_which() {
        assert!(parse("a==1,,b==2").unwrap_err().contains("condition 2 is empty"));
        assert!(
            parse("a==1,b")
                .unwrap_err()
                .contains("condition 2 (\"b\") has no operator")
        );
        assert!(parse("==1").unwrap_err().contains("no field name"));
        assert!(parse("a=1").unwrap_err().contains("unknown operator"));
        assert!(parse("a!1").unwrap_err().contains("unknown operator"));
    }
}
