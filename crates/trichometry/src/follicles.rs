//! Follicular units, miniaturization indices, yellow dots and scaling.

use crate::analysis::StageInput;
use crate::error::Result;
use crate::hairs::HairStage;
use crate::image::Mask;
use serde::{Deserialize, Serialize};

/// Follicle-stage parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FollicleParams {}

/// Image-level follicle figures (`None` when the stage did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FollicleSummary {
    /// Number of follicular units.
    pub follicular_unit_count: Option<usize>,
}

/// The output of the follicle stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FollicleStage {
    /// Scale (white/yellow flakes) pixels.
    pub scale_mask: Mask,
    /// Image-level figures.
    pub summary: FollicleSummary,
}

/// Group shafts into follicular units; find yellow dots and scaling.
pub fn detect_follicles(
    input: &StageInput<'_>,
    _hairs: &HairStage,
    _params: &FollicleParams,
) -> Result<FollicleStage> {
    Ok(FollicleStage {
        scale_mask: Mask::filled(input.rgb.width, input.rgb.height, false),
        ..FollicleStage::default()
    })
}
