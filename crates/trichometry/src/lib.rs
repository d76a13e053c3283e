//! trichometry: quantitative trichoscopy.
//!
//! One dermatoscope image of the scalp in, objective numbers out: capillary
//! loops, erythema (CIELAB a*, erythema index), hair shafts and follicle
//! miniaturization; two images of the same spot in, what changed.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use trichometry::{analyze, synth, Calibration, Params};
//!
//! // A phantom with exact ground truth; a file is `trichometry::load("scalp.jpg")?`.
//! let spec = synth::SceneSpec {
//!     width: 320,
//!     height: 240,
//!     um_per_px: 3.5,
//!     ..synth::SceneSpec::default()
//! };
//! let phantom = synth::render(&spec)?;
//! let calibration = Calibration::with_um_per_px(3.5)?;
//! let result = analyze(&phantom.image, &calibration, &Params::default())?;
//! let a_star = result.summary.erythema.erythema_a_star_mean.expect("a colour image");
//! assert!((a_star - phantom.truth.skin_a_star_mean).abs() < 0.5);
//! println!("{}", serde_json::to_string(&result)?); // the record, as the CLI writes it
//! # Ok(())
//! # }
//! ```
//!
//! For many images keep an [`AnalysisScratch`] per thread ([`analyze_with`])
//! or share a [`ScratchPool`]: the same results, bit for bit, with the large
//! buffers reused. Every error is one [`Error`] with a stable
//! [`kind`](Error::kind).
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
