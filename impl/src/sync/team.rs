//! Where events go: the session's private teamspace, and nothing else.
//!
//! Why its own module: direct ingress is addressed to the user's private teamspace only (never
//! the default team, never the first team: events must not land in a team others can read).
//! When the stored session lists none, the membership may be stale, so `/api/v1/me` is asked at
//! most once per process; with still none, ingress is skipped as a benign case
//! ([`SyncError::NoPrivateTeam`]), never reported as an authentication failure.

use super::client::IngressClient;
use super::error::SyncError;
use crate::deadline::Deadline;
use crate::session::Team;
use crate::token_manager::TokenManager;
use std::sync::Mutex;

/// What `/api/v1/me` answered in this process: `None` until it answered, then the private team
/// id (if any). Once it has answered it is never asked again in this process; a request that got
/// no answer (an outage) is not an answer and fails the drain with its own error.
static REHYDRATED: Mutex<Option<Option<String>>> = Mutex::new(None);

/// The private teamspace among `teams`, if any (the first, for determinism).
pub fn private_team(teams: &[Team]) -> Option<&str> {
    teams
        .iter()
        .find(|t| t.is_private_teamspace)
        .map(|t| t.id.as_str())
}

/// The team id to send to: the session's private teamspace, else the one `/api/v1/me` lists
/// (asked at most once per process), else [`SyncError::NoPrivateTeam`].
pub fn resolve(
    manager: &TokenManager,
    client: &IngressClient,
    deadline: Deadline,
) -> Result<String, SyncError> {
    let session = manager.session().ok_or(crate::refresh::AuthError::Relogin(
        crate::refresh::ReloginCause::NoSession,
    ))?;
    if let Some(id) = private_team(&session.teams) {
        return Ok(id.to_string());
    }
    let mut cached = REHYDRATED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(known) = cached.as_ref() {
        return known
            .clone()
            .ok_or(SyncError::NoPrivateTeam { rehydrated: true });
    }
    let token = manager.access_token()?;
    let teams = client.teams(&token, deadline)?;
    let found = teams
        .into_iter()
        .find(|t| t.is_private_teamspace)
        .map(|t| t.id);
    *cached = Some(found.clone());
    found.ok_or(SyncError::NoPrivateTeam { rehydrated: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(id: &str, private: bool) -> Team {
        Team {
            id: id.into(),
            is_private_teamspace: private,
            ..Default::default()
        }
    }

    #[test]
    fn only_a_private_teamspace_is_a_destination() {
        assert_eq!(
            private_team(&[team("shared", false), team("mine", true)]),
            Some("mine")
        );
        // Never the first or default team.
        assert_eq!(private_team(&[team("shared", false)]), None);
        assert_eq!(private_team(&[]), None);
    }
}
