//! The leak detector over the labelled corpus (`fixtures/workloads/expected-leaks.json`): every
//! capture gets its expected verdict, leaks are found at the expected locations (and thread, and
//! kind where labelled), and the negatives get no finding in the live heap. Known misses are
//! asserted as recorded and counted as misses. The test prints the precision and recall of the
//! "leak" verdict over the corpus (run it with `--nocapture`).

use serde_json::Value;

use crate::common::*;

fn labels() -> serde_json::Map<String, Value> {
    let path = fixtures_dir().join("workloads/expected-leaks.json");
    let text = std::fs::read_to_string(&path).expect("the labels");
    let mut labels: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    labels.remove("_doc");
    labels
}

fn leaks_json(fixture: &str) -> Value {
    let capture = fixtures_dir().join(fixture).join("capture.bin");
    let run = memreport(&["leaks", "--json", capture.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{fixture}: {}", run.stderr);
    serde_json::from_slice(&run.stdout).expect("leaks --json is JSON")
}

/// What is wrong with one capture's answer, if anything. A label's "known" entry is a case the
/// detector gets wrong today: its answer is asserted as recorded, so a change shows either way.
fn check(fixture: &str, label: &Value, got: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let verdict = got["verdict"].as_str().unwrap();
    if let Some(known) = label.get("known") {
        let said = known["verdict"].as_str().unwrap();
        if verdict != said {
            wrong.push(format!(
                "{fixture}: verdict {verdict}; the known miss recorded {said} ({}): update the label",
                got["reason"]
            ));
        }
        return wrong;
    }
    let want = label["verdict"].as_str().unwrap();
    if verdict != want {
        wrong.push(format!("{fixture}: verdict {verdict}, expected {want} ({})", got["reason"]));
    }
    let findings = got["findings"].as_array().unwrap();
    let heap: Vec<&Value> =
        findings.iter().filter(|f| f["kind"] != "allocator-retention").collect();
    if let Some(locations) = label.get("locations").and_then(Value::as_array) {
        let named = heap.iter().find(|f| {
            let location = f["location"].as_str().unwrap();
            locations.iter().any(|l| location.starts_with(&format!("{}:", l.as_str().unwrap())))
        });
        match named {
            None => wrong.push(format!(
                "{fixture}: no finding at {locations:?}; found {:?}",
                heap.iter().map(|f| f["location"].clone()).collect::<Vec<_>>()
            )),
            Some(f) => {
                if let Some(thread) = label.get("thread").and_then(Value::as_str) {
                    if !f["thread"].as_str().is_some_and(|t| t.contains(thread)) {
                        wrong.push(format!("{fixture}: thread {}, expected {thread}", f["thread"]));
                    }
                }
                if let Some(kind) = label.get("kind").and_then(Value::as_str) {
                    if f["kind"] != kind && verdict == "leak" {
                        wrong.push(format!("{fixture}: kind {}, expected {kind}", f["kind"]));
                    }
                }
            }
        }
    }
    if want == "no-leak" && !heap.is_empty() {
        wrong.push(format!("{fixture}: findings in the heap of a non-leak: {heap:?}"));
    }
    if want != "leak" {
        if let Some(kind) = label.get("kind").and_then(Value::as_str) {
            if !findings.iter().any(|f| f["kind"] == kind) {
                wrong.push(format!("{fixture}: no {kind} finding: {findings:?}"));
            }
        }
    }
    if label.get("retention").and_then(Value::as_bool) == Some(true)
        && !findings.iter().any(|f| f["kind"] == "allocator-retention")
    {
        wrong.push(format!("{fixture}: no allocator-retention finding: {findings:?}"));
    }
    if let Some(reason) = label.get("reason").and_then(Value::as_str) {
        if !got["reason"].as_str().unwrap().contains(reason) {
            wrong.push(format!(
                "{fixture}: reason {}, expected it to say {reason:?}",
                got["reason"]
            ));
        }
    }
    for f in findings {
        for key in [
            "kind",
            "location",
            "stack",
            "thread",
            "live_bytes_end",
            "growth_bytes",
            "growth_rate_bytes_per_s",
            "confidence",
            "evidence",
            "growth_per_hour_bytes",
            "window_start_s",
            "window_end_s",
            "rises",
            "allocations",
        ] {
            assert!(f.get(key).is_some(), "{fixture}: a finding without {key}");
        }
        let c = f["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c), "{fixture}: confidence {c}");
        // One window per finding: the evidence sentence states the window of the fields.
        let (from, to) =
            (f["window_start_s"].as_f64().unwrap(), f["window_end_s"].as_f64().unwrap());
        assert!(from <= to, "{fixture}: window {from}..{to}");
        if f["kind"] != "allocator-retention" {
            let evidence = f["evidence"].as_str().unwrap();
            let stated = evidence.split_once(" between ").and_then(|(_, rest)| {
                let (a, rest) = rest.split_once(" s and ")?;
                let (b, _) = rest.split_once(" s")?;
                Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?))
            });
            let same =
                stated.is_some_and(|(a, b)| (a - from).abs() <= 0.006 && (b - to).abs() <= 0.006);
            assert!(
                same,
                "{fixture}: evidence {evidence:?} does not state the window {from}..{to}"
            );
        }
    }
    wrong
}

#[test]
fn the_labelled_corpus_gets_its_expected_verdicts() {
    let labels = labels();
    assert!(labels.len() >= 20, "the corpus has {} labelled captures", labels.len());
    let mut wrong = Vec::new();
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (fixture, label) in &labels {
        let got = leaks_json(fixture);
        let problems = check(fixture, label, &got);
        let said_leak = got["verdict"] == "leak";
        let is_leak = label["verdict"] == "leak";
        let right = problems.is_empty() && label.get("known").is_none();
        match (said_leak, is_leak) {
            (true, true) if right => tp += 1,
            (true, true) => {
                fp += 1; // a leak found at the wrong place is not a true positive
                fn_ += 1;
            }
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
        wrong.extend(problems);
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    eprintln!(
        "leak corpus: {} captures; precision {precision:.2}, recall {recall:.2} ({tp} true \
         positives, {fp} false positives, {fn_} missed)",
        labels.len()
    );
    // The targets of issue 14: a labelled corpus on which "leak" is right at least 95% of the
    // times it is said, and said for at least 95% of the leaks.
    if precision < 0.95 || recall < 0.95 {
        wrong
            .push(format!("precision {precision:.2} and recall {recall:.2}: both must be >= 0.95"));
    }
    finish(wrong);
}

/// A synthetic run of a test's length: twelve memory samples, 10 ms apart, and 2,000 allocation
/// events between two of them, most of them churn and one in ten kept at `leak` (or, in the
/// negative twin, freed a few events later). The allocation clock gives the trend its points;
/// memory samples alone would leave nine after the warm-up.
fn short_run(keep: bool) -> memreport_analysis::leaks::Leaks {
    use memreport_analysis::Analyzer;
    let mut b = memreport_format::testing::CaptureBuilder::new();
    b.code_object(1, "churn", "app.py", 10, &[]).code_object(2, "leak", "app.py", 20, &[]);
    b.context_switch(1);
    let mut address = 0x1000u64;
    let mut kept = Vec::new();
    for sample in 0..12 {
        for i in 0..1000u64 {
            if i % 10 == 0 {
                b.frame_push(2, 0, true).allocation(address, 64, 6, 0).frame_pop(1);
                kept.push(address);
                address += 64;
                if !keep && kept.len() > 3 {
                    b.allocation(kept.remove(0), 0, 5, 0);
                }
            } else {
                b.frame_push(1, 0, true).allocation(0x100_0000, 512, 6, 0).frame_pop(1);
                b.allocation(0x100_0000, 0, 5, 0);
            }
        }
        b.memory(64 << 20, 10 * (sample + 1));
    }
    b.trailer();
    let capture = memreport_format::Capture::from_bytes(b.finish()).unwrap();
    let analysis = Analyzer::new().run(capture).unwrap();
    memreport_analysis::leaks::detect(&analysis)
}

#[test]
fn a_test_length_run_gets_a_trend_from_the_allocation_clock() {
    use memreport_analysis::leaks::{Kind, Verdict};
    let found = short_run(true);
    assert_eq!(found.verdict, Verdict::Leak, "{:?}", found.reason);
    let f = &found.findings[0];
    assert_eq!(f.kind, Kind::Growth);
    assert!(f.location.starts_with("leak:app.py:"), "{}", f.location);
    // 1,200 blocks of 64 bytes, the warm-up's fifth left out; every tick of the window rises.
    assert!((60_000..=64 * 1000).contains(&f.growth_bytes), "{}", f.growth_bytes);
    assert!(f.rises >= 20 && f.confidence > 0.95, "{} rises, {}", f.rises, f.confidence);
    assert!(f.growth_per_1000_allocations().is_some_and(|g| (g - 64_000.0).abs() < 1000.0));

    let steady = short_run(false);
    assert_eq!(steady.verdict, Verdict::NoLeak, "{:?} {:?}", steady.reason, steady.findings);
    assert!(steady.findings.is_empty(), "{:?}", steady.findings);
}
