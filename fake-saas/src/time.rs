//! How times look on the wire: RFC 3339, UTC, microseconds, `+00:00`.
//!
//! Why a module of its own: every time the fake sends (token answers, session status, journal,
//! admin bodies) goes through [`format`] or the [`rfc3339`] serde adapter, so all of them have the
//! same shape (`2026-11-22T16:28:58.767609+00:00`) and parse back to the same instant. It is
//! chrono's own RFC 3339 writer; `+00:00` rather than `Z` because it is what the real SaaS sends.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// RFC 3339 with microseconds and `+00:00`.
pub(crate) fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// `at + seconds` (seconds may be negative), saturating far in the past/future.
pub(crate) fn add_secs(at: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    let seconds = seconds.clamp(-10_000_000_000, 10_000_000_000);
    at.checked_add_signed(Duration::seconds(seconds))
        .unwrap_or(at)
}

/// serde adapter: writes [`format`], reads any RFC 3339 time (`Z` or an offset) into UTC.
/// (chrono's own serde support is not enabled in the workspace.)
pub(crate) mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};

    #[test]
    fn rfc3339_with_micros_and_offset() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(format(&t), "2026-01-02T03:04:05.000000+00:00");
        let t = t.with_nanosecond(120_000).unwrap();
        assert_eq!(format(&t), "2026-01-02T03:04:05.000120+00:00");
        let back = DateTime::parse_from_rfc3339(&format(&t)).unwrap();
        assert_eq!(back.with_timezone(&Utc), t);
    }
}
