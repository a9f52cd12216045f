//! The token endpoint's answer: two bytes of status, the rest the body. The same checks as the
//! `token_answer` property (impl/tests/properties/token_answer.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;
use spec_kitty::oauth::{classify_refresh, HttpAnswer, RefreshResponse, MAX_ACCESS_LIFETIME_S};
use spec_kitty::session::StoredSession;

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let answer = HttpAnswer {
        status: 100 + u16::from_le_bytes(*head) % 500,
        location: None,
        body: body.to_vec(),
    };
    if let RefreshResponse::Granted(grant) = classify_refresh(&answer) {
        assert!((0..=MAX_ACCESS_LIFETIME_S).contains(&grant.expires_in));
        let sent = StoredSession {
            access_token: "a".into(),
            refresh_token: "r".into(),
            session_id: "s".into(),
            user_id: "u".into(),
            ..Default::default()
        };
        let next = spec_kitty::refresh::apply_grant(&sent, grant, spec_kitty::now());
        let bytes = next.to_json();
        assert!(StoredSession::from_json(&bytes).is_ok(), "a granted session must read back");
    }
});
