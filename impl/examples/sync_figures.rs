//! Figures for the sync queue, measured, not asserted (a documented command, see docs/sync.md):
//!
//! 1. enqueue latency: the wall time of `spec-kitty sync enqueue` as a fresh process with sync
//!    disabled (open the queue, record, commit durably, exit), median and p95 over `RUNS` runs;
//!    and, for comparison, one durable commit of the same record in process;
//! 2. drain throughput: one `Sender::drain` of `EVENTS` queued events to the embedded fake SaaS on
//!    loopback, in events per second (batches of 100, each acknowledged per event).
//!
//! ```sh
//! cargo build --release -p spec-kitty --bins --examples
//! ./target/release/examples/sync_figures        # RUNS=200 EVENTS=2000 by default
//! ```

use fake_saas::{FakeSaas, SaasConfig, SeedRequest};
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::storage::SessionStore;
use spec_kitty::sync::{DrainOptions, EventQueue, Sender};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs = env_usize("RUNS", 200);
    let events = env_usize("EVENTS", 2000);
    let exe = std::env::current_exe().expect("own path");
    let binary = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("spec-kitty"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            eprintln!(
                "build the binary first: cargo build --release -p spec-kitty --bins --examples"
            );
            std::process::exit(2);
        });
    let profile = binary
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    // 1. Enqueue latency, sync disabled.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let mut cmd = Command::new(&binary);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SPEC_KITTY_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("SPEC_KITTY_HOME", dir.path())
            .args(["sync", "enqueue", "bench.event", "--payload"])
            .arg(format!("{{\"i\":{i}}}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let status = cmd.status().expect("spawn spec-kitty");
        times.push(started.elapsed());
        assert!(status.success(), "enqueue run {i} failed");
    }
    times.sort();
    println!(
        "enqueue latency ({profile} binary, sync disabled, {runs} runs): median {:.2} ms, p95 {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.95)),
        ms(times[0]),
        ms(times[times.len() - 1])
    );

    // 1b. The same record without the process around it: open once, then one durable commit per
    // event (where the time of a run goes that is not process start-up).
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = EventQueue::open(&dir.path().join("queue.db")).expect("queue");
    let mut commits = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = Instant::now();
        queue
            .enqueue("bench.event", &format!("{{\"i\":{i}}}"), chrono::Utc::now())
            .expect("enqueue");
        commits.push(started.elapsed());
    }
    commits.sort();
    println!(
        "  of which one durable commit (in process, WAL, synchronous=FULL): median {:.2} ms, p95 {:.2} ms",
        ms(percentile(&commits, 0.5)),
        ms(percentile(&commits, 0.95))
    );

    // 2. Drain throughput to the embedded fake SaaS.
    let saas = FakeSaas::start(SaasConfig::default()).expect("fake SaaS");
    let seeded = saas.seed_session(SeedRequest::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let root = RuntimeRoot::new(dir.path());
    SessionStore::for_root(&root)
        .and_then(|s| s.write(&harness::stored_session(&seeded, true)))
        .expect("seed the session");
    let queue = EventQueue::open(&root.queue_db()).expect("queue");
    for i in 0..events {
        queue
            .enqueue("bench.event", &format!("{{\"i\":{i}}}"), chrono::Utc::now())
            .expect("enqueue");
    }
    let started = Instant::now();
    let drained = Sender::new(&root)
        .with_saas_url(saas.url())
        .drain(&DrainOptions::drain_all());
    let took = started.elapsed();
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.report.sent as usize, events);
    assert_eq!(saas.event_stats().accepted as usize, events);
    println!(
        "drain throughput ({events} events, {} batches of up to 100, to the embedded fake SaaS on loopback): {:.0} events/s ({:.1} ms in all, session load and key derivation included)",
        drained.report.batches,
        events as f64 / took.as_secs_f64(),
        ms(took)
    );
}
