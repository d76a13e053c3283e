//! `analyze()`: runs the stages on one image and builds an [`Analysis`].
//!
//! For many images, [`analyze_with`] and an [`AnalysisScratch`] kept between
//! calls (or a [`ScratchPool`] shared by threads) give the same output with
//! less work per image.

use crate::calibration::{resolve_colour, Calibration};
use crate::color::{self, ColourCalibrationKind, LinearRgb};
use crate::error::Result;
use crate::erythema::{self, ErythemaMaps, ErythemaSummary};
use crate::follicles::{self, FollicleParams, FollicleSummary};
use crate::hairs::{self, HairParams, HairScratch, HairShaft, HairStage, HairSummary};
use crate::image::{ImageRef, Labels, Mask};
use crate::quality::{self, QualityParams};
use crate::scalp_signs::{self, ScalpSignParams, ScalpSignSummary, YellowDot};
use crate::vessels::{self, Capillary, VesselParams, VesselScratch, VesselStage, VesselSummary};
use crate::warnings::Warning;
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, PoisonError};

/// All tunable parameters, by stage. Serialised into every result's provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Image quality.
    pub quality: QualityParams,
    /// Hair shafts.
    pub hairs: HairParams,
    /// Follicular units.
    pub follicles: FollicleParams,
    /// Yellow dots and scales.
    pub scalp_signs: ScalpSignParams,
    /// Capillaries.
    pub vessels: VesselParams,
}

/// What every stage gets: colour-corrected linear RGB, the scale, and the
/// analysable pixels (not glare).
#[derive(Debug, Clone, Copy)]
pub struct StageInput<'a> {
    /// Colour-corrected linear RGB.
    pub rgb: &'a LinearRgb,
    /// Micrometres per pixel.
    pub um_per_px: f64,
    /// Analysable pixels (in frame, not glare).
    pub valid: &'a Mask,
}

/// Where a result came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// trichometry crate version.
    pub version: String,
    /// Parameters used.
    pub params: Params,
    /// µm per pixel used (if any).
    pub um_per_px: Option<f64>,
    /// How colours were calibrated.
    pub colour_calibration: ColourCalibrationKind,
    /// The colour-correction matrix applied to linear RGB (identity if none).
    pub colour_matrix: [[f32; 3]; 3],
    /// Input width × height.
    pub input_size_px: [usize; 2],
    /// SHA-256 of the encoded input (when read from bytes).
    pub input_sha256: Option<String>,
    /// EXIF orientation applied while decoding.
    pub exif_orientation: u8,
}

/// The flat, per-image record: the public output contract. Field names are
/// identical in JSON keys, CSV columns and Python attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Width in pixels.
    pub width_px: usize,
    /// Height in pixels.
    pub height_px: usize,
    /// Scale used.
    pub um_per_px: Option<f64>,
    /// Area of analysable skin (not glare, hair or vessels) in mm².
    pub analysed_area_mm2: Option<f64>,
    /// Erythema figures.
    #[serde(flatten)]
    pub erythema: ErythemaSummary,
    /// How colours were calibrated.
    pub colour_calibration: ColourCalibrationKind,
    /// Mean ΔE2000 of the chart patches after correction (chart only).
    pub colour_delta_e2000_mean: Option<f64>,
    /// Fraction of glare pixels.
    pub glare_fraction: f64,
    /// Fraction of clipped pixels.
    pub clipped_fraction: f64,
    /// Focus score (higher = sharper).
    pub focus_score: f64,
    /// Hair figures.
    #[serde(flatten)]
    pub hairs: HairSummary,
    /// Follicle figures.
    #[serde(flatten)]
    pub follicles: FollicleSummary,
    /// Yellow-dot and scale figures.
    #[serde(flatten)]
    pub scalp_signs: ScalpSignSummary,
    /// Vessel figures.
    #[serde(flatten)]
    pub vessels: VesselSummary,
}

/// Per-pixel maps and masks (not serialised).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Maps {
    /// a* and EI maps (`None` for greyscale input).
    pub erythema: Option<ErythemaMaps>,
    /// Skin pixels the erythema summaries ran over.
    pub skin_mask: Mask,
    /// Glare pixels.
    pub glare_mask: Mask,
    /// Hair pixels (`None` when the hair stage did not run).
    pub hair_mask: Option<Mask>,
    /// One label per shaft.
    pub hair_labels: Option<Labels>,
    /// Scale (flake) pixels (`None` when the stage did not run).
    pub scale_mask: Option<Mask>,
    /// Yellow-dot pixels (`None` when the stage did not run).
    pub yellow_dot_mask: Option<Mask>,
    /// Vessel pixels.
    pub vessel_mask: Option<Mask>,
    /// One label per capillary.
    pub vessel_labels: Option<Labels>,
}

/// The result of [`analyze`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The flat record.
    #[serde(flatten)]
    pub summary: Summary,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// Provenance.
    pub provenance: Provenance,
    /// Hair shafts.
    pub hairs: Vec<HairShaft>,
    /// Capillaries.
    pub capillaries: Vec<Capillary>,
    /// Yellow dots.
    pub yellow_dots: Vec<YellowDot>,
    /// Maps and masks.
    #[serde(skip)]
    pub maps: Maps,
}

/// Analyse one image.
///
/// Errors on invalid calibration or parameters, and on a colour reference
/// that cannot be used; a greyscale image is analysed without colour measures.
/// For many images, [`analyze_with`] (or a [`ScratchPool`]) gives the same
/// result faster.
pub fn analyze<'a>(
    image: impl Into<ImageRef<'a>>,
    calibration: &Calibration,
    params: &Params,
) -> Result<Analysis> {
    run(image.into(), calibration, params, None)
}

/// [`analyze`] working in the buffers of `scratch`, kept by the caller
/// between images (see [`AnalysisScratch`]). The result is the same as
/// [`analyze`]'s, bit for bit, whatever the scratch held before: images of
/// any size and scale may follow each other, and a call that returned an
/// error (or panicked) leaves the scratch usable.
///
/// ```
/// # use trichometry::analysis::{analyze, analyze_with, AnalysisScratch};
/// # use trichometry::{Calibration, Image, Params, Samples};
/// let image = Image::new(64, 48, 3, Samples::U8(vec![150; 64 * 48 * 3])).unwrap();
/// let cal = Calibration::with_um_per_px(3.5).unwrap();
/// let params = Params::default();
/// let mut scratch = AnalysisScratch::new();
/// for _ in 0..2 {
///     let a = analyze_with(&image, &cal, &params, &mut scratch).unwrap();
///     assert_eq!(a, analyze(&image, &cal, &params).unwrap());
///     // Done with the masks: their memory serves the next image.
///     scratch.recycle(a);
/// }
/// assert!(scratch.resident_bytes() > 0);
/// ```
pub fn analyze_with<'a>(
    image: impl Into<ImageRef<'a>>,
    calibration: &Calibration,
    params: &Params,
    scratch: &mut AnalysisScratch,
) -> Result<Analysis> {
    run(image.into(), calibration, params, Some(scratch))
}

/// Working memory of [`analyze_with`] that a caller analysing many images
/// keeps between calls: the linear RGB planes, the hair stage's planes (a
/// [`HairScratch`], whose docs list them), the vessel stage's (a
/// [`VesselScratch`]) and, once a result is handed back with
/// [`AnalysisScratch::recycle`], its erythema maps, hair mask and labels,
/// and vessel mask and labels. Without it these are allocated, faulted in
/// and zeroed on every call; the other stages allocate as in [`analyze`].
/// The output does not depend on what the scratch holds.
///
/// Resident memory ([`AnalysisScratch::resident_bytes`]): none until first
/// used; after an image of `w × h` pixels, about `16 w h + 25 w h / f²`
/// bytes (`f`, the hair detection factor: 2 at 3.5 µm/px, 3 at 2 µm/px):
/// 267 MB after a 12 MP image at 3.5 µm/px (144 MB of linear RGB, 48 MB of
/// luminance, 75 MB of hair detection planes), plus 13 bytes per pixel
/// once a result is recycled (156 MB at 12 MP: erythema maps 96, hair
/// labels 48, hair mask 12), so about 420 MB at 12 MP. Buffers grow to the
/// largest image seen (the linear planes take each image's size) and are
/// freed when the scratch is dropped. The vessel stage adds about
/// `37 w h / f²` bytes (`f`, its coarse factor: 3 at 3.5 µm/px; 58 MB at
/// 12 MP) and 5 bytes per pixel once a result is recycled (60 MB at
/// 12 MP: vessel labels 48, mask 12). Not shared between threads: one per
/// thread, or a [`ScratchPool`].
///
/// Measured on a 2-core machine under load (batch CLI, 7 JPEG phantoms of
/// 12 MP, 2 threads): minor page faults 302–358 k → 263–274 k per batch,
/// peak RSS 1.06–1.19 GB → 1.41–1.47 GB (two scratches kept); wall and CPU
/// time changed less than the load's noise.
#[derive(Default)]
pub struct AnalysisScratch {
    hairs: HairScratch,
    vessels: VesselScratch,
    rgb: LinearRgb,
    erythema: ErythemaMaps,
}

impl std::fmt::Debug for AnalysisScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalysisScratch")
            .field("resident_bytes", &self.resident_bytes())
            .finish()
    }
}

impl AnalysisScratch {
    /// An empty scratch (nothing allocated yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held between calls.
    pub fn resident_bytes(&self) -> usize {
        let rgb = [&self.rgb.r, &self.rgb.g, &self.rgb.b];
        let ery = [&self.erythema.a_star, &self.erythema.erythema_index];
        self.hairs.resident_bytes()
            + self.vessels.resident_bytes()
            + 4 * rgb.iter().map(|p| p.capacity()).sum::<usize>()
            + 4 * ery.iter().map(|p| p.data.capacity()).sum::<usize>()
    }

    /// Hand back a result the caller is done with (after writing its masks,
    /// say): its erythema maps, hair and vessel masks and label images
    /// become the next call's buffers instead of fresh memory. The rest of
    /// it is dropped.
    pub fn recycle(&mut self, analysis: Analysis) {
        let maps = analysis.maps;
        if let Some(e) = maps.erythema {
            self.erythema = e;
        }
        if let (Some(mask), Some(labels)) = (maps.hair_mask, maps.hair_labels) {
            self.hairs.recycle(HairStage {
                mask,
                labels,
                ..HairStage::default()
            });
        }
        if let (Some(mask), Some(labels)) = (maps.vessel_mask, maps.vessel_labels) {
            self.vessels.recycle(VesselStage {
                mask,
                labels,
                ..VesselStage::default()
            });
        }
    }
}

/// A set of [`AnalysisScratch`]es that threads share: each call takes an
/// idle scratch (or makes one), runs without holding any lock, and puts the
/// scratch back. So each thread of a batch keeps reusing one, threads never
/// wait for each other, and two calls never share a scratch. It holds at
/// most as many scratches as calls ran at once (each as resident as one
/// [`AnalysisScratch`]); [`ScratchPool::clear`] frees them.
#[derive(Debug, Default)]
pub struct ScratchPool {
    idle: Mutex<Vec<AnalysisScratch>>,
}

impl ScratchPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `f` with a scratch of the pool. A scratch whose call panicked is
    /// dropped, not returned.
    pub fn with<R>(&self, f: impl FnOnce(&mut AnalysisScratch) -> R) -> R {
        let taken = self.idle_list().pop();
        let mut scratch = taken.unwrap_or_default();
        let out = f(&mut scratch);
        self.idle_list().push(scratch);
        out
    }

    /// [`analyze_with`] on a scratch of the pool; the same result as [`analyze`].
    pub fn analyze<'a>(
        &self,
        image: impl Into<ImageRef<'a>>,
        calibration: &Calibration,
        params: &Params,
    ) -> Result<Analysis> {
        let image = image.into();
        self.with(|s| analyze_with(image, calibration, params, s))
    }

    /// Scratches idle in the pool.
    pub fn idle(&self) -> usize {
        self.idle_list().len()
    }

    /// Bytes held by the idle scratches.
    pub fn resident_bytes(&self) -> usize {
        self.idle_list()
            .iter()
            .map(AnalysisScratch::resident_bytes)
            .sum()
    }

    /// Drop the idle scratches (their memory is freed).
    pub fn clear(&self) {
        let dropped = std::mem::take(&mut *self.idle_list());
        drop(dropped);
    }

    /// The idle list. The lock is held only to push or pop, which cannot
    /// leave the list inconsistent, so a poisoned lock is still usable.
    fn idle_list(&self) -> std::sync::MutexGuard<'_, Vec<AnalysisScratch>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pipeline; the hair and vessel stages work in `scratch` when there
/// is one.
fn run(
    image: ImageRef<'_>,
    calibration: &Calibration,
    params: &Params,
    scratch: Option<&mut AnalysisScratch>,
) -> Result<Analysis> {
    calibration.validate()?;
    let mut warnings = Vec::new();
    if image.meta.had_alpha {
        warnings.push(Warning::AlphaDropped);
    }
    let mut scratch = scratch;
    // The linear planes: in the scratch's buffers when there is one (they
    // go back to it at the end).
    let mut rgb = match scratch.as_deref_mut() {
        Some(s) => {
            let mut rgb = std::mem::take(&mut s.rgb);
            color::to_linear_into(&image, &mut rgb)?;
            rgb
        }
        None => color::to_linear(&image)?,
    };
    // Glare and clipping are sensor facts: assess them before correction.
    let q = quality::assess(&rgb, &params.quality);
    // Errors (ColourRequired) when a colour reference is asked for on a
    // greyscale image; identity for `ColourReference::None`.
    let correction = resolve_colour(&calibration.colour, &rgb)?;
    if rgb.is_colour {
        correction.apply(&mut rgb);
    } else {
        warnings.push(Warning::Greyscale);
    }
    match correction.kind {
        ColourCalibrationKind::None if rgb.is_colour => warnings.push(Warning::UncalibratedColour),
        ColourCalibrationKind::Estimated => warnings.push(Warning::EstimatedColour),
        _ => {}
    }
    warnings.extend(correction.warnings.iter().copied());

    warnings.extend(q.warnings.iter().copied());
    // Analysable: not glare, and not the colour reference (chart, grey card)
    // when it lies in the analysed image.
    let reference_mask = correction.exclusion_mask(rgb.width, rgb.height);
    let valid = Mask {
        width: rgb.width,
        height: rgb.height,
        data: match &reference_mask {
            None => q.glare_mask.data.iter().map(|&g| !g).collect(),
            Some(r) => {
                let g = &q.glare_mask.data;
                g.iter().zip(&r.data).map(|(&g, &r)| !(g | r)).collect()
            }
        },
    };

    let (w, h) = (rgb.width, rgb.height);
    let mut maps = Maps::default();
    let mut hair_summary = HairSummary::default();
    let mut follicle_summary = FollicleSummary::default();
    let mut vessel_summary = VesselSummary::default();
    let mut sign_summary = ScalpSignSummary::default();
    let mut yellow_dots = Vec::new();
    let mut shafts = Vec::new();
    let mut capillaries = Vec::new();
    // Skin: the valid pixels, less hair, scale and vessels once the stages ran.
    let mut skin = None;

    if let Some(um_per_px) = calibration.um_per_px {
        let input = StageInput {
            rgb: &rgb,
            um_per_px,
            valid: &valid,
        };
        // Without a kept scratch the plain stage frees its planes early
        // (a lower peak); the output is the same.
        let hair = match scratch.as_deref_mut() {
            Some(s) => hairs::detect_hairs_with(&input, &params.hairs, &mut s.hairs)?,
            None => hairs::detect_hairs(&input, &params.hairs)?,
        };
        let fol = follicles::detect_follicles(&input, &hair, &params.follicles)?;
        let signs = if rgb.is_colour {
            Some(scalp_signs::detect_scalp_signs(
                &input,
                Some(&hair.mask),
                &params.scalp_signs,
            )?)
        } else {
            None
        };
        let ves = if rgb.is_colour {
            let hm = Some(&hair.mask);
            Some(match scratch.as_deref_mut() {
                Some(s) => {
                    vessels::detect_vessels_with(&input, hm, &params.vessels, &mut s.vessels)?
                }
                None => vessels::detect_vessels(&input, hm, &params.vessels)?,
            })
        } else {
            None
        };
        // One pass, branch-free per pixel.
        let mut data: Vec<bool> = valid
            .data
            .iter()
            .zip(&hair.mask.data)
            .map(|(&v, &hm)| v & !hm)
            .collect();
        if let Some(sg) = &signs {
            for (s, &sm) in data.iter_mut().zip(&sg.scale_mask.data) {
                *s &= !sm;
            }
        }
        if let Some(v) = &ves {
            for (s, &vm) in data.iter_mut().zip(&v.mask.data) {
                *s &= !vm;
            }
        }
        skin = Some(Mask {
            width: w,
            height: h,
            data,
        });
        hair_summary = hair.summary;
        shafts = hair.shafts;
        maps.hair_mask = Some(hair.mask);
        maps.hair_labels = Some(hair.labels);
        follicle_summary = fol.summary;
        if let Some(sg) = signs {
            sign_summary = sg.summary;
            yellow_dots = sg.yellow_dots;
            maps.scale_mask = Some(sg.scale_mask);
            maps.yellow_dot_mask = Some(sg.yellow_dot_mask);
        }
        if let Some(v) = ves {
            vessel_summary = v.summary;
            capillaries = v.capillaries;
            maps.vessel_mask = Some(v.mask);
            maps.vessel_labels = Some(v.labels);
        }
    } else {
        warnings.push(Warning::NoScale);
    }

    let skin = skin.unwrap_or(valid);
    maps.glare_mask = q.glare_mask;
    let erythema_summary = if rgb.is_colour {
        let m = match scratch.as_deref_mut() {
            Some(s) => {
                let mut m = std::mem::take(&mut s.erythema);
                erythema::erythema_maps_into(&rgb, &mut m);
                m
            }
            None => erythema::erythema_maps(&rgb),
        };
        let s = erythema::summarize(&m, &skin);
        maps.erythema = Some(m);
        s
    } else {
        ErythemaSummary::default()
    };
    let analysed_area_mm2 = calibration
        .um_per_px
        .map(|s| skin.count() as f64 * s * s * 1e-6);
    maps.skin_mask = skin;
    if let Some(s) = scratch {
        s.rgb = rgb;
    }

    Ok(Analysis {
        summary: Summary {
            width_px: w,
            height_px: h,
            um_per_px: calibration.um_per_px,
            analysed_area_mm2,
            erythema: erythema_summary,
            colour_calibration: correction.kind,
            colour_delta_e2000_mean: correction.delta_e2000_mean,
            glare_fraction: q.glare_fraction,
            clipped_fraction: q.clipped_fraction,
            focus_score: q.focus_score,
            hairs: hair_summary,
            follicles: follicle_summary,
            scalp_signs: sign_summary,
            vessels: vessel_summary,
        },
        warnings,
        provenance: Provenance {
            version: env!("CARGO_PKG_VERSION").to_string(),
            params: params.clone(),
            um_per_px: calibration.um_per_px,
            colour_calibration: correction.kind,
            colour_matrix: correction.matrix,
            input_size_px: [w, h],
            input_sha256: image.meta.sha256.clone(),
            exif_orientation: image.meta.exif_orientation,
        },
        hairs: shafts,
        capillaries,
        yellow_dots,
        maps,
    })
}
