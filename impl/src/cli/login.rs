//! `spec-kitty auth login`: the RFC 8628 device flow, then a complete session built as the
//! original builds it (profile from `/api/v1/me`, the default team picked by the client, every
//! key present), saved under the refresh lock.
//!
//! The device flow works everywhere (ssh, containers, CI): the URL and code are always printed.
//! Without `--headless`, when a graphical session is visible, the verification page is also
//! opened with `xdg-open` as a convenience; nothing depends on it.

use super::output::{exit, Failure, Output};
use crate::lock::RefreshLock;
use crate::oauth::{after, DevicePoll, OAuthClient, Profile, TokenGrant};
use crate::paths::{saas_url, RuntimeRoot};
use crate::session::{parse_time, StoredSession, Team};
use crate::storage::SessionStore;
use crate::token_manager::RefreshSettings;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The scope the CLI asks for.
const SCOPE: &str = "openid offline_access";
/// Bounds on what the server may ask of the poll loop.
const MAX_CODE_LIFETIME: Duration = Duration::from_secs(3600);
const MAX_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Serialize)]
struct User {
    user_id: String,
    email: String,
    name: String,
}

#[derive(Serialize)]
struct LoginReport {
    logged_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_method: Option<String>,
}

/// Runs `auth login`.
pub fn run(root: &RuntimeRoot, headless: bool, out: Output) -> i32 {
    let failed = LoginReport {
        logged_in: false,
        user: None,
        session_id: None,
        auth_method: None,
    };
    match login(root, headless) {
        Ok(session) => {
            let body = LoginReport {
                logged_in: true,
                user: Some(User {
                    user_id: session.user_id.clone(),
                    email: session.email.clone(),
                    name: session.name.clone(),
                }),
                session_id: Some(session.session_id.clone()),
                auth_method: Some(session.auth_method.clone()),
            };
            out.success(&body, || {
                println!("Logged in as {} <{}>.", session.name, session.email)
            })
        }
        Err(failure) => out.failure(&failed, &failure),
    }
}

fn login(root: &RuntimeRoot, headless: bool) -> Result<StoredSession, Failure> {
    let url = saas_url().map_err(|e| Failure::new(exit::USAGE, "config", e))?;
    let client = OAuthClient::new(&url, crate::oauth::DEFAULT_TIMEOUT)
        .map_err(|e| Failure::new(exit::RETRYABLE, "network", e))?;
    let grant = device_flow(&client, !headless)?;
    let session = build_session(&client, grant)
        .map_err(|message| Failure::new(exit::RETRYABLE, "login_incomplete", message))?;
    let settings = RefreshSettings::current();
    // Written under the refresh lock so no concurrent refresh interleaves with the new login.
    RefreshLock::acquire(&root.refresh_lock_file(), settings.lock_wait)
        .map_err(|e| e.to_string())
        .and_then(|_guard| {
            SessionStore::for_root(root)
                .and_then(|store| store.write(&session))
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            Failure::new(
                exit::RETRYABLE,
                "save_failed",
                format!("logged in but could not save the session: {e}"),
            )
        })?;
    crate::ended::clear(root);
    Ok(session)
}

/// RFC 8628: show the code (and open the page when asked and possible), poll until approved,
/// denied or expired.
fn device_flow(client: &OAuthClient, open_browser: bool) -> Result<TokenGrant, Failure> {
    let auth = client.device_authorize(SCOPE).map_err(|e| {
        Failure::new(
            exit::RETRYABLE,
            "network",
            format!("cannot start the login: {e}; check SPEC_KITTY_SAAS_URL and the network, then try again"),
        )
    })?;
    eprintln!(
        "To log in, open {} and enter the code {}",
        auth.verification_uri, auth.user_code
    );
    if let Some(complete) = &auth.verification_uri_complete {
        eprintln!("  (or open {complete})");
    }
    if open_browser {
        open_in_browser(
            auth.verification_uri_complete
                .as_deref()
                .unwrap_or(&auth.verification_uri),
        );
    }
    eprintln!("Waiting for approval...");
    let lifetime = Duration::from_secs(auth.expires_in).min(MAX_CODE_LIFETIME);
    let deadline = Instant::now() + lifetime;
    let mut interval = Duration::from_secs(auth.interval).min(MAX_INTERVAL);
    let expired = || {
        Failure::new(
            exit::RELOGIN,
            "login_code_expired",
            "the login code expired before it was approved: run `spec-kitty auth login` again",
        )
    };
    let mut failures = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(expired());
        }
        std::thread::sleep(interval.min(left));
        match client.poll_device(&auth.device_code) {
            DevicePoll::Granted(grant) => return Ok(grant),
            DevicePoll::Pending => failures = 0,
            DevicePoll::SlowDown => {
                interval = (interval + Duration::from_secs(5)).min(MAX_INTERVAL)
            }
            DevicePoll::Denied => {
                return Err(Failure::new(
                    exit::RELOGIN,
                    "login_denied",
                    "the login was denied: run `spec-kitty auth login` to try again",
                ))
            }
            DevicePoll::Expired => return Err(expired()),
            DevicePoll::Failed(reason) => {
                failures += 1;
                if failures >= 5 {
                    return Err(Failure::new(
                        exit::RETRYABLE,
                        "network",
                        format!("the login server keeps failing ({reason}); try again later"),
                    ));
                }
            }
        }
    }
}

/// Opens `url` with `xdg-open` when a graphical session is visible (`DISPLAY` or
/// `WAYLAND_DISPLAY`) and a person is at the terminal; otherwise does nothing. The URL carries
/// the short-lived user code, never a token. The opener is not waited for: a browser may stay.
fn open_in_browser(url: &str) {
    use std::io::IsTerminal;
    let graphical = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !graphical || !std::io::stderr().is_terminal() || !url.starts_with("http") {
        return;
    }
    let spawned = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            // Reaped in the background so no zombie outlives the opener.
            std::thread::spawn(move || child.wait());
            eprintln!("  (opened in your browser)");
        }
        Err(_) => tracing::debug!("xdg-open is not available; open the URL yourself"),
    }
}

/// The session for a fresh device grant, as the original builds it: the profile from
/// `/api/v1/me`, the private teamspace (else the first team) as the default team, every key
/// present, the refresh expiry from the token answer, else from the profile.
fn build_session(client: &OAuthClient, grant: TokenGrant) -> Result<StoredSession, String> {
    let profile: Profile = client
        .me(&grant.access_token)
        .map_err(|e| format!("logged in but cannot read the profile: {e}"))?;
    let session_id = match grant.session_id.clone() {
        Some(id) => id,
        None => {
            client
                .session_status(&grant.access_token)
                .map_err(|e| format!("logged in but cannot read the session id: {e}"))?
                .session_id
        }
    };
    let refresh_token = grant
        .refresh_token
        .ok_or("the server issued no refresh token; the login cannot be kept")?;
    let teams: Vec<Team> = profile.teams.into_iter().map(Team::from).collect();
    let default_team_id = pick_default_team(&teams).ok_or(
        "your account has no team memberships; ask your administrator to add you to a team",
    )?;
    let now = crate::now();
    let refresh_token_expires_at = match grant.refresh_expiry {
        Some(expiry) => Some(expiry.resolve(now)),
        None => profile
            .refresh_token_expires_at
            .as_deref()
            .and_then(parse_time),
    };
    Ok(StoredSession {
        name: profile.name.unwrap_or_else(|| profile.email.clone()),
        user_id: profile.user_id,
        email: profile.email,
        teams,
        default_team_id: Some(default_team_id),
        access_token: grant.access_token,
        refresh_token,
        session_id,
        issued_at: now,
        // A malformed answer keeps its tokens but not its lifetime: refresh on first use.
        access_token_expires_at: if grant.problem.is_some() {
            now
        } else {
            after(now, grant.expires_in)
        },
        refresh_token_expires_at,
        scope: grant.scope.unwrap_or_else(|| SCOPE.into()),
        storage_backend: "file".into(),
        last_used_at: now,
        auth_method: "device_code".into(),
        generation: grant.generation,
        ..Default::default()
    })
}

/// The private teamspace when there is one, else the first team (the original's rule).
pub fn pick_default_team(teams: &[Team]) -> Option<String> {
    teams
        .iter()
        .find(|t| t.is_private_teamspace)
        .or(teams.first())
        .map(|t| t.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(id: &str, private: bool) -> Team {
        Team {
            id: id.into(),
            is_private_teamspace: private,
            ..Default::default()
        }
    }

    #[test]
    fn the_private_teamspace_wins_else_the_first_team() {
        assert_eq!(
            pick_default_team(&[team("a", false), team("p", true)]).as_deref(),
            Some("p")
        );
        assert_eq!(
            pick_default_team(&[team("a", false), team("b", false)]).as_deref(),
            Some("a")
        );
        assert_eq!(pick_default_team(&[]), None);
    }
}
