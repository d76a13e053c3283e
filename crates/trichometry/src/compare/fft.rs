//! A small radix-2 complex FFT (power-of-two sizes): all that phase
//! correlation needs, so no FFT dependency. f32 data, f64 twiddles.

use rayon::prelude::*;

/// A complex number.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cpx {
    pub re: f32,
    pub im: f32,
}

impl Cpx {
    #[inline]
    pub fn new(re: f32, im: f32) -> Self {
        Cpx { re, im }
    }
    #[inline]
    fn mul(self, o: Cpx) -> Cpx {
        Cpx::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
    #[inline]
    pub fn norm(self) -> f32 {
        (self.re * self.re + self.im * self.im).sqrt()
    }
}

/// A plan for one power-of-two length.
pub(crate) struct Fft {
    n: usize,
    twiddles: Vec<Cpx>,
    rev: Vec<u32>,
}

impl Fft {
    /// Plan for length `n` (a power of two ≥ 1).
    pub fn new(n: usize) -> Self {
        assert!(n.is_power_of_two(), "FFT length must be a power of two");
        let bits = n.trailing_zeros();
        let rev = (0..n as u32)
            .map(|i| {
                if bits == 0 {
                    0
                } else {
                    i.reverse_bits() >> (32 - bits)
                }
            })
            .collect();
        let twiddles = (0..n / 2)
            .map(|k| {
                let a = -std::f64::consts::TAU * k as f64 / n as f64;
                Cpx::new(a.cos() as f32, a.sin() as f32)
            })
            .collect();
        Fft { n, twiddles, rev }
    }

    /// In-place transform; `inverse` is unnormalised (the caller divides by n).
    pub fn run(&self, buf: &mut [Cpx], inverse: bool) {
        let n = self.n;
        debug_assert_eq!(buf.len(), n);
        for i in 0..n {
            let j = self.rev[i] as usize;
            if j > i {
                buf.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let half = len / 2;
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..half {
                    let mut w = self.twiddles[k * step];
                    if inverse {
                        w.im = -w.im;
                    }
                    let a = buf[start + k];
                    let b = buf[start + k + half].mul(w);
                    buf[start + k] = Cpx::new(a.re + b.re, a.im + b.im);
                    buf[start + k + half] = Cpx::new(a.re - b.re, a.im - b.im);
                }
            }
            len <<= 1;
        }
    }
}

fn transpose(src: &[Cpx], w: usize, h: usize, dst: &mut [Cpx]) {
    // dst is h wide, w high.
    dst.par_chunks_mut(h).enumerate().for_each(|(x, row)| {
        for (y, v) in row.iter_mut().enumerate() {
            *v = src[y * w + x];
        }
    });
}

thread_local! {
    /// Plans by log2 of the length: block matching runs hundreds of small
    /// transforms of one size, and a plan costs n sines and cosines.
    static PLANS: std::cell::RefCell<Vec<Option<std::rc::Rc<Fft>>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The plan for length `n` (a power of two), cached per thread.
fn plan(n: usize) -> std::rc::Rc<Fft> {
    let k = n.trailing_zeros() as usize;
    PLANS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() <= k {
            p.resize(k + 1, None);
        }
        p[k].get_or_insert_with(|| std::rc::Rc::new(Fft::new(n)))
            .clone()
    })
}

/// 2-D transform of a row-major `w × h` buffer (both powers of two), in place.
/// The inverse is normalised (divides by w·h).
pub(crate) fn fft2(data: &mut [Cpx], w: usize, h: usize, inverse: bool) {
    let (fw, fh) = (plan(w), plan(h));
    let parallel = w * h >= 1 << 14;
    let rows = |d: &mut [Cpx], f: &Fft, len: usize| {
        if parallel {
            d.par_chunks_mut(len).for_each(|r| f.run(r, inverse));
        } else {
            d.chunks_mut(len).for_each(|r| f.run(r, inverse));
        }
    };
    rows(data, &fw, w);
    let mut t = vec![Cpx::default(); w * h];
    transpose(data, w, h, &mut t);
    rows(&mut t, &fh, h);
    transpose(&t, h, w, data);
    if inverse {
        let s = 1.0 / (w * h) as f32;
        for v in data.iter_mut() {
            v.re *= s;
            v.im *= s;
        }
    }
}

/// Where and how clearly two same-size real images line up under a shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Peak {
    /// Shift (sub-pixel) such that `a(x) ≈ b(x − d)`.
    pub dx: f64,
    /// Shift along y.
    pub dy: f64,
    /// Peak-to-sidelobe ratio: (peak − mean) / std of the surface outside a
    /// window around the peak.
    pub psr: f64,
}

/// Spectra of two real `w × h` images from one complex transform: with
/// `z = a + i·b`, `A[k] = (Z[k] + conj Z[−k]) / 2` and
/// `B[k] = (Z[k] − conj Z[−k]) / 2i`.
pub(crate) fn fft2_real_pair(a: &[f32], b: &[f32], w: usize, h: usize) -> (Vec<Cpx>, Vec<Cpx>) {
    let mut z: Vec<Cpx> = a.iter().zip(b).map(|(&x, &y)| Cpx::new(x, y)).collect();
    fft2(&mut z, w, h, false);
    let mut fa = vec![Cpx::default(); w * h];
    let mut fb = vec![Cpx::default(); w * h];
    let parallel = w * h >= 1 << 14;
    let unpack = |ky: usize, ra: &mut [Cpx], rb: &mut [Cpx]| {
        let my = (h - ky) % h;
        for kx in 0..w {
            let p = z[ky * w + kx];
            let q = z[my * w + (w - kx) % w];
            // conj(q) = (q.re, −q.im).
            ra[kx] = Cpx::new(0.5 * (p.re + q.re), 0.5 * (p.im - q.im));
            // (p − conj q) / 2i = ((p.im + q.im), −(p.re − q.re)) / 2.
            rb[kx] = Cpx::new(0.5 * (p.im + q.im), -0.5 * (p.re - q.re));
        }
    };
    if parallel {
        fa.par_chunks_mut(w)
            .zip(fb.par_chunks_mut(w))
            .enumerate()
            .for_each(|(ky, (ra, rb))| unpack(ky, ra, rb));
    } else {
        fa.chunks_mut(w)
            .zip(fb.chunks_mut(w))
            .enumerate()
            .for_each(|(ky, (ra, rb))| unpack(ky, ra, rb));
    }
    (fa, fb)
}

/// The correlation surface of two spectra: the inverse transform of the
/// normalised cross-power spectrum `FA · conj FB / |FA · conj FB|`.
pub(crate) fn cross_power_surface(fa: &[Cpx], fb: &[Cpx], w: usize, h: usize) -> Vec<f32> {
    let mut c: Vec<Cpx> = fa
        .iter()
        .zip(fb)
        .map(|(x, y)| {
            let c = x.mul(Cpx::new(y.re, -y.im));
            let n = c.norm().max(1e-12);
            Cpx::new(c.re / n, c.im / n)
        })
        .collect();
    fft2(&mut c, w, h, true);
    c.iter().map(|c| c.re).collect()
}

/// Phase correlation of two real `w × h` images (powers of two), already
/// windowed by the caller. Returns the shift `d` with `a(x) ≈ b(x − d)`.
pub(crate) fn phase_correlate(a: &[f32], b: &[f32], w: usize, h: usize) -> Peak {
    let (fa, fb) = fft2_real_pair(a, b, w, h);
    peak_of(&cross_power_surface(&fa, &fb, w, h), w, h)
}

/// Like [`phase_correlate`], but the `k` highest separated peaks (each
/// found after blanking a 7 × 7 window around the previous ones).
pub(crate) fn phase_correlate_peaks(
    a: &[f32],
    b: &[f32],
    w: usize,
    h: usize,
    k: usize,
) -> Vec<Peak> {
    let (fa, fb) = fft2_real_pair(a, b, w, h);
    peaks_of(cross_power_surface(&fa, &fb, w, h), w, h, k)
}

/// The `k` strongest peaks of a correlation surface (wrapped coordinates),
/// strongest first, each refined as by [`peak_of`]; the 7×7 pixels around
/// each are cleared before the next is sought.
pub(crate) fn peaks_of(mut surf: Vec<f32>, w: usize, h: usize, k: usize) -> Vec<Peak> {
    let floor = surf.iter().copied().fold(f32::INFINITY, f32::min);
    let mut out = Vec::new();
    for _ in 0..k {
        let p = peak_of(&surf, w, h);
        out.push(p);
        let (cx, cy) = (p.dx.round() as isize, p.dy.round() as isize);
        for dy in -3..=3isize {
            for dx in -3..=3isize {
                let x = (cx + dx).rem_euclid(w as isize) as usize;
                let y = (cy + dy).rem_euclid(h as isize) as usize;
                surf[y * w + x] = floor;
            }
        }
    }
    out
}

/// The peak of a correlation surface (wrapped coordinates), refined to
/// sub-pixel by a parabola through the neighbours on each axis.
pub(crate) fn peak_of(surf: &[f32], w: usize, h: usize) -> Peak {
    let mut best = 0;
    for (i, &v) in surf.iter().enumerate() {
        if v > surf[best] {
            best = i;
        }
    }
    let (px, py) = (best % w, best / w);
    let at = |x: isize, y: isize| -> f64 {
        let xx = x.rem_euclid(w as isize) as usize;
        let yy = y.rem_euclid(h as isize) as usize;
        surf[yy * w + xx] as f64
    };
    let (xi, yi) = (px as isize, py as isize);
    let c = at(xi, yi);
    let sub = |m: f64, p: f64| {
        let den = m - 2.0 * c + p;
        if den.abs() > 1e-12 {
            (0.5 * (m - p) / den).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    let ox = sub(at(xi - 1, yi), at(xi + 1, yi));
    let oy = sub(at(xi, yi - 1), at(xi, yi + 1));
    let wrap = |p: usize, n: usize| {
        if p > n / 2 {
            p as f64 - n as f64
        } else {
            p as f64
        }
    };
    // Sidelobe statistics outside a (2r+1)² window around the peak: sums
    // over the whole surface minus those over the window.
    let r = 5isize;
    let (mut s, mut s2) = (0.0f64, 0.0f64);
    for &v in surf {
        let v = v as f64;
        s += v;
        s2 += v * v;
    }
    let (rx, ry) = (r.min((w as isize - 1) / 2), r.min((h as isize - 1) / 2));
    for dy in -ry..=ry {
        for dx in -rx..=rx {
            let v = at(xi + dx, yi + dy);
            s -= v;
            s2 -= v * v;
        }
    }
    let k = w * h - ((2 * rx + 1) * (2 * ry + 1)) as usize;
    let psr = if k > 1 {
        let mean = s / k as f64;
        let sd = (s2 / k as f64 - mean * mean).max(1e-24).sqrt();
        (c - mean) / sd
    } else {
        0.0
    };
    Peak {
        dx: wrap(px, w) + ox,
        dy: wrap(py, h) + oy,
        psr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn fft_matches_naive_dft() {
        let n = 16;
        let x: Vec<Cpx> = (0..n)
            .map(|i| Cpx::new((i as f32 * 0.7).sin(), (i as f32 * 0.3).cos()))
            .collect();
        let mut y = x.clone();
        Fft::new(n).run(&mut y, false);
        for k in 0..n {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (j, v) in x.iter().enumerate() {
                let a = -std::f64::consts::TAU * (j * k) as f64 / n as f64;
                re += v.re as f64 * a.cos() - v.im as f64 * a.sin();
                im += v.re as f64 * a.sin() + v.im as f64 * a.cos();
            }
            assert!((y[k].re as f64 - re).abs() < 1e-4, "{k}");
            assert!((y[k].im as f64 - im).abs() < 1e-4, "{k}");
        }
    }

    #[test]
    fn fft2_round_trip() {
        let (w, h) = (32, 8);
        let x: Vec<Cpx> = (0..w * h)
            .map(|i| Cpx::new((i as f32 * 0.37).sin(), 0.0))
            .collect();
        let mut y = x.clone();
        fft2(&mut y, w, h, false);
        fft2(&mut y, w, h, true);
        for (a, b) in x.iter().zip(&y) {
            assert!((a.re - b.re).abs() < 1e-5 && b.im.abs() < 1e-5);
        }
    }

    #[test]
    fn phase_correlation_finds_a_known_shift() {
        // A random texture and its circular shift by (3, −5).
        let (w, h) = (64usize, 64usize);
        let mut state = 12345u64;
        let b: Vec<f32> = (0..w * h)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let (dx, dy) = (3isize, -5isize);
        let a: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as isize, (i / w) as isize);
                let sx = (x - dx).rem_euclid(w as isize) as usize;
                let sy = (y - dy).rem_euclid(h as isize) as usize;
                b[sy * w + sx]
            })
            .collect();
        let p = phase_correlate(&a, &b, w, h);
        assert!(
            (p.dx - 3.0).abs() < 0.05 && (p.dy + 5.0).abs() < 0.05,
            "{p:?}"
        );
        assert!(p.psr > 20.0, "{p:?}");
    }
}
