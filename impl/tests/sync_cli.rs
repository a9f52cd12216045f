//! `spec-kitty sync ...` and every other `--json` command, end to end as real processes against
//! the fake SaaS on loopback: one JSON document on stdout on every exit path, `ok` and
//! `error.exit_code` agreeing with the exit code, at most one `sync_diagnostic` line, no token
//! anywhere; and 8 writer processes racing a drain deliver all 800 events exactly once.

mod common;

use common::{spec_kitty_cmd, stored_from, Root};
use fake_saas::{FakeSaas, SaasConfig, SeedRequest};
use serde_json::Value;
use spec_kitty::lock::RefreshLock;
use spec_kitty::storage::SessionStore;
use spec_kitty::sync::EventQueue;
use std::collections::HashSet;
use std::process::{Command, Output};
use std::time::Duration;

fn run(mut cmd: Command) -> Output {
    common::bounded_output(&mut cmd)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A SaaS whose device flow approves at once (so `auth login` takes no time).
fn saas() -> FakeSaas {
    FakeSaas::start(SaasConfig::from_toml_str("[device]\ninterval_s = 0").unwrap()).unwrap()
}

fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// A root holding one of `saas`'s sessions (access token expiring in `access_s`).
fn seeded_root(saas: &FakeSaas, access_s: i64) -> Root {
    let root = Root::new();
    let seeded = saas.seed_session(SeedRequest {
        access_expires_in_s: access_s,
        ..SeedRequest::default()
    });
    root.store().write(&stored_from(&seeded)).unwrap();
    root
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Condition {
    NoSession,
    CorruptSession,
    SaasDown,
    SyncDisabled,
    RefreshLockHeld,
    DamagedQueue,
    /// `SPEC_KITTY_SAAS_URL` is not a URL.
    MalformedUrl,
    /// The session reads fine but its files cannot be deleted (a non-empty directory sits where
    /// the temp file goes, which defeats even root): logout fails after the server revoked.
    DeleteFails,
}

const COMMANDS: &[&[&str]] = &[
    &["auth", "status", "--json"],
    &["auth", "login", "--headless", "--json"],
    &["auth", "logout", "--json"],
    &[
        "sync",
        "enqueue",
        "contract.test",
        "--payload",
        "{\"a\":1}",
        "--json",
    ],
    &["sync", "now", "--json"],
    &["sync", "status", "--json"],
    &["auth", "doctor", "--json"],
    &["sync", "start", "--json"],
    &["sync", "stop", "--json"],
    &["sync", "restart", "--json"],
    &["sync", "sweep", "--json"],
];

/// Runs `args` under `condition` in a fresh root; returns (exit code, stdout, stderr).
fn under(condition: Condition, saas: &FakeSaas, args: &[&str]) -> (i32, String, String) {
    let expired = matches!(condition, Condition::SaasDown | Condition::RefreshLockHeld);
    let root = match condition {
        Condition::NoSession => Root::new(),
        _ => seeded_root(saas, if expired { -60 } else { 3600 }),
    };
    let url = match condition {
        Condition::SaasDown => closed_url(),
        Condition::MalformedUrl => "garbage".to_string(),
        _ => saas.url(),
    };
    match condition {
        Condition::CorruptSession => {
            std::fs::write(root.root.session_file(), b"{\"version\": 2, \"nonce\": \"x").unwrap()
        }
        Condition::DamagedQueue => {
            std::fs::create_dir_all(root.root.sync_dir()).unwrap();
            std::fs::write(root.root.queue_db(), b"not a database").unwrap();
        }
        Condition::DeleteFails => {
            let blocker = root.root.session_file().with_extension("json.tmp");
            std::fs::create_dir_all(&blocker).unwrap();
            std::fs::write(blocker.join("keep"), b"").unwrap();
        }
        _ => {}
    }
    let _held = (condition == Condition::RefreshLockHeld)
        .then(|| RefreshLock::acquire(&root.root.refresh_lock_file(), Duration::ZERO).unwrap());
    let mut cmd = spec_kitty_cmd(&root, Some(&url));
    if condition != Condition::SyncDisabled {
        cmd.env("SPEC_KITTY_ENABLE_SAAS_SYNC", "1");
    }
    cmd.args(args);
    let out = run(cmd);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn every_json_command_prints_one_document_that_agrees_with_its_exit_code() {
    use Condition::*;
    let conditions = [
        NoSession,
        CorruptSession,
        SaasDown,
        SyncDisabled,
        RefreshLockHeld,
        DamagedQueue,
        MalformedUrl,
        DeleteFails,
    ];
    let saas = saas();
    let mut cases: Vec<(Condition, &[&str])> = conditions
        .iter()
        .flat_map(|c| COMMANDS.iter().map(move |a| (*c, *a)))
        .collect();
    // Independent roots, so the cases run side by side; the lock-held ones go first, in one
    // chunk, and wait out the 10 s lock bound together.
    cases.sort_by_key(|(c, _)| *c != RefreshLockHeld);
    let results: Vec<_> = std::thread::scope(|s| {
        cases
            .chunks(16)
            .flat_map(|chunk| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(c, a)| {
                        let saas = &saas;
                        s.spawn(move || (*c, *a, under(*c, saas, a)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    let issued = saas.issued_tokens();
    for (condition, args, (code, stdout, stderr)) in results {
        let what = format!("{condition:?} `{}` exit {code}", args.join(" "));
        let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("{what}: stdout is not exactly one JSON value ({e}): {stdout:?}")
        });
        assert_eq!(doc["ok"], Value::Bool(code == 0), "{what}: {doc}");
        if code != 0 {
            assert_eq!(doc["error"]["exit_code"], code, "{what}: {doc}");
            assert!(doc["error"]["code"].is_string(), "{what}: {doc}");
        }
        let diagnostics = stderr
            .lines()
            .filter(|l| l.starts_with("sync_diagnostic"))
            .count();
        assert!(diagnostics <= 1, "{what}: {stderr}");
        for token in &issued {
            assert!(
                !stdout.contains(token) && !stderr.contains(token),
                "{what}: a token leaked"
            );
        }
        // A failed final sync never changes the exit code of the command that recorded.
        if args[1] == "enqueue" && condition != DamagedQueue {
            assert_eq!(code, 0, "{what}: {stderr}");
            assert_eq!(doc["result"], "success", "{what}");
        }
        if condition == SaasDown && args[1] == "enqueue" {
            assert!(
                stderr.contains("diagnostic_code=sync.server_unreachable"),
                "{what}: {stderr}"
            );
            assert!(
                !stderr.contains("auth login"),
                "an outage never says log in: {stderr}"
            );
        }
        let error_code = doc["error"]["code"].as_str().unwrap_or_default();
        // Logout never lets the server block local cleanup (as the original): it logs out and
        // says why the server was not told.
        if condition == MalformedUrl && args[1] == "logout" {
            assert_eq!(code, 0, "{what}: {doc}");
            assert_eq!(doc["removed"], true, "{what}: {doc}");
            assert!(
                doc["revocation"]
                    .as_str()
                    .unwrap()
                    .contains("SPEC_KITTY_SAAS_URL"),
                "{what}: {doc}"
            );
        }
        if condition == MalformedUrl && args[1] == "login" {
            assert_eq!(code, 2, "{what}: a configuration error: {doc}");
            assert!(
                doc["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("SPEC_KITTY_SAAS_URL"),
                "{what}: the message names the variable: {doc}"
            );
        }
        if condition == DeleteFails && args[1] == "logout" {
            // The server was told; the message says so, and that only the local delete failed.
            assert_eq!(code, 3, "{what}: {doc}");
            assert_eq!(doc["logged_out"], false, "{what}: {doc}");
            assert_eq!(doc["revocation"], "revoked", "{what}: {doc}");
            assert_eq!(error_code, "delete_failed", "{what}: {doc}");
            let message = doc["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("revoked") && message.contains("auth logout"),
                "{what}: {message}"
            );
        }
        if condition == NoSession && args[1] == "doctor" {
            assert_eq!(code, 1, "{what}: no session is critical: {doc}");
        }
        if condition == RefreshLockHeld && args[1] == "logout" {
            assert_eq!(code, 3, "{what}: {doc}");
        }
        if condition == RefreshLockHeld && args[1] == "enqueue" {
            assert!(
                stderr.contains("diagnostic_code=sync.auth_refresh_in_progress"),
                "{what}: {stderr}"
            );
        }
    }
}

#[test]
fn bad_input_records_nothing_and_exits_2() {
    let root = Root::new();
    for args in [
        vec!["sync", "enqueue", "t", "--payload", "{not json", "--json"],
        vec!["sync", "enqueue", "bad type!", "--json"],
        vec!["sync", "enqueue", "--json"],
    ] {
        let out = run(spec_kitty_cmd(&root, None).tap_args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (doc["ok"].clone(), doc["error"]["exit_code"].clone()),
            (Value::Bool(false), Value::from(2))
        );
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error:"), "{stderr}");
        if args.len() > 3 {
            // Our own validation: one line naming what was wrong (clap adds usage lines).
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
    }
    let depth = EventQueue::open_existing(&root.root.queue_db())
        .unwrap()
        .map_or(0, |q| q.stats().unwrap().depth);
    assert_eq!(depth, 0);
}

#[test]
fn help_documents_sync_exit_codes_and_json() {
    let out = run(spec_kitty_cmd(&Root::new(), None).tap_args(&["sync", "enqueue", "--help"]));
    let help = text(&out.stdout);
    for needle in [
        "Exit codes",
        "sync_diagnostic",
        "final_sync",
        "queue_depth",
        "damaged",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[test]
fn enqueue_with_sync_enabled_delivers_and_status_reports_it() {
    let saas = saas();
    let root = seeded_root(&saas, 3600);
    let mut cmd = spec_kitty_cmd(&root, Some(&saas.url()));
    cmd.env("SPEC_KITTY_ENABLE_SAAS_SYNC", "yes").args([
        "sync",
        "enqueue",
        "mission.created",
        "--payload",
        "{\"slug\":\"m\"}",
        "--json",
    ]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["final_sync"]["sent"], 1, "{doc}");
    assert_eq!(doc["queue_depth"], 0);
    assert!(!text(&out.stderr).contains("sync_diagnostic"));
    assert_eq!(
        saas.event_ids(),
        [doc["event"]["event_id"].as_str().unwrap()]
    );
    assert_eq!(
        saas.events()[0]["payload"],
        serde_json::json!({"slug": "m"})
    );
    let status = run(spec_kitty_cmd(&root, None).tap_args(&["sync", "status", "--json"]));
    let doc: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["queue_depth"], 0);
    assert!(doc["last_successful_sync_at"].is_string(), "{doc}");
}

#[test]
fn processes_creating_the_queue_at_once_all_record() {
    // The first open turns a new file into a WAL database; racing openers once got SQLITE_BUSY
    // at once (no busy wait) and failed about one time in ten.
    for round in 0..25 {
        let root = Root::new();
        let outputs: Vec<Output> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        run(spec_kitty_cmd(&root, None).tap_args(&["sync", "enqueue", "first"]))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for out in &outputs {
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                text(&out.stderr)
            );
        }
        let q = EventQueue::open(&root.root.queue_db()).unwrap();
        assert_eq!(q.stats().unwrap().depth, 4, "round {round}");
    }
}

#[test]
fn eight_writers_racing_a_drain_deliver_800_events_exactly_once() {
    let saas = saas();
    let root = seeded_root(&saas, 3600);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let enqueued: Vec<String> = std::thread::scope(|s| {
        let (root_ref, saas_ref) = (&root, &saas);
        let drainer = s.spawn(move || {
            let (root, saas) = (root_ref, saas_ref);
            let drain = || {
                let out =
                    run(spec_kitty_cmd(root, Some(&saas.url()))
                        .tap_args(&["sync", "now", "--json"]));
                assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            };
            // Drain while the writers write; wake at once when they are done.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                done_rx.recv_timeout(Duration::from_millis(20))
            {
                drain();
            }
            drain();
        });
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let root = &root;
                s.spawn(move || {
                    (0..100)
                        .map(|i| {
                            let payload = format!("{{\"writer\":{w},\"i\":{i}}}");
                            let out = run(spec_kitty_cmd(root, None).tap_args(&[
                                "sync",
                                "enqueue",
                                "race",
                                "--payload",
                                &payload,
                            ]));
                            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
                            text(&out.stdout).trim().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let ids = writers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        drop(done_tx);
        drainer.join().unwrap();
        ids
    });
    let enqueued: HashSet<String> = enqueued.into_iter().collect();
    assert_eq!(enqueued.len(), 800);
    let delivered = saas.event_ids();
    assert_eq!(delivered.len(), 800);
    assert_eq!(delivered.iter().cloned().collect::<HashSet<_>>(), enqueued);
    let stats = saas.event_stats();
    assert_eq!(
        (stats.received, stats.accepted, stats.duplicates),
        (800, 800, 0)
    );
    assert_eq!(
        EventQueue::open(&root.root.queue_db())
            .unwrap()
            .stats()
            .unwrap()
            .depth,
        0
    );
    // The session was only read, never rewritten.
    assert!(SessionStore::for_root(&root.root)
        .unwrap()
        .read()
        .unwrap()
        .is_some());
}

/// `Command` builder helpers.
trait Tap {
    fn tap_args(self, args: &[&str]) -> Command;
}

impl Tap for Command {
    fn tap_args(mut self, args: &[&str]) -> Command {
        self.args(args);
        self
    }
}

#[test]
fn a_locked_queue_is_retryable_and_a_damaged_one_exit_4_and_neither_loses_an_event() {
    let saas = saas();
    let root = seeded_root(&saas, 3600);
    let enqueue = |kind: &str| {
        let mut cmd = spec_kitty_cmd(&root, Some(&saas.url()));
        cmd.args(["sync", "enqueue", kind, "--json"]);
        let out = run(cmd);
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
        (out.status.code().unwrap(), json)
    };
    assert_eq!(enqueue("first").0, 0);

    // Another program holds the write lock past the busy timeout.
    let blocker = rusqlite::Connection::open(root.root.queue_db()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (code, json) = enqueue("second");
    assert_eq!(code, 3, "{json}");
    assert_eq!(json["ok"], false, "{json}");
    assert_eq!(json["error"]["code"], "queue_locked", "{json}");
    assert_eq!(json["error"]["exit_code"], 3, "{json}");
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    assert_eq!(
        enqueue("third").0,
        0,
        "usable again once the other writer is done"
    );
    let queue = EventQueue::open(&root.root.queue_db()).unwrap();
    let kinds: Vec<String> = queue
        .peek(10)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds,
        ["first", "third"],
        "nothing lost, nothing half-written"
    );
    drop(queue);

    // A damaged database: exit 4 with its code, and the file is left for the user to move.
    let damaged = b"not a database";
    std::fs::write(root.root.queue_db(), damaged).unwrap();
    let mut cmd = spec_kitty_cmd(&root, Some(&saas.url()));
    cmd.args(["sync", "status", "--json"]);
    let out = run(cmd);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(4), "{json}");
    assert_eq!(json["error"]["code"], "queue_damaged", "{json}");
    assert_eq!(
        std::fs::read(root.root.queue_db()).unwrap(),
        damaged,
        "never rewritten"
    );
}

#[test]
fn a_replay_without_a_newer_token_names_login_and_gives_scripts_a_reason_to_stop() {
    let saas = FakeSaas::start(
        SaasConfig::from_toml_str("rotation = true\nreuse = \"replay_409\"").unwrap(),
    )
    .unwrap();
    let seeded = saas.seed_session(SeedRequest {
        access_expires_in_s: -60,
        ..SeedRequest::default()
    });
    // Another machine (another root) holding the same session spends R0 first.
    let (here, elsewhere) = (Root::new(), Root::new());
    here.store().write(&stored_from(&seeded)).unwrap();
    elsewhere.store().write(&stored_from(&seeded)).unwrap();
    let mut first = spec_kitty_cmd(&elsewhere, Some(&saas.url()));
    first.args(["auth", "token"]);
    assert_eq!(run(first).status.code(), Some(0));

    // Here, R0 is all there is: the server answers 409 replay and no newer token exists.
    for _ in 0..2 {
        let mut token = spec_kitty_cmd(&here, Some(&saas.url()));
        token.args(["auth", "token"]);
        let out = run(token);
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty(), "no token printed");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("spec-kitty auth login"), "{stderr}");
    }
    let mut enqueue = spec_kitty_cmd(&here, Some(&saas.url()));
    enqueue.args(["sync", "enqueue", "mission_created", "--json"]);
    assert_eq!(run(enqueue).status.code(), Some(0), "recorded (sync off)");
    let mut now = spec_kitty_cmd(&here, Some(&saas.url()));
    now.args(["sync", "now", "--json"]);
    let out = run(now);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{json}");
    assert_eq!(
        json["error"]["code"], "replay_without_newer_token",
        "a machine-readable reason: retrying cannot help: {json}"
    );
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("spec-kitty auth login"),
        "{json}"
    );
    assert!(
        here.root.session_file().exists(),
        "nothing deleted: the session may still be rescued by a newer token"
    );
    let queue = EventQueue::open(&here.root.queue_db()).unwrap();
    assert_eq!(queue.peek(10).unwrap().len(), 1, "the event stays queued");
}
