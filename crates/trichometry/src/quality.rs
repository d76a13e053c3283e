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
#[serde(default, deny_unknown_fields)]
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

/// Dilate a mask with a (2r+1)² square (separable max). `row_any[y]` tells
/// whether row `y` has any set pixel: empty rows are skipped (glare is
/// rare). Returns the mask and its number of set pixels.
fn dilate_square_rows(m: &Mask, row_any: &[bool], r: usize) -> (Mask, usize) {
    let (w, h) = (m.width, m.height);
    let mut rows = vec![false; w * h];
    rows.par_chunks_mut(w)
        .zip(m.data.par_chunks(w))
        .zip(row_any.par_iter())
        .for_each(|((out, inp), &any)| {
            if !any {
                return;
            }
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
    let set: usize = out
        .par_chunks_mut(w)
        .enumerate()
        .map(|(y, o)| {
            let y0 = y.saturating_sub(r);
            let y1 = (y + r + 1).min(h);
            let mut touched = false;
            for yy in y0..y1 {
                if !row_any[yy] {
                    continue;
                }
                touched = true;
                let row = &rows[yy * w..(yy + 1) * w];
                for (a, &b) in o.iter_mut().zip(row) {
                    *a |= b;
                }
            }
            if touched {
                o.iter().filter(|&&b| b).count()
            } else {
                0
            }
        })
        .sum();
    (
        Mask {
            width: w,
            height: h,
            data: out,
        },
        set,
    )
}

/// Dilate a mask with a (2r+1)² square (separable max).
#[cfg(test)]
fn dilate_square(m: &Mask, r: usize) -> Mask {
    let any: Vec<bool> = m
        .data
        .chunks(m.width.max(1))
        .map(|row| row.contains(&true))
        .collect();
    dilate_square_rows(m, &any, r).0
}

/// Assess glare, clipping and focus.
pub fn assess(rgb: &LinearRgb, params: &QualityParams) -> Quality {
    let (w, h) = (rgb.width, rgb.height);
    let n = w * h;
    if n == 0 {
        return Quality::default();
    }
    // One pass over pairs of rows: glare core, clipping counts (per row
    // pair, deterministic integer sums), whether each row has a core pixel,
    // and the 2×2-binned luminance of the focus score.
    let (bw, bh) = (w / 2, h / 2);
    let mut core = vec![false; n];
    let mut lum = vec![0f32; bw.max(1) * h.div_ceil(2)];
    let level = params.glare_level;
    let pairs: Vec<(usize, usize, [bool; 2])> = core
        .par_chunks_mut(2 * w)
        .zip(lum.par_chunks_mut(bw.max(1)))
        .enumerate()
        .map(|(pair, (c, out))| {
            let (mut over, mut under) = (0usize, 0usize);
            let mut any = [false; 2];
            // Luminance of the pair's two rows (same operations as ever).
            let mut lrow = [vec![0f32; w], vec![0f32; w]];
            for (dy, c) in c.chunks_mut(w).enumerate() {
                let s = (2 * pair + dy) * w;
                let (r, g, b) = (&rgb.r[s..s + w], &rgb.g[s..s + w], &rgb.b[s..s + w]);
                let l = &mut lrow[dy][..w];
                let (mut n_core, mut o, mut u) = (0u32, 0u32, 0u32);
                for x in 0..w {
                    let mn = r[x].min(g[x]).min(b[x]);
                    let mx = r[x].max(g[x]).max(b[x]);
                    let is_core = mn >= level;
                    c[x] = is_core;
                    n_core += is_core as u32;
                    o += (mx >= OVER_LEVEL) as u32;
                    u += (mx <= UNDER_LEVEL) as u32;
                    l[x] = 0.2126 * r[x] + 0.7152 * g[x] + 0.0722 * b[x];
                }
                any[dy] = n_core > 0;
                over += o as usize;
                under += u as usize;
            }
            if 2 * pair + 1 < h {
                let (l0, l1) = (&lrow[0][..w], &lrow[1][..w]);
                for x in 0..bw {
                    // Same operations in the same order as ever: (0,0),
                    // (0,1), (1,0), (1,1).
                    let mut acc = 0f32;
                    acc += l0[2 * x];
                    acc += l0[2 * x + 1];
                    acc += l1[2 * x];
                    acc += l1[2 * x + 1];
                    out[x] = 0.25 * acc;
                }
            }
            (over, under, any)
        })
        .collect();
    let (over, under) = pairs
        .iter()
        .fold((0, 0), |(a, b), &(c, d, _)| (a + c, b + d));
    let row_any: Vec<bool> = pairs.iter().flat_map(|p| p.2).take(h).collect();
    let (glare_mask, glare_count) = dilate_square_rows(
        &Mask {
            width: w,
            height: h,
            data: core,
        },
        &row_any,
        params.glare_dilate_px,
    );
    let glare_fraction = glare_count as f64 / n as f64;
    lum.truncate(bw * bh);
    let focus_score = focus(&lum, bw, bh, &glare_mask);
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

/// Normalised Tenengrad (see the module docs) of the 2×2-binned luminance
/// `y` (w × h bins); 0 for images smaller than 10×10 pixels. A bin is glare
/// when any of its four pixels is.
fn focus(y: &[f32], w: usize, h: usize, glare_px: &Mask) -> f64 {
    let fw = glare_px.width;
    if fw < 10 || glare_px.height < 10 {
        return 0.0;
    }
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
    // Per row: Σ|∇|² and ΣY and count over interior non-glare bins.
    let rows: Vec<(f64, f64, usize)> = (1..h - 1)
        .into_par_iter()
        .map(|row| {
            let up = &sm[(row - 1) * w..][..w];
            let mid = &sm[row * w..][..w];
            let dn = &sm[(row + 1) * w..][..w];
            let g0 = &glare_px.data[2 * row * fw..][..fw];
            let g1 = &glare_px.data[(2 * row + 1) * fw..][..fw];
            let (mut g2, mut sy, mut c) = (0f64, 0f64, 0usize);
            for x in 1..w - 1 {
                if g0[2 * x] | g0[2 * x + 1] | g1[2 * x] | g1[2 * x + 1] {
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

    /// The focus score as first written (unbinned glare mask, separate
    /// passes): the fused pass must give the same bits.
    fn focus_reference(rgb: &LinearRgb, glare: &Mask) -> f64 {
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

    #[test]
    fn fused_pass_matches_reference_focus() {
        let mut rng = crate::synth::Rng::new(3);
        for (w, h) in [(201, 157), (64, 48), (11, 10)] {
            let n = w * h;
            let mut v = || -> Vec<f32> { (0..n).map(|_| rng.range(0.1, 0.6) as f32).collect() };
            let mut rgb = LinearRgb {
                width: w,
                height: h,
                r: v(),
                g: v(),
                b: v(),
                is_colour: true,
            };
            // A few glare spots.
            for i in (0..n).step_by(997) {
                rgb.r[i] = 0.97;
                rgb.g[i] = 0.96;
                rgb.b[i] = 0.99;
            }
            let q = assess(&rgb, &QualityParams::default());
            let want = focus_reference(&rgb, &q.glare_mask);
            assert_eq!(q.focus_score.to_bits(), want.to_bits(), "{w}x{h}");
            assert!(q.glare_fraction > 0.0);
            assert_eq!(q.glare_fraction, q.glare_mask.fraction());
        }
    }

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
