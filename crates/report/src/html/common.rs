//! What every page shares: the inlined style sheet and script, the header with the capture's
//! facts, the flame-graph section, the size budgets, and rendering a template.

use std::io::{self, Write};

use askama::Template;
use memreport_analysis::group::{CallTree, NodeKind, Shape};
use memreport_analysis::stacks::{Location, Stacks};
use memreport_analysis::{Analysis, Mode, Place, Threads, Unavailable};

use super::flame::{self, FlameGraph, FlameOptions};
use super::thousands;
use crate::info::{python_version, warnings};
use crate::terminal::visible;
use crate::text::{human_size, percent};
use crate::time::iso8601_ms;

/// The style sheet and script of every page, kept as real files so editors and linters see them.
pub(super) const CSS: &str = include_str!("../../assets/report.css");
pub(super) const JS: &str = include_str!("../../assets/report.js");

/// Locations the table of the report keeps from each view (peak, leaks); the rest is counted.
pub const MAX_ROWS: usize = 100;

/// Frames of a stack shown in the table; deeper ones are counted.
pub(super) const MAX_STACK: usize = 32;

/// Longest frame or location shown in the table, in characters.
pub(super) const MAX_TEXT: usize = 200;

/// Byte budgets of a report: two flame graphs and the table, plus about 100 KB for the rest
/// (style, script, charts, legend), keep the file under 2 MB whatever the capture.
pub(super) const REPORT_FLAME: FlameOptions<'static> =
    FlameOptions { whole: "", max_frames: 1500, max_svg_bytes: 650_000 };
pub(super) const TABLE_BYTES: usize = 400_000;
pub(super) const PAGE_FLAME: FlameOptions<'static> =
    FlameOptions { whole: "", max_frames: 3000, max_svg_bytes: 1_600_000 };

/// A fact of the header.
pub(super) struct Fact {
    pub(super) name: &'static str,
    pub(super) value: String,
}

/// A flame graph with its heading and what was folded.
pub(super) struct FlameSection {
    pub(super) id: &'static str,
    pub(super) heading: String,
    pub(super) intro: String,
    /// The graphs the page can switch between, the one shown first first.
    pub(super) variants: Vec<FlameVariant>,
}

impl FlameSection {
    /// Whether one of the graphs is split by thread, for the page's thread menu.
    pub(super) fn has_threads(&self) -> bool {
        self.variants.iter().any(|v| v.key == THREADS_KEY)
    }
}

/// One drawing of a section's graph: the asked-for view, or another orientation or every frame.
pub(super) struct FlameVariant {
    /// Its value in the page's radio buttons.
    pub(super) key: &'static str,
    /// Its button's label.
    pub(super) label: &'static str,
    pub(super) svg: String,
    pub(super) note: String,
}

impl FlameVariant {
    pub(super) fn drawn(key: &'static str, label: &'static str, graph: FlameGraph) -> Self {
        FlameVariant { key, label, note: fold_note(&graph), svg: graph.svg }
    }
}

/// Shares of a section's budgets: each other view, and the graph by thread; the asked-for
/// graph has the rest (at least 60 %).
const OTHER_SHARE: f64 = 0.15;
const THREAD_SHARE: f64 = 0.1;

/// The radio value of the graph by thread, which the thread menu switches to.
pub(super) const THREADS_KEY: &str = "threads";

fn share(options: FlameOptions<'_>, share: f64) -> FlameOptions<'_> {
    FlameOptions {
        max_frames: ((options.max_frames as f64 * share) as usize).max(1),
        max_svg_bytes: (options.max_svg_bytes as f64 * share) as usize,
        ..options
    }
}

/// The parts every page starts with.
pub(super) struct Header {
    pub(super) title: String,
    pub(super) command: String,
    pub(super) facts: Vec<Fact>,
    pub(super) warnings: Vec<String>,
}

pub(super) fn header(analysis: &Analysis, capture_name: &str, what: &str) -> Header {
    let info = analysis.info();
    let h = &info.header;
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut facts = vec![
        Fact { name: "pid", value: h.pid.to_string() },
        Fact { name: "started", value: iso8601_ms(h.start_time_ms).replace('T', " ") },
        Fact { name: "duration", value: format!("{:.3} s", analysis.duration_s()) },
    ];
    if let Some(v) = h.python_version {
        facts.push(Fact { name: "python", value: python_version(v) });
    }
    facts.extend([
        Fact {
            name: "capture",
            value: format!(
                "format {}, {}{}{}{}",
                h.version,
                h.file_format.name().replace('_', " "),
                if analysis.storage() == memreport_analysis::Storage::Lz4 { ", lz4" } else { "" },
                info.wrapping.map(|w| format!(", in {}", w.name())).unwrap_or_default(),
                if info.truncated() { ", truncated" } else { "" }
            ),
        },
        Fact { name: "python allocator", value: h.python_allocator.name().to_string() },
        Fact { name: "python allocators traced", value: yes_no(h.trace_python_allocators) },
        Fact { name: "native traces", value: yes_no(h.native_traces) },
        if analysis.is_aggregated() {
            Fact { name: "aggregated records", value: thousands(info.n_aggregated_records) }
        } else {
            Fact { name: "allocation records", value: thousands(info.n_allocation_records) }
        },
        Fact { name: "memory samples", value: thousands(info.n_memory_records) },
        Fact { name: "threads", value: info.threads.len().to_string() },
        Fact { name: "distinct stacks", value: thousands(info.n_stacks) },
    ]);
    let mut warnings = warnings(info);
    if analysis.is_aggregated() {
        warnings.push(
            "aggregated capture (memray run --aggregate): memory over time is kept only for the \
             whole heap, not per location, and temporary allocations and allocation totals are \
             not recorded"
                .to_string(),
        );
    }
    warnings.extend(crate::text::window_note(analysis));
    warnings.extend(crate::text::filter_note(analysis));
    warnings.extend(crate::text::native_note(analysis));
    Header {
        title: format!("{what}: {capture_name}"),
        command: visible(&h.command_line).into_owned(),
        facts,
        warnings,
    }
}

/// The frames of a flame graph of one capture: short labels with the whole path in the
/// tooltip, and a colour by where the code comes from.
struct PlainFrames<'a> {
    analysis: &'a Analysis,
    stacks: &'a Stacks,
    tree: &'a CallTree,
    places: &'a [Place],
}

impl PlainFrames<'_> {
    fn location(&self, kind: NodeKind) -> Option<&Location> {
        match kind {
            NodeKind::Frame(f) => self.stacks.frame(f),
            _ => None,
        }
    }
}

impl flame::Frames for PlainFrames<'_> {
    fn name(&self, _id: u32, kind: NodeKind) -> String {
        let thread = match kind {
            NodeKind::Thread(tid) => self.tree.thread_label(self.analysis, tid),
            _ => String::new(),
        };
        flame::frame_name(self.location(kind), kind, &thread)
    }

    fn fill(&self, id: u32) -> Option<String> {
        let NodeKind::Frame(f) = self.tree.nodes.get(id as usize)?.kind else { return None };
        let place = *self.places.get(f as usize)?;
        Some(flame::place_fill(place, &self.name(id, NodeKind::Frame(f))))
    }

    fn detail(&self, id: u32) -> Option<String> {
        let kind = self.tree.nodes.get(id as usize)?.kind;
        flame::frame_path(self.location(kind))
    }
}

pub(super) fn flame_section(
    analysis: &Analysis,
    mode: Mode,
    threads: Threads,
    inverted: bool,
    options: FlameOptions<'_>,
    id: &'static str,
) -> Result<FlameSection, Unavailable> {
    let entries = analysis.entries(mode, threads)?;
    let whole = match mode {
        Mode::Peak => "the peak",
        Mode::Leaks => "what was still live at the end",
        Mode::Temporary(_) => "temporary allocations",
    };
    let places = analysis.places();
    let options = FlameOptions { whole, ..options };
    let draw = |tree: &CallTree, options| {
        let names = PlainFrames { analysis, stacks: analysis.stacks(), tree, places: &places };
        flame::draw(tree, &names, options)
    };
    // The asked-for graph, the other orientation, and every frame memray records when the view
    // hides some: each drawn now, so that the page switches without a script that builds trees.
    // The three trees and their drawings are independent: built side by side.
    let build = |inverted, every_frame| {
        // Split rows hang under groups of threads named alike: thousands of request threads
        // would otherwise fold most of the graph into "other".
        let group_threads = threads == Threads::Split;
        CallTree::build_with(analysis, &entries, Shape { inverted, every_frame, group_threads })
    };
    // A pass that merged threads still kept groups of threads named alike apart: one graph with
    // a node per group, when there is more than one, lets the page show a thread without a
    // second pass.
    let by_thread = threads == Threads::Merged
        && analysis.threads_merged()
        && analysis.thread_groups().iter().filter(|g| g.threads > 0).count() > 1;
    let build_by_thread = || {
        let entries = analysis.entries(mode, Threads::Grouped).ok()?;
        let shape = Shape { inverted, every_frame: false, group_threads: true };
        let tree = CallTree::build_with(analysis, &entries, shape);
        // Threads that hold nothing in this view have no node: one node is no choice.
        (tree.nodes[0].children.len() > 1).then_some(tree)
    };
    let ((main_tree, thread_tree), (flipped, every)) = rayon::join(
        || rayon::join(|| build(inverted, false), || by_thread.then(build_by_thread).flatten()),
        || rayon::join(|| build(!inverted, false), || build(inverted, true)),
    );
    let hides = every != main_tree;
    let others = 1 + usize::from(hides);
    let thread_share = if thread_tree.is_some() { THREAD_SHARE } else { 0.0 };
    let main_share = 1.0 - OTHER_SHARE * others as f64 - thread_share;
    let ((graph, thread_graph), (flipped_graph, every_graph)) = rayon::join(
        || {
            rayon::join(
                || draw(&main_tree, share(options, main_share)),
                || thread_tree.as_ref().map(|t| draw(t, share(options, thread_share))),
            )
        },
        || {
            rayon::join(
                || draw(&flipped, share(options, OTHER_SHARE)),
                || hides.then(|| draw(&every, share(options, OTHER_SHARE))),
            )
        },
    );
    let orientation = |inverted: bool| if inverted { "Inverted" } else { "Callers first" };
    let flipped_key = if inverted { "callers" } else { "inverted" };
    let mut variants = vec![FlameVariant {
        key: "main",
        label: orientation(inverted),
        svg: String::new(),
        note: fold_note(&graph),
    }];
    variants.push(FlameVariant::drawn(flipped_key, orientation(!inverted), flipped_graph));
    if let Some(every_graph) = every_graph {
        variants.push(FlameVariant::drawn("every-frame", "Every frame", every_graph));
    }
    let threads_shown = thread_graph.is_some();
    if let Some(thread_graph) = thread_graph {
        variants.push(FlameVariant::drawn(THREADS_KEY, "By thread", thread_graph));
    }
    let (heading, intro) = match mode {
        Mode::Peak => (
            format!("Live at the peak: {}", human_size(graph.total.bytes)),
            "What held memory when the heap was at its largest. Each frame is as wide as the \
             bytes allocated under it and still live at the peak."
                .to_string(),
        ),
        Mode::Leaks => (
            format!(
                "{}: {}",
                if analysis.truncated() {
                    "Live when the capture ends"
                } else {
                    "Still live at the end"
                },
                human_size(graph.total.bytes)
            ),
            "What was allocated during the run and not freed by its end (memray's leaks view): a \
             leak only if the verdict above says so. Each frame is as wide as the bytes \
             allocated under it and still live at the end."
                .to_string(),
        ),
        Mode::Temporary(n) => (
            format!("Temporary allocations (N = {n}): {}", human_size(graph.total.bytes)),
            format!(
                "Allocations freed after at most {n} other allocation{} on the same thread.",
                if n == 1 { "" } else { "s" }
            ),
        ),
    };
    let intro = if inverted {
        format!("{intro} Inverted: the frames that allocated are at the top, their callers below.")
    } else {
        intro
    };
    let intro = format!(
        "{intro} Colours say where the code is: orange the program's own, blue the standard \
         library, green installed packages, {}grey memray's runner and the import system. The \
         buttons switch to the {} graph{}.",
        if analysis.stacks().is_symbolized() { "violet native code, " } else { "" },
        if inverted { "callers-first" } else { "inverted" },
        if hides {
            " and to every frame memray records (its runner and the import system)"
        } else {
            ""
        }
    );
    let intro = if threads_shown {
        format!(
            "{intro} \"By thread\" splits the graph by thread, threads named alike (a server's \
             request threads) as one node; the thread menu zooms into one."
        )
    } else {
        intro
    };
    variants[0].svg = graph.svg;
    Ok(FlameSection { id, heading, intro, variants })
}

pub(super) fn fold_note(graph: &FlameGraph) -> String {
    if graph.frames == 0 {
        return String::new();
    }
    if graph.folded_frames == 0 {
        return format!("All {} frames drawn.", thousands(graph.tree_frames as u64));
    }
    format!(
        "{} of {} frames drawn; the {} smallest are folded into grey “other” frames ({}, {} of \
         the total).",
        thousands((graph.tree_frames - graph.folded_frames) as u64),
        thousands(graph.tree_frames as u64),
        thousands(graph.folded_frames as u64),
        human_size(graph.folded.bytes),
        percent(graph.folded.bytes, graph.total.bytes)
    )
}

/// Text from a capture as a page shows it: control characters and bidi controls visible as
/// escapes (HTML escaping is askama's), cut to [`MAX_TEXT`] characters with an ellipsis.
pub(super) fn shorten(text: &str) -> String {
    crate::text::cut_to(&visible(text), MAX_TEXT)
}

pub(super) fn render(out: &mut dyn Write, page: &impl Template) -> io::Result<()> {
    let html = page.render().map_err(io::Error::other)?;
    out.write_all(html.as_bytes())
}
