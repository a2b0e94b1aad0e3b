//! Time as the domain sees it: milliseconds since the Unix epoch, passed in by the caller.
//!
//! AWS's REST-JSON APIs render timestamps as epoch *seconds* (fractions allowed), so the wire form is
//! a JSON number of seconds; storage keeps the exact milliseconds.

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Epoch seconds with a fractional part, as AWS's JSON APIs render timestamps.
    pub fn epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// ISO 8601 in UTC with milliseconds: `2026-12-06T12:00:00.000Z`.
    pub fn to_rfc3339_millis(self) -> String {
        let (days, ms) = (self.0.div_euclid(86_400_000), self.0.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        let (h, mi, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }

    /// ISO 8601 basic form in UTC to the second, as SigV4 dates are written: `20261206T120000Z`.
    pub fn to_basic_iso(self) -> String {
        let (days, ms) = (self.0.div_euclid(86_400_000), self.0.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        let (h, mi, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
        format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a UTC date and time as AWS's scheduling settings write it: `YYYY-MM-DDTHH:MM`, with
/// optional seconds and an optional trailing `Z`.
pub fn parse_utc_minute(s: &str) -> Option<Timestamp> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once('T')?;
    let num = |p: &str, len: usize| -> Option<i64> {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok()).flatten()
    };
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let mut t = time.split(':');
    let (h, mi) = (num(t.next()?, 2)?, num(t.next()?, 2)?);
    let sec = match t.next() {
        Some(p) => num(p, 2)?,
        None => 0,
    };
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo)
        || da < 1
        || da > month_days[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(Timestamp::from_millis(secs * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_iso_8601() {
        assert_eq!(Timestamp(0).to_rfc3339_millis(), "1970-01-01T00:00:00.000Z");
        let t = parse_utc_minute("2024-02-29T23:59:58").unwrap();
        assert_eq!(Timestamp(t.0 + 7).to_rfc3339_millis(), "2024-02-29T23:59:58.007Z");
        assert_eq!(Timestamp(-1).to_rfc3339_millis(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp(t.0 + 7).to_basic_iso(), "20240229T235958Z");
        assert_eq!(Timestamp(-1).to_basic_iso(), "19691231T235959Z");
    }

    #[test]
    fn parses_aws_schedule_times() {
        assert_eq!(parse_utc_minute("1970-01-01T00:00"), Some(Timestamp(0)));
        assert_eq!(parse_utc_minute("2023-11-14T22:13:20Z"), Some(Timestamp(1_700_000_000_000)));
        assert_eq!(parse_utc_minute("2024-02-29T12:30"), Some(Timestamp(1_709_209_800_000)));
        for bad in ["2023-02-29T00:00", "2023-13-01T00:00", "2023-01-01 00:00", "2023-1-01T00:00", "soon", ""]
        {
            assert_eq!(parse_utc_minute(bad), None, "{bad}");
        }
    }

    #[test]
    fn renders_epoch_seconds_with_fraction() {
        assert_eq!(Timestamp::from_millis(1_700_000_000_123).epoch_seconds(), 1_700_000_000.123);
        assert_eq!(Timestamp::from_millis(0).epoch_seconds(), 0.0);
    }
}
