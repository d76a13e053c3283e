//! Local background by block medians: the median of the valid samples in
//! square blocks, bilinear between block centres.

use super::bilinear::upsample_from_blocks;
use crate::image::{Mask, Plane};
use rayon::prelude::*;

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
    let (bw, bh) = (w.div_ceil(b), h.div_ceil(b));
    let mut med = vec![f32::NAN; bw * bh];
    med.par_chunks_mut(bw).enumerate().for_each(|(by, row)| {
        let mut vals = Vec::with_capacity((b / step + 1) * (b / step + 1));
        for (bx, m) in row.iter_mut().enumerate() {
            vals.clear();
            let mut sampled = 0usize;
            for y in (by * b..((by + 1) * b).min(h)).step_by(step) {
                for x in (bx * b..((bx + 1) * b).min(w)).step_by(step) {
                    sampled += 1;
                    let i = y * w + x;
                    if valid.data[i] && image.data[i].is_finite() {
                        vals.push(image.data[i]);
                    }
                }
            }
            if !vals.is_empty() && vals.len() as f64 >= min_fraction * sampled as f64 {
                let k = vals.len() / 2;
                *m = *vals.select_nth_unstable_by(k, f32::total_cmp).1;
            }
        }
    });
    if med.iter().all(|v| v.is_nan()) {
        let mut all: Vec<f32> = image
            .data
            .iter()
            .zip(&valid.data)
            .filter(|(v, &ok)| ok && v.is_finite())
            .map(|(&v, _)| v)
            .collect();
        let global = if all.is_empty() {
            0.0
        } else {
            let k = all.len() / 2;
            *all.select_nth_unstable_by(k, f32::total_cmp).1
        };
        return Plane::filled(w, h, global);
    }
    while med.iter().any(|v| v.is_nan()) {
        let prev = med.clone();
        for (k, m) in med.iter_mut().enumerate() {
            if !m.is_nan() {
                continue;
            }
            let (bx, by) = (k % bw, k / bw);
            let (mut s, mut n) = (0.0f32, 0u32);
            for j in [
                (bx > 0).then(|| k - 1),
                (bx + 1 < bw).then(|| k + 1),
                (by > 0).then(|| k - bw),
                (by + 1 < bh).then(|| k + bw),
            ]
            .into_iter()
            .flatten()
            {
                if !prev[j].is_nan() {
                    s += prev[j];
                    n += 1;
                }
            }
            if n > 0 {
                *m = s / n as f32;
            }
        }
    }
    upsample_from_blocks(&Plane::from_vec(bw, bh, med), b, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

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
