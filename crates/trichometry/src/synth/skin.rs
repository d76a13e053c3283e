//! Skin: base colour, mottling, melanin variation, fine texture, erythema
//! patches; and the skin truth.
//!
//! The skin is built in CIELAB (D65) and converted to linear reflectance:
//! L* and a* get low-frequency mottling, melanin variation darkens and
//! yellows (−L*, +b*, a little +a*), a fine texture modulates L* only (so it
//! does not look like vessels in a*), and erythema patches are Gaussian
//! bumps of a* (with a slight drop of L*).

use super::{Canvas, Rng, SceneSpec, Truth};
use crate::color;
use crate::image::Mask;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Skin colour and texture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SkinSpec {
    /// Base CIELAB colour of the skin.
    pub lab: [f32; 3],
    /// Standard deviation of the L* mottling.
    pub mottling_l: f32,
    /// Standard deviation of the a* mottling.
    pub mottling_a: f32,
    /// Feature size of the mottling, µm.
    pub mottling_scale_um: f64,
    /// Standard deviation of the melanin variation (in L* units of darkening).
    pub melanin: f32,
    /// Feature size of the melanin variation, µm.
    pub melanin_scale_um: f64,
    /// Standard deviation of the fine texture in L*.
    pub texture_l: f32,
    /// Feature size of the fine texture, µm.
    pub texture_scale_um: f64,
    /// Number of erythema patches.
    pub erythema_patches: usize,
    /// a* rise at the centre of an erythema patch.
    pub erythema_patch_a: f32,
    /// Radius (Gaussian σ) of an erythema patch, µm.
    pub erythema_patch_radius_um: f64,
}

impl Default for SkinSpec {
    fn default() -> Self {
        SkinSpec {
            lab: [62.0, 14.0, 16.0],
            mottling_l: 1.5,
            mottling_a: 1.0,
            mottling_scale_um: 400.0,
            melanin: 1.5,
            melanin_scale_um: 900.0,
            texture_l: 1.0,
            texture_scale_um: 25.0,
            erythema_patches: 2,
            erythema_patch_a: 5.0,
            erythema_patch_radius_um: 250.0,
        }
    }
}

impl SkinSpec {
    /// Uniform skin of one CIELAB colour (no texture at all).
    pub fn flat(lab: [f32; 3]) -> Self {
        SkinSpec {
            lab,
            mottling_l: 0.0,
            mottling_a: 0.0,
            melanin: 0.0,
            texture_l: 0.0,
            erythema_patches: 0,
            ..SkinSpec::default()
        }
    }
}

/// Smooth value noise with zero mean and unit standard deviation (measured
/// on the field itself): normal deviates on a grid of `cell` pixels,
/// interpolated with smoothstep weights.
pub fn value_noise(width: usize, height: usize, cell: f64, rng: &mut Rng) -> Vec<f32> {
    let cell = cell.max(1.0);
    let gw = (width as f64 / cell).ceil() as usize + 2;
    let gh = (height as f64 / cell).ceil() as usize + 2;
    let grid: Vec<f32> = (0..gw * gh).map(|_| rng.normal() as f32).collect();
    let mut out = vec![0f32; width * height];
    let ss = |t: f32| t * t * (3.0 - 2.0 * t);
    out.par_chunks_mut(width.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            let fy = y as f64 / cell;
            let iy = fy.floor() as usize;
            let ty = ss((fy - iy as f64) as f32);
            for (x, o) in row.iter_mut().enumerate() {
                let fx = x as f64 / cell;
                let ix = fx.floor() as usize;
                let tx = ss((fx - ix as f64) as f32);
                let g = |i: usize, j: usize| grid[j * gw + i];
                let top = g(ix, iy) * (1.0 - tx) + g(ix + 1, iy) * tx;
                let bot = g(ix, iy + 1) * (1.0 - tx) + g(ix + 1, iy + 1) * tx;
                *o = top * (1.0 - ty) + bot * ty;
            }
        });
    let n = out.len().max(1) as f64;
    let mean = out.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = out.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt().max(1e-12);
    for v in &mut out {
        *v = ((*v as f64 - mean) / sd) as f32;
    }
    out
}

/// Paint the skin.
pub fn paint_skin(spec: &SceneSpec, rng: &mut Rng) -> Canvas {
    let s = &spec.skin;
    let (w, h, um) = (spec.width, spec.height, spec.um_per_px);
    let mut canvas = Canvas::new(w, h, um, color::lab_to_linear_rgb(s.lab));
    let field = |amp: f32, scale_um: f64, stream: u64| -> Option<Vec<f32>> {
        (amp != 0.0).then(|| value_noise(w, h, scale_um / um, &mut rng.fork(stream)))
    };
    let mot_l = field(s.mottling_l, s.mottling_scale_um, 1);
    let mot_a = field(s.mottling_a, s.mottling_scale_um, 2);
    let mel = field(s.melanin, s.melanin_scale_um, 3);
    let tex = field(s.texture_l, s.texture_scale_um, 4);
    let mut prng = rng.fork(5);
    let patches: Vec<[f64; 2]> = (0..s.erythema_patches)
        .map(|_| [prng.range(0.0, w as f64), prng.range(0.0, h as f64)])
        .collect();
    let rho = (s.erythema_patch_radius_um / um).max(1.0);
    let Canvas { r, g, b, .. } = &mut canvas;
    r.par_chunks_mut(w)
        .zip(g.par_chunks_mut(w))
        .zip(b.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, ((rr, gg), bb))| {
            for x in 0..w {
                let i = y * w + x;
                let at = |f: &Option<Vec<f32>>| f.as_ref().map_or(0.0, |v| v[i]);
                let m = s.melanin * at(&mel);
                let mut ery = 0f32;
                for p in &patches {
                    let d2 = (x as f64 - p[0]).powi(2) + (y as f64 - p[1]).powi(2);
                    ery += (s.erythema_patch_a as f64 * (-0.5 * d2 / (rho * rho)).exp()) as f32;
                }
                let lab = [
                    s.lab[0] + s.mottling_l * at(&mot_l) - m + s.texture_l * at(&tex) - 0.3 * ery,
                    s.lab[1] + s.mottling_a * at(&mot_a) + 0.2 * m + ery,
                    s.lab[2] + 0.6 * m,
                ];
                let c = color::lab_to_linear_rgb(lab);
                rr[x] = c[0].clamp(0.0, 1.0);
                gg[x] = c[1].clamp(0.0, 1.0);
                bb[x] = c[2].clamp(0.0, 1.0);
            }
        });
    canvas
}

/// Fill the skin part of the truth from the finished scene (exact scalar
/// formulas; uncovered pixels only).
pub fn skin_truth(canvas: &Canvas, truth: &mut Truth) {
    let mut a = Vec::new();
    let mut e = Vec::new();
    for i in 0..canvas.r.len() {
        if !canvas.covered[i] {
            let p = [canvas.r[i], canvas.g[i], canvas.b[i]];
            a.push(color::linear_rgb_to_lab(p)[1] as f64);
            e.push(color::erythema_index(p[0], p[1]) as f64);
        }
    }
    let stats = |v: &mut Vec<f64>| -> (f64, f64) {
        if v.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        // The lower median by selection (O(n)): the value a full sort puts
        // there, for a fraction of the time (a pair phantom's canvas holds
        // millions of skin pixels).
        let k = (v.len() - 1) / 2;
        let (_, &mut med, _) = v.select_nth_unstable_by(k, f64::total_cmp);
        (mean, med)
    };
    (truth.skin_a_star_mean, truth.skin_a_star_median) = stats(&mut a);
    (
        truth.skin_erythema_index_mean,
        truth.skin_erythema_index_median,
    ) = stats(&mut e);
    truth.skin_mask = Mask {
        width: canvas.width,
        height: canvas.height,
        data: canvas.covered.iter().map(|&c| !c).collect(),
    };
}
