//! Thinning to 1-px 8-connected centrelines and the skeleton graph.
//!
//! [`skeletonize`] runs Zhang & Suen (1984)'s two-subiteration thinning; each
//! subiteration reads only the previous state, so rows are processed in
//! parallel with a bit-identical result. Zhang–Suen leaves "staircase"
//! corners (pixels whose two orthogonal neighbours already connect
//! diagonally); a final raster-order pass removes those that are simple
//! points (Yokoi 8-connectivity number 1), giving 8-connected lines one
//! pixel thin, which [`skeleton_graph`] can walk unambiguously.

use super::SERIAL_BELOW_PX;
use crate::image::Mask;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Neighbour offsets P2..P9 of Zhang–Suen: N, NE, E, SE, S, SW, W, NW.
const NB: [(isize, isize); 8] = [
    (0, -1),
    (1, -1),
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
];

/// Bit i of the code = neighbour NB[i] is set (outside the image = unset).
#[inline]
fn code(img: &[u8], w: usize, h: usize, x: usize, y: usize) -> u8 {
    if x > 0 && y > 0 && x + 1 < w && y + 1 < h {
        // Interior: the three rows directly, no per-neighbour bounds.
        let i = y * w + x;
        let (up, mid, dn) = (
            &img[i - w - 1..i - w + 2],
            &img[i - 1..i + 2],
            &img[i + w - 1..i + w + 2],
        );
        let b = |v: u8, k: u8| ((v != 0) as u8) << k;
        return b(up[1], 0)
            | b(up[2], 1)
            | b(mid[2], 2)
            | b(dn[2], 3)
            | b(dn[1], 4)
            | b(dn[0], 5)
            | b(mid[0], 6)
            | b(up[0], 7);
    }
    let mut c = 0u8;
    for (i, &(dx, dy)) in NB.iter().enumerate() {
        let (xx, yy) = (x as isize + dx, y as isize + dy);
        if xx >= 0
            && yy >= 0
            && (xx as usize) < w
            && (yy as usize) < h
            && img[yy as usize * w + xx as usize] != 0
        {
            c |= 1 << i;
        }
    }
    c
}

/// Positions of the non-zero bytes of a row, skipping zero runs 8 bytes at a time.
fn nonzero_positions(row: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let words = row.chunks(8).enumerate();
    words.flat_map(|(k, c)| {
        let any = if c.len() == 8 {
            u64::from_ne_bytes(c.try_into().expect("8 bytes")) != 0
        } else {
            c.iter().any(|&v| v != 0)
        };
        let base = k * 8;
        c.iter()
            .enumerate()
            .filter(move |&(_, &v)| any && v != 0)
            .map(move |(i, _)| base + i)
    })
}

/// Zhang–Suen deletion tables for the two subiterations.
fn zs_tables() -> [[bool; 256]; 2] {
    let mut t = [[false; 256]; 2];
    #[allow(clippy::needless_range_loop)] // c is the code, not just an index
    for c in 0..256usize {
        let p = |i: usize| (c >> i) & 1 == 1; // p(0) = P2 … p(7) = P9
        let b = c.count_ones();
        let a = (0..8).filter(|&i| !p(i) && p((i + 1) % 8)).count();
        let (p2, p4, p6, p8) = (p(0), p(2), p(4), p(6));
        let base = (2..=6).contains(&b) && a == 1;
        t[0][c] = base && !(p2 && p4 && p6) && !(p4 && p6 && p8);
        t[1][c] = base && !(p2 && p4 && p8) && !(p2 && p6 && p8);
    }
    t
}

/// Yokoi 8-connectivity number of a neighbourhood code (1 = simple point).
fn yokoi8(c: u8) -> u32 {
    // x_k with k = 1..8 = E, NE, N, NW, W, SW, S, SE (anticlockwise from E).
    let order = [2usize, 1, 0, 7, 6, 5, 4, 3];
    let xb = |k: usize| 1 - ((c >> order[k % 8]) & 1) as u32;
    [0usize, 2, 4, 6]
        .iter()
        .map(|&k| xb(k) - xb(k) * xb(k + 1) * xb(k + 2))
        .sum()
}

/// Thin a mask to 1-px, 8-connected centrelines (see the module docs).
/// Topology is preserved: each 8-connected component keeps its holes and
/// stays one component; isolated pixels and 2-pixel pieces remain.
#[must_use = "the function does not modify the original image"]
pub fn skeletonize(mask: &Mask) -> Mask {
    let (w, h) = (mask.width, mask.height);
    assert_eq!(mask.data.len(), w * h, "mask buffer size");
    if w == 0 || h == 0 {
        return mask.clone();
    }
    // Built once per process: thinning many small components (one per
    // capillary) would otherwise rebuild them every call.
    static TABLES: std::sync::OnceLock<[[bool; 256]; 2]> = std::sync::OnceLock::new();
    let tables = TABLES.get_or_init(zs_tables);
    if w <= 64 {
        thin_bits(&mask.data, w, h)
    } else {
        thin_rows(mask, tables)
    }
}

/// [`skeletonize`] by rows of the whole image (parallel when large).
fn thin_rows(mask: &Mask, tables: &[[bool; 256]; 2]) -> Mask {
    let (w, h) = (mask.width, mask.height);
    let mut cur: Vec<u8> = mask.data.iter().map(|&b| b as u8).collect();
    let mut next = cur.clone();
    // Rows changed by the last two subiterations. A row whose 3-row
    // neighbourhood did not change in either cannot change now (the same
    // table saw the same neighbourhood two subiterations ago and deleted
    // nothing), and its row in `next` (two subiterations old) equals `cur`:
    // it is skipped without a copy. Exact, so the result is unchanged.
    let mut changed_last = vec![true; h];
    let mut changed_before = vec![true; h];
    loop {
        let mut changed = false;
        for table in tables {
            let src = &cur;
            let active: Vec<bool> = (0..h)
                .map(|y| {
                    (y.saturating_sub(1)..(y + 2).min(h))
                        .any(|yy| changed_last[yy] || changed_before[yy])
                })
                .collect();
            let step = |(y, row): (usize, &mut [u8])| -> bool {
                if !active[y] {
                    return false;
                }
                let srow = &src[y * w..(y + 1) * w];
                row.copy_from_slice(srow);
                let mut ch = false;
                for x in nonzero_positions(srow) {
                    if table[code(src, w, h, x, y) as usize] {
                        row[x] = 0;
                        ch = true;
                    }
                }
                ch
            };
            let row_changed: Vec<bool> = if w * h < SERIAL_BELOW_PX {
                next.chunks_mut(w).enumerate().map(step).collect()
            } else {
                next.par_chunks_mut(w).enumerate().map(step).collect()
            };
            changed |= row_changed.iter().any(|&c| c);
            changed_before = std::mem::replace(&mut changed_last, row_changed);
            std::mem::swap(&mut cur, &mut next);
        }
        if !changed {
            break;
        }
    }
    // Staircase removal, sequential in raster order (deterministic).
    for y in 0..h {
        let xs: Vec<usize> = nonzero_positions(&cur[y * w..(y + 1) * w]).collect();
        for x in xs {
            if cur[y * w + x] == 0 {
                continue;
            }
            let c = code(&cur, w, h, x, y);
            let (n, e, s, wst) = (c & 1 != 0, c & 4 != 0, c & 16 != 0, c & 64 != 0);
            let corner = (n || s) && (e || wst);
            if corner && yokoi8(c) == 1 {
                cur[y * w + x] = 0;
            }
        }
    }
    Mask {
        width: w,
        height: h,
        data: cur.into_iter().map(|v| v != 0).collect(),
    }
}

/// [`skeletonize`] of a mask at most 64 pixels wide, a row per `u64`
/// (bit x = pixel x): each Zhang–Suen subiteration decides every pixel of
/// a row at once from the three rows of the state before it, with the
/// conditions of [`zs_tables`] written bitwise (B = number of set
/// neighbours in 2..=6: at least two set and at least two unset; A = one
/// unset→set step round P2…P9, P2). Thinning stops after a pair of
/// subiterations deletes nothing, as the row path does; the staircase pass
/// is the same raster-order pass. The bits are those of the row path.
fn thin_bits(data: &[bool], w: usize, h: usize) -> Mask {
    debug_assert!(w <= 64);
    let mut rows: Vec<u64> = data
        .chunks_exact(w)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(0u64, |a, (x, &b)| a | ((b as u64) << x))
        })
        .collect();
    thin_bit_rows(&mut rows, 1, w, &mut Vec::new());
    let mut out = Vec::with_capacity(w * h);
    for &r in &rows {
        out.extend((0..w).map(|x| (r >> x) & 1 != 0));
    }
    Mask {
        width: w,
        height: h,
        data: out,
    }
}

/// [`thin_bits`] in place on the bit rows of a mask `w` pixels wide, `nw`
/// words a row (bit x % 64 of word x / 64 of a row = pixel x; bits at
/// x ≥ `w` clear), working in `del` (its contents do not matter): the
/// skeleton of [`skeletonize`] without a `bool` image in or out. A row's
/// neighbours across a word's edge come from the next word's end bit.
pub(crate) fn thin_bit_rows(rows: &mut [u64], nw: usize, w: usize, del: &mut Vec<u64>) {
    if nw == 1 {
        thin_words::<true>(rows, 1, w, del);
    } else {
        thin_words::<false>(rows, nw, w, del);
    }
}

/// [`thin_bit_rows`]; `SINGLE`: rows of one word (no neighbour words).
#[inline(always)]
fn thin_words<const SINGLE: bool>(rows: &mut [u64], nw: usize, w: usize, del: &mut Vec<u64>) {
    debug_assert!(nw > 0 && w <= 64 * nw);
    let h = rows.len() / nw;
    del.clear();
    del.resize(rows.len(), 0);
    // Word `k` of row `y` of the state before the subiteration (0 outside).
    let at = |rows: &[u64], y: isize, k: isize| -> u64 {
        if y < 0 || y as usize >= h || k < 0 || k as usize >= nw {
            0
        } else {
            rows[y as usize * nw + k as usize]
        }
    };
    loop {
        let mut changed = false;
        for sub in 0..2 {
            for (wi, d) in del.iter_mut().enumerate() {
                let mid = rows[wi];
                if mid == 0 {
                    *d = 0;
                    continue;
                }
                let (y, k) = ((wi / nw) as isize, (wi % nw) as isize);
                let (up, dn) = (at(rows, y - 1, k), at(rows, y + 1, k));
                // The words left and right (their bits next to this word).
                let ((upl, midl, dnl), (upr, midr, dnr)) = if SINGLE {
                    ((0, 0, 0), (0, 0, 0))
                } else {
                    (
                        (
                            at(rows, y - 1, k - 1),
                            at(rows, y, k - 1),
                            at(rows, y + 1, k - 1),
                        ),
                        (
                            at(rows, y - 1, k + 1),
                            at(rows, y, k + 1),
                            at(rows, y + 1, k + 1),
                        ),
                    )
                };
                // P2 … P9: N, NE, E, SE, S, SW, W, NW (bit x = neighbour of x).
                let p = [
                    up,
                    (up >> 1) | (upr << 63),
                    (mid >> 1) | (midr << 63),
                    (dn >> 1) | (dnr << 63),
                    dn,
                    (dn << 1) | (dnl >> 63),
                    (mid << 1) | (midl >> 63),
                    (up << 1) | (upl >> 63),
                ];
                let (mut one, mut two, mut zone, mut ztwo) = (0u64, 0u64, 0u64, 0u64);
                let (mut tone, mut ttwo) = (0u64, 0u64);
                for i in 0..8 {
                    let (v, nv) = (p[i], p[(i + 1) % 8]);
                    two |= one & v;
                    one |= v;
                    ztwo |= zone & !v;
                    zone |= !v;
                    let t = !v & nv;
                    ttwo |= tone & t;
                    tone |= t;
                }
                let (p2, p4, p6, p8) = (p[0], p[2], p[4], p[6]);
                let keep = if sub == 0 {
                    (p2 & p4 & p6) | (p4 & p6 & p8)
                } else {
                    (p2 & p4 & p8) | (p2 & p6 & p8)
                };
                *d = mid & two & ztwo & tone & !ttwo & !keep;
            }
            for (r, &d) in rows.iter_mut().zip(del.iter()) {
                changed |= d != 0;
                *r &= !d;
            }
        }
        if !changed {
            break;
        }
    }
    // Staircase removal, sequential in raster order (as the row path).
    let bit = |rows: &[u64], x: isize, y: isize| -> u8 {
        (x >= 0 && (x as usize) < w && (at(rows, y, x / 64) >> (x % 64)) & 1 != 0) as u8
    };
    for wi in 0..rows.len() {
        let (y, base) = ((wi / nw) as isize, (wi % nw * 64) as isize);
        let mut todo = rows[wi];
        while todo != 0 {
            let b = todo.trailing_zeros();
            todo &= todo - 1;
            let x = base + b as isize;
            let mut c = 0u8;
            for (k, &(dx, dy)) in NB.iter().enumerate() {
                c |= bit(rows, x + dx, y + dy) << k;
            }
            let (n, e, s, wst) = (c & 1 != 0, c & 4 != 0, c & 16 != 0, c & 64 != 0);
            if (n || s) && (e || wst) && yokoi8(c) == 1 {
                rows[wi] &= !(1u64 << b);
            }
        }
    }
}

/// What a skeleton node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A pixel with one neighbour: the free end of a branch.
    Endpoint,
    /// An 8-connected cluster of pixels with three or more neighbours.
    Junction,
    /// A pixel with no neighbour.
    Isolated,
    /// An arbitrary pixel (the raster-first) chosen on a closed loop that has
    /// no endpoint or junction, so that the loop can be one branch.
    LoopAnchor,
}

/// A node of the skeleton graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkeletonNode {
    /// Kind of node.
    pub kind: NodeKind,
    /// Its pixels (x, y), raster order; several only for junction clusters.
    pub pixels: Vec<(u32, u32)>,
    /// Mean x of the pixels.
    pub x: f64,
    /// Mean y of the pixels.
    pub y: f64,
}

/// A branch: an 8-connected pixel path from one node to another (or the same
/// node, for a loop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkeletonBranch {
    /// Pixels (x, y) in path order; the first and last belong to the nodes.
    pub pixels: Vec<(u32, u32)>,
    /// Node id (index into [`SkeletonGraph::nodes`]) at `pixels[0]`.
    pub start_node: u32,
    /// Node id at the last pixel.
    pub end_node: u32,
}

impl SkeletonBranch {
    /// Path length in px: 1 per edge step, √2 per diagonal step.
    pub fn length_px(&self) -> f64 {
        self.pixels
            .windows(2)
            .map(|p| {
                if p[0].0 != p[1].0 && p[0].1 != p[1].1 {
                    std::f64::consts::SQRT_2
                } else {
                    1.0
                }
            })
            .sum()
    }
    /// True when the branch starts and ends at the same node.
    pub fn is_loop(&self) -> bool {
        self.start_node == self.end_node
    }
}

/// Nodes and branches of a skeleton.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SkeletonGraph {
    /// Nodes, numbered in raster order of their first pixel (loop anchors last).
    pub nodes: Vec<SkeletonNode>,
    /// Branches, in order of their start node and departure.
    pub branches: Vec<SkeletonBranch>,
}

impl SkeletonGraph {
    /// Number of nodes of a kind.
    pub fn count(&self, kind: NodeKind) -> usize {
        self.nodes.iter().filter(|n| n.kind == kind).count()
    }
}

const NONE: u32 = u32::MAX;

/// Set 8-neighbours of pixel `i`, in [`NB`] order.
fn neighbours(img: &[u8], w: usize, h: usize, i: usize) -> impl Iterator<Item = usize> + '_ {
    let (x, y) = (i % w, i / w);
    NB.iter().filter_map(move |&(dx, dy)| {
        let (xx, yy) = (x as isize + dx, y as isize + dy);
        let inside = xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h;
        (inside && img[yy as usize * w + xx as usize] != 0).then(|| yy as usize * w + xx as usize)
    })
}

struct Walker<'a> {
    img: &'a [u8],
    w: usize,
    h: usize,
    node_of: Vec<u32>,
    visited: Vec<bool>,
}

impl Walker<'_> {
    fn xy(&self, i: usize) -> (u32, u32) {
        ((i % self.w) as u32, (i / self.w) as u32)
    }

    /// Follow regular pixels from node pixel `start` through `first` to a node pixel.
    fn trace(&mut self, start: usize, first: usize) -> Vec<usize> {
        let mut path = vec![start, first];
        let (mut prev, mut cur) = (start, first);
        while self.node_of[cur] == NONE {
            self.visited[cur] = true;
            let next = neighbours(self.img, self.w, self.h, cur)
                .find(|&j| j != prev && (self.node_of[j] != NONE || !self.visited[j]));
            let Some(n) = next else {
                break; // only on a skeleton that is not 1-px thin
            };
            path.push(n);
            prev = cur;
            cur = n;
        }
        path
    }

    fn walk_from(&mut self, id: u32, pixels: &[(u32, u32)], branches: &mut Vec<SkeletonBranch>) {
        for &(px, py) in pixels {
            let p = py as usize * self.w + px as usize;
            let qs: Vec<usize> = neighbours(self.img, self.w, self.h, p).collect();
            for q in qs {
                let nq = self.node_of[q];
                if nq == id {
                    continue;
                }
                if nq != NONE {
                    if p < q {
                        branches.push(SkeletonBranch {
                            pixels: vec![self.xy(p), self.xy(q)],
                            start_node: id,
                            end_node: nq,
                        });
                    }
                    continue;
                }
                if self.visited[q] {
                    continue;
                }
                let path = self.trace(p, q);
                let end = self.node_of[*path.last().expect("path")];
                if end == id && path.len() == 3 {
                    continue; // one pixel hugging a junction cluster
                }
                branches.push(SkeletonBranch {
                    pixels: path.iter().map(|&i| self.xy(i)).collect(),
                    start_node: id,
                    end_node: end,
                });
            }
        }
    }
}

/// Split a 1-px skeleton (the output of [`skeletonize`]) into nodes
/// (endpoints, junction clusters, isolated pixels, loop anchors) and the
/// branches between them. A thicker mask still works but its thick parts
/// become junction clusters. Deterministic.
#[must_use]
pub fn skeleton_graph(skeleton: &Mask) -> SkeletonGraph {
    let (w, h) = (skeleton.width, skeleton.height);
    assert_eq!(skeleton.data.len(), w * h, "mask buffer size");
    let img: Vec<u8> = skeleton.data.iter().map(|&b| b as u8).collect();
    let degree: Vec<u8> = (0..w * h)
        .map(|i| {
            if img[i] != 0 {
                neighbours(&img, w, h, i).count() as u8
            } else {
                0
            }
        })
        .collect();
    let mut node_of = vec![NONE; w * h];
    let mut nodes: Vec<SkeletonNode> = Vec::new();
    let make = |kind, pix: Vec<usize>| {
        let n = pix.len() as f64;
        SkeletonNode {
            kind,
            x: pix.iter().map(|&i| (i % w) as f64).sum::<f64>() / n,
            y: pix.iter().map(|&i| (i / w) as f64).sum::<f64>() / n,
            pixels: pix
                .iter()
                .map(|&i| ((i % w) as u32, (i / w) as u32))
                .collect(),
        }
    };
    for i in 0..w * h {
        if img[i] == 0 || degree[i] == 2 || node_of[i] != NONE {
            continue;
        }
        let id = nodes.len() as u32;
        let (kind, pix) = match degree[i] {
            0 => (NodeKind::Isolated, vec![i]),
            1 => (NodeKind::Endpoint, vec![i]),
            _ => {
                // Flood the junction cluster.
                let mut pix = vec![i];
                node_of[i] = id;
                let mut k = 0;
                while k < pix.len() {
                    for j in neighbours(&img, w, h, pix[k]) {
                        if degree[j] >= 3 && node_of[j] == NONE {
                            node_of[j] = id;
                            pix.push(j);
                        }
                    }
                    k += 1;
                }
                pix.sort_unstable();
                (NodeKind::Junction, pix)
            }
        };
        for &p in &pix {
            node_of[p] = id;
        }
        nodes.push(make(kind, pix));
    }
    let mut walker = Walker {
        img: &img,
        w,
        h,
        node_of,
        visited: vec![false; w * h],
    };
    let mut branches = Vec::new();
    for (id, node) in nodes.iter().enumerate() {
        walker.walk_from(id as u32, &node.pixels, &mut branches);
    }
    // Closed loops without nodes.
    for (i, &v) in img.iter().enumerate() {
        if v != 0 && walker.node_of[i] == NONE && !walker.visited[i] {
            let id = nodes.len() as u32;
            walker.node_of[i] = id;
            nodes.push(make(NodeKind::LoopAnchor, vec![i]));
            let before = branches.len();
            walker.walk_from(id, &nodes[id as usize].pixels, &mut branches);
            // Both departures meet: keep the first trace only.
            branches.truncate(before + 1);
        }
    }
    SkeletonGraph { nodes, branches }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(w: usize, h: usize, pts: &[(usize, usize)]) -> Mask {
        let mut m = Mask::filled(w, h, false);
        for &(x, y) in pts {
            m.data[y * w + x] = true;
        }
        m
    }

    fn thick(w: usize, h: usize, f: impl Fn(f64, f64) -> bool) -> Mask {
        let mut m = Mask::filled(w, h, false);
        for y in 0..h {
            for x in 0..w {
                m.data[y * w + x] = f(x as f64, y as f64);
            }
        }
        m
    }

    /// Every skeleton pixel has ≤ 1 of its 4-corner pairs set unless needed.
    fn is_thin(m: &Mask) -> bool {
        let (w, h) = (m.width, m.height);
        let img: Vec<u8> = m.data.iter().map(|&b| b as u8).collect();
        (0..h).all(|y| {
            (0..w).all(|x| {
                if img[y * w + x] == 0 {
                    return true;
                }
                // No 2×2 block fully set.
                !(x + 1 < w
                    && y + 1 < h
                    && img[y * w + x + 1] != 0
                    && img[(y + 1) * w + x] != 0
                    && img[(y + 1) * w + x + 1] != 0)
            })
        })
    }

    #[test]
    fn line_is_one_branch_with_two_endpoints() {
        let m = draw(12, 3, &(1..11).map(|x| (x, 1)).collect::<Vec<_>>());
        let g = skeleton_graph(&m);
        assert_eq!(g.count(NodeKind::Endpoint), 2);
        assert_eq!(g.branches.len(), 1);
        assert_eq!(g.branches[0].pixels.len(), 10);
        assert!((g.branches[0].length_px() - 9.0).abs() < 1e-12);
        assert_eq!((g.branches[0].start_node, g.branches[0].end_node), (0, 1));
    }

    #[test]
    fn plus_and_x_have_four_branches_and_one_junction() {
        let plus: Vec<_> = (0..11)
            .map(|i| (i, 5))
            .chain((0..11).map(|i| (5, i)))
            .collect();
        let x: Vec<_> = (0..11)
            .map(|i| (i, i))
            .chain((0..11).map(|i| (10 - i, i)))
            .collect();
        for pts in [plus, x] {
            let g = skeleton_graph(&draw(11, 11, &pts));
            assert_eq!(g.count(NodeKind::Junction), 1);
            assert_eq!(g.count(NodeKind::Endpoint), 4);
            assert_eq!(g.branches.len(), 4);
            // The plus's junction cluster is the centre and its 4 neighbours
            // (each has ≥ 3 neighbours in 8-connectivity).
            for b in &g.branches {
                let kinds = [b.start_node, b.end_node].map(|n| g.nodes[n as usize].kind);
                assert!(kinds.contains(&NodeKind::Endpoint) && kinds.contains(&NodeKind::Junction));
                let l = b.length_px();
                assert!(
                    l == 4.0 || (l - 5.0 * std::f64::consts::SQRT_2).abs() < 1e-9,
                    "{l}"
                );
            }
        }
    }

    #[test]
    fn ring_is_one_closed_branch() {
        // An 8-thin square ring (corners cut diagonally).
        let pts: Vec<_> = (3..8)
            .map(|i| (i, 2))
            .chain((3..8).map(|i| (i, 8)))
            .chain((3..8).map(|i| (2, i)))
            .chain((3..8).map(|i| (8, i)))
            .collect();
        let g = skeleton_graph(&draw(11, 11, &pts));
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].kind, NodeKind::LoopAnchor);
        assert_eq!(g.branches.len(), 1);
        assert!(g.branches[0].is_loop());
        assert!(
            (g.branches[0].length_px() - (16.0 + 4.0 * std::f64::consts::SQRT_2)).abs() < 1e-12
        );
    }

    #[test]
    fn thick_shapes_skeletonize_to_expected_graphs() {
        // Thick bar → one branch, two endpoints, centred.
        let bar = thick(40, 15, |x, y| {
            (5.0..35.0).contains(&x) && (5.0..10.0).contains(&y)
        });
        let s = skeletonize(&bar);
        assert!(is_thin(&s));
        let g = skeleton_graph(&s);
        assert_eq!(g.count(NodeKind::Endpoint), 2, "{g:?}");
        assert_eq!(g.branches.len(), 1);
        assert!(g.branches[0]
            .pixels
            .iter()
            .all(|&(_, y)| (6..=8).contains(&y)));
        // Thick annulus → one loop, no endpoints.
        let ring = thick(41, 41, |x, y| {
            let r = ((x - 20.0).powi(2) + (y - 20.0).powi(2)).sqrt();
            (10.0..15.0).contains(&r)
        });
        let s = skeletonize(&ring);
        assert!(is_thin(&s));
        let g = skeleton_graph(&s);
        assert_eq!(g.count(NodeKind::Endpoint), 0, "{g:?}");
        assert_eq!(g.branches.len(), 1);
        assert!(g.branches[0].is_loop());
        let len = g.branches[0].length_px();
        assert!(
            (len - 2.0 * std::f64::consts::PI * 12.5).abs() < 8.0,
            "{len}"
        );
        // Thick plus → four arms meeting at the centre.
        let plus = thick(41, 41, |x, y| {
            ((18.0..23.0).contains(&x) && (3.0..38.0).contains(&y))
                || ((18.0..23.0).contains(&y) && (3.0..38.0).contains(&x))
        });
        let s = skeletonize(&plus);
        assert!(is_thin(&s));
        let g = skeleton_graph(&s);
        assert_eq!(g.count(NodeKind::Endpoint), 4, "{g:?}");
        assert!(g.count(NodeKind::Junction) >= 1);
        let arms = g
            .branches
            .iter()
            .filter(|b| {
                let k = |n: u32| g.nodes[n as usize].kind;
                k(b.start_node) == NodeKind::Endpoint || k(b.end_node) == NodeKind::Endpoint
            })
            .count();
        assert_eq!(arms, 4);
    }

    #[test]
    fn bitwise_thinning_equals_row_thinning() {
        let tables = zs_tables();
        let mut next = crate::testing::xorshift32(7);
        let mut rnd = move || next() as f64 / u32::MAX as f64;
        for k in 0..300 {
            let (w, h) = (1 + (rnd() * 64.0) as usize, 1 + (rnd() * 50.0) as usize);
            let (a, b, t) = (rnd() * 0.5 + 0.05, rnd() * 0.5 + 0.05, rnd() * 1.2 - 0.2);
            let mut m = thick(w, h, |x, y| ((x * a).sin() + (y * b).cos()) > t);
            if k % 3 == 0 {
                // Speckle: holes, islands, staircases, border pixels.
                for v in m.data.iter_mut() {
                    if rnd() < 0.15 {
                        *v = !*v;
                    }
                }
            }
            let (sp, rows) = (thin_bits(&m.data, w, h), thin_rows(&m, &tables));
            assert_eq!(sp, rows, "mask {k} ({w} × {h})");
            // The same mask widened to several words (`w` + 0..200 pixels,
            // the pattern going on): the bit rows of several words.
            let wide_w = w + (rnd() * 200.0) as usize;
            let mut wide = thick(wide_w, h, |x, y| ((x * a).sin() + (y * b).cos()) > t);
            if k % 3 == 0 {
                for v in wide.data.iter_mut() {
                    if rnd() < 0.15 {
                        *v = !*v;
                    }
                }
            }
            let nw = wide_w.div_ceil(64);
            let mut bits = vec![0u64; h * nw];
            for (i, _) in wide.data.iter().enumerate().filter(|(_, &v)| v) {
                let (x, y) = (i % wide_w, i / wide_w);
                bits[y * nw + x / 64] |= 1u64 << (x % 64);
            }
            thin_bit_rows(&mut bits, nw, wide_w, &mut vec![7; 3]);
            let unpacked: Vec<bool> = (0..wide_w * h)
                .map(|i| (bits[i / wide_w * nw + i % wide_w / 64] >> (i % wide_w % 64)) & 1 != 0)
                .collect();
            assert_eq!(
                unpacked,
                thin_rows(&wide, &tables).data,
                "wide mask {k} ({wide_w} × {h})"
            );
            assert!(k % 3 == 0 || is_thin(&sp));
        }
    }

    #[test]
    fn degenerate_skeletons() {
        assert_eq!(skeletonize(&Mask::default()).data.len(), 0);
        let one = Mask::filled(1, 1, true);
        assert_eq!(skeletonize(&one).data, vec![true]);
        let g = skeleton_graph(&one);
        assert_eq!((g.nodes.len(), g.branches.len()), (1, 0));
        assert_eq!(g.nodes[0].kind, NodeKind::Isolated);
        let full = Mask::filled(7, 7, true);
        let s = skeletonize(&full);
        assert!(s.count() >= 1 && is_thin(&s));
        assert_eq!(
            skeleton_graph(&Mask::filled(3, 3, false)),
            SkeletonGraph::default()
        );
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let m = thick(60, 50, |x, y| ((x * 0.37).sin() + (y * 0.23).cos()) > 0.3);
        let run = |n| crate::testing::on_threads(n, || skeletonize(&m));
        assert_eq!(run(1), run(4));
    }
}
