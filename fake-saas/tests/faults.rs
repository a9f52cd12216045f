//! Fault actions over real HTTP, in both phases: respond, close, malformed, oversized and
//! delays (`trickle` and `redirect` have their own file). Scopes, probability and run-time
//! control are in `fault_scope.rs`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_saas::{
    FaultAction, FaultPhase, FaultSpec, JournalOutcome, SaasConfig, OVERSIZED_DEFAULT_BYTES,
};
use serde_json::Value;

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
    assert_eq!(entry.outcome, JournalOutcome::Fault);
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
        (entry.outcome, entry.status),
        (JournalOutcome::Rotated, Some(500))
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
    assert_eq!(
        (entry.outcome, entry.closed),
        (JournalOutcome::Rotated, true)
    );
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
    // Counted on arrival: once counted, the slow request is in its delay.
    assert!(saas.wait_for_count(TOKEN, 1, DEADLINE));
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
    assert_eq!(entry.outcome, JournalOutcome::Rotated);
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
