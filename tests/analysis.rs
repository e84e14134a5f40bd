//! The analysis engine against memray's own numbers on every fixture: peak memory, the records
//! live at the peak and at the end, temporary allocations (N = 0, 1, 5), merged and split by
//! thread, the memory timeline, and every figure of `memray stats --json`.
//!
//! memray's records are compared after grouping by what memray shows for them (the presented
//! Python stack, and the thread when split): bytes and counts must be equal for every stack.

use std::collections::BTreeMap;
use std::path::Path;

use memreport_analysis::stats::Stats;
use memreport_analysis::{Analysis, Analyzer, Entry, Mode, Threads};
use serde_json::Value;

use crate::common::*;

type Totals = BTreeMap<(Vec<String>, Option<i64>), (u64, u64)>;

fn spell_frames(frames: &Value) -> Vec<String> {
    frames
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}:{}", f[0].as_str().unwrap(), f[1].as_str().unwrap(), f[2]))
        .collect()
}

/// memray's records grouped by presented stack (and thread when split).
fn memray_totals(records: &Value, stacks: &Value, split: bool) -> Totals {
    let mut out = Totals::new();
    for r in records.as_array().unwrap() {
        let stack = spell_frames(&stacks[r["stack"].as_u64().unwrap() as usize]);
        let tid = split.then(|| r["tid"].as_i64().unwrap());
        let e = out.entry((stack, tid)).or_default();
        e.0 = e.0.wrapping_add(r["size"].as_u64().unwrap());
        e.1 += r["n_allocations"].as_u64().unwrap();
    }
    out
}

fn our_totals(analysis: &Analysis, entries: &[Entry]) -> Totals {
    let stacks = analysis.stacks();
    let mut out = Totals::new();
    for e in entries {
        let stack = stacks
            .python_stack(e.python_node, e.representative_tid)
            .into_iter()
            .map(memreport_analysis::stacks::spell)
            .collect();
        let t = out.entry((stack, e.tid.map(|t| t as i64))).or_default();
        t.0 = t.0.wrapping_add(e.usage.bytes);
        t.1 += e.usage.count;
    }
    out
}

fn diff_totals(name: &str, what: &str, ours: &Totals, theirs: &Totals) -> Option<String> {
    if ours == theirs {
        return None;
    }
    let mut lines = vec![format!("{name}: {what}: memreport and memray differ")];
    for key in ours.keys().chain(theirs.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (a, b) = (ours.get(key), theirs.get(key));
        if a != b {
            lines.push(format!(
                "    {:?} thread {:?}: memreport {a:?} memray {b:?}",
                key.0.first(),
                key.1
            ));
        }
        if lines.len() > 8 {
            break;
        }
    }
    Some(lines.join("\n"))
}

fn analyse(dir: &Path) -> Analysis {
    Analyzer::new().temporary([0, 1, 5]).run_path(dir.join("capture.bin")).unwrap()
}

#[test]
fn peak_leaks_and_temporary_equal_memray_records() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in fixtures() {
        let n = name(&dir);
        let oracle = filereader(&dir);
        let analysis = analyse(&dir);
        let want_peak = oracle["metadata"]["peak_memory"].as_u64().unwrap();
        if analysis.peak_memory() != want_peak {
            failures.push(format!("{n}: peak {} memray {want_peak}", analysis.peak_memory()));
        }
        let want_total = oracle["metadata"]["total_allocations"].as_u64().unwrap();
        if analysis.n_allocation_records() != want_total {
            failures.push(format!(
                "{n}: total_allocations {} memray {want_total}",
                analysis.n_allocation_records()
            ));
        }
        let modes =
            [Mode::Peak, Mode::Leaks, Mode::Temporary(0), Mode::Temporary(1), Mode::Temporary(5)];
        for mode in modes {
            let key = match mode {
                Mode::Temporary(t) => format!("temporary{t}"),
                m => m.name().to_string(),
            };
            for (suffix, threads) in [("merged", Threads::Merged), ("split", Threads::Split)] {
                let Some(records) = oracle.get(format!("{key}_{suffix}")) else { continue };
                let Ok(entries) = analysis.entries(mode, threads) else {
                    failures.push(format!("{n}: {key}_{suffix}: memreport has no result"));
                    continue;
                };
                let theirs = memray_totals(records, &oracle["stacks"], threads == Threads::Split);
                let ours = our_totals(&analysis, &entries);
                failures.extend(diff_totals(&n, &format!("{key}_{suffix}"), &ours, &theirs));
                compared += 1;
                // Leak and temporary rows come out in memray 1.20's order (first contributing
                // event; older releases list them in hash-map order).
                let sorted_by_memray = oracle["memray_version"] == "1.20.0";
                if sorted_by_memray && threads == Threads::Split && mode != Mode::Peak {
                    let sizes: Vec<u64> = entries.iter().map(|e| e.usage.bytes).collect();
                    let want: Vec<u64> = records
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["size"].as_u64().unwrap())
                        .collect();
                    if let Some(i) =
                        (0..sizes.len().max(want.len())).find(|&i| sizes.get(i) != want.get(i))
                    {
                        failures.push(format!(
                            "{n}: {key}_{suffix}: row {i} of {} differs from memray's: {:?} vs {:?} (order {:?})",
                            want.len(),
                            &sizes[i.saturating_sub(1)..(i + 3).min(sizes.len())],
                            &want[i.saturating_sub(1)..(i + 3).min(want.len())],
                            entries.get(i).map(|e| e.order)
                        ));
                    }
                }
            }
        }
    }
    assert!(compared >= 150, "only {compared} results compared");
    finish(failures);
}

#[test]
fn timeline_equals_memray_memory_snapshots() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let n = name(&dir);
        let oracle = filereader(&dir);
        let analysis = Analyzer::new().series(false).run_path(dir.join("capture.bin")).unwrap();
        let ours: Vec<(u64, u64, u64)> = analysis
            .timeline()
            .points()
            .iter()
            .map(|s| (s.ms_since_epoch, s.rss, s.heap))
            .collect();
        let theirs: Vec<(u64, u64, u64)> = oracle["memory_snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["time"].as_u64().unwrap(),
                    s["rss"].as_u64().unwrap(),
                    s["heap"].as_u64().unwrap(),
                )
            })
            .collect();
        if ours != theirs {
            failures.push(format!("{n}: timeline {ours:?}\n    memray {theirs:?}"));
        }
    }
    finish(failures);
}

/// `memray stats --json` figure by figure. Ties that memray leaves to hash order (allocators
/// and modules with equal counts) are compared as sets of rows with equal values.
#[test]
fn stats_equal_memray_stats_json() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in fixtures() {
        let n = name(&dir);
        let Ok(text) = std::fs::read_to_string(dir.join("stats.json")) else { continue };
        let want: Value = serde_json::from_str(&text).unwrap();
        let analysis = Analyzer::new().series(false).run_path(dir.join("capture.bin")).unwrap();
        let stats = Stats::compute(&analysis, 5).expect("streaming capture");
        let ours = memreport_report::stats::to_json(&analysis, &stats);
        compared += 1;
        for key in [
            "total_num_allocations",
            "total_bytes_allocated",
            "allocation_size_histogram",
            "top_allocations_by_size",
            "top_allocations_by_count",
        ] {
            if ours[key] != want[key] {
                failures
                    .push(format!("{n}: {key}: memreport {}\n    memray {}", ours[key], want[key]));
            }
        }
        for key in [
            "peak_memory",
            "total_allocations",
            "total_frames",
            "pid",
            "main_thread_id",
            "command_line",
            "python_allocator",
            "has_native_traces",
            "trace_python_allocators",
            "start_time",
            "end_time",
        ] {
            let Some(w) = want["metadata"].get(key) else { continue };
            // memray before 1.19 prints naive local times; this machine's zone is UTC.
            if key.ends_with("_time") && !w.as_str().unwrap().ends_with("+00:00") {
                continue;
            }
            if &ours["metadata"][key] != w {
                failures.push(format!(
                    "{n}: metadata.{key}: memreport {} memray {w}",
                    ours["metadata"][key]
                ));
            }
        }
        let as_sorted = |v: &Value| -> Vec<String> {
            let mut rows: Vec<String> = match v {
                Value::Object(m) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                Value::Array(a) => a.iter().map(|r| r.to_string()).collect(),
                _ => vec![v.to_string()],
            };
            rows.sort();
            rows
        };
        for key in [
            "allocator_type_distribution",
            "top_modules_by_allocation_size",
            "top_modules_by_allocation_count",
        ] {
            let Some(w) = want.get(key) else { continue };
            if as_sorted(&ours[key]) != as_sorted(w) {
                failures.push(format!("{n}: {key}: memreport {}\n    memray {w}", ours[key]));
            }
        }
        // Allocators by count, descending, as memray orders them.
        let counts: Vec<u64> = stats.allocators.iter().map(|(_, c)| *c).collect();
        if counts.windows(2).any(|w| w[0] < w[1]) {
            failures.push(format!("{n}: allocator distribution not sorted by count: {counts:?}"));
        }
    }
    assert!(compared >= 14, "only {compared} stats files compared");
    finish(failures);
}

#[test]
fn aggregated_captures_refuse_stats_like_memray() {
    for dir in fixtures().into_iter().filter(|d| name(d).contains("aggregated")) {
        let analysis = Analyzer::new().run_path(dir.join("capture.bin")).unwrap();
        assert_eq!(
            Stats::compute(&analysis, 5).err(),
            Some(memreport_analysis::Unavailable::AggregatedStats),
            "{}",
            name(&dir)
        );
        assert_eq!(
            analysis.entries(Mode::Temporary(1), Threads::Merged).err(),
            Some(memreport_analysis::Unavailable::AggregatedTemporary)
        );
        let run = memreport(&["stats", dir.join("capture.bin").to_str().unwrap()]);
        assert_eq!(run.code, 2, "{}", name(&dir));
        assert!(run.stderr.contains("pre-aggregated"), "{}", run.stderr);
    }
}

/// Per-site live bytes over time add up to memray's heap at every memory sample, and end at the
/// leaked totals; the location curves are those sums grouped by location.
#[test]
fn site_series_add_up_to_the_heap_at_every_sample() {
    let mut checked = 0;
    for dir in fixtures() {
        let n = name(&dir);
        let analysis = Analyzer::new().run_path(dir.join("capture.bin")).unwrap();
        if analysis.is_aggregated() {
            assert!(memreport_analysis::group::series(
                &analysis,
                memreport_analysis::group::By::Line,
                5
            )
            .is_empty());
            continue;
        }
        let ticks = analysis.ticks();
        let n_ticks = ticks.n_ticks();
        let mut sum = vec![0u64; n_ticks as usize];
        for site in analysis.sites() {
            let curve = memreport_analysis::timeline::dense(&site.series, n_ticks);
            assert_eq!(
                curve.last().copied().unwrap_or(0),
                site.leaked.bytes,
                "{n}: series ends at the leak"
            );
            for (s, v) in sum.iter_mut().zip(curve) {
                *s = s.wrapping_add(v);
            }
        }
        // A tick that a memory sample ended ends where memray's heap is the running total. The
        // running total keeps the bytes of a block replaced at the same address [quirk, spec
        // §5.2], the sites do not; the fixtures have no such replacement except the synthetic
        // ones.
        if n.contains("synthetic") {
            continue;
        }
        let points = analysis.timeline().points();
        let mut at_samples = 0;
        for t in 0..n_ticks.saturating_sub(1) {
            let Some(k) = ticks.end_sample(t) else { continue };
            let point = points[k as usize];
            assert_eq!(sum[t as usize], point.heap, "{n}: tick {t}, sample {k}");
            assert_eq!(analysis.tick_end_s(t), analysis.seconds_since_start(point.ms_since_epoch));
            at_samples += 1;
        }
        // Ticks end in time order, and every closed tick ends at or before the last sample.
        for t in 1..n_ticks {
            assert!(analysis.tick_end_s(t - 1) <= analysis.tick_end_s(t), "{n}: tick {t}");
        }
        if ticks.units_per_tick == 1 {
            assert_eq!(at_samples as u64, analysis.timeline().n_samples(), "{n}");
        }
        checked += at_samples;
        let curves = memreport_analysis::group::series(
            &analysis,
            memreport_analysis::group::By::Line,
            usize::MAX,
        );
        let total: u64 = curves.iter().map(|c| c.end_bytes).sum();
        assert_eq!(total, analysis.total(Mode::Leaks).unwrap().bytes, "{n}");
    }
    assert!(checked >= 200, "only {checked} samples checked");
}

/// On captures of memray 1.20 (whose times print in UTC on this machine, like ours), `stats
/// --json` is memray's file byte for byte, plus the final newline a terminal wants. The synthetic
/// capture is left out: its allocators tie on counts, which memray orders by hash.
#[test]
fn stats_json_is_memrays_file_byte_for_byte() {
    let mut compared = 0;
    for dir in fixtures() {
        let n = name(&dir);
        if !n.starts_with("v13-") || n.contains("synthetic") {
            continue;
        }
        let Ok(want) = std::fs::read(dir.join("stats.json")) else { continue };
        let run = memreport(&["stats", "--json", dir.join("capture.bin").to_str().unwrap()]);
        assert_eq!(run.code, 0, "{n}: {}", run.stderr);
        let mut want = want;
        want.push(b'\n');
        assert!(run.stdout == want, "{n}: stats --json differs from memray's stats.json");
        compared += 1;
    }
    assert!(compared >= 7, "only {compared} compared");
}
