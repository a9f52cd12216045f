//! The `spec-kitty` command line.
//!
//! Conventions: stdout carries only the command's result (a token for `auth token`, one JSON
//! document with `--json`); everything else goes to stderr. No token is ever printed except by
//! `auth token`, whose job it is. Errors are one line that names the fix.

use crate::lock::RefreshLock;
use crate::oauth::{DevicePoll, OAuthClient, TokenGrant};
use crate::paths::{saas_url, RuntimeRoot};
use crate::refresh::AuthError;
use crate::session::{format_report_time, StoredSession};
use crate::storage::SessionStore;
use crate::token_manager::{RefreshSettings, TokenManager};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// Exit codes shared by every command.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Not authenticated / a new login is needed (the message names the cause).
    pub const RELOGIN: i32 = 1;
    /// Usage or configuration error (e.g. `SPEC_KITTY_SAAS_URL` unset).
    pub const USAGE: i32 = 2;
    /// Retryable: lock busy, network failure or timeout. Nothing was deleted.
    pub const RETRYABLE: i32 = 3;
}

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  not authenticated / re-login needed (stderr names the cause and `spec-kitty auth login`)
  2  usage or configuration error (e.g. SPEC_KITTY_SAAS_URL unset)
  3  retryable: refresh lock busy, network error or timeout; nothing was deleted

Environment:
  SPEC_KITTY_HOME       runtime root (default ~/.spec-kitty)
  SPEC_KITTY_SAAS_URL   SaaS base URL (required for login, refresh and logout)
  SPEC_KITTY_LOG        log filter for stderr, e.g. `info` or `spec_kitty=debug`";

/// spec-kitty: keep a CLI login alive across many processes and checkouts.
#[derive(Debug, Parser)]
#[command(name = "spec-kitty", version = crate::VERSION, after_help = EXIT_CODES_HELP)]
struct Cli {
    /// Log to stderr (-v info, -vv debug). SPEC_KITTY_LOG sets a finer filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in, inspect the session, print a token, log out.
    #[command(subcommand)]
    Auth(AuthCommand),
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Show whether you are logged in, as whom, and how long the tokens last (no network).
    #[command(after_help = EXIT_CODES_HELP)]
    Status(JsonFlag),
    /// Print a valid access token on stdout, refreshing it first if it expires within 5 s.
    ///
    /// The scriptable way to get a token: `curl -H "Authorization: Bearer $(spec-kitty auth token)"`.
    #[command(after_help = EXIT_CODES_HELP)]
    Token,
    /// Log in with the device authorization flow (RFC 8628).
    #[command(after_help = EXIT_CODES_HELP)]
    Login(LoginArgs),
    /// Revoke the session at the server (best effort) and delete it locally.
    #[command(after_help = EXIT_CODES_HELP)]
    Logout(JsonFlag),
}

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// Do not open a browser: print a URL and a code to enter on any device.
    #[arg(long)]
    headless: bool,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the CLI with `args` (the first is the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    init_logging(cli.verbose);
    let root = match RuntimeRoot::from_env() {
        Ok(root) => root,
        Err(e) => return fail(exit::USAGE, &e),
    };
    match cli.command {
        Command::Auth(AuthCommand::Status(flag)) => status(&root, flag.json),
        Command::Auth(AuthCommand::Token) => token(&root),
        Command::Auth(AuthCommand::Login(args)) => login(&root, &args),
        Command::Auth(AuthCommand::Logout(flag)) => logout(&root, flag.json),
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let filter = match std::env::var("SPEC_KITTY_LOG") {
        Ok(spec) if !spec.trim().is_empty() => spec.parse::<Targets>().unwrap_or_else(|_| {
            eprintln!("warning: SPEC_KITTY_LOG={spec:?} is not a log filter; using `info`");
            Targets::new().with_default(LevelFilter::INFO)
        }),
        _ => match verbose {
            0 => Targets::new().with_default(LevelFilter::OFF),
            1 => Targets::new().with_default(LevelFilter::INFO),
            // Debug for our own code only: dependency internals stay at warnings.
            _ => Targets::new()
                .with_default(LevelFilter::WARN)
                .with_target("spec_kitty", LevelFilter::DEBUG),
        },
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}

/// Prints `error: <e>` on stderr and returns `code`.
fn fail(code: i32, e: &dyn std::fmt::Display) -> i32 {
    eprintln!("error: {e}");
    code
}

fn fail_auth(e: &AuthError) -> i32 {
    fail(e.exit_code(), e)
}

fn print_json(value: &Value) {
    println!("{value}");
}

// ---------------------------------------------------------------------------------------------
// auth status

fn status(root: &RuntimeRoot, as_json: bool) -> i32 {
    let store = match SessionStore::for_root(root) {
        Ok(store) => store,
        Err(e) => return fail(exit::USAGE, &e),
    };
    let now = crate::now();
    let file = root.session_file();
    match store.read() {
        Ok(Some(session)) => {
            let authenticated = session.access_usable(now) || !session.refresh_expired(now);
            if as_json {
                print_json(&status_json(&session, now, &file.display().to_string()));
            } else {
                print_status(&session, now);
            }
            if authenticated {
                exit::OK
            } else {
                if !as_json {
                    eprintln!("The refresh token has expired: run `spec-kitty auth login`");
                }
                exit::RELOGIN
            }
        }
        Ok(None) => {
            if as_json {
                print_json(&json!({
                    "authenticated": false,
                    "state": "absent",
                    "session_file": file.display().to_string(),
                }));
            } else {
                eprintln!(
                    "Not logged in (no session at {}): run `spec-kitty auth login`",
                    file.display()
                );
            }
            exit::RELOGIN
        }
        Err(e) => {
            let unreadable = e.is_unreadable_session();
            if as_json {
                print_json(&json!({
                    "authenticated": false,
                    "state": if unreadable { "unreadable" } else { "error" },
                    "session_file": file.display().to_string(),
                    "error": e.to_string(),
                }));
            } else {
                eprintln!("Session file unreadable: {e}");
            }
            if unreadable {
                exit::RELOGIN
            } else {
                exit::RETRYABLE
            }
        }
    }
}

fn seconds_until(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (t - now).num_seconds()
}

fn status_json(s: &StoredSession, now: DateTime<Utc>, file: &str) -> Value {
    json!({
        "authenticated": s.access_usable(now) || !s.refresh_expired(now),
        "state": "present",
        "session_file": file,
        "user": {"user_id": s.user_id, "email": s.email, "name": s.name},
        "teams": s.teams.iter().map(|t| json!({
            "id": t.id, "name": t.name, "role": t.role,
            "is_private_teamspace": t.is_private_teamspace, "slug": t.slug(),
        })).collect::<Vec<_>>(),
        "default_team_id": s.default_team_id,
        "session_id": s.session_id,
        "auth_method": s.auth_method,
        "storage_backend": s.storage_backend,
        "generation": s.generation,
        "scope": s.scope,
        "access_token_expires_at": format_report_time(s.access_token_expires_at),
        "access_expires_in_s": seconds_until(s.access_token_expires_at, now),
        "access_token_usable": s.access_usable(now),
        "refresh_token_expires_at": s.refresh_token_expires_at.map(format_report_time),
        "refresh_expires_in_s": s.refresh_token_expires_at.map(|t| seconds_until(t, now)),
    })
}

fn print_status(s: &StoredSession, now: DateTime<Utc>) {
    let who = if s.name.is_empty() {
        &s.user_id
    } else {
        &s.name
    };
    println!("Logged in as {who} <{}> ({})", s.email, s.user_id);
    println!(
        "  Session:        {} ({}, storage: {})",
        s.session_id,
        if s.auth_method.is_empty() {
            "unknown method"
        } else {
            &s.auth_method
        },
        if s.storage_backend.is_empty() {
            "file"
        } else {
            &s.storage_backend
        }
    );
    println!(
        "  Access token:   {}",
        lifetime(Some(s.access_token_expires_at), now)
    );
    println!(
        "  Refresh token:  {}",
        lifetime(s.refresh_token_expires_at, now)
    );
    if !s.teams.is_empty() {
        let teams: Vec<String> = s
            .teams
            .iter()
            .map(|t| {
                let private = if t.is_private_teamspace {
                    ", private"
                } else {
                    ""
                };
                format!("{} ({}{private})", t.name, t.role)
            })
            .collect();
        println!("  Teams:          {}", teams.join(", "));
    }
}

/// "valid for 59m 58s" / "expired 3m 2s ago" / "lifetime unknown".
fn lifetime(expiry: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(expiry) = expiry else {
        return "lifetime unknown (the server did not say)".into();
    };
    let secs = seconds_until(expiry, now);
    if secs > 0 {
        format!("valid for {}", human_duration(secs as u64))
    } else {
        format!("expired {} ago", human_duration(secs.unsigned_abs()))
    }
}

fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

// ---------------------------------------------------------------------------------------------
// auth token

fn token(root: &RuntimeRoot) -> i32 {
    let manager = match TokenManager::load(root) {
        Ok(m) => m,
        Err(e) => return fail_auth(&e),
    };
    match manager.access_token() {
        Ok(token) => {
            println!("{token}");
            exit::OK
        }
        Err(e) => fail_auth(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// auth logout

fn logout(root: &RuntimeRoot, as_json: bool) -> i32 {
    // An unreadable session is still removed: logging out is the user's explicit intent.
    let manager = match TokenManager::load(root) {
        Ok(m) => m,
        Err(AuthError::Storage(e)) if e.is_unreadable_session() => {
            return force_delete(root, as_json, &e)
        }
        Err(e) => return fail_auth(&e),
    };
    match manager.logout() {
        Ok(report) => {
            let revocation = match &report.revocation {
                None => Value::Null,
                Some(Ok(())) => json!("revoked"),
                Some(Err(reason)) => json!(format!("not revoked: {reason}")),
            };
            if as_json {
                print_json(
                    &json!({"logged_out": true, "removed": report.removed, "revocation": revocation}),
                );
            } else if report.removed {
                match &report.revocation {
                    Some(Err(reason)) => eprintln!(
                        "Logged out locally; the server could not be told ({reason}), the session will expire on its own."
                    ),
                    _ => eprintln!("Logged out."),
                }
            } else {
                eprintln!("Not logged in; nothing to do.");
            }
            exit::OK
        }
        Err(e) => fail_auth(&e),
    }
}

/// Logout of a session that cannot even be loaded: take the lock and delete the files.
fn force_delete(root: &RuntimeRoot, as_json: bool, why: &dyn std::fmt::Display) -> i32 {
    let settings = RefreshSettings::from_env();
    let _guard = match RefreshLock::acquire(&root.refresh_lock_file(), settings.lock_wait) {
        Ok(g) => g,
        Err(e) => return fail(exit::RETRYABLE, &format!("cannot log out now: {e}")),
    };
    let deleted = SessionStore::for_root(root).and_then(|s| s.delete());
    match deleted {
        Ok(()) => {
            if as_json {
                print_json(&json!({"logged_out": true, "removed": true, "revocation": null}));
            } else {
                eprintln!("Removed the unreadable session ({why}).");
            }
            exit::OK
        }
        Err(e) => fail(exit::RETRYABLE, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// auth login

fn login(root: &RuntimeRoot, args: &LoginArgs) -> i32 {
    if !args.headless {
        return fail(
            exit::USAGE,
            &"browser login is not available in this build: run `spec-kitty auth login --headless`",
        );
    }
    let url = match saas_url() {
        Ok(url) => url,
        Err(e) => return fail(exit::USAGE, &e),
    };
    let client = match OAuthClient::new(&url, crate::oauth::DEFAULT_TIMEOUT) {
        Ok(c) => c,
        Err(e) => return fail(exit::RETRYABLE, &e),
    };
    let grant = match device_flow(&client) {
        Ok(grant) => grant,
        Err((code, message)) => return fail(code, &message),
    };
    let session = match build_session(&client, grant) {
        Ok(s) => s,
        Err(message) => return fail(exit::RETRYABLE, &message),
    };
    let settings = RefreshSettings::from_env();
    // Written under the refresh lock so no concurrent refresh interleaves with the new login.
    let written = RefreshLock::acquire(&root.refresh_lock_file(), settings.lock_wait)
        .map_err(|e| e.to_string())
        .and_then(|_guard| {
            SessionStore::for_root(root)
                .and_then(|store| store.write(&session))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        return fail(
            exit::RETRYABLE,
            &format!("logged in but could not save the session: {e}"),
        );
    }
    if args.json {
        print_json(&json!({
            "logged_in": true,
            "user": {"user_id": session.user_id, "email": session.email, "name": session.name},
            "session_id": session.session_id,
            "auth_method": session.auth_method,
        }));
    } else {
        eprintln!("Logged in as {} <{}>.", session.name, session.email);
    }
    exit::OK
}

/// RFC 8628: show the code, poll until approved, denied or expired.
fn device_flow(client: &OAuthClient) -> Result<TokenGrant, (i32, String)> {
    let auth = client
        .device_authorize("openid offline_access")
        .map_err(|e| (exit::RETRYABLE, format!("cannot start the login: {e}")))?;
    eprintln!(
        "To log in, open {} and enter the code {}",
        auth.verification_uri, auth.user_code
    );
    if let Some(complete) = &auth.verification_uri_complete {
        eprintln!("  (or open {complete})");
    }
    eprintln!("Waiting for approval...");
    let deadline = Instant::now() + Duration::from_secs(auth.expires_in);
    let mut interval = Duration::from_secs(auth.interval);
    let mut failures = 0;
    loop {
        if Instant::now() >= deadline {
            return Err((exit::RELOGIN, "the login code expired before it was approved: run `spec-kitty auth login --headless` again".into()));
        }
        std::thread::sleep(interval.min(deadline.saturating_duration_since(Instant::now())));
        match client.poll_device(&auth.device_code) {
            DevicePoll::Granted(grant) => return Ok(grant),
            DevicePoll::Pending => failures = 0,
            DevicePoll::SlowDown => interval += Duration::from_secs(5),
            DevicePoll::Denied => {
                return Err((exit::RELOGIN, "the login was denied: run `spec-kitty auth login --headless` to try again".into()))
            }
            DevicePoll::Expired => {
                return Err((exit::RELOGIN, "the login code expired before it was approved: run `spec-kitty auth login --headless` again".into()))
            }
            DevicePoll::Failed(reason) => {
                failures += 1;
                if failures >= 5 {
                    return Err((exit::RETRYABLE, format!("the login server keeps failing ({reason}); try again later")));
                }
            }
        }
    }
}

/// The session for a fresh device grant: profile from `/api/v1/me`, every key present.
fn build_session(client: &OAuthClient, grant: TokenGrant) -> Result<StoredSession, String> {
    let profile = client
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
    let now = crate::now();
    Ok(StoredSession {
        user_id: profile.user_id,
        email: profile.email,
        name: profile.name,
        teams: profile.teams,
        default_team_id: profile.default_team_id,
        access_token: grant.access_token,
        refresh_token,
        session_id,
        issued_at: now,
        access_token_expires_at: now + chrono::Duration::seconds(grant.expires_in as i64),
        refresh_token_expires_at: grant.refresh_token_expires_at,
        scope: grant
            .scope
            .unwrap_or_else(|| "openid offline_access".into()),
        storage_backend: "file".into(),
        last_used_at: now,
        auth_method: "device_code".into(),
        generation: grant.generation,
        ..Default::default()
    })
}
