//! The one pass over an all-allocations capture: live heap, peak, per-site totals at the peak and
//! at the end, temporary allocations, stats accumulators and the timeline, all updated per event.
//!
//! memray reads a capture twice to report the peak (once to find it, once to replay up to it,
//! §5.2–§5.3). Here each site remembers its live totals as of the most recent peak lazily: a
//! global *peak epoch* advances whenever the running total reaches a new maximum, and a site
//! whose stored epoch is older than the current one has not changed since that peak, so its live
//! totals are its totals at the peak. A site copies live → peak the first time it changes after a
//! new peak. One pass, O(1) per event, and exactly the snapshot memray replays.

use std::collections::VecDeque;

use memreport_format::events::AllocationEvent;
use memreport_format::AllocatorKind;
use rustc_hash::FxHashMap;

use crate::heap::{Block, Change, LiveHeap};
use crate::threads::{PassThreadGroup, ThreadClasses, PENDING};
use crate::timeline::{Sample, Series, SeriesPoint, Tick, Ticks, Timeline};
use crate::window::{Phase, Turn, WindowClock};
use crate::{Site, Usage};

/// A site: what memray keys a location by (§5.3): Python node, native node and thread.
///
/// When threads are merged ([`SiteThreads::Merged`]), `tid` is not the thread but its class
/// ([`class_key`]): the main thread, a group of threads named alike, or the unnamed ones; a
/// thread not yet named is keyed by itself (see [`crate::threads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SiteKey {
    pub(crate) python_node: u32,
    pub(crate) native_node: u64,
    pub(crate) tid: u64,
}

/// A site and the peak epoch of its saved `peak` totals, side by side so that a change touches
/// one place in memory.
#[derive(Debug)]
pub(crate) struct Tracked {
    pub(crate) site: Site,
    peak_epoch: u64,
    /// The tick in which the site last changed while its series point is not yet written
    /// (`u32::MAX`: none pending); such sites are listed in `Replay::dirty`.
    dirty_tick: u32,
    /// The next site of the same python node (`u32::MAX`: none), in the padding after
    /// `dirty_tick`.
    next: u32,
}

/// Temporary allocations of one threshold, per site: usage and first index.
pub(crate) type TemporaryTable = Vec<Option<(Usage, u64)>>;

#[derive(Debug, Clone, Copy)]
struct Recent {
    address: u64,
    size: u64,
    site: u32,
    index: u64,
}

/// Sites kept in a node's chain before the rest go to a map: most nodes have one site per
/// thread that reaches them, and a handful of threads is the common case.
const CHAIN_MAX: usize = 8;

/// How the replay keys sites by thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteThreads {
    /// One site per thread, as memray keys them: what `--split-threads` needs.
    Split,
    /// One site per stack and class of threads: the main thread, each group of threads named
    /// alike, the unnamed ones ([`crate::threads`]). A thread-per-request server runs every
    /// request on a new thread through the same stacks, so per-thread sites grow with
    /// threads × stacks; merged ones grow with stacks × classes, and there are at most a few
    /// dozen classes. The main thread keeps its own sites because whether a row's first
    /// contributor is the main thread decides the trimming of memray's runner frames (§5.6), so
    /// merged rows stay exact; the groups let a page show threads without per-thread sites.
    Merged {
        /// The header's main thread, when the format records one.
        main_tid: Option<u64>,
    },
}

/// The thread part of the key of a site of `class` first reached by `tid`: the thread itself
/// while it is pending (and always when threads are split), otherwise the class counted down
/// from `u64::MAX`, far from memray's small sequential thread ids.
#[inline]
pub(crate) fn class_key(class: u32, tid: u64) -> u64 {
    if class == PENDING {
        tid
    } else {
        u64::MAX - u64::from(class)
    }
}

/// Sizes counted in an array rather than a map.
const SMALL_SIZES: usize = 4096;

/// The replay state.
pub(crate) struct Replay {
    heap: LiveHeap,
    /// The sites as they will be returned, updated in place: `leaked` holds the live totals and
    /// `peak` the totals saved at the site's peak epoch (see [`Replay::take_sites`]). Keeping
    /// the public struct here avoids a second copy of every site at the end, which doubled the
    /// peak memory of captures with many sites.
    pub(crate) sites: Vec<Tracked>,
    /// The first site of each python node (`u32::MAX`: none), then a chain through
    /// `Tracked::next`: a node has one site per thread class (and native stack), so a lookup is
    /// an index and a comparison or two instead of hashing into a map of every site. The chain
    /// runs through the site records themselves: when a node has one site (the common case once
    /// threads are merged), the record compared is the one the allocation then updates, so the
    /// walk costs no cache miss of its own, and no per-site table sits beside them (a copy of
    /// the key cost 24 bytes a site). Per-thread sites (`--split-threads`) walk up to
    /// [`CHAIN_MAX`] records.
    first_of_node: Vec<u32>,
    /// Sites of nodes whose chain is full (see [`CHAIN_MAX`]).
    overflow: FxHashMap<SiteKey, u32>,
    last_site: Option<(SiteKey, u32)>,
    pub(crate) current: u64,
    pub(crate) peak: u64,
    pub(crate) peak_index: Option<u64>,
    /// Memory samples read when the peak was last reached: the peak lies between that many
    /// samples and the next one.
    pub(crate) peak_samples: u64,
    epoch: u64,
    changes: Vec<Change>,
    // Temporary allocations (§5.4): thresholds sorted ascending, one table per threshold.
    pub(crate) thresholds: Vec<u64>,
    pub(crate) temporary: Vec<TemporaryTable>,
    recent: FxHashMap<u64, VecDeque<Recent>>,
    // Stats (§5.5).
    /// Allocations per size: sizes below [`SMALL_SIZES`] (nearly all of them) by index, the
    /// others in a map.
    pub(crate) small_sizes: Vec<u64>,
    pub(crate) sizes: FxHashMap<u64, u64>,
    pub(crate) allocator_counts: [u64; 16],
    pub(crate) total: Usage,
    // Time.
    pub(crate) timeline: Timeline,
    pub(crate) ticks: Ticks,
    series: bool,
    /// The classes of threads when threads are merged; `None` when they are split.
    classes: Option<ThreadClasses>,
    /// Sites changed in the current tick, whose series point is pending.
    dirty: Vec<u32>,
    /// The time window, when one was asked for.
    pub(crate) window: Option<WindowClock>,
    /// Whether the events now are inside the window (always, without one): only they count
    /// towards the peak, the totals and temporary allocations.
    counting: bool,
    /// Index of the next allocation record.
    next_index: u64,
    /// What was live at the window's close, allocated inside it, per site: totals and the
    /// first index still live (see [`Replay::window_leaks`]).
    window_leaks: Option<(Vec<Usage>, Vec<u64>)>,
}

impl Replay {
    pub(crate) fn new(
        thresholds: &[u64],
        series: bool,
        threads: SiteThreads,
        window: Option<WindowClock>,
    ) -> Replay {
        let counting = window.as_ref().is_none_or(|w| w.phase == Phase::Open);
        let mut thresholds = thresholds.to_vec();
        thresholds.sort_unstable();
        thresholds.dedup();
        Replay {
            heap: LiveHeap::default(),
            sites: Vec::new(),
            first_of_node: Vec::new(),
            overflow: FxHashMap::default(),
            last_site: None,
            current: 0,
            peak: 0,
            peak_index: None,
            peak_samples: 0,
            epoch: 0,
            changes: Vec::new(),
            temporary: vec![Vec::new(); thresholds.len()],
            thresholds,
            recent: FxHashMap::default(),
            small_sizes: vec![0; SMALL_SIZES],
            sizes: FxHashMap::default(),
            allocator_counts: [0; 16],
            total: Usage::default(),
            timeline: Timeline::new(),
            ticks: Ticks::new(),
            series,
            classes: match threads {
                SiteThreads::Split => None,
                SiteThreads::Merged { main_tid } => Some(ThreadClasses::new(main_tid)),
            },
            dirty: Vec::new(),
            window,
            counting,
            next_index: 0,
            window_leaks: None,
        }
    }

    /// The class of an allocation's thread: [`PENDING`] (keyed by the thread) when threads
    /// are split or the thread is not named yet.
    #[inline]
    fn class_of(&mut self, tid: u64) -> u32 {
        match &mut self.classes {
            None => PENDING,
            Some(classes) => classes.class_of_allocation(tid),
        }
    }

    /// A THREAD_RECORD: the thread's later allocations go to its name's class.
    pub(crate) fn thread_named(&mut self, tid: u64, name: &str) {
        if let Some(classes) = &mut self.classes {
            classes.named(tid, name);
        }
    }

    fn site(&mut self, e: &AllocationEvent) -> u32 {
        let class = self.class_of(e.tid);
        let tid = class_key(class, e.tid);
        let key = SiteKey { python_node: e.python_node, native_node: e.native_node, tid };
        if let Some((k, id)) = self.last_site {
            if k == key {
                return id;
            }
        }
        let node = key.python_node as usize;
        if node >= self.first_of_node.len() {
            self.first_of_node.resize(node + 1, u32::MAX);
        }
        // A pending thread's few sites go straight to `overflow`: in a node's chain, thousands
        // of them would stand in front of the class sites every later allocation looks for.
        let pending = class == PENDING && self.classes.is_some();
        // The chain of a node holds at most CHAIN_MAX sites; the others (a node shared by
        // thousands of request threads, or reached from many native stacks) live in `overflow`,
        // so a lookup costs a few comparisons and at most one hash probe whatever their number.
        let mut at = if pending { u32::MAX } else { self.first_of_node[node] };
        let mut length = if pending { CHAIN_MAX } else { 0 };
        while at != u32::MAX {
            let t = &self.sites[at as usize];
            if t.site.native_node == key.native_node
                && class_key(t.site.class, t.site.tid) == key.tid
            {
                break;
            }
            at = t.next;
            length += 1;
        }
        let full = length >= CHAIN_MAX;
        if at == u32::MAX && full {
            if let Some(&id) = self.overflow.get(&key) {
                at = id;
            }
        }
        let id = if at != u32::MAX {
            at
        } else {
            let id = self.sites.len() as u32;
            let site = Site {
                python_node: key.python_node,
                native_node: key.native_node,
                tid: e.tid,
                class,
                shared: false,
                allocator: e.allocator,
                generation: e.generation,
                first_index: e.index,
                allocated: Usage::default(),
                peak: Usage::default(),
                leaked: Usage::default(),
                series: Series::default(),
            };
            let next = if full { u32::MAX } else { self.first_of_node[node] };
            self.sites.push(Tracked { site, peak_epoch: u64::MAX, dirty_tick: u32::MAX, next });
            if full {
                self.overflow.insert(key, id);
            } else {
                self.first_of_node[node] = id;
            }
            id
        };
        self.last_site = Some((key, id));
        id
    }

    /// Applies a change to a site's live totals, first saving its totals at the last peak if
    /// this is its first change since then.
    fn change(&mut self, c: Change) {
        let epoch = self.epoch;
        let tick = self.ticks.current();
        let Tracked { site: s, peak_epoch, dirty_tick, .. } = &mut self.sites[c.site as usize];
        if *peak_epoch != epoch {
            s.peak = s.leaked;
            *peak_epoch = epoch;
        }
        s.leaked.count = s.leaked.count.wrapping_add(c.count as u64);
        s.leaked.bytes = s.leaked.bytes.wrapping_add(c.added).wrapping_sub(c.removed);
        // The series point of this tick is written when the tick ends: a site that changes a
        // thousand times in a tick costs one point, not a thousand visits to its series.
        if self.series && *dirty_tick != tick {
            *dirty_tick = tick;
            self.dirty.push(c.site);
        }
    }

    /// Writes the series point of every site that changed in `tick`, as its totals now (at the
    /// end of the tick).
    fn flush_series(&mut self, tick: u32) {
        for &site in &self.dirty {
            let Tracked { site: s, dirty_tick, .. } = &mut self.sites[site as usize];
            *dirty_tick = u32::MAX;
            s.series.record(SeriesPoint {
                tick,
                bytes: s.leaked.bytes,
                count: s.leaked.count,
                allocated: s.allocated.count,
            });
        }
        self.dirty.clear();
    }

    pub(crate) fn allocation(&mut self, e: &AllocationEvent) {
        match e.allocator.kind() {
            AllocatorKind::SimpleAllocator => {
                let site = self.site(e);
                self.count_allocation(e, site);
                let block = Block { size: e.size, site, index: e.index };
                if let Some(old) = self.heap.allocate(e.address, block) {
                    self.change(Change { site: old.site, count: -1, added: 0, removed: old.size });
                }
                self.change(Change { site, count: 1, added: e.size, removed: 0 });
                self.current = self.current.wrapping_add(e.size);
                self.remember(e, site);
            }
            AllocatorKind::SimpleDeallocator => {
                if let Some(old) = self.heap.free(e.address) {
                    self.change(Change { site: old.site, count: -1, added: 0, removed: old.size });
                    self.current = self.current.wrapping_sub(old.size);
                }
                self.match_temporary(e, false);
            }
            AllocatorKind::RangedAllocator => {
                let site = self.site(e);
                self.count_allocation(e, site);
                if e.size > 0 {
                    self.heap.map(e.address, e.size, site, e.index);
                    self.change(Change { site, count: 1, added: e.size, removed: 0 });
                }
                self.current = self.current.wrapping_add(e.size);
                self.remember(e, site);
            }
            AllocatorKind::RangedDeallocator => {
                let mut changes = std::mem::take(&mut self.changes);
                let removed = self.heap.unmap(e.address, e.size, &mut changes);
                for &c in &changes {
                    self.change(c);
                }
                self.changes = changes;
                self.current = self.current.wrapping_sub(removed);
                self.match_temporary(e, true);
            }
        }
        self.next_index = e.index.wrapping_add(1);
        // After every event, deallocations included: the last event at the maximum wins.
        if self.counting && (self.current >= self.peak || self.peak_index.is_none()) {
            self.peak = self.current;
            self.peak_index = Some(e.index);
            self.peak_samples = self.ticks.samples;
            self.epoch += 1;
        }
        let tick = self.ticks.event();
        self.clock(tick);
    }

    fn count_allocation(&mut self, e: &AllocationEvent, site: u32) {
        let s = &mut self.sites[site as usize].site;
        // Only a merged site meets a second thread; its record is in the cache already.
        s.shared |= s.tid != e.tid;
        if !self.counting {
            return;
        }
        s.allocated.count += 1;
        s.allocated.bytes = s.allocated.bytes.wrapping_add(e.size);
        self.total.count += 1;
        self.total.bytes = self.total.bytes.wrapping_add(e.size);
        match usize::try_from(e.size).ok().and_then(|i| self.small_sizes.get_mut(i)) {
            Some(n) => *n += 1,
            None => *self.sizes.entry(e.size).or_default() += 1,
        }
        self.allocator_counts[e.allocator as usize] += 1;
    }

    /// Pushes an allocation onto its thread's recent list (§5.4).
    fn remember(&mut self, e: &AllocationEvent, site: u32) {
        let Some(&max) = self.thresholds.last() else { return };
        let keep = usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1);
        let recent = self.recent.entry(e.tid).or_default();
        recent.push_front(Recent { address: e.address, size: e.size, site, index: e.index });
        if recent.len() > keep {
            recent.pop_back();
        }
    }

    /// A deallocation is temporary for threshold N when the block it frees is among the N + 1
    /// most recent allocations of the same thread (the newest match wins; it stays listed).
    fn match_temporary(&mut self, e: &AllocationEvent, ranged: bool) {
        if self.thresholds.is_empty() || !self.counting {
            return;
        }
        let Some(recent) = self.recent.get(&e.tid) else { return };
        let Some((position, hit)) = recent
            .iter()
            .enumerate()
            .find(|(_, r)| r.address == e.address && (!ranged || r.size == e.size))
        else {
            return;
        };
        let hit = *hit;
        // A window's temporary allocations are the ones made inside it.
        if hit.index < self.window.as_ref().map_or(0, |w| w.open_index) {
            return;
        }
        let n_sites = self.sites.len();
        for (j, &n) in self.thresholds.iter().enumerate() {
            if (position as u64) > n {
                continue;
            }
            let table = &mut self.temporary[j];
            if table.len() < n_sites {
                table.resize(n_sites, None);
            }
            let slot = table[hit.site as usize].get_or_insert((Usage::default(), hit.index));
            slot.0.count += 1;
            slot.0.bytes = slot.0.bytes.wrapping_add(hit.size);
            slot.1 = slot.1.min(hit.index);
        }
    }

    pub(crate) fn memory(&mut self, ms_since_epoch: u64, rss: u64, heap: Option<u64>) {
        let heap = heap.unwrap_or(self.current);
        self.timeline.push(Sample { ms_since_epoch, rss, heap });
        let tick = self.ticks.sample(ms_since_epoch);
        self.clock(tick);
        if let Some(window) = self.window.as_mut() {
            let turn = window.sample(ms_since_epoch, self.ticks.samples, self.next_index);
            if matches!(turn, Turn::Opens | Turn::OpensAndCloses) {
                // The heap as the window opens is its first candidate for the peak.
                self.counting = true;
                self.peak = self.current;
                self.peak_index = self.next_index.checked_sub(1);
                // The peak is the opening sample itself, not between it and the next.
                self.peak_samples = self.ticks.samples - 1;
                self.epoch += 1;
            }
            if matches!(turn, Turn::Closes | Turn::OpensAndCloses) {
                self.counting = false;
                self.window_leaks = Some(self.window_leaks());
            }
        }
    }

    /// What is live now and was allocated inside the window, per site: the totals and the first
    /// index still live. One walk over the live heap, once per pass.
    fn window_leaks(&self) -> (Vec<Usage>, Vec<u64>) {
        let open_index = self.window.as_ref().map_or(0, |w| w.open_index);
        let mut usage = vec![Usage::default(); self.sites.len()];
        let mut first = vec![u64::MAX; self.sites.len()];
        for (site, bytes, index) in self.heap.items().filter(|&(_, _, i)| i >= open_index) {
            let u = &mut usage[site as usize];
            u.add(Usage { bytes, count: 1 });
            let f = &mut first[site as usize];
            *f = (*f).min(index);
        }
        (usage, first)
    }

    /// A window's leaks, when they differ from the live heap at the end: what was allocated
    /// inside it and still live at its close, per site (sites made after the close hold none),
    /// with the first index still live. `None` without a window, or with one that opened at
    /// the start and never closed.
    pub(crate) fn take_window_leaks(&mut self) -> Option<(Vec<Usage>, Vec<u64>)> {
        let window = self.window.as_ref()?;
        if !window.restricts_leaks() {
            return None;
        }
        // A window that never opened (it starts after the last sample) holds nothing.
        if window.phase == Phase::Before {
            let n = self.sites.len();
            return Some((vec![Usage::default(); n], vec![u64::MAX; n]));
        }
        let (mut usage, mut first) = match self.window_leaks.take() {
            Some(leaks) => leaks,
            None => self.window_leaks(),
        };
        usage.resize(self.sites.len(), Usage::default());
        first.resize(self.sites.len(), u64::MAX);
        Some((usage, first))
    }

    /// Closes the series points of a tick that ended, and folds every series when ticks doubled.
    #[inline]
    fn clock(&mut self, tick: Tick) {
        if !self.series {
            return;
        }
        match tick {
            Tick::Same => {}
            Tick::Ended(t) => self.flush_series(t),
            Tick::Doubled(t) => {
                self.flush_series(t);
                for Tracked { site: s, .. } in &mut self.sites {
                    s.series.fold();
                }
            }
        }
    }

    /// Takes the sites out of the replay, each with its totals at the last peak.
    pub(crate) fn take_sites(&mut self) -> Vec<Site> {
        self.flush_series(self.ticks.current());
        self.ticks.finish();
        let epoch = self.epoch;
        let mut classes = self.classes.as_mut();
        // Collected in place: the allocation of `self.sites` is reused, not copied.
        std::mem::take(&mut self.sites)
            .into_iter()
            .map(|Tracked { mut site, peak_epoch, .. }| {
                // A site changed since the last peak saved its totals then; any other site has
                // not changed since, so its live totals are its totals at the peak.
                if peak_epoch != epoch {
                    site.peak = site.leaked;
                }
                // A pending thread's site belongs to the class the thread ended in.
                if let Some(classes) = classes.as_mut().filter(|_| site.class == PENDING) {
                    site.class = classes.final_class(site.tid);
                }
                site
            })
            .collect()
    }

    /// The groups of threads of a pass that merged threads, indexed by class (after
    /// [`Replay::take_sites`]); empty when threads were split.
    pub(crate) fn take_thread_groups(&mut self) -> Vec<PassThreadGroup> {
        self.classes.take().map(ThreadClasses::into_groups).unwrap_or_default()
    }

    /// The first index of the blocks still live, per site (memray orders leak records by it).
    pub(crate) fn live_first_index(&self) -> Vec<u64> {
        let mut first = vec![u64::MAX; self.sites.len()];
        for (site, _, index) in self.heap.items() {
            let f = &mut first[site as usize];
            *f = (*f).min(index);
        }
        first
    }

    /// Live blocks and pieces now.
    pub(crate) fn live_items(&self) -> usize {
        self.heap.len()
    }
}
