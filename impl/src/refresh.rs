//! The refresh transaction: the one place a refresh token is spent, and the one place a session
//! may be deleted because the server refused it.
//!
//! All under the machine-wide refresh lock: acquire (bounded) → reload the persisted session →
//! adopt newer usable material with no network → otherwise refresh the *persisted* material
//! (bounded) → persist → release. The invariant it protects: a process acting on old memory can
//! never delete material newer than what the server refused. See DESIGN §4 for the outcome table.

use crate::lock::{LockError, RefreshLock};
use crate::oauth::{OAuthClient, RefreshResponse, TokenGrant};
use crate::paths::PathsError;
use crate::session::{format_report_time, StoredSession};
use crate::storage::{SessionStore, StorageError};
use crate::syncpoint::{self, points, InjectedFault};
use chrono::{DateTime, Utc};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How one transaction ended; logged once as `refresh_transaction outcome=<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The persisted session differs from the caller's and is usable: adopted, no network.
    AdoptedNewer,
    /// The network refresh succeeded and the new session was written.
    Refreshed,
    /// The server refused material that is no longer the persisted one; the newer persisted
    /// session is usable and was kept.
    StaleRejectionPreserved,
    /// The server refused the material that is still persisted (or the re-read session's refresh
    /// token is itself expired): the session was deleted.
    CurrentRejectionCleared,
    /// The lock wait timed out but the persisted session is usable: adopted.
    LockTimeoutAdopted,
    /// Nothing usable and nothing decided (lock timeout, network failure, replay without a newer
    /// token, storage emptied under us): everything kept, retryable.
    LockTimeoutError,
    /// The refresh token is known locally to be past its lifetime: no network call, nothing
    /// deleted, the user must log in again.
    RefreshTokenExpired,
}

impl Outcome {
    /// Every outcome, in the order of DESIGN §4's table (plus the local-expiry case).
    pub const ALL: [Outcome; 7] = [
        Outcome::AdoptedNewer,
        Outcome::Refreshed,
        Outcome::StaleRejectionPreserved,
        Outcome::CurrentRejectionCleared,
        Outcome::LockTimeoutAdopted,
        Outcome::LockTimeoutError,
        Outcome::RefreshTokenExpired,
    ];

    /// The outcome's name in logs and the scenario runner.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::AdoptedNewer => "adopted_newer",
            Outcome::Refreshed => "refreshed",
            Outcome::StaleRejectionPreserved => "stale_rejection_preserved",
            Outcome::CurrentRejectionCleared => "current_rejection_cleared",
            Outcome::LockTimeoutAdopted => "lock_timeout_adopted",
            Outcome::LockTimeoutError => "lock_timeout_error",
            Outcome::RefreshTokenExpired => "refresh_token_expired",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the user has to log in again: a legitimate cause, named for the user.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloginCause {
    /// There is no session on this machine.
    NoSession,
    /// The server refused the current token before its known expiry (`session_invalid`, or
    /// `invalid_grant` while the refresh token should still be valid).
    ServerRevoked { error: String },
    /// The refresh token reached its absolute lifetime.
    AbsoluteLifetime { expired_at: Option<DateTime<Utc>> },
}

impl fmt::Display for ReloginCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloginCause::NoSession => f.write_str("not logged in (no session on this machine)"),
            ReloginCause::ServerRevoked { error } => {
                write!(f, "the session was revoked by the server ({error})")
            }
            ReloginCause::AbsoluteLifetime {
                expired_at: Some(t),
            } => write!(
                f,
                "the refresh token reached its absolute lifetime (expired {})",
                format_report_time(*t)
            ),
            ReloginCause::AbsoluteLifetime { expired_at: None } => {
                f.write_str("the refresh token reached its absolute lifetime")
            }
        }
    }
}

/// Errors of getting a token, refreshing, logging in or out. Each is one line naming the fix.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A legitimate reason to log in again.
    #[error("{0}: run `spec-kitty auth login`")]
    Relogin(ReloginCause),
    /// Nothing was decided and nothing deleted: trying again later may succeed.
    #[error("{0}; nothing was deleted, try again")]
    Retryable(String),
    /// The session file exists but cannot be used; it was left in place.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Configuration is missing (e.g. `SPEC_KITTY_SAAS_URL`).
    #[error(transparent)]
    Config(#[from] PathsError),
}

impl AuthError {
    /// The CLI exit code: 1 re-login needed, 2 configuration, 3 retryable.
    pub fn exit_code(&self) -> i32 {
        match self {
            AuthError::Relogin(_) => 1,
            AuthError::Storage(e) if e.is_unreadable_session() => 1,
            AuthError::Storage(_) | AuthError::Retryable(_) => 3,
            AuthError::Config(_) => 2,
        }
    }
}

impl From<InjectedFault> for AuthError {
    fn from(fault: InjectedFault) -> Self {
        AuthError::Retryable(fault.to_string())
    }
}

/// Where a refresh goes over the network. The production implementation is [`OAuthClient`];
/// an `Err` is a configuration problem found before anything was sent.
pub trait TokenEndpoint {
    /// Spends `refresh_token` at the token endpoint.
    fn refresh(&self, refresh_token: &str) -> Result<RefreshResponse, AuthError>;
}

impl TokenEndpoint for OAuthClient {
    fn refresh(&self, refresh_token: &str) -> Result<RefreshResponse, AuthError> {
        Ok(OAuthClient::refresh(self, refresh_token))
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
}

/// One refresh transaction's inputs.
pub struct RefreshTransaction<'a> {
    pub store: &'a SessionStore,
    pub endpoint: &'a dyn TokenEndpoint,
    pub lock_path: PathBuf,
    pub lock_wait: Duration,
    /// The clock (shifted in scenarios that model skew).
    pub now: fn() -> DateTime<Utc>,
}

type Step = (Outcome, Result<StoredSession, AuthError>);

impl RefreshTransaction<'_> {
    /// Runs the transaction for a caller holding `caller` in memory.
    pub fn run(&self, caller: &StoredSession) -> TransactionReport {
        let mut network_calls = 0;
        let (outcome, result) = self.run_with_lock(caller, &mut network_calls);
        tracing::info!(
            "refresh_transaction outcome={} network_call={}",
            outcome,
            network_calls > 0
        );
        // The runner only observes this point; a failure injected here changes nothing.
        let _ = syncpoint::hit_with(points::OUTCOME, Some(outcome.as_str()));
        TransactionReport {
            outcome,
            network_calls,
            result,
        }
    }

    fn run_with_lock(&self, caller: &StoredSession, calls: &mut u32) -> Step {
        if let Err(fault) = syncpoint::hit(points::LOCK_WAIT) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        let guard = match RefreshLock::acquire(&self.lock_path, self.lock_wait) {
            Ok(guard) => guard,
            Err(timeout @ LockError::Timeout { .. }) => return self.on_lock_timeout(timeout),
            Err(io) => {
                return (
                    Outcome::LockTimeoutError,
                    Err(AuthError::Retryable(io.to_string())),
                )
            }
        };
        let step = match syncpoint::hit(points::LOCK_ACQUIRED) {
            Ok(()) => self.locked(caller, calls),
            Err(fault) => (Outcome::LockTimeoutError, Err(fault.into())),
        };
        drop(guard);
        let _ = syncpoint::hit(points::LOCK_RELEASED);
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
                Err(AuthError::Retryable(timeout.to_string())),
            ),
        }
    }

    /// Steps 2–5, with the lock held.
    fn locked(&self, caller: &StoredSession, calls: &mut u32) -> Step {
        let persisted = match self.store.read() {
            Ok(Some(p)) => p,
            Ok(None) => {
                return (
                    Outcome::LockTimeoutError,
                    Err(AuthError::Retryable(
                        "the session was removed while waiting for the refresh lock (logged out in another process?)".into(),
                    )),
                )
            }
            Err(e) => return (Outcome::LockTimeoutError, Err(e.into())),
        };
        if let Err(fault) = syncpoint::hit(points::RELOADED) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        if !persisted.same_material(caller) && persisted.access_usable((self.now)()) {
            return (Outcome::AdoptedNewer, Ok(persisted));
        }
        self.refresh_persisted(persisted, calls, true)
    }

    /// Spends the refresh token of `sent` (the persisted material, never the caller's memory).
    /// `may_retry`: whether one more request with a newer persisted token is allowed.
    fn refresh_persisted(&self, sent: StoredSession, calls: &mut u32, may_retry: bool) -> Step {
        let now = (self.now)();
        if sent.refresh_expired(now) {
            return (
                Outcome::RefreshTokenExpired,
                Err(AuthError::Relogin(ReloginCause::AbsoluteLifetime {
                    expired_at: sent.refresh_token_expires_at,
                })),
            );
        }
        if let Err(fault) = syncpoint::hit(points::NETWORK_BEFORE) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        *calls += 1;
        let response = match self.endpoint.refresh(&sent.refresh_token) {
            Ok(response) => response,
            Err(config) => return (Outcome::LockTimeoutError, Err(config)),
        };
        if let Err(fault) = syncpoint::hit(points::NETWORK_AFTER) {
            return (Outcome::LockTimeoutError, Err(fault.into()));
        }
        match response {
            RefreshResponse::Granted(grant) => {
                let refreshed = apply_grant(&sent, grant, (self.now)());
                if let Err(e) = self.store.write(&refreshed) {
                    return (
                        Outcome::LockTimeoutError,
                        Err(AuthError::Retryable(format!(
                            "the server issued new tokens but saving them failed: {e}"
                        ))),
                    );
                }
                let _ = syncpoint::hit(points::PERSISTED);
                (Outcome::Refreshed, Ok(refreshed))
            }
            RefreshResponse::Rejected { error, .. } => {
                self.on_rejection(&sent, &error, calls, may_retry)
            }
            RefreshResponse::Replay { .. } => match self.store.read() {
                // Never resubmit the spent token; a newer one may be tried once.
                Ok(Some(newer)) if newer.refresh_token != sent.refresh_token && may_retry => {
                    self.refresh_persisted(newer, calls, false)
                }
                _ => (
                    Outcome::LockTimeoutError,
                    Err(AuthError::Retryable(
                        "the server reports the refresh token was already used by a concurrent refresh, and no newer token is stored".into(),
                    )),
                ),
            },
            RefreshResponse::Transient(reason) => (
                Outcome::LockTimeoutError,
                Err(AuthError::Retryable(format!("could not refresh the session: {reason}"))),
            ),
        }
    }

    /// The server refused `sent`. Delete only if `sent` is still what is persisted.
    fn on_rejection(
        &self,
        sent: &StoredSession,
        error: &str,
        calls: &mut u32,
        may_retry: bool,
    ) -> Step {
        let now = (self.now)();
        match self.store.read() {
            Ok(Some(reread)) if !reread.same_material(sent) => {
                // A client that ignores the lock wrote newer material while we were refreshing.
                if reread.refresh_expired(now) {
                    let cause = ReloginCause::AbsoluteLifetime {
                        expired_at: reread.refresh_token_expires_at,
                    };
                    self.clear(cause)
                } else if reread.access_usable(now) {
                    (Outcome::StaleRejectionPreserved, Ok(reread))
                } else if may_retry {
                    self.refresh_persisted(reread, calls, false)
                } else {
                    (
                        Outcome::LockTimeoutError,
                        Err(AuthError::Retryable(
                            "the server refused an old refresh token and the newer stored session is not usable yet".into(),
                        )),
                    )
                }
            }
            Ok(Some(_)) => self.clear(rejection_cause(error, sent, now)),
            // Already gone (logged out elsewhere): nothing newer exists, nothing to delete.
            Ok(None) => (
                Outcome::CurrentRejectionCleared,
                Err(AuthError::Relogin(rejection_cause(error, sent, now))),
            ),
            // Unreadable: never delete what we cannot read.
            Err(e) => (Outcome::LockTimeoutError, Err(e.into())),
        }
    }

    fn clear(&self, cause: ReloginCause) -> Step {
        if let Err(e) = self.store.delete() {
            tracing::warn!("could not delete the rejected session: {e}");
        }
        (
            Outcome::CurrentRejectionCleared,
            Err(AuthError::Relogin(cause)),
        )
    }
}

/// The cause named to the user for a server rejection of `sent`.
fn rejection_cause(error: &str, sent: &StoredSession, now: DateTime<Utc>) -> ReloginCause {
    if error == "invalid_grant" && sent.refresh_expired(now) {
        ReloginCause::AbsoluteLifetime {
            expired_at: sent.refresh_token_expires_at,
        }
    } else {
        ReloginCause::ServerRevoked {
            error: error.to_string(),
        }
    }
}

/// The session after a successful refresh of `sent`: new access token and expiry, the rotated
/// refresh token (or the old one when the server did not rotate), everything else kept.
pub fn apply_grant(sent: &StoredSession, grant: TokenGrant, now: DateTime<Utc>) -> StoredSession {
    let mut next = sent.clone();
    next.access_token = grant.access_token;
    if let Some(refresh_token) = grant.refresh_token {
        next.refresh_token = refresh_token;
    }
    next.access_token_expires_at = now + chrono::Duration::seconds(grant.expires_in as i64);
    if let Some(expiry) = grant.refresh_token_expires_at {
        next.refresh_token_expires_at = Some(expiry);
    }
    if let Some(scope) = grant.scope {
        next.scope = scope;
    }
    if let Some(generation) = grant.generation {
        next.generation = Some(generation);
    }
    next.last_used_at = now;
    next
}
