//! Vessels under the epidermis in phantoms.
//!
//! Every vessel is a union of tubes ("capsules": a centreline polyline with a
//! radius) laid out in micrometres, so the same spec renders at 20× (≈5 µm/px)
//! and 70× (≈1.5 µm/px). Four classes, as seen from above through a
//! dermatoscope:
//!
//! - **dot**: a short vertical capillary seen end-on, a disc 8–40 µm across;
//! - **loop** (hairpin): two parallel limbs joined by a U-turn;
//! - **twisted**: a tortuous, meandering tube with several turns;
//! - **arborizing**: a long, wide, branching vessel.
//!
//! Rendering: each pixel gets a haemoglobin optical path (the chord through
//! the tube, `√(1−(d/r)²)`, averaged over 4×4 sub-samples) times the vessel's
//! strength. That absorbance map is blurred by a sub-epidermal scattering
//! kernel — a narrow Gaussian plus a wide, weak halo — and multiplies the skin
//! reflectance by `exp(−k_c·A)` per channel with `k = (0.12, 1.0, 0.45)`
//! for (R, G, B): green is absorbed strongly, blue moderately, red slightly,
//! so vessels look red and raise a*.
//!
//! **Truth mask**: pixels whose area is covered at least 50 % by the
//! unblurred vessel shape (4×4 sub-samples). Those pixels are marked
//! `covered` on the canvas so the skin truth excludes them.

use super::{Canvas, Rng};
use crate::error::{check_positive, Error, Result};
use crate::image::{Labels, Mask, Plane};
use crate::kernels::gaussian_blur;
pub use crate::vessels::VesselClass;
use serde::{Deserialize, Serialize};

/// What vessels to render. Densities are per mm² of the whole frame; sizes
/// are `[min, max]` ranges in µm, drawn uniformly per vessel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VesselSceneSpec {
    /// Dots per mm².
    pub dot_density_per_mm2: f64,
    /// Hairpin loops per mm².
    pub loop_density_per_mm2: f64,
    /// Twisted loops per mm².
    pub twisted_density_per_mm2: f64,
    /// Arborizing vessels per mm².
    pub arborizing_density_per_mm2: f64,
    /// Dot diameter range (µm).
    pub dot_diameter_um: [f64; 2],
    /// Loop limb width range (µm).
    pub loop_width_um: [f64; 2],
    /// Loop length range, base to tip of the U (µm).
    pub loop_length_um: [f64; 2],
    /// Gap between the two limbs as a fraction of the limb width.
    pub loop_gap_frac: [f64; 2],
    /// Twisted-loop tube width range (µm).
    pub twisted_width_um: [f64; 2],
    /// Number of meander periods of a twisted loop.
    pub twisted_turns: [f64; 2],
    /// Arborizing trunk width range (µm).
    pub arborizing_width_um: [f64; 2],
    /// Arborizing trunk length range (µm).
    pub arborizing_length_um: [f64; 2],
    /// Peak optical density in green at a vessel's centre (before blur).
    pub strength: [f64; 2],
    /// σ of the narrow scattering blur (µm).
    pub scatter_sigma_um: f64,
    /// σ of the diffuse halo (µm).
    pub halo_sigma_um: f64,
    /// Fraction of the absorbance spread into the halo.
    pub halo_weight: f64,
    /// Clear space kept between vessels (µm).
    pub spacing_um: f64,
}

impl Default for VesselSceneSpec {
    fn default() -> Self {
        VesselSceneSpec {
            dot_density_per_mm2: 6.0,
            loop_density_per_mm2: 6.0,
            twisted_density_per_mm2: 3.0,
            arborizing_density_per_mm2: 0.3,
            dot_diameter_um: [12.0, 40.0],
            loop_width_um: [10.0, 25.0],
            loop_length_um: [60.0, 200.0],
            loop_gap_frac: [0.3, 0.8],
            twisted_width_um: [10.0, 18.0],
            twisted_turns: [2.0, 3.5],
            arborizing_width_um: [20.0, 50.0],
            arborizing_length_um: [300.0, 700.0],
            strength: [0.6, 1.0],
            scatter_sigma_um: 3.0,
            halo_sigma_um: 25.0,
            halo_weight: 0.25,
            spacing_um: 40.0,
        }
    }
}

/// Absorption of the three channels relative to green.
pub const HAEMOGLOBIN_K: [f32; 3] = [0.12, 1.0, 0.45];

/// One rendered vessel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrueVessel {
    /// 1-based id; its label in [`VesselTruth::labels`].
    pub id: u32,
    /// Shape class.
    pub class: VesselClass,
    /// Centroid of its truth-mask pixels (px; `[x, y]`).
    pub centre_px: [f64; 2],
    /// The same in µm.
    pub centre_um: [f64; 2],
    /// Area of the unblurred shape (µm², from sub-samples).
    pub area_um2: f64,
    /// Length of the centreline (µm); a dot's is its diameter; a loop's is
    /// both limbs plus the U-turn.
    pub length_um: f64,
    /// Longest extent of the shape (µm): a loop's is base to tip.
    pub extent_um: f64,
    /// Tube width (µm): a loop's limb width, a dot's diameter.
    pub width_um: f64,
    /// Green optical density at the centre before blur.
    pub strength: f64,
    /// Truth-mask pixel count.
    pub mask_px: usize,
}

/// Vessel ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VesselTruth {
    /// The vessels.
    pub vessels: Vec<TrueVessel>,
    /// Truth vessel mask (≥ 50 % covered by an unblurred vessel).
    #[serde(skip)]
    pub mask: Mask,
    /// One label per vessel (id), 0 elsewhere.
    #[serde(skip)]
    pub labels: Labels,
}

/// A capillary is countable when at least this fraction of its truth-mask
/// pixels is visible (see [`VesselTruth::countable`]).
pub const COUNTABLE_VISIBLE_FRACTION: f64 = 0.25;

impl VesselTruth {
    /// Vessels that are capillaries (dots, loops, twisted loops), all of
    /// them, whether or not anything hides them. Scores use
    /// [`VesselTruth::countable_capillary_count`].
    pub fn capillary_count(&self) -> usize {
        self.vessels
            .iter()
            .filter(|v| v.class != VesselClass::Arborizing)
            .count()
    }
    /// The counting rule of the truth, per vessel (index `id − 1`): a
    /// capillary (dot, loop, twisted loop) is countable when at least
    /// [`COUNTABLE_VISIBLE_FRACTION`] of its truth-mask pixels lie outside
    /// `hidden` (hair, glare: what covers the skin in the image). A
    /// capillary wholly or mostly hidden cannot be seen, so no method can
    /// count it; a capillary cut by a hair into visible pieces is one
    /// capillary. Arborizing vessels are never countable capillaries.
    /// With `hidden` `None` every capillary is countable. A `hidden` mask
    /// of another size is an [`Error::Parameter`].
    pub fn countable(&self, hidden: Option<&Mask>) -> Result<Vec<bool>> {
        let n = self.labels.data.len();
        if let Some(h) = hidden {
            if h.data.len() != n || h.width != self.labels.width {
                return Err(Error::param(
                    "hidden",
                    "mask size differs from the truth labels",
                ));
            }
        }
        // (truth pixels, hidden ones) per id.
        let mut px = vec![(0usize, 0usize); self.vessels.len() + 1];
        for (i, &l) in self.labels.data.iter().enumerate() {
            if let Some(c) = px.get_mut(l as usize) {
                c.0 += 1;
                c.1 += hidden.is_some_and(|h| h.data[i]) as usize;
            }
        }
        Ok(self
            .vessels
            .iter()
            .map(|v| {
                let (all, hid) = px.get(v.id as usize).copied().unwrap_or((0, 0));
                v.class != VesselClass::Arborizing
                    && (all - hid) as f64 >= COUNTABLE_VISIBLE_FRACTION * all as f64
            })
            .collect())
    }
    /// The capillaries [`VesselTruth::countable`] with `hidden`: the true
    /// capillary count of an image where `hidden` cannot be seen.
    pub fn countable_capillary_count(&self, hidden: Option<&Mask>) -> Result<usize> {
        Ok(self.countable(hidden)?.iter().filter(|&&c| c).count())
    }
    /// Vessels of one class.
    pub fn count(&self, class: VesselClass) -> usize {
        self.vessels.iter().filter(|v| v.class == class).count()
    }
}

/// A tube: centreline (µm) and radius (µm).
#[derive(Debug, Clone)]
struct Tube {
    pts: Vec<[f64; 2]>,
    radius: f64,
}

#[derive(Debug, Clone)]
struct Shape {
    class: VesselClass,
    tubes: Vec<Tube>,
    length_um: f64,
    extent_um: f64,
    width_um: f64,
    strength: f64,
}

impl Shape {
    fn bbox(&self) -> [f64; 4] {
        let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for t in &self.tubes {
            for p in &t.pts {
                b[0] = b[0].min(p[0] - t.radius);
                b[1] = b[1].min(p[1] - t.radius);
                b[2] = b[2].max(p[0] + t.radius);
                b[3] = b[3].max(p[1] + t.radius);
            }
        }
        b
    }
    fn translate(&mut self, dx: f64, dy: f64) {
        for t in &mut self.tubes {
            for p in &mut t.pts {
                p[0] += dx;
                p[1] += dy;
            }
        }
    }
    /// Squared distance-based profile: returns the chord fraction √(1−(d/r)²)
    /// of the tube nearest in relative terms (0 outside).
    fn profile(&self, x: f64, y: f64) -> f64 {
        let mut best = 0.0f64;
        for t in &self.tubes {
            let r2 = t.radius * t.radius;
            let d2 = polyline_dist2(&t.pts, x, y);
            if d2 < r2 {
                best = best.max((1.0 - d2 / r2).sqrt());
            }
        }
        best
    }
}

fn polyline_dist2(pts: &[[f64; 2]], x: f64, y: f64) -> f64 {
    if pts.len() == 1 {
        let (dx, dy) = (x - pts[0][0], y - pts[0][1]);
        return dx * dx + dy * dy;
    }
    let mut best = f64::MAX;
    for s in pts.windows(2) {
        let (ax, ay, bx, by) = (s[0][0], s[0][1], s[1][0], s[1][1]);
        let (vx, vy) = (bx - ax, by - ay);
        let l2 = vx * vx + vy * vy;
        let t = if l2 > 0.0 {
            (((x - ax) * vx + (y - ay) * vy) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (dx, dy) = (x - ax - t * vx, y - ay - t * vy);
        best = best.min(dx * dx + dy * dy);
    }
    best
}

fn path_length(pts: &[[f64; 2]]) -> f64 {
    pts.windows(2)
        .map(|s| ((s[1][0] - s[0][0]).powi(2) + (s[1][1] - s[0][1]).powi(2)).sqrt())
        .sum()
}

fn rot(p: [f64; 2], c: f64, s: f64) -> [f64; 2] {
    [c * p[0] - s * p[1], s * p[0] + c * p[1]]
}

fn rotate_all(tubes: &mut [Tube], angle: f64) {
    let (s, c) = angle.sin_cos();
    for t in tubes {
        for p in &mut t.pts {
            *p = rot(*p, c, s);
        }
    }
}

fn pick(rng: &mut Rng, r: [f64; 2]) -> f64 {
    rng.range(r[0], r[1].max(r[0]))
}

fn make_dot(spec: &VesselSceneSpec, rng: &mut Rng) -> Shape {
    let d = pick(rng, spec.dot_diameter_um);
    Shape {
        class: VesselClass::Dot,
        tubes: vec![Tube {
            pts: vec![[0.0, 0.0]],
            radius: d / 2.0,
        }],
        length_um: d,
        extent_um: d,
        width_um: d,
        strength: pick(rng, spec.strength),
    }
}

fn make_loop(spec: &VesselSceneSpec, rng: &mut Rng) -> Shape {
    let w = pick(rng, spec.loop_width_um);
    let gap = w * pick(rng, spec.loop_gap_frac);
    let u = (w + gap) / 2.0; // radius of the U-turn centreline
                             // The loop must be at least twice as long as it is wide to be a loop.
    let outer = 2.0 * w + gap;
    let extent = pick(rng, spec.loop_length_um).max(2.0 * outer);
    let limb = extent - u - w / 2.0;
    let mut pts = vec![[-u, 0.0], [-u, limb]];
    let n = 16;
    for k in 1..n {
        let a = std::f64::consts::PI * (1.0 - k as f64 / n as f64);
        pts.push([u * a.cos(), limb + u * a.sin()]);
    }
    pts.push([u, limb]);
    pts.push([u, 0.0]);
    let length = path_length(&pts);
    let mut tubes = vec![Tube {
        pts,
        radius: w / 2.0,
    }];
    // Centre the shape on its bounding box, then orient it at random.
    for p in &mut tubes[0].pts {
        p[1] -= (limb + u) / 2.0;
    }
    rotate_all(&mut tubes, rng.range(0.0, std::f64::consts::TAU));
    Shape {
        class: VesselClass::Loop,
        tubes,
        length_um: length,
        extent_um: extent,
        width_um: w,
        strength: pick(rng, spec.strength),
    }
}

fn make_twisted(spec: &VesselSceneSpec, rng: &mut Rng) -> Shape {
    let w = pick(rng, spec.twisted_width_um);
    let turns = pick(rng, spec.twisted_turns);
    // Meander period: bends of neighbouring half-periods stay apart.
    let period = w * rng.range(3.2, 4.0);
    let amp = period * rng.range(0.45, 0.6);
    let axis = turns * period;
    let n = (turns * 24.0).ceil() as usize;
    let mut pts = Vec::with_capacity(n + 1);
    let bow = rng.range(-0.3, 0.3) / axis; // slight overall bend
    for k in 0..=n {
        let x = axis * k as f64 / n as f64;
        let y = amp * (std::f64::consts::TAU * x / period).sin() + bow * (x - axis / 2.0).powi(2);
        pts.push([x - axis / 2.0, y]);
    }
    let length = path_length(&pts);
    let mut tubes = vec![Tube {
        pts,
        radius: w / 2.0,
    }];
    rotate_all(&mut tubes, rng.range(0.0, std::f64::consts::TAU));
    Shape {
        class: VesselClass::Twisted,
        tubes,
        length_um: length,
        extent_um: axis + w,
        width_um: w,
        strength: pick(rng, spec.strength),
    }
}

fn smooth_path(
    rng: &mut Rng,
    start: [f64; 2],
    heading: f64,
    length: f64,
    step: f64,
) -> Vec<[f64; 2]> {
    let n = (length / step).ceil().max(1.0) as usize;
    let mut pts = vec![start];
    let (mut p, mut th) = (start, heading);
    let mut curv = 0.0;
    for _ in 0..n {
        curv = 0.8 * curv + rng.normal() * 0.0015;
        th += curv * step;
        p = [p[0] + step * th.cos(), p[1] + step * th.sin()];
        pts.push(p);
    }
    pts
}

fn make_arborizing(spec: &VesselSceneSpec, rng: &mut Rng) -> Shape {
    let w = pick(rng, spec.arborizing_width_um);
    let len = pick(rng, spec.arborizing_length_um);
    let heading = rng.range(0.0, std::f64::consts::TAU);
    let start = [-len / 2.0 * heading.cos(), -len / 2.0 * heading.sin()];
    let trunk = smooth_path(rng, start, heading, len, 10.0);
    let mut length = path_length(&trunk);
    let nb = 1 + rng.below(3) as usize;
    let mut tubes = Vec::new();
    for b in 0..nb {
        let at = trunk.len() * (b + 1) / (nb + 1);
        let p = trunk[at];
        let q = trunk[(at + 1).min(trunk.len() - 1)];
        let dir = (q[1] - p[1]).atan2(q[0] - p[0]);
        let side = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
        let ang = dir + side * rng.range(0.5, 1.1);
        let bl = len * rng.range(0.25, 0.45);
        let br = smooth_path(rng, p, ang, bl, 10.0);
        length += path_length(&br);
        tubes.push(Tube {
            pts: br,
            radius: w * rng.range(0.3, 0.4),
        });
    }
    tubes.insert(
        0,
        Tube {
            pts: trunk,
            radius: w / 2.0,
        },
    );
    Shape {
        class: VesselClass::Arborizing,
        tubes,
        length_um: length,
        extent_um: len + w,
        width_um: w,
        strength: pick(rng, spec.strength),
    }
}

/// Paint vessels on the canvas.
pub fn paint_vessels(
    canvas: &mut Canvas,
    spec: &VesselSceneSpec,
    rng: &mut Rng,
) -> Result<VesselTruth> {
    for (name, v) in [
        ("dot_density_per_mm2", spec.dot_density_per_mm2),
        ("loop_density_per_mm2", spec.loop_density_per_mm2),
        ("twisted_density_per_mm2", spec.twisted_density_per_mm2),
        (
            "arborizing_density_per_mm2",
            spec.arborizing_density_per_mm2,
        ),
        ("halo_weight", spec.halo_weight),
        ("scatter_sigma_um", spec.scatter_sigma_um),
        ("halo_sigma_um", spec.halo_sigma_um),
        ("spacing_um", spec.spacing_um),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::param(
                name,
                format!("must be finite and ≥ 0, got {v}"),
            ));
        }
    }
    if spec.halo_weight > 1.0 {
        return Err(Error::param("halo_weight", "must be ≤ 1"));
    }
    for r in [
        spec.dot_diameter_um,
        spec.loop_width_um,
        spec.loop_length_um,
        spec.twisted_width_um,
        spec.arborizing_width_um,
        spec.arborizing_length_um,
    ] {
        check_positive("vessel size", r[0])?;
        check_positive("vessel size", r[1])?;
    }
    let (w, h, s) = (canvas.width, canvas.height, canvas.um_per_px);
    let area_mm2 = (w as f64 * s) * (h as f64 * s) * 1e-6;
    let (fw, fh) = (w as f64 * s, h as f64 * s);

    // Draw shapes, biggest first so they find room.
    let mut wanted: Vec<VesselClass> = Vec::new();
    for (class, d) in [
        (VesselClass::Arborizing, spec.arborizing_density_per_mm2),
        (VesselClass::Twisted, spec.twisted_density_per_mm2),
        (VesselClass::Loop, spec.loop_density_per_mm2),
        (VesselClass::Dot, spec.dot_density_per_mm2),
    ] {
        let n = (d * area_mm2).round() as usize;
        wanted.extend((0..n).map(|_| class));
    }
    // Placed shapes: bounding boxes for the non-overlap test (exact test on
    // sub-samples would be slow; boxes of rotated shapes are conservative
    // for compact shapes, and arborizing vessels also check tube distances).
    let mut placed: Vec<(Shape, [f64; 4])> = Vec::new();
    let margin = spec.spacing_um;
    for class in wanted {
        let mut shape = match class {
            VesselClass::Dot => make_dot(spec, rng),
            VesselClass::Loop => make_loop(spec, rng),
            VesselClass::Twisted => make_twisted(spec, rng),
            VesselClass::Arborizing => make_arborizing(spec, rng),
        };
        let b0 = shape.bbox();
        let (bw, bh) = (b0[2] - b0[0], b0[3] - b0[1]);
        if bw + 2.0 * margin > fw || bh + 2.0 * margin > fh {
            continue;
        }
        for _ in 0..60 {
            // Keep the whole shape inside the frame with a margin.
            let x0 = rng.range(margin / 2.0, fw - bw - margin / 2.0);
            let y0 = rng.range(margin / 2.0, fh - bh - margin / 2.0);
            let bb = [x0, y0, x0 + bw, y0 + bh];
            let clash = placed.iter().any(|(o, ob)| {
                let sep = bb[0] > ob[2] + margin
                    || ob[0] > bb[2] + margin
                    || bb[1] > ob[3] + margin
                    || ob[1] > bb[3] + margin;
                !sep && (class != VesselClass::Arborizing && o.class != VesselClass::Arborizing
                    || tubes_close(o, &shape, [x0 - b0[0], y0 - b0[1]], margin))
            });
            if !clash {
                shape.translate(x0 - b0[0], y0 - b0[1]);
                placed.push((shape, bb));
                break;
            }
        }
    }

    // Rasterise: absorbance, coverage, labels.
    let n = w * h;
    let mut absorb = vec![0.0f32; n];
    let mut labels = vec![0u32; n];
    let mut vessels = Vec::new();
    const SS: usize = 4;
    for (shape, _) in &placed {
        let id = vessels.len() as u32 + 1;
        let b = shape.bbox();
        let x0 = ((b[0] / s).floor().max(0.0)) as usize;
        let y0 = ((b[1] / s).floor().max(0.0)) as usize;
        let x1 = ((b[2] / s).ceil() as usize).min(w);
        let y1 = ((b[3] / s).ceil() as usize).min(h);
        let (mut cx, mut cy, mut npx, mut cov_sum) = (0.0, 0.0, 0usize, 0.0);
        for py in y0..y1 {
            for px in x0..x1 {
                let (mut a, mut c) = (0.0, 0usize);
                for sy in 0..SS {
                    for sx in 0..SS {
                        let ux = (px as f64 + (sx as f64 + 0.5) / SS as f64) * s;
                        let uy = (py as f64 + (sy as f64 + 0.5) / SS as f64) * s;
                        let p = shape.profile(ux, uy);
                        if p > 0.0 {
                            a += p;
                            c += 1;
                        }
                    }
                }
                if c == 0 {
                    continue;
                }
                let i = py * w + px;
                let a = (a / (SS * SS) as f64 * shape.strength) as f32;
                absorb[i] = absorb[i].max(a);
                cov_sum += c as f64 / (SS * SS) as f64;
                if 2 * c >= SS * SS {
                    labels[i] = id;
                    canvas.covered[i] = true;
                    cx += px as f64 + 0.5;
                    cy += py as f64 + 0.5;
                    npx += 1;
                }
            }
        }
        let centre_px = if npx > 0 {
            [cx / npx as f64, cy / npx as f64]
        } else {
            [(b[0] + b[2]) / 2.0 / s, (b[1] + b[3]) / 2.0 / s]
        };
        vessels.push(TrueVessel {
            id,
            class: shape.class,
            centre_px,
            centre_um: [centre_px[0] * s, centre_px[1] * s],
            area_um2: cov_sum * s * s,
            length_um: shape.length_um,
            extent_um: shape.extent_um,
            width_um: shape.width_um,
            strength: shape.strength,
            mask_px: npx,
        });
    }

    // Scatter: narrow Gaussian plus a diffuse halo, then Beer–Lambert.
    let absorb = Plane::from_vec(w, h, absorb);
    let mut narrow = gaussian_blur(&absorb, (spec.scatter_sigma_um / s) as f32).data;
    if spec.halo_weight > 0.0 {
        let halo = gaussian_blur(&absorb, (spec.halo_sigma_um / s) as f32).data;
        let hw = spec.halo_weight as f32;
        for (a, hv) in narrow.iter_mut().zip(&halo) {
            *a = (1.0 - hw) * *a + hw * hv;
        }
    }
    for (i, &a) in narrow.iter().enumerate() {
        if a > 0.0 {
            canvas.r[i] *= (-HAEMOGLOBIN_K[0] * a).exp();
            canvas.g[i] *= (-HAEMOGLOBIN_K[1] * a).exp();
            canvas.b[i] *= (-HAEMOGLOBIN_K[2] * a).exp();
        }
    }
    let count = vessels.len() as u32;
    Ok(VesselTruth {
        vessels,
        mask: Mask {
            width: w,
            height: h,
            data: labels.iter().map(|&l| l > 0).collect(),
        },
        labels: Labels {
            width: w,
            height: h,
            data: labels,
            count,
        },
    })
}

/// Are two shapes (the second shifted by `off`) closer than `margin` anywhere?
fn tubes_close(a: &Shape, b: &Shape, off: [f64; 2], margin: f64) -> bool {
    for tb in &b.tubes {
        for p in &tb.pts {
            let (x, y) = (p[0] + off[0], p[1] + off[1]);
            for ta in &a.tubes {
                let lim = ta.radius + tb.radius + margin;
                if polyline_dist2(&ta.pts, x, y) < lim * lim {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{render, SceneSpec};

    fn spec(um: f64) -> SceneSpec {
        SceneSpec {
            width: 400,
            height: 300,
            um_per_px: um,
            seed: 7,
            vessels: Some(VesselSceneSpec::default()),
            ..SceneSpec::default()
        }
    }

    #[test]
    fn countable_capillaries_are_those_at_least_a_quarter_visible() {
        let v = |id: u32, class| TrueVessel {
            id,
            class,
            centre_px: [0.0; 2],
            centre_um: [0.0; 2],
            area_um2: 0.0,
            length_um: 0.0,
            extent_um: 0.0,
            width_um: 0.0,
            strength: 1.0,
            mask_px: 4,
        };
        // Rows of 4 px: a dot, a loop, a twisted loop, an arborizing vessel.
        let t = VesselTruth {
            vessels: vec![
                v(1, VesselClass::Dot),
                v(2, VesselClass::Loop),
                v(3, VesselClass::Twisted),
                v(4, VesselClass::Arborizing),
            ],
            mask: Mask::filled(4, 4, true),
            labels: Labels {
                width: 4,
                height: 4,
                data: (0..16).map(|i| i / 4 + 1).collect(),
                count: 4,
            },
        };
        // Hidden: 3 of the dot's 4 px (a quarter visible: counted), all of
        // the loop's (not counted), one of the twisted loop's.
        let mut hidden = Mask::filled(4, 4, false);
        for i in [0, 1, 2, 4, 5, 6, 7, 8] {
            hidden.data[i] = true;
        }
        assert_eq!(
            t.countable(Some(&hidden)).unwrap(),
            vec![true, false, true, false]
        );
        assert_eq!(t.countable_capillary_count(Some(&hidden)).unwrap(), 2);
        hidden.data[3] = true;
        assert_eq!(t.countable_capillary_count(Some(&hidden)).unwrap(), 1);
        assert_eq!(t.countable_capillary_count(None).unwrap(), 3);
        assert_eq!(t.capillary_count(), 3);
        assert!(t.countable(Some(&Mask::filled(3, 3, false))).is_err());
    }

    #[test]
    fn vessels_are_red_and_truth_is_consistent() {
        let p = render(&spec(3.0)).unwrap();
        let t = &p.truth.vessels;
        assert!(t.vessels.len() >= 10, "{}", t.vessels.len());
        for class in [VesselClass::Dot, VesselClass::Loop, VesselClass::Twisted] {
            assert!(t.count(class) >= 2, "{class:?}");
        }
        // Mask pixel count equals label pixel count equals the per-vessel sums.
        let sum: usize = t.vessels.iter().map(|v| v.mask_px).sum();
        assert_eq!(sum, t.mask.count());
        // A vessel's truth area agrees with its ≥ 50 % pixels within 15 %.
        for v in &t.vessels {
            let a_px = v.mask_px as f64 * 9.0;
            assert!((a_px / v.area_um2 - 1.0).abs() < 0.2, "{v:?}");
        }
        // Redder at vessel centres: a* higher than on the skin.
        let rgb = crate::color::to_linear(&p.image.view()).unwrap();
        let a = |i: usize| crate::color::linear_rgb_to_lab([rgb.r[i], rgb.g[i], rgb.b[i]])[1];
        let mut dv = 0.0;
        for v in &t.vessels {
            let i = v.centre_px[1] as usize * 400 + v.centre_px[0] as usize;
            if t.mask.data[i] {
                dv += (a(i) - p.truth.skin_a_star_mean as f32) as f64;
            }
        }
        assert!(dv / t.vessels.len() as f64 > 3.0, "mean Δa* {dv}");
        // Skin truth excludes vessel pixels.
        assert_eq!(p.truth.skin_mask.count() + t.mask.count(), 400 * 300);
    }

    #[test]
    fn same_scene_in_micrometres_at_two_scales() {
        // Same field of view at 1.5 and 3 µm/px: same vessels, area within 5 %.
        let a = render(&SceneSpec {
            width: 600,
            height: 400,
            ..spec(1.5)
        })
        .unwrap();
        let b = render(&SceneSpec {
            width: 300,
            height: 200,
            ..spec(3.0)
        })
        .unwrap();
        let (ta, tb) = (&a.truth.vessels, &b.truth.vessels);
        assert_eq!(ta.vessels.len(), tb.vessels.len());
        let area = |t: &VesselTruth, s: f64| t.mask.count() as f64 * s * s;
        let (aa, ab) = (area(ta, 1.5), area(tb, 3.0));
        assert!((aa / ab - 1.0).abs() < 0.05, "{aa} vs {ab}");
    }
}
