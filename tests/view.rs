//! How stacks are shown: memray's runner frames and the import system hidden by default and
//! shown again with `--all-frames`, and pprof's filters, whose totals are checked against
//! memray's own records (the FileReader outputs beside each fixture).

use serde_json::Value;

use crate::common::*;

fn top_json(fixture: &str, extra: &[&str]) -> Value {
    json_of(&["top", "-n", "100000"], &[fixture], extra)
}

/// The JSON of `memreport COMMAND CAPTURES... --json EXTRA...`.
fn json_of(command: &[&str], fixtures: &[&str], extra: &[&str]) -> Value {
    let captures: Vec<String> = fixtures
        .iter()
        .map(|f| fixtures_dir().join(f).join("capture.bin").to_str().unwrap().to_string())
        .collect();
    let mut argv: Vec<&str> = command.to_vec();
    argv.extend(captures.iter().map(String::as_str));
    argv.push("--json");
    argv.extend_from_slice(extra);
    let run = memreport(&argv);
    assert_eq!(run.code, 0, "{argv:?}: {}", run.stderr);
    serde_json::from_slice(&run.stdout).unwrap()
}

fn frames(json: &Value) -> Vec<String> {
    json["locations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            l["stack"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string())
        })
        .collect()
}

fn is_runner(frame: &str) -> bool {
    frame.starts_with("_run_tracker:") || frame.contains(":<frozen runpy>:")
}

#[test]
fn runner_and_import_frames_are_hidden_unless_asked_for() {
    for fixture in ["v13-basic", "real-flask-threads", "real-django-runserver"] {
        let readable = top_json(fixture, &[]);
        let all = top_json(fixture, &["--all-frames"]);
        // Hiding frames never moves an allocation: the same locations hold the same bytes.
        let by_location = |json: &Value| -> Vec<(String, u64)> {
            let mut rows: Vec<(String, u64)> = json["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (l["location"].as_str().unwrap().to_string(), l["bytes"].as_u64().unwrap())
                })
                .collect();
            rows.sort();
            rows
        };
        assert_eq!(by_location(&readable), by_location(&all), "{fixture}");
        assert_eq!(readable["total_bytes"], all["total_bytes"], "{fixture}");
        assert!(frames(&all).iter().any(|f| is_runner(f)), "{fixture}: no runner frame to hide");
        for location in readable["locations"].as_array().unwrap() {
            let stack: Vec<&str> =
                location["stack"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
            // The innermost frame stays whatever it is; above it, neither runner (outermost)
            // nor import-system frames.
            for frame in stack.iter().skip(1) {
                assert!(!frame.contains("frozen importlib"), "{fixture}: {stack:?}");
            }
            if stack.len() > 1 {
                assert!(!is_runner(stack[stack.len() - 1]), "{fixture}: {stack:?}");
            }
        }
    }
    let capture = fixtures_dir().join("v13-basic/capture.bin");
    let tree = memreport(&["tree", capture.to_str().unwrap()]);
    assert!(
        !String::from_utf8_lossy(&tree.stdout).contains("_run_tracker"),
        "{}",
        String::from_utf8_lossy(&tree.stdout)
    );
    let tree = memreport(&["tree", capture.to_str().unwrap(), "--all-frames"]);
    assert!(
        String::from_utf8_lossy(&tree.stdout).contains("_run_tracker"),
        "{}",
        String::from_utf8_lossy(&tree.stdout)
    );
}

/// memray's bytes at the peak of the allocations whose stack has a frame containing `needle`.
fn memray_peak_bytes_with(fixture: &str, needle: &str) -> (u64, u64) {
    let oracle = filereader(&fixtures_dir().join(fixture));
    let stacks = &oracle["stacks"];
    let (mut with, mut all) = (0u64, 0u64);
    for r in oracle["peak_merged"].as_array().unwrap() {
        let stack = &stacks[r["stack"].as_u64().unwrap() as usize];
        let size = r["size"].as_u64().unwrap();
        all += size;
        let spelled = stack
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{}:{}:{}", f[0].as_str().unwrap(), f[1].as_str().unwrap(), f[2]));
        if spelled.into_iter().any(|f| f.contains(needle)) {
            with += size;
        }
    }
    (with, all)
}

#[test]
fn focus_and_ignore_totals_are_memrays_bytes_for_those_allocations() {
    // (fixture, pattern as a regular expression, the same as a plain substring)
    for (fixture, pattern, needle) in [
        ("real-flask-threads", r"flask/app\.py", "flask/app.py"),
        ("real-django-runserver", "django/db/", "django/db/"),
        ("v13-basic", "spike:", "spike:"),
    ] {
        let (with, all) = memray_peak_bytes_with(fixture, needle);
        assert!(with > 0 && with < all, "{fixture}: the pattern must select some allocations");
        let focused = top_json(fixture, &["--focus", pattern]);
        assert_eq!(focused["total_bytes"].as_u64(), Some(with), "{fixture} --focus {pattern}");
        let ignored = top_json(fixture, &["--ignore", pattern]);
        assert_eq!(ignored["total_bytes"].as_u64(), Some(all - with), "{fixture} --ignore");
    }
}

#[test]
fn hide_and_show_remove_frames_and_move_the_location() {
    let hidden = top_json("v13-basic", &["--hide", "<listcomp>"]);
    let top = &hidden["locations"][0];
    assert_eq!(top["location"], "spike:basic.py:18", "{top}");
    assert!(!frames(&hidden).iter().any(|f| f.starts_with("<listcomp>")));
    let shown = top_json("v13-basic", &["--show", "basic\\.py"]);
    assert!(frames(&shown).iter().all(|f| f.contains(":basic.py:")), "{:?}", frames(&shown));
    // A pattern that is not one is a usage error, before the capture is read.
    let capture = fixtures_dir().join("v13-basic/capture.bin");
    let run = memreport(&["top", capture.to_str().unwrap(), "--focus", "("]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a regular expression"), "{}", run.stderr);
}

#[test]
fn tree_lines_fit_100_columns_with_portable_paths() {
    for fixture in ["real-flask-threads", "real-django-runserver", "v13-service"] {
        let capture = fixtures_dir().join(fixture).join("capture.bin");
        let run = memreport(&["tree", capture.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let text = String::from_utf8(run.stdout).unwrap();
        for line in text.lines().skip(1) {
            assert!(
                line.chars().count() <= 100,
                "{fixture}: {} chars: {line}",
                line.chars().count()
            );
            assert!(
                !line.contains("/site-packages/") && !line.contains("/usr/lib/python"),
                "{line}"
            );
        }
        assert!(text.contains("<stdlib>/") || text.contains("<site-packages>/"), "{fixture}");
    }
}

#[test]
fn leaks_lines_fit_100_columns_with_portable_paths() {
    for fixture in ["real-flask-leak", "leak-listeners", "hostile-names", "rss-untracked"] {
        let capture = fixtures_dir().join(fixture).join("capture.bin");
        let run = memreport(&["leaks", capture.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let text = String::from_utf8(run.stdout).unwrap();
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "{fixture}: {} chars: {line}",
                line.chars().count()
            );
            assert!(!line.contains("/site-packages/"), "{fixture}: {line}");
        }
    }
    // The frames of a finding keep their full paths in JSON.
    let json = json_of(&["leaks"], &["real-flask-leak"], &[]);
    let stack = json["findings"][0]["stack"].as_array().unwrap();
    assert!(stack.iter().any(|f| f.as_str().unwrap().contains("/site-packages/flask/")), "{json}");
}

#[test]
fn leaks_and_diff_answer_for_the_allocations_the_filters_keep() {
    let growth_at = |json: &Value| -> Vec<String> {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] != "allocator-retention")
            .map(|f| f["location"].as_str().unwrap().to_string())
            .collect()
    };
    let all = json_of(&["leaks"], &["real-flask-leak"], &[]);
    assert_eq!(all["verdict"], "leak");
    assert_eq!(growth_at(&all), ["remember:flask_threads.py:41"]);
    // The leak's stack runs through Flask: focusing on Flask keeps it, ignoring the leaking
    // line's function drops it, and the verdict follows.
    let focused = json_of(&["leaks"], &["real-flask-leak"], &["--focus", r"flask/app\.py"]);
    assert_eq!(growth_at(&focused), growth_at(&all));
    let ignored = json_of(&["leaks"], &["real-flask-leak"], &["--ignore", "^remember:"]);
    assert!(growth_at(&ignored).is_empty(), "{ignored}");
    assert_ne!(ignored["verdict"], "leak");
    // A diff's totals are those of the kept allocations: memray's bytes at the peak for the
    // allocations with such a frame, on both sides.
    let (with, _) = memray_peak_bytes_with("real-flask-threads", "flask/app.py");
    let pair = ["real-flask-threads", "real-flask-threads"];
    let diff = json_of(&["diff"], &pair, &["--focus", r"flask/app\.py"]);
    for side in ["before", "after"] {
        assert_eq!(diff[side]["peak_memory"].as_u64(), Some(with), "{side}: {diff}");
    }
    // What is filtered says so, in text and on pages.
    let capture = fixtures_dir().join("real-flask-leak/capture.bin");
    let capture = capture.to_str().unwrap();
    let text = memreport(&["leaks", capture, "--ignore", "^remember:"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("filtered view (--ignore ^remember:)"));
    let page = memreport(&["report", capture, "--focus", "a<b", "-o", "-"]);
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains("filtered view (--focus a&#60;b)"), "the pattern is escaped");
    let plain = memreport(&["report", capture, "-o", "-"]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("filtered view"));
    let whole = json_of(&["diff"], &pair, &[]);
    let allocated = |d: &Value| d["before"]["total_bytes_allocated"].as_u64().unwrap();
    assert!(allocated(&diff) < allocated(&whole), "{diff}");
}

#[test]
fn leak_detection_does_not_depend_on_the_view() {
    for fixture in ["real-flask-leak", "leak-dict-cache", "leak-listeners"] {
        let path = fixtures_dir().join(fixture).join("capture.bin");
        let plain = memreport_analysis::Analyzer::new().run_path(&path).unwrap();
        let mut viewed = memreport_analysis::Analyzer::new().run_path(&path).unwrap();
        let view = memreport_analysis::View::readable().hide("_").unwrap().ignore("^x").unwrap();
        viewed.set_view(&view);
        let mut a = memreport_analysis::leaks::detect(&plain);
        let mut b = memreport_analysis::leaks::detect(&viewed);
        // Hiding frames changes the stack a finding shows, and nothing the detector decides (an
        // ignore that matches nothing keeps every allocation).
        for f in a.findings.iter_mut().chain(b.findings.iter_mut()) {
            f.stack.clear();
            f.stack_portable.clear();
        }
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{fixture}");
    }
}
