//! `spec-kitty sync enqueue | now | status`: record events, send the queue, report on it.
//!
//! The rules every one of them keeps (documented in `docs/sync.md`): with `--json`, stdout is
//! exactly one JSON document on every exit path; a final sync after `sync enqueue` never changes
//! the exit code and prints at most one `sync_diagnostic` line on stderr; bad input records
//! nothing and exits 2.

use super::output::{exit, Failure, Output};
use super::status::human_duration;
use crate::paths::{sync_enabled, RuntimeRoot};
use crate::session::format_report_time;
use crate::sync::{
    classify, Diagnostic, DiagnosticCode, DrainOptions, DrainReport, EventQueue, QueueError,
    Sender, SyncError, SyncStatusReport,
};
use clap::Args;
use serde::Serialize;

/// `sync enqueue` arguments.
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The event type: 1-128 characters of letters, digits and `. _ - : /`.
    pub event_type: String,
    /// The event's payload, a JSON value (default `{}`).
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--json` for `sync now` and `sync status`.
#[derive(Debug, Args)]
pub struct SyncJson {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The event as `sync enqueue` reports it.
#[derive(Serialize)]
struct EventFacts {
    event_id: String,
    event_type: String,
    created_at: String,
}

/// The final sync after `sync enqueue`.
#[derive(Serialize)]
struct FinalSync {
    /// Whether it ran (`SPEC_KITTY_ENABLE_SAAS_SYNC` truthy).
    attempted: bool,
    #[serde(flatten)]
    report: DrainReport,
    /// Why it did not deliver everything, when it did not.
    diagnostic_code: Option<DiagnosticCode>,
}

#[derive(Serialize)]
struct EnqueueReport {
    /// `success` once the event is recorded, whatever the final sync did; else `error`.
    result: &'static str,
    event: Option<EventFacts>,
    queue_depth: Option<u64>,
    final_sync: Option<FinalSync>,
}

/// Runs `sync enqueue`.
pub fn enqueue(root: &RuntimeRoot, args: &EnqueueArgs, out: Output) -> i32 {
    let failed = EnqueueReport {
        result: "error",
        event: None,
        queue_depth: None,
        final_sync: None,
    };
    let payload = match validate(args) {
        Ok(payload) => payload,
        Err(failure) => return out.failure(&failed, &failure),
    };
    let recorded = EventQueue::open(&root.queue_db()).and_then(|q| {
        q.enqueue(&args.event_type, &payload, crate::now())
            .map(|e| (q, e))
    });
    let (queue, event) = match recorded {
        Ok(done) => done,
        Err(e) => return out.failure(&failed, &queue_failure(&e)),
    };
    let final_sync = sync_enabled().then(|| {
        let drained = Sender::new(root).drain(&DrainOptions::final_sync());
        let diagnostic_code = drained.error.as_ref().map(|e| {
            let diagnostic = Diagnostic::of(e);
            crate::sync::diagnostic::emit(&diagnostic);
            diagnostic.code
        });
        FinalSync {
            attempted: true,
            report: drained.report,
            diagnostic_code,
        }
    });
    ensure_daemon(root);
    let queue_depth = final_sync
        .as_ref()
        .and_then(|f| f.report.remaining)
        .or_else(|| queue.stats().ok().map(|s| s.depth));
    let body = EnqueueReport {
        result: "success",
        event: Some(EventFacts {
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            created_at: format_report_time(event.created_at),
        }),
        queue_depth,
        final_sync: Some(final_sync.unwrap_or(FinalSync {
            attempted: false,
            report: DrainReport::default(),
            diagnostic_code: None,
        })),
    };
    out.success(&body, || {
        println!("{}", event.event_id);
        let waiting = queue_depth.map_or("?".into(), |d| d.to_string());
        eprintln!(
            "Queued {} event {} ({waiting} waiting).",
            event.event_type, event.event_id
        );
    })
}

/// The payload as compact JSON, or a usage failure (exit 2) that records nothing.
fn validate(args: &EnqueueArgs) -> Result<String, Failure> {
    let t = &args.event_type;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-:/".contains(c);
    if t.is_empty() || t.len() > 128 || !t.chars().all(allowed) {
        return Err(Failure::new(
            exit::USAGE,
            "usage",
            format!("event type {:?} is not valid: use 1-128 characters of letters, digits and . _ - : / (nothing was recorded)", t.chars().take(140).collect::<String>()),
        ));
    }
    let text = args.payload.as_deref().unwrap_or("{}");
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Failure::new(
            exit::USAGE,
            "usage",
            format!("--payload is not JSON ({e}); nothing was recorded"),
        )
    })?;
    Ok(value.to_string())
}

fn queue_failure(e: &QueueError) -> Failure {
    let error = SyncError::Queue(e.clone());
    Failure::new(error.exit_code(), error.code(), e)
}

#[derive(Serialize)]
struct NowReport {
    /// `delivered`, `nothing_to_send`, `partial` (the server did not take some events),
    /// `skipped` (no private teamspace: nothing sent, events kept) or `failed`.
    result: &'static str,
    #[serde(flatten)]
    report: DrainReport,
    diagnostic_code: Option<DiagnosticCode>,
}

/// With sync enabled, the daemon that drains the queue from now on is ensured the way `sync
/// start` does (best effort: a daemon that cannot start never changes the command's result).
fn ensure_daemon(root: &RuntimeRoot) {
    match crate::daemon::control::ensure_if_enabled(root) {
        Some(Ok(started)) if !started.already_running => {
            tracing::info!("started the sync daemon (pid {})", started.pid)
        }
        Some(Err(e)) => tracing::warn!("could not start the sync daemon: {e}"),
        _ => {}
    }
}

/// Runs `sync now`.
pub fn now(root: &RuntimeRoot, out: Output) -> i32 {
    let drained = Sender::new(root).drain(&DrainOptions::drain_all());
    ensure_daemon(root);
    let report = drained.report;
    let Some(error) = drained.error else {
        let result = match (report.batches, report.not_taken) {
            (0, _) => "nothing_to_send",
            (_, 0) => "delivered",
            _ => "partial",
        };
        let body = NowReport {
            result,
            report: report.clone(),
            diagnostic_code: None,
        };
        return out.success(&body, || {
            println!(
                "Sent {} event(s) ({} already delivered, {} not taken); {} left in the queue.",
                report.sent,
                report.duplicates,
                report.not_taken,
                report.remaining.unwrap_or(0)
            )
        });
    };
    let code = classify(&error);
    if let SyncError::NoPrivateTeam { .. } = error {
        let body = NowReport {
            result: "skipped",
            report: report.clone(),
            diagnostic_code: Some(code),
        };
        eprintln!("warning: {error} ({code})");
        return out.success(&body, || {
            println!(
                "Nothing sent: no private teamspace; {} event(s) stay queued.",
                report.remaining.unwrap_or(0)
            )
        });
    }
    let body = NowReport {
        result: "failed",
        report,
        diagnostic_code: Some(code),
    };
    out.failure(
        &body,
        &Failure::new(error.exit_code(), error.code(), &error),
    )
}

/// Runs `sync status`.
pub fn status(root: &RuntimeRoot, out: Output) -> i32 {
    #[derive(serde::Serialize)]
    struct Full {
        #[serde(flatten)]
        queue: SyncStatusReport,
        #[serde(flatten)]
        daemon: super::daemon_cmds::DaemonReport,
    }
    let daemon = match super::daemon_cmds::daemon_report(root) {
        Ok(daemon) => daemon,
        Err(e) => return out.fail(&Failure::new(exit::USAGE, "config", e)),
    };
    match SyncStatusReport::read(root, crate::now()) {
        Ok(queue) => {
            let full = Full { queue, daemon };
            out.success(&full, || {
                print_status(&full.queue);
                super::daemon_cmds::print_daemon(&full.daemon);
            })
        }
        Err(e) => {
            let full = Full {
                queue: SyncStatusReport::unknown(root),
                daemon,
            };
            out.failure(&full, &queue_failure(&e))
        }
    }
}

fn print_status(r: &SyncStatusReport) {
    println!(
        "Queue:                {} event(s) waiting ({})",
        r.queue_depth, r.queue_file
    );
    if let (Some(at), Some(age)) = (&r.oldest_event_at, r.oldest_event_age_s) {
        println!(
            "Oldest event:         recorded {at} ({} ago)",
            human_duration(age.max(0) as u64)
        );
    }
    println!(
        "Last successful sync: {}",
        r.last_successful_sync_at.as_deref().unwrap_or("never")
    );
    println!(
        "Final sync:           {}",
        if r.sync_enabled {
            "enabled (SPEC_KITTY_ENABLE_SAAS_SYNC)"
        } else {
            "disabled (set SPEC_KITTY_ENABLE_SAAS_SYNC=1 to send after each enqueue)"
        }
    );
}
