//! Everything the checks look at after a run ([`Observed`]), gathered by the runner and read by
//! the invariants and the expectations. Plain borrowed data: the checks cannot act on anything.

use super::server::ServerSession;
use crate::redact::Tokens;
use crate::schema::{Scenario, TokenRef};
use crate::sync::state::Proc;
use crate::watch::Version;
use fake_saas::{EventStats, JournalEntry, SeededSession};
use spec_kitty::session::StoredSession;
use std::collections::BTreeMap;

/// What the run left behind.
pub struct Observed<'a> {
    pub sc: &'a Scenario,
    pub procs: &'a BTreeMap<String, Proc>,
    /// name → (stdout, stderr), raw.
    pub outputs: &'a BTreeMap<String, (String, String)>,
    pub journal: &'a [JournalEntry],
    pub counters: &'a BTreeMap<String, u64>,
    pub faults_fired: &'a BTreeMap<String, u64>,
    pub declared_saas_faults: &'a [String],
    pub versions: &'a [Version],
    /// Each version decrypted (`None`: deleted, invalid or not decryptable), same order.
    pub opened_versions: &'a [Option<StoredSession>],
    pub final_bytes: Option<&'a [u8]>,
    pub final_session: &'a Result<Option<StoredSession>, String>,
    pub seeded_bytes: Option<&'a [u8]>,
    pub seeded: Option<&'a SeededSession>,
    pub latest_refresh: Option<&'a str>,
    pub lock_held_at_end: &'a Result<bool, String>,
    pub tokens: &'a Tokens,
    pub anomalies: &'a [String],
    /// The fake SaaS's sessions at the end, in creation order.
    pub server_sessions: &'a [ServerSession],
    /// The daemons serving the root just before teardown.
    pub census: &'a Census,
    /// Ports of decoy listeners that no longer listened at the end.
    pub decoys_lost: &'a [u16],
    /// The ids left in the runtime root's sync queue at the end (empty when there is none).
    pub queue: &'a Result<Vec<String>, String>,
    /// The event ids the fake SaaS accepted, in order.
    pub saas_event_ids: &'a [String],
    /// What the fake SaaS's batch endpoint received, accepted and answered as duplicates.
    pub saas_event_stats: EventStats,
    /// `refresh.lock` at the end (`None`: no file).
    pub lock_file_bytes: Option<&'a [u8]>,
    /// Every inode change of the lock files (watched only for `inode_unchanged`).
    pub lock_inodes: &'a [crate::lock_watch::InodeChange],
}

impl Observed<'_> {
    /// A process's raw stdout or stderr ("" when it never ran).
    pub fn output(&self, name: &str, stdout: bool) -> String {
        self.outputs
            .get(name)
            .map(|(a, b)| if stdout { a.clone() } else { b.clone() })
            .unwrap_or_default()
    }
}

/// `s` cut to `max` characters (with `…`).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max).collect();
        format!("{head}…")
    }
}

/// The daemons serving the scenario's root just before teardown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// `(pid, the scenario process that runs or started it)` of each daemon process.
    pub daemons: Vec<(u32, String)>,
    /// The pid the state file names, if it is readable.
    pub recorded_pid: Option<u32>,
    pub recorded_port: Option<u16>,
}

impl Census {
    /// The scenario process behind the recorded singleton, if it is alive.
    pub fn singleton(&self) -> Option<&str> {
        let pid = self.recorded_pid?;
        self.daemons
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, name)| name.as_str())
    }
}

impl Observed<'_> {
    /// The token a [`TokenRef`] names, of the kind the key asks for (`refresh`, else access):
    /// the one place `seed`, `saas:latest`, labels and generations are resolved.
    pub fn token(&self, r: &TokenRef, refresh: bool) -> Option<String> {
        match r {
            TokenRef::Seed => self.seeded.map(|s| {
                if refresh {
                    s.refresh_token.clone()
                } else {
                    s.access_token.clone()
                }
            }),
            TokenRef::SaasLatest if refresh => self.latest_refresh.map(str::to_string),
            TokenRef::SaasLatest => None,
            TokenRef::Label(l) => self.tokens.by_label(l).map(str::to_string),
            TokenRef::Generation(g) => self
                .seeded
                .and_then(|s| self.tokens.of_generation(refresh, *g, &s.session_id))
                .map(str::to_string),
            TokenRef::Literal(t) => Some(t.clone()),
        }
    }
}
