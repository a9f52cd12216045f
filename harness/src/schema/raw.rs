//! The raw (serde) structures a scenario file deserialises into: the first of the two stages
//! (raw, then the resolved model). Strict: unknown keys are errors, and serde names the keys and
//! values it accepts.

use super::values::{
    AlwaysSession, Broken, DecoyKind, ExitSet, FileKind, IoOpName, LockAction, LockContent,
    OneOrMany, OrderChains, PointAction, SaasAction, ServerState, SessionState, TokenName,
};
use fake_saas::{FaultSpec, SaasConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) scenario: RawMeta,
    #[serde(default)]
    pub(super) saas: Option<SaasConfig>,
    #[serde(default)]
    pub(super) seed: Option<RawSeed>,
    #[serde(default, rename = "process")]
    pub(super) processes: Vec<RawProcess>,
    #[serde(default, rename = "step")]
    pub(super) steps: Vec<RawStep>,
    #[serde(default)]
    pub(super) expect: Option<RawExpect>,
    #[serde(default)]
    pub(super) explore: Option<RawExplore>,
    #[serde(default)]
    pub(super) expect_always: Option<RawExpectAlways>,
    #[serde(default, rename = "variant")]
    pub(super) variants: Vec<RawVariant>,
}

/// `[explore]`: how `scenario explore` orders the processes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExplore {
    #[serde(default)]
    pub(super) points: Option<Vec<String>>,
    #[serde(default)]
    pub(super) kill_points: Option<Vec<String>>,
    #[serde(default)]
    pub(super) max_kills: Option<u32>,
    #[serde(default)]
    pub(super) max_schedules: Option<u64>,
    #[serde(default)]
    pub(super) budget_s: Option<f64>,
}

/// `[expect_always]`: what holds for every ordering.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpectAlways {
    #[serde(default)]
    pub(super) max_requests: Option<BTreeMap<String, u64>>,
    #[serde(default)]
    pub(super) session: Option<AlwaysSession>,
    #[serde(default)]
    pub(super) session_refresh_token: Option<TokenName>,
    #[serde(default)]
    pub(super) outcomes: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub(super) max_outcomes: Option<BTreeMap<String, u32>>,
    #[serde(default)]
    pub(super) exit: Option<BTreeMap<String, ExitSet>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeta {
    pub(super) name: String,
    pub(super) description: String,
    #[serde(default)]
    pub(super) budget_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeed {
    #[serde(default)]
    pub(super) session: Option<RawSeedSession>,
    #[serde(default)]
    pub(super) lock: Option<RawSeedLock>,
    #[serde(default)]
    pub(super) corrupt: Vec<RawCorrupt>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeedSession {
    #[serde(default)]
    pub(super) access_expires_in_s: Option<i64>,
    #[serde(default)]
    pub(super) refresh_expires_in_s: Option<i64>,
    #[serde(default)]
    pub(super) refresh_expiry_known: Option<bool>,
    #[serde(default)]
    pub(super) generation: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeedLock {
    #[serde(default)]
    pub(super) pid: Option<u32>,
    #[serde(default)]
    pub(super) host: Option<String>,
    #[serde(default)]
    pub(super) age_s: Option<i64>,
    #[serde(default)]
    pub(super) version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCorrupt {
    pub(super) file: FileKind,
    #[serde(default)]
    pub(super) truncate: Option<u64>,
    #[serde(default)]
    pub(super) garbage: Option<String>,
    #[serde(default)]
    pub(super) append: Option<String>,
    #[serde(default)]
    pub(super) delete: Option<bool>,
    #[serde(default)]
    pub(super) mode: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProcess {
    pub(super) name: String,
    #[serde(default)]
    pub(super) args: Option<Vec<String>>,
    #[serde(default)]
    pub(super) legacy: Option<bool>,
    #[serde(default)]
    pub(super) command: Option<Vec<String>>,
    #[serde(default)]
    pub(super) threads: Option<u32>,
    #[serde(default)]
    pub(super) replicas: Option<u32>,
    #[serde(default)]
    pub(super) env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) clock_offset_s: Option<i64>,
    #[serde(default)]
    pub(super) daemon_version: Option<String>,
    #[serde(default)]
    pub(super) lock_wait_ms: Option<u64>,
    #[serde(default)]
    pub(super) refresh_ceiling_ms: Option<u64>,
    #[serde(default)]
    pub(super) broken: Option<Broken>,
    #[serde(default, rename = "fault")]
    pub(super) faults: Vec<RawPointFault>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPointFault {
    pub(super) point: String,
    pub(super) action: PointAction,
    #[serde(default)]
    pub(super) nth: Option<u32>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) ms: Option<u64>,
    #[serde(default)]
    pub(super) op: Option<IoOpName>,
    #[serde(default)]
    pub(super) errno: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    #[serde(default)]
    pub(super) note: Option<String>,
    #[serde(default)]
    pub(super) run: Option<OneOrMany>,
    #[serde(default)]
    pub(super) until: Option<String>,
    #[serde(default)]
    pub(super) nth: Option<u32>,
    #[serde(default)]
    pub(super) release: Option<OneOrMany>,
    #[serde(default)]
    pub(super) kill: Option<OneOrMany>,
    #[serde(default)]
    pub(super) at: Option<String>,
    #[serde(default)]
    pub(super) sleep_ms: Option<u64>,
    #[serde(default)]
    pub(super) saas_fault: Option<FaultSpec>,
    #[serde(default)]
    pub(super) saas: Option<SaasAction>,
    #[serde(default)]
    pub(super) lock: Option<LockAction>,
    #[serde(default)]
    pub(super) corrupt: Option<RawCorrupt>,
    #[serde(default)]
    pub(super) check: Option<RawCheck>,
    #[serde(default)]
    pub(super) stop: Option<OneOrMany>,
    #[serde(default)]
    pub(super) decoy: Option<DecoyKind>,
    #[serde(default)]
    pub(super) await_saas: Option<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    #[serde(default)]
    pub(super) lock_held: Option<bool>,
    #[serde(default)]
    pub(super) session: Option<SessionState>,
    #[serde(default)]
    pub(super) running: Option<OneOrMany>,
    #[serde(default)]
    pub(super) exited: Option<OneOrMany>,
    #[serde(default)]
    pub(super) saas_requests: Option<BTreeMap<String, u64>>,
    #[serde(default)]
    pub(super) queue_depth: Option<u64>,
    #[serde(default)]
    pub(super) saas_events_delivered: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    #[serde(default)]
    pub(super) exit: Option<BTreeMap<String, ExitSet>>,
    #[serde(default)]
    pub(super) stdout_contains: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub(super) stdout_not_contains: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub(super) stderr_contains: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub(super) stderr_not_contains: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub(super) json: Option<BTreeMap<String, BTreeMap<String, toml::Value>>>,
    #[serde(default)]
    pub(super) session: Option<SessionState>,
    #[serde(default)]
    pub(super) session_refresh_token: Option<TokenName>,
    #[serde(default)]
    pub(super) session_access_token: Option<TokenName>,
    #[serde(default)]
    pub(super) outcomes: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub(super) outcome_counts: Option<BTreeMap<String, u32>>,
    #[serde(default)]
    pub(super) outcome_counts_exact: Option<BTreeMap<String, u32>>,
    #[serde(default)]
    pub(super) saas: Option<RawExpectSaas>,
    #[serde(default)]
    pub(super) order: Option<OrderChains>,
    #[serde(default)]
    pub(super) stdout_count: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    #[serde(default)]
    pub(super) stderr_count: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    #[serde(default)]
    pub(super) not_reached: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub(super) timing: Vec<RawTiming>,
    #[serde(default)]
    pub(super) lock_held: Option<bool>,
    #[serde(default)]
    pub(super) printed_token: Option<BTreeMap<String, TokenName>>,
    #[serde(default)]
    pub(super) diagnostics: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) queue_depth: Option<u64>,
    #[serde(default)]
    pub(super) daemons: Option<RawDaemons>,
    #[serde(default)]
    pub(super) session_writes_only_on_rotation: Option<bool>,
    #[serde(default)]
    pub(super) lock_file: Option<RawLockFile>,
}

/// `[expect.lock_file]`: the refresh lock file itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLockFile {
    #[serde(default)]
    pub(super) content: Option<LockContent>,
    #[serde(default)]
    pub(super) pid: Option<toml::Value>,
    #[serde(default)]
    pub(super) inode_unchanged: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemons {
    #[serde(default)]
    pub(super) alive: Option<u32>,
    #[serde(default)]
    pub(super) singleton: Option<String>,
    #[serde(default)]
    pub(super) reported_by: Option<OneOrMany>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpectSaas {
    #[serde(default)]
    pub(super) requests: Option<BTreeMap<String, u64>>,
    #[serde(default)]
    pub(super) statuses: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    #[serde(default)]
    pub(super) seed_token_presented: Option<u64>,
    #[serde(default)]
    pub(super) max_token_presented: Option<u64>,
    #[serde(default)]
    pub(super) revoked_token: Option<TokenName>,
    #[serde(default)]
    pub(super) session: Vec<RawServerSession>,
    #[serde(default)]
    pub(super) events: Option<RawExpectEvents>,
}

/// `[expect.saas.events]`: what the batch endpoint took.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpectEvents {
    #[serde(default)]
    pub(super) delivered: Option<u64>,
    #[serde(default)]
    pub(super) received: Option<u64>,
    #[serde(default)]
    pub(super) exactly_once: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServerSession {
    #[serde(default)]
    pub(super) session: Option<String>,
    #[serde(default)]
    pub(super) state: Option<ServerState>,
    #[serde(default)]
    pub(super) reason: Option<String>,
    #[serde(default)]
    pub(super) reuse_detections: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTiming {
    pub(super) process: String,
    pub(super) from: String,
    pub(super) to: String,
    #[serde(default)]
    pub(super) max_ms: Option<u64>,
    #[serde(default)]
    pub(super) min_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) saas: Option<SaasConfig>,
    #[serde(default)]
    pub(super) seed: Option<RawSeed>,
    #[serde(default)]
    pub(super) expect: Option<RawExpect>,
    #[serde(default)]
    pub(super) explore: Option<RawExplore>,
    #[serde(default)]
    pub(super) expect_always: Option<RawExpectAlways>,
    /// `[[variant.step]]`: replaces the file's steps (absent: the file's steps).
    #[serde(default, rename = "step")]
    pub(super) steps: Option<Vec<RawStep>>,
    /// `[[variant.process]]`: replaces the file's processes (the variant then declares its own
    /// steps too).
    #[serde(default, rename = "process")]
    pub(super) processes: Option<Vec<RawProcess>>,
}
