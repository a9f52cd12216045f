//! A stateful fake of the spec-kitty SaaS, for the scenario harness, the end-to-end tests and
//! anyone testing an OAuth client.
//!
//! No off-the-shelf fake OAuth server models refresh-token rotation with reuse detection, grace
//! windows, scripted faults and latency together; this one does. It keeps a real model (users,
//! sessions, one refresh-token family per session with a generation counter), answers the
//! endpoints the CLI calls, injects faults declared in TOML or set at run time, and journals
//! every request so a scenario can assert on exactly what the server saw.
//!
//! ```no_run
//! use fake_saas::{FakeSaas, SaasConfig, SeedRequest};
//!
//! let saas = FakeSaas::start(SaasConfig::default()).unwrap();
//! let seeded = saas.seed_session(SeedRequest::default());
//! // ... point the client at saas.url() and let it refresh seeded.refresh_token ...
//! assert_eq!(saas.count("/oauth/token"), 0);
//! saas.shutdown();
//! ```
//!
//! Modules: [`config`] (the one TOML schema), `model` (sessions and token families), `faults`
//! (fault selection and substitute responses), `journal` (request log and counters), `routes`
//! (the public endpoints), `admin` (`/__admin/`), `server` (the embeddable handle).

mod admin;
pub mod config;
mod faults;
mod journal;
mod model;
mod routes;
mod server;
mod time;

pub use config::{
    ConfigError, DeviceConfig, DeviceOutcome, FaultAction, FaultPhase, FaultSpec, ReusePolicy,
    SaasConfig, Team, UserConfig, DEVICE_CODE_GRANT, ENDPOINTS,
};
pub use faults::{FaultStatus, OVERSIZED_DEFAULT_BYTES};
pub use journal::JournalEntry;
pub use model::{SeedRequest, SeededSession, SessionInfo, DEFAULT_SCOPE};
pub use server::{FakeSaas, FakeSaasError, StartOptions};
pub use time::iso;
