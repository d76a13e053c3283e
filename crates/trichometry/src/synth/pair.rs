//! Phantom pairs: one scene seen at two visits.
//!
//! The scene is painted once on a canvas larger than the field of view; each
//! visit's image is the canvas sampled (bilinear) through that visit's
//! similarity transform, so the true follow-up → baseline transform is exact.
//! Scene changes (capillaries added or removed, skin a* shifted, shafts
//! thickened, vellus ↔ terminal, hairs lost or gained, growth) are applied to
//! the follow-up's copy of the canvas; nuisances (rotation, shift, scale,
//! white balance, exposure, sensor noise, JPEG quality) to each view.
//!
//! Content painted here: a skin texture (value noise in lightness and a
//! little in redness: what the registration locks on), capillary dots and
//! straight hair shafts grouped in follicular units, each an item with a
//! per-visit state. The layers of [`SceneSpec`] (skin, `vessels`, `hairs`,
//! optics) are painted identically on both visits by the scene renderers, so
//! whatever those renderers learn to draw appears in pairs too; their truth
//! is in scene coordinates (`scene_truth`).

use super::{optics, skin, Canvas, Rng, SceneSpec, Truth};
use crate::color;
use crate::compare::Similarity;
use crate::error::{Error, Result};
use crate::image::{Image, Labels, Samples};
use serde::{Deserialize, Serialize};

/// How one visit sees the scene, and what the camera does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisitSpec {
    /// Rotation of the view (degrees).
    pub rotation_deg: f64,
    /// Size of one view pixel in scene pixels (> 1: lower magnification).
    pub scale: f64,
    /// Shift of the view centre, as a fraction of the field (x, y).
    pub shift_frac: [f64; 2],
    /// Per-channel gains on linear RGB (white-balance drift).
    pub white_balance: [f32; 3],
    /// Overall gain on linear RGB (exposure drift).
    pub exposure: f32,
    /// Sensor noise σ on linear RGB.
    pub noise_sigma: f32,
    /// JPEG quality (`None` = no JPEG).
    pub jpeg_quality: Option<u8>,
    /// A grey card in the field of view (fixed in the image, lit like the
    /// scene): `(x, y, w, h)` in view pixels and its CIELAB L*.
    pub grey_card: Option<([usize; 4], f32)>,
}

impl Default for VisitSpec {
    fn default() -> Self {
        VisitSpec {
            rotation_deg: 0.0,
            scale: 1.0,
            shift_frac: [0.0, 0.0],
            white_balance: [1.0, 1.0, 1.0],
            exposure: 1.0,
            noise_sigma: 0.004,
            jpeg_quality: Some(92),
            grey_card: None,
        }
    }
}

/// Hair shafts grouped in follicular units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairHairSpec {
    /// Follicular units per cm².
    pub units_per_cm2: f64,
    /// Probability of 1, 2 and 3 hairs per unit.
    pub hairs_per_unit: [f64; 3],
    /// Share of vellus hairs.
    pub vellus_fraction: f64,
    /// Terminal diameter range (µm).
    pub terminal_diameter_um: [f64; 2],
    /// Vellus diameter range (µm).
    pub vellus_diameter_um: [f64; 2],
    /// Visible length range (µm).
    pub length_um: [f64; 2],
    /// Mean direction of the shafts (degrees) and the spread around it.
    pub direction_deg: [f64; 2],
}

impl Default for PairHairSpec {
    fn default() -> Self {
        PairHairSpec {
            units_per_cm2: 300.0,
            hairs_per_unit: [0.4, 0.4, 0.2],
            vellus_fraction: 0.25,
            terminal_diameter_um: [50.0, 90.0],
            vellus_diameter_um: [15.0, 28.0],
            length_um: [250.0, 700.0],
            direction_deg: [30.0, 35.0],
        }
    }
}

/// Capillary dots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairCapillarySpec {
    /// Capillaries per mm².
    pub density_per_mm2: f64,
    /// Radius range (µm).
    pub radius_um: [f64; 2],
    /// CIELAB colour of the vessel.
    pub lab: [f32; 3],
}

impl Default for PairCapillarySpec {
    fn default() -> Self {
        PairCapillarySpec {
            density_per_mm2: 12.0,
            radius_um: [12.0, 22.0],
            lab: [46.0, 38.0, 20.0],
        }
    }
}

/// Known scene changes between the visits (fractions are of the baseline
/// items of that kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SceneChanges {
    /// New capillaries, as a fraction of the baseline count.
    pub capillaries_added: f64,
    /// Capillaries that disappear.
    pub capillaries_removed: f64,
    /// Shift of the skin's CIELAB a* (uncovered skin).
    pub a_star_shift: f64,
    /// Share of terminal hairs that thicken.
    pub thickened_fraction: f64,
    /// Share of terminal hairs that thin (miniaturise, staying terminal).
    pub thinned_fraction: f64,
    /// Diameter change of thickened / thinned hairs (µm, positive).
    pub diameter_change_um: f64,
    /// Share of vellus hairs that turn terminal.
    pub vellus_to_terminal: f64,
    /// Share of terminal hairs that turn vellus.
    pub terminal_to_vellus: f64,
    /// Share of hairs lost.
    pub hairs_lost: f64,
    /// New hairs, as a fraction of the baseline count (in new units).
    pub hairs_gained: f64,
    /// Growth of every persisting hair's visible length (µm).
    pub growth_um: f64,
}

/// Everything that defines a pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairSpec {
    /// Field of view (width, height, µm per pixel of the baseline), seed, and
    /// the layers painted by the scene renderers.
    pub scene: SceneSpec,
    /// Amplitude of the skin texture (relative reflectance modulation).
    pub texture: f32,
    /// Hairs (none when `None`).
    pub hairs: Option<PairHairSpec>,
    /// Capillaries (none when `None`).
    pub capillaries: Option<PairCapillarySpec>,
    /// What changes between the visits.
    pub changes: SceneChanges,
    /// The baseline view.
    pub baseline: VisitSpec,
    /// The follow-up view.
    pub followup: VisitSpec,
    /// Scene canvas margin around the field, as a fraction of the field.
    pub margin: f64,
}

impl Default for PairSpec {
    fn default() -> Self {
        PairSpec {
            scene: SceneSpec {
                width: 1024,
                height: 768,
                um_per_px: 5.0,
                ..SceneSpec::default()
            },
            texture: 0.10,
            hairs: Some(PairHairSpec::default()),
            capillaries: Some(PairCapillarySpec::default()),
            changes: SceneChanges::default(),
            baseline: VisitSpec::default(),
            followup: VisitSpec::default(),
            margin: 0.4,
        }
    }
}

impl PairSpec {
    /// A clinic-like follow-up of a crowded scalp (1280×960 px, 300
    /// follicular units per cm²): capillaries +30 % / −20 %, hairs −20 % /
    /// +8 %, 100 µm growth; the follow-up rotated 5°, scaled 1.03, shifted
    /// (8 %, −6 %), white balance and exposure drift, JPEG q85.
    pub fn crowded_followup_example(seed: u64) -> PairSpec {
        let mut spec = PairSpec {
            followup: VisitSpec {
                rotation_deg: 5.0,
                scale: 1.03,
                shift_frac: [0.08, -0.06],
                white_balance: [1.04, 1.0, 0.95],
                exposure: 0.92,
                jpeg_quality: Some(85),
                ..VisitSpec::default()
            },
            changes: SceneChanges {
                capillaries_added: 0.3,
                capillaries_removed: 0.2,
                hairs_lost: 0.2,
                hairs_gained: 0.08,
                growth_um: 100.0,
                ..SceneChanges::default()
            },
            ..PairSpec::default()
        };
        spec.scene.seed = seed;
        spec.scene.width = 1280;
        spec.scene.height = 960;
        if let Some(h) = spec.hairs.as_mut() {
            h.units_per_cm2 = 300.0;
        }
        spec
    }
}

/// One hair of the scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HairItem {
    /// Follicle exit in scene pixels.
    pub exit_px: [f64; 2],
    /// Direction (radians, scene frame).
    pub angle_rad: f64,
    /// Visible length per visit (µm).
    pub length_um: [f64; 2],
    /// Diameter per visit (µm); `None` = absent at that visit.
    pub diameter_um: [Option<f64>; 2],
    /// Follicular unit index.
    pub unit: usize,
}

/// One capillary of the scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapillaryItem {
    /// Centre in scene pixels.
    pub centre_px: [f64; 2],
    /// Radius (µm).
    pub radius_um: f64,
    /// Present at (baseline, follow-up).
    pub present: [bool; 2],
}

/// One rendered visit.
#[derive(Debug, Clone)]
pub struct PairVisit {
    /// The image (8-bit sRGB, JPEG-degraded when asked).
    pub image: Image,
    /// The device's nominal scale (the baseline's µm per pixel): what an
    /// analysis of this visit is told.
    pub um_per_px_nominal: f64,
    /// The true µm per pixel of this visit.
    pub um_per_px_true: f64,
    /// View pixel → scene pixel.
    pub view_to_scene: Similarity,
    /// Hair labels in view pixels (id `k` is hair item `hair_items[k − 1]`).
    pub hair_labels: Labels,
    /// Scene hair item of each label.
    pub hair_items: Vec<usize>,
    /// Diameter an ideal measurement reports with the nominal scale (µm), per label.
    pub hair_diameter_um: Vec<f64>,
    /// Follicle exit and tip of each labelled hair in view pixels (either
    /// may lie outside the frame), per label.
    pub hair_axis_px: Vec<[[f64; 2]; 2]>,
    /// Centroid of each capillary label in view pixels.
    pub capillary_centroid_px: Vec<[f64; 2]>,
    /// Capillary labels in view pixels.
    pub capillary_labels: Labels,
    /// Scene capillary item of each label.
    pub capillary_items: Vec<usize>,
    /// Truth of the scene renderers' layers, in scene pixels.
    pub scene_truth: Truth,
}

impl PairVisit {
    /// The shafts an ideal hair detector reports for this visit (id = label,
    /// diameter in nominal µm): the true axis from the follicle exit to the
    /// tip, clipped to the frame, sampled every pixel; `exit_px` when the
    /// exit lies in the frame.
    pub fn oracle_shafts(&self) -> Vec<crate::hairs::HairShaft> {
        let (w, h) = (self.image.width() as f64, self.image.height() as f64);
        let inside = |p: [f64; 2]| p[0] >= -0.5 && p[1] >= -0.5 && p[0] < w - 0.5 && p[1] < h - 0.5;
        self.hair_diameter_um
            .iter()
            .zip(&self.hair_axis_px)
            .enumerate()
            .map(|(i, (&d, &[e, t]))| {
                let len = (t[0] - e[0]).hypot(t[1] - e[1]);
                let n = len.ceil().max(1.0) as usize;
                // The axis where this hair is visible (its label within a
                // pixel: not outside the frame, not under another hair), as
                // a detector sees it. A hair hidden all along its axis keeps
                // an empty centreline (the label then gives its geometry).
                let lab = &self.hair_labels;
                let id = i as u32 + 1;
                let visible = |p: [f64; 2]| {
                    let (x, y) = (p[0].round() as i64, p[1].round() as i64);
                    (-1..=1).any(|dy| {
                        (-1..=1).any(|dx| {
                            let (u, v) = (x + dx, y + dy);
                            u >= 0
                                && v >= 0
                                && (u as usize) < lab.width
                                && (v as usize) < lab.height
                                && lab.data[v as usize * lab.width + u as usize] == id
                        })
                    })
                };
                let centreline_px: Vec<[f32; 2]> = (0..=n)
                    .map(|k| {
                        let f = k as f64 / n as f64;
                        [e[0] + f * (t[0] - e[0]), e[1] + f * (t[1] - e[1])]
                    })
                    .filter(|&p| inside(p) && visible(p))
                    .map(|p| [p[0] as f32, p[1] as f32])
                    .collect();
                // The exit when it lies in the frame (the phantom paints the
                // hairs of a unit over one another at their exit); a hair
                // hidden all along keeps its exit as its centreline.
                let exit_px = inside(e).then_some([e[0] as f32, e[1] as f32]);
                let mut centreline_px = centreline_px;
                if let (true, Some(x)) = (centreline_px.is_empty(), exit_px) {
                    centreline_px.push(x);
                }
                crate::hairs::HairShaft {
                    id: i as u32 + 1,
                    length_um: centreline_px.len() as f64 * self.um_per_px_nominal,
                    truncated: exit_px.is_none() || !inside(t),
                    diameter_clipped: false,
                    width_samples: centreline_px.len(),
                    centreline_px,
                    diameter_um: d,
                    diameter_iqr_um: 0.0,
                    contrast: 0.0,
                    exit_px,
                    class: if d < 30.0 {
                        crate::hairs::HairClass::Vellus
                    } else {
                        crate::hairs::HairClass::Terminal
                    },
                    pieces: 1,
                }
            })
            .collect()
    }

    /// The capillaries an ideal detector reports (id = label, centroid of
    /// the label; the other fields are left empty).
    pub fn oracle_capillaries(&self) -> Vec<crate::vessels::Capillary> {
        self.capillary_centroid_px
            .iter()
            .enumerate()
            .map(|(i, c)| crate::vessels::Capillary {
                id: i as u32 + 1,
                class: crate::vessels::VesselClass::Dot,
                centroid_x_px: c[0],
                centroid_y_px: c[1],
                centroid_x_um: c[0] * self.um_per_px_nominal,
                centroid_y_um: c[1] * self.um_per_px_nominal,
                area_um2: 0.0,
                length_um: 0.0,
                width_um: 0.0,
                extent_um: 0.0,
                elongation: 0.0,
                tortuosity: 0.0,
                turns: 0.0,
                branch_count: 0,
                contrast_a_star: 0.0,
                contrast_peak: 0.0,
            })
            .collect()
    }
}

/// What should be found in the shared field (baseline coordinates).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ExpectedChanges {
    /// Hairs in the shared field at (baseline, follow-up).
    pub hair_count: [usize; 2],
    /// Vellus hairs (< `vellus_max_um`) at (baseline, follow-up).
    pub vellus_count: [usize; 2],
    /// Mean true shaft diameter at (baseline, follow-up).
    pub shaft_diameter_mean_um: [f64; 2],
    /// Hairs present only at the follow-up.
    pub hairs_gained: usize,
    /// Hairs present only at the baseline.
    pub hairs_lost: usize,
    /// Hairs thinner by more than `tolerance_um`.
    pub hairs_thinned: usize,
    /// Hairs thicker by more than `tolerance_um`.
    pub hairs_thickened: usize,
    /// Capillaries at (baseline, follow-up).
    pub capillary_count: [usize; 2],
    /// Capillaries present only at the follow-up.
    pub capillaries_gained: usize,
    /// Capillaries present only at the baseline.
    pub capillaries_lost: usize,
    /// Shift of skin a*.
    pub a_star_shift: f64,
}

/// The truth of a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairTruth {
    /// Follow-up pixel → baseline pixel, exact.
    pub followup_to_baseline: Similarity,
    /// Every hair of the scene.
    pub hairs: Vec<HairItem>,
    /// Every capillary of the scene.
    pub capillaries: Vec<CapillaryItem>,
}

/// A rendered pair.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Baseline visit.
    pub baseline: PairVisit,
    /// Follow-up visit.
    pub followup: PairVisit,
    /// Exact truth.
    pub truth: PairTruth,
    /// The spec.
    pub spec: PairSpec,
}

impl Pair {
    /// What an ideal comparison finds in the shared field (both frames), by
    /// visibility: an item is seen at a visit when it has label pixels there;
    /// it counts when its anchor lies in both frames. The anchor is the
    /// centroid (baseline pixels) of its label pixels that both frames show —
    /// at the baseline, or at the follow-up when the baseline shows none of
    /// it. Hairs seen at both visits are persisting (thinned/thickened when
    /// the true diameter changed by more than `tolerance_um`), seen only at
    /// the follow-up gained, only at the baseline lost. The identity of each
    /// item across visits comes from the scene, not from matching.
    #[allow(clippy::needless_range_loop)]
    pub fn expected(&self, vellus_max_um: f64, tolerance_um: f64) -> ExpectedChanges {
        let f2b = self.truth.followup_to_baseline;
        let b2f = f2b.inverse();
        let (bw, bh) = (self.baseline.image.width(), self.baseline.image.height());
        let (fw, fh) = (self.followup.image.width(), self.followup.image.height());
        let in_frame = |x: f64, y: f64, w: usize, h: usize| {
            x >= -0.5 && y >= -0.5 && x < w as f64 - 0.5 && y < h as f64 - 0.5
        };
        let b2f_m = b2f.affine();
        let in_both = |p: (f64, f64)| {
            let q = b2f_m.apply(p.0, p.1);
            in_frame(p.0, p.1, bw, bh) && in_frame(q.0, q.1, fw, fh)
        };
        // Per visit: item → (seen, anchor of the part both frames show).
        let anchors = |labels: &Labels, items: &[usize], to_base: &Similarity, n_items: usize| {
            let mut acc = vec![(false, 0.0f64, 0.0f64, 0usize); n_items];
            let to_base = to_base.affine();
            for (i, &l) in labels.data.iter().enumerate() {
                if l == 0 {
                    continue;
                }
                let item = items[l as usize - 1];
                acc[item].0 = true;
                let (x, y) = ((i % labels.width) as f64, (i / labels.width) as f64);
                let p = to_base.apply(x, y);
                if in_both(p) {
                    acc[item].1 += p.0;
                    acc[item].2 += p.1;
                    acc[item].3 += 1;
                }
            }
            acc.into_iter()
                .map(|(seen, sx, sy, n)| (seen, (n > 0).then(|| (sx / n as f64, sy / n as f64))))
                .collect::<Vec<_>>()
        };
        let nh = self.truth.hairs.len();
        let hb = anchors(
            &self.baseline.hair_labels,
            &self.baseline.hair_items,
            &Similarity::IDENTITY,
            nh,
        );
        let hf = anchors(
            &self.followup.hair_labels,
            &self.followup.hair_items,
            &f2b,
            nh,
        );
        let mut e = ExpectedChanges {
            a_star_shift: self.spec.changes.a_star_shift,
            ..ExpectedChanges::default()
        };
        let mut dsum = [0.0, 0.0];
        for (k, h) in self.truth.hairs.iter().enumerate() {
            let (sb, ab) = hb[k];
            let (sf, af) = hf[k];
            let counted = match (sb, sf) {
                (true, true) => ab.or(af).is_some_and(&in_both).then_some([true, true]),
                (true, false) => ab.is_some_and(&in_both).then_some([true, false]),
                (false, true) => af.is_some_and(&in_both).then_some([false, true]),
                _ => None,
            };
            let Some(counted) = counted else { continue };
            for v in 0..2 {
                if counted[v] {
                    let d = h.diameter_um[v].unwrap_or(f64::NAN);
                    e.hair_count[v] += 1;
                    dsum[v] += d;
                    if d < vellus_max_um {
                        e.vellus_count[v] += 1;
                    }
                }
            }
            match counted {
                [false, true] => e.hairs_gained += 1,
                [true, false] => e.hairs_lost += 1,
                _ => {
                    let (a, b) = (
                        h.diameter_um[0].unwrap_or(0.0),
                        h.diameter_um[1].unwrap_or(0.0),
                    );
                    if b < a - tolerance_um {
                        e.hairs_thinned += 1;
                    } else if b > a + tolerance_um {
                        e.hairs_thickened += 1;
                    }
                }
            }
        }
        for v in 0..2 {
            e.shaft_diameter_mean_um[v] = dsum[v] / e.hair_count[v].max(1) as f64;
        }
        let nc = self.truth.capillaries.len();
        let cb = anchors(
            &self.baseline.capillary_labels,
            &self.baseline.capillary_items,
            &Similarity::IDENTITY,
            nc,
        );
        let cf = anchors(
            &self.followup.capillary_labels,
            &self.followup.capillary_items,
            &f2b,
            nc,
        );
        for k in 0..nc {
            let ((sb, ab), (sf, af)) = (cb[k], cf[k]);
            let inb = sb && ab.is_some_and(&in_both);
            let inf = sf && af.is_some_and(&in_both);
            match (sb && sf, inb || inf) {
                (true, true) => {
                    e.capillary_count[0] += 1;
                    e.capillary_count[1] += 1;
                }
                (false, _) if inb => {
                    e.capillary_count[0] += 1;
                    e.capillaries_lost += 1;
                }
                (false, _) if inf => {
                    e.capillary_count[1] += 1;
                    e.capillaries_gained += 1;
                }
                _ => {}
            }
        }
        e
    }
}

/// Render a pair.
pub fn render_pair(spec: &PairSpec) -> Result<Pair> {
    let sc = &spec.scene;
    crate::error::check_positive("um_per_px", sc.um_per_px)?;
    if sc.width < 64 || sc.height < 64 {
        return Err(Error::param("width/height", "must be ≥ 64"));
    }
    if !(spec.margin.is_finite() && (0.0..=2.0).contains(&spec.margin)) {
        return Err(Error::param("margin", "must lie in [0, 2]"));
    }
    for v in [&spec.baseline, &spec.followup] {
        crate::error::check_positive("scale", v.scale)?;
        if !v.rotation_deg.is_finite() || v.shift_frac.iter().any(|s| !s.is_finite()) {
            return Err(Error::param("rotation_deg/shift_frac", "must be finite"));
        }
    }
    let sw = (sc.width as f64 * (1.0 + 2.0 * spec.margin)).ceil() as usize;
    let sh = (sc.height as f64 * (1.0 + 2.0 * spec.margin)).ceil() as usize;
    let scene_spec = SceneSpec {
        width: sw,
        height: sh,
        ..sc.clone()
    };
    let rng = Rng::new(sc.seed);
    let mut canvas = skin::paint_skin(&scene_spec, &mut rng.fork(1));
    paint_texture(&mut canvas, spec.texture, sc.seed);

    let (hairs, caps) = scene_items(spec, sw, sh, &mut rng.fork(20));

    let mut visits = Vec::new();
    for (k, view) in [&spec.baseline, &spec.followup].into_iter().enumerate() {
        let mut c = canvas.clone();
        if k == 1 && spec.changes.a_star_shift != 0.0 {
            shift_a_star(&mut c, spec.changes.a_star_shift as f32);
        }
        let mut scene_truth = Truth::default();
        if let Some(v) = &sc.vessels {
            scene_truth.vessels = super::vessels::paint_vessels(&mut c, v, &mut rng.fork(2))?;
        }
        let mut cap_lab = vec![0u32; sw * sh];
        if let Some(cs) = &spec.capillaries {
            paint_capillaries(&mut c, &caps, k, cs, &mut cap_lab);
        }
        if let Some(h) = &sc.hairs {
            scene_truth.hairs = super::hairs::paint_hairs(&mut c, h, &mut rng.fork(3))?;
        }
        let mut hair_lab = vec![0u32; sw * sh];
        paint_hairs(&mut c, &hairs, k, &mut hair_lab);
        skin::skin_truth(&c, &mut scene_truth);
        visits.push(render_view(
            spec,
            view,
            &c,
            &hair_lab,
            &cap_lab,
            &hairs,
            scene_truth,
            k,
            &rng.fork(30 + k as u64),
        )?);
    }
    let followup = visits.pop().expect("two visits");
    let baseline = visits.pop().expect("two visits");
    let f2b = baseline
        .view_to_scene
        .inverse()
        .compose(&followup.view_to_scene);
    Ok(Pair {
        baseline,
        followup,
        truth: PairTruth {
            followup_to_baseline: f2b,
            hairs,
            capillaries: caps,
        },
        spec: spec.clone(),
    })
}

fn hash2(ix: i64, iy: i64, seed: u64) -> f32 {
    let mut z = (ix as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (iy as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ seed.wrapping_mul(0x1656_67B1_9E37_79F9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// Value noise along one row: the corner hashes of a cell are computed once
/// per cell rather than once per pixel (the same values as a per-pixel
/// evaluation).
struct NoiseRow {
    cell: f64,
    seed: u64,
    iy: i64,
    sy: f32,
    ix: i64,
    corners: [f32; 4],
}

impl NoiseRow {
    fn new(y: f64, cell: f64, seed: u64) -> Self {
        let v = y / cell;
        let iy = v.floor() as i64;
        let fy = (v - iy as f64) as f32;
        NoiseRow {
            cell,
            seed,
            iy,
            sy: smooth(fy),
            ix: i64::MIN,
            corners: [0.0; 4],
        }
    }

    #[inline]
    fn at(&mut self, x: f64) -> f32 {
        let u = x / self.cell;
        let ix = u.floor() as i64;
        if ix != self.ix {
            let (iy, seed) = (self.iy, self.seed);
            self.corners = [
                hash2(ix, iy, seed),
                hash2(ix + 1, iy, seed),
                hash2(ix, iy + 1, seed),
                hash2(ix + 1, iy + 1, seed),
            ];
            self.ix = ix;
        }
        let sx = smooth((u - ix as f64) as f32);
        let [a, b, c, d] = self.corners;
        let top = a + sx * (b - a);
        let bot = c + sx * (d - c);
        top + self.sy * (bot - top)
    }
}

#[inline]
fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Multiplicative skin texture: lightness at three scales, redness at one.
fn paint_texture(c: &mut Canvas, amp: f32, seed: u64) {
    if amp == 0.0 {
        return;
    }
    use rayon::prelude::*;
    let w = c.width;
    let um = c.um_per_px;
    let cells = [250.0 / um, 80.0 / um, 25.0 / um];
    let amps = [0.5f32, 0.35, 0.25];
    c.r.par_chunks_mut(w)
        .zip(c.g.par_chunks_mut(w))
        .zip(c.b.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, ((r, g), b))| {
            let yf = y as f64;
            let mut oct: [NoiseRow; 3] = std::array::from_fn(|k| {
                NoiseRow::new(yf, cells[k], seed.wrapping_add(k as u64 * 7919))
            });
            let mut redn = NoiseRow::new(yf, 150.0 / um, seed.wrapping_add(99));
            for x in 0..w {
                let xf = x as f64;
                let mut l = 0.0;
                for k in 0..3 {
                    l += amps[k] * oct[k].at(xf);
                }
                let red = redn.at(xf);
                let m = 1.0 + amp * l;
                r[x] *= m;
                g[x] *= m * (1.0 - 0.2 * amp * red);
                b[x] *= m;
            }
        });
}

fn shift_a_star(c: &mut Canvas, da: f32) {
    for i in 0..c.r.len() {
        if c.covered[i] {
            continue;
        }
        let mut lab = color::linear_rgb_to_lab([c.r[i], c.g[i], c.b[i]]);
        lab[1] += da;
        let v = color::lab_to_linear_rgb(lab);
        c.r[i] = v[0].max(0.0);
        c.g[i] = v[1].max(0.0);
        c.b[i] = v[2].max(0.0);
    }
}

fn pick(rng: &mut Rng, frac: f64) -> bool {
    rng.uniform() < frac
}

fn scene_items(
    spec: &PairSpec,
    sw: usize,
    sh: usize,
    rng: &mut Rng,
) -> (Vec<HairItem>, Vec<CapillaryItem>) {
    let um = spec.scene.um_per_px;
    let area_mm2 = sw as f64 * sh as f64 * um * um * 1e-6;
    let ch = &spec.changes;
    let mut hairs = Vec::new();
    if let Some(hs) = &spec.hairs {
        let n_units = (hs.units_per_cm2 * area_mm2 / 100.0).round() as usize;
        let n_gain_units = (n_units as f64 * ch.hairs_gained / 1.8).round() as usize;
        for u in 0..n_units + n_gain_units {
            let gained = u >= n_units;
            let exit = [rng.range(0.0, sw as f64), rng.range(0.0, sh as f64)];
            let r = rng.uniform();
            let k = if r < hs.hairs_per_unit[0] {
                1
            } else if r < hs.hairs_per_unit[0] + hs.hairs_per_unit[1] {
                2
            } else {
                3
            };
            let base_dir =
                (hs.direction_deg[0] + hs.direction_deg[1] * rng.range(-1.0, 1.0)).to_radians();
            for _ in 0..k {
                let vellus = pick(rng, hs.vellus_fraction);
                let dr = if vellus {
                    hs.vellus_diameter_um
                } else {
                    hs.terminal_diameter_um
                };
                let d0 = rng.range(dr[0], dr[1]);
                let len0 = rng.range(hs.length_um[0], hs.length_um[1]);
                let angle = base_dir + rng.range(-0.25, 0.25);
                let jitter = [rng.range(-3.0, 3.0), rng.range(-3.0, 3.0)];
                // Decide the follow-up state with independent draws, in a
                // fixed order so that the scene does not depend on the changes.
                let (lost, thick, thin, v2t, t2v) = (
                    rng.uniform(),
                    rng.uniform(),
                    rng.uniform(),
                    rng.uniform(),
                    rng.uniform(),
                );
                let d1_v2t = rng.range(hs.terminal_diameter_um[0], hs.terminal_diameter_um[1]);
                let d1_t2v = rng.range(hs.vellus_diameter_um[0], hs.vellus_diameter_um[1]);
                let mut d1 = Some(d0);
                if vellus && v2t < ch.vellus_to_terminal {
                    d1 = Some(d1_v2t);
                } else if !vellus && t2v < ch.terminal_to_vellus {
                    d1 = Some(d1_t2v);
                } else if !vellus && thick < ch.thickened_fraction {
                    d1 = Some(d0 + ch.diameter_change_um);
                } else if !vellus && thin < ch.thinned_fraction {
                    d1 = Some(d0 - ch.diameter_change_um);
                }
                if lost < ch.hairs_lost {
                    d1 = None;
                }
                let diameter_um = if gained {
                    [None, Some(d0)]
                } else {
                    [Some(d0), d1]
                };
                hairs.push(HairItem {
                    exit_px: [exit[0] + jitter[0], exit[1] + jitter[1]],
                    angle_rad: angle,
                    length_um: [len0, len0 + if gained { 0.0 } else { ch.growth_um }],
                    diameter_um,
                    unit: u,
                });
            }
        }
    }
    let mut caps = Vec::new();
    if let Some(cs) = &spec.capillaries {
        let n = (cs.density_per_mm2 * area_mm2).round() as usize;
        let n_add = (n as f64 * ch.capillaries_added).round() as usize;
        for i in 0..n + n_add {
            let centre = [rng.range(0.0, sw as f64), rng.range(0.0, sh as f64)];
            let radius_um = rng.range(cs.radius_um[0], cs.radius_um[1]);
            let removed = rng.uniform() < ch.capillaries_removed;
            let present = if i >= n {
                [false, true]
            } else {
                [true, !removed]
            };
            caps.push(CapillaryItem {
                centre_px: centre,
                radius_um,
                present,
            });
        }
    }
    (hairs, caps)
}

fn paint_capillaries(
    c: &mut Canvas,
    caps: &[CapillaryItem],
    visit: usize,
    cs: &PairCapillarySpec,
    labels: &mut [u32],
) {
    let col = color::lab_to_linear_rgb(cs.lab);
    let um = c.um_per_px;
    for (idx, cap) in caps.iter().enumerate() {
        if !cap.present[visit] {
            continue;
        }
        let r = cap.radius_um / um;
        let [cx, cy] = cap.centre_px;
        let x0 = (cx - r - 2.0).floor().max(0.0) as usize;
        let y0 = (cy - r - 2.0).floor().max(0.0) as usize;
        let x1 = ((cx + r + 2.0).ceil() as usize).min(c.width - 1);
        let y1 = ((cy + r + 2.0).ceil() as usize).min(c.height - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let d = (x as f64 - cx).hypot(y as f64 - cy);
                let a = ((r - d) + 0.5).clamp(0.0, 1.0) as f32;
                if a <= 0.0 {
                    continue;
                }
                let i = y * c.width + x;
                c.r[i] += a * (col[0] - c.r[i]);
                c.g[i] += a * (col[1] - c.g[i]);
                c.b[i] += a * (col[2] - c.b[i]);
                if a >= 0.5 {
                    c.covered[i] = true;
                    labels[i] = idx as u32 + 1;
                }
            }
        }
    }
}

fn paint_hairs(c: &mut Canvas, hairs: &[HairItem], visit: usize, labels: &mut [u32]) {
    let um = c.um_per_px;
    let terminal = color::lab_to_linear_rgb([24.0, 3.0, 6.0]);
    let vellus = color::lab_to_linear_rgb([48.0, 4.0, 12.0]);
    for (idx, h) in hairs.iter().enumerate() {
        let Some(d_um) = h.diameter_um[visit] else {
            continue;
        };
        let col = if d_um < 30.0 { vellus } else { terminal };
        let rad = 0.5 * d_um / um;
        let len = h.length_um[visit] / um;
        let (dx, dy) = (h.angle_rad.cos(), h.angle_rad.sin());
        let [ex, ey] = h.exit_px;
        let (tx, ty) = (ex + len * dx, ey + len * dy);
        let pad = rad + 2.0;
        let x0 = (ex.min(tx) - pad).floor().max(0.0) as usize;
        let y0 = (ey.min(ty) - pad).floor().max(0.0) as usize;
        let x1 = ((ex.max(tx) + pad).ceil().max(0.0) as usize).min(c.width - 1);
        let y1 = ((ey.max(ty) + pad).ceil().max(0.0) as usize).min(c.height - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (px, py) = (x as f64 - ex, y as f64 - ey);
                let t = (px * dx + py * dy).clamp(0.0, len);
                let dist = (px - t * dx).hypot(py - t * dy);
                let a = (rad - dist + 0.5).clamp(0.0, 1.0) as f32;
                if a <= 0.0 {
                    continue;
                }
                let i = y * c.width + x;
                c.r[i] += a * (col[0] - c.r[i]);
                c.g[i] += a * (col[1] - c.g[i]);
                c.b[i] += a * (col[2] - c.b[i]);
                if a >= 0.5 {
                    c.covered[i] = true;
                    labels[i] = idx as u32 + 1;
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn render_view(
    spec: &PairSpec,
    view: &VisitSpec,
    c: &Canvas,
    hair_lab: &[u32],
    cap_lab: &[u32],
    hairs: &[HairItem],
    scene_truth: Truth,
    visit: usize,
    rng: &Rng,
) -> Result<PairVisit> {
    use rayon::prelude::*;
    let (w, h) = (spec.scene.width, spec.scene.height);
    let (cvx, cvy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let (csx, csy) = ((c.width as f64 - 1.0) / 2.0, (c.height as f64 - 1.0) / 2.0);
    let t = view.rotation_deg.to_radians();
    let (a, b) = (view.scale * t.cos(), view.scale * t.sin());
    let ox = csx + view.shift_frac[0] * w as f64 - (a * cvx - b * cvy);
    let oy = csy + view.shift_frac[1] * h as f64 - (b * cvx + a * cvy);
    let v2s = Similarity::from_matrix(a, b, ox, oy);
    let v2s_m = v2s.affine();
    let mut out = Canvas::new(w, h, spec.scene.um_per_px * view.scale, [0.0; 3]);
    let mut hl = vec![0u32; w * h];
    let mut cl = vec![0u32; w * h];
    let gain = [
        view.white_balance[0] * view.exposure,
        view.white_balance[1] * view.exposure,
        view.white_balance[2] * view.exposure,
    ];
    let sigma = view.noise_sigma;
    out.r
        .par_chunks_mut(w)
        .zip(out.g.par_chunks_mut(w))
        .zip(out.b.par_chunks_mut(w))
        .zip(hl.par_chunks_mut(w))
        .zip(cl.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, ((((r, g), bb), hrow), crow))| {
            let mut nr = rng.fork(1 + y as u64);
            for x in 0..w {
                let (sx, sy) = v2s_m.apply(x as f64, y as f64);
                let sx = sx.clamp(0.0, (c.width - 1) as f64);
                let sy = sy.clamp(0.0, (c.height - 1) as f64);
                let x0 = (sx.floor() as usize).min(c.width - 2);
                let y0 = (sy.floor() as usize).min(c.height - 2);
                let (fx, fy) = ((sx - x0 as f64) as f32, (sy - y0 as f64) as f32);
                let i = y0 * c.width + x0;
                let bil = |p: &[f32]| {
                    let top = p[i] + fx * (p[i + 1] - p[i]);
                    let bot = p[i + c.width] + fx * (p[i + c.width + 1] - p[i + c.width]);
                    top + fy * (bot - top)
                };
                let n = |rng: &mut Rng| {
                    if sigma > 0.0 {
                        sigma * rng.normal() as f32
                    } else {
                        0.0
                    }
                };
                r[x] = bil(&c.r) * gain[0] + n(&mut nr);
                g[x] = bil(&c.g) * gain[1] + n(&mut nr);
                bb[x] = bil(&c.b) * gain[2] + n(&mut nr);
                let j = (sy.round() as usize) * c.width + sx.round() as usize;
                hrow[x] = hair_lab[j];
                crow[x] = cap_lab[j];
            }
        });
    if let Some(([x0, y0, cw, ch], l)) = view.grey_card {
        let grey = color::lab_to_linear_rgb([l, 0.0, 0.0]);
        for y in y0..(y0 + ch).min(h) {
            for x in x0..(x0 + cw).min(w) {
                let i = y * w + x;
                out.r[i] = grey[0] * gain[0];
                out.g[i] = grey[1] * gain[1];
                out.b[i] = grey[2] * gain[2];
                hl[i] = 0;
                cl[i] = 0;
            }
        }
    }
    // Glare spots keep off the grey card, as they keep off colour references
    // in single phantoms.
    let avoid: Vec<[[f64; 2]; 4]> = view
        .grey_card
        .map(|([x, y, cw, ch], _)| {
            let (x0, y0, x1, y1) = (x as f64, y as f64, (x + cw) as f64, (y + ch) as f64);
            vec![[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]
        })
        .unwrap_or_default();
    let (mut image, _glare) = optics::apply(&out, &spec.scene.optics, &mut rng.fork(0), &avoid)?;
    if let Some(q) = view.jpeg_quality {
        image = jpeg_round_trip(&image, q)?;
    }
    let (hair_labels, hair_items) = relabel(hl, w, h);
    let (capillary_labels, capillary_items) = relabel(cl, w, h);
    let hair_diameter_um = hair_items
        .iter()
        // The item's diameter at this visit, in nominal units.
        .map(|&i| hairs[i].diameter_um[visit].unwrap_or(0.0) / view.scale)
        .collect();
    let s2v = v2s.inverse();
    let hair_axis_px = hair_items
        .iter()
        .map(|&i| {
            let hi = &hairs[i];
            let len = hi.length_um[visit] / spec.scene.um_per_px;
            let [ex, ey] = hi.exit_px;
            let tip = (ex + len * hi.angle_rad.cos(), ey + len * hi.angle_rad.sin());
            let e = s2v.apply(ex, ey);
            let t = s2v.apply(tip.0, tip.1);
            [[e.0, e.1], [t.0, t.1]]
        })
        .collect();
    let mut csum = vec![[0.0f64; 3]; capillary_items.len()];
    for (i, &l) in capillary_labels.data.iter().enumerate() {
        if l > 0 {
            let c = &mut csum[l as usize - 1];
            c[0] += (i % w) as f64;
            c[1] += (i / w) as f64;
            c[2] += 1.0;
        }
    }
    let capillary_centroid_px = csum
        .iter()
        .map(|c| [c[0] / c[2].max(1.0), c[1] / c[2].max(1.0)])
        .collect();
    Ok(PairVisit {
        image,
        um_per_px_nominal: spec.scene.um_per_px,
        um_per_px_true: spec.scene.um_per_px * view.scale,
        view_to_scene: v2s,
        hair_labels,
        hair_items,
        hair_diameter_um,
        hair_axis_px,
        capillary_labels,
        capillary_centroid_px,
        capillary_items,
        scene_truth,
    })
}

/// Scene-item labels → contiguous labels 1..n (in item order) and the item of each.
fn relabel(raw: Vec<u32>, w: usize, h: usize) -> (Labels, Vec<usize>) {
    let max = raw.iter().copied().max().unwrap_or(0) as usize;
    let mut map = vec![0u32; max + 1];
    for &v in &raw {
        if v > 0 {
            map[v as usize] = 1;
        }
    }
    let mut items = Vec::new();
    for (item, m) in map.iter_mut().enumerate().skip(1) {
        if *m > 0 {
            items.push(item - 1);
            *m = items.len() as u32;
        }
    }
    let data = raw.into_iter().map(|v| map[v as usize]).collect();
    (
        Labels {
            width: w,
            height: h,
            data,
            count: items.len() as u32,
        },
        items,
    )
}

fn jpeg_round_trip(image: &Image, quality: u8) -> Result<Image> {
    let Samples::U8(data) = image.samples() else {
        return Err(Error::Unsupported("JPEG needs 8-bit samples".into()));
    };
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100))
        .encode(
            data,
            image.width() as u32,
            image.height() as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::Output {
            path: "<jpeg>".into(),
            reason: e.to_string(),
        })?;
    let dec = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .map_err(|e| Error::Decoding(e.to_string()))?
        .into_rgb8();
    Image::new(
        image.width(),
        image.height(),
        3,
        Samples::U8(dec.into_raw()),
    )
}
