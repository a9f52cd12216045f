//! Time as the CLI sees it: UTC, microsecond precision, ISO-8601 with `+00:00` (Python's
//! `isoformat()`), so expiries the fake reports compare exactly with what the CLI stores.

use chrono::{DateTime, Duration, Timelike, Utc};

/// Now, truncated to microseconds (the precision the session file keeps).
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    let micros = now.nanosecond() % 1_000_000_000 / 1_000;
    now.with_nanosecond(micros * 1_000).unwrap_or(now)
}

/// `now + seconds` (seconds may be negative), saturating far in the past/future.
pub(crate) fn add_secs(at: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    let seconds = seconds.clamp(-10_000_000_000, 10_000_000_000);
    at.checked_add_signed(Duration::seconds(seconds))
        .unwrap_or(at)
}

/// Python `isoformat()` of an aware UTC time: fraction (6 digits) only when non-zero.
pub fn iso(at: &DateTime<Utc>) -> String {
    if at.timestamp_subsec_micros() == 0 {
        at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// Parse RFC 3339 (`Z` or an offset) into UTC.
pub(crate) fn parse_iso(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// serde adapter writing [`iso`] and reading RFC 3339 (chrono's own serde support is not enabled
/// in the workspace, and would write `Z` instead of `+00:00`).
pub(crate) mod iso_serde {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::iso(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_iso(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn iso_matches_python() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(iso(&t), "2026-01-02T03:04:05+00:00");
        let t = t.with_nanosecond(120_000).unwrap();
        assert_eq!(iso(&t), "2026-01-02T03:04:05.000120+00:00");
        assert_eq!(parse_iso(&iso(&t)), Some(t));
    }
}
