//! The refresh transaction as the integration tests drive it: one transaction against a mock
//! token endpoint, the usual seeded root, and the checks every test makes.
#![allow(dead_code)]

use super::{session, MockSaas, Root};
use spec_kitty::lock::is_held;
use spec_kitty::oauth::OAuthClient;
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::refresh::{RefreshTransaction, TransactionReport};
use spec_kitty::session::StoredSession;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

pub fn run(
    root: &Root,
    saas_uri: &str,
    caller: &StoredSession,
    timeout: Duration,
) -> TransactionReport {
    let report = transaction(root, saas_uri, caller, timeout);
    assert!(
        !is_held(&root.root.refresh_lock_file()).unwrap(),
        "lock released on every path"
    );
    report
}

/// One transaction with a 200 ms lock wait (the test may hold the lock itself).
pub fn transaction(
    root: &Root,
    saas_uri: &str,
    caller: &StoredSession,
    timeout: Duration,
) -> TransactionReport {
    let store = root.store();
    let client = OAuthClient::new(saas_uri, timeout).unwrap();
    RefreshTransaction {
        store: &store,
        endpoint: &client,
        lock_path: root.root.refresh_lock_file(),
        lock_wait: Duration::from_millis(200),
        ceiling: timeout,
        now: spec_kitty::now,
    }
    .run(caller)
}

/// A SaaS, and a root whose persisted session (`s1` / `rt-1`, access token expired) is also the
/// caller's in-memory copy.
pub fn expired_current() -> (Root, MockSaas, StoredSession) {
    let (root, saas) = (Root::new(), MockSaas::start());
    let current = session("s1", "rt-1", -10, 86_400);
    root.store().write(&current).unwrap();
    (root, saas, current)
}

pub fn token_route() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/oauth/token"))
}

pub fn token_mock(template: ResponseTemplate) -> Mock {
    token_route().respond_with(template)
}

/// A responder that rewrites the session (as a writer ignoring every lock would) and then
/// answers.
pub fn rewrite_then(
    root: &RuntimeRoot,
    rewrite: impl Fn(&RuntimeRoot) + Send + Sync + 'static,
    answers: Vec<ResponseTemplate>,
) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static {
    let root = root.clone();
    let calls = AtomicUsize::new(0);
    move |_req: &Request| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            rewrite(&root);
        }
        answers[n.min(answers.len() - 1)].clone()
    }
}

pub fn rejected(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": error}))
}

/// The persisted session is still exactly the caller's material and tokens.
pub fn assert_kept(root: &Root, expected: &StoredSession) {
    let on_disk = persisted(root).expect("session kept");
    assert_eq!(on_disk.material(), expected.material());
    assert_eq!(on_disk.access_token, expected.access_token);
}

pub fn persisted(root: &Root) -> Option<StoredSession> {
    root.store().read().unwrap()
}
