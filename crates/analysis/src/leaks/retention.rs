//! What the memory samples say besides the sites: the heap's own trend, and allocator retention
//! (RSS that stays above the heap after it fell, or climbs while the heap does not).

use super::examine::still_rising;
use super::trend::{subsample, trend, Trend, MAX_POINTS};
use super::{Finding, Kind, Retention, LEAK_CONFIDENCE, MIN_TICKS, REPORT_CONFIDENCE};
use crate::analysis::Analysis;

/// Retention: the heap must have fallen by at least this share of its maximum, ...
const RETENTION_FALL_SHARE: f64 = 0.5;

/// ... and by at least this many bytes, and RSS must keep at least this many of them.
const RETENTION_MIN_BYTES: f64 = 8.0 * 1024.0 * 1024.0;

/// The memory samples from `span.0` to `span.1` seconds: (seconds from the start, RSS, heap).
fn samples_in(analysis: &Analysis, span: (f64, f64)) -> Vec<(f64, f64, f64)> {
    analysis
        .timeline()
        .points()
        .iter()
        .map(|p| (analysis.seconds_since_start(p.ms_since_epoch), p.rss as f64, p.heap as f64))
        .filter(|(t, _, _)| *t >= span.0 && *t <= span.1)
        .collect()
}

/// The heap's growth and trend over `span` (after the warm-up), from the memory samples, if it
/// is still rising at the end.
pub(super) fn heap_growth(analysis: &Analysis, span: (f64, f64)) -> Option<(u64, Trend)> {
    let points: Vec<(f64, f64)> =
        samples_in(analysis, span).into_iter().map(|(t, _, heap)| (t, heap)).collect();
    if points.len() < MIN_TICKS {
        return None;
    }
    let heap: Vec<u64> = points.iter().map(|p| p.1 as u64).collect();
    if !still_rising(&heap) {
        return None;
    }
    let idx = subsample(points.len(), MAX_POINTS);
    let xy: Vec<(f64, f64)> = idx.iter().map(|&i| points[i]).collect();
    let growth = (points[points.len() - 1].1 - points[0].1).max(0.0) as u64;
    Some((growth, trend(&xy)))
}

/// Allocator retention: RSS that stays high after the heap fell, or climbs while it does not.
/// `run` is the span looked at (the run, or the time window), `trend` its part after the
/// warm-up.
pub(super) fn allocator_retention(
    analysis: &Analysis,
    run: (f64, f64),
    trend: (f64, f64),
) -> Option<Finding> {
    retention_after_fall(analysis, run).or_else(|| rss_climbing(analysis, trend))
}

/// A retention finding with the numbers every kind has.
fn retention_finding(
    retention: Retention,
    retained: f64,
    rate: f64,
    confidence: f64,
    trend: Option<Trend>,
    window_s: (f64, f64),
) -> Finding {
    Finding {
        kind: Kind::AllocatorRetention,
        location: "process RSS".to_string(),
        allocated_at: String::new(),
        holds: None,
        stack: Vec::new(),
        stack_portable: Vec::new(),
        thread: None,
        live_bytes_end: retention.rss_end.saturating_sub(retention.heap_end),
        growth_bytes: retained.max(0.0) as u64,
        growth_rate_bytes_per_s: rate.max(0.0),
        allocations: 0,
        rises: 0,
        confidence: confidence.clamp(0.0, 1.0),
        tau: trend.map_or(0.0, |t| t.tau),
        p_value: trend.map_or(1.0, |t| t.p_rising),
        window_s,
        retention: Some(retention),
    }
}

/// The heap fell by at least half its maximum, and RSS kept most of what it released: the
/// allocator keeps freed memory (glibc arenas, pymalloc arenas with one live object each).
fn retention_after_fall(analysis: &Analysis, span: (f64, f64)) -> Option<Finding> {
    let samples = samples_in(analysis, span);
    if samples.len() < 5 {
        return None;
    }
    let (max_at, heap_max) = samples
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.2))
        .fold((0, f64::MIN), |best, (i, h)| if h > best.1 { (i, h) } else { best });
    // What RSS holds besides the heap before the fall: the interpreter, libraries, and what
    // memray does not trace. Its lowest value is the baseline.
    let baseline = samples[..=max_at].iter().map(|s| s.1 - s.2).fold(f64::MAX, f64::min).max(0.0);
    let last = samples[samples.len() - 1];
    let fall = heap_max - last.2;
    if fall < RETENTION_FALL_SHARE * heap_max || fall < RETENTION_MIN_BYTES {
        return None;
    }
    // The fall began at the first sample after the maximum that is halfway down.
    let began = (max_at..samples.len()).find(|&i| samples[i].2 <= heap_max - fall / 2.0)?;
    let after = &samples[began..];
    let kept = |s: &(f64, f64, f64)| s.1 - s.2 - baseline;
    let retained = kept(&last);
    if retained < 0.5 * fall || retained < RETENTION_MIN_BYTES || after.len() < 3 {
        return None;
    }
    // Confidence: the share of the samples after the fall in which RSS still kept at least half
    // of what the heap released.
    let high = after.iter().filter(|s| kept(s) >= 0.5 * fall).count();
    let confidence = high as f64 / after.len() as f64;
    if confidence < REPORT_CONFIDENCE {
        return None;
    }
    let retention = Retention {
        climbing: false,
        began_s: after[0].0,
        heap_max: heap_max as u64,
        rss_end: last.1 as u64,
        heap_end: last.2 as u64,
        ratio: last.1 / last.2.max(1.0),
        baseline_gap: baseline as u64,
    };
    Some(retention_finding(retention, retained, 0.0, confidence, None, (after[0].0, last.0)))
}

/// RSS that climbs while the heap does not (fragmentation, or memory memray does not see).
fn rss_climbing(analysis: &Analysis, span: (f64, f64)) -> Option<Finding> {
    let samples = samples_in(analysis, span);
    if samples.len() < MIN_TICKS {
        return None;
    }
    let idx = subsample(samples.len(), MAX_POINTS);
    let rss: Vec<(f64, f64)> = idx.iter().map(|&i| (samples[i].0, samples[i].1)).collect();
    let gap: Vec<(f64, f64)> =
        idx.iter().map(|&i| (samples[i].0, samples[i].1 - samples[i].2)).collect();
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let rss_growth = last.1 - first.1;
    let heap_growth = last.2 - first.2;
    let rss_trend = trend(&rss);
    let gap_trend = trend(&gap);
    let big = rss_growth >= (16.0 * 1024.0 * 1024.0_f64).max(0.1 * first.1);
    if !big || heap_growth > 0.25 * rss_growth || rss_trend.confidence() < LEAK_CONFIDENCE {
        return None;
    }
    let gap_growth = (last.1 - last.2) - (first.1 - first.2);
    let retention = Retention {
        climbing: true,
        began_s: first.0,
        heap_max: samples.iter().map(|s| s.2).fold(0.0, f64::max) as u64,
        rss_end: last.1 as u64,
        heap_end: last.2 as u64,
        ratio: last.1 / last.2.max(1.0),
        baseline_gap: (first.1 - first.2).max(0.0) as u64,
    };
    let confidence = rss_trend.confidence().min(gap_trend.confidence().max(0.0));
    Some(retention_finding(
        retention,
        gap_growth,
        gap_trend.slope,
        confidence,
        Some(rss_trend),
        (first.0, last.0),
    ))
}
