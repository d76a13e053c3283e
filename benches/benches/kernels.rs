//! Per-kernel benchmarks on a 4000 × 3000 plane (12 MP) with realistic content:
//! a smooth noisy plane, and masks with ~10 % foreground of thin lines and blobs
//! (like hair and vessel masks). Run one group with e.g.
//! `cargo bench -p trichometry-benches --bench kernels -- gaussian`.
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use trichometry::kernels::{
    black_tophat, blob_response, dilate, distance_transform, downsample2, gaussian_blur, hessian,
    hysteresis, label, max_filter, ridge_response, skeleton_graph, skeletonize, Footprint,
    Polarity,
};
use trichometry::{Mask, Plane};
use trichometry_benches::BENCH_SIZE;

/// SplitMix64: a tiny deterministic generator for the fixtures.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unif(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Smooth shading + dark thin lines + white noise, values in about [0, 1].
fn plane() -> Plane {
    let (w, h) = BENCH_SIZE;
    let mut rng = Rng(11);
    let mut data = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            data[y * w + x] =
                0.6 + 0.15 * (6.0 * fx).sin() * (4.0 * fy).cos() + 0.05 * (rng.unif() - 0.5);
        }
    }
    // A few hundred dark "hairs" (lines 3–9 px wide).
    let m = lines_and_blobs(300, 0, (1.5, 4.5), 5);
    for (d, &b) in data.iter_mut().zip(&m.data) {
        if b {
            *d -= 0.3;
        }
    }
    Plane::from_vec(w, h, data)
}

/// Mask of `n_lines` random segments (half-width range) and `n_blobs` discs.
fn lines_and_blobs(n_lines: usize, n_blobs: usize, half: (f32, f32), seed: u64) -> Mask {
    let (w, h) = BENCH_SIZE;
    let mut rng = Rng(seed);
    let mut m = Mask::filled(w, h, false);
    for _ in 0..n_lines {
        let (x0, y0) = (rng.unif() * w as f32, rng.unif() * h as f32);
        let ang = rng.unif() * std::f32::consts::PI;
        let len = 200.0 + rng.unif() * 800.0;
        let hw = half.0 + rng.unif() * (half.1 - half.0);
        let (dx, dy) = (ang.cos(), ang.sin());
        let steps = len as usize;
        let r = hw.ceil() as isize;
        for s in 0..steps {
            let (cx, cy) = (x0 + dx * s as f32, y0 + dy * s as f32);
            for oy in -r..=r {
                for ox in -r..=r {
                    if (ox * ox + oy * oy) as f32 > hw * hw {
                        continue;
                    }
                    let (px, py) = (cx as isize + ox, cy as isize + oy);
                    if px >= 0 && py >= 0 && (px as usize) < w && (py as usize) < h {
                        m.data[py as usize * w + px as usize] = true;
                    }
                }
            }
        }
    }
    for _ in 0..n_blobs {
        let (cx, cy) = (rng.unif() * w as f32, rng.unif() * h as f32);
        let rad = 4.0 + rng.unif() * 16.0;
        let r = rad.ceil() as isize;
        for oy in -r..=r {
            for ox in -r..=r {
                if (ox * ox + oy * oy) as f32 > rad * rad {
                    continue;
                }
                let (px, py) = (cx as isize + ox, cy as isize + oy);
                if px >= 0 && py >= 0 && (px as usize) < w && (py as usize) < h {
                    m.data[py as usize * w + px as usize] = true;
                }
            }
        }
    }
    m
}

fn bench(c: &mut Criterion) {
    let p = plane();
    let mask = lines_and_blobs(350, 400, (1.0, 5.0), 3);
    eprintln!("mask foreground: {:.1} %", 100.0 * mask.fraction());
    let mut g = c.benchmark_group("kernels");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("downsample2", |b| b.iter(|| downsample2(black_box(&p))));
    for sigma in [1.0f32, 2.0, 4.0, 8.0, 16.0] {
        g.bench_function(format!("gaussian_s{sigma}"), |b| {
            b.iter(|| gaussian_blur(black_box(&p), sigma))
        });
    }
    g.bench_function("hessian_s2", |b| b.iter(|| hessian(black_box(&p), 2.0)));
    g.bench_function("ridge_1s_s2", |b| {
        b.iter(|| ridge_response(black_box(&p), &[2.0], Polarity::Dark))
    });
    g.bench_function("ridge_1s_s4", |b| {
        b.iter(|| ridge_response(black_box(&p), &[4.0], Polarity::Dark))
    });
    g.bench_function("ridge_4s", |b| {
        b.iter(|| ridge_response(black_box(&p), &[1.5, 2.0, 3.0, 4.0], Polarity::Dark))
    });
    g.bench_function("blob_4s", |b| {
        b.iter(|| blob_response(black_box(&p), &[1.5, 2.0, 3.0, 4.0], Polarity::Dark))
    });
    g.bench_function("label", |b| b.iter(|| label(black_box(&mask))));
    let inv = Plane::from_vec(p.width, p.height, p.data.iter().map(|v| 1.0 - v).collect());
    g.bench_function("hysteresis", |b| {
        b.iter(|| hysteresis(black_box(&inv), 0.62, 0.68))
    });
    g.bench_function("distance_transform", |b| {
        b.iter(|| distance_transform(black_box(&mask)))
    });
    g.bench_function("dilate_r5", |b| b.iter(|| dilate(black_box(&mask), 5.0)));
    g.bench_function("max_filter_square_r5", |b| {
        b.iter(|| max_filter(black_box(&p), 5, Footprint::Square))
    });
    g.bench_function("black_tophat_disc_r5", |b| {
        b.iter(|| black_tophat(black_box(&p), 5, Footprint::Disc))
    });
    g.bench_function("skeletonize", |b| b.iter(|| skeletonize(black_box(&mask))));
    let skel = skeletonize(&mask);
    g.bench_function("skeleton_graph", |b| {
        b.iter(|| skeleton_graph(black_box(&skel)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
