//! The fake SaaS's notion of "now": a clock tests can move forward.
//!
//! Why it exists: grace windows, access-token expiry, the refresh family's absolute lifetime and
//! the device flow's interval and expiry all depend on time. With every "now" read from one
//! [`Clock`], a test advances it (`FakeSaas::advance_clock`, `POST /__admin/clock`) instead of
//! sleeping through the window in real time.
//!
//! What it guarantees: `now()` never goes backwards (it is the wall-clock time at start plus a
//! monotonic elapsed time plus the advanced offset, so a wall-clock step does not move it), it
//! starts equal to the real time, it has microsecond precision (what the session file keeps), and
//! it only ever moves forward by [`Clock::advance`]. Fault delays and trickle intervals are real
//! time: they pace the network, not the server's view of expiry.

use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};

/// How far the clock can be advanced in total (beyond, advancing saturates): 100 years.
pub const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A monotonic clock anchored at the real time, plus an offset tests control.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    origin_wall: DateTime<Utc>,
    origin: Instant,
    offset: Duration,
}

impl Clock {
    /// A clock that reads the real time until advanced.
    pub fn new() -> Clock {
        Clock {
            origin_wall: Utc::now(),
            origin: Instant::now(),
            offset: Duration::ZERO,
        }
    }

    /// Now, truncated to microseconds.
    pub fn now(&self) -> DateTime<Utc> {
        let ahead = self.origin.elapsed().saturating_add(self.offset);
        let at = chrono::Duration::from_std(ahead)
            .ok()
            .and_then(|ahead| self.origin_wall.checked_add_signed(ahead))
            .unwrap_or(self.origin_wall);
        let micros = at.nanosecond() % 1_000_000_000 / 1_000;
        at.with_nanosecond(micros * 1_000).unwrap_or(at)
    }

    /// Move the clock forward (saturating at [`MAX_CLOCK_OFFSET`] in total).
    pub fn advance(&mut self, by: Duration) {
        self.offset = self.offset.saturating_add(by).min(MAX_CLOCK_OFFSET);
    }

    /// How far the clock has been advanced in total.
    pub fn offset(&self) -> Duration {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_real_time_and_only_moves_forward() {
        let mut clock = Clock::new();
        let real = Utc::now();
        assert!((clock.now() - real).num_seconds().abs() < 5);
        let before = clock.now();
        clock.advance(Duration::from_secs(90));
        let after = clock.now();
        assert!((after - before).num_seconds() >= 90);
        assert_eq!(clock.offset(), Duration::from_secs(90));
        assert_eq!(after.nanosecond() % 1_000, 0);
        clock.advance(Duration::MAX);
        assert_eq!(clock.offset(), MAX_CLOCK_OFFSET);
        assert!(clock.now() > after);
    }
}
