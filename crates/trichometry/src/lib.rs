//! trichometry: quantitative trichoscopy.
#![deny(missing_docs)]

pub mod error;
pub mod image;
pub mod kernels;

pub use error::{Error, Result};
pub use image::{Image, ImageMeta, ImageRef, Labels, Mask, Plane, Samples, SamplesRef};
