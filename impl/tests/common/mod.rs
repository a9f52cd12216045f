//! Helpers shared by the impl integration tests: a wiremock SaaS that runs on its own runtime
//! (so the blocking client under test can call it from a plain test thread), and seeded roots.
#![allow(dead_code)]

pub mod points;
pub mod txn;

use chrono::{DateTime, Duration, Utc};
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::session::StoredSession;
use spec_kitty::storage::SessionStore;
use wiremock::MockServer;

/// A wiremock server on a private multi-thread runtime: it keeps serving while the test thread
/// makes blocking calls.
pub struct MockSaas {
    pub server: MockServer,
    pub rt: tokio::runtime::Runtime,
}

impl MockSaas {
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Self { server, rt }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn mount(&self, mock: wiremock::Mock) {
        self.rt.block_on(mock.mount(&self.server));
    }

    /// The form bodies of every request received, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect()
    }

    pub fn verify(&self) {
        self.rt.block_on(self.server.verify());
    }
}

/// A temp runtime root, its production store (this machine's passphrase; the derived key is
/// cached in the user keyring like the binary's, and dropped again when the root ends), and a
/// private range of free loopback ports for any daemon started in it.
pub struct Root {
    pub dir: tempfile::TempDir,
    pub root: RuntimeRoot,
    /// `SPEC_KITTY_DAEMON_PORTS` for commands on this root (never the production range).
    pub daemon_ports: (u16, u16),
}

impl Root {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = RuntimeRoot::new(dir.path());
        Self {
            dir,
            root,
            daemon_ports: free_port_range(6),
        }
    }

    pub fn store(&self) -> SessionStore {
        SessionStore::for_root(&self.root).unwrap()
    }
}

/// A test root leaves nothing behind: no process still serving it (a daemon a command started),
/// and no derived key in the user's keyring (the binary caches it there).
impl Drop for Root {
    fn drop(&mut self) {
        let base = self.root.base().display().to_string();
        for pid in spec_kitty::procfs::pids_with_env("SPEC_KITTY_HOME", &base) {
            let _ = spec_kitty::procfs::signal_verified(pid, None, rustix::process::Signal::KILL);
            spec_kitty::procfs::wait_exit(pid, std::time::Duration::from_secs(5));
        }
        if let Ok(store) = SessionStore::for_root(&self.root) {
            store.forget_cached_key();
        }
    }
}

/// `n` consecutive loopback ports free right now, from a pseudo-random high base.
pub fn free_port_range(n: u16) -> (u16, u16) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for _ in 0..500 {
        let salt = NEXT.fetch_add(7919, Ordering::Relaxed);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            ^ std::process::id().rotate_left(11)
            ^ salt;
        let base = 20_000 + (seed % 40_000) as u16;
        if (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return (base, base + n - 1);
        }
    }
    panic!("no free range of {n} loopback ports")
}

pub fn at(offset_s: i64) -> DateTime<Utc> {
    Utc::now() + Duration::seconds(offset_s)
}

/// A session with material `(session_id, refresh)`, access expiring in `access_s` and refresh in
/// `refresh_s` seconds.
pub fn session(session_id: &str, refresh: &str, access_s: i64, refresh_s: i64) -> StoredSession {
    StoredSession {
        user_id: "user_1".into(),
        email: "dev@example.com".into(),
        name: "Dev User".into(),
        access_token: format!("at-for-{refresh}"),
        refresh_token: refresh.into(),
        session_id: session_id.into(),
        issued_at: at(-60),
        access_token_expires_at: at(access_s),
        refresh_token_expires_at: Some(at(refresh_s)),
        scope: "openid offline_access".into(),
        storage_backend: "file".into(),
        last_used_at: at(-60),
        auth_method: "device_code".into(),
        generation: Some(1),
        ..Default::default()
    }
}

/// The standard 200 body of a rotation.
pub fn grant_body(access: &str, refresh: &str) -> serde_json::Value {
    serde_json::json!({
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": 3600,
        "refresh_token_expires_at": "2099-01-01T00:00:00+00:00",
        "scope": "openid offline_access",
        "generation": 2,
    })
}

/// A fake SaaS plus a runtime root seeded with one of its sessions, for tests that drive the
/// real `spec-kitty` binary.
pub struct Seeded {
    pub root: Root,
    pub saas: fake_saas::FakeSaas,
    pub seeded: fake_saas::SeededSession,
}

impl Seeded {
    /// Starts a fake SaaS with `config`, seeds a session with the given relative expiries and
    /// writes it into a fresh root through the production store.
    pub fn new(config: fake_saas::SaasConfig, access_s: i64, refresh_s: i64) -> Self {
        let saas = fake_saas::FakeSaas::start(config).unwrap();
        let seeded = saas.seed_session(fake_saas::SeedRequest {
            access_expires_in_s: access_s,
            refresh_expires_in_s: refresh_s,
            generation: None,
        });
        let root = Root::new();
        root.store().write(&stored_from(&seeded)).unwrap();
        Self { root, saas, seeded }
    }

    /// `spec-kitty` with a hermetic environment pointed at this root and SaaS.
    pub fn cmd(&self) -> std::process::Command {
        spec_kitty_cmd(&self.root, Some(&self.saas.url()))
    }
}

/// How long any one command a test runs may take before the test fails (a hang is a bug).
pub const COMMAND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs `cmd` to completion like [`std::process::Command::output`] (stdin closed, stdout and
/// stderr captured), but fails the test, killing the process, when it is still running at
/// [`COMMAND_DEADLINE`].
pub fn bounded_output(cmd: &mut std::process::Command) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = wait_bounded(&mut child, || {
        format!(
            "{:?} {:?}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>()
        )
    });
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs `cmd` with stdout and stderr on a new pseudo-terminal, as in a user's terminal (stdin
/// closed), and returns its exit status and everything it wrote there; bounded like
/// [`bounded_output`]. Takes the command by value so that the parent's copies of the terminal
/// close with it, and reading ends when the child's do.
pub fn on_terminal(mut cmd: std::process::Command) -> (std::process::ExitStatus, Vec<u8>) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::io::Read;
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(terminal.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(terminal));
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        // Linux answers EIO once the last holder of the terminal closed it: that is the end.
        while let Ok(n @ 1..) = master.read(&mut chunk) {
            bytes.extend_from_slice(&chunk[..n]);
        }
        bytes
    });
    let status = wait_bounded(&mut child, || "a command on a terminal".to_string());
    (status, reader.join().unwrap())
}

/// Waits for `child` to exit; past [`COMMAND_DEADLINE`] kills it and fails the test, naming it
/// with `what` (called only then).
fn wait_bounded(
    child: &mut std::process::Child,
    what: impl FnOnce() -> String,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + COMMAND_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} still ran after {COMMAND_DEADLINE:?}", what());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `cmd` (its program, arguments and environment) run by `sh -c "<prelude>; exec ..."`: the same
/// process, the same executable, after a shell prelude such as `ulimit -f 1` or `trap '' TERM`
/// (limits and ignored signals survive `exec`).
pub fn under_shell(cmd: &std::process::Command, prelude: &str) -> std::process::Command {
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(format!("{prelude}; exec \"$0\" \"$@\""))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

/// `spec-kitty` with every inherited `SPEC_KITTY_*` removed and the root (and SaaS) set.
pub fn spec_kitty_cmd(root: &Root, saas_url: Option<&str>) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_spec-kitty"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SPEC_KITTY_") {
            cmd.env_remove(key);
        }
    }
    // Loopback only: never through a proxy the environment may name.
    for proxy in ["http_proxy", "https_proxy", "all_proxy"] {
        cmd.env_remove(proxy).env_remove(proxy.to_ascii_uppercase());
    }
    cmd.env("SPEC_KITTY_HOME", root.root.base());
    cmd.env("HOME", root.dir.path());
    let (first, last) = root.daemon_ports;
    cmd.env("SPEC_KITTY_DAEMON_PORTS", format!("{first}-{last}"));
    if let Some(url) = saas_url {
        cmd.env("SPEC_KITTY_SAAS_URL", url);
    }
    cmd
}

/// The session the CLI would have stored for a fake-SaaS session (the harness owns this).
pub fn stored_from(s: &fake_saas::SeededSession) -> StoredSession {
    harness::stored_session(s, true)
}

/// Writes `session` the way the oldest clients did: no refresh lock and no `session.lock`, just
/// seal with the existing salt and rename over the file (the writer our locks cannot stop).
pub fn lockless_write(root: &RuntimeRoot, session: &StoredSession) {
    let salt = std::fs::read(root.salt_file()).unwrap();
    let cipher = spec_kitty::storage::SessionCipher::derive(
        &spec_kitty::storage::machine_passphrase(),
        &salt,
    );
    let tmp = root.auth_dir().join("lockless.tmp");
    std::fs::write(&tmp, cipher.seal(&session.to_json(), [9u8; 12])).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, root.session_file()).unwrap();
}

/// Deletes the session files without any lock, as the oldest clients did on a rejection.
///
/// Such a client knows nothing of the key cache, so its entry would stay until it expires
/// (harmless: no later salt matches it); the test drops it so nothing is left behind.
pub fn lockless_delete(root: &RuntimeRoot) {
    if let Ok(store) = SessionStore::for_root(root) {
        store.forget_cached_key();
    }
    let _ = std::fs::remove_file(root.session_file());
    let _ = std::fs::remove_file(root.salt_file());
}
