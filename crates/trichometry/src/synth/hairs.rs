//! Hairs, yellow dots and scales in phantoms.

use super::{Canvas, Rng};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// What hairs to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HairSceneSpec {}

/// Hair ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HairTruth {}

/// Paint hairs on the canvas.
pub fn paint_hairs(
    _canvas: &mut Canvas,
    _spec: &HairSceneSpec,
    _rng: &mut Rng,
) -> Result<HairTruth> {
    Ok(HairTruth::default())
}
