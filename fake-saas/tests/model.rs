//! The model over real HTTP: every grant, every reuse policy, bearer endpoints, revocation,
//! expiry, and the 100-way refresh race.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;
use fake_saas::{ReusePolicy, SaasConfig, SeedRequest};
use serde_json::{json, Value};

fn rt(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string()
}

fn at(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[test]
fn refresh_rotates_and_reports_the_pair() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = saas.seed_session(SeedRequest {
        generation: Some(3),
        ..SeedRequest::default()
    });
    assert_eq!(seeded.session_id, "sess_1");
    assert!(
        seeded.refresh_token.starts_with("rt.sess_1.g3."),
        "{}",
        seeded.refresh_token
    );
    assert!(
        seeded.access_token.starts_with("at.sess_1.g3."),
        "{}",
        seeded.access_token
    );

    let (status, body) = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "refresh_token_expires_at",
            "scope",
            "generation",
            "session_id"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["generation"], 4);
    assert_eq!(body["session_id"], "sess_1");
    assert_eq!(body["scope"], "openid offline_access");
    assert!(rt(&body).starts_with("rt.sess_1.g4."));
    assert!(at(&body).starts_with("at.sess_1.g4."));
    let expires_at = body["refresh_token_expires_at"].as_str().unwrap();
    assert!(expires_at.ends_with("+00:00"), "{expires_at}");
    assert_eq!(expires_at, fake_saas::iso(&seeded.refresh_expires_at));
    assert_eq!(saas.latest_refresh_token("sess_1"), Some(rt(&body)));

    // The new pair works; the issued list has all four tokens.
    let (status, _) = me(&c, &saas, &at(&body));
    assert_eq!(status, 200);
    let issued = saas.issued_tokens();
    for token in [
        &seeded.access_token,
        &seeded.refresh_token,
        &at(&body),
        &rt(&body),
    ] {
        assert!(issued.contains(token), "{token} missing from {issued:?}");
    }
}

#[test]
fn rotation_off_keeps_the_refresh_token() {
    let saas = start_toml("rotation = false\naccess_ttl_s = 120");
    let c = client();
    let seeded = seed(&saas);
    for _ in 0..2 {
        let (status, body) = refresh(&c, &saas, &seeded.refresh_token);
        assert_eq!(status, 200, "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert_ne!(at(&body), seeded.access_token);
        assert_eq!(body["generation"], 1);
        assert_eq!(body["expires_in"], 120);
    }
    assert_eq!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
}

#[test]
fn refresh_errors() {
    let saas = start(SaasConfig::default());
    let c = client();
    let url = format!("{}/oauth/token", saas.url());

    let unknown = refresh(&c, &saas, "rt.sess_9.g1.deadbeef");
    assert_eq!((unknown.0, error_of(&unknown)), (400, "invalid_grant"));

    // An access token is not a refresh token.
    let seeded = seed(&saas);
    let wrong_kind = refresh(&c, &saas, &seeded.access_token);
    assert_eq!(
        (wrong_kind.0, error_of(&wrong_kind)),
        (400, "invalid_grant")
    );

    let bad_client = post_form(
        &c,
        &url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &seeded.refresh_token),
            ("client_id", "someone_else"),
        ],
    );
    assert_eq!(
        (bad_client.0, error_of(&bad_client)),
        (401, "invalid_client")
    );

    let missing = post_form(
        &c,
        &url,
        &[("grant_type", "refresh_token"), ("client_id", "cli_native")],
    );
    assert_eq!((missing.0, error_of(&missing)), (400, "invalid_request"));

    for grant in ["authorization_code", "password", "client_credentials"] {
        let answer = post_form(
            &c,
            &url,
            &[("grant_type", grant), ("client_id", "cli_native")],
        );
        assert_eq!(
            (answer.0, error_of(&answer)),
            (400, "unsupported_grant_type"),
            "{grant}"
        );
    }

    // Nothing above touched the family.
    assert_eq!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
}

#[test]
fn revoked_session_answers_session_invalid() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.revoke_session(&seeded.session_id);
    let answer = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((answer.0, error_of(&answer)), (401, "session_invalid"));
    let answer = me(&c, &saas, &seeded.access_token);
    assert_eq!((answer.0, error_of(&answer)), (401, "invalid_token"));
}

#[test]
fn refresh_past_absolute_expiry_is_invalid_grant() {
    let saas = start(SaasConfig::default());
    let c = client();
    let expired = saas.seed_session(SeedRequest {
        refresh_expires_in_s: -10,
        ..SeedRequest::default()
    });
    let (status, body) = refresh(&c, &saas, &expired.refresh_token);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );

    // Expiring a live session through the handle has the same effect.
    let live = seed(&saas);
    saas.expire_refresh(&live.session_id);
    let (status, body) = refresh(&c, &saas, &live.refresh_token);
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    let journal = saas.journal();
    assert!(
        journal.iter().all(|e| e.outcome == "expired"),
        "{journal:?}"
    );
}

#[test]
fn access_tokens_expire_down_to_one_second() {
    let saas = start_toml("access_ttl_s = 1");
    let c = client();
    let already = saas.seed_session(SeedRequest {
        access_expires_in_s: -60,
        ..SeedRequest::default()
    });
    let answer = me(&c, &saas, &already.access_token);
    assert_eq!((answer.0, error_of(&answer)), (401, "invalid_token"));

    let (status, body) = refresh(&c, &saas, &already.refresh_token);
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 1);
    let fresh = at(&body);
    assert_eq!(me(&c, &saas, &fresh).0, 200);
    std::thread::sleep(Duration::from_millis(1100));
    let answer = me(&c, &saas, &fresh);
    assert_eq!((answer.0, error_of(&answer)), (401, "invalid_token"));
}

#[test]
fn bearer_endpoints() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);

    let (status, body) = me(&c, &saas, &seeded.access_token);
    assert_eq!(status, 200);
    assert_eq!(body["user_id"], "user_1");
    assert_eq!(body["email"], "dev@example.com");
    assert_eq!(body["name"], "Dev User");
    let teams = body["teams"].as_array().unwrap();
    assert_eq!(teams.len(), 2);
    assert!(teams.iter().any(|t| t["is_private_teamspace"] == true));
    assert!(teams.iter().any(|t| t["is_private_teamspace"] == false));
    for team in teams {
        for key in ["id", "name", "role", "is_private_teamspace", "slug"] {
            assert!(team.get(key).is_some(), "{key} missing in {team}");
        }
    }
    assert!(body["default_team_id"].is_string());
    assert_eq!(seeded.teams.len(), 2);

    for token in ["", "at.sess_1.g1.00000000", &seeded.refresh_token] {
        let answer = me(&c, &saas, token);
        assert_eq!(
            (answer.0, error_of(&answer)),
            (401, "invalid_token"),
            "{token}"
        );
    }
    let no_header = c.get(format!("{}/api/v1/me", saas.url())).send().unwrap();
    assert_eq!(no_header.status().as_u16(), 401);
    assert!(no_header.headers().contains_key("www-authenticate"));

    let status_url = format!("{}/api/v1/session-status", saas.url());
    let (status, body) = get_bearer(&c, &status_url, &seeded.access_token);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "session_id": "sess_1",
            "active": true,
            "generation": 1,
            "refresh_token_expires_at": fake_saas::iso(&seeded.refresh_expires_at),
        })
    );
    saas.revoke_session("sess_1");
    let (status, body) = get_bearer(&c, &status_url, &seeded.access_token);
    assert_eq!((status, &body["active"]), (200, &json!(false)));
    assert_eq!(get_bearer(&c, &status_url, "nope").0, 401);
}

#[test]
fn events_batch_stores_events() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    let url = format!("{}/api/v1/events/batch/", saas.url());
    let events = json!({"events": [{"type": "a", "n": 1}, {"type": "b"}]});
    let response = c
        .post(&url)
        .bearer_auth(&seeded.access_token)
        .header("content-type", "application/json")
        .body(events.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&response.text().unwrap()).unwrap();
    assert_eq!(body, json!({"accepted": 2}));
    assert_eq!(
        saas.events(),
        vec![json!({"type": "a", "n": 1}), json!({"type": "b"})]
    );

    let bad_token = c
        .post(&url)
        .bearer_auth("x")
        .body(events.to_string())
        .send()
        .unwrap();
    assert_eq!(bad_token.status().as_u16(), 401);
    let bad_body = c
        .post(&url)
        .bearer_auth(&seeded.access_token)
        .body("not json")
        .send()
        .unwrap();
    assert_eq!(bad_body.status().as_u16(), 400);
    assert_eq!(saas.events().len(), 2);
}

#[test]
fn revoke_endpoint_revokes_the_owning_session() {
    let saas = start(SaasConfig::default());
    let c = client();
    let url = format!("{}/oauth/revoke", saas.url());
    let a = seed(&saas);
    let b = seed(&saas);

    let (status, _) = post_form(
        &c,
        &url,
        &[
            ("token", &a.refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
    );
    assert_eq!(status, 200);
    let answer = refresh(&c, &saas, &a.refresh_token);
    assert_eq!((answer.0, error_of(&answer)), (401, "session_invalid"));

    // By access token; and unknown tokens are still 200 (RFC 7009).
    assert_eq!(post_form(&c, &url, &[("token", &b.access_token)]).0, 200);
    assert_eq!(me(&c, &saas, &b.access_token).0, 401);
    assert_eq!(post_form(&c, &url, &[("token", "never-issued")]).0, 200);

    let sessions = saas.sessions();
    assert!(
        sessions.iter().all(|s| s.revoked && !s.active),
        "{sessions:?}"
    );
    assert_eq!(sessions[0].revoked_reason.as_deref(), Some("client_revoke"));
}

fn device_authorize(c: &reqwest::blocking::Client, saas: &fake_saas::FakeSaas) -> Value {
    let (status, body) = post_form(
        c,
        &format!("{}/oauth/device/authorize", saas.url()),
        &[
            ("client_id", "cli_native"),
            ("scope", "openid offline_access"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// Starts a device authorization and returns its device code.
fn device_code(c: &reqwest::blocking::Client, saas: &fake_saas::FakeSaas) -> String {
    device_authorize(c, saas)["device_code"]
        .as_str()
        .unwrap()
        .to_string()
}

fn device_poll(c: &reqwest::blocking::Client, saas: &fake_saas::FakeSaas, code: &str) -> Answer {
    post_form(
        c,
        &format!("{}/oauth/token", saas.url()),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", code),
            ("client_id", "cli_native"),
        ],
    )
}

#[test]
fn device_flow_approves_after_polls() {
    let saas = start_toml("[device]\napprove_after_polls = 2\ninterval_s = 0\n");
    let c = client();
    let auth = device_authorize(&c, &saas);
    let user_code = auth["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(auth["verification_uri"], format!("{}/device", saas.url()));
    assert!(auth["verification_uri_complete"]
        .as_str()
        .unwrap()
        .contains(user_code));
    assert_eq!(auth["interval"], 0);
    assert_eq!(auth["expires_in"], 600);
    let code = auth["device_code"].as_str().unwrap();

    for _ in 0..2 {
        let answer = device_poll(&c, &saas, code);
        assert_eq!(
            (answer.0, error_of(&answer)),
            (400, "authorization_pending")
        );
    }
    let (status, body) = device_poll(&c, &saas, code);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["generation"], 1);
    assert_eq!(body["session_id"], "sess_1");
    assert!(rt(&body).starts_with("rt.sess_1.g1."));
    assert_eq!(me(&c, &saas, &at(&body)).0, 200);
    let (status, _) = refresh(&c, &saas, &rt(&body));
    assert_eq!(status, 200);

    // A device code is single use.
    let answer = device_poll(&c, &saas, code);
    assert_eq!((answer.0, error_of(&answer)), (400, "invalid_grant"));
    let outcomes: Vec<String> = saas.journal().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "device_authorized",
            "device_pending",
            "device_pending",
            "device_approved",
            "ok",
            "rotated",
            "device_consumed"
        ]
    );
}

#[test]
fn device_flow_deny_expire_and_slow_down() {
    let c = client();
    let deny =
        start_toml("[device]\napprove_after_polls = 0\noutcome = \"deny\"\ninterval_s = 0\n");
    let code = device_code(&c, &deny);
    let answer = device_poll(&c, &deny, &code);
    assert_eq!((answer.0, error_of(&answer)), (400, "access_denied"));
    assert!(deny.sessions().is_empty());

    let expire =
        start_toml("[device]\napprove_after_polls = 1\noutcome = \"expire\"\ninterval_s = 0\n");
    let code = device_code(&c, &expire);
    assert_eq!(
        error_of(&device_poll(&c, &expire, &code)),
        "authorization_pending"
    );
    assert_eq!(error_of(&device_poll(&c, &expire, &code)), "expired_token");

    let slow = start_toml("[device]\napprove_after_polls = 5\ninterval_s = 2\n");
    let code = device_code(&c, &slow);
    assert_eq!(
        error_of(&device_poll(&c, &slow, &code)),
        "authorization_pending"
    );
    assert_eq!(error_of(&device_poll(&c, &slow, &code)), "slow_down");

    let short = start_toml("[device]\nexpires_in_s = 1\ninterval_s = 0\n");
    let code = device_code(&c, &short);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(error_of(&device_poll(&c, &short, &code)), "expired_token");

    assert_eq!(
        error_of(&device_poll(&c, &short, "dc_unknown")),
        "invalid_grant"
    );
}

#[test]
fn reuse_reject() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    let (_, first) = refresh(&c, &saas, &seeded.refresh_token);
    let stale = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((stale.0, error_of(&stale)), (400, "invalid_grant"));
    // The family survives: the current token still works.
    let (status, second) = refresh(&c, &saas, &rt(&first));
    assert_eq!(status, 200);
    assert_eq!(second["generation"], 3);
    assert!(!saas.sessions()[0].revoked);
}

#[test]
fn reuse_revoke_family_kills_the_family() {
    let saas = start_toml("reuse = \"revoke_family\"");
    assert_eq!(saas.config().reuse, ReusePolicy::RevokeFamily);
    let c = client();
    let seeded = seed(&saas);
    let (_, first) = refresh(&c, &saas, &seeded.refresh_token);
    let stale = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((stale.0, error_of(&stale)), (400, "invalid_grant"));

    // Every later use of any token of the family fails.
    for token in [rt(&first), seeded.refresh_token.clone()] {
        let answer = refresh(&c, &saas, &token);
        assert_eq!((answer.0, error_of(&answer)), (401, "session_invalid"));
    }
    assert_eq!(me(&c, &saas, &at(&first)).0, 401);
    let session = saas.session("sess_1").unwrap();
    assert!(session.revoked);
    assert_eq!(session.revoked_reason.as_deref(), Some("reuse_detected"));
    let outcomes: Vec<String> = saas.journal().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "rotated",
            "family_revoked",
            "session_invalid",
            "session_invalid",
            "session_invalid"
        ]
    );

    // Another session is unaffected.
    let other = seed(&saas);
    assert_eq!(refresh(&c, &saas, &other.refresh_token).0, 200);
}

#[test]
fn reuse_grace_by_uses() {
    let saas = start_toml("reuse = \"grace\"\ngrace_uses = 2");
    let c = client();
    let seeded = seed(&saas);
    let (_, pair) = refresh(&c, &saas, &seeded.refresh_token);
    for _ in 0..2 {
        let (status, replay) = refresh(&c, &saas, &seeded.refresh_token);
        assert_eq!(status, 200, "{replay}");
        // The same pair the rotation produced, no new rotation.
        assert_eq!(rt(&replay), rt(&pair));
        assert_eq!(at(&replay), at(&pair));
        assert_eq!(replay["generation"], 2);
    }
    let third = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((third.0, error_of(&third)), (400, "invalid_grant"));
    assert_eq!(saas.latest_refresh_token("sess_1"), Some(rt(&pair)));

    // Only the immediately previous token gets grace.
    let (_, next) = refresh(&c, &saas, &rt(&pair));
    assert_eq!(next["generation"], 3);
    let old = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((old.0, error_of(&old)), (400, "invalid_grant"));
    let previous = refresh(&c, &saas, &rt(&pair));
    assert_eq!(previous.0, 200);
    assert_eq!(rt(&previous.1), rt(&next));
    let outcomes: Vec<String> = saas.journal().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "rotated",
            "grace_replay",
            "grace_replay",
            "reuse_rejected",
            "rotated",
            "reuse_rejected",
            "grace_replay"
        ]
    );
}

#[test]
fn reuse_grace_by_seconds() {
    // 2 s, not 1: the "inside" check must not depend on the machine never stalling for a second.
    let saas = start_toml("reuse = \"grace\"\ngrace_s = 2");
    let c = client();
    let seeded = seed(&saas);
    let (_, pair) = refresh(&c, &saas, &seeded.refresh_token);
    let inside = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(inside.0, 200);
    assert_eq!(rt(&inside.1), rt(&pair));
    std::thread::sleep(Duration::from_millis(2200));
    let outside = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((outside.0, error_of(&outside)), (400, "invalid_grant"));
    // The family is intact.
    assert_eq!(refresh(&c, &saas, &rt(&pair)).0, 200);
}

#[test]
fn reuse_replay_409() {
    let saas = start_toml("reuse = \"replay_409\"");
    let c = client();
    let seeded = seed(&saas);
    let (_, pair) = refresh(&c, &saas, &seeded.refresh_token);
    let (status, body) = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(status, 409);
    assert_eq!(body["error"], "refresh_replay_benign_retry");
    assert_eq!(body["retry_after"], 1);
    assert_eq!(refresh(&c, &saas, &rt(&pair)).0, 200);
}

#[test]
fn hundred_concurrent_refreshes_one_winner() {
    let saas = start(SaasConfig::default());
    let seeded = seed(&saas);
    let url = format!("{}/oauth/token", saas.url());
    let c = client();
    let barrier = Arc::new(Barrier::new(100));
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let (c, url, token, barrier) = (
                c.clone(),
                url.clone(),
                seeded.refresh_token.clone(),
                barrier.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                post_form(&c, &url, &refresh_form(&token))
            })
        })
        .collect();
    let answers: Vec<Answer> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(ok, 1, "{answers:?}");
    assert!(answers
        .iter()
        .filter(|a| a.0 != 200)
        .all(|a| a.0 == 400 && error_of(a) == "invalid_grant"));
    assert_eq!(saas.count("/oauth/token"), 100);
    assert_eq!(saas.session("sess_1").unwrap().generation, 2);
    let rotated = saas
        .journal()
        .iter()
        .filter(|e| e.outcome == "rotated")
        .count();
    assert_eq!(rotated, 1);
}
