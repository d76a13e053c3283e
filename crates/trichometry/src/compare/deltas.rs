//! Figures on the shared field, per tile, and their paired tile bootstrap.
//!
//! Interval method: the shared field (baseline coordinates) is cut into a
//! grid of tiles; every additive statistic (pixel counts, sums, object
//! counts, a*/EI histograms) is kept per tile and per visit. A bootstrap
//! resample draws tiles with replacement and uses the *same* tiles for both
//! visits (paired: spatial heterogeneity cancels, only the change within the
//! field varies), recomputes every figure for both visits and takes their
//! difference. The 95 % interval is the 2.5–97.5 percentile of the resampled
//! differences; the two-sided p-value is twice the smaller tail share of
//! resampled differences at or beyond zero. Deterministic: resample `b`
//! draws from its own stream of a fixed seed.

use super::registration::Similarity;
use crate::image::{Mask, Plane};
use crate::synth::Rng;
use rayon::prelude::*;

pub(crate) const SHARED: usize = 0;
pub(crate) const FREE: usize = 1;
pub(crate) const SCALE: usize = 2;
pub(crate) const VPX: usize = 3;
pub(crate) const VASUM: usize = 4;
pub(crate) const HAIRS: usize = 5;
pub(crate) const DIAM: usize = 6;
pub(crate) const VELLUS: usize = 7;
pub(crate) const UNITS: usize = 8;
pub(crate) const SINGLE: usize = 9;
pub(crate) const CAPS: usize = 10;
pub(crate) const NS: usize = 11;

/// Fine histograms: a* and EI from −40 in steps of 0.02.
pub(crate) const H_LO: f64 = -40.0;
pub(crate) const H_RES: f64 = 0.02;
pub(crate) const A_BINS: usize = 6000;
pub(crate) const EI_BINS: usize = 8000;

/// One visit's statistics in one tile.
#[derive(Debug, Clone)]
pub(crate) struct VisitTile {
    pub s: [f64; NS],
    pub a_hist: Vec<u32>,
    pub ei_hist: Vec<u32>,
}

impl VisitTile {
    fn new(hist: bool) -> Self {
        VisitTile {
            s: [0.0; NS],
            a_hist: if hist { vec![0; A_BINS] } else { Vec::new() },
            ei_hist: if hist { vec![0; EI_BINS] } else { Vec::new() },
        }
    }
}

/// What one visit brings to the pixel pass.
pub(crate) struct VisitMaps<'a> {
    pub glare: &'a Mask,
    pub skin: &'a Mask,
    pub hair: Option<&'a Mask>,
    pub vessel: Option<&'a Mask>,
    pub scale: Option<&'a Mask>,
    pub a_star: Option<&'a Plane>,
    pub ei: Option<&'a Plane>,
}

#[inline]
fn flag(m: Option<&Mask>, i: usize) -> bool {
    m.is_some_and(|m| !m.data.is_empty() && m.data[i])
}

/// The tile grid over the shared field's bounding box (baseline pixels).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    pub nx: usize,
    pub ny: usize,
}

impl Grid {
    /// Tile of the baseline pixel nearest to (x, y), if inside the grid.
    /// Rows of tile row `ty` are exactly those of `band_rows(ty)`.
    #[inline]
    pub fn tile(&self, x: f64, y: f64) -> Option<usize> {
        let (xi, yi) = (x.round(), y.round());
        if xi < self.x0 as f64
            || yi < self.y0 as f64
            || xi >= self.x1 as f64
            || yi >= self.y1 as f64
        {
            return None;
        }
        let fx = (xi as usize - self.x0) * self.nx / (self.x1 - self.x0);
        let fy = (yi as usize - self.y0) * self.ny / (self.y1 - self.y0);
        Some(fy * self.nx + fx)
    }
    fn band_rows(&self, ty: usize) -> (usize, usize) {
        let h = self.y1 - self.y0;
        (
            self.y0 + (ty * h).div_ceil(self.ny),
            self.y0 + ((ty + 1) * h).div_ceil(self.ny),
        )
    }
}

/// One band's tiles, shared-mask rows and Δa* rows.
type BandOut = (Vec<[VisitTile; 2]>, Vec<bool>, Vec<f32>);

/// Output of the pixel pass.
pub(crate) struct PixelPass {
    /// Per tile: (baseline, follow-up).
    pub tiles: Vec<[VisitTile; 2]>,
    /// The shared analysable field in baseline pixels.
    pub shared: Mask,
    /// Follow-up a* (bilinear, in baseline coordinates) − baseline a*; NaN
    /// outside the shared field.
    pub delta_a_star: Option<Plane>,
}

#[inline]
fn hbin(v: f32, bins: usize) -> usize {
    let b = ((v as f64 - H_LO) / H_RES).floor();
    if b.is_nan() {
        0
    } else {
        (b.max(0.0) as usize).min(bins - 1)
    }
}

/// One pass over the baseline pixels of the grid's bounding box; the
/// follow-up is read at the nearest pixel through `b2f` (bilinear for the
/// Δa* map).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pixel_pass(
    bw: usize,
    bh: usize,
    fw: usize,
    fh: usize,
    b2f: &Similarity,
    base: &VisitMaps<'_>,
    fol: &VisitMaps<'_>,
    grid: &Grid,
    want_map: bool,
) -> PixelPass {
    let hist = base.a_star.is_some() && fol.a_star.is_some();
    let (a, b, tx, ty) = b2f.matrix();
    let bands: Vec<usize> = (0..grid.ny).collect();
    let results: Vec<BandOut> = bands
        .par_iter()
        .map(|&tyi| {
            let (r0, r1) = grid.band_rows(tyi);
            let mut tiles: Vec<[VisitTile; 2]> = (0..grid.nx)
                .map(|_| [VisitTile::new(hist), VisitTile::new(hist)])
                .collect();
            let rows = r1 - r0;
            let mut smask = vec![false; rows * bw];
            let mut dmap = if want_map && hist {
                vec![f32::NAN; rows * bw]
            } else {
                Vec::new()
            };
            for y in r0..r1 {
                for x in grid.x0..grid.x1 {
                    let (xf, yf) = (x as f64, y as f64);
                    let u = a * xf - b * yf + tx;
                    let v = b * xf + a * yf + ty;
                    if !(u >= -0.5 && v >= -0.5 && u < fw as f64 - 0.5 && v < fh as f64 - 0.5) {
                        continue;
                    }
                    let i = y * bw + x;
                    let j =
                        (v.round() as usize).min(fh - 1) * fw + (u.round() as usize).min(fw - 1);
                    if flag(Some(base.glare), i) || flag(Some(fol.glare), j) {
                        continue;
                    }
                    smask[(y - r0) * bw + x] = true;
                    let t = grid.tile(xf, yf).map_or(0, |t| t % grid.nx);
                    for (k, (m, p)) in [(base, i), (fol, j)].into_iter().enumerate() {
                        let st = &mut tiles[t][k];
                        st.s[SHARED] += 1.0;
                        let hair = flag(m.hair, p);
                        let scale = flag(m.scale, p);
                        if scale {
                            st.s[SCALE] += 1.0;
                        }
                        if !hair && !scale {
                            st.s[FREE] += 1.0;
                        }
                        if hist {
                            let av = m.a_star.expect("hist").data[p];
                            if flag(m.vessel, p) {
                                st.s[VPX] += 1.0;
                                st.s[VASUM] += av as f64;
                            }
                            let skin = m.skin.data.is_empty() || m.skin.data[p];
                            if skin && !hair && !scale && !flag(m.vessel, p) {
                                st.a_hist[hbin(av, A_BINS)] += 1;
                                st.ei_hist[hbin(m.ei.expect("hist").data[p], EI_BINS)] += 1;
                            }
                        }
                    }
                    if !dmap.is_empty() {
                        let fa = super::registration::bilinear(fol.a_star.expect("hist"), u, v)
                            .unwrap_or(fol.a_star.expect("hist").data[j]);
                        dmap[(y - r0) * bw + x] = fa - base.a_star.expect("hist").data[i];
                    }
                }
            }
            (tiles, smask, dmap)
        })
        .collect();
    let mut shared = Mask::filled(bw, bh, false);
    let mut dmap = if want_map && hist {
        Some(Plane::filled(bw, bh, f32::NAN))
    } else {
        None
    };
    let mut tiles = Vec::with_capacity(grid.nx * grid.ny);
    for (tyi, (t, s, d)) in results.into_iter().enumerate() {
        let (r0, r1) = grid.band_rows(tyi);
        shared.data[r0 * bw..r1 * bw].copy_from_slice(&s);
        if let Some(m) = dmap.as_mut() {
            m.data[r0 * bw..r1 * bw].copy_from_slice(&d);
        }
        tiles.extend(t);
    }
    PixelPass {
        tiles,
        shared,
        delta_a_star: dmap,
    }
}

/// Median of a histogram with bins of `res` from `lo`, interpolated within
/// the bin; `None` when empty.
pub(crate) fn hist_median(h: &[f64], lo: f64, res: f64) -> Option<f64> {
    let total: f64 = h.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let target = total / 2.0;
    let mut cum = 0.0;
    for (i, &c) in h.iter().enumerate() {
        if c > 0.0 && cum + c >= target {
            return Some(lo + res * (i as f64 + (target - cum) / c));
        }
        cum += c;
    }
    Some(lo + res * h.len() as f64)
}

/// A coarse copy of the fine histograms for the bootstrap: `n` bins over the
/// 0.1–99.9 % range of all tiles of both visits (plus the two end bins).
pub(crate) struct Coarse {
    pub lo: f64,
    pub res: f64,
    /// Per tile, per visit.
    pub h: Vec<[Vec<f64>; 2]>,
}

pub(crate) fn coarsen(
    tiles: &[[VisitTile; 2]],
    pick: impl Fn(&VisitTile) -> &Vec<u32>,
    n: usize,
) -> Option<Coarse> {
    let bins = pick(&tiles.first()?[0]).len();
    if bins == 0 {
        return None;
    }
    let mut all = vec![0u64; bins];
    for t in tiles {
        for v in t {
            for (a, &c) in all.iter_mut().zip(pick(v)) {
                *a += c as u64;
            }
        }
    }
    let total: u64 = all.iter().sum();
    if total == 0 {
        return None;
    }
    let q = |p: f64| {
        let target = (total as f64 * p) as u64;
        let mut cum = 0u64;
        for (i, &c) in all.iter().enumerate() {
            cum += c;
            if cum > target {
                return i;
            }
        }
        bins - 1
    };
    let (b0, b1) = (q(0.001), q(0.999) + 1);
    let width_bins = ((b1 - b0) as f64 / n as f64).max(1.0);
    let lo = H_LO + b0 as f64 * H_RES;
    let res = width_bins * H_RES;
    let h = tiles
        .iter()
        .map(|t| {
            [0, 1].map(|k| {
                let mut c = vec![0.0; n];
                for (i, &v) in pick(&t[k]).iter().enumerate() {
                    if v == 0 {
                        continue;
                    }
                    let j = (((i as f64 - b0 as f64) / width_bins).floor().max(0.0) as usize)
                        .min(n - 1);
                    c[j] += v as f64;
                }
                c
            })
        })
        .collect();
    Some(Coarse { lo, res, h })
}

/// Draw `b` paired tile resamples and evaluate `eval(weights) -> deltas`.
/// Only tiles with shared pixels take part.
pub(crate) fn bootstrap<const M: usize>(
    tiles_in_play: &[usize],
    n_tiles: usize,
    b: usize,
    seed: u64,
    eval: impl Fn(&[f64]) -> [f64; M] + Sync,
) -> Vec<[f64; M]> {
    let root = Rng::new(seed);
    (0..b)
        .into_par_iter()
        .map(|r| {
            let mut rng = root.fork(r as u64 + 1);
            let mut w = vec![0.0; n_tiles];
            let k = tiles_in_play.len() as u64;
            for _ in 0..k {
                w[tiles_in_play[rng.below(k) as usize]] += 1.0;
            }
            eval(&w)
        })
        .collect()
}

/// Percentile of sorted finite values (linear interpolation).
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let x = p * (sorted.len() - 1) as f64;
    let i = x.floor() as usize;
    let f = x - i as f64;
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_median_interpolates() {
        // Values 0..=9 one each in unit bins: the median is 5.0 by the
        // interpolation rule (half the mass).
        let h = vec![1.0; 10];
        assert!((hist_median(&h, 0.0, 1.0).unwrap() - 5.0).abs() < 1e-12);
        assert_eq!(hist_median(&[0.0; 4], 0.0, 1.0), None);
    }

    #[test]
    fn percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!((percentile(&v, 0.25) - 2.0).abs() < 1e-12);
    }
}
