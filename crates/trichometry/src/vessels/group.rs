//! Pieces of one vessel across candidate windows: the fine level groups
//! pieces inside one coarse candidate only (`merge_gap_um`), so a thin
//! tube whose contrast dips (a twisted loop at 5 µm/px, the far limb of a
//! faint loop) becomes two or more candidates and as many capillaries.
//! Here the pieces of the whole image whose cells come within `join_gap_um`
//! of each other are one vessel, and its shape is measured with the pieces
//! joined along their shortest gaps. A hair lying across a vessel cuts it
//! in two the same way: pieces whose shortest gap (up to
//! `join_across_hair_um` long) is hair or glare but for `join_gap_um` plus
//! the hair margins are one vessel too.

use super::refine::Found;
use rayon::prelude::*;

/// A fine cell (x, y).
type Cell = (usize, usize);

/// `found` with the pieces closer than `gap_cells` (edge to edge, fine
/// cells) joined; in the order of each group's first piece, so the result
/// does not depend on threads. A joined vessel's cells (what its shape is
/// measured on) are its pieces' plus one-cell bridges along the shortest
/// gaps between them; its input pixels are its pieces' only. Pieces not
/// joined are returned as they came.
/// `hidden_cells` (≥ `gap_cells`) is the longest gap tried across hair or
/// glare, and `across(p, q)` says whether the segment between the centres
/// of cells `p` and `q` is covered (hair, glare) but for an allowed gap;
/// such a gap is joined only where at least one of the pieces ends in a
/// tube pointing across it at the other's end (`faces`, over `end_cells`
/// around each end), as a vessel that passes under the hair does: two
/// vessels that merely touch the hair on either side are not one. One
/// side is enough because the other end is often not a clean tube (a
/// branch of an arborizing vessel near the cut, a short stub): requiring
/// both left the unseen-seed count error (seeds 100–115) at 9.6 / 9.5 /
/// 11.0 % at 1.5 / 3.5 / 5 µm/px, one side gives 9.6 / 8.4 / 8.4 %.
/// Pieces up to `ridge_cells` apart are joined too where `ridge(p, q)`, the
/// dimmest redness contrast along the mostly visible gap, reaches
/// `ridge_fraction` of the redder piece's peak: one vessel whose contrast
/// dips (an arborizing trunk under a faint hair the hair stage left); the
/// skin between two vessels stays within a few hundredths of the
/// background (unseen seeds 100–115: 0.02 at most, against 0.13–0.28 on
/// the dips of one vessel).
#[allow(clippy::too_many_arguments)]
pub(crate) fn join_pieces(
    found: Vec<Found>,
    gap_cells: f64,
    hidden_cells: f64,
    end_cells: f64,
    across: impl Fn((usize, usize), (usize, usize)) -> bool + Sync,
    ridge_cells: f64,
    ridge_fraction: f64,
    ridge: impl Fn((usize, usize), (usize, usize)) -> f64 + Sync,
) -> Vec<Found> {
    let n = found.len();
    if n < 2 || gap_cells.max(hidden_cells).max(ridge_cells) <= 0.0 {
        return found;
    }
    // Centre-to-centre distance of two cells with `gap_cells` between their
    // edges.
    let reach = gap_cells + 1.0;
    let reach_h = hidden_cells.max(gap_cells) + 1.0;
    let reach_r = ridge_cells + 1.0;
    let g = search_cells(reach_h.max(reach_r));
    let bbox: Vec<(usize, usize, usize, usize)> =
        found.par_iter().map(|f| cell_box(&f.cells)).collect();
    // The closest cells of two pieces are on their boundaries. Each piece's
    // end window: `end_cells`, or `END_WIDTHS` of its tube widths when
    // wider. Both formed once, when first asked for (lazily: most pieces
    // have no other within reach of their box).
    let edge: Vec<std::sync::OnceLock<Vec<Cell>>> =
        (0..n).map(|_| std::sync::OnceLock::new()).collect();
    let edge_of = |i: usize| edge[i].get_or_init(|| boundary(&found[i].cells, bbox[i]));
    let end: Vec<std::sync::OnceLock<f64>> = (0..n).map(|_| std::sync::OnceLock::new()).collect();
    let end_r = |i: usize| *end[i].get_or_init(|| end_window(&found[i].cells, bbox[i], end_cells));
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    // Bridges: the closest cell pair of each joined pair of pieces.
    let mut bridges: Vec<(usize, Cell, Cell)> = Vec::new();
    // Pieces sorted by their left edge: a pair is tried only while the
    // boxes can come within reach in x.
    let mut order: Vec<usize> = (0..n).filter(|&i| !found[i].cells.is_empty()).collect();
    order.sort_by_key(|&i| (bbox[i].0, i));
    // The pairs that join (each test depends on the two pieces only: in
    // parallel), then the unions in the order of the sweep, as one loop
    // over the pairs would make them.
    let joins: Vec<Vec<(usize, Cell, Cell)>> = order
        .par_iter()
        .enumerate()
        .map(|(k, &a)| {
            let ba = bbox[a];
            let mut out = Vec::new();
            for &b in &order[k + 1..] {
                let bb = bbox[b];
                if bb.0 > ba.2 + g {
                    break;
                }
                if bb.1 > ba.3 + g || ba.1 > bb.3 + g || ba.0 > bb.2 + g {
                    continue;
                }
                if let Some((d2, p, q)) = closest(edge_of(a), ba, edge_of(b), bb, g) {
                    let d2 = d2 as f64;
                    if d2 <= reach * reach
                        || (ridge_cells > 0.0
                            && d2 <= reach_r * reach_r
                            && ridge(p, q) >= ridge_fraction * found[a].peak.max(found[b].peak))
                        || (d2 <= reach_h * reach_h
                            && (faces(&found[a].cells, p, &found[b].cells, q, end_r(a))
                                || faces(&found[b].cells, q, &found[a].cells, p, end_r(b)))
                            && across(p, q))
                    {
                        out.push((b, p, q));
                    }
                }
            }
            out
        })
        .collect();
    for (&a, js) in order.iter().zip(&joins) {
        for &(b, p, q) in js {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            if ra != rb {
                let (lo, hi) = (ra.min(rb), ra.max(rb));
                parent[hi] = lo;
                bridges.push((a, p, q));
            }
        }
    }
    if bridges.is_empty() {
        return found;
    }
    let roots: Vec<usize> = (0..n).map(|i| root(&mut parent, i)).collect();
    merge(found, &roots, bridges)
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

/// How far around a piece's box (cells) to look for a partner within
/// `reach` cells. A gap parameter need only be finite, so a huge one is cut
/// to far more than any image has cells across (no overflow when added to a
/// cell coordinate).
fn search_cells(reach: f64) -> usize {
    reach.ceil().min((1u64 << 24) as f64) as usize
}

/// The closest pair of cells (squared distance, cell of `a`, cell of `b`)
/// of two pieces with boxes `ba`, `bb`, among the cells within `g` of the
/// other's box; the first in the pieces' cell order on ties.
fn closest(
    a: &[Cell],
    ba: (usize, usize, usize, usize),
    b: &[Cell],
    bb: (usize, usize, usize, usize),
    g: usize,
) -> Option<(usize, Cell, Cell)> {
    let near = |c: &Cell, o: (usize, usize, usize, usize)| {
        c.0 + g >= o.0 && c.0 <= o.2 + g && c.1 + g >= o.1 && c.1 <= o.3 + g
    };
    let cb: Vec<Cell> = b.iter().copied().filter(|c| near(c, ba)).collect();
    // Cells in raster order (as pieces hold them): once a pair is found,
    // only the rows of `b` within its distance of a cell of `a` can hold a
    // strictly closer one (exact: a cell skipped is at least as far in y
    // alone, and a pair replaces the best only when strictly closer).
    let sorted = cb.windows(2).all(|s| s[0].1 <= s[1].1);
    let mut best: Option<(usize, Cell, Cell)> = None;
    for &p in a.iter().filter(|c| near(c, bb)) {
        let start = match best {
            Some((bd, _, _)) if sorted => {
                let r = bd.isqrt();
                cb.partition_point(|q| q.1 + r < p.1)
            }
            _ => 0,
        };
        for &q in &cb[start..] {
            let dx = p.0.abs_diff(q.0);
            let dy = p.1.abs_diff(q.1);
            if sorted && q.1 > p.1 && best.is_some_and(|(bd, _, _)| dy * dy >= bd) {
                break;
            }
            let d2 = dx * dx + dy * dy;
            if best.is_none_or(|(bd, _, _)| d2 < bd) {
                best = Some((d2, p, q));
            }
        }
    }
    best
}

#[cfg(test)]
/// [`closest`] by every pair (the reference it is tested against).
fn closest_every_pair(
    a: &[Cell],
    ba: (usize, usize, usize, usize),
    b: &[Cell],
    bb: (usize, usize, usize, usize),
    g: usize,
) -> Option<(usize, Cell, Cell)> {
    let near = |c: &Cell, o: (usize, usize, usize, usize)| {
        c.0 + g >= o.0 && c.0 <= o.2 + g && c.1 + g >= o.1 && c.1 <= o.3 + g
    };
    let cb: Vec<Cell> = b.iter().copied().filter(|c| near(c, ba)).collect();
    let mut best: Option<(usize, Cell, Cell)> = None;
    for &p in a.iter().filter(|c| near(c, bb)) {
        for &q in &cb {
            let dx = p.0.abs_diff(q.0);
            let dy = p.1.abs_diff(q.1);
            let d2 = dx * dx + dy * dy;
            if best.is_none_or(|(bd, _, _)| d2 < bd) {
                best = Some((d2, p, q));
            }
        }
    }
    best
}

/// The cells of a piece (box `b`) with a 4-neighbour outside it, in the
/// piece's order.
fn boundary(cells: &[Cell], b: (usize, usize, usize, usize)) -> Vec<Cell> {
    if cells.is_empty() {
        return Vec::new();
    }
    PieceMask::new(cells, b, &mut Vec::new()).boundary(cells)
}

/// A piece's cells as a mask of its box `b` grown by one cell (in a
/// caller's buffer): what [`boundary`] and [`end_window`] read.
struct PieceMask<'a> {
    m: &'a [bool],
    w: usize,
    b: (usize, usize, usize, usize),
}

impl<'a> PieceMask<'a> {
    /// The mask of `cells` (not empty) in box `b`, formed in `buf` (its
    /// contents do not matter).
    fn new(cells: &[Cell], b: (usize, usize, usize, usize), buf: &'a mut Vec<bool>) -> Self {
        let (w, h) = (b.2 - b.0 + 3, b.3 - b.1 + 3);
        buf.clear();
        buf.resize(w * h, false);
        for &(x, y) in cells {
            buf[(y - b.1 + 1) * w + (x - b.0 + 1)] = true;
        }
        PieceMask { m: buf, w, b }
    }

    /// Index of cell (x, y) in the mask.
    fn at(&self, (x, y): Cell) -> usize {
        (y - self.b.1 + 1) * self.w + (x - self.b.0 + 1)
    }

    /// Whether the cell at index `i` has a 4-neighbour outside the piece
    /// (all four read, no branch: a piece's boundary cells come in no
    /// order a branch predictor learns).
    #[inline(always)]
    fn side(&self, i: usize) -> bool {
        let (m, w) = (self.m, self.w);
        !(m[i - 1] & m[i + 1] & m[i - w] & m[i + w])
    }

    /// [`boundary`] of the piece's `cells`.
    fn boundary(&self, cells: &[Cell]) -> Vec<Cell> {
        cells
            .iter()
            .copied()
            .filter(|&c| self.side(self.at(c)))
            .collect()
    }

    /// [`end_window`] of the piece's `cells`.
    fn end_window(&self, cells: &[Cell], floor_cells: f64) -> f64 {
        let (m, w) = (self.m, self.w);
        let (mut n4, mut n8) = (0usize, 0usize);
        for &c in cells {
            let i = self.at(c);
            let side = self.side(i);
            n4 += side as usize;
            n8 += (side | !(m[i - w - 1] & m[i - w + 1] & m[i + w - 1] & m[i + w + 1])) as usize;
        }
        let (a, p) = (cells.len() as f64, (n4 + n8) as f64 / 2.0 + 4.0);
        let tube = p / 4.0 - (p * p / 16.0 - a).max(0.0).sqrt();
        floor_cells.max(END_WIDTHS * tube)
    }
}

/// Box (x0, y0, x1, y1) of a piece's cells.
fn cell_box(cells: &[Cell]) -> (usize, usize, usize, usize) {
    cells.iter().fold(
        (usize::MAX, usize::MAX, 0, 0),
        |(x0, y0, x1, y1), &(x, y)| (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
    )
}

/// The pieces of `found` gathered by `roots` (each piece's group is the
/// index of its smallest member) into their root, with the `bridges`
/// (piece, its cell, the other piece's cell) drawn as cells between; in
/// the order of the roots. Each record says whether it took in pieces.
fn merge(
    found: Vec<Found>,
    roots: &[usize],
    bridges: Vec<(usize, Cell, Cell)>,
) -> Vec<(Found, bool)> {
    let n = found.len();
    let mut slots: Vec<Option<Found>> = found.into_iter().map(Some).collect();
    // Every root is its group's smallest index (the larger root always
    // points to the smaller): groups come out in order of first piece.
    for i in 0..n {
        if roots[i] == i {
            continue;
        }
        let Some(piece) = slots[i].take() else {
            continue;
        };
        let Some(into) = slots[roots[i]].as_mut() else {
            continue;
        };
        into.pix0.extend(piece.pix0);
        into.core_px += piece.core_px;
        into.cells.extend(piece.cells);
        into.sum_xy.0 += piece.sum_xy.0;
        into.sum_xy.1 += piece.sum_xy.1;
        for (s, v) in into.rgb_in.0.iter_mut().zip(piece.rgb_in.0) {
            *s += v;
        }
        into.rgb_in.1 += piece.rgb_in.1;
        into.peak = into.peak.max(piece.peak);
    }
    for (a, p, q) in bridges {
        if let Some(into) = slots[roots[a]].as_mut() {
            into.cells.extend(line_cells(p, q));
        }
    }
    let mut joined = vec![false; n];
    for i in 0..n {
        joined[roots[i]] |= roots[i] != i;
    }
    // Sorted in parallel (each record on its own), collected in order.
    slots
        .into_par_iter()
        .zip(joined)
        .filter_map(|(f, j)| f.map(|f| (f, j)))
        .map(|(mut f, j)| {
            if j {
                f.pix0.sort_unstable();
                f.cells.sort_unstable_by_key(|&(x, y)| (y, x));
                f.cells.dedup();
            }
            (f, j)
        })
        .collect()
}

/// Branches of an arborizing vessel: its thinner, fainter branches fall
/// below half of the trunk's peak contrast where they leave it, so the
/// fine level cuts them off as pieces of their own (each then a "loop").
/// A piece that is not arborizing (`arbor[i]` false) whose cells come
/// within `gap_cells` (edge to edge) of an arborizing piece, and whose
/// end there is a tube pointing at the arborizing piece (`faces`, over
/// `end_cells`), or that the arborizing piece's end points at, and whose
/// peak contrast is at least half the arborizing piece's, is taken into
/// the nearest such arborizing piece. Returns the records in order (an
/// arborizing piece at its place, the pieces taken in removed), each
/// with the index it had in `found` when unchanged (its shape still
/// holds) or `None` when it took in branches.
pub(crate) fn absorb_branches(
    found: Vec<Found>,
    arbor: &[bool],
    gap_cells: f64,
    end_cells: f64,
) -> Vec<(Found, Option<usize>)> {
    let n = found.len();
    let unchanged = |found: Vec<Found>| {
        found
            .into_iter()
            .enumerate()
            .map(|(i, f)| (f, Some(i)))
            .collect()
    };
    if gap_cells <= 0.0 || !arbor.iter().any(|&a| a) || arbor.iter().all(|&a| a) {
        return unchanged(found);
    }
    let reach = gap_cells + 1.0;
    let g = search_cells(reach);
    let bbox: Vec<_> = found.par_iter().map(|f| cell_box(&f.cells)).collect();
    let arbs: Vec<usize> = (0..n)
        .filter(|&a| arbor[a] && !found[a].cells.is_empty())
        .collect();
    // Boundaries, each formed once (lazily: most pieces are near no
    // arborizing piece).
    let edge: Vec<std::sync::OnceLock<Vec<Cell>>> =
        (0..n).map(|_| std::sync::OnceLock::new()).collect();
    let edge_of = |i: usize| edge[i].get_or_init(|| boundary(&found[i].cells, bbox[i]));
    let end: Vec<std::sync::OnceLock<f64>> = (0..n).map(|_| std::sync::OnceLock::new()).collect();
    let end_r = |i: usize| *end[i].get_or_init(|| end_window(&found[i].cells, bbox[i], end_cells));
    // For each non-arborizing piece, its nearest qualifying arborizing one
    // (pieces in parallel: each depends on its own candidates only).
    let into: Vec<Option<(usize, usize, Cell, Cell)>> = (0..n)
        .into_par_iter()
        .map(|b| {
            if arbor[b] || found[b].cells.is_empty() {
                return None;
            }
            let bb = bbox[b];
            let mut best: Option<(usize, usize, Cell, Cell)> = None;
            for &a in &arbs {
                let ba = bbox[a];
                if bb.0 > ba.2 + g || ba.0 > bb.2 + g || bb.1 > ba.3 + g || ba.1 > bb.3 + g {
                    continue;
                }
                let Some((d2, q, p)) = closest(edge_of(b), bb, edge_of(a), ba, g) else {
                    continue;
                };
                if (d2 as f64) > reach * reach
                    || found[b].peak < 0.5 * found[a].peak
                    || !(faces(&found[b].cells, q, &found[a].cells, p, end_r(b))
                        || faces(&found[a].cells, p, &found[b].cells, q, end_r(a)))
                {
                    continue;
                }
                if best.is_none_or(|(bd, ..)| d2 < bd) {
                    best = Some((d2, a, p, q));
                }
            }
            best
        })
        .collect();
    if into.iter().all(|x| x.is_none()) {
        return unchanged(found);
    }
    // Groups rooted at the smallest index of the arborizing piece and its
    // branches.
    let mut roots: Vec<usize> = (0..n).collect();
    let mut bridges = Vec::new();
    for (b, t) in into.iter().enumerate() {
        if let Some((_, a, p, q)) = *t {
            bridges.push((a, p, q));
            roots[b] = a;
        }
    }
    for (b, t) in into.iter().enumerate() {
        if let Some((_, a, ..)) = *t {
            roots[a] = roots[a].min(b);
        }
    }
    for (b, t) in into.iter().enumerate() {
        if let Some((_, a, ..)) = *t {
            roots[b] = roots[a];
        }
    }
    let kept: Vec<usize> = (0..n).filter(|&i| roots[i] == i).collect();
    merge(found, &roots, bridges)
        .into_iter()
        .zip(kept)
        .map(|((f, j), i)| (f, (!j).then_some(i)))
        .collect()
}

/// The radius (cells) over which [`faces`] takes the direction of the
/// end of a piece (`cells`, in box `b`): `floor_cells`, or `END_WIDTHS`
/// tube widths when wider, so that the end of a wide trunk is still a tube
/// longer than it is wide. The tube width is the narrower side of the
/// rectangle of the piece's area A and perimeter P: P/4 − √(P²/16 − A)
/// (a compact piece: P/4). P is the mean of the counts of cells with a
/// 4-neighbour and with an 8-neighbour outside (1 and 1.06 per unit of
/// edge along an axis and a diagonal). A hairpin loop's width is its
/// limbs', not the loop's: its inner edge is perimeter too.
fn end_window(cells: &[Cell], b: (usize, usize, usize, usize), floor_cells: f64) -> f64 {
    if cells.is_empty() {
        return floor_cells;
    }
    PieceMask::new(cells, b, &mut Vec::new()).end_window(cells, floor_cells)
}

/// Tube widths over which [`faces`] takes the direction of a wide end (see
/// [`end_window`]).
const END_WIDTHS: f64 = 2.0;

/// Centroid of the cells within `r` of `p`, and their number.
fn end_centroid(cells: &[Cell], p: Cell, r: f64) -> (f64, f64, usize) {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
    for &(x, y) in cells {
        let (dx, dy) = (x as f64 - p.0 as f64, y as f64 - p.1 as f64);
        if dx * dx + dy * dy <= r * r {
            sx += x as f64;
            sy += y as f64;
            n += 1;
        }
    }
    let k = n.max(1) as f64;
    (sx / k, sy / k, n)
}

/// Whether the cells of piece `a` within `r` cells of its end `p` form a
/// tube (elongation ≥ 1.3) whose axis points (within 35°) at the end of
/// piece `b` near `q`: along the line between the centroids of the two
/// ends, so that a wide tube cut obliquely (whose closest cells are
/// corners of the cut) still faces its other part.
fn faces(a: &[Cell], p: Cell, b: &[Cell], q: Cell, r: f64) -> bool {
    let (mx, my, n) = end_centroid(a, p, r);
    let (tx, ty, nb) = end_centroid(b, q, r);
    if n < 3 || nb == 0 {
        return false;
    }
    let n = n as f64;
    let (mut sxx, mut syy, mut sxy) = (1.0 / 12.0, 1.0 / 12.0, 0.0);
    for &(x, y) in a {
        let (dx, dy) = (x as f64 - p.0 as f64, y as f64 - p.1 as f64);
        if dx * dx + dy * dy <= r * r {
            let (ex, ey) = (x as f64 - mx, y as f64 - my);
            sxx += ex * ex / n;
            syy += ey * ey / n;
            sxy += ex * ey / n;
        }
    }
    let tr = (sxx + syy) / 2.0;
    let disc = (((sxx - syy) / 2.0).powi(2) + sxy * sxy).sqrt();
    let (l1, l2) = (tr + disc, (tr - disc).max(1e-9));
    if l1 / l2 < 1.3 * 1.3 {
        return false;
    }
    let th = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let (bx, by) = (tx - mx, ty - my);
    let bl = bx.hypot(by).max(1e-9);
    (th.cos() * bx + th.sin() * by).abs() / bl >= 35f64.to_radians().cos()
}

/// The cells strictly between `p` and `q` on the digital line (8-connected
/// with the ends).
fn line_cells(p: (usize, usize), q: (usize, usize)) -> Vec<(usize, usize)> {
    let (dx, dy) = (q.0 as f64 - p.0 as f64, q.1 as f64 - p.1 as f64);
    let n = dx.abs().max(dy.abs()) as usize;
    (1..n)
        .map(|k| {
            let t = k as f64 / n as f64;
            (
                (p.0 as f64 + t * dx).round() as usize,
                (p.1 as f64 + t * dy).round() as usize,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(cells: Vec<Cell>, peak: f64) -> Found {
        Found {
            candidate: 1,
            pix0: (0..cells.len() as u32).collect(),
            core_px: cells.len(),
            cells,
            sum_xy: (0.0, 0.0),
            rgb_in: ([0.0; 3], 0),
            peak,
        }
    }

    fn rect(x0: usize, x1: usize, y0: usize, y1: usize) -> Vec<Cell> {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .collect()
    }

    #[test]
    fn closest_pair_equals_every_pair() {
        let mut rnd = super::super::tests::xorshift32(77);
        for case in 0..400 {
            // Random blobs in raster order (or, every fifth, shuffled).
            let blob = |rnd: &mut dyn FnMut() -> u32| -> Vec<Cell> {
                let (ox, oy) = (20 + rnd() as usize % 40, 20 + rnd() as usize % 40);
                let (w, h) = (1 + rnd() as usize % 30, 1 + rnd() as usize % 30);
                let d = 1 + rnd() % 100;
                let mut c: Vec<Cell> = Vec::new();
                for y in 0..h {
                    for x in 0..w {
                        if rnd() % 100 < d {
                            c.push((ox + x, oy + y));
                        }
                    }
                }
                if case % 5 == 0 && c.len() > 1 {
                    let k = rnd() as usize % c.len();
                    c.swap(0, k);
                }
                c
            };
            let (a, b) = (blob(&mut rnd), blob(&mut rnd));
            if a.is_empty() || b.is_empty() {
                continue;
            }
            let g = rnd() as usize % 20;
            let (ba, bb) = (cell_box(&a), cell_box(&b));
            assert_eq!(
                closest(&a, ba, &b, bb, g),
                closest_every_pair(&a, ba, &b, bb, g),
                "case {case}"
            );
        }
    }

    #[test]
    fn end_window_is_two_tube_widths_with_a_floor() {
        // A 12-cell wide tube, straight or diagonal: about 24 cells.
        let straight = rect(10, 22, 10, 90);
        let diagonal: Vec<Cell> = (0..80)
            .flat_map(|t| (0..17usize).map(move |k| (20 + t + k / 2, 100 + t - k.div_ceil(2))))
            .collect();
        for cells in [straight, diagonal] {
            let r = end_window(&cells, cell_box(&cells), 3.0);
            assert!((20.0..28.0).contains(&r), "{r}");
        }
        // A thin tube keeps the floor.
        let thin = rect(10, 13, 10, 90);
        assert_eq!(end_window(&thin, cell_box(&thin), 10.0), 10.0);
    }

    #[test]
    fn branches_pointing_at_an_arborizing_trunk_join_it() {
        let found = vec![
            // Trunk (arborizing), 80 × 6 cells.
            piece(rect(0, 80, 10, 16), 1.0),
            // A branch pointing at it across a 5-cell gap.
            piece(rect(40, 44, 21, 60), 0.8),
            // As near, pointing at it, but much fainter.
            piece(rect(60, 64, 21, 60), 0.3),
            // As near, red enough, lying beside it (not pointing at it).
            piece(rect(10, 40, 21, 25), 0.9),
            // Pointing at it from too far.
            piece(rect(20, 24, 30, 60), 0.9),
        ];
        let arbor = [true, false, false, false, false];
        let out = absorb_branches(found, &arbor, 6.0, 15.0);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].1, None);
        assert_eq!(
            out[1..].iter().map(|(_, i)| *i).collect::<Vec<_>>(),
            vec![Some(2), Some(3), Some(4)]
        );
        let trunk = &out[0].0;
        assert_eq!(trunk.pix0.len(), 80 * 6 + 4 * 39);
        assert!(trunk.cells.contains(&(40, 21)) && trunk.cells.contains(&(40, 18)));
        // Nothing arborizing: nothing changes.
        let found = vec![piece(rect(0, 10, 0, 4), 1.0), piece(rect(0, 10, 6, 9), 1.0)];
        let out = absorb_branches(found, &[false, false], 6.0, 15.0);
        assert_eq!(
            out.iter().map(|(_, i)| *i).collect::<Vec<_>>(),
            vec![Some(0), Some(1)]
        );
    }

    #[test]
    fn pieces_join_across_hair_when_one_end_points_across() {
        // Two halves of a vertical tube, 20 cells apart; a short tube
        // beside the gap, parallel to them (pointing at neither).
        let found = || {
            vec![
                piece(rect(10, 14, 0, 30), 1.0),
                piece(rect(10, 14, 50, 80), 1.0),
                piece(rect(30, 34, 35, 46), 1.0),
            ]
        };
        // The gap is hair everywhere.
        let out = join_pieces(found(), 2.0, 25.0, 10.0, |_, _| true, 0.0, 0.2, |_, _| 0.0);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].cells.len(), 2 * 4 * 30 + 20);
        // A red ridge across the 20-cell visible gap between the halves
        // (skin towards the short tube) joins them only within the ridge
        // reach, and only when red enough against the redder peak.
        let by_ridge = |reach: f64, v: f64| {
            let ridge = move |p: Cell, q: Cell| if p.0 < 20 && q.0 < 20 { v } else { 0.0 };
            join_pieces(found(), 2.0, 0.0, 10.0, |_, _| false, reach, 0.15, ridge).len()
        };
        assert_eq!(by_ridge(25.0, 0.2), 2);
        assert_eq!(by_ridge(25.0, 0.1), 3);
        assert_eq!(by_ridge(15.0, 0.2), 3);
        // Not hair: only the 2-cell join gap applies.
        assert_eq!(
            join_pieces(found(), 2.0, 25.0, 10.0, |_, _| false, 0.0, 0.2, |_, _| 0.0).len(),
            3
        );
    }
}
