//! The sender: drains the queue to `POST /api/v1/events/batch/`, one batch at a time.
//!
//! Why: every path that delivers events (`sync now`, the final sync after `sync enqueue`, the
//! sync daemon's tick) must follow the same rules, so there is one sender. The rules:
//! - one sender per runtime root at a time (the drain lock);
//! - nothing to send needs no session and no network;
//! - the bearer token comes from the [`TokenManager`] (refreshing through the transaction); a
//!   401 from the ingress refreshes once and retries once;
//! - events go to the session's private teamspace only (`team`), or are not sent;
//! - an event leaves the queue only after the server's answer names it `accepted` or
//!   `duplicate`. Its id is the idempotency key the server deduplicates on, so a sender killed
//!   between the answer and the delete (the `sync.batch_answered` point) sends it again and the
//!   server answers `duplicate`: delivered exactly once, never lost.

use super::client::IngressClient;
use super::drain_lock;
use super::error::{SyncError, TransportKind};
use super::queue::EventQueue;
use super::team;
use crate::deadline::Deadline;
use crate::paths::RuntimeRoot;
use crate::refresh::{AuthError, ReloginCause};
use crate::syncpoint::{self, Point};
use crate::token_manager::TokenManager;
use serde::Serialize;
use std::time::Duration;

/// Events per batch.
pub const BATCH_SIZE: usize = 100;

/// How a drain is bounded.
#[derive(Debug, Clone, Copy)]
pub struct DrainOptions {
    /// Events per request.
    pub batch_size: usize,
    /// How long to wait for another sender to finish.
    pub lock_wait: Duration,
    /// The bound on one request (connect, headers and body).
    pub request_timeout: Duration,
    /// When set, no request starts or runs past it (a bounded final sync).
    pub until: Option<Deadline>,
}

impl DrainOptions {
    /// `sync now`: wait up to 10 s for another sender, 10 s per request, no overall bound.
    pub fn drain_all() -> Self {
        DrainOptions {
            batch_size: BATCH_SIZE,
            lock_wait: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            until: None,
        }
    }

    /// The one bounded attempt after a local command: 2 s for the lock, 5 s in all.
    pub fn final_sync() -> Self {
        DrainOptions {
            batch_size: BATCH_SIZE,
            lock_wait: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            until: Some(Deadline::after(Duration::from_secs(5))),
        }
    }

    fn request_deadline(&self) -> Deadline {
        let own = Deadline::after(self.request_timeout);
        match self.until {
            Some(until) => own.min(until),
            None => own,
        }
    }
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Events the server accepted as new.
    pub sent: u64,
    /// Events the server already had (an earlier sender was cut off after it answered).
    pub duplicates: u64,
    /// Events the server answered but did not take (kept, with their error).
    pub not_taken: u64,
    /// Batches posted.
    pub batches: u32,
    /// Events left in the queue at the end, when it could be counted.
    pub remaining: Option<u64>,
}

/// A drain's report and, when it stopped early, why.
#[derive(Debug)]
pub struct Drained {
    pub report: DrainReport,
    pub error: Option<SyncError>,
}

/// Sends one runtime root's queue.
pub struct Sender {
    root: RuntimeRoot,
    manager: Option<TokenManager>,
    saas_url: Option<String>,
    client: Option<IngressClient>,
}

impl Sender {
    /// A sender for `root`; the session and the SaaS URL are read when first needed.
    pub fn new(root: &RuntimeRoot) -> Self {
        Sender {
            root: root.clone(),
            manager: None,
            saas_url: None,
            client: None,
        }
    }

    /// Uses `manager` instead of loading one (a daemon keeps its manager across drains).
    pub fn with_manager(mut self, manager: TokenManager) -> Self {
        self.manager = Some(manager);
        self
    }

    /// Uses `url` instead of `SPEC_KITTY_SAAS_URL` (embedders, tests).
    pub fn with_saas_url(mut self, url: impl Into<String>) -> Self {
        self.saas_url = Some(url.into());
        self
    }

    /// Drains the queue as `opts` bounds it.
    pub fn drain(&mut self, opts: &DrainOptions) -> Drained {
        let mut report = DrainReport::default();
        let result = self.drain_into(opts, &mut report);
        Drained {
            report,
            error: result.err(),
        }
    }

    fn drain_into(
        &mut self,
        opts: &DrainOptions,
        report: &mut DrainReport,
    ) -> Result<(), SyncError> {
        let _guard = drain_lock::acquire(&self.root.drain_lock_file(), opts.lock_wait)?;
        let queue = EventQueue::open(&self.root.queue_db())?;
        let result = self.send_all(&queue, opts, report);
        report.remaining = queue.stats().ok().map(|s| s.depth);
        result
    }

    fn send_all(
        &mut self,
        queue: &EventQueue,
        opts: &DrainOptions,
        report: &mut DrainReport,
    ) -> Result<(), SyncError> {
        if queue.stats()?.depth == 0 {
            return Ok(());
        }
        let batch_url = client_url(&self.saas_url);
        let (manager, client) = self.prepare()?;
        let team = team::resolve(manager, client, opts.request_deadline())?;
        loop {
            let batch = queue.peek(opts.batch_size.max(1))?;
            if batch.is_empty() {
                return Ok(());
            }
            if opts.until.is_some_and(|d| d.passed()) {
                return Err(SyncError::Transport {
                    url: batch_url.clone(),
                    kind: TransportKind::Timeout,
                    detail: "the final sync's time ran out before the queue was empty".into(),
                });
            }
            let ids: Vec<String> = batch.iter().map(|e| e.event_id.clone()).collect();
            let answer = match send_batch(manager, client, &team, &batch, opts) {
                Ok(answer) => answer,
                Err(e) => {
                    if matches!(
                        e,
                        SyncError::Transport { .. }
                            | SyncError::Status { .. }
                            | SyncError::Malformed { .. }
                    ) {
                        let why = e.to_string();
                        queue.record_attempt(&ids, Some(&why))?;
                    }
                    return Err(e);
                }
            };
            report.batches += 1;
            let mut confirmed = Vec::new();
            let mut refused = Vec::new();
            let (mut sent, mut dup) = (0, 0);
            for r in answer.results.iter().filter(|r| ids.contains(&r.event_id)) {
                match r.status.as_str() {
                    "accepted" => {
                        sent += 1;
                        confirmed.push(r.event_id.clone());
                    }
                    "duplicate" => {
                        dup += 1;
                        confirmed.push(r.event_id.clone());
                    }
                    _ => refused.push((r.event_id.clone(), r.error.clone())),
                }
            }
            let detail = format!("accepted={sent} duplicates={dup}");
            if let Err(fault) = syncpoint::hit_with(Point::SyncBatchAnswered, Some(&detail)) {
                return Err(SyncError::Transport {
                    url: batch_url.clone(),
                    kind: TransportKind::Broken,
                    detail: fault.to_string(),
                });
            }
            queue.remove(&confirmed)?;
            if !confirmed.is_empty() {
                queue.mark_success(crate::now())?;
            }
            for (id, error) in &refused {
                let why = error.as_deref().unwrap_or("the server did not take it");
                queue.record_attempt(std::slice::from_ref(id), Some(why))?;
            }
            report.sent += sent;
            report.duplicates += dup;
            report.not_taken += refused.len() as u64;
            if confirmed.is_empty() {
                // Nothing moved: sending the same batch again now would not either.
                return Ok(());
            }
        }
    }

    /// Loads the session (a missing one stops here, before any configuration is needed) and
    /// builds the client, once.
    fn prepare(&mut self) -> Result<(&TokenManager, &IngressClient), SyncError> {
        if self.manager.is_none() {
            let mut manager = TokenManager::load(&self.root)?;
            if let Some(url) = &self.saas_url {
                manager = manager.with_saas_url(url.clone());
            }
            self.manager = Some(manager);
        }
        if self.manager.as_ref().is_some_and(|m| m.session().is_none()) {
            return Err(AuthError::Relogin(ReloginCause::NoSession).into());
        }
        if self.client.is_none() {
            let url = match &self.saas_url {
                Some(url) => url.clone(),
                None => crate::paths::saas_url().map_err(AuthError::from)?,
            };
            self.client = Some(IngressClient::new(&url)?);
        }
        match (&self.manager, &self.client) {
            (Some(manager), Some(client)) => Ok((manager, client)),
            // Both were filled in just above.
            _ => Err(AuthError::Relogin(ReloginCause::NoSession).into()),
        }
    }
}

fn client_url(configured: &Option<String>) -> String {
    configured
        .clone()
        .or_else(|| crate::paths::saas_url().ok())
        .unwrap_or_default()
        + super::client::BATCH_PATH
}

/// Posts one batch with a token from the manager; a 401 refreshes once and retries once.
fn send_batch(
    manager: &TokenManager,
    client: &IngressClient,
    team: &str,
    batch: &[super::queue::QueuedEvent],
    opts: &DrainOptions,
) -> Result<super::client::BatchAnswer, SyncError> {
    let token = manager.access_token()?;
    let count = batch.len().to_string();
    let _ = syncpoint::hit_with(Point::SyncBatchSending, Some(&count));
    match client.post_batch(&token, team, batch, opts.request_deadline()) {
        Err(SyncError::Status { status: 401, .. }) => {
            // The server refused a token we thought usable: let the transaction decide (it
            // refreshes, or learns that the session was revoked), then try once more.
            let refreshed = manager.refresh()?.result?;
            client.post_batch(
                &refreshed.access_token,
                team,
                batch,
                opts.request_deadline(),
            )
        }
        other => other,
    }
}
