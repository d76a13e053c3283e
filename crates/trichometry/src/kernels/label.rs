//! Connected components (run-based union–find, parallel per row band),
//! region statistics, hysteresis thresholding.
//!
//! Labels are numbered 1..=count in raster order of each component's first
//! pixel, whatever the number of threads: the union–find keeps the smallest
//! run index as the root, and runs are indexed in raster order.

use super::SERIAL_BELOW_PX;
use crate::image::{Labels, Mask, Plane};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Pixel adjacency for connected components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// Edge neighbours only.
    Four,
    /// Edge and corner neighbours.
    #[default]
    Eight,
}

/// Rows per union–find band (fixed, so results never depend on threads).
const BAND: usize = 64;

/// A horizontal run `[x0, x1)` of foreground pixels in one row.
#[derive(Debug, Clone, Copy)]
struct Run {
    x0: u32,
    x1: u32,
}

fn find(parent: &mut [u32], mut i: u32, offset: u32) -> u32 {
    while parent[(i - offset) as usize] != i {
        let p = parent[(i - offset) as usize];
        let gp = parent[(p - offset) as usize];
        parent[(i - offset) as usize] = gp;
        i = gp;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32, offset: u32) {
    let (ra, rb) = (find(parent, a, offset), find(parent, b, offset));
    if ra < rb {
        parent[(rb - offset) as usize] = ra;
    } else if rb < ra {
        parent[(ra - offset) as usize] = rb;
    }
}

/// Union overlapping runs of two consecutive rows (`a` above `b`).
fn join_rows(parent: &mut [u32], offset: u32, a: (&[Run], u32), b: (&[Run], u32), slack: u32) {
    let (ra, ia0) = a;
    let (rb, ib0) = b;
    let (mut i, mut j) = (0, 0);
    while i < ra.len() && j < rb.len() {
        let (p, q) = (ra[i], rb[j]);
        // Touching when p.x0 < q.x1 + slack and q.x0 < p.x1 + slack.
        if p.x0 < q.x1 + slack && q.x0 < p.x1 + slack {
            union(parent, ia0 + i as u32, ib0 + j as u32, offset);
        }
        if p.x1 < q.x1 {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// The first `x ≥ from` with `row[x] == value`, or `row.len()` (also when
/// `from` is past the end): eight cells at a time (a `bool` is one byte,
/// 0 or 1), then one by one.
#[inline(always)]
fn next_with(row: &[bool], from: usize, value: bool) -> usize {
    let w = row.len();
    let mut x = from;
    // The bytes that differ from `value` are non-zero after the XOR.
    let flip = if value { 0 } else { 0x0101_0101_0101_0101u64 };
    while x + 8 <= w {
        let mut b = [0u8; 8];
        for (d, &s) in b.iter_mut().zip(&row[x..x + 8]) {
            *d = s as u8;
        }
        let v = u64::from_le_bytes(b) ^ flip;
        if v != 0 {
            return x + (v.trailing_zeros() / 8) as usize;
        }
        x += 8;
    }
    while x < w && row[x] != value {
        x += 1;
    }
    x.min(w)
}

/// Runs of a mask, row by row, and the component root of every run; also
/// the buffers [`label_into`] keeps between calls (their contents do not
/// matter: each call overwrites them).
#[derive(Default)]
pub(crate) struct Components {
    /// Index of the first run of each row; `row_start[h]` = number of runs.
    row_start: Vec<usize>,
    runs: Vec<Run>,
    /// Union–find parents of the runs.
    parent: Vec<u32>,
    /// Label (1..) of every run.
    label: Vec<u32>,
    count: u32,
}

impl Components {
    /// The first and one past the last column of row `y`'s foreground, or
    /// (0, 0) when the row has none (as of the last call of
    /// [`Components::build`]).
    pub(crate) fn row_span(&self, y: usize) -> (usize, usize) {
        let (a, b) = (self.row_start[y], self.row_start[y + 1]);
        if a < b {
            (self.runs[a].x0 as usize, self.runs[b - 1].x1 as usize)
        } else {
            (0, 0)
        }
    }

    /// The number of pixels of each component into `out` (cleared and
    /// sized; `out[l]` for label `l`, `out[0]` = 0), from the runs.
    pub(crate) fn sizes_into(&self, out: &mut Vec<usize>) {
        out.clear();
        out.resize(self.count as usize + 1, 0);
        for (r, &l) in self.runs.iter().zip(&self.label) {
            out[l as usize] += (r.x1 - r.x0) as usize;
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<usize>() * self.row_start.capacity()
            + std::mem::size_of::<Run>() * self.runs.capacity()
            + 4 * (self.parent.capacity() + self.label.capacity())
    }

    /// The components of the `w × h` row-major `mask`, in these buffers.
    fn build(&mut self, mask: &[bool], w: usize, h: usize, conn: Connectivity) {
        assert_eq!(mask.len(), w * h, "mask buffer size");
        let serial = w * h < SERIAL_BELOW_PX;
        // The runs of row y, appended to `runs`.
        let row_runs = |y: usize, runs: &mut Vec<Run>| {
            let row = &mask[y * w..(y + 1) * w];
            let mut x = next_with(row, 0, true);
            while x < w {
                let x1 = next_with(row, x + 1, false);
                runs.push(Run {
                    x0: x as u32,
                    x1: x1 as u32,
                });
                x = next_with(row, x1, true);
            }
        };
        let Components {
            row_start,
            runs,
            parent,
            label,
            count,
        } = self;
        row_start.clear();
        runs.clear();
        if serial {
            // One buffer, no vector per row.
            for y in 0..h {
                row_start.push(runs.len());
                row_runs(y, runs);
            }
        } else {
            let per_row: Vec<Vec<Run>> = (0..h)
                .into_par_iter()
                .map(|y| {
                    let mut r = Vec::new();
                    row_runs(y, &mut r);
                    r
                })
                .collect();
            let mut n = 0usize;
            for r in &per_row {
                row_start.push(n);
                n += r.len();
            }
            runs.extend(per_row.into_iter().flatten());
        }
        let runs = &runs[..];
        let n = runs.len();
        row_start.push(n);
        let row_start = &row_start[..];
        assert!(n < u32::MAX as usize, "too many runs for u32 labels");
        let slack = match conn {
            Connectivity::Four => 0,
            Connectivity::Eight => 1,
        };
        parent.clear();
        parent.extend(0..n as u32);
        // Bands in parallel: each owns the parent entries of its own runs.
        {
            let mut slices = Vec::new();
            let mut rest = parent.as_mut_slice();
            let mut y0 = 0;
            while y0 < h {
                let y1 = (y0 + BAND).min(h);
                let len = row_start[y1] - row_start[y0];
                let (band, tail) = rest.split_at_mut(len);
                slices.push((y0, y1, band));
                rest = tail;
                y0 = y1;
            }
            let join_band = |(y0, y1, band): (usize, usize, &mut [u32])| {
                let off = row_start[y0] as u32;
                for y in y0 + 1..y1 {
                    let a = (
                        &runs[row_start[y - 1]..row_start[y]],
                        row_start[y - 1] as u32,
                    );
                    let b = (&runs[row_start[y]..row_start[y + 1]], row_start[y] as u32);
                    join_rows(band, off, a, b, slack);
                }
            };
            if serial {
                slices.into_iter().for_each(join_band);
            } else {
                slices.into_par_iter().for_each(join_band);
            }
        }
        // Band seams, in order.
        for y in (BAND..h).step_by(BAND) {
            let a = (
                &runs[row_start[y - 1]..row_start[y]],
                row_start[y - 1] as u32,
            );
            let b = (&runs[row_start[y]..row_start[y + 1]], row_start[y] as u32);
            join_rows(parent, 0, a, b, slack);
        }
        // Roots are the smallest run index of their component, hence appear
        // in raster order of first pixel.
        label.clear();
        label.resize(n, 0);
        *count = 0;
        for i in 0..n {
            let r = find(parent, i as u32, 0) as usize;
            if r == i {
                *count += 1;
                label[i] = *count;
            } else {
                label[i] = label[r];
            }
        }
    }
}

fn components(mask: &Mask, conn: Connectivity) -> Components {
    let mut c = Components::default();
    c.build(&mask.data, mask.width, mask.height, conn);
    c
}

/// The label image of `c` (`w × h`) into `data` (cleared and sized), with
/// the runs whose label `keep` accepts.
fn paint_into(
    c: &Components,
    w: usize,
    h: usize,
    keep: impl Fn(u32) -> bool + Sync,
    data: &mut Vec<u32>,
) {
    if data.capacity() < w * h {
        // Fresh: zeroed pages straight from the allocator.
        *data = vec![0; w * h];
    } else {
        data.clear();
        data.resize(w * h, 0);
    }
    if w == 0 {
        return;
    }
    let fill = |(y, row): (usize, &mut [u32])| {
        for i in c.row_start[y]..c.row_start[y + 1] {
            let l = c.label[i];
            if keep(l) {
                let r = c.runs[i];
                row[r.x0 as usize..r.x1 as usize].fill(l);
            }
        }
    };
    if w * h < SERIAL_BELOW_PX {
        data.chunks_mut(w).enumerate().for_each(fill);
    } else {
        data.par_chunks_mut(w).enumerate().for_each(fill);
    }
}

/// [`label`] of the `w × h` row-major `mask` into `out` (cleared and
/// sized), working in `comps` (kept by the caller: no allocation once its
/// buffers have grown); returns the number of components. `comps` then
/// also gives each row's span of foreground ([`Components::row_span`]).
pub(crate) fn label_into(
    mask: &[bool],
    w: usize,
    h: usize,
    comps: &mut Components,
    out: &mut Vec<u32>,
) -> u32 {
    comps.build(mask, w, h, Connectivity::Eight);
    paint_into(comps, w, h, |_| true, out);
    comps.count
}

/// The components of the `w × h` row-major `mask` (8-connected) that hold a
/// pixel of `seed`, labelled 1, 2, … in [`label`]'s order (raster order of
/// their first pixels), into `out` (cleared and sized; 0 elsewhere),
/// working in `comps`; returns their number. The same image as labelling
/// `mask`, keeping the seeded labels and renumbering them in order, without
/// the label image of every component.
pub(crate) fn label_seeded_into(
    mask: &[bool],
    seed: &[bool],
    w: usize,
    h: usize,
    comps: &mut Components,
    out: &mut Vec<u32>,
) -> u32 {
    assert_eq!(seed.len(), w * h, "seed buffer size");
    comps.build(mask, w, h, Connectivity::Eight);
    // New label of each old one (0: unseeded), then the runs relabelled.
    let mut remap = vec![0u32; comps.count as usize + 1];
    for y in 0..h {
        let srow = &seed[y * w..(y + 1) * w];
        for i in comps.row_start[y]..comps.row_start[y + 1] {
            let r = comps.runs[i];
            if srow[r.x0 as usize..r.x1 as usize].iter().any(|&s| s) {
                remap[comps.label[i] as usize] = 1;
            }
        }
    }
    let mut next = 0;
    for r in remap.iter_mut().skip(1).filter(|r| **r != 0) {
        next += 1;
        *r = next;
    }
    for l in comps.label.iter_mut() {
        *l = remap[*l as usize];
    }
    comps.count = next;
    paint_into(comps, w, h, |l| l > 0, out);
    next
}

/// The pixels of each connected component of `mask` (row-major indices
/// `y·width + x`, increasing), component `k` of [`label_with`] at `k − 1`:
/// the lists a raster scan of its label image gathers, straight from the
/// runs (no label image is painted or scanned).
pub(crate) fn component_pixels(mask: &Mask, connectivity: Connectivity) -> Vec<Vec<usize>> {
    let c = components(mask, connectivity);
    let w = mask.width;
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); c.count as usize];
    for y in 0..c.row_start.len().saturating_sub(1) {
        for i in c.row_start[y]..c.row_start[y + 1] {
            let r = c.runs[i];
            out[c.label[i] as usize - 1].extend((r.x0 as usize..r.x1 as usize).map(|x| y * w + x));
        }
    }
    out
}

/// Connected components of `mask` with 8-connectivity, labelled 1..=count
/// in raster order of each component's first pixel; 0 = background.
///
/// ```
/// use trichometry::{kernels::label, Mask};
/// let m = Mask { width: 4, height: 2, data: vec![true, false, false, true,
///                                                false, true, false, true] };
/// let l = label(&m);
/// assert_eq!(l.count, 2);
/// assert_eq!(l.data, vec![1, 0, 0, 2, 0, 1, 0, 2]);
/// ```
#[must_use]
pub fn label(mask: &Mask) -> Labels {
    label_with(mask, Connectivity::Eight)
}

/// Connected components with the given connectivity (see [`label`]).
#[must_use]
pub fn label_with(mask: &Mask, connectivity: Connectivity) -> Labels {
    let c = components(mask, connectivity);
    Labels {
        width: mask.width,
        height: mask.height,
        data: {
            let mut data = Vec::new();
            paint_into(&c, mask.width, mask.height, |_| true, &mut data);
            data
        },
        count: c.count,
    }
}

/// Hysteresis threshold: pixels ≥ `low` that are 8-connected (through
/// pixels ≥ `low`) to a pixel ≥ `high`. NaN pixels are background. A `high`
/// below `low` acts as `low`.
#[must_use]
pub fn hysteresis(image: &Plane, low: f32, high: f32) -> Mask {
    let (w, h) = (image.width, image.height);
    // Chunks of one loop each, which vectorises: a collected parallel map
    // took 9 instructions per pixel (27 M per 12 MP hair call at
    // 3.5 µm/px, session 29), the same mask.
    let mut weak = Mask {
        width: w,
        height: h,
        data: vec![false; image.data.len()],
    };
    weak.data
        .par_chunks_mut(1 << 16)
        .zip(image.data.par_chunks(1 << 16))
        .for_each(|(m, v)| {
            for (m, &v) in m.iter_mut().zip(v) {
                *m = v >= low;
            }
        });
    let c = components(&weak, Connectivity::Eight);
    let high = high.max(low);
    let strong_runs: Vec<u32> = (0..h)
        .into_par_iter()
        .flat_map_iter(|y| {
            let row = image.row(y);
            let c = &c;
            (c.row_start[y]..c.row_start[y + 1]).filter_map(move |i| {
                let r = c.runs[i];
                row[r.x0 as usize..r.x1 as usize]
                    .iter()
                    .any(|&v| v >= high)
                    .then_some(c.label[i])
            })
        })
        .collect();
    let mut seeded = vec![false; c.count as usize + 1];
    for l in strong_runs {
        seeded[l as usize] = true;
    }
    // Paint the seeded runs straight into the mask (no label plane).
    let mut data = vec![false; w * h];
    if w > 0 {
        data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            for i in c.row_start[y]..c.row_start[y + 1] {
                if seeded[c.label[i] as usize] {
                    let r = c.runs[i];
                    row[r.x0 as usize..r.x1 as usize].fill(true);
                }
            }
        });
    }
    Mask {
        width: w,
        height: h,
        data,
    }
}

/// Geometry of one labelled region. Moments treat pixels as points at their
/// centres (as scikit-image's `regionprops` does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionStats {
    /// The region's label (1..).
    pub label: u32,
    /// Number of pixels.
    pub area_px: u64,
    /// Smallest x of the region (inclusive).
    pub bbox_x_min: u32,
    /// Smallest y of the region (inclusive).
    pub bbox_y_min: u32,
    /// Largest x of the region (inclusive).
    pub bbox_x_max: u32,
    /// Largest y of the region (inclusive).
    pub bbox_y_max: u32,
    /// Mean x of the pixel centres.
    pub centroid_x: f64,
    /// Mean y of the pixel centres.
    pub centroid_y: f64,
    /// Central second moment ⟨(x − x̄)²⟩ (px²).
    pub mu20_px2: f64,
    /// Central second moment ⟨(x − x̄)(y − ȳ)⟩ (px²).
    pub mu11_px2: f64,
    /// Central second moment ⟨(y − ȳ)²⟩ (px²).
    pub mu02_px2: f64,
}

impl RegionStats {
    /// Eigenvalues of the covariance matrix, larger first (px²).
    pub fn inertia_eigenvalues_px2(&self) -> (f64, f64) {
        let m = 0.5 * (self.mu20_px2 + self.mu02_px2);
        let d = (0.25 * (self.mu20_px2 - self.mu02_px2).powi(2) + self.mu11_px2.powi(2)).sqrt();
        (m + d, (m - d).max(0.0))
    }
    /// Angle of the major axis, radians from +x towards +y, in (−π/2, π/2].
    pub fn orientation_rad(&self) -> f64 {
        0.5 * (2.0 * self.mu11_px2).atan2(self.mu20_px2 - self.mu02_px2)
    }
    /// Major axis of the ellipse with the same second moments (4√λ1, px).
    pub fn axis_major_length_px(&self) -> f64 {
        4.0 * self.inertia_eigenvalues_px2().0.sqrt()
    }
    /// Minor axis of the ellipse with the same second moments (4√λ2, px).
    pub fn axis_minor_length_px(&self) -> f64 {
        4.0 * self.inertia_eigenvalues_px2().1.sqrt()
    }
    /// Elongation √(λ1/λ2) ≥ 1 (∞ for a one-pixel-wide straight line).
    pub fn elongation(&self) -> f64 {
        let (a, b) = self.inertia_eigenvalues_px2();
        if a == 0.0 {
            1.0
        } else {
            (a / b).sqrt()
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Acc {
    n: u64,
    sx: u64,
    sy: u64,
    sxx: u64,
    syy: u64,
    sxy: u64,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

/// Σ_{x=0}^{m−1} x².
fn sq_sum(m: u64) -> u64 {
    if m == 0 {
        0
    } else {
        (m - 1) * m * (2 * m - 1) / 6
    }
}

/// Area, bounding box, centroid and central second moments of every label
/// 1..=count (index i holds label i + 1; absent labels have area 0).
/// Integer sums, so the result is exact and thread-independent.
#[must_use]
pub fn regions(labels: &Labels) -> Vec<RegionStats> {
    let (w, h) = (labels.width, labels.height);
    let mut acc = vec![
        Acc {
            x0: u32::MAX,
            y0: u32::MAX,
            ..Acc::default()
        };
        labels.count as usize
    ];
    for y in 0..h {
        let row = &labels.data[y * w..(y + 1) * w];
        let mut x = 0;
        while x < w {
            let l = row[x];
            let x0 = x;
            while x < w && row[x] == l {
                x += 1;
            }
            if l == 0 || l > labels.count {
                continue;
            }
            let a = &mut acc[l as usize - 1];
            let (n, yy) = ((x - x0) as u64, y as u64);
            let sx = (x0 as u64 + x as u64 - 1) * n / 2;
            a.n += n;
            a.sx += sx;
            a.sxx += sq_sum(x as u64) - sq_sum(x0 as u64);
            a.sy += n * yy;
            a.syy += n * yy * yy;
            a.sxy += sx * yy;
            a.x0 = a.x0.min(x0 as u32);
            a.x1 = a.x1.max(x as u32 - 1);
            a.y0 = a.y0.min(y as u32);
            a.y1 = a.y1.max(y as u32);
        }
    }
    acc.iter()
        .enumerate()
        .map(|(i, a)| {
            let n = a.n.max(1) as f64;
            let (cx, cy) = (a.sx as f64 / n, a.sy as f64 / n);
            let empty = a.n == 0;
            RegionStats {
                label: i as u32 + 1,
                area_px: a.n,
                bbox_x_min: if empty { 0 } else { a.x0 },
                bbox_y_min: if empty { 0 } else { a.y0 },
                bbox_x_max: a.x1,
                bbox_y_max: a.y1,
                centroid_x: cx,
                centroid_y: cy,
                mu20_px2: (a.sxx as f64 / n - cx * cx).max(0.0),
                mu11_px2: a.sxy as f64 / n - cx * cy,
                mu02_px2: (a.syy as f64 / n - cy * cy).max(0.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The runs of each row found cell by cell (the first way they were
    /// read): the reference of [`next_with`]'s eight-at-a-time scan.
    fn runs_reference(mask: &[bool], w: usize, h: usize) -> (Vec<usize>, Vec<(u32, u32)>) {
        let (mut row_start, mut runs) = (Vec::new(), Vec::new());
        for y in 0..h {
            row_start.push(runs.len());
            let row = &mask[y * w..(y + 1) * w];
            let mut x = 0;
            while x < w {
                if row[x] {
                    let x0 = x;
                    while x < w && row[x] {
                        x += 1;
                    }
                    runs.push((x0 as u32, x as u32));
                } else {
                    x += 1;
                }
            }
        }
        row_start.push(runs.len());
        (row_start, runs)
    }

    #[test]
    fn runs_read_eight_at_a_time_equal_the_cell_by_cell_runs() {
        let mut rnd = crate::testing::xorshift32(0x1234_5677);
        let mut c = Components::default();
        for case in 0..500 {
            let (w, h) = (1 + rnd() as usize % 70, 1 + rnd() as usize % 20);
            // Sparse to full, and long runs (a run continues with high odds).
            let (density, keep) = (rnd() % 17, rnd() % 16);
            let mut prev = false;
            let m: Vec<bool> = (0..w * h)
                .map(|_| {
                    prev = if rnd() % 16 < keep {
                        prev
                    } else {
                        rnd() % 16 < density
                    };
                    prev
                })
                .collect();
            c.build(&m, w, h, Connectivity::Eight);
            let (row_start, runs) = runs_reference(&m, w, h);
            assert_eq!(c.row_start, row_start, "case {case} ({w} × {h})");
            let got: Vec<(u32, u32)> = c.runs.iter().map(|r| (r.x0, r.x1)).collect();
            assert_eq!(got, runs, "case {case} ({w} × {h})");
        }
    }

    /// Flood fill in raster order: the reference labelling.
    fn naive(mask: &Mask, conn: Connectivity) -> (Vec<u32>, u32) {
        let (w, h) = (mask.width as isize, mask.height as isize);
        let mut out = vec![0u32; mask.data.len()];
        let mut count = 0;
        for start in 0..mask.data.len() {
            if !mask.data[start] || out[start] != 0 {
                continue;
            }
            count += 1;
            let mut stack = vec![start];
            out[start] = count;
            while let Some(i) = stack.pop() {
                let (x, y) = ((i as isize) % w, (i as isize) / w);
                for dy in -1..=1isize {
                    for dx in -1..=1isize {
                        if (dx == 0 && dy == 0)
                            || (conn == Connectivity::Four && dx != 0 && dy != 0)
                        {
                            continue;
                        }
                        let (xx, yy) = (x + dx, y + dy);
                        if xx < 0 || yy < 0 || xx >= w || yy >= h {
                            continue;
                        }
                        let j = (yy * w + xx) as usize;
                        if mask.data[j] && out[j] == 0 {
                            out[j] = count;
                            stack.push(j);
                        }
                    }
                }
            }
        }
        (out, count)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn agrees_with_flood_fill(w in 1usize..40, h in 1usize..150, p in 0.2f64..0.7, seed in proptest::collection::vec(proptest::bool::ANY, 64)) {
            // Cheap pseudo-random mask with density ≈ p (tall, to cross band seams).
            let mut s: u64 = seed.iter().fold(17, |a, &b| a.wrapping_mul(31).wrapping_add(b as u64 + 1));
            let data = (0..w * h).map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) as f64 / (1u64 << 31) as f64) < p
            }).collect();
            let m = Mask { width: w, height: h, data };
            for conn in [Connectivity::Four, Connectivity::Eight] {
                let l = label_with(&m, conn);
                let (d, c) = naive(&m, conn);
                prop_assert_eq!(l.count, c);
                // Each component's pixels, as a raster scan gathers them.
                let mut gathered = vec![Vec::new(); c as usize];
                for (i, &v) in d.iter().enumerate() {
                    if v != 0 {
                        gathered[v as usize - 1].push(i);
                    }
                }
                prop_assert_eq!(component_pixels(&m, conn), gathered);
                prop_assert_eq!(l.data, d);
            }
        }

        #[test]
        fn label_into_reused_buffers_equals_label(sizes in proptest::collection::vec((1usize..60, 1usize..300, 0.1f64..0.8), 1..4), seed in 0u64..1000) {
            // One set of buffers for several masks (large ones take the
            // parallel path), and a label plane holding junk.
            let mut comps = Components::default();
            let mut out = vec![u32::MAX; 77];
            let mut s = seed.wrapping_add(99);
            for (w, h, p) in sizes {
                let data: Vec<bool> = (0..w * h).map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 33) as f64 / (1u64 << 31) as f64) < p
                }).collect();
                let m = Mask { width: w, height: h, data };
                let want = label(&m);
                let count = label_into(&m.data, w, h, &mut comps, &mut out);
                prop_assert_eq!(count, want.count);
                prop_assert_eq!(&out, &want.data);
                for y in 0..h {
                    let row = &want.data[y * w..(y + 1) * w];
                    let span = match row.iter().position(|&v| v != 0) {
                        Some(a) => (a, w - row.iter().rev().position(|&v| v != 0).unwrap_or(0)),
                        None => (0, 0),
                    };
                    prop_assert_eq!(comps.row_span(y), span);
                }
            }
        }

        #[test]
        fn seeded_labels_equal_label_kept_and_renumbered(w in 1usize..60, h in 1usize..300, p in 0.1f64..0.8, q in 0.0f64..0.05, seed in 0u64..1000) {
            let mut s = seed.wrapping_add(7);
            let mut rnd = || {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 33) as f64 / (1u64 << 31) as f64
            };
            let data: Vec<bool> = (0..w * h).map(|_| rnd() < p).collect();
            let seeds: Vec<bool> = (0..w * h).map(|_| rnd() < q).collect();
            let all = label(&Mask { width: w, height: h, data: data.clone() });
            let mut keep = vec![0u32; all.count as usize + 1];
            for (&l, &sd) in all.data.iter().zip(&seeds) {
                if l > 0 && sd {
                    keep[l as usize] = 1;
                }
            }
            let mut n = 0;
            for k in keep.iter_mut().skip(1).filter(|k| **k > 0) {
                n += 1;
                *k = n;
            }
            let want: Vec<u32> = all.data.iter().map(|&l| keep[l as usize]).collect();
            let (mut comps, mut out) = (Components::default(), vec![9u32; 5]);
            let count = label_seeded_into(&data, &seeds, w, h, &mut comps, &mut out);
            prop_assert_eq!(count, n);
            prop_assert_eq!(out, want);
        }
    }

    #[test]
    fn u_shape_merges_across_band_seam() {
        let (w, h) = (5, 200);
        let mut m = Mask::filled(w, h, false);
        for y in 0..h {
            m.data[y * w] = true;
            m.data[y * w + 4] = true;
        }
        for x in 0..w {
            m.data[(h - 1) * w + x] = true;
        }
        let l = label(&m);
        assert_eq!(l.count, 1);
        // Diagonal touch: one component in 8, two in 4.
        let d = Mask {
            width: 2,
            height: 2,
            data: vec![true, false, false, true],
        };
        assert_eq!(label(&d).count, 1);
        assert_eq!(label_with(&d, Connectivity::Four).count, 2);
        assert_eq!(label(&Mask::default()).count, 0);
        assert_eq!(label(&Mask::filled(1, 1, true)).data, vec![1]);
    }

    #[test]
    fn region_stats_of_a_rectangle_and_a_line() {
        let (w, h) = (20, 10);
        let mut m = Mask::filled(w, h, false);
        for y in 2..5 {
            for x in 3..10 {
                m.data[y * w + x] = true;
            }
        }
        for i in 0..6 {
            m.data[(4 + i) * w + 12 + i] = true; // diagonal line
        }
        let l = label(&m);
        assert_eq!(l.count, 2);
        let r = regions(&l);
        let a = &r[0];
        assert_eq!(a.area_px, 21);
        assert_eq!(
            (a.bbox_x_min, a.bbox_y_min, a.bbox_x_max, a.bbox_y_max),
            (3, 2, 9, 4)
        );
        assert!((a.centroid_x - 6.0).abs() < 1e-12 && (a.centroid_y - 3.0).abs() < 1e-12);
        // Discrete uniform variance: (n² − 1)/12.
        assert!((a.mu20_px2 - 4.0).abs() < 1e-12);
        assert!((a.mu02_px2 - 8.0 / 12.0).abs() < 1e-12);
        assert!(a.mu11_px2.abs() < 1e-12);
        assert!(a.orientation_rad().abs() < 1e-12);
        let b = &r[1];
        assert_eq!(b.area_px, 6);
        assert!((b.orientation_rad() - std::f64::consts::FRAC_PI_4).abs() < 1e-12);
        assert!(b.elongation().is_infinite());
    }

    #[test]
    fn hysteresis_keeps_only_seeded_components() {
        let p = Plane::from_vec(
            7,
            2,
            vec![
                0.1,
                0.5,
                0.6,
                0.0,
                0.5,
                0.5,
                0.9, //
                0.5,
                0.0,
                0.0,
                0.0,
                f32::NAN,
                0.0,
                0.0,
            ],
        );
        let m = hysteresis(&p, 0.4, 0.8);
        assert_eq!(
            m.data,
            vec![
                false, false, false, false, true, true, true, //
                false, false, false, false, false, false, false
            ]
        );
        // high < low acts as low.
        assert_eq!(hysteresis(&p, 0.4, 0.0).count(), 6);
        assert_eq!(hysteresis(&Plane::default(), 0.0, 1.0).count(), 0);
    }
}
