//! The `expr` language: boolean expressions over fields.
//!
//! ```text
//! proc.comm in ["cat", "less"] && fname matches "^/etc/" || !(error == 0)
//! ```
//!
//! Grammar (lowest precedence first; `and`, `or`, `not` are word forms of `&&`, `||`, `!`):
//!
//! ```text
//! or         := and ( "||" and )*
//! and        := unary ( "&&" unary )*
//! unary      := "!" unary | primary
//! primary    := "(" or ")" | "true" | "false" | condition
//! condition  := FIELD ( CMP literal | ("matches" | "~") STRING | "!~" STRING
//!                     | "in" list | "not" "in" list )?
//!             | literal CMP FIELD
//! CMP        := "==" | "!=" | "<" | "<=" | ">" | ">="
//! list       := "[" ( literal ( "," literal )* ","? )? "]"
//! literal    := STRING | NUMBER | "true" | "false"
//! ```
//!
//! Strings take double or single quotes with `\"`, `\'`, `\\`, `\n`, `\t` escapes; numbers are
//! decimal (optionally signed, with a fraction or exponent) or `0x` hex. A bare field is true
//! when non-zero, non-empty or true. Literals are checked against the field's kind when the
//! expression is compiled: `proc.pid > "abc"` is an error naming `proc.pid`; a quoted number
//! compared with a numeric field is accepted.

use rig_operator_sdk::Schema;

use crate::pred::{CmpOp, Lit, Pred, compile_cmp, compile_in, compile_regex, compile_truthy};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    LParen,
    RParen,
    LBrack,
    RBrack,
    Comma,
    AndAnd,
    OrOr,
    Bang,
    Cmp(CmpOp),
    Tilde,
    NotTilde,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Num(s) => format!("number {s}"),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBrack => "\"[\"".into(),
            Tok::RBrack => "\"]\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::AndAnd => "\"&&\"".into(),
            Tok::OrOr => "\"||\"".into(),
            Tok::Bang => "\"!\"".into(),
            Tok::Cmp(op) => format!("{:?}", op.as_str()),
            Tok::Tilde => "\"~\"".into(),
            Tok::NotTilde => "\"!~\"".into(),
        }
    }
}

/// Tokens with their 1-based column.
fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let col = src[..i].chars().count() + 1;
        let two = |s: &str| src[i..].starts_with(s);
        let (tok, len) = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'[' => (Tok::LBrack, 1),
            b']' => (Tok::RBrack, 1),
            b',' => (Tok::Comma, 1),
            b'~' => (Tok::Tilde, 1),
            _ if two("&&") => (Tok::AndAnd, 2),
            _ if two("||") => (Tok::OrOr, 2),
            _ if two("==") => (Tok::Cmp(CmpOp::Eq), 2),
            _ if two("!=") => (Tok::Cmp(CmpOp::Ne), 2),
            _ if two("!~") => (Tok::NotTilde, 2),
            _ if two("<=") => (Tok::Cmp(CmpOp::Le), 2),
            _ if two(">=") => (Tok::Cmp(CmpOp::Ge), 2),
            b'<' => (Tok::Cmp(CmpOp::Lt), 1),
            b'>' => (Tok::Cmp(CmpOp::Gt), 1),
            b'!' => (Tok::Bang, 1),
            b'"' | b'\'' => {
                let (s, len) = lex_string(&src[i..], col)?;
                (Tok::Str(s), len)
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let len = src[i..]
                    .char_indices()
                    .skip(1)
                    .find(|&(j, ch)| {
                        !(ch.is_ascii_alphanumeric()
                            || ch == '.'
                            || ((ch == '-' || ch == '+') && matches!(src.as_bytes()[i + j - 1], b'e' | b'E')))
                    })
                    .map_or(src.len() - i, |(j, _)| j);
                let text = &src[i..i + len];
                if !text.bytes().any(|d| d.is_ascii_digit()) {
                    return Err(format!("expr: column {col}: unexpected {text:?}"));
                }
                (Tok::Num(text.to_owned()), len)
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let len = src[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
                    .unwrap_or(src.len() - i);
                (Tok::Ident(src[i..i + len].to_owned()), len)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or_default();
                return Err(format!("expr: column {col}: unexpected character {ch:?}"));
            }
        };
        out.push((tok, col));
        i += len;
    }
    Ok(out)
}

/// A quoted string at the start of `s`: its value and its length in bytes with the quotes.
fn lex_string(s: &str, col: usize) -> Result<(String, usize), String> {
    let quote = s.chars().next().unwrap_or('"');
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((j, c)) = it.next() {
        match c {
            c if c == quote => return Ok((out, j + 1)),
            '\\' => match it.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, e @ ('"' | '\'' | '\\'))) => out.push(e),
                // Anything else keeps its backslash, so regexes read naturally: "\d+\.log".
                Some((_, e)) => {
                    out.push('\\');
                    out.push(e);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("expr: column {col}: unterminated string"))
}

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_col: usize,
    schema: &'a Schema,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |(_, c)| *c)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == w)
    }

    fn err(&self, what: &str) -> String {
        match self.peek() {
            Some(t) => format!("expr: column {}: expected {what}, found {}", self.col(), t.describe()),
            None => format!("expr: column {}: expected {what}, found the end", self.col()),
        }
    }

    /// Wraps a compile error with the column of the condition.
    fn at(&self, col: usize, e: String) -> String {
        format!("expr: column {col}: {e}")
    }

    fn or(&mut self) -> Result<Pred, String> {
        let mut p = self.and()?;
        while matches!(self.peek(), Some(Tok::OrOr)) || self.is_word("or") {
            self.next();
            p = Pred::or(p, self.and()?);
        }
        Ok(p)
    }

    fn and(&mut self) -> Result<Pred, String> {
        let mut p = self.unary()?;
        while matches!(self.peek(), Some(Tok::AndAnd)) || self.is_word("and") {
            self.next();
            p = Pred::and(p, self.unary()?);
        }
        Ok(p)
    }

    fn unary(&mut self) -> Result<Pred, String> {
        if matches!(self.peek(), Some(Tok::Bang)) || self.is_word("not") {
            self.next();
            return Ok(Pred::negate(self.unary()?));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Pred, String> {
        let col = self.col();
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.next();
                let p = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(p),
                    _ => {
                        self.pos -= 1;
                        Err(self.err("\")\""))
                    }
                }
            }
            Some(Tok::Ident(w)) if (w == "true" || w == "false") && !self.next_is_operator() => {
                self.next();
                Ok(if w == "true" { Pred::True } else { Pred::False })
            }
            Some(Tok::Ident(name)) => {
                self.next();
                self.condition(&name, col)
            }
            Some(Tok::Str(_) | Tok::Num(_)) => {
                let lit = self.literal()?;
                let Some(Tok::Cmp(op)) = self.next() else {
                    self.pos -= 1;
                    return Err(self.err("a comparison operator after a literal"));
                };
                let fcol = self.col();
                let Some(Tok::Ident(name)) = self.next() else {
                    self.pos -= 1;
                    return Err(self.err("a field name"));
                };
                compile_cmp(self.schema, &name, op.flipped(), &lit).map_err(|e| self.at(fcol, e))
            }
            _ => Err(self.err("a condition")),
        }
    }

    fn next_is_operator(&self) -> bool {
        matches!(
            self.toks.get(self.pos + 1).map(|(t, _)| t),
            Some(Tok::Cmp(_) | Tok::Tilde | Tok::NotTilde)
        )
    }

    fn condition(&mut self, name: &str, col: usize) -> Result<Pred, String> {
        let schema = self.schema;
        match self.peek().cloned() {
            Some(Tok::Cmp(op)) => {
                self.next();
                let lit = self.literal()?;
                compile_cmp(schema, name, op, &lit).map_err(|e| self.at(col, e))
            }
            Some(Tok::Tilde) => {
                self.next();
                let re = self.pattern()?;
                compile_regex(schema, name, &re).map_err(|e| self.at(col, e))
            }
            Some(Tok::NotTilde) => {
                self.next();
                let re = self.pattern()?;
                compile_regex(schema, name, &re)
                    .map(Pred::negate)
                    .map_err(|e| self.at(col, e))
            }
            Some(Tok::Ident(w)) if w == "matches" => {
                self.next();
                let re = self.pattern()?;
                compile_regex(schema, name, &re).map_err(|e| self.at(col, e))
            }
            Some(Tok::Ident(w)) if w == "in" => {
                self.next();
                let lits = self.list()?;
                compile_in(schema, name, &lits).map_err(|e| self.at(col, e))
            }
            Some(Tok::Ident(w))
                if w == "not" && matches!(self.toks.get(self.pos + 1), Some((Tok::Ident(i), _)) if i == "in") =>
            {
                self.pos += 2;
                let lits = self.list()?;
                compile_in(schema, name, &lits)
                    .map(Pred::negate)
                    .map_err(|e| self.at(col, e))
            }
            _ => compile_truthy(schema, name).map_err(|e| self.at(col, e)),
        }
    }

    fn pattern(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.err("a quoted regex"))
            }
        }
    }

    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Text(s)),
            Some(Tok::Num(n)) => Ok(Lit::Number(n)),
            Some(Tok::Ident(w)) if w == "true" => Ok(Lit::Bool(true)),
            Some(Tok::Ident(w)) if w == "false" => Ok(Lit::Bool(false)),
            Some(Tok::Ident(w)) => {
                self.pos -= 1;
                Err(format!(
                    "expr: column {}: expected a literal, found {w:?} (quote text: \"{w}\")",
                    self.col()
                ))
            }
            _ => {
                self.pos -= 1;
                Err(self.err("a literal (\"text\", a number, true or false)"))
            }
        }
    }

    fn list(&mut self) -> Result<Vec<Lit>, String> {
        if !matches!(self.next(), Some(Tok::LBrack)) {
            self.pos -= 1;
            return Err(self.err("\"[\""));
        }
        let mut out = Vec::new();
        loop {
            if matches!(self.peek(), Some(Tok::RBrack)) {
                self.next();
                return Ok(out);
            }
            out.push(self.literal()?);
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::RBrack) => return Ok(out),
                _ => {
                    self.pos -= 1;
                    return Err(self.err("\",\" or \"]\""));
                }
            }
        }
    }
}

/// Parses and compiles an expression against a schema.
pub fn compile(src: &str, schema: &Schema) -> Result<Pred, String> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Ok(Pred::True);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end_col: src.chars().count() + 1,
        schema,
    };
    let pred = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err("\"&&\", \"||\" or the end"));
    }
    Ok(pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_operators_strings_and_numbers() {
        let t: Vec<Tok> = lex(r#"a.b>=-1.5e-3&&c!~'x\'y'||!d<=0x1f"#)
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(
            t,
            vec![
                Tok::Ident("a.b".into()),
                Tok::Cmp(CmpOp::Ge),
                Tok::Num("-1.5e-3".into()),
                Tok::AndAnd,
                Tok::Ident("c".into()),
                Tok::NotTilde,
                Tok::Str("x'y".into()),
                Tok::OrOr,
                Tok::Bang,
                Tok::Ident("d".into()),
                Tok::Cmp(CmpOp::Le),
                Tok::Num("0x1f".into()),
            ]
        );
        assert_eq!(lex(r#""\d+\.log\n""#).unwrap()[0].0, Tok::Str("\\d+\\.log\n".into()));
        assert!(lex("\"open").unwrap_err().contains("column 1: unterminated string"));
        assert!(
            lex("a == @")
                .unwrap_err()
                .contains("column 6: unexpected character '@'")
        );
        assert!(lex("a == -").unwrap_err().contains("unexpected \"-\""));
    }
}
