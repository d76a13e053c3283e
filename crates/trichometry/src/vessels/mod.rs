//! Capillary loops: segmentation, counting, shape classes, vessel tone.
//!
//! # Method
//!
//! Two levels, so that a 12 MP image is read once and filtered only where
//! vessels may be.
//!
//! **Coarse level** (`segment`), on pixels of about `coarse_um_per_px`
//! (an integer box factor of the input):
//! 1. One pass over the input: box-averaged linear R, G, B, ln R, ln G and
//!    ln luminance (a vectorisable ln), glare / hair flags.
//! 2. Exclusions: glare (`input.valid`), hair dilated by `hair_margin_um`,
//!    pixels much brighter than the skin (white/yellow dots, scales:
//!    `bright_exclude`) or much darker in red (hair the hair stage left:
//!    `dark_red_exclude`), with the margin.
//! 3. Background: block medians over analysable skin
//!    (`kernels::block_median_background`, `background_block_um`). The
//!    contrast `d = ln R/G − background` is in ln-units: 0.05 means "5 %
//!    redder than the skin around" in every image. Excluded pixels are filled
//!    by a normalised convolution of their neighbours.
//! 4. σ²-normalised Hessian ridge and blob responses
//!    (`kernels::ridge_and_blob_response`, `Polarity::Bright`) at
//!    `scales_um`, in contrast units; candidates: hysteresis at
//!    `proposal_fraction` × (`low_contrast`, `high_contrast`).
//!    Noise floor: the tests on the lightly smoothed contrast (here and at
//!    the fine level) are raised, both by one factor, until the high one
//!    is at least 4 σ of that statistic's noise (`segment::noise_floored`);
//!    σ from the image (`segment::contrast_noise_sigma`: a robust σ of
//!    `d`'s white noise, scaled to each statistic's cells and blur; at the
//!    fine level at least the σ measured on the fine statistic itself,
//!    `segment::fine_contrast_noise_sigma`: JPEG quantises and subsamples
//!    the chroma, so sensor noise comes out correlated over 8–16 pixel
//!    blocks, which the white-noise model misses and cell averaging does
//!    not reduce; on very dark skin (L* 28) that noise, not hair, made
//!    most of the false capillaries). Clean images lie well below the
//!    floor and keep the fixed thresholds.
//!
//! **Fine level** (`refine`), in each candidate's window (the candidate
//! grown by two coarse pixels; a cell belongs to one candidate only), on
//! cells of about `work_um_per_px`:
//! 5. The same exclusions with the cells' own values; contrast lightly
//!    smoothed; a cell is vessel when its contrast reaches `edge_fraction`
//!    of the local peak (`peak_radius_um`) and `low_contrast`.
//! 6. Pieces closer than `merge_gap_um` are one vessel; a vessel needs
//!    `min_seed_px` seed cells (contrast ≥ `high_contrast`, clear of
//!    exclusions, on coarse Hessian evidence) that darken green as blood does
//!    (`green_drop_ratio`) and do not darken red like hair
//!    (`red_drop_ratio`).
//! 7. Each input pixel of a vessel's cells (grown by one) is decided on its
//!    own R/G against `boundary_fraction` of the local peak (a blurred
//!    cylinder's wall lies below its half maximum), so the mask is as sharp
//!    as the input; the pixels reaching the cells' `edge_fraction` (the
//!    core) judge the smallest area (`min_area_um2`) and the class.
//! 8. Morphometry and classes on the fine cells (see `measure`); Δa* is the
//!    a* of the mean vessel colour minus that of the mean skin ring
//!    (`ring_um`, coarse grid).
//!
//! # Classes
//!
//! `arborizing` (extent ≥ `arborizing_min_extent_um`, or width ≥
//! `arborizing_min_width_um` and extent ≥ 60 % of that), else `twisted` (turning of the
//! skeleton ≥ `twisted_min_turns`·π), else `dot` (extent ≤
//! `dot_max_extent_um`, and elongation < `dot_max_elongation` or extent <
//! `loop_min_extent_widths` tube widths), else `loop`.

mod group;
mod measure;
mod refine;
mod segment;

pub(crate) use segment::noise_floored;

use crate::analysis::StageInput;
use crate::color::linear_rgb_to_lab;
use crate::error::{Error, Result};
use crate::image::{Labels, Mask};
use serde::{Deserialize, Serialize};

/// Shape class of a vessel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VesselClass {
    /// A dot or globule: a capillary seen end-on.
    Dot,
    /// A hairpin loop: two parallel limbs joined by a U-turn.
    Loop,
    /// A twisted (tortuous, coiled) loop.
    Twisted,
    /// A long branching vessel (not a capillary).
    Arborizing,
}

/// Vessel-stage parameters. Lengths in µm; contrasts in ln-units of R/G
/// against the local skin background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VesselParams {
    /// Target cell size of the fine level (µm): masks are decided, and
    /// shapes measured, on cells of about this size (the input pixels when
    /// they are larger).
    pub work_um_per_px: f64,
    /// Target pixel size of the coarse level (µm), where candidates are
    /// found over the whole image.
    pub coarse_um_per_px: f64,
    /// Candidate thresholds on the coarse level, as a fraction of
    /// `low_contrast` / `high_contrast` (box averaging over coarse pixels
    /// dilutes the contrast of thin vessels; the fine level applies the
    /// full thresholds).
    pub proposal_fraction: f64,
    /// Hessian scales σ (µm).
    pub scales_um: Vec<f64>,
    /// Seed threshold: vesselness and contrast (ln R/G above background).
    pub high_contrast: f64,
    /// Extension threshold (hysteresis low).
    pub low_contrast: f64,
    /// A vessel must darken ln G by at least this × its ln R/G contrast
    /// (haemoglobin absorbs green; chroma artefacts do not darken it).
    pub green_drop_ratio: f64,
    /// Hair check: a component whose seed pixels darken red (ln R below
    /// the local skin) by more than this fraction of their green drop is
    /// hair, not blood (melanin absorbs red nearly as much as green;
    /// haemoglobin hardly absorbs red).
    pub red_drop_ratio: f64,
    /// Pixels brighter than the local skin by this much (ln luminance) —
    /// white and yellow dots, scales — are excluded, with the hair margin.
    pub bright_exclude: f64,
    /// Pixels darker than the local skin in red by this much (ln R) are
    /// hair (melanin absorbs red, blood hardly does) and are excluded with
    /// the hair margin.
    pub dark_red_exclude: f64,
    /// Edge: fraction of the local peak contrast (0.5 = half maximum).
    pub edge_fraction: f64,
    /// Radius over which the local peak contrast is taken (µm).
    pub peak_radius_um: f64,
    /// The input pixels of a vessel (its mask and area) reach this fraction
    /// of the local peak contrast (and `low_contrast`); the cells that find,
    /// group and shape it keep `edge_fraction`. A vessel is a blurred
    /// cylinder: its optical path falls to 0 at its wall, so the wall lies
    /// below half the blurred peak (at 0.66 to 0.30 of it for tubes 8 to
    /// 45 µm wide under 3.6 µm of blur).
    pub boundary_fraction: f64,
    /// A component needs at least this many seed pixels (both thresholds
    /// met, working resolution): noise and JPEG ringing are independent
    /// from pixel to pixel, so a lone pixel over the seed threshold is
    /// not evidence of a vessel.
    pub min_seed_px: usize,
    /// Smallest vessel kept (µm²).
    pub min_area_um2: f64,
    /// Pieces closer than this are one vessel (µm), inside one coarse
    /// candidate's window.
    pub merge_gap_um: f64,
    /// Pieces of the whole image (any candidates) closer than this, edge
    /// to edge, are one vessel (µm): a thin tube whose contrast dips along
    /// its length falls apart into several candidates. 0 turns it off.
    /// With `join_across_hair_um` it lowers the unseen-seed count error
    /// (seeds 100–115) from 10.1 / 11.5 / 15.9 % to 9.9 / 9.5 / 11.5 % at
    /// 1.5 / 3.5 / 5 µm/px.
    pub join_gap_um: f64,
    /// Pieces whose shortest gap, up to this long (µm), is hair or glare
    /// but for `join_gap_um` and the hair margins, and whose ends point
    /// across it, are one vessel: a hair lying across a capillary cuts it
    /// in two. 0 turns it off.
    pub join_across_hair_um: f64,
    /// Pieces up to this far apart (µm, edge to edge) are one vessel when
    /// the gap between their nearest cells, mostly visible, stays red: its
    /// dimmest redness contrast reaches `join_ridge_fraction` of the redder
    /// piece's peak (a faint piece, a halo between two vessels, is no
    /// bridge; a tube whose contrast dips below the edge threshold,
    /// under a faint hair the hair stage left, or where an arborizing
    /// trunk thins; two vessels side by side have skin between them,
    /// within a few hundredths of the background). 0 turns it off.
    pub join_ridge_gap_um: f64,
    /// See `join_ridge_gap_um`.
    pub join_ridge_fraction: f64,
    /// Margin added around hair (µm), in whole cells rounded up (5 µm: one
    /// cell at 5 µm/px, two at 3.5 µm/px; 6 µm was two cells, 10 µm, at
    /// 5 µm/px and hid small vessels beside hair, glare and white dots).
    pub hair_margin_um: f64,
    /// Seeds keep at least this far from excluded pixels (hair and bright
    /// margins, glare, outside the field), µm: blur and JPEG ring redder
    /// and darker just outside white dots, where the filled contrast also
    /// makes a half-structure look whole. Vessels still extend up to the
    /// margin from seeds further away. In whole cells nearest the value
    /// (10 µm: 9, 10.5, 10 µm at 1.5, 3.5, 5 µm/px); 5 µm rounded up was
    /// 9, 7, 5 µm, and the capillaries mostly under hair whose visible
    /// sliver was found anyway (not countable: under a quarter visible)
    /// grew from 24 to 38 (seeds 100–115) as the clearance shrank.
    pub seed_clearance_um: f64,
    /// σ of the normalised-convolution fill under hair and glare (µm).
    /// Wider, a skin pocket between hairs that is a little redder than
    /// its block's median stays a plateau instead of a blob over a fill
    /// at the background: 8 → 12 µm (with `SKIN_SAMPLE_RED_DROP`) lowered
    /// the unseen-seed count error (seeds 100–115, 200–207) from 6.4 / 7.0
    /// / 8.1 % to 6.3 / 6.5 / 7.9 % at 1.5 / 3.5 / 5 µm/px (16 µm: 6.4 /
    /// 6.7 / 7.8 %, 24 µm: 6.4 / 6.7 / 8.2 %).
    pub inpaint_sigma_um: f64,
    /// Block size of the background medians (µm).
    pub background_block_um: f64,
    /// Width of the skin ring for Δa* (µm).
    pub ring_um: f64,
    /// Dots are less elongated than this (major/minor axis).
    pub dot_max_elongation: f64,
    /// Dots (and globules) span at most this much (µm); a larger round
    /// blob is a loop whose limbs merged.
    pub dot_max_extent_um: f64,
    /// A loop is at least this many tube widths long (extent): a shorter
    /// vessel cannot show two limbs and a U-turn, and is a dot however
    /// elongated its few pixels look (small dots at 5 µm/px, cut by hair or
    /// glare); and a round blob whose longest skeleton path reaches this
    /// many widths is a bent tube (a loop), not a dot.
    pub loop_min_extent_widths: f64,
    /// Twisted loops turn at least this many half-turns (units of π).
    pub twisted_min_turns: f64,
    /// Vessels at least this long are arborizing (µm).
    pub arborizing_min_extent_um: f64,
    /// Elongated vessels at least this wide are arborizing (µm).
    pub arborizing_min_width_um: f64,
    /// Pieces within this gap (µm, edge to edge) of an arborizing vessel,
    /// at least half as red, whose end there points at it (or that its end
    /// points at), are its branches: one record (0 turns it off).
    pub arborizing_branch_gap_um: f64,
}

impl Default for VesselParams {
    fn default() -> Self {
        VesselParams {
            work_um_per_px: 4.0,
            coarse_um_per_px: 10.0,
            proposal_fraction: 0.5,
            scales_um: vec![4.0, 7.0, 12.0],
            high_contrast: 0.08,
            low_contrast: 0.04,
            green_drop_ratio: 0.5,
            red_drop_ratio: 0.5,
            bright_exclude: 0.25,
            dark_red_exclude: 0.7,
            edge_fraction: 0.5,
            peak_radius_um: 20.0,
            boundary_fraction: 0.4,
            min_seed_px: 2,
            min_area_um2: 50.0,
            merge_gap_um: 8.0,
            join_gap_um: 16.0,
            join_across_hair_um: 130.0,
            join_ridge_gap_um: 40.0,
            join_ridge_fraction: 0.15,
            hair_margin_um: 5.0,
            seed_clearance_um: 10.0,
            inpaint_sigma_um: 12.0,
            background_block_um: 200.0,
            ring_um: 20.0,
            dot_max_elongation: 1.7,
            dot_max_extent_um: 60.0,
            loop_min_extent_widths: 2.0,
            twisted_min_turns: 1.5,
            arborizing_min_extent_um: 280.0,
            arborizing_min_width_um: 45.0,
            arborizing_branch_gap_um: 30.0,
        }
    }
}

impl VesselParams {
    /// Check every value; a bad one is an [`Error::Parameter`].
    pub fn validate(&self) -> Result<()> {
        use crate::error::check_positive;
        check_positive("work_um_per_px", self.work_um_per_px)?;
        check_positive("coarse_um_per_px", self.coarse_um_per_px)?;
        check_positive("proposal_fraction", self.proposal_fraction)?;
        check_positive("high_contrast", self.high_contrast)?;
        check_positive("low_contrast", self.low_contrast)?;
        check_positive("peak_radius_um", self.peak_radius_um)?;
        check_positive("background_block_um", self.background_block_um)?;
        check_positive("inpaint_sigma_um", self.inpaint_sigma_um)?;
        check_positive("ring_um", self.ring_um)?;
        check_positive("bright_exclude", self.bright_exclude)?;
        check_positive("dark_red_exclude", self.dark_red_exclude)?;
        check_positive("dot_max_elongation", self.dot_max_elongation)?;
        check_positive("dot_max_extent_um", self.dot_max_extent_um)?;
        check_positive("arborizing_min_extent_um", self.arborizing_min_extent_um)?;
        check_positive("arborizing_min_width_um", self.arborizing_min_width_um)?;
        for (name, v) in [
            ("min_area_um2", self.min_area_um2),
            ("merge_gap_um", self.merge_gap_um),
            ("join_gap_um", self.join_gap_um),
            ("join_across_hair_um", self.join_across_hair_um),
            ("join_ridge_gap_um", self.join_ridge_gap_um),
            ("join_ridge_fraction", self.join_ridge_fraction),
            ("arborizing_branch_gap_um", self.arborizing_branch_gap_um),
            ("hair_margin_um", self.hair_margin_um),
            ("seed_clearance_um", self.seed_clearance_um),
            ("twisted_min_turns", self.twisted_min_turns),
            ("loop_min_extent_widths", self.loop_min_extent_widths),
            ("green_drop_ratio", self.green_drop_ratio),
            ("red_drop_ratio", self.red_drop_ratio),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(
                    name,
                    format!("must be finite and ≥ 0, got {v}"),
                ));
            }
        }
        if self.low_contrast > self.high_contrast {
            return Err(Error::param("low_contrast", "must be ≤ high_contrast"));
        }
        if !(self.edge_fraction > 0.0 && self.edge_fraction < 1.0) {
            return Err(Error::param("edge_fraction", "must be in (0, 1)"));
        }
        if !(self.boundary_fraction > 0.0 && self.boundary_fraction < 1.0) {
            return Err(Error::param("boundary_fraction", "must be in (0, 1)"));
        }
        if self.scales_um.is_empty() || self.scales_um.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(Error::param("scales_um", "needs at least one finite σ > 0"));
        }
        Ok(())
    }
}

/// One capillary (or arborizing vessel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capillary {
    /// 1-based id, equal to its label in the label image.
    pub id: u32,
    /// Shape class.
    pub class: VesselClass,
    /// Centroid x (px, input image).
    pub centroid_x_px: f64,
    /// Centroid y (px).
    pub centroid_y_px: f64,
    /// Centroid x (µm).
    pub centroid_x_um: f64,
    /// Centroid y (µm).
    pub centroid_y_um: f64,
    /// Area (µm²) of the full-resolution mask.
    pub area_um2: f64,
    /// Skeleton length extended to the tips (µm).
    pub length_um: f64,
    /// Mean width (µm): area / length, or the equivalent diameter of a dot.
    pub width_um: f64,
    /// Span along the major axis (µm).
    pub extent_um: f64,
    /// Major / minor axis ratio (≥ 1).
    pub elongation: f64,
    /// Longest skeleton path / end-to-end distance (≥ 1).
    pub tortuosity: f64,
    /// Total turning of the longest skeleton path, in half-turns (π).
    pub turns: f64,
    /// Skeleton branches (1 for an unbranched vessel).
    pub branch_count: usize,
    /// Mean a* of the vessel minus mean a* of the skin ring around it; NaN
    /// when the ring holds no skin (hair, glare or the frame cover all of
    /// it) or the vessel no analysable pixel. NaN serialises as JSON `null`.
    pub contrast_a_star: f64,
    /// Peak redness contrast (ln R/G above background).
    pub contrast_peak: f64,
}

/// Image-level vessel figures (`None` when the stage did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VesselSummary {
    /// Dots, loops and twisted loops (arborizing vessels counted apart).
    pub capillary_count: Option<usize>,
    /// Capillaries per mm² of analysable skin.
    pub capillary_density_per_mm2: Option<f64>,
    /// Analysable skin the density refers to: valid minus hair (mm²).
    pub vessel_analysed_area_mm2: Option<f64>,
    /// Capillary area / analysable area.
    pub capillary_area_fraction: Option<f64>,
    /// All vessels (arborizing included) / analysable area.
    pub vessel_area_fraction: Option<f64>,
    /// Dots.
    pub capillary_dot_count: Option<usize>,
    /// Hairpin loops.
    pub capillary_loop_count: Option<usize>,
    /// Twisted loops.
    pub capillary_twisted_count: Option<usize>,
    /// Arborizing vessels.
    pub arborizing_vessel_count: Option<usize>,
    /// Mean capillary width (µm).
    pub capillary_width_mean_um: Option<f64>,
    /// Vessel tone: area-weighted mean Δa* of vessels against the skin ring
    /// around each (vessels whose `contrast_a_star` is NaN left out).
    pub vessel_contrast_a_star: Option<f64>,
}

/// The output of the vessel stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VesselStage {
    /// The capillaries and arborizing vessels, by id.
    pub capillaries: Vec<Capillary>,
    /// Vessel pixels.
    pub mask: Mask,
    /// One label per vessel (its id).
    pub labels: Labels,
    /// Image-level figures.
    pub summary: VesselSummary,
}

/// Working memory of [`detect_vessels_with`] that a caller analysing many
/// images keeps between calls: the coarse planes of the pass over the
/// input (ln R, ln G, ln luminance: 4 bytes each per coarse pixel), each
/// thread's window buffers (a few hundred kB) and, once a stage is handed
/// back with [`VesselScratch::recycle`], its label image and mask (5 bytes
/// per input pixel; before the output, the label image holds the coarse
/// pass's box means of R, G, B, then the candidates' claims while the fine
/// level runs, and the mask the coarse level's flag planes). Without it
/// these are allocated, faulted in and zeroed on every call. The output
/// does not depend on what the scratch holds.
///
/// Resident memory ([`VesselScratch::resident_bytes`]): none until first
/// used; after an image of `w × h` pixels with coarse pixels of `f × f`
/// (`f` = `coarse_um_per_px` / µm per pixel, rounded: 3 at 3.5 µm/px, 2 at
/// 5 µm/px), about `15 w h / f²` bytes (with the smoothed plane and the
/// labelling's runs), plus `5 w h` once a stage is recycled: measured 26 +
/// 60 MB at 12 MP and 3.5 µm/px, 47 + 60 MB at 5 µm/px.
/// Buffers grow to the largest image seen and are freed when the scratch
/// is dropped. Not shared between threads: one per thread (the analysis
/// scratch holds one).
#[derive(Default)]
pub struct VesselScratch {
    coarse: segment::CoarseBufs,
    fine: refine::RefineBufs,
    labels: Vec<u32>,
    mask: Vec<bool>,
}

impl std::fmt::Debug for VesselScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VesselScratch")
            .field("resident_bytes", &self.resident_bytes())
            .finish()
    }
}

impl VesselScratch {
    /// An empty scratch (nothing allocated yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held between calls.
    pub fn resident_bytes(&self) -> usize {
        self.coarse.bytes() + self.fine.bytes() + 4 * self.labels.capacity() + self.mask.capacity()
    }

    /// Keep the label image and mask of a stage that is no longer needed
    /// for the next call's (its capillaries are dropped): without them each
    /// call allocates both afresh.
    pub fn recycle(&mut self, stage: VesselStage) {
        if stage.labels.data.capacity() > self.labels.capacity() {
            self.labels = stage.labels.data;
        }
        if stage.mask.data.capacity() > self.mask.capacity() {
            self.mask = stage.mask.data;
        }
    }
}

/// Find the capillaries. `hair_mask` (when the hair stage ran) is excluded.
///
/// For many images, [`detect_vessels_with`] and a [`VesselScratch`] kept
/// between calls are faster (the same output).
pub fn detect_vessels(
    input: &StageInput<'_>,
    hair_mask: Option<&Mask>,
    params: &VesselParams,
) -> Result<VesselStage> {
    stage(input, hair_mask, params, &mut VesselScratch::new(), false)
}

/// [`detect_vessels`] working in the buffers of `scratch` (see
/// [`VesselScratch`]; its contents do not matter, the output is the same,
/// bit for bit).
///
/// ```
/// # use trichometry::vessels::{detect_vessels, detect_vessels_with, VesselParams, VesselScratch};
/// # use trichometry::{color::LinearRgb, image::Mask, StageInput};
/// let rgb = LinearRgb {
///     width: 64,
///     height: 48,
///     r: vec![0.5; 64 * 48],
///     g: vec![0.4; 64 * 48],
///     b: vec![0.3; 64 * 48],
///     is_colour: true,
/// };
/// let valid = Mask::filled(64, 48, true);
/// let input = StageInput { rgb: &rgb, um_per_px: 3.5, valid: &valid };
/// let params = VesselParams::default();
/// let mut scratch = VesselScratch::new();
/// for _ in 0..2 {
///     let stage = detect_vessels_with(&input, None, &params, &mut scratch).unwrap();
///     assert_eq!(stage, detect_vessels(&input, None, &params).unwrap());
///     scratch.recycle(stage);
/// }
/// assert!(scratch.resident_bytes() > 0);
/// ```
pub fn detect_vessels_with(
    input: &StageInput<'_>,
    hair_mask: Option<&Mask>,
    params: &VesselParams,
    scratch: &mut VesselScratch,
) -> Result<VesselStage> {
    stage(input, hair_mask, params, scratch, true)
}

/// The stage. `keep`: the scratch outlives the call, so the coarse planes
/// and claims are kept in it (else each is freed when no longer needed).
fn stage(
    input: &StageInput<'_>,
    hair_mask: Option<&Mask>,
    params: &VesselParams,
    scratch: &mut VesselScratch,
    keep: bool,
) -> Result<VesselStage> {
    params.validate()?;
    let um0 = crate::error::check_positive("um_per_px", input.um_per_px)?;
    let rgb = input.rgb;
    let (w0, h0) = (rgb.width, rgb.height);
    if !rgb.is_colour {
        return Err(Error::ColourRequired("vessels need a colour image".into()));
    }
    if input.valid.width != w0 || input.valid.height != h0 || input.valid.data.len() != w0 * h0 {
        return Err(Error::param("valid", "mask size differs from the image"));
    }
    if let Some(m) = hair_mask {
        if m.width != w0 || m.height != h0 || m.data.len() != w0 * h0 {
            return Err(Error::param(
                "hair_mask",
                "mask size differs from the image",
            ));
        }
    }
    let ff = ((params.work_um_per_px / um0).round() as usize).clamp(1, 64);
    let fc = ((params.coarse_um_per_px / um0).round() as usize).clamp(1, 256);
    let um_c = um0 * fc as f64;
    // The output's label image and mask, taken first: until the fine level
    // the label image holds the box means of R, G, B of the coarse pass (for
    // the ring), then the fine level's claims (see `VesselScratch`), and the
    // mask the coarse level's flag planes: memory the output needs anyway,
    // so a call that allocates it afresh faults no page for them. Their
    // values written before the output are cleared with the rest of a
    // recycled buffer there (band by band, while the band is in cache); a
    // fresh one comes zeroed.
    let (mut labels0, clear_labels) = zeroed_or_dirty(std::mem::take(&mut scratch.labels), w0 * h0);
    let (mut mask_data, clear_mask) = zeroed_or_dirty(std::mem::take(&mut scratch.mask), w0 * h0);
    let n_coarse = w0.div_ceil(fc) * h0.div_ceil(fc);
    let (mut box_own, mut flags_own) = (Vec::new(), Vec::new());
    let (box_bits, n_box) = front_or_own(&mut labels0, &mut box_own, 3 * n_coarse);
    let (br, rest) = box_bits.split_at_mut(n_coarse);
    let (bg, bb) = rest.split_at_mut(n_coarse);
    let (flags, n_flags) = front_or_own(&mut mask_data, &mut flags_own, 4 * n_coarse);
    let (ok, rest) = flags.split_at_mut(n_coarse);
    let (excl, rest) = rest.split_at_mut(n_coarse);
    let (dark, vseed) = rest.split_at_mut(n_coarse);
    let c = segment::coarse(
        rgb,
        input.valid,
        hair_mask,
        (fc, ff),
        um_c,
        params,
        &mut scratch.coarse,
        keep,
        [&mut *br, &mut *bg, &mut *bb],
        [ok, excl, dark, vseed],
    );
    // Skin ring of each candidate on the coarse grid (Δa*): it depends on
    // the coarse level only, so it is taken first, before the claims take
    // the box means' place.
    let nc = c.labels.count as usize;
    // The ring's mean colour from the box means of its coarse pixels (the
    // planes of the coarse pass over the input), by bands of rows in
    // parallel (no ring plane: each band's ring pixels, in raster order),
    // summed in raster order.
    let ring_px: Vec<Vec<(u32, [f32; 3])>> = {
        use rayon::prelude::*;
        let r = (params.ring_um / um_c).ceil().max(1.0) as usize;
        let cw = c.w.max(1);
        let (br, bg, bb) = (&*br, &*bg, &*bb);
        (0..c.h.div_ceil(RING_BAND_ROWS))
            .into_par_iter()
            .map_init(RingScratch::default, |sc, b| {
                let y0 = b * RING_BAND_ROWS;
                let ring = ring_band(&c.labels, c.ok, r, y0, (y0 + RING_BAND_ROWS).min(c.h), sc);
                let o = y0 * cw;
                ring.iter()
                    .map(|&(rl, k)| {
                        let i = o + k as usize;
                        (rl, [br[i], bg[i], bb[i]].map(f32::from_bits))
                    })
                    .collect()
            })
            .collect()
    };
    drop(box_own);
    let mut rgb_ring = vec![([0.0f64; 3], 0usize); nc + 1];
    for (rl, m) in ring_px.into_iter().flatten() {
        let s = &mut rgb_ring[rl as usize];
        for (a, &p) in s.0.iter_mut().zip(&m) {
            *a += p as f64;
        }
        s.1 += 1;
    }
    let a_star = |s: &([f64; 3], usize)| {
        let m = s.0.map(|v| (v / s.1 as f64) as f32);
        linear_rgb_to_lab(m)[1] as f64
    };
    let grid = refine::Grid {
        w0,
        h0,
        ff,
        um_f: um0 * ff as f64,
    };
    // The claims of the fine level in the label image's first values (the
    // coarse grid's size, at most the input's).
    let n_claim = c.w * c.h;
    // The values of the label image written before the output.
    let n_used = n_claim.max(n_box);
    let found = refine::refine(
        rgb,
        input.valid,
        hair_mask,
        &c,
        &grid,
        params,
        &mut scratch.fine,
        &mut labels0[..n_claim],
    );
    if !keep {
        scratch.fine = refine::RefineBufs::default();
    }
    // Pieces cut apart by hair or glare: the segment between their nearest
    // cells, sampled every input pixel, may leave the hair and glare for
    // the join gap, the two hair margins and a cell.
    let free_um = params.join_gap_um + 2.0 * params.hair_margin_um + grid.um_f;
    // The input pixels on the segment between the centres of cells `p` and
    // `q`, one per input pixel of its longer side, and the step (µm).
    let segment_px = |p: (usize, usize), q: (usize, usize)| {
        let f = ff as f64;
        let (x0, y0) = ((p.0 as f64 + 0.5) * f, (p.1 as f64 + 0.5) * f);
        let (x1, y1) = ((q.0 as f64 + 0.5) * f, (q.1 as f64 + 0.5) * f);
        let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        let step_um = ((x1 - x0).hypot(y1 - y0) / n as f64) * um0;
        let px = (0..=n).map(move |k| {
            let t = k as f64 / n as f64;
            let x = ((x0 + t * (x1 - x0)) as usize).min(w0 - 1);
            let y = ((y0 + t * (y1 - y0)) as usize).min(h0 - 1);
            (x, y)
        });
        (step_um, px)
    };
    let hidden = |i: usize| !input.valid.data[i] || hair_mask.is_some_and(|m| m.data[i]);
    let across = |p: (usize, usize), q: (usize, usize)| {
        let (step_um, px) = segment_px(p, q);
        let mut free = 0.0;
        let mut covered = false;
        for (x, y) in px {
            if hidden(y * w0 + x) {
                covered = true;
            } else {
                free += step_um;
            }
        }
        covered && free <= free_um
    };
    // The dimmest redness contrast (ln R/G above the background, 3 × 3
    // input pixels around each sample) along the segment between the
    // centres of cells `p` and `q`, sampled every input pixel, over the
    // samples neither hair nor glare hides (−∞ when they are fewer than
    // half the samples: a gap mostly hidden is for `across`).
    let ridge = |p: (usize, usize), q: (usize, usize)| -> f64 {
        let (_, px) = segment_px(p, q);
        let (mut low, mut seen, mut total) = (f64::INFINITY, 0usize, 0usize);
        for (x, y) in px {
            total += 1;
            if hidden(y * w0 + x) {
                continue;
            }
            let (mut sum, mut m) = (0.0f64, 0usize);
            for yy in y.saturating_sub(1)..=(y + 1).min(h0 - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w0 - 1) {
                    let j = yy * w0 + xx;
                    sum += (segment::ln_fast(rgb.r[j].max(1e-4))
                        - segment::ln_fast(rgb.g[j].max(1e-4))) as f64;
                    m += 1;
                }
            }
            let bg = c.bg_h.at((x / fc).min(c.w - 1), (y / fc).min(c.h - 1)) as f64;
            low = low.min(sum / m as f64 - bg);
            seen += 1;
        }
        if 2 * seen < total {
            f64::NEG_INFINITY
        } else {
            low
        }
    };
    // Nothing hidden (no hair, no glare): no join across hair to try.
    let hidden_um = if c.analysable_px < w0 * h0 {
        params.join_across_hair_um
    } else {
        0.0
    };
    let found = group::join_pieces(
        found,
        params.join_gap_um / grid.um_f,
        hidden_um / grid.um_f,
        (JOIN_END_UM / grid.um_f).max(3.0),
        across,
        params.join_ridge_gap_um / grid.um_f,
        params.join_ridge_fraction,
        ridge,
    );
    let um = grid.um_f;
    // Shapes per vessel in parallel (each is independent; collected in
    // order, so the result does not depend on threads).
    let shapes: Vec<measure::Shape> = {
        use rayon::prelude::*;
        found
            .par_iter()
            .map_init(measure::ShapeScratch::default, |sc, v| {
                measure::shape(&v.cells, sc)
            })
            .collect()
    };
    // (area µm², length µm, extent µm, tube width µm, class); the class
    // from the area at the cells' edge (`core_px`).
    let class_of = |v: &refine::Found, s: &measure::Shape| {
        let area_um2 = v.pix0.len() as f64 * um0 * um0;
        let length_um = s.length_px * um;
        let extent_um = s.extent_px * um;
        let tube_w = area_um2 / length_um;
        let core_w = v.core_px as f64 * um0 * um0 / length_um;
        let class = measure::classify(s, extent_um, core_w, s.path_px * um, params);
        (area_um2, length_um, extent_um, tube_w, class)
    };
    // Branches of arborizing vessels join their trunk; the vessels that
    // took in branches are measured again.
    let (found, shapes) = if params.arborizing_branch_gap_um > 0.0 {
        use rayon::prelude::*;
        let arbor: Vec<bool> = (found.iter().zip(&shapes))
            .map(|(v, s)| class_of(v, s).4 == VesselClass::Arborizing)
            .collect();
        let rec = group::absorb_branches(
            found,
            &arbor,
            params.arborizing_branch_gap_um / um,
            (JOIN_END_UM / um).max(3.0),
        );
        let shapes: Vec<measure::Shape> = rec
            .par_iter()
            .map_init(measure::ShapeScratch::default, |sc, (f, i)| match i {
                Some(i) => shapes[*i].clone(),
                None => measure::shape(&f.cells, sc),
            })
            .collect();
        (rec.into_iter().map(|(f, _)| f).collect::<Vec<_>>(), shapes)
    } else {
        (found, shapes)
    };
    let mut caps = Vec::with_capacity(found.len());
    for (v, s) in found.iter().zip(&shapes) {
        let id = caps.len() as u32 + 1;
        let (area_um2, length_um, extent_um, tube_w, class) = class_of(v, s);
        let width_um = if class == VesselClass::Dot {
            (4.0 * area_um2 / std::f64::consts::PI).sqrt()
        } else {
            tube_w
        };
        let n0 = v.pix0.len() as f64;
        let (cx, cy) = (v.sum_xy.0 / n0, v.sum_xy.1 / n0);
        let ar = &rgb_ring[v.candidate as usize];
        let contrast_a_star = if v.rgb_in.1 > 0 && ar.1 > 0 {
            a_star(&v.rgb_in) - a_star(ar)
        } else {
            f64::NAN
        };
        caps.push(Capillary {
            id,
            class,
            centroid_x_px: cx,
            centroid_y_px: cy,
            centroid_x_um: cx * um0,
            centroid_y_um: cy * um0,
            area_um2,
            length_um: if class == VesselClass::Dot {
                width_um
            } else {
                length_um
            },
            width_um,
            extent_um,
            elongation: s.elongation,
            tortuosity: s.tortuosity,
            turns: s.turns,
            branch_count: s.branch_count,
            contrast_a_star,
            contrast_peak: v.peak,
        });
    }
    // Labels and mask by bands of rows in parallel: each band writes the
    // pixels of every vessel that falls in it (a vessel's pixels are sorted,
    // and vessels do not share pixels), so the result is that of any order.
    // The values of the buffers written before (all of a recycled one) are
    // cleared band by band (while the band is in cache). The coarse level's
    // flags in the mask are read no more.
    let analysable_px = c.analysable_px;
    drop(c);
    drop(flags_own);
    let mut mask = Mask {
        width: w0,
        height: h0,
        data: mask_data,
    };
    {
        use rayon::prelude::*;
        let band = OUTPUT_BAND_ROWS * w0.max(1);
        labels0
            .par_chunks_mut(band)
            .zip(mask.data.par_chunks_mut(band))
            .enumerate()
            .for_each(|(b, (lab, msk))| {
                // The box means' and claims' values are cleared too.
                if clear_labels || b * band < n_used {
                    lab.fill(0);
                }
                if clear_mask || b * band < n_flags {
                    msk.fill(false);
                }
                let (lo, hi) = ((b * band) as u32, (b * band + lab.len()) as u32);
                for (k, v) in found.iter().enumerate() {
                    let (Some(&first), Some(&last)) = (v.pix0.first(), v.pix0.last()) else {
                        continue;
                    };
                    if last < lo || first >= hi {
                        continue;
                    }
                    let s = v.pix0.partition_point(|&i| i < lo);
                    let e = v.pix0.partition_point(|&i| i < hi);
                    for &i in &v.pix0[s..e] {
                        let j = (i - lo) as usize;
                        lab[j] = k as u32 + 1;
                        msk[j] = true;
                    }
                }
            });
    }
    let summary = summarize(&caps, analysable_px as f64 * um0 * um0 * 1e-6);
    Ok(VesselStage {
        summary,
        labels: Labels {
            width: w0,
            height: h0,
            data: labels0,
            count: caps.len() as u32,
        },
        mask,
        capillaries: caps,
    })
}

/// Radius (µm) around a piece's end over which its direction is taken
/// when joining pieces across hair.
const JOIN_END_UM: f64 = 60.0;

/// `v` holding `n` values: its allocation when large enough (then its old
/// values are left, and `true` says they are to be cleared), else a fresh
/// zeroed one (`false`).
fn zeroed_or_dirty<T: Clone + Default>(mut v: Vec<T>, n: usize) -> (Vec<T>, bool) {
    if v.capacity() >= n && n > 0 {
        v.resize(n, T::default());
        (v, true)
    } else {
        (crate::kernels::zeroed_vec(n), false)
    }
}

/// The first `n` values of `out` and `n` when it holds them, else `own`
/// made `n` values long (zeros) and 0: a working buffer inside an output
/// buffer where it fits (the values used are to be cleared before the
/// output is).
fn front_or_own<'a, T: Clone + Default>(
    out: &'a mut [T],
    own: &'a mut Vec<T>,
    n: usize,
) -> (&'a mut [T], usize) {
    if n <= out.len() {
        (&mut out[..n], n)
    } else {
        *own = crate::kernels::zeroed_vec(n);
        (own, 0)
    }
}

/// Rows per parallel task writing the label image and mask.
const OUTPUT_BAND_ROWS: usize = 64;

fn summarize(caps: &[Capillary], area_mm2: f64) -> VesselSummary {
    let is_cap = |c: &&Capillary| c.class != VesselClass::Arborizing;
    let count = |k: VesselClass| caps.iter().filter(|c| c.class == k).count();
    let n_cap = caps.iter().filter(is_cap).count();
    let cap_area: f64 = caps.iter().filter(is_cap).map(|c| c.area_um2).sum::<f64>() * 1e-6;
    let all_area: f64 = caps.iter().map(|c| c.area_um2).sum::<f64>() * 1e-6;
    let (mut sa, mut wa) = (0.0, 0.0);
    for c in caps {
        if c.contrast_a_star.is_finite() {
            sa += c.contrast_a_star * c.area_um2;
            wa += c.area_um2;
        }
    }
    let per_area = |v: f64| (area_mm2 > 0.0).then(|| v / area_mm2);
    VesselSummary {
        capillary_count: Some(n_cap),
        capillary_density_per_mm2: per_area(n_cap as f64),
        vessel_analysed_area_mm2: Some(area_mm2),
        capillary_area_fraction: per_area(cap_area),
        vessel_area_fraction: per_area(all_area),
        capillary_dot_count: Some(count(VesselClass::Dot)),
        capillary_loop_count: Some(count(VesselClass::Loop)),
        capillary_twisted_count: Some(count(VesselClass::Twisted)),
        arborizing_vessel_count: Some(count(VesselClass::Arborizing)),
        capillary_width_mean_um: (n_cap > 0)
            .then(|| caps.iter().filter(is_cap).map(|c| c.width_um).sum::<f64>() / n_cap as f64),
        vessel_contrast_a_star: (wa > 0.0).then(|| sa / wa),
    }
}

/// The skin pixels of rows `y0..y1` within `r` px (8-connected steps) of
/// a vessel, each with the label of the nearest vessel (breadth-first,
/// deterministic), as (label, index from the start of row `y0`) in raster
/// order. Rows `y0..y1` of the search over the whole
/// image ([`ring_rows`] of all rows), computed over those rows and `r + 1`
/// rows either side: a pixel's distance (Chebyshev, at most `r + 1` where
/// it matters) depends only on vessels within that many rows, and the
/// vessel it takes is the first of its neighbours one step nearer in the
/// search's order, which orders pixels by the raster order of the vessel
/// pixel they were reached from, then by the offsets taken (so the same
/// relative order inside the rows as in the whole image); every pixel that
/// decides the rows `y0..y1` lies within `r + 1` rows of them. The search
/// works in `sc` (its contents do not matter).
fn ring_band(
    l: &Labels,
    ok: &[bool],
    r: usize,
    y0: usize,
    y1: usize,
    sc: &mut RingScratch,
) -> Vec<(u32, u32)> {
    let (w, h) = (l.width, l.height);
    if w == 0 || y0 >= y1 {
        return Vec::new();
    }
    let halo = r + 1;
    let (ya, yb) = (y0.saturating_sub(halo), (y1 + halo).min(h));
    let rows = ya * w..yb * w;
    ring_rows(&l.data[rows.clone()], w, &ok[rows], r, y0 - ya..y1 - ya, sc)
}

/// Buffers of [`ring_rows`], reused from band to band.
#[derive(Default)]
struct RingScratch {
    dist: Vec<u16>,
    lab: Vec<u32>,
    front: Vec<usize>,
    next: Vec<usize>,
    /// One row's ring pixels while they are picked out.
    row: Vec<(u32, u32)>,
}

/// The skin pixels within `r` px (8-connected steps) of a vessel in `l`
/// (`w` wide), each with the label of the nearest vessel (breadth-first,
/// deterministic), as (label, index from the start of row `keep.start`) in
/// raster order, for the rows `keep` only (a vessel's pixels and those
/// next to it, at distance 0 or 1, are not skin; nor are those not `ok`).
/// The
/// search runs on the labels with a border of one pixel marked as reached
/// (no bounds to check, no division per pixel): a pixel takes its
/// neighbours in the fixed order of the offsets, which is the raster order
/// of those inside the image, as a search bounded by the image's edges
/// takes them.
fn ring_rows(
    l: &[u32],
    w: usize,
    ok: &[bool],
    r: usize,
    keep: std::ops::Range<usize>,
    sc: &mut RingScratch,
) -> Vec<(u32, u32)> {
    let h = l.len() / w.max(1);
    let pw = w + 2;
    let RingScratch {
        dist,
        lab,
        front,
        next,
        row: picked,
    } = sc;
    dist.clear();
    dist.resize(pw * (h + 2), u16::MAX);
    lab.clear();
    lab.resize(pw * (h + 2), 0);
    // The border: reached at distance 0, never taken.
    dist[..pw].fill(0);
    dist[(h + 1) * pw..].fill(0);
    for y in 1..=h {
        dist[y * pw] = 0;
        dist[y * pw + pw - 1] = 0;
    }
    front.clear();
    for (y, row) in l.chunks_exact(w.max(1)).enumerate() {
        let base = (y + 1) * pw + 1;
        for (x, &v) in row.iter().enumerate() {
            if v > 0 {
                dist[base + x] = 0;
                lab[base + x] = v;
                front.push(base + x);
            }
        }
    }
    // The vessel mask itself plus one pixel is not skin. Fronts in
    // discovery order.
    let pwi = pw as isize;
    let offs: [isize; 8] = [-pwi - 1, -pwi, -pwi + 1, -1, 1, pwi - 1, pwi, pwi + 1];
    for step in 1..=(r + 1) as u16 {
        next.clear();
        for &i in front.iter() {
            let li = lab[i];
            for &o in &offs {
                let j = (i as isize + o) as usize;
                if dist[j] == u16::MAX {
                    dist[j] = step;
                    lab[j] = li;
                    next.push(j);
                }
            }
        }
        std::mem::swap(front, next);
    }
    // Each row's ring pixels picked out without a branch per pixel: every
    // pixel is written at the next free place, which moves on only past
    // the ring's.
    let mut out = Vec::new();
    picked.clear();
    picked.resize(w, (0, 0));
    for y in keep.clone() {
        let p = (y + 1) * pw + 1..(y + 1) * pw + 1 + w;
        let row0 = ((y - keep.start) * w) as u32;
        let mut n = 0;
        for (x, ((&d, &v), &o)) in dist[p.clone()]
            .iter()
            .zip(&lab[p])
            .zip(&ok[y * w..(y + 1) * w])
            .enumerate()
        {
            picked[n] = (v, row0 + x as u32);
            // Unreached pixels keep label 0.
            n += ((d > 1) & o & (v != 0)) as usize;
        }
        out.extend_from_slice(&picked[..n]);
    }
    out
}

/// Rows per parallel task of the ring (`ring_band`).
const RING_BAND_ROWS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) use crate::testing::xorshift32;

    /// `w × h` labels 1..=`max_label` at random, on up to `max_density` %
    /// of the pixels (the density itself drawn first).
    pub(crate) fn random_labels(
        rnd: &mut impl FnMut() -> u32,
        w: usize,
        h: usize,
        max_density: u32,
        max_label: u32,
    ) -> Labels {
        let density = 1 + rnd() % max_density;
        let data = (0..w * h)
            .map(|_| {
                if rnd() % 100 < density {
                    1 + rnd() % max_label
                } else {
                    0
                }
            })
            .collect();
        Labels {
            width: w,
            height: h,
            data,
            count: max_label,
        }
    }

    /// For skin pixels within `r` px (8-connected steps) of a vessel in `l`
    /// (`w` wide), the label of the nearest vessel (breadth-first,
    /// deterministic); 0 elsewhere: the reference [`ring_rows`] is tested
    /// against (the search on the image itself, bounded by its edges).
    fn ring_labels_serial(l: &[u32], w: usize, ok: &[bool], r: usize) -> Vec<u32> {
        let h = l.len() / w.max(1);
        let mut out = vec![0u32; w * h];
        let mut dist = vec![u16::MAX; w * h];
        let mut front: Vec<usize> = Vec::new();
        for (i, &v) in l.iter().enumerate() {
            if v > 0 {
                dist[i] = 0;
                out[i] = v;
                front.push(i);
            }
        }
        // The vessel mask itself plus one pixel is not skin. Fronts in
        // discovery order; interior pixels (not on the image border) take the
        // eight fixed offsets without bound checks, in the same order.
        let (wi, hi) = (w as isize, h as isize);
        let offs: [isize; 9] = [-wi - 1, -wi, -wi + 1, -1, 0, 1, wi - 1, wi, wi + 1];
        for step in 1..=(r + 1) as u16 {
            let mut next = Vec::with_capacity(front.len() * 2);
            for &i in &front {
                let (x, y) = ((i % w) as isize, (i / w) as isize);
                let lab = out[i];
                if x > 0 && y > 0 && x + 1 < wi && y + 1 < hi {
                    for &o in &offs {
                        let j = (i as isize + o) as usize;
                        if dist[j] == u16::MAX {
                            dist[j] = step;
                            out[j] = lab;
                            next.push(j);
                        }
                    }
                    continue;
                }
                for yy in (y - 1).max(0)..=(y + 1).min(hi - 1) {
                    for xx in (x - 1).max(0)..=(x + 1).min(wi - 1) {
                        let j = (yy * wi + xx) as usize;
                        if dist[j] == u16::MAX {
                            dist[j] = step;
                            out[j] = lab;
                            next.push(j);
                        }
                    }
                }
            }
            front = next;
        }
        for i in 0..w * h {
            if dist[i] <= 1 || !ok[i] {
                out[i] = 0;
            }
        }
        out
    }

    #[test]
    fn banded_ring_labels_equal_one_search() {
        let mut rnd = xorshift32(4242);
        for k in 0..30 {
            let (w, h) = (1 + rnd() as usize % 50, 1 + rnd() as usize % 300);
            let l = random_labels(&mut rnd, w, h, 15, 9);
            let ok: Vec<bool> = (0..w * h).map(|_| !rnd().is_multiple_of(10)).collect();
            for r in [0usize, 1, 2, 4] {
                let want = ring_labels_serial(&l.data, w, &ok, r);
                let band = 1 + k % 13;
                // One scratch for every band: what a band leaves in it
                // does not matter.
                let mut sc = RingScratch::default();
                // The ring pixels as a plane (0 elsewhere).
                let plane = |px: &[(u32, u32)]| {
                    let mut p = vec![0u32; w * h];
                    for &(v, i) in px {
                        assert_ne!(v, 0);
                        p[i as usize] = v;
                    }
                    p
                };
                assert_eq!(plane(&ring_rows(&l.data, w, &ok, r, 0..h, &mut sc)), want);
                let banded: Vec<(u32, u32)> = (0..h.div_ceil(band))
                    .flat_map(|b| {
                        let px = ring_band(&l, &ok, r, b * band, ((b + 1) * band).min(h), &mut sc);
                        px.into_iter()
                            .map(move |(v, i)| (v, i + (b * band * w) as u32))
                    })
                    .collect();
                assert!(banded.windows(2).all(|s| s[0].1 < s[1].1), "raster order");
                let banded = plane(&banded);
                assert_eq!(banded, want, "case {k} ({w} × {h}), r {r}, bands of {band}");
                if k == 0 && r == 2 {
                    assert!(want.iter().any(|&v| v > 0));
                }
            }
        }
    }
}
