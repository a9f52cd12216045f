//! The resources of one running scenario ([`World`]): its temp directory, runtime root, fake
//! SaaS, sync server, session watcher, children, and the runner's own refresh lock, with setup
//! and the teardown that releases all of them. Also [`RunOptions`].
//!
//! Guarantees: [`World::teardown`] is idempotent and also runs on drop; after it no child is
//! alive or unreaped, no thread it started is running, and the lock is released. The temp
//! directory goes with the world unless `--keep` asked to keep it. A cancellation (SIGINT,
//! SIGTERM) wakes every wait at once and is reported as such, with what was still running.

use super::children::{kill_locked, phase_label, Children, Launch};
use super::fixtures::Seeded;
use crate::interrupt::{signal_name, Cancel, Registration};
use crate::report::model::{EntryKind, Failure, Interruption, Lane};
use crate::schema::Scenario;
use crate::sync::server::SyncServer;
use crate::sync::state::{Phase, Proc, Shared};
use crate::watch::Watcher;
use chrono::{DateTime, Utc};
use fake_saas::FakeSaas;
use spec_kitty::lock::RefreshLockGuard;
use spec_kitty::paths::RuntimeRoot;
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// How a scenario is run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The executable children are spawned from (`<exe> __exec spec-kitty ...`); it must call
    /// [`crate::multicall::dispatch`] first thing in `main`.
    pub executor: PathBuf,
    /// Keep the temp directory (runtime root, socket) and say where.
    pub keep: bool,
    /// Stops the scenario early (SIGINT / SIGTERM); never cancelled by default.
    pub cancel: Cancel,
    /// The salt every run's seeded session uses (`None`: a fresh one per root, as production).
    /// An exploration runs hundreds of fresh roots: with one salt, the session key is derived
    /// once (and found in the kernel keyring and this process's cache afterwards) instead of
    /// once per run. Nothing a scenario checks depends on the salt; the key it leaves in the
    /// keyring is the caller's to drop (`fixtures::forget_shared_salt`).
    pub shared_salt: Option<[u8; 16]>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            executor: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("scenario")),
            keep: false,
            cancel: Cancel::new(),
            shared_salt: None,
        }
    }
}

/// Everything one running scenario holds.
pub struct World<'a> {
    pub sc: &'a Scenario,
    pub opts: &'a RunOptions,
    pub shared: Arc<Shared>,
    pub start_wall: DateTime<Utc>,
    pub deadline: Instant,
    pub dir: Option<tempfile::TempDir>,
    pub home: PathBuf,
    pub root: RuntimeRoot,
    pub socket: PathBuf,
    pub saas: Option<FakeSaas>,
    pub saas_url: String,
    pub seeded: Seeded,
    pub server: Option<SyncServer>,
    pub watcher: Option<Watcher>,
    /// The lock files' inodes (only for `[expect.lock_file] inode_unchanged`).
    pub lock_watcher: Option<crate::lock_watch::LockWatcher>,
    pub children: Children,
    pub lock_guard: Option<RefreshLockGuard>,
    /// The scenario's own daemon port range (`SPEC_KITTY_DAEMON_PORTS`).
    pub daemon_ports: (u16, u16),
    /// Decoy listeners in that range, kept until teardown.
    pub decoys: Vec<super::daemons::Decoy>,
    /// The daemons serving the root, taken just before teardown.
    pub census: crate::check::observed::Census,
    /// Decoys that no longer listened at the end.
    pub decoys_lost: Vec<u16>,
    pub failures: Vec<Failure>,
    /// Some wait ran into the hard budget.
    pub budget_exceeded: Cell<bool>,
    /// What the scenario was doing when a signal arrived.
    pub interrupted_during: Option<String>,
    pub interrupted: Option<Interruption>,
    torn_down: bool,
    _wake_on_cancel: Registration,
}

impl<'a> World<'a> {
    /// A temp directory, the fake SaaS, the seed, the sync server and the watcher.
    pub fn setup(sc: &'a Scenario, opts: &'a RunOptions) -> Result<World<'a>, String> {
        let shared = Shared::new(
            sc.processes
                .iter()
                .map(|p| Proc::new(&p.name, p.faults.clone())),
        );
        let wake = {
            let shared = shared.clone();
            // Taking the lock orders the wake-up after any check of the cancellation.
            opts.cancel.on_cancel(move || {
                let _st = shared.lock();
                shared.cv.notify_all();
            })
        };
        let dir = tempfile::Builder::new()
            .prefix("kitty-scenario-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp directory: {e}"))?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)
            .map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        let mut world = World {
            sc,
            opts,
            deadline: shared.start + sc.budget,
            shared,
            start_wall: Utc::now(),
            root: RuntimeRoot::new(dir.path().join("root")),
            socket: dir.path().join("sync.sock"),
            dir: Some(dir),
            home,
            saas: None,
            saas_url: String::new(),
            seeded: Seeded::default(),
            server: None,
            watcher: None,
            lock_watcher: None,
            children: Children::default(),
            lock_guard: None,
            daemon_ports: super::daemons::free_range()?,
            decoys: Vec::new(),
            census: Default::default(),
            decoys_lost: Vec::new(),
            failures: Vec::new(),
            budget_exceeded: Cell::new(false),
            interrupted_during: None,
            interrupted: None,
            torn_down: false,
            _wake_on_cancel: wake,
        };
        let saas = FakeSaas::start(sc.saas.clone())
            .map_err(|e| format!("cannot start the fake SaaS: {e}"))?;
        world.saas_url = saas.url();
        world.note(
            Lane::Runner,
            EntryKind::Saas,
            format!("fake SaaS listening at {}", world.saas_url),
        );
        world.seeded = super::fixtures::seed(
            &world.root,
            &saas,
            &world.shared,
            &sc.seed,
            opts.shared_salt.as_ref(),
        )?;
        world.saas = Some(saas);
        world.server = Some(
            SyncServer::start(&world.socket, world.shared.clone())
                .map_err(|e| format!("cannot listen on {}: {e}", world.socket.display()))?,
        );
        let ports = world.daemon_ports_env();
        let launch = world.launch(&ports);
        for note in super::visibility::check(sc, &launch, &world.root, &world.seeded)? {
            world.note(Lane::Runner, EntryKind::Seed, note);
        }
        let injected: Vec<Vec<u8>> = world.seeded.bytes.iter().cloned().collect();
        world.watcher = Some(Watcher::start(
            world.root.session_file(),
            world.root.salt_file(),
            world.shared.start,
            injected,
        ));
        if sc.expect.lock_file.inode_unchanged {
            world.lock_watcher = Some(crate::lock_watch::LockWatcher::start(
                vec![
                    ("refresh.lock".into(), world.root.refresh_lock_file()),
                    ("session.lock".into(), world.root.session_lock_file()),
                ],
                world.shared.start,
            ));
        }
        Ok(world)
    }

    /// Records a timeline note.
    pub fn note(&self, lane: Lane, kind: EntryKind, text: impl Into<String>) {
        self.shared.note_now(lane, kind, text);
    }

    /// The fake SaaS (started in setup).
    pub fn saas(&self) -> &FakeSaas {
        self.saas.as_ref().expect("started in setup")
    }

    /// The signal that cancelled the run, if any.
    pub fn cancelled(&self) -> Option<i32> {
        self.opts.cancel.signal()
    }

    /// Starts `name` (caller holds the state lock).
    pub fn spawn(&mut self, st: &mut crate::sync::state::State, name: &str) -> Result<(), String> {
        let spec = self
            .sc
            .process(name)
            .ok_or_else(|| format!("unknown process {name}"))?;
        let ports = self.daemon_ports_env();
        let launch = Launch {
            executor: &self.opts.executor,
            home: &self.home,
            root: &self.root,
            saas_url: &self.saas_url,
            socket: &self.socket,
            daemon_ports: &ports,
        };
        self.children.spawn(&self.shared, st, spec, &launch)
    }

    /// `SPEC_KITTY_DAEMON_PORTS` for this scenario's children.
    fn daemon_ports_env(&self) -> String {
        format!("{}-{}", self.daemon_ports.0, self.daemon_ports.1)
    }

    /// How this scenario's children are launched (`ports`: [`Self::daemon_ports_env`]).
    fn launch<'s>(&'s self, ports: &'s str) -> Launch<'s> {
        Launch {
            executor: &self.opts.executor,
            home: &self.home,
            root: &self.root,
            saas_url: &self.saas_url,
            socket: &self.socket,
            daemon_ports: ports,
        }
    }

    /// Kills every process still alive, joins every thread, stops the server, releases the
    /// runner's lock. Idempotent.
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        self.census = super::daemons::take_census(&self.root);
        self.decoys_lost = self
            .decoys
            .iter()
            .filter(|d| !d.still_listening())
            .map(|d| d.port)
            .collect();
        let signal = self.cancelled();
        {
            let shared = self.shared.clone();
            let mut st = shared.lock();
            st.shutting_down = true;
            let alive: Vec<String> = st
                .procs
                .values()
                .filter(|p| matches!(p.phase, Phase::Running | Phase::Held { .. }))
                .map(|p| p.name.clone())
                .collect();
            let mut killed = Vec::new();
            for name in alive {
                let label = phase_label(&st.procs[&name]);
                if signal.is_none() {
                    self.failures.push(Failure::Invariant(format!(
                        "{name} was still running at the end ({label}); killed"
                    )));
                }
                killed.push(format!("{name} ({label})"));
                let _ = kill_locked(&shared, &mut st, &name, true);
            }
            shared.cv.notify_all();
            if let Some(signal) = signal {
                let during = self
                    .interrupted_during
                    .clone()
                    .unwrap_or_else(|| "the scenario".into());
                self.failures.push(Failure::Interrupted(format!(
                    "{} during {during}; {}",
                    signal_name(signal),
                    if killed.is_empty() {
                        "no process was running".to_string()
                    } else {
                        format!("killed {}", killed.join(", "))
                    }
                )));
                self.interrupted = Some(Interruption {
                    signal: signal_name(signal),
                    killed,
                });
            }
        }
        self.children.join_all();
        // Daemons outlive the `sync start` that spawned them: stop what is left of the root.
        for (pid, name) in super::daemons::sweep_leftovers(&self.root) {
            self.note(
                Lane::Runner,
                EntryKind::Daemon,
                format!("stopped pid {pid} (started by {name}) still serving the root at teardown"),
            );
        }
        self.decoys.clear();
        // The root goes with the temp directory, without a logout: drop its cached key too
        // (unless the salt, and so the key, is shared with the next run).
        if !self.opts.keep && self.opts.shared_salt.is_none() {
            if let Ok(store) = spec_kitty::storage::SessionStore::for_root(&self.root) {
                store.forget_cached_key();
            }
        }
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        if self.lock_guard.take().is_some() {
            self.note(
                Lane::Runner,
                EntryKind::Lock,
                "runner released the refresh lock (teardown)",
            );
        }
    }
}

impl Drop for World<'_> {
    fn drop(&mut self) {
        self.teardown();
        if let Some(mut w) = self.watcher.take() {
            w.finish();
        }
        if let Some(saas) = self.saas.take() {
            saas.shutdown();
        }
    }
}
