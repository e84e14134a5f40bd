//! The terminal and JSON outputs of `stats`, `top`, `tree` and `leaks`, as golden files beside the
//! fixtures (`fixtures/NAME/golden/*.txt`), refreshed with `MEMREPORT_BLESS=1`; and `top --json`
//! end to end against memray's records grouped by location.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::*;

/// Fixtures whose outputs are kept as golden files: every version, both file formats, threads,
/// native stacks, a killed process, the largest capture, and two of the leak corpus.
const GOLDEN_FIXTURES: &[&str] = &[
    "v08-basic",
    "v10-aggregated",
    "v11-native",
    "v12-basic",
    "v13-basic",
    "v13-killed",
    "v13-pyalloc",
    "v13-service",
    "v13-threads",
    "leak-thread",
    "rss-untracked",
    "real-flask-threads",
    "real-django-runserver",
    "native-leakyext",
];

/// The symbol options of a command on a fixture: a native capture's frames are named from the
/// fixture's own `symbols/` folder, or not at all, never from this machine's binaries.
fn symbol_args(dir: &std::path::Path, command: &str) -> Vec<String> {
    let native = dir.join("memreport-info.json").is_file()
        && std::fs::read_to_string(dir.join("memreport-info.json"))
            .is_ok_and(|t| t.contains("\"native_traces\": true"));
    if command == "stats" || !(native || dir.join("symbols").is_dir()) {
        Vec::new()
    } else if dir.join("symbols").is_dir() {
        vec!["--symbols".to_string(), dir.join("symbols").to_string_lossy().into_owned()]
    } else {
        vec!["--no-symbols".to_string()]
    }
}

const COMMANDS: &[&[&str]] = &[
    &["stats"],
    &["stats", "--json"],
    &["top"],
    &["top", "--leaks"],
    &["top", "--temporary=5", "--by", "function"],
    &["top", "--split-threads", "--json", "-n", "8"],
    &["top", "--by", "module"],
    &["top", "--by", "file", "--leaks", "--json"],
    &["tree"],
    &["tree", "--leaks", "--depth", "4"],
    &["leaks"],
    &["leaks", "--json"],
];

#[test]
fn terminal_and_json_outputs_match_golden_files() {
    let mut failures = Vec::new();
    for fixture in GOLDEN_FIXTURES {
        let dir = fixtures_dir().join(fixture);
        let capture = dir.join("capture.bin");
        let golden = dir.join("golden");
        std::fs::create_dir_all(&golden).unwrap();
        for args in COMMANDS {
            let mut argv: Vec<&str> = vec![args[0], capture.to_str().unwrap()];
            argv.extend_from_slice(&args[1..]);
            let symbols = symbol_args(&dir, args[0]);
            argv.extend(symbols.iter().map(String::as_str));
            let run = memreport(&argv);
            // Aggregated captures refuse stats and temporary allocations: the golden file keeps
            // the exit status and the error line instead.
            let mut text = run.stdout.clone();
            if run.code != 0 {
                let stderr = run.stderr.replace(capture.to_str().unwrap(), "CAPTURE");
                text = format!("exit {}\n{stderr}", run.code).into_bytes();
            }
            let slug = args.join(" ").replace(['-', '='], "").replace(' ', "_");
            failures.extend(check_golden(&golden.join(format!("{slug}.txt")), &text));
        }
    }
    finish(failures);
}

/// `top --json` (every location) equals memray's records grouped by the innermost frame of the
/// stack memray shows, for the peak, the leaks and temporary allocations (N = 1).
#[test]
fn top_json_equals_memray_records_by_location() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let n = name(&dir);
        let oracle = filereader(&dir);
        let capture = dir.join("capture.bin");
        for (flag, key) in [
            (None, "peak_merged"),
            (Some("--leaks"), "leaks_merged"),
            (Some("--temporary=1"), "temporary1_merged"),
        ] {
            let Some(records) = oracle.get(key) else { continue };
            let mut want: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for r in records.as_array().unwrap() {
                let stack = &oracle["stacks"][r["stack"].as_u64().unwrap() as usize];
                let location = match stack.get(0) {
                    Some(f) => {
                        format!("{}:{}:{}", f[0].as_str().unwrap(), f[1].as_str().unwrap(), f[2])
                    }
                    None => "<stack trace unavailable>".to_string(),
                };
                let e = want.entry(location).or_default();
                e.0 = e.0.wrapping_add(r["size"].as_u64().unwrap());
                e.1 += r["n_allocations"].as_u64().unwrap();
            }
            let mut args = vec!["top", capture.to_str().unwrap(), "--json", "-n", "1000000"];
            args.extend(flag);
            let run = memreport(&args);
            assert_eq!(run.code, 0, "{n} {args:?}: {}", run.stderr);
            let json: Value = serde_json::from_slice(&run.stdout).unwrap();
            let ours = crate::common::top_locations(&json);
            if ours != want {
                failures
                    .push(format!("{n}: top {flag:?}: memreport {ours:?}\n    memray {want:?}"));
            }
            // Largest first.
            let bytes: Vec<u64> = json["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["bytes"].as_u64().unwrap())
                .collect();
            if bytes.windows(2).any(|w| w[0] < w[1]) {
                failures.push(format!("{n}: top {flag:?} not sorted by bytes"));
            }
        }
    }
    finish(failures);
}
