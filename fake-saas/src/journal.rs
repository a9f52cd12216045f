//! The request journal and per-endpoint counters.
//!
//! Scenarios assert on what the SaaS saw ("exactly one refresh", "the stale token was never
//! presented"), and a failing scenario prints the journal as its timeline. Only the public
//! endpoints are journaled and counted: admin calls made by the harness itself must not change
//! the request counts a scenario expects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One request the fake answered (or hung up on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 1-based, in the order responses were produced.
    pub seq: u64,
    /// Arrival time, ISO-8601 UTC (`+00:00`).
    pub time: String,
    pub method: String,
    /// The request path, e.g. `/oauth/token`.
    pub endpoint: String,
    /// `grant_type` of a token request.
    pub grant_type: Option<String>,
    /// The token as presented: refresh token (refresh grant), device code (device grant),
    /// bearer access token (API calls) or `token` (revoke).
    pub token: Option<String>,
    pub client_id: Option<String>,
    /// The session the presented (or issued) token belongs to, when known.
    pub session_id: Option<String>,
    /// The session's generation after handling, when known.
    pub generation: Option<i64>,
    /// HTTP status returned; `None` when the connection was closed without a response.
    pub status: Option<u16>,
    /// The connection was closed without a response (`close` fault).
    pub closed: bool,
    /// Arrival to response, including fault delays.
    pub latency_ms: u64,
    /// Name of the fault that fired on this request.
    pub fault: Option<String>,
    /// What the model did: `rotated`, `refreshed`, `grace_replay`, `reuse_rejected`,
    /// `family_revoked`, `replay_409`, `session_invalid`, `expired`, `unknown_token`,
    /// `invalid_client`, `invalid_request`, `unsupported_grant`, `device_authorized`,
    /// `device_pending`, `device_slow_down`, `device_denied`, `device_expired`,
    /// `device_consumed`, `device_approved`, `revoked`, `ok`, `active`, `inactive`, `accepted`,
    /// `missing_token`, `not_found`, `method_not_allowed`, or `fault` when a `before` fault
    /// replaced the handling.
    pub outcome: String,
    pub user_agent: Option<String>,
}

impl JournalEntry {
    /// The status as text: `"200"`, or `"closed"`.
    pub fn status_label(&self) -> String {
        match self.status {
            Some(status) if !self.closed => status.to_string(),
            _ => "closed".to_string(),
        }
    }
}

/// Entries plus counters.
#[derive(Default)]
pub(crate) struct Journal {
    entries: Vec<JournalEntry>,
    counters: BTreeMap<String, u64>,
}

impl Journal {
    /// Count a request at arrival (so a request still in a fault delay is already counted).
    pub fn count(&mut self, endpoint: &str) {
        *self.counters.entry(endpoint.to_string()).or_insert(0) += 1;
    }

    /// Append, assigning the next sequence number.
    pub fn push(&mut self, mut entry: JournalEntry) -> JournalEntry {
        entry.seq = self.entries.len() as u64 + 1;
        self.entries.push(entry.clone());
        entry
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.clone()
    }

    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.clone()
    }

    pub fn count_of(&self, endpoint: &str) -> u64 {
        self.counters.get(endpoint).copied().unwrap_or(0)
    }
}
