//! The sync expectations: `expect.diagnostics` (the `sync_diagnostic` code each process printed,
//! or `"none"`), `expect.queue_depth` (events left in the sync queue) and `[expect.saas.events]`
//! (`delivered`, `received`, `exactly_once`).
//!
//! Guarantees: a diagnostic code is one `spec_kitty::sync` can emit (a code the implementation
//! never emits is refused with the reason, so no scenario waits for the impossible);
//! `exactly_once` needs a process that runs `sync enqueue`; a table asserts something.

use super::processes::Names;
use crate::schema::diagnostics::{kp, Ctx};
use crate::schema::model::{EventsExpect, Expect};
use crate::schema::raw::RawExpectEvents;
use spec_kitty::sync::{DiagnosticCode, NEVER_EMITTED};
use std::collections::BTreeMap;

/// `expect.diagnostics` value meaning "no `sync_diagnostic` line at all".
pub(crate) const NO_DIAGNOSTIC: &str = "none";

/// Resolves `expect.diagnostics` at `base` into `x`.
pub(crate) fn resolve_diagnostics(
    ctx: &mut Ctx,
    base: &[String],
    raw: Option<&BTreeMap<String, String>>,
    names: &Names,
    x: &mut Expect,
) {
    let codes: Vec<&str> = DiagnosticCode::ALL.iter().map(|c| c.as_str()).collect();
    for (group, code) in raw.into_iter().flatten() {
        let path = kp(base, &["diagnostics", group]);
        let Some(members) = names.expand(group) else {
            ctx.err(
                &path,
                format!("`expect.diagnostics` names unknown process {group:?}"),
                Some(format!(
                    "one of the declared processes: {}",
                    names.listing()
                )),
            );
            continue;
        };
        let want = if code == NO_DIAGNOSTIC {
            None
        } else if let Some((_, why)) = NEVER_EMITTED.iter().find(|(c, _)| c == code) {
            ctx.err(
                &path,
                format!("{code} is never emitted by this implementation: {why}"),
                Some(format!("one of {}, or \"none\"", codes.join(", "))),
            );
            None
        } else if codes.contains(&code.as_str()) {
            Some(code.clone())
        } else {
            ctx.err(
                &path,
                format!("unknown diagnostic code {code:?}"),
                Some(format!("one of {}, or \"none\"", codes.join(", "))),
            );
            None
        };
        for m in members {
            x.diagnostics.insert(m, want.clone());
        }
    }
}

/// Resolves `[expect.saas.events]` at `path`.
pub(crate) fn resolve_events(
    ctx: &mut Ctx,
    path: &[String],
    raw: &RawExpectEvents,
    names: &Names,
) -> EventsExpect {
    let exactly_once = raw.exactly_once.unwrap_or(false);
    if raw.exactly_once == Some(false) {
        ctx.err(
            &kp(path, &["exactly_once"]),
            "`exactly_once = false` asserts nothing",
            Some("exactly_once = true, or remove the key".into()),
        );
    }
    if exactly_once && names.enqueue.is_empty() {
        ctx.err(
            &kp(path, &["exactly_once"]),
            "`exactly_once` compares what `sync enqueue` processes recorded, and none is declared",
            Some("a process with args = [\"sync\", \"enqueue\", \"<type>\", ...]".into()),
        );
    }
    if raw.delivered.is_none() && raw.received.is_none() && !exactly_once {
        ctx.err(
            path,
            "[expect.saas.events] asserts nothing",
            Some("delivered = 2, received = 2, exactly_once = true".into()),
        );
    }
    EventsExpect {
        delivered: raw.delivered,
        received: raw.received,
        exactly_once,
    }
}
