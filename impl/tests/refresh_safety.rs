//! The refresh transaction's safety properties beyond its outcome table: the save is prepared
//! before the token is spent, rotated tokens are never lost, compare-and-delete is one atomic
//! step, everything under the lock fits one deadline, and a malformed success answer never
//! costs the session.

mod common;

use common::points::{listen, wait_for};
use common::txn::{expired_current, persisted, rejected, run, token_mock, token_route};
use common::{grant_body, session, Root};
use spec_kitty::refresh::{AuthError, Outcome, RetryKind};
use spec_kitty::token_manager::{RefreshSettings, TokenManager};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};
use wiremock::{Request, ResponseTemplate};

/// Another process holding `session.lock` (an exclusive flock on its own descriptor).
fn hold_session_lock(root: &Root) -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(root.root.session_lock_file())
        .unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    file
}

#[test]
fn a_session_lock_held_past_the_deadline_spends_nothing_and_the_user_stays_logged_in() {
    let (root, saas, current) = expired_current();
    saas.mount(token_mock(
        ResponseTemplate::new(200).set_body_json(grant_body("at-2", "rt-2")),
    ));
    let holder = hold_session_lock(&root);
    let report = run(&root, &saas.uri(), &current, Duration::from_millis(300));
    assert_eq!(report.outcome, Outcome::LockTimeoutError);
    assert_eq!(report.network_calls, 0, "the refresh token was not spent");
    let err = report.result.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Retryable {
                kind: RetryKind::LockBusy,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not spent"), "{err}");
    assert!(saas.bodies().is_empty());
    // The obstacle goes away: the same token refreshes, nothing was lost.
    drop(holder);
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Refreshed);
    assert_eq!(persisted(&root).unwrap().refresh_token, "rt-2");
}

#[test]
fn rotated_tokens_that_cannot_be_saved_are_kept_and_saved_first_next_time() {
    let (root, saas, _) = expired_current();
    let auth_dir = root.root.auth_dir();
    let session_file = root.root.session_file();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    saas.mount(token_route().respond_with(move |_: &Request| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            // While the first request is in flight, make the rename over session.json fail.
            std::fs::remove_file(&session_file).unwrap();
            std::fs::create_dir(&session_file).unwrap();
            ResponseTemplate::new(200).set_body_json(grant_body("at-2", "rt-2"))
        } else {
            ResponseTemplate::new(200).set_body_json(grant_body("at-3", "rt-3"))
        }
    }));
    let settings = RefreshSettings {
        lock_wait: Duration::from_secs(2),
        ceiling: Duration::from_millis(600),
    };
    let manager = TokenManager::with_store(root.store(), settings)
        .unwrap()
        .with_saas_url(saas.uri());
    let err = manager.access_token().unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Retryable {
                kind: RetryKind::SaveFailed,
                ..
            }
        ),
        "{err}"
    );
    let shown = format!("{err:?} {err}");
    assert!(
        !shown.contains("rt-2") && !shown.contains("at-2"),
        "{shown}"
    );
    // This process still uses the rotated tokens it could not save.
    assert_eq!(manager.access_token().unwrap(), "at-2");
    // The obstacle goes away (the old session is back on disk); the next transaction saves
    // the pending tokens first and then refreshes with rt-2, never the spent rt-1.
    std::fs::remove_dir(root.root.session_file()).unwrap();
    root.store()
        .write(&session("s1", "rt-1", -10, 86_400))
        .unwrap();
    let report = manager.refresh().unwrap();
    assert_eq!(report.outcome, Outcome::Refreshed, "{:?}", report.result);
    let bodies = saas.bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[1].contains("refresh_token=rt-2"), "{bodies:?}");
    assert_eq!(persisted(&root).unwrap().refresh_token, "rt-3");
    assert!(auth_dir.join("session.json").is_file());
}

#[test]
fn compare_and_delete_is_one_step_a_writer_that_takes_session_lock_survives() {
    let (root, saas, current) = expired_current();
    let writer_root = root.root.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    saas.mount(token_route().respond_with(move |_: &Request| {
        // An old CLI (no refresh lock, but session.lock for writes) saves newer material while
        // our request is in flight: it must wait for our hold, and whatever we decide must not
        // delete what it writes after.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let root = writer_root.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            ready_tx.send(listen()).unwrap();
            let store = spec_kitty::storage::SessionStore::for_root(&root).unwrap();
            done.send(store.write(&session("s1", "rt-legacy", 3600, 86_400)))
                .unwrap();
        });
        let points = ready_rx.recv().unwrap();
        assert!(
            wait_for(&points, "storage.lock_busy", Duration::from_secs(5)),
            "the writer is blocked on session.lock"
        );
        rejected("invalid_grant")
    }));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(5));
    assert_eq!(report.outcome, Outcome::CurrentRejectionCleared);
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(
        persisted(&root).unwrap().refresh_token,
        "rt-legacy",
        "the write that came after the decision survives"
    );
}

#[test]
fn a_malformed_success_answer_keeps_the_rotated_tokens() {
    let (root, saas, current) = expired_current();
    saas.mount(token_mock(ResponseTemplate::new(200).set_body_json(
        serde_json::json!({"access_token": "at-2", "refresh_token": "rt-2", "expires_in": "soon"}),
    )));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Refreshed);
    let err = report.result.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Retryable {
                kind: RetryKind::Malformed,
                ..
            }
        ),
        "{err}"
    );
    let saved = persisted(&root).unwrap();
    assert_eq!(saved.refresh_token, "rt-2", "the rotated token is saved");
    assert!(
        !saved.access_usable(spec_kitty::now()),
        "its lifetime is not trusted"
    );
}

#[test]
fn a_huge_lifetime_is_clamped_and_saved() {
    let (root, saas, current) = expired_current();
    saas.mount(token_mock(ResponseTemplate::new(200).set_body_json(
        serde_json::json!({
            "access_token": "at-2", "refresh_token": "rt-2",
            "expires_in": i64::MAX, "refresh_token_expires_in": i64::MAX,
        }),
    )));
    let report = run(&root, &saas.uri(), &current, Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Refreshed);
    let shown = format!("{report:?} {report:#?}");
    assert!(
        !shown.contains("at-2") && !shown.contains("rt-2"),
        "{shown}"
    );
    let saved = report.result.unwrap();
    assert_eq!(persisted(&root).unwrap().refresh_token, "rt-2");
    assert!(saved.access_usable(spec_kitty::now()));
}

#[test]
fn everything_under_the_lock_fits_one_deadline_even_a_slow_body_and_a_retry() {
    let (root, saas, current) = expired_current();
    // A 409 replay after 400 ms, whose retry would be allowed a fresh timeout per request.
    saas.mount(
        token_route().respond_with(
            ResponseTemplate::new(200)
                .set_body_json(grant_body("at-2", "rt-2"))
                .set_delay(Duration::from_secs(3)),
        ),
    );
    let started = Instant::now();
    let report = run(&root, &saas.uri(), &current, Duration::from_millis(500));
    let took = started.elapsed();
    assert_eq!(report.outcome, Outcome::LockTimeoutError);
    assert!(took < Duration::from_millis(1500), "lock held {took:?}");
    assert_eq!(
        persisted(&root).unwrap().refresh_token,
        "rt-1",
        "nothing deleted"
    );
}
