//! The entry type: [`Analyzer`] reads a capture once and returns an [`Analysis`], from which the
//! peak, leaks, temporary allocations, stats and timelines are read.

use std::path::Path;
use std::sync::mpsc;

use memreport_format::events::{Event, Events};
use memreport_format::{
    AggregatedAllocation, Allocator, Capture, Header, Result, Storage, StreamEnd,
};

use crate::info::{CaptureInfo, SampleSpan};
use crate::replay::{Replay, SiteKey, SiteThreads};
use crate::stacks::Stacks;
use crate::threads::PassThreadGroup;
use crate::timeline::{Series, Ticks, Timeline};
use crate::window::{ResolvedWindow, Window, WindowClock};

/// Bytes and blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usage {
    /// Bytes (wrapping at 2^64, as memray's counters do).
    pub bytes: u64,
    /// Blocks (allocations, or mapping pieces).
    pub count: u64,
}

impl Usage {
    /// Adds `other`, wrapping at 2^64 as memray's counters do.
    pub fn add(&mut self, other: Usage) {
        self.bytes = self.bytes.wrapping_add(other.bytes);
        self.count = self.count.wrapping_add(other.count);
    }

    /// The sum of several totals.
    pub fn sum(items: impl IntoIterator<Item = Usage>) -> Usage {
        let mut total = Usage::default();
        for u in items {
            total.add(u);
        }
        total
    }
}

/// Whether results keep threads apart (`--split-threads`) or merge them (memray's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// One entry per stack, all threads together.
    #[default]
    Merged,
    /// One entry per stack and thread.
    Split,
    /// One entry per stack and group of threads named alike ([`Analysis::thread_groups`]),
    /// the entry's `tid` the group's first thread. From a pass that merged threads; a pass that
    /// split them gives its [`Threads::Split`] rows, which a call tree groups
    /// ([`crate::group::Shape::group_threads`]).
    Grouped,
}

/// Why a view cannot be computed from a pass: data, worded by `memreport_report::unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// `memray stats` needs every allocation event; an aggregated capture (`memray run
    /// --aggregate`) stores only the totals at the peak and at the end. memray refuses too.
    AggregatedStats,
    /// Temporary allocations need every allocation event, which an aggregated capture lacks.
    AggregatedTemporary,
    /// The pass did not compute temporary allocations for this threshold
    /// ([`Analyzer::temporary`]).
    TemporaryNotComputed(u64),
    /// A per-thread view of a pass that merged threads ([`Analyzer::threads`]).
    ThreadsMerged,
    /// A time window needs every allocation event placed between the memory samples; an
    /// aggregated capture keeps only the totals at the peak and at the end.
    AggregatedWindow,
}

/// Which snapshot of the heap a result describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// What was live at the peak (the last time the heap reached its maximum).
    Peak,
    /// What was still live when the capture ended.
    Leaks,
    /// Allocations freed after at most N other allocations of the same thread.
    Temporary(u64),
}

impl Mode {
    /// `peak`, `leaks` or `temporary`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Peak => "peak",
            Mode::Leaks => "leaks",
            Mode::Temporary(_) => "temporary",
        }
    }
}

/// One attribution site of a streaming capture: a Python stack, a native stack and a thread,
/// with everything the pass learnt about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Site {
    /// Python trace-tree node (0: no Python stack).
    pub python_node: u32,
    /// Native trace node (0: none).
    pub native_node: u64,
    /// memray thread id: the site's thread, or, when the pass merged threads
    /// ([`Analyzer::threads`]), the thread of its first allocation.
    pub tid: u64,
    /// The site's class of threads when the pass merged threads (an index into
    /// [`Analysis::thread_groups`]); `u32::MAX` when it split them.
    pub(crate) class: u32,
    /// Whether allocations of more than one thread were made here (only when the pass merged
    /// threads; a per-thread site has one thread by definition).
    pub shared: bool,
    /// Allocator of the site's first allocation.
    pub allocator: Allocator,
    /// Memory-map generation of the site's first allocation.
    pub generation: u32,
    /// Index of the site's first allocation.
    pub first_index: u64,
    /// Everything allocated here over the run (with a window: inside it).
    pub allocated: Usage,
    /// Live here at the peak (with a window: at the highest heap inside it).
    pub peak: Usage,
    /// Live here at the end (with a window: allocated inside it and live at its end).
    pub leaked: Usage,
    /// Live totals over time, one point per tick in which they changed (empty when the
    /// analyzer ran with `series(false)`).
    pub series: Series,
}

/// One row of a peak, leak or temporary result: a stack (and thread, when split) with its total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Python trace-tree node.
    pub python_node: u32,
    /// Native trace node.
    pub native_node: u64,
    /// The thread, when threads are split.
    pub tid: Option<u64>,
    /// The total.
    pub usage: Usage,
    /// memray's order key: the index of the first contributing event still live (leaks) or
    /// recorded (temporary); for the peak, which one pass cannot know, the index of the site's
    /// first allocation; the file position for aggregated captures.
    pub order: u64,
    /// Thread of the contributing event with the smallest order (decides main-thread trimming).
    pub representative_tid: u64,
    /// Allocator of that event.
    pub allocator: Allocator,
    /// Memory-map generation of that event.
    pub generation: u32,
}

/// Options of a pass.
pub struct Analyzer<'a> {
    thresholds: Vec<u64>,
    series: bool,
    progress: Option<&'a mut dyn FnMut(Progress)>,
    parallel: bool,
    threads: Threads,
    window: Window,
}

/// How far a pass has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Records read.
    pub records: u64,
    /// Bytes of the decompressed stream read.
    pub bytes: u64,
}

/// Records between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 18;

impl Default for Analyzer<'_> {
    fn default() -> Self {
        Analyzer {
            thresholds: Vec::new(),
            series: true,
            progress: None,
            parallel: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            threads: Threads::Split,
            window: Window::default(),
        }
    }
}

impl<'a> Analyzer<'a> {
    /// Peak, leaks, stats and timelines; no temporary allocations.
    pub fn new() -> Analyzer<'a> {
        Analyzer::default()
    }

    /// Also computes temporary allocations for each threshold N (memray's
    /// `--temporary-allocation-threshold`; `--temporary-allocations` is N = 1).
    pub fn temporary(mut self, thresholds: impl IntoIterator<Item = u64>) -> Analyzer<'a> {
        self.thresholds.extend(thresholds);
        self
    }

    /// Whether to keep per-site live totals over time (on by default).
    pub fn series(mut self, on: bool) -> Analyzer<'a> {
        self.series = on;
        self
    }

    /// Whether to decode on a second thread while this one replays the heap (on by default when
    /// the machine has more than one CPU). Both ways give identical results; the pipeline only
    /// changes how long the pass takes.
    pub fn parallel(mut self, on: bool) -> Analyzer<'a> {
        self.parallel = on;
        self
    }

    /// Whether sites keep threads apart ([`Threads::Split`], the default) or merge them.
    ///
    /// Merged, a stack reached by many threads (a thread-per-request server runs every request
    /// on a new thread) costs one site instead of one per thread, and [`Analysis::entries`] with
    /// [`Threads::Split`] answers `None`. Every merged result is the same either way: the main
    /// thread keeps sites of its own, since it decides the trimming of runner frames.
    pub fn threads(mut self, threads: Threads) -> Analyzer<'a> {
        self.threads = threads;
        self
    }

    /// Restricts the peak, leaks, temporary allocations and stats to a span of the run
    /// (`--from`, `--to`; see [`crate::window`]): the peak is the highest heap inside the window
    /// and what was live then, leaks what was allocated inside it and still live at its end.
    /// Timelines and per-site series still cover the whole run. A window that covers the whole
    /// run gives the results of none. Aggregated captures keep no events to place in time: the
    /// window is ignored there, and [`Analysis::window`] is `None`.
    pub fn window(mut self, window: Window) -> Analyzer<'a> {
        self.window = window;
        self
    }

    /// Calls `f` every so often during the pass.
    pub fn progress(mut self, f: &'a mut dyn FnMut(Progress)) -> Analyzer<'a> {
        self.progress = Some(f);
        self
    }

    /// Opens and analyses a capture file.
    pub fn run_path(self, path: impl AsRef<Path>) -> Result<Analysis> {
        self.run(Capture::open(path)?)
    }

    /// Analyses an opened capture in one pass.
    pub fn run(mut self, capture: Capture) -> Result<Analysis> {
        let storage = (capture.storage(), capture.wrapping());
        let body_offset = capture.body_offset();
        let (header, records) = capture.into_parts();
        let mut sink = Sink {
            replay: Replay::new(
                &self.thresholds,
                self.series && header.is_streaming(),
                match self.threads {
                    Threads::Split => SiteThreads::Split,
                    Threads::Merged | Threads::Grouped => SiteThreads::Merged {
                        main_tid: header.has_main_tid().then_some(header.main_tid),
                    },
                },
                (!self.window.is_whole_run() && header.is_streaming())
                    .then(|| WindowClock::new(self.window, header.start_time_ms)),
            ),
            span: SampleSpan::default(),
            aggregated: Vec::new(),
        };
        let events = Events::new(header.clone(), records);
        let progress = self.progress.take();
        let (events, outcome) = if self.parallel {
            pipelined(events, &mut sink, progress)
        } else {
            sequential(events, &mut sink, progress)
        };
        outcome?;
        let Sink { mut replay, span, aggregated } = sink;
        replay.timeline.finish();
        let info = CaptureInfo::after_pass(&events, storage, body_offset, span);
        let counts = events.counts();
        let stacks = Stacks::new(events.into_tables(), &header);
        let window_leaks = replay.take_window_leaks();
        let mut leak_order = replay.live_first_index();
        let mut sites = replay.take_sites();
        if let Some((usage, first)) = window_leaks {
            for (site, leaked) in sites.iter_mut().zip(usage) {
                site.leaked = leaked;
            }
            leak_order = first;
        }
        let window = replay
            .window
            .take()
            .filter(|w| !w.whole_run())
            .map(|w| w.resolve(info.duration_ms().max(0) as f64 / 1000.0));
        let thread_groups = replay.take_thread_groups();
        let peak_memory = if header.is_streaming() {
            replay.peak
        } else {
            // memray: the sum of the stored high-water-mark bytes (§3).
            aggregated.iter().fold(0u64, |sum, a| sum.wrapping_add(a.bytes_in_high_water_mark))
        };
        let mut sizes: Vec<(u64, u64)> = (replay.small_sizes.iter().enumerate())
            .filter(|&(_, &c)| c > 0)
            .map(|(s, &c)| (s as u64, c))
            .chain(replay.sizes.iter().map(|(&s, &c)| (s, c)))
            .collect();
        sizes.sort_unstable();
        let mut allocator_counts: Vec<(Allocator, u64)> = Allocator::all()
            .iter()
            .map(|&a| (a, replay.allocator_counts[a as usize]))
            .filter(|&(_, c)| c > 0)
            .collect();
        allocator_counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.id().cmp(&b.0.id())));
        let temporary =
            replay.thresholds.iter().copied().zip(std::mem::take(&mut replay.temporary)).collect();
        Ok(Analysis {
            threads_merged: self.threads != Threads::Split && header.is_streaming(),
            thread_groups,
            info,
            counts,
            stacks,
            view_filters: Vec::new(),
            symbolization: None,
            sites,
            peak_memory,
            peak_index: replay.peak_index,
            peak_samples: replay.peak_samples,
            timeline: std::mem::take(&mut replay.timeline),
            ticks: std::mem::replace(&mut replay.ticks, Ticks::new()),
            temporary,
            leak_order,
            aggregated,
            sizes,
            allocator_counts,
            total: replay.total,
            live_items: replay.live_items(),
            window,
        })
    }
}

/// Where the events of a pass go: the replay, the sample span and the aggregated records.
struct Sink {
    replay: Replay,
    span: SampleSpan,
    aggregated: Vec<AggregatedAllocation>,
}

impl Sink {
    #[inline]
    fn event(&mut self, event: &Event) {
        match event {
            Event::Allocation(a) => self.replay.allocation(a),
            Event::Memory(m) => {
                self.span.add(m.ms_since_epoch);
                self.replay.memory(m.ms_since_epoch, m.rss, m.heap);
            }
            Event::Aggregated(a) => self.aggregated.push(*a),
            Event::ThreadName { tid, name } => self.replay.thread_named(*tid, name),
            _ => {}
        }
    }
}

/// Decoding and replay on one thread.
fn sequential(
    mut events: Events,
    sink: &mut Sink,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> (Events, Result<()>) {
    let mut progress = Reporter { report: progress, next: PROGRESS_EVERY };
    // Small batches, so the events are still in the cache when the replay reads them.
    let mut batch = Vec::with_capacity(SEQUENTIAL_BATCH);
    loop {
        batch.clear();
        let filled = events.fill(&mut batch, SEQUENTIAL_BATCH);
        for event in &batch {
            sink.event(event);
        }
        progress.at(events.counts().records, || events.offset());
        match filled {
            Ok(true) => {}
            Ok(false) => return (events, Ok(())),
            Err(e) => return (events, Err(e)),
        }
    }
}

/// Events decoded at a time by the sequential pass.
const SEQUENTIAL_BATCH: usize = 256;

/// Calls the progress callback once every [`PROGRESS_EVERY`] records.
struct Reporter<'p> {
    report: Option<&'p mut dyn FnMut(Progress)>,
    next: u64,
}

impl Reporter<'_> {
    #[inline]
    fn at(&mut self, records: u64, bytes: impl FnOnce() -> u64) {
        if let Some(report) = self.report.as_mut() {
            if records >= self.next {
                self.next = records + PROGRESS_EVERY;
                report(Progress { records, bytes: bytes() });
            }
        }
    }
}

/// Events per batch handed from the decoding thread to the replay: large enough that the
/// hand-over costs nothing per event, small enough to stay in the cache.
const BATCH: usize = 2048;

/// Batches in flight: bounds the memory of the pipeline to a few hundred KiB whatever the size
/// of the capture.
const BATCHES_IN_FLIGHT: usize = 4;

/// A run of events in stream order, with where the decoder stood after it.
struct Batch {
    events: Vec<Event>,
    records: u64,
    offset: u64,
    error: Option<memreport_format::Error>,
}

/// Decoding (decompression, records, stacks) on a second thread, replay on this one.
///
/// The decoder sends events in stream order through a bounded channel and the replay consumes
/// them in that order, so the result is the one [`sequential`] gives. A decoding error travels
/// at the end of the last batch, after the events that preceded it, as it would arrive there.
fn pipelined(
    events: Events,
    sink: &mut Sink,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> (Events, Result<()>) {
    let mut progress = Reporter { report: progress, next: PROGRESS_EVERY };
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        // Emptied batches go back to the decoder, so the pass allocates a handful of buffers.
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<Event>>();
        let decoder = scope.spawn(move || {
            let mut events = events;
            loop {
                let mut buffer = empty_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
                buffer.clear();
                let (done, error) = match events.fill(&mut buffer, BATCH) {
                    Ok(more) => (!more, None),
                    Err(e) => (true, Some(e)),
                };
                let batch = Batch {
                    events: buffer,
                    records: events.counts().records,
                    offset: events.offset(),
                    error,
                };
                // The receiver only goes away when this scope unwinds.
                if full_tx.send(batch).is_err() || done {
                    break;
                }
            }
            events
        });
        let mut outcome = Ok(());
        for batch in full_rx {
            for event in &batch.events {
                sink.event(event);
            }
            progress.at(batch.records, || batch.offset);
            if let Some(e) = batch.error {
                outcome = Err(e);
            }
            let _ = empty_tx.send(batch.events);
        }
        match decoder.join() {
            Ok(events) => (events, outcome),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The results of one pass over a capture.
#[derive(Debug)]
pub struct Analysis {
    /// Whether the sites merged threads ([`Analyzer::threads`]).
    threads_merged: bool,
    /// The groups of threads of a pass that merged threads, by class (`Site::class`).
    thread_groups: Vec<PassThreadGroup>,
    info: CaptureInfo,
    counts: memreport_format::events::Counts,
    stacks: Stacks,
    view_filters: Vec<(&'static str, String)>,
    symbolization: Option<crate::Symbolization>,
    sites: Vec<Site>,
    peak_memory: u64,
    peak_index: Option<u64>,
    peak_samples: u64,
    timeline: Timeline,
    ticks: Ticks,
    temporary: Vec<(u64, crate::replay::TemporaryTable)>,
    leak_order: Vec<u64>,
    aggregated: Vec<AggregatedAllocation>,
    pub(crate) sizes: Vec<(u64, u64)>,
    pub(crate) allocator_counts: Vec<(Allocator, u64)>,
    pub(crate) total: Usage,
    live_items: usize,
    window: Option<ResolvedWindow>,
}

impl Analysis {
    /// Analyses a capture file with the default options (no temporary allocations).
    pub fn open(path: impl AsRef<Path>) -> Result<Analysis> {
        Analyzer::new().run_path(path)
    }

    /// The capture header.
    pub fn header(&self) -> &Header {
        &self.info.header
    }

    /// The capture's facts, as `memreport info` reports them.
    pub fn info(&self) -> &CaptureInfo {
        &self.info
    }

    /// LZ4 or raw.
    pub fn storage(&self) -> Storage {
        self.info.storage
    }

    /// How the body ended.
    pub fn end(&self) -> StreamEnd {
        self.info.end
    }

    /// Whether the capture ended without a trailer.
    pub fn truncated(&self) -> bool {
        self.info.truncated()
    }

    /// Whether this is an aggregated capture (`memray run --aggregate`).
    pub fn is_aggregated(&self) -> bool {
        !self.info.header.is_streaming()
    }

    /// Counts of what was read.
    pub fn counts(&self) -> memreport_format::events::Counts {
        self.counts
    }

    /// ALLOCATION records read, frees included (memray's `total_allocations`); for aggregated
    /// captures, the number of aggregated records, as memray reports it.
    pub fn n_allocation_records(&self) -> u64 {
        if self.is_aggregated() {
            self.counts.aggregated_records
        } else {
            self.counts.allocation_records
        }
    }

    /// Bytes of the decompressed stream read.
    pub fn stream_bytes(&self) -> u64 {
        self.info.stream_bytes
    }

    /// Stacks and frames.
    pub fn stacks(&self) -> &Stacks {
        &self.stacks
    }

    /// A file path spelled the same on any host, and short: `<site-packages>/flask/app.py`,
    /// `<stdlib>/json/encoder.py`, or relative to the longest `sys.path` entry that holds it.
    pub fn portable_path(&self, filename: &str) -> String {
        crate::files::ModuleResolver::new(self.header()).portable(filename)
    }

    /// Where the code of each frame comes from (program, standard library, package, runner,
    /// import system, native code), in frame-id order, for colouring by kind.
    pub fn places(&self) -> Vec<crate::Place> {
        let modules = crate::files::ModuleResolver::new(self.header());
        let stacks = &self.stacks;
        // A capture has far fewer files than frames: each file is judged once.
        let mut by_file: rustc_hash::FxHashMap<&str, crate::Place> = Default::default();
        (0..stacks.n_frames() as u32)
            .map(|f| match stacks.frame(f) {
                Some(_) if stacks.is_native(f) => crate::Place::Native,
                Some(l) => *by_file
                    .entry(l.filename.as_str())
                    .or_insert_with(|| crate::view::place(l, &modules)),
                None => crate::Place::Program,
            })
            .collect()
    }

    /// Names the native frames of a `--native` capture from the ELF files its memory maps name,
    /// found through `source` (see [`crate::symbols`]). From then on call trees and flame graphs
    /// show hybrid stacks, native frames with the Python frames they were running, as memray
    /// builds them (spec §5.6). A capture without native traces is left as it is.
    pub fn symbolize(&mut self, source: &crate::SymbolSource) -> crate::Symbolization {
        if !self.header().native_traces {
            return crate::Symbolization::default();
        }
        let streaming = self.sites.iter().map(|s| (s.native_node, s.generation));
        let aggregated = self.aggregated.iter().map(|a| {
            (a.native_frame_id, u32::try_from(a.native_segment_generation).unwrap_or(u32::MAX))
        });
        let stacks: Vec<(u64, u32)> =
            streaming.chain(aggregated).filter(|&(node, _)| node != 0).collect();
        let found = self.stacks.symbolize(stacks.into_iter(), source);
        self.symbolization = Some(found.clone());
        found
    }

    /// What [`Analysis::symbolize`] found, if it ran on a native capture.
    pub fn symbolization(&self) -> Option<&crate::Symbolization> {
        self.symbolization.as_ref()
    }

    /// Shows this analysis through `view` from now on: stacks in groups, call trees and flame
    /// graphs are presented by it, and the rows of every result keep only the allocations it
    /// focuses on (so totals follow). Stats read the capture as memray does. Leak detection
    /// reads stacks as memray shows them, and looks only at the allocations the view keeps.
    pub fn set_view(&mut self, view: &crate::View) {
        self.stacks.set_view(view);
        self.view_filters = view.filters();
    }

    /// The filters of the view set by [`Analysis::set_view`] ([`crate::View::filters`]), so
    /// that what is shown can say it is filtered.
    pub fn view_filters(&self) -> &[(&'static str, String)] {
        &self.view_filters
    }

    /// The largest live heap reached (memray's `peak_memory`).
    pub fn peak_memory(&self) -> u64 {
        self.peak_memory
    }

    /// Index of the allocation record at which the peak was last reached (streaming captures).
    pub fn peak_index(&self) -> Option<u64> {
        self.peak_index
    }

    /// The time window the results are restricted to ([`Analyzer::window`]), as it resolved at
    /// the memory samples; `None` without one, or when it covered the whole run.
    pub fn window(&self) -> Option<&ResolvedWindow> {
        self.window.as_ref()
    }

    /// Live blocks and mapping pieces at the end.
    pub fn live_items(&self) -> usize {
        self.live_items
    }

    /// Whether the pass merged threads ([`Analyzer::threads`]): then [`Threads::Split`] rows
    /// are unavailable and [`Threads::Grouped`] rows follow [`Analysis::thread_groups`].
    pub fn threads_merged(&self) -> bool {
        self.threads_merged
    }

    /// The groups of threads named alike that a pass merging threads kept apart, indexed by
    /// class: the main thread, the unnamed threads and the overflow of shapes first, then one
    /// per name shape. A group no thread joined has no threads; the list is empty when the pass
    /// split threads.
    pub fn thread_groups(&self) -> &[PassThreadGroup] {
        if self.threads_merged {
            &self.thread_groups
        } else {
            &[]
        }
    }

    /// Every site of a streaming capture, in order of first allocation.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// The records of an aggregated capture, in file order.
    pub fn aggregated_records(&self) -> &[AggregatedAllocation] {
        &self.aggregated
    }

    /// Memory samples with the live heap at each.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Seconds from the capture's start to a time in ms since the epoch. A time before the start
    /// (memray writes one sample before it in some captures) counts as the start; the difference
    /// is taken in floating point because a corrupt header can hold any two times.
    pub fn seconds_since_start(&self, ms_since_epoch: u64) -> f64 {
        ((ms_since_epoch as f64 - self.info.header.start_time_ms as f64) / 1000.0).max(0.0)
    }

    /// The run's duration in seconds ([`CaptureInfo::duration_ms`], never negative).
    pub fn duration_s(&self) -> f64 {
        self.info.duration_ms().max(0) as f64 / 1000.0
    }

    /// When the heap reached its peak, as well as the memory samples tell: the time of the first
    /// sample taken after it (the peak lies between that sample and the one before), or of the
    /// last sample when none followed. An aggregated capture keeps no peak event, so there it is
    /// the time of the sample with the most heap (the first of equals). `None` without samples.
    pub fn peak_time_ms(&self) -> Option<u64> {
        let points = self.timeline.points();
        if self.is_aggregated() {
            let max = points.iter().map(|p| p.heap).max()?;
            return points.iter().find(|p| p.heap == max).map(|p| p.ms_since_epoch);
        }
        let point = usize::try_from(self.peak_samples / self.timeline.samples_per_point()).ok()?;
        points.get(point).or(points.last()).map(|p| p.ms_since_epoch)
    }

    /// The clock of [`Site::series`].
    pub fn ticks(&self) -> &Ticks {
        &self.ticks
    }

    /// When a tick of [`Site::series`] ended, in seconds from the start (see [`Ticks::end_ms`]);
    /// 0 without memory samples.
    pub fn tick_end_s(&self, tick: u32) -> f64 {
        self.ticks
            .end_ms(tick)
            .map_or(0.0, |ms| ((ms - self.info.header.start_time_ms as f64) / 1000.0).max(0.0))
    }

    /// Thresholds for which temporary allocations were computed.
    pub fn temporary_thresholds(&self) -> Vec<u64> {
        self.temporary.iter().map(|(n, _)| *n).collect()
    }

    /// The rows of a result, sorted by memray's order key (first contributing event), or why
    /// this pass cannot give them: temporary allocations of an aggregated capture, or of a
    /// threshold the pass did not compute, and [`Threads::Split`] when the pass merged threads
    /// ([`Analyzer::threads`]).
    pub fn entries(
        &self,
        mode: Mode,
        threads: Threads,
    ) -> std::result::Result<Vec<Entry>, Unavailable> {
        let mut entries = self.memray_entries(mode, threads)?;
        // A view's focus and ignore keep some allocations (`set_view`).
        entries.retain(|e| self.stacks.keeps(e.python_node, e.representative_tid));
        Ok(entries)
    }

    /// The rows of [`Analysis::entries`] before the view's focus and ignore.
    fn memray_entries(
        &self,
        mode: Mode,
        threads: Threads,
    ) -> std::result::Result<Vec<Entry>, Unavailable> {
        if threads == Threads::Split && self.threads_merged {
            return Err(Unavailable::ThreadsMerged);
        }
        if self.is_aggregated() {
            return match mode {
                Mode::Temporary(_) => Err(Unavailable::AggregatedTemporary),
                _ => Ok(self.aggregated_entries(mode, threads)),
            };
        }
        let rows: Vec<(usize, Usage, u64)> = match mode {
            Mode::Peak => {
                self.sites.iter().enumerate().map(|(i, s)| (i, s.peak, s.first_index)).collect()
            }
            Mode::Leaks => self
                .sites
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.leaked, self.leak_order[i]))
                .collect(),
            Mode::Temporary(n) => {
                let (_, table) = self
                    .temporary
                    .iter()
                    .find(|(t, _)| *t == n)
                    .ok_or(Unavailable::TemporaryNotComputed(n))?;
                table
                    .iter()
                    .enumerate()
                    .filter_map(|(i, slot)| slot.map(|(usage, order)| (i, usage, order)))
                    .collect()
            }
        };
        Ok(self.site_entries(rows, threads))
    }

    /// Every allocation of the run (frees excluded) as rows, threads as [`Analysis::entries`]
    /// gives them; before the view's focus and ignore. Empty for an aggregated capture, which
    /// does not keep them.
    pub fn allocated_entries(&self, threads: Threads) -> Vec<Entry> {
        if self.is_aggregated() || (threads == Threads::Split && self.threads_merged) {
            return Vec::new();
        }
        let rows =
            self.sites.iter().enumerate().map(|(i, s)| (i, s.allocated, s.first_index)).collect();
        self.site_entries(rows, threads)
    }

    /// Rows `(site, usage, order)` merged into entries.
    fn site_entries(&self, rows: Vec<(usize, Usage, u64)>, threads: Threads) -> Vec<Entry> {
        let group_tid = |s: &Site| {
            let group = self.thread_groups.get(s.class as usize);
            group.map_or(s.tid, |g| g.first_tid)
        };
        let items =
            rows.into_iter().filter(|(_, usage, _)| usage.count > 0).map(|(i, usage, order)| {
                let s = &self.sites[i];
                Item {
                    key: SiteKey {
                        python_node: s.python_node,
                        native_node: s.native_node,
                        tid: s.tid,
                    },
                    group_tid: group_tid(s),
                    usage,
                    order,
                    allocator: s.allocator,
                    generation: s.generation,
                }
            });
        merge(items, threads, false)
    }

    fn aggregated_entries(&self, mode: Mode, threads: Threads) -> Vec<Entry> {
        let items = self.aggregated.iter().enumerate().filter_map(|(i, a)| {
            let usage = match mode {
                Mode::Leaks => Usage { bytes: a.bytes_leaked, count: a.n_allocations_leaked },
                _ => Usage {
                    bytes: a.bytes_in_high_water_mark,
                    count: a.n_allocations_in_high_water_mark,
                },
            };
            (usage.count > 0).then(|| Item {
                key: SiteKey {
                    python_node: u32::try_from(a.python_node).unwrap_or(u32::MAX),
                    native_node: a.native_frame_id,
                    tid: a.tid,
                },
                group_tid: a.tid,
                usage,
                order: i as u64,
                allocator: a.allocator,
                generation: u32::try_from(a.native_segment_generation).unwrap_or(u32::MAX),
            })
        });
        merge(items, threads, true)
    }

    /// Every allocation of the run, frees excluded (memray's `total_num_allocations` and
    /// `total_bytes_allocated`). `None` for aggregated captures, which do not keep them.
    pub fn allocated(&self) -> Option<Usage> {
        (!self.is_aggregated()).then_some(self.total)
    }

    /// Total of a result, or why the pass cannot give it (see [`Analysis::entries`]).
    pub fn total(&self, mode: Mode) -> std::result::Result<Usage, Unavailable> {
        // Split rows sum to the same totals as merged ones on a streaming capture; on an
        // aggregated one they avoid memray's re-aggregation count quirk.
        let threads = if self.threads_merged { Threads::Merged } else { Threads::Split };
        let entries = self.entries(mode, threads)?;
        Ok(Usage::sum(entries.iter().map(|e| e.usage)))
    }
}

struct Item {
    key: SiteKey,
    /// The first thread of the item's group of threads ([`Threads::Grouped`]); the thread
    /// itself when the pass split threads.
    group_tid: u64,
    usage: Usage,
    order: u64,
    allocator: Allocator,
    generation: u32,
}

/// Groups items by `(python node, native node, thread, group's first thread or 0)`, in order of
/// their order key.
///
/// With `count_quirk`, the way memray re-aggregates the records of an aggregated capture: the
/// first record of a key counts whole, every further one adds its bytes but 1 to the count
/// instead of its count [quirk, spec §3].
fn merge(items: impl Iterator<Item = Item>, threads: Threads, count_quirk: bool) -> Vec<Entry> {
    let mut items: Vec<Item> = items.collect();
    items.sort_by_key(|i| i.order);
    let mut index: rustc_hash::FxHashMap<SiteKey, usize> = Default::default();
    let mut out: Vec<Entry> = Vec::new();
    for item in items {
        let tid = match threads {
            Threads::Merged => None,
            Threads::Split => Some(item.key.tid),
            Threads::Grouped => Some(item.group_tid),
        };
        let key = SiteKey { tid: tid.unwrap_or(0), ..item.key };
        match index.get(&key) {
            Some(&i) => {
                let e = &mut out[i];
                let count = if count_quirk { 1 } else { item.usage.count };
                e.usage.add(Usage { bytes: item.usage.bytes, count });
            }
            None => {
                index.insert(key, out.len());
                out.push(Entry {
                    python_node: item.key.python_node,
                    native_node: item.key.native_node,
                    tid,
                    usage: item.usage,
                    order: item.order,
                    representative_tid: item.key.tid,
                    allocator: item.allocator,
                    generation: item.generation,
                });
            }
        }
    }
    out
}
