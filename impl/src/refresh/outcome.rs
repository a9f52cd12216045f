//! What a refresh (or any token request) can end in: the transaction's [`Outcome`], the
//! legitimate causes of a new login ([`ReloginCause`]) and the errors users see ([`AuthError`]).
//!
//! Why one module: the exit code, the one-line message and the machine-readable code of every
//! failure are decided here, from types, so what a person reads and what a script parses always
//! agree and never depend on message text.

use crate::exit;
use crate::oauth::RejectionReason;
use crate::paths::PathsError;
use crate::session::format_report_time;
use crate::storage::StorageError;
use crate::syncpoint::InjectedFault;
use chrono::{DateTime, Utc};
use std::fmt;

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
    /// token, storage emptied under us): everything kept.
    LockTimeoutError,
    /// The refresh token is known locally to be past its lifetime: no network call, nothing
    /// deleted, the user must log in again.
    RefreshTokenExpired,
}

impl Outcome {
    /// Every outcome, in the order of the outcome table (plus the local-expiry case).
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
    /// The session disappeared while this process waited for the refresh lock: another process
    /// logged out, or deleted it after the server revoked it.
    RemovedWhileWaiting,
    /// The server refused the token, and meanwhile the session was removed on this machine by
    /// another process (an older CLI, or a logout): nothing of this session is left here.
    RemovedLocally,
    /// The server revoked the session (`session_invalid`, `error_reason` = `revoked`, or
    /// `invalid_grant` before the refresh token's known expiry).
    ServerRevoked { error: String },
    /// The server detected a reuse of a rotated refresh token and revoked the whole family.
    FamilyRevoked,
    /// The refresh token reached its absolute lifetime.
    AbsoluteLifetime { expired_at: Option<DateTime<Utc>> },
    /// The server says the persisted refresh token was already spent (rotated out) by a client
    /// that did not save what it got back.
    RotatedOut,
    /// The server refused the token and said nothing structured about why, and the refresh
    /// token's expiry is not known here.
    RevokedOrExpired { error: String },
}

impl ReloginCause {
    /// The cause of a server rejection of `error` with `reason`, for material whose refresh
    /// token expires at `known_expiry` (if known), judged at `now`. Never guessed from text.
    pub fn of_rejection(
        error: &str,
        reason: Option<RejectionReason>,
        known_expiry: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let lifetime = ReloginCause::AbsoluteLifetime {
            expired_at: known_expiry,
        };
        match reason {
            Some(RejectionReason::Revoked) => ReloginCause::ServerRevoked {
                error: error.to_string(),
            },
            Some(RejectionReason::FamilyRevoked) => ReloginCause::FamilyRevoked,
            Some(RejectionReason::LifetimeExpired) => lifetime,
            Some(RejectionReason::RotatedOut) => ReloginCause::RotatedOut,
            Some(RejectionReason::UnknownToken) | None => match known_expiry {
                _ if error == "session_invalid" => ReloginCause::ServerRevoked {
                    error: error.to_string(),
                },
                Some(t) if t <= now => lifetime,
                Some(_) => ReloginCause::ServerRevoked {
                    error: error.to_string(),
                },
                None => ReloginCause::RevokedOrExpired {
                    error: error.to_string(),
                },
            },
        }
    }

    /// A stable machine-readable name (for `--json` and scripts).
    pub fn code(&self) -> &'static str {
        match self {
            ReloginCause::NoSession => "not_logged_in",
            ReloginCause::RemovedWhileWaiting | ReloginCause::RemovedLocally => "session_removed",
            ReloginCause::ServerRevoked { .. } => "session_revoked",
            ReloginCause::FamilyRevoked => "family_revoked",
            ReloginCause::AbsoluteLifetime { .. } => "refresh_token_expired",
            ReloginCause::RotatedOut => "refresh_token_rotated_out",
            ReloginCause::RevokedOrExpired { .. } => "session_revoked_or_expired",
        }
    }
}

impl fmt::Display for ReloginCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloginCause::NoSession => f.write_str("not logged in (no session on this machine)"),
            ReloginCause::RemovedWhileWaiting => f.write_str(
                "not logged in: the session was removed by another process while this one waited for the refresh lock (a logout, or a revocation)",
            ),
            ReloginCause::RemovedLocally => f.write_str(
                "not logged in: the session was removed on this machine by another process (an older spec-kitty, or a logout) while this one was refreshing",
            ),
            ReloginCause::ServerRevoked { error } => {
                write!(f, "the session was revoked by the server ({error})")
            }
            ReloginCause::FamilyRevoked => f.write_str(
                "the session was revoked by the server after a refresh token was used twice (reuse detection)",
            ),
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
            ReloginCause::RotatedOut => f.write_str(
                "the server says this refresh token was already used elsewhere, and no newer one was saved on this machine",
            ),
            ReloginCause::RevokedOrExpired { error } => write!(
                f,
                "the server refused the session ({error}): it was revoked or has expired"
            ),
        }
    }
}

/// What kind of passing failure a retryable error is (machine-readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// The refresh lock (or `session.lock`) is held by another process.
    LockBusy,
    /// The SaaS could not be reached, timed out, or answered with an error that is no verdict.
    Network,
    /// The SaaS answered with a malformed body.
    Malformed,
    /// Saving new tokens failed (they are kept in this process's memory).
    SaveFailed,
    /// The server says the token was spent by a concurrent refresh, and no newer one is stored:
    /// trying again will not help if it persists.
    ReplayWithoutNewer,
    /// A fault the scenario runner injected.
    Injected,
}

impl RetryKind {
    /// A stable machine-readable name.
    pub fn code(self) -> &'static str {
        match self {
            RetryKind::LockBusy => "lock_busy",
            RetryKind::Network => "network",
            RetryKind::Malformed => "malformed_answer",
            RetryKind::SaveFailed => "save_failed",
            RetryKind::ReplayWithoutNewer => "replay_without_newer_token",
            RetryKind::Injected => "injected_fault",
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
    #[error("{detail}; nothing was deleted, try again{}", persist_hint(*.kind))]
    Retryable { kind: RetryKind, detail: String },
    /// The session file exists but cannot be used; it was left in place.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Configuration is missing or wrong (e.g. `SPEC_KITTY_SAAS_URL`).
    #[error(transparent)]
    Config(#[from] PathsError),
}

fn persist_hint(kind: RetryKind) -> &'static str {
    match kind {
        RetryKind::ReplayWithoutNewer => {
            " (if this keeps happening, run `spec-kitty auth login`: no stored token can be refreshed)"
        }
        _ => "",
    }
}

impl AuthError {
    /// A retryable error of `kind`.
    pub fn retry(kind: RetryKind, detail: impl Into<String>) -> Self {
        AuthError::Retryable {
            kind,
            detail: detail.into(),
        }
    }

    /// The CLI exit code ([`crate::exit`]): re-login needed, configuration, or retryable.
    pub fn exit_code(&self) -> i32 {
        match self {
            AuthError::Relogin(_) => exit::RELOGIN,
            AuthError::Storage(e) if e.is_unreadable_session() => exit::RELOGIN,
            AuthError::Storage(_) | AuthError::Retryable { .. } => exit::RETRYABLE,
            AuthError::Config(_) => exit::USAGE,
        }
    }

    /// A stable machine-readable code for `--json` output and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Relogin(cause) => cause.code(),
            AuthError::Retryable { kind, .. } => kind.code(),
            AuthError::Storage(e) if e.is_unreadable_session() => "session_unreadable",
            AuthError::Storage(_) => "storage",
            AuthError::Config(_) => "config",
        }
    }
}

impl From<InjectedFault> for AuthError {
    fn from(fault: InjectedFault) -> Self {
        AuthError::retry(RetryKind::Injected, fault.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_come_from_structure_never_from_text() {
        let now = Utc::now();
        let past = Some(now - chrono::Duration::seconds(5));
        let future = Some(now + chrono::Duration::seconds(500));
        let of =
            |error: &str, reason, expiry| ReloginCause::of_rejection(error, reason, expiry, now);
        assert!(matches!(
            of(
                "invalid_grant",
                Some(RejectionReason::LifetimeExpired),
                None
            ),
            ReloginCause::AbsoluteLifetime { .. }
        ));
        assert_eq!(
            of(
                "invalid_grant",
                Some(RejectionReason::FamilyRevoked),
                future
            ),
            ReloginCause::FamilyRevoked
        );
        assert!(matches!(
            of("invalid_grant", None, None),
            ReloginCause::RevokedOrExpired { .. }
        ));
        assert!(matches!(
            of("invalid_grant", None, past),
            ReloginCause::AbsoluteLifetime { .. }
        ));
        assert!(matches!(
            of("invalid_grant", None, future),
            ReloginCause::ServerRevoked { .. }
        ));
        assert!(matches!(
            of("session_invalid", None, None),
            ReloginCause::ServerRevoked { .. }
        ));
    }

    #[test]
    fn a_replay_that_cannot_succeed_says_so() {
        let e = AuthError::retry(RetryKind::ReplayWithoutNewer, "409");
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.code(), "replay_without_newer_token");
        assert!(e.to_string().contains("spec-kitty auth login"), "{e}");
    }
}
