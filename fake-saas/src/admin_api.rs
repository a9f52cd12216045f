//! The admin API's wire types: every request and response body under `/__admin/`.
//!
//! Why it exists: the admin handlers, the [`crate::FakeSaas`] handle and the tests all speak
//! these shapes, so each is defined once, with serde, and nobody builds or probes an admin body
//! by hand. It guarantees that what the handle returns and what `GET /__admin/...` sends are the
//! same values: both serialize these types. Enumerations are serde enums written in snake_case.
//!
//! | route | request | response |
//! |---|---|---|
//! | `GET /journal` | | `Vec<`[`crate::JournalEntry`]`>` |
//! | `GET /counters` | | [`Counters`] |
//! | `GET /faults`, `PUT`, `POST`, `DELETE` | `Vec<FaultSpec>` (`PUT`), `FaultSpec` (`POST`) | `Vec<`[`FaultStatus`]`>` |
//! | `GET /faults/fired` | | [`FiredCounts`] |
//! | `GET /sessions` | | `Vec<`[`SessionInfo`]`>` |
//! | `POST /sessions/{id}/revoke`, `/expire` | | [`SessionInfo`] |
//! | `POST /seed` | [`SeedRequest`] (or empty) | [`SeededSession`] |
//! | `GET /clock`, `POST /clock` | [`ClockAdvance`] (`POST`) | [`ClockState`] |
//! | `POST /reset` | | [`ResetDone`] |
//! | `GET /events` | | `Vec<serde_json::Value>` (accepted events, each once) |
//! | `GET /events/stats` | | [`EventStats`] |
//! | `GET /issued` | | `Vec<String>` |
//! | `GET /config` | | [`crate::SaasConfig`] |
//!
//! Every error is an [`AdminError`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{FaultSpec, Team};
use crate::time::rfc3339;

/// What the batch endpoint took (`GET /__admin/events/stats`): exactly-once delivery is
/// `received == accepted + duplicates` with no id accepted twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventStats {
    /// Events received in all batches, re-sends included.
    pub received: u64,
    /// Distinct events accepted (each event id once; events without an id count each time).
    pub accepted: u64,
    /// Events whose id was already accepted (answered `duplicate`, not stored again).
    pub duplicates: u64,
}

/// Requests received, by path (`GET /__admin/counters`).
pub type Counters = BTreeMap<String, u64>;

/// Times each fault fired, by name (`GET /__admin/faults/fired`).
pub type FiredCounts = BTreeMap<String, u64>;

/// A session to create directly in the fake's state, as a scenario seeds one into the CLI's
/// session file (`POST /__admin/seed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeedRequest {
    /// Access-token expiry relative to now; negative = already expired.
    pub access_expires_in_s: i64,
    /// Refresh-family absolute expiry relative to now; negative = already expired.
    pub refresh_expires_in_s: i64,
    /// Generation of the seeded pair (default 1).
    pub generation: Option<i64>,
}

impl Default for SeedRequest {
    fn default() -> Self {
        SeedRequest {
            access_expires_in_s: 3600,
            refresh_expires_in_s: 2_592_000,
            generation: None,
        }
    }
}

/// What a seed created: everything the CLI's session file needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededSession {
    pub session_id: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub teams: Vec<Team>,
    pub default_team_id: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    #[serde(with = "rfc3339")]
    pub access_expires_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub refresh_expires_at: DateTime<Utc>,
    pub generation: i64,
    pub scope: String,
}

/// Why a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokedReason {
    /// `POST /oauth/revoke` with one of its tokens (a logout).
    ClientRevoke,
    /// A rotated-out refresh token was presented under `reuse = "revoke_family"`.
    ReuseDetected,
    /// `POST /__admin/sessions/{id}/revoke` or [`crate::FakeSaas::revoke_session`].
    Admin,
}

/// How a session came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Created by a seed (admin API or handle).
    Seeded,
    /// Created by an approved device authorization.
    DeviceCode,
}

/// A session as the admin API lists it: what a scenario asserts about the server's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub user_id: String,
    /// Not revoked and the refresh family not past its absolute expiry.
    pub active: bool,
    pub revoked: bool,
    /// Why it was revoked; `reuse_detected` means the whole family was revoked because a
    /// rotated-out token was presented.
    pub revoked_reason: Option<RevokedReason>,
    pub generation: i64,
    pub current_refresh_token: String,
    pub current_access_token: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub refresh_token_expires_at: DateTime<Utc>,
    pub auth_method: AuthMethod,
    /// Refreshes answered for this family (rotations, non-rotating refreshes, grace replays).
    pub refreshes: u64,
    /// Rotated-out refresh tokens of this family presented while the session was live, whatever
    /// the reuse policy answered (rejected, revoked the family, 409, or a grace replay).
    pub reuse_detections: u64,
}

/// A fault as the admin API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultStatus {
    /// The resolved name (`fault-<index>` when the spec has none).
    pub name: String,
    /// Calls that matched endpoint and grant, whether or not the fault fired.
    pub matched: u64,
    pub fired: u64,
    pub spec: FaultSpec,
}

/// `POST /__admin/clock`: move the fake's clock forward by the sum of both fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockAdvance {
    pub advance_s: u64,
    pub advance_ms: u64,
}

impl ClockAdvance {
    /// An advance by `by` (milliseconds precision).
    pub fn by(by: Duration) -> ClockAdvance {
        ClockAdvance {
            advance_s: 0,
            advance_ms: u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The total advance.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.advance_s).saturating_add(Duration::from_millis(self.advance_ms))
    }
}

/// The fake's clock (`GET` and `POST /__admin/clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    /// The fake's "now".
    #[serde(with = "rfc3339")]
    pub now: DateTime<Utc>,
    /// How far the clock has been advanced in total since start or reset.
    pub offset_ms: u64,
}

/// `POST /__admin/reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetDone {
    pub reset: bool,
}

/// What went wrong with an admin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminErrorCode {
    /// No such admin route.
    NotFound,
    /// A fault spec did not parse or validate (400).
    InvalidFault,
    /// A seed request did not parse (400).
    InvalidSeed,
    /// A clock request did not parse (400).
    InvalidClock,
    /// No session with that id (404).
    UnknownSession,
}

/// Every admin error body: `{"error": "<code>", "message": "<one line naming the key>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminError {
    pub error: AdminErrorCode,
    pub message: String,
}
