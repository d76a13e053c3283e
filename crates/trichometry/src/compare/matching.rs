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

/// A hair shaft from its record ([`crate::hairs::HairShaft`]), in baseline
/// pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shaft {
    /// Centreline, decimated to at most [`MAX_VERTICES`] vertices.
    pub line: Vec<(f64, f64)>,
    /// Follicle exit, when the hair stage found one.
    pub exit: Option<(f64, f64)>,
    /// Unit direction of the principal axis of the centreline.
    pub dir: (f64, f64),
    /// Centre of the centreline's bounding box.
    pub c: (f64, f64),
    /// Half the diagonal of the bounding box (a radius that holds the shaft).
    pub radius: f64,
    /// Arc length of the centreline.
    pub len: f64,
    /// Centroid of the part of the centreline both frames show (arc-length
    /// weighted), `None` when no part is shown by both.
    pub shared_c: Option<(f64, f64)>,
    /// Label moments of the whole object and of the part both frames show,
    /// when the shaft comes from the label image.
    pub moments: Option<(Geom, Option<Geom>)>,
    /// What [`to_polyline`] needs for a cheap lower bound of its distance.
    pub reach: Reach,
}

/// A cheap lower bound of the distance from a point to a shaft's extended
/// centreline ([`to_polyline`]): the polyline lies in its vertices' bounding
/// box, and its extensions lie on the lines through its first and last
/// segments of non-zero length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reach {
    /// Bounding box of the vertices: x0, y0, x1, y1.
    bbox: [f64; 4],
    /// Point and unit direction of the first and last proper segments;
    /// `None` when the polyline has none (its distance is then 0).
    ends: Option<[[f64; 4]; 2]>,
}

impl Reach {
    fn of(line: &[(f64, f64)]) -> Reach {
        let bbox = line.iter().fold(
            [
                f64::INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ],
            |b, p| [b[0].min(p.0), b[1].min(p.1), b[2].max(p.0), b[3].max(p.1)],
        );
        let proper = |s: &[(f64, f64)]| s[0] != s[1];
        let seg = |k: usize| {
            let (a, b) = (line[k], line[k + 1]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let l = dx.hypot(dy);
            [a.0, a.1, dx / l, dy / l]
        };
        let ends = match (
            line.windows(2).position(proper),
            line.windows(2).rposition(proper),
        ) {
            (Some(f), Some(l)) if line.len() > 1 => Some([seg(f), seg(l)]),
            _ => None,
        };
        Reach { bbox, ends }
    }

    /// A lower bound of `to_polyline(p, line).0`.
    #[inline]
    fn lower_bound(&self, p: (f64, f64)) -> f64 {
        let Some(ends) = self.ends else { return 0.0 };
        let [x0, y0, x1, y1] = self.bbox;
        let dx = (x0 - p.0).max(p.0 - x1).max(0.0);
        let dy = (y0 - p.1).max(p.1 - y1).max(0.0);
        // Slightly under the exact figures, so rounding never makes the
        // bound exceed the distance.
        let to_line = |e: &[f64; 4]| ((p.0 - e[0]) * e[3] - (p.1 - e[1]) * e[2]).abs();
        dx.hypot(dy).min(to_line(&ends[0])).min(to_line(&ends[1])) * (1.0 - 1e-9) - 1e-9
    }
}

/// Most vertices kept of a centreline for matching.
pub(crate) const MAX_VERTICES: usize = 48;

impl Shaft {
    /// From a record's centreline and exit (visit pixels), mapped through
    /// `to_base`; `in_both` tells whether a baseline point is in both frames.
    /// `None` for a record without a centreline.
    pub fn from_record(
        centreline: &[[f32; 2]],
        exit: Option<[f32; 2]>,
        to_base: &Similarity,
        in_both: impl Fn((f64, f64)) -> bool,
    ) -> Option<Shaft> {
        if centreline.is_empty() {
            return None;
        }
        let t = to_base.affine();
        let mut full: Vec<(f64, f64)> = centreline
            .iter()
            .map(|p| t.apply(p[0] as f64, p[1] as f64))
            .collect();
        // Repeated vertices make degenerate segments.
        full.dedup();
        // Arc length and the shared part's centroid (segment midpoints
        // weighted by length; a one-point centreline counts as its point).
        let (mut len, mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0, 0.0);
        for s in full.windows(2) {
            let l = (s[1].0 - s[0].0).hypot(s[1].1 - s[0].1);
            len += l;
            let m = (0.5 * (s[0].0 + s[1].0), 0.5 * (s[0].1 + s[1].1));
            if in_both(m) {
                sx += l * m.0;
                sy += l * m.1;
                sw += l;
            }
        }
        if sw == 0.0 {
            for &p in &full {
                if in_both(p) {
                    sx += p.0;
                    sy += p.1;
                    sw += 1.0;
                }
            }
        }
        let shared_c = (sw > 0.0).then(|| (sx / sw, sy / sw));
        // Principal axis of the vertices.
        let n = full.len() as f64;
        let (mx, my) = (
            full.iter().map(|p| p.0).sum::<f64>() / n,
            full.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for p in &full {
            let (dx, dy) = (p.0 - mx, p.1 - my);
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
        let th = 0.5 * (2.0 * sxy).atan2(sxx - syy);
        let (x0, x1, y0, y1) = full.iter().fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |a, p| (a.0.min(p.0), a.1.max(p.0), a.2.min(p.1), a.3.max(p.1)),
        );
        let step = full.len().div_ceil(MAX_VERTICES).max(1);
        let mut line: Vec<(f64, f64)> = full.iter().copied().step_by(step).collect();
        if !(full.len() - 1).is_multiple_of(step) {
            line.push(*full.last().expect("non-empty"));
        }
        Some(Shaft {
            reach: Reach::of(&line),
            line,
            exit: exit.map(|e| to_base.apply(e[0] as f64, e[1] as f64)),
            dir: (th.cos(), th.sin()),
            c: (0.5 * (x0 + x1), 0.5 * (y0 + y1)),
            radius: 0.5 * (x1 - x0).hypot(y1 - y0),
            len,
            shared_c,
            moments: None,
        })
    }

    /// From label moments: the principal axis as a two-point centreline,
    /// no exit; `shared_c` the centroid of the part both frames show.
    pub fn from_geom(g: &Geom, kept: Option<Geom>) -> Shaft {
        let shared_c = kept.map(|k| k.c);
        let [e0, e1] = g.ends();
        let line = if g.half_len > 0.0 {
            vec![e0, e1]
        } else {
            vec![g.c]
        };
        Shaft {
            reach: Reach::of(&line),
            line,
            exit: None,
            dir: g.dir,
            c: g.c,
            radius: g.half_len,
            len: 2.0 * g.half_len,
            shared_c,
            moments: Some((*g, kept)),
        }
    }

    /// End points of the centreline.
    pub fn ends(&self) -> [(f64, f64); 2] {
        [self.line[0], *self.line.last().expect("non-empty")]
    }

    /// Whether the point `p` (baseline pixels) lies within `lateral_px` of
    /// the shaft: of its centreline extended along its end segments, or of
    /// the gap from its follicle exit to the nearer end of the centreline
    /// (the hair stage may start a centreline past the exit, under
    /// unit-mates; the hair lies there all the same).
    pub fn covers(&self, p: (f64, f64), lateral_px: f64) -> bool {
        if let Some(e) = self.exit {
            let [a, b] = self.ends();
            let d = |q: (f64, f64)| (q.0 - e.0).hypot(q.1 - e.1);
            let near = if d(a) <= d(b) { a } else { b };
            if d(near) > lateral_px {
                let (dl, over) = to_polyline(p, &[e, near]);
                if dl <= lateral_px && over <= lateral_px {
                    return true;
                }
            }
        }
        self.reach.lower_bound(p) <= lateral_px && to_polyline(p, &self.line).0 <= lateral_px
    }
}

/// Distance from `p` to a polyline extended beyond both ends along its end
/// segments: (perpendicular distance, how far beyond the nearer end `p`
/// projects, 0 when it projects onto the polyline).
fn to_polyline(p: (f64, f64), line: &[(f64, f64)]) -> (f64, f64) {
    if line.len() == 1 {
        return (0.0, (p.0 - line[0].0).hypot(p.1 - line[0].1));
    }
    // The first and last segments of non-zero length extend beyond the ends.
    let proper = |s: &[(f64, f64)]| s[0] != s[1];
    let first = line.windows(2).position(proper).unwrap_or(0);
    let last = line.windows(2).rposition(proper).unwrap_or(0);
    let mut best = (f64::INFINITY, 0.0);
    for (k, s) in line.windows(2).enumerate() {
        let (ax, ay) = s[0];
        let (dx, dy) = (s[1].0 - ax, s[1].1 - ay);
        let l2 = dx * dx + dy * dy;
        if l2 == 0.0 {
            continue;
        }
        let t = ((p.0 - ax) * dx + (p.1 - ay) * dy) / l2;
        // Only the end segments extend beyond their outer end.
        let lo = if k == first { f64::NEG_INFINITY } else { 0.0 };
        let hi = if k == last { f64::INFINITY } else { 1.0 };
        let tc = t.clamp(lo, hi);
        let (qx, qy) = (ax + tc * dx, ay + tc * dy);
        let d = (p.0 - qx).hypot(p.1 - qy);
        let l = l2.sqrt();
        let over = if tc < 0.0 {
            -tc * l
        } else if tc > 1.0 {
            (tc - 1.0) * l
        } else {
            0.0
        };
        if d < best.0 {
            best = (d, over);
        }
    }
    if !best.0.is_finite() {
        return (0.0, (p.0 - line[0].0).hypot(p.1 - line[0].1));
    }
    best
}

/// Cost of pairing two shafts (baseline pixels), or `None` outside the gate.
///
/// - Lateral: the shorter shaft's vertices lie on the longer one's centreline
///   (extended along its end directions): median distance ≤ `gate_px`.
///   Growth and cutting move a shaft's tip along its own line, never its
///   line; the shorter shaft reaches no further beyond the longer one's ends
///   than `growth_px`.
/// - Direction: principal axes within `gate_angle` (radians, modulo π),
///   unless one shaft is a stub (shorter than twice the gate) whose axis is
///   not reliable.
/// - Follicle exits, when both records have one: their distance (in gates,
///   at most 1) is added; when only one has an exit, its distance to the
///   other's line (at most ½).
pub(crate) fn shaft_cost(
    a: &Shaft,
    b: &Shaft,
    gate_px: f64,
    gate_angle: f64,
    growth_px: f64,
) -> Option<f64> {
    if let (Some((ga, ka)), Some((gb, kb))) = (&a.moments, &b.moments) {
        // Both from label moments: whole shafts, or the pieces both frames
        // show, whichever fits better.
        let whole = hair_cost(ga, gb, gate_px, gate_angle, growth_px);
        let piece = match (ka, kb) {
            (Some(x), Some(y)) => hair_cost(x, y, gate_px, gate_angle, growth_px),
            _ => None,
        };
        return match (whole, piece) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
    let (short, long) = if a.len <= b.len { (a, b) } else { (b, a) };
    let stub = short.len < 2.0 * gate_px;
    let ang = axis_angle(a.dir, b.dir);
    if !stub && ang > gate_angle {
        return None;
    }
    // Cheap rejection first: the median lateral distance of five vertices
    // spread along the shorter shaft.
    let n = short.line.len();
    if n >= 8 {
        // The same test on lower bounds of the distances, in O(1) each: the
        // median of the bounds does not exceed the median of the distances.
        let mut five =
            [0usize, n / 4, n / 2, 3 * n / 4, n - 1].map(|k| long.reach.lower_bound(short.line[k]));
        five.sort_by(f64::total_cmp);
        if five[2] > 2.0 * gate_px {
            return None;
        }
        let mut five = [0usize, n / 4, n / 2, 3 * n / 4, n - 1]
            .map(|k| to_polyline(short.line[k], &long.line).0);
        five.sort_by(f64::total_cmp);
        if five[2] > 2.0 * gate_px {
            return None;
        }
    }
    let mut lat: Vec<f64> = Vec::with_capacity(short.line.len());
    let mut reach = f64::INFINITY;
    for &p in &short.line {
        let (d, over) = to_polyline(p, &long.line);
        lat.push(d);
        reach = reach.min(over);
    }
    lat.sort_by(f64::total_cmp);
    let lateral = lat[lat.len() / 2];
    if lateral > gate_px || reach > growth_px + gate_px {
        return None;
    }
    let ang_cost = if stub {
        1.0
    } else if ang > gate_angle {
        return None;
    } else {
        ang / gate_angle
    };
    // Exits are evidence, not a gate: the hair stage's exit is best effort
    // (it may pick the tip at one visit), so a disagreement costs at most
    // one unit and never forbids a pair the centrelines support.
    let exit_cost = match (a.exit, b.exit) {
        (Some(x), Some(y)) => ((x.0 - y.0).hypot(x.1 - y.1) / gate_px).min(1.0),
        (Some(x), None) => {
            let (d, over) = to_polyline(x, &b.line);
            if d > gate_px || over > growth_px + gate_px {
                0.5
            } else {
                0.5 * d / gate_px
            }
        }
        (None, Some(y)) => {
            let (d, over) = to_polyline(y, &a.line);
            if d > gate_px || over > growth_px + gate_px {
                0.5
            } else {
                0.5 * d / gate_px
            }
        }
        (None, None) => 0.0,
    };
    Some(lateral / gate_px + ang_cost + exit_cost + 0.25 * reach / (growth_px + gate_px))
}

/// Angle between two axes given by unit directions (radians, modulo π).
fn axis_angle(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 * b.0 + a.1 * b.1).abs().min(1.0).acos()
}

/// Whether a shaft `r` left unmatched at one visit lies along a shaft `p` of
/// the other visit beside `p`'s partner `m` (a record of `r`'s visit): the
/// pieces of one hair recorded as two (split), or two hairs end to end that
/// the other visit recorded as one (merged). Returns the median lateral
/// distance of `r` from `p` in gates, and whether `r` was taken only for
/// lying on `m`'s shaft (the last rule: the caller must see it at the
/// other visit too), or `None`.
///
/// - `r` lies on `p`'s line (median lateral distance ≤ `gate_px`, axes
///   within `gate_angle` unless `r` is a stub) and within its extent (at
///   least half of `r`'s vertices project onto `p`, within a gate of its
///   ends);
/// - `r` and `m` have no common follicle exit (within a gate), when both
///   records have one;
/// - `r` covers a part of `p` that `m` does not: along `p`'s axis the two
///   overlap by at most a gate or a quarter of `r`'s own extent. A second
///   hair of the same follicle (a unit-mate, lost or gained, beside one
///   that stays) starts where `m` starts and overlaps it: not joined;
/// - or `r` lies on `m`'s shaft: the median distance of `r`'s vertices
///   from `m`'s centreline at most half their summed diameters `w` (`r`,
///   `m`; baseline pixels; unknown: not taken). A hair traced twice side
///   by side, or a neighbour touching it that the other visit recorded
///   with it as the one shaft `p` — or a hair lost or gained beside `m`,
///   which only the images tell apart (session 28: joining all of these
///   took null pairs' false calls 57 → 35 and three true losses of the
///   dense oracle pair).
pub(crate) fn beside(
    r: &Shaft,
    m: &Shaft,
    p: &Shaft,
    w: (f64, f64),
    gate_px: f64,
    gate_angle: f64,
) -> Option<(f64, bool)> {
    // Two records whose follicle exits coincide are two hairs of one unit.
    if let (Some(x), Some(y)) = (r.exit, m.exit) {
        if (x.0 - y.0).hypot(x.1 - y.1) <= gate_px {
            return None;
        }
    }
    if r.len >= 2.0 * gate_px && axis_angle(r.dir, p.dir) > gate_angle {
        return None;
    }
    if r.reach.bbox[0] > p.reach.bbox[2] + gate_px
        || r.reach.bbox[2] < p.reach.bbox[0] - gate_px
        || r.reach.bbox[1] > p.reach.bbox[3] + gate_px
        || r.reach.bbox[3] < p.reach.bbox[1] - gate_px
    {
        return None;
    }
    let mut lat = Vec::with_capacity(r.line.len());
    let mut under = 0usize;
    for &q in &r.line {
        let (d, over) = to_polyline(q, &p.line);
        lat.push(d);
        if over <= gate_px {
            under += 1;
        }
    }
    lat.sort_by(f64::total_cmp);
    let lateral = lat[lat.len() / 2];
    if lateral > gate_px || 2 * under < r.line.len() {
        return None;
    }
    let span = |s: &Shaft| {
        s.line
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |a, q| {
                let t = (q.0 - p.c.0) * p.dir.0 + (q.1 - p.c.1) * p.dir.1;
                (a.0.min(t), a.1.max(t))
            })
    };
    let ((r0, r1), (m0, m1)) = (span(r), span(m));
    let overlap = (r1.min(m1) - r0.max(m0)).max(0.0);
    // Half instead of a quarter joins one more right record on the
    // end-to-end pair (seed 61) and three true losses on the dense oracle
    // pair of tests/compare.rs.
    if overlap <= gate_px.max(0.25 * (r1 - r0)) {
        return Some((lateral / gate_px, false));
    }
    let touch = 0.5 * (w.0 + w.1);
    if !touch.is_finite() {
        return None;
    }
    (median_offset(r, m) <= touch).then_some((lateral / gate_px, true))
}

/// Median distance of `r`'s vertices from `m`'s centreline (extended
/// along its ends).
pub(crate) fn median_offset(r: &Shaft, m: &Shaft) -> f64 {
    let mut d: Vec<f64> = r.line.iter().map(|&q| to_polyline(q, &m.line).0).collect();
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
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

#[cfg(test)]
mod shaft_tests {
    use super::*;

    fn line(a: (f64, f64), b: (f64, f64), n: usize) -> Vec<[f32; 2]> {
        (0..=n)
            .map(|k| {
                let f = k as f64 / n as f64;
                [
                    (a.0 + f * (b.0 - a.0)) as f32,
                    (a.1 + f * (b.1 - a.1)) as f32,
                ]
            })
            .collect()
    }

    #[test]
    fn a_shaft_cut_by_a_frame_matches_its_whole() {
        let all = |_: (f64, f64)| true;
        let id = Similarity::IDENTITY;
        let a =
            Shaft::from_record(&line((5.1, 255.8), (136.5, 282.5), 134), None, &id, all).unwrap();
        let b =
            Shaft::from_record(&line((101.6, 273.4), (136.5, 282.5), 36), None, &id, all).unwrap();
        let c = shaft_cost(&a, &b, 10.0, 20f64.to_radians(), 100.0);
        assert!(c.unwrap() < 0.3, "{c:?}");
        // The same shaft with its follicle exit, against a piece of it whose
        // first vertices repeat (clamped at a frame edge): the exit lies on
        // the piece's line extended.
        let a = Shaft::from_record(
            &line((5.0, 255.0), (136.0, 282.0), 134),
            Some([5.0, 255.0]),
            &id,
            all,
        )
        .unwrap();
        let mut piece = line((101.0, 275.2), (136.0, 282.0), 36);
        piece.insert(0, piece[0]);
        piece.insert(0, piece[0]);
        let b = Shaft::from_record(&piece, None, &id, all).unwrap();
        let c = shaft_cost(&a, &b, 10.0, 20f64.to_radians(), 100.0);
        assert!(c.is_some_and(|c| c < 0.3), "{c:?}");
        // A crossing shaft is not a match.
        let x =
            Shaft::from_record(&line((60.0, 200.0), (90.0, 330.0), 130), None, &id, all).unwrap();
        assert_eq!(shaft_cost(&a, &x, 10.0, 20f64.to_radians(), 100.0), None);
        // A parallel shaft 15 px away is not either.
        let p =
            Shaft::from_record(&line((5.0, 270.0), (136.0, 297.0), 134), None, &id, all).unwrap();
        assert_eq!(shaft_cost(&a, &p, 10.0, 20f64.to_radians(), 100.0), None);
    }
}

#[cfg(test)]
mod beside_tests {
    use super::*;

    fn shaft(a: (f64, f64), b: (f64, f64), exit: Option<(f64, f64)>) -> Shaft {
        let n = 40;
        let line: Vec<[f32; 2]> = (0..=n)
            .map(|k| {
                let f = k as f64 / n as f64;
                [
                    (a.0 + f * (b.0 - a.0)) as f32,
                    (a.1 + f * (b.1 - a.1)) as f32,
                ]
            })
            .collect();
        Shaft::from_record(
            &line,
            exit.map(|e| [e.0 as f32, e.1 as f32]),
            &Similarity::IDENTITY,
            |_| true,
        )
        .unwrap()
    }

    #[test]
    fn pieces_of_one_hair_are_joined_and_unit_mates_are_not() {
        let (gate, ang) = (10.0, 20f64.to_radians());
        // The other visit's shaft from x 0 to 200; its partner covers 0–110.
        let p = shaft((0.0, 100.0), (200.0, 100.0), Some((0.0, 100.0)));
        let m = shaft((0.0, 101.0), (110.0, 101.0), Some((0.0, 101.0)));
        // The rest of the line (120–195), 2 px off: a piece of the same
        // hair, or a second hair the other visit merged into its record.
        let r = shaft((120.0, 102.0), (195.0, 102.0), None);
        let c = beside(&r, &m, &p, (f64::NAN, f64::NAN), gate, ang);
        assert!(c.is_some_and(|c| c.0 < 0.3 && !c.1), "{c:?}");
        // With an exit of its own at its start: still joined.
        let r2 = shaft((120.0, 102.0), (195.0, 102.0), Some((120.0, 102.0)));
        assert!(beside(&r2, &m, &p, (f64::NAN, f64::NAN), gate, ang).is_some());
        // A second hair of the follicle (the same exit), seen from where
        // it leaves its unit-mate: not joined.
        let mate = shaft((120.0, 103.0), (195.0, 103.0), Some((1.0, 100.0)));
        assert_eq!(beside(&mate, &m, &p, (f64::NAN, f64::NAN), gate, ang), None);
        // A unit-mate along the partner (overlapping it): not joined.
        let over = shaft((5.0, 104.0), (150.0, 106.0), None);
        assert_eq!(beside(&over, &m, &p, (f64::NAN, f64::NAN), gate, ang), None);
        // Beyond the other visit's shaft, or beside it: not joined.
        let far = shaft((260.0, 100.0), (330.0, 100.0), None);
        assert_eq!(beside(&far, &m, &p, (f64::NAN, f64::NAN), gate, ang), None);
        let par = shaft((120.0, 125.0), (195.0, 125.0), None);
        assert_eq!(beside(&par, &m, &p, (f64::NAN, f64::NAN), gate, ang), None);
        // Crossing it: not joined.
        let x = shaft((150.0, 60.0), (170.0, 140.0), None);
        assert_eq!(beside(&x, &m, &p, (f64::NAN, f64::NAN), gate, ang), None);
        // Along the partner, on its shaft: its hair 14 px wide traced a
        // second time 4 px off its axis (widths 6 and 14 px), or a hair
        // touching it (6.5 px off, widths 4 and 10): taken, for the images
        // to tell. A hair clear of it (8.5 px off, widths 4 and 10), or of
        // unknown width: not taken.
        let second = shaft((20.0, 105.0), (100.0, 105.0), None);
        assert_eq!(
            beside(&second, &m, &p, (6.0, 14.0), gate, ang).map(|c| c.1),
            Some(true)
        );
        let touching = shaft((20.0, 107.5), (100.0, 107.5), None);
        assert_eq!(
            beside(&touching, &m, &p, (4.0, 10.0), gate, ang).map(|c| c.1),
            Some(true)
        );
        let clear = shaft((20.0, 109.5), (100.0, 109.5), None);
        assert_eq!(beside(&clear, &m, &p, (4.0, 10.0), gate, ang), None);
        assert_eq!(beside(&second, &m, &p, (f64::NAN, 14.0), gate, ang), None);
        // A second hair of the follicle on it: not taken either.
        let mate_on = shaft((1.0, 104.0), (100.0, 105.0), Some((1.0, 101.0)));
        assert_eq!(beside(&mate_on, &m, &p, (6.0, 14.0), gate, ang), None);
    }
}

#[cfg(test)]
mod reach_tests {
    use super::*;

    #[test]
    fn lower_bound_never_exceeds_the_distance() {
        let mut rng = crate::synth::Rng::new(9);
        for _ in 0..2000 {
            let n = 1 + rng.below(6) as usize;
            let mut line: Vec<(f64, f64)> = (0..n)
                .map(|_| (rng.range(0.0, 100.0), rng.range(0.0, 100.0)))
                .collect();
            if n > 2 && rng.uniform() < 0.3 {
                line[1] = line[0];
            }
            let r = Reach::of(&line);
            for _ in 0..20 {
                let p = (rng.range(-200.0, 300.0), rng.range(-200.0, 300.0));
                let (d, _) = to_polyline(p, &line);
                assert!(r.lower_bound(p) <= d, "{p:?} {line:?}");
            }
        }
        // Far from a short horizontal segment, off its line: a real bound.
        let r = Reach::of(&[(0.0, 0.0), (10.0, 0.0)]);
        assert!(r.lower_bound((5.0, 50.0)) > 49.9);
    }
}

#[cfg(test)]
mod assign_tests {
    use super::*;

    /// Exhaustive optimum over all partial matchings (tiny sizes).
    fn brute(c: &[Vec<Option<f64>>], unmatched: f64) -> f64 {
        fn go(i: usize, c: &[Vec<Option<f64>>], used: &mut Vec<bool>, u: f64) -> f64 {
            if i == c.len() {
                return u * used.iter().filter(|&&x| !x).count() as f64;
            }
            let mut best = u + go(i + 1, c, used, u);
            for j in 0..used.len() {
                if let (false, Some(v)) = (used[j], c[i][j]) {
                    used[j] = true;
                    best = best.min(v + go(i + 1, c, used, u));
                    used[j] = false;
                }
            }
            best
        }
        go(0, c, &mut vec![false; c[0].len()], unmatched)
    }

    #[test]
    fn assignment_is_optimal_on_random_graphs() {
        let mut rng = crate::synth::Rng::new(5);
        for _ in 0..300 {
            let (na, nb) = (1 + rng.below(5) as usize, 1 + rng.below(5) as usize);
            let mut c = vec![vec![None; nb]; na];
            let mut cands = Vec::new();
            for (i, row) in c.iter_mut().enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    if rng.uniform() < 0.6 {
                        let x = rng.range(0.0, 6.0);
                        *v = Some(x);
                        cands.push((i, j, x));
                    }
                }
            }
            let m = assign(cands, na, nb, 2.5);
            let got: f64 =
                m.iter().map(|x| x.2).sum::<f64>() + 2.5 * ((na - m.len()) + (nb - m.len())) as f64;
            let want = brute(&c, 2.5);
            assert!((got - want).abs() < 1e-9, "{got} vs {want}: {c:?} → {m:?}");
        }
    }
}
