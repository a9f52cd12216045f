//! The in-process concurrency participant: one process, one `TokenManager`, N threads asking it
//! for an access token at the same instant (`threads = N` on a process).
//!
//! Why: `auth token` runs one caller per process, so scenarios prove single-flight across
//! processes only. Inside a process the manager's own flight lock must make N concurrent callers
//! share one refresh transaction and one token request; this participant runs exactly that,
//! through the library, as the runner's multicall child (so its sync points and overrides work as
//! in any `spec-kitty` child). It never prints a token: stdout is one summary line,
//! `threads=N ok=K distinct_tokens=D`. Exit 0 when every thread got a token and all got the same
//! one, 1 otherwise.

use spec_kitty::paths::RuntimeRoot;
use spec_kitty::token_manager::TokenManager;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::sync::Barrier;

/// Most threads one process may run.
pub const MAX_THREADS: u32 = 64;

/// `token-threads N`.
pub fn run(args: Vec<OsString>) -> i32 {
    let n = match args.first().and_then(|a| a.to_str()).map(str::parse::<u32>) {
        Some(Ok(n)) if (1..=MAX_THREADS).contains(&n) && args.len() == 1 => n as usize,
        _ => {
            eprintln!(
                "token-threads: expected one argument, the number of threads (1..={MAX_THREADS})"
            );
            return 2;
        }
    };
    let manager = match RuntimeRoot::from_env()
        .map_err(|e| e.to_string())
        .and_then(|root| TokenManager::load(&root).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("token-threads: {e}");
            return 1;
        }
    };
    let start = Barrier::new(n);
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    manager.access_token().map_err(|e| e.to_string())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("the thread panicked".into()))
            })
            .collect()
    });
    let mut tokens = BTreeSet::new();
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(token) => {
                tokens.insert(token.as_str());
            }
            Err(e) => eprintln!("token-threads: thread {i}: {e}"),
        }
    }
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!("threads={n} ok={ok} distinct_tokens={}", tokens.len());
    if ok == n && tokens.len() == 1 {
        0
    } else {
        1
    }
}
