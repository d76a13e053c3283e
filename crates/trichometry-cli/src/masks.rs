//! `--masks DIR`: the analysis' masks as PNG files (0/255 masks, 16-bit labels).

use crate::output::write_atomic;
use image::ImageEncoder;
use std::path::{Path, PathBuf};
use trichometry::{Error, Labels, Maps, Mask};

fn encode_png(
    path: &Path,
    width: usize,
    height: usize,
    bytes: &[u8],
    colour: image::ExtendedColorType,
) -> Result<(), Error> {
    write_atomic(path, |w| {
        image::codecs::png::PngEncoder::new(w)
            .write_image(bytes, width as u32, height as u32, colour)
            .map_err(std::io::Error::other)
    })
}

/// A mask as an 8-bit PNG, 255 = inside.
pub fn write_mask(path: &Path, mask: &Mask) -> Result<(), Error> {
    let bytes: Vec<u8> = mask.data.iter().map(|&b| if b { 255 } else { 0 }).collect();
    encode_png(
        path,
        mask.width,
        mask.height,
        &bytes,
        image::ExtendedColorType::L8,
    )
}

/// Labels as a 16-bit PNG (0 = background). More than 65535 labels do not fit:
/// an error, not a silent wrap-around.
pub fn write_labels(path: &Path, labels: &Labels) -> Result<(), Error> {
    let max = labels.data.iter().copied().max().unwrap_or(0);
    if max > u32::from(u16::MAX) {
        return Err(Error::Output {
            path: path.to_path_buf(),
            reason: format!("{max} labels do not fit a 16-bit PNG"),
        });
    }
    // The encoder takes 16-bit samples in native byte order.
    let bytes: Vec<u8> = labels
        .data
        .iter()
        .flat_map(|&l| (l as u16).to_ne_bytes())
        .collect();
    encode_png(
        path,
        labels.width,
        labels.height,
        &bytes,
        image::ExtendedColorType::L16,
    )
}

/// Write every mask present in `maps` as `<dir>/<stem>_<name>.png`.
pub fn write_all(dir: &Path, stem: &str, maps: &Maps) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    let p = |name: &str| dir.join(format!("{stem}_{name}.png"));
    let mut mask = |name: &str, m: Option<&Mask>| -> Result<(), Error> {
        if let Some(m) = m.filter(|m| !m.data.is_empty()) {
            write_mask(&p(name), m)?;
            written.push(p(name));
        }
        Ok(())
    };
    mask("skin", Some(&maps.skin_mask))?;
    mask("glare", Some(&maps.glare_mask))?;
    mask("hairs", maps.hair_mask.as_ref())?;
    mask("vessels", maps.vessel_mask.as_ref())?;
    mask("scales", maps.scale_mask.as_ref())?;
    mask("yellow_dots", maps.yellow_dot_mask.as_ref())?;
    for (name, l) in [
        ("hair_labels", maps.hair_labels.as_ref()),
        ("vessel_labels", maps.vessel_labels.as_ref()),
    ] {
        if let Some(l) = l.filter(|l| !l.data.is_empty()) {
            write_labels(&p(name), l)?;
            written.push(p(name));
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_as_16_bit_and_masks_as_0_255() {
        let dir = std::env::temp_dir().join(format!("trichometry-masks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let labels = Labels {
            width: 3,
            height: 2,
            data: vec![0, 1, 2, 300, 65535, 7],
            count: 65535,
        };
        write_labels(&dir.join("l.png"), &labels).unwrap();
        let img = trichometry::load(dir.join("l.png")).unwrap();
        assert_eq!(
            img.samples(),
            &trichometry::Samples::U16(vec![0, 1, 2, 300, 65535, 7])
        );
        let too_many = Labels {
            data: vec![70000; 6],
            ..labels
        };
        assert_eq!(
            write_labels(&dir.join("x.png"), &too_many)
                .unwrap_err()
                .kind(),
            "output"
        );
        let mask = Mask {
            width: 2,
            height: 2,
            data: vec![true, false, false, true],
        };
        write_mask(&dir.join("m.png"), &mask).unwrap();
        let img = trichometry::load(dir.join("m.png")).unwrap();
        assert_eq!(
            img.samples(),
            &trichometry::Samples::U8(vec![255, 0, 0, 255])
        );
    }
}
