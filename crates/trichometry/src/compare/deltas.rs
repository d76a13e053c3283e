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
pub(crate) const DIAMN: usize = 11;
pub(crate) const NS: usize = 12;

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

/// Output of the pixel pass.
pub(crate) struct PixelPass {
    /// Per tile: (baseline, follow-up).
    pub tiles: Vec<[VisitTile; 2]>,
    /// The shared analysable field in baseline pixels.
    pub shared: Mask,
    /// The frames' overlap in baseline pixels (what both visits show,
    /// analysable or not).
    pub overlap: Mask,
    /// Follow-up a* (nearest pixel, in baseline coordinates) − baseline a*; NaN
    /// outside the shared field.
    pub delta_a_star: Option<Plane>,
}

#[inline]
fn hbin(v: f32, bins: usize) -> usize {
    // Saturating float → int cast: NaN → 0, below → 0, above → clamped.
    let b = ((v - H_LO as f32) * (1.0 / H_RES as f32)) as usize;
    b.min(bins - 1)
}

/// Per-pixel class bits of one visit (see [`codes`]).
const C_ANALYSABLE: u8 = 1;
const C_HAIR: u8 = 2;
const C_SCALE: u8 = 4;
const C_VESSEL: u8 = 8;
const C_SKIN: u8 = 16;

/// One byte per pixel (of a `w × h` visit) holding what the pixel pass asks
/// of a visit's masks: the pass then reads one byte of the follow-up (at a
/// rotated position) instead of up to five masks. Analysable: not glare, and
/// (when the analysis has a skin mask) skin or an object on it. `analyze`
/// builds skin = analysable − hair − vessels − scale, so this recovers the
/// analysable field, which excludes an in-image colour reference (chart, grey
/// card) as well as glare. An empty mask is an absent one.
fn codes(m: &VisitMaps<'_>, w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    let w = w.max(1);
    fn some(x: Option<&Mask>) -> Option<&[bool]> {
        x.filter(|x| !x.data.is_empty()).map(|x| &x.data[..])
    }
    let glare = some(Some(m.glare));
    let (hair, vessel, scale) = (some(m.hair), some(m.vessel), some(m.scale));
    let skin = (!m.skin.data.is_empty()).then_some(&m.skin.data[..]);
    // Branch-free passes per row (they vectorise).
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let r = y * w..y * w + row.len();
        match skin {
            Some(sk) => {
                for (o, &v) in row.iter_mut().zip(&sk[r.clone()]) {
                    *o = v as u8 * C_SKIN;
                }
            }
            None => row.fill(C_SKIN),
        }
        for (x, b) in [(hair, C_HAIR), (vessel, C_VESSEL), (scale, C_SCALE)] {
            if let Some(x) = x {
                for (o, &v) in row.iter_mut().zip(&x[r.clone()]) {
                    *o |= v as u8 * b;
                }
            }
        }
        // Without a skin mask every pixel but glare is analysable.
        let any = if skin.is_some() {
            C_SKIN | C_HAIR | C_VESSEL | C_SCALE
        } else {
            C_SKIN
        };
        match glare {
            Some(g) => {
                for (o, &v) in row.iter_mut().zip(&g[r.clone()]) {
                    *o |= ((*o & any != 0) & !v) as u8 * C_ANALYSABLE;
                }
            }
            None => {
                for o in row.iter_mut() {
                    *o |= (*o & any != 0) as u8 * C_ANALYSABLE;
                }
            }
        }
    });
    out
}

/// One pass over the baseline pixels of the grid's bounding box; the
/// follow-up is read at the nearest pixel through `b2f`.
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
    let (cb, cf) = rayon::join(|| codes(base, bw, bh), || codes(fol, fw, fh));
    // Statistics on every pixel up to 4 MP, on every other pixel of every
    // other row beyond (each sample then stands for step² pixels): medians and
    // fractions over millions of samples do not need more, and this keeps a
    // 12 MP comparison within its time budget. The shared mask and the Δa*
    // map stay at full resolution.
    let step = if bw * bh > 4_000_000 { 2 } else { 1 };
    let wpx = (step * step) as f64;
    // Each tile row is cut into SUB parts, for load balance; parts are merged
    // in order (integer counts, and f64 sums added in a fixed order).
    const SUB: usize = 4;
    // Columns in blocks, so that the follow-up pixels a block of rows reads
    // (a rotated band of the follow-up) stay in cache.
    const COLS: usize = 256;
    let tasks: Vec<(usize, usize)> = (0..grid.ny)
        .flat_map(|t| (0..SUB).map(move |k| (t, k)))
        .collect();
    let rows_of = |tyi: usize, part: usize| {
        let (b0, b1) = grid.band_rows(tyi);
        (
            b0 + (b1 - b0) * part / SUB,
            b0 + (b1 - b0) * (part + 1) / SUB,
        )
    };
    let mut shared = Mask::filled(bw, bh, false);
    let mut overlap = Mask::filled(bw, bh, false);
    let mut dmap = if want_map && hist {
        Some(Plane::filled(bw, bh, f32::NAN))
    } else {
        None
    };
    // Each task writes its own rows of the outputs.
    let mut outs: Vec<(&mut [bool], &mut [bool], &mut [f32])> = Vec::with_capacity(tasks.len());
    {
        let mut s = &mut shared.data[grid.y0 * bw..];
        let mut o = &mut overlap.data[grid.y0 * bw..];
        let mut d: &mut [f32] = match dmap.as_mut() {
            Some(m) => &mut m.data[grid.y0 * bw..],
            None => &mut [],
        };
        for &(tyi, part) in &tasks {
            let (r0, r1) = rows_of(tyi, part);
            let n = (r1 - r0) * bw;
            let (s0, s1) = std::mem::take(&mut s).split_at_mut(n);
            let (o0, o1) = std::mem::take(&mut o).split_at_mut(n);
            let (d0, d1) = if d.is_empty() {
                (<&mut [f32]>::default(), <&mut [f32]>::default())
            } else {
                std::mem::take(&mut d).split_at_mut(n)
            };
            outs.push((s0, o0, d0));
            (s, o, d) = (s1, o1, d1);
        }
    }
    let (cb, cf) = (&cb, &cf);
    let results: Vec<Vec<[VisitTile; 2]>> = tasks
        .par_iter()
        .zip(outs)
        .map(|(&(tyi, part), (smask, omask, dmap))| {
            let (r0, r1) = rows_of(tyi, part);
            let mut tiles: Vec<[VisitTile; 2]> = (0..grid.nx)
                .map(|_| [VisitTile::new(hist), VisitTile::new(hist)])
                .collect();
            // Column → tile column, once.
            let col_tile: Vec<usize> = (grid.x0..grid.x1)
                .map(|x| grid.tile(x as f64, r0 as f64).map_or(0, |t| t % grid.nx))
                .collect();
            let (fwf, fhf) = (fw as f64 - 0.5, fh as f64 - 0.5);
            let maps = [base, fol];
            for xb in (grid.x0..grid.x1).step_by(COLS) {
                let xe = (xb + COLS).min(grid.x1);
                for y in r0..r1 {
                    let yf = y as f64;
                    let sampled_row = (y - grid.y0).is_multiple_of(step);
                    let mut u = a * xb as f64 - b * yf + tx;
                    let mut v = b * xb as f64 + a * yf + ty;
                    let row = (y - r0) * bw;
                    for x in xb..xe {
                        let (uu, vv) = (u, v);
                        u += a;
                        v += b;
                        if !(uu >= -0.5 && vv >= -0.5 && uu < fwf && vv < fhf) {
                            continue;
                        }
                        let i = y * bw + x;
                        omask[row + x] = true;
                        // Nearest follow-up pixel: uu + 0.5 ≥ 0 here, so the cast floors.
                        let j = ((vv + 0.5) as usize).min(fh - 1) * fw
                            + ((uu + 0.5) as usize).min(fw - 1);
                        let (kb, kf) = (cb[i], cf[j]);
                        if kb & kf & C_ANALYSABLE == 0 {
                            continue;
                        }
                        smask[row + x] = true;
                        if !dmap.is_empty() {
                            // Nearest follow-up pixel: the map is for display
                            // and for local reading; the figures never use it.
                            dmap[row + x] = fol.a_star.expect("hist").data[j]
                                - base.a_star.expect("hist").data[i];
                        }
                        if !(sampled_row && (x - grid.x0).is_multiple_of(step)) {
                            continue;
                        }
                        let t = col_tile[x - grid.x0];
                        for (k, (code, p)) in [(kb, i), (kf, j)].into_iter().enumerate() {
                            let m = maps[k];
                            let st = &mut tiles[t][k];
                            st.s[SHARED] += wpx;
                            let hair = code & C_HAIR != 0;
                            let scale = code & C_SCALE != 0;
                            if scale {
                                st.s[SCALE] += wpx;
                            }
                            if !hair && !scale {
                                st.s[FREE] += wpx;
                            }
                            if let (Some(am), Some(em)) = (m.a_star, m.ei) {
                                let av = am.data[p];
                                let vessel = code & C_VESSEL != 0;
                                if vessel {
                                    st.s[VPX] += wpx;
                                    st.s[VASUM] += wpx * av as f64;
                                }
                                if code & C_SKIN != 0 && !hair && !scale && !vessel {
                                    st.a_hist[hbin(av, A_BINS)] += 1;
                                    st.ei_hist[hbin(em.data[p], EI_BINS)] += 1;
                                }
                            }
                        }
                    }
                }
            }
            tiles
        })
        .collect();
    let mut tiles = Vec::with_capacity(grid.nx * grid.ny);
    for (&(tyi, part), t) in tasks.iter().zip(results) {
        if part == 0 {
            tiles.extend(t);
        } else {
            let base = tyi * grid.nx;
            for (dst, src) in tiles[base..base + grid.nx].iter_mut().zip(t) {
                for (dv, sv) in dst.iter_mut().zip(src) {
                    for (a, b) in dv.s.iter_mut().zip(&sv.s) {
                        *a += b;
                    }
                    for (a, b) in dv.a_hist.iter_mut().zip(&sv.a_hist) {
                        *a += b;
                    }
                    for (a, b) in dv.ei_hist.iter_mut().zip(&sv.ei_hist) {
                        *a += b;
                    }
                }
            }
        }
    }
    PixelPass {
        tiles,
        shared,
        overlap,
        delta_a_star: dmap,
    }
}

/// Median of a histogram with bins of `res` from `lo`, interpolated within
/// the bin; `None` when empty.
#[cfg(test)]
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
    /// Per tile, per visit: cumulative counts, `cum[j]` = counts of bins
    /// `0..j` (length bins + 1).
    pub cum: Vec<[Vec<f64>; 2]>,
}

impl Coarse {
    /// The median (interpolated within its bin; the tests' `hist_median`) of
    /// visit `v`'s histogram summed over the tiles with
    /// weights `w`, by bisection on the weighted cumulative counts (a few
    /// dozen tiles × log2(bins) steps instead of tiles × bins per bootstrap
    /// resample). Counts and weights are integers, so every sum is exact and
    /// the result is that of `hist_median` on the summed histogram.
    pub fn weighted_median(&self, v: usize, w: &[f64]) -> Option<f64> {
        let tiles: Vec<(&Vec<f64>, f64)> = self
            .cum
            .iter()
            .zip(w)
            .filter(|(_, &wt)| wt > 0.0)
            .map(|(t, &wt)| (&t[v], wt))
            .collect();
        let at = |j: usize| -> f64 { tiles.iter().map(|(c, wt)| wt * c[j]).sum() };
        let n = self.cum.first()?[v].len() - 1;
        let total = at(n);
        if total <= 0.0 {
            return None;
        }
        let target = total / 2.0;
        // Smallest j in 1..=n with at(j) ≥ target; bin i = j − 1.
        let (mut lo, mut hi) = (1usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if at(mid) >= target {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let i = lo - 1;
        let (before, upto) = (at(i), at(i + 1));
        Some(self.lo + self.res * (i as f64 + (target - before) / (upto - before)))
    }
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
    let cum = tiles
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
                let mut cum = vec![0.0; n + 1];
                for (j, &x) in c.iter().enumerate() {
                    cum[j + 1] = cum[j] + x;
                }
                cum
            })
        })
        .collect();
    Some(Coarse { lo, res, cum })
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
    fn weighted_median_is_the_median_of_the_summed_histogram() {
        let mut rng = crate::synth::Rng::new(3);
        for _ in 0..200 {
            let (tiles, bins) = (1 + rng.below(6) as usize, 1 + rng.below(40) as usize);
            let h: Vec<[Vec<f64>; 2]> = (0..tiles)
                .map(|_| {
                    [0, 1].map(|_| {
                        (0..bins)
                            .map(|_| {
                                if rng.uniform() < 0.5 {
                                    0.0
                                } else {
                                    rng.below(9) as f64
                                }
                            })
                            .collect()
                    })
                })
                .collect();
            let w: Vec<f64> = (0..tiles).map(|_| rng.below(3) as f64).collect();
            let cum = h
                .iter()
                .map(|t| {
                    t.clone().map(|c| {
                        let mut s = vec![0.0];
                        for x in c {
                            s.push(s.last().unwrap() + x);
                        }
                        s
                    })
                })
                .collect();
            let c = Coarse {
                lo: -3.0,
                res: 0.5,
                cum,
            };
            for v in 0..2 {
                let mut sum = vec![0.0; bins];
                for (t, &wt) in h.iter().zip(&w) {
                    for (a, &b) in sum.iter_mut().zip(&t[v]) {
                        *a += wt * b;
                    }
                }
                assert_eq!(c.weighted_median(v, &w), hist_median(&sum, -3.0, 0.5));
            }
        }
    }

    #[test]
    fn percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!((percentile(&v, 0.25) - 2.0).abs() < 1e-12);
    }
}
