//! The one configuration schema of the fake SaaS.
//!
//! The same [`SaasConfig`] is read from a standalone `saas.toml` and from the `[saas]` section of a
//! scenario file, so a scenario author and a person running the binary by hand learn one schema.
//! Every table denies unknown keys: a typo (`rotaton = true`) is an error naming the key and the
//! line, never a silently ignored setting that makes a scenario test something else.

use serde::{Deserialize, Serialize};

/// Every endpoint a fault may target (the public, journaled surface of the fake).
pub const ENDPOINTS: &[&str] = &[
    "/oauth/token",
    "/oauth/device/authorize",
    "/oauth/revoke",
    "/api/v1/me",
    "/api/v1/session-status",
    "/api/v1/events/batch/",
];

/// The grant type of the RFC 8628 device flow.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Grant filters accepted by [`FaultSpec::grant`] (`device_code` is shorthand for the URN).
pub const GRANTS: &[&str] = &["refresh_token", "device_code", DEVICE_CODE_GRANT];

/// Behaviour of the fake SaaS. Defaults model a production server: rotation on, reuse rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SaasConfig {
    /// Rotate the refresh token on every refresh (generation + 1). Off: only a new access token
    /// is issued and `refresh_token` is omitted from the response.
    pub rotation: bool,
    /// What happens when a rotated-out refresh token is presented.
    pub reuse: ReusePolicy,
    /// `grace` policy: the previous token is accepted for this many seconds after the rotation.
    /// When neither `grace_s` nor `grace_uses` is set the window is 60 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_s: Option<u64>,
    /// `grace` policy: the previous token is accepted for this many reuses (no limit when unset).
    /// When both are set, both limits apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_uses: Option<u32>,
    /// Lifetime of every access token, in seconds (at least 1).
    pub access_ttl_s: u64,
    /// Absolute lifetime of a session's refresh-token family, from the session's creation.
    pub refresh_lifetime_s: u64,
    /// Seed of the fault randomness (probability and jitter): a fixed seed gives the same
    /// decisions for the same sequence of requests.
    pub seed: u64,
    /// Port for the standalone binary and [`crate::FakeSaas::start`]; unset = chosen by the OS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The OAuth client id the token endpoint expects.
    pub client_id: String,
    /// The RFC 8628 device authorization flow.
    pub device: DeviceConfig,
    /// The one user every session belongs to.
    pub user: UserConfig,
    /// Faults declared up front (`[[fault]]` in TOML).
    #[serde(rename = "fault", skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
}

impl Default for SaasConfig {
    fn default() -> Self {
        SaasConfig {
            rotation: true,
            reuse: ReusePolicy::Reject,
            grace_s: None,
            grace_uses: None,
            access_ttl_s: 3600,
            refresh_lifetime_s: 2_592_000,
            seed: 0,
            port: None,
            client_id: "cli_native".to_string(),
            device: DeviceConfig::default(),
            user: UserConfig::default(),
            faults: Vec::new(),
        }
    }
}

/// Policy for a refresh token that has been rotated out of its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ReusePolicy {
    /// 400 `invalid_grant`; the family stays valid.
    #[default]
    #[serde(rename = "reject")]
    Reject,
    /// 400 `invalid_grant` and the whole session is revoked (reuse = suspected theft).
    #[serde(rename = "revoke_family")]
    RevokeFamily,
    /// The immediately previous token is accepted inside the grace window and answers with the
    /// pair the rotation produced; anything else is 400 `invalid_grant`.
    #[serde(rename = "grace")]
    Grace,
    /// 409 `refresh_replay_benign_retry` with `retry_after`.
    #[serde(rename = "replay_409")]
    Replay409,
}

/// What the device authorization flow does once the user "acts".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceOutcome {
    /// Tokens are issued and a new session is created.
    #[default]
    Approve,
    /// `access_denied`.
    Deny,
    /// `expired_token`.
    Expire,
}

/// The RFC 8628 device flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Polls answered `authorization_pending` before the outcome (0 = the first poll decides).
    pub approve_after_polls: u32,
    /// The outcome once the pending polls are used up.
    pub outcome: DeviceOutcome,
    /// Minimum seconds between polls (`slow_down` when polled faster); tests use 0.
    pub interval_s: u64,
    /// Lifetime of a device code.
    pub expires_in_s: u64,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            approve_after_polls: 1,
            outcome: DeviceOutcome::Approve,
            interval_s: 5,
            expires_in_s: 600,
        }
    }
}

/// A team as `GET /api/v1/me` reports it (and as the CLI stores it in the session file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    pub id: String,
    pub name: String,
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default)]
    pub is_private_teamspace: bool,
    /// Defaults to `id` when empty or absent.
    #[serde(default)]
    pub slug: String,
}

fn default_role() -> String {
    "member".to_string()
}

impl Team {
    /// The team with an empty slug replaced by its id.
    pub(crate) fn normalized(&self) -> Team {
        let mut team = self.clone();
        if team.slug.is_empty() {
            team.slug = team.id.clone();
        }
        team
    }
}

/// The user every session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub teams: Vec<Team>,
    /// Defaults to the private teamspace, else the first team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_team_id: Option<String>,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            user_id: "user_1".to_string(),
            email: "dev@example.com".to_string(),
            name: "Dev User".to_string(),
            teams: vec![
                Team {
                    id: "team_private_1".to_string(),
                    name: "Dev User's Teamspace".to_string(),
                    role: "owner".to_string(),
                    is_private_teamspace: true,
                    slug: "dev-user-teamspace".to_string(),
                },
                Team {
                    id: "team_shared_1".to_string(),
                    name: "Shared Team".to_string(),
                    role: "member".to_string(),
                    is_private_teamspace: false,
                    slug: "shared-team".to_string(),
                },
            ],
            default_team_id: None,
        }
    }
}

impl UserConfig {
    /// Teams with slugs filled in.
    pub(crate) fn teams(&self) -> Vec<Team> {
        self.teams.iter().map(Team::normalized).collect()
    }

    /// The explicit default team, else the private teamspace, else the first team.
    pub(crate) fn default_team(&self) -> Option<String> {
        self.default_team_id.clone().or_else(|| {
            self.teams
                .iter()
                .find(|t| t.is_private_teamspace)
                .or_else(|| self.teams.first())
                .map(|t| t.id.clone())
        })
    }
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with `status` (default 500) and `body` (default: a JSON error body).
    #[default]
    Respond,
    /// Drop the connection without any HTTP response (the client sees a transport error).
    Close,
    /// 200 (or `status`) with a body that is not JSON.
    Malformed,
    /// 200 (or `status`) with a multi-MiB body (`size_bytes`, default 5 MiB).
    Oversized,
    /// Only the delay; the request is then handled normally.
    DelayOnly,
}

/// Whether a fault replaces the handling or only the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPhase {
    /// The fault replaces normal handling: nothing in the model changes.
    #[default]
    Before,
    /// Normal handling happens (e.g. the token IS rotated), then the fault replaces or delays
    /// the response: the "server did it but the client never heard" case.
    After,
}

/// One fault. `endpoint` is required; everything else has a default.
///
/// Scope: a fault counts the calls matching `endpoint` (and `grant`), 1-based. It fires on call
/// `k` when `k >= start_at` (default 1) and `k < start_at + first_n` (default: no end), and then
/// only with `probability` (default 1, drawn from the seeded generator). When several faults fire
/// on one call, the first in the list wins; every matching fault still counts the call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Name used in the journal and in `faults_fired`; default `fault-<index in the list>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The request path, one of [`ENDPOINTS`].
    pub endpoint: String,
    /// Only for `/oauth/token`: `refresh_token`, `device_code` or the device-code URN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    #[serde(default)]
    pub action: FaultAction,
    /// Status for `respond` (default 500), `malformed` and `oversized` (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body for `respond`; sent as JSON when it parses as JSON, else as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Fixed delay before the fault acts (or before the normal response, for `delay_only`).
    #[serde(default)]
    pub delay_ms: u64,
    /// Extra random delay in `0..=jitter_ms`, from the seeded generator.
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default)]
    pub phase: FaultPhase,
    /// Fire on at most this many matching calls (counted from `start_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_n: Option<u64>,
    /// Fire from the K-th matching call on (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<u64>,
    /// Chance of firing on an in-scope call, 0..=1 (seeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Body size for `oversized` (default 5 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

impl FaultSpec {
    /// A `respond`/`before` fault on `endpoint` with `status` (the most common case).
    pub fn respond(endpoint: &str, status: u16) -> FaultSpec {
        FaultSpec {
            endpoint: endpoint.to_string(),
            status: Some(status),
            ..FaultSpec::default()
        }
    }

    /// A fault on `endpoint` with `action` and every other setting at its default.
    pub fn action(endpoint: &str, action: FaultAction) -> FaultSpec {
        FaultSpec {
            endpoint: endpoint.to_string(),
            action,
            ..FaultSpec::default()
        }
    }

    /// Check one fault; `key` is how errors name it (e.g. `fault[2]`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("{key}.{field}"),
                message,
            })
        };
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                return bad("name", "must not be empty".to_string());
            }
        }
        if !ENDPOINTS.contains(&self.endpoint.as_str()) {
            return bad(
                "endpoint",
                format!(
                    "unknown endpoint {:?}, expected one of {}",
                    self.endpoint,
                    ENDPOINTS.join(", ")
                ),
            );
        }
        if let Some(grant) = &self.grant {
            if self.endpoint != "/oauth/token" {
                return bad(
                    "grant",
                    "only applies to endpoint \"/oauth/token\"".to_string(),
                );
            }
            if !GRANTS.contains(&grant.as_str()) {
                return bad(
                    "grant",
                    format!(
                        "unknown grant {grant:?}, expected one of {}",
                        GRANTS.join(", ")
                    ),
                );
            }
        }
        if let Some(status) = self.status {
            if !(100..=599).contains(&status) {
                return bad("status", format!("must be within 100..=599, got {status}"));
            }
            if matches!(self.action, FaultAction::Close | FaultAction::DelayOnly) {
                return bad(
                    "status",
                    format!("is not used by action {}", action_name(self.action)),
                );
            }
        }
        if self.body.is_some() && self.action != FaultAction::Respond {
            return bad(
                "body",
                format!(
                    "is only used by action respond, not {}",
                    action_name(self.action)
                ),
            );
        }
        if self.size_bytes.is_some() && self.action != FaultAction::Oversized {
            return bad(
                "size_bytes",
                format!(
                    "is only used by action oversized, not {}",
                    action_name(self.action)
                ),
            );
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return bad("probability", format!("must be within 0..=1, got {p}"));
            }
        }
        if self.start_at == Some(0) {
            return bad("start_at", "is 1-based: must be at least 1".to_string());
        }
        if self.first_n == Some(0) {
            return bad(
                "first_n",
                "must be at least 1 (remove the fault instead)".to_string(),
            );
        }
        Ok(())
    }
}

pub(crate) fn action_name(action: FaultAction) -> &'static str {
    match action {
        FaultAction::Respond => "respond",
        FaultAction::Close => "close",
        FaultAction::Malformed => "malformed",
        FaultAction::Oversized => "oversized",
        FaultAction::DelayOnly => "delay_only",
    }
}

/// A configuration error. `Display` is one line that names the key (and the line, when parsing).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The text did not parse into the schema (syntax, unknown key, wrong type, missing key).
    #[error("{}", parse_message(*.line, .message, .source_line))]
    Parse {
        /// 1-based line of the offending text, when known.
        line: Option<usize>,
        /// The parser's message, which names the unknown/missing key or the bad value.
        message: String,
        /// The offending source line, trimmed.
        source_line: Option<String>,
    },
    /// The schema parsed but a value is out of range.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted path of the key, e.g. `fault[1].probability`.
        key: String,
        message: String,
    },
}

fn parse_message(line: Option<usize>, message: &str, source_line: &Option<String>) -> String {
    let message = message.trim().replace('\n', " ");
    match (line, source_line) {
        (Some(line), Some(src)) if !src.is_empty() => {
            format!("line {line}: {message} (at `{src}`)")
        }
        (Some(line), _) => format!("line {line}: {message}"),
        _ => message,
    }
}

impl SaasConfig {
    /// Parse and validate a TOML configuration (a `saas.toml`, or a scenario's `[saas]` table
    /// serialized back to text).
    pub fn from_toml_str(text: &str) -> Result<SaasConfig, ConfigError> {
        let config: SaasConfig = toml::from_str(text).map_err(|e| {
            let (line, source_line) = match e.span() {
                Some(span) => {
                    let start = span.start.min(text.len());
                    let line = text[..start].matches('\n').count() + 1;
                    let src = text.lines().nth(line - 1).map(|l| l.trim().to_string());
                    (Some(line), src)
                }
                None => (None, None),
            };
            ConfigError::Parse {
                line,
                message: e.message().to_string(),
                source_line,
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parse and validate a JSON configuration (same schema).
    pub fn from_json_str(text: &str) -> Result<SaasConfig, ConfigError> {
        let config: SaasConfig = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            line: Some(e.line()),
            message: e.to_string(),
            source_line: text
                .lines()
                .nth(e.line().saturating_sub(1))
                .map(|l| l.trim().to_string()),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Range checks serde cannot express. Call it after deserializing a `SaasConfig` by other
    /// means (e.g. as part of a scenario file); [`crate::FakeSaas::start`] calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: key.to_string(),
                message,
            })
        };
        if self.access_ttl_s == 0 {
            return bad("access_ttl_s", "must be at least 1".to_string());
        }
        if self.refresh_lifetime_s == 0 {
            return bad("refresh_lifetime_s", "must be at least 1".to_string());
        }
        if self.client_id.is_empty() {
            return bad("client_id", "must not be empty".to_string());
        }
        if self.port == Some(0) {
            return bad(
                "port",
                "0 is not a port: leave `port` unset to let the OS choose".to_string(),
            );
        }
        if self.device.expires_in_s == 0 {
            return bad("device.expires_in_s", "must be at least 1".to_string());
        }
        if self.user.user_id.is_empty() {
            return bad("user.user_id", "must not be empty".to_string());
        }
        for (i, team) in self.user.teams.iter().enumerate() {
            if team.id.is_empty() {
                return bad(
                    &format!("user.teams[{i}].id"),
                    "must not be empty".to_string(),
                );
            }
        }
        if let Some(default) = &self.user.default_team_id {
            if !self.user.teams.iter().any(|t| &t.id == default) {
                return bad(
                    "user.default_team_id",
                    format!("{default:?} is not the id of one of user.teams"),
                );
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, fault) in self.faults.iter().enumerate() {
            let key = format!("fault[{i}]");
            fault.validate(&key)?;
            let name = fault.name.clone().unwrap_or_else(|| format!("fault-{i}"));
            if !names.insert(name.clone()) {
                return bad(
                    &format!("{key}.name"),
                    format!("duplicate fault name {name:?}"),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let c = SaasConfig::from_toml_str("").unwrap();
        assert_eq!(c, SaasConfig::default());
        let text = toml::to_string(&c).unwrap();
        assert_eq!(SaasConfig::from_toml_str(&text).unwrap(), c);
    }

    #[test]
    fn unknown_key_is_named_with_line() {
        let err = SaasConfig::from_toml_str("rotation = true\nrotaton = false\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("rotaton"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}
