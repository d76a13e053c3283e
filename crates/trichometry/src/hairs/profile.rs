//! Sub-pixel shaft widths from perpendicular intensity profiles.
//!
//! At samples along a centreline (full-resolution pixels) the luminance is
//! read across the shaft with bilinear interpolation, averaged over three
//! parallel lines one pixel apart along the shaft (noise), and turned into
//! an absorbance profile `a(u) = 1 − I(u)/I_bg` with `I_bg` the median of
//! two background windows beside the shaft. The width is the full width at
//! half of the peak absorbance, with linear interpolation between profile
//! samples; the midpoint of the two half-depth crossings refines the centre.
//!
//! The FWHM of a round shaft is not its diameter: through a Beer–Lambert
//! cylinder the absorbance profile is rounded (chord ∝ √(1 − (2u/d)²)), so
//! the FWHM reads low by up to 13 % for a translucent (blond, grey, thin)
//! shaft and hardly at all for an opaque one. The profile's shape tells
//! which: the ratio of the full widths at 80 % and 50 % of the peak depends
//! only on the optical thickness α·d (the hair's own reflectance and the
//! skin level scale the profile and cancel), so it gives the cylinder
//! factor ([`cylinder_factor`]). A Gaussian blur σ moves the 80 % level of
//! each edge inward by 0.84σ and leaves the 50 % level in place; that is
//! added back (`HairParams::psf_sigma_px`). Measured on the phantom in
//! `tests/hairs.rs` (sparse scene, 2 / 3.5 / 5.5 µm/px): raw FWHM MAE 1.8 /
//! 3.2 / 1.4 µm, bias −1.8 / −0.8 / −1.1; cylinder-corrected without the
//! blur term over-corrects (bias up to +2.4); with it MAE 0.8 / 2.5 / 2.3,
//! bias −0.8 / +0.3 / −1.9.

use crate::image::Plane;
use crate::kernels::sample_bilinear;

/// An intensity image read by bilinear interpolation
/// ([`sample_bilinear`]'s convention): a stored plane, or the luminance
/// computed from the colour planes where it is read
/// (`detect::Luminance`), which spares a full-resolution plane.
pub(crate) trait Intensity: Sync {
    /// Width and height in pixels.
    fn size(&self) -> (usize, usize);
    /// Bilinear value at (x, y).
    fn bilinear(&self, x: f32, y: f32) -> f32;
    /// The profile [`measure`] reads: for `k` in `−n..=n` (into
    /// `prof[k + n]`), the mean of the values at `c + k·du·nrm` and one
    /// pixel either side along `t`.
    #[allow(clippy::too_many_arguments)]
    fn profile(&self, c: [f32; 2], nrm: [f32; 2], t: [f32; 2], du: f32, n: i32, prof: &mut [f32]) {
        for k in -n..=n {
            let u = k as f32 * du;
            let (x, y) = (c[0] + nrm[0] * u, c[1] + nrm[1] * u);
            prof[(k + n) as usize] = (self.bilinear(x - t[0], y - t[1])
                + self.bilinear(x, y)
                + self.bilinear(x + t[0], y + t[1]))
                / 3.0;
        }
    }
}

impl Intensity for Plane {
    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }
    #[inline(always)]
    fn bilinear(&self, x: f32, y: f32) -> f32 {
        sample_bilinear(self, x, y)
    }
}

/// One width measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WidthSample {
    /// Arc position along the polyline (px).
    pub arc_px: f32,
    /// Refined centre (px).
    pub centre: [f32; 2],
    /// Full width at half depth (px).
    pub width_px: f32,
    /// Peak absorbance (0..1).
    pub depth: f32,
}

/// Cumulative arc length of a polyline.
pub(crate) fn arc_lengths(pts: &[[f32; 2]]) -> Vec<f32> {
    let mut arc = Vec::with_capacity(pts.len());
    let mut s = 0.0f32;
    for (k, p) in pts.iter().enumerate() {
        if k > 0 {
            let q = pts[k - 1];
            s += ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
        }
        arc.push(s);
    }
    arc
}

/// Point and unit tangent at arc position `s` (tangent over ±`win` px).
pub(crate) fn point_and_tangent(
    pts: &[[f32; 2]],
    arc: &[f32],
    s: f32,
    win: f32,
) -> ([f32; 2], [f32; 2]) {
    let at = |s: f32| -> [f32; 2] {
        let s = s.clamp(0.0, *arc.last().unwrap_or(&0.0));
        let k = arc.partition_point(|&a| a < s).clamp(1, pts.len() - 1);
        let (a0, a1) = (arc[k - 1], arc[k]);
        let t = if a1 > a0 { (s - a0) / (a1 - a0) } else { 0.0 };
        let (p, q) = (pts[k - 1], pts[k]);
        [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]
    };
    let c = at(s);
    let (a, b) = (at(s - win), at(s + win));
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let n = (dx * dx + dy * dy).sqrt().max(1e-6);
    (c, [dx / n, dy / n])
}

/// Median of a slice (sorts it).
pub(crate) fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(f32::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Quantile (linear) of a sorted slice.
pub(crate) fn quantile_sorted(v: &[f32], q: f32) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    let x = q * (v.len() - 1) as f32;
    let i = x.floor() as usize;
    let j = (i + 1).min(v.len() - 1);
    v[i] + (x - i as f32) * (v[j] - v[i])
}

/// Half width (in units of the radius) at which a Beer–Lambert cylinder of
/// optical thickness `k = α·d` reaches level `l` of its peak absorbance:
/// the chord fraction is `s = −ln(1 − l·(1 − e^{−k}))/k`, the offset
/// `√(1 − s²)`. (The hair's own reflectance scales the profile and cancels.)
fn cyl_half_width(k: f32, l: f32) -> f32 {
    cyl_half_width_e(k, (-k).exp(), l)
}

/// [`cyl_half_width`] with `e = exp(−k)` given.
#[inline(always)]
fn cyl_half_width_e(k: f32, e: f32, l: f32) -> f32 {
    let s = -(1.0 - l * (1.0 - e)).ln() / k;
    (1.0 - s * s).max(0.0).sqrt()
}

/// Ratio of the full widths at 80 % and 50 % of the peak of a cylinder of
/// optical thickness `k` (one exponential for both).
#[inline]
fn rho_of(k: f32) -> f32 {
    let e = (-k).exp();
    cyl_half_width_e(k, e, 0.8) / cyl_half_width_e(k, e, 0.5)
}

/// Bisection bracket of [`cylinder_factor`] and its number of steps.
const CYL_LO: f32 = 0.01;
const CYL_HI: f32 = 30.0;
const CYL_STEPS: usize = 30;
/// Levels of the bisection tree whose midpoint ratios are tabulated.
const CYL_TREE_LEVELS: usize = 15;

/// [`rho_of`] at the bracket ends and at every midpoint of the first
/// [`CYL_TREE_LEVELS`] levels of the bisection (heap order, root at 1): the
/// bisection reads them instead of computing them, with the same bits.
struct CylTree {
    rho_lo: f32,
    rho_hi: f32,
    node: Vec<f32>,
}

fn cyl_tree() -> &'static CylTree {
    static TREE: std::sync::OnceLock<CylTree> = std::sync::OnceLock::new();
    TREE.get_or_init(|| {
        let mut node = vec![0.0f32; 1 << CYL_TREE_LEVELS];
        // Level by level: node i spans (lo, hi); its children split at m.
        let mut spans = vec![(CYL_LO, CYL_HI)];
        for level in 0..CYL_TREE_LEVELS {
            let mut next = Vec::with_capacity(2 * spans.len());
            for (j, &(lo, hi)) in spans.iter().enumerate() {
                let m = 0.5 * (lo + hi);
                node[(1 << level) + j] = rho_of(m);
                next.push((lo, m));
                next.push((m, hi));
            }
            spans = next;
        }
        CylTree {
            rho_lo: rho_of(CYL_LO),
            rho_hi: rho_of(CYL_HI),
            node,
        }
    })
}

/// Diameter / FWHM of a cylinder's absorbance profile from the measured
/// ratio `rho` of the full widths at 80 % and at 50 % of the peak: a
/// translucent shaft has a rounded profile (ρ → 0.69, diameter = FWHM ×
/// 1.155), an opaque one a flat core (ρ → 1, diameter = FWHM). ρ does not
/// depend on the hair's own reflectance or the skin level; blur lowers it a
/// little for thin shafts.
///
/// Bisection on the optical thickness; the first levels' midpoint ratios
/// come from a table (the same values, computed once).
pub(crate) fn cylinder_factor(rho: f32) -> f32 {
    let tree = cyl_tree();
    let (mut lo, mut hi) = (CYL_LO, CYL_HI);
    if rho.is_nan() || rho <= tree.rho_lo {
        return 1.0 / cyl_half_width(lo, 0.5);
    }
    if rho >= tree.rho_hi {
        return 1.0 / cyl_half_width(hi, 0.5);
    }
    let mut i = 1usize;
    for _ in 0..CYL_TREE_LEVELS {
        let m = 0.5 * (lo + hi);
        if tree.node[i] < rho {
            lo = m;
            i = 2 * i + 1;
        } else {
            hi = m;
            i *= 2;
        }
    }
    for _ in CYL_TREE_LEVELS..CYL_STEPS {
        let m = 0.5 * (lo + hi);
        if rho_of(m) < rho {
            lo = m;
        } else {
            hi = m;
        }
    }
    1.0 / cyl_half_width(0.5 * (lo + hi), 0.5)
}

/// Measure widths along a centreline.
///
/// `width_guess_px` sets the profile extent (the measured width may be up to
/// about twice it); `skip_px` excludes both ends; `step_px` is the spacing of
/// samples; `excluded(x, y)` rejects samples (crossings); `cylinder =
/// Some(psf σ px)` turns each FWHM into a diameter under the cylinder model
/// ([`cylinder_factor`]), the profile shape corrected for that blur. Returns the number
/// of positions where a profile was read (inside the image, not excluded):
/// the share of them that gave a two-edge profile tells a shaft from a
/// ridge-like patch of skin.
#[allow(clippy::too_many_arguments)]
pub(crate) fn measure(
    lum: &impl Intensity,
    pts: &[[f32; 2]],
    width_guess_px: f32,
    step_px: f32,
    skip_px: f32,
    excluded: &dyn Fn(f32, f32) -> bool,
    cylinder: Option<f32>,
    out: &mut Vec<WidthSample>,
) -> usize {
    let psf_sigma_px = cylinder.unwrap_or(0.0);
    let cylinder = cylinder.is_some();
    out.clear();
    if pts.len() < 2 {
        return 0;
    }
    let mut attempts = 0usize;
    let arc = arc_lengths(pts);
    let total = *arc.last().unwrap_or(&0.0);
    let wg = width_guess_px.max(1.0);
    // Profile: |u| ≤ inner is the shaft, [inner, outer] the background.
    let inner = 1.1 * wg + 2.0;
    let outer = inner + (0.5 * wg).max(3.0);
    let du = (wg / 12.0).clamp(0.25, 1.0);
    let n = (outer / du).ceil() as i32;
    let mut prof = vec![0.0f32; (2 * n + 1) as usize];
    let mut bg_l = Vec::with_capacity(n as usize);
    let mut bg_r = Vec::with_capacity(n as usize);
    let win = (0.5 * wg).max(3.0);
    let mut s = skip_px;
    let (w, h) = lum.size();
    let (w, h) = (w as f32, h as f32);
    while s <= total - skip_px {
        let (c, t) = point_and_tangent(pts, &arc, s, win);
        let s_here = s;
        s += step_px;
        if excluded(c[0], c[1]) {
            continue;
        }
        let nrm = [-t[1], t[0]];
        // The whole profile must lie inside the image.
        let ends = [
            [c[0] + nrm[0] * outer, c[1] + nrm[1] * outer],
            [c[0] - nrm[0] * outer, c[1] - nrm[1] * outer],
        ];
        if ends
            .iter()
            .any(|e| e[0] < 1.0 || e[1] < 1.0 || e[0] > w - 2.0 || e[1] > h - 2.0)
        {
            continue;
        }
        attempts += 1;
        lum.profile(c, nrm, t, du, n, &mut prof);
        bg_l.clear();
        bg_r.clear();
        for k in -n..=n {
            let u = (k as f32 * du).abs();
            if u >= inner {
                let v = prof[(k + n) as usize];
                if k < 0 {
                    bg_l.push(v);
                } else {
                    bg_r.push(v);
                }
            }
        }
        let (ml, mr) = (median(&mut bg_l), median(&mut bg_r));
        if ml.is_nan() || mr.is_nan() || ml <= 0.0 || mr <= 0.0 {
            continue;
        }
        // A neighbouring dark structure on one side: trust the brighter side.
        let bg = if (ml - mr).abs() > 0.12 * ml.max(mr) {
            ml.max(mr)
        } else {
            0.5 * (ml + mr)
        };
        // Absorbance profile; peak near the centre.
        let a = |k: i32| 1.0 - prof[(k + n) as usize] / bg;
        let kin = (inner / du).floor() as i32;
        let kc = ((0.5 * wg + 1.5) / du).ceil() as i32;
        let mut kp = 0;
        let mut peak = f32::MIN;
        for k in -kc.min(kin)..=kc.min(kin) {
            if a(k) > peak {
                peak = a(k);
                kp = k;
            }
        }
        if peak.is_nan() || peak <= 0.0 {
            continue;
        }
        // Noise lifts the maximum of a flat-bottomed profile: take the mean
        // of the samples within 10 % of it (the plateau) as the depth.
        let (mut sum, mut cnt) = (0.0f32, 0u32);
        for k in -kc.min(kin)..=kc.min(kin) {
            if a(k) >= 0.9 * peak {
                sum += a(k);
                cnt += 1;
            }
        }
        let peak = sum / cnt.max(1) as f32;
        let half = 0.5 * peak;
        // Walk out to the half-depth crossings.
        let mut kl = kp;
        while kl > -n && a(kl) >= half {
            kl -= 1;
        }
        let mut kr = kp;
        while kr < n && a(kr) >= half {
            kr += 1;
        }
        if a(kl) >= half || a(kr) >= half {
            continue;
        }
        // Linear interpolation between the samples straddling half depth.
        let xl = {
            let (a0, a1) = (a(kl), a(kl + 1));
            kl as f32 + (half - a0) / (a1 - a0)
        } * du;
        let xr = {
            let (a0, a1) = (a(kr - 1), a(kr));
            (kr - 1) as f32 + (a0 - half) / (a0 - a1)
        } * du;
        let width = xr - xl;
        // Crossings outside the shaft window mean the profile is not a
        // clean single shaft (a touching neighbour).
        if xl < -inner || xr > inner {
            continue;
        }
        let mid = 0.5 * (xl + xr);
        // Full width at 80 % of the peak (shape of the profile).
        let factor = if cylinder {
            let l8 = 0.8 * peak;
            let mut kl8 = kp;
            while kl8 > kl && a(kl8) >= l8 {
                kl8 -= 1;
            }
            let mut kr8 = kp;
            while kr8 < kr && a(kr8) >= l8 {
                kr8 += 1;
            }
            let xl8 = {
                let (a0, a1) = (a(kl8), a(kl8 + 1));
                kl8 as f32 + ((l8 - a0) / (a1 - a0)).clamp(0.0, 1.0)
            } * du;
            let xr8 = {
                let (a0, a1) = (a(kr8 - 1), a(kr8));
                (kr8 - 1) as f32 + ((a0 - l8) / (a0 - a1)).clamp(0.0, 1.0)
            } * du;
            // A Gaussian blur of σ moves the 80 % level of each edge inward
            // by Φ⁻¹(0.8)·σ = 0.84σ and leaves the 50 % level in place.
            let w8 = xr8 - xl8 + 2.0 * 0.8416 * psf_sigma_px;
            cylinder_factor(w8 / width.max(1e-3))
        } else {
            1.0
        };
        out.push(WidthSample {
            arc_px: s_here,
            centre: [c[0] + nrm[0] * mid, c[1] + nrm[1] * mid],
            width_px: width * factor,
            depth: peak,
        });
    }
    attempts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vertical bar of width `wd` px (exact pixel coverage), depth 0.6.
    fn bar(wd: f32, cx: f32) -> Plane {
        let (w, h) = (80, 40);
        let mut p = Plane::filled(w, h, 0.5);
        for y in 0..h {
            for x in 0..w {
                let (l, r) = (x as f32 - 0.5, x as f32 + 0.5);
                let cov = (r.min(cx + wd / 2.0) - l.max(cx - wd / 2.0)).clamp(0.0, 1.0);
                p.data[y * w + x] = 0.5 * (1.0 - 0.6 * cov);
            }
        }
        p
    }

    /// The cylinder factor inverts the profile-shape ratio: translucent
    /// (rounded) → 2/√3, opaque (flat) → 1, and a sampled cylinder profile
    /// gives back its diameter.
    #[test]
    fn cylinder_factor_limits_and_inverse() {
        assert!((cylinder_factor(0.5) - 2.0 / 3f32.sqrt()).abs() < 2e-3);
        assert!((cylinder_factor(1.0) - 1.0).abs() < 0.01);
        for k in [0.3f32, 1.0, 3.0, 8.0] {
            let rho = cyl_half_width(k, 0.8) / cyl_half_width(k, 0.5);
            let f = cylinder_factor(rho);
            assert!(
                (f * cyl_half_width(k, 0.5) - 1.0).abs() < 1e-3,
                "k {k}: {f}"
            );
        }
    }

    #[test]
    fn bar_width_and_centre_are_sub_pixel() {
        for (wd, cx) in [(6.3f32, 40.2f32), (11.0, 39.7), (4.0, 40.5)] {
            let p = bar(wd, cx);
            let pts = vec![[40.0, 0.0], [40.0, 39.0]];
            let mut out = Vec::new();
            measure(&p, &pts, wd, 2.0, 5.0, &|_, _| false, None, &mut out);
            assert!(out.len() > 8, "{}", out.len());
            for s in &out {
                // Pixel-integrated edges, read by linear interpolation between
                // pixel centres: within 0.15 px.
                assert!((s.width_px - wd).abs() < 0.15, "{wd}: {}", s.width_px);
                assert!((s.centre[0] - cx).abs() < 0.1, "{cx}: {:?}", s.centre);
                assert!((s.depth - 0.6).abs() < 0.01);
            }
        }
    }
}
