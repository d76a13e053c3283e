//! Exact Euclidean distance transform (Felzenszwalb & Huttenlocher, "Distance
//! Transforms of Sampled Functions", 2012): a 1-D scan down every column,
//! then the lower envelope of parabolas along every row. Both passes are
//! parallel and each output value is computed by one task (deterministic).

use super::SERIAL_BELOW_PX;
use crate::image::{Mask, Plane};
use rayon::prelude::*;

/// Distance of each `true` pixel to the nearest `false` pixel (centre to
/// centre, px); 0 on `false` pixels. Pixels outside the image do not count
/// as `false`, so a mask with no `false` pixel at all gives `f32::INFINITY`
/// everywhere.
///
/// ```
/// use trichometry::{kernels::distance_transform, Mask};
/// let mut m = Mask::filled(5, 1, true);
/// m.data[0] = false;
/// let d = distance_transform(&m);
/// assert_eq!(d.data, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
/// ```
#[must_use = "the function does not modify the original image"]
pub fn distance_transform(mask: &Mask) -> Plane {
    let mut d = squared_distance_to(mask, false);
    if d.len() < SERIAL_BELOW_PX {
        d.iter_mut().for_each(|v| *v = v.sqrt());
    } else {
        d.par_iter_mut().for_each(|v| *v = v.sqrt());
    }
    Plane::from_vec(mask.width, mask.height, d)
}

/// Squared distance of every pixel to the nearest pixel whose flag equals
/// `target` (0 on those pixels, +∞ when there is none).
pub(crate) fn squared_distance_to(mask: &Mask, target: bool) -> Vec<f32> {
    let (w, h) = (mask.width, mask.height);
    assert_eq!(mask.data.len(), w * h, "mask buffer size");
    if w == 0 || h == 0 {
        return Vec::new();
    }
    // Column pass: distance (in rows) to the nearest target in the column,
    // computed a row at a time over strips of CSTRIP columns (contiguous,
    // vectorised loads) into a strip-major buffer: strip s holds `h` rows of
    // its (up to) CSTRIP values.
    let strips = w.div_ceil(CSTRIP);
    let mut g = vec![0u32; strips * CSTRIP * h];
    let serial = w * h < SERIAL_BELOW_PX;
    let col = |(s, strip): (usize, &mut [u32])| {
        let x0 = s * CSTRIP;
        let sw = (x0 + CSTRIP).min(w) - x0;
        column_pass(&mask.data, w, x0, sw, target, strip);
    };
    if serial {
        g.chunks_mut(CSTRIP * h).enumerate().for_each(col);
    } else {
        g.par_chunks_mut(CSTRIP * h).enumerate().for_each(col);
    }
    let mut out = vec![0.0f32; w * h];
    let init = || {
        (
            vec![0.0f64; w],
            Vec::with_capacity(w),
            Vec::with_capacity(w + 1),
        )
    };
    let row = |(f, v, z): &mut (Vec<f64>, Vec<usize>, Vec<f64>), (y, orow): (usize, &mut [f32])| {
        let mut all_zero = true;
        for (s, fs) in f.chunks_mut(CSTRIP).enumerate() {
            let base = s * CSTRIP * h + y * CSTRIP;
            for (fx, &gx) in fs.iter_mut().zip(&g[base..base + CSTRIP]) {
                all_zero &= gx == 0;
                *fx = if gx == u32::MAX {
                    f64::INFINITY
                } else {
                    (gx as f64) * (gx as f64)
                };
            }
        }
        if all_zero {
            // Every pixel of the row is a target: 0 (already).
            return;
        }
        // A target pixel p (f = 0) bounds every pixel beyond it: for q > p,
        // (q − p')² + f[p'] > (q − p)² whenever p' < p. So each run of
        // non-target pixels only needs the parabolas of the run and of
        // its two bounding targets; target pixels stay 0.
        let mut q = 0;
        while q < w {
            if f[q] == 0.0 {
                q += 1;
                continue;
            }
            let a = q;
            while q < w && f[q] != 0.0 {
                q += 1;
            }
            let (lo, hi) = (a.saturating_sub(1), (q + 1).min(w));
            lower_envelope(&f[lo..hi], v, z, &mut orow[lo..hi]);
        }
    };
    if serial {
        let mut st = init();
        out.chunks_mut(w).enumerate().for_each(|a| row(&mut st, a));
    } else {
        out.par_chunks_mut(w).enumerate().for_each_init(init, row);
    }
    out
}

/// Columns per strip of the column pass (1 KiB of u32 per row).
const CSTRIP: usize = 256;

/// Forward then backward scan down columns `x0..x0 + sw` of the mask, one
/// row at a time; `strip` is one row of CSTRIP values per mask row
/// (u32::MAX = no target in the column).
fn column_pass(mask: &[bool], w: usize, x0: usize, sw: usize, target: bool, strip: &mut [u32]) {
    let mut prev = [u32::MAX; CSTRIP];
    for (y, grow) in strip.chunks_exact_mut(CSTRIP).enumerate() {
        let m = &mask[y * w + x0..y * w + x0 + sw];
        for ((o, p), &mv) in grow[..sw].iter_mut().zip(&mut prev[..sw]).zip(m) {
            let d = if mv == target { 0 } else { p.saturating_add(1) };
            *o = d;
            *p = d;
        }
    }
    let mut next = [u32::MAX; CSTRIP];
    for grow in strip.chunks_exact_mut(CSTRIP).rev() {
        for (o, n) in grow[..sw].iter_mut().zip(&mut next[..sw]) {
            let d = (*o).min(n.saturating_add(1));
            *o = d;
            *n = d;
        }
    }
}

/// `out[q] = min_p (q − p)² + f[p]` over finite `f[p]`.
fn lower_envelope(f: &[f64], v: &mut Vec<usize>, z: &mut Vec<f64>, out: &mut [f32]) {
    v.clear();
    z.clear();
    for (q, &fq) in f.iter().enumerate() {
        if !fq.is_finite() {
            continue;
        }
        let qf = q as f64;
        loop {
            let Some(&p) = v.last() else {
                z.push(f64::NEG_INFINITY);
                break;
            };
            let pf = p as f64;
            let s = ((fq + qf * qf) - (f[p] + pf * pf)) / (2.0 * (qf - pf));
            if s <= *z.last().expect("one boundary per vertex") {
                v.pop();
                z.pop();
            } else {
                z.push(s);
                break;
            }
        }
        v.push(q);
    }
    if v.is_empty() {
        out.fill(f32::INFINITY);
        return;
    }
    z.push(f64::INFINITY);
    let mut k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        let qf = q as f64;
        while z[k + 1] < qf {
            k += 1;
        }
        let p = v[k] as f64;
        *o = ((qf - p) * (qf - p) + f[v[k]]) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(mask: &Mask) -> Vec<f32> {
        let (w, h) = (mask.width, mask.height);
        let zeros: Vec<(usize, usize)> = (0..w * h)
            .filter(|&i| !mask.data[i])
            .map(|i| (i % w, i / w))
            .collect();
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                zeros
                    .iter()
                    .map(|&(a, b)| {
                        let (dx, dy) = (a as f32 - x as f32, b as f32 - y as f32);
                        (dx * dx + dy * dy).sqrt()
                    })
                    .fold(f32::INFINITY, f32::min)
            })
            .collect()
    }

    #[test]
    fn disc_interior_distance() {
        let n = 41;
        let mut m = Mask::filled(n, n, false);
        for y in 0..n {
            for x in 0..n {
                let (dx, dy) = (x as f32 - 20.0, y as f32 - 20.0);
                m.data[y * n + x] = dx * dx + dy * dy <= 15.0 * 15.0;
            }
        }
        let d = distance_transform(&m);
        assert_eq!(d.data, brute(&m));
        // Nearest lattice point outside r² ≤ 225 is (15, 1).
        assert!((d.get(20, 20) - 226f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn degenerate_masks() {
        assert!(distance_transform(&Mask::filled(3, 2, true))
            .data
            .iter()
            .all(|v| v.is_infinite()));
        assert!(distance_transform(&Mask::filled(3, 2, false))
            .data
            .iter()
            .all(|&v| v == 0.0));
        assert_eq!(
            distance_transform(&Mask::filled(1, 1, true)).data,
            vec![f32::INFINITY]
        );
        assert!(distance_transform(&Mask::default()).data.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_brute_force(w in 1usize..24, h in 1usize..24, bits in proptest::collection::vec(proptest::bool::weighted(0.8), 576)) {
            let m = Mask { width: w, height: h, data: bits[..w * h].to_vec() };
            prop_assert_eq!(distance_transform(&m).data, brute(&m));
        }
    }
}
