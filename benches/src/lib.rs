//! Shared fixtures for the criterion benches: 12-megapixel phantoms.
#![deny(missing_docs)]

use trichometry::synth::{self, SceneSpec};
use trichometry::Image;

/// Width and height of the benchmark image (12 MP, as a trichoscope camera).
pub const BENCH_SIZE: (usize, usize) = (4000, 3000);

/// A 12 MP phantom with everything the generator can render, at 3.5 µm/px.
pub fn phantom_12mp() -> Image {
    let spec = SceneSpec {
        width: BENCH_SIZE.0,
        height: BENCH_SIZE.1,
        um_per_px: 3.5,
        seed: 7,
        ..SceneSpec::default()
    };
    synth::render(&spec).expect("phantom renders").image
}

/// A 12 MP phantom of skin with capillaries (dots, loops, twisted loops,
/// arborizing vessels) under the realistic optics, at `um_per_px`.
pub fn vessel_phantom_12mp(um_per_px: f64) -> Image {
    let spec = SceneSpec {
        width: BENCH_SIZE.0,
        height: BENCH_SIZE.1,
        um_per_px,
        seed: 9,
        vessels: Some(synth::vessels::VesselSceneSpec::default()),
        optics: synth::optics::OpticsSpec::realistic(),
        ..SceneSpec::default()
    };
    synth::render(&spec).expect("phantom renders").image
}

/// A 12 MP phantom of skin with hair (the default hair scene: 200 hairs per
/// cm², follicular units of 1–4, vellus to terminal, some blond) under the
/// realistic optics, at `um_per_px`.
pub fn hair_phantom_12mp(um_per_px: f64) -> Image {
    let spec = SceneSpec {
        width: BENCH_SIZE.0,
        height: BENCH_SIZE.1,
        um_per_px,
        seed: 13,
        hairs: Some(synth::hairs::HairSceneSpec::default()),
        optics: synth::optics::OpticsSpec::realistic(),
        ..SceneSpec::default()
    };
    synth::render(&spec).expect("phantom renders").image
}

/// An image as a stage sees it: linear RGB and an all-valid mask.
pub fn linear_all_valid(image: &Image) -> (trichometry::color::LinearRgb, trichometry::Mask) {
    let rgb = trichometry::color::to_linear(&image.view()).expect("8-bit RGB converts");
    let valid = trichometry::Mask::filled(rgb.width, rgb.height, true);
    (rgb, valid)
}
