//! `session.json` as found on disk: the envelope, then AES-GCM with one key derived at start.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spec_kitty::storage::SessionCipher;
use std::sync::OnceLock;

fn cipher() -> &'static SessionCipher {
    static CIPHER: OnceLock<SessionCipher> = OnceLock::new();
    CIPHER.get_or_init(|| SessionCipher::derive("fuzz-host:1000", b"0123456789abcdef"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(plaintext) = cipher().open(data, std::path::Path::new("session.json")) {
        let _ = spec_kitty::session::StoredSession::from_json(&plaintext);
    }
});
