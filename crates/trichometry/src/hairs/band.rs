//! Bands: hairs of one follicular unit that run side by side, touching or
//! overlapping, are traced as one wide piece (one ridge, one centreline)
//! until they part. Where they part, the band's piece ends at a fork and
//! two narrower pieces leave it, one on each side of its axis, whose
//! widths add up to the band's. Such a band is two adjacent shafts: it is
//! split into one piece per branch, beside each other across the band,
//! each with the branch's share of the band's width, so that each shaft
//! is joined, counted and measured as one record.
//!
//! The width alone does not split (a terminal shaft may be 120 µm wide),
//! nor does the profile's shape: dark shafts are opaque to within a
//! micrometre of their edges, so two of them touching show no lighter seam
//! at 2–5.5 µm/px (on crowded seeds 44–50 at 2 µm/px the deepest dip
//! inside wide pieces' profiles is ≥ 0.95 of the lobes' depth on nine
//! pieces in ten). The fork does: a single shaft ends in one piece.
//!
//! A band whose fork is not traced (the mates leave the frame side by
//! side, or part where the ridge is lost) is split when its width alone
//! says it holds more than one shaft: wider than the widest shaft the
//! stage measures ([`HairParams::max_width_um`](super::HairParams::max_width_um), 120 µm) and at least 1.5
//! of its widths long (the blob where shafts meet or cross is about as
//! long as wide: on unseen sparse seed 87 at 5.5 µm/px a 141 µm blob of
//! three crossing shafts one width long was split into a false record),
//! into halves (nothing tells the shares).
//!
//! Measured (branch `hmates`, 2026-11-27, against main 4bb213f): the
//! fork-less split, unseen crowded seeds 44–50 at 2 / 3.5 / 5.5 µm/px sum
//! |count error| 66 → 60 (20 → 17, 22 → 21, 24 → 22), mean diameter MAE
//! 3.93 → 3.21 µm (4.26 → 3.17, 2.88 → 2.63, 4.64 → 3.82), cases with MAE
//! ≤ 3 µm 8 → 9 of 21, |bias| ≤ 2 µm 10 → 12; unseen sparse 81–88
//! unchanged (50, 1.00 µm); test seeds 41–43 and 31–33 unchanged. The
//! separated mates read their half of a 120–167 µm band (60–84 µm) instead
//! of the whole band matched to one of them. Without the length test
//! crowded is the same but sparse seed 87 at 5.5 µm/px gains a false
//! record (50 → 51, MAE 1.00 → 1.03); with 3 width samples instead of 7
//! both invariance tests fail (25 vs 23 and 24 shafts).
//!
//! Measured (branch `hband`, 2026-11-27, against main f4950cb): unseen
//! crowded seeds 44–50 at 2 / 3.5 / 5.5 µm/px sum |count error| 80 → 66
//! (25 → 20, 26 → 22, 29 → 24), mean diameter MAE 3.81 → 3.93 µm (the
//! newly found unit-mates are measured worse than the average shaft: a
//! 100 µm hair at 75 µm, branches that are bands themselves), one-record
//! 0.172 → 0.181; unseen sparse 81–88 sum 53 → 50, MAE 1.15 → 1.00.
//! Tried and not kept: a lighter seam inside the profile (two lobes, the
//! seam below 0.85 of the lower): two pieces split on seeds 44–50,
//! 80 → 79, MAE 3.81 → 3.83; branches on opposite sides of the band's axis
//! each half way out to its share's centre: 62 / 4.05 instead of 57 /
//! 3.97 (3-sample bands); a band at least 3 widths long instead of 7
//! samples: 68 / 4.12.

use super::profile::{self, WidthSample};
use super::trace::{end_of, End, Piece, Traced};
use rayon::prelude::*;

/// Largest angle (degrees) between a band's end direction and a branch's.
const MAX_BRANCH_ANGLE_DEG: f32 = 35.0;
/// The branches' widths must add up to the band's within these ratios
/// (overlapping shafts make a band narrower than their sum, a gap wider).
const SUM_RATIO: [f32; 2] = [0.7, 1.2];
/// Each branch is at most this share of the band's width (a single shaft
/// continuing with the same width is not a fork).
const MAX_BRANCH_SHARE: f32 = 0.8;
/// Smallest number of width samples of a band: a short wide piece is
/// mostly the blob where shafts meet or cross, not two running side by
/// side (with 3, unseen crowded seeds 44–50 sum |count error| 57 instead
/// of 66, but the sparse field-of-view scene split a blob when upright
/// and not when rotated by 30°).
const MIN_BAND_SAMPLES: usize = 7;
/// Smallest number of width samples of a branch (its width sets the
/// shares).
const MIN_BRANCH_SAMPLES: usize = 3;

/// Smallest length of a band without a fork, in its widths (see the
/// module docs).
const MIN_FORKLESS_LENGTH_WIDTHS: f32 = 1.5;

/// Length of a polyline (px).
fn polyline_length(pts: &[[f32; 2]]) -> f32 {
    pts.windows(2)
        .map(|w| (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]))
        .sum()
}

/// A fork at one end of a band: for each branch its piece and which side
/// of the band's axis it leaves on (+1: along the polyline's normal).
#[derive(Debug, Clone, Copy)]
struct Fork {
    branches: [(usize, f32); 2],
    /// Share of the band's width of the first branch.
    share: f32,
    /// How well the widths add up (|1 − band / sum|).
    misfit: f32,
}

/// The ends of the pieces that can be branches (enough width samples),
/// computed once, sorted by x so that a fork looks only at the ends within
/// its reach (`split_bands` was quadratic in the pieces, with `end_of`'s
/// arc lengths in the inner loop: ~350 ms CPU at 3.5 µm/px on 12 MP).
struct BranchEnds {
    /// Each piece's two ends (`None` when it has too few samples).
    ends: Vec<Option<[End; 2]>>,
    /// (x, piece, which end), ascending in x.
    by_x: Vec<(f32, usize, usize)>,
}

impl BranchEnds {
    fn new(pieces: &[Piece]) -> BranchEnds {
        let ends: Vec<Option<[End; 2]>> = pieces
            .par_iter()
            .enumerate()
            .map(|(i, p)| {
                (p.samples.len() >= MIN_BRANCH_SAMPLES).then(|| [end_of(p, i, 0), end_of(p, i, 1)])
            })
            .collect();
        let mut by_x: Vec<(f32, usize, usize)> = ends
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i, e)))
            .flat_map(|(i, e)| [(e[0].p[0], i, 0), (e[1].p[0], i, 1)])
            .collect();
        by_x.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        BranchEnds { ends, by_x }
    }

    /// The ends whose x lies within `reach` (plus a pixel, so that no end
    /// the exact distance test accepts is missed) of `x`, in piece order
    /// and start before end, as a scan over all pieces would meet them.
    fn near_x(&self, x: f32, reach: f32) -> Vec<(usize, usize)> {
        let lo = x - reach - 1.0;
        let hi = x + reach + 1.0;
        let first = self.by_x.partition_point(|e| e.0 < lo);
        let mut out: Vec<(usize, usize)> = self.by_x[first..]
            .iter()
            .take_while(|e| e.0 <= hi)
            .map(|e| (e.1, e.2))
            .collect();
        out.sort_unstable();
        out
    }
}

/// The fork at one end of piece `b`, if any.
fn fork_at(pieces: &[Piece], index: &BranchEnds, b: usize, which: usize) -> Option<Fork> {
    let band = &pieces[b];
    let wb = band.width;
    let eb = match index.ends[b] {
        Some(e) => e[which],
        None => end_of(band, b, which),
    };
    let reach = 1.5 * wb + 6.0;
    let cos_max = MAX_BRANCH_ANGLE_DEG.to_radians().cos();
    // Pieces with an end near the band's end, pointing back at it (the
    // branch leaves the fork along the band's direction), on one side of
    // its axis.
    let mut cands: Vec<(usize, f32, f32)> = Vec::new();
    for (i, k) in index.near_x(eb.p[0], reach) {
        if i == b {
            continue;
        }
        let Some(ends) = index.ends[i] else { continue };
        let e = ends[k];
        let v = [e.p[0] - eb.p[0], e.p[1] - eb.p[1]];
        if v[0] * v[0] + v[1] * v[1] > reach * reach {
            continue;
        }
        if -(e.d[0] * eb.d[0] + e.d[1] * eb.d[1]) < cos_max {
            continue;
        }
        // Not behind the band's end by more than half its width.
        if v[0] * eb.d[0] + v[1] * eb.d[1] < -0.5 * wb {
            continue;
        }
        let lat = eb.d[0] * v[1] - eb.d[1] * v[0];
        cands.push((i, lat, pieces[i].width));
    }
    let mut best: Option<Fork> = None;
    for (x, &(i, li, wi)) in cands.iter().enumerate() {
        for &(j, lj, wj) in &cands[x + 1..] {
            if i == j {
                continue;
            }
            let sum = wi + wj;
            if wb < SUM_RATIO[0] * sum || wb > SUM_RATIO[1] * sum {
                continue;
            }
            if wi.max(wj) > MAX_BRANCH_SHARE * wb {
                continue;
            }
            // Apart across the band's axis by a fair share of its width.
            if (li - lj).abs() < 0.3 * wb {
                continue;
            }
            let misfit = (1.0 - wb / sum).abs();
            if best.is_some_and(|f| f.misfit <= misfit) {
                continue;
            }
            // The side in the polyline's frame: the end direction runs
            // along the polyline at its end and against it at its start.
            let flip = if which == 1 { 1.0 } else { -1.0 };
            let side = |l: f32, other: f32| if l > other { flip } else { -flip };
            best = Some(Fork {
                branches: [(i, side(li, lj)), (j, side(lj, li))],
                share: wi / sum,
                misfit,
            });
        }
    }
    best
}

/// Split the pieces that are bands of two adjacent shafts (see the module
/// docs) into one piece per shaft; the others are handed back unchanged,
/// in order, the split ones' parts after them, from the index returned.
/// `max_width_px`: the widest single shaft (px); a longer piece without a
/// fork that is wider is split in halves.
pub(crate) fn split_bands(pieces: Vec<Piece>, max_width_px: f32) -> (Vec<Piece>, usize) {
    // Forks of the pieces with width samples, the better end of each.
    let index = BranchEnds::new(&pieces);
    let forks: Vec<Option<Fork>> = (0..pieces.len())
        .into_par_iter()
        .map(|b| {
            let p = &pieces[b];
            if p.samples.len() < MIN_BAND_SAMPLES || p.pts.len() < 2 {
                return None;
            }
            let f0 = fork_at(&pieces, &index, b, 0);
            let f1 = fork_at(&pieces, &index, b, 1);
            match (f0, f1) {
                (Some(a), Some(c)) => Some(if c.misfit < a.misfit { c } else { a }),
                (a, c) => a.or(c),
            }
        })
        .collect();
    // A branch is a branch of one band only; a band is no branch (the
    // widest bands first).
    let mut order: Vec<usize> = (0..pieces.len()).filter(|&b| forks[b].is_some()).collect();
    order.sort_by(|&a, &b| pieces[b].width.total_cmp(&pieces[a].width).then(a.cmp(&b)));
    let mut used = vec![false; pieces.len()];
    // Per split band: the first shaft's side and share.
    let mut split: Vec<Option<(f32, f32)>> = vec![None; pieces.len()];
    for b in order {
        let f = forks[b].expect("fork");
        let [(i, si), (j, _)] = f.branches;
        if used[b] || used[i] || used[j] {
            continue;
        }
        used[b] = true;
        used[i] = true;
        used[j] = true;
        split[b] = Some((si, f.share));
    }
    // Bands without a fork: wider than any shaft and longer than wide
    // (not the blob where shafts meet), in halves.
    for (b, p) in pieces.iter().enumerate() {
        if !used[b]
            && p.samples.len() >= MIN_BAND_SAMPLES
            && p.pts.len() >= 2
            && p.width > max_width_px
            && polyline_length(&p.pts) >= MIN_FORKLESS_LENGTH_WIDTHS * p.width
        {
            split[b] = Some((1.0, 0.5));
        }
    }
    let mut parts = Vec::new();
    for (b, s) in split.iter().enumerate() {
        if let Some((side, share)) = *s {
            parts.push(part(&pieces[b], side, share));
            parts.push(part(&pieces[b], -side, 1.0 - share));
        }
    }
    let mut out: Vec<Piece> = pieces
        .into_iter()
        .zip(&split)
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| p)
        .collect();
    let first_part = out.len();
    out.extend(parts);
    (out, first_part)
}

/// The samples of a shaft that were measured on its own profiles, not
/// inferred from a band's share: those when there are at least three, else
/// all (`pieces` and `first_part` as [`split_bands`] returned them).
pub(crate) fn measured_samples(
    pieces: &[Piece],
    first_part: usize,
    t: &Traced,
) -> Vec<WidthSample> {
    let mut own = Vec::with_capacity(t.samples.len());
    let mut k = 0;
    for &(pi, _) in &t.chain {
        let n = pieces[pi].samples.len();
        // Clamped at both ends: a chain whose samples were trimmed gives
        // a short slice (and, below, all its samples), never a panic.
        let len = t.samples.len();
        if pi < first_part {
            own.extend_from_slice(&t.samples[k.min(len)..(k + n).min(len)]);
        }
        k += n;
    }
    if own.len() >= 3 && k == t.samples.len() {
        own
    } else {
        t.samples.clone()
    }
}

/// One shaft of a band: `share` of its width, on side `side` (+1 along the
/// polyline's normal), its edges falling off as the band's.
fn part(band: &Piece, side: f32, share: f32) -> Piece {
    let arc = profile::arc_lengths(&band.pts);
    let off_of = |fwhm: f32| side * 0.5 * fwhm * (1.0 - share);
    let shift = |q: [f32; 2], s: f32, fwhm: f32| {
        let (_, t) = profile::point_and_tangent(&band.pts, &arc, s, 3.0);
        let o = off_of(fwhm);
        [q[0] - t[1] * o, q[1] + t[0] * o]
    };
    let mut samples: Vec<WidthSample> = band
        .samples
        .iter()
        .map(|s| {
            let fwhm = share * s.fwhm_px;
            WidthSample {
                centre: shift(s.centre, s.arc_px, s.fwhm_px),
                width_px: share * s.width_px,
                fwhm_px: fwhm,
                w80_px: (fwhm - (s.fwhm_px - s.w80_px)).max(0.1 * fwhm),
                w20_px: fwhm + (s.w20_px - s.fwhm_px),
                ..*s
            }
        })
        .collect();
    let total = *arc.last().unwrap_or(&0.0);
    let n = band.pts.len();
    let fw = band.width;
    let mut pts = vec![shift(band.pts[0], 0.0, fw)];
    pts.extend(samples.iter().map(|s| s.centre));
    pts.push(shift(band.pts[n - 1], total, fw));
    let ra = profile::arc_lengths(&pts);
    for (k, s) in samples.iter_mut().enumerate() {
        s.arc_px = ra[k + 1];
    }
    Piece {
        pts,
        samples,
        width: share * band.width,
        depth: band.depth,
        attempts: band.attempts,
        profiled_px: band.profiled_px,
        frame: band.frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straight piece `len` px long along x with `n` samples, `width`
    /// px wide.
    fn straight(len: f32, n: usize, width: f32) -> Piece {
        let samples: Vec<WidthSample> = (0..n)
            .map(|k| {
                let x = len * (k as f32 + 0.5) / n as f32;
                WidthSample {
                    arc_px: x,
                    centre: [100.0 + x, 50.0],
                    width_px: width,
                    depth: 0.8,
                    fwhm_px: width,
                    w80_px: 0.8 * width,
                    w20_px: 1.2 * width,
                    clipped: false,
                }
            })
            .collect();
        Piece {
            pts: vec![[100.0, 50.0], [100.0 + len, 50.0]],
            samples,
            width,
            depth: 0.8,
            attempts: n,
            profiled_px: len,
            frame: profile::FrameHalves::NONE,
        }
    }

    /// A long piece wider than the widest shaft, with no fork, becomes two
    /// pieces of half its width a quarter of its width either side of its
    /// axis; a narrower one, or one about as long as wide (a blob where
    /// shafts meet), stays whole.
    #[test]
    fn forkless_band_wider_than_a_shaft_is_halved() {
        let (pieces, first) = split_bands(vec![straight(120.0, 20, 30.0)], 24.0);
        assert_eq!((pieces.len(), first), (2, 0));
        let mut ys: Vec<f32> = pieces.iter().map(|p| p.samples[5].centre[1]).collect();
        ys.sort_by(f32::total_cmp);
        assert!(
            (ys[0] - 42.5).abs() < 1e-3 && (ys[1] - 57.5).abs() < 1e-3,
            "{ys:?}"
        );
        for p in &pieces {
            assert!((p.width - 15.0).abs() < 1e-4);
            assert!(p.samples.iter().all(|s| (s.fwhm_px - 15.0).abs() < 1e-4));
        }
        let (pieces, first) = split_bands(vec![straight(120.0, 20, 20.0)], 24.0);
        assert_eq!((pieces.len(), first), (1, 1));
        let (pieces, first) = split_bands(vec![straight(40.0, 20, 30.0)], 24.0);
        assert_eq!((pieces.len(), first), (1, 1));
    }

    /// `near_x` hands back every end that a scan over all pieces would
    /// let through the distance test (here the hardest case, all on one
    /// row), in the scan's order.
    #[test]
    fn near_x_returns_every_end_in_reach_in_scan_order() {
        let mut bits = crate::testing::xorshift64(0x2545_f491_4f6c_dd1d);
        let mut next = move || (bits() >> 40) as f32 / (1u64 << 24) as f32;
        for case in 0..200 {
            let n = 1 + case % 40;
            let xs: Vec<[f32; 2]> = (0..n).map(|_| [4000.0 * next(), 4000.0 * next()]).collect();
            let mut by_x: Vec<(f32, usize, usize)> = xs
                .iter()
                .enumerate()
                .flat_map(|(i, x)| [(x[0], i, 0), (x[1], i, 1)])
                .collect();
            by_x.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            let index = BranchEnds {
                ends: vec![None; n],
                by_x,
            };
            for _ in 0..20 {
                let x0 = 4000.0 * next();
                let reach = 200.0 * next();
                let want: Vec<(usize, usize)> = (0..n)
                    .flat_map(|i| [(i, 0), (i, 1)])
                    .filter(|&(i, k)| {
                        let v = xs[i][k] - x0;
                        v * v <= reach * reach
                    })
                    .collect();
                let got = index.near_x(x0, reach);
                assert!(
                    want.iter().all(|e| got.contains(e)),
                    "case {case}: {want:?} not in {got:?}"
                );
                assert!(got.windows(2).all(|w| w[0] < w[1]), "case {case}: order");
                assert!(got
                    .iter()
                    .all(|&(i, k)| (xs[i][k] - x0).abs() <= reach + 1.0));
            }
        }
    }
}
