//! Byte-level text writers shared by every output format.
//!
//! The terminal sink renders about a million events per second, so nothing here allocates: each
//! function appends to a caller-owned `Vec<u8>` that is reused from batch to batch. Every
//! function keeps its output valid UTF-8 as long as its input is (control characters are ASCII,
//! so replacing or escaping them byte by byte never splits a multi-byte character), and text
//! cells, whose bytes need not be UTF-8, are shown losslessly: each invalid byte as `\xNN`
//! ([`text_str`], [`push_json_text`]).
//!
//! Words: *escape* means the JSON/YAML double-quoted escapes; *sanitize* means making text safe
//! to print on a terminal (control characters, which could drive the terminal, become `?`).

use std::io::Write as _;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the decimal digits of `n`.
pub(super) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `n` in decimal with a leading `-` when negative.
pub(super) fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Appends `bytes` as lowercase hexadecimal, two digits per byte.
pub(super) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// Appends a finite float in Rust's shortest round-trip form (`1.5`, `1e300`, `1e-7`), which is
/// also a valid JSON number. Callers handle NaN and infinities.
pub(super) fn push_f64(out: &mut Vec<u8>, x: f64) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{x:?}");
}

/// Appends a finite float as YAML 1.1 and 1.2 both read as a float: always a `.` in the
/// mantissa and a sign in the exponent (`1.0e+300`).
pub(super) fn push_yaml_f64(out: &mut Vec<u8>, x: f64) {
    let start = out.len();
    push_f64(out, x);
    let Some(e) = out[start..].iter().position(|b| *b == b'e').map(|p| start + p) else {
        return;
    };
    let has_dot = out[start..e].contains(&b'.');
    let signed = matches!(out.get(e + 1), Some(b'-' | b'+'));
    let mut fixed = [0u8; 4];
    let mut n = 0;
    if !has_dot {
        fixed[..2].copy_from_slice(b".0");
        n = 2;
    }
    fixed[n] = b'e';
    n += 1;
    if !signed {
        fixed[n] = b'+';
        n += 1;
    }
    out.splice(e..=e, fixed[..n].iter().copied());
}

/// Appends `s` as a JSON string literal, quotes included, escaped as serde_json does (`\"`,
/// `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as `\u00xx`).
pub(super) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_json_escaped(out, s);
    out.push(b'"');
}

/// Appends the body of [`push_json_str`]: `s` escaped, without the quotes.
fn push_json_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[run..]);
}

/// The text of a text cell: inline text ends at its first NUL, heap text is all of its bytes.
pub(super) fn text_bytes(cell: &[u8], inline: bool) -> &[u8] {
    match cell.iter().position(|b| *b == 0) {
        Some(end) if inline => &cell[..end],
        _ => cell,
    }
}

/// A text cell as a lossless `&str` ([`rig_kernel::batch::Escaped`]): valid UTF-8 borrowed as is;
/// otherwise every invalid byte becomes `\xNN` (`dir/\xff\xfeNAME`), written into `scratch`.
pub(super) fn text_str<'a>(cell: &'a [u8], inline: bool, scratch: &'a mut Vec<u8>) -> &'a str {
    let text = text_bytes(cell, inline);
    if let Ok(s) = std::str::from_utf8(text) {
        return s;
    }
    scratch.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(scratch, "{}", rig_kernel::batch::Escaped(text));
    // Escaped writes only valid UTF-8 and ASCII escapes.
    std::str::from_utf8(scratch).unwrap_or_default()
}

/// Appends the raw bytes of a text cell as a JSON string (inline text ends at its first NUL),
/// losslessly: valid UTF-8 escaped as [`push_json_str`] does, each invalid byte as the text
/// `\xNN` (so the JSON reads `"dir/\\xff\\xfeNAME"` and decodes to `dir/\xff\xfeNAME`, what
/// [`text_str`] shows). Plain ASCII (nearly all kernel text) is found and copied in one pass,
/// without validating and scanning the text again.
pub(super) fn push_json_text(out: &mut Vec<u8>, cell: &[u8], inline: bool) {
    let mut end = cell.len();
    for (i, &b) in cell.iter().enumerate() {
        if b == 0 && inline {
            end = i;
            break;
        }
        if !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\' {
            // Escapes or non-ASCII: the general path.
            out.push(b'"');
            for chunk in text_bytes(cell, inline).utf8_chunks() {
                push_json_escaped(out, chunk.valid());
                for &bad in chunk.invalid() {
                    out.extend_from_slice(b"\\\\x");
                    out.push(HEX[usize::from(bad >> 4)]);
                    out.push(HEX[usize::from(bad & 0xf)]);
                }
            }
            out.push(b'"');
            return;
        }
    }
    out.reserve(end + 2);
    out.push(b'"');
    out.extend_from_slice(&cell[..end]);
    out.push(b'"');
}

/// True for characters YAML cannot carry unescaped (control characters, BOM, line separators).
fn yaml_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
}

/// Lead bytes of the non-ASCII characters [`yaml_unprintable`] or a terminal cares about: C1
/// controls (0xC2), U+2028/U+2029 (0xE2), U+FEFF (0xEF).
fn suspicious_lead(b: u8) -> bool {
    matches!(b, 0xc2 | 0xe2 | 0xef)
}

/// True when a plain (unquoted) YAML scalar would not read back as this exact string.
///
/// Simple, conservative rules: quote when empty, when it starts with an indicator or blank,
/// ends with a blank or `:`, contains `#`, `: ` or a character that needs an escape, or could
/// resolve to a number, bool or null.
pub(super) fn yaml_needs_quotes(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return true;
    };
    if b" \t-?:,[]{}#&*!|>'\"%@`".contains(&first) || matches!(last, b' ' | b'\t' | b':') {
        return true;
    }
    let mut prev_colon = false;
    let mut non_ascii_check = false;
    for &c in b {
        match c {
            b'#' | 0..=0x1f | 0x7f => return true,
            b' ' if prev_colon => return true,
            c if suspicious_lead(c) => non_ascii_check = true,
            _ => {}
        }
        prev_colon = c == b':';
    }
    (non_ascii_check && s.chars().any(yaml_unprintable)) || looks_like_scalar(s)
}

/// True when YAML (1.1 or 1.2) could resolve `s` as a number, bool or null.
fn looks_like_scalar(s: &str) -> bool {
    const WORDS: [&str; 19] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "+.inf", "-.inf", ".nan", "inf",
        "infinity", "nan", "<<", "=",
    ];
    let b = s.as_bytes();
    let digit_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    // Numbers in any YAML dialect start with a digit, or a sign or dot and a digit; quoting a
    // few strings that only look numeric (`1.2.3.4`) is harmless.
    digit_at(0)
        || (matches!(b.first(), Some(b'+' | b'-' | b'.')) && (digit_at(1) || (b.get(1) == Some(&b'.') && digit_at(2))))
        || (s.len() <= 9 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)))
}

/// Appends `s` as a YAML scalar: plain when that reads back unchanged, otherwise double-quoted
/// with escapes (`\"`, `\\`, `\n`, `\r`, `\t`, others as `\uXXXX`).
pub(super) fn push_yaml_str(out: &mut Vec<u8>, s: &str) {
    if !yaml_needs_quotes(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (escape, width): (Option<u32>, usize) = match b {
            b'"' | b'\\' | 0..=0x1f | 0x7f => (Some(u32::from(b)), 1),
            b if suspicious_lead(b) => match s.get(i..).and_then(|t| t.chars().next()) {
                Some(c) if yaml_unprintable(c) => (Some(u32::from(c)), c.len_utf8()),
                _ => (None, 1),
            },
            _ => (None, 1),
        };
        if let Some(code) = escape {
            out.extend_from_slice(&bytes[run..i]);
            match code {
                0x22 => out.extend_from_slice(b"\\\""),
                0x5c => out.extend_from_slice(b"\\\\"),
                0x0a => out.extend_from_slice(b"\\n"),
                0x0d => out.extend_from_slice(b"\\r"),
                0x09 => out.extend_from_slice(b"\\t"),
                n => {
                    out.extend_from_slice(b"\\u");
                    for shift in [12u32, 8, 4, 0] {
                        out.push(HEX[((n >> shift) & 0xf) as usize]);
                    }
                }
            }
            run = i + width;
        }
        i += width;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// What a terminal needs to know about a string, from one pass over its bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scan {
    /// Every byte is ASCII, so characters are bytes.
    pub(super) ascii: bool,
    /// It may hold a control character (C0, DEL, or a C1 lead byte).
    pub(super) controls: bool,
}

/// Scans `s` once for [`Scan`]'s facts (branch-free, so it vectorizes).
pub(super) fn scan(s: &str) -> Scan {
    let mut all = 0u8;
    let mut controls = 0u8;
    for &b in s.as_bytes() {
        all |= b;
        controls |= u8::from(b < 0x20) | u8::from(b == 0x7f) | u8::from(b == 0xc2);
    }
    Scan {
        ascii: all < 0x80,
        controls: controls != 0,
    }
}

/// Appends `s` for a terminal, control characters replaced by `?` (one column each, as before).
/// `controls` is [`Scan::controls`] of `s` or of a string containing it.
pub(super) fn push_sanitized(out: &mut Vec<u8>, s: &str, controls: bool) {
    if !controls {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut utf8 = [0u8; 4];
    for c in s.chars() {
        if c.is_control() {
            out.push(b'?');
        } else {
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_text_fast_path_renders_what_the_general_path_does() {
        let cells: [&[u8]; 10] = [
            b"/etc/hostname\0\0\0garbage",
            b"cat",
            b"",
            b"\0",
            b"quote\"back\\slash\0",
            b"tab\there\nnl",
            "caf\u{e9} \u{1f600}".as_bytes(),
            b"bad \xff utf8",
            b"del\x7f",
            b"dir/\xff\xfeNAME\0tail",
        ];
        for cell in cells {
            for inline in [true, false] {
                let mut fast = Vec::new();
                push_json_text(&mut fast, cell, inline);
                let mut general = Vec::new();
                push_json_str(&mut general, text_str(cell, inline, &mut Vec::new()));
                assert_eq!(fast, general, "{cell:?} inline={inline}");
            }
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_escaped_whole() {
        let mut scratch = Vec::new();
        let cell = b"dir/\xff\xfeNAME\0tail";
        assert_eq!(text_str(cell, true, &mut scratch), "dir/\\xff\\xfeNAME");
        assert_eq!(text_str(cell, false, &mut scratch), "dir/\\xff\\xfeNAME\0tail");
        assert_eq!(text_str("caf\u{e9}\0".as_bytes(), true, &mut scratch), "caf\u{e9}");
        let json = with(|o| push_json_text(o, cell, true));
        assert_eq!(json, r#""dir/\\xff\\xfeNAME""#);
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, "dir/\\xff\\xfeNAME");
        // A lone continuation byte and a truncated multi-byte character, around valid text.
        assert_eq!(with(|o| push_json_text(o, b"\x80a\"\xe2\x82", false)), r#""\\x80a\"\\xe2\\x82""#);
    }

    use super::*;

    fn with(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn integers_and_hex() {
        assert_eq!(with(|o| push_u64(o, 0)), "0");
        assert_eq!(with(|o| push_u64(o, u64::MAX)), "18446744073709551615");
        assert_eq!(with(|o| push_i64(o, i64::MIN)), "-9223372036854775808");
        assert_eq!(with(|o| push_i64(o, -7)), "-7");
        assert_eq!(with(|o| push_hex(o, &[0x00, 0xab, 0x1f])), "00ab1f");
    }

    #[test]
    fn floats_read_back_as_floats() {
        assert_eq!(with(|o| push_f64(o, 1.5)), "1.5");
        assert_eq!(with(|o| push_f64(o, 1e300)), "1e300");
        assert_eq!(with(|o| push_yaml_f64(o, 1e300)), "1.0e+300");
        assert_eq!(with(|o| push_yaml_f64(o, 2.5e-7)), "2.5e-7");
        assert_eq!(with(|o| push_yaml_f64(o, 3.0)), "3.0");
    }

    #[test]
    fn json_strings_match_serde_json() {
        for s in [
            "plain",
            "q\"b\\s",
            "a\nb\tc\r\u{8}\u{c}",
            "\u{1}\u{1f}\u{7f}",
            "é→😀",
            "",
        ] {
            let ours = with(|o| push_json_str(o, s));
            assert_eq!(ours, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn yaml_quotes_only_when_needed_and_reads_back() {
        let plain = ["cat", "/etc/hostname", "a:b", "héllo", "a-b"];
        for s in plain {
            assert!(!yaml_needs_quotes(s), "{s:?}");
        }
        let quoted = [
            "", " x", "x ", "a: b", "x #y", "-x", "*a", "12", "1.5", "-3", ".5", "0x1f", "true", "No", "null", "~",
            ".inf", "NaN", "x:", "a\nb", "\u{7}", "1.2.3.4",
        ];
        for s in quoted {
            assert!(yaml_needs_quotes(s), "{s:?}");
            let text = with(|o| push_yaml_str(o, s));
            let back: String = serde_yaml::from_str(&text).unwrap();
            assert_eq!(back, s, "{text}");
        }
        assert_eq!(with(|o| push_yaml_str(o, "a\"\\\n\u{1}")), "\"a\\\"\\\\\\n\\u0001\"");
        assert_eq!(with(|o| push_yaml_str(o, "é\u{2028}x\u{85}")), "\"é\\u2028x\\u0085\"");
    }

    #[test]
    fn terminal_text_loses_its_controls() {
        for (s, want) in [
            ("a\x1b[2Jb\u{9b}c\u{e9}", "a?[2Jb?c\u{e9}"),
            ("clean", "clean"),
            ("\u{e9}\u{7f}", "\u{e9}?"),
        ] {
            assert_eq!(with(|o| push_sanitized(o, s, scan(s).controls)), want);
        }
        assert!(scan("abc").ascii && !scan("abc").controls && !scan("\u{e9}").ascii);
    }
}
