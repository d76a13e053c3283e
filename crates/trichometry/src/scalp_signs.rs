//! Yellow dots and white scales, two trichoscopic signs of the scalp
//! surface, measured by colour against the local skin.
//!
//! - **Yellow dots** are follicular openings filled with sebum and keratin:
//!   round or polycyclic, yellow to yellow-pink, about 100–300 µm and more,
//!   sometimes with a (vellus) hair in them. A yellow dot is a region whose
//!   CIELAB b* rises above the local skin's (yellower), that is lighter than
//!   the skin, whose rise of b* is a large enough share of its rise of L*
//!   (yellow, not white), and that is roundish and of a dot's size.
//! - **White scales** (dandruff, follicular scaling) are flakes lying on the
//!   skin and over hairs: bright, white to yellowish, irregular, soft-edged.
//!   A scale is a region much lighter than the local skin (L*) that is not
//!   yellow and is not a pinpoint white dot: pinpoint white dots (eccrine and
//!   follicular openings, 100–200 µm) are round and small, and are left out,
//!   also when a hair (dark, or a translucent light one), glare or the
//!   border hides part of one (the visible arc must be a circle of a dot's
//!   size whose unseen part is hidden; a part too hidden for an arc is a dot
//!   when it fits in one). A
//!   scale's plateau (twice its half level) reaches the seed contrast, and a
//!   faint one has an edge: a faint broad lightening of the skin is not a
//!   flake.
//!   Glare (specular, clipped) is not analysable (the quality stage's mask)
//!   and never becomes scale.
//!
//! The work is done at a coarse working resolution (about
//! [`ScalpSignParams::working_um_per_px`], box averages of linear RGB, so
//! the same scene gives the same result at 2 and at 6 µm/px; a 12 MP image
//! costs about 0.1 s of CPU at 2 µm/px and 0.5 s at 5.5 µm/px, whose
//! working grid is the largest, bench group `12mp_scalp_signs`): CIELAB per
//! working pixel, the local skin colour as block medians (two passes, the second without the
//! objects found by the first), contrasts ΔL*, Δa*, Δb* to it. Hair is dark:
//! where hair crosses a yellow dot, the contrasts are filled in from the
//! surroundings (normalised convolution), so a hair emerging from a dot does
//! not cut it in two. Regions grow by hysteresis, and each object's extent
//! is its half-contrast level (half of its plateau, the 90th/75th percentile
//! of its contrast), so a soft edge or a blur gives the same size. The scale
//! mask is refined at full resolution: a pixel in a scale's neighbourhood is
//! scale when its L* is above the scale's half level. A flake also lies over
//! hairs: a scale found on the skin goes on over the (opaque, dark) hair
//! pixels next to it whose lightening, taken as a white cover of the bare
//! hair (the darkest hair nearby), is the cover that lifts the skin to the
//! scale's half level.
//!
//! A dot cut by the image border is counted when its centre is inside the
//! image: with a chord `c` along the border and a depth `t` into the image,
//! the centre of a disc is inside exactly when `t ≥ c/2`.

use crate::analysis::StageInput;
use crate::color::{lab_f_fast, linear_rgb_to_lab_fast};
use crate::error::{check_positive, Error, Result};
use crate::image::{Labels, Mask, Plane};
use crate::kernels::{
    block_median, gaussian_blur, hysteresis, label, min_filter, regions, Footprint,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters of the yellow-dot and scale detector. Contrasts are CIELAB
/// differences to the local skin; lengths in µm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalpSignParams {
    /// Working resolution (µm per working pixel; the image is box-averaged
    /// by the nearest whole factor).
    pub working_um_per_px: f64,
    /// Side of the blocks whose median colour is the local skin colour.
    pub background_block_um: f64,
    /// Δb* a yellow dot must reach somewhere (hysteresis seed).
    pub yellow_seed_b_star: f64,
    /// Δb* of a yellow dot's extent (hysteresis floor).
    pub yellow_floor_b_star: f64,
    /// Yellow, not white: Δb* ≥ this × ΔL* (per pixel and per dot).
    pub yellow_min_b_per_l: f64,
    /// A yellow dot is lighter than the skin by at least this mean ΔL*.
    pub yellow_min_l_star: f64,
    /// Smallest yellow-dot diameter (equivalent circle).
    pub yellow_dot_min_um: f64,
    /// Largest yellow-dot diameter (equivalent circle).
    pub yellow_dot_max_um: f64,
    /// Largest elongation (√ of the inertia eigenvalue ratio) of a dot.
    pub yellow_dot_max_elongation: f64,
    /// How far from a flake lying over a hair the bare hair (its colour
    /// without the flake) is looked for, µm.
    pub hair_bare_reach_um: f64,
    /// ΔL* a scale must reach somewhere (hysteresis seed).
    pub scale_seed_l_star: f64,
    /// ΔL* of a scale's extent (hysteresis floor).
    pub scale_floor_l_star: f64,
    /// Bright round objects up to this diameter are pinpoint white dots,
    /// not scales.
    pub white_dot_max_um: f64,
    /// Largest elongation of a pinpoint white dot.
    pub white_dot_max_elongation: f64,
    /// Bright objects smaller than this area (µm²) are left out.
    pub scale_min_area_um2: f64,
    /// A scale loses at least this share of the redness (a*) that a white
    /// cover lightening the skin as much would take away.
    pub scale_min_whitening: f64,
    /// Pixels darker than the skin by this ΔL* are hair (with the hair
    /// stage's mask): not skin, and filled in within yellow dots.
    pub dark_l_star: f64,
    /// σ of the normalised convolution that fills hair inside dots.
    pub hair_fill_um: f64,
}

impl Default for ScalpSignParams {
    fn default() -> Self {
        ScalpSignParams {
            working_um_per_px: 10.0,
            background_block_um: 800.0,
            yellow_seed_b_star: 7.0,
            yellow_floor_b_star: 3.0,
            yellow_min_b_per_l: 0.35,
            yellow_min_l_star: 2.0,
            yellow_dot_min_um: 60.0,
            yellow_dot_max_um: 600.0,
            yellow_dot_max_elongation: 2.0,
            hair_bare_reach_um: 100.0,
            scale_seed_l_star: 7.0,
            scale_floor_l_star: 4.0,
            white_dot_max_um: 240.0,
            white_dot_max_elongation: 1.6,
            scale_min_area_um2: 2500.0,
            scale_min_whitening: 0.6,
            dark_l_star: 8.0,
            hair_fill_um: 40.0,
        }
    }
}

impl ScalpSignParams {
    fn validate(&self) -> Result<()> {
        for (n, v) in [
            ("working_um_per_px", self.working_um_per_px),
            ("background_block_um", self.background_block_um),
            ("yellow_seed_b_star", self.yellow_seed_b_star),
            ("yellow_floor_b_star", self.yellow_floor_b_star),
            ("yellow_dot_min_um", self.yellow_dot_min_um),
            ("yellow_dot_max_um", self.yellow_dot_max_um),
            ("yellow_dot_max_elongation", self.yellow_dot_max_elongation),
            ("hair_bare_reach_um", self.hair_bare_reach_um),
            ("scale_seed_l_star", self.scale_seed_l_star),
            ("scale_floor_l_star", self.scale_floor_l_star),
            ("white_dot_max_elongation", self.white_dot_max_elongation),
            ("dark_l_star", self.dark_l_star),
            ("hair_fill_um", self.hair_fill_um),
        ] {
            check_positive(n, v)?;
        }
        for (n, v) in [
            ("yellow_min_b_per_l", self.yellow_min_b_per_l),
            ("yellow_min_l_star", self.yellow_min_l_star),
            ("white_dot_max_um", self.white_dot_max_um),
            ("scale_min_area_um2", self.scale_min_area_um2),
            ("scale_min_whitening", self.scale_min_whitening),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(n, format!("must be finite and ≥ 0, got {v}")));
            }
        }
        if self.yellow_dot_max_um < self.yellow_dot_min_um {
            return Err(Error::param(
                "yellow_dot_max_um",
                "must be ≥ yellow_dot_min_um",
            ));
        }
        if self.yellow_seed_b_star < self.yellow_floor_b_star {
            return Err(Error::param(
                "yellow_seed_b_star",
                "must be ≥ yellow_floor_b_star",
            ));
        }
        if self.scale_seed_l_star < self.scale_floor_l_star {
            return Err(Error::param(
                "scale_seed_l_star",
                "must be ≥ scale_floor_l_star",
            ));
        }
        Ok(())
    }
}

/// One yellow dot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YellowDot {
    /// 1-based id (the value in the yellow-dot labels).
    pub id: u32,
    /// Centre x (px, full resolution; pixel centres at integers).
    pub centre_x_px: f64,
    /// Centre y (px).
    pub centre_y_px: f64,
    /// Centre x (µm from the image's left edge of pixel 0's centre).
    pub centre_x_um: f64,
    /// Centre y (µm).
    pub centre_y_um: f64,
    /// Diameter of the circle of the same area at half contrast (for a dot
    /// cut by the image border: of the circle through its visible outline).
    pub diameter_um: f64,
    /// Area at half contrast (visible part), µm².
    pub area_um2: f64,
    /// Elongation √(λ1/λ2) of the visible part.
    pub elongation: f64,
    /// Mean Δb* (yellowness) to the local skin.
    pub contrast_b_star: f64,
    /// Mean ΔL* (lightness) to the local skin.
    pub contrast_l_star: f64,
    /// Mean rise of chroma C*ab over the local skin's.
    pub contrast_chroma: f64,
    /// Cut by the image border.
    pub truncated: bool,
}

/// Image-level figures (`None` when the stage did not run: no scale, or a
/// greyscale image).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScalpSignSummary {
    /// Number of yellow dots (centre in the image).
    pub yellow_dot_count: Option<usize>,
    /// Yellow dots per cm² of analysable area.
    pub yellow_dot_density_per_cm2: Option<f64>,
    /// Mean yellow-dot diameter (`None` without dots).
    pub yellow_dot_diameter_mean_um: Option<f64>,
    /// Fraction of the analysable area (not glare) covered by scales.
    pub scale_area_fraction: Option<f64>,
    /// Area covered by scales, mm².
    pub scale_area_mm2: Option<f64>,
}

/// The output of [`detect_scalp_signs`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScalpSigns {
    /// Yellow dots.
    pub yellow_dots: Vec<YellowDot>,
    /// Yellow-dot pixels (full resolution).
    pub yellow_dot_mask: Mask,
    /// Scale pixels (full resolution).
    pub scale_mask: Mask,
    /// Pinpoint white dots seen (not scales), counted for diagnostics.
    pub white_dot_count: usize,
    /// Image-level figures.
    pub summary: ScalpSignSummary,
}

/// Working planes at the coarse resolution.
struct Work {
    w: usize,
    h: usize,
    /// Full-resolution pixels per working pixel.
    f: usize,
    /// CIELAB L*, a*, b* of each working pixel (the mean linear RGB).
    l: Plane,
    a: Plane,
    b: Plane,
    /// Every full-resolution pixel of the block is analysable.
    ok: Vec<bool>,
    /// At least a quarter of the block is hair (hair stage).
    hair: Vec<bool>,
    /// Share of the block that is hair (hair stage).
    hair_frac: Vec<f32>,
}

fn work_planes(input: &StageInput<'_>, hair: Option<&Mask>, f: usize) -> Work {
    let rgb = input.rgb;
    let (fw, fh) = (rgb.width, rgb.height);
    let (w, h) = (fw.div_ceil(f), fh.div_ceil(f));
    let mut l = vec![0.0f32; w * h];
    let mut a = vec![0.0f32; w * h];
    let mut b = vec![0.0f32; w * h];
    let mut ok = vec![false; w * h];
    let mut hr = vec![false; w * h];
    let mut hf = vec![0.0f32; w * h];
    let hair = hair.filter(|m| m.data.len() == fw * fh);
    l.par_chunks_mut(w)
        .zip(a.par_chunks_mut(w))
        .zip(b.par_chunks_mut(w))
        .zip(ok.par_chunks_mut(w))
        .zip(hr.par_chunks_mut(w))
        .zip(hf.par_chunks_mut(w))
        .enumerate()
        .for_each(|(j, (((((lr, ar), br), okr), hrr), hfr))| {
            let (y0, y1) = (j * f, ((j + 1) * f).min(fh));
            let mut acc = vec![[0.0f32; 3]; w];
            let mut nvalid = vec![0u32; w];
            let mut nhair = vec![0u32; w];
            for y in y0..y1 {
                let row = y * fw..(y + 1) * fw;
                let (r, g, b) = (
                    &rgb.r[row.clone()],
                    &rgb.g[row.clone()],
                    &rgb.b[row.clone()],
                );
                let v = &input.valid.data[row.clone()];
                for ((((s, rc), gc), bc), (nv, vc)) in acc
                    .iter_mut()
                    .zip(r.chunks(f))
                    .zip(g.chunks(f))
                    .zip(b.chunks(f))
                    .zip(nvalid.iter_mut().zip(v.chunks(f)))
                {
                    for k in 0..rc.len() {
                        s[0] += rc[k];
                        s[1] += gc[k];
                        s[2] += bc[k];
                        *nv += vc[k] as u32;
                    }
                }
                if let Some(hm) = hair {
                    for (nh, hc) in nhair.iter_mut().zip(hm.data[row].chunks(f)) {
                        *nh += hc.iter().map(|&x| x as u32).sum::<u32>();
                    }
                }
            }
            for i in 0..w {
                let n = ((y1 - y0) * (((i + 1) * f).min(fw) - i * f)) as f32;
                let lab = linear_rgb_to_lab_fast([acc[i][0] / n, acc[i][1] / n, acc[i][2] / n]);
                lr[i] = lab[0];
                ar[i] = lab[1];
                br[i] = lab[2];
                okr[i] = nvalid[i] as f32 == n;
                hrr[i] = nhair[i] as f32 * 4.0 >= n;
                hfr[i] = nhair[i] as f32 / n;
            }
        });
    Work {
        w,
        h,
        f,
        l: Plane::from_vec(w, h, l),
        a: Plane::from_vec(w, h, a),
        b: Plane::from_vec(w, h, b),
        ok,
        hair: hr,
        hair_frac: hf,
    }
}

fn mask_of(w: usize, h: usize, data: Vec<bool>) -> Mask {
    Mask {
        width: w,
        height: h,
        data,
    }
}

/// Local skin L*, a*, b*: block medians over analysable, hairless working
/// pixels; then again without the pixels that stood out from the first pass.
fn skin_colour(work: &Work, block: usize) -> [Plane; 3] {
    let (w, h) = (work.w, work.h);
    let skin = mask_of(
        w,
        h,
        work.ok
            .iter()
            .zip(&work.hair)
            .map(|(&o, &hh)| o && !hh)
            .collect(),
    );
    let planes = [&work.l, &work.a, &work.b];
    // L* and b* decide what stands out; a* is only reported.
    let first: Vec<Plane> = [planes[0], planes[2]]
        .iter()
        .map(|p| block_median(p, &skin, block, 0.05))
        .collect();
    let quiet = mask_of(
        w,
        h,
        (0..w * h)
            .into_par_iter()
            .map(|i| {
                skin.data[i]
                    && (planes[0].data[i] - first[0].data[i]).abs() < 4.0
                    && (planes[2].data[i] - first[1].data[i]).abs() < 4.0
            })
            .collect(),
    );
    [0, 1, 2].map(|k| block_median(planes[k], &quiet, block, 0.05))
}

/// Normalised convolution: `v` smoothed over the pixels where `m` is set,
/// for each `v` of `vs` (the smoothed mask, the denominator, is shared).
fn fill_from<const K: usize>(
    vs: [&[f32]; K],
    m: &[bool],
    w: usize,
    h: usize,
    sigma: f32,
) -> [Vec<f32>; K] {
    let den = gaussian_blur(
        &Plane::from_vec(w, h, m.iter().map(|&k| k as u8 as f32).collect()),
        sigma,
    );
    vs.map(|v| {
        let num = gaussian_blur(
            &Plane::from_vec(
                w,
                h,
                v.iter()
                    .zip(m)
                    .map(|(&x, &k)| if k { x } else { 0.0 })
                    .collect(),
            ),
            sigma,
        );
        num.data
            .iter()
            .zip(&den.data)
            .map(|(&n, &d)| if d > 0.05 { n / d } else { 0.0 })
            .collect()
    })
}

/// The q-quantile (0..1) of `v` (reordered).
fn quantile(v: &mut [f32], q: f64) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    *v.select_nth_unstable_by(k, f32::total_cmp).1
}

/// `cells` grown by one pixel (3 × 3 square).
fn grow1(cells: &[bool], w: usize, h: usize) -> Vec<bool> {
    crate::kernels::dilate_square_rows(cells, w, h, 1, w * h >= 1 << 16)
}

/// Regions of `mask`, each cut at its half level (half its plateau, the
/// `q`-quantile of `v` over the region): objects whose soft rims touch fall
/// apart. Returns the labels of the parts and each pixel's level (∞ outside).
fn split_at_half(mask: &Mask, v: &[f32], q: f64) -> (Labels, Vec<f32>) {
    let mut level = vec![f32::INFINITY; v.len()];
    for px in members(&label(mask)) {
        let mut vals: Vec<f32> = px.iter().map(|&i| v[i as usize]).collect();
        let half = 0.5 * quantile(&mut vals, q);
        for &i in &px {
            level[i as usize] = half;
        }
    }
    let parts = label(&mask_of(
        mask.width,
        mask.height,
        v.iter().zip(&level).map(|(&x, &l)| x >= l).collect(),
    ));
    (parts, level)
}

/// Pixels of each label 1..=count (index i holds label i + 1).
fn members(labels: &Labels) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); labels.count as usize];
    for (i, &l) in labels.data.iter().enumerate() {
        if l > 0 {
            out[l as usize - 1].push(i as u32);
        }
    }
    out
}

/// Refine an object at full resolution: every full-resolution pixel of the
/// working pixels in `cells` (and their 8-neighbours) that is analysable and
/// where `test(full index, working index, level)` holds is set in `out`;
/// `level` is the smallest of `cell_level` over the working pixel's 3 × 3
/// neighbourhood (a cell next to an object takes its level), found only
/// where it is needed (no filter over the whole plane).
#[allow(clippy::too_many_arguments)]
fn refine(
    work: &Work,
    cells: &[bool],
    cell_level: &[f32],
    full_w: usize,
    full_h: usize,
    valid: &Mask,
    test: impl Fn(usize, usize, f32) -> bool + Sync,
    out: &mut [bool],
) {
    let (w, h, f) = (work.w, work.h, work.f);
    let grown = grow1(cells, w, h);
    out.par_chunks_mut(full_w * f)
        .enumerate()
        .for_each(|(j, band)| {
            let (ya, yb) = (j.saturating_sub(1), (j + 1).min(h - 1));
            for i in 0..w {
                let k = j * w + i;
                if !grown[k] {
                    continue;
                }
                // The 3 × 3 minimum, rows then columns (as `min_filter`).
                let (xa, xb) = (i.saturating_sub(1), (i + 1).min(w - 1));
                let level = (ya..=yb)
                    .map(|y| {
                        cell_level[y * w + xa..=y * w + xb]
                            .iter()
                            .copied()
                            .fold(f32::INFINITY, f32::min)
                    })
                    .fold(f32::INFINITY, f32::min);
                let y1 = ((j + 1) * f).min(full_h) - j * f;
                let (x0, x1) = (i * f, ((i + 1) * f).min(full_w));
                for yy in 0..y1 {
                    for x in x0..x1 {
                        let p = (j * f + yy) * full_w + x;
                        if valid.data[p] && test(p, k, level) {
                            band[yy * full_w + x] = true;
                        }
                    }
                }
            }
        });
}

/// Detect yellow dots and scales.
///
/// `hair` is the hair stage's mask (full resolution), when it ran. Errors on
/// an invalid scale or parameters, and on a greyscale image (colour is the
/// measure).
pub fn detect_scalp_signs(
    input: &StageInput<'_>,
    hair: Option<&Mask>,
    params: &ScalpSignParams,
) -> Result<ScalpSigns> {
    let upp = check_positive("um_per_px", input.um_per_px)?;
    params.validate()?;
    crate::color::require_colour(input.rgb, "yellow dots and scales")?;
    let rgb = input.rgb;
    let (fw, fh) = (rgb.width, rgb.height);
    if input.valid.data.len() != fw * fh {
        return Err(Error::param("valid", "mask size differs from the image"));
    }
    let f = ((params.working_um_per_px / upp).round() as usize).max(1);
    let um = upp * f as f64;
    let work = work_planes(input, hair, f);
    let (w, h) = (work.w, work.h);
    let n = w * h;
    let block = ((params.background_block_um / um).round() as usize).max(4);
    let [bg_l, bg_a, bg_b] = skin_colour(&work, block);
    let dl: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| work.l.data[i] - bg_l.data[i])
        .collect();
    let db: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| work.b.data[i] - bg_b.data[i])
        .collect();
    let dark: Vec<bool> = (0..n)
        .into_par_iter()
        .map(|i| work.hair[i] || dl[i] < -(params.dark_l_star as f32))
        .collect();
    let clear: Vec<bool> = (0..n)
        .into_par_iter()
        .map(|i| work.ok[i] && !dark[i])
        .collect();

    // ---- yellow dots
    let sigma_fill = (params.hair_fill_um / um) as f32;
    let (dl_f, db_f) = if dark.iter().any(|&d| d) {
        let [dl_f, db_f] = fill_from([&dl, &db], &clear, w, h, sigma_fill);
        (dl_f, db_f)
    } else {
        (dl.clone(), db.clone())
    };
    let ratio = params.yellow_min_b_per_l as f32;
    // Yellowness where the pixel is yellow rather than white; hair inside a
    // dot takes the filled-in contrasts.
    let yel: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (l, b) = if dark[i] {
                (dl_f[i], db_f[i])
            } else {
                (dl[i], db[i])
            };
            if work.ok[i] && b >= ratio * l {
                b
            } else {
                0.0
            }
        })
        .collect();
    let ymask = hysteresis(
        &Plane::from_vec(w, h, yel.clone()),
        params.yellow_floor_b_star as f32,
        params.yellow_seed_b_star as f32,
    );
    // Each region's extent is its half level (half its plateau, the 90th
    // percentile); dots whose soft rims touch fall apart at that level.
    let (ylab, level_px) = split_at_half(&ymask, &yel, 0.9);
    let ystats = regions(&ylab);
    let ymembers = members(&ylab);
    let chroma = |a: f32, b: f32| (a * a + b * b).sqrt();
    let mut dots = Vec::new();
    let mut dot_cells = vec![false; n];
    let mut dot_level = vec![f32::INFINITY; ylab.count as usize];
    let fsz = f as f64;
    for (k, (st, px)) in ystats.iter().zip(&ymembers).enumerate() {
        if px.is_empty() {
            continue;
        }
        let half = level_px[px[0] as usize];
        let inner: Vec<usize> = px.iter().map(|&i| i as usize).collect();
        let (mut sb, mut sl, mut sc, mut nc) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        let (mut cx, mut cy, mut wsum) = (0.0f64, 0.0f64, 0.0f64);
        for &i in &inner {
            let wt = yel[i] as f64;
            cx += wt * (i % w) as f64;
            cy += wt * (i / w) as f64;
            wsum += wt;
            if !dark[i] {
                sb += db[i] as f64;
                sl += dl[i] as f64;
                sc += (chroma(work.a.data[i], work.b.data[i]) - chroma(bg_a.data[i], bg_b.data[i]))
                    as f64;
                nc += 1;
            }
        }
        if nc == 0 || wsum <= 0.0 {
            continue;
        }
        let (mb, ml, mc) = (sb / nc as f64, sl / nc as f64, sc / nc as f64);
        if ml < params.yellow_min_l_star || mb < params.yellow_min_b_per_l * ml {
            continue;
        }
        // Border: chord along the border, depth into the image.
        let (x0, y0, x1, y1) = (
            st.bbox_x_min as usize,
            st.bbox_y_min as usize,
            st.bbox_x_max as usize,
            st.bbox_y_max as usize,
        );
        let (bw_, bh_) = ((x1 - x0 + 1) as f64, (y1 - y0 + 1) as f64);
        let on_lr = x0 == 0 || x1 + 1 == w;
        let on_tb = y0 == 0 || y1 + 1 == h;
        let area_px = inner.len() as f64;
        let truncated = on_lr || on_tb;
        let diameter_um = if truncated {
            // Chord c along the border, depth t into the image: the circle
            // through the visible outline has r = (t² + c²/4) / (2t); its
            // centre is inside exactly when t ≥ c/2.
            let (c, t) = if on_lr && !on_tb {
                (bh_, bw_)
            } else if on_tb && !on_lr {
                (bw_, bh_)
            } else {
                // A corner: take the visible part as a quarter or more.
                (bw_.max(bh_), bw_.min(bh_))
            };
            if t < 0.5 * c {
                continue;
            }
            (t * t + 0.25 * c * c) / t * um
        } else {
            2.0 * (area_px / std::f64::consts::PI).sqrt() * um
        };
        if diameter_um < params.yellow_dot_min_um || diameter_um > params.yellow_dot_max_um {
            continue;
        }
        if !truncated && st.elongation() > params.yellow_dot_max_elongation {
            continue;
        }
        let (cxw, cyw) = (cx / wsum, cy / wsum);
        // Working pixel (i, j) covers full pixels i·f .. i·f + f − 1.
        let (x_px, y_px) = ((cxw + 0.5) * fsz - 0.5, (cyw + 0.5) * fsz - 0.5);
        for &i in &inner {
            dot_cells[i] = true;
        }
        dot_level[k] = half;
        dots.push(YellowDot {
            id: dots.len() as u32 + 1,
            centre_x_px: x_px,
            centre_y_px: y_px,
            centre_x_um: x_px * upp,
            centre_y_um: y_px * upp,
            diameter_um,
            area_um2: area_px * um * um,
            elongation: st.elongation(),
            contrast_b_star: mb,
            contrast_l_star: ml,
            contrast_chroma: mc,
            truncated,
        });
    }
    // Full-resolution dot mask: yellow above the dot's half level.
    let mut dot_data = vec![false; fw * fh];
    if !dots.is_empty() {
        let level: Vec<f32> = (0..n)
            .into_par_iter()
            .map(|i| {
                let l = ylab.data[i];
                if l > 0 {
                    dot_level[l as usize - 1]
                } else {
                    f32::INFINITY
                }
            })
            .collect();
        // Cells next to a dot take its level (the dilation in `refine`).
        refine(
            &work,
            &dot_cells,
            &level,
            fw,
            fh,
            input.valid,
            |p, k, level| {
                let lab = linear_rgb_to_lab_fast([rgb.r[p], rgb.g[p], rgb.b[p]]);
                let (l, b) = (lab[0] - bg_l.data[k], lab[2] - bg_b.data[k]);
                b >= level && b >= ratio * l
            },
            &mut dot_data,
        );
    }

    // ---- scales
    // A flake is a white cover of share α over what lies under it: in
    // linear luminance Y = α·Y_white + (1 − α)·Y_under. Over skin the cover
    // is judged by its lift of L* above the skin; over hair (flakes lie on
    // hairs too) the same cover lifts the dark hair instead, so a working
    // pixel's cover share is taken against what it would be bare (the local
    // hair and skin, mixed by its share of hair) and turned into the lift
    // the same cover gives over the skin. Without hair this is ΔL* itself.
    let y_of = |l: f32| crate::color::lab_f_inv((l + 16.0) / 116.0);
    let l_of = |y: f32| 116.0 * lab_f_fast(y.clamp(0.0, 1.0)) - 16.0;
    let y_skin: Vec<f32> = bg_l.data.par_iter().map(|&l| y_of(l)).collect();
    // The bare hair: the darkest mostly-hair working pixel nearby (hair
    // colour varies from hair to hair, dark, blond, grey, thin; a flake
    // covers a hair only over a stretch, so nearby the hair is bare).
    let reach = ((params.hair_bare_reach_um / um).round() as usize).max(1);
    let hair_l = Plane::from_vec(
        w,
        h,
        (0..n)
            .map(|i| {
                if work.ok[i] && work.hair_frac[i] >= 0.75 {
                    work.l.data[i]
                } else {
                    f32::INFINITY
                }
            })
            .collect(),
    );
    // Only an opaque hair tells a flake over it from a flake under it: a
    // hair transmitting a share t of the light shows a flake under it as a
    // cover t times the flake's, so where t < ½ (the bare hair has less
    // than half the skin's luminance) a flake under the hair stays below
    // the half level and only a flake over it reaches it.
    let y_hair: Vec<f32> = min_filter(&hair_l, reach, Footprint::Square)
        .data
        .par_iter()
        .zip(&y_skin)
        .map(|(&l, &ys)| {
            let yh = if l.is_finite() { y_of(l) } else { f32::NAN };
            if yh < 0.5 * ys {
                yh
            } else {
                f32::NAN
            }
        })
        .collect();
    // Lift over the skin of the cover that takes a pixel of luminance `y`
    // from its bare luminance `y_bare`, at working pixel `k`.
    let lift = |y: f32, y_bare: f32, k: usize| {
        let alpha = (y - y_bare) / (1.0 - y_bare).max(1e-3);
        l_of(y_skin[k] + alpha * (1.0 - y_skin[k])) - bg_l.data[k]
    };
    let cover: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| {
            let phi = work.hair_frac[i];
            if !work.hair[i] || y_hair[i].is_nan() {
                dl[i]
            } else {
                let y_bare = phi * y_hair[i] + (1.0 - phi) * y_skin[i];
                lift(y_of(work.l.data[i]), y_bare, i)
            }
        })
        .collect();
    // Bright, not yellow, away from yellow dots (their soft rims).
    let near_yellow = Mask {
        width: w,
        height: h,
        data: grow1(&ymask.data, w, h),
    };
    let bri: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| {
            if clear[i] && !near_yellow.data[i] && db[i] < ratio * dl[i].max(0.0) + 2.0 {
                dl[i]
            } else {
                0.0
            }
        })
        .collect();
    let bmask = hysteresis(
        &Plane::from_vec(w, h, bri.clone()),
        params.scale_floor_l_star as f32,
        params.scale_seed_l_star as f32,
    );
    let (blab, blevel) = split_at_half(&bmask, &bri, 0.75);
    let bmembers = members(&blab);
    let mut scale_cells = vec![false; n];
    let mut scale_level = vec![f32::INFINITY; n];
    let mut white_dots = 0usize;
    // Hidden: not analysable or hair, and the working pixels next to it
    // (the edge of a hair is blurred over about a working pixel).
    let hidden = grow1(&clear.iter().map(|&c| !c).collect::<Vec<_>>(), w, h);
    for px in &bmembers {
        if px.is_empty() {
            continue;
        }
        let area_um2 = px.len() as f64 * um * um;
        if area_um2 < params.scale_min_area_um2 {
            continue;
        }
        let d_eq = 2.0 * (area_um2 / std::f64::consts::PI).sqrt();
        let half = blevel[px[0] as usize];
        // Much lighter than the skin: the plateau (twice the half level)
        // reaches the seed contrast, not just a pixel of it (a faint broad
        // lightening of the skin is not a flake).
        if 2.0 * half < params.scale_seed_l_star as f32 {
            continue;
        }
        // White, not a lighter patch of skin: a white or cream cover over
        // the skin takes its redness away as it lightens it (a cover of
        // share α moves L* by α(100 − L*skin) and a* by −α a*skin); a
        // region that lightens without losing at least
        // `scale_min_whitening` of that redness is skin.
        let (mut sl, mut sa, mut sls, mut sas) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for &i in px {
            let i = i as usize;
            sl += dl[i] as f64;
            sa += (work.a.data[i] - bg_a.data[i]) as f64;
            sls += bg_l.data[i] as f64;
            sas += bg_a.data[i] as f64;
        }
        let np = px.len() as f64;
        let white_da = -(sas / np).max(0.0) / (100.0 - sls / np).max(1.0) * sl;
        if sa > params.scale_min_whitening * white_da {
            continue;
        }
        // A flake has an edge: its lightness drops to the skin's within a
        // couple of working pixels where its outline meets clear skin. A
        // faint broad lightening of the skin (mottling and melanin lows
        // reach ΔL* ≈ 8 with a* falling; between hairs it is cut off from
        // brighter neighbours and stands on its own) fades out slowly: the
        // median drop across its free outline stays below half its half
        // level. Only faint regions (plateau below 1.5 × the seed) are
        // asked, so a bright, patchy flake is never dropped here.
        if let Some(step) = edge_drop(&blab, px, &dl, &clear) {
            if 2.0 * half < 1.5 * params.scale_seed_l_star as f32 && step < 0.5 * half {
                continue;
            }
        }
        // A pinpoint white dot is round where its outline is free (not cut
        // by hair, glare or the border): fit a circle to the free outline.
        if d_eq <= params.white_dot_max_um {
            let pts = free_outline(&blab, px, &bri, half, &clear);
            if let Some((cx, cy, r, rms)) = fit_circle(&pts) {
                let disc = std::f64::consts::PI * r * r;
                let n_px = px.len() as f64;
                let _ = (cx, cy);
                if pts.len() >= 8
                    && 2.0 * r * um <= params.white_dot_max_um
                    && rms <= 0.15 * r
                    && n_px <= 1.15 * disc
                    && n_px >= 0.15 * disc
                {
                    white_dots += 1;
                    continue;
                }
            }
            if occluded_white_dot(
                &blab,
                px,
                &bri,
                half,
                &hidden,
                &bmask.data,
                params.white_dot_max_um / um,
            ) {
                white_dots += 1;
                continue;
            }
        }
        for &i in px {
            scale_cells[i as usize] = true;
            scale_level[i as usize] = half;
        }
    }
    // A scale goes on over the hairs it covers: hair working pixels next to
    // it whose cover reaches its half level.
    let mut stack: Vec<usize> = (0..n).filter(|&i| scale_cells[i]).collect();
    while let Some(i) = stack.pop() {
        let (x, y) = ((i % w) as i64, (i / w) as i64);
        for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
            let (xx, yy) = (x + dx, y + dy);
            if xx < 0 || yy < 0 || xx >= w as i64 || yy >= h as i64 {
                continue;
            }
            let j = yy as usize * w + xx as usize;
            if !scale_cells[j]
                && work.ok[j]
                && work.hair[j]
                && !near_yellow.data[j]
                && !y_hair[j].is_nan()
                && cover[j] >= scale_level[i]
            {
                scale_cells[j] = true;
                scale_level[j] = scale_level[i];
                stack.push(j);
            }
        }
    }
    let hair_full = hair.filter(|m| m.data.len() == fw * fh);
    let mut scale_data = vec![false; fw * fh];
    if scale_cells.iter().any(|&c| c) {
        refine(
            &work,
            &scale_cells,
            &scale_level,
            fw,
            fh,
            input.valid,
            |p, k, level| {
                let y = crate::color::RGB_TO_XYZ[1];
                let yy = y[0] * rgb.r[p] + y[1] * rgb.g[p] + y[2] * rgb.b[p];
                if hair_full.is_some_and(|m| m.data[p]) && !y_hair[k].is_nan() {
                    lift(yy, y_hair[k], k) >= level
                } else {
                    l_of(yy) - bg_l.data[k] >= level
                }
            },
            &mut scale_data,
        );
    }
    // Scale is not where a yellow dot is.
    for (s, &d) in scale_data.iter_mut().zip(&dot_data) {
        *s &= !d;
    }

    let valid_px = input.valid.count();
    let px_mm2 = upp * upp * 1e-6;
    let valid_cm2 = valid_px as f64 * px_mm2 * 1e-2;
    let scale_px = scale_data.iter().filter(|&&s| s).count();
    let nd = dots.len();
    let summary = ScalpSignSummary {
        yellow_dot_count: Some(nd),
        yellow_dot_density_per_cm2: (valid_cm2 > 0.0).then(|| nd as f64 / valid_cm2),
        yellow_dot_diameter_mean_um: (nd > 0)
            .then(|| dots.iter().map(|d| d.diameter_um).sum::<f64>() / nd as f64),
        scale_area_fraction: (valid_px > 0).then(|| scale_px as f64 / valid_px as f64),
        scale_area_mm2: Some(scale_px as f64 * px_mm2),
    };
    Ok(ScalpSigns {
        yellow_dots: dots,
        yellow_dot_mask: mask_of(fw, fh, dot_data),
        scale_mask: mask_of(fw, fh, scale_data),
        white_dot_count: white_dots,
        summary,
    })
}

/// Sub-pixel outline points of the region made of `members` where its edge
/// is free: between a member pixel and a 4-neighbour `j` outside the object
/// for which `free(j, k)` holds (`k`: the pixel a step further out, `None`
/// outside the image), at the crossing of `half` by linear interpolation of
/// `v`.
fn outline_points(
    labels: &Labels,
    members: &[u32],
    v: &[f32],
    half: f32,
    free: impl Fn(usize, Option<usize>) -> bool,
) -> Vec<[f64; 2]> {
    let w = labels.width;
    let mut pts = Vec::new();
    outline_edges(labels, members, |i, j, k, (dx, dy)| {
        if !free(j, k) {
            return;
        }
        let (a, b) = (v[i], v[j]);
        let t = if a > b {
            ((a - half) / (a - b)).clamp(0.0, 1.0) as f64
        } else {
            0.5
        };
        let (x, y) = ((i % w) as f64, (i / w) as f64);
        pts.push([x + t * dx as f64, y + t * dy as f64]);
    });
    pts
}

/// Calls `edge(i, j, k, (dx, dy))` for each edge of the region made of
/// `members` (of `labels`): a member pixel `i` and its 4-neighbour `j`
/// (in the image) outside the region, a step `(dx, dy)` apart; `k` is the
/// pixel a step further out (`None` outside the image).
fn outline_edges(
    labels: &Labels,
    members: &[u32],
    mut edge: impl FnMut(usize, usize, Option<usize>, (i64, i64)),
) {
    let (w, h) = (labels.width as i64, labels.height as i64);
    for &m in members {
        let i = m as usize;
        let id = labels.data[i];
        let (x, y) = (m as i64 % w, m as i64 / w);
        for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
            let (nx, ny) = (x + dx, y + dy);
            if nx < 0 || ny < 0 || nx >= w || ny >= h {
                continue;
            }
            let j = (ny * w + nx) as usize;
            if labels.data[j] == id {
                continue;
            }
            let (fx, fy) = (nx + dx, ny + dy);
            let k = (fx >= 0 && fy >= 0 && fx < w && fy < h).then(|| (fy * w + fx) as usize);
            edge(i, j, k, (dx, dy));
        }
    }
}

/// Outline points where the edge meets clear skin (analysable, not hair);
/// the edge of a hair is blurred over about a working pixel, so a step
/// further must be clear too.
fn free_outline(
    labels: &Labels,
    members: &[u32],
    v: &[f32],
    half: f32,
    clear: &[bool],
) -> Vec<[f64; 2]> {
    outline_points(labels, members, v, half, |j, k| {
        clear[j] && k.is_none_or(|k| clear[k])
    })
}

/// Whether the bright region `members` (of `labels`, values `v`, half
/// level `half`) that touches hidden pixels (`hidden`: hair, glare, not
/// analysable, and a pixel around them), a dimmer bright pixel (`bright`:
/// the hysteresis mask, below `half`) or the image border is a pinpoint
/// white dot of which only a part is seen. Its outline is then a circular
/// arc where it meets clear skin and a cut where it meets the occluder: a
/// circle is fitted to the arc alone (edges onto clear, dim skin), robustly:
/// of the circles through three points spread along the arc, the one with
/// the most points within half a pixel, refitted to those (the corners
/// where the occluder meets the arc, or a touching neighbour's rim, are left
/// out; at least 60 % of the points stay). It must be round (rms ≤ 0.12 r and
/// ≤ 0.4 px), of a white dot's size (diameter ≤ `max_d` working px), hold
/// the region (≤ 5 % of it outside the disc), and the part of the disc that
/// the region does not cover must be hidden (the occluder, the border,
/// another, dimmer bright part): at most 15 % of the disc is clear skin
/// (below the hysteresis floor). A translucent (blond, grey) hair the hair
/// stage missed is such a dimmer part: the dot under it stays lighter than
/// the skin, so it is an occluder too. When the free outline has fewer than
/// 6 points (a dot mostly under hair), no arc can be fitted: the region is
/// taken as a white dot when its visible part fits in one (a flake reaches
/// beyond a dot's size). A flake cut by a hair fails here: its free outline
/// is not one arc, or the disc through it takes in skin.
fn occluded_white_dot(
    labels: &Labels,
    members: &[u32],
    v: &[f32],
    half: f32,
    hidden: &[bool],
    bright: &[bool],
    max_d: f64,
) -> bool {
    let (w, h) = (labels.width as i64, labels.height as i64);
    let occluded = members.iter().any(|&m| {
        let (x, y) = (m as i64 % w, m as i64 / w);
        [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)]
            .iter()
            .any(|&(dx, dy)| {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w || ny >= h {
                    return true;
                }
                let j = (ny * w + nx) as usize;
                hidden[j] || (bright[j] && labels.data[j] == 0 && v[j] < half)
            })
    });
    if !occluded {
        return false;
    }
    // An edge onto skin: the neighbour and a step further are not hidden,
    // and a step further is dim.
    let mut pts = outline_points(labels, members, v, half, |j, k| {
        !hidden[j] && k.is_none_or(|k| !hidden[k] && v[k] < half)
    });
    let n0 = pts.len();
    if n0 < 6 {
        // Too little free outline to fit an arc: a region mostly hidden
        // whose visible part fits in a pinpoint white dot is taken as one
        // (a flake is larger: its visible parts reach beyond a dot's size).
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, -1i64, -1i64);
        for &m in members {
            let (x, y) = (m as i64 % w, m as i64 / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        return ((x1 - x0 + 1).max(y1 - y0 + 1) as f64) <= max_d;
    }
    // Robust: of the circles through three points spread along the arc,
    // the one with the most points within half a pixel, refitted to them
    // (the corners where the occluder meets the arc, or a neighbour's rim,
    // are left out).
    let (mx, my) = (
        pts.iter().map(|p| p[0]).sum::<f64>() / n0 as f64,
        pts.iter().map(|p| p[1]).sum::<f64>() / n0 as f64,
    );
    pts.sort_by(|a, b| {
        (a[1] - my)
            .atan2(a[0] - mx)
            .total_cmp(&(b[1] - my).atan2(b[0] - mx))
    });
    let inliers = |c: (f64, f64, f64)| {
        pts.iter()
            .filter(|p| ((p[0] - c.0).hypot(p[1] - c.1) - c.2).abs() <= 0.5)
            .count()
    };
    let mut best: Option<(usize, (f64, f64, f64))> = None;
    for s in [n0 / 6, n0 / 4, n0 / 3] {
        let s = s.max(1);
        for a in 0..n0 {
            let (p, q, r) = (pts[a], pts[(a + s) % n0], pts[(a + 2 * s) % n0]);
            let Some(c) = circle_through(p, q, r) else {
                continue;
            };
            if 2.0 * c.2 > max_d {
                continue;
            }
            let k = inliers(c);
            if best.is_none_or(|(bk, _)| k > bk) {
                best = Some((k, c));
            }
        }
    }
    let Some((_, c)) = best else {
        return false;
    };
    pts.retain(|p| ((p[0] - c.0).hypot(p[1] - c.1) - c.2).abs() <= 0.5);
    let Some(fit) = fit_circle(&pts) else {
        return false;
    };
    let (cx, cy, r, rms) = fit;
    if pts.len() < 6 || pts.len() * 5 < n0 * 3 || 2.0 * r > max_d || rms > (0.12 * r).min(0.4) {
        return false;
    }
    let ro2 = (r + 1.0).powi(2);
    let outside = members
        .iter()
        .filter(|&&m| {
            let (x, y) = ((m as i64 % w) as f64, (m as i64 / w) as f64);
            (x - cx).powi(2) + (y - cy).powi(2) > ro2
        })
        .count();
    if outside as f64 > 0.05 * members.len() as f64 {
        return false;
    }
    // The disc less a pixel (the rim is the region's own soft edge).
    let r2 = (r - 1.0).max(0.5).powi(2);
    let (mut disc, mut free) = (0usize, 0usize);
    for y in (cy - r).floor() as i64..=(cy + r).ceil() as i64 {
        for x in (cx - r).floor() as i64..=(cx + r).ceil() as i64 {
            if (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) > r2 {
                continue;
            }
            disc += 1;
            if x < 0 || y < 0 || x >= w || y >= h {
                continue;
            }
            let j = (y * w + x) as usize;
            if labels.data[j] == 0 && !hidden[j] && !bright[j] {
                free += 1;
            }
        }
    }
    if disc == 0 || free as f64 > 0.15 * disc as f64 {
        return false;
    }
    true
}

/// The median drop of `v` across the free outline of the region made of
/// `members`: from a member pixel on the edge to the pixel two steps out,
/// where both pixels outside are clear (analysable, not hair). `None` with
/// fewer than 8 such edges (the outline is mostly hidden).
fn edge_drop(labels: &Labels, members: &[u32], v: &[f32], clear: &[bool]) -> Option<f32> {
    let mut drops = Vec::new();
    outline_edges(labels, members, |i, j, k, _| {
        if let Some(k) = k.filter(|&k| clear[j] && clear[k]) {
            drops.push(v[i] - v[k]);
        }
    });
    (drops.len() >= 8).then(|| quantile(&mut drops, 0.5))
}

/// The circle through three points (centre x, y, radius); `None` when they
/// are (nearly) collinear.
fn circle_through(p: [f64; 2], q: [f64; 2], r: [f64; 2]) -> Option<(f64, f64, f64)> {
    let (bx, by) = (q[0] - p[0], q[1] - p[1]);
    let (cx, cy) = (r[0] - p[0], r[1] - p[1]);
    let d = 2.0 * (bx * cy - by * cx);
    if d.abs() < 1e-6 {
        return None;
    }
    let (b2, c2) = (bx * bx + by * by, cx * cx + cy * cy);
    let ux = (cy * b2 - by * c2) / d;
    let uy = (bx * c2 - cx * b2) / d;
    Some((p[0] + ux, p[1] + uy, ux.hypot(uy)))
}

/// Least-squares circle (Kåsa): centre, radius and the rms distance of the
/// points from the circle. `None` for fewer than 3 points or a degenerate
/// (collinear) set.
fn fit_circle(pts: &[[f64; 2]]) -> Option<(f64, f64, f64, f64)> {
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p[0]).sum::<f64>() / n,
        pts.iter().map(|p| p[1]).sum::<f64>() / n,
    );
    // Centred coordinates: solve for the centre (a, b) from
    // Σ (u² + v² − 2au − 2bv − c)² → min.
    let (mut suu, mut svv, mut suv, mut suz, mut svz) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in pts {
        let (u, v) = (p[0] - mx, p[1] - my);
        let z = u * u + v * v;
        suu += u * u;
        svv += v * v;
        suv += u * v;
        suz += u * z;
        svz += v * z;
    }
    let det = suu * svv - suv * suv;
    if det.abs() < 1e-9 {
        return None;
    }
    let a = 0.5 * (suz * svv - svz * suv) / det;
    let b = 0.5 * (svz * suu - suz * suv) / det;
    let r2 = a * a + b * b + (suu + svv) / n;
    let r = r2.sqrt();
    let rms = (pts
        .iter()
        .map(|p| {
            let d = ((p[0] - mx - a).powi(2) + (p[1] - my - b).powi(2)).sqrt() - r;
            d * d
        })
        .sum::<f64>()
        / n)
        .sqrt();
    Some((mx + a, my + b, r, rms))
}
