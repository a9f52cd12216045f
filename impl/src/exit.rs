//! The process exit codes every `spec-kitty` command shares, in one place: scripts branch on
//! them together with the `--json` error `code`, so the library's errors (which know what kind
//! of failure they are) and the CLI (which reports them) must agree on the numbers.

/// Success.
pub const OK: i32 = 0;
/// Not authenticated / a new login is needed (the message names the cause). `auth doctor`: a
/// critical finding remains.
pub const RELOGIN: i32 = 1;
/// Usage or configuration error (e.g. `SPEC_KITTY_SAAS_URL` unset or malformed). `auth doctor`:
/// an internal error.
pub const USAGE: i32 = 2;
/// Retryable: a lock busy, the network failed or timed out, a local delete failed. Nothing was
/// deleted.
pub const RETRYABLE: i32 = 3;
/// `sync`: the event queue database is damaged; it was left in place.
pub const QUEUE_DAMAGED: i32 = 4;
