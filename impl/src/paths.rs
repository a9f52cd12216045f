//! Runtime root resolution: where every piece of local state lives.
//!
//! Why a type: tests and the scenario runner seed state through the same paths production reads,
//! so a seed can never land somewhere production does not look (the drift that once hid a real
//! misclassification). The root is resolved lazily, at the call site, never cached at start-up, so
//! a process started with a different `SPEC_KITTY_HOME` sees its own root.

use std::path::{Path, PathBuf};

/// Overrides the runtime root verbatim when set and non-empty.
pub const HOME_ENV: &str = "SPEC_KITTY_HOME";
/// Base URL of the SaaS (no default).
pub const SAAS_URL_ENV: &str = "SPEC_KITTY_SAAS_URL";
/// Arms background sync and daemon auto-start when truthy.
pub const ENABLE_SYNC_ENV: &str = "SPEC_KITTY_ENABLE_SAAS_SYNC";
/// The log filter for stderr (`info`, `spec_kitty=debug`, ...).
pub const LOG_ENV: &str = "SPEC_KITTY_LOG";

/// Errors resolving where state lives or where the SaaS is.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// Neither `SPEC_KITTY_HOME` nor `HOME` is set.
    #[error("cannot find the runtime root: set SPEC_KITTY_HOME (or HOME)")]
    NoHome,
    /// `SPEC_KITTY_SAAS_URL` is not set.
    #[error("SPEC_KITTY_SAAS_URL is not set: export SPEC_KITTY_SAAS_URL=https://<your spec-kitty server>")]
    NoSaasUrl,
    /// `SPEC_KITTY_SAAS_URL` is set but is not an http(s) URL with a host.
    #[error("SPEC_KITTY_SAAS_URL={value:?} is not usable ({reason}): set it to http(s)://host[:port][/path], e.g. https://spec-kitty.example.com")]
    BadSaasUrl { value: String, reason: String },
}

/// The directory holding all spec-kitty state for one OS user (`~/.spec-kitty` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRoot {
    base: PathBuf,
}

impl RuntimeRoot {
    /// A root at an explicit directory (tests, the scenario runner).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// Resolves the root from the environment now: `SPEC_KITTY_HOME` verbatim when set and
    /// non-empty, else `$HOME/.spec-kitty`.
    pub fn from_env() -> Result<Self, PathsError> {
        Self::from_vars(std::env::var_os(HOME_ENV), std::env::var_os("HOME"))
    }

    /// The root a process whose environment holds these values of `SPEC_KITTY_HOME` and `HOME`
    /// resolves: the one rule [`RuntimeRoot::from_env`] applies, for callers that must know where
    /// *another* process will look (the scenario runner checks each child's environment).
    pub fn from_vars(
        spec_kitty_home: Option<std::ffi::OsString>,
        home: Option<std::ffi::OsString>,
    ) -> Result<Self, PathsError> {
        if let Some(root) = spec_kitty_home.filter(|v| !v.is_empty()) {
            return Ok(Self::new(root));
        }
        let home = home.filter(|v| !v.is_empty()).ok_or(PathsError::NoHome)?;
        Ok(Self::new(PathBuf::from(home).join(".spec-kitty")))
    }

    /// The root directory itself.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `<root>/auth` (0700): session, salt and locks.
    pub fn auth_dir(&self) -> PathBuf {
        self.base.join("auth")
    }

    /// `<root>/auth/session.json`: the encrypted session.
    pub fn session_file(&self) -> PathBuf {
        self.auth_dir().join("session.json")
    }

    /// `<root>/auth/session.salt`: the 16-byte scrypt salt.
    pub fn salt_file(&self) -> PathBuf {
        self.auth_dir().join("session.salt")
    }

    /// `<root>/auth/session.lock`: serialises session file writes.
    pub fn session_lock_file(&self) -> PathBuf {
        self.auth_dir().join("session.lock")
    }

    /// `<root>/auth/refresh.lock`: the machine-wide refresh lock.
    pub fn refresh_lock_file(&self) -> PathBuf {
        self.auth_dir().join("refresh.lock")
    }

    /// `<root>/auth/session.ended`: why the last session ended (for `auth doctor`).
    pub fn session_ended_file(&self) -> PathBuf {
        self.auth_dir().join("session.ended")
    }

    /// `<root>/sync-daemon`: the four-line state file naming the singleton daemon.
    pub fn daemon_state_file(&self) -> PathBuf {
        self.base.join("sync-daemon")
    }

    /// `<root>/sync-daemon.lock`: held (flock) by the singleton daemon for its whole life.
    pub fn daemon_lock_file(&self) -> PathBuf {
        self.base.join("sync-daemon.lock")
    }

    /// `<root>/sync-daemon.log`: the daemon's stdout and stderr.
    pub fn daemon_log_file(&self) -> PathBuf {
        self.base.join("sync-daemon.log")
    }

    /// Serialises `sync start`s so many concurrent starts spawn one daemon.
    pub fn daemon_start_lock_file(&self) -> PathBuf {
        self.base.join("sync-daemon.start.lock")
    }

    /// `<root>/sync` (0700): the sync event queue and its drain lock.
    pub fn sync_dir(&self) -> PathBuf {
        self.base.join("sync")
    }

    /// `<root>/sync/queue.db`: the durable event queue (SQLite, WAL).
    pub fn queue_db(&self) -> PathBuf {
        self.sync_dir().join("queue.db")
    }

    /// `<root>/sync/drain.lock`: held by whichever process is sending the queue.
    pub fn drain_lock_file(&self) -> PathBuf {
        self.sync_dir().join("drain.lock")
    }

    /// Creates `<root>/auth` with mode 0700 when missing; returns its path.
    pub fn ensure_auth_dir(&self) -> std::io::Result<PathBuf> {
        let dir = self.auth_dir();
        crate::fsutil::ensure_private_dir(&dir)?;
        Ok(dir)
    }
}

/// This machine's hostname as `gethostname()` reports it: part of the key passphrase and of
/// lock records.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The SaaS base URL from `SPEC_KITTY_SAAS_URL`, validated, without a trailing slash.
pub fn saas_url() -> Result<String, PathsError> {
    match std::env::var(SAAS_URL_ENV) {
        Ok(value) => validate_saas_url(&value),
        Err(std::env::VarError::NotPresent) => Err(PathsError::NoSaasUrl),
        Err(std::env::VarError::NotUnicode(raw)) => Err(PathsError::BadSaasUrl {
            value: raw.to_string_lossy().into_owned(),
            reason: "not valid UTF-8".into(),
        }),
    }
}

/// Checks that `value` is an http(s) URL with a host (and a valid port), and returns it without
/// a trailing slash. Anything else is a configuration error, found before any request.
pub fn validate_saas_url(value: &str) -> Result<String, PathsError> {
    let trimmed = value.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(PathsError::NoSaasUrl);
    }
    let bad = |reason: &str| PathsError::BadSaasUrl {
        value: value.chars().take(200).collect(),
        reason: reason.to_string(),
    };
    let url = reqwest::Url::parse(trimmed).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!(
            "scheme `{}` is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment"));
    }
    Ok(trimmed.to_string())
}

/// Whether `SPEC_KITTY_ENABLE_SAAS_SYNC` is set to a truthy value (read now, never cached).
pub fn sync_enabled() -> bool {
    std::env::var(ENABLE_SYNC_ENV).is_ok_and(|v| is_truthy(&v))
}

/// Whether `value` is one of the truthy spellings `1, true, yes, y, on` (case-insensitive).
pub fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "y" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_under_explicit_root() {
        let root = RuntimeRoot::new("/tmp/x");
        assert_eq!(root.session_file(), Path::new("/tmp/x/auth/session.json"));
        assert_eq!(root.salt_file(), Path::new("/tmp/x/auth/session.salt"));
        assert_eq!(
            root.refresh_lock_file(),
            Path::new("/tmp/x/auth/refresh.lock")
        );
        assert_eq!(
            root.session_lock_file(),
            Path::new("/tmp/x/auth/session.lock")
        );
        assert_eq!(root.queue_db(), Path::new("/tmp/x/sync/queue.db"));
        assert_eq!(root.drain_lock_file(), Path::new("/tmp/x/sync/drain.lock"));
    }

    #[test]
    fn the_root_of_another_environment() {
        let of = |skh: Option<&str>, home: Option<&str>| {
            RuntimeRoot::from_vars(skh.map(Into::into), home.map(Into::into))
                .map(|r| r.base().to_path_buf())
                .ok()
        };
        assert_eq!(of(Some("/r"), Some("/h")), Some(PathBuf::from("/r")));
        // Empty means unset: the original's drift (seeded under one, read under the other).
        assert_eq!(
            of(Some(""), Some("/h")),
            Some(PathBuf::from("/h/.spec-kitty"))
        );
        assert_eq!(of(None, None), None);
    }

    #[test]
    fn saas_urls_are_validated_before_any_request() {
        assert_eq!(
            validate_saas_url(" https://kitty.example.com/ ").unwrap(),
            "https://kitty.example.com"
        );
        assert_eq!(
            validate_saas_url("http://127.0.0.1:8080/base").unwrap(),
            "http://127.0.0.1:8080/base"
        );
        for bad in [
            "garbage",
            "127.0.0.1:8080",
            "http://127.0.0.1:70000",
            "ftp://kitty.example.com",
            "file:///etc/passwd",
            "https://",
            "https://kitty.example.com/?x=1",
        ] {
            let err = validate_saas_url(bad).unwrap_err();
            assert!(matches!(err, PathsError::BadSaasUrl { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("SPEC_KITTY_SAAS_URL"), "{err}");
        }
        assert!(matches!(
            validate_saas_url("  "),
            Err(PathsError::NoSaasUrl)
        ));
    }

    #[test]
    fn truthy_spellings() {
        for v in ["1", "true", "YES", "y", "On"] {
            assert!(is_truthy(v), "{v}");
        }
        for v in ["0", "false", "", "nope"] {
            assert!(!is_truthy(v), "{v}");
        }
    }
}
