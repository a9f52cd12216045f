//! The two ways a schedule's decisions are taken: [`Follow`] (depth-first search: replay a
//! prefix of choices, then always take the first option, recording every decision so the
//! search can branch on the alternatives) and [`Pct`] (random sampling in the style of PCT,
//! probabilistic concurrency testing: random process priorities, a few random points where the
//! running process loses its priority, so schedules with few, deep preemptions are likely).
//!
//! Both are deterministic functions of their inputs (a prefix; a seed), so a schedule can be
//! described, repeated and counted. The random numbers are SplitMix64, defined here so a seed
//! means the same schedules forever, whatever crate versions the workspace moves to.

use crate::run::schedule::{Choice, Chooser, Move};
use std::collections::BTreeMap;

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The seed of the `i`th sampled schedule of an exploration seeded with `seed`.
pub fn schedule_seed(seed: u64, i: u64) -> u64 {
    Rng::new(seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// Depth-first search: follows `prefix`, then takes the first option; records every decision.
#[derive(Debug, Default)]
pub struct Follow {
    prefix: Vec<Choice>,
    /// Every decision: its options and the index taken.
    pub taken: Vec<(Vec<Choice>, usize)>,
    /// A prefix choice was not among the options (the system behaved differently this time).
    pub diverged: bool,
}

impl Follow {
    pub fn new(prefix: Vec<Choice>) -> Follow {
        Follow {
            prefix,
            ..Follow::default()
        }
    }

    /// The prefixes of the branches this run opened: for every decision past the prefix, each
    /// option not taken.
    pub fn branches(&self) -> Vec<Vec<Choice>> {
        let mut out = Vec::new();
        let start = self.prefix.len().min(self.taken.len());
        for d in start..self.taken.len() {
            let (options, taken) = &self.taken[d];
            for (alt, option) in options.iter().enumerate() {
                if alt == *taken {
                    continue;
                }
                let mut p: Vec<Choice> =
                    self.taken[..d].iter().map(|(o, i)| o[*i].clone()).collect();
                p.push(option.clone());
                out.push(p);
            }
        }
        out
    }
}

impl Chooser for Follow {
    fn choose(&mut self, options: &[Choice]) -> usize {
        let d = self.taken.len();
        let index = match self.prefix.get(d) {
            Some(want) => match options.iter().position(|o| o == want).or_else(|| {
                options
                    .iter()
                    .position(|o| o.mv == want.mv && o.process == want.process)
            }) {
                Some(i) => i,
                None => {
                    self.diverged = true;
                    0
                }
            },
            None => 0,
        };
        self.taken.push((options.to_vec(), index));
        index
    }
}

/// PCT-style sampling: every process gets a random priority; the highest-priority process that
/// can move goes on; at `depth - 1` random decisions the process that would go on drops to the
/// lowest priority (a preemption); with kills, a few random decisions kill instead. One schedule
/// in four is a plain random walk instead (any process may go on at each decision), which finds
/// the orderings with many preemptions that PCT makes unlikely.
#[derive(Debug)]
pub struct Pct {
    rng: Rng,
    priority: BTreeMap<String, i64>,
    change_at: Vec<usize>,
    kill_at: Vec<usize>,
    kills_pending: usize,
    step: usize,
    walk: bool,
    /// Every decision: its options and the index taken.
    pub taken: Vec<(Vec<Choice>, usize)>,
}

impl Pct {
    /// `length`: about how many decisions a schedule takes; `max_kills`: 0 without kills.
    pub fn new(seed: u64, length: usize, max_kills: u32) -> Pct {
        let mut rng = Rng::new(seed);
        let walk = rng.below(4) == 0;
        let length = length.max(2) as u64;
        let depth = 1 + rng.below(3) as usize;
        let change_at = (1..depth).map(|_| 1 + rng.below(length) as usize).collect();
        let kills = if max_kills == 0 {
            0
        } else {
            rng.below(u64::from(max_kills) + 1) as usize
        };
        let kill_at = (0..kills).map(|_| 1 + rng.below(length) as usize).collect();
        Pct {
            rng,
            priority: BTreeMap::new(),
            change_at,
            kill_at,
            kills_pending: 0,
            step: 0,
            walk,
            taken: Vec::new(),
        }
    }

    fn priority_of(&mut self, process: &str) -> i64 {
        if let Some(p) = self.priority.get(process) {
            return *p;
        }
        let p = 1_000 + (self.rng.next_u64() >> 16) as i64;
        self.priority.insert(process.to_string(), p);
        p
    }

    fn pick(&mut self, options: &[Choice]) -> usize {
        self.step += 1;
        self.kills_pending += self.kill_at.iter().filter(|k| **k == self.step).count();
        let kills: Vec<usize> = (0..options.len())
            .filter(|i| options[*i].mv == Move::Kill)
            .collect();
        if self.kills_pending > 0 && !kills.is_empty() {
            self.kills_pending -= 1;
            return kills[self.rng.below(kills.len() as u64) as usize];
        }
        let moves: Vec<usize> = (0..options.len())
            .filter(|i| options[*i].mv != Move::Kill)
            .collect();
        if moves.is_empty() {
            return kills[self.rng.below(kills.len() as u64) as usize];
        }
        if self.walk {
            return moves[self.rng.below(moves.len() as u64) as usize];
        }
        let best = |me: &mut Pct| {
            *moves
                .iter()
                .max_by_key(|i| me.priority_of(&options[**i].process))
                .expect("not empty")
        };
        let mut chosen = best(self);
        let changes = self.change_at.iter().filter(|c| **c == self.step).count();
        for _ in 0..changes {
            let lowest = self.priority.values().min().copied().unwrap_or(0);
            self.priority
                .insert(options[chosen].process.clone(), lowest - 1);
            chosen = best(self);
        }
        chosen
    }
}

impl Chooser for Pct {
    fn choose(&mut self, options: &[Choice]) -> usize {
        let index = self.pick(options);
        self.taken.push((options.to_vec(), index));
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(mv: Move, p: &str) -> Choice {
        Choice {
            mv,
            process: p.into(),
            at: None,
        }
    }

    #[test]
    fn follow_replays_its_prefix_and_opens_the_other_branches() {
        let mut f = Follow::new(vec![c(Move::Start, "B")]);
        let opts = [c(Move::Start, "A"), c(Move::Start, "B")];
        assert_eq!(f.choose(&opts), 1);
        let opts2 = [c(Move::Release, "A"), c(Move::Release, "B")];
        assert_eq!(f.choose(&opts2), 0);
        assert!(!f.diverged);
        assert_eq!(
            f.branches(),
            vec![vec![c(Move::Start, "B"), c(Move::Release, "B")]]
        );
    }

    #[test]
    fn pct_is_a_function_of_its_seed() {
        let opts = [
            c(Move::Release, "A"),
            c(Move::Release, "B"),
            c(Move::Kill, "A"),
        ];
        let run = |seed| {
            let mut p = Pct::new(seed, 10, 1);
            (0..10).map(|_| p.choose(&opts)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let distinct: std::collections::BTreeSet<_> = (0..50).map(run).collect();
        assert!(distinct.len() > 3, "{distinct:?}");
    }
}
