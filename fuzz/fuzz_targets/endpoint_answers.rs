//! Device authorization and polling, revoke, `/api/v1/me`, session-status: two bytes of status,
//! the rest the body (as the `endpoint_answers` property).
#![no_main]
use libfuzzer_sys::fuzz_target;
use spec_kitty::oauth::{
    classify_device_poll, json_answer, revoke_answer, DeviceAuthorization, HttpAnswer, Profile,
    SessionStatus,
};

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let answer = HttpAnswer {
        status: 100 + u16::from_le_bytes(*head) % 500,
        location: None,
        body: body.to_vec(),
    };
    let _ = json_answer::<DeviceAuthorization>(&answer);
    let _ = json_answer::<Profile>(&answer);
    let _ = json_answer::<SessionStatus>(&answer);
    let _ = revoke_answer(&answer);
    let _ = classify_device_poll(&answer);
});
