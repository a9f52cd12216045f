//! The fake SaaS's decisions about its sessions as the checks see them ([`ServerSession`]):
//! active, revoked and why, reuse detections.
//!
//! [`server_view`] is the one place that reads the fake's session handle
//! (`FakeSaas::sessions()` → `SessionInfo`): if its revocation reason becomes an enum, or it
//! starts counting reuse detections itself, the adaptation is one line there.

use crate::schema::ServerState;
use fake_saas::{JournalEntry, SessionInfo};

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

/// Journal outcomes that mean "a rotated-out refresh token of this family was presented".
const REUSE_OUTCOMES: &[&str] = &[
    "reuse_rejected",
    "family_revoked",
    "replay_409",
    "grace_replay",
];

/// Reuse detections of `session_id`, counted from the journal.
fn reuse_detections(journal: &[JournalEntry], session_id: &str) -> u64 {
    journal
        .iter()
        .filter(|j| j.session_id.as_deref() == Some(session_id))
        .filter(|j| REUSE_OUTCOMES.contains(&j.outcome.as_str()))
        .count() as u64
}

/// The fake's sessions (in creation order) as the checks see them.
pub fn server_view(sessions: &[SessionInfo], journal: &[JournalEntry]) -> Vec<ServerSession> {
    sessions
        .iter()
        .map(|info| ServerSession {
            id: info.session_id.clone(),
            active: info.active,
            revoked: info.revoked,
            revoked_reason: info.revoked_reason.clone(),
            reuse_detections: reuse_detections(journal, &info.session_id),
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
