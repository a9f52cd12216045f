//! The request journal and per-endpoint counters.
//!
//! Why it exists: scenarios assert on what the SaaS saw ("exactly one refresh", "the stale token
//! was never presented"), and a failing scenario prints the journal as its timeline. What it
//! guarantees: every request to a public path is counted once when it arrives and journaled once
//! when its answer is produced (faulted or not), in the order answers were produced. Admin calls
//! are neither: the harness inspecting the fake must not change the counts a scenario expects.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What the fake did with a request (the journal's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOutcome {
    /// The current refresh token was exchanged and rotated (generation + 1).
    Rotated,
    /// The current refresh token was exchanged, rotation off.
    Refreshed,
    /// The previous refresh token inside the grace window: the rotation's pair again.
    GraceReplay,
    /// A rotated-out refresh token was refused (`reject`, or `grace` outside the window).
    ReuseRejected,
    /// A rotated-out refresh token revoked the whole session (`revoke_family`).
    FamilyRevoked,
    /// A rotated-out refresh token answered 409 (`replay_409`).
    #[serde(rename = "replay_409")]
    Replay409,
    /// A token of a revoked session.
    SessionInvalid,
    /// A refresh token past the family's absolute lifetime, or an expired access token.
    Expired,
    /// A token (or device code) this fake never issued, or of the wrong kind.
    UnknownToken,
    InvalidClient,
    InvalidRequest,
    UnsupportedGrant,
    DeviceAuthorized,
    DevicePending,
    DeviceSlowDown,
    DeviceDenied,
    DeviceExpired,
    DeviceConsumed,
    DeviceApproved,
    /// `POST /oauth/revoke` revoked the owning session.
    Revoked,
    Ok,
    /// `session-status` of an active session.
    Active,
    /// `session-status` of a revoked or expired session.
    Inactive,
    /// Events accepted by the batch endpoint (new ones stored, known ids answered `duplicate`).
    Accepted,
    /// A batch addressed to a team that is not the user's private teamspace (403).
    Forbidden,
    /// A bearer endpoint called without a token.
    MissingToken,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    /// A request that arrived at the target of a `redirect` fault.
    RedirectTarget,
    /// A `before` fault replaced the handling.
    Fault,
}

impl JournalOutcome {
    /// Every outcome, in declaration order.
    pub const ALL: &'static [JournalOutcome] = &[
        JournalOutcome::Rotated,
        JournalOutcome::Refreshed,
        JournalOutcome::GraceReplay,
        JournalOutcome::ReuseRejected,
        JournalOutcome::FamilyRevoked,
        JournalOutcome::Replay409,
        JournalOutcome::SessionInvalid,
        JournalOutcome::Expired,
        JournalOutcome::UnknownToken,
        JournalOutcome::InvalidClient,
        JournalOutcome::InvalidRequest,
        JournalOutcome::UnsupportedGrant,
        JournalOutcome::DeviceAuthorized,
        JournalOutcome::DevicePending,
        JournalOutcome::DeviceSlowDown,
        JournalOutcome::DeviceDenied,
        JournalOutcome::DeviceExpired,
        JournalOutcome::DeviceConsumed,
        JournalOutcome::DeviceApproved,
        JournalOutcome::Revoked,
        JournalOutcome::Ok,
        JournalOutcome::Active,
        JournalOutcome::Inactive,
        JournalOutcome::Accepted,
        JournalOutcome::Forbidden,
        JournalOutcome::MissingToken,
        JournalOutcome::NotFound,
        JournalOutcome::MethodNotAllowed,
        JournalOutcome::PayloadTooLarge,
        JournalOutcome::RedirectTarget,
        JournalOutcome::Fault,
    ];

    /// The wire name (`rotated`, `replay_409`, …), as in the journal's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalOutcome::Rotated => "rotated",
            JournalOutcome::Refreshed => "refreshed",
            JournalOutcome::GraceReplay => "grace_replay",
            JournalOutcome::ReuseRejected => "reuse_rejected",
            JournalOutcome::FamilyRevoked => "family_revoked",
            JournalOutcome::Replay409 => "replay_409",
            JournalOutcome::SessionInvalid => "session_invalid",
            JournalOutcome::Expired => "expired",
            JournalOutcome::UnknownToken => "unknown_token",
            JournalOutcome::InvalidClient => "invalid_client",
            JournalOutcome::InvalidRequest => "invalid_request",
            JournalOutcome::UnsupportedGrant => "unsupported_grant",
            JournalOutcome::DeviceAuthorized => "device_authorized",
            JournalOutcome::DevicePending => "device_pending",
            JournalOutcome::DeviceSlowDown => "device_slow_down",
            JournalOutcome::DeviceDenied => "device_denied",
            JournalOutcome::DeviceExpired => "device_expired",
            JournalOutcome::DeviceConsumed => "device_consumed",
            JournalOutcome::DeviceApproved => "device_approved",
            JournalOutcome::Revoked => "revoked",
            JournalOutcome::Ok => "ok",
            JournalOutcome::Active => "active",
            JournalOutcome::Inactive => "inactive",
            JournalOutcome::Accepted => "accepted",
            JournalOutcome::Forbidden => "forbidden",
            JournalOutcome::MissingToken => "missing_token",
            JournalOutcome::NotFound => "not_found",
            JournalOutcome::MethodNotAllowed => "method_not_allowed",
            JournalOutcome::PayloadTooLarge => "payload_too_large",
            JournalOutcome::RedirectTarget => "redirect_target",
            JournalOutcome::Fault => "fault",
        }
    }
}

impl fmt::Display for JournalOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request the fake answered (or hung up on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 1-based, in the order responses were produced.
    pub seq: u64,
    /// Arrival time on the fake's clock, RFC 3339 UTC with microseconds
    /// (`2026-11-22T16:28:58.767609+00:00`).
    pub time: String,
    pub method: String,
    /// The request path, e.g. `/oauth/token`.
    pub endpoint: String,
    /// `grant_type` of a token request, as sent.
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
    /// Arrival to the start of the response, including fault delays (not a trickled body).
    pub latency_ms: u64,
    /// Name of the fault that fired on this request.
    pub fault: Option<String>,
    /// What the model did, or [`JournalOutcome::Fault`] when a `before` fault replaced it.
    pub outcome: JournalOutcome,
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

    /// One line for the standalone binary's stderr; tokens lose their random part
    /// (`rt.sess_1.g3.…`).
    pub(crate) fn log_line(&self) -> String {
        let mut line = format!("fake-saas: #{} {} {}", self.seq, self.method, self.endpoint);
        if let Some(grant) = &self.grant_type {
            line.push_str(&format!(" grant={grant}"));
        }
        if let Some(token) = &self.token {
            line.push_str(&format!(" token={}", redact(token)));
        }
        line.push_str(&format!(
            " -> {} {} ({} ms)",
            self.status_label(),
            self.outcome,
            self.latency_ms
        ));
        if let Some(fault) = &self.fault {
            line.push_str(&format!(" fault={fault}"));
        }
        line
    }
}

/// A token string without its random part (`rt.sess_1.g3.…`).
fn redact(token: &str) -> String {
    match token.rfind('.') {
        Some(i) if i + 1 < token.len() => format!("{}…", &token[..=i]),
        _ => "…".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_match_serde() {
        for outcome in JournalOutcome::ALL {
            let json = serde_json::to_string(outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
            let back: JournalOutcome = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *outcome);
        }
        assert_eq!(JournalOutcome::Replay409.to_string(), "replay_409");
    }

    #[test]
    fn tokens_are_redacted() {
        assert_eq!(redact("rt.sess_1.g3.1a2b3c4d"), "rt.sess_1.g3.…");
        assert_eq!(redact("opaque"), "…");
    }
}
