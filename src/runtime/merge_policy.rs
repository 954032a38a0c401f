//! How eagerly arrangements are compacted while following live inputs.
//!
//! Differential's arrangements are log-structured: a retraction sits in a small, recent batch
//! until a merge brings it together with the (old, large) batch holding its assertion, and
//! only then is the memory of both freed. Left to its default policy, a long-running stream
//! with retention therefore carries up to a second copy of its state in retractions before the
//! largest batches merge — memory that saws between the working state and about twice it.
//!
//! While following, workers are often idle; [`compact_when_behind`] spends that time merging
//! an arrangement down to one batch whenever its smaller batches together hold more than
//! a fraction of its largest. Retired state then leaves memory soon after it is retracted,
//! at an amortized cost of about ten extra copies per update.
//!
//! A full merge briefly holds an arrangement twice (its old batches and the merged one). The
//! workers see statistically equal traffic, so with one fixed fraction they would reach it
//! together and their transients would add up; each thread therefore draws its fraction anew
//! after every compaction it starts, between `1 / MOST_SLACK` and `1 / LEAST_SLACK`, so that
//! the merges of different workers (and of one worker's arrangements) fall apart in time. The
//! draws are a fixed pseudo-random sequence per thread; they decide only when memory is
//! merged, never what the arrangements contain.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use differential_dataflow::trace::ExertionLogic;

/// The smaller batches may hold at least `1 / MOST_SLACK` of the largest before compaction…
const MOST_SLACK: usize = 12;

/// … and at most `1 / LEAST_SLACK` of it.
const LEAST_SLACK: usize = 5;

/// The seed of the next thread's draws (each thread takes one).
static NEXT_SEED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's pseudo-random state (splitmix64) and its current slack.
    static DRAW: Cell<(u64, usize)> = Cell::new(draw(NEXT_SEED.fetch_add(1, Ordering::Relaxed)));
}

/// The next state of a splitmix64 sequence after `state`, and a slack drawn from it.
fn draw(state: u64) -> (u64, usize) {
    let state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (
        state,
        LEAST_SLACK + (z % (MOST_SLACK - LEAST_SLACK + 1) as u64) as usize,
    )
}

/// Effort large enough that one exertion rolls every batch of an arrangement into one: the
/// spine introduces a virtual batch at level log2(effort), above any real batch's.
const FULL: usize = 1 << 30;

/// Configures the workers to compact their arrangements when idle (see the
/// [module documentation](self)).
pub fn compact_when_behind(config: &mut timely::WorkerConfig) {
    let logic: ExertionLogic = Arc::new(|batches: &[(usize, usize, usize)]| {
        let largest = batches.iter().map(|b| b.2).max().unwrap_or(0);
        let total: usize = batches.iter().map(|b| b.2).sum();
        DRAW.with(|cell| {
            let (state, slack) = cell.get();
            let behind = (total - largest) * slack > largest;
            if behind {
                cell.set(draw(state));
            }
            behind.then_some(FULL)
        })
    });
    config.set("differential/default_exert_logic".to_string(), logic);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_cover_the_slack_range_and_differ_between_seeds() {
        let mut seen = std::collections::BTreeSet::new();
        let (mut a, mut b) = (draw(0), draw(1));
        let mut differ = 0;
        for _ in 0..200 {
            seen.insert(a.1);
            differ += usize::from(a.1 != b.1);
            (a, b) = (draw(a.0), draw(b.0));
        }
        assert_eq!(seen, (LEAST_SLACK..=MOST_SLACK).collect());
        assert!(
            differ > 100,
            "two threads drew the same slack {} times of 200",
            200 - differ
        );
    }
}
