//! Skin: base colour, mottling, erythema patches; and the skin truth.

use super::{Canvas, Rng, SceneSpec, Truth};
use crate::color;
use crate::image::Mask;
use serde::{Deserialize, Serialize};

/// Skin colour and texture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkinSpec {
    /// Base CIELAB colour of the skin.
    pub lab: [f32; 3],
}

impl Default for SkinSpec {
    fn default() -> Self {
        SkinSpec {
            lab: [62.0, 14.0, 16.0],
        }
    }
}

/// Paint the skin.
pub fn paint_skin(spec: &SceneSpec, _rng: &mut Rng) -> Canvas {
    let rgb = color::lab_to_linear_rgb(spec.skin.lab);
    Canvas::new(spec.width, spec.height, spec.um_per_px, rgb)
}

/// Fill the skin part of the truth from the finished scene.
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
        v.sort_by(f64::total_cmp);
        (mean, v[(v.len() - 1) / 2])
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
