//! `memreport check`, the CI gate: exit status, the line per crossed limit against memray's own
//! figures for the capture, JSON, JUnit XML, capture sets and folders of per-test captures.

use serde_json::Value;

use crate::common::{fixtures_dir, memreport};

fn capture(fixture: &str) -> String {
    fixtures_dir().join(fixture).join("capture.bin").to_string_lossy().into_owned()
}

/// memray's peak memory for a fixture (its `stats --json`).
fn memray_peak(fixture: &str) -> u64 {
    let stats = std::fs::read(fixtures_dir().join(fixture).join("stats.json")).unwrap();
    let stats: Value = serde_json::from_slice(&stats).unwrap();
    stats["metadata"]["peak_memory"].as_u64().unwrap()
}

#[test]
fn the_peak_limit_is_crossed_one_byte_under_memrays_peak_and_holds_at_it() {
    for fixture in ["v13-service", "real-flask-threads", "leak-dict-cache"] {
        let peak = memray_peak(fixture);
        let at = memreport(&["check", &capture(fixture), "--max-peak", &peak.to_string()]);
        assert_eq!(at.code, 0, "{fixture}: {}", String::from_utf8_lossy(&at.stdout));
        let under = (peak - 1).to_string();
        let run = memreport(&["check", &capture(fixture), "--max-peak", &under]);
        assert_eq!(run.code, 1, "{fixture}");
        let text = String::from_utf8_lossy(&run.stdout);
        assert_eq!(text.lines().count(), 1, "one line per crossed limit: {text}");
        assert!(text.starts_with("FAIL ") && text.contains("(--max-peak)"), "{text}");
        assert!(text.contains("held") && text.contains("at the peak"), "names a location: {text}");
    }
}

#[test]
fn growth_limits_name_the_growing_location_and_its_rate() {
    let leak = memreport(&["check", &capture("leak-dict-cache"), "--no-growth", "--json"]);
    assert_eq!(leak.code, 1);
    let json: Value = serde_json::from_slice(&leak.stdout).unwrap();
    assert_eq!(json["passed"], false);
    let crossed = json["cases"][0]["crossed"].as_array().unwrap();
    assert!(!crossed.is_empty());
    for c in crossed {
        assert_eq!(c["limit"], "no-growth");
        assert!(c["location"].as_str().unwrap().contains("leak_dict_cache.py"), "{c}");
        assert!(c["value"].as_f64().unwrap() > 0.0);
    }
    // The same leak, from `leaks --json`: the gate fails on exactly its confident findings.
    let leaks = memreport(&["leaks", "--json", &capture("leak-dict-cache")]);
    let leaks: Value = serde_json::from_slice(&leaks.stdout).unwrap();
    assert_eq!(leaks["verdict"], "leak");
    // A rate limit above the fastest growth holds; one below it is crossed.
    let fastest = crossed.iter().map(|c| c["value"].as_f64().unwrap()).fold(0.0, f64::max);
    let above = format!("{}B/s", (fastest * 1.01).ceil());
    let below = format!("{}B/s", (fastest * 0.99).floor());
    let run = |rate: &str| memreport(&["check", &capture("leak-dict-cache"), "--max-growth", rate]);
    assert_eq!(run(&above).code, 0);
    assert_eq!(run(&below).code, 1);
    // A capture without a leak passes --no-growth.
    let ok = memreport(&["check", &capture("ok-bounded-cache"), "--no-growth"]);
    assert_eq!(ok.code, 0, "{}", String::from_utf8_lossy(&ok.stdout));
}

#[test]
fn usage_and_input_errors_exit_2() {
    assert_eq!(memreport(&["check", &capture("v13-service")]).code, 2, "no limit");
    assert_eq!(memreport(&["check", &capture("v13-service"), "--max-peak", "5%"]).code, 2);
    assert_eq!(memreport(&["check", &capture("v13-service"), "--max-growth", "1MB"]).code, 2);
    let bad = memreport(&["check", "Cargo.toml", "--max-peak", "1GB"]);
    assert_eq!(bad.code, 2);
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
}

/// A folder of captures (as pytest-memray writes one per test), with a hostile file name and an
/// unreadable capture: one JUnit test case each, names escaped, the unreadable one an error.
#[test]
fn a_folder_is_one_case_per_capture_in_junit() {
    let dir = std::env::temp_dir().join(format!("memreport-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let copy = |fixture: &str, name: &str| {
        std::fs::copy(capture(fixture), dir.join(name)).unwrap();
    };
    copy("leak-test-audit", "test_audit.bin");
    copy("ok-test-length", "test_length.bin");
    copy("v13-service", "test_<b>\u{1b}[31mred&\"q\".bin");
    std::fs::write(dir.join("test_broken.bin"), b"memray\0garbage").unwrap();
    std::fs::write(dir.join("README.md"), b"not a capture").unwrap();
    let junit = dir.join("report.xml");
    let run = memreport(&[
        "check",
        dir.to_str().unwrap(),
        "--no-growth",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "an unreadable capture is bad input");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert!(xml.contains(r#"tests="4" failures="1" errors="1""#), "{xml}");
    assert!(xml.contains("test_audit") && xml.contains("<failure "), "{xml}");
    assert!(xml.contains("leak_test_audit.py:12"), "the failure names the location: {xml}");
    assert!(!xml.contains('\u{1b}') && !xml.contains("<b>"), "escaped: {xml}");
    assert!(xml.contains("&lt;b&gt;\\x1b[31mred&amp;&quot;q&quot;"), "{xml}");
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("4 cases: 2 passed, 1 failed, 1 unreadable"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A capture set is one case: its peak is the combined peak of `top --json`, and a growing
/// location in a worker carries that worker's pid.
#[test]
fn a_capture_set_is_checked_as_one_program() {
    let (args, _) = crate::sets::set();
    let mut top = vec!["top", "--json"];
    top.extend(args.iter().map(String::as_str));
    let top: Value = serde_json::from_slice(&memreport(&top).stdout).unwrap();
    let combined = top["total_bytes"].as_u64().unwrap();
    let mut check = vec!["check", "--json", "--no-growth", "--max-peak"];
    let limit = (combined - 1).to_string();
    check.push(&limit);
    check.extend(args.iter().map(String::as_str));
    let run = memreport(&check);
    assert_eq!(run.code, 1);
    let json: Value = serde_json::from_slice(&run.stdout).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "one program");
    assert_eq!(cases[0]["peak_memory"].as_u64(), Some(combined));
    let pids: Vec<i64> =
        top["processes"].as_array().unwrap().iter().map(|p| p["pid"].as_i64().unwrap()).collect();
    let growth: Vec<&Value> = cases[0]["crossed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["limit"] == "no-growth")
        .collect();
    assert!(!growth.is_empty());
    for g in growth {
        assert!(pids.contains(&g["pid"].as_i64().unwrap()), "{g}");
    }
}
