//! Why sending the queue did not deliver: one typed error, [`SyncError`], that the diagnostic
//! classifier and the CLI's exit codes read by variant, never by message text.
//!
//! Why apart from the sender: the classifier (`diagnostic`), the HTTP client (`client`) and the
//! CLI all need the same vocabulary, and each variant keeps the structured cause it came from
//! (the token manager's [`AuthError`], the HTTP status, the transport failure's kind).

use super::drain_lock::DrainLockError;
use super::queue::QueueError;
use crate::exit;
use crate::refresh::AuthError;
use std::fmt;

/// What kind of transport failure a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No connection: refused, reset, host not found (DNS), network unreachable.
    Connect,
    /// The request or its answer took longer than its deadline.
    Timeout,
    /// The connection broke while the answer was read, or another I/O failure.
    Broken,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "cannot connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Broken => "the connection failed",
        })
    }
}

/// Why a drain (or one of its requests) did not deliver. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Getting a token failed: no session, a rejected or unreadable session, a refresh lock
    /// held elsewhere, the token endpoint unreachable, configuration.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// The session (and `/api/v1/me`, when asked) lists no private teamspace: direct ingress is
    /// skipped on purpose and the events stay queued.
    #[error("direct ingress skipped: the session has no private teamspace{}; events stay queued", if *.rehydrated { " (also after re-reading /api/v1/me)" } else { "" })]
    NoPrivateTeam { rehydrated: bool },
    /// The request never got an HTTP answer.
    #[error("{url}: {kind} ({detail})")]
    Transport {
        url: String,
        kind: TransportKind,
        detail: String,
    },
    /// The server answered with a status that is not success.
    #[error("{url} answered HTTP {status} ({})", .error.as_deref().unwrap_or("no error code"))]
    Status {
        url: String,
        status: u16,
        error: Option<String>,
    },
    /// The server answered 200 with a body that is not the expected shape.
    #[error("{url} answered with a malformed body: {detail}")]
    Malformed { url: String, detail: String },
    /// The local queue could not be used.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Another process is draining the queue.
    #[error(transparent)]
    DrainLock(#[from] DrainLockError),
}

impl SyncError {
    /// A stable machine-readable code for `--json` (`error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Auth(e) => e.code(),
            SyncError::NoPrivateTeam { .. } => "no_private_teamspace",
            SyncError::Transport { .. } => "server_unreachable",
            SyncError::Status {
                status: 401 | 403, ..
            } => "token_rejected",
            SyncError::Status {
                status: 300..=399 | 429 | 500..=599,
                ..
            } => "server_unavailable",
            SyncError::Status { .. } => "batch_rejected",
            SyncError::Malformed { .. } => "malformed_answer",
            SyncError::Queue(QueueError::Locked { .. }) => "queue_locked",
            SyncError::Queue(QueueError::Corrupt { .. }) => "queue_damaged",
            SyncError::Queue(QueueError::Io { .. }) => "queue_io",
            SyncError::DrainLock(DrainLockError::Busy { .. }) => "drain_busy",
            SyncError::DrainLock(DrainLockError::Io { .. }) => "drain_lock_io",
        }
    }

    /// The CLI exit code of a `sync now` that failed this way (`0` for the benign skip).
    pub fn exit_code(&self) -> i32 {
        match self {
            SyncError::Auth(e) => e.exit_code(),
            SyncError::NoPrivateTeam { .. } => exit::OK,
            SyncError::Status {
                status: 401 | 403, ..
            } => exit::RELOGIN,
            SyncError::Transport { .. }
            | SyncError::Status { .. }
            | SyncError::Malformed { .. }
            | SyncError::DrainLock(_) => exit::RETRYABLE,
            SyncError::Queue(QueueError::Corrupt { .. }) => exit::QUEUE_DAMAGED,
            SyncError::Queue(_) => exit::RETRYABLE,
        }
    }
}
