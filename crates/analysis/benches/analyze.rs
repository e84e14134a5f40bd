//! Analysis throughput on the largest fixture (`fixtures/v13-service`: 444k allocation records in
//! 888k records), in records/s: the whole pass (decode, stacks, live heap, peak, per-site totals,
//! stats accumulators), on two cores (decoding on the second) and on one, with and without
//! temporary allocations and per-site series; and on two
//! real services (`fixtures/real-flask-threads`, Flask with a thread per request, 2,003 threads;
//! `fixtures/real-django-runserver`), with sites merged across threads as the commands run and
//! kept per thread as `--split-threads` does. Each run asserts the peak memray reports, so a
//! broken analysis cannot look fast.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use memreport_analysis::{Analyzer, Threads};
use memreport_format::Capture;

const FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-service/capture.bin");

/// memray 1.20's `peak_memory` for the fixture (its stats.json).
const PEAK: u64 = 1_141_940;

/// Builds the analyzer of one benchmark.
type MakeAnalyzer = fn() -> Analyzer<'static>;

fn analyze(c: &mut Criterion) {
    let file = std::fs::read(FIXTURE).expect("fixture");
    let first = Analyzer::new().run(Capture::from_bytes(file.clone()).unwrap()).unwrap();
    assert_eq!(first.peak_memory(), PEAK);
    let mut group = c.benchmark_group("analyze");
    group.throughput(Throughput::Elements(first.counts().records));
    group.sample_size(20);
    // The default pass decodes on a second thread; `one-thread` is the same pass on one core.
    let runs: [(&str, MakeAnalyzer); 4] = [
        ("peak+leaks+stats", || Analyzer::new().series(false)),
        ("peak+leaks+stats/one-thread", || Analyzer::new().series(false).parallel(false)),
        ("with-series", Analyzer::new),
        ("with-temporary-1", || Analyzer::new().series(false).temporary([1])),
    ];
    for (name, make) in runs {
        group.bench_function(name, |b| {
            b.iter(|| {
                let capture = Capture::from_bytes(file.clone()).unwrap();
                let analysis = make().run(capture).unwrap();
                assert_eq!(analysis.peak_memory(), PEAK);
            })
        });
    }
    group.finish();
}

/// The real services, with memray 1.20's `peak_memory` for each (their stats.json).
const REAL: [(&str, u64); 2] =
    [("real-flask-threads", FLASK_PEAK), ("real-django-runserver", DJANGO_PEAK)];
const FLASK_PEAK: u64 = 48_657_016;
const DJANGO_PEAK: u64 = 16_370_833;

fn real_services(c: &mut Criterion) {
    let mut group = c.benchmark_group("real");
    group.sample_size(10);
    for (fixture, peak) in REAL {
        let path = format!("{}/../../fixtures/{fixture}/capture.bin", env!("CARGO_MANIFEST_DIR"));
        let file = std::fs::read(&path).expect("fixture");
        let first = Analyzer::new().run(Capture::from_bytes(file.clone()).unwrap()).unwrap();
        assert_eq!(first.peak_memory(), peak, "{fixture}");
        group.throughput(Throughput::Elements(first.counts().records));
        for (name, threads) in [("merged", Threads::Merged), ("split", Threads::Split)] {
            group.bench_function(format!("{fixture}/{name}"), |b| {
                b.iter(|| {
                    let capture = Capture::from_bytes(file.clone()).unwrap();
                    let analysis = Analyzer::new().threads(threads).run(capture).unwrap();
                    assert_eq!(analysis.peak_memory(), peak);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, analyze, real_services);
criterion_main!(benches);
