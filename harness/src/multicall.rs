//! Multicall: the runner's own executable plays every child process, so no binary has to be
//! found on disk. A child is spawned as `<exe> __exec spec-kitty <args...>` or
//! `<exe> __exec legacy-client [--force]`; [`dispatch`] recognises that and never returns.
//!
//! Call [`dispatch`] first thing in `main` of every executable the runner may use as its
//! executor (the `scenario` binary and the `tests/scenarios.rs` test binary).

use std::ffi::OsString;

use crate::child_env::{EXEC_ARG, LEGACY_CLIENT, SPEC_KITTY, TOKEN_THREADS};

/// If this process was started as `<exe> __exec <program> <args...>`, installs the test hooks
/// the runner asked for (see [`crate::child_hooks`]), runs that program and exits with its code.
/// Otherwise removes the child-only variables ([`crate::child_env::ALL`]) from this process's
/// own environment, so a runner started by another runner never inherits its socket, and
/// returns.
pub fn dispatch() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a == EXEC_ARG) == Some(true) {
        crate::child_hooks::install_from_env();
        let code = run_child(&args[2..]);
        std::process::exit(code);
    }
    for name in crate::child_env::ALL {
        if std::env::var_os(name).is_some() {
            // Single-threaded at this point of `main`.
            std::env::remove_var(name);
        }
    }
}

/// Runs `program args...` in this process and returns its exit code.
pub fn run_child(rest: &[OsString]) -> i32 {
    let Some(program) = rest.first() else {
        eprintln!("{EXEC_ARG}: missing program ({SPEC_KITTY} | {LEGACY_CLIENT})");
        return 2;
    };
    if program == SPEC_KITTY {
        // args[0] is the program name, as the CLI expects.
        spec_kitty::cli::run(rest.to_vec())
    } else if program == LEGACY_CLIENT {
        crate::legacy::run(rest[1..].to_vec())
    } else if program == TOKEN_THREADS {
        crate::threads::run(rest[1..].to_vec())
    } else {
        eprintln!(
            "{EXEC_ARG}: unknown program {:?} (expected {SPEC_KITTY}, {LEGACY_CLIENT} or {TOKEN_THREADS})",
            program
        );
        2
    }
}
