//! The daemon's `GET /api/health` answer, from whatever listens on a loopback port.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spec_kitty::daemon::protocol::Health;

fuzz_target!(|data: &[u8]| {
    let _ = Health::parse(data);
});
