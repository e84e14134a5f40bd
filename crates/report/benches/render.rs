//! Rendering time of the HTML pages, the analysis excluded: the incident report and the flame
//! graph pages of the largest fixture (`fixtures/v13-service`). Each run checks the page's size,
//! so a renderer that writes nothing cannot look fast.

use criterion::{criterion_group, criterion_main, Criterion};
use memreport_analysis::{Analysis, Analyzer, Mode, Threads};
use memreport_format::Capture;
use memreport_report::html::{self, FlamegraphView};

const FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-service/capture.bin");

fn analysis() -> Analysis {
    let file = std::fs::read(FIXTURE).expect("fixture");
    Analyzer::new().temporary([1]).run(Capture::from_bytes(file).unwrap()).unwrap()
}

fn render(c: &mut Criterion) {
    let analysis = analysis();
    let mut group = c.benchmark_group("render");
    group.sample_size(30);
    group.bench_function("report", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(1 << 20);
            html::write_report(&mut out, &analysis, "capture.bin").unwrap();
            assert!(out.len() > 50_000);
        })
    });
    for (name, mode) in [("flamegraph", Mode::Peak), ("flamegraph-leaks", Mode::Leaks)] {
        let view = FlamegraphView { mode, threads: Threads::Merged, inverted: false };
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(1 << 20);
                html::write_flamegraph(&mut out, &analysis, view, "capture.bin").unwrap().unwrap();
                assert!(out.len() > 20_000);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
