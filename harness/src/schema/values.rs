//! Small value types with friendly errors, shared by the raw (serde) structures and the resolved
//! model: each deserialises itself and says what it expected when it cannot.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// A string or a list of strings (`run = "A"` or `run = ["A", "B"]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[expect.lock_file] content`: what `refresh.lock` holds at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockContent {
    /// The file exists and is empty (every holder truncates it on release).
    Empty,
    /// A holder record (what a holder that never released, e.g. a killed one, leaves).
    Record,
    /// No file.
    Absent,
}

/// `expect.order`: one chain (`["A:x", "B:y"]`) or several independent ones
/// (`[["A:x", "B:y"], ["C:z", "A:w"]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChains {
    pub chains: Vec<Vec<String>>,
    /// Written as a list of chains (key paths then have two indexes).
    pub nested: bool,
}

impl<'de> Deserialize<'de> for OrderChains {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            Event(String),
            Chain(Vec<String>),
        }
        let items = Vec::<Item>::deserialize(d).map_err(|_| {
            de::Error::custom(
                "a list of \"process:point\" events, or a list of such lists (several chains)",
            )
        })?;
        let events = items.iter().filter(|i| matches!(i, Item::Event(_))).count();
        if events > 0 && events < items.len() {
            return Err(de::Error::custom(
                "either one chain of \"process:point\" events or a list of chains, not both",
            ));
        }
        let nested = events == 0 && !items.is_empty();
        let mut chains = Vec::new();
        let mut one = Vec::new();
        for item in items {
            match item {
                Item::Event(e) => one.push(e),
                Item::Chain(c) => chains.push(c),
            }
        }
        if !nested {
            chains.push(one);
        }
        Ok(OrderChains { chains, nested })
    }
}

/// An expected exit: a code or `"killed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitExpect {
    Code(i32),
    /// Killed by a `kill` step.
    Killed,
    /// Ended by this signal from outside the runner (a sweep's SIGTERM, say).
    Signal(i32),
}

/// The signals an `exit` may name.
const SIGNALS: [(&str, i32); 4] = [
    ("SIGINT", 2),
    ("SIGKILL", 9),
    ("SIGTERM", 15),
    ("SIGHUP", 1),
];

impl fmt::Display for ExitExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitExpect::Code(c) => write!(f, "exit {c}"),
            ExitExpect::Killed => f.write_str("killed"),
            ExitExpect::Signal(n) => match SIGNALS.iter().find(|(_, s)| s == n) {
                Some((name, _)) => write!(f, "ended by {name}"),
                None => write!(f, "ended by signal {n}"),
            },
        }
    }
}

impl<'de> Deserialize<'de> for ExitExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ExitExpect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an exit code 0..=255, \"killed\" or a signal name (\"SIGTERM\")")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExitExpect, E> {
                if (0..=255).contains(&v) {
                    Ok(ExitExpect::Code(v as i32))
                } else {
                    Err(E::custom(format!(
                        "exit code {v} is out of range: expected an exit code 0..=255 or \"killed\""
                    )))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExitExpect, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExitExpect, E> {
                if v == "killed" {
                    Ok(ExitExpect::Killed)
                } else if let Some((_, n)) = SIGNALS.iter().find(|(name, _)| *name == v) {
                    Ok(ExitExpect::Signal(*n))
                } else {
                    Err(E::custom(format!(
                        "unknown exit {v:?}: expected an exit code 0..=255, \"killed\" or one of SIGTERM, SIGKILL, SIGINT, SIGHUP"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One expected exit or a set of them: `0`, `"killed"`, or `[0, 3]` for a race whose winner is
/// not fixed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExitSet(pub Vec<ExitExpect>);

impl fmt::Display for ExitSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                f.write_str("one of ")?;
                for (i, e) in many.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl<'de> Deserialize<'de> for ExitSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExitSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an exit code 0..=255, \"killed\", or a list of them")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExitSet, E> {
                ExitExpect::deserialize(de::value::I64Deserializer::new(v))
                    .map(|e| ExitSet(vec![e]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExitSet, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExitSet, E> {
                ExitExpect::deserialize(de::value::StrDeserializer::new(v))
                    .map(|e| ExitSet(vec![e]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExitSet, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = seq.next_element::<ExitExpect>()? {
                    if !out.contains(&e) {
                        out.push(e);
                    }
                }
                Ok(ExitSet(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A token named in `printed_token`: a word (`"session"`, `"seed"`, a label such as `"A1"`) or
/// `{ generation = N }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenName {
    Word(String),
    Generation(i64),
}

impl<'de> Deserialize<'de> for TokenName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Generation {
            generation: i64,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TokenName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"session\", \"seed\", a token label such as \"A1\", or { generation = N }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TokenName, E> {
                Ok(TokenName::Word(v.to_string()))
            }
            fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<TokenName, M::Error> {
                Generation::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|g| TokenName::Generation(g.generation))
            }
        }
        d.deserialize_any(V)
    }
}

/// What the fake SaaS decided about a session by the end (`expect.saas.session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// Not revoked and within its absolute lifetime: a refresh can still succeed.
    Active,
    /// Revoked, for any reason.
    Revoked,
    /// Revoked because a rotated-out refresh token was presented (reason `reuse_detected`).
    FamilyRevoked,
    /// Not revoked, but past the refresh family's absolute lifetime.
    Expired,
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerState::Active => "active",
            ServerState::Revoked => "revoked",
            ServerState::FamilyRevoked => "family_revoked",
            ServerState::Expired => "expired",
        })
    }
}

/// What a `[[process.fault]]` does at its point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointAction {
    /// The call site fails with an injected error.
    Fail,
    /// The process sleeps `ms`, then goes on.
    Sleep,
    /// The process goes on, and its next `op` fails with `errno`.
    IoFault,
}

/// The operations an `io_fault` can make fail (`spec_kitty::hooks::IoOp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IoOpName {
    /// Writing the session (its temp file, before the atomic rename).
    SessionWrite,
    /// Deleting `session.json`.
    SessionDelete,
    /// Reading `session.json`.
    SessionRead,
    /// Writing the holder record into `refresh.lock`.
    LockRecordWrite,
}

impl IoOpName {
    pub fn as_str(self) -> &'static str {
        match self {
            IoOpName::SessionWrite => "session_write",
            IoOpName::SessionDelete => "session_delete",
            IoOpName::SessionRead => "session_read",
            IoOpName::LockRecordWrite => "lock_record_write",
        }
    }
}

/// The errno names an `io_fault` accepts, with their Linux numbers.
pub const ERRNOS: [(&str, i32); 7] = [
    ("ENOSPC", 28),
    ("EROFS", 30),
    ("EIO", 5),
    ("EACCES", 13),
    ("EPERM", 1),
    ("EDQUOT", 122),
    ("ENOENT", 2),
];

/// The errno an `io_fault` names (`"ENOSPC"`), or `None`.
pub fn errno_of(name: &str) -> Option<i32> {
    ERRNOS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// A step's action on the fake SaaS's session model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaasAction {
    /// Revoke the seeded session server-side.
    RevokeSession,
    /// Expire the seeded session's refresh token server-side.
    ExpireRefresh,
    /// Remove every fault.
    ClearFaults,
}

/// A step's action on the refresh lock (the runner itself holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockAction {
    Hold,
    Release,
}

/// Final (or mid-run) state of the session file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Readable and decryptable by the production library.
    Present,
    /// No session file.
    Absent,
    /// Byte-equal to what the seed (including any corruption) left.
    Unchanged,
}

/// A listener the runner puts in the scenario's daemon port range to prove a sweep never
/// touches what is not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoyKind {
    /// Answers every request with JSON that is not a spec-kitty daemon's.
    Plain,
    /// Claims to be a spec-kitty daemon of this root, naming the runner's own pid (which
    /// listens there, but is not a daemon): only the identity checks stand between it and a
    /// signal.
    Liar,
}

/// What a token expectation refers to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRef {
    /// The token seeded at the start.
    Seed,
    /// The latest refresh token the SaaS issued for the seeded session.
    SaasLatest,
    /// The token with this timeline label (`R1`, `A2`), as [`crate::redact::Tokens`] names it.
    Label(String),
    /// The token of the key's kind the SaaS issued at this generation of the seeded session.
    Generation(i64),
    Literal(String),
}

/// A deliberately broken build a process runs (`broken = "..."`): test-only switches in
/// `spec_kitty::hooks::Overrides` that only the runner's children can set, to prove the
/// explorer finds a bug on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Broken {
    /// The stale-rejection branch deletes the session, as the original client did.
    StaleRejectionDeletes,
}

impl Broken {
    /// The word in scenario files (and the value of the child's variable).
    pub fn as_str(self) -> &'static str {
        match self {
            Broken::StaleRejectionDeletes => crate::child_env::BROKEN_STALE_REJECTION_DELETES,
        }
    }
}

/// `expect_always.session`: the session file at the end of every schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlwaysSession {
    /// Readable at the end, whatever the ordering.
    Present,
    /// Readable at the end unless the fake SaaS revoked the seeded session (any reason) or its
    /// refresh family reached its absolute lifetime.
    PresentUnlessRevoked,
}

/// Which file a corruption targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Session,
    Salt,
    RefreshLock,
    /// `<root>/sync-daemon`, the daemon state file.
    DaemonState,
    /// `<root>/sync-daemon.lock`, the daemon singleton lock file.
    DaemonLock,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Session => "session",
            FileKind::Salt => "salt",
            FileKind::RefreshLock => "refresh_lock",
            FileKind::DaemonState => "daemon_state",
            FileKind::DaemonLock => "daemon_lock",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        e: ExitSet,
        #[serde(default)]
        t: Option<TokenName>,
    }

    #[test]
    fn exit_sets_and_token_names() {
        let t: T = toml::from_str("e = 0").unwrap();
        assert_eq!(t.e, ExitSet(vec![ExitExpect::Code(0)]));
        let t: T = toml::from_str("e = [0, \"killed\", 0]\nt = { generation = 2 }").unwrap();
        assert_eq!(t.e, ExitSet(vec![ExitExpect::Code(0), ExitExpect::Killed]));
        assert_eq!(t.e.to_string(), "one of exit 0, killed");
        assert_eq!(t.t, Some(TokenName::Generation(2)));
        let t: T = toml::from_str("e = 3\nt = \"A1\"").unwrap();
        assert_eq!(t.t, Some(TokenName::Word("A1".into())));
        assert!(toml::from_str::<T>("e = [0, 300]").is_err());
        assert!(toml::from_str::<T>("e = 0\nt = { gen = 2 }").is_err());
    }
}
