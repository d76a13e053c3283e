//! Erythema: per-pixel a* and erythema-index maps, summaries over skin only.
//!
//! Maps use the fast per-pixel kernels of [`crate::color`]
//! ([`a_star_fast`], [`erythema_index_fast`]), parallel over
//! row bands, with a run-time AVX2 path on x86-64 that is bit-identical to the
//! portable one (no FMA contraction: the same operations in the same order).
//!
//! Summaries are exact and deterministic for any thread count:
//! - means are summed in f64, per row and then over rows in row order;
//! - percentiles are exact order statistics found by a radix select (a
//!   parallel 65 536-bin histogram of the top 16 bits of an order-preserving
//!   key, then a sort of the few values in the chosen bin), combined by
//!   **linear interpolation between closest ranks** (Hyndman & Fan type 7,
//!   numpy's default): for n values sorted as x₀ ≤ … ≤ xₙ₋₁, the p-quantile is
//!   x_k + f·(x_{k+1} − x_k) with h = (n−1)·p, k = ⌊h⌋, f = h − k.
//! - non-finite map values (only possible from non-finite input) are left out.

use crate::color::{a_star_fast, erythema_index_fast, LinearRgb};
use crate::image::{Mask, Plane};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Erythema summaries over skin (`None` when there is no colour or no skin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ErythemaSummary {
    /// Mean CIELAB a* over skin.
    pub erythema_a_star_mean: Option<f64>,
    /// Median a*.
    pub erythema_a_star_median: Option<f64>,
    /// 10th percentile of a* (linear interpolation between closest ranks).
    pub erythema_a_star_p10: Option<f64>,
    /// 90th percentile of a* (linear interpolation between closest ranks).
    pub erythema_a_star_p90: Option<f64>,
    /// Mean erythema index over skin.
    pub erythema_index_mean: Option<f64>,
    /// Median erythema index.
    pub erythema_index_median: Option<f64>,
}

/// Per-pixel maps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErythemaMaps {
    /// CIELAB a* per pixel.
    pub a_star: Plane,
    /// EI = 100·log10(R/G) per pixel.
    pub erythema_index: Plane,
}

/// Rows per parallel task: large enough to amortise scheduling, small enough
/// to balance two to a few dozen threads on a 12 MP image.
const BAND_ROWS: usize = 32;

#[inline(always)]
fn maps_band_portable(r: &[f32], g: &[f32], b: &[f32], a: &mut [f32], e: &mut [f32]) {
    let n = a.len();
    let (r, g, b, e) = (&r[..n], &g[..n], &b[..n], &mut e[..n]);
    for i in 0..n {
        a[i] = a_star_fast(r[i], g[i], b[i]);
        e[i] = erythema_index_fast(r[i], g[i]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn maps_band_avx2(r: &[f32], g: &[f32], b: &[f32], a: &mut [f32], e: &mut [f32]) {
    maps_band_portable(r, g, b, a, e)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn maps_band_avx512(r: &[f32], g: &[f32], b: &[f32], a: &mut [f32], e: &mut [f32]) {
    maps_band_portable(r, g, b, a, e)
}

fn maps_band(r: &[f32], g: &[f32], b: &[f32], a: &mut [f32], e: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { maps_band_avx512(r, g, b, a, e) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { maps_band_avx2(r, g, b, a, e) };
            return;
        }
    }
    maps_band_portable(r, g, b, a, e)
}

/// Compute the a* and EI maps of (colour-corrected) linear RGB.
///
/// a* agrees with the exact [`crate::color::linear_rgb_to_lab`] to < 0.01
/// and EI with [`crate::color::erythema_index`] to < 0.001.
#[must_use]
pub fn erythema_maps(rgb: &LinearRgb) -> ErythemaMaps {
    let mut maps = ErythemaMaps::default();
    erythema_maps_into(rgb, &mut maps);
    maps
}

/// [`erythema_maps`] into existing maps (reallocated only when the size
/// changes), to skip the page faults of fresh buffers in a batch.
pub fn erythema_maps_into(rgb: &LinearRgb, maps: &mut ErythemaMaps) {
    let (w, h) = (rgb.width, rgb.height);
    let n = w * h;
    for p in [&mut maps.a_star, &mut maps.erythema_index] {
        if p.data.len() != n {
            p.data = crate::color::alloc_plane(n);
        }
        p.width = w;
        p.height = h;
    }
    let band = (BAND_ROWS * w).max(1);
    maps.a_star
        .data
        .par_chunks_mut(band)
        .zip(maps.erythema_index.data.par_chunks_mut(band))
        .enumerate()
        .for_each(|(k, (a, e))| {
            let s = k * band;
            let t = s + a.len();
            maps_band(&rgb.r[s..t], &rgb.g[s..t], &rgb.b[s..t], a, e);
        });
}

/// Exact per-pixel maps with the scalar reference formulas (slow; for tests
/// and for checking the fast path).
#[must_use]
pub fn erythema_maps_exact(rgb: &LinearRgb) -> ErythemaMaps {
    let (w, h) = (rgb.width, rgb.height);
    let n = w * h;
    let mut a = Vec::with_capacity(n);
    let mut ei = Vec::with_capacity(n);
    for i in 0..n {
        let p = [rgb.r[i], rgb.g[i], rgb.b[i]];
        a.push(crate::color::linear_rgb_to_lab(p)[1]);
        ei.push(crate::color::erythema_index(p[0], p[1]));
    }
    ErythemaMaps {
        a_star: Plane::from_vec(w, h, a),
        erythema_index: Plane::from_vec(w, h, ei),
    }
}

/// Order-preserving map of a finite f32 to u32 (total order of the values).
#[inline]
fn key(v: f32) -> u32 {
    let b = v.to_bits();
    // Negative: all bits flipped; positive: sign bit set.
    b ^ (((b as i32 >> 31) as u32) | 0x8000_0000)
}

/// Robust statistics of one map over a mask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapStats {
    /// Number of finite values under the mask.
    pub count: usize,
    /// Mean (f64, summed per row then over rows in row order).
    pub mean: f64,
}

/// Mean and count of the finite values of `plane` under `mask`; `None` when
/// the mask selects no finite value.
pub fn masked_mean(plane: &Plane, mask: &Mask) -> Option<MapStats> {
    let w = plane.width.max(1);
    let rows: Vec<(f64, usize)> = plane
        .data
        .par_chunks(w)
        .zip(mask.data.par_chunks(w))
        .map(|(p, m)| {
            let mut s = 0f64;
            let mut c = 0usize;
            for (&v, &k) in p.iter().zip(m) {
                if k && v.is_finite() {
                    s += v as f64;
                    c += 1;
                }
            }
            (s, c)
        })
        .collect();
    let (mut s, mut c) = (0f64, 0usize);
    for (rs, rc) in rows {
        s += rs;
        c += rc;
    }
    (c > 0).then(|| MapStats {
        count: c,
        mean: s / c as f64,
    })
}

/// Bins of the first-level histogram: the top 16 bits of the key.
const BINS: usize = 1 << 16;

/// Inverse of [`key`].
#[inline]
fn from_key(k: u32) -> f32 {
    if k & 0x8000_0000 != 0 {
        f32::from_bits(k & 0x7fff_ffff)
    } else {
        f32::from_bits(!k)
    }
}

/// Pass 1 over one band of one plane: adds the bins of the finite values
/// under the mask to `h0`/`h1` (even/odd pixels, so that runs of equal bins
/// do not wait on one counter) and returns their sum and count. The sum
/// uses four f64 lanes (pixel index mod 4) added as (l0 + l1) + (l2 + l3):
/// a fixed order for a given band.
#[inline(always)]
fn pass1_band(p: &[f32], m: &[bool], h0: &mut [u32], h1: &mut [u32]) -> (f64, usize) {
    let n = p.len();
    let m = &m[..n];
    let (h0, h1) = (&mut h0[..BINS], &mut h1[..BINS]);
    let mut s = [0f64; 4];
    let mut c = [0usize; 4];
    let mut pc = p.chunks_exact(4);
    let mut mc = m.chunks_exact(4);
    for (pv, mv) in (&mut pc).zip(&mut mc) {
        for t in 0..4 {
            let v = pv[t];
            let ok = mv[t] & v.is_finite();
            s[t] += if ok { v as f64 } else { 0.0 };
            c[t] += ok as usize;
            let b = (key(v) >> 16) as usize;
            if t & 1 == 0 {
                h0[b] += ok as u32;
            } else {
                h1[b] += ok as u32;
            }
        }
    }
    for (t, (&v, &mk)) in pc.remainder().iter().zip(mc.remainder()).enumerate() {
        let ok = mk & v.is_finite();
        s[t] += if ok { v as f64 } else { 0.0 };
        c[t] += ok as usize;
        h0[(key(v) >> 16) as usize] += ok as u32;
    }
    ((s[0] + s[1]) + (s[2] + s[3]), c.iter().sum())
}

/// Exact quantiles (type 7, see the module docs) of the finite values of
/// `plane` under `mask`, one per entry of `ps` (each in [0, 1]). `None`
/// when the mask selects no finite value.
pub fn masked_quantiles(plane: &Plane, mask: &Mask, ps: &[f64]) -> Option<Vec<f64>> {
    masked_summaries(&[plane], mask, &[ps])
        .pop()
        .flatten()
        .map(|(_, q)| q)
}

/// Means and exact type-7 quantiles of several planes over one mask, in two
/// fused passes over fixed bands of rows (the result does not depend on the
/// thread count):
/// 1. per plane, a 65 536-bin histogram of the top 16 bits of the
///    order-preserving key (integer counts: the merge order is irrelevant)
///    and per-band f64 sums, added in band order;
/// 2. the keys of the values in the (at most two per quantile) bins holding
///    the ranks wanted, then a selection inside each bin.
///
/// `ps[j]` lists the probabilities wanted for plane `j`. `None` per plane
/// when the mask selects no finite value of it. Planes must have the mask's
/// size.
pub fn masked_summaries(
    planes: &[&Plane],
    mask: &Mask,
    ps: &[&[f64]],
) -> Vec<Option<(f64, Vec<f64>)>> {
    let k = planes.len();
    let len = mask.data.len();
    let band = (mask.width.max(1) * BAND_ROWS).max(1);
    let n_bands = len.div_ceil(band);
    let range = |bi: usize| bi * band..((bi + 1) * band).min(len);
    // Pass 1. band_stats[bi·k + j] = (sum, count) of plane j in band bi.
    let mut band_stats = vec![(0f64, 0usize); n_bands * k];
    let hist = band_stats
        .par_chunks_mut(k.max(1))
        .enumerate()
        .with_min_len(2)
        .fold(
            || vec![0u32; 2 * k * BINS],
            |mut h, (bi, st)| {
                let r = range(bi);
                let m = &mask.data[r.clone()];
                for (j, (hj, sj)) in h.chunks_exact_mut(2 * BINS).zip(st).enumerate() {
                    let (h0, h1) = hj.split_at_mut(BINS);
                    *sj = pass1_band(&planes[j].data[r.clone()], m, h0, h1);
                }
                h
            },
        )
        .reduce(
            || vec![0u32; 2 * k * BINS],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
                a
            },
        );
    let mut sum = vec![0f64; k];
    let mut count = vec![0usize; k];
    for st in band_stats.chunks_exact(k.max(1)) {
        for j in 0..k {
            sum[j] += st[j].0;
            count[j] += st[j].1;
        }
    }
    // Ranks wanted per plane, the bins holding them, and a bin → slot table
    // for pass 2 (NONE = not wanted).
    const NONE: u8 = u8::MAX;
    let mut plans = Vec::with_capacity(k);
    let mut slots = vec![NONE; k * BINS];
    for j in 0..k {
        let hj = &hist[2 * j * BINS..2 * (j + 1) * BINS];
        let mut cum = vec![0u64; BINS + 1];
        for i in 0..BINS {
            cum[i + 1] = cum[i] + u64::from(hj[i]) + u64::from(hj[BINS + i]);
        }
        let n = count[j] as u64;
        let mut ranks = Vec::new();
        if n > 0 {
            for &p in ps[j] {
                let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
                let r = (h.floor() as u64).min(n - 1);
                ranks.push((r, (r + 1).min(n - 1), h - r as f64));
            }
        }
        let bin_of = |r: u64| cum.partition_point(|&c| c <= r) - 1;
        let mut bins: Vec<usize> = ranks
            .iter()
            .flat_map(|&(r0, r1, _)| [bin_of(r0), bin_of(r1)])
            .collect();
        bins.sort_unstable();
        bins.dedup();
        assert!(bins.len() < NONE as usize, "too many quantiles");
        for (s, &b) in bins.iter().enumerate() {
            slots[j * BINS + b] = s as u8;
        }
        plans.push((cum, ranks, bins));
    }
    // Pass 2: keys of the values in the wanted bins, per plane and slot
    // (their order does not matter: selection below).
    let n_slots: Vec<usize> = plans.iter().map(|p| p.2.len()).collect();
    let empty = || -> Vec<Vec<Vec<u32>>> { n_slots.iter().map(|&s| vec![Vec::new(); s]).collect() };
    let mut keys = (0..n_bands)
        .into_par_iter()
        .with_min_len(2)
        .fold(empty, |mut acc, bi| {
            let r = range(bi);
            let m = &mask.data[r.clone()];
            for j in 0..k {
                if n_slots[j] == 0 {
                    continue;
                }
                let sl = &slots[j * BINS..(j + 1) * BINS];
                let out = &mut acc[j];
                for (&v, &mk) in planes[j].data[r.clone()].iter().zip(m) {
                    let kv = key(v);
                    let s = sl[(kv >> 16) as usize];
                    if s != NONE && mk && v.is_finite() {
                        out[s as usize].push(kv);
                    }
                }
            }
            acc
        })
        .reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                for (u, v) in x.iter_mut().zip(y) {
                    u.extend(v);
                }
            }
            a
        });
    let mut out = Vec::with_capacity(k);
    for (j, (cum, ranks, bins)) in plans.iter().enumerate() {
        if count[j] == 0 {
            out.push(None);
            continue;
        }
        let mut at = |r: u64| -> f64 {
            let b = cum.partition_point(|&c| c <= r) - 1;
            let s = bins.binary_search(&b).expect("bin of a wanted rank");
            let v = &mut keys[j][s];
            let i = (r - cum[b]) as usize;
            from_key(*v.select_nth_unstable(i).1) as f64
        };
        let q = ranks
            .iter()
            .map(|&(r0, r1, f)| {
                let lo = at(r0);
                if f == 0.0 {
                    lo
                } else {
                    lo + f * (at(r1) - lo)
                }
            })
            .collect();
        out.push(Some((sum[j] / count[j] as f64, q)));
    }
    out
}

/// Summaries of the maps over `skin`.
pub fn summarize(maps: &ErythemaMaps, skin: &Mask) -> ErythemaSummary {
    let r = masked_summaries(
        &[&maps.a_star, &maps.erythema_index],
        skin,
        &[&[0.1, 0.5, 0.9], &[0.5]],
    );
    let (a, e) = (&r[0], &r[1]);
    ErythemaSummary {
        erythema_a_star_mean: a.as_ref().map(|s| s.0),
        erythema_a_star_median: a.as_ref().map(|s| s.1[1]),
        erythema_a_star_p10: a.as_ref().map(|s| s.1[0]),
        erythema_a_star_p90: a.as_ref().map(|s| s.1[2]),
        erythema_index_mean: e.as_ref().map(|s| s.0),
        erythema_index_median: e.as_ref().map(|s| s.1[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Rng;

    fn random_rgb(w: usize, h: usize, seed: u64) -> LinearRgb {
        let mut rng = Rng::new(seed);
        let n = w * h;
        let mut v = || (0..n).map(|_| rng.range(-0.02, 1.05) as f32).collect();
        LinearRgb {
            width: w,
            height: h,
            r: v(),
            g: v(),
            b: v(),
            is_colour: true,
        }
    }

    #[test]
    fn fast_maps_match_exact_maps() {
        let rgb = random_rgb(257, 131, 7);
        let fast = erythema_maps(&rgb);
        let exact = erythema_maps_exact(&rgb);
        let da = fast
            .a_star
            .data
            .iter()
            .zip(&exact.a_star.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        let de = fast
            .erythema_index
            .data
            .iter()
            .zip(&exact.erythema_index.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(da < 0.01, "max a* error {da}");
        assert!(de < 1e-3, "max EI error {de}");
    }

    #[test]
    fn simd_path_is_bit_identical_to_portable() {
        let rgb = random_rgb(300, 7, 3);
        let n = rgb.r.len();
        let (mut a1, mut e1) = (vec![0f32; n], vec![0f32; n]);
        let (mut a2, mut e2) = (vec![0f32; n], vec![0f32; n]);
        maps_band_portable(&rgb.r, &rgb.g, &rgb.b, &mut a1, &mut e1);
        maps_band(&rgb.r, &rgb.g, &rgb.b, &mut a2, &mut e2);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a1), bits(&a2));
        assert_eq!(bits(&e1), bits(&e2));
    }

    /// Reference type-7 quantile by full sort.
    fn quantile_sorted(v: &[f64], p: f64) -> f64 {
        let h = (v.len() - 1) as f64 * p;
        let k = h.floor() as usize;
        let f = h - k as f64;
        if k + 1 < v.len() {
            v[k] + f * (v[k + 1] - v[k])
        } else {
            v[k]
        }
    }

    #[test]
    fn quantiles_match_full_sort() {
        let mut rng = Rng::new(11);
        let (w, h) = (123, 77);
        let data: Vec<f32> = (0..w * h)
            .map(|i| {
                // Many ties and a wide range.
                if i % 5 == 0 {
                    3.25
                } else {
                    (rng.normal() * 20.0) as f32
                }
            })
            .collect();
        let mask_data: Vec<bool> = (0..w * h).map(|i| i % 7 != 3).collect();
        let plane = Plane::from_vec(w, h, data.clone());
        let mask = Mask {
            width: w,
            height: h,
            data: mask_data.clone(),
        };
        let ps = [0.0, 0.1, 0.25, 0.5, 0.9, 0.999, 1.0];
        let got = masked_quantiles(&plane, &mask, &ps).unwrap();
        let mut v: Vec<f64> = data
            .iter()
            .zip(&mask_data)
            .filter(|(_, &m)| m)
            .map(|(&x, _)| x as f64)
            .collect();
        v.sort_by(f64::total_cmp);
        for (p, g) in ps.iter().zip(&got) {
            let want = quantile_sorted(&v, *p);
            assert!((g - want).abs() < 1e-9, "p={p}: {g} vs {want}");
        }
        let fused = masked_summaries(&[&plane], &mask, &[&ps]);
        let (fm, fq) = fused[0].clone().unwrap();
        assert_eq!(fq, got);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((fm - mean).abs() < 1e-9, "{fm} vs {mean}");
        // Hand-checked tiny case: values 1,2,3,4 → median 2.5, p10 = 1.3.
        let plane = Plane::from_vec(2, 2, vec![4.0, 1.0, 3.0, 2.0]);
        let mask = Mask::filled(2, 2, true);
        let q = masked_quantiles(&plane, &mask, &[0.5, 0.1]).unwrap();
        assert!(
            (q[0] - 2.5).abs() < 1e-12 && (q[1] - 1.3).abs() < 1e-6,
            "{q:?}"
        );
    }

    #[test]
    fn empty_mask_gives_none() {
        let rgb = random_rgb(10, 10, 1);
        let maps = erythema_maps(&rgb);
        let s = summarize(&maps, &Mask::filled(10, 10, false));
        assert_eq!(s, ErythemaSummary::default());
    }

    #[test]
    fn summary_is_thread_count_independent() {
        let rgb = random_rgb(200, 150, 5);
        let maps = erythema_maps(&rgb);
        let mask = Mask {
            width: 200,
            height: 150,
            data: (0..30000).map(|i| i % 3 != 0).collect(),
        };
        let one = crate::testing::on_threads(1, || (erythema_maps(&rgb), summarize(&maps, &mask)));
        let many = crate::testing::on_threads(4, || (erythema_maps(&rgb), summarize(&maps, &mask)));
        assert_eq!(one.0, many.0);
        assert_eq!(one.1, many.1);
        assert_eq!(one.1, summarize(&maps, &mask));
    }
}
