//! The incident report (`memreport report`): the leak verdict and its findings, headline cards,
//! memory over time, live bytes per location, the flame graphs of the peak and of leaks, and the
//! table of top locations.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use askama::Template;
use memreport_analysis::group::{self, By};
use memreport_analysis::leaks;
use memreport_analysis::{Analysis, Mode, Threads, Usage};

use super::chart::{max_per_bucket, Chart, Marker, Series, MAX_POINTS};
use super::thousands;
use crate::terminal::visible;
use crate::text::{human_size, percent};

use super::common::{
    flame_section, header, render, shorten, FlameSection, Header, CSS, JS, MAX_ROWS, MAX_STACK,
    REPORT_FLAME, TABLE_BYTES,
};

/// Locations drawn in the live-bytes-over-time chart.
const MAX_CURVES: usize = 8;

/// A headline number.
struct Card {
    label: &'static str,
    value: String,
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
        span: analysis.window().map(|w| (w.from_s, w.to_s)),
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
        span: analysis.window().map(|w| (w.from_s, w.to_s)),
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
