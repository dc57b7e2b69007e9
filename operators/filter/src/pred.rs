//! Compiled predicates: what both filter languages turn into, checked against the schema once.
//!
//! Parsing (in [`crate::ig`] and [`crate::expr`]) produces conditions on field *names* with
//! untyped literals. [`compile_cmp`] and friends resolve each name to a [`FieldRef`] and convert
//! each literal to the field's class (integer, float, boolean, text) at `init`, so that every
//! error — unknown field, `proc.pid > "abc"`, an ordering on a boolean, a bad regex — surfaces
//! before any event flows, naming the field. [`Pred::eval`] then runs per row on borrowed cell
//! bytes: no allocation, no string conversion except formatting an integer into a stack buffer
//! for a regex match on a numeric field.

use std::cmp::Ordering;

use regex::bytes::{Regex, RegexBuilder};
use rig_operator_sdk::{BatchView, FieldKind, FieldRef, Schema, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped (`5 < x` is `x > 5`).
    pub fn flipped(self) -> Self {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            op => op,
        }
    }

    fn test(self, ord: Option<Ordering>) -> bool {
        match ord {
            // NaN: unordered, so only `!=` holds.
            None => self == CmpOp::Ne,
            Some(o) => match self {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            },
        }
    }
}

/// A literal as written, before it meets a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// Quoted text in an expression, or any value in the IG syntax.
    Text(String),
    /// An unquoted number in an expression (its source text).
    Number(String),
    /// `true` / `false` in an expression.
    Bool(bool),
}

impl Lit {
    fn describe(&self) -> String {
        match self {
            Lit::Text(s) => format!("text {s:?}"),
            Lit::Number(n) => format!("number {n}"),
            Lit::Bool(b) => format!("boolean {b}"),
        }
    }

    fn source(&self) -> &str {
        match self {
            Lit::Text(s) | Lit::Number(s) => s,
            Lit::Bool(true) => "true",
            Lit::Bool(false) => "false",
        }
    }
}

/// A number literal converted for an integer field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i128),
    Float(f64),
}

fn parse_num(s: &str) -> Option<Num> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let int = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16).ok()
    } else if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        digits.parse::<i128>().ok()
    } else {
        None
    };
    match int {
        Some(v) => Some(Num::Int(if neg { -v } else { v })),
        None => t.parse::<f64>().ok().filter(|f| !f.is_nan()).map(Num::Float),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The check a [`Pred::Test`] runs on one cell.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    /// Integer field against an integer.
    Int(CmpOp, i128),
    /// Integer or float field against a float.
    Float(CmpOp, f64),
    /// Integer field in a sorted set.
    IntIn(Vec<i128>),
    /// Boolean field equal (or not) to a value.
    Bool(bool),
    /// Text or bytes field against bytes (lexicographic).
    Text(CmpOp, Vec<u8>),
    /// Text or bytes field in a sorted set.
    TextIn(Vec<Vec<u8>>),
    /// Text or bytes starting with these bytes (an anchored literal regex).
    Prefix(Vec<u8>),
    /// Text or bytes ending with these bytes.
    Suffix(Vec<u8>),
    /// Regex on text or bytes.
    Regex(Regex),
    /// Regex on an integer's decimal form.
    IntRegex(Regex),
    /// Non-zero, non-empty, true.
    Truthy,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Pred {
    /// Always true (an empty filter).
    True,
    /// Always false.
    False,
    /// All must hold.
    And(Vec<Pred>),
    /// One must hold.
    Or(Vec<Pred>),
    /// Negation.
    Not(Box<Pred>),
    /// One cell check.
    Test(FieldRef, CheckBox),
}

/// A [`Check`], boxed to keep [`Pred`] small (it is only reached through [`Pred::Test`]).
#[derive(Debug, Clone)]
pub struct CheckBox(pub(crate) Box<Check>);

impl Pred {
    /// Calls `f` on every field the predicate reads (to list them, or to rebind them to another
    /// layout of the same fields).
    pub fn fields_mut(&mut self, f: &mut dyn FnMut(&mut FieldRef)) {
        match self {
            Pred::True | Pred::False => {}
            Pred::And(v) | Pred::Or(v) => v.iter_mut().for_each(|p| p.fields_mut(f)),
            Pred::Not(p) => p.fields_mut(f),
            Pred::Test(r, _) => f(r),
        }
    }

    /// `a && b`, flattening nested conjunctions.
    pub fn and(a: Pred, b: Pred) -> Pred {
        match (a, b) {
            (Pred::True, p) | (p, Pred::True) => p,
            (Pred::And(mut v), Pred::And(w)) => {
                v.extend(w);
                Pred::And(v)
            }
            (Pred::And(mut v), p) => {
                v.push(p);
                Pred::And(v)
            }
            (p, Pred::And(mut v)) => {
                v.insert(0, p);
                Pred::And(v)
            }
            (a, b) => Pred::And(vec![a, b]),
        }
    }

    /// `a || b`, flattening nested disjunctions.
    pub fn or(a: Pred, b: Pred) -> Pred {
        match (a, b) {
            (Pred::Or(mut v), Pred::Or(w)) => {
                v.extend(w);
                Pred::Or(v)
            }
            (Pred::Or(mut v), p) => {
                v.push(p);
                Pred::Or(v)
            }
            (p, Pred::Or(mut v)) => {
                v.insert(0, p);
                Pred::Or(v)
            }
            (a, b) => Pred::Or(vec![a, b]),
        }
    }

    /// `!p`.
    pub fn negate(p: Pred) -> Pred {
        match p {
            Pred::Not(inner) => *inner,
            Pred::True => Pred::False,
            Pred::False => Pred::True,
            p => Pred::Not(Box::new(p)),
        }
    }

    fn test(f: FieldRef, c: Check) -> Pred {
        Pred::Test(f, CheckBox(Box::new(c)))
    }

    /// Evaluates the condition on row `row`.
    pub fn eval(&self, b: &BatchView<'_>, row: usize) -> bool {
        match self {
            Pred::True => true,
            Pred::False => false,
            Pred::And(v) => v.iter().all(|p| p.eval(b, row)),
            Pred::Or(v) => v.iter().any(|p| p.eval(b, row)),
            Pred::Not(p) => !p.eval(b, row),
            Pred::Test(f, c) => check(&c.0, b, row, f),
        }
    }

    /// Evaluates the condition on every row of `b` into `out` (`out.len() == b.len()`).
    ///
    /// Batch at a time rather than row at a time: each node runs one loop over the rows, so the
    /// branches that pick the node and the check are the same for every row and predicted,
    /// where a per-row walk of the tree mispredicts as results alternate. `&&` and `||` still
    /// short-circuit, per batch: a child is skipped when no row can change the result, and
    /// costly checks (regexes, sets) run only on the rows still undecided. `pool` holds the
    /// scratch buffers between calls, so a batch allocates nothing once warm.
    pub fn eval_batch(&self, b: &BatchView<'_>, out: &mut [bool], pool: &mut Vec<Vec<bool>>) {
        self.eval_into(b, None, out, pool);
    }

    /// `out[i]` is only meaningful where `active` is unset or `active[i]` is true; elsewhere it
    /// may hold anything, which the parents' `&=` / `|=` never let through.
    fn eval_into(&self, b: &BatchView<'_>, active: Option<&[bool]>, out: &mut [bool], pool: &mut Vec<Vec<bool>>) {
        match self {
            Pred::True => out.fill(true),
            Pred::False => out.fill(false),
            Pred::Not(p) => {
                p.eval_into(b, active, out, pool);
                out.iter_mut().for_each(|o| *o = !*o);
            }
            Pred::Test(f, c) => crate::scan::leaf(&c.0, f, b, active.filter(|_| c.0.is_costly()), out),
            Pred::And(v) | Pred::Or(v) => {
                let and = matches!(self, Pred::And(_));
                let Some((first, rest)) = v.split_first() else {
                    out.fill(and);
                    return;
                };
                first.eval_into(b, active, out, pool);
                let mut tmp = pool.pop().unwrap_or_default();
                let mut undecided = pool.pop().unwrap_or_default();
                for p in rest {
                    // Rows whose result this child can still change.
                    undecided.clear();
                    undecided.extend(
                        out.iter()
                            .enumerate()
                            .map(|(i, &o)| o == and && active.is_none_or(|a| a[i])),
                    );
                    if !undecided.contains(&true) {
                        break;
                    }
                    tmp.clear();
                    tmp.resize(out.len(), false);
                    p.eval_into(b, Some(&undecided), &mut tmp, pool);
                    if and {
                        out.iter_mut().zip(&tmp).for_each(|(o, t)| *o &= *t);
                    } else {
                        out.iter_mut().zip(&tmp).for_each(|(o, t)| *o |= *t);
                    }
                }
                pool.push(undecided);
                pool.push(tmp);
            }
        }
    }
}

impl Check {
    /// Checks worth skipping on rows whose result is already known.
    fn is_costly(&self) -> bool {
        matches!(
            self,
            Check::Regex(_) | Check::IntRegex(_) | Check::TextIn(_) | Check::IntIn(_)
        )
    }
}

fn int_of(v: Value<'_>) -> i128 {
    match v {
        Value::U64(v) => i128::from(v),
        Value::I64(v) => i128::from(v),
        Value::Bool(b) => i128::from(b),
        Value::F64(v) => v as i128,
        Value::Str(_) | Value::Bytes(_) => 0,
    }
}

fn check(c: &Check, b: &BatchView<'_>, row: usize, f: &FieldRef) -> bool {
    match c {
        Check::Int(op, rhs) => op.test(Some(int_of(b.get(row, f)).cmp(rhs))),
        Check::Float(op, rhs) => op.test(b.get(row, f).as_f64().and_then(|v| v.partial_cmp(rhs))),
        Check::IntIn(set) => set.binary_search(&int_of(b.get(row, f))).is_ok(),
        Check::Bool(want) => b.get(row, f).as_bool() == Some(*want),
        Check::Text(op, rhs) => op.test(Some(b.text_bytes(row, f).cmp(rhs.as_slice()))),
        Check::TextIn(set) => set.binary_search_by(|s| s.as_slice().cmp(b.text_bytes(row, f))).is_ok(),
        Check::Prefix(p) => b.text_bytes(row, f).starts_with(p),
        Check::Suffix(p) => b.text_bytes(row, f).ends_with(p),
        Check::Regex(re) => re.is_match(b.text_bytes(row, f)),
        Check::IntRegex(re) => {
            let mut buf = [0u8; 48];
            re.is_match(format_int(int_of(b.get(row, f)), &mut buf))
        }
        Check::Truthy => match b.get(row, f) {
            Value::Bool(v) => v,
            Value::U64(v) => v != 0,
            Value::I64(v) => v != 0,
            Value::F64(v) => v != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(s) => !s.is_empty(),
        },
    }
}

/// Decimal digits of `v`, written into `buf` (an i128 needs at most 40 bytes).
pub(crate) fn format_int(v: i128, buf: &mut [u8; 48]) -> &[u8] {
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Resolves a field, with the error naming the language the condition came from.
pub fn field(schema: &Schema, name: &str) -> Result<FieldRef, String> {
    schema.resolve(name)
}

fn mismatch(name: &str, f: &FieldRef, what: &str) -> String {
    format!("field {name:?} is {} and cannot be compared with {what}", f.kind)
}

/// `name op literal`.
pub fn compile_cmp(schema: &Schema, name: &str, op: CmpOp, lit: &Lit) -> Result<Pred, String> {
    let f = field(schema, name)?;
    let kind = f.kind;
    if kind.is_integer() || kind.is_float() {
        let num = match lit {
            Lit::Bool(_) => return Err(mismatch(name, &f, &lit.describe())),
            Lit::Text(s) | Lit::Number(s) => parse_num(s).ok_or_else(|| mismatch(name, &f, &lit.describe()))?,
        };
        return Ok(match num {
            Num::Int(v) if kind.is_integer() => Pred::test(f, Check::Int(op, v)),
            Num::Int(v) => Pred::test(f, Check::Float(op, v as f64)),
            Num::Float(v) => Pred::test(f, Check::Float(op, v)),
        });
    }
    match kind {
        FieldKind::Bool => {
            let v = match lit {
                Lit::Bool(b) => Some(*b),
                Lit::Text(s) | Lit::Number(s) => parse_bool(s),
            }
            .ok_or_else(|| mismatch(name, &f, &lit.describe()))?;
            match op {
                CmpOp::Eq => Ok(Pred::test(f, Check::Bool(v))),
                CmpOp::Ne => Ok(Pred::test(f, Check::Bool(!v))),
                _ => Err(format!(
                    "field {name:?} is boolean: only == and != apply, not {}",
                    op.as_str()
                )),
            }
        }
        _ => Ok(Pred::test(f, Check::Text(op, lit.source().as_bytes().to_vec()))),
    }
}

/// `name matches "regex"` (IG `name~regex`).
pub fn compile_regex(schema: &Schema, name: &str, pattern: &str) -> Result<Pred, String> {
    let f = field(schema, name)?;
    if f.kind == FieldKind::Bool || f.kind.is_float() {
        return Err(format!(
            "field {name:?} is {}: a regex applies to text, bytes and integers",
            f.kind
        ));
    }
    let re = RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("field {name:?}: bad regex {pattern:?}: {e}"))?;
    if f.kind.is_integer() {
        return Ok(Pred::test(f, Check::IntRegex(re)));
    }
    // The common anchored literals (`^/etc/`, `\.log$`, `^cat$`) skip the regex engine.
    Ok(Pred::test(
        f,
        match literal_of(pattern) {
            Some((true, lit, true)) => Check::Text(CmpOp::Eq, lit),
            Some((true, lit, false)) => Check::Prefix(lit),
            Some((false, lit, true)) => Check::Suffix(lit),
            _ => Check::Regex(re),
        },
    ))
}

/// When `pattern` is a plain literal, optionally anchored (`^` first, `$` last; punctuation may
/// be escaped with `\`): `(anchored at start, literal bytes, anchored at end)`.
pub(crate) fn literal_of(pattern: &str) -> Option<(bool, Vec<u8>, bool)> {
    let (start, rest) = match pattern.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let mut lit = String::new();
    let mut end = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => lit.push(e),
                _ => return None,
            },
            '$' if chars.peek().is_none() => end = true,
            '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => return None,
            c => lit.push(c),
        }
    }
    Some((start, lit.into_bytes(), end))
}

/// `name in [a, b, …]`.
pub fn compile_in(schema: &Schema, name: &str, lits: &[Lit]) -> Result<Pred, String> {
    let f = field(schema, name)?;
    if lits.is_empty() {
        return Ok(Pred::False);
    }
    if f.kind.is_integer()
        && lits
            .iter()
            .all(|l| matches!(l, Lit::Text(s) | Lit::Number(s) if matches!(parse_num(s), Some(Num::Int(_)))))
    {
        let mut set: Vec<i128> = lits
            .iter()
            .filter_map(|l| match l {
                Lit::Text(s) | Lit::Number(s) => match parse_num(s) {
                    Some(Num::Int(v)) => Some(v),
                    _ => None,
                },
                Lit::Bool(_) => None,
            })
            .collect();
        set.sort_unstable();
        set.dedup();
        return Ok(Pred::test(f, Check::IntIn(set)));
    }
    if matches!(f.kind, FieldKind::Text | FieldKind::Bytes) {
        let mut set: Vec<Vec<u8>> = lits.iter().map(|l| l.source().as_bytes().to_vec()).collect();
        set.sort_unstable();
        set.dedup();
        return Ok(Pred::test(f, Check::TextIn(set)));
    }
    // Floats, booleans, integers against fractions: a disjunction of equalities.
    let mut out = Pred::False;
    for l in lits {
        let p = compile_cmp(schema, name, CmpOp::Eq, l)?;
        out = if matches!(out, Pred::False) {
            p
        } else {
            Pred::or(out, p)
        };
    }
    Ok(out)
}

/// A bare field used as a condition: true when non-zero, non-empty or true.
pub fn compile_truthy(schema: &Schema, name: &str) -> Result<Pred, String> {
    Ok(Pred::test(field(schema, name)?, Check::Truthy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_ints_floats_and_hex() {
        assert_eq!(parse_num("42"), Some(Num::Int(42)));
        assert_eq!(parse_num("-7"), Some(Num::Int(-7)));
        assert_eq!(parse_num("+7"), Some(Num::Int(7)));
        assert_eq!(parse_num("0x1F"), Some(Num::Int(31)));
        assert_eq!(parse_num("18446744073709551615"), Some(Num::Int(u64::MAX as i128)));
        assert_eq!(parse_num("1.5"), Some(Num::Float(1.5)));
        assert_eq!(parse_num("1e3"), Some(Num::Float(1000.0)));
        assert_eq!(parse_num("abc"), None);
        assert_eq!(parse_num(""), None);
        assert_eq!(parse_num("NaN"), None);
    }

    #[test]
    fn plain_literal_regexes_are_recognised() {
        let l = |p| literal_of(p).map(|(a, l, z)| (a, String::from_utf8(l).unwrap(), z));
        assert_eq!(l("^/etc/"), Some((true, "/etc/".into(), false)));
        assert_eq!(l("\\.log$"), Some((false, ".log".into(), true)));
        assert_eq!(l("^cat$"), Some((true, "cat".into(), true)));
        assert_eq!(l("passwd"), Some((false, "passwd".into(), false)));
        assert_eq!(l("^a\\/b\\$"), Some((true, "a/b$".into(), false)));
        assert_eq!(l("^a.b"), None);
        assert_eq!(l("(?i)cat"), None);
        assert_eq!(l("\\d+"), None);
        assert_eq!(l("a$b"), None);
        assert_eq!(l("a|b"), None);
        assert_eq!(l("^x^"), None);
    }

    #[test]
    fn ints_format_without_allocating() {
        let mut b = [0u8; 48];
        assert_eq!(format_int(0, &mut b), b"0");
        assert_eq!(format_int(-120, &mut b), b"-120");
        assert_eq!(format_int(i128::MIN, &mut b), i128::MIN.to_string().as_bytes());
    }

    #[test]
    fn cmp_op_semantics() {
        use Ordering::*;
        assert!(CmpOp::Le.test(Some(Equal)) && CmpOp::Le.test(Some(Less)) && !CmpOp::Le.test(Some(Greater)));
        assert!(CmpOp::Ne.test(None) && !CmpOp::Eq.test(None) && !CmpOp::Lt.test(None));
        assert_eq!(CmpOp::Lt.flipped(), CmpOp::Gt);
        assert_eq!(CmpOp::Eq.flipped(), CmpOp::Eq);
    }
}
