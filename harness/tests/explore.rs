//! The explorer's proofs, on the files of `scenarios/explore/`, with bounded budgets: the pair's
//! whole space holds no violation and shows both `refreshed` and `adopted_newer`; with kills the
//! trio loses the session only to the documented limit under `reject` and never under `grace`;
//! the deliberately broken build is found with no hint of the ordering, and its replay file
//! reproduces the failure with `scenario run` (twice: deterministically); and the soak, 500
//! random schedules of four processes with kills (`-- --nocapture` prints its rate).

use harness::{
    explore, load_file, run_scenario, write_replays, ExploreMode, ExploreOptions, ExploreReport,
    RunOptions, Scenario,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/explore")
        .join(name)
}

/// The scenario (or variant) `id` of `name`, as the explorer runs it.
fn scenario(name: &str, id: &str) -> Scenario {
    load_file(&file(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .into_iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("{name} has no scenario {id}"))
        .explorable()
        .unwrap()
}

fn run_options() -> RunOptions {
    RunOptions {
        executor: PathBuf::from(env!("CARGO_BIN_EXE_scenario")),
        ..RunOptions::default()
    }
}

fn options(mode: ExploreMode, kills: bool, max: u64, budget_s: u64) -> ExploreOptions {
    ExploreOptions {
        max_schedules: Some(max),
        budget: Some(Duration::from_secs(budget_s)),
        seed: 1,
        mode,
        kills,
        jobs: 2,
        fail_fast: false,
        run: run_options(),
    }
}

fn run(sc: &Scenario, o: &ExploreOptions) -> ExploreReport {
    let r = explore(sc, o, &|_| {});
    eprint!("{}", harness::render_explore_text(&r));
    r
}

/// Every outcome any process ended with.
fn outcomes(r: &ExploreReport) -> Vec<String> {
    r.outcomes
        .values()
        .flat_map(|m| m.keys().cloned())
        .collect()
}

#[test]
fn the_pair_has_no_violating_schedule_and_both_outcomes() {
    let sc = scenario("refresh-pair.toml", "refresh-pair");
    let r = run(&sc, &options(ExploreMode::Dfs, false, 500, 120));
    assert!(r.exhaustive, "the whole space fits the bound: {r:#?}");
    assert_eq!(r.diverged, 0, "every prefix was followed");
    assert_eq!(r.failed, 0, "{:#?}", r.failures);
    assert!(r.losses.is_empty(), "{:?}", r.losses);
    let seen = outcomes(&r);
    for o in ["refreshed", "adopted_newer"] {
        assert!(seen.iter().any(|s| s == o), "{o} not among {seen:?}");
    }
    eprintln!(
        "refresh-pair: the space has {} schedules ({:.1} s)",
        r.schedules, r.elapsed_s
    );
}

#[test]
fn kills_cost_the_session_only_as_the_documented_limit_and_never_under_grace() {
    let reject = scenario("refresh-trio-kills.toml", "refresh-trio-kills/reject");
    let r = run(&reject, &options(ExploreMode::Dfs, true, 500, 180));
    assert!(r.exhaustive, "{r:#?}");
    assert_eq!(r.diverged, 0, "every prefix was followed");
    assert_eq!(r.failed, 0, "{:#?}", r.failures);
    assert!(r.limit_schedules > 0, "no ordering hit the limit: {r:#?}");
    assert!(
        r.losses.keys().all(|k| k == "limit:kill_after_rotation"),
        "{:?}",
        r.losses
    );
    let limit = &r.limits[0];
    assert!(
        limit.schedule.contains("kill P#"),
        "a limit ordering kills: {}",
        limit.schedule
    );
    let grace = scenario("refresh-trio-kills.toml", "refresh-trio-kills/grace");
    let g = run(&grace, &options(ExploreMode::Dfs, true, 500, 180));
    assert!(g.exhaustive, "{g:#?}");
    assert_eq!(g.failed, 0, "{:#?}", g.failures);
    assert!(g.losses.is_empty(), "grace loses nothing: {:?}", g.losses);
    assert!(
        outcomes(&g).iter().any(|o| o.starts_with("killed@")),
        "the grace run did kill"
    );
    eprintln!(
        "refresh-trio-kills: {} schedules under reject ({} at the limit), {} under grace",
        r.schedules, r.limit_schedules, g.schedules
    );
}

#[test]
fn the_broken_build_is_found_and_its_replay_reproduces_it() {
    let broken = scenario("legacy-rotates-behind.toml", "legacy-rotates-behind/broken");
    let mut o = options(ExploreMode::Dfs, false, 400, 120);
    o.fail_fast = true;
    let mut r = run(&broken, &o);
    assert!(r.failed > 0, "the explorer missed the broken build: {r:#?}");
    let first = r.first_failure.expect("a first failure");
    eprintln!(
        "broken build found at schedule {} after {:.1} s",
        first.schedule, first.after_s
    );
    let failure = &r.failures[0];
    assert!(
        failure
            .problems
            .iter()
            .any(|p| p.contains("session lost without a legitimate cause")
                && p.contains("B deleted the session")),
        "{:#?}",
        failure.problems
    );
    let dir = tempfile::tempdir().unwrap();
    let written = write_replays(&broken, &mut r.failures[..1], dir.path()).unwrap();
    let replay = load_file(&written[0]).unwrap().remove(0);
    assert!(
        replay.steps.iter().all(|s| s.line.is_some()),
        "ordinary steps"
    );
    for _ in 0..2 {
        let report = run_scenario(&replay, &run_options());
        assert!(
            !report.passed,
            "the replay passed:\n{}",
            report.timeline.render_text()
        );
        assert!(
            report.failures.iter().any(|f| f
                .to_string()
                .contains("session lost without a legitimate cause")),
            "{:#?}",
            report.failures
        );
    }
}

#[test]
fn the_real_build_survives_every_ordering_with_the_legacy_client() {
    let fixed = scenario("legacy-rotates-behind.toml", "legacy-rotates-behind/fixed");
    let r = run(&fixed, &options(ExploreMode::Dfs, false, 500, 180));
    assert!(r.exhaustive, "{r:#?}");
    assert_eq!(r.diverged, 0, "every prefix was followed");
    assert_eq!(r.failed, 0, "{:#?}", r.failures);
    assert!(
        r.losses.keys().all(|k| k == "limit:legacy_client"),
        "{:?}",
        r.losses
    );
    assert!(
        r.outcomes["B"].contains_key("stale_rejection_preserved"),
        "the stale-rejection branch was explored: {:?}",
        r.outcomes["B"]
    );
}

/// The soak is part of every test run: about 15 s on 2 cores alone (500 schedules), more beside
/// the rest of the suite, well inside its 600 s budget.
#[test]
fn soak_four_processes_random_orderings_with_kills() {
    let sc = scenario("soak-four.toml", "soak-four");
    let r = run(&sc, &options(ExploreMode::Random, true, 500, 600));
    assert_eq!(r.schedules, 500, "{:?}", r.stopped_by);
    assert_eq!(r.failed, 0, "{:#?}", r.failures);
    assert!(
        r.losses.keys().all(|k| k == "limit:kill_after_rotation"),
        "{:?}",
        r.losses
    );
    eprintln!(
        "soak: {} schedules ({} distinct) in {:.1} s, {:.1}/s; {} at the documented limit",
        r.schedules, r.distinct, r.elapsed_s, r.schedules_per_s, r.limit_schedules
    );
}
