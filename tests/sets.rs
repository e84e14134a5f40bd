//! Capture sets (`memreport top app.bin app.bin.*`) against memray (fixtures/set_oracle.py):
//! each process's own figures are memray's FileReader figures for its file, and the combined
//! peak, aligned on the wall clock from memray's memory samples, holds what memray's temporal
//! reader says each process held at that sample.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::common::{fixtures_dir, memreport, top_locations};

/// The set fixture's captures, the parent first then the workers by name, and memray's figures.
pub(crate) fn set() -> (Vec<String>, Value) {
    let dir = fixtures_dir().join("set-pool-fork");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("capture.bin"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the set fixture has a parent and workers");
    let oracle = serde_json::from_slice(&std::fs::read(dir.join("set.json")).unwrap()).unwrap();
    (files.iter().map(|p| p.to_str().unwrap().to_string()).collect(), oracle)
}

fn run_json(args: &[&str]) -> Value {
    let run = memreport(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_slice(&run.stdout).unwrap()
}

#[test]
fn each_process_is_memrays_and_the_combined_peak_holds_what_each_held_then() {
    let (files, oracle) = set();
    let mut args = vec!["-q", "top", "--json", "-n", "1000000"];
    args.extend(files.iter().map(String::as_str));
    let json = run_json(&args);
    let processes = json["processes"].as_array().unwrap();
    let want = oracle["processes"].as_array().unwrap();
    assert_eq!(processes.len(), want.len());
    for (ours, memray) in processes.iter().zip(want) {
        assert_eq!(ours["pid"], memray["pid"]);
        assert_eq!(ours["peak_memory"], memray["peak_memory"], "pid {}", ours["pid"]);
        assert!(ours["file"].as_str().unwrap().ends_with(memray["file"].as_str().unwrap()));
    }
    // The parent exits normally; the pool terminates its workers, whose captures are cut off.
    assert_eq!(processes[0]["truncated"], false);
    assert!(processes[1..].iter().all(|p| p["truncated"] == true));
    let peak = oracle["combined_peak"]["bytes"].as_u64().unwrap();
    assert_eq!(json["peak_memory"].as_u64(), Some(peak));
    assert_eq!(json["total_bytes"].as_u64(), Some(peak));
    let memray: BTreeMap<String, (u64, u64)> = oracle["at_peak"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())))
        .collect();
    let ours = top_locations(&json);
    // memray's temporal rows can miss its own heap by a few stale bytes (spec §5.10); where they
    // add up, they must be ours exactly, and the block counts always.
    let counts = |m: &BTreeMap<String, (u64, u64)>| {
        m.iter().map(|(k, v)| (k.clone(), v.1)).collect::<Vec<_>>()
    };
    if memray.values().map(|v| v.0).sum::<u64>() == peak {
        assert_eq!(ours, memray);
    } else {
        assert_eq!(counts(&ours), counts(&memray));
    }
    // The combined peak is more than any one process's: the workers ran beside the parent.
    let largest = want.iter().map(|p| p["peak_memory"].as_u64().unwrap()).max().unwrap();
    assert!(peak > largest, "{peak} <= {largest}");
    // The order of the files on the command line changes nothing.
    let mut reversed = vec!["-q", "top", "--json", "-n", "1000000"];
    reversed.extend(files.iter().rev().map(String::as_str));
    assert_eq!(run_json(&reversed), json);
}

#[test]
fn leaks_stats_and_tree_over_a_set_are_per_process() {
    let (files, oracle) = set();
    let want = oracle["processes"].as_array().unwrap();
    let mut args = vec!["-q", "top", "--json", "--leaks", "-n", "1000000"];
    args.extend(files.iter().map(String::as_str));
    let json = run_json(&args);
    let leaked: u64 = want.iter().map(|p| p["leaked_bytes"].as_u64().unwrap()).sum();
    assert_eq!(json["total_bytes"].as_u64(), Some(leaked));

    let mut args = vec!["-q", "leaks", "--json"];
    args.extend(files.iter().map(String::as_str));
    let json = run_json(&args);
    let pids: Vec<&Value> = want.iter().map(|p| &p["pid"]).collect();
    let processes = json["processes"].as_array().unwrap();
    for (ours, memray) in processes.iter().zip(want) {
        assert_eq!(ours["pid"], memray["pid"]);
        assert_eq!(ours["leaked_bytes"], memray["leaked_bytes"]);
        assert!(ours["verdict"].is_string());
    }
    for f in json["findings"].as_array().unwrap() {
        assert!(pids.contains(&&f["pid"]), "a finding without its process: {f}");
    }
    let worst = processes.iter().map(|p| p["verdict"].as_str().unwrap()).collect::<Vec<_>>();
    let verdict = json["verdict"].as_str().unwrap();
    assert!(worst.contains(&verdict), "{verdict} is no process's verdict: {worst:?}");

    let mut args = vec!["-q", "stats", "--json"];
    args.extend(files.iter().map(String::as_str));
    let json = run_json(&args);
    for (ours, memray) in json["processes"].as_array().unwrap().iter().zip(want) {
        assert_eq!(ours["stats"]["metadata"]["peak_memory"], memray["peak_memory"]);
        assert_eq!(ours["stats"]["metadata"]["total_allocations"], memray["total_allocations"]);
    }
    assert_eq!(json["combined_peak_memory"], oracle["combined_peak"]["bytes"]);

    // The tree has a process level: one heading per process that held memory at the peak.
    let mut args = vec!["-q", "tree"];
    args.extend(files.iter().map(String::as_str));
    let run = memreport(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = String::from_utf8(run.stdout).unwrap();
    for p in want {
        assert!(text.contains(&format!("process {} (", p["pid"])), "no heading for {}", p["pid"]);
    }
}

#[test]
fn set_pages_have_a_process_level_and_the_combined_heap() {
    let (files, oracle) = set();
    let want = oracle["processes"].as_array().unwrap();
    for command in ["report", "flamegraph"] {
        let mut args = vec!["-q", command];
        args.extend(files.iter().map(String::as_str));
        args.extend(["-o", "-"]);
        let run = memreport(&args);
        assert_eq!(run.code, 0, "{command}: {}", run.stderr);
        let page = String::from_utf8(run.stdout).unwrap();
        assert!(page.contains(&format!("{} processes", want.len())), "{command}: no heading");
        // A node per process above the stacks, in every graph of the page.
        for p in want {
            assert!(page.contains(&format!("process {} (", p["pid"])), "{command}: {}", p["pid"]);
        }
        if command == "report" {
            assert!(page.contains("combined peak"), "no combined peak on the report");
            assert!(page.contains("<section id=\"processes\">"));
            assert!(page.contains("id=\"flame-peak\"") && page.contains("id=\"flame-leaks\""));
        }
    }
}

#[test]
fn a_diff_of_two_sets_compares_their_combined_peaks_and_summed_leaks() {
    let (files, oracle) = set();
    // The same set in a second folder: a second set with the same processes.
    let copy = std::env::temp_dir().join(format!("memreport-set-diff-{}", std::process::id()));
    std::fs::create_dir_all(&copy).unwrap();
    let mut copies = Vec::new();
    for f in &files {
        let to = copy.join(std::path::Path::new(f).file_name().unwrap());
        std::fs::copy(f, &to).unwrap();
        copies.push(to.to_str().unwrap().to_string());
    }
    let mut args = vec!["-q", "diff", "--json"];
    args.extend(files.iter().map(String::as_str));
    args.extend(copies.iter().map(String::as_str));
    let json = run_json(&args);
    let peak = &oracle["combined_peak"]["bytes"];
    let leaked: u64 = oracle["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["leaked_bytes"].as_u64().unwrap())
        .sum();
    for side in ["before", "after"] {
        assert_eq!(&json[side]["peak_memory"], peak, "{side}");
        assert_eq!(json[side]["leaked_bytes"].as_u64(), Some(leaked), "{side}");
    }
    assert_eq!(json["verdict"], "no-change");
    assert!(json["locations"].as_array().unwrap().iter().all(|l| l["status"] == "same"));
    // Files of one set alone are not two sides.
    let mut args = vec!["-q", "diff"];
    args.extend(files.iter().map(String::as_str));
    let run = memreport(&args);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("make 1 sets"), "{}", run.stderr);
    std::fs::remove_dir_all(&copy).unwrap();
}

#[test]
fn a_window_over_a_set_counts_from_the_set_s_start() {
    let (files, oracle) = set();
    let parent = &files[0];
    // The workers start after 50 ms of the parent's run: a window that ends by then is the
    // parent's alone, and the workers hold nothing in it.
    let starts: Vec<i64> = oracle["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["start_ms"].as_i64().unwrap())
        .collect();
    let first_worker_s = (starts[1..].iter().min().unwrap() - starts[0]) as f64 / 1000.0;
    let to = (first_worker_s / 2.0).to_string();
    let mut args = vec!["-q", "top", "--json", "--leaks", "--to", &to];
    args.extend(files.iter().map(String::as_str));
    let set = run_json(&args);
    let alone = run_json(&["-q", "top", "--json", "--leaks", "--to", &to, parent]);
    assert_eq!(set["total_bytes"], alone["total_bytes"]);
    assert!(alone["total_bytes"].as_u64().unwrap() > 0);
}
