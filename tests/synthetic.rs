//! Round trips through the test-only `CaptureBuilder`: encodings written from the spec decode back
//! to the same values, including the pointer cache and stack bookkeeping.

use memreport_format::events::{Event, Events};
use memreport_format::testing::CaptureBuilder;
use memreport_format::{Allocator, Capture, ErrorKind, Record, StreamEnd};

fn events(bytes: Vec<u8>) -> (Vec<Event>, Events) {
    let (h, r) = Capture::from_bytes(bytes).unwrap().into_parts();
    let mut ev = Events::new(h, r);
    let out: Vec<Event> = ev.by_ref().map(Result::unwrap).collect();
    (out, ev)
}

#[test]
fn pointer_cache_hits_resolve_to_earlier_misses() {
    let mut b = CaptureBuilder::new();
    b.context_switch(1);
    b.allocation(0x1000, 16, 6, 0).allocation(0x2000, 32, 6, 0);
    // Hits: index 0 is the newest miss (0x2000), index 1 the one before; allocator 5 (free).
    b.byte(0x80 | 5).byte(0x80 | (1 << 3) | 5).trailer();
    let records: Vec<Record> =
        Capture::from_bytes(b.finish()).unwrap().records().map(Result::unwrap).collect();
    let addresses: Vec<(u64, Allocator)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Allocation(a) => Some((a.address, a.allocator)),
            _ => None,
        })
        .collect();
    assert_eq!(
        addresses,
        [
            (0x1000, Allocator::Malloc),
            (0x2000, Allocator::Malloc),
            (0x2000, Allocator::Free),
            (0x1000, Allocator::Free)
        ]
    );
}

#[test]
fn stacks_follow_pushes_and_pops_per_thread() {
    let mut b = CaptureBuilder::new();
    b.code_object(1, "outer", "a.py", 10, &[]).code_object(2, "inner", "b.py", 20, &[]);
    b.context_switch(1).frame_push(1, 0, true).frame_push(2, 0, true).allocation(0x10, 1, 6, 0);
    b.context_switch(2).frame_push(2, 0, true).allocation(0x20, 2, 6, 0);
    b.context_switch(1).frame_pop(1).allocation(0x30, 3, 6, 0).thread_name("main").trailer();
    let (events, mut ev) = events(b.finish());
    let nodes: Vec<(u64, u32)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Allocation(a) => Some((a.tid, a.python_node)),
            _ => None,
        })
        .collect();
    let tables = ev.tables_mut();
    let stack = |t: &mut memreport_format::events::StackTables, n| {
        t.stack(n).into_iter().map(|l| l.function).collect::<Vec<_>>()
    };
    assert_eq!(stack(tables, nodes[0].1), ["inner", "outer"]);
    assert_eq!(stack(tables, nodes[1].1), ["inner"]);
    assert_eq!(stack(tables, nodes[2].1), ["outer"]);
    assert_eq!(ev.tables().thread_names().get(&1).map(String::as_str), Some("main"));
    assert_eq!(ev.end(), Some(StreamEnd::Trailer));
}

#[test]
fn popping_an_empty_stack_and_orphan_records_are_errors() {
    let mut b = CaptureBuilder::new();
    b.context_switch(1).frame_pop(1);
    let (h, r) = Capture::from_bytes(b.finish()).unwrap().into_parts();
    let err = Events::new(h, r).find_map(Result::err).unwrap();
    assert_eq!(err.kind(), ErrorKind::StackUnderflow);

    let mut b = CaptureBuilder::new();
    b.allocation(0x10, 1, 6, 0);
    let (h, r) = Capture::from_bytes(b.finish()).unwrap().into_parts();
    let err = Events::new(h, r).find_map(Result::err).unwrap();
    assert_eq!(err.kind(), ErrorKind::NoCurrentThread);
}

#[test]
fn zero_padding_without_trailer_is_a_clean_truncation() {
    let mut b = CaptureBuilder::new();
    b.context_switch(1).allocation(0x10, 1, 6, 0).memory(1 << 20, 5);
    let mut bytes = b.finish();
    bytes.extend([0u8; 4096]);
    let mut records = Capture::from_bytes(bytes).unwrap().records();
    assert_eq!(records.by_ref().count(), 3);
    assert!(
        matches!(records.end(), Some(StreamEnd::Truncated(t)) if t.partial_record_type.is_none())
    );
}
