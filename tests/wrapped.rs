//! Captures as they travel: every fixture wrapped in gzip and in zstd gives what the bare file
//! gives; a raw capture with memray's zero padding, streamed through a wrapping, is cut by the
//! readable-length rule exactly as the file is; a wrapped file cut short is a truncation.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{finish, fixtures, fixtures_dir, memreport, name};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, bytes).unwrap();
    enc.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memreport-wrapped-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> (u8, Vec<u8>, String) {
    let r = memreport(args);
    (r.code, r.stdout, r.stderr)
}

/// `info --json` without the key that names the wrapping, and with warnings that name the file
/// made neutral.
fn info(path: &Path) -> (u8, Value, String) {
    let (code, out, err) = run(&["info", "--json", path.to_str().unwrap()]);
    let mut json: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
    if let Some(map) = json.as_object_mut() {
        map.remove("wrapping");
    }
    (code, json, err.replace(path.to_str().unwrap(), "CAPTURE"))
}

#[test]
fn every_fixture_wrapped_in_gzip_or_zstd_reads_as_the_bare_file() {
    let dir = folder("all");
    let mut failures = Vec::new();
    for fixture in fixtures() {
        let n = name(&fixture);
        let bare = fixture.join("capture.bin");
        let bytes = std::fs::read(&bare).unwrap();
        let (code, want_info, want_err) = info(&bare);
        let want_top = run(&["top", "--json", "--leaks", bare.to_str().unwrap()]).1;
        for (ext, packed) in [("gz", gzip(&bytes)), ("zst", zstd(&bytes))] {
            let path = dir.join(format!("{n}.bin.{ext}"));
            std::fs::write(&path, packed).unwrap();
            let (got_code, got_info, got_err) = info(&path);
            if (got_code, &got_info, &got_err) != (code, &want_info, &want_err) {
                failures.push(format!("{n}.{ext}: info {got_info} {got_err}\n  bare {want_info}"));
                continue;
            }
            let wrapping = run(&["info", "--json", path.to_str().unwrap()]).1;
            let wrapping: Value = serde_json::from_slice(&wrapping).unwrap();
            let named = if ext == "gz" { "gzip" } else { "zstd" };
            if wrapping["wrapping"] != named {
                failures.push(format!("{n}.{ext}: wrapping {}", wrapping["wrapping"]));
            }
            let top = run(&["top", "--json", "--leaks", path.to_str().unwrap()]).1;
            if top != want_top {
                failures.push(format!("{n}.{ext}: top --leaks differs from the bare file's"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    finish(failures);
}

/// The raw fixtures (written with `--no-compress`, or left by a killed process) with 3 MiB of
/// zero padding, as memray's mmap sink leaves it: through a wrapping the padding streams past and
/// the records are exactly the file's, whose readable length is found by seeking.
#[test]
fn a_padded_raw_capture_through_a_wrapping_keeps_the_readable_length_rule() {
    let dir = folder("padded");
    let mut failures = Vec::new();
    let raw: Vec<PathBuf> = fixtures()
        .into_iter()
        .filter(|f| std::fs::read(f.join("capture.bin")).unwrap().starts_with(b"memray\0"))
        .collect();
    assert!(raw.len() >= 3, "raw fixtures: {raw:?}");
    for fixture in raw {
        let n = name(&fixture);
        let mut bytes = std::fs::read(fixture.join("capture.bin")).unwrap();
        bytes.resize(bytes.len() + (3 << 20), 0);
        let padded = dir.join(format!("{n}.padded.bin"));
        std::fs::write(&padded, &bytes).unwrap();
        let wrapped = dir.join(format!("{n}.padded.bin.gz"));
        std::fs::write(&wrapped, gzip(&bytes)).unwrap();
        let want = run(&["records", padded.to_str().unwrap()]);
        let got = run(&["records", wrapped.to_str().unwrap()]);
        if got.0 != want.0 || got.1 != want.1 {
            failures.push(format!("{n}: records through gzip differ ({} vs {})", got.0, want.0));
        }
        // A header and nothing but padding: the header's own trailing zeros are not padding.
        let header_len = memreport_format::Capture::open(&padded).unwrap().body_offset() as usize;
        let mut bare_header = bytes[..header_len].to_vec();
        bare_header.resize(header_len + 4096, 0);
        let only = dir.join(format!("{n}.header-only.bin"));
        std::fs::write(&only, &bare_header).unwrap();
        let only_gz = dir.join(format!("{n}.header-only.bin.gz"));
        std::fs::write(&only_gz, gzip(&bare_header)).unwrap();
        let (want_code, want_info, want_err) = info(&only);
        let (got_code, got_info, got_err) = info(&only_gz);
        if (got_code, &got_info, &got_err) != (want_code, &want_info, &want_err) {
            failures.push(format!("{n}: header only: {got_info} {got_err}\n  bare {want_info}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    finish(failures);
}

/// A wrapped capture cut anywhere past its header is a truncated capture (a warning, exit 0, the
/// records before the cut); cut inside its header it is a one-line error naming the wrapping.
///
/// zstd's decoder (`ruzstd`) gives out a frame's bytes only once they leave its window, so a cut
/// frame loses the bytes of its last window: the zstd cases use frames of 64 KiB (as `pzstd`
/// writes them), and a one-frame file cut short must still be a cut, never corruption.
#[test]
fn a_wrapped_capture_cut_short_is_truncated_not_corrupt() {
    let dir = folder("cut");
    let bare = fixtures_dir().join("real-flask-threads").join("capture.bin");
    let bytes = std::fs::read(&bare).unwrap();
    let full: Value =
        serde_json::from_slice(&run(&["info", "--json", bare.to_str().unwrap()]).1).unwrap();
    let full_records = full["n_allocation_records"].as_u64().unwrap();
    let framed: Vec<u8> = bytes.chunks(64 << 10).flat_map(zstd).collect();
    for (ext, packed) in [("gz", gzip(&bytes)), ("zst", framed)] {
        for share in [3, 5, 9] {
            let cut = &packed[..packed.len() * share / 10];
            let path = dir.join(format!("cut{share}.bin.{ext}"));
            std::fs::write(&path, cut).unwrap();
            let (code, out, err) = run(&["info", "--json", path.to_str().unwrap()]);
            assert_eq!(code, 0, "{ext} cut at {share}0 %: {err}");
            assert!(err.contains("the compressed file is cut short"), "{ext} {share}: {err}");
            let json: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(json["truncated"], true);
            let records = json["n_allocation_records"].as_u64().unwrap();
            assert!(records > 0 && records < full_records, "{ext} {share}: {records}");
        }
        let path = dir.join(format!("header.bin.{ext}"));
        std::fs::write(&path, &packed[..12]).unwrap();
        let (code, _, err) = run(&["info", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{ext}: {err}");
        let named = if ext == "gz" { "gzip" } else { "zstd" };
        assert!(err.contains(&format!("the {named} stream is cut")), "{ext}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let one_frame = zstd(&bytes);
    let path = dir.join("one-frame.bin.zst");
    std::fs::write(&path, &one_frame[..one_frame.len() / 2]).unwrap();
    let (code, _, err) = run(&["info", path.to_str().unwrap()]);
    assert!(err.contains("cut") && !err.contains("corrupt"), "{code}: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}
