//! Rows of a result grouped for people: by innermost line, function, file or module, and as a
//! call tree from the outermost frame in.
//!
//! Stacks are presented as memray presents them (main-thread trimming, spec §5.6), so a location
//! here is the innermost frame of the stack memray would show.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::analysis::{Analysis, Entry, Site};
use crate::files::ModuleResolver;
use crate::stacks::{spell, Location, Stacks, NO_STACK};
use crate::threads::PassGroupKind;
use crate::Usage;

/// How coarse a location is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    /// `function:file:line` of the innermost frame.
    #[default]
    Line,
    /// `function:file`.
    Function,
    /// `file`.
    File,
    /// The dotted module name of the innermost frame's file.
    Module,
}

/// One group of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The location, spelled for its granularity.
    pub location: String,
    /// Summed total.
    pub usage: Usage,
    /// The stack (innermost first, `function:file:line`) that contributes most bytes.
    pub stack: Vec<String>,
    /// Thread of that stack, when threads are split.
    pub tid: Option<u64>,
    /// Distinct stacks in the group.
    pub n_stacks: usize,
}

/// The label of a stack at a granularity.
fn label(stack: &[&Location], by: By, modules: &ModuleResolver<'_>) -> String {
    let Some(top) = stack.first() else { return NO_STACK.to_string() };
    match by {
        By::Line => spell(top),
        By::Function => format!("{}:{}", top.function, top.filename),
        By::File => top.filename.clone(),
        By::Module => modules.classify(&top.filename).0,
    }
}

/// Groups the rows of a result, largest bytes first (ties: more blocks, then location).
/// Threads stay apart when the rows are split by thread.
pub fn group(analysis: &Analysis, entries: &[Entry], by: By) -> Vec<Group> {
    group_top(analysis, entries, by, usize::MAX)
}

/// Like [`group`], with the stack spelled only for the `with_stacks` largest groups (the others
/// get an empty one): a page that shows a hundred rows need not hold the spelled stack of every
/// line of a capture with 100,000 of them.
pub fn group_top(analysis: &Analysis, entries: &[Entry], by: By, with_stacks: usize) -> Vec<Group> {
    let stacks = analysis.stacks();
    let modules = ModuleResolver::new(analysis.header());
    // Each group remembers its largest row (bytes, python node, thread); stacks are spelled
    // once, after sorting, instead of every time a larger row turns up.
    // (A row with no frames to show counts as no stack yet, so the next row replaces it.)
    let mut groups: BTreeMap<(String, Option<u64>), (Group, Best)> = BTreeMap::new();
    for e in entries {
        let stack = stacks.python_stack(e.python_node, e.representative_tid);
        let location = label(&stack, by, &modules);
        let here = Best {
            bytes: e.usage.bytes,
            node: e.python_node,
            tid: e.representative_tid,
            empty: stack.is_empty(),
        };
        let (g, best) = groups.entry((location, e.tid)).or_insert_with_key(|key| {
            let group = Group {
                location: key.0.clone(),
                usage: Usage::default(),
                stack: Vec::new(),
                tid: e.tid,
                n_stacks: 0,
            };
            (group, here)
        });
        if g.n_stacks > 0 && (best.empty || here.bytes > best.bytes) {
            *best = here;
        }
        g.usage.add(e.usage);
        g.n_stacks += 1;
    }
    let mut out: Vec<(Group, u32, u64)> =
        groups.into_values().map(|(g, best)| (g, best.node, best.tid)).collect();
    out.sort_by(|(a, ..), (b, ..)| {
        b.usage
            .bytes
            .cmp(&a.usage.bytes)
            .then(b.usage.count.cmp(&a.usage.count))
            .then_with(|| (a.location.as_str(), a.tid).cmp(&(b.location.as_str(), b.tid)))
    });
    out.into_iter()
        .enumerate()
        .map(|(i, (mut g, node, tid))| {
            if i < with_stacks {
                g.stack = stacks.python_stack(node, tid).iter().map(|l| spell(l)).collect();
            }
            g
        })
        .collect()
}

/// The row whose stack a group shows: its largest.
#[derive(Clone, Copy)]
struct Best {
    bytes: u64,
    node: u32,
    tid: u64,
    empty: bool,
}

/// Live bytes over time of one location (all its sites, threads merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationSeries {
    /// The location, spelled for its granularity.
    pub location: String,
    /// Live bytes at the end of each tick (see [`Analysis::ticks`]).
    pub bytes: Vec<u64>,
    /// The largest value of `bytes`.
    pub max_bytes: u64,
    /// Live bytes at the end of the capture.
    pub end_bytes: u64,
}

/// The live-bytes curves of the `n` locations whose live bytes rose highest over the run (ties:
/// more bytes at the end, then location), for growth detection and temporal charts. Empty for
/// aggregated captures, which store no timeline per location.
pub fn series(analysis: &Analysis, by: By, n: usize) -> Vec<LocationSeries> {
    series_first(analysis, by, n, &[])
}

/// Like [`series`], with the locations in `first` (say, those a leak finding names) placed
/// first, in their order.
pub fn series_first(
    analysis: &Analysis,
    by: By,
    n: usize,
    first: &[String],
) -> Vec<LocationSeries> {
    let stacks = analysis.stacks();
    let modules = ModuleResolver::new(analysis.header());
    let n_ticks = analysis.ticks().n_ticks();
    // Each location's curve is the sum of its sites' step functions, kept in whichever form is
    // smaller: dense changes per tick (locations × ticks), or the steps themselves (one
    // (tick, change) per series point), so that neither a long capture with 50,000 lines nor a
    // capture whose few lines change in every tick holds more than it needs. Only the `n`
    // curves returned are made whole. A label depends only on the innermost frame shown, so it
    // is spelled once per frame.
    let mut labels = SiteLabels::default();
    let mut points = 0usize;
    let at_of: Vec<usize> = analysis
        .sites()
        .iter()
        .map(|site| {
            if site.series.is_empty() {
                return usize::MAX;
            }
            points += site.series.len();
            labels.of(stacks, site, by, &modules) as usize
        })
        .collect();
    let mut names = labels.names;
    let dense_form = names.len().saturating_mul(n_ticks as usize) <= points.saturating_mul(2);
    // Per location: its changes, either by tick (dense) or as (tick, change) pairs.
    let mut changes: Vec<Vec<(u32, u64)>> = vec![Vec::new(); names.len()];
    let mut by_tick: Vec<Vec<u64>> =
        if dense_form { vec![vec![0; n_ticks as usize]; names.len()] } else { Vec::new() };
    for (site, &at) in analysis.sites().iter().zip(&at_of) {
        if at == usize::MAX {
            continue;
        }
        let mut before = 0u64;
        for p in site.series.iter().take_while(|p| p.tick < n_ticks) {
            let delta = p.bytes.wrapping_sub(before);
            before = p.bytes;
            if dense_form {
                let slot = &mut by_tick[at][p.tick as usize];
                *slot = slot.wrapping_add(delta);
            } else {
                changes[at].push((p.tick, delta));
            }
        }
    }
    // The whole curve of a location: the running sum of its changes (0 before the first).
    let curve = |at: usize, changes: &mut Vec<(u32, u64)>| -> Vec<u64> {
        let mut bytes = if dense_form { by_tick[at].clone() } else { vec![0u64; n_ticks as usize] };
        for &(tick, delta) in changes.iter() {
            bytes[tick as usize] = bytes[tick as usize].wrapping_add(delta);
        }
        let mut value = 0u64;
        for b in &mut bytes {
            value = value.wrapping_add(*b);
            *b = value;
        }
        bytes
    };
    // The largest and the last value of each curve, without making it whole when it is kept as
    // steps (every value is at least 0, so the 0 before the first step never decides the max).
    let mut ranked: Vec<(usize, u64, u64)> = (0..names.len())
        .map(|at| {
            let (mut value, mut max) = (0u64, 0u64);
            if dense_form {
                for &delta in &by_tick[at] {
                    value = value.wrapping_add(delta);
                    max = max.max(value);
                }
            } else {
                let steps = &mut changes[at];
                steps.sort_unstable_by_key(|&(tick, _)| tick);
                for (k, &(tick, delta)) in steps.iter().enumerate() {
                    value = value.wrapping_add(delta);
                    if steps.get(k + 1).is_none_or(|&(next, _)| next != tick) {
                        max = max.max(value);
                    }
                }
            }
            (at, max, if n_ticks == 0 { 0 } else { value })
        })
        .collect();
    let rank = |location: &str| first.iter().position(|f| f == location);
    ranked.sort_by(|&(a, a_max, a_end), &(b, b_max, b_end)| {
        let (ra, rb) = (rank(&names[a]), rank(&names[b]));
        rb.is_some()
            .cmp(&ra.is_some())
            .then(ra.cmp(&rb))
            .then((b_max, b_end).cmp(&(a_max, a_end)))
            .then(names[a].cmp(&names[b]))
    });
    ranked.truncate(n);
    ranked
        .into_iter()
        .map(|(at, max_bytes, end_bytes)| LocationSeries {
            bytes: curve(at, &mut changes[at]),
            location: std::mem::take(&mut names[at]),
            max_bytes,
            end_bytes,
        })
        .collect()
}

/// Sites' locations numbered: a site's label depends only on the innermost frame shown of its
/// stack, so each is spelled once per frame, and a capture with a million stacks over a thousand
/// lines holds a thousand strings, not a million.
#[derive(Default)]
pub(crate) struct SiteLabels {
    /// The labels, numbered in order of first appearance.
    pub(crate) names: Vec<String>,
    by_name: FxHashMap<String, u32>,
    by_frame: FxHashMap<Option<u32>, u32>,
    frames: Vec<u32>,
    /// Label stacks as memray shows them, whatever the analysis's view (leak detection).
    memray: bool,
}

impl SiteLabels {
    /// Labels of stacks as memray shows them, whatever the analysis's view.
    pub(crate) fn memray() -> SiteLabels {
        SiteLabels { memray: true, ..SiteLabels::default() }
    }

    /// The number of a site's label (`by` the granularity of [`label`]).
    pub(crate) fn of(
        &mut self,
        stacks: &Stacks,
        site: &Site,
        by: By,
        modules: &ModuleResolver<'_>,
    ) -> u32 {
        if self.memray {
            stacks.memray_stack_ids_into(site.python_node, site.tid, &mut self.frames);
        } else {
            stacks.python_stack_ids_into(site.python_node, site.tid, &mut self.frames);
        }
        let innermost = self.frames.iter().copied().find(|&f| stacks.frame(f).is_some());
        let (names, by_name) = (&mut self.names, &mut self.by_name);
        *self.by_frame.entry(innermost).or_insert_with(|| {
            let top: Vec<&Location> = innermost.and_then(|f| stacks.frame(f)).into_iter().collect();
            let name = label(&top, by, modules);
            *by_name.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                names.len() as u32 - 1
            })
        })
    }
}

/// A call tree: node 0 is the root (all rows); children are callees (callers when inverted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTree {
    /// Nodes; `nodes[0]` is the root, and every node comes after its parent (children have
    /// larger ids), so one pass in id order visits parents first.
    pub nodes: Vec<TreeNode>,
    /// The thread nodes that stand for a group of threads ([`Shape::group_threads`]), by the
    /// group's first thread id: the id its [`NodeKind::Thread`] carries.
    pub thread_groups: BTreeMap<u64, ThreadGroup>,
}

/// Threads whose names differ only in their numbers, as one node of a [`CallTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadGroup {
    /// The name with every run of digits as `N` ([`thread_name_shape`]).
    pub pattern: String,
    /// Threads in the group (at least two).
    pub threads: usize,
}

/// A thread name with every run of ASCII digits replaced by `N`: `Thread-12 (worker)` →
/// `Thread-N (worker)`. Threads of one pool or server share it, so `info` can summarise them and
/// a split call tree can group them.
pub fn thread_name_shape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_digits = false;
    for c in name.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// For rows split by thread, the thread node of each thread: itself, or the first thread of its
/// group when other threads have its name but for the numbers.
fn group_threads(
    stacks: &Stacks,
    entries: &[Entry],
) -> (FxHashMap<u64, u64>, BTreeMap<u64, ThreadGroup>) {
    let names = stacks.thread_names();
    let mut by_pattern: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut seen: Vec<u64> = entries.iter().filter_map(|e| e.tid).collect();
    seen.sort_unstable();
    seen.dedup();
    for tid in seen {
        // A thread that was never named keeps its own node: its label is its id alone.
        if let Some(name) = names.get(&tid) {
            by_pattern.entry(thread_name_shape(name)).or_default().push(tid);
        }
    }
    let mut node_of = FxHashMap::default();
    let mut groups = BTreeMap::new();
    for (pattern, tids) in by_pattern {
        if tids.len() < 2 {
            continue;
        }
        let first = tids[0];
        for &tid in &tids {
            node_of.insert(tid, first);
        }
        groups.insert(first, ThreadGroup { pattern, threads: tids.len() });
    }
    (node_of, groups)
}

/// The groups of more than one thread of a pass that merged threads, as tree nodes label them.
fn pass_groups(analysis: &Analysis) -> BTreeMap<u64, ThreadGroup> {
    let groups = analysis.thread_groups().iter().filter(|g| g.threads > 1);
    groups
        .map(|g| {
            let pattern = match g.kind {
                PassGroupKind::Unnamed => "unnamed".to_string(),
                PassGroupKind::Other => "other names".to_string(),
                _ => g.pattern.clone().unwrap_or_default(),
            };
            (g.first_tid, ThreadGroup { pattern, threads: g.threads as usize })
        })
        .collect()
}

/// What a [`TreeNode`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// The root: every row.
    Root,
    /// A thread, first level of a tree whose rows are split by thread.
    Thread(u64),
    /// A Python frame: its id in [`crate::stacks::Stacks::frame`] (the first id of its
    /// location, so one source line is one node).
    Frame(u32),
    /// A row with no Python frame ([`NO_STACK`]).
    NoStack,
}

/// A node of a [`CallTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    /// What the node stands for.
    pub kind: NodeKind,
    /// Total of every row whose stack passes through here.
    pub usage: Usage,
    /// Children, largest first (ties: more blocks, then location).
    pub children: Vec<u32>,
}

/// How a [`CallTree`] is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Innermost frame first, callers below it: where memory was allocated, whoever called
    /// (memray's `--inverted`).
    pub inverted: bool,
    /// Every frame of memray's stacks, whatever the analysis's view hides (its runner and
    /// import-system trimming, `hide` and `show`); a focus or an ignore still picks the rows.
    pub every_frame: bool,
    /// Rows split by thread hang under one node per group of threads whose names differ only in
    /// their numbers (a thread-per-request server's `Thread-N (process_request_thread)`), so
    /// that thousands of request threads read as one.
    pub group_threads: bool,
}

impl CallTree {
    /// Builds the tree of a result's rows from the outermost frame in. Rows split by thread
    /// (see [`crate::Threads::Split`]) hang under one node per thread.
    pub fn build(analysis: &Analysis, entries: &[Entry]) -> CallTree {
        CallTree::build_with(analysis, entries, Shape::default())
    }

    /// Builds the tree of a result's rows in a given shape.
    pub fn build_with(analysis: &Analysis, entries: &[Entry], shape: Shape) -> CallTree {
        let stacks = analysis.stacks();
        let root = TreeNode { kind: NodeKind::Root, usage: Usage::default(), children: Vec::new() };
        let mut nodes = vec![root];
        // Frames are (code, instruction) pairs, so one source line can have several ids; memray
        // keys tree nodes by (function, file, line), so ids are first mapped to the first id of
        // their location.
        let mut first_of: FxHashMap<&Location, u32> = FxHashMap::default();
        let canonical: Vec<u32> = (0..stacks.n_frames() as u32)
            .map(|f| match stacks.frame(f) {
                Some(l) => *first_of.entry(l).or_insert(f),
                None => f,
            })
            .collect();
        // Only looked up, never iterated, so its order cannot leak into the output.
        let mut index: FxHashMap<(u32, NodeKind), u32> = FxHashMap::default();
        // A tree has at least a node per distinct stack: growing to that size is known work.
        index.reserve(entries.len());
        nodes.reserve(entries.len());
        let (thread_node, thread_groups) = match shape.group_threads {
            false => Default::default(),
            // The rows of a pass that merged threads are grouped already ([`Threads::Grouped`]).
            true if analysis.threads_merged() => (Default::default(), pass_groups(analysis)),
            true => group_threads(stacks, entries),
        };
        let mut path: Vec<NodeKind> = Vec::new();
        // Reused for every row: allocating a stack per row was most of the build's time.
        let mut stack: Vec<u32> = Vec::new();
        for e in entries {
            let row = (e.python_node, e.native_node, e.generation);
            stacks.tree_stack_ids_into(row, e.representative_tid, shape.every_frame, &mut stack);
            nodes[0].usage.add(e.usage);
            path.clear();
            path.extend(e.tid.map(|t| NodeKind::Thread(*thread_node.get(&t).unwrap_or(&t))));
            let frames = stack.iter().map(|&f| NodeKind::Frame(canonical[f as usize]));
            if stack.is_empty() {
                path.push(NodeKind::NoStack);
            } else if shape.inverted {
                path.extend(frames);
            } else {
                path.extend(frames.rev());
            }
            let mut at = 0u32;
            for &kind in &path {
                let next = *index.entry((at, kind)).or_insert_with(|| {
                    let id = nodes.len() as u32;
                    nodes.push(TreeNode { kind, usage: Usage::default(), children: Vec::new() });
                    nodes[at as usize].children.push(id);
                    id
                });
                nodes[next as usize].usage.add(e.usage);
                at = next;
            }
        }
        // Largest first; ties by more blocks, then by what the node stands for.
        let order = |kind: &NodeKind| match *kind {
            NodeKind::Root => (0, None, 0),
            NodeKind::Thread(tid) => (1, None, tid),
            NodeKind::Frame(f) => (2, stacks.frame(f), 0),
            NodeKind::NoStack => (3, None, 0),
        };
        let keys: Vec<(Usage, NodeKind)> = nodes.iter().map(|n| (n.usage, n.kind)).collect();
        for n in &mut nodes {
            n.children.sort_by(|&a, &b| {
                let (ua, ka) = &keys[a as usize];
                let (ub, kb) = &keys[b as usize];
                ub.bytes
                    .cmp(&ua.bytes)
                    .then(ub.count.cmp(&ua.count))
                    .then_with(|| order(ka).cmp(&order(kb)))
            });
        }
        CallTree { nodes, thread_groups }
    }

    /// The label of a thread node: memray's thread label, or the group's pattern and size.
    pub fn thread_label(&self, analysis: &Analysis, tid: u64) -> String {
        match self.thread_groups.get(&tid) {
            Some(g) => format!("{} ({} threads)", g.pattern, g.threads),
            None => analysis.stacks().thread_label(tid),
        }
    }

    /// How a node is spelled: `function:file:line` for frames, the thread label for threads,
    /// [`NO_STACK`] for rows without a Python frame, empty for the root.
    pub fn label(&self, analysis: &Analysis, node: u32) -> String {
        let stacks = analysis.stacks();
        match self.nodes[node as usize].kind {
            NodeKind::Root => String::new(),
            NodeKind::Thread(tid) => self.thread_label(analysis, tid),
            NodeKind::Frame(f) => stacks.frame(f).map(spell).unwrap_or_default(),
            NodeKind::NoStack => NO_STACK.to_string(),
        }
    }

    /// [`CallTree::label`] with the file's path made short and portable
    /// ([`Analysis::portable_path`]), for text meant to fit a terminal.
    pub fn short_label(&self, analysis: &Analysis, node: u32) -> String {
        match self.nodes[node as usize].kind {
            NodeKind::Frame(f) => analysis.stacks().frame(f).map_or_else(String::new, |l| {
                ModuleResolver::new(analysis.header()).spell_portable(l)
            }),
            _ => self.label(analysis, node),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_are_shaped_by_their_digits() {
        assert_eq!(
            thread_name_shape("Thread-12 (process_request_thread)"),
            "Thread-N (process_request_thread)"
        );
        assert_eq!(thread_name_shape("pool-3-worker-17"), "pool-N-worker-N");
        assert_eq!(thread_name_shape("main"), "main");
    }
}
