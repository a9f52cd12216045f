//! The daemon's settings, from the environment: the reserved port range, the lifecycle tick, and
//! how long `start` waits for health.
//!
//! Why configurable: tests and scenarios run many daemons side by side, each in its own runtime
//! root, and must not collide on ports; a long-lived installation keeps the defaults.

use std::ops::RangeInclusive;
use std::time::Duration;

/// `start-end` (inclusive) of the ports the daemon may bind and the orphan scan probes.
pub const PORTS_ENV: &str = "SPEC_KITTY_DAEMON_PORTS";
/// Seconds between lifecycle ticks (0 disables the tick).
pub const TICK_ENV: &str = "SPEC_KITTY_DAEMON_TICK_S";
/// The reserved range of the original: 9400–9449.
pub const DEFAULT_PORTS: RangeInclusive<u16> = 9400..=9449;
/// The lifecycle tick of the original: 30 s.
pub const DEFAULT_TICK: Duration = Duration::from_secs(30);
/// How long `start` waits for the daemon to answer health.
pub const START_WAIT: Duration = Duration::from_secs(10);

/// A setting in the environment is not usable.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not usable: {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub ports: RangeInclusive<u16>,
    /// `None`: no lifecycle tick (the daemon only retires on a signal or a shutdown request).
    pub tick: Option<Duration>,
    pub start_wait: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            ports: DEFAULT_PORTS,
            tick: Some(DEFAULT_TICK),
            start_wait: START_WAIT,
        }
    }
}

impl DaemonConfig {
    /// The settings from the environment (defaults where unset).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = DaemonConfig::default();
        if let Some(value) = std::env::var(PORTS_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            config.ports = parse_ports(&value).ok_or(ConfigError {
                name: PORTS_ENV,
                value,
                expected: "a range like 9400-9449 (1-65535, at most 1000 ports)",
            })?;
        }
        if let Some(value) = std::env::var(TICK_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            let secs: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
                .ok_or(ConfigError {
                    name: TICK_ENV,
                    value,
                    expected: "seconds between 0 (no tick) and 86400",
                })?;
            config.tick = (secs > 0.0).then(|| Duration::from_secs_f64(secs));
        }
        Ok(config)
    }
}

fn parse_ports(value: &str) -> Option<RangeInclusive<u16>> {
    let (start, end) = value.trim().split_once('-')?;
    let (start, end): (u16, u16) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    (start >= 1 && start <= end && end - start < 1000).then_some(start..=end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_ports("9400-9449"), Some(9400..=9449));
        assert_eq!(parse_ports(" 20000 - 20009 "), Some(20000..=20009));
        for bad in ["", "9400", "9449-9400", "0-10", "1-70000", "a-b", "1-2000"] {
            assert_eq!(parse_ports(bad), None, "{bad}");
        }
    }
}
