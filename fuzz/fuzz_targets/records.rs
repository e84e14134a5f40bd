//! Any bytes: the record stream, its `memray parse` text and the event layer (stacks, threads,
//! tables) end in records, a truncation or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memreport_format::events::{Event, Events};
use memreport_format::{dump, Capture};

fuzz_target!(|data: &[u8]| {
    let Ok(capture) = Capture::from_bytes(data.to_vec()) else { return };
    let header = capture.header().clone();
    let mut sink = Vec::new();
    for record in capture.records() {
        match record {
            Ok(r) => dump::write_record(&mut sink, &header, &r).unwrap(),
            Err(e) => {
                assert!(e.record_index().is_some());
                break;
            }
        }
    }
    let Ok(capture) = Capture::from_bytes(data.to_vec()) else { return };
    let (header, records) = capture.into_parts();
    let mut events = Events::new(header, records);
    let mut nodes = Vec::new();
    while let Some(Ok(event)) = events.next() {
        if let Event::Allocation(a) = event {
            nodes.push((a.python_node, a.native_node));
        }
    }
    // Resolving every stack seen must work too (line tables, unknown code objects).
    let tables = events.tables_mut();
    for (python, native) in nodes.into_iter().take(256) {
        let _ = tables.stack(python);
        let _ = tables.native_stack(native);
    }
});
