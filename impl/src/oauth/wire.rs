//! The answers of the non-refresh endpoints (device authorization and polling, revoke,
//! `/api/v1/me`, session-status) as types, and the pure functions that turn an [`HttpAnswer`]
//! into them.
//!
//! Why apart from the client: like [`super::answer`], this is where a server we do not control is
//! judged, so it must never panic and every bad answer must be a typed error. Keeping it free of
//! I/O lets the property tests and the fuzz targets feed it any bytes directly.

use super::answer::{error_code, parse_grant, redirect_message, HttpAnswer, TokenGrant};
use crate::session::Team;
use serde::Deserialize;
use std::fmt;

/// Why an answer of a non-refresh endpoint is not the expected one (the client adds the URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// A 3xx: never followed, described with its target.
    #[error("{0}")]
    Redirect(String),
    /// Any other status than 200, with the body's OAuth error code when it has one.
    #[error("HTTP {status}: {detail}")]
    Status { status: u16, detail: String },
    /// A 200 whose body is not the documented JSON.
    #[error("malformed body: {0}")]
    Malformed(String),
}

/// The body of a 200 answer, or the status (with the body's error code) as an error.
pub fn ok_body(answer: &HttpAnswer) -> Result<&[u8], AnswerError> {
    match answer.status {
        200 => Ok(&answer.body),
        300..=399 => Err(AnswerError::Redirect(redirect_message(answer))),
        status => Err(AnswerError::Status {
            status,
            detail: error_code(&answer.body).unwrap_or_else(|| "no error code".into()),
        }),
    }
}

/// A 200 answer's body as `T`.
pub fn json_answer<T: serde::de::DeserializeOwned>(answer: &HttpAnswer) -> Result<T, AnswerError> {
    serde_json::from_slice(ok_body(answer)?).map_err(|e| AnswerError::Malformed(e.to_string()))
}

/// `POST /oauth/revoke` (RFC 7009): any 200 is success, whatever its body.
pub fn revoke_answer(answer: &HttpAnswer) -> Result<(), AnswerError> {
    ok_body(answer).map(drop)
}

/// One poll of the device token endpoint as its type.
pub fn classify_device_poll(answer: &HttpAnswer) -> DevicePoll {
    match answer.status {
        200 => match parse_grant(&answer.body) {
            Ok(grant) => DevicePoll::Granted(grant),
            Err(reason) => DevicePoll::Failed(reason),
        },
        300..=399 => DevicePoll::Failed(redirect_message(answer)),
        status => match error_code(&answer.body).as_deref() {
            Some("authorization_pending") => DevicePoll::Pending,
            Some("slow_down") => DevicePoll::SlowDown,
            Some("access_denied") => DevicePoll::Denied,
            Some("expired_token") => DevicePoll::Expired,
            other => DevicePoll::Failed(format!(
                "HTTP {status} {}",
                other.unwrap_or("without an error code")
            )),
        },
    }
}

/// RFC 8628 device authorization answer. Its `Debug` never shows the device code.
#[derive(Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    #[serde(default = "default_device_expiry")]
    pub expires_in: u64,
    #[serde(default = "default_interval")]
    pub interval: u64,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &crate::session::REDACTED)
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

fn default_device_expiry() -> u64 {
    900
}
fn default_interval() -> u64 {
    5
}

/// One poll of the device token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum DevicePoll {
    Granted(TokenGrant),
    Pending,
    SlowDown,
    Denied,
    Expired,
    /// Transient or unexpected answer; the poll may be retried.
    Failed(String),
}

/// A team as `/api/v1/me` lists it. `is_private_teamspace` defaults to false and `slug` to the id,
/// as in the original.
#[derive(Debug, Clone, Deserialize)]
pub struct ProfileTeam {
    pub id: String,
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub is_private_teamspace: bool,
    #[serde(default)]
    pub slug: Option<String>,
}

impl From<ProfileTeam> for Team {
    fn from(t: ProfileTeam) -> Team {
        Team {
            slug: Some(
                t.slug
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| t.id.clone()),
            ),
            id: t.id,
            name: t.name,
            role: t.role,
            is_private_teamspace: t.is_private_teamspace,
            extra: Default::default(),
        }
    }
}

/// The `/api/v1/me` profile.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub teams: Vec<ProfileTeam>,
    /// The refresh token's absolute expiry, when the server reports it here.
    #[serde(default)]
    pub refresh_token_expires_at: Option<String>,
}

/// The `/api/v1/session-status` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionStatus {
    pub session_id: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub generation: Option<i64>,
}
