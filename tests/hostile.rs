//! A capture whose names attack the reader (`fixtures/hostile-names`, made by real memray from
//! `workloads/hostile.py`: HTML and script, ANSI and OSC sequences, bidi controls, CR and LF,
//! C1 controls and a 10 KB name, as function, file and thread names). Every command, run as on a
//! terminal, writes no raw control character but the newline and its own colours; JSON stays
//! JSON; and a path that attacks is escaped in messages too. (The pages are loaded in Chromium
//! by `tests/browser.rs`, with dialogs hooked.)

use memreport_cli::{run_on, Terminal};

use crate::common::*;

/// The raw control characters in `bytes` (as text), skipping the `allowed` sequences.
fn raw_controls(bytes: &[u8], allowed: &[&[u8]]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(s) = allowed.iter().find(|s| bytes[i..].starts_with(s)) {
            i += s.len();
            continue;
        }
        let b = bytes[i];
        let bad = (b < 0x20 && b != b'\n') || b == 0x7f;
        let c1 = b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n));
        let bidi = b == 0xe2
            && matches!(
                (bytes.get(i + 1), bytes.get(i + 2)),
                (Some(0x80), Some(0x8e | 0x8f | 0xaa..=0xae)) | (Some(0x81), Some(0xa6..=0xa9))
            );
        if bad || c1 || bidi {
            let end = (i + 12).min(bytes.len());
            found.push(format!("byte {i}: {:?}", String::from_utf8_lossy(&bytes[i..end])));
        }
        i += 1;
    }
    found
}

fn on_terminal(args: &[&str]) -> (u8, Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut argv = vec!["memreport"];
    argv.extend_from_slice(args);
    let terminal = Terminal { stdout: true, stderr: true };
    let code = run_on(argv, &mut out, &mut err, terminal);
    (code, out, err)
}

const STYLE: &[&[u8]] = &[b"\x1b[0m", b"\x1b[1m", b"\x1b[2m", b"\x1b[33m"];
const PROGRESS: &[&[u8]] = &[b"\r\x1b[2K"];

#[test]
fn no_command_lets_a_control_character_of_the_capture_reach_the_terminal() {
    let capture = fixtures_dir().join("hostile-names/capture.bin");
    let capture = capture.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("memreport-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("page.html");
    let page = page.to_str().unwrap();
    // A second process of a capture set, under a file name that attacks the terminal.
    let evil = dir.join("evil\x1b]0;pwned\x07\u{202e}.bin");
    std::fs::copy(capture, &evil).unwrap();
    let evil = evil.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["top", capture, evil],
        vec!["top", "--leaks", capture, evil],
        vec!["tree", capture, evil],
        vec!["leaks", capture, evil],
        vec!["stats", capture, evil],
        vec!["flamegraph", "-o", page, capture, evil],
        vec!["report", "-o", page, capture, evil],
        vec!["info", capture],
        vec!["records", capture],
        vec!["stats", capture],
        vec!["top", capture],
        vec!["top", "--leaks", "--split-threads", capture],
        vec!["top", "--by", "function", capture],
        vec!["top", "--by", "file", capture],
        vec!["top", "--by", "module", capture],
        vec!["tree", capture],
        vec!["tree", "--leaks", capture],
        vec!["leaks", capture],
        vec!["diff", capture, capture],
        vec!["flamegraph", "-o", page, capture],
        vec!["report", "-o", page, capture],
    ];
    let mut wrong = Vec::new();
    let mut escaped = 0;
    for colour in ["never", "always"] {
        for args in &commands {
            let mut argv = vec!["--color", colour];
            argv.extend_from_slice(args);
            let (code, out, err) = on_terminal(&argv);
            assert_eq!(code, 0, "{argv:?}: {}", String::from_utf8_lossy(&err));
            let allowed = if colour == "always" { STYLE } else { &[] };
            for problem in raw_controls(&out, allowed) {
                wrong.push(format!("{argv:?} stdout {problem}"));
            }
            for problem in raw_controls(&err, PROGRESS) {
                wrong.push(format!("{argv:?} stderr {problem}"));
            }
            escaped += String::from_utf8_lossy(&out).matches("\\x1b").count();
        }
    }
    // A set's pages name its files and command lines escaped too.
    for command in ["flamegraph", "report"] {
        let (code, _, err) = on_terminal(&["-q", command, "-o", page, capture, evil]);
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
        let html = std::fs::read(page).unwrap();
        assert!(!html.contains(&0x1b) && !html.contains(&0x07), "{command}: a raw control");
        assert!(String::from_utf8_lossy(&html).contains("evil\\x1b]0"), "{command}");
    }
    // The names are there, escaped: not dropped.
    assert!(escaped > 50, "only {escaped} escaped ESC characters shown");
    for args in [vec!["info", "--json", capture], vec!["leaks", "--json", capture]] {
        let (code, out, _) = on_terminal(&args);
        assert_eq!(code, 0);
        let json: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert!(json.is_object());
        for problem in raw_controls(&out, &[]) {
            wrong.push(format!("{args:?} {problem}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    finish(wrong);
}

#[test]
fn a_path_that_attacks_is_escaped_in_messages() {
    let dir = std::env::temp_dir().join(format!("memreport-hostile-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("\x1b]0;pwned\x07\n\u{202e}fake.bin");
    let (code, out, err) = on_terminal(&["info", missing.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert_eq!(raw_controls(&err, PROGRESS), Vec::<String>::new());
    let err = String::from_utf8_lossy(&err);
    assert!(err.contains("\\x1b]0;pwned\\x07\\n\\u{202e}fake.bin"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A header bomb: an LZ4 frame of a few hundred KiB whose header holds a command line of 64 MiB
/// without its end. It is refused with exit 2 once the header passes 16 MiB, without reading the
/// rest; each command line of the header is parsed a logarithmic number of times.
#[test]
fn a_header_bomb_is_refused_without_reading_it_whole() {
    use std::io::Write;
    let mut raw = Vec::new();
    raw.extend_from_slice(b"memray\0");
    raw.extend_from_slice(&13i32.to_le_bytes());
    raw.extend_from_slice(&0x030b_0000u32.to_le_bytes());
    raw.extend_from_slice(&[0, 0]);
    raw.extend_from_slice(&[0; 32]);
    raw.resize(raw.len() + (64 << 20), b'A');
    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
    lz4.write_all(&raw).unwrap();
    let bytes = lz4.finish().unwrap();
    assert!(bytes.len() < 1 << 20, "{} bytes of LZ4", bytes.len());
    let dir = std::env::temp_dir().join(format!("memreport-bomb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bomb.bin");
    std::fs::write(&path, &bytes).unwrap();
    let run = memreport(&["info", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("header longer than 16777216 bytes"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A single-block LZ4 capture cut before its block ends decodes to nothing: that is a cut
/// frame, not an empty file.
#[test]
fn a_cut_lz4_frame_is_called_cut_not_empty() {
    let whole = std::fs::read(fixtures_dir().join("v13-basic/capture.bin")).unwrap();
    let dir = std::env::temp_dir().join(format!("memreport-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for len in [100, whole.len() / 2] {
        let path = dir.join(format!("cut-{len}.bin"));
        std::fs::write(&path, &whole[..len]).unwrap();
        let run = memreport(&["info", path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("the LZ4 frame is cut"), "{len}: {}", run.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two captures concatenated read as the first, with a warning that names where the rest
/// starts.
#[test]
fn bytes_after_the_trailer_are_warned_about() {
    let one = std::fs::read(fixtures_dir().join("v13-nocompress/capture.bin")).unwrap();
    let dir = std::env::temp_dir().join(format!("memreport-two-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let two = dir.join("two.bin");
    std::fs::write(&two, [one.clone(), one].concat()).unwrap();
    let single = memreport(&[
        "top",
        "--json",
        fixtures_dir().join("v13-nocompress/capture.bin").to_str().unwrap(),
    ]);
    let run = memreport(&["top", "--json", two.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, single.stdout, "the first capture's answer");
    assert!(run.stderr.contains("bytes after the trailer from byte"), "{}", run.stderr);
    assert!(single.stderr.is_empty(), "{}", single.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names that are not UTF-8 and a command line that attacks, patched into a raw capture (same
/// lengths, so every record still parses): every command still answers, and still writes no raw
/// control character.
#[test]
fn invalid_utf8_and_an_attacking_command_line_patched_into_a_raw_capture() {
    let mut bytes = std::fs::read(fixtures_dir().join("v13-nocompress/capture.bin")).unwrap();
    let mut patch = |from: &[u8], to: &[u8]| {
        assert_eq!(from.len(), to.len());
        let at = bytes.windows(from.len()).position(|w| w == from).expect("in the capture");
        bytes[at..at + from.len()].copy_from_slice(to);
    };
    patch(b"run -q", b"\x1b]0;x\x07"); // the command line sets the window title
    patch(b".leak\x00", b".\xff\x1b[J\x00"); // a function name: not UTF-8, clears the screen
    patch(b"/churn\x00", b"/\xc3\x28\x9b6n\x00"); // broken UTF-8, then a C1 CSI asking for a reply
    let dir = std::env::temp_dir().join(format!("memreport-patched-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("patched.bin");
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_str().unwrap();
    let page = dir.join("page.html");
    let mut wrong = Vec::new();
    for args in [
        vec!["info", p],
        vec!["records", p],
        vec!["stats", p],
        vec!["top", p],
        vec!["tree", p],
        vec!["leaks", p],
        vec!["diff", p, p],
        vec!["report", "-o", page.to_str().unwrap(), p],
        vec!["info", "--json", p],
        vec!["stats", "--json", p],
    ] {
        let (code, out, err) = on_terminal(&args);
        assert_eq!(code, 0, "{args:?}: {}", String::from_utf8_lossy(&err));
        // Colour is on: the terminal is a terminal and NO_COLOR is not set here.
        for problem in raw_controls(&out, STYLE).into_iter().chain(raw_controls(&err, PROGRESS)) {
            wrong.push(format!("{args:?}: {problem}"));
        }
    }
    let (_, info, _) = on_terminal(&["info", p]);
    assert!(String::from_utf8_lossy(&info).contains("\\x1b]0;x\\x07"), "the command line, escaped");
    let _ = std::fs::remove_dir_all(&dir);
    finish(wrong);
}
