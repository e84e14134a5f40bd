//! Inputs that once crashed memreport (found by the fuzz targets, kept in `tests/regressions/`)
//! go through every command, renderers included: each ends in output or an error, never a panic.

use crate::common::*;

const COMMANDS: &[&[&str]] = &[
    &["info"],
    &["info", "--json"],
    &["records"],
    &["stats"],
    &["stats", "--json"],
    &["top", "--split-threads"],
    &["top", "--temporary=0", "--by", "module"],
    &["tree", "--leaks"],
    &["leaks"],
    &["leaks", "--json"],
    &["report", "-o", "-"],
    &["flamegraph", "--inverted", "--split-threads", "-o", "-"],
    &["flamegraph", "--temporary=3", "-o", "-"],
];

#[test]
fn former_crashes_end_in_output_or_an_error() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 2, "the committed crash inputs are there");
    for input in &inputs {
        for args in COMMANDS {
            let mut argv = vec![args[0], input.to_str().unwrap()];
            argv.extend_from_slice(&args[1..]);
            let run = memreport(&argv);
            assert!(
                run.code == 0 || run.code == 2,
                "{}: {args:?}: {}",
                input.display(),
                run.stderr
            );
        }
    }
}
