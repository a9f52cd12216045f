//! The embeddable server: [`FakeSaas`], the handle a test or the harness holds.
//!
//! Why it exists: the harness is synchronous and tests may or may not run inside a runtime, so
//! the fake never borrows the caller's runtime: it runs its own on a background thread. What it
//! guarantees: `start` binds synchronously (errors and the URL are known when it returns); every
//! accessor reads the shared state directly under the lock, without HTTP, and returns the same
//! values the admin API sends ([`crate::admin_api`]); shutdown (or drop) is bounded even with
//! requests in a long fault delay; dropping the handle inside a runtime does not panic.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::io;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin_api::{
    ClockState, EventStats, FaultStatus, SeedRequest, SeededSession, SessionInfo,
};
use crate::config::{ConfigError, FaultSpec, SaasConfig};
use crate::journal::JournalEntry;
use crate::router::router;
use crate::state::App;
use crate::transport::{Conn, KillableListener};

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeSaasError {
    #[error("invalid saas config: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the fake SaaS runtime: {0}")]
    Runtime(#[source] io::Error),
}

/// Options that are not part of the shared TOML schema.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Print one line per request to stderr (the standalone binary does).
    pub log_requests: bool,
}

/// How long in-flight requests (e.g. in a fault delay) may delay shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// A running fake SaaS. Stops on [`FakeSaas::shutdown`] or when dropped.
pub struct FakeSaas {
    url: String,
    app: App,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeSaas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSaas").field("url", &self.url).finish()
    }
}

impl FakeSaas {
    /// Validate `config`, bind `127.0.0.1:<config.port or 0>` and serve on a background thread.
    /// Safe to call from inside or outside a tokio runtime.
    pub fn start(config: SaasConfig) -> Result<FakeSaas, FakeSaasError> {
        FakeSaas::start_with(config, StartOptions::default())
    }

    /// [`FakeSaas::start`] with options outside the TOML schema.
    pub fn start_with(
        config: SaasConfig,
        options: StartOptions,
    ) -> Result<FakeSaas, FakeSaasError> {
        config.validate()?;
        let addr = format!("127.0.0.1:{}", config.port.unwrap_or(0));
        let bind_error = |source| FakeSaasError::Bind {
            addr: addr.clone(),
            source,
        };
        let listener = std::net::TcpListener::bind(&addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let url = format!("http://127.0.0.1:{port}");
        let app = App::new(config, url.clone(), options.log_requests);
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let server_app = app.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-saas-{port}"))
            .spawn(move || serve(server_app, listener, stop_rx, ready_tx))
            .map_err(FakeSaasError::Runtime)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(FakeSaasError::Runtime(e));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(FakeSaasError::Runtime(io::Error::other(
                    "the server thread exited during start-up",
                )));
            }
        }
        Ok(FakeSaas {
            url,
            app,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> SaasConfig {
        self.app.lock().config.clone()
    }

    /// Every journaled request so far, in order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.app.lock().journal.entries()
    }

    /// Requests received on `endpoint` (e.g. `"/oauth/token"`), faulted or not.
    pub fn count(&self, endpoint: &str) -> u64 {
        self.app.lock().journal.count_of(endpoint)
    }

    /// Requests received, by path.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.app.lock().journal.counters()
    }

    /// Install a fault at the end of the list.
    ///
    /// # Panics
    /// When the spec is invalid (unknown endpoint, probability outside 0..=1, ...): that is a
    /// bug in the caller. Use [`FakeSaas::try_add_fault`] to get the error instead.
    pub fn add_fault(&self, fault: FaultSpec) {
        if let Err(e) = self.try_add_fault(fault) {
            panic!("invalid fault: {e}");
        }
    }

    /// Validate and install a fault at the end of the list.
    pub fn try_add_fault(&self, fault: FaultSpec) -> Result<(), ConfigError> {
        let mut shared = self.app.lock();
        let index = shared.faults.status().len();
        fault.validate(&format!("fault[{index}]"))?;
        shared.faults.add(fault);
        Ok(())
    }

    /// Replace the installed faults (validated first; nothing changes on error).
    pub fn set_faults(&self, faults: Vec<FaultSpec>) -> Result<(), ConfigError> {
        for (i, fault) in faults.iter().enumerate() {
            fault.validate(&format!("fault[{i}]"))?;
        }
        self.app.lock().faults.replace(faults);
        Ok(())
    }

    /// Remove every installed fault (their fired counts stay in [`FakeSaas::faults_fired`]).
    pub fn clear_faults(&self) {
        self.app.lock().faults.clear();
    }

    /// The installed faults with their matched/fired counters.
    pub fn faults(&self) -> Vec<FaultStatus> {
        self.app.lock().faults.status()
    }

    /// Times each fault fired, by name, for every fault installed since start or reset
    /// (including faults that never fired and faults cleared since).
    pub fn faults_fired(&self) -> BTreeMap<String, u64> {
        self.app.lock().faults.fired()
    }

    /// Block until `endpoint` has received at least `n` requests (counted on arrival, so a
    /// request still in a fault delay counts), or `timeout` passes; returns whether it did.
    /// The way to wait for "the client's request has reached the server" without sleeping.
    pub fn wait_for_count(&self, endpoint: &str, n: u64, timeout: Duration) -> bool {
        self.app
            .wait_until(timeout, |shared| shared.journal.count_of(endpoint) >= n)
    }

    /// Wait (bounded) until at least `n` events have been accepted; false on timeout. Unlike
    /// [`FakeSaas::wait_for_count`], which counts a request at arrival, this waits for the model
    /// to have stored them.
    pub fn wait_for_events(&self, n: u64, timeout: Duration) -> bool {
        self.app
            .wait_until(timeout, |shared| shared.model.event_stats().accepted >= n)
    }

    /// Create a session and return its tokens (what a scenario writes into the CLI's session).
    pub fn seed_session(&self, req: SeedRequest) -> SeededSession {
        let mut shared = self.app.lock();
        let now = shared.now();
        shared.model.seed(&req, now)
    }

    /// The current refresh token of the session's family.
    pub fn latest_refresh_token(&self, session_id: &str) -> Option<String> {
        self.app.lock().model.latest_refresh_token(session_id)
    }

    /// Every access and refresh token ever issued, in issue order.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.app.lock().model.issued_tokens()
    }

    /// All sessions, with what the server decided about each (revoked and why, reuse
    /// detections, refreshes).
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let shared = self.app.lock();
        shared.model.sessions(shared.now())
    }

    /// One session.
    pub fn session(&self, session_id: &str) -> Option<SessionInfo> {
        let shared = self.app.lock();
        shared.model.session_info(session_id, shared.now())
    }

    /// Events accepted by `POST /api/v1/events/batch/`, in order, each event id once (a re-sent
    /// id is answered `duplicate` and not stored again); each carries the batch's `team_id`.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.app.lock().model.events()
    }

    /// The `event_id`s of [`FakeSaas::events`], in order.
    pub fn event_ids(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| {
                e.get("event_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .collect()
    }

    /// Events received (re-sends included), accepted and answered `duplicate`.
    pub fn event_stats(&self) -> EventStats {
        self.app.lock().model.event_stats()
    }

    /// Revoke a session (every token of it then answers `session_invalid` / `invalid_token`).
    /// Unknown ids are ignored.
    pub fn revoke_session(&self, session_id: &str) {
        self.app.lock().model.revoke_session(session_id);
    }

    /// Set the session's refresh absolute expiry to now. Unknown ids are ignored.
    pub fn expire_refresh(&self, session_id: &str) {
        let mut shared = self.app.lock();
        let now = shared.now();
        shared.model.expire_refresh(session_id, now);
    }

    /// The fake's "now" (real time plus every advance since start or reset).
    pub fn now(&self) -> DateTime<Utc> {
        self.app.lock().now()
    }

    /// The fake's clock: now, and how far it has been advanced.
    pub fn clock(&self) -> ClockState {
        self.app.lock().clock_state()
    }

    /// Move the fake's clock forward: expiries, grace windows and device-flow intervals see the
    /// time `by` later, without waiting. Fault delays and trickles stay real time.
    pub fn advance_clock(&self, by: Duration) -> ClockState {
        let mut shared = self.app.lock();
        shared.clock.advance(by);
        shared.clock_state()
    }

    /// Forget sessions, tokens, journal, counters and fired counts; reinstall configured faults;
    /// put the clock back to real time.
    pub fn reset(&self) {
        self.app.lock().reset();
    }

    /// Stop serving and wait for the server thread (bounded: in-flight requests get
    /// a short grace period). Also done on drop.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeSaas {
    fn drop(&mut self) {
        // Joining a plain thread is allowed inside a runtime (it only blocks briefly); the
        // runtime being dropped is ours, on our thread, never the caller's.
        self.stop_and_join();
    }
}

/// The server thread: runtime, router, graceful shutdown with a deadline.
fn serve(
    app: App,
    listener: std::net::TcpListener,
    stop: watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<io::Result<()>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fake-saas-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let router = router(app);
        let mut graceful_rx = stop.clone();
        let graceful = async move {
            let _ = graceful_rx.wait_for(|stop| *stop).await;
        };
        let mut deadline_rx = stop;
        let deadline = async move {
            let _ = deadline_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let server = axum::serve(
            KillableListener::new(listener),
            router.into_make_service_with_connect_info::<Conn>(),
        )
        .with_graceful_shutdown(graceful)
        .into_future();
        let _ = ready.send(Ok(()));
        tokio::select! {
            _ = server => {}
            _ = deadline => {}
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
}
