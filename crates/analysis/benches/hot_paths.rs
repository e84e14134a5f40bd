//! The hot paths of an analysis, each timed apart on the largest fixture (`fixtures/v13-service`):
//!
//! * `replay`: the live-heap map and the per-site totals (peak epoch, stats accumulators) over
//!   decoded allocation events, in allocation records/s — decoding excluded;
//! * `aggregate`: the rows of the peak and of the leaks grouped by location, in sites/s;
//! * `flame_tree`: the call tree a flame graph is drawn from, in sites/s;
//! * `threads_sharing_stacks`: the replay of 1M allocations over 1,000 stacks that 1 to 4,096
//!   threads take turns on (a thread-per-request server). With merged sites (every command but
//!   `--split-threads`) the time per allocation stays flat along the sweep; with per-thread
//!   sites it follows the number of sites (up to 500,000), no longer the threads per stack.
//!
//! The fixture has few sites, so `aggregate` and `flame_tree` run on a built capture with
//! 50,000 sites, each a pseudo-random stack 8 to 23 frames deep over 600 functions, four threads.
//!
//! Each benchmark asserts a figure memray reports (or an invariant of it), so a broken path
//! cannot look fast. The decode paths are in `memreport-format`'s `decode` bench; the whole pass
//! in `analyze`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use memreport_analysis::group::{group, By, CallTree};
use memreport_analysis::{bench_support, Analysis, Analyzer, Mode, Threads};
use memreport_format::events::{Event, Events};
use memreport_format::Capture;

const FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-service/capture.bin");

/// memray 1.20's `peak_memory` for the fixture (its stats.json).
const PEAK: u64 = 1_141_940;

fn replay(c: &mut Criterion) {
    let file = std::fs::read(FIXTURE).expect("fixture");
    let (header, records) = Capture::from_bytes(file).unwrap().into_parts();
    let events: Vec<_> = Events::new(header, records)
        .filter_map(|e| match e.unwrap() {
            Event::Allocation(a) => Some(a),
            _ => None,
        })
        .collect();
    let mut bench = c.benchmark_group("replay");
    bench.throughput(Throughput::Elements(events.len() as u64));
    bench.bench_function("live-heap+sites", |b| {
        b.iter(|| {
            let (peak, sites) = bench_support::replay(&events);
            assert_eq!(peak, PEAK);
            sites
        })
    });
    bench.finish();
}

/// 1M allocation events over 1,000 python nodes; `threads` threads take turns, each running
/// every node, so each node has one site per thread.
fn shared_stacks(threads: u64) -> Vec<memreport_format::events::AllocationEvent> {
    use memreport_format::events::AllocationEvent;
    use memreport_format::Allocator;
    const EVENTS: u64 = 1_000_000;
    const NODES: u64 = 1_000;
    let per_thread = EVENTS / threads;
    (0..EVENTS)
        .map(|i| {
            let tid = (i / per_thread).min(threads - 1) + 1;
            let live = i % 2 == 0;
            AllocationEvent {
                index: i,
                tid,
                address: 0x1000 + (i / 2) * 64,
                size: if live { 64 } else { 0 },
                allocator: if live { Allocator::Malloc } else { Allocator::Free },
                python_node: if live { (i / 2 % NODES) as u32 + 1 } else { 0 },
                native_node: 0,
                generation: 0,
            }
        })
        .collect()
}

fn threads_sharing_stacks(c: &mut Criterion) {
    let mut bench = c.benchmark_group("threads_sharing_stacks");
    bench.sample_size(10);
    for threads in [1u64, 64, 512, 4096] {
        let events = shared_stacks(threads);
        bench.throughput(Throughput::Elements(events.len() as u64));
        for (name, mode) in [("merged", Threads::Merged), ("split", Threads::Split)] {
            bench.bench_function(format!("{name}/{threads} threads"), |b| {
                b.iter(|| {
                    let (peak, sites) = bench_support::replay_with(&events, mode);
                    assert_eq!(peak, 64, "each block is freed by the next event");
                    match mode {
                        // The main thread's stacks and everyone else's, plus the first
                        // allocations of each thread, which wait for its name.
                        Threads::Merged | Threads::Grouped => {
                            let pending =
                                u64::from(memreport_analysis::threads::PENDING_ALLOCATIONS);
                            assert!(sites as u64 <= 2_000 + pending * threads)
                        }
                        // Every thread has sites of its own, up to one per node.
                        Threads::Split => {
                            assert!(sites as u64 >= threads && sites as u64 <= 1_000 * threads)
                        }
                    }
                    sites
                })
            });
        }
    }
    bench.finish();
}

/// A capture with `sites` allocations, each from its own stack and thread mix, half of them
/// freed: many sites for the grouping and the tree.
fn many_sites(sites: u64) -> Vec<u8> {
    let mut b = memreport_format::testing::CaptureBuilder::new();
    for id in 1..=600u64 {
        b.code_object(id, &format!("handler_{id}"), &format!("app/module_{}.py", id % 40), 1, &[]);
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..sites {
        b.context_switch(1 + i % 4);
        let depth = 8 + (next() % 16) as u8;
        for _ in 0..depth {
            b.frame_push(1 + next() % 600, 0, false);
        }
        let address = 0x1000_0000 + i * 4096;
        b.allocation(address, 32 + next() % 8192, 6, 0); // malloc
        if i % 2 == 0 {
            b.allocation(address, 0, 5, 0); // free
        }
        let mut left = depth;
        while left > 0 {
            b.frame_pop(left.min(16));
            left -= left.min(16);
        }
    }
    b.trailer();
    b.finish()
}

fn aggregate_and_tree(c: &mut Criterion) {
    let capture = Capture::from_bytes(many_sites(50_000)).unwrap();
    let analysis: Analysis = Analyzer::new().series(false).run(capture).unwrap();
    assert!(analysis.sites().len() > 45_000, "{} sites", analysis.sites().len());
    let peak_memory = analysis.peak_memory();
    let peak = analysis.entries(Mode::Peak, Threads::Merged).unwrap();
    let leaks = analysis.entries(Mode::Leaks, Threads::Merged).unwrap();
    let mut bench = c.benchmark_group("aggregate");
    bench.throughput(Throughput::Elements(analysis.sites().len() as u64));
    bench.bench_function("peak-rows+by-line", |b| {
        b.iter(|| {
            let rows = analysis.entries(Mode::Peak, Threads::Merged).unwrap();
            let groups = group(&analysis, &rows, By::Line);
            let total: u64 = groups.iter().map(|g| g.usage.bytes).sum();
            assert!(total <= peak_memory);
            groups.len()
        })
    });
    bench.bench_function("leak-rows+by-function", |b| {
        b.iter(|| {
            let rows = analysis.entries(Mode::Leaks, Threads::Merged).unwrap();
            group(&analysis, &rows, By::Function).len()
        })
    });
    bench.finish();
    let mut bench = c.benchmark_group("flame_tree");
    bench.throughput(Throughput::Elements(analysis.sites().len() as u64));
    bench.bench_function("peak", |b| {
        b.iter(|| {
            let tree = CallTree::build(&analysis, &peak);
            let at_peak: u64 = peak.iter().map(|e| e.usage.bytes).sum();
            assert_eq!(tree.nodes[0].usage.bytes, at_peak);
            tree
        })
    });
    bench.bench_function("leaks", |b| b.iter(|| CallTree::build(&analysis, &leaks)));
    bench.finish();
}

criterion_group!(benches, replay, aggregate_and_tree, threads_sharing_stacks);
criterion_main!(benches);
