//! The refresh transaction: the one place a refresh token is spent, and the one place a session
//! may be deleted because the server refused it.
//!
//! All under the machine-wide refresh lock, within one deadline: acquire (bounded) → reload the
//! persisted session → adopt newer usable material with no network → otherwise take
//! `session.lock` and prepare the save → spend the *persisted* refresh token → persist (retrying
//! within the deadline) → release. The invariant it protects: a process acting on old memory can
//! never delete material newer than what the server refused, and a refresh token the server
//! rotated is never lost to a save that could have been known to fail. The outcome table is in
//! `docs/refresh-transaction.md`.

mod outcome;

pub use outcome::{AuthError, Outcome, ReloginCause, RetryKind};

use crate::deadline::Deadline;
use crate::lock::{LockError, RefreshLock};
use crate::oauth::{after, OAuthClient, RefreshResponse, RejectionReason, TokenGrant};
use crate::session::StoredSession;
use crate::storage::{LockedSession, SessionStore};
use crate::syncpoint::{self, Point};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::time::Duration;

/// The production ceiling on everything done while holding the refresh lock.
pub const DEFAULT_CEILING: Duration = Duration::from_secs(10);
/// Pause between attempts to save tokens the server already rotated.
const SAVE_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Where a refresh goes over the network. The production implementation is [`OAuthClient`];
/// an `Err` is a configuration problem found before anything was sent.
pub trait TokenEndpoint {
    /// Spends `refresh_token` at the token endpoint, answering by `deadline`.
    fn refresh(
        &self,
        refresh_token: &str,
        deadline: Deadline,
    ) -> Result<RefreshResponse, AuthError>;
}

impl TokenEndpoint for OAuthClient {
    fn refresh(
        &self,
        refresh_token: &str,
        deadline: Deadline,
    ) -> Result<RefreshResponse, AuthError> {
        Ok(OAuthClient::refresh(self, refresh_token, deadline))
    }
}

/// Tokens the server rotated that could not be saved: kept in memory by the caller and saved
/// first by its next transaction, so the spent refresh token is never sent again. Its `Debug`
/// shows no token.
#[derive(Clone)]
pub struct Unsaved {
    /// The refresh token that was spent to get `session`.
    pub spent_refresh_token: String,
    pub session: StoredSession,
}

impl std::fmt::Debug for Unsaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsaved")
            .field("spent_refresh_token", &crate::session::REDACTED)
            .field("session", &self.session)
            .finish()
    }
}

/// What a transaction did, for logs, reports and tests.
#[derive(Debug)]
pub struct TransactionReport {
    pub outcome: Outcome,
    /// Token requests sent (0, 1, or 2 when a newer token was retried once).
    pub network_calls: u32,
    /// The session to use from now on, or why there is none.
    pub result: Result<StoredSession, AuthError>,
    /// Rotated tokens that could not be saved within the deadline (see [`Unsaved`]).
    pub unsaved: Option<Unsaved>,
}

/// One refresh transaction's inputs.
pub struct RefreshTransaction<'a> {
    pub store: &'a SessionStore,
    pub endpoint: &'a dyn TokenEndpoint,
    pub lock_path: PathBuf,
    pub lock_wait: Duration,
    /// The one deadline for everything done while holding the refresh lock.
    pub ceiling: Duration,
    /// The clock (shifted in scenarios that model skew).
    pub now: fn() -> DateTime<Utc>,
}

type Step = (Outcome, Result<StoredSession, AuthError>);

/// The state of one run: counters and what must survive it.
struct Run {
    deadline: Deadline,
    calls: u32,
    unsaved: Option<Unsaved>,
}

impl RefreshTransaction<'_> {
    /// Runs the transaction for a caller holding `caller` in memory.
    pub fn run(&self, caller: &StoredSession) -> TransactionReport {
        self.run_with(caller, None)
    }

    /// Like [`run`](Self::run), first saving `pending` tokens an earlier run could not save.
    pub fn run_with(&self, caller: &StoredSession, pending: Option<Unsaved>) -> TransactionReport {
        let mut run = Run {
            deadline: Deadline::after(self.ceiling),
            calls: 0,
            unsaved: pending,
        };
        let (outcome, result) = self.run_with_lock(caller, &mut run);
        tracing::info!(
            "refresh_transaction outcome={} network_call={}",
            outcome,
            run.calls > 0
        );
        // The runner only observes this point; a failure injected here changes nothing.
        let _ = syncpoint::hit_with(Point::Outcome, Some(outcome.as_str()));
        TransactionReport {
            outcome,
            network_calls: run.calls,
            result,
            unsaved: run.unsaved,
        }
    }

    fn run_with_lock(&self, caller: &StoredSession, run: &mut Run) -> Step {
        if let Err(fault) = syncpoint::hit(Point::LockWait) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        let guard = match RefreshLock::acquire(&self.lock_path, self.lock_wait) {
            Ok(guard) => guard,
            Err(timeout @ LockError::Timeout { .. }) => return self.on_lock_timeout(timeout),
            Err(io) => {
                return (
                    Outcome::LockTimeoutError,
                    Err(AuthError::retry(RetryKind::LockBusy, io.to_string())),
                )
            }
        };
        // The ceiling counts from the moment others start waiting for us.
        run.deadline = Deadline::after(self.ceiling);
        let step = match syncpoint::hit(Point::LockAcquired) {
            Ok(()) => self.locked(caller, run),
            Err(fault) => (Outcome::LockTimeoutError, Err(fault.into())),
        };
        drop(guard);
        let _ = syncpoint::hit(Point::LockReleased);
        step
    }

    fn on_lock_timeout(&self, timeout: LockError) -> Step {
        let now = (self.now)();
        match self.store.read() {
            Ok(Some(persisted)) if persisted.access_usable(now) => {
                (Outcome::LockTimeoutAdopted, Ok(persisted))
            }
            _ => (
                Outcome::LockTimeoutError,
                Err(AuthError::retry(RetryKind::LockBusy, timeout.to_string())),
            ),
        }
    }

    /// Steps 2–5, with the refresh lock held.
    fn locked(&self, caller: &StoredSession, run: &mut Run) -> Step {
        if let Some(step) = self.save_pending(run) {
            return step;
        }
        let persisted = match self.store.read() {
            Ok(Some(p)) => p,
            Ok(None) => {
                return (
                    Outcome::LockTimeoutError,
                    Err(AuthError::Relogin(ReloginCause::RemovedWhileWaiting)),
                )
            }
            Err(e) => return (Outcome::LockTimeoutError, Err(e.into())),
        };
        if let Err(fault) = syncpoint::hit(Point::Reloaded) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        if !persisted.same_material(caller) && persisted.access_usable((self.now)()) {
            return (Outcome::AdoptedNewer, Ok(persisted));
        }
        self.refresh_persisted(persisted, run, true)
    }

    /// Saves tokens an earlier run got but could not save, if they are still the newest
    /// (the persisted refresh token is the one they replaced). `Some` ends the run.
    fn save_pending(&self, run: &mut Run) -> Option<Step> {
        let pending = run.unsaved.take()?;
        let mut session = match self.store.lock(run.deadline) {
            Ok(s) => s,
            Err(e) => return Some(self.keep_unsaved(pending, e.to_string(), run)),
        };
        match session.read() {
            Ok(Some(p)) if p.refresh_token == pending.spent_refresh_token => {
                match self.commit(&mut session, &pending.session, run) {
                    Ok(()) => None,
                    Err(reason) => Some(self.keep_unsaved(pending, reason, run)),
                }
            }
            // Someone wrote newer material, or logged out: the pending tokens are obsolete.
            _ => None,
        }
    }

    /// Spends the refresh token of `sent` (the persisted material, never the caller's memory).
    /// `may_retry`: whether one more request with a newer persisted token is allowed.
    fn refresh_persisted(&self, sent: StoredSession, run: &mut Run, may_retry: bool) -> Step {
        let now = (self.now)();
        if sent.refresh_expired(now) {
            return (
                Outcome::RefreshTokenExpired,
                Err(AuthError::Relogin(ReloginCause::AbsoluteLifetime {
                    expired_at: sent.refresh_token_expires_at,
                })),
            );
        }
        // Prepare the save before spending the token: once the server rotates, saving must not
        // fail for a reason that could be known now.
        let mut session = match self.prepare_save(run.deadline) {
            Ok(s) => s,
            Err(e) => return (Outcome::LockTimeoutError, Err(e)),
        };
        // A client that ignores the refresh lock may have written since the reload.
        let sent = match session.read() {
            Ok(Some(current)) if !current.same_material(&sent) => {
                if current.access_usable(now) {
                    return (Outcome::AdoptedNewer, Ok(current));
                }
                current
            }
            Ok(Some(_)) => sent,
            Ok(None) => {
                return (
                    Outcome::LockTimeoutError,
                    Err(AuthError::Relogin(ReloginCause::RemovedWhileWaiting)),
                )
            }
            Err(e) => return (Outcome::LockTimeoutError, Err(e.into())),
        };
        if let Err(fault) = syncpoint::hit(Point::NetworkBefore) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        run.calls += 1;
        let response = match self.endpoint.refresh(&sent.refresh_token, run.deadline) {
            Ok(response) => response,
            Err(config) => return (Outcome::LockTimeoutError, Err(config)),
        };
        if let Err(fault) = syncpoint::hit(Point::NetworkAfter) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        match response {
            RefreshResponse::Granted(grant) => self.on_grant(&mut session, &sent, grant, run),
            RefreshResponse::Rejected { error, reason } => {
                self.on_rejection(session, &sent, &error, reason, run, may_retry)
            }
            RefreshResponse::Replay { .. } => match session.read() {
                // Never resubmit the spent token; a newer one may be tried once.
                Ok(Some(newer)) if newer.refresh_token != sent.refresh_token && may_retry => {
                    drop(session);
                    self.refresh_persisted(newer, run, false)
                }
                _ => (
                    Outcome::LockTimeoutError,
                    Err(AuthError::retry(
                        RetryKind::ReplayWithoutNewer,
                        "the server reports the refresh token was already used by a concurrent refresh, and no newer token is stored",
                    )),
                ),
            },
            RefreshResponse::Transient(reason) => (
                Outcome::LockTimeoutError,
                Err(AuthError::retry(
                    RetryKind::Network,
                    format!("could not refresh the session: {reason}"),
                )),
            ),
        }
    }

    /// Takes `session.lock` and reserves the write, within the deadline.
    fn prepare_save(&self, deadline: Deadline) -> Result<LockedSession<'_>, AuthError> {
        let not_spent = |e: crate::storage::StorageError| {
            let kind = match e {
                crate::storage::StorageError::SessionLockBusy { .. } => RetryKind::LockBusy,
                _ => RetryKind::SaveFailed,
            };
            AuthError::retry(
                kind,
                format!(
                    "cannot prepare to save the session, so the refresh token was not spent: {e}"
                ),
            )
        };
        let mut session = self.store.lock(deadline).map_err(not_spent)?;
        session.reserve().map_err(not_spent)?;
        Ok(session)
    }

    fn on_grant(
        &self,
        session: &mut LockedSession<'_>,
        sent: &StoredSession,
        grant: TokenGrant,
        run: &mut Run,
    ) -> Step {
        let problem = grant.problem.clone();
        let refreshed = apply_grant(sent, grant, (self.now)());
        if let Err(reason) = self.commit(session, &refreshed, run) {
            let pending = Unsaved {
                spent_refresh_token: sent.refresh_token.clone(),
                session: refreshed,
            };
            return self.keep_unsaved(pending, reason, run);
        }
        let _ = syncpoint::hit(Point::Persisted);
        match problem {
            None => (Outcome::Refreshed, Ok(refreshed)),
            Some(problem) => (
                Outcome::Refreshed,
                Err(AuthError::retry(
                    RetryKind::Malformed,
                    format!("the server's token answer was malformed ({problem}); the new tokens were saved"),
                )),
            ),
        }
    }

    /// Commits `session`, retrying until the deadline: the server has already rotated.
    fn commit(
        &self,
        locked: &mut LockedSession<'_>,
        session: &StoredSession,
        run: &Run,
    ) -> Result<(), String> {
        loop {
            match locked.commit(session) {
                Ok(()) => return Ok(()),
                Err(e) if run.deadline.passed() => return Err(e.to_string()),
                Err(e) => {
                    tracing::warn!("saving the refreshed session failed, retrying: {e}");
                    std::thread::sleep(SAVE_RETRY_PAUSE.min(run.deadline.remaining()));
                }
            }
        }
    }

    fn keep_unsaved(&self, pending: Unsaved, reason: String, run: &mut Run) -> Step {
        let error = AuthError::retry(
            RetryKind::SaveFailed,
            format!("the server issued new tokens but saving them failed ({reason}); they are kept in this process's memory"),
        );
        run.unsaved = Some(pending);
        (Outcome::LockTimeoutError, Err(error))
    }

    /// The server refused `sent`. Delete only if `sent` is still what is persisted, deciding
    /// and deleting in the one hold of `session.lock` taken before the request.
    fn on_rejection(
        &self,
        session: LockedSession<'_>,
        sent: &StoredSession,
        error: &str,
        reason: Option<RejectionReason>,
        run: &mut Run,
        may_retry: bool,
    ) -> Step {
        let now = (self.now)();
        match session.read() {
            Ok(Some(reread)) if !reread.same_material(sent) => {
                // A client that ignores both locks wrote newer material while we were refreshing.
                if crate::hooks::overrides().stale_rejection_deletes {
                    // The deliberately broken test build (`hooks::Overrides`): the original's bug.
                    let cause = ReloginCause::of_rejection(
                        error,
                        reason,
                        sent.refresh_token_expires_at,
                        now,
                    );
                    return self.clear(session, cause);
                }
                if reread.refresh_expired(now) {
                    let cause = ReloginCause::AbsoluteLifetime {
                        expired_at: reread.refresh_token_expires_at,
                    };
                    self.clear(session, cause)
                } else if reread.access_usable(now) {
                    (Outcome::StaleRejectionPreserved, Ok(reread))
                } else if may_retry {
                    drop(session);
                    self.refresh_persisted(reread, run, false)
                } else {
                    (
                        Outcome::LockTimeoutError,
                        Err(AuthError::retry(
                            RetryKind::Network,
                            "the server refused an old refresh token and the newer stored session is not usable yet",
                        )),
                    )
                }
            }
            Ok(Some(_)) => {
                let cause =
                    ReloginCause::of_rejection(error, reason, sent.refresh_token_expires_at, now);
                self.clear(session, cause)
            }
            // Removed on this machine meanwhile: nothing is left to keep or delete.
            Ok(None) => (
                Outcome::CurrentRejectionCleared,
                Err(AuthError::Relogin(ReloginCause::RemovedLocally)),
            ),
            // Unreadable: never delete what we cannot read.
            Err(e) => (Outcome::LockTimeoutError, Err(e.into())),
        }
    }

    fn clear(&self, mut session: LockedSession<'_>, cause: ReloginCause) -> Step {
        if let Err(fault) = syncpoint::hit(Point::DeleteDecided) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        match session.delete() {
            Ok(()) => {
                crate::ended::record(self.store.root(), cause.code(), &cause.to_string());
                (
                    Outcome::CurrentRejectionCleared,
                    Err(AuthError::Relogin(cause)),
                )
            }
            Err(e) => (
                Outcome::CurrentRejectionCleared,
                Err(AuthError::retry(
                    RetryKind::SaveFailed,
                    format!("{cause}, but deleting the local session failed ({e}); it is still on disk and can no longer be refreshed: run `spec-kitty auth logout`, then `spec-kitty auth login`"),
                )),
            ),
        }
    }
}

/// The session after a successful refresh of `sent` at `now`: new access token and expiry, the
/// rotated refresh token (or the old one when the server did not rotate), `issued_at` now, the
/// generation the server reported, everything else kept. A grant whose answer was malformed
/// ([`TokenGrant::problem`]) keeps its tokens but an access token that counts as expired, so
/// the next call refreshes again instead of trusting an unknown lifetime.
pub fn apply_grant(sent: &StoredSession, grant: TokenGrant, now: DateTime<Utc>) -> StoredSession {
    let mut next = sent.clone();
    if !grant.access_token.is_empty() {
        next.access_token = grant.access_token;
    }
    if let Some(refresh_token) = grant.refresh_token {
        next.refresh_token = refresh_token;
    }
    next.access_token_expires_at = if grant.problem.is_some() {
        now
    } else {
        after(now, grant.expires_in)
    };
    if let Some(expiry) = grant.refresh_expiry {
        next.refresh_token_expires_at = Some(expiry.resolve(now));
    }
    if let Some(scope) = grant.scope {
        next.scope = scope;
    }
    next.generation = grant.generation;
    next.issued_at = now;
    next.last_used_at = now;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::parse_grant;

    #[test]
    fn a_grant_renews_issued_at_and_takes_the_generation_as_the_server_sent_it() {
        let old = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let sent = StoredSession {
            refresh_token: "rt-1".into(),
            issued_at: old,
            last_used_at: old,
            generation: Some(4),
            ..Default::default()
        };
        let now = Utc::now();
        let with = apply_grant(
            &sent,
            parse_grant(br#"{"access_token":"a","refresh_token":"r","generation":5}"#).unwrap(),
            now,
        );
        assert_eq!((with.issued_at, with.last_used_at), (now, now));
        assert_eq!(with.generation, Some(5));
        let without = apply_grant(&sent, parse_grant(br#"{"access_token":"a"}"#).unwrap(), now);
        assert_eq!(
            without.generation, None,
            "as the original: absent means unknown"
        );
        assert_eq!(
            without.refresh_token, "rt-1",
            "no rotation keeps the old token"
        );
    }
}
