//! Binary morphology by a disc (through the exact distance transform, so the
//! cost does not grow with the radius; a small dilation ORs the disc's row
//! runs directly) and grey-scale min/max filters
//! (van Herk / Gil–Werman: 3 comparisons per pixel per pass for a square
//! window; a disc is a stack of such row windows, O(r) per pixel).
//!
//! Border: pixels outside the image are ignored (neither foreground nor
//! background; for grey filters the window is cut to the image). So erosion
//! does not eat in from the image edge and dilation adds nothing from outside.

use super::columns::map_columns;
use super::distance::squared_distance_to;
use crate::image::{Mask, Plane};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Shape of a structuring element of radius r (px).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Footprint {
    /// The (2r+1)×(2r+1) square.
    Square,
    /// Offsets (dx, dy) with dx² + dy² ≤ r².
    Disc,
}

fn disc_r2(radius_px: f32) -> f32 {
    if radius_px.is_nan() || radius_px <= 0.0 {
        0.0
    } else {
        radius_px * radius_px
    }
}

/// Binary dilation by the disc `dx² + dy² ≤ radius_px²`. A radius ≤ 0 or
/// NaN returns a copy.
#[must_use = "the function does not modify the original image"]
pub fn dilate(mask: &Mask, radius_px: f32) -> Mask {
    let r2 = disc_r2(radius_px);
    if r2 < SMALL_DISC_R2 {
        return dilate_small(mask, r2);
    }
    let d = squared_distance_to(mask, true);
    Mask {
        width: mask.width,
        height: mask.height,
        data: d.par_iter().map(|&v| v <= r2).collect(),
    }
}

/// Below this r², [`dilate`] ORs the disc's row runs directly (O(r²) byte
/// operations per pixel, vectorised) instead of the distance transform.
const SMALL_DISC_R2: f32 = 30.0;

/// [`dilate`] for a small disc: the disc `dx² + dy² ≤ r2` is a stack of row
/// runs `|dx| ≤ k(dy)`, and an output row is the OR of its neighbour rows
/// shifted over those runs (the same set as through the distance transform).
fn dilate_small(mask: &Mask, r2: f32) -> Mask {
    let (w, h) = (mask.width, mask.height);
    assert_eq!(mask.data.len(), w * h, "mask buffer size");
    // Half-width of the run at |dy| = 0, 1, … while the row meets the disc.
    let mut hw: Vec<usize> = Vec::new();
    let mut dy = 0usize;
    while ((dy * dy) as f32) <= r2 {
        let mut k = 0usize;
        while (((k + 1) * (k + 1) + dy * dy) as f32) <= r2 {
            k += 1;
        }
        hw.push(k);
        dy += 1;
    }
    let ry = hw.len() as isize - 1;
    let mut data = vec![false; w * h];
    if w == 0 {
        return Mask {
            width: w,
            height: h,
            data,
        };
    }
    data.par_chunks_mut(w).enumerate().for_each(|(y, orow)| {
        for dy in -ry..=ry {
            let yy = y as isize + dy;
            if yy < 0 || yy >= h as isize {
                continue;
            }
            let src = &mask.data[yy as usize * w..(yy as usize + 1) * w];
            let k = hw[dy.unsigned_abs()].min(w - 1);
            or_shifted(src, k, orow);
        }
    });
    Mask {
        width: w,
        height: h,
        data,
    }
}

/// Binary dilation by the (2r+1)×(2r+1) square (Chebyshev radius
/// `radius_px`): the same set as [`max_filter`] with [`Footprint::Square`]
/// of the 0/1 plane, on bytes instead of floats. Pixels outside the image
/// add nothing; radius 0 returns a copy.
#[must_use = "the function does not modify the original image"]
pub fn dilate_square(mask: &Mask, radius_px: usize) -> Mask {
    let (w, h) = (mask.width, mask.height);
    assert_eq!(mask.data.len(), w * h, "mask buffer size");
    Mask {
        width: w,
        height: h,
        data: dilate_square_rows(&mask.data, w, h, radius_px, w * h >= 1 << 16),
    }
}

/// [`dilate_square`] of a row-major `w × h` slice; `parallel` = rows in
/// parallel (small windows run on the calling thread, where parallel bands
/// cost more than the work). The same result either way.
pub(crate) fn dilate_square_rows(
    m: &[bool],
    w: usize,
    h: usize,
    r: usize,
    parallel: bool,
) -> Vec<bool> {
    if r == 0 || w == 0 || h == 0 {
        return m.to_vec();
    }
    let k = r.min(w - 1);
    // Each row ORed over ±r columns, then each output row over ±r rows.
    let mut rows = vec![false; w * h];
    let hpass = |(y, o): (usize, &mut [bool])| or_shifted(&m[y * w..(y + 1) * w], k, o);
    let mut out = vec![false; w * h];
    if parallel {
        rows.par_chunks_mut(w).enumerate().for_each(hpass);
        out.par_chunks_mut(w)
            .enumerate()
            .for_each(|a| or_rows(&rows, w, h, r, a));
    } else {
        rows.chunks_mut(w).enumerate().for_each(hpass);
        out.chunks_mut(w)
            .enumerate()
            .for_each(|a| or_rows(&rows, w, h, r, a));
    }
    out
}

/// [`dilate_square_rows`] on the calling thread into `out`, with `rows` as
/// scratch (both resized to `w × h`): no allocation once they are large
/// enough (many small windows in a row).
pub(crate) fn dilate_square_rows_into(
    m: &[bool],
    w: usize,
    h: usize,
    r: usize,
    rows: &mut Vec<bool>,
    out: &mut Vec<bool>,
) {
    out.clear();
    if r == 0 || w == 0 || h == 0 {
        out.extend_from_slice(m);
        return;
    }
    let k = r.min(w - 1);
    let n = w * h;
    // The row pass over the plane as one flat run per shift (a cell's
    // neighbours `d` to the left and right, wrapping into the rows above
    // and below), then the cells within `k` of a row's ends done again
    // within their row: long runs instead of one short run per row.
    rows.clear();
    rows.extend_from_slice(m);
    for d in 1..=k {
        for (o, &s) in rows[..n - d].iter_mut().zip(&m[d..]) {
            *o |= s;
        }
        for (o, &s) in rows[d..].iter_mut().zip(&m[..n - d]) {
            *o |= s;
        }
    }
    for (y, o) in rows.chunks_exact_mut(w).enumerate() {
        let src = &m[y * w..(y + 1) * w];
        if w <= 2 * k {
            for (x, v) in o.iter_mut().enumerate() {
                *v = src[x.saturating_sub(k)..(x + k + 1).min(w)].contains(&true);
            }
        } else {
            // Cell x < k: the OR of src[0 ..= x + k] (a running OR); cell
            // x ≥ w − k: of src[x − k .. w] (running from the end).
            let mut acc = src[..k].iter().fold(false, |a, &v| a | v);
            for x in 0..k {
                acc |= src[x + k];
                o[x] = acc;
            }
            let mut acc = src[w - k..].iter().fold(false, |a, &v| a | v);
            for x in (w - k..w).rev() {
                acc |= src[x - k];
                o[x] = acc;
            }
        }
    }
    // The vertical pass over the plane as one flat run per shift (rows `d`
    // above and below; none past the edges): long runs instead of one
    // short run per row and shift.
    out.extend_from_slice(rows);
    for d in (1..=r).map(|d| d * w).take_while(|&s| s < n) {
        for (v, &s) in out[..n - d].iter_mut().zip(&rows[d..]) {
            *v |= s;
        }
        for (v, &s) in out[d..].iter_mut().zip(&rows[..n - d]) {
            *v |= s;
        }
    }
}

/// Output row `y` of the vertical pass: `o |= rows[yy]` for `|yy − y| ≤ r`.
#[inline(always)]
fn or_rows(rows: &[bool], w: usize, h: usize, r: usize, (y, o): (usize, &mut [bool])) {
    for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
        for (v, &s) in o.iter_mut().zip(&rows[yy * w..(yy + 1) * w]) {
            *v |= s;
        }
    }
}

/// `out[x] |= src[x + d]` for every `|d| ≤ k` with `x + d` inside the row.
fn or_shifted(src: &[bool], k: usize, out: &mut [bool]) {
    let w = out.len();
    for o in out.iter_mut().zip(src) {
        *o.0 |= *o.1;
    }
    for d in 1..=k {
        for (o, &s) in out[..w - d].iter_mut().zip(&src[d..]) {
            *o |= s;
        }
        for (o, &s) in out[d..].iter_mut().zip(&src[..w - d]) {
            *o |= s;
        }
    }
}

/// Binary erosion by the disc `dx² + dy² ≤ radius_px²`: a pixel stays when no
/// `false` pixel lies within the disc.
#[must_use = "the function does not modify the original image"]
pub fn erode(mask: &Mask, radius_px: f32) -> Mask {
    let r2 = disc_r2(radius_px);
    let d = squared_distance_to(mask, false);
    Mask {
        width: mask.width,
        height: mask.height,
        data: d.par_iter().map(|&v| v > r2).collect(),
    }
}

/// Opening (erosion then dilation) by a disc: removes parts narrower than it.
#[must_use = "the function does not modify the original image"]
pub fn open(mask: &Mask, radius_px: f32) -> Mask {
    dilate(&erode(mask, radius_px), radius_px)
}

/// Closing (dilation then erosion) by a disc: fills gaps narrower than it.
#[must_use = "the function does not modify the original image"]
pub fn close(mask: &Mask, radius_px: f32) -> Mask {
    erode(&dilate(mask, radius_px), radius_px)
}

/// 1-D running extremum of radius `r` (window 2r+1, border cut to the line),
/// van Herk / Gil–Werman. `pick` is `f32::max` or `f32::min`.
fn running<F: Fn(f32, f32) -> f32>(
    src: &[f32],
    r: usize,
    out: &mut [f32],
    g: &mut Vec<f32>,
    hb: &mut Vec<f32>,
    pick: F,
) {
    let n = src.len();
    if r == 0 || n <= 1 {
        out.copy_from_slice(src);
        return;
    }
    let r = r.min(n); // a longer window sees the same pixels
    let k = 2 * r + 1;
    let len = n + 2 * r;
    // Replicating the edge value is the same as cutting the window.
    let p = |i: usize| src[i.saturating_sub(r).min(n - 1)];
    g.clear();
    hb.clear();
    g.resize(len, 0.0);
    hb.resize(len, 0.0);
    for i in 0..len {
        g[i] = if i % k == 0 {
            p(i)
        } else {
            pick(g[i - 1], p(i))
        };
    }
    for i in (0..len).rev() {
        hb[i] = if i % k == k - 1 || i == len - 1 {
            p(i)
        } else {
            pick(hb[i + 1], p(i))
        };
    }
    for (x, o) in out.iter_mut().enumerate() {
        *o = pick(hb[x], g[x + k - 1]);
    }
}

fn rows_running<F: Fn(f32, f32) -> f32 + Sync + Copy>(
    image: &Plane,
    r: usize,
    pick: F,
) -> Vec<f32> {
    let w = image.width;
    let mut out = vec![0.0f32; image.data.len()];
    if w == 0 {
        return out;
    }
    out.par_chunks_mut(w).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(g, hb), (y, o)| running(image.row(y), r, o, g, hb, pick),
    );
    out
}

fn extremum_filter<F: Fn(f32, f32) -> f32 + Sync + Send + Copy>(
    image: &Plane,
    radius: usize,
    footprint: Footprint,
    pick: F,
) -> Plane {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || radius == 0 {
        return image.clone();
    }
    match footprint {
        Footprint::Square => {
            let rows = rows_running(image, radius, pick);
            let out = map_columns(&rows, w, h, |col, o| {
                let (mut g, mut hb) = (Vec::new(), Vec::new());
                running(col, radius, o, &mut g, &mut hb, pick)
            });
            Plane::from_vec(w, h, out)
        }
        Footprint::Disc => {
            // Half-widths of the disc's rows; rows beyond the image are cut.
            // Capping the radius at w + h keeps the disc's shape over every
            // offset the image holds (each is shorter than w + h); capping
            // at max(w, h) would cut corners off a disc larger than the image.
            let r = radius.min(w + h);
            let half: Vec<usize> = (0..=r)
                .map(|dy| (((r * r - dy * dy) as f64).sqrt() + 1e-9).floor() as usize)
                .collect();
            let mut out = vec![0.0f32; w * h];
            out.par_chunks_mut(w).enumerate().for_each_init(
                || (vec![0.0f32; w], Vec::new(), Vec::new()),
                |(tmp, g, hb), (y, o)| {
                    let lo = y.saturating_sub(r);
                    let hi = (y + r).min(h - 1);
                    for (i, yy) in (lo..=hi).enumerate() {
                        running(image.row(yy), half[yy.abs_diff(y)], tmp, g, hb, pick);
                        if i == 0 {
                            o.copy_from_slice(tmp);
                        } else {
                            for (a, &b) in o.iter_mut().zip(tmp.iter()) {
                                *a = pick(*a, b);
                            }
                        }
                    }
                },
            );
            Plane::from_vec(w, h, out)
        }
    }
}

/// Grey-scale minimum over the footprint of radius `radius_px` (erosion).
#[must_use = "the function does not modify the original image"]
pub fn min_filter(image: &Plane, radius_px: usize, footprint: Footprint) -> Plane {
    extremum_filter(image, radius_px, footprint, f32::min)
}

/// Grey-scale maximum over the footprint of radius `radius_px` (dilation).
#[must_use = "the function does not modify the original image"]
pub fn max_filter(image: &Plane, radius_px: usize, footprint: Footprint) -> Plane {
    extremum_filter(image, radius_px, footprint, f32::max)
}

/// Black top-hat: grey closing (max then min filter) minus the image, ≥ 0.
/// Bright where the image has dark structures narrower than the footprint
/// (hair shafts in luminance).
#[must_use = "the function does not modify the original image"]
pub fn black_tophat(image: &Plane, radius_px: usize, footprint: Footprint) -> Plane {
    let closed = min_filter(
        &max_filter(image, radius_px, footprint),
        radius_px,
        footprint,
    );
    let data = closed
        .data
        .par_iter()
        .zip(image.data.par_iter())
        .map(|(&c, &i)| (c - i).max(0.0))
        .collect();
    Plane::from_vec(image.width, image.height, data)
}

/// White top-hat: the image minus its grey opening (min then max filter), ≥ 0.
/// Bright where the image has bright structures narrower than the footprint.
#[must_use = "the function does not modify the original image"]
pub fn white_tophat(image: &Plane, radius_px: usize, footprint: Footprint) -> Plane {
    let opened = max_filter(
        &min_filter(image, radius_px, footprint),
        radius_px,
        footprint,
    );
    let data = opened
        .data
        .par_iter()
        .zip(image.data.par_iter())
        .map(|(&o, &i)| (i - o).max(0.0))
        .collect();
    Plane::from_vec(image.width, image.height, data)
}

#[cfg(test)]
mod tests {

    #[test]
    fn flat_window_dilation_equals_the_row_by_row_dilation() {
        // The reference: each row ORed over ±r columns on its own
        // (`or_shifted`), then over ±r rows.
        let mut rnd = crate::testing::xorshift32(0x9e37_79b9);
        let (mut rows, mut got) = (Vec::new(), Vec::new());
        for case in 0..400 {
            let (w, h) = (1 + rnd() as usize % 45, 1 + rnd() as usize % 30);
            let r = rnd() as usize % 6;
            let density = 1 + rnd() % 12;
            let m: Vec<bool> = (0..w * h).map(|_| rnd() % 16 < density).collect();
            dilate_square_rows_into(&m, w, h, r, &mut rows, &mut got);
            let k = r.min(w - 1);
            let mut hp = vec![false; w * h];
            for (y, o) in hp.chunks_mut(w).enumerate() {
                or_shifted(&m[y * w..(y + 1) * w], k, o);
            }
            let mut want = vec![false; w * h];
            for a in want.chunks_mut(w).enumerate() {
                or_rows(&hp, w, h, r, a);
            }
            assert_eq!(got, want, "case {case} ({w} × {h}, r {r})");
        }
    }

    #[test]
    fn square_dilation_equals_the_square_max_filter() {
        // Sparse random-ish pixels, sizes below and above the serial limit,
        // radii 0..=3, a row narrower than the radius.
        for &(w, h) in &[
            (1usize, 9usize),
            (2, 3),
            (3, 7),
            (5, 4),
            (37, 23),
            (300, 250),
        ] {
            let data: Vec<bool> = (0..w * h)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) % 23 == 0)
                .collect();
            let m = Mask {
                width: w,
                height: h,
                data: data.clone(),
            };
            let p = Plane::from_vec(w, h, data.iter().map(|&b| b as u8 as f32).collect());
            for r in 0..=3 {
                let a = dilate_square(&m, r).data;
                let b: Vec<bool> = max_filter(&p, r, Footprint::Square)
                    .data
                    .iter()
                    .map(|&v| v > 0.0)
                    .collect();
                assert_eq!(a, b, "{w}x{h} r={r}");
                assert_eq!(dilate_square_rows(&data, w, h, r, false), a);
                // Into buffers holding anything.
                let (mut rows, mut out) = (vec![true; 5], vec![true; 9]);
                dilate_square_rows_into(&data, w, h, r, &mut rows, &mut out);
                assert_eq!(out, a, "into, {w}x{h} r={r}");
            }
        }
    }
    use super::*;
    use proptest::prelude::*;

    fn naive_bin(mask: &Mask, r: f32, dilation: bool) -> Mask {
        let (w, h) = (mask.width as isize, mask.height as isize);
        let ri = r.max(0.0).floor() as isize;
        let mut out = mask.clone();
        for y in 0..h {
            for x in 0..w {
                let mut v = !dilation;
                for dy in -ri..=ri {
                    for dx in -ri..=ri {
                        let (xx, yy) = (x + dx, y + dy);
                        if (dx * dx + dy * dy) as f32 > r * r
                            || xx < 0
                            || yy < 0
                            || xx >= w
                            || yy >= h
                        {
                            continue;
                        }
                        let m = mask.data[(yy * w + xx) as usize];
                        if dilation {
                            v |= m;
                        } else {
                            v &= m;
                        }
                    }
                }
                out.data[(y * w + x) as usize] = v;
            }
        }
        out
    }

    fn naive_grey(p: &Plane, r: usize, fp: Footprint, max: bool) -> Plane {
        let (w, h) = (p.width as isize, p.height as isize);
        let ri = r as isize;
        let mut out = p.clone();
        for y in 0..h {
            for x in 0..w {
                let mut v = if max { f32::MIN } else { f32::MAX };
                for dy in -ri..=ri {
                    for dx in -ri..=ri {
                        let (xx, yy) = (x + dx, y + dy);
                        if fp == Footprint::Disc && dx * dx + dy * dy > ri * ri {
                            continue;
                        }
                        if xx < 0 || yy < 0 || xx >= w || yy >= h {
                            continue;
                        }
                        let s = p.data[(yy * w + xx) as usize];
                        v = if max { v.max(s) } else { v.min(s) };
                    }
                }
                out.data[(y * w + x) as usize] = v;
            }
        }
        out
    }

    #[test]
    fn dilating_a_point_gives_a_disc() {
        let mut m = Mask::filled(21, 21, false);
        m.data[10 * 21 + 10] = true;
        let d = dilate(&m, 5.0);
        // Lattice points in a disc of radius 5: 81.
        assert_eq!(d.count(), 81);
        assert!(d.get(15, 10) && d.get(13, 14) && !d.get(14, 14));
        assert_eq!(erode(&d, 5.0).data, m.data);
        assert_eq!(open(&m, 1.0).count(), 0);
        assert_eq!(close(&d, 2.0).data, d.data);
    }

    #[test]
    fn tophat_finds_a_thin_dark_line() {
        let (w, h) = (30, 20);
        let mut p = Plane::filled(w, h, 0.8);
        for x in 0..w {
            p.data[10 * w + x] = 0.3;
            p.data[11 * w + x] = 0.3;
        }
        let t = black_tophat(&p, 2, Footprint::Disc);
        assert!((t.get(5, 10) - 0.5).abs() < 1e-6);
        assert_eq!(t.get(5, 3), 0.0);
        // Too small a footprint misses it.
        assert_eq!(black_tophat(&p, 0, Footprint::Square).get(5, 10), 0.0);
        assert!(white_tophat(&p, 2, Footprint::Square)
            .data
            .iter()
            .all(|&v| v == 0.0));
    }

    #[test]
    fn degenerate_sizes() {
        let p = Plane::filled(1, 1, 3.0);
        assert_eq!(min_filter(&p, 50, Footprint::Disc).data, vec![3.0]);
        assert_eq!(max_filter(&p, 50, Footprint::Square).data, vec![3.0]);
        let m = Mask::filled(1, 1, true);
        assert!(erode(&m, 10.0).data[0] && dilate(&m, f32::NAN).data[0]);
        assert_eq!(dilate(&Mask::default(), 3.0).data.len(), 0);
        assert_eq!(dilate(&Mask::filled(4, 4, false), 3.0).count(), 0);
    }

    /// A disc wider than the image keeps its shape: offset (3, 3) lies
    /// inside a radius-5 disc (18 ≤ 25) though outside a radius-4 one.
    #[test]
    fn disc_larger_than_the_image() {
        let mut vals = vec![0.0f32; 16];
        vals[15] = 1.0;
        let p = Plane::from_vec(4, 4, vals);
        let m = max_filter(&p, 5, Footprint::Disc);
        assert_eq!(m.get(0, 0), 1.0);
        assert_eq!(m.data, naive_grey(&p, 5, Footprint::Disc, true).data);
        let q = Plane::from_vec(4, 4, p.data.iter().map(|v| 1.0 - v).collect());
        let n = min_filter(&q, 5, Footprint::Disc);
        assert_eq!(n.get(0, 0), 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn binary_matches_naive(w in 1usize..18, h in 1usize..18, r in 0.0f32..5.0, bits in proptest::collection::vec(proptest::bool::weighted(0.3), 324)) {
            let m = Mask { width: w, height: h, data: bits[..w * h].to_vec() };
            prop_assert_eq!(dilate(&m, r).data, naive_bin(&m, r, true).data);
            prop_assert_eq!(erode(&m, r).data, naive_bin(&m, r, false).data);
        }

        #[test]
        fn grey_matches_naive(w in 1usize..16, h in 1usize..16, r in 0usize..6, disc in proptest::bool::ANY, vals in proptest::collection::vec(0.0f32..1.0, 256)) {
            let p = Plane::from_vec(w, h, vals[..w * h].to_vec());
            let fp = if disc { Footprint::Disc } else { Footprint::Square };
            prop_assert_eq!(max_filter(&p, r, fp).data, naive_grey(&p, r, fp, true).data);
            prop_assert_eq!(min_filter(&p, r, fp).data, naive_grey(&p, r, fp, false).data);
        }
    }
}
