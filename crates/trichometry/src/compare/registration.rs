//! Registration of a follow-up image to its baseline: a similarity transform
//! (rotation, scale, translation).
//!
//! Method (measured on phantom pairs, see `tests/compare.rs`):
//! 1. **Structure image**: log luminance (so white-balance and exposure drift
//!    become an additive constant), band-passed (difference of box-Gaussians)
//!    so that vignetting and lamp gradients drop out; built directly from the
//!    8/16-bit samples at two pyramid levels.
//! 2. **Global search** on a coarse level (≤ 512 px): Fourier–Mellin phase
//!    correlation (Reddy & Chatterji 1996). The high-passed log-magnitude
//!    spectra are resampled to log-polar, phase correlation gives rotation and
//!    scale; the 180° ambiguity is settled by the translation phase
//!    correlation that follows (higher peak-to-sidelobe ratio wins).
//! 3. **Refinement** by block matching: a grid of 64 px blocks of the baseline
//!    is compared with the follow-up resampled through the current transform
//!    (local phase correlation, sub-pixel peak); each block gives one landmark
//!    pair; RANSAC on 2-point similarity fits rejects blocks where the scene
//!    changed (hair grown, vessel appeared) and a least-squares fit on the
//!    inliers gives the transform. Run at the coarse level, then twice at a
//!    finer level (≤ 1536 px).
//! 4. **Quality**: overlap fraction, RMS landmark residual (µm), inlier count
//!    and fraction. Too few consistent landmarks, too little overlap or an
//!    implausible scale → [`Error::Registration`]: two images that do not show
//!    the same spot are refused rather than given a confident wrong answer.

use super::fft::{phase_correlate, phase_correlate_peaks, Cpx};
use crate::error::{Error, Result};
use crate::image::{ImageRef, Plane, SamplesRef};
use crate::synth::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A similarity transform of pixel coordinates (pixel centres at integers):
/// `q = scale · R(rotation) · p + (tx, ty)`, with `R` rotating +x towards +y
/// (clockwise on screen, as y points down).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// Scale factor (q units per p unit).
    pub scale: f64,
    /// Rotation in degrees.
    pub rotation_deg: f64,
    /// Translation along x, in target pixels.
    pub tx_px: f64,
    /// Translation along y, in target pixels.
    pub ty_px: f64,
}

impl Default for Similarity {
    fn default() -> Self {
        Similarity::IDENTITY
    }
}

impl Similarity {
    /// The identity.
    pub const IDENTITY: Similarity = Similarity {
        scale: 1.0,
        rotation_deg: 0.0,
        tx_px: 0.0,
        ty_px: 0.0,
    };

    /// From the matrix form `[a −b; b a]` and a translation.
    pub fn from_matrix(a: f64, b: f64, tx: f64, ty: f64) -> Self {
        Similarity {
            scale: a.hypot(b),
            rotation_deg: b.atan2(a).to_degrees(),
            tx_px: tx,
            ty_px: ty,
        }
    }

    /// `(a, b, tx, ty)` of the matrix form.
    pub fn matrix(&self) -> (f64, f64, f64, f64) {
        let t = self.rotation_deg.to_radians();
        (
            self.scale * t.cos(),
            self.scale * t.sin(),
            self.tx_px,
            self.ty_px,
        )
    }

    /// Map a point.
    #[inline]
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let (a, b, tx, ty) = self.matrix();
        (a * x - b * y + tx, b * x + a * y + ty)
    }

    /// The matrix form, for mapping many points: [`Similarity::apply`]
    /// recomputes a sine and a cosine on every call. Gives bit-identical
    /// results.
    #[inline]
    pub fn affine(&self) -> Affine {
        let (a, b, tx, ty) = self.matrix();
        Affine { a, b, tx, ty }
    }

    /// Largest distance, in the target's pixels, between where `self` and
    /// `other` put the four corner pixels of a `width_px` × `height_px`
    /// source frame: the registration error "at the image corners" when
    /// `other` is the true transform.
    pub fn corner_distance_px(&self, other: &Similarity, width_px: usize, height_px: usize) -> f64 {
        let (w, h) = (width_px as f64 - 1.0, height_px as f64 - 1.0);
        [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
            .into_iter()
            .map(|(x, y)| {
                let (a, b) = self.apply(x, y);
                let (c, d) = other.apply(x, y);
                (a - c).hypot(b - d)
            })
            .fold(0.0, f64::max)
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Similarity {
        let (a, b, tx, ty) = self.matrix();
        let d = a * a + b * b;
        let (ia, ib) = (a / d, -b / d);
        Similarity::from_matrix(ia, ib, -(ia * tx - ib * ty), -(ib * tx + ia * ty))
    }

    /// `self ∘ other`: first `other`, then `self`.
    pub fn compose(&self, other: &Similarity) -> Similarity {
        let (a1, b1, tx1, ty1) = self.matrix();
        let (a2, b2, tx2, ty2) = other.matrix();
        Similarity::from_matrix(
            a1 * a2 - b1 * b2,
            b1 * a2 + a1 * b2,
            a1 * tx2 - b1 * ty2 + tx1,
            b1 * tx2 + a1 * ty2 + ty1,
        )
    }

    /// Express a full-resolution transform on a pyramid level of factor `f`
    /// (level pixel `j` is the mean of full pixels `f·j .. f·j+f−1`).
    fn to_level(self, f: usize) -> Similarity {
        let lv = level_map(f);
        lv.inverse().compose(&self).compose(&lv)
    }
    fn level_to_full(self, f: usize) -> Similarity {
        let lv = level_map(f);
        lv.compose(&self).compose(&lv.inverse())
    }
}

/// A [`Similarity`] in matrix form `[a −b; b a]·p + t`, cheap to apply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    a: f64,
    b: f64,
    tx: f64,
    ty: f64,
}

impl Affine {
    /// Map a point (the same arithmetic as [`Similarity::apply`]).
    #[inline]
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        )
    }
}

/// Level pixel → full-resolution pixel.
fn level_map(f: usize) -> Similarity {
    let o = (f as f64 - 1.0) / 2.0;
    Similarity {
        scale: f as f64,
        rotation_deg: 0.0,
        tx_px: o,
        ty_px: o,
    }
}

/// Registration parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationParams {
    /// Longest side of the coarse level used for the global search (px).
    pub global_size_px: usize,
    /// Longest side of the finest level used for refinement (px).
    pub refine_size_px: usize,
    /// Side of the matching blocks (px, a power of two).
    pub block_px: usize,
    /// RANSAC inlier threshold at the refinement level (px).
    pub inlier_threshold_px: f64,
    /// Fewest consistent landmarks (blocks) accepted.
    pub min_inliers: usize,
    /// Smallest share of tested blocks that must agree.
    pub min_inlier_fraction: f64,
    /// Smallest shared fraction of the baseline field accepted.
    pub min_overlap: f64,
    /// Plausible range of the follow-up/baseline scale (magnification change).
    pub scale_range: [f64; 2],
}

impl Default for RegistrationParams {
    fn default() -> Self {
        RegistrationParams {
            global_size_px: 512,
            refine_size_px: 1536,
            block_px: 64,
            inlier_threshold_px: 1.0,
            min_inliers: 12,
            min_inlier_fraction: 0.3,
            min_overlap: 0.3,
            scale_range: [0.8, 1.25],
        }
    }
}

/// The result of [`register`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// Follow-up pixel → baseline pixel.
    pub followup_to_baseline: Similarity,
    /// Rotation of the follow-up relative to the baseline (degrees).
    pub rotation_deg: f64,
    /// Follow-up pixel size in baseline pixels (> 1: the follow-up was taken
    /// at a lower magnification).
    pub scale: f64,
    /// Translation of the follow-up→baseline map, in baseline µm
    /// (`None` without a scale).
    pub translation_um: Option<[f64; 2]>,
    /// Share of the baseline field that the follow-up also shows.
    pub overlap_fraction: f64,
    /// RMS residual of the inlier landmarks, in µm (baseline scale), or in
    /// pixels when no scale is known (`residual_px`).
    pub residual_um: Option<f64>,
    /// RMS residual of the inlier landmarks, in baseline pixels.
    pub residual_px: f64,
    /// Landmarks (matched blocks) consistent with the transform.
    pub inliers: usize,
    /// Blocks tested at the finest level.
    pub landmarks_tested: usize,
    /// `inliers / landmarks_tested`: the confidence of the registration.
    pub confidence: f64,
    /// Peak-to-sidelobe ratio of the global translation phase correlation.
    pub peak_to_sidelobe: f64,
}

/// Register `followup` to `baseline`. `um_per_px` (the baseline's scale)
/// only converts the reported translation and residual to µm.
pub fn register(
    baseline: &ImageRef<'_>,
    followup: &ImageRef<'_>,
    um_per_px: Option<f64>,
    params: &RegistrationParams,
) -> Result<Registration> {
    check_params(params)?;
    let maxdim = baseline
        .width()
        .max(baseline.height())
        .max(followup.width())
        .max(followup.height());
    if baseline.width().min(baseline.height()) < 4 * params.block_px / 2
        || followup.width().min(followup.height()) < 4 * params.block_px / 2
    {
        return Err(Error::Registration(format!(
            "images too small to register ({}×{} and {}×{}); need at least {} px a side",
            baseline.width(),
            baseline.height(),
            followup.width(),
            followup.height(),
            2 * params.block_px
        )));
    }
    // Pyramid factors are powers of two, so that the coarse level is made
    // from the fine one without reading the samples again.
    // The coarse level keeps two blocks across the shorter side (a strip
    // of skin would otherwise leave the coarse refinement no landmarks).
    let mindim = baseline
        .width()
        .min(baseline.height())
        .min(followup.width())
        .min(followup.height());
    let mut g = maxdim
        .div_ceil(params.global_size_px)
        .max(1)
        .next_power_of_two();
    while g > 1 && mindim / g < 2 * params.block_px.min(64) {
        g /= 2;
    }
    let r = maxdim
        .div_ceil(params.refine_size_px)
        .max(1)
        .next_power_of_two()
        .min(g);
    let (lb, lf) = rayon::join(
        || linear_luminance_level(baseline, r),
        || linear_luminance_level(followup, r),
    );
    let (mut lbg, mut lfg) = (lb.clone(), lf.clone());
    let mut k = r;
    while k < g {
        lbg = halve(&lbg);
        lfg = halve(&lfg);
        k *= 2;
    }
    let (bg, fg) = rayon::join(|| band_pass(&lbg), || band_pass(&lfg));
    let global = Global::new(&bg, &fg);
    let mut psr = f64::NAN;
    // Coarse refinement of each hypothesis in turn, generous threshold (the
    // global estimate may be off by a pixel or two); stop at the first that
    // most blocks agree with, else keep the best.
    let mut best: Option<(Similarity, FitQuality)> = None;
    let mut tried = 0u64;
    // Refine one hypothesis; true when most blocks agree with it.
    let mut convinces = |sim0: Similarity| {
        let fit = refine(
            &bg,
            &fg,
            sim0,
            params.block_px.min(64),
            2.0,
            params,
            &mut Rng::new(11 + tried),
        );
        tried += 1;
        fit.is_some_and(|(s, q)| {
            let better = best.as_ref().is_none_or(|(_, bq)| q.inliers > bq.inliers);
            if better {
                best = Some((s, q));
            }
            q.inliers * 2 >= q.tested
        })
    };
    let mut hypotheses = Vec::with_capacity(global.peaks.len() + 1);
    let mut found = false;
    for k in 0..global.peaks.len() {
        let (sim0, p) = global.candidate(k);
        if k == 0 {
            psr = p;
        }
        hypotheses.push(sim0);
        if convinces(sim0) {
            found = true;
            break;
        }
    }
    // When the overlap is small the magnitude spectra share little, so the
    // log-polar peaks may all be wrong, and a shift beyond half the padded
    // transform wraps around in the circular correlation. Then try every
    // wrapped alternative of each translation that leaves some shared
    // field, and the hand-held follow-up: unit scale, rotations of up to
    // ±10° in steps the translation correlation tolerates, the strongest
    // translation peaks of each.
    if !found {
        let mut steady = STEADY_HAND_ROTATIONS_DEG
            .iter()
            .flat_map(|&deg| global.steady_hand(deg, STEADY_HAND_PEAKS));
        let mut next = hypotheses.into_iter();
        'search: while let Some(h) = next.next().or_else(|| steady.next()) {
            for sim0 in global.translation_aliases(&h, 0.5 * params.min_overlap) {
                if convinces(sim0) {
                    break 'search;
                }
            }
        }
    }
    let (sim_g, _) =
        best.ok_or_else(|| not_same_spot("too few consistent landmarks at the coarse level", psr))?;
    let mut sim = sim_g.level_to_full(g);
    let fine = if r < g {
        let (br, fr) = rayon::join(|| band_pass(&lb), || band_pass(&lf));
        Some((br, fr))
    } else {
        None
    };
    let (bl, fl) = match &fine {
        Some((b, f)) => (b, f),
        None => (&bg, &fg),
    };
    let mut fit = None;
    let mut rng = Rng::new(12);
    for _ in 0..2 {
        let (s, q) = refine(
            bl,
            fl,
            sim.to_level(r),
            params.block_px,
            params.inlier_threshold_px,
            params,
            &mut rng,
        )
        .ok_or_else(|| not_same_spot("too few consistent landmarks at the fine level", psr))?;
        sim = s.level_to_full(r);
        fit = Some(q);
    }
    let q = fit.expect("refined at least once");
    // b→f at full resolution; report f→b.
    let f2b = sim.inverse();
    let overlap = overlap_fraction(
        &sim,
        baseline.width(),
        baseline.height(),
        followup.width(),
        followup.height(),
    );
    let residual_px = q.rms * r as f64;
    let reg = Registration {
        followup_to_baseline: f2b,
        rotation_deg: f2b.rotation_deg,
        scale: f2b.scale,
        translation_um: um_per_px.map(|s| [f2b.tx_px * s, f2b.ty_px * s]),
        overlap_fraction: overlap,
        residual_um: um_per_px.map(|s| residual_px * s),
        residual_px,
        inliers: q.inliers,
        landmarks_tested: q.tested,
        confidence: q.inliers as f64 / q.tested.max(1) as f64,
        peak_to_sidelobe: psr,
    };
    if !(params.scale_range[0]..=params.scale_range[1]).contains(&reg.scale) {
        return Err(Error::Registration(format!(
            "implausible scale {:.3} between the visits (allowed {:?}): not the same spot?",
            reg.scale, params.scale_range
        )));
    }
    if reg.inliers < params.min_inliers || reg.confidence < params.min_inlier_fraction {
        return Err(Error::Registration(format!(
            "only {} of {} landmarks agree (need ≥ {} and ≥ {:.0} %): the images do not seem to show the same spot",
            reg.inliers,
            reg.landmarks_tested,
            params.min_inliers,
            100.0 * params.min_inlier_fraction
        )));
    }
    if reg.overlap_fraction < params.min_overlap {
        return Err(Error::Registration(format!(
            "the visits share only {:.0} % of the baseline field (need ≥ {:.0} %)",
            100.0 * reg.overlap_fraction,
            100.0 * params.min_overlap
        )));
    }
    Ok(reg)
}

fn not_same_spot(why: &str, psr: f64) -> Error {
    Error::Registration(format!(
        "{why} (global peak-to-sidelobe ratio {psr:.1}): the images do not seem to show the same spot"
    ))
}

fn check_params(p: &RegistrationParams) -> Result<()> {
    if p.global_size_px < 128 {
        return Err(Error::param("global_size_px", "must be ≥ 128"));
    }
    if p.refine_size_px < p.global_size_px {
        return Err(Error::param("refine_size_px", "must be ≥ global_size_px"));
    }
    if !p.block_px.is_power_of_two() || !(16..=256).contains(&p.block_px) {
        return Err(Error::param(
            "block_px",
            "must be a power of two in 16..=256",
        ));
    }
    if !(p.inlier_threshold_px.is_finite() && p.inlier_threshold_px > 0.0) {
        return Err(Error::param("inlier_threshold_px", "must be > 0"));
    }
    if !(0.0..=1.0).contains(&p.min_overlap) || !(0.0..=1.0).contains(&p.min_inlier_fraction) {
        return Err(Error::param(
            "min_overlap/min_inlier_fraction",
            "must lie in [0, 1]",
        ));
    }
    if !(p.scale_range[0] > 0.0 && p.scale_range[0] < p.scale_range[1]) {
        return Err(Error::param("scale_range", "must be 0 < low < high"));
    }
    Ok(())
}

/// Share of the baseline field whose pixels map inside the follow-up frame
/// (`b2f`: baseline → follow-up), on a 128-point grid per side.
pub(crate) fn overlap_fraction(
    b2f: &Similarity,
    bw: usize,
    bh: usize,
    fw: usize,
    fh: usize,
) -> f64 {
    let n = 128;
    let mut inside = 0usize;
    let b2f = b2f.affine();
    for j in 0..n {
        for i in 0..n {
            let x = (i as f64 + 0.5) / n as f64 * bw as f64 - 0.5;
            let y = (j as f64 + 0.5) / n as f64 * bh as f64 - 0.5;
            let (u, v) = b2f.apply(x, y);
            if u >= -0.5 && v >= -0.5 && u <= fw as f64 - 0.5 && v <= fh as f64 - 0.5 {
                inside += 1;
            }
        }
    }
    inside as f64 / (n * n) as f64
}

// ---------------------------------------------------------------- structure

/// ln of a linear luminance plane, band-passed (difference of box-Gaussians).
pub(crate) fn band_pass(lin: &Plane) -> Plane {
    let lum = Plane::from_vec(
        lin.width,
        lin.height,
        lin.data.iter().map(|v| v.max(1e-4).ln()).collect(),
    );
    let small = box_blur(&lum, 1, 1);
    let large = box_blur(&lum, 6, 3);
    let data = small
        .data
        .iter()
        .zip(&large.data)
        .map(|(a, b)| a - b)
        .collect();
    Plane::from_vec(lin.width, lin.height, data)
}

/// 2 × 2 block means (a partial block at an odd edge averages what it has).
pub(crate) fn halve(p: &Plane) -> Plane {
    let (w, h) = (p.width.div_ceil(2), p.height.div_ceil(2));
    let mut out = vec![0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let y0 = 2 * y;
        let y1 = (y0 + 1).min(p.height - 1);
        for (x, o) in row.iter_mut().enumerate() {
            let x0 = 2 * x;
            let x1 = (x0 + 1).min(p.width - 1);
            *o = 0.25 * (p.get(x0, y0) + p.get(x1, y0) + p.get(x0, y1) + p.get(x1, y1));
        }
    });
    Plane::from_vec(w, h, out)
}

/// Linear luminance averaged over `f × f` blocks (partial blocks at the
/// right and bottom edges average what they have).
pub(crate) fn linear_luminance_level(img: &ImageRef<'_>, f: usize) -> Plane {
    let (w, h, c) = (img.width(), img.height(), img.channels());
    let (lw, lh) = (w.div_ceil(f), h.div_ceil(f));
    let weights: [f32; 3] = if c == 3 {
        [0.212_672_9, 0.715_152_2, 0.072_175]
    } else {
        [1.0, 0.0, 0.0]
    };
    let mut out = vec![0f32; lw * lh];
    match img.samples() {
        SamplesRef::U8(s) => {
            let lut: Vec<f32> = (0..256u32)
                .map(|v| crate::color::srgb_to_linear(v as f32 / 255.0))
                .collect();
            fill_lum(&mut out, s, w, h, c, f, &weights, |v| lut[v as usize]);
        }
        SamplesRef::U16(s) => {
            let lut: Vec<f32> = (0..65536u32)
                .map(|v| crate::color::srgb_to_linear(v as f32 / 65535.0))
                .collect();
            fill_lum(&mut out, s, w, h, c, f, &weights, |v| lut[v as usize]);
        }
    }
    Plane::from_vec(lw, lh, out)
}

#[allow(clippy::too_many_arguments)]
fn fill_lum<T: Copy + Sync>(
    out: &mut [f32],
    s: &[T],
    w: usize,
    h: usize,
    c: usize,
    f: usize,
    wt: &[f32; 3],
    lin: impl Fn(T) -> f32 + Sync,
) {
    let lw = w.div_ceil(f);
    out.par_chunks_mut(lw).enumerate().for_each(|(ly, row)| {
        let y0 = ly * f;
        let y1 = (y0 + f).min(h);
        let mut acc = vec![0f32; lw];
        for y in y0..y1 {
            let line = &s[y * w * c..(y + 1) * w * c];
            for (lx, a) in acc.iter_mut().enumerate() {
                let (x0, x1) = (lx * f, ((lx + 1) * f).min(w));
                let mut sum = 0f32;
                if c == 3 {
                    for px in line[3 * x0..3 * x1].chunks_exact(3) {
                        sum += wt[0] * lin(px[0]) + wt[1] * lin(px[1]) + wt[2] * lin(px[2]);
                    }
                } else {
                    for &v in &line[x0..x1] {
                        sum += lin(v);
                    }
                }
                *a += sum;
            }
        }
        let rows = (y1 - y0) as f32;
        for (lx, (o, a)) in row.iter_mut().zip(&acc).enumerate() {
            let cols = (((lx + 1) * f).min(w) - lx * f) as f32;
            *o = a / (rows * cols);
        }
    });
}

/// Separable box blur of radius `r`, `passes` times (3 passes ≈ Gaussian of
/// σ ≈ √(r(r+1))), edges clamped. Local helper: the registration only needs
/// a cheap band-pass; the shared kernels' Gaussian would do as well.
pub(crate) fn box_blur(p: &Plane, r: usize, passes: usize) -> Plane {
    let (w, h) = (p.width, p.height);
    let mut cur = p.data.clone();
    let mut tmp = vec![0f32; w * h];
    for _ in 0..passes {
        // Rows.
        tmp.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
            blur_line(&cur[y * w..(y + 1) * w], out, r);
        });
        // Columns: running sums down strips of columns, the same arithmetic
        // as `blur_line` per column (no transposes).
        blur_columns(&tmp, &mut cur, w, h, r);
    }
    Plane::from_vec(w, h, cur)
}

/// `blur_line` down every column of a `w × h` plane, in strips of columns.
fn blur_columns(src: &[f32], out: &mut [f32], w: usize, h: usize, r: usize) {
    const STRIP: usize = 64;
    let k = 1.0 / (2 * r + 1) as f32;
    let ri = r as isize;
    let row = |y: isize| y.clamp(0, h as isize - 1) as usize * w;
    // Each strip is blurred into its own buffer, then scattered into rows.
    let strips: Vec<(usize, Vec<f32>)> = (0..w.div_ceil(STRIP))
        .into_par_iter()
        .map(|sidx| {
            let x0 = sidx * STRIP;
            let x1 = (x0 + STRIP).min(w);
            let n = x1 - x0;
            let mut s = vec![0f32; n];
            for d in -ri..=ri {
                let o = row(d) + x0;
                for (a, &v) in s.iter_mut().zip(&src[o..o + n]) {
                    *a += v;
                }
            }
            let mut col = vec![0f32; n * h];
            for y in 0..h {
                for (c, &a) in col[y * n..(y + 1) * n].iter_mut().zip(&s) {
                    *c = a * k;
                }
                let (add, sub) = (row(y as isize + ri + 1) + x0, row(y as isize - ri) + x0);
                for ((a, &p), &m) in s.iter_mut().zip(&src[add..add + n]).zip(&src[sub..sub + n]) {
                    *a += p - m;
                }
            }
            (x0, col)
        })
        .collect();
    out.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        for (x0, col) in &strips {
            let n = col.len() / h;
            o[*x0..x0 + n].copy_from_slice(&col[y * n..(y + 1) * n]);
        }
    });
}

fn blur_line(src: &[f32], out: &mut [f32], r: usize) {
    let n = src.len();
    let at = |i: isize| src[i.clamp(0, n as isize - 1) as usize];
    let r = r as isize;
    let mut s: f32 = (-r..=r).map(at).sum();
    let k = 1.0 / (2 * r + 1) as f32;
    for (i, o) in out.iter_mut().enumerate() {
        *o = s * k;
        let i = i as isize;
        s += at(i + r + 1) - at(i - r);
    }
}

/// Bilinear sample with a validity flag (false outside the plane).
#[inline]
pub(crate) fn bilinear(p: &Plane, x: f64, y: f64) -> Option<f32> {
    if !(x >= 0.0 && y >= 0.0 && x <= (p.width - 1) as f64 && y <= (p.height - 1) as f64) {
        return None;
    }
    let x0 = (x.floor() as usize).min(p.width.saturating_sub(2));
    let y0 = (y.floor() as usize).min(p.height.saturating_sub(2));
    let fx = (x - x0 as f64) as f32;
    let fy = (y - y0 as f64) as f32;
    let i = y0 * p.width + x0;
    let d = &p.data;
    let x1 = if p.width > 1 { 1 } else { 0 };
    let y1 = if p.height > 1 { p.width } else { 0 };
    let top = d[i] + fx * (d[i + x1] - d[i]);
    let bot = d[i + y1] + fx * (d[i + y1 + x1] - d[i + y1]);
    Some(top + fy * (bot - top))
}

/// A Tukey window: flat, with a raised-cosine taper over the outer tenth
/// at each end.
fn tukey(n: usize) -> Vec<f32> {
    let taper = 0.1 * n as f64;
    (0..n)
        .map(|i| {
            let d = (i as f64 + 0.5).min(n as f64 - i as f64 - 0.5);
            if d >= taper {
                1.0
            } else {
                (0.5 - 0.5 * (std::f64::consts::PI * d / taper).cos()) as f32
            }
        })
        .collect()
}

fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = (i as f64 + 0.5) / n as f64;
            (0.5 - 0.5 * (std::f64::consts::TAU * t).cos()) as f32
        })
        .collect()
}

// ---------------------------------------------------------------- global

/// Fourier–Mellin estimate of the baseline→follow-up map on one level: the
/// rotation/scale peaks are found at once, the translation of each lazily
/// ([`Global::candidate`]), as the refinement usually accepts the first.
struct Global<'p> {
    b: &'p Plane,
    f: &'p Plane,
    n: usize,
    /// Rotation/scale hypotheses, strongest first.
    peaks: Vec<super::fft::Peak>,
    /// Spectrum of the windowed baseline (shared by every translation).
    spec_b: Vec<Cpx>,
}

impl<'p> Global<'p> {
    fn new(b: &'p Plane, f: &'p Plane) -> Self {
        let n = b
            .width
            .max(b.height)
            .max(f.width)
            .max(f.height)
            .next_power_of_two();
        let (lp_b, lp_f) = log_polar_spectra(b, f, n);
        let (nt, nr, _) = LOG_POLAR;
        // Three rotation/scale hypotheses, strongest first: a textured scene
        // can give a spurious log-polar peak, which the refinement then
        // rejects.
        let peaks = phase_correlate_peaks(&lp_f, &lp_b, nr, nt, 3);
        let (wx, wy) = (hann(b.width), hann(b.height));
        let mut pb = vec![0f32; n * n];
        for y in 0..b.height {
            for x in 0..b.width {
                pb[y * n + x] = b.get(x, y) * wx[x] * wy[y];
            }
        }
        let mut spec_b: Vec<Cpx> = pb.iter().map(|&v| Cpx::new(v, 0.0)).collect();
        super::fft::fft2(&mut spec_b, n, n, false);
        Global {
            b,
            f,
            n,
            peaks,
            spec_b,
        }
    }

    /// The `k`-th hypothesis with its translation, and the translation's
    /// peak-to-sidelobe ratio. The 180° ambiguity of the log-polar spectrum
    /// is settled by the translation (the higher ratio wins).
    fn candidate(&self, k: usize) -> (Similarity, f64) {
        let (b, f, n) = (self.b, self.f, self.n);
        let (nt, nr, lr) = LOG_POLAR;
        let pk = self.peaks[k];
        // LP_F(φ, l) = LP_B(φ − θ, l + ln s): dy = θ in bins, dx = −ln s in bins.
        let theta = pk.dy * std::f64::consts::PI / nt as f64;
        let scale = (-pk.dx * lr / nr as f64).exp();
        let t0 = [0.0, std::f64::consts::PI].map(|extra| {
            let t = theta + extra;
            let rs = Similarity::from_matrix(scale * t.cos(), scale * t.sin(), 0.0, 0.0);
            // About the centres.
            let (cbx, cby) = ((b.width as f64 - 1.0) / 2.0, (b.height as f64 - 1.0) / 2.0);
            let (cfx, cfy) = ((f.width as f64 - 1.0) / 2.0, (f.height as f64 - 1.0) / 2.0);
            let (rx, ry) = rs.apply(cbx, cby);
            Similarity {
                tx_px: cfx - rx,
                ty_px: cfy - ry,
                ..rs
            }
        });
        // Both warps from one complex transform.
        let (wx, wy) = (hann(b.width), hann(b.height));
        let warp = |t: &Similarity| {
            let t = t.affine();
            let mut pw = vec![0f32; n * n];
            pw.par_chunks_mut(n)
                .take(b.height)
                .enumerate()
                .for_each(|(y, row)| {
                    for x in 0..b.width {
                        let (u, v) = t.apply(x as f64, y as f64);
                        row[x] = bilinear(f, u, v).unwrap_or(0.0) * wx[x] * wy[y];
                    }
                });
            pw
        };
        let (w0, w1) = (warp(&t0[0]), warp(&t0[1]));
        let (s0, s1) = super::fft::fft2_real_pair(&w0, &w1, n, n);
        let mut best: Option<(Similarity, f64)> = None;
        for (t0, sw) in t0.iter().zip([s0, s1]) {
            let surf = super::fft::cross_power_surface(&sw, &self.spec_b, n, n);
            let p = super::fft::peak_of(&surf, n, n);
            // W(x) ≈ B(x − d); p_f = A(p_b + d) + t0.
            let (a, bb, tx, ty) = t0.matrix();
            let cand = Similarity::from_matrix(
                a,
                bb,
                tx + a * p.dx - bb * p.dy,
                ty + bb * p.dx + a * p.dy,
            );
            if best.as_ref().is_none_or(|(_, q)| p.psr > *q) {
                best = Some((cand, p.psr));
            }
        }
        best.expect("two hypotheses")
    }

    /// Translations of the follow-up rotated by `rotation_deg` at unit
    /// scale: the `k` strongest peaks of the phase correlation, strongest
    /// first (at small overlap the true one need not be the strongest).
    fn steady_hand(&self, rotation_deg: f64, k: usize) -> Vec<Similarity> {
        let (b, f, n) = (self.b, self.f, self.n);
        // About the centres.
        let rs = Similarity {
            rotation_deg,
            ..Similarity::IDENTITY
        };
        let (rx, ry) = rs.apply((b.width as f64 - 1.0) / 2.0, (b.height as f64 - 1.0) / 2.0);
        let t0 = Similarity {
            tx_px: (f.width as f64 - 1.0) / 2.0 - rx,
            ty_px: (f.height as f64 - 1.0) / 2.0 - ry,
            ..rs
        };
        // A flat-topped window: the Hann window of the other hypotheses
        // weighs the shared part, near the frame edges, down too much.
        let (wx, wy) = (tukey(b.width), tukey(b.height));
        let ta = t0.affine();
        let mut pw = vec![0f32; n * n];
        let mut pb = vec![0f32; n * n];
        for y in 0..b.height {
            for x in 0..b.width {
                let (u, v) = ta.apply(x as f64, y as f64);
                pw[y * n + x] = bilinear(f, u, v).unwrap_or(0.0) * wx[x] * wy[y];
                pb[y * n + x] = b.get(x, y) * wx[x] * wy[y];
            }
        }
        let (sw, sb) = super::fft::fft2_real_pair(&pw, &pb, n, n);
        let surf = super::fft::cross_power_surface(&sw, &sb, n, n);
        // W(x) ≈ B(x − d); p_f = A(p_b + d) + t0.
        let (a, bb, tx, ty) = t0.matrix();
        super::fft::peaks_of(surf, n, n, k)
            .into_iter()
            .map(|p| {
                Similarity::from_matrix(a, bb, tx + a * p.dx - bb * p.dy, ty + bb * p.dx + a * p.dy)
            })
            .collect()
    }

    /// `sim` (baseline → follow-up on this level, translation from the
    /// circular correlation of `n`-point transforms) and the maps whose
    /// shift differs by whole periods `n` along x and/or y, those that
    /// share at least `min_overlap` of the baseline field.
    fn translation_aliases(&self, sim: &Similarity, min_overlap: f64) -> Vec<Similarity> {
        let n = self.n as f64;
        let (a, bb, tx, ty) = sim.matrix();
        let mut out = Vec::with_capacity(9);
        for (mx, my) in [
            (0.0, 0.0),
            (-1.0, 0.0),
            (1.0, 0.0),
            (0.0, -1.0),
            (0.0, 1.0),
            (-1.0, -1.0),
            (1.0, -1.0),
            (-1.0, 1.0),
            (1.0, 1.0),
        ] {
            let (dx, dy) = (mx * n, my * n);
            let alias =
                Similarity::from_matrix(a, bb, tx + a * dx - bb * dy, ty + bb * dx + a * dy);
            let shared = overlap_fraction(
                &alias,
                self.b.width,
                self.b.height,
                self.f.width,
                self.f.height,
            );
            if shared >= min_overlap {
                out.push(alias);
            }
        }
        out
    }
}

/// Translation peaks tried per rotation of a hand-held follow-up when no
/// Fourier–Mellin hypothesis convinces.
const STEADY_HAND_PEAKS: usize = 2;

/// Rotations tried for a hand-held follow-up (degrees), nearest first.
const STEADY_HAND_ROTATIONS_DEG: [f64; 11] =
    [0.0, 2.0, -2.0, 4.0, -4.0, 6.0, -6.0, 8.0, -8.0, 10.0, -10.0];

/// (angles over π, log-radius bins, ln(r_max / r_min)).
const LOG_POLAR: (usize, usize, f64) = (256, 256, 4.0);

/// The log-polar resampled, high-passed log-magnitude spectra of two planes
/// (one complex transform for both).
fn log_polar_spectra(b: &Plane, f: &Plane, n: usize) -> (Vec<f32>, Vec<f32>) {
    let windowed = |p: &Plane| {
        let wx = hann(p.width);
        let wy = hann(p.height);
        let mean = p.data.iter().map(|&v| v as f64).sum::<f64>() / p.data.len() as f64;
        let mut buf = vec![0f32; n * n];
        for y in 0..p.height {
            for x in 0..p.width {
                buf[y * n + x] = (p.get(x, y) - mean as f32) * wx[x] * wy[y];
            }
        }
        buf
    };
    let (sb, sf) = super::fft::fft2_real_pair(&windowed(b), &windowed(f), n, n);
    // Centred, high-passed log magnitude; the high-pass is separable in
    // cos(π·e) per axis.
    let half = n as isize / 2;
    let cosines: Vec<f64> = (0..n)
        .map(|k| (std::f64::consts::PI * ((k as f64 - half as f64) / n as f64)).cos())
        .collect();
    let (nt, nr, lr) = LOG_POLAR;
    let r_max = n as f64 * 0.45;
    let r_min = r_max * (-lr).exp();
    let c = half as f64;
    let wr = hann(nr);
    let resample = |spec: &[Cpx]| {
        let mut mag = vec![0f32; n * n];
        mag.par_chunks_mut(n).enumerate().for_each(|(ky, row)| {
            let fy = (ky as isize + half).rem_euclid(n as isize) as usize;
            for (kx, m) in row.iter_mut().enumerate() {
                let fx = (kx as isize + half).rem_euclid(n as isize) as usize;
                let xx = cosines[kx] * cosines[ky];
                let hp = ((1.0 - xx) * (2.0 - xx)) as f32;
                *m = (1.0 + spec[fy * n + fx].norm() * hp).ln();
            }
        });
        let mp = Plane::from_vec(n, n, mag);
        let mut out = vec![0f32; nt * nr];
        out.par_chunks_mut(nr).enumerate().for_each(|(t, row)| {
            let th = t as f64 * std::f64::consts::PI / nt as f64;
            let (s, co) = th.sin_cos();
            for (r, o) in row.iter_mut().enumerate() {
                let rho = r_min * (r as f64 * lr / nr as f64).exp();
                let v = bilinear(&mp, c + rho * co, c + rho * s).unwrap_or(0.0);
                *o = v * wr[r];
            }
        });
        out
    };
    (resample(&sb), resample(&sf))
}

// ---------------------------------------------------------------- refinement

/// A landmark pair: a point and where it maps.
pub(crate) type Corr = ((f64, f64), (f64, f64));

/// Fit quality.
#[derive(Debug, Clone, Copy)]
struct FitQuality {
    inliers: usize,
    tested: usize,
    rms: f64,
}

/// One block-matching + RANSAC round; `sim` maps b → f on this level.
fn refine(
    b: &Plane,
    f: &Plane,
    sim: Similarity,
    block: usize,
    thr: f64,
    params: &RegistrationParams,
    rng: &mut Rng,
) -> Option<(Similarity, FitQuality)> {
    let bs = block as f64;
    let half = bs / 2.0;
    // A grid of block centres with half-block spacing, thinned to ≤ 160.
    let mut step = block / 2;
    let count = |s: usize| {
        let nx = (b.width.saturating_sub(block)) / s + 1;
        let ny = (b.height.saturating_sub(block)) / s + 1;
        nx * ny
    };
    while count(step) > 160 {
        step += block / 4;
    }
    let mut centres = Vec::new();
    let mut y = half;
    while y + half <= b.height as f64 {
        let mut x = half;
        while x + half <= b.width as f64 {
            let inside = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
                .iter()
                .all(|&(sx, sy)| {
                    let (u, v) = sim.apply(x - 0.5 + sx * half, y - 0.5 + sy * half);
                    u >= 1.0 && v >= 1.0 && u <= f.width as f64 - 2.0 && v <= f.height as f64 - 2.0
                });
            if inside {
                centres.push((x - 0.5, y - 0.5));
            }
            x += step as f64;
        }
        y += step as f64;
    }
    let win = hann(block);
    let simf = sim.affine();
    let pairs: Vec<Option<Corr>> = centres
        .par_iter()
        .map(|&(cx, cy)| {
            let x0 = (cx - half + 0.5) as usize;
            let y0 = (cy - half + 0.5) as usize;
            let mut pb = vec![0f32; block * block];
            let mut pw = vec![0f32; block * block];
            for j in 0..block {
                for i in 0..block {
                    let (x, y) = (x0 + i, y0 + j);
                    pb[j * block + i] = b.get(x, y);
                    let (u, v) = simf.apply(x as f64, y as f64);
                    pw[j * block + i] = bilinear(f, u, v).unwrap_or(0.0);
                }
            }
            let norm = |p: &mut [f32]| -> f64 {
                let m = p.iter().map(|&v| v as f64).sum::<f64>() / p.len() as f64;
                let mut s2 = 0.0;
                for (k, v) in p.iter_mut().enumerate() {
                    *v = (*v - m as f32) * win[k % block] * win[k / block];
                    s2 += (*v as f64).powi(2);
                }
                s2
            };
            let eb = norm(&mut pb);
            let ew = norm(&mut pw);
            if eb < 1e-8 || ew < 1e-8 {
                return None;
            }
            let pk = phase_correlate(&pw, &pb, block, block);
            if pk.psr < 6.0 || pk.dx.abs() > half / 2.0 || pk.dy.abs() > half / 2.0 {
                return Some(((cx, cy), (f64::NAN, f64::NAN)));
            }
            Some(((cx, cy), simf.apply(cx + pk.dx, cy + pk.dy)))
        })
        .collect();
    let tested = pairs.iter().filter(|p| p.is_some()).count();
    let pts: Vec<Corr> = pairs
        .into_iter()
        .flatten()
        .filter(|(_, q)| q.0.is_finite())
        .collect();
    if pts.len() < 3 {
        return None;
    }
    let residual = |s: &Affine, (p, q): &Corr| {
        let (u, v) = s.apply(p.0, p.1);
        (u - q.0).hypot(v - q.1)
    };
    let mut best: Option<(usize, f64, Similarity)> = None;
    for _ in 0..300 {
        let i = rng.below(pts.len() as u64) as usize;
        let j = rng.below(pts.len() as u64) as usize;
        if i == j {
            continue;
        }
        let Some(s) = fit_similarity(&[pts[i], pts[j]]) else {
            continue;
        };
        if !(params.scale_range[0]..=params.scale_range[1]).contains(&(1.0 / s.scale)) {
            continue;
        }
        let mut n = 0;
        let mut cost = 0.0;
        let sa = s.affine();
        for p in &pts {
            let r = residual(&sa, p);
            if r < thr {
                n += 1;
                cost += r * r;
            } else {
                cost += thr * thr;
            }
        }
        let better = match &best {
            None => true,
            Some((bn, bc, _)) => n > *bn || (n == *bn && cost < *bc),
        };
        if better {
            best = Some((n, cost, s));
        }
    }
    let (_, _, mut s) = best?;
    let mut inl = Vec::new();
    for _ in 0..3 {
        let sa = s.affine();
        inl = pts
            .iter()
            .copied()
            .filter(|p| residual(&sa, p) < thr)
            .collect();
        if inl.len() < 3 {
            return None;
        }
        s = fit_similarity(&inl)?;
    }
    let sa = s.affine();
    let rms = (inl.iter().map(|p| residual(&sa, p).powi(2)).sum::<f64>() / inl.len() as f64).sqrt();
    Some((
        s,
        FitQuality {
            inliers: inl.len(),
            tested,
            rms,
        },
    ))
}

/// Least-squares similarity `p → q`.
pub(crate) fn fit_similarity(pairs: &[Corr]) -> Option<Similarity> {
    let n = pairs.len() as f64;
    if pairs.len() < 2 {
        return None;
    }
    let (mut px, mut py, mut qx, mut qy) = (0.0, 0.0, 0.0, 0.0);
    for (p, q) in pairs {
        px += p.0;
        py += p.1;
        qx += q.0;
        qy += q.1;
    }
    let (px, py, qx, qy) = (px / n, py / n, qx / n, qy / n);
    let (mut sa, mut sb, mut ss) = (0.0, 0.0, 0.0);
    for (p, q) in pairs {
        let (x, y) = (p.0 - px, p.1 - py);
        let (u, v) = (q.0 - qx, q.1 - qy);
        sa += x * u + y * v;
        sb += x * v - y * u;
        ss += x * x + y * y;
    }
    if ss < 1e-9 {
        return None;
    }
    let (a, b) = (sa / ss, sb / ss);
    Some(Similarity::from_matrix(
        a,
        b,
        qx - (a * px - b * py),
        qy - (b * px + a * py),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_algebra() {
        let s = Similarity {
            scale: 1.05,
            rotation_deg: 7.0,
            tx_px: 12.0,
            ty_px: -4.0,
        };
        let i = s.inverse();
        let (x, y) = s.apply(100.0, 50.0);
        let (u, v) = i.apply(x, y);
        assert!((u - 100.0).abs() < 1e-9 && (v - 50.0).abs() < 1e-9);
        let c = s.compose(&i);
        assert!((c.scale - 1.0).abs() < 1e-12 && c.rotation_deg.abs() < 1e-9);
        let l = s.to_level(4).level_to_full(4);
        let (a, b) = (s.apply(3.0, 9.0), l.apply(3.0, 9.0));
        assert!((a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9);
    }

    #[test]
    fn corner_distance_is_the_worst_corner() {
        let shift = Similarity {
            tx_px: 3.0,
            ty_px: 4.0,
            ..Similarity::IDENTITY
        };
        assert_eq!(shift.corner_distance_px(&Similarity::IDENTITY, 10, 20), 5.0);
        // 90° about the origin: corner (9, 19) moves to (−19, 9), the
        // farthest of the four (√(28² + 10²)); the origin stays.
        let quarter = Similarity {
            rotation_deg: 90.0,
            ..Similarity::IDENTITY
        };
        let d = quarter.corner_distance_px(&Similarity::IDENTITY, 10, 20);
        assert!((d - 28f64.hypot(10.0)).abs() < 1e-9, "{d}");
    }

    #[test]
    fn fit_recovers_exact_transform() {
        let s = Similarity {
            scale: 0.97,
            rotation_deg: -8.0,
            tx_px: 3.0,
            ty_px: 40.0,
        };
        let pairs: Vec<_> = [(0.0, 0.0), (100.0, 5.0), (30.0, 80.0)]
            .iter()
            .map(|&p| (p, s.apply(p.0, p.1)))
            .collect();
        let f = fit_similarity(&pairs).unwrap();
        assert!((f.scale - s.scale).abs() < 1e-9);
        assert!((f.rotation_deg - s.rotation_deg).abs() < 1e-9);
        assert!((f.tx_px - s.tx_px).abs() < 1e-9 && (f.ty_px - s.ty_px).abs() < 1e-9);
    }
}
