//! The daemon's session keeper: holds the session in memory and refreshes it ahead of expiry,
//! always through the refresh transaction.
//!
//! Why through the transaction: the daemon is exactly the long-lived process of the incident,
//! holding material that another process may rotate at any moment. The transaction reloads
//! under the machine-wide lock, so when the daemon's refresh comes due it adopts newer material
//! instead of spending a rotated token, and it can only ever delete what the server refused while
//! it was still persisted.

use super::protocol::SessionView;
use crate::paths::RuntimeRoot;
use crate::session::{StoredSession, REFRESH_BUFFER_S};
use crate::token_manager::TokenManager;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Never refresh more often than this, whatever the token's lifetime.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Refresh at most this long before the access token stops being usable.
const MAX_AHEAD: Duration = Duration::from_secs(60);
/// Without a session (or after a failure), look again this often.
const IDLE_RETRY: Duration = Duration::from_secs(30);

/// The session the daemon keeps fresh.
pub struct Keeper {
    root: RuntimeRoot,
    manager: Option<TokenManager>,
    last_outcome: Option<String>,
}

/// What the keeper reports for health and the log.
#[derive(Debug, Clone, Default)]
pub struct KeeperView {
    pub session: Option<SessionView>,
    pub last_outcome: Option<String>,
}

impl Keeper {
    /// Loads the persisted session into memory (reporting `session.loaded`).
    pub fn load(root: &RuntimeRoot) -> Self {
        let manager = match TokenManager::load(root) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!("daemon: cannot load the session now: {e}");
                None
            }
        };
        Keeper {
            root: root.clone(),
            manager,
            last_outcome: None,
        }
    }

    /// When the next refresh is due, from the in-memory session: ahead of the access token's
    /// expiry by a fifth of its remaining life (at most a minute), never sooner than a second.
    pub fn next_due(&self, now: DateTime<Utc>) -> Duration {
        match self.memory() {
            Some(s) => due_in(&s, now),
            None => IDLE_RETRY,
        }
    }

    /// Runs one refresh transaction now (blocking: sync points may hold it).
    pub fn refresh(&mut self) {
        if self.memory().is_none() {
            // Someone may have logged in since: look at disk again.
            let outcome = self.last_outcome.take();
            *self = Keeper::load(&self.root);
            self.last_outcome = outcome;
        }
        let Some(manager) = self.manager.as_ref().filter(|m| m.session().is_some()) else {
            // Not logged in: nothing to keep fresh until someone logs in.
            return;
        };
        match manager.refresh() {
            Ok(report) => {
                tracing::info!("daemon: refresh transaction ended {}", report.outcome);
                if let Err(e) = &report.result {
                    tracing::warn!("daemon: {e}");
                }
                self.last_outcome = Some(report.outcome.as_str().to_string());
            }
            Err(e) => tracing::warn!("daemon: cannot refresh: {e}"),
        }
    }

    /// What health reports about the session.
    pub fn view(&self) -> KeeperView {
        KeeperView {
            session: self.memory().as_ref().map(SessionView::of),
            last_outcome: self.last_outcome.clone(),
        }
    }

    fn memory(&self) -> Option<StoredSession> {
        self.manager.as_ref()?.session()
    }
}

/// How long until a refresh of `s` is due at `now`.
fn due_in(s: &StoredSession, now: DateTime<Utc>) -> Duration {
    let usable_until = s.access_token_expires_at - chrono::Duration::seconds(REFRESH_BUFFER_S);
    let left = (usable_until - now).to_std().unwrap_or(Duration::ZERO);
    let ahead = (left / 5).min(MAX_AHEAD);
    left.saturating_sub(ahead).max(MIN_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_come_due_ahead_of_expiry_but_never_in_a_tight_loop() {
        let now = Utc::now();
        let expiring = |secs: i64| StoredSession {
            access_token_expires_at: now + chrono::Duration::seconds(secs),
            ..Default::default()
        };
        // One hour left: refresh a minute before the token stops being usable.
        let d = due_in(&expiring(3600), now);
        assert!(
            d > Duration::from_secs(3500) && d < Duration::from_secs(3540),
            "{d:?}"
        );
        // Already expired, or a 1 s token: no sooner than a second.
        assert_eq!(due_in(&expiring(-60), now), MIN_INTERVAL);
        assert_eq!(due_in(&expiring(1), now), MIN_INTERVAL);
        // 30 s left (25 usable): a fifth ahead.
        let d = due_in(&expiring(30), now);
        assert!(
            d >= Duration::from_secs(19) && d <= Duration::from_secs(20),
            "{d:?}"
        );
    }
}
