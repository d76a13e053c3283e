//! Objects (hair shafts, capillaries) of both visits in baseline coordinates,
//! and one-to-one matching between the visits.

use super::registration::Similarity;
use crate::image::Labels;
use rayon::prelude::*;

/// Position, direction and extent of one labelled object, in baseline pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geom {
    /// Centroid.
    pub c: (f64, f64),
    /// Unit direction of the principal axis.
    pub dir: (f64, f64),
    /// Half the length along the principal axis (uniform-segment model:
    /// length = √(12·λ_max)).
    pub half_len: f64,
    /// Half the width across it (√(12·λ_min) / 2).
    pub half_width: f64,
}

impl Geom {
    pub fn ends(&self) -> [(f64, f64); 2] {
        let (dx, dy) = (self.dir.0 * self.half_len, self.dir.1 * self.half_len);
        [
            (self.c.0 - dx, self.c.1 - dy),
            (self.c.0 + dx, self.c.1 + dy),
        ]
    }
}

/// Exact integer moments per label (order-independent, hence deterministic
/// for any thread count), mapped through `to_base` (visit → baseline
/// pixels). Returns the geometry of every whole object and of the part of it
/// that `keep` accepts (the caller keeps the part of the frame both visits
/// show, so that a shaft cut by one visit's frame edge is measured on the
/// same piece in both).
pub(crate) fn geometry(
    labels: &Labels,
    to_base: &Similarity,
    keep: impl Fn(usize, usize) -> bool + Sync,
) -> (Vec<Option<Geom>>, Vec<Option<Geom>>) {
    let n = labels.count as usize;
    let w = labels.width;
    if n == 0 || w == 0 {
        return (Vec::new(), Vec::new());
    }
    // [count, Σx, Σy, Σxx, Σxy, Σyy] for the whole object, then for the kept part.
    let band = 64usize;
    let partial: Vec<Vec<[u64; 12]>> = labels
        .data
        .par_chunks(w * band)
        .enumerate()
        .map(|(bi, chunk)| {
            let mut m = vec![[0u64; 12]; n];
            for (r, row) in chunk.chunks(w).enumerate() {
                let y = bi * band + r;
                let yu = y as u64;
                for (x, &l) in row.iter().enumerate() {
                    if l == 0 || l as usize > n {
                        continue;
                    }
                    let xu = x as u64;
                    let v = [1, xu, yu, xu * xu, xu * yu, yu * yu];
                    let e = &mut m[l as usize - 1];
                    for k in 0..6 {
                        e[k] += v[k];
                    }
                    if keep(x, y) {
                        for k in 0..6 {
                            e[6 + k] += v[k];
                        }
                    }
                }
            }
            m
        })
        .collect();
    let mut tot = vec![[0u64; 12]; n];
    for p in &partial {
        for (t, v) in tot.iter_mut().zip(p) {
            for k in 0..12 {
                t[k] += v[k];
            }
        }
    }
    let (a, b, _, _) = to_base.matrix();
    let s = to_base.scale;
    let geom = |m: &[u64]| {
        if m[0] == 0 {
            return None;
        }
        let k = m[0] as f64;
        let (cx, cy) = (m[1] as f64 / k, m[2] as f64 / k);
        let sxx = m[3] as f64 / k - cx * cx;
        let sxy = m[4] as f64 / k - cx * cy;
        let syy = m[5] as f64 / k - cy * cy;
        let tr = sxx + syy;
        let det = sxx * syy - sxy * sxy;
        let root = (tr * tr / 4.0 - det).max(0.0).sqrt();
        let l1 = tr / 2.0 + root;
        let l2 = (tr / 2.0 - root).max(0.0);
        let th = 0.5 * (2.0 * sxy).atan2(sxx - syy);
        let (dx, dy) = (th.cos(), th.sin());
        Some(Geom {
            c: to_base.apply(cx, cy),
            dir: ((a * dx - b * dy) / s, (b * dx + a * dy) / s),
            half_len: 0.5 * (12.0 * l1).sqrt() * s,
            half_width: 0.5 * (12.0 * l2).sqrt() * s,
        })
    };
    (
        tot.iter().map(|m| geom(&m[..6])).collect(),
        tot.iter().map(|m| geom(&m[6..])).collect(),
    )
}

/// Points in square buckets, for neighbour queries without an O(n²) scan.
pub(crate) struct Buckets {
    cell: f64,
    x0: f64,
    y0: f64,
    nx: usize,
    ny: usize,
    lists: Vec<Vec<usize>>,
}

impl Buckets {
    /// Bucket `points` (index, position) with square cells of side `cell`.
    pub fn new(points: impl Iterator<Item = (usize, (f64, f64))> + Clone, cell: f64) -> Self {
        let cell = cell.max(1.0);
        let (mut x0, mut y0, mut x1, mut y1) = (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        );
        for (_, p) in points.clone() {
            x0 = x0.min(p.0);
            y0 = y0.min(p.1);
            x1 = x1.max(p.0);
            y1 = y1.max(p.1);
        }
        if !x0.is_finite() {
            return Buckets {
                cell,
                x0: 0.0,
                y0: 0.0,
                nx: 0,
                ny: 0,
                lists: Vec::new(),
            };
        }
        let nx = ((x1 - x0) / cell) as usize + 1;
        let ny = ((y1 - y0) / cell) as usize + 1;
        let mut lists = vec![Vec::new(); nx * ny];
        for (i, p) in points {
            let cx = ((p.0 - x0) / cell) as usize;
            let cy = ((p.1 - y0) / cell) as usize;
            lists[cy * nx + cx].push(i);
        }
        Buckets {
            cell,
            x0,
            y0,
            nx,
            ny,
            lists,
        }
    }

    /// Indices of the points within the cells that a disc of radius `r`
    /// around `p` touches (a superset of the points within `r`), in
    /// increasing order.
    pub fn near(&self, p: (f64, f64), r: f64) -> Vec<usize> {
        let mut out = Vec::new();
        if self.nx == 0 {
            return out;
        }
        let lo = |v: f64, o: f64| (((v - r - o) / self.cell).floor().max(0.0)) as usize;
        let hi = |v: f64, o: f64, n: usize| {
            ((((v + r - o) / self.cell).floor()).max(-1.0) as isize).min(n as isize - 1)
        };
        let (cx0, cy0) = (lo(p.0, self.x0), lo(p.1, self.y0));
        let (cx1, cy1) = (hi(p.0, self.x0, self.nx), hi(p.1, self.y0, self.ny));
        if cx1 < 0 || cy1 < 0 {
            return out;
        }
        for cy in cy0..=cy1 as usize {
            for cx in cx0..=cx1 as usize {
                out.extend_from_slice(&self.lists[cy * self.nx + cx]);
            }
        }
        out.sort_unstable();
        out
    }
}

/// One-to-one matching of minimum total cost, where leaving an object
/// unmatched costs `unmatched` (so every gated pair cheaper than
/// `2 · unmatched` is preferred to two unmatched objects). Solved exactly
/// (Hungarian algorithm) on each connected component of the candidate
/// graph, which keeps the matrices small. Deterministic.
/// Returns (i, j, cost) sorted by i.
pub(crate) fn assign(
    cands: Vec<(usize, usize, f64)>,
    na: usize,
    nb: usize,
    unmatched: f64,
) -> Vec<(usize, usize, f64)> {
    // Components over nodes a: 0..na, b: na..na+nb.
    let mut parent: Vec<usize> = (0..na + nb).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for &(i, j, _) in &cands {
        let (x, y) = (find(&mut parent, i), find(&mut parent, na + j));
        if x != y {
            parent[x.max(y)] = x.min(y);
        }
    }
    let mut comps: std::collections::BTreeMap<usize, (Vec<usize>, Vec<usize>)> = Default::default();
    for &(i, j, _) in &cands {
        let r = find(&mut parent, i);
        let e = comps.entry(r).or_default();
        e.0.push(i);
        e.1.push(j);
    }
    let cost_of: std::collections::HashMap<(usize, usize), f64> =
        cands.iter().map(|&(i, j, c)| ((i, j), c)).collect();
    let mut out = Vec::new();
    for (_, (mut ia, mut jb)) in comps {
        ia.sort_unstable();
        ia.dedup();
        jb.sort_unstable();
        jb.dedup();
        let (p, q) = (ia.len(), jb.len());
        let n = p + q;
        let big = 1e9;
        let mut m = vec![vec![big; n]; n];
        for (r, &i) in ia.iter().enumerate() {
            for (c, &j) in jb.iter().enumerate() {
                if let Some(&v) = cost_of.get(&(i, j)) {
                    m[r][c] = v;
                }
            }
            m[r][q + r] = unmatched;
        }
        for c in 0..q {
            m[p + c][c] = unmatched;
            for r in 0..p {
                m[p + c][q + r] = 0.0;
            }
        }
        let row_to_col = hungarian(&m);
        for (r, &i) in ia.iter().enumerate() {
            let c = row_to_col[r];
            if c < q && m[r][c] < big {
                out.push((i, jb[c], m[r][c]));
            }
        }
    }
    out.sort_by_key(|x| x.0);
    out
}

/// Minimum-cost perfect assignment of a square matrix (Kuhn–Munkres with
/// potentials, O(n³)); returns the column of each row.
fn hungarian(a: &[Vec<f64>]) -> Vec<usize> {
    let n = a.len();
    let inf = f64::INFINITY;
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = a[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![0; n];
    for j in 1..=n {
        if p[j] > 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    row_to_col
}

/// Cost of pairing two shafts (baseline pixels), or `None` outside the gate:
/// perpendicular offset (both ways) ≤ `gate_px`, axis angle ≤ `gate_angle`
/// (radians, modulo π), and the two segments no further apart along the axis
/// than `growth_px` (growth moves the tip, not the line).
pub(crate) fn hair_cost(
    a: &Geom,
    b: &Geom,
    gate_px: f64,
    gate_angle: f64,
    growth_px: f64,
) -> Option<f64> {
    // A stub (a shaft cut short by a frame edge, elongation < 2) has no
    // reliable direction: a stub pairs with a shaft when it lies on the
    // shaft's axis, two stubs by centroid distance; both at a higher cost.
    let stub = |g: &Geom| g.half_len < gate_px.max(2.0 * g.half_width);
    let (sa, sb) = (stub(a), stub(b));
    if sa && sb {
        let d = (a.c.0 - b.c.0).hypot(a.c.1 - b.c.1);
        return (d <= a.half_len + b.half_len + 2.0 * gate_px).then_some(1.0 + d / gate_px);
    }
    if sa || sb {
        let (st, long) = if sa { (a, b) } else { (b, a) };
        let (vx, vy) = (st.c.0 - long.c.0, st.c.1 - long.c.1);
        let perp = (vx * long.dir.1 - vy * long.dir.0).abs();
        let along = (vx * long.dir.0 + vy * long.dir.1).abs();
        let ok = perp <= gate_px && along <= long.half_len + st.half_len + gate_px + growth_px;
        return ok.then_some(1.0 + perp / gate_px);
    }
    let cosang = (a.dir.0 * b.dir.0 + a.dir.1 * b.dir.1).abs().min(1.0);
    let ang = cosang.acos();
    if ang > gate_angle {
        return None;
    }
    let perp = |g: &Geom, p: (f64, f64)| {
        let (vx, vy) = (p.0 - g.c.0, p.1 - g.c.1);
        (vx * g.dir.1 - vy * g.dir.0).abs()
    };
    let d = perp(a, b.c).max(perp(b, a.c));
    if d > gate_px {
        return None;
    }
    let along = (b.c.0 - a.c.0) * a.dir.0 + (b.c.1 - a.c.1) * a.dir.1;
    if along.abs() > a.half_len + b.half_len + gate_px + growth_px {
        return None;
    }
    Some(d / gate_px + ang / gate_angle + 0.25 * along.abs() / (a.half_len + b.half_len + gate_px))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_bar() {
        // A horizontal bar 41 px long, 3 px thick, centred at (30, 10).
        let (w, h) = (64, 24);
        let mut data = vec![0u32; w * h];
        for y in 9..=11 {
            for x in 10..=50 {
                data[y * w + x] = 1;
            }
        }
        let labels = Labels {
            width: w,
            height: h,
            data,
            count: 1,
        };
        let g = geometry(&labels, &Similarity::IDENTITY, |_, _| true).0[0].unwrap();
        assert!((g.c.0 - 30.0).abs() < 1e-9 && (g.c.1 - 10.0).abs() < 1e-9);
        assert!(g.dir.1.abs() < 1e-9);
        assert!(
            (2.0 * g.half_len - 41.0).abs() < 0.1,
            "{}",
            2.0 * g.half_len
        );
    }

    #[test]
    fn assignment_minimises_total_cost() {
        // Greedy would take (1,1) at 0.2 and leave 0 unmatched or pay 1.0;
        // the optimum pairs (0,1) and (1,0).
        let m = assign(
            vec![(0, 0, 1.9), (0, 1, 0.5), (1, 1, 0.2), (1, 0, 0.4)],
            2,
            2,
            2.5,
        );
        assert_eq!(m, vec![(0, 1, 0.5), (1, 0, 0.4)]);
        // A pair dearer than leaving both unmatched is not taken.
        let m = assign(vec![(0, 0, 6.0)], 1, 1, 2.5);
        assert!(m.is_empty());
    }
}
