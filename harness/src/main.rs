//! The `scenario` binary. See [`harness::cli`].

fn main() {
    // First: when spawned as `<exe> __exec ...`, become spec-kitty or the legacy client.
    harness::multicall::dispatch();
    std::process::exit(harness::cli::main());
}
