//! Leak detection: is something leaking, where, how fast, and how sure are we.
//!
//! Three kinds of finding, each from the memory over time that the analysis pass keeps:
//!
//! * **growth**: a location (innermost Python frame) whose live bytes keep rising after the
//!   warm-up. The trend is the Mann–Kendall test on the location's live bytes after the warm-up
//!   (first [`WARMUP_SHARE`] of the run), and the rate is the Theil–Sen slope (the median of the
//!   slopes between every pair of points), which one spike cannot move. A plateau (a bounded cache
//!   that filled), a spike that was freed and a sawtooth are told apart by two checks: the series
//!   must still rise in the last third of the window, and it must end near its maximum.
//! * **unbounded container**: the same trend carried by one block (or a few) that is reallocated
//!   ever larger: a list, dict or bytearray that is appended to and never shrinks, at the line that
//!   grows it; and growth of many small objects whose stack passes through the line that grows
//!   such a container (the objects the container retains), named as that container.
//! * **allocator retention**: the resident set size keeps climbing while the live heap does not
//!   (the allocator keeps freed memory, fragmentation, or memory memray does not trace).
//!
//! **Confidence** of a growth finding is Kendall's τ of the live bytes against time after the
//! warm-up (1 when every sample is above every earlier one, 0 when there is no order) times
//! `1 − p`, where `p` is the one-sided Mann–Kendall p-value of a rising trend. So it is high only
//! when the rise is both consistent and statistically clear; a finding is reported from
//! [`REPORT_CONFIDENCE`] and makes the verdict "leak" from [`LEAK_CONFIDENCE`].
//!
//! The verdict is "inconclusive", with the reason, when the capture cannot support one: an
//! aggregated capture (no memory over time per location), a run too short for a trend, growth
//! visible only in pymalloc arenas (python allocators not traced), or a heap that grows without
//! any single location growing clearly. Allocator retention alone does not make the verdict
//! "leak": the verdict is about the live heap, and the finding says what the RSS does.

use std::collections::BTreeMap;

use memreport_format::Allocator;

use crate::analysis::Analysis;
use crate::group::{By, SiteLabels};
use crate::stacks::spell;
use crate::stats::{ModuleKind, ModuleResolver};
use crate::timeline::{dense_points, SeriesPoint};

/// Share of the run treated as warm-up and left out of every trend.
pub const WARMUP_SHARE: f64 = 0.2;

/// Fewest memory samples after the warm-up for a trend.
pub const MIN_SAMPLES: usize = 20;

/// Growth below this many bytes is never a finding.
pub const MIN_GROWTH_BYTES: u64 = 256 * 1024;

/// Growth below this share of the peak heap is never a finding.
pub const MIN_PEAK_SHARE: f64 = 0.02;

/// Findings are reported from this confidence on.
pub const REPORT_CONFIDENCE: f64 = 0.5;

/// A finding of at least this confidence makes the verdict "leak".
pub const LEAK_CONFIDENCE: f64 = 0.75;

/// Points of a series the statistics look at (more are subsampled evenly).
const MAX_POINTS: usize = 160;

/// A rising series must still rise by this share of its growth in the last third of the window.
const LAST_THIRD_SHARE: f64 = 0.1;

/// A rising series must end at least at this share of its highest value (above its start).
const END_SHARE: f64 = 0.8;

/// One block (or up to this many) carrying the growth is a container being reallocated.
const CONTAINER_BLOCKS: u64 = 4;

/// A container (which names what other findings hold) must grow by at least this much.
const MIN_CONTAINER_GROWTH: u64 = 16 * 1024;

/// A container must have been reallocated at least this many times in the window.
const CONTAINER_REALLOCS: u64 = 3;

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Something in the live heap grows without bound.
    Leak,
    /// Nothing in the live heap grows.
    NoLeak,
    /// The capture cannot support a verdict (the reason says why).
    Inconclusive,
}

impl Verdict {
    /// `leak`, `no-leak` or `inconclusive`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Leak => "leak",
            Verdict::NoLeak => "no-leak",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Live bytes at a location keep rising.
    Growth,
    /// A collection that is only ever appended to.
    UnboundedContainer,
    /// RSS climbs while the live heap does not.
    AllocatorRetention,
}

impl Kind {
    /// `growth`, `unbounded-container` or `allocator-retention`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Growth => "growth",
            Kind::UnboundedContainer => "unbounded-container",
            Kind::AllocatorRetention => "allocator-retention",
        }
    }
}

/// One finding, with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What it is.
    pub kind: Kind,
    /// `function:file:line` of the innermost frame of the program's own code (not the standard
    /// library, installed packages or memray), else the innermost frame; for a container, the
    /// line that grows it; `process RSS` for allocator retention.
    pub location: String,
    /// `function:file:line` of the innermost frame, where the growing memory is allocated (the
    /// location of the per-location charts); empty for allocator retention.
    pub allocated_at: String,
    /// The stack that grows most there, innermost first.
    pub stack: Vec<String>,
    /// The thread, when one thread carries the growth and the capture has several.
    pub thread: Option<u64>,
    /// Live bytes there when the capture ends (for retention: RSS minus heap at the end).
    pub live_bytes_end: u64,
    /// Growth over the window, in bytes.
    pub growth_bytes: u64,
    /// Theil–Sen slope over the window, bytes per second.
    pub growth_rate_bytes_per_s: f64,
    /// Growth divided by the allocations made at the location in the window: what each
    /// allocation there leaves behind on average. `None` for allocator retention.
    pub growth_bytes_per_allocation: Option<f64>,
    /// Between 0 and 1; see the module documentation.
    pub confidence: f64,
    /// Kendall's τ of the series over the window (−1 to 1).
    pub tau: f64,
    /// One-sided Mann–Kendall p-value of a rising trend.
    pub p_value: f64,
    /// One sentence a person can check against the charts.
    pub evidence: String,
    /// The window the statistics cover, in seconds from the start.
    pub window_s: (f64, f64),
}

/// The verdict, why, and the findings, most important first.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaks {
    /// The answer.
    pub verdict: Verdict,
    /// One sentence saying why.
    pub reason: String,
    /// Findings, most important first (confidence × growth).
    pub findings: Vec<Finding>,
}

/// A trend: Mann–Kendall and Theil–Sen over a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Kendall's τ: from −1 (always falling) to 1 (always rising).
    pub tau: f64,
    /// One-sided p-value of a rising trend (Mann–Kendall, normal approximation).
    pub p_rising: f64,
    /// Theil–Sen slope, units per second.
    pub slope: f64,
}

impl Trend {
    /// `τ × (1 − p)` for rising series, 0 otherwise.
    pub fn confidence(&self) -> f64 {
        (self.tau * (1.0 - self.p_rising)).clamp(0.0, 1.0)
    }
}

/// Mann–Kendall and Theil–Sen over `(t, y)` points (at least 3), times ascending.
pub fn trend(points: &[(f64, f64)]) -> Trend {
    let n = points.len();
    if n < 3 {
        return Trend { tau: 0.0, p_rising: 1.0, slope: 0.0 };
    }
    let mut s: i64 = 0;
    let mut slopes: Vec<f64> = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dy = points[j].1 - points[i].1;
            s += (dy > 0.0) as i64 - (dy < 0.0) as i64;
            let dt = points[j].0 - points[i].0;
            if dt > 0.0 {
                slopes.push(dy / dt);
            }
        }
    }
    let pairs = (n * (n - 1) / 2) as f64;
    let nf = n as f64;
    let variance = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    let z = if s > 0 {
        (s as f64 - 1.0) / variance.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / variance.sqrt()
    } else {
        0.0
    };
    let slope = if slopes.is_empty() {
        0.0
    } else {
        let mid = slopes.len() / 2;
        let (_, m, _) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
        *m
    };
    Trend { tau: s as f64 / pairs, p_rising: 1.0 - normal_cdf(z), slope }
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26, error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// A p-value as text: `< 0.001` when tiny.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

/// Evenly spaced indices into `0..n`, at most `max`, the last one included.
fn subsample(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|k| k * (n - 1) / (max - 1)).collect()
}

/// A location's memory over time, all its sites summed.
struct LocationSeries {
    points: Vec<SeriesPoint>,
    /// Growth over the window per thread (`None`: sites that several threads allocated at,
    /// when the pass merged threads), and per stack (python node) with its thread.
    by_thread: BTreeMap<Option<u64>, i128>,
    best_stack: Option<(i128, u32, u64)>,
    /// Any of its sites is a pymalloc arena mapping (python allocators not traced).
    arena: bool,
}

/// Bytes in binary units with one decimal, for evidence and reasons.
pub(crate) fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes.abs() < 1024.0 {
        return format!("{bytes:.0} B");
    }
    let mut value = bytes / 1024.0;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Detects leaks in an analysis made with per-site series (the default of [`crate::Analyzer`]).
pub fn detect(analysis: &Analysis) -> Leaks {
    let inconclusive =
        |reason: String| Leaks { verdict: Verdict::Inconclusive, reason, findings: Vec::new() };
    if analysis.is_aggregated() {
        return inconclusive(
            "aggregated capture (memray run --aggregate): it keeps no memory over time per \
             location, so growth cannot be told from a plateau; capture without --aggregate"
                .to_string(),
        );
    }
    let n_ticks = analysis.ticks().n_ticks() as usize;
    let times: Vec<f64> = (0..n_ticks as u32)
        .map(|t| analysis.tick_end_ms(t).map_or(0.0, |ms| analysis.seconds_since_start(ms)))
        .collect();
    let duration = analysis.duration_s();
    let warmup = duration * WARMUP_SHARE;
    let cut = times.partition_point(|&t| t < warmup);
    let window = n_ticks.saturating_sub(cut);
    let samples = analysis.timeline().n_samples();
    if window < MIN_SAMPLES || analysis.sites().iter().all(|s| s.series.is_empty()) {
        return inconclusive(format!(
            "too short: {samples} memory samples over {duration:.2} s, {window} after the \
             warm-up; a trend needs at least {MIN_SAMPLES} (memray samples every 10 ms)"
        ));
    }
    let window_s = (times[cut], times[n_ticks - 1]);
    let pymalloc_untraced = !analysis.header().trace_python_allocators
        && !analysis.header().python_allocator.is_malloc();

    // Sites summed by location (innermost frame). A location whose live bytes grew by less than
    // the smallest container over the window cannot be a finding, so only the others get dense
    // series: memory stays proportional to the growing locations, not to all of them.
    let stacks = analysis.stacks();
    let modules = ModuleResolver::new(analysis.header());
    let sites = analysis.sites();
    let (cut_tick, end_tick) = (cut as u32, n_ticks as u32 - 1);
    // Each site's location (its innermost line) as a number into `names`.
    const NO_SERIES: u32 = u32::MAX;
    let mut site_labels = SiteLabels::default();
    let labels: Vec<u32> = sites
        .iter()
        .map(|site| {
            if site.series.is_empty() {
                return NO_SERIES;
            }
            site_labels.of(stacks, site, By::Line, &modules)
        })
        .collect();
    let names = site_labels.names;
    let mut net: Vec<i128> = vec![0; names.len()];
    for (site, &label) in sites.iter().zip(&labels) {
        if label != NO_SERIES {
            let growth =
                site.series.bytes_at(end_tick) as i128 - site.series.bytes_at(cut_tick) as i128;
            net[label as usize] += growth;
        }
    }
    let mut locations: BTreeMap<String, LocationSeries> = BTreeMap::new();
    for (site, &label) in sites.iter().zip(&labels) {
        if label == NO_SERIES || net[label as usize] < i128::from(MIN_CONTAINER_GROWTH) {
            continue;
        }
        let label = &names[label as usize];
        let dense = dense_points(&site.series, n_ticks as u32);
        let growth = dense[n_ticks - 1].bytes as i128 - dense[cut].bytes as i128;
        let entry = locations.entry(label.clone()).or_insert_with(|| LocationSeries {
            points: vec![SeriesPoint { tick: 0, bytes: 0, count: 0, allocated: 0 }; n_ticks],
            by_thread: BTreeMap::new(),
            best_stack: None,
            arena: false,
        });
        for (total, p) in entry.points.iter_mut().zip(&dense) {
            total.bytes = total.bytes.wrapping_add(p.bytes);
            total.count = total.count.wrapping_add(p.count);
            total.allocated = total.allocated.wrapping_add(p.allocated);
        }
        let thread = (!site.shared).then_some(site.tid);
        *entry.by_thread.entry(thread).or_default() += growth;
        if entry.best_stack.is_none_or(|(g, _, _)| growth > g) {
            entry.best_stack = Some((growth, site.python_node, site.tid));
        }
        entry.arena |= pymalloc_untraced && site.allocator == Allocator::Mmap;
    }

    let peak = analysis.peak_memory();
    let min_growth = MIN_GROWTH_BYTES.max((peak as f64 * MIN_PEAK_SHARE) as u64);
    let multi_threaded = analysis.info().threads.len() > 1;
    let mut findings: Vec<Finding> = Vec::new();
    let mut containers: Vec<Finding> = Vec::new();
    let mut arena_growth = 0u64;
    // The largest rise that was not steady enough to report, for the reason.
    let mut largest_unsteady: Option<(u64, String, f64)> = None;
    for (location, series) in &locations {
        let Some(candidate) = examine(series, &times, cut) else { continue };
        // Containers are looked for with a lower bar: they name what holds other findings.
        let container = candidate.end_blocks <= CONTAINER_BLOCKS
            && candidate.allocations >= CONTAINER_REALLOCS
            && candidate.growth >= MIN_CONTAINER_GROWTH;
        if candidate.growth < min_growth && !container {
            continue;
        }
        let (stack, useful, thread) = match series.best_stack {
            Some((_, node, tid)) => {
                let frames = stacks.python_stack(node, tid);
                // The innermost frame of the program itself: the standard library, installed
                // packages and memray's own frames say little about whose code leaks.
                let useful = frames
                    .iter()
                    .find(|l| is_own_code(&modules, &l.filename))
                    .map_or_else(|| location.clone(), |l| spell(l));
                let frames = frames.iter().map(|l| spell(l)).collect();
                // The thread matters when one thread carries (nearly) all the growth.
                let total: i128 = series.by_thread.values().filter(|g| **g > 0).sum();
                let own = series.by_thread.get(&Some(tid)).copied().unwrap_or(0);
                let thread = (multi_threaded && total > 0 && own * 10 >= total * 9).then_some(tid);
                (frames, useful, thread)
            }
            None => (Vec::new(), location.clone(), None),
        };
        let confidence = candidate.trend.confidence();
        let per_allocation = (candidate.allocations > 0)
            .then(|| candidate.growth as f64 / candidate.allocations as f64);
        let finding = Finding {
            kind: if container { Kind::UnboundedContainer } else { Kind::Growth },
            location: useful,
            allocated_at: location.clone(),
            stack,
            thread,
            live_bytes_end: candidate.end_bytes,
            growth_bytes: candidate.growth,
            growth_rate_bytes_per_s: candidate.trend.slope,
            growth_bytes_per_allocation: per_allocation,
            confidence,
            tau: candidate.trend.tau,
            p_value: candidate.trend.p_rising,
            evidence: String::new(),
            window_s,
        };
        if confidence < REPORT_CONFIDENCE {
            if candidate.growth >= min_growth
                && largest_unsteady.as_ref().is_none_or(|(g, _, _)| candidate.growth > *g)
            {
                largest_unsteady =
                    Some((candidate.growth, finding.location.clone(), candidate.trend.tau));
            }
            continue;
        }
        if series.arena {
            arena_growth += candidate.growth;
            continue;
        }
        if container {
            containers.push(finding.clone());
            if candidate.growth < min_growth {
                continue;
            }
        }
        findings.push(finding);
    }

    // Many small objects whose stack passes through the line that grows a container are what
    // the container holds: name them as the container.
    for f in &mut findings {
        if f.kind != Kind::Growth {
            continue;
        }
        let holder = containers.iter().find(|c| {
            // `function:file` of the line that grows the container, any line of it.
            let function_file = c.allocated_at.rsplit_once(':').map_or("", |(ff, _)| ff);
            f.stack
                .iter()
                .skip(1)
                .any(|frame| frame.rsplit_once(':').map(|(ff, _)| ff) == Some(function_file))
        });
        if let Some(c) = holder {
            f.kind = Kind::UnboundedContainer;
            f.evidence = format!(
                "{} of objects allocated at {} are held by the container grown at {}",
                human(f.growth_bytes as f64),
                f.allocated_at,
                c.allocated_at
            );
            f.location = c.location.clone();
            f.stack = c.stack.clone();
        }
    }
    for f in &mut findings {
        let base = format!(
            "live bytes rose by {} ({}/s) between {:.2} s and {:.2} s, to {} at the end \
             (Kendall's τ {:.2}, p {})",
            human(f.growth_bytes as f64),
            human(f.growth_rate_bytes_per_s),
            f.window_s.0,
            f.window_s.1,
            human(f.live_bytes_end as f64),
            f.tau,
            p_text(f.p_value)
        );
        f.evidence = match (f.kind, f.evidence.is_empty()) {
            (Kind::UnboundedContainer, true) => format!(
                "one block reallocated ever larger: {base}; a list, dict or bytearray that is \
                 appended to and never shrinks"
            ),
            (_, true) => base,
            (_, false) => format!("{}; {base}", f.evidence),
        };
    }
    // A container finding and the objects it holds may now be two findings at one location.
    merge_same_location(&mut findings);

    let retention = allocator_retention(analysis, window_s.0);
    let heap = heap_growth(analysis, warmup);
    findings.extend(retention);
    findings.sort_by(|a, b| {
        let weight = |f: &Finding| f.confidence * f.growth_bytes as f64;
        weight(b).total_cmp(&weight(a)).then(a.location.cmp(&b.location))
    });

    let strong = findings
        .iter()
        .filter(|f| f.kind != Kind::AllocatorRetention && f.confidence >= LEAK_CONFIDENCE)
        .count();
    let heap_findings = findings.iter().filter(|f| f.kind != Kind::AllocatorRetention).count();
    let (verdict, reason) = if strong > 0 {
        let top = findings.iter().find(|f| f.kind != Kind::AllocatorRetention).expect("strong");
        (
            Verdict::Leak,
            format!(
                "{strong} {} growing after the warm-up; the largest, {}, by {}/s",
                if strong == 1 { "location keeps" } else { "locations keep" },
                top.location,
                human(top.growth_rate_bytes_per_s)
            ),
        )
    } else if heap_findings > 0 {
        (
            Verdict::Inconclusive,
            "some locations rise after the warm-up, but not consistently enough to call it a leak \
             (confidence below 0.75); a longer capture would tell"
                .to_string(),
        )
    } else if arena_growth > 0 {
        (
            Verdict::Inconclusive,
            format!(
                "python allocators not traced: the heap grows by {} in pymalloc arenas, which \
                 memray attributes to whichever line opened them; capture again with \
                 --trace-python-allocators or PYTHONMALLOC=malloc",
                human(arena_growth as f64)
            ),
        )
    } else if let Some((growth, trend)) =
        heap.filter(|(g, t)| *g >= min_growth && t.confidence() >= LEAK_CONFIDENCE)
    {
        let largest = match &largest_unsteady {
            Some((g, location, tau)) => format!(
                "; the largest rise, +{} at {location}, is a step rather than a steady climb \
                 (Kendall's τ {tau:.2})",
                human(*g as f64)
            ),
            None => "; the growth is spread thin over many locations".to_string(),
        };
        (
            Verdict::Inconclusive,
            format!(
                "the heap grows by {} ({}/s) after the warm-up, but no location rises steadily{largest}",
                human(growth as f64),
                human(trend.slope)
            ),
        )
    } else if findings.iter().any(|f| f.kind == Kind::AllocatorRetention) {
        (
            Verdict::NoLeak,
            "the live heap does not grow, but the resident set size does: see the \
             allocator-retention finding"
                .to_string(),
        )
    } else {
        (
            Verdict::NoLeak,
            format!(
                "no location's live bytes keep rising after the warm-up ({:.2} s to {:.2} s)",
                window_s.0, window_s.1
            ),
        )
    };
    Leaks { verdict, reason, findings }
}

/// What the statistics say of one series over the window.
struct Candidate {
    trend: Trend,
    growth: u64,
    end_bytes: u64,
    end_blocks: u64,
    allocations: u64,
}

/// The trend of a location after the warm-up, if its live bytes rose, are still rising in the
/// last third and end near their maximum.
fn examine(series: &LocationSeries, times: &[f64], cut: usize) -> Option<Candidate> {
    let points = &series.points[cut..];
    let first = points.first()?;
    let last = points.last()?;
    if last.bytes <= first.bytes {
        return None;
    }
    let growth = last.bytes - first.bytes;
    let bytes: Vec<u64> = points.iter().map(|p| p.bytes).collect();
    if !still_rising(&bytes) {
        return None;
    }
    let idx = subsample(points.len(), MAX_POINTS);
    let xy: Vec<(f64, f64)> =
        idx.iter().map(|&i| (times[cut + i], points[i].bytes as f64)).collect();
    Some(Candidate {
        trend: trend(&xy),
        growth,
        end_bytes: last.bytes,
        end_blocks: last.count,
        allocations: last.allocated.saturating_sub(first.allocated),
    })
}

/// Whether a file is the program's own code rather than the standard library, an installed
/// package or memray. Captures before memray 1.20 store no interpreter paths, so well-known path
/// shapes decide there.
fn is_own_code(modules: &ModuleResolver<'_>, filename: &str) -> bool {
    match modules.classify(filename).1 {
        ModuleKind::Stdlib | ModuleKind::SitePackages => false,
        ModuleKind::Project | ModuleKind::Unknown => {
            !(filename.starts_with('<')
                || filename.contains("/site-packages/")
                || filename.contains("/dist-packages/")
                || filename.contains("/lib/python3"))
        }
    }
}

/// Whether a series that rose is still rising at its end: it ends near its maximum (not a spike
/// that was freed, nor a sawtooth) and it rose in its last third (not a plateau).
fn still_rising(values: &[u64]) -> bool {
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

/// Findings at one location (a container and what it holds) become one, summed.
fn merge_same_location(findings: &mut Vec<Finding>) {
    let mut merged: Vec<Finding> = Vec::new();
    for f in findings.drain(..) {
        match merged.iter_mut().find(|m| m.location == f.location) {
            Some(m) => {
                let (big, small) =
                    if f.growth_bytes > m.growth_bytes { (f, m.clone()) } else { (m.clone(), f) };
                let mut out = big;
                out.kind = Kind::UnboundedContainer;
                out.growth_bytes += small.growth_bytes;
                out.live_bytes_end += small.live_bytes_end;
                out.growth_rate_bytes_per_s += small.growth_rate_bytes_per_s;
                out.confidence = out.confidence.max(small.confidence);
                *m = out;
            }
            None => merged.push(f),
        }
    }
    *findings = merged;
}

/// The memory samples from `from_s` seconds on: (seconds from the start, RSS, heap).
fn samples_from(analysis: &Analysis, from_s: f64) -> Vec<(f64, f64, f64)> {
    analysis
        .timeline()
        .points()
        .iter()
        .map(|p| (analysis.seconds_since_start(p.ms_since_epoch), p.rss as f64, p.heap as f64))
        .filter(|(t, _, _)| *t >= from_s)
        .collect()
}

/// The heap's growth and trend after the warm-up, from the memory samples, if it is still rising
/// at the end.
fn heap_growth(analysis: &Analysis, warmup: f64) -> Option<(u64, Trend)> {
    let points: Vec<(f64, f64)> =
        samples_from(analysis, warmup).into_iter().map(|(t, _, heap)| (t, heap)).collect();
    if points.len() < MIN_SAMPLES {
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

/// RSS that climbs while the heap does not.
fn allocator_retention(analysis: &Analysis, from_s: f64) -> Option<Finding> {
    let samples = samples_from(analysis, from_s);
    if samples.len() < MIN_SAMPLES {
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
    Some(Finding {
        kind: Kind::AllocatorRetention,
        location: "process RSS".to_string(),
        allocated_at: String::new(),
        stack: Vec::new(),
        thread: None,
        live_bytes_end: (last.1 - last.2).max(0.0) as u64,
        growth_bytes: gap_growth.max(0.0) as u64,
        growth_rate_bytes_per_s: gap_trend.slope,
        growth_bytes_per_allocation: None,
        confidence: rss_trend.confidence().min(gap_trend.confidence().max(0.0)),
        tau: rss_trend.tau,
        p_value: rss_trend.p_rising,
        evidence: format!(
            "RSS rose from {} to {} between {:.2} s and {:.2} s while the live heap went from {} \
             to {}; the gap between them grew by {}. The allocator keeps freed memory, the heap \
             is fragmented, or a native library allocates outside memray's view: try \
             malloc_trim(0), jemalloc or mimalloc (LD_PRELOAD), or PYTHONMALLOC=malloc",
            human(first.1),
            human(last.1),
            first.0,
            last.0,
            human(first.2),
            human(last.2),
            human(gap_growth)
        ),
        window_s: (first.0, last.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<(f64, f64)> {
        values.iter().enumerate().map(|(i, &v)| (i as f64 * 0.01, v)).collect()
    }

    #[test]
    fn a_steady_rise_is_a_confident_trend_with_its_slope() {
        let t = trend(&series(&(0..100).map(|i| 1000.0 * i as f64).collect::<Vec<_>>()));
        assert!((t.tau - 1.0).abs() < 1e-12);
        assert!(t.p_rising < 1e-10);
        assert!((t.slope - 100_000.0).abs() < 1e-6, "{}", t.slope);
        assert!(t.confidence() > 0.99);
    }

    #[test]
    fn noise_and_falls_are_not_trends() {
        // A deterministic zig-zag around a constant.
        let flat: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 10.0 } else { 12.0 }).collect();
        assert!(trend(&series(&flat)).confidence() < 0.1);
        let falling: Vec<f64> = (0..50).map(|i| 100.0 - i as f64).collect();
        assert_eq!(trend(&series(&falling)).confidence(), 0.0);
    }

    #[test]
    fn one_spike_does_not_move_the_theil_sen_slope() {
        let mut values: Vec<f64> = (0..50).map(|i| i as f64).collect();
        values[25] = 1e9;
        let t = trend(&series(&values));
        assert!((t.slope - 100.0).abs() < 5.0, "{}", t.slope);
    }

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.644854) - 0.05).abs() < 1e-6);
    }

    /// A location's series from live bytes per tick (one allocation per tick, one block each).
    fn location(bytes: &[u64]) -> LocationSeries {
        let points = bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| SeriesPoint {
                tick: i as u32,
                bytes: b,
                count: i as u64,
                allocated: i as u64,
            })
            .collect();
        LocationSeries { points, by_thread: BTreeMap::new(), best_stack: None, arena: false }
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
    fn subsampling_keeps_both_ends() {
        assert_eq!(subsample(5, 10), vec![0, 1, 2, 3, 4]);
        let s = subsample(1000, 160);
        assert_eq!((s.len(), s[0], s[159]), (160, 0, 999));
    }
}
