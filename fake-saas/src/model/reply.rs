//! The shapes the public endpoints answer with, and [`Reply`], one model decision before HTTP.
//!
//! Why it exists: every body the fake sends is a serde type here, so its keys, their order and
//! their spelling are defined once (the token answer's key order is what the real SaaS sends).
//! What it guarantees: a rejection of the token endpoint carries `error`, `error_description` and,
//! for `invalid_grant` and `session_invalid`, a machine-readable `error_reason`
//! ([`ErrorReason`]), so a client can tell a revoked session from an expired family without
//! reading prose.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Team;
use crate::journal::JournalOutcome;
use crate::time::rfc3339;

/// Why the token endpoint refused a refresh token (or device code): the `error_reason` field of
/// every `invalid_grant` and `session_invalid` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    /// The session was revoked by the client (`/oauth/revoke`, a logout) or by an admin.
    Revoked,
    /// A rotated-out refresh token was presented and the whole family was revoked (now, or by an
    /// earlier reuse).
    FamilyRevoked,
    /// The refresh family is past its absolute lifetime.
    LifetimeExpired,
    /// A refresh token that was already rotated out, refused under `reject` (or outside the
    /// grace window).
    RotatedOut,
    /// A token (or device code) this server never issued, or not a refresh token.
    UnknownToken,
    /// A device code that was already exchanged for tokens.
    DeviceCodeUsed,
}

/// Every OAuth error code the fake sends (`error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    SessionInvalid,
    UnsupportedGrantType,
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InvalidToken,
    /// The batch is addressed to a team that is not the user's private teamspace.
    Forbidden,
    RefreshReplayBenignRetry,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    /// The default bodies of injected faults.
    ServerError,
    TemporarilyUnavailable,
    InjectedFault,
}

/// An error body: `{"error", "error_description"?, "error_reason"?, "retry_after"?}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<ErrorReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// A successful token answer (keys in this order; `refresh_token` only when issued).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(with = "rfc3339")]
    pub refresh_token_expires_at: DateTime<Utc>,
    pub scope: String,
    pub generation: i64,
    pub session_id: String,
}

/// `POST /oauth/device/authorize`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// `GET /api/v1/me`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Me {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub teams: Vec<Team>,
    pub default_team_id: Option<String>,
}

/// `GET /api/v1/session-status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SessionStatus {
    pub session_id: String,
    pub active: bool,
    pub generation: i64,
    #[serde(with = "rfc3339")]
    pub refresh_token_expires_at: DateTime<Utc>,
}

/// `POST /api/v1/events/batch/` request body (other keys are ignored).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EventsBatch {
    /// The destination: must be the user's private teamspace.
    pub team_id: Option<String>,
    pub events: Vec<Value>,
}

/// One event's fate in a batch answer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventResult {
    pub event_id: String,
    /// `accepted` (new) or `duplicate` (this id was already accepted).
    pub status: &'static str,
}

/// `POST /api/v1/events/batch/` answer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventsAccepted {
    /// Events stored by this request.
    pub accepted: usize,
    /// Events whose id was already stored.
    pub duplicates: usize,
    /// Per event with an `event_id`, in request order.
    pub results: Vec<EventResult>,
}

/// `{}` (the revoke endpoint's answer).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Empty {}

/// `{"message": ...}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Message {
    pub message: &'static str,
}

/// The answer of one model operation, before any fault and before HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    /// `None` = empty body.
    pub body: Option<Value>,
    pub outcome: JournalOutcome,
    pub session_id: Option<String>,
    pub generation: Option<i64>,
    /// Add `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
    pub bearer_challenge: bool,
}

impl Reply {
    /// `status` with `body` serialized as JSON.
    pub fn json(status: u16, body: &impl Serialize, outcome: JournalOutcome) -> Reply {
        Reply {
            status,
            // Serializing these plain structs cannot fail; an empty body would be the symptom.
            body: serde_json::to_value(body).ok(),
            outcome,
            session_id: None,
            generation: None,
            bearer_challenge: false,
        }
    }

    /// 200 with `body`.
    pub fn ok(body: &impl Serialize, outcome: JournalOutcome) -> Reply {
        Reply::json(200, body, outcome)
    }

    /// An error with a description and no reason.
    pub fn error(
        status: u16,
        error: ErrorCode,
        description: &str,
        outcome: JournalOutcome,
    ) -> Reply {
        Reply::error_body(
            status,
            ErrorBody {
                error,
                error_description: Some(description.to_string()),
                error_reason: None,
                retry_after: None,
            },
            outcome,
        )
    }

    /// A token-endpoint rejection with its machine-readable reason.
    pub fn rejected(
        status: u16,
        error: ErrorCode,
        description: &str,
        reason: ErrorReason,
        outcome: JournalOutcome,
    ) -> Reply {
        Reply::error_body(
            status,
            ErrorBody {
                error,
                error_description: Some(description.to_string()),
                error_reason: Some(reason),
                retry_after: None,
            },
            outcome,
        )
    }

    /// `{"error": code}` only (unknown paths and methods, oversized requests).
    pub fn bare(status: u16, error: ErrorCode, outcome: JournalOutcome) -> Reply {
        Reply::error_body(
            status,
            ErrorBody {
                error,
                error_description: None,
                error_reason: None,
                retry_after: None,
            },
            outcome,
        )
    }

    pub fn error_body(status: u16, body: ErrorBody, outcome: JournalOutcome) -> Reply {
        Reply::json(status, &body, outcome)
    }

    /// Tag the reply with the session it concerns (for the journal).
    pub fn with_session(mut self, session_id: &str, generation: i64) -> Reply {
        self.session_id = Some(session_id.to_string());
        self.generation = Some(generation);
        self
    }

    /// Ask for a Bearer challenge header.
    pub fn challenge(mut self) -> Reply {
        self.bearer_challenge = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_keep_their_key_order_and_omit_what_is_unset() {
        let reply = Reply::rejected(
            400,
            ErrorCode::InvalidGrant,
            "gone",
            ErrorReason::RotatedOut,
            JournalOutcome::ReuseRejected,
        );
        assert_eq!(
            reply.body.unwrap().to_string(),
            r#"{"error":"invalid_grant","error_description":"gone","error_reason":"rotated_out"}"#
        );
        let bare = Reply::bare(404, ErrorCode::NotFound, JournalOutcome::NotFound);
        assert_eq!(bare.body.unwrap().to_string(), r#"{"error":"not_found"}"#);
    }
}
