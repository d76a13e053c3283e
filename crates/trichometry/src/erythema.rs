//! Erythema: per-pixel a* and erythema-index maps, summaries over skin only.

use crate::color::LinearRgb;
use crate::image::{Mask, Plane};
use serde::{Deserialize, Serialize};

/// Erythema summaries over skin (`None` when there is no colour or no skin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ErythemaSummary {
    /// Mean CIELAB a* over skin.
    pub erythema_a_star_mean: Option<f64>,
    /// Median a*.
    pub erythema_a_star_median: Option<f64>,
    /// 10th percentile of a*.
    pub erythema_a_star_p10: Option<f64>,
    /// 90th percentile of a*.
    pub erythema_a_star_p90: Option<f64>,
    /// Mean erythema index over skin.
    pub erythema_index_mean: Option<f64>,
    /// Median erythema index.
    pub erythema_index_median: Option<f64>,
}

/// Per-pixel maps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErythemaMaps {
    /// CIELAB a* per pixel.
    pub a_star: Plane,
    /// EI = 100·log10(R/G) per pixel.
    pub erythema_index: Plane,
}

/// Compute the a* and EI maps of (colour-corrected) linear RGB.
pub fn erythema_maps(rgb: &LinearRgb) -> ErythemaMaps {
    let (w, h) = (rgb.width, rgb.height);
    let mut a = Vec::with_capacity(w * h);
    let mut ei = Vec::with_capacity(w * h);
    for i in 0..w * h {
        let p = [rgb.r[i], rgb.g[i], rgb.b[i]];
        a.push(crate::color::linear_rgb_to_lab(p)[1]);
        ei.push(crate::color::erythema_index(p[0], p[1]));
    }
    ErythemaMaps {
        a_star: Plane::from_vec(w, h, a),
        erythema_index: Plane::from_vec(w, h, ei),
    }
}

/// Summaries of the maps over `skin`.
pub fn summarize(maps: &ErythemaMaps, skin: &Mask) -> ErythemaSummary {
    let mut a: Vec<f32> = Vec::new();
    let mut e: Vec<f32> = Vec::new();
    for (i, &s) in skin.data.iter().enumerate() {
        if s {
            a.push(maps.a_star.data[i]);
            e.push(maps.erythema_index.data[i]);
        }
    }
    if a.is_empty() {
        return ErythemaSummary::default();
    }
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    a.sort_by(f32::total_cmp);
    e.sort_by(f32::total_cmp);
    let q = |v: &[f32], p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64;
    ErythemaSummary {
        erythema_a_star_mean: Some(mean(&a)),
        erythema_a_star_median: Some(q(&a, 0.5)),
        erythema_a_star_p10: Some(q(&a, 0.1)),
        erythema_a_star_p90: Some(q(&a, 0.9)),
        erythema_index_mean: Some(mean(&e)),
        erythema_index_median: Some(q(&e, 0.5)),
    }
}
