//! The daemon process itself (`spec-kitty sync daemon`, hidden from `--help`): take the
//! singleton lock, bind a loopback port in the reserved range, write the state file, serve the
//! control plane, keep the session fresh, and retire when it is no longer the singleton.
//!
//! Why this shape: the OS decides who is the singleton (the flock), the state file tells clients
//! where to find it, and a lifecycle tick lets a daemon that lost either retire on its own. The
//! control plane binds 127.0.0.1 only and never reveals the control token; shutdown and trigger
//! require it, compared in constant time. SIGTERM and SIGINT shut down cleanly: the lock is
//! released and the state file removed only if it still names this daemon.

use super::config::DaemonConfig;
use super::keeper::{Keeper, KeeperView};
use super::protocol::{
    ControlAnswer, ControlRequest, Health, DAEMON_FAMILY, HEALTH_PATH, PROTOCOL_VERSION,
    SHUTDOWN_PATH, TRIGGER_PATH,
};
use super::singleton::SingletonLock;
use super::state_file::{self, ControlToken, DaemonRecord};
use crate::paths::RuntimeRoot;
use crate::syncpoint::{self, Point};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How a daemon run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Another daemon holds the singleton lock (its record, when readable).
    Declined { active: Option<(u32, u16)> },
    /// Asked to stop: a signal or an authenticated shutdown request.
    Stopped(String),
    /// No longer the recorded singleton: the state file or the lock file moved on.
    Retired(String),
}

/// Why the daemon could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot take the daemon lock {path}: {source}")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no free port on 127.0.0.1 in {start}-{end}: set SPEC_KITTY_DAEMON_PORTS to another range"
    )]
    NoPort { start: u16, end: u16 },
    #[error("cannot write the state file {path}: {source}")]
    StateFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the daemon's runtime: {0}")]
    Runtime(std::io::Error),
}

/// What the control plane shares with the lifecycle loop.
struct Shared {
    root: RuntimeRoot,
    record: DaemonRecord,
    started_at: String,
    view: Mutex<KeeperView>,
    shutdown: Notify,
    trigger: Notify,
}

/// Runs the daemon in this process until it stops or retires.
pub fn run(root: &RuntimeRoot, config: &DaemonConfig) -> Result<Ending, DaemonError> {
    // Detach from the starter's session (fails harmlessly when already a group leader).
    let _ = rustix::process::setsid();
    let lock_path = root.daemon_lock_file();
    let lock = match SingletonLock::try_acquire(&lock_path) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            let active = state_file::read(&root.daemon_state_file())
                .ok()
                .flatten()
                .map(|r| (r.pid, r.port));
            return Ok(Ending::Declined { active });
        }
        Err(source) => {
            return Err(DaemonError::Lock {
                path: lock_path.display().to_string(),
                source,
            })
        }
    };
    let listener = bind_in(config)?;
    listener
        .set_nonblocking(true)
        .map_err(DaemonError::Runtime)?;
    let port = listener.local_addr().map_err(DaemonError::Runtime)?.port();
    let record = DaemonRecord {
        port,
        token: ControlToken::generate(),
        pid: std::process::id(),
    };
    let state_path = root.daemon_state_file();
    state_file::write(&state_path, &record).map_err(|source| DaemonError::StateFile {
        path: state_path.display().to_string(),
        source,
    })?;
    tracing::info!(
        "daemon: pid {} serving {} on port {port}",
        record.pid,
        root.base().display()
    );
    let shared = Arc::new(Shared {
        root: root.clone(),
        record: record.clone(),
        started_at: crate::session::format_report_time(crate::now()),
        view: Mutex::new(KeeperView::default()),
        shutdown: Notify::new(),
        trigger: Notify::new(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let ending = runtime.block_on(serve(shared, listener, lock, config.tick));
    // A refresh still blocked (at a sync point, say) must not keep a stopping daemon alive.
    runtime.shutdown_background();
    state_file::remove_if_ours(&state_path, &record);
    tracing::info!("daemon: pid {} ended: {ending:?}", record.pid);
    Ok(ending)
}

/// The first free loopback port of the reserved range.
fn bind_in(config: &DaemonConfig) -> Result<TcpListener, DaemonError> {
    config
        .ports
        .clone()
        .find_map(|port| TcpListener::bind(("127.0.0.1", port)).ok())
        .ok_or(DaemonError::NoPort {
            start: *config.ports.start(),
            end: *config.ports.end(),
        })
}

async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    lock: SingletonLock,
    tick: Option<Duration>,
) -> Ending {
    let app = Router::new()
        .route(HEALTH_PATH, get(health))
        .route(SHUTDOWN_PATH, post(shutdown))
        .route(TRIGGER_PATH, post(trigger))
        .with_state(shared.clone());
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return Ending::Stopped(format!("cannot serve: {e}")),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });
    // Handlers first: from now on SIGTERM and SIGINT mean a clean shutdown, never death.
    let signals = match signals() {
        Ok(s) => s,
        Err(e) => return Ending::Stopped(format!("cannot install signal handlers: {e}")),
    };
    let _ = tokio::task::spawn_blocking(|| syncpoint::hit(Point::DaemonReady)).await;
    let ending = lifecycle(&shared, &lock, tick, signals).await;
    let reason = match &ending {
        Ending::Retired(why) => why.clone(),
        Ending::Stopped(why) => why.clone(),
        Ending::Declined { .. } => String::new(),
    };
    let _ = tokio::task::spawn_blocking(move || {
        syncpoint::hit_with(Point::DaemonRetiring, Some(&reason))
    })
    .await;
    let _ = stop_tx.send(());
    let _ = server.await;
    drop(lock);
    ending
}

/// The lifecycle loop: sleep until the next refresh or tick (no other wake-ups), run what is
/// due, stop on a signal or a shutdown request, retire when no longer the singleton.
async fn lifecycle(
    shared: &Arc<Shared>,
    lock: &SingletonLock,
    tick: Option<Duration>,
    (mut sigterm, mut sigint): Signals,
) -> Ending {
    let mut keeper = {
        let root = shared.root.clone();
        tokio::task::spawn_blocking(move || Keeper::load(&root))
            .await
            .expect("loading the session does not panic")
    };
    *shared.view.lock().unwrap_or_else(|p| p.into_inner()) = keeper.view();
    let mut next_tick = tick.map(|t| tokio::time::Instant::now() + t);
    loop {
        let refresh_at = tokio::time::Instant::now() + keeper.next_due(crate::now());
        let wake_at = next_tick.map_or(refresh_at, |t| t.min(refresh_at));
        let refresh_now = tokio::select! {
            _ = tokio::time::sleep_until(wake_at) => tokio::time::Instant::now() >= refresh_at,
            _ = shared.trigger.notified() => {
                drain_queue(&shared.root).await;
                true
            }
            _ = shared.shutdown.notified() => return Ending::Stopped("shutdown requested".into()),
            _ = sigterm.recv() => return Ending::Stopped("SIGTERM".into()),
            _ = sigint.recv() => return Ending::Stopped("SIGINT".into()),
        };
        if let (Some(at), Some(every)) = (next_tick, tick) {
            if tokio::time::Instant::now() >= at {
                if let Some(why) = no_longer_singleton(shared, lock) {
                    return Ending::Retired(why);
                }
                let _ = tokio::task::spawn_blocking(|| {
                    syncpoint::hit_with(Point::DaemonTick, Some("singleton"))
                })
                .await;
                drain_queue(&shared.root).await;
                next_tick = Some(tokio::time::Instant::now() + every);
            }
        }
        if refresh_now {
            keeper = tokio::task::spawn_blocking(move || {
                keeper.refresh();
                keeper
            })
            .await
            .expect("a refresh does not panic");
            *shared.view.lock().unwrap_or_else(|p| p.into_inner()) = keeper.view();
        }
    }
}

/// Sends what the sync queue holds (when this root has a queue), as `sync now` would.
async fn drain_queue(root: &RuntimeRoot) {
    if !root.queue_db().exists() {
        return;
    }
    let root = root.clone();
    let drained = tokio::task::spawn_blocking(move || {
        crate::sync::Sender::new(&root).drain(&crate::sync::DrainOptions::drain_all())
    })
    .await;
    match drained {
        Ok(d) => match d.error {
            None if d.report.sent > 0 => {
                tracing::info!("daemon: sent {} queued event(s)", d.report.sent)
            }
            None => {}
            Some(e) => tracing::warn!("daemon: could not send the queue: {e}"),
        },
        Err(e) => tracing::warn!("daemon: the queue drain failed: {e}"),
    }
}

/// Why this daemon is no longer the singleton, or `None` while it is.
fn no_longer_singleton(shared: &Shared, lock: &SingletonLock) -> Option<String> {
    if !lock.still_at_path() {
        return Some("the lock file at the path is no longer the one this daemon holds".into());
    }
    match state_file::read(&shared.root.daemon_state_file()) {
        Ok(Some(r)) if r.pid == shared.record.pid && r.port == shared.record.port => None,
        Ok(Some(r)) => Some(format!(
            "the state file names another daemon (pid {}, port {})",
            r.pid, r.port
        )),
        Ok(None) => Some("the state file is gone".into()),
        Err(e) => Some(format!("the state file {e}")),
    }
}

type Signals = (tokio::signal::unix::Signal, tokio::signal::unix::Signal);

fn signals() -> std::io::Result<Signals> {
    use tokio::signal::unix::{signal, SignalKind};
    Ok((
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    ))
}

async fn health(State(shared): State<Arc<Shared>>) -> Json<Health> {
    let view = shared
        .view
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Json(Health {
        status: "ok".into(),
        daemon_family: DAEMON_FAMILY.into(),
        protocol_version: PROTOCOL_VERSION,
        package_version: super::identity::reported_version().to_string(),
        pid: shared.record.pid,
        port: shared.record.port,
        runtime_root: shared.root.base().display().to_string(),
        started_at: Some(shared.started_at.clone()),
        session: view.session,
        last_refresh_outcome: view.last_outcome,
    })
}

async fn shutdown(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<ControlRequest>,
) -> (StatusCode, Json<ControlAnswer>) {
    authorised(&shared, &req, || shared.shutdown.notify_one())
}

async fn trigger(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<ControlRequest>,
) -> (StatusCode, Json<ControlAnswer>) {
    authorised(&shared, &req, || shared.trigger.notify_one())
}

fn authorised(
    shared: &Shared,
    req: &ControlRequest,
    then: impl FnOnce(),
) -> (StatusCode, Json<ControlAnswer>) {
    if shared.record.token.matches(&req.token) {
        then();
        (StatusCode::OK, Json(ControlAnswer::accepted()))
    } else {
        (StatusCode::FORBIDDEN, Json(ControlAnswer::invalid_token()))
    }
}
