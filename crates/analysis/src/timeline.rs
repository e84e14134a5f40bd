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

/// A site's live totals over time: a sparse series of [`SeriesPoint`]s, one per tick in which
/// they changed, in tick order.
///
/// Every site of a capture has one, so it is stored compactly: the points are delta-encoded as
/// zig-zag varints (5 to 8 bytes a point rather than 32), behind one box that an empty series
/// does without. The last point stays decoded, because the stream rewrites it until its tick
/// ends.
///
/// Most sites of a capture with many stacks change in one tick only, so a one-point series keeps
/// its point in a box of its own (48 bytes with the allocator's header) rather than in an
/// encoder (80 bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    inner: Repr,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Repr {
    #[default]
    Empty,
    One(Box<SeriesPoint>),
    Many(Box<Encoded>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Encoded {
    /// Every point, each as the differences from the one before (the first from [`ZERO`]):
    /// tick, bytes, count, allocated. The last one, still open, starts at `open_at`.
    closed: Vec<u8>,
    /// The open point, decoded: the stream rewrites it until its tick ends. The point before
    /// it is `last` minus the differences at `open_at`, so it is not stored.
    last: SeriesPoint,
    open_at: u32,
    len: u32,
}

const ZERO: SeriesPoint = SeriesPoint { tick: 0, bytes: 0, count: 0, allocated: 0 };

impl Series {
    /// Number of points.
    pub fn len(&self) -> usize {
        match &self.inner {
            Repr::Empty => 0,
            Repr::One(_) => 1,
            Repr::Many(e) => e.len as usize,
        }
    }

    /// Whether the site never changed.
    pub fn is_empty(&self) -> bool {
        matches!(self.inner, Repr::Empty)
    }

    /// The points, in tick order.
    pub fn iter(&self) -> SeriesIter<'_> {
        let (inner, one) = match &self.inner {
            Repr::Empty => (None, None),
            Repr::One(p) => (None, Some(**p)),
            Repr::Many(e) => (Some(&**e), None),
        };
        SeriesIter { inner, one, at: 0, previous: ZERO }
    }

    /// Writes a site's totals as the value of the series at their tick.
    pub(crate) fn record(&mut self, point: SeriesPoint) {
        let e = match &mut self.inner {
            Repr::Empty => {
                self.inner = Repr::One(Box::new(point));
                return;
            }
            Repr::One(p) if p.tick == point.tick => {
                **p = point;
                return;
            }
            Repr::One(p) => {
                let first = **p;
                let mut closed = Vec::new();
                put_point(&mut closed, first, ZERO);
                self.inner =
                    Repr::Many(Box::new(Encoded { closed, last: first, open_at: 0, len: 1 }));
                let Repr::Many(e) = &mut self.inner else { unreachable!("just set") };
                e
            }
            Repr::Many(e) => e,
        };
        if e.last.tick == point.tick {
            // Rewrite the open point against the one before it.
            let mut at = e.open_at as usize;
            let before = sub_point(e.last, get_point(&e.closed, &mut at));
            e.closed.truncate(e.open_at as usize);
            put_point(&mut e.closed, point, before);
        } else {
            e.open_at = e.closed.len() as u32;
            put_point(&mut e.closed, point, e.last);
            e.len += 1;
        }
        e.last = point;
    }

    /// Halves the tick resolution, keeping the last value of each merged tick.
    pub(crate) fn fold(&mut self) {
        if let Repr::One(p) = &mut self.inner {
            p.tick /= 2;
            return;
        }
        let mut out = Series::default();
        for p in self.iter() {
            out.record(SeriesPoint { tick: p.tick / 2, ..p });
        }
        if let Repr::Many(e) = &mut out.inner {
            e.closed.shrink_to_fit();
        }
        *self = out;
    }

    /// Live bytes at the end of a tick (0 before the first point).
    pub fn bytes_at(&self, tick: u32) -> u64 {
        self.iter().take_while(|p| p.tick <= tick).last().map_or(0, |p| p.bytes)
    }
}

impl<'a> IntoIterator for &'a Series {
    type Item = SeriesPoint;
    type IntoIter = SeriesIter<'a>;

    fn into_iter(self) -> SeriesIter<'a> {
        self.iter()
    }
}

impl FromIterator<SeriesPoint> for Series {
    /// A series of points given in tick order (a point at the tick of the one before replaces
    /// it).
    fn from_iter<I: IntoIterator<Item = SeriesPoint>>(points: I) -> Series {
        let mut out = Series::default();
        for p in points {
            out.record(p);
        }
        out
    }
}

/// The points of a [`Series`], decoded in order.
#[derive(Debug, Clone)]
pub struct SeriesIter<'a> {
    inner: Option<&'a Encoded>,
    /// The point of a one-point series, until it is returned.
    one: Option<SeriesPoint>,
    at: usize,
    previous: SeriesPoint,
}

impl Iterator for SeriesIter<'_> {
    type Item = SeriesPoint;

    fn next(&mut self) -> Option<SeriesPoint> {
        if let Some(p) = self.one.take() {
            return Some(p);
        }
        let e = self.inner?;
        if self.at >= e.closed.len() {
            return None;
        }
        let d = get_point(&e.closed, &mut self.at);
        let p = self.previous;
        let point = SeriesPoint {
            tick: p.tick.wrapping_add(d.tick),
            bytes: p.bytes.wrapping_add(d.bytes),
            count: p.count.wrapping_add(d.count),
            allocated: p.allocated.wrapping_add(d.allocated),
        };
        self.previous = point;
        Some(point)
    }
}

/// Appends `point` as its differences from `base`.
fn put_point(out: &mut Vec<u8>, point: SeriesPoint, base: SeriesPoint) {
    put_varint(out, u64::from(point.tick.wrapping_sub(base.tick)));
    put_varint(out, zigzag(point.bytes.wrapping_sub(base.bytes)));
    put_varint(out, zigzag(point.count.wrapping_sub(base.count)));
    put_varint(out, zigzag(point.allocated.wrapping_sub(base.allocated)));
}

/// Reads the differences [`put_point`] wrote, as a point of differences.
fn get_point(bytes: &[u8], at: &mut usize) -> SeriesPoint {
    let tick = get_varint(bytes, at) as u32;
    let mut field = || unzigzag(get_varint(bytes, at));
    SeriesPoint { tick, bytes: field(), count: field(), allocated: field() }
}

/// `point` minus the differences `d`: the point the differences were taken from.
fn sub_point(point: SeriesPoint, d: SeriesPoint) -> SeriesPoint {
    SeriesPoint {
        tick: point.tick.wrapping_sub(d.tick),
        bytes: point.bytes.wrapping_sub(d.bytes),
        count: point.count.wrapping_sub(d.count),
        allocated: point.allocated.wrapping_sub(d.allocated),
    }
}

fn zigzag(delta: u64) -> u64 {
    let d = delta as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> u64 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint written by [`put_varint`] (the buffer is ours, so it is always whole).
fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// The value of a sparse series at every tick `0..n_ticks` (a step function: a tick without a
/// point keeps the previous value).
pub fn dense(series: &Series, n_ticks: u32) -> Vec<u64> {
    dense_points(series, n_ticks).into_iter().map(|p| p.bytes).collect()
}

/// Every field of a sparse series at every tick `0..n_ticks` (zero before the first point).
pub fn dense_points(series: &Series, n_ticks: u32) -> Vec<SeriesPoint> {
    let mut out = Vec::with_capacity(n_ticks as usize);
    let mut value = SeriesPoint { tick: 0, bytes: 0, count: 0, allocated: 0 };
    let mut points = series.iter().peekable();
    for tick in 0..n_ticks {
        while let Some(p) = points.next_if(|p| p.tick <= tick) {
            value = p;
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
        let mut s: Series = [
            SeriesPoint { tick: 0, bytes: 1, count: 1, allocated: 1 },
            SeriesPoint { tick: 1, bytes: 2, count: 2, allocated: 2 },
            SeriesPoint { tick: 3, bytes: 4, count: 4, allocated: 4 },
            SeriesPoint { tick: 4, bytes: 5, count: 5, allocated: 5 },
        ]
        .into_iter()
        .collect();
        s.fold();
        let ticks: Vec<(u32, u64)> = s.iter().map(|p| (p.tick, p.bytes)).collect();
        assert_eq!(ticks, vec![(0, 2), (1, 4), (2, 5)]);
        assert_eq!(dense(&s, 4), vec![2, 4, 5, 5]);
    }

    #[test]
    fn series_round_trips_through_its_encoding() {
        // Deltas of every sign and size, wrap-arounds included, and a rewritten last tick.
        let points = [
            SeriesPoint { tick: 0, bytes: 5, count: 1, allocated: 1 },
            SeriesPoint { tick: 2, bytes: u64::MAX, count: 0, allocated: 9 },
            SeriesPoint { tick: 3, bytes: 1 << 40, count: u64::MAX, allocated: 1 << 50 },
            SeriesPoint { tick: 200, bytes: 0, count: 7, allocated: u64::MAX },
            SeriesPoint { tick: 200, bytes: 12, count: 8, allocated: u64::MAX },
            SeriesPoint { tick: u32::MAX, bytes: 3, count: 3, allocated: 3 },
        ];
        let series: Series = points.iter().copied().collect();
        let mut expected = points.to_vec();
        expected.remove(3);
        assert_eq!(series.iter().collect::<Vec<_>>(), expected);
        assert_eq!(series.len(), 5);
        assert_eq!(series.bytes_at(199), 1 << 40);
        assert_eq!(series.bytes_at(200), 12);
        assert!(Series::default().iter().next().is_none());
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
