//! Memory over time: the capture's memory samples with the live heap at each (spec §5.7), and the
//! live bytes of each site over the same samples.
//!
//! Both are bounded. The timeline keeps every sample up to [`MAX_POINTS`]; past that, adjacent
//! points merge pairwise keeping the maximum of RSS and heap, so a short peak is never lost.
//! A site's series is sparse and counted in *ticks* of `samples_per_tick` memory samples: a point
//! is written only in ticks where the site changed, and when the run outgrows [`MAX_TICKS`] ticks
//! the tick doubles in length and every series is folded. A series thus never holds more than
//! `2 × MAX_TICKS` points, whatever the length of the capture.

/// Points kept before the timeline starts merging neighbours.
pub const MAX_POINTS: usize = 1 << 20;

/// Ticks per series before ticks double in length.
pub const MAX_TICKS: u64 = 256;

/// One memory sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Time, ms since the Unix epoch.
    pub ms_since_epoch: u64,
    /// Resident set size of the process, bytes.
    pub rss: u64,
    /// Live heap at that point of the stream (as memray computes it), bytes.
    pub heap: u64,
}

/// The memory samples of a capture, in order.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    points: Vec<Sample>,
    samples_per_point: u64,
    samples: u64,
    pending: Option<Sample>,
    pending_len: u64,
}

impl Timeline {
    pub(crate) fn new() -> Timeline {
        Timeline { samples_per_point: 1, ..Timeline::default() }
    }

    pub(crate) fn push(&mut self, sample: Sample) {
        self.samples += 1;
        let merged = match self.pending {
            None => sample,
            Some(p) => Sample {
                ms_since_epoch: p.ms_since_epoch,
                rss: p.rss.max(sample.rss),
                heap: p.heap.max(sample.heap),
            },
        };
        self.pending_len += 1;
        if self.pending_len < self.samples_per_point {
            self.pending = Some(merged);
            return;
        }
        self.pending = None;
        self.pending_len = 0;
        self.points.push(merged);
        if self.points.len() >= MAX_POINTS {
            self.points = self
                .points
                .chunks(2)
                .map(|pair| Sample {
                    ms_since_epoch: pair[0].ms_since_epoch,
                    rss: pair.iter().map(|s| s.rss).max().unwrap_or(0),
                    heap: pair.iter().map(|s| s.heap).max().unwrap_or(0),
                })
                .collect();
            self.samples_per_point *= 2;
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            self.points.push(p);
            self.pending_len = 0;
        }
    }

    /// The points, in order. Each point is one memory sample unless the capture had more than
    /// [`MAX_POINTS`] samples (see [`Timeline::samples_per_point`]).
    pub fn points(&self) -> &[Sample] {
        &self.points
    }

    /// How many samples each point stands for (1 unless the capture was very long).
    pub fn samples_per_point(&self) -> u64 {
        self.samples_per_point
    }

    /// Number of memory samples read.
    pub fn n_samples(&self) -> u64 {
        self.samples
    }
}

/// A site's live totals at the end of one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesPoint {
    /// The tick (see [`Ticks`]).
    pub tick: u32,
    /// Live bytes at the end of the tick.
    pub bytes: u64,
    /// Live blocks at the end of the tick.
    pub count: u64,
    /// Allocations made at the site so far (cumulative), at the end of the tick.
    pub allocated: u64,
}

/// The clock of the site series: which tick the stream is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticks {
    /// Memory samples per tick.
    pub samples_per_tick: u64,
    /// Memory samples seen so far.
    pub samples: u64,
    /// `samples / samples_per_tick`, kept so the per-event path does not divide.
    tick: u32,
}

impl Ticks {
    pub(crate) fn new() -> Ticks {
        Ticks { samples_per_tick: 1, samples: 0, tick: 0 }
    }

    /// The tick the stream is in now.
    pub fn current(&self) -> u32 {
        self.tick
    }

    /// Number of ticks the run spans (the last one possibly partial).
    pub fn n_ticks(&self) -> u32 {
        self.current() + 1
    }

    /// Counts one memory sample; returns true when ticks just doubled (series must fold).
    pub(crate) fn sample(&mut self) -> bool {
        self.samples += 1;
        let doubled = self.samples / self.samples_per_tick >= 2 * MAX_TICKS;
        if doubled {
            self.samples_per_tick *= 2;
        }
        self.tick = (self.samples / self.samples_per_tick) as u32;
        doubled
    }

    /// The range of memory-sample indices a tick covers.
    pub fn samples_of(&self, tick: u32) -> std::ops::Range<u64> {
        let start = u64::from(tick) * self.samples_per_tick;
        start..start + self.samples_per_tick
    }
}

/// Writes a site's totals as the value of `series` at their tick.
pub(crate) fn record(series: &mut Vec<SeriesPoint>, point: SeriesPoint) {
    match series.last_mut() {
        Some(last) if last.tick == point.tick => *last = point,
        _ => series.push(point),
    }
}

/// Halves the tick resolution of a series, keeping the last value of each merged tick.
pub(crate) fn fold(series: &mut Vec<SeriesPoint>) {
    let mut out: Vec<SeriesPoint> = Vec::with_capacity(series.len());
    for p in series.iter() {
        let tick = p.tick / 2;
        match out.last_mut() {
            Some(last) if last.tick == tick => *last = SeriesPoint { tick, ..*p },
            _ => out.push(SeriesPoint { tick, ..*p }),
        }
    }
    *series = out;
}

/// The value of a sparse series at every tick `0..n_ticks` (a step function: a tick without a
/// point keeps the previous value).
pub fn dense(series: &[SeriesPoint], n_ticks: u32) -> Vec<u64> {
    dense_points(series, n_ticks).into_iter().map(|p| p.bytes).collect()
}

/// Every field of a sparse series at every tick `0..n_ticks` (zero before the first point).
pub fn dense_points(series: &[SeriesPoint], n_ticks: u32) -> Vec<SeriesPoint> {
    let mut out = Vec::with_capacity(n_ticks as usize);
    let mut value = SeriesPoint { tick: 0, bytes: 0, count: 0, allocated: 0 };
    let mut points = series.iter().peekable();
    for tick in 0..n_ticks {
        while let Some(p) = points.next_if(|p| p.tick <= tick) {
            value = *p;
        }
        out.push(SeriesPoint { tick, ..value });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_keeps_the_last_value_of_each_merged_tick() {
        let mut s = vec![
            SeriesPoint { tick: 0, bytes: 1, count: 1, allocated: 1 },
            SeriesPoint { tick: 1, bytes: 2, count: 2, allocated: 2 },
            SeriesPoint { tick: 3, bytes: 4, count: 4, allocated: 4 },
            SeriesPoint { tick: 4, bytes: 5, count: 5, allocated: 5 },
        ];
        fold(&mut s);
        let ticks: Vec<(u32, u64)> = s.iter().map(|p| (p.tick, p.bytes)).collect();
        assert_eq!(ticks, vec![(0, 2), (1, 4), (2, 5)]);
        assert_eq!(dense(&s, 4), vec![2, 4, 5, 5]);
    }

    #[test]
    fn timeline_merges_pairs_keeping_maxima() {
        let mut t = Timeline::new();
        for i in 0..(MAX_POINTS as u64 + 3) {
            let heap = if i == 7 { 1_000_000 } else { i };
            t.push(Sample { ms_since_epoch: i, rss: i, heap });
        }
        t.finish();
        assert_eq!(t.samples_per_point(), 2);
        assert_eq!(t.n_samples(), MAX_POINTS as u64 + 3);
        assert!(t.points().iter().any(|p| p.heap == 1_000_000), "the spike survives");
        assert!(t.points().len() <= MAX_POINTS / 2 + 2);
    }
}
