//! How the runner addresses a child it spawns: the multicall words of its command line, and the
//! variables through which it configures it: its name in the
//! scenario, the sync-point socket, and the bound and clock overrides.
//!
//! Why the harness owns them: production code never reads them. The child side of the runner's
//! own executable ([`crate::multicall`]) reads them and installs the values through
//! `spec_kitty::hooks`; the `spec-kitty` binary has no code that knows these names, so no user's
//! environment can steer it.

/// The first argument that marks a child invocation (`<exe> __exec <program> <args...>`).
pub const EXEC_ARG: &str = "__exec";
/// `__exec spec-kitty ...`.
pub const SPEC_KITTY: &str = "spec-kitty";
/// `__exec legacy-client ...`.
pub const LEGACY_CLIENT: &str = "legacy-client";
/// `__exec token-threads N`: N threads of one token manager (`crate::threads`).
pub const TOKEN_THREADS: &str = "token-threads";

/// The runner's Unix socket for sync points.
pub const SOCKET: &str = "KITTY_SCENARIO_SOCKET";
/// The child's process name inside the scenario.
pub const PROCESS: &str = "KITTY_SCENARIO_PROCESS";
/// Refresh lock wait bound, in milliseconds.
pub const LOCK_WAIT_MS: &str = "KITTY_SCENARIO_LOCK_WAIT_MS";
/// The one deadline under the refresh lock, in milliseconds.
pub const REFRESH_CEILING_MS: &str = "KITTY_SCENARIO_REFRESH_CEILING_MS";
/// Seconds added to the child's clock.
pub const CLOCK_OFFSET_S: &str = "KITTY_SCENARIO_CLOCK_OFFSET_S";

/// The package version a daemon child reports (models version skew).
pub const DAEMON_VERSION: &str = "KITTY_SCENARIO_DAEMON_VERSION";

/// A deliberately broken build for this child only (`broken = "..."` on the process; test-only,
/// see [`BROKEN_STALE_REJECTION_DELETES`]).
pub const BROKEN: &str = "KITTY_SCENARIO_BROKEN";

/// The value of [`BROKEN`] that sets `spec_kitty::hooks::Overrides::stale_rejection_deletes`:
/// the stale-rejection branch deletes the session, as the original client did.
pub const BROKEN_STALE_REJECTION_DELETES: &str = "stale_rejection_deletes";

/// Every variable above: removed from the runner's own environment at start, and reserved (a
/// scenario's `env` may not set them).
pub const ALL: [&str; 7] = [
    SOCKET,
    PROCESS,
    LOCK_WAIT_MS,
    REFRESH_CEILING_MS,
    CLOCK_OFFSET_S,
    DAEMON_VERSION,
    BROKEN,
];
