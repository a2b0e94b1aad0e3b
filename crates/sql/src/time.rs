//! Dates for `parse_time` (Joda-Time patterns, as AWS uses) and `time_to_epoch` (JDK
//! `DateTimeFormatter` patterns). Both take the instant or text from the caller; nothing here
//! reads a clock.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Timelike, Utc};
use chrono_tz::{OffsetName, Tz};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// A time zone: an IANA name or a fixed offset.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

fn zone(name: &str) -> Option<Zone> {
    let name = name.trim();
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(Zone::Named(tz));
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS.iter().find(|t| t.name().eq_ignore_ascii_case(name)) {
        return Some(Zone::Named(*tz));
    }
    let rest = name.strip_prefix("UTC").or_else(|| name.strip_prefix("GMT")).unwrap_or(name);
    parse_offset(rest).map(Zone::Fixed)
}

/// `+05:30`, `-0600`, `+05`, `Z`.
fn parse_offset(s: &str) -> Option<FixedOffset> {
    if s == "Z" || s.is_empty() {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !(1..=4).contains(&digits.len()) {
        return None;
    }
    let (h, m) = if digits.len() <= 2 {
        (digits.parse::<i32>().ok()?, 0)
    } else {
        let split = digits.len() - 2;
        (digits[..split].parse::<i32>().ok()?, digits[split..].parse::<i32>().ok()?)
    };
    if h > 18 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// The fields a pattern prints, at one instant in one zone.
struct Moment {
    local: chrono::NaiveDateTime,
    offset_secs: i32,
    abbreviation: String,
    zone_id: String,
}

fn moment(ms: i64, zone: Zone) -> Option<Moment> {
    let utc: DateTime<Utc> = Utc.timestamp_millis_opt(ms).single()?;
    Some(match zone {
        Zone::Named(tz) => {
            let dt = utc.with_timezone(&tz);
            let off = dt.offset();
            Moment {
                local: dt.naive_local(),
                offset_secs: off.fix().local_minus_utc(),
                abbreviation: off
                    .abbreviation()
                    .map_or_else(|| offset_text(off.fix().local_minus_utc(), true), str::to_owned),
                zone_id: tz.name().to_owned(),
            }
        }
        Zone::Fixed(fx) => {
            let dt = utc.with_timezone(&fx);
            let secs = fx.local_minus_utc();
            let text = if secs == 0 { "UTC".to_owned() } else { offset_text(secs, true) };
            Moment { local: dt.naive_local(), offset_secs: secs, abbreviation: text.clone(), zone_id: text }
        }
    })
}

fn offset_text(secs: i32, colon: bool) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.abs();
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    if colon { format!("{sign}{h:02}:{m:02}") } else { format!("{sign}{h:02}{m:02}") }
}

/// A pattern split into letter runs and literal text.
enum Piece {
    Field(char, usize),
    Literal(String),
}

fn pieces(pattern: &str) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'text' is literal; '' is one quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push(Piece::Literal("'".into()));
                i += 2;
                continue;
            }
            let mut lit = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return None,
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        lit.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Piece::Literal(lit));
        } else if c.is_ascii_alphabetic() {
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            out.push(Piece::Field(c, n));
            i += n;
        } else {
            out.push(Piece::Literal(c.to_string()));
            i += 1;
        }
    }
    Some(out)
}

fn pad(n: i64, width: usize) -> String {
    if n < 0 { format!("-{:0width$}", -n, width = width) } else { format!("{n:0width$}") }
}

/// Formats `ms` (epoch milliseconds) with a Joda-Time pattern in `zone`; `None` for an unknown
/// zone or pattern letter.
pub fn format(pattern: &str, ms: i64, zone_name: &str) -> Option<String> {
    let m = moment(ms, zone(zone_name)?)?;
    let d = m.local;
    let mut out = String::new();
    for piece in pieces(pattern)? {
        let (c, n) = match piece {
            Piece::Literal(s) => {
                out.push_str(&s);
                continue;
            }
            Piece::Field(c, n) => (c, n),
        };
        let text = |full: &str| if n >= 4 { full.to_owned() } else { full[..3].to_owned() };
        let year = i64::from(d.year());
        let s = match c {
            'G' => (if year > 0 { "AD" } else { "BC" }).to_owned(),
            'C' => pad(year.abs() / 100, n),
            'y' | 'Y' | 'x' | 'u' => {
                let y = if c == 'x' {
                    i64::from(d.iso_week().year())
                } else if c == 'Y' {
                    year.abs().max(1)
                } else {
                    year
                };
                if n == 2 { pad(y.rem_euclid(100), 2) } else { pad(y, n) }
            }
            'w' => pad(i64::from(d.iso_week().week()), n),
            'e' => pad(i64::from(d.weekday().number_from_monday()), n),
            'E' => text(DAYS[d.weekday().num_days_from_monday() as usize]),
            'D' => pad(i64::from(d.ordinal()), n),
            'M' if n >= 3 => text(MONTHS[d.month0() as usize]),
            'M' => pad(i64::from(d.month()), n),
            'd' => pad(i64::from(d.day()), n),
            'a' => (if d.hour() < 12 { "AM" } else { "PM" }).to_owned(),
            'K' => pad(i64::from(d.hour() % 12), n),
            'h' => pad(i64::from((d.hour() + 11) % 12 + 1), n),
            'H' => pad(i64::from(d.hour()), n),
            'k' => pad(i64::from(if d.hour() == 0 { 24 } else { d.hour() }), n),
            'm' => pad(i64::from(d.minute()), n),
            's' => pad(i64::from(d.second()), n),
            'S' => {
                let millis = format!("{:03}", d.and_utc().timestamp_subsec_millis());
                let mut f: String = millis.chars().take(n).collect();
                while f.len() < n {
                    f.push('0');
                }
                f
            }
            'z' => m.abbreviation.clone(),
            'Z' if n == 1 => offset_text(m.offset_secs, false),
            'Z' if n == 2 => offset_text(m.offset_secs, true),
            'Z' => m.zone_id.clone(),
            _ => return None,
        };
        out.push_str(&s);
    }
    Some(out)
}

/// What a parse has read so far.
#[derive(Default)]
struct Fields {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: Option<u32>,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    nanos: Option<u32>,
    offset: Option<i32>,
    bc: bool,
}

/// Parses `text` with a JDK `DateTimeFormatter` pattern to epoch milliseconds (UTC when the text
/// names no offset or zone; missing time fields are 0, a missing year is 1970).
pub fn parse(text: &str, pattern: &str) -> Option<i64> {
    let pieces = pieces(pattern)?;
    let mut f = Fields::default();
    let mut rest = text;
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Literal(lit) => {
                rest = strip_prefix_ci(rest, lit)?;
            }
            Piece::Field(c, n) => {
                let next_is_number =
                    matches!(pieces.get(i + 1), Some(Piece::Field(c2, k)) if is_numeric(*c2, *k));
                rest = field(&mut f, *c, *n, rest, next_is_number)?;
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let mut year = f.year.unwrap_or(1970);
    if f.bc {
        year = 1 - year;
    }
    let date = match (f.day_of_year, f.month) {
        (Some(doy), None) => NaiveDate::from_yo_opt(year, doy)?,
        _ => NaiveDate::from_ymd_opt(year, f.month.unwrap_or(1), f.day.unwrap_or(1))?,
    };
    let hour = match (f.hour, f.hour12, f.pm) {
        (Some(h), _, _) => h,
        (None, Some(h), Some(pm)) => h % 12 + if pm { 12 } else { 0 },
        (None, Some(h), None) => h % 12,
        (None, None, _) => 0,
    };
    let dt =
        date.and_hms_nano_opt(hour, f.minute.unwrap_or(0), f.second.unwrap_or(0), f.nanos.unwrap_or(0))?;
    let off = FixedOffset::east_opt(f.offset.unwrap_or(0))?;
    Some(off.from_local_datetime(&dt).single()?.timestamp_millis())
}

fn is_numeric(c: char, n: usize) -> bool {
    matches!(c, 'y' | 'u' | 'd' | 'D' | 'H' | 'h' | 'k' | 'K' | 'm' | 's' | 'S' | 'n')
        || (matches!(c, 'M' | 'L') && n <= 2)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Reads digits: exactly `width` of them when the next field is a number too (adjacent value
/// parsing), else up to `max`.
fn digits(s: &str, width: usize, fixed: bool, max: usize) -> Option<(i64, &str)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let avail = body.bytes().take_while(u8::is_ascii_digit).count();
    let take = if fixed { width } else { avail.min(max) };
    if take == 0 || avail < take {
        return None;
    }
    let v: i64 = body[..take].parse().ok()?;
    Some((if neg { -v } else { v }, &body[take..]))
}

fn name_index<'a>(s: &'a str, names: &[&str], n: usize) -> Option<(usize, &'a str)> {
    // Full names first (so "May" and "March" both parse), then three-letter forms.
    for (i, full) in names.iter().enumerate() {
        if n >= 4
            && let Some(r) = strip_prefix_ci(s, full)
        {
            return Some((i, r));
        }
    }
    for (i, full) in names.iter().enumerate() {
        if let Some(r) = strip_prefix_ci(s, full) {
            return Some((i, r));
        }
        if let Some(r) = strip_prefix_ci(s, &full[..3]) {
            return Some((i, r));
        }
    }
    None
}

fn field<'a>(f: &mut Fields, c: char, n: usize, s: &'a str, fixed: bool) -> Option<&'a str> {
    let num = |max: usize| digits(s, n, fixed, max);
    let small = |v: i64| u32::try_from(v).ok();
    Some(match c {
        'y' | 'u' | 'Y' => {
            let (v, r) = num(9)?;
            f.year = Some(if n == 2 && (0..100).contains(&v) {
                2000 + v as i32
            } else {
                i32::try_from(v).ok()?
            });
            r
        }
        'M' | 'L' if n >= 3 => {
            let (i, r) = name_index(s, &MONTHS, n)?;
            f.month = Some(i as u32 + 1);
            r
        }
        'M' | 'L' => {
            let (v, r) = num(2)?;
            f.month = small(v);
            r
        }
        'd' => {
            let (v, r) = num(2)?;
            f.day = small(v);
            r
        }
        'D' => {
            let (v, r) = num(3)?;
            f.day_of_year = small(v);
            r
        }
        'H' | 'k' => {
            let (v, r) = num(2)?;
            f.hour = small(v % 24);
            r
        }
        'h' | 'K' => {
            let (v, r) = num(2)?;
            f.hour12 = small(v);
            r
        }
        'm' => {
            let (v, r) = num(2)?;
            f.minute = small(v);
            r
        }
        's' => {
            let (v, r) = num(2)?;
            f.second = small(v);
            r
        }
        'S' | 'n' => {
            let avail = s.bytes().take_while(u8::is_ascii_digit).count();
            let take = if fixed { n } else { avail.min(9) };
            if take == 0 || avail < take {
                return None;
            }
            let mut frac = s[..take].to_owned();
            if c == 'S' {
                while frac.len() < 9 {
                    frac.push('0');
                }
                f.nanos = frac[..9].parse().ok();
            } else {
                f.nanos = frac.parse().ok();
            }
            &s[take..]
        }
        'a' => {
            if let Some(r) = strip_prefix_ci(s, "AM") {
                f.pm = Some(false);
                r
            } else {
                f.pm = Some(true);
                strip_prefix_ci(s, "PM")?
            }
        }
        'E' => name_index(s, &DAYS, n)?.1,
        'G' => {
            if let Some(r) = strip_prefix_ci(s, "AD") {
                r
            } else {
                f.bc = true;
                strip_prefix_ci(s, "BC")?
            }
        }
        'X' | 'x' | 'Z' | 'z' | 'V' | 'O' => {
            // An offset (+05:30, -0600, Z) or a zone name (UTC, Europe/Paris) up to the next space.
            let end = s.find(' ').unwrap_or(s.len());
            let word = &s[..end];
            let z = zone(word)?;
            f.offset = Some(match z {
                Zone::Fixed(fx) => fx.local_minus_utc(),
                // A named zone's offset depends on the date; the date's fields are read by now
                // only when they come first, which is the usual order.
                Zone::Named(tz) => {
                    let date = NaiveDate::from_ymd_opt(
                        f.year.unwrap_or(1970),
                        f.month.unwrap_or(1),
                        f.day.unwrap_or(1),
                    )?;
                    let local = date.and_hms_opt(f.hour.unwrap_or(0), f.minute.unwrap_or(0), 0)?;
                    tz.offset_from_local_datetime(&local).earliest()?.fix().local_minus_utc()
                }
            });
            &s[end..]
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joda_formats_like_the_aws_examples() {
        assert_eq!(
            format("yyyy.MM.dd G 'at' HH:mm:ss z", 100_000_000, "America/Belize").as_deref(),
            Some("1970.01.01 AD at 21:46:40 CST")
        );
        assert_eq!(
            format("yyyy-MM-dd'T'HH:mm:ss.SSSZ", 1_451_606_400_123, "UTC").as_deref(),
            Some("2016-01-01T00:00:00.123+0000")
        );
        assert_eq!(format("EEE, d MMM yy hh:mm a", 0, "+05:30").as_deref(), Some("Thu, 1 Jan 70 05:30 AM"));
        assert_eq!(format("EEEE MMMM ZZ", 0, "Europe/Paris").as_deref(), Some("Thursday January +01:00"));
        assert_eq!(format("yyyy", 0, "Mars/Olympus"), None);
        assert_eq!(format("qqq", 0, "UTC"), None);
    }

    #[test]
    fn jdk_patterns_parse_to_epoch_millis() {
        assert_eq!(parse("18 December 2015", "dd MMMM yyyy"), Some(1_450_396_800_000));
        assert_eq!(parse("2016-01-01T00:00:00.123Z", "yyyy-MM-dd'T'HH:mm:ss.SSSX"), Some(1_451_606_400_123));
        assert_eq!(parse("20160101 0130+0100", "yyyyMMdd HHmmZ"), Some(1_451_608_200_000));
        assert_eq!(parse("01/02/2020 03:04 PM", "MM/dd/yyyy hh:mm a"), Some(1_577_977_440_000));
        assert_eq!(parse("not a date", "yyyy"), None);
        assert_eq!(parse("2015-13-01", "yyyy-MM-dd"), None);
    }
}
