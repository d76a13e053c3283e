//! Colour references in phantoms: a rendered ColorChecker Classic and a
//! neutral grey card, painted on top of the scene (they cover the skin).

use super::Canvas;
use crate::calibration::{
    colorchecker_linear, Homography, RectPx, CHART_COLUMNS, CHART_FRAME_MARGIN, CHART_PATCH_GAP,
    CHART_ROWS,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A ColorChecker Classic in the scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChartSpec {
    /// Centre of the patch grid as fractions of the image width and height.
    pub centre: [f64; 2],
    /// Width of the patch grid as a fraction of the image width.
    pub width_fraction: f64,
    /// Rotation of the chart, degrees, clockwise on screen.
    pub rotation_deg: f64,
    /// Keystone: the right edge (patches 6–24) is shortened by this fraction
    /// (0 = a parallelogram, no perspective).
    pub keystone: f64,
    /// Linear reflectance of the chart's frame.
    pub frame_reflectance: f32,
}

impl Default for ChartSpec {
    fn default() -> Self {
        ChartSpec {
            centre: [0.5, 0.5],
            width_fraction: 0.4,
            rotation_deg: 0.0,
            keystone: 0.0,
            frame_reflectance: 0.03,
        }
    }
}

/// A neutral grey card in the scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreyCardSpec {
    /// Where it is, in pixels.
    pub rect: RectPx,
    /// Its CIELAB L* (a* = b* = 0).
    pub lightness: f32,
}

/// The four corners (clockwise from the outer corner of patch 1) of a chart
/// placed by `spec` in a `width`×`height` image.
pub fn chart_corners(spec: &ChartSpec, width: usize, height: usize) -> [[f64; 2]; 4] {
    let gw = spec.width_fraction * width as f64;
    let gh = gw * (CHART_ROWS as f64 - CHART_PATCH_GAP) / (CHART_COLUMNS as f64 - CHART_PATCH_GAP);
    let (cx, cy) = (
        spec.centre[0] * width as f64,
        spec.centre[1] * height as f64,
    );
    let k = 0.5 * spec.keystone.clamp(0.0, 0.9);
    // Unrotated, relative to the centre: TL, TR, BR, BL.
    let local = [
        [-0.5 * gw, -0.5 * gh],
        [0.5 * gw, -0.5 * gh * (1.0 - 2.0 * k)],
        [0.5 * gw, 0.5 * gh * (1.0 - 2.0 * k)],
        [-0.5 * gw, 0.5 * gh],
    ];
    let (s, c) = spec.rotation_deg.to_radians().sin_cos();
    local.map(|[x, y]| [cx + c * x - s * y, cy + s * x + c * y])
}

/// Paint a chart; returns its corners. Its frame and patches are marked
/// covered (not skin).
pub fn paint_chart(canvas: &mut Canvas, spec: &ChartSpec) -> Result<[[f64; 2]; 4]> {
    let corners = chart_corners(spec, canvas.width, canvas.height);
    let hmg = Homography::from_unit_square(&corners)
        .map_err(|e| Error::param("chart", format!("cannot place the chart: {e}")))?;
    let inv = hmg.inverse();
    let wu = CHART_COLUMNS as f64 - CHART_PATCH_GAP;
    let wv = CHART_ROWS as f64 - CHART_PATCH_GAP;
    let (mu, mv) = (CHART_FRAME_MARGIN / wu, CHART_FRAME_MARGIN / wv);
    let frame = [
        hmg.map(-mu, -mv),
        hmg.map(1.0 + mu, -mv),
        hmg.map(1.0 + mu, 1.0 + mv),
        hmg.map(-mu, 1.0 + mv),
    ];
    let refl = colorchecker_linear();
    let (w, h) = (canvas.width, canvas.height);
    let x0 = frame
        .iter()
        .map(|p| p[0])
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as usize;
    let x1 = (frame
        .iter()
        .map(|p| p[0])
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil()
        .max(0.0) as usize)
        .min(w);
    let y0 = frame
        .iter()
        .map(|p| p[1])
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as usize;
    let y1 = (frame
        .iter()
        .map(|p| p[1])
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil()
        .max(0.0) as usize)
        .min(h);
    for y in y0..y1 {
        for x in x0..x1 {
            let [u, v] = inv.map(x as f64 + 0.5, y as f64 + 0.5);
            if !(u >= -mu && u <= 1.0 + mu && v >= -mv && v <= 1.0 + mv) {
                continue;
            }
            let i = y * w + x;
            let (tu, tv) = (u * wu, v * wv);
            let (cu, cv) = (tu.floor(), tv.floor());
            let inside = tu >= 0.0
                && tv >= 0.0
                && cu < CHART_COLUMNS as f64
                && cv < CHART_ROWS as f64
                && tu - cu < 1.0 - CHART_PATCH_GAP
                && tv - cv < 1.0 - CHART_PATCH_GAP;
            let c = if inside {
                refl[cv as usize * CHART_COLUMNS + cu as usize]
            } else {
                [spec.frame_reflectance; 3]
            };
            canvas.r[i] = c[0];
            canvas.g[i] = c[1];
            canvas.b[i] = c[2];
            canvas.covered[i] = true;
        }
    }
    Ok(corners)
}

/// Paint a grey card (marked covered).
pub fn paint_grey_card(canvas: &mut Canvas, spec: &GreyCardSpec) -> Result<()> {
    let r = spec.rect;
    let fits = r.w > 0
        && r.h > 0
        && r.x.checked_add(r.w).is_some_and(|e| e <= canvas.width)
        && r.y.checked_add(r.h).is_some_and(|e| e <= canvas.height);
    if !fits {
        return Err(Error::param(
            "grey_card",
            "the card must lie inside the image",
        ));
    }
    let v = crate::color::lab_to_linear_rgb([spec.lightness, 0.0, 0.0])[1].clamp(0.0, 1.0);
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            let i = y * canvas.width + x;
            canvas.r[i] = v;
            canvas.g[i] = v;
            canvas.b[i] = v;
            canvas.covered[i] = true;
        }
    }
    Ok(())
}
