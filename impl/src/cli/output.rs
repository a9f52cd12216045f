//! How every command reports: the exit codes, the one-line error on stderr, the single JSON
//! document on stdout with `--json`, and whether colour is allowed.
//!
//! Why one owner: scripts parse `--json` and exit codes together, so every command follows one
//! convention on every exit path. Success and failure documents are both one JSON object with
//! `"ok"`; a failure carries `"error": {"code", "message", "exit_code"}` (plus whatever state the
//! command can still report), and `ok` is true exactly when the exit code is 0.

use crate::refresh::AuthError;
use serde::Serialize;
use std::io::IsTerminal;

/// Exit codes shared by every command (owned by [`crate::exit`]).
pub use crate::exit;

/// A failure as every command reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Stable machine-readable code (`not_logged_in`, `lock_busy`, `config`, ...).
    pub code: String,
    /// The one-line message a person reads (also printed on stderr).
    pub message: String,
    /// The process exit code.
    pub exit_code: i32,
}

impl Failure {
    pub fn new(exit_code: i32, code: &str, message: impl std::fmt::Display) -> Self {
        Failure {
            code: code.to_string(),
            message: message.to_string(),
            exit_code,
        }
    }
}

impl From<&AuthError> for Failure {
    fn from(e: &AuthError) -> Self {
        Failure::new(e.exit_code(), e.code(), e)
    }
}

/// A `--json` document: the command's fields, flattened, plus `ok` and an optional `error`.
#[derive(Serialize)]
struct Document<'a, T: Serialize> {
    ok: bool,
    #[serde(flatten)]
    body: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Failure>,
}

/// Where a command's result goes: one JSON document on stdout, or text.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Reports success: `body` as the JSON document (with `"ok": true`), or `human` text.
    pub fn success<T: Serialize>(&self, body: &T, human: impl FnOnce()) -> i32 {
        if self.json {
            print_document(&Document {
                ok: true,
                body,
                error: None,
            });
        } else {
            human();
        }
        exit::OK
    }

    /// Reports a failure: one line on stderr always, and with `--json` one document carrying
    /// `body`'s fields and the error. Returns the exit code.
    pub fn failure<T: Serialize>(&self, body: &T, failure: &Failure) -> i32 {
        eprintln!("error: {}", failure.message);
        if self.json {
            print_document(&Document {
                ok: false,
                body,
                error: Some(failure),
            });
        }
        failure.exit_code
    }

    /// Prints only the JSON failure document (the message is already on stderr, e.g. from the
    /// argument parser). Returns the exit code.
    pub fn document_only(&self, failure: &Failure) -> i32 {
        if self.json {
            print_document(&Document {
                ok: false,
                body: &serde_json::Map::new(),
                error: Some(failure),
            });
        }
        failure.exit_code
    }

    /// A failure with no command-specific fields.
    pub fn fail(&self, failure: &Failure) -> i32 {
        self.failure(&serde_json::Map::new(), failure)
    }
}

fn print_document<T: Serialize>(doc: &T) {
    match serde_json::to_string(doc) {
        Ok(text) => println!("{text}"),
        // Unreachable for the plain data printed here; still one JSON document.
        Err(e) => println!(
            "{{\"ok\": false, \"error\": {{\"code\": \"internal\", \"message\": {:?}, \"exit_code\": 2}}}}",
            e.to_string()
        ),
    }
}

/// Whether colour may be written to stderr: only on a terminal, never with `NO_COLOR` set or
/// `TERM=dumb`.
pub fn stderr_colour() -> bool {
    colour_allowed() && std::io::stderr().is_terminal()
}

/// Whether colour may be written to stdout (same rules).
pub fn stdout_colour() -> bool {
    colour_allowed() && std::io::stdout().is_terminal()
}

fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}
