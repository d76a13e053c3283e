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
/// such a gap is joined only where both pieces end in a tube pointing
/// across it (`faces`, over `end_cells` around each end), as a vessel
/// that passes under the hair does: two vessels that merely touch the hair
/// on either side are not one.
pub(crate) fn join_pieces(
    found: Vec<Found>,
    gap_cells: f64,
    hidden_cells: f64,
    end_cells: f64,
    across: impl Fn((usize, usize), (usize, usize)) -> bool,
) -> Vec<Found> {
    let n = found.len();
    if n < 2 || gap_cells.max(hidden_cells) <= 0.0 {
        return found;
    }
    // Centre-to-centre distance of two cells with `gap_cells` between their
    // edges.
    let reach = gap_cells + 1.0;
    let reach_h = hidden_cells.max(gap_cells) + 1.0;
    let g = reach_h.ceil() as usize;
    let bbox: Vec<(usize, usize, usize, usize)> = found
        .iter()
        .map(|f| {
            f.cells.iter().fold(
                (usize::MAX, usize::MAX, 0, 0),
                |(x0, y0, x1, y1), &(x, y)| (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            )
        })
        .collect();
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
    for (k, &a) in order.iter().enumerate() {
        let ba = bbox[a];
        for &b in &order[k + 1..] {
            let bb = bbox[b];
            if bb.0 > ba.2 + g {
                break;
            }
            if bb.1 > ba.3 + g || ba.1 > bb.3 + g || ba.0 > bb.2 + g {
                continue;
            }
            // Only the cells of each within reach of the other's box.
            let near = |c: &(usize, usize), o: (usize, usize, usize, usize)| {
                c.0 + g >= o.0 && c.0 <= o.2 + g && c.1 + g >= o.1 && c.1 <= o.3 + g
            };
            let ca: Vec<(usize, usize)> = found[a]
                .cells
                .iter()
                .copied()
                .filter(|c| near(c, bb))
                .collect();
            let cb: Vec<(usize, usize)> = found[b]
                .cells
                .iter()
                .copied()
                .filter(|c| near(c, ba))
                .collect();
            let mut best: Option<(usize, Cell, Cell)> = None;
            for &p in &ca {
                for &q in &cb {
                    let dx = p.0.abs_diff(q.0);
                    let dy = p.1.abs_diff(q.1);
                    let d2 = dx * dx + dy * dy;
                    if best.is_none_or(|(bd, _, _)| d2 < bd) {
                        best = Some((d2, p, q));
                    }
                }
            }
            if let Some((d2, p, q)) = best {
                if (d2 as f64) <= reach * reach
                    || ((d2 as f64) <= reach_h * reach_h
                        && faces(&found[a].cells, p, q, end_cells)
                        && faces(&found[b].cells, q, p, end_cells)
                        && across(p, q))
                {
                    let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                    if ra != rb {
                        let (lo, hi) = (ra.min(rb), ra.max(rb));
                        parent[hi] = lo;
                        bridges.push((a, p, q));
                    }
                }
            }
        }
    }
    if bridges.is_empty() {
        return found;
    }
    let roots: Vec<usize> = (0..n).map(|i| root(&mut parent, i)).collect();
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
    slots
        .into_iter()
        .zip(joined)
        .filter_map(|(f, j)| f.map(|f| (f, j)))
        .map(|(mut f, j)| {
            if j {
                f.pix0.sort_unstable();
                f.cells.sort_unstable_by_key(|&(x, y)| (y, x));
                f.cells.dedup();
            }
            f
        })
        .collect()
}

/// Whether the cells of a piece within `r` cells of its end `p` form a
/// tube (elongation ≥ 1.3) whose axis points at `q` (within 35°).
fn faces(cells: &[(usize, usize)], p: (usize, usize), q: (usize, usize), r: f64) -> bool {
    let near: Vec<(f64, f64)> = cells
        .iter()
        .map(|&(x, y)| (x as f64 - p.0 as f64, y as f64 - p.1 as f64))
        .filter(|&(dx, dy)| dx * dx + dy * dy <= r * r)
        .collect();
    if near.len() < 3 {
        return false;
    }
    let n = near.len() as f64;
    let (mx, my) = near
        .iter()
        .fold((0.0, 0.0), |a, &(x, y)| (a.0 + x / n, a.1 + y / n));
    let (mut sxx, mut syy, mut sxy) = (1.0 / 12.0, 1.0 / 12.0, 0.0);
    for &(x, y) in &near {
        sxx += (x - mx).powi(2) / n;
        syy += (y - my).powi(2) / n;
        sxy += (x - mx) * (y - my) / n;
    }
    let tr = (sxx + syy) / 2.0;
    let disc = (((sxx - syy) / 2.0).powi(2) + sxy * sxy).sqrt();
    let (l1, l2) = (tr + disc, (tr - disc).max(1e-9));
    if l1 / l2 < 1.3 * 1.3 {
        return false;
    }
    let th = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let (bx, by) = (q.0 as f64 - p.0 as f64, q.1 as f64 - p.1 as f64);
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
