//! Boot-relative eBPF timestamps → UTC wall-clock time in RFC 3339.
//!
//! Gadgets stamp events with `bpf_ktime_get_boot_ns()` (`CLOCK_BOOTTIME`,
//! which keeps counting across suspend). Users want wall-clock time, so
//! [`WallClock`] captures the offset `CLOCK_REALTIME − CLOCK_BOOTTIME` once
//! and formats every event with pure integer arithmetic: the date comes from
//! Howard Hinnant's `civil_from_days`, with no time-zone database, allocation
//! or `chrono` involved. Since the offset is captured once, later `settimeofday`
//! or NTP steps are not reflected until a new `WallClock` is taken.

use std::fmt::Write as _;
use std::mem::MaybeUninit;

const NS_PER_S: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Converts boot-relative nanoseconds to wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WallClock {
    /// `CLOCK_REALTIME − CLOCK_BOOTTIME`, in nanoseconds.
    offset_ns: i128,
}

impl WallClock {
    /// Captures the current `CLOCK_REALTIME − CLOCK_BOOTTIME` offset.
    ///
    /// Reads boot/real/boot three times and keeps the sample with the
    /// narrowest boot window, taking the realtime reading against the
    /// window's midpoint. Should the clocks be unreadable (they cannot be on
    /// Linux), falls back to the system time with a boot time of zero.
    pub fn now() -> WallClock {
        let mut best: Option<(i128, i128)> = None;
        for _ in 0..3 {
            let (Some(b1), Some(real), Some(b2)) = (
                clock_ns(libc::CLOCK_BOOTTIME),
                clock_ns(libc::CLOCK_REALTIME),
                clock_ns(libc::CLOCK_BOOTTIME),
            ) else {
                continue;
            };
            let window = b2 - b1;
            let offset = real - (b1 + b2) / 2;
            if best.is_none_or(|(w, _)| window < w) {
                best = Some((window, offset));
            }
        }
        if let Some((_, offset)) = best {
            return WallClock::from_offset(offset);
        }
        tracing::warn!("clock_gettime failed; wall-clock timestamps assume boot at the current time");
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        WallClock::from_offset(i128::try_from(since_epoch).unwrap_or(0))
    }

    /// A clock with a fixed offset (wall = boot + `offset_ns`), for tests and
    /// for replaying recordings made on another host.
    pub fn from_offset(offset_ns: i128) -> WallClock {
        WallClock { offset_ns }
    }

    /// The captured `CLOCK_REALTIME − CLOCK_BOOTTIME` offset.
    pub fn offset_ns(&self) -> i128 {
        self.offset_ns
    }

    /// Nanoseconds since the Unix epoch for a boot-relative timestamp.
    pub fn wall_ns(&self, boot_ns: u64) -> i128 {
        self.offset_ns.saturating_add(i128::from(boot_ns))
    }

    /// Appends the UTC time of `boot_ns` in RFC 3339 with nanoseconds,
    /// e.g. `2026-11-27T13:45:01.123456789Z`.
    ///
    /// Years outside `0000..=9999` are written with a sign or extra digits;
    /// instants too far out for a 64-bit day count (only reachable with
    /// absurd offsets) fall back to the decimal wall-clock nanoseconds.
    pub fn write_rfc3339(&self, boot_ns: u64, out: &mut String) {
        let wall = self.wall_ns(boot_ns);
        let (secs, nanos) = match i64::try_from(wall) {
            // Fast path: any instant between 1677 and 2262.
            Ok(w) => (w.div_euclid(NS_PER_S), w.rem_euclid(NS_PER_S)),
            Err(_) => {
                let ns = i128::from(NS_PER_S);
                match i64::try_from(wall.div_euclid(ns)) {
                    // rem_euclid by 1e9 is in 0..1e9, which fits.
                    Ok(s) => (s, wall.rem_euclid(ns) as i64),
                    Err(_) => {
                        let _ = write!(out, "{wall}");
                        return;
                    }
                }
            }
        };
        let days = secs.div_euclid(SECS_PER_DAY);
        // rem_euclid by 86400 is in 0..86400 and `nanos` in 0..1e9: both fit u32.
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let nanos = nanos as u32;
        let (year, month, day) = civil_from_days(days);

        // One buffer, one push: "YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ".
        let mut buf = *b"0000-00-00T00:00:00.000000000Z";
        let start = if (0..=9999).contains(&year) {
            // Checked range: the cast is exact.
            let year = year as u32;
            put2(&mut buf, 0, year / 100);
            put2(&mut buf, 2, year % 100);
            0
        } else {
            write_far_year(year, out);
            4
        };
        put2(&mut buf, 5, month);
        put2(&mut buf, 8, day);
        put2(&mut buf, 11, sod / 3600);
        put2(&mut buf, 14, sod / 60 % 60);
        put2(&mut buf, 17, sod % 60);
        // nanos < 1e9, so the leading digit is below 10.
        buf[20] = b'0' + (nanos / 100_000_000) as u8;
        let low = nanos % 100_000_000;
        put2(&mut buf, 21, low / 1_000_000);
        put2(&mut buf, 23, low / 10_000 % 100);
        put2(&mut buf, 25, low / 100 % 100);
        put2(&mut buf, 27, low % 100);
        // Only ASCII digits and separators were written, so this cannot fail.
        if let Ok(s) = std::str::from_utf8(&buf[start..]) {
            out.push_str(s);
        }
    }
}

/// Reads `clock` in nanoseconds.
fn clock_ns(clock: libc::clockid_t) -> Option<i128> {
    let mut ts = MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: `ts` points to writable memory sized for a `timespec`, valid for
    // the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, ts.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: clock_gettime returned 0, so it initialised `ts`.
    let ts = unsafe { ts.assume_init() };
    Some(i128::from(ts.tv_sec) * i128::from(NS_PER_S) + i128::from(ts.tv_nsec))
}

/// "00" through "99", so each pair of digits costs one table load.
static PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        // i < 100: both digits are below 10.
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// Writes `v % 100` as two digits at `buf[at..at + 2]`.
#[inline(always)]
fn put2(buf: &mut [u8; 30], at: usize, v: u32) {
    let [hi, lo] = PAIRS[(v % 100) as usize];
    buf[at] = hi;
    buf[at + 1] = lo;
}

/// Writes a year outside `0..=9999`: signed, at least four digits.
fn write_far_year(year: i64, out: &mut String) {
    if year < 0 {
        out.push('-');
    }
    super::push_u64_padded(out, year.unsigned_abs(), 4);
}

/// Proleptic Gregorian (year, month 1..=12, day 1..=31) for a count of days
/// since 1970-01-01 (Howard Hinnant's `civil_from_days`). Valid for every
/// `days` whose `secs = days * 86400` fits an `i64`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // month is in 1..=12 and day in 1..=31.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i128 = NS_PER_S as i128;

    /// Formats an instant given as Unix seconds plus nanoseconds.
    fn at(secs: i128, nanos: i128) -> String {
        let clock = WallClock::from_offset(secs * NS + nanos);
        let mut s = String::new();
        clock.write_rfc3339(0, &mut s);
        s
    }

    #[test]
    fn known_dates() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(at(951_827_696, 1), "2000-02-29T12:34:56.000000001Z");
        assert_eq!(at(1_795_787_101, 123_456_789), "2026-11-27T13:45:01.123456789Z");
        assert_eq!(at(1_709_164_800, 0), "2024-02-29T00:00:00.000000000Z");
        assert_eq!(at(4_107_542_399, 999_999_999), "2100-02-28T23:59:59.999999999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000000Z");
    }

    #[test]
    fn before_the_epoch() {
        assert_eq!(at(-1, 0), "1969-12-31T23:59:59.000000000Z");
        assert_eq!(at(0, -1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(at(-2_203_891_200, 0), "1900-03-01T00:00:00.000000000Z");
        assert_eq!(at(-2_203_891_201, 0), "1900-02-28T23:59:59.000000000Z");
    }

    #[test]
    fn far_dates_take_the_slow_path() {
        assert_eq!(at(253_402_300_799, 5), "9999-12-31T23:59:59.000000005Z");
        assert_eq!(at(-62_135_596_800, 0), "0001-01-01T00:00:00.000000000Z");
        assert_eq!(at(253_402_300_800, 0), "10000-01-01T00:00:00.000000000Z");
        assert_eq!(at(-62_135_596_801, 0), "0000-12-31T23:59:59.000000000Z");
        assert_eq!(at(-62_167_219_201, 0), "-0001-12-31T23:59:59.000000000Z");
        let mut s = String::new();
        WallClock::from_offset(i128::MAX).write_rfc3339(1, &mut s);
        assert_eq!(s, i128::MAX.to_string());
    }

    #[test]
    fn civil_matches_a_naive_day_counter() {
        // Walk day by day from 1600-01-01 to 2500-12-31 with month lengths.
        let days_1600 = -135_140; // 1600-01-01 relative to 1970-01-01
        let (mut y, mut m, mut d) = (1600, 1, 1);
        let mut n = days_1600;
        while y <= 2500 {
            assert_eq!(civil_from_days(n), (y, m, d), "day {n}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
            n += 1;
        }
    }

    #[test]
    fn boot_offset_is_added() {
        let clock = WallClock::from_offset(1_795_787_100 * NS);
        assert_eq!(clock.wall_ns(1_500_000_000), 1_795_787_101_500_000_000);
        let mut s = String::from("ts=");
        clock.write_rfc3339(1_000_000_001, &mut s);
        assert_eq!(s, "ts=2026-11-27T13:45:01.000000001Z");
    }

    #[test]
    fn now_agrees_with_system_time() {
        let clock = WallClock::now();
        let boot = clock_ns(libc::CLOCK_BOOTTIME).expect("CLOCK_BOOTTIME");
        let boot = u64::try_from(boot).expect("positive boot time");
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after epoch")
            .as_nanos();
        let sys = i128::try_from(sys).expect("fits");
        let diff = (clock.wall_ns(boot) - sys).abs();
        assert!(diff < NS, "wall clock off by {diff} ns");
        let mut s = String::new();
        clock.write_rfc3339(boot, &mut s);
        assert_eq!(s.len(), "2026-11-27T13:45:01.123456789Z".len(), "{s}");
    }
}
