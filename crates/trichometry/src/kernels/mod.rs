//! Parallel building blocks on f32 planes and masks: Gaussian smoothing,
//! scale-normalised Hessian, morphology, connected components, distance
//! transform, thinning, block-median background. Deterministic for any number of threads.

mod background;
mod bilinear;
mod columns;
mod distance;
mod gaussian;
mod hessian;
mod label;
mod morphology;
mod pages;
mod paint;
pub(crate) mod simd;

/// `v` at least `n` long: grown (with zeros) when shorter, never shrunk.
/// Used for the FIR's scratch (`gaussian`) and the Hessian's buffers,
/// where the fine scales' smoothed band and the coarse scale's decimated
/// one take turns in the same buffers, and `Vec::resize` down and up again
/// zeroes the regrown part every band (`memset` from the band loop 18.2 →
/// 12.2 M instructions per 12 MP hair call at 3.5 µm/px, callgrind, one
/// thread; the rest is each task's first growth). The callers slice what
/// they use.
pub(crate) fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Images with fewer pixels than this are processed on the calling thread:
/// below it, parallel row bands cost more than the work (thinning or
/// labelling one small component per capillary). The result is the same
/// either way.
pub(crate) const SERIAL_BELOW_PX: usize = 1 << 14;
mod thin;

pub(crate) use self::background::{
    block_lowest_levels, block_median_background_interp_where, global_median,
};
pub use self::background::{block_median, block_median_background, block_medians, EmptyBlocks};
pub use self::bilinear::{
    downsample2, interpolate_from_centres, sample_bilinear, sample_bilinear_with,
    upsample_from_blocks, upsample_from_blocks_apply, upsample_to,
};
pub(crate) use self::bilinear::{lerp, CentresInterp};
pub use self::distance::distance_transform;
pub use self::gaussian::gaussian_blur;
pub(crate) use self::gaussian::{fir_for, gaussian_blur_reusing};
pub use self::hessian::{
    blob_response, hessian, hessian_eigen, ridge_and_blob_response, ridge_direction,
    ridge_or_blob_contrast, ridge_response, BlobResponse, HessianPlanes, Polarity, RidgeResponse,
};
pub(crate) use self::hessian::{
    ridge_or_blob_contrast_bands, ridge_response_reusing, RidgeBuffers, HBAND as HESSIAN_BAND_ROWS,
};
pub(crate) use self::label::{component_pixels, label_into, label_seeded_into, Components};
pub use self::label::{hysteresis, label, label_with, regions, Connectivity, RegionStats};
pub use self::morphology::{
    black_tophat, close, dilate, dilate_square, erode, max_filter, min_filter, open, white_tophat,
    Footprint,
};
pub(crate) use self::morphology::{dilate_square_rows, dilate_square_rows_into};
pub(crate) use self::pages::{reuse_len, zeroed_vec};
pub use self::paint::paint_tubes;
pub(crate) use self::paint::paint_tubes_and_mask;
pub(crate) use self::thin::thin_bit_rows;
pub use self::thin::{
    skeleton_graph, skeletonize, NodeKind, SkeletonBranch, SkeletonGraph, SkeletonNode,
};
