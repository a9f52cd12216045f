//! The fake SaaS's decisions about its sessions as the checks see them ([`ServerSession`]):
//! active, revoked and why, reuse detections.
//!
//! [`server_view`] is the one place that reads the fake's session handle
//! (`FakeSaas::sessions()` → `SessionInfo`, with its typed revocation reason and its own count
//! of reuse detections).

use crate::schema::ServerState;
use fake_saas::SessionInfo;

/// What the fake SaaS decided about one session, as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSession {
    pub id: String,
    pub active: bool,
    pub revoked: bool,
    /// `admin`, `reuse_detected` or `client_revoke`.
    pub revoked_reason: Option<String>,
    /// Times a rotated-out refresh token of this session was presented.
    pub reuse_detections: u64,
}

impl ServerSession {
    /// The state an `[[expect.saas.session]]` `state` names.
    pub fn state(&self) -> ServerState {
        match (self.revoked, self.revoked_reason.as_deref(), self.active) {
            (true, Some("reuse_detected"), _) => ServerState::FamilyRevoked,
            (true, _, _) => ServerState::Revoked,
            (false, _, true) => ServerState::Active,
            (false, _, false) => ServerState::Expired,
        }
    }
}

/// The fake's sessions (in creation order) as the checks see them.
pub fn server_view(sessions: &[SessionInfo]) -> Vec<ServerSession> {
    sessions
        .iter()
        .map(|info| ServerSession {
            id: info.session_id.clone(),
            active: info.active,
            revoked: info.revoked,
            revoked_reason: info.revoked_reason.map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            }),
            reuse_detections: info.reuse_detections,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_states() {
        let s = |revoked: bool, reason: Option<&str>, active: bool| ServerSession {
            id: "s".into(),
            active,
            revoked,
            revoked_reason: reason.map(str::to_string),
            reuse_detections: 0,
        };
        assert_eq!(s(false, None, true).state(), ServerState::Active);
        assert_eq!(s(false, None, false).state(), ServerState::Expired);
        assert_eq!(s(true, Some("admin"), false).state(), ServerState::Revoked);
        assert_eq!(
            s(true, Some("reuse_detected"), false).state(),
            ServerState::FamilyRevoked
        );
    }
}
