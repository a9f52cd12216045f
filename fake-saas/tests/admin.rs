//! The journal, the counters, the admin API and embedding (start/drop inside a runtime).

mod common;

use std::time::Duration;

use common::*;
use fake_saas::{FakeSaas, FaultSpec, SaasConfig, SeedRequest, SeededSession};
use serde_json::{json, Value};

#[test]
fn journal_records_what_happened() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        name: Some("me-500".into()),
        first_n: Some(1),
        ..FaultSpec::respond("/api/v1/me", 500)
    });

    let (_, pair) = refresh(&c, &saas, &seeded.refresh_token);
    refresh(&c, &saas, &seeded.refresh_token);
    me(&c, &saas, &seeded.access_token);
    me(&c, &saas, &seeded.access_token);

    let journal = saas.journal();
    assert_eq!(journal.len(), 4);
    let seqs: Vec<u64> = journal.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);

    let first = &journal[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.endpoint, "/oauth/token");
    assert_eq!(first.grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(first.token.as_deref(), Some(seeded.refresh_token.as_str()));
    assert_eq!(first.client_id.as_deref(), Some("cli_native"));
    assert_eq!(first.status, Some(200));
    assert_eq!(first.outcome, "rotated");
    assert_eq!(first.session_id.as_deref(), Some("sess_1"));
    assert_eq!(first.generation, Some(2));
    assert_eq!(first.fault, None);
    assert!(!first.closed);
    assert!(first.time.ends_with("+00:00"), "{}", first.time);
    assert!(first.user_agent.is_none() || !first.user_agent.as_ref().unwrap().is_empty());

    let stale = &journal[1];
    assert_eq!(stale.token.as_deref(), Some(seeded.refresh_token.as_str()));
    assert_eq!(
        (stale.status, stale.outcome.as_str()),
        (Some(400), "reuse_rejected")
    );

    let faulted = &journal[2];
    assert_eq!(faulted.endpoint, "/api/v1/me");
    assert_eq!(faulted.token.as_deref(), Some(seeded.access_token.as_str()));
    assert_eq!(faulted.fault.as_deref(), Some("me-500"));
    assert_eq!(
        (faulted.status, faulted.outcome.as_str()),
        (Some(500), "fault")
    );
    assert_eq!(
        (journal[3].status, journal[3].fault.as_ref()),
        (Some(200), None)
    );

    assert_eq!(saas.count("/oauth/token"), 2);
    assert_eq!(saas.count("/api/v1/me"), 2);
    assert_eq!(saas.count("/oauth/revoke"), 0);

    // The same over HTTP; admin calls are not journaled or counted.
    let (status, over_http) = get(&c, &format!("{}/__admin/journal", saas.url()));
    assert_eq!(status, 200);
    assert_eq!(over_http.as_array().unwrap().len(), 4);
    assert_eq!(over_http[0]["token"], json!(seeded.refresh_token));
    assert_eq!(over_http[0]["status"], 200);
    assert_eq!(over_http[2]["fault"], "me-500");
    let (_, counters) = get(&c, &format!("{}/__admin/counters", saas.url()));
    assert_eq!(counters, json!({"/api/v1/me": 2, "/oauth/token": 2}));
    assert_eq!(saas.journal().len(), 4);
    assert_eq!(saas.counters().values().sum::<u64>(), 4);

    assert!(saas
        .issued_tokens()
        .contains(&pair["refresh_token"].as_str().unwrap().to_string()));
}

#[test]
fn unknown_paths_and_methods() {
    let saas = start(SaasConfig::default());
    let c = client();
    let (status, body) = get(&c, &format!("{}/nope", saas.url()));
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = get(&c, &format!("{}/oauth/token", saas.url()));
    assert_eq!(status, 405);
    let (status, _) = get(&c, &format!("{}/__admin/nope", saas.url()));
    assert_eq!(status, 404);
    assert_eq!(saas.count("/nope"), 1);
    assert!(saas.counters().keys().all(|k| !k.starts_with("/__admin")));
}

#[test]
fn admin_sessions_seed_revoke_expire_reset() {
    let saas = start_toml(
        r#"
[[fault]]
name = "kept"
endpoint = "/oauth/revoke"
status = 500
"#,
    );
    let c = client();
    let base = saas.url();

    let (status, seeded) = post_json(
        &c,
        &format!("{base}/__admin/seed"),
        &json!({"access_expires_in_s": -60, "refresh_expires_in_s": 100, "generation": 7}),
    );
    assert_eq!(status, 200, "{seeded}");
    let seeded: SeededSession = serde_json::from_value(seeded).unwrap();
    assert_eq!(seeded.generation, 7);
    assert!(seeded.refresh_token.starts_with("rt.sess_1.g7."));
    assert!(seeded.access_expires_at < chrono::Utc::now());
    assert_eq!(seeded.email, "dev@example.com");

    // An empty body seeds with the defaults; unknown keys are refused.
    let response = c.post(format!("{base}/__admin/seed")).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, body) = post_json(
        &c,
        &format!("{base}/__admin/seed"),
        &json!({"generaton": 1}),
    );
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("generaton"),
        "{body}"
    );

    let (_, sessions) = get(&c, &format!("{base}/__admin/sessions"));
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["session_id"], "sess_1");
    assert_eq!(
        sessions[0]["current_refresh_token"],
        json!(seeded.refresh_token)
    );
    assert_eq!(sessions[0]["active"], true);

    let (status, info) = post_json(
        &c,
        &format!("{base}/__admin/sessions/sess_1/expire"),
        &Value::Null,
    );
    assert_eq!((status, &info["active"]), (200, &json!(false)));
    let (status, body) = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(status, 400);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));

    let (status, info) = post_json(
        &c,
        &format!("{base}/__admin/sessions/sess_2/revoke"),
        &Value::Null,
    );
    assert_eq!((status, &info["revoked"]), (200, &json!(true)));
    assert_eq!(info["revoked_reason"], "admin");
    let (status, _) = post_json(
        &c,
        &format!("{base}/__admin/sessions/sess_9/revoke"),
        &Value::Null,
    );
    assert_eq!(status, 404);

    saas.add_fault(FaultSpec::respond("/api/v1/me", 500));
    let (status, _) = post_json(&c, &format!("{base}/__admin/reset"), &Value::Null);
    assert_eq!(status, 200);
    assert!(saas.sessions().is_empty());
    assert!(saas.journal().is_empty());
    assert!(saas.counters().is_empty());
    assert!(saas.issued_tokens().is_empty());
    // Configured faults come back, run-time ones do not.
    let names: Vec<String> = saas.faults().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(saas.faults_fired().keys().collect::<Vec<_>>(), ["kept"]);
    // Numbering restarts.
    assert_eq!(seed(&saas).session_id, "sess_1");

    let (_, config) = get(&c, &format!("{base}/__admin/config"));
    assert_eq!(config["reuse"], "reject");
    let (_, issued) = get(&c, &format!("{base}/__admin/issued"));
    assert_eq!(issued.as_array().unwrap().len(), 2);
}

#[test]
fn configured_user_is_served() {
    let saas = start_toml(
        r#"
[user]
user_id = "u_42"
email = "ada@example.org"
name = "Ada"
teams = [
  { id = "t_priv", name = "Ada's space", role = "owner", is_private_teamspace = true },
  { id = "t_org", name = "Org", slug = "org" },
]
default_team_id = "t_org"
"#,
    );
    let c = client();
    let seeded = seed(&saas);
    assert_eq!(seeded.user_id, "u_42");
    assert_eq!(seeded.default_team_id.as_deref(), Some("t_org"));
    let (status, body) = me(&c, &saas, &seeded.access_token);
    assert_eq!(status, 200);
    assert_eq!(body["email"], "ada@example.org");
    assert_eq!(body["teams"][0]["slug"], "t_priv"); // defaults to the id
    assert_eq!(body["teams"][1]["role"], "member");
    assert_eq!(body["default_team_id"], "t_org");
}

#[test]
fn start_and_drop_inside_a_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = runtime.block_on(async {
        let saas = FakeSaas::start(SaasConfig::default()).expect("start inside a runtime");
        let seeded = saas.seed_session(SeedRequest::default());
        assert!(seeded.refresh_token.starts_with("rt.sess_1.g1."));
        let url = saas.url();
        // Talk to it from a plain thread (blocking reqwest must not run on a runtime thread).
        let probe = url.clone();
        let status = tokio::task::spawn_blocking(move || {
            client()
                .get(format!("{probe}/api/v1/me"))
                .send()
                .map(|r| r.status().as_u16())
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(status, 401);
        drop(saas); // must not panic inside the runtime
        url
    });
    // Stopped: connecting now fails (bounded by the client timeout).
    let err = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{url}/api/v1/me"))
        .send();
    assert!(err.is_err());
}

#[test]
fn shutdown_is_bounded_with_a_request_in_a_long_delay() {
    let saas = start(SaasConfig::default());
    saas.add_fault(FaultSpec {
        delay_ms: 30_000,
        ..FaultSpec::action("/api/v1/me", fake_saas::FaultAction::DelayOnly)
    });
    let url = format!("{}/api/v1/me", saas.url());
    let hung = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
            .get(url)
            .send()
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    saas.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(hung.join().unwrap().is_err());
}

#[test]
fn ports_are_distinct_and_loopback() {
    let a = start(SaasConfig::default());
    let b = start(SaasConfig::default());
    assert!(a.url().starts_with("http://127.0.0.1:"));
    assert!(!a.url().ends_with('/'));
    assert_ne!(a.url(), b.url());
    let err = FakeSaas::start(SaasConfig {
        access_ttl_s: 0,
        ..SaasConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("access_ttl_s"), "{err}");
}
