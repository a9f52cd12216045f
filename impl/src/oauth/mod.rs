//! The OAuth client for the SaaS: token refresh, device authorization (RFC 8628), revocation
//! (RFC 7009) and the profile endpoints.
//!
//! Every request is bounded by a [`Deadline`] covering connect, headers and the whole body, never
//! follows a redirect (a 3xx would forward the refresh token to another address), and hands its
//! bytes to [`answer`], which turns them into types without ever panicking. The token
//! endpoint's answer becomes a typed [`RefreshResponse`], so the refresh transaction decides on
//! types, never on message text.

mod answer;

pub use answer::{
    after, classify_refresh, parse_grant, seconds, HttpAnswer, RefreshExpiry, RefreshResponse,
    RejectionReason, TokenGrant, DEFAULT_EXPIRES_IN_S, MAX_ACCESS_LIFETIME_S,
    MAX_REFRESH_LIFETIME_S,
};

use crate::deadline::Deadline;
use crate::session::Team;
use answer::{error_code, redirect_message};
use serde::Deserialize;
use std::fmt;
use std::io::Read;
use std::time::Duration;

/// The OAuth client id of the CLI.
pub const CLIENT_ID: &str = "cli_native";
/// The bound on one request made outside the refresh lock (login, profile).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
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

/// A blocking client for one SaaS base URL.
pub struct OAuthClient {
    base_url: String,
    http: reqwest::blocking::Client,
    /// The bound on requests that are not given a deadline of their own.
    per_request: Duration,
}

impl OAuthClient {
    /// A client whose requests are bounded by `per_request` unless given a deadline.
    pub fn new(base_url: &str, per_request: Duration) -> Result<Self, OAuthError> {
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(per_request)
            .user_agent(concat!("spec-kitty/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OAuthError::Client(e.to_string()))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
            per_request,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    fn default_deadline(&self) -> Deadline {
        Deadline::after(self.per_request)
    }

    /// `POST /oauth/token` with `grant_type=refresh_token`, done by `deadline`.
    pub fn refresh(&self, refresh_token: &str, deadline: Deadline) -> RefreshResponse {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
        ];
        match self.post_form("/oauth/token", &form, deadline) {
            Ok(answer) => classify_refresh(&answer),
            Err(reason) => RefreshResponse::Transient(reason),
        }
    }

    /// `POST /oauth/device/authorize`.
    pub fn device_authorize(&self, scope: &str) -> Result<DeviceAuthorization, OAuthError> {
        let path = "/oauth/device/authorize";
        let answer = self
            .post_form(
                path,
                &[("client_id", CLIENT_ID), ("scope", scope)],
                self.default_deadline(),
            )
            .map_err(|reason| self.transport(path, reason))?;
        self.parse_json(path, &self.ok_body(path, answer)?)
    }

    /// One poll of `POST /oauth/token` with the device-code grant.
    pub fn poll_device(&self, device_code: &str) -> DevicePoll {
        let form = [
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", CLIENT_ID),
        ];
        let answer = match self.post_form("/oauth/token", &form, self.default_deadline()) {
            Ok(answer) => answer,
            Err(reason) => return DevicePoll::Failed(reason),
        };
        match answer.status {
            200 => match parse_grant(&answer.body) {
                Ok(grant) => DevicePoll::Granted(grant),
                Err(reason) => DevicePoll::Failed(reason),
            },
            300..=399 => DevicePoll::Failed(redirect_message(&answer)),
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

    /// `POST /oauth/revoke` (RFC 7009), done by `deadline`. Any 200 is success.
    pub fn revoke(&self, token: &str, hint: &str, deadline: Deadline) -> Result<(), OAuthError> {
        let path = "/oauth/revoke";
        let form = [
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", CLIENT_ID),
        ];
        let answer = self
            .post_form(path, &form, deadline)
            .map_err(|reason| self.transport(path, reason))?;
        self.ok_body(path, answer).map(drop)
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
        let request = self.http.get(self.url(path)).bearer_auth(access_token);
        let answer = send(request, self.default_deadline())
            .map_err(|reason| self.transport(path, reason))?;
        self.parse_json(path, &self.ok_body(path, answer)?)
    }

    fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        deadline: Deadline,
    ) -> Result<HttpAnswer, String> {
        send(self.http.post(self.url(path)).form(form), deadline)
    }

    fn transport(&self, path: &str, reason: String) -> OAuthError {
        OAuthError::Transport {
            url: self.url(path),
            reason,
        }
    }

    /// The body of a 200 answer, or the status (with the body's error code) as an error.
    fn ok_body(&self, path: &str, answer: HttpAnswer) -> Result<Vec<u8>, OAuthError> {
        match answer.status {
            200 => Ok(answer.body),
            300..=399 => Err(self.transport(path, redirect_message(&answer))),
            status => Err(OAuthError::Status {
                url: self.url(path),
                status,
                detail: error_code(&answer.body).unwrap_or_else(|| "no error code".into()),
            }),
        }
    }

    fn parse_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &[u8],
    ) -> Result<T, OAuthError> {
        serde_json::from_slice(body).map_err(|e| OAuthError::Malformed {
            url: self.url(path),
            reason: e.to_string(),
        })
    }
}

/// Sends `request` and reads its whole answer by `deadline` (connect, headers and body), or
/// describes the failure without secrets.
fn send(
    request: reqwest::blocking::RequestBuilder,
    deadline: Deadline,
) -> Result<HttpAnswer, String> {
    let budget = deadline.remaining();
    if budget.is_zero() {
        return Err("timed out (the deadline passed before the request)".into());
    }
    // A per-request timeout is reqwest's total timeout: it covers the body too.
    let response = request.timeout(budget).send().map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_string);
    let body = read_capped(response, deadline)?;
    Ok(HttpAnswer {
        status,
        location,
        body,
    })
}

fn read_capped(
    response: reqwest::blocking::Response,
    deadline: Deadline,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut reader = response.take(MAX_BODY + 1);
    let mut chunk = [0u8; 8192];
    loop {
        if deadline.passed() {
            return Err("timed out while reading the answer".into());
        }
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err("timed out while reading the answer".into())
            }
            Err(e) => return Err(format!("connection failed while reading the answer: {e}")),
        }
    }
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
