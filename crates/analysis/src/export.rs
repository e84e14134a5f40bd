//! The tables of `memreport export`, as data: one row per innermost location (`locations`), per
//! memory sample (`timeline`), per location and tick (`series`), and per allocation
//! (`allocations`). The report crate writes them (Parquet, CSV, JSON Lines).
//!
//! The first three come from an [`Analysis`]; their sums are the other commands' (`peak_bytes`
//! adds up to memray's peak). `allocations` is a pass of its own that streams: a row is given out
//! once the fate of its allocation is known (when it is freed, or at the end for what is still
//! live), so memory holds the live allocations and the distinct stacks, never the run. Rows
//! therefore come in the order of their frees, not of their indexes.

use std::collections::BTreeMap;

use memreport_format::events::{Event, Events};
use memreport_format::{AllocatorKind, Capture};
use rustc_hash::FxHashMap;

use crate::files::ModuleResolver;
use crate::group::{series, By};
use crate::stacks::{spell, NO_STACK};
use crate::{Analysis, Mode, Threads, Unavailable, Usage};

/// One innermost location: what it held at the peak, still held at the end, and allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRow {
    /// `function:file:line` (memray's `stats` spelling), or `<stack trace unavailable>`.
    pub location: String,
    /// The function (empty without a Python frame).
    pub function: String,
    /// The file as recorded.
    pub file: String,
    /// The line (0 when unknown).
    pub line: i32,
    /// The dotted module name of the file.
    pub module: String,
    /// Live at the peak.
    pub peak: Usage,
    /// Still live at the end.
    pub leaked: Usage,
    /// Allocated over the run (frees excluded); zero in an aggregated capture, which does not
    /// keep it.
    pub allocated: Usage,
}

/// The `locations` table: every innermost location that held or allocated anything, the
/// largest at the peak first (ties: more leaked, more allocated, then the location).
pub fn locations(analysis: &Analysis) -> Result<Vec<LocationRow>, Unavailable> {
    let stacks = analysis.stacks();
    let modules = ModuleResolver::new(analysis.header());
    let mut rows: BTreeMap<String, LocationRow> = BTreeMap::new();
    let mut add = |node: u32, tid: u64, pick: fn(&mut LocationRow) -> &mut Usage, usage: Usage| {
        let stack = stacks.python_stack(node, tid);
        let top = stack.first();
        let location = top.map_or_else(|| NO_STACK.to_string(), |l| spell(l));
        let row = rows.entry(location).or_insert_with_key(|location| LocationRow {
            location: location.clone(),
            function: top.map(|l| l.function.clone()).unwrap_or_default(),
            file: top.map(|l| l.filename.clone()).unwrap_or_default(),
            line: top.map_or(0, |l| l.lineno),
            module: top.map(|l| modules.classify(&l.filename).0).unwrap_or_default(),
            peak: Usage::default(),
            leaked: Usage::default(),
            allocated: Usage::default(),
        });
        pick(row).add(usage);
    };
    let threads = if analysis.threads_merged() { Threads::Merged } else { Threads::Split };
    for e in analysis.entries(Mode::Peak, threads)? {
        add(e.python_node, e.representative_tid, |r| &mut r.peak, e.usage);
    }
    for e in analysis.entries(Mode::Leaks, threads)? {
        add(e.python_node, e.representative_tid, |r| &mut r.leaked, e.usage);
    }
    for e in analysis.allocated_entries(threads) {
        add(e.python_node, e.representative_tid, |r| &mut r.allocated, e.usage);
    }
    let mut out: Vec<LocationRow> = rows.into_values().collect();
    out.sort_by(|a, b| {
        (b.peak.bytes, b.leaked.bytes, b.allocated.bytes)
            .cmp(&(a.peak.bytes, a.leaked.bytes, a.allocated.bytes))
            .then_with(|| a.location.cmp(&b.location))
    });
    Ok(out)
}

/// One memory sample of the `timeline` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineRow {
    /// Seconds from the capture's start.
    pub time_s: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Live heap, bytes (memray's figure).
    pub heap_bytes: u64,
}

/// The `timeline` table: one row per memory sample (past a million samples, adjacent ones
/// merged by their maximum, as [`crate::timeline::Timeline`] keeps them).
pub fn timeline(analysis: &Analysis) -> Vec<TimelineRow> {
    (analysis.timeline().points().iter())
        .map(|s| TimelineRow {
            time_s: analysis.seconds_since_start(s.ms_since_epoch),
            rss_bytes: s.rss,
            heap_bytes: s.heap,
        })
        .collect()
}

/// One location at one tick of the `series` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow<'a> {
    /// `function:file:line`.
    pub location: &'a str,
    /// End of the tick, seconds from the start.
    pub time_s: f64,
    /// Live bytes of the location then.
    pub live_bytes: u64,
}

/// The `series` table's curves: every location's live bytes at the end of every tick (see
/// [`Analysis::ticks`]), empty for an aggregated capture. Call [`SeriesTable::rows`] for rows.
pub struct SeriesTable {
    curves: Vec<crate::group::LocationSeries>,
    times: Vec<f64>,
}

impl SeriesTable {
    /// The curves of a capture analysed with series (the default of [`crate::Analyzer`]).
    pub fn of(analysis: &Analysis) -> SeriesTable {
        let curves = series(analysis, By::Line, usize::MAX);
        let n = curves.iter().map(|c| c.bytes.len()).max().unwrap_or(0);
        let times = (0..n as u32).map(|t| analysis.tick_end_s(t)).collect();
        SeriesTable { curves, times }
    }

    /// Rows, location by location, tick by tick.
    pub fn rows(&self) -> impl Iterator<Item = SeriesRow<'_>> + '_ {
        self.curves.iter().flat_map(move |c| {
            c.bytes.iter().zip(&self.times).map(move |(&live_bytes, &time_s)| SeriesRow {
                location: &c.location,
                time_s,
                live_bytes,
            })
        })
    }
}

/// One allocation of the `allocations` table.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationRow<'a> {
    /// Index among the capture's ALLOCATION records (frees included, as memray counts them).
    pub index: u64,
    /// Time of the last memory sample before it, seconds from the start.
    pub time_s: f64,
    /// memray's thread id.
    pub tid: u64,
    /// The thread's name, when memray recorded one.
    pub thread: Option<&'a str>,
    /// Address.
    pub address: u64,
    /// Size, bytes.
    pub size: u64,
    /// memray's name of the allocator (`malloc`, `mmap`, `pymalloc_malloc`…).
    pub allocator: &'static str,
    /// The innermost Python location, `function:file:line`.
    pub location: &'a str,
    /// The Python trace node (equal nodes, equal Python stacks).
    pub stack_id: u32,
    /// Index of the record that freed it; `None` when it was never freed.
    pub freed_index: Option<u64>,
}

/// An allocation whose fate is not known yet.
#[derive(Clone, Copy)]
struct Pending {
    index: u64,
    time_ms: u64,
    tid: u64,
    size: u64,
    allocator: memreport_format::Allocator,
    node: u32,
}

/// Streams the `allocations` table of a capture: `sink` gets each row once its allocation is
/// freed (or, for what is still live at the end, then, by index). An aggregated capture keeps no
/// allocations and gives none. A `munmap` frees every mapping that starts inside its range.
/// Returns how the stream ended (a truncated capture is not an error).
pub fn allocations(
    capture: Capture,
    sink: &mut dyn FnMut(AllocationRow<'_>) -> std::io::Result<()>,
) -> Result<Option<memreport_format::StreamEnd>, ExportError> {
    let start_ms = capture.header().start_time_ms;
    let (header, records) = capture.into_parts();
    let mut events = Events::new(header, records);
    let mut live: FxHashMap<u64, Pending> = FxHashMap::default();
    // Mappings apart, by address, so a munmap finds the ones in its range.
    let mut maps: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut locations: FxHashMap<u32, String> = FxHashMap::default();
    let mut last_sample_ms = start_ms.max(0) as u64;
    let seconds = |ms: u64| ((ms as f64 - start_ms as f64) / 1000.0).max(0.0);
    let mut emit = |p: Pending,
                    address: u64,
                    freed_index: Option<u64>,
                    events: &mut Events,
                    sink: &mut dyn FnMut(AllocationRow<'_>) -> std::io::Result<()>|
     -> Result<(), ExportError> {
        let tables = events.tables_mut();
        let location = locations.entry(p.node).or_insert_with(|| match tables.node(p.node) {
            Some(n) if p.node != 0 => spell(tables.location(n.frame)),
            _ => NO_STACK.to_string(),
        });
        let thread = events.tables().thread_names().get(&p.tid).map(String::as_str);
        sink(AllocationRow {
            index: p.index,
            time_s: seconds(p.time_ms),
            tid: p.tid,
            thread,
            address,
            size: p.size,
            allocator: p.allocator.name(),
            location,
            stack_id: p.node,
            freed_index,
        })
        .map_err(ExportError::Write)
    };
    loop {
        let event = match events.next() {
            None => break,
            Some(e) => e.map_err(ExportError::Capture)?,
        };
        match event {
            Event::Memory(s) => last_sample_ms = s.ms_since_epoch,
            Event::Allocation(a) => {
                let pending = Pending {
                    index: a.index,
                    time_ms: last_sample_ms,
                    tid: a.tid,
                    size: a.size,
                    allocator: a.allocator,
                    node: a.python_node,
                };
                match a.allocator.kind() {
                    AllocatorKind::SimpleAllocator => {
                        // An address given out again without a free (a lost free record): the
                        // old block is gone without a known free.
                        if let Some(old) = live.insert(a.address, pending) {
                            emit(old, a.address, None, &mut events, sink)?;
                        }
                    }
                    AllocatorKind::RangedAllocator => {
                        if let Some(old) = maps.insert(a.address, pending) {
                            emit(old, a.address, None, &mut events, sink)?;
                        }
                    }
                    AllocatorKind::SimpleDeallocator => {
                        if let Some(p) = live.remove(&a.address) {
                            emit(p, a.address, Some(a.index), &mut events, sink)?;
                        }
                    }
                    AllocatorKind::RangedDeallocator => {
                        let end = a.address.saturating_add(a.size.max(1));
                        let gone: Vec<u64> = maps.range(a.address..end).map(|(&k, _)| k).collect();
                        for address in gone {
                            let p = maps.remove(&address).expect("just listed");
                            emit(p, address, Some(a.index), &mut events, sink)?;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut rest: Vec<(u64, Pending)> = live.into_iter().chain(maps).collect();
    rest.sort_by_key(|(_, p)| p.index);
    for (address, p) in rest {
        emit(p, address, None, &mut events, sink)?;
    }
    Ok(events.end())
}

/// Why the `allocations` table stopped.
#[derive(Debug)]
pub enum ExportError {
    /// The capture is corrupt (rows before the error were given out).
    Capture(memreport_format::Error),
    /// The sink failed.
    Write(std::io::Error),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Capture(e) => write!(f, "{e}"),
            ExportError::Write(e) => write!(f, "writing output: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}
