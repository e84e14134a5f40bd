//! Capture sets: the captures of one program's processes (`memray run --follow-fork` writes
//! `app.bin` for the parent and `app.bin.PID` for each child), aligned on the wall clock.
//!
//! The processes' memory samples are placed on one time line: at any moment a process holds
//! the heap of its last sample so far, and nothing before its first sample or after its last
//! (it had not started, or had gone). The combined heap is their sum, and the combined peak the
//! first moment that sum is highest (spec §5.11). What each process held then is its live heap at
//! that sample, which a second pass reads with [`crate::Window::at_sample`]: one pass cannot know
//! the moment before every process has been read.

use std::collections::BTreeMap;

use crate::group::Group;
use crate::{Analysis, Usage};

/// One moment of the combined time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CombinedSample {
    /// Time, ms since the Unix epoch.
    pub ms_since_epoch: u64,
    /// The sum of the processes' heaps.
    pub heap: u64,
    /// The sum of their resident set sizes.
    pub rss: u64,
}

/// What one process held at the combined peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Its heap then (0 when it had not started or had gone).
    pub heap: u64,
    /// Its memory samples up to that moment (the last one included), 1-based: the live heap
    /// then is [`crate::Window::at_sample`] of this count. `None` when it held nothing then.
    pub samples: Option<u64>,
}

/// The moment the combined heap was highest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CombinedPeak {
    /// When, ms since the Unix epoch.
    pub ms_since_epoch: u64,
    /// The combined heap then.
    pub bytes: u64,
    /// What each process held then, in the order of the analyses given.
    pub held: Vec<Held>,
}

/// One process's samples as `(ms, heap, rss, samples so far)`.
fn samples(analysis: &Analysis) -> Vec<(u64, u64, u64, u64)> {
    let per_point = analysis.timeline().samples_per_point();
    // A point of a long capture stands for several samples (their maxima); it is placed at the
    // first of them.
    analysis
        .timeline()
        .points()
        .iter()
        .enumerate()
        .map(|(i, p)| (p.ms_since_epoch, p.heap, p.rss, i as u64 * per_point + 1))
        .collect()
}

/// Where each process stands at every moment at which one of them took a sample.
fn walk(processes: &[&Analysis], mut at: impl FnMut(u64, &[Option<(u64, u64, u64)>])) {
    let series: Vec<Vec<(u64, u64, u64, u64)>> = processes.iter().map(|a| samples(a)).collect();
    let mut times: Vec<u64> = series.iter().flatten().map(|s| s.0).collect();
    times.sort_unstable();
    times.dedup();
    let mut next = vec![0usize; series.len()];
    let mut now: Vec<Option<(u64, u64, u64)>> = vec![None; series.len()];
    for t in times {
        for (p, s) in series.iter().enumerate() {
            while next[p] < s.len() && s[next[p]].0 <= t {
                let (_, heap, rss, n) = s[next[p]];
                now[p] = Some((heap, rss, n));
                next[p] += 1;
            }
            // A process is gone after its last sample.
            if next[p] == s.len() && s.last().is_some_and(|last| last.0 < t) {
                now[p] = None;
            }
        }
        at(t, &now);
    }
}

/// The combined heap and RSS at every moment at which a process took a sample.
pub fn combined_timeline(processes: &[&Analysis]) -> Vec<CombinedSample> {
    let mut out = Vec::new();
    walk(processes, |t, now| {
        let (mut heap, mut rss) = (0u64, 0u64);
        for (h, r, _) in now.iter().flatten() {
            heap = heap.wrapping_add(*h);
            rss = rss.wrapping_add(*r);
        }
        out.push(CombinedSample { ms_since_epoch: t, heap, rss });
    });
    out
}

/// The first moment the combined heap was highest, with what each process held then; `None`
/// when no process took a sample. With `span` (ms since the epoch, both ends included), only
/// the moments inside it count: a time window's combined peak.
pub fn combined_peak(processes: &[&Analysis], span: Option<(u64, u64)>) -> Option<CombinedPeak> {
    let mut best: Option<CombinedPeak> = None;
    walk(processes, |t, now| {
        if span.is_some_and(|(from, to)| t < from || t > to) {
            return;
        }
        let bytes = now.iter().flatten().fold(0u64, |s, (h, _, _)| s.wrapping_add(*h));
        if best.as_ref().is_none_or(|b| bytes > b.bytes) {
            let held = now
                .iter()
                .map(|n| match n {
                    Some((heap, _, samples)) => Held { heap: *heap, samples: Some(*samples) },
                    None => Held { heap: 0, samples: None },
                })
                .collect();
            best = Some(CombinedPeak { ms_since_epoch: t, bytes, held });
        }
    });
    best
}

/// One process of a set, for its line of the table of processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its pid, as its capture's header records it.
    pub pid: i32,
    /// Its command line (capture data: escape it before it reaches a terminal or a page).
    pub command: String,
    /// Its own peak (memray's `peak_memory` of its capture).
    pub peak_memory: u64,
    /// Still live at its end.
    pub leaked: Usage,
    /// Whether its capture ended without a trailer (a worker terminated by its pool).
    pub truncated: bool,
    /// When it started, ms since the Unix epoch.
    pub start_ms: i64,
}

impl Process {
    /// The facts of one analysed capture.
    pub fn of(analysis: &Analysis) -> Process {
        let h = analysis.header();
        Process {
            pid: h.pid,
            command: h.command_line.clone(),
            peak_memory: analysis.peak_memory(),
            leaked: analysis.total(crate::Mode::Leaks).unwrap_or_default(),
            truncated: analysis.truncated(),
            start_ms: h.start_time_ms,
        }
    }
}

/// Groups of several processes as one list: groups of the same location add up (threads are
/// merged; a thread id means nothing across processes), each keeps the stack of its largest
/// part. Largest first (ties: more blocks, then location).
pub fn merge_groups(per_process: Vec<Vec<Group>>) -> Vec<Group> {
    let mut by_location: BTreeMap<String, (Group, u64)> = BTreeMap::new();
    for groups in per_process {
        for g in groups {
            match by_location.get_mut(&g.location) {
                Some((merged, largest)) => {
                    merged.usage.add(g.usage);
                    merged.n_stacks += g.n_stacks;
                    if g.usage.bytes > *largest {
                        *largest = g.usage.bytes;
                        merged.stack = g.stack;
                    }
                }
                None => {
                    let largest = g.usage.bytes;
                    by_location.insert(g.location.clone(), (Group { tid: None, ..g }, largest));
                }
            }
        }
    }
    let mut out: Vec<Group> = by_location.into_values().map(|(g, _)| g).collect();
    out.sort_by(|a, b| {
        b.usage
            .bytes
            .cmp(&a.usage.bytes)
            .then(b.usage.count.cmp(&a.usage.count))
            .then(a.location.cmp(&b.location))
    });
    out
}
