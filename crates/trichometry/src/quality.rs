//! Image quality: glare, clipping, focus.

use crate::color::LinearRgb;
use crate::image::Mask;
use crate::warnings::Warning;
use serde::{Deserialize, Serialize};

/// Quality thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityParams {
    /// Glare fraction above which [`Warning::Glare`] is raised.
    pub glare_warn_fraction: f64,
}

impl Default for QualityParams {
    fn default() -> Self {
        QualityParams {
            glare_warn_fraction: 0.05,
        }
    }
}

/// What the quality stage found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quality {
    /// Glare (specular, saturated) pixels.
    pub glare_mask: Mask,
    /// Fraction of glare pixels.
    pub glare_fraction: f64,
    /// Fraction of clipped (over- or under-exposed) pixels.
    pub clipped_fraction: f64,
    /// Focus score (higher = sharper).
    pub focus_score: f64,
    /// Warnings raised.
    pub warnings: Vec<Warning>,
}

/// Assess glare, clipping and focus.
pub fn assess(rgb: &LinearRgb, _params: &QualityParams) -> Quality {
    // Placeholder until the foundation's quality stage lands.
    Quality {
        glare_mask: Mask::filled(rgb.width, rgb.height, false),
        ..Quality::default()
    }
}
