//! The `spec-kitty` command line.
//!
//! Conventions (owned by [`output`]): stdout carries only the command's result (a token for
//! `auth token`, one JSON document with `--json`); everything else goes to stderr. No token is
//! ever printed except by `auth token`, whose job it is. Errors are one line that names the fix,
//! and every exit path of a `--json` command prints exactly one JSON document.

mod daemon_cmds;
mod doctor_cmd;
mod login;
pub mod output;
mod session_cmds;
mod status;
mod sync_cmds;

pub use output::exit;

use clap::{Args, Parser, Subcommand};
use output::{Failure, Output};
use std::ffi::OsString;

/// Pieces of the help texts below (`concat!` needs literals, hence macros).
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  success
  1  not authenticated / re-login needed (stderr names the cause and `spec-kitty auth login`)
  2  usage or configuration error (e.g. SPEC_KITTY_SAAS_URL unset or malformed)
  3  retryable: refresh lock busy, network error or timeout; nothing was deleted
"
    };
}
macro_rules! json_convention {
    () => {
        "
With --json, stdout holds exactly one JSON object on every exit path (usage errors included):
{\"ok\": true, ...} on success, {\"ok\": false, \"error\": {\"code\", \"message\", \"exit_code\"}, ...}
on failure.
"
    };
}
macro_rules! environment {
    () => {
        "
Environment:
  SPEC_KITTY_HOME       runtime root (default ~/.spec-kitty)
  SPEC_KITTY_SAAS_URL   SaaS base URL, http(s)://host[:port][/path] (required for login, refresh,
                        logout and sync)
  SPEC_KITTY_LOG        log filter for stderr, e.g. `info` or `spec_kitty=debug`
  SPEC_KITTY_KEY_CACHE_TTL  seconds the derived key stays in the kernel keyring (default 900, 0: off)
  SPEC_KITTY_ENABLE_SAAS_SYNC  1/true/yes/on: `sync enqueue` tries once to send the queue
  SPEC_KITTY_DAEMON_PORTS   the sync daemon's reserved port range, default 9400-9449
  SPEC_KITTY_DAEMON_TICK_S  seconds between the daemon's lifecycle ticks, default 30 (0: no tick)
  NO_COLOR              never colour the output"
    };
}

const DAEMON_HELP: &str = concat!(
    "\
Exit codes: 0 success (also when nothing was running to stop), 2 configuration error,
3 the daemon could not be started, stopped or swept (retryable).

The daemon holds an flock on <root>/sync-daemon.lock for its life, records itself in
<root>/sync-daemon (URL, port, control token, pid; mode 0600), logs to <root>/sync-daemon.log
and serves GET /api/health on 127.0.0.1 only.
",
    json_convention!(),
    environment!()
);

const DOCTOR_HELP: &str = concat!(
    "\
Without a repair flag doctor only reads: no file is written, no lock taken beyond a
non-blocking probe, no process signalled, no network beyond loopback daemon probes.

Exit codes: 0 no critical finding remains, 1 one does, 2 internal error.

Findings: F-001 no session, F-002 orphan daemons, F-003 stuck refresh lock, F-004 daemon
version mismatch, F-005 daemon not running or unhealthy, F-006 daemon memory differs from
disk, F-007 lock holder on another host, F-008 unreadable session file, F-009 unsafe file
modes, F-010 refresh token expired, F-011 leftover lock record, F-012 server refuses the
session (with --server), F-013 session file not accessible right now (fix the cause; never
delete), F-014 unusable daemon settings.
",
    json_convention!(),
    environment!()
);

const SYNC_HELP: &str = concat!(
    "\
Exit codes:
  0  success: the event is recorded (`enqueue`, whatever its final sync did), the queue was sent
     or had nothing to send, or nothing was sent because the session has no private teamspace
     (`now`: result \"skipped\", events kept)
  1  `now`: no usable session (none, unreadable, rejected or revoked by the server)
  2  usage: --payload is not JSON or the event type is not valid (nothing recorded), or
     configuration (SPEC_KITTY_SAAS_URL unset or malformed)
  3  retryable: the SaaS is unreachable or failing, the refresh lock or the queue is busy
  4  the queue database is damaged; it was left in place (move it aside to start a new one)

A final sync (`enqueue` with SPEC_KITTY_ENABLE_SAAS_SYNC truthy) never changes the exit code and
never drops an event; when it fails, stderr carries at most one line
  sync_diagnostic severity=warning diagnostic_code=<code> fatal=false sync_phase=final_sync message=<text>
with <code> one of sync.final_sync_lock_unavailable, sync.auth_refresh_in_progress,
sync.server_auth_failure, sync.direct_ingress_missing_private_team, sync.server_unreachable,
sync.batch_rejected.

With --json, stdout holds exactly one JSON object on every exit path:
  enqueue  {ok, result: \"success\"|\"error\", event{event_id, event_type, created_at}, queue_depth,
           final_sync{attempted, sent, duplicates, not_taken, batches, remaining, diagnostic_code}}
  now      {ok, result: delivered|nothing_to_send|partial|skipped|failed, sent, duplicates,
           not_taken, batches, remaining, diagnostic_code}
  status   {ok, queue_file, queue_depth, oldest_event_at, oldest_event_age_s,
           last_successful_sync_at, sync_enabled, daemon{state, pid, port, ...}, orphans[]}
and a failure adds \"error\": {code, message, exit_code}. See docs/sync.md.
",
    environment!()
);

/// `spec-kitty auth --help` and `spec-kitty sync --help`: what every subcommand shares.
const GROUP_HELP: &str = concat!(
    "Run `spec-kitty <group> <command> --help` for a command's exit codes and output.\n",
    json_convention!(),
    environment!()
);

const ROOT_HELP: &str = concat!(
    exit_codes!(),
    "  4  `sync`: the event queue database is damaged (left in place)\n",
    json_convention!(),
    environment!()
);

const AUTH_HELP: &str = concat!(exit_codes!(), json_convention!(), environment!());

const TOKEN_HELP: &str = concat!(
    exit_codes!(),
    "
stdout holds the token and nothing else; every message goes to stderr.
",
    environment!()
);

/// spec-kitty: keep a CLI login alive across many processes and checkouts.
#[derive(Debug, Parser)]
#[command(name = "spec-kitty", version = crate::VERSION, after_help = ROOT_HELP)]
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
    #[command(subcommand, after_help = GROUP_HELP)]
    Auth(AuthCommand),
    /// The sync queue and the per-user sync daemon: record, send, start, stop, inspect.
    #[command(subcommand, after_help = GROUP_HELP)]
    Sync(SyncCommand),
}

#[derive(Debug, Subcommand)]
enum SyncCommand {
    /// Record an event; with SPEC_KITTY_ENABLE_SAAS_SYNC on, then try once to send the queue.
    #[command(after_help = SYNC_HELP)]
    Enqueue(sync_cmds::EnqueueArgs),
    /// Send every queued event now.
    #[command(after_help = SYNC_HELP)]
    Now(sync_cmds::SyncJson),
    /// Show the queue (depth, oldest event, last successful sync), the daemon and any orphans
    /// (read-only).
    #[command(after_help = SYNC_HELP)]
    Status(sync_cmds::SyncJson),
    /// Ensure one sync daemon serves this runtime root (many concurrent starts converge on one).
    #[command(after_help = DAEMON_HELP)]
    Start(JsonFlag),
    /// Stop the sync daemon: authenticated shutdown, then a verified kill after a bounded wait.
    #[command(after_help = DAEMON_HELP)]
    Stop(JsonFlag),
    /// Replace the sync daemon with a fresh one of this version.
    #[command(after_help = DAEMON_HELP)]
    Restart(JsonFlag),
    /// Remove orphan daemons: never the active one, never a listener that is not ours.
    #[command(after_help = DAEMON_HELP)]
    Sweep(SweepArgs),
    /// Run the daemon in the foreground (what `sync start` spawns).
    #[command(hide = true)]
    Daemon,
}

#[derive(Debug, Args)]
struct SweepArgs {
    /// Also remove daemons serving another runtime root of this user.
    #[arg(long)]
    force: bool,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Show whether you are logged in, as whom, and how long the tokens last (no network).
    #[command(after_help = AUTH_HELP)]
    Status(JsonFlag),
    /// Print a valid access token on stdout, refreshing it first if it expires within 5 s.
    ///
    /// The scriptable way to get a token, keeping it out of every argv (where `ps` shows it):
    /// `spec-kitty auth token | sed 's/^/Authorization: Bearer /' | curl -H @- URL`.
    #[command(after_help = TOKEN_HELP)]
    Token,
    /// Log in with the device authorization flow (RFC 8628).
    #[command(after_help = AUTH_HELP)]
    Login(LoginArgs),
    /// Revoke the session at the server (best effort) and delete it locally.
    #[command(after_help = AUTH_HELP)]
    Logout(JsonFlag),
    /// Explain any auth or daemon problem and name the exact fix (read-only unless a repair
    /// flag is given).
    #[command(after_help = DOCTOR_HELP)]
    Doctor(DoctorFlags),
}

#[derive(Debug, Args)]
struct DoctorFlags {
    /// Print one JSON object (schema_version 1, see docs/doctor.md) instead of text.
    #[arg(long)]
    json: bool,
    /// Repair: stop orphan sync daemons (never the active one, never a listener not ours).
    #[arg(long)]
    reset: bool,
    /// Repair: clear a leftover lock record, or terminate a hung spec-kitty holder of yours.
    #[arg(long)]
    unstick_lock: bool,
    /// Ask the server whether the session is active (the one network check; may refresh).
    #[arg(long)]
    server: bool,
    /// Seconds after which a held refresh lock counts as stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::doctor::DEFAULT_STUCK_THRESHOLD_S)]
    stuck_threshold: u64,
}

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// Never open a browser (the URL and code to enter on any device are always printed;
    /// without this flag the page is also opened when a graphical session is visible).
    #[arg(long)]
    headless: bool,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the CLI with `args` (the first is the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let wants_json = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = e.exit_code();
            if wants_json && e.use_stderr() {
                // Still one JSON document: a script parsing stdout learns it was a usage error.
                // clap's own first line names what was wrong ("unrecognized subcommand 'x'").
                let rendered = e.render().to_string();
                let first = rendered.lines().next().unwrap_or_default();
                let detail = first.trim_start_matches("error:").trim();
                let message = if detail.is_empty() {
                    e.kind().as_str().unwrap_or("invalid arguments")
                } else {
                    detail
                };
                Output { json: true }.document_only(&Failure::new(code, "usage", message));
            }
            return code;
        }
    };
    // The daemon logs what it does (to its log file) unless told otherwise.
    let daemon = matches!(cli.command, Command::Sync(SyncCommand::Daemon));
    init_logging(if daemon {
        cli.verbose.max(1)
    } else {
        cli.verbose
    });
    let json = match &cli.command {
        Command::Auth(AuthCommand::Status(f) | AuthCommand::Logout(f)) => f.json,
        Command::Auth(AuthCommand::Login(a)) => a.json,
        Command::Auth(AuthCommand::Doctor(d)) => d.json,
        Command::Auth(AuthCommand::Token) => false,
        Command::Sync(SyncCommand::Start(f) | SyncCommand::Stop(f) | SyncCommand::Restart(f)) => {
            f.json
        }
        Command::Sync(SyncCommand::Sweep(a)) => a.json,
        Command::Sync(SyncCommand::Daemon) => false,
        Command::Sync(SyncCommand::Enqueue(a)) => a.json,
        Command::Sync(SyncCommand::Now(f) | SyncCommand::Status(f)) => f.json,
    };
    let out = Output { json };
    let root = match crate::paths::RuntimeRoot::from_env() {
        Ok(root) => root,
        Err(e) => return out.fail(&Failure::new(exit::USAGE, "config", e)),
    };
    match cli.command {
        Command::Auth(AuthCommand::Status(_)) => status::run(&root, out),
        Command::Auth(AuthCommand::Token) => session_cmds::token(&root),
        Command::Auth(AuthCommand::Login(args)) => login::run(&root, args.headless, out),
        Command::Auth(AuthCommand::Logout(_)) => session_cmds::logout(&root, out),
        Command::Auth(AuthCommand::Doctor(d)) => doctor_cmd::run(
            &root,
            out,
            &doctor_cmd::DoctorArgs {
                reset: d.reset,
                unstick_lock: d.unstick_lock,
                server: d.server,
                stuck_threshold: std::time::Duration::from_secs(d.stuck_threshold),
                verbose: cli.verbose > 0,
            },
        ),
        Command::Sync(SyncCommand::Start(_)) => daemon_cmds::start(&root, out, false),
        Command::Sync(SyncCommand::Restart(_)) => daemon_cmds::start(&root, out, true),
        Command::Sync(SyncCommand::Stop(_)) => daemon_cmds::stop(&root, out),
        Command::Sync(SyncCommand::Sweep(a)) => daemon_cmds::sweep(&root, out, a.force),
        Command::Sync(SyncCommand::Daemon) => daemon_cmds::run_daemon(&root),
        Command::Sync(SyncCommand::Enqueue(args)) => sync_cmds::enqueue(&root, &args, out),
        Command::Sync(SyncCommand::Now(_)) => sync_cmds::now(&root, out),
        Command::Sync(SyncCommand::Status(_)) => sync_cmds::status(&root, out),
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let filter = match std::env::var(crate::paths::LOG_ENV) {
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
                .with_ansi(output::stderr_colour())
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}
