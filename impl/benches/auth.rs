//! Benchmarks for the foundation issue, run with `cargo bench -p spec-kitty --bench auth`.
//!
//! (a) the refresh transaction's added cost from the lock, in one process: the adopt path of the
//!     transaction (lock, record write + fsync, reload, release) vs the same reload and compare
//!     without the lock;
//! (b) `spec-kitty auth status` wall time on a seeded session, against one scrypt derivation;
//! (c) `spec-kitty auth token` wall time when no refresh is needed.
//!
//! A plain bench binary (no criterion): (b) and (c) time whole processes, and the figures wanted
//! are median and p95, which it prints directly. `BENCH_ITERS` overrides the sample count.

use chrono::{Duration as ChronoDuration, Utc};
use spec_kitty::deadline::Deadline;
use spec_kitty::oauth::RefreshResponse;
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::refresh::{AuthError, Outcome, RefreshTransaction, TokenEndpoint};
use spec_kitty::session::StoredSession;
use spec_kitty::storage::{derive_key, SessionStore};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The adopt path never reaches the network; reaching it would be a bug in the benchmark setup.
struct NoNetwork;

impl TokenEndpoint for NoNetwork {
    fn refresh(&self, _: &str, _: Deadline) -> Result<RefreshResponse, AuthError> {
        panic!("the adopt path must not call the token endpoint")
    }
}

fn session(refresh: &str) -> StoredSession {
    StoredSession {
        user_id: "user_1".into(),
        email: "dev@example.com".into(),
        name: "Dev User".into(),
        access_token: format!("at-{refresh}"),
        refresh_token: refresh.into(),
        session_id: "sess_bench".into(),
        access_token_expires_at: Utc::now() + ChronoDuration::hours(1),
        refresh_token_expires_at: Some(Utc::now() + ChronoDuration::days(30)),
        storage_backend: "file".into(),
        ..Default::default()
    }
}

fn stats(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
    println!(
        "{name:<58} n={:<5} median={:>9.3} ms  p95={:>9.3} ms",
        samples.len(),
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3
    );
    (median, p95)
}

fn time(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// `--derive-once`: one scrypt derivation in a fresh process, then exit. The bench spawns itself
/// with it to measure what any command that reads the session pays at minimum.
const DERIVE_ONCE: &str = "--derive-once";

fn main() {
    if std::env::args().any(|a| a == DERIVE_ONCE) {
        std::hint::black_box(derive_key("host:1000", &[7u8; 16]));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a smoke pass.
    let benching = std::env::args().any(|a| a == "--bench");
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 300 } else { 3 });

    let dir = tempfile::tempdir().unwrap();
    let root = RuntimeRoot::new(dir.path());
    let store = SessionStore::for_root(&root).unwrap();
    store.write(&session("rt-persisted")).unwrap();
    let caller = session("rt-stale");

    // (a) The adopt path with the lock vs the same work without it.
    let transaction = RefreshTransaction {
        store: &store,
        endpoint: &NoNetwork,
        lock_path: root.refresh_lock_file(),
        lock_wait: Duration::from_secs(10),
        ceiling: Duration::from_secs(10),
        now: spec_kitty::now,
    };
    let _ = store.read(); // warm the key cache
    let with_lock = time(iters, || {
        let report = transaction.run(&caller);
        assert_eq!(report.outcome, Outcome::AdoptedNewer);
    });
    let without_lock = time(iters, || {
        let persisted = store.read().unwrap().unwrap();
        assert!(!persisted.same_material(&caller) && persisted.access_usable(Utc::now()));
    });
    println!("(a) refresh transaction, adopt path, one process");
    let (m_with, p_with) = stats("  with the refresh lock", with_lock);
    let (m_without, p_without) = stats("  without the lock (reload + compare only)", without_lock);
    println!(
        "  added by the lock: median {:.3} ms, p95 {:.3} ms (goal: p95 <= 2 ms)",
        (m_with.as_secs_f64() - m_without.as_secs_f64()) * 1e3,
        (p_with.as_secs_f64() - p_without.as_secs_f64()) * 1e3
    );

    // One scrypt derivation, the floor of any command that reads the session.
    let salt = std::fs::read(root.salt_file()).unwrap();
    let (scrypt_median, _) = stats(
        "one scrypt key derivation (N=2^14, r=8, p=1), warm, in-process",
        time(iters.min(50), || {
            std::hint::black_box(derive_key("host:1000", &salt));
        }),
    );

    let this = std::env::current_exe().unwrap();
    let (cold_scrypt_median, _) = stats(
        "one scrypt key derivation in a fresh process",
        time(iters.min(100), || {
            let ok = Command::new(&this)
                .arg(DERIVE_ONCE)
                .status()
                .unwrap()
                .success();
            assert!(ok);
        }),
    );

    // (b) and (c): whole processes of the release binary.
    let binary = env!("CARGO_BIN_EXE_spec-kitty");
    let command = |args: &[&str]| {
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .env_clear()
            .env("SPEC_KITTY_HOME", root.base())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let process_iters = iters.min(100);
    let (status_median, _) = stats(
        "(b) `spec-kitty auth status` on a seeded session",
        time(process_iters, || {
            assert!(command(&["auth", "status"]).status().unwrap().success());
        }),
    );
    println!(
        "  status / one derivation in a fresh process: {:.2}x (goal: <= 1.3x); / warm in-process: {:.2}x",
        status_median.as_secs_f64() / cold_scrypt_median.as_secs_f64(),
        status_median.as_secs_f64() / scrypt_median.as_secs_f64()
    );
    stats(
        "(c) `spec-kitty auth token`, no refresh needed",
        time(process_iters, || {
            assert!(command(&["auth", "token"]).status().unwrap().success());
        }),
    );
}
