//! The first stage of the detector: every site labelled by the innermost frame of the program's
//! own code, the labels that grew most over the window chosen as candidates, and one dense series
//! per candidate with its sites summed (per thread, per innermost line, and the stack that grew
//! most).

use std::collections::BTreeMap;

use memreport_format::Allocator;
use rustc_hash::FxHashMap;

use super::Window;
use crate::analysis::Analysis;
use crate::files::ModuleResolver;
use crate::group::{By, SiteLabels};
use crate::stacks::{spell, Location, Stacks};
use crate::timeline::dense_points;
use crate::Site;

/// Locations with the largest net growth that get a dense series (the others cannot rank).
const CANDIDATES: usize = 256;

/// The candidate locations of a capture, each with its dense series.
pub(super) struct Locations {
    /// Label texts: own frames and innermost lines, numbered together.
    pub(super) names: Vec<String>,
    /// Per label: whether it names a frame of the program's own code (not parsed back from the
    /// text: a name from the capture may hold any character).
    own_code: Vec<bool>,
    /// Per label: net growth of its sites over the window.
    pub(super) net: Vec<i128>,
    /// Per candidate: its label, the largest net growth first.
    pub(super) ranked: Vec<u32>,
    /// Per candidate: its series.
    pub(super) series: Vec<LocationSeries>,
}

impl Locations {
    /// Labels every site and sums the sites of the [`CANDIDATES`] labels that grew most into
    /// dense series: memory stays bounded by the candidates, not by the locations.
    pub(super) fn gather(analysis: &Analysis, window: &Window) -> Locations {
        let n_ticks = window.n_ticks;
        let cut = window.cut;
        let stacks = analysis.stacks();
        let modules = ModuleResolver::new(analysis.header());
        let sites = analysis.sites();
        let (cut_tick, end_tick) = (cut as u32, n_ticks as u32 - 1);
        const NO_SERIES: (u32, u32) = (u32::MAX, u32::MAX);
        let mut labeller = Labeller::new(stacks, &modules);
        // Pymalloc arenas (python allocators not traced) get labels of their own: a MiB mapped
        // under a frame says where the heap grew, not what the frame keeps, and must not hide the
        // frame's own objects.
        let is_arena = |site: &Site| window.pymalloc_untraced && site.allocator == Allocator::Mmap;
        let mut arena_label: FxHashMap<u32, u32> = FxHashMap::default();
        let labels: Vec<(u32, u32)> = sites
            .iter()
            .map(|site| {
                // A view's focus or ignore leaves out the allocations it does not keep: the
                // detector then answers for the rest alone.
                if site.series.is_empty() || !stacks.keeps(site.python_node, site.tid) {
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
        let mut ranked: Vec<u32> =
            (0..names.len() as u32).filter(|&l| net[l as usize] > 0).collect();
        ranked.sort_by(|a, b| net[*b as usize].cmp(&net[*a as usize]).then(a.cmp(b)));
        ranked.truncate(CANDIDATES);
        let mut slot_of: Vec<usize> = vec![usize::MAX; names.len()];
        for (i, &l) in ranked.iter().enumerate() {
            slot_of[l as usize] = i;
        }
        // A stack that several threads allocated at belongs to no one thread. A pass that merged
        // threads says so per site (`shared`); with threads split, the sites of one stack on
        // other threads than the main one are counted here, so both passes name the same threads.
        let main_tid = stacks.main_tid();
        let mut threads_of_stack: FxHashMap<(u32, u64, bool), (u64, bool)> = FxHashMap::default();
        for (site, &(own, _)) in sites.iter().zip(&labels) {
            if slot_of.get(own as usize).is_some_and(|&s| s != usize::MAX) {
                let key = (site.python_node, site.native_node, Some(site.tid) == main_tid);
                let entry = threads_of_stack.entry(key).or_insert((site.tid, false));
                entry.1 |= entry.0 != site.tid;
            }
        }
        let mut series: Vec<LocationSeries> =
            ranked.iter().map(|_| LocationSeries::new(n_ticks)).collect();
        for (site, &(own, line)) in sites.iter().zip(&labels) {
            let Some(&slot) = slot_of.get(own as usize).filter(|&&s| s != usize::MAX) else {
                continue;
            };
            let entry = &mut series[slot];
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
            if entry.best_stack.is_none_or(|b| growth > b.growth) {
                entry.best_stack = Some(BestStack {
                    growth,
                    python_node: site.python_node,
                    native_node: site.native_node,
                    generation: site.generation,
                    tid: site.tid,
                });
            }
            entry.arena |= is_arena(site);
        }
        Locations { names, own_code, net, ranked, series }
    }

    /// The label of candidate `i`.
    pub(super) fn label(&self, i: usize) -> &String {
        &self.names[self.ranked[i] as usize]
    }

    /// Whether candidate `i` is a frame of the program's own code.
    pub(super) fn is_own_code(&self, i: usize) -> bool {
        self.own_code[self.ranked[i] as usize]
    }

    /// The net growth of candidate `i` over the window.
    pub(super) fn net(&self, i: usize) -> i128 {
        self.net[self.ranked[i] as usize]
    }

    /// The stack of candidate `i` that grew most, spelled innermost first, and its thread: as
    /// memray shows it for the detector's decisions (which must not depend on the analysis's
    /// view), or as the view shows it (`shown`) for the finding people read.
    pub(super) fn stack_of(
        &self,
        i: usize,
        stacks: &Stacks,
        shown: bool,
    ) -> (Vec<String>, Option<u64>) {
        let (stack, tid) = self.frames_of(i, stacks, shown);
        (stack.iter().map(|l| spell(l)).collect(), tid)
    }

    /// The frames of [`Locations::stack_of`].
    pub(super) fn frames_of<'s>(
        &self,
        i: usize,
        stacks: &'s Stacks,
        shown: bool,
    ) -> (Vec<&'s Location>, Option<u64>) {
        let Some(best) = self.series[i].best_stack else { return (Vec::new(), None) };
        let (node, tid) = (best.python_node, best.tid);
        if !shown {
            return (stacks.memray_stack(node, tid), Some(tid));
        }
        // As call trees show it: with its native frames when they are named.
        let mut ids = Vec::new();
        let row = (node, best.native_node, best.generation);
        stacks.tree_stack_ids_into(row, tid, false, &mut ids);
        (ids.into_iter().filter_map(|f| stacks.frame(f)).collect(), Some(tid))
    }
}

/// A location's memory over the whole run, one value per tick, its sites summed.
#[derive(Debug, Clone, Default)]
pub(super) struct LocationSeries {
    /// Live bytes, live blocks and allocations so far, at the end of each tick.
    pub(super) bytes: Vec<u64>,
    pub(super) blocks: Vec<u64>,
    pub(super) allocated: Vec<u64>,
    /// Growth over the window per thread (`None`: sites that several threads allocated at,
    /// when the pass merged threads).
    pub(super) by_thread: BTreeMap<Option<u64>, i128>,
    /// Growth over the window per innermost location (where the memory is allocated).
    pub(super) by_line: BTreeMap<u32, i128>,
    /// The site whose stack grew most.
    pub(super) best_stack: Option<BestStack>,
    /// Any of its sites is a pymalloc arena mapping (python allocators not traced).
    pub(super) arena: bool,
}

/// The stack of a location that grew most: a site's growth over the window, and its stacks.
#[derive(Debug, Clone, Copy)]
pub(super) struct BestStack {
    growth: i128,
    python_node: u32,
    native_node: u64,
    generation: u32,
    tid: u64,
}

impl LocationSeries {
    pub(super) fn new(n_ticks: usize) -> LocationSeries {
        LocationSeries {
            bytes: vec![0; n_ticks],
            blocks: vec![0; n_ticks],
            allocated: vec![0; n_ticks],
            ..LocationSeries::default()
        }
    }

    /// Adds another series (of the same length) into this one.
    pub(super) fn absorb(&mut self, other: &LocationSeries) {
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
            // The detector reads stacks as memray shows them, whatever the view.
            lines: SiteLabels::memray(),
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
