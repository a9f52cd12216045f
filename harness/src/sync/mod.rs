//! Sync points, the runner's side: the wire messages (`wire`), the per-process state and the
//! hold decision (`state`), and the socket server (`server`).
//!
//! The server answers every point at once with `continue` (or the process's declared fault at
//! that point) unless the current step holds that process at that point: then the reply waits
//! until a later step releases it (or kills it). Every point is recorded with its time.

pub mod server;
pub mod state;
pub mod wire;
