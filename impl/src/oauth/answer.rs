//! Turning the bytes a server answered into types: pure functions, no I/O.
//!
//! Why apart from the client: this is where outside input is judged, so it must never panic and
//! never guess. Numbers are read as the Python original reads them (an integer, an integral float
//! or a numeric string) with checked arithmetic and lifetimes clamped to documented bounds; a
//! rejection is recognised only by status and error code, and its cause only from the structured
//! `error_reason` field, never from free text. A 200 that rotated the refresh token but is
//! malformed elsewhere still yields its tokens (flagged), because losing a rotated refresh token
//! costs the session on the next refresh.

use crate::session::parse_time;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::fmt;

/// Access-token lifetime assumed when the server omits `expires_in` (as the original does).
pub const DEFAULT_EXPIRES_IN_S: i64 = 3600;
/// Access-token lifetimes are clamped to `[0, 30 days]`: a longer one only means refreshing early.
pub const MAX_ACCESS_LIFETIME_S: i64 = 30 * 86_400;
/// Relative refresh-token lifetimes are clamped to `[0, 10 years]` (never shortened in practice).
pub const MAX_REFRESH_LIFETIME_S: i64 = 3650 * 86_400;

/// What one HTTP exchange returned, before any interpretation.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// The `Location` header of a redirect, for the message (never followed).
    pub location: Option<String>,
    /// May hold tokens (a 200 from the token endpoint): never in `Debug`.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAnswer")
            .field("status", &self.status)
            .field("location", &self.location)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// When the refresh token expires, as the server said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshExpiry {
    /// `refresh_token_expires_at` (absolute).
    At(DateTime<Utc>),
    /// `refresh_token_expires_in` seconds from the answer, clamped.
    In(i64),
}

impl RefreshExpiry {
    /// The absolute expiry for an answer received at `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            RefreshExpiry::At(t) => t,
            RefreshExpiry::In(s) => after(now, s),
        }
    }
}

/// A successful token answer. Its `Debug` never shows a token.
#[derive(Clone, PartialEq)]
pub struct TokenGrant {
    /// Empty only when the answer rotated the refresh token but carried no access token (then
    /// [`TokenGrant::problem`] says so).
    pub access_token: String,
    /// `None` when the server did not rotate: keep the old refresh token.
    pub refresh_token: Option<String>,
    /// Access-token lifetime in seconds, clamped to `[0, MAX_ACCESS_LIFETIME_S]`.
    pub expires_in: i64,
    /// `None`: the server did not say; keep what is known.
    pub refresh_expiry: Option<RefreshExpiry>,
    pub scope: Option<String>,
    pub generation: Option<i64>,
    /// The server's session id, when it says (device grants create a session).
    pub session_id: Option<String>,
    /// Why part of the answer could not be read. The tokens are still to be saved (the server
    /// has already rotated), but the access token's lifetime must not be trusted.
    pub problem: Option<String>,
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &crate::session::REDACTED)
            .field(
                "refresh_token",
                &self
                    .refresh_token
                    .as_ref()
                    .map(|_| crate::session::REDACTED),
            )
            .field("expires_in", &self.expires_in)
            .field("refresh_expiry", &self.refresh_expiry)
            .field("scope", &self.scope)
            .field("generation", &self.generation)
            .field("session_id", &self.session_id)
            .field("problem", &self.problem)
            .finish()
    }
}

/// The structured cause of a rejection (`error_reason` in the body), when the server gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionReason {
    /// The session was revoked (by the user elsewhere, or an administrator).
    Revoked,
    /// A reuse of a rotated refresh token was detected and the whole family revoked.
    FamilyRevoked,
    /// The refresh token reached its absolute lifetime.
    LifetimeExpired,
    /// The refresh token was already rotated out by an earlier refresh.
    RotatedOut,
    /// The server does not know this token.
    UnknownToken,
}

impl RejectionReason {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "revoked" => RejectionReason::Revoked,
            "family_revoked" => RejectionReason::FamilyRevoked,
            "lifetime_expired" => RejectionReason::LifetimeExpired,
            "rotated_out" => RejectionReason::RotatedOut,
            "unknown_token" => RejectionReason::UnknownToken,
            _ => return None,
        })
    }
}

/// Every answer of `POST /oauth/token` for a refresh, as a type.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshResponse {
    /// 200 with at least one usable token.
    Granted(TokenGrant),
    /// 400/401 `invalid_grant` or `session_invalid`: the server refuses this token.
    Rejected {
        error: String,
        reason: Option<RejectionReason>,
    },
    /// 409 `refresh_replay_benign_retry`: the token was already spent by a concurrent refresh.
    Replay { retry_after: Option<u64> },
    /// Anything else (5xx, 3xx, timeouts, connection errors, malformed bodies, other 4xx): not a
    /// verdict on the token, so it never deletes anything.
    Transient(String),
}

/// Maps a token-endpoint answer to its type.
pub fn classify_refresh(answer: &HttpAnswer) -> RefreshResponse {
    let body = &answer.body;
    match answer.status {
        200 => match parse_grant(body) {
            Ok(grant) => RefreshResponse::Granted(grant),
            Err(reason) => RefreshResponse::Transient(reason),
        },
        300..=399 => RefreshResponse::Transient(redirect_message(answer)),
        400 | 401 => match error_code(body).as_deref() {
            Some(code @ ("invalid_grant" | "session_invalid")) => RefreshResponse::Rejected {
                error: code.to_string(),
                reason: string_field(body, "error_reason")
                    .as_deref()
                    .and_then(RejectionReason::parse),
            },
            other => RefreshResponse::Transient(status_message(answer.status, other)),
        },
        409 if error_code(body).as_deref() == Some("refresh_replay_benign_retry") => {
            RefreshResponse::Replay {
                retry_after: json_object(body)
                    .and_then(|v| v.get("retry_after").and_then(|r| seconds(r).ok()))
                    .map(|s| s.clamp(0, 3600) as u64),
            }
        }
        status => RefreshResponse::Transient(status_message(status, error_code(body).as_deref())),
    }
}

/// "the server redirected to …; OAuth requests never follow redirects".
pub fn redirect_message(answer: &HttpAnswer) -> String {
    format!(
        "the server answered HTTP {} redirecting to {}; OAuth requests never follow redirects (check SPEC_KITTY_SAAS_URL)",
        answer.status,
        answer
            .location
            .as_deref()
            .map(|l| sanitize(l, 200))
            .unwrap_or_else(|| "nowhere".into())
    )
}

fn status_message(status: u16, code: Option<&str>) -> String {
    format!(
        "token endpoint answered HTTP {status} ({})",
        code.unwrap_or("no error code")
    )
}

/// Parses a 200 token answer (refresh or device grant).
pub fn parse_grant(body: &[u8]) -> Result<TokenGrant, String> {
    let v = json_object(body)
        .ok_or("token endpoint answered 200 with a body that is not a JSON object")?;
    let mut problems = Vec::new();
    let mut token = |key: &str| match v.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            problems.push(format!("`{key}` is not a non-empty string"));
            None
        }
    };
    let access_token = token("access_token");
    let refresh_token = token("refresh_token");
    if access_token.is_none() && refresh_token.is_none() {
        return Err("token endpoint answered 200 without an access_token".into());
    }
    if access_token.is_none() {
        problems.push("no `access_token`".into());
    }
    let expires_in = match v.get("expires_in") {
        None | Some(Value::Null) => DEFAULT_EXPIRES_IN_S,
        Some(raw) => match seconds(raw) {
            Ok(s) => s.clamp(0, MAX_ACCESS_LIFETIME_S),
            Err(why) => {
                problems.push(format!("`expires_in` {why}"));
                0
            }
        },
    };
    let refresh_expiry = match v.get("refresh_token_expires_at") {
        Some(Value::String(s)) if !s.trim().is_empty() => match parse_time(s) {
            Some(t) => Some(RefreshExpiry::At(t)),
            None => {
                problems.push("`refresh_token_expires_at` is not an ISO-8601 time".into());
                None
            }
        },
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => {
            problems.push("`refresh_token_expires_at` is not a string".into());
            None
        }
    }
    .or_else(|| {
        // Like the original: an unreadable relative form is ignored, the old expiry kept.
        v.get("refresh_token_expires_in")
            .and_then(|raw| seconds(raw).ok())
            .map(|s| RefreshExpiry::In(s.clamp(0, MAX_REFRESH_LIFETIME_S)))
    });
    Ok(TokenGrant {
        access_token: access_token.unwrap_or_default(),
        refresh_token,
        expires_in,
        refresh_expiry,
        scope: v.get("scope").and_then(Value::as_str).map(str::to_string),
        generation: v.get("generation").and_then(Value::as_i64),
        session_id: v
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}

/// A number of seconds as Python's `int()` reads it from JSON: an integer, an integral float or
/// a numeric string (optional sign, digits). Values beyond `i64` saturate; callers clamp.
pub fn seconds(raw: &Value) -> Result<i64, String> {
    match raw {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if n.as_u64().is_some() {
                Ok(i64::MAX)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f.fract() == 0.0 {
                    // `as` saturates at the i64 bounds.
                    Ok(f as i64)
                } else {
                    Err(format!("is not a whole number of seconds ({n})"))
                }
            }
        }
        Value::String(s) => {
            let t = s.trim();
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("is not a number ({:?})", sanitize(s, 40)));
            }
            Ok(t.parse::<i64>().unwrap_or(if t.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            }))
        }
        other => Err(format!("has the wrong type ({})", type_name(other))),
    }
}

/// `now + secs`, never panicking (saturates at the far future or past chrono can represent).
pub fn after(now: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    chrono::TimeDelta::try_seconds(secs)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(if secs >= 0 {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn string_field(body: &[u8], field: &str) -> Option<String> {
    json_object(body)?
        .get(field)?
        .as_str()
        .map(|s| sanitize(s, 80))
}

/// The body's OAuth `error` code, made safe to print.
pub fn error_code(body: &[u8]) -> Option<String> {
    string_field(body, "error")
}

/// Keeps server text printable and short: it ends up in one-line messages.
fn sanitize(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_never_shows_the_body() {
        let a = answer(
            200,
            br#"{"access_token": "at-secret", "refresh_token": "rt-secret"}"#,
        );
        let shown = format!("{a:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("200") && shown.contains("bytes"), "{shown}");
    }

    fn answer(status: u16, body: &[u8]) -> HttpAnswer {
        HttpAnswer {
            status,
            location: None,
            body: body.to_vec(),
        }
    }

    #[test]
    fn classification_is_by_status_and_code() {
        let rejected = classify_refresh(&answer(400, br#"{"error":"invalid_grant"}"#));
        assert_eq!(
            rejected,
            RefreshResponse::Rejected {
                error: "invalid_grant".into(),
                reason: None
            }
        );
        let revoked = classify_refresh(&answer(
            401,
            br#"{"error":"session_invalid","error_reason":"family_revoked"}"#,
        ));
        assert_eq!(
            revoked,
            RefreshResponse::Rejected {
                error: "session_invalid".into(),
                reason: Some(RejectionReason::FamilyRevoked)
            }
        );
        for (status, body) in [
            (400, &br#"{"error":"invalid_client"}"#[..]),
            (409, br#"{"error":"something_else"}"#),
            (200, b"not json"),
            (200, b"[1]"),
            (503, b""),
            (307, b""),
        ] {
            assert!(
                matches!(
                    classify_refresh(&answer(status, body)),
                    RefreshResponse::Transient(_)
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn seconds_accept_what_python_int_accepts() {
        for (raw, want) in [
            (json!(300), 300),
            (json!(300.0), 300),
            (json!("300"), 300),
            (json!(" +300 "), 300),
            (json!(-5), -5),
            (json!(u64::MAX), i64::MAX),
            (json!("99999999999999999999999"), i64::MAX),
            (json!(1e300), i64::MAX),
        ] {
            assert_eq!(seconds(&raw), Ok(want), "{raw}");
        }
        for raw in [
            json!(300.5),
            json!("300.0"),
            json!("abc"),
            json!(""),
            json!(true),
            json!([300]),
        ] {
            assert!(seconds(&raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn huge_lifetimes_are_clamped_not_panicking() {
        let grant = parse_grant(
            br#"{"access_token":"a","refresh_token":"r","expires_in":9223372036854775807,"refresh_token_expires_in":9223372036854775807}"#,
        )
        .unwrap();
        assert_eq!(grant.expires_in, MAX_ACCESS_LIFETIME_S);
        assert_eq!(
            grant.refresh_expiry,
            Some(RefreshExpiry::In(MAX_REFRESH_LIFETIME_S))
        );
        assert!(grant.problem.is_none());
        let now = Utc::now();
        assert!(grant.refresh_expiry.unwrap().resolve(now) > now);
        assert_eq!(after(now, i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(after(now, i64::MIN), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn a_rotated_answer_with_a_bad_field_keeps_its_tokens() {
        let grant = parse_grant(br#"{"access_token":"a","refresh_token":"r","expires_in":"soon"}"#)
            .unwrap();
        assert_eq!(grant.refresh_token.as_deref(), Some("r"));
        assert!(grant.problem.unwrap().contains("expires_in"));
        let only_refresh = parse_grant(br#"{"refresh_token":"r2"}"#).unwrap();
        assert_eq!(only_refresh.access_token, "");
        assert!(only_refresh.problem.is_some());
        assert!(parse_grant(br#"{"expires_in":3}"#).is_err());
    }

    #[test]
    fn a_redirect_names_its_target_and_is_never_a_verdict() {
        let r = classify_refresh(&HttpAnswer {
            status: 307,
            location: Some("http://elsewhere.example/oauth/token".into()),
            body: Vec::new(),
        });
        let RefreshResponse::Transient(msg) = r else {
            panic!("{r:?}")
        };
        assert!(msg.contains("elsewhere.example"), "{msg}");
        assert!(msg.contains("never follow redirects"), "{msg}");
    }

    #[test]
    fn debug_never_shows_a_token() {
        let grant =
            parse_grant(br#"{"access_token":"SECRET-A","refresh_token":"SECRET-R"}"#).unwrap();
        let shown = format!("{:?}", RefreshResponse::Granted(grant));
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
