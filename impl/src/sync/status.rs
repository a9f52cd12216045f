//! What `spec-kitty sync status` reports, as one Serialize struct: the queue's depth, its oldest
//! event's age, the last successful sync, and whether sync is enabled.
//!
//! Why a library type and not CLI code: the sync daemon reports the same facts (and adds its own
//! state as a field of this struct), so both build the report the same way and scripts parse
//! one shape. Reading never creates a queue: a root without one reports an empty queue.

use super::queue::{EventQueue, QueueError};
use crate::paths::RuntimeRoot;
use crate::session::format_report_time;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// `sync status` (the `--json` document's fields besides `ok` and `error`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SyncStatusReport {
    /// The queue database's path.
    pub queue_file: String,
    /// Events waiting to be sent.
    pub queue_depth: u64,
    /// When the oldest waiting event was recorded (RFC 3339), if any.
    pub oldest_event_at: Option<String>,
    /// Its age in seconds, if any.
    pub oldest_event_age_s: Option<i64>,
    /// When the server last accepted a batch from this root (RFC 3339), if ever.
    pub last_successful_sync_at: Option<String>,
    /// Whether `SPEC_KITTY_ENABLE_SAAS_SYNC` is truthy in this process (final syncs run).
    pub sync_enabled: bool,
}

impl SyncStatusReport {
    /// The report for a root whose queue could not be read (depth unknown: 0, times null).
    pub fn unknown(root: &RuntimeRoot) -> Self {
        SyncStatusReport {
            queue_file: root.queue_db().display().to_string(),
            queue_depth: 0,
            oldest_event_at: None,
            oldest_event_age_s: None,
            last_successful_sync_at: None,
            sync_enabled: crate::paths::sync_enabled(),
        }
    }

    /// Reads `root`'s queue (without creating it) at `now`.
    pub fn read(root: &RuntimeRoot, now: DateTime<Utc>) -> Result<Self, QueueError> {
        let mut report = Self::unknown(root);
        let Some(queue) = EventQueue::open_existing(&root.queue_db())? else {
            return Ok(report);
        };
        let stats = queue.stats()?;
        report.queue_depth = stats.depth;
        report.oldest_event_at = stats.oldest_created_at.map(format_report_time);
        report.oldest_event_age_s = stats
            .oldest_created_at
            .map(|t| (now - t).num_seconds().max(0));
        report.last_successful_sync_at = stats.last_success_at.map(format_report_time);
        Ok(report)
    }
}
