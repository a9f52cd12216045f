//! The sender against the fake SaaS on loopback: delivery to the private teamspace in batches,
//! exactly once across a lost answer, and each way a drain can fail classified from its type
//! with every event kept.

mod common;

use chrono::Utc;
use common::Seeded;
use fake_saas::{FaultAction, FaultSpec, SaasConfig};
use spec_kitty::lock::RefreshLock;
use spec_kitty::sync::{classify, DiagnosticCode, DrainOptions, EventQueue, Sender, SyncError};
use spec_kitty::token_manager::{RefreshSettings, TokenManager};
use std::time::Duration;

fn enqueue(s: &Seeded, n: usize) -> Vec<String> {
    let q = EventQueue::open(&s.root.root.queue_db()).unwrap();
    (0..n)
        .map(|i| {
            q.enqueue("test.event", &format!("{{\"i\":{i}}}"), Utc::now())
                .unwrap()
                .event_id
        })
        .collect()
}

fn depth(s: &Seeded) -> u64 {
    EventQueue::open(&s.root.root.queue_db())
        .unwrap()
        .stats()
        .unwrap()
        .depth
}

fn sender(s: &Seeded) -> Sender {
    Sender::new(&s.root.root).with_saas_url(s.saas.url())
}

fn code_of(s: &mut Sender) -> (DiagnosticCode, SyncError) {
    let drained = s.drain(&DrainOptions::drain_all());
    let e = drained.error.expect("the drain fails");
    (classify(&e), e)
}

#[test]
fn delivers_in_batches_to_the_private_teamspace_in_order() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    let ids = enqueue(&s, 250);
    let drained = sender(&s).drain(&DrainOptions::drain_all());
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let r = drained.report;
    assert_eq!(
        (r.sent, r.duplicates, r.batches, r.remaining),
        (250, 0, 3, Some(0))
    );
    assert_eq!(s.saas.event_ids(), ids);
    assert!(s
        .saas
        .events()
        .iter()
        .all(|e| e["team_id"] == "team_private_1" && e["event_type"] == "test.event"));
    let stats = EventQueue::open(&s.root.root.queue_db())
        .unwrap()
        .stats()
        .unwrap();
    assert!(stats.last_success_at.is_some());
    // Nothing left: a second drain sends nothing and needs no network.
    let again = sender(&s).drain(&DrainOptions::drain_all());
    assert_eq!((again.report.batches, again.error.is_none()), (0, true));
    assert_eq!(s.saas.count("/api/v1/events/batch/"), 3);
}

#[test]
fn a_batch_the_server_already_took_is_confirmed_not_duplicated() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    let ids = enqueue(&s, 3);
    // A sender posted these, the server accepted them, and the sender died before deleting.
    let body = serde_json::json!({
        "team_id": "team_private_1",
        "events": ids.iter().map(|id| serde_json::json!({"event_id": id})).collect::<Vec<_>>(),
    });
    let status = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/events/batch/", s.saas.url()))
        .bearer_auth(&s.seeded.access_token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    let drained = sender(&s).drain(&DrainOptions::drain_all());
    assert!(drained.error.is_none());
    assert_eq!((drained.report.sent, drained.report.duplicates), (0, 3));
    assert_eq!(depth(&s), 0);
    let stats = s.saas.event_stats();
    assert_eq!(
        (stats.received, stats.accepted, stats.duplicates),
        (6, 3, 3)
    );
    assert_eq!(s.saas.event_ids(), ids);
}

#[test]
fn no_private_teamspace_is_a_benign_skip_after_one_profile_read() {
    let config = SaasConfig::from_toml_str(
        "[user]\nteams = [{ id = \"team_shared_1\", name = \"Shared\", role = \"member\", is_private_teamspace = false, slug = \"shared\" }]",
    )
    .unwrap();
    let s = Seeded::new(config, 3600, 86_400);
    enqueue(&s, 2);
    for _ in 0..2 {
        let (code, e) = code_of(&mut sender(&s));
        assert_eq!(code, DiagnosticCode::DirectIngressMissingPrivateTeam, "{e}");
        assert_eq!(e.exit_code(), 0);
    }
    // At most once per process, however often the queue is drained.
    assert_eq!(s.saas.count("/api/v1/me"), 1);
    assert_eq!(s.saas.count("/api/v1/events/batch/"), 0);
    assert_eq!(depth(&s), 2);
}

#[test]
fn an_unreachable_server_keeps_every_event_and_counts_the_attempt() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    enqueue(&s, 2);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut down = Sender::new(&s.root.root).with_saas_url(closed);
    let (code, e) = code_of(&mut down);
    assert_eq!(code, DiagnosticCode::ServerUnreachable, "{e}");
    assert!(!e.to_string().contains("auth login"), "{e}");
    let q = EventQueue::open(&s.root.root.queue_db()).unwrap();
    let left = q.peek(10).unwrap();
    assert_eq!(left.len(), 2);
    assert!(left
        .iter()
        .all(|e| e.attempts == 1 && e.last_error.is_some()));

    s.saas.add_fault(FaultSpec {
        status: Some(503),
        ..FaultSpec::action("/api/v1/events/batch/", FaultAction::Respond)
    });
    let (code, _) = code_of(&mut sender(&s));
    assert_eq!(code, DiagnosticCode::ServerUnreachable);
    assert_eq!(depth(&s), 2);
}

#[test]
fn a_revoked_session_is_an_auth_failure() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    enqueue(&s, 1);
    s.saas.revoke_session(&s.seeded.session_id);
    let (code, e) = code_of(&mut sender(&s));
    assert_eq!(code, DiagnosticCode::ServerAuthFailure, "{e}");
    assert_eq!(depth(&s), 1);
    // The ingress refused the token, then the refresh learned of the revocation.
    assert_eq!(s.saas.count("/oauth/token"), 1);
}

#[test]
fn a_refresh_lock_held_elsewhere_is_a_refresh_in_progress() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    enqueue(&s, 1);
    let _held = RefreshLock::acquire(&s.root.root.refresh_lock_file(), Duration::ZERO).unwrap();
    let manager = TokenManager::with_store(
        s.root.store(),
        RefreshSettings {
            lock_wait: Duration::from_millis(200),
            ceiling: Duration::from_secs(5),
        },
    )
    .unwrap()
    .with_saas_url(s.saas.url());
    let mut busy = sender(&s).with_manager(manager);
    let (code, e) = code_of(&mut busy);
    assert_eq!(code, DiagnosticCode::AuthRefreshInProgress, "{e}");
    assert_eq!(depth(&s), 1);
    assert_eq!(s.saas.count("/oauth/token"), 0);
}

#[test]
fn another_sender_draining_is_a_lock_unavailable() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    enqueue(&s, 1);
    let _other =
        spec_kitty::sync::acquire_drain_lock(&s.root.root.drain_lock_file(), Duration::ZERO)
            .unwrap();
    let opts = DrainOptions {
        lock_wait: Duration::from_millis(50),
        ..DrainOptions::final_sync()
    };
    let e = sender(&s).drain(&opts).error.unwrap();
    assert_eq!(
        classify(&e),
        DiagnosticCode::FinalSyncLockUnavailable,
        "{e}"
    );
    assert_eq!(depth(&s), 1);
}

#[test]
fn no_session_is_an_auth_failure_before_any_request() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    enqueue(&s, 1);
    s.root.store().delete().unwrap();
    let (code, _) = code_of(&mut sender(&s));
    assert_eq!(code, DiagnosticCode::ServerAuthFailure);
    assert!(s.saas.journal().is_empty());
}

#[test]
fn a_timeout_is_server_unreachable_and_keeps_every_event() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    enqueue(&s, 2);
    let mut slow = FaultSpec::respond("/api/v1/events/batch/", 200);
    slow.delay_ms = 30_000;
    s.saas.add_fault(slow);
    let options = DrainOptions {
        request_timeout: Duration::from_millis(300),
        ..DrainOptions::drain_all()
    };
    let drained = sender(&s).drain(&options);
    let e = drained.error.expect("the drain times out");
    assert_eq!(classify(&e), DiagnosticCode::ServerUnreachable, "{e}");
    assert!(!e.to_string().contains("auth login"), "{e}");
    assert_eq!(depth(&s), 2, "every event kept");
}

#[test]
fn an_expired_access_token_is_refreshed_through_the_transaction_then_the_events_go() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let ids = enqueue(&s, 3);
    let drained = sender(&s).drain(&DrainOptions::drain_all());
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.report.sent, 3);
    assert_eq!(s.saas.event_ids(), ids);
    assert_eq!(
        s.saas.count("/oauth/token"),
        1,
        "one refresh, then the batch"
    );
    assert_eq!(depth(&s), 0);
}

#[test]
fn status_reports_the_oldest_waiting_event_and_its_age() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    let q = EventQueue::open(&s.root.root.queue_db()).unwrap();
    let recorded = Utc::now() - chrono::Duration::seconds(90);
    q.enqueue("old.event", "{}", recorded).unwrap();
    q.enqueue("new.event", "{}", Utc::now()).unwrap();
    drop(q);
    let mut cmd = common::spec_kitty_cmd(&s.root, Some(&s.saas.url()));
    cmd.args(["sync", "status", "--json"]);
    let out = common::bounded_output(&mut cmd);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let queue = &doc;
    assert_eq!(queue["queue_depth"], 2, "{doc}");
    let age = queue["oldest_event_age_s"].as_i64().unwrap();
    assert!((90..120).contains(&age), "{doc}");
    let at =
        chrono::DateTime::parse_from_rfc3339(queue["oldest_event_at"].as_str().unwrap()).unwrap();
    assert_eq!(at.timestamp(), recorded.timestamp(), "{doc}");
}
