//! Hair shafts: segmentation, tracing, sub-pixel diameters, and the
//! image-level miniaturization figures.
//!
//! Pipeline ([`detect_hairs`]):
//! 1. `detect`: red-channel optical density at a working resolution of
//!    about [`HairParams::detection_um_per_px`], clipped at the local skin
//!    level (bright dots, scales and glare become flat), multi-scale
//!    σ²-normalised dark-ridge filter over widths
//!    [`HairParams::min_width_um`]..[`HairParams::max_width_um`], hysteresis
//!    relative to the robust noise level with an absolute contrast floor.
//! 2. `trace`: centreline by non-maximum suppression across the ridge,
//!    junctions cut out, simple pieces ordered into polylines.
//! 3. `profile`: at samples along each piece (full resolution, ends and
//!    crossings excluded) the perpendicular luminance profile gives a
//!    sub-pixel full width at half depth and the widths at 80 % and 20 %
//!    of the peak; the image's blur (Gaussian PSF σ) is estimated from the
//!    pieces at least 4 px wide; median (provisional) width per piece. Pieces (and shafts) without two-edge profiles of some contrast
//!    on a fair share of their length are ridge-like skin (mottling,
//!    erythema patches, texture), not hair, and are dropped. A piece
//!    along the frame with its axis within its radius of the edge (half
//!    of the shaft in the image) is backed by one-edge half profiles
//!    instead (`profile::frame_halves`: no width samples, a rough
//!    diameter); a shaft seen only so must be darker than the skin along
//!    its axis, and is dropped as the same hair when it starts at the end
//!    of a measured shaft (one leaving the frame at a shallow angle).
//! 4. `trace::join`: pieces are rejoined across crossings and gaps by
//!    direction continuity (anti-parallel end directions, small lateral
//!    offset, similar widths where both pieces have width profiles), greedily
//!    by best score: one shaft, one record; after those, also a parallel
//!    end beside the other (within 3/8 of the width: a centreline stepped
//!    sideways at a crossing) of measured pieces of like widths, the
//!    overlap trimmed. The
//!    gaps (crossings) are bridged by a Hermite curve along both ends. A joined shaft that fails the
//!    profile-support tests only through pieces without width profiles is
//!    rebuilt from its profiled pieces.
//! 5. Per shaft: each sample's width becomes the diameter of a
//!    Beer–Lambert cylinder blurred by the image's PSF, with the optical
//!    thickness fitted over the shaft's samples (`profile`); median
//!    diameter and IQR over all its samples, class,
//!    truncation at the frame or the analysable area, follicle exit (best
//!    effort, see [`HairShaft::exit_px`]); then mask and labels are painted
//!    from the centrelines and measured diameters.
//!
//! Classes: `vellus` below [`HairParams::vellus_max_um`] (30 µm: Rakowska et
//! al. 2009, "Trichoscopy in androgenetic alopecia", thin hairs < 30 µm),
//! `terminal` from [`HairParams::terminal_min_um`] (60 µm), `intermediate`
//! between. [`HairSummary::vellus_fraction_40um`] uses TrichoScan's vellus
//! criterion, ≤ 40 µm (Hoffmann 2001).

use crate::analysis::StageInput;
use crate::error::{check_positive, Error, Result};
use crate::image::{Labels, Mask};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod band;
mod detect;
#[cfg(test)]
mod pair_diag;
pub(crate) mod profile;
mod trace;
#[cfg(test)]
mod twin;

/// Hair-stage parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HairParams {
    /// Thinnest hair looked for (µm).
    pub min_width_um: f64,
    /// Thickest hair looked for (µm).
    pub max_width_um: f64,
    /// Pixel size the ridge filter works at (the image is box-averaged by
    /// the integer factor closest below this / `um_per_px`).
    pub detection_um_per_px: f64,
    /// Hysteresis high threshold as a multiple of the robust noise level of
    /// the ridge strength.
    pub noise_k_high: f32,
    /// Hysteresis low threshold as a multiple of the noise level.
    pub noise_k_low: f32,
    /// Absolute floor of the high threshold (ridge strength in optical
    /// density; a flat bar of depth D gives ≈ 0.48·D).
    pub min_strength_high: f32,
    /// Absolute floor of the low threshold.
    pub min_strength_low: f32,
    /// Smallest median peak absorbance (1 − I/I_skin) of a shaft's
    /// profiles; also the depth a single profile needs to count as support.
    pub min_contrast: f32,
    /// Share of the profile positions along a piece (and a shaft) that must
    /// show a two-edge dark profile of at least `min_contrast`: skin
    /// mottling, erythema patches and texture can look ridge-like to the
    /// filter at one scale but rarely have two parallel edges.
    pub min_profile_support: f32,
    /// Share of a shaft's length that must be backed by two-edge profiles
    /// (the rest is crossings, bridged gaps and unmeasurable stretches): a
    /// chain of mostly bridged gaps is not a hair.
    pub min_profiled_length: f32,
    /// Read each profile as a Beer–Lambert cylinder blurred by the imaging
    /// PSF: the diameter whose blurred profile has the measured full width
    /// at half depth and shape (widths at 80 % and 20 % of the peak), with
    /// the shaft's optical thickness fitted over its samples. Off: the raw
    /// full width at half depth.
    pub cylinder_model: bool,
    /// Estimate the imaging blur (Gaussian σ, pixel integration and
    /// read-out included) from the image: the median over the traced pieces
    /// at least 4 px wide of the σ whose blurred cylinder fits their profile
    /// shapes. Off, or with no such piece: `psf_sigma_px`.
    pub estimate_psf: bool,
    /// Imaging blur (Gaussian σ in px, pixel integration and bilinear
    /// read-out included) used under `cylinder_model` when it is not
    /// estimated from the image (see `estimate_psf`).
    pub psf_sigma_px: f32,
    /// Smallest ratio of red to green absorbance along a shaft: hair
    /// melanin darkens red nearly as much as green, blood hardly (vessels
    /// ≈ 0.1–0.2).
    pub min_red_green_ratio: f32,
    /// Smallest ratio of a shaft's core absorbance against the local skin
    /// level (the mode of the surrounding red) to its absorbance against its
    /// sides: the skin between bright dots, scales or glare is darker than
    /// its sides but not than the skin.
    pub min_skin_depth_ratio: f32,
    /// An end whose core optical density rises from 20 % to 80 % of the shaft's
    /// over at least this length (µm) fades into the skin: a follicle exit
    /// (a cut or broken tip ends within the blur). One rising within half
    /// of it (or two pixels) is a cut tip; a shaft three times as wide
    /// saturates early in its fade, so its end fades when it rises more
    /// slowly than that and keeps its width.
    pub min_exit_fade_um: f64,
    /// Shafts shorter than this are dropped (µm).
    pub min_length_um: f64,
    /// Largest gap bridged when rejoining pieces (µm); at least twice the
    /// shaft width is always allowed (a crossing hair as wide as this one).
    pub max_join_gap_um: f64,
    /// Largest direction change when rejoining pieces (degrees).
    pub max_join_angle_deg: f64,
    /// A centreline turning by more than this within about 1.5 shaft widths
    /// is split there (it ran from one hair into another at a crossing).
    pub max_turn_deg: f64,
    /// Largest width ratio of two pieces that are joined.
    pub max_join_width_ratio: f64,
    /// Spacing of width samples along a shaft (full-resolution px, minimum;
    /// the hair stage also keeps them about 10 µm apart, up to 3 px:
    /// `profile::sample_step_px`).
    pub sample_step_px: f64,
    /// Vellus: diameter below this (µm); Rakowska's thin-hair criterion.
    pub vellus_max_um: f64,
    /// Terminal: diameter at or above this (µm).
    pub terminal_min_um: f64,
    /// TrichoScan vellus criterion: diameter ≤ this (µm).
    pub trichoscan_vellus_max_um: f64,
    /// Shaft ends of different hairs closer than this count as one exit
    /// cluster when locating follicle exits (µm).
    pub exit_cluster_radius_um: f64,
    /// How far beyond a shaft's hidden end (another shaft lying over it)
    /// the skin must show again for the end to be taken as an exit under
    /// that cover, when the shaft's other end is a tip (µm).
    pub exit_cover_um: f64,
    /// A fading end of a shaft at least twice `min_exit_fade_um` wide
    /// counts as an exit only if its dark core, where the density is half
    /// the shaft's, is at least this fraction of the shaft's width inside
    /// (a shaft rising out of the skin keeps its width; a thick shaft's
    /// round tip fades in over its radius too, but narrows: a tip; a
    /// thinner shaft's tip cannot fade in that slowly) and at most its
    /// inverse (a core that widens ends in something else dark, such as
    /// another hair's end: neither exit nor seen tip).
    pub min_exit_width_ratio: f64,
}

impl Default for HairParams {
    fn default() -> Self {
        HairParams {
            min_width_um: 5.0,
            max_width_um: 120.0,
            detection_um_per_px: 7.0,
            noise_k_high: 6.0,
            noise_k_low: 3.0,
            min_strength_high: 0.05,
            min_strength_low: 0.025,
            min_contrast: 0.04,
            min_profile_support: 0.3,
            min_profiled_length: 0.25,
            cylinder_model: true,
            estimate_psf: true,
            psf_sigma_px: 0.5,
            min_red_green_ratio: 0.4,
            min_skin_depth_ratio: 0.25,
            min_exit_fade_um: 16.0,
            min_length_um: 150.0,
            max_join_gap_um: 250.0,
            max_join_angle_deg: 30.0,
            max_join_width_ratio: 1.5,
            max_turn_deg: 40.0,
            sample_step_px: 1.5,
            vellus_max_um: 30.0,
            terminal_min_um: 60.0,
            trichoscan_vellus_max_um: 40.0,
            exit_cluster_radius_um: 150.0,
            exit_cover_um: 150.0,
            min_exit_width_ratio: 0.75,
        }
    }
}

impl HairParams {
    /// Check the parameters.
    pub fn validate(&self) -> Result<()> {
        check_positive("min_width_um", self.min_width_um)?;
        check_positive("max_width_um", self.max_width_um)?;
        check_positive("detection_um_per_px", self.detection_um_per_px)?;
        check_positive("min_length_um", self.min_length_um)?;
        check_positive("max_join_gap_um", self.max_join_gap_um)?;
        check_positive("max_join_angle_deg", self.max_join_angle_deg)?;
        check_positive("sample_step_px", self.sample_step_px)?;
        check_positive("max_turn_deg", self.max_turn_deg)?;
        check_positive("vellus_max_um", self.vellus_max_um)?;
        check_positive("terminal_min_um", self.terminal_min_um)?;
        check_positive("trichoscan_vellus_max_um", self.trichoscan_vellus_max_um)?;
        check_positive("exit_cluster_radius_um", self.exit_cluster_radius_um)?;
        check_positive("exit_cover_um", self.exit_cover_um)?;
        check_positive("min_exit_width_ratio", self.min_exit_width_ratio)?;
        check_positive("min_exit_fade_um", self.min_exit_fade_um)?;
        for (n, v) in [
            ("noise_k_high", self.noise_k_high),
            ("noise_k_low", self.noise_k_low),
            ("min_strength_high", self.min_strength_high),
            ("min_strength_low", self.min_strength_low),
            ("min_contrast", self.min_contrast),
            ("min_profile_support", self.min_profile_support),
            ("min_profiled_length", self.min_profiled_length),
            ("psf_sigma_px", self.psf_sigma_px),
            ("min_red_green_ratio", self.min_red_green_ratio),
            ("min_skin_depth_ratio", self.min_skin_depth_ratio),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::param(n, format!("must be finite and ≥ 0, got {v}")));
            }
        }
        if self.max_width_um < self.min_width_um {
            return Err(Error::param("max_width_um", "must be ≥ min_width_um"));
        }
        if self.terminal_min_um < self.vellus_max_um {
            return Err(Error::param("terminal_min_um", "must be ≥ vellus_max_um"));
        }
        if self.max_join_width_ratio.is_nan() || self.max_join_width_ratio < 1.0 {
            return Err(Error::param("max_join_width_ratio", "must be ≥ 1"));
        }
        Ok(())
    }
}

/// Diameter class of a shaft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HairClass {
    /// Below [`HairParams::vellus_max_um`].
    Vellus,
    /// Between vellus and terminal.
    Intermediate,
    /// At or above [`HairParams::terminal_min_um`].
    Terminal,
}

/// One hair shaft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HairShaft {
    /// 1-based id, equal to its label in the label image.
    pub id: u32,
    /// Centreline (x, y) in pixels, from the follicle exit when one was
    /// found, else in tracing order.
    pub centreline_px: Vec<[f32; 2]>,
    /// Length of the centreline (µm), gaps across crossings included.
    pub length_um: f64,
    /// Median of the sub-pixel widths along the shaft (µm).
    pub diameter_um: f64,
    /// Interquartile range of the widths (µm).
    pub diameter_iqr_um: f64,
    /// Number of width samples behind the diameter (0: the detection
    /// scale's estimate was used, and the summary's diameter figures leave
    /// the shaft out: [`HairShaft::diameter_measured`]).
    pub width_samples: usize,
    /// Median peak absorbance of the profiles (1 − I/I_background, 0..1).
    pub contrast: f64,
    /// The shaft reaches the image border or the non-analysable area.
    pub truncated: bool,
    /// Its width profiles all reach the non-analysable area (a hair whose
    /// side the area's edge cuts off lengthwise, or whose axis lies beyond
    /// it): `diameter_um` is read from the visible part
    /// ([`profile::shaft_width`]) and may be far too small, so the summary's
    /// diameter figures and fractions leave the shaft out (it is counted).
    #[serde(default)]
    pub diameter_clipped: bool,
    /// Follicle exit (proximal end), when an end was judged to be one: a
    /// free end (not near the border or the analysable area's edge), or one
    /// near the image's border with skin seen before it, whose core optical
    /// density fades in over at least [`HairParams::min_exit_fade_um`] (the
    /// shaft rising out of the skin; a cut tip ends within the blur; a
    /// shaft three times that wide, whose density saturates early in the
    /// fade, needs only not to end sharply and to keep its width), placed
    /// where the density is 20 % of the shaft's; or a free end, not sharp,
    /// where other shafts' free ends converge (hairs of one follicular unit
    /// share an exit) and the shaft is seen to end (skin beyond it, not a
    /// crossing or a gap); both cues: the stronger end. A free end hidden
    /// under another shaft is the exit when the other end is a seen tip.
    /// `None` when no end is either (tips, crossings, the border).
    pub exit_px: Option<[f32; 2]>,
    /// Diameter class.
    pub class: HairClass,
    /// Number of centreline pieces joined across crossings or gaps.
    pub pieces: usize,
}

/// Image-level hair figures (`None` when the stage did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HairSummary {
    /// Number of shafts.
    pub hair_count: Option<usize>,
    /// Shafts per cm² of analysable area (glare excluded).
    pub hair_density_per_cm2: Option<f64>,
    /// Mean shaft diameter (µm).
    pub shaft_diameter_mean_um: Option<f64>,
    /// Median shaft diameter (µm).
    pub shaft_diameter_median_um: Option<f64>,
    /// Coefficient of variation of shaft diameters (heterogeneity).
    pub shaft_diameter_cv: Option<f64>,
    /// Fraction of shafts below the vellus threshold (30 µm by default).
    pub vellus_fraction: Option<f64>,
    /// Fraction of shafts ≤ 40 µm (TrichoScan's vellus criterion).
    pub vellus_fraction_40um: Option<f64>,
    /// Fraction of terminal shafts.
    pub terminal_fraction: Option<f64>,
    /// Sum of shaft diameters in mm per cm² of analysable area: the
    /// "cumulative hair thickness" of one cm² (hair count × mean measured
    /// diameter, in mm per cm²: a shaft without a measured diameter counts
    /// at the mean).
    pub cumulative_thickness_mm_per_cm2: Option<f64>,
    /// Analysable area the densities refer to (mm²).
    pub hair_analysed_area_mm2: Option<f64>,
    /// Imaging blur (Gaussian σ, µm, pixel integration and read-out
    /// included) estimated from the edges of the shafts at least 4 px wide
    /// (`None` when there were none, or the model is off).
    pub hair_psf_sigma_um: Option<f64>,
}

/// The output of the hair stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HairStage {
    /// The shafts.
    pub shafts: Vec<HairShaft>,
    /// Hair pixels.
    pub mask: Mask,
    /// One label per shaft.
    pub labels: Labels,
    /// Image-level figures.
    pub summary: HairSummary,
}

impl HairShaft {
    /// `diameter_um` was read from whole width profiles: at least one
    /// profile, not all of them clipped ([`HairShaft::diameter_clipped`]).
    /// Only such shafts enter the summary's diameter figures and fractions
    /// (every shaft is counted). A shaft without profiles carries the
    /// detection scale's estimate, which on the 12 MP phantoms read 53.6,
    /// 62.2 and 45.7 µm shafts as 28.0, 24.3 and 29.1 µm (1–3 such records
    /// in 450).
    pub fn diameter_measured(&self) -> bool {
        self.width_samples > 0 && !self.diameter_clipped
    }
}

fn classify(d: f64, p: &HairParams) -> HairClass {
    if d < p.vellus_max_um {
        HairClass::Vellus
    } else if d < p.terminal_min_um {
        HairClass::Intermediate
    } else {
        HairClass::Terminal
    }
}

/// Working memory of the hair stage that a caller analysing many images
/// keeps between calls of [`detect_hairs_with`]: the stage's large planes
/// (luminance at full resolution; optical density, analysable pixels, ridge
/// strength, scale and direction and a smoothed plane at detection
/// resolution) are made in its buffers instead of fresh memory, whose
/// pages the system must fault in and zero on every call. The output is
/// the same, bit for bit.
///
/// Resident memory: none until first used; after a call on a `w × h` image
/// with detection factor `f` (2 at 3.5 µm/px, 3 at 2 µm/px), about
/// `4 w h + 25 w h / f²` bytes (a 12 MP image at 3.5 µm/px: 48 MB of
/// luminance and 75 MB of detection planes), plus the label image and mask
/// of a stage handed back with [`HairScratch::recycle`] (5 bytes per
/// pixel: 60 MB at 12 MP). A buffer grows to the largest image seen;
/// dropping the scratch frees it all ([`HairScratch::resident_bytes`]).
#[derive(Default)]
pub struct HairScratch {
    lum: Vec<f32>,
    od: Vec<f32>,
    valid: Vec<bool>,
    ridge: crate::kernels::RidgeBuffers,
    labels: Vec<u32>,
    mask: Vec<bool>,
}

impl std::fmt::Debug for HairScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HairScratch")
            .field("resident_bytes", &self.resident_bytes())
            .finish()
    }
}

impl HairScratch {
    /// An empty scratch (nothing allocated yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held between calls.
    pub fn resident_bytes(&self) -> usize {
        4 * (self.lum.capacity() + self.od.capacity() + self.labels.capacity())
            + self.valid.capacity()
            + self.mask.capacity()
            + self.ridge.bytes()
    }

    /// Keep the label image and mask of a stage that is no longer needed
    /// for the next call's (its shafts are dropped): without them each call
    /// allocates both afresh.
    pub fn recycle(&mut self, stage: HairStage) {
        if stage.labels.data.capacity() > self.labels.capacity() {
            self.labels = stage.labels.data;
        }
        if stage.mask.data.capacity() > self.mask.capacity() {
            self.mask = stage.mask.data;
        }
    }
}

/// Find the hair shafts.
///
/// Errors on invalid parameters or scale, or when the valid mask does not
/// match the image; an image without hair gives zero shafts. For many
/// images, [`detect_hairs_with`] and a [`HairScratch`] kept between calls
/// are faster (the same output).
pub fn detect_hairs(input: &StageInput<'_>, params: &HairParams) -> Result<HairStage> {
    stage(input, params, &mut HairScratch::new(), false)
}

/// [`detect_hairs`] working in the buffers of `scratch` (see
/// [`HairScratch`]; its contents do not matter, the output is the same).
///
/// ```
/// # use trichometry::hairs::{detect_hairs, detect_hairs_with, HairParams, HairScratch};
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
/// let params = HairParams::default();
/// let mut scratch = HairScratch::new();
/// for _ in 0..2 {
///     let stage = detect_hairs_with(&input, &params, &mut scratch).unwrap();
///     assert_eq!(stage, detect_hairs(&input, &params).unwrap());
///     scratch.recycle(stage);
/// }
/// assert!(scratch.resident_bytes() > 0);
/// ```
pub fn detect_hairs_with(
    input: &StageInput<'_>,
    params: &HairParams,
    scratch: &mut HairScratch,
) -> Result<HairStage> {
    stage(input, params, scratch, true)
}

/// The stage. `keep`: the scratch outlives the call, so the luminance plane
/// is kept in it (else its memory becomes the label image).
fn stage(
    input: &StageInput<'_>,
    params: &HairParams,
    scratch: &mut HairScratch,
    keep: bool,
) -> Result<HairStage> {
    params.validate()?;
    let upp = check_positive("um_per_px", input.um_per_px)?;
    let (w, h) = (input.rgb.width, input.rgb.height);
    if input.valid.width != w || input.valid.height != h || input.rgb.r.len() != w * h {
        return Err(Error::param("valid", "mask size does not match the image"));
    }
    let mut det = detect::detect(input, params, scratch);
    if !keep {
        // Nothing is kept: the planes detection no longer needs are freed
        // now (their memory serves the allocations that follow).
        *scratch = HairScratch::default();
    }
    let (pieces, _zones) = trace::pieces(&det, params, upp);
    // The image's blur, from the pieces wide enough to show it.
    let mut psf_sigma = None;
    if params.cylinder_model && params.estimate_psf {
        let mut sig: Vec<f32> = pieces
            .par_iter()
            .filter_map(|p| profile::shaft_psf_sigma(&p.samples))
            .collect();
        if !sig.is_empty() {
            psf_sigma = Some(profile::median(&mut sig));
        }
    }
    // Bands of hairs running side by side become one piece per shaft.
    let (pieces, first_part) = band::split_bands(pieces, (params.max_width_um / upp) as f32);
    // The pieces are joined on their provisional widths (`profile`); the
    // shafts' diameters come from the model, the optical thickness fitted
    // over each shaft's samples.
    let mut traced: Vec<trace::Traced> = trace::join(&pieces, params, upp, &det.lum)
        .into_par_iter()
        .filter_map(|t| without_unseen_ends(input, &pieces, t, params))
        .map(|t| without_unprofiled(&pieces, t, upp, params))
        .map(without_edge_ends)
        .collect();
    // Shafts that fail the length or profile-support tests (the first of
    // the acceptance tests, `rejection`, which needs no diameters) are
    // dropped before the model is fitted to them.
    traced.retain(|t| support(t, upp, params).is_ok());
    // The mask is painted with the joining widths (the visible footprint
    // the vessel stage leaves out, as before the model).
    let paint_w: Vec<f32> = traced.iter().map(|t| t.width).collect();
    if params.cylinder_model {
        let sigma = psf_sigma.unwrap_or(params.psf_sigma_px);
        traced.par_iter_mut().for_each(|t| {
            profile::set_diameters(&mut t.samples, sigma);
            let own = band::measured_samples(&pieces, first_part, t);
            if let Some(w) = profile::shaft_width(&own) {
                t.width = w;
            }
        });
    }

    let f = det.factor;
    let near_border = |p: [f32; 2], r: f32| -> bool {
        let (x, y) = (p[0], p[1]);
        x < r || y < r || x > w as f32 - 1.0 - r || y > h as f32 - 1.0 - r
    };
    // Near the non-analysable area (or outside the image).
    let near_masked = |p: [f32; 2], r: f32| -> bool {
        let (x, y) = (p[0], p[1]);
        let (dw, dh) = (det.valid.width as i64, det.valid.height as i64);
        let rd = (r / f as f32).ceil() as i64 + 1;
        let (cx, cy) = ((x / f as f32) as i64, (y / f as f32) as i64);
        for yy in (cy - rd).max(0)..=(cy + rd).min(dh - 1) {
            for xx in (cx - rd).max(0)..=(cx + rd).min(dw - 1) {
                if !det.valid.data[(yy * dw + xx) as usize] {
                    return true;
                }
            }
        }
        false
    };
    let near_invalid = |p: [f32; 2], r: f32| near_border(p, r) || near_masked(p, r);

    // Ridge pixels and their surround (detection resolution): not skin.
    let near_hair = crate::kernels::dilate(&det.mask, 2.0);
    struct Pre {
        t: trace::Traced,
        len_px: f32,
        free: [bool; 2],
        /// Not free only for the image's border (the analysable area
        /// does not end there).
        at_border: [bool; 2],
        paint_w: f32,
    }
    // Shafts in parallel (order kept); the cheap tests first (the outcome
    // is the same in any order: every test only rejects).
    let pre: Vec<Pre> = traced
        .into_par_iter()
        .zip(paint_w)
        .filter_map(|(t, paint_w)| {
            let len_px = rejection(input, &t, &near_hair, f, upp, params).ok()?;
            let r = 0.5 * t.width + 2.0 + f as f32;
            let ends = [t.pts[0], t.pts[t.pts.len() - 1]];
            let free = ends.map(|q| !near_invalid(q, r));
            let at_border = ends.map(|q| near_border(q, r) && !near_masked(q, r));
            Some(Pre {
                t,
                len_px,
                free,
                at_border,
                paint_w,
            })
        })
        .collect();
    // A shaft seen only in frame halves (no width samples) with an end on
    // the end of a measured shaft (within that one's diameter) is that hair
    // leaving the frame at a shallow angle: its body grazes the frame past
    // the point where its axis leaves. The same hair, not another.
    let ends_of = |t: &trace::Traced| [t.pts[0], t.pts[t.pts.len() - 1]];
    let continues: Vec<bool> = pre
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.t.samples.is_empty()
                && a.t.frame_halves > 0
                && pre.iter().enumerate().any(|(j, b)| {
                    let r2 = b.t.width * b.t.width;
                    j != i
                        && !b.t.samples.is_empty()
                        && ends_of(&a.t).iter().any(|p| {
                            ends_of(&b.t)
                                .iter()
                                .any(|q| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) <= r2)
                        })
                })
        })
        .collect();
    let pre: Vec<Pre> = pre
        .into_iter()
        .zip(continues)
        .filter_map(|(p, c)| (!c).then_some(p))
        .collect();
    // A shaft lying inside a longer one of like width is that hair again.
    let lines: Vec<(&[[f32; 2]], f32, f32)> = pre
        .iter()
        .map(|p| (&p.t.pts[..], p.t.width, p.len_px))
        .collect();
    let doubled = inside_longer(&lines);
    let pre: Vec<Pre> = pre
        .into_iter()
        .zip(doubled)
        .filter_map(|(p, d)| (!d).then_some(p))
        .collect();
    // Follicle exits. A shaft leaves the skin through its follicular
    // opening: its absorbance ramps up over tens of µm from the exit (the
    // shaft rises out of the skin), while a cut or broken tip ends within
    // the blur; hairs of one follicular unit leave within about 100 µm of
    // each other, so their proximal ends converge. An end that is free
    // (not at the border or the analysable area's edge) or by the image's
    // border and fades, or an observed free end, not sharp, where other
    // shafts' free ends converge, is an exit candidate; the better one
    // wins; neither: no exit (a shaft whose visible ends are tips,
    // crossings or the border).
    let rc = (params.exit_cluster_radius_um / upp) as f32;
    // The free ends (finite: another never counts), sorted by x, so that
    // the ends within `rc` of a point lie in one run (`converging`).
    let mut ends: Vec<(usize, usize, [f32; 2])> = pre
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let n = p.t.pts.len();
            [(i, 0, p.t.pts[0]), (i, 1, p.t.pts[n - 1])]
        })
        .filter(|&(i, k, q)| pre[i].free[k] && q[0].is_finite() && q[1].is_finite())
        .collect();
    ends.sort_unstable_by(|a, b| a.2[0].total_cmp(&b.2[0]).then((a.0, a.1).cmp(&(b.0, b.1))));
    // The free ends of shafts other than `i` within `rc` of `q`. Only ends
    // within `rc` in x can be (a larger x offset squares past `rc²`):
    // a binary search finds their run. Session 25 (branch `hspeed25`):
    // counted over all free ends for every end of every shaft, used or not,
    // the test took about 10 M instructions per 12 MP call at 3.5 µm/px
    // (callgrind, AVX2 copy); now only where it is used, over that run (the
    // same counts).
    let converging = |i: usize, q: [f32; 2]| {
        let from = ends.partition_point(|e| e.2[0] - q[0] < -rc);
        ends[from..]
            .iter()
            .take_while(|e| e.2[0] - q[0] <= rc)
            .filter(|&&(j, _, p)| j != i && (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) < rc * rc)
            .count()
    };
    // Exit scores of both ends of every shaft (independent: in parallel).
    let exits: Vec<([f32; 2], [[f32; 2]; 2])> = pre
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let n = p.t.pts.len();
            let tips = [p.t.pts[0], p.t.pts[n - 1]];
            let mut score = [f32::NEG_INFINITY; 2];
            let mut exit_at = [[0.0f32; 2]; 2];
            let mut ramp_seen = [false; 2];
            let mut tip_seen = [false; 2];
            for k in 0..2 {
                if !p.free[k] && !p.at_border[k] {
                    continue;
                }
                let ramp = end_ramp(&det.lum, &p.t.pts, p.t.width, k == 1, upp);
                let width_um = p.t.width as f64 * upp;
                let min_ratio = params.min_exit_width_ratio as f32;
                // A round cap rises over about its radius, so only a shaft
                // at least twice `min_exit_fade_um` wide has a tip that fades
                // in as slowly as an exit: the width test applies to those
                // (on a thinner shaft the half-density width is mostly blur
                // and noise, and a fading exit failed it).
                let capped = width_um >= 2.0 * params.min_exit_fade_um;
                // An end that rises within the blur (two pixels) or half the
                // exit fade is cut, and so is a wide shaft's end that
                // narrows: a tip. One that widens (past the inverse of the
                // width ratio) ends in something else dark (another hair's
                // end beside it): neither.
                let sharp = ramp.as_ref().is_some_and(|r| {
                    r.ramp_um < (0.5 * params.min_exit_fade_um).max(2.0 * upp)
                        || (capped && r.width_ratio < min_ratio)
                });
                let odd = ramp
                    .as_ref()
                    .is_some_and(|r| capped && r.width_ratio > 1.0 / min_ratio);
                // A dark shaft three times `min_exit_fade_um` wide saturates
                // early in its exit fade, so its density rises over less
                // than that: not sharp and keeping its width suffices.
                let fades = ramp.as_ref().is_some_and(|r| {
                    !sharp
                        && !odd
                        && (r.ramp_um >= params.min_exit_fade_um
                            || width_um >= 3.0 * params.min_exit_fade_um)
                });
                exit_at[k] = match &ramp {
                    Some(r) if fades => r.exit,
                    _ => tips[k],
                };
                // Converging ends count only where the shaft is seen to end
                // (skin beyond it) and not in a cut tip: an end cut at a
                // crossing, a gap or a touching hair is not an observed end,
                // and in a scene of crossings such ends cluster at every
                // junction.
                // An end by the image's border counts only where it fades
                // (skin seen between it and the border).
                let conv = if p.free[k] && ramp.is_some() && !sharp && !odd {
                    converging(i, tips[k])
                } else {
                    0
                };
                ramp_seen[k] = ramp.is_some();
                tip_seen[k] = sharp && !odd;
                if fades || conv > 0 {
                    score[k] = 2.0 * fades as u8 as f32 + conv.min(3) as f32;
                }
            }
            // One end seen to end sharply in the skin is the tip (a cut
            // or broken shaft): a hair has one exit and one tip, so the
            // other end, when it is free but hidden (an exit under another
            // shaft), is the exit, placed under the cover.
            if score == [f32::NEG_INFINITY; 2] {
                for k in 0..2 {
                    let other = 1 - k;
                    if p.free[k] && p.free[other] && tip_seen[other] && !ramp_seen[k] {
                        if let Some(x) = hidden_end(
                            &det.lum,
                            &p.t.pts,
                            p.t.width,
                            k == 1,
                            upp,
                            params.exit_cover_um,
                        ) {
                            score[k] = 0.5;
                            exit_at[k] = x;
                        }
                    }
                }
            }
            (score, exit_at)
        })
        .collect();
    let mut shafts = Vec::new();
    let mut traced_pts: Vec<(Vec<[f32; 2]>, f32)> = Vec::new();
    for (p, &(score, exit_at)) in pre.iter().zip(&exits) {
        let exit_end = if score[0] == f32::NEG_INFINITY && score[1] == f32::NEG_INFINITY {
            None
        } else if score[1] > score[0] {
            Some(1)
        } else {
            Some(0)
        };
        let mut pts = p.t.pts.clone();
        if exit_end == Some(1) {
            pts.reverse();
        }
        let mut wv: Vec<f32> = p.t.samples.iter().map(|s| s.width_px).collect();
        wv.sort_by(f32::total_cmp);
        let iqr = if wv.len() >= 4 {
            (profile::quantile_sorted(&wv, 0.75) - profile::quantile_sorted(&wv, 0.25)) as f64
        } else {
            f64::NAN
        };
        let d_um = p.t.width as f64 * upp;
        let id = shafts.len() as u32 + 1;
        traced_pts.push((pts.clone(), p.paint_w));
        shafts.push(HairShaft {
            id,
            exit_px: exit_end.map(|k| exit_at[k]),
            centreline_px: pts,
            length_um: p.len_px as f64 * upp,
            diameter_um: d_um,
            diameter_iqr_um: iqr * upp,
            width_samples: p.t.samples.len(),
            contrast: if p.t.depth.is_finite() {
                p.t.depth as f64
            } else {
                0.0
            },
            truncated: !(p.free[0] && p.free[1]),
            diameter_clipped: !p.t.samples.is_empty() && p.t.samples.iter().all(|s| s.clipped),
            class: classify(d_um, params),
            pieces: p.t.n_pieces,
        });
    }
    // Each shaft as the swept disc of its measured width along its
    // centreline; where shafts overlap, the nearer centreline wins; the
    // mask in the same pass. Without a scratch kept by the caller the labels
    // go into the luminance plane's memory (dead now, the same size: fresh
    // pages for a second 12 MP plane cost more than clearing it); with one,
    // into a recycled label image or fresh zeros, the luminance kept.
    let lum = std::mem::replace(&mut det.lum, detect::Luminance::empty());
    let buf = if keep {
        scratch.lum = lum.into_data();
        std::mem::take(&mut scratch.labels)
    } else {
        lum.into_u32_buffer()
    };
    let mask_buf = std::mem::take(&mut scratch.mask);
    det.give_back(scratch);
    let (labels, data) = crate::kernels::paint_tubes_and_mask(w, h, &traced_pts, buf, mask_buf);
    let mask = Mask {
        width: w,
        height: h,
        data,
    };
    let area_mm2 = input.valid.count() as f64 * upp * upp * 1e-6;
    let mut summary = summarize(&shafts, area_mm2, params);
    summary.hair_psf_sigma_um = psf_sigma.map(|s| s as f64 * upp);
    Ok(HairStage {
        shafts,
        mask,
        labels,
        summary,
    })
}

/// Share of a shaft's centreline within a longer shaft's painted half width
/// (plus 1 px) from which it counts as lying inside that shaft.
const INSIDE_SHARE: f32 = 0.8;
/// Smallest width of a shaft inside a longer one, as a fraction of the
/// longer one's, for it to be the same hair: two hairs side by side have
/// their axes at least the half-sum of their widths apart, more than half
/// the wider one's width once the narrower is over 0.6 of it (a thin hair
/// over a thick one, a unit-mate merged into a wide band, is another hair).
const INSIDE_WIDTH_RATIO: f32 = 0.6;

/// For shafts given as (centreline, width, length) in px: whether each
/// lies inside a longer one (the longer by length, then by index) of like
/// width, at least [`INSIDE_SHARE`] of its centreline points within half
/// that one's width plus 1 px of its centreline, its width at least
/// [`INSIDE_WIDTH_RATIO`] of that one's: a stub or a parallel trace along
/// the same hair (a junction's spur read across the crossing, one edge of
/// a thick shaft), not another hair. Points are looked up in a grid of
/// cells as large as the widest reach.
fn inside_longer(shafts: &[(&[[f32; 2]], f32, f32)]) -> Vec<bool> {
    let reach = |w: f32| 0.5 * w.max(0.0) + 1.0;
    let cell = shafts
        .iter()
        .map(|s| reach(s.1))
        .filter(|r| r.is_finite())
        .fold(4.0f32, f32::max);
    let finite = |p: &&[f32; 2]| p[0].is_finite() && p[1].is_finite();
    let key = |p: [f32; 2]| ((p[0] / cell).floor() as i64, (p[1] / cell).floor() as i64);
    // The cells the points span, one cell of margin around them.
    let (mut lo, mut hi) = ((i64::MAX, i64::MAX), (i64::MIN, i64::MIN));
    for &p in shafts.iter().flat_map(|s| s.0.iter()).filter(finite) {
        let k = key(p);
        lo = (lo.0.min(k.0 - 1), lo.1.min(k.1 - 1));
        hi = (hi.0.max(k.0 + 1), hi.1.max(k.1 + 1));
    }
    if lo.0 > hi.0 {
        return vec![false; shafts.len()];
    }
    let nx = (hi.0 - lo.0 + 1) as usize;
    let index = |k: (i64, i64)| (k.1 - lo.1) as usize * nx + (k.0 - lo.0) as usize;
    // Per cell, per shaft with points in it, the shaft and those points (one
    // run per shaft and cell, so a shaft that cannot hold another, mostly
    // the other's own centreline, is passed over as a whole).
    let mut grid: Vec<Vec<(usize, Vec<[f32; 2]>)>> =
        vec![Vec::new(); nx * (hi.1 - lo.1 + 1) as usize];
    for (i, s) in shafts.iter().enumerate() {
        for &p in s.0.iter().filter(finite) {
            let runs = &mut grid[index(key(p))];
            match runs.last_mut() {
                Some((j, run)) if *j == i => run.push(p),
                _ => runs.push((i, vec![p])),
            }
        }
    }
    let longer = |b: usize, a: usize| {
        let (lb, la) = (shafts[b].2, shafts[a].2);
        lb > la || (lb == la && b < a)
    };
    (0..shafts.len())
        .into_par_iter()
        .map(|a| {
            let (pts, wa, _) = shafts[a];
            if pts.is_empty() || !wa.is_finite() {
                return false;
            }
            // Per longer shaft of like width: (shaft, the last point of `a`
            // counted, points of `a` within its reach), each point once.
            let mut hits: Vec<(usize, usize, usize)> = Vec::new();
            for (k, &p) in pts.iter().enumerate().filter(|(_, p)| finite(p)) {
                let (cx, cy) = key(p);
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        for (b, run) in &grid[index((cx + dx, cy + dy))] {
                            let (b, wb) = (*b, shafts[*b].1);
                            if b == a || !longer(b, a) || wa < INSIDE_WIDTH_RATIO * wb {
                                continue;
                            }
                            let r = reach(wb);
                            if run
                                .iter()
                                .any(|q| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) <= r * r)
                            {
                                match hits.iter_mut().find(|h| h.0 == b) {
                                    Some(h) if h.1 != k => *h = (b, k, h.2 + 1),
                                    Some(_) => {}
                                    None => hits.push((b, k, 1)),
                                }
                            }
                        }
                    }
                }
            }
            hits.iter()
                .any(|&(_, _, n)| n as f32 >= INSIDE_SHARE * pts.len() as f32)
        })
        .collect()
}

/// The length and profile-support tests of a traced shaft: its length (px)
/// when it passes, else the name of the first test it fails.
fn support(
    t: &trace::Traced,
    upp: f64,
    params: &HairParams,
) -> std::result::Result<f32, &'static str> {
    let min_len_px = (params.min_length_um / upp) as f32;
    let arc = profile::arc_lengths(&t.pts);
    let len_px = *arc.last().unwrap_or(&0.0);
    if len_px < min_len_px || t.pts.len() < 2 {
        return Err("length");
    }
    // The whole shaft must be supported by two-edge profiles too (a chain
    // of short unprofiled pieces is not a hair).
    let good = t
        .samples
        .iter()
        .filter(|s| s.depth >= params.min_contrast)
        .count()
        + t.frame_halves;
    if good < 3 || (good as f32) < params.min_profile_support * t.attempts as f32 {
        return Err("profile_support");
    }
    if t.profiled_px < params.min_profiled_length * len_px {
        return Err("profiled_length");
    }
    Ok(len_px)
}

/// A joined shaft that fails the profile-support tests only because of
/// pieces without width profiles (stretches where it runs over or beside
/// another hair, blobs where shafts cross) is rebuilt from its profiled
/// pieces in the same order, the others bridged: joining must not make a
/// hair's record fail where its own pieces pass.
fn without_unprofiled(
    pieces: &[trace::Piece],
    t: trace::Traced,
    upp: f64,
    params: &HairParams,
) -> trace::Traced {
    let fails_support = matches!(
        support(&t, upp, params),
        Err("profile_support" | "profiled_length")
    );
    if t.n_pieces < 2 || !fails_support {
        return t;
    }
    let kept: Vec<(usize, bool)> = t
        .chain
        .iter()
        .copied()
        .filter(|&(pi, _)| pieces[pi].samples.len() >= 3)
        .collect();
    // A lone piece left over must stand on its own profiles: twice the
    // smallest number of supported samples a shaft needs.
    let lone_ok = kept.len() == 1 && pieces[kept[0].0].samples.len() >= 6;
    if kept.is_empty() || (kept.len() < 2 && !lone_ok) || kept.len() == t.chain.len() {
        return t;
    }
    let t2 = trace::assemble(pieces, &kept);
    if support(&t2, upp, params).is_ok() {
        t2
    } else {
        t
    }
}

/// Shaft `t` less its end stretches where the analysable area's edge cuts
/// it so that under half its width shows: clipped profiles
/// ([`profile::WidthSample::clipped`]) narrower than half the width read on
/// its unclipped ones. There its axis lies beyond the edge, outside the
/// field (as a shaft along the image's frame counts only with its axis in
/// the image, [`profile::frame_halves`]); the cut falls halfway between the
/// last such profile and the next. A shaft without two unclipped profiles
/// is kept whole ([`HairShaft::diameter_clipped`]).
fn without_edge_ends(t: trace::Traced) -> trace::Traced {
    if t.samples.iter().filter(|s| !s.clipped).count() < 2 || t.pts.len() < 2 {
        return t;
    }
    let half = 0.5 * t.width;
    let beyond = |s: &profile::WidthSample| s.clipped && s.width_px < half;
    let mut order: Vec<usize> = (0..t.samples.len()).collect();
    order.sort_by(|&i, &j| t.samples[i].arc_px.total_cmp(&t.samples[j].arc_px));
    let n = order.len();
    let a = order.iter().take_while(|&&i| beyond(&t.samples[i])).count();
    let b = order
        .iter()
        .rev()
        .take_while(|&&i| beyond(&t.samples[i]))
        .count();
    if (a == 0 && b == 0) || a + b >= n {
        return t;
    }
    let arc = profile::arc_lengths(&t.pts);
    let total = arc[arc.len() - 1];
    let at = |k: usize| t.samples[order[k]].arc_px;
    let s0 = if a > 0 {
        0.5 * (at(a - 1) + at(a))
    } else {
        0.0
    };
    let s1 = if b > 0 {
        0.5 * (at(n - b - 1) + at(n - b))
    } else {
        total
    };
    if s1.partial_cmp(&s0) != Some(std::cmp::Ordering::Greater) {
        return t;
    }
    let mut pts = vec![profile::point_and_tangent(&t.pts, &arc, s0, 0.0).0];
    pts.extend(
        t.pts
            .iter()
            .zip(&arc)
            .filter(|&(_, &s)| s > s0 && s < s1)
            .map(|(&p, _)| p),
    );
    pts.push(profile::point_and_tangent(&t.pts, &arc, s1, 0.0).0);
    let samples = t
        .samples
        .iter()
        .filter(|s| s.arc_px > s0 && s.arc_px < s1)
        .map(|s| profile::WidthSample {
            arc_px: s.arc_px - s0,
            ..*s
        })
        .collect();
    trace::Traced { pts, samples, ..t }
}

/// Whether a piece is seen to be a shaft: by a width sample with at least
/// `min_contrast`, by good frame half profiles, or, when no profile shows
/// it (short pieces at crossings and at a shaft's ends), by its centreline:
/// darker than the skin beside it as melanin darkens, red about as much as
/// green ([`red_green_absorbances`]). A piece no profile shows, too short to
/// read, counts as seen.
fn seen(input: &StageInput<'_>, piece: &trace::Piece, params: &HairParams) -> bool {
    if piece.frame.good > 0 || piece.samples.iter().any(|s| s.depth >= params.min_contrast) {
        return true;
    }
    let along: Vec<profile::WidthSample> = profile::arc_lengths(&piece.pts)
        .into_iter()
        .zip(&piece.pts)
        .map(|(arc_px, &centre)| profile::WidthSample::at(arc_px, centre))
        .collect();
    let (ar, ag, n) = red_green_absorbances(input, &along, piece.width);
    n == 0 || (ag >= params.min_contrast * n as f32 && ar >= params.min_red_green_ratio * ag)
}

/// Shaft `t` less the pieces at its ends not [`seen`] to be a shaft; `None`
/// when none is. Such a piece bridges a crossing or a gap between pieces
/// that are seen, but at a shaft's end it only carries the shaft on past its
/// last dark stretch: the widest scales' ridge from a tip to a dark spot
/// beyond it (a red dot, a capillary), across skin or onto the spot, whose
/// vessel the shaft's mask then hid from the vessel stage.
fn without_unseen_ends(
    input: &StageInput<'_>,
    pieces: &[trace::Piece],
    t: trace::Traced,
    params: &HairParams,
) -> Option<trace::Traced> {
    let ok = |&(p, _): &(usize, bool)| seen(input, &pieces[p], params);
    let first = t.chain.iter().position(ok)?;
    let last = t.chain.iter().rposition(ok).unwrap_or(first);
    if first == 0 && last + 1 == t.chain.len() {
        return Some(t);
    }
    Some(trace::assemble(pieces, &t.chain[first..=last]))
}

/// The acceptance tests of a traced shaft, cheap ones first: its length
/// (px) when it is a hair, else the name of the first test it fails.
fn rejection(
    input: &StageInput<'_>,
    t: &trace::Traced,
    near_hair: &Mask,
    f: usize,
    upp: f64,
    params: &HairParams,
) -> std::result::Result<f32, &'static str> {
    let len_px = support(t, upp, params)?;
    if t.depth.is_nan() || t.depth < params.min_contrast {
        return Err("contrast");
    }
    let rg = red_green_absorbance(input, &t.samples, t.width);
    if rg.is_some_and(|r| r < params.min_red_green_ratio) {
        return Err("red_green");
    }
    // Darker than the skin, not only than its sides: the skin between
    // bright structures (dots, scales, glare) is a valley, not a shaft.
    let sk = shaft_skin_absorbance(input, t, near_hair, f, upp, params);
    if sk.is_some_and(|a| a < params.min_skin_depth_ratio * t.depth) {
        return Err("skin_depth");
    }
    Ok(len_px)
}

/// A centreline end, its outward direction and the normal: the direction
/// of the shaft's axis from about five widths to one width inside the end
/// (the last width of a traced centreline may hook towards a hair crossing
/// at the end), the end projected on that axis. `None` for fewer than three
/// points or a degenerate end.
fn end_axis(
    pts: &[[f32; 2]],
    width_px: f32,
    at_end: bool,
) -> Option<([f32; 2], [f32; 2], [f32; 2])> {
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let arc = profile::arc_lengths(pts);
    let total = arc[n - 1];
    let wd = width_px.max(4.0);
    let a1 = wd.min(0.25 * total);
    let a2 = (5.0 * wd).min(total);
    if a2 - a1 < 2.0 {
        return None;
    }
    let at = |s: f32| {
        let s = if at_end { total - s } else { s };
        profile::point_and_tangent(pts, &arc, s, 0.0).0
    };
    let (p1, p2) = (at(a1), at(a2));
    let end = if at_end { pts[n - 1] } else { pts[0] };
    let (dx, dy) = (p1[0] - p2[0], p1[1] - p2[1]);
    let l = (dx * dx + dy * dy).sqrt();
    if l < 1e-3 {
        return None;
    }
    let d = [dx / l, dy / l];
    let nrm = [-d[1], d[0]];
    let t = (end[0] - p1[0]) * d[0] + (end[1] - p1[1]) * d[1];
    let e = [p1[0] + t * d[0], p1[1] + t * d[1]];
    Some((e, d, nrm))
}

/// How a shaft's end meets the skin.
struct EndRamp {
    /// Length (µm) over which the core optical density rises from 20 % to
    /// 80 % of the shaft's, going inwards from the end.
    ramp_um: f64,
    /// Width of the dark core where the density is half the shaft's, over
    /// its width inside (about 1 where the shaft fades in, less at a tip's
    /// round cap).
    width_ratio: f32,
    /// Outermost point of the shaft still at 20 % of its absorbance (px).
    exit: [f32; 2],
}

/// How far beyond a traced end the shaft may still be seen before the skin
/// (µm): a faint fading exit is traced only part of the way out.
const END_REACH_UM: f32 = 80.0;

/// Core optical density along the axis across one end of a centreline
/// (density, not absorbance: a dark shaft's absorbance saturates within a
/// few µm of a fading exit, its density rises with the path): from
/// 100 µm (plus a width) inside to [`END_REACH_UM`] and 30 µm beyond the
/// end (up to the image's border), against the brighter of the two sides.
/// The shaft ends where the first run of skin (30 % of its density at
/// most) begins within `END_REACH_UM` of the traced end that is 30 µm long
/// or reaches the border. `None` when the inner profile leaves the image,
/// the shaft does not end there (still dark beyond: a crossing or a gap) or
/// shows no contrast.
fn end_ramp(
    lum: &impl profile::Intensity,
    pts: &[[f32; 2]],
    width_px: f32,
    at_end: bool,
    upp: f64,
) -> Option<EndRamp> {
    let (e, d, nrm) = end_axis(pts, width_px, at_end)?;
    let side = 0.5 * width_px + (0.5 * width_px).max(3.0) + (10.0 / upp) as f32;
    let inner = (100.0 / upp) as f32 + width_px;
    let reach = (END_REACH_UM as f64 / upp) as f32;
    let run = ((30.0 / upp) as f32).max(3.0);
    let outer = reach + run;
    let step = 0.5f32;
    let (w, h) = lum.size();
    let (w, h) = (w as f32, h as f32);
    let inside = |p: [f32; 2]| p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= w - 1.0 && p[1] <= h - 1.0;
    // The background beside a point: the brighter side (both in the
    // image: one side alone may lie on the shaft itself where it runs
    // obliquely out of the image).
    let background = |c: [f32; 2]| -> Option<f32> {
        let l1 = [c[0] + side * nrm[0], c[1] + side * nrm[1]];
        let l2 = [c[0] - side * nrm[0], c[1] - side * nrm[1]];
        if !(inside(l1) && inside(l2)) {
            return None;
        }
        let v = lum.bilinear(l1[0], l1[1]).max(lum.bilinear(l2[0], l2[1]));
        (v > 0.0).then_some(v)
    };
    let mut a = Vec::new();
    let mut s = -inner;
    // Whether the profile reached the image's border beyond the end.
    let mut clipped = false;
    while s <= outer {
        let c = [e[0] + s * d[0], e[1] + s * d[1]];
        let bg = if inside(c) { background(c) } else { None };
        let Some(bg) = bg else {
            if s < 0.0 {
                return None;
            }
            clipped = true;
            break;
        };
        let t = lum.bilinear(c[0], c[1]) / bg;
        a.push((s, -t.clamp(1e-3, 1.0).ln()));
        s += step;
    }
    // Light smoothing (±1 px).
    let m = a.len();
    let r = (1.0 / step) as usize;
    let sm: Vec<(f32, f32)> = (0..m)
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(r), (i + r).min(m - 1));
            let v = a[lo..=hi].iter().map(|x| x.1).sum::<f32>() / (hi - lo + 1) as f32;
            (a[i].0, v)
        })
        .collect();
    let mut inn: Vec<f32> = sm.iter().filter(|x| x.0 < 0.0).map(|x| x.1).collect();
    // The value of rank 9/10 in `total_cmp` order, by selection (the same
    // bits as the sorted slice's; session 26: instead of a stable sort
    // here and in `hidden_end`, −6.9 M instructions per 12 MP call at
    // 3.5 µm/px).
    if inn.is_empty() {
        return None;
    }
    let k = inn.len() * 9 / 10;
    let big = *inn.select_nth_unstable_by(k, f32::total_cmp).1;
    if big.is_nan() || big <= 0.02 {
        return None;
    }
    // Beyond the end the shaft must be gone (not a crossing or a gap): the
    // first run of skin, `run` long or up to the border (at least 2 px),
    // starting within `reach`.
    let mut start: Option<usize> = None;
    let mut skin_at = None;
    for (i, &(s, v)) in sm.iter().enumerate() {
        if s < 0.0 {
            continue;
        }
        if v <= 0.3 * big {
            let i0 = *start.get_or_insert(i);
            if s - sm[i0].0 >= run {
                skin_at = Some(i0);
                break;
            }
        } else {
            if s > reach {
                break;
            }
            start = None;
        }
    }
    if skin_at.is_none() && clipped {
        skin_at = start.filter(|&i0| sm[m - 1].0 - sm[i0].0 >= 2.0);
    }
    let skin_at = skin_at.filter(|&i0| sm[i0].0 <= reach)?;
    // Outermost crossings of 20 % and 80 %, searching inwards from the skin.
    let mut s20 = None;
    let mut s80 = None;
    for &(s, v) in sm[..skin_at].iter().rev() {
        if s20.is_none() && v >= 0.2 * big {
            s20 = Some(s);
        }
        if v >= 0.8 * big {
            s80 = Some(s);
            break;
        }
    }
    let (s20, s80) = (s20?, s80?);
    // How wide the dark core is where the density is half the shaft's,
    // against its width inside: a shaft rising out of the skin keeps its
    // width while its density fades in, a tip's round cap narrows.
    let s50 = sm[..skin_at]
        .iter()
        .rev()
        .find(|x| x.1 >= 0.5 * big)
        .map_or(s80, |x| x.0);
    let lateral = |s: f32| -> Option<f32> {
        let c = [e[0] + s * d[0], e[1] + s * d[1]];
        let bg = background(c)?;
        let od = |u: f32| {
            let v = lum.bilinear(c[0] + u * nrm[0], c[1] + u * nrm[1]) / bg;
            -v.clamp(1e-3, 1.0).ln()
        };
        let peak = od(0.0);
        if peak <= 0.0 {
            return None;
        }
        let mut ext = 0.0f32;
        for sign in [-1.0f32, 1.0] {
            let mut u = 0.0f32;
            while u < side
                && inside([c[0] + sign * u * nrm[0], c[1] + sign * u * nrm[1]])
                && od(sign * u) >= 0.5 * peak
            {
                u += 0.25;
            }
            ext += u;
        }
        Some(ext)
    };
    let width_ratio = match (lateral(s50), lateral(-0.5 * inner)) {
        (Some(a), Some(b)) if b > 0.0 => a / b,
        _ => 1.0,
    };
    Some(EndRamp {
        width_ratio,
        ramp_um: ((s20 - s80).max(0.0) as f64) * upp,
        exit: [e[0] + s20 * d[0], e[1] + s20 * d[1]],
    })
}

/// Where a shaft end that does not meet the skin (something dark lies
/// beyond it: another shaft over its exit or its tip) is hidden: going out
/// along the end's direction, the core's optical density against the skin
/// beside the shaft's inner part stays high over the cover and falls to the
/// skin's where the cover ends. The hidden end lies under the cover: its
/// midpoint (px) is returned when skin is reached within `max_um` of the
/// end and stays skin for 20 µm (a shaft that continues beyond a crossing
/// shows no skin there: `None`), and when the profile stays in the image.
fn hidden_end(
    lum: &impl profile::Intensity,
    pts: &[[f32; 2]],
    width_px: f32,
    at_end: bool,
    upp: f64,
    max_um: f64,
) -> Option<[f32; 2]> {
    let (e, d, nrm) = end_axis(pts, width_px, at_end)?;
    let side = 0.5 * width_px + (0.5 * width_px).max(3.0) + (10.0 / upp) as f32;
    let inner = (100.0 / upp) as f32 + width_px;
    let run = ((20.0 / upp) as f32).max(3.0);
    let outer = (max_um / upp) as f32 + run;
    let step = 0.5f32;
    let (w, h) = lum.size();
    let (w, h) = (w as f32, h as f32);
    let inside = |p: [f32; 2]| p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= w - 1.0 && p[1] <= h - 1.0;
    // The skin level beside the shaft's inner part and the shaft's density
    // against it.
    let mut bg = Vec::new();
    let mut core = Vec::new();
    let mut s = -inner;
    while s <= -width_px {
        let c = [e[0] + s * d[0], e[1] + s * d[1]];
        let l1 = [c[0] + side * nrm[0], c[1] + side * nrm[1]];
        let l2 = [c[0] - side * nrm[0], c[1] - side * nrm[1]];
        if !(inside(c) && inside(l1) && inside(l2)) {
            return None;
        }
        bg.push(lum.bilinear(l1[0], l1[1]).max(lum.bilinear(l2[0], l2[1])));
        core.push(lum.bilinear(c[0], c[1]));
        s += step;
    }
    if bg.len() < 4 {
        return None;
    }
    let skin = profile::median(&mut bg);
    if skin <= 0.0 {
        return None;
    }
    let mut od: Vec<f32> = core
        .iter()
        .map(|&v| -(v / skin).clamp(1e-3, 1.0).ln())
        .collect();
    // Rank 9/10 by selection, as in `end_ramp`.
    let k = od.len() * 9 / 10;
    let big = *od.select_nth_unstable_by(k, f32::total_cmp).1;
    if big.is_nan() || big <= 0.02 {
        return None;
    }
    // Out from the end: the first run of skin (density below a quarter of
    // the shaft's) `run` long.
    let mut s = 0.0f32;
    let mut start: Option<f32> = None;
    while s <= outer {
        let c = [e[0] + s * d[0], e[1] + s * d[1]];
        if !inside(c) {
            return None;
        }
        let v = -(lum.bilinear(c[0], c[1]) / skin).clamp(1e-3, 1.0).ln();
        if v < 0.25 * big {
            let s0 = *start.get_or_insert(s);
            if s - s0 >= run {
                let m = 0.5 * s0;
                return Some([e[0] + m * d[0], e[1] + m * d[1]]);
            }
        } else {
            start = None;
        }
        s += step;
    }
    None
}

/// A traced shaft's density against the skin's level
/// ([`skin_relative_absorbance`] with [`skin_mode_share`] for its width),
/// what the skin-depth test of [`rejection`] reads. A shaft seen only in
/// frame halves is read along its centreline (its core, by the frame).
fn shaft_skin_absorbance(
    input: &StageInput<'_>,
    t: &trace::Traced,
    near_hair: &Mask,
    f: usize,
    upp: f64,
    params: &HairParams,
) -> Option<f32> {
    let on_axis: Vec<profile::WidthSample>;
    let at = if t.samples.is_empty() && t.frame_halves > 0 {
        on_axis = profile::arc_lengths(&t.pts)
            .into_iter()
            .zip(&t.pts)
            .map(|(arc_px, &centre)| profile::WidthSample::at(arc_px, centre))
            .collect();
        &on_axis
    } else {
        &t.samples
    };
    let share = skin_mode_share(t.width, upp, params);
    skin_relative_absorbance(input, near_hair, f, at, upp, share)
}

/// The share of a window's non-hair pixels the skin level of
/// [`skin_relative_absorbance`] must hold (within ±0.05 OD) for a shaft of
/// `width_px`: an eighth, a quarter for a shaft narrower than the vellus
/// limit. Session 26 (branch `hvellus26`): at an eighth the level of a
/// mottled window is often a bump in its dark tail (14–21 % of the window,
/// 0.07–0.10 OD darker than its main level), and light vellus (contrast
/// 0.08–0.11 against their sides) read 0.013–0.019 against it and failed
/// the skin-depth test (whole field 2000 × 1500 px at 5.5 µm/px, seed 203:
/// three of its eight lost vellus, traced over 199–351 µm). A quarter for
/// every shaft also passed furrows and dark mottles 52–160 µm wide on the
/// hair-free scenes (`ood_sweep` `none`, false hairs 11 → 16): those are
/// skin darker than its main level, as wide as terminal hairs.
fn skin_mode_share(width_px: f32, upp: f64, params: &HairParams) -> f32 {
    if (width_px as f64 * upp) < params.vellus_max_um {
        0.25
    } else {
        0.125
    }
}

/// Median absorbance in red of a shaft's core against the local skin level
/// (1 − R_core / R_skin) over points about every 150 µm along it. The skin
/// level is the mode of ln R in a window around the point (pixels on or
/// next to detected ridges left out): the most common value is skin even
/// where bright dots, scales or glare cover a good part of the window, while
/// the median or the profile's sides are pulled up by them. `None` without
/// samples.
fn skin_relative_absorbance(
    input: &StageInput<'_>,
    near_hair: &Mask,
    f: usize,
    samples: &[profile::WidthSample],
    upp: f64,
    share: f32,
) -> Option<f32> {
    use crate::kernels::simd::prefetch;
    /// How many window rows ahead to prefetch.
    const PREFETCH_ROWS: usize = 4;
    let rgb = input.rgb;
    let (w, h) = (rgb.width, rgb.height);
    if samples.is_empty() {
        return None;
    }
    let every = ((150.0 / upp) as f32).max(1.0);
    let radius = ((300.0 / upp) as i64).max(8);
    // About 40 samples across the window (at most). The window's rows miss
    // the cache one after another, so the rows read set the cost: 60 across
    // (sessions to 16) read 57 rows per window at 3.5 µm/px, 40 read 35
    // (12 MP bench: this test 31–33 → 22–24 ms CPU of the stage's ~310),
    // with the same figures on the unseen surveys (crowded 44–50, sparse
    // 81–88, every case line identical).
    let step = ((2 * radius + 1) as usize).div_ceil(40).max(1);
    const BIN: f32 = 0.01;
    const NB: usize = 600;
    let mut hist = vec![0u32; NB];
    let mut hist4 = vec![0u32; 4 * NB];
    let mut win = vec![0u32; NB];
    // Bin of −ln R, remembered per value of R (8-bit sources have 256).
    let mut od_bins = MemoBins::new(|r: f32| ((-r.max(1e-4).ln() / BIN) as usize).min(NB - 1));
    let mut out = Vec::new();
    let mut cols: Vec<(usize, usize)> = Vec::new();
    let mut next = f32::NEG_INFINITY;
    for s in samples {
        if s.arc_px < next {
            continue;
        }
        next = s.arc_px + every;
        let c = s.centre;
        let (cx, cy) = (c[0].round() as i64, c[1].round() as i64);
        if cx < 0 || cy < 0 || cx >= w as i64 || cy >= h as i64 {
            continue;
        }
        // `hist4` and `hist` are all zeros here (cleared as they are
        // summed and used, below).
        let mut n = 0u32;
        // The bins filled: `hist` is zero outside `b_lo..=b_hi`.
        let (mut b_lo, mut b_hi) = (NB, 0usize);
        let (x0, x1) = (
            (cx - radius).max(0) as usize,
            ((cx + radius) as usize).min(w - 1),
        );
        let (y0, y1) = (
            (cy - radius).max(0) as usize,
            ((cy + radius) as usize).min(h - 1),
        );
        let (nw, nh) = (near_hair.width, near_hair.height);
        // The window's columns and their detection columns (the same in
        // every row).
        cols.clear();
        cols.extend((x0..=x1).step_by(step).map(|x| (x, x / f)));
        for y in (y0..=y1).step_by(step) {
            // The window's rows lie `step` image rows apart and miss the
            // cache one after another: ask for a later row's span early.
            let ya = y + PREFETCH_ROWS * step;
            if ya <= y1 {
                prefetch(&rgb.r[ya * w + x0..=ya * w + x1]);
                prefetch(&input.valid.data[ya * w + x0..=ya * w + x1]);
            }
            let vrow = &input.valid.data[y * w..(y + 1) * w];
            let rrow = &rgb.r[y * w..(y + 1) * w];
            let dy = y / f;
            // Beyond the detection plane: nothing is near hair.
            let nrow: &[bool] = if dy < nh {
                &near_hair.data[dy * nw..(dy + 1) * nw]
            } else {
                &[]
            };
            for &(x, dx) in &cols {
                if vrow[x] && !(dx < nrow.len() && nrow[dx]) {
                    // Four interleaved histograms: skin repeats a bin from
                    // pixel to pixel, and one counter would serialise.
                    let b = od_bins.bin(rrow[x]);
                    hist4[(n as usize & 3) * NB + b] += 1;
                    (b_lo, b_hi) = (b_lo.min(b), b_hi.max(b));
                    n += 1;
                }
            }
        }
        // Summed and cleared for the next point in one pass, over the bins
        // filled only (the others are zero). Session 25: clearing `hist4`
        // (and `win`, whose ends are never written) before every point took
        // 33 M of the hair stage's instructions per call at 3.5 µm/px (12 MP
        // bench, callgrind, AVX2 copy; `rep stosb`, which callgrind counts
        // per byte: about 37 MB of cached stores in 3 100 points, a
        // millisecond of CPU at most); the same output. Session 26 (branch
        // `hspeed26`): the sums, the window counts and the mode's searches
        // over the filled bins (and the five beside them) instead of all
        // 600: the same results (a count is zero wherever no filled bin lies
        // within ±5 bins, and no zero count is taken: the first maximum
        // starts at 0 and is strict, the local maximum needs `share` ≥ 3).
        if n == 0 {
            continue;
        }
        {
            let (h0, rest) = hist4.split_at_mut(NB);
            let (h1, rest) = rest.split_at_mut(NB);
            let (h2, h3) = rest.split_at_mut(NB);
            let r = b_lo..=b_hi;
            for ((((hv, a), b), c), d) in hist[r.clone()]
                .iter_mut()
                .zip(h0[r.clone()].iter_mut())
                .zip(h1[r.clone()].iter_mut())
                .zip(h2[r.clone()].iter_mut())
                .zip(h3[r].iter_mut())
            {
                *hv = *a + *b + *c + *d;
                (*a, *b, *c, *d) = (0, 0, 0, 0);
            }
        }
        if n < 30 {
            hist[b_lo..=b_hi].fill(0);
            continue;
        }
        // Skin: the darkest level that holds a good share (`share`,
        // [`skin_mode_share`]) of the non-hair pixels at a tolerance of
        // ±0.05 OD. Dots, scales and glare are brighter than skin and can
        // hold more of the window than the skin does (a scale beside the
        // point).
        // Counts within ±5 bins (0 within 5 bins of either end, and where
        // no filled bin lies within 5), as a running sum over the windows
        // `w_lo..=w_hi` that can hold a filled bin; `win[w_lo − 1]` and
        // `win[w_hi + 1]` are zeros (the others outside are not read).
        let (w_lo, w_hi) = (b_lo.max(10) - 5, (b_hi + 5).min(NB - 6));
        let mut run: u32 = hist[w_lo - 5..=w_lo + 5].iter().sum();
        win[w_lo] = run;
        for b in w_lo + 1..=w_hi {
            run = run + hist[b + 5] - hist[b - 6];
            win[b] = run;
        }
        (win[w_lo - 1], win[w_hi + 1]) = (0, 0);
        let share = (n as f32 * share) as u32;
        let mut best = (0u32, 0usize);
        for (b, &v) in win.iter().enumerate().take(w_hi + 1).skip(w_lo) {
            if v > best.0 {
                best = (v, b);
            }
        }
        for b in (w_lo..=w_hi).rev() {
            if win[b] >= share && win[b] >= win[b - 1] && win[b] >= win[b + 1] {
                best = (win[b], b);
                break;
            }
        }
        // The mean within the window of the mode.
        let (mut sw, mut sv) = (0.0f32, 0.0f32);
        for (b, &c) in hist.iter().enumerate().take(best.1 + 6).skip(best.1 - 5) {
            sw += c as f32;
            sv += c as f32 * (b as f32 + 0.5) * BIN;
        }
        hist[b_lo..=b_hi].fill(0);
        let skin_od = sv / sw.max(1.0);
        let core = sample_bilinear_rgb_r(input, c);
        let Some(core) = core else { continue };
        out.push(1.0 - (skin_od - (-core.max(1e-4).ln())).exp());
    }
    (!out.is_empty()).then(|| profile::median(&mut out))
}

/// A function of an `f32` remembered by value in a small direct-mapped
/// table: the same results as calling it, computed once per distinct input
/// (per slot).
struct MemoBins<F: Fn(f32) -> usize> {
    f: F,
    slots: Vec<(u32, u32)>,
}

impl<F: Fn(f32) -> usize> MemoBins<F> {
    const BITS: u32 = 10;
    fn new(f: F) -> Self {
        // Every slot starts as the (valid) entry of the bit pattern u32::MAX.
        let v = f(f32::from_bits(u32::MAX)) as u32;
        MemoBins {
            f,
            slots: vec![(u32::MAX, v); 1 << Self::BITS],
        }
    }
    #[inline]
    fn bin(&mut self, r: f32) -> usize {
        let k = r.to_bits();
        let i = (k.wrapping_mul(0x9E37_79B9) >> (32 - Self::BITS)) as usize;
        let slot = &mut self.slots[i];
        if slot.0 != k {
            *slot = (k, (self.f)(r) as u32);
        }
        slot.1 as usize
    }
}

fn sample_bilinear_rgb_r(input: &StageInput<'_>, c: [f32; 2]) -> Option<f32> {
    let rgb = input.rgb;
    let (w, h) = (rgb.width as f32, rgb.height as f32);
    if c[0] < 0.0 || c[1] < 0.0 || c[0] > w - 1.0 || c[1] > h - 1.0 {
        return None;
    }
    let (x0, y0) = (c[0].floor() as usize, c[1].floor() as usize);
    let (x1, y1) = ((x0 + 1).min(rgb.width - 1), (y0 + 1).min(rgb.height - 1));
    let (fx, fy) = (c[0] - x0 as f32, c[1] - y0 as f32);
    let g = |x: usize, y: usize| rgb.r[y * rgb.width + x];
    Some(
        (1.0 - fy) * ((1.0 - fx) * g(x0, y0) + fx * g(x1, y0))
            + fy * ((1.0 - fx) * g(x0, y1) + fx * g(x1, y1)),
    )
}

/// Ratio of the red to the green absorbance (1 − I/I_beside) along a
/// shaft's width samples: melanin absorbs red nearly as much as green,
/// haemoglobin hardly (a vessel's ratio is ≈ 0.1–0.2). `None` without
/// enough samples.
fn red_green_absorbance(
    input: &StageInput<'_>,
    samples: &[profile::WidthSample],
    width: f32,
) -> Option<f32> {
    let (ar, ag, n) = red_green_absorbances(input, samples, width);
    (n >= 3 && ag > 0.0).then(|| ar / ag)
}

/// Summed red and green absorbance (1 − I/I_beside, against the brighter
/// side, half a width plus half a width or 3 px off the axis) at the
/// centres of `samples` but the first and last (which give the axis'
/// direction), and the number of centres read.
fn red_green_absorbances(
    input: &StageInput<'_>,
    samples: &[profile::WidthSample],
    width: f32,
) -> (f32, f32, usize) {
    let rgb = input.rgb;
    let (w, h) = (rgb.width as f32, rgb.height as f32);
    let at = |p: &[f32], x: f32, y: f32| -> Option<f32> {
        if x < 0.0 || y < 0.0 || x > w - 1.0 || y > h - 1.0 {
            return None;
        }
        // `round_i64` gives `f32::round`'s integer without a libm call per
        // value (x and y lie in the image, or are NaN: 0 either way);
        // session 26: −9 M instructions per 12 MP call at 3.5 µm/px.
        let r = |v: f32| trace::round_i64(v) as usize;
        Some(p[r(y) * rgb.width + r(x)])
    };
    let off = 0.5 * width + (0.5 * width).max(3.0);
    let (mut ar, mut ag) = (0.0f32, 0.0f32);
    let mut n = 0;
    for k in 1..samples.len().saturating_sub(1) {
        let (a, b) = (samples[k - 1].centre, samples[k + 1].centre);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let l = (dx * dx + dy * dy).sqrt();
        if l < 1e-3 {
            continue;
        }
        let nrm = [-dy / l, dx / l];
        let c = samples[k].centre;
        let side = |sg: f32, p: &[f32]| at(p, c[0] + sg * off * nrm[0], c[1] + sg * off * nrm[1]);
        let (Some(rc), Some(gc), Some(r1), Some(r2), Some(g1), Some(g2)) = (
            at(&rgb.r, c[0], c[1]),
            at(&rgb.g, c[0], c[1]),
            side(1.0, &rgb.r),
            side(-1.0, &rgb.r),
            side(1.0, &rgb.g),
            side(-1.0, &rgb.g),
        ) else {
            continue;
        };
        let (rb, gb) = (r1.max(r2), g1.max(g2));
        if rb <= 0.0 || gb <= 0.0 {
            continue;
        }
        ar += 1.0 - rc / rb;
        ag += 1.0 - gc / gb;
        n += 1;
    }
    (ar, ag, n)
}

fn summarize(shafts: &[HairShaft], area_mm2: f64, p: &HairParams) -> HairSummary {
    let count = shafts.len();
    let area_cm2 = area_mm2 / 100.0;
    // Diameter figures over the shafts whose diameter was read on whole
    // profiles.
    let d: Vec<f64> = shafts
        .iter()
        .filter(|s| s.diameter_measured())
        .map(|s| s.diameter_um)
        .collect();
    let n = d.len();
    let mean = (n > 0).then(|| d.iter().sum::<f64>() / n as f64);
    let median = (n > 0).then(|| {
        let mut v = d.clone();
        v.sort_by(f64::total_cmp);
        if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        }
    });
    let cv = mean.filter(|_| n > 1).map(|m| {
        let var = d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        var.sqrt() / m
    });
    let frac = |f: &dyn Fn(f64) -> bool| {
        (n > 0).then(|| d.iter().filter(|&&x| f(x)).count() as f64 / n as f64)
    };
    let per_cm2 = |v: f64| (area_cm2 > 0.0).then(|| v / area_cm2);
    HairSummary {
        hair_count: Some(count),
        hair_density_per_cm2: per_cm2(count as f64),
        shaft_diameter_mean_um: mean,
        shaft_diameter_median_um: median,
        shaft_diameter_cv: cv,
        vellus_fraction: frac(&|x| x < p.vellus_max_um),
        vellus_fraction_40um: frac(&|x| x <= p.trichoscan_vellus_max_um),
        terminal_fraction: frac(&|x| x >= p.terminal_min_um),
        // Every shaft counts, an unmeasured one at the mean diameter.
        cumulative_thickness_mm_per_cm2: mean.and_then(|m| per_cm2(m * count as f64 * 1e-3)),
        hair_analysed_area_mm2: Some(area_mm2),
        hair_psf_sigma_um: None,
    }
}

#[cfg(test)]
mod tests {
    use super::profile;
    use crate::color::{linear_to_srgb, srgb_to_linear};
    use crate::image::Plane;
    use crate::kernels::gaussian_blur;
    use crate::synth::{hairs::paint_hairs, hairs::HairSceneSpec, skin, Rng, SceneSpec};

    /// Phantom → blurred, noisy, 8-bit luminance (linear).
    fn lum_phantom(
        upp: f64,
        blur: f32,
        noise: f32,
        seed: u64,
    ) -> (Plane, crate::synth::hairs::HairTruth) {
        let spec = SceneSpec {
            width: 700,
            height: 500,
            um_per_px: upp,
            seed,
            ..SceneSpec::default()
        };
        let rng = Rng::new(seed);
        let mut c = skin::paint_skin(&spec, &mut rng.fork(1));
        let hs = HairSceneSpec {
            density_per_cm2: 80.0,
            hairs_per_unit_weights: [1.0, 0.0, 0.0, 0.0],
            vellus_fraction: 0.3,
            terminal_fraction: 0.3,
            light_fraction: 0.3,
            ..HairSceneSpec::default()
        };
        let truth = paint_hairs(&mut c, &hs, &mut rng.fork(3)).unwrap();
        let mut nr = rng.fork(9);
        let mut planes = Vec::new();
        for ch in [&c.r, &c.g, &c.b] {
            let p = gaussian_blur(&Plane::from_vec(c.width, c.height, ch.clone()), blur);
            let q: Vec<f32> = p
                .data
                .iter()
                .map(|&v| {
                    let s = (linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0
                        + noise * nr.normal() as f32)
                        .round()
                        .clamp(0.0, 255.0);
                    srgb_to_linear(s / 255.0)
                })
                .collect();
            planes.push(q);
        }
        let lum: Vec<f32> = (0..planes[0].len())
            .map(|i| 0.2126 * planes[0][i] + 0.7152 * planes[1][i] + 0.0722 * planes[2][i])
            .collect();
        (Plane::from_vec(c.width, c.height, lum), truth)
    }

    /// A shaft with the given diameter, width samples and clipping.
    fn shaft(id: u32, d_um: f64, samples: usize, clipped: bool) -> super::HairShaft {
        super::HairShaft {
            id,
            centreline_px: vec![[0.0, 0.0], [100.0, 0.0]],
            length_um: 350.0,
            diameter_um: d_um,
            diameter_iqr_um: 1.0,
            width_samples: samples,
            contrast: 0.5,
            truncated: false,
            diameter_clipped: clipped,
            exit_px: None,
            class: super::classify(d_um, &super::HairParams::default()),
            pieces: 1,
        }
    }

    #[test]
    fn summary_counts_every_shaft_but_reads_diameters_only_where_measured() {
        // 20 and 60 µm measured; an 18 µm sliver clipped by the field's
        // edge and a 25 µm detection-scale estimate without profiles are
        // counted but not measured: mean 40 µm, vellus 1 of 2; cumulative
        // thickness 4 shafts × 40 µm on 2 mm² (0.02 cm²) = 8 mm/cm².
        let shafts = [
            shaft(1, 20.0, 12, false),
            shaft(2, 60.0, 30, false),
            shaft(3, 18.0, 9, true),
            shaft(4, 25.0, 0, false),
        ];
        let s = super::summarize(&shafts, 2.0, &super::HairParams::default());
        assert_eq!(s.hair_count, Some(4));
        assert!((s.hair_density_per_cm2.unwrap() - 200.0).abs() < 1e-9);
        assert!((s.shaft_diameter_mean_um.unwrap() - 40.0).abs() < 1e-9);
        assert!((s.shaft_diameter_median_um.unwrap() - 40.0).abs() < 1e-9);
        assert!((s.vellus_fraction.unwrap() - 0.5).abs() < 1e-9);
        assert!((s.vellus_fraction_40um.unwrap() - 0.5).abs() < 1e-9);
        assert!((s.cumulative_thickness_mm_per_cm2.unwrap() - 8.0).abs() < 1e-9);
        // Nothing measured: the diameter figures are absent, the count not.
        let s = super::summarize(&shafts[2..], 2.0, &super::HairParams::default());
        assert_eq!(s.hair_count, Some(2));
        assert_eq!(s.shaft_diameter_mean_um, None);
        assert_eq!(s.vellus_fraction, None);
    }

    #[test]
    #[ignore]
    fn explore_width_estimator_on_truth_centrelines() {
        for upp in [2.0, 3.5, 5.5] {
            for blur in [0.7f32, 1.2] {
                let (lum, truth) = lum_phantom(upp, blur, 2.0, 5 + upp as u64);
                let mut errs = Vec::new();
                for s in truth
                    .shafts
                    .iter()
                    .filter(|s| s.counted && s.crosses.is_empty())
                {
                    let pts: Vec<[f32; 2]> = s
                        .centreline_px
                        .iter()
                        .map(|p| [p[0] as f32, p[1] as f32])
                        .collect();
                    let wg = (s.diameter_um / upp) as f32;
                    let mut out = Vec::new();
                    profile::measure(
                        &lum,
                        &pts,
                        wg,
                        2.0,
                        wg.max(3.0) + 50.0 / upp as f32,
                        &|x, y| x < 0.0 || y < 0.0 || x > 699.0 || y > 499.0,
                        Some(0.7),
                        &mut out,
                    );
                    if out.len() < 5 {
                        continue;
                    }
                    let mut wv: Vec<f32> = out.iter().map(|o| o.width_px).collect();
                    let m = profile::median(&mut wv) as f64 * upp;
                    errs.push((s.diameter_um, m - s.diameter_um, s.light, wg));
                }
                let big: Vec<_> = errs.iter().filter(|e| e.3 >= 4.0).collect();
                let mae = big.iter().map(|e| e.1.abs()).sum::<f64>() / big.len() as f64;
                let bias = big.iter().map(|e| e.1).sum::<f64>() / big.len() as f64;
                println!(
                    "upp {upp} blur {blur}: n {} mae {mae:.2} bias {bias:.2}",
                    big.len()
                );
                for e in &errs {
                    println!(
                        "   d {:.1} err {:+.2} light {} wpx {:.1}",
                        e.0, e.1, e.2, e.3
                    );
                }
            }
        }
    }
}
