//! The diff page (`memreport diff -o`): the verdict, the totals before and after, both heaps on
//! one time axis, the differential flame graph of the peak, and the changed locations.

use std::io::{self, Write};

use askama::Template;
use memreport_analysis::group::{CallTree, NodeKind};
use memreport_analysis::{Analysis, Mode, Threads, Usage};

use super::chart::{Chart, Series, MAX_POINTS};
use super::flame::{self, FlameOptions};
use super::thousands;
use crate::text::human_size;

use super::common::{
    fold_note, header, render, shorten, FlameSection, FlameVariant, Header, CSS, JS, MAX_ROWS,
    MAX_STACK, PAGE_FLAME,
};

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
    fn name(&self, _id: u32, kind: NodeKind) -> String {
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
            // Both captures share the window asked for; the after capture's resolution of it.
            span: after.window().map(|w| (w.from_s, w.to_s)),
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
        variants: vec![FlameVariant { key: "main", label: "After", svg: graph.svg, note }],
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
    header.warnings.extend(crate::text::window_note(after));
    header.warnings.extend(crate::text::filter_note(after));
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
