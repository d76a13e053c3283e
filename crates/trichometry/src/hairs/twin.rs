//! Two shafts under one record: the luminance profile across a record
//! fitted as one and as two blurred Beer–Lambert cylinders.
//!
//! Unit-mates that run along a neighbour's edge make one luminance ridge
//! with it (one NMS line, one record). Across such a record the profile is
//! that of two cylinders side by side; across a single shaft it is one.
//! Each model is the skin level (a linear ramp across, fitted by least
//! squares for every shape) times the blurred product of the cylinders'
//! transmission factors `1 − A·(1 − exp(−κ·chord/d))` (the phantom's and a
//! dermatoscope's compositing: a shaft of opacity `A` over what lies
//! beneath), blurred by the image's own PSF. The profiles are read at
//! sub-pixel spacing across and averaged along stretches of the record
//! (µm lengths, not pixel-grid probes).
//!
//! Diagnostic only (session 24, branch `hunit24`; `pair_diag::twin_diag`):
//! not wired into the hair stage. What the fits show on the phantom:
//! - On a clean single shaft the two-cylinder model gains nothing (its
//!   residual equals the one-cylinder residual, e.g. an 82 µm shaft over
//!   ten 75 µm stretches): a wide blurred cylinder is not read as two
//!   halves. The halves that did appear (two 31 µm shafts at ±8 px for a
//!   65 µm record) were a 23 µm hair lying on the 65 µm one: a real pair
//!   with a wrong split (wrong diameters).
//! - The residual against the profile noise is useless as a test: even on
//!   clean single shafts the one-cylinder residual is 10²–10³ times the
//!   noise of the averaged profile (skin texture under the profile, the
//!   model's approximations), so the test is the ratio of the residuals.
//! - One stretch is not enough (single flagged stretches: 148 on crowded
//!   44–50, 99 of them with no second truth hair at the far shaft's
//!   offset); runs of two or more (≥ 150 µm) are.
//! - Where it works it finds the mate: e.g. crowded 3.5 µm/px seed 45, a
//!   64 µm and a 72 µm hair 12 px apart fitted as 66.6 and 72.1 µm at the
//!   right offsets (residual ratio 19).
//! - A far shaft with a gap to the near one wider than their mean diameter
//!   is mostly a neighbour at the window's edge or another dark structure:
//!   [`MAX_GAP`].
//!
//! Session 25 (branch `hunit25`, commit 8d92ef6 has the stage wiring, not
//! kept): the second shafts emitted as records in the stage, a far shaft
//! refused when it is recorded elsewhere ([`recorded_elsewhere`]: its
//! track continued beyond the run along the host at the offset the run's
//! fits trend to, then as a dark ridge once clear of the host's band, up
//! to 300 µm, looking for another record within 1.5 widths, within 35°,
//! of a width within 2.5×). Every stretch fitted: unseen crowded 44–50
//! sum |count error| 87 → 84 (13 records added, 21 runs refused), mean
//! MAE 2.83 → 2.83; whole field 201 / 202 / 203 208 / 250 / 205 →
//! 209 / 251 / 206 for 178 / 185 / 168 (20 of 23 runs refused). Not a net
//! win, and the fits cost ~36 s a whole field (3564 / 4124 / 3573
//! stretches at ~10 ms). In `twin_diag` (crowded 44–50, truth marks) the
//! follow refuses 14 of 17 runs, among them all 7 whose far shaft is a
//! lost hair, and passes 3 of the 8 recorded elsewhere: in a crowded unit
//! a parallel record of like width lies within 1.5 widths of nearly any
//! continuation, so nearness along the followed track does not tell a
//! lost mate from a recorded one. Pre-filters: the stage's width samples
//! (share not falling to 20 % of depth, w20 / fwhm, width jumps over the
//! record's) do not separate the stretches that read as two (pass 86 of
//! 264 flagged vs 935 of 7324 not, at w20 / fwhm > 1.8; flagged samples
//! read w20 / fwhm ≈ 1.1 like single shafts); the averaged profile's
//! dark-mass imbalance ([`imbalance`]) is 0.02–0.69 over the stretches
//! of the 17 runs, with lost mates as low as 0.02–0.04: no threshold
//! keeps them and cuts the fits much.

use super::profile::{arc_lengths, point_and_tangent, Intensity};
use crate::synth::hairs::seg_dist2;

/// One cylinder of the profile model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cyl {
    /// Centre across the record (px, from the record's centreline).
    pub c: f64,
    /// Diameter (px).
    pub d: f64,
    /// Optical thickness along the diameter κ = α·d.
    pub kappa: f64,
    /// Opacity against the skin (0..1).
    pub opacity: f64,
}

impl Cyl {
    /// Peak absorbance of the unblurred cylinder.
    pub(crate) fn depth(&self) -> f64 {
        self.opacity * -(-self.kappa).exp_m1()
    }
    fn of(x: &[f64]) -> Cyl {
        Cyl {
            c: x[0],
            d: x[1].exp(),
            kappa: x[2].exp(),
            opacity: 1.0 / (1.0 + (-x[3]).exp()),
        }
    }
    fn params(&self) -> [f64; 4] {
        let a = self.opacity.clamp(1e-3, 1.0 - 1e-3);
        [self.c, self.d.ln(), self.kappa.ln(), (a / (1.0 - a)).ln()]
    }
}

/// The one- and two-cylinder fits of one stretch of a record.
#[derive(Debug, Clone)]
pub(crate) struct TwinFit {
    /// Arc position of the stretch's middle (px).
    pub arc_px: f32,
    /// The stretch's middle on the centreline and its unit normal.
    pub centre: [f32; 2],
    pub normal: [f32; 2],
    /// Profiles averaged.
    pub profiles: usize,
    /// Samples across.
    pub samples: usize,
    /// Residual sums of squares (luminance²) of the two models.
    pub rss_one: f64,
    pub rss_two: f64,
    /// Noise variance of one averaged sample (the profiles' spread about
    /// their mean over the count).
    pub noise_var: f64,
    pub one: Cyl,
    pub two: [Cyl; 2],
    /// The averaged profile's imbalance ([`imbalance`]).
    pub imbalance: f64,
}

/// The model's sample positions and blur.
struct Grid {
    /// Fine sub-steps per profile sample.
    sub: usize,
    /// Fine positions (px).
    u: Vec<f64>,
    /// Gaussian kernel on the fine grid (odd, normalised).
    kernel: Vec<f64>,
    /// Fine index of the first profile sample.
    first: usize,
    /// Profile samples.
    n: usize,
}

impl Grid {
    fn new(u0: f64, du: f64, n: usize, sigma: f64) -> Grid {
        let sub = 2usize;
        let h = du / sub as f64;
        let half = ((3.5 * sigma / h).ceil() as usize).max(1);
        let kernel: Vec<f64> = {
            let k: Vec<f64> = (0..=2 * half)
                .map(|i| {
                    let z = (i as f64 - half as f64) * h / sigma.max(1e-3);
                    (-0.5 * z * z).exp()
                })
                .collect();
            let s: f64 = k.iter().sum();
            k.into_iter().map(|v| v / s).collect()
        };
        let nf = (n - 1) * sub + 1 + 2 * half;
        let start = u0 - half as f64 * h;
        Grid {
            sub,
            u: (0..nf).map(|i| start + i as f64 * h).collect(),
            kernel,
            first: half,
            n,
        }
    }

    /// The blurred transmission product at the profile samples.
    fn shape(&self, cyls: &[Cyl], fine: &mut Vec<f64>, out: &mut Vec<f64>) {
        fine.clear();
        fine.extend(self.u.iter().map(|&u| {
            cyls.iter()
                .map(|cy| {
                    let r = 0.5 * cy.d;
                    let v = u - cy.c;
                    if v.abs() >= r {
                        1.0
                    } else {
                        let chord = (1.0 - (v / r).powi(2)).sqrt();
                        1.0 + cy.opacity * (-cy.kappa * chord).exp_m1()
                    }
                })
                .product::<f64>()
        }));
        out.clear();
        let half = self.first;
        for k in 0..self.n {
            let i = half + k * self.sub;
            let s: f64 = self
                .kernel
                .iter()
                .zip(&fine[i - half..=i + half])
                .map(|(a, b)| a * b)
                .sum();
            out.push(s);
        }
    }
}

/// The residual sum of squares of `y ≈ (b0 + b1·u)·m` with the best skin
/// ramp (b0, b1).
fn ramp_rss(y: &[f64], u: &[f64], m: &[f64]) -> f64 {
    let (mut s11, mut s12, mut s22, mut t1, mut t2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for ((&y, &u), &m) in y.iter().zip(u).zip(m) {
        let (x1, x2) = (m, u * m);
        s11 += x1 * x1;
        s12 += x1 * x2;
        s22 += x2 * x2;
        t1 += x1 * y;
        t2 += x2 * y;
    }
    let det = s11 * s22 - s12 * s12;
    if det.abs() < 1e-12 {
        return f64::INFINITY;
    }
    let b0 = (t1 * s22 - t2 * s12) / det;
    let b1 = (s11 * t2 - s12 * t1) / det;
    y.iter()
        .zip(u)
        .zip(m)
        .map(|((&y, &u), &m)| (y - (b0 + b1 * u) * m).powi(2))
        .sum()
}

/// Nelder–Mead minimum of `f` from `x0` with initial steps `step`.
fn nelder_mead(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: &[f64],
    evals: usize,
) -> (Vec<f64>, f64) {
    let n = x0.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((x0.to_vec(), f(x0)));
    for i in 0..n {
        let mut x = x0.to_vec();
        x[i] += step[i];
        let v = f(&x);
        simplex.push((x, v));
    }
    let mut used = n + 1;
    while used < evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[n].1);
        if (worst - best).abs() <= 1e-10 * (best.abs() + 1e-20) {
            break;
        }
        let mut cen = vec![0.0; n];
        for s in &simplex[..n] {
            for (c, v) in cen.iter_mut().zip(&s.0) {
                *c += v / n as f64;
            }
        }
        let along = |t: f64| -> Vec<f64> {
            cen.iter()
                .zip(&simplex[n].0)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        used += 1;
        if fr < simplex[0].1 {
            let xe = along(-2.0);
            let fe = f(&xe);
            used += 1;
            simplex[n] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (xr, fr);
        } else {
            let xc = if fr < simplex[n].1 {
                along(-0.5)
            } else {
                along(0.5)
            };
            let fc = f(&xc);
            used += 1;
            if fc < fr.min(simplex[n].1) {
                simplex[n] = (xc, fc);
            } else {
                let b = simplex[0].0.clone();
                for s in simplex.iter_mut().skip(1) {
                    for (v, bv) in s.0.iter_mut().zip(&b) {
                        *v = bv + 0.5 * (*v - bv);
                    }
                    s.1 = f(&s.0);
                    used += 1;
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0)
}

/// Fit one and two cylinders to the averaged profile `y` at `u` (px).
fn fit(y: &[f64], u: &[f64], du: f64, sigma: f64, width_px: f64) -> (f64, f64, Cyl, [Cyl; 2]) {
    let grid = Grid::new(u[0], du, u.len(), sigma);
    let (mut fine, mut m) = (Vec::new(), Vec::new());
    let mut cost = |cyls: &[Cyl]| -> f64 {
        if cyls.iter().any(|c| c.d < 0.5 || c.d > 4.0 * width_px + 8.0) {
            return f64::INFINITY;
        }
        grid.shape(cyls, &mut fine, &mut m);
        ramp_rss(y, u, &m)
    };
    let w = width_px.max(1.0);
    // One cylinder: from the record's centre and width, a few κ.
    let mut best1 = (
        f64::INFINITY,
        Cyl {
            c: 0.0,
            d: w,
            kappa: 3.0,
            opacity: 0.8,
        },
    );
    for kappa in [0.7, 3.0, 10.0] {
        let x0 = Cyl {
            c: 0.0,
            d: w,
            kappa,
            opacity: 0.8,
        }
        .params();
        let (x, v) = nelder_mead(
            &mut |x| cost(&[Cyl::of(x)]),
            &x0,
            &[0.3 * w, 0.3, 0.7, 1.0],
            600,
        );
        if v < best1.0 {
            best1 = (v, Cyl::of(&x));
        }
    }
    let one = best1.1;
    // Two: the one split in halves, or a second shaft along either edge.
    let mut best2 = (f64::INFINITY, [one, one]);
    let inits = [
        (
            one.c - 0.25 * one.d,
            0.5 * one.d,
            one.c + 0.25 * one.d,
            0.5 * one.d,
        ),
        (
            one.c - 0.1 * one.d,
            0.8 * one.d,
            one.c + 0.6 * one.d,
            0.5 * one.d,
        ),
        (
            one.c + 0.1 * one.d,
            0.8 * one.d,
            one.c - 0.6 * one.d,
            0.5 * one.d,
        ),
        (one.c, one.d, one.c + one.d, 0.7 * one.d),
        (one.c, one.d, one.c - one.d, 0.7 * one.d),
    ];
    for (c1, d1, c2, d2) in inits {
        let a = Cyl {
            c: c1,
            d: d1,
            ..one
        }
        .params();
        let b = Cyl {
            c: c2,
            d: d2,
            ..one
        }
        .params();
        let x0: Vec<f64> = a.iter().chain(&b).copied().collect();
        let step = [0.2 * w, 0.3, 0.7, 1.0, 0.2 * w, 0.3, 0.7, 1.0];
        let (x, v) = nelder_mead(
            &mut |x| cost(&[Cyl::of(&x[..4]), Cyl::of(&x[4..])]),
            &x0,
            &step,
            2500,
        );
        // Restart once from the minimum (Nelder–Mead stalls in 8-D).
        let (x, v2) = nelder_mead(
            &mut |x| cost(&[Cyl::of(&x[..4]), Cyl::of(&x[4..])]),
            &x,
            &step.map(|s| 0.5 * s),
            1500,
        );
        let v = v.min(v2);
        if v < best2.0 {
            best2 = (v, [Cyl::of(&x[..4]), Cyl::of(&x[4..])]);
        }
    }
    (best1.0, best2.0.min(best1.0), one, best2.1)
}

/// The fits along a record's centreline `pts`: stretches of `stretch_px`
/// (profiles every `step_px` px, read across over `±(1.6·width + 3σ + 3)`
/// px at about a twelfth of the width), the ends (one width) left out.
pub(crate) fn twin_fits(
    lum: &impl Intensity,
    pts: &[[f32; 2]],
    width_px: f32,
    sigma_px: f32,
    step_px: f32,
    stretch_px: f32,
) -> Vec<TwinFit> {
    let mut out = Vec::new();
    if pts.len() < 2 {
        return out;
    }
    let arc = arc_lengths(pts);
    let total = *arc.last().unwrap_or(&0.0);
    let wg = width_px.max(1.0);
    let reach = 1.6 * wg + 3.0 * sigma_px + 3.0;
    let du = (wg / 12.0).clamp(0.25, 1.0);
    let n = (reach / du).ceil() as i32;
    let len = (2 * n + 1) as usize;
    let u: Vec<f64> = (-n..=n).map(|k| (k as f32 * du) as f64).collect();
    let (w, h) = lum.size();
    let skip = wg;
    let usable = total - 2.0 * skip;
    if usable < stretch_px {
        return out;
    }
    let stretches = (usable / stretch_px).floor() as usize;
    let per = ((stretch_px / step_px).floor() as usize).max(1);
    let mut prof = vec![0.0f32; len];
    for si in 0..stretches {
        let s0 = skip + si as f32 * stretch_px;
        let mid = s0 + 0.5 * stretch_px;
        let (cm, tm) = point_and_tangent(pts, &arc, mid, 0.5 * wg.max(3.0));
        let nm = [-tm[1], tm[0]];
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for k in 0..per {
            let s = s0 + (k as f32 + 0.5) * step_px;
            let (c, t) = point_and_tangent(pts, &arc, s, 0.5 * wg.max(3.0));
            let nrm = [-t[1], t[0]];
            let inside = |v: f32| {
                let e = [c[0] + nrm[0] * v, c[1] + nrm[1] * v];
                e[0] >= 1.0 && e[1] >= 1.0 && e[0] <= w as f32 - 2.0 && e[1] <= h as f32 - 2.0
            };
            if !(inside(-reach) && inside(reach)) {
                continue;
            }
            // One orientation for the whole stretch.
            let nrm = if nrm[0] * nm[0] + nrm[1] * nm[1] < 0.0 {
                [-nrm[0], -nrm[1]]
            } else {
                nrm
            };
            lum.profile(c, nrm, t, du, n, &mut prof);
            rows.push(prof.clone());
        }
        if rows.len() * 2 < per || rows.len() < 3 {
            continue;
        }
        let m = rows.len() as f64;
        let mean: Vec<f64> = (0..len)
            .map(|k| rows.iter().map(|r| r[k] as f64).sum::<f64>() / m)
            .collect();
        let var: f64 = (0..len)
            .map(|k| {
                rows.iter()
                    .map(|r| (r[k] as f64 - mean[k]).powi(2))
                    .sum::<f64>()
                    / (m - 1.0)
            })
            .sum::<f64>()
            / len as f64;
        let imbalance = imbalance(&mean, wg as f64 / du as f64);
        let (rss_one, rss_two, one, two) = fit(&mean, &u, du as f64, sigma_px as f64, wg as f64);
        out.push(TwinFit {
            arc_px: mid,
            centre: cm,
            normal: nm,
            profiles: rows.len(),
            samples: len,
            rss_one,
            rss_two,
            noise_var: var / m,
            one,
            two,
            imbalance,
        });
    }
    out
}

/// The dark-mass imbalance of a profile `y` (skin bright) about its
/// darkest sample within half a width (`width_samples`, in samples) of
/// the middle: |left − right| / (left + right) of the absorbance against
/// the brighter end. A lone cylinder is near 0; a mate along one edge
/// adds mass on its side.
fn imbalance(y: &[f64], width_samples: f64) -> f64 {
    let n = y.len();
    let mid = n / 2;
    let half = ((0.5 * width_samples).round() as usize).min(mid);
    let Some(k) = (mid - half..=mid + half).min_by(|&a, &b| y[a].total_cmp(&y[b])) else {
        return 0.0;
    };
    let bg = y[0].max(y[n - 1]);
    if bg <= 0.0 {
        return 0.0;
    }
    let mass =
        |r: std::ops::Range<usize>| -> f64 { y[r].iter().map(|&v| (1.0 - v / bg).max(0.0)).sum() };
    let (l, r) = (mass(0..k), mass(k + 1..n));
    if l + r <= 0.0 {
        0.0
    } else {
        (l - r).abs() / (l + r)
    }
}

/// The stretch rule of [`second_shafts`]: the two-cylinder fit explains
/// the profile better by at least this factor of the residual …
const MIN_RSS_GAIN: f64 = 1.5;
/// … its two shafts lie apart by at least this share of their mean
/// diameter (not one shaft split in halves) …
const MIN_SEPARATION: f64 = 0.5;
/// … with a gap between their edges of at most their mean diameter (one
/// ridge: a mate along the edge, not a neighbour at the window's edge) …
const MAX_GAP: f64 = 1.0;
/// … each with a peak absorbance of at least this …
const MIN_DEPTH: f64 = 0.15;
/// … and consecutive stretches so flagged over at least this many.
const MIN_STRETCHES: usize = 2;

/// Whether a stretch's fit reads as two shafts (see [`MIN_RSS_GAIN`] and
/// the following constants): diameters within `min_um..=max_um` (`upp` µm
/// per px), and `on_other(k)` false for both (the shaft `k` of the pair
/// does not lie on another record: that hair is counted already).
pub(crate) fn reads_two(
    f: &TwinFit,
    upp: f64,
    min_um: f64,
    max_um: f64,
    on_other: impl Fn(usize) -> bool,
) -> bool {
    let [a, b] = f.two;
    let mean_d = 0.5 * (a.d + b.d);
    let sep = (a.c - b.c).abs();
    f.rss_two > 0.0
        && f.rss_one >= MIN_RSS_GAIN * f.rss_two
        && [a, b]
            .iter()
            .all(|c| c.depth() >= MIN_DEPTH && (min_um..=max_um).contains(&(c.d * upp)))
        && sep >= MIN_SEPARATION * mean_d
        && sep - mean_d <= MAX_GAP * mean_d
        && !on_other(0)
        && !on_other(1)
}

/// The runs of consecutive stretches (indices into `fits`, in order along
/// the record; `stretch_px` apart) that [`reads_two`] (`flags`) marks, at
/// least [`MIN_STRETCHES`] long: each a second shaft under the record.
pub(crate) fn second_shafts(fits: &[TwinFit], flags: &[bool], stretch_px: f32) -> Vec<Vec<usize>> {
    let mut runs = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    for (i, (f, &on)) in fits.iter().zip(flags).enumerate() {
        let follows = run
            .last()
            .is_some_and(|&j| (f.arc_px - fits[j].arc_px - stretch_px).abs() < 0.5 * stretch_px);
        if on && (run.is_empty() || follows) {
            run.push(i);
            continue;
        }
        if run.len() >= MIN_STRETCHES {
            runs.push(std::mem::take(&mut run));
        }
        run.clear();
        if on {
            run.push(i);
        }
    }
    if run.len() >= MIN_STRETCHES {
        runs.push(run);
    }
    runs
}

/// Whether `p` lies within `tol` px of the polyline `poly`.
pub(crate) fn near_poly(p: [f32; 2], poly: &[[f32; 2]], tol: f32) -> bool {
    if poly.len() == 1 {
        return (p[0] - poly[0][0]).hypot(p[1] - poly[0][1]) <= tol;
    }
    let f = |q: [f32; 2]| [q[0] as f64, q[1] as f64];
    poly.windows(2)
        .any(|s| seg_dist2(f(p), f(s[0]), f(s[1])).0 <= (tol * tol) as f64)
}

/// A far shaft is followed beyond its run for at most this (µm) …
const FOLLOW_UM: f64 = 300.0;
/// … and is recorded elsewhere when a record's centreline passes within
/// this many of the larger of the two widths of the followed track …
const FOLLOW_WIDTHS: f32 = 1.5;
/// … running within this angle of it (cosine, 35°) …
const FOLLOW_MIN_COS: f32 = 0.82;
/// … with a width within this factor of the far shaft's.
const FOLLOW_WIDTH_RATIO: f32 = 2.5;
/// Off the host's band the track is followed as a ridge while its
/// darkest point is at least this much darker than the brighter side.
const FOLLOW_MIN_CONTRAST: f32 = 0.04;

/// One record as the search for hidden mates reads it.
pub(crate) struct Host<'a> {
    pub pts: &'a [[f32; 2]],
    pub width_px: f32,
}

/// The far (farther from the centreline) and near shafts of a fit.
fn far_near(f: &TwinFit) -> (Cyl, Cyl) {
    let [a, b] = f.two;
    if a.c.abs() > b.c.abs() {
        (a, b)
    } else {
        (b, a)
    }
}

fn unit(v: [f32; 2]) -> [f32; 2] {
    let n = v[0].hypot(v[1]).max(1e-6);
    [v[0] / n, v[1] / n]
}

/// Whether another record than `host` runs through `p` along `dir` with a
/// width like `d_px` ([`FOLLOW_WIDTHS`] and the following constants).
fn on_record(hosts: &[Host<'_>], host: usize, p: [f32; 2], dir: [f32; 2], d_px: f32) -> bool {
    let pf = [p[0] as f64, p[1] as f64];
    hosts.iter().enumerate().any(|(j, o)| {
        if j == host || o.pts.len() < 2 {
            return false;
        }
        let ratio = o.width_px.max(1.0) / d_px.max(1.0);
        if !(1.0 / FOLLOW_WIDTH_RATIO..=FOLLOW_WIDTH_RATIO).contains(&ratio) {
            return false;
        }
        let tol = (FOLLOW_WIDTHS * o.width_px.max(d_px)).max(2.0) as f64;
        o.pts.windows(2).any(|s| {
            let f = |q: [f32; 2]| [q[0] as f64, q[1] as f64];
            let sd = unit([s[1][0] - s[0][0], s[1][1] - s[0][1]]);
            (sd[0] * dir[0] + sd[1] * dir[1]).abs() >= FOLLOW_MIN_COS
                && seg_dist2(pf, f(s[0]), f(s[1])).0 <= tol * tol
        })
    })
}

/// One step of a dark ridge followed from `p` along `dir`: the darkest
/// point across within half the width and a pixel and a half, or `None`
/// when it fades into the skin or leaves the image.
fn ridge_step(
    lum: &impl Intensity,
    p: [f32; 2],
    dir: [f32; 2],
    step_px: f32,
    d_px: f32,
) -> Option<([f32; 2], [f32; 2])> {
    let q = [p[0] + dir[0] * step_px, p[1] + dir[1] * step_px];
    let nrm = [-dir[1], dir[0]];
    let du = 0.5f32;
    let half = 0.5 * d_px + 1.5;
    let reach = half + d_px + 2.0;
    let n = (reach / du).ceil() as i32;
    let (w, h) = lum.size();
    for v in [-(n as f32) * du, n as f32 * du] {
        let e = [q[0] + nrm[0] * v, q[1] + nrm[1] * v];
        if e[0] < 2.0 || e[1] < 2.0 || e[0] > w as f32 - 3.0 || e[1] > h as f32 - 3.0 {
            return None;
        }
    }
    let mut prof = vec![0.0f32; (2 * n + 1) as usize];
    lum.profile(q, nrm, dir, du, n, &mut prof);
    let m = (half / du).ceil() as i32;
    let (k, y) = (-m..=m)
        .map(|k| (k, prof[(k + n) as usize]))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let bg = prof[0].max(prof[prof.len() - 1]);
    if bg <= 0.0 || 1.0 - y / bg < FOLLOW_MIN_CONTRAST {
        return None;
    }
    let q = [q[0] + nrm[0] * k as f32 * du, q[1] + nrm[1] * k as f32 * du];
    let d = unit([q[0] - p[0], q[1] - p[1]]);
    Some((q, unit([dir[0] + d[0], dir[1] + d[1]])))
}

/// Whether the far shaft of the run `run` (indices into `fits`) of record
/// `host` is recorded elsewhere: its track is continued beyond both ends
/// of the run, first along the host at the offset the run's fits trend
/// to, then, once it is clear of the host's band (a gap of half its own
/// width), as a dark ridge; up to [`FOLLOW_UM`], looking for another
/// record on it ([`on_record`]).
pub(crate) fn recorded_elsewhere(
    lum: &impl Intensity,
    hosts: &[Host<'_>],
    host: usize,
    fits: &[TwinFit],
    run: &[usize],
    d_px: f32,
    upp: f64,
) -> bool {
    let h = &hosts[host];
    let arc = arc_lengths(h.pts);
    let total = *arc.last().unwrap_or(&0.0);
    let win = 0.5 * h.width_px.max(3.0);
    let (i0, i1) = (run[0], run[run.len() - 1]);
    let (a0, a1) = (fits[i0].arc_px, fits[i1].arc_px);
    let (c0, c1) = (
        far_near(&fits[i0]).0.c as f32,
        far_near(&fits[i1]).0.c as f32,
    );
    let slope = (c1 - c0) / (a1 - a0).max(1e-3);
    let step = d_px.max(2.0);
    let steps = ((FOLLOW_UM / upp) as f32 / step).ceil() as usize;
    // The run's own far track.
    for &i in run {
        let f = &fits[i];
        let c = far_near(f).0.c as f32;
        let p = [f.centre[0] + f.normal[0] * c, f.centre[1] + f.normal[1] * c];
        let t = [f.normal[1], -f.normal[0]];
        if on_record(hosts, host, p, t, d_px) {
            return true;
        }
    }
    for (a_end, c_end, sgn) in [(a0, c0, -1.0f32), (a1, c1, 1.0)] {
        let mut a = a_end;
        let mut free: Option<([f32; 2], [f32; 2])> = None;
        let mut last: Option<([f32; 2], [f32; 2])> = None;
        for _ in 0..steps {
            let (p, dir) = match free {
                None => {
                    a += sgn * step;
                    if a < 0.0 || a > total {
                        // The host ends: the track goes on as a ridge.
                        match last {
                            Some(l) => {
                                free = Some(l);
                                continue;
                            }
                            None => break,
                        }
                    }
                    let c = c_end + slope * (a - a_end);
                    let (q, t) = point_and_tangent(h.pts, &arc, a, win);
                    let n = [-t[1], t[0]];
                    let p = [q[0] + n[0] * c, q[1] + n[1] * c];
                    let dir = unit([sgn * (t[0] + n[0] * slope), sgn * (t[1] + n[1] * slope)]);
                    if c.abs() >= 0.5 * h.width_px + d_px {
                        free = Some((p, dir));
                    }
                    last = Some((p, dir));
                    (p, dir)
                }
                Some((p0, d0)) => match ridge_step(lum, p0, d0, step, d_px) {
                    Some(s) => {
                        free = Some(s);
                        s
                    }
                    None => break,
                },
            };
            if on_record(hosts, host, p, dir, d_px) {
                return true;
            }
        }
    }
    false
}
