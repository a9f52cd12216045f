//! `[[process]]` → [`ProcessSpec`]s (replicas expanded) and the [`Names`] every later stage
//! resolves process references against.
//!
//! Guarantees: names are valid and unique; a process is either a `spec-kitty` command line or the
//! legacy client; `env` never sets a variable the runner owns; a point fault names a point the
//! process can actually reach (a `legacy.*` point only on the legacy client).

use crate::schema::diagnostics::{kp, Ctx};
use crate::schema::model::{PointFault, ProcessSpec, Program, MAX_REPLICAS};
use crate::schema::points::{is_known_point, is_legacy_point, known_points, EXIT, START};
use crate::schema::raw::RawProcess;
use crate::schema::values::{errno_of, PointAction, ERRNOS};
use std::collections::{BTreeMap, BTreeSet};

/// Environment variables a scenario may not set through `env` (the runner owns them).
const RESERVED_ENV: &[(&str, &str)] = &[
    (
        "SPEC_KITTY_HOME",
        "the runner sets it to the scenario's temp runtime root",
    ),
    (
        "SPEC_KITTY_SAAS_URL",
        "the runner points it at the embedded fake SaaS",
    ),
    (
        crate::child_env::SOCKET,
        "the runner sets it to its sync-point socket",
    ),
    (
        crate::child_env::PROCESS,
        "the runner sets it to the process name",
    ),
    (
        crate::child_env::LOCK_WAIT_MS,
        "use `lock_wait_ms = N` on the process",
    ),
    (
        crate::child_env::REFRESH_CEILING_MS,
        "use `refresh_ceiling_ms = N` on the process",
    ),
    (
        crate::child_env::CLOCK_OFFSET_S,
        "use `clock_offset_s = N` on the process",
    ),
    (
        crate::child_env::DAEMON_VERSION,
        "use `daemon_version = \"x.y.z\"` on the process",
    ),
    (
        crate::child_env::BROKEN,
        "use `broken = \"stale_rejection_deletes\"` on the process (test-only)",
    ),
    (
        "HOME",
        "the runner sets it to the scenario's temp directory",
    ),
];

/// Whether `name` is a valid process or variant name.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Names of declared processes and groups.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// group → replica names (a process without replicas is its own single-member group).
    pub(crate) groups: BTreeMap<String, Vec<String>>,
    /// every concrete process name, in declaration order.
    pub(crate) all: Vec<String>,
    /// processes whose stdout is JSON.
    pub(crate) json: BTreeSet<String>,
    /// processes that run the legacy client.
    pub(crate) legacy: BTreeSet<String>,
    /// processes that run an external `command` (they reach no sync point).
    pub(crate) external: BTreeSet<String>,
    /// processes that run `spec-kitty sync enqueue`.
    pub(crate) enqueue: BTreeSet<String>,
    /// group → index of its `[[process]]` table.
    pub(crate) index: BTreeMap<String, usize>,
}

impl Names {
    /// The processes a name stands for (a group's replicas, or the process itself).
    pub(crate) fn expand(&self, name: &str) -> Option<Vec<String>> {
        if let Some(members) = self.groups.get(name) {
            return Some(members.clone());
        }
        self.all
            .iter()
            .any(|n| n == name)
            .then(|| vec![name.to_string()])
    }

    /// Every name a scenario may use, for messages.
    pub(crate) fn listing(&self) -> String {
        let mut names: Vec<String> = self.groups.keys().cloned().collect();
        for n in &self.all {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names.join(", ")
    }

    /// Records an error when `point` can never be reached by `process` (a `legacy.*` point on
    /// a `spec-kitty` process), so the scenario fails at `check`, not at run time.
    pub(crate) fn check_reachable(
        &self,
        ctx: &mut Ctx,
        path: &[String],
        process: &str,
        point: &str,
    ) {
        if self.external.contains(process) && point != START && point != EXIT {
            ctx.err(
                path,
                format!(
                    "process `{process}` runs an external command and reaches no sync point ({point:?})"
                ),
                Some("\"exit\" (or \"start\" in `order` and `timing`); hold the other processes at their points meanwhile".into()),
            );
        } else if is_legacy_point(point) && !self.legacy.contains(process) {
            ctx.err(
                path,
                format!(
                    "process `{process}` runs spec-kitty and never reaches {point:?}: only the legacy client (legacy = true) reports legacy.* points"
                ),
                Some(format!(
                    "a spec-kitty point: {}",
                    crate::schema::points::production_points().join(", ")
                )),
            );
        }
    }
}

/// Resolves every `[[process]]` in order.
pub(crate) fn resolve_processes(
    ctx: &mut Ctx,
    base: &[String],
    raw: &[RawProcess],
) -> (Vec<ProcessSpec>, Names) {
    let mut out = Vec::new();
    let mut names = Names::default();
    for (i, p) in raw.iter().enumerate() {
        resolve_process(ctx, base, i, p, &mut out, &mut names);
    }
    (out, names)
}

fn program(ctx: &mut Ctx, base: &[String], r: &RawProcess) -> Program {
    if let Some(n) = r.threads {
        if r.args.is_some() || r.legacy.is_some() || r.command.is_some() {
            ctx.err(
                &kp(base, &["threads"]),
                "`threads` runs N threads of `auth token` in one process: it does not go with `args`, `legacy` or `command`",
                Some("threads = 8 alone".into()),
            );
        }
        if n == 0 || n > crate::threads::MAX_THREADS {
            ctx.err(
                &kp(base, &["threads"]),
                format!("`threads = {n}` is out of range"),
                Some(format!("1..={}", crate::threads::MAX_THREADS)),
            );
        }
        return Program::Threads(n.clamp(1, crate::threads::MAX_THREADS));
    }
    if let Some(argv) = &r.command {
        if r.args.is_some() || r.legacy.is_some() {
            ctx.err(
                &kp(base, &["command"]),
                "`command` runs a program of its own: it does not go with `args` or `legacy`",
                Some("command = [\"{python_spec_kitty}\", \"auth\", \"doctor\", \"--server\"], or args = [...] for spec-kitty".into()),
            );
        }
        match argv.first() {
            None => ctx.err(
                &kp(base, &["command"]),
                "`command` is empty",
                Some("the program and its arguments, e.g. command = [\"sh\", \"-c\", \"cat auth/session.json\"]".into()),
            ),
            Some(program) if program.is_empty() => ctx.err(
                &kp(base, &["command", "0"]),
                "the program name is empty",
                None,
            ),
            Some(_) => {}
        }
        for (i, a) in argv.iter().enumerate() {
            if let Some(unknown) = crate::python::unknown_placeholder(a) {
                ctx.err(
                    &kp(base, &["command", &i.to_string()]),
                    format!("unknown placeholder {unknown:?}"),
                    Some(format!(
                        "{} (the Python original's executable)",
                        crate::python::PLACEHOLDER
                    )),
                );
            }
        }
        return Program::Command(argv.clone());
    }
    match (&r.args, r.legacy.unwrap_or(false)) {
        (Some(args), false) => {
            if args.is_empty() {
                ctx.err(
                    &kp(base, &["args"]),
                    "`args` is empty",
                    Some("spec-kitty arguments, e.g. args = [\"auth\", \"token\"]".into()),
                );
            }
            Program::SpecKitty(args.clone())
        }
        (args, true) => {
            let args = args.clone().unwrap_or_default();
            for (i, a) in args.iter().enumerate() {
                if !crate::legacy::FLAGS.contains(&a.as_str()) {
                    ctx.err(
                        &kp(base, &["args", &i.to_string()]),
                        format!("the legacy client does not take {a:?}"),
                        Some("no args, or any of \"--force\" (refresh even when the access token is still valid) and \"--no-locks\" (also ignore session.lock, as the oldest clients did)".into()),
                    );
                }
            }
            Program::Legacy(args)
        }
        (None, false) => {
            ctx.err(
                &kp(base, &["name"]),
                format!("process `{}` has none of `args`, `legacy = true`, `command`, `threads`", r.name),
                Some("args = [\"auth\", \"token\"] (a spec-kitty command line without the program name), legacy = true, or command = [\"program\", \"arg\"]".into()),
            );
            Program::SpecKitty(Vec::new())
        }
    }
}

/// An external program has no test hooks: a key that works through them (faults at points, the
/// overrides, a broken build) could never act on it, so `check` refuses it.
fn refuse_hook_keys(ctx: &mut Ctx, base: &[String], r: &RawProcess) {
    let set = [
        ("fault", !r.faults.is_empty()),
        ("broken", r.broken.is_some()),
        ("lock_wait_ms", r.lock_wait_ms.is_some()),
        ("refresh_ceiling_ms", r.refresh_ceiling_ms.is_some()),
        ("clock_offset_s", r.clock_offset_s.is_some()),
        ("daemon_version", r.daemon_version.is_some()),
    ];
    for (key, present) in set {
        if present {
            ctx.err(
                &kp(base, &[key]),
                format!(
                    "process `{}` runs an external command, which reaches no sync point and installs no test hook: `{key}` could never act on it",
                    r.name
                ),
                Some("remove the key; order the command with `until = \"exit\"` while the other processes are held".into()),
            );
        }
    }
}

fn environment(ctx: &mut Ctx, base: &[String], r: &RawProcess) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in r.env.iter().flatten() {
        let at = kp(base, &["env", k]);
        if let Some((_, why)) = RESERVED_ENV.iter().find(|(n, _)| n == k) {
            ctx.err(
                &at,
                format!("`env` may not set {k}"),
                Some((*why).to_string()),
            );
        } else if k.is_empty() || k.contains('=') || k.contains('\0') {
            ctx.err(
                &at,
                format!("{k:?} is not an environment variable name"),
                None,
            );
        }
        env.insert(k.clone(), v.clone());
    }
    env
}

fn faults(ctx: &mut Ctx, base: &[String], r: &RawProcess, legacy: bool) -> Vec<PointFault> {
    let mut faults = Vec::new();
    for (i, fr) in r.faults.iter().enumerate() {
        let fpath = kp(base, &["fault", &i.to_string()]);
        let point = &fr.point;
        if !is_known_point(point) {
            ctx.err(
                &kp(&fpath, &["point"]),
                format!("unknown sync point {point:?}"),
                Some(format!("one of {}", known_points().join(", "))),
            );
        } else if is_legacy_point(point) && !legacy {
            ctx.err(
                &kp(&fpath, &["point"]),
                format!(
                    "process `{}` runs spec-kitty and never reaches {point:?}: the fault could never fire",
                    r.name
                ),
                Some(format!(
                    "a spec-kitty point ({}), or legacy = true on the process",
                    crate::schema::points::production_points().join(", ")
                )),
            );
        }
        if fr.nth == Some(0) {
            ctx.err(
                &kp(&fpath, &["nth"]),
                "`nth` is 1-based",
                Some("nth = 1 for the first time the point is reached".into()),
            );
        }
        if fr.action != PointAction::IoFault && (fr.op.is_some() || fr.errno.is_some()) {
            ctx.err(
                &kp(&fpath, &["action"]),
                "`op` and `errno` are only for action = \"io_fault\"",
                None,
            );
        }
        let mut io = None;
        match fr.action {
            PointAction::IoFault => {
                let errno = match fr.errno.as_deref().map(|e| (e, errno_of(e))) {
                    Some((name, Some(n))) => Some((name.to_string(), n)),
                    Some((name, None)) => {
                        ctx.err(
                            &kp(&fpath, &["errno"]),
                            format!("unknown errno {name:?}"),
                            Some(format!("one of {}", ERRNOS.map(|(n, _)| n).join(", "))),
                        );
                        None
                    }
                    None => {
                        ctx.err(
                            &kp(&fpath, &["action"]),
                            "action = \"io_fault\" needs `op` and `errno`",
                            Some("op = \"session_write\", errno = \"ENOSPC\"".into()),
                        );
                        None
                    }
                };
                match (fr.op, errno) {
                    (Some(op), Some((name, n))) => io = Some((op, name, n)),
                    (None, _) => ctx.err(
                        &kp(&fpath, &["action"]),
                        "action = \"io_fault\" needs `op`",
                        Some("op = \"session_write\" | \"session_delete\" | \"session_read\" | \"lock_record_write\"".into()),
                    ),
                    _ => {}
                }
                if fr.ms.is_some() || fr.message.is_some() {
                    ctx.err(
                        &kp(&fpath, &["action"]),
                        "`ms` and `message` are not for action = \"io_fault\"",
                        None,
                    );
                }
            }
            PointAction::Fail if fr.ms.is_some() => ctx.err(
                &kp(&fpath, &["ms"]),
                "`ms` is only for action = \"sleep\"",
                None,
            ),
            PointAction::Fail => {}
            PointAction::Sleep => {
                if fr.ms.is_none() {
                    ctx.err(
                        &kp(&fpath, &["action"]),
                        "action = \"sleep\" needs `ms`",
                        Some("ms = 200".into()),
                    );
                }
                if fr.message.is_some() {
                    ctx.err(
                        &kp(&fpath, &["message"]),
                        "`message` is only for action = \"fail\"",
                        None,
                    );
                }
            }
        }
        faults.push(PointFault {
            point: point.clone(),
            nth: fr.nth.unwrap_or(1).max(1),
            action: fr.action,
            message: fr
                .message
                .clone()
                .unwrap_or_else(|| format!("injected failure at {point}")),
            ms: fr.ms.unwrap_or(0),
            io,
        });
    }
    faults
}

fn resolve_process(
    ctx: &mut Ctx,
    at: &[String],
    index: usize,
    r: &RawProcess,
    out: &mut Vec<ProcessSpec>,
    names: &mut Names,
) {
    let base = kp(at, &["process", &index.to_string()]);
    let name = r.name.clone();
    if !valid_name(&name) {
        ctx.err(
            &kp(&base, &["name"]),
            format!("process name {name:?} is not a valid name"),
            Some("1-32 letters, digits, `_` or `-`, starting with a letter".into()),
        );
    }
    if names.groups.contains_key(&name) || names.all.contains(&name) {
        ctx.err(
            &kp(&base, &["name"]),
            format!("duplicate process name {name:?}"),
            Some("unique names".into()),
        );
        return;
    }
    names.index.insert(name.clone(), index);
    let program = program(ctx, &base, r);
    if r.legacy == Some(false) {
        ctx.err(
            &kp(&base, &["legacy"]),
            "`legacy = false` is the default",
            Some("remove the key".into()),
        );
    }
    let legacy = matches!(program, Program::Legacy(_));
    if legacy && r.broken.is_some() {
        ctx.err(
            &kp(&base, &["broken"]),
            "`broken` switches a spec-kitty build; the legacy client is not one",
            Some("remove `broken`, or put it on a process with `args`".into()),
        );
    }
    let external = matches!(program, Program::Command(_));
    if external {
        refuse_hook_keys(ctx, &base, r);
    }
    let env = environment(ctx, &base, r);
    let faults = faults(ctx, &base, r, legacy);
    let replicas = r.replicas.map(|v| {
        if v == 0 || v > MAX_REPLICAS {
            ctx.err(
                &kp(&base, &["replicas"]),
                format!("`replicas = {v}` is out of range"),
                Some(format!("1..={MAX_REPLICAS}")),
            );
        }
        v.clamp(1, MAX_REPLICAS)
    });
    let members: Vec<String> = match replicas {
        Some(n) => (1..=n).map(|i| format!("{name}#{i}")).collect(),
        None => vec![name.clone()],
    };
    for m in &members {
        let spec = ProcessSpec {
            name: m.clone(),
            group: name.clone(),
            program: program.clone(),
            env: env.clone(),
            clock_offset_s: r.clock_offset_s,
            daemon_version: r.daemon_version.clone(),
            lock_wait_ms: r.lock_wait_ms,
            refresh_ceiling_ms: r.refresh_ceiling_ms,
            broken: r.broken,
            faults: faults.clone(),
        };
        if spec.wants_json() {
            names.json.insert(m.clone());
        }
        if legacy {
            names.legacy.insert(m.clone());
        }
        if external {
            names.external.insert(m.clone());
        }
        if spec.records_events() {
            names.enqueue.insert(m.clone());
        }
        names.all.push(m.clone());
        out.push(spec);
    }
    names.groups.insert(name, members);
}
