//! The session model: what `session.json` decrypts to.
//!
//! Byte compatibility with the Python original drives every choice here: keys are written in the
//! original's order with `json.dumps` spacing and ASCII escaping ([`crate::pyjson`]), unknown keys
//! survive a rewrite in their place, and a key that was absent on read stays absent on write (so
//! the test vectors, which predate `slug`, round-trip byte for byte). Times are coerced to UTC on
//! load and written as Python's `isoformat()` does.

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Seconds before expiry at which an access token counts as needing a refresh.
pub const REFRESH_BUFFER_S: i64 = 5;

/// What `Debug` output shows in place of a token: no `{:?}`, log line or panic message may
/// ever carry one.
pub const REDACTED: &str = "<redacted>";

/// The session's keys in the order the Python original writes them.
const KEY_ORDER: [&str; 16] = [
    "user_id",
    "email",
    "name",
    "teams",
    "default_team_id",
    "access_token",
    "refresh_token",
    "session_id",
    "issued_at",
    "access_token_expires_at",
    "refresh_token_expires_at",
    "scope",
    "storage_backend",
    "last_used_at",
    "auth_method",
    "generation",
];

/// A team membership. Files from versions before `slug` existed lack it; it then reads as `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Team {
    /// Team id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The user's role in the team.
    pub role: String,
    /// Whether this is the user's private teamspace (false when absent, as in the original).
    #[serde(default)]
    pub is_private_teamspace: bool,
    /// URL slug; `None` when the file predates it (kept absent on rewrite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Keys this version does not know, preserved across a rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Team {
    /// The slug, falling back to the id for files that predate slugs.
    pub fn slug(&self) -> &str {
        self.slug.as_deref().unwrap_or(&self.id)
    }
}

/// Where the keys of a session read from disk stood, so a rewrite keeps the file's shape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyLayout {
    /// Every key of the object read, in file order; empty for sessions created in memory.
    order: Vec<String>,
}

/// A decrypted session. All fields are public so tests and the scenario runner can build one;
/// use [`StoredSession::from_json`] / [`StoredSession::to_json`] for the on-disk form. Its `Debug`
/// shows no token.
#[derive(Clone, PartialEq, Default)]
pub struct StoredSession {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub teams: Vec<Team>,
    pub default_team_id: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
    pub issued_at: DateTime<Utc>,
    pub access_token_expires_at: DateTime<Utc>,
    /// `None` when the server never said (the refresh token's lifetime is then unknown).
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub scope: String,
    /// Always `"file"` for sessions this crate writes.
    pub storage_backend: String,
    pub last_used_at: DateTime<Utc>,
    /// `"authorization_code"` or `"device_code"`.
    pub auth_method: String,
    /// The server's refresh-token generation, when it reports one.
    pub generation: Option<i64>,
    /// Keys this version does not know, preserved across a rewrite.
    pub extra: Map<String, Value>,
    /// Where the keys stood when read (keeps absent keys absent). Default for new sessions.
    pub layout: KeyLayout,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("session_id", &self.session_id)
            .field("access_token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .field("generation", &self.generation)
            .field("teams", &self.teams.len())
            .finish_non_exhaustive()
    }
}

/// Why a decrypted plaintext is not a session.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionFormatError {
    #[error("plaintext is not JSON: {0}")]
    NotJson(String),
    #[error("plaintext is not a JSON object")]
    NotObject,
    #[error("required key `{0}` is missing")]
    Missing(&'static str),
    #[error("key `{key}` has the wrong type: {reason}")]
    BadValue { key: &'static str, reason: String },
}

impl StoredSession {
    /// The identity of the session material: `(session_id, refresh_token)`.
    pub fn material(&self) -> (&str, &str) {
        (&self.session_id, &self.refresh_token)
    }

    /// Whether `other` carries the same material (byte-equal session id and refresh token).
    pub fn same_material(&self, other: &StoredSession) -> bool {
        self.material() == other.material()
    }

    /// Whether the access token is usable at `now`: it expires more than [`REFRESH_BUFFER_S`] later.
    pub fn access_usable(&self, now: DateTime<Utc>) -> bool {
        self.access_token_expires_at > now + chrono::Duration::seconds(REFRESH_BUFFER_S)
    }

    /// Whether the refresh token is known locally to be past its absolute lifetime at `now`.
    pub fn refresh_expired(&self, now: DateTime<Utc>) -> bool {
        self.refresh_token_expires_at.is_some_and(|t| t <= now)
    }

    /// Parses a decrypted plaintext. Times are coerced to UTC; unknown keys are kept.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SessionFormatError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| SessionFormatError::NotJson(e.to_string()))?;
        let Value::Object(mut obj) = value else {
            return Err(SessionFormatError::NotObject);
        };
        let layout = KeyLayout {
            order: obj.keys().cloned().collect(),
        };
        let mut s = StoredSession {
            user_id: take_string(&mut obj, "user_id", true)?,
            email: take_string(&mut obj, "email", false)?,
            name: take_string(&mut obj, "name", false)?,
            teams: match obj.shift_remove("teams") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => serde_json::from_value(v).map_err(|e| SessionFormatError::BadValue {
                    key: "teams",
                    reason: e.to_string(),
                })?,
            },
            default_team_id: take_opt_string(&mut obj, "default_team_id")?,
            access_token: take_string(&mut obj, "access_token", true)?,
            refresh_token: take_string(&mut obj, "refresh_token", true)?,
            session_id: take_string(&mut obj, "session_id", true)?,
            issued_at: take_time(&mut obj, "issued_at")?.unwrap_or_default(),
            access_token_expires_at: take_time(&mut obj, "access_token_expires_at")?
                .ok_or(SessionFormatError::Missing("access_token_expires_at"))?,
            // The original reads an empty string as "not known".
            refresh_token_expires_at: match obj.get("refresh_token_expires_at") {
                Some(Value::String(s)) if s.trim().is_empty() => {
                    obj.shift_remove("refresh_token_expires_at");
                    None
                }
                _ => take_time(&mut obj, "refresh_token_expires_at")?,
            },
            scope: take_string(&mut obj, "scope", false)?,
            storage_backend: take_string(&mut obj, "storage_backend", false)?,
            last_used_at: take_time(&mut obj, "last_used_at")?.unwrap_or_default(),
            auth_method: take_string(&mut obj, "auth_method", false)?,
            generation: match obj.shift_remove("generation") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().ok_or(SessionFormatError::BadValue {
                    key: "generation",
                    reason: "expected an integer or null".into(),
                })?),
            },
            extra: Map::new(),
            layout,
        };
        s.extra = obj;
        Ok(s)
    }

    /// The plaintext as the Python original writes it: keys in the original's order (or the
    /// order they were read in), `json.dumps` spacing, non-ASCII escaped.
    pub fn to_json(&self) -> Vec<u8> {
        let mut known = self.known_values();
        let mut out = Map::new();
        for key in &self.layout.order {
            if let Some(v) = known.shift_remove(key.as_str()) {
                out.insert(key.clone(), v);
            } else if let Some(v) = self.extra.get(key) {
                out.insert(key.clone(), v.clone());
            }
        }
        // A session read from disk keeps exactly the keys it had: a key absent on read stays
        // absent. A session created in memory carries every key.
        if self.layout.order.is_empty() {
            out.extend(known);
        }
        for (key, v) in &self.extra {
            if !out.contains_key(key) {
                out.insert(key.clone(), v.clone());
            }
        }
        crate::pyjson::to_vec(&Value::Object(out))
    }

    /// The known fields as JSON values, in the original's key order.
    fn known_values(&self) -> Map<String, Value> {
        let time = |t: &DateTime<Utc>| Value::String(format_time(*t));
        let values: [Value; 16] = [
            self.user_id.clone().into(),
            self.email.clone().into(),
            self.name.clone().into(),
            serde_json::to_value(&self.teams).unwrap_or_default(),
            self.default_team_id.clone().into(),
            self.access_token.clone().into(),
            self.refresh_token.clone().into(),
            self.session_id.clone().into(),
            time(&self.issued_at),
            time(&self.access_token_expires_at),
            self.refresh_token_expires_at
                .as_ref()
                .map(time)
                .unwrap_or(Value::Null),
            self.scope.clone().into(),
            self.storage_backend.clone().into(),
            time(&self.last_used_at),
            self.auth_method.clone().into(),
            self.generation.into(),
        ];
        KEY_ORDER
            .iter()
            .zip(values)
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

fn take_string(
    obj: &mut Map<String, Value>,
    key: &'static str,
    required: bool,
) -> Result<String, SessionFormatError> {
    match obj.shift_remove(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err(SessionFormatError::Missing(key)),
        Some(_) => Err(SessionFormatError::BadValue {
            key,
            reason: "expected a string".into(),
        }),
    }
}

fn take_opt_string(
    obj: &mut Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, SessionFormatError> {
    match obj.shift_remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SessionFormatError::BadValue {
            key,
            reason: "expected a string or null".into(),
        }),
    }
}

fn take_time(
    obj: &mut Map<String, Value>,
    key: &'static str,
) -> Result<Option<DateTime<Utc>>, SessionFormatError> {
    match obj.shift_remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            parse_time(&s)
                .map(Some)
                .ok_or_else(|| SessionFormatError::BadValue {
                    key,
                    reason: format!("`{s}` is not an ISO-8601 time"),
                })
        }
        Some(_) => Err(SessionFormatError::BadValue {
            key,
            reason: "expected an ISO-8601 string".into(),
        }),
    }
}

/// Parses an ISO-8601 time: with an offset (converted to UTC), `Z`, with or without a fraction,
/// or naive (taken as UTC).
///
/// Only what Python's `datetime` holds is a time: years 1 to 9999 (in UTC), which
/// [`format_time`] writes with four digits, and no leap second (`:60`, which chrono keeps as a
/// second of 1.x s). Either would be written in a form neither this crate nor the original
/// reads back the same, so a session saved with it (a server's `refresh_token_expires_at`)
/// would become unreadable or change at every rewrite.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    parse_any_year(s)
        .filter(|t| (1..=9999).contains(&t.year()) && t.timestamp_subsec_nanos() < 1_000_000_000)
}

fn parse_any_year(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Python's isoformat() may use a space instead of `T`.
    let t_form = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&t_form) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(&t_form, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Formats a time as Python's `datetime.isoformat()` does for an aware UTC value: microseconds,
/// the fraction omitted when it is zero, `+00:00`.
pub fn format_time(t: DateTime<Utc>) -> String {
    let micros = t.timestamp_subsec_micros();
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    if micros == 0 {
        format!("{base}+00:00")
    } else {
        format!("{base}.{micros:06}+00:00")
    }
}

/// RFC 3339 with seconds precision, for human and JSON reports.
pub fn format_report_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_PLAINTEXT: &str = r#"{"user_id": "user_seed", "email": "seed@example.com", "name": "Seed User", "teams": [{"id": "t-seed", "name": "T", "role": "owner", "is_private_teamspace": false}], "default_team_id": "t-seed", "access_token": "at_seed_v1", "refresh_token": "rt_seed_v1", "session_id": "sess_seed", "issued_at": "2026-04-28T10:30:00.123456+00:00", "access_token_expires_at": "2026-04-28T10:45:00.123456+00:00", "refresh_token_expires_at": "2026-05-28T10:30:00.123456+00:00", "scope": "openid offline_access", "storage_backend": "file", "last_used_at": "2026-04-28T10:30:00.123456+00:00", "auth_method": "authorization_code", "generation": null}"#;

    #[test]
    fn vector_plaintext_round_trips_byte_for_byte() {
        let s = StoredSession::from_json(VECTOR_PLAINTEXT.as_bytes()).unwrap();
        assert_eq!(s.teams[0].slug, None);
        assert_eq!(s.teams[0].slug(), "t-seed");
        assert_eq!(s.generation, None);
        assert_eq!(String::from_utf8(s.to_json()).unwrap(), VECTOR_PLAINTEXT);
    }

    #[test]
    fn unknown_keys_survive_in_place_and_absent_keys_stay_absent() {
        let src = r#"{"user_id": "u", "future_key": {"a": [1, 2]}, "access_token": "a", "refresh_token": "r", "session_id": "s", "access_token_expires_at": "2026-01-01T00:00:00Z"}"#;
        let mut s = StoredSession::from_json(src.as_bytes()).unwrap();
        s.access_token = "a2".into();
        let out = String::from_utf8(s.to_json()).unwrap();
        assert!(
            out.starts_with(
                r#"{"user_id": "u", "future_key": {"a": [1, 2]}, "access_token": "a2""#
            ),
            "{out}"
        );
        assert!(!out.contains("generation"), "absent key written: {out}");
        assert!(!out.contains("refresh_token_expires_at"), "{out}");
        assert!(out.contains(r#""access_token_expires_at": "2026-01-01T00:00:00+00:00""#));
    }

    #[test]
    fn every_known_key_absent_on_read_stays_absent_after_a_rewrite() {
        let src = r#"{"user_id": "u", "access_token": "a", "refresh_token": "r", "session_id": "s", "access_token_expires_at": "2026-01-01T00:00:00+00:00"}"#;
        let mut s = StoredSession::from_json(src.as_bytes()).unwrap();
        // What a refresh changes: none of it may add a key the file did not have.
        s.access_token = "a2".into();
        s.issued_at = Utc::now();
        s.last_used_at = Utc::now();
        s.generation = Some(3);
        s.refresh_token_expires_at = Some(Utc::now());
        s.scope = "openid".into();
        let out = String::from_utf8(s.to_json()).unwrap();
        assert_eq!(
            out,
            r#"{"user_id": "u", "access_token": "a2", "refresh_token": "r", "session_id": "s", "access_token_expires_at": "2026-01-01T00:00:00+00:00"}"#
        );
    }

    #[test]
    fn an_empty_refresh_expiry_reads_as_unknown_and_a_team_without_the_flag_as_shared() {
        let src = r#"{"user_id": "u", "teams": [{"id": "t", "name": "T", "role": "member"}], "access_token": "a", "refresh_token": "r", "session_id": "s", "access_token_expires_at": "2026-01-01T00:00:00+00:00", "refresh_token_expires_at": ""}"#;
        let s = StoredSession::from_json(src.as_bytes()).unwrap();
        assert_eq!(s.refresh_token_expires_at, None);
        assert!(!s.teams[0].is_private_teamspace);
        assert_eq!(s.teams[0].slug(), "t");
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let s = StoredSession {
            access_token: "SECRET-ACCESS".into(),
            refresh_token: "SECRET-REFRESH".into(),
            ..Default::default()
        };
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn new_sessions_carry_every_key_in_order() {
        let s = StoredSession {
            teams: vec![Team {
                id: "t".into(),
                slug: Some("t-slug".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let out: Value = serde_json::from_slice(&s.to_json()).unwrap();
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, KEY_ORDER.to_vec());
        assert_eq!(out["teams"][0]["slug"], "t-slug");
    }

    #[test]
    fn times_coerce_to_utc_and_format_like_python() {
        let t = parse_time("2026-04-28T12:30:00.5+02:00").unwrap();
        assert_eq!(format_time(t), "2026-04-28T10:30:00.500000+00:00");
        let naive = parse_time("2026-04-28T10:30:00").unwrap();
        assert_eq!(format_time(naive), "2026-04-28T10:30:00+00:00");
        assert_eq!(parse_time("2026-04-28T10:30:00Z"), Some(naive));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn non_ascii_is_escaped_like_python() {
        let s = StoredSession {
            name: "Zoë 🐱".into(),
            ..Default::default()
        };
        let out = String::from_utf8(s.to_json()).unwrap();
        assert!(out.contains(r#""name": "Zo\u00eb \ud83d\udc31""#), "{out}");
    }

    #[test]
    fn missing_required_key_is_named() {
        let err = StoredSession::from_json(br#"{"user_id": "u"}"#).unwrap_err();
        assert_eq!(err, SessionFormatError::Missing("access_token"));
    }

    #[test]
    fn usability_uses_the_refresh_buffer() {
        let now = Utc::now();
        let s = StoredSession {
            access_token_expires_at: now + chrono::Duration::seconds(4),
            refresh_token_expires_at: Some(now - chrono::Duration::seconds(1)),
            ..Default::default()
        };
        assert!(!s.access_usable(now));
        assert!(s.refresh_expired(now));
    }
}
