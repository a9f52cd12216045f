//! The per-user sync daemon: one per OS user and runtime root, serving every checkout, keeping
//! the session fresh through the refresh transaction, and retiring on its own when it is no
//! longer the singleton.
//!
//! Read top-down: [`config`] (ports, tick), [`state_file`] (the four-line record), [`singleton`]
//! (the lifelong flock), [`protocol`] (health and control types), [`identity`] (version, argv),
//! [`keeper`] (the session kept fresh), [`server`] (the daemon process), [`client`] (talking to
//! one), [`orphans`] (finding and removing the ones left behind), [`control`] (start, stop,
//! restart, status). The formats and guarantees are documented in `docs/daemon.md`.

pub mod client;
pub mod config;
pub mod control;
pub mod identity;
pub mod keeper;
pub mod orphans;
pub mod protocol;
pub mod server;
pub mod singleton;
pub mod state_file;
