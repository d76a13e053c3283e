//! Hair shafts: segmentation, tracing, sub-pixel diameters.

use crate::analysis::StageInput;
use crate::error::Result;
use crate::image::{Labels, Mask};
use serde::{Deserialize, Serialize};

mod profile;

/// Hair-stage parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HairParams {}

/// One hair shaft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HairShaft {
    /// 1-based id, equal to its label in the label image.
    pub id: u32,
    /// Median diameter in µm.
    pub diameter_um: f64,
}

/// Image-level hair figures (`None` when the stage did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HairSummary {
    /// Number of shafts.
    pub hair_count: Option<usize>,
}

/// The output of the hair stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HairStage {
    /// The shafts.
    pub shafts: Vec<HairShaft>,
    /// Hair pixels.
    pub mask: Mask,
    /// One label per shaft.
    pub labels: Labels,
    /// Image-level figures.
    pub summary: HairSummary,
}

/// Find the hair shafts.
pub fn detect_hairs(input: &StageInput<'_>, _params: &HairParams) -> Result<HairStage> {
    let (w, h) = (input.rgb.width, input.rgb.height);
    Ok(HairStage {
        mask: Mask::filled(w, h, false),
        labels: Labels {
            width: w,
            height: h,
            data: vec![0; w * h],
            count: 0,
        },
        ..HairStage::default()
    })
}

#[cfg(test)]
mod tests {
    use super::profile;
    use crate::color::{linear_to_srgb, srgb_to_linear};
    use crate::image::Plane;
    use crate::kernels::gaussian_blur;
    use crate::synth::{hairs::paint_hairs, hairs::HairSceneSpec, skin, Rng, SceneSpec};

    /// Phantom → blurred, noisy, 8-bit luminance (linear).
    fn lum_phantom(
        upp: f64,
        blur: f32,
        noise: f32,
        seed: u64,
    ) -> (Plane, crate::synth::hairs::HairTruth) {
        let spec = SceneSpec {
            width: 700,
            height: 500,
            um_per_px: upp,
            seed,
            ..SceneSpec::default()
        };
        let rng = Rng::new(seed);
        let mut c = skin::paint_skin(&spec, &mut rng.fork(1));
        let hs = HairSceneSpec {
            density_per_cm2: 80.0,
            hairs_per_unit_weights: [1.0, 0.0, 0.0, 0.0],
            vellus_fraction: 0.3,
            terminal_fraction: 0.3,
            light_fraction: 0.3,
            ..HairSceneSpec::default()
        };
        let truth = paint_hairs(&mut c, &hs, &mut rng.fork(3)).unwrap();
        let mut nr = rng.fork(9);
        let mut planes = Vec::new();
        for ch in [&c.r, &c.g, &c.b] {
            let p = gaussian_blur(&Plane::from_vec(c.width, c.height, ch.clone()), blur);
            let q: Vec<f32> = p
                .data
                .iter()
                .map(|&v| {
                    let s = (linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0
                        + noise * nr.normal() as f32)
                        .round()
                        .clamp(0.0, 255.0);
                    srgb_to_linear(s / 255.0)
                })
                .collect();
            planes.push(q);
        }
        let lum: Vec<f32> = (0..planes[0].len())
            .map(|i| 0.2126 * planes[0][i] + 0.7152 * planes[1][i] + 0.0722 * planes[2][i])
            .collect();
        (Plane::from_vec(c.width, c.height, lum), truth)
    }

    #[test]
    #[ignore]
    fn explore_width_estimator_on_truth_centrelines() {
        for upp in [2.0, 3.5, 5.5] {
            for blur in [0.7f32, 1.2] {
                let (lum, truth) = lum_phantom(upp, blur, 2.0, 5 + upp as u64);
                let mut errs = Vec::new();
                for s in truth
                    .shafts
                    .iter()
                    .filter(|s| s.counted && s.crosses.is_empty())
                {
                    let pts: Vec<[f32; 2]> = s
                        .centreline_px
                        .iter()
                        .map(|p| [p[0] as f32, p[1] as f32])
                        .collect();
                    let wg = (s.diameter_um / upp) as f32;
                    let mut out = Vec::new();
                    profile::measure(
                        &lum,
                        &pts,
                        wg,
                        2.0,
                        wg.max(3.0) + 50.0 / upp as f32,
                        &|x, y| x < 0.0 || y < 0.0 || x > 699.0 || y > 499.0,
                        &mut out,
                    );
                    if out.len() < 5 {
                        continue;
                    }
                    let mut wv: Vec<f32> = out.iter().map(|o| o.width_px).collect();
                    let m = profile::median(&mut wv) as f64 * upp;
                    errs.push((s.diameter_um, m - s.diameter_um, s.light, wg));
                }
                let big: Vec<_> = errs.iter().filter(|e| e.3 >= 4.0).collect();
                let mae = big.iter().map(|e| e.1.abs()).sum::<f64>() / big.len() as f64;
                let bias = big.iter().map(|e| e.1).sum::<f64>() / big.len() as f64;
                println!(
                    "upp {upp} blur {blur}: n {} mae {mae:.2} bias {bias:.2}",
                    big.len()
                );
                for e in &errs {
                    println!(
                        "   d {:.1} err {:+.2} light {} wpx {:.1}",
                        e.0, e.1, e.2, e.3
                    );
                }
            }
        }
    }
}
