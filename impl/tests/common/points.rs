//! Sync points observed inside a test binary: each test thread that calls [`listen`] receives the
//! names of the points its own thread reaches, so a test can wait for an event ("this thread is
//! now blocked on the lock") instead of sleeping. Installed once per test binary through the same
//! run-time registry the scenario runner uses.

use spec_kitty::hooks::{self, Hooks, Resume, SyncPoints};
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, Once};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

static LISTENERS: Mutex<Option<HashMap<ThreadId, Sender<String>>>> = Mutex::new(None);
static INSTALL: Once = Once::new();

struct PerThread;

impl SyncPoints for PerThread {
    fn reached(&self, point: &str, _detail: Option<&str>) -> Resume {
        let listeners = LISTENERS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = listeners
            .as_ref()
            .and_then(|l| l.get(&std::thread::current().id()))
        {
            let _ = tx.send(point.to_string());
        }
        Resume::Continue
    }
}

/// Starts receiving the points the calling thread reaches.
pub fn listen() -> Receiver<String> {
    INSTALL.call_once(|| {
        hooks::install(Hooks {
            sync_points: Some(Box::new(PerThread)),
            ..Default::default()
        })
        .expect("only this module installs hooks in the test binary")
    });
    let (tx, rx) = mpsc::channel();
    LISTENERS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(std::thread::current().id(), tx);
    rx
}

/// Waits (at most `within`) until `point` arrives on `rx`; false if it never did.
pub fn wait_for(rx: &Receiver<String>, point: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(p) if p == point => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}
