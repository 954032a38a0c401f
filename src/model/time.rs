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
    // the `time` parser takes any byte between date and time; RFC 3339 allows `T`, `t` or a space
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return Err(format!(
            "{text:?} is not an RFC 3339 timestamp (no `T` between date and time)"
        ));
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))?;
    let millis = parsed.unix_timestamp_nanos().div_euclid(1_000_000);
    u64::try_from(millis).map_err(|_| format!("{text:?} is before 1970-01-01T00:00:00Z"))
}

/// Formats Unix milliseconds as RFC 3339 in UTC (`2026-11-01T10:00:01Z`; milliseconds shown
/// only when non-zero).
pub fn format_rfc3339(millis: Millis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{millis}ms"))
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
