//! The one configuration schema of the fake SaaS, [`SaasConfig`].
//!
//! Why it exists: the same schema is read from a standalone `saas.toml`, from JSON, and from the
//! `[saas]` section of a scenario file, so a scenario author and a person running the binary by
//! hand learn one schema. What it guarantees: every table denies unknown keys (a typo such as
//! `rotaton = true` is an error naming the key and its line and column, never a silently ignored
//! setting), and a config that passed [`SaasConfig::validate`] is one the server runs as written.
//!
//! Submodules: `fault` (one fault and its checks), `device` (`[device]`), `user` (`[user]`),
//! `error` (errors and their positions).

mod device;
mod error;
mod fault;
mod user;

use serde::{Deserialize, Serialize};

pub use device::{DeviceConfig, DeviceOutcome};
pub use error::{ConfigError, TextPosition};
pub use fault::{
    FaultAction, FaultPhase, FaultSpec, GrantFilter, DEVICE_CODE_GRANT, ENDPOINTS,
    REDIRECT_DEFAULT_PREFIX, REDIRECT_DEFAULT_STATUS, TRICKLE_DEFAULT_INTERVAL_MS,
};
pub use user::{Team, UserConfig};

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

impl SaasConfig {
    /// Parse and validate a TOML configuration (a `saas.toml`, or a scenario's `[saas]` table
    /// serialized back to text).
    pub fn from_toml_str(text: &str) -> Result<SaasConfig, ConfigError> {
        let config: SaasConfig = toml::from_str(text).map_err(|e| {
            // The parser's own span: no second pass over the text to find the offending key.
            let position = e
                .span()
                .map(|span| TextPosition::at_offset(text, span.start));
            ConfigError::parse(text, position, e.message())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parse and validate a JSON configuration (same schema).
    pub fn from_json_str(text: &str) -> Result<SaasConfig, ConfigError> {
        let config: SaasConfig = serde_json::from_str(text).map_err(|e| {
            let position = (e.line() > 0).then(|| TextPosition {
                line: e.line(),
                column: e.column().max(1),
            });
            // serde_json appends " at line L column C"; the position is kept as data instead.
            let message = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = message.strip_suffix(&suffix).unwrap_or(&message);
            ConfigError::parse(text, position, message)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Range checks serde cannot express. Call it after deserializing a `SaasConfig` by other
    /// means (e.g. as part of a scenario file); [`crate::FakeSaas::start`] calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| Err(ConfigError::invalid(key, message));
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
        assert_eq!(
            err.position(),
            Some(TextPosition { line: 2, column: 1 }),
            "{msg}"
        );
    }

    #[test]
    fn json_errors_carry_the_position_once() {
        let err = SaasConfig::from_json_str("{\n  \"rotaton\": true}").unwrap_err();
        assert_eq!(err.position().map(|p| p.line), Some(2));
        let msg = err.to_string();
        assert!(msg.starts_with("line 2, column "), "{msg}");
        assert!(!msg.contains(" at line "), "{msg}");
    }
}
