//! Which calls a fault fires on: `first_n`, `start_at`, seeded `probability`, the `grant`
//! filter; the fired counters; and run-time control over the handle and the admin API.

mod common;

use common::*;
use fake_saas::admin_api::{AdminErrorCode, FaultStatus, FiredCounts};
use fake_saas::{FaultAction, FaultSpec, GrantFilter, SaasConfig};
use reqwest::Method;
use serde_json::Value;

const TOKEN: &str = "/oauth/token";
const ME: &str = "/api/v1/me";

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
    let base = saas.url();

    let spec = FaultSpec {
        name: Some("x".into()),
        ..FaultSpec::respond(ME, 418)
    };
    let list: Vec<FaultStatus> =
        admin_send(&c, Method::POST, &base, "/faults", Some(&spec)).unwrap();
    assert_eq!((list[0].name.as_str(), &list[0].spec), ("x", &spec));
    assert_eq!(me(&c, &saas, &seeded.access_token).0, 418);
    let list: Vec<FaultStatus> = admin_get(&c, &base, "/faults");
    assert_eq!((list[0].fired, list[0].matched), (1, 1));
    assert_eq!(list, saas.faults());

    let specs = vec![
        FaultSpec::action(ME, FaultAction::Malformed),
        FaultSpec::action("/oauth/revoke", FaultAction::Respond),
    ];
    let list: Vec<FaultStatus> =
        admin_send(&c, Method::PUT, &base, "/faults", Some(&specs)).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(saas.faults().len(), 2);
    assert_eq!(me(&c, &saas, &seeded.access_token).1, Value::Null);

    // Bodies the types cannot express: a typo, a value out of range, an unknown endpoint.
    for (body, needle) in [
        (
            r#"{"endpoint": "/api/v1/me", "probabilty": 0.5}"#,
            "probabilty",
        ),
        (
            r#"{"endpoint": "/api/v1/me", "probability": 2.0}"#,
            "fault[0].probability",
        ),
        (r#"{"endpoint": "/nope"}"#, "endpoint"),
        (
            r#"{"endpoint": "/oauth/token", "grant": "password"}"#,
            "password",
        ),
    ] {
        let (status, err) =
            admin_send_raw::<Vec<FaultStatus>>(&c, Method::POST, &base, "/faults", body)
                .unwrap_err();
        assert_eq!(
            (status, err.error),
            (400, AdminErrorCode::InvalidFault),
            "{body}"
        );
        assert!(err.message.contains(needle), "{needle} not in {err:?}");
    }

    let list: Vec<FaultStatus> =
        admin_send(&c, Method::DELETE, &base, "/faults", None::<&()>).unwrap();
    assert!(list.is_empty());
    assert!(saas.faults().is_empty());
    assert_eq!(me(&c, &saas, &seeded.access_token).0, 200);

    let fired: FiredCounts = admin_get(&c, &base, "/faults/fired");
    assert_eq!(fired, saas.faults_fired());
    assert_eq!((fired["x"], fired["fault-0"]), (1, 1));
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
            grant: Some(GrantFilter::RefreshToken),
            ..FaultSpec::respond(ME, 500)
        })
        .unwrap_err();
    assert!(err.to_string().contains("grant"), "{err}");
}
