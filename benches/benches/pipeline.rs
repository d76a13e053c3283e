//! Whole-pipeline and per-stage benchmarks on a 12 MP image.
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use trichometry::{analyze, color, erythema, Calibration, Params};
use trichometry_benches::phantom_12mp;

fn bench(c: &mut Criterion) {
    let image = phantom_12mp();
    let cal = Calibration::with_um_per_px(3.5).unwrap();
    let params = Params::default();
    let mut g = c.benchmark_group("12mp");
    g.sample_size(10);
    g.bench_function("to_linear", |b| {
        b.iter(|| color::to_linear(&black_box(&image).view()).unwrap())
    });
    let rgb = color::to_linear(&image.view()).unwrap();
    g.bench_function("erythema_maps", |b| {
        b.iter(|| erythema::erythema_maps(black_box(&rgb)))
    });
    g.bench_function("analyze", |b| {
        b.iter(|| analyze(black_box(&image), &cal, &params).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
