//! The journal, the counters and the admin API, with typed bodies: what the handle returns and
//! what `/__admin/` sends must be the same values.

mod common;

use std::time::Duration;

use common::*;
use fake_saas::admin_api::{AdminErrorCode, ClockAdvance, Counters, ResetDone};
use fake_saas::{
    ClockState, FaultSpec, JournalEntry, JournalOutcome, RevokedReason, SaasConfig, SeedRequest,
    SeededSession, SessionInfo,
};
use reqwest::Method;

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
    assert_eq!(first.outcome, JournalOutcome::Rotated);
    assert_eq!(first.session_id.as_deref(), Some("sess_1"));
    assert_eq!(first.generation, Some(2));
    assert_eq!(first.fault, None);
    assert!(!first.closed);
    assert!(first.time.ends_with("+00:00"), "{}", first.time);
    let arrived = parse_time(&first.time);
    assert!(arrived >= seeded.access_expires_at - chrono::Duration::seconds(3600));
    assert!(first.user_agent.is_none() || !first.user_agent.as_ref().unwrap().is_empty());

    let stale = &journal[1];
    assert_eq!(stale.token.as_deref(), Some(seeded.refresh_token.as_str()));
    assert_eq!(
        (stale.status, stale.outcome),
        (Some(400), JournalOutcome::ReuseRejected)
    );

    let faulted = &journal[2];
    assert_eq!(faulted.endpoint, "/api/v1/me");
    assert_eq!(faulted.token.as_deref(), Some(seeded.access_token.as_str()));
    assert_eq!(faulted.fault.as_deref(), Some("me-500"));
    assert_eq!(
        (faulted.status, faulted.outcome),
        (Some(500), JournalOutcome::Fault)
    );
    assert_eq!(
        (journal[3].status, journal[3].fault.as_ref()),
        (Some(200), None)
    );

    assert_eq!(saas.count("/oauth/token"), 2);
    assert_eq!(saas.count("/api/v1/me"), 2);
    assert_eq!(saas.count("/oauth/revoke"), 0);

    // The same over HTTP, as the same values; admin calls are not journaled or counted.
    let over_http: Vec<JournalEntry> = admin_get(&c, &saas.url(), "/journal");
    assert_eq!(over_http, journal);
    let counters: Counters = admin_get(&c, &saas.url(), "/counters");
    assert_eq!(
        counters,
        Counters::from([("/api/v1/me".into(), 2), ("/oauth/token".into(), 2)])
    );
    assert_eq!(saas.journal().len(), 4);
    assert_eq!(saas.counters(), counters);

    assert!(saas.issued_tokens().contains(&rt(&pair)));
}

#[test]
fn unknown_paths_and_methods() {
    let saas = start(SaasConfig::default());
    let c = client();
    let (status, body) = get(&c, &format!("{}/nope", saas.url()));
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = get(&c, &format!("{}/oauth/token", saas.url()));
    assert_eq!(status, 405);
    let err = admin_send::<()>(&c, Method::GET, &saas.url(), "/nope", None::<&()>).unwrap_err();
    assert_eq!((err.0, err.1.error), (404, AdminErrorCode::NotFound));
    assert_eq!(saas.count("/nope"), 1);
    assert!(saas.counters().keys().all(|k| !k.starts_with("/__admin")));
    let outcomes: Vec<JournalOutcome> = saas.journal().iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [JournalOutcome::NotFound, JournalOutcome::MethodNotAllowed]
    );
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

    let request = SeedRequest {
        access_expires_in_s: -60,
        refresh_expires_in_s: 100,
        generation: Some(7),
    };
    let seeded: SeededSession =
        admin_send(&c, Method::POST, &base, "/seed", Some(&request)).unwrap();
    assert_eq!(seeded.generation, 7);
    assert!(seeded.refresh_token.starts_with("rt.sess_1.g7."));
    assert!(seeded.access_expires_at < saas.now());
    assert_eq!(seeded.email, "dev@example.com");

    // An empty body seeds with the defaults; unknown keys are refused, by name.
    let defaults: SeededSession = admin_post(&c, &base, "/seed").unwrap();
    assert_eq!(defaults.session_id, "sess_2");
    let (status, err) =
        admin_send_raw::<SeededSession>(&c, Method::POST, &base, "/seed", r#"{"generaton": 1}"#)
            .unwrap_err();
    assert_eq!((status, err.error), (400, AdminErrorCode::InvalidSeed));
    assert!(err.message.contains("generaton"), "{err:?}");

    let sessions: Vec<SessionInfo> = admin_get(&c, &base, "/sessions");
    assert_eq!(sessions, saas.sessions());
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].session_id, "sess_1");
    assert_eq!(sessions[0].current_refresh_token, seeded.refresh_token);
    assert!(sessions[0].active);
    assert_eq!(
        sessions[0].refresh_token_expires_at,
        seeded.refresh_expires_at
    );

    let info: SessionInfo = admin_post(&c, &base, "/sessions/sess_1/expire").unwrap();
    assert!(!info.active && !info.revoked);
    let answer = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((answer.0, reason_of(&answer)), (400, "lifetime_expired"));

    let info: SessionInfo = admin_post(&c, &base, "/sessions/sess_2/revoke").unwrap();
    assert!(info.revoked);
    assert_eq!(info.revoked_reason, Some(RevokedReason::Admin));
    let (status, err) =
        admin_post::<SessionInfo>(&c, &base, "/sessions/sess_9/revoke").unwrap_err();
    assert_eq!((status, err.error), (404, AdminErrorCode::UnknownSession));

    saas.add_fault(FaultSpec::respond("/api/v1/me", 500));
    saas.advance_clock(Duration::from_secs(60));
    let done: ResetDone = admin_post(&c, &base, "/reset").unwrap();
    assert!(done.reset);
    assert!(saas.sessions().is_empty());
    assert!(saas.journal().is_empty());
    assert!(saas.counters().is_empty());
    assert!(saas.issued_tokens().is_empty());
    assert_eq!(saas.clock().offset_ms, 0);
    // Configured faults come back, run-time ones do not.
    let names: Vec<String> = saas.faults().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(saas.faults_fired().keys().collect::<Vec<_>>(), ["kept"]);
    // Numbering restarts.
    assert_eq!(seed(&saas).session_id, "sess_1");

    let config: SaasConfig = admin_get(&c, &base, "/config");
    assert_eq!(config, saas.config());
    let issued: Vec<String> = admin_get(&c, &base, "/issued");
    assert_eq!(issued, saas.issued_tokens());
    assert_eq!(issued.len(), 2);
}

#[test]
fn the_clock_over_the_admin_api() {
    let saas = start(SaasConfig::default());
    let c = client();
    let base = saas.url();
    let seeded = saas.seed_session(SeedRequest {
        access_expires_in_s: 60,
        ..SeedRequest::default()
    });

    let before: ClockState = admin_get(&c, &base, "/clock");
    assert_eq!(before.offset_ms, 0);
    assert!((before.now - chrono::Utc::now()).num_seconds().abs() < 5);

    // Not yet: the access token is valid for 60 s.
    let advance = ClockAdvance {
        advance_s: 59,
        advance_ms: 0,
    };
    let after: ClockState = admin_send(&c, Method::POST, &base, "/clock", Some(&advance)).unwrap();
    assert_eq!(after.offset_ms, 59_000);
    assert!(after.now - before.now >= chrono::Duration::seconds(59));
    assert_eq!(me(&c, &saas, &seeded.access_token).0, 200);

    // One more second over HTTP, and it has expired.
    let after: ClockState = admin_send(
        &c,
        Method::POST,
        &base,
        "/clock",
        Some(&ClockAdvance::by(Duration::from_secs(1))),
    )
    .unwrap();
    assert_eq!(after.offset_ms, 60_000);
    assert_eq!(saas.clock().offset_ms, 60_000);
    let answer = me(&c, &saas, &seeded.access_token);
    assert_eq!((answer.0, error_of(&answer)), (401, "invalid_token"));
    // The journal's times are on the fake's clock.
    let last = saas.journal().pop().unwrap();
    assert!(parse_time(&last.time) >= before.now + chrono::Duration::seconds(60));

    let (status, err) =
        admin_send_raw::<ClockState>(&c, Method::POST, &base, "/clock", r#"{"advance_min": 1}"#)
            .unwrap_err();
    assert_eq!((status, err.error), (400, AdminErrorCode::InvalidClock));
    assert!(err.message.contains("advance_min"), "{err:?}");
    // An empty body advances by nothing.
    let same: ClockState = admin_post(&c, &base, "/clock").unwrap();
    assert_eq!(same.offset_ms, 60_000);
}
