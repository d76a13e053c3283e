//! Slowly varying background of a plane: medians over blocks of valid
//! pixels, bilinearly interpolated between block centres.
//!
//! Used for the local skin level (hair optical density, vessel redness,
//! skin colour behind yellow dots and scales): a median is robust to
//! structures that cover less than half of a block, and valid-pixel masks
//! keep hair, glare and excluded pixels out of it. Blocks are subsampled
//! (every other pixel, or every fourth for large blocks): for blocks of
//! tens of pixels the median of a subsample is as good and several times
//! cheaper.

use super::bilinear::{upsample_from_blocks, CentresInterp};
use crate::image::{Mask, Plane};
use rayon::prelude::*;

/// What a block with too few valid samples gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyBlocks {
    /// The median of all valid pixels (every third one) of the plane.
    GlobalMedian,
    /// The mean of its filled 4-neighbours, repeated until every block is
    /// filled (deterministic sweeps): the background continues smoothly
    /// under large hair tufts or glare.
    Neighbours,
}

/// Median of the valid (`valid(index)`), finite samples of each
/// `block`×`block` block, reading every `step`-th row and column; NaN where
/// `accept(valid samples, sampled pixels)` is false. Returns the grid and
/// its size.
fn grid(
    plane: &Plane,
    valid: impl Fn(usize) -> bool + Sync,
    block: usize,
    step: usize,
    accept: impl Fn(usize, usize) -> bool + Sync,
) -> (Vec<f32>, usize, usize) {
    grid_with(plane, valid, block, step, accept, f32::NAN, median_of_keys)
}

/// The median (the upper middle one of an even count) of the samples whose
/// [`total_order_key`]s are `keys` (reordered). `keys` is not empty.
fn median_of_keys(keys: &mut [i32]) -> f32 {
    let k = keys.len() / 2;
    from_total_order_key(*keys.select_nth_unstable(k).1)
}

/// [`grid`] with the block's value `reduce(keys)` over the
/// [`total_order_key`]s of its valid, finite samples (integers compare
/// faster than `total_cmp`'s closure; the same order), `none` where
/// `accept` is false.
fn grid_with<T: Copy + Send + Sync>(
    plane: &Plane,
    valid: impl Fn(usize) -> bool + Sync,
    block: usize,
    step: usize,
    accept: impl Fn(usize, usize) -> bool + Sync,
    none: T,
    reduce: impl Fn(&mut [i32]) -> T + Sync,
) -> (Vec<T>, usize, usize) {
    let (w, h) = (plane.width, plane.height);
    let (bw, bh) = (w.div_ceil(block), h.div_ceil(block));
    let mut out = vec![none; bw * bh];
    out.par_chunks_mut(bw.max(1))
        .enumerate()
        .for_each(|(by, row)| {
            let mut keys = Vec::with_capacity((block / step + 1) * (block / step + 1));
            for (bx, m) in row.iter_mut().enumerate() {
                keys.clear();
                let mut sampled = 0usize;
                for y in (by * block..((by + 1) * block).min(h)).step_by(step) {
                    let r = &plane.data[y * w..(y + 1) * w];
                    for x in (bx * block..((bx + 1) * block).min(w)).step_by(step) {
                        sampled += 1;
                        if valid(y * w + x) && r[x].is_finite() {
                            keys.push(total_order_key(r[x]));
                        }
                    }
                }
                if !keys.is_empty() && accept(keys.len(), sampled) {
                    *m = reduce(&mut keys);
                }
            }
        });
    (out, bw, bh)
}

/// An integer whose order is that of [`f32::total_cmp`] (the same
/// transform): −NaN < −∞ < … < −0 < +0 < … < +∞ < NaN.
#[inline(always)]
fn total_order_key(v: f32) -> i32 {
    let b = v.to_bits() as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

/// The value of a [`total_order_key`] (the transform is its own inverse).
#[inline(always)]
fn from_total_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ (((k >> 31) as u32) >> 1) as i32) as u32)
}

/// Median of every `step`-th valid, finite sample of the plane (0 when none;
/// of an even number the upper middle one, in [`f32::total_cmp`]'s order).
///
/// A radix select, in parallel: the samples' order keys counted by their
/// top 16 bits, chunk by chunk, then only the keys of the median's bucket
/// gathered and selected (the same value as selecting over all of them; no
/// buffer of all the keys).
pub(crate) fn global_median(plane: &Plane, valid: &[bool], step: usize) -> f32 {
    let step = step.max(1);
    let n = plane.data.len().min(valid.len());
    // Chunks of a multiple of `step` values: the samples are the chunks'.
    let chunk = step * (1usize << 16).div_ceil(step);
    let keys = |c: usize| {
        (c * chunk..((c + 1) * chunk).min(n))
            .step_by(step)
            .filter(|&i| valid[i] && plane.data[i].is_finite())
            .map(|i| unsigned_order_key(plane.data[i]))
    };
    const BUCKETS: usize = 1 << 16;
    let counts = (0..n.div_ceil(chunk))
        .into_par_iter()
        .fold(
            || vec![0u32; BUCKETS],
            |mut h, c| {
                for k in keys(c) {
                    h[(k >> 16) as usize] += 1;
                }
                h
            },
        )
        .reduce(
            || vec![0u32; BUCKETS],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, &y)| *x += y);
                a
            },
        );
    let total: usize = counts.iter().map(|&c| c as usize).sum();
    if total == 0 {
        return 0.0;
    }
    let m = total / 2;
    // The bucket holding the m-th key, and the keys below it.
    let (mut bucket, mut below) = (0usize, 0usize);
    while below + counts[bucket] as usize <= m {
        below += counts[bucket] as usize;
        bucket += 1;
    }
    let mut inside: Vec<u32> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .flat_map_iter(|c| keys(c).filter(|&k| (k >> 16) as usize == bucket))
        .collect();
    let k = *inside.select_nth_unstable(m - below).1;
    from_total_order_key((k ^ 0x8000_0000) as i32)
}

/// [`total_order_key`] as an unsigned integer of the same order.
#[inline(always)]
fn unsigned_order_key(v: f32) -> u32 {
    total_order_key(v) as u32 ^ 0x8000_0000
}

/// Block medians of `plane` over the pixels where `valid` is true: a grid of
/// ⌈w/block⌉ × ⌈h/block⌉ values (each at its block's centre). A block with
/// fewer than `min_samples` valid samples (every other pixel in both
/// directions is sampled) is filled as `empty` says; with
/// [`EmptyBlocks::Neighbours`] and no block filled the grid is zeros, with
/// [`EmptyBlocks::GlobalMedian`] the global median (0 without any valid
/// pixel). Deterministic for any number of threads.
///
/// # Panics
/// When `valid` and `plane` differ in size (an internal invariant).
#[must_use = "the function does not modify the original image"]
pub fn block_medians(
    plane: &Plane,
    valid: &[bool],
    block: usize,
    min_samples: usize,
    empty: EmptyBlocks,
) -> Plane {
    assert_eq!(valid.len(), plane.width * plane.height, "mask size");
    block_medians_where(
        plane,
        |i| valid[i],
        block,
        min_samples,
        empty,
        || global_median(plane, valid, 3),
    )
}

/// [`block_medians`] with the valid pixels given by a predicate of the
/// row-major index (asked at the sampled pixels only) and the global
/// median by `global` (asked only when a block is empty and `empty` says so).
fn block_medians_where(
    plane: &Plane,
    valid: impl Fn(usize) -> bool + Sync,
    block: usize,
    min_samples: usize,
    empty: EmptyBlocks,
    global: impl FnOnce() -> f32,
) -> Plane {
    let block = block.max(1);
    let min_samples = min_samples.max(1);
    let (mut med, bw, bh) = grid(plane, valid, block, 2, |n, _| n >= min_samples);
    if empty == EmptyBlocks::Neighbours && med.iter().all(|v| v.is_nan()) {
        return Plane::filled(bw, bh, 0.0);
    }
    match empty {
        EmptyBlocks::GlobalMedian => {
            if med.iter().any(|v| v.is_nan()) {
                let global = global();
                for v in med.iter_mut().filter(|v| v.is_nan()) {
                    *v = global;
                }
            }
        }
        EmptyBlocks::Neighbours => fill_from_neighbours(&mut med, bw, bh),
    }
    Plane::from_vec(bw, bh, med)
}

/// Per-block figures of [`block_lowest_levels`], each a grid of
/// ⌈w/block⌉ × ⌈h/block⌉ values.
pub(crate) struct LowestLevels {
    /// The block medians (as [`block_medians`] with
    /// [`EmptyBlocks::GlobalMedian`]: the same bits).
    pub median: Plane,
    /// The level of the lowest population: the median where that lies
    /// within `k_sigma` σ of the population, else the median of the samples
    /// within that reach.
    pub lowest: Plane,
    /// The lowest population's σ (NaN where unknown).
    pub sigma: Plane,
    /// Its reach, centre + `k_sigma` σ (+∞ where unknown).
    pub reach: Plane,
}

/// Level and spread of the lowest population of each block, for planes in
/// which what a background level should ignore mostly lies above it
/// (optical density: hair is darker than the skin).
///
/// The lowest population's centre and σ are read from the block's 2nd and
/// 10th percentiles as of a normal distribution, which holds while it
/// covers more than a fifth of the block. A block's median lies more than
/// `k_sigma` σ above that centre only when structures cover more than about
/// half of the block (a unimodal background does not put it there: a
/// uniform spread, the widest of the usual ones, puts it 2.6 σ above), or
/// when a brighter minority (scales, white dots) forms the lowest
/// population: which of the two, the caller decides. Blocks with fewer
/// than `min_samples` valid samples (every other pixel in both directions
/// is sampled) take the median of the plane.
///
/// # Panics
/// When `valid` and `plane` differ in size (an internal invariant).
pub(crate) fn block_lowest_levels(
    plane: &Plane,
    valid: &[bool],
    block: usize,
    min_samples: usize,
    k_sigma: f32,
) -> LowestLevels {
    assert_eq!(valid.len(), plane.width * plane.height, "mask size");
    let block = block.max(1);
    let min_samples = min_samples.max(1);
    let (cells, bw, bh) = grid_with(
        plane,
        |i| valid[i],
        block,
        2,
        |n, _| n >= min_samples,
        [f32::NAN, f32::NAN, f32::NAN, f32::INFINITY],
        |keys| lowest_level_of_keys(keys, k_sigma),
    );
    let mut median: Vec<f32> = cells.iter().map(|c| c[0]).collect();
    let mut lowest: Vec<f32> = cells.iter().map(|c| c[1]).collect();
    if median.iter().any(|v| v.is_nan()) {
        let global = global_median(plane, valid, 3);
        for (m, l) in median.iter_mut().zip(lowest.iter_mut()) {
            if m.is_nan() {
                (*m, *l) = (global, global);
            }
        }
    }
    let grid = |k: usize| Plane::from_vec(bw, bh, cells.iter().map(|c| c[k]).collect());
    LowestLevels {
        median: Plane::from_vec(bw, bh, median),
        lowest: Plane::from_vec(bw, bh, lowest),
        sigma: grid(2),
        reach: grid(3),
    }
}

/// `[median, lowest, σ, reach]` of [`block_lowest_levels`] for one block's
/// keys (reordered; not empty). σ is NaN and the reach +∞ for fewer than
/// 10 samples (the lowest level then the median).
fn lowest_level_of_keys(keys: &mut [i32], k_sigma: f32) -> [f32; 4] {
    // Standard normal quantiles of 10 % and 2 %.
    const Z10: f32 = 1.281_552;
    const Z02: f32 = 2.053_749;
    let n = keys.len();
    let median = median_of_keys(keys);
    if n < 10 {
        return [median, median, f32::NAN, f32::INFINITY];
    }
    // (Of fewer than 50 samples the lowest stands for the 2nd percentile.)
    let (i02, i10) = (n / 50, n / 10);
    // After the median's select the lower half holds the lowest n/2 keys.
    let lower = &mut keys[..n / 2];
    let q10 = from_total_order_key(*lower.select_nth_unstable(i10).1);
    let q02 = from_total_order_key(*lower[..i10].select_nth_unstable(i02).1);
    let sigma = (q10 - q02) / (Z02 - Z10);
    let reach = q10 + Z10 * sigma + k_sigma * sigma;
    if median <= reach {
        return [median, median, sigma, reach];
    }
    let ck = total_order_key(reach);
    let mut within: Vec<i32> = keys.iter().copied().filter(|&k| k <= ck).collect();
    [median, median_of_keys(&mut within), sigma, reach]
}

/// NaN blocks take the mean of their filled 4-neighbours, sweep after sweep
/// (each sweep reads the previous one: order-independent).
fn fill_from_neighbours(med: &mut [f32], bw: usize, bh: usize) {
    while med.iter().any(|v| v.is_nan()) {
        let prev = med.to_vec();
        for by in 0..bh {
            for bx in 0..bw {
                if !prev[by * bw + bx].is_nan() {
                    continue;
                }
                let (mut s, mut n) = (0.0, 0);
                for (dx, dy) in [(-1i32, 0i32), (1, 0), (0, -1), (0, 1)] {
                    let (x, y) = (bx as i32 + dx, by as i32 + dy);
                    if x >= 0 && y >= 0 && (x as usize) < bw && (y as usize) < bh {
                        let v = prev[y as usize * bw + x as usize];
                        if !v.is_nan() {
                            s += v;
                            n += 1;
                        }
                    }
                }
                if n > 0 {
                    med[by * bw + bx] = s / n as f32;
                }
            }
        }
    }
}

/// Centres (pixel coordinates, pixel centres at integers) of the samples
/// that [`block_medians`] reads from each block along a side of `len`
/// pixels: every `step`-th pixel from the block's start to its end. A full
/// block's centre is near its middle; the partial last block's is the middle
/// of the pixels it actually covers, not where a full block's would be.
fn sample_centres(len: usize, block: usize, step: usize) -> Vec<f32> {
    (0..len.div_ceil(block))
        .map(|k| {
            let (s, e) = (k * block, ((k + 1) * block).min(len));
            let last = s + (e - s - 1) / step * step;
            0.5 * (s + last) as f32
        })
        .collect()
}

/// [`block_medians`] interpolated back to the plane's size: the per-pixel
/// background. Each median sits at the centre of the samples it was taken
/// from (the partial blocks at the right and bottom borders included), and
/// the grid is interpolated linearly between those centres and extended
/// linearly beyond the outer ones ([`interpolate_from_centres`](super::interpolate_from_centres)): a
/// background that varies smoothly across the image (a redness or
/// brightness ramp) is followed up to the borders, where holding the outer
/// medians flat would leave a border band above or below the background —
/// "contrast" that is only the ramp.
#[must_use = "the function does not modify the original image"]
pub fn block_median_background(
    plane: &Plane,
    valid: &[bool],
    block: usize,
    min_samples: usize,
    empty: EmptyBlocks,
) -> Plane {
    block_median_background_interp(plane, valid, block, min_samples, empty).to_plane()
}

/// [`block_median_background`] without its plane: read it at points or
/// row by row ([`CentresInterp`]; the same bits).
pub(crate) fn block_median_background_interp(
    plane: &Plane,
    valid: &[bool],
    block: usize,
    min_samples: usize,
    empty: EmptyBlocks,
) -> CentresInterp {
    let block = block.max(1);
    let grid = block_medians(plane, valid, block, min_samples, empty);
    centres_interp(plane, block, &grid)
}

/// [`block_median_background_interp`] with [`EmptyBlocks::Neighbours`] and
/// the valid pixels given by a predicate of the row-major index, asked only
/// at the pixels sampled (a quarter): no mask plane is formed.
pub(crate) fn block_median_background_interp_where(
    plane: &Plane,
    valid: impl Fn(usize) -> bool + Sync,
    block: usize,
    min_samples: usize,
) -> CentresInterp {
    let block = block.max(1);
    let grid = block_medians_where(
        plane,
        valid,
        block,
        min_samples,
        EmptyBlocks::Neighbours,
        || 0.0,
    );
    centres_interp(plane, block, &grid)
}

/// The interpolator of a grid of block medians over `plane`'s size.
fn centres_interp(plane: &Plane, block: usize, grid: &Plane) -> CentresInterp {
    let xc = sample_centres(plane.width, block, 2);
    let yc = sample_centres(plane.height, block, 2);
    CentresInterp::new(grid, &xc, &yc, plane.width, plane.height)
}

/// Local background of `image`: the median of its `valid` samples in blocks
/// of `block`×`block` pixels, interpolated bilinearly between block centres
/// ([`upsample_from_blocks`]).
///
/// Blocks of 16 px and more are sampled on every other row and column, of
/// 64 px and more on every fourth (the median of a subsample of ≥ 256
/// values is as good and 4–16× cheaper). A block with fewer
/// valid samples than `min_fraction` of its sampled pixels takes the mean of
/// its filled 4-neighbours, sweep after sweep (deterministic); when no block
/// has enough, the plane is the median of all valid samples (0 when there
/// are none). A median ignores objects covering less than half of a block,
/// so the block should be about twice the largest object to be ignored.
///
/// ```
/// use trichometry::{kernels::block_median, Mask, Plane};
/// let mut p = Plane::filled(64, 64, 1.0);
/// p.data[10 * 64 + 10] = 50.0; // an outlier
/// let bg = block_median(&p, &Mask::filled(64, 64, true), 32, 0.05);
/// assert!(bg.data.iter().all(|&v| v == 1.0));
/// ```
#[must_use = "the function does not modify the original image"]
pub fn block_median(image: &Plane, valid: &Mask, block: usize, min_fraction: f64) -> Plane {
    let (w, h) = (image.width, image.height);
    assert_eq!(image.data.len(), w * h, "plane buffer size");
    assert_eq!(valid.data.len(), w * h, "mask size");
    if w == 0 || h == 0 {
        return image.clone();
    }
    let b = block.max(1);
    let step = if b >= 64 {
        4
    } else if b >= 16 {
        2
    } else {
        1
    };
    let (mut med, bw, bh) = grid(
        image,
        |i| valid.data[i],
        b,
        step,
        |n, sampled| n as f64 >= min_fraction * sampled as f64,
    );
    if med.iter().all(|v| v.is_nan()) {
        return Plane::filled(w, h, global_median(image, &valid.data, 1));
    }
    fill_from_neighbours(&mut med, bw, bh);
    upsample_from_blocks(&Plane::from_vec(bw, bh, med), b, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_order_keys_order_as_total_cmp_and_invert() {
        let vals = [
            f32::NEG_INFINITY,
            -3.5,
            -f32::MIN_POSITIVE,
            -1e-40,
            -0.0,
            0.0,
            1e-40,
            f32::MIN_POSITIVE,
            2.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for &a in &vals {
            assert_eq!(
                from_total_order_key(total_order_key(a)).to_bits(),
                a.to_bits()
            );
            for &b in &vals {
                assert_eq!(total_order_key(a).cmp(&total_order_key(b)), a.total_cmp(&b));
            }
        }
    }

    #[test]
    fn global_median_equals_a_select_over_all_samples() {
        // Several chunks, odd and even counts, signs, zeros of both signs,
        // non-finite and invalid values skipped.
        let mut rnd = crate::testing::xorshift32(77);
        for (n, step) in [
            (0usize, 3usize),
            (1, 1),
            (10, 3),
            (200_001, 3),
            (150_000, 1),
            (70_000, 7),
        ] {
            let data: Vec<f32> = (0..n)
                .map(|i| match rnd() % 50 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => -0.0,
                    3 => 0.0,
                    _ => (rnd() % 2000) as f32 * if i % 3 == 0 { -0.01 } else { 0.013 },
                })
                .collect();
            let valid: Vec<bool> = (0..n).map(|_| !rnd().is_multiple_of(5)).collect();
            let mut all: Vec<f32> = data
                .iter()
                .zip(&valid)
                .step_by(step)
                .filter(|(o, &v)| v && o.is_finite())
                .map(|(&o, _)| o)
                .collect();
            let want = if all.is_empty() {
                0.0
            } else {
                let m = all.len() / 2;
                *all.select_nth_unstable_by(m, f32::total_cmp).1
            };
            let got = global_median(&Plane::from_vec(n, 1, data), &valid, step);
            assert_eq!(got.to_bits(), want.to_bits(), "n {n} step {step}");
        }
    }

    #[test]
    fn medians_ignore_invalid_pixels_and_minor_structures() {
        // 8 × 8 blocks of 16 × 16 px: a ramp per block plus bright dots on
        // a quarter of the pixels and invalid huge values.
        let (w, h, b) = (32, 32, 16);
        let mut data = vec![0.0f32; w * h];
        let mut valid = vec![true; w * h];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                data[i] = (x / b) as f32 + 10.0 * (y / b) as f32;
                if x % 8 == 0 {
                    data[i] += 5.0; // minority structure (a quarter of the samples)
                }
                if y < 4 {
                    data[i] = 1e6;
                    valid[i] = false;
                }
            }
        }
        let g = block_medians(
            &Plane::from_vec(w, h, data),
            &valid,
            b,
            4,
            EmptyBlocks::Neighbours,
        );
        assert_eq!((g.width, g.height), (2, 2));
        assert_eq!(g.data, vec![0.0, 1.0, 10.0, 11.0]);
    }

    #[test]
    fn lowest_levels_find_the_skin_under_a_mat_and_brighter_dots_under_skin() {
        // Two 32 × 32 blocks: the left one 70 % "hair" (2.0 ± a little) over
        // "skin" (0.7 ± a little), the right one skin with 20 % brighter
        // dots (0.3): the mat's lowest level is the skin's, the dots' block
        // has the skin's median and the dots' lowest level.
        let (w, h, b) = (64, 32, 32);
        let mut rnd = crate::testing::xorshift32(5);
        let mut data = vec![0.0f32; w * h];
        for (i, v) in data.iter_mut().enumerate() {
            let jitter = (rnd() % 100) as f32 * 0.001;
            let (x, y) = (i % w, i / w);
            *v = if x < b {
                if (x + y) % 10 < 7 {
                    2.0 + jitter
                } else {
                    0.7 + jitter
                }
            } else if (x + 2 * y) % 5 == 0 {
                0.3 + jitter
            } else {
                0.7 + jitter
            };
        }
        let p = Plane::from_vec(w, h, data);
        let valid = vec![true; w * h];
        let l = block_lowest_levels(&p, &valid, b, 8, 5.0);
        let m = block_medians(&p, &valid, b, 8, EmptyBlocks::GlobalMedian);
        assert_eq!(l.median.data, m.data);
        assert!(l.median.data[0] > 1.9, "{:?}", l.median.data);
        assert!(
            (l.lowest.data[0] - 0.75).abs() < 0.06,
            "{:?}",
            l.lowest.data
        );
        assert!((0.8..1.5).contains(&l.reach.data[0]));
        // The dots are the lowest population of their block: which of the
        // two is the background, the caller decides.
        assert!(
            (l.median.data[1] - 0.75).abs() < 0.06,
            "{:?}",
            l.median.data
        );
        assert!(
            (l.lowest.data[1] - 0.35).abs() < 0.06,
            "{:?}",
            l.lowest.data
        );
    }

    #[test]
    fn empty_blocks_are_filled_from_neighbours_or_the_global_median() {
        let (w, h, b) = (12, 4, 4);
        let data: Vec<f32> = (0..w * h).map(|i| ((i % w) / b) as f32).collect();
        // Middle block fully invalid.
        let valid: Vec<bool> = (0..w * h).map(|i| (i % w) / b != 1).collect();
        let p = Plane::from_vec(w, h, data);
        let n = block_medians(&p, &valid, b, 1, EmptyBlocks::Neighbours);
        assert_eq!(n.data, vec![0.0, 1.0, 2.0]);
        let g = block_medians(&p, &valid, b, 1, EmptyBlocks::GlobalMedian);
        assert_eq!(g.data[0], 0.0);
        assert_eq!(g.data[2], 2.0);
        assert!(g.data[1] == 0.0 || g.data[1] == 2.0);
        // No valid pixel: zeros; the per-pixel background has the plane's size.
        let none = block_median_background(&p, &vec![false; w * h], b, 1, EmptyBlocks::Neighbours);
        assert_eq!((none.width, none.height), (w, h));
        assert!(none.data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn background_interpolates_between_block_centres() {
        let (w, h, b) = (16, 8, 8);
        let data: Vec<f32> = (0..w * h)
            .map(|i| if i % w < 8 { 0.0 } else { 8.0 })
            .collect();
        let bg = block_median_background(
            &Plane::from_vec(w, h, data),
            &vec![true; w * h],
            b,
            1,
            EmptyBlocks::GlobalMedian,
        );
        // Medians at the centres of their samples (x = 0, 2, 4, 6 and 8,
        // …, 14: x = 3 and 11), linear between them and extended linearly
        // beyond (slope 1 per px), not held flat.
        assert_eq!(bg.get(3, 3), 0.0);
        assert_eq!(bg.get(11, 3), 8.0);
        assert!((bg.get(7, 3) - 4.0).abs() < 1e-5);
        assert!((bg.get(0, 3) + 3.0).abs() < 1e-5);
        assert!((bg.get(15, 3) - 12.0).abs() < 1e-5);
    }

    #[test]
    fn background_follows_a_ramp_up_to_the_borders_with_partial_blocks() {
        // 45 × 30 px in blocks of 19: the last blocks cover 7 columns and
        // 11 rows. A plane ramp is the background everywhere (no border
        // band of false contrast), and a small bright spot stays contrast.
        // (The median of an even number of samples is the upper middle
        // one: within one sample step, 0.06, of the ramp at the centre;
        // medians held flat from nominal full-block centres would leave
        // about 0.1–0.4 at the borders.)
        let (w, h, b) = (45, 30, 19);
        let f = |x: usize, y: usize| 0.02 * x as f32 - 0.03 * y as f32;
        let mut data: Vec<f32> = (0..w * h).map(|i| f(i % w, i / w)).collect();
        data[2 * w + 43] += 1.0; // in the partial corner block
        let bg = block_median_background(
            &Plane::from_vec(w, h, data.clone()),
            &vec![true; w * h],
            b,
            1,
            EmptyBlocks::GlobalMedian,
        );
        for y in 0..h {
            for x in 0..w {
                let e = if (x, y) == (43, 2) { 1.0 } else { 0.0 };
                let d = data[y * w + x] - bg.get(x, y);
                assert!((d - e).abs() < 0.03, "({x},{y}): contrast {d}");
            }
        }
    }

    #[test]
    fn ignores_small_objects_and_follows_a_ramp() {
        let (w, h) = (96, 64);
        let mut p = Plane::from_vec(w, h, (0..w * h).map(|i| (i % w) as f32).collect());
        // A bright 8×8 square: a sixteenth of its 32-px block.
        for y in 4..12 {
            for x in 4..12 {
                p.data[y * w + x] = 1000.0;
            }
        }
        let bg = block_median(&p, &Mask::filled(w, h, true), 32, 0.05);
        // Between block centres (x = 16, 48, 80) the ramp is reproduced.
        for y in [20, 40] {
            for x in [20, 40, 60] {
                assert!(
                    (bg.get(x, y) - x as f32).abs() < 2.5,
                    "{x},{y}: {}",
                    bg.get(x, y)
                );
            }
        }
    }

    #[test]
    fn invalid_blocks_borrow_from_neighbours_and_empty_masks_are_fine() {
        let (w, h) = (64, 32);
        let p = Plane::from_vec(w, h, (0..w * h).map(|i| (i / w) as f32).collect());
        let mut valid = Mask::filled(w, h, true);
        for y in 0..h {
            for x in 32..64 {
                valid.data[y * w + x] = false;
            }
        }
        let bg = block_median(&p, &valid, 32, 0.05);
        assert!(bg.data.iter().all(|v| v.is_finite()));
        assert_eq!(bg.get(60, 10), bg.get(10, 10));
        let none = block_median(&p, &Mask::filled(w, h, false), 32, 0.05);
        assert!(none.data.iter().all(|&v| v == 0.0));
        let empty = block_median(&Plane::default(), &Mask::default(), 8, 0.05);
        assert!(empty.data.is_empty());
    }
}
