//! One deadline for a piece of work, instead of one timeout per operation.
//!
//! Why: everything done while holding the refresh lock — the request, its body, the one 409
//! retry, persisting — must fit in one ceiling, because other processes give up waiting for the
//! lock after that long. Per-operation timeouts add up (a server trickling its body one byte at a
//! time never trips a read timeout); a deadline handed down to each step cannot.

use std::time::{Duration, Instant};

/// A point in time by which the work must be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// `budget` from now (saturating far in the future for absurd budgets).
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Self {
            at: now
                .checked_add(budget)
                .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365)),
        }
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        self.remaining().is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_down_and_saturates() {
        let d = Deadline::after(Duration::from_secs(5));
        assert!(d.remaining() <= Duration::from_secs(5));
        assert!(!d.passed());
        assert!(Deadline::after(Duration::ZERO).passed());
        assert!(Deadline::after(Duration::MAX).remaining() > Duration::from_secs(3600));
    }
}
