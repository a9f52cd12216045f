//! SIGINT and SIGTERM (what Ctrl-C and a CI job's timeout send): a [`Cancel`] handle that every
//! running scenario watches, and [`install`], which turns the signals into a cancellation.
//!
//! Why: killing `scenario` must not leave its children running or its temp directories (an
//! encrypted session, a salt, a lock, a socket) behind. A cancelled scenario stops waiting at
//! once, kills and reaps its children, and removes its temp directory (unless `--keep`) through
//! the same teardown a finished scenario uses. A second signal, or a teardown that takes longer
//! than [`GRACE`], exits at once (the children still die: they carry a parent-death signal).

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a cancelled run may take to tear down before the process exits anyway.
pub const GRACE: Duration = Duration::from_secs(10);

type Callback = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    /// 0 until cancelled, then the signal number.
    signal: AtomicI32,
    next_id: AtomicU64,
    callbacks: Mutex<Vec<(u64, Callback)>>,
}

/// A cancellation every scenario of a run watches. Cloning shares it; the default is never
/// cancelled unless [`Cancel::cancel`] is called.
#[derive(Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("signal", &self.signal())
            .finish()
    }
}

/// Keeps a callback registered; dropping it unregisters the callback.
pub struct Registration {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.inner
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(id, _)| *id != self.id);
    }
}

impl Cancel {
    /// A handle nothing has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels with `signal` (the first cancellation wins) and runs every registered callback.
    pub fn cancel(&self, signal: i32) {
        if self
            .inner
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let callbacks: Vec<Callback> = self
            .inner
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        for c in callbacks {
            c();
        }
    }

    /// The signal that cancelled the run, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.inner.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Runs `f` on cancellation (at once if already cancelled) while the registration lives.
    pub fn on_cancel(&self, f: impl Fn() + Send + Sync + 'static) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        let f: Callback = Arc::new(f);
        self.inner
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, f.clone()));
        if self.signal().is_some() {
            f();
        }
        Registration {
            inner: self.inner.clone(),
            id,
        }
    }
}

/// `SIGINT`, `SIGTERM`, or `signal N`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        signal_hook::consts::SIGINT => "SIGINT".to_string(),
        signal_hook::consts::SIGTERM => "SIGTERM".to_string(),
        n => format!("signal {n}"),
    }
}

/// The exit code for a run a signal stopped: 128 + the signal (130 SIGINT, 143 SIGTERM).
pub fn exit_code(signal: i32) -> i32 {
    128 + signal
}

/// Turns SIGINT and SIGTERM into `cancel` (from a thread of its own). A second signal, or a
/// cancellation still tearing down after [`GRACE`], exits the process at once with
/// [`exit_code`].
pub fn install(cancel: Cancel) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if let Some(first) = cancel.signal() {
                    eprintln!(
                        "scenario: {} again: exiting now (temp directories may be left behind)",
                        signal_name(signal)
                    );
                    std::process::exit(exit_code(first));
                }
                eprintln!(
                    "scenario: {}: stopping the running scenarios...",
                    signal_name(signal)
                );
                cancel.cancel(signal);
                let _ = std::thread::Builder::new()
                    .name("signal-grace".into())
                    .spawn(move || {
                        std::thread::sleep(GRACE);
                        eprintln!(
                            "scenario: teardown took longer than {} s: exiting now",
                            GRACE.as_secs()
                        );
                        std::process::exit(exit_code(signal));
                    });
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn first_cancellation_wins_and_runs_callbacks_once() {
        let c = Cancel::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let reg = c.on_cancel(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(c.signal(), None);
        c.clone().cancel(15);
        c.cancel(2);
        assert_eq!(c.signal(), Some(15));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        drop(reg);
        // Registered after the fact: runs at once.
        let h = hits.clone();
        let _late = c.on_cancel(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(exit_code(2), 130);
    }
}
