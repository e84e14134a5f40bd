//! The HTML pages without a browser: golden files (`fixtures/NAME/golden/*.html`, refreshed with
//! `MEMREPORT_BLESS=1`), flame-graph totals against memray, self-containment, and the 2 MB limit
//! on a capture with a very long tail of stacks. `tests/browser.rs` loads the same pages in
//! Chromium.

use memreport_analysis::{Analyzer, Threads};
use memreport_format::Capture;
use memreport_report::html::{self, FlamegraphView};
use serde_json::Value;

use crate::common::*;

/// Pages kept as golden files: a report of a plain, a multi-threaded, an aggregated and a killed
/// capture, and flame graph pages in the other modes, one of them with named native frames.
const GOLDEN_PAGES: &[(&str, &[&str], &str)] = &[
    ("v13-basic", &["report"], "report.html"),
    ("v13-threads", &["report"], "report.html"),
    ("v10-aggregated", &["report"], "report.html"),
    ("v13-killed", &["report"], "report.html"),
    ("native-leakyext", &["flamegraph", "--leaks"], "flamegraph_leaks.html"),
    ("v13-threads", &["flamegraph", "--leaks", "--inverted"], "flamegraph_leaks_inverted.html"),
    (
        "v13-threads",
        &["flamegraph", "--temporary", "--split-threads"],
        "flamegraph_temporary_split.html",
    ),
];

fn page(fixture: &str, args: &[&str]) -> String {
    let capture = fixtures_dir().join(fixture).join("capture.bin");
    let mut argv = vec![args[0], capture.to_str().unwrap(), "-o", "-"];
    argv.extend_from_slice(&args[1..]);
    // Native frames are named from the fixture's own symbols, or not at all: never from this
    // machine's binaries.
    let symbols = fixtures_dir().join(fixture).join("symbols");
    let symbols = symbols.to_str().unwrap();
    if std::path::Path::new(symbols).is_dir() {
        argv.extend_from_slice(&["--symbols", symbols]);
    } else if fixture.contains("native") {
        argv.push("--no-symbols");
    }
    let run = memreport(&argv);
    assert_eq!(run.code, 0, "{fixture} {args:?}: {}", run.stderr);
    String::from_utf8(run.stdout).expect("pages are UTF-8")
}

#[test]
fn pages_match_golden_files() {
    let mut failures = Vec::new();
    for (fixture, args, file) in GOLDEN_PAGES {
        let html = page(fixture, args);
        let golden = fixtures_dir().join(fixture).join("golden");
        std::fs::create_dir_all(&golden).unwrap();
        failures.extend(check_golden(&golden.join(file), without_assets(&html).as_bytes()));
    }
    finish(failures);
}

/// The bytes a flame graph's root frame stands for, read from its tooltip.
fn root_bytes(html: &str, section: &str) -> u64 {
    let start = html.find(&format!("id=\"{section}\"")).unwrap_or_else(|| panic!("{section}"));
    let root = &html[start..];
    let root = &root[root.find("<g class=\"root\"").expect("a root frame")..];
    let title = &root[root.find("<title>").unwrap() + 7..root.find("</title>").unwrap()];
    let open = title.find(" (").unwrap() + 2;
    let close = title.find(" bytes)").unwrap();
    title[open..close].replace(',', "").parse().unwrap()
}

fn oracle_bytes(records: &Value) -> u64 {
    records.as_array().unwrap().iter().map(|r| r["size"].as_u64().unwrap()).sum()
}

#[test]
fn flame_graphs_hold_what_memray_reports() {
    let mut checked = 0;
    for dir in fixtures() {
        let n = name(&dir);
        let oracle = filereader(&dir);
        let html = page(&n, &["report"]);
        for (key, section) in [("peak_merged", "flame-peak"), ("leaks_merged", "flame-leaks")] {
            let Some(records) = oracle.get(key) else { continue };
            let want = oracle_bytes(records);
            if want == 0 || want > 1 << 62 {
                continue; // Nothing to draw, or a synthetic total that wraps.
            }
            assert_eq!(root_bytes(&html, section), want, "{n}: {section}");
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} flame graphs compared");
}

#[test]
fn pages_are_self_contained() {
    for (fixture, args, _) in GOLDEN_PAGES {
        let html = page(fixture, args);
        for needle in ["src=", "url(", "@import", "http://", "https://", "<link", "<iframe"] {
            assert!(!html.contains(needle), "{fixture} {args:?}: contains {needle}");
        }
        for href in html.split("href=\"").skip(1) {
            assert!(
                href.starts_with('#'),
                "{fixture} {args:?}: a link leaves the page: {href:.40}"
            );
        }
        assert!(html.contains("<style>") && html.contains("<script>"), "inline style and script");
    }
}

/// A capture with 12,000 distinct deep stacks whose names are long: the long tail must fold so
/// that every page stays under 2 MB, and the page must say so.
#[test]
fn a_long_tail_of_stacks_folds_under_2_mb() {
    let capture = Capture::from_bytes(long_tail_capture(12_000)).unwrap();
    let analysis = Analyzer::new().temporary([1]).run(capture).unwrap();
    let mut report = Vec::new();
    html::write_report(&mut report, &analysis, "long-tail.bin").unwrap();
    let report = String::from_utf8(report).unwrap();
    assert!(report.len() < 2_000_000, "report is {} bytes", report.len());
    assert!(report.contains("smallest are folded into grey “other” frames"), "the fold is told");
    assert!(report.contains("class=\"other\""), "other frames are drawn");
    let mut page = Vec::new();
    let view = FlamegraphView {
        mode: memreport_analysis::Mode::Peak,
        threads: Threads::Merged,
        inverted: true,
    };
    html::write_flamegraph(&mut page, &analysis, view, "long-tail.bin").unwrap().unwrap();
    assert!(page.len() < 2_000_000, "flame graph page is {} bytes", page.len());
    // The same analysis renders to the same bytes.
    let mut again = Vec::new();
    html::write_report(&mut again, &analysis, "long-tail.bin").unwrap();
    assert!(again == report.as_bytes(), "rendering is deterministic");
}

#[test]
fn frames_are_coloured_by_kind_and_labelled_short() {
    let html = page("real-django-runserver", &["flamegraph"]);
    let frames: Vec<&str> = html.lines().filter(|l| l.starts_with("<g data-x=")).collect();
    assert!(frames.len() > 100, "{} frames", frames.len());
    let fill = |line: &str| -> (u32, u32, u32) {
        let at = line.find("fill=\"rgb(").unwrap() + 10;
        let rgb: Vec<u32> = line[at..line[at..].find(')').unwrap() + at]
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        (rgb[0], rgb[1], rgb[2])
    };
    let label = |line: &str| -> String {
        let at = line.find("<text").unwrap();
        let text = &line[at..];
        text[text.find('>').unwrap() + 1..text.find("</text>").unwrap()].to_string()
    };
    let mut seen = [false; 3];
    for line in &frames {
        let text = label(line);
        let (r, g, b) = fill(line);
        // Labels carry the file's last component only; the tooltip has the whole path.
        assert!(!text.contains('/'), "{text}");
        if text.contains("(threading.py:") {
            assert!(b > r && b > g, "stdlib in blue: {line}");
            assert!(line.contains("/threading.py:"), "the tooltip has the path: {line}");
            seen[0] = true;
        }
        if text.contains("(django_runserver.py:") {
            assert!(r > g && g > b, "the program in orange: {line}");
            seen[1] = true;
        }
        if line.contains("/site-packages/django/") && !text.is_empty() && text.contains(" (") {
            assert!(g > r && g > b, "packages in green: {line}");
            seen[2] = true;
        }
    }
    assert_eq!(seen, [true; 3], "each kind is drawn");
}

/// The lines of the frames of one of a section's graphs (`main`, `inverted`, `every-frame`).
fn view_frames<'a>(html: &'a str, view: &str) -> Vec<&'a str> {
    let start = html.find(&format!("class=\"fg-view\" data-view=\"{view}\"")).unwrap();
    let rest = &html[start..];
    let end = rest.find("</svg>").unwrap();
    rest[..end].lines().filter(|l| l.starts_with("<g")).collect()
}

#[test]
fn pages_switch_between_inverted_and_every_frame_graphs() {
    let html = page("real-django-runserver", &["flamegraph"]);
    for key in ["main", "inverted", "every-frame"] {
        assert!(html.contains(&format!("value=\"{key}\"")), "a button for {key}");
    }
    let total = |frames: &[&str]| -> String {
        let root = frames.iter().find(|l| l.starts_with("<g class=\"root\"")).unwrap();
        root[root.find("data-w=").unwrap()..].split(' ').next().unwrap().to_string()
    };
    let (main, inverted, every) = (
        view_frames(&html, "main"),
        view_frames(&html, "inverted"),
        view_frames(&html, "every-frame"),
    );
    // One set of rows, three drawings: the totals agree; memray's runner frames are outside
    // every stack only in the graph of every frame (elsewhere only where the runner itself
    // allocated); the inverted graph's first level holds where memory was allocated.
    assert_eq!(total(&main), total(&inverted));
    assert_eq!(total(&main), total(&every));
    let width = |line: &str| -> u64 {
        line[line.find("data-w=\"").unwrap() + 8..].split('"').next().unwrap().parse().unwrap()
    };
    let whole = width(main.iter().find(|l| l.starts_with("<g class=\"root\"")).unwrap());
    // The widest runner frame: nearly everything in the graph of every frame, little elsewhere.
    let runner = |frames: &[&str]| {
        frames.iter().filter(|l| l.contains("_run_tracker")).map(|l| width(l)).max().unwrap_or(0)
    };
    assert!(runner(&every) * 2 > whole, "{} of {whole}", runner(&every));
    assert!(runner(&main) * 10 < whole && runner(&inverted) * 10 < whole);
    let level = |frames: &[&str], d: &str| -> Vec<String> {
        let mut names: Vec<String> = frames
            .iter()
            .filter(|l| l.contains(&format!("data-d=\"{d}\"")))
            .map(|l| l[l.find("<title>").unwrap() + 7..].split('&').next().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_ne!(level(&main, "1"), level(&inverted, "1"));
    // With every frame asked for already, there is no third graph to switch to.
    let all = page("real-django-runserver", &["flamegraph", "--all-frames"]);
    assert!(all.contains("value=\"inverted\"") && !all.contains("value=\"every-frame\""));
}

#[test]
fn request_threads_named_alike_are_one_node_of_the_split_graph() {
    // memray's peak records per thread, grouped by name with the numbers taken out.
    let oracle = filereader(&fixtures_dir().join("real-flask-threads"));
    let mut tids = std::collections::BTreeSet::new();
    let mut bytes = 0u64;
    for r in oracle["peak_split"].as_array().unwrap() {
        let name = r["thread_name"].as_str().unwrap();
        if name.starts_with("Thread-") && name.ends_with(" (process_request_thread)") {
            tids.insert(r["tid"].as_u64().unwrap());
            bytes += r["size"].as_u64().unwrap();
        }
    }
    assert!(tids.len() > 1, "the capture has request threads live at the peak");
    let html = page("real-flask-threads", &["flamegraph", "--split-threads"]);
    let label = format!("thread Thread-N (process_request_thread) ({} threads)&#10;", tids.len());
    let at = html.find(&label).unwrap_or_else(|| panic!("no node {label}"));
    let title = &html[at + label.len()..];
    let shown = &title[title.find(" (").unwrap() + 2..title.find(" bytes)").unwrap()];
    assert_eq!(shown.replace(',', "").parse::<u64>().unwrap(), bytes);
    // Each request thread is in the group, not beside it.
    assert!(!html.contains("(Thread-1 (process_request_thread))"));
}
