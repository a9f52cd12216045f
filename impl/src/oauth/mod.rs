//! The OAuth client for the SaaS: token refresh, device authorization (RFC 8628), revocation
//! (RFC 7009) and the profile endpoints.
//!
//! Every request is bounded by a [`Deadline`] covering connect, headers and the whole body, never
//! follows a redirect (a 3xx would forward the refresh token to another address), and hands its
//! bytes to [`answer`], which turns them into types without ever panicking. The token
//! endpoint's answer becomes a typed [`RefreshResponse`], so the refresh transaction decides on
//! types, never on message text.

mod answer;
mod wire;

pub use answer::{
    after, classify_refresh, parse_grant, seconds, HttpAnswer, RefreshExpiry, RefreshResponse,
    RejectionReason, TokenGrant, DEFAULT_EXPIRES_IN_S, MAX_ACCESS_LIFETIME_S,
    MAX_REFRESH_LIFETIME_S,
};
pub use wire::{
    classify_device_poll, json_answer, ok_body, revoke_answer, AnswerError, DeviceAuthorization,
    DevicePoll, Profile, ProfileTeam, SessionStatus,
};

use crate::deadline::Deadline;
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
        json_answer(&answer).map_err(|e| self.answer_error(path, e))
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
        classify_device_poll(&answer)
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
        revoke_answer(&answer).map_err(|e| self.answer_error(path, e))
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
        json_answer(&answer).map_err(|e| self.answer_error(path, e))
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

    /// An answer error as the client reports it: with the URL.
    fn answer_error(&self, path: &str, e: AnswerError) -> OAuthError {
        let url = self.url(path);
        match e {
            AnswerError::Redirect(reason) => OAuthError::Transport { url, reason },
            AnswerError::Status { status, detail } => OAuthError::Status {
                url,
                status,
                detail,
            },
            AnswerError::Malformed(reason) => OAuthError::Malformed { url, reason },
        }
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
