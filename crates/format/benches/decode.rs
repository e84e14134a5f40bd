//! Decode throughput on the largest fixture (`fixtures/v13-service`: 444k allocation records, 2.1 MB
//! of decompressed stream in a 163 KB LZ4 file), in records/s and in MB/s of decompressed stream.
//!
//! Three levels: the LZ4 frame alone (the physical limit), records (LZ4 + varint decode), and
//! events (records + stack bookkeeping, what every analysis consumes), one at a time and in the
//! batches the analysis pass reads. Each benchmark asserts the
//! record count so a broken decoder cannot look fast.

use std::io::Read;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memreport_format::events::Events;
use memreport_format::Capture;

const FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-service/capture.bin");

/// Counts the items of a fallible iterator, failing the benchmark on the first error.
fn count_ok<T, E: std::fmt::Debug>(items: impl Iterator<Item = Result<T, E>>) -> u64 {
    let mut n = 0;
    for item in items {
        item.unwrap();
        n += 1;
    }
    n
}

fn counts(bytes: &[u8]) -> (u64, u64) {
    let capture = Capture::from_bytes(bytes.to_vec()).unwrap();
    let mut records = capture.records();
    let n = count_ok(records.by_ref());
    (n, records.offset())
}

fn decode(c: &mut Criterion) {
    let file = std::fs::read(FIXTURE).expect("fixture");
    let (n_records, stream_bytes) = counts(&file);

    for (unit, throughput) in
        [("records", Throughput::Elements(n_records)), ("bytes", Throughput::Bytes(stream_bytes))]
    {
        let mut group = c.benchmark_group(format!("decode_{unit}"));
        group.throughput(throughput);
        group.bench_function(BenchmarkId::new("lz4_only", "v13-service"), |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(stream_bytes as usize + 4096);
                lz4_flex::frame::FrameDecoder::new(&file[..]).read_to_end(&mut out).unwrap();
                assert!(out.len() as u64 >= stream_bytes);
                out.len()
            })
        });
        group.bench_function(BenchmarkId::new("records", "v13-service"), |b| {
            b.iter(|| {
                let records = Capture::from_bytes(file.clone()).unwrap().records();
                let n = count_ok(records);
                assert_eq!(n, n_records);
                n
            })
        });
        group.bench_function(BenchmarkId::new("events", "v13-service"), |b| {
            b.iter(|| {
                let (header, records) = Capture::from_bytes(file.clone()).unwrap().into_parts();
                let mut events = Events::new(header, records);
                let n = count_ok(events.by_ref());
                assert_eq!(events.counts().records, n_records);
                n
            })
        });
        group.bench_function(BenchmarkId::new("events_batched", "v13-service"), |b| {
            b.iter(|| {
                // The pass's own path: hot records in runs, events in batches of 2048.
                let (header, records) = Capture::from_bytes(file.clone()).unwrap().into_parts();
                let mut events = Events::new(header, records);
                let mut batch = Vec::with_capacity(2048);
                let mut n = 0;
                loop {
                    batch.clear();
                    let more = events.fill(&mut batch, 2048).unwrap();
                    n += batch.len() as u64;
                    if !more {
                        break;
                    }
                }
                assert_eq!(events.counts().records, n_records);
                n
            })
        });
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
