//! Every outcome of the refresh transaction (docs/refresh-transaction.md), against a real HTTP
//! token endpoint. Writers that ignore every lock (the oldest CLIs) are modelled by responders
//! that rewrite the session file while the request is in flight.

mod common;

use common::points::{listen, wait_for};
use common::txn::{
    assert_kept, expired_current, persisted, rejected, rewrite_then, run, token_mock, token_route,
    transaction,
};
use common::{grant_body, lockless_delete, lockless_write, session, MockSaas, Root};
use spec_kitty::lock::RefreshLock;
use spec_kitty::refresh::{AuthError, Outcome, ReloginCause};
use spec_kitty::session::format_time;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[test]
fn adopted_newer_without_network() {
    let (root, saas) = (Root::new(), MockSaas::start());
    let newer = session("s1", "rt-2", 3600, 86_400);
    root.store().write(&newer).unwrap();
    saas.mount(token_mock(ResponseTemplate::new(500)).expect(0));
    let stale = session("s1", "rt-1", -10, 86_400);
    let report = run(&root, &saas.uri(), &stale, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::AdoptedNewer);
    assert_eq!(report.network_calls, 0);
    assert_eq!(report.result.unwrap().refresh_token, "rt-2");
    saas.verify();
}

#[test]
fn refreshed_spends_the_persisted_token_and_persists_the_result() {
    let (root, saas, current) = expired_current();
    saas.mount(
        token_mock(ResponseTemplate::new(200).set_body_json(grant_body("at-2", "rt-2"))).expect(1),
    );
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Refreshed);
    assert_eq!(report.network_calls, 1);
    let on_disk = persisted(&root).unwrap();
    assert_eq!(
        (
            on_disk.access_token.as_str(),
            on_disk.refresh_token.as_str()
        ),
        ("at-2", "rt-2")
    );
    assert_eq!(on_disk.generation, Some(2));
    assert!(on_disk.access_usable(spec_kitty::now()));
    assert_eq!(on_disk.user_id, current.user_id, "profile kept");
    assert!(saas.bodies()[0].contains("refresh_token=rt-1"));
}

#[test]
fn a_stale_caller_refreshes_with_the_persisted_material_not_its_own() {
    let (root, saas) = (Root::new(), MockSaas::start());
    // Persisted is newer than the caller but its access token is also expired.
    root.store()
        .write(&session("s1", "rt-2", -10, 86_400))
        .unwrap();
    saas.mount(token_mock(
        ResponseTemplate::new(200).set_body_json(grant_body("at-3", "rt-3")),
    ));
    let report = run(
        &root,
        &saas.uri(),
        &session("s1", "rt-1", -10, 86_400),
        Duration::from_secs(2),
    );
    assert_eq!(report.outcome, Outcome::Refreshed);
    let bodies = saas.bodies();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].contains("refresh_token=rt-2") && !bodies[0].contains("rt-1"),
        "{bodies:?}"
    );
}

#[test]
fn no_rotation_keeps_the_refresh_token() {
    let (root, saas, current) = expired_current();
    saas.mount(token_mock(
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "at-2"})),
    ));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Refreshed);
    let on_disk = persisted(&root).unwrap();
    assert_eq!(on_disk.refresh_token, "rt-1");
    assert_eq!(
        on_disk.refresh_token_expires_at.map(format_time),
        current.refresh_token_expires_at.map(format_time)
    );
}

#[test]
fn stale_rejection_preserves_newer_material_written_by_a_lockless_client() {
    let (root, saas, current) = expired_current();
    saas.mount(token_route().respond_with(rewrite_then(
        &root.root,
        |root| lockless_write(root, &session("s1", "rt-legacy", 3600, 86_400)),
        vec![rejected("invalid_grant")],
    )));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::StaleRejectionPreserved);
    assert_eq!(report.result.unwrap().refresh_token, "rt-legacy");
    assert_eq!(
        persisted(&root).unwrap().refresh_token,
        "rt-legacy",
        "never deleted"
    );
}

#[test]
fn stale_rejection_does_not_adopt_a_missing_session() {
    let (root, saas, current) = expired_current();
    saas.mount(token_route().respond_with(rewrite_then(
        &root.root,
        lockless_delete,
        vec![rejected("invalid_grant")],
    )));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::CurrentRejectionCleared);
    // Not "revoked by the server": the session was removed here, and the message says so.
    let err = report.result.unwrap_err();
    assert!(
        matches!(err, AuthError::Relogin(ReloginCause::RemovedLocally)),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("removed on this machine") && !message.contains("revoked"),
        "{message}"
    );
    assert_eq!(err.code(), "session_removed");
    assert!(persisted(&root).is_none());
}

#[test]
fn stale_rejection_does_not_adopt_an_expired_refresh_token() {
    let (root, saas, current) = expired_current();
    saas.mount(token_route().respond_with(rewrite_then(
        &root.root,
        |root| lockless_write(root, &session("s1", "rt-dead", 3600, -5)),
        vec![rejected("invalid_grant")],
    )));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::CurrentRejectionCleared);
    assert!(matches!(
        report.result,
        Err(AuthError::Relogin(ReloginCause::AbsoluteLifetime { .. }))
    ));
    assert!(persisted(&root).is_none(), "an expired session is cleared");
}

#[test]
fn stale_rejection_does_not_adopt_an_expired_access_token_but_tries_it_once() {
    let (root, saas, current) = expired_current();
    saas.mount(token_route().respond_with(rewrite_then(
        &root.root,
        |root| lockless_write(root, &session("s1", "rt-newer", -10, 86_400)),
        vec![
            rejected("invalid_grant"),
            ResponseTemplate::new(200).set_body_json(grant_body("at-9", "rt-9")),
        ],
    )));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Refreshed);
    assert_eq!(report.network_calls, 2);
    let bodies = saas.bodies();
    assert!(bodies[0].contains("refresh_token=rt-1"));
    assert!(bodies[1].contains("refresh_token=rt-newer"), "{bodies:?}");
    assert_eq!(persisted(&root).unwrap().refresh_token, "rt-9");
}

#[test]
fn current_rejection_clears_with_server_revocation_named() {
    // The seeded refresh token's expiry is known and in the future: a refusal is a revocation.
    for (status, error) in [(400, "invalid_grant"), (401, "session_invalid")] {
        let (root, saas, current) = expired_current();
        saas.mount(token_mock(
            ResponseTemplate::new(status).set_body_json(serde_json::json!({"error": error})),
        ));
        let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
        assert_eq!(report.outcome, Outcome::CurrentRejectionCleared, "{error}");
        let err = report.result.unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("revoked by the server") && message.contains(error),
            "{message}"
        );
        assert!(message.contains("spec-kitty auth login"));
        assert_eq!(err.exit_code(), 1);
        assert!(persisted(&root).is_none());
        assert!(!root.root.salt_file().exists());
    }
}

#[test]
fn locally_expired_refresh_token_fails_without_network_or_deletion() {
    let (root, saas) = (Root::new(), MockSaas::start());
    let current = session("s1", "rt-1", -10, -1);
    root.store().write(&current).unwrap();
    saas.mount(token_mock(ResponseTemplate::new(500)).expect(0));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::RefreshTokenExpired);
    assert_eq!(report.network_calls, 0);
    let message = report.result.unwrap_err().to_string();
    assert!(message.contains("absolute lifetime"), "{message}");
    assert!(persisted(&root).is_some(), "not deleted");
    saas.verify();
}

#[test]
fn lock_timeout_adopts_a_usable_persisted_session() {
    let (root, saas) = (Root::new(), MockSaas::start());
    root.store()
        .write(&session("s1", "rt-2", 3600, 86_400))
        .unwrap();
    saas.mount(token_mock(ResponseTemplate::new(500)).expect(0));
    let held = RefreshLock::try_acquire(&root.root.refresh_lock_file())
        .unwrap()
        .unwrap();
    let report = transaction(
        &root,
        &saas.uri(),
        &session("s1", "rt-1", -10, 86_400),
        Duration::from_secs(1),
    );
    drop(held);
    assert_eq!(report.outcome, Outcome::LockTimeoutAdopted);
    assert_eq!(report.result.unwrap().refresh_token, "rt-2");
    saas.verify();
}

#[test]
fn lock_timeout_without_usable_material_is_retryable_and_keeps_everything() {
    let (root, saas, current) = expired_current();
    saas.mount(token_mock(ResponseTemplate::new(500)).expect(0));
    let held = RefreshLock::try_acquire(&root.root.refresh_lock_file())
        .unwrap()
        .unwrap();
    let report = transaction(&root, &saas.uri(), &current, Duration::from_secs(1));
    drop(held);
    assert_eq!(report.outcome, Outcome::LockTimeoutError);
    let err = report.result.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("busy"), "{err}");
    assert_kept(&root, &current);
}

#[test]
fn network_timeout_releases_the_lock_within_the_ceiling_and_deletes_nothing() {
    let (root, saas, current) = expired_current();
    saas.mount(token_mock(
        ResponseTemplate::new(200).set_delay(Duration::from_secs(10)),
    ));
    let started = Instant::now();
    let report = run(&root, &saas.uri(), &current, Duration::from_millis(400));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.outcome, Outcome::LockTimeoutError);
    assert_eq!(report.result.unwrap_err().exit_code(), 3);
    assert_kept(&root, &current);
}

/// The 409 retry does not start a fresh bound: the request, the retry and the save share the
/// one deadline the refresh lock is held under.
#[test]
fn the_replay_retry_shares_the_one_deadline() {
    let (root, saas, current) = expired_current();
    let ceiling = Duration::from_millis(2000);
    saas.mount(token_route().respond_with(rewrite_then(
        &root.root,
        |root| lockless_write(root, &session("s1", "rt-2", -10, 86_400)),
        vec![
            ResponseTemplate::new(409)
                .set_body_json(serde_json::json!({"error": "refresh_replay_benign_retry"}))
                .set_delay(Duration::from_millis(1500)),
            ResponseTemplate::new(200)
                .set_body_json(grant_body("at-3", "rt-3"))
                .set_delay(Duration::from_secs(10)),
        ],
    )));
    let started = Instant::now();
    let report = run(&root, &saas.uri(), &current, ceiling);
    let elapsed = started.elapsed();
    assert_eq!(saas.bodies().len(), 2, "the retry was sent");
    // One shared deadline ends near 2 s; a fresh bound for the retry would end near 3.5 s.
    assert!(elapsed < Duration::from_millis(2900), "{elapsed:?}");
    assert_eq!(report.result.unwrap_err().exit_code(), 3);
    let kept = persisted(&root).expect("nothing deleted");
    assert_eq!(kept.refresh_token, "rt-2", "the newer material is kept");
}

#[test]
fn transient_failures_never_delete() {
    for template in [
        ResponseTemplate::new(502),
        ResponseTemplate::new(200).set_body_string("<html>"),
        ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_request"})),
    ] {
        let (root, saas, current) = expired_current();
        saas.mount(token_mock(template));
        let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
        assert_eq!(report.outcome, Outcome::LockTimeoutError);
        assert_kept(&root, &current);
    }
}

#[test]
fn replay_409_retries_once_with_the_newer_token_never_the_spent_one() {
    let (root, saas, current) = expired_current();
    let replay = ResponseTemplate::new(409).set_body_json(
        serde_json::json!({"error": "refresh_replay_benign_retry", "retry_after": 0}),
    );
    saas.mount(token_route().respond_with(rewrite_then(
        &root.root,
        |root| lockless_write(root, &session("s1", "rt-2", -10, 86_400)),
        vec![
            replay,
            ResponseTemplate::new(200).set_body_json(grant_body("at-3", "rt-3")),
        ],
    )));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Refreshed);
    let bodies = saas.bodies();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0].contains("refresh_token=rt-1"));
    assert!(bodies[1].contains("refresh_token=rt-2"), "{bodies:?}");
}

#[test]
fn replay_409_without_a_newer_token_is_retryable_and_sends_once() {
    let (root, saas, current) = expired_current();
    saas.mount(
        token_mock(
            ResponseTemplate::new(409)
                .set_body_json(serde_json::json!({"error": "refresh_replay_benign_retry"})),
        )
        .expect(1),
    );
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::LockTimeoutError);
    let err = report.result.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert_eq!(
        err.code(),
        "replay_without_newer_token",
        "a script can stop retrying"
    );
    assert!(err.to_string().contains("spec-kitty auth login"), "{err}");
    assert_kept(&root, &current);
    saas.verify();
}

#[test]
fn a_session_removed_while_waiting_means_not_logged_in() {
    let (root, saas) = (Root::new(), MockSaas::start());
    saas.mount(token_mock(ResponseTemplate::new(500)).expect(0));
    let report = run(
        &root,
        &saas.uri(),
        &session("s1", "rt-1", -10, 86_400),
        Duration::from_secs(2),
    );
    assert_eq!(report.outcome, Outcome::LockTimeoutError);
    let err = report.result.unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(matches!(
        err,
        AuthError::Relogin(ReloginCause::RemovedWhileWaiting)
    ));
    assert!(err.to_string().contains("not logged in"), "{err}");
    saas.verify();
}

#[test]
fn single_flight_within_one_process() {
    use spec_kitty::token_manager::{RefreshSettings, TokenManager};
    let (root, saas) = (Root::new(), MockSaas::start());
    root.store()
        .write(&session("s1", "rt-1", -10, 86_400))
        .unwrap();
    saas.mount(
        token_mock(
            ResponseTemplate::new(200)
                .set_body_json(grant_body("at-2", "rt-2"))
                .set_delay(Duration::from_millis(100)),
        )
        .expect(1),
    );
    let settings = RefreshSettings {
        lock_wait: Duration::from_secs(5),
        ceiling: Duration::from_secs(5),
    };
    let manager = Arc::new(
        TokenManager::with_store(root.store(), settings)
            .unwrap()
            .with_saas_url(saas.uri()),
    );
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let m = manager.clone();
            std::thread::spawn(move || m.access_token().unwrap())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "at-2");
    }
    saas.verify();
}

#[test]
fn logout_waits_for_an_in_flight_refresh_and_wins() {
    use spec_kitty::token_manager::{RefreshSettings, TokenManager};
    let (root, saas) = (Root::new(), MockSaas::start());
    root.store()
        .write(&session("s1", "rt-1", 3600, 86_400))
        .unwrap();
    saas.mount(
        Mock::given(method("POST"))
            .and(path("/oauth/revoke"))
            .and(wiremock::matchers::body_string_contains("token=rt-2"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1),
    );
    let settings = RefreshSettings {
        lock_wait: Duration::from_secs(5),
        ceiling: Duration::from_secs(5),
    };
    let manager = TokenManager::with_store(root.store(), settings)
        .unwrap()
        .with_saas_url(saas.uri());

    // Another process is mid-refresh: it holds the lock and is about to persist rt-2.
    let held = RefreshLock::try_acquire(&root.root.refresh_lock_file())
        .unwrap()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let logout = std::thread::spawn(move || {
        tx.send(listen()).unwrap();
        manager.logout().map(|r| (r, manager.is_authenticated()))
    });
    let points = rx.recv().unwrap();
    assert!(
        wait_for(&points, "refresh.lock_busy", Duration::from_secs(5)),
        "logout waits for the lock"
    );
    root.store()
        .write(&session("s1", "rt-2", 3600, 86_400))
        .unwrap();
    drop(held);
    let (report, still_authenticated) = logout.join().unwrap().unwrap();
    assert!(report.removed);
    assert_eq!(
        report.revocation,
        Some(Ok(())),
        "the newest refresh token was revoked"
    );
    assert!(persisted(&root).is_none(), "no resurrection");
    assert!(!still_authenticated);
    saas.verify();
}
