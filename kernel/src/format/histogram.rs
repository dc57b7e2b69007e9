//! Log2 histograms (`gadget_histogram_slot__u32` / `__u64` arrays), rendered as IG renders them.
//!
//! Slot `i` counts values in `[2^i, 2^(i+1) - 1]`, slot 0 in `[0, 1]` (IG's
//! `NewIntervalsFromExp2Slots`); slots after the last non-zero one are left out. As text, the
//! histogram is bcc's `print_log2_hist` table that IG prints (a header with the unit, then one
//! line per interval with its count and a bar of up to 40 stars scaled to the largest count);
//! as JSON it is IG's `{"unit": …, "intervals": [{"count", "start", "end"}, …]}`.

use super::push_u64;

/// Widest bar, in stars.
const STARS: u64 = 40;

/// The size in bytes of one slot of the ABI typedef `typedef` (`None`: not a histogram slot).
pub fn slot_size(typedef: &str) -> Option<usize> {
    match typedef {
        "gadget_histogram_slot__u32" => Some(4),
        "gadget_histogram_slot__u64" => Some(8),
        _ => None,
    }
}

/// The counts of the slots in `bytes` (little-endian slots of `slot` bytes), without the
/// trailing zero slots.
pub fn slots(bytes: &[u8], slot: usize) -> Vec<u64> {
    let mut out: Vec<u64> = bytes
        .chunks_exact(slot.max(1))
        .map(|c| {
            let mut b = [0u8; 8];
            let n = c.len().min(8);
            b[..n].copy_from_slice(&c[..n]);
            u64::from_le_bytes(b)
        })
        .collect();
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// The interval slot `i` counts: `[0, 1]` for slot 0, else `[2^i, 2^(i+1) - 1]`.
pub fn interval(i: usize) -> (u64, u64) {
    let start = 1u64.checked_shl(i as u32).unwrap_or(u64::MAX);
    let end = start.saturating_mul(2).saturating_sub(1);
    (if start == 1 { 0 } else { start }, end)
}

fn push_padded(out: &mut String, text: &str, width: usize, right: bool) {
    let n = text.chars().count();
    if right {
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    }
    out.push_str(text);
    if !right {
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    }
}

/// Appends the text table of the histogram in `bytes` (IG's `Histogram.String`); nothing when
/// every slot is zero.
pub fn write_text(bytes: &[u8], slot: usize, unit: &str, out: &mut String) {
    let counts = slots(bytes, slot);
    if counts.is_empty() {
        return;
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let mut num = String::new();
    out.push_str("        ");
    // The unit comes from gadget.yaml: no control character reaches the terminal.
    let unit: String = unit.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    push_padded(out, &unit, 16, false);
    out.push_str(" : count    distribution\n");
    for (i, &c) in counts.iter().enumerate() {
        let (start, end) = interval(i);
        num.clear();
        push_u64(&mut num, start);
        push_padded(out, &num, 10, true);
        out.push_str(" -> ");
        num.clear();
        push_u64(&mut num, end);
        push_padded(out, &num, 10, false);
        out.push_str(" : ");
        num.clear();
        push_u64(&mut num, c);
        push_padded(out, &num, 8, false);
        out.push_str(" |");
        let stars = if max == 0 {
            0
        } else {
            (u128::from(c) * u128::from(STARS) / u128::from(max)) as u64
        };
        out.extend(std::iter::repeat_n('*', stars as usize));
        out.extend(std::iter::repeat_n(' ', (STARS - stars) as usize));
        out.push_str("|\n");
    }
}

/// Appends the histogram in `bytes` as IG's JSON object: `{"unit":"µs","intervals":[{"count":
/// 3,"start":0,"end":1},…]}` (`unit` left out when empty, as IG's `omitempty`). `unit` comes
/// from gadget.yaml and is escaped.
pub fn write_json(bytes: &[u8], slot: usize, unit: &str, out: &mut Vec<u8>) {
    let counts = slots(bytes, slot);
    out.push(b'{');
    if !unit.is_empty() {
        out.extend_from_slice(b"\"unit\":\"");
        for c in unit.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        out.extend_from_slice(b"\",");
    }
    out.extend_from_slice(b"\"intervals\":[");
    let mut num = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let (start, end) = interval(i);
        if i > 0 {
            out.push(b',');
        }
        for (key, v) in [("{\"count\":", c), (",\"start\":", start), (",\"end\":", end)] {
            out.extend_from_slice(key.as_bytes());
            num.clear();
            push_u64(&mut num, v);
            out.extend_from_slice(num.as_bytes());
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// The sum of every slot.
pub fn total(bytes: &[u8], slot: usize) -> u64 {
    slots(bytes, slot).iter().fold(0u64, |a, c| a.saturating_add(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32s(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn intervals_are_igs_exp2_slots() {
        assert_eq!(interval(0), (0, 1));
        assert_eq!(interval(1), (2, 3));
        assert_eq!(interval(4), (16, 31));
        assert_eq!(slots(&u32s(&[0, 3, 0, 1, 0, 0]), 4), vec![0, 3, 0, 1]);
        assert_eq!(total(&u32s(&[1, 2, 3]), 4), 6);
    }

    #[test]
    fn text_matches_bccs_table() {
        let mut s = String::new();
        write_text(&u32s(&[1, 2, 0]), 4, "µs", &mut s);
        let want = format!(
            "        µs               : count    distribution\n\
             {:>10} -> {:<10} : {:<8} |{:<40}|\n\
             {:>10} -> {:<10} : {:<8} |{:<40}|\n",
            0,
            1,
            1,
            "*".repeat(20),
            2,
            3,
            2,
            "*".repeat(40)
        );
        assert_eq!(s, want);
        s.clear();
        write_text(&u32s(&[0, 0]), 4, "", &mut s);
        assert!(s.is_empty());
    }

    #[test]
    fn json_is_igs_shape() {
        let mut out = Vec::new();
        write_json(&u32s(&[0, 5]), 4, "ms", &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["unit"], "ms");
        assert_eq!(v["intervals"][1]["count"], 5);
        assert_eq!(v["intervals"][1]["start"], 2);
        assert_eq!(v["intervals"][1]["end"], 3);
        out.clear();
        write_json(&[], 8, "a\"b", &mut out);
        assert_eq!(out, br#"{"unit":"a\"b","intervals":[]}"#);
    }
}
