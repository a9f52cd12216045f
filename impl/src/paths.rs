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

/// Errors resolving where state lives or where the SaaS is.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// Neither `SPEC_KITTY_HOME` nor `HOME` is set.
    #[error("cannot find the runtime root: set SPEC_KITTY_HOME (or HOME)")]
    NoHome,
    /// `SPEC_KITTY_SAAS_URL` is not set.
    #[error("SPEC_KITTY_SAAS_URL is not set: export SPEC_KITTY_SAAS_URL=https://<your spec-kitty server>")]
    NoSaasUrl,
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
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::new(home));
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or(PathsError::NoHome)?;
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
}

/// The SaaS base URL from `SPEC_KITTY_SAAS_URL`, without a trailing slash.
pub fn saas_url() -> Result<String, PathsError> {
    let url = std::env::var(SAAS_URL_ENV).unwrap_or_default();
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err(PathsError::NoSaasUrl);
    }
    Ok(url.to_string())
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
