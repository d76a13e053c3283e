//! Calibration: the physical scale (µm per pixel) and the colour reference.

use crate::color::{ColourCalibrationKind, LinearRgb};
use crate::error::{check_positive, Error, Result};
use crate::image::{Image, Mask};
use crate::warnings::Warning;
use serde::{Deserialize, Serialize};

/// A rectangle in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RectPx {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
}

/// A 24-patch ColorChecker Classic located by its four corners.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartReference {
    /// Corner points (x, y) in pixels, clockwise, starting at the outer corner
    /// of patch 1 ("dark skin").
    pub corners_px: [[f64; 2]; 4],
    /// A separate calibration image of the same session; `None` = the chart is
    /// in the analysed image itself.
    pub image: Option<Image>,
}

/// A neutral (white or grey) reference of known CIELAB lightness.
#[derive(Debug, Clone, PartialEq)]
pub struct NeutralReference {
    /// Where the neutral patch is; `None` = the whole calibration image.
    pub rect: Option<RectPx>,
    /// The card's CIELAB L* (default 50).
    pub lightness: f64,
    /// A separate image of the card; `None` = the patch is in the analysed image.
    pub image: Option<Image>,
}

/// The colour reference, in order of preference.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ColourReference {
    /// A ColorChecker → 3×3 colour-correction matrix.
    Chart(ChartReference),
    /// A neutral patch → per-channel gains.
    Neutral(NeutralReference),
    /// Shades-of-Gray (p = 6) colour constancy, only when asked for.
    ShadesOfGray,
    /// None: measure as sRGB (D65) as it is, and say so.
    #[default]
    None,
}

impl ColourReference {
    /// The kind reported in results.
    pub fn kind(&self) -> ColourCalibrationKind {
        match self {
            ColourReference::Chart(_) => ColourCalibrationKind::Chart,
            ColourReference::Neutral(_) => ColourCalibrationKind::ReferencePatch,
            ColourReference::ShadesOfGray => ColourCalibrationKind::Estimated,
            ColourReference::None => ColourCalibrationKind::None,
        }
    }
}

/// Everything that ties an image to physical units and true colours.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calibration {
    /// Micrometres per pixel; required for every µm, mm² and cm² figure.
    pub um_per_px: Option<f64>,
    /// Colour reference.
    pub colour: ColourReference,
}

impl Calibration {
    /// A calibration with a scale and no colour reference. Errors on NaN,
    /// zero or negative scales.
    pub fn with_um_per_px(um_per_px: f64) -> Result<Self> {
        Ok(Calibration {
            um_per_px: Some(check_positive("um_per_px", um_per_px)?),
            colour: ColourReference::None,
        })
    }

    /// Check every number in the calibration.
    pub fn validate(&self) -> Result<()> {
        if let Some(s) = self.um_per_px {
            check_positive("um_per_px", s)?;
        }
        if let ColourReference::Neutral(n) = &self.colour {
            if !(n.lightness.is_finite() && n.lightness > 0.0 && n.lightness <= 100.0) {
                return Err(crate::Error::param(
                    "reference_lightness",
                    format!("must be a CIELAB L* in (0, 100], got {}", n.lightness),
                ));
            }
        }
        if let ColourReference::Chart(c) = &self.colour {
            if c.corners_px.iter().flatten().any(|v| !v.is_finite()) {
                return Err(crate::Error::param(
                    "chart_corners",
                    "corner coordinates must be finite",
                ));
            }
        }
        Ok(())
    }
}

/// X-Rite ColorChecker Classic reference colours as 8-bit sRGB (D65), patch
/// 1 ("dark skin") to 24 ("black 2"), row by row (6 columns × 4 rows).
///
/// Source: X-Rite's published sRGB values for ColorChecker Classic charts
/// manufactured after November 2014 (the "new formulation"). They are used
/// as the fit target in linear sRGB and, through the D65 CIELAB conversion
/// of [`crate::color`], for the ΔE2000 quality figures.
pub const COLORCHECKER_SRGB8: [[u8; 3]; 24] = [
    [115, 82, 68],   // 1 dark skin
    [194, 150, 130], // 2 light skin
    [98, 122, 157],  // 3 blue sky
    [87, 108, 67],   // 4 foliage
    [133, 128, 177], // 5 blue flower
    [103, 189, 170], // 6 bluish green
    [214, 126, 44],  // 7 orange
    [80, 91, 166],   // 8 purplish blue
    [193, 90, 99],   // 9 moderate red
    [94, 60, 108],   // 10 purple
    [157, 188, 64],  // 11 yellow green
    [224, 163, 46],  // 12 orange yellow
    [56, 61, 150],   // 13 blue
    [70, 148, 73],   // 14 green
    [175, 54, 60],   // 15 red
    [231, 199, 31],  // 16 yellow
    [187, 86, 149],  // 17 magenta
    [8, 133, 161],   // 18 cyan
    [243, 243, 242], // 19 white 9.5
    [200, 200, 200], // 20 neutral 8
    [160, 160, 160], // 21 neutral 6.5
    [122, 122, 121], // 22 neutral 5
    [85, 85, 85],    // 23 neutral 3.5
    [52, 52, 52],    // 24 black 2
];

/// Columns of the ColorChecker Classic patch grid.
pub const CHART_COLUMNS: usize = 6;
/// Rows of the ColorChecker Classic patch grid.
pub const CHART_ROWS: usize = 4;
/// Gap between neighbouring patches as a fraction of the patch pitch. The
/// sampled window (the central half of each patch) tolerates a wrong value
/// here of about ±0.1.
pub const CHART_PATCH_GAP: f64 = 0.15;
/// Margin around the patch grid, in patch pitches, that is excluded from the
/// analysis when the chart is in the analysed image (the chart's black frame).
pub const CHART_FRAME_MARGIN: f64 = 0.5;
/// Fraction of each patch's width and height that is sampled, centred.
pub const CHART_SAMPLE_FRACTION: f64 = 0.5;

/// Linear-sRGB reference reflectances of the 24 patches.
pub fn colorchecker_linear() -> [[f32; 3]; 24] {
    let mut out = [[0f32; 3]; 24];
    for (o, s) in out.iter_mut().zip(COLORCHECKER_SRGB8.iter()) {
        for k in 0..3 {
            o[k] = crate::color::srgb_to_linear(s[k] as f32 / 255.0);
        }
    }
    out
}

/// A projective map (homography) from chart coordinates (u, v) ∈ [0, 1]²
/// to image pixels, u along the 6 columns (patch 1 → patch 6), v along the 4
/// rows (patch 1 → patch 19).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography {
    /// Row-major 3×3 matrix H, (x, y, w)ᵀ = H·(u, v, 1)ᵀ.
    pub h: [f64; 9],
}

impl Homography {
    /// The homography taking the unit square's corners (0,0), (1,0), (1,1),
    /// (0,1) to `corners`, which must form a convex quadrilateral, clockwise
    /// on screen (x right, y down).
    pub fn from_unit_square(corners: &[[f64; 2]; 4]) -> Result<Self> {
        if corners.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::Calibration(
                "chart corners must be finite numbers".into(),
            ));
        }
        let mut signs = [0f64; 4];
        for i in 0..4 {
            let p = corners[i];
            let q = corners[(i + 1) % 4];
            let r = corners[(i + 2) % 4];
            let e1 = [q[0] - p[0], q[1] - p[1]];
            let e2 = [r[0] - q[0], r[1] - q[1]];
            signs[i] = e1[0] * e2[1] - e1[1] * e2[0];
        }
        if signs.iter().all(|&s| s < 0.0) {
            return Err(Error::Calibration(
                "chart corners are counter-clockwise; give them clockwise (x right, y down) \
                 starting at the outer corner of patch 1 (dark skin)"
                    .into(),
            ));
        }
        if !signs.iter().all(|&s| s > 0.0) {
            return Err(Error::Calibration(
                "chart corners do not form a convex quadrilateral (degenerate, \
                 self-intersecting or repeated points)"
                    .into(),
            ));
        }
        let [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = *corners;
        let (dx1, dx2, dx3) = (x1 - x2, x3 - x2, x0 - x1 + x2 - x3);
        let (dy1, dy2, dy3) = (y1 - y2, y3 - y2, y0 - y1 + y2 - y3);
        let det = dx1 * dy2 - dx2 * dy1;
        let (g, h) = if det.abs() < 1e-12 {
            (0.0, 0.0)
        } else {
            ((dx3 * dy2 - dx2 * dy3) / det, (dx1 * dy3 - dx3 * dy1) / det)
        };
        Ok(Homography {
            h: [
                x1 - x0 + g * x1,
                x3 - x0 + h * x3,
                x0,
                y1 - y0 + g * y1,
                y3 - y0 + h * y3,
                y0,
                g,
                h,
                1.0,
            ],
        })
    }

    /// Map (u, v) to (x, y).
    #[inline]
    pub fn map(&self, u: f64, v: f64) -> [f64; 2] {
        let h = &self.h;
        let w = h[6] * u + h[7] * v + h[8];
        [
            (h[0] * u + h[1] * v + h[2]) / w,
            (h[3] * u + h[4] * v + h[5]) / w,
        ]
    }

    /// The inverse map (image → chart coordinates).
    pub fn inverse(&self) -> Homography {
        let m = &self.h;
        let c = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        // Scale is irrelevant for a homography; normalise for readability.
        let s = if c[8].abs() > 1e-300 { c[8] } else { 1.0 };
        Homography {
            h: c.map(|v| v / s),
        }
    }
}

/// Chart coordinates of a patch window: (u0, v0, u1, v1) of the central
/// `fraction` of patch `index` (0-based, row-major), or of the whole patch
/// for `fraction` = 1.
pub fn chart_patch_window(index: usize, fraction: f64) -> [f64; 4] {
    let (col, row) = (
        (index % CHART_COLUMNS) as f64,
        (index / CHART_COLUMNS) as f64,
    );
    let s = 1.0 - CHART_PATCH_GAP;
    let wu = CHART_COLUMNS as f64 - CHART_PATCH_GAP;
    let wv = CHART_ROWS as f64 - CHART_PATCH_GAP;
    let (cu, cv) = ((col + 0.5 * s) / wu, (row + 0.5 * s) / wv);
    let (hu, hv) = (0.5 * s * fraction / wu, 0.5 * s * fraction / wv);
    [cu - hu, cv - hv, cu + hu, cv + hv]
}

/// The chart including its frame ([`CHART_FRAME_MARGIN`]) as an image
/// quadrilateral: what the analysis must leave out.
pub fn chart_frame_polygon(corners: &[[f64; 2]; 4]) -> Result<[[f64; 2]; 4]> {
    let hmg = Homography::from_unit_square(corners)?;
    let mu = CHART_FRAME_MARGIN / (CHART_COLUMNS as f64 - CHART_PATCH_GAP);
    let mv = CHART_FRAME_MARGIN / (CHART_ROWS as f64 - CHART_PATCH_GAP);
    Ok([
        hmg.map(-mu, -mv),
        hmg.map(1.0 + mu, -mv),
        hmg.map(1.0 + mu, 1.0 + mv),
        hmg.map(-mu, 1.0 + mv),
    ])
}

/// Rasterise convex quadrilaterals: pixels whose centre (x + ½, y + ½) lies
/// inside any of them.
pub fn polygons_mask(width: usize, height: usize, polys: &[[[f64; 2]; 4]]) -> Mask {
    let mut m = Mask::filled(width, height, false);
    for poly in polys {
        let xs = poly.iter().map(|p| p[0]);
        let ys = poly.iter().map(|p| p[1]);
        let x0 = xs.clone().fold(f64::INFINITY, f64::min).floor().max(0.0) as usize;
        let x1 = (xs.fold(f64::NEG_INFINITY, f64::max).ceil().max(0.0) as usize).min(width);
        let y0 = ys.clone().fold(f64::INFINITY, f64::min).floor().max(0.0) as usize;
        let y1 = (ys.fold(f64::NEG_INFINITY, f64::max).ceil().max(0.0) as usize).min(height);
        // Orientation-agnostic convex test: all edge cross products of one sign.
        for y in y0..y1 {
            for x in x0..x1 {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let mut pos = true;
                let mut neg = true;
                for i in 0..4 {
                    let a = poly[i];
                    let b = poly[(i + 1) % 4];
                    let c = (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]);
                    pos &= c >= 0.0;
                    neg &= c <= 0.0;
                }
                if pos || neg {
                    m.data[y * width + x] = true;
                }
            }
        }
    }
    m
}

/// A robust per-channel summary of sampled pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PatchSample {
    /// Interquartile mean per channel (linear).
    mean: [f64; 3],
    /// Fraction of pixels with a channel ≥ [`CLIP_LEVEL`].
    clipped: f64,
    /// Number of pixels.
    count: usize,
}

/// Linear value at or above which a sample counts as clipped (8-bit 253).
const CLIP_LEVEL: f32 = 0.985;

/// Interquartile mean: the mean of the central half of the sorted values —
/// robust to specks of glare or dust, efficient on noise.
fn interquartile_mean(v: &mut [f32]) -> f64 {
    v.sort_unstable_by(f32::total_cmp);
    let n = v.len();
    let (lo, hi) = (n / 4, n - n / 4);
    let s = &v[lo..hi.max(lo + 1)];
    s.iter().map(|&x| x as f64).sum::<f64>() / s.len() as f64
}

fn sample_pixels(rgb: &LinearRgb, pixels: impl Iterator<Item = usize>) -> PatchSample {
    let (mut r, mut g, mut b) = (Vec::new(), Vec::new(), Vec::new());
    let mut clipped = 0usize;
    for i in pixels {
        let p = [rgb.r[i], rgb.g[i], rgb.b[i]];
        if p.iter().any(|&v| v >= CLIP_LEVEL) {
            clipped += 1;
        }
        r.push(p[0]);
        g.push(p[1]);
        b.push(p[2]);
    }
    let count = r.len();
    if count == 0 {
        return PatchSample {
            mean: [0.0; 3],
            clipped: 0.0,
            count,
        };
    }
    PatchSample {
        mean: [
            interquartile_mean(&mut r),
            interquartile_mean(&mut g),
            interquartile_mean(&mut b),
        ],
        clipped: clipped as f64 / count as f64,
        count,
    }
}

/// Sample the 24 patches of a chart located by `corners` in `rgb`.
fn sample_chart(rgb: &LinearRgb, corners: &[[f64; 2]; 4]) -> Result<Vec<PatchSample>> {
    let (w, h) = (rgb.width as f64, rgb.height as f64);
    for (i, c) in corners.iter().enumerate() {
        if !(c[0] >= 0.0 && c[0] <= w && c[1] >= 0.0 && c[1] <= h) {
            return Err(Error::Calibration(format!(
                "chart corner {} ({}, {}) lies outside the {}×{} image",
                i + 1,
                c[0],
                c[1],
                rgb.width,
                rgb.height
            )));
        }
    }
    let hmg = Homography::from_unit_square(corners)?;
    let inv = hmg.inverse();
    let mut out = Vec::with_capacity(24);
    for p in 0..24 {
        let [u0, v0, u1, v1] = chart_patch_window(p, CHART_SAMPLE_FRACTION);
        let quad = [
            hmg.map(u0, v0),
            hmg.map(u1, v0),
            hmg.map(u1, v1),
            hmg.map(u0, v1),
        ];
        let xmin = quad.iter().map(|q| q[0]).fold(f64::INFINITY, f64::min);
        let xmax = quad.iter().map(|q| q[0]).fold(f64::NEG_INFINITY, f64::max);
        let ymin = quad.iter().map(|q| q[1]).fold(f64::INFINITY, f64::min);
        let ymax = quad.iter().map(|q| q[1]).fold(f64::NEG_INFINITY, f64::max);
        let xs = (xmin.floor().max(0.0) as usize)..(xmax.ceil().min(w) as usize);
        let ys = (ymin.floor().max(0.0) as usize)..(ymax.ceil().min(h) as usize);
        let width = rgb.width;
        let pixels = ys
            .flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter_map(|(x, y)| {
                let [u, v] = inv.map(x as f64 + 0.5, y as f64 + 0.5);
                (u >= u0 && u <= u1 && v >= v0 && v <= v1).then_some(y * width + x)
            });
        let s = sample_pixels(rgb, pixels);
        if s.count < 4 {
            return Err(Error::Calibration(format!(
                "the chart is too small in the image: patch {} covers {} sampled pixels \
                 (need at least 4); check the corners",
                p + 1,
                s.count
            )));
        }
        out.push(s);
    }
    Ok(out)
}

/// How the 3×3 chart matrix is fitted (least squares in linear RGB).
///
/// Measured on rendered charts with a 3×3 cast, sensor noise and JPEG 90
/// (test `chart_fit_methods_compared`), mean / max ΔE2000 over 24 patches:
/// exposure 0.85: plain 0.183 / 0.58, weighted 0.180 / 0.58,
/// white-preserving 0.212 / 0.85; exposure 0.6: 0.213 / 0.58, 0.210 / 0.58,
/// 0.221 / 0.53. The weighted fit is marginally the best on the mean, so it
/// is the default; the white constraint costs a little on the other patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartFitMethod {
    /// Ordinary least squares over the usable patches.
    Plain,
    /// Least squares, each patch weighted by 1/(0.05 + Y_ref) so that dark
    /// patches count relatively about as much as bright ones.
    #[default]
    Weighted,
    /// Weighted as above, with the white patch (19) mapped exactly (a
    /// white-balance row constraint).
    WhitePreservingWeighted,
}

pub(crate) fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    if !det.is_finite() || det.abs() < 1e-18 {
        return None;
    }
    let mut x = [0f64; 3];
    for (k, xk) in x.iter_mut().enumerate() {
        let mut m = a;
        for r in 0..3 {
            m[r][k] = b[r];
        }
        let d = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        *xk = d / det;
    }
    Some(x)
}

/// Fit M (3×3) with M·measured ≈ reference, over the patches flagged in
/// `use_patch`. `white` is the index of the white patch (for the constraint).
pub fn fit_chart_matrix(
    measured: &[[f64; 3]],
    reference: &[[f64; 3]],
    use_patch: &[bool],
    white: usize,
    method: ChartFitMethod,
) -> Result<[[f64; 3]; 3]> {
    let weight = |i: usize| match method {
        ChartFitMethod::Plain => 1.0,
        _ => {
            let t = reference[i];
            1.0 / (0.05 + 0.2126 * t[0] + 0.7152 * t[1] + 0.0722 * t[2])
        }
    };
    let mut a = [[0f64; 3]; 3];
    let mut bt = [[0f64; 3]; 3]; // bt[k] = Σ w m t_k
    for i in 0..measured.len() {
        if !use_patch[i] {
            continue;
        }
        let (m, t, wi) = (measured[i], reference[i], weight(i));
        for r in 0..3 {
            for c in 0..3 {
                a[r][c] += wi * m[r] * m[c];
            }
            for k in 0..3 {
                bt[k][r] += wi * m[r] * t[k];
            }
        }
    }
    let singular = || {
        Error::Calibration(
            "the chart patches do not determine a colour matrix (too few usable or \
             identical patches)"
                .into(),
        )
    };
    let mut m = [[0f64; 3]; 3];
    for k in 0..3 {
        m[k] = solve3(a, bt[k]).ok_or_else(singular)?;
    }
    if method == ChartFitMethod::WhitePreservingWeighted && use_patch[white] {
        // Minimise ‖·‖² subject to m_w·x = t_wk: x = x_ls + A⁻¹m_w·λ.
        let mw = measured[white];
        let ainv_mw = solve3(a, mw).ok_or_else(singular)?;
        let denom: f64 = (0..3).map(|r| mw[r] * ainv_mw[r]).sum();
        if denom.abs() > 1e-18 {
            for k in 0..3 {
                let resid = reference[white][k] - (0..3).map(|r| mw[r] * m[k][r]).sum::<f64>();
                for r in 0..3 {
                    m[k][r] += ainv_mw[r] * resid / denom;
                }
            }
        }
    }
    Ok(m)
}

/// Mean ΔE2000 above which [`Warning::PoorChartFit`] is raised.
pub const POOR_CHART_FIT_DELTA_E: f64 = 5.0;

/// Most patches that may be clipped (and left out of the fit) before the
/// chart is refused as overexposed.
const MAX_CLIPPED_PATCHES: usize = 3;

fn chart_correction(rgb: &LinearRgb, chart: &ChartReference) -> Result<ColourCorrection> {
    let (samples, in_image) = match &chart.image {
        Some(img) => {
            let cal = crate::color::to_linear(&img.view())?;
            crate::color::require_colour(&cal, "chart calibration (calibration image)")?;
            (sample_chart(&cal, &chart.corners_px)?, false)
        }
        None => (sample_chart(rgb, &chart.corners_px)?, true),
    };
    let reference: Vec<[f64; 3]> = colorchecker_linear()
        .iter()
        .map(|p| p.map(|v| v as f64))
        .collect();
    let measured: Vec<[f64; 3]> = samples.iter().map(|s| s.mean).collect();
    let use_patch: Vec<bool> = samples.iter().map(|s| s.clipped <= 0.1).collect();
    let n_clipped = use_patch.iter().filter(|&&u| !u).count();
    if n_clipped > MAX_CLIPPED_PATCHES {
        return Err(Error::Calibration(format!(
            "{n_clipped} of the 24 chart patches are saturated (clipped); \
             the chart is overexposed"
        )));
    }
    // White patch (19) luminance, measured.
    let white = 18;
    let wm = measured[white];
    let y_white = 0.2126 * wm[0] + 0.7152 * wm[1] + 0.0722 * wm[2];
    if y_white < 0.02 || wm.iter().any(|&v| v < 0.003) {
        return Err(Error::Calibration(format!(
            "the chart is too dark: its white patch has linear luminance {y_white:.4} \
             (channels {:.4}, {:.4}, {:.4}); check exposure and corners",
            wm[0], wm[1], wm[2]
        )));
    }
    let m = fit_chart_matrix(
        &measured,
        &reference,
        &use_patch,
        white,
        ChartFitMethod::default(),
    )?;
    let (de_mean, de_max) = chart_delta_e(&m, &measured, &reference);
    let mut warnings = Vec::new();
    if de_mean > POOR_CHART_FIT_DELTA_E {
        warnings.push(Warning::PoorChartFit);
    }
    let exclude = if in_image {
        vec![chart_frame_polygon(&chart.corners_px)?]
    } else {
        Vec::new()
    };
    Ok(ColourCorrection {
        kind: ColourCalibrationKind::Chart,
        matrix: m.map(|r| r.map(|v| v as f32)),
        delta_e2000_mean: Some(de_mean),
        delta_e2000_max: Some(de_max),
        exclude_polygons_px: exclude,
        warnings,
    })
}

/// Mean and max ΔE2000 over the 24 patches of `matrix · measured` against
/// the reference. Clipped patches (left out of the fit) are included: a
/// clipped white patch shows up here as a large max.
pub fn chart_delta_e(
    matrix: &[[f64; 3]; 3],
    measured: &[[f64; 3]],
    reference: &[[f64; 3]],
) -> (f64, f64) {
    let lab = |p: [f64; 3]| crate::color::linear_rgb_to_lab(p.map(|v| v as f32)).map(|v| v as f64);
    let mut sum = 0.0;
    let mut max = 0f64;
    for (m, t) in measured.iter().zip(reference) {
        let c = [0, 1, 2].map(|k| (0..3).map(|r| matrix[k][r] * m[r]).sum::<f64>());
        let d = crate::deltae::delta_e2000(lab(c), lab(*t));
        sum += d;
        max = max.max(d);
    }
    (sum / measured.len() as f64, max)
}

fn rect_pixels(rgb: &LinearRgb, rect: RectPx) -> Result<impl Iterator<Item = usize>> {
    let fits = rect.w > 0
        && rect.h > 0
        && rect.x.checked_add(rect.w).is_some_and(|e| e <= rgb.width)
        && rect.y.checked_add(rect.h).is_some_and(|e| e <= rgb.height);
    if !fits {
        return Err(Error::Calibration(format!(
            "reference rectangle x={}, y={}, w={}, h={} is empty or outside the {}×{} image",
            rect.x, rect.y, rect.w, rect.h, rgb.width, rgb.height
        )));
    }
    let w = rgb.width;
    Ok((rect.y..rect.y + rect.h)
        .flat_map(move |y| (rect.x..rect.x + rect.w).map(move |x| y * w + x)))
}

fn neutral_correction(rgb: &LinearRgb, n: &NeutralReference) -> Result<ColourCorrection> {
    let sep;
    let (src, in_image) = match &n.image {
        Some(img) => {
            sep = crate::color::to_linear(&img.view())?;
            crate::color::require_colour(&sep, "neutral reference (calibration image)")?;
            (&sep, false)
        }
        None => (rgb, true),
    };
    let rect = match n.rect {
        Some(r) => r,
        None if !in_image => RectPx {
            x: 0,
            y: 0,
            w: src.width,
            h: src.height,
        },
        None => {
            return Err(Error::Calibration(
                "a neutral reference in the analysed image needs a rectangle \
                 (reference_rect)"
                    .into(),
            ))
        }
    };
    let s = sample_pixels(src, rect_pixels(src, rect)?);
    if s.clipped > 0.05 {
        return Err(Error::Calibration(format!(
            "the neutral reference is saturated: {:.0} % of its pixels are clipped",
            100.0 * s.clipped
        )));
    }
    if s.mean.iter().any(|&v| v < 0.002) {
        return Err(Error::Calibration(format!(
            "the neutral reference is too dark (linear means {:.4}, {:.4}, {:.4})",
            s.mean[0], s.mean[1], s.mean[2]
        )));
    }
    let target = crate::color::lab_to_linear_rgb([n.lightness as f32, 0.0, 0.0])[1] as f64;
    let g = s.mean.map(|m| target / m);
    let exclude = if in_image {
        let (x, y) = (rect.x as f64, rect.y as f64);
        let (x1, y1) = (x + rect.w as f64, y + rect.h as f64);
        vec![[[x, y], [x1, y], [x1, y1], [x, y1]]]
    } else {
        Vec::new()
    };
    Ok(ColourCorrection {
        kind: ColourCalibrationKind::ReferencePatch,
        matrix: [
            [g[0] as f32, 0.0, 0.0],
            [0.0, g[1] as f32, 0.0],
            [0.0, 0.0, g[2] as f32],
        ],
        delta_e2000_mean: None,
        delta_e2000_max: None,
        exclude_polygons_px: exclude,
        warnings: Vec::new(),
    })
}

/// Shades-of-Gray (Finlayson & Trezzi 2004) with p = 6: the illuminant is
/// e_c = (mean I_c⁶)^(1/6) over pixels that are neither clipped nor black;
/// gains g_c = Y(e)/e_c make it neutral at the same luminance.
fn shades_of_gray(rgb: &LinearRgb) -> Result<ColourCorrection> {
    use rayon::prelude::*;
    const P: i32 = 6;
    let w = rgb.width.max(1);
    let rows: Vec<([f64; 3], usize)> = rgb
        .r
        .par_chunks(w)
        .zip(rgb.g.par_chunks(w))
        .zip(rgb.b.par_chunks(w))
        .map(|((r, g), b)| {
            let mut s = [0f64; 3];
            let mut n = 0usize;
            for x in 0..r.len() {
                let p = [r[x], g[x], b[x]];
                let mx = p[0].max(p[1]).max(p[2]);
                if mx < CLIP_LEVEL && mx > 0.002 {
                    for k in 0..3 {
                        s[k] += (p[k].max(0.0) as f64).powi(P);
                    }
                    n += 1;
                }
            }
            (s, n)
        })
        .collect();
    let mut s = [0f64; 3];
    let mut n = 0usize;
    for (rs, rn) in rows {
        for k in 0..3 {
            s[k] += rs[k];
        }
        n += rn;
    }
    if n == 0 || s.iter().any(|&v| v <= 0.0) {
        return Err(Error::Calibration(
            "Shades-of-Gray needs pixels that are neither clipped nor black".into(),
        ));
    }
    let e = s.map(|v| (v / n as f64).powf(1.0 / P as f64));
    let y = 0.2126 * e[0] + 0.7152 * e[1] + 0.0722 * e[2];
    let g = e.map(|v| (y / v) as f32);
    Ok(ColourCorrection {
        kind: ColourCalibrationKind::Estimated,
        matrix: [[g[0], 0.0, 0.0], [0.0, g[1], 0.0], [0.0, 0.0, g[2]]],
        delta_e2000_mean: None,
        delta_e2000_max: None,
        exclude_polygons_px: Vec::new(),
        warnings: Vec::new(),
    })
}

/// A resolved colour correction, applied to linear RGB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourCorrection {
    /// Which reference produced it.
    pub kind: ColourCalibrationKind,
    /// 3×3 matrix applied to linear RGB column vectors (diagonal for gains).
    pub matrix: [[f32; 3]; 3],
    /// Mean ΔE2000 of the chart patches after correction (chart only).
    pub delta_e2000_mean: Option<f64>,
    /// Max ΔE2000 of the chart patches after correction (chart only).
    pub delta_e2000_max: Option<f64>,
    /// Image regions (convex quadrilaterals, pixel coordinates) holding the
    /// reference itself — the chart with its frame, or the neutral patch —
    /// when it lies in the analysed image: the analysis leaves them out.
    pub exclude_polygons_px: Vec<[[f64; 2]; 4]>,
    /// Warnings about the calibration (e.g. [`Warning::PoorChartFit`]).
    pub warnings: Vec<Warning>,
}

impl ColourCorrection {
    /// The identity: no correction.
    pub fn identity() -> Self {
        ColourCorrection {
            kind: ColourCalibrationKind::None,
            matrix: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            delta_e2000_mean: None,
            delta_e2000_max: None,
            exclude_polygons_px: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Pixels to leave out of the analysis (the reference in the image), or
    /// `None` when there are none.
    pub fn exclusion_mask(&self, width: usize, height: usize) -> Option<Mask> {
        (!self.exclude_polygons_px.is_empty())
            .then(|| polygons_mask(width, height, &self.exclude_polygons_px))
    }

    /// Apply in place to linear planes (parallel over row bands).
    pub fn apply(&self, rgb: &mut LinearRgb) {
        use rayon::prelude::*;
        if self.kind == ColourCalibrationKind::None {
            return;
        }
        let m = self.matrix;
        let band = (64 * rgb.width).max(1);
        rgb.r
            .par_chunks_mut(band)
            .zip(rgb.g.par_chunks_mut(band))
            .zip(rgb.b.par_chunks_mut(band))
            .for_each(|((r, g), b)| {
                let n = r.len();
                let (g, b) = (&mut g[..n], &mut b[..n]);
                for i in 0..n {
                    let v = crate::color::mat3_mul(&m, [r[i], g[i], b[i]]);
                    r[i] = v[0];
                    g[i] = v[1];
                    b[i] = v[2];
                }
            });
    }
}

/// Turn a colour reference into a correction for the analysed image `rgb`
/// (linear, uncorrected).
///
/// Errors: [`Error::ColourRequired`] when any reference is asked for on a
/// greyscale image; [`Error::Calibration`] for corners or rectangles outside
/// the image, a degenerate chart quadrilateral, a saturated or too dark
/// reference.
pub fn resolve_colour(reference: &ColourReference, rgb: &LinearRgb) -> Result<ColourCorrection> {
    if !matches!(reference, ColourReference::None) {
        crate::color::require_colour(rgb, "colour calibration")?;
    }
    match reference {
        ColourReference::None => Ok(ColourCorrection::identity()),
        ColourReference::Chart(c) => chart_correction(rgb, c),
        ColourReference::Neutral(n) => neutral_correction(rgb, n),
        ColourReference::ShadesOfGray => shades_of_gray(rgb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{self, chart::ChartSpec, optics::OpticsSpec};

    fn rendered_chart(cast: [[f32; 3]; 3], exposure: f32, seed: u64) -> (LinearRgb, [[f64; 2]; 4]) {
        let ph = synth::render(&synth::SceneSpec {
            width: 640,
            height: 480,
            seed,
            chart: Some(ChartSpec {
                width_fraction: 0.8,
                rotation_deg: 3.0,
                keystone: 0.08,
                ..Default::default()
            }),
            optics: OpticsSpec {
                vignetting: 0.0,
                ..OpticsSpec::realistic()
            }
            .with_cast(cast, exposure),
            ..Default::default()
        })
        .unwrap();
        (
            crate::color::to_linear(&ph.image.view()).unwrap(),
            ph.truth.chart_corners_px.unwrap(),
        )
    }

    #[test]
    fn homography_maps_corners_and_inverts() {
        let c = [[10.0, 20.0], [200.0, 35.0], [190.0, 160.0], [5.0, 140.0]];
        let h = Homography::from_unit_square(&c).unwrap();
        let inv = h.inverse();
        for (uv, p) in [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
            .iter()
            .zip(&c)
        {
            let q = h.map(uv[0], uv[1]);
            assert!((q[0] - p[0]).abs() < 1e-9 && (q[1] - p[1]).abs() < 1e-9);
            let back = inv.map(p[0], p[1]);
            assert!((back[0] - uv[0]).abs() < 1e-9 && (back[1] - uv[1]).abs() < 1e-9);
        }
    }

    #[test]
    fn chart_fit_methods_compared() {
        let cast = [[1.20, 0.06, -0.02], [0.02, 0.90, 0.03], [-0.02, 0.05, 0.80]];
        let reference: Vec<[f64; 3]> = colorchecker_linear()
            .iter()
            .map(|p| p.map(|v| v as f64))
            .collect();
        for (seed, exposure) in [(1, 0.85), (2, 0.6), (3, 0.75)] {
            let (rgb, corners) = rendered_chart(cast, exposure, seed);
            let samples = sample_chart(&rgb, &corners).unwrap();
            let measured: Vec<[f64; 3]> = samples.iter().map(|s| s.mean).collect();
            let use_patch: Vec<bool> = samples.iter().map(|s| s.clipped <= 0.1).collect();
            let mut line = format!("exposure {exposure}:");
            for method in [
                ChartFitMethod::Plain,
                ChartFitMethod::Weighted,
                ChartFitMethod::WhitePreservingWeighted,
            ] {
                let m = fit_chart_matrix(&measured, &reference, &use_patch, 18, method).unwrap();
                let (mean, max) = chart_delta_e(&m, &measured, &reference);
                line += &format!(" {method:?} mean {mean:.3} max {max:.3};");
                assert!(mean < 1.0 && max < 3.0, "{line}");
            }
            eprintln!("{line}");
        }
    }
}
