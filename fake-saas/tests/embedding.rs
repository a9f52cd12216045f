//! Embedding: start and drop inside a runtime, bounded shutdown, ports, the configured user,
//! and waiting for a request to arrive without sleeping.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_saas::{FakeSaas, FaultAction, FaultSpec, SaasConfig, SeedRequest};

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
        ..FaultSpec::action("/api/v1/me", FaultAction::DelayOnly)
    });
    let url = format!("{}/api/v1/me", saas.url());
    let hung = std::thread::spawn(move || client().get(url).send());
    // The request is counted when it arrives, before its delay: then it is surely in flight.
    assert!(saas.wait_for_count("/api/v1/me", 1, DEADLINE));
    let started = Instant::now();
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

#[test]
fn wait_for_count_returns_on_arrival_or_at_the_deadline() {
    let saas = start(SaasConfig::default());
    let started = Instant::now();
    assert!(!saas.wait_for_count("/api/v1/me", 1, Duration::from_millis(50)));
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(saas.wait_for_count("/api/v1/me", 0, Duration::ZERO));

    let url = format!("{}/api/v1/me", saas.url());
    let caller = std::thread::spawn(move || {
        let c = client();
        (0..3)
            .map(|_| c.get(&url).send().unwrap().status().as_u16())
            .collect::<Vec<_>>()
    });
    assert!(saas.wait_for_count("/api/v1/me", 3, DEADLINE));
    assert_eq!(caller.join().unwrap(), [401, 401, 401]);
    assert_eq!(saas.count("/api/v1/me"), 3);
}
