//! Native symbols against memray: the hybrid stacks of a capture of a C extension that leaks
//! through malloc (fixtures/native-leakyext), named from the fixture's own `symbols/` folder (the
//! extension with its DWARF, and the interpreter's symbol tables), never from this machine's
//! binaries. memray named the same stacks on the machine that made the capture (hybrid.json).

use std::path::Path;

use memreport_analysis::{Analysis, Entry, Mode, SymbolSource, Threads};
use serde_json::Value;

use crate::common::*;

fn fixture() -> std::path::PathBuf {
    fixtures_dir().join("native-leakyext")
}

fn symbolized(symbols: &Path) -> (Analysis, memreport_analysis::Symbolization) {
    let mut analysis = Analysis::open(fixture().join("capture.bin")).expect("capture");
    let found = analysis.symbolize(&SymbolSource::under(symbols));
    (analysis, found)
}

/// The memray frame `[function, file, line]` of a hybrid.json stack.
fn memray_frame(f: &Value) -> (String, String, i64) {
    (f[0].as_str().unwrap().to_string(), f[1].as_str().unwrap().to_string(), f[2].as_i64().unwrap())
}

/// Our row for one of memray's records: same native stack, same Python stack, same total.
fn row_for<'a>(analysis: &Analysis, entries: &'a [Entry], record: &Value) -> &'a Entry {
    let native = record["native_stack_id"].as_u64().unwrap();
    let (size, count) =
        (record["size"].as_u64().unwrap(), record["n_allocations"].as_u64().unwrap());
    let python: Vec<(String, String, i64)> =
        record["python"].as_array().unwrap().iter().map(memray_frame).collect();
    let rows: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.native_node == native && e.usage.bytes == size && e.usage.count == count)
        .filter(|e| {
            let ours = analysis.stacks().python_stack(e.python_node, e.representative_tid);
            let ours: Vec<(String, String, i64)> = ours
                .into_iter()
                .map(|l| (l.function.clone(), l.filename.clone(), i64::from(l.lineno)))
                .collect();
            ours == python
        })
        .collect();
    assert_eq!(rows.len(), 1, "one row for native stack {native} of {size} B in {count}");
    rows[0]
}

#[test]
fn hybrid_stacks_equal_memrays_in_the_images_given() {
    let (analysis, found) = symbolized(&fixture().join("symbols"));
    // The capture's stacks run through three images; libc is left out of symbols/ on purpose.
    assert_eq!(found.images, 3, "{found:?}");
    assert_eq!(found.missing.len(), 1, "{found:?}");
    assert!(found.missing[0].ends_with("/libc.so.6"), "{found:?}");
    let oracle: Value =
        serde_json::from_slice(&std::fs::read(fixture().join("hybrid.json")).unwrap()).unwrap();
    let stacks = analysis.stacks();
    let (mut compared, mut named_in_extension, mut from_symtab) = (0, 0, 0);
    for (mode, key) in [(Mode::Peak, "peak"), (Mode::Leaks, "leaks")] {
        let entries = analysis.entries(mode, Threads::Merged).unwrap();
        let records = oracle[key].as_array().unwrap();
        assert!(records.len() > 10, "{key}: {} records", records.len());
        for record in records {
            let row = row_for(&analysis, &entries, record);
            let ours: Vec<(String, String, i64)> = stacks
                .row_stack_ids(row, true)
                .into_iter()
                .map(|f| {
                    let l = stacks.frame(f).unwrap();
                    (l.function.clone(), l.filename.clone(), i64::from(l.lineno))
                })
                .collect();
            let theirs: Vec<(String, String, i64)> =
                record["hybrid"].as_array().unwrap().iter().map(memray_frame).collect();
            assert_eq!(ours.len(), theirs.len(), "{key}:\n ours {ours:#?}\n memray's {theirs:#?}");
            for (o, t) in ours.iter().zip(&theirs) {
                if o.1.ends_with("/libc.so.6") {
                    // Not given: kept as image+offset, whatever memray named it.
                    assert!(o.0.starts_with("libc.so.6+0x"), "{o:?}");
                } else if t.1 == "<unknown>" {
                    // A symbol table names a function but no line: memray says "<unknown>" for
                    // the file, memreport names the image.
                    assert_eq!((&o.0, o.2), (&t.0, 0), "{key}: {o:?} against {t:?}");
                    assert!(o.1.ends_with("/python3.11"), "{o:?}");
                    from_symtab += 1;
                } else {
                    assert_eq!(o, t, "{key}");
                    named_in_extension += usize::from(t.1.ends_with("leakyext.c"));
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 300 && named_in_extension > 5 && from_symtab > 50, "{compared} frames");
}

#[test]
fn the_leak_is_found_inside_the_extension_with_its_inlined_frame() {
    let (analysis, _) = symbolized(&fixture().join("symbols"));
    let entries = analysis.entries(Mode::Leaks, Threads::Merged).unwrap();
    let biggest = entries.iter().max_by_key(|e| e.usage.bytes).unwrap();
    assert_eq!(biggest.usage.count, 400, "one 4 KiB block per request");
    let stacks = analysis.stacks();
    let names: Vec<String> = stacks
        .row_stack_ids(biggest, true)
        .into_iter()
        .map(|f| {
            let l = stacks.frame(f).unwrap();
            format!("{}:{}:{}", l.function, l.filename, l.lineno)
        })
        .collect();
    // `grab` is inlined into `remember`: one return address, two frames, innermost first.
    assert_eq!(
        names[..3],
        ["grab:./leakyext.c:17", "remember:./leakyext.c:24", "leak:./leakyext.c:54"]
    );
    assert!(names.iter().any(|n| n.starts_with("handle:leak_native.py:")), "{names:#?}");
}

#[test]
fn missing_images_stay_image_plus_offset_with_one_note() {
    let empty = std::env::temp_dir().join(format!("memreport-no-symbols-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let (analysis, found) = symbolized(&empty);
    assert_eq!(found.missing.len(), 3, "{found:?}");
    let entries = analysis.entries(Mode::Leaks, Threads::Merged).unwrap();
    let stacks = analysis.stacks();
    for e in &entries {
        // No eval loop can be recognised without the interpreter's symbols: memray then shows
        // the Python stack alone [quirk], and so does memreport.
        assert!(stacks.row_stack_ids(e, true).iter().all(|&f| !stacks.is_native(f)));
    }
    let capture = fixture().join("capture.bin");
    let run = memreport(&[
        "tree",
        "--leaks",
        capture.to_str().unwrap(),
        "--symbols",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr.matches("note:").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("3 of 3 native images not found"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn the_readable_view_hides_the_interpreters_machinery_and_every_frame_shows_it() {
    let capture = fixture().join("capture.bin");
    let symbols = fixture().join("symbols");
    let tree = |extra: &[&str]| {
        let mut args = vec!["tree", "--leaks", capture.to_str().unwrap()];
        if !extra.contains(&"--no-symbols") {
            args.extend_from_slice(&["--symbols", symbols.to_str().unwrap()]);
        }
        args.extend_from_slice(extra);
        let run = memreport(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        String::from_utf8(run.stdout).unwrap()
    };
    let readable = tree(&[]);
    let every = tree(&["--all-frames"]);
    for text in [&readable, &every] {
        assert!(text.contains("remember:./leakyext.c:24"), "{text}");
    }
    assert!(every.contains("_PyObject_MakeTpCall:"), "{every}");
    assert!(
        !readable.contains("_PyObject_MakeTpCall") && !readable.contains("<unknown>"),
        "{readable}"
    );
    // The program's outermost frame is the root: neither the runner nor the interpreter's
    // start-up stays above it.
    let first = readable.lines().nth(1).unwrap();
    assert!(first.contains("<module>:leak_native.py:"), "{readable}");
    // Without symbols, the Python frames alone, and the page says why.
    let plain = tree(&["--no-symbols"]);
    assert!(!plain.contains("leakyext.c"), "{plain}");
}

#[test]
fn a_leak_finding_carries_the_native_frames_that_allocate() {
    let capture = fixture().join("capture.bin");
    let symbols = fixture().join("symbols");
    let args =
        ["leaks", "--json", capture.to_str().unwrap(), "--symbols", symbols.to_str().unwrap()];
    let run = memreport(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(json["verdict"], "leak", "{json:#}");
    let finding = &json["findings"][0];
    let stack: Vec<&str> =
        finding["stack"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    // The location is the program's own Python line; the stack says where in C it allocates.
    assert!(
        finding["location"].as_str().unwrap().starts_with("handle:leak_native.py:"),
        "{finding:#}"
    );
    assert_eq!(
        stack[..3],
        ["grab:./leakyext.c:17", "remember:./leakyext.c:24", "leak:./leakyext.c:54"]
    );
    // Without symbols, the same finding with its Python frames only.
    let plain = memreport(&["leaks", "--json", capture.to_str().unwrap(), "--no-symbols"]);
    let plain: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(plain["findings"][0]["location"], finding["location"]);
    assert!(plain["findings"][0]["stack"][0].as_str().unwrap().starts_with("handle:"));
}
