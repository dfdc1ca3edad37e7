//! [`Timestamp`]: nanoseconds since the Unix epoch, shown as RFC 3339 in UTC.

use std::fmt;

use serde::{Serialize, Serializer};

/// A point in time, nanoseconds since the Unix epoch (UTC). Every format's times are converted
/// to this one type when they are decoded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// From nanoseconds since the epoch.
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// The current time (the system clock; the epoch if it is set before 1970).
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// From microseconds since the epoch (Jaeger), saturating.
    pub const fn from_unix_micros(micros: u64) -> Self {
        Self(micros.saturating_mul(1_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn unix_nanos(self) -> u64 {
        self.0
    }

    /// Milliseconds from `self` to `later` as a float (negative when `later` is earlier).
    pub fn millis_until(self, later: Self) -> f64 {
        if later.0 >= self.0 {
            (later.0 - self.0) as f64 / 1e6
        } else {
            -((self.0 - later.0) as f64 / 1e6)
        }
    }

    /// Parses RFC 3339 (`2026-11-22T05:16:00.123456789Z` or with a `+hh:mm` offset).
    #[allow(
        clippy::many_single_char_names,
        reason = "date arithmetic reads best with its usual names"
    )]
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(part).ok()?.parse().ok()
        };
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
            return None;
        }
        if second > 60 {
            return None;
        }
        let mut i = 19;
        let mut nanos: i64 = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &b[start..i];
            if digits.is_empty() {
                return None;
            }
            for (k, d) in digits.iter().take(9).enumerate() {
                nanos += i64::from(d - b'0') * 10i64.pow(8 - k as u32);
            }
        }
        let offset_seconds = match b.get(i..)? {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let h = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
                let m = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
                let s = h * 3600 + m * 60;
                if *sign == b'+' { s } else { -s }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
        let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        u64::try_from(total).ok().map(Self)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
#[allow(
    clippy::cast_sign_loss,
    reason = "day and month are in 1..=31 and 1..=12 by construction"
)]
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with nanoseconds: `2026-11-22T05:16:00.123456789Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = i64::try_from(self.0 / 1_000_000_000).map_err(|_| fmt::Error)?;
        let nanos = self.0 % 1_000_000_000;
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_with_nanoseconds() {
        assert_eq!(
            Timestamp::from_unix_nanos(0).to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        let t = Timestamp::from_unix_nanos(1_544_712_660_000_000_001);
        assert_eq!(t.to_string(), "2018-12-13T14:51:00.000000001Z");
        let leap = Timestamp::from_unix_micros(951_782_400_000_000);
        assert_eq!(leap.to_string(), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for nanos in [
            0u64,
            1_544_712_660_000_000_001,
            1_770_000_000_001_000_000,
            u64::MAX / 2,
        ] {
            let t = Timestamp::from_unix_nanos(nanos);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Some(t));
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2018-12-13T15:51:00+01:00"),
            Timestamp::parse_rfc3339("2018-12-13T14:51:00Z")
        );
        for bad in [
            "",
            "2018-13-01T00:00:00Z",
            "2018-12-13T14:51:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }
}
