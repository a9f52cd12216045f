//! Who this daemon says it is: the package version it reports, and how this executable runs
//! itself as the daemon.

use crate::hooks;

/// The hidden subcommand that runs the daemon in the foreground.
pub const DAEMON_SUBCOMMAND: [&str; 2] = ["sync", "daemon"];

/// The package version the daemon reports in health (a test executable may model skew).
pub fn reported_version() -> &'static str {
    hooks::overrides().daemon_version.unwrap_or(crate::VERSION)
}

/// The arguments that make this executable run the daemon: `sync daemon`, after the prefix a
/// multicall test executable needs to act as `spec-kitty`.
pub fn daemon_argv() -> Vec<&'static str> {
    let overrides = hooks::overrides();
    overrides
        .reexec_prefix
        .iter()
        .copied()
        .chain(DAEMON_SUBCOMMAND)
        .collect()
}

/// Whether process `pid` runs the daemon: its command line ends with `sync daemon`. A listener's
/// health answer is only its own word; this is what the process really runs.
pub fn runs_daemon(pid: u32) -> bool {
    crate::procfs::cmdline(pid)
        .is_some_and(|args| args.ends_with(&DAEMON_SUBCOMMAND.map(String::from)))
}
