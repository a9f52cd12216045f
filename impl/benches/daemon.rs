//! Figures for the sync daemon, run with `cargo bench -p spec-kitty --bench daemon`:
//!
//! (a) time from 8 simultaneous `spec-kitty sync start`s (8 processes, 8 working directories)
//!     until all have returned with the one healthy daemon (goal ≤ 1 s);
//! (b) a full-range orphan scan (50 ports) with nothing listening (goal ≤ 100 ms);
//! (c) an idle daemon's resident memory and how often it wakes up (goal ≤ 15 MiB, no wake-ups
//!     between ticks beyond the refresh schedule).
//!
//! Whole processes are timed, so this is a plain bench binary printing medians and p95s.
//! `BENCH_ITERS` sets the sample count.

use spec_kitty::daemon::config::DaemonConfig;
use spec_kitty::daemon::orphans;
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::procfs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn iters(default: usize) -> usize {
    std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:.2} ms, p95 {:.2} ms, min {:.2} ms, max {:.2} ms ({} runs)",
        ms(p(0.5)),
        ms(p(0.95)),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

/// A range of `n` free loopback ports.
fn free_range(n: u16) -> (u16, u16) {
    for base in (30_000..60_000).step_by(97) {
        if (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return (base, base + n - 1);
        }
    }
    panic!("no free range")
}

fn spec_kitty(root: &std::path::Path, ports: (u16, u16)) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spec-kitty"));
    cmd.env("SPEC_KITTY_HOME", root)
        .env("SPEC_KITTY_SAAS_URL", "http://127.0.0.1:9")
        .env(
            "SPEC_KITTY_DAEMON_PORTS",
            format!("{}-{}", ports.0, ports.1),
        )
        .env("SPEC_KITTY_DAEMON_TICK_S", "30")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn stop_all(root: &std::path::Path) {
    for pid in procfs::pids_with_env("SPEC_KITTY_HOME", &root.display().to_string()) {
        let _ = procfs::signal_verified(pid, None, rustix::process::Signal::TERM);
        procfs::wait_exit(pid, Duration::from_secs(5));
    }
}

fn converge() {
    let mut samples = Vec::new();
    for _ in 0..iters(20) {
        let dir = tempfile::tempdir().unwrap();
        let cwds: Vec<_> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
        let ports = free_range(50);
        let started = Instant::now();
        let children: Vec<_> = cwds
            .iter()
            .map(|cwd| {
                spec_kitty(dir.path(), ports)
                    .args(["sync", "start", "--json"])
                    .current_dir(cwd.path())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        samples.push(started.elapsed());
        let daemons = procfs::pids_with_env("SPEC_KITTY_HOME", &dir.path().display().to_string());
        assert_eq!(daemons.len(), 1, "one daemon");
        stop_all(dir.path());
    }
    println!(
        "(a) 8 concurrent `sync start` → one healthy daemon: {}",
        summary(samples)
    );
}

fn scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = RuntimeRoot::new(dir.path());
    let ports = free_range(50);
    let config = DaemonConfig {
        ports: ports.0..=ports.1,
        ..DaemonConfig::default()
    };
    let samples: Vec<Duration> = (0..iters(50))
        .map(|_| {
            let started = Instant::now();
            let found = orphans::scan(&root, &config, None);
            assert!(found.is_empty());
            started.elapsed()
        })
        .collect();
    println!(
        "(b) orphan scan of 50 ports, nothing listening: {}",
        summary(samples)
    );
}

fn idle() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_range(10);
    assert!(spec_kitty(dir.path(), ports)
        .args(["sync", "start"])
        .status()
        .unwrap()
        .success());
    let pid = procfs::pids_with_env("SPEC_KITTY_HOME", &dir.path().display().to_string())[0];
    std::thread::sleep(Duration::from_secs(2)); // settle after start-up
    let read = |what: &str| std::fs::read_to_string(format!("/proc/{pid}/{what}")).unwrap();
    let field = |status: &str, key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let switches =
        |s: &str| field(s, "voluntary_ctxt_switches:") + field(s, "nonvoluntary_ctxt_switches:");
    let cpu = || {
        let stat = read("stat");
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = read("status");
    let cpu_before = cpu();
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let after = read("status");
    let woke = switches(&after) - switches(&before);
    println!(
        "(c) idle daemon: VmRSS {} KiB, VmHWM {} KiB; {} context switches and {} CPU ticks in {} s idle (no session, tick 30 s)",
        field(&after, "VmRSS:"),
        field(&after, "VmHWM:"),
        woke,
        cpu() - cpu_before,
        window.as_secs()
    );
    stop_all(dir.path());
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    converge();
    scan();
    idle();
}
