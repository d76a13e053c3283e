//! Phantom generator: trichoscopy-like images with exact ground truth,
//! deterministic from a seed.
//!
//! Rendering works on linear reflectance planes ([`Canvas`]) in scene order:
//! skin (mottling, erythema patches) → vessels under the epidermis → hairs,
//! yellow dots and scales on top → optics (blur, vignetting, colour cast,
//! glare, noise, 8-bit quantisation, JPEG). Ground truth is taken from the
//! scene before the optics.

pub mod chart;
pub mod hairs;
pub mod optics;
pub mod pair;
pub mod rng;
pub mod skin;
pub mod vessels;

pub use rng::Rng;

use crate::error::Result;
use crate::image::{Image, Mask};
use serde::{Deserialize, Serialize};

/// Linear reflectance planes being painted, plus what covers the skin.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Micrometres per pixel of the rendered image.
    pub um_per_px: f64,
    /// Red reflectance, row-major.
    pub r: Vec<f32>,
    /// Green reflectance.
    pub g: Vec<f32>,
    /// Blue reflectance.
    pub b: Vec<f32>,
    /// Pixels where the skin is covered (hair, vessel, dot, scale): excluded
    /// from the skin truth.
    pub covered: Vec<bool>,
}

impl Canvas {
    /// A canvas of uniform reflectance.
    pub fn new(width: usize, height: usize, um_per_px: f64, rgb: [f32; 3]) -> Self {
        let n = width * height;
        Canvas {
            width,
            height,
            um_per_px,
            r: vec![rgb[0]; n],
            g: vec![rgb[1]; n],
            b: vec![rgb[2]; n],
            covered: vec![false; n],
        }
    }
}

/// Everything that defines a phantom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SceneSpec {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Micrometres per pixel.
    pub um_per_px: f64,
    /// Seed: the same spec and seed give the same image, bit for bit.
    pub seed: u64,
    /// Skin colour and texture.
    pub skin: skin::SkinSpec,
    /// Vessels (none when `None`).
    pub vessels: Option<vessels::VesselSceneSpec>,
    /// Hairs, yellow dots, scales (none when `None`).
    pub hairs: Option<hairs::HairSceneSpec>,
    /// Camera and dermatoscope optics.
    pub optics: optics::OpticsSpec,
    /// A ColorChecker Classic in the scene (none when `None`).
    pub chart: Option<chart::ChartSpec>,
    /// A neutral grey card in the scene (none when `None`).
    pub grey_card: Option<chart::GreyCardSpec>,
}

impl Default for SceneSpec {
    fn default() -> Self {
        SceneSpec {
            width: 640,
            height: 480,
            um_per_px: 3.5,
            seed: 1,
            skin: skin::SkinSpec::default(),
            vessels: None,
            hairs: None,
            optics: optics::OpticsSpec::default(),
            chart: None,
            grey_card: None,
        }
    }
}

/// Exact ground truth of a phantom.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Truth {
    /// Mean CIELAB a* of uncovered skin in the scene (before optics).
    pub skin_a_star_mean: f64,
    /// Median a* of uncovered skin.
    pub skin_a_star_median: f64,
    /// Mean erythema index of uncovered skin.
    pub skin_erythema_index_mean: f64,
    /// Median erythema index of uncovered skin.
    pub skin_erythema_index_median: f64,
    /// Vessels.
    pub vessels: vessels::VesselTruth,
    /// Hairs, yellow dots, scales.
    pub hairs: hairs::HairTruth,
    /// Corners of the rendered ColorChecker (clockwise from the outer corner
    /// of patch 1), when the scene has one.
    pub chart_corners_px: Option<[[f64; 2]; 4]>,
    /// Where the grey card is, when the scene has one.
    pub grey_card_rect: Option<crate::calibration::RectPx>,
    /// The capillaries a method can count in the rendered image: those with
    /// at least a quarter of their pixels outside hair and glare
    /// ([`vessels::VesselTruth::countable`] with [`Truth::hidden_mask`]).
    /// `vessels.vessels` lists every rendered vessel, hidden ones and
    /// arborizing vessels too; this is the count to judge a capillary count
    /// against.
    pub countable_capillary_count: usize,
    /// Pixels covered by glare in the rendered image.
    #[serde(skip)]
    pub glare_mask: Mask,
    /// Uncovered skin in the scene.
    #[serde(skip)]
    pub skin_mask: Mask,
}

impl Truth {
    /// Where the skin cannot be seen in a `width` × `height` rendering: hair
    /// (its true mask) or glare. A mask the scene did not paint (no hairs)
    /// covers nothing.
    pub fn hidden_mask(&self, width: usize, height: usize) -> Mask {
        let on = |m: &Mask, i: usize| m.data.get(i).copied().unwrap_or(false);
        Mask {
            width,
            height,
            data: (0..width * height)
                .map(|i| on(&self.glare_mask, i) || on(&self.hairs.hair_mask, i))
                .collect(),
        }
    }
}

/// A rendered phantom.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// The image, 8-bit sRGB (JPEG-degraded when the optics ask for it).
    pub image: Image,
    /// Its ground truth.
    pub truth: Truth,
    /// The spec it was rendered from.
    pub spec: SceneSpec,
}

/// Render a phantom.
pub fn render(spec: &SceneSpec) -> Result<Phantom> {
    crate::error::check_positive("um_per_px", spec.um_per_px)?;
    if spec.width == 0 || spec.height == 0 {
        return Err(crate::Error::param("width/height", "must be > 0"));
    }
    // The decoder's pixel limit bounds a phantom too: a mistyped size must
    // give an error, not an allocation that aborts the process (and a
    // Python kernel with it).
    let max = crate::image_io::DecodeLimits::default().max_pixels;
    let pixels = (spec.width as u64).saturating_mul(spec.height as u64);
    if pixels > max {
        return Err(crate::Error::Limits(format!(
            "a {}×{} phantom = {pixels} pixels exceeds the limit of {max} pixels",
            spec.width, spec.height
        )));
    }
    let rng = Rng::new(spec.seed);
    let mut canvas = skin::paint_skin(spec, &mut rng.fork(1));
    let mut truth = Truth::default();
    if let Some(v) = &spec.vessels {
        truth.vessels = vessels::paint_vessels(&mut canvas, v, &mut rng.fork(2))?;
    }
    if let Some(h) = &spec.hairs {
        truth.hairs = hairs::paint_hairs(&mut canvas, h, &mut rng.fork(3))?;
    }
    let mut avoid = Vec::new();
    if let Some(c) = &spec.chart {
        let corners = chart::paint_chart(&mut canvas, c)?;
        avoid.push(crate::calibration::chart_frame_polygon(&corners)?);
        truth.chart_corners_px = Some(corners);
    }
    if let Some(g) = &spec.grey_card {
        chart::paint_grey_card(&mut canvas, g)?;
        let r = g.rect;
        let (x0, y0, x1, y1) = (
            r.x as f64,
            r.y as f64,
            (r.x + r.w) as f64,
            (r.y + r.h) as f64,
        );
        avoid.push([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]);
        truth.grey_card_rect = Some(r);
    }
    skin::skin_truth(&canvas, &mut truth);
    let (image, glare) = optics::apply(&canvas, &spec.optics, &mut rng.fork(4), &avoid)?;
    truth.glare_mask = glare;
    truth.countable_capillary_count = if truth.vessels.vessels.is_empty() {
        0
    } else {
        let hidden = truth.hidden_mask(spec.width, spec.height);
        truth.vessels.countable_capillary_count(Some(&hidden))?
    };
    Ok(Phantom {
        image,
        truth,
        spec: spec.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phantom_over_the_pixel_limit_is_an_error_not_an_abort() {
        let spec = SceneSpec {
            width: 10_000_000,
            height: 10_000_000,
            ..SceneSpec::default()
        };
        match render(&spec) {
            Err(crate::Error::Limits(m)) => assert!(m.contains("10000000×10000000"), "{m}"),
            other => panic!("expected a limits error, got {:?}", other.map(|p| p.spec)),
        }
        // Just over 120 MP is refused too; zero is a parameter error.
        let over = SceneSpec {
            width: 12_001,
            height: 10_000,
            ..SceneSpec::default()
        };
        assert!(matches!(render(&over), Err(crate::Error::Limits(_))));
        let zero = SceneSpec {
            width: 0,
            ..SceneSpec::default()
        };
        assert!(matches!(render(&zero), Err(crate::Error::Parameter { .. })));
    }

    #[test]
    fn countable_capillaries_leave_out_those_under_hair_and_glare() {
        let base = SceneSpec {
            width: 400,
            height: 300,
            um_per_px: 3.5,
            seed: 11,
            vessels: Some(vessels::VesselSceneSpec::default()),
            ..SceneSpec::default()
        };
        // Bare skin, clean optics: every capillary can be seen.
        let bare = render(&base).unwrap();
        let all = bare.truth.vessels.capillary_count();
        assert!(all >= 10, "{all}");
        assert_eq!(bare.truth.countable_capillary_count, all);
        // The same vessels under dense hair and glare: some are hidden.
        let covered = render(&SceneSpec {
            hairs: Some(hairs::HairSceneSpec {
                density_per_cm2: 1500.0,
                ..hairs::HairSceneSpec::default()
            }),
            optics: optics::OpticsSpec {
                glare_spots: 6,
                ..optics::OpticsSpec::default()
            },
            ..base.clone()
        })
        .unwrap();
        assert_eq!(covered.truth.vessels.capillary_count(), all);
        let hidden = covered.truth.hidden_mask(400, 300);
        let cover = hidden.data.iter().filter(|&&h| h).count() as f64 / 120_000.0;
        assert!(cover > 0.3, "{cover}");
        let n = covered.truth.countable_capillary_count;
        assert!(n < all && n > 0, "{n} of {all}");
        // No vessels painted: none to count, and no error.
        let none = render(&SceneSpec {
            vessels: None,
            ..base
        })
        .unwrap();
        assert_eq!(none.truth.countable_capillary_count, 0);
        let json = serde_json::to_value(&covered.truth).unwrap();
        assert_eq!(json["countable_capillary_count"], n);
    }

    #[test]
    fn scene_specs_refuse_unknown_keys_and_read_themselves_back() {
        // A misspelt key was silently left at its default (no hairs drawn).
        let e = serde_json::from_str::<SceneSpec>(r#"{"hair": {}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `hair`"), "{e}");
        let e =
            serde_json::from_str::<SceneSpec>(r#"{"hairs": {"densty_per_cm2": 1.0}}"#).unwrap_err();
        assert!(
            e.to_string().contains("unknown field `densty_per_cm2`"),
            "{e}"
        );
        let full = SceneSpec {
            hairs: Some(hairs::HairSceneSpec::default()),
            vessels: Some(vessels::VesselSceneSpec::default()),
            chart: Some(chart::ChartSpec::default()),
            ..SceneSpec::default()
        };
        let back: SceneSpec = serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&full).unwrap()
        );
        let pair = pair::PairSpec::default();
        let back: pair::PairSpec =
            serde_json::from_str(&serde_json::to_string(&pair).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&pair).unwrap()
        );
    }
}
