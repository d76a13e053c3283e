//! Colour conversion and erythema maps on a 12-megapixel (4000×3000) image.
//!
//! Target on a 2-core machine: `to_linear` + `erythema_maps` ≤ 40 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use trichometry::calibration::ColourCorrection;
use trichometry::color::{to_linear, to_linear_into};
use trichometry::erythema::{erythema_maps, erythema_maps_into, summarize};
use trichometry::quality::{assess, QualityParams};
use trichometry::synth::{self, SceneSpec};
use trichometry::{ColourCalibrationKind, Mask, Samples};

fn phantom_12mp() -> trichometry::Image {
    synth::render(&SceneSpec {
        width: 4000,
        height: 3000,
        um_per_px: 3.5,
        seed: 1,
        ..Default::default()
    })
    .expect("phantom")
    .image
}

fn colour(c: &mut Criterion) {
    let image = phantom_12mp();
    let view = image.view();
    let rgb = to_linear(&view).expect("linear");
    let maps = erythema_maps(&rgb);
    let skin = Mask {
        width: rgb.width,
        height: rgb.height,
        data: (0..rgb.width * rgb.height).map(|i| i % 17 != 0).collect(),
    };
    let correction = ColourCorrection {
        kind: ColourCalibrationKind::Chart,
        matrix: [[1.1, 0.05, -0.02], [0.02, 0.95, 0.01], [0.0, 0.04, 0.9]],
        ..ColourCorrection::identity()
    };

    let mut g = c.benchmark_group("colour_12mp");
    g.sample_size(20);
    g.bench_function("to_linear_u8", |b| b.iter(|| to_linear(black_box(&view))));
    g.bench_function("erythema_maps", |b| {
        b.iter(|| erythema_maps(black_box(&rgb)))
    });
    g.bench_function("to_linear+erythema_maps", |b| {
        b.iter(|| erythema_maps(&to_linear(black_box(&view)).expect("linear")))
    });
    // The same work into reused buffers (a batch keeps them): no page faults.
    let mut rgb_buf = rgb.clone();
    let mut maps_buf = maps.clone();
    g.bench_function("to_linear+erythema_maps_reused_buffers", |b| {
        b.iter(|| {
            to_linear_into(black_box(&view), &mut rgb_buf).expect("linear");
            erythema_maps_into(&rgb_buf, &mut maps_buf);
        })
    });
    g.bench_function("to_linear_u8_reused", |b| {
        b.iter(|| to_linear_into(black_box(&view), &mut rgb_buf).expect("linear"))
    });
    g.bench_function("erythema_maps_reused", |b| {
        b.iter(|| erythema_maps_into(black_box(&rgb), &mut maps_buf))
    });
    g.bench_function("summarize", |b| {
        b.iter(|| summarize(black_box(&maps), black_box(&skin)))
    });
    g.bench_function("colour_correction_apply", |b| {
        b.iter_batched_ref(
            || rgb.clone(),
            |x| correction.apply(x),
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("quality_assess", |b| {
        b.iter(|| assess(black_box(&rgb), &QualityParams::default()))
    });
    g.finish();
}

/// Encode the phantom as JPEG (quality 90) or PNG (8-bit RGB, default
/// compression) in memory.
fn encoded(image: &trichometry::Image, png: bool) -> Vec<u8> {
    use image::ImageEncoder;
    let Samples::U8(s) = image.samples() else {
        panic!("8-bit phantom")
    };
    let (w, h) = (image.width() as u32, image.height() as u32);
    let mut buf = Vec::new();
    if png {
        image::codecs::png::PngEncoder::new(&mut buf)
            .write_image(s, w, h, image::ExtendedColorType::Rgb8)
            .expect("png");
    } else {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode(s, w, h, image::ExtendedColorType::Rgb8)
            .expect("jpeg");
    }
    buf
}

fn decode(c: &mut Criterion) {
    let image = phantom_12mp();
    let jpeg = encoded(&image, false);
    let png = encoded(&image, true);
    let mut g = c.benchmark_group("decode_12mp");
    g.sample_size(10);
    g.bench_function("jpeg_q90", |b| {
        b.iter(|| trichometry::decode(black_box(&jpeg)).expect("jpeg"))
    });
    g.bench_function("png_rgb8", |b| {
        b.iter(|| trichometry::decode(black_box(&png)).expect("png"))
    });
    g.finish();
}

criterion_group!(benches, colour, decode);
criterion_main!(benches);
