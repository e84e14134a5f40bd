//! The pipelined pass (decoding on a second thread) against the single-threaded one: for every
//! capture, cut capture and former crash input, both give the same analysis, field for field,
//! or the same error.

use memreport_analysis::{Analyzer, Progress};
use memreport_format::Capture;

use crate::common::*;

/// The whole analysis (or error) as text: `Analysis` is `Debug` down to every site and sample.
fn analyse(bytes: &[u8], parallel: bool) -> String {
    let capture = match Capture::from_bytes(bytes.to_vec()) {
        Ok(c) => c,
        Err(e) => return format!("open: {e:?}"),
    };
    match Analyzer::new().temporary([1, 3]).series(true).parallel(parallel).run(capture) {
        Ok(analysis) => format!("{analysis:?}"),
        Err(e) => format!("error: {e:?}"),
    }
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in fixtures() {
        let bytes = std::fs::read(dir.join("capture.bin")).unwrap();
        // Cuts inside the body: truncation warnings and LZ4 cuts must agree too.
        for fraction in [3, 2] {
            let cut = bytes.len() * (fraction - 1) / fraction;
            out.push((format!("{} cut at {cut}", name(&dir)), bytes[..cut].to_vec()));
        }
        out.push((name(&dir), bytes));
    }
    let regressions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    for entry in std::fs::read_dir(regressions).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.push(("long tail".into(), long_tail_capture(3_000)));
    out
}

#[test]
fn pipelined_and_sequential_passes_agree() {
    let inputs = inputs();
    assert!(inputs.len() > 150, "only {} inputs", inputs.len());
    let mut failures = Vec::new();
    let mut errors = 0;
    for (name, bytes) in &inputs {
        let sequential = analyse(bytes, false);
        let pipelined = analyse(bytes, true);
        errors += usize::from(sequential.starts_with("error") || sequential.starts_with("open"));
        if sequential != pipelined {
            let at = sequential.bytes().zip(pipelined.bytes()).take_while(|(a, b)| a == b).count();
            let show = |s: &str| {
                s.get(at.saturating_sub(80)..(at + 80).min(s.len())).unwrap_or("").to_string()
            };
            failures.push(format!(
                "{name}: differ near\n  {}\n  {}",
                show(&sequential),
                show(&pipelined)
            ));
        }
    }
    // The inputs must exercise both outcomes, or the comparison proves little.
    assert!(errors > 0 && errors < inputs.len(), "{errors} of {} inputs fail", inputs.len());
    finish(failures);
}

#[test]
fn pipelined_pass_reports_progress_in_order() {
    let bytes = std::fs::read(fixtures_dir().join("v13-service/capture.bin")).unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let mut record = |p: Progress| seen.push(p);
    let analysis = Analyzer::new()
        .parallel(true)
        .progress(&mut record)
        .run(Capture::from_bytes(bytes).unwrap())
        .unwrap();
    assert!(seen.len() >= 2, "{} progress reports", seen.len());
    assert!(seen.windows(2).all(|w| w[0].records < w[1].records && w[0].bytes < w[1].bytes));
    assert!(seen.last().unwrap().records <= analysis.counts().records);
}

#[test]
fn single_thread_gives_the_same_outputs() {
    let capture = fixtures_dir().join("v13-service/capture.bin");
    let before = fixtures_dir().join("diff-leak-before/capture.bin");
    let after = fixtures_dir().join("diff-leak-after/capture.bin");
    let leak = fixtures_dir().join("leak-dict-cache/capture.bin");
    let (capture, before, after, leak) = (
        capture.to_str().unwrap(),
        before.to_str().unwrap(),
        after.to_str().unwrap(),
        leak.to_str().unwrap(),
    );
    let commands: [&[&str]; 4] = [
        &["report", capture, "-o", "-"],
        &["stats", "--json", capture],
        &["leaks", "--json", leak],
        &["diff", "--json", before, after],
    ];
    for args in commands {
        let default = memreport(args);
        let mut one = args.to_vec();
        one.push("--single-thread");
        let single = memreport(&one);
        assert_eq!(default.code, 0, "{args:?}: {}", default.stderr);
        assert!(default.stdout.len() > 1000, "{args:?}: {} bytes", default.stdout.len());
        assert!(default.stdout == single.stdout, "{args:?}: outputs differ");
    }
}
