//! Vessels under the epidermis in phantoms.

use super::{Canvas, Rng};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// What vessels to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VesselSceneSpec {}

/// Vessel ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VesselTruth {}

/// Paint vessels on the canvas.
pub fn paint_vessels(
    _canvas: &mut Canvas,
    _spec: &VesselSceneSpec,
    _rng: &mut Rng,
) -> Result<VesselTruth> {
    Ok(VesselTruth::default())
}
