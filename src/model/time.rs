//! Event time and the dataflow's logical time: RFC 3339 timestamps as Unix milliseconds, and
//! the tick that coarsens them into logical times.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = u64;

/// The dataflow's logical time: event time in Unix milliseconds, coarsened to the tick.
pub type Time = Millis;

/// One hour in milliseconds.
pub const HOUR: Millis = 3_600_000;

/// Parses an RFC 3339 timestamp (`2026-11-01T10:00:00Z`, `…+02:00`, fractional seconds)
/// to Unix milliseconds, truncating below the millisecond. Times before 1970 are refused.
pub fn parse_rfc3339(text: &str) -> Result<Millis, String> {
    parse_rfc3339_nanos(text).map(|(millis, _)| millis)
}

/// As [`parse_rfc3339`], with the nanoseconds below the millisecond it truncates (the time
/// the dataflow uses is milliseconds; a record's identity keeps the instant whole).
pub fn parse_rfc3339_nanos(text: &str) -> Result<(Millis, u32), String> {
    // the `time` parser takes any byte between date and time; RFC 3339 allows `T`, `t` or a space
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return Err(format!(
            "{text:?} is not an RFC 3339 timestamp (no `T` between date and time)"
        ));
    }
    if let Some(millis) = parse_plain_utc(text.as_bytes()) {
        return Ok((millis, 0));
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))?;
    let nanos = parsed.unix_timestamp_nanos();
    let (millis, below) = (nanos.div_euclid(1_000_000), nanos.rem_euclid(1_000_000));
    let millis =
        u64::try_from(millis).map_err(|_| format!("{text:?} is before 1970-01-01T00:00:00Z"))?;
    Ok((millis, below as u32))
}

/// The most common form, `YYYY-MM-DDTHH:MM:SSZ`, read directly; `None` for any other form
/// (left to the full parser, which reads this one the same way).
fn parse_plain_utc(text: &[u8]) -> Option<Millis> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', i0, i1, b':', s0, s1, b'Z'] =
        *text
    else {
        return None;
    };
    let digits = |bytes: &[u8]| {
        bytes.iter().try_fold(0u64, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
        })
    };
    let (year, month, day) = (
        digits(&[y0, y1, y2, y3])?,
        digits(&[m0, m1])?,
        digits(&[d0, d1])?,
    );
    let (hour, minute, second) = (digits(&[h0, h1])?, digits(&[i0, i1])?, digits(&[s0, s1])?);
    let valid = year >= 1970
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        let days = days_from_civil(year, month, day);
        ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000
    })
}

/// Formats Unix milliseconds as RFC 3339 in UTC (`2026-11-01T10:00:01Z`; milliseconds shown
/// only when non-zero, without trailing zeros).
pub fn format_rfc3339(millis: Millis) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(&mut out, millis);
    out
}

/// Appends [`format_rfc3339`]'s text to `out`.
pub fn write_rfc3339(out: &mut String, millis: Millis) {
    use std::fmt::Write;
    let (days, in_day) = (millis / 86_400_000, millis % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        let _ = write!(out, "@{millis}ms");
        return;
    }
    let (hour, minute) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (second, milli) = (in_day / 1000 % 60, in_day % 1000);
    let digits = |out: &mut String, n: u64, width: u32| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u64.pow(place) % 10) as u8));
        }
    };
    digits(out, year, 4);
    for (separator, n) in [
        ('-', month),
        ('-', day),
        ('T', hour),
        (':', minute),
        (':', second),
    ] {
        out.push(separator);
        digits(out, n, 2);
    }
    if milli != 0 {
        out.push('.');
        let (mut n, mut width) = (milli, 3);
        while n % 10 == 0 {
            (n, width) = (n / 10, width - 1);
        }
        digits(out, n, width);
    }
    out.push('Z');
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date from 1970 on (the civil-calendar algorithm of H. Hinnant).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y / 400, y % 400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01: year, month, day.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The logical-time granularity: event times are rounded *up* to a multiple of the tick, so a
/// result stamped `t` includes every record whose event time is at most `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick(pub u64);

impl Tick {
    /// The first tick boundary at or after `millis`.
    pub fn ceil(self, millis: Millis) -> Millis {
        millis.div_ceil(self.0).saturating_mul(self.0)
    }

    /// The last tick boundary at or before `millis`.
    pub fn floor(self, millis: Millis) -> Millis {
        millis - millis % self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = parse_rfc3339("2026-11-01T10:00:01Z").unwrap();
        assert_eq!(format_rfc3339(t), "2026-11-01T10:00:01Z");
        assert_eq!(parse_rfc3339("2026-11-01T12:00:01+02:00").unwrap(), t);
        assert_eq!(
            format_rfc3339(parse_rfc3339("2026-11-01T10:00:01.250Z").unwrap()),
            "2026-11-01T10:00:01.25Z"
        );
        assert!(parse_rfc3339("2026-13-01T10:00:01Z").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_rfc3339("2026-11-01X10:00:01Z").is_err());
        assert!(parse_rfc3339("2026-11-01 10:00:01Z").is_ok());
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }

    /// The `time` crate's reading and writing, which the direct ones must equal.
    fn library_format(millis: Millis) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| format!("@{millis}ms"))
    }

    fn library_parse(text: &str) -> Option<Millis> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        u64::try_from(parsed.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
    }

    proptest::proptest! {
        #[test]
        fn formats_and_parses_as_the_time_crate_does(
            millis in 0u64..260_000_000_000_000,
            whole in 0u64..253_402_300_800,
            fields in (1900u64..2200, 0u64..14, 0u64..33, 0u64..25, 0u64..61, 0u64..61),
        ) {
            proptest::prop_assert_eq!(format_rfc3339(millis), library_format(millis));
            let text = library_format(whole * 1000);
            proptest::prop_assert_eq!(parse_plain_utc(text.as_bytes()), library_parse(&text));
            let (y, m, d, h, i, s) = fields;
            let text = format!("{y:04}-{m:02}-{d:02}T{h:02}:{i:02}:{s:02}Z");
            let fast = parse_plain_utc(text.as_bytes());
            proptest::prop_assert!(fast.is_none() || fast == library_parse(&text), "{}", text);
            proptest::prop_assert_eq!(fast.is_some(), library_parse(&text).is_some() && s < 60, "{}", text);
        }
    }

    #[test]
    fn ticks_round_up_and_down() {
        let tick = Tick(1000);
        assert_eq!(
            (tick.ceil(0), tick.ceil(1), tick.ceil(1000), tick.ceil(1001)),
            (0, 1000, 1000, 2000)
        );
        assert_eq!(
            (tick.floor(999), tick.floor(1000), tick.floor(1999)),
            (0, 1000, 1000)
        );
    }
}
