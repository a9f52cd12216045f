//! Generator-driven tests of every parser of outside input and of the refresh transaction
//! against an arbitrary server (issue 14; `docs/fuzzing.md`).
//!
//! Why one target with modules: one binary links once, and the shared generators (`gen`) and
//! the case-count convention (`check`) live in one place. Each property runs a small bounded
//! number of cases by default so `cargo test` stays fast; `PROPTEST_CASES=<n>` runs `n` cases
//! of every property (the long run), and each property prints its rate to stderr.

#[path = "properties/check.rs"]
mod check;
#[path = "properties/endpoints.rs"]
mod endpoints;
#[path = "properties/gen.rs"]
mod gen;
#[path = "properties/local_files.rs"]
mod local_files;
#[path = "properties/python_round_trip.rs"]
mod python_round_trip;
#[path = "properties/scripted_server.rs"]
mod scripted_server;
#[path = "properties/session_file.rs"]
mod session_file;
#[path = "properties/token_answer.rs"]
mod token_answer;
#[path = "properties/transaction.rs"]
mod transaction;
