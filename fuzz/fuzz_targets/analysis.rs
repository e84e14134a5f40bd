//! Any bytes: the whole analysis (live heap, peak, temporary allocations, stats, grouping, the
//! call tree, leak detection, a diff against itself and every renderer of `stats`, `top`, `tree`,
//! `leaks`, `diff`, `report` and `flamegraph`) ends in a result or a typed error, never a panic;
//! and the same with sites merged across threads, as the commands run it, and with a time window
//! (whose peak never exceeds the run's) and the capture as a set of two. Every output, and the
//! input bytes themselves cut at an arbitrary point, pass through the terminal's escaping writer
//! without a control character left but the newline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memreport_analysis::group::{group, series, By, CallTree};
use memreport_analysis::stats::Stats;
use memreport_analysis::{Analyzer, Mode, Threads, View};
use memreport_format::Capture;
use memreport_report::html::FlamegraphView;
use memreport_report::terminal::SafeWriter;
use memreport_report::text::Style;
use memreport_report::top::{TopView, TreeView};

fuzz_target!(|data: &[u8]| {
    let Ok(capture) = Capture::from_bytes(data.to_vec()) else { return };
    let Ok(analysis) = Analyzer::new().temporary([0, 3]).run(capture) else { return };
    let mut sink = Vec::new();
    if let Ok(stats) = Stats::compute(&analysis, 5) {
        memreport_report::stats::write_json(&mut sink, &analysis, &stats).unwrap();
        memreport_report::stats::write_text(&mut sink, &analysis, &stats, Style::default()).unwrap();
    }
    for mode in [Mode::Peak, Mode::Leaks, Mode::Temporary(3)] {
        for threads in [Threads::Merged, Threads::Split] {
            let Ok(rows) = analysis.entries(mode, threads) else { continue };
            let groups = group(&analysis, &rows, By::Module);
            let view = TopView { mode, groups: &groups, limit: 10, with_stack: false };
            memreport_report::top::write_json(&mut sink, &analysis, view).unwrap();
            let tree = CallTree::build(&analysis, &rows);
            let view = TreeView { mode, depth: usize::MAX, min_share: 0.0, width: 100 };
            memreport_report::top::write_tree(&mut sink, &analysis, &tree, view, Style::default())
                .unwrap();
        }
    }
    let _ = series(&analysis, By::Line, 5);
    let found = memreport_analysis::leaks::detect(&analysis);
    memreport_report::leaks::write_json(&mut sink, &analysis, &found).unwrap();
    // Every line of the leaks text fits the width it is given, whatever the names.
    let width = 40 + data.len() % 80;
    let mut text = Vec::new();
    memreport_report::leaks::write_text(&mut text, &analysis, &found, Style::default(), width)
        .unwrap();
    for line in String::from_utf8_lossy(&text).lines() {
        assert!(line.chars().count() <= width, "{width}: {line}");
    }
    memreport_report::html::write_report(&mut sink, &analysis, "fuzz.bin").unwrap();
    // A capture against itself: every location the same, every renderer of the diff.
    let d = memreport_analysis::diff::diff(&analysis, &analysis, By::Function);
    memreport_report::diff::write_json(&mut sink, &d, 50).unwrap();
    memreport_report::diff::write_text(&mut sink, &d, 50, Style::default()).unwrap();
    memreport_report::html::write_diff(&mut sink, &analysis, &analysis, &d, ("a", "b")).unwrap();
    let view = FlamegraphView { mode: Mode::Temporary(0), threads: Threads::Split, inverted: true };
    if let Ok(written) = memreport_report::html::write_flamegraph(&mut sink, &analysis, view, "f") {
        written.unwrap();
    }
    // Merged sites: what every command without --split-threads reads, through the view the
    // commands use (runner and import frames hidden) and filters that match some frames.
    let Ok(capture) = Capture::from_bytes(data.to_vec()) else { return };
    let Ok(mut merged) = Analyzer::new().threads(Threads::Merged).run(capture) else { return };
    let sum = |rows: &[memreport_analysis::Entry]| -> u128 {
        rows.iter().map(|e| u128::from(e.usage.bytes)).sum()
    };
    let all = merged.entries(Mode::Peak, Threads::Merged).map(|rows| sum(&rows));
    let filtered = View::readable().focus("a|<").and_then(|v| v.hide("_"));
    merged.set_view(&filtered.expect("literal patterns compile"));
    if let Ok(rows) = merged.entries(Mode::Peak, Threads::Merged) {
        let tree = CallTree::build(&merged, &rows);
        let view = TreeView { mode: Mode::Peak, depth: usize::MAX, min_share: 0.0, width: 40 };
        memreport_report::top::write_tree(&mut sink, &merged, &tree, view, Style::default())
            .unwrap();
        // A focus keeps a subset of the allocations.
        assert!(all.is_ok_and(|all| sum(&rows) <= all));
    }
    // Merged sites are per stack and class of thread, plus a few per thread before it is named;
    // a thread renamed to another shape has sites in both classes, so their number is not
    // bounded by the per-thread sites here. The rows by group of threads are the merged rows split: the same total.
    if let (Ok(rows), Ok(grouped)) = (
        merged.entries(Mode::Peak, Threads::Merged),
        merged.entries(Mode::Peak, Threads::Grouped),
    ) {
        assert_eq!(sum(&rows), sum(&grouped));
        let shape = memreport_analysis::group::Shape { group_threads: true, ..Default::default() };
        let _ = CallTree::build_with(&merged, &grouped, shape);
    }
    if let Ok(stats) = Stats::compute(&merged, 5) {
        memreport_report::stats::write_json(&mut sink, &merged, &stats).unwrap();
    }
    let found = memreport_analysis::leaks::detect(&merged);
    memreport_report::leaks::write_json(&mut sink, &merged, &found).unwrap();
    memreport_report::html::write_report(&mut sink, &merged, "fuzz.bin").unwrap();
    // A time window from the input's last bytes: its peak never exceeds the run's, its leaks are
    // a part of the live heap at its end; and the capture as a set of two processes.
    let ends = data.len().checked_sub(2).map(|i| (data[i], data[i + 1]));
    if let Some((a, b)) = ends {
        let (from, to) = (f64::from(a.min(b)) / 50.0, f64::from(a.max(b)) / 50.0);
        let window = memreport_analysis::Window::new(Some(from), Some(to)).expect("from <= to");
        let Ok(capture) = Capture::from_bytes(data.to_vec()) else { return };
        let run = Analyzer::new().threads(Threads::Merged).window(window).run(capture);
        let whole = Capture::from_bytes(data.to_vec()).and_then(|c| Analyzer::new().run(c));
        if let (Ok(windowed), Ok(whole)) = (run, whole) {
            if !whole.is_aggregated() {
                assert!(windowed.peak_memory() <= whole.peak_memory());
                let pair = [&whole, &windowed];
                if let Some(peak) = memreport_analysis::set::combined_peak(&pair, None) {
                    assert_eq!(peak.held.len(), 2);
                    let held = peak.held.iter().fold(0u64, |s, h| s.wrapping_add(h.heap));
                    assert_eq!(held, peak.bytes);
                }
                let _ = memreport_analysis::set::combined_timeline(&pair);
            }
            memreport_report::html::write_report(&mut sink, &windowed, "window.bin").unwrap();
        }
    }
    terminal_safe(&sink, data);
});

/// What the escaping writer lets through: the newline, and no other control character, however
/// the bytes are cut into writes.
fn terminal_safe(sink: &[u8], data: &[u8]) {
    use std::io::Write;
    let cut = data.first().map_or(1, |&b| usize::from(b) + 1);
    let mut shown = Vec::new();
    {
        let mut w = SafeWriter::new(&mut shown, &[]);
        for chunk in sink.chunks(cut).chain(data.chunks(cut)) {
            w.write_all(chunk).unwrap();
        }
        w.flush().unwrap();
    }
    assert!(!shown.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f));
    let text = String::from_utf8(shown).expect("escaped output is UTF-8");
    assert!(!text.chars().any(|c| c != '\n' && memreport_report::terminal::is_unsafe(c)));
}
