//! The human form of the doctor report, in sections (identity, tokens, storage, refresh lock,
//! daemon, orphans, findings), coloured only when allowed. Rendered from the same [`Report`] the
//! JSON is, so the two always agree.

use super::findings::Severity;
use super::Report;
use std::fmt::Write as _;

/// ANSI styles, or nothing when colour is not allowed.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }
    fn heading(&self, text: &str) -> String {
        self.paint("1", text)
    }
    fn severity(&self, s: Severity) -> String {
        match s {
            Severity::Critical => self.paint("1;31", "CRITICAL"),
            Severity::Warn => self.paint("33", "WARN"),
            Severity::Info => self.paint("36", "INFO"),
        }
    }
}

/// The report as text; `colour` only when stdout is a terminal and `NO_COLOR` is unset.
pub fn render(r: &Report, colour: bool) -> String {
    let st = Style { on: colour };
    let f = &r.facts;
    let s = &f.session;
    let mut out = String::new();
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "spec-kitty auth doctor — {} ({})",
        f.auth_root, f.generated_at
    );

    let _ = writeln!(out, "\n{}", st.heading("Identity"));
    let _ = writeln!(out, "  session:        {} ({})", s.state, s.file);
    if let Some(e) = &s.error {
        let _ = writeln!(out, "  problem:        {e}");
    }
    if let Some(e) = &s.ended {
        let _ = writeln!(out, "  last ended:     {} ({})", e.message, e.at);
    }
    if s.state == "present" {
        let _ = writeln!(
            out,
            "  user:           {} <{}>",
            or(&s.user_id),
            or(&s.email)
        );
        let _ = writeln!(out, "  session id:     {}", or(&s.session_id));
    }

    let _ = writeln!(out, "\n{}", st.heading("Tokens"));
    if s.state == "present" {
        let _ = writeln!(
            out,
            "  access token:   expires {} ({} s)",
            or(&s.access_token_expires_at),
            s.access_expires_in_s.unwrap_or(0)
        );
        let refresh = match (&s.refresh_token_expires_at, s.refresh_expires_in_s) {
            (Some(at), Some(left)) => format!("expires {at} ({left} s)"),
            _ => "lifetime unknown".into(),
        };
        let _ = writeln!(
            out,
            "  refresh token:  {refresh}{}",
            if s.refresh_expired {
                " — EXPIRED"
            } else {
                ""
            }
        );
        if let Some(c) = &s.server_check {
            let _ = writeln!(
                out,
                "  server says:    {}{}",
                c.state,
                c.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
    } else {
        let _ = writeln!(out, "  none");
    }

    let _ = writeln!(out, "\n{}", st.heading("Storage"));
    let _ = writeln!(
        out,
        "  backend:        {} ({})",
        s.storage_backend.clone().unwrap_or_else(|| "file".into()),
        s.auth_method.clone().unwrap_or_else(|| "-".into())
    );
    if f.unsafe_modes.is_empty() {
        let _ = writeln!(out, "  modes:          private");
    }
    for m in &f.unsafe_modes {
        let _ = writeln!(
            out,
            "  unsafe mode:    {} is {} (expected {})",
            m.path, m.mode, m.expected
        );
    }

    let l = &f.refresh_lock;
    let _ = writeln!(out, "\n{}", st.heading("Refresh lock"));
    let _ = writeln!(
        out,
        "  state:          {} (record: {}; stuck after {} s)",
        if l.held { "held" } else { "unheld" },
        l.record,
        l.stuck_threshold_s
    );
    if let Some(h) = &l.holder {
        let _ = writeln!(
            out,
            "  holder:         pid {} on {} since {} ({} s){}",
            h.pid,
            h.host,
            h.started_at,
            h.age_s.map(|a| a.to_string()).unwrap_or_else(|| "?".into()),
            match h.holds_flock {
                Some(true) => ", holds the flock",
                Some(false) => ", does not hold the flock",
                None => "",
            }
        );
    }

    let d = &f.daemon;
    let _ = writeln!(out, "\n{}", st.heading("Daemon"));
    let _ = writeln!(
        out,
        "  state:          {}",
        serde_json::to_value(d.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    if let (Some(pid), Some(port)) = (d.pid, d.port) {
        let _ = writeln!(
            out,
            "  recorded:       pid {pid} on 127.0.0.1:{port}, version {} (this CLI: {})",
            d.package_version.as_deref().unwrap_or("?"),
            d.expected_version
        );
    }

    let _ = writeln!(out, "\n{}", st.heading("Orphans"));
    if f.orphans.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for o in &f.orphans {
        let _ = writeln!(
            out,
            "  pid {} on port {} (version {}, root {})",
            o.pid.unwrap_or(0),
            o.port,
            o.package_version.as_deref().unwrap_or("?"),
            o.runtime_root.as_deref().unwrap_or("?")
        );
    }

    if !r.repairs.is_empty() {
        let _ = writeln!(out, "\n{}", st.heading("Repairs"));
        for rep in &r.repairs {
            let _ = writeln!(out, "  {}: {}", rep.action, rep.result);
        }
    }

    let _ = writeln!(out, "\n{}", st.heading("Findings"));
    if r.findings.is_empty() {
        let _ = writeln!(out, "  No problems detected.");
    }
    for fi in &r.findings {
        let _ = writeln!(
            out,
            "  {} {} {}",
            st.severity(fi.severity),
            fi.id,
            fi.summary
        );
        let _ = writeln!(out, "      fix: {}", fi.remediation.command);
        let _ = writeln!(out, "           {}", fi.remediation.description);
    }
    out
}
