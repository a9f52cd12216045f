//! The server's state behind its one lock: [`Shared`], and [`App`], the handle handlers hold.
//!
//! Why it exists: the public routes, the admin routes and the embedding handle all read and
//! change the same state; giving it a module of its own lets each of them depend on it without
//! depending on each other. What it guarantees: one mutex guards the model, the clock, the fault
//! table and the journal together, so a request's fault decision, model update and journal entry
//! are consistent; the lock is never held across an await; and every change a waiter may care
//! about (a request counted or journaled) wakes [`App::wait_until`].

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::admin_api::ClockState;
use crate::clock::Clock;
use crate::config::SaasConfig;
use crate::faults::FaultTable;
use crate::journal::Journal;
use crate::model::Model;

/// Everything behind the one lock.
pub(crate) struct Shared {
    pub config: SaasConfig,
    pub base_url: String,
    pub clock: Clock,
    pub model: Model,
    pub faults: FaultTable,
    pub journal: Journal,
}

impl Shared {
    fn new(config: SaasConfig, base_url: String) -> Shared {
        let mut faults = FaultTable::new(config.seed);
        for spec in &config.faults {
            faults.add(spec.clone());
        }
        Shared {
            model: Model::new(config.clone(), base_url.clone()),
            clock: Clock::new(),
            faults,
            journal: Journal::default(),
            config,
            base_url,
        }
    }

    /// The fake's "now".
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The clock as the admin API reports it.
    pub fn clock_state(&self) -> ClockState {
        ClockState {
            now: self.clock.now(),
            offset_ms: u64::try_from(self.clock.offset().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Back to the state right after start: no sessions, configured faults, empty journal, the
    /// clock back to real time.
    pub fn reset(&mut self) {
        *self = Shared::new(self.config.clone(), self.base_url.clone());
    }
}

/// Shared state plus server options; cheap to clone into handlers.
#[derive(Clone)]
pub(crate) struct App {
    shared: Arc<Mutex<Shared>>,
    changed: Arc<Condvar>,
    pub log_requests: bool,
}

impl App {
    pub fn new(config: SaasConfig, base_url: String, log_requests: bool) -> App {
        App {
            shared: Arc::new(Mutex::new(Shared::new(config, base_url))),
            changed: Arc::new(Condvar::new()),
            log_requests,
        }
    }

    /// The state lock. Never held across an await. A panic while holding it (a bug) must not
    /// turn every later request into a second panic, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake every [`App::wait_until`] (call after a change, with the lock released).
    pub fn notify(&self) {
        self.changed.notify_all();
    }

    /// Block until `done` holds for the state, or `timeout` passes; returns whether it held.
    /// For synchronous callers (the handle), never for handlers.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&Shared) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut shared = self.lock();
        loop {
            if done(&shared) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            shared = match self.changed.wait_timeout(shared, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}
