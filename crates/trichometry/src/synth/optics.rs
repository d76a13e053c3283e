//! Optics: what the dermatoscope and camera do to the scene, in this order:
//! blur (Gaussian PSF) → vignetting → colour cast and exposure (a 3×3
//! matrix in linear RGB and a gain) → specular glare (white light added) →
//! sensor noise (Poisson–Gaussian) → clipping → 8-bit sRGB quantisation →
//! optional JPEG round trip.
//!
//! `OpticsSpec::default()` is a clean camera: none of these nuisances.

use super::{Canvas, Rng};
use crate::color::linear_to_srgb;
use crate::error::{Error, Result};
use crate::image::{Image, Mask, Samples};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Poisson–Gaussian sensor noise, in electrons.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorNoise {
    /// Electrons collected at linear value 1 (full well); shot noise is
    /// √electrons (normal approximation of the Poisson law).
    pub full_well: f32,
    /// Read noise, electrons (standard deviation).
    pub read_noise: f32,
}

/// Camera and dermatoscope optics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpticsSpec {
    /// Gaussian PSF σ in µm (0 = sharp).
    pub blur_sigma_um: f64,
    /// Relative light loss at the image corners (0 = none; 0.3 = the corners
    /// get 70 %), falling off as r².
    pub vignetting: f32,
    /// Colour cast: 3×3 matrix on linear RGB column vectors (identity = none).
    pub colour_matrix: [[f32; 3]; 3],
    /// Exposure gain on linear values (1 = none).
    pub exposure: f32,
    /// Number of specular glare spots.
    pub glare_spots: usize,
    /// Typical glare spot radius, µm (each spot: 0.6–1.4× this, elliptical).
    pub glare_radius_um: f64,
    /// Sensor noise (`None` = noiseless).
    pub noise: Option<SensorNoise>,
    /// JPEG quality 1–100 for a round trip through the encoder (`None` = no JPEG).
    pub jpeg_quality: Option<u8>,
}

/// The identity colour matrix.
pub const IDENTITY: [[f32; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

impl Default for OpticsSpec {
    fn default() -> Self {
        OpticsSpec {
            blur_sigma_um: 0.0,
            vignetting: 0.0,
            colour_matrix: IDENTITY,
            exposure: 1.0,
            glare_spots: 0,
            glare_radius_um: 60.0,
            noise: None,
            jpeg_quality: None,
        }
    }
}

impl OpticsSpec {
    /// A typical dermatoscope photo: slight blur, mild vignetting, a few
    /// glare spots, sensor noise and JPEG at quality 90; no colour cast.
    pub fn realistic() -> Self {
        OpticsSpec {
            blur_sigma_um: 2.0,
            vignetting: 0.15,
            glare_spots: 4,
            glare_radius_um: 60.0,
            noise: Some(SensorNoise {
                full_well: 4000.0,
                read_noise: 6.0,
            }),
            jpeg_quality: Some(90),
            ..OpticsSpec::default()
        }
    }

    /// The same optics with a colour cast and an exposure gain.
    pub fn with_cast(mut self, matrix: [[f32; 3]; 3], exposure: f32) -> Self {
        self.colour_matrix = matrix;
        self.exposure = exposure;
        self
    }
}

/// Separable Gaussian blur of one plane, clamp-to-edge (phantoms only; the
/// analysis uses `kernels`).
/// The optics' blur: the shared kernel, on a bare channel buffer.
fn gaussian_blur(p: &[f32], w: usize, h: usize, sigma: f64) -> Vec<f32> {
    let plane = crate::image::Plane {
        width: w,
        height: h,
        data: p.to_vec(),
    };
    crate::kernels::gaussian_blur(&plane, sigma as f32).data
}

/// Glare light added per pixel; spots avoid the `avoid` quadrilaterals.
fn glare_field(
    w: usize,
    h: usize,
    um_per_px: f64,
    spec: &OpticsSpec,
    avoid: &[[[f64; 2]; 4]],
    rng: &mut Rng,
) -> Vec<f32> {
    let mut g = vec![0f32; w * h];
    if spec.glare_spots == 0 {
        return g;
    }
    let avoid_mask = crate::calibration::polygons_mask(w, h, avoid);
    let edge = 1.5f64; // px, σ of the soft halo
    for _ in 0..spec.glare_spots {
        let rad = (spec.glare_radius_um / um_per_px * rng.range(0.6, 1.4)).max(1.0);
        let aspect = rng.range(1.0, 2.0);
        let angle = rng.range(0.0, std::f64::consts::PI);
        let reach = rad * aspect + 6.0 * edge;
        // Rejection: keep the spot (with its halo) off the references.
        let mut centre = None;
        for _ in 0..100 {
            let c = [rng.range(0.0, w as f64), rng.range(0.0, h as f64)];
            let clash = (0..=8).any(|k| {
                let t = k as f64 * std::f64::consts::TAU / 8.0;
                let (x, y) = (c[0] + reach * t.cos(), c[1] + reach * t.sin());
                let (xi, yi) = (x.clamp(0.0, (w - 1) as f64), y.clamp(0.0, (h - 1) as f64));
                avoid_mask.get(xi as usize, yi as usize)
            }) || avoid_mask.get(c[0] as usize, c[1] as usize);
            if !clash {
                centre = Some(c);
                break;
            }
        }
        let Some([cx, cy]) = centre else { continue };
        let (sa, ca) = angle.sin_cos();
        let x0 = (cx - reach).floor().max(0.0) as usize;
        let x1 = ((cx + reach).ceil() as usize).min(w);
        let y0 = (cy - reach).floor().max(0.0) as usize;
        let y1 = ((cy + reach).ceil() as usize).min(h);
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                let (u, v) = (ca * dx + sa * dy, -sa * dx + ca * dy);
                // Distance outside the ellipse, approximately in pixels.
                let rr = ((u / aspect).powi(2) + v * v).sqrt();
                let d = (rr - rad).max(0.0);
                let val = 2.0 * (-0.5 * (d / edge).powi(2)).exp();
                let i = y * w + x;
                g[i] = g[i].max(val as f32);
            }
        }
    }
    g
}

/// Render the canvas to an 8-bit sRGB image; returns the glare mask too
/// (pixels where the added glare light exceeds 2 % of white). Glare spots
/// keep off the `avoid` quadrilaterals (colour references).
pub fn apply(
    canvas: &Canvas,
    spec: &OpticsSpec,
    rng: &mut Rng,
    avoid: &[[[f64; 2]; 4]],
) -> Result<(Image, Mask)> {
    let (w, h) = (canvas.width, canvas.height);
    let n = w * h;
    if !(spec.blur_sigma_um >= 0.0 && spec.blur_sigma_um.is_finite()) {
        return Err(Error::param("blur_sigma_um", "must be finite and ≥ 0"));
    }
    let sigma = spec.blur_sigma_um / canvas.um_per_px;
    let (mut r, mut g, mut b) = if sigma > 0.05 {
        (
            gaussian_blur(&canvas.r, w, h, sigma),
            gaussian_blur(&canvas.g, w, h, sigma),
            gaussian_blur(&canvas.b, w, h, sigma),
        )
    } else {
        (canvas.r.clone(), canvas.g.clone(), canvas.b.clone())
    };
    let glare = glare_field(w, h, canvas.um_per_px, spec, avoid, &mut rng.fork(1));
    let noise_rng = rng.fork(2);
    let (cx, cy) = (0.5 * w as f64, 0.5 * h as f64);
    let rmax2 = cx * cx + cy * cy;
    let m = spec.colour_matrix;
    let mut out = vec![0u8; 3 * n];
    out.par_chunks_mut(3 * w)
        .zip(r.par_chunks_mut(w))
        .zip(g.par_chunks_mut(w))
        .zip(b.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, (((o, rr), gg), bb))| {
            let mut nr = noise_rng.fork(y as u64);
            for x in 0..w {
                let d2 = (x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2);
                let vig = (1.0 - spec.vignetting as f64 * d2 / rmax2) as f32;
                let v = [rr[x] * vig, gg[x] * vig, bb[x] * vig];
                let c = crate::color::mat3_mul(&m, v);
                let gl = glare[y * w + x];
                for k in 0..3 {
                    let mut val = c[k] * spec.exposure + gl;
                    if let Some(ns) = spec.noise {
                        let e = val.max(0.0) * ns.full_well;
                        let sd = (e + ns.read_noise * ns.read_noise).sqrt();
                        val = (e + sd * nr.normal() as f32) / ns.full_well;
                    }
                    o[3 * x + k] = (linear_to_srgb(val.clamp(0.0, 1.0)) * 255.0).round() as u8;
                }
            }
        });
    let out = match spec.jpeg_quality {
        Some(q) => jpeg_round_trip(&out, w, h, q)?,
        None => out,
    };
    let image = Image::new(w, h, 3, Samples::U8(out))?;
    let mask = Mask {
        width: w,
        height: h,
        data: glare.iter().map(|&v| v > 0.02).collect(),
    };
    Ok((image, mask))
}

/// Encode as JPEG at `quality` and decode back.
fn jpeg_round_trip(rgb: &[u8], w: usize, h: usize, quality: u8) -> Result<Vec<u8>> {
    if !(1..=100).contains(&quality) {
        return Err(Error::param("jpeg_quality", "must be in 1..=100"));
    }
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode(rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::Unsupported(format!("JPEG encoding of the phantom failed: {e}")))?;
    let img = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .map_err(|e| Error::Decoding(format!("JPEG round trip of the phantom failed: {e}")))?;
    Ok(img.to_rgb8().into_raw())
}
