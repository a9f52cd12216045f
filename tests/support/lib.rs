//! Intentionally empty: the root package exists only to carry the workspace-level tests
//! (`tests/scenarios.rs`, `tests/layout.rs`); this library target gives it a build target of its
//! own so `cargo build` at the root does something meaningful. Helpers shared by those tests
//! belong here.
