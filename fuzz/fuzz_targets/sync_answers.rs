//! The events batch answer, `/api/v1/me` teams and error bodies of the sync client.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spec_kitty::sync::parse_batch_answer(data);
    let _ = spec_kitty::sync::parse_teams(data);
    if let Some(code) = spec_kitty::sync::status_error_code(data) {
        assert!(code.chars().count() <= 80 && !code.chars().any(char::is_control));
    }
});
