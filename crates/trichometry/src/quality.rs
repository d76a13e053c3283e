//! Image quality: glare, clipping, focus.
//!
//! Run on linear RGB *before* colour correction (saturation is a property
//! of the sensor values, not of the corrected colours).
//!
//! - **Glare** (specular reflection): pixels whose smallest channel is at
//!   least [`QualityParams::glare_level`] — near-saturated *and* nearly
//!   colourless, since the skin's own colour is never that bright in all
//!   three channels — dilated by [`QualityParams::glare_dilate_px`] (a
//!   square) to cover the soft halo around each spot.
//! - **Clipped**: over-exposed = any channel ≥ 0.995 (8-bit 255), under-exposed
//!   = every channel ≤ 0.001 (8-bit ≤ 3).
//! - **Focus score**: a normalised Tenengrad: the mean squared Sobel gradient
//!   magnitude of luminance Y, binned 2×2 and then smoothed by a 3×3
//!   binomial (both to damp sensor noise, which otherwise dominates), over
//!   non-glare bins, divided by mean(Y)² — so it does not change with
//!   exposure or gain. Sobel kernels are normalised (÷ 8), so the gradient
//!   is in Y per bin (2 pixels). It measures contrast at the pixel scale:
//!   it depends on the magnification (µm per pixel) and on how much texture
//!   the skin has (it grows with the square of the texture contrast), so the
//!   [`Warning::Blurred`] threshold is a heuristic calibrated on the default
//!   phantom skin (1000×750 px at 3.5 µm/px, sensor noise, JPEG 90: sharp
//!   3.7e-4, PSF σ = 3.5 µm 3.2e-4, σ = 10 µm 1.4e-4, σ = 20 µm 4.4e-5;
//!   noise changes these by < 10 % thanks to the binning). Real scalp images
//!   with hairs score higher, so the warning fires only on marked blur;
//!   compare scores between images of one protocol rather than across
//!   magnifications.

// Index loops over several same-length rows read better than zipped iterators.
#![allow(clippy::needless_range_loop)]

use crate::color::LinearRgb;
use crate::image::Mask;
use crate::warnings::Warning;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Quality thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityParams {
    /// Glare fraction above which [`Warning::Glare`] is raised.
    pub glare_warn_fraction: f64,
    /// Linear level the smallest channel must reach for a pixel to be glare
    /// (0.92 ≈ 8-bit sRGB 246).
    pub glare_level: f32,
    /// Dilation of the glare core, in pixels (square structuring element of
    /// side 2r + 1).
    pub glare_dilate_px: usize,
    /// Over-exposed (any channel clipped) fraction above which
    /// [`Warning::Overexposed`] is raised.
    pub overexposed_warn_fraction: f64,
    /// Under-exposed (all channels black) fraction above which
    /// [`Warning::Underexposed`] is raised.
    pub underexposed_warn_fraction: f64,
    /// Focus score below which [`Warning::Blurred`] is raised.
    pub blurred_below_focus: f64,
}

impl Default for QualityParams {
    fn default() -> Self {
        QualityParams {
            glare_warn_fraction: 0.05,
            glare_level: 0.92,
            glare_dilate_px: 3,
            overexposed_warn_fraction: 0.05,
            underexposed_warn_fraction: 0.05,
            blurred_below_focus: 2e-4,
        }
    }
}

/// What the quality stage found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quality {
    /// Glare (specular, saturated) pixels.
    pub glare_mask: Mask,
    /// Fraction of glare pixels.
    pub glare_fraction: f64,
    /// Fraction of clipped (over- or under-exposed) pixels.
    pub clipped_fraction: f64,
    /// Fraction of over-exposed pixels (any channel clipped white).
    pub overexposed_fraction: f64,
    /// Fraction of under-exposed pixels (all channels black).
    pub underexposed_fraction: f64,
    /// Focus score (higher = sharper; see the module docs).
    pub focus_score: f64,
    /// Warnings raised.
    pub warnings: Vec<Warning>,
}

const OVER_LEVEL: f32 = 0.995;
const UNDER_LEVEL: f32 = 0.001;

/// Dilate a mask with a (2r+1)² square (separable max). Small helper kept
/// here until `kernels::morphology` lands in main.
fn dilate_square(m: &Mask, r: usize) -> Mask {
    if r == 0 {
        return m.clone();
    }
    let (w, h) = (m.width, m.height);
    let mut rows = vec![false; w * h];
    rows.par_chunks_mut(w)
        .zip(m.data.par_chunks(w))
        .for_each(|(out, inp)| {
            // Running count of set pixels in the window.
            let mut count = 0usize;
            for x in 0..(r.min(w)) {
                count += inp[x] as usize;
            }
            for x in 0..w {
                if x + r < w {
                    count += inp[x + r] as usize;
                }
                if x > r {
                    count -= inp[x - r - 1] as usize;
                }
                out[x] = count > 0;
            }
        });
    let mut out = vec![false; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        let y0 = y.saturating_sub(r);
        let y1 = (y + r + 1).min(h);
        for yy in y0..y1 {
            let row = &rows[yy * w..(yy + 1) * w];
            for (a, &b) in o.iter_mut().zip(row) {
                *a |= b;
            }
        }
    });
    Mask {
        width: w,
        height: h,
        data: out,
    }
}

/// Assess glare, clipping and focus.
pub fn assess(rgb: &LinearRgb, params: &QualityParams) -> Quality {
    let (w, h) = (rgb.width, rgb.height);
    let n = w * h;
    if n == 0 {
        return Quality::default();
    }
    // Glare core and clipping counts, per row (deterministic integer sums).
    let mut core = vec![false; n];
    let counts: Vec<(usize, usize)> = core
        .par_chunks_mut(w)
        .enumerate()
        .map(|(y, c)| {
            let s = y * w;
            let (r, g, b) = (&rgb.r[s..s + w], &rgb.g[s..s + w], &rgb.b[s..s + w]);
            let (mut over, mut under) = (0, 0);
            for x in 0..w {
                let mn = r[x].min(g[x]).min(b[x]);
                let mx = r[x].max(g[x]).max(b[x]);
                c[x] = mn >= params.glare_level;
                over += (mx >= OVER_LEVEL) as usize;
                under += (mx <= UNDER_LEVEL) as usize;
            }
            (over, under)
        })
        .collect();
    let (over, under) = counts.iter().fold((0, 0), |(a, b), &(c, d)| (a + c, b + d));
    let glare_mask = dilate_square(
        &Mask {
            width: w,
            height: h,
            data: core,
        },
        params.glare_dilate_px,
    );
    let glare_fraction = glare_mask.fraction();
    let focus_score = focus(rgb, &glare_mask);
    let overexposed_fraction = over as f64 / n as f64;
    let underexposed_fraction = under as f64 / n as f64;
    let mut warnings = Vec::new();
    if glare_fraction > params.glare_warn_fraction {
        warnings.push(Warning::Glare);
    }
    if overexposed_fraction > params.overexposed_warn_fraction {
        warnings.push(Warning::Overexposed);
    }
    if underexposed_fraction > params.underexposed_warn_fraction {
        warnings.push(Warning::Underexposed);
    }
    if focus_score < params.blurred_below_focus {
        warnings.push(Warning::Blurred);
    }
    Quality {
        glare_mask,
        glare_fraction,
        clipped_fraction: overexposed_fraction + underexposed_fraction,
        overexposed_fraction,
        underexposed_fraction,
        focus_score,
        warnings,
    }
}

/// Normalised Tenengrad (see the module docs); 0 for images smaller than 10×10.
fn focus(rgb: &LinearRgb, glare: &Mask) -> f64 {
    let (fw, fh) = (rgb.width, rgb.height);
    if fw < 10 || fh < 10 {
        return 0.0;
    }
    // Luminance binned 2×2 (averaging four pixels quarters the noise
    // variance; blur that matters spans several pixels anyway); a bin is
    // glare when any of its pixels is.
    let (w, h) = (fw / 2, fh / 2);
    let mut y = vec![0f32; w * h];
    let mut gb = vec![false; w * h];
    y.par_chunks_mut(w)
        .zip(gb.par_chunks_mut(w))
        .enumerate()
        .for_each(|(row, (out, g))| {
            for x in 0..w {
                let mut acc = 0f32;
                let mut any = false;
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = (2 * row + dy) * fw + 2 * x + dx;
                    acc += 0.2126 * rgb.r[i] + 0.7152 * rgb.g[i] + 0.0722 * rgb.b[i];
                    any |= glare.data[i];
                }
                out[x] = 0.25 * acc;
                g[x] = any;
            }
        });
    let glare = Mask {
        width: w,
        height: h,
        data: gb,
    };
    let mut sm = vec![0f32; w * h];
    sm.par_chunks_mut(w).enumerate().for_each(|(row, out)| {
        let up = &y[row.saturating_sub(1) * w..][..w];
        let mid = &y[row * w..][..w];
        let dn = &y[(row + 1).min(h - 1) * w..][..w];
        let v = |x: usize| 0.25 * up[x] + 0.5 * mid[x] + 0.25 * dn[x];
        for x in 0..w {
            let l = v(x.saturating_sub(1));
            let r = v((x + 1).min(w - 1));
            out[x] = 0.25 * l + 0.5 * v(x) + 0.25 * r;
        }
    });
    // Per row: Σ|∇|² and ΣY and count over interior non-glare pixels.
    let rows: Vec<(f64, f64, usize)> = (1..h - 1)
        .into_par_iter()
        .map(|row| {
            let up = &sm[(row - 1) * w..][..w];
            let mid = &sm[row * w..][..w];
            let dn = &sm[(row + 1) * w..][..w];
            let gl = &glare.data[row * w..][..w];
            let (mut g2, mut sy, mut c) = (0f64, 0f64, 0usize);
            for x in 1..w - 1 {
                if gl[x] {
                    continue;
                }
                let gx = ((up[x + 1] + 2.0 * mid[x + 1] + dn[x + 1])
                    - (up[x - 1] + 2.0 * mid[x - 1] + dn[x - 1]))
                    * 0.125;
                let gy = ((dn[x - 1] + 2.0 * dn[x] + dn[x + 1])
                    - (up[x - 1] + 2.0 * up[x] + up[x + 1]))
                    * 0.125;
                g2 += (gx * gx + gy * gy) as f64;
                sy += mid[x] as f64;
                c += 1;
            }
            (g2, sy, c)
        })
        .collect();
    let (mut g2, mut sy, mut c) = (0f64, 0f64, 0usize);
    for (a, b, n) in rows {
        g2 += a;
        sy += b;
        c += n;
    }
    if c == 0 || sy <= 0.0 {
        return 0.0;
    }
    let mean_y = sy / c as f64;
    (g2 / c as f64) / (mean_y * mean_y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dilation_matches_naive() {
        let (w, h) = (23, 17);
        let data: Vec<bool> = (0..w * h).map(|i| (i * 7919) % 61 == 0).collect();
        let m = Mask {
            width: w,
            height: h,
            data,
        };
        for r in 0..4 {
            let d = dilate_square(&m, r);
            for y in 0..h {
                for x in 0..w {
                    let mut any = false;
                    for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                        for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                            any |= m.get(xx, yy);
                        }
                    }
                    assert_eq!(d.get(x, y), any, "r={r} at ({x},{y})");
                }
            }
        }
    }

    #[test]
    fn flat_image_has_zero_focus_and_no_glare() {
        let n = 40 * 30;
        let rgb = LinearRgb {
            width: 40,
            height: 30,
            r: vec![0.4; n],
            g: vec![0.3; n],
            b: vec![0.25; n],
            is_colour: true,
        };
        let q = assess(&rgb, &QualityParams::default());
        assert_eq!(q.glare_fraction, 0.0);
        assert_eq!(q.clipped_fraction, 0.0);
        assert!(q.focus_score.abs() < 1e-12);
        assert!(q.warnings.contains(&Warning::Blurred));
    }

    #[test]
    fn clipping_counts_are_exact() {
        let (w, h) = (10, 10);
        let mut rgb = LinearRgb {
            width: w,
            height: h,
            r: vec![0.4; 100],
            g: vec![0.3; 100],
            b: vec![0.25; 100],
            is_colour: true,
        };
        for i in 0..7 {
            rgb.r[i] = 1.0; // red clipped only: over-exposed, not glare
        }
        for i in 50..53 {
            rgb.r[i] = 0.0;
            rgb.g[i] = 0.0;
            rgb.b[i] = 0.0;
        }
        let q = assess(&rgb, &QualityParams::default());
        assert!((q.overexposed_fraction - 0.07).abs() < 1e-12);
        assert!((q.underexposed_fraction - 0.03).abs() < 1e-12);
        assert!((q.clipped_fraction - 0.10).abs() < 1e-12);
        assert_eq!(q.glare_fraction, 0.0);
        assert!(q.warnings.contains(&Warning::Overexposed));
        assert!(!q.warnings.contains(&Warning::Underexposed));
    }
}
