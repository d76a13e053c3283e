//! Optics: what the dermatoscope and camera do to the scene.

use super::{Canvas, Rng};
use crate::color::linear_to_srgb;
use crate::error::Result;
use crate::image::{Image, Mask, Samples};
use serde::{Deserialize, Serialize};

/// Camera and dermatoscope optics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OpticsSpec {}

/// Render the canvas to an 8-bit sRGB image; returns the glare mask too.
pub fn apply(canvas: &Canvas, _spec: &OpticsSpec, _rng: &mut Rng) -> Result<(Image, Mask)> {
    let n = canvas.width * canvas.height;
    let mut out = Vec::with_capacity(3 * n);
    for i in 0..n {
        for v in [canvas.r[i], canvas.g[i], canvas.b[i]] {
            out.push((linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0).round() as u8);
        }
    }
    let image = Image::new(canvas.width, canvas.height, 3, Samples::U8(out))?;
    Ok((image, Mask::filled(canvas.width, canvas.height, false)))
}
