//! Running one property: its case count (a bounded default, or `PROPTEST_CASES` for the long
//! run), no regression files written behind the tests' back (found failures become named
//! regression tests instead), and the measured rate printed for `docs/fuzzing.md`.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::time::Instant;

/// `PROPTEST_CASES` when set (the long run), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on `cases(default)` generated values; fails with the shrunk input. Prints
/// `property <name>: <n> cases in <t> s (<rate> cases/s)`.
pub fn property<S: Strategy>(
    name: &str,
    default: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let n = cases(default);
    let config = Config {
        cases: n,
        failure_persistence: None,
        // Shrinking a failure of a slow property must not take longer than finding it.
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("property {name} failed: {e}");
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "property {name}: {n} cases in {secs:.2} s ({:.0} cases/s)",
        n as f64 / secs.max(1e-9)
    );
}
