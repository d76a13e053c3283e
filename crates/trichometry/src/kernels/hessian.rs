//! Scale-normalised Hessian and the multi-scale ridge and blob responses.
//!
//! # Conventions
//!
//! * The Hessian at scale σ is that of the Gaussian-smoothed image
//!   `L = G_σ * I`, estimated with 4th-order central differences
//!   (`(−1, 16, −30, 16, −1)/12` for ∂², the product of two
//!   `(1, −8, 0, 8, −1)/12` for ∂x∂y, replicate border), and multiplied by
//!   **σ²** (Lindeberg's γ-normalisation with γ = 1: `σ^{2γ} ∂²L`). With this
//!   factor a structure gives the same peak response at its own best scale
//!   whatever its size, so responses of different σ can be compared and
//!   thresholds are in units of image contrast.
//! * Eigenvalues are returned in ascending order, **λ1 ≤ λ2** (signed).
//! * Angles are in radians from the +x axis towards +y (image rows grow
//!   downwards), in (−π/2, π/2].
//!
//! # Which σ answers which size (derived in the continuum, tested below)
//!
//! For a structure of contrast `A` (peak minus background):
//!
//! | structure | best σ | peak response |
//! |---|---|---|
//! | ridge, bar (flat) profile of width w | σ = w / 2 | 2A/√(2πe) ≈ 0.484 A |
//! | ridge, Gaussian profile of std s (FWHM 2.355 s) | σ = √2 · s | 2A/(3√3) ≈ 0.385 A |
//! | blob, disc of radius R | σ = R / √2 | A/e ≈ 0.368 A |
//! | blob, Gaussian of std s | σ = s | A/4 |
//!
//! Bar: `σ²|L_yy(0)| = 2A·u·φ(u)` with `u = w/(2σ)` and φ the standard normal
//! density, maximal at u = 1. Gaussian ridge: `σ²·A·s/(s²+σ²)^{3/2}`, maximal at
//! σ² = 2s². Disc: `σ²|L_xx(0)| = A·v·e^{−v}` with `v = R²/(2σ²)`, maximal at
//! v = 1. Gaussian blob: `A·s²σ²/(s²+σ²)²`, maximal at σ = s. (A filter
//! without the σ² factor, like scikit-image's `frangi`, prefers the smallest
//! σ for every width and its peak falls as 1/width².)
//!
//! On the pixel grid: a bar of odd width w centred on a pixel row peaks
//! within 3 % of 0.484 A at σ ≈ w/2 from w = 3 px up; a 1-px bar peaks at
//! σ ≈ 0.6 with 0.44 A. Between pixel centres (even widths) the sampled
//! maximum is lower (0.39 A for w = 2, 0.46 A for w = 4) because no pixel
//! sits on the ridge axis.
//!
//! The smoothing and the differences are fused per band of 64 rows when the
//! Gaussian is the FIR one (σ < 8): no full smoothed plane is kept. The
//! per-pixel loops run in AVX2/AVX-512 copies picked at run time, bit-identical
//! to the baseline build.
//!
//! Large σ are computed on the full plane by default: the recursive Gaussian
//! costs the same at every σ and the Hessian pass is one read of the
//! smoothed plane. The hair stage's ridge filter takes its widest scales
//! on the plane decimated 2× instead (`ridge_response_reusing`'s
//! `coarse_from_px`: the Hessian per band from the decimated plane, FIR
//! smoothed, interpolated back bilinearly), a quarter of the smoothing and
//! differences and no whole smoothed plane, for a small interpolation
//! error in the direction and the strength.

use super::bilinear::downsample2;
use super::gaussian::{fir_for, gaussian_blur, gaussian_blur_reusing, Fir};
use super::grow;
use super::pages::reuse_len;
use crate::image::Plane;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which structures respond: bright on dark (vessels in a redness channel)
/// or dark on bright (hair shafts in luminance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// Bright structures on a darker background.
    Bright,
    /// Dark structures on a brighter background.
    Dark,
}

/// The three σ²-normalised second derivatives at one scale.
#[derive(Debug, Clone, PartialEq)]
pub struct HessianPlanes {
    /// σ² ∂²L/∂x².
    pub xx: Plane,
    /// σ² ∂²L/∂x∂y.
    pub xy: Plane,
    /// σ² ∂²L/∂y².
    pub yy: Plane,
}

/// Multi-scale ridge (line) response, see [`ridge_response`].
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeResponse {
    /// Best response over the scales (≥ 0), in image contrast units.
    pub strength: Plane,
    /// σ (px) of the best response; 0 where the strength is 0.
    pub scale: Plane,
    /// Angle of the ridge axis at the best scale (radians, see module docs);
    /// 0 where the strength is 0.
    pub direction: Plane,
}

/// Multi-scale blob response, see [`blob_response`].
#[derive(Debug, Clone, PartialEq)]
pub struct BlobResponse {
    /// Best response over the scales (≥ 0), in image contrast units.
    pub strength: Plane,
    /// σ (px) of the best response; 0 where the strength is 0.
    pub scale: Plane,
}

/// Sato's gate on the along-ridge eigenvalue: α for same-sign (blob-like)
/// and opposite-sign (saddle-like) second eigenvalue.
const ALPHA_SAME: f32 = 0.5;
const ALPHA_OPPOSITE: f32 = 2.0;

super::simd::dispatch! {
    /// One row of σ²-normalised Hessian from the five smoothed rows
    /// `y − 2 ..= y + 2` (already clamped to the plane).
    fn hessian_row(rows: [&[f32]; 5], s2: f32, xx: &mut [f32], xy: &mut [f32], yy: &mut [f32]) => hessian_row_body
}

#[inline(always)]
fn hessian_row_body(rows: [&[f32]; 5], s2: f32, xx: &mut [f32], xy: &mut [f32], yy: &mut [f32]) {
    hessian_row_with(rows, None, s2, xx, xy, yy);
}

super::simd::dispatch! {
    /// The x differences `8 (r[i + 3] − r[i + 1]) − (r[i + 4] − r[i])` of
    /// one smoothed row, `i < w − 4` (nothing for `w < 5`): what
    /// [`hessian_row`] computes for each of its four outer rows.
    fn dx_row(r: &[f32], out: &mut [f32]) => dx_row_body
}

#[inline(always)]
#[allow(clippy::needless_range_loop)] // equal-length slices: no bounds checks
fn dx_row_body(r: &[f32], out: &mut [f32]) {
    let w = r.len();
    if w < 5 {
        return;
    }
    let n = w - 4;
    let (a, b, d, e, o) = (
        &r[..n],
        &r[1..n + 1],
        &r[3..n + 3],
        &r[4..n + 4],
        &mut out[..n],
    );
    for i in 0..n {
        o[i] = 8.0 * (d[i] - b[i]) - (e[i] - a[i]);
    }
}

super::simd::dispatch! {
    /// [`hessian_row`] with the x differences of the rows `y − 2`, `y − 1`,
    /// `y + 1`, `y + 2` given ([`dx_row`]): each smoothed row's are taken
    /// once, not once for each of the four output rows that read them
    /// (session 26: the xy loop took 33 instructions per 8 pixels of 65 M
    /// per 12 MP call at 3.5 µm/px, AVX2 copy), the same bits.
    fn hessian_row_dx(rows: [&[f32]; 5], dx: [&[f32]; 4], s2: f32, xx: &mut [f32], xy: &mut [f32], yy: &mut [f32]) => hessian_row_dx_body
}

#[inline(always)]
fn hessian_row_dx_body(
    rows: [&[f32]; 5],
    dx: [&[f32]; 4],
    s2: f32,
    xx: &mut [f32],
    xy: &mut [f32],
    yy: &mut [f32],
) {
    hessian_row_with(rows, Some(dx), s2, xx, xy, yy);
}

/// [`hessian_row_body`], the interior x differences of the outer rows
/// from `dx` (`[y − 2, y − 1, y + 1, y + 2]`, [`dx_row`]) when given.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // equal-length slices: no bounds checks
fn hessian_row_with(
    rows: [&[f32]; 5],
    dxs: Option<[&[f32]; 4]>,
    s2: f32,
    xx: &mut [f32],
    xy: &mut [f32],
    yy: &mut [f32],
) {
    let w = xx.len();
    let [m2, m1, c, p1, p2] = rows.map(|r| &r[..w]);
    let (xy, yy) = (&mut xy[..w], &mut yy[..w]);
    let k2 = s2 / 12.0;
    let k11 = s2 / 144.0;
    for i in 0..w {
        yy[i] = k2 * (16.0 * (m1[i] + p1[i]) - (m2[i] + p2[i]) - 30.0 * c[i]);
    }
    let at = |r: &[f32], x: isize| r[x.clamp(0, w as isize - 1) as usize];
    let d2 = |r: &[f32], x: isize| {
        16.0 * (at(r, x - 1) + at(r, x + 1)) - (at(r, x - 2) + at(r, x + 2)) - 30.0 * at(r, x)
    };
    let d1 =
        |r: &[f32], x: isize| 8.0 * (at(r, x + 1) - at(r, x - 1)) - (at(r, x + 2) - at(r, x - 2));
    let scalar = |x: usize, xx: &mut [f32], xy: &mut [f32]| {
        let xi = x as isize;
        xx[x] = k2 * d2(c, xi);
        xy[x] = k11 * (8.0 * (d1(p1, xi) - d1(m1, xi)) - (d1(p2, xi) - d1(m2, xi)));
    };
    if w < 5 {
        for x in 0..w {
            scalar(x, xx, xy);
        }
        return;
    }
    for x in (0..2).chain(w - 2..w) {
        scalar(x, xx, xy);
    }
    let n = w - 4;
    // Interior: slices shifted by −2..=2, written so LLVM vectorises.
    {
        let (a, b, cc, d, e) = (
            &c[..n],
            &c[1..n + 1],
            &c[2..n + 2],
            &c[3..n + 3],
            &c[4..n + 4],
        );
        let o = &mut xx[2..w - 2];
        for i in 0..n {
            o[i] = k2 * (16.0 * (b[i] + d[i]) - (a[i] + e[i]) - 30.0 * cc[i]);
        }
    }
    let o = &mut xy[2..w - 2];
    if let Some([dm2, dm1, dp1, dp2]) = dxs {
        let (dm2, dm1, dp1, dp2) = (&dm2[..n], &dm1[..n], &dp1[..n], &dp2[..n]);
        for i in 0..n {
            o[i] = k11 * (8.0 * (dp1[i] - dm1[i]) - (dp2[i] - dm2[i]));
        }
        return;
    }
    fn dx(r: &[f32], n: usize) -> impl Fn(usize) -> f32 + '_ {
        let (a, b, d, e) = (&r[..n], &r[1..n + 1], &r[3..n + 3], &r[4..n + 4]);
        move |i: usize| 8.0 * (d[i] - b[i]) - (e[i] - a[i])
    }
    let (dp1, dm1, dp2, dm2) = (dx(p1, n), dx(m1, n), dx(p2, n), dx(m2, n));
    for i in 0..n {
        o[i] = k11 * (8.0 * (dp1(i) - dm1(i)) - (dp2(i) - dm2(i)));
    }
}

/// Eigenvalues (ascending) of [[a, b], [b, c]].
#[inline(always)]
fn eig(a: f32, b: f32, c: f32) -> (f32, f32) {
    let m = 0.5 * (a + c);
    let d = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    (m - d, m + d)
}

/// Polynomial atan2 (Abramowitz & Stegun 4.4.49 on [0, 1], |error| < 1e-6 rad),
/// branch-free so that per-pixel loops vectorise. atan2(0, 0) = 0.
#[inline(always)]
pub(crate) fn fast_atan2(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let mx = ax.max(ay);
    let mn = ax.min(ay);
    let t = if mx > 0.0 { mn / mx } else { 0.0 };
    let t2 = t * t;
    let mut p = 0.002_866_225_7f32;
    p = p * t2 - 0.016_165_737;
    p = p * t2 + 0.042_909_614;
    p = p * t2 - 0.075_289_64;
    p = p * t2 + 0.106_562_64;
    p = p * t2 - 0.142_089;
    p = p * t2 + 0.199_935_51;
    p = p * t2 - 0.333_331_45;
    let mut r = t + t * t2 * p;
    if ay > ax {
        r = std::f32::consts::FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = std::f32::consts::PI - r;
    }
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// Ridge strength (see [`ridge_response`]) and ridge-axis angle for one pixel.
#[inline(always)]
fn ridge_pixel(a: f32, b: f32, c: f32, polarity: Polarity) -> (f32, f32) {
    let (s, vy, vx) = ridge_pixel_axis(a, b, c, polarity);
    (s, axis_angle(vy, vx))
}

/// Ridge strength for one pixel and the vector `(vy, vx)` whose
/// [`axis_angle`] is the ridge axis' angle.
#[inline(always)]
fn ridge_pixel_axis(a: f32, b: f32, c: f32, polarity: Polarity) -> (f32, f32, f32) {
    let (l1, l2) = eig(a, b, c);
    let (vy, vx) = match polarity {
        Polarity::Bright => (2.0 * b, a - c),
        Polarity::Dark => (-2.0 * b, c - a),
    };
    (ridge_strength(l1, l2, polarity), vy, vx)
}

/// The ridge axis' angle from [`ridge_pixel_axis`]'s vector.
#[inline(always)]
fn axis_angle(vy: f32, vx: f32) -> f32 {
    0.5 * fast_atan2(vy, vx)
}

/// Ridge strength from the eigenvalues `l1 ≤ l2` (see [`ridge_pixel`]).
#[inline(always)]
fn ridge_strength(l1: f32, l2: f32, polarity: Polarity) -> f32 {
    // μ1 ≤ μ2: eigenvalues of H (bright) or −H (dark).
    let (mu1, mu2) = match polarity {
        Polarity::Bright => (l1, l2),
        Polarity::Dark => (-l2, -l1),
    };
    let alpha = if mu2 < 0.0 {
        ALPHA_SAME
    } else {
        ALPHA_OPPOSITE
    };
    let am = alpha * mu1;
    let denom = am * am + mu2 * mu2;
    if mu1 < 0.0 && denom > 0.0 {
        -mu1 * am * am / denom
    } else {
        0.0
    }
}

/// Blob strength for one pixel: √(λ1 λ2) when both have the polarity's sign.
#[inline(always)]
fn blob_pixel(a: f32, b: f32, c: f32, polarity: Polarity) -> f32 {
    let (l1, l2) = eig(a, b, c);
    blob_strength(l1, l2, polarity)
}

/// Blob strength from the eigenvalues `l1 ≤ l2` (see [`blob_pixel`]).
#[inline(always)]
fn blob_strength(l1: f32, l2: f32, polarity: Polarity) -> f32 {
    let ok = match polarity {
        Polarity::Bright => l2 < 0.0,
        Polarity::Dark => l1 > 0.0,
    };
    if ok {
        (l1 * l2).sqrt()
    } else {
        0.0
    }
}

/// Sanitised scales: finite and > 0 (others are skipped).
fn valid_sigmas(sigmas: &[f32]) -> impl Iterator<Item = f32> + '_ {
    sigmas.iter().copied().filter(|s| s.is_finite() && *s > 0.0)
}

/// Output rows per parallel Hessian task (the bands of
/// [`ridge_or_blob_contrast_bands`]).
pub(crate) const HBAND: usize = 64;

/// Per-task scratch of [`for_each_hessian_band`].
#[derive(Default)]
struct BandScratch {
    smooth: Vec<f32>,
    fir_tmp: Vec<f32>,
    hrow: Vec<f32>,
    /// Coarse Hessian rows ([`coarse_band`]).
    coarse: Vec<f32>,
    /// The x differences of the smoothed rows ([`dx_row`]).
    dx: Vec<f32>,
    /// Per scale (index in the band's `preps`): the first row and the
    /// values of the smoothed rows this task's previous band shares with
    /// the next band (its last two rows and the two halo rows below it).
    carry: Vec<(usize, Vec<f32>)>,
}

/// What one scale needs before the bands run: the FIR filter fused per
/// band, or the whole smoothed plane (recursive Gaussian, or no smoothing),
/// or the FIR filter of the decimated plane ([`ScalePrep::coarse`]).
struct ScalePrep<'a> {
    sigma: f32,
    s2: f32,
    fir: Option<Fir>,
    full: Option<Plane>,
    /// The plane decimated 2× ([`downsample2`]) and the filter at its σ_c:
    /// the Hessian is taken there and interpolated to every row.
    coarse: Option<(&'a Plane, Fir)>,
}

/// The σ (px of the decimated plane) of the full plane's `sigma_px` on the
/// plane decimated 2×: √(σ² − 1) / 2 (the 2×2 box and the bilinear
/// interpolation back make up the rest of σ², as in `gaussian_blur`'s
/// pyramid).
fn coarse_sigma(sigma_px: f32) -> f32 {
    (sigma_px * sigma_px - 1.0).max(0.0).sqrt() * 0.5
}

impl<'a> ScalePrep<'a> {
    fn new(image: &Plane, sigma_px: f32) -> ScalePrep<'a> {
        Self::new_reusing(image, sigma_px, None)
    }

    /// [`ScalePrep::new`], a whole smoothed plane (if one is needed) in the
    /// buffers of `bufs` (the intermediate and the plane's allocation).
    fn new_reusing(image: &Plane, sigma_px: f32, bufs: Option<&mut RidgeBuffers>) -> ScalePrep<'a> {
        let valid = sigma_px.is_finite() && sigma_px > 0.0;
        let s2 = if valid { sigma_px * sigma_px } else { 1.0 };
        let fir = if valid { fir_for(sigma_px) } else { None };
        let full = match (fir.is_some(), bufs) {
            (true, _) => None,
            (false, Some(b)) if valid => Some(gaussian_blur_reusing(
                image,
                sigma_px,
                &mut b.blur_inter,
                std::mem::take(&mut b.blur_out),
            )),
            (false, _) if valid => Some(gaussian_blur(image, sigma_px)),
            (false, _) => Some(image.clone()),
        };
        ScalePrep {
            sigma: sigma_px,
            s2,
            fir,
            full,
            coarse: None,
        }
    }

    /// The scale `sigma_px` of the full plane from `small`, the full plane
    /// decimated 2× ([`downsample2`]), if the FIR filter applies at its
    /// [`coarse_sigma`]: per band, the Hessian of `small` smoothed at σ_c,
    /// σ²-normalised in full-plane pixels (σ² ∂²_full = σ²/4 ∂²_coarse),
    /// read back by bilinear interpolation ([`upsample_row`]).
    fn coarse(small: &'a Plane, sigma_px: f32) -> Option<ScalePrep<'a>> {
        let fir = fir_for(coarse_sigma(sigma_px))?;
        Some(ScalePrep {
            sigma: sigma_px,
            s2: 0.25 * sigma_px * sigma_px,
            fir: None,
            full: None,
            coarse: Some((small, fir)),
        })
    }
}

super::simd::dispatch! {
    fn upsample_row(c0: &[f32], c1: &[f32], fy: f32, tmp: &mut [f32], out: &mut [f32]) => upsample_row_body
}

/// One row of the bilinear resize of a [`downsample2`] plane back to full
/// size (what `upsample_to` gives, fine x at coarse (x − 0.5) / 2, borders
/// clamped): the coarse rows `c0` and `c1` mixed at `fy` into `tmp` (the
/// coarse width), then spread to `out` (the full width, at most
/// 2 × coarse width): fine x = 2i + 1 at coarse i + 0.25, x = 2i + 2 at
/// i + 0.75.
#[inline(always)]
fn upsample_row_body(c0: &[f32], c1: &[f32], fy: f32, tmp: &mut [f32], out: &mut [f32]) {
    let cw = tmp.len();
    let (c0, c1) = (&c0[..cw], &c1[..cw]);
    for ((t, &a), &b) in tmp.iter_mut().zip(c0).zip(c1) {
        *t = a + fy * (b - a);
    }
    let w = out.len();
    out[0] = tmp[0];
    let pairs = (w - 1) / 2;
    for ((o, &a), &b) in out[1..1 + 2 * pairs]
        .chunks_exact_mut(2)
        .zip(&tmp[..pairs])
        .zip(&tmp[1..=pairs])
    {
        o[0] = a + 0.25 * (b - a);
        o[1] = a + 0.75 * (b - a);
    }
    // An even width ends at coarse cw − 1 + 0.25: clamped.
    if w.is_multiple_of(2) {
        out[w - 1] = tmp[cw - 1];
    }
}

/// Run `f(j, xx, xy, yy, band_outputs)` for every row `j` of every band of
/// [`HBAND`] rows, where `xx, xy, yy` is the σ²-normalised Hessian of the
/// image smoothed at `sigma_px` (as [`hessian`] defines it) and `outputs`
/// yields one item per band (e.g. `par_chunks_mut(HBAND * w)`).
///
/// With the FIR Gaussian the smoothing is fused per band (the band plus two
/// halo rows each side), so no full smoothed plane is kept; otherwise the
/// smoothed plane is computed once. Either way the values are those of
/// `gaussian_blur` followed by the differences, bit for bit.
fn for_each_hessian_band<O, F>(image: &Plane, sigma_px: f32, outputs: O, f: F)
where
    O: IndexedParallelIterator,
    F: Fn(usize, &[f32], &[f32], &[f32], &mut O::Item) + Sync + Send,
{
    let prep = [ScalePrep::new(image, sigma_px)];
    for_each_hessian_band_scales(image, &prep, outputs, |_, j, a, b, c, o| f(j, a, b, c, o));
}

/// [`for_each_hessian_band`] for several scales at once: per band, the
/// scales in order (`f(σ, j, …)`), so that a band's outputs are updated by
/// every scale while they are in cache (one pass over the outputs instead
/// of one per scale; per pixel the same updates in the same order).
fn for_each_hessian_band_scales<O, F>(image: &Plane, preps: &[ScalePrep], outputs: O, f: F)
where
    O: IndexedParallelIterator,
    F: Fn(f32, usize, &[f32], &[f32], &[f32], &mut O::Item) + Sync + Send,
{
    for_each_hessian_band_scales_then(
        image,
        preps,
        outputs,
        || (),
        |_, sigma, j, _, a, b, c, o| f(sigma, j, a, b, c, o),
        |_, _, _, _| {},
    );
}

/// [`for_each_hessian_band_scales`] with a state per parallel task (made
/// by `init`): `f(state, σ, j, l, xx, xy, yy, band_output)` also gets the
/// smoothed row `l` (row `j` of the band of the image smoothed at σ, as
/// [`gaussian_blur`] gives it; empty for a scale of the decimated plane,
/// [`ScalePrep::coarse`]), and `end(state, y0, y1, band_output)` runs
/// once a band's rows `y0..y1` have had every scale.
fn for_each_hessian_band_scales_then<O, S, I, F, E>(
    image: &Plane,
    preps: &[ScalePrep],
    outputs: O,
    init: I,
    f: F,
    end: E,
) where
    O: IndexedParallelIterator,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, f32, usize, &[f32], &[f32], &[f32], &[f32], &mut O::Item) + Sync + Send,
    E: Fn(&mut S, usize, usize, &mut O::Item) + Sync + Send,
{
    let (w, h) = (image.width, image.height);
    outputs.enumerate().for_each_init(
        || (BandScratch::default(), init()),
        |(sc, st), (b, mut out)| {
            let y0 = b * HBAND;
            let y1 = (y0 + HBAND).min(h);
            // Smoothed rows ly0..ly1 covering y0 − 2 ..= y1 + 1 (clamped).
            let (ly0, ly1) = (y0.saturating_sub(2), (y1 + 2).min(h));
            if sc.carry.len() < preps.len() {
                sc.carry
                    .resize_with(preps.len(), || (usize::MAX, Vec::new()));
            }
            for (pi, p) in preps.iter().enumerate() {
                if let Some((small, fir)) = &p.coarse {
                    let mut carry = std::mem::take(&mut sc.carry[pi]);
                    coarse_band(
                        small,
                        fir,
                        p.s2,
                        [w, y0, y1],
                        sc,
                        &mut carry,
                        |y, xx, xy, yy| f(st, p.sigma, y - y0, &[], xx, xy, yy, &mut out),
                    );
                    sc.carry[pi] = carry;
                    continue;
                }
                let lrows: &[f32] = match (&p.fir, &p.full) {
                    (Some(fir), _) => {
                        let n = (ly1 - ly0) * w;
                        grow(&mut sc.smooth, n);
                        // The rows the previous band of this task smoothed
                        // already (the same values: each smoothed row
                        // depends on the image alone), then the rest.
                        let (from, rows) = &sc.carry[pi];
                        let k = if *from == ly0 && rows.len() <= n {
                            sc.smooth[..rows.len()].copy_from_slice(rows);
                            rows.len()
                        } else {
                            0
                        };
                        fir.band(
                            image,
                            ly0 + k / w,
                            ly1,
                            &mut sc.smooth[k..n],
                            &mut sc.fir_tmp,
                        );
                        // The next band (y1..) reads the rows from y1 − 2.
                        let next = y1.saturating_sub(2).max(ly0);
                        let (from, rows) = &mut sc.carry[pi];
                        *from = next;
                        rows.clear();
                        rows.extend_from_slice(&sc.smooth[(next - ly0) * w..n]);
                        &sc.smooth[..n]
                    }
                    (None, Some(l)) => &l.data[ly0 * w..ly1 * w],
                    (None, None) => unreachable!("one of the two is set"),
                };
                let row = |y: isize| {
                    let y = y.clamp(0, h as isize - 1) as usize - ly0;
                    &lrows[y * w..(y + 1) * w]
                };
                // The x differences of every smoothed row, once.
                let dn = w.saturating_sub(4);
                grow(&mut sc.dx, (ly1 - ly0) * dn);
                if dn > 0 {
                    for (l, d) in lrows[..(ly1 - ly0) * w]
                        .chunks_exact(w)
                        .zip(sc.dx.chunks_exact_mut(dn))
                    {
                        dx_row(l, d);
                    }
                }
                let dxs = &sc.dx;
                let drow = |y: isize| {
                    let y = y.clamp(0, h as isize - 1) as usize - ly0;
                    &dxs[y * dn..(y + 1) * dn]
                };
                grow(&mut sc.hrow, 3 * w);
                let (xx, rest) = sc.hrow.split_at_mut(w);
                let (xy, rest) = rest.split_at_mut(w);
                let yy = &mut rest[..w];
                for y in y0..y1 {
                    let yi = y as isize;
                    let rows = [row(yi - 2), row(yi - 1), row(yi), row(yi + 1), row(yi + 2)];
                    let dx = [drow(yi - 2), drow(yi - 1), drow(yi + 1), drow(yi + 2)];
                    hessian_row_dx(rows, dx, p.s2, xx, xy, yy);
                    f(st, p.sigma, y - y0, rows[2], xx, xy, yy, &mut out);
                }
            }
            end(st, y0, y1, &mut out);
        },
    );
}

/// The rows `y0..y1` of the σ²-normalised Hessian of a coarse scale
/// ([`ScalePrep::coarse`]): the decimated plane `small` smoothed by `fir`
/// over the coarse rows they read (and two halo rows each side), its
/// Hessian times `s2` there, then interpolated row by row: `g(y, xx, xy,
/// yy)` for every full-plane row `y` (`w` wide). `carry`: the first row
/// and the values of smoothed coarse rows a previous band of the task
/// left (used when they are this band's first), replaced by this band's
/// rows that the next band reads.
fn coarse_band(
    small: &Plane,
    fir: &Fir,
    s2: f32,
    [w, y0, y1]: [usize; 3],
    sc: &mut BandScratch,
    carry: &mut (usize, Vec<f32>),
    mut g: impl FnMut(usize, &[f32], &[f32], &[f32]),
) {
    let (cw, ch) = (small.width, small.height);
    // Full row y reads coarse rows ⌊cy⌋ and ⌊cy⌋ + 1 (clamped), with
    // cy = (y − 0.5) / 2 clamped to the plane.
    let cy = |y: usize| ((y as f32 - 0.5) * 0.5).max(0.0).min((ch - 1) as f32);
    let c0 = cy(y0) as usize;
    let c1 = (cy(y1 - 1) as usize + 1).min(ch - 1);
    let (ly0, ly1) = (c0.saturating_sub(2), (c1 + 3).min(ch));
    let nv = (ly1 - ly0) * cw;
    grow(&mut sc.smooth, nv);
    // Rows the previous band smoothed already (each smoothed row depends
    // on the plane alone: the same values), then the rest.
    let k = if carry.0 == ly0 && carry.1.len() <= nv {
        sc.smooth[..carry.1.len()].copy_from_slice(&carry.1);
        carry.1.len()
    } else {
        0
    };
    fir.band(
        small,
        ly0 + k / cw,
        ly1,
        &mut sc.smooth[k..nv],
        &mut sc.fir_tmp,
    );
    // The next band (from y1) starts its rows at this row.
    let next = (cy(y1) as usize).saturating_sub(2).clamp(ly0, ly1);
    carry.0 = next;
    carry.1.clear();
    carry.1.extend_from_slice(&sc.smooth[(next - ly0) * cw..nv]);
    let n = c1 + 1 - c0;
    grow(&mut sc.coarse, 3 * n * cw);
    let (cxx, rest) = sc.coarse.split_at_mut(n * cw);
    let (cxy, rest) = rest.split_at_mut(n * cw);
    let cyy = &mut rest[..n * cw];
    let lrows = &sc.smooth[..nv];
    let row = |y: isize| {
        let y = y.clamp(0, ch as isize - 1) as usize - ly0;
        &lrows[y * cw..(y + 1) * cw]
    };
    for r in c0..=c1 {
        let ri = r as isize;
        let rows = [row(ri - 2), row(ri - 1), row(ri), row(ri + 1), row(ri + 2)];
        let o = (r - c0) * cw..(r - c0 + 1) * cw;
        hessian_row(
            rows,
            s2,
            &mut cxx[o.clone()],
            &mut cxy[o.clone()],
            &mut cyy[o],
        );
    }
    grow(&mut sc.hrow, 3 * w + cw);
    let (xx, rest) = sc.hrow.split_at_mut(w);
    let (xy, rest) = rest.split_at_mut(w);
    let (yy, rest) = rest.split_at_mut(w);
    let tmp = &mut rest[..cw];
    for y in y0..y1 {
        let c = cy(y);
        let r0 = c as usize;
        let r1 = (r0 + 1).min(ch - 1);
        let fy = c - r0 as f32;
        let (o0, o1) = ((r0 - c0) * cw, (r1 - c0) * cw);
        for (p, o) in [(&*cxx, &mut *xx), (&*cxy, &mut *xy), (&*cyy, &mut *yy)] {
            upsample_row(&p[o0..o0 + cw], &p[o1..o1 + cw], fy, tmp, o);
        }
        g(y, xx, xy, yy);
    }
}

/// Valid scales in groups of consecutive ones that hold at most one whole
/// smoothed plane at a time (the FIR scales need none, nor do those at or
/// above `coarse_from_px`, on the decimated plane).
fn scale_groups(sigmas: &[f32], coarse_from_px: f32) -> Vec<Vec<f32>> {
    let mut groups: Vec<Vec<f32>> = Vec::new();
    let mut full_in_last = false;
    for s in valid_sigmas(sigmas) {
        let coarse = s >= coarse_from_px && fir_for(coarse_sigma(s)).is_some();
        let full = fir_for(s).is_none() && !coarse;
        match groups.last_mut() {
            Some(g) if !(full && full_in_last) => {
                g.push(s);
                full_in_last |= full;
            }
            _ => {
                groups.push(vec![s]);
                full_in_last = full;
            }
        }
    }
    groups
}

/// Row `j` of a band chunk of width `w`.
#[inline]
fn band_row(chunk: &mut [f32], j: usize, w: usize) -> &mut [f32] {
    &mut chunk[j * w..(j + 1) * w]
}

super::simd::dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn ridge_update_row(a: &[f32], b: &[f32], c: &[f32], sigma: f32, polarity: Polarity, init: bool, st: &mut [f32], sc: &mut [f32], vy: &mut [f32], vx: &mut [f32]) => ridge_update_row_body
}

/// [`ridge_row`], `init` as a value.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn ridge_update_row_body(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    sigma: f32,
    polarity: Polarity,
    init: bool,
    st: &mut [f32],
    sc: &mut [f32],
    vy: &mut [f32],
    vx: &mut [f32],
) {
    if init {
        ridge_row::<true>(a, b, c, sigma, polarity, st, sc, [vy, vx]);
    } else {
        ridge_row::<false>(a, b, c, sigma, polarity, st, sc, [vy, vx]);
    }
}

/// The ridge update of one row: the outputs take this scale's strength,
/// σ and axis vector `(vy, vx)` ([`ridge_pixel_axis`]) where its strength
/// is greater than theirs; `INIT`: as if the strength, σ and `vy` were
/// zeros and `vx` NaN (they are not read). The angle is taken once per
/// pixel, of the best scale's vector ([`ridge_angles_row`]), not at every
/// scale that is better so far.
///
/// A pixel a scale updates gets a `vx` that is not NaN (a NaN `a` or `c`
/// gives a NaN eigenvalue, so a zero strength, never better), so `vx`
/// NaN marks the pixels no scale has updated.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn ridge_row<const INIT: bool>(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    sigma: f32,
    polarity: Polarity,
    st: &mut [f32],
    sc: &mut [f32],
    [vy, vx]: [&mut [f32]; 2],
) {
    let n = a.len();
    let (b, c, st, sc) = (&b[..n], &c[..n], &mut st[..n], &mut sc[..n]);
    let (vy, vx) = (&mut vy[..n], &mut vx[..n]);
    macro_rules! body {
        ($pol:expr) => {
            for i in 0..n {
                let (s, y, x) = ridge_pixel_axis(a[i], b[i], c[i], $pol);
                let (st0, sc0, vy0, vx0) = if INIT {
                    (0.0, 0.0, 0.0, f32::NAN)
                } else {
                    (st[i], sc[i], vy[i], vx[i])
                };
                let better = s > st0;
                st[i] = if better { s } else { st0 };
                sc[i] = if better { sigma } else { sc0 };
                vy[i] = if better { y } else { vy0 };
                vx[i] = if better { x } else { vx0 };
            }
        };
    }
    match polarity {
        Polarity::Bright => body!(Polarity::Bright),
        Polarity::Dark => body!(Polarity::Dark),
    }
}

super::simd::dispatch! {
    fn ridge_angles_row(di: &mut [f32], vx: &mut [f32]) => ridge_angles_row_body
}

/// The direction of a row after [`ridge_row`]'s updates: where a scale
/// updated the pixel (`vx` not NaN), `di` (holding `vy`) becomes the
/// [`axis_angle`] of `(vy, vx)`, the angle the best scale's update gave
/// before; elsewhere it stays (0, or an earlier group's angle). `vx` is
/// left all NaN for the next band.
#[inline(always)]
fn ridge_angles_row_body(di: &mut [f32], vx: &mut [f32]) {
    let n = di.len();
    let vx = &mut vx[..n];
    for i in 0..n {
        let x = vx[i];
        let d = axis_angle(di[i], x);
        di[i] = if x.is_nan() { di[i] } else { d };
        vx[i] = f32::NAN;
    }
}

/// Per-task state of the ridge updates of [`ridge_band_row`]: the `vx` of
/// a band of [`HBAND`] rows (NaN where no scale has updated the pixel).
#[derive(Default)]
struct RidgeBand {
    vx: Vec<f32>,
}

impl RidgeBand {
    /// [`ridge_update_row`] of row `j` of a band, its `vy` in `di`.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        [a, b, c]: [&[f32]; 3],
        sigma: f32,
        polarity: Polarity,
        init: bool,
        j: usize,
        w: usize,
        [st, sc, di]: [&mut [f32]; 3],
    ) {
        if self.vx.len() < HBAND * w {
            self.vx = vec![f32::NAN; HBAND * w];
        }
        let (st, sc, di) = (band_row(st, j, w), band_row(sc, j, w), band_row(di, j, w));
        let vx = band_row(&mut self.vx, j, w);
        ridge_update_row(a, b, c, sigma, polarity, init, st, sc, di, vx);
    }

    /// The angles of the band's `rows` rows once every scale of a group
    /// has updated them ([`ridge_angles_row`]).
    fn end(&mut self, rows: usize, w: usize, di: &mut [f32]) {
        if !self.vx.is_empty() {
            ridge_angles_row(&mut di[..rows * w], &mut self.vx[..rows * w]);
        }
    }
}

super::simd::dispatch! {
    fn blob_update_row(a: &[f32], b: &[f32], c: &[f32], sigma: f32, polarity: Polarity, st: &mut [f32], sc: &mut [f32]) => blob_update_row_body
}

#[inline(always)]
fn blob_update_row_body(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    sigma: f32,
    polarity: Polarity,
    st: &mut [f32],
    sc: &mut [f32],
) {
    let n = a.len();
    let (b, c, st, sc) = (&b[..n], &c[..n], &mut st[..n], &mut sc[..n]);
    macro_rules! body {
        ($pol:expr) => {
            for i in 0..n {
                let s = blob_pixel(a[i], b[i], c[i], $pol);
                let better = s > st[i];
                st[i] = if better { s } else { st[i] };
                sc[i] = if better { sigma } else { sc[i] };
            }
        };
    }
    match polarity {
        Polarity::Bright => body!(Polarity::Bright),
        Polarity::Dark => body!(Polarity::Dark),
    }
}

super::simd::dispatch! {
    fn eigen_row(a: &[f32], b: &[f32], c: &[f32], o1: &mut [f32], o2: &mut [f32]) => eigen_row_body
}

#[inline(always)]
fn eigen_row_body(a: &[f32], b: &[f32], c: &[f32], o1: &mut [f32], o2: &mut [f32]) {
    let n = a.len();
    let (b, c, o1, o2) = (&b[..n], &c[..n], &mut o1[..n], &mut o2[..n]);
    for i in 0..n {
        (o1[i], o2[i]) = eig(a[i], b[i], c[i]);
    }
}

super::simd::dispatch! {
    fn direction_row(a: &[f32], b: &[f32], c: &[f32], polarity: Polarity, o: &mut [f32]) => direction_row_body
}

#[inline(always)]
fn direction_row_body(a: &[f32], b: &[f32], c: &[f32], polarity: Polarity, o: &mut [f32]) {
    let n = a.len();
    let (b, c, o) = (&b[..n], &c[..n], &mut o[..n]);
    macro_rules! body {
        ($pol:expr) => {
            for i in 0..n {
                o[i] = ridge_pixel(a[i], b[i], c[i], $pol).1;
            }
        };
    }
    match polarity {
        Polarity::Bright => body!(Polarity::Bright),
        Polarity::Dark => body!(Polarity::Dark),
    }
}

/// σ²-normalised Hessian of `image` at scale `sigma_px` (see module docs).
/// A σ that is not finite or ≤ 0 gives the Hessian of the unsmoothed image
/// with factor 1 — zero for a constant image, never a panic.
#[must_use = "the function does not modify the original image"]
pub fn hessian(image: &Plane, sigma_px: f32) -> HessianPlanes {
    let (w, h) = (image.width, image.height);
    let mut xx = super::zeroed_vec::<f32>(w * h);
    let mut xy = super::zeroed_vec::<f32>(w * h);
    let mut yy = super::zeroed_vec::<f32>(w * h);
    if w > 0 && h > 0 {
        let outs = xx
            .par_chunks_mut(HBAND * w)
            .zip(xy.par_chunks_mut(HBAND * w))
            .zip(yy.par_chunks_mut(HBAND * w));
        for_each_hessian_band(image, sigma_px, outs, |j, a, b, c, ((oa, ob), oc)| {
            band_row(oa, j, w).copy_from_slice(a);
            band_row(ob, j, w).copy_from_slice(b);
            band_row(oc, j, w).copy_from_slice(c);
        });
    }
    HessianPlanes {
        xx: Plane::from_vec(w, h, xx),
        xy: Plane::from_vec(w, h, xy),
        yy: Plane::from_vec(w, h, yy),
    }
}

/// Eigenvalues of the σ²-normalised Hessian, **λ1 ≤ λ2** (signed, ascending).
/// A bright ridge has λ1 ≪ 0 and λ2 ≈ 0; a dark ridge λ2 ≫ 0 and λ1 ≈ 0.
#[must_use = "the function does not modify the original image"]
pub fn hessian_eigen(image: &Plane, sigma_px: f32) -> (Plane, Plane) {
    let (w, h) = (image.width, image.height);
    let mut l1 = super::zeroed_vec::<f32>(w * h);
    let mut l2 = super::zeroed_vec::<f32>(w * h);
    if w > 0 && h > 0 {
        let outs = l1
            .par_chunks_mut(HBAND * w)
            .zip(l2.par_chunks_mut(HBAND * w));
        for_each_hessian_band(image, sigma_px, outs, |j, a, b, c, (o1, o2)| {
            eigen_row(a, b, c, band_row(o1, j, w), band_row(o2, j, w));
        });
    }
    (Plane::from_vec(w, h, l1), Plane::from_vec(w, h, l2))
}

/// Angle of the ridge axis (the eigenvector of the smaller curvature across
/// `polarity`'s ridges) at scale `sigma_px`, radians in (−π/2, π/2] from +x
/// towards +y. Meaningless (but finite) where there is no ridge.
#[must_use = "the function does not modify the original image"]
pub fn ridge_direction(image: &Plane, sigma_px: f32, polarity: Polarity) -> Plane {
    let (w, h) = (image.width, image.height);
    let mut dir = super::zeroed_vec::<f32>(w * h);
    if w > 0 && h > 0 {
        let outs = dir.par_chunks_mut(HBAND * w);
        for_each_hessian_band(image, sigma_px, outs, |j, a, b, c, o| {
            direction_row(a, b, c, polarity, band_row(o, j, w));
        });
    }
    Plane::from_vec(w, h, dir)
}

/// Multi-scale ridge (line) response, maximum over `sigmas` (px).
///
/// Per pixel and scale, with μ1 ≤ μ2 the eigenvalues of the σ²-normalised
/// Hessian `H` (Bright) or of `−H` (Dark), μ1 across the ridge and μ2 along it:
///
/// ```text
/// strength = −μ1 / (1 + (μ2 / (α μ1))²)   if μ1 < 0, else 0
/// α = 0.5 when μ2 < 0 (blob-like: a blob keeps 1/5), α = 2 otherwise
/// ```
///
/// This is Sato et al. (1998)'s line filter with the exponential gate
/// replaced by the rational `1/(1+r²)` of the same width (cheap and
/// vectorisable). It is linear in contrast and scale-invariant: a straight
/// ridge gives `−μ1`, whose peak over σ is given in the module docs
/// (σ = w/2 for a bar of width w, σ = √2·s for a Gaussian profile of std s).
/// Ties between scales keep the smaller σ. Non-finite or non-positive σ are
/// skipped; no valid σ gives zero planes.
#[must_use = "the function does not modify the original image"]
pub fn ridge_response(image: &Plane, sigmas: &[f32], polarity: Polarity) -> RidgeResponse {
    ridge_response_reusing(
        image,
        sigmas,
        polarity,
        f32::INFINITY,
        &mut RidgeBuffers::default(),
    )
}

/// Buffers [`ridge_response_reusing`] works in: the three output planes
/// (handed back with [`RidgeBuffers::give_back`]) and the recursive
/// Gaussian's intermediate and output (for the scales at or above
/// `IIR_MIN_SIGMA`). Empty by default; once used they hold about five
/// planes of the image's size.
#[derive(Default)]
pub(crate) struct RidgeBuffers {
    strength: Vec<f32>,
    scale: Vec<f32>,
    direction: Vec<f32>,
    blur_inter: Vec<f32>,
    blur_out: Vec<f32>,
}

impl RidgeBuffers {
    /// Keep the planes of `r` for the next call.
    pub(crate) fn give_back(&mut self, r: RidgeResponse) {
        self.strength = r.strength.data;
        self.scale = r.scale.data;
        self.direction = r.direction.data;
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        4 * [
            &self.strength,
            &self.scale,
            &self.direction,
            &self.blur_inter,
            &self.blur_out,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum::<usize>()
    }
}

/// [`ridge_response`] in the allocations of `bufs` (any contents; the same
/// bits): memory the process has already written is reused without the
/// page faults and zeroing of fresh pages. The output planes are taken
/// from `bufs`; hand them back with [`RidgeBuffers::give_back`].
///
/// The first scale writes the outputs outright (what its update of zeroed
/// planes would give: the response where it is > 0, else zeros), so no
/// plane is cleared first.
///
/// The scales at or above `coarse_from_px` (and above 1) are computed on the
/// plane decimated 2× ([`downsample2`], [`ScalePrep::coarse`]) and their
/// Hessian interpolated back: a quarter of the smoothing and differences,
/// which dominate at large σ, for an interpolation error that is small
/// where the image smoothed at σ is (σ ≳ 2.5 px); `f32::INFINITY`: none.
pub(crate) fn ridge_response_reusing(
    image: &Plane,
    sigmas: &[f32],
    polarity: Polarity,
    coarse_from_px: f32,
    bufs: &mut RidgeBuffers,
) -> RidgeResponse {
    let (w, h) = (image.width, image.height);
    let is_coarse = |s: f32| s >= coarse_from_px && fir_for(coarse_sigma(s)).is_some();
    let small = (w > 0 && h > 0 && valid_sigmas(sigmas).any(is_coarse)).then(|| downsample2(image));
    let mut strength = reuse_len(std::mem::take(&mut bufs.strength), w * h);
    let mut scale = reuse_len(std::mem::take(&mut bufs.scale), w * h);
    let mut direction = reuse_len(std::mem::take(&mut bufs.direction), w * h);
    let groups = if w > 0 && h > 0 {
        scale_groups(sigmas, coarse_from_px)
    } else {
        Vec::new()
    };
    if groups.is_empty() {
        for v in [&mut strength, &mut scale, &mut direction] {
            v.fill(0.0);
        }
    }
    for (gi, group) in groups.iter().enumerate() {
        let first = (gi == 0).then_some(group[0]);
        let preps: Vec<ScalePrep> = group
            .iter()
            .map(|&s| {
                small
                    .as_ref()
                    .filter(|_| is_coarse(s))
                    .and_then(|small| ScalePrep::coarse(small, s))
                    .unwrap_or_else(|| ScalePrep::new_reusing(image, s, Some(&mut *bufs)))
            })
            .collect();
        let outs = strength
            .par_chunks_mut(HBAND * w)
            .zip(scale.par_chunks_mut(HBAND * w))
            .zip(direction.par_chunks_mut(HBAND * w));
        for_each_hessian_band_scales_then(
            image,
            &preps,
            outs,
            RidgeBand::default,
            |band, sigma, j, _, a, b, c, ((st, sc), di)| {
                // The same σ again gives the same values: writing them
                // outright equals the update either way.
                let init = first == Some(sigma);
                band.update([a, b, c], sigma, polarity, init, j, w, [st, sc, di]);
            },
            |band, y0, y1, ((_, _), di)| band.end(y1 - y0, w, di),
        );
        // The smoothed plane (at most one per group) is kept for the next.
        for p in preps {
            if let Some(full) = p.full {
                if p.fir.is_none() && full.data.capacity() > bufs.blur_out.capacity() {
                    bufs.blur_out = full.data;
                }
            }
        }
    }
    RidgeResponse {
        strength: Plane::from_vec(w, h, strength),
        scale: Plane::from_vec(w, h, scale),
        direction: Plane::from_vec(w, h, direction),
    }
}

/// Multi-scale blob response, maximum over `sigmas` (px).
///
/// Per pixel and scale: `strength = √(λ1 λ2)` of the σ²-normalised Hessian
/// when both eigenvalues are < 0 (Bright) or both > 0 (Dark), else 0 — the
/// square root of the normalised determinant of the Hessian, in contrast
/// units. Best σ: `R/√2` for a disc of radius R (peak A/e), `s` for a
/// Gaussian blob of std s (peak A/4). Ties keep the smaller σ; non-finite or
/// non-positive σ are skipped.
#[must_use = "the function does not modify the original image"]
pub fn blob_response(image: &Plane, sigmas: &[f32], polarity: Polarity) -> BlobResponse {
    let (w, h) = (image.width, image.height);
    let mut strength = super::zeroed_vec::<f32>(w * h);
    let mut scale = super::zeroed_vec::<f32>(w * h);
    if w > 0 && h > 0 {
        for group in scale_groups(sigmas, f32::INFINITY) {
            let preps: Vec<ScalePrep> = group.iter().map(|&s| ScalePrep::new(image, s)).collect();
            let outs = strength
                .par_chunks_mut(HBAND * w)
                .zip(scale.par_chunks_mut(HBAND * w));
            for_each_hessian_band_scales(image, &preps, outs, |sigma, j, a, b, c, (st, sc)| {
                let (st, sc) = (band_row(st, j, w), band_row(sc, j, w));
                blob_update_row(a, b, c, sigma, polarity, st, sc);
            });
        }
    }
    BlobResponse {
        strength: Plane::from_vec(w, h, strength),
        scale: Plane::from_vec(w, h, scale),
    }
}

/// [`ridge_response`] and [`blob_response`] from one Hessian per scale
/// (bit-identical to calling both, about half the work: the Gaussian
/// derivatives dominate).
///
/// Added on the `vessels` branch for the capillary stage (which needs both
/// responses at the same scales); kernels owner: please review.
#[must_use = "the function does not modify the original image"]
pub fn ridge_and_blob_response(
    image: &Plane,
    sigmas: &[f32],
    polarity: Polarity,
) -> (RidgeResponse, BlobResponse) {
    let (w, h) = (image.width, image.height);
    let mut r_st = super::zeroed_vec::<f32>(w * h);
    let mut r_sc = super::zeroed_vec::<f32>(w * h);
    let mut r_di = super::zeroed_vec::<f32>(w * h);
    let mut b_st = super::zeroed_vec::<f32>(w * h);
    let mut b_sc = super::zeroed_vec::<f32>(w * h);
    if w > 0 && h > 0 {
        for group in scale_groups(sigmas, f32::INFINITY) {
            let preps: Vec<ScalePrep> = group.iter().map(|&s| ScalePrep::new(image, s)).collect();
            let outs = r_st
                .par_chunks_mut(HBAND * w)
                .zip(r_sc.par_chunks_mut(HBAND * w))
                .zip(r_di.par_chunks_mut(HBAND * w))
                .zip(b_st.par_chunks_mut(HBAND * w))
                .zip(b_sc.par_chunks_mut(HBAND * w));
            for_each_hessian_band_scales_then(
                image,
                &preps,
                outs,
                RidgeBand::default,
                |band, sigma, j, _, a, b, c, ((((rst, rsc), rdi), bst), bsc)| {
                    band.update([a, b, c], sigma, polarity, false, j, w, [rst, rsc, rdi]);
                    let (bst, bsc) = (band_row(bst, j, w), band_row(bsc, j, w));
                    blob_update_row(a, b, c, sigma, polarity, bst, bsc);
                },
                |band, y0, y1, ((((_, _), rdi), _), _)| band.end(y1 - y0, w, rdi),
            );
        }
    }
    (
        RidgeResponse {
            strength: Plane::from_vec(w, h, r_st),
            scale: Plane::from_vec(w, h, r_sc),
            direction: Plane::from_vec(w, h, r_di),
        },
        BlobResponse {
            strength: Plane::from_vec(w, h, b_st),
            scale: Plane::from_vec(w, h, b_sc),
        },
    )
}

/// The larger of `ridge.strength / ridge_peak` and `blob.strength /
/// blob_peak` of [`ridge_and_blob_response`], bit for bit, without the scale
/// and direction planes (one output plane instead of five, no angles): the
/// structure's contrast estimate when only its strength is wanted (the
/// vessel candidates). `ridge_peak` and `blob_peak` must be > 0.
#[must_use = "the function does not modify the original image"]
pub fn ridge_or_blob_contrast(
    image: &Plane,
    sigmas: &[f32],
    polarity: Polarity,
    ridge_peak: f32,
    blob_peak: f32,
) -> Plane {
    ridge_or_blob_contrast_into(image, sigmas, polarity, ridge_peak, blob_peak, Vec::new())
}

/// [`ridge_or_blob_contrast`] into the allocation of `out` (any contents;
/// the same bits): a buffer the process has already written is cleared
/// and reused without the page faults of a fresh plane; one too small is
/// replaced by a fresh zeroed plane.
pub(crate) fn ridge_or_blob_contrast_into(
    image: &Plane,
    sigmas: &[f32],
    polarity: Polarity,
    ridge_peak: f32,
    blob_peak: f32,
    out: Vec<f32>,
) -> Plane {
    let (w, h) = (image.width, image.height);
    let reused = out.capacity() >= w * h;
    let mut out = reuse_len(out, w * h);
    if reused {
        out.par_chunks_mut(HBAND * w.max(1))
            .for_each(|c| c.fill(0.0));
    }
    if w > 0 && h > 0 {
        for group in scale_groups(sigmas, f32::INFINITY) {
            let preps: Vec<ScalePrep> = group.iter().map(|&s| ScalePrep::new(image, s)).collect();
            for_each_hessian_band_scales(
                image,
                &preps,
                out.par_chunks_mut(HBAND * w),
                |_, j, a, b, c, o| {
                    let o = band_row(o, j, w);
                    contrast_update_row(a, b, c, polarity, ridge_peak, blob_peak, o);
                },
            );
        }
    }
    Plane::from_vec(w, h, out)
}

/// Per band of rows: the rows of [`ridge_or_blob_contrast`] and, when
/// `smooth_sigma` is one of the (valid) `sigmas`, the same rows of
/// [`gaussian_blur`] at that σ (the Hessian's own smoothing, bit for bit),
/// handed to `f(y0, contrast, smoothed, band_output)` while in cache: no
/// plane of either. `outputs` yields one item per band of [`HBAND`] rows
/// (e.g. `par_chunks_mut(HBAND * width)`); `contrast` and `smoothed` hold
/// the band's rows `y0..` (`smoothed` is `None` when `smooth_sigma` is not
/// a scale). Every scale's whole smoothed plane, if it needs one (σ ≥ 8),
/// is held at once.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ridge_or_blob_contrast_bands<O, F>(
    image: &Plane,
    sigmas: &[f32],
    polarity: Polarity,
    ridge_peak: f32,
    blob_peak: f32,
    smooth_sigma: f32,
    outputs: O,
    f: F,
) where
    O: IndexedParallelIterator,
    F: Fn(usize, &[f32], Option<&[f32]>, &mut O::Item) + Sync + Send,
{
    let w = image.width;
    if w == 0 || image.height == 0 {
        return;
    }
    let preps: Vec<ScalePrep> = valid_sigmas(sigmas)
        .map(|s| ScalePrep::new(image, s))
        .collect();
    let smooth = preps.iter().any(|p| p.sigma == smooth_sigma);
    /// A band's contrast rows (zeros before the first scale) and smoothed rows.
    struct Band {
        contrast: Vec<f32>,
        smoothed: Vec<f32>,
    }
    for_each_hessian_band_scales_then(
        image,
        &preps,
        outputs,
        || Band {
            contrast: vec![0.0; HBAND * w],
            smoothed: vec![0.0; if smooth { HBAND * w } else { 0 }],
        },
        |st, sigma, j, l, a, b, c, _| {
            let o = band_row(&mut st.contrast, j, w);
            contrast_update_row(a, b, c, polarity, ridge_peak, blob_peak, o);
            if smooth && sigma == smooth_sigma {
                band_row(&mut st.smoothed, j, w).copy_from_slice(l);
            }
        },
        |st, y0, y1, out| {
            let n = (y1 - y0) * w;
            f(
                y0,
                &st.contrast[..n],
                smooth.then(|| &st.smoothed[..n]),
                out,
            );
            st.contrast[..n].fill(0.0);
        },
    );
}

super::simd::dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn contrast_update_row(a: &[f32], b: &[f32], c: &[f32], polarity: Polarity, ridge_peak: f32, blob_peak: f32, o: &mut [f32]) => contrast_update_row_body
}

/// Per pixel the maximum of the output so far and of this scale's ridge and
/// blob strengths divided by their peaks. The maximum of the quotients is
/// the quotient of the maximum (division by a positive constant is
/// monotone, also after rounding), and NaN strengths are skipped as in
/// [`ridge_update_row`] and [`blob_update_row`]: equal to the strengths'
/// maxima divided afterwards.
#[inline(always)]
fn contrast_update_row_body(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    polarity: Polarity,
    ridge_peak: f32,
    blob_peak: f32,
    o: &mut [f32],
) {
    let n = a.len();
    let (b, c, o) = (&b[..n], &c[..n], &mut o[..n]);
    macro_rules! body {
        ($pol:expr) => {
            for i in 0..n {
                let (l1, l2) = eig(a[i], b[i], c[i]);
                let r = ridge_strength(l1, l2, $pol) / ridge_peak;
                let bl = blob_strength(l1, l2, $pol) / blob_peak;
                let m = if r > o[i] { r } else { o[i] };
                o[i] = if bl > m { bl } else { m };
            }
        };
    }
    match polarity {
        Polarity::Bright => body!(Polarity::Bright),
        Polarity::Dark => body!(Polarity::Dark),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Geometric sweep of scales, 4 % apart.
    fn sweep(lo: f32, hi: f32) -> Vec<f32> {
        let mut v = vec![lo];
        while *v.last().unwrap() < hi {
            v.push(v.last().unwrap() * 1.04);
        }
        v
    }

    /// A horizontal ridge through row `h/2` (plus `offset`) with profile `f(dy)`.
    fn ridge_image(w: usize, h: usize, f: impl Fn(f64) -> f64) -> Plane {
        let c = (h / 2) as f64;
        let mut p = Plane::filled(w, h, 0.0);
        for y in 0..h {
            let v = f(y as f64 - c) as f32;
            p.data[y * w..(y + 1) * w].fill(v);
        }
        p
    }

    /// Fraction of the pixel [y−½, y+½] covered by |t| < half (pixel-integrated bar).
    fn bar(dy: f64, half: f64) -> f64 {
        ((dy + 0.5).min(half) - (dy - 0.5).max(-half)).clamp(0.0, 1.0)
    }

    fn peak_at_centre(p: &Plane, sigmas: &[f32], pol: Polarity) -> (f32, f32) {
        let r = ridge_response(p, sigmas, pol);
        let (x, y) = (p.width / 2, p.height / 2);
        (r.strength.get(x, y), r.scale.get(x, y))
    }

    /// A w × h plane of sin(fx·x)·cos(fy·y) plus `noise` × a pseudo-random
    /// step in 0..m.
    fn wavy(w: usize, h: usize, (fx, fy): (f32, f32), noise: f32, m: usize) -> Plane {
        let v = (0..w * h).map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            (fx * x).sin() * (fy * y).cos() + noise * ((i * 7919) % m) as f32
        });
        Plane::from_vec(w, h, v.collect())
    }

    #[test]
    fn fused_ridge_and_blob_equal_the_separate_responses() {
        let p = wavy(97, 83, (0.3, 0.2), 0.01, 13);
        for pol in [Polarity::Bright, Polarity::Dark] {
            let sig = [1.0, 2.5, 6.0];
            let (r, b) = ridge_and_blob_response(&p, &sig, pol);
            assert_eq!(r, ridge_response(&p, &sig, pol));
            assert_eq!(b, blob_response(&p, &sig, pol));
        }
    }

    #[test]
    fn ridge_or_blob_contrast_into_a_junk_buffer_equals_the_allocating_one() {
        let (w, h) = (41, 29);
        let p = Plane::from_vec(
            w,
            h,
            (0..w * h)
                .map(|i| ((i * 7919) % 97) as f32 * 0.01)
                .collect(),
        );
        // FIR and recursive scales; buffers too small, too large, reused.
        let sig = [0.7f32, 1.2, 9.0];
        for pol in [Polarity::Bright, Polarity::Dark] {
            let want = ridge_or_blob_contrast(&p, &sig, pol, 0.484, 0.368);
            let mut out = vec![f32::NAN; 17];
            for n in [0usize, 3 * w * h] {
                let got = ridge_or_blob_contrast_into(&p, &sig, pol, 0.484, 0.368, out);
                assert_eq!((got.width, got.height), (w, h));
                assert!(got
                    .data
                    .iter()
                    .zip(&want.data)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
                out = got.data;
                out.iter_mut().for_each(|v| *v = 7.5);
                out.resize(n.max(out.len()), f32::INFINITY);
            }
        }
    }

    #[test]
    fn contrast_bands_equal_the_contrast_and_blur_planes() {
        // Three bands (the last partial); FIR and recursive scales, the
        // smoothing σ first, later or no scale at all.
        let (w, h) = (41, 2 * HBAND + 11);
        let p = wavy(w, h, (0.3, 0.2), 0.01, 13);
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        for (sig, s) in [
            (vec![0.7f32, 1.2, 9.0], 0.7f32),
            (vec![1.2, 9.0, 0.7], 0.7),
            (vec![1.2, 2.0], 0.9),
        ] {
            for pol in [Polarity::Bright, Polarity::Dark] {
                let want = ridge_or_blob_contrast(&p, &sig, pol, 0.484, 0.368);
                let blur = gaussian_blur(&p, s);
                let mut got = vec![f32::NAN; w * h];
                let mut sm = vec![f32::NAN; w * h];
                let mut had = vec![false; h.div_ceil(HBAND)];
                ridge_or_blob_contrast_bands(
                    &p,
                    &sig,
                    pol,
                    0.484,
                    0.368,
                    s,
                    got.par_chunks_mut(HBAND * w)
                        .zip(sm.par_chunks_mut(HBAND * w))
                        .zip(had.par_iter_mut()),
                    |y0, v, smooth, ((g, o), had)| {
                        assert_eq!(v.len(), g.len());
                        assert_eq!(y0 * w, (y0 / HBAND) * HBAND * w);
                        g.copy_from_slice(v);
                        if let Some(l) = smooth {
                            o.copy_from_slice(l);
                            **had = true;
                        }
                    },
                );
                assert!(same(&got, &want.data));
                let scale = sig.contains(&s);
                assert!(had.iter().all(|&x| x == scale));
                if scale {
                    assert!(same(&sm, &blur.data));
                }
            }
        }
    }

    #[test]
    fn ridge_or_blob_contrast_equals_the_divided_maximum_bit_for_bit() {
        let (w, h) = (131, 70);
        let p = wavy(w, h, (0.4, 0.3), 0.02, 17);
        // FIR scales and a large one (recursive Gaussian, a full plane).
        let sig = [0.5, 0.7, 1.2, 9.0];
        let (rp, bp) = (0.484f32, 0.368f32);
        for pol in [Polarity::Bright, Polarity::Dark] {
            let (r, b) = ridge_and_blob_response(&p, &sig, pol);
            let want: Vec<u32> = (r.strength.data.iter())
                .zip(&b.strength.data)
                .map(|(&r, &b)| (r / rp).max(b / bp).to_bits())
                .collect();
            let got = ridge_or_blob_contrast(&p, &sig, pol, rp, bp);
            assert_eq!((got.width, got.height), (w, h));
            let got: Vec<u32> = got.data.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want);
            assert!(want.iter().any(|&v| f32::from_bits(v) > 0.1));
        }
    }

    #[test]
    fn bar_ridges_peak_at_half_width_with_equal_strength() {
        let expected = 2.0 / (2.0 * std::f64::consts::PI * std::f64::consts::E).sqrt();
        let sig = sweep(0.3, 30.0);
        let mut peaks = vec![];
        for &wbar in &[3.0f64, 7.0, 15.0, 31.0] {
            // Odd widths: the bar is centred on the sampled row.
            let p = ridge_image(8, 160, |dy| bar(dy, wbar / 2.0));
            let (s, best) = peak_at_centre(&p, &sig, Polarity::Bright);
            let rel = (best as f64 - wbar / 2.0).abs() / (wbar / 2.0);
            assert!(
                rel < 0.08,
                "w={wbar}: best σ {best}, expected {}",
                wbar / 2.0
            );
            assert!(
                (s as f64 - expected).abs() < 0.03 * expected,
                "w={wbar}: peak {s}, expected {expected}"
            );
            peaks.push(s);
        }
        let (mn, mx) = peaks
            .iter()
            .fold((f32::MAX, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(mx / mn < 1.04, "peaks differ across widths: {peaks:?}");
    }

    #[test]
    fn gaussian_ridges_peak_at_sqrt2_std_with_equal_strength() {
        let expected = 2.0 / (3.0 * 3f64.sqrt());
        let sig = sweep(0.8, 30.0);
        for &s in &[1.5f64, 3.0, 6.0, 12.0] {
            // Dark ridge on a bright background, contrast 1.
            let p = ridge_image(8, 200, |dy| 2.0 - (-dy * dy / (2.0 * s * s)).exp());
            let (v, best) = peak_at_centre(&p, &sig, Polarity::Dark);
            let want = std::f64::consts::SQRT_2 * s;
            assert!(
                (best as f64 - want).abs() < 0.08 * want,
                "s={s}: best σ {best}, expected {want}"
            );
            assert!(
                (v as f64 - expected).abs() < 0.03 * expected,
                "s={s}: peak {v}, expected {expected}"
            );
            // Wrong polarity: nothing.
            let (v, _) = peak_at_centre(&p, &sig, Polarity::Bright);
            assert_eq!(v, 0.0);
        }
    }

    #[test]
    fn unnormalised_response_would_prefer_thin_ridges() {
        // What scikit-image's frangi does (no σ²): the peak falls with width.
        let peak_raw = |s: f64| {
            let p = ridge_image(4, 200, |dy| (-dy * dy / (2.0 * s * s)).exp());
            let sig = sweep(0.8, 30.0);
            sig.iter()
                .map(|&g| {
                    let (l1, _) = hessian_eigen(&p, g);
                    -l1.get(2, 100) / (g * g)
                })
                .fold(0.0f32, f32::max)
        };
        assert!(peak_raw(2.0) > 3.0 * peak_raw(4.0));
    }

    /// An 81 × 81 bright Gaussian ridge (σ 3 px) through the centre along
    /// (cos θ, sin θ).
    fn oblique_ridge(theta: f64) -> Plane {
        let (n, c) = (81, 40.0);
        let (sn, cs) = theta.sin_cos();
        let mut p = Plane::filled(n, n, 0.0);
        for y in 0..n {
            for x in 0..n {
                // Distance to the line through the centre along (cos θ, sin θ).
                let d = -(x as f64 - c) * sn + (y as f64 - c) * cs;
                p.data[y * n + x] = (-d * d / (2.0 * 9.0)).exp() as f32;
            }
        }
        p
    }

    #[test]
    fn direction_of_an_oblique_ridge() {
        for &theta in &[0.0f64, 0.52, -0.9, 1.2, std::f64::consts::FRAC_PI_2] {
            let p = oblique_ridge(theta);
            let r = ridge_response(&p, &[3.0, 4.2, 6.0], Polarity::Bright);
            let got = r.direction.get(40, 40) as f64;
            let mut diff = (got - theta).rem_euclid(std::f64::consts::PI);
            diff = diff.min(std::f64::consts::PI - diff);
            assert!(diff < 0.01, "θ={theta}: got {got}");
            let dd = ridge_direction(&p, 4.2, Polarity::Bright).get(40, 40);
            assert!((dd - r.direction.get(40, 40)).abs() < 1e-6);
        }
    }

    #[test]
    fn blobs_peak_at_their_scale_with_equal_strength() {
        let sig = sweep(0.8, 24.0);
        for &s in &[2.0f64, 4.0, 8.0] {
            let n = 161;
            let c = 80.0;
            let mut p = Plane::filled(n, n, 0.0);
            for y in 0..n {
                for x in 0..n {
                    let r2 = (x as f64 - c).powi(2) + (y as f64 - c).powi(2);
                    p.data[y * n + x] = (-r2 / (2.0 * s * s)).exp() as f32;
                }
            }
            let b = blob_response(&p, &sig, Polarity::Bright);
            let (v, best) = (b.strength.get(80, 80), b.scale.get(80, 80));
            assert!((best as f64 - s).abs() < 0.08 * s, "s={s}: σ {best}");
            assert!((v - 0.25).abs() < 0.25 * 0.03, "s={s}: peak {v}");
        }
        for &rad in &[4.0f64, 8.0, 16.0] {
            let n = 161;
            let c = 80.0;
            let mut p = Plane::filled(n, n, 1.0);
            for y in 0..n {
                for x in 0..n {
                    // 4×4 supersampled coverage of a dark disc.
                    let mut cov = 0.0;
                    for sy in 0..4 {
                        for sx in 0..4 {
                            let dx = x as f64 - c + (sx as f64 - 1.5) / 4.0;
                            let dy = y as f64 - c + (sy as f64 - 1.5) / 4.0;
                            if dx * dx + dy * dy < rad * rad {
                                cov += 1.0 / 16.0;
                            }
                        }
                    }
                    p.data[y * n + x] = (1.0 - cov) as f32;
                }
            }
            let b = blob_response(&p, &sig, Polarity::Dark);
            let (v, best) = (b.strength.get(80, 80), b.scale.get(80, 80));
            let want = rad / std::f64::consts::SQRT_2;
            assert!(
                (best as f64 - want).abs() < 0.08 * want,
                "R={rad}: σ {best}"
            );
            let e = (-1f64).exp() as f32;
            assert!((v - e).abs() < 0.03 * e, "R={rad}: peak {v}");
            // A straight ridge is not a blob.
            assert_eq!(blob_pixel(0.0, 0.0, -1.0, Polarity::Bright), 0.0);
        }
    }

    #[test]
    fn fast_atan2_is_accurate() {
        for i in 0..2000 {
            let t = i as f32 * 0.0031 - 3.1;
            for &r in &[1e-3f32, 1.0, 7.5e4] {
                let (y, x) = (r * t.sin(), r * t.cos());
                assert!((fast_atan2(y, x) - y.atan2(x)).abs() < 2e-6, "{y} {x}");
            }
        }
        assert_eq!(fast_atan2(0.0, 0.0), 0.0);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        for &(w, h) in &[(1usize, 1usize), (1, 9), (9, 1), (3, 4), (0, 0)] {
            let p = Plane::filled(w, h, 1.0);
            let r = ridge_response(
                &p,
                &[0.5, 1e6, f32::NAN, -1.0, f32::INFINITY],
                Polarity::Dark,
            );
            assert!(r.strength.data.iter().all(|&v| v == 0.0));
            let b = blob_response(&p, &[], Polarity::Bright);
            assert!(b.strength.data.iter().all(|&v| v == 0.0));
            let hs = hessian(&p, 2.0);
            assert!(hs.xx.data.iter().all(|&v| v == 0.0));
            let _ = hessian_eigen(&p, f32::NAN);
        }
    }

    #[test]
    fn simd_and_baseline_rows_agree_bit_for_bit() {
        let n = 301;
        let f = |i: usize, m: usize| ((i * m) % 89) as f32 * 0.02 - 0.9;
        let (a, b, c): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            (0..n).map(|i| f(i, 31)).collect(),
            (0..n).map(|i| f(i, 17)).collect(),
            (0..n).map(|i| f(i, 53)).collect(),
        );
        for pol in [Polarity::Bright, Polarity::Dark] {
            let mut o1 = (vec![0.1f32; n], vec![0.5f32; n], vec![0.0f32; n]);
            let (mut x1, mut x2) = (vec![1.0f32; n], vec![1.0f32; n]);
            let mut o2 = o1.clone();
            ridge_update_row(
                &a, &b, &c, 1.5, pol, false, &mut o1.0, &mut o1.1, &mut o1.2, &mut x1,
            );
            ridge_update_row_body(
                &a, &b, &c, 1.5, pol, false, &mut o2.0, &mut o2.1, &mut o2.2, &mut x2,
            );
            assert_eq!(o1, o2);
            assert_eq!(x1, x2);
            ridge_angles_row(&mut o1.2, &mut x1);
            ridge_angles_row_body(&mut o2.2, &mut x2);
            assert_eq!(o1, o2);
            let mut q1 = (vec![0.1f32; n], vec![0.5f32; n]);
            let mut q2 = q1.clone();
            blob_update_row(&a, &b, &c, 1.5, pol, &mut q1.0, &mut q1.1);
            blob_update_row_body(&a, &b, &c, 1.5, pol, &mut q2.0, &mut q2.1);
            assert_eq!(q1, q2);
        }
        let rows = [&a[..], &b[..], &c[..], &b[..], &a[..]];
        let mut h1 = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let mut h2 = h1.clone();
        hessian_row(rows, 2.25, &mut h1.0, &mut h1.1, &mut h1.2);
        hessian_row_body(rows, 2.25, &mut h2.0, &mut h2.1, &mut h2.2);
        assert_eq!(h1, h2);
        // With the rows' x differences given: the same bits.
        let d: Vec<Vec<f32>> = [&a, &b, &b, &a]
            .iter()
            .map(|r| {
                let mut o = vec![0.0f32; n.saturating_sub(4)];
                dx_row(r, &mut o);
                o
            })
            .collect();
        let mut h3 = h1.clone();
        let dx = [&d[0][..], &d[1][..], &d[2][..], &d[3][..]];
        hessian_row_dx(rows, dx, 2.25, &mut h3.0, &mut h3.1, &mut h3.2);
        assert_eq!(h1, h3);
    }

    #[test]
    fn band_fused_hessian_matches_blur_then_differences() {
        // Fused FIR bands (σ < 8) and the full-plane path must agree with
        // differences taken on `gaussian_blur`'s output, across band seams.
        let (w, h) = (37, 150);
        let data: Vec<f32> = (0..w * h).map(|i| ((i * 7919) % 113) as f32).collect();
        let p = Plane::from_vec(w, h, data);
        for &sigma in &[1.2f32, 9.0] {
            let l = gaussian_blur(&p, sigma);
            let hs = hessian(&p, sigma);
            let s2 = sigma * sigma;
            for y in [0usize, 1, 63, 64, 65, 127, 128, 149] {
                let r = |d: isize| l.row((y as isize + d).clamp(0, h as isize - 1) as usize);
                let mut o = (vec![0.0f32; w], vec![0.0f32; w], vec![0.0f32; w]);
                hessian_row_body(
                    [r(-2), r(-1), r(0), r(1), r(2)],
                    s2,
                    &mut o.0,
                    &mut o.1,
                    &mut o.2,
                );
                assert_eq!(&o.0[..], hs.xx.row(y), "σ={sigma} y={y}");
                assert_eq!(&o.1[..], hs.xy.row(y), "σ={sigma} y={y}");
                assert_eq!(&o.2[..], hs.yy.row(y), "σ={sigma} y={y}");
            }
        }
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let (w, h) = (97, 53);
        let data: Vec<f32> = (0..w * h).map(|i| ((i * 7919) % 113) as f32).collect();
        let p = Plane::from_vec(w, h, data);
        let run = |n| {
            crate::testing::on_threads(n, || ridge_response(&p, &[1.0, 2.0, 4.0], Polarity::Dark))
        };
        assert_eq!(run(1), run(3));
    }

    /// [`ridge_response_reusing`] with every scale on the decimated plane.
    fn coarse_ridge(p: &Plane, sigmas: &[f32], pol: Polarity) -> RidgeResponse {
        ridge_response_reusing(p, sigmas, pol, 0.0, &mut RidgeBuffers::default())
    }

    #[test]
    fn decimated_scales_keep_the_bar_peak_and_the_direction() {
        let expected = 2.0 / (2.0 * std::f64::consts::PI * std::f64::consts::E).sqrt();
        for &wbar in &[15.0f64, 31.0] {
            let p = ridge_image(8, 160, |dy| bar(dy, wbar / 2.0));
            let sig = sweep(3.0, 30.0);
            let r = coarse_ridge(&p, &sig, Polarity::Bright);
            let (s, best) = (r.strength.get(4, 80), r.scale.get(4, 80));
            let rel = (best as f64 - wbar / 2.0).abs() / (wbar / 2.0);
            assert!(rel < 0.1, "w={wbar}: best σ {best}");
            assert!(
                (s as f64 - expected).abs() < 0.04 * expected,
                "w={wbar}: peak {s}, expected {expected}"
            );
        }
        for &theta in &[0.0f64, 0.52, -0.9, 1.2] {
            let p = oblique_ridge(theta);
            let r = coarse_ridge(&p, &[3.0, 4.2, 6.0], Polarity::Bright);
            let got = r.direction.get(40, 40) as f64;
            let mut diff = (got - theta).rem_euclid(std::f64::consts::PI);
            diff = diff.min(std::f64::consts::PI - diff);
            assert!(diff < 0.02, "θ={theta}: got {got}");
        }
    }

    #[test]
    fn decimated_scales_on_odd_sizes_and_threads() {
        // Odd and tiny sizes (the interpolation's clamped borders), any
        // thread count; only the scales from 4 up on the decimated plane.
        for (w, h) in [(97, 53), (1, 1), (2, 3), (5, 130)] {
            let data: Vec<f32> = (0..w * h).map(|i| ((i * 7919) % 113) as f32).collect();
            let p = Plane::from_vec(w, h, data);
            let run = |n| {
                crate::testing::on_threads(n, || {
                    ridge_response_reusing(
                        &p,
                        &[1.0, 2.0, 4.0, 9.0],
                        Polarity::Dark,
                        4.0,
                        &mut RidgeBuffers::default(),
                    )
                })
            };
            let r = run(1);
            assert_eq!(r, run(3));
            assert!(r.strength.data.iter().all(|v| v.is_finite() && *v >= 0.0));
            // Below every decimated scale: the plain filter.
            let plain = ridge_response(&p, &[1.0, 2.0], Polarity::Dark);
            let low = ridge_response_reusing(
                &p,
                &[1.0, 2.0],
                Polarity::Dark,
                4.0,
                &mut RidgeBuffers::default(),
            );
            assert_eq!(plain, low);
        }
    }
}
