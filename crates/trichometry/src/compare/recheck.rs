//! Re-checking an unmatched hair in the other visit's image.
//!
//! Per-visit detection misses hairs (unit-mates inside a terminal's halo,
//! hairs merged into a neighbour's record, …), and a hair detected at one
//! visit only is not a scene change when it is there at the other visit
//! too. An unmatched shaft's centreline is mapped through the registration
//! into the other image and that image is measured along it with the hair
//! stage's own perpendicular profiles ([`crate::hairs::profile::measure`]:
//! absorbance `1 − I/I_bg` against the two background windows, half-depth
//! crossings, sub-pixel width, the blurred-cylinder diameter). The hair is
//! present at both visits when a dark two-edge profile of compatible
//! contrast and width, centred within a small residual offset of the mapped
//! line, is found along most of the mapped length that the other visit
//! shows (positions on a shaft of the other visit that is already matched,
//! where its partner lies too, do not count either way: a crossing or a
//! unit-mate is not evidence).

use crate::color::srgb_to_linear;
use crate::hairs::profile::{self, Intensity, WidthSample};
use crate::image::{ImageRef, SamplesRef};
use crate::kernels::sample_bilinear_with;

/// Colour-corrected linear luminance of an image, computed where it is
/// read (the hair stage's luminance: `0.2126 R + 0.7152 G + 0.0722 B` of the
/// linear RGB after the visit's colour matrix), without a full plane: a
/// re-check reads a few thousand profiles.
pub(crate) struct ImageLuminance<'a> {
    w: usize,
    h: usize,
    c: usize,
    s: SamplesRef<'a>,
    lut: [f32; 256],
    /// Luminance weights of the uncorrected linear channels (`Mᵀ·w`).
    wt: [f32; 3],
}

impl<'a> ImageLuminance<'a> {
    /// `matrix`: the colour correction applied to the visit's linear RGB
    /// (`Provenance::colour_matrix`; ignored for a greyscale image).
    pub fn new(img: &ImageRef<'a>, matrix: &[[f32; 3]; 3]) -> Self {
        let w0 = [0.2126f32, 0.7152, 0.0722];
        let wt = std::array::from_fn(|j| (0..3).map(|i| w0[i] * matrix[i][j]).sum());
        ImageLuminance {
            w: img.width(),
            h: img.height(),
            c: img.channels(),
            s: img.samples(),
            lut: std::array::from_fn(|v| srgb_to_linear(v as f32 / 255.0)),
            wt,
        }
    }

    #[inline(always)]
    fn px(&self, i: usize) -> f32 {
        match self.s {
            SamplesRef::U8(s) if self.c == 3 => {
                let p = &s[3 * i..3 * i + 3];
                self.wt[0] * self.lut[p[0] as usize]
                    + self.wt[1] * self.lut[p[1] as usize]
                    + self.wt[2] * self.lut[p[2] as usize]
            }
            SamplesRef::U8(s) => self.lut[s[i] as usize],
            SamplesRef::U16(s) => {
                let lin = |v: u16| srgb_to_linear(v as f32 / 65535.0);
                if self.c == 3 {
                    let p = &s[3 * i..3 * i + 3];
                    self.wt[0] * lin(p[0]) + self.wt[1] * lin(p[1]) + self.wt[2] * lin(p[2])
                } else {
                    lin(s[i])
                }
            }
        }
    }
}

impl Intensity for ImageLuminance<'_> {
    fn size(&self) -> (usize, usize) {
        (self.w, self.h)
    }
    #[inline(always)]
    fn bilinear(&self, x: f32, y: f32) -> f32 {
        sample_bilinear_with(self.w, self.h, x, y, |i| self.px(i))
    }
}

/// Who holds a pixel of the re-checked visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// No shaft of that visit.
    Nobody,
    /// A shaft of that visit that is already matched (or otherwise
    /// accounted for): its darkness is not evidence for another hair.
    Taken,
    /// An unmatched shaft of that visit (its record index).
    Free(usize),
}

/// What to look for.
#[derive(Debug, Clone)]
pub(crate) struct Ask {
    /// The unmatched shaft's centreline in the re-checked image's pixels.
    pub line: Vec<[f32; 2]>,
    /// Its diameter in the re-checked image's pixels.
    pub width_px: f32,
    /// Its median peak absorbance.
    pub contrast: f32,
    /// Its follicle exit in the re-checked image's pixels, when the record
    /// has one (a stub probe follows the axis from it to the line).
    pub exit: Option<[f32; 2]>,
}

/// Thresholds of a re-check (in the re-checked image's pixels).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// Least share of the profiled positions with a compatible shaft.
    pub min_coverage: f64,
    /// Largest offset of a profile's centre from the mapped line (px).
    pub max_offset_px: f32,
    /// Compatible widths: within this factor of the expected (either way).
    pub width_factor: f32,
    /// Least contrast as a fraction of the shaft's own.
    pub contrast_fraction: f32,
    /// Least contrast (absorbance) at all: the hair stage's `min_contrast`.
    pub min_contrast: f32,
    /// Least number of profiled positions.
    pub min_positions: usize,
    /// PSF σ of the re-checked image (px) for the cylinder diameters;
    /// `None`: the FWHM.
    pub psf_sigma_px: Option<f32>,
    /// Spacing of the profiles (px), the hair stage's `sample_step_px`.
    pub step_px: f32,
}

/// A hair found along the mapped line ([`Found::UNSEEN`]: the other visit
/// shows too little of the line to tell).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    /// Median diameter (px of the re-checked image).
    pub diameter_px: f64,
    /// Interquartile range of the diameters (px; NaN under 4 samples).
    pub iqr_px: f64,
    /// Compatible profiles.
    pub samples: usize,
    /// Share of the profiled positions with a compatible profile.
    pub coverage: f64,
    /// Median peak absorbance of the compatible profiles.
    pub contrast: f64,
    /// Median offset of their centres from the mapped line (px).
    pub offset_px: f64,
    /// The unmatched shaft of the re-checked visit that holds most of the
    /// compatible profiles' centres, if any: the same hair detected at both
    /// visits but not paired by the geometric matching.
    pub onto: Option<usize>,
    /// Positions of a stub probe (see [`probe_stub`]; 0 when the line was
    /// profiled or not probed).
    pub probed: usize,
}

impl Found {
    /// Too little of the line can be profiled in the other image (outside
    /// its frame or the shared field, or under its matched shafts).
    pub const UNSEEN: Found = Found {
        diameter_px: f64::NAN,
        iqr_px: f64::NAN,
        samples: 0,
        coverage: f64::NAN,
        contrast: f64::NAN,
        offset_px: f64::NAN,
        onto: None,
        probed: 0,
    };

    /// Whether the other image was profiled at all.
    pub fn seen(&self) -> bool {
        self.samples > 0
    }
}

/// Median peak absorbance of a shaft in its own image (along its own
/// centreline, `width_px` wide): `None` when no profile shows it.
pub(crate) fn own_contrast(
    lum: &impl Intensity,
    line: &[[f32; 2]],
    width_px: f32,
    step_px: f32,
) -> Option<f32> {
    let wg = width_px.max(1.0);
    let total = *profile::arc_lengths(line).last().unwrap_or(&0.0);
    let skip = (0.5 * wg + 1.0).min(0.3 * total);
    let step = (wg / 4.0).clamp(step_px, 8.0);
    let mut samples = Vec::new();
    profile::measure(lum, line, wg, step, skip, &|_, _| false, None, &mut samples);
    let mut d: Vec<f32> = samples.iter().map(|s| s.depth).collect();
    let m = profile::median(&mut d);
    (m > 0.0).then_some(m)
}

/// Look for the shaft `ask` in `lum`. `usable(x, y)`: the position is in
/// the shared field; `holder(x, y)`: who holds it in the re-checked visit.
/// [`Found::UNSEEN`] when too little of the line can be profiled, `None`
/// when too little of it shows a compatible shaft.
pub(crate) fn recheck(
    lum: &impl Intensity,
    ask: &Ask,
    rules: &Rules,
    usable: &dyn Fn(f32, f32) -> bool,
    holder: &dyn Fn(f32, f32) -> Holder,
) -> Option<Found> {
    let pts = &ask.line;
    if pts.len() < 2 || ask.width_px.is_nan() || ask.width_px <= 0.0 {
        return None;
    }
    let wg = ask.width_px.max(1.0);
    let arc = profile::arc_lengths(pts);
    let total = *arc.last().unwrap_or(&0.0);
    let skip = (0.5 * wg + 1.0).min(0.3 * total);
    let step = (wg / 4.0).clamp(rules.step_px, 8.0);
    // A position counts when the other visit shows it and no accounted-for
    // shaft of that visit lies there.
    let (outside, under) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    let excluded = |x: f32, y: f32| {
        if !usable(x, y) {
            outside.set(outside.get() + 1);
            true
        } else if holder(x, y) == Holder::Taken {
            under.set(under.get() + 1);
            true
        } else {
            false
        }
    };
    let mut samples: Vec<WidthSample> = Vec::new();
    let attempts = profile::measure(
        lum,
        pts,
        wg,
        step,
        skip,
        &excluded,
        rules.psf_sigma_px,
        &mut samples,
    );
    // A profile whose centre moved onto an accounted-for shaft is that
    // shaft, not this one: neither evidence for nor against.
    let mut taken = 0usize;
    let win = (0.5 * wg).max(3.0);
    let min_depth = rules
        .min_contrast
        .max(rules.contrast_fraction * ask.contrast);
    // A shaft found farther than half its expected width from the line
    // (a registration residual of 1.5 px allowed) is a neighbour beside
    // it, not this hair: for thin hairs this is tighter than the rule.
    let max_offset_px = rules.max_offset_px.min((0.5 * wg).max(1.5));
    let mut good: Vec<(WidthSample, f32)> = Vec::new();
    for s in samples {
        if holder(s.centre[0], s.centre[1]) == Holder::Taken {
            taken += 1;
            continue;
        }
        let (c, _) = profile::point_and_tangent(pts, &arc, s.arc_px, win);
        let off = (s.centre[0] - c[0]).hypot(s.centre[1] - c[1]);
        if s.depth >= min_depth && off <= max_offset_px {
            good.push((s, off));
        }
    }
    let positions = attempts.saturating_sub(taken);
    if positions < rules.min_positions.max(1) {
        // Unseen when the other visit's frame or field does not show the
        // line; a line under that visit's matched shafts is no evidence of
        // presence (a lost hair whose unit-mate remains lies there).
        if outside.get() < under.get() {
            return None;
        }
        return probe_stub(lum, ask, rules, usable, holder, min_depth);
    }
    let mut ws: Vec<WidthSample> = good.iter().map(|g| g.0).collect();
    if let Some(sigma) = rules.psf_sigma_px {
        profile::set_diameters(&mut ws, sigma);
    }
    let (lo, hi) = (wg / rules.width_factor, wg * rules.width_factor);
    let keep: Vec<usize> = (0..ws.len())
        .filter(|&k| ws[k].width_px >= lo && ws[k].width_px <= hi)
        .collect();
    let coverage = keep.len() as f64 / positions as f64;
    if keep.len() < 3 || coverage < rules.min_coverage {
        return None;
    }
    let mut wv: Vec<f32> = keep.iter().map(|&k| ws[k].width_px).collect();
    let mut dv: Vec<f32> = keep.iter().map(|&k| ws[k].depth).collect();
    let mut ov: Vec<f32> = keep.iter().map(|&k| good[k].1).collect();
    wv.sort_by(f32::total_cmp);
    let iqr = if wv.len() >= 4 {
        (profile::quantile_sorted(&wv, 0.75) - profile::quantile_sorted(&wv, 0.25)) as f64
    } else {
        f64::NAN
    };
    // The unmatched shaft of the other visit holding most of the profiles.
    let mut holders: Vec<usize> = keep
        .iter()
        .filter_map(|&k| match holder(ws[k].centre[0], ws[k].centre[1]) {
            Holder::Free(j) => Some(j),
            _ => None,
        })
        .collect();
    holders.sort_unstable();
    let mut onto = None;
    let mut best = 0usize;
    for run in holders.chunk_by(|a, b| a == b) {
        if run.len() > best {
            best = run.len();
            onto = Some(run[0]);
        }
    }
    if 2 * best < keep.len() {
        onto = None;
    }
    Some(Found {
        diameter_px: profile::median(&mut wv) as f64,
        iqr_px: iqr,
        samples: keep.len(),
        coverage,
        contrast: profile::median(&mut dv) as f64,
        offset_px: profile::median(&mut ov) as f64,
        onto,
        probed: 0,
    })
}

/// A stub at the other frame's edge: too little of the mapped line lies
/// far enough inside that frame for the hair stage's profiles (both
/// background windows inside the frame, the line's ends skipped), yet the
/// part inside it tells whether a shaft is there. Every half pixel of the
/// line inside the frame (and the shared field, not on an accounted-for
/// shaft) is probed: the darkest core (a quarter of the expected width
/// across, its centre within `max_offset_px` of the line) against the
/// median of the background windows that lie inside the frame (the
/// brighter side when the two differ, as in the profiles). Present (a
/// [`Found`] without profiles, `probed` > 0, `coverage` the share of dark
/// positions) when at least a third of the positions are as dark as a
/// compatible profile must be (half missed six of the null pairs' stubs,
/// present at 0.35–0.46), absent (`None`) otherwise, and
/// [`Found::UNSEEN`] under two positions.
fn probe_stub(
    lum: &impl Intensity,
    ask: &Ask,
    rules: &Rules,
    usable: &dyn Fn(f32, f32) -> bool,
    holder: &dyn Fn(f32, f32) -> Holder,
    min_depth: f32,
) -> Option<Found> {
    // The axis from the exit (where detection at the own visit may have
    // left the shaft's start out: under unit-mates) to the far end.
    let mut pts = ask.line.clone();
    if let (Some(e), Some(&a), Some(&b)) = (ask.exit, pts.first(), pts.last()) {
        let d = |p: [f32; 2]| (p[0] - e[0]).hypot(p[1] - e[1]);
        if d(a) <= d(b) && d(a) > 1.0 {
            pts.insert(0, e);
        } else if d(b) < d(a) && d(b) > 1.0 {
            pts.push(e);
        }
    }
    let pts = &pts;
    let wg = ask.width_px.max(1.0);
    let arc = profile::arc_lengths(pts);
    let total = *arc.last().unwrap_or(&0.0);
    let (w, h) = lum.size();
    let (w, h) = (w as f32, h as f32);
    let inside = |p: [f32; 2]| p[0] >= 0.5 && p[1] >= 0.5 && p[0] <= w - 1.5 && p[1] <= h - 1.5;
    let inner = 1.1 * wg + 2.0;
    let outer = inner + (0.5 * wg).max(3.0);
    let half_core = (0.125 * wg).max(0.25);
    let win = (0.5 * wg).max(3.0);
    let off = rules.max_offset_px.min((0.5 * wg).max(1.5));
    let at = |c: [f32; 2], n: [f32; 2], u: f32| [c[0] + n[0] * u, c[1] + n[1] * u];
    let (mut n_pos, mut n_dark, mut n_taken) = (0usize, 0usize, 0usize);
    let mut depths = Vec::new();
    let mut side: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    let mut s = 0.0f32;
    while s <= total {
        let (c, t) = profile::point_and_tangent(pts, &arc, s, win);
        s += 0.5;
        if inside(c) && usable(c[0], c[1]) && holder(c[0], c[1]) == Holder::Taken {
            n_taken += 1;
        }
        if !inside(c) || !usable(c[0], c[1]) || holder(c[0], c[1]) == Holder::Taken {
            continue;
        }
        let n = [-t[1], t[0]];
        // Background windows, the parts inside the frame.
        for (k, v) in side.iter_mut().enumerate() {
            v.clear();
            let sign = if k == 0 { -1.0 } else { 1.0 };
            let mut u = inner;
            while u <= outer {
                let q = at(c, n, sign * u);
                if inside(q) {
                    v.push(lum.bilinear(q[0], q[1]));
                }
                u += 1.0;
            }
        }
        let m: Vec<f32> = side
            .iter_mut()
            .filter(|v| v.len() >= 2)
            .map(|v| profile::median(v))
            .collect();
        let bg = match m[..] {
            [a, b] if (a - b).abs() > 0.12 * a.max(b) => a.max(b),
            [a, b] => 0.5 * (a + b),
            [a] => a,
            _ => continue,
        };
        if bg.is_nan() || bg <= 0.0 {
            continue;
        }
        // The darkest core within the offset allowed.
        let mut core = f32::INFINITY;
        let mut d = -off;
        while d <= off {
            let (mut sum, mut cnt) = (0.0f32, 0u32);
            let mut u = d - half_core;
            while u <= d + half_core + 1e-3 {
                let q = at(c, n, u);
                if inside(q) {
                    sum += lum.bilinear(q[0], q[1]);
                    cnt += 1;
                }
                u += 0.5;
            }
            if cnt > 0 {
                core = core.min(sum / cnt as f32);
            }
            d += 0.5;
        }
        if !core.is_finite() {
            continue;
        }
        let depth = 1.0 - core / bg;
        n_pos += 1;
        if depth >= min_depth {
            n_dark += 1;
            depths.push(depth);
        }
    }
    if n_pos < 2 {
        // What the other frame shows of the axis lies on its matched
        // shafts: as for a profiled line, no evidence of presence.
        return (n_taken <= n_pos).then_some(Found::UNSEEN);
    }
    let coverage = n_dark as f64 / n_pos as f64;
    (coverage >= 1.0 / 3.0).then(|| Found {
        coverage,
        contrast: profile::median(&mut depths) as f64,
        probed: n_pos,
        ..Found::UNSEEN
    })
}

/// One image's side of a paired darkness reading ([`darker_side_kept`]).
pub(crate) struct DarkSide<'a, L: Intensity> {
    /// The image's luminance.
    pub lum: &'a L,
    /// The line in the image's pixels (mapped between the images: vertex
    /// `k` is the same scene point at both).
    pub line: Vec<[f32; 2]>,
    /// The hair's diameter (px of this image).
    pub width_px: f32,
    /// Distance of the background windows from the line (px of this
    /// image): clear of the hair and of the neighbour it lies on.
    pub clear_px: f32,
    /// Registration residual allowed (px of this image).
    pub slack_px: f32,
    /// Whether a position (this image's pixels) may be read.
    pub shown: &'a (dyn Fn(f32, f32) -> bool + Sync),
}

/// Whether a hair recorded at one image (`own`) lying on a neighbour's
/// shaft is at the other (`other`) too, read at `n` positions along it in
/// pairs: the darkness ([`darkness_along`]) of its two halves, each a
/// core a fifth of its width either side of a point 0.3 of its width off
/// its line. Of the two, the half clear of the neighbour tells: a hair
/// gone leaves the neighbour's darkness under the half on the
/// neighbour's side and skin under the other. Returns the lesser of the
/// two halves' ratios (median darkness at `other` over the median at
/// `own`, over the positions both read), `None` under four such
/// positions, for a line of one point, or when `own` shows no darkness.
pub(crate) fn darker_side_kept<A: Intensity, B: Intensity>(
    own: &DarkSide<'_, A>,
    other: &DarkSide<'_, B>,
    n: usize,
) -> Option<f64> {
    if own.line.len() < 2 || other.line.len() < 2 {
        return None;
    }
    let mut least = f64::INFINITY;
    for sign in [-1.0f32, 1.0] {
        let off = |s_: f32| sign * 0.3 * s_;
        let (a, b) = (
            darkness_along(own, n, off(own.width_px)),
            darkness_along(other, n, off(other.width_px)),
        );
        let (mut da, mut db): (Vec<f32>, Vec<f32>) = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| (*x, *y))
            .unzip();
        if da.len() < 4 {
            return None;
        }
        let (ma, mb) = (profile::median(&mut da), profile::median(&mut db));
        if ma.is_nan() || ma <= 0.0 {
            return None;
        }
        least = least.min((mb / ma) as f64);
    }
    Some(least)
}

/// Darkness of a side's line at `n` positions spread evenly along it (at
/// the fractions `(k + ½) / n` of its arc length, so that the same line
/// mapped into another image is read at the same scene points):
/// `1 − core / background`, the core the darkest mean across a fifth of
/// the width either side of a point within `slack_px` of `offset_px`
/// along the line's left normal (`(−t_y, t_x)`), the background the
/// brighter of the medians of two windows `clear_px` to `clear_px + 3` px
/// either side of the line (one of them may lie on a neighbour). NaN
/// where `shown` refuses the position or a window leaves the image.
fn darkness_along<L: Intensity>(s: &DarkSide<'_, L>, n: usize, offset_px: f32) -> Vec<f32> {
    let (lum, line, slack_px, clear_px) = (s.lum, &s.line[..], s.slack_px, s.clear_px);
    let core_half_px = (0.2 * s.width_px).max(0.5);
    let arc = profile::arc_lengths(line);
    let total = *arc.last().unwrap_or(&0.0);
    let (w, h) = lum.size();
    let (w, h) = (w as f32, h as f32);
    let inside = |p: [f32; 2]| p[0] >= 0.5 && p[1] >= 0.5 && p[0] <= w - 1.5 && p[1] <= h - 1.5;
    let at = |c: [f32; 2], nr: [f32; 2], u: f32| [c[0] + nr[0] * u, c[1] + nr[1] * u];
    let win = (2.0 * core_half_px).max(3.0);
    let mut side: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    (0..n)
        .map(|k| {
            let at_arc = total * (k as f32 + 0.5) / n as f32;
            let (c, t) = profile::point_and_tangent(line, &arc, at_arc, win);
            if !inside(c) || !(s.shown)(c[0], c[1]) {
                return f32::NAN;
            }
            let nr = [-t[1], t[0]];
            for (j, v) in side.iter_mut().enumerate() {
                v.clear();
                let sign = if j == 0 { -1.0 } else { 1.0 };
                let mut u = clear_px;
                while u <= clear_px + 3.0 {
                    let q = at(c, nr, sign * u);
                    if !inside(q) {
                        return f32::NAN;
                    }
                    v.push(lum.bilinear(q[0], q[1]));
                    u += 1.0;
                }
            }
            let bg = profile::median(&mut side[0]).max(profile::median(&mut side[1]));
            if bg.is_nan() || bg <= 0.0 {
                return f32::NAN;
            }
            let mut core = f32::INFINITY;
            let mut d = offset_px - slack_px;
            while d <= offset_px + slack_px + 1e-3 {
                let (mut sum, mut cnt) = (0.0f32, 0u32);
                let mut u = d - core_half_px;
                while u <= d + core_half_px + 1e-3 {
                    let q = at(c, nr, u);
                    sum += lum.bilinear(q[0], q[1]);
                    cnt += 1;
                    u += 0.5;
                }
                core = core.min(sum / cnt as f32);
                d += 0.5;
            }
            1.0 - core / bg
        })
        .collect()
}

/// One visit's side of a paired diameter measurement.
pub(crate) struct Side<'a, L: Intensity> {
    /// The visit's luminance.
    pub lum: &'a L,
    /// The line in the visit's pixels (one line, mapped between the visits:
    /// vertex `k` is the same scene point at both).
    pub line: Vec<[f32; 2]>,
    /// The shaft's expected diameter (px of this visit).
    pub width_px: f32,
    /// Profile spacing and end skip (px of this visit; the same scene
    /// distances at both visits).
    pub step_px: f32,
    pub skip_px: f32,
    /// PSF σ of the visit (px) for the cylinder diameters; `None`: FWHM.
    pub psf_sigma_px: Option<f32>,
    /// Positions not profiled (outside the shared field, on another shaft).
    pub excluded: &'a (dyn Fn(f32, f32) -> bool + Sync),
    /// µm per pixel of this visit (at the baseline's scale).
    pub um_per_px: f64,
    /// Least peak absorbance of a usable profile.
    pub min_contrast: f32,
}

/// A hair's diameter change measured in pairs: both images profiled at the
/// same scene positions along one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PairedChange {
    /// Median of the paired differences, second side less the first (µm).
    pub median_um: f64,
    /// Its standard error (µm): 1.2533 σ / √n, σ ≈ IQR / 1.349 of the
    /// differences.
    pub se_um: f64,
    /// Positions where both sides gave a two-edge profile.
    pub pairs: usize,
}

/// Least paired positions for a [`PairedChange`].
pub(crate) const MIN_PAIRED: usize = 4;

/// Profile both sides along their lines (the same scene positions) and
/// pair the diameters position by position. `None` under
/// [`MIN_PAIRED`] pairs: the change cannot be told from the
/// measurement's own spread.
pub(crate) fn paired_change<A: Intensity, B: Intensity>(
    a: &Side<'_, A>,
    b: &Side<'_, B>,
) -> Option<PairedChange> {
    let (mut wa, mut wb) = (Vec::new(), Vec::new());
    profile::measure(
        a.lum,
        &a.line,
        a.width_px.max(1.0),
        a.step_px,
        a.skip_px,
        a.excluded,
        a.psf_sigma_px,
        &mut wa,
    );
    profile::measure(
        b.lum,
        &b.line,
        b.width_px.max(1.0),
        b.step_px,
        b.skip_px,
        b.excluded,
        b.psf_sigma_px,
        &mut wb,
    );
    let keyed =
        |side_step: f32, skip: f32, mut v: Vec<WidthSample>, sigma: Option<f32>, min_c: f32| {
            v.retain(|s| s.depth >= min_c && s.fwhm_px > 0.0);
            if let Some(sg) = sigma {
                profile::set_diameters(&mut v, sg);
            }
            v.into_iter()
                .filter(|s| s.width_px.is_finite() && s.width_px > 0.0)
                .map(|s| (((s.arc_px - skip) / side_step).round() as i64, s.width_px))
                .collect::<std::collections::BTreeMap<i64, f32>>()
        };
    let ka = keyed(a.step_px, a.skip_px, wa, a.psf_sigma_px, a.min_contrast);
    let kb = keyed(b.step_px, b.skip_px, wb, b.psf_sigma_px, b.min_contrast);
    let mut d: Vec<f32> = ka
        .iter()
        .filter_map(|(k, &x)| {
            kb.get(k)
                .map(|&y| (y as f64 * b.um_per_px - x as f64 * a.um_per_px) as f32)
        })
        .collect();
    if d.len() < MIN_PAIRED {
        return None;
    }
    d.sort_by(f32::total_cmp);
    let iqr = (profile::quantile_sorted(&d, 0.75) - profile::quantile_sorted(&d, 0.25)) as f64;
    let n = d.len();
    Some(PairedChange {
        median_um: profile::median(&mut d) as f64,
        se_um: 0.929 * iqr / (n as f64).sqrt(),
        pairs: n,
    })
}

/// Redness of an image where it is read: `ln R/G` of the linear RGB after
/// the visit's colour matrix (the vessel stage's contrast is this less its
/// local skin background).
pub(crate) struct ImageRedness<'a> {
    w: usize,
    h: usize,
    s: SamplesRef<'a>,
    lut: [f32; 256],
    /// Rows R and G of the colour matrix.
    m: [[f32; 3]; 2],
}

impl<'a> ImageRedness<'a> {
    /// `None` for a greyscale image (no redness).
    pub fn new(img: &ImageRef<'a>, matrix: &[[f32; 3]; 3]) -> Option<Self> {
        (img.channels() == 3).then(|| ImageRedness {
            w: img.width(),
            h: img.height(),
            s: img.samples(),
            lut: std::array::from_fn(|v| srgb_to_linear(v as f32 / 255.0)),
            m: [matrix[0], matrix[1]],
        })
    }

    fn ln_rg(&self, x: usize, y: usize) -> f32 {
        let i = 3 * (y * self.w + x);
        let rgb: [f32; 3] = match self.s {
            SamplesRef::U8(s) => std::array::from_fn(|k| self.lut[s[i + k] as usize]),
            SamplesRef::U16(s) => {
                std::array::from_fn(|k| srgb_to_linear(s[i + k] as f32 / 65535.0))
            }
        };
        let dot = |r: &[f32; 3]| (r[0] * rgb[0] + r[1] * rgb[1] + r[2] * rgb[2]).max(1e-4);
        (dot(&self.m[0]) / dot(&self.m[1])).ln()
    }
}

/// What re-checking an unmatched capillary in the other image looks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CapAsk {
    /// Its centroid in the re-checked image's pixels.
    pub centre: [f32; 2],
    /// Its equivalent radius there (px).
    pub radius_px: f32,
    /// Leave that visit's vessel pixels out of the core too: the question
    /// is whether redness there is more than what its records carry (a
    /// part of a record of the asking visit, beside a capillary the other
    /// visit recorded).
    pub beside_records: bool,
}

/// Thresholds of a capillary re-check (the re-checked visit's vessel stage).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CapRules {
    /// Registration residual and centroid error allowed (px).
    pub residual_px: f32,
    /// Width of the skin ring the background is read on (px).
    pub ring_px: f32,
    /// The vessel stage's hysteresis thresholds (ln R/G above the skin):
    /// `(low_contrast, high_contrast)`.
    pub thresholds: (f32, f32),
}

/// What the other image shows at an unmatched capillary's position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CapFound {
    /// Too little analysable skin there to tell (hair, glare, the frame).
    Unseen,
    /// No redness at the stage's (noise-floored) seed threshold.
    Absent {
        /// Peak contrast found (ln R/G above the skin ring).
        contrast: f32,
        /// The threshold it was held to.
        threshold: f32,
    },
    /// Redness at the stage's seed threshold.
    Present {
        contrast: f32,
        threshold: f32,
        /// The unmatched capillary of that visit whose pixels hold the
        /// peak, if any (the same capillary detected at both visits, its
        /// centroid moved beyond the match gate).
        onto: Option<usize>,
    },
}

/// Look for the capillary `ask` in `red`: the peak of the contrast (the
/// mean `ln R/G` over a core half the capillary's radius across, less the
/// median of a skin ring around the search disc) within the capillary's
/// radius plus the residual of its centroid; present when the peak reaches
/// the vessel stage's seed threshold raised to its noise floor
/// ([`crate::vessels::noise_floored`]: 4 σ of the core mean's noise, σ the
/// ring's robust spread). `seen(x, y)`: the pixel shows the scene of the
/// shared field (not glare); `usable(x, y)`: it is analysable skin there
/// (seen, and not hair) at that visit. The ring reads skin only; the core
/// reads every seen pixel, those under the hair stage's mask too: a hair
/// darkens red nearly as much as green, so it lowers `ln R/G` and cannot
/// fake a capillary, while a red dot the hair stage took for (part of) a
/// shaft at that visit stays red and is found. `holder(x, y)`: whose
/// vessel pixel it is (Nobody outside vessels); ring pixels on any vessel
/// are left out.
pub(crate) fn recheck_capillary(
    red: &ImageRedness<'_>,
    ask: &CapAsk,
    rules: &CapRules,
    seen: &dyn Fn(usize, usize) -> bool,
    usable: &dyn Fn(usize, usize) -> bool,
    holder: &dyn Fn(usize, usize) -> Holder,
) -> CapFound {
    let r = ask.radius_px.max(1.0);
    let rs = r + rules.residual_px;
    let rc = (0.5 * r).max(1.0);
    let r1 = rs + rc + 2.0;
    let r2 = r1 + rules.ring_px.max(3.0);
    let [cx, cy] = ask.centre;
    if !(cx.is_finite() && cy.is_finite()) {
        return CapFound::Unseen;
    }
    let x0 = (cx - r2).floor().max(0.0) as usize;
    let y0 = (cy - r2).floor().max(0.0) as usize;
    let x1 = ((cx + r2).ceil().max(-1.0) as i64).min(red.w as i64 - 1);
    let y1 = ((cy + r2).ceil().max(-1.0) as i64).min(red.h as i64 - 1);
    if x1 < x0 as i64 || y1 < y0 as i64 {
        return CapFound::Unseen;
    }
    let (x1, y1) = (x1 as usize, y1 as usize);
    let pw = x1 - x0 + 1;
    // The patch: contrast source values (NaN where not usable).
    let mut v = vec![f32::NAN; pw * (y1 - y0 + 1)];
    let mut ring = Vec::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            let d = (x as f32 - cx).hypot(y as f32 - cy);
            if d > r2 || !seen(x, y) {
                continue;
            }
            let h = red.ln_rg(x, y);
            let free = holder(x, y) == Holder::Nobody;
            if free || !ask.beside_records {
                v[(y - y0) * pw + x - x0] = h;
            }
            if d >= r1 && free && usable(x, y) {
                ring.push(h);
            }
        }
    }
    if ring.len() < 8 {
        return CapFound::Unseen;
    }
    let bg = profile::median(&mut ring);
    let mut dev: Vec<f32> = ring.iter().map(|h| (h - bg).abs()).collect();
    let sigma = 1.4826 * profile::median(&mut dev);
    let ri = rc.ceil() as i64;
    let (mut best, mut best_at, mut n_best) = (f32::NEG_INFINITY, (0usize, 0usize), 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if (x as f32 - cx).hypot(y as f32 - cy) > rs || v[(y - y0) * pw + x - x0].is_nan() {
                continue;
            }
            let (mut sum, mut n) = (0.0f32, 0usize);
            for dy in -ri..=ri {
                for dx in -ri..=ri {
                    if ((dx * dx + dy * dy) as f32).sqrt() > rc {
                        continue;
                    }
                    let (u, w) = (x as i64 + dx, y as i64 + dy);
                    if u < x0 as i64 || w < y0 as i64 || u > x1 as i64 || w > y1 as i64 {
                        continue;
                    }
                    let h = v[(w as usize - y0) * pw + u as usize - x0];
                    if !h.is_nan() {
                        sum += h;
                        n += 1;
                    }
                }
            }
            if n >= 2 && sum / n as f32 - bg > best {
                best = sum / n as f32 - bg;
                best_at = (x, y);
                n_best = n;
            }
        }
    }
    if n_best == 0 {
        return CapFound::Unseen;
    }
    let (_, hi) = crate::vessels::noise_floored(rules.thresholds, sigma / (n_best as f32).sqrt());
    if best >= hi {
        let onto = match holder(best_at.0, best_at.1) {
            Holder::Free(j) => Some(j),
            _ => None,
        };
        CapFound::Present {
            contrast: best,
            threshold: hi,
            onto,
        }
    } else {
        CapFound::Absent {
            contrast: best,
            threshold: hi,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Plane;

    /// A skin plane 0.5 with a dark horizontal bar of width `wd` at `cy`.
    fn scene(wd: f32, cy: f32, depth: f32) -> Plane {
        let (w, h) = (120, 60);
        let mut p = Plane::filled(w, h, 0.5);
        for y in 0..h {
            let (l, r) = (y as f32 - 0.5, y as f32 + 0.5);
            let cov = (r.min(cy + wd / 2.0) - l.max(cy - wd / 2.0)).clamp(0.0, 1.0);
            for x in 10..110 {
                p.data[y * w + x] = 0.5 * (1.0 - depth * cov);
            }
        }
        p
    }

    fn rules() -> Rules {
        Rules {
            min_coverage: 0.6,
            max_offset_px: 3.0,
            width_factor: 2.5,
            contrast_fraction: 0.35,
            min_contrast: 0.04,
            min_positions: 4,
            psf_sigma_px: None,
            step_px: 1.5,
        }
    }

    fn ask(y: f32, wd: f32) -> Ask {
        Ask {
            line: vec![[15.0, y], [105.0, y]],
            width_px: wd,
            contrast: 0.6,
            exit: None,
        }
    }

    /// Skin 0.5 with dark horizontal bars `(width, centre y, depth)`.
    fn bars(b: &[(f32, f32, f32)]) -> Plane {
        let (w, h) = (120, 60);
        let mut p = Plane::filled(w, h, 0.5);
        for &(wd, cy, depth) in b {
            for y in 0..h {
                let (l, r) = (y as f32 - 0.5, y as f32 + 0.5);
                let cov = (r.min(cy + wd / 2.0) - l.max(cy - wd / 2.0)).clamp(0.0, 1.0);
                for x in 10..110 {
                    p.data[y * w + x] *= 1.0 - depth * cov;
                }
            }
        }
        p
    }

    #[test]
    fn a_hair_on_a_neighbours_shaft_is_told_kept_or_gone() {
        let all = |_: f32, _: f32| true;
        let side = |lum, y: f32, wd: f32| DarkSide {
            lum,
            line: vec![[15.0, y], [105.0, y]],
            width_px: wd,
            clear_px: 1.1 * 10.0 + 2.0,
            slack_px: 0.5,
            shown: &all,
        };
        // A hair 8 px wide touching a neighbour 10 px wide (8 px apart).
        let both = bars(&[(10.0, 30.0, 0.6), (8.0, 38.0, 0.6)]);
        let only_m = bars(&[(10.0, 30.0, 0.6)]);
        let kept = darker_side_kept(&side(&both, 38.0, 8.0), &side(&both, 38.0, 8.0), 30);
        assert!(kept.is_some_and(|x| x > 0.95), "{kept:?}");
        // Gone at the other visit: the neighbour's darkness stays under
        // the half on its side, skin under the other.
        let gone = darker_side_kept(&side(&both, 38.0, 8.0), &side(&only_m, 38.0, 8.0), 30);
        assert!(gone.is_some_and(|x| x < 0.2), "{gone:?}");
        // A second record of the neighbour's own hair, inside its shaft.
        let twice = darker_side_kept(&side(&only_m, 32.0, 6.0), &side(&only_m, 32.0, 6.0), 30);
        assert!(twice.is_some_and(|x| x > 0.95), "{twice:?}");
        // Shown nowhere: no reading.
        let none = |_: f32, _: f32| false;
        let hidden = DarkSide {
            shown: &none,
            ..side(&only_m, 38.0, 8.0)
        };
        assert_eq!(darker_side_kept(&side(&both, 38.0, 8.0), &hidden, 30), None);
    }

    #[test]
    fn a_shaft_along_the_line_is_found_with_its_width() {
        let p = scene(6.0, 30.0, 0.6);
        // Mapped 1.5 px off the shaft (a registration residual).
        let f = recheck(&p, &ask(31.5, 6.0), &rules(), &|_, _| true, &|_, _| {
            Holder::Nobody
        })
        .expect("found");
        assert!(f.coverage > 0.95, "{f:?}");
        assert!((f.diameter_px - 6.0).abs() < 0.3, "{f:?}");
        assert!((f.offset_px - 1.5).abs() < 0.2, "{f:?}");
        // A thickened shaft (expected 6, there 10) is still found, with its
        // own width.
        let p = scene(10.0, 30.0, 0.6);
        let f = recheck(&p, &ask(30.0, 6.0), &rules(), &|_, _| true, &|_, _| {
            Holder::Nobody
        })
        .expect("found");
        assert!((f.diameter_px - 10.0).abs() < 0.5, "{f:?}");
    }

    #[test]
    fn skin_a_distant_shaft_or_a_taken_one_is_not_a_hair() {
        // Bare skin.
        let p = Plane::filled(120, 60, 0.5);
        let none = |_: f32, _: f32| Holder::Nobody;
        assert_eq!(
            recheck(&p, &ask(30.0, 6.0), &rules(), &|_, _| true, &none),
            None
        );
        // A shaft 8 px away from the mapped line.
        let p = scene(4.0, 38.0, 0.6);
        assert_eq!(
            recheck(&p, &ask(30.0, 4.0), &rules(), &|_, _| true, &none),
            None
        );
        // A thin shaft 2.5 px beside the line (within the 3 px allowed for
        // the registration, but farther than half its width): a
        // neighbour; 1.2 px beside it: this hair.
        let p = scene(3.0, 32.5, 0.6);
        assert_eq!(
            recheck(&p, &ask(30.0, 3.0), &rules(), &|_, _| true, &none),
            None
        );
        assert!(recheck(&p, &ask(31.3, 3.0), &rules(), &|_, _| true, &none).is_some());
        // The shaft there belongs to a matched hair of that visit: no
        // evidence of this one.
        let p = scene(6.0, 30.0, 0.6);
        let taken = |_: f32, y: f32| {
            if (y - 30.0).abs() <= 4.0 {
                Holder::Taken
            } else {
                Holder::Nobody
            }
        };
        assert_eq!(
            recheck(&p, &ask(30.0, 6.0), &rules(), &|_, _| true, &taken),
            None
        );
        // A free (unmatched) record there: found, and named.
        let free = |_: f32, y: f32| {
            if (y - 30.0).abs() <= 4.0 {
                Holder::Free(7)
            } else {
                Holder::Nobody
            }
        };
        let f = recheck(&p, &ask(30.0, 6.0), &rules(), &|_, _| true, &free).unwrap();
        assert_eq!(f.onto, Some(7));
        // Faint (a tenth of the shaft's contrast): not compatible.
        let p = scene(6.0, 30.0, 0.05);
        assert_eq!(
            recheck(&p, &ask(30.0, 6.0), &rules(), &|_, _| true, &none),
            None
        );
        // Outside the shared field: nothing to profile, unseen.
        let p = scene(6.0, 30.0, 0.6);
        let f = recheck(&p, &ask(30.0, 6.0), &rules(), &|_, _| false, &none);
        assert!(f.is_some_and(|f| !f.seen()));
    }
    #[test]
    fn a_stub_at_the_frame_edge_is_probed() {
        // A vertical shaft 6 px wide at x = 60 down the whole frame; the
        // mapped line runs from far above the frame to 2 px inside it: too
        // little for profiles, enough for the probe.
        let (w, h) = (120usize, 60usize);
        let mut p = Plane::filled(w, h, 0.5);
        for y in 0..h {
            for x in 57..63 {
                p.data[y * w + x] = 0.2;
            }
        }
        let stub = Ask {
            line: vec![[60.5, -60.0], [60.5, 2.0]],
            width_px: 6.0,
            contrast: 0.6,
            exit: None,
        };
        let in_frame = |_: f32, y: f32| y >= -0.5;
        let none = |_: f32, _: f32| Holder::Nobody;
        let f = recheck(&p, &stub, &rules(), &in_frame, &none).expect("present");
        assert!(!f.seen() && f.probed >= 2 && f.coverage >= 0.99, "{f:?}");
        assert!((f.contrast - 0.6).abs() < 0.05, "{f:?}");
        // Bare skin there: absent.
        let skin = Plane::filled(w, h, 0.5);
        assert_eq!(recheck(&skin, &stub, &rules(), &in_frame, &none), None);
        // The shaft there is a matched one of that visit: no evidence, absent.
        let taken = |x: f32, _: f32| {
            if (x - 60.0).abs() <= 4.0 {
                Holder::Taken
            } else {
                Holder::Nobody
            }
        };
        assert_eq!(recheck(&p, &stub, &rules(), &in_frame, &taken), None);
        // The exit, inside the frame, extends the probed axis: a line wholly
        // outside the frame whose exit lies 3 px inside is probed too, and
        // without the exit it is unseen.
        let outside = Ask {
            line: vec![[60.5, -60.0], [60.5, -5.0]],
            exit: Some([60.5, 3.0]),
            ..stub.clone()
        };
        let f = recheck(&p, &outside, &rules(), &in_frame, &none).expect("present");
        assert!(f.probed >= 2, "{f:?}");
        let unseen = Ask {
            exit: None,
            ..outside
        };
        let f = recheck(&p, &unseen, &rules(), &in_frame, &none);
        assert!(f.is_some_and(|f| !f.seen() && f.probed == 0));
    }

    #[test]
    fn paired_widths_tell_a_thickened_shaft_from_a_repeat() {
        let (a, b) = (scene(6.0, 30.0, 0.6), scene(10.0, 30.0, 0.6));
        let never = |_: f32, _: f32| false;
        fn side<'a>(
            p: &'a Plane,
            w: f32,
            excluded: &'a (dyn Fn(f32, f32) -> bool + Sync),
        ) -> Side<'a, Plane> {
            Side {
                lum: p,
                line: vec![[15.0, 30.0], [105.0, 30.0]],
                width_px: w,
                step_px: 2.0,
                skip_px: 5.0,
                psf_sigma_px: None,
                excluded,
                um_per_px: 5.0,
                min_contrast: 0.04,
            }
        }
        let same = paired_change(&side(&a, 6.0, &never), &side(&a, 6.0, &never)).expect("pairs");
        assert!(same.median_um.abs() < 1e-6 && same.pairs >= 20, "{same:?}");
        let thick = paired_change(&side(&a, 6.0, &never), &side(&b, 10.0, &never)).expect("pairs");
        assert!((thick.median_um - 20.0).abs() < 2.5, "{thick:?}");
        // Nothing both sides show: no paired change.
        let all = |_: f32, _: f32| true;
        let gone = side(&b, 10.0, &all);
        assert_eq!(paired_change(&side(&a, 6.0, &never), &gone), None);
    }

    #[test]
    fn a_red_dot_is_present_skin_absent_and_hair_unseen() {
        use crate::image::{Image, Samples};
        // Skin (sRGB 200, 150, 130) with a redder dot of radius 4 at (40, 30).
        let (w, h) = (80usize, 60usize);
        let mut px = vec![0u8; 3 * w * h];
        for y in 0..h {
            for x in 0..w {
                let dot = (x as f32 - 40.0).hypot(y as f32 - 30.0) <= 4.0;
                let c = if dot {
                    [190, 110, 110]
                } else {
                    [200, 150, 130]
                };
                px[3 * (y * w + x)..3 * (y * w + x) + 3].copy_from_slice(&c);
            }
        }
        let img = Image::new(w, h, 3, Samples::U8(px)).unwrap();
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let red = ImageRedness::new(&img.view(), &id).unwrap();
        let rules = CapRules {
            residual_px: 1.5,
            ring_px: 4.0,
            thresholds: (0.04, 0.08),
        };
        let all = |_: usize, _: usize| true;
        let none = |_: usize, _: usize| Holder::Nobody;
        let at = |x: f32, y: f32| CapAsk {
            centre: [x, y],
            radius_px: 4.0,
            beside_records: false,
        };
        // Mapped 2 px off its centre (a residual): present.
        let f = recheck_capillary(&red, &at(42.0, 30.0), &rules, &all, &all, &none);
        assert!(
            matches!(f, CapFound::Present { contrast, .. } if contrast > 0.2),
            "{f:?}"
        );
        // Bare skin 20 px away: absent.
        let f = recheck_capillary(&red, &at(15.0, 15.0), &rules, &all, &all, &none);
        assert!(matches!(f, CapFound::Absent { .. }), "{f:?}");
        // Under glare or outside the field: unseen.
        let f = recheck_capillary(&red, &at(40.0, 30.0), &rules, &|_, _| false, &all, &none);
        assert_eq!(f, CapFound::Unseen);
        // Under the hair stage's mask (a red dot taken for a shaft): still
        // read, and present; with no skin around it to read the background
        // on, unseen.
        let dot_masked = |x: usize, y: usize| (x as f32 - 40.0).hypot(y as f32 - 30.0) > 5.0;
        let f = recheck_capillary(&red, &at(40.0, 30.0), &rules, &all, &dot_masked, &none);
        assert!(matches!(f, CapFound::Present { .. }), "{f:?}");
        let f = recheck_capillary(&red, &at(40.0, 30.0), &rules, &all, &|_, _| false, &none);
        assert_eq!(f, CapFound::Unseen);
        // The peak on an unmatched capillary of that visit: named.
        let free = |x: usize, y: usize| {
            if (x as f32 - 40.0).hypot(y as f32 - 30.0) <= 4.0 {
                Holder::Free(3)
            } else {
                Holder::Nobody
            }
        };
        let f = recheck_capillary(&red, &at(40.0, 30.0), &rules, &all, &all, &free);
        assert!(
            matches!(f, CapFound::Present { onto: Some(3), .. }),
            "{f:?}"
        );
        // Beside that visit's records, a record's own redness does not
        // count: a part next to the dot finds only its halo.
        let beside = CapAsk {
            beside_records: true,
            ..at(46.0, 30.0)
        };
        let f = recheck_capillary(&red, &beside, &rules, &all, &all, &free);
        assert!(matches!(f, CapFound::Absent { .. }), "{f:?}");
    }
}
