//! The OAuth client for the SaaS: token refresh, device authorization (RFC 8628), revocation
//! (RFC 7009) and the profile endpoint.
//!
//! Every answer of the token endpoint becomes a typed [`RefreshResponse`] so the refresh
//! transaction decides on types, never on message text: a rejection of the token is the only
//! answer that can ever lead to deleting a session; everything else is transient.

use crate::session::{parse_time, Team};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::io::Read;
use std::time::Duration;

/// The OAuth client id of the CLI.
pub const CLIENT_ID: &str = "cli_native";
/// The bound on one token request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Access-token lifetime assumed when the server omits `expires_in`.
pub const DEFAULT_EXPIRES_IN_S: u64 = 3600;
/// Larger bodies are refused as malformed (a token response is a few hundred bytes).
const MAX_BODY: u64 = 1 << 20;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Errors of the non-refresh calls.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url} answered HTTP {status}: {detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{url} answered with a malformed body: {reason}")]
    Malformed { url: String, reason: String },
}

/// A successful token answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGrant {
    pub access_token: String,
    /// `None` when the server did not rotate: keep the old refresh token.
    pub refresh_token: Option<String>,
    pub expires_in: u64,
    /// From `refresh_token_expires_at`, else `now + refresh_token_expires_in`; `None`: keep the old.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
    pub generation: Option<i64>,
    /// The server's session id, when it says (device grants create a session).
    pub session_id: Option<String>,
}

/// Every answer of `POST /oauth/token` for a refresh, as a type.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshResponse {
    /// 200 with a usable body.
    Granted(TokenGrant),
    /// 400/401 `invalid_grant` or `session_invalid`: the server refuses this token.
    Rejected {
        error: String,
        description: Option<String>,
    },
    /// 409 `refresh_replay_benign_retry`: the token was already spent by a concurrent refresh.
    Replay { retry_after: Option<u64> },
    /// Anything else (5xx, timeouts, connection errors, malformed bodies, other 4xx): not a
    /// verdict on the token, so it never deletes anything.
    Transient(String),
}

/// RFC 8628 device authorization answer.
#[derive(Debug, Clone, Deserialize)]
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

/// The `/api/v1/me` profile.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    pub user_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub teams: Vec<Team>,
    #[serde(default)]
    pub default_team_id: Option<String>,
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

/// A blocking client for one SaaS base URL.
pub struct OAuthClient {
    base_url: String,
    http: reqwest::blocking::Client,
}

impl OAuthClient {
    /// A client whose every request is bounded by `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, OAuthError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("spec-kitty/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OAuthError::Client(e.to_string()))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// `POST /oauth/token` with `grant_type=refresh_token`.
    pub fn refresh(&self, refresh_token: &str) -> RefreshResponse {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
        ];
        let (status, body) = match self.post_form("/oauth/token", &form) {
            Ok(answer) => answer,
            Err(reason) => return RefreshResponse::Transient(reason),
        };
        classify_refresh(status, &body)
    }

    /// `POST /oauth/device/authorize`.
    pub fn device_authorize(&self, scope: &str) -> Result<DeviceAuthorization, OAuthError> {
        let url = self.url("/oauth/device/authorize");
        let (status, body) = self
            .post_form(
                "/oauth/device/authorize",
                &[("client_id", CLIENT_ID), ("scope", scope)],
            )
            .map_err(|reason| OAuthError::Transport {
                url: url.clone(),
                reason,
            })?;
        parse_json(&url, &ok_body(&url, status, body)?)
    }

    /// One poll of `POST /oauth/token` with the device-code grant.
    pub fn poll_device(&self, device_code: &str) -> DevicePoll {
        let form = [
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", CLIENT_ID),
        ];
        let (status, body) = match self.post_form("/oauth/token", &form) {
            Ok(answer) => answer,
            Err(reason) => return DevicePoll::Failed(reason),
        };
        if status == 200 {
            return match parse_grant(&body) {
                Ok(grant) => DevicePoll::Granted(grant),
                Err(reason) => DevicePoll::Failed(reason),
            };
        }
        match error_code(&body).as_deref() {
            Some("authorization_pending") => DevicePoll::Pending,
            Some("slow_down") => DevicePoll::SlowDown,
            Some("access_denied") => DevicePoll::Denied,
            Some("expired_token") => DevicePoll::Expired,
            other => DevicePoll::Failed(format!(
                "HTTP {status} {}",
                other.unwrap_or("without an error code")
            )),
        }
    }

    /// `POST /oauth/revoke` (RFC 7009). Any 200 is success.
    pub fn revoke(&self, token: &str, hint: &str) -> Result<(), OAuthError> {
        let url = self.url("/oauth/revoke");
        let form = [
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", CLIENT_ID),
        ];
        let (status, body) =
            self.post_form("/oauth/revoke", &form)
                .map_err(|reason| OAuthError::Transport {
                    url: url.clone(),
                    reason,
                })?;
        ok_body(&url, status, body).map(drop)
    }

    /// `GET /api/v1/me` with the access token.
    pub fn me(&self, access_token: &str) -> Result<Profile, OAuthError> {
        self.get_json("/api/v1/me", access_token)
    }

    /// `GET /api/v1/session-status` with the access token.
    pub fn session_status(&self, access_token: &str) -> Result<SessionStatus, OAuthError> {
        self.get_json("/api/v1/session-status", access_token)
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        access_token: &str,
    ) -> Result<T, OAuthError> {
        let url = self.url(path);
        let response = self
            .http
            .get(&url)
            .bearer_auth(access_token)
            .send()
            .map_err(|e| OAuthError::Transport {
                url: url.clone(),
                reason: describe(&e),
            })?;
        let status = response.status().as_u16();
        let body = read_capped(response).map_err(|reason| OAuthError::Malformed {
            url: url.clone(),
            reason,
        })?;
        parse_json(&url, &ok_body(&url, status, body)?)
    }

    /// Posts a form; returns (status, body) or a transport failure described without secrets.
    fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Result<(u16, Vec<u8>), String> {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let body = read_capped(response)?;
        Ok((status, body))
    }
}

/// The body of a 200 answer, or the status (with the body's error code) as an error.
fn ok_body(url: &str, status: u16, body: Vec<u8>) -> Result<Vec<u8>, OAuthError> {
    if status == 200 {
        return Ok(body);
    }
    Err(OAuthError::Status {
        url: url.to_string(),
        status,
        detail: error_code(&body).unwrap_or_else(|| "no error code".into()),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, OAuthError> {
    serde_json::from_slice(body).map_err(|e| OAuthError::Malformed {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// Maps a token-endpoint answer to its type.
fn classify_refresh(status: u16, body: &[u8]) -> RefreshResponse {
    match status {
        200 => match parse_grant(body) {
            Ok(grant) => RefreshResponse::Granted(grant),
            Err(reason) => RefreshResponse::Transient(reason),
        },
        400 | 401 => match error_code(body).as_deref() {
            Some(code @ ("invalid_grant" | "session_invalid")) => RefreshResponse::Rejected {
                error: code.to_string(),
                description: error_field(body, "error_description"),
            },
            other => RefreshResponse::Transient(format!(
                "token endpoint answered HTTP {status} ({})",
                other.unwrap_or("no error code")
            )),
        },
        409 if error_code(body).as_deref() == Some("refresh_replay_benign_retry") => {
            RefreshResponse::Replay {
                retry_after: json_body(body)
                    .and_then(|v| v.get("retry_after").and_then(Value::as_u64)),
            }
        }
        _ => RefreshResponse::Transient(format!(
            "token endpoint answered HTTP {status} ({})",
            error_code(body).unwrap_or_else(|| "no error code".into())
        )),
    }
}

fn parse_grant(body: &[u8]) -> Result<TokenGrant, String> {
    let v = json_body(body).ok_or("token endpoint answered 200 with a body that is not JSON")?;
    let access_token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("token endpoint answered 200 without an access_token")?
        .to_string();
    let refresh_token = v
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let refresh_token_expires_at = v
        .get("refresh_token_expires_at")
        .and_then(Value::as_str)
        .and_then(parse_time)
        .or_else(|| {
            v.get("refresh_token_expires_in")
                .and_then(Value::as_i64)
                .map(|s| Utc::now() + chrono::Duration::seconds(s))
        });
    Ok(TokenGrant {
        access_token,
        refresh_token,
        expires_in: v
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_EXPIRES_IN_S),
        refresh_token_expires_at,
        scope: v.get("scope").and_then(Value::as_str).map(str::to_string),
        generation: v.get("generation").and_then(Value::as_i64),
        session_id: v
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn json_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

fn error_field(body: &[u8], field: &str) -> Option<String> {
    json_body(body)?.get(field)?.as_str().map(str::to_string)
}

fn error_code(body: &[u8]) -> Option<String> {
    error_field(body, "error")
}

fn read_capped(response: reqwest::blocking::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    response
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("connection failed while reading the answer: {e}"))?;
    if body.len() as u64 > MAX_BODY {
        return Err("the answer is larger than 1 MiB".into());
    }
    Ok(body)
}

/// Describes a transport error without the URL's query or any request body.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        format!("request failed: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_is_by_status_and_code() {
        let rejected = classify_refresh(400, br#"{"error":"invalid_grant"}"#);
        assert!(
            matches!(rejected, RefreshResponse::Rejected { ref error, .. } if error == "invalid_grant")
        );
        let revoked = classify_refresh(401, br#"{"error":"session_invalid"}"#);
        assert!(
            matches!(revoked, RefreshResponse::Rejected { ref error, .. } if error == "session_invalid")
        );
        assert!(matches!(
            classify_refresh(400, br#"{"error":"invalid_client"}"#),
            RefreshResponse::Transient(_)
        ));
        assert!(matches!(
            classify_refresh(409, br#"{"error":"something_else"}"#),
            RefreshResponse::Transient(_)
        ));
        assert!(matches!(
            classify_refresh(200, b"not json"),
            RefreshResponse::Transient(_)
        ));
        assert!(matches!(
            classify_refresh(503, b""),
            RefreshResponse::Transient(_)
        ));
    }
}
