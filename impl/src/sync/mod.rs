//! Sync: the durable local event queue and the sender that delivers it to the SaaS.
//!
//! Reading order (each imports only modules above it): [`queue`] (SQLite at
//! `<root>/sync/queue.db`), `drain_lock` (one sender at a time), `error` ([`SyncError`], typed
//! causes), `client` (the batch and profile requests), `team` (the private teamspace, or a
//! benign skip), [`diagnostic`] (codes classified from types, the one stderr line), `sender`
//! (the drain), `status` (what `sync status` reports). This module only declares and
//! re-exports; the contract is in `docs/sync.md`.

mod client;
pub mod diagnostic;
mod drain_lock;
mod error;
pub mod queue;
mod sender;
mod status;
mod team;

pub use client::{
    batch_body, error_code as status_error_code, parse_batch_answer, parse_teams, BatchAnswer,
    EventResult, BATCH_PATH, ME_PATH,
};
pub use diagnostic::{classify, Diagnostic, DiagnosticCode, NEVER_EMITTED};
pub use drain_lock::{acquire as acquire_drain_lock, DrainGuard, DrainLockError};
pub use error::{SyncError, TransportKind};
pub use queue::{EventQueue, QueueError, QueueStats, QueuedEvent};
pub use sender::{DrainOptions, DrainReport, Drained, Sender, BATCH_SIZE};
pub use status::SyncStatusReport;
pub use team::private_team;
