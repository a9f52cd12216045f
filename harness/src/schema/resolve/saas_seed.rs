//! `[saas]` and `[seed]` → the fake SaaS's config and the seeded state of the runtime root.
//!
//! Guarantees: the SaaS config passes `fake_saas`'s own validation (errors point at the key);
//! no port is fixed; every fault has a unique name so its firing can be checked; a corruption
//! makes exactly one change to a file something seeds.

use crate::schema::diagnostics::{kp, Ctx, KeyPath};
use crate::schema::model::{CorruptOp, Corruption, Seed, SeedLock, SeedSession};
use crate::schema::raw::{RawCorrupt, RawSeed};
use crate::schema::values::FileKind;
use fake_saas::{FaultSpec, SaasConfig};
use std::collections::BTreeSet;

/// Gives every unnamed fault the name fake-saas would give it, so `faults_fired` can be checked.
pub(crate) fn name_unnamed_faults(faults: &mut [FaultSpec]) {
    for (i, f) in faults.iter_mut().enumerate() {
        if f.name.is_none() {
            f.name = Some(format!("fault-{i}"));
        }
    }
}

/// `fault[1].probability` → `["fault", "1", "probability"]`.
pub(crate) fn config_key_path(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        match part.split_once('[') {
            Some((name, idx)) => {
                out.push(name.to_string());
                out.push(idx.trim_end_matches(']').to_string());
            }
            None => out.push(part.to_string()),
        }
    }
    out
}

/// Validates a `[saas]` table (at `path`).
pub(crate) fn resolve_saas(ctx: &mut Ctx, path: &[String], config: &SaasConfig) -> SaasConfig {
    if let Err(e) = config.validate() {
        let at = match &e {
            fake_saas::ConfigError::Invalid { key, .. } => {
                let mut p = path.to_vec();
                p.extend(config_key_path(key));
                p
            }
            _ => path.to_vec(),
        };
        ctx.err(
            &at,
            format!("[saas]: {e}"),
            Some("see the [saas] section in harness/SCENARIO_FORMAT.md".into()),
        );
    }
    if config.port.is_some() {
        ctx.err(
            &kp(path, &["port"]),
            "[saas] `port` cannot be set in a scenario",
            Some(
                "leave it unset: each scenario's fake SaaS listens on a port the OS chooses".into(),
            ),
        );
    }
    config.clone()
}

/// Fault names must be unique across `[[saas.fault]]` and `saas_fault` steps.
pub(crate) fn check_fault_names(
    ctx: &mut Ctx,
    config: &SaasConfig,
    step_faults: &[(KeyPath, String)],
) {
    let mut names: BTreeSet<String> = config
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| f.name.clone().unwrap_or_else(|| format!("fault-{i}")))
        .collect();
    for (at, name) in step_faults {
        if !names.insert(name.clone()) {
            ctx.err(
                at,
                format!("fault name {name:?} is used twice"),
                Some("unique fault names: each must be shown to have fired".into()),
            );
        }
    }
}

/// One `[[seed.corrupt]]` or `corrupt = {...}` table.
pub(crate) fn resolve_corrupt(
    ctx: &mut Ctx,
    path: &[String],
    r: &RawCorrupt,
) -> Option<Corruption> {
    let mut ops = Vec::new();
    if let Some(n) = r.truncate {
        ops.push(CorruptOp::Truncate(n));
    }
    if let Some(g) = &r.garbage {
        ops.push(CorruptOp::Garbage(g.clone()));
    }
    if let Some(a) = &r.append {
        ops.push(CorruptOp::Append(a.clone()));
    }
    match r.delete {
        Some(true) => ops.push(CorruptOp::Delete),
        Some(false) => ctx.err(
            &kp(path, &["delete"]),
            "`delete = false` does nothing",
            Some("`delete = true`, or remove the key".into()),
        ),
        None => {}
    }
    if let Some(m) = r.mode {
        if m > 0o7777 {
            ctx.err(
                &kp(path, &["mode"]),
                format!("mode {m} is not a file mode"),
                Some("an octal mode such as 0o644".into()),
            );
        }
        ops.push(CorruptOp::Mode(m));
    }
    if ops.len() != 1 {
        ctx.err(
            path,
            format!("a corruption needs exactly one change, found {}", ops.len()),
            Some("one of `truncate = N`, `garbage = \"text\"`, `append = \"text\"`, `delete = true`, `mode = 0o644` (use several entries to combine)".into()),
        );
        return None;
    }
    Some(Corruption {
        file: r.file,
        op: ops.remove(0),
    })
}

/// A `[seed]` table (at `path`).
pub(crate) fn resolve_seed(ctx: &mut Ctx, path: &[String], raw: &RawSeed) -> Seed {
    let session = raw.session.as_ref().map(|r| SeedSession {
        access_expires_in_s: r.access_expires_in_s.unwrap_or(3600),
        refresh_expires_in_s: r.refresh_expires_in_s.unwrap_or(2_592_000),
        refresh_expiry_known: r.refresh_expiry_known.unwrap_or(true),
        generation: r.generation,
    });
    let lock = raw.lock.as_ref().map(|r| {
        if r.pid == Some(0) {
            ctx.err(
                &kp(path, &["lock", "pid"]),
                "`pid = 0` is not a process",
                Some("a pid, e.g. 4194304 (above Linux's pid_max: surely dead)".into()),
            );
        }
        SeedLock {
            pid: r.pid.unwrap_or(4_194_304),
            host: r.host.clone(),
            age_s: r.age_s.unwrap_or(3600),
            version: r.version.clone().unwrap_or_else(|| "3.2.7".to_string()),
        }
    });
    let mut corrupt = Vec::new();
    for (i, c) in raw.corrupt.iter().enumerate() {
        let cpath = kp(path, &["corrupt", &i.to_string()]);
        if let Some(c2) = resolve_corrupt(ctx, &cpath, c) {
            let needs_file = !matches!(c2.op, CorruptOp::Garbage(_));
            let missing = match c2.file {
                FileKind::Session | FileKind::Salt => session.is_none(),
                FileKind::RefreshLock => lock.is_none(),
                // Daemons create these; nothing seeds them.
                FileKind::DaemonState | FileKind::DaemonLock => true,
            };
            if needs_file && missing {
                ctx.err(
                    &kp(&cpath, &["file"]),
                    format!("cannot {c2}: nothing seeds that file"),
                    Some("a [seed.session] (session, salt) or [seed.lock] (refresh_lock) table, or `garbage = \"...\"` to create the file".into()),
                );
            }
            corrupt.push(c2);
        }
    }
    Seed {
        session,
        lock,
        corrupt,
    }
}
