//! Painting polylines as labelled tubes (swept discs), in parallel row bands.

use crate::image::Labels;
use rayon::prelude::*;

/// Rows per parallel painting task.
const PBAND: usize = 64;
/// Row spans are painted in whole multiples of this many pixels (one
/// AVX-512 vector of `f32`).
const ROW_LANES: usize = 16;

/// One straight piece of a tube: its end points, radius and label.
#[derive(Clone, Copy)]
struct Seg {
    a: [f32; 2],
    b: [f32; 2],
    r: f32,
    label: u32,
    /// Pixel bounding box (inclusive).
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
}

/// Paint each polyline `k` (label `k + 1`) as the swept disc of diameter
/// `width` (px, at least 1) along it: a pixel within `width / 2` of the
/// polyline belongs to it. Where tubes overlap, the polyline nearer relative
/// to its own radius wins (a thin tube over a thick one keeps its own core),
/// ties to the lower label.
///
/// The polyline is subsampled every `max(1, ⌊r/2⌋)` points (and its last
/// point kept), which is plenty for centrelines sampled about every pixel.
/// The result does not depend on the number of threads.
#[must_use]
pub fn paint_tubes(width: usize, height: usize, tubes: &[(Vec<[f32; 2]>, f32)]) -> Labels {
    paint_tubes_zeroed(
        width,
        height,
        tubes,
        super::zeroed_vec::<u32>(width * height),
    )
}

/// [`paint_tubes`] into the allocation of `buf` (any contents: each band
/// is cleared just before it is painted; one shorter than `width × height`
/// is replaced by fresh zeros), and the mask of the painted pixels
/// (`label ≠ 0`) into the allocation of `mask` (any contents), set band by
/// band in the same pass: one pass over the label image instead of three
/// (clear, paint, mask). Memory the process has already written is
/// cleared far faster than fresh pages are faulted in and zeroed by the
/// system (on a virtual machine fresh pages can cost ~1 ms per MB), so a
/// caller with a dead full-size buffer at hand (the hair stage's luminance
/// plane, or a recycled label image) hands it over.
pub(crate) fn paint_tubes_and_mask(
    width: usize,
    height: usize,
    tubes: &[(Vec<[f32; 2]>, f32)],
    mut buf: Vec<u32>,
    mask: Vec<bool>,
) -> (Labels, Vec<bool>) {
    let n = width * height;
    let clear = buf.len() >= n;
    if clear {
        buf.truncate(n);
    } else {
        buf = super::zeroed_vec::<u32>(n);
    }
    let mut mask = super::reuse_len(mask, n);
    let labels = paint_bands(width, height, tubes, buf, clear, Some(&mut mask));
    (labels, mask)
}

/// [`paint_tubes`] into `lab` (`width × height` values: zeros, or anything
/// when `clear`, each band then cleared just before it is painted), and
/// `mask` (if given) set to `label ≠ 0` band by band.
fn paint_tubes_zeroed(
    width: usize,
    height: usize,
    tubes: &[(Vec<[f32; 2]>, f32)],
    lab: Vec<u32>,
) -> Labels {
    paint_bands(width, height, tubes, lab, false, None)
}

/// See [`paint_tubes_zeroed`].
fn paint_bands(
    width: usize,
    height: usize,
    tubes: &[(Vec<[f32; 2]>, f32)],
    mut lab: Vec<u32>,
    clear: bool,
    mask: Option<&mut [bool]>,
) -> Labels {
    let (w, h) = (width, height);
    debug_assert_eq!(lab.len(), w * h);
    debug_assert!(mask.as_ref().is_none_or(|m| m.len() == w * h));
    if w == 0 || h == 0 {
        return Labels {
            width: w,
            height: h,
            data: lab,
            count: tubes.len() as u32,
        };
    }
    let nb = h.div_ceil(PBAND);
    // Segments bucketed by the bands they touch, in painting order.
    let mut bands: Vec<Vec<Seg>> = vec![Vec::new(); nb];
    for (k, (pts, tw)) in tubes.iter().enumerate() {
        let r = 0.5 * tw.max(1.0);
        let reach = r + 0.5;
        let step = ((r / 2.0).max(1.0)) as usize;
        let mut q: Vec<[f32; 2]> = pts.iter().step_by(step).copied().collect();
        if let Some(&l) = pts.last() {
            q.push(l);
        }
        for s in q.windows(2) {
            let (a, b) = (s[0], s[1]);
            let x0 = (a[0].min(b[0]) - reach).floor().max(0.0) as usize;
            let y0 = (a[1].min(b[1]) - reach).floor().max(0.0) as usize;
            let x1 = ((a[0].max(b[0]) + reach).ceil() as usize).min(w - 1);
            let y1 = ((a[1].max(b[1]) + reach).ceil() as usize).min(h - 1);
            if x0 > x1 || y0 > y1 {
                continue;
            }
            let seg = Seg {
                a,
                b,
                r,
                label: k as u32 + 1,
                x0,
                x1,
                y0,
                y1,
            };
            for band in &mut bands[y0 / PBAND..=y1 / PBAND] {
                band.push(seg);
            }
        }
    }
    // One band: cleared if asked, painted, its mask set. `best` (the
    // relative distance of the label taken) is only read where a label
    // was taken, so it is not initialised.
    let band = |best: &mut Vec<f32>, bi: usize, chunk: &mut [u32], segs: &[Seg], m: &mut [bool]| {
        let by0 = bi * PBAND;
        let rows = chunk.len() / w;
        if clear {
            chunk.fill(0);
        }
        if best.len() < rows * w {
            best.resize(rows * w, f32::INFINITY);
        }
        paint_band(w, by0, rows, chunk, segs, best);
        for (m, &l) in m.iter_mut().zip(chunk.iter()) {
            *m = l != 0;
        }
    };
    match mask {
        Some(mask) => lab
            .par_chunks_mut(PBAND * w)
            .zip(mask.par_chunks_mut(PBAND * w))
            .zip(bands.par_iter())
            .enumerate()
            .for_each_init(Vec::new, |best, (bi, ((chunk, m), segs))| {
                band(best, bi, chunk, segs, m)
            }),
        None => lab
            .par_chunks_mut(PBAND * w)
            .zip(bands.par_iter())
            .enumerate()
            .for_each_init(Vec::new, |best, (bi, (chunk, segs))| {
                band(best, bi, chunk, segs, &mut [])
            }),
    }
    Labels {
        width: w,
        height: h,
        data: lab,
        count: tubes.len() as u32,
    }
}

super::simd::dispatch! {
    fn paint_band(w: usize, by0: usize, rows: usize, chunk: &mut [u32], segs: &[Seg], best: &mut [f32]) => paint_band_body
}

/// Paint the segments `segs` into the band of `rows` rows from row `by0`
/// (`chunk`: its labels, zero where nothing was painted yet; `best`: at
/// least as long, read only where a label is set). Dispatched as a whole
/// (the row spans' f64 `floor`/`ceil` then compile to one rounding
/// instruction instead of a libm call per segment row, the rows' painter
/// is inlined), with the same bits on every path. With the columns'
/// conversion of [`paint_row`], the hair stage's painting at 3.5 µm/px
/// took 338 → 208 M instructions (AVX2 copy).
#[inline(always)]
fn paint_band_body(
    w: usize,
    by0: usize,
    rows: usize,
    chunk: &mut [u32],
    segs: &[Seg],
    best: &mut [f32],
) {
    for s in segs {
        let (a, b, r) = (s.a, s.b, s.r);
        let (vx, vy) = (b[0] - a[0], b[1] - a[1]);
        let l2 = (vx * vx + vy * vy).max(1e-12);
        // A bounding box no wider than a row's vector: every row is painted
        // over a whole vector anyway, so the row spans are not computed
        // (the pixels outside the capsule fail `d ≤ r`, as the widening's;
        // a row that misses the capsule is painted without effect). Most
        // segments of thin shafts (a pixel long) are such. Session 25: the
        // hair stage's painting at 3.5 µm/px 186 → 178 M instructions (12 MP
        // bench, callgrind, AVX2 copy), the same output.
        let narrow = s.x1 - s.x0 < ROW_LANES;
        let spans = (!narrow).then(|| RowSpans::new(s));
        for y in s.y0.max(by0)..=s.y1.min(by0 + rows - 1) {
            // Only the row's span of the capsule (the bounding box
            // of a short, slanted segment is mostly outside it).
            let span = match &spans {
                None => Some((s.x0, s.x1)),
                Some(sp) => sp.span(s, y),
            };
            let Some((x0, x1)) = span else {
                continue;
            };
            // Widened to whole vectors (within the row): the pixels added
            // lie outside the capsule and fail `d ≤ r`, so they are left
            // as they were, and no row ends in a scalar remainder.
            let len = (x1 - x0 + 1).next_multiple_of(ROW_LANES).min(w);
            let x1 = (x0 + len - 1).min(w - 1);
            let x0 = x1 + 1 - len;
            let row = (y - by0) * w;
            let py = y as f32 - a[1];
            let (bs, ls) = (
                &mut best[row + x0..=row + x1],
                &mut chunk[row + x0..=row + x1],
            );
            paint_row(x0, a[0], vx, vy, l2, py, r, s.label, bs, ls);
        }
    }
}

/// The pixels `x0..=x1` of row `y` that [`paint_row`] may take for the
/// segment `s` (within its bounding box): those within its radius, plus a
/// margin far above the rounding of the f32 distances (0.05 px + 10⁻³ of
/// the segment's size, and a whole pixel), so that no pixel outside can
/// pass `d ≤ r`. `None` when the row misses the widened capsule.
#[cfg(test)]
fn capsule_row_span(s: &Seg, y: usize) -> Option<(usize, usize)> {
    RowSpans::new(s).span(s, y)
}

/// A segment's row spans ([`RowSpans::span`]): the rows of the rectangle
/// that holds its capsule widened by the margin (the band within `r` of
/// the segment's line, between the two lines across it `r` beyond its
/// ends), each row's interval a linear function of the row, its
/// coefficients computed once per segment.
///
/// Session 26 (branch `hspeed26`): the span was the hull of the row's
/// intervals through the two end discs and the rectangle between them,
/// computed anew for each row (f64 square roots and four divisions): about
/// 45 M of the painting's instructions per 12 MP call at 3.5 µm/px. The
/// rectangle is wider than the capsule only at its corners (by under `r`
/// on a row), and the pixels added fail `d ≤ r`: the same labels. Net
/// −11.3 M instructions at 3.5 µm/px, −6.7 M at 2 µm/px (the corners'
/// extra pixels pay back part of it).
struct RowSpans {
    ax: f64,
    ay: f64,
    /// Across the line: `x = ax + k1·py ± c1` (`None`: a horizontal
    /// segment, the rows within `c1` of it whole).
    k1: Option<f64>,
    c1: f64,
    /// Along the line: `x = ax − k2·py + [e_lo, e_hi]` (`None`: a
    /// vertical segment, the rows `py ∈ [e_lo, e_hi]` whole).
    k2: Option<f64>,
    e_lo: f64,
    e_hi: f64,
}

impl RowSpans {
    fn new(s: &Seg) -> RowSpans {
        let (ax, ay) = (s.a[0] as f64, s.a[1] as f64);
        let (vx, vy) = (s.b[0] as f64 - ax, s.b[1] as f64 - ay);
        let l = (vx * vx + vy * vy).sqrt();
        let r = s.r as f64 + 0.05 + 1e-3 * (s.r as f64 + l);
        let rl = r * l;
        // The band |py·vx − X·vy| ≤ r·l (X = x − ax, py = y − ay).
        let (k1, c1) = if vy != 0.0 {
            (Some(vx / vy), rl / vy.abs())
        } else {
            // |py|·|vx| ≤ r·l, i.e. |py| ≤ r (or any row when l = 0).
            (None, if vx != 0.0 { r } else { f64::INFINITY })
        };
        // The band −r·l ≤ X·vx + py·vy ≤ l² + r·l.
        let (lo_c, hi_c) = (-rl, l * l + rl);
        let (k2, e_lo, e_hi) = if vx != 0.0 {
            let (p, q) = (lo_c / vx, hi_c / vx);
            (Some(vy / vx), p.min(q), p.max(q))
        } else if vy != 0.0 {
            // lo_c ≤ py·vy ≤ hi_c.
            let (p, q) = (lo_c / vy, hi_c / vy);
            (None, p.min(q), p.max(q))
        } else {
            (None, f64::NEG_INFINITY, f64::INFINITY)
        };
        RowSpans {
            ax,
            ay,
            k1,
            c1,
            k2,
            e_lo,
            e_hi,
        }
    }

    /// The columns of row `y` to paint for `s` (its bounding box's, cut to
    /// the rectangle and widened by a pixel on each side); `None` when the
    /// row misses the rectangle.
    #[inline(always)]
    fn span(&self, s: &Seg, y: usize) -> Option<(usize, usize)> {
        let py = y as f64 - self.ay;
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        match self.k1 {
            Some(k) => {
                let m = k * py;
                (lo, hi) = (m - self.c1, m + self.c1);
            }
            None if py.abs() > self.c1 => return None,
            None => {}
        }
        match self.k2 {
            Some(k) => {
                let m = -k * py;
                (lo, hi) = (lo.max(m + self.e_lo), hi.min(m + self.e_hi));
            }
            None if py < self.e_lo || py > self.e_hi => return None,
            None => {}
        }
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return None;
        }
        let (xl, xr) = ((self.ax + lo).floor() - 1.0, (self.ax + hi).ceil() + 1.0);
        if xr < s.x0 as f64 || xl > s.x1 as f64 {
            return None;
        }
        let x0 = if xl <= s.x0 as f64 { s.x0 } else { xl as usize };
        let x1 = if xr >= s.x1 as f64 { s.x1 } else { xr as usize };
        Some((x0, x1))
    }
}

/// One row of one segment: pixels `x0..x0 + best.len()` at `py` below the
/// segment start; branch-free so that it vectorises. The columns are
/// converted to f32 from `i32` where the row allows (one vector
/// instruction; from `usize` the conversion is emulated lane by lane
/// without AVX-512: 71 M of the 165 M instructions of painting rows at
/// 3.5 µm/px), the same values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn paint_row(
    x0: usize,
    ax: f32,
    vx: f32,
    vy: f32,
    l2: f32,
    py: f32,
    r: f32,
    label: u32,
    best: &mut [f32],
    lab: &mut [u32],
) {
    let lab = &mut lab[..best.len()];
    macro_rules! go {
        ($col:ident) => {
            for (i, (b, l)) in best.iter_mut().zip(lab.iter_mut()).enumerate() {
                let px = $col(i) - ax;
                let t = ((px * vx + py * vy) / l2).clamp(0.0, 1.0);
                let (dx, dy) = (px - t * vx, py - t * vy);
                let d = (dx * dx + dy * dy).sqrt();
                let rel = d / r;
                // Where no label was taken yet, `best` is unset (infinite in
                // effect): any pixel within the radius is taken (rel ≤ 1).
                // Both read without a short circuit (`best` always holds a
                // value: the test's outcome is the same), so that the loop
                // loads and stores whole vectors: `*b` read only where a
                // label was set compiled to masked loads and stores
                // (session 26: the loop 48 → 32 instructions per 8 pixels,
                // AVX2 copy).
                let (bv, lv) = (*b, *l);
                let take = (d <= r) & ((lv == 0) | (rel < bv));
                *b = if take { rel } else { bv };
                *l = if take { label } else { lv };
            }
        };
    }
    match i32::try_from(x0 + best.len()) {
        // Every column x0 + i < x0 + len fits in an i32: the same integer.
        Ok(_) => {
            let col = |i: usize| (x0 as i32 + i as i32) as f32;
            go!(col)
        }
        Err(_) => {
            let col = |i: usize| (x0 + i) as f32;
            go!(col)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward sequential painter the kernel must reproduce.
    fn reference(w: usize, h: usize, shafts: &[(Vec<[f32; 2]>, f32)]) -> Vec<u32> {
        let mut lab = vec![0u32; w * h];
        let mut best = vec![f32::INFINITY; w * h];
        for (k, (pts, width)) in shafts.iter().enumerate() {
            let r = 0.5 * width.max(1.0);
            let reach = r + 0.5;
            let step = ((r / 2.0).max(1.0)) as usize;
            let mut q: Vec<[f32; 2]> = pts.iter().step_by(step).copied().collect();
            if let Some(&l) = pts.last() {
                q.push(l);
            }
            for s in q.windows(2) {
                let (a, b) = (s[0], s[1]);
                let x0 = (a[0].min(b[0]) - reach).floor().max(0.0) as usize;
                let y0 = (a[1].min(b[1]) - reach).floor().max(0.0) as usize;
                let x1 = ((a[0].max(b[0]) + reach).ceil() as usize).min(w - 1);
                let y1 = ((a[1].max(b[1]) + reach).ceil() as usize).min(h - 1);
                let (vx, vy) = (b[0] - a[0], b[1] - a[1]);
                let l2 = (vx * vx + vy * vy).max(1e-12);
                for y in y0..=y1 {
                    for x in x0..=x1 {
                        let (px, py) = (x as f32 - a[0], y as f32 - a[1]);
                        let t = ((px * vx + py * vy) / l2).clamp(0.0, 1.0);
                        let (dx, dy) = (px - t * vx, py - t * vy);
                        let d = (dx * dx + dy * dy).sqrt();
                        let rel = d / r;
                        let i = y * w + x;
                        if d <= r && rel < best[i] {
                            best[i] = rel;
                            lab[i] = k as u32 + 1;
                        }
                    }
                }
            }
        }
        lab
    }

    /// Every pixel of a segment's bounding box that the painter's own test
    /// (`d ≤ r`, in f32) takes lies in its row span: random segments,
    /// short and long, at any angle, with radii near and at pixel
    /// positions.
    #[test]
    fn row_spans_hold_every_painted_pixel() {
        let mut rng = crate::synth::Rng::new(11);
        let mut taken = 0usize;
        for k in 0..3000 {
            let a = [
                20.0 + 30.0 * rng.uniform() as f32,
                20.0 + 30.0 * rng.uniform() as f32,
            ];
            let len = if k % 3 == 0 {
                0.0
            } else {
                12.0 * rng.uniform() as f32
            };
            let ang = 6.3 * rng.uniform() as f32;
            let b = [a[0] + len * ang.cos(), a[1] + len * ang.sin()];
            // Radii that put the capsule's top or side on a pixel row.
            let r = match k % 4 {
                0 => (a[1].ceil() - a[1]) + (1 + k % 7) as f32,
                1 => 0.5,
                _ => 0.5 + 15.0 * rng.uniform() as f32,
            };
            let reach = r + 0.5;
            let seg = Seg {
                a,
                b,
                r,
                label: 1,
                x0: (a[0].min(b[0]) - reach).floor().max(0.0) as usize,
                y0: (a[1].min(b[1]) - reach).floor().max(0.0) as usize,
                x1: (a[0].max(b[0]) + reach).ceil() as usize,
                y1: (a[1].max(b[1]) + reach).ceil() as usize,
            };
            let (vx, vy) = (b[0] - a[0], b[1] - a[1]);
            let l2 = (vx * vx + vy * vy).max(1e-12);
            for y in seg.y0..=seg.y1 {
                let span = capsule_row_span(&seg, y);
                for x in seg.x0..=seg.x1 {
                    let (px, py) = (x as f32 - a[0], y as f32 - a[1]);
                    let t = ((px * vx + py * vy) / l2).clamp(0.0, 1.0);
                    let (dx, dy) = (px - t * vx, py - t * vy);
                    if (dx * dx + dy * dy).sqrt() <= r {
                        taken += 1;
                        let (x0, x1) = span.expect("row with a painted pixel");
                        assert!(
                            x0 <= x && x <= x1,
                            "seg {k} row {y}: {x} not in {x0}..={x1}"
                        );
                    }
                }
            }
        }
        assert!(taken > 100_000, "{taken}");
    }

    /// Painting into a used buffer, with the mask, gives the labels of a
    /// fresh one and their mask.
    #[test]
    fn painting_into_used_buffers_with_the_mask_equals_fresh_painting() {
        let (w, h) = (157, 203);
        let tubes = vec![
            (vec![[10.0, 5.0], [60.0, 150.0], [140.0, 190.0]], 9.0f32),
            (vec![[150.0, 10.0], [20.0, 180.0]], 4.5),
            (vec![[5.0, 100.0], [150.0, 100.5]], 1.0),
        ];
        let fresh = paint_tubes(w, h, &tubes);
        assert_eq!(fresh.data, reference(w, h, &tubes));
        for n in [w * h, w * h + 77, 10] {
            let buf: Vec<u32> = (0..n as u32).map(|i| i % 5).collect();
            let mask = vec![true; n / 2];
            let (lab, m) = paint_tubes_and_mask(w, h, &tubes, buf, mask);
            assert_eq!(lab, fresh);
            let want: Vec<bool> = fresh.data.iter().map(|&l| l != 0).collect();
            assert_eq!(m, want);
            assert!(want.iter().any(|&b| b) && want.iter().any(|&b| !b));
        }
    }

    #[test]
    fn banded_painting_equals_the_sequential_one_for_any_thread_count() {
        let (w, h) = (301, 203);
        let mut tubes = Vec::new();
        for k in 0..12 {
            let (x0, y0) = (13.0 + 23.7 * k as f32, -5.0 + 17.3 * k as f32);
            let ang = 0.37 * k as f32;
            let pts: Vec<[f32; 2]> = (0..260)
                .map(|i| {
                    let s = i as f32;
                    [
                        x0 + s * ang.cos() + 3.0 * (0.05 * s).sin(),
                        y0 + s * ang.sin(),
                    ]
                })
                .collect();
            tubes.push((pts, 1.0 + 2.3 * (k % 5) as f32));
        }
        let want = reference(w, h, &tubes);
        assert!(want.iter().filter(|&&l| l != 0).count() > 5000);
        for threads in [1, 3] {
            let got = crate::testing::on_threads(threads, || paint_tubes(w, h, &tubes));
            assert_eq!(got.data, want, "{threads} threads");
            assert_eq!(got.count, 12);
        }
        // Into a used buffer (longer than needed): the same labels; a short
        // one is not used.
        let (got, _) = paint_tubes_and_mask(w, h, &tubes, vec![7u32; w * h + 5], Vec::new());
        assert_eq!(got.data, want);
        let (got, _) = paint_tubes_and_mask(w, h, &tubes, vec![7u32; 3], Vec::new());
        assert_eq!(got.data, want);
        assert!(paint_tubes(0, 0, &tubes).data.is_empty());
    }
}
