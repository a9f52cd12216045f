//! The decrypted session plaintext: parses or is refused; what parses rewrites stably.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spec_kitty::session::StoredSession;

fuzz_target!(|data: &[u8]| {
    if let Ok(session) = StoredSession::from_json(data) {
        let written = session.to_json();
        let back = StoredSession::from_json(&written).expect("a rewritten session reads back");
        assert_eq!(back.to_json(), written);
    }
});
