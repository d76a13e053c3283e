//! Calibration: the physical scale (µm per pixel) and the colour reference.

use crate::color::ColourCalibrationKind;
use crate::error::{check_positive, Result};
use crate::image::Image;
use serde::{Deserialize, Serialize};

/// A rectangle in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RectPx {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
}

/// A 24-patch ColorChecker Classic located by its four corners.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartReference {
    /// Corner points (x, y) in pixels, clockwise, starting at the outer corner
    /// of patch 1 ("dark skin").
    pub corners_px: [[f64; 2]; 4],
    /// A separate calibration image of the same session; `None` = the chart is
    /// in the analysed image itself.
    pub image: Option<Image>,
}

/// A neutral (white or grey) reference of known CIELAB lightness.
#[derive(Debug, Clone, PartialEq)]
pub struct NeutralReference {
    /// Where the neutral patch is; `None` = the whole calibration image.
    pub rect: Option<RectPx>,
    /// The card's CIELAB L* (default 50).
    pub lightness: f64,
    /// A separate image of the card; `None` = the patch is in the analysed image.
    pub image: Option<Image>,
}

/// The colour reference, in order of preference.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ColourReference {
    /// A ColorChecker → 3×3 colour-correction matrix.
    Chart(ChartReference),
    /// A neutral patch → per-channel gains.
    Neutral(NeutralReference),
    /// Shades-of-Gray (p = 6) colour constancy, only when asked for.
    ShadesOfGray,
    /// None: measure as sRGB (D65) as it is, and say so.
    #[default]
    None,
}

impl ColourReference {
    /// The kind reported in results.
    pub fn kind(&self) -> ColourCalibrationKind {
        match self {
            ColourReference::Chart(_) => ColourCalibrationKind::Chart,
            ColourReference::Neutral(_) => ColourCalibrationKind::ReferencePatch,
            ColourReference::ShadesOfGray => ColourCalibrationKind::Estimated,
            ColourReference::None => ColourCalibrationKind::None,
        }
    }
}

/// Everything that ties an image to physical units and true colours.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calibration {
    /// Micrometres per pixel; required for every µm, mm² and cm² figure.
    pub um_per_px: Option<f64>,
    /// Colour reference.
    pub colour: ColourReference,
}

impl Calibration {
    /// A calibration with a scale and no colour reference. Errors on NaN,
    /// zero or negative scales.
    pub fn with_um_per_px(um_per_px: f64) -> Result<Self> {
        Ok(Calibration {
            um_per_px: Some(check_positive("um_per_px", um_per_px)?),
            colour: ColourReference::None,
        })
    }

    /// Check every number in the calibration.
    pub fn validate(&self) -> Result<()> {
        if let Some(s) = self.um_per_px {
            check_positive("um_per_px", s)?;
        }
        if let ColourReference::Neutral(n) = &self.colour {
            if !(n.lightness.is_finite() && n.lightness > 0.0 && n.lightness <= 100.0) {
                return Err(crate::Error::param(
                    "reference_lightness",
                    format!("must be a CIELAB L* in (0, 100], got {}", n.lightness),
                ));
            }
        }
        if let ColourReference::Chart(c) = &self.colour {
            if c.corners_px.iter().flatten().any(|v| !v.is_finite()) {
                return Err(crate::Error::param(
                    "chart_corners",
                    "corner coordinates must be finite",
                ));
            }
        }
        Ok(())
    }
}

/// A resolved colour correction, applied to linear RGB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourCorrection {
    /// Which reference produced it.
    pub kind: ColourCalibrationKind,
    /// 3×3 matrix applied to linear RGB column vectors (diagonal for gains).
    pub matrix: [[f32; 3]; 3],
    /// Mean ΔE2000 of the chart patches after correction (chart only).
    pub delta_e2000_mean: Option<f64>,
    /// Max ΔE2000 of the chart patches after correction (chart only).
    pub delta_e2000_max: Option<f64>,
}

impl ColourCorrection {
    /// The identity: no correction.
    pub fn identity() -> Self {
        ColourCorrection {
            kind: ColourCalibrationKind::None,
            matrix: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            delta_e2000_mean: None,
            delta_e2000_max: None,
        }
    }

    /// Apply in place to linear planes.
    pub fn apply(&self, rgb: &mut crate::color::LinearRgb) {
        if self.kind == ColourCalibrationKind::None {
            return;
        }
        let m = self.matrix;
        for i in 0..rgb.r.len() {
            let v = crate::color::mat3_mul(&m, [rgb.r[i], rgb.g[i], rgb.b[i]]);
            rgb.r[i] = v[0];
            rgb.g[i] = v[1];
            rgb.b[i] = v[2];
        }
    }
}

/// Turn a colour reference into a correction for the analysed image `rgb`
/// (linear, uncorrected).
pub fn resolve_colour(
    reference: &ColourReference,
    _rgb: &crate::color::LinearRgb,
) -> Result<ColourCorrection> {
    match reference {
        ColourReference::None => Ok(ColourCorrection::identity()),
        _ => Err(crate::Error::Unsupported(
            "colour references are not implemented yet".into(),
        )),
    }
}
