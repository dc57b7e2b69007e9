//! Shared rules for untrusted text: one duration syntax, bounded YAML, and printable messages.
//!
//! Everything rig reads from a user or an image (flags, graph files, gadget.yaml, image configs)
//! and everything it prints back (errors naming a culprit, guest log lines) passes through here,
//! so the limits are the same everywhere: a duration is `500ms`, `2s`, `1.5m`, `1h` or plain
//! seconds and is at most [`MAX_DURATION`]; a YAML document nests at most [`MAX_YAML_DEPTH`]
//! levels and is refused before the parser sees it otherwise (libyaml is quadratic in depth);
//! printed text has its control bytes escaped and is cut at a bound, so a tarball or a guest
//! cannot forge lines, move the cursor or flood the terminal.

use std::borrow::Cow;
use std::time::Duration;

/// The longest duration rig accepts anywhere (a year): larger values are typos or attacks.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Deepest YAML nesting accepted (sequences and mappings, block or flow).
pub const MAX_YAML_DEPTH: usize = 64;

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number with a known unit.
    #[error("{text} is not a duration (500ms, 2s, 1.5m, 1h or plain seconds)")]
    Syntax {
        /// The text, escaped and shortened.
        text: String,
    },
    /// Zero or negative where a positive duration is needed.
    #[error("{text} must be greater than zero")]
    NotPositive {
        /// The text, escaped and shortened.
        text: String,
    },
    /// Larger than [`MAX_DURATION`].
    #[error("{text} is longer than the maximum of 366 days")]
    TooLong {
        /// The text, escaped and shortened.
        text: String,
    },
}

/// Parses `500ms`, `2s`, `1.5m`, `1h`, `2` or `0.5` (seconds) into a positive duration of at most
/// [`MAX_DURATION`]. Never panics, whatever the input.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let shown = || quote(text, 40);
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(DurationError::Syntax { text: shown() }),
    };
    let number = number.trim();
    // Only plain decimal numbers: no `inf`, `nan`, exponents or signs other than a leading '-'.
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-') {
        return Err(DurationError::Syntax { text: shown() });
    }
    let n: f64 = number.parse().map_err(|_| DurationError::Syntax { text: shown() })?;
    let secs = n * scale;
    if !secs.is_finite() {
        return Err(DurationError::TooLong { text: shown() });
    }
    if secs <= 0.0 {
        return Err(DurationError::NotPositive { text: shown() });
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(DurationError::TooLong { text: shown() });
    }
    let d = Duration::try_from_secs_f64(secs).map_err(|_| DurationError::TooLong { text: shown() })?;
    if d.is_zero() {
        return Err(DurationError::NotPositive { text: shown() });
    }
    Ok(d)
}

/// A YAML document that nests deeper than [`MAX_YAML_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("YAML nests deeper than {MAX_YAML_DEPTH} levels (line {line})")]
pub struct YamlTooDeep {
    /// The 1-based line where the limit was passed.
    pub line: usize,
}

/// Checks, without parsing, that `text` cannot nest deeper than [`MAX_YAML_DEPTH`].
///
/// The bound is conservative: flow depth (`[`, `{` outside quotes and comments) plus, per line,
/// the indentation in columns divided by two and the block indicators (`- `, `? `) the line
/// opens. A document this accepts has at most that nesting, so the parser's cost stays linear.
pub fn check_yaml_depth(text: &str) -> Result<(), YamlTooDeep> {
    let mut flow: usize = 0;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let mut block = indent / 2;
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let bytes: Vec<char> = line.chars().collect();
        for (j, &c) in bytes.iter().enumerate() {
            match quote {
                Some(q) => {
                    if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    '#' if prev == ' ' || prev == '\t' || j == 0 => break,
                    '"' | '\'' if flow > 0 || prev == ' ' || prev == ':' || prev == '[' || prev == ',' || j == 0 => {
                        quote = Some(c)
                    }
                    '[' | '{' => flow += 1,
                    ']' | '}' => flow = flow.saturating_sub(1),
                    '-' | '?' if (prev == ' ' || j == 0) && bytes.get(j + 1).is_none_or(|n| *n == ' ') => block += 1,
                    _ => {}
                },
            }
            prev = c;
        }
        if flow + block > MAX_YAML_DEPTH {
            return Err(YamlTooDeep { line: i + 1 });
        }
    }
    Ok(())
}

/// `text` with control characters escaped (`\n`, `\e`, `\u{9b}`…), so it prints as one inert line.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` cut to at most `max` characters (with `…` and the number of characters left out).
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => {
            let rest = text[cut..].chars().count();
            Cow::Owned(format!("{}…({rest} more characters)", &text[..cut]))
        }
    }
}

/// `text` escaped and shortened for an error message, in double quotes.
pub fn quote(text: &str, max: usize) -> String {
    format!("\"{}\"", shorten(&escape_control(text), max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_share_one_syntax() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "s", "-5", "0", "0s", "1e3", "inf", "nan", "2x", "2 s s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for huge in ["30000000000000000000s", "300000000000000000m", "1e309", "9999999999999999h"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
    }

    #[test]
    fn deep_yaml_is_refused_before_parsing() {
        let flow = "[".repeat(100_000);
        assert!(check_yaml_depth(&flow).is_err());
        let block = "- ".repeat(100_000);
        assert!(check_yaml_depth(&block).is_err());
        let ok = "name: x\nparams:\n  ebpf:\n    a:\n      key: a\n      tags: [x, '[', \"{\"]\n  - b # [[[[\n";
        assert!(check_yaml_depth(ok).is_ok());
    }

    #[test]
    fn printed_text_is_inert_and_bounded() {
        assert_eq!(escape_control("a\x1b]0;x\x07b\n"), "a\\e]0;x\\u{7}b\\n");
        assert_eq!(escape_control("plain"), "plain");
        let long = "x".repeat(10_000);
        assert!(quote(&long, 80).len() < 120);
    }
}
