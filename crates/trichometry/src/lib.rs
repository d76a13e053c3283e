//! trichometry: quantitative trichoscopy.
//!
//! One dermatoscope image of the scalp in, objective numbers out: capillary
//! loops, erythema (CIELAB a*, erythema index), hair shafts and follicle
//! miniaturization; two images of the same spot in, what changed.
#![deny(missing_docs)]

pub mod analysis;
pub mod calibration;
pub mod color;
pub mod compare;
pub mod deltae;
pub mod error;
pub mod erythema;
pub mod follicles;
pub mod hairs;
pub mod image;
pub mod image_io;
pub mod kernels;
pub mod quality;
pub mod scalp_signs;
pub mod synth;
#[cfg(test)]
pub(crate) mod testing;
pub mod vessels;
pub mod warnings;

pub use analysis::{
    analyze, analyze_with, Analysis, AnalysisScratch, Maps, Params, Provenance, ScratchPool,
    StageInput, Summary,
};
pub use calibration::{Calibration, ChartReference, ColourReference, NeutralReference, RectPx};
pub use color::{ColourCalibrationKind, LinearRgb};
pub use compare::{compare, compare_series, CompareParams, Comparison, Visit};
pub use error::{Error, Result};
pub use image::{Image, ImageMeta, ImageRef, Labels, Mask, Plane, Samples, SamplesRef};
pub use image_io::{decode, load};
pub use scalp_signs::{ScalpSignParams, ScalpSignSummary, YellowDot};
pub use warnings::Warning;
