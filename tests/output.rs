//! Where `-o` writes, in a temporary folder (never on a real device): a FIFO gets the page and
//! stays a FIFO, a symlink stays a link and its target gets the page, a hard-linked file is
//! rewritten in place, a file keeps its mode, and an output that is an input is refused with
//! exit 2 before anything is read or written.

#![cfg(unix)]

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::*;

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memreport-out-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of a small capture in `dir`.
fn capture_in(dir: &Path) -> PathBuf {
    let copy = dir.join("capture.bin");
    std::fs::copy(fixtures_dir().join("v13-basic/capture.bin"), &copy).unwrap();
    copy
}

fn flamegraph(capture: &Path, out: &Path) -> Run {
    memreport(&["-q", "flamegraph", "-o", out.to_str().unwrap(), capture.to_str().unwrap()])
}

fn is_page(bytes: &[u8]) -> bool {
    bytes.starts_with(b"<!DOCTYPE html>") && bytes.len() > 10_000
}

#[test]
fn a_fifo_gets_the_page_and_stays_a_fifo() {
    let dir = folder("fifo");
    let capture = capture_in(&dir);
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let run = flamegraph(&capture, &fifo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = reader.join().unwrap();
    assert!(is_page(&got), "{} bytes through the FIFO", got.len());
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_symlink_stays_a_link_and_its_target_gets_the_page() {
    let dir = folder("symlink");
    let capture = capture_in(&dir);
    let target = dir.join("real.html");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("link.html");
    std::os::unix::fs::symlink("real.html", &link).unwrap();
    let run = flamegraph(&capture, &link);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(is_page(&std::fs::read(&target).unwrap()));
    // A dangling link: the file it names is created.
    let dangling = dir.join("dangling.html");
    std::os::unix::fs::symlink("made.html", &dangling).unwrap();
    assert_eq!(flamegraph(&capture, &dangling).code, 0);
    assert!(is_page(&std::fs::read(dir.join("made.html")).unwrap()));
    assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hard_linked_file_is_rewritten_in_place_and_a_file_keeps_its_mode() {
    let dir = folder("links");
    let capture = capture_in(&dir);
    let a = dir.join("a.html");
    let b = dir.join("b.html");
    std::fs::write(&a, b"old").unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    let inode = std::fs::metadata(&a).unwrap().ino();
    assert_eq!(flamegraph(&capture, &a).code, 0);
    assert_eq!(std::fs::metadata(&a).unwrap().ino(), inode, "the same file");
    assert!(is_page(&std::fs::read(&b).unwrap()), "the other name sees the page");

    let private = dir.join("private.html");
    std::fs::write(&private, b"old").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(flamegraph(&capture, &private).code, 0);
    let meta = std::fs::metadata(&private).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(is_page(&std::fs::read(&private).unwrap()));
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_output_that_is_an_input_is_refused() {
    let dir = folder("same");
    let capture = capture_in(&dir);
    let before = std::fs::read(&capture).unwrap();
    let link = dir.join("link.bin");
    std::os::unix::fs::symlink("capture.bin", &link).unwrap();
    let hard = dir.join("hard.bin");
    std::fs::hard_link(&capture, &hard).unwrap();
    let c = capture.to_str().unwrap();
    for out in [&capture, &link, &hard] {
        let o = out.to_str().unwrap();
        for args in [
            vec!["flamegraph", "-o", o, c],
            vec!["report", "-o", o, c],
            vec![
                "diff",
                "-o",
                o,
                c,
                fixtures_dir().join("v13-basic/capture.bin").to_str().unwrap(),
            ],
        ] {
            let args: Vec<&str> = args.iter().map(|s| &**s).collect();
            let run = memreport(&args);
            assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
            assert!(run.stderr.contains("refusing to write over the capture"), "{}", run.stderr);
        }
    }
    assert_eq!(std::fs::read(&capture).unwrap(), before, "the capture is untouched");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A FIFO (as `<(zstdcat x.bin.zst)` or a named pipe gives) cannot seek: it is read as a stream,
/// LZ4 or raw, and gives what the file gives.
#[test]
fn a_capture_from_a_fifo_is_read_as_a_stream() {
    let dir = folder("fifo-in");
    for fixture in ["v13-basic", "v13-nocompress"] {
        let file = fixtures_dir().join(fixture).join("capture.bin");
        let fifo = dir.join(format!("{fixture}.pipe"));
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let writer = {
            let (fifo, file) = (fifo.clone(), file.clone());
            std::thread::spawn(move || std::fs::write(fifo, std::fs::read(file).unwrap()).unwrap())
        };
        let piped = memreport(&["top", "--json", fifo.to_str().unwrap()]);
        writer.join().unwrap();
        assert_eq!(piped.code, 0, "{fixture}: {}", piped.stderr);
        let direct = memreport(&["top", "--json", file.to_str().unwrap()]);
        assert_eq!(piped.stdout, direct.stdout, "{fixture}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
