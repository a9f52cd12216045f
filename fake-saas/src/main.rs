//! `fake-saas`: run the fake SaaS standalone.
//!
//! Prints its URL as the first stdout line (so a script can read it), logs one line per request
//! to stderr, binds 127.0.0.1 only, and exits 0 on SIGTERM or Ctrl-C. A bad configuration is one
//! stderr line naming the key, exit 2.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fake_saas::{FakeSaas, SaasConfig, StartOptions};

/// A stateful fake of the spec-kitty SaaS: OAuth token endpoint with refresh-token rotation and
/// reuse detection, device authorization, bearer APIs, fault injection and a request journal.
///
/// Prints its URL (http://127.0.0.1:PORT) as the first line of stdout, logs each request to
/// stderr, and stops cleanly on SIGTERM or Ctrl-C. Inspect and control it under /__admin/
/// (journal, counters, faults, sessions, seed, reset): see the crate README.
#[derive(Debug, Parser)]
#[command(name = "fake-saas", version)]
struct Args {
    /// TOML configuration (the same schema as a scenario's [saas] section). Defaults: rotation
    /// on, reuse = "reject", one default user.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Port on 127.0.0.1 (overrides `port` in the config; default: chosen by the OS).
    #[arg(long, value_name = "N")]
    port: Option<u16>,

    /// Do not log requests to stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("fake-saas: cannot read {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            match SaasConfig::from_toml_str(&text) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("fake-saas: invalid config {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        None => SaasConfig::default(),
    };
    if let Some(port) = args.port {
        if port == 0 {
            eprintln!("fake-saas: --port 0 is not a port: omit --port to let the OS choose");
            return ExitCode::from(2);
        }
        config.port = Some(port);
    }

    // Signal handlers go in before the URL is printed: whoever reads the URL may send SIGTERM
    // at once, and it must not hit the default action (death by signal, not exit 0).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-saas: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signals = runtime.block_on(async { Signals::install() });
    let signals = match signals {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake-saas: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };

    let saas = match FakeSaas::start_with(
        config,
        StartOptions {
            log_requests: !args.quiet,
        },
    ) {
        Ok(saas) => saas,
        Err(e @ fake_saas::FakeSaasError::Config(_)) => {
            eprintln!("fake-saas: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("fake-saas: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", saas.url())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        // Nobody can learn the URL: no point in serving.
        return ExitCode::FAILURE;
    }
    drop(stdout);
    eprintln!(
        "fake-saas: listening on {} (admin API under /__admin/)",
        saas.url()
    );

    let which = runtime.block_on(signals.wait());
    drop(runtime);
    eprintln!("fake-saas: {which}, shutting down");
    saas.shutdown();
    ExitCode::SUCCESS
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn wait(self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
