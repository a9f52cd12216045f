//! The sync points a scenario may name: the production points `spec_kitty` reports, the legacy
//! client's `legacy.*` points, and the pseudo-points `start` and `exit`.
//!
//! One owner for these names inside the schema: validation and messages read them from here.

/// The pseudo-point that means "until the process exits".
pub const EXIT: &str = "exit";
/// Pseudo-points usable in `[[expect.timing]]` and `expect.order` besides real points.
pub const START: &str = "start";
/// Points the built-in legacy client reports (it is not production code, so they live here).
pub const LEGACY_POINTS: &[&str] = &[
    "legacy.loaded",
    "legacy.network_before",
    "legacy.network_after",
    "legacy.persisted",
    "legacy.deleted",
];

/// Whether `point` is a sync point some process can report.
pub fn is_known_point(point: &str) -> bool {
    spec_kitty::syncpoint::Point::from_name(point).is_some() || is_legacy_point(point)
}

/// Whether only the legacy client reports `point`.
pub fn is_legacy_point(point: &str) -> bool {
    LEGACY_POINTS.contains(&point)
}

/// The production points' names, for messages.
pub fn production_points() -> Vec<&'static str> {
    spec_kitty::syncpoint::Point::ALL
        .iter()
        .map(|p| p.as_str())
        .collect()
}

/// Every point name, for messages.
pub fn known_points() -> Vec<&'static str> {
    spec_kitty::syncpoint::Point::ALL
        .iter()
        .map(|p| p.as_str())
        .chain(LEGACY_POINTS.iter().copied())
        .collect()
}
