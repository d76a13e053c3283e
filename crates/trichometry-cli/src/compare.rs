//! `trichometry compare`: a baseline and a follow-up image of one spot in,
//! one JSON record of what changed out (registration, deltas with 95 %
//! intervals, matched counts, per-object tables), and optionally an overlay.
//! Only converts: `trichometry::analyze` and `trichometry::compare::compare`
//! do the work.

use crate::calib::{self, ColourArgs, ColourConstancy, RefImages};
use crate::{output, Fatal};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trichometry::compare::{CompareParams, Visit};
use trichometry::{Error, Params, RectPx};

/// Flags of `trichometry compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The baseline image.
    #[arg(value_name = "BASELINE")]
    pub baseline: PathBuf,
    /// The follow-up image of the same spot.
    #[arg(value_name = "FOLLOWUP")]
    pub followup: PathBuf,
    /// The device's nominal micrometres per pixel (both visits). The
    /// follow-up's true scale may differ by a few per cent: registration
    /// finds it, and the baseline's scale is the reference.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub um_per_px: Option<f64>,
    /// Output JSON file (written atomically). Without it, JSON on stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the change overlay (PNG): gained (green), lost (red), thinned
    /// (orange) and thickened (blue) hairs, gained/lost capillaries, on the
    /// baseline.
    #[arg(long, value_name = "FILE.png")]
    pub overlay: Option<PathBuf>,
    /// Analysis parameters as JSON (trichometry::Params), both visits.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Comparison parameters as JSON (trichometry::compare::CompareParams).
    #[arg(long, value_name = "FILE")]
    pub compare_params: Option<PathBuf>,
    /// Colour calibration of both visits.
    #[command(flatten)]
    pub colour: ColourArgs,
    /// Colour calibration of the baseline only.
    #[command(flatten)]
    pub baseline_colour: BaselineColour,
    /// Colour calibration of the follow-up only.
    #[command(flatten)]
    pub followup_colour: FollowupColour,
}

macro_rules! prefixed_colour {
    ($name:ident, $heading:literal, $chart:ident, $corners:ident, $reference:ident, $rect:ident, $lightness:ident, $constancy:ident) => {
        /// Colour options for one visit (override the shared ones as a whole
        /// when any is given).
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct $name {
            /// ColorChecker Classic image of this visit.
            #[arg(long, value_name = "FILE", help_heading = $heading)]
            pub $chart: Option<PathBuf>,
            /// The chart's corners for this visit: x1,y1,...,x4,y4.
            #[arg(long, value_name = "X1,Y1,...,X4,Y4", value_parser = calib::parse_corners, allow_hyphen_values = true, help_heading = $heading)]
            pub $corners: Option<[[f64; 2]; 4]>,
            /// Grey-card image of this visit.
            #[arg(long, value_name = "FILE", help_heading = $heading)]
            pub $reference: Option<PathBuf>,
            /// Neutral patch x,y,w,h of this visit.
            #[arg(long, value_name = "X,Y,W,H", value_parser = calib::parse_rect, help_heading = $heading)]
            pub $rect: Option<RectPx>,
            /// The neutral reference's CIELAB L* for this visit.
            #[arg(long, value_name = "L", allow_negative_numbers = true, help_heading = $heading)]
            pub $lightness: Option<f64>,
            /// Colour-constancy estimate for this visit.
            #[arg(long, value_enum, value_name = "METHOD", help_heading = $heading)]
            pub $constancy: Option<ColourConstancy>,
        }

        impl $name {
            fn resolve(&self, shared: &ColourArgs) -> ColourArgs {
                let own = ColourArgs {
                    chart: self.$chart.clone(),
                    chart_corners: self.$corners,
                    reference: self.$reference.clone(),
                    reference_rect: self.$rect,
                    reference_lightness: self.$lightness,
                    colour_constancy: self.$constancy,
                };
                let any = own.chart.is_some()
                    || own.chart_corners.is_some()
                    || own.reference.is_some()
                    || own.reference_rect.is_some()
                    || own.reference_lightness.is_some()
                    || own.colour_constancy.is_some();
                if any {
                    own
                } else {
                    shared.clone()
                }
            }
        }
    };
}

prefixed_colour!(
    BaselineColour,
    "Colour calibration of the baseline only",
    baseline_chart,
    baseline_chart_corners,
    baseline_reference,
    baseline_reference_rect,
    baseline_reference_lightness,
    baseline_colour_constancy
);
prefixed_colour!(
    FollowupColour,
    "Colour calibration of the follow-up only",
    followup_chart,
    followup_chart_corners,
    followup_reference,
    followup_reference_rect,
    followup_reference_lightness,
    followup_colour_constancy
);

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, flag: &str) -> Result<T, Fatal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal::Usage(format!("cannot read {flag} {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Fatal::Usage(format!("{flag} {}: {e}", path.display())))
}

/// Run the comparison. Exit code 0 on success, 1 when the core refuses
/// (e.g. the images do not show the same spot: the record says why), 2 on
/// usage errors.
pub fn run(args: Args) -> Result<ExitCode, Fatal> {
    let Some(um_per_px) = args.um_per_px else {
        return Err(Fatal::Usage(
            "compare needs --um-per-px (the device's nominal scale)".into(),
        ));
    };
    if let Some(dir) = args
        .out
        .iter()
        .chain(args.overlay.iter())
        .filter_map(|p| p.parent())
        .find(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        return Err(Fatal::Usage(format!(
            "output folder does not exist: {}",
            dir.display()
        )));
    }
    let params: Params = match &args.params {
        Some(p) => read_json(p, "--params")?,
        None => Params::default(),
    };
    let cparams: CompareParams = match &args.compare_params {
        Some(p) => read_json(p, "--compare-params")?,
        None => CompareParams::default(),
    };
    let colour_b = args.baseline_colour.resolve(&args.colour);
    let colour_f = args.followup_colour.resolve(&args.colour);
    let mut refs = RefImages::default();
    refs.preload(colour_b.extra_images(&args.baseline));
    refs.preload(colour_f.extra_images(&args.followup));

    let names = (
        args.baseline.display().to_string(),
        args.followup.display().to_string(),
    );
    let work = || -> Result<(Value, Option<trichometry::Image>), Error> {
        let visit = |path: &Path, colour: &ColourArgs| {
            let cal = calib::build(Some(um_per_px), colour, path, &refs)?;
            let image = trichometry::load(path)?;
            let analysis = trichometry::analyze(&image, &cal, &params)?;
            Ok::<_, Error>((image, analysis))
        };
        let (b, f) = rayon::join(
            || visit(&args.baseline, &colour_b),
            || visit(&args.followup, &colour_f),
        );
        let ((bi, ba), (fi, fa)) = (b?, f?);
        let cmp =
            trichometry::compare::compare(&Visit::new(&bi, &ba), &Visit::new(&fi, &fa), &cparams)?;
        let overlay = match &args.overlay {
            Some(_) => Some(trichometry::compare::overlay(&cmp, &bi.view())?),
            None => None,
        };
        let mut m = Map::new();
        m.insert("baseline".into(), Value::String(names.0.clone()));
        m.insert("followup".into(), Value::String(names.1.clone()));
        match serde_json::to_value(&cmp) {
            Ok(Value::Object(c)) => m.extend(c),
            Ok(other) => {
                m.insert("comparison".into(), other);
            }
            Err(e) => {
                return Err(Error::Output {
                    path: "<json>".into(),
                    reason: e.to_string(),
                })
            }
        }
        Ok((Value::Object(m), overlay))
    };
    let (record, overlay, failed) = match work() {
        Ok((v, o)) => (v, o, false),
        Err(e) => {
            eprintln!("trichometry: compare {} {}: {e}", names.0, names.1);
            let mut m = Map::new();
            m.insert("baseline".into(), Value::String(names.0.clone()));
            m.insert("followup".into(), Value::String(names.1.clone()));
            m.insert("error".into(), Value::String(e.to_string()));
            m.insert("error_kind".into(), Value::String(e.kind().to_string()));
            (Value::Object(m), None, true)
        }
    };
    let text = serde_json::to_string_pretty(&record)
        .map_err(|e| Fatal::Runtime(format!("cannot serialise the record: {e}")))?;
    match &args.out {
        Some(out) => output::write_atomic(out, |w| {
            w.write_all(text.as_bytes())?;
            w.write_all(b"\n")
        })
        .map_err(|e| Fatal::Runtime(e.to_string()))?,
        None => {
            let mut so = std::io::stdout().lock();
            writeln!(so, "{text}")
                .map_err(|e| Fatal::Runtime(format!("cannot write to stdout: {e}")))?;
        }
    }
    if let (Some(path), Some(img)) = (&args.overlay, overlay) {
        let trichometry::Samples::U8(data) = img.samples() else {
            return Err(Fatal::Runtime("overlay is not 8-bit".into()));
        };
        output::write_atomic(path, |w| {
            use image::ImageEncoder;
            image::codecs::png::PngEncoder::new(w)
                .write_image(
                    data,
                    img.width() as u32,
                    img.height() as u32,
                    image::ExtendedColorType::Rgb8,
                )
                .map_err(std::io::Error::other)
        })
        .map_err(|e| Fatal::Runtime(e.to_string()))?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
