//! Time the yellow-dot and scale stage on a 12 MP phantom (4000 × 3000 at
//! 3.5 and 5.5 µm/px, realistic optics). Run with `--release`.

use std::time::Instant;
use trichometry::color::to_linear;
use trichometry::quality::{assess, QualityParams};
use trichometry::scalp_signs::{detect_scalp_signs, ScalpSignParams};
use trichometry::synth::hairs::HairSceneSpec;
use trichometry::synth::optics::OpticsSpec;
use trichometry::synth::{render, SceneSpec};
use trichometry::StageInput;

fn main() {
    for upp in [2.0, 3.5, 5.5] {
        let spec = SceneSpec {
            width: 4000,
            height: 3000,
            um_per_px: upp,
            seed: 3,
            hairs: Some(HairSceneSpec {
                yellow_dots_per_cm2: 300.0,
                white_dots_per_cm2: 300.0,
                scales_per_cm2: 120.0,
                ..HairSceneSpec::default()
            }),
            optics: OpticsSpec::realistic(),
            ..SceneSpec::default()
        };
        let p = render(&spec).unwrap();
        let rgb = to_linear(&p.image.view()).unwrap();
        let q = assess(&rgb, &QualityParams::default());
        let valid = q.glare_mask.complement();
        let input = StageInput {
            rgb: &rgb,
            um_per_px: upp,
            valid: &valid,
        };
        let hair = &p.truth.hairs.hair_mask;
        let params = ScalpSignParams::default();
        let _ = detect_scalp_signs(&input, Some(hair), &params).unwrap();
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..7 {
            let t = Instant::now();
            last = Some(detect_scalp_signs(&input, Some(hair), &params).unwrap());
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let s = last.unwrap();
        println!(
            "{upp} um/px 4000x3000: median {:.1} ms (min {:.1}) — {} dots (truth {}), scale {:.4} (truth {:.4})",
            times[3],
            times[0],
            s.yellow_dots.len(),
            p.truth.hairs.yellow_dots.len(),
            s.summary.scale_area_fraction.unwrap(),
            p.truth.hairs.scale_area_fraction
        );
    }
}
