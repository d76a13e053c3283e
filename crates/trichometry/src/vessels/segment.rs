//! Coarse level: candidate capillaries on a coarse grid (≈ 10 µm pixels),
//! read from the input in one pass. Haemoglobin channel, exclusions (hair,
//! glare, white dots, dark hair left unmasked), skin background, the
//! multi-scale Hessian and a permissive hysteresis: every capillary must
//! become a candidate here; the fine level ([`super::refine`]) decides.

use super::VesselParams;
use crate::color::LinearRgb;
use crate::image::{Labels, Mask, Plane};
use crate::kernels::{
    block_median_background_interp_where, dilate_square_rows_into, fir_for, gaussian_blur,
    gaussian_blur_reusing, global_median, label_seeded_into, lerp, reuse_len,
    ridge_or_blob_contrast_bands, CentresInterp, Components, Polarity, HESSIAN_BAND_ROWS,
};
use rayon::prelude::*;

/// Peak σ²-normalised ridge response of a bar of contrast 1 at its best
/// scale (kernels::hessian module docs): divides the ridge strength into
/// contrast units.
pub(crate) const RIDGE_PEAK: f32 = 0.484;
/// Peak blob response (√det) of a disc of contrast 1 at its best scale.
pub(crate) const BLOB_PEAK: f32 = 0.368;

/// Natural logarithm of `x` (finite, > 0) to about 1e-7 relative: exponent
/// from the bits, mantissa reduced to [√½, √2), then the atanh series.
/// Written out so that loops over planes vectorise (`f32::ln` is a libm
/// call per value); deterministic, no table.
#[inline(always)]
pub(crate) fn ln_fast(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    e += big as i32;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0)))));
    e as f32 * std::f32::consts::LN_2 + p
}

/// Minimum valid samples of a background block (every other pixel sampled):
/// 5 % of the block.
pub(crate) fn min_block_samples(block: usize) -> usize {
    (block * block).div_ceil(20)
}

/// The coarse level's result (its flag planes borrowed from the caller's
/// buffer).
pub(crate) struct Coarse<'a> {
    /// Coarse grid width.
    pub w: usize,
    /// Coarse grid height.
    pub h: usize,
    /// Input pixels per coarse pixel (each direction).
    pub f: usize,
    /// Background of ln R − ln G (coarse grid).
    pub bg_h: CentresInterp,
    /// Background of ln G.
    pub bg_g: CentresInterp,
    /// Background of ln R.
    pub bg_r: CentresInterp,
    /// Background of ln luminance.
    pub bg_y: CentresInterp,
    /// Coarse pixels with Hessian evidence of a vessel (vesselness at the
    /// coarse seed threshold): fine seeds must lie on one.
    pub vseed: &'a [bool],
    /// Candidates (one label per connected candidate), 0 elsewhere.
    pub labels: Labels,
    /// Coarse pixels that are analysable skin (for the ring).
    pub ok: &'a [bool],
    /// Number of analysable input pixels (valid and not hair).
    pub analysable_px: usize,
    /// Robust σ of the sensor noise of the contrast `d` per coarse pixel
    /// ([`contrast_noise_sigma`]; ln units).
    pub noise_sigma: f32,
    /// Robust σ of the fine level's smoothed contrast on skin
    /// ([`fine_contrast_noise_sigma`]; ln units; 0 when too little skin).
    pub fine_noise_sigma: f32,
}

/// The coarse planes of one pass over the input ([`read_planes`]: ln R,
/// ln G, ln luminance; the box means of R, G, B and the flags are written
/// where the caller says), kept between calls by a
/// [`super::VesselScratch`]. Their contents do not matter: every value is
/// written before it is read.
#[derive(Default)]
pub(crate) struct CoarseBufs {
    lnr: Vec<f32>,
    lng: Vec<f32>,
    lny: Vec<f32>,
    /// Runs and union–find of the candidates' labelling.
    comps: Components,
    /// Lightly smoothed contrast plane ([`gaussian_blur_reusing`]; only
    /// when its σ is no Hessian scale).
    smooth: Vec<f32>,
    /// Intermediate of a recursive blur (σ ≥ 8 coarse px only).
    blur_inter: Vec<f32>,
}

impl CoarseBufs {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        4 * [
            &self.lnr,
            &self.lng,
            &self.lny,
            &self.smooth,
            &self.blur_inter,
        ]
        .into_iter()
        .map(|v| v.capacity())
        .sum::<usize>()
            + self.comps.bytes()
    }
}

/// Buffers of one [`read_planes`] task, reused from coarse row to row.
struct RowScratch {
    sr: Vec<f32>,
    sg: Vec<f32>,
    sb: Vec<f32>,
    flag: Vec<u8>,
}

/// Box-averaged planes of one pass over the input.
struct Planes {
    lnr: Plane,
    lng: Plane,
    lny: Plane,
    analysable_px: usize,
}

/// The planes of one pass over the input; the box means of linear R, G, B
/// of each coarse pixel as the bits of their `f32` values in `box_rgb`,
/// and the flags of the coarse pixels wholly valid and clear of hair
/// (`flags[0]`) and of those valid but touching hair (`flags[1]`) (each the
/// coarse grid's size; their old contents do not matter).
fn read_planes(
    rgb: &LinearRgb,
    valid: &Mask,
    hair: Option<&Mask>,
    f: usize,
    bufs: &mut CoarseBufs,
    box_rgb: [&mut [u32]; 3],
    flags: [&mut [bool]; 2],
) -> Planes {
    let (w0, h0) = (rgb.width, rgb.height);
    let (w, h) = (w0.div_ceil(f), h0.div_ceil(f));
    let hm: &[bool] = hair.map(|m| &m.data[..]).unwrap_or(&[]);
    // Every value of the eight planes is written below (the buffers' old
    // contents do not matter).
    let mut lnr = reuse_len(std::mem::take(&mut bufs.lnr), w * h);
    let mut lng = reuse_len(std::mem::take(&mut bufs.lng), w * h);
    let mut lny = reuse_len(std::mem::take(&mut bufs.lny), w * h);
    let [br, bg, bb] = box_rgb;
    let [fine, hairy] = flags;
    for p in [&*br, &*bg, &*bb] {
        assert_eq!(p.len(), w * h, "box-mean plane size");
    }
    for p in [&*fine, &*hairy] {
        assert_eq!(p.len(), w * h, "flag plane size");
    }
    let mut counts = vec![0usize; h];
    lnr.par_chunks_mut(w)
        .zip(lng.par_chunks_mut(w))
        .zip(lny.par_chunks_mut(w))
        .zip(fine.par_chunks_mut(w).zip(hairy.par_chunks_mut(w)))
        .zip(br.par_chunks_mut(w))
        .zip(bg.par_chunks_mut(w).zip(bb.par_chunks_mut(w)))
        .zip(counts.par_iter_mut())
        .enumerate()
        .for_each_init(
            || RowScratch {
                sr: vec![0.0f32; w0],
                sg: vec![0.0f32; w0],
                sb: vec![0.0f32; w0],
                flag: vec![0u8; w0],
            },
            |scratch, (cy, ((((((lr, lg), ly), (fi, ha)), rr), (gg, bb)), cnt))| {
                let y0 = cy * f;
                let rows = (y0, (y0 + f).min(h0));
                let outs = ([lr, lg, ly], [rr, gg, bb], [fi, ha]);
                *cnt = read_row(rgb, &valid.data, hm, f, rows, scratch, outs);
            },
        );
    Planes {
        lnr: Plane::from_vec(w, h, lnr),
        lng: Plane::from_vec(w, h, lng),
        lny: Plane::from_vec(w, h, lny),
        analysable_px: counts.iter().sum(),
    }
}

/// Output rows of [`read_row`]: ln R, ln G, ln luminance, the box means of
/// R, G, B (`f32` bits), and the flags (clear, hair).
type RowPlanes<'a> = ([&'a mut [f32]; 3], [&'a mut [u32]; 3], [&'a mut [bool]; 2]);

crate::kernels::simd::dispatch! {
    /// One coarse row of [`read_planes`] (input rows `rows.0..rows.1`);
    /// returns its analysable input pixels.
    fn read_row(rgb: &LinearRgb, valid: &[bool], hm: &[bool], f: usize, rows: (usize, usize), scratch: &mut RowScratch, outs: RowPlanes<'_>) -> usize => read_row_body
}

/// [`read_row`] (compiled for AVX2 and AVX-512 too: the sums, flags and
/// logarithms vectorise wider; the same operations, the same bits).
#[inline(always)]
fn read_row_body(
    rgb: &LinearRgb,
    valid: &[bool],
    hm: &[bool],
    f: usize,
    rows: (usize, usize),
    scratch: &mut RowScratch,
    outs: RowPlanes<'_>,
) -> usize {
    let w0 = rgb.width;
    let (y0, y1) = rows;
    let ([lr, lg, ly], [rr, gg, bb], [fi, ha]) = outs;
    let inv_rows = 1.0 / (y1 - y0) as f32;
    let RowScratch { sr, sg, sb, flag } = scratch;
    // Column sums of the f rows first (contiguous, vectorises): the
    // first row copied (0 + v is v; a zero of either sign ends as
    // the 1e-4 floor alike), the others added; every buffer is
    // overwritten for each coarse row.
    flag.fill(0);
    let mut n_ok = 0usize;
    for y in y0..y1 {
        let row = y * w0..(y + 1) * w0;
        for (s, p) in [(&mut *sr, &rgb.r), (&mut *sg, &rgb.g), (&mut *sb, &rgb.b)] {
            if y == y0 {
                s.copy_from_slice(&p[row.clone()]);
            } else {
                for (a, &v) in s.iter_mut().zip(&p[row.clone()]) {
                    *a += v;
                }
            }
        }
        let vrow = &valid[row.clone()];
        if hm.is_empty() {
            for (fl, &v) in flag.iter_mut().zip(vrow) {
                *fl |= (!v as u8) << 1;
                n_ok += v as usize;
            }
        } else {
            for ((fl, &v), &hh) in flag.iter_mut().zip(vrow).zip(&hm[row]) {
                *fl |= ((!v as u8) << 1) | (hh as u8);
                n_ok += (v && !hh) as usize;
            }
        }
    }
    let sums = ([&sr[..], &sg[..], &sb[..]], &flag[..]);
    let outs = (
        [&mut rr[..], &mut gg[..], &mut bb[..]],
        [&mut fi[..], &mut ha[..]],
    );
    match f {
        2 => box_row::<2>(sums, inv_rows, outs),
        3 => box_row::<3>(sums, inv_rows, outs),
        4 => box_row::<4>(sums, inv_rows, outs),
        5 => box_row::<5>(sums, inv_rows, outs),
        6 => box_row::<6>(sums, inv_rows, outs),
        7 => box_row::<7>(sums, inv_rows, outs),
        8 => box_row::<8>(sums, inv_rows, outs),
        _ => box_row_any(f, sums, inv_rows, outs),
    }
    // The logarithms in their own pass over the row: it vectorises
    // (inside the box loop above it does not).
    for (l, &r) in lr.iter_mut().zip(rr.iter()) {
        *l = ln_fast(f32::from_bits(r).max(1e-4));
    }
    for (l, &g) in lg.iter_mut().zip(gg.iter()) {
        *l = ln_fast(f32::from_bits(g).max(1e-4));
    }
    for (((l, &r), &g), &b) in ly.iter_mut().zip(rr.iter()).zip(gg.iter()).zip(bb.iter()) {
        let (r, g, b) = (f32::from_bits(r), f32::from_bits(g), f32::from_bits(b));
        *l = ln_fast((0.2126 * r + 0.7152 * g + 0.0722 * b).max(1e-4));
    }
    n_ok
}

/// Column sums of a box row (`[r, g, b]`) and their flags.
type RowSums<'a> = ([&'a [f32]; 3], &'a [u8]);
/// Box means (`[r, g, b]`, `f32` bits) and flags of a coarse row: the
/// boxes wholly valid and clear of hair, and those valid but touching hair.
type RowOut<'a> = ([&'a mut [u32]; 3], [&'a mut [bool]; 2]);

/// Means and flags of the boxes of `F` columns of one coarse row (the
/// partial last box by [`box_row_any`]): with `F` known the short sums
/// unroll. Each sum is taken left to right, as in [`box_row_any`].
#[inline(always)]
fn box_row<const F: usize>(sums: RowSums<'_>, inv_rows: f32, out: RowOut<'_>) {
    let ([sr, sg, sb], flag) = sums;
    let ([rr, gg, bb], [fi, ha]) = out;
    let full = sr.len() / F;
    let inv = inv_rows / F as f32;
    let sum = |c: &[f32]| (c.iter().sum::<f32>() * inv).to_bits();
    for (o, c) in rr[..full].iter_mut().zip(sr.chunks_exact(F)) {
        *o = sum(c);
    }
    for (o, c) in gg[..full].iter_mut().zip(sg.chunks_exact(F)) {
        *o = sum(c);
    }
    for (o, c) in bb[..full].iter_mut().zip(sb.chunks_exact(F)) {
        *o = sum(c);
    }
    for ((o, hh), c) in fi[..full]
        .iter_mut()
        .zip(ha[..full].iter_mut())
        .zip(flag.chunks_exact(F))
    {
        let fl = c.iter().fold(0u8, |a, &v| a | v);
        (*o, *hh) = (fl == 0, fl == 1);
    }
    if full < rr.len() {
        let x0 = full * F;
        box_row_any(
            F,
            ([&sr[x0..], &sg[x0..], &sb[x0..]], &flag[x0..]),
            inv_rows,
            (
                [&mut rr[full..], &mut gg[full..], &mut bb[full..]],
                [&mut fi[full..], &mut ha[full..]],
            ),
        );
    }
}

/// [`box_row`] for any box width `f` (and partial boxes at the end).
fn box_row_any(f: usize, sums: RowSums<'_>, inv_rows: f32, out: RowOut<'_>) {
    let ([sr, sg, sb], flag) = sums;
    let ([rr, gg, bb], [fi, ha]) = out;
    let w0 = sr.len();
    for cx in 0..rr.len() {
        let x0 = cx * f;
        let x1 = (x0 + f).min(w0);
        let inv = inv_rows / (x1 - x0) as f32;
        rr[cx] = (sr[x0..x1].iter().sum::<f32>() * inv).to_bits();
        gg[cx] = (sg[x0..x1].iter().sum::<f32>() * inv).to_bits();
        bb[cx] = (sb[x0..x1].iter().sum::<f32>() * inv).to_bits();
        let fl = flag[x0..x1].iter().fold(0u8, |a, &v| a | v);
        (fi[cx], ha[cx]) = (fl == 0, fl == 1);
    }
}

/// `ok` with every pixel within `r` (square) of a `flag` pixel removed
/// (`w × h`). By bands of rows in parallel, each dilating the flags of its
/// rows and the `r` rows either side in buffers of its own (the rows
/// within `r` are all a row's dilation reads): no dilated plane.
pub(crate) fn clear_around(ok: &mut [bool], flag: &[bool], w: usize, h: usize, r: usize) {
    if w == 0 || !flag.par_iter().any(|&b| b) {
        return;
    }
    ok.par_chunks_mut(CLEAR_BAND_ROWS * w)
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(rows, grown), (b, okb)| {
                let y0 = b * CLEAR_BAND_ROWS;
                let y1 = y0 + okb.len() / w;
                let (ya, yb) = (y0.saturating_sub(r), (y1 + r).min(h));
                let m = &flag[ya * w..yb * w];
                if !m.contains(&true) {
                    return;
                }
                dilate_square_rows_into(m, w, yb - ya, r, rows, grown);
                let off = (y0 - ya) * w;
                let n = okb.len();
                for (o, &g) in okb.iter_mut().zip(&grown[off..off + n]) {
                    *o = *o && !g;
                }
            },
        );
}

/// Rows per parallel task of [`clear_around`].
const CLEAR_BAND_ROWS: usize = 64;

/// The interpolated rows of two backgrounds (`CentresInterp::row_parts`).
type BgRows<'a> = ((&'a [f32], &'a [f32], f32), (&'a [f32], &'a [f32], f32));

crate::kernels::simd::dispatch! {
    /// One row of the exclusion flags (bright against the luminance
    /// background `bgs.0` by `be`, dark in red against the redness one
    /// `bgs.1` by `de`) and of the dark flags, and ln R − ln G in place of
    /// ln R (`lr`).
    fn exclusion_row(bgs: BgRows<'_>, thr: (f32, f32), lg: &[f32], ly: &[f32], flags: (&mut [bool], &mut [bool]), lr: &mut [f32]) => exclusion_row_body
}

/// [`exclusion_row`] (also in AVX2/AVX-512 copies; the same bits).
#[inline(always)]
fn exclusion_row_body(
    bgs: BgRows<'_>,
    thr: (f32, f32),
    lg: &[f32],
    ly: &[f32],
    flags: (&mut [bool], &mut [bool]),
    lr: &mut [f32],
) {
    let ((ty0, by0, tyy), (tr0, br0, tyr)) = bgs;
    let (be, de) = thr;
    let (erow, drow) = flags;
    // By zipped slices, without short-circuits: it vectorises.
    for ((((e, dk), r), (&g, &l)), ((&t, &b), (&tr, &br))) in erow
        .iter_mut()
        .zip(drow.iter_mut())
        .zip(lr.iter_mut())
        .zip(lg.iter().zip(ly))
        .zip(ty0.iter().zip(by0).zip(tr0.iter().zip(br0)))
    {
        let by = lerp(t, b, tyy);
        let br = lerp(tr, br, tyr);
        let red = *r - br;
        *e = (l - by >= be) | (red <= -de);
        *dk = red <= -SKIN_SAMPLE_RED_DROP;
        *r -= g;
    }
}

crate::kernels::simd::dispatch! {
    /// One row of [`contrast_filled`]'s differences: `d − background` where
    /// analysable, else 0.
    fn contrast_row(top: &[f32], bot: &[f32], ty: f32, ok: &[bool], d: &mut [f32]) => contrast_row_body
}

/// [`contrast_row`] (also in AVX2/AVX-512 copies; the same bits).
#[inline(always)]
fn contrast_row_body(top: &[f32], bot: &[f32], ty: f32, ok: &[bool], d: &mut [f32]) {
    for (((v, &o), &t), &b) in d.iter_mut().zip(ok).zip(top).zip(bot) {
        // The background's value as in its plane.
        let bv = lerp(t, b, ty);
        *v = if o { *v - bv } else { 0.0 };
    }
}

/// Contrast plane d = h − background, with excluded pixels filled by a
/// normalised convolution of their analysable neighbours that falls back to
/// 0 (the background) where no neighbour is near: hair edges do not ring.
/// Formed in place of `h` (no fresh plane).
fn contrast_filled(
    mut d: Vec<f32>,
    bg: &CentresInterp,
    ok: &[bool],
    w: usize,
    hh: usize,
    sigma: f32,
) -> Vec<f32> {
    d.par_chunks_mut(w.max(1))
        .enumerate()
        .for_each(|(y, drow)| {
            let (top, bot, ty) = bg.row_parts(y);
            contrast_row(top, bot, ty, &ok[y * w..(y + 1) * w], drow);
        });
    if ok.par_iter().all(|&o| o) {
        return d;
    }
    let Some(fir) = fir_for(sigma) else {
        // σ outside the FIR range: whole planes.
        return fill_whole(d, ok, w, hh, sigma);
    };
    // The blurs only over bands of rows holding an excluded pixel (a few
    // percent of the rows): `Fir::band` gives the bits of the whole-plane
    // blur row by row. The weights' plane is built over the band and the
    // filter's reach, which holds every row the band reads (clamped at the
    // image edges as the whole plane is).
    const BAND: usize = 8;
    let r = fir.radius();
    let dp = Plane::from_vec(w, hh, d);
    let filled: Vec<(usize, Vec<f32>)> = (0..hh.div_ceil(BAND))
        .into_par_iter()
        .filter_map(|b| {
            let (y0, y1) = (b * BAND, ((b + 1) * BAND).min(hh));
            if ok[y0 * w..y1 * w].iter().all(|&o| o) {
                return None;
            }
            let (ya, yb) = (y0.saturating_sub(r), (y1 + r).min(hh));
            let wts = Plane::from_vec(
                w,
                yb - ya,
                ok[ya * w..yb * w].iter().map(|&o| o as u8 as f32).collect(),
            );
            let mut tmp = Vec::new();
            let mut num = vec![0.0f32; (y1 - y0) * w];
            let mut den = vec![0.0f32; (y1 - y0) * w];
            fir.band(&dp, y0, y1, &mut num, &mut tmp);
            fir.band(&wts, y0 - ya, y1 - ya, &mut den, &mut tmp);
            for (n, &dn) in num.iter_mut().zip(&den) {
                *n /= dn + FILL_PRIOR;
            }
            Some((y0, num))
        })
        .collect();
    let mut d = dp.data;
    for (y0, vals) in filled {
        let band = y0 * w..y0 * w + vals.len();
        for ((v, &f), &o) in d[band.clone()].iter_mut().zip(&vals).zip(&ok[band]) {
            if !o {
                *v = f;
            }
        }
    }
    d
}

/// Drop of ln R below the local skin's (`bg_r`) past which a pixel is no
/// sample of the skin's redness background (ln units; hair and its edges
/// darken red, blood hardly does). With it the unseen-seed count error
/// (seeds 100–115 and 200–207) fell from 6.8 / 7.4 / 8.8 % to 6.4 / 7.0 /
/// 8.1 % at 1.5 / 3.5 / 5 µm/px (0.1: 8.3 % at 5 µm/px, 0.5: 8.6 %).
const SKIN_SAMPLE_RED_DROP: f32 = 0.2;

/// Weight of the background prior in the normalised-convolution fill.
const FILL_PRIOR: f32 = 0.05;

/// [`contrast_filled`]'s fill with whole-plane blurs (σ outside the FIR
/// range; the reference its banded path is tested against).
fn fill_whole(d: Vec<f32>, ok: &[bool], w: usize, hh: usize, sigma: f32) -> Vec<f32> {
    let dp = Plane::from_vec(w, hh, d);
    let num = gaussian_blur(&dp, sigma);
    let mut d = dp.data;
    let den = gaussian_blur(
        &Plane::from_vec(w, hh, ok.iter().map(|&o| o as u8 as f32).collect()),
        sigma,
    );
    d.par_iter_mut()
        .zip(ok.par_iter())
        .zip(num.data.par_iter().zip(den.data.par_iter()))
        .for_each(|((v, &o), (&n, &dn))| {
            if !o {
                *v = n / (dn + FILL_PRIOR);
            }
        });
    d
}

/// The coarse level (module docs). `f` input pixels per coarse pixel. The
/// planes of the pass over the input are taken from `bufs`, and put back
/// there when `keep` (else freed as soon as they are no longer needed);
/// the box means of linear R, G, B are written into `box_rgb` (the bits of
/// their `f32` values), and the flag planes of the call are `flags` (the
/// analysable skin and the coarse seeds of the result among them). Each of
/// these is the coarse grid's size; their old contents do not matter.
#[allow(clippy::too_many_arguments)]
pub(crate) fn coarse<'a>(
    rgb: &LinearRgb,
    valid: &Mask,
    hair: Option<&Mask>,
    (f, ff): (usize, usize),
    um: f64,
    params: &VesselParams,
    bufs: &mut CoarseBufs,
    keep: bool,
    box_rgb: [&mut [u32]; 3],
    flags: [&'a mut [bool]; 4],
) -> Coarse<'a> {
    // Within the call, a flag plane no longer needed holds the next one
    // (every value of each is written): the exclusions the hair flags', the
    // candidates the exclusions', the strong pixels the dark ones'.
    let [ok, excl, dark, vseed] = flags;
    let pl = read_planes(rgb, valid, hair, f, bufs, box_rgb, [&mut *ok, &mut *excl]);
    let (w, h) = (rgb.width.div_ceil(f), rgb.height.div_ceil(f));
    let block = (params.background_block_um / um).round().max(4.0) as usize;
    let minb = min_block_samples(block);
    // Backgrounds as interpolators: read row by row here and at points by
    // the windows (no coarse planes of them). Their samples are given by
    // predicates, asked only at the pixels sampled (no mask planes).
    macro_rules! bgf {
        ($v:expr, $ok:expr) => {
            block_median_background_interp_where($v, $ok, block, minb)
        };
    }
    let margin = (params.hair_margin_um / um).ceil() as usize;
    // The analysable pixels less the hair margin.
    clear_around(ok, excl, w, h, margin);
    // White/yellow dots and scales (bright), hair the hair stage left
    // unmasked (dark in red): excluded with the hair margin. Their
    // backgrounds are the skin's: pixels darker in red than the image's
    // skin by `dark_red_exclude` (unmasked hair) are no samples of them, or
    // a block mostly under unmasked hair would take the hair for the skin
    // (the skin there then looks bright, and is excluded as a white dot).
    let (be, de) = (params.bright_exclude as f32, params.dark_red_exclude as f32);
    let skin_r = global_median(&pl.lnr, ok, 3);
    let ok_bg = |i: usize| ok[i] && pl.lnr.data[i] - skin_r > -de;
    let bg_y = bgf!(&pl.lny, ok_bg);
    let bg_r0 = bgf!(&pl.lnr, ok_bg);
    // ln R − ln G in place of ln R (not read after this pass): no fresh
    // plane.
    let Planes {
        lnr: mut hch,
        lng,
        lny,
        analysable_px,
    } = pl;
    // `dark`: pixels darker in red than the skin by `SKIN_SAMPLE_RED_DROP`,
    // no samples of the skin's redness (below).
    let wr = w.max(1);
    excl.par_chunks_mut(wr)
        .zip(dark.par_chunks_mut(wr))
        .zip(hch.data.par_chunks_mut(wr))
        .zip(lng.data.par_chunks(wr).zip(lny.data.par_chunks(wr)))
        .enumerate()
        .for_each(|(y, (((erow, drow), lr), (lg, ly)))| {
            let bgs = (bg_y.row_parts(y), bg_r0.row_parts(y));
            exclusion_row(bgs, (be, de), lg, ly, (erow, drow), lr);
        });
    clear_around(ok, excl, w, h, margin);
    // The redness background's samples: the analysable skin less the
    // pixels darker in red than the skin by `SKIN_SAMPLE_RED_DROP` (light
    // hair the hair stage left, hair edges, shadows: melanin absorbs red,
    // haemoglobin hardly does), too faint for `dark_red_exclude` but
    // enough of a block's samples to shift its median.
    // The fine level's noise, read before the contrast takes the place of
    // ln R − ln G (`hch` holds ln R − ln G here).
    let fine_noise_sigma = fine_contrast_noise_sigma(
        rgb,
        &hch.data,
        ok,
        (w, h),
        (f, ff),
        fine_blur_sigma(params, um / f as f64 * ff as f64),
    );
    if keep {
        bufs.lny = lny.data;
    } else {
        drop(lny);
    }
    let bg_h = bgf!(&hch, |i: usize| ok[i] && !dark[i]);
    let d = contrast_filled(
        hch.data,
        &bg_h,
        ok,
        w,
        h,
        (params.inpaint_sigma_um / um) as f32,
    );
    let mut sigmas: Vec<f32> = params
        .scales_um
        .iter()
        .map(|&s| ((s / um) as f32).max(0.7))
        .collect();
    sigmas.dedup();
    let d = Plane::from_vec(w, h, d);
    let noise_sigma = contrast_noise_sigma(&d.data, ok, w, h);
    let pf = params.proposal_fraction as f32;
    let (lo, hi) = (
        pf * params.low_contrast as f32,
        pf * params.high_contrast as f32,
    );
    // The candidates need the contrast lightly smoothed: at the first
    // scale's σ when that is ≤ 1 px, the Hessian's own smoothing (handed
    // over band by band), else a plane of its own.
    let s_ds = sigmas[0].min(1.0);
    // The smoothed contrast's tests at no less than the noise floor
    // (noise-aware thresholds): `d`'s white noise blurred at σ = `s_ds`.
    let (lo_ds, hi_ds) = noise_floored((lo, hi), noise_sigma * white_noise_blur_gain(s_ds));
    let ds_plane = (!sigmas.contains(&s_ds)).then(|| {
        gaussian_blur_reusing(
            &d,
            s_ds,
            &mut bufs.blur_inter,
            std::mem::take(&mut bufs.smooth),
        )
        .data
    });
    // Vesselness in contrast units (the larger of ridge and blob strength,
    // each divided by its peak response to a structure of contrast 1),
    // read band by band into the flags: candidates (analysable, vesselness
    // and smoothed contrast ≥ the low threshold), the coarse seeds
    // (vesselness ≥ the high one) and the strong pixels (both ≥ the high
    // one) that keep a candidate.
    let (cand, strong) = (excl, dark);
    let band = HESSIAN_BAND_ROWS * w.max(1);
    ridge_or_blob_contrast_bands(
        &d,
        &sigmas,
        Polarity::Bright,
        RIDGE_PEAK,
        BLOB_PEAK,
        s_ds,
        cand.par_chunks_mut(band)
            .zip(vseed.par_chunks_mut(band))
            .zip(strong.par_chunks_mut(band)),
        |y0, v, sm, ((c, vs), st)| {
            let ds = match (sm, &ds_plane) {
                (Some(sm), _) => sm,
                (None, Some(p)) => &p[y0 * w..y0 * w + v.len()],
                (None, None) => unreachable!("a smoothed plane when σ is no scale"),
            };
            let o = &ok[y0 * w..y0 * w + v.len()];
            // Without short-circuits: it vectorises.
            for (((((c, vs), st), &o), &vx), &dx) in c
                .iter_mut()
                .zip(vs.iter_mut())
                .zip(st.iter_mut())
                .zip(o)
                .zip(v)
                .zip(ds)
            {
                *c = o & (vx >= lo) & (dx >= lo_ds);
                *vs = vx >= hi;
                *st = (vx >= hi) & (dx >= hi_ds);
            }
        },
    );
    if let Some(p) = ds_plane {
        bufs.smooth = p;
    }
    if keep {
        bufs.lnr = d.data;
    } else {
        drop(d);
    }
    // Candidates with a strong pixel, numbered 1, 2, … in raster order of
    // their first pixels.
    let mut data = Vec::new();
    let next = label_seeded_into(cand, strong, w, h, &mut bufs.comps, &mut data);
    if !keep {
        bufs.comps = Components::default();
    }
    // Background of ln G over the skin left after the exclusions (the fine
    // level's haemoglobin check; its hair check uses that of ln R).
    let bg_g = bgf!(&lng, |i: usize| ok[i]);
    if keep {
        bufs.lng = lng.data;
    } else {
        bufs.blur_inter = Vec::new();
        bufs.smooth = Vec::new();
    }
    let bg_r = bg_r0;
    Coarse {
        w,
        h,
        f,
        bg_h,
        bg_g,
        bg_r,
        bg_y,
        vseed,
        labels: Labels {
            width: w,
            height: h,
            data,
            count: next,
        },
        ok,
        analysable_px,
        noise_sigma,
        fine_noise_sigma,
    }
}

/// Multiple of a test statistic's noise σ that a detection threshold
/// reaches at least: the one-sided Gaussian tail beyond 4 σ is 3.2 × 10⁻⁵,
/// under one false seed cell per 30 000 independent cells (a 514 × 386
/// image at 3.5 µm/px smoothed at σ = 1 cell holds about 16 000), before
/// the seed count and the haemoglobin checks.
pub(crate) const NOISE_FLOOR_SIGMAS: f32 = 4.0;

/// Hysteresis thresholds `(lo, hi)` raised to the noise floor of a
/// statistic of noise σ `sigma`: `hi` to at least [`NOISE_FLOOR_SIGMAS`] σ,
/// `lo` by the same factor (the hysteresis ratio kept). Unchanged while
/// `hi` lies above the floor (clean images).
pub(crate) fn noise_floored((lo, hi): (f32, f32), sigma: f32) -> (f32, f32) {
    let floor = NOISE_FLOOR_SIGMAS * sigma;
    if floor > hi {
        (lo * (floor / hi), floor)
    } else {
        (lo, hi)
    }
}

/// Factor by which a Gaussian blur of σ `s` px scales the σ of white
/// noise: 1 / (2 √π s).
pub(crate) fn white_noise_blur_gain(s: f32) -> f32 {
    1.0 / (2.0 * std::f32::consts::PI.sqrt() * s)
}

/// Fewest residuals [`contrast_noise_sigma`] estimates from (else 0: no
/// floor).
const MIN_NOISE_SAMPLES: usize = 64;

/// Most residuals [`contrast_noise_sigma`] takes (a grid subsample).
const MAX_NOISE_SAMPLES: usize = 65_536;

/// Robust σ of the white noise of the contrast plane `d` (`w × h`): the
/// median absolute residual of `d` against the mean of its 4 neighbours,
/// over pixels whose 5 values are analysable (`ok`), × 1.4826 (MAD to σ of
/// a Gaussian) / √1.25 (the residual of white noise of σ has σ √1.25).
/// Vessels cover a few percent of the skin: the median reads the noise
/// (and the skin's fine texture), not them.
pub(crate) fn contrast_noise_sigma(d: &[f32], ok: &[bool], w: usize, h: usize) -> f32 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    // On a grid of every `step`-th row and column: at most about
    // `MAX_NOISE_SAMPLES` residuals (the median's relative standard error
    // ≈ 1.2 / √n stays under 0.5 %), cheap on any image.
    let step = ((w - 2) * (h - 2))
        .div_ceil(MAX_NOISE_SAMPLES)
        .isqrt()
        .max(1);
    let step = if (w - 2).div_ceil(step) * (h - 2).div_ceil(step) > MAX_NOISE_SAMPLES {
        step + 1
    } else {
        step
    };
    let mut res: Vec<f32> = (1..h - 1)
        .into_par_iter()
        .step_by(step)
        .flat_map_iter(|y| {
            (1..w - 1).step_by(step).filter_map(move |x| {
                let i = y * w + x;
                let all = ok[i] & ok[i - 1] & ok[i + 1] & ok[i - w] & ok[i + w];
                all.then(|| (d[i] - 0.25 * (d[i - 1] + d[i + 1] + d[i - w] + d[i + w])).abs())
            })
        })
        .collect();
    if res.len() < MIN_NOISE_SAMPLES {
        return 0.0;
    }
    let mid = res.len() / 2;
    let (_, &mut mad, _) = res.select_nth_unstable_by(mid, f32::total_cmp);
    mad * 1.4826 / 1.25f32.sqrt()
}

/// σ (cells) of the fine level's light smoothing of the contrast, on
/// cells of `um_f` µm: the first Hessian scale, within 0.7 to 1 cell.
pub(crate) fn fine_blur_sigma(params: &VesselParams, um_f: f64) -> f32 {
    ((params.scales_um.first().copied().unwrap_or(4.0) / um_f) as f32).clamp(0.7, 1.0)
}

/// Radius (cells) of the fine level's smoothing (`refine`'s blur).
pub(crate) const FINE_BLUR_R: usize = 3;

/// Normalised Gaussian taps of σ `sigma` over `2 FINE_BLUR_R + 1` cells.
#[inline(always)]
pub(crate) fn fine_blur_taps(sigma: f32) -> [f32; 2 * FINE_BLUR_R + 1] {
    let mut k = [0.0f32; 2 * FINE_BLUR_R + 1];
    for (i, kv) in k.iter_mut().enumerate() {
        let t = i as f32 - FINE_BLUR_R as f32;
        *kv = (-0.5 * t * t / (sigma * sigma)).exp();
    }
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Most points [`fine_contrast_noise_sigma`] samples (a grid subsample).
const MAX_FINE_NOISE_SAMPLES: usize = 4_096;

/// Robust σ of the statistic the fine level's thresholds test — ln R/G of
/// cells of `ff × ff` input pixels, blurred at `sig` cells — on skin,
/// whatever the noise's spectrum: at points on a grid of coarse pixels
/// (`f` input pixels each) whose 5 × 5 coarse neighbourhood is analysable
/// (`ok`), the blurred value at the centre cell less the median ln R/G
/// (`hch`) of the 16 coarse pixels of the ring around it (skin redness
/// varying over more than ≈ 5 coarse pixels is the background's; the
/// median, as vessels crossing the ring would pull a mean up), by its
/// median absolute deviation × 1.4826. JPEG quantises the chroma's
/// high frequencies away and subsamples it: sensor noise then comes out
/// correlated over blocks of 8 to 16 pixels, which the neighbour
/// residual of [`contrast_noise_sigma`] does not see and cell averaging
/// does not reduce (very dark skin at L* 28: that residual's white-noise
/// model gives σ ≈ 0.02 for this statistic, its spread is ≈ 0.035).
/// Vessels cover a few percent of the skin: the median reads the skin.
pub(crate) fn fine_contrast_noise_sigma(
    rgb: &LinearRgb,
    hch: &[f32],
    ok: &[bool],
    (w, h): (usize, usize),
    (f, ff): (usize, usize),
    sig: f32,
) -> f32 {
    const R: usize = FINE_BLUR_R;
    if w < 5 || h < 5 {
        return 0.0;
    }
    let (w0, h0) = (rgb.width, rgb.height);
    let k = fine_blur_taps(sig);
    let step = ((w - 4) * (h - 4))
        .div_ceil(MAX_FINE_NOISE_SAMPLES)
        .isqrt()
        .max(1);
    let step = if (w - 4).div_ceil(step) * (h - 4).div_ceil(step) > MAX_FINE_NOISE_SAMPLES {
        step + 1
    } else {
        step
    };
    let mut res: Vec<f32> = (2..h - 2)
        .into_par_iter()
        .step_by(step)
        .flat_map_iter(|cy| {
            (2..w - 2).step_by(step).filter_map(move |cx| {
                // The 5 × 5 coarse neighbourhood analysable.
                for y in cy - 2..=cy + 2 {
                    if !ok[y * w + cx - 2..=y * w + cx + 2].iter().all(|&o| o) {
                        return None;
                    }
                }
                // The cell at the coarse pixel's centre and the window of
                // the blur around it, inside the neighbourhood.
                let (fxc, fyc) = ((cx * f + f / 2) / ff, (cy * f + f / 2) / ff);
                let (xa, ya) = (fxc.checked_sub(R)? * ff, fyc.checked_sub(R)? * ff);
                let (xb, yb) = ((fxc + R + 1) * ff, (fyc + R + 1) * ff);
                if xa < (cx - 2) * f
                    || ya < (cy - 2) * f
                    || xb > ((cx + 3) * f).min(w0)
                    || yb > ((cy + 3) * f).min(h0)
                {
                    return None;
                }
                let inv = 1.0 / (ff * ff) as f32;
                let mut s = 0.0f32;
                for (j, &kj) in k.iter().enumerate() {
                    let y0 = (fyc + j - R) * ff;
                    for (i, &ki) in k.iter().enumerate() {
                        let x0 = (fxc + i - R) * ff;
                        let (mut sr, mut sg) = (0.0f32, 0.0f32);
                        for y in y0..y0 + ff {
                            let row = y * w0 + x0..y * w0 + x0 + ff;
                            sr += rgb.r[row.clone()].iter().sum::<f32>();
                            sg += rgb.g[row].iter().sum::<f32>();
                        }
                        let v = ln_fast((sr * inv).max(1e-4)) - ln_fast((sg * inv).max(1e-4));
                        s += kj * ki * v;
                    }
                }
                let mut ring = [0.0f32; 16];
                let mut n = 0;
                for y in cy - 2..=cy + 2 {
                    for x in cx - 2..=cx + 2 {
                        if y.abs_diff(cy) == 2 || x.abs_diff(cx) == 2 {
                            ring[n] = hch[y * w + x];
                            n += 1;
                        }
                    }
                }
                ring.sort_unstable_by(f32::total_cmp);
                Some(s - 0.5 * (ring[7] + ring[8]))
            })
        })
        .collect();
    if res.len() < MIN_NOISE_SAMPLES {
        return 0.0;
    }
    let mid = res.len() / 2;
    let (_, &mut med, _) = res.select_nth_unstable_by(mid, f32::total_cmp);
    for v in res.iter_mut() {
        *v = (*v - med).abs();
    }
    let (_, &mut mad, _) = res.select_nth_unstable_by(mid, f32::total_cmp);
    mad * 1.4826
}

/// A `Mask` over `data` (w × h).
#[cfg(test)]
pub(crate) fn mask_of(data: Vec<bool>, w: usize, h: usize) -> Mask {
    Mask {
        width: w,
        height: h,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform values in [0, 1] from a xorshift generator seeded `state`.
    fn xorshift(state: u32) -> impl FnMut() -> f32 {
        let mut next = crate::testing::xorshift32(state);
        move || next() as f32 / u32::MAX as f32
    }

    #[test]
    fn banded_fill_equals_whole_plane_fill() {
        let (w, h) = (97, 83);
        let mut rnd = xorshift(12345);
        let hch: Vec<f32> = (0..w * h).map(|_| rnd() * 0.2).collect();
        let grid = Plane::from_vec(3, 2, vec![0.05, 0.06, 0.02, 0.04, 0.1, 0.07]);
        let bg = CentresInterp::new(&grid, &[10.0, 50.0, 90.0], &[20.0, 60.0], w, h);
        // Excluded pixels in a few clusters, one at each border.
        let mut ok = vec![true; w * h];
        for &(cx, cy) in &[(0usize, 0usize), (50, 40), (96, 82), (10, 82), (96, 30)] {
            for y in cy.saturating_sub(2)..(cy + 3).min(h) {
                for x in cx.saturating_sub(2)..(cx + 3).min(w) {
                    ok[y * w + x] = rnd() < 0.7;
                }
            }
        }
        for sigma in [0.76f32, 0.8, 1.7] {
            assert!(fir_for(sigma).is_some());
            let banded = contrast_filled(hch.clone(), &bg, &ok, w, h, sigma);
            let d: Vec<f32> = hch
                .iter()
                .zip(&bg.to_plane().data)
                .zip(&ok)
                .map(|((&a, &b), &o)| if o { a - b } else { 0.0 })
                .collect();
            let whole = fill_whole(d, &ok, w, h, sigma);
            assert!(banded
                .iter()
                .zip(&whole)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(banded.iter().zip(&ok).any(|(&v, &o)| !o && v != 0.0));
        }
    }

    /// Mean linear R, G, B of the input pixels of coarse pixel (`cx`, `cy`)
    /// (boxes of `f` × `f`, partial at the right and bottom edges), the
    /// reference [`read_planes`]'s box means equal bit for bit (inputs not
    /// −0): per column the sum of the rows top to bottom, then those column
    /// sums left to right, times the same factor.
    fn box_mean_rgb(rgb: &LinearRgb, f: usize, cx: usize, cy: usize) -> [f32; 3] {
        let (w0, h0) = (rgb.width, rgb.height);
        let (y0, x0) = (cy * f, cx * f);
        let (y1, x1) = ((y0 + f).min(h0), (x0 + f).min(w0));
        let inv_rows = 1.0 / (y1 - y0) as f32;
        let inv = inv_rows / (x1 - x0) as f32;
        let mean = |p: &[f32]| {
            (x0..x1)
                .map(|x| {
                    let mut s = 0.0f32;
                    for y in y0..y1 {
                        s += p[y * w0 + x];
                    }
                    s
                })
                .sum::<f32>()
                * inv
        };
        [mean(&rgb.r), mean(&rgb.g), mean(&rgb.b)]
    }

    #[test]
    fn box_means_and_flags_at_a_point_equal_those_of_the_pass() {
        // Odd sizes: partial boxes at the right and bottom edges; box
        // widths with and without an unrolled path.
        let (w0, h0) = (37, 29);
        let mut rnd = xorshift(987);
        let mut plane = || (0..w0 * h0).map(|_| rnd()).collect::<Vec<f32>>();
        let rgb = LinearRgb {
            width: w0,
            height: h0,
            r: plane(),
            g: plane(),
            b: plane(),
            is_colour: true,
        };
        let valid = mask_of(plane().iter().map(|&v| v > 0.03).collect(), w0, h0);
        let hair = mask_of(plane().iter().map(|&v| v < 0.05).collect(), w0, h0);
        // One set of buffers for every box size: what the last pass left
        // in them does not matter.
        let mut bufs = CoarseBufs::default();
        let mut box_bits = vec![u32::MAX; 3 * w0 * h0];
        let mut flag_bits = vec![true; 2 * w0 * h0];
        for (f, hm) in [
            (2usize, None),
            (3, Some(&hair)),
            (5, None),
            (9, Some(&hair)),
            (2, Some(&hair)),
        ] {
            let (w, h) = (w0.div_ceil(f), h0.div_ceil(f));
            let (br, rest) = box_bits.split_at_mut(w * h);
            let (bg, rest) = rest.split_at_mut(w * h);
            let box_rgb = [br, bg, &mut rest[..w * h]];
            let (fine, rest) = flag_bits.split_at_mut(w * h);
            let flags = [fine, &mut rest[..w * h]];
            let pl = read_planes(&rgb, &valid, hm, f, &mut bufs, box_rgb, flags);
            let (br, rest) = box_bits.split_at(w * h);
            let box_rgb = [br, &rest[..w * h], &rest[w * h..2 * w * h]];
            let (fine, hairy) = flag_bits.split_at(w * h);
            for cy in 0..h {
                for cx in 0..w {
                    let [r, g, b] = box_mean_rgb(&rgb, f, cx, cy);
                    let i = cy * w + cx;
                    // The box's input pixels: all valid, and any hair.
                    let (mut all_valid, mut any_hair) = (true, false);
                    for y in cy * f..((cy + 1) * f).min(h0) {
                        for x in cx * f..((cx + 1) * f).min(w0) {
                            all_valid &= valid.data[y * w0 + x];
                            any_hair |= hm.is_some_and(|m| m.data[y * w0 + x]);
                        }
                    }
                    assert_eq!(fine[i], all_valid && !any_hair);
                    assert_eq!(hairy[i], all_valid && any_hair);
                    for (k, m) in [r, g, b].into_iter().enumerate() {
                        assert_eq!(m.to_bits(), box_rgb[k][i]);
                    }
                    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
                    assert_eq!(ln_fast(r.max(1e-4)).to_bits(), pl.lnr.data[i].to_bits());
                    assert_eq!(ln_fast(g.max(1e-4)).to_bits(), pl.lng.data[i].to_bits());
                    assert_eq!(ln_fast(y.max(1e-4)).to_bits(), pl.lny.data[i].to_bits());
                }
            }
            let Planes { lnr, lng, lny, .. } = pl;
            bufs = CoarseBufs {
                lnr: lnr.data,
                lng: lng.data,
                lny: lny.data,
                ..CoarseBufs::default()
            };
        }
    }

    #[test]
    fn contrast_noise_sigma_reads_white_noise_under_sparse_vessels() {
        let (w, h) = (200, 150);
        let mut rnd = xorshift(4242);
        // Gaussian noise of σ 0.03 (Box–Muller) plus bright bars on 2 % of
        // the rows (6 % of the residuals), and an excluded block of large
        // values.
        let sigma = 0.03f32;
        let mut d: Vec<f32> = (0..w * h)
            .map(|_| {
                let (u, v) = (rnd().max(1e-7), rnd());
                sigma * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect();
        for y in (10..h).step_by(50) {
            for x in 0..w {
                d[y * w + x] += 0.2;
            }
        }
        let mut ok = vec![true; w * h];
        for y in 50..80 {
            for x in 50..90 {
                d[y * w + x] = 5.0;
                ok[y * w + x] = false;
            }
        }
        let est = contrast_noise_sigma(&d, &ok, w, h);
        assert!((est - sigma).abs() < 0.1 * sigma, "{est} vs {sigma}");
        // Too few analysable pixels: no estimate (no floor).
        assert_eq!(contrast_noise_sigma(&d, &vec![false; w * h], w, h), 0.0);
        // Below the floor the thresholds are unchanged; above it both
        // rise, their ratio kept.
        assert_eq!(noise_floored((0.04, 0.08), 0.01), (0.04, 0.08));
        let (lo, hi) = noise_floored((0.04, 0.08), 0.03);
        assert!((hi - 0.12).abs() < 1e-6 && (lo - 0.06).abs() < 1e-6);
    }

    #[test]
    fn fine_noise_sigma_reads_block_correlated_noise() {
        // ln R/G noise of σ 0.03, constant over 8 × 8 pixel blocks (as JPEG
        // leaves chroma noise) or white; coarse pixels of 3, cells of 1.
        let (w0, h0, f) = (240usize, 180usize, 3usize);
        let sigma = 0.03f32;
        for blocky in [true, false] {
            let mut rnd = xorshift(if blocky { 77 } else { 78 });
            let mut gauss = || {
                let (u, v) = (rnd().max(1e-7), rnd());
                sigma * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            };
            let nb = w0.div_ceil(8) * h0.div_ceil(8);
            let blocks: Vec<f32> = (0..nb).map(|_| gauss()).collect();
            let noise: Vec<f32> = (0..w0 * h0)
                .map(|i| {
                    let (x, y) = (i % w0, i / w0);
                    if blocky {
                        blocks[(y / 8) * w0.div_ceil(8) + x / 8]
                    } else {
                        gauss()
                    }
                })
                .collect();
            let g = vec![0.1f32; w0 * h0];
            let rgb = LinearRgb {
                width: w0,
                height: h0,
                r: noise.iter().map(|&n| 0.2 * n.exp()).collect(),
                g: g.clone(),
                b: g,
                is_colour: true,
            };
            let (w, h) = (w0 / f, h0 / f);
            let hch: Vec<f32> = (0..w * h)
                .map(|k| {
                    let [r, g, _] = box_mean_rgb(&rgb, f, k % w, k / w);
                    r.ln() - g.ln()
                })
                .collect();
            let ok = vec![true; w * h];
            let fine = fine_contrast_noise_sigma(&rgb, &hch, &ok, (w, h), (f, 1), 1.0);
            // The white-noise model of the fine statistic from the
            // coarse residual, as `refine` scales it.
            let white =
                contrast_noise_sigma(&hch, &ok, w, h) * f as f32 * white_noise_blur_gain(1.0);
            if blocky {
                // Blocks of 8 px: the blur at σ 1 px hardly reduces the
                // noise (the ring's median shares part of it: 0.72 σ
                // measured); the white-noise model reads a fraction of it.
                assert!(fine > 0.6 * sigma && fine < 1.3 * sigma, "{fine}");
                assert!(white < 0.6 * fine, "{white} vs {fine}");
            } else {
                // White noise: both read σ × the blur's gain (0.28).
                let want = sigma * white_noise_blur_gain(1.0);
                assert!((fine - want).abs() < 0.2 * want, "{fine} vs {want}");
                assert!((white - want).abs() < 0.25 * want, "{white} vs {want}");
            }
        }
        // Too little skin: no estimate.
        let rgb = LinearRgb {
            width: 12,
            height: 12,
            r: vec![0.2; 144],
            g: vec![0.1; 144],
            b: vec![0.1; 144],
            is_colour: true,
        };
        assert_eq!(
            fine_contrast_noise_sigma(&rgb, &[0.7; 16], &[true; 16], (4, 4), (3, 1), 1.0),
            0.0
        );
    }

    #[test]
    fn ln_fast_matches_ln() {
        let mut x = 1e-4f32;
        while x < 1e4 {
            let (a, b) = (ln_fast(x), x.ln());
            assert!((a - b).abs() <= 2e-6 * b.abs().max(1.0), "{x}: {a} vs {b}");
            x *= 1.013;
        }
        assert_eq!(ln_fast(1.0), 0.0);
    }
}
