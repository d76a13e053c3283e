//! From ridge strength to shafts: centreline pixels by non-maximum
//! suppression across the ridge, junctions cut out, the remaining simple
//! pieces ordered into polylines, measured, and rejoined across crossings
//! and gaps by direction continuity (so that one shaft is one record).
//!
//! The centreline comes from non-maximum suppression of the ridge strength
//! rather than from thinning the mask: it is one pixel thin, lies on the
//! ridge axis for every width, and naturally breaks where two hairs cross
//! (the Hessian sees one orientation there), which is exactly where the
//! pieces must be split anyway. Pixels where three or more thin branches
//! meet are cut out with a margin of about the local width. (The pixel
//! walk below is hair-specific; the kernels' skeleton graph, when it lands,
//! could replace `pieces` without changing the joining.)

use super::detect::Detection;
use super::profile::{self, WidthSample};
use super::HairParams;
use crate::image::Mask;
use crate::kernels::{component_pixels, sample_bilinear, Connectivity};
use rayon::prelude::*;

/// An ordered centreline piece between cuts, in full-resolution px.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub pts: Vec<[f32; 2]>,
    /// Width samples along the piece.
    pub samples: Vec<WidthSample>,
    /// Median measured width (full px), or the guess without samples.
    pub width: f32,
    /// Median depth (absorbance).
    pub depth: f32,
    /// Profile positions read (see [`profile::measure`]).
    pub attempts: usize,
    /// Length (px) backed by two-edge profiles: samples × their spacing
    /// (frame halves included).
    pub profiled_px: f32,
    /// Half profiles where the piece runs along the frame with its axis
    /// within its radius of the edge ([`profile::frame_halves`]; none
    /// unless at least three are good): they back the piece as two-edge
    /// profiles do (counted in `attempts` and `profiled_px`) but give no
    /// width samples; its shaft's rough diameter and depth when it has none.
    pub frame: profile::FrameHalves,
}

impl Piece {
    /// Most of its width samples are [`WidthSample::clipped`]: it follows
    /// the visible part of a shaft the analysable area's edge cuts
    /// lengthwise, its centreline and direction that part's, not the
    /// shaft's axis.
    pub(crate) fn clipped(&self) -> bool {
        2 * self.samples.iter().filter(|s| s.clipped).count() > self.samples.len()
    }
}

/// One traced shaft: its pieces in order (each oriented along the shaft).
#[derive(Debug, Clone)]
pub(crate) struct Traced {
    pub pts: Vec<[f32; 2]>,
    pub samples: Vec<WidthSample>,
    pub width: f32,
    pub depth: f32,
    /// Number of pieces joined.
    pub n_pieces: usize,
    /// Indices of the pieces joined, in order.
    #[allow(dead_code)]
    pub piece_ids: Vec<usize>,
    /// The pieces joined, in order, and whether each is reversed.
    pub chain: Vec<(usize, bool)>,
    /// Profile positions read over all pieces.
    pub attempts: usize,
    /// Length backed by two-edge profiles over all pieces (px).
    pub profiled_px: f32,
    /// Good frame half profiles over all pieces ([`Piece::frame_halves`]).
    pub frame_halves: usize,
}

/// The centreline pixels: the maxima of [`nms`].
pub(super) fn centrelines(det: &Detection) -> Mask {
    nms(det)
}

/// Non-maximum suppression across the ridge within the hysteresis mask.
///
/// Adding each scale's own maxima (branch `hnms2`: per-scale responses
/// kept, a finer scale-space maximum across its own axis, not beside a
/// best-scale centreline) changed nothing on crowded seeds 41–50 (402
/// lost hairs either way; 96 → 88 with a mask but no maxima) at the cost
/// of two planes per scale: 70 of those 88 lie over half inside another
/// hair (`scene_diag` `inside`), where no scale has a ridge of their own.
/// Branch `hunit` (`scene_diag` `UNIT` lines, crowded seeds 41–50 × 2 /
/// 3.5 / 5.5 µm/px): of the 96 lost hairs with a mask but no maxima, 81
/// have a unit-mate; of the 129 lost unit-mates with no maxima or with
/// their maxima dropped, 103 never run ≥ 150 µm clear of every other
/// hair, and 92 have their nearest mate lost as well (whole units, often
/// short stubs at the frame). Narrowing the shoulder reach below (1.1 σ
/// → 0.8 σ or 0.5 σ) left unseen seeds 44–50 at sum |count error| 80.
/// Branch `hmate25` (session 25, commit 40d7c13, reverted): the vellus
/// scales' own maxima where a wider scale dominates (off the wider axis,
/// not mirrored across it as an edge shoulder) as extra centreline pixels:
/// unseen crowded 87 → 82 but MAE 2.83 → 3.22 and truth shafts with a
/// record 318 → 320 of 525 (extra records, not recall; the pieces on lost
/// hairs fail the profile tests), see `crowded_scene_counts_and_crossings`.
pub(super) fn nms(det: &Detection) -> Mask {
    let s = &det.strength;
    let (w, h) = (s.width, s.height);
    let smax = max_or_zero(&det.scale.data);
    // Strength at pixel i and its two neighbours across its ridge.
    let across = |i: usize| -> (f32, f32, f32) {
        let (x, y) = ((i % w) as f32, (i / w) as f32);
        let th = det.direction.data[i];
        let (nx, ny) = (-th.sin(), th.cos());
        let a = sample_bilinear(s, x + nx, y + ny);
        let b = sample_bilinear(s, x - nx, y - ny);
        (s.data[i], a, b)
    };
    // Position tolerance of the quick test: its sine and cosine against
    // libm's, and the rounding of `x ± nx` to f32.
    let tol_pos = 2.0 * ulp_f32(w.max(h) as f32) + 1e-5;
    // One pixel of the mask: is it a maximum across the ridge?
    // `quick`: the quick test's answer for the pixel ([`quick_across`]).
    // (The caller's column and row: not divided out of the index again.)
    let keep = |xi: usize, yi: usize, quick: Option<bool>| -> bool {
        let i = yi * w + xi;
        let (x, y) = (xi as f32, yi as f32);
        let th = det.direction.data[i];
        let sp = det.scale.data[i];
        // Most pixels are decided without libm's sine and cosine.
        match quick {
            Some(false) => return false,
            Some(true) if 1.4 * sp >= smax => return true,
            Some(true) => {}
            None => {
                let (v, a, b) = across(i);
                if !(v >= a && v > b) {
                    return false;
                }
            }
        }
        let (nx, ny) = (-th.sin(), th.cos());
        let v = s.data[i];
        // Edge shoulders: a flat-topped wide shaft also gives a weaker
        // small-scale ridge just inside each edge. Drop a maximum that
        // lies within the half-width (σ = w/2) of a stronger, wider
        // ridge across it.
        // Only a wider ridge (σ > 1.4 sp ≤ smax) within 1.1 σ counts.
        if 1.4 * sp >= smax {
            return true;
        }
        let reach = (2.0 * smax).ceil() as i32;
        // The probes (k, ∓) in order, in blocks of `SHOULDER_K` steps:
        // each block's tests without branches (most probes fail them and a
        // branch per test mispredicts), then the across test, in order, at
        // the probes that pass (any one rejects the maximum).
        let probe = |k: i32, sign: f32| -> Option<usize> {
            let (qx, qy) = (x + sign * k as f32 * nx, y + sign * k as f32 * ny);
            let (xi, yi) = (round_i64(qx), round_i64(qy));
            let inside = (xi >= 0) & (yi >= 0) & (xi < w as i64) & (yi < h as i64);
            inside.then(|| yi as usize * w + xi as usize)
        };
        let mut k0 = 1;
        while k0 <= reach && (k0 as f32) < 1.1 * smax {
            let mut hits = shoulder_hits(
                [&s.data, &det.scale.data],
                [w, h],
                [[x, y], [nx, ny]],
                [k0, reach],
                [smax, v, sp],
            );
            while hits != 0 {
                let bit = hits.trailing_zeros() as i32;
                hits &= hits - 1;
                let sign = if bit % 2 == 0 { -1.0 } else { 1.0 };
                if let Some(j) = probe(k0 + bit / 2, sign) {
                    let (u, ua, ub) = across(j);
                    if u >= 0.9 * ua.max(ub) {
                        return false;
                    }
                }
            }
            k0 += SHOULDER_K as i32;
        }
        true
    };
    // Rows in parallel; most pixels are off the mask (skipped in the loop).
    let mut data = vec![false; w * h];

    if w > 0 {
        // The quick test for a whole row at once (vectorised), then the
        // mask pixels one by one.
        data.par_chunks_mut(w)
            .enumerate()
            .for_each_init(Vec::new, |codes, (y, row)| {
                let mrow = &det.mask.data[y * w..(y + 1) * w];
                if !mrow.contains(&true) {
                    return;
                }
                quick_across_codes(s, &det.direction, y, mrow, tol_pos, codes);
                for (x, ((o, &m), &c)) in row.iter_mut().zip(mrow).zip(codes.iter()).enumerate() {
                    if m {
                        *o = keep(x, y, decode_quick(c));
                    }
                }
            });
    }
    Mask {
        width: w,
        height: h,
        data,
    }
}

/// The largest value of `v` and 0 (NaN ignored), as
/// `v.iter().fold(0.0, f32::max)` gives it (but for the sign of a zero
/// result, which the NMS's comparisons do not see), in eight lanes so
/// that it vectorises: the fold took 5 instructions per pixel of the
/// detection plane (15 M per 12 MP call at 3.5 µm/px, session 26).
fn max_or_zero(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] = acc[l].max(c[l]);
        }
    }
    acc.iter().chain(tail).fold(0.0f32, |a, &b| a.max(b))
}

/// Probe steps per block of the NMS shoulder test (two probes each, one
/// bit per probe in a `u32`).
const SHOULDER_K: usize = 16;

crate::kernels::simd::dispatch! {
    fn shoulder_hits(planes: [&[f32]; 2], size: [usize; 2], geo: [[f32; 2]; 2], ks: [i32; 2], vals: [f32; 3]) -> u32 => shoulder_hits_body
}

/// One block of the NMS shoulder probes (in [`nms`]) at the pixel
/// `geo[0]` across its ridge (unit normal `geo[1]`): for the steps
/// `k = k0 + d`, `d < SHOULDER_K`, while `k ≤ reach` and `k < 1.1 smax`
/// (`ks = [k0, reach]`, `vals = [smax, v, sp]`), bit `2d + e` is set when
/// the pixel nearest `k` steps to side `e` (−, +) lies in the plane and is
/// a stronger (`> v`), wider (σ > 1.4 sp) ridge's pixel within 1.1 of its
/// σ. (Only the wider ridge's axis, about a maximum across it, counts: its
/// flanks take the largest σ well outside the shaft and would hide a thin
/// hair lying beside it.) `planes`: the strength and σ planes of `size`.
///
/// All the probes in vector lanes, without branches; the pixel positions
/// rounded as [`round_i64`] does, in `i32` where the plane allows (one
/// vector conversion instead of a scalar one per probe): the same bits as the
/// probes one by one (at 3.5 µm/px, AVX2 copy: about 117 M instructions
/// one by one, 49 M here).
#[inline(always)]
fn shoulder_hits_body(
    planes: [&[f32]; 2],
    size: [usize; 2],
    geo: [[f32; 2]; 2],
    ks: [i32; 2],
    vals: [f32; 3],
) -> u32 {
    let [s, scale] = planes;
    let [w, h] = size;
    let [[x, y], [nx, ny]] = geo;
    let [k0, reach] = ks;
    let [smax, v, sp] = vals;
    assert!(w * h > 0 && s.len() == w * h && scale.len() == w * h);
    macro_rules! lanes {
        ($int:ty, $trunc:expr) => {{
            let (wi, hi) = (w as $int, h as $int);
            let round = |q: f32| -> $int {
                let t: $int = $trunc(q);
                let fr = q - t as f32;
                t.wrapping_add((fr >= 0.5) as $int)
                    .wrapping_sub((fr <= -0.5) as $int)
            };
            let mut hits = 0u32;
            for lane in 0..2 * SHOULDER_K {
                let (d, e) = (lane / 2, lane % 2);
                let sign = if e == 0 { -1.0f32 } else { 1.0 };
                let k = k0 + d as i32;
                let on = !((k > reach) | (k as f32 >= 1.1 * smax));
                let (qx, qy) = (x + sign * k as f32 * nx, y + sign * k as f32 * ny);
                let (xi, yi) = (round(qx), round(qy));
                let inside = on & (xi >= 0) & (yi >= 0) & (xi < wi) & (yi < hi);
                let j = if inside {
                    yi.wrapping_mul(wi).wrapping_add(xi) as usize
                } else {
                    0
                };
                // SAFETY: j = yi·w + xi with 0 ≤ xi < w, 0 ≤ yi < h, or 0:
                // below w·h, the planes' length (asserted above).
                let (sj, sq) = unsafe { (*s.get_unchecked(j), *scale.get_unchecked(j)) };
                let hit = inside & (sj > v) & (sq > 1.4 * sp) & ((k as f32) < 1.1 * sq);
                hits |= (hit as u32) << lane;
            }
            hits
        }};
    }
    // Positions beyond ±2³⁰ (outside a plane less than 2³⁰ wide and high)
    // are clamped to it and NaN taken as 0, as `as` takes it: then the
    // conversion needs no saturation (which does not vectorise).
    const LIM: f32 = (1u32 << 30) as f32;
    let trunc_i32 = |q: f32| -> i32 {
        let q = if q.is_nan() { 0.0 } else { q.clamp(-LIM, LIM) };
        // SAFETY: finite and within ±2³⁰, so representable in i32.
        unsafe { q.to_int_unchecked::<i32>() }
    };
    if w * h <= i32::MAX as usize && w.max(h) < 1 << 30 {
        lanes!(i32, trunc_i32)
    } else {
        lanes!(i64, |q: f32| q as i64)
    }
}

/// Spacing of f32 values at |v| (the unit in the last place).
fn ulp_f32(v: f32) -> f32 {
    let v = v.abs().max(1.0);
    f32::from_bits(v.to_bits() + 1) - v
}

/// Polynomial sine and cosine on [−π/2, π/2] (Taylor to x¹¹ and x¹²,
/// |error| < 1e-6 there), branch-free.
#[inline(always)]
fn sin_cos_poly(t: f32) -> (f32, f32) {
    let t2 = t * t;
    let s = t
        * (1.0
            + t2 * (-1.0 / 6.0
                + t2 * (1.0 / 120.0
                    + t2 * (-1.0 / 5040.0 + t2 * (1.0 / 362_880.0 + t2 * (-1.0 / 39_916_800.0))))));
    let c = 1.0
        + t2 * (-0.5
            + t2 * (1.0 / 24.0
                + t2 * (-1.0 / 720.0
                    + t2 * (1.0 / 40_320.0 + t2 * (-1.0 / 3_628_800.0 + t2 / 479_001_600.0)))));
    (s, c)
}

/// The test `v ≥ a && v > b` of [`nms`] (a, b: the strength bilinearly
/// sampled one pixel either side across the ridge at angle `th`) decided
/// from a polynomial sine and cosine when the margin allows, with the same
/// answer as the exact test: `None` when too close to call (or at the
/// border, or an angle outside [−π/2, π/2]).
///
/// Both samples lie in the 3 × 3 neighbourhood of the pixel, where the
/// bilinear interpolant moves by at most the neighbourhood's range per unit
/// of position along each axis; the positions differ from the exact ones by
/// at most `tol_pos` per axis, and the f32 evaluation of either by a few
/// units in the last place of the largest value.
#[cfg(test)]
#[inline]
fn quick_across(
    s: &crate::image::Plane,
    x: usize,
    y: usize,
    th: f32,
    tol_pos: f32,
) -> Option<bool> {
    let w = s.width;
    let th_out = th.is_nan() || th.abs() > std::f32::consts::FRAC_PI_2 + 1e-4;
    if x == 0 || y == 0 || x + 1 >= w || y + 1 >= s.height || th_out {
        return None;
    }
    let d = &s.data;
    let r0 = &d[(y - 1) * w + x - 1..(y - 1) * w + x + 2];
    let r1 = &d[y * w + x - 1..y * w + x + 2];
    let r2 = &d[(y + 1) * w + x - 1..(y + 1) * w + x + 2];
    let p = [
        [r0[0], r0[1], r0[2]],
        [r1[0], r1[1], r1[2]],
        [r2[0], r2[1], r2[2]],
    ];
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for row in &p {
        for &q in row {
            lo = lo.min(q);
            hi = hi.max(q);
        }
    }
    if !p.iter().flatten().all(|q| q.is_finite()) {
        return None;
    }
    let v = p[1][1];
    let (sn, cs) = sin_cos_poly(th);
    // Offsets from the centre pixel (in 3 × 3 coordinates 0..=2).
    let bil = |dx: f32, dy: f32| -> f32 {
        let (gx, gy) = (1.0 + dx, 1.0 + dy);
        let (x0, y0) = ((gx as usize).min(1), (gy as usize).min(1));
        let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
        let top = p[y0][x0] + fx * (p[y0][x0 + 1] - p[y0][x0]);
        let bot = p[y0 + 1][x0] + fx * (p[y0 + 1][x0 + 1] - p[y0 + 1][x0]);
        top + fy * (bot - top)
    };
    let (nx, ny) = ((-sn).clamp(-1.0, 1.0), cs.clamp(-1.0, 1.0));
    let a = bil(nx, ny);
    let b = bil(-nx, -ny);
    let mag = lo.abs().max(hi.abs());
    let margin = 2.0 * (tol_pos + 2e-6) * (hi - lo) + 64.0 * f32::EPSILON * mag;
    // v ≥ a: sure / surely not.
    let va = if v - a > margin {
        true
    } else if a - v > margin {
        false
    } else {
        return None;
    };
    if !va {
        return Some(false);
    }
    if v - b > margin {
        Some(true)
    } else if b - v > margin {
        Some(false)
    } else {
        None
    }
}

/// [`quick_across`] as a code: 0 = `Some(false)`, 1 = `Some(true)`,
/// 2 = `None`.
const QUICK_UNSURE: u8 = 2;

fn decode_quick(c: u8) -> Option<bool> {
    match c {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// [`quick_across`] for the pixels of row `y` of `s` (angles from `dir`)
/// in runs of [`QUICK_RUN`] pixels that hold a pixel of `mask` (the row's
/// mask; the others are [`QUICK_UNSURE`]), as codes (see [`QUICK_UNSURE`])
/// in `codes` (resized to the width).
fn quick_across_codes(
    s: &crate::image::Plane,
    dir: &crate::image::Plane,
    y: usize,
    mask: &[bool],
    tol_pos: f32,
    codes: &mut Vec<u8>,
) {
    let (w, h) = (s.width, s.height);
    codes.clear();
    codes.resize(w, QUICK_UNSURE);
    if y == 0 || y + 1 >= h || w < 3 {
        return;
    }
    let d = &s.data;
    let rows = [
        &d[(y - 1) * w..y * w],
        &d[y * w..(y + 1) * w],
        &d[(y + 1) * w..(y + 2) * w],
    ];
    let th = &dir.data[y * w + 1..(y + 1) * w - 1];
    quick_across_row(rows, th, &mask[1..w - 1], tol_pos, &mut codes[1..w - 1]);
}

/// Pixels per run of [`quick_across_row`]: a run without a mask pixel is
/// skipped (about half of the hair stage's quick tests at 3.5 µm/px were
/// of pixels off the mask, whose answers are not read).
const QUICK_RUN: usize = 16;

crate::kernels::simd::dispatch! {
    fn quick_across_row(rows: [&[f32]; 3], th: &[f32], mask: &[bool], tol_pos: f32, out: &mut [u8]) => quick_across_row_body
}

/// [`quick_across_run`] over the runs of [`QUICK_RUN`] pixels of `out`
/// that hold a pixel of `mask` (`mask[i]` for pixel `out[i]`).
#[inline(always)]
fn quick_across_row_body(
    rows: [&[f32]; 3],
    th: &[f32],
    mask: &[bool],
    tol_pos: f32,
    out: &mut [u8],
) {
    let n = out.len();
    let mut i0 = 0;
    while i0 < n {
        let i1 = (i0 + QUICK_RUN).min(n);
        if mask[i0..i1].contains(&true) {
            let run = rows.map(|r| &r[i0..i1 + 2]);
            quick_across_run(run, &th[i0..i1], tol_pos, &mut out[i0..i1]);
        }
        i0 = i1;
    }
}

/// [`quick_across`] at the pixels `1..=out.len()` of a row (`rows`: the
/// rows above, at and below it; `th`: the angles of those pixels), written
/// branch-free so that it vectorises: the same operations per pixel, so
/// the same answers.
#[inline(always)]
fn quick_across_run(rows: [&[f32]; 3], th: &[f32], tol_pos: f32, out: &mut [u8]) {
    let n = out.len();
    let th = &th[..n];
    let [r0, r1, r2] = rows;
    let (a0, a1, a2) = (&r0[..n], &r0[1..n + 1], &r0[2..n + 2]);
    let (b0, b1, b2) = (&r1[..n], &r1[1..n + 1], &r1[2..n + 2]);
    let (c0, c1, c2) = (&r2[..n], &r2[1..n + 1], &r2[2..n + 2]);
    for i in 0..n {
        let (p00, p01, p02) = (a0[i], a1[i], a2[i]);
        let (p10, p11, p12) = (b0[i], b1[i], b2[i]);
        let (p20, p21, p22) = (c0[i], c1[i], c2[i]);
        let t = th[i];
        let th_out = t.is_nan() | (t.abs() > std::f32::consts::FRAC_PI_2 + 1e-4);
        let lo = p00.min(p01).min(p02).min(p10).min(p11);
        let lo = lo.min(p12).min(p20).min(p21).min(p22);
        let hi = p00.max(p01).max(p02).max(p10).max(p11);
        let hi = hi.max(p12).max(p20).max(p21).max(p22);
        let finite = p00.is_finite()
            & p01.is_finite()
            & p02.is_finite()
            & p10.is_finite()
            & p11.is_finite()
            & p12.is_finite()
            & p20.is_finite()
            & p21.is_finite()
            & p22.is_finite();
        let v = p11;
        let (sn, cs) = sin_cos_poly(t);
        // `quick_across`'s bilinear read in the 3 × 3 block.
        let bil = |dx: f32, dy: f32| -> f32 {
            let (gx, gy) = (1.0 + dx, 1.0 + dy);
            // `(g as usize).min(1)` for g in [0, 2] (or NaN: 0).
            let (xs, ys) = (gx >= 1.0, gy >= 1.0);
            let (fxl, fxr) = (gx - 0.0, gx - 1.0);
            // Each row read between its columns 0, 1 and between 1, 2;
            // selects between computed values only (a select between
            // loads becomes a load from selected addresses, which does
            // not vectorise).
            let hl0 = p00 + fxl * (p01 - p00);
            let hr0 = p01 + fxr * (p02 - p01);
            let hl1 = p10 + fxl * (p11 - p10);
            let hr1 = p11 + fxr * (p12 - p11);
            let hl2 = p20 + fxl * (p21 - p20);
            let hr2 = p21 + fxr * (p22 - p21);
            let (h0, h1, h2) = if xs { (hr0, hr1, hr2) } else { (hl0, hl1, hl2) };
            let (top, bot) = if ys { (h1, h2) } else { (h0, h1) };
            let fy = if ys { gy - 1.0 } else { gy - 0.0 };
            top + fy * (bot - top)
        };
        let (nx, ny) = ((-sn).clamp(-1.0, 1.0), cs.clamp(-1.0, 1.0));
        let a = bil(nx, ny);
        let b = bil(-nx, -ny);
        let mag = lo.abs().max(hi.abs());
        let margin = 2.0 * (tol_pos + 2e-6) * (hi - lo) + 64.0 * f32::EPSILON * mag;
        let (va_t, va_f) = (v - a > margin, a - v > margin);
        let (vb_t, vb_f) = (v - b > margin, b - v > margin);
        let cb = if vb_t {
            1
        } else if vb_f {
            0
        } else {
            QUICK_UNSURE
        };
        let ca = if va_f {
            0
        } else if va_t {
            cb
        } else {
            QUICK_UNSURE
        };
        out[i] = if th_out | !finite { QUICK_UNSURE } else { ca };
    }
}

/// `v.round() as i64` (half away from zero) without a libm call; exact
/// for |v| < 2²³ (the fractional part `v − trunc(v)` is exact).
#[inline]
pub(super) fn round_i64(v: f32) -> i64 {
    let t = v as i64;
    let fr = v - t as f32;
    // Without branches (at most one of the two holds).
    t + (fr >= 0.5) as i64 - (fr <= -0.5) as i64
}

const RING: [(i32, i32); 8] = [
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
    (0, -1),
    (1, -1),
];

/// Number of separate runs of set pixels around the 8-ring (branches).
pub(super) fn branches(m: &Mask, x: usize, y: usize) -> usize {
    let (w, h) = (m.width as i32, m.height as i32);
    let get = |k: usize| {
        let (dx, dy) = RING[k % 8];
        let (xx, yy) = (x as i32 + dx, y as i32 + dy);
        xx >= 0 && yy >= 0 && xx < w && yy < h && m.data[(yy * w + xx) as usize]
    };
    let mut runs = 0;
    for k in 0..8 {
        if get(k) && !get(k + 1) {
            runs += 1;
        }
    }
    if runs == 0 && get(0) {
        1
    } else {
        runs
    }
}

/// Cut junctions (≥ 3 branches) out of the thin set with a margin of the
/// local scale; returns the cut set and the junction zones.
///
/// A smaller margin keeps more of the branches where unit-mates leave a
/// shared band (branch `hunit`, unseen crowded seeds 44–50: 1.5 σ → 0.75 σ
/// sum |count error| 80 → 76, 0.5 σ 75, but 1.0 σ 81) but the short
/// pieces it keeps turn into thin records: rotation 24 → 26 shafts, the
/// rescaled scene's vellus fraction 0.21 → 0.12 (both tests fail), so
/// 1.5 σ stays.
///
/// Not cutting where fewer than two branches of the thin set connected to
/// the junction pixel leave its disc (a thick shaft's tip blob, spurs of a
/// 2-px band; branch `hnms`, commit 24790ad; rule off where the ring
/// leaves the frame) gave unseen crowded 44–50 sum |count error| 60 → 54,
/// MAE 3.20 → 3.17, one-record 0.181 → 0.196, but |vellus err| 0.035 →
/// 0.038, sparse 81–88 MAE 1.00 → 1.02, all bounds 8 → 7, sparse test
/// 3.5 µm/px 17 → 18 of 14, and the rotation test fails (mean diameter
/// 60.9 → 66.0 µm, 25 shafts vs 24); the end-to-end hair-count change
/// went −11 → −15 (truth −29), hairs_12mp CPU unchanged. Variants: the
/// same without the frame rule (sparse sum 50 → 55); a 1.5 px disc there
/// instead of none (crowded 53, MAE 3.36; sparse 48, MAE 0.98); only for
/// σ ≥ 4 px (crowded 52, sparse 49, all 7); requiring three branches to
/// leave (crowded 52, sparse 59, mixed records 9 → 13); counting every
/// line in the ring, not only those connected to the pixel (crowded 58 /
/// 62): not kept.
pub(super) fn cut_junctions(thin: &Mask, det: &Detection) -> (Mask, Mask) {
    let (w, h) = (thin.width, thin.height);
    let mut zones = Mask::filled(w, h, false);
    let mut cut = thin.clone();
    // The junction pixels, found in parallel rows (raster order); their
    // discs are then painted (the same in any order: flags only set).
    // Each row in a plain loop: through a filtered iterator the closure
    // was called per pixel, not inlined (the hair stage at 3.5 µm/px ran
    // 94 M more instructions, AVX2 copy).
    let junctions: Vec<(usize, usize)> = (0..h)
        .into_par_iter()
        .flat_map_iter(|y| {
            let mut row_junctions = Vec::new();
            for (x, &on) in thin.data[y * w..(y + 1) * w].iter().enumerate() {
                if on && branches(thin, x, y) >= 3 {
                    row_junctions.push((x, y));
                }
            }
            row_junctions
        })
        .collect();
    for (x, y) in junctions {
        let r = (1.5 * det.scale.data[y * w + x]).max(1.5);
        let ri = r.ceil() as i32;
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                let (xx, yy) = (x as i32 + dx, y as i32 + dy);
                if xx < 0 || yy < 0 || xx >= w as i32 || yy >= h as i32 {
                    continue;
                }
                if ((dx * dx + dy * dy) as f32) <= r * r {
                    let j = yy as usize * w + xx as usize;
                    zones.data[j] = true;
                    cut.data[j] = false;
                }
            }
        }
    }
    (cut, zones)
}

/// The positions of a set of pixel indices (increasing: gathered by a
/// raster scan) by image row: a pixel is looked up among its row's few
/// instead of by a binary search over all of them.
struct RowIndex<'a> {
    pix: &'a [usize],
    w: usize,
    /// First row.
    y0: usize,
    /// `pix[starts[r]..starts[r + 1]]`: the pixels of row `y0 + r`.
    starts: Vec<usize>,
}

impl<'a> RowIndex<'a> {
    fn new(pix: &'a [usize], w: usize) -> RowIndex<'a> {
        debug_assert!(pix.windows(2).all(|p| p[0] < p[1]));
        let (y0, y1) = match (pix.first(), pix.last()) {
            (Some(&a), Some(&b)) => (a / w, b / w),
            _ => (0, 0),
        };
        let mut starts = Vec::with_capacity(y1 - y0 + 2);
        let mut k = 0;
        for y in y0..=y1 + 1 {
            while k < pix.len() && pix[k] / w < y {
                k += 1;
            }
            starts.push(k);
        }
        RowIndex { pix, w, y0, starts }
    }

    /// The position in the set of its first pixel of row `y`, and the
    /// row's pixels (none for a row outside the set's rows).
    #[inline]
    fn row(&self, y: usize) -> (usize, &'a [usize]) {
        match y.checked_sub(self.y0) {
            Some(r) if r + 1 < self.starts.len() => {
                let (a, b) = (self.starts[r], self.starts[r + 1]);
                (a, &self.pix[a..b])
            }
            _ => (0, &[]),
        }
    }

    /// The rows `y − 1`, `y` and `y + 1` ([`RowIndex::row`]; none above
    /// the image), for the 8-neighbours of a pixel in row `y`: one row
    /// lookup each instead of one per neighbour ([`RowIndex::slot`]
    /// divided the index and looked its row up again for each; session 26:
    /// −12.8 M instructions per 12 MP call at 3.5 µm/px).
    #[inline]
    fn rows3(&self, y: usize) -> [(usize, &'a [usize]); 3] {
        [
            y.checked_sub(1).map_or((0, &[][..]), |y| self.row(y)),
            self.row(y),
            self.row(y + 1),
        ]
    }

    /// The position of pixel `j` (column `x`, row `dy` of `rows`, a
    /// [`RowIndex::rows3`]) in the set, if it is in it: [`RowIndex::slot`].
    #[inline]
    fn slot_in(rows: &[(usize, &[usize]); 3], dy: i32, j: usize) -> Option<usize> {
        let (a, row) = rows[(dy + 1) as usize];
        row.binary_search(&j).ok().map(|k| a + k)
    }

    /// The position of pixel `j` in the set, if it is in it.
    #[inline]
    fn slot(&self, j: usize) -> Option<usize> {
        let r = (j / self.w).checked_sub(self.y0)?;
        let (a, b) = (*self.starts.get(r)?, *self.starts.get(r + 1)?);
        self.pix[a..b].binary_search(&j).ok().map(|k| a + k)
    }
}

/// Order the pixels of one component (increasing indices) into a path by
/// walking from an end.
fn order(pix: &[usize], w: usize) -> Vec<usize> {
    let index = &RowIndex::new(pix, w);
    // The neighbours of `i` in the component, in `RING` order (no
    // allocation per step of the walk).
    let nb = |i: usize| {
        let (x, y) = ((i % w) as i64, (i / w) as i64);
        let rows = index.rows3(y as usize);
        RING.iter().filter_map(move |&(dx, dy)| {
            let (xx, yy) = (x + dx as i64, y + dy as i64);
            if xx < 0 || yy < 0 || xx >= w as i64 {
                return None;
            }
            let j = (yy as usize) * w + xx as usize;
            RowIndex::slot_in(&rows, dy, j).map(|k| (j, k))
        })
    };
    // Start: the pixel farthest from an arbitrary pixel (a path end), then
    // the end is the one farthest from that (two sweeps by Euclid distance).
    let far = |from: usize| -> usize {
        let (fx, fy) = ((from % w) as i64, (from / w) as i64);
        *pix.iter()
            .max_by_key(|&&i| {
                let (x, y) = ((i % w) as i64, (i / w) as i64);
                ((x - fx).pow(2) + (y - fy).pow(2), std::cmp::Reverse(i))
            })
            .unwrap_or(&from)
    };
    let start = far(far(pix[0]));
    let mut path = vec![start];
    // Visited flags by position.
    let mut visited = vec![false; pix.len()];
    if let Some(k) = index.slot(start) {
        visited[k] = true;
    }
    let mut dir = (0.0f32, 0.0f32);
    let mut cur = start;
    loop {
        let (cx, cy) = ((cur % w) as f32, (cur / w) as f32);
        let mut best: Option<(f32, usize, usize)> = None;
        for (j, k) in nb(cur) {
            if visited[k] {
                continue;
            }
            let (dx, dy) = ((j % w) as f32 - cx, (j / w) as f32 - cy);
            let l = (dx * dx + dy * dy).sqrt();
            // Prefer straight continuation, then 4-neighbours.
            let score = -(dx * dir.0 + dy * dir.1) / l + 0.1 * l;
            if best.is_none_or(|(s, _, _)| score < s) {
                best = Some((score, j, k));
            }
        }
        let Some((_, j, k)) = best else { break };
        let (dx, dy) = ((j % w) as f32 - cx, (j / w) as f32 - cy);
        let l = (dx * dx + dy * dy).sqrt();
        dir = (0.5 * dir.0 + 0.5 * dx / l, 0.5 * dir.1 + 0.5 * dy / l);
        visited[k] = true;
        path.push(j);
        cur = j;
    }
    path
}

/// Split a pixel path where its direction turns by more than `max_deg`
/// between the `k` pixels before and the `k` after a point; `k` pixels on
/// each side of a split are dropped (their direction is unreliable).
fn split_at_turns(path: &[usize], w: usize, k: usize, max_deg: f32) -> Vec<Vec<usize>> {
    let n = path.len();
    if n < 2 * k + 1 {
        return vec![path.to_vec()];
    }
    let xy = |i: usize| ((path[i] % w) as f32, (path[i] / w) as f32);
    let turn = |i: usize| -> f32 {
        let (a, b, c) = (xy(i - k), xy(i), xy(i + k));
        let (u, v) = ((b.0 - a.0, b.1 - a.1), (c.0 - b.0, c.1 - b.1));
        let nu = (u.0 * u.0 + u.1 * u.1).sqrt().max(1e-6);
        let nv = (v.0 * v.0 + v.1 * v.1).sqrt().max(1e-6);
        ((u.0 * v.0 + u.1 * v.1) / (nu * nv))
            .clamp(-1.0, 1.0)
            .acos()
    };
    let lim = max_deg.to_radians();
    let ang: Vec<f32> = (0..n)
        .map(|i| if i >= k && i + k < n { turn(i) } else { 0.0 })
        .collect();
    let mut cuts = Vec::new();
    let mut i = 0;
    while i < n {
        if ang[i] > lim {
            let mut j = i;
            let mut best = i;
            while j < n && ang[j] > lim {
                if ang[j] > ang[best] {
                    best = j;
                }
                j += 1;
            }
            cuts.push(best);
            i = j;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    let mut start = 0usize;
    for c in cuts {
        let end = c.saturating_sub(k);
        if end > start {
            out.push(path[start..end].to_vec());
        }
        start = (c + k + 1).min(n);
    }
    if start < n {
        out.push(path[start..].to_vec());
    }
    out
}

/// Drop the paths of one component that double a longer one: where the
/// maxima form a band two pixels wide, the walk can run down one side and
/// back up the other, and the turn splits the two; the way back is the
/// same stretch of shaft again (it lies beside the way down, and joined
/// end to end with it, it would overlap it). A path with at least 80 % of
/// its pixels next to one longer path of the component is such a return.
fn drop_doubled(paths: &mut Vec<Vec<usize>>, w: usize) {
    if paths.len() < 2 {
        return;
    }
    let mut owner: Vec<(usize, usize)> = paths
        .iter()
        .enumerate()
        .flat_map(|(k, p)| p.iter().map(move |&i| (i, k)))
        .collect();
    owner.sort_unstable();
    // Path `j` is longer than `k` (ties: the earlier one is kept).
    let longer = |j: usize, k: usize| {
        paths[j].len() > paths[k].len() || (paths[j].len() == paths[k].len() && j < k)
    };
    let doubled: Vec<bool> = (0..paths.len())
        .map(|k| {
            let mut beside = vec![0usize; paths.len()];
            for &i in &paths[k] {
                let (x, y) = ((i % w) as i64, (i / w) as i64);
                let mut seen = [usize::MAX; 9];
                for (m, (dx, dy)) in RING.iter().enumerate() {
                    let (xx, yy) = (x + *dx as i64, y + *dy as i64);
                    if xx < 0 || yy < 0 || xx >= w as i64 {
                        continue;
                    }
                    let j = yy as usize * w + xx as usize;
                    if let Ok(pos) = owner.binary_search_by(|o| o.0.cmp(&j)) {
                        let o = owner[pos].1;
                        if o != k && longer(o, k) && !seen[..m].contains(&o) {
                            seen[m] = o;
                            beside[o] += 1;
                        }
                    }
                }
            }
            beside.iter().any(|&b| b * 10 >= paths[k].len() * 8)
        })
        .collect();
    let mut k = 0;
    paths.retain(|_| {
        k += 1;
        !doubled[k - 1]
    });
}

/// Smooth a polyline with a moving average of ±`k` points (ends kept).
fn smooth(pts: &[[f32; 2]], k: usize) -> Vec<[f32; 2]> {
    let n = pts.len();
    (0..n)
        .map(|i| {
            let r = k.min(i).min(n - 1 - i);
            let mut s = [0.0f32; 2];
            for p in &pts[i - r..=i + r] {
                s[0] += p[0];
                s[1] += p[1];
            }
            let c = (2 * r + 1) as f32;
            [s[0] / c, s[1] / c]
        })
        .collect()
}

/// Pieces: ordered, smoothed centreline polylines in full-res px.
pub(crate) fn pieces(det: &Detection, params: &HairParams, upp: f64) -> (Vec<Piece>, Mask) {
    let thin = centrelines(det);
    let (cut, zones) = cut_junctions(&thin, det);
    // The pixels of each 8-connected piece of the cut centrelines, in
    // label order (increasing indices in each).
    let comps = component_pixels(&cut, Connectivity::Eight);
    let w = cut.width;
    let f = det.factor as f32;
    let off = (f - 1.0) / 2.0;
    let min_px = 3usize;
    let lum = &det.lum;
    let zone_f = &zones;
    // Profiles may be clipped only where some pixel is not analysable.
    let any_invalid = det.valid.data.iter().any(|&v| !v);
    // Ordered paths, split at sharp turns: where the thin set runs from one
    // hair into another across a crossing without a three-way junction.
    let paths: Vec<Vec<usize>> = comps
        .par_iter()
        .filter(|c| c.len() >= min_px)
        .flat_map_iter(|c| {
            // The maxima across a flat-topped (wide, opaque) shaft form a
            // band two or three pixels wide, in which the walk can stop in a
            // corner: the pixels it left (less the band beside its path)
            // are walked again, so the rest of the shaft is not lost.
            let mut out = Vec::new();
            let mut rest = c.clone();
            while rest.len() >= min_px {
                let path = order(&rest, w);
                let mut sig: Vec<f32> = path.iter().map(|&i| det.scale.data[i]).collect();
                let k = (1.5 * profile::median(&mut sig)).round().max(3.0) as usize;
                out.extend(split_at_turns(&path, w, k, params.max_turn_deg as f32));
                // The path and its 8-neighbours are used up.
                let index = RowIndex::new(&rest, w);
                let mut used = vec![false; rest.len()];
                for &i in &path {
                    let (x, y) = ((i % w) as i64, (i / w) as i64);
                    let rows = index.rows3(y as usize);
                    for &(dx, dy) in RING.iter().chain(&[(0, 0)]) {
                        let (xx, yy) = (x + dx as i64, y + dy as i64);
                        if xx >= 0 && yy >= 0 && xx < w as i64 {
                            let j = yy as usize * w + xx as usize;
                            if let Some(k) = RowIndex::slot_in(&rows, dy, j) {
                                used[k] = true;
                            }
                        }
                    }
                }
                let mut k = 0;
                rest.retain(|_| {
                    k += 1;
                    !used[k - 1]
                });
                // Only a substantial remainder is another stretch of shaft.
                if rest.len() < 4 * min_px {
                    break;
                }
            }
            drop_doubled(&mut out, w);
            out
        })
        .filter(|p| p.len() >= min_px)
        .collect();
    let out: Vec<Piece> = paths
        .par_iter()
        .filter_map(|path| {
            let mut sig: Vec<f32> = path.iter().map(|&i| det.scale.data[i]).collect();
            let sig_med = profile::median(&mut sig);
            let pts: Vec<[f32; 2]> = path
                .iter()
                .map(|&i| [(i % w) as f32 * f + off, (i / w) as f32 * f + off])
                .collect();
            let pts = smooth(&pts, 2);
            // Flat bar: best σ = w/2 (kernels docs); full-res px.
            let width_guess = (2.0 * sig_med * f).max(1.0);
            let mut samples = Vec::new();
            let total = *profile::arc_lengths(&pts).last().unwrap_or(&0.0);
            let skip = (0.5 * width_guess + 1.0).min(0.3 * total);
            let step = profile::sample_step_px(width_guess, params, upp);
            let zw = zone_f.width;
            let zh = zone_f.height;
            let excluded = |x: f32, y: f32| {
                let (xi, yi) = ((x / f) as usize, (y / f) as usize);
                xi >= zw || yi >= zh || zone_f.data[yi * zw + xi]
            };
            let cyl = params.cylinder_model.then_some(params.psf_sigma_px);
            // The first pass, a wider one if needed, and a second one when
            // the first says the guess was far off.
            let attempts = profile::measure_piece(
                lum,
                &pts,
                width_guess,
                step,
                skip,
                &excluded,
                cyl,
                &mut samples,
            );
            // Two edges and some contrast on a fair share of the profiles,
            // or this is a ridge-like patch of skin (mottling, erythema,
            // texture), not a shaft. Short pieces between crossings that
            // could not be profiled are kept for joining.
            if any_invalid {
                for s in samples.iter_mut() {
                    s.clipped = profile::clipped_at(det.full_valid, s.centre, s.fwhm_px);
                }
            }
            let min_depth = params.min_contrast;
            let good = samples.iter().filter(|s| s.depth >= min_depth).count();
            if attempts >= 3 && (good as f32) < params.min_profile_support * attempts as f32 {
                return None;
            }
            // A shaft along the frame with half of it in the image.
            let frame = if samples.len() < 3 {
                profile::frame_halves(lum, &pts, width_guess, step, skip, &excluded, min_depth)
            } else {
                profile::FrameHalves::NONE
            };
            let frame = if frame.good >= 3 {
                frame
            } else {
                profile::FrameHalves::NONE
            };
            let mut dv: Vec<f32> = samples.iter().map(|s| s.depth).collect();
            let width = profile::shaft_width(&samples).unwrap_or(width_guess);
            let depth = profile::median(&mut dv);
            let _ = upp;
            // Not done (branch `hrecall17`): backing the end margins where
            // no profile is read (`skip`, about half the width, at either
            // end) at the piece's own support rate, so that a wide shaft cut
            // into short pieces by crossings is not short of profiled length
            // (`HairParams::min_profiled_length`). Unseen crowded 44–50 /
            // sparse 81–88 sum |count error| 54 / 46, mean MAE 3.20 / 1.00
            // before: both margins of any piece 37 / 47, MAE 3.63 / 1.48;
            // of pieces with ≥ 3 good profiles 39 / 48, MAE 3.64 / 1.41
            // (and shafts wider than `max_width_um` dropped: 50 / 49, MAE
            // 3.38 / 1.11); one margin, ≥ 3 good 42 / 46, MAE 3.57 / 1.00,
            // but the rotation test fails (an extra 89 µm shaft of 4
            // samples, IQR 25 µm: mean diameter +6.4 %); one margin, ≥ 6
            // good 55 / 46, MAE 3.19 / 1.00 (nothing gained). The shafts
            // recovered are thick crossed ones read wide.

            // The profiles' sub-pixel centres are a better centreline than
            // the detection grid; the ends move with their nearest sample.
            let pts = if samples.len() >= 3 {
                samples.sort_by(|a, b| a.arc_px.total_cmp(&b.arc_px));
                let arc = profile::arc_lengths(&pts);
                let shift = |s: &WidthSample| {
                    let (c, _) = profile::point_and_tangent(&pts, &arc, s.arc_px, 1.0);
                    [s.centre[0] - c[0], s.centre[1] - c[1]]
                };
                let (d0, d1) = (shift(&samples[0]), shift(&samples[samples.len() - 1]));
                let (a, b) = (pts[0], pts[pts.len() - 1]);
                let mut r = vec![[a[0] + d0[0], a[1] + d0[1]]];
                r.extend(samples.iter().map(|s| s.centre));
                r.push([b[0] + d1[0], b[1] + d1[1]]);
                let ra = profile::arc_lengths(&r);
                for (k, s) in samples.iter_mut().enumerate() {
                    s.arc_px = ra[k + 1];
                }
                r
            } else {
                pts
            };
            Some(Piece {
                pts,
                samples,
                width,
                depth,
                attempts: attempts + frame.attempts,
                profiled_px: (good + frame.good) as f32 * step,
                frame,
            })
        })
        .collect();
    (out, zones)
}

#[derive(Clone, Copy)]
pub(super) struct End {
    pub(super) piece: usize,
    /// 0 = start, 1 = end of the polyline.
    pub(super) which: usize,
    pub(super) p: [f32; 2],
    /// Outward unit direction.
    pub(super) d: [f32; 2],
}

pub(super) fn end_of(piece: &Piece, idx: usize, which: usize) -> End {
    let pts = &piece.pts;
    let arc = profile::arc_lengths(pts);
    let total = *arc.last().unwrap_or(&0.0);
    // The last stretch of a piece cut at a junction often hooks towards the
    // other hair: measure the end direction further in.
    let l1 = (0.75 * piece.width + 2.0).min(0.25 * total);
    let l2 = (l1 + (3.0 * piece.width).clamp(10.0, 60.0)).min(total);
    let at = |s: f32| profile::point_and_tangent(pts, &arc, s, 0.0).0;
    let (p, q) = if which == 0 {
        (at(l1), at(l2))
    } else {
        (at(total - l1), at(total - l2))
    };
    let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
    let n = (dx * dx + dy * dy).sqrt().max(1e-6);
    let d = [dx / n, dy / n];
    // Extrapolate the straight end to the actual end of the piece.
    let e = if which == 0 {
        pts[0]
    } else {
        pts[pts.len() - 1]
    };
    let along = (e[0] - p[0]) * d[0] + (e[1] - p[1]) * d[1];
    End {
        piece: idx,
        which,
        p: [p[0] + along.max(0.0) * d[0], p[1] + along.max(0.0) * d[1]],
        d,
    }
}

fn angle(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] * b[0] + a[1] * b[1]).clamp(-1.0, 1.0).acos()
}

/// How much farther than the gap limit a collinear pair of ends of
/// measured pieces of like widths may link: up to this factor times the
/// limit, when the end directions and the line between the ends all agree
/// within the angle limit divided by the factor squared (`link_score`).
const COLLINEAR_GAP_FACTOR: f32 = 2.0;

/// Score of linking end `ea` (of piece `pa`) to end `eb` (of `pb`): lower
/// is better; `Err` names the test that failed.
pub(super) fn link_score(
    ea: &End,
    eb: &End,
    pa: &Piece,
    pb: &Piece,
    params: &HairParams,
    max_gap: f32,
    max_ang: f32,
) -> Result<f32, &'static str> {
    let wmax = pa.width.max(pb.width);
    let wmin = pa.width.min(pb.width);
    let gap_lim = max_gap.max(2.0 * wmax + 6.0);
    let v = [eb.p[0] - ea.p[0], eb.p[1] - ea.p[1]];
    let g = (v[0] * v[0] + v[1] * v[1]).sqrt();
    if g > COLLINEAR_GAP_FACTOR * gap_lim {
        return Err("gap");
    }
    let anti = angle(ea.d, [-eb.d[0], -eb.d[1]]);
    if anti > max_ang {
        return Err("angle");
    }
    let (ta, tb) = if g > 2.0 {
        let u = [v[0] / g, v[1] / g];
        (angle(ea.d, u), angle(eb.d, [-u[0], -u[1]]))
    } else {
        (0.0, 0.0)
    };
    // Lateral offset of each end from the other's line.
    let lat_a = (v[0] * ea.d[1] - v[1] * ea.d[0]).abs();
    let lat_b = (v[0] * eb.d[1] - v[1] * eb.d[0]).abs();
    // Ends side by side, or overlapping, by at most 3/8 of the narrower
    // piece's width, the pieces parallel within 20°: the pieces of one
    // shaft either side of a crossing, its centreline stepped sideways
    // there (the line between the ends runs across the shaft, so the
    // `towards` angles do not apply); `assemble` trims the overlap. Their
    // `ta + tb` stays in the score, so any link along the ends' directions
    // is taken first. Of the links so taken (`pair_diag::join_diag`, unseen
    // crowded 44–50 and whole fields 201–203, counted with this rule at
    // half the width and 30°), both pieces lay mostly on one truth shaft
    // 111 times, on two 21, a piece on none 40 (at half the width and 30°:
    // 196, 50, 80). Only measured pieces (≥ 3 width samples each) of like
    // widths (within 1.2) link so, as beyond the gap limit below: for all
    // pieces the rule joined two skin pieces into a false 153 µm hair
    // (`realistic_optics_without_hair_gives_no_hair`, 2 µm/px) and moved
    // the rotation and rescaling tests' mean diameters past their bounds.
    let measured_alike = pa.samples.len() >= 3 && pb.samples.len() >= 3 && wmax <= 1.2 * wmin;
    let side_by_side = g <= 0.375 * wmin && anti <= 20f32.to_radians() && measured_alike;
    if (ta > max_ang || tb > max_ang) && !side_by_side {
        return Err("towards");
    }
    // Beyond the gap limit only a collinear pair of measured pieces of like
    // widths (within 1.2) links: a chance alignment of unrelated ends grows
    // with the gap and with the angles allowed.
    if g > gap_lim
        && (anti.max(ta).max(tb) > max_ang / COLLINEAR_GAP_FACTOR.powi(2) || !measured_alike)
    {
        return Err("gap");
    }
    // A clipped piece's end direction is not its shaft's: only the other
    // piece's line tells the offset (`lat_b` is `ea`'s from `eb`'s line).
    let lat = match (pa.clipped(), pb.clipped()) {
        (true, false) => lat_b,
        (false, true) => lat_a,
        _ => lat_a.max(lat_b),
    };
    if lat > (0.6 * wmax).max(3.0) + 0.15 * g {
        return Err("lateral");
    }
    if wmax - wmin > (params.max_join_width_ratio as f32 - 1.0) * wmax + 1.5 {
        return Err("width");
    }
    Ok(anti + ta + tb + 0.5 * (wmax - wmin) / wmax + 0.3 * g / gap_lim)
}

/// Links the geometry refuses but the image may confirm
/// ([`bridge_evidence`]): between free ends of measured pieces (≥ 3 width
/// samples each) of like widths (within 1.2) and depths (within
/// [`BRIDGE_DEPTH_RATIO`]), either across up to this factor times the gap
/// limit with the end directions and the line between the ends all within
/// [`BRIDGE_MAX_DEG`], or side by side (within [`BRIDGE_SIDE_WIDTHS`] of the
/// narrower width, or overlapping on one line up to
/// [`BRIDGE_OVERLAP_WIDTHS`], the pieces parallel within [`BRIDGE_MAX_DEG`]).
const BRIDGE_GAP_FACTOR: f32 = 3.0;
/// The angle limit of an image-verified link (degrees).
const BRIDGE_MAX_DEG: f32 = 25.0;
/// Ends side by side: their distance in the narrower piece's widths.
const BRIDGE_SIDE_WIDTHS: f32 = 0.75;
/// The depths of the two pieces of an image-verified link agree within
/// this factor.
const BRIDGE_DEPTH_RATIO: f32 = 1.3;
/// A bridge sample is dark when its centre's absorbance (against the skin
/// beside the bridge) is at least this share of the pair's depth.
const BRIDGE_DARK: f32 = 0.6;
/// A bridge sample is centred when its darkest value within half a width
/// of the bridge is at most this share of the pair's contrast brighter
/// than its darkest within 1.5 widths (a neighbour's edge is not).
const BRIDGE_CENTRE_TOL: f32 = 0.25;
/// The share of bridge samples that may fail (rounded down), of those
/// counted ([`bridge_detail`]).
const BRIDGE_MISS: f32 = 0.1;
/// A bridge sample with a hair this many times the pair's depth dark
/// within 1.5 widths lies beside or under a darker hair
/// ([`bridge_detail`]).
const BRIDGE_OCCLUDED: f32 = 2.0;
/// The pair's own dip in the centre window of a sample beside a darker
/// hair, in the pair's contrast ([`bridge_detail`]).
const BRIDGE_DIP: f32 = 0.1;
/// The longest bridge from a stub's end ([`EndShape`]), in the shafts'
/// mean widths: in a hair mat a long bridge runs over hair all along
/// (dense scene, 3.5 µm/px: the stub links on two shafts bridged 16–22
/// widths, those on one 4–17).
const BRIDGE_STUB_GAP_WIDTHS: f32 = 15.0;
/// Ends overlapping on one line (each behind the other, within half the
/// narrower width of the other's line) link as side by side up to this
/// many of the narrower width apart.
const BRIDGE_OVERLAP_WIDTHS: f32 = 2.5;

/// What the second join pass knows of a free end's shaft: its piece's
/// median width and depth when the piece is measured (≥ 3 width samples;
/// the first pass's chain may carry another shaft too), else those of the
/// width samples of the whole chain the first pass made of the piece,
/// pooled: the end piece of a shaft split at a crossing is often a stub of
/// a few px, unmeasured or widened by the other hair, while its chain is
/// measured.
#[derive(Clone, Copy)]
struct EndShape {
    /// Median sampled width (full px).
    width: f32,
    /// Median sampled depth (absorbance).
    depth: f32,
    /// Width samples behind the figures.
    samples: usize,
    /// The figures are the chain's (the piece has under 3 samples).
    stub: bool,
}

/// The angle sum of a pair of free ends that may link if the image
/// confirms it ([`BRIDGE_GAP_FACTOR`]), and whether the ends lie side by
/// side (or overlap on one line); `Err` names the test that refuses it. `sa`, `sb`
/// are the ends' shafts ([`EndShape`]); a stub's end links only across a
/// gap along the end directions of at most [`BRIDGE_STUB_GAP_WIDTHS`], not
/// side by side (there the stub's direction is its only evidence, and it
/// joined two shafts as often as one).
fn bridge_gate(
    ea: &End,
    eb: &End,
    sa: &EndShape,
    sb: &EndShape,
    max_gap: f32,
) -> Result<(f32, bool), &'static str> {
    if ea.piece == eb.piece {
        return Err("same piece");
    }
    if sa.samples < 3 || sb.samples < 3 {
        return Err("samples");
    }
    let (wmax, wmin) = (sa.width.max(sb.width), sa.width.min(sb.width));
    let (dmax, dmin) = (sa.depth.max(sb.depth), sa.depth.min(sb.depth));
    // `max` / `min` pass over a NaN: an end whose width is not finite (a
    // stub's chain pooled from no valid sample) never links.
    if !(sa.width.is_finite() && sb.width.is_finite()) || wmax > 1.2 * wmin {
        return Err("width");
    }
    if dmin.is_nan() || dmin <= 0.0 || dmax > BRIDGE_DEPTH_RATIO * dmin {
        return Err("depth");
    }
    let gap_lim = max_gap.max(2.0 * wmax + 6.0);
    let v = [eb.p[0] - ea.p[0], eb.p[1] - ea.p[1]];
    let g = (v[0] * v[0] + v[1] * v[1]).sqrt();
    let lim = BRIDGE_MAX_DEG.to_radians();
    let anti = angle(ea.d, [-eb.d[0], -eb.d[1]]);
    if g > BRIDGE_GAP_FACTOR * gap_lim {
        return Err("gap");
    }
    if anti > lim {
        return Err("angle");
    }
    let stub = sa.stub || sb.stub;
    let side = if g <= BRIDGE_SIDE_WIDTHS * wmin {
        true
    } else {
        // Ends overlapping on one line: each behind the other, within half
        // the narrower width of the other's line.
        let lat_a = (v[0] * ea.d[1] - v[1] * ea.d[0]).abs();
        let lat_b = (v[0] * eb.d[1] - v[1] * eb.d[0]).abs();
        let behind = v[0] * ea.d[0] + v[1] * ea.d[1] < 0.0 && v[0] * eb.d[0] + v[1] * eb.d[1] > 0.0;
        behind && lat_a.max(lat_b) <= 0.5 * wmin && g <= BRIDGE_OVERLAP_WIDTHS * wmin
    };
    if side {
        return if stub {
            Err("stub side")
        } else {
            Ok((anti, true))
        };
    }
    if stub && g > BRIDGE_STUB_GAP_WIDTHS * 0.5 * (wmin + wmax) {
        return Err("stub gap");
    }
    let u = [v[0] / g, v[1] / g];
    let (ta, tb) = (angle(ea.d, u), angle(eb.d, [-u[0], -u[1]]));
    if ta <= lim && tb <= lim {
        Ok((anti + ta + tb, false))
    } else {
        Err("towards")
    }
}

/// Whether the image shows a shaft along the bridge [`assemble`] would
/// draw between two ends (their shafts' mean width `w` and depth,
/// [`EndShape`]): at
/// samples half a width apart the profile across the bridge is read
/// ([`profile::Intensity::profile`], out to 2.5 widths); the skin level is
/// the upper quartile over the samples of the brighter of the two
/// shoulders (1.5–2.5 widths out). A sample passes when it is dark
/// ([`BRIDGE_DARK`]) and centred ([`BRIDGE_CENTRE_TOL`]): the pair's own
/// shaft or a hair crossing over it (at least as dark) all along, where a
/// wrong pair crosses skin or runs along a neighbour's edge. Ends side by
/// side (`side`, [`bridge_gate`]) are read on the straight line between
/// them, across the pieces' mean direction: there the bridge's own tangent
/// runs across the shaft, so its profile lay along the shaft, its shoulders
/// on the shaft itself, and the one sample (of a bridge under a width long)
/// failed the dark test (`scene_diag` `SPLIT` lines, session 26). A sample
/// beside a much darker hair is centred by its own dip or not counted
/// ([`bridge_detail`]): a light shaft's split is the darker hair crossing
/// it, whose flank failed the centred test there. Returns the
/// share of counted samples that fail when at most [`BRIDGE_MISS`] do. Every
/// length is in the pieces' widths, so the test does not depend on the
/// pixel grid.
fn bridge_evidence(
    lum: &impl profile::Intensity,
    ea: &End,
    eb: &End,
    sa: &EndShape,
    sb: &EndShape,
    side: bool,
) -> Option<f32> {
    let (miss, n) = bridge_detail(lum, ea, eb, sa, sb, side, None)?;
    (miss as f32 <= (BRIDGE_MISS * n as f32).floor()).then(|| miss as f32 / n as f32)
}

/// The failing and the counted samples of [`bridge_evidence`]'s bridge
/// (`None` without a skin level), with each sample's reading written to `detail`
/// when given (diagnostics, `trace::JoinProbe`): centre / near darkness
/// in the pair's depths, `@` the darkest's offset within 1.5 widths (in
/// widths), `^` the centre window's dip in the pair's depths, and a mark:
/// `b` read beside a darker hair, `o` not counted, `D` not dark, `C` not
/// centred.
///
/// A sample with a hair at least [`BRIDGE_OCCLUDED`] times the pair's
/// depth dark within 1.5 widths (the crossing hair that split the shaft,
/// or one alongside) is read as beside it when its centre is lighter than
/// that hair and the centre window holds the pair's own dip (its darkest
/// inside the window, [`BRIDGE_DIP`] of the pair's contrast below both of
/// the window's ends): then it is centred. Otherwise such a sample is not
/// counted (a light shaft's centred test compares its own contrast with
/// the other hair's flank there); at least half the samples must be
/// counted.
#[allow(clippy::too_many_arguments)]
fn bridge_detail(
    lum: &impl profile::Intensity,
    ea: &End,
    eb: &End,
    sa: &EndShape,
    sb: &EndShape,
    side: bool,
    mut detail: Option<&mut String>,
) -> Option<(usize, usize)> {
    let w = 0.5 * (sa.width + sb.width);
    let depth = 0.5 * (sa.depth + sb.depth);
    let v = [eb.p[0] - ea.p[0], eb.p[1] - ea.p[1]];
    let g = (v[0] * v[0] + v[1] * v[1]).sqrt();
    let t1 = [-eb.d[0], -eb.d[1]];
    let n = ((g / (0.5 * w).max(1.0)).ceil() as usize).max(2);
    let du = (w / 8.0).max(0.25);
    let nu = (2.5 * w / du).ceil() as i32;
    let k_centre = (0.5 * w / du).round() as i32;
    let k_near = (1.5 * w / du).round() as i32;
    let mut prof = vec![0.0f32; (2 * nu + 1) as usize];
    let mut shoulder = Vec::with_capacity(2 * (nu - k_near) as usize);
    // Per sample: the darkest within half a width and within 1.5 widths,
    // the brighter shoulder, the offset of the darkest within 1.5 widths
    // (in widths), and the centre window's dip (how much darker its
    // darkest is than both of its ends when it lies inside, else 0).
    let mut read: Vec<(f32, f32, f32, f32, f32)> = Vec::with_capacity(n);
    // Ends side by side: across the pieces' mean direction, on the line
    // between the ends (the bridge's own tangent there runs across the
    // shaft, and its profile along it).
    let mean_d = {
        let (dx, dy) = (ea.d[0] - eb.d[0], ea.d[1] - eb.d[1]);
        let l = (dx * dx + dy * dy).sqrt().max(1e-6);
        [dx / l, dy / l]
    };
    for k in 1..n {
        let t = k as f32 / n as f32;
        let at = |t: f32| hermite(ea.p, ea.d, eb.p, t1, g, t);
        let (c, tan) = if side {
            ([ea.p[0] + t * v[0], ea.p[1] + t * v[1]], mean_d)
        } else {
            let (a, b) = (at(t - 0.5 / n as f32), at(t + 0.5 / n as f32));
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let l = (dx * dx + dy * dy).sqrt().max(1e-6);
            (at(t), [dx / l, dy / l])
        };
        lum.profile(c, [-tan[1], tan[0]], tan, du, nu, &mut prof);
        let min_within = |r: i32| {
            prof[(nu - r) as usize..=(nu + r) as usize]
                .iter()
                .fold(f32::INFINITY, |m, &x| m.min(x))
        };
        let argmin = |lo: i32, hi: i32| {
            (lo..=hi).fold(lo, |j, k| {
                if prof[(nu + k) as usize] < prof[(nu + j) as usize] {
                    k
                } else {
                    j
                }
            })
        };
        let off = argmin(-k_near, k_near) as f32 * du / w;
        let jc = argmin(-k_centre, k_centre);
        let dip = if jc.abs() < k_centre {
            prof[(nu - k_centre) as usize].min(prof[(nu + k_centre) as usize])
                - prof[(nu + jc) as usize]
        } else {
            0.0
        };
        let side = |s: &mut Vec<f32>, lo: usize, hi: usize| {
            s.clear();
            s.extend_from_slice(&prof[lo..hi]);
            profile::median(s)
        };
        let left = side(&mut shoulder, 0, (nu - k_near) as usize);
        let right = side(&mut shoulder, (nu + k_near + 1) as usize, prof.len());
        read.push((
            min_within(k_centre),
            min_within(k_near),
            left.max(right),
            off,
            dip,
        ));
    }
    let mut skins: Vec<f32> = read.iter().map(|r| r.2).collect();
    skins.sort_by(f32::total_cmp);
    let skin = profile::quantile_sorted(&skins, 0.75);
    if skin.is_nan() || skin <= 0.0 {
        return None;
    }
    let (mut miss, mut counted) = (0, 0);
    for &(centre, near, _, off, dip) in &read {
        let darker_near = 1.0 - near / skin >= BRIDGE_OCCLUDED * depth;
        let beside = darker_near
            && 1.0 - centre / skin < BRIDGE_OCCLUDED * depth
            && dip >= BRIDGE_DIP * depth * skin;
        let dark = 1.0 - centre / skin >= BRIDGE_DARK * depth;
        let centred = centre <= near + BRIDGE_CENTRE_TOL * depth * skin || beside;
        let counts = !darker_near || beside;
        if let Some(d) = detail.as_deref_mut() {
            use std::fmt::Write;
            let mark = match (beside && dark, counts, dark, centred) {
                (true, ..) => "b",
                (_, false, ..) => "o",
                (_, _, false, _) => "D",
                (_, _, _, false) => "C",
                _ => "",
            };
            let _ = write!(
                d,
                " {:.2}/{:.2}@{off:+.1}^{:.2}{mark}",
                (1.0 - centre / skin) / depth,
                (1.0 - near / skin) / depth,
                dip / skin / depth,
            );
        }
        if counts {
            counted += 1;
            if !(dark && centred) {
                miss += 1;
            }
        }
    }
    if 2 * counted < read.len() || counted == 0 {
        return Some((read.len(), read.len()));
    }
    Some((miss, counted))
}

/// Join pieces into shafts by direction continuity; then free ends that
/// the image joins ([`bridge_evidence`]).
pub(crate) fn join(
    pieces: &[Piece],
    params: &HairParams,
    upp: f64,
    lum: &impl profile::Intensity,
) -> Vec<Traced> {
    let (ends, mut link, g_all, max_gap) = first_links(pieces, params, upp);
    bridge_links(pieces, &ends, &mut link, g_all, max_gap, lum);
    chains_of(pieces, &ends, &link)
}

/// The first pass of [`join`]: every piece's two ends (piece `i`'s at
/// `2i`, `2i + 1`) and their links by direction continuity
/// ([`link_score`], best first); with the largest gap limit of any pair
/// and `max_join_gap_um` in px.
fn first_links(
    pieces: &[Piece],
    params: &HairParams,
    upp: f64,
) -> (Vec<End>, Vec<Option<usize>>, f32, f32) {
    let (ends, cand, g_all, max_gap) = first_candidates(pieces, params, upp);
    let mut link: Vec<Option<usize>> = vec![None; ends.len()];
    for &(_, a, b) in &cand {
        if link[a].is_none() && link[b].is_none() {
            link[a] = Some(b);
            link[b] = Some(a);
        }
    }
    (ends, link, g_all, max_gap)
}

/// The ends, the scored candidate links (score, end, end; best first),
/// the largest gap limit and `max_join_gap_um` in px of [`first_links`].
type FirstCandidates = (Vec<End>, Vec<(f32, usize, usize)>, f32, f32);

/// The ends and the scored candidate links of [`first_links`], best
/// first; with the largest gap limit and `max_join_gap_um` in px.
fn first_candidates(pieces: &[Piece], params: &HairParams, upp: f64) -> FirstCandidates {
    let ends: Vec<End> = pieces
        .iter()
        .enumerate()
        .flat_map(|(i, p)| [end_of(p, i, 0), end_of(p, i, 1)])
        .collect();
    let max_gap = (params.max_join_gap_um / upp) as f32;
    let max_ang = (params.max_join_angle_deg as f32).to_radians();
    // Candidate links, scored. Only ends closer in x than the largest gap
    // limit can link: a sweep over the ends sorted by x gives those pairs
    // (ends off the finite plane pair with all, as before).
    let g_all = max_gap.max(2.0 * pieces.iter().map(|p| p.width).fold(0.0f32, f32::max) + 6.0);
    let reach = COLLINEAR_GAP_FACTOR * g_all * 1.001 + 1.0;
    let finite = |k: usize| ends[k].p[0].is_finite() && ends[k].p[1].is_finite();
    let mut by_x: Vec<usize> = (0..ends.len()).filter(|&k| finite(k)).collect();
    by_x.sort_by(|&i, &j| ends[i].p[0].total_cmp(&ends[j].p[0]).then(i.cmp(&j)));
    // A pair's score (`None`: the ends cannot link).
    let score = |a: usize, b: usize| -> Option<(f32, usize, usize)> {
        let (ea, eb) = (ends[a], ends[b]);
        if ea.piece == eb.piece {
            return None;
        }
        let (pa, pb) = (&pieces[ea.piece], &pieces[eb.piece]);
        link_score(&ea, &eb, pa, pb, params, max_gap, max_ang)
            .ok()
            .map(|score| (score, a, b))
    };
    // The sweep in parallel over its first ends. A pair farther apart in y
    // than `reach` fails the gap test anyway (its distance is at least
    // that, far beyond rounding), so it is not scored.
    let mut cand: Vec<(f32, usize, usize)> = sweep_pairs(&ends, &by_x, reach, &score);
    for i in (0..ends.len()).filter(|&k| !finite(k)) {
        for j in (0..ends.len()).filter(|&j| j != i && (finite(j) || j > i)) {
            cand.extend(score(i.min(j), i.max(j)));
        }
    }
    cand.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    (ends, cand, g_all, max_gap)
}

/// The chains the links make (from free ends, then leftover cycles),
/// assembled.
fn chains_of(pieces: &[Piece], ends: &[End], link: &[Option<usize>]) -> Vec<Traced> {
    // Walk chains: start at pieces with a free end; then leftover cycles.
    let mut used = vec![false; pieces.len()];
    let mut chains: Vec<Vec<(usize, bool)>> = Vec::new();
    let mut starts: Vec<(usize, usize)> = Vec::new();
    for (k, e) in ends.iter().enumerate() {
        if link[k].is_none() {
            starts.push((e.piece, e.which));
        }
    }
    for p in 0..pieces.len() {
        starts.push((p, 0));
    }
    for (p0, w0) in starts {
        if used[p0] {
            continue;
        }
        let mut chain: Vec<(usize, bool)> = Vec::new(); // (piece, reversed)
        let (mut p, mut entry) = (p0, w0);
        loop {
            used[p] = true;
            chain.push((p, entry == 1));
            let exit_end = 2 * p + (1 - entry);
            match link[exit_end] {
                Some(nb) if !used[ends[nb].piece] => {
                    p = ends[nb].piece;
                    entry = ends[nb].which;
                }
                _ => break,
            }
        }
        chains.push(chain);
    }
    // The shafts assembled in parallel (in chain order).
    chains.par_iter().map(|c| assemble(pieces, c)).collect()
}

/// The pairs of ends `by_x` lists (sorted by x, then index) that lie
/// within `reach` of each other in x and in y, each scored in parallel by
/// `score(a, b)` with `a < b` (`None`: the ends cannot link). The pairs come
/// in no particular order (the callers sort them by a total order).
///
/// The ends are kept in horizontal strips `reach / 2` high, each sorted as
/// `by_x`; an end is paired with the ends after it in `by_x` order, within
/// `reach` in x, of the strips its `±reach` reaches (one strip more each
/// side, far beyond rounding), then filtered on y as before: the same pairs
/// as the plain sweep over `by_x`, which went through every end within
/// `reach` in x whatever its y. Session 25 (branch `hspeed25`): at
/// 3.5 µm/px (12 MP bench, callgrind, AVX2 copy) the two sweeps of `join`
/// scanned about 5 M pairs within `reach` in x per call (42 M instructions)
/// to score those within `reach` in y, about a tenth; the hair stage now
/// runs 33 M instructions fewer per call, with the same output (fingerprint
/// 61993be7e9183f96).
fn sweep_pairs<T: Send>(
    ends: &[End],
    by_x: &[usize],
    reach: f32,
    score: &(impl Fn(usize, usize) -> Option<T> + Sync),
) -> Vec<T> {
    let Some(y_min) = by_x.iter().map(|&i| ends[i].p[1]).min_by(f32::total_cmp) else {
        return Vec::new();
    };
    let strip_h = (0.5 * reach).max(1.0);
    // The saturating conversion is the floor from 0 up (below: strip 0).
    let strip_of = |y: f32| ((y - y_min) / strip_h) as usize;
    let n_strips = by_x
        .iter()
        .map(|&i| strip_of(ends[i].p[1]))
        .max()
        .unwrap_or(0)
        + 1;
    // Each strip's ends with their rank in `by_x` (so in `by_x` order).
    let mut strips: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_strips];
    for (rank, &i) in by_x.iter().enumerate() {
        strips[strip_of(ends[i].p[1])].push((rank, i));
    }
    let strips = &strips;
    by_x.par_iter()
        .enumerate()
        .flat_map_iter(move |(s, &i)| {
            let (xi, yi) = (ends[i].p[0], ends[i].p[1]);
            let lo = strip_of(yi - reach).saturating_sub(1);
            let hi = strip_of(yi + reach).saturating_add(1).min(n_strips - 1);
            strips[lo..=hi].iter().flat_map(move |strip| {
                let from = strip.partition_point(|&(rank, _)| rank <= s);
                strip[from..]
                    .iter()
                    .take_while(move |&&(_, j)| ends[j].p[0] - xi <= reach)
                    .filter(move |&&(_, j)| (ends[j].p[1] - yi).abs() <= reach)
                    .filter_map(move |&(_, j)| score(i.min(j), i.max(j)))
            })
        })
        .collect()
}

/// Union-find root of piece `x` (path halving).
fn find(root: &mut [usize], mut x: usize) -> usize {
    while root[x] != x {
        root[x] = root[root[x]];
        x = root[x];
    }
    x
}

/// The chains `link` makes (the first pass's), as union-find roots of the
/// pieces, and each piece's ends' shaft ([`EndShape`]; a stub's chain may
/// pool no sample: its width is then NaN).
fn end_shapes(
    pieces: &[Piece],
    ends: &[End],
    link: &[Option<usize>],
) -> (Vec<usize>, Vec<Option<EndShape>>) {
    // The chains the first pass made, as sets of pieces.
    let mut root: Vec<usize> = (0..pieces.len()).collect();
    for k in 0..ends.len() {
        if let Some(m) = link[k] {
            let (a, b) = (
                find(&mut root, ends[k].piece),
                find(&mut root, ends[m].piece),
            );
            root[a] = b;
        }
    }
    // Each free end's shaft ([`EndShape`]): its piece's figures, or its
    // chain's pooled samples for a stub (pooled once per chain).
    let measured = |p: usize| pieces[p].samples.len() >= 3;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); pieces.len()];
    for p in 0..pieces.len() {
        let r = find(&mut root, p);
        members[r].push(p);
    }
    let pooled: Vec<Option<EndShape>> = members
        .iter()
        .map(|m| {
            if m.iter().all(|&p| measured(p)) {
                return None;
            }
            let samples = || m.iter().flat_map(|&p| &pieces[p].samples);
            let mut wv: Vec<f32> = samples().map(|s| s.width_px).collect();
            let mut dv: Vec<f32> = samples()
                .map(|s| s.depth)
                .filter(|d| d.is_finite())
                .collect();
            Some(EndShape {
                samples: wv.len(),
                width: profile::median(&mut wv),
                depth: profile::median(&mut dv),
                stub: true,
            })
        })
        .collect();
    let shape_of: Vec<Option<EndShape>> = (0..pieces.len())
        .map(|p| {
            let pc = &pieces[p];
            if measured(p) {
                Some(EndShape {
                    width: pc.width,
                    depth: pc.depth,
                    samples: pc.samples.len(),
                    stub: false,
                })
            } else {
                pooled[find(&mut root, p)]
            }
        })
        .collect();
    (root, shape_of)
}

/// The ends as the second pass of [`join`] reads them: the end of a stub
/// too short to show a direction (a piece with under 3 width samples,
/// shorter than its width: a fragment left between cuts at a crossing)
/// points as the end its other end is linked to (the direction its chain
/// arrives with); every other end as [`end_of`] has it.
fn chain_directed(pieces: &[Piece], ends: &[End], link: &[Option<usize>]) -> Vec<End> {
    ends.iter()
        .enumerate()
        .map(|(k, e)| {
            let pc = &pieces[e.piece];
            let short = || {
                let len = profile::arc_lengths(&pc.pts).last().copied().unwrap_or(0.0);
                len < pc.width
            };
            match link[k ^ 1] {
                Some(m) if pc.samples.len() < 3 && short() => End { d: ends[m].d, ..*e },
                _ => *e,
            }
        })
        .collect()
}

/// The second pass of [`join`]: pairs of free ends that pass
/// [`bridge_gate`] and [`bridge_evidence`] (each end's shaft as
/// [`EndShape`] has it), best evidence first (then the smaller angle sum),
/// linked unless either end is taken or the link would close a chain on
/// itself.
fn bridge_links(
    pieces: &[Piece],
    ends: &[End],
    link: &mut [Option<usize>],
    g_all: f32,
    max_gap: f32,
    lum: &impl profile::Intensity,
) {
    let (mut root, cand) = bridge_candidates(pieces, ends, link, g_all, max_gap, lum);
    for &(_, _, a, b) in &cand {
        let (ra, rb) = (
            find(&mut root, ends[a].piece),
            find(&mut root, ends[b].piece),
        );
        if link[a].is_none() && link[b].is_none() && ra != rb {
            link[a] = Some(b);
            link[b] = Some(a);
            root[ra] = rb;
        }
    }
}

/// Union-find roots of the first pass's chains and the bridge candidates
/// (failing share, angle sum, end, end; best first) of [`bridge_links`].
type BridgeCandidates = (Vec<usize>, Vec<(f32, f32, usize, usize)>);

/// The candidate links of [`bridge_links`] (failing share of the bridge
/// samples, angle sum, ends), best first, and the first pass's chains as
/// union-find roots.
fn bridge_candidates(
    pieces: &[Piece],
    ends: &[End],
    link: &[Option<usize>],
    g_all: f32,
    max_gap: f32,
    lum: &impl profile::Intensity,
) -> BridgeCandidates {
    let (root, shape_of) = end_shapes(pieces, ends, link);
    let ends = &chain_directed(pieces, ends, link);
    let reach = BRIDGE_GAP_FACTOR * g_all * 1.001 + 1.0;
    let free = |k: usize| link[k].is_none() && ends[k].p[0].is_finite() && ends[k].p[1].is_finite();
    let mut by_x: Vec<usize> = (0..ends.len()).filter(|&k| free(k)).collect();
    by_x.sort_by(|&i, &j| ends[i].p[0].total_cmp(&ends[j].p[0]).then(i.cmp(&j)));
    let mut cand: Vec<(f32, f32, usize, usize)> = sweep_pairs(ends, &by_x, reach, &|a, b| {
        let (ea, eb) = (&ends[a], &ends[b]);
        let (sa, sb) = (shape_of[ea.piece].as_ref()?, shape_of[eb.piece].as_ref()?);
        let (ang, side) = bridge_gate(ea, eb, sa, sb, max_gap).ok()?;
        let miss = bridge_evidence(lum, ea, eb, sa, sb, side)?;
        Some((miss, ang, a, b))
    });
    cand.sort_by(|x, y| {
        x.0.total_cmp(&y.0)
            .then(x.1.total_cmp(&y.1))
            .then(x.2.cmp(&y.2))
            .then(x.3.cmp(&y.3))
    });
    (root, cand)
}

/// Diagnostics (`pair_diag::scene_diag`'s `SCENE_CROSS`): the state of
/// [`join`] after its first pass, to ask why two ends were not bridged.
#[cfg(test)]
pub(super) struct JoinProbe {
    ends: Vec<End>,
    first: Vec<Option<usize>>,
    shapes: Vec<Option<EndShape>>,
    max_gap: f32,
}

#[cfg(test)]
impl JoinProbe {
    pub(super) fn new(pieces: &[Piece], params: &HairParams, upp: f64) -> JoinProbe {
        let (ends, first, _, max_gap) = first_links(pieces, params, upp);
        let (_, shapes) = end_shapes(pieces, &ends, &first);
        let ends = chain_directed(pieces, &ends, &first);
        JoinProbe {
            ends,
            first,
            shapes,
            max_gap,
        }
    }

    /// End `which` of piece `a` against end `which` of piece `b`: each
    /// end's first-pass partner piece, its shaft ([`EndShape`]: width,
    /// depth, samples, `s` for a stub), the gap in mean widths, the
    /// [`bridge_gate`] verdict and the bridge's failing samples of those
    /// counted, with each sample's reading ([`bridge_detail`], whatever
    /// the gate says).
    pub(super) fn why(
        &self,
        lum: &impl profile::Intensity,
        a: (usize, usize),
        b: (usize, usize),
    ) -> String {
        let (ka, kb) = (2 * a.0 + a.1, 2 * b.0 + b.1);
        let (ea, eb) = (&self.ends[ka], &self.ends[kb]);
        let partner = |k: usize| self.first[k].map(|m| self.ends[m].piece);
        let shape = |s: &Option<EndShape>| match s {
            Some(s) => format!(
                "w{:.1} d{:.2} n{}{}",
                s.width,
                s.depth,
                s.samples,
                if s.stub { "s" } else { "" }
            ),
            None => "-".into(),
        };
        let (sa, sb) = (&self.shapes[a.0], &self.shapes[b.0]);
        let g = (eb.p[0] - ea.p[0]).hypot(eb.p[1] - ea.p[1]);
        let (gate, miss) = match (sa, sb) {
            (Some(sa), Some(sb)) => {
                let r = bridge_gate(ea, eb, sa, sb, self.max_gap);
                let side = r.is_ok_and(|x| x.1);
                (
                    match r {
                        Ok((x, side)) => format!(
                            "ok {:.0}{}",
                            x.to_degrees(),
                            if side { " side" } else { "" }
                        ),
                        Err(e) => e.to_string(),
                    },
                    {
                        let mut d = String::new();
                        match bridge_detail(lum, ea, eb, sa, sb, side, Some(&mut d)) {
                            Some((m, n)) => format!("{m}/{n} [{d} ]"),
                            None => "-".into(),
                        }
                    },
                )
            }
            _ => ("no shape".into(), "-".into()),
        };
        let wm = match (sa, sb) {
            (Some(sa), Some(sb)) => 0.5 * (sa.width + sb.width),
            _ => f32::NAN,
        };
        format!(
            "first {:?}/{:?} shape [{}]/[{}] g/w {:.1} gate {gate} miss {miss}",
            partner(ka),
            partner(kb),
            shape(sa),
            shape(sb),
            g / wm
        )
    }
}

/// Diagnostics (`pair_diag::mix_diag`): every candidate link of both
/// passes of [`join`] and the links taken, as [`join`] makes them.
#[cfg(test)]
pub(super) struct JoinLog {
    pub(super) ends: Vec<End>,
    /// First-pass candidates (score, end, end), best first.
    pub(super) first_cand: Vec<(f32, usize, usize)>,
    /// The first pass's links.
    pub(super) first: Vec<Option<usize>>,
    /// Bridge candidates (failing share, angle sum, end, end), best first.
    pub(super) bridge_cand: Vec<(f32, f32, usize, usize)>,
    /// The final links.
    pub(super) link: Vec<Option<usize>>,
    pub(super) max_gap: f32,
}

#[cfg(test)]
impl JoinLog {
    pub(super) fn new(
        pieces: &[Piece],
        params: &HairParams,
        upp: f64,
        lum: &impl profile::Intensity,
    ) -> JoinLog {
        let (ends, first_cand, g_all, max_gap) = first_candidates(pieces, params, upp);
        let (_, first, _, _) = first_links(pieces, params, upp);
        let (_, bridge_cand) = bridge_candidates(pieces, &ends, &first, g_all, max_gap, lum);
        let mut link = first.clone();
        bridge_links(pieces, &ends, &mut link, g_all, max_gap, lum);
        JoinLog {
            ends,
            first_cand,
            first,
            bridge_cand,
            link,
            max_gap,
        }
    }
}

/// The point at `t` (0..1) of the cubic Hermite curve from `p0` leaving
/// along `t0` to `p1` arriving along `t1` (unit directions), its tangents
/// scaled by `g` (the chord): the bridge [`assemble`] draws across a gap,
/// and the one [`bridge_evidence`] reads.
fn hermite(p0: [f32; 2], t0: [f32; 2], p1: [f32; 2], t1: [f32; 2], g: f32, t: f32) -> [f32; 2] {
    let (t2, t3) = (t * t, t * t * t);
    let h00 = 2.0 * t3 - 3.0 * t2 + 1.0;
    let h10 = t3 - 2.0 * t2 + t;
    let h01 = -2.0 * t3 + 3.0 * t2;
    let h11 = t3 - t2;
    [
        h00 * p0[0] + h10 * g * t0[0] + h01 * p1[0] + h11 * g * t1[0],
        h00 * p0[1] + h10 * g * t0[1] + h01 * p1[1] + h11 * g * t1[1],
    ]
}

/// One shaft from a chain of pieces `(piece, reversed)`, in order: their
/// centrelines with the gaps bridged by a Hermite curve along both end
/// directions, their width samples on one arc length.
pub(crate) fn assemble(pieces: &[Piece], chain: &[(usize, bool)]) -> Traced {
    let mut pts = Vec::new();
    let mut samples = Vec::new();
    let mut arc0 = 0.0f32;
    let tangent = |v: &[[f32; 2]], from_end: bool| -> [f32; 2] {
        let n = v.len();
        let k = n.min(8);
        let (a, b) = if from_end {
            (v[n - k], v[n - 1])
        } else {
            (v[0], v[k - 1])
        };
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let l = (dx * dx + dy * dy).sqrt().max(1e-6);
        [dx / l, dy / l]
    };
    for &(pi, rev) in chain {
        let pc = &pieces[pi];
        let mut q = pc.pts.clone();
        let len = *profile::arc_lengths(&q).last().unwrap_or(&0.0);
        if rev {
            q.reverse();
        }
        // Where this piece starts beside or behind the end of the shaft so
        // far (ends side by side, `link_score`, or a hooked end), its
        // points behind that end are cut: the overlap is counted once.
        let mut trim = 0.0f32;
        if let (Some(&last), true) = (pts.last(), pts.len() >= 2) {
            let t0 = tangent(&pts, true);
            let behind = |p: &[f32; 2]| (p[0] - last[0]) * t0[0] + (p[1] - last[1]) * t0[1] < 0.0;
            let k = q
                .iter()
                .take(q.len().saturating_sub(2))
                .take_while(|p| behind(p))
                .count();
            if k > 0 {
                trim = profile::arc_lengths(&q)[k];
                q.drain(..k);
            }
        }
        if let Some(&last) = pts.last() {
            let first: [f32; 2] = q[0];
            let last: [f32; 2] = last;
            let g = ((first[0] - last[0]).powi(2) + (first[1] - last[1]).powi(2)).sqrt();
            // Bridge the gap (a crossing or a faint stretch) with a cubic
            // Hermite curve along both end directions, one point per px:
            // the centreline of the shaft runs on across the other hair.
            if g > 1.5 && q.len() >= 2 && pts.len() >= 2 {
                let (t0, t1) = (tangent(&pts, true), tangent(&q, false));
                let m = g.ceil() as usize;
                for i in 1..m {
                    pts.push(hermite(last, t0, first, t1, g, i as f32 / m as f32));
                }
            }
            arc0 += g;
        }
        for s in &pc.samples {
            let mut s = *s;
            let along = if rev { len - s.arc_px } else { s.arc_px };
            if along < trim {
                continue;
            }
            s.arc_px = arc0 + along - trim;
            samples.push(s);
        }
        arc0 += len - trim;
        pts.extend(q);
    }
    let mut dv: Vec<f32> = samples.iter().map(|s| s.depth).collect();
    // Without samples: the length-weighted guess of the pieces (their
    // frame halves' estimates where they have them).
    let frame_halves: usize = chain.iter().map(|&(pi, _)| pieces[pi].frame.good).sum();
    let or_frame = |p: &Piece, v: f32, f: f32| if p.frame.good > 0 { f } else { v };
    let width = if let Some(w) = profile::shaft_width(&samples) {
        w
    } else {
        let mut ws: Vec<f32> = chain
            .iter()
            .map(|&(pi, _)| or_frame(&pieces[pi], pieces[pi].width, pieces[pi].frame.width_px))
            .collect();
        profile::median(&mut ws)
    };
    let depth = if dv.is_empty() {
        let mut ds: Vec<f32> = chain
            .iter()
            .map(|&(pi, _)| or_frame(&pieces[pi], pieces[pi].depth, pieces[pi].frame.depth))
            .filter(|d| d.is_finite())
            .collect();
        profile::median(&mut ds)
    } else {
        profile::median(&mut dv)
    };
    Traced {
        pts,
        samples,
        width,
        depth,
        n_pieces: chain.len(),
        piece_ids: chain.iter().map(|&(pi, _)| pi).collect(),
        chain: chain.to_vec(),
        attempts: chain.iter().map(|&(pi, _)| pieces[pi].attempts).sum(),
        profiled_px: chain.iter().map(|&(pi, _)| pieces[pi].profiled_px).sum(),
        frame_halves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::StageInput;
    use crate::color::LinearRgb;

    /// Uniform numbers in [0, 1) from a 64-bit linear congruential
    /// generator (test data).
    /// [`shoulder_hits`] against the probes one by one (as `nms` read
    /// them before): random pixels, normals (NaN and huge among them),
    /// blocks and reaches far past the plane.
    #[test]
    fn shoulder_hits_equal_the_probes_one_by_one() {
        let (w, h) = (37usize, 23usize);
        let mut rnd = lcg(4242);
        let s: Vec<f32> = (0..w * h).map(|_| rnd()).collect();
        let scale: Vec<f32> = (0..w * h).map(|_| 1.0 + 9.0 * rnd()).collect();
        let mut set = 0;
        for case in 0..20_000 {
            let (x, y) = ((rnd() * w as f32).floor(), (rnd() * h as f32).floor());
            let th = rnd() * 7.0 - 3.5;
            let (nx, ny) = match case % 50 {
                0 => (f32::NAN, 0.5),
                1 => (3e9, -2e9),
                _ => (-th.sin(), th.cos()),
            };
            let k0 = 1 + 16 * (case % 3);
            let reach = (rnd() * 60.0) as i32;
            let smax = 1.0 + 40.0 * rnd();
            let (v, sp) = (rnd(), 0.5 + 3.0 * rnd());
            let mut want = 0u32;
            for d in 0..SHOULDER_K {
                let k = k0 + d as i32;
                if k > reach || k as f32 >= 1.1 * smax {
                    break;
                }
                for (e, sign) in [-1.0f32, 1.0].into_iter().enumerate() {
                    let (qx, qy) = (x + sign * k as f32 * nx, y + sign * k as f32 * ny);
                    let (xi, yi) = (round_i64(qx), round_i64(qy));
                    let inside = (xi >= 0) & (yi >= 0) & (xi < w as i64) & (yi < h as i64);
                    let j = if inside {
                        yi as usize * w + xi as usize
                    } else {
                        0
                    };
                    let (sj, sq) = (s[j], scale[j]);
                    let hit = inside & (sj > v) & (sq > 1.4 * sp) & ((k as f32) < 1.1 * sq);
                    want |= (hit as u32) << (2 * d + e);
                }
            }
            let got = shoulder_hits(
                [&s, &scale],
                [w, h],
                [[x, y], [nx, ny]],
                [k0, reach],
                [smax, v, sp],
            );
            assert_eq!(got, want, "case {case}");
            set += want.count_ones();
        }
        assert!(set > 1000, "{set}");
    }

    fn lcg(mut seed: u64) -> impl FnMut() -> f32 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    /// The quick across-the-ridge test gives the exact test's answer
    /// whenever it answers, on rough planes, plateaus (ties) and every
    /// angle, including the ends of the range; and it answers most pixels
    /// (here 69 %: ties, borders; 99.6 % of the mask on the 12 MP phantom).
    #[test]
    fn quick_across_agrees_with_the_exact_test() {
        let (w, h) = (97, 61);
        let mut rnd = lcg(12345);
        let mut data: Vec<f32> = (0..w * h).map(|_| rnd()).collect();
        // A plateau (ties) and a smooth ridge.
        for y in 10..20 {
            for x in 10..40 {
                data[y * w + x] = 0.5;
            }
        }
        for y in 30..60 {
            for x in 0..w {
                data[y * w + x] = (-((x as f32 - 48.3) / 4.0).powi(2)).exp() * 3.0;
            }
        }
        let s = crate::image::Plane::from_vec(w, h, data);
        let tol = 2.0 * ulp_f32(w.max(h) as f32) + 1e-5;
        let (mut answered, mut total) = (0, 0);
        for y in 0..h {
            for x in 0..w {
                for th in [
                    rnd() * std::f32::consts::PI - std::f32::consts::FRAC_PI_2,
                    std::f32::consts::FRAC_PI_2,
                    -std::f32::consts::FRAC_PI_2 + 1e-7,
                    0.0,
                    -0.0,
                    std::f32::consts::FRAC_PI_4,
                ] {
                    let (nx, ny) = (-th.sin(), th.cos());
                    let (xf, yf) = (x as f32, y as f32);
                    let a = sample_bilinear(&s, xf + nx, yf + ny);
                    let b = sample_bilinear(&s, xf - nx, yf - ny);
                    let v = s.data[y * w + x];
                    let exact = v >= a && v > b;
                    total += 1;
                    if let Some(q) = quick_across(&s, x, y, th, tol) {
                        answered += 1;
                        assert_eq!(q, exact, "({x}, {y}) θ {th}");
                    }
                }
            }
        }
        assert!(answered * 2 > total, "{answered} of {total}");
    }

    /// The row form of the quick test answers exactly as [`quick_across`]
    /// at every pixel: random and special angles (the range's ends, beyond
    /// it, NaN), plateaus, non-finite strengths, the borders.
    #[test]
    fn quick_across_rows_equal_the_pixel_test() {
        let (w, h) = (83, 41);
        let mut rnd = lcg(777);
        let mut data: Vec<f32> = (0..w * h).map(|_| rnd()).collect();
        for y in 5..15 {
            for x in 10..30 {
                data[y * w + x] = 0.25;
            }
        }
        data[20 * w + 40] = f32::NAN;
        data[22 * w + 50] = f32::INFINITY;
        let special = [
            std::f32::consts::FRAC_PI_2,
            -std::f32::consts::FRAC_PI_2,
            std::f32::consts::FRAC_PI_2 + 2e-4,
            0.0,
            -0.0,
            f32::NAN,
        ];
        let dir: Vec<f32> = (0..w * h)
            .map(|i| {
                if i % 7 == 0 {
                    special[(i / 7) % special.len()]
                } else {
                    rnd() * std::f32::consts::PI - std::f32::consts::FRAC_PI_2
                }
            })
            .collect();
        let s = crate::image::Plane::from_vec(w, h, data);
        let dir = crate::image::Plane::from_vec(w, h, dir);
        let tol = 2.0 * ulp_f32(w.max(h) as f32) + 1e-5;
        let mut codes = Vec::new();
        let mut answered = 0;
        let all = vec![true; w];
        // A mask of single pixels and runs (runs without one are skipped).
        let some: Vec<bool> = (0..w)
            .map(|x| x % 37 == 5 || (50..54).contains(&x))
            .collect();
        for y in 0..h {
            quick_across_codes(&s, &dir, y, &all, tol, &mut codes);
            assert_eq!(codes.len(), w);
            for (x, &c) in codes.iter().enumerate() {
                let want = quick_across(&s, x, y, dir.data[y * w + x], tol);
                assert_eq!(decode_quick(c), want, "({x}, {y})");
                answered += want.is_some() as usize;
            }
            let all_codes = codes.clone();
            quick_across_codes(&s, &dir, y, &some, tol, &mut codes);
            for x in (0..w).filter(|&x| some[x]) {
                assert_eq!(codes[x], all_codes[x], "({x}, {y})");
            }
        }
        assert!(answered * 2 > w * h, "{answered}");
    }

    fn bar_image(w: usize, h: usize, cx: f32, width: f32) -> LinearRgb {
        let mut r = vec![0.4f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (l, rr) = (x as f32 - 0.5, x as f32 + 0.5);
                let cov = (rr.min(cx + width / 2.0) - l.max(cx - width / 2.0)).clamp(0.0, 1.0);
                r[y * w + x] = 0.4 * (1.0 - 0.9 * cov);
            }
        }
        LinearRgb {
            width: w,
            height: h,
            r: r.clone(),
            g: r.clone(),
            b: r,
            is_colour: true,
        }
    }

    #[test]
    fn centreline_of_a_wide_bar_is_central() {
        for width in [4.0f32, 9.0, 17.0, 26.0] {
            let rgb = bar_image(160, 120, 80.3, width);
            let valid = Mask::filled(160, 120, true);
            let input = StageInput {
                rgb: &rgb,
                um_per_px: 3.5,
                valid: &valid,
            };
            let params = HairParams::default();
            let det = super::super::detect::detect(&input, &params, &mut Default::default());
            let (pieces, _) = pieces(&det, &params, 3.5);
            assert_eq!(pieces.len(), 1, "width {width}: {} pieces", pieces.len());
            let xs: Vec<f32> = pieces[0].pts.iter().map(|p| p[0]).collect();
            let mean = xs.iter().sum::<f32>() / xs.len() as f32;
            assert!((mean - 80.3).abs() < 1.0, "width {width}: centre {mean}");
            assert!(
                (pieces[0].width - width).abs() < 0.3,
                "width {width}: {}",
                pieces[0].width
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod diag {
    use super::*;
    use crate::analysis::StageInput;
    use crate::color::{linear_to_srgb, to_linear};
    use crate::image::{Image, Plane, Samples};
    use crate::kernels::{dilate, gaussian_blur, label_with};
    use crate::synth::hairs::{paint_hairs, HairSceneSpec, HairTruth};
    use crate::synth::{skin, Rng, SceneSpec};

    pub(crate) fn render(
        w: usize,
        h: usize,
        upp: f64,
        seed: u64,
        hs: &HairSceneSpec,
    ) -> (crate::color::LinearRgb, HairTruth) {
        let spec = SceneSpec {
            width: w,
            height: h,
            um_per_px: upp,
            seed,
            ..SceneSpec::default()
        };
        let rng = Rng::new(seed);
        let mut c = skin::paint_skin(&spec, &mut rng.fork(1));
        let truth = paint_hairs(&mut c, hs, &mut rng.fork(3)).unwrap();
        let mut r2 = Rng::new(seed ^ 0xABCD);
        let planes: Vec<Plane> = [&c.r, &c.g, &c.b]
            .iter()
            .map(|p| gaussian_blur(&Plane::from_vec(w, h, (*p).clone()), 0.8))
            .collect();
        let mut px = vec![0u8; 3 * w * h];
        for i in 0..w * h {
            for k in 0..3 {
                let v = linear_to_srgb(planes[k].data[i].clamp(0.0, 1.0)) * 255.0
                    + 2.0 * r2.normal() as f32;
                px[3 * i + k] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode(&px, w as u32, h as u32, image::ExtendedColorType::Rgb8)
            .unwrap();
        let px = image::load_from_memory(&buf).unwrap().to_rgb8().into_raw();
        let img = Image::new(w, h, 3, Samples::U8(px)).unwrap();
        (to_linear(&img.view()).unwrap(), truth)
    }

    /// Where along each truth shaft the centreline is lost:
    /// `HAIRS_DIAG=upp,seed,kind cargo test -p trichometry --lib diag -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn diag_stages() {
        let v = std::env::var("HAIRS_DIAG").unwrap_or("2,41,crowded".into());
        let v: Vec<&str> = v.split(',').collect();
        let upp: f64 = v[0].parse().unwrap();
        let seed: u64 = v[1].parse().unwrap();
        let hs = if v[2] == "sparse" {
            HairSceneSpec::sparse()
        } else {
            HairSceneSpec::default()
        };
        let (w, h) = ((2400.0 / upp) as usize, (1800.0 / upp) as usize);
        let (rgb, truth) = render(w, h, upp, seed, &hs);
        let valid = Mask::filled(w, h, true);
        let input = StageInput {
            rgb: &rgb,
            um_per_px: upp,
            valid: &valid,
        };
        let params = HairParams::default();
        let det = super::super::detect::detect(&input, &params, &mut Default::default());
        let thin = centrelines(&det);
        let (cut, _) = cut_junctions(&thin, &det);
        let (pk, _) = pieces(&det, &params, upp);
        let loose = HairParams {
            min_profile_support: 0.0,
            ..params.clone()
        };
        let (pall, _) = pieces(&det, &loose, upp);
        let f = det.factor as f32;
        let (dw, dh) = (det.mask.width, det.mask.height);
        let raster = |ps: &[Piece]| {
            let mut m = Mask::filled(dw, dh, false);
            for p in ps {
                for q in p.pts.windows(2) {
                    for s in 0..8 {
                        let t = s as f32 / 8.0;
                        let (x, y) = (
                            q[0][0] + t * (q[1][0] - q[0][0]),
                            q[0][1] + t * (q[1][1] - q[0][1]),
                        );
                        let (x, y) = ((x / f) as usize, (y / f) as usize);
                        if x < dw && y < dh {
                            m.data[y * dw + x] = true;
                        }
                    }
                }
            }
            m
        };
        {
            let lab = label_with(&cut, Connectivity::Eight);
            let mut comps: Vec<Vec<usize>> = vec![Vec::new(); lab.count as usize + 1];
            for (i, &l) in lab.data.iter().enumerate() {
                if l != 0 {
                    comps[l as usize].push(i);
                }
            }
            for c in comps.iter().skip(1).filter(|c| c.len() >= 20) {
                let path = order(c, dw);
                let mut sig: Vec<f32> = path.iter().map(|&i| det.scale.data[i]).collect();
                let k = (1.5 * profile::median(&mut sig)).round().max(3.0) as usize;
                let sp = split_at_turns(&path, dw, k, params.max_turn_deg as f32);
                let lens: Vec<usize> = sp.iter().map(|p| p.len()).collect();
                if path.len() * 10 < c.len() * 8 || lens.iter().sum::<usize>() * 10 < path.len() * 7
                {
                    println!(
                        "comp at ({}, {}) px {} path {} k {k} split {:?}",
                        c[0] % dw,
                        c[0] / dw,
                        c.len(),
                        path.len(),
                        lens
                    );
                }
            }
        }
        let traced = join(&pk, &params, upp, &det.lum);
        let near_hair = dilate(&det.mask, 2.0);
        for (k, t) in traced.iter().enumerate() {
            let r = super::super::rejection(&input, t, &near_hair, det.factor, upp, &params);
            if t.n_pieces > 1 {
                println!("shaft {k} pieces {:?} -> {:?}", t.piece_ids, r.map(|_| ()));
            }
        }
        let mut shaft_of = vec![usize::MAX; pk.len()];
        for (k, t) in traced.iter().enumerate() {
            for &pi in &t.piece_ids {
                shaft_of[pi] = k;
            }
        }
        let tol = 4.0f32.max(20.0 / upp as f32);
        let max_gap = (params.max_join_gap_um / upp) as f32;
        let max_ang = (params.max_join_angle_deg as f32).to_radians();
        for t in truth
            .shafts
            .iter()
            .filter(|t| t.counted && !t.crosses.is_empty())
        {
            let tp: Vec<[f32; 2]> = t
                .centreline_px
                .iter()
                .map(|p| [p[0] as f32, p[1] as f32])
                .collect();
            let nearest = |q: [f32; 2]| -> (f32, usize) {
                let mut best = (f32::INFINITY, 0);
                for (k, p) in tp.iter().enumerate() {
                    let d = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
                    if d < best.0 {
                        best = (d, k);
                    }
                }
                (best.0.sqrt(), best.1)
            };
            let mut on: Vec<(usize, usize)> = Vec::new();
            for (pi, p) in pk.iter().enumerate() {
                let n_on = p.pts.iter().filter(|&&q| nearest(q).0 <= tol).count();
                if n_on * 10 >= p.pts.len() * 6 && p.pts.len() >= 2 {
                    let mid = nearest(p.pts[p.pts.len() / 2]).1;
                    on.push((mid, pi));
                }
            }
            on.sort();
            println!(
                "truth {} d {:.0} cross {:?}:",
                t.id, t.diameter_um, t.crosses
            );
            for (k, &(m, pi)) in on.iter().enumerate() {
                let p = &pk[pi];
                println!(
                    "   piece {pi} at {m} len {} width {:.1} samples {} -> shaft {}",
                    p.pts.len(),
                    p.width,
                    p.samples.len(),
                    shaft_of[pi]
                );
                if k + 1 < on.len() {
                    let q = &pk[on[k + 1].1];
                    // Facing ends: the closest pair.
                    let mut best = (f32::INFINITY, 0, 0);
                    for wa in 0..2 {
                        for wb in 0..2 {
                            let (ea, eb) = (end_of(p, pi, wa), end_of(q, on[k + 1].1, wb));
                            let d = (ea.p[0] - eb.p[0]).hypot(ea.p[1] - eb.p[1]);
                            if d < best.0 {
                                best = (d, wa, wb);
                            }
                        }
                    }
                    let (ea, eb) = (end_of(p, pi, best.1), end_of(q, on[k + 1].1, best.2));
                    let r = link_score(&ea, &eb, p, q, &params, max_gap, max_ang);
                    let anti = angle(ea.d, [-eb.d[0], -eb.d[1]]).to_degrees();
                    let fit = super::link_diag::continuity_fit(&ea, &eb, p, q)
                        .map(|(t, r)| (t.to_degrees(), r));
                    println!(
                        "      link to {}: gap {:.0} anti {anti:.0}° -> {r:?} ({:.0},{:.0})->({:.0},{:.0}) fit {fit:?} linked {}",
                        on[k + 1].1, best.0, ea.p[0], ea.p[1], eb.p[0], eb.p[1], shaft_of[pi] == shaft_of[on[k + 1].1]
                    );
                }
            }
        }
        let kept = raster(&pk);
        let all = raster(&pall);
        let stages = [
            ("mask", dilate(&det.mask, 2.0)),
            ("nms", dilate(&thin, 2.0)),
            ("cut", dilate(&cut, 2.0)),
            ("pieces_all", dilate(&all, 2.0)),
            ("pieces_kept", dilate(&kept, 2.0)),
        ];
        println!(
            "factor {} sigmas {:?}",
            det.factor,
            super::super::detect::sigmas(&params, upp * det.factor as f64)
        );
        for t in truth.shafts.iter().filter(|t| t.counted) {
            let pts: Vec<(usize, usize)> = t
                .centreline_px
                .iter()
                .filter(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] < w as f64 && p[1] < h as f64)
                .map(|p| ((p[0] / f as f64) as usize, (p[1] / f as f64) as usize))
                .filter(|&(x, y)| x < dw && y < dh)
                .collect();
            let fr: Vec<String> = stages
                .iter()
                .map(|(n, m)| {
                    let c = pts.iter().filter(|&&(x, y)| m.data[y * dw + x]).count();
                    format!("{n} {:.2}", c as f32 / pts.len().max(1) as f32)
                })
                .collect();
            // Scale and strength along the truth centreline.
            let mut sc: Vec<f32> = pts
                .iter()
                .map(|&(x, y)| det.scale.data[y * dw + x])
                .collect();
            let mut st: Vec<f32> = pts
                .iter()
                .map(|&(x, y)| det.strength.data[y * dw + x])
                .collect();
            println!(
                "truth {} d {:.0} light {} cross {:?}: {}; σ med {:.1} (expect {:.1}) strength med {:.2}",
                t.id,
                t.diameter_um,
                t.light,
                t.crosses,
                fr.join(", "),
                profile::median(&mut sc),
                t.diameter_um / 2.0 / (upp * f as f64),
                profile::median(&mut st)
            );
        }
        // Overlay at detection resolution, 2× enlarged.
        let k = 2usize;
        let mut px = vec![0u8; 3 * dw * dh * k * k];
        for y in 0..dh * k {
            for x in 0..dw * k {
                let (sx, sy) = (x / k, y / k);
                let i = sy * dw + sx;
                let fx = ((sx as f32 + 0.5) * f).min(w as f32 - 1.0) as usize;
                let fy = ((sy as f32 + 0.5) * f).min(h as f32 - 1.0) as usize;
                let g = (linear_to_srgb(rgb.r[fy * w + fx]) * 200.0) as u8;
                let mut c = [g, g, g];
                if det.mask.data[i] {
                    c = [g / 2, g / 2, g.saturating_add(40)];
                }
                if thin.data[i] {
                    c = [255, 0, 0];
                }
                if cut.data[i] {
                    c = [255, 255, 0];
                }
                if all.data[i] {
                    c = [255, 0, 255];
                }
                if kept.data[i] {
                    c = [0, 255, 0];
                }
                let o = 3 * (y * dw * k + x);
                px[o..o + 3].copy_from_slice(&c);
            }
        }
        for t in truth.shafts.iter().filter(|t| t.counted) {
            for p in t.centreline_px.iter().step_by(3) {
                let (x, y) = (
                    (p[0] / f as f64 * k as f64) as usize,
                    (p[1] / f as f64 * k as f64) as usize,
                );
                if x < dw * k && y < dh * k {
                    let o = 3 * (y * dw * k + x);
                    px[o..o + 3].copy_from_slice(&[0, 255, 255]);
                }
            }
        }
        image::save_buffer(
            format!("/tmp/diag_{}_{}_{}.png", v[0], seed, v[2]),
            &px,
            (dw * k) as u32,
            (dh * k) as u32,
            image::ColorType::Rgb8,
        )
        .unwrap();
    }
}

#[cfg(test)]
mod link_diag {
    use super::diag::render;
    use super::*;
    use crate::analysis::StageInput;
    use crate::synth::hairs::HairSceneSpec;

    /// Points of a piece near one end (`which`: 0 = start, 1 = end), every
    /// px of arc from `skip` to `skip + len` in from that end (the hook a cut
    /// leaves at a junction skipped), nearest the end first.
    pub(super) fn end_window(piece: &Piece, which: usize, skip: f32, len: f32) -> Vec<[f32; 2]> {
        let pts = &piece.pts;
        let arc = profile::arc_lengths(pts);
        let total = *arc.last().unwrap_or(&0.0);
        let s0 = skip.min(0.25 * total);
        let s1 = (s0 + len).min(total);
        let n = ((s1 - s0).ceil() as usize).max(1);
        (0..=n)
            .map(|k| {
                let s = s0 + (s1 - s0) * k as f32 / n as f32;
                let s = if which == 0 { s } else { total - s };
                profile::point_and_tangent(pts, &arc, s, 0.0).0
            })
            .collect()
    }

    /// Diagnostic (measured, not used by `join`): continuity of two pieces
    /// across a gap judged on both together: one
    /// smooth curve (a parabola in the frame of their joint principal axis)
    /// through the points of both near their facing ends. Returns the turn
    /// (rad) of that curve over the span and the larger of the two pieces'
    /// RMS residuals (px); `None` when the pieces do not face each other
    /// along the curve (they overlap or lie side by side).
    ///
    /// Meant for short pieces, whose own end direction is unreliable (a cut
    /// end hooks towards the crossing partner). On 12 crowded phantoms
    /// (2 / 3.5 / 5.5 µm/px, seeds 41–46) it did not separate same-shaft from
    /// crossing-partner pairs that the angle tests reject (turn ≤ 30° and RMS
    /// ≤ 0.15 × width: 30 same-shaft vs 22 different-shaft facing pairs), and
    /// rescuing links with it lowered counts (over-joining), so `join` keeps
    /// the end-direction tests.
    pub(super) fn continuity_fit(ea: &End, eb: &End, pa: &Piece, pb: &Piece) -> Option<(f32, f32)> {
        let win = |p: &Piece| (4.0 * p.width).clamp(16.0, 80.0);
        let skip = |p: &Piece| 0.75 * p.width + 2.0;
        let a = end_window(pa, ea.which, skip(pa), win(pa));
        let b = end_window(pb, eb.which, skip(pb), win(pb));
        if a.len() < 2 || b.len() < 2 {
            return None;
        }
        let all = || a.iter().chain(b.iter());
        let n = (a.len() + b.len()) as f64;
        let (mut cx, mut cy) = (0.0f64, 0.0f64);
        for p in all() {
            cx += p[0] as f64;
            cy += p[1] as f64;
        }
        let (cx, cy) = (cx / n, cy / n);
        let (mut sxx, mut syy, mut sxy) = (0.0f64, 0.0f64, 0.0f64);
        for p in all() {
            let (dx, dy) = (p[0] as f64 - cx, p[1] as f64 - cy);
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
        let th = 0.5 * (2.0 * sxy).atan2(sxx - syy);
        let (mut ux, mut uy) = (th.cos(), th.sin());
        let proj = |p: &[f32; 2], ux: f64, uy: f64| {
            let (dx, dy) = (p[0] as f64 - cx, p[1] as f64 - cy);
            (dx * ux + dy * uy, -dx * uy + dy * ux)
        };
        let mean_x = |v: &[[f32; 2]], ux: f64, uy: f64| {
            v.iter().map(|p| proj(p, ux, uy).0).sum::<f64>() / v.len() as f64
        };
        if mean_x(&a, ux, uy) > mean_x(&b, ux, uy) {
            ux = -ux;
            uy = -uy;
        }
        // Facing along the axis: A's window wholly before B's, the ends
        // between them.
        let ax_max = a.iter().map(|p| proj(p, ux, uy).0).fold(f64::MIN, f64::max);
        let bx_min = b.iter().map(|p| proj(p, ux, uy).0).fold(f64::MAX, f64::min);
        if ax_max > bx_min {
            return None;
        }
        let ea_x = proj(&ea.p, ux, uy).0;
        let eb_x = proj(&eb.p, ux, uy).0;
        let wmax = pa.width.max(pb.width) as f64;
        if ea_x < mean_x(&a, ux, uy) || eb_x > mean_x(&b, ux, uy) || ea_x > eb_x + 0.5 * wmax {
            return None;
        }
        // Least squares y = c0 + c1 x + c2 x² (x scaled by the span).
        let xs: Vec<(f64, f64)> = all().map(|p| proj(p, ux, uy)).collect();
        let span = xs.iter().map(|q| q.0.abs()).fold(0.0f64, f64::max).max(1.0);
        let mut m = [[0.0f64; 3]; 3];
        let mut r = [0.0f64; 3];
        for &(x, y) in &xs {
            let t = x / span;
            let f = [1.0, t, t * t];
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] += f[i] * f[j];
                }
                r[i] += f[i] * y;
            }
        }
        let c = crate::calibration::solve3(m, r)?;
        let res = |v: &[[f32; 2]]| -> f64 {
            let s: f64 = v
                .iter()
                .map(|p| {
                    let (x, y) = proj(p, ux, uy);
                    let t = x / span;
                    (y - c[0] - c[1] * t - c[2] * t * t).powi(2)
                })
                .sum();
            (s / v.len() as f64).sqrt()
        };
        let rms = res(&a).max(res(&b));
        // Turn of the curve between the extreme abscissae.
        let (x0, x1) = xs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), q| {
            (lo.min(q.0), hi.max(q.0))
        });
        let slope = |x: f64| (c[1] + 2.0 * c[2] * x / span) / span;
        let turn = (slope(x1).atan() - slope(x0).atan()).abs();
        Some((turn as f32, rms as f32))
    }

    /// Every candidate pair of piece ends within the gap limit, labelled
    /// by phantom truth (same shaft / different shafts), with the link
    /// tests' figures and the two ends (position, outward direction: the
    /// last eight fields), as CSV lines `LD,...`:
    /// `LINK_DIAG=2:41,3.5:42 cargo test -p trichometry --lib link_diag -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn link_diag() {
        let v = std::env::var("LINK_DIAG").unwrap_or("3.5:42".into());
        let params = HairParams::default();
        for case in v.split(',') {
            let (u, s) = case.split_once(':').unwrap();
            let upp: f64 = u.parse().unwrap();
            let seed: u64 = s.parse().unwrap();
            let hs = HairSceneSpec::default();
            let (w, h) = ((2400.0 / upp) as usize, (1800.0 / upp) as usize);
            let (rgb, truth) = render(w, h, upp, seed, &hs);
            let valid = Mask::filled(w, h, true);
            let input = StageInput {
                rgb: &rgb,
                um_per_px: upp,
                valid: &valid,
            };
            let det = super::super::detect::detect(&input, &params, &mut Default::default());
            let (pk, _) = pieces(&det, &params, upp);
            let traced = join(&pk, &params, upp, &det.lum);
            let mut shaft_of = vec![usize::MAX; pk.len()];
            for (k, t) in traced.iter().enumerate() {
                for &pi in &t.piece_ids {
                    shaft_of[pi] = k;
                }
            }
            let tol = 4.0f32.max(20.0 / upp as f32);
            let shafts: Vec<&crate::synth::hairs::HairTruthShaft> =
                truth.shafts.iter().filter(|t| t.counted).collect();
            // Dominant truth of each piece: ≥ 60 % of its points within
            // tol, and no other with as many.
            let near = |q: [f32; 2], t: &crate::synth::hairs::HairTruthShaft| {
                t.centreline_px.iter().any(|p| {
                    (p[0] as f32 - q[0]).powi(2) + (p[1] as f32 - q[1]).powi(2) <= tol * tol
                })
            };
            let label: Vec<Option<u32>> = pk
                .iter()
                .map(|p| {
                    let mut fr: Vec<(usize, u32)> = shafts
                        .iter()
                        .map(|t| (p.pts.iter().filter(|&&q| near(q, t)).count(), t.id))
                        .collect();
                    fr.sort_by_key(|x| std::cmp::Reverse(x.0));
                    let n = p.pts.len();
                    if fr.is_empty() || fr[0].0 * 10 < n * 6 {
                        return None;
                    }
                    if fr.len() > 1 && fr[1].0 * 10 >= n * 6 {
                        return None;
                    }
                    Some(fr[0].1)
                })
                .collect();
            let max_gap = (params.max_join_gap_um / upp) as f32;
            let max_ang = (params.max_join_angle_deg as f32).to_radians();
            for a in 0..pk.len() {
                for b in a + 1..pk.len() {
                    let (Some(la), Some(lb)) = (label[a], label[b]) else {
                        continue;
                    };
                    for wa in 0..2 {
                        for wb in 0..2 {
                            let (ea, eb) = (end_of(&pk[a], a, wa), end_of(&pk[b], b, wb));
                            let g = (ea.p[0] - eb.p[0]).hypot(ea.p[1] - eb.p[1]);
                            let wm = pk[a].width.max(pk[b].width);
                            if g > max_gap.max(2.0 * wm + 6.0) {
                                continue;
                            }
                            let r = link_score(&ea, &eb, &pk[a], &pk[b], &params, max_gap, max_ang);
                            let anti = angle(ea.d, [-eb.d[0], -eb.d[1]]).to_degrees();
                            let fit = continuity_fit(&ea, &eb, &pk[a], &pk[b]);
                            let la_ = *profile::arc_lengths(&pk[a].pts).last().unwrap();
                            let lb_ = *profile::arc_lengths(&pk[b].pts).last().unwrap();
                            println!(
                                "LD,{upp},{seed},{a},{b},{wa},{wb},{},{g:.1},{anti:.1},{},{:.3},{},{:.2},{},{:.2},{:.1},{:.1},{},{},{:.0},{:.0},{},{:.2},{:.2},{:.4},{:.4},{:.2},{:.2},{:.4},{:.4}",
                                (la == lb) as u8,
                                r.map(|_| "ok").unwrap_or_else(|e| e),
                                r.unwrap_or(f32::NAN),
                                fit.map_or(-1.0, |f| f.0.to_degrees()),
                                fit.map_or(-1.0, |f| f.1),
                                fit.is_some() as u8,
                                0.15 * pk[a].width.min(pk[b].width),
                                pk[a].width,
                                pk[b].width,
                                pk[a].samples.len(),
                                pk[b].samples.len(),
                                la_,
                                lb_,
                                (shaft_of[a] == shaft_of[b]) as u8,
                                ea.p[0], ea.p[1], ea.d[0], ea.d[1],
                                eb.p[0], eb.p[1], eb.d[0], eb.d[1],
                            );
                        }
                    }
                }
            }
        }
    }
}
