//! The token manager: what the rest of the CLI asks for a token.
//!
//! It keeps the session in memory, hands out the access token while it is usable (more than 5 s
//! left), and otherwise runs the refresh transaction. Concurrent callers in one process share one
//! transaction (single flight), but correctness never depends on that: the machine-wide lock and
//! the reload inside the transaction are what make a stale in-memory copy harmless. Rotated
//! tokens a transaction could not save are kept here and saved first by the next one.

use crate::deadline::Deadline;
use crate::hooks;
use crate::lock::{RefreshLock, DEFAULT_WAIT};
use crate::oauth::{OAuthClient, RefreshResponse};
use crate::paths::{saas_url, RuntimeRoot};
use crate::refresh::{
    AuthError, RefreshTransaction, ReloginCause, RetryKind, TokenEndpoint, TransactionReport,
    Unsaved, DEFAULT_CEILING,
};
use crate::session::StoredSession;
use crate::storage::SessionStore;
use crate::syncpoint::{self, Point};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Bounds of the refresh machinery.
#[derive(Debug, Clone, Copy)]
pub struct RefreshSettings {
    /// How long to wait for the machine-wide lock.
    pub lock_wait: Duration,
    /// The one deadline for everything done while holding the lock.
    pub ceiling: Duration,
}

impl RefreshSettings {
    /// The production bounds (10 s each), unless a test executable installed overrides.
    pub fn current() -> Self {
        let overrides = hooks::overrides();
        Self {
            lock_wait: overrides.lock_wait.unwrap_or(DEFAULT_WAIT),
            ceiling: overrides.refresh_ceiling.unwrap_or(DEFAULT_CEILING),
        }
    }
}

/// What logout did.
#[derive(Debug, Clone, PartialEq)]
pub struct LogoutReport {
    /// Whether a session (readable or not) was removed.
    pub removed: bool,
    /// The server-side revocation: `None` when not attempted, else the result's description.
    pub revocation: Option<Result<(), String>>,
    /// Why the local files could not be deleted (then `removed` is false and the session is
    /// still on disk, possibly already revoked at the server: see `revocation`).
    pub delete_failed: Option<String>,
}

/// The SaaS token endpoint, built on first use so commands that never refresh never need
/// `SPEC_KITTY_SAAS_URL` or an HTTP client.
struct LazySaas {
    /// An explicit base URL; `None` reads `SPEC_KITTY_SAAS_URL` on first use.
    url: Option<String>,
    timeout: Duration,
    client: OnceLock<Result<OAuthClient, String>>,
}

impl LazySaas {
    fn client(&self) -> Result<&OAuthClient, AuthError> {
        // A missing or malformed URL is a configuration error, reported fresh each time.
        let url = match &self.url {
            Some(url) => url.clone(),
            None => saas_url()?,
        };
        self.client
            .get_or_init(|| OAuthClient::new(&url, self.timeout).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| AuthError::retry(RetryKind::Network, e.clone()))
    }
}

impl TokenEndpoint for LazySaas {
    fn refresh(
        &self,
        refresh_token: &str,
        deadline: Deadline,
    ) -> Result<RefreshResponse, AuthError> {
        Ok(self.client()?.refresh(refresh_token, deadline))
    }
}

/// Hands out access tokens for one runtime root.
pub struct TokenManager {
    store: SessionStore,
    settings: RefreshSettings,
    saas: LazySaas,
    session: Mutex<Option<StoredSession>>,
    unsaved: Mutex<Option<Unsaved>>,
    flight: Mutex<()>,
}

impl TokenManager {
    /// Loads the persisted session into memory. An unreadable file is an error (and is left in
    /// place); no file is `Ok` with no session.
    pub fn load(root: &RuntimeRoot) -> Result<Self, AuthError> {
        let store = SessionStore::for_root(root)?;
        Self::with_store(store, RefreshSettings::current())
    }

    /// Loads through an explicit store and settings (tests, benchmarks).
    pub fn with_store(store: SessionStore, settings: RefreshSettings) -> Result<Self, AuthError> {
        let session = store.read()?;
        syncpoint::hit(Point::SessionLoaded)?;
        Ok(Self {
            store,
            settings,
            saas: LazySaas {
                url: None,
                timeout: settings.ceiling,
                client: OnceLock::new(),
            },
            session: Mutex::new(session),
            unsaved: Mutex::new(None),
            flight: Mutex::new(()),
        })
    }

    /// Uses `url` as the SaaS base URL instead of `SPEC_KITTY_SAAS_URL` (embedders, tests).
    pub fn with_saas_url(mut self, url: impl Into<String>) -> Self {
        self.saas.url = Some(url.into());
        self
    }

    /// A copy of the in-memory session.
    pub fn session(&self) -> Option<StoredSession> {
        self.memory().clone()
    }

    /// Whether a session is loaded whose access token is usable or whose refresh token is not
    /// known to be expired.
    pub fn is_authenticated(&self) -> bool {
        let now = crate::now();
        self.memory()
            .as_ref()
            .is_some_and(|s| s.access_usable(now) || !s.refresh_expired(now))
    }

    /// A usable access token, refreshing through the transaction when it expires within 5 s.
    pub fn access_token(&self) -> Result<String, AuthError> {
        if let Some(token) = self.usable_token() {
            return Ok(token);
        }
        let _flight = lock_ignoring_poison(&self.flight);
        if self.memory().is_none() {
            // Nothing in memory: another process may have logged in since we loaded.
            *self.memory() = self.store.read()?;
        }
        // Another thread of this process may have refreshed while we waited.
        if let Some(token) = self.usable_token() {
            return Ok(token);
        }
        let report = self.run_transaction()?;
        report.result.map(|s| s.access_token)
    }

    /// Runs the refresh transaction now, whatever the token's remaining life.
    pub fn refresh(&self) -> Result<TransactionReport, AuthError> {
        let _flight = lock_ignoring_poison(&self.flight);
        self.run_transaction()
    }

    /// Logs out: takes the refresh lock (so an in-flight refresh cannot resurrect the session),
    /// revokes the refresh token at the server (best effort, within the ceiling), deletes the
    /// session, releases.
    pub fn logout(&self) -> Result<LogoutReport, AuthError> {
        let _flight = lock_ignoring_poison(&self.flight);
        let lock = self.store.root().refresh_lock_file();
        syncpoint::hit(Point::LockWait)?;
        let _guard = RefreshLock::acquire(&lock, self.settings.lock_wait).map_err(|e| {
            AuthError::retry(RetryKind::LockBusy, format!("cannot log out now: {e}"))
        })?;
        let deadline = Deadline::after(self.settings.ceiling);
        syncpoint::hit(Point::LockAcquired)?;
        let persisted = self.store.read();
        let removed = !matches!(persisted, Ok(None));
        let revocation = match &persisted {
            Ok(Some(session)) => Some(self.revoke(session, deadline)),
            _ => None,
        };
        syncpoint::hit(Point::LogoutBeforeDelete)?;
        // The user asked to log out: even when revoking used up the ceiling, the local delete
        // still gets a short bound of its own.
        let delete_by = deadline.max(Deadline::after(Duration::from_secs(1)));
        let deleted = self.store.lock(delete_by).and_then(|mut l| l.delete());
        if let Err(e) = deleted {
            return Ok(LogoutReport {
                removed: false,
                revocation,
                delete_failed: Some(e.to_string()),
            });
        }
        if removed {
            crate::ended::record(
                self.store.root(),
                "logout",
                "you logged out (`spec-kitty auth logout`)",
            );
        }
        *self.memory() = None;
        *lock_ignoring_poison(&self.unsaved) = None;
        Ok(LogoutReport {
            removed,
            revocation,
            delete_failed: None,
        })
    }

    fn revoke(&self, session: &StoredSession, deadline: Deadline) -> Result<(), String> {
        let client = self.saas.client().map_err(|e| e.to_string())?;
        client
            .revoke(&session.refresh_token, "refresh_token", deadline)
            .map_err(|e| e.to_string())
    }

    fn run_transaction(&self) -> Result<TransactionReport, AuthError> {
        let caller = match self.session() {
            Some(s) => s,
            None => self
                .store
                .read()?
                .ok_or(AuthError::Relogin(ReloginCause::NoSession))?,
        };
        let transaction = RefreshTransaction {
            store: &self.store,
            endpoint: &self.saas,
            lock_path: self.store.root().refresh_lock_file(),
            lock_wait: self.settings.lock_wait,
            ceiling: self.settings.ceiling,
            now: crate::now,
        };
        let pending = lock_ignoring_poison(&self.unsaved).take();
        let report = transaction.run_with(&caller, pending);
        *lock_ignoring_poison(&self.unsaved) = report.unsaved.clone();
        match (&report.result, &report.unsaved) {
            (Ok(session), _) => *self.memory() = Some(session.clone()),
            // Rotated but unsaved: use the new tokens while this process lives.
            (Err(_), Some(unsaved)) => *self.memory() = Some(unsaved.session.clone()),
            (Err(AuthError::Relogin(_)), None) => *self.memory() = None,
            (Err(_), None) => {}
        }
        Ok(report)
    }

    fn usable_token(&self) -> Option<String> {
        let now = crate::now();
        self.memory()
            .as_ref()
            .filter(|s| s.access_usable(now))
            .map(|s| s.access_token.clone())
    }

    fn memory(&self) -> MutexGuard<'_, Option<StoredSession>> {
        lock_ignoring_poison(&self.session)
    }
}

/// A panic elsewhere must not wedge token access: the guarded data stays consistent because
/// every critical section is a plain assignment or clone.
fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
