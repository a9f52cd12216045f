//! A stateful fake of the spec-kitty SaaS, for the scenario harness, the end-to-end tests and
//! anyone testing an OAuth client.
//!
//! No off-the-shelf fake OAuth server models refresh-token rotation with reuse detection, grace
//! windows, scripted faults and latency together; this one does. It keeps a real model (users,
//! sessions, one refresh-token family per session with a generation counter), answers the
//! endpoints the CLI calls, injects faults declared in TOML or set at run time, journals every
//! request so a scenario can assert on exactly what the server saw, and runs on a clock a test
//! can advance.
//!
//! ```no_run
//! use std::time::Duration;
//! use fake_saas::{FakeSaas, SaasConfig, SeedRequest};
//!
//! let saas = FakeSaas::start(SaasConfig::default()).unwrap();
//! let seeded = saas.seed_session(SeedRequest::default());
//! // ... point the client at saas.url() and let it refresh seeded.refresh_token ...
//! saas.advance_clock(Duration::from_secs(3600)); // the access token has now expired
//! assert_eq!(saas.count("/oauth/token"), 0);
//! saas.shutdown();
//! ```
//!
//! Modules, from the bottom up (each imports only modules listed before it):
//! `config` (the one schema), `time` (times on the wire), `clock` (the settable "now"),
//! [`admin_api`] (admin bodies), `journal` (request log), `model` (sessions, token families,
//! grants), `answer` (an answer at once or trickled), `faults` (which fault fires, what it
//! answers), `transport` (killable connections), `state` (everything behind the lock),
//! `routes` (the public pipeline), `admin` (`/__admin/`), `router` (both together),
//! `handle` ([`FakeSaas`]).

mod admin;
pub mod admin_api;
mod answer;
mod clock;
mod config;
mod faults;
mod handle;
mod journal;
mod model;
mod router;
mod routes;
mod state;
mod time;
mod transport;

pub use admin_api::{
    AuthMethod, ClockState, EventStats, FaultStatus, RevokedReason, SeedRequest, SeededSession,
    SessionInfo,
};
pub use clock::MAX_CLOCK_OFFSET;
pub use config::{
    ConfigError, DeviceConfig, DeviceOutcome, FaultAction, FaultPhase, FaultSpec, GrantFilter,
    ReusePolicy, SaasConfig, Team, TextPosition, UserConfig, DEVICE_CODE_GRANT, ENDPOINTS,
    REDIRECT_DEFAULT_PREFIX, REDIRECT_DEFAULT_STATUS, TRICKLE_DEFAULT_INTERVAL_MS,
};
pub use faults::OVERSIZED_DEFAULT_BYTES;
pub use handle::{FakeSaas, FakeSaasError, StartOptions};
pub use journal::{JournalEntry, JournalOutcome};
pub use model::{ErrorReason, DEFAULT_SCOPE};
