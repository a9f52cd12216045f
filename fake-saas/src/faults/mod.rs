//! Fault injection: which fault fires on a call (this module) and what it answers instead
//! (`substitute`).
//!
//! Why it exists: scenarios reproduce incidents that need a misbehaving server at one precise
//! call ("the 3rd refresh is rotated, then the connection drops"). What it guarantees: decisions
//! are made under the state lock when the request arrives, from per-fault counters and a
//! per-fault seeded generator, so a given seed and request sequence always fire the same faults
//! (a flaky scenario can be replayed); the delay itself is awaited outside the lock, so a slow
//! fault never blocks other requests; and fired counts and redirect targets outlive the faults
//! that produced them, until a reset.

mod substitute;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::admin_api::FaultStatus;
use crate::config::FaultSpec;

pub(crate) use substitute::fault_response;
pub use substitute::OVERSIZED_DEFAULT_BYTES;

struct ActiveFault {
    name: String,
    spec: FaultSpec,
    matched: u64,
    fired: u64,
    rng: StdRng,
}

/// What to do to one call, decided when it arrives.
#[derive(Debug, Clone)]
pub(crate) struct FaultPlan {
    pub name: String,
    pub spec: FaultSpec,
    /// `delay_ms` plus the drawn jitter.
    pub delay: Duration,
}

/// The installed faults and the history of what fired.
pub(crate) struct FaultTable {
    seed: u64,
    active: Vec<ActiveFault>,
    /// Fired counts by name for every fault installed since start/reset (survives clearing, so a
    /// scenario can prove a fault fired after it was removed).
    fired: BTreeMap<String, u64>,
    /// Paths on this fake that a `redirect` fault installed since start/reset points at.
    redirect_targets: BTreeSet<String>,
}

impl FaultTable {
    pub fn new(seed: u64) -> FaultTable {
        FaultTable {
            seed,
            active: Vec::new(),
            fired: BTreeMap::new(),
            redirect_targets: BTreeSet::new(),
        }
    }

    /// Install a validated fault at the end of the list.
    pub fn add(&mut self, spec: FaultSpec) {
        let index = self.active.len();
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("fault-{index}"));
        // Each fault draws from its own generator, so adding a fault does not change the
        // decisions of the others.
        let rng = StdRng::seed_from_u64(
            self.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        self.fired.entry(name.clone()).or_insert(0);
        self.redirect_targets.extend(spec.redirect_target_path());
        self.active.push(ActiveFault {
            name,
            spec,
            matched: 0,
            fired: 0,
            rng,
        });
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn replace(&mut self, specs: Vec<FaultSpec>) {
        self.clear();
        for spec in specs {
            self.add(spec);
        }
    }

    pub fn fired(&self) -> BTreeMap<String, u64> {
        self.fired.clone()
    }

    /// Whether `path` is where a `redirect` fault installed since start/reset points.
    pub fn is_redirect_target(&self, path: &str) -> bool {
        self.redirect_targets.contains(path)
    }

    pub fn status(&self) -> Vec<FaultStatus> {
        self.active
            .iter()
            .map(|f| FaultStatus {
                name: f.name.clone(),
                matched: f.matched,
                fired: f.fired,
                spec: f.spec.clone(),
            })
            .collect()
    }

    /// Count the call against every matching fault and pick the first one that fires.
    pub fn select(&mut self, endpoint: &str, grant: Option<&str>) -> Option<FaultPlan> {
        let mut chosen = None;
        for fault in &mut self.active {
            let grant_ok = fault.spec.grant.is_none_or(|filter| filter.matches(grant));
            if fault.spec.endpoint != endpoint || !grant_ok {
                continue;
            }
            fault.matched += 1;
            if chosen.is_some() {
                continue;
            }
            let k = fault.matched;
            let start = fault.spec.start_at.unwrap_or(1);
            let in_scope = k >= start
                && fault
                    .spec
                    .first_n
                    .is_none_or(|n| k < start.saturating_add(n));
            if !in_scope {
                continue;
            }
            if let Some(p) = fault.spec.probability {
                if fault.rng.gen::<f64>() >= p {
                    continue;
                }
            }
            let jitter = if fault.spec.jitter_ms > 0 {
                fault.rng.gen_range(0..=fault.spec.jitter_ms)
            } else {
                0
            };
            fault.fired += 1;
            *self.fired.entry(fault.name.clone()).or_insert(0) += 1;
            chosen = Some(FaultPlan {
                name: fault.name.clone(),
                spec: fault.spec.clone(),
                delay: Duration::from_millis(fault.spec.delay_ms.saturating_add(jitter)),
            });
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_window() {
        let mut t = FaultTable::new(0);
        t.add(FaultSpec {
            start_at: Some(2),
            first_n: Some(2),
            ..FaultSpec::respond("/api/v1/me", 500)
        });
        let fired: Vec<bool> = (0..5)
            .map(|_| t.select("/api/v1/me", None).is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false, false]);
        assert_eq!(t.fired()["fault-0"], 2);
    }

    #[test]
    fn redirect_targets_outlive_their_fault() {
        use crate::config::FaultAction;
        let mut t = FaultTable::new(0);
        t.add(FaultSpec::action("/oauth/token", FaultAction::Redirect));
        t.clear();
        assert!(t.is_redirect_target("/redirected/oauth/token"));
        assert!(!t.is_redirect_target("/oauth/token"));
    }
}
