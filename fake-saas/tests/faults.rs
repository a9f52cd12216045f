//! Faults over real HTTP: every action, both phases, every scope, seeded probability, run-time
//! control and the fired counters.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_saas::{FaultAction, FaultPhase, FaultSpec, SaasConfig, OVERSIZED_DEFAULT_BYTES};
use serde_json::{json, Value};

const TOKEN: &str = "/oauth/token";
const ME: &str = "/api/v1/me";

#[test]
fn respond_before_replaces_handling() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        name: Some("down".into()),
        ..FaultSpec::respond(TOKEN, 503)
    });
    let (status, body) = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");
    // Nothing changed in the model.
    assert_eq!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
    let entry = saas.journal().pop().unwrap();
    assert_eq!(entry.fault.as_deref(), Some("down"));
    assert_eq!(entry.outcome, "fault");
    assert_eq!(entry.status, Some(503));
    assert_eq!(entry.session_id.as_deref(), Some("sess_1"));
}

#[test]
fn respond_with_custom_body() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        body: Some(r#"{"error":"invalid_grant","error_description":"scripted"}"#.into()),
        ..FaultSpec::respond(TOKEN, 400)
    });
    saas.add_fault(FaultSpec {
        body: Some("<html>bad gateway</html>".into()),
        ..FaultSpec::respond(ME, 502)
    });
    let (status, body) = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("scripted"))
    );
    let response = c
        .get(format!("{}{ME}", saas.url()))
        .bearer_auth(&seeded.access_token)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 502);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(response.text().unwrap(), "<html>bad gateway</html>");
}

#[test]
fn respond_after_rotates_then_fails() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        phase: FaultPhase::After,
        ..FaultSpec::respond(TOKEN, 500)
    });
    let (status, _) = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(status, 500);
    // The server DID rotate: the client never learned the new pair.
    let latest = saas.latest_refresh_token("sess_1").unwrap();
    assert_ne!(latest, seeded.refresh_token);
    assert!(latest.starts_with("rt.sess_1.g2."));
    let entry = saas.journal().pop().unwrap();
    assert_eq!(
        (entry.outcome.as_str(), entry.status),
        ("rotated", Some(500))
    );
    assert_eq!(entry.fault.as_deref(), Some("fault-0"));
}

#[test]
fn close_before_is_a_transport_error() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        first_n: Some(1),
        ..FaultSpec::action(TOKEN, FaultAction::Close)
    });
    let url = format!("{}{TOKEN}", saas.url());
    let result = try_post_form(&c, &url, &refresh_form(&seeded.refresh_token));
    let err = result.expect_err("a closed connection must not look like a response");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none(), "{err:?}");
    assert_eq!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
    let entry = saas.journal().pop().unwrap();
    assert!(entry.closed);
    assert_eq!(entry.status, None);
    assert_eq!(entry.status_label(), "closed");

    // The next call (first_n = 1) is served normally on a new connection.
    assert_eq!(refresh(&c, &saas, &seeded.refresh_token).0, 200);
}

#[test]
fn close_after_rotates_and_hangs_up() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        phase: FaultPhase::After,
        ..FaultSpec::action(TOKEN, FaultAction::Close)
    });
    let url = format!("{}{TOKEN}", saas.url());
    assert!(try_post_form(&c, &url, &refresh_form(&seeded.refresh_token)).is_err());
    assert_ne!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
    let entry = saas.journal().pop().unwrap();
    assert_eq!((entry.outcome.as_str(), entry.closed), ("rotated", true));
}

#[test]
fn malformed_and_oversized() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    let url = format!("{}{TOKEN}", saas.url());
    saas.add_fault(FaultSpec {
        first_n: Some(1),
        ..FaultSpec::action(TOKEN, FaultAction::Malformed)
    });
    saas.add_fault(FaultSpec {
        first_n: Some(1),
        ..FaultSpec::action(TOKEN, FaultAction::Oversized)
    });

    let response = try_post_form(&c, &url, &refresh_form(&seeded.refresh_token)).unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    // Call 2: fault-0 is out of scope, fault-1 (its first matching call is call 1, also out
    // of scope: every matching fault counts every call) does not fire either.
    assert_eq!(refresh(&c, &saas, &seeded.refresh_token).0, 200);
    let fired = saas.faults_fired();
    assert_eq!(fired["fault-0"], 1);
    assert_eq!(fired["fault-1"], 0);

    saas.clear_faults();
    saas.add_fault(FaultSpec::action(TOKEN, FaultAction::Oversized));
    let response = try_post_form(&c, &url, &refresh_form("anything")).unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let bytes = response.bytes().unwrap();
    assert_eq!(bytes.len() as u64, OVERSIZED_DEFAULT_BYTES);
    assert!(bytes.len() > 2 * 1024 * 1024);
}

#[test]
fn delay_only_does_not_block_other_requests() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        delay_ms: 1500,
        ..FaultSpec::action(TOKEN, FaultAction::DelayOnly)
    });
    let url = format!("{}{TOKEN}", saas.url());
    let (c2, token) = (c.clone(), seeded.refresh_token.clone());
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        let answer = post_form(&c2, &url, &refresh_form(&token));
        (answer, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    let quick_start = Instant::now();
    assert_eq!(me(&c, &saas, &seeded.access_token).0, 200);
    assert!(quick_start.elapsed() < Duration::from_millis(1000));
    let ((status, body), elapsed) = slow.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["generation"], 2);
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    let entry = saas
        .journal()
        .into_iter()
        .find(|e| e.endpoint == TOKEN)
        .unwrap();
    assert!(entry.latency_ms >= 1500, "{entry:?}");
    assert_eq!(entry.outcome, "rotated");
}

#[test]
fn delay_with_jitter_and_phase_after() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        delay_ms: 200,
        jitter_ms: 100,
        phase: FaultPhase::After,
        ..FaultSpec::respond(TOKEN, 502)
    });
    let started = Instant::now();
    let (status, _) = refresh(&c, &saas, &seeded.refresh_token);
    let elapsed = started.elapsed();
    assert_eq!(status, 502);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2000), "{elapsed:?}");
    assert_ne!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
}

fn me_statuses(saas: &fake_saas::FakeSaas, token: &str, n: usize) -> Vec<u16> {
    let c = client();
    (0..n).map(|_| me(&c, saas, token).0).collect()
}

#[test]
fn first_n_and_start_at() {
    let saas = start(SaasConfig::default());
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        first_n: Some(2),
        ..FaultSpec::respond(ME, 500)
    });
    assert_eq!(
        me_statuses(&saas, &seeded.access_token, 4),
        [500, 500, 200, 200]
    );

    saas.clear_faults();
    saas.add_fault(FaultSpec {
        start_at: Some(3),
        ..FaultSpec::respond(ME, 429)
    });
    assert_eq!(
        me_statuses(&saas, &seeded.access_token, 4),
        [200, 200, 429, 429]
    );

    saas.clear_faults();
    saas.add_fault(FaultSpec {
        start_at: Some(2),
        first_n: Some(2),
        ..FaultSpec::respond(ME, 503)
    });
    assert_eq!(
        me_statuses(&saas, &seeded.access_token, 5),
        [200, 503, 503, 200, 200]
    );
}

#[test]
fn probability_is_deterministic_for_a_seed() {
    let run = |seed: u64| {
        let saas = start(SaasConfig {
            seed,
            faults: vec![FaultSpec {
                probability: Some(0.5),
                ..FaultSpec::respond(ME, 500)
            }],
            ..SaasConfig::default()
        });
        let seeded = fake_saas::FakeSaas::seed_session(&saas, Default::default());
        me_statuses(&saas, &seeded.access_token, 40)
    };
    let a = run(42);
    let b = run(42);
    assert_eq!(a, b);
    let failures = a.iter().filter(|s| **s == 500).count();
    assert!((5..=35).contains(&failures), "{a:?}");
    let never = start(SaasConfig {
        faults: vec![FaultSpec {
            probability: Some(0.0),
            ..FaultSpec::respond(ME, 500)
        }],
        ..SaasConfig::default()
    });
    let token = never.seed_session(Default::default()).access_token;
    assert!(me_statuses(&never, &token, 10).iter().all(|s| *s == 200));
}

#[test]
fn grant_filter() {
    let saas = start_toml(
        r#"
[device]
approve_after_polls = 0
interval_s = 0

[[fault]]
name = "device-poll-down"
endpoint = "/oauth/token"
grant = "device_code"
status = 500
"#,
    );
    let c = client();
    let seeded = seed(&saas);
    assert_eq!(refresh(&c, &saas, &seeded.refresh_token).0, 200);
    let (_, auth) = post_form(
        &c,
        &format!("{}/oauth/device/authorize", saas.url()),
        &[("client_id", "cli_native")],
    );
    let (status, _) = post_form(
        &c,
        &format!("{}{TOKEN}", saas.url()),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", auth["device_code"].as_str().unwrap()),
            ("client_id", "cli_native"),
        ],
    );
    assert_eq!(status, 500);
    assert_eq!(saas.faults_fired()["device-poll-down"], 1);
}

#[test]
fn declared_faults_are_reported_even_when_they_never_fire() {
    let saas = start_toml(
        r#"
[[fault]]
endpoint = "/oauth/revoke"
status = 500

[[fault]]
name = "me-once"
endpoint = "/api/v1/me"
status = 500
first_n = 1
"#,
    );
    let seeded = seed(&saas);
    me_statuses(&saas, &seeded.access_token, 2);
    let fired = saas.faults_fired();
    assert_eq!(fired.get("fault-0"), Some(&0));
    assert_eq!(fired.get("me-once"), Some(&1));
    // Clearing keeps the history.
    saas.clear_faults();
    assert!(saas.faults().is_empty());
    assert_eq!(saas.faults_fired().get("me-once"), Some(&1));
}

#[test]
fn faults_over_the_admin_api() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    let admin = format!("{}/__admin/faults", saas.url());

    let (status, list) = post_json(
        &c,
        &admin,
        &json!({"name": "x", "endpoint": "/api/v1/me", "status": 418}),
    );
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["name"], "x");
    assert_eq!(me(&c, &saas, &seeded.access_token).0, 418);
    let (_, list) = get(&c, &admin);
    assert_eq!(
        (list[0]["fired"].as_u64(), list[0]["matched"].as_u64()),
        (Some(1), Some(1))
    );

    let (status, _) = put_json(
        &c,
        &admin,
        &json!([{"endpoint": "/api/v1/me", "action": "malformed"}, {"endpoint": "/oauth/revoke"}]),
    );
    assert_eq!(status, 200);
    assert_eq!(saas.faults().len(), 2);
    assert_eq!(me(&c, &saas, &seeded.access_token).1, Value::Null);

    let (status, body) = post_json(
        &c,
        &admin,
        &json!({"endpoint": "/api/v1/me", "probabilty": 0.5}),
    );
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("probabilty"),
        "{body}"
    );
    let (status, body) = post_json(
        &c,
        &admin,
        &json!({"endpoint": "/api/v1/me", "probability": 2.0}),
    );
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("fault[0].probability"),
        "{body}"
    );
    let (status, body) = post_json(&c, &admin, &json!({"endpoint": "/nope"}));
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("endpoint"),
        "{body}"
    );

    let response = c.delete(&admin).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(saas.faults().is_empty());
    assert_eq!(me(&c, &saas, &seeded.access_token).0, 200);

    let (_, fired) = get(&c, &format!("{admin}/fired"));
    assert_eq!(fired["x"], 1);
    assert_eq!(fired["fault-0"], 1);
}

#[test]
fn try_add_fault_reports_the_key() {
    let saas = start(SaasConfig::default());
    let err = saas
        .try_add_fault(FaultSpec {
            status: Some(42),
            ..FaultSpec::respond(ME, 500)
        })
        .unwrap_err();
    assert!(err.to_string().starts_with("fault[0].status"), "{err}");
    let err = saas
        .try_add_fault(FaultSpec {
            grant: Some("refresh_token".into()),
            ..FaultSpec::respond(ME, 500)
        })
        .unwrap_err();
    assert!(err.to_string().contains("grant"), "{err}");
}
