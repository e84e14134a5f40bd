//! Pages of a capture set: the flame-graph page (`memreport flamegraph app.bin app.bin.*`) and
//! the set's report, whose graphs have a process level (pid and file) above the stacks.
//!
//! Each process's call tree is built from its own analysis; the trees are hung under one root,
//! a node per process, and each frame is named by the analysis it came from.

use std::io::{self, Write};

use askama::Template;
use memreport_analysis::group::{CallTree, NodeKind, Shape, TreeNode};
use memreport_analysis::set::CombinedSample;
use memreport_analysis::{Analysis, Entry, Mode, Place, Usage};

use super::chart::{Chart, Marker, Series, MAX_POINTS};
use super::common::{
    fold_note, render, Fact, FlameSection, FlameVariant, Header, CSS, JS, PAGE_FLAME, REPORT_FLAME,
};
use super::flame::{self, FlameOptions};
use crate::set::SetView;
use crate::terminal::visible;
use crate::text::human_size;

/// Processes drawn as lines of their own on the memory chart (the style sheet has eight
/// colours; the first is the combined heap).
const MAX_PROCESS_LINES: usize = 7;

/// One process's rows, drawn under its node.
pub struct SetPart<'a> {
    /// The analysis the rows come from (its stacks name the frames).
    pub analysis: &'a Analysis,
    /// The rows.
    pub entries: &'a [Entry],
    /// Index of the process in the set's [`SetView::processes`].
    pub process: usize,
}

/// Where a node of the combined tree comes from: a process node, or a node of a part's tree.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Root,
    Part(usize),
    Node(usize, NodeKind),
}

/// The parts' trees under one root, a node per part (largest first), and where each node came
/// from.
fn combine(trees: Vec<(usize, CallTree)>) -> (CallTree, Vec<Origin>) {
    let mut trees = trees;
    trees.sort_by(|a, b| b.1.nodes[0].usage.bytes.cmp(&a.1.nodes[0].usage.bytes));
    let root_usage = Usage::sum(trees.iter().map(|(_, t)| t.nodes[0].usage));
    let mut nodes = vec![TreeNode { kind: NodeKind::Root, usage: root_usage, children: vec![] }];
    let mut origin = vec![Origin::Root];
    for (part, tree) in trees {
        let process_id = nodes.len() as u32;
        nodes[0].children.push(process_id);
        // The process node stands where a thread node would: a level above the stacks.
        let root = &tree.nodes[0];
        let base = process_id; // old node i > 0 goes to base + i
        nodes.push(TreeNode {
            kind: NodeKind::Thread(part as u64),
            usage: root.usage,
            children: root.children.iter().map(|&c| base + c).collect(),
        });
        origin.push(Origin::Part(part));
        for node in &tree.nodes[1..] {
            origin.push(Origin::Node(part, node.kind));
            nodes.push(TreeNode {
                kind: node.kind,
                usage: node.usage,
                children: node.children.iter().map(|&c| base + c).collect(),
            });
        }
    }
    (CallTree { nodes, thread_groups: Default::default() }, origin)
}

/// The frames of a set's graph: process nodes by pid and file, frames by their own analysis.
struct SetFrames<'a> {
    parts: &'a [SetPart<'a>],
    labels: Vec<String>,
    places: Vec<Vec<Place>>,
    origin: &'a [Origin],
}

impl SetFrames<'_> {
    fn part(&self, part: usize) -> &SetPart<'_> {
        &self.parts[part]
    }
}

impl flame::Frames for SetFrames<'_> {
    fn name(&self, id: u32, _kind: NodeKind) -> String {
        match self.origin.get(id as usize) {
            Some(Origin::Root) | None => "all".to_string(),
            Some(Origin::Part(p)) => self.labels[*p].clone(),
            Some(Origin::Node(p, kind)) => {
                let stacks = self.part(*p).analysis.stacks();
                let location = match kind {
                    NodeKind::Frame(f) => stacks.frame(*f),
                    _ => None,
                };
                flame::frame_name(location, *kind, "")
            }
        }
    }

    fn fill(&self, id: u32) -> Option<String> {
        let Some(Origin::Node(p, NodeKind::Frame(f))) = self.origin.get(id as usize) else {
            return None;
        };
        let place = *self.places[*p].get(*f as usize)?;
        Some(flame::place_fill(place, &self.name(id, NodeKind::Frame(*f))))
    }

    fn detail(&self, id: u32) -> Option<String> {
        match self.origin.get(id as usize)? {
            // A process node: its command line, as its capture recorded it.
            Origin::Part(p) => {
                let command = &self.part(*p).analysis.header().command_line;
                Some(crate::text::cut_to(&visible(command), 200))
            }
            Origin::Node(p, NodeKind::Frame(f)) => {
                flame::frame_path(self.part(*p).analysis.stacks().frame(*f))
            }
            _ => None,
        }
    }
}

/// The flame section of a set: callers first and inverted, each with a process level.
fn set_flame(
    set: &SetView<'_>,
    parts: &[SetPart<'_>],
    mode: Mode,
    inverted: bool,
    options: FlameOptions<'_>,
    id: &'static str,
) -> FlameSection {
    let whole = match mode {
        Mode::Peak => "the combined peak",
        Mode::Leaks => "what was still live at the end of each process",
        Mode::Temporary(_) => "temporary allocations",
    };
    let options = FlameOptions { whole, ..options };
    let labels: Vec<String> = parts
        .iter()
        .map(|p| {
            let row = &set.processes[p.process];
            // The file's name: the table beside the graph has its whole path.
            let name = row.file.rsplit('/').next().unwrap_or(&row.file);
            format!("process {} ({})", row.process.pid, visible(name))
        })
        .collect();
    let places: Vec<Vec<Place>> = parts.iter().map(|p| p.analysis.places()).collect();
    let draw = |inverted: bool, share: f64| {
        let shape = Shape { inverted, every_frame: false, group_threads: false };
        let trees = (0..parts.len())
            .map(|i| (i, CallTree::build_with(parts[i].analysis, parts[i].entries, shape)))
            .collect();
        let (tree, origin) = combine(trees);
        let names =
            SetFrames { parts, labels: labels.clone(), places: places.clone(), origin: &origin };
        let options = FlameOptions {
            max_frames: (options.max_frames as f64 * share) as usize,
            max_svg_bytes: (options.max_svg_bytes as f64 * share) as usize,
            ..options
        };
        flame::draw(&tree, &names, options)
    };
    let main = draw(inverted, 0.8);
    let flipped = draw(!inverted, 0.2);
    let orientation = |inverted: bool| if inverted { "Inverted" } else { "Callers first" };
    let total = main.total.bytes;
    let mut variants = vec![FlameVariant {
        key: "main",
        label: orientation(inverted),
        svg: String::new(),
        note: fold_note(&main),
    }];
    variants[0].svg = main.svg;
    let flipped_key = if inverted { "callers" } else { "inverted" };
    variants.push(FlameVariant::drawn(flipped_key, orientation(!inverted), flipped));
    let (heading, intro) = match mode {
        Mode::Peak => (
            format!("Live at the combined peak: {}", human_size(total)),
            "What each process held when the processes together held the most. The first level \
             is the process, then its stacks; each frame is as wide as the bytes allocated under \
             it and still live then."
                .to_string(),
        ),
        Mode::Leaks => (
            format!("Still live at the end of each process: {}", human_size(total)),
            "What each process allocated and had not freed when its capture ended (a worker \
             terminated by its pool ends early). The first level is the process."
                .to_string(),
        ),
        Mode::Temporary(n) => (
            format!("Temporary allocations (N = {n}): {}", human_size(total)),
            format!(
                "Allocations freed after at most {n} other allocation{} on the same thread, by \
                 process.",
                if n == 1 { "" } else { "s" }
            ),
        ),
    };
    let intro = format!(
        "{intro} Colours say where the code is: orange the program's own, blue the standard \
         library, green installed packages, grey memray's runner and the import system."
    );
    FlameSection { id, heading, intro, variants }
}

/// The header of a set's page.
fn set_header(set: &SetView<'_>, first: &Analysis, what: &str) -> Header {
    let n = set.processes.len();
    let mut facts = vec![Fact { name: "processes", value: n.to_string() }];
    if let Some((bytes, t)) = set.peak {
        facts.push(Fact {
            name: "combined peak",
            value: format!("{} at {t:.2} s", human_size(bytes)),
        });
    }
    let largest = set.processes.iter().map(|r| r.process.peak_memory).max().unwrap_or(0);
    facts.push(Fact { name: "largest process peak", value: human_size(largest) });
    let mut warnings = Vec::new();
    let truncated = set.processes.iter().filter(|r| r.process.truncated).count();
    if truncated > 0 {
        warnings.push(format!(
            "{truncated} of the {n} captures end without a trailer (a worker terminated by its \
             pool, or a process killed): each is read to its last whole record"
        ));
    }
    warnings.extend(crate::text::window_note(first));
    Header {
        title: format!("{what}: {n} processes"),
        command: visible(&first.header().command_line).into_owned(),
        facts,
        warnings,
    }
}

#[derive(Template)]
#[template(path = "flamegraph.html")]
struct SetFlamePage {
    css: &'static str,
    js: &'static str,
    header: Header,
    flame: FlameSection,
}

/// Writes the flame-graph page of a set: one graph with a level per process.
pub fn write_set_flamegraph(
    out: &mut dyn Write,
    set: &SetView<'_>,
    parts: &[SetPart<'_>],
    mode: Mode,
    inverted: bool,
) -> io::Result<()> {
    let first = parts.first().map(|p| p.analysis);
    let Some(first) = first else {
        return Err(io::Error::other("a capture set with no process holding memory"));
    };
    let page = SetFlamePage {
        css: CSS,
        js: JS,
        header: set_header(set, first, "Flame graph"),
        flame: set_flame(set, parts, mode, inverted, PAGE_FLAME, "flame"),
    };
    render(out, &page)
}

/// One row of the processes table of a set's report.
struct ProcessCells {
    pid: String,
    peak: String,
    at_peak: String,
    leaked: String,
    verdict: String,
    truncated: &'static str,
    file: String,
    command: String,
}

#[derive(Template)]
#[template(path = "set_report.html")]
struct SetReportPage {
    css: &'static str,
    js: &'static str,
    header: Header,
    processes: Vec<ProcessCells>,
    memory_svg: Option<String>,
    /// The sums of heap and RSS over time.
    rss_svg: Option<String>,
    /// The chart's lines after the combined heap: their colour index and label.
    memory_keys: Vec<(usize, String)>,
    memory_note: String,
    flames: Vec<FlameSection>,
}

/// The two graphs of a set's report: at the combined peak and at each process's end.
pub struct SetReport<'a> {
    /// At the combined peak.
    pub peak: Vec<SetPart<'a>>,
    /// Still live at each process's end.
    pub leaks: Vec<SetPart<'a>>,
    /// The combined heap over time, and each process's.
    pub combined: &'a [CombinedSample],
    /// Each process's analysis, in the set's order (for its heap over time).
    pub analyses: Vec<&'a Analysis>,
}

/// Writes the report of a set: the processes, the combined heap over time with each process's,
/// and flame graphs with a process level at the combined peak and at each process's end.
pub fn write_set_report(
    out: &mut dyn Write,
    set: &SetView<'_>,
    report: &SetReport<'_>,
) -> io::Result<()> {
    let Some(&first) = report.analyses.first() else {
        return Err(io::Error::other("an empty capture set"));
    };
    let processes = set
        .processes
        .iter()
        .map(|r| ProcessCells {
            pid: r.process.pid.to_string(),
            peak: human_size(r.process.peak_memory),
            at_peak: r.at_peak.map_or_else(|| "-".to_string(), human_size),
            leaked: human_size(r.process.leaked.bytes),
            verdict: r.verdict.map_or("-", |v| v.name()).to_string(),
            truncated: if r.process.truncated { "yes" } else { "no" },
            file: visible(&r.file).into_owned(),
            command: visible(&r.process.command).into_owned(),
        })
        .collect();
    let (memory_svg, rss_svg, memory_note) = memory_chart(set, report);
    let memory_keys = (set.processes.iter().take(MAX_PROCESS_LINES).enumerate())
        .map(|(i, r)| (i + 1, format!("process {}", r.process.pid)))
        .collect();
    let mut flames = Vec::new();
    if !report.peak.is_empty() {
        flames.push(set_flame(set, &report.peak, Mode::Peak, false, REPORT_FLAME, "flame-peak"));
    }
    if !report.leaks.is_empty() {
        flames.push(set_flame(set, &report.leaks, Mode::Leaks, false, REPORT_FLAME, "flame-leaks"));
    }
    let page = SetReportPage {
        css: CSS,
        js: JS,
        header: set_header(set, first, "Report"),
        processes,
        memory_svg,
        rss_svg,
        memory_keys,
        memory_note,
        flames,
    };
    render(out, &page)
}

/// The combined heap over time, with each process's heap on the same clock.
fn memory_chart(
    set: &SetView<'_>,
    report: &SetReport<'_>,
) -> (Option<String>, Option<String>, String) {
    let start = set_start_ms(report);
    let seconds = |ms: u64| ((ms as f64 - start as f64) / 1000.0).max(0.0);
    if report.combined.is_empty() {
        return (None, None, "No process of the set took a memory sample.".to_string());
    }
    // Columns: the combined heap, then each process's heap at the same moments (the heap of
    // its last sample so far, 0 before its first and after its last).
    let n = report.analyses.len();
    let mut cursors = vec![0usize; n];
    let mut samples: Vec<(f64, Vec<u64>)> = Vec::with_capacity(report.combined.len());
    for c in report.combined {
        let mut row = vec![c.heap];
        for (p, a) in report.analyses.iter().enumerate() {
            let points = a.timeline().points();
            while cursors[p] < points.len() && points[cursors[p]].ms_since_epoch <= c.ms_since_epoch
            {
                cursors[p] += 1;
            }
            let gone = points.last().is_none_or(|l| l.ms_since_epoch < c.ms_since_epoch);
            let heap = if cursors[p] == 0 || gone { 0 } else { points[cursors[p] - 1].heap };
            row.push(heap);
        }
        samples.push((seconds(c.ms_since_epoch), row));
    }
    let t_end = samples.last().map_or(0.0, |s| s.0);
    let points = bucket(&samples, t_end);
    let mut series = vec![Series {
        label: "combined heap".to_string(),
        values: points.iter().map(|p| p.1[0]).collect(),
    }];
    for (i, r) in set.processes.iter().enumerate().take(MAX_PROCESS_LINES) {
        series.push(Series {
            label: format!("process {}", r.process.pid),
            values: points.iter().map(|p| p.1[i + 1]).collect(),
        });
    }
    let chart = Chart {
        times: points.iter().map(|p| p.0).collect(),
        series,
        marker: set.peak.map(|(bytes, t)| Marker {
            t,
            bytes,
            label: format!("combined peak {} at {t:.2} s", human_size(bytes)),
        }),
        t_end,
        steps: true,
        title: "Combined heap and each process's heap over time".to_string(),
        span: first_window(report),
    };
    let shown = set.processes.len().min(MAX_PROCESS_LINES);
    let note = format!(
        "The heaps of the {} processes on one clock: the first line is their sum, then one line \
         per process ({shown} shown). A process holds nothing before its first memory sample and \
         after its last. The second chart sums their resident set sizes: forked processes share \
         the pages they have not written since the fork, so the sum overstates what the \
         machine held.",
        set.processes.len()
    );
    // The sums of RSS too, on a chart of their own: beside it, the heaps would be flattened.
    let sums: Vec<(f64, Vec<u64>)> = (report.combined.iter())
        .map(|c| (seconds(c.ms_since_epoch), vec![c.heap, c.rss]))
        .collect();
    let sums = bucket(&sums, t_end);
    let rss = Chart {
        times: sums.iter().map(|p| p.0).collect(),
        series: vec![
            Series {
                label: "combined heap".to_string(),
                values: sums.iter().map(|p| p.1[0]).collect(),
            },
            Series {
                label: "combined RSS".to_string(),
                values: sums.iter().map(|p| p.1[1]).collect(),
            },
        ],
        marker: None,
        t_end,
        steps: true,
        title: "Combined heap and resident set size over time".to_string(),
        span: first_window(report),
    };
    (Some(chart.render()), Some(rss.render()), note)
}

/// Samples merged into at most [`MAX_POINTS`] buckets of equal time (the maxima of each).
fn bucket(samples: &[(f64, Vec<u64>)], t_end: f64) -> Vec<(f64, Vec<u64>)> {
    if samples.len() <= MAX_POINTS || t_end <= 0.0 {
        return samples.to_vec();
    }
    let mut out: Vec<(f64, Vec<u64>)> = Vec::new();
    let width = t_end / MAX_POINTS as f64;
    for (t, row) in samples {
        let slot = ((t / width) as usize).min(MAX_POINTS - 1);
        match out.last_mut() {
            Some((last_t, last)) if ((*last_t / width) as usize).min(MAX_POINTS - 1) == slot => {
                for (a, b) in last.iter_mut().zip(row) {
                    *a = (*a).max(*b);
                }
            }
            _ => out.push((*t, row.clone())),
        }
    }
    out
}

fn set_start_ms(report: &SetReport<'_>) -> i64 {
    report.analyses.iter().map(|a| a.header().start_time_ms).min().unwrap_or(0)
}

/// The window of the set, as its first process resolved it, on the set's clock.
fn first_window(report: &SetReport<'_>) -> Option<(f64, f64)> {
    let first = report.analyses.first()?;
    let offset = (first.header().start_time_ms - set_start_ms(report)) as f64 / 1000.0;
    first.window().map(|w| (w.from_s + offset, w.to_s + offset))
}
