//! The hot path, measured with criterion: `cargo bench -p spec-kitty --bench auth`
//! (figures and how to read them: `docs/benchmarks.md`).
//!
//! - `key`: one scrypt derivation against one key-cache hit, in process: the floor of a cold and
//!   of a warm command.
//! - `cli`: `spec-kitty auth status` and `auth token` (no refresh needed) as whole processes of
//!   the release binary, cold (`SPEC_KITTY_KEY_CACHE_TTL=0`: one scrypt per process, as before
//!   the cache) and warm (the key in the kernel keyring).
//! - `refresh_lock`: the refresh transaction's adopt path (lock, holder record + fsync, reload,
//!   release) against the same reload without the lock; its added cost's median and p95 come
//!   from a per-operation pass printed after the groups.
//! - `doctor`: `auth doctor --json` ([`doctor_json`]), cold, warm, and warm with the root's
//!   daemon running (doctor then also reads its state file and asks it for health).
//!
//! After the groups a Markdown table (median ± median absolute deviation from criterion's
//! estimates) is printed for `docs/benchmarks.md`. `cargo test --benches` runs every benchmark
//! once as a smoke test. Nothing is left behind: temp roots are removed and every keyring entry
//! made here is dropped.

use chrono::{Duration as ChronoDuration, Utc};
use criterion::{BenchmarkId, Criterion, SamplingMode};
use spec_kitty::deadline::Deadline;
use spec_kitty::oauth::RefreshResponse;
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::refresh::{AuthError, Outcome, RefreshTransaction, TokenEndpoint};
use spec_kitty::session::StoredSession;
use spec_kitty::storage::{
    derive_key, machine_passphrase, KeyCache, SessionStore, KEY_CACHE_TTL_ENV,
};
use std::hint::black_box;
use std::path::{Path, PathBuf};
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

/// A seeded runtime root; its keyring entry goes with it.
struct Fixture {
    dir: tempfile::TempDir,
    root: RuntimeRoot,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = RuntimeRoot::new(dir.path().join("root"));
        SessionStore::for_root(&root)
            .unwrap()
            .write(&session("rt-persisted"))
            .unwrap();
        Self { dir, root }
    }

    /// The release `spec-kitty` with a clean environment pointed at this root.
    fn command(&self, args: &[&str], cache: bool) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spec-kitty"));
        cmd.args(args)
            .env_clear()
            .env("SPEC_KITTY_HOME", self.root.base())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !cache {
            cmd.env(KEY_CACHE_TTL_ENV, "0");
        }
        cmd
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        SessionStore::for_root(&self.root)
            .unwrap()
            .forget_cached_key();
    }
}

fn key(c: &mut Criterion, fx: &Fixture) {
    let salt = std::fs::read(fx.root.salt_file()).unwrap();
    let pass = machine_passphrase();
    let cache = KeyCache::new(
        format!("spec-kitty-bench:{}:", std::process::id()),
        Some(Duration::from_secs(60)),
    );
    let mut g = c.benchmark_group("key");
    g.sample_size(20);
    g.bench_function("scrypt_derive", |b| {
        b.iter(|| black_box(derive_key(&pass, &salt)))
    });
    if cache.put(&pass, &salt, &derive_key(&pass, &salt)) {
        g.sample_size(100);
        g.bench_function("keyring_hit", |b| {
            b.iter(|| black_box(cache.get(&pass, &salt).unwrap()))
        });
    } else {
        eprintln!("key/keyring_hit: the kernel keyring is not usable here; skipped");
    }
    g.finish();
    cache.purge();
}

fn cli(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("cli");
    g.sampling_mode(SamplingMode::Flat);
    for (name, args) in [
        ("status", &["auth", "status"][..]),
        ("token", &["auth", "token"]),
    ] {
        for (state, cache) in [("cold", false), ("warm", true)] {
            // Warm: one run first puts the key in the keyring.
            assert!(fx.command(args, cache).status().unwrap().success());
            g.sample_size(if cache { 100 } else { 30 });
            g.measurement_time(Duration::from_secs(if cache { 4 } else { 6 }));
            g.bench_function(BenchmarkId::new(name, state), |b| {
                b.iter(|| assert!(fx.command(args, cache).status().unwrap().success()))
            });
        }
    }
    g.finish();
}

fn transaction<'a>(store: &'a SessionStore, root: &RuntimeRoot) -> RefreshTransaction<'a> {
    RefreshTransaction {
        store,
        endpoint: &NoNetwork,
        lock_path: root.refresh_lock_file(),
        lock_wait: Duration::from_secs(10),
        ceiling: Duration::from_secs(10),
        now: spec_kitty::now,
    }
}

fn adopt(txn: &RefreshTransaction, caller: &StoredSession) {
    assert_eq!(txn.run(caller).outcome, Outcome::AdoptedNewer);
}

fn reload_only(store: &SessionStore, caller: &StoredSession) {
    let persisted = store.read().unwrap().unwrap();
    assert!(!persisted.same_material(caller) && persisted.access_usable(Utc::now()));
}

fn refresh_lock(c: &mut Criterion, fx: &Fixture) {
    let store = SessionStore::for_root(&fx.root).unwrap();
    let txn = transaction(&store, &fx.root);
    let caller = session("rt-stale");
    store.read().unwrap();
    let mut g = c.benchmark_group("refresh_lock");
    g.bench_function("adopt_with_lock", |b| b.iter(|| adopt(&txn, &caller)));
    g.bench_function("reload_without_lock", |b| {
        b.iter(|| reload_only(&store, &caller))
    });
    g.finish();
}

/// The lock's added cost per operation: median and p95 of each path over `n` timed runs.
fn lock_cost_percentiles(fx: &Fixture, n: usize) -> (f64, f64, f64, f64) {
    let store = SessionStore::for_root(&fx.root).unwrap();
    let txn = transaction(&store, &fx.root);
    let caller = session("rt-stale");
    let time = |f: &dyn Fn()| -> Vec<Duration> {
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect()
    };
    let with = time(&|| adopt(&txn, &caller));
    let without = time(&|| reload_only(&store, &caller));
    let (mw, pw) = (percentile(&with, 50), percentile(&with, 95));
    let (mo, po) = (percentile(&without, 50), percentile(&without, 95));
    (mw, pw, mo, po)
}

fn percentile(samples: &[Duration], p: usize) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    v[((v.len() * p).div_ceil(100)).max(1) - 1]
}

/// `auth doctor --json`: cold, warm, and warm with a running daemon (skipped with a note if the
/// binary has no doctor, as in an old checkout).
fn doctor_json(c: &mut Criterion, fx: &Fixture) {
    let exists = fx
        .command(&["auth", "doctor", "--help"], true)
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        eprintln!("doctor: `auth doctor --json` does not exist yet; nothing measured");
        return;
    }
    let mut g = c.benchmark_group("doctor");
    g.sampling_mode(SamplingMode::Flat).sample_size(30);
    for (state, cache) in [("cold", false), ("warm", true)] {
        let _ = fx.command(&["auth", "doctor", "--json"], cache).status();
        g.bench_function(BenchmarkId::new("json", state), |b| {
            // `doctor` may exit non-zero to report findings; only a crash fails the benchmark.
            b.iter(|| {
                let status = fx.command(&["auth", "doctor", "--json"], cache).status();
                assert!(status.unwrap().code().is_some());
            })
        });
    }
    // The same with this root's daemon running: doctor then also reads its state file and asks
    // it for health. Its own 50-port range, so no other daemon on the machine is probed.
    let daemon = Daemon::start(fx);
    if let Some(d) = &daemon {
        g.bench_function(BenchmarkId::new("json", "warm_with_daemon"), |b| {
            b.iter(|| {
                let status = d.command(fx, &["auth", "doctor", "--json"]).status();
                assert!(status.unwrap().code().is_some());
            })
        });
    } else {
        eprintln!("doctor: `sync start` failed; the figure with a running daemon is skipped");
    }
    drop(daemon);
    g.finish();
}

/// A daemon of the fixture's root on a private port range, stopped when dropped (also when a
/// benchmark panics).
struct Daemon<'a> {
    fx: &'a Fixture,
    ports: String,
}

impl<'a> Daemon<'a> {
    fn start(fx: &'a Fixture) -> Option<Self> {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        let first = probe.local_addr().ok()?.port().min(65_535 - 49);
        drop(probe);
        let daemon = Daemon {
            fx,
            ports: format!("{first}-{}", first + 49),
        };
        let started = daemon.command(fx, &["sync", "start"]).status();
        started.is_ok_and(|s| s.success()).then_some(daemon)
    }

    fn command(&self, fx: &Fixture, args: &[&str]) -> Command {
        let mut cmd = fx.command(args, true);
        cmd.env("SPEC_KITTY_DAEMON_PORTS", &self.ports)
            .env("SPEC_KITTY_SAAS_URL", "http://127.0.0.1:9");
        cmd
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = self.command(self.fx, &["sync", "stop"]).status();
    }
}

/// criterion's median and median absolute deviation (ms) of one benchmark, if it ran.
fn estimate(dir: &Path, id: &str) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let ms = |k: &str| v[k]["point_estimate"].as_f64().map(|ns| ns / 1e6);
    Some((ms("median")?, ms("median_abs_dev")?))
}

fn summary(dir: &Path, lock: (f64, f64, f64, f64)) {
    let rows = [
        ("one scrypt derivation, in process", "key/scrypt_derive"),
        ("one key-cache hit, in process", "key/keyring_hit"),
        ("`auth status`, cold (cache disabled)", "cli/status/cold"),
        ("`auth status`, warm", "cli/status/warm"),
        ("`auth token` (no refresh), cold", "cli/token/cold"),
        ("`auth token` (no refresh), warm", "cli/token/warm"),
        (
            "refresh adopt path with the lock",
            "refresh_lock/adopt_with_lock",
        ),
        (
            "same reload without the lock",
            "refresh_lock/reload_without_lock",
        ),
        ("`auth doctor --json`, cold", "doctor/json/cold"),
        ("`auth doctor --json`, warm", "doctor/json/warm"),
        (
            "`auth doctor --json`, warm, daemon running",
            "doctor/json/warm_with_daemon",
        ),
    ];
    // Milliseconds, or microseconds below 0.1 ms.
    let show = |ms: f64| match ms < 0.1 {
        true => format!("{:.1} µs", ms * 1e3),
        false => format!("{ms:.3} ms"),
    };
    println!("\n| what | median | spread (MAD) |\n|---|---|---|");
    for (what, id) in rows {
        if let Some((median, mad)) = estimate(dir, id) {
            println!("| {what} | {} | ± {} |", show(median), show(mad));
        }
    }
    let (mw, pw, mo, po) = lock;
    println!(
        "| refresh lock's added cost (per operation, n=1000) | {:.3} ms | p95 {:.3} ms |",
        mw - mo,
        pw - po
    );
    println!(
        "\n(with the lock: median {mw:.3} ms, p95 {pw:.3} ms; without: median {mo:.3} ms, \
         p95 {po:.3} ms; goal: added p95 <= 2 ms)"
    );
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let dir: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("criterion");
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let fx = Fixture::new();
    key(&mut c, &fx);
    cli(&mut c, &fx);
    refresh_lock(&mut c, &fx);
    doctor_json(&mut c, &fx);
    c.final_summary();
    let lock = lock_cost_percentiles(&fx, if benching { 1000 } else { 3 });
    if benching {
        summary(&dir, lock);
    }
}
