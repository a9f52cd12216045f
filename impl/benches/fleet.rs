//! Whole-fleet figures that criterion's per-iteration model does not fit: N processes refreshing
//! one expired session at once, and the scenario catalogue's wall time.
//! `cargo bench -p spec-kitty --bench fleet` (figures and how to read them:
//! `docs/benchmarks.md`).
//!
//! - Fleet: N `spec-kitty auth token` processes (release binary) start together on one expired
//!   session against the embedded fake SaaS (rotation on, reuse rejected); the wall time runs
//!   from the first spawn to the last exit, and the token endpoint must see exactly one request.
//!   Each N is repeated on a fresh session and root; the key cache warm (the default) and
//!   disabled.
//! - Catalogue: `scenario run -j 2 scenarios/`, the scenario runner's own command line, in this
//!   (release) executable: it is multicall like the `scenario` binary, so children are
//!   `<this> __exec spec-kitty ...`.
//!
//! Without `--bench` (`cargo test --benches`) one small fleet runs as a smoke test. Nothing is
//! left behind: roots are temp directories, every keyring entry made is dropped, the fake SaaS
//! stops.

use fake_saas::{FakeSaas, SaasConfig, SeedRequest};
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::storage::{KeyCache, SessionStore, KEY_CACHE_TTL_ENV};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of a copy of this executable that should be the `scenario` CLI.
const AS_SCENARIO_CLI: &str = "KITTY_BENCH_AS_SCENARIO_CLI";

struct Run {
    wall: Duration,
    token_requests: u64,
}

/// N processes on one expired session; panics unless every one printed the same new token.
fn fleet(n: usize, cache: bool) -> Run {
    let saas = FakeSaas::start(SaasConfig::default()).unwrap();
    let seeded = saas.seed_session(SeedRequest {
        access_expires_in_s: -60,
        refresh_expires_in_s: 86_400,
        generation: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let root = RuntimeRoot::new(dir.path().join("root"));
    let store = SessionStore::for_root(&root).unwrap();
    store
        .write(&harness::stored_session(&seeded, true))
        .unwrap();
    if !cache {
        store.forget_cached_key();
    }
    let started = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|_| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_spec-kitty"));
            cmd.args(["auth", "token"])
                .env_clear()
                .env("HOME", dir.path())
                .env("SPEC_KITTY_HOME", root.base())
                .env("SPEC_KITTY_SAAS_URL", saas.url())
                .env("NO_PROXY", "127.0.0.1,localhost")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if !cache {
                cmd.env(KEY_CACHE_TTL_ENV, "0");
            }
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let wall = started.elapsed();
    let tokens: Vec<String> = outputs
        .iter()
        .map(|o| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        })
        .collect();
    assert!(tokens
        .iter()
        .all(|t| t == &tokens[0] && t != &seeded.access_token));
    let token_requests = saas.count("/oauth/token");
    store.forget_cached_key();
    saas.shutdown();
    Run {
        wall,
        token_requests,
    }
}

/// `scenario run -j 2 scenarios/` once; its wall time. The keyring entries its runs leave
/// (scenario roots are removed without a logout) are dropped afterwards.
fn catalogue() -> Duration {
    let cache = KeyCache::from_env();
    let before = cache.entries();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let started = Instant::now();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["run", "-j", "2"])
        .arg(&scenarios)
        .env(AS_SCENARIO_CLI, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let wall = started.elapsed();
    for entry in cache.entries() {
        if !before.contains(&entry) {
            cache.remove(&entry);
        }
    }
    assert!(
        status.success(),
        "the catalogue failed: run it with `scenario run scenarios/`"
    );
    wall
}

/// Median, minimum and maximum in ms.
fn spread(samples: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[0], ms[ms.len() - 1])
}

fn main() {
    // First: a child of a scenario (`<this> __exec ...`) becomes that program.
    harness::dispatch();
    if std::env::var_os(AS_SCENARIO_CLI).is_some() {
        std::process::exit(harness::cli_main());
    }
    if !std::env::args().any(|a| a == "--bench") {
        let run = fleet(8, true);
        assert_eq!(run.token_requests, 1);
        println!("fleet smoke: 8 processes, 1 token request, {:?}", run.wall);
        return;
    }
    let reps = 5;
    println!("| what | median | spread (min – max) | token requests |\n|---|---|---|---|");
    for cache in [true, false] {
        for n in [8, 32, 64] {
            let runs: Vec<Run> = (0..reps).map(|_| fleet(n, cache)).collect();
            let requests: Vec<u64> = runs.iter().map(|r| r.token_requests).collect();
            let (median, min, max) = spread(&runs.iter().map(|r| r.wall).collect::<Vec<_>>());
            println!(
                "| {n} processes refresh one expired session, key cache {} | {median:.0} ms | \
                 {min:.0} – {max:.0} ms | {requests:?} |",
                if cache { "warm" } else { "disabled" },
            );
            assert!(requests.iter().all(|&r| r == 1), "exactly one refresh");
        }
    }
    let walls: Vec<Duration> = (0..3).map(|_| catalogue()).collect();
    let (median, min, max) = spread(&walls);
    println!(
        "| scenario catalogue, `scenario run -j 2 scenarios/` (release) | {median:.0} ms | \
         {min:.0} – {max:.0} ms | |"
    );
}
