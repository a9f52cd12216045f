//! The daemon's control plane as types: what `GET /api/health` answers and what the control
//! routes take. The one definition the daemon and every client (start, stop, doctor, the orphan
//! scan) use.
//!
//! Health never carries the control token. It carries the facts a client needs to recognise our
//! daemon and to judge it: the family, the protocol and package versions, the pid, the runtime
//! root it serves, and a fingerprint of the session material it holds in memory (a truncated
//! SHA-256 of session id and refresh token: enough to tell "differs from disk", useless to an
//! attacker).

use crate::session::StoredSession;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every spec-kitty sync daemon reports this family.
pub const DAEMON_FAMILY: &str = "sync";
/// The control protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// `GET`: the health answer.
pub const HEALTH_PATH: &str = "/api/health";
/// `POST` with a [`ControlRequest`]: shut down cleanly.
pub const SHUTDOWN_PATH: &str = "/api/shutdown";
/// `POST` with a [`ControlRequest`]: refresh and drain now instead of at the next tick.
pub const TRIGGER_PATH: &str = "/api/sync/trigger";

/// The answer of `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub daemon_family: String,
    pub protocol_version: u32,
    pub package_version: String,
    pub pid: u32,
    pub port: u16,
    /// The runtime root this daemon serves (as it resolved it).
    pub runtime_root: String,
    /// When the daemon started (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// The session the daemon holds in memory, if any.
    #[serde(default)]
    pub session: Option<SessionView>,
    /// The last refresh transaction's outcome, if one ran.
    #[serde(default)]
    pub last_refresh_outcome: Option<String>,
}

/// No health answer of ours is larger; anything larger is not a daemon of this family.
pub const MAX_HEALTH_BYTES: usize = 64 * 1024;

/// Why a health answer is not ours.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("the health answer is larger than {MAX_HEALTH_BYTES} bytes ({0} bytes)")]
    TooLarge(usize),
    #[error("the health answer is not the documented JSON: {0}")]
    Malformed(#[from] serde_json::Error),
}

impl Health {
    /// Parses the body of `GET /api/health`. Whatever listens on a loopback port may answer:
    /// any bytes are a typed error, never a panic.
    pub fn parse(bytes: &[u8]) -> Result<Health, HealthError> {
        if bytes.len() >= MAX_HEALTH_BYTES {
            return Err(HealthError::TooLarge(bytes.len()));
        }
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// What health says about the in-memory session: never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub session_id: String,
    pub generation: Option<i64>,
    /// See [`fingerprint`].
    pub fingerprint: String,
    pub access_token_expires_at: String,
}

impl SessionView {
    pub fn of(s: &StoredSession) -> Self {
        SessionView {
            session_id: s.session_id.clone(),
            generation: s.generation,
            fingerprint: fingerprint(s),
            access_token_expires_at: crate::session::format_report_time(s.access_token_expires_at),
        }
    }
}

/// The first 12 hex digits of SHA-256 over `session_id \0 refresh_token`: equal exactly when the
/// material is (with overwhelming probability), and reveals nothing usable.
pub fn fingerprint(s: &StoredSession) -> String {
    let mut h = Sha256::new();
    h.update(s.session_id.as_bytes());
    h.update([0u8]);
    h.update(s.refresh_token.as_bytes());
    hex::encode(&h.finalize()[..6])
}

/// The body of a control request (`{"token": ...}`, as the original sends it).
#[derive(Clone, Serialize, Deserialize)]
pub struct ControlRequest {
    pub token: String,
}

impl std::fmt::Debug for ControlRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlRequest { token: <redacted> }")
    }
}

/// The answer of a control route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlAnswer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ControlAnswer {
    pub fn accepted() -> Self {
        ControlAnswer {
            ok: true,
            error: None,
        }
    }

    /// The token was missing or wrong (HTTP 403).
    pub fn invalid_token() -> Self {
        ControlAnswer {
            ok: false,
            error: Some("invalid_token".into()),
        }
    }
}

impl Health {
    /// Whether this answer comes from a spec-kitty sync daemon (any version).
    pub fn is_our_family(&self) -> bool {
        self.daemon_family == DAEMON_FAMILY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_material_apart_without_revealing_it() {
        let a = StoredSession {
            session_id: "s".into(),
            refresh_token: "SECRET-R1".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        b.refresh_token = "SECRET-R2".into();
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 12);
        let view = serde_json::to_string(&SessionView::of(&a)).unwrap();
        assert!(!view.contains("SECRET"));
        let req = format!(
            "{:?}",
            ControlRequest {
                token: "SECRET".into()
            }
        );
        assert!(!req.contains("SECRET"));
    }
}
