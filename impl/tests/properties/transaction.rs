//! The refresh transaction against a server that answers from a generated script (any status,
//! headers and body, delays, stalls, truncation, dropped connections, at any of its requests).
//! Whatever the server does, the transaction:
//! - deletes the session only if the server answered a rejection code to a request carrying
//!   exactly the persisted refresh token;
//! - never leaves a session that fails to read back;
//! - releases the refresh lock and `session.lock`, within its ceiling;
//! - never logs or prints a token (its log output at every level, its report and its error).

use crate::check::property;
use crate::gen;
use crate::scripted_server::{reply, Reply, ScriptedServer};
use crate::token_answer::{status, token_body};
use chrono::{Duration as Span, Utc};
use proptest::prelude::*;
use spec_kitty::lock::is_held;
use spec_kitty::oauth::{classify_refresh, HttpAnswer, OAuthClient, RefreshResponse};
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::refresh::{Outcome, RefreshTransaction};
use spec_kitty::session::StoredSession;
use spec_kitty::storage::SessionStore;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The ceiling each transaction gets: short, so delays past it are cheap to generate.
const CEILING: Duration = Duration::from_millis(500);
/// What the transaction may take beyond its ceiling (saving, releasing, the outcome log), with
/// room for a loaded CI machine running a debug build.
const SLACK: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone)]
struct Case {
    /// `None`: nothing persisted.
    persisted: Option<Material>,
    /// The caller's memory is the persisted session itself (else an older one).
    caller_is_persisted: bool,
    script: Vec<Reply>,
}

#[derive(Debug, Clone)]
struct Material {
    tag: String,
    access_s: i64,
    refresh_s: Option<i64>,
}

fn session(tag: &str, access_s: i64, refresh_s: Option<i64>) -> StoredSession {
    let now = Utc::now();
    StoredSession {
        user_id: "u".into(),
        email: "e@example.com".into(),
        access_token: format!("tok-at-{tag}"),
        refresh_token: format!("tok-rt-{tag}"),
        session_id: format!("sid-{tag}"),
        issued_at: now,
        access_token_expires_at: now + Span::seconds(access_s),
        refresh_token_expires_at: refresh_s.map(|s| now + Span::seconds(s)),
        storage_backend: "file".into(),
        last_used_at: now,
        auth_method: "device_code".into(),
        ..Default::default()
    }
}

fn case() -> impl Strategy<Value = Case> {
    let material = (
        "[a-z0-9]{10}",
        prop_oneof![3 => -100i64..0, 1 => 60i64..3600],
        prop::option::of(prop_oneof![3 => 600i64..86_400, 1 => -100i64..0]),
    )
        .prop_map(|(tag, access_s, refresh_s)| Material {
            tag,
            access_s,
            refresh_s,
        });
    (
        prop::option::weighted(0.9, material),
        prop::bool::weighted(0.8),
        prop::collection::vec(reply(answer()), 1..4),
    )
        .prop_map(|(persisted, caller_is_persisted, script)| Case {
            persisted,
            caller_is_persisted,
            script,
        })
}

/// Answers: well-formed grants, rejections and replays (so every branch is reached), and
/// anything at all.
fn answer() -> impl Strategy<Value = (u16, Vec<u8>)> {
    let token = || "[A-Za-z0-9]{8,16}".prop_map(|t| format!("tok-{t}"));
    let grant = (token(), prop::option::of(token()), 0i64..7200).prop_map(|(at, rt, exp)| {
        let mut v = serde_json::json!({"access_token": at, "expires_in": exp});
        if let Some(rt) = rt {
            v["refresh_token"] = rt.into();
        }
        (200, serde_json::to_vec(&v).unwrap())
    });
    let rejection = (
        prop::sample::select(vec![400u16, 401]),
        prop::sample::select(vec!["invalid_grant", "session_invalid"]),
        prop::option::of(prop::sample::select(vec![
            "revoked",
            "rotated_out",
            "unknown_token",
        ])),
    )
        .prop_map(|(status, error, reason)| {
            let mut v = serde_json::json!({ "error": error });
            if let Some(r) = reason {
                v["error_reason"] = r.into();
            }
            (status, serde_json::to_vec(&v).unwrap())
        });
    let replay = Just((
        409,
        br#"{"error": "refresh_replay_benign_retry", "retry_after": 0}"#.to_vec(),
    ));
    prop_oneof![
        3 => grant,
        3 => rejection,
        1 => replay,
        4 => (status(), gen::damaged(token_body())),
    ]
}

/// Everything the transaction wrote through `tracing`, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every token string the case holds or the server may hand out (generated tokens start with
/// `tok-`: they are fake, and recognisable wherever they leak).
fn secrets(case: &Case, sessions: &[&StoredSession]) -> Vec<String> {
    let mut out: Vec<String> = sessions
        .iter()
        .flat_map(|s| [s.access_token.clone(), s.refresh_token.clone()])
        .collect();
    for r in &case.script {
        if let Reply::Answer { body, .. } = r {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(body) {
                for key in ["access_token", "refresh_token"] {
                    if let Some(t) = m.get(key).and_then(|v| v.as_str()) {
                        if t.starts_with("tok-") && t.len() >= 8 {
                            out.push(t.to_string());
                        }
                    }
                }
            }
        }
    }
    out
}

/// Whether `reply`, read whole, is a rejection of the token it answered.
fn is_rejection(reply: &Reply) -> bool {
    reply.whole().is_some_and(|(status, body)| {
        matches!(
            classify_refresh(&HttpAnswer {
                status,
                location: None,
                body: body.to_vec(),
            }),
            RefreshResponse::Rejected { .. }
        )
    })
}

#[test]
fn the_transaction_keeps_its_invariants_whatever_the_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let root = RuntimeRoot::new(dir.path());
    let store = SessionStore::with_passphrase(&root, "fuzz-host:1000")
        .with_session_lock_wait(Duration::from_secs(2));
    let tally = Mutex::new(std::collections::BTreeMap::<&str, u32>::new());
    property("refresh_transaction", 24, case(), |case| {
        let _ = std::fs::remove_file(root.session_file());
        let persisted = case
            .persisted
            .as_ref()
            .map(|m| session(&m.tag, m.access_s, m.refresh_s));
        if let Some(p) = &persisted {
            store.write(p).unwrap();
        }
        let caller = match (&persisted, case.caller_is_persisted) {
            (Some(p), true) => p.clone(),
            _ => session("oldcaller", -10, Some(86_400)),
        };
        let server = ScriptedServer::start(case.script.clone());
        let client = OAuthClient::new(&server.url, CEILING).unwrap();
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let c = captured.clone();
                move || c.clone()
            })
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        let started = Instant::now();
        let report = tracing::subscriber::with_default(subscriber, || {
            RefreshTransaction {
                store: &store,
                endpoint: &client,
                lock_path: root.refresh_lock_file(),
                lock_wait: Duration::from_millis(200),
                ceiling: CEILING,
                now: spec_kitty::now,
            }
            .run(&caller)
        });
        let elapsed = started.elapsed();
        *tally
            .lock()
            .unwrap()
            .entry(report.outcome.as_str())
            .or_default() += 1;
        let seen = server.seen();
        drop(server);

        prop_assert!(seen.iter().all(|s| s.path == "/oauth/token"), "{:?}", seen);
        prop_assert!(seen.len() <= 2, "more than one retry: {:?}", seen);

        // The locks are released, within the ceiling.
        prop_assert!(
            !is_held(&root.refresh_lock_file()).unwrap(),
            "refresh lock held"
        );
        prop_assert!(
            !is_held(&root.session_lock_file()).unwrap(),
            "session.lock held"
        );
        prop_assert!(elapsed <= CEILING + SLACK, "took {:?}", elapsed);

        // What is on disk reads back; a delete needs a rejection of exactly the persisted token.
        let after = store.read();
        prop_assert!(after.is_ok(), "unreadable after the run: {:?}", after);
        let after = after.unwrap();
        if let (Some(p), None) = (&persisted, &after) {
            let rejected = seen.iter().any(|s| {
                s.refresh_token.as_deref() == Some(p.refresh_token.as_str())
                    && is_rejection(&case.script[s.reply])
            });
            prop_assert!(
                rejected,
                "deleted without a rejection: {:?} {:?}",
                report.outcome,
                seen
            );
            prop_assert_eq!(report.outcome, Outcome::CurrentRejectionCleared);
        }
        if persisted.is_none() {
            prop_assert!(after.is_none(), "a session appeared from nowhere");
        }
        if report.outcome == Outcome::Refreshed {
            // Refreshed means saved (the result is an error only when the answer was malformed:
            // tokens saved, lifetime not trusted).
            let on_disk = after.as_ref().expect("refreshed means saved");
            if let Ok(result) = &report.result {
                prop_assert_eq!(on_disk.material(), result.material());
            }
            prop_assert!(report.unsaved.is_none());
        }

        // No token anywhere the user or a log could see it.
        let mut shown = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        shown.push_str(&format!("{report:?}"));
        if let Err(e) = &report.result {
            shown.push_str(&e.to_string());
        }
        let mut holders = vec![&caller];
        holders.extend(persisted.as_ref());
        holders.extend(after.as_ref());
        for secret in secrets(&case, &holders) {
            prop_assert!(!shown.contains(&secret), "a token was shown: {}", shown);
        }
        Ok(())
    });
    // Which branches the generated servers reached (a property that never refreshes or deletes
    // would prove little): printed for docs/fuzzing.md.
    eprintln!("refresh_transaction outcomes: {:?}", tally.lock().unwrap());
}
