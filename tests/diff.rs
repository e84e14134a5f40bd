//! `memreport diff` on pairs of captures of two versions of one program (fixtures `diff-*`): the
//! verdict of each pair, matching that survives moved lines, the JSON shape and order, captures
//! of different formats, the `--fail-on-increase` gate and its exit codes, and golden outputs.

use serde_json::Value;

use crate::common::*;

fn capture(name: &str) -> String {
    fixtures_dir().join(name).join("capture.bin").to_str().unwrap().to_string()
}

fn diff_json(before: &str, after: &str, extra: &[&str]) -> Value {
    let (b, a) = (capture(before), capture(after));
    let mut argv = vec!["diff", b.as_str(), a.as_str(), "--json"];
    argv.extend_from_slice(extra);
    let run = memreport(&argv);
    assert_eq!(run.code, 0, "{before} → {after}: {}", run.stderr);
    serde_json::from_slice(&run.stdout).expect("diff --json is JSON")
}

#[test]
fn each_pair_gets_its_verdict() {
    // The reason is worded from the data the analysis returns: each clause must appear.
    for (before, after, want, says) in [
        ("diff-leak-before", "diff-leak-after", "improvement", "before leaked, after does not"),
        (
            "diff-cache-before",
            "diff-cache-after",
            "regression",
            "after leaks: handle:app.py:12 grows by",
        ),
        ("diff-cache-after", "diff-cache-before", "improvement", "peak memory 1.7"),
        ("diff-moved-before", "diff-moved-after", "no-change", "less than 10% or 1.00 MiB"),
        ("diff-same-a", "diff-same-b", "no-change", "less than 10%"),
        ("leak-dict-cache-v11", "leak-dict-cache", "no-change", "less than 10%"),
    ] {
        let d = diff_json(before, after, &[]);
        assert_eq!(d["verdict"], want, "{before} → {after}: {}", d["reason"]);
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains(says), "{before} → {after}: {reason}");
    }
    let d = diff_json("leak-dict-cache-v11", "leak-dict-cache", &[]);
    assert!(d["notes"][0].as_str().unwrap().contains("format versions (11 and 13)"));
}

#[test]
fn the_change_is_found_where_it_was_made() {
    let d = diff_json("diff-cache-before", "diff-cache-after", &[]);
    let top = &d["locations"][0];
    assert_eq!(top["location"], "lookup:app.py");
    assert_eq!(top["status"], "grew");
    assert!(top["leaked_delta"].as_i64().unwrap() > 1 << 20);
    assert!(top["growth_rate_bytes_per_s_after"].as_f64().unwrap() > 0.0);
    assert!(top["growth_rate_bytes_per_s_before"].is_null());
    let d = diff_json("diff-leak-before", "diff-leak-after", &[]);
    assert_eq!(d["locations"][0]["location"], "render:app.py");
    assert_eq!(d["locations"][0]["status"], "shrank");
}

#[test]
fn moved_lines_match_by_function_not_by_line() {
    let app = |d: &Value, status: &str| {
        d["locations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["location"].as_str().unwrap().contains("app.py") && l["status"] == status)
            .count()
    };
    let by_function = diff_json("diff-moved-before", "diff-moved-after", &[]);
    assert_eq!(app(&by_function, "new") + app(&by_function, "gone"), 0, "{by_function}");
    let by_line = diff_json("diff-moved-before", "diff-moved-after", &["--by", "line"]);
    assert!(app(&by_line, "new") > 0 && app(&by_line, "gone") > 0, "{by_line}");
}

#[test]
fn json_has_the_product_shape_and_order() {
    let d = diff_json("diff-leak-before", "diff-leak-after", &[]);
    for key in ["verdict", "before", "after", "delta", "locations"] {
        assert!(d.get(key).is_some(), "no {key}");
    }
    for key in ["peak_memory", "leaked_bytes", "total_bytes_allocated"] {
        assert!(d["delta"].get(key).is_some(), "no delta.{key}");
    }
    let locations = d["locations"].as_array().unwrap();
    let weight = |l: &Value| {
        l["leaked_delta"].as_i64().unwrap().abs() + l["peak_delta"].as_i64().unwrap().abs()
    };
    assert!(locations.windows(2).all(|w| weight(&w[0]) >= weight(&w[1])), "sorted by change");
    for key in [
        "location",
        "status",
        "peak_bytes_before",
        "peak_bytes_after",
        "peak_delta",
        "leaked_bytes_before",
        "leaked_bytes_after",
        "leaked_delta",
        "allocated_bytes_before",
        "allocated_bytes_after",
    ] {
        assert!(locations[0].get(key).is_some(), "no locations[].{key}");
    }
    // The totals agree with what each capture alone reports.
    let peak_b = d["before"]["peak_memory"].as_i64().unwrap();
    let peak_a = d["after"]["peak_memory"].as_i64().unwrap();
    assert_eq!(d["delta"]["peak_memory"].as_i64().unwrap(), peak_a - peak_b);
    let stats: Value = serde_json::from_slice(
        &std::fs::read(fixtures_dir().join("diff-leak-before/stats.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(peak_b, stats["metadata"]["peak_memory"].as_i64().unwrap());
}

#[test]
fn an_aggregated_capture_is_compared_on_what_it_keeps() {
    let d = diff_json("leak-aggregated", "leak-dict-cache", &[]);
    assert!(d["notes"].to_string().contains("aggregated"), "{}", d["notes"]);
    assert!(d["delta"]["total_bytes_allocated"].is_null());
    let d = diff_json("leak-dict-cache-v11", "leak-dict-cache", &[]);
    assert!(d["notes"].to_string().contains("format versions"), "{}", d["notes"]);
}

#[test]
fn fail_on_increase_gates_with_exit_1_and_one_line() {
    let (b, a) = (capture("diff-cache-before"), capture("diff-cache-after"));
    for (threshold, code) in [("1MB", 1), ("100%", 1), ("5000%", 0), ("1GiB", 0), ("1.5MiB", 1)] {
        let run = memreport(&["diff", &b, &a, "--fail-on-increase", threshold]);
        assert_eq!(run.code, code, "{threshold}: {}", run.stderr);
        if code == 1 {
            let lines: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{:?}", run.stderr);
            assert!(
                lines[0].contains("grew by")
                    && lines[0].contains(
                        threshold
                            .trim_end_matches("MB")
                            .trim_end_matches("MiB")
                            .trim_end_matches('%')
                    )
            );
        }
    }
    // An improvement never trips the gate.
    let (b, a) = (capture("diff-leak-before"), capture("diff-leak-after"));
    assert_eq!(memreport(&["diff", &b, &a, "--fail-on-increase", "0"]).code, 0);
    // A threshold that is not one is a usage error.
    assert_eq!(memreport(&["diff", &b, &a, "--fail-on-increase", "lots"]).code, 2);
    assert_eq!(memreport(&["diff", &b, &a, "--fail-on-increase", "5 parsecs"]).code, 2);
}

#[test]
fn outputs_match_golden_files() {
    let mut failures = Vec::new();
    for (before, after, args, file) in [
        ("diff-cache-before", "diff-cache-after", &[][..], "diff.txt"),
        ("diff-cache-before", "diff-cache-after", &["--json"][..], "diff_json.txt"),
        (
            "diff-moved-before",
            "diff-moved-after",
            &["--by", "line", "-n", "8"][..],
            "diff_by_line.txt",
        ),
    ] {
        let (b, a) = (capture(before), capture(after));
        let mut argv = vec!["diff", b.as_str(), a.as_str()];
        argv.extend_from_slice(args);
        let run = memreport(&argv);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let golden = fixtures_dir().join(after).join("golden");
        std::fs::create_dir_all(&golden).unwrap();
        failures.extend(check_golden(&golden.join(file), &run.stdout));
    }
    // The page, kept as a golden file, and self-contained.
    let (b, a) = (capture("diff-cache-before"), capture("diff-cache-after"));
    let page = std::env::temp_dir().join(format!("memreport-diff-{}.html", std::process::id()));
    let run = memreport(&["-q", "diff", &b, &a, "--json", "-o", page.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    let _ = std::fs::remove_file(&page);
    for needle in ["src=", "url(", "http://", "https://", "<link"] {
        assert!(!html.contains(needle), "the diff page contains {needle}");
    }
    assert!(
        html.contains("Memory diff: diff-cache-before/capture.bin → diff-cache-after/capture.bin")
    );
    assert!(html.contains("class=\"other\"") || html.contains("All "), "the fold is told");
    let golden = fixtures_dir().join("diff-cache-after/golden/diff.html");
    failures.extend(check_golden(&golden, without_assets(&html).as_bytes()));
    finish(failures);
}
