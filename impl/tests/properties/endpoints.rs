//! Every other answer the client parses: device authorization and polling, revoke, `/api/v1/me`,
//! session-status, the events batch (and its error bodies), and the daemon's health answer.
//! Any status and bytes give a typed result or a typed error, never a panic, and nothing read
//! from the server reaches a message with control characters.

use crate::check::property;
use crate::gen::{self, field_value, object, quoted};
use crate::token_answer::{status, token_body};
use proptest::prelude::*;
use spec_kitty::daemon::protocol::{Health, HealthError, MAX_HEALTH_BYTES};
use spec_kitty::oauth::{
    classify_device_poll, json_answer, revoke_answer, AnswerError, DeviceAuthorization, DevicePoll,
    HttpAnswer, Profile, SessionStatus,
};
use spec_kitty::session::{StoredSession, Team};
use spec_kitty::sync::{parse_batch_answer, parse_teams, status_error_code};

fn s() -> BoxedStrategy<String> {
    field_value(gen::string())
}
fn n() -> BoxedStrategy<String> {
    field_value(gen::number())
}
fn b() -> BoxedStrategy<String> {
    field_value(prop_oneof![
        Just("true".to_string()),
        Just("false".to_string())
    ])
}

fn team() -> BoxedStrategy<String> {
    object(vec![
        ("id", s()),
        ("name", s()),
        ("role", s()),
        ("is_private_teamspace", b()),
        ("slug", s()),
    ])
}

fn teams() -> BoxedStrategy<String> {
    field_value(prop::collection::vec(team(), 0..3).prop_map(|t| format!("[{}]", t.join(", "))))
}

/// Bodies of every non-token endpoint, mixed: each parser also sees the others' shapes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let device = object(vec![
        ("device_code", s()),
        ("user_code", s()),
        ("verification_uri", s()),
        ("verification_uri_complete", s()),
        ("expires_in", n()),
        ("interval", n()),
    ]);
    let me = object(vec![
        ("user_id", s()),
        ("email", s()),
        ("name", s()),
        ("teams", teams()),
        ("refresh_token_expires_at", field_value(gen::time_text())),
    ]);
    let status = object(vec![
        ("session_id", s()),
        ("active", b()),
        ("generation", n()),
    ]);
    let result = object(vec![("event_id", s()), ("status", s()), ("error", s())]);
    let batch = object(vec![(
        "results",
        field_value(
            prop::collection::vec(result, 0..4).prop_map(|r| format!("[{}]", r.join(", "))),
        ),
    )]);
    let error = object(vec![(
        "error",
        field_value(
            prop_oneof![
                Just("authorization_pending"),
                Just("slow_down"),
                Just("access_denied"),
                Just("expired_token"),
            ]
            .prop_map(quoted),
        ),
    )]);
    gen::damaged(prop_oneof![device, me, status, batch, error, token_body()])
}

fn answer() -> impl Strategy<Value = gen::Shown> {
    (status(), prop::option::of(any::<String>()), body()).prop_map(|(status, location, body)| {
        gen::Shown(HttpAnswer {
            status,
            location,
            body,
        })
    })
}

fn printable(e: &AnswerError) -> bool {
    !e.to_string().chars().any(char::is_control)
}

#[test]
fn every_endpoint_answer_is_typed() {
    property("endpoint_answers", 500, answer(), |gen::Shown(answer)| {
        for e in [
            json_answer::<DeviceAuthorization>(&answer).err(),
            json_answer::<Profile>(&answer).err(),
            json_answer::<SessionStatus>(&answer).err(),
            revoke_answer(&answer).err(),
        ]
        .into_iter()
        .flatten()
        {
            if answer.status == 200 {
                prop_assert!(matches!(e, AnswerError::Malformed(_)), "{:?}", e);
            } else if !(300..400).contains(&answer.status) {
                prop_assert!(printable(&e), "{:?}", e);
            }
        }
        if let Ok(profile) = json_answer::<Profile>(&answer) {
            // A profile becomes the stored session's teams: they must survive a write and read.
            let teams: Vec<Team> = profile.teams.into_iter().map(Team::from).collect();
            let session = StoredSession {
                user_id: profile.user_id,
                access_token: "a".into(),
                refresh_token: "r".into(),
                session_id: "s".into(),
                teams: teams.clone(),
                ..Default::default()
            };
            let back = StoredSession::from_json(&session.to_json());
            prop_assert!(back.is_ok(), "{:?}", back);
            prop_assert_eq!(back.unwrap().teams, teams);
        }
        match classify_device_poll(&answer) {
            DevicePoll::Granted(_) => prop_assert_eq!(answer.status, 200),
            DevicePoll::Failed(m) => prop_assert!(!m.chars().any(char::is_control), "{:?}", m),
            _ => prop_assert_ne!(answer.status, 200),
        }
        Ok(())
    });
}

#[test]
fn every_sync_answer_is_typed() {
    property("sync_answers", 300, body(), |body| {
        let _ = parse_batch_answer(&body);
        let _ = parse_teams(&body);
        if let Some(code) = status_error_code(&body) {
            prop_assert!(!code.chars().any(char::is_control) && code.chars().count() <= 80);
        }
        Ok(())
    });
}

fn health_body() -> impl Strategy<Value = Vec<u8>> {
    let view = object(vec![
        ("session_id", s()),
        ("generation", n()),
        ("fingerprint", s()),
        ("access_token_expires_at", s()),
    ]);
    let health = object(vec![
        ("status", s()),
        ("daemon_family", s()),
        ("protocol_version", n()),
        ("package_version", s()),
        ("pid", n()),
        ("port", n()),
        ("runtime_root", s()),
        ("started_at", field_value(gen::time_text())),
        ("session", field_value(view)),
        ("last_refresh_outcome", s()),
    ]);
    prop_oneof![
        20 => gen::damaged(health),
        1 => (0usize..3).prop_map(|extra| vec![b' '; MAX_HEALTH_BYTES - 1 + extra]),
    ]
}

#[test]
fn every_health_answer_is_typed() {
    property("daemon_health", 300, health_body(), |body| {
        match Health::parse(&body) {
            Ok(h) => {
                // What a health answer says round-trips through the daemon's own writer.
                let again = serde_json::to_vec(&h).unwrap();
                prop_assert_eq!(Health::parse(&again).unwrap(), h);
            }
            Err(HealthError::TooLarge(len)) => prop_assert!(len >= MAX_HEALTH_BYTES),
            Err(HealthError::Malformed(_)) => {}
        }
        Ok(())
    });
}
