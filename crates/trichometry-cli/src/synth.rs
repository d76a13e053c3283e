//! `trichometry synth`: phantom images with exact ground truth.

use crate::output::write_atomic;
use crate::Fatal;
use image::ImageEncoder;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trichometry::synth::{render, SceneSpec};
use trichometry::{Error, Image, Samples};

/// Image file format of the phantoms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageFormat {
    /// Lossless PNG (8- or 16-bit).
    Png,
    /// JPEG (8-bit).
    Jpeg,
}

/// Flags of `trichometry synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of phantoms.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Seed of the first phantom; phantom i uses seed + i.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Micrometres per pixel [default: the spec's, 3.5].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub um_per_px: Option<f64>,
    /// Width in pixels [default: the spec's].
    #[arg(long)]
    pub width: Option<usize>,
    /// Height in pixels [default: the spec's].
    #[arg(long)]
    pub height: Option<usize>,
    /// A scene spec as JSON (trichometry::synth::SceneSpec; missing keys take
    /// defaults); the flags above override it.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Image format.
    #[arg(long, value_enum, default_value_t = ImageFormat::Png)]
    pub format: ImageFormat,
    /// JPEG quality (1–100).
    #[arg(long, default_value_t = 92, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub jpeg_quality: u8,
    /// File name stem: <name>.png for one phantom, <name>_0001.png … for several.
    #[arg(long, default_value = "phantom")]
    pub name: String,
}

/// Render and write the phantoms.
pub fn run(args: Args) -> Result<ExitCode, Fatal> {
    let mut spec: SceneSpec = match &args.spec {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Fatal::Usage(format!("cannot read --spec {}: {e}", p.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| Fatal::Usage(format!("--spec {}: {e}", p.display())))?
        }
        None => SceneSpec::default(),
    };
    if let Some(v) = args.um_per_px {
        spec.um_per_px = v;
    }
    if let Some(v) = args.width {
        spec.width = v;
    }
    if let Some(v) = args.height {
        spec.height = v;
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Fatal::Usage(format!("cannot create {}: {e}", args.out.display())))?;
    let ext = match args.format {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpg",
    };
    for i in 0..args.count {
        let stem = if args.count == 1 {
            args.name.clone()
        } else {
            format!("{}_{:04}", args.name, i + 1)
        };
        spec.seed = args.seed.wrapping_add(i as u64);
        let phantom = render(&spec).map_err(|e| match e {
            Error::Parameter { .. } => Fatal::Usage(e.to_string()),
            other => Fatal::Runtime(other.to_string()),
        })?;
        let image_path = args.out.join(format!("{stem}.{ext}"));
        write_image(&image_path, &phantom.image, args.format, args.jpeg_quality)
            .map_err(|e| Fatal::Runtime(e.to_string()))?;
        let truth = serde_json::json!({
            "image": image_path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "spec": phantom.spec,
            "truth": phantom.truth,
        });
        let truth_path = args.out.join(format!("{stem}.truth.json"));
        write_atomic(&truth_path, |w| {
            serde_json::to_writer_pretty(&mut *w, &truth)?;
            w.write_all(b"\n")
        })
        .map_err(|e| Fatal::Runtime(e.to_string()))?;
        eprintln!(
            "trichometry: wrote {} and {}",
            image_path.display(),
            truth_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Encode a decoded image as PNG or JPEG, atomically.
pub fn write_image(
    path: &Path,
    img: &Image,
    format: ImageFormat,
    quality: u8,
) -> Result<(), Error> {
    let (w, h) = (img.width() as u32, img.height() as u32);
    let colour = |bits16: bool| match (img.channels(), bits16) {
        (1, false) => image::ExtendedColorType::L8,
        (1, true) => image::ExtendedColorType::L16,
        (_, false) => image::ExtendedColorType::Rgb8,
        (_, true) => image::ExtendedColorType::Rgb16,
    };
    let bytes: std::borrow::Cow<[u8]> = match img.samples() {
        Samples::U8(v) => v.as_slice().into(),
        Samples::U16(v) => v
            .iter()
            .flat_map(|s| s.to_ne_bytes())
            .collect::<Vec<u8>>()
            .into(),
    };
    let bits16 = matches!(img.samples(), Samples::U16(_));
    write_atomic(path, |out| {
        let r = match format {
            ImageFormat::Png => {
                image::codecs::png::PngEncoder::new(out).write_image(&bytes, w, h, colour(bits16))
            }
            ImageFormat::Jpeg if bits16 => Err(image::ImageError::Unsupported(
                image::error::UnsupportedError::from_format_and_kind(
                    image::error::ImageFormatHint::Exact(image::ImageFormat::Jpeg),
                    image::error::UnsupportedErrorKind::GenericFeature("16-bit JPEG".into()),
                ),
            )),
            ImageFormat::Jpeg => image::codecs::jpeg::JpegEncoder::new_with_quality(out, quality)
                .write_image(&bytes, w, h, colour(false)),
        };
        r.map_err(std::io::Error::other)
    })
}
