//! Unbounded containers, and what they hold: a candidate whose growth is one block (or a few)
//! reallocated ever larger is a list, dict or bytearray that is appended to and never shrunk; the
//! growing objects made for it are summed into its series, so its finding has one window and one
//! rate.

use super::examine::{examine, Candidate};
use super::locations::{LocationSeries, Locations};
use super::{Window, REPORT_CONFIDENCE};
use crate::stacks::Stacks;

/// One block (or up to this many) carrying the growth is a container being reallocated.
const CONTAINER_BLOCKS: u64 = 4;

/// A container must have been reallocated at least this many times in the window.
const CONTAINER_REALLOCS: u64 = 3;

/// Which candidates are containers, which hold which, and the trend of every candidate that is
/// not a container (a container's is taken after it absorbed what it holds).
pub(super) struct Holding {
    pub(super) is_container: Vec<bool>,
    /// Per candidate: the container it was summed into.
    pub(super) held_by: Vec<Option<usize>>,
    /// Per container: the largest candidate it holds, which names what it holds.
    pub(super) holds: Vec<Option<usize>>,
    pub(super) examined: Vec<Option<Candidate>>,
}

/// Finds the containers among the candidates and sums into each what it holds.
pub(super) fn absorb(locations: &mut Locations, window: &Window, stacks: &Stacks) -> Holding {
    let (n_ticks, cut) = (window.n_ticks, window.cut);
    let is_container_series = |s: &LocationSeries| {
        !s.arena
            && s.blocks[n_ticks - 1] <= CONTAINER_BLOCKS
            && s.allocated[n_ticks - 1].saturating_sub(s.allocated[cut]) >= CONTAINER_REALLOCS
            && s.bytes[n_ticks - 1] > s.bytes[cut]
    };
    let n = locations.series.len();
    let is_container: Vec<bool> = locations.series.iter().map(is_container_series).collect();
    // Only the program's own containers hold other findings: a frame of the standard library
    // (a thread's bootstrap, the runner of the main module) is on every stack below it.
    let holders: Vec<usize> =
        (0..n).filter(|&c| is_container[c] && locations.is_own_code(c)).collect();
    // Each location's trend, once: a container's is taken after it absorbed what it holds, so it
    // is left for then.
    let examined: Vec<Option<Candidate>> =
        (0..n)
            .map(|i| {
                if is_container[i] {
                    None
                } else {
                    examine(&locations.series[i], &window.times, cut)
                }
            })
            .collect();
    // Growing objects whose stack passes through a container's line are what it holds: their
    // series joins the container's. `function:file` of the line, any line of it.
    let mut held_by: Vec<Option<usize>> = vec![None; n];
    for (i, held) in held_by.iter_mut().enumerate() {
        if is_container[i] {
            continue;
        }
        // The frame that called the location's own frame must be in the container's function:
        // the objects are made for it (`cache[key] = render(key)`), not somewhere far below. (The
        // same function is not enough: a handler's own line that caches beside another that
        // keeps headers would swap their evidence.)
        // And they must grow steadily themselves: what a growing container holds grows with it,
        // and a function's temporaries beside it must not blur its evidence.
        let steady =
            examined[i].as_ref().is_some_and(|c| c.trend.confidence() >= REPORT_CONFIDENCE);
        if !steady {
            continue;
        }
        let (stack, _) = locations.stack_of(i, stacks, false);
        let own = locations.label(i);
        let Some(k) = stack.iter().position(|f| f == own) else { continue };
        // A container at the very line that made them (the caller's call line) comes first.
        let near = &stack[(k + 1).min(stack.len())..stack.len().min(k + 2)];
        let function_file = |frame: &String| frame.rsplit_once(':').map(|(ff, _)| ff.to_string());
        let functions: Vec<String> = near.iter().filter_map(function_file).collect();
        *held =
            holders.iter().copied().find(|&c| near.contains(locations.label(c))).or_else(|| {
                holders.iter().copied().find(|&c| {
                    function_file(locations.label(c)).is_some_and(|ff| functions.contains(&ff))
                })
            });
    }
    let mut holds: Vec<Option<usize>> = vec![None; n];
    for (i, c) in held_by.iter().enumerate() {
        if let Some(c) = *c {
            let held = locations.series[i].clone();
            locations.series[c].absorb(&held);
            // The largest held location names what the container holds.
            if holds[c].is_none_or(|h| locations.net(h) < locations.net(i)) {
                holds[c] = Some(i);
            }
        }
    }
    Holding { is_container, held_by, holds, examined }
}
