//! The embeddable server: [`FakeSaas`] owns a tokio runtime on its own thread.
//!
//! The harness is synchronous and tests may or may not run inside a runtime, so the fake never
//! borrows the caller's runtime: `start` binds synchronously (errors and the URL are known when it
//! returns) and every accessor reads the shared state directly under the lock, without HTTP.
//!
//! Connections go through [`KillableListener`] so that a `close` fault can drop a connection
//! without any HTTP response: the handler marks its connection killed, every later write fails,
//! and hyper closes the socket before a single byte of the response is sent.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::{ConfigError, FaultSpec, SaasConfig};
use crate::faults::{FaultStatus, FaultTable};
use crate::journal::{Journal, JournalEntry};
use crate::model::{Model, SeedRequest, SeededSession, SessionInfo};

/// Everything behind the one lock.
pub(crate) struct Shared {
    pub config: SaasConfig,
    pub base_url: String,
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
            faults,
            journal: Journal::default(),
            config,
            base_url,
        }
    }

    /// Back to the state right after start: no sessions, configured faults, empty journal.
    pub fn reset(&mut self) {
        *self = Shared::new(self.config.clone(), self.base_url.clone());
    }
}

/// Shared state plus server options; cheap to clone into handlers.
#[derive(Clone)]
pub(crate) struct App {
    shared: Arc<Mutex<Shared>>,
    pub log_requests: bool,
}

impl App {
    /// The state lock. Never held across an await. A panic while holding it (a bug) must not
    /// turn every later request into a second panic, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per-connection information handed to handlers: the peer and the kill switch.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    #[allow(dead_code)] // kept for debugging output
    pub peer: SocketAddr,
    killed: Arc<AtomicBool>,
}

impl Conn {
    /// Make every further write on this connection fail.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections can be killed from a handler.
pub(crate) struct KillableListener {
    inner: TcpListener,
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    return (
                        KillableStream {
                            inner: stream,
                            killed: killed.clone(),
                        },
                        Conn { peer, killed },
                    );
                }
                // Per-connection errors (reset before accept) are harmless; anything else
                // (e.g. out of file descriptors) is retried after a pause instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Conn {
            peer: self.inner.local_addr()?,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails every write once killed.
pub(crate) struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

fn killed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "closed by a fault")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

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
        let app = App {
            shared: Arc::new(Mutex::new(Shared::new(config, url.clone()))),
            log_requests: options.log_requests,
        };
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

    /// Create a session and return its tokens (what a scenario writes into the CLI's session).
    pub fn seed_session(&self, req: SeedRequest) -> SeededSession {
        self.app.lock().model.seed(&req)
    }

    /// The current refresh token of the session's family.
    pub fn latest_refresh_token(&self, session_id: &str) -> Option<String> {
        self.app.lock().model.latest_refresh_token(session_id)
    }

    /// Every access and refresh token ever issued, in issue order.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.app.lock().model.issued_tokens()
    }

    /// All sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.app.lock().model.sessions()
    }

    /// One session.
    pub fn session(&self, session_id: &str) -> Option<SessionInfo> {
        self.app.lock().model.session_info(session_id)
    }

    /// Events accepted by `POST /api/v1/events/batch/`, in order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.app.lock().model.events()
    }

    /// Revoke a session (every token of it then answers `session_invalid` / `invalid_token`).
    /// Unknown ids are ignored.
    pub fn revoke_session(&self, session_id: &str) {
        self.app.lock().model.revoke_session(session_id);
    }

    /// Set the session's refresh absolute expiry to now. Unknown ids are ignored.
    pub fn expire_refresh(&self, session_id: &str) {
        self.app.lock().model.expire_refresh(session_id);
    }

    /// Forget sessions, tokens, journal, counters and fired counts; reinstall configured faults.
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
        let router = Router::new()
            .nest("/__admin", crate::admin::router())
            .fallback(crate::routes::dispatch)
            .with_state(app);
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
            KillableListener { inner: listener },
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
