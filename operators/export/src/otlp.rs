//! OTLP logs in JSON (the OTLP/HTTP JSON encoding of `ExportLogsServiceRequest`), one request per
//! batch, one log record per row.
//!
//! ```text
//! {"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rig"}}]},
//!   "scopeLogs":[{"scope":{"name":"rig","attributes":[{"key":"rig.datasource","value":{"stringValue":"open"}}]},
//!     "logRecords":[{"timeUnixNano":"1700000000000000000","observedTimeUnixNano":"…",
//!       "body":{"kvlistValue":{"values":[{"key":"proc","value":{"kvlistValue":{"values":[
//!         {"key":"comm","value":{"stringValue":"cat"}}]}}}]}}}]}]}]}
//! ```
//!
//! The body nests fields like the JSONL output. Protobuf's JSON mapping applies: 64-bit integers
//! and nanosecond times are decimal strings, bytes are base64, non-finite doubles are `"NaN"`,
//! `"Infinity"`, `"-Infinity"`; an unsigned value above `i64::MAX` has no `intValue` and is written
//! as a `stringValue`. `timeUnixNano` comes from the time field (see [`parse_rfc3339`]) and is
//! omitted when the row has none; `observedTimeUnixNano` is the host clock when the batch is
//! written.

use rig_operator_sdk::{BatchView, FieldRef, Value};

use crate::json::{Node, base64, display, string};

/// Appends one AnyValue.
fn any_value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Bool(b) => out.extend_from_slice(if b {
            b"{\"boolValue\":true}"
        } else {
            b"{\"boolValue\":false}"
        }),
        Value::U64(n) if n <= i64::MAX as u64 => {
            out.extend_from_slice(b"{\"intValue\":\"");
            display(out, n);
            out.extend_from_slice(b"\"}");
        }
        Value::U64(n) => {
            out.extend_from_slice(b"{\"stringValue\":\"");
            display(out, n);
            out.extend_from_slice(b"\"}");
        }
        Value::I64(n) => {
            out.extend_from_slice(b"{\"intValue\":\"");
            display(out, n);
            out.extend_from_slice(b"\"}");
        }
        Value::F64(f) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            if f.is_finite() {
                display(out, f);
            } else if f.is_nan() {
                out.extend_from_slice(b"\"NaN\"");
            } else if f > 0.0 {
                out.extend_from_slice(b"\"Infinity\"");
            } else {
                out.extend_from_slice(b"\"-Infinity\"");
            }
            out.push(b'}');
        }
        Value::Str(s) => {
            out.extend_from_slice(b"{\"stringValue\":");
            string(out, s);
            out.push(b'}');
        }
        Value::Bytes(b) => {
            out.extend_from_slice(b"{\"bytesValue\":\"");
            base64(out, b);
            out.extend_from_slice(b"\"}");
        }
    }
}

fn kvlist(out: &mut Vec<u8>, nodes: &[(String, Node)], b: &BatchView<'_>, row: usize) {
    out.extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
    for (i, (k, n)) in nodes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        string(out, k);
        out.extend_from_slice(b",\"value\":");
        match n {
            Node::Leaf(f) => any_value(out, b.get(row, f)),
            Node::Group(children) => kvlist(out, children, b, row),
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}}");
}

/// Where a record's `timeUnixNano` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// No time field: `timeUnixNano` is omitted.
    None,
    /// A text field holding RFC 3339 time (rig's derived `timestamp`).
    Rfc3339(FieldRef),
    /// An integer field holding nanoseconds since the Unix epoch.
    UnixNanos(FieldRef),
}

fn time_of(src: TimeSource, b: &BatchView<'_>, row: usize) -> Option<u64> {
    match src {
        TimeSource::None => None,
        TimeSource::Rfc3339(f) => b.get_str(row, &f).and_then(parse_rfc3339),
        TimeSource::UnixNanos(f) => b.get_u64(row, &f),
    }
}

/// Appends one `ExportLogsServiceRequest` holding every row of the batch (no newline).
pub fn batch(
    out: &mut Vec<u8>,
    datasource: &str,
    nodes: &[(String, Node)],
    time: TimeSource,
    observed_ns: u64,
    b: &BatchView<'_>,
) {
    out.extend_from_slice(
        b"{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"rig\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"rig\",\"attributes\":[{\"key\":\"rig.datasource\",\"value\":{\"stringValue\":",
    );
    string(out, datasource);
    out.extend_from_slice(b"}}]},\"logRecords\":[");
    for row in 0..b.len() {
        if row > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if let Some(t) = time_of(time, b, row) {
            out.extend_from_slice(b"\"timeUnixNano\":\"");
            display(out, t);
            out.extend_from_slice(b"\",");
        }
        out.extend_from_slice(b"\"observedTimeUnixNano\":\"");
        display(out, observed_ns);
        out.extend_from_slice(b"\",\"body\":");
        kvlist(out, nodes, b, row);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}]}]}");
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter()
        .try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Nanoseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, as rig's
/// formatter writes timestamps; `None` for anything else or a time before 1970.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..9 {
            nanos = nanos * 10 + frac.get(i).filter(|_| i < n).map_or(0, |d| u64::from(d - b'0'));
        }
        rest = &frac[n..];
    }
    let offset_s: i64 = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), oh @ .., b':', m1, m2] if oh.len() == 2 => {
            let v = i64::from(digits(oh)?) * 3600 + i64::from(digits(&[*m1, *m2])?) * 60;
            if *sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset_s;
    u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::layout;
    use rig_operator_sdk::{Field, FieldKind, RowsBuilder, Schema};

    #[test]
    fn rfc3339_parses_to_unix_nanos() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000_000_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000_000));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("2023-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.Z"), None);
        assert_eq!(parse_rfc3339("not a time at all!!"), None);
    }

    #[test]
    fn batch_shape() {
        let schema = Schema::new(
            "open",
            vec![
                Field::heap("timestamp", FieldKind::Text, 0),
                Field::inline("proc.comm", FieldKind::Text, 8, 8),
                Field::inline("proc.pid", FieldKind::U32, 16, 4),
                Field::inline("big", FieldKind::U64, 24, 8),
                Field::inline("ratio", FieldKind::F64, 32, 8),
                Field::inline("ok", FieldKind::Bool, 40, 1),
                Field::heap("raw", FieldKind::Bytes, 48),
            ],
            56,
        )
        .unwrap();
        let f = |n| schema.resolve(n).unwrap();
        let mut b = RowsBuilder::new(&schema);
        let r = b.push_zeroed();
        b.set_str(r, &f("timestamp"), "2023-11-14T22:13:20.000000001Z").unwrap();
        b.set_str(r, &f("proc.comm"), "cat").unwrap();
        b.set_u64(r, &f("proc.pid"), 7).unwrap();
        b.set_u64(r, &f("big"), u64::MAX).unwrap();
        b.set_f64(r, &f("ratio"), f64::NAN).unwrap();
        b.set_bool(r, &f("ok"), true).unwrap();
        b.set_bytes(r, &f("raw"), b"hi").unwrap();
        let r = b.push_zeroed();
        b.set_str(r, &f("timestamp"), "garbage").unwrap();
        b.set_f64(r, &f("ratio"), 1.5).unwrap();
        let out = b.finish();
        let v = out.view(&schema).unwrap();
        let mut o = Vec::new();
        batch(
            &mut o,
            "open",
            &layout(&schema),
            TimeSource::Rfc3339(f("timestamp")),
            5,
            &v,
        );
        let text = String::from_utf8(o).unwrap();
        let expected = concat!(
            r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rig"}}]},"#,
            r#""scopeLogs":[{"scope":{"name":"rig","attributes":[{"key":"rig.datasource","value":{"stringValue":"open"}}]},"#,
            r#""logRecords":["#,
            r#"{"timeUnixNano":"1700000000000000001","observedTimeUnixNano":"5","body":{"kvlistValue":{"values":["#,
            r#"{"key":"timestamp","value":{"stringValue":"2023-11-14T22:13:20.000000001Z"}},"#,
            r#"{"key":"proc","value":{"kvlistValue":{"values":[{"key":"comm","value":{"stringValue":"cat"}},"#,
            r#"{"key":"pid","value":{"intValue":"7"}}]}}},"#,
            r#"{"key":"big","value":{"stringValue":"18446744073709551615"}},"#,
            r#"{"key":"ratio","value":{"doubleValue":"NaN"}},"#,
            r#"{"key":"ok","value":{"boolValue":true}},"#,
            r#"{"key":"raw","value":{"bytesValue":"aGk="}}]}}},"#,
            r#"{"observedTimeUnixNano":"5","body":{"kvlistValue":{"values":["#,
            r#"{"key":"timestamp","value":{"stringValue":"garbage"}},"#,
            r#"{"key":"proc","value":{"kvlistValue":{"values":[{"key":"comm","value":{"stringValue":""}},"#,
            r#"{"key":"pid","value":{"intValue":"0"}}]}}},"#,
            r#"{"key":"big","value":{"intValue":"0"}},"#,
            r#"{"key":"ratio","value":{"doubleValue":1.5}},"#,
            r#"{"key":"ok","value":{"boolValue":false}},"#,
            r#"{"key":"raw","value":{"bytesValue":""}}]}}}"#,
            r#"]}]}]}"#
        );
        assert_eq!(text, expected);
    }
}
