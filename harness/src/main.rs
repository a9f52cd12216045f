//! The `scenario` binary: see the crate documentation and `harness/README.md`.

fn main() {
    // First: when spawned as `<exe> __exec ...`, become spec-kitty or the legacy client.
    harness::dispatch();
    std::process::exit(harness::cli_main());
}
