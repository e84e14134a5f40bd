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
//!
//! The detector is a short pipeline, one file per stage: the window after the warm-up,
//! `locations` (sites labelled and summed into candidate series), `containers` (what unbounded
//! containers hold), `examine` (each series judged on its own, with `trend`'s statistics),
//! `retention` (what the memory samples say), and the verdict here.

mod containers;
mod examine;
mod locations;
mod retention;
mod trend;

use self::containers::Holding;
use self::examine::{examine, examine_with, largest_line};
use self::locations::Locations;
use self::retention::{allocator_retention, heap_growth};
use crate::analysis::Analysis;
use crate::stacks::spell;

pub use self::trend::{trend, Trend};

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
/// this share of the peak heap (with a view's focus or ignore, of the kept bytes at the peak), and
/// make it "inconclusive" from there: a statistically real trickle of a few KiB in a service of
/// many MiB is listed, not alarmed on.
pub const MATERIAL_SHARE: f64 = 0.01;

/// Findings are reported from this confidence on.
pub const REPORT_CONFIDENCE: f64 = 0.5;

/// A finding of at least this confidence makes the verdict "leak". Every leak of the corpus is
/// found at 0.92 or more; a rise with give-backs (a threaded server's in-flight memory over
/// cyclic garbage that the collector has not reached yet) scores about 0.8.
pub const LEAK_CONFIDENCE: f64 = 0.85;

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
    /// The same frames with portable paths (`<site-packages>/flask/app.py`), for text that must
    /// fit a terminal.
    pub stack_portable: Vec<String>,
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

/// The ticks the detector examines: from the end of the warm-up to the end of the run.
pub(super) struct Window {
    /// End time of each tick, in seconds from the start.
    times: Vec<f64>,
    n_ticks: usize,
    /// The first tick after the warm-up.
    cut: usize,
    /// The warm-up, in seconds.
    warmup_s: f64,
    /// The span looked at, seconds from the start: the run, or the time window of the pass.
    bounds_s: (f64, f64),
    /// Python allocators were not traced, so pymalloc arenas stand for the objects in them.
    pymalloc_untraced: bool,
}

impl Window {
    /// The window of a capture, or why there is none to examine.
    fn of(analysis: &Analysis) -> Result<Window, Reason> {
        if analysis.is_aggregated() {
            return Err(Reason::Aggregated);
        }
        let all_ticks = analysis.ticks().n_ticks();
        let mut times: Vec<f64> = (0..all_ticks).map(|t| analysis.tick_end_s(t)).collect();
        let duration = analysis.duration_s();
        // A time window is the span looked at: the ticks that ended inside it. A window with a
        // start chosen by the user has no warm-up of its own; one from the start of the run
        // has the run's.
        let (bounds_s, warmup_s) = match analysis.window() {
            // Without a window, every sample, even one stamped after the header's end time.
            None => ((0.0, f64::INFINITY), duration * WARMUP_SHARE),
            Some(w) if w.asked.from_s().is_some() => ((w.from_s, w.to_s), w.from_s),
            Some(w) => ((w.from_s, w.to_s), w.from_s + (w.to_s - w.from_s) * WARMUP_SHARE),
        };
        if analysis.window().is_some() {
            times.truncate(times.partition_point(|&t| t <= bounds_s.1));
        }
        let n_ticks = times.len();
        let cut = times.partition_point(|&t| t < warmup_s).min(n_ticks.saturating_sub(1));
        let pymalloc_untraced = !analysis.header().trace_python_allocators
            && !analysis.header().python_allocator.is_malloc();
        let ticks = n_ticks.saturating_sub(cut);
        if ticks < MIN_TICKS || analysis.sites().iter().all(|s| s.series.is_empty()) {
            return Err(Reason::TooShort {
                samples: analysis.timeline().n_samples(),
                ticks,
                duration_s: analysis.window().map_or(duration, |w| w.to_s - w.from_s),
                python_allocators_traced: !pymalloc_untraced,
            });
        }
        Ok(Window { times, n_ticks, cut, warmup_s, bounds_s, pymalloc_untraced })
    }

    /// The window in seconds from the start.
    fn span_s(&self) -> (f64, f64) {
        (self.times[self.cut], self.times[self.n_ticks - 1])
    }
}

/// Detects leaks in an analysis made with per-site series (the default of [`crate::Analyzer`]).
pub fn detect(analysis: &Analysis) -> Leaks {
    let window = match Window::of(analysis) {
        Ok(window) => window,
        Err(reason) => {
            return Leaks {
                verdict: Verdict::Inconclusive,
                reason,
                window_s: None,
                findings: Vec::new(),
            }
        }
    };
    let mut locations = Locations::gather(analysis, &window);
    let holding = containers::absorb(&mut locations, &window, analysis.stacks());
    let judged = judge(analysis, &window, &locations, holding);
    conclude(analysis, &window, judged)
}

/// What the candidates say, before the verdict.
struct Judged {
    /// Findings confident enough to report, the confident ones first, each group by rate.
    findings: Vec<Finding>,
    /// Growth seen only in pymalloc arenas (python allocators not traced).
    arena_growth: u64,
    /// The largest rise that was not steady enough to report.
    largest_step: Option<Step>,
}

/// Turns each candidate that is not held by a container into a finding, if its series rises
/// steadily enough.
fn judge(analysis: &Analysis, window: &Window, locations: &Locations, holding: Holding) -> Judged {
    let Holding { is_container, held_by, holds, mut examined } = holding;
    let (times, cut, n_ticks) = (&window.times, window.cut, window.n_ticks);
    let stacks = analysis.stacks();
    let modules = crate::files::ModuleResolver::new(analysis.header());
    let multi_threaded = analysis.info().threads.len() > 1;
    let mut findings: Vec<Finding> = Vec::new();
    let mut arena_growth = 0u64;
    let mut largest_step: Option<Step> = None;
    for (i, series) in locations.series.iter().enumerate() {
        if held_by[i].is_some() {
            continue;
        }
        // Arenas (python allocators not traced) grow a MiB at a time: steps are all they show,
        // and they say where the heap grows, not who leaks.
        if series.arena {
            if let Some(c) = examine_with(series, times, cut, true) {
                if c.trend.confidence() >= REPORT_CONFIDENCE {
                    arena_growth += c.growth;
                }
            }
            continue;
        }
        let label = locations.label(i);
        let c = if is_container[i] { examine(series, times, cut) } else { examined[i].take() };
        let Some(c) = c else { continue };
        let (frames, tid) = locations.frames_of(i, stacks, true);
        let stack = frames.iter().map(|l| spell(l)).collect();
        let stack_portable = frames.iter().map(|l| modules.spell_portable(l)).collect();
        // The thread matters when one thread carries (nearly) all the growth.
        let total: i128 = series.by_thread.values().filter(|g| **g > 0).sum();
        let own = tid.and_then(|t| series.by_thread.get(&Some(t))).copied().unwrap_or(0);
        let thread = tid.filter(|_| multi_threaded && total > 0 && own * 10 >= total * 9);
        let names = &locations.names;
        let allocated_at = largest_line(series).map_or_else(|| label.clone(), |l| names[l].clone());
        let confidence =
            c.trend.confidence() * (f64::from(c.rises) / f64::from(MIN_RISES)).min(1.0);
        let finding = Finding {
            kind: if is_container[i] { Kind::UnboundedContainer } else { Kind::Growth },
            location: label.clone(),
            allocated_at,
            holds: holds[i].map(|h| {
                let held =
                    largest_line(&locations.series[h]).unwrap_or(locations.ranked[h] as usize);
                names[held].clone()
            }),
            stack,
            stack_portable,
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
    Judged { findings, arena_growth, largest_step }
}

/// The verdict and its reason, from the findings, then the heap's own trend and the RSS.
fn conclude(analysis: &Analysis, window: &Window, judged: Judged) -> Leaks {
    let Judged { mut findings, arena_growth, largest_step } = judged;
    let window_s = window.span_s();
    let strong = findings.iter().filter(|f| f.confidence >= LEAK_CONFIDENCE).count();
    // The heap over time is the whole process's: with a view that keeps only some allocations,
    // its rise says nothing about them.
    let heap = heap_growth(analysis, (window.warmup_s, window.bounds_s.1))
        .filter(|_| !analysis.stacks().filters_rows());
    let retention = allocator_retention(analysis, window.bounds_s, (window_s.0, window.bounds_s.1));
    let (verdict, reason) = if strong > 0 {
        (Verdict::Leak, Reason::Growing { locations: strong })
    } else if !findings.is_empty() {
        let bytes: u64 = findings.iter().map(|f| f.growth_bytes).sum();
        // Material to what is looked at: with a focus or an ignore, the kept bytes at the peak.
        let peak = if analysis.stacks().filters_rows() {
            analysis.total(crate::Mode::Peak).map_or(0, |u| u.bytes)
        } else {
            analysis.peak_memory()
        };
        if bytes as f64 >= MATERIAL_SHARE * peak as f64 {
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
