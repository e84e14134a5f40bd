//! Helpers shared by the integration tests: fixture discovery, memray's oracle files, and running
//! the command line in-process.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The fixtures directory.
pub(crate) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every fixture directory holding a `capture.bin`, sorted by name.
pub(crate) fn fixtures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("capture.bin").is_file())
        .collect();
    out.sort();
    assert!(out.len() >= 20, "expected the committed fixtures, found {}", out.len());
    out
}

/// The fixture's name (its directory name).
pub(crate) fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// Decompresses a `.zst` oracle file.
pub(crate) fn read_zst(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    decoder.read_to_end(&mut out).unwrap();
    out
}

/// memray's FileReader dump of a fixture (fixtures/oracle.py).
pub(crate) fn filereader(dir: &Path) -> Value {
    serde_json::from_slice(&read_zst(&dir.join("filereader.json.zst"))).expect("oracle JSON")
}

/// Output of one in-process run of the command line.
pub(crate) struct Run {
    pub(crate) code: u8,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

/// Runs `memreport ARGS…` in-process.
pub(crate) fn memreport(args: &[&str]) -> Run {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut argv = vec!["memreport"];
    argv.extend_from_slice(args);
    let code = memreport_cli::run(argv, &mut stdout, &mut stderr);
    Run { code, stdout, stderr: String::from_utf8_lossy(&stderr).into_owned() }
}

/// The raw (decompressed) bytes of a capture. The format crate does not expose its decompressed
/// stream, so LZ4 files are decompressed here with lz4_flex directly.
pub(crate) fn raw_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    if bytes.starts_with(b"memray\0") {
        return bytes;
    }
    let mut out = Vec::new();
    lz4_flex::frame::FrameDecoder::new(&bytes[..]).read_to_end(&mut out).expect("valid LZ4 frame");
    out
}

/// Compares `actual` with the golden file `path`; with `MEMREPORT_BLESS=1` (or when the golden file
/// does not exist yet) writes it instead. Returns a failure message, if any.
pub(crate) fn check_golden(path: &Path, actual: &[u8]) -> Option<String> {
    let bless = std::env::var_os("MEMREPORT_BLESS").is_some_and(|v| v == "1");
    if bless || !path.exists() {
        std::fs::write(path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read(path).unwrap();
    if expected == actual {
        return None;
    }
    let actual_path = std::env::temp_dir().join(format!(
        "memreport-actual-{}",
        path.strip_prefix(fixtures_dir()).unwrap_or(path).display().to_string().replace('/', "-")
    ));
    std::fs::write(&actual_path, actual).unwrap();
    Some(format!("{} differs (actual output: {})", path.display(), actual_path.display()))
}

/// A page with its inlined style sheet and script replaced by their file names, for golden files
/// that test what the page says, not the assets every page repeats. Panics unless the page inlines
/// each asset exactly once and byte for byte, so the assets are still tested, once.
pub(crate) fn without_assets(html: &str) -> String {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/report/assets");
    let mut page = html.to_string();
    for (file, open) in [("report.css", "<style>\n"), ("report.js", "<script>\n")] {
        let asset = std::fs::read_to_string(assets.join(file)).unwrap();
        let inlined = format!("{open}{asset}");
        assert_eq!(page.matches(&inlined).count(), 1, "the page inlines {file} once, whole");
        page = page.replace(&inlined, &format!("{open}/* crates/report/assets/{file} */"));
    }
    page
}

/// Panics with all collected failures, and the instruction to bless.
pub(crate) fn finish(failures: Vec<String>) {
    if !failures.is_empty() {
        panic!(
            "{} failure(s):\n{}\nIf the change is intended, rerun with MEMREPORT_BLESS=1 to update golden files.",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// A capture with `n` allocations, each from a distinct pseudo-random stack 20 to 31 frames deep
/// drawn from 400 functions with long names and paths, never freed: the worst case for the size
/// of a page.
pub(crate) fn long_tail_capture(n: u64) -> Vec<u8> {
    let mut b = memreport_format::testing::CaptureBuilder::new();
    b.context_switch(1);
    let long = "x".repeat(120);
    for id in 1..=400u64 {
        let file = format!("/srv/app/.venv/lib/python3.12/site-packages/pkg{id}/{long}/module.py");
        b.code_object(id, &format!("function_{id}_{long}"), &file, id as i32, &[]);
    }
    // Deterministic pseudo-random paths and sizes (xorshift).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..n {
        let depth = 20 + (next() % 12) as u8;
        for _ in 0..depth {
            b.frame_push(1 + next() % 400, 0, false);
        }
        b.allocation(0x10_0000 + i * 64, 16 + next() % 4096, 6, 0);
        let mut left = depth;
        while left > 0 {
            let pop = left.min(16);
            b.frame_pop(pop);
            left -= pop;
        }
        if i % 1000 == 0 {
            b.memory(100 << 20, i / 100);
        }
    }
    b.trailer();
    b.finish()
}

/// The `locations` of a `top --json` output, as location → (bytes, count).
pub(crate) fn top_locations(json: &Value) -> std::collections::BTreeMap<String, (u64, u64)> {
    json["locations"]
        .as_array()
        .expect("top --json has locations")
        .iter()
        .map(|l| {
            let loc = l["location"].as_str().unwrap().to_string();
            (loc, (l["bytes"].as_u64().unwrap(), l["count"].as_u64().unwrap()))
        })
        .collect()
}
