//! The command line's contract for bad input: exit status 2 and one error line naming the file,
//! the byte offset and what was expected; truncated captures are a warning with status 0.

use std::path::PathBuf;

use crate::common::*;

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memreport-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn assert_one_error_line(run: &Run, path: &str, needle: &str) {
    assert_eq!(run.code, 2, "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {:?}", run.stderr);
    assert!(lines[0].starts_with("memreport: error: "), "{}", lines[0]);
    assert!(lines[0].contains(path), "names the file: {}", lines[0]);
    assert!(lines[0].contains(needle), "{:?} in {}", needle, lines[0]);
    assert!(lines[0].contains("at byte"), "gives the offset: {}", lines[0]);
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let png = temp_file("image.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    for cmd in ["info", "records", "stats", "top", "tree", "report", "flamegraph"] {
        let run = memreport(&[cmd, png.to_str().unwrap()]);
        assert_one_error_line(&run, png.to_str().unwrap(), "not a memray capture");
    }
    let empty = temp_file("empty.bin", b"");
    assert_one_error_line(
        &memreport(&["info", empty.to_str().unwrap()]),
        "empty.bin",
        "empty file",
    );

    let mut v14 = b"memray\0".to_vec();
    v14.extend(14i32.to_le_bytes());
    v14.extend([0u8; 100]);
    let v14 = temp_file("v14.bin", &v14);
    assert_one_error_line(&memreport(&["info", v14.to_str().unwrap()]), "v14.bin", "version 14");

    let mut raw = raw_bytes(&fixtures_dir().join("v13-nocompress/capture.bin"));
    let cut = temp_file("cut-header.bin", &raw[..40]);
    assert_one_error_line(
        &memreport(&["records", cut.to_str().unwrap()]),
        "cut-header.bin",
        "inside its header",
    );

    // Corrupt the first record after the header: a byte that is no record type.
    let body = memreport_format::Capture::from_bytes(raw.clone()).unwrap().body_offset() as usize;
    raw[body] = 0x0b;
    let bad = temp_file("bad-record.bin", &raw);
    for cmd in ["info", "stats", "top"] {
        let run = memreport(&[cmd, bad.to_str().unwrap()]);
        assert_one_error_line(&run, "bad-record.bin", "unknown record type 0x0b");
        assert!(run.stderr.contains("record #0"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{cmd} printed a partial result");
    }

    let missing = memreport(&["info", "/nonexistent/capture.bin"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent/capture.bin"), "{}", missing.stderr);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    assert_eq!(memreport(&[]).code, 2);
    assert_eq!(memreport(&["frobnicate"]).code, 2);
    let help = memreport(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(String::from_utf8_lossy(&help.stdout).contains("records"));
    let capture = fixtures_dir().join("v13-basic/capture.bin");
    let capture = capture.to_str().unwrap();
    // --leaks and --temporary exclude each other; -n takes a number.
    assert_eq!(memreport(&["top", capture, "--leaks", "--temporary"]).code, 2);
    assert_eq!(memreport(&["top", capture, "-n", "many"]).code, 2);
    assert_eq!(memreport(&["top", capture, "--by", "planet"]).code, 2);
}

#[test]
fn analyses_of_a_truncated_capture_warn_and_succeed() {
    let capture = fixtures_dir().join("v13-killed/capture.bin");
    for cmd in ["stats", "top", "tree"] {
        let run = memreport(&[cmd, capture.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{cmd}: {}", run.stderr);
        assert!(!run.stdout.is_empty(), "{cmd}");
        assert!(
            run.stderr.contains("warning") && run.stderr.contains("truncated"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let capture = fixtures_dir().join("v13-basic/capture.bin");
    let plain = memreport(&["top", capture.to_str().unwrap()]);
    assert!(!plain.stdout.contains(&0x1b), "escape codes written to a pipe");
    let forced = memreport(&["top", capture.to_str().unwrap(), "--color", "always"]);
    assert!(forced.stdout.contains(&0x1b), "--color always gave no colour");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let tty = memreport_cli::Terminal { stdout: true, stderr: false };
    let args = ["memreport", "top", capture.to_str().unwrap(), "--color", "never"];
    assert_eq!(memreport_cli::run_on(args, &mut out, &mut err, tty), 0);
    assert!(!out.contains(&0x1b), "--color never coloured a terminal");
}

#[test]
fn truncated_capture_is_a_warning_not_a_failure() {
    let capture = fixtures_dir().join("v13-killed/capture.bin");
    let run = memreport(&["info", capture.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.contains("truncated") && text.contains("yes"), "{text}");
    assert!(run.stderr.starts_with("memreport: warning: "), "{}", run.stderr);
}

#[test]
fn info_text_lists_the_facts() {
    let capture = fixtures_dir().join("v13-threads/capture.bin");
    let run = memreport(&["info", capture.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = String::from_utf8(run.stdout).unwrap();
    for needle in
        ["format version", "13", "worker-0", "worker-2", "allocation records", "python version"]
    {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

/// The pages are written beside the capture under memray-like names, atomically: a failure
/// leaves no file, and nothing but the page is left in the directory.
#[test]
fn pages_are_written_atomically_beside_the_capture() {
    let dir = std::env::temp_dir().join(format!("memreport-pages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let capture = dir.join("service.bin");
    std::fs::copy(fixtures_dir().join("v13-basic/capture.bin"), &capture).unwrap();
    let c = capture.to_str().unwrap();

    let run = memreport(&["report", c]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "the page goes to the file, not stdout");
    assert!(run.stderr.contains("memreport-report-service.html"), "{}", run.stderr);
    let run = memreport(&["-q", "flamegraph", "--leaks", c]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "--quiet: {}", run.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["memreport-flamegraph-service.html", "memreport-report-service.html", "service.bin"]
    );
    let page = std::fs::read_to_string(dir.join("memreport-report-service.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));

    // An output that cannot be written: exit 2, one line, no file left behind.
    let missing = dir.join("no-such-dir").join("page.html");
    let run = memreport(&["report", c, "-o", missing.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.starts_with("memreport: error: ") && run.stderr.contains("page.html"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3, "nothing new in the directory");

    // Temporary allocations of an aggregated capture are refused before anything is written.
    let aggregated = fixtures_dir().join("v13-aggregated/capture.bin");
    let out = dir.join("temporary.html");
    let run = memreport(&[
        "flamegraph",
        "--temporary",
        aggregated.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("aggregated capture"), "{}", run.stderr);
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
