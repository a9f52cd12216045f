//! The `spec-kitty` command line.
//!
//! Conventions (owned by [`output`]): stdout carries only the command's result (a token for
//! `auth token`, one JSON document with `--json`); everything else goes to stderr. No token is
//! ever printed except by `auth token`, whose job it is. Errors are one line that names the fix,
//! and every exit path of a `--json` command prints exactly one JSON document.

mod login;
pub mod output;
mod session_cmds;
mod status;

pub use output::exit;

use clap::{Args, Parser, Subcommand};
use output::{Failure, Output};
use std::ffi::OsString;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  not authenticated / re-login needed (stderr names the cause and `spec-kitty auth login`)
  2  usage or configuration error (e.g. SPEC_KITTY_SAAS_URL unset or malformed)
  3  retryable: refresh lock busy, network error or timeout; nothing was deleted

With --json, stdout holds exactly one JSON object on every exit path: {\"ok\": true, ...} on
success, {\"ok\": false, \"error\": {\"code\", \"message\", \"exit_code\"}, ...} on failure.

Environment:
  SPEC_KITTY_HOME       runtime root (default ~/.spec-kitty)
  SPEC_KITTY_SAAS_URL   SaaS base URL, http(s)://host[:port] (required for login, refresh, logout)
  SPEC_KITTY_LOG        log filter for stderr, e.g. `info` or `spec_kitty=debug`
  NO_COLOR              never colour the output";

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
    let json = match &cli.command {
        Command::Auth(AuthCommand::Status(f) | AuthCommand::Logout(f)) => f.json,
        Command::Auth(AuthCommand::Login(a)) => a.json,
        Command::Auth(AuthCommand::Token) => false,
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
