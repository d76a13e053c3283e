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
//! the median OD of coarse blocks, interpolated bilinearly, except where
//! hair mats (blocks more than half covered by hair) cover half the image
//! or more: there it is the level of the blocks' brightest population
//! (`kernels::block_lowest_levels`), and the noise level is the skin's
//! (see `detect`). The multi-scale
//! σ²-normalised ridge filter (kernels) then gives a strength in OD units
//! (≈ 0.48 × depth for a flat bar at σ = w/2); thresholds are the larger of
//! a multiple of the robust noise level and an absolute contrast floor
//! (skin texture and furrows are low-contrast).

use super::profile::Intensity;
use super::{HairParams, HairScratch};
use crate::analysis::StageInput;
use crate::color::LinearRgb;
use crate::image::{Mask, Plane};
use crate::kernels::{
    block_lowest_levels, hysteresis, reuse_len, ridge_response_reusing, sample_bilinear,
    sample_bilinear_with, upsample_from_blocks_apply, Polarity, RidgeResponse,
};
use rayon::prelude::*;
use std::marker::PhantomData;

/// What detection hands to tracing.
pub(crate) struct Detection<'a> {
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
    /// The caller's analysable pixels (full resolution).
    pub full_valid: &'a Mask,
    /// Full-resolution luminance (linear).
    pub lum: Luminance<'a>,
}

/// Linear luminance `0.2126 R + 0.7152 G + 0.0722 B` at full resolution,
/// one plane computed in parallel rows: the profiles read it about forty
/// times per pixel of centreline (three parallel lines, four corners each),
/// so one gathered value per corner instead of three pays for the plane.
pub(crate) struct Luminance<'a> {
    plane: Plane,
    _rgb: PhantomData<&'a LinearRgb>,
}

impl Detection<'_> {
    /// Keep the detection's planes in `scratch` for the next call (the
    /// luminance stays with the caller).
    pub(crate) fn give_back(self, scratch: &mut HairScratch) {
        scratch.ridge.give_back(RidgeResponse {
            strength: self.strength,
            scale: self.scale,
            direction: self.direction,
        });
        scratch.valid = self.valid.data;
    }
}

impl<'a> Luminance<'a> {
    /// The luminance plane `data` of `rgb` (filled by [`planes`]).
    fn from_data(rgb: &'a LinearRgb, data: Vec<f32>) -> Self {
        Luminance {
            plane: Plane::from_vec(rgb.width, rgb.height, data),
            _rgb: PhantomData,
        }
    }

    /// No plane (0 × 0), in place of one moved out.
    pub(crate) fn empty() -> Self {
        Luminance {
            plane: Plane::from_vec(0, 0, Vec::new()),
            _rgb: PhantomData,
        }
    }

    /// The plane's allocation (the luminance), kept for the next call.
    pub(crate) fn into_data(self) -> Vec<f32> {
        self.plane.data
    }

    /// The plane's allocation, for a full-size `u32` buffer (its contents
    /// are the luminance bits): memory already written is reused far more
    /// cheaply than fresh pages are obtained.
    pub(crate) fn into_u32_buffer(self) -> Vec<u32> {
        let mut v = std::mem::ManuallyDrop::new(self.plane.data);
        let (ptr, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
        // SAFETY: the allocation of a `Vec<f32>` of this length and
        // capacity, no longer owned by `v` (ManuallyDrop), becomes a
        // `Vec<u32>`: `u32` has the size and alignment of `f32` (so the
        // same layout frees it) and every bit pattern is a valid `u32`.
        unsafe { Vec::from_raw_parts(ptr.cast::<u32>(), len, cap) }
    }
}

crate::kernels::simd::dispatch! {
    fn lum_rows(rgb: [&[f32]; 3], out: &mut [f32]) => lum_rows_body
}

/// `out[i] = 0.2126 r[i] + 0.7152 g[i] + 0.0722 b[i]` (in that order).
#[inline(always)]
fn lum_rows_body(rgb: [&[f32]; 3], out: &mut [f32]) {
    let n = out.len();
    let [r, g, b] = rgb.map(|p| &p[..n]);
    for (((o, &r), &g), &b) in out.iter_mut().zip(r).zip(g).zip(b) {
        *o = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    }
}

impl Intensity for Luminance<'_> {
    fn size(&self) -> (usize, usize) {
        (self.plane.width, self.plane.height)
    }
    #[inline(always)]
    fn bilinear(&self, x: f32, y: f32) -> f32 {
        sample_bilinear(&self.plane, x, y)
    }
    fn profile(&self, c: [f32; 2], nrm: [f32; 2], t: [f32; 2], du: f32, n: i32, prof: &mut [f32]) {
        let p = &self.plane;
        lum_profile(&p.data, [p.width, p.height], [c, nrm, t], du, n, prof);
    }
}

crate::kernels::simd::dispatch! {
    fn lum_profile(lum: &[f32], size: [usize; 2], geo: [[f32; 2]; 3], du: f32, n: i32, prof: &mut [f32]) => lum_profile_body
}

/// [`Intensity::profile`] of the luminance, written as one loop over the
/// profile without bounds checks so that it vectorises (gathers); the same
/// operations per sample as `sample_bilinear`, so the same bits. Pixel
/// indices are `i32` when the image allows (16-lane gathers with 32-bit
/// offsets instead of 8-lane ones with 64-bit offsets).
#[inline(always)]
fn lum_profile_body(
    lum: &[f32],
    size: [usize; 2],
    geo: [[f32; 2]; 3],
    du: f32,
    n: i32,
    prof: &mut [f32],
) {
    let [w, h] = size;
    let [c, nrm, t] = geo;
    assert!(w > 0 && h > 0 && lum.len() == w * h);
    let m = (2 * n + 1) as usize;
    if w * h <= i32::MAX as usize {
        let p = lum.as_ptr();
        for (j, o) in prof[..m].iter_mut().enumerate() {
            let u = (j as i32 - n) as f32 * du;
            let (x, y) = (c[0] + nrm[0] * u, c[1] + nrm[1] * u);
            *o = (bil_i32(p, w, h, x - t[0], y - t[1])
                + bil_i32(p, w, h, x, y)
                + bil_i32(p, w, h, x + t[0], y + t[1]))
                / 3.0;
        }
        return;
    }
    let px = |i: usize| -> f32 {
        debug_assert!(i < w * h);
        // SAFETY: `sample_bilinear_with` reads indices y·w + x with
        // x ≤ w − 1 and y ≤ h − 1 (clamped), so < w·h = the plane's length
        // (asserted above).
        unsafe { *lum.get_unchecked(i) }
    };
    let bil = |x: f32, y: f32| sample_bilinear_with(w, h, x, y, px);
    for (j, o) in prof[..m].iter_mut().enumerate() {
        let u = (j as i32 - n) as f32 * du;
        let (x, y) = (c[0] + nrm[0] * u, c[1] + nrm[1] * u);
        *o = (bil(x - t[0], y - t[1]) + bil(x, y) + bil(x + t[0], y + t[1])) / 3.0;
    }
}

/// `sample_bilinear_with` of a `w × h` plane (with `w·h ≤ i32::MAX`) at
/// (x, y), with `i32` pixel indices: the same clamping, corners and
/// operations, so the same bits.
#[inline(always)]
fn bil_i32(p: *const f32, w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = x.max(0.0).min((w - 1) as f32);
    let y = y.max(0.0).min((h - 1) as f32);
    let (wi, hi) = (w as i32, h as i32);
    // Non-negative and ≤ w − 1 (h − 1): truncation is the floor.
    // SAFETY: `max` takes 0 for NaN, so x ∈ [0, w − 1] and y ∈ [0, h − 1],
    // finite and representable in `i32` (w·h ≤ i32::MAX): the conversion
    // is the saturating `as i32` (the same values), in vector lanes
    // instead of one checked scalar conversion per lane.
    let (x0, y0) = unsafe { (x.to_int_unchecked::<i32>(), y.to_int_unchecked::<i32>()) };
    let (x1, y1) = (
        x0.wrapping_add(1).min(wi - 1),
        y0.wrapping_add(1).min(hi - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    // A macro, not a closure: the same code inlined in every build profile.
    macro_rules! px {
        ($i:expr) => {{
            // SAFETY: i = y·w + x with 0 ≤ x < w, 0 ≤ y < h, so 0 ≤ i < w·h,
            // the plane's length (`lum_profile_body` asserts it).
            unsafe { *p.offset($i as isize) }
        }};
    }
    let row0 = y0.wrapping_mul(wi);
    let row1 = y1.wrapping_mul(wi);
    let (a, b) = (px!(row0.wrapping_add(x0)), px!(row0.wrapping_add(x1)));
    let (c, d) = (px!(row1.wrapping_add(x0)), px!(row1.wrapping_add(x1)));
    let top = a + fx * (b - a);
    let bot = c + fx * (d - c);
    top + fy * (bot - top)
}

/// Box-downsample red (as OD) by `f`, the analysable detection pixels
/// (all `f × f` full-resolution pixels valid), and the full-resolution
/// luminance. One pass over the colour planes, in parallel rows of detection
/// pixels.
/// All three are written in full, into the allocations of `scratch`.
fn planes(input: &StageInput<'_>, f: usize, scratch: &mut HairScratch) -> (Plane, Mask, Vec<f32>) {
    let (w, h) = (input.rgb.width, input.rgb.height);
    let (dw, dh) = (w.div_ceil(f), h.div_ceil(f));
    let mut od = reuse_len(std::mem::take(&mut scratch.od), dw * dh);
    let mut valid = reuse_len(std::mem::take(&mut scratch.valid), dw * dh);
    let mut lum = reuse_len(std::mem::take(&mut scratch.lum), w * h);
    planes_into(input, f, &mut od, &mut valid, Some(&mut lum));
    (
        Plane::from_vec(dw, dh, od),
        Mask {
            width: dw,
            height: dh,
            data: valid,
        },
        lum,
    )
}

/// The detection OD plane of [`planes`] alone (its analysable pixels
/// computed on the way, then dropped): the same bits, again, for the rare
/// hair-mat path instead of a copy kept on every call.
fn od_plane(input: &StageInput<'_>, f: usize) -> Vec<f32> {
    let (w, h) = (input.rgb.width, input.rgb.height);
    let n = w.div_ceil(f) * h.div_ceil(f);
    let mut od = crate::kernels::zeroed_vec::<f32>(n);
    planes_into(input, f, &mut od, &mut vec![false; n], None);
    od
}

/// [`planes`] into `od` and `valid` (`⌈w/f⌉ × ⌈h/f⌉`) and, if given, `lum`
/// (`w × h`); any previous contents.
fn planes_into(
    input: &StageInput<'_>,
    f: usize,
    od: &mut [f32],
    valid: &mut [bool],
    lum: Option<&mut [f32]>,
) {
    let rgb = input.rgb;
    let (w, h) = (rgb.width, rgb.height);
    let dw = w.div_ceil(f);
    let full = w / f;
    let row = |acc: &mut Vec<f32>,
               j: usize,
               orow: &mut [f32],
               vrow: &mut [bool],
               mut lrows: Option<&mut [f32]>| {
        let y0 = j * f;
        let y1 = (y0 + f).min(h);
        vrow.fill(true);
        for y in y0..y1 {
            let row = &rgb.r[y * w..(y + 1) * w];
            if let Some(lrows) = lrows.as_deref_mut() {
                let (g, b) = (&rgb.g[y * w..(y + 1) * w], &rgb.b[y * w..(y + 1) * w]);
                lum_rows([row, g, b], &mut lrows[(y - y0) * w..(y - y0 + 1) * w]);
            }
            let first = y == y0;
            // Sum of each block's part of this row, left to right,
            // added to the block's running sum.
            box_row(row, f, full, first, &mut acc[..full]);
            if full < dw {
                let s: f32 = row[full * f..].iter().sum();
                acc[full] = if first { s } else { acc[full] + s };
            }
            let vr = &input.valid.data[y * w..(y + 1) * w];
            // Usually the whole row is valid: one quick test.
            if !vr.iter().fold(true, |a, &b| a & b) {
                for (v, c) in vrow.iter_mut().zip(vr.chunks(f)) {
                    *v &= c.iter().all(|&b| b);
                }
            }
        }
        // The mean of each block: its pixel count is the same for all
        // complete blocks (one loop that vectorises), the last may be
        // narrower.
        let n_full = ((y1 - y0) * f) as f32;
        for (o, &s) in orow[..full].iter_mut().zip(&acc[..full]) {
            *o = (s / n_full).max(1e-4);
        }
        if full < dw {
            let n = ((y1 - y0) * (w - full * f)) as f32;
            orow[full] = (acc[full] / n).max(1e-4);
        }
        neg_ln_row(orow);
    };
    let rows = od.par_chunks_mut(dw).zip(valid.par_chunks_mut(dw));
    match lum {
        Some(lum) => rows
            .zip(lum.par_chunks_mut((f * w).max(1)))
            .enumerate()
            .for_each_init(
                || vec![0.0f32; dw],
                |acc, (j, ((orow, vrow), lrows))| row(acc, j, orow, vrow, Some(lrows)),
            ),
        None => rows.enumerate().for_each_init(
            || vec![0.0f32; dw],
            |acc, (j, (orow, vrow))| row(acc, j, orow, vrow, None),
        ),
    }
}

crate::kernels::simd::dispatch! {
    fn neg_ln_row(v: &mut [f32]) => neg_ln_row_body
}

/// `v[i] = −ln v[i]`, the logarithm as [`logf_glibc`] computes it (the
/// bits of `f32::ln` with glibc's `logf` on an x86-64 with FMA), in one
/// vectorisable pass; a row with a value outside its fast path (zero,
/// subnormal, negative, infinite or NaN) through `f32::ln`.
#[inline(always)]
fn neg_ln_row_body(v: &mut [f32]) {
    let special = v.iter().fold(false, |a, x| {
        a | (x.to_bits().wrapping_sub(0x0080_0000) > 0x7eff_ffff)
    });
    if special {
        for x in v.iter_mut() {
            *x = -x.ln();
        }
    } else {
        for x in v.iter_mut() {
            *x = -logf_glibc(*x);
        }
    }
}

/// 1/c of glibc's `logf` table (`__logf_data.tab[i].invc`, glibc 2.28+).
const LOGF_INVC: [u64; 16] = [
    0x3ff661ec79f8f3be,
    0x3ff571ed4aaf883d,
    0x3ff49539f0f010b0,
    0x3ff3c995b0b80385,
    0x3ff30d190c8864a5,
    0x3ff25e227b0b8ea0,
    0x3ff1bb4a4a1a343f,
    0x3ff12358f08ae5ba,
    0x3ff0953f419900a7,
    0x3ff0000000000000,
    0x3fee608cfd9a47ac,
    0x3feca4b31f026aa0,
    0x3feb2036576afce6,
    0x3fe9c2d163a1aa2d,
    0x3fe886e6037841ed,
    0x3fe767dcf5534862,
];
/// ln c of the same table (`__logf_data.tab[i].logc`).
const LOGF_LOGC: [u64; 16] = [
    0xbfd57bf7808caade,
    0xbfd2bef0a7c06ddb,
    0xbfd01eae7f513a67,
    0xbfcb31d8a68224e9,
    0xbfc6574f0ac07758,
    0xbfc1aa2bc79c8100,
    0xbfba4e76ce8c0e5e,
    0xbfb1973c5a611ccc,
    0xbfa252f438e10c1e,
    0x0000000000000000,
    0x3faaa5aa5df25984,
    0x3fbc5e53aa362eb4,
    0x3fc526e57720db08,
    0x3fcbc2860d224770,
    0x3fd1058bc8a07ee1,
    0x3fd4043057b6ee09,
];

/// glibc's `logf` (the Arm optimized-routines algorithm, glibc ≥ 2.28),
/// operation for operation as glibc's x86-64 FMA build (`__logf_fma`)
/// computes it: `x = 2^k z`, `ln x = ln c + k ln 2 + log1p(z/c − 1)` with a
/// cubic for the log1p, in f64. Inline and vectorisable instead of a call
/// per value; on the machine the project is measured on it gives the bits
/// of `f32::ln` for every positive normal finite f32 (checked exhaustively:
/// `TRICHOMETRY_LN_STRIDE=1` for the test below, in release). Meaningless
/// for `x` outside the fast path (not a positive normal finite number).
#[inline(always)]
fn logf_glibc(x: f32) -> f32 {
    let ix = x.to_bits();
    let tmp = ix.wrapping_sub(0x3f33_0000);
    let i = ((tmp >> 19) & 15) as usize;
    let k = (tmp as i32) >> 23;
    let iz = ix.wrapping_sub(tmp & 0xff80_0000);
    let invc = f64::from_bits(LOGF_INVC[i]);
    let logc = f64::from_bits(LOGF_LOGC[i]);
    const LN2: u64 = 0x3fe62e42fefa39ef;
    const A: [u64; 3] = [0xbfd00ea348b88334, 0x3fd5575b0be00b6a, 0xbfdffffef20a4123];
    let z = f32::from_bits(iz) as f64;
    let r = z.mul_add(invc, -1.0);
    let y0 = (k as f64).mul_add(f64::from_bits(LN2), logc);
    let r2 = r * r;
    let y = r.mul_add(f64::from_bits(A[1]), f64::from_bits(A[2]));
    let y = r2.mul_add(f64::from_bits(A[0]), y);
    r2.mul_add(y, r + y0) as f32
}

crate::kernels::simd::dispatch! {
    fn box_row(row: &[f32], f: usize, full: usize, first: bool, acc: &mut [f32]) => box_row_body
}

/// `acc[i] (+)= row[i f] + … + row[i f + f − 1]` over the `full` complete
/// blocks (summed left to right, as `Iterator::sum` does).
#[inline(always)]
fn box_row_body(row: &[f32], f: usize, full: usize, first: bool, acc: &mut [f32]) {
    let acc = &mut acc[..full];
    macro_rules! go {
        ($f:literal) => {
            for (a, c) in acc.iter_mut().zip(row.chunks_exact($f)) {
                let mut s = c[0];
                for &v in &c[1..] {
                    s += v;
                }
                *a = if first { s } else { *a + s };
            }
        };
    }
    match f {
        1 => go!(1),
        2 => go!(2),
        3 => go!(3),
        4 => go!(4),
        _ => {
            for (a, c) in acc.iter_mut().zip(row.chunks_exact(f)) {
                let s: f32 = c.iter().sum();
                *a = if first { s } else { *a + s };
            }
        }
    }
}

/// Optical density relative to the local skin level (the block grid
/// `skin`, bilinear between block centres:
/// `kernels::upsample_from_blocks`), in place; brighter things and the
/// pixels outside `valid` are flat (0).
fn relative_to_skin(od: &mut Plane, skin: &Plane, valid: &Mask, block: usize) {
    let dw = od.width;
    upsample_from_blocks_apply(skin, block, dw, &mut od.data, |y, sk, orow| {
        let vrow = &valid.data[y * dw..(y + 1) * dw];
        // `(o − s).max(0.0)` where valid (the difference where it is
        // greater than 0, else +0, as `maxss` against 0 gives it), written
        // as a select so that the loop vectorises: it took a branch and 11
        // instructions per pixel (33 M per 12 MP call at 3.5 µm/px,
        // session 26), the same bits.
        for ((o, &s), &v) in orow.iter_mut().zip(sk).zip(vrow) {
            let d = *o - s;
            *o = if v & (d > 0.0) { d } else { 0.0 };
        }
    });
}

/// How far (in the skin's σ) a block's median may lie above the skin's
/// own level before the block is taken for a hair mat (`skin_level`), and
/// how far above the skin level a pixel still counts as skin for the noise
/// level.
const SKIN_K_SIGMA: f32 = 5.0;

/// Share of a candidate block's pixels above the skin's reach that must lie
/// on ridges (the hysteresis mask at the absolute floors) for the block to
/// be taken for a hair mat (in `tests/hairs.rs` `ood_sweep`'s hair-free
/// scales and yellow dots mostly 0–0.08, at most 0.53 in a partial border
/// block; full blocks of the dense scenes 0.36–1, mostly above 0.6).
const MAT_RIDGE_SHARE: f32 = 0.5;

/// The ridge filter's scales from this σ (detection px) up are taken on the
/// detection plane decimated 2× (`kernels::ridge_response_reusing`): the
/// widest shafts' (at 2 and 3.5 µm/px σ 10 and 8.57, which alone would need
/// a whole plane smoothed by the recursive Gaussian; at 5.5 µm/px also
/// σ 6.1), the costliest scales (at 3.5 µm/px the ridge filter's CPU time
/// 62 → 48 ms). Unseen-seed surveys against all scales on the full plane:
/// from 6, crowded 44–50 sum |count error| 60 → 60, mean MAE 3.20 → 3.18,
/// cases meeting all bounds 3 → 4; sparse 81–88 50 → 50, MAE 1.00 → 0.97,
/// all bounds 8 → 10. From 2.5 (three scales, 62 → 35 ms) worse: crowded
/// 62, MAE 3.25, sparse 55, all bounds 6; from 4: crowded 65, MAE 3.26;
/// from 8 (5.5 µm/px σ 6.1 on the full plane): crowded 56 but MAE 3.33,
/// sparse 51. Those figures are against session 15's main; against session
/// 16's (frame-half profiles), with `without_unseen_ends` landed beside it
/// (session 17): crowded 54 → 54, MAE 3.20 → 3.22, all bounds 3 → 4 of 21;
/// sparse 46 → 48, MAE 1.00 → 0.97, all bounds 8 → 10 of 24.
const COARSE_FROM_PX: f32 = 6.0;

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
///
/// The planes are made in the buffers of `scratch` (any contents); the
/// caller hands the detection's back with [`Detection::give_back`].
pub(crate) fn detect<'a>(
    input: &StageInput<'a>,
    params: &HairParams,
    scratch: &mut HairScratch,
) -> Detection<'a> {
    let f = ((params.detection_um_per_px / input.um_per_px).floor() as usize).max(1);
    let det_um = input.um_per_px * f as f64;
    let (mut od, valid, lum) = planes(input, f, scratch);
    let lum = Luminance::from_data(input.rgb, lum);
    let block = ((400.0 / det_um).round() as usize).clamp(16, 256);
    let dw = od.width;
    let levels = block_lowest_levels(&od, &valid.data, block, 8, SKIN_K_SIGMA);
    // Blocks whose median may be a hair mat's level rather than the skin's.
    let candidates: Vec<usize> = (0..levels.median.data.len())
        .filter(|&i| levels.lowest.data[i] != levels.median.data[i])
        .collect();
    let mut skin = levels.median.clone();
    relative_to_skin(&mut od, &skin, &valid, block);
    let sig = sigmas(params, det_um);
    let mut r = ridge_response_reusing(
        &od,
        &sig,
        Polarity::Bright,
        COARSE_FROM_PX,
        &mut scratch.ridge,
    );
    // Robust noise level: median strength over a sparse sample of valid
    // pixels, which holds while hair (or skin texture) covers under half
    // of the image.
    let mut noise = noise_level(&r.strength, &valid, |_| true);
    let at_floors = |noise: f32| {
        params.noise_k_high * noise <= params.min_strength_high
            && params.noise_k_low * noise <= params.min_strength_low
    };
    if !at_floors(noise) && !candidates.is_empty() {
        // The OD before it was made relative to the skin (computed again:
        // this path is rare, and a copy kept for it cost every call a
        // full plane).
        let raw = od_plane(input, f);
        // More than half of the image is ridge-like: strongly textured skin
        // or hair. A candidate block is a hair mat when most of its pixels
        // above the lowest population's reach lie on ridges at the absolute
        // floors (hair); above a brighter minority (scales, white dots)
        // lies flat skin, and textured skin is not a candidate.
        let ridges = hysteresis(
            &r.strength,
            params.min_strength_low,
            params.min_strength_high,
        );
        let bw = levels.median.width;
        let block_of = |i: usize| (i / dw) / block * bw + (i % dw) / block;
        let mut counts = vec![[0u32; 2]; levels.median.data.len()];
        for (i, ((&o, &v), &m)) in raw.iter().zip(&valid.data).zip(&ridges.data).enumerate() {
            let b = block_of(i);
            if v && o > levels.reach.data[b] {
                counts[b][0] += 1;
                counts[b][1] += m as u32;
            }
        }
        let mats: Vec<usize> = candidates
            .into_iter()
            .filter(|&b| counts[b][1] as f32 >= MAT_RIDGE_SHARE * counts[b][0] as f32)
            .collect();
        // Where mats cover half of the image or more, the noise level is a
        // hair's strength and the block medians are the hair's level: the
        // skin level of the mats is their lowest population's, and the
        // noise is the skin's (the pixels within the skin's reach above
        // its level: its own texture stays in, hair does not). Below that,
        // the medians serve (crowded scenes are detected as before).
        if 2 * mats.len() >= levels.median.data.len() {
            for &b in &mats {
                skin.data[b] = levels.lowest.data[b];
            }
            od.data.copy_from_slice(&raw);
            relative_to_skin(&mut od, &skin, &valid, block);
            scratch.ridge.give_back(r);
            r = ridge_response_reusing(
                &od,
                &sig,
                Polarity::Bright,
                COARSE_FROM_PX,
                &mut scratch.ridge,
            );
            let (sd, od) = (&levels.sigma.data, &od.data);
            noise = noise_level(&r.strength, &valid, |i| {
                let reach = SKIN_K_SIGMA * sd[block_of(i)];
                reach.is_nan() || od[i] <= reach
            });
        }
    }
    scratch.od = od.data;
    let (low, high) = hysteresis_thresholds(params, noise);
    let mut strength = r.strength;
    strength
        .data
        .par_chunks_mut(1 << 16)
        .zip(valid.data.par_chunks(1 << 16))
        .for_each(|(sc, vc)| {
            for (s, &v) in sc.iter_mut().zip(vc) {
                if !v {
                    *s = 0.0;
                }
            }
        });
    let mut mask = hysteresis(&strength, low, high);
    // Where the skin's own ridges (texture, noise) reach the thresholds,
    // they follow its tail instead.
    let tail = SKIN_TAIL_K * skin_tail(&strength, &valid, &mask);
    if tail > high {
        mask = hysteresis(&strength, low.max(0.5 * tail), tail);
    }
    Detection {
        factor: f,
        strength,
        scale: r.scale,
        direction: r.direction,
        mask,
        valid,
        full_valid: input.valid,
        lum,
    }
}

/// Quantile of the ridge strength over the skin (valid detection pixels
/// clear of the hysteresis mask) taken as the tail of the skin's own
/// texture and noise: the median strength (`noise_level`) grows with them
/// too, but the textured dark skin of `tests/ood_sweep.rs` `ood_hair_sweep`
/// keeps its median under the floors' reach (0.0058 at L* 38, 0.0073 at
/// L* 28 against 0.0040 on the default skin, hair-free) while its 20–40 µm
/// texture ridges reach the high floor: 10 and 31 false hairs on 6 fields.
const SKIN_TAIL_QUANTILE: f32 = 0.99;

/// Thresholds never lower than this multiple of the skin's tail (high; half
/// of it for low). Hair-free fields, seeds 201–206: the tail is 0.024–0.025
/// on the default skin (so 0.048–0.050, at the 0.05 floor), 0.031–0.034 at
/// L* 38 and 0.034–0.035 at L* 28; on fields with hair 0.021–0.024 (its
/// flanks are cleared with the mask).
const SKIN_TAIL_K: f32 = 2.0;

/// How far (detection px, Chebyshev) from the mask a pixel must lie to
/// count as skin for the tail: a ridge's flanks still respond.
const SKIN_TAIL_CLEARANCE: usize = 2;

/// Every how many pixels (row-major) the tail samples: its 5 × 5
/// clearance check costs ~40 instructions a sample, and a 0.99 quantile
/// needs no more than a few tens of thousands (a 12 MP plane gives
/// ~600 000 at 19, a field of 1 MP ~50 000; prime, so the samples do not
/// line up in columns).
const SKIN_TAIL_STRIDE: usize = 19;

/// The skin's tail ridge strength ([`SKIN_TAIL_QUANTILE`] over the valid
/// pixels, one in [`SKIN_TAIL_STRIDE`], at least [`SKIN_TAIL_CLEARANCE`]
/// from `mask`; 0 when there is none).
fn skin_tail(strength: &Plane, valid: &Mask, mask: &Mask) -> f32 {
    let (w, h) = (strength.width, strength.height);
    let r = SKIN_TAIL_CLEARANCE;
    let near_mask = |i: usize| {
        let (x, y) = (i % w, i / w);
        (y.saturating_sub(r)..(y + r + 1).min(h)).any(|yy| {
            mask.data[yy * w + x.saturating_sub(r)..yy * w + (x + r + 1).min(w)]
                .iter()
                .any(|&m| m)
        })
    };
    let mut sample: Vec<f32> = Vec::with_capacity((w * h).div_ceil(SKIN_TAIL_STRIDE));
    for i in (0..w * h).step_by(SKIN_TAIL_STRIDE) {
        if valid.data[i] && !near_mask(i) {
            sample.push(strength.data[i]);
        }
    }
    if sample.is_empty() {
        return 0.0;
    }
    let m = ((sample.len() - 1) as f32 * SKIN_TAIL_QUANTILE).round() as usize;
    rank_value(&mut sample, m)
}

/// The hysteresis thresholds (low, high) for a noise level: multiples of
/// the noise, never under the absolute floors.
pub(super) fn hysteresis_thresholds(params: &HairParams, noise: f32) -> (f32, f32) {
    (
        (params.noise_k_low * noise).max(params.min_strength_low),
        (params.noise_k_high * noise).max(params.min_strength_high),
    )
}

/// Median strength over every fifth valid pixel with `keep(index)` (0 when
/// there is none). (One thread: a parallel filtered collect costs more than
/// the pass; an index loop, as a stepped zip of iterators costs several
/// times more per sample.)
pub(super) fn noise_level(strength: &Plane, valid: &Mask, keep: impl Fn(usize) -> bool) -> f32 {
    let (s, v) = (&strength.data, &valid.data[..strength.data.len()]);
    let mut sample: Vec<f32> = Vec::with_capacity(s.len().div_ceil(5));
    for i in (0..s.len()).step_by(5) {
        if v[i] && keep(i) {
            sample.push(s[i]);
        }
    }
    if sample.is_empty() {
        0.0
    } else {
        let m = sample.len() / 2;
        rank_value(&mut sample, m)
    }
}

/// The value of rank `m` (0-based) of `v` in the order of `f32::total_cmp`:
/// what `v.select_nth_unstable_by(m, f32::total_cmp)` puts at `m` (the same
/// bits: values equal in that order are equal bit for bit). A histogram of
/// the top 16 bits of the values' order keys finds the bin holding rank `m`,
/// and only that bin's values are then selected among. `v` is reordered.
/// Panics if `m ≥ v.len()`.
fn rank_value(v: &mut [f32], m: usize) -> f32 {
    assert!(m < v.len());
    // Keys whose unsigned order is `total_cmp`'s.
    let key = |x: f32| {
        let b = x.to_bits();
        (b ^ ((((b as i32) >> 31) as u32) >> 1)) ^ 0x8000_0000
    };
    let mut count = vec![0u32; 1 << 16];
    for &x in v.iter() {
        count[(key(x) >> 16) as usize] += 1;
    }
    let mut below = 0usize;
    let mut bin = 0u32;
    for (b, &c) in count.iter().enumerate() {
        if below + c as usize > m {
            bin = b as u32;
            break;
        }
        below += c as usize;
    }
    // The bin's values to the front, in place.
    let mut n = 0;
    for i in 0..v.len() {
        if key(v[i]) >> 16 == bin {
            v.swap(n, i);
            n += 1;
        }
    }
    *v[..n].select_nth_unstable_by(m - below, f32::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`rank_value`] against `select_nth_unstable_by`: ranks across many
    /// values with ties, zeros of both signs, negatives, infinities and NaN.
    #[test]
    fn rank_value_is_the_selected_value() {
        let mut next = crate::testing::xorshift64(0x2545_f491_4f6c_dd1d);
        for case in 0..40 {
            let n = 1 + (next() % 5000) as usize;
            let v: Vec<f32> = (0..n)
                .map(|_| match next() % 16 {
                    0 => 0.0,
                    1 => -0.0,
                    2 if case % 2 == 0 => f32::NAN,
                    3 if case % 3 == 0 => -f32::INFINITY,
                    4 => 0.25,
                    5 if case % 4 == 0 => -((next() % 1000) as f32) * 1e-3,
                    _ => (next() % 100_000) as f32 * 1e-6,
                })
                .collect();
            for m in [0, n / 2, n - 1, (next() as usize) % n] {
                let mut a = v.clone();
                let want = *a.select_nth_unstable_by(m, f32::total_cmp).1;
                let mut b = v.clone();
                assert_eq!(
                    rank_value(&mut b, m).to_bits(),
                    want.to_bits(),
                    "n {n} m {m}"
                );
            }
        }
    }

    /// The inline logarithm against `f32::ln`: the same bits where the
    /// platform's `logf` is glibc's FMA build (x86-64 with FMA), within an
    /// ulp elsewhere; on a stride through all positive f32 (normal,
    /// subnormal, zero, infinity, NaN; `TRICHOMETRY_LN_STRIDE`, 251 by
    /// default, 1 for all of them) and every value around 1.
    #[test]
    fn inline_logarithm_has_the_bits_of_f32_ln() {
        let exact = cfg!(all(
            target_arch = "x86_64",
            target_os = "linux",
            target_env = "gnu"
        )) && std::arch::is_x86_feature_detected!("fma");
        let stride: usize = std::env::var("TRICHOMETRY_LN_STRIDE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(251);
        let mut bad = 0usize;
        let mut check = |vals: &[f32]| {
            let mut got = vals.to_vec();
            neg_ln_row(&mut got);
            for (&x, &g) in vals.iter().zip(&got) {
                let want = -x.ln();
                let same = g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan());
                let close = (g - want).abs() <= 1.5 * f32::EPSILON * want.abs().max(1e-30);
                if !(same || (!exact && close)) {
                    bad += 1;
                }
            }
        };
        let all = (0..=0x7fc0_0000u32).step_by(stride).map(f32::from_bits);
        let mut buf = Vec::with_capacity(4096);
        for x in all.chain((0x3f7f_0000..0x3f81_0000u32).map(f32::from_bits)) {
            buf.push(x);
            if buf.len() == 4096 {
                check(&buf);
                buf.clear();
            }
        }
        check(&buf);
        check(&[0.0, -1.0, f32::INFINITY, f32::NAN, 1e-4, 1.0, 0.5, 2.0]);
        assert_eq!(bad, 0);
    }
}
