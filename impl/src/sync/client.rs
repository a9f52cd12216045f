//! The HTTP side of sync: `POST /api/v1/events/batch/` and `GET /api/v1/me`, with typed failures.
//!
//! Why its own client: the classifier needs to know *how* a request failed (no connection,
//! timeout, which status) as types, and the OAuth client reports transport failures as text.
//! Requests never follow redirects (a 3xx would forward the bearer token elsewhere), every one is
//! bounded by a [`Deadline`], and bodies are capped. Wire shapes are serde types defined here.

use super::error::{SyncError, TransportKind};
use super::queue::QueuedEvent;
use crate::deadline::Deadline;
use crate::oauth::ProfileTeam;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// The batch endpoint's path.
pub const BATCH_PATH: &str = "/api/v1/events/batch/";
/// The profile endpoint's path.
pub const ME_PATH: &str = "/api/v1/me";
/// Larger answers are refused as malformed.
const MAX_BODY: u64 = 4 << 20;

/// One event on the wire.
#[derive(Serialize)]
struct WireEvent<'a> {
    event_id: &'a str,
    event_type: &'a str,
    payload: serde_json::Value,
    created_at: String,
}

/// The batch request body.
#[derive(Serialize)]
struct WireBatch<'a> {
    team_id: &'a str,
    events: Vec<WireEvent<'a>>,
}

/// One event's fate in the answer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct EventResult {
    pub event_id: String,
    /// `accepted` (new), `duplicate` (the server already had it), anything else: not taken.
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
}

/// The batch answer: every event's fate.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchAnswer {
    pub results: Vec<EventResult>,
}

#[derive(Deserialize)]
struct MeAnswer {
    #[serde(default)]
    teams: Vec<ProfileTeam>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
}

/// A blocking client for one SaaS base URL.
pub struct IngressClient {
    base_url: String,
    http: reqwest::blocking::Client,
}

impl IngressClient {
    /// A client for `base_url` (validated, no trailing slash).
    pub fn new(base_url: &str) -> Result<Self, SyncError> {
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("spec-kitty/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Transport {
                url: base_url.to_string(),
                kind: TransportKind::Broken,
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends `events` to `team_id`'s ingress with `token`, by `deadline`.
    pub fn post_batch(
        &self,
        token: &str,
        team_id: &str,
        events: &[QueuedEvent],
        deadline: Deadline,
    ) -> Result<BatchAnswer, SyncError> {
        let url = self.url(BATCH_PATH);
        let body = batch_body(team_id, events).map_err(|detail| SyncError::Malformed {
            url: url.clone(),
            detail,
        })?;
        let request = self
            .http
            .post(&url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let bytes = self.exchange(&url, request, deadline)?;
        parse_batch_answer(&bytes).map_err(|e| SyncError::Malformed {
            url,
            detail: e.to_string(),
        })
    }

    /// The teams `/api/v1/me` lists for `token`.
    pub fn teams(&self, token: &str, deadline: Deadline) -> Result<Vec<ProfileTeam>, SyncError> {
        let url = self.url(ME_PATH);
        let request = self.http.get(&url).bearer_auth(token);
        let bytes = self.exchange(&url, request, deadline)?;
        parse_teams(&bytes).map_err(|e| SyncError::Malformed {
            url,
            detail: e.to_string(),
        })
    }

    /// Sends and reads the whole answer by `deadline`; a status other than 200 is an error.
    fn exchange(
        &self,
        url: &str,
        request: reqwest::blocking::RequestBuilder,
        deadline: Deadline,
    ) -> Result<Vec<u8>, SyncError> {
        let transport = |kind, detail: String| SyncError::Transport {
            url: url.to_string(),
            kind,
            detail,
        };
        let budget = deadline.remaining();
        if budget.is_zero() {
            return Err(transport(
                TransportKind::Timeout,
                "the deadline passed before the request".into(),
            ));
        }
        let response = request.timeout(budget).send().map_err(|e| {
            let kind = if e.is_timeout() {
                TransportKind::Timeout
            } else if e.is_connect() {
                TransportKind::Connect
            } else {
                TransportKind::Broken
            };
            transport(kind, describe(&e))
        })?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        response
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::TimedOut || deadline.passed() {
                    TransportKind::Timeout
                } else {
                    TransportKind::Broken
                };
                transport(kind, "the answer could not be read".into())
            })?;
        if body.len() as u64 > MAX_BODY {
            return Err(SyncError::Malformed {
                url: url.to_string(),
                detail: "the answer is larger than 4 MiB".into(),
            });
        }
        if status != 200 {
            return Err(SyncError::Status {
                url: url.to_string(),
                status,
                error: error_code(&body),
            });
        }
        Ok(body)
    }
}

/// The request body for `events`, as stored rows become wire events. A stored payload is only
/// text someone left in the queue database: one that is not JSON is a typed error naming the
/// event, never a panic.
pub fn batch_body(team_id: &str, events: &[QueuedEvent]) -> Result<Vec<u8>, String> {
    let mut wire = Vec::with_capacity(events.len());
    for e in events {
        let payload: serde_json::Value = serde_json::from_str(&e.payload).map_err(|err| {
            format!(
                "queued event {} has a payload that is not JSON: {err}",
                e.event_id
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(40)
                    .collect::<String>()
            )
        })?;
        wire.push(WireEvent {
            event_id: &e.event_id,
            event_type: &e.event_type,
            payload,
            created_at: e.created_at.to_rfc3339(),
        });
    }
    serde_json::to_vec(&WireBatch {
        team_id,
        events: wire,
    })
    .map_err(|e| e.to_string())
}

/// The body of a 200 batch answer: every event's fate. Pure, for the property tests and fuzz
/// targets: any bytes are a typed error, never a panic.
pub fn parse_batch_answer(body: &[u8]) -> Result<BatchAnswer, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The teams of a 200 `/api/v1/me` body.
pub fn parse_teams(body: &[u8]) -> Result<Vec<ProfileTeam>, serde_json::Error> {
    serde_json::from_slice::<MeAnswer>(body).map(|me| me.teams)
}

/// The `error` code of a non-200 body, made printable: the server's words end up in a one-line
/// message, so no control characters and at most 80 characters.
pub fn error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ErrorAnswer>(body)
        .ok()
        .and_then(|a| a.error)
        .map(|e| e.chars().filter(|c| !c.is_control()).take(80).collect())
}

/// A transport failure in words, without the URL's query or any header.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within the deadline".into()
    } else if e.is_connect() {
        "connection refused or host unreachable".into()
    } else {
        "the request failed".into()
    }
}
