//! Hairs, yellow dots, white dots and scales in phantoms, with exact truth.
//!
//! The scene is laid out in micrometres around the image centre, then mapped
//! to pixels through an optional rotation (`rotation_deg`) and the canvas
//! scale, so that the same spec rendered rotated or at another `um_per_px`
//! shows the same hairs. With `fov_radius_um` set, everything is clipped to a
//! disc around the centre (a round dermatoscope field of view), which makes
//! the visible content exactly invariant under rotation and rescaling.
//!
//! A shaft is a circular arc (constant curvature) of constant diameter `d`.
//! It is drawn with 4×4 sub-pixel samples; at lateral distance `u` from the
//! centreline the hair's transmittance is `exp(-α · chord(u))`, with
//! `chord(u) = 2·sqrt(r² − u²)` the path through a cylinder of radius
//! `r = d/2` (Beer–Lambert), and the hair's own reflectance fills what is not
//! transmitted: `I = I_under · T + R_hair · (1 − T)`. So opaque pigmented
//! hair has a flat dark core with soft edges, and thin or light hair a
//! rounded, shallow profile. At the follicle exit the absorbance ramps up
//! over `exit_fade_um` (the shaft emerging from the skin); the distal end is
//! a cut tip (round cap).
//!
//! Yellow dots, white dots and scales are soft-edged blobs (see
//! `SoftBlob`): a geometric outline blurred into an opacity ramp whose half
//! level lies on the outline, with a colour and opacity drawn per object.
//! Yellow dots are round or polycyclic, yellow to yellow-pink; pinpoint
//! white dots are round, white, fairly sharp; scales are unions of ellipses,
//! white to yellowish, with a patchy opacity, under or over the hairs. The
//! scale truth is what is visible: a flake under a hair is hidden where the
//! hair is.

use super::{Canvas, Rng};
use crate::color::lab_to_linear_rgb;
use crate::error::{check_positive, Error, Result};
use crate::image::Mask;
use serde::{Deserialize, Serialize};

/// What hairs, dots and scales to render. Lengths in µm, densities per cm².
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HairSceneSpec {
    /// Hair density (hairs per cm², counted at their exits).
    pub density_per_cm2: f64,
    /// Relative weights of follicular units with 1, 2, 3 and 4 hairs.
    pub hairs_per_unit_weights: [f64; 4],
    /// Hair exits of one unit lie within this radius of the unit centre.
    pub unit_radius_um: f64,
    /// Minimum distance between follicular-unit centres.
    pub unit_spacing_um: f64,
    /// Probability that a hair is vellus (diameter in `vellus_um`).
    pub vellus_fraction: f64,
    /// Probability that a hair is terminal (diameter in `terminal_um`);
    /// the rest are intermediate.
    pub terminal_fraction: f64,
    /// Vellus diameter range [lo, hi).
    pub vellus_um: [f64; 2],
    /// Intermediate diameter range [lo, hi).
    pub intermediate_um: [f64; 2],
    /// Terminal diameter range [lo, hi).
    pub terminal_um: [f64; 2],
    /// Fraction of blond/grey (low-contrast) hairs.
    pub light_fraction: f64,
    /// Length range of terminal and intermediate hairs (from the exit).
    pub length_um: [f64; 2],
    /// Length range of vellus hairs.
    pub vellus_length_um: [f64; 2],
    /// Largest |curvature| in 1/mm (drawn uniformly in ±this).
    pub max_curvature_per_mm: f64,
    /// Main hair direction in degrees (scene frame, x right, y down).
    pub direction_deg: f64,
    /// Directions are uniform within ±this around the main one (180 = any).
    pub direction_spread_deg: f64,
    /// Extra spread of the hairs of one unit around the unit's direction.
    pub unit_spread_deg: f64,
    /// Absorbance of pigmented hair per µm of path.
    pub alpha_dark_per_um: f64,
    /// Absorbance of blond/grey hair per µm of path.
    pub alpha_light_per_um: f64,
    /// Length over which a shaft emerges from the skin at its exit.
    pub exit_fade_um: f64,
    /// Yellow dots per cm² (follicular openings filled with sebum and
    /// keratin: round or polycyclic, yellow to yellow-pink, soft-edged).
    pub yellow_dots_per_cm2: f64,
    /// Yellow dot diameter range.
    pub yellow_dot_um: [f64; 2],
    /// Fraction of yellow dots placed on a follicular unit (with hair).
    pub yellow_dot_with_hair_fraction: f64,
    /// Pinpoint white dots per cm² (eccrine and follicular openings: round,
    /// white; neither yellow dots nor scales).
    pub white_dots_per_cm2: f64,
    /// White dot diameter range (pinpoint white dots are 100–200 µm).
    pub white_dot_um: [f64; 2],
    /// White scales per cm²: irregular, patchy flakes, white to yellowish,
    /// with soft edges, on the skin and (see `scale_over_hair_fraction`)
    /// over hairs.
    pub scales_per_cm2: f64,
    /// Scale size range (overall extent).
    pub scale_um: [f64; 2],
    /// Fraction of scales lying on the hairs (the rest lie under them).
    pub scale_over_hair_fraction: f64,
    /// Scene rotation about the image centre, degrees.
    pub rotation_deg: f64,
    /// Clip everything to a disc of this radius around the image centre.
    pub fov_radius_um: Option<f64>,
    /// A hair counts in the truth when at least this much of its centreline
    /// is visible.
    pub min_visible_length_um: f64,
}

impl HairSceneSpec {
    /// A sparse scene: one hair per follicular unit, 150 units per cm²,
    /// 30 % vellus and 35 % terminal, a fifth of the hairs light, directions
    /// spread over 90°; everything else as [`HairSceneSpec::default`]. The
    /// scene of the sparse hair tests and diagnostics.
    pub fn sparse() -> Self {
        HairSceneSpec {
            density_per_cm2: 150.0,
            hairs_per_unit_weights: [1.0, 0.0, 0.0, 0.0],
            vellus_fraction: 0.3,
            terminal_fraction: 0.35,
            light_fraction: 0.2,
            direction_spread_deg: 90.0,
            ..HairSceneSpec::default()
        }
    }
}

impl Default for HairSceneSpec {
    fn default() -> Self {
        HairSceneSpec {
            density_per_cm2: 200.0,
            hairs_per_unit_weights: [0.35, 0.4, 0.2, 0.05],
            unit_radius_um: 40.0,
            unit_spacing_um: 350.0,
            vellus_fraction: 0.2,
            terminal_fraction: 0.5,
            vellus_um: [12.0, 30.0],
            intermediate_um: [30.0, 60.0],
            terminal_um: [60.0, 100.0],
            light_fraction: 0.15,
            length_um: [1500.0, 5000.0],
            vellus_length_um: [500.0, 1500.0],
            max_curvature_per_mm: 0.6,
            direction_deg: 30.0,
            direction_spread_deg: 60.0,
            unit_spread_deg: 15.0,
            alpha_dark_per_um: 0.1,
            alpha_light_per_um: 0.02,
            exit_fade_um: 40.0,
            yellow_dots_per_cm2: 0.0,
            yellow_dot_um: [100.0, 300.0],
            yellow_dot_with_hair_fraction: 0.3,
            white_dots_per_cm2: 0.0,
            white_dot_um: [100.0, 200.0],
            scales_per_cm2: 0.0,
            scale_um: [150.0, 600.0],
            scale_over_hair_fraction: 0.5,
            rotation_deg: 0.0,
            fov_radius_um: None,
            min_visible_length_um: 150.0,
        }
    }
}

/// Diameter class of a hair, by the thresholds of Rakowska et al. 2009
/// (thin hair < 30 µm) and a terminal threshold of 60 µm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruthClass {
    /// < 30 µm.
    Vellus,
    /// 30–60 µm.
    Intermediate,
    /// ≥ 60 µm.
    Terminal,
}

/// Ground truth of one hair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HairTruthShaft {
    /// 1-based id.
    pub id: u32,
    /// Diameter (constant along the shaft).
    pub diameter_um: f64,
    /// Class by diameter.
    pub class: TruthClass,
    /// Blond/grey low-contrast hair.
    pub light: bool,
    /// Follicular unit id (1-based).
    pub unit: u32,
    /// Centreline in pixels, from the exit (proximal end) to the tip; the
    /// full shaft, including parts outside the frame.
    pub centreline_px: Vec<[f64; 2]>,
    /// Follicle exit (proximal end) in pixels.
    pub exit_px: [f64; 2],
    /// The exit is inside the visible field.
    pub exit_in_frame: bool,
    /// The shaft leaves the visible field (frame or field-of-view disc).
    pub truncated: bool,
    /// Length of the visible centreline.
    pub visible_length_um: f64,
    /// Counted in the image-level truth (visible length ≥ the minimum).
    pub counted: bool,
    /// Ids of counted hairs whose visible centreline crosses this one's
    /// (away from a shared exit).
    pub crosses: Vec<u32>,
}

/// A round dot (yellow or white).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DotTruth {
    /// Centre in pixels.
    pub centre_px: [f64; 2],
    /// Diameter.
    pub diameter_um: f64,
    /// A hair emerges from it.
    pub with_hair: bool,
    /// Fraction of the dot (its disc within the visible field) not hidden
    /// by hair or scale lying over it.
    pub visible_fraction: f64,
}

/// Hair ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HairTruth {
    /// Every generated hair that reaches the visible field.
    pub shafts: Vec<HairTruthShaft>,
    /// Number of counted hairs.
    pub hair_count: usize,
    /// Fraction of counted hairs with diameter < 30 µm.
    pub vellus_fraction: f64,
    /// Fraction of counted hairs with diameter ≤ 40 µm.
    pub vellus_fraction_40um: f64,
    /// Mean diameter of counted hairs.
    pub diameter_mean_um: f64,
    /// Follicular units with a counted hair whose exit is visible.
    pub follicular_unit_count: usize,
    /// Yellow dots whose centre is visible.
    pub yellow_dots: Vec<DotTruth>,
    /// White dots whose centre is visible.
    pub white_dots: Vec<DotTruth>,
    /// Fraction of the visible field covered by visible scales (coverage of
    /// the flake outline ≥ 0.5, less hair over a flake).
    pub scale_area_fraction: f64,
    /// Visible field (frame ∩ field-of-view disc).
    #[serde(skip)]
    pub fov_mask: Mask,
    /// Hair pixels (sub-pixel coverage ≥ 0.5).
    #[serde(skip)]
    pub hair_mask: Mask,
    /// Visible scale pixels (coverage ≥ 0.5, less hair over a flake).
    #[serde(skip)]
    pub scale_mask: Mask,
}

/// Maps scene µm (relative to the centre) to pixels.
struct Frame {
    w: usize,
    h: usize,
    cx: f64,
    cy: f64,
    cos: f64,
    sin: f64,
    um_per_px: f64,
    fov_px: Option<f64>,
}

impl Frame {
    fn to_px(&self, p: [f64; 2]) -> [f64; 2] {
        let (x, y) = (p[0] / self.um_per_px, p[1] / self.um_per_px);
        [
            self.cx + self.cos * x - self.sin * y,
            self.cy + self.sin * x + self.cos * y,
        ]
    }
    /// Inside the image (pixel-centre convention: [-0.5, w-0.5)) and the disc.
    fn visible(&self, p: [f64; 2]) -> bool {
        let inside = p[0] >= -0.5
            && p[1] >= -0.5
            && p[0] < self.w as f64 - 0.5
            && p[1] < self.h as f64 - 0.5;
        inside
            && self.fov_px.is_none_or(|r| {
                let (dx, dy) = (p[0] - self.cx, p[1] - self.cy);
                dx * dx + dy * dy <= r * r
            })
    }
    fn pixel_visible(&self, x: usize, y: usize) -> bool {
        self.visible([x as f64, y as f64])
    }
}

const SUB: usize = 4;

fn sub_offsets() -> [f64; SUB] {
    let mut o = [0.0; SUB];
    for (k, v) in o.iter_mut().enumerate() {
        *v = (k as f64 + 0.5) / SUB as f64 - 0.5;
    }
    o
}

fn check_range(name: &'static str, r: [f64; 2]) -> Result<()> {
    if r[0].is_finite() && r[1].is_finite() && r[0] > 0.0 && r[1] >= r[0] {
        Ok(())
    } else {
        Err(Error::param(name, format!("need 0 < lo ≤ hi, got {r:?}")))
    }
}

fn check_fraction(name: &'static str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::param(name, format!("must be in [0, 1], got {v}")))
    }
}

impl HairSceneSpec {
    fn validate(&self) -> Result<()> {
        for (n, v) in [
            ("density_per_cm2", self.density_per_cm2),
            ("yellow_dots_per_cm2", self.yellow_dots_per_cm2),
            ("white_dots_per_cm2", self.white_dots_per_cm2),
            ("scales_per_cm2", self.scales_per_cm2),
            ("unit_radius_um", self.unit_radius_um),
            ("unit_spacing_um", self.unit_spacing_um),
            ("max_curvature_per_mm", self.max_curvature_per_mm),
            ("exit_fade_um", self.exit_fade_um),
            ("min_visible_length_um", self.min_visible_length_um),
            ("alpha_dark_per_um", self.alpha_dark_per_um),
            ("alpha_light_per_um", self.alpha_light_per_um),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(n, format!("must be finite and ≥ 0, got {v}")));
            }
        }
        for (n, r) in [
            ("vellus_um", self.vellus_um),
            ("intermediate_um", self.intermediate_um),
            ("terminal_um", self.terminal_um),
            ("length_um", self.length_um),
            ("vellus_length_um", self.vellus_length_um),
            ("yellow_dot_um", self.yellow_dot_um),
            ("white_dot_um", self.white_dot_um),
            ("scale_um", self.scale_um),
        ] {
            check_range(n, r)?;
        }
        check_fraction("vellus_fraction", self.vellus_fraction)?;
        check_fraction("terminal_fraction", self.terminal_fraction)?;
        check_fraction("light_fraction", self.light_fraction)?;
        check_fraction("scale_over_hair_fraction", self.scale_over_hair_fraction)?;
        check_fraction(
            "yellow_dot_with_hair_fraction",
            self.yellow_dot_with_hair_fraction,
        )?;
        if self.vellus_fraction + self.terminal_fraction > 1.0 {
            return Err(Error::param(
                "terminal_fraction",
                "vellus_fraction + terminal_fraction must be ≤ 1",
            ));
        }
        let wsum: f64 = self.hairs_per_unit_weights.iter().sum();
        if !wsum.is_finite()
            || wsum <= 0.0
            || self
                .hairs_per_unit_weights
                .iter()
                .any(|w| w.is_nan() || *w < 0.0)
        {
            return Err(Error::param(
                "hairs_per_unit_weights",
                "weights must be ≥ 0 with a positive sum",
            ));
        }
        if let Some(r) = self.fov_radius_um {
            check_positive("fov_radius_um", r)?;
        }
        if !self.rotation_deg.is_finite() || !self.direction_deg.is_finite() {
            return Err(Error::param("rotation_deg", "must be finite"));
        }
        Ok(())
    }
}

/// Class of a diameter under the phantom's thresholds (30 / 60 µm).
pub fn truth_class(diameter_um: f64) -> TruthClass {
    if diameter_um < 30.0 {
        TruthClass::Vellus
    } else if diameter_um < 60.0 {
        TruthClass::Intermediate
    } else {
        TruthClass::Terminal
    }
}

struct HairGeom {
    /// Polyline in px, from exit to tip.
    pts: Vec<[f64; 2]>,
    /// Arc length (px) at each point.
    arc: Vec<f64>,
    r_px: f64,
    alpha_per_px: f64,
    fade_px: f64,
    colour: [f32; 3],
}

/// Per-pixel scratch for one object at a time: nearest segment index and a
/// stamp saying which object last touched the pixel.
struct Scratch {
    stamp: Vec<u32>,
    best_d2: Vec<f64>,
    best_seg: Vec<u32>,
    touched: Vec<usize>,
    cur: u32,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            stamp: vec![0; n],
            best_d2: vec![0.0; n],
            best_seg: vec![0; n],
            touched: Vec::new(),
            cur: 0,
        }
    }
}

/// Distance² from p to segment a–b, and the parameter t∈[0,1] of the foot.
#[inline]
pub(crate) fn seg_dist2(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> (f64, f64) {
    let (vx, vy) = (b[0] - a[0], b[1] - a[1]);
    let (wx, wy) = (p[0] - a[0], p[1] - a[1]);
    let l2 = vx * vx + vy * vy;
    let t = if l2 > 0.0 {
        ((wx * vx + wy * vy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (dx, dy) = (wx - t * vx, wy - t * vy);
    (dx * dx + dy * dy, t)
}

/// Paint one hair; returns the number of pixels whose coverage ≥ 0.5 was set
/// in `hair_mask`.
fn paint_one(
    canvas: &mut Canvas,
    frame: &Frame,
    g: &HairGeom,
    scratch: &mut Scratch,
    hair_mask: &mut [bool],
) {
    let (w, h) = (canvas.width, canvas.height);
    scratch.cur += 1;
    scratch.touched.clear();
    let reach = g.r_px + 1.0;
    for s in 0..g.pts.len().saturating_sub(1) {
        let (a, b) = (g.pts[s], g.pts[s + 1]);
        let x0 = (a[0].min(b[0]) - reach).floor().max(0.0) as i64;
        let x1 = (a[0].max(b[0]) + reach).ceil().min(w as f64 - 1.0) as i64;
        let y0 = (a[1].min(b[1]) - reach).floor().max(0.0) as i64;
        let y1 = (a[1].max(b[1]) + reach).ceil().min(h as f64 - 1.0) as i64;
        if x1 < x0 || y1 < y0 {
            continue;
        }
        for y in y0..=y1 {
            for x in x0..=x1 {
                let i = y as usize * w + x as usize;
                let (d2, _) = seg_dist2([x as f64, y as f64], a, b);
                if d2 > reach * reach {
                    continue;
                }
                if scratch.stamp[i] != scratch.cur {
                    scratch.stamp[i] = scratch.cur;
                    scratch.best_d2[i] = d2;
                    scratch.best_seg[i] = s as u32;
                    scratch.touched.push(i);
                } else if d2 < scratch.best_d2[i] {
                    scratch.best_d2[i] = d2;
                    scratch.best_seg[i] = s as u32;
                }
            }
        }
    }
    let off = sub_offsets();
    let nseg = g.pts.len() - 1;
    let r2 = g.r_px * g.r_px;
    let total = *g.arc.last().unwrap_or(&0.0);
    let _ = total;
    for &i in &scratch.touched {
        let (px, py) = ((i % w) as f64, (i / w) as f64);
        if !frame.pixel_visible(i % w, i / w) {
            continue;
        }
        let s0 = scratch.best_seg[i] as usize;
        let lo = s0.saturating_sub(2);
        let hi = (s0 + 2).min(nseg - 1);
        let mut tsum = 0.0f64;
        let mut inside = 0usize;
        for oy in off {
            for ox in off {
                let p = [px + ox, py + oy];
                let mut best = (f64::INFINITY, 0.0, lo);
                for s in lo..=hi {
                    let (d2, t) = seg_dist2(p, g.pts[s], g.pts[s + 1]);
                    if d2 < best.0 {
                        best = (d2, t, s);
                    }
                }
                if best.0 < r2 {
                    inside += 1;
                    let chord = 2.0 * (r2 - best.0).sqrt();
                    let arc = g.arc[best.2] + best.1 * (g.arc[best.2 + 1] - g.arc[best.2]);
                    let fade = if g.fade_px > 0.0 {
                        (arc / g.fade_px).clamp(0.0, 1.0)
                    } else {
                        1.0
                    };
                    tsum += (-g.alpha_per_px * fade * chord).exp();
                } else {
                    tsum += 1.0;
                }
            }
        }
        let t = (tsum / (SUB * SUB) as f64) as f32;
        if t < 0.999 {
            canvas.r[i] = canvas.r[i] * t + g.colour[0] * (1.0 - t);
            canvas.g[i] = canvas.g[i] * t + g.colour[1] * (1.0 - t);
            canvas.b[i] = canvas.b[i] * t + g.colour[2] * (1.0 - t);
            if t < 0.97 {
                canvas.covered[i] = true;
            }
        }
        if inside * 2 >= SUB * SUB {
            hair_mask[i] = true;
        }
    }
}

/// The outline of a [`SoftBlob`], in pixels.
enum Outline {
    /// A polycyclic disc: radius `r · (1 + eps · cos(k θ + phi))`.
    Dot {
        c: [f64; 2],
        r: f64,
        eps: f64,
        k: f64,
        phi: f64,
    },
    /// A union of ellipses `(cx, cy, a, b, cos θ, sin θ)`.
    Ellipses(Vec<[f64; 6]>),
}

/// A soft-edged, partly translucent blob (dot or scale): its geometric
/// outline is blurred by a Gaussian of σ `edge_px` into an opacity ramp whose
/// half level lies on the outline, so the truth (coverage ≥ 0.5 of the
/// outline) is where the blob is half as opaque as inside. Scales also get a
/// patchy opacity (a few random waves).
struct SoftBlob {
    outline: Outline,
    bbox: [f64; 4],
    colour: [f32; 3],
    alpha: f32,
    edge_px: f64,
    texture_depth: f32,
    /// (kx, ky, phase): waves in radians per pixel.
    waves: [[f64; 3]; 3],
}

impl SoftBlob {
    /// A round or polycyclic dot of radius `r` px (no texture).
    fn dot(
        c: [f64; 2],
        r: f64,
        lab: [f32; 3],
        alpha: f32,
        edge_px: f64,
        eps: f64,
        rng: &mut Rng,
    ) -> Self {
        let k = (3 + rng.below(4)) as f64;
        let phi = rng.range(0.0, std::f64::consts::TAU);
        let reach = r * (1.0 + eps);
        SoftBlob {
            outline: Outline::Dot { c, r, eps, k, phi },
            bbox: [c[0] - reach, c[1] - reach, c[0] + reach, c[1] + reach],
            colour: lab_to_linear_rgb(lab),
            alpha,
            edge_px,
            texture_depth: 0.0,
            waves: [[0.0; 3]; 3],
        }
    }

    /// A flake of overall extent `size` px: a union of 3–6 random ellipses,
    /// white to yellowish, soft-edged and patchy.
    fn flake(c: [f64; 2], size: f64, upp: f64, rng: &mut Rng) -> Self {
        let k = 3 + rng.below(4) as usize;
        let mut ell = Vec::with_capacity(k);
        for _ in 0..k {
            let off = [rng.range(-0.3, 0.3) * size, rng.range(-0.3, 0.3) * size];
            let a = rng.range(0.15, 0.35) * size;
            let b = rng.range(0.08, 0.2) * size;
            let th: f64 = rng.range(0.0, std::f64::consts::PI);
            ell.push([c[0] + off[0], c[1] + off[1], a, b, th.cos(), th.sin()]);
        }
        let lab = [
            rng.range(82.0, 92.0) as f32,
            rng.range(0.0, 3.0) as f32,
            rng.range(5.0, 18.0) as f32,
        ];
        let alpha = rng.range(0.5, 0.85) as f32;
        let edge_px = (rng.range(5.0, 15.0) / upp).max(0.3);
        let texture_depth = rng.range(0.15, 0.35) as f32;
        let mut waves = [[0.0; 3]; 3];
        for wv in &mut waves {
            let lambda_px = rng.range(30.0, 100.0) / upp;
            let th = rng.range(0.0, std::f64::consts::PI);
            let kk = std::f64::consts::TAU / lambda_px;
            *wv = [
                kk * th.cos(),
                kk * th.sin(),
                rng.range(0.0, std::f64::consts::TAU),
            ];
        }
        let mut bbox = [f64::INFINITY, f64::INFINITY, -f64::INFINITY, -f64::INFINITY];
        for e in &ell {
            let r = e[2].max(e[3]);
            bbox = [
                bbox[0].min(e[0] - r),
                bbox[1].min(e[1] - r),
                bbox[2].max(e[0] + r),
                bbox[3].max(e[1] + r),
            ];
        }
        SoftBlob {
            outline: Outline::Ellipses(ell),
            bbox,
            colour: lab_to_linear_rgb(lab),
            alpha,
            edge_px,
            texture_depth,
            waves,
        }
    }

    fn inside(&self, x: f64, y: f64) -> bool {
        match &self.outline {
            Outline::Dot { c, r, eps, k, phi } => {
                let (dx, dy) = (x - c[0], y - c[1]);
                let rr = r * (1.0 + eps * (k * dy.atan2(dx) + phi).cos());
                dx * dx + dy * dy < rr * rr
            }
            Outline::Ellipses(ell) => ell.iter().any(|&[ex, ey, a, b, co, si]| {
                let (dx, dy) = (x - ex, y - ey);
                let u = co * dx + si * dy;
                let v = -si * dx + co * dy;
                (u / a).powi(2) + (v / b).powi(2) < 1.0
            }),
        }
    }

    fn texture(&self, x: f64, y: f64) -> f32 {
        if self.texture_depth == 0.0 {
            return 1.0;
        }
        let s: f64 = self
            .waves
            .iter()
            .map(|&[kx, ky, ph]| (kx * x + ky * y + ph).sin())
            .sum::<f64>()
            / 3.0;
        1.0 - self.texture_depth * (0.5 + 0.5 * s) as f32
    }

    /// Composite onto the canvas; sets `mask` where the outline covers at
    /// least half of a visible pixel.
    fn paint(&self, canvas: &mut Canvas, frame: &Frame, mask: Option<&mut Vec<bool>>) {
        let (w, h) = (canvas.width as i64, canvas.height as i64);
        let margin = (3.0 * self.edge_px).ceil() as i64 + 1;
        let x0 = self.bbox[0].floor() as i64 - margin;
        let y0 = self.bbox[1].floor() as i64 - margin;
        let x1 = self.bbox[2].ceil() as i64 + margin;
        let y1 = self.bbox[3].ceil() as i64 + margin;
        if x1 < 0 || y1 < 0 || x0 >= w || y0 >= h {
            return;
        }
        let (pw, ph) = ((x1 - x0 + 1) as usize, (y1 - y0 + 1) as usize);
        let off = sub_offsets();
        let mut cov = vec![0.0f32; pw * ph];
        for (j, row) in cov.chunks_mut(pw).enumerate() {
            let y = (y0 + j as i64) as f64;
            if y < self.bbox[1] - 1.0 || y > self.bbox[3] + 1.0 {
                continue;
            }
            for (i, c) in row.iter_mut().enumerate() {
                let x = (x0 + i as i64) as f64;
                if x < self.bbox[0] - 1.0 || x > self.bbox[2] + 1.0 {
                    continue;
                }
                let mut n = 0;
                for oy in off {
                    for ox in off {
                        n += self.inside(x + ox, y + oy) as u32;
                    }
                }
                *c = n as f32 / (SUB * SUB) as f32;
            }
        }
        let soft = crate::kernels::gaussian_blur(
            &crate::image::Plane::from_vec(pw, ph, cov.clone()),
            self.edge_px as f32,
        );
        let mut mask = mask;
        for j in 0..ph {
            let y = y0 + j as i64;
            if y < 0 || y >= h {
                continue;
            }
            for i in 0..pw {
                let x = x0 + i as i64;
                if x < 0 || x >= w || !frame.pixel_visible(x as usize, y as usize) {
                    continue;
                }
                let k = j * pw + i;
                let a = self.alpha * soft.data[k] * self.texture(x as f64, y as f64);
                if a <= 1e-4 {
                    continue;
                }
                let p = y as usize * w as usize + x as usize;
                let col = self.colour;
                canvas.r[p] = canvas.r[p] * (1.0 - a) + col[0] * a;
                canvas.g[p] = canvas.g[p] * (1.0 - a) + col[1] * a;
                canvas.b[p] = canvas.b[p] * (1.0 - a) + col[2] * a;
                if a > 0.03 {
                    canvas.covered[p] = true;
                }
                if cov[k] >= 0.5 {
                    if let Some(m) = mask.as_deref_mut() {
                        m[p] = true;
                    }
                }
            }
        }
    }
}

/// Do segments p1–p2 and q1–q2 intersect?
fn segments_cross(p1: [f64; 2], p2: [f64; 2], q1: [f64; 2], q2: [f64; 2]) -> bool {
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let d1 = cross(q1, q2, p1);
    let d2 = cross(q1, q2, p2);
    let d3 = cross(p1, p2, q1);
    let d4 = cross(p1, p2, q2);
    (d1 > 0.0) != (d2 > 0.0) && (d3 > 0.0) != (d4 > 0.0)
}

fn pick_weighted(rng: &mut Rng, w: &[f64]) -> usize {
    let total: f64 = w.iter().sum();
    let mut u = rng.uniform() * total;
    for (k, &x) in w.iter().enumerate() {
        if u < x {
            return k;
        }
        u -= x;
    }
    w.len() - 1
}

/// Paint hairs, dots and scales on the canvas and return their truth.
///
/// Errors on an invalid spec (negative densities, empty ranges, fractions
/// outside [0, 1]).
pub fn paint_hairs(canvas: &mut Canvas, spec: &HairSceneSpec, rng: &mut Rng) -> Result<HairTruth> {
    spec.validate()?;
    let (w, h) = (canvas.width, canvas.height);
    let upp = canvas.um_per_px;
    let rot = spec.rotation_deg.to_radians();
    let frame = Frame {
        w,
        h,
        cx: (w as f64 - 1.0) / 2.0,
        cy: (h as f64 - 1.0) / 2.0,
        cos: rot.cos(),
        sin: rot.sin(),
        um_per_px: upp,
        fov_px: spec.fov_radius_um.map(|r| r / upp),
    };
    let half_diag_um = 0.5 * ((w * w + h * h) as f64).sqrt() * upp;
    let view_um = spec
        .fov_radius_um
        .map_or(half_diag_um, |r| r.min(half_diag_um));
    let max_len = spec.length_um[1].max(spec.vellus_length_um[1]);
    // Units are generated in a disc that also holds hairs entering from outside.
    let gen_r = view_um + max_len;
    let gen_area_cm2 = std::f64::consts::PI * gen_r * gen_r * 1e-8;
    let wsum: f64 = spec.hairs_per_unit_weights.iter().sum();
    let mean_per_unit: f64 = spec
        .hairs_per_unit_weights
        .iter()
        .enumerate()
        .map(|(k, &x)| (k + 1) as f64 * x / wsum)
        .sum();
    let n_units = (spec.density_per_cm2 * gen_area_cm2 / mean_per_unit).round() as usize;
    if n_units > 200_000 {
        return Err(Error::param(
            "density_per_cm2",
            "too many hairs for a phantom",
        ));
    }

    let mut fov_mask = Mask::filled(w, h, false);
    for y in 0..h {
        for x in 0..w {
            fov_mask.data[y * w + x] = frame.pixel_visible(x, y);
        }
    }

    // Unit centres: dart throwing with a minimum spacing.
    let mut urng = rng.fork(10);
    let mut units: Vec<[f64; 2]> = Vec::with_capacity(n_units);
    let cell = spec.unit_spacing_um.max(1.0);
    let mut grid: std::collections::HashMap<(i64, i64), Vec<usize>> = Default::default();
    let mut attempts = 0;
    while units.len() < n_units && attempts < n_units * 30 {
        attempts += 1;
        let rr = gen_r * urng.uniform().sqrt();
        let th = urng.range(0.0, std::f64::consts::TAU);
        let p = [rr * th.cos(), rr * th.sin()];
        let key = ((p[0] / cell).floor() as i64, (p[1] / cell).floor() as i64);
        let mut ok = true;
        'n: for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(v) = grid.get(&(key.0 + dx, key.1 + dy)) {
                    for &j in v {
                        let q = units[j];
                        if (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) < cell * cell {
                            ok = false;
                            break 'n;
                        }
                    }
                }
            }
        }
        if ok {
            grid.entry(key).or_default().push(units.len());
            units.push(p);
        }
    }

    // Dots and most scales lie under the hairs: paint them first; scales
    // flagged `over` lie on the hairs and are painted after them.
    let mut scale_under = vec![false; w * h];
    let mut scale_over = vec![false; w * h];
    let mut over_flakes: Vec<SoftBlob> = Vec::new();
    let mut truth = HairTruth::default();
    let mut drng = rng.fork(11);
    let scene_pt = |drng: &mut Rng| -> [f64; 2] {
        let rr = view_um * drng.uniform().sqrt();
        let th = drng.range(0.0, std::f64::consts::TAU);
        [rr * th.cos(), rr * th.sin()]
    };
    let disc_area_cm2 = std::f64::consts::PI * view_um * view_um * 1e-8;
    let n_yellow = (spec.yellow_dots_per_cm2 * disc_area_cm2).round() as usize;
    // Yellow dots are follicular openings: they do not overlap each other,
    // one with a hair sits on a follicular unit (each unit at most once),
    // an empty one away from the units with hair.
    let near_units: Vec<[f64; 2]> = units
        .iter()
        .copied()
        .filter(|u| (u[0] * u[0] + u[1] * u[1]).sqrt() < view_um + 500.0)
        .collect();
    let mut free_units: Vec<usize> = (0..near_units.len())
        .filter(|&k| {
            let u = near_units[k];
            (u[0] * u[0] + u[1] * u[1]).sqrt() < view_um
        })
        .collect();
    let mut placed: Vec<([f64; 2], f64)> = Vec::new();
    let dist = |p: [f64; 2], q: [f64; 2]| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
    for _ in 0..n_yellow {
        let with_hair = drng.uniform() < spec.yellow_dot_with_hair_fraction;
        let d = drng.range(spec.yellow_dot_um[0], spec.yellow_dot_um[1]);
        let mut spot = None;
        for _ in 0..50 {
            let (p, unit) = if with_hair {
                if free_units.is_empty() {
                    break;
                }
                let j = drng.below(free_units.len() as u64) as usize;
                (near_units[free_units[j]], Some(j))
            } else {
                (scene_pt(&mut drng), None)
            };
            let clash = placed
                .iter()
                .any(|&(q, dq)| dist(p, q) < 0.5 * (d + dq) + 30.0)
                || (unit.is_none()
                    && near_units
                        .iter()
                        .any(|&u| dist(p, u) < 0.5 * d + spec.unit_radius_um + 20.0));
            if !clash {
                if let Some(j) = unit {
                    free_units.swap_remove(j);
                }
                spot = Some(p);
                break;
            }
        }
        let Some(c_um) = spot else { continue };
        placed.push((c_um, d));
        let c = frame.to_px(c_um);
        // Yellow to yellow-pink (sebum and keratin in the follicular
        // opening), round or polycyclic, soft-edged, partly translucent.
        let lab = [
            drng.range(70.0, 80.0) as f32,
            drng.range(4.0, 14.0) as f32,
            drng.range(28.0, 42.0) as f32,
        ];
        let blob = SoftBlob::dot(
            c,
            d / 2.0 / upp,
            lab,
            drng.range(0.6, 0.9) as f32,
            (0.05 * d / upp).max(0.3),
            drng.range(0.0, 0.12),
            &mut drng,
        );
        blob.paint(canvas, &frame, None);
        if frame.visible(c) {
            truth.yellow_dots.push(DotTruth {
                centre_px: c,
                diameter_um: d,
                with_hair,
                visible_fraction: 1.0,
            });
        }
    }
    let n_white = (spec.white_dots_per_cm2 * disc_area_cm2).round() as usize;
    for _ in 0..n_white {
        // Openings too: they do not overlap each other or yellow dots.
        let d = drng.range(spec.white_dot_um[0], spec.white_dot_um[1]);
        let mut spot = None;
        for _ in 0..50 {
            let p = scene_pt(&mut drng);
            if !placed
                .iter()
                .any(|&(q, dq)| dist(p, q) < 0.5 * (d + dq) + 20.0)
            {
                spot = Some(p);
                break;
            }
        }
        let Some(c_um) = spot else { continue };
        placed.push((c_um, d));
        let c = frame.to_px(c_um);
        // Pinpoint white dots (eccrine and follicular openings): round,
        // fairly sharp, white with a faint warm tint.
        let lab = [
            drng.range(86.0, 92.0) as f32,
            drng.range(0.0, 2.0) as f32,
            drng.range(2.0, 8.0) as f32,
        ];
        let blob = SoftBlob::dot(
            c,
            d / 2.0 / upp,
            lab,
            drng.range(0.6, 0.85) as f32,
            (3.0 / upp).max(0.3),
            drng.range(0.0, 0.05),
            &mut drng,
        );
        blob.paint(canvas, &frame, None);
        if frame.visible(c) {
            truth.white_dots.push(DotTruth {
                centre_px: c,
                diameter_um: d,
                with_hair: false,
                visible_fraction: 1.0,
            });
        }
    }
    let n_scales = (spec.scales_per_cm2 * disc_area_cm2).round() as usize;
    for _ in 0..n_scales {
        let c_um = scene_pt(&mut drng);
        let size = drng.range(spec.scale_um[0], spec.scale_um[1]) / upp;
        let c = frame.to_px(c_um);
        let blob = SoftBlob::flake(c, size, upp, &mut drng);
        if drng.uniform() < spec.scale_over_hair_fraction {
            over_flakes.push(blob);
        } else {
            blob.paint(canvas, &frame, Some(&mut scale_under));
        }
    }

    // Hairs.
    let mut hrng = rng.fork(12);
    let mut scratch = Scratch::new(w * h);
    let mut hair_mask = vec![false; w * h];
    let spread = spec.direction_spread_deg.to_radians();
    let uspread = spec.unit_spread_deg.to_radians();
    let mut id = 0u32;
    let mut coarse: Vec<Vec<[f64; 2]>> = Vec::new();
    let mut unit_has_counted_visible_exit = vec![false; units.len()];
    for (ui, &uc) in units.iter().enumerate() {
        let nh = pick_weighted(&mut hrng, &spec.hairs_per_unit_weights) + 1;
        let udir = spec.direction_deg.to_radians() + hrng.range(-spread, spread);
        for _ in 0..nh {
            let u = hrng.uniform();
            let (dia, vellus) = if u < spec.vellus_fraction {
                (hrng.range(spec.vellus_um[0], spec.vellus_um[1]), true)
            } else if u < spec.vellus_fraction + spec.terminal_fraction {
                (hrng.range(spec.terminal_um[0], spec.terminal_um[1]), false)
            } else {
                (
                    hrng.range(spec.intermediate_um[0], spec.intermediate_um[1]),
                    false,
                )
            };
            let light = hrng.uniform() < spec.light_fraction;
            let len = if vellus {
                hrng.range(spec.vellus_length_um[0], spec.vellus_length_um[1])
            } else {
                hrng.range(spec.length_um[0], spec.length_um[1])
            };
            let kappa = hrng.range(-1.0, 1.0) * spec.max_curvature_per_mm * 1e-3; // 1/µm
            let dir = udir + hrng.range(-uspread, uspread);
            let er = spec.unit_radius_um * hrng.uniform().sqrt();
            let eth = hrng.range(0.0, std::f64::consts::TAU);
            let exit = [uc[0] + er * eth.cos(), uc[1] + er * eth.sin()];
            let colour: [f32; 3] = if light {
                let k = hrng.range(0.45, 0.65) as f32;
                // Blond/grey: a lighter, slightly yellowish tone.
                [0.42 * k * 1.05, 0.30 * k, 0.20 * k]
            } else {
                let k = hrng.range(0.6, 1.4) as f32;
                [0.045 * k, 0.032 * k, 0.024 * k]
            };
            // Arc in scene µm, sampled in px steps.
            let r_px = dia / 2.0 / upp;
            let step_px = (r_px / 4.0).clamp(0.5, 4.0);
            let step_um = step_px * upp;
            let n = (len / step_um).ceil().max(1.0) as usize;
            let mut pts = Vec::with_capacity(n + 1);
            let mut arc = Vec::with_capacity(n + 1);
            for k in 0..=n {
                let s = (k as f64 * step_um).min(len);
                let (x, y) = if kappa.abs() < 1e-12 {
                    (s * dir.cos(), s * dir.sin())
                } else {
                    (
                        ((dir + kappa * s).sin() - dir.sin()) / kappa,
                        (dir.cos() - (dir + kappa * s).cos()) / kappa,
                    )
                };
                pts.push(frame.to_px([exit[0] + x, exit[1] + y]));
                arc.push(s / upp);
            }
            // Does it reach the visible field?
            let vis: Vec<bool> = pts.iter().map(|&p| frame.visible(p)).collect();
            if !vis.iter().any(|&v| v) {
                continue;
            }
            let mut vis_len = 0.0;
            for k in 0..pts.len() - 1 {
                if vis[k] && vis[k + 1] {
                    vis_len += arc[k + 1] - arc[k];
                }
            }
            vis_len *= upp;
            let g = HairGeom {
                pts,
                arc,
                r_px,
                alpha_per_px: if light {
                    spec.alpha_light_per_um
                } else {
                    spec.alpha_dark_per_um
                } * upp,
                fade_px: spec.exit_fade_um / upp,
                colour,
            };
            paint_one(canvas, &frame, &g, &mut scratch, &mut hair_mask);
            id += 1;
            let exit_px = g.pts[0];
            let exit_in_frame = vis[0];
            let counted = vis_len >= spec.min_visible_length_um;
            if counted && exit_in_frame {
                unit_has_counted_visible_exit[ui] = true;
            }
            // Coarse visible runs for crossing tests (~every 8 px).
            let every = ((8.0 / step_px).round() as usize).max(1);
            let mut c = Vec::new();
            for k in (0..g.pts.len()).step_by(every) {
                c.push(if vis[k] {
                    g.pts[k]
                } else {
                    [f64::NAN, f64::NAN]
                });
            }
            if !(g.pts.len() - 1).is_multiple_of(every) {
                let k = g.pts.len() - 1;
                c.push(if vis[k] {
                    g.pts[k]
                } else {
                    [f64::NAN, f64::NAN]
                });
            }
            coarse.push(c);
            truth.shafts.push(HairTruthShaft {
                id,
                diameter_um: dia,
                class: truth_class(dia),
                light,
                unit: ui as u32 + 1,
                centreline_px: g.pts,
                exit_px,
                exit_in_frame,
                truncated: vis.iter().any(|&v| !v),
                visible_length_um: vis_len,
                counted,
                crosses: Vec::new(),
            });
        }
    }

    // Crossings between counted hairs, away from a shared exit.
    let n = truth.shafts.len();
    let bbox: Vec<[f64; 4]> = coarse
        .iter()
        .map(|c| {
            let mut b = [f64::INFINITY, f64::INFINITY, -f64::INFINITY, -f64::INFINITY];
            for p in c.iter().filter(|p| !p[0].is_nan()) {
                b = [
                    b[0].min(p[0]),
                    b[1].min(p[1]),
                    b[2].max(p[0]),
                    b[3].max(p[1]),
                ];
            }
            b
        })
        .collect();
    for i in 0..n {
        if !truth.shafts[i].counted {
            continue;
        }
        for j in i + 1..n {
            if !truth.shafts[j].counted {
                continue;
            }
            let (a, b) = (bbox[i], bbox[j]);
            if a[0] > b[2] || b[0] > a[2] || a[1] > b[3] || b[1] > a[3] {
                continue;
            }
            let same_unit = truth.shafts[i].unit == truth.shafts[j].unit;
            let ex = truth.shafts[i].exit_px;
            let near_exit_px = (3.0 * spec.unit_radius_um + 100.0) / upp;
            let mut found = false;
            'seg: for p in coarse[i].windows(2) {
                if p[0][0].is_nan() || p[1][0].is_nan() {
                    continue;
                }
                for q in coarse[j].windows(2) {
                    if q[0][0].is_nan() || q[1][0].is_nan() {
                        continue;
                    }
                    if segments_cross(p[0], p[1], q[0], q[1]) {
                        if same_unit
                            && ((p[0][0] - ex[0]).powi(2) + (p[0][1] - ex[1]).powi(2)).sqrt()
                                < near_exit_px
                        {
                            continue;
                        }
                        found = true;
                        break 'seg;
                    }
                }
            }
            if found {
                let (idi, idj) = (truth.shafts[i].id, truth.shafts[j].id);
                truth.shafts[i].crosses.push(idj);
                truth.shafts[j].crosses.push(idi);
            }
        }
    }

    // Scales lying on the hairs.
    for blob in &over_flakes {
        blob.paint(canvas, &frame, Some(&mut scale_over));
    }
    // How much of each dot hair and scales leave visible.
    for dot in truth
        .yellow_dots
        .iter_mut()
        .chain(truth.white_dots.iter_mut())
    {
        let (c, r) = (dot.centre_px, 0.5 * dot.diameter_um / upp);
        let (mut all, mut seen) = (0usize, 0usize);
        let y0 = (c[1] - r).floor().max(0.0) as usize;
        let y1 = ((c[1] + r).ceil().max(0.0) as usize).min(h - 1);
        let x0 = (c[0] - r).floor().max(0.0) as usize;
        let x1 = ((c[0] + r).ceil().max(0.0) as usize).min(w - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                if (x as f64 - c[0]).powi(2) + (y as f64 - c[1]).powi(2) > r * r
                    || !frame.pixel_visible(x, y)
                {
                    continue;
                }
                let i = y * w + x;
                all += 1;
                seen += !(hair_mask[i] | scale_under[i] | scale_over[i]) as usize;
            }
        }
        dot.visible_fraction = if all > 0 {
            seen as f64 / all as f64
        } else {
            0.0
        };
    }
    // Visible scale: a flake under a hair is hidden where the hair is.
    let scale_mask: Vec<bool> = scale_under
        .iter()
        .zip(&scale_over)
        .zip(&hair_mask)
        .map(|((&u, &o), &hm)| o | (u & !hm))
        .collect();

    let counted: Vec<&HairTruthShaft> = truth.shafts.iter().filter(|s| s.counted).collect();
    truth.hair_count = counted.len();
    if !counted.is_empty() {
        let nf = counted.len() as f64;
        truth.vellus_fraction = counted.iter().filter(|s| s.diameter_um < 30.0).count() as f64 / nf;
        truth.vellus_fraction_40um =
            counted.iter().filter(|s| s.diameter_um <= 40.0).count() as f64 / nf;
        truth.diameter_mean_um = counted.iter().map(|s| s.diameter_um).sum::<f64>() / nf;
    }
    truth.follicular_unit_count = unit_has_counted_visible_exit.iter().filter(|&&b| b).count();
    let fov_n = fov_mask.count().max(1);
    truth.scale_area_fraction = scale_mask
        .iter()
        .zip(&fov_mask.data)
        .filter(|(s, f)| **s && **f)
        .count() as f64
        / fov_n as f64;
    truth.fov_mask = fov_mask;
    truth.hair_mask = Mask {
        width: w,
        height: h,
        data: hair_mask,
    };
    truth.scale_mask = Mask {
        width: w,
        height: h,
        data: scale_mask,
    };
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{render, SceneSpec};

    fn spec(upp: f64, hairs: HairSceneSpec) -> SceneSpec {
        SceneSpec {
            width: 400,
            height: 300,
            um_per_px: upp,
            seed: 7,
            hairs: Some(hairs),
            ..SceneSpec::default()
        }
    }

    #[test]
    fn one_straight_hair_has_the_cylinder_profile() {
        // A single horizontal opaque hair of 40 µm at 2 µm/px: 20 px wide.
        let mut canvas = Canvas::new(200, 100, 2.0, [0.5, 0.5, 0.5]);
        let frame = Frame {
            w: 200,
            h: 100,
            cx: 99.5,
            cy: 49.5,
            cos: 1.0,
            sin: 0.0,
            um_per_px: 2.0,
            fov_px: None,
        };
        let pts: Vec<[f64; 2]> = (0..=400).map(|k| [k as f64 * 0.5 - 10.0, 50.0]).collect();
        let arc: Vec<f64> = (0..=400).map(|k| k as f64 * 0.5).collect();
        let g = HairGeom {
            pts,
            arc,
            r_px: 10.0,
            alpha_per_px: 10.0,
            fade_px: 0.0,
            colour: [0.0; 3],
        };
        let mut s = Scratch::new(200 * 100);
        let mut m = vec![false; 200 * 100];
        paint_one(&mut canvas, &frame, &g, &mut s, &mut m);
        // Column 100: rows 41..=59 fully dark, 40 and 60 half covered.
        let col: Vec<f32> = (0..100).map(|y| canvas.g[y * 200 + 100]).collect();
        assert!(col[50] < 1e-3 && col[45] < 1e-3, "{:?}", &col[38..63]);
        assert!((col[40] - 0.25).abs() < 0.03, "edge {}", col[40]);
        assert!((col[60] - 0.25).abs() < 0.03, "edge {}", col[60]);
        assert!((col[38] - 0.5).abs() < 1e-6);
        let area: f32 = col.iter().map(|v| 1.0 - v / 0.5).sum();
        assert!((area - 20.0).abs() < 0.1, "integrated width {area}");
        // Mask: 21 rows (two half-covered edge rows count) × about 198 columns
        // (the shaft runs to x = 190, its round cap to 200).
        let n = m.iter().filter(|&&b| b).count();
        assert!((21 * 195..=21 * 200).contains(&n), "mask {n}");
    }

    #[test]
    fn truth_is_deterministic_and_rotation_invariant_in_a_disc() {
        let hs = HairSceneSpec {
            fov_radius_um: Some(480.0),
            ..HairSceneSpec::default()
        };
        let a = render(&spec(3.5, hs.clone())).unwrap();
        let b = render(&spec(3.5, hs.clone())).unwrap();
        assert_eq!(a.image, b.image);
        let rot = render(&spec(
            3.5,
            HairSceneSpec {
                rotation_deg: 30.0,
                ..hs.clone()
            },
        ))
        .unwrap();
        let ta = &a.truth.hairs;
        let tr = &rot.truth.hairs;
        assert!(ta.hair_count > 3, "count {}", ta.hair_count);
        assert_eq!(ta.hair_count, tr.hair_count);
        assert_eq!(ta.vellus_fraction, tr.vellus_fraction);
        let ma = ta.hair_mask.count() as f64;
        let mr = tr.hair_mask.count() as f64;
        assert!((ma - mr).abs() / ma < 0.02, "{ma} vs {mr}");
    }

    #[test]
    fn density_matches_spec() {
        let hs = HairSceneSpec {
            density_per_cm2: 300.0,
            ..HairSceneSpec::default()
        };
        let mut sp = spec(5.0, hs);
        sp.width = 1200;
        sp.height = 1200; // 6 × 6 mm = 0.36 cm²
        let p = render(&sp).unwrap();
        let exits = p
            .truth
            .hairs
            .shafts
            .iter()
            .filter(|s| s.exit_in_frame)
            .count() as f64;
        let expect = 300.0 * 0.36;
        assert!(
            (exits - expect).abs() < 0.25 * expect,
            "{exits} vs {expect}"
        );
    }

    #[test]
    fn bad_spec_is_an_error() {
        let hs = HairSceneSpec {
            vellus_fraction: 1.5,
            ..HairSceneSpec::default()
        };
        assert!(render(&spec(3.0, hs)).is_err());
    }
}
