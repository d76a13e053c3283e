//! Capillary loops: segmentation, counting, shape classes, vessel tone.

use crate::analysis::StageInput;
use crate::error::Result;
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

/// Vessel-stage parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VesselParams {}

/// One capillary (or arborizing vessel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capillary {
    /// 1-based id, equal to its label in the label image.
    pub id: u32,
}

/// Image-level vessel figures (`None` when the stage did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VesselSummary {
    /// Dots, loops and twisted loops (arborizing vessels counted apart).
    pub capillary_count: Option<usize>,
}

/// The output of the vessel stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VesselStage {
    /// The capillaries.
    pub capillaries: Vec<Capillary>,
    /// Vessel pixels.
    pub mask: Mask,
    /// One label per capillary.
    pub labels: Labels,
    /// Image-level figures.
    pub summary: VesselSummary,
}

/// Find the capillaries. `hair_mask` (when the hair stage ran) is excluded.
pub fn detect_vessels(
    input: &StageInput<'_>,
    _hair_mask: Option<&Mask>,
    _params: &VesselParams,
) -> Result<VesselStage> {
    let (w, h) = (input.rgb.width, input.rgb.height);
    Ok(VesselStage {
        mask: Mask::filled(w, h, false),
        labels: Labels {
            width: w,
            height: h,
            data: vec![0; w * h],
            count: 0,
        },
        ..VesselStage::default()
    })
}
