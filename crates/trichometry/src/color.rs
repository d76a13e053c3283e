//! Colour: sRGB ⇄ linear ⇄ XYZ (D65) ⇄ CIELAB, and erythema measures.
//!
//! Erythema figures: CIELAB a* (D65 white) and the erythema index
//! EI = 100·log10(R/G) on linear reflectance (Dawson/Diffey style).

use crate::error::{Error, Result};
use crate::image::{ImageRef, SamplesRef};
use serde::{Deserialize, Serialize};

/// D65 reference white in XYZ (Y = 1).
pub const D65_WHITE: [f32; 3] = [0.950_47, 1.0, 1.088_83];

/// Linear-sRGB (D65) → XYZ matrix (IEC 61966-2-1).
pub const RGB_TO_XYZ: [[f32; 3]; 3] = [
    [0.412_456_4, 0.357_576_1, 0.180_437_5],
    [0.212_672_9, 0.715_152_2, 0.072_175_0],
    [0.019_333_9, 0.119_192, 0.950_304_1],
];

/// XYZ → linear-sRGB (D65) matrix.
pub const XYZ_TO_RGB: [[f32; 3]; 3] = [
    [3.240_454_2, -1.537_138_5, -0.498_531_4],
    [-0.969_266, 1.876_010_8, 0.041_556],
    [0.055_643_4, -0.204_025_9, 1.057_225_2],
];

/// sRGB transfer function, encoded (0..1) → linear (0..1).
#[inline]
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.040_45 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Inverse sRGB transfer function, linear (0..1) → encoded (0..1).
#[inline]
pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// Multiply a 3×3 matrix by a vector.
#[inline]
pub fn mat3_mul(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

#[inline]
fn lab_f(t: f32) -> f32 {
    const D: f32 = 6.0 / 29.0;
    if t > D * D * D {
        t.cbrt()
    } else {
        t / (3.0 * D * D) + 4.0 / 29.0
    }
}

#[inline]
pub(crate) fn lab_f_inv(t: f32) -> f32 {
    const D: f32 = 6.0 / 29.0;
    if t > D {
        t * t * t
    } else {
        3.0 * D * D * (t - 4.0 / 29.0)
    }
}

/// XYZ (D65, Y of white = 1) → CIELAB.
#[inline]
pub fn xyz_to_lab(xyz: [f32; 3]) -> [f32; 3] {
    let fx = lab_f(xyz[0] / D65_WHITE[0]);
    let fy = lab_f(xyz[1] / D65_WHITE[1]);
    let fz = lab_f(xyz[2] / D65_WHITE[2]);
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIELAB → XYZ (D65).
#[inline]
pub fn lab_to_xyz(lab: [f32; 3]) -> [f32; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let fx = fy + lab[1] / 500.0;
    let fz = fy - lab[2] / 200.0;
    [
        D65_WHITE[0] * lab_f_inv(fx),
        D65_WHITE[1] * lab_f_inv(fy),
        D65_WHITE[2] * lab_f_inv(fz),
    ]
}

/// Linear sRGB → CIELAB.
#[inline]
pub fn linear_rgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    xyz_to_lab(mat3_mul(&RGB_TO_XYZ, rgb))
}

/// CIELAB → linear sRGB (may fall outside 0..1 for out-of-gamut colours).
#[inline]
pub fn lab_to_linear_rgb(lab: [f32; 3]) -> [f32; 3] {
    mat3_mul(&XYZ_TO_RGB, lab_to_xyz(lab))
}

/// Erythema index EI = 100·log10(R/G) on linear reflectance. Reflectances are
/// floored at 1e-4 so that black pixels give a finite number.
#[inline]
pub fn erythema_index(r: f32, g: f32) -> f32 {
    100.0 * (r.max(1e-4) / g.max(1e-4)).log10()
}

/// f(t) of CIELAB for `t` = X/Xn, Y/Yn or Z/Zn, exact (std `cbrt`).
#[inline]
pub fn lab_f_exact(t: f32) -> f32 {
    lab_f(t)
}

/// Cube root of a positive, finite, normal `x` without `cbrt` or division:
/// a bit-level first guess of x^(-1/3) refined by three Newton steps
/// r ← r·(4 − x·r³)/3 (multiplications only, so the loop vectorises), then
/// cbrt(x) = x·r². Relative error ≤ 1e-6 over [1e-6, 1e3] (tested).
/// Callers must not pass zero, negative, subnormal or non-finite values.
#[inline(always)]
pub fn fast_cbrt(x: f32) -> f32 {
    // x^(-1/3) ≈ 2^(-(e)/3): integer arithmetic on the bit pattern (the
    // classic "magic constant" trick), error of a few percent.
    let i = 0x54a2_fa8c_u32.wrapping_sub(x.to_bits() / 3);
    let mut r = f32::from_bits(i);
    const THIRD: f32 = 1.0 / 3.0;
    r *= (4.0 - x * r * r * r) * THIRD;
    r *= (4.0 - x * r * r * r) * THIRD;
    r *= (4.0 - x * r * r * r) * THIRD;
    x * r * r
}

/// CIELAB f(t) with [`fast_cbrt`], branch-free (both sides are computed and
/// selected, so the loop vectorises). Same as [`lab_f_exact`] to ~1e-6 relative.
#[inline(always)]
pub fn lab_f_fast(t: f32) -> f32 {
    const D: f32 = 6.0 / 29.0;
    const EPS: f32 = D * D * D;
    // Clamp the cube-root argument so it stays in fast_cbrt's domain; the
    // clamped value is only used where t > EPS anyway.
    let c = fast_cbrt(t.max(EPS));
    let l = t * (1.0 / (3.0 * D * D)) + 4.0 / 29.0;
    if t > EPS {
        c
    } else {
        l
    }
}

/// log2 of a positive, finite, normal `x`: exponent from the bits, mantissa
/// folded into [√½, √2) and ln(m) = 2·atanh(s), s = (m−1)/(m+1), by its
/// series to s⁹ (|s| ≤ 0.172, truncation < 3e-8). Absolute error ≤ 2e-6 (tested).
#[inline(always)]
pub fn fast_log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1 } else { e };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0))));
    e as f32 + (2.0 * std::f32::consts::LOG2_E) * s * p
}

/// Fast erythema index, same definition and floor as [`erythema_index`];
/// absolute error ≤ 1e-3 EI units (tested).
#[inline(always)]
pub fn erythema_index_fast(r: f32, g: f32) -> f32 {
    // 100·log10(q) = 100·log10(2)·log2(q)
    (100.0 * std::f32::consts::LOG10_2) * fast_log2(r.max(1e-4) / g.max(1e-4))
}

/// Fast CIELAB a* of a linear-sRGB pixel (D65): only fx and fy are needed.
/// Agrees with [`linear_rgb_to_lab`]`[1]` to < 0.01 (tested; typically < 1e-3).
#[inline(always)]
pub fn a_star_fast(r: f32, g: f32, b: f32) -> f32 {
    const MX: [f32; 3] = [
        RGB_TO_XYZ[0][0] / D65_WHITE[0],
        RGB_TO_XYZ[0][1] / D65_WHITE[0],
        RGB_TO_XYZ[0][2] / D65_WHITE[0],
    ];
    const MY: [f32; 3] = RGB_TO_XYZ[1];
    let x = MX[0] * r + MX[1] * g + MX[2] * b;
    let y = MY[0] * r + MY[1] * g + MY[2] * b;
    500.0 * (lab_f_fast(x) - lab_f_fast(y))
}

/// Fast CIELAB (D65) of a linear-sRGB pixel, with [`lab_f_fast`]; agrees
/// with [`linear_rgb_to_lab`] to ~1e-4.
#[inline(always)]
pub fn linear_rgb_to_lab_fast(rgb: [f32; 3]) -> [f32; 3] {
    let xyz = mat3_mul(&RGB_TO_XYZ, rgb);
    let fx = lab_f_fast(xyz[0] * (1.0 / D65_WHITE[0]));
    let fy = lab_f_fast(xyz[1]);
    let fz = lab_f_fast(xyz[2] * (1.0 / D65_WHITE[2]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Linear-light RGB planes (reflectance 0..1, before or after colour correction).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinearRgb {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Red plane, row-major.
    pub r: Vec<f32>,
    /// Green plane.
    pub g: Vec<f32>,
    /// Blue plane.
    pub b: Vec<f32>,
    /// False when the source was greyscale (r = g = b): colour measures refuse it.
    pub is_colour: bool,
}

/// How the colours of a result were calibrated. Serialised as
/// `chart`, `reference_patch`, `estimated` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ColourCalibrationKind {
    /// A 24-patch ColorChecker fitted to a 3×3 matrix.
    Chart,
    /// Per-channel gains from a neutral patch of known lightness.
    ReferencePatch,
    /// A colour-constancy estimate (Shades-of-Gray), asked for explicitly.
    Estimated,
    /// Measured as sRGB (D65) as it is.
    #[default]
    None,
}

/// A zero-filled f32 plane of `n` samples for a large output buffer.
///
/// On Linux the allocation is advised to be backed by transparent huge
/// pages: first-touch page faults dominate the cost of a fresh 48 MB plane
/// (measured on the 2-core VM: 33 ms with 4 KiB pages, 15 ms with huge
/// pages, 6 ms to rewrite an already-touched buffer). Callers should fill it
/// in parallel so that the faults are taken by the worker threads.
pub fn alloc_plane(n: usize) -> Vec<f32> {
    let v = vec![0f32; n];
    advise_huge_pages(&v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &[f32]) {
    use std::ffi::{c_int, c_void};
    const HUGE: usize = 1 << 21;
    const MADV_HUGEPAGE: c_int = 14;
    extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    }
    let bytes = std::mem::size_of_val(v);
    if bytes < 4 * HUGE {
        return;
    }
    let p = v.as_ptr() as usize;
    let start = (p + HUGE - 1) & !(HUGE - 1);
    let end = (p + bytes) & !(HUGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside `v`'s live allocation. MADV_HUGEPAGE
        // is a hint about how the kernel backs the pages: it never changes
        // their contents, and an error (e.g. THP disabled) is harmless, so the
        // return value is ignored.
        unsafe {
            madvise(start as *mut c_void, end - start, MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_v: &[f32]) {}

fn lut8() -> &'static [f32; 256] {
    static LUT: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|v| srgb_to_linear(v as f32 / 255.0)))
}

fn lut16() -> &'static [f32] {
    static LUT: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        (0..65536u32)
            .map(|v| srgb_to_linear(v as f32 / 65535.0))
            .collect()
    })
}

/// Rows per parallel task in the conversions.
const BAND_ROWS: usize = 32;

#[inline(always)]
fn rgb8_band_portable(s: &[u8], r: &mut [f32], g: &mut [f32], b: &mut [f32], lut: &[f32; 256]) {
    let n = r.len();
    let (g, b) = (&mut g[..n], &mut b[..n]);
    for (i, px) in s[..3 * n].chunks_exact(3).enumerate() {
        r[i] = lut[px[0] as usize];
        g[i] = lut[px[1] as usize];
        b[i] = lut[px[2] as usize];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rgb8_band_avx2(s: &[u8], r: &mut [f32], g: &mut [f32], b: &mut [f32], lut: &[f32; 256]) {
    rgb8_band_portable(s, r, g, b, lut)
}

fn rgb8_band(s: &[u8], r: &mut [f32], g: &mut [f32], b: &mut [f32], lut: &[f32; 256]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { rgb8_band_avx2(s, r, g, b, lut) };
            return;
        }
    }
    rgb8_band_portable(s, r, g, b, lut)
}

/// Decode sRGB-encoded samples to linear planes (lookup tables, parallel).
pub fn to_linear(image: &ImageRef<'_>) -> Result<LinearRgb> {
    let mut out = LinearRgb::default();
    to_linear_into(image, &mut out)?;
    Ok(out)
}

/// [`to_linear`] into existing planes (reallocated only when the size
/// changes): a batch that reuses one `LinearRgb` skips the page faults of
/// fresh buffers.
pub fn to_linear_into(image: &ImageRef<'_>, out: &mut LinearRgb) -> Result<()> {
    let (w, h, c) = (image.width(), image.height(), image.channels());
    let n = w * h;
    for p in [&mut out.r, &mut out.g, &mut out.b] {
        if p.len() != n {
            *p = alloc_plane(n);
        }
    }
    out.width = w;
    out.height = h;
    out.is_colour = c == 3;
    match image.samples() {
        SamplesRef::U8(s) if c == 3 => {
            use rayon::prelude::*;
            let lut = lut8();
            let band = (BAND_ROWS * w).max(1);
            out.r
                .par_chunks_mut(band)
                .zip(out.g.par_chunks_mut(band))
                .zip(out.b.par_chunks_mut(band))
                .enumerate()
                .for_each(|(k, ((r, g), b))| {
                    let s0 = 3 * k * band;
                    rgb8_band(&s[s0..s0 + 3 * r.len()], r, g, b, lut);
                });
        }
        SamplesRef::U8(s) => {
            let lut = lut8();
            fill_planes(out, s, c, |v| lut[v as usize]);
        }
        SamplesRef::U16(s) => {
            let lut = lut16();
            fill_planes(out, s, c, |v| lut[v as usize]);
        }
    }
    Ok(())
}

fn fill_planes<T: Copy + Sync>(
    out: &mut LinearRgb,
    s: &[T],
    c: usize,
    f: impl Fn(T) -> f32 + Sync,
) {
    use rayon::prelude::*;
    let w = out.width;
    out.r
        .par_chunks_mut(w)
        .zip(out.g.par_chunks_mut(w))
        .zip(out.b.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, ((r, g), b))| {
            let row = &s[y * w * c..(y + 1) * w * c];
            if c == 3 {
                for x in 0..w {
                    r[x] = f(row[3 * x]);
                    g[x] = f(row[3 * x + 1]);
                    b[x] = f(row[3 * x + 2]);
                }
            } else {
                for x in 0..w {
                    let v = f(row[x]);
                    r[x] = v;
                    g[x] = v;
                    b[x] = v;
                }
            }
        });
}

/// Refuse greyscale input for a measure that needs colour.
pub fn require_colour(rgb: &LinearRgb, what: &str) -> Result<()> {
    if rgb.is_colour {
        Ok(())
    } else {
        Err(Error::ColourRequired(format!(
            "{what} needs a colour (RGB) image; this one is greyscale"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_is_l100_a0_b0() {
        let lab = linear_rgb_to_lab([1.0, 1.0, 1.0]);
        assert!((lab[0] - 100.0).abs() < 0.01, "{lab:?}");
        assert!(lab[1].abs() < 0.01 && lab[2].abs() < 0.01, "{lab:?}");
    }

    #[test]
    fn lab_round_trip() {
        for lab in [[50.0, 20.0, 10.0], [70.0, -10.0, 30.0], [30.0, 5.0, -20.0]] {
            let back = linear_rgb_to_lab(lab_to_linear_rgb(lab));
            for k in 0..3 {
                assert!((back[k] - lab[k]).abs() < 0.01, "{lab:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn fast_lab_matches_exact() {
        for rgb in [
            [0.3f32, 0.2, 0.1],
            [0.9, 0.8, 0.5],
            [0.004, 0.003, 0.002],
            [0.5, 0.5, 0.5],
        ] {
            let (a, b) = (linear_rgb_to_lab(rgb), linear_rgb_to_lab_fast(rgb));
            for k in 0..3 {
                assert!((a[k] - b[k]).abs() < 1e-3, "{rgb:?}: {a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn fast_cbrt_is_accurate() {
        let mut worst = 0f64;
        let mut x = 1e-6f32;
        while x < 1e3 {
            let got = fast_cbrt(x) as f64;
            let want = (x as f64).cbrt();
            worst = worst.max(((got - want) / want).abs());
            x *= 1.0007;
        }
        assert!(worst < 1e-6, "max relative error {worst:e}");
    }

    #[test]
    fn fast_log2_is_accurate() {
        let mut worst = 0f64;
        let mut x = 1e-8f32;
        while x < 1e8 {
            let got = fast_log2(x) as f64;
            let want = (x as f64).log2();
            worst = worst.max((got - want).abs());
            x *= 1.0003;
        }
        assert!(worst < 2e-6, "max absolute error {worst:e}");
    }

    #[test]
    fn fast_a_star_and_ei_match_exact() {
        // A grid over the whole linear cube, plus out-of-range values that a
        // colour correction can produce.
        let (mut wa, mut we) = (0f32, 0f32);
        let steps: Vec<f32> = (0..=40).map(|i| -0.05 + 1.15 * i as f32 / 40.0).collect();
        for &r in &steps {
            for &g in &steps {
                for &b in &steps {
                    let a = linear_rgb_to_lab([r, g, b])[1];
                    wa = wa.max((a_star_fast(r, g, b) - a).abs());
                    let e = erythema_index(r, g);
                    we = we.max((erythema_index_fast(r, g) - e).abs());
                }
            }
        }
        assert!(wa < 0.01, "max a* error {wa}");
        assert!(we < 1e-3, "max EI error {we}");
    }

    #[test]
    fn to_linear_matches_transfer_function_and_reuses_buffers() {
        use crate::image::{Image, Samples};
        let (w, h) = (97, 71);
        let data: Vec<u8> = (0..3 * w * h).map(|i| (i * 37 % 256) as u8).collect();
        let img = Image::new(w, h, 3, Samples::U8(data.clone())).unwrap();
        let rgb = to_linear(&img.view()).unwrap();
        for i in 0..w * h {
            for (k, p) in [&rgb.r, &rgb.g, &rgb.b].iter().enumerate() {
                assert_eq!(p[i], srgb_to_linear(data[3 * i + k] as f32 / 255.0));
            }
        }
        let mut again = rgb.clone();
        again.r.iter_mut().for_each(|v| *v = -1.0);
        to_linear_into(&img.view(), &mut again).unwrap();
        assert_eq!(again, rgb);
        let grey = Image::new(w, h, 1, Samples::U16(vec![40000; w * h])).unwrap();
        let g = to_linear(&grey.view()).unwrap();
        assert!(!g.is_colour && g.r == g.b && g.r[5] == srgb_to_linear(40000.0 / 65535.0));
    }

    #[test]
    fn srgb_red_is_known_lab() {
        // sRGB (255,0,0) is L*=53.24, a*=80.09, b*=67.20 (D65).
        let lab = linear_rgb_to_lab([1.0, 0.0, 0.0]);
        assert!((lab[0] - 53.24).abs() < 0.05, "{lab:?}");
        assert!((lab[1] - 80.09).abs() < 0.05, "{lab:?}");
        assert!((lab[2] - 67.20).abs() < 0.05, "{lab:?}");
    }
}
