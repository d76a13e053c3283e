//! Binary-image helpers the vessel stage needs before the shared kernels
//! (labelling, morphology, distance transform, thinning) land in
//! `crate::kernels`. Written here deliberately small and serial; to be
//! replaced by the kernels versions (tell the lead).

use crate::image::Labels;

/// 8-connected components of `mask` (w × h), labels 1.. in raster order of
/// each component's first pixel.
pub(crate) fn label8(mask: &[bool], w: usize, h: usize) -> Labels {
    let mut parent: Vec<u32> = vec![0];
    let mut lab = vec![0u32; w * h];
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            p[x as usize] = p[p[x as usize] as usize];
            x = p[x as usize];
        }
        x
    }
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !mask[i] {
                continue;
            }
            let mut best = 0u32;
            let mut neigh = [0u32; 4];
            if x > 0 {
                neigh[0] = lab[i - 1];
            }
            if y > 0 {
                neigh[1] = lab[i - w];
                if x > 0 {
                    neigh[2] = lab[i - w - 1];
                }
                if x + 1 < w {
                    neigh[3] = lab[i - w + 1];
                }
            }
            for &n in &neigh {
                if n > 0 {
                    let r = find(&mut parent, n);
                    if best == 0 || r < best {
                        best = r;
                    }
                }
            }
            if best == 0 {
                best = parent.len() as u32;
                parent.push(best);
            } else {
                for &n in &neigh {
                    if n > 0 {
                        let r = find(&mut parent, n);
                        let (lo, hi) = (r.min(best), r.max(best));
                        parent[hi as usize] = lo;
                        best = lo;
                    }
                }
            }
            lab[i] = best;
        }
    }
    // Compact: roots in order of first appearance.
    let mut remap = vec![0u32; parent.len()];
    let mut next = 0u32;
    for l in lab.iter_mut() {
        if *l > 0 {
            let r = find(&mut parent, *l);
            if remap[r as usize] == 0 {
                next += 1;
                remap[r as usize] = next;
            }
            *l = remap[r as usize];
        }
    }
    Labels {
        width: w,
        height: h,
        data: lab,
        count: next,
    }
}

/// Grey dilation (max) over a (2r+1)² square, separable, edge-clamped.
pub(crate) fn max_filter(data: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut tmp = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &data[y * w..(y + 1) * w];
        for x in 0..w {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(w - 1);
            tmp[y * w + x] = row[lo..=hi].iter().copied().fold(f32::MIN, f32::max);
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(h - 1);
        for x in 0..w {
            let mut m = f32::MIN;
            for yy in lo..=hi {
                m = m.max(tmp[yy * w + x]);
            }
            out[y * w + x] = m;
        }
    }
    out
}

/// Squared Euclidean distance of every pixel to the nearest `false` pixel
/// (Felzenszwalb–Huttenlocher), in px². Pixels outside the image count as
/// `false`.
pub(crate) fn edt2(mask: &[bool], w: usize, h: usize) -> Vec<f32> {
    const INF: f32 = 1e20;
    let (wp, hp) = (w + 2, h + 2);
    let mut f = vec![0.0f32; wp * hp];
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] {
                f[(y + 1) * wp + x + 1] = INF;
            }
        }
    }
    let mut col = vec![0.0f32; wp.max(hp)];
    let mut d = vec![0.0f32; wp.max(hp)];
    let mut v = vec![0usize; wp.max(hp)];
    let mut z = vec![0.0f32; wp.max(hp) + 1];
    let mut dt1 = |src: &[f32], n: usize, out: &mut [f32]| {
        let mut k = 0usize;
        v[0] = 0;
        z[0] = f32::MIN;
        z[1] = f32::MAX;
        for q in 1..n {
            loop {
                let p = v[k];
                let s = ((src[q] + (q * q) as f32) - (src[p] + (p * p) as f32))
                    / (2.0 * (q as f32 - p as f32));
                if s <= z[k] && k > 0 {
                    k -= 1;
                    continue;
                }
                if s <= z[k] {
                    // k == 0
                    v[0] = q;
                    z[0] = f32::MIN;
                    z[1] = f32::MAX;
                    break;
                }
                k += 1;
                v[k] = q;
                z[k] = s;
                z[k + 1] = f32::MAX;
                break;
            }
        }
        k = 0;
        for (q, o) in out.iter_mut().enumerate().take(n) {
            while z[k + 1] < q as f32 {
                k += 1;
            }
            let p = v[k];
            *o = (q as f32 - p as f32).powi(2) + src[p];
        }
    };
    for x in 0..wp {
        for y in 0..hp {
            col[y] = f[y * wp + x];
        }
        dt1(&col[..hp], hp, &mut d[..hp]);
        for y in 0..hp {
            f[y * wp + x] = d[y];
        }
    }
    for y in 0..hp {
        col[..wp].copy_from_slice(&f[y * wp..(y + 1) * wp]);
        dt1(&col[..wp], wp, &mut d[..wp]);
        f[y * wp..(y + 1) * wp].copy_from_slice(&d[..wp]);
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = f[(y + 1) * wp + x + 1];
        }
    }
    out
}

/// Zhang–Suen thinning of a small binary image (in place).
pub(crate) fn thin(img: &mut [bool], w: usize, h: usize) {
    let at = |img: &[bool], x: isize, y: isize| -> bool {
        x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h && img[y as usize * w + x as usize]
    };
    let mut del = Vec::new();
    loop {
        let mut changed = false;
        for pass in 0..2 {
            del.clear();
            for y in 0..h as isize {
                for x in 0..w as isize {
                    if !img[y as usize * w + x as usize] {
                        continue;
                    }
                    let p = [
                        at(img, x, y - 1),
                        at(img, x + 1, y - 1),
                        at(img, x + 1, y),
                        at(img, x + 1, y + 1),
                        at(img, x, y + 1),
                        at(img, x - 1, y + 1),
                        at(img, x - 1, y),
                        at(img, x - 1, y - 1),
                    ];
                    let b = p.iter().filter(|&&v| v).count();
                    if !(2..=6).contains(&b) {
                        continue;
                    }
                    let a = (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count();
                    if a != 1 {
                        continue;
                    }
                    let ok = if pass == 0 {
                        !(p[2] && p[4] && (p[0] || p[6]))
                    } else {
                        !(p[0] && p[6] && (p[2] || p[4]))
                    };
                    if ok {
                        del.push(y as usize * w + x as usize);
                    }
                }
            }
            for &i in &del {
                img[i] = false;
            }
            changed |= !del.is_empty();
        }
        if !changed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_two_blobs_and_a_diagonal() {
        let m = [
            true, false, false, true, //
            false, true, false, true, //
            false, false, false, false,
        ];
        let l = label8(&m, 4, 3);
        assert_eq!(l.count, 2);
        assert_eq!(l.data[0], 1);
        assert_eq!(l.data[5], 1);
        assert_eq!(l.data[3], 2);
    }

    #[test]
    fn edt_of_a_square() {
        let (w, h) = (7, 7);
        let m: Vec<bool> = (0..49)
            .map(|i| (1..6).contains(&(i % 7)) && (1..6).contains(&(i / 7)))
            .collect();
        let d = edt2(&m, w, h);
        assert_eq!(d[3 * 7 + 3], 9.0);
        assert_eq!(d[7 + 1], 1.0);
        assert_eq!(d[0], 0.0);
    }

    #[test]
    fn thinning_a_bar_leaves_a_line() {
        let (w, h) = (20, 7);
        let mut m: Vec<bool> = (0..w * h)
            .map(|i| (2..18).contains(&(i % w)) && (2..5).contains(&(i / w)))
            .collect();
        thin(&mut m, w, h);
        let n = m.iter().filter(|&&b| b).count();
        assert!((10..=16).contains(&n), "{n}");
        assert!(m.iter().enumerate().all(|(i, &b)| !b || i / w == 3));
    }
}
