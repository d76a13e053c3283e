//! Parallel building blocks on f32 planes and masks: Gaussian smoothing,
//! scale-normalised Hessian, morphology, connected components, distance
//! transform, thinning. Deterministic for any number of threads.

mod bilinear;
#[allow(dead_code)] // used by morphology and distance (next commits)
mod columns;
mod gaussian;
mod hessian;

pub use self::bilinear::{downsample2, sample_bilinear, upsample_to};
pub use self::gaussian::gaussian_blur;
pub use self::hessian::{
    blob_response, hessian, hessian_eigen, ridge_direction, ridge_response, BlobResponse,
    HessianPlanes, Polarity, RidgeResponse,
};
