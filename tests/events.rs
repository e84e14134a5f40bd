//! The allocation events memreport derives (address, size, allocator, thread, Python stack) must
//! equal the records memray's FileReader yields for the same capture, in order, for every
//! streaming fixture of every version.

use memreport_format::events::{Event, Events};
use memreport_format::Capture;
use serde_json::Value;

use crate::common::*;

#[test]
fn allocation_events_equal_filereader_records() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in fixtures() {
        let n = name(&dir);
        let oracle = filereader(&dir);
        let Some(expected) = oracle["allocations"].as_array() else {
            continue; // aggregated: FileReader refuses to list allocations
        };
        let stacks = oracle["stacks"].as_array().unwrap();
        let capture = Capture::open(dir.join("capture.bin")).unwrap();
        let (header, records) = capture.into_parts();
        let skipped = header.skipped_frames_on_main_tid as usize;
        let main_tid = header.main_tid;
        let has_main_tid = header.has_main_tid();
        let modern = header.has_modern_records();
        let mut events = Events::new(header, records);
        let mut i = 0;
        while let Some(event) = events.next() {
            let Event::Allocation(a) = event.unwrap() else { continue };
            let Some(want) = expected.get(i) else {
                failures.push(format!("{n}: more events than FileReader records ({i})"));
                break;
            };
            let mut stack: Value = Value::Null;
            if !a.allocator.is_deallocator() {
                let mut frames = events.tables_mut().stack(a.python_node);
                // FileReader hides memray's own outer frames on the main thread (spec §5.6).
                if has_main_tid && a.tid == main_tid {
                    frames.truncate(frames.len().saturating_sub(skipped));
                }
                stack = frames
                    .into_iter()
                    .map(|l| serde_json::json!([l.function, l.filename, l.lineno]))
                    .collect();
            }
            // memray raises for some deallocations' stacks and returns [] for others: both mean
            // "no stack" (spec §2.3: stack data is discarded for deallocators).
            let want_stack = match want["stack"].as_u64() {
                Some(s)
                    if a.allocator.is_deallocator()
                        && stacks[s as usize] == serde_json::json!([]) =>
                {
                    Value::Null
                }
                Some(s) => stacks[s as usize].clone(),
                None => Value::Null,
            };
            // FileReader reports the allocator as the capture version's own numeric id.
            let id = if modern { a.allocator.id() } else { a.allocator.legacy_id() };
            // FileReader exposes the tid as a signed int: 2^64 - 1 reads back as -1.
            let ours = (a.tid as i64, a.address, a.size, u64::from(id), stack);
            let theirs = (
                want["tid"].as_i64().unwrap(),
                want["address"].as_u64().unwrap(),
                want["size"].as_u64().unwrap(),
                want["allocator"].as_u64().unwrap(),
                want_stack,
            );
            if ours != theirs {
                failures.push(format!("{n}: event {i}: memreport {ours:?}\n    memray {theirs:?}"));
                break;
            }
            // Native attribution, where this memray version reports it.
            if let (Some(id), Some(generation)) =
                (want["native_stack_id"].as_u64(), want["native_segment_generation"].as_u64())
            {
                if (a.native_node, u64::from(a.generation)) != (id, generation) {
                    failures.push(format!(
                        "{n}: event {i}: native node/generation memreport {:?}, memray {:?}",
                        (a.native_node, a.generation),
                        (id, generation)
                    ));
                    break;
                }
            }
            i += 1;
        }
        if i != expected.len() && failures.last().is_none_or(|f| !f.starts_with(&n)) {
            failures.push(format!("{n}: {i} events, FileReader {} records", expected.len()));
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} streaming fixtures checked");
    finish(failures);
}
