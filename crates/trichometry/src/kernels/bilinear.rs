//! Bilinear sampling and factor-2 resampling (the pyramid used for large σ).
//! Pixel centres are at integer coordinates.

use crate::image::Plane;
use rayon::prelude::*;

/// Bilinear interpolation at (x, y) with pixel centres at integer
/// coordinates; positions outside the plane are clamped to the border.
/// NaN coordinates sample (0, 0). An empty plane gives 0.
#[inline]
pub fn sample_bilinear(image: &Plane, x: f32, y: f32) -> f32 {
    let d = &image.data;
    sample_bilinear_with(image.width, image.height, x, y, |i| d[i])
}

/// [`sample_bilinear`] of a `w × h` image whose pixel `i` (row-major) is
/// `px(i)`: for images that are never stored whole (e.g. a luminance
/// computed from colour planes where it is read).
#[inline(always)]
pub fn sample_bilinear_with(w: usize, h: usize, x: f32, y: f32, px: impl Fn(usize) -> f32) -> f32 {
    if w == 0 || h == 0 {
        return 0.0;
    }
    // `clamp` keeps NaN; `max` first maps NaN to 0.
    let x = x.max(0.0).min((w - 1) as f32);
    let y = y.max(0.0).min((h - 1) as f32);
    // Non-negative here: truncation is the floor (and needs no libm call).
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let (a, b) = (px(y0 * w + x0), px(y0 * w + x1));
    let (c, d) = (px(y1 * w + x0), px(y1 * w + x1));
    let top = a + fx * (b - a);
    let bot = c + fx * (d - c);
    top + fy * (bot - top)
}

/// Halve a plane by 2×2 box averaging; the result is ⌈w/2⌉ × ⌈h/2⌉
/// (an odd last row or column is replicated). Coarse pixel (i, j) is
/// centred at fine (2i + 0.5, 2j + 0.5).
#[must_use = "the function does not modify the original image"]
pub fn downsample2(image: &Plane) -> Plane {
    let (w, h) = (image.width, image.height);
    let (sw, sh) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0.0f32; sw * sh];
    if sw == 0 || sh == 0 {
        return Plane::from_vec(sw, sh, out);
    }
    // Rows per task: enough work per task for a ~1 ms pass.
    let band = 16;
    out.par_chunks_mut(band * sw)
        .enumerate()
        .for_each(|(b, chunk)| {
            for (jj, orow) in chunk.chunks_exact_mut(sw).enumerate() {
                let j = b * band + jj;
                let r0 = image.row(2 * j);
                let r1 = image.row((2 * j + 1).min(h - 1));
                downsample_row(r0, r1, orow);
            }
        });
    Plane::from_vec(sw, sh, out)
}

super::simd::dispatch! {
    fn downsample_row(r0: &[f32], r1: &[f32], orow: &mut [f32]) => downsample_row_body
}

/// One output row of [`downsample2`]: pairs of columns by exact chunks
/// (vectorises), then the replicated odd last column.
#[inline(always)]
fn downsample_row_body(r0: &[f32], r1: &[f32], orow: &mut [f32]) {
    let pairs = r0.len() / 2;
    for ((o, a), b) in orow[..pairs]
        .iter_mut()
        .zip(r0.chunks_exact(2))
        .zip(r1.chunks_exact(2))
    {
        *o = 0.25 * ((a[0] + a[1]) + (b[0] + b[1]));
    }
    if pairs < orow.len() {
        let x = r0.len() - 1;
        orow[pairs] = 0.25 * ((r0[x] + r0[x]) + (r1[x] + r1[x]));
    }
}

/// Bilinear resize of a plane made by [`downsample2`] back to `width × height`
/// (fine x maps to coarse (x − 0.5) / 2; borders clamp).
#[must_use = "the function does not modify the original image"]
pub fn upsample_to(coarse: &Plane, width: usize, height: usize) -> Plane {
    let mut out = vec![0.0f32; width * height];
    if width == 0 || height == 0 {
        return Plane::from_vec(width, height, out);
    }
    out.par_chunks_mut(width).enumerate().for_each(|(y, orow)| {
        let cy = (y as f32 - 0.5) * 0.5;
        for (x, o) in orow.iter_mut().enumerate() {
            *o = sample_bilinear(coarse, (x as f32 - 0.5) * 0.5, cy);
        }
    });
    Plane::from_vec(width, height, out)
}

/// Bilinear interpolation of a grid of block values (block `block`×`block`
/// pixels, each value at its block's centre) back to `width`×`height`
/// pixels, clamped at the borders: how a block-median background becomes a
/// per-pixel plane.
#[must_use = "the function does not modify the original image"]
pub fn upsample_from_blocks(coarse: &Plane, block: usize, width: usize, height: usize) -> Plane {
    let mut out = vec![0.0f32; width * height];
    upsample_from_blocks_apply(coarse, block, width, &mut out, |_, up, row| {
        row.copy_from_slice(up)
    });
    Plane::from_vec(width, height, out)
}

/// [`upsample_from_blocks`] one row at a time, without the full plane:
/// `f(y, upsampled_row, target_row)` for every row of the row-major
/// `target` (`width` wide), rows in parallel (e.g. to subtract a
/// background in place). Nothing is called when `coarse` is empty.
pub fn upsample_from_blocks_apply<T: Send>(
    coarse: &Plane,
    block: usize,
    width: usize,
    target: &mut [T],
    f: impl Fn(usize, &[f32], &mut [T]) + Sync,
) {
    if width == 0 || target.is_empty() || coarse.width == 0 || coarse.height == 0 {
        return;
    }
    let (bw, bh, b) = (coarse.width, coarse.height, block.max(1) as f32);
    let med = &coarse.data;
    // Block coordinate of every column (the same for all rows); clamped to
    // ≥ 0, so truncation is the floor. Its weight `tx` per column, and the
    // runs of columns between the same two block centres
    // `(first, end, x0, x1)` (increasing, so a run per block: the corner
    // values are read once per run, not gathered per pixel).
    let mut tx = Vec::with_capacity(width);
    let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
    for x in 0..width {
        let fx = ((x as f32 + 0.5) / b - 0.5).clamp(0.0, (bw - 1) as f32);
        let x0 = fx as usize;
        tx.push(fx - x0 as f32);
        match runs.last_mut() {
            Some(r) if r.2 == x0 => r.1 = x + 1,
            _ => runs.push((x, x + 1, x0, (x0 + 1).min(bw - 1))),
        }
    }
    target.par_chunks_mut(width).enumerate().for_each_init(
        || vec![0.0f32; width],
        |up, (y, trow)| {
            let fy = ((y as f32 + 0.5) / b - 0.5).clamp(0.0, (bh - 1) as f32);
            let y0 = fy as usize;
            let y1 = (y0 + 1).min(bh - 1);
            let ty = fy - y0 as f32;
            let (m0, m1) = (&med[y0 * bw..(y0 + 1) * bw], &med[y1 * bw..(y1 + 1) * bw]);
            for &(xa, xb, x0, x1) in &runs {
                let (a0, d0) = (m0[x0], m0[x1] - m0[x0]);
                let (a1, d1) = (m1[x0], m1[x1] - m1[x0]);
                for (o, &tx) in up[xa..xb].iter_mut().zip(&tx[xa..xb]) {
                    let top = a0 + tx * d0;
                    let bot = a1 + tx * d1;
                    *o = top + ty * (bot - top);
                }
            }
            f(y, up, trow);
        },
    );
}

/// Tensor-product linear interpolation of a grid of values given at
/// arbitrary increasing column positions `xc` (one per grid column) and row
/// positions `yc` (pixel coordinates, pixel centres at integers), to
/// `width`×`height` pixels. Between the outer positions this is bilinear
/// interpolation; beyond them the outer two positions are extended linearly
/// (not held flat), so a plane that varies linearly is reproduced up to the
/// borders. A single row or column is constant in that direction.
///
/// # Panics
/// When `xc`/`yc` do not match the grid's size (an internal invariant).
#[must_use = "the function does not modify the original image"]
pub fn interpolate_from_centres(
    grid: &Plane,
    xc: &[f32],
    yc: &[f32],
    width: usize,
    height: usize,
) -> Plane {
    CentresInterp::new(grid, xc, yc, width, height).to_plane()
}

/// [`interpolate_from_centres`] without its output plane: each grid row
/// interpolated along x, and per output row the two grid rows and weight
/// that blend them. [`CentresInterp::at`] and [`CentresInterp::row`] give
/// the plane's values bit for bit where they are needed (a background read
/// at points, or row by row in a pass that uses it once).
/// `t + ty · (b − t)`: the blend of two interpolated grid rows that every
/// reader of a [`CentresInterp`] uses (the same operations, so the same
/// bits, wherever it is read).
#[inline(always)]
pub(crate) fn lerp(t: f32, b: f32, ty: f32) -> f32 {
    t + ty * (b - t)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CentresInterp {
    width: usize,
    /// Grid rows interpolated along x (`grid.height × width`).
    rows_x: Vec<f32>,
    /// Per output row: upper and lower grid row, weight.
    ys: Vec<(usize, usize, f32)>,
}

impl CentresInterp {
    /// See [`interpolate_from_centres`].
    ///
    /// # Panics
    /// When `xc`/`yc` do not match the grid's size (an internal invariant).
    pub(crate) fn new(grid: &Plane, xc: &[f32], yc: &[f32], width: usize, height: usize) -> Self {
        assert_eq!(xc.len(), grid.width, "column positions");
        assert_eq!(yc.len(), grid.height, "row positions");
        if width == 0 || height == 0 || grid.width == 0 || grid.height == 0 {
            // Zeros: one zero row that every output row blends with itself.
            return CentresInterp {
                width,
                rows_x: vec![0.0; width],
                ys: vec![(0, 0, 0.0); height],
            };
        }
        // Segment (i, i + 1) and unclamped weight t of a coordinate: the
        // segment is the one containing it, or the outer one beyond the ends.
        let seg = |c: &[f32], p: f32| -> (usize, usize, f32) {
            if c.len() == 1 {
                return (0, 0, 0.0);
            }
            let i = c[1..c.len() - 1].partition_point(|&v| v <= p);
            (i, i + 1, (p - c[i]) / (c[i + 1] - c[i]))
        };
        let cols: Vec<(usize, usize, f32)> = (0..width).map(|x| seg(xc, x as f32)).collect();
        let (bw, med) = (grid.width, &grid.data);
        // Each grid row interpolated along x once (`top` and `bot` below
        // depend only on the grid row and x); each output row is then a
        // contiguous, vectorisable blend of two of them, with the same
        // operations per value.
        let mut rows_x = vec![0.0f32; grid.height * width];
        rows_x.par_chunks_mut(width).enumerate().for_each(|(k, r)| {
            let m = &med[k * bw..(k + 1) * bw];
            for (o, &(x0, x1, tx)) in r.iter_mut().zip(&cols) {
                *o = m[x0] + tx * (m[x1] - m[x0]);
            }
        });
        let ys = (0..height).map(|y| seg(yc, y as f32)).collect();
        CentresInterp { width, rows_x, ys }
    }

    /// Output size (width, height).
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.width, self.ys.len())
    }

    /// The two interpolated grid rows and the weight of output row `y`:
    /// its value at `x` is `top[x] + ty * (bot[x] - top[x])`.
    #[inline(always)]
    pub(crate) fn row_parts(&self, y: usize) -> (&[f32], &[f32], f32) {
        let (y0, y1, ty) = self.ys[y];
        let w = self.width;
        (
            &self.rows_x[y0 * w..(y0 + 1) * w],
            &self.rows_x[y1 * w..(y1 + 1) * w],
            ty,
        )
    }

    /// The value at (`x`, `y`).
    #[inline(always)]
    pub(crate) fn at(&self, x: usize, y: usize) -> f32 {
        let (top, bot, ty) = self.row_parts(y);
        let (t, b) = (top[x], bot[x]);
        lerp(t, b, ty)
    }

    /// Output row `y` from column `x0` into `out` (`out.len()` values).
    #[inline(always)]
    pub(crate) fn row_span(&self, y: usize, x0: usize, out: &mut [f32]) {
        let (top, bot, ty) = self.row_parts(y);
        let n = out.len();
        for ((o, &t), &b) in out.iter_mut().zip(&top[x0..x0 + n]).zip(&bot[x0..x0 + n]) {
            *o = lerp(t, b, ty);
        }
    }

    /// Output row `y` into `out` (`width` values).
    #[inline(always)]
    pub(crate) fn row(&self, y: usize, out: &mut [f32]) {
        self.row_span(y, 0, out);
    }

    /// The whole plane.
    pub(crate) fn to_plane(&self) -> Plane {
        let (width, height) = self.size();
        let mut out = vec![0.0f32; width * height];
        if width > 0 {
            out.par_chunks_mut(width)
                .enumerate()
                .for_each(|(y, orow)| self.row(y, orow));
        }
        Plane::from_vec(width, height, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_interp_points_and_spans_equal_the_plane() {
        let grid = Plane::from_vec(
            4,
            3,
            (0..12).map(|i| (i * i % 7) as f32 * 0.3 - 0.5).collect(),
        );
        let (xc, yc) = ([1.5f32, 9.0, 17.5, 22.0], [0.5f32, 8.0, 14.5]);
        let (w, h) = (24, 17);
        let it = CentresInterp::new(&grid, &xc, &yc, w, h);
        let plane = interpolate_from_centres(&grid, &xc, &yc, w, h);
        assert_eq!(it.to_plane().data, plane.data);
        let mut span = vec![0.0f32; 9];
        for y in 0..h {
            for x in 0..w {
                assert_eq!(it.at(x, y).to_bits(), plane.get(x, y).to_bits());
            }
            it.row_span(y, 5, &mut span);
            assert_eq!(&span[..], &plane.row(y)[5..14]);
        }
        // A ramp is followed beyond the outer centres (extrapolated).
        assert!(plane.get(0, 0) != plane.get(1, 0));
    }

    #[test]
    fn bilinear_reproduces_a_linear_ramp() {
        let (w, h) = (7, 5);
        let p = Plane::from_vec(
            w,
            h,
            (0..w * h)
                .map(|i| (i % w) as f32 * 2.0 + (i / w) as f32 * 3.0)
                .collect(),
        );
        for &(x, y) in &[(0.0, 0.0), (1.25, 2.5), (5.9, 3.1), (6.0, 4.0)] {
            assert!((sample_bilinear(&p, x, y) - (2.0 * x + 3.0 * y)).abs() < 1e-5);
        }
        // Clamped outside, NaN safe.
        assert_eq!(sample_bilinear(&p, -3.0, -1.0), 0.0);
        assert_eq!(sample_bilinear(&p, 100.0, 100.0), 2.0 * 6.0 + 3.0 * 4.0);
        assert_eq!(sample_bilinear(&p, f32::NAN, f32::NAN), 0.0);
    }

    #[test]
    fn block_upsampling_reproduces_a_ramp_between_block_centres() {
        // Blocks of 4 px: block k's centre is pixel 4k + 1.5.
        let coarse = Plane::from_vec(3, 2, vec![0.0, 4.0, 8.0, 10.0, 14.0, 18.0]);
        let up = upsample_from_blocks(&coarse, 4, 12, 8);
        for y in 0..8 {
            for x in 0..12 {
                let fx = (x as f32 - 1.5).clamp(0.0, 8.0);
                let fy = ((y as f32 - 1.5) / 4.0).clamp(0.0, 1.0);
                assert!((up.get(x, y) - (fx + 10.0 * fy)).abs() < 1e-5, "({x},{y})");
            }
        }
    }

    #[test]
    fn interpolation_from_centres_extends_a_plane_linearly() {
        // Uneven centres (a partial last block): a linear plane comes back
        // exactly everywhere, beyond the outer centres too.
        let (xc, yc) = ([1.5f32, 5.5, 8.5], [1.5f32, 4.0]);
        let f = |x: f32, y: f32| 2.0 * x - 3.0 * y + 1.0;
        let grid = Plane::from_vec(
            3,
            2,
            yc.iter()
                .flat_map(|&y| xc.iter().map(move |&x| f(x, y)))
                .collect(),
        );
        let up = interpolate_from_centres(&grid, &xc, &yc, 10, 5);
        for y in 0..5 {
            for x in 0..10 {
                let e = f(x as f32, y as f32);
                assert!(
                    (up.get(x, y) - e).abs() < 1e-4,
                    "({x},{y}): {}",
                    up.get(x, y)
                );
            }
        }
        // One column: constant across.
        let one = interpolate_from_centres(
            &Plane::from_vec(1, 2, vec![1.0, 3.0]),
            &[0.0],
            &[0.0, 2.0],
            3,
            3,
        );
        assert_eq!(one.data, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0]);
    }

    #[test]
    fn down_and_up_keep_a_ramp() {
        let (w, h) = (40, 31);
        let p = Plane::from_vec(w, h, (0..w * h).map(|i| (i % w) as f32).collect());
        let d = downsample2(&p);
        assert_eq!((d.width, d.height), (20, 16));
        assert!((d.get(3, 2) - 6.5).abs() < 1e-6);
        let u = upsample_to(&d, w, h);
        for x in 2..w - 2 {
            assert!(
                (u.get(x, 10) - x as f32).abs() < 1e-4,
                "x={x}: {}",
                u.get(x, 10)
            );
        }
        let one = downsample2(&Plane::filled(1, 1, 2.0));
        assert_eq!(one.data, vec![2.0]);
    }
}
