//! Everything but the refresh grant over real HTTP: the bearer endpoints and access-token
//! expiry, the events batch, RFC 7009 revocation and the RFC 8628 device flow. Expiries and
//! polling intervals are crossed by advancing the fake's clock, never by sleeping.

mod common;

use std::time::Duration;

use common::*;
use fake_saas::{JournalOutcome, RevokedReason, SaasConfig, SeedRequest};
use serde_json::{json, Value};

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
    saas.advance_clock(Duration::from_secs(1));
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
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "session_id",
            "active",
            "generation",
            "refresh_token_expires_at"
        ]
    );
    assert_eq!(
        (&body["session_id"], &body["active"], &body["generation"]),
        (&json!("sess_1"), &json!(true), &json!(1))
    );
    assert_eq!(
        parse_time(body["refresh_token_expires_at"].as_str().unwrap()),
        seeded.refresh_expires_at
    );
    saas.revoke_session("sess_1");
    let (status, body) = get_bearer(&c, &status_url, &seeded.access_token);
    assert_eq!((status, &body["active"]), (200, &json!(false)));
    assert_eq!(get_bearer(&c, &status_url, "nope").0, 401);
}

#[test]
fn events_batch_stores_each_event_id_once_in_the_private_teamspace() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    let url = format!("{}/api/v1/events/batch/", saas.url());
    let post = |token: &str, body: &Value| {
        let response = c
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    let batch = |events: Value| json!({"team_id": "team_private_1", "events": events});
    let first = batch(json!([{"event_id": "e1", "n": 1}, {"event_id": "e2"}]));
    let (status, body) = post(&seeded.access_token, &first);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"accepted": 2, "duplicates": 0, "results": [
            {"event_id": "e1", "status": "accepted"}, {"event_id": "e2", "status": "accepted"}]})
    );
    // A re-send after a lost answer: known ids are duplicates, not stored twice.
    let again = batch(json!([{"event_id": "e2"}, {"event_id": "e3"}]));
    let (status, body) = post(&seeded.access_token, &again);
    assert_eq!(
        (status, &body["accepted"], &body["duplicates"]),
        (200, &json!(1), &json!(1))
    );
    assert_eq!(
        body["results"][0],
        json!({"event_id": "e2", "status": "duplicate"})
    );
    assert_eq!(saas.event_ids(), ["e1", "e2", "e3"]);
    assert_eq!(
        saas.events()[0],
        json!({"event_id": "e1", "n": 1, "team_id": "team_private_1"})
    );
    let stats = saas.event_stats();
    assert_eq!(
        (stats.received, stats.accepted, stats.duplicates),
        (4, 3, 1)
    );

    // Only the private teamspace, and only with a token.
    let shared = json!({"team_id": "team_shared_1", "events": [{"event_id": "e9"}]});
    assert_eq!(post(&seeded.access_token, &shared).0, 403);
    let no_team = json!({"events": [{"event_id": "e9"}]});
    assert_eq!(post(&seeded.access_token, &no_team).0, 403);
    assert_eq!(post("x", &first).0, 401);
    let bad_body = c
        .post(&url)
        .bearer_auth(&seeded.access_token)
        .body("not json")
        .send()
        .unwrap();
    assert_eq!(bad_body.status().as_u16(), 400);
    assert_eq!(saas.events().len(), 3);
    let admin: Value = serde_json::from_str(
        &c.get(format!("{}/__admin/events/stats", saas.url()))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        admin,
        json!({"received": 4, "accepted": 3, "duplicates": 1})
    );
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
    assert_eq!(
        sessions[0].revoked_reason,
        Some(RevokedReason::ClientRevoke)
    );
    assert_eq!(reason_of(&answer), "revoked");
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
    assert_eq!(
        (answer.0, error_of(&answer), reason_of(&answer)),
        (400, "invalid_grant", "device_code_used")
    );
    let outcomes: Vec<JournalOutcome> = saas.journal().iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            JournalOutcome::DeviceAuthorized,
            JournalOutcome::DevicePending,
            JournalOutcome::DevicePending,
            JournalOutcome::DeviceApproved,
            JournalOutcome::Ok,
            JournalOutcome::Rotated,
            JournalOutcome::DeviceConsumed
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
    // The interval grew to 7 s (RFC 8628 §3.5): 6 s later is still too fast (and it grows to
    // 12 s); 12 s after that the poll is answered again.
    slow.advance_clock(Duration::from_secs(6));
    assert_eq!(error_of(&device_poll(&c, &slow, &code)), "slow_down");
    slow.advance_clock(Duration::from_secs(12));
    assert_eq!(
        error_of(&device_poll(&c, &slow, &code)),
        "authorization_pending"
    );

    let short = start_toml("[device]\nexpires_in_s = 1\ninterval_s = 0\n");
    let code = device_code(&c, &short);
    short.advance_clock(Duration::from_secs(1));
    assert_eq!(error_of(&device_poll(&c, &short, &code)), "expired_token");

    let unknown = device_poll(&c, &short, "dc_unknown");
    assert_eq!(
        (error_of(&unknown), reason_of(&unknown)),
        ("invalid_grant", "unknown_token")
    );
}
