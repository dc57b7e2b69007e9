//! Compact human renderings of sizes (`1.5 KiB`) and durations (`4.56ms`).
//!
//! `gadget_bytes` and `gadget_duration` columns are raw integers that are hard
//! to eyeball in a table. Both writers use integer arithmetic only (no float
//! formatting) because they run per event, and round half up so that a value
//! never prints with more digits than its unit allows (`1023.96 KiB` becomes
//! `1.0 MiB`, `999.6µs` becomes `1ms`).

use super::{push_u64, push_u64_padded};

/// IEC unit suffixes for `1024^1 ..= 1024^6`.
const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Appends a byte count with IEC units and one decimal (`512 B`, `1.5 KiB`,
/// `3.2 MiB`, `1.0 GiB`). Counts below 1024 are exact.
pub fn write_bytes(v: u64, out: &mut String) {
    if v < 1024 {
        push_u64(out, v);
        out.push_str(" B");
        return;
    }
    // `v >= 1024`, so `ilog2 >= 10` and `k` is in 1..=6 (u64::MAX < 1024^7).
    let mut k = (v.ilog2() / 10) as usize;
    let mut tenths = round_tenths(v, k);
    if tenths >= 10_240 && k < UNITS.len() {
        k += 1;
        tenths = round_tenths(v, k);
    }
    push_u64(out, tenths / 10);
    out.push('.');
    push_u64(out, tenths % 10);
    out.push(' ');
    out.push_str(UNITS[k - 1]);
}

/// `v / 1024^k` in tenths, rounded half up.
fn round_tenths(v: u64, k: usize) -> u64 {
    let unit = 1u128 << (10 * k);
    let tenths = (u128::from(v) * 10 + unit / 2) / unit;
    // At most u64::MAX * 10 / 1024, far below u64::MAX.
    u64::try_from(tenths).unwrap_or(u64::MAX)
}

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MIN: u64 = 60 * NS_PER_S;

/// Appends a duration given in nanoseconds, Go style but compact: `0s`,
/// `850ns`, then three significant digits with trailing zeros trimmed below a
/// minute (`12.3µs`, `4.56ms`, `1.2s`, `59.9s`), and whole (rounded) seconds
/// above (`2m3s`, `1h0m5s`).
pub fn write_duration(ns: u64, out: &mut String) {
    if ns == 0 {
        out.push_str("0s");
        return;
    }
    if ns < NS_PER_US {
        push_u64(out, ns);
        out.push_str("ns");
        return;
    }
    let (unit, suffix) = if ns < NS_PER_MS {
        (NS_PER_US, "µs")
    } else if ns < NS_PER_S {
        (NS_PER_MS, "ms")
    } else if ns < NS_PER_MIN {
        (NS_PER_S, "s")
    } else {
        write_long(ns, out);
        return;
    };
    let whole = ns / unit;
    let (digits, scale) = if whole >= 100 {
        (0, 1)
    } else if whole >= 10 {
        (1, 10)
    } else {
        (2, 100)
    };
    // ns < 60e9 and scale <= 100: no overflow.
    let scaled = (ns * scale + unit / 2) / unit;
    if unit == NS_PER_S && scaled >= 60 * scale {
        write_long(ns, out);
        return;
    }
    if digits == 0 && scaled >= 1000 {
        // Rounded up to the next unit (999.6µs -> 1ms).
        write_duration(unit * 1000, out);
        return;
    }
    push_u64(out, scaled / scale);
    let mut frac = scaled % scale;
    let mut digits = digits;
    while digits > 0 && frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    if digits > 0 {
        out.push('.');
        push_u64_padded(out, frac, digits as usize);
    }
    out.push_str(suffix);
}

/// `XmYs` / `XhYmZs` with seconds rounded half up.
fn write_long(ns: u64, out: &mut String) {
    let secs = ns / NS_PER_S + u64::from(ns % NS_PER_S >= NS_PER_S / 2);
    let hours = secs / 3600;
    if hours > 0 {
        push_u64(out, hours);
        out.push('h');
    }
    push_u64(out, secs / 60 % 60);
    out.push('m');
    push_u64(out, secs % 60);
    out.push('s');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: u64) -> String {
        let mut s = String::new();
        write_bytes(v, &mut s);
        s
    }

    fn d(ns: u64) -> String {
        let mut s = String::new();
        write_duration(ns, &mut s);
        s
    }

    #[test]
    fn bytes_small_are_exact() {
        assert_eq!(b(0), "0 B");
        assert_eq!(b(512), "512 B");
        assert_eq!(b(1023), "1023 B");
    }

    #[test]
    fn bytes_use_iec_units_with_one_decimal() {
        assert_eq!(b(1024), "1.0 KiB");
        assert_eq!(b(1536), "1.5 KiB");
        assert_eq!(b(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
        assert_eq!(b(1 << 30), "1.0 GiB");
        assert_eq!(b(5 << 40), "5.0 TiB");
        assert_eq!(b(1 << 50), "1.0 PiB");
        assert_eq!(b(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn bytes_round_half_up_and_promote() {
        assert_eq!(b(1075), "1.0 KiB"); // 1.0498
        assert_eq!(b(1076), "1.1 KiB"); // 1.0508
        assert_eq!(b(1023 * 1024 + 1000), "1.0 MiB"); // 1023.98 KiB
        assert_eq!(b(1023 * 1024), "1023.0 KiB");
    }

    #[test]
    fn bytes_append() {
        let mut s = String::from("size=");
        write_bytes(2048, &mut s);
        assert_eq!(s, "size=2.0 KiB");
    }

    #[test]
    fn durations_below_a_minute() {
        assert_eq!(d(0), "0s");
        assert_eq!(d(1), "1ns");
        assert_eq!(d(850), "850ns");
        assert_eq!(d(999), "999ns");
        assert_eq!(d(1_000), "1µs");
        assert_eq!(d(12_300), "12.3µs");
        assert_eq!(d(12_345), "12.3µs");
        assert_eq!(d(123_456), "123µs");
        assert_eq!(d(4_560_000), "4.56ms");
        assert_eq!(d(4_567_000), "4.57ms");
        assert_eq!(d(1_200_000_000), "1.2s");
        assert_eq!(d(1_000_000_000), "1s");
        assert_eq!(d(10_050_000_000), "10.1s");
        assert_eq!(d(59_940_000_000), "59.9s");
    }

    #[test]
    fn durations_round_into_the_next_unit() {
        assert_eq!(d(999_600), "1ms");
        assert_eq!(d(999_400), "999µs");
        assert_eq!(d(99_960), "100µs");
        assert_eq!(d(9_996), "10µs");
        assert_eq!(d(999_700_000), "1s");
        assert_eq!(d(59_960_000_000), "1m0s");
    }

    #[test]
    fn durations_of_minutes_and_hours() {
        assert_eq!(d(60 * NS_PER_S), "1m0s");
        assert_eq!(d(123 * NS_PER_S), "2m3s");
        assert_eq!(d(123 * NS_PER_S + NS_PER_S / 2), "2m4s");
        assert_eq!(d(3605 * NS_PER_S), "1h0m5s");
        assert_eq!(d(3599 * NS_PER_S + 600 * NS_PER_MS), "1h0m0s");
        assert_eq!(d(u64::MAX), "5124095h34m34s");
    }
}
