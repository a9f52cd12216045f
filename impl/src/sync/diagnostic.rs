//! Final-sync diagnostics: the stable codes, their classification from typed errors, and the one
//! stderr line a command may print about a failed final sync.
//!
//! Why: a local command that succeeded must say, once and machine-readably, why its events were
//! not delivered, without changing its exit code and without misleading anyone. The original
//! classified by searching message text, and so reported a benign skip (no private teamspace) as
//! an authentication failure that told users to log in again. Here [`classify`] matches on the
//! variants of [`SyncError`] and the token manager's [`AuthError`] ([`RetryKind`],
//! [`ReloginCause`]) only, so what a code means cannot drift with wording.
//!
//! Codes the original defined that have no cause here are never emitted (see [`NEVER_EMITTED`]):
//! this implementation has no websocket and no asynchronous event loop, so nothing can be offline
//! or unavailable in that sense, and no code path pretends otherwise.
//!
//! [`RetryKind`]: crate::refresh::RetryKind
//! [`ReloginCause`]: crate::refresh::ReloginCause

use super::error::SyncError;
use super::queue::QueueError;
use crate::refresh::{AuthError, RetryKind};
use crate::storage::StorageError;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Every code a diagnostic can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiagnosticCode {
    /// The queue could not be taken: another process is draining it, or SQLite stayed locked
    /// past the busy timeout (or the file could not be used).
    FinalSyncLockUnavailable,
    /// The access token needs a refresh and another process holds the refresh lock (or is
    /// writing the session).
    AuthRefreshInProgress,
    /// No usable session: none on this machine, unreadable, rejected or revoked by the server,
    /// or the ingress refused the token. This one does mean `spec-kitty auth login`.
    ServerAuthFailure,
    /// The session has no private teamspace: ingress skipped on purpose, events stay queued.
    DirectIngressMissingPrivateTeam,
    /// An outage: no connection (refused, DNS), a timeout, a 5xx/429 or malformed answer, or no
    /// SaaS URL configured. Never a reason to log in again.
    ServerUnreachable,
    /// The server answered the batch with a 4xx other than 401/403: it refused this batch.
    BatchRejected,
}

/// Codes of the original that this implementation never emits, and why.
pub const NEVER_EMITTED: [(&str, &str); 2] = [
    (
        "sync.websocket_offline",
        "there is no websocket: events go over HTTPS batches only",
    ),
    (
        "sync.event_loop_unavailable",
        "there is no asynchronous event loop: the sender is synchronous and bounded by deadlines",
    ),
];

impl DiagnosticCode {
    /// Every emitted code.
    pub const ALL: [DiagnosticCode; 6] = [
        DiagnosticCode::FinalSyncLockUnavailable,
        DiagnosticCode::AuthRefreshInProgress,
        DiagnosticCode::ServerAuthFailure,
        DiagnosticCode::DirectIngressMissingPrivateTeam,
        DiagnosticCode::ServerUnreachable,
        DiagnosticCode::BatchRejected,
    ];

    /// The code as printed (`sync.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticCode::FinalSyncLockUnavailable => "sync.final_sync_lock_unavailable",
            DiagnosticCode::AuthRefreshInProgress => "sync.auth_refresh_in_progress",
            DiagnosticCode::ServerAuthFailure => "sync.server_auth_failure",
            DiagnosticCode::DirectIngressMissingPrivateTeam => {
                "sync.direct_ingress_missing_private_team"
            }
            DiagnosticCode::ServerUnreachable => "sync.server_unreachable",
            DiagnosticCode::BatchRejected => "sync.batch_rejected",
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for DiagnosticCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The code of an authentication error, from its variant.
fn classify_auth(e: &AuthError) -> DiagnosticCode {
    match e {
        AuthError::Relogin(_) => DiagnosticCode::ServerAuthFailure,
        AuthError::Retryable { kind, .. } => match kind {
            RetryKind::LockBusy => DiagnosticCode::AuthRefreshInProgress,
            RetryKind::SaveFailed => DiagnosticCode::AuthRefreshInProgress,
            RetryKind::Network | RetryKind::Malformed | RetryKind::Injected => {
                DiagnosticCode::ServerUnreachable
            }
            RetryKind::ReplayWithoutNewer => DiagnosticCode::ServerAuthFailure,
        },
        AuthError::Storage(StorageError::SessionLockBusy { .. }) => {
            DiagnosticCode::AuthRefreshInProgress
        }
        AuthError::Storage(_) => DiagnosticCode::ServerAuthFailure,
        AuthError::Config(_) => DiagnosticCode::ServerUnreachable,
    }
}

/// The diagnostic code of a failed sync, from the error's type alone.
pub fn classify(e: &SyncError) -> DiagnosticCode {
    match e {
        SyncError::Auth(auth) => classify_auth(auth),
        SyncError::NoPrivateTeam { .. } => DiagnosticCode::DirectIngressMissingPrivateTeam,
        SyncError::Transport { .. } | SyncError::Malformed { .. } => {
            DiagnosticCode::ServerUnreachable
        }
        SyncError::Status { status, .. } => match status {
            401 | 403 => DiagnosticCode::ServerAuthFailure,
            429 | 500..=599 | 300..=399 => DiagnosticCode::ServerUnreachable,
            _ => DiagnosticCode::BatchRejected,
        },
        SyncError::DrainLock(_) => DiagnosticCode::FinalSyncLockUnavailable,
        SyncError::Queue(QueueError::Locked { .. } | QueueError::Corrupt { .. })
        | SyncError::Queue(QueueError::Io { .. }) => DiagnosticCode::FinalSyncLockUnavailable,
    }
}

/// One diagnostic: its code and the line a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: DiagnosticCode,
    pub message: String,
}

impl Diagnostic {
    /// The diagnostic of a failed final sync.
    pub fn of(e: &SyncError) -> Self {
        Diagnostic {
            code: classify(e),
            message: format!(
                "Final sync failed after local command success. Queued events remain durable and will be retried. Detail: {e}"
            ),
        }
    }

    /// `sync_diagnostic severity=warning diagnostic_code=<code> fatal=false
    /// sync_phase=final_sync message=<text>`, on one line.
    pub fn line(&self) -> String {
        let message: String = self
            .message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!(
            "sync_diagnostic severity=warning diagnostic_code={} fatal=false sync_phase=final_sync message={message}",
            self.code
        )
    }
}

static EMITTED: AtomicBool = AtomicBool::new(false);

/// Prints the diagnostic line on stderr unless this process already printed one; returns
/// whether it printed.
pub fn emit(d: &Diagnostic) -> bool {
    if EMITTED.swap(true, Ordering::SeqCst) {
        return false;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", d.line());
    let _ = err.flush();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::ReloginCause;
    use std::path::PathBuf;

    fn drain_busy() -> SyncError {
        SyncError::DrainLock(crate::sync::DrainLockError::Busy {
            path: "drain.lock".into(),
            waited_ms: 1,
        })
    }

    fn auth(e: AuthError) -> SyncError {
        SyncError::Auth(e)
    }

    #[test]
    fn each_code_comes_from_its_type() {
        use DiagnosticCode::*;
        let status = |status| SyncError::Status {
            url: "u".into(),
            status,
            error: None,
        };
        let cases: Vec<(SyncError, DiagnosticCode)> = vec![
            (drain_busy(), FinalSyncLockUnavailable),
            (
                QueueError::Locked {
                    path: PathBuf::from("q"),
                    waited_ms: 5,
                }
                .into(),
                FinalSyncLockUnavailable,
            ),
            (
                auth(AuthError::retry(RetryKind::LockBusy, "held")),
                AuthRefreshInProgress,
            ),
            (
                auth(AuthError::Relogin(ReloginCause::NoSession)),
                ServerAuthFailure,
            ),
            (
                auth(AuthError::Relogin(ReloginCause::ServerRevoked {
                    error: "session_invalid".into(),
                })),
                ServerAuthFailure,
            ),
            (status(401), ServerAuthFailure),
            (
                // Retrying cannot help: only a new login can, so it is an auth failure.
                auth(AuthError::retry(RetryKind::ReplayWithoutNewer, "409")),
                ServerAuthFailure,
            ),
            (
                SyncError::NoPrivateTeam { rehydrated: true },
                DirectIngressMissingPrivateTeam,
            ),
            (
                SyncError::Transport {
                    url: "u".into(),
                    kind: crate::sync::TransportKind::Connect,
                    detail: "refused".into(),
                },
                ServerUnreachable,
            ),
            (
                auth(AuthError::retry(RetryKind::Network, "connection failed")),
                ServerUnreachable,
            ),
            (status(503), ServerUnreachable),
            (status(400), BatchRejected),
        ];
        for (error, code) in cases {
            assert_eq!(classify(&error), code, "{error}");
        }
    }

    #[test]
    fn the_text_of_an_error_never_decides_its_code() {
        // The original's bug: a skip whose text mentions tokens read as an auth failure, and an
        // outage whose text says "login" would read as one too.
        let skip = SyncError::NoPrivateTeam { rehydrated: false };
        assert_eq!(
            classify(&skip),
            DiagnosticCode::DirectIngressMissingPrivateTeam
        );
        let outage = SyncError::Transport {
            url: "https://login.example/api/v1/events/batch/ (no valid access token, 401)".into(),
            kind: crate::sync::TransportKind::Timeout,
            detail: "Not authenticated".into(),
        };
        assert_eq!(classify(&outage), DiagnosticCode::ServerUnreachable);
    }

    #[test]
    fn the_line_has_the_original_shape_on_one_line() {
        let d = Diagnostic {
            code: DiagnosticCode::ServerUnreachable,
            message: "a\nb".into(),
        };
        assert_eq!(
            d.line(),
            "sync_diagnostic severity=warning diagnostic_code=sync.server_unreachable fatal=false sync_phase=final_sync message=a b"
        );
    }

    #[test]
    fn codes_without_a_cause_are_never_emitted() {
        for code in DiagnosticCode::ALL {
            assert!(
                !NEVER_EMITTED.iter().any(|(c, _)| *c == code.as_str()),
                "{code}"
            );
            assert!(code.as_str().starts_with("sync."));
        }
    }
}
