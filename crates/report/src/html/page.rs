//! The pages: what each section shows, gathered from an analysis into plain values that the
//! askama templates lay out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use askama::Template;
use memreport_analysis::group::{self, By, CallTree, NodeKind, Shape};
use memreport_analysis::leaks;
use memreport_analysis::{Analysis, Mode, Threads, Unavailable, Usage};

use super::chart::{max_per_bucket, Chart, Marker, Series, MAX_POINTS};
use super::flame::{self, FlameGraph, FlameOptions};
use super::thousands;
use crate::info::{python_version, warnings};
use crate::terminal::visible;
use crate::text::{human_size, percent};
use crate::time::iso8601_ms;

/// The style sheet and script of every page, kept as real files so editors and linters see them.
const CSS: &str = include_str!("../../assets/report.css");
const JS: &str = include_str!("../../assets/report.js");

/// Locations the table of the report keeps from each view (peak, leaks); the rest is counted.
pub const MAX_ROWS: usize = 100;

/// Frames of a stack shown in the table; deeper ones are counted.
const MAX_STACK: usize = 32;

/// Longest frame or location shown in the table, in characters.
const MAX_TEXT: usize = 200;

/// Locations drawn in the live-bytes-over-time chart.
const MAX_CURVES: usize = 8;

/// Byte budgets of a report: two flame graphs and the table, plus about 100 KB for the rest
/// (style, script, charts, legend), keep the file under 2 MB whatever the capture.
const REPORT_FLAME: FlameOptions<'static> =
    FlameOptions { whole: "", max_frames: 1500, max_svg_bytes: 650_000 };
const TABLE_BYTES: usize = 400_000;
const PAGE_FLAME: FlameOptions<'static> =
    FlameOptions { whole: "", max_frames: 3000, max_svg_bytes: 1_600_000 };

/// What `memreport flamegraph` draws.
#[derive(Debug, Clone, Copy)]
pub struct FlamegraphView {
    /// Peak, leaks or temporary allocations.
    pub mode: Mode,
    /// One subtree per thread.
    pub threads: Threads,
    /// Innermost frames at the root (memray's `--inverted`).
    pub inverted: bool,
}

/// A fact of the header.
struct Fact {
    name: &'static str,
    value: String,
}

/// A headline number.
struct Card {
    label: &'static str,
    value: String,
    note: String,
}

/// A flame graph with its heading and what was folded.
struct FlameSection {
    id: &'static str,
    heading: String,
    intro: String,
    svg: String,
    note: String,
}

/// A row of the locations table.
struct Row {
    location: String,
    stack: Vec<String>,
    peak: Usage,
    peak_size: String,
    peak_share: String,
    leaked: Usage,
    leaked_size: String,
    leaked_share: String,
}

/// The leak verdict, leading the report.
struct VerdictView {
    name: &'static str,
    reason: String,
    findings: Vec<FindingView>,
    /// What the findings left out add up to, when the list is cut.
    more: Option<String>,
}

/// A finding as the report lists it.
struct FindingView {
    kind: &'static str,
    location: String,
    numbers: String,
    confidence: String,
    thread: Option<String>,
    evidence: String,
    stack: Vec<String>,
}

/// A line of the live-bytes chart's legend.
struct Legend {
    index: usize,
    location: String,
    max: String,
    end: String,
}

/// The parts every page starts with.
struct Header {
    title: String,
    command: String,
    facts: Vec<Fact>,
    warnings: Vec<String>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    css: &'static str,
    js: &'static str,
    header: Header,
    verdict: VerdictView,
    cards: Vec<Card>,
    memory_views: Vec<ChartView>,
    memory_note: String,
    curves_chart: Option<String>,
    curves_note: String,
    legend: Vec<Legend>,
    flames: Vec<FlameSection>,
    rows: Vec<Row>,
    rows_note: String,
}

#[derive(Template)]
#[template(path = "flamegraph.html")]
struct FlamePage {
    css: &'static str,
    js: &'static str,
    header: Header,
    flame: FlameSection,
}

fn header(analysis: &Analysis, capture_name: &str, what: &str) -> Header {
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
                "format {}, {}{}{}",
                h.version,
                h.file_format.name().replace('_', " "),
                if analysis.storage() == memreport_analysis::format::Storage::Lz4 {
                    ", lz4"
                } else {
                    ""
                },
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
    if h.native_traces {
        warnings.push(
            "native traces are recorded but not shown: memreport does not symbolize native \
             frames yet, so stacks are the Python frames only"
                .to_string(),
        );
    }
    Header {
        title: format!("{what}: {capture_name}"),
        command: visible(&h.command_line).into_owned(),
        facts,
        warnings,
    }
}

fn cards(analysis: &Analysis, leaked: Usage, verdict: leaks::Verdict) -> Vec<Card> {
    let mut cards = vec![Card {
        label: "peak memory",
        value: human_size(analysis.peak_memory()),
        note: match analysis.peak_time_ms() {
            Some(ms) => format!("at {:.2} s", analysis.seconds_since_start(ms)),
            None => String::new(),
        },
    }];
    cards.push(Card {
        // "Leaked" only under a leak verdict: otherwise it is what was still live at the end.
        label: if analysis.truncated() {
            "live when the capture ends"
        } else if verdict == leaks::Verdict::Leak {
            "leaked (still live at the end)"
        } else {
            "still live at the end"
        },
        value: human_size(leaked.bytes),
        note: format!("in {} allocations", thousands(leaked.count)),
    });
    if let Some(all) = analysis.allocated() {
        cards.push(Card {
            label: "allocated in total",
            value: human_size(all.bytes),
            note: format!("in {} allocations", thousands(all.count)),
        });
    }
    if let Some(rss) = analysis.timeline().points().iter().map(|p| p.rss).max() {
        cards.push(Card {
            label: "largest resident set",
            value: human_size(rss),
            note: "RSS, as sampled".to_string(),
        });
    }
    cards.push(Card {
        label: "duration",
        value: format!("{:.2} s", analysis.duration_s()),
        note: format!("{} memory samples", thousands(analysis.info().n_memory_records)),
    });
    cards
}

/// A chart with a choice of scales: one figure per view, one shown at a time.
struct ChartView {
    id: &'static str,
    label: &'static str,
    svg: String,
    checked: bool,
    rss: bool,
}

/// Heap and RSS over time. When the heap is small beside the RSS, its shape would be a flat line
/// at the bottom, so a heap-only view is offered too, and shown first.
fn memory_charts(analysis: &Analysis) -> (Vec<ChartView>, String) {
    let timeline = analysis.timeline();
    let samples: Vec<(f64, [u64; 2])> = timeline
        .points()
        .iter()
        .map(|p| (analysis.seconds_since_start(p.ms_since_epoch), [p.heap, p.rss]))
        .collect();
    if samples.is_empty() {
        return (Vec::new(), "This capture holds no memory samples.".to_string());
    }
    let t_end = analysis.duration_s();
    let points = max_per_bucket(&samples, t_end, MAX_POINTS);
    let marker = analysis.peak_time_ms().map(|ms| {
        let t = analysis.seconds_since_start(ms);
        Marker {
            t,
            bytes: analysis.peak_memory(),
            label: format!("peak {} at {t:.2} s", human_size(analysis.peak_memory())),
        }
    });
    let heap =
        Series { label: "heap".to_string(), values: points.iter().map(|p| p.1[0]).collect() };
    let rss = Series { label: "RSS".to_string(), values: points.iter().map(|p| p.1[1]).collect() };
    let chart = |series: Vec<Series>, title: &str| Chart {
        times: points.iter().map(|p| p.0).collect(),
        series,
        marker: marker.clone(),
        t_end,
        steps: false,
        title: title.to_string(),
    };
    let max_heap = heap.values.iter().copied().max().unwrap_or(0).max(analysis.peak_memory());
    let max_rss = rss.values.iter().copied().max().unwrap_or(0);
    let heap_is_small = max_heap.saturating_mul(4) < max_rss;
    let mut views = vec![ChartView {
        id: "memory-both",
        label: "heap and RSS",
        svg: chart(vec![heap.clone(), rss], "Heap and resident set size over time").render(),
        checked: !heap_is_small,
        rss: true,
    }];
    if heap_is_small {
        views.push(ChartView {
            id: "memory-heap",
            label: "heap only",
            svg: chart(vec![heap], "Heap over time").render(),
            checked: true,
            rss: false,
        });
    }
    let n = timeline.n_samples();
    let note = if points.len() < samples.len() || timeline.samples_per_point() > 1 {
        format!(
            "{} memory samples drawn as {} points; each point is the largest value of its time \
             slice, so short spikes keep their height.",
            thousands(n),
            thousands(points.len() as u64)
        )
    } else {
        format!("All {} memory samples drawn.", thousands(n))
    };
    (views, note)
}

fn curves_chart(analysis: &Analysis, first: &[String]) -> (Option<String>, String, Vec<Legend>) {
    if analysis.is_aggregated() {
        return (
            None,
            "An aggregated capture keeps no memory over time per location.".to_string(),
            Vec::new(),
        );
    }
    let series = group::series_first(analysis, By::Line, MAX_CURVES, first);
    if series.is_empty() || analysis.timeline().points().is_empty() {
        return (None, "No location held memory over time.".to_string(), Vec::new());
    }
    let n_ticks = analysis.ticks().n_ticks();
    let mut times = Vec::with_capacity(n_ticks as usize);
    for tick in 0..n_ticks {
        times.push(analysis.tick_end_s(tick));
    }
    let legend = series
        .iter()
        .enumerate()
        .map(|(index, s)| Legend {
            index,
            location: s.location.clone(),
            max: human_size(s.max_bytes),
            end: human_size(s.end_bytes),
        })
        .collect();
    let chart = Chart {
        times,
        series: series.into_iter().map(|s| Series { label: s.location, values: s.bytes }).collect(),
        marker: None,
        t_end: analysis.duration_s(),
        steps: true,
        title: "Live bytes over time of the locations that held the most".to_string(),
    };
    let note = format!(
        "Live bytes of each location at the end of each of the run's {n_ticks} ticks (a tick \
         closes at a memory sample, or after {} allocation events when they come faster), for \
         the {MAX_CURVES} locations the leak findings name and, after them, those whose live \
         bytes rose highest.",
        u64::from(memreport_analysis::timeline::EVENTS_PER_UNIT) * analysis.ticks().units_per_tick
    );
    (Some(chart.render()), note, legend)
}

fn flame_section(
    analysis: &Analysis,
    mode: Mode,
    threads: Threads,
    inverted: bool,
    options: FlameOptions<'_>,
    id: &'static str,
) -> Result<FlameSection, Unavailable> {
    let entries = analysis.entries(mode, threads)?;
    let tree = CallTree::build_with(analysis, &entries, Shape { inverted });
    let whole = match mode {
        Mode::Peak => "the peak",
        Mode::Leaks => "what was still live at the end",
        Mode::Temporary(_) => "temporary allocations",
    };
    let stacks = analysis.stacks();
    let names = |kind: NodeKind| {
        let location = match kind {
            NodeKind::Frame(f) => stacks.frame(f),
            _ => None,
        };
        let thread = match kind {
            NodeKind::Thread(tid) => stacks.thread_label(tid),
            _ => String::new(),
        };
        flame::frame_name(location, kind, &thread)
    };
    let graph = flame::draw(&tree, &names, FlameOptions { whole, ..options });
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
    Ok(FlameSection { id, heading, intro, note: fold_note(&graph), svg: graph.svg })
}

fn fold_note(graph: &FlameGraph) -> String {
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

fn rows(analysis: &Analysis) -> (Vec<Row>, String) {
    let peak = analysis.entries(Mode::Peak, Threads::Merged).unwrap_or_default();
    let leaks = analysis.entries(Mode::Leaks, Threads::Merged).unwrap_or_default();
    let peak_groups = group::group_top(analysis, &peak, By::Line, MAX_ROWS);
    let leak_groups = group::group_top(analysis, &leaks, By::Line, MAX_ROWS);
    let peak_total = Usage::sum(peak_groups.iter().map(|g| g.usage));
    let leak_total = Usage::sum(leak_groups.iter().map(|g| g.usage));
    let all: BTreeSet<&str> =
        peak_groups.iter().chain(&leak_groups).map(|g| g.location.as_str()).collect();
    // The top locations of each view; a location kept for one view still shows its numbers in
    // the other.
    let mut by_location: BTreeMap<String, Row> = BTreeMap::new();
    for g in peak_groups.iter().take(MAX_ROWS).chain(leak_groups.iter().take(MAX_ROWS)) {
        by_location.entry(g.location.clone()).or_insert_with(|| Row {
            location: g.location.clone(),
            stack: g.stack.clone(),
            peak: Usage::default(),
            peak_size: String::new(),
            peak_share: String::new(),
            leaked: Usage::default(),
            leaked_size: String::new(),
            leaked_share: String::new(),
        });
    }
    for g in &peak_groups {
        if let Some(row) = by_location.get_mut(&g.location) {
            row.peak = g.usage;
        }
    }
    for g in &leak_groups {
        if let Some(row) = by_location.get_mut(&g.location) {
            row.leaked = g.usage;
        }
    }
    let mut rows: Vec<Row> = by_location.into_values().collect();
    rows.sort_by(|a, b| {
        (b.peak.bytes, b.leaked.bytes)
            .cmp(&(a.peak.bytes, a.leaked.bytes))
            .then(a.location.cmp(&b.location))
    });
    // Rows in order until the byte budget is spent (long paths and deep stacks cost most).
    let mut spent = 0;
    let mut kept = 0;
    for r in &mut rows {
        r.peak_size = human_size(r.peak.bytes);
        r.leaked_size = human_size(r.leaked.bytes);
        r.peak_share = percent(r.peak.bytes, peak_total.bytes);
        r.leaked_share = percent(r.leaked.bytes, leak_total.bytes);
        if r.stack.len() > MAX_STACK {
            let more = r.stack.len() - MAX_STACK;
            r.stack.truncate(MAX_STACK);
            r.stack.push(format!("… {more} more frames"));
        }
        r.location = shorten(&r.location);
        for frame in &mut r.stack {
            *frame = shorten(frame);
        }
        // Markup of a row is about 400 bytes besides its text.
        spent += 400 + r.location.len() + r.stack.iter().map(|f| f.len() + 9).sum::<usize>();
        if spent > TABLE_BYTES {
            break;
        }
        kept += 1;
    }
    rows.truncate(kept.max(1).min(rows.len()));
    let note = if rows.len() < all.len() {
        format!(
            "The {} locations largest at the peak or in leaks, of {}. Click a column to sort; \
             click a location for its stack.",
            thousands(rows.len() as u64),
            thousands(all.len() as u64)
        )
    } else {
        format!(
            "All {} locations. Click a column to sort; click a location for its stack.",
            thousands(rows.len() as u64)
        )
    };
    (rows, note)
}

/// Findings in the live heap the page shows in full.
const MAX_FINDINGS: usize = 10;

fn verdict_view(analysis: &Analysis, found: &leaks::Leaks) -> VerdictView {
    let stacks = analysis.stacks();
    // The fastest findings in the heap and any retention finding; the rest in one line.
    let heap = found.findings.iter().filter(|f| f.kind != leaks::Kind::AllocatorRetention);
    let rest: Vec<&leaks::Finding> = heap.clone().skip(MAX_FINDINGS).collect();
    let shown = heap
        .take(MAX_FINDINGS)
        .chain(found.findings.iter().filter(|f| f.kind == leaks::Kind::AllocatorRetention));
    VerdictView {
        name: found.verdict.name(),
        reason: crate::leaks::reason_text(found),
        findings: shown
            .map(|f| FindingView {
                kind: f.kind.name(),
                location: shorten(&f.location),
                numbers: crate::leaks::finding_numbers(f),
                confidence: format!("{:.2}", f.confidence),
                thread: f.thread.map(|t| visible(&stacks.thread_label(t)).into_owned()),
                evidence: crate::leaks::evidence_text(f),
                stack: f.stack.iter().take(MAX_STACK).map(|s| shorten(s)).collect(),
            })
            .collect(),
        more: (!rest.is_empty()).then(|| {
            format!(
                "… and {} slower growing locations (+{} in all); memreport leaks --json lists \
                 them.",
                rest.len(),
                human_size(rest.iter().map(|f| f.growth_bytes).sum())
            )
        }),
    }
}

/// Text from a capture as a page shows it: control characters and bidi controls visible as
/// escapes (HTML escaping is askama's), cut to [`MAX_TEXT`] characters with an ellipsis.
fn shorten(text: &str) -> String {
    let text = visible(text);
    if text.chars().count() <= MAX_TEXT {
        return text.into_owned();
    }
    text.chars().take(MAX_TEXT - 1).chain(['…']).collect()
}

/// Writes the incident report of an analysis.
pub fn write_report(
    out: &mut dyn Write,
    analysis: &Analysis,
    capture_name: &str,
) -> io::Result<()> {
    let leaked = analysis.total(Mode::Leaks).unwrap_or_default();
    // The views are independent until the page is assembled, and on a large capture each takes
    // a noticeable share of the render (the leak detector and the two call trees most), so they
    // are built side by side. Each is a pure function of the analysis: the page is the same
    // whatever the scheduling.
    let flame =
        |mode, id| flame_section(analysis, mode, Threads::Merged, false, REPORT_FLAME, id).ok();
    let (((memory_views, memory_note), (found, curves)), ((peak, leaks), (rows, rows_note))) =
        rayon::join(
            || {
                rayon::join(
                    || memory_charts(analysis),
                    || {
                        let found = leaks::detect(analysis);
                        let first: Vec<String> = found
                            .findings
                            .iter()
                            .filter(|f| f.kind != leaks::Kind::AllocatorRetention)
                            .map(|f| f.allocated_at.clone())
                            .collect();
                        let curves = curves_chart(analysis, &first);
                        (found, curves)
                    },
                )
            },
            || {
                rayon::join(
                    || {
                        rayon::join(
                            || flame(Mode::Peak, "flame-peak"),
                            || flame(Mode::Leaks, "flame-leaks"),
                        )
                    },
                    || rows(analysis),
                )
            },
        );
    let (curves_chart, curves_note, legend) = curves;
    let flames = [peak, leaks].into_iter().flatten().collect();
    let page = ReportPage {
        css: CSS,
        js: JS,
        header: header(analysis, capture_name, "Memory report"),
        verdict: verdict_view(analysis, &found),
        cards: cards(analysis, leaked, found.verdict),
        memory_views,
        memory_note,
        curves_chart,
        curves_note,
        legend,
        flames,
        rows,
        rows_note,
    };
    render(out, &page)
}

/// Writes a page with one flame graph, or says why the view is not available for this capture
/// (temporary allocations of an aggregated capture, or not computed by the analysis).
pub fn write_flamegraph(
    out: &mut dyn Write,
    analysis: &Analysis,
    view: FlamegraphView,
    capture_name: &str,
) -> Result<io::Result<()>, Unavailable> {
    let flame =
        flame_section(analysis, view.mode, view.threads, view.inverted, PAGE_FLAME, "flame")?;
    let page = FlamePage {
        css: CSS,
        js: JS,
        header: header(analysis, capture_name, "Flame graph"),
        flame,
    };
    Ok(render(out, &page))
}

fn render(out: &mut dyn Write, page: &impl Template) -> io::Result<()> {
    let html = page.render().map_err(io::Error::other)?;
    out.write_all(html.as_bytes())
}

/// A number with its text, for sortable cells.
type Cell = (i128, String);

/// A row of the changed-locations table of a diff.
struct DiffRow {
    status: &'static str,
    location: String,
    stack: Vec<String>,
    peak_before: Cell,
    peak_after: Cell,
    peak_delta: Cell,
    leaked_before: Cell,
    leaked_after: Cell,
    leaked_delta: Cell,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    css: &'static str,
    js: &'static str,
    header: Header,
    verdict: &'static str,
    verdict_class: &'static str,
    reason: String,
    totals: Vec<(String, String, String, String)>,
    memory_chart: Option<String>,
    memory_note: String,
    flame: FlameSection,
    rows: Vec<DiffRow>,
    rows_note: String,
}

/// The colours of a differential flame graph: widths from AFTER, red where a frame holds more
/// bytes than before, blue where it holds fewer, the deeper the larger the change.
struct DiffFrames<'a> {
    stacks: &'a memreport_analysis::stacks::Stacks,
    tree: &'a CallTree,
    before: Vec<Option<Usage>>,
    largest: u64,
}

impl DiffFrames<'_> {
    fn delta(&self, id: u32) -> i128 {
        let after = self.tree.nodes[id as usize].usage.bytes;
        let before = self.before[id as usize].map_or(0, |u| u.bytes);
        i128::from(after) - i128::from(before)
    }
}

impl flame::Frames for DiffFrames<'_> {
    fn name(&self, kind: NodeKind) -> String {
        let location = match kind {
            NodeKind::Frame(f) => self.stacks.frame(f),
            _ => None,
        };
        let thread = match kind {
            NodeKind::Thread(tid) => self.stacks.thread_label(tid),
            _ => String::new(),
        };
        flame::frame_name(location, kind, &thread)
    }

    fn fill(&self, id: u32) -> Option<String> {
        let delta = self.delta(id);
        let share = (delta.unsigned_abs() as f64 / self.largest.max(1) as f64).min(1.0);
        let fade = (230.0 - 180.0 * share.sqrt()).round() as u8;
        Some(match delta.signum() {
            1 => format!("rgb(245,{fade},{fade})"),
            -1 => format!("rgb({fade},{fade},245)"),
            _ => "rgb(225,225,225)".to_string(),
        })
    }

    fn detail(&self, id: u32) -> Option<String> {
        Some(match self.before[id as usize] {
            None => "new: not in BEFORE".to_string(),
            Some(u) => format!(
                "before: {} in {} allocations; change {}",
                human_size(u.bytes),
                thousands(u.count),
                crate::diff::signed_size(self.delta(id))
            ),
        })
    }
}

/// Max-per-bucket values of samples on a shared grid of `buckets` slices up to `t_end`; a slice
/// with no sample keeps the previous value.
fn on_grid(samples: &[(f64, u64)], t_end: f64, buckets: usize) -> Vec<u64> {
    let mut out = vec![None; buckets];
    for &(t, v) in samples {
        let b = ((t / t_end.max(1e-9) * buckets as f64) as usize).min(buckets - 1);
        out[b] = Some(out[b].map_or(v, |m: u64| m.max(v)));
    }
    let mut last = 0;
    out.into_iter()
        .map(|v| {
            last = v.unwrap_or(last);
            last
        })
        .collect()
}

/// Writes the diff page: the verdict, both heaps over time, the differential flame graph of the
/// peak, and the changed locations.
pub fn write_diff(
    out: &mut dyn Write,
    before: &Analysis,
    after: &Analysis,
    result: &memreport_analysis::diff::Diff,
    names: (&str, &str),
) -> io::Result<()> {
    use memreport_analysis::diff::{match_tree, Change, Status};
    let (b, a) = (&result.before, &result.after);
    let sign = crate::diff::signed_size;
    let delta = |x: u64, y: u64| sign(i128::from(y) - i128::from(x));
    let mut totals = vec![
        (
            "peak memory".to_string(),
            human_size(b.peak_memory),
            human_size(a.peak_memory),
            delta(b.peak_memory, a.peak_memory),
        ),
        (
            "leaked".to_string(),
            human_size(b.leaked.bytes),
            human_size(a.leaked.bytes),
            delta(b.leaked.bytes, a.leaked.bytes),
        ),
    ];
    if let (Some(x), Some(y)) = (b.allocated, a.allocated) {
        totals.push((
            "allocated".to_string(),
            human_size(x.bytes),
            human_size(y.bytes),
            delta(x.bytes, y.bytes),
        ));
    }
    totals.push((
        "leak verdict".to_string(),
        b.leak_verdict.name().to_string(),
        a.leak_verdict.name().to_string(),
        String::new(),
    ));
    totals.push((
        "duration".to_string(),
        format!("{:.2} s", b.duration_s),
        format!("{:.2} s", a.duration_s),
        String::new(),
    ));

    // Both heaps on one time axis, each from its own start.
    let heap = |analysis: &Analysis| -> Vec<(f64, u64)> {
        analysis
            .timeline()
            .points()
            .iter()
            .map(|p| (analysis.seconds_since_start(p.ms_since_epoch), p.heap))
            .collect()
    };
    let (hb, ha) = (heap(before), heap(after));
    let t_end = b.duration_s.max(a.duration_s);
    let (memory_chart, memory_note) = if hb.is_empty() && ha.is_empty() {
        (None, "Neither capture holds memory samples.".to_string())
    } else {
        let n = MAX_POINTS.min(hb.len().max(ha.len()).max(2));
        let times: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) * t_end / n as f64).collect();
        let chart = Chart {
            times,
            series: vec![
                Series { label: "heap before".to_string(), values: on_grid(&hb, t_end, n) },
                Series { label: "heap after".to_string(), values: on_grid(&ha, t_end, n) },
            ],
            marker: None,
            t_end,
            steps: false,
            title: "Heap over time, before and after".to_string(),
        };
        (
            Some(chart.render()),
            format!(
                "Each capture from its own start, in {n} time slices of {:.0} ms, each the largest \
                 value of its slice.",
                t_end / n as f64 * 1000.0
            ),
        )
    };

    // The differential flame graph of the peak.
    let peak =
        |analysis: &Analysis| analysis.entries(Mode::Peak, Threads::Merged).unwrap_or_default();
    let before_tree = CallTree::build(before, &peak(before));
    let after_tree = CallTree::build(after, &peak(after));
    let before_usage = match_tree(before, &before_tree, after, &after_tree);
    let largest = after_tree
        .nodes
        .iter()
        .zip(&before_usage)
        .skip(1)
        .map(|(n, u)| {
            (i128::from(n.usage.bytes) - i128::from(u.map_or(0, |u| u.bytes))).unsigned_abs()
        })
        .max()
        .unwrap_or(0);
    let frames = DiffFrames {
        stacks: after.stacks(),
        tree: &after_tree,
        before: before_usage,
        largest: u64::try_from(largest).unwrap_or(u64::MAX),
    };
    let graph =
        flame::draw(&after_tree, &frames, FlameOptions { whole: "the peak after", ..PAGE_FLAME });
    let gone: Vec<_> = result.locations.iter().filter(|l| l.status == Status::Gone).collect();
    let gone_bytes: u64 = gone.iter().map(|l| l.peak.0.bytes).sum();
    let mut note = fold_note(&graph);
    if !gone.is_empty() {
        note.push_str(&format!(
            " {} locations are gone since BEFORE ({} at its peak); they have no width here and \
             are listed in the table below with status “gone”.",
            thousands(gone.len() as u64),
            human_size(gone_bytes)
        ));
    }
    let flame = FlameSection {
        id: "flame",
        heading: format!("Live at the peak, after: {}", human_size(graph.total.bytes)),
        intro: "Widths are the bytes live at AFTER's peak; red frames hold more than at BEFORE's \
                peak, blue frames less, white about the same (stacks compared by function, file \
                and line)."
            .to_string(),
        svg: graph.svg,
        note,
    };

    let cell = |v: u64| (i128::from(v), human_size(v));
    let changed: Vec<_> = result.locations.iter().filter(|l| l.status != Status::Same).collect();
    let rows: Vec<DiffRow> = changed
        .iter()
        .take(MAX_ROWS)
        .map(|l| DiffRow {
            status: l.status.name(),
            location: shorten(&l.location),
            stack: l.stack.iter().take(MAX_STACK).map(|f| shorten(f)).collect(),
            peak_before: cell(l.peak.0.bytes),
            peak_after: cell(l.peak.1.bytes),
            peak_delta: (l.peak_delta(), sign(l.peak_delta())),
            leaked_before: cell(l.leaked.0.bytes),
            leaked_after: cell(l.leaked.1.bytes),
            leaked_delta: (l.leaked_delta(), sign(l.leaked_delta())),
        })
        .collect();
    let rows_note = format!(
        "{} of {} locations changed beyond noise{}; sorted by the change in leaked plus peak bytes. \
         Click a column to sort; click a location for its stack.",
        thousands(changed.len() as u64),
        thousands(result.locations.len() as u64),
        if changed.len() > MAX_ROWS { format!(" (the {MAX_ROWS} largest shown)") } else { String::new() }
    );
    let mut header = header(after, names.1, "Memory diff");
    header.title = format!("Memory diff: {} → {}", names.0, names.1);
    header.warnings = result.notes.iter().map(crate::diff::note_text).collect();
    let page = DiffPage {
        css: CSS,
        js: JS,
        header,
        verdict: result.verdict.name(),
        verdict_class: match result.verdict {
            Change::Regression => "leak",
            Change::Improvement => "no-leak",
            Change::NoChange => "inconclusive",
        },
        reason: crate::diff::reason_text(result),
        totals,
        memory_chart,
        memory_note,
        flame,
        rows,
        rows_note,
    };
    render(out, &page)
}
