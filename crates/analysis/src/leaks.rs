//! Leak detection: is something leaking, where, how fast, and how sure are we.
//!
//! The detector returns data: a [`Verdict`], a [`Reason`] (an enum with its numbers) and
//! [`Finding`]s with their evidence as fields. The report crate words them.
//!
//! Three kinds of finding, each from the memory over time that the analysis pass keeps:
//!
//! * **growth**: the live bytes charged to one frame of the program keep rising after the
//!   warm-up (first [`WARMUP_SHARE`] of the run). Sites are summed by the innermost frame of the
//!   program's own code (not the standard library, installed packages or memray), so a cache that
//!   keeps a library's objects is charged to the application line that fills it, with the
//!   library line that allocates most named beside it.
//! * **unbounded container**: the growth is carried by one block (or a few) that is reallocated
//!   ever larger: a list, dict or bytearray appended to and never shrunk. Growing objects whose
//!   stack passes through the line that grows such a container are what it holds: their series
//!   is summed into the container's, so the finding has one window and one rate.
//! * **allocator retention**: the resident set size stays well above the live heap after the
//!   heap fell (the allocator keeps freed memory), or keeps climbing while the heap does not
//!   (fragmentation, or memory memray does not trace).
//!
//! **The clock.** Series are kept per tick of [`crate::timeline::Ticks`]: a memory sample, or a
//! run of allocation events between two samples. So a capture of 0.1 s with a dozen memory
//! samples still has a hundred points in record order, and the statistics need no minimum run
//! time, only [`MIN_TICKS`] ticks after the warm-up.
//!
//! **The statistics.** The trend is the Mann–Kendall test (Kendall's τ of the live bytes against
//! the clock, and the one-sided p-value of a rise), and the rate the Theil–Sen slope in bytes per
//! second (the median of the slopes between pairs of points), which one spike cannot move. The
//! series is examined from where it was last at its lowest, when that climb covers at least
//! [`MIN_CLIMB_SHARE`] of the window and the series was flat before it (a leak that starts late),
//! else over the whole window. A plateau (a cache that filled), a freed spike and a sawtooth are
//! told apart by shape: the series must still rise in the last third of its window and end near
//! its maximum, and no single tick may carry most of the growth.
//!
//! **Confidence** is `τ × (1 − p)`, scaled down when fewer than [`MIN_RISES`] ticks rose: it is
//! high only when the rise is consistent, statistically clear and made of many increments. There
//! is no size floor: a steady rise over hundreds of allocations is strong evidence however small
//! it is, and the finding's projection ([`Finding::growth_per_hour`]) says what it means at
//! production length. A finding is reported from [`REPORT_CONFIDENCE`] and makes the verdict
//! "leak" from [`LEAK_CONFIDENCE`]. Findings are ranked by rate, the confident ones first.
//!
//! The verdict is "inconclusive", with the reason, when the capture cannot support one: an
//! aggregated capture (no memory over time per location), a run too short for a trend, growth
//! visible only in pymalloc arenas (python allocators not traced), or a heap that grows without
//! any single location growing clearly. Allocator retention alone does not make the verdict
//! "leak": the verdict is about the live heap, and the finding says what the RSS does.

use std::collections::BTreeMap;

use memreport_format::Allocator;
use rustc_hash::FxHashMap;

use crate::analysis::Analysis;
use crate::files::ModuleResolver;
use crate::group::{By, SiteLabels};
use crate::stacks::{spell, Stacks};
use crate::timeline::dense_points;
use crate::Site;

/// Share of the run treated as warm-up and left out of every trend.
pub const WARMUP_SHARE: f64 = 0.2;

/// Fewest ticks after the warm-up for a trend.
pub const MIN_TICKS: usize = 20;

/// A rise made of fewer increments (ticks in which the live bytes rose) is scaled down in
/// confidence: a few steps are a few events, not a trend.
pub const MIN_RISES: u32 = 12;

/// A late climb is examined on its own when it covers at least this share of the window.
pub const MIN_CLIMB_SHARE: f64 = 0.25;

/// Rises too irregular for a leak leave the verdict "no-leak" while they add up to less than
/// this share of the peak heap, and make it "inconclusive" from there: a statistically real
/// trickle of a few KiB in a service of many MiB is listed, not alarmed on.
pub const MATERIAL_SHARE: f64 = 0.01;

/// Findings are reported from this confidence on.
pub const REPORT_CONFIDENCE: f64 = 0.5;

/// A finding of at least this confidence makes the verdict "leak". Every leak of the corpus is
/// found at 0.92 or more; a rise with give-backs (a threaded server's in-flight memory over
/// cyclic garbage that the collector has not reached yet) scores about 0.8.
pub const LEAK_CONFIDENCE: f64 = 0.85;

/// Locations with the largest net growth that get a dense series (the others cannot rank).
const CANDIDATES: usize = 256;

/// Points of a series the statistics look at (more are subsampled evenly).
const MAX_POINTS: usize = 160;

/// A rising series must still rise by this share of its growth in the last third of the window.
const LAST_THIRD_SHARE: f64 = 0.1;

/// A rising series must end at least at this share of its highest value (above its start).
const END_SHARE: f64 = 0.8;

/// No single tick may carry more than this share of the growth.
const MAX_STEP_SHARE: f64 = 0.5;

/// Before a late climb the series must have stayed within this share of the climb's height.
const FLAT_BEFORE_SHARE: f64 = 0.25;

/// One block (or up to this many) carrying the growth is a container being reallocated.
const CONTAINER_BLOCKS: u64 = 4;

/// A container must have been reallocated at least this many times in the window.
const CONTAINER_REALLOCS: u64 = 3;

/// Retention: the heap must have fallen by at least this share of its maximum, ...
const RETENTION_FALL_SHARE: f64 = 0.5;

/// ... and by at least this many bytes, and RSS must keep at least this many of them.
const RETENTION_MIN_BYTES: f64 = 8.0 * 1024.0 * 1024.0;

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

/// Why the verdict is what it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Leak: this many locations keep growing (the first finding is the fastest).
    Growing {
        /// Findings confident enough for the verdict.
        locations: usize,
    },
    /// Inconclusive: some locations rise, none consistently enough, by at least
    /// [`MATERIAL_SHARE`] of the peak heap in all.
    Unsteady,
    /// No leak: some locations rise, none consistently enough, by less than [`MATERIAL_SHARE`]
    /// of the peak heap in all (they are listed as findings).
    MinorRises {
        /// Growth of those locations over their windows, in all.
        bytes: u64,
    },
    /// Inconclusive: the growth is in pymalloc arenas (python allocators not traced).
    ArenaGrowth {
        /// Growth of the arenas over the window.
        bytes: u64,
    },
    /// Inconclusive: the heap rises steadily, but no location does.
    SpreadGrowth {
        /// Growth of the heap over the window.
        bytes: u64,
        /// Its Theil–Sen slope, bytes per second.
        rate_bytes_per_s: f64,
        /// The largest rise of one location, if it was a step rather than a climb.
        largest_step: Option<Step>,
    },
    /// No leak, but the resident set size does something (see the retention finding).
    RssOnly,
    /// No leak: nothing rises steadily after the warm-up.
    Steady,
    /// Inconclusive: an aggregated capture keeps no memory over time per location.
    Aggregated,
    /// Inconclusive: too few ticks after the warm-up for a trend.
    TooShort {
        /// Memory samples in the capture.
        samples: u64,
        /// Ticks after the warm-up.
        ticks: usize,
        /// The run's duration, seconds.
        duration_s: f64,
        /// Whether the capture saw pymalloc's small objects (a capture that does not has far
        /// fewer allocation events, so far fewer ticks).
        python_allocators_traced: bool,
    },
}

impl Reason {
    /// A stable name for JSON: `growing`, `unsteady`, `minor-rises`, `arena-growth`, `spread-growth`,
    /// `rss-only`, `steady`, `aggregated` or `too-short`.
    pub fn name(&self) -> &'static str {
        match self {
            Reason::Growing { .. } => "growing",
            Reason::Unsteady => "unsteady",
            Reason::MinorRises { .. } => "minor-rises",
            Reason::ArenaGrowth { .. } => "arena-growth",
            Reason::SpreadGrowth { .. } => "spread-growth",
            Reason::RssOnly => "rss-only",
            Reason::Steady => "steady",
            Reason::Aggregated => "aggregated",
            Reason::TooShort { .. } => "too-short",
        }
    }
}

/// A rise at one location that was not steady enough to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its growth, bytes.
    pub bytes: u64,
    /// `function:file:line`.
    pub location: String,
    /// Kendall's τ of its series.
    pub tau: f64,
}

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Live bytes at a location keep rising.
    Growth,
    /// A collection that is only ever appended to.
    UnboundedContainer,
    /// RSS stays above, or climbs away from, the live heap.
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
    /// `function:file:line` of the innermost frame of the program's own code, else the innermost
    /// frame; for a container, the line that grows it; `process RSS` for allocator retention.
    pub location: String,
    /// `function:file:line` of the innermost frame where most of the growing memory is
    /// allocated; empty for allocator retention.
    pub allocated_at: String,
    /// For a container: where the objects it holds are allocated, when their growth is summed
    /// into its own.
    pub holds: Option<String>,
    /// The stack that grows most there, innermost first.
    pub stack: Vec<String>,
    /// The thread, when one thread carries the growth and the capture has several.
    pub thread: Option<u64>,
    /// Live bytes there when the capture ends (for retention: RSS minus heap at the end).
    pub live_bytes_end: u64,
    /// Growth over the window, bytes (for retention: RSS kept above the heap).
    pub growth_bytes: u64,
    /// Theil–Sen slope over the window, bytes per second (0 for retention that does not climb).
    pub growth_rate_bytes_per_s: f64,
    /// Allocations made there in the window (0 for allocator retention).
    pub allocations: u64,
    /// Ticks in the window in which the live bytes rose.
    pub rises: u32,
    /// Between 0 and 1; see the module documentation.
    pub confidence: f64,
    /// Kendall's τ of the series over the window (−1 to 1).
    pub tau: f64,
    /// One-sided Mann–Kendall p-value of a rising trend.
    pub p_value: f64,
    /// The window the statistics cover, in seconds from the start. Growth, rate and allocations
    /// are all over this window.
    pub window_s: (f64, f64),
    /// For allocator retention: what the RSS did.
    pub retention: Option<Retention>,
}

impl Finding {
    /// The growth projected over an hour at the finding's rate.
    pub fn growth_per_hour(&self) -> f64 {
        self.growth_rate_bytes_per_s.max(0.0) * 3600.0
    }

    /// The growth per 1,000 allocations made there in the window, when there were any.
    pub fn growth_per_1000_allocations(&self) -> Option<f64> {
        (self.allocations > 0).then(|| self.growth_bytes as f64 * 1000.0 / self.allocations as f64)
    }
}

/// Allocator retention: the resident set size against the live heap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    /// RSS climbs while the heap does not (else: RSS stays high after the heap fell).
    pub climbing: bool,
    /// When it began: the heap's fall, or the start of the window.
    pub began_s: f64,
    /// The live heap at its highest, bytes.
    pub heap_max: u64,
    /// RSS at the last sample, bytes.
    pub rss_end: u64,
    /// The live heap at the last sample, bytes.
    pub heap_end: u64,
    /// `rss_end / heap_end`.
    pub ratio: f64,
    /// RSS minus heap at the start (the interpreter and what memray does not see), bytes.
    pub baseline_gap: u64,
}

/// The verdict, why, and the findings, fastest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaks {
    /// The answer.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// The window after the warm-up, seconds from the start (`None` when there was none).
    pub window_s: Option<(f64, f64)>,
    /// Findings in the live heap, the confident ones first, each group by rate (fastest first);
    /// then allocator retention.
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

/// Evenly spaced indices into `0..n`, at most `max`, the last one included.
fn subsample(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|k| k * (n - 1) / (max - 1)).collect()
}

/// A location's memory over the whole run, one value per tick, its sites summed.
#[derive(Debug, Clone, Default)]
struct LocationSeries {
    /// Live bytes, live blocks and allocations so far, at the end of each tick.
    bytes: Vec<u64>,
    blocks: Vec<u64>,
    allocated: Vec<u64>,
    /// Growth over the window per thread (`None`: sites that several threads allocated at,
    /// when the pass merged threads).
    by_thread: BTreeMap<Option<u64>, i128>,
    /// Growth over the window per innermost location (where the memory is allocated).
    by_line: BTreeMap<u32, i128>,
    /// The stack (python node and thread) that grew most.
    best_stack: Option<(i128, u32, u64)>,
    /// Any of its sites is a pymalloc arena mapping (python allocators not traced).
    arena: bool,
}

impl LocationSeries {
    fn new(n_ticks: usize) -> LocationSeries {
        LocationSeries {
            bytes: vec![0; n_ticks],
            blocks: vec![0; n_ticks],
            allocated: vec![0; n_ticks],
            ..LocationSeries::default()
        }
    }

    /// Adds another series (of the same length) into this one.
    fn absorb(&mut self, other: &LocationSeries) {
        for (a, b) in [
            (&mut self.bytes, &other.bytes),
            (&mut self.blocks, &other.blocks),
            (&mut self.allocated, &other.allocated),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x = x.wrapping_add(*y);
            }
        }
        for (k, v) in &other.by_thread {
            *self.by_thread.entry(*k).or_default() += v;
        }
        for (k, v) in &other.by_line {
            *self.by_line.entry(*k).or_default() += v;
        }
        self.arena |= other.arena;
    }
}

/// Each site's label: the innermost frame of the program's own code (else the innermost frame),
/// numbered; and its innermost line, numbered in the same table.
///
/// The own frame of a stack is memoised per trace-tree node and the own-ness per frame, so a
/// capture with a million stacks costs one step per node, not one walk per site.
struct Labeller<'a> {
    stacks: &'a Stacks,
    modules: &'a ModuleResolver<'a>,
    lines: SiteLabels,
    /// Label number of each own frame used so far, and of each label's text (two frames can
    /// spell the same line).
    own_label: FxHashMap<u32, u32>,
    by_name: FxHashMap<String, u32>,
    /// Per frame id: 0 not yet known, 1 the program's own code, 2 not; and per file, since a
    /// capture has far fewer files than frames (one function of 50,000 lines is one file).
    frame_is_own: Vec<u8>,
    file_is_own: FxHashMap<&'a str, bool>,
    /// Per node: its innermost own frame plus one, 0 for none, `u32::MAX` not yet known.
    node_own: Vec<u32>,
    path: Vec<u32>,
}

impl<'a> Labeller<'a> {
    fn new(stacks: &'a Stacks, modules: &'a ModuleResolver<'a>) -> Labeller<'a> {
        Labeller {
            stacks,
            modules,
            lines: SiteLabels::default(),
            own_label: FxHashMap::default(),
            by_name: FxHashMap::default(),
            frame_is_own: vec![0; stacks.n_frames()],
            file_is_own: FxHashMap::default(),
            node_own: vec![u32::MAX; stacks.n_nodes()],
            path: Vec::new(),
        }
    }

    fn is_own(&mut self, frame: u32) -> bool {
        let Some(&known) = self.frame_is_own.get(frame as usize) else { return false };
        if known != 0 {
            return known == 1;
        }
        let (stacks, modules) = (self.stacks, self.modules);
        let own = stacks.frame(frame).is_some_and(|l| {
            *self
                .file_is_own
                .entry(l.filename.as_str())
                .or_insert_with(|| modules.is_own_code(&l.filename))
        });
        self.frame_is_own[frame as usize] = if own { 1 } else { 2 };
        own
    }

    /// The innermost own frame of a node's stack. Memray's runner frames, trimmed from the main
    /// thread's stacks, are never the program's own code, so the answer does not depend on the
    /// thread.
    fn own_frame(&mut self, node: u32) -> Option<u32> {
        self.path.clear();
        let mut at = node;
        let found = loop {
            match self.node_own.get(at as usize) {
                Some(&u32::MAX) => {}
                Some(&known) => break known.checked_sub(1),
                None => break None,
            }
            self.path.push(at);
            match self.stacks.frame_and_parent(at) {
                None => break None,
                Some((frame, parent)) => {
                    if self.is_own(frame) {
                        break Some(frame);
                    }
                    at = parent;
                }
            }
        };
        let memo = found.map_or(0, |f| f + 1);
        for &n in &self.path {
            self.node_own[n as usize] = memo;
        }
        found
    }

    /// (own-code label, innermost line label) of a site, both into `lines.names`.
    fn of(&mut self, site: &Site) -> (u32, u32) {
        let line = self.lines.of(self.stacks, site, By::Line, self.modules);
        let Some(frame) = self.own_frame(site.python_node) else { return (line, line) };
        let Some(location) = self.stacks.frame(frame) else { return (line, line) };
        let (names, by_name) = (&mut self.lines.names, &mut self.by_name);
        let own = *self.own_label.entry(frame).or_insert_with(|| {
            *by_name.entry(spell(location)).or_insert_with_key(|name| {
                names.push(name.clone());
                names.len() as u32 - 1
            })
        });
        (own, line)
    }
}

/// Detects leaks in an analysis made with per-site series (the default of [`crate::Analyzer`]).
pub fn detect(analysis: &Analysis) -> Leaks {
    let inconclusive = |reason: Reason, window_s: Option<(f64, f64)>| Leaks {
        verdict: Verdict::Inconclusive,
        reason,
        window_s,
        findings: Vec::new(),
    };
    if analysis.is_aggregated() {
        return inconclusive(Reason::Aggregated, None);
    }
    let n_ticks = analysis.ticks().n_ticks() as usize;
    let times: Vec<f64> = (0..n_ticks as u32).map(|t| analysis.tick_end_s(t)).collect();
    let duration = analysis.duration_s();
    let warmup = duration * WARMUP_SHARE;
    let cut = times.partition_point(|&t| t < warmup).min(n_ticks - 1);
    let window = n_ticks - cut;
    let samples = analysis.timeline().n_samples();
    let pymalloc_untraced = !analysis.header().trace_python_allocators
        && !analysis.header().python_allocator.is_malloc();
    if window < MIN_TICKS || analysis.sites().iter().all(|s| s.series.is_empty()) {
        return inconclusive(
            Reason::TooShort {
                samples,
                ticks: window,
                duration_s: duration,
                python_allocators_traced: !pymalloc_untraced,
            },
            None,
        );
    }
    let window_s = (times[cut], times[n_ticks - 1]);

    let stacks = analysis.stacks();
    let modules = ModuleResolver::new(analysis.header());
    let sites = analysis.sites();
    let (cut_tick, end_tick) = (cut as u32, n_ticks as u32 - 1);
    // Each site's label, and the net growth of each label over the window. Only the labels that
    // grew most get dense series: memory stays bounded by [`CANDIDATES`], not by the locations.
    const NO_SERIES: (u32, u32) = (u32::MAX, u32::MAX);
    let mut labeller = Labeller::new(stacks, &modules);
    // Pymalloc arenas (python allocators not traced) get labels of their own: a MiB mapped
    // under a frame says where the heap grew, not what the frame keeps, and must not hide the
    // frame's own objects.
    let is_arena = |site: &Site| pymalloc_untraced && site.allocator == Allocator::Mmap;
    let mut arena_label: FxHashMap<u32, u32> = FxHashMap::default();
    let labels: Vec<(u32, u32)> = sites
        .iter()
        .map(|site| {
            if site.series.is_empty() {
                return NO_SERIES;
            }
            let (own, line) = labeller.of(site);
            if !is_arena(site) {
                return (own, line);
            }
            let names = &mut labeller.lines.names;
            let arena = *arena_label.entry(own).or_insert_with(|| {
                names.push(format!("{} (pymalloc arenas)", names[own as usize]));
                names.len() as u32 - 1
            });
            (arena, line)
        })
        .collect();
    let names = std::mem::take(&mut labeller.lines.names);
    // Which labels name a frame of the program's own code (not parsed back from the text: a
    // name from the capture may hold any character).
    let mut own_code = vec![false; names.len()];
    for &l in labeller.own_label.values() {
        own_code[l as usize] = true;
    }
    let growth_of = |site: &Site| {
        site.series.bytes_at(end_tick) as i128 - site.series.bytes_at(cut_tick) as i128
    };
    let mut net: Vec<i128> = vec![0; names.len()];
    for (site, &(own, _)) in sites.iter().zip(&labels) {
        if own != u32::MAX {
            net[own as usize] += growth_of(site);
        }
    }
    let mut ranked: Vec<u32> = (0..names.len() as u32).filter(|&l| net[l as usize] > 0).collect();
    ranked.sort_by(|a, b| net[*b as usize].cmp(&net[*a as usize]).then(a.cmp(b)));
    ranked.truncate(CANDIDATES);
    let mut slot_of: Vec<usize> = vec![usize::MAX; names.len()];
    for (i, &l) in ranked.iter().enumerate() {
        slot_of[l as usize] = i;
    }
    // A stack that several threads allocated at belongs to no one thread. A pass that merged
    // threads says so per site (`shared`); with threads split, the sites of one stack on other
    // threads than the main one are counted here, so both passes name the same threads.
    let main_tid = stacks.main_tid();
    let mut threads_of_stack: FxHashMap<(u32, u64, bool), (u64, bool)> = FxHashMap::default();
    for (site, &(own, _)) in sites.iter().zip(&labels) {
        if slot_of.get(own as usize).is_some_and(|&s| s != usize::MAX) {
            let key = (site.python_node, site.native_node, Some(site.tid) == main_tid);
            let entry = threads_of_stack.entry(key).or_insert((site.tid, false));
            entry.1 |= entry.0 != site.tid;
        }
    }
    let mut locations: Vec<LocationSeries> =
        ranked.iter().map(|_| LocationSeries::new(n_ticks)).collect();
    for (site, &(own, line)) in sites.iter().zip(&labels) {
        let Some(&slot) = slot_of.get(own as usize).filter(|&&s| s != usize::MAX) else {
            continue;
        };
        let entry = &mut locations[slot];
        let dense = dense_points(&site.series, n_ticks as u32);
        for (i, p) in dense.iter().enumerate() {
            entry.bytes[i] = entry.bytes[i].wrapping_add(p.bytes);
            entry.blocks[i] = entry.blocks[i].wrapping_add(p.count);
            entry.allocated[i] = entry.allocated[i].wrapping_add(p.allocated);
        }
        let growth = dense[n_ticks - 1].bytes as i128 - dense[cut].bytes as i128;
        let key = (site.python_node, site.native_node, Some(site.tid) == main_tid);
        let several = threads_of_stack.get(&key).is_some_and(|&(_, multi)| multi);
        let thread = (!site.shared && !several).then_some(site.tid);
        *entry.by_thread.entry(thread).or_default() += growth;
        *entry.by_line.entry(line).or_default() += growth;
        if entry.best_stack.is_none_or(|(g, _, _)| growth > g) {
            entry.best_stack = Some((growth, site.python_node, site.tid));
        }
        entry.arena |= is_arena(site);
    }

    // Containers first: a location whose growth is one block (or a few) reallocated ever larger.
    let is_container = |s: &LocationSeries| {
        !s.arena
            && s.blocks[n_ticks - 1] <= CONTAINER_BLOCKS
            && s.allocated[n_ticks - 1].saturating_sub(s.allocated[cut]) >= CONTAINER_REALLOCS
            && s.bytes[n_ticks - 1] > s.bytes[cut]
    };
    let stack_of = |s: &LocationSeries| -> (Vec<String>, Option<u64>) {
        match s.best_stack {
            Some((_, node, tid)) => {
                (stacks.python_stack(node, tid).iter().map(|l| spell(l)).collect(), Some(tid))
            }
            None => (Vec::new(), None),
        }
    };
    let containers: Vec<usize> =
        (0..locations.len()).filter(|&i| is_container(&locations[i])).collect();
    // Only the program's own containers hold other findings: a frame of the standard library
    // (a thread's bootstrap, the runner of the main module) is on every stack below it.
    let holders: Vec<usize> =
        containers.iter().copied().filter(|&c| own_code[ranked[c] as usize]).collect();
    // Growing objects whose stack passes through a container's line are what it holds: their
    // series joins the container's. `function:file` of the line, any line of it.
    // Each location's trend, once: a container's is taken after it absorbed what it holds, so it
    // is left for then.
    let mut examined: Vec<Option<Candidate>> = (0..locations.len())
        .map(|i| if containers.contains(&i) { None } else { examine(&locations[i], &times, cut) })
        .collect();
    let mut held_by: Vec<Option<usize>> = vec![None; locations.len()];
    for (i, held) in held_by.iter_mut().enumerate() {
        if containers.contains(&i) {
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
        let (stack, _) = stack_of(&locations[i]);
        let own = &names[ranked[i] as usize];
        let Some(k) = stack.iter().position(|f| f == own) else { continue };
        // A container at the very line that made them (the caller's call line) comes first.
        let near = &stack[(k + 1).min(stack.len())..stack.len().min(k + 2)];
        let function_file = |frame: &String| frame.rsplit_once(':').map(|(ff, _)| ff.to_string());
        let functions: Vec<String> = near.iter().filter_map(function_file).collect();
        *held =
            holders.iter().copied().find(|&c| near.contains(&names[ranked[c] as usize])).or_else(
                || {
                    holders.iter().copied().find(|&c| {
                        function_file(&names[ranked[c] as usize])
                            .is_some_and(|ff| functions.contains(&ff))
                    })
                },
            );
    }
    let mut holds: Vec<Option<usize>> = vec![None; locations.len()];
    for (i, c) in held_by.iter().enumerate() {
        if let Some(c) = *c {
            let held = locations[i].clone();
            locations[c].absorb(&held);
            // The largest held location names what the container holds.
            if holds[c].is_none_or(|h| net[ranked[h] as usize] < net[ranked[i] as usize]) {
                holds[c] = Some(i);
            }
        }
    }

    let multi_threaded = analysis.info().threads.len() > 1;
    let mut findings: Vec<Finding> = Vec::new();
    let mut arena_growth = 0u64;
    let mut largest_step: Option<Step> = None;
    for (i, series) in locations.iter().enumerate() {
        if held_by[i].is_some() {
            continue;
        }
        // Arenas (python allocators not traced) grow a MiB at a time: steps are all they show,
        // and they say where the heap grows, not who leaks.
        if series.arena {
            if let Some(c) = examine_with(series, &times, cut, true) {
                if c.trend.confidence() >= REPORT_CONFIDENCE {
                    arena_growth += c.growth;
                }
            }
            continue;
        }
        let label = &names[ranked[i] as usize];
        let c =
            if containers.contains(&i) { examine(series, &times, cut) } else { examined[i].take() };
        let Some(c) = c else { continue };
        let (stack, tid) = stack_of(series);
        // The thread matters when one thread carries (nearly) all the growth.
        let total: i128 = series.by_thread.values().filter(|g| **g > 0).sum();
        let own = tid.and_then(|t| series.by_thread.get(&Some(t))).copied().unwrap_or(0);
        let thread = tid.filter(|_| multi_threaded && total > 0 && own * 10 >= total * 9);
        let allocated_at = largest_line(series).map_or_else(|| label.clone(), |l| names[l].clone());
        let confidence =
            c.trend.confidence() * (f64::from(c.rises) / f64::from(MIN_RISES)).min(1.0);
        let finding = Finding {
            kind: if containers.contains(&i) { Kind::UnboundedContainer } else { Kind::Growth },
            location: label.clone(),
            allocated_at,
            holds: holds[i].map(|h| {
                let held = largest_line(&locations[h]).unwrap_or(ranked[h] as usize);
                names[held].clone()
            }),
            stack,
            thread,
            live_bytes_end: c.end_bytes,
            growth_bytes: c.growth,
            growth_rate_bytes_per_s: c.trend.slope.max(0.0),
            allocations: c.allocations,
            rises: c.rises,
            confidence,
            tau: c.trend.tau,
            p_value: c.trend.p_rising,
            window_s: (times[c.from], times[n_ticks - 1]),
            retention: None,
        };
        if confidence < REPORT_CONFIDENCE {
            if largest_step.as_ref().is_none_or(|s| c.growth > s.bytes) {
                largest_step = Some(Step {
                    bytes: c.growth,
                    location: finding.location.clone(),
                    tau: c.trend.tau,
                });
            }
            continue;
        }
        findings.push(finding);
    }
    // Confident findings first, each group by rate: a fast but irregular rise must not head
    // the list of a leak.
    findings.sort_by(|a, b| {
        let strong = |f: &Finding| f.confidence >= LEAK_CONFIDENCE;
        strong(b)
            .cmp(&strong(a))
            .then(b.growth_rate_bytes_per_s.total_cmp(&a.growth_rate_bytes_per_s))
            .then(a.location.cmp(&b.location))
    });

    let strong = findings.iter().filter(|f| f.confidence >= LEAK_CONFIDENCE).count();
    let heap = heap_growth(analysis, warmup);
    let retention = allocator_retention(analysis, window_s.0);
    let (verdict, reason) = if strong > 0 {
        (Verdict::Leak, Reason::Growing { locations: strong })
    } else if !findings.is_empty() {
        let bytes: u64 = findings.iter().map(|f| f.growth_bytes).sum();
        if bytes as f64 >= MATERIAL_SHARE * analysis.peak_memory() as f64 {
            (Verdict::Inconclusive, Reason::Unsteady)
        } else {
            (Verdict::NoLeak, Reason::MinorRises { bytes })
        }
    } else if arena_growth > 0 {
        (Verdict::Inconclusive, Reason::ArenaGrowth { bytes: arena_growth })
    } else if let Some((bytes, trend)) = heap.filter(|(_, t)| t.confidence() >= LEAK_CONFIDENCE) {
        (
            Verdict::Inconclusive,
            Reason::SpreadGrowth { bytes, rate_bytes_per_s: trend.slope, largest_step },
        )
    } else if retention.is_some() {
        (Verdict::NoLeak, Reason::RssOnly)
    } else {
        (Verdict::NoLeak, Reason::Steady)
    };
    findings.extend(retention);
    Leaks { verdict, reason, window_s: Some(window_s), findings }
}

/// What the statistics say of one series over its window.
struct Candidate {
    trend: Trend,
    /// The first tick of the window examined (the cut, or the start of a late climb).
    from: usize,
    growth: u64,
    end_bytes: u64,
    allocations: u64,
    rises: u32,
}

/// The innermost line that carries most of a location's growth (its label number).
fn largest_line(series: &LocationSeries) -> Option<usize> {
    series.by_line.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(l, _)| *l as usize)
}

/// The trend of a location after the warm-up (or over its late climb), if its live bytes rose,
/// are still rising in the last third, end near their maximum and did not rise in one step.
fn examine(series: &LocationSeries, times: &[f64], cut: usize) -> Option<Candidate> {
    examine_with(series, times, cut, false)
}

/// [`examine`], where `steps` allows a rise made of a few large steps.
fn examine_with(
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
fn allocator_retention(analysis: &Analysis, from_s: f64) -> Option<Finding> {
    retention_after_fall(analysis).or_else(|| rss_climbing(analysis, from_s))
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
fn retention_after_fall(analysis: &Analysis) -> Option<Finding> {
    let samples = samples_from(analysis, 0.0);
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
fn rss_climbing(analysis: &Analysis, from_s: f64) -> Option<Finding> {
    let samples = samples_from(analysis, from_s);
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

    #[test]
    fn subsampling_keeps_both_ends() {
        assert_eq!(subsample(5, 10), vec![0, 1, 2, 3, 4]);
        let s = subsample(1000, 160);
        assert_eq!((s.len(), s[0], s[159]), (160, 0, 999));
    }
}
