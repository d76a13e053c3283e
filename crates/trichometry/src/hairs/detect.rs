//! Dark-ridge detection at a working resolution of about
//! `HairParams::detection_um_per_px`, so that the same hair is seen the same
//! way at 2 and at 6 µm/px and a 12 MP image is filtered at ~1–2 MP.
//!
//! The detection channel is the optical density of the red channel,
//! `OD = −ln R`: hair melanin absorbs red, haemoglobin hardly does (so
//! capillaries stay faint), and a density is a relative contrast (vignetting
//! and exposure cancel). Everything brighter than the local skin level is
//! clipped to it: white dots, scales, yellow dots and glare become flat
//! instead of leaving a ridge-like rim around them. The local skin level is
//! the median OD of coarse blocks, interpolated bilinearly. The multi-scale
//! σ²-normalised ridge filter (kernels) then gives a strength in OD units
//! (≈ 0.48 × depth for a flat bar at σ = w/2); thresholds are the larger of
//! a multiple of the robust noise level and an absolute contrast floor
//! (skin texture and furrows are low-contrast).

use super::HairParams;
use crate::analysis::StageInput;
use crate::image::{Mask, Plane};
use crate::kernels::{hysteresis, ridge_response, Polarity};
use rayon::prelude::*;

/// What detection hands to tracing.
pub(crate) struct Detection {
    /// Full-resolution pixels per detection pixel.
    pub factor: usize,
    /// Ridge strength (OD units) at detection resolution.
    pub strength: Plane,
    /// σ (detection px) of the best response.
    pub scale: Plane,
    /// Ridge axis angle (radians).
    pub direction: Plane,
    /// Hysteresis mask of the strength.
    pub mask: Mask,
    /// Analysable detection pixels.
    pub valid: Mask,
    /// Full-resolution luminance (linear).
    pub lum: Plane,
}

/// Box-downsample red (as OD) by `f`, and build full-resolution luminance.
fn planes(input: &StageInput<'_>, f: usize) -> (Plane, Plane, Mask) {
    let rgb = input.rgb;
    let (w, h) = (rgb.width, rgb.height);
    let lum: Vec<f32> = rgb
        .r
        .par_iter()
        .zip(rgb.g.par_iter())
        .zip(rgb.b.par_iter())
        .map(|((&r, &g), &b)| 0.2126 * r + 0.7152 * g + 0.0722 * b)
        .collect();
    let (dw, dh) = (w.div_ceil(f), h.div_ceil(f));
    let mut od = vec![0.0f32; dw * dh];
    let mut valid = vec![false; dw * dh];
    od.par_chunks_mut(dw)
        .zip(valid.par_chunks_mut(dw))
        .enumerate()
        .for_each(|(j, (orow, vrow))| {
            let y0 = j * f;
            let y1 = (y0 + f).min(h);
            for i in 0..dw {
                let x0 = i * f;
                let x1 = (x0 + f).min(w);
                let mut s = 0.0f32;
                let mut ok = true;
                for y in y0..y1 {
                    let row = &rgb.r[y * w + x0..y * w + x1];
                    s += row.iter().sum::<f32>();
                    ok &= input.valid.data[y * w + x0..y * w + x1].iter().all(|&v| v);
                }
                let n = ((y1 - y0) * (x1 - x0)) as f32;
                orow[i] = -(s / n).max(1e-4).ln();
                vrow[i] = ok;
            }
        });
    (
        Plane::from_vec(dw, dh, od),
        Plane::from_vec(w, h, lum),
        Mask {
            width: dw,
            height: dh,
            data: valid,
        },
    )
}

/// Local skin level: median OD of blocks of `b` px, bilinear between block
/// centres. Blocks with too few valid pixels borrow the global median.
fn skin_level(od: &Plane, valid: &Mask, b: usize) -> Plane {
    let (w, h) = (od.width, od.height);
    let (bw, bh) = (w.div_ceil(b), h.div_ceil(b));
    let mut all: Vec<f32> = od
        .data
        .iter()
        .zip(&valid.data)
        .step_by(3)
        .filter(|(_, &v)| v)
        .map(|(&o, _)| o)
        .collect();
    let global = if all.is_empty() {
        0.0
    } else {
        let m = all.len() / 2;
        *all.select_nth_unstable_by(m, f32::total_cmp).1
    };
    let med: Vec<f32> = (0..bw * bh)
        .into_par_iter()
        .map(|k| {
            let (bx, by) = (k % bw, k / bw);
            let mut v = Vec::with_capacity(b * b / 4);
            for y in (by * b..((by + 1) * b).min(h)).step_by(2) {
                for x in (bx * b..((bx + 1) * b).min(w)).step_by(2) {
                    if valid.data[y * w + x] {
                        v.push(od.data[y * w + x]);
                    }
                }
            }
            if v.len() < 8 {
                return global;
            }
            let m = v.len() / 2;
            *v.select_nth_unstable_by(m, f32::total_cmp).1
        })
        .collect();
    crate::kernels::upsample_from_blocks(&Plane::from_vec(bw, bh, med), b, w, h)
}

/// Scales (detection px) covering widths `min_um..max_um` at σ = w/2,
/// a factor of about 1.8 apart.
pub(crate) fn sigmas(params: &HairParams, det_um: f64) -> Vec<f32> {
    let lo = (params.min_width_um / 2.0 / det_um).max(0.6);
    let hi = (params.max_width_um / 2.0 / det_um).max(lo);
    let n = ((hi / lo).ln() / 1.8f64.ln()).ceil().max(0.0) as usize;
    (0..=n)
        .map(|k| (lo * (hi / lo).powf(k as f64 / n.max(1) as f64)) as f32)
        .collect()
}

/// Run detection.
pub(crate) fn detect(input: &StageInput<'_>, params: &HairParams) -> Detection {
    let f = ((params.detection_um_per_px / input.um_per_px).floor() as usize).max(1);
    let det_um = input.um_per_px * f as f64;
    let (mut od, lum, valid) = planes(input, f);
    let block = ((400.0 / det_um).round() as usize).clamp(16, 256);
    let skin = skin_level(&od, &valid, block);
    // Relative darkness above the local skin level; brighter things are flat.
    od.data
        .par_iter_mut()
        .zip(skin.data.par_iter())
        .zip(valid.data.par_iter())
        .for_each(|((o, &s), &v)| {
            *o = if v { (*o - s).max(0.0) } else { 0.0 };
        });
    let sig = sigmas(params, det_um);
    let r = ridge_response(&od, &sig, Polarity::Bright);
    // Robust noise level: median strength over a sparse sample of valid
    // pixels (hair covers well under half of any usable image).
    let mut sample: Vec<f32> = r
        .strength
        .data
        .iter()
        .zip(&valid.data)
        .step_by(5)
        .filter(|(_, &v)| v)
        .map(|(&s, _)| s)
        .collect();
    let noise = if sample.is_empty() {
        0.0
    } else {
        let m = sample.len() / 2;
        *sample.select_nth_unstable_by(m, f32::total_cmp).1
    };
    let high = (params.noise_k_high * noise).max(params.min_strength_high);
    let low = (params.noise_k_low * noise).max(params.min_strength_low);
    let mut strength = r.strength;
    for (s, &v) in strength.data.iter_mut().zip(&valid.data) {
        if !v {
            *s = 0.0;
        }
    }
    let mask = hysteresis(&strength, low, high);
    Detection {
        factor: f,
        strength,
        scale: r.scale,
        direction: r.direction,
        mask,
        valid,
        lum,
    }
}
