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

/// A 12 MP phantom of the scalp's surface signs at `um_per_px`: the hair
/// phantom's scene ([`hair_phantom_12mp`]: seed 13, the default hair scene,
/// realistic optics) with yellow dots (300 per cm²), pinpoint white dots
/// (300 per cm²) and white scales (120 per cm²); with its true hair mask,
/// which stands in for the hair stage's mask (the stage's other input)
/// without running that stage.
pub fn scalp_sign_phantom_12mp(um_per_px: f64) -> (Image, trichometry::Mask) {
    let spec = SceneSpec {
        width: BENCH_SIZE.0,
        height: BENCH_SIZE.1,
        um_per_px,
        seed: 13,
        hairs: Some(synth::hairs::HairSceneSpec {
            yellow_dots_per_cm2: 300.0,
            white_dots_per_cm2: 300.0,
            scales_per_cm2: 120.0,
            ..synth::hairs::HairSceneSpec::default()
        }),
        optics: synth::optics::OpticsSpec::realistic(),
        ..SceneSpec::default()
    };
    let p = synth::render(&spec).expect("phantom renders");
    (p.image, p.truth.hairs.hair_mask)
}

/// An image as the pipeline's stages see it: linear RGB and the analysable
/// mask (not glare, as the quality stage finds it).
pub fn linear_without_glare(image: &Image) -> (trichometry::color::LinearRgb, trichometry::Mask) {
    let rgb = trichometry::color::to_linear(&image.view()).expect("8-bit RGB converts");
    let q = trichometry::quality::assess(&rgb, &trichometry::quality::QualityParams::default());
    let valid = q.glare_mask.complement();
    (rgb, valid)
}

/// An image as a stage sees it: linear RGB and an all-valid mask.
pub fn linear_all_valid(image: &Image) -> (trichometry::color::LinearRgb, trichometry::Mask) {
    let rgb = trichometry::color::to_linear(&image.view()).expect("8-bit RGB converts");
    let valid = trichometry::Mask::filled(rgb.width, rgb.height, true);
    (rgb, valid)
}

/// CPU time of all threads of this process (ns), from
/// `/proc/self/task/*/schedstat` (Linux; 0 elsewhere): on a shared machine
/// the wall clock also counts the time other processes ran.
pub fn process_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The bench's baseline / follow-up pair of one 12 MP site (3.5 µm/px,
/// seed 17; the follow-up rotated 6°, scaled 1.03, shifted, with a white
/// balance and exposure drift and JPEG 85), both visits analysed with the
/// default parameters: what `compare` takes.
pub struct AnalysedPair {
    /// The rendered pair (images and truth).
    pub pair: trichometry::synth::pair::Pair,
    /// `analyze` of the baseline image.
    pub baseline: trichometry::Analysis,
    /// `analyze` of the follow-up image.
    pub followup: trichometry::Analysis,
}

/// Render and analyse the bench's 12 MP pair ([`AnalysedPair`]).
pub fn analysed_pair_12mp() -> AnalysedPair {
    use trichometry::synth::pair::{render_pair, PairSpec, PairVisit, VisitSpec};
    let (w, h) = BENCH_SIZE;
    let mut spec = PairSpec {
        followup: VisitSpec {
            rotation_deg: 6.0,
            scale: 1.03,
            shift_frac: [0.08, -0.05],
            white_balance: [1.05, 1.0, 0.93],
            exposure: 0.9,
            jpeg_quality: Some(85),
            ..VisitSpec::default()
        },
        ..PairSpec::default()
    };
    spec.scene.width = w;
    spec.scene.height = h;
    spec.scene.um_per_px = 3.5;
    spec.scene.seed = 17;
    let pair = render_pair(&spec).expect("pair renders");
    let params = trichometry::Params::default();
    let run = |v: &PairVisit| {
        let cal = trichometry::Calibration::with_um_per_px(v.um_per_px_nominal).unwrap();
        trichometry::analyze(&v.image, &cal, &params).expect("visit analyses")
    };
    let (baseline, followup) = (run(&pair.baseline), run(&pair.followup));
    AnalysedPair {
        pair,
        baseline,
        followup,
    }
}
