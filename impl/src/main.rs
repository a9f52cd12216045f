//! The `spec-kitty` binary: see [`spec_kitty::cli`].

fn main() {
    std::process::exit(spec_kitty::cli::run(std::env::args_os().collect()));
}
