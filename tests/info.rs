//! `memreport info --json` against memray's own figures for every fixture: the format version and
//! file format from `memray parse`'s header line, truncation from the absence of a trailer, and the
//! number of allocation records from FileReader's `total_allocations`. The whole JSON is also kept
//! as a golden file (`memreport-info.json`).

use serde_json::Value;

use crate::common::*;

#[test]
fn info_matches_memray() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let n = name(&dir);
        let capture = dir.join("capture.bin");
        let run = memreport(&["info", "--json", capture.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{n}: {}", run.stderr);
        let info: Value = serde_json::from_slice(&run.stdout).unwrap();
        let parse = String::from_utf8(read_zst(&dir.join("parse.txt.zst"))).unwrap();
        let header_line = parse.lines().next().unwrap();
        let version: i64 = header_line
            .split(' ')
            .find_map(|f| f.strip_prefix("version="))
            .unwrap()
            .parse()
            .unwrap();
        let aggregated = header_line.contains("file_format=AGGREGATED_ALLOCATIONS");
        let has_trailer = parse.lines().any(|l| l == "TRAILER" || l == "AGGREGATED_TRAILER");
        let oracle = filereader(&dir);
        let meta = &oracle["metadata"];
        let compressed = std::fs::read(&capture).unwrap().starts_with(&[0x04, 0x22, 0x4d, 0x18]);

        let mut check = |what: &str, ours: &Value, theirs: Value| {
            if *ours != theirs {
                failures.push(format!("{n}: {what}: memreport {ours}, memray {theirs}"));
            }
        };
        check("format_version", &info["format_version"], version.into());
        check(
            "file_format",
            &info["file_format"],
            (if aggregated { "aggregated" } else { "all_allocations" }).into(),
        );
        check("truncated", &info["truncated"], (!has_trailer).into());
        check("compressed", &info["compressed"], compressed.into());
        check("pid", &info["pid"], meta["pid"].clone());
        check("command_line", &info["command_line"], meta["command_line"].clone());
        let counted =
            if aggregated { &info["n_aggregated_records"] } else { &info["n_allocation_records"] };
        check("allocation records", counted, meta["total_allocations"].clone());
        let n_snapshots = oracle["memory_snapshots"].as_array().unwrap().len();
        // memray keeps every point below its 10,000-point limit (spec §5.7).
        if n_snapshots < 10_000 {
            check("memory records", &info["n_memory_records"], n_snapshots.into());
        }
        if let Some(msg) = check_golden(&dir.join("memreport-info.json"), &run.stdout) {
            failures.push(msg);
        }
    }
    finish(failures);
}

#[test]
fn killed_captures_are_truncated_with_records() {
    for n in ["v09-killed", "v13-killed"] {
        let capture = fixtures_dir().join(n).join("capture.bin");
        let run = memreport(&["info", "--json", capture.to_str().unwrap()]);
        assert_eq!(run.code, 0);
        let info: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(info["truncated"], true, "{n}");
        assert_eq!(
            info["header_n_allocations"], 0,
            "{n}: a killed capture keeps the initial header"
        );
        assert!(info["n_allocation_records"].as_u64().unwrap() > 1000, "{n}");
        assert!(
            run.stderr.contains("warning") && run.stderr.contains("truncated"),
            "{n}: {}",
            run.stderr
        );
    }
}
