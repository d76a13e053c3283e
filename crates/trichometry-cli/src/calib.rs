//! Calibration options → `trichometry::Calibration`. The same names serve as
//! CLI flags (`--chart-corners`), manifest columns (`chart_corners`) and
//! Python keywords; this module only converts, the core does the work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trichometry::{
    Calibration, ChartReference, ColourReference, Error, Image, NeutralReference, RectPx,
};

/// The only colour-constancy estimate offered (and only when asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColourConstancy {
    /// Shades-of-Gray, p = 6.
    ShadesOfGray,
}

/// Colour-reference flags of `analyze` (and, later, `compare`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ColourArgs {
    /// ColorChecker Classic image (may be the analysed image itself).
    #[arg(long, value_name = "FILE", help_heading = "Colour calibration")]
    pub chart: Option<PathBuf>,
    /// The chart's four corners, clockwise from the corner of patch 1 ("dark
    /// skin"): x1,y1,x2,y2,x3,y3,x4,y4 in pixels. Without --chart the chart is
    /// in the analysed image.
    #[arg(long, value_name = "X1,Y1,...,X4,Y4", value_parser = parse_corners,
          allow_hyphen_values = true, help_heading = "Colour calibration")]
    pub chart_corners: Option<[[f64; 2]; 4]>,
    /// Grey-card image taken with the same camera settings.
    #[arg(long, value_name = "FILE", help_heading = "Colour calibration")]
    pub reference: Option<PathBuf>,
    /// Neutral patch x,y,w,h in pixels: in --reference when given, else in the
    /// analysed image.
    #[arg(long, value_name = "X,Y,W,H", value_parser = parse_rect,
          help_heading = "Colour calibration")]
    pub reference_rect: Option<RectPx>,
    /// The neutral reference's CIELAB L* [default: 50].
    #[arg(
        long,
        value_name = "L",
        allow_negative_numbers = true,
        help_heading = "Colour calibration"
    )]
    pub reference_lightness: Option<f64>,
    /// Estimate the illuminant from the image itself (no reference).
    #[arg(
        long,
        value_enum,
        value_name = "METHOD",
        help_heading = "Colour calibration"
    )]
    pub colour_constancy: Option<ColourConstancy>,
}

impl ColourArgs {
    /// Reference image files these options need besides the analysed image.
    pub fn extra_images<'a>(&'a self, analysed: &'a Path) -> impl Iterator<Item = &'a Path> {
        [self.chart.as_deref(), self.reference.as_deref()]
            .into_iter()
            .flatten()
            .filter(move |p| !same_file(p, analysed))
    }
}

/// Parse `x1,y1,...,x4,y4`.
pub fn parse_corners(s: &str) -> Result<[[f64; 2]; 4], String> {
    let v = parse_numbers(s)?;
    if v.len() != 8 {
        return Err(format!(
            "expected 8 numbers x1,y1,...,x4,y4, got {}",
            v.len()
        ));
    }
    Ok([[v[0], v[1]], [v[2], v[3]], [v[4], v[5]], [v[6], v[7]]])
}

/// Parse `x,y,w,h` (non-negative integers, w and h > 0).
pub fn parse_rect(s: &str) -> Result<RectPx, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{}` is not a non-negative integer", t.trim()))
        })
        .collect::<Result<_, _>>()?;
    if v.len() != 4 {
        return Err(format!("expected 4 integers x,y,w,h, got {}", v.len()));
    }
    if v[2] == 0 || v[3] == 0 {
        return Err("width and height must be > 0".into());
    }
    Ok(RectPx {
        x: v[0],
        y: v[1],
        w: v[2],
        h: v[3],
    })
}

fn parse_numbers(s: &str) -> Result<Vec<f64>, String> {
    s.split(',')
        .map(|t| {
            let t = t.trim();
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("`{t}` is not a finite number"))
        })
        .collect()
}

/// Parse a colour-constancy method name as spelled on the command line.
pub fn parse_constancy(s: &str) -> Result<ColourConstancy, String> {
    match s.trim() {
        "shades-of-gray" | "shades_of_gray" => Ok(ColourConstancy::ShadesOfGray),
        other => Err(format!(
            "unknown method `{other}` (expected shades-of-gray)"
        )),
    }
}

/// Whether two paths name the same file (canonical paths when both exist).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Reference images decoded once per batch, shared by every file that uses them.
#[derive(Default)]
pub struct RefImages {
    images: HashMap<PathBuf, Result<Arc<Image>, (String, String)>>,
}

impl RefImages {
    /// Decode every path not yet loaded.
    pub fn preload<'a>(&mut self, paths: impl IntoIterator<Item = &'a Path>) {
        for p in paths {
            if !self.images.contains_key(p) {
                let r = trichometry::load(p)
                    .map(Arc::new)
                    .map_err(|e| (e.kind().to_string(), e.to_string()));
                self.images.insert(p.to_path_buf(), r);
            }
        }
    }

    fn get(&self, path: &Path, role: &str) -> Result<Image, Error> {
        match self.images.get(path) {
            Some(Ok(img)) => Ok(Image::clone(img)),
            Some(Err((kind, msg))) => Err(rebuild(
                kind,
                &format!("{role} {}: {msg}", path.display()),
                path,
            )),
            None => trichometry::load(path),
        }
    }
}

/// A reference image's error, for every file that uses it, keeping its kind.
fn rebuild(kind: &str, msg: &str, path: &Path) -> Error {
    match kind {
        "io" => Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(msg.to_string()),
        },
        "unsupported" => Error::Unsupported(msg.to_string()),
        "limits" => Error::Limits(msg.to_string()),
        _ => Error::Decoding(msg.to_string()),
    }
}

/// Build the calibration for one analysed image.
pub fn build(
    um_per_px: Option<f64>,
    colour: &ColourArgs,
    analysed: &Path,
    refs: &RefImages,
) -> Result<Calibration, Error> {
    let chart = colour.chart.is_some() || colour.chart_corners.is_some();
    let neutral = colour.reference.is_some()
        || colour.reference_rect.is_some()
        || colour.reference_lightness.is_some();
    let constancy = colour.colour_constancy.is_some();
    if [chart, neutral, constancy].iter().filter(|&&b| b).count() > 1 {
        return Err(Error::param(
            "colour",
            "give only one colour reference: chart, reference or colour_constancy",
        ));
    }
    let other_image = |p: &Option<PathBuf>, role: &str| -> Result<Option<Image>, Error> {
        match p {
            Some(p) if !same_file(p, analysed) => refs.get(p, role).map(Some),
            _ => Ok(None),
        }
    };
    let reference = if chart {
        let corners_px = colour
            .chart_corners
            .ok_or_else(|| Error::param("chart_corners", "required with chart: x1,y1,...,x4,y4"))?;
        ColourReference::Chart(ChartReference {
            corners_px,
            image: other_image(&colour.chart, "chart")?,
        })
    } else if neutral {
        if colour.reference.is_none() && colour.reference_rect.is_none() {
            return Err(Error::param(
                "reference_lightness",
                "needs reference (a grey-card image) or reference_rect (a patch)",
            ));
        }
        ColourReference::Neutral(NeutralReference {
            rect: colour.reference_rect,
            lightness: colour.reference_lightness.unwrap_or(50.0),
            image: other_image(&colour.reference, "reference")?,
        })
    } else if constancy {
        ColourReference::ShadesOfGray
    } else {
        ColourReference::None
    };
    let cal = Calibration {
        um_per_px,
        colour: reference,
    };
    cal.validate()?;
    Ok(cal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_corners_and_rects() {
        let c = parse_corners("1,2, 3,4,5.5,6,-7,8").unwrap();
        assert_eq!(c, [[1.0, 2.0], [3.0, 4.0], [5.5, 6.0], [-7.0, 8.0]]);
        assert!(parse_corners("1,2,3").is_err());
        assert!(parse_corners("1,2,3,4,5,6,7,nan").is_err());
        assert_eq!(
            parse_rect("10,20,30,40").unwrap(),
            RectPx {
                x: 10,
                y: 20,
                w: 30,
                h: 40
            }
        );
        assert!(parse_rect("10,20,0,40").is_err());
        assert!(parse_rect("10,-20,5,40").is_err());
        assert_eq!(
            parse_constancy("shades-of-gray"),
            Ok(ColourConstancy::ShadesOfGray)
        );
        assert!(parse_constancy("grey-world").is_err());
    }

    fn kind_of(r: Result<Calibration, Error>) -> String {
        r.unwrap_err().kind().to_string()
    }

    #[test]
    fn builds_each_colour_reference() {
        let refs = RefImages::default();
        let img = Path::new("a.jpg");
        let none = build(Some(3.5), &ColourArgs::default(), img, &refs).unwrap();
        assert_eq!(none.colour, ColourReference::None);
        assert_eq!(none.um_per_px, Some(3.5));

        // Corners only: the chart is in the analysed image (no extra image).
        let corners = parse_corners("0,0,10,0,10,10,0,10").unwrap();
        let a = ColourArgs {
            chart_corners: Some(corners),
            ..Default::default()
        };
        match build(None, &a, img, &refs).unwrap().colour {
            ColourReference::Chart(c) => {
                assert_eq!(c.corners_px, corners);
                assert!(c.image.is_none());
            }
            other => panic!("{other:?}"),
        }
        // The chart file is the analysed image itself.
        let a = ColourArgs {
            chart: Some(img.into()),
            chart_corners: Some(corners),
            ..Default::default()
        };
        assert!(matches!(
            build(None, &a, img, &refs).unwrap().colour,
            ColourReference::Chart(ChartReference { image: None, .. })
        ));

        let rect = RectPx {
            x: 1,
            y: 2,
            w: 3,
            h: 4,
        };
        let a = ColourArgs {
            reference_rect: Some(rect),
            reference_lightness: Some(80.0),
            ..Default::default()
        };
        assert_eq!(
            build(None, &a, img, &refs).unwrap().colour,
            ColourReference::Neutral(NeutralReference {
                rect: Some(rect),
                lightness: 80.0,
                image: None
            })
        );
        let a = ColourArgs {
            colour_constancy: Some(ColourConstancy::ShadesOfGray),
            ..Default::default()
        };
        assert_eq!(
            build(None, &a, img, &refs).unwrap().colour,
            ColourReference::ShadesOfGray
        );
    }

    #[test]
    fn refuses_contradictions_and_bad_numbers() {
        let refs = RefImages::default();
        let img = Path::new("a.jpg");
        let both = ColourArgs {
            chart_corners: Some(parse_corners("0,0,1,0,1,1,0,1").unwrap()),
            colour_constancy: Some(ColourConstancy::ShadesOfGray),
            ..Default::default()
        };
        assert_eq!(kind_of(build(None, &both, img, &refs)), "parameter");
        let chart_only = ColourArgs {
            chart: Some("other.jpg".into()),
            ..Default::default()
        };
        assert_eq!(kind_of(build(None, &chart_only, img, &refs)), "parameter");
        let lightness_only = ColourArgs {
            reference_lightness: Some(90.0),
            ..Default::default()
        };
        assert_eq!(
            kind_of(build(None, &lightness_only, img, &refs)),
            "parameter"
        );
        let bad_l = ColourArgs {
            reference_rect: Some(RectPx {
                x: 0,
                y: 0,
                w: 1,
                h: 1,
            }),
            reference_lightness: Some(-5.0),
            ..Default::default()
        };
        assert_eq!(kind_of(build(None, &bad_l, img, &refs)), "parameter");
        for s in [f64::NAN, -1.0, 0.0] {
            assert_eq!(
                kind_of(build(Some(s), &ColourArgs::default(), img, &refs)),
                "parameter"
            );
        }
        // A missing reference image is an io error for the file that needs it.
        let missing = ColourArgs {
            reference: Some("/nonexistent/card.png".into()),
            ..Default::default()
        };
        let mut refs = RefImages::default();
        refs.preload(missing.extra_images(img));
        assert_eq!(kind_of(build(None, &missing, img, &refs)), "io");
    }
}
