//! Memory over time: the capture's memory samples with the live heap at each (spec §5.7), and the
//! live bytes of each site over the same samples.
//!
//! Both are bounded. The timeline keeps every sample up to [`MAX_POINTS`]; past that, adjacent
//! points merge pairwise keeping the maximum of RSS and heap, so a short peak is never lost.
//! A site's series is sparse and counted in *ticks* (see [`Ticks`]: memory samples, or runs of
//! allocation events between them): a point is written only in ticks where the site changed, and
//! when the run outgrows [`MAX_TICKS`] ticks the tick doubles in length and every series is
//! folded. A series thus never holds more than
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

/// Allocation events in one unit of the clock, unless a memory sample ends the unit first.
pub const EVENTS_PER_UNIT: u32 = 256;

/// The clock of the site series: which tick the stream is in, and when each tick ended.
///
/// The clock runs on two kinds of event. A *unit* ends at every memory sample and after every
/// [`EVENTS_PER_UNIT`] allocation events since the last end, and a tick is `units_per_tick`
/// units. So a long capture is measured mostly in time (memory samples every 10 ms by default),
/// and a short one, with a dozen samples but thousands of allocations between them, in record
/// order: a 0.1 s test still has a hundred ticks for a trend.
///
/// The end of each closed tick is kept as a time, interpolated by allocation events between the
/// two memory samples around it (ticks that end after the last sample take its time).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// Memory samples seen so far.
    pub samples: u64,
    /// Clock units per tick (doubles when the run outgrows [`MAX_TICKS`] ticks).
    pub units_per_tick: u64,
    units: u64,
    events_in_unit: u32,
    events: u64,
    tick: u32,
    /// For each closed tick: its end, ms since the epoch (NaN until the next sample is seen).
    ends_ms: Vec<f64>,
    /// For each closed tick: allocation events seen when it ended.
    ends_events: Vec<u64>,
    /// For each closed tick: the index of the memory sample that ended it, or `u64::MAX`.
    ends_sample: Vec<u64>,
    /// The last memory sample: ms since the epoch and allocation events seen then.
    last_sample: Option<(f64, u64)>,
}

/// What one event did to the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Still in the same tick.
    Same,
    /// The tick it was in (returned) has ended.
    Ended(u32),
    /// The tick it was in (returned) has ended and ticks doubled in length: series must fold.
    Doubled(u32),
}

impl Ticks {
    pub(crate) fn new() -> Ticks {
        Ticks {
            samples: 0,
            units_per_tick: 1,
            units: 0,
            events_in_unit: 0,
            events: 0,
            tick: 0,
            ends_ms: Vec::new(),
            ends_events: Vec::new(),
            ends_sample: Vec::new(),
            last_sample: None,
        }
    }

    /// The tick the stream is in now.
    pub fn current(&self) -> u32 {
        self.tick
    }

    /// Number of ticks the run spans (the last one possibly partial).
    pub fn n_ticks(&self) -> u32 {
        self.current() + 1
    }

    /// Counts one allocation event (allocation or deallocation).
    #[inline]
    pub(crate) fn event(&mut self) -> Tick {
        self.events += 1;
        self.events_in_unit += 1;
        if self.events_in_unit < EVENTS_PER_UNIT {
            return Tick::Same;
        }
        self.end_unit()
    }

    /// Counts one memory sample, taken at `ms_since_epoch`.
    pub(crate) fn sample(&mut self, ms_since_epoch: u64) -> Tick {
        self.samples += 1;
        let ms = ms_since_epoch as f64;
        // Ticks that ended since the last sample get their time, interpolated by events.
        if let Some((last_ms, last_events)) = self.last_sample {
            let span = (self.events - last_events).max(1) as f64;
            for (end, &events) in self.ends_ms.iter_mut().zip(&self.ends_events).rev() {
                if !end.is_nan() {
                    break;
                }
                *end = last_ms + (ms - last_ms) * (events - last_events) as f64 / span;
            }
        } else {
            // Ticks that ended before the first sample are placed at it.
            for end in self.ends_ms.iter_mut().filter(|e| e.is_nan()) {
                *end = ms;
            }
        }
        self.last_sample = Some((ms, self.events));
        let tick = self.end_unit();
        // The tick that ends at this sample ends exactly then.
        if let (Tick::Ended(_) | Tick::Doubled(_), Some(end), Some(sample)) =
            (tick, self.ends_ms.last_mut(), self.ends_sample.last_mut())
        {
            *end = ms;
            *sample = self.samples - 1;
        }
        tick
    }

    fn end_unit(&mut self) -> Tick {
        self.events_in_unit = 0;
        self.units += 1;
        if self.units % self.units_per_tick != 0 {
            return Tick::Same;
        }
        let ended = self.tick;
        self.ends_ms.push(f64::NAN);
        self.ends_events.push(self.events);
        self.ends_sample.push(u64::MAX);
        let doubled = self.units / self.units_per_tick >= 2 * MAX_TICKS;
        if doubled {
            self.units_per_tick *= 2;
            // The end of a merged tick is the end of the second of its pair.
            self.ends_ms = second_of_pairs(&self.ends_ms);
            self.ends_events = second_of_pairs(&self.ends_events);
            self.ends_sample = second_of_pairs(&self.ends_sample);
        }
        self.tick = (self.units / self.units_per_tick) as u32;
        if doubled {
            Tick::Doubled(ended)
        } else {
            Tick::Ended(ended)
        }
    }

    /// Ticks that ended after the last memory sample take its time.
    pub(crate) fn finish(&mut self) {
        if let Some((ms, _)) = self.last_sample {
            for end in self.ends_ms.iter_mut().filter(|e| e.is_nan()) {
                *end = ms;
            }
        }
    }

    /// When a tick ended, ms since the epoch; the tick still open when the capture ended ends at
    /// the last memory sample. `None` without memory samples.
    pub fn end_ms(&self, tick: u32) -> Option<f64> {
        let last = self.last_sample?.0;
        let end = self.ends_ms.get(tick as usize).copied().unwrap_or(last);
        Some(if end.is_nan() { last } else { end })
    }

    /// The index of the memory sample that ended a closed tick, if a sample ended it.
    pub fn end_sample(&self, tick: u32) -> Option<u64> {
        self.ends_sample.get(tick as usize).copied().filter(|&s| s != u64::MAX)
    }

    /// Allocation events seen when a tick ended (all of them for the tick still open).
    pub fn end_events(&self, tick: u32) -> u64 {
        self.ends_events.get(tick as usize).copied().unwrap_or(self.events)
    }
}

/// The second value of each pair: the ends of ticks merged pairwise.
fn second_of_pairs<T: Copy>(values: &[T]) -> Vec<T> {
    values.iter().skip(1).step_by(2).copied().collect()
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
    fn ticks_close_at_samples_and_between_them_after_enough_events() {
        let mut t = Ticks::new();
        assert_eq!(t.sample(1_000), Tick::Ended(0));
        // 1,024 events between two samples 10 ms apart: four more ticks, at interpolated times.
        let mut ended = Vec::new();
        for _ in 0..1024 {
            if let Tick::Ended(n) = t.event() {
                ended.push(n);
            }
        }
        assert_eq!(ended, vec![1, 2, 3, 4]);
        t.sample(1_010);
        t.finish();
        let ends: Vec<f64> = (0..6).map(|n| t.end_ms(n).unwrap()).collect();
        assert_eq!(ends, vec![1000.0, 1002.5, 1005.0, 1007.5, 1010.0, 1010.0]);
        assert_eq!(t.end_events(2), 512);
    }

    #[test]
    fn ticks_double_and_keep_the_end_of_each_merged_pair() {
        let mut t = Ticks::new();
        let mut doubled = 0;
        for ms in 0..(2 * MAX_TICKS) {
            if let Tick::Doubled(_) = t.sample(ms * 10) {
                doubled += 1;
            }
        }
        assert_eq!((doubled, t.units_per_tick, t.current()), (1, 2, MAX_TICKS as u32));
        // Tick 0 now spans samples 0 and 1 and ends at the second.
        assert_eq!(t.end_ms(0), Some(10.0));
        assert_eq!(t.end_ms(MAX_TICKS as u32 - 1), Some(((2 * MAX_TICKS - 1) * 10) as f64));
    }

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
