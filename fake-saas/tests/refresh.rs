//! The refresh grant over real HTTP: rotation, errors and their `error_reason`, revocation,
//! the absolute lifetime, every reuse policy with its reuse-detection count, and the 100-way
//! refresh race. Time-dependent cases advance the fake's clock instead of sleeping.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;
use fake_saas::{JournalOutcome, ReusePolicy, RevokedReason, SaasConfig, SeedRequest};

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
    assert_eq!(parse_time(expires_at), seeded.refresh_expires_at);
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
    assert_eq!(reason_of(&unknown), "unknown_token");

    // An access token is not a refresh token.
    let seeded = seed(&saas);
    let wrong_kind = refresh(&c, &saas, &seeded.access_token);
    assert_eq!(
        (wrong_kind.0, error_of(&wrong_kind), reason_of(&wrong_kind)),
        (400, "invalid_grant", "unknown_token")
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
    // Only invalid_grant and session_invalid carry a reason.
    assert!(
        bad_client.1.get("error_reason").is_none(),
        "{}",
        bad_client.1
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
    assert_eq!(reason_of(&answer), "revoked");
    let answer = me(&c, &saas, &seeded.access_token);
    assert_eq!((answer.0, error_of(&answer)), (401, "invalid_token"));
    let session = saas.session(&seeded.session_id).unwrap();
    assert_eq!(session.revoked_reason, Some(RevokedReason::Admin));
    assert_eq!(session.reuse_detections, 0);
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
        (
            status,
            body["error"].as_str(),
            body["error_reason"].as_str()
        ),
        (400, Some("invalid_grant"), Some("lifetime_expired"))
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
    assert_eq!(body["error_reason"], "lifetime_expired");

    // And so does the clock reaching the end of the lifetime.
    let ageing = saas.seed_session(SeedRequest {
        refresh_expires_in_s: 100,
        ..SeedRequest::default()
    });
    assert_eq!(refresh(&c, &saas, &ageing.refresh_token).0, 200);
    saas.advance_clock(Duration::from_secs(100));
    let latest = saas.latest_refresh_token(&ageing.session_id).unwrap();
    let answer = refresh(&c, &saas, &latest);
    assert_eq!(
        (answer.0, reason_of(&answer)),
        (400, "lifetime_expired"),
        "{}",
        answer.1
    );
    assert!(!saas.session(&ageing.session_id).unwrap().active);

    let outcomes: Vec<JournalOutcome> = saas.journal().iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            JournalOutcome::Expired,
            JournalOutcome::Expired,
            JournalOutcome::Rotated,
            JournalOutcome::Expired
        ]
    );
}

#[test]
fn reuse_reject() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    let (_, first) = refresh(&c, &saas, &seeded.refresh_token);
    for n in 1..=3 {
        let stale = refresh(&c, &saas, &seeded.refresh_token);
        assert_eq!(
            (stale.0, error_of(&stale), reason_of(&stale)),
            (400, "invalid_grant", "rotated_out")
        );
        assert_eq!(saas.session("sess_1").unwrap().reuse_detections, n);
    }
    // The family survives: the current token still works.
    let (status, second) = refresh(&c, &saas, &rt(&first));
    assert_eq!(status, 200);
    assert_eq!(second["generation"], 3);
    let session = &saas.sessions()[0];
    assert!(!session.revoked && session.revoked_reason.is_none());
    assert_eq!((session.reuse_detections, session.refreshes), (3, 2));
}

#[test]
fn reuse_revoke_family_kills_the_family() {
    let saas = start_toml("reuse = \"revoke_family\"");
    assert_eq!(saas.config().reuse, ReusePolicy::RevokeFamily);
    let c = client();
    let seeded = seed(&saas);
    let (_, first) = refresh(&c, &saas, &seeded.refresh_token);
    let stale = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(
        (stale.0, error_of(&stale), reason_of(&stale)),
        (400, "invalid_grant", "family_revoked")
    );

    // Every later use of any token of the family fails, naming the family revocation.
    for token in [rt(&first), seeded.refresh_token.clone()] {
        let answer = refresh(&c, &saas, &token);
        assert_eq!(
            (answer.0, error_of(&answer), reason_of(&answer)),
            (401, "session_invalid", "family_revoked")
        );
    }
    assert_eq!(me(&c, &saas, &at(&first)).0, 401);
    let session = saas.session("sess_1").unwrap();
    assert!(session.revoked && !session.active);
    assert_eq!(session.revoked_reason, Some(RevokedReason::ReuseDetected));
    // One detection: later presentations hit a revoked session, not the reuse policy.
    assert_eq!(session.reuse_detections, 1);
    let outcomes: Vec<JournalOutcome> = saas.journal().iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            JournalOutcome::Rotated,
            JournalOutcome::FamilyRevoked,
            JournalOutcome::SessionInvalid,
            JournalOutcome::SessionInvalid,
            JournalOutcome::SessionInvalid
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
    assert_eq!(
        (third.0, error_of(&third), reason_of(&third)),
        (400, "invalid_grant", "rotated_out")
    );
    assert_eq!(saas.latest_refresh_token("sess_1"), Some(rt(&pair)));

    // Only the immediately previous token gets grace.
    let (_, next) = refresh(&c, &saas, &rt(&pair));
    assert_eq!(next["generation"], 3);
    let old = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!((old.0, error_of(&old)), (400, "invalid_grant"));
    let previous = refresh(&c, &saas, &rt(&pair));
    assert_eq!(previous.0, 200);
    assert_eq!(rt(&previous.1), rt(&next));
    let outcomes: Vec<JournalOutcome> = saas.journal().iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            JournalOutcome::Rotated,
            JournalOutcome::GraceReplay,
            JournalOutcome::GraceReplay,
            JournalOutcome::ReuseRejected,
            JournalOutcome::Rotated,
            JournalOutcome::ReuseRejected,
            JournalOutcome::GraceReplay
        ]
    );
    // Every rotated-out token presented counts, the tolerated replays included.
    let session = saas.session("sess_1").unwrap();
    assert_eq!((session.reuse_detections, session.refreshes), (5, 5));
}

#[test]
fn reuse_grace_by_seconds() {
    // The window is long in real time and crossed by the clock: no stall can flip "inside".
    let saas = start_toml("reuse = \"grace\"\ngrace_s = 30");
    let c = client();
    let seeded = seed(&saas);
    let (_, pair) = refresh(&c, &saas, &seeded.refresh_token);
    let inside = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(inside.0, 200);
    assert_eq!(rt(&inside.1), rt(&pair));
    saas.advance_clock(Duration::from_secs(29));
    assert_eq!(refresh(&c, &saas, &seeded.refresh_token).0, 200);
    saas.advance_clock(Duration::from_secs(1));
    let outside = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(
        (outside.0, error_of(&outside), reason_of(&outside)),
        (400, "invalid_grant", "rotated_out")
    );
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
    // A 409 is not a rejection: no reason, and the reuse is still counted.
    assert!(body.get("error_reason").is_none(), "{body}");
    assert_eq!(saas.session("sess_1").unwrap().reuse_detections, 1);
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
        .all(|a| a.0 == 400 && error_of(a) == "invalid_grant" && reason_of(a) == "rotated_out"));
    assert_eq!(saas.count("/oauth/token"), 100);
    let session = saas.session("sess_1").unwrap();
    assert_eq!((session.generation, session.reuse_detections), (2, 99));
    let rotated = saas
        .journal()
        .iter()
        .filter(|e| e.outcome == JournalOutcome::Rotated)
        .count();
    assert_eq!(rotated, 1);
}

#[test]
fn a_client_revocation_is_reason_revoked() {
    let saas = start_toml("reuse = \"revoke_family\"");
    let c = client();
    let seeded = seed(&saas);
    let revoke = format!("{}/oauth/revoke", saas.url());
    assert_eq!(
        post_form(&c, &revoke, &[("token", &seeded.refresh_token)]).0,
        200
    );
    let answer = refresh(&c, &saas, &seeded.refresh_token);
    assert_eq!(
        (answer.0, error_of(&answer), reason_of(&answer)),
        (401, "session_invalid", "revoked")
    );
    let session = saas.session(&seeded.session_id).unwrap();
    assert_eq!(session.revoked_reason, Some(RevokedReason::ClientRevoke));
    assert_eq!(session.reuse_detections, 0);
}
