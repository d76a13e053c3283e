//! Fine level: inside each coarse candidate's window, on a grid of ≈ 4 µm
//! cells (the input pixels when they are that large), the exclusions, the
//! smoothed contrast, the half-maximum edge, grouping of the pieces of one
//! vessel, the seed checks (haemoglobin darkens green, hair darkens red);
//! then each input pixel of a vessel is decided on its own R/G.
//!
//! A cell belongs to the candidate whose (one-pixel grown) coarse label
//! covers its centre, so windows that overlap never claim a pixel twice,
//! and each window is computed independently (in parallel, collected in
//! candidate order: the result does not depend on the threads).

use super::segment::{
    fine_blur_sigma, fine_blur_taps, ln_fast, noise_floored, white_noise_blur_gain, Coarse,
    FINE_BLUR_R,
};
use super::VesselParams;
use crate::color::LinearRgb;
use crate::image::{Labels, Mask, Plane};
use crate::kernels::{dilate_square_rows_into, label_into, lerp, sample_bilinear, Components};
use rayon::prelude::*;
use std::sync::{Mutex, PoisonError};

/// Buffers of one thread's windows, reused from window to window (no
/// allocation per window once they have grown; every buffer is cleared and
/// sized by the window that uses it).
#[derive(Default)]
pub(crate) struct Scratch {
    cxs: Vec<usize>,
    cys: Vec<usize>,
    claimed: Vec<bool>,
    flag: Vec<u8>,
    lnr: Vec<f32>,
    lng: Vec<f32>,
    mr: Vec<f32>,
    mg: Vec<f32>,
    mb: Vec<f32>,
    bg_h: Vec<f32>,
    ex0: Vec<bool>,
    ex: Vec<bool>,
    notok: Vec<bool>,
    near: Vec<bool>,
    ok: Vec<bool>,
    d: Vec<f32>,
    ds: Vec<f32>,
    tmp: Vec<f32>,
    buf: Vec<f32>,
    masked: Vec<f32>,
    peak: Vec<f32>,
    pad: Vec<f32>,
    edge: Vec<f32>,
    mask: Vec<bool>,
    merged: Vec<bool>,
    rows: Vec<bool>,
    spans: Vec<(usize, usize)>,
    glab: Vec<u32>,
    grown: Vec<u32>,
    /// The groups' labels, and the labelling's buffers.
    gdata: Vec<u32>,
    comps: Components,
    /// Cells of each group.
    gsize: Vec<usize>,
    /// One row's cells that pass the seed's cell tests.
    seed: Vec<bool>,
    /// [`grow1`]'s passes.
    gcol: Vec<u32>,
    gmax: Vec<u32>,
    /// The backgrounds of the current coarse row under each window column.
    row_h: Vec<f32>,
    row_y: Vec<f32>,
    row_r: Vec<f32>,
    /// Per window row, the span of claimed cells, then of cells whose
    /// input values are needed.
    cspan: Vec<(usize, usize)>,
    need: Vec<(usize, usize)>,
    /// Per group: the seed sums (contrast, ln G and ln R drops) and
    /// count, and whether it is seeded.
    seed_sums: Vec<([f64; 3], usize)>,
    seeded: Vec<bool>,
}

impl Scratch {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        let size = std::mem::size_of::<usize>();
        let f32s = [
            &self.lnr,
            &self.lng,
            &self.mr,
            &self.mg,
            &self.mb,
            &self.bg_h,
            &self.d,
            &self.ds,
            &self.tmp,
            &self.buf,
            &self.masked,
            &self.peak,
            &self.pad,
            &self.edge,
            &self.row_h,
            &self.row_y,
            &self.row_r,
        ];
        let bools = [
            &self.claimed,
            &self.ex0,
            &self.ex,
            &self.notok,
            &self.near,
            &self.ok,
            &self.mask,
            &self.merged,
            &self.rows,
            &self.seed,
        ];
        let spans = [&self.spans, &self.cspan, &self.need];
        let sizes = [&self.cxs, &self.cys, &self.gsize];
        4 * f32s.iter().map(|v| v.capacity()).sum::<usize>()
            + bools.iter().map(|v| v.capacity()).sum::<usize>()
            + 2 * size * spans.iter().map(|v| v.capacity()).sum::<usize>()
            + size * sizes.iter().map(|v| v.capacity()).sum::<usize>()
            + 4 * (self.glab.capacity()
                + self.grown.capacity()
                + self.gdata.capacity()
                + self.gcol.capacity()
                + self.gmax.capacity())
            + self.comps.bytes()
            + self.flag.capacity()
            + self.seeded.capacity()
            + std::mem::size_of::<([f64; 3], usize)>() * self.seed_sums.capacity()
    }
}

/// `v` cleared and filled with `n` copies of `x`.
#[inline(always)]
fn reset<T: Clone>(v: &mut Vec<T>, n: usize, x: T) -> &mut [T] {
    v.clear();
    v.resize(n, x);
    v
}

/// `v` holding `n` values (those kept are not cleared: the caller writes
/// every one), as a slice: filled by `iter_mut` and `zip` over slices, the
/// loops vectorise with no run-time overlap checks.
#[inline(always)]
fn sized<T: Copy + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    v.resize(n, T::default());
    v
}

/// One vessel found at the fine level.
pub(crate) struct Found {
    /// The coarse candidate it came from (1-based).
    pub candidate: u32,
    /// Input pixels (indices, raster order), out to `boundary_fraction`.
    pub pix0: Vec<u32>,
    /// Input pixels at the cells' edge (`edge_fraction`): the size that
    /// classes and the smallest area are judged on.
    pub core_px: usize,
    /// Fine cells (global fine-grid x, y) of its half-maximum mask.
    pub cells: Vec<(usize, usize)>,
    /// Sum of input-pixel centre x, y (for the centroid).
    pub sum_xy: (f64, f64),
    /// Sum of linear R, G, B over its cells, and their number.
    pub rgb_in: ([f64; 3], usize),
    /// Peak redness contrast over its cells.
    pub peak: f64,
}

/// Geometry shared by the windows.
pub(crate) struct Grid {
    /// Input size.
    pub w0: usize,
    /// Input height.
    pub h0: usize,
    /// Input pixels per fine cell.
    pub ff: usize,
    /// µm per fine cell.
    pub um_f: f64,
}

/// Labels grown into unlabelled 8-neighbours by one pixel (largest label
/// wins): the 3 × 3 maximum, kept only where the pixel had no label. On
/// the labels themselves, row by row (maximum of the three rows, then of
/// three columns): no float plane, no transposes.
/// (The reference [`grow_labels_twice`] is tested against.)
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn grow_labels(l: &Labels) -> Vec<u32> {
    let (w, h) = (l.width, l.height);
    let d = &l.data;
    let mut out = crate::kernels::zeroed_vec::<u32>(w * h);
    if w == 0 {
        return out;
    }
    // Scratch per task: the column maxima of the three rows, then their
    // maxima over three columns (every step vectorises; u32 maxima are
    // exact, so the grouping does not matter).
    let scratch = || (vec![0u32; w], vec![0u32; w]);
    out.par_chunks_mut(w)
        .enumerate()
        .for_each_init(scratch, |(col, hmax), (y, o)| {
            let row = &d[y * w..(y + 1) * w];
            if !row.contains(&0) {
                o.copy_from_slice(row);
                return;
            }
            col.copy_from_slice(row);
            for yy in [y.wrapping_sub(1), y + 1] {
                if yy < h {
                    for (c, &v) in col.iter_mut().zip(&d[yy * w..(yy + 1) * w]) {
                        *c = (*c).max(v);
                    }
                }
            }
            if col.iter().all(|&c| c == 0) {
                // No label within one pixel: `o` stays 0.
                return;
            }
            hmax.copy_from_slice(col);
            for (m, &c) in hmax[1..].iter_mut().zip(&col[..w - 1]) {
                *m = (*m).max(c);
            }
            for (m, &c) in hmax[..w - 1].iter_mut().zip(&col[1..]) {
                *m = (*m).max(c);
            }
            for ((ov, &v), &m) in o.iter_mut().zip(row).zip(hmax.iter()) {
                *ov = if v != 0 { v } else { m };
            }
        });
    out
}

/// [`grow_labels`] applied twice, in one pass and with no intermediate
/// plane: a labelled pixel keeps its label; else the largest label within
/// one pixel (3 × 3), else within two (5 × 5: where nothing is within one,
/// the once-grown labels around are the 3 × 3 maxima of the labels, whose
/// maximum is the 5 × 5 maximum; both clipped at the image edges alike).
/// Written into `out` (its old contents do not matter: every value is
/// written).
#[cfg(test)]
pub(crate) fn grow_labels_twice(l: &Labels, out: Vec<u32>) -> Vec<u32> {
    let mut out = crate::kernels::reuse_len(out, l.width * l.height);
    grow_labels_twice_into(l, &mut out);
    out
}

/// [`grow_labels_twice`] into `out` (`l`'s size; its old contents do not
/// matter: every value is written).
pub(crate) fn grow_labels_twice_into(l: &Labels, out: &mut [u32]) {
    let (w, h) = (l.width, l.height);
    let d = &l.data;
    assert_eq!(out.len(), w * h, "claim buffer size");
    if w == 0 {
        return;
    }
    // Per task: column maxima over 3 and 5 rows, then over 3 and 5 columns
    // (u32 maxima are exact, so the grouping does not matter).
    let scratch = || (vec![0u32; w], vec![0u32; w], vec![0u32; w], vec![0u32; w]);
    out.par_chunks_mut(w)
        .enumerate()
        .for_each_init(scratch, |(c3, c5, m3, m5), (y, o)| {
            let row = &d[y * w..(y + 1) * w];
            if !row.contains(&0) {
                o.copy_from_slice(row);
                return;
            }
            c3.copy_from_slice(row);
            for yy in [y.wrapping_sub(1), y + 1] {
                if yy < h {
                    for (c, &v) in c3.iter_mut().zip(&d[yy * w..(yy + 1) * w]) {
                        *c = (*c).max(v);
                    }
                }
            }
            c5.copy_from_slice(c3);
            for yy in [y.wrapping_sub(2), y + 2] {
                if yy < h {
                    for (c, &v) in c5.iter_mut().zip(&d[yy * w..(yy + 1) * w]) {
                        *c = (*c).max(v);
                    }
                }
            }
            if c5.iter().all(|&c| c == 0) {
                // No label within two pixels.
                o.fill(0);
                return;
            }
            let hmax = |col: &[u32], m: &mut [u32], r: usize| {
                m.copy_from_slice(col);
                for s in 1..=r.min(w - 1) {
                    for (v, &c) in m[s..].iter_mut().zip(&col[..w - s]) {
                        *v = (*v).max(c);
                    }
                    for (v, &c) in m[..w - s].iter_mut().zip(&col[s..]) {
                        *v = (*v).max(c);
                    }
                }
            };
            hmax(c3, m3, 1);
            hmax(c5, m5, 2);
            for (((ov, &v), &a), &b) in o.iter_mut().zip(row).zip(m3.iter()).zip(m5.iter()) {
                *ov = if v != 0 {
                    v
                } else if a != 0 {
                    a
                } else {
                    b
                };
            }
        });
}

/// All vessels, candidate by candidate. The claims (the candidates grown
/// by two coarse pixels) are formed in `claim` (the coarse grid's size; its
/// old contents do not matter), and the windows work in scratches of the
/// pool `bufs.windows` (grown as needed; none is held by two tasks at
/// once).
#[allow(clippy::too_many_arguments)]
pub(crate) fn refine(
    rgb: &LinearRgb,
    valid: &Mask,
    hair: Option<&Mask>,
    c: &Coarse,
    g: &Grid,
    params: &VesselParams,
    bufs: &mut RefineBufs,
    claim: &mut [u32],
) -> Vec<Found> {
    let n = c.labels.count as usize;
    // Candidates grown by two coarse pixels: the half-maximum edge of a
    // vessel lies outside its coarse candidate where a coarse pixel
    // straddles it.
    grow_labels_twice_into(&c.labels, claim);
    let claim = &*claim;
    // Bounding boxes of the claims (coarse px).
    // Bands of rows in parallel, merged by min / max (any order gives the
    // same boxes).
    type Boxes = Vec<(usize, usize, usize, usize)>;
    let empty = || vec![(usize::MAX, usize::MAX, 0usize, 0usize); n + 1];
    let band = 64;
    let bb: Boxes = claim
        .par_chunks(c.w.max(1) * band)
        .enumerate()
        .fold(empty, |mut bb: Boxes, (k, rows)| {
            for (dy, row) in rows.chunks(c.w.max(1)).enumerate() {
                let y = k * band + dy;
                for (x, &l) in row.iter().enumerate() {
                    if l > 0 {
                        let b = &mut bb[l as usize];
                        b.0 = b.0.min(x);
                        b.1 = b.1.min(y);
                        b.2 = b.2.max(x);
                        b.3 = b.3.max(y);
                    }
                }
            }
            bb
        })
        .reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                *x = (x.0.min(y.0), x.1.min(y.1), x.2.max(y.2), x.3.max(y.3));
            }
            a
        });
    // Each task takes a window scratch from the pool and puts it back when
    // done, so the buffers grown by one call serve the next.
    let pool = Mutex::new(std::mem::take(&mut bufs.windows));
    let found = (1..=n as u32)
        .into_par_iter()
        .map_init(
            || Pooled::take(&pool),
            |s, l| {
                window(
                    rgb,
                    valid,
                    hair,
                    c,
                    claim,
                    bb[l as usize],
                    l,
                    g,
                    params,
                    &mut s.0,
                )
            },
        )
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    bufs.windows = pool.into_inner().unwrap_or_else(PoisonError::into_inner);
    found
}

/// The fine level's buffers kept between calls by a
/// [`super::VesselScratch`]: the windows' scratches (their contents do not
/// matter).
#[derive(Default)]
pub(crate) struct RefineBufs {
    windows: Vec<Scratch>,
}

impl RefineBufs {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.windows.iter().map(Scratch::bytes).sum::<usize>()
    }
}

/// A window scratch taken from a pool, put back when dropped.
struct Pooled<'a>(Scratch, &'a Mutex<Vec<Scratch>>);

impl<'a> Pooled<'a> {
    fn take(pool: &'a Mutex<Vec<Scratch>>) -> Self {
        let s = pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
        Pooled(s.unwrap_or_default(), pool)
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let s = std::mem::take(&mut self.0);
        self.1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(s);
    }
}

crate::kernels::simd::dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn window(rgb: &LinearRgb, valid: &Mask, hair: Option<&Mask>, c: &Coarse, claim: &[u32], bb: (usize, usize, usize, usize), lab: u32, g: &Grid, p: &VesselParams, s: &mut Scratch) -> Vec<Found> => window_body
}

/// One candidate's window (module docs); compiled per instruction set by
/// [`window`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn window_body(
    rgb: &LinearRgb,
    valid: &Mask,
    hair: Option<&Mask>,
    c: &Coarse,
    claim: &[u32],
    bb: (usize, usize, usize, usize),
    lab: u32,
    g: &Grid,
    p: &VesselParams,
    s: &mut Scratch,
) -> Vec<Found> {
    let (w0, h0, ff, fc) = (g.w0, g.h0, g.ff, c.f);
    let (wf, hf) = (w0.div_ceil(ff), h0.div_ceil(ff));
    let um_f = g.um_f;
    let margin = (p.hair_margin_um / um_f).ceil() as usize;
    // Whole cells nearest the clearance: the same µm at every scale (9,
    // 10.5, 10 µm at 1.5, 3.5, 5 µm/px for 10 µm; rounding up made 5 µm
    // 9, 7, 5 µm).
    let clear = (p.seed_clearance_um / um_f).round() as usize;
    let pad = margin.max(clear) + 1;
    let fx0 = (bb.0 * fc / ff).saturating_sub(pad);
    let fy0 = (bb.1 * fc / ff).saturating_sub(pad);
    let fx1 = (((bb.2 + 1) * fc).div_ceil(ff) + pad).min(wf);
    let fy1 = (((bb.3 + 1) * fc).div_ceil(ff) + pad).min(hf);
    let (ww, wh) = (fx1 - fx0, fy1 - fy0);
    let nw = ww * wh;
    let hm: &[bool] = hair.map(|m| &m.data[..]).unwrap_or(&[]);
    if nw == 0 {
        return Vec::new();
    }
    let kc = ff as f32 / fc as f32;
    let to_cx = |fx: usize| (((fx as f32 + 0.5) * kc) as usize).min(c.w - 1);
    let to_cy = |fy: usize| (((fy as f32 + 0.5) * kc) as usize).min(c.h - 1);
    let cx_span = to_cx(fx0)..=to_cx(fx1 - 1);
    // The first rows, input and coarse, asked for before anything else.
    if ff == 1 {
        for ya in fy0..(fy0 + PREFETCH_ROWS).min(fy1) {
            prefetch_row(rgb, valid, hm, ya * w0 + fx0..ya * w0 + fx1);
        }
    }
    let mut last_cy = usize::MAX;
    for fy in fy0..(fy0 + PREFETCH_ROWS).min(fy1) {
        if to_cy(fy) != last_cy {
            last_cy = to_cy(fy);
            prefetch_coarse(c, claim, last_cy, cx_span.clone());
        }
    }
    // The claims of every coarse row of the window, asked for at once: the
    // claimed cells are read from them first, row after row, and each row's
    // miss would otherwise wait for the one before.
    for cy in to_cy(fy0)..=to_cy(fy1 - 1) {
        prefetch(
            claim,
            cy * c.w + cx_span.start()..cy * c.w + cx_span.end() + 1,
        );
    }
    // Coarse pixel under each cell centre (the backgrounds vary over
    // hundreds of µm: the coarse pixel's value is as good as interpolation).
    let Scratch {
        cxs,
        cys,
        claimed,
        flag,
        lnr,
        lng,
        mr,
        mg,
        mb,
        bg_h,
        ex0,
        ex,
        notok,
        near,
        ok,
        d,
        ds,
        tmp,
        buf,
        masked,
        peak,
        pad: pad_buf,
        edge,
        mask,
        merged,
        rows,
        spans,
        glab,
        grown,
        gdata,
        comps,
        gsize,
        seed,
        gcol,
        gmax,
        row_h,
        row_y,
        row_r,
        cspan,
        need,
        seed_sums,
        seeded,
    } = s;
    cxs.clear();
    cxs.extend((fx0..fx1).map(to_cx));
    cys.clear();
    cys.extend((fy0..fy1).map(to_cy));
    let (cxs, cys) = (&cxs[..], &cys[..]);
    let claimed = reset(claimed, nw, false);
    let flag = reset(flag, nw, 0u8);
    let lnr = reset(lnr, nw, 0.0f32);
    let lng = reset(lng, nw, 0.0f32);
    // Cell means of R, G, B: only when a cell is several input pixels (a
    // cell of one pixel reads its colour from the input).
    let cells_avg = ff > 1;
    let na = if cells_avg { nw } else { 0 };
    let mr = reset(mr, na, 0.0f32);
    let mg = reset(mg, na, 0.0f32);
    let mb = reset(mb, na, 0.0f32);
    // A cell's input values (logarithms, flags, exclusions) matter only
    // within `reach` cells of a claimed cell: every later step reads them
    // for claimed cells, through the hair margin then the seed clearance
    // (the cells of one input pixel; elsewhere every cell is read).
    let reach = margin + clear;
    // Per window row, the span of claimed cells (`(usize::MAX, 0)`: none).
    cspan.clear();
    for wy in 0..wh {
        let row = wy * ww..(wy + 1) * ww;
        if wy > 0 && cys[wy] == cys[wy - 1] {
            // The same coarse row as the row above: the same claims.
            claimed.copy_within(row.start - ww..row.start, row.start);
            cspan.push(cspan[wy - 1]);
            continue;
        }
        let crow = &claim[cys[wy] * c.w..(cys[wy] + 1) * c.w];
        for (cl, &cx) in claimed[row.clone()].iter_mut().zip(cxs) {
            *cl = crow[cx] == lab;
        }
        cspan.push(true_span(&claimed[row]));
    }
    need.clear();
    if cells_avg {
        need.resize(wh, (0, ww));
    } else {
        need.extend((0..wh).map(|wy| {
            let (a, b) = cspan[wy.saturating_sub(reach)..(wy + reach + 1).min(wh)]
                .iter()
                .fold((usize::MAX, 0), |(a, b), &(x, y)| (a.min(x), b.max(y)));
            if a >= b {
                (0, 0)
            } else {
                (a.saturating_sub(reach), (b + reach).min(ww))
            }
        }));
    }
    let need = &need[..];
    // Exclusions as on the coarse level, with the cells' own values, in the
    // same pass as the cells' values (the logarithm of the luminance is used
    // there only).
    let (be, de) = (p.bright_exclude as f32, p.dark_red_exclude as f32);
    let exclude = |fl: u8, ly: f32, lr: f32, by: f32, br: f32| {
        (fl == 1) | ((fl == 0) & ((ly - by >= be) | (lr - br <= -de)))
    };
    let bg_h = reset(bg_h, nw, 0.0f32);
    let ex0 = reset(ex0, nw, false);
    let mut last_cy = usize::MAX;
    for wy in 0..wh {
        let fy = fy0 + wy;
        if let Some(&cy) = cys.get(wy + PREFETCH_ROWS) {
            if cy != cys[wy + PREFETCH_ROWS - 1] {
                prefetch_coarse(c, claim, cy, cx_span.clone());
            }
        }
        if !cells_avg && fy + PREFETCH_ROWS < fy1 {
            // The input rows a few rows ahead: each row is on its own memory
            // pages, which the hardware prefetchers do not cross (the first
            // rows were asked for on entry).
            let ya = fy + PREFETCH_ROWS;
            let (a, b) = need[wy + PREFETCH_ROWS];
            if a < b {
                prefetch_row(rgb, valid, hm, ya * w0 + fx0 + a..ya * w0 + fx0 + b);
            }
        }
        let cy = cys[wy];
        if cy != last_cy {
            last_cy = cy;
            // The backgrounds over the window's coarse columns (the values
            // of their planes: `CentresInterp`), for the cells needed on the
            // window rows of this coarse row, spread under those columns
            // once per coarse row: the rows below are then contiguous (no
            // gathers).
            let (ua, ub) = need[wy..]
                .iter()
                .zip(&cys[wy..])
                .take_while(|&(_, &y)| y == cy)
                .fold((usize::MAX, 0), |(a, b), (&(x0, x1), _)| {
                    if x0 < x1 {
                        (a.min(x0), b.max(x1))
                    } else {
                        (a, b)
                    }
                });
            if ua < ub {
                // Column by column (`cxs` does not decrease): each coarse
                // column's three values (`CentresInterp::row_span`'s), then
                // written under its run of cells.
                let (h_top, h_bot, h_ty) = c.bg_h.row_parts(cy);
                let (y_top, y_bot, y_ty) = c.bg_y.row_parts(cy);
                let (r_top, r_bot, r_ty) = c.bg_r.row_parts(cy);
                for out in [&mut *row_h, &mut *row_y, &mut *row_r] {
                    out.resize(ww, 0.0);
                }
                let mut wx = ua;
                while wx < ub {
                    let cx = cxs[wx];
                    let v = (
                        lerp(h_top[cx], h_bot[cx], h_ty),
                        lerp(y_top[cx], y_bot[cx], y_ty),
                        lerp(r_top[cx], r_bot[cx], r_ty),
                    );
                    while wx < ub && cxs[wx] == cx {
                        (row_h[wx], row_y[wx], row_r[wx]) = v;
                        wx += 1;
                    }
                }
            }
        }
        // Over the cells needed (elsewhere no exclusion, background 0:
        // neither is read).
        let (na, nb) = need[wy];
        if na >= nb {
            continue;
        }
        let row = wy * ww + na..wy * ww + nb;
        bg_h[row.clone()].copy_from_slice(&row_h[na..nb]);
        let (by, br) = (&row_y[na..nb], &row_r[na..nb]);
        if !cells_avg {
            // The logarithms straight from the input rows (vectorised).
            let src = fy * w0 + fx0 + na..fy * w0 + fx0 + nb;
            let (r, g, b) = (
                &rgb.r[src.clone()],
                &rgb.g[src.clone()],
                &rgb.b[src.clone()],
            );
            for (l, &v) in lnr[row.clone()].iter_mut().zip(r) {
                *l = ln_fast(v.max(1e-4));
            }
            for (l, &v) in lng[row.clone()].iter_mut().zip(g) {
                *l = ln_fast(v.max(1e-4));
            }
            for (fl, &v) in flag[row.clone()].iter_mut().zip(&valid.data[src.clone()]) {
                *fl = (!v as u8) << 1;
            }
            if !hm.is_empty() {
                for (fl, &hh) in flag[row.clone()].iter_mut().zip(&hm[src]) {
                    if *fl == 0 {
                        *fl = hh as u8;
                    }
                }
            }
            for ((((((e, &fl), &lr), (&r, &g)), &b), &by), &br) in ex0[row.clone()]
                .iter_mut()
                .zip(&flag[row.clone()])
                .zip(&lnr[row])
                .zip(r.iter().zip(g))
                .zip(b)
                .zip(by)
                .zip(br)
            {
                let ly = ln_fast((0.2126 * r + 0.7152 * g + 0.0722 * b).max(1e-4));
                *e = exclude(fl, ly, lr, by, br);
            }
            continue;
        }
        let (y0, y1) = (fy * ff, ((fy + 1) * ff).min(h0));
        for wx in 0..ww {
            let fx = fx0 + wx;
            let (x0, x1) = (fx * ff, ((fx + 1) * ff).min(w0));
            let k = wy * ww + wx;
            let mut fl = 0u8;
            let mut s = [0.0f32; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = y * w0 + x;
                    fl |= ((!valid.data[i] as u8) << 1) | (!hm.is_empty() && hm[i]) as u8;
                    s[0] += rgb.r[i];
                    s[1] += rgb.g[i];
                    s[2] += rgb.b[i];
                }
            }
            flag[k] = if fl & 2 != 0 { 2 } else { fl };
            let inv = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
            mr[k] = s[0] * inv;
            mg[k] = s[1] * inv;
            mb[k] = s[2] * inv;
        }
        for (l, &v) in lnr[row.clone()].iter_mut().zip(&mr[row.clone()]) {
            *l = ln_fast(v.max(1e-4));
        }
        for (l, &v) in lng[row.clone()].iter_mut().zip(&mg[row.clone()]) {
            *l = ln_fast(v.max(1e-4));
        }
        for ((((((e, &fl), &lr), (&r, &g)), &b), &by), &br) in ex0[row.clone()]
            .iter_mut()
            .zip(&flag[row.clone()])
            .zip(&lnr[row.clone()])
            .zip(mr[row.clone()].iter().zip(&mg[row.clone()]))
            .zip(&mb[row])
            .zip(by)
            .zip(br)
        {
            let ly = ln_fast((0.2126 * r + 0.7152 * g + 0.0722 * b).max(1e-4));
            *e = exclude(fl, ly, lr, by, br);
        }
    }
    // Hair and the bright / dark-red exclusions, with the hair margin.
    dilate_square_rows_into(ex0, ww, wh, margin, rows, ex);
    let notok = sized(notok, nw);
    for ((o, &f), &e) in notok.iter_mut().zip(&flag[..]).zip(&ex[..]) {
        *o = (f != 0) | e;
    }
    // Seeds keep off excluded cells and 2 cells off the frame.
    dilate_square_rows_into(notok, ww, wh, clear, rows, near);
    let near = &near[..];
    let ok = sized(ok, nw);
    for ((o, &n), &c) in ok.iter_mut().zip(&notok[..]).zip(&claimed[..]) {
        *o = !n & c;
    }
    let ok = &ok[..];
    let d = sized(d, nw);
    for ((((o, &k), &r), &g), &b) in d
        .iter_mut()
        .zip(ok)
        .zip(&lnr[..])
        .zip(&lng[..])
        .zip(&bg_h[..])
    {
        *o = if k { r - g - b } else { 0.0 };
    }
    let d = &d[..];
    let sig = fine_blur_sigma(p, um_f);
    blur(d, ww, wh, sig, (tmp, buf), ds);
    let ds = &ds[..];
    // The noise σ of `ds`: the coarse contrast's white noise on cells
    // `fc / ff` times smaller (each side), blurred at `sig`; at least the
    // spread of `ds` measured on the skin (noise correlated by JPEG, which
    // the white-noise model underrates).
    let fine_noise = (c.noise_sigma * (fc as f32 / ff as f32) * white_noise_blur_gain(sig))
        .max(c.fine_noise_sigma);
    let rad = (p.peak_radius_um / um_f).ceil().max(1.0) as usize;
    let masked = sized(masked, nw);
    for ((o, &k), &v) in masked.iter_mut().zip(ok).zip(ds) {
        *o = if k { v } else { -1.0 };
    }
    max_square(masked, ww, wh, rad, (pad_buf, tmp), peak);
    let (lo, hi) = noise_floored((p.low_contrast as f32, p.high_contrast as f32), fine_noise);
    let ef = p.edge_fraction as f32;
    let edge = sized(edge, nw);
    for (o, &m) in edge.iter_mut().zip(&peak[..]) {
        *o = (ef * m).max(lo);
    }
    let edge = &edge[..];
    let mask = sized(mask, nw);
    let mut any = false;
    for ((((o, &k), &s), &dv), &e) in mask.iter_mut().zip(ok).zip(ds).zip(d).zip(edge) {
        *o = k & (s >= lo) & (dv >= e);
        any |= *o;
    }
    let mask = &mask[..];
    if !any {
        return Vec::new();
    }
    // Pieces closer than the merge gap are one vessel.
    let r_merge = (p.merge_gap_um / (2.0 * um_f)).round() as usize;
    dilate_square_rows_into(mask, ww, wh, r_merge, rows, merged);
    let gcount = label_into(merged, ww, wh, comps, gdata);
    let gdata = &gdata[..];
    let ng = gcount as usize + 1;
    // Per window row, the span of cells in a group (every later step
    // only touches those): from the groups' runs.
    spans.clear();
    spans.extend((0..wh).map(|wy| comps.row_span(wy)));
    let spans = &spans[..];
    // Seed checks per group (see the stage docs).
    let sums = reset(seed_sums, ng, ([0.0f64; 3], 0usize));
    // Row by row (the cells in raster order, as the sums always took them):
    // a seed lies 2 cells inside the frame, off `near`, on a coarse pixel
    // with Hessian evidence. The cell tests first, over the row's span at
    // once (they vectorise), then the coarse test and the sums on the cells
    // that pass.
    let (sx0, sx1) = (
        2usize.saturating_sub(fx0),
        (wf - 2).saturating_sub(fx0).min(ww),
    );
    for (wy, &(a, b)) in spans.iter().enumerate() {
        let fy = fy0 + wy;
        let (a, b) = (a.max(sx0), b.min(sx1));
        if a >= b || fy < 2 || fy + 2 >= hf {
            continue;
        }
        let row = wy * ww + a..wy * ww + b;
        seed.clear();
        seed.extend(
            gdata[row.clone()]
                .iter()
                .zip(&ok[row.clone()])
                .zip(&ds[row.clone()])
                .zip(&near[row])
                .map(|(((&gl, &o), &v), &n)| (gl != 0) & o & (v >= hi) & !n),
        );
        if !seed.contains(&true) {
            continue;
        }
        let cy = cys[wy];
        let vrow = &c.vseed[cy * c.w..(cy + 1) * c.w];
        // The backgrounds' rows (their values as `CentresInterp::at`).
        let (g_top, g_bot, g_ty) = c.bg_g.row_parts(cy);
        let (r_top, r_bot, r_ty) = c.bg_r.row_parts(cy);
        let base = wy * ww;
        // The current group's sums in registers along its run of cells,
        // read at its start and written back at its end (each sum still
        // takes its values one by one, in raster order).
        let mut cur = (0usize, [0.0f64; 3], 0usize);
        for (wx, _) in seed.iter().enumerate().filter(|(_, &s)| s) {
            let wx = a + wx;
            let cx = cxs[wx];
            if !vrow[cx] {
                continue;
            }
            let k = base + wx;
            let gl = gdata[k] as usize;
            if gl != cur.0 {
                if cur.0 > 0 {
                    sums[cur.0] = (cur.1, cur.2);
                }
                cur = (gl, sums[gl].0, sums[gl].1);
            }
            cur.1[0] += d[k] as f64;
            cur.1[1] += (lng[k] - lerp(g_top[cx], g_bot[cx], g_ty)) as f64;
            cur.1[2] += (lnr[k] - lerp(r_top[cx], r_bot[cx], r_ty)) as f64;
            cur.2 += 1;
        }
        if cur.0 > 0 {
            sums[cur.0] = (cur.1, cur.2);
        }
    }
    seeded.clear();
    seeded.extend(sums.iter().enumerate().map(|(l, &([sd, sg, sr], n))| {
        l > 0
            && sd > 0.0
            && sg <= -p.green_drop_ratio * sd
            && sr >= p.red_drop_ratio * sg
            && n >= p.min_seed_px
    }));
    let seeded = &seeded[..];
    if !seeded.iter().any(|&s| s) {
        return Vec::new();
    }
    // Mask cells by group; grown by one cell (within the claim) for the
    // input-pixel decision at the edges.
    let glab = sized(glab, nw);
    if seeded[1..].iter().all(|&s| s) {
        for ((o, &gl), &m) in glab.iter_mut().zip(gdata).zip(mask) {
            *o = if m { gl } else { 0 };
        }
    } else {
        for ((o, &gl), &m) in glab.iter_mut().zip(gdata).zip(mask) {
            *o = if m && seeded[gl as usize] { gl } else { 0 };
        }
    }
    let glab = &glab[..];
    grow1(glab, ww, wh, gdata, (gcol, gmax), grown);
    // Each seeded group's lists sized for all its cells (its cells and
    // pixels are among them: the groups are the merged mask's components,
    // and the growth stays inside them), so they never grow while filled.
    comps.sizes_into(gsize);
    let mut out: Vec<Found> = (0..ng)
        .map(|l| {
            let n = if seeded[l] { gsize[l] } else { 0 };
            (Vec::with_capacity(n * ff * ff), Vec::with_capacity(n))
        })
        .map(|(pix0, cells)| Found {
            candidate: lab,
            pix0,
            core_px: 0,
            cells,
            sum_xy: (0.0, 0.0),
            rgb_in: ([0.0; 3], 0),
            peak: f64::MIN,
        })
        .collect();
    // ln R/G threshold per cell: background + edge.
    // The input pixels' boundary: a lower fraction of the local peak than
    // the cells' half maximum (`boundary_fraction`).
    let bf = p.boundary_fraction as f32;
    let pix_edge = |k: usize| bg_h[k] + (bf * peak[k]).max(lo);
    let (thr, thr_core) = if ff > 1 {
        (
            Plane::from_vec(ww, wh, (0..nw).map(pix_edge).collect()),
            Plane::from_vec(ww, wh, (0..nw).map(|k| bg_h[k] + edge[k]).collect()),
        )
    } else {
        (Plane::default(), Plane::default())
    };
    let inv_ff = 1.0 / ff as f32;
    // The sums of the current group (colour, cells, peak) and of the
    // current grown group's pixels (centre sums, at one input pixel per
    // cell) in registers along their runs of cells, read at a run's start
    // and written back at its end: each sum still takes its values one by
    // one, in raster order.
    let mut cur = Sums::default();
    let mut cur_xy = (0u32, (0.0f64, 0.0f64));
    for (wy, &(sa, sb)) in spans.iter().enumerate() {
        let fy = fy0 + wy;
        for wx in sa..sb {
            let k = wy * ww + wx;
            let fx = fx0 + wx;
            let gl = glab[k];
            if gl > 0 {
                if gl != cur.label {
                    cur.put(&mut out);
                    cur = Sums::get(&out, gl);
                }
                out[gl as usize].cells.push((fx, fy));
                let px = if cells_avg {
                    [mr[k], mg[k], mb[k]]
                } else {
                    let i = fy * w0 + fx;
                    [rgb.r[i], rgb.g[i], rgb.b[i]]
                };
                for (a, v) in cur.rgb.iter_mut().zip(px) {
                    *a += v as f64;
                }
                cur.n += 1;
                cur.peak = cur.peak.max(d[k] as f64);
            }
            let gg = grown[k];
            if gg == 0 || !claimed[k] {
                continue;
            }
            if ff == 1 {
                // The cell is the input pixel: its flags and logarithms
                // are the pixel's own.
                let v = lnr[k] - lng[k];
                if flag[k] == 0 && v >= pix_edge(k) {
                    if gg != cur_xy.0 {
                        if cur_xy.0 > 0 {
                            out[cur_xy.0 as usize].sum_xy = cur_xy.1;
                        }
                        cur_xy = (gg, out[gg as usize].sum_xy);
                    }
                    out[gg as usize].pix0.push((fy * w0 + fx) as u32);
                    cur_xy.1 .0 += fx as f64 + 0.5;
                    cur_xy.1 .1 += fy as f64 + 0.5;
                }
                if flag[k] == 0 && v >= bg_h[k] + edge[k] {
                    out[gg as usize].core_px += 1;
                }
                continue;
            }
            let (y0, y1) = (fy * ff, ((fy + 1) * ff).min(h0));
            let (x0, x1) = (fx * ff, ((fx + 1) * ff).min(w0));
            for y in y0..y1 {
                let ey = (y as f32 + 0.5) * inv_ff - 0.5 - fy0 as f32;
                for x in x0..x1 {
                    let i = y * w0 + x;
                    if !valid.data[i] || (!hm.is_empty() && hm[i]) {
                        continue;
                    }
                    let ex = (x as f32 + 0.5) * inv_ff - 0.5 - fx0 as f32;
                    let v = ln_fast(rgb.r[i].max(1e-4)) - ln_fast(rgb.g[i].max(1e-4));
                    if v >= sample_bilinear(&thr, ex, ey) {
                        let o = &mut out[gg as usize];
                        o.pix0.push(i as u32);
                        o.sum_xy.0 += x as f64 + 0.5;
                        o.sum_xy.1 += y as f64 + 0.5;
                    }
                    if v >= sample_bilinear(&thr_core, ex, ey) {
                        out[gg as usize].core_px += 1;
                    }
                }
            }
        }
    }
    cur.put(&mut out);
    if cur_xy.0 > 0 {
        out[cur_xy.0 as usize].sum_xy = cur_xy.1;
    }
    let min_px0 = p.min_area_um2 / (um_f / ff as f64).powi(2);
    let min_cells = p.min_area_um2 / (um_f * um_f);
    out.into_iter()
        .enumerate()
        .filter(|(l, o)| {
            *l > 0
                && seeded[*l]
                && !o.pix0.is_empty()
                && o.core_px as f64 >= min_px0
                && o.cells.len() as f64 >= min_cells
        })
        .map(|(_, mut o)| {
            // Cells of one input pixel took their pixels in raster order.
            if ff > 1 {
                o.pix0.sort_unstable();
            }
            debug_assert!(o.pix0.is_sorted());
            o
        })
        .collect()
}

/// The first and one past the last index of `row` holding `true`, or
/// `(usize::MAX, 0)` when none does: eight cells at a time from each end
/// (a `bool` is one byte, 0 or 1), then one by one.
#[inline(always)]
fn true_span(row: &[bool]) -> (usize, usize) {
    let word = |s: &[bool]| {
        let mut b = [0u8; 8];
        for (d, &v) in b.iter_mut().zip(s) {
            *d = v as u8;
        }
        u64::from_le_bytes(b)
    };
    let w = row.len();
    let mut a = 0;
    loop {
        if a + 8 <= w {
            let v = word(&row[a..a + 8]);
            if v == 0 {
                a += 8;
                continue;
            }
            a += (v.trailing_zeros() / 8) as usize;
        } else {
            while a < w && !row[a] {
                a += 1;
            }
        }
        break;
    }
    if a == w {
        return (usize::MAX, 0);
    }
    // A `true` at `a`: the last one lies at or after it.
    let mut b = w;
    loop {
        if b >= a + 8 {
            let v = word(&row[b - 8..b]);
            if v == 0 {
                b -= 8;
                continue;
            }
            b -= (v.leading_zeros() / 8) as usize;
        } else {
            while !row[b - 1] {
                b -= 1;
            }
        }
        break;
    }
    (a, b)
}

/// One group's colour sums, cell count and peak contrast while a run of
/// its cells is read (label 0: none).
#[derive(Default)]
struct Sums {
    label: u32,
    rgb: [f64; 3],
    n: usize,
    peak: f64,
}

impl Sums {
    /// Group `label`'s sums so far.
    #[inline(always)]
    fn get(out: &[Found], label: u32) -> Sums {
        let o = &out[label as usize];
        Sums {
            label,
            rgb: o.rgb_in.0,
            n: o.rgb_in.1,
            peak: o.peak,
        }
    }

    /// Written back to their group (nothing for label 0).
    #[inline(always)]
    fn put(&self, out: &mut [Found]) {
        if self.label > 0 {
            let o = &mut out[self.label as usize];
            o.rgb_in = (self.rgb, self.n);
            o.peak = self.peak;
        }
    }
}

/// Rows of input read ahead of the window row being computed.
const PREFETCH_ROWS: usize = 6;

/// Ask the CPU to bring the input pixels `src` (one row segment: colour,
/// validity, hair) into cache; a hint, with no effect on the values.
#[inline(always)]
fn prefetch_row(rgb: &LinearRgb, valid: &Mask, hair: &[bool], src: std::ops::Range<usize>) {
    for plane in [&rgb.r, &rgb.g, &rgb.b] {
        prefetch(plane, src.clone());
    }
    prefetch(&valid.data, src.clone());
    prefetch(hair, src);
}

/// The coarse planes a window reads, over coarse row `cy`, columns `cx`.
#[inline(always)]
fn prefetch_coarse(c: &Coarse, claim: &[u32], cy: usize, cx: std::ops::RangeInclusive<usize>) {
    let r = cy * c.w + cx.start()..cy * c.w + cx.end() + 1;
    prefetch(claim, r.clone());
    prefetch(c.vseed, r);
}

/// A hint to bring `v[r]` into cache (one per 64-byte line); no effect on
/// any value, nothing when `r` is out of bounds.
#[inline(always)]
pub(crate) fn prefetch<T>(v: &[T], r: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = v.get(r) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
        for i in (0..s.len()).step_by(step).chain(s.len().checked_sub(1)) {
            // SAFETY: a prefetch is a hint: it reads nothing into the program
            // and never faults; the pointer is to an element of `s`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(&s[i] as *const T as *const i8) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, r);
}

// Window-local helpers. The windows are a few hundred cells: the plane
// kernels' parallel bands, transposes and allocations cost more than the
// work there, so these are plain loops.

/// Square maximum filter of radius `r` into `out` (border: the window is
/// cut, as if padded with −∞). Rows, then columns, of a padded copy, each
/// by doubling (the maximum of `2L` values is that of two runs of `L`):
/// ⌈log₂(2r+1)⌉ passes each instead of 2r. The maximum is exact, so any
/// grouping gives the same values. `scratch`: two buffers reused.
#[inline(always)]
fn max_square(
    v: &[f32],
    w: usize,
    h: usize,
    r: usize,
    scratch: (&mut Vec<f32>, &mut Vec<f32>),
    out: &mut Vec<f32>,
) {
    out.clear();
    if r == 0 || w == 0 {
        out.extend_from_slice(v);
        return;
    }
    let (pad, nxt) = scratch;
    let wp = w + 2 * r;
    pad.clear();
    pad.resize(wp * (h + 2 * r), f32::NEG_INFINITY);
    for y in 0..h {
        let o = (y + r) * wp + r;
        pad[o..o + w].copy_from_slice(&v[y * w..(y + 1) * w]);
    }
    let n = 2 * r + 1;
    forward_max(pad, nxt, n, 1);
    forward_max(pad, nxt, n, wp);
    out.resize(w * h, 0.0);
    for (y, o) in out.chunks_exact_mut(w).enumerate() {
        o.copy_from_slice(&pad[y * wp..y * wp + w]);
    }
}

/// `m[i] = max(a[i], a[i + s], …, a[i + (n − 1)s])` wherever the run is
/// inside `a` (other entries: partial maxima), by doubling, in place in
/// `a` (`nxt`: scratch).
#[inline(always)]
fn forward_max(a: &mut Vec<f32>, nxt: &mut Vec<f32>, n: usize, s: usize) {
    let step = |a: &[f32], b: &mut Vec<f32>, sh: usize| {
        b.clear();
        b.extend(
            a[..a.len() - sh]
                .iter()
                .zip(&a[sh..])
                .map(|(&x, &y)| x.max(y)),
        );
        b.extend_from_slice(&a[a.len() - sh..]);
    };
    let mut l = 1;
    while 2 * l <= n {
        if l * s >= a.len() {
            return;
        }
        step(a, nxt, l * s);
        std::mem::swap(a, nxt);
        l *= 2;
    }
    if l < n && (n - l) * s < a.len() {
        step(a, nxt, (n - l) * s);
        std::mem::swap(a, nxt);
    }
}

/// Radius of [`blur`].
const BLUR_R: usize = FINE_BLUR_R;

/// Separable Gaussian of σ ≤ 1 px (radius 3, normalised, replicate border)
/// into `out`; `scratch`: the row pass (the second buffer is unused).
///
/// Each output sums its taps in order from 0 (`0 + k₀v₀ + k₁v₁ + …`), in
/// a register, over the window as one flat run: the row pass over every
/// cell whose taps stay in its row (the cells within [`BLUR_R`] of a row's
/// ends are then done again with the replicated border), the column pass
/// over the rows whose taps stay in the window (the first and last rows
/// apart, with the border rows replicated). Long runs instead of one short
/// run per row and tap: the windows are a few dozen cells wide.
#[inline(always)]
fn blur(
    v: &[f32],
    w: usize,
    h: usize,
    sigma: f32,
    scratch: (&mut Vec<f32>, &mut Vec<f32>),
    out: &mut Vec<f32>,
) {
    const R: usize = BLUR_R;
    let k = fine_blur_taps(sigma);
    let n = w * h;
    let (tmp, _) = scratch;
    let tmp = reset(tmp, n, 0.0f32);
    // Row pass, flat: cell i reads v[i − R ..= i + R].
    if n > 2 * R {
        for (i, o) in tmp[R..n - R].iter_mut().enumerate() {
            let t = &v[i..i + 2 * R + 1];
            let mut acc = 0.0f32;
            for (&kv, &b) in k.iter().zip(t) {
                acc += kv * b;
            }
            *o = acc;
        }
    }
    // The cells within R of a row's ends, with the border replicated.
    let edge = |y: usize, x: usize| {
        let row = &v[y * w..(y + 1) * w];
        let mut acc = 0.0f32;
        for (j, &kv) in k.iter().enumerate() {
            let xx = (x + j).saturating_sub(R).min(w - 1);
            acc += kv * row[xx];
        }
        acc
    };
    for y in 0..h {
        if w <= 2 * R {
            for x in 0..w {
                tmp[y * w + x] = edge(y, x);
            }
        } else {
            for x in (0..R).chain(w - R..w) {
                tmp[y * w + x] = edge(y, x);
            }
        }
    }
    let out = reset(out, n, 0.0f32);
    // Column pass, flat over the inner rows: cell i reads tmp[i + (j − R)w].
    if h > 2 * R {
        let (a, b) = (R * w, (h - R) * w);
        // Each tap's rows as one slice, zipped: no index to check, so the
        // loop vectorises whatever the code around it (indexed, it stayed
        // scalar after an unrelated change to the window, +13 ms CPU).
        const { assert!(2 * R + 1 == 7, "seven taps zipped below") };
        let m = b - a;
        let t = |j: usize| &tmp[j * w..j * w + m];
        for (((((((o, &t0), &t1), &t2), &t3), &t4), &t5), &t6) in out[a..b]
            .iter_mut()
            .zip(t(0))
            .zip(t(1))
            .zip(t(2))
            .zip(t(3))
            .zip(t(4))
            .zip(t(5))
            .zip(t(6))
        {
            let mut acc = 0.0f32;
            for (&kv, tv) in k.iter().zip([t0, t1, t2, t3, t4, t5, t6]) {
                acc += kv * tv;
            }
            *o = acc;
        }
    }
    for y in (0..h).filter(|&y| y < R || y + R >= h) {
        let o = &mut out[y * w..(y + 1) * w];
        for (x, ov) in o.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for (j, &kv) in k.iter().enumerate() {
                let yy = (y + j).saturating_sub(R).min(h - 1);
                acc += kv * tmp[yy * w + x];
            }
            *ov = acc;
        }
    }
}

/// Labels grown by one pixel into unlabelled 8-neighbours (largest wins),
/// only where `near` is non-zero, into `out`: the 3 × 3 maxima (the
/// maximum of three rows, then of three columns, each over the window as
/// one flat run with the ends of the rows done again), kept where the cell
/// had no label. `scratch`: the two passes' planes. Maxima are exact, so
/// the grouping does not matter.
#[inline(always)]
fn grow1(
    l: &[u32],
    w: usize,
    h: usize,
    near: &[u32],
    scratch: (&mut Vec<u32>, &mut Vec<u32>),
    out: &mut Vec<u32>,
) {
    let n = w * h;
    let (col, m) = scratch;
    col.clear();
    col.extend_from_slice(l);
    if h > 1 {
        for (c, &v) in col[w..].iter_mut().zip(&l[..n - w]) {
            *c = (*c).max(v);
        }
        for (c, &v) in col[..n - w].iter_mut().zip(&l[w..]) {
            *c = (*c).max(v);
        }
    }
    m.clear();
    m.extend_from_slice(col);
    if w > 1 {
        // Flat: the first cell of a row takes its left neighbour from the
        // row above's end, the last its right one from the next row's
        // start; those two are done again below.
        for (v, &c) in m[1..].iter_mut().zip(&col[..n - 1]) {
            *v = (*v).max(c);
        }
        for (v, &c) in m[..n - 1].iter_mut().zip(&col[1..]) {
            *v = (*v).max(c);
        }
        for y in 0..h {
            let r = &col[y * w..(y + 1) * w];
            m[y * w] = r[0].max(r[1]);
            m[y * w + w - 1] = r[w - 1].max(r[w - 2]);
        }
    }
    let out = sized(out, n);
    for (((o, &v), &nr), &mx) in out.iter_mut().zip(l).zip(near).zip(&m[..]) {
        *o = if v != 0 {
            v
        } else if nr != 0 {
            mx
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window blur as it was first written (tap by tap over each row,
    /// then over each column, accumulated in the output planes): the
    /// reference [`blur`] is tested against.
    fn blur_reference(
        v: &[f32],
        w: usize,
        h: usize,
        sigma: f32,
        scratch: (&mut Vec<f32>, &mut Vec<f32>),
        out: &mut Vec<f32>,
    ) {
        const R: usize = 3;
        let mut k = [0.0f32; 2 * R + 1];
        for (i, kv) in k.iter_mut().enumerate() {
            let t = i as f32 - R as f32;
            *kv = (-0.5 * t * t / (sigma * sigma)).exp();
        }
        let s: f32 = k.iter().sum();
        k.iter_mut().for_each(|v| *v /= s);
        let (tmp, buf) = scratch;
        let tmp = reset(tmp, w * h, 0.0f32);
        let buf = reset(buf, w + 2 * R, 0.0f32);
        for y in 0..h {
            let src = &v[y * w..(y + 1) * w];
            buf[..R].fill(src[0]);
            buf[R..R + w].copy_from_slice(src);
            buf[R + w..].fill(src[w - 1]);
            // Tap by tap over the whole row (vectorises across x); each output
            // still sums its taps in order from 0.
            let o = &mut tmp[y * w..(y + 1) * w];
            for (j, &kv) in k.iter().enumerate() {
                for (ov, &b) in o.iter_mut().zip(&buf[j..j + w]) {
                    *ov += kv * b;
                }
            }
        }
        let out = reset(out, w * h, 0.0f32);
        for y in 0..h {
            let o = &mut out[y * w..(y + 1) * w];
            for (j, &kv) in k.iter().enumerate() {
                let yy = (y + j).saturating_sub(R).min(h - 1);
                for (ov, &t) in o.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                    *ov += kv * t;
                }
            }
        }
    }

    /// The first window growth (cell by cell over the row spans): the
    /// reference [`grow1`] is tested against. Labels grown by one pixel into
    /// unlabelled 8-neighbours (largest wins),
    /// only where `near` is non-zero (within each row's `spans`, which hold
    /// every non-zero `near`), into `out`.
    fn grow1_reference(
        l: &[u32],
        w: usize,
        h: usize,
        near: &[u32],
        spans: &[(usize, usize)],
        out: &mut Vec<u32>,
    ) {
        out.clear();
        out.extend_from_slice(l);
        for (y, &(a, b)) in spans.iter().enumerate().take(h) {
            for x in a..b {
                if l[y * w + x] != 0 || near[y * w + x] == 0 {
                    continue;
                }
                let mut m = 0;
                for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                    for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                        m = m.max(l[yy * w + xx]);
                    }
                }
                out[y * w + x] = m;
            }
        }
    }

    /// The square maximum cell by cell (the window cut).
    fn max_square_reference(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
        (0..w * h)
            .map(|k| {
                let (x, y) = (k % w, k / w);
                let mut m = f32::NEG_INFINITY;
                for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                    for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                        m = m.max(v[yy * w + xx]);
                    }
                }
                m
            })
            .collect()
    }

    #[test]
    fn word_scanned_span_equals_the_cell_by_cell_span() {
        let mut rnd = super::super::tests::xorshift32(17);
        for case in 0..2000 {
            let w = rnd() as usize % 70;
            // None, sparse, dense and full rows.
            let density = [0, 1, 2, 4, 8, 32, 60, 64][rnd() as usize % 8];
            let row: Vec<bool> = (0..w).map(|_| rnd() % 64 < density).collect();
            // The reference: the first way the spans were read.
            let want = match row.iter().position(|&v| v) {
                Some(a) => (a, w - row.iter().rev().position(|&v| v).unwrap_or(0)),
                None => (usize::MAX, 0),
            };
            assert_eq!(true_span(&row), want, "case {case} ({row:?})");
        }
    }

    #[test]
    fn doubling_maximum_equals_the_cell_by_cell_maximum() {
        let mut rnd = super::super::tests::xorshift32(5);
        let (mut pad, mut nxt, mut got) = (Vec::new(), Vec::new(), Vec::new());
        for case in 0..300 {
            let (w, h) = (1 + rnd() as usize % 40, 1 + rnd() as usize % 30);
            let r = rnd() as usize % 9;
            // Masked contrasts: −1 off the seeds' cells, as in the windows.
            let v: Vec<f32> = (0..w * h)
                .map(|_| match rnd() % 3 {
                    0 => -1.0,
                    _ => (rnd() % 20001) as f32 * 1e-5 - 0.1,
                })
                .collect();
            max_square(&v, w, h, r, (&mut pad, &mut nxt), &mut got);
            let want = max_square_reference(&v, w, h, r);
            assert!(
                got.len() == want.len()
                    && got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                "case {case} ({w} × {h}, r {r})"
            );
        }
    }

    #[test]
    fn flat_growth_equals_the_cell_by_cell_growth() {
        let mut rnd = super::super::tests::xorshift32(31);
        let (mut col, mut m, mut got, mut want) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for case in 0..300 {
            let (w, h) = (1 + rnd() as usize % 40, 1 + rnd() as usize % 30);
            let l = super::super::tests::random_labels(&mut rnd, w, h, 40, 9);
            // `near`: the labelled cells and more (as the groups hold the
            // mask), and the spans of its rows.
            let near: Vec<u32> = l
                .data
                .iter()
                .map(|&v| {
                    if v != 0 || rnd().is_multiple_of(3) {
                        1 + v
                    } else {
                        0
                    }
                })
                .collect();
            let spans: Vec<(usize, usize)> = near
                .chunks_exact(w)
                .map(|r| match r.iter().position(|&v| v != 0) {
                    Some(a) => (a, w - r.iter().rev().position(|&v| v != 0).unwrap_or(0)),
                    None => (0, 0),
                })
                .collect();
            grow1(&l.data, w, h, &near, (&mut col, &mut m), &mut got);
            grow1_reference(&l.data, w, h, &near, &spans, &mut want);
            assert_eq!(got, want, "case {case} ({w} × {h})");
        }
    }

    #[test]
    fn flat_blur_equals_the_row_by_row_blur() {
        let mut rnd = super::super::tests::xorshift32(7);
        let (mut tmp, mut buf, mut got, mut want) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for case in 0..300 {
            let (w, h) = (1 + rnd() as usize % 40, 1 + rnd() as usize % 30);
            let sigma = 0.7 + (rnd() % 1000) as f32 * 3e-4;
            // Zeros and signed values, as the contrast planes hold.
            let v: Vec<f32> = (0..w * h)
                .map(|_| match rnd() % 4 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => (rnd() % 20001) as f32 * 1e-5 - 0.1,
                })
                .collect();
            blur(&v, w, h, sigma, (&mut tmp, &mut buf), &mut got);
            blur_reference(&v, w, h, sigma, (&mut tmp, &mut buf), &mut want);
            assert_eq!(got.len(), w * h);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "case {case} ({w} × {h}, σ {sigma})"
            );
        }
    }

    #[test]
    fn growing_twice_in_one_pass_equals_growing_twice() {
        let mut rnd = super::super::tests::xorshift32(99);
        for k in 0..40 {
            let (w, h) = (1 + rnd() as usize % 40, 1 + rnd() as usize % 30);
            let l = super::super::tests::random_labels(&mut rnd, w, h, 20, 7);
            let twice = grow_labels(&Labels {
                data: grow_labels(&l),
                ..l.clone()
            });
            assert_eq!(
                grow_labels_twice(&l, Vec::new()),
                twice,
                "case {k} ({w} × {h})"
            );
            // A buffer holding anything: every value is written.
            let junk = vec![u32::MAX; 1 + rnd() as usize % 2000];
            assert_eq!(
                grow_labels_twice(&l, junk),
                twice,
                "case {k}, reused buffer"
            );
        }
    }
}
