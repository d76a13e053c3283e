//! Separable Gaussian smoothing with a replicate ("nearest") border.
//!
//! * σ < [`IIR_MIN_SIGMA`]: a sampled, normalised FIR kernel of radius ⌈4σ⌉,
//!   vertical and horizontal passes fused per band of 32 output rows (no
//!   intermediate plane), register-blocked in chunks of 64 values so that the
//!   accumulators stay in vector registers; AVX2/AVX-512 copies are chosen at
//!   run time and give the same bits as the baseline build.
//! * [`IIR_MIN_SIGMA`] ≤ σ ≤ [`PYRAMID_SIGMA`]: the 5-pole recursive filter of
//!   Vliet, Young and Verbeek (ICPR 1998), with the poles scaled so that the
//!   impulse response has variance exactly σ² (as in Getreuer, "A Survey of
//!   Gaussian Convolution Algorithms", IPOL 2013). Cost does not depend on σ.
//!   The recursion state is kept in f64 (in f32 the 5th-order recursion loses
//!   accuracy as σ grows) and the right border is initialised exactly for a
//!   replicated edge by a 5×5 matrix computed once per call.
//! * σ > [`PYRAMID_SIGMA`]: 2×2 box downsample, blur at about σ/2, bilinear
//!   upsample (the box and the interpolation add variance 1 px², which is
//!   subtracted). Only reached for very large σ, where this is accurate.

use super::bilinear::{downsample2, upsample_to};
use super::pages::reuse_len;
use crate::image::Plane;
use rayon::prelude::*;

/// Below this σ (in px) the FIR path is used.
pub(crate) const IIR_MIN_SIGMA: f32 = 8.0;
/// Above this σ (in px) the plane is halved first.
pub(crate) const PYRAMID_SIGMA: f32 = 64.0;
/// σ below this is treated as "no smoothing" (the kernel would be a delta).
const MIN_SIGMA: f32 = 0.05;

/// Gaussian blur with standard deviation `sigma_px` (pixels), border = nearest.
///
/// Degenerate input is handled: `sigma_px` ≤ 0.05 or NaN returns a copy; a
/// huge (even infinite) σ tends to the replicate-border mean; 1×1 and empty
/// planes are fine. Deterministic for any number of rayon threads.
///
/// ```
/// use trichometry::{kernels::gaussian_blur, Plane};
/// let mut p = Plane::filled(9, 9, 0.0);
/// p.data[4 * 9 + 4] = 1.0;
/// let g = gaussian_blur(&p, 1.0);
/// let sum: f32 = g.data.iter().sum();
/// assert!((sum - 1.0).abs() < 1e-4);
/// assert!((g.get(4, 4) - 0.1592).abs() < 2e-3); // ≈ 1 / (2π σ²)
/// ```
#[must_use = "the function does not modify the original image"]
pub fn gaussian_blur(image: &Plane, sigma_px: f32) -> Plane {
    let (w, h) = (image.width, image.height);
    assert_eq!(image.data.len(), w * h, "plane buffer size");
    // NaN compares false: treated as "no smoothing".
    if w == 0 || h == 0 || sigma_px.is_nan() || sigma_px < MIN_SIGMA {
        return image.clone();
    }
    let sigma = sigma_px.min(f32::MAX);
    if sigma > PYRAMID_SIGMA {
        if w == 1 && h == 1 {
            return image.clone();
        }
        let small = downsample2(image);
        let sc = ((sigma as f64).powi(2) - 1.0).sqrt() / 2.0;
        let blurred = gaussian_blur(&small, sc as f32);
        return upsample_to(&blurred, w, h);
    }
    if sigma < IIR_MIN_SIGMA {
        fir_blur(image, sigma)
    } else {
        iir_blur(image, sigma)
    }
}

/// The FIR filter [`gaussian_blur`] uses at `sigma_px`, if it uses one:
/// `Fir::band` then gives exactly the same bits as `gaussian_blur`.
pub(crate) fn fir_for(sigma_px: f32) -> Option<Fir> {
    (MIN_SIGMA..IIR_MIN_SIGMA)
        .contains(&sigma_px)
        .then(|| Fir::new(sigma_px))
}

/// Half of a sampled Gaussian, `k[0]` the centre, normalised so that
/// `k[0] + 2 Σ k[1..]` = 1.
fn fir_half_kernel(sigma: f32) -> Vec<f32> {
    let s = sigma as f64;
    let r = (4.0 * s).ceil().max(1.0) as usize;
    let mut k: Vec<f64> = (0..=r)
        .map(|i| (-(i as f64).powi(2) / (2.0 * s * s)).exp())
        .collect();
    let sum = k[0] + 2.0 * k[1..].iter().sum::<f64>();
    k.iter_mut().for_each(|v| *v /= sum);
    k.into_iter().map(|v| v as f32).collect()
}

/// Output rows per parallel FIR task.
const FIR_BAND: usize = 32;
/// Columns per vertical strip (keeps the 2r + band input rows in L2).
const FIR_STRIP: usize = 512;
/// Values per register-blocked chunk of the inner loops.
const CH: usize = 64;
/// Values per chunk of the rest of a row after the `CH` chunks (one AVX2
/// vector), before the last few values one at a time.
const CH_TAIL: usize = 8;

/// A separable sampled-Gaussian FIR filter (see [`fir_half_kernel`]).
#[derive(Debug, Clone)]
pub(crate) struct Fir {
    k: Vec<f32>,
}

impl Fir {
    pub(crate) fn new(sigma: f32) -> Fir {
        Fir {
            k: fir_half_kernel(sigma),
        }
    }

    /// Rows read on each side of an output row.
    pub(crate) fn radius(&self) -> usize {
        self.k.len() - 1
    }

    /// Blur rows `y0..y1` of `image` into `out` (`(y1 − y0) × width`);
    /// `tmp` is scratch reused between calls. Every output value depends only
    /// on the input, never on the band split.
    pub(crate) fn band(
        &self,
        image: &Plane,
        y0: usize,
        y1: usize,
        out: &mut [f32],
        tmp: &mut Vec<f32>,
    ) {
        fir_band(
            &self.k,
            &image.data,
            image.width,
            image.height,
            y0,
            y1,
            out,
            tmp,
        );
    }
}

super::simd::dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn fir_band(k: &[f32], src: &[f32], w: usize, h: usize, y0: usize, y1: usize, out: &mut [f32], tmp: &mut Vec<f32>) => fir_band_body
}

/// Register-blocked FIR: `dst[j] = k0·c[j] + Σ_i k_i·(a_i[j] + b_i[j])` where
/// `(a_i, b_i)` are the inputs at −i and +i; the same operation order in the
/// vector chunks (of `CH`, then `CH_TAIL` values: on the hair stage's
/// 2000-px-wide detection plane the scalar tail of up to 63 values per row
/// and strip took 43 M instructions beside the chunks' 168 M) and the
/// scalar tail, so every path gives the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fir_band_body(
    k: &[f32],
    src: &[f32],
    w: usize,
    h: usize,
    y0: usize,
    y1: usize,
    out: &mut [f32],
    tmp: &mut Vec<f32>,
) {
    let r = k.len() - 1;
    let pw = w + 2 * r;
    let rows = y1 - y0;
    assert_eq!(out.len(), rows * w, "FIR band size");
    // Every value of `tmp` is written before it is read (the vertical pass
    // fills each row's middle `r..r + w`, the horizontal pass its borders),
    // so its old contents stay: zeroing it cost a memset of the whole band
    // per call.
    // Grown only, never shrunk: a call with a narrower kernel (the scales
    // of a band take turns) leaves the rest, so the next wider one does
    // not zero it again (`memset` from here 10.1 → 4.4 M instructions per
    // 12 MP hair call at 3.5 µm/px, callgrind, one thread).
    super::grow(tmp, rows * pw);
    let tmp = &mut tmp[..rows * pw];
    let k0 = k[0];
    // Vertical pass, strip by strip, into the middle of padded rows.
    // `offs[i]` = start of the rows at −i and +i (clamped) for the current row.
    let clamp_row = |y: isize| y.clamp(0, h as isize - 1) as usize * w;
    let mut offs = [(0usize, 0usize); 64];
    let mut offs_vec = Vec::new();
    let offs: &mut [(usize, usize)] = if r < 64 {
        &mut offs[..=r]
    } else {
        offs_vec.resize(r + 1, (0, 0));
        &mut offs_vec
    };
    let mut xs = 0;
    while xs < w {
        let xe = (xs + FIR_STRIP).min(w);
        let n = xe - xs;
        for (j, trow) in tmp.chunks_exact_mut(pw).enumerate() {
            let y = (y0 + j) as isize;
            for (i, o) in offs.iter_mut().enumerate() {
                *o = (
                    clamp_row(y - i as isize) + xs,
                    clamp_row(y + i as isize) + xs,
                );
            }
            let c = &src[offs[0].0..offs[0].0 + n];
            let dst = &mut trow[r + xs..r + xe];
            assert!(fir_rows_reach(offs) + n <= src.len(), "FIR rows");
            let mut x = 0;
            while x + CH <= n {
                // SAFETY: every offset + x + CH ≤ reach + n ≤ src.len()
                // (asserted above).
                unsafe { fir_vertical_chunk::<CH>(k, src, offs, c, x, dst) };
                x += CH;
            }
            while x + CH_TAIL <= n {
                // SAFETY: as above, with x + CH_TAIL ≤ n.
                unsafe { fir_vertical_chunk::<CH_TAIL>(k, src, offs, c, x, dst) };
                x += CH_TAIL;
            }
            for x in x..n {
                let mut acc = k0 * c[x];
                for (&ki, &(oa, ob)) in k[1..].iter().zip(&offs[1..]) {
                    acc += ki * (src[oa + x] + src[ob + x]);
                }
                dst[x] = acc;
            }
        }
        xs = xe;
    }
    // Horizontal pass on each padded row (replicate border).
    for (trow, orow) in tmp.chunks_exact_mut(pw).zip(out.chunks_exact_mut(w)) {
        let (first, last) = (trow[r], trow[r + w - 1]);
        trow[..r].fill(first);
        trow[r + w..].fill(last);
        let t: &[f32] = trow;
        let mut x = 0;
        while x + CH <= w {
            fir_horizontal_chunk::<CH>(k, t, r, x, orow);
            x += CH;
        }
        while x + CH_TAIL <= w {
            fir_horizontal_chunk::<CH_TAIL>(k, t, r, x, orow);
            x += CH_TAIL;
        }
        for x in x..w {
            let mut acc = k0 * t[r + x];
            for (i, &ki) in k.iter().enumerate().skip(1) {
                acc += ki * (t[r + x - i] + t[r + x + i]);
            }
            orow[x] = acc;
        }
    }
}

/// `C` values from `x` of [`fir_band_body`]'s vertical pass: `dst[x + l] =
/// k0·c[x + l] + Σ_i k_i·(a_i + b_i)` with the rows at `offs[i]`.
///
/// The rows are read without bounds checks (they were 22 of the 54
/// instructions per tap of a 64-value chunk, AVX2 copy; session 26: the
/// hair stage at 3.5 µm/px −97.8 M instructions per 12 MP call, 2 µm/px −56.0 M).
///
/// # Safety
///
/// `o + x + C ≤ src.len()` for every offset `o` of `offs[1..]` (the caller
/// checks it once per row: [`fir_rows_reach`]).
#[inline(always)]
unsafe fn fir_vertical_chunk<const C: usize>(
    k: &[f32],
    src: &[f32],
    offs: &[(usize, usize)],
    c: &[f32],
    x: usize,
    dst: &mut [f32],
) {
    let cc: &[f32; C] = c[x..x + C].try_into().expect("chunk");
    let mut acc = [0.0f32; C];
    for l in 0..C {
        acc[l] = k[0] * cc[l];
    }
    let p = src.as_ptr();
    for (&ki, &(oa, ob)) in k[1..].iter().zip(&offs[1..]) {
        // SAFETY: both runs of `C` values end at most at `reach + x + C` ≤
        // `src.len()` (the function's precondition): in bounds, and
        // `[f32; C]` has the alignment of `f32`.
        let (a, b) = unsafe {
            (
                &*(p.add(oa + x) as *const [f32; C]),
                &*(p.add(ob + x) as *const [f32; C]),
            )
        };
        for l in 0..C {
            acc[l] += ki * (a[l] + b[l]);
        }
    }
    dst[x..x + C].copy_from_slice(&acc);
}

/// The largest offset of `offs[1..]` (0 when there is none).
#[inline(always)]
fn fir_rows_reach(offs: &[(usize, usize)]) -> usize {
    offs.iter()
        .skip(1)
        .fold(0, |m, &(oa, ob)| m.max(oa).max(ob))
}

/// `C` values from `x` of [`fir_band_body`]'s horizontal pass over the
/// padded row `t` (`r` values of border on each side) into `orow`.
#[inline(always)]
fn fir_horizontal_chunk<const C: usize>(
    k: &[f32],
    t: &[f32],
    r: usize,
    x: usize,
    orow: &mut [f32],
) {
    let mut acc = [0.0f32; C];
    let cc: &[f32; C] = t[r + x..r + x + C].try_into().expect("chunk");
    for l in 0..C {
        acc[l] = k[0] * cc[l];
    }
    // The taps read `t[x..x + 2r + C]`: checked once here instead of on
    // every tap's two loads (29 of the 61 instructions per tap of a
    // 64-value chunk were bounds checks and their indices; session 26).
    assert!(k.len() == r + 1 && x + 2 * r + C <= t.len(), "FIR taps");
    let p = t.as_ptr();
    for (i, &ki) in k.iter().enumerate().skip(1) {
        // SAFETY: 1 ≤ i ≤ r, so the runs `r + x − i ..` and `r + x + i ..`
        // of `C` values lie in `t[x..x + 2r + C]`, in bounds (asserted
        // above); `[f32; C]` has the alignment of `f32`.
        let (a, b) = unsafe {
            (
                &*(p.add(r + x - i) as *const [f32; C]),
                &*(p.add(r + x + i) as *const [f32; C]),
            )
        };
        for l in 0..C {
            acc[l] += ki * (a[l] + b[l]);
        }
    }
    orow[x..x + C].copy_from_slice(&acc);
}

fn fir_blur(image: &Plane, sigma: f32) -> Plane {
    fir_blur_into(image, sigma, Vec::new())
}

/// The FIR blur into the allocation of `out` (any contents: every value is
/// written; a fresh zeroed plane when it is too small).
fn fir_blur_into(image: &Plane, sigma: f32, out: Vec<f32>) -> Plane {
    let (w, h) = (image.width, image.height);
    let fir = Fir::new(sigma);
    let mut out = reuse_len(out, w * h);
    out.par_chunks_mut(FIR_BAND * w)
        .enumerate()
        .for_each_init(Vec::new, |tmp, (b, chunk)| {
            let y0 = b * FIR_BAND;
            fir.band(image, y0, y0 + chunk.len() / w, chunk, tmp);
        });
    Plane::from_vec(w, h, out)
}

/// Number of poles of the recursive filter.
const K: usize = 5;
/// Lines filtered together (one SIMD-friendly group).
const LANES: usize = 16;

/// Coefficients of `y[n] = b0 x[n] − Σ a[k] y[n−1−k]` and the right-border matrix.
#[derive(Debug, Clone)]
struct Iir {
    b0: f64,
    a: [f64; K],
    /// Maps forward-pass deviations from the last sample (at n−1, n−2, …)
    /// to backward-pass deviations beyond the end (at n, n+1, …).
    m: [[f64; K]; K],
}

#[derive(Debug, Clone, Copy)]
struct C64 {
    re: f64,
    im: f64,
}

impl C64 {
    fn mul(self, o: C64) -> C64 {
        C64 {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn div(self, o: C64) -> C64 {
        let d = o.re * o.re + o.im * o.im;
        C64 {
            re: (self.re * o.re + self.im * o.im) / d,
            im: (self.im * o.re - self.re * o.im) / d,
        }
    }
    fn powf(self, e: f64) -> C64 {
        let r = self.re.hypot(self.im).powf(e);
        let t = self.im.atan2(self.re) * e;
        C64 {
            re: r * t.cos(),
            im: r * t.sin(),
        }
    }
    fn sub_re(self, v: f64) -> C64 {
        C64 {
            re: self.re - v,
            im: self.im,
        }
    }
}

/// Optimised unscaled poles of the 5-pole filter (Vliet, Young, Verbeek 1998).
const POLES0: [C64; K] = [
    C64 {
        re: 0.8643,
        im: 1.45389,
    },
    C64 {
        re: 0.8643,
        im: -1.45389,
    },
    C64 {
        re: 1.61433,
        im: 0.83134,
    },
    C64 {
        re: 1.61433,
        im: -0.83134,
    },
    C64 {
        re: 1.87504,
        im: 0.0,
    },
];

/// Variance of the impulse response with poles `d^(1/q)`.
fn iir_variance(q: f64) -> f64 {
    2.0 * POLES0
        .iter()
        .map(|&d| {
            let z = d.powf(1.0 / q);
            let zm1 = z.sub_re(1.0);
            z.div(zm1.mul(zm1)).re
        })
        .sum::<f64>()
}

impl Iir {
    fn new(sigma: f64) -> Iir {
        let target = sigma * sigma;
        // The variance grows monotonically with q: bisection is robust.
        let (mut lo, mut hi) = (1e-3, sigma + 10.0);
        while iir_variance(hi) < target {
            hi *= 2.0;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if iir_variance(mid) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let q = 0.5 * (lo + hi);
        let poles: Vec<C64> = POLES0.iter().map(|&d| d.powf(1.0 / q)).collect();
        // Denominator Π (p_k − z⁻¹) as a polynomial in z⁻¹.
        let mut poly = vec![C64 { re: 1.0, im: 0.0 }];
        for &p in &poles {
            let mut next = vec![C64 { re: 0.0, im: 0.0 }; poly.len() + 1];
            for (j, &c) in poly.iter().enumerate() {
                let t = c.mul(p);
                next[j].re += t.re;
                next[j].im += t.im;
                next[j + 1].re -= c.re;
                next[j + 1].im -= c.im;
            }
            poly = next;
        }
        let mut a = [0.0f64; K];
        for (k, ak) in a.iter_mut().enumerate() {
            *ak = poly[k + 1].div(poly[0]).re;
        }
        // Unit DC gain by construction.
        let b0 = 1.0 + a.iter().sum::<f64>();
        let rho = poles
            .iter()
            .map(|p| 1.0 / p.re.hypot(p.im))
            .fold(0.0f64, f64::max);
        let tail = ((1e-17f64).ln() / rho.ln()).ceil() as usize + 16;
        let tail = tail.min(1 << 20);
        let mut m = [[0.0f64; K]; K];
        let mut fw = vec![0.0f64; K + tail];
        let mut bw = vec![0.0f64; K + tail + K];
        for i in 0..K {
            fw.fill(0.0);
            fw[K - 1 - i] = 1.0;
            for p in K..K + tail {
                fw[p] = -(0..K).map(|k| a[k] * fw[p - 1 - k]).sum::<f64>();
            }
            bw.fill(0.0);
            for p in (K..K + tail).rev() {
                bw[p] = b0 * fw[p] - (0..K).map(|k| a[k] * bw[p + 1 + k]).sum::<f64>();
            }
            for (j, row) in m.iter_mut().enumerate() {
                row[i] = bw[K + j];
            }
        }
        Iir { b0, a, m }
    }

    /// Filter `LANES` lines of length `n` at once: forward then backward.
    /// `load(i)` gives sample i of each line, `store(i, v)` takes the result.
    #[inline(always)]
    fn lines(
        &self,
        n: usize,
        load: impl Fn(usize) -> [f32; LANES],
        tmp: &mut [[f32; LANES]],
        mut store: impl FnMut(usize, [f32; LANES]),
    ) {
        let (b0, a) = (self.b0, self.a);
        let x0 = load(0);
        let mut s = [[0.0f64; LANES]; K];
        for sk in s.iter_mut() {
            for (v, &x) in sk.iter_mut().zip(&x0) {
                *v = x as f64;
            }
        }
        for (i, t) in tmp[..n].iter_mut().enumerate() {
            let x = load(i);
            let mut y = [0.0f64; LANES];
            for l in 0..LANES {
                y[l] = b0 * x[l] as f64
                    - a[0] * s[0][l]
                    - a[1] * s[1][l]
                    - a[2] * s[2][l]
                    - a[3] * s[3][l]
                    - a[4] * s[4][l];
            }
            s = [y, s[0], s[1], s[2], s[3]];
            for l in 0..LANES {
                t[l] = y[l] as f32;
            }
        }
        let u = load(n - 1);
        let mut t = [[0.0f64; LANES]; K];
        for (j, tj) in t.iter_mut().enumerate() {
            for l in 0..LANES {
                let uf = u[l] as f64;
                let e: f64 = (0..K).map(|i| self.m[j][i] * (s[i][l] - uf)).sum();
                tj[l] = uf + e;
            }
        }
        for i in (0..n).rev() {
            let x = tmp[i];
            let mut y = [0.0f64; LANES];
            let mut yf = [0.0f32; LANES];
            for l in 0..LANES {
                y[l] = b0 * x[l] as f64
                    - a[0] * t[0][l]
                    - a[1] * t[1][l]
                    - a[2] * t[2][l]
                    - a[3] * t[3][l]
                    - a[4] * t[4][l];
                yf[l] = y[l] as f32;
            }
            t = [y, t[0], t[1], t[2], t[3]];
            store(i, yf);
        }
    }
}

fn iir_blur(image: &Plane, sigma: f32) -> Plane {
    let (w, h) = (image.width, image.height);
    let strips = w.div_ceil(LANES);
    let mut inter = super::zeroed_vec::<f32>(strips * LANES * h);
    let out = super::zeroed_vec::<f32>(w * h);
    iir_blur_into(image, sigma, &mut inter, out)
}

/// [`gaussian_blur`] into the allocations of `inter` (the intermediate of
/// the recursive filter, kept for the next call) and `out` (the result),
/// which may hold anything: both are written in full. The same bits as
/// [`gaussian_blur`]; buffers already written by the process are reused
/// without page faults (see `pages`). Used by the FIR (σ <
/// [`IIR_MIN_SIGMA`], `inter` untouched) and recursive filters; the other
/// cases allocate as [`gaussian_blur`] does.
pub(crate) fn gaussian_blur_reusing(
    image: &Plane,
    sigma_px: f32,
    inter: &mut Vec<f32>,
    out: Vec<f32>,
) -> Plane {
    let sigma = sigma_px.min(f32::MAX);
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || sigma_px.is_nan() || !(MIN_SIGMA..=PYRAMID_SIGMA).contains(&sigma) {
        return gaussian_blur(image, sigma_px);
    }
    if sigma < IIR_MIN_SIGMA {
        fir_blur_into(image, sigma, out)
    } else {
        iir_blur_into(image, sigma, inter, out)
    }
}

/// The IIR blur into reused buffers (both written in full).
fn iir_blur_into(image: &Plane, sigma: f32, inter: &mut Vec<f32>, out: Vec<f32>) -> Plane {
    let (w, h) = (image.width, image.height);
    let iir = Iir::new(sigma as f64);
    let src = &image.data;
    // Vertical pass: strips of LANES columns into a strip-major buffer
    // (strip s is `h` rows of LANES values; lanes past the edge repeat it).
    let strips = w.div_ceil(LANES);
    *inter = reuse_len(std::mem::take(inter), strips * LANES * h);
    let mut out = reuse_len(out, w * h);
    inter.par_chunks_mut(LANES * h).enumerate().for_each_init(
        || vec![[0.0f32; LANES]; h],
        |tmp, (s, strip)| iir_vertical(&iir, src, w, h, s * LANES, tmp, strip),
    );
    // Horizontal pass: groups of LANES rows, read across the strips.
    out.par_chunks_mut(LANES * w).enumerate().for_each_init(
        || vec![[0.0f32; LANES]; w],
        |tmp, (g, chunk)| iir_horizontal(&iir, inter, w, h, g * LANES, tmp, chunk),
    );
    Plane::from_vec(w, h, out)
}

// The recursions in AVX2/AVX-512 copies (the same f64 operations per lane,
// so the same bits as the baseline build).
super::simd::dispatch! {
    fn iir_vertical(iir: &Iir, src: &[f32], w: usize, h: usize, x0: usize, tmp: &mut [[f32; LANES]], strip: &mut [f32]) => iir_vertical_body
}
super::simd::dispatch! {
    fn iir_horizontal(iir: &Iir, inter: &[f32], w: usize, h: usize, y0: usize, tmp: &mut [[f32; LANES]], chunk: &mut [f32]) => iir_horizontal_body
}

/// Columns `x0..x0 + LANES` (clamped) filtered down into `strip`.
#[inline(always)]
fn iir_vertical_body(
    iir: &Iir,
    src: &[f32],
    w: usize,
    h: usize,
    x0: usize,
    tmp: &mut [[f32; LANES]],
    strip: &mut [f32],
) {
    let load = |i: usize| {
        let mut v = [0.0f32; LANES];
        let row = &src[i * w..(i + 1) * w];
        for (l, vl) in v.iter_mut().enumerate() {
            *vl = row[(x0 + l).min(w - 1)];
        }
        v
    };
    iir.lines(h, load, tmp, |i, v| {
        strip[i * LANES..(i + 1) * LANES].copy_from_slice(&v);
    });
}

/// Rows `y0..y0 + LANES` (clamped) of the strip-major `inter` filtered
/// across into `chunk`.
#[inline(always)]
fn iir_horizontal_body(
    iir: &Iir,
    inter: &[f32],
    w: usize,
    h: usize,
    y0: usize,
    tmp: &mut [[f32; LANES]],
    chunk: &mut [f32],
) {
    let rows = chunk.len() / w;
    let load = |i: usize| {
        let base = (i / LANES) * LANES * h + i % LANES;
        let mut v = [0.0f32; LANES];
        for (l, vl) in v.iter_mut().enumerate() {
            *vl = inter[base + (y0 + l).min(h - 1) * LANES];
        }
        v
    };
    iir.lines(w, load, tmp, |i, v| {
        for (l, &vl) in v.iter().enumerate().take(rows) {
            chunk[l * w + i] = vl;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gauss1(x: f64, s: f64) -> f64 {
        (-x * x / (2.0 * s * s)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
    }

    /// Impulse at the centre of a plane, blurred, against the analytic 2-D Gaussian.
    fn impulse_error(sigma: f32) -> (f64, f64) {
        let n = (12.0 * sigma).ceil() as usize | 1;
        let c = n / 2;
        let mut p = Plane::filled(n, n, 0.0);
        p.data[c * n + c] = 1.0;
        let g = gaussian_blur(&p, sigma);
        let s = sigma as f64;
        let peak = gauss1(0.0, s).powi(2);
        let mut max_err = 0.0f64;
        let mut sum = 0.0f64;
        for y in 0..n {
            for x in 0..n {
                let v = g.get(x, y) as f64;
                sum += v;
                let t = gauss1(x as f64 - c as f64, s) * gauss1(y as f64 - c as f64, s);
                max_err = max_err.max((v - t).abs());
            }
        }
        (max_err / peak, sum)
    }

    #[test]
    fn impulse_matches_analytic_gaussian() {
        // FIR (sampled) path; at σ = 1 sampling itself costs ~1 % of the peak.
        for &(sigma, tol) in &[(1.0, 0.012), (1.5, 0.005), (2.5, 0.002)] {
            let (err, sum) = impulse_error(sigma);
            assert!(err < tol, "σ={sigma}: max error {err} of peak");
            assert!((sum - 1.0).abs() < 1e-4, "σ={sigma}: sum {sum}");
        }
        // FIR up to σ = 8, then the recursive path (5 poles): better than 0.5 %
        // of the peak everywhere.
        for &sigma in &[3.0f32, 4.0, 7.5, 8.0, 12.0, 20.0, 50.0] {
            let (err, sum) = impulse_error(sigma);
            assert!(err < 5e-3, "σ={sigma}: max error {err} of peak");
            assert!((sum - 1.0).abs() < 1e-3, "σ={sigma}: sum {sum}");
        }
    }

    #[test]
    fn iir_variance_is_sigma_squared() {
        for &sigma in &[3.0f32, 5.0, 8.0, 13.0, 40.0] {
            let n = (16.0 * sigma) as usize | 1;
            let c = n / 2;
            let mut p = Plane::filled(n, 1, 0.0);
            p.data[c] = 1.0;
            let g = gaussian_blur(&p, sigma);
            let var: f64 = g
                .data
                .iter()
                .enumerate()
                .map(|(x, &v)| v as f64 * (x as f64 - c as f64).powi(2))
                .sum();
            let rel = (var.sqrt() - sigma as f64).abs() / sigma as f64;
            assert!(rel < 2e-3, "σ={sigma}: measured σ {}", var.sqrt());
        }
    }

    #[test]
    fn pyramid_path_is_close() {
        let (err, sum) = impulse_error(70.0);
        assert!(err < 0.02, "max error {err} of peak");
        assert!((sum - 1.0).abs() < 1e-3, "sum {sum}");
    }

    #[test]
    fn constant_stays_constant() {
        for &sigma in &[
            0.0f32,
            0.7,
            2.0,
            3.5,
            30.0,
            100.0,
            1e9,
            f32::INFINITY,
            f32::NAN,
        ] {
            for &(w, h) in &[(1, 1), (1, 7), (9, 1), (37, 23)] {
                let p = Plane::filled(w, h, 0.625);
                let g = gaussian_blur(&p, sigma);
                assert_eq!((g.width, g.height), (w, h));
                for &v in &g.data {
                    assert!((v - 0.625).abs() < 1e-5, "σ={sigma} {w}×{h}: {v}");
                }
            }
        }
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let (w, h) = (157, 61);
        let data: Vec<f32> = (0..w * h).map(|i| ((i * 7919) % 101) as f32).collect();
        let p = Plane::from_vec(w, h, data);
        for &sigma in &[1.3f32, 2.9, 6.0, 12.0] {
            let one = crate::testing::on_threads(1, || gaussian_blur(&p, sigma));
            let many = crate::testing::on_threads(4, || gaussian_blur(&p, sigma));
            assert_eq!(one, many);
        }
    }

    #[test]
    fn simd_and_baseline_fir_agree_bit_for_bit() {
        // Width not a multiple of the chunk: vector chunks and scalar tail.
        let (w, h) = (203, 37);
        let data: Vec<f32> = (0..w * h)
            .map(|i| ((i * 7919) % 97) as f32 * 0.01)
            .collect();
        let p = Plane::from_vec(w, h, data);
        for &sigma in &[0.7f32, 2.0, 2.9, 7.9] {
            let k = fir_half_kernel(sigma);
            let (mut a, mut b) = (vec![0.0; w * h], vec![0.0; w * h]);
            let (mut t1, mut t2) = (Vec::new(), Vec::new());
            fir_band(&k, &p.data, w, h, 0, h, &mut a, &mut t1); // dispatched
            fir_band_body(&k, &p.data, w, h, 0, h, &mut b, &mut t2); // baseline
            assert_eq!(a, b, "σ={sigma}");
            assert_eq!(gaussian_blur(&p, sigma).data, a);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Interior mass is preserved: pad with a zero margin wider than the
        /// kernel support so the replicate border does not add mass.
        #[test]
        fn mean_preserved(w in 1usize..20, h in 1usize..20, sigma in 0.3f32..6.0, seed in 0u64..1000) {
            let m = (5.0 * sigma).ceil() as usize + 2;
            let (pw, ph) = (w + 2 * m, h + 2 * m);
            let mut p = Plane::filled(pw, ph, 0.0);
            let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            for y in 0..h {
                for x in 0..w {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    p.data[(y + m) * pw + x + m] = ((s >> 40) % 1000) as f32 / 1000.0;
                }
            }
            let before: f64 = p.data.iter().map(|&v| v as f64).sum();
            let g = gaussian_blur(&p, sigma);
            let after: f64 = g.data.iter().map(|&v| v as f64).sum();
            prop_assert!((before - after).abs() <= 2e-3 * before.max(1.0), "{before} vs {after}");
        }
    }

    #[test]
    fn blur_into_junk_buffers_equals_the_allocating_blur() {
        let (w, h) = (37, 23);
        let p = Plane::from_vec(
            w,
            h,
            (0..w * h)
                .map(|i| ((i * 7919) % 101) as f32 * 0.01)
                .collect(),
        );
        // FIR, IIR, no smoothing, pyramid; buffers too small, too large,
        // reused from call to call.
        for (i, sigma) in [0.7f32, 1.2, 3.0, 9.0, 0.01, 70.0].into_iter().enumerate() {
            let want = gaussian_blur(&p, sigma);
            let mut inter = vec![f32::NAN; 5 + i * 900];
            let mut out = vec![-3.5f32; 3 + i * 400];
            for _ in 0..2 {
                let got = gaussian_blur_reusing(&p, sigma, &mut inter, out);
                assert_eq!((got.width, got.height), (w, h));
                assert!(
                    got.data
                        .iter()
                        .zip(&want.data)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "σ = {sigma}"
                );
                out = got.data;
                out.iter_mut().for_each(|v| *v = f32::NAN);
            }
        }
    }
}
