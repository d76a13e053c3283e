//! Decoding: JPEG, PNG (8/16-bit), TIFF; EXIF orientation; decoder limits.
//!
//! Everything that comes out of here is an [`Image`] with 1 (grey) or 3 (RGB)
//! channels of sRGB-encoded samples, 8- or 16-bit as in the file, in display
//! orientation (EXIF applied), alpha dropped (`meta.had_alpha`), with the
//! SHA-256 of the encoded bytes in `meta.sha256`.
//!
//! Bad bytes are an `Err`, never a panic and never an out-of-memory kill:
//! empty, truncated or corrupt → [`Error::Decoding`]; an unknown or disabled
//! format → [`Error::Unsupported`]; more pixels or memory than
//! [`DecodeLimits`] allow (a decompression bomb) → [`Error::Limits`], checked
//! from the header before any pixel buffer is allocated.

use crate::error::{Error, Result};
use crate::image::{Image, Samples};
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::Path;

/// Limits checked from the header before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width × height (default 120 megapixels).
    pub max_pixels: u64,
    /// Largest allocation the decoder may make, in bytes (default 1 GiB).
    pub max_alloc_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pixels: 120_000_000,
            max_alloc_bytes: 1 << 30,
        }
    }
}

/// Read and decode an image file with the default [`DecodeLimits`].
pub fn load(path: impl AsRef<Path>) -> Result<Image> {
    load_with_limits(path, &DecodeLimits::default())
}

/// Read and decode an image file with explicit limits.
pub fn load_with_limits(path: impl AsRef<Path>, limits: &DecodeLimits) -> Result<Image> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_with_limits(&bytes, limits)
}

/// Decode encoded bytes (JPEG, PNG, TIFF) with the default [`DecodeLimits`].
///
/// ```
/// // A 1×1 8-bit RGB PNG, written by hand.
/// let err = trichometry::decode(&[]).unwrap_err();
/// assert_eq!(err.kind(), "decoding");
/// ```
pub fn decode(bytes: &[u8]) -> Result<Image> {
    decode_with_limits(bytes, &DecodeLimits::default())
}

/// Decode encoded bytes with explicit limits.
pub fn decode_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Image> {
    if bytes.is_empty() {
        return Err(Error::Decoding("empty input (0 bytes)".into()));
    }
    let format = image::guess_format(bytes).map_err(|_| {
        Error::Unsupported("unknown image format (expected JPEG, PNG or TIFF)".into())
    })?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Tiff
    ) {
        return Err(Error::Unsupported(format!(
            "{} images are not supported (expected JPEG, PNG or TIFF)",
            format_name(format)
        )));
    }
    // The JPEG decoder fills a truncated scan with grey rather than failing:
    // that would be measured as skin, so a JPEG must reach its end marker.
    if format == ImageFormat::Jpeg && !jpeg_reaches_eoi(bytes) {
        return Err(Error::Decoding(
            "truncated JPEG: the data ends before the end-of-image marker".into(),
        ));
    }
    // Decoders are third-party code fed untrusted bytes: a panic in one must
    // still come out as a typed error for this file (a batch goes on).
    // The digest runs on another thread while the (single-threaded) decoder
    // works: it costs about as much as decoding a PNG.
    let (decoded, sha256) = rayon::join(
        || {
            std::panic::catch_unwind(|| decode_pixels(bytes, format, limits)).unwrap_or_else(|_| {
                Err(Error::Decoding("the decoder panicked on this input".into()))
            })
        },
        || sha256_hex(bytes),
    );
    let decoded = decoded?;
    let (dynamic, orientation) = decoded;
    let mut image = into_image(dynamic)?;
    image.meta.exif_orientation = orientation;
    image.meta.format = Some(format_name(format).to_string());
    image.meta.sha256 = Some(sha256);
    Ok(image)
}

/// Walk the JPEG marker segments (skipping their payloads, so an EXIF
/// thumbnail's own markers do not count) and the entropy-coded scans; true
/// when an EOI marker (FF D9) ends the image.
fn jpeg_reaches_eoi(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // Expect a marker, possibly preceded by fill bytes (FF FF …).
        if i >= n || bytes[i] != 0xFF {
            return false;
        }
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        if i >= n {
            return false;
        }
        let marker = bytes[i];
        i += 1;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue, // markers without payload
            _ => {}
        }
        if i + 2 > n {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        if len < 2 {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is neither a
            // stuffed zero (FF 00) nor a restart marker (FF D0–D7).
            loop {
                while i < n && bytes[i] != 0xFF {
                    i += 1;
                }
                if i + 1 >= n {
                    return false;
                }
                let next = bytes[i + 1];
                if next == 0x00 || (0xD0..=0xD7).contains(&next) || next == 0xFF {
                    i += if next == 0xFF { 1 } else { 2 };
                    continue;
                }
                break;
            }
        }
    }
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Gif => "gif",
        ImageFormat::WebP => "webp",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Ico => "ico",
        ImageFormat::Avif => "avif",
        ImageFormat::Pnm => "pnm",
        ImageFormat::Tga => "tga",
        ImageFormat::Dds => "dds",
        ImageFormat::Hdr => "hdr",
        ImageFormat::OpenExr => "openexr",
        ImageFormat::Farbfeld => "farbfeld",
        ImageFormat::Qoi => "qoi",
        _ => "this format's",
    }
}

fn map_image_error(e: ImageError) -> Error {
    match e {
        ImageError::Limits(l) => Error::Limits(l.to_string()),
        ImageError::Unsupported(u) => Error::Unsupported(u.to_string()),
        // A short read from an in-memory cursor means truncated data.
        ImageError::IoError(io) => Error::Decoding(format!("truncated or unreadable data: {io}")),
        other => Error::Decoding(other.to_string()),
    }
}

/// Header → limit checks → pixels, with the EXIF orientation (1–8) applied.
fn decode_pixels(
    bytes: &[u8],
    format: ImageFormat,
    limits: &DecodeLimits,
) -> Result<(DynamicImage, u8)> {
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::Decoding(format!("image has zero size ({w}×{h})")));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > limits.max_pixels {
        return Err(Error::Limits(format!(
            "{w}×{h} = {pixels} pixels exceeds the limit of {} pixels",
            limits.max_pixels
        )));
    }
    let total = decoder.total_bytes();
    if total > limits.max_alloc_bytes {
        return Err(Error::Limits(format!(
            "decoding needs {total} bytes, the limit is {} bytes",
            limits.max_alloc_bytes
        )));
    }
    // A broken EXIF block does not make the pixels unusable: treat it as "no
    // orientation", as cameras and viewers do.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut dynamic = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    dynamic.apply_orientation(orientation);
    Ok((dynamic, exif_code(orientation)))
}

fn exif_code(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

/// Keep grey as 1 channel and colour as 3, 8- or 16-bit as decoded; drop alpha.
fn into_image(dynamic: DynamicImage) -> Result<Image> {
    let (w, h) = (dynamic.width() as usize, dynamic.height() as usize);
    let (channels, samples, had_alpha) = match dynamic {
        DynamicImage::ImageLuma8(b) => (1, Samples::U8(b.into_raw()), false),
        DynamicImage::ImageRgb8(b) => (3, Samples::U8(b.into_raw()), false),
        DynamicImage::ImageLuma16(b) => (1, Samples::U16(b.into_raw()), false),
        DynamicImage::ImageRgb16(b) => (3, Samples::U16(b.into_raw()), false),
        DynamicImage::ImageLumaA8(b) => (1, Samples::U8(drop_alpha(&b.into_raw(), 2)), true),
        DynamicImage::ImageRgba8(b) => (3, Samples::U8(drop_alpha(&b.into_raw(), 4)), true),
        DynamicImage::ImageLumaA16(b) => (1, Samples::U16(drop_alpha(&b.into_raw(), 2)), true),
        DynamicImage::ImageRgba16(b) => (3, Samples::U16(drop_alpha(&b.into_raw(), 4)), true),
        other => {
            return Err(Error::Unsupported(format!(
                "pixel type {:?} (floating-point samples); expected 8- or 16-bit grey or RGB",
                other.color()
            )))
        }
    };
    let mut image = Image::new(w, h, channels, samples)?;
    image.meta.had_alpha = had_alpha;
    Ok(image)
}

fn drop_alpha<T: Copy>(interleaved: &[T], stride: usize) -> Vec<T> {
    let keep = stride - 1;
    let mut out = Vec::with_capacity(interleaved.len() / stride * keep);
    for px in interleaved.chunks_exact(stride) {
        out.extend_from_slice(&px[..keep]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::SamplesRef;
    use image::ImageEncoder;

    /// A smooth, asymmetric display image (Wd × Hd): R ramps along x, G along
    /// y, B on the diagonal, so every one of the 8 orientations looks different.
    fn pattern(wd: usize, hd: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(wd * hd * 3);
        for y in 0..hd {
            for x in 0..wd {
                v.push((30 + 190 * x / (wd - 1)) as u8);
                v.push((40 + 170 * y / (hd - 1)) as u8);
                v.push((60 + 120 * (x + 2 * y) / (wd - 1 + 2 * (hd - 1))) as u8);
            }
        }
        v
    }

    /// Where display pixel (x, y) is stored for EXIF orientation `o` (the EXIF
    /// definition, written out independently of the image crate).
    fn stored_xy(o: u8, x: usize, y: usize, wd: usize, hd: usize) -> (usize, usize) {
        match o {
            1 => (x, y),
            2 => (wd - 1 - x, y),
            3 => (wd - 1 - x, hd - 1 - y),
            4 => (x, hd - 1 - y),
            5 => (y, x),
            6 => (y, wd - 1 - x),
            7 => (hd - 1 - y, wd - 1 - x),
            8 => (hd - 1 - y, x),
            _ => unreachable!(),
        }
    }

    fn encode_jpeg(w: usize, h: usize, rgb: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
            .write_image(rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn encode_png(w: usize, h: usize, bytes: &[u8], ct: image::ExtendedColorType) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(bytes, w as u32, h as u32, ct)
            .unwrap();
        out
    }

    /// Insert an APP1 Exif segment (big-endian TIFF, one IFD entry: tag 0x0112
    /// Orientation, SHORT) right after SOI.
    fn with_exif_orientation(jpeg: &[u8], o: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // header, IFD0 at offset 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&o.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]); // value padding
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(&tiff);
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn u8_samples(img: &Image) -> &[u8] {
        match img.samples() {
            Samples::U8(v) => v,
            Samples::U16(_) => panic!("expected 8-bit"),
        }
    }

    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum::<f64>()
            / a.len() as f64
    }

    /// Stored (camera) image for orientation `o` of display image `disp`.
    fn stored_for(o: u8, disp: &[u8], wd: usize, hd: usize) -> (usize, usize, Vec<u8>) {
        let (ws, hs) = if o >= 5 { (hd, wd) } else { (wd, hd) };
        let mut s = vec![0u8; ws * hs * 3];
        for y in 0..hd {
            for x in 0..wd {
                let (xs, ys) = stored_xy(o, x, y, wd, hd);
                let (d, si) = ((y * wd + x) * 3, (ys * ws + xs) * 3);
                s[si..si + 3].copy_from_slice(&disp[d..d + 3]);
            }
        }
        (ws, hs, s)
    }

    #[test]
    fn exif_orientations_1_to_8_restore_the_display_image() {
        let (wd, hd) = (48, 32);
        let disp = pattern(wd, hd);
        for o in 1..=8u8 {
            let (ws, hs, stored) = stored_for(o, &disp, wd, hd);
            let jpeg = with_exif_orientation(&encode_jpeg(ws, hs, &stored), o as u16);
            let img = decode(&jpeg).unwrap();
            assert_eq!((img.width(), img.height()), (wd, hd), "orientation {o}");
            assert_eq!(img.meta.exif_orientation, o);
            assert_eq!(img.meta.format.as_deref(), Some("jpeg"));
            let err = mean_abs_diff(u8_samples(&img), &disp);
            assert!(err < 2.0, "orientation {o}: mean |diff| {err}");
            // The check can fail: the stored (unrotated) pixels are far off.
            if o != 1 && o < 5 {
                let raw = mean_abs_diff(&stored, &disp);
                assert!(raw > 10.0, "orientation {o} pattern not asymmetric: {raw}");
            }
        }
    }

    #[test]
    fn exif_orientations_give_the_same_analysis() {
        let (wd, hd) = (96, 64);
        let disp = pattern(wd, hd);
        let cal = crate::Calibration::with_um_per_px(3.5).unwrap();
        let params = crate::Params::default();
        let reference = {
            let img = decode(&encode_jpeg(wd, hd, &disp)).unwrap();
            crate::analyze(&img, &cal, &params).unwrap()
        };
        let a_ref = reference.summary.erythema.erythema_a_star_mean.unwrap();
        let ei_ref = reference.summary.erythema.erythema_index_median.unwrap();
        for o in 2..=8u8 {
            let (ws, hs, stored) = stored_for(o, &disp, wd, hd);
            let jpeg = with_exif_orientation(&encode_jpeg(ws, hs, &stored), o as u16);
            let img = decode(&jpeg).unwrap();
            let a = crate::analyze(&img, &cal, &params).unwrap();
            assert_eq!((a.summary.width_px, a.summary.height_px), (wd, hd));
            assert_eq!(a.provenance.exif_orientation, o);
            let da = (a.summary.erythema.erythema_a_star_mean.unwrap() - a_ref).abs();
            let dei = (a.summary.erythema.erythema_index_median.unwrap() - ei_ref).abs();
            assert!(da < 0.3, "orientation {o}: a* mean differs by {da}");
            assert!(dei < 0.5, "orientation {o}: EI median differs by {dei}");
        }
    }

    #[test]
    fn png_8_and_16_bit_grey_and_alpha() {
        // 16-bit RGB: samples kept as u16, exactly.
        let (w, h) = (5, 3);
        let v16: Vec<u16> = (0..w * h * 3).map(|i| (i * 4099) as u16).collect();
        let bytes16: Vec<u8> = v16.iter().flat_map(|v| v.to_be_bytes()).collect();
        // PngEncoder takes native-endian samples.
        let ne16: Vec<u8> = v16.iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(bytes16.len(), ne16.len());
        let img = decode(&encode_png(w, h, &ne16, image::ExtendedColorType::Rgb16)).unwrap();
        assert_eq!(img.channels(), 3);
        assert_eq!(img.meta.bit_depth, 16);
        assert_eq!(img.samples(), &Samples::U16(v16));
        assert_eq!(img.meta.format.as_deref(), Some("png"));

        // 8-bit grey stays one channel.
        let grey: Vec<u8> = (0..w * h).map(|i| (i * 17) as u8).collect();
        let img = decode(&encode_png(w, h, &grey, image::ExtendedColorType::L8)).unwrap();
        assert_eq!(img.channels(), 1);
        assert_eq!(img.samples(), &Samples::U8(grey));
        assert!(!img.meta.had_alpha);

        // RGBA: alpha dropped and flagged, colour kept exactly.
        let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 7) as u8).collect();
        let img = decode(&encode_png(w, h, &rgba, image::ExtendedColorType::Rgba8)).unwrap();
        assert!(img.meta.had_alpha);
        assert_eq!(img.channels(), 3);
        let expect: Vec<u8> = rgba.chunks(4).flat_map(|p| p[..3].to_vec()).collect();
        assert_eq!(img.samples(), &Samples::U8(expect));
        let a = crate::analyze(
            &img,
            &crate::Calibration::default(),
            &crate::Params::default(),
        )
        .unwrap();
        assert!(a.warnings.contains(&crate::Warning::AlphaDropped));

        // Grey + alpha, 16-bit.
        let la: Vec<u16> = (0..w * h * 2).map(|i| (i * 1000) as u16).collect();
        let ne: Vec<u8> = la.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let img = decode(&encode_png(w, h, &ne, image::ExtendedColorType::La16)).unwrap();
        assert!(img.meta.had_alpha);
        assert_eq!(img.channels(), 1);
        let expect: Vec<u16> = la.chunks(2).map(|p| p[0]).collect();
        assert_eq!(img.samples(), &Samples::U16(expect));
    }

    #[test]
    fn tiff_round_trip_and_sha256() {
        let (w, h) = (7, 4);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 5) as u8).collect();
        let mut out = Cursor::new(Vec::new());
        image::codecs::tiff::TiffEncoder::new(&mut out)
            .write_image(&rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
            .unwrap();
        let bytes = out.into_inner();
        let img = decode(&bytes).unwrap();
        assert_eq!(img.meta.format.as_deref(), Some("tiff"));
        assert_eq!(img.samples(), &Samples::U8(rgb));
        // Known vector: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(img.meta.sha256, Some(sha256_hex(&bytes)));
    }

    #[test]
    fn empty_truncated_corrupt_and_unknown() {
        assert_eq!(decode(&[]).unwrap_err().kind(), "decoding");
        let (w, h) = (64, 48);
        let jpeg = encode_jpeg(w, h, &pattern(w, h));
        for cut in [4, 20, jpeg.len() / 3, jpeg.len() - 2, jpeg.len() - 1] {
            let e = decode(&jpeg[..cut]).unwrap_err();
            assert_eq!(e.kind(), "decoding", "JPEG cut at {cut}: {e}");
        }
        let png = encode_png(w, h, &pattern(w, h), image::ExtendedColorType::Rgb8);
        for cut in [10, 40, png.len() / 2, png.len() - 20] {
            let e = decode(&png[..cut]).unwrap_err();
            assert_eq!(e.kind(), "decoding", "PNG cut at {cut}: {e}");
        }
        let mut tiff = Cursor::new(Vec::new());
        image::codecs::tiff::TiffEncoder::new(&mut tiff)
            .write_image(
                &pattern(w, h),
                w as u32,
                h as u32,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        let tiff = tiff.into_inner();
        for cut in [6, 30, tiff.len() / 2, tiff.len() - 10] {
            let e = decode(&tiff[..cut]).unwrap_err();
            assert_eq!(e.kind(), "decoding", "TIFF cut at {cut}: {e}");
        }
        // Flip bytes in the PNG image data: the CRC / zlib check fails.
        let mut bad = png.clone();
        let mid = bad.len() / 2;
        for b in &mut bad[mid..mid + 16] {
            *b ^= 0x5A;
        }
        assert_eq!(decode(&bad).unwrap_err().kind(), "decoding");
        // Not an image at all.
        assert_eq!(
            decode(b"hello, this is a text file\n").unwrap_err().kind(),
            "unsupported"
        );
        // A known but disabled format (GIF) is unsupported, not corrupt.
        assert_eq!(
            decode(b"GIF89a\x01\0\x01\0\0\0\0;").unwrap_err().kind(),
            "unsupported"
        );
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }

    /// A PNG whose header declares `w`×`h` RGB8, with a tiny IDAT.
    fn png_with_header(w: u32, h: u32) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png_chunk(&mut out, b"IHDR", &ihdr);
        // zlib stream of a few zero bytes (stored block).
        png_chunk(
            &mut out,
            b"IDAT",
            &[
                0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0, 0x04, 0, 0x01,
            ],
        );
        png_chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn jpeg_end_marker_walk() {
        let (w, h) = (40, 30);
        let jpeg = encode_jpeg(w, h, &pattern(w, h));
        assert!(jpeg_reaches_eoi(&jpeg));
        // Trailing data after EOI (some cameras append previews) is fine.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"trailer");
        assert!(decode(&trailing).is_ok());
        // An EXIF block holding a complete thumbnail JPEG (with its own EOI)
        // does not make a truncated main image look complete.
        let mut app1 = vec![0xFF, 0xD8, 0xFF, 0xE1];
        let thumb = &jpeg;
        app1.extend_from_slice(&((thumb.len() + 2) as u16).to_be_bytes());
        app1.extend_from_slice(thumb);
        let main_cut = &jpeg[2..jpeg.len() * 2 / 3];
        app1.extend_from_slice(main_cut);
        assert!(!jpeg_reaches_eoi(&app1));
        assert_eq!(decode(&app1).unwrap_err().kind(), "decoding");
        for cut in 0..jpeg.len() {
            assert!(!jpeg_reaches_eoi(&jpeg[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn crc32_known_vector() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn decompression_bombs_hit_the_limits() {
        let e = decode(&png_with_header(100_000, 100_000)).unwrap_err();
        assert_eq!(e.kind(), "limits", "{e}");
        // A JPEG whose SOF claims 65535×65535: patch the frame header.
        let mut jpeg = encode_jpeg(16, 16, &pattern(16, 16));
        let sof = jpeg
            .windows(2)
            .position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2))
            .unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        let e = decode(&jpeg).unwrap_err();
        assert_eq!(e.kind(), "limits", "{e}");
        // Configurable: a small image over a small limit.
        let png = encode_png(20, 20, &pattern(20, 20), image::ExtendedColorType::Rgb8);
        let tight = DecodeLimits {
            max_pixels: 399,
            ..DecodeLimits::default()
        };
        assert_eq!(
            decode_with_limits(&png, &tight).unwrap_err().kind(),
            "limits"
        );
        let tight_alloc = DecodeLimits {
            max_alloc_bytes: 1000,
            ..DecodeLimits::default()
        };
        assert_eq!(
            decode_with_limits(&png, &tight_alloc).unwrap_err().kind(),
            "limits"
        );
        assert!(decode(&png).is_ok());
    }

    #[test]
    fn zero_size_is_an_error() {
        for (w, h) in [(0, 10), (10, 0)] {
            let e = decode(&png_with_header(w, h)).unwrap_err();
            assert_eq!(e.kind(), "decoding", "{w}×{h}: {e}");
        }
    }

    #[test]
    fn load_reports_missing_files_as_io() {
        let e = load("/nonexistent/dir/x.jpg").unwrap_err();
        assert_eq!(e.kind(), "io");
        assert!(
            matches!(e, Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn decoded_image_is_analysable_as_a_view() {
        let png = encode_png(8, 6, &pattern(8, 6), image::ExtendedColorType::Rgb8);
        let img = decode(&png).unwrap();
        let v = img.view();
        assert!(matches!(v.samples(), SamplesRef::U8(s) if s.len() == 8 * 6 * 3));
        assert_eq!(v.meta.sha256, img.meta.sha256);
    }
}
