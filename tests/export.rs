//! `memreport export`: every table in every format, read back (Parquet and CSV with polars, JSON
//! Lines with serde), against memray's own figures for the capture: `peak_bytes` sums to memray's
//! peak, `allocated_*` and the allocations table to `memray stats`' totals.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::Value;

use crate::common::{finish, fixtures, fixtures_dir, memreport, name};

fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memreport-export-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn export(capture: &Path, table: &str, format: &str, out: &Path) {
    let run = memreport(&[
        "export",
        capture.to_str().unwrap(),
        "--table",
        table,
        "--format",
        format,
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(run.code, 0, "{} {table} {format}: {}", capture.display(), run.stderr);
}

fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn sum(rows: &[Value], key: &str) -> u64 {
    rows.iter().map(|r| r[key].as_u64().unwrap()).fold(0, u64::wrapping_add)
}

fn memray_stats(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("stats.json")).unwrap()).unwrap()
}

/// On every fixture: the locations table adds up to memray's peak, and (for captures that keep
/// every allocation) to memray's totals allocated; the leaked columns to `top --leaks`.
#[test]
fn locations_add_up_to_memrays_figures_on_every_fixture() {
    let dir = folder("locations");
    let mut failures = Vec::new();
    for fixture in fixtures() {
        let n = name(&fixture);
        let out = dir.join(format!("{n}.jsonl"));
        export(&fixture.join("capture.bin"), "locations", "json", &out);
        let rows = json_lines(&out);
        let oracle = crate::common::filereader(&fixture);
        let metadata = &oracle["metadata"];
        // memray's records at its high-water mark (FileReader), which sum to its peak on every
        // real capture; the synthetic ones hold sizes near 2^63 that memray's peak counts apart.
        let records: u64 = oracle["peak_merged"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["size"].as_u64().unwrap())
            .fold(0u64, u64::wrapping_add);
        let peak = metadata["peak_memory"].as_u64().unwrap();
        let got = sum(&rows, "peak_bytes");
        if got != records || (!n.contains("synthetic") && got != peak) {
            failures
                .push(format!("{n}: peak_bytes sum {got} != memray {peak} (records {records})"));
        }
        let format = metadata["file_format"].to_string();
        let aggregated = format.contains("AGGREGATED") || format == "1";
        // memray before 1.4 wrote no `stats --json` for the older fixtures.
        if !aggregated && fixture.join("stats.json").is_file() {
            let stats = memray_stats(&fixture);
            for (col, key) in [
                ("allocated_bytes", "total_bytes_allocated"),
                ("allocated_count", "total_num_allocations"),
            ] {
                let want = stats[key].as_u64().unwrap();
                if sum(&rows, col) != want {
                    failures.push(format!("{n}: {col} {} != memray {want}", sum(&rows, col)));
                }
            }
        }
        let top =
            memreport(&["top", "--leaks", "--json", fixture.join("capture.bin").to_str().unwrap()]);
        let top: Value = serde_json::from_slice(&top.stdout).unwrap();
        if sum(&rows, "leaked_bytes") != top["total_bytes"].as_u64().unwrap() {
            failures.push(format!(
                "{n}: leaked_bytes {} != top --leaks {}",
                sum(&rows, "leaked_bytes"),
                top["total_bytes"]
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    finish(failures);
}

/// The allocations table of streaming fixtures: one row per allocation memray counts, sizes
/// summing to its total, every free after its allocation, and still-live rows summing to
/// `top --leaks` (what was never freed).
#[test]
fn allocations_are_memrays_and_frees_follow_them() {
    let dir = folder("allocations");
    for fixture in ["v13-service", "v12-basic", "v13-native", "real-flask-threads", "v13-killed"] {
        let fixture = fixtures_dir().join(fixture);
        let out = dir.join("a.jsonl");
        export(&fixture.join("capture.bin"), "allocations", "json", &out);
        let rows = json_lines(&out);
        let stats = memray_stats(&fixture);
        assert_eq!(
            rows.len() as u64,
            stats["total_num_allocations"].as_u64().unwrap(),
            "{fixture:?}"
        );
        assert_eq!(sum(&rows, "size"), stats["total_bytes_allocated"].as_u64().unwrap());
        let mut indexes: Vec<u64> = rows.iter().map(|r| r["index"].as_u64().unwrap()).collect();
        indexes.sort_unstable();
        indexes.dedup();
        assert_eq!(indexes.len(), rows.len(), "each allocation once");
        for r in &rows {
            if let Some(freed) = r["freed_index"].as_u64() {
                assert!(freed > r["index"].as_u64().unwrap(), "{r}");
            }
            assert!(r["location"].as_str().is_some_and(|l| !l.is_empty()));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn read_back(path: &Path, format: &str) -> DataFrame {
    match format {
        "parquet" => ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap(),
        "csv" => CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .unwrap()
            .finish()
            .unwrap(),
        _ => unreachable!(),
    }
}

fn column_sum(df: &DataFrame, name: &str) -> f64 {
    let col = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
    col.f64().unwrap().sum().unwrap_or(0.0)
}

/// Every table in Parquet and CSV holds the rows and sums of its JSON Lines twin, with the
/// columns product.md names, in order.
#[test]
fn every_table_reads_back_the_same_in_every_format() {
    let dir = folder("formats");
    let capture = fixtures_dir().join("hostile-names").join("capture.bin");
    let tables: [(&str, &[&str]); 4] = [
        (
            "locations",
            &[
                "location",
                "function",
                "file",
                "line",
                "module",
                "peak_bytes",
                "peak_count",
                "leaked_bytes",
                "leaked_count",
                "allocated_bytes",
                "allocated_count",
            ],
        ),
        ("timeline", &["time_s", "rss_bytes", "heap_bytes"]),
        (
            "allocations",
            &[
                "index",
                "time_s",
                "tid",
                "thread",
                "address",
                "size",
                "allocator",
                "location",
                "stack_id",
                "freed_index",
            ],
        ),
        ("series", &["location", "time_s", "live_bytes"]),
    ];
    for (table, columns) in tables {
        let json = dir.join(format!("{table}.jsonl"));
        export(&capture, table, "json", &json);
        let rows = json_lines(&json);
        assert!(!rows.is_empty(), "{table}");
        let keys: Vec<&str> = rows[0].as_object().unwrap().keys().map(String::as_str).collect();
        let mut want: Vec<&str> = columns.to_vec();
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want, "{table}");
        for format in ["parquet", "csv"] {
            let path = dir.join(format!("{table}.{format}"));
            export(&capture, table, format, &path);
            let df = read_back(&path, format);
            let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
            assert_eq!(names, columns, "{table} {format}");
            assert_eq!(df.height(), rows.len(), "{table} {format}");
            for col in columns {
                if rows[0][*col].is_number() {
                    let json_sum: f64 = rows.iter().filter_map(|r| r[*col].as_f64()).sum();
                    let got = column_sum(&df, col);
                    assert!(
                        (got - json_sum).abs() <= 1e-6 * json_sum.abs().max(1.0),
                        "{table} {format} {col}: {got} vs {json_sum}"
                    );
                }
            }
            if table == "locations" {
                // Hostile names survive as data: the same strings in every format.
                let locations = df.column("location").unwrap().str().unwrap();
                for (i, r) in rows.iter().enumerate() {
                    assert_eq!(locations.get(i), r["location"].as_str(), "{format} row {i}");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A corrupt capture leaves no file behind, and says where it broke.
#[test]
fn a_failed_export_leaves_no_file() {
    let dir = folder("fail");
    // 256 bytes of the LZ4 frame overwritten half-way: the decoded stream goes wrong there.
    let mut bytes = std::fs::read(fixtures_dir().join("v13-service").join("capture.bin")).unwrap();
    let at = bytes.len() / 2;
    bytes[at..at + 256].fill(0xEE);
    let capture = dir.join("bad.bin");
    std::fs::write(&capture, &bytes).unwrap();
    for table in ["allocations", "locations"] {
        let out = dir.join(format!("{table}.parquet"));
        let run = memreport(&[
            "export",
            capture.to_str().unwrap(),
            "--table",
            table,
            "--format",
            "parquet",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 2, "{table}: {}", run.stderr);
        assert!(run.stderr.contains("at byte"), "{}", run.stderr);
        assert!(!out.exists(), "{table}: a partial file was left");
        let left: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "temporary files left: {left:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
