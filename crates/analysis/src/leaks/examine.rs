//! One location's series judged on its own: is it still rising after the warm-up (or over a
//! late climb), how steadily, how fast, and with how many increments.

use super::locations::LocationSeries;
use super::trend::{subsample, trend, Trend, MAX_POINTS};
use super::{MIN_CLIMB_SHARE, MIN_TICKS};

/// A rising series must still rise by this share of its growth in the last third of the window.
const LAST_THIRD_SHARE: f64 = 0.1;

/// A rising series must end at least at this share of its highest value (above its start).
const END_SHARE: f64 = 0.8;

/// No single tick may carry more than this share of the growth.
const MAX_STEP_SHARE: f64 = 0.5;

/// Before a late climb the series must have stayed within this share of the climb's height.
const FLAT_BEFORE_SHARE: f64 = 0.25;

/// What the statistics say of one series over its window.
pub(super) struct Candidate {
    pub(super) trend: Trend,
    /// The first tick of the window examined (the cut, or the start of a late climb).
    pub(super) from: usize,
    pub(super) growth: u64,
    pub(super) end_bytes: u64,
    pub(super) allocations: u64,
    pub(super) rises: u32,
}

/// The innermost line that carries most of a location's growth (its label number).
pub(super) fn largest_line(series: &LocationSeries) -> Option<usize> {
    series.by_line.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(l, _)| *l as usize)
}

/// The trend of a location after the warm-up (or over its late climb), if its live bytes rose,
/// are still rising in the last third, end near their maximum and did not rise in one step.
pub(super) fn examine(series: &LocationSeries, times: &[f64], cut: usize) -> Option<Candidate> {
    examine_with(series, times, cut, false)
}

/// [`examine`], where `steps` allows a rise made of a few large steps.
pub(super) fn examine_with(
    series: &LocationSeries,
    times: &[f64],
    cut: usize,
    steps: bool,
) -> Option<Candidate> {
    let bytes = &series.bytes[cut..];
    let n = bytes.len();
    let (&first, &last) = (bytes.first()?, bytes.last()?);
    if last <= first {
        return None;
    }
    // Where the series was last at its lowest: a climb from there that covers enough of the
    // window, after a flat stretch, is examined on its own (a leak that starts late).
    let low = bytes.iter().copied().min().unwrap_or(first);
    let low_at = bytes.iter().rposition(|&b| b == low).unwrap_or(0);
    let before_max = bytes[..=low_at].iter().copied().max().unwrap_or(low);
    let climb_ok = (n - low_at) as f64 >= MIN_CLIMB_SHARE * n as f64 && n - low_at >= MIN_TICKS;
    let flat_before = (before_max - low) as f64 <= FLAT_BEFORE_SHARE * (last - low) as f64;
    let from = if low_at > 0 && climb_ok && flat_before { low_at } else { 0 };
    let bytes = &bytes[from..];
    let first = bytes[0];
    if last <= first || !still_rising(bytes) {
        return None;
    }
    let growth = last - first;
    let mut rises = 0u32;
    let mut largest_step = 0u64;
    for pair in bytes.windows(2) {
        if pair[1] > pair[0] {
            rises += 1;
            largest_step = largest_step.max(pair[1] - pair[0]);
        }
    }
    if !steps && largest_step as f64 > MAX_STEP_SHARE * growth as f64 {
        return None;
    }
    let start = cut + from;
    let idx = subsample(bytes.len(), MAX_POINTS);
    let xy: Vec<(f64, f64)> = idx.iter().map(|&i| (times[start + i], bytes[i] as f64)).collect();
    let allocated = &series.allocated;
    Some(Candidate {
        trend: trend(&xy),
        from: start,
        growth,
        end_bytes: last,
        allocations: allocated[allocated.len() - 1].saturating_sub(allocated[start]),
        rises,
    })
}

/// Whether a series that rose is still rising at its end: it ends near its maximum (not a spike
/// that was freed, nor a sawtooth) and it rose in its last third (not a plateau).
pub(super) fn still_rising(values: &[u64]) -> bool {
    let (Some(&first), Some(&last)) = (values.first(), values.last()) else { return false };
    if last <= first {
        return false;
    }
    let growth = (last - first) as f64;
    let max = values.iter().copied().max().unwrap_or(last);
    let two_thirds = values[values.len() * 2 / 3];
    growth >= END_SHARE * (max - first) as f64
        && last.saturating_sub(two_thirds) as f64 >= LAST_THIRD_SHARE * growth
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaks::locations::LocationSeries;
    use crate::leaks::{LEAK_CONFIDENCE, MIN_RISES, REPORT_CONFIDENCE};

    /// A location's series from live bytes per tick (one allocation per tick, one block each).
    fn location(bytes: &[u64]) -> LocationSeries {
        let n = bytes.len() as u64;
        LocationSeries {
            bytes: bytes.to_vec(),
            blocks: (0..n).collect(),
            allocated: (0..n).collect(),
            ..LocationSeries::default()
        }
    }

    fn times(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 * 0.01).collect()
    }

    #[test]
    fn a_steady_climb_is_a_candidate() {
        let bytes: Vec<u64> = (0..100).map(|i| i * 1000).collect();
        let c = examine(&location(&bytes), &times(100), 20).expect("rising");
        assert_eq!(c.growth, 79_000);
        assert!(c.trend.confidence() > 0.99);
        assert!((c.trend.slope - 100_000.0).abs() < 1.0);
    }

    #[test]
    fn plateaus_spikes_and_sawtooths_are_not() {
        // A bounded cache: fills by the middle, then flat.
        let plateau: Vec<u64> = (0..100).map(|i| i.min(50) * 1000).collect();
        assert!(examine(&location(&plateau), &times(100), 20).is_none());
        // A spike that is freed.
        let spike: Vec<u64> =
            (0..100).map(|i| if (40..50).contains(&i) { 1 << 20 } else { 10 }).collect();
        assert!(examine(&location(&spike), &times(100), 20).is_none());
        // A sawtooth that ends low.
        let saw: Vec<u64> = (0..100).map(|i| (i % 30) * 1000).collect();
        assert!(examine(&location(&saw), &times(100), 20).is_none());
        // Falling.
        let falling: Vec<u64> = (0..100).map(|i| (100 - i) * 1000).collect();
        assert!(examine(&location(&falling), &times(100), 20).is_none());
    }

    #[test]
    fn a_sawtooth_that_ends_high_is_an_unsteady_candidate() {
        // Passes the shape checks by ending at a tooth's top, but the trend is weak.
        let saw: Vec<u64> = (0..100).map(|i| (i % 25) * 1000 + 1).collect();
        if let Some(c) = examine(&location(&saw), &times(100), 20) {
            assert!(c.trend.confidence() < REPORT_CONFIDENCE, "{}", c.trend.confidence());
        }
    }

    #[test]
    fn a_late_climb_is_examined_from_where_it_starts() {
        // Flat for 60% of the window, then a steady climb.
        let bytes: Vec<u64> = (0..100).map(|i: u64| i.saturating_sub(60) * 1000 + 500).collect();
        let c = examine(&location(&bytes), &times(100), 0).expect("rising");
        assert_eq!(c.from, 60);
        assert!(c.trend.confidence() > 0.99, "{}", c.trend.confidence());
        assert_eq!(c.growth, 39_000);
    }

    #[test]
    fn the_last_tooth_of_a_sawtooth_is_not_a_late_climb() {
        // Three teeth of 30 ticks; the window ends at the top of the last one.
        let saw: Vec<u64> = (0..90).map(|i| (i % 30) * 1000).collect();
        let c = examine(&location(&saw), &times(90), 0);
        assert!(c.is_none_or(|c| c.from == 0 && c.trend.confidence() < REPORT_CONFIDENCE));
    }

    #[test]
    fn one_step_is_not_a_trend_and_a_few_steps_are_weak() {
        let step: Vec<u64> = (0..100).map(|i| if i < 50 { 0 } else { 1 << 20 }).collect();
        assert!(examine(&location(&step), &times(100), 0).is_none());
        // Four equal steps: τ is high, but four increments are four events, not a trend.
        let steps: Vec<u64> = (0..100).map(|i| (i / 25 + (i >= 99) as u64) * 1000).collect();
        let c = examine(&location(&steps), &times(100), 0).expect("rising");
        assert!(c.rises < MIN_RISES);
        let confidence = c.trend.confidence() * f64::from(c.rises) / f64::from(MIN_RISES);
        assert!(confidence < LEAK_CONFIDENCE, "{confidence}");
    }
}
