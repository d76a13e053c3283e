//! Per-capillary morphometry and shape classes.
//!
//! Measured on the working-resolution component (shape) and on the
//! full-resolution mask (area, centroid):
//!
//! - `length_um`: skeleton length (Zhang–Suen thinning, 8-connected steps of
//!   1 or √2 px) plus, at each skeleton end, the distance to the boundary
//!   (the skeleton stops about half a width short of a tube's tip). A dot's
//!   skeleton is a point: its length is its diameter.
//! - `width_um`: area / length for tubes (sub-pixel: the area comes from the
//!   full-resolution half-maximum mask); equivalent diameter √(4A/π) for dots.
//! - `elongation`: √(λ1/λ2) of the pixel covariance (major / minor axis).
//! - `extent_um`: span of the pixels along the major axis.
//! - `tortuosity`: length of the longest skeleton path / distance between
//!   its ends (1 for a straight line; a U-shaped loop is high). A vessel
//!   joined across a gap has a skeleton in pieces: the longest path is the
//!   longest of any piece.
//! - `turns`: turning of the longest skeleton path (tips trimmed, sampled
//!   every ~1 width), in units of π: the heading changes are grouped into
//!   runs of one sign (bends), and bends of at least a quarter turn are
//!   summed by their net angle. A U is 1, a meander of n periods ≈ 1.6 n.
//! - `branch_count`: skeleton segments between ends and junctions, spurs
//!   shorter than the local half-width removed (a line is 1, a Y is 3).
//!
//! Classes, in order:
//! 1. `arborizing` when `extent_um ≥ arborizing_min_extent_um`, or when
//!    `width_um ≥ arborizing_min_width_um` and the extent reaches 60 % of
//!    that (a fat loop whose limbs merged is not arborizing);
//! 2. `twisted` when `turns ≥ twisted_min_turns` and the path is at least 3
//!    widths long;
//! 3. `dot` when `elongation < dot_max_elongation` and `extent_um ≤
//!    dot_max_extent_um` (a larger round blob is a loop whose limbs merged),
//!    and the longest skeleton path is under `loop_min_extent_widths`
//!    widths (a dot's skeleton is about a point; a round blob whose
//!    skeleton runs a bent tube, a U with its base under hair, is a loop);
//! 4. `loop` otherwise (elongated, few turns: a hairpin seen from above,
//!    whether its limbs segment apart as a U or together as a bar).

use super::{VesselClass, VesselParams};
use crate::kernels::thin_bit_rows;

/// Shape figures of one component (work pixels).
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    pub elongation: f64,
    pub extent_px: f64,
    pub length_px: f64,
    pub path_px: f64,
    pub tortuosity: f64,
    pub turns: f64,
    pub branch_count: usize,
}

const N8: [(i32, i32); 8] = [
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
    (0, -1),
    (1, -1),
];

crate::kernels::simd::dispatch! {
    /// Shape of the pixels `pix` (x, y work coordinates), in the buffers of
    /// `sc` (their contents do not matter).
    pub(crate) fn shape(pix: &[(usize, usize)], sc: &mut ShapeScratch) -> Shape => shape_body
}

/// Buffers of [`shape`] reused from vessel to vessel (one per thread); every
/// buffer is cleared and sized by the call that uses it.
#[derive(Default)]
pub(crate) struct ShapeScratch {
    /// Bit rows of the component's box (see [`shape_body`]).
    comp: Vec<u64>,
    /// Bit rows of the background pixels 4-adjacent to the component.
    edge: Vec<u64>,
    /// Bit rows of the skeleton.
    sk: Vec<u64>,
    /// Deletions of a thinning subiteration.
    del: Vec<u64>,
    skel: Vec<usize>,
    /// Skeleton number of the first skeleton pixel of each word of `sk`.
    rank: Vec<u32>,
    nb: Vec<u8>,
    dist: Vec<f64>,
    par: Vec<usize>,
    seen: Vec<bool>,
    heap: std::collections::BinaryHeap<(std::cmp::Reverse<u64>, usize)>,
    /// Union-find parents, lengths and end flags of the branch count.
    uf: Vec<u32>,
    seg: Vec<(usize, bool)>,
}

/// Bits of [`N8`] (a skeleton pixel's neighbours).
const E: u8 = 1;
const SE: u8 = 2;
const S: u8 = 4;
const SW: u8 = 8;
const W: u8 = 16;

/// [`shape`], compiled per instruction set there. The component's box
/// (with a border of one pixel) is held as bit rows of `nw` words (bit
/// x % 64 of word x / 64 is box pixel x), and thinned as such. The skeleton's pixels are numbered in raster order
/// (counted from `rank`), so the order of the box indices and of the
/// numbers is one: the Dijkstra below takes its heap entries, ties and
/// farthest pixels in the same order as by box index.
#[inline(always)]
fn shape_body(pix: &[(usize, usize)], sc: &mut ShapeScratch) -> Shape {
    let n = pix.len() as f64;
    // The coordinate sums in integers: each partial sum of whole numbers
    // below 2⁵³ is exact in f64 too, so the means are those of the f64
    // sums, without their chain of dependent additions.
    let (mut sx, mut sy) = (0u64, 0u64);
    for &(x, y) in pix {
        sx += x as u64;
        sy += y as u64;
    }
    let (mx, my) = (sx as f64 / n, sy as f64 / n);
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for &(x, y) in pix {
        let (dx, dy) = (x as f64 - mx, y as f64 - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    // Each pixel is a unit square: add its own variance 1/12.
    let (sxx, syy, sxy) = (sxx / n + 1.0 / 12.0, syy / n + 1.0 / 12.0, sxy / n);
    let tr = (sxx + syy) / 2.0;
    let disc = (((sxx - syy) / 2.0).powi(2) + sxy * sxy).sqrt();
    let (l1, l2) = (tr + disc, (tr - disc).max(1e-9));
    let elongation = (l1 / l2).sqrt();
    let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let (c, s) = (theta.cos(), theta.sin());
    let (mut pmin, mut pmax) = (f64::MAX, f64::MIN);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for &(x, y) in pix {
        let p = (x as f64 - mx) * c + (y as f64 - my) * s;
        pmin = pmin.min(p);
        pmax = pmax.max(p);
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let extent_px = pmax - pmin + 1.0;
    if pix.is_empty() {
        (x0, y0) = (0, 0);
    }

    // Bit rows of the component with a 1-px border.
    let (bw, bh) = (x1 - x0 + 3, y1 - y0 + 3);
    let nw = bw.div_ceil(64);
    let ShapeScratch {
        comp,
        edge,
        sk,
        del,
        skel,
        rank,
        nb,
        dist,
        par,
        seen,
        heap,
        uf,
        seg,
    } = sc;
    comp.clear();
    comp.resize(bh * nw, 0);
    for &(x, y) in pix {
        let (bx, by) = (x - x0 + 1, y - y0 + 1);
        comp[by * nw + bx / 64] |= 1u64 << (bx % 64);
    }
    let comp = &comp[..];
    let dt = HalfWidths::new(comp, nw, bw, edge);
    sk.clear();
    sk.extend_from_slice(comp);
    thin_bit_rows(sk, nw, bw, del);
    let sk = &sk[..];
    // Skeleton pixels (box indices) in raster order, and the number of the
    // first of each word.
    skel.clear();
    rank.clear();
    for (wi, &word) in sk.iter().enumerate() {
        rank.push(skel.len() as u32);
        let (y, base) = (wi / nw, (wi % nw) * 64);
        let mut t = word;
        while t != 0 {
            skel.push(y * bw + base + t.trailing_zeros() as usize);
            t &= t - 1;
        }
    }
    let skel = &skel[..];
    let rank = &rank[..];
    // The number of skeleton pixel (x, y).
    let num = |x: usize, y: usize| -> usize {
        let wi = y * nw + x / 64;
        rank[wi] as usize + (sk[wi] & ((1u64 << (x % 64)) - 1)).count_ones() as usize
    };
    // Each skeleton pixel's neighbours as bits in the order of `N8` (no
    // skeleton pixel lies on the box's border: no bounds to check).
    nb.clear();
    nb.extend(skel.iter().map(|&i| {
        let (x, y) = (i % bw, i / bw);
        N8.iter().enumerate().fold(0u8, |m, (d, &(dx, dy))| {
            let (xx, yy) = ((x as i32 + dx) as usize, (y as i32 + dy) as usize);
            m | ((bit_at(sk, nw, xx, yy) as u8) << d)
        })
    }));
    let nb = &nb[..];
    let neigh = |k: usize| nb[k].count_ones() as usize;
    // Skeleton length: 4-steps once, diagonal steps unless bridged by a
    // 4-neighbour pair (avoids double counting at corners).
    let mut len = 0.0;
    for &m in nb {
        if m & E != 0 {
            len += 1.0;
        }
        if m & S != 0 {
            len += 1.0;
        }
        if m & SE != 0 && m & E == 0 && m & S == 0 {
            len += std::f64::consts::SQRT_2;
        }
        if m & SW != 0 && m & W == 0 && m & S == 0 {
            len += std::f64::consts::SQRT_2;
        }
    }
    let ends: Vec<usize> = (0..skel.len()).filter(|&k| neigh(k) <= 1).collect();
    let ext = |i: usize| (dt.at(i) as f64 - 0.5).max(0.5);
    let length_px = if skel.len() <= 2 || ends.is_empty() && skel.len() <= 4 {
        let dtmax = dt.max() as f64;
        len + 2.0 * (dtmax - 0.5).max(0.5)
    } else {
        len + ends.iter().map(|&k| ext(skel[k])).sum::<f64>()
    };

    // Longest path: farthest pixel from any start, then farthest from it.
    let (path, path_px) = if skel.len() >= 2 {
        // Dijkstra with 1 / √2 steps on a small graph, by skeleton number;
        // returns the farthest pixel reached and the path to it (numbers),
        // leaving the distances in `dist`.
        let bfs = |start: usize,
                   dist: &mut Vec<f64>,
                   par: &mut Vec<usize>,
                   heap: &mut std::collections::BinaryHeap<(std::cmp::Reverse<u64>, usize)>|
         -> (usize, Vec<usize>) {
            dist.clear();
            dist.resize(skel.len(), f64::MAX);
            par.clear();
            par.resize(skel.len(), usize::MAX);
            heap.clear();
            dist[start] = 0.0;
            heap.push((std::cmp::Reverse(0u64), start));
            while let Some((std::cmp::Reverse(dk), k)) = heap.pop() {
                let di = dk as f64 / 1e6;
                if di > dist[k] + 1e-9 {
                    continue;
                }
                let (m, i) = (nb[k], skel[k]);
                let (x, y) = ((i % bw) as i32, (i / bw) as i32);
                for (d, &(dx, dy)) in N8.iter().enumerate() {
                    if m & (1 << d) != 0 {
                        let j = num((x + dx) as usize, (y + dy) as usize);
                        let step = if dx != 0 && dy != 0 {
                            std::f64::consts::SQRT_2
                        } else {
                            1.0
                        };
                        if di + step < dist[j] - 1e-9 {
                            dist[j] = di + step;
                            par[j] = k;
                            heap.push((std::cmp::Reverse(((di + step) * 1e6) as u64), j));
                        }
                    }
                }
            }
            // The farthest pixel reached: the pixels of other skeleton
            // pieces (a vessel joined across a gap) stay at f64::MAX.
            let far = (0..skel.len())
                .filter(|&a| dist[a] < f64::MAX)
                .max_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(b.cmp(&a)))
                .unwrap_or(start);
            let mut p = vec![far];
            let mut last = far;
            while par[last] != usize::MAX {
                last = par[last];
                p.push(last);
            }
            (far, p)
        };
        let path_len = |p: &[usize]| -> f64 {
            p.windows(2)
                .map(|s| {
                    let (a, b) = (skel[s[0]], skel[s[1]]);
                    let (dx, dy) = (
                        (a % bw) as f64 - (b % bw) as f64,
                        (a / bw) as f64 - (b / bw) as f64,
                    );
                    (dx * dx + dy * dy).sqrt()
                })
                .sum()
        };
        // The longest path of each skeleton piece (from an end where it
        // has one); the longest of them (the first on ties).
        seen.clear();
        seen.resize(skel.len(), false);
        let mut best: (Vec<usize>, f64) = (Vec::new(), -1.0);
        for start in ends.iter().copied().chain(0..skel.len()) {
            if seen[start] {
                continue;
            }
            let (a, _) = bfs(start, dist, par, heap);
            for (sn, &d) in seen.iter_mut().zip(dist.iter()) {
                if d < f64::MAX {
                    *sn = true;
                }
            }
            let (_, p) = bfs(a, dist, par, heap);
            let pl = path_len(&p);
            if pl > best.1 {
                best = (p, pl);
            }
        }
        (
            best.0.into_iter().map(|k| skel[k]).collect::<Vec<usize>>(),
            best.1.max(0.0),
        )
    } else {
        (skel.to_vec(), 0.0)
    };
    let xy = |i: usize| ((i % bw) as f64, (i / bw) as f64);
    let tortuosity = if path.len() >= 3 {
        let (a, b) = (xy(path[0]), xy(*path.last().unwrap_or(&path[0])));
        let chord = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt().max(1.0);
        (path_px / chord).max(1.0)
    } else {
        1.0
    };
    // Turning: resample the path every `step` px of arc length.
    let mean_half_width = if skel.is_empty() {
        0.5
    } else {
        skel.iter().map(|&i| dt.at(i) as f64).sum::<f64>() / skel.len() as f64
    };
    let step = (2.0 * mean_half_width).max(2.0);
    // Thinning leaves hooks towards the corners of a tube's tip: drop about
    // one half-width of arc at each end before measuring the turning.
    let trim = {
        let cut = 1.5 * mean_half_width.max(1.0);
        let mut acc = 0.0;
        let mut k = 0;
        while k + 1 < path.len() && acc < cut {
            let (a, b) = (xy(path[k]), xy(path[k + 1]));
            acc += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
            k += 1;
        }
        k
    };
    let core: &[usize] = if path.len() > 2 * trim + 3 {
        &path[trim..path.len() - trim]
    } else {
        &path
    };
    let mut samples = Vec::new();
    if core.len() >= 3 {
        let path = core;
        let mut acc = 0.0;
        samples.push(xy(path[0]));
        for s in path.windows(2) {
            let (a, b) = (xy(s[0]), xy(s[1]));
            acc += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
            if acc >= step {
                samples.push(b);
                acc = 0.0;
            }
        }
        if acc > step / 2.0 {
            samples.push(xy(*path.last().unwrap_or(&path[0])));
        }
    }
    // Turning: heading changes grouped into runs of one sign; a run is a
    // bend, counted by its net angle when that exceeds a quarter turn
    // (smaller runs are pixel wiggle, which would otherwise add up along a
    // long limb).
    let mut turning = 0.0;
    let mut run = 0.0f64;
    for s in samples.windows(3) {
        let a1 = (s[1].1 - s[0].1).atan2(s[1].0 - s[0].0);
        let a2 = (s[2].1 - s[1].1).atan2(s[2].0 - s[1].0);
        let mut d = a2 - a1;
        while d > std::f64::consts::PI {
            d -= std::f64::consts::TAU;
        }
        while d < -std::f64::consts::PI {
            d += std::f64::consts::TAU;
        }
        if run != 0.0 && d.signum() != run.signum() {
            if run.abs() >= std::f64::consts::FRAC_PI_4 {
                turning += run.abs();
            }
            run = 0.0;
        }
        run += d;
    }
    if run.abs() >= std::f64::consts::FRAC_PI_4 {
        turning += run.abs();
    }

    // Branches: skeleton minus junction pixels, segments of at least the
    // local half-width (shorter end segments are thinning spurs).
    // Without a junction the skeleton is one branch.
    let branch_count = if (0..skel.len()).any(|k| neigh(k) >= 3) {
        // The 8-connected segments of the skeleton less its junction
        // pixels, by union-find over skeleton numbers (each root the
        // smallest number of its segment).
        uf.clear();
        uf.extend(0..skel.len() as u32);
        fn root(uf: &mut [u32], mut k: usize) -> usize {
            while uf[k] as usize != k {
                uf[k] = uf[uf[k] as usize];
                k = uf[k] as usize;
            }
            k
        }
        for (k, &i) in skel.iter().enumerate() {
            if neigh(k) >= 3 {
                continue;
            }
            let (x, y) = ((i % bw) as i32, (i / bw) as i32);
            for (d, &(dx, dy)) in N8.iter().enumerate() {
                if nb[k] & (1 << d) != 0 {
                    let j = num((x + dx) as usize, (y + dy) as usize);
                    if neigh(j) < 3 {
                        let (a, b) = (root(uf, k), root(uf, j));
                        uf[a.max(b)] = a.min(b) as u32;
                    }
                }
            }
        }
        seg.clear();
        seg.resize(skel.len(), (0, false));
        for k in 0..skel.len() {
            if neigh(k) < 3 {
                let r = root(uf, k);
                seg[r].0 += 1;
                seg[r].1 |= neigh(k) <= 1;
            }
        }
        let min_spur = mean_half_width.max(1.5);
        seg.iter()
            .filter(|&&(n, end)| n > 0 && !(end && (n as f64) < min_spur))
            .count()
    } else {
        1
    };
    Shape {
        elongation,
        extent_px,
        length_px: length_px.max(1.0),
        path_px,
        tortuosity,
        turns: turning / std::f64::consts::PI,
        branch_count: branch_count.max(1),
    }
}

/// Bit x % 64 of word x / 64 of row `y` of bit rows `nw` words wide.
#[inline(always)]
fn bit_at(rows: &[u64], nw: usize, x: usize, y: usize) -> bool {
    (rows[y * nw + x / 64] >> (x % 64)) & 1 != 0
}

/// Distance of a component's pixels to the background (centre to centre,
/// px), pixel by pixel where asked: a shape needs it on its skeleton only,
/// a few dozen pixels, where the transform of the whole box costs more.
/// The nearest background pixel of a pixel is 4-adjacent to the component
/// (one step from it towards the pixel is nearer, so in the component),
/// so only those are searched, as bit rows: from the query's row
/// outwards, down then up, the nearest of each row by its bits, until the
/// rows alone are as far as the nearest found (exact: every pixel skipped
/// is at least as far). The squared distance is an exact integer, so the
/// value is that of `kernels::distance_transform`.
struct HalfWidths<'a> {
    /// Bit rows of the component (`nw` words a row, `w` pixels wide).
    comp: &'a [u64],
    /// Bit rows of the background pixels 4-adjacent to the component.
    edge: &'a [u64],
    nw: usize,
    w: usize,
}

impl<'a> HalfWidths<'a> {
    /// `comp` (bit rows, `nw` words and `w` pixels wide) has a background
    /// border of one pixel; the edge's rows are formed in `edge`.
    #[inline(always)]
    fn new(comp: &'a [u64], nw: usize, w: usize, edge: &'a mut Vec<u64>) -> Self {
        let h = comp.len() / nw.max(1);
        edge.clear();
        edge.resize(comp.len(), 0);
        for y in 0..h {
            let row = &comp[y * nw..(y + 1) * nw];
            for k in 0..nw {
                let c = row[k];
                let prev = if k > 0 { row[k - 1] >> 63 } else { 0 };
                let next = if k + 1 < nw { row[k + 1] << 63 } else { 0 };
                let up = if y > 0 { comp[(y - 1) * nw + k] } else { 0 };
                let dn = if y + 1 < h { comp[(y + 1) * nw + k] } else { 0 };
                edge[y * nw + k] = !c & ((c << 1) | prev | (c >> 1) | next | up | dn);
            }
        }
        HalfWidths { comp, edge, nw, w }
    }

    /// Distance (px) from `x` to the nearest edge pixel of row `y`, if any.
    #[inline(always)]
    fn row_dx(&self, x: usize, y: usize) -> Option<i32> {
        let row = &self.edge[y * self.nw..(y + 1) * self.nw];
        let (k, b) = (x / 64, x % 64);
        let mut best: Option<usize> = None;
        // At or left of x.
        let left = row[k] & (u64::MAX >> (63 - b));
        if left != 0 {
            best = Some(b - (63 - left.leading_zeros() as usize));
        } else if let Some(kk) = (0..k).rev().find(|&kk| row[kk] != 0) {
            best = Some(x - (kk * 64 + 63 - row[kk].leading_zeros() as usize));
        }
        // At or right of x.
        let right = row[k] >> b;
        let r = if right != 0 {
            Some(right.trailing_zeros() as usize)
        } else {
            (k + 1..self.nw)
                .find(|&kk| row[kk] != 0)
                .map(|kk| kk * 64 + row[kk].trailing_zeros() as usize - x)
        };
        match (best, r) {
            (Some(a), Some(b)) => Some(a.min(b) as i32),
            (a, b) => a.or(b).map(|d| d as i32),
        }
    }

    /// Distance at box pixel `i` (0 on the background).
    #[inline(always)]
    fn at(&self, i: usize) -> f32 {
        let (x, y) = (i % self.w, i / self.w);
        if !bit_at(self.comp, self.nw, x, y) {
            return 0.0;
        }
        let h = self.comp.len() / self.nw;
        let mut m = i32::MAX;
        for rows in [
            &mut (y..h) as &mut dyn Iterator<Item = usize>,
            &mut (0..y).rev(),
        ] {
            for ry in rows {
                let dy = ry.abs_diff(y) as i32;
                if dy * dy >= m {
                    break;
                }
                if let Some(dx) = self.row_dx(x, ry) {
                    m = m.min(dx * dx + dy * dy);
                }
            }
        }
        if m == i32::MAX {
            f32::INFINITY
        } else {
            (m as f32).sqrt()
        }
    }

    /// The largest distance over the component.
    #[inline(always)]
    fn max(&self) -> f32 {
        let mut best = 0.0f32;
        for (wi, &word) in self.comp.iter().enumerate() {
            let (y, base) = (wi / self.nw, (wi % self.nw) * 64);
            let mut t = word;
            while t != 0 {
                best = best.max(self.at(y * self.w + base + t.trailing_zeros() as usize));
                t &= t - 1;
            }
        }
        best
    }
}

/// The documented class rules (module docs).
pub(crate) fn classify(
    s: &Shape,
    extent_um: f64,
    tube_width_um: f64,
    path_um: f64,
    p: &VesselParams,
) -> VesselClass {
    if extent_um >= p.arborizing_min_extent_um
        || (tube_width_um >= p.arborizing_min_width_um
            && extent_um >= 0.6 * p.arborizing_min_extent_um)
    {
        VesselClass::Arborizing
    } else if s.turns >= p.twisted_min_turns && path_um >= 3.0 * tube_width_um {
        VesselClass::Twisted
    } else if (s.elongation < p.dot_max_elongation
        || extent_um < p.loop_min_extent_widths * tube_width_um)
        && extent_um <= p.dot_max_extent_um
        && path_um < p.loop_min_extent_widths * tube_width_um
    {
        VesselClass::Dot
    } else {
        VesselClass::Loop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{label, skeletonize};
    use crate::vessels::segment::mask_of;

    /// A U tube 3 px wide: limbs 30 px long, 10 px apart (centre to centre).
    fn u_tube() -> Vec<(usize, usize)> {
        let mut pix = Vec::new();
        for y in 10..43 {
            for x in 10..23 {
                let limb = (10..13).contains(&x) || (20..23).contains(&x);
                if limb || y >= 40 {
                    pix.push((x, y));
                }
            }
        }
        pix
    }

    #[test]
    fn a_u_turns_half_a_turn_twice_and_its_path_runs_both_limbs() {
        let s = shape(&u_tube(), &mut ShapeScratch::default());
        assert!(s.path_px > 60.0, "{s:?}");
        assert!((s.turns - 1.0).abs() < 0.3, "{s:?}");
        assert!(s.tortuosity > 4.0, "{s:?}");
    }

    /// The half widths before bit rows (an edge list; the reference
    /// [`HalfWidths`] is tested against): distance of a component's pixels
    /// to the background (centre to centre,
    /// px), pixel by pixel where asked: a shape needs it on its skeleton only,
    /// a few dozen pixels, where the transform of the whole box costs more.
    /// The nearest background pixel of a pixel is 4-adjacent to the component
    /// (one step from it towards the pixel is nearer, so in the component),
    /// so only those are searched; the squared distance is an exact integer,
    /// so the value is that of `kernels::distance_transform`.
    struct HalfWidthsReference<'a> {
        img: &'a [bool],
        w: usize,
        /// Background pixels 4-adjacent to the component (x, y).
        edge: Vec<(i32, i32)>,
    }

    impl<'a> HalfWidthsReference<'a> {
        /// `img` (`w` wide) has a background border of one pixel.
        #[inline(always)]
        fn new(img: &'a [bool], w: usize) -> Self {
            let h = img.len() / w.max(1);
            let mut edge = Vec::new();
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    if !img[i]
                        && ((x > 0 && img[i - 1])
                            || (x + 1 < w && img[i + 1])
                            || (y > 0 && img[i - w])
                            || (y + 1 < h && img[i + w]))
                    {
                        edge.push((x as i32, y as i32));
                    }
                }
            }
            HalfWidthsReference { img, w, edge }
        }

        /// Distance at pixel `i` (0 on the background).
        #[inline(always)]
        fn at(&self, i: usize) -> f32 {
            if !self.img[i] {
                return 0.0;
            }
            let (x, y) = ((i % self.w) as i32, (i / self.w) as i32);
            // The edge pixels are in raster order: from the query's row
            // outwards, down then up, until the rows alone are as far as the
            // nearest found (exact: every pixel skipped is at least as far).
            let mid = self.edge.partition_point(|e| e.1 < y);
            let mut m = i32::MAX;
            for &(ex, ey) in &self.edge[mid..] {
                let dy2 = (ey - y) * (ey - y);
                if dy2 >= m {
                    break;
                }
                m = m.min((ex - x) * (ex - x) + dy2);
            }
            for &(ex, ey) in self.edge[..mid].iter().rev() {
                let dy2 = (ey - y) * (ey - y);
                if dy2 >= m {
                    break;
                }
                m = m.min((ex - x) * (ex - x) + dy2);
            }
            if m == i32::MAX {
                f32::INFINITY
            } else {
                (m as f32).sqrt()
            }
        }

        /// The largest distance over the component.
        #[inline(always)]
        fn max(&self) -> f32 {
            (0..self.img.len())
                .filter(|&i| self.img[i])
                .map(|i| self.at(i))
                .fold(0.0f32, f32::max)
        }
    }

    /// The shape as measured before [`ShapeScratch`] (allocations per call,
    /// bounds-checked neighbour tests, Dijkstra by box index): the reference
    /// [`shape`] must equal bit for bit.
    fn shape_reference(pix: &[(usize, usize)]) -> Shape {
        let n = pix.len() as f64;
        let (mut mx, mut my) = (0.0, 0.0);
        for &(x, y) in pix {
            mx += x as f64;
            my += y as f64;
        }
        mx /= n;
        my /= n;
        let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
        for &(x, y) in pix {
            let (dx, dy) = (x as f64 - mx, y as f64 - my);
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
        // Each pixel is a unit square: add its own variance 1/12.
        let (sxx, syy, sxy) = (sxx / n + 1.0 / 12.0, syy / n + 1.0 / 12.0, sxy / n);
        let tr = (sxx + syy) / 2.0;
        let disc = (((sxx - syy) / 2.0).powi(2) + sxy * sxy).sqrt();
        let (l1, l2) = (tr + disc, (tr - disc).max(1e-9));
        let elongation = (l1 / l2).sqrt();
        let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
        let (c, s) = (theta.cos(), theta.sin());
        let (mut pmin, mut pmax) = (f64::MAX, f64::MIN);
        for &(x, y) in pix {
            let p = (x as f64 - mx) * c + (y as f64 - my) * s;
            pmin = pmin.min(p);
            pmax = pmax.max(p);
        }
        let extent_px = pmax - pmin + 1.0;

        // Local image of the component with a 1-px border.
        let x0 = pix.iter().map(|p| p.0).min().unwrap_or(0);
        let y0 = pix.iter().map(|p| p.1).min().unwrap_or(0);
        let x1 = pix.iter().map(|p| p.0).max().unwrap_or(0);
        let y1 = pix.iter().map(|p| p.1).max().unwrap_or(0);
        let (bw, bh) = (x1 - x0 + 3, y1 - y0 + 3);
        let mut img = vec![false; bw * bh];
        for &(x, y) in pix {
            img[(y - y0 + 1) * bw + (x - x0 + 1)] = true;
        }
        let img = mask_of(img, bw, bh);
        let dt = HalfWidthsReference::new(&img.data, bw);
        let sk = skeletonize(&img).data;
        let at = |x: i32, y: i32| -> bool {
            x >= 0
                && y >= 0
                && (x as usize) < bw
                && (y as usize) < bh
                && sk[y as usize * bw + x as usize]
        };
        let skel: Vec<usize> = (0..bw * bh).filter(|&i| sk[i]).collect();
        let neigh = |i: usize| -> usize {
            let (x, y) = ((i % bw) as i32, (i / bw) as i32);
            N8.iter().filter(|&&(dx, dy)| at(x + dx, y + dy)).count()
        };
        // Skeleton length: 4-steps once, diagonal steps unless bridged by a
        // 4-neighbour pair (avoids double counting at corners).
        let mut len = 0.0;
        for &i in &skel {
            let (x, y) = ((i % bw) as i32, (i / bw) as i32);
            if at(x + 1, y) {
                len += 1.0;
            }
            if at(x, y + 1) {
                len += 1.0;
            }
            if at(x + 1, y + 1) && !at(x + 1, y) && !at(x, y + 1) {
                len += std::f64::consts::SQRT_2;
            }
            if at(x - 1, y + 1) && !at(x - 1, y) && !at(x, y + 1) {
                len += std::f64::consts::SQRT_2;
            }
        }
        let ends: Vec<usize> = skel.iter().copied().filter(|&i| neigh(i) <= 1).collect();
        let ext = |i: usize| (dt.at(i) as f64 - 0.5).max(0.5);
        let length_px = if skel.len() <= 2 || ends.is_empty() && skel.len() <= 4 {
            let dtmax = dt.max() as f64;
            len + 2.0 * (dtmax - 0.5).max(0.5)
        } else {
            len + ends.iter().map(|&i| ext(i)).sum::<f64>()
        };

        // Longest path: farthest pixel from any start, then farthest from it.
        let (path, path_px) = if skel.len() >= 2 {
            // Distances and parents per skeleton pixel (`slot` of a box pixel).
            let mut slot = vec![u32::MAX; bw * bh];
            for (k, &i) in skel.iter().enumerate() {
                slot[i] = k as u32;
            }
            let sl = |i: usize| slot[i] as usize;
            let bfs = |start: usize| -> (usize, Vec<usize>, Vec<usize>) {
                let mut dist = vec![f64::MAX; skel.len()];
                let mut par = vec![usize::MAX; skel.len()];
                // Dijkstra with 1 / √2 steps on a small graph.
                let mut heap = std::collections::BinaryHeap::new();
                dist[sl(start)] = 0.0;
                heap.push((std::cmp::Reverse(0u64), start));
                while let Some((std::cmp::Reverse(dk), i)) = heap.pop() {
                    let di = dk as f64 / 1e6;
                    if di > dist[sl(i)] + 1e-9 {
                        continue;
                    }
                    let (x, y) = ((i % bw) as i32, (i / bw) as i32);
                    for &(dx, dy) in &N8 {
                        if at(x + dx, y + dy) {
                            let j = (y + dy) as usize * bw + (x + dx) as usize;
                            let step = if dx != 0 && dy != 0 {
                                std::f64::consts::SQRT_2
                            } else {
                                1.0
                            };
                            if di + step < dist[sl(j)] - 1e-9 {
                                dist[sl(j)] = di + step;
                                par[sl(j)] = i;
                                heap.push((std::cmp::Reverse(((di + step) * 1e6) as u64), j));
                            }
                        }
                    }
                }
                // The farthest pixel reached: the pixels of other skeleton
                // pieces (a vessel joined across a gap) stay at f64::MAX.
                let far = skel
                    .iter()
                    .copied()
                    .filter(|&a| dist[sl(a)] < f64::MAX)
                    .max_by(|&a, &b| dist[sl(a)].total_cmp(&dist[sl(b)]).then(b.cmp(&a)))
                    .unwrap_or(start);
                let mut p = vec![far];
                while par[sl(*p.last().unwrap_or(&start))] != usize::MAX {
                    p.push(par[sl(*p.last().unwrap_or(&start))]);
                }
                let reached: Vec<usize> = (0..skel.len()).filter(|&k| dist[k] < f64::MAX).collect();
                (far, p, reached)
            };
            let path_len = |p: &[usize]| -> f64 {
                p.windows(2)
                    .map(|s| {
                        let (dx, dy) = (
                            (s[0] % bw) as f64 - (s[1] % bw) as f64,
                            (s[0] / bw) as f64 - (s[1] / bw) as f64,
                        );
                        (dx * dx + dy * dy).sqrt()
                    })
                    .sum()
            };
            // The longest path of each skeleton piece (from an end where it
            // has one); the longest of them (the first on ties).
            let mut seen = vec![false; skel.len()];
            let mut best: (Vec<usize>, f64) = (Vec::new(), -1.0);
            for start in ends.iter().chain(&skel).copied() {
                if seen[sl(start)] {
                    continue;
                }
                let (a, _, reached) = bfs(start);
                for k in reached {
                    seen[k] = true;
                }
                let (_, p, _) = bfs(a);
                let pl = path_len(&p);
                if pl > best.1 {
                    best = (p, pl);
                }
            }
            (best.0, best.1.max(0.0))
        } else {
            (skel.clone(), 0.0)
        };
        let xy = |i: usize| ((i % bw) as f64, (i / bw) as f64);
        let tortuosity = if path.len() >= 3 {
            let (a, b) = (xy(path[0]), xy(*path.last().unwrap_or(&path[0])));
            let chord = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt().max(1.0);
            (path_px / chord).max(1.0)
        } else {
            1.0
        };
        // Turning: resample the path every `step` px of arc length.
        let mean_half_width = if skel.is_empty() {
            0.5
        } else {
            skel.iter().map(|&i| dt.at(i) as f64).sum::<f64>() / skel.len() as f64
        };
        let step = (2.0 * mean_half_width).max(2.0);
        // Thinning leaves hooks towards the corners of a tube's tip: drop about
        // one half-width of arc at each end before measuring the turning.
        let trim = {
            let cut = 1.5 * mean_half_width.max(1.0);
            let mut acc = 0.0;
            let mut k = 0;
            while k + 1 < path.len() && acc < cut {
                let (a, b) = (xy(path[k]), xy(path[k + 1]));
                acc += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
                k += 1;
            }
            k
        };
        let core: &[usize] = if path.len() > 2 * trim + 3 {
            &path[trim..path.len() - trim]
        } else {
            &path
        };
        let mut samples = Vec::new();
        if core.len() >= 3 {
            let path = core;
            let mut acc = 0.0;
            samples.push(xy(path[0]));
            for s in path.windows(2) {
                let (a, b) = (xy(s[0]), xy(s[1]));
                acc += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
                if acc >= step {
                    samples.push(b);
                    acc = 0.0;
                }
            }
            if acc > step / 2.0 {
                samples.push(xy(*path.last().unwrap_or(&path[0])));
            }
        }
        // Turning: heading changes grouped into runs of one sign; a run is a
        // bend, counted by its net angle when that exceeds a quarter turn
        // (smaller runs are pixel wiggle, which would otherwise add up along a
        // long limb).
        let mut turning = 0.0;
        let mut run = 0.0f64;
        for s in samples.windows(3) {
            let a1 = (s[1].1 - s[0].1).atan2(s[1].0 - s[0].0);
            let a2 = (s[2].1 - s[1].1).atan2(s[2].0 - s[1].0);
            let mut d = a2 - a1;
            while d > std::f64::consts::PI {
                d -= std::f64::consts::TAU;
            }
            while d < -std::f64::consts::PI {
                d += std::f64::consts::TAU;
            }
            if run != 0.0 && d.signum() != run.signum() {
                if run.abs() >= std::f64::consts::FRAC_PI_4 {
                    turning += run.abs();
                }
                run = 0.0;
            }
            run += d;
        }
        if run.abs() >= std::f64::consts::FRAC_PI_4 {
            turning += run.abs();
        }

        // Branches: skeleton minus junction pixels, segments of at least the
        // local half-width (shorter end segments are thinning spurs).
        // Without a junction the skeleton is one branch.
        let branch_count = if skel.iter().any(|&i| neigh(i) >= 3) {
            let seg_mask: Vec<bool> = (0..bw * bh).map(|i| sk[i] && neigh(i) < 3).collect();
            let segs = label(&mask_of(seg_mask, bw, bh));
            let mut seg_len = vec![0usize; segs.count as usize + 1];
            let mut seg_end = vec![false; segs.count as usize + 1];
            for &i in &skel {
                let l = segs.data[i] as usize;
                if l > 0 {
                    seg_len[l] += 1;
                    if neigh(i) <= 1 {
                        seg_end[l] = true;
                    }
                }
            }
            let min_spur = mean_half_width.max(1.5);
            (1..seg_len.len())
                .filter(|&l| !(seg_end[l] && (seg_len[l] as f64) < min_spur))
                .count()
        } else {
            1
        };
        Shape {
            elongation,
            extent_px,
            length_px: length_px.max(1.0),
            path_px,
            tortuosity,
            turns: turning / std::f64::consts::PI,
            branch_count: branch_count.max(1),
        }
    }

    /// Random blobs, tubes and several pieces (boxes narrower and wider
    /// than 64 px), one scratch for all: every figure equal, bit for bit,
    /// to the reference.
    #[test]
    fn shape_with_scratch_equals_the_reference_bit_for_bit() {
        let mut rnd = super::super::tests::xorshift32(2024);
        let mut sc = ShapeScratch::default();
        let bits = |s: &Shape| {
            [
                s.elongation,
                s.extent_px,
                s.length_px,
                s.path_px,
                s.tortuosity,
                s.turns,
            ]
            .map(f64::to_bits)
        };
        let mut branched = 0;
        for case in 0..300 {
            // Every tenth box up to 200 wide (bit rows of several words).
            let wmax = if case % 10 == 0 { 200 } else { 90 };
            let (w, h) = (2 + rnd() as usize % wmax, 2 + rnd() as usize % 40);
            let mut on = vec![false; w * h];
            // A few random walks of discs (tubes, bends, branches, pieces).
            for _ in 0..1 + rnd() % 4 {
                let (mut x, mut y) = ((rnd() as usize % w) as i32, (rnd() as usize % h) as i32);
                let r = (rnd() % 3) as i32;
                for _ in 0..rnd() % 60 {
                    for yy in y - r..=y + r {
                        for xx in x - r..=x + r {
                            if (0..w as i32).contains(&xx) && (0..h as i32).contains(&yy) {
                                on[yy as usize * w + xx as usize] = true;
                            }
                        }
                    }
                    x += (rnd() % 3) as i32 - 1;
                    y += (rnd() % 3) as i32 - 1;
                }
            }
            let pix: Vec<(usize, usize)> = (0..w * h)
                .filter(|&i| on[i])
                .map(|i| (i % w + 5, i / w + 7))
                .collect();
            if pix.is_empty() {
                continue;
            }
            let (a, b) = (shape(&pix, &mut sc), shape_reference(&pix));
            // The half widths at every pixel of the box, and their maximum.
            let (x0, y0) = (5, 7);
            let (bw, bh) = (w + 2, h + 2);
            let nw = bw.div_ceil(64);
            let mut img = vec![false; bw * bh];
            let mut comp = vec![0u64; bh * nw];
            for &(x, y) in &pix {
                let (bx, by) = (x - x0 + 1, y - y0 + 1);
                img[by * bw + bx] = true;
                comp[by * nw + bx / 64] |= 1u64 << (bx % 64);
            }
            let mut edge = Vec::new();
            let (new, old) = (
                HalfWidths::new(&comp, nw, bw, &mut edge),
                HalfWidthsReference::new(&img, bw),
            );
            for i in 0..bw * bh {
                assert_eq!(
                    new.at(i).to_bits(),
                    old.at(i).to_bits(),
                    "case {case}, pixel {i}"
                );
            }
            assert_eq!(new.max().to_bits(), old.max().to_bits(), "case {case}");
            assert_eq!(bits(&a), bits(&b), "case {case}: {a:?} vs {b:?}");
            assert_eq!(a.branch_count, b.branch_count, "case {case}");
            branched += (a.branch_count > 1) as usize;
        }
        assert!(branched > 10, "{branched}");
    }

    #[test]
    fn a_round_blob_is_a_dot_unless_its_skeleton_runs_two_widths() {
        // Figures of a hairpin whose base lies under hair (realistic
        // phantom, 1.5 µm/px): round, 46.5 µm across, tubes 18.8 µm wide.
        let p = VesselParams::default();
        let s = Shape {
            elongation: 1.11,
            ..Shape::default()
        };
        assert_eq!(classify(&s, 46.5, 18.8, 0.0, &p), VesselClass::Dot);
        assert_eq!(classify(&s, 46.5, 18.8, 30.0, &p), VesselClass::Dot);
        assert_eq!(classify(&s, 46.5, 18.8, 60.7, &p), VesselClass::Loop);
    }

    #[test]
    fn a_second_piece_does_not_cut_the_longest_path() {
        // A vessel joined across a gap: a U and, below it, a small blob
        // (after the U in raster order). The path and turns are the U's.
        let mut sc = ShapeScratch::default();
        let u = shape(&u_tube(), &mut sc);
        let mut pix = u_tube();
        for y in 50..53 {
            for x in 15..18 {
                pix.push((x, y));
            }
        }
        let s = shape(&pix, &mut sc);
        assert!((s.path_px - u.path_px).abs() < 1e-9, "{s:?} vs {u:?}");
        assert!((s.turns - u.turns).abs() < 1e-9, "{s:?} vs {u:?}");
        assert!((s.tortuosity - u.tortuosity).abs() < 1e-9, "{s:?} vs {u:?}");
    }
}
