//! `memreport records X` must print exactly what `memray parse X` printed (parse.txt.zst), for every
//! fixture: versions 12–13 by requirement, and 8–11 too.

use crate::common::*;

#[test]
fn records_equal_memray_parse_byte_for_byte() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let capture = dir.join("capture.bin");
        let run = memreport(&["records", capture.to_str().unwrap()]);
        let expected = read_zst(&dir.join("parse.txt.zst"));
        if run.code != 0 {
            failures.push(format!("{}: exit {} ({})", name(&dir), run.code, run.stderr));
        } else if run.stdout != expected {
            let line = run
                .stdout
                .split(|&b| b == b'\n')
                .zip(expected.split(|&b| b == b'\n'))
                .position(|(a, b)| a != b)
                .map_or("length".to_string(), |i| format!("line {}", i + 1));
            failures.push(format!("{}: differs from memray parse at {line}", name(&dir)));
        }
    }
    finish(failures);
}
