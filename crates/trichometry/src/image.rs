//! In-memory image types: decoded samples, borrowed views, f32 planes, masks, labels.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Owned samples of a decoded image, interleaved, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    /// 8-bit sRGB-encoded samples.
    U8(Vec<u8>),
    /// 16-bit sRGB-encoded samples.
    U16(Vec<u16>),
}

/// Borrowed samples (for example a numpy buffer), interleaved, row-major.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplesRef<'a> {
    /// 8-bit sRGB-encoded samples.
    U8(&'a [u8]),
    /// 16-bit sRGB-encoded samples.
    U16(&'a [u16]),
}

/// Facts about where an image came from, carried into provenance and warnings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The source had an alpha channel, which was dropped.
    pub had_alpha: bool,
    /// EXIF orientation (1–8) that was applied while decoding; 1 when none.
    pub exif_orientation: u8,
    /// Bits per sample of the source (8 or 16).
    pub bit_depth: u8,
    /// Container format, e.g. `"jpeg"`, when decoded from a file.
    pub format: Option<String>,
    /// SHA-256 of the encoded bytes (hex), when decoded from bytes.
    pub sha256: Option<String>,
}

/// A decoded image: 1 (grey) or 3 (RGB) channels of sRGB-encoded samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    width: usize,
    height: usize,
    channels: usize,
    samples: Samples,
    /// Where the image came from.
    pub meta: ImageMeta,
}

/// A borrowed image: what every analysis takes. Build one from an [`Image`]
/// or, without copying, from a caller's buffer with [`ImageRef::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRef<'a> {
    width: usize,
    height: usize,
    channels: usize,
    samples: SamplesRef<'a>,
    /// Where the image came from.
    pub meta: ImageMeta,
}

fn check_layout(width: usize, height: usize, channels: usize, len: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Unsupported(format!(
            "image has zero size ({width}×{height})"
        )));
    }
    if channels != 1 && channels != 3 {
        return Err(Error::Unsupported(format!(
            "{channels} channels; expected 1 (grey) or 3 (RGB)"
        )));
    }
    let expected = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels))
        .ok_or_else(|| Error::Limits(format!("{width}×{height} overflows")))?;
    if expected != len {
        return Err(Error::Unsupported(format!(
            "buffer has {len} samples, {width}×{height}×{channels} needs {expected}"
        )));
    }
    Ok(())
}

impl Image {
    /// Wrap owned samples. Errors when the buffer does not match the shape.
    pub fn new(width: usize, height: usize, channels: usize, samples: Samples) -> Result<Self> {
        let len = match &samples {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
        };
        check_layout(width, height, channels, len)?;
        let bit_depth = match samples {
            Samples::U8(_) => 8,
            Samples::U16(_) => 16,
        };
        Ok(Image {
            width,
            height,
            channels,
            samples,
            meta: ImageMeta {
                exif_orientation: 1,
                bit_depth,
                ..ImageMeta::default()
            },
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// 1 (grey) or 3 (RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// The samples.
    pub fn samples(&self) -> &Samples {
        &self.samples
    }
    /// Give up the samples.
    pub fn into_samples(self) -> Samples {
        self.samples
    }
    /// Borrow as an [`ImageRef`].
    pub fn view(&self) -> ImageRef<'_> {
        ImageRef {
            width: self.width,
            height: self.height,
            channels: self.channels,
            samples: match &self.samples {
                Samples::U8(v) => SamplesRef::U8(v),
                Samples::U16(v) => SamplesRef::U16(v),
            },
            meta: self.meta.clone(),
        }
    }
}

impl<'a> From<&'a Image> for ImageRef<'a> {
    fn from(image: &'a Image) -> Self {
        image.view()
    }
}

impl<'a> ImageRef<'a> {
    /// Borrow a caller's interleaved buffer. Errors when it does not match the shape.
    pub fn new(
        width: usize,
        height: usize,
        channels: usize,
        samples: SamplesRef<'a>,
    ) -> Result<Self> {
        let (len, bit_depth) = match samples {
            SamplesRef::U8(v) => (v.len(), 8),
            SamplesRef::U16(v) => (v.len(), 16),
        };
        check_layout(width, height, channels, len)?;
        Ok(ImageRef {
            width,
            height,
            channels,
            samples,
            meta: ImageMeta {
                exif_orientation: 1,
                bit_depth,
                ..ImageMeta::default()
            },
        })
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// 1 (grey) or 3 (RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// The samples.
    pub fn samples(&self) -> SamplesRef<'a> {
        self.samples
    }
    /// Copy into an owned [`Image`].
    pub fn to_owned_image(&self) -> Image {
        Image {
            width: self.width,
            height: self.height,
            channels: self.channels,
            samples: match self.samples {
                SamplesRef::U8(v) => Samples::U8(v.to_vec()),
                SamplesRef::U16(v) => Samples::U16(v.to_vec()),
            },
            meta: self.meta.clone(),
        }
    }
}

/// A single-channel f32 plane, row-major, `data.len() == width * height`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plane {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major samples.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane filled with `value`.
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Plane {
            width,
            height,
            data: vec![value; width * height],
        }
    }
    /// Wrap a buffer; panics only on an internal size mismatch.
    pub fn from_vec(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), width * height, "plane buffer size");
        Plane {
            width,
            height,
            data,
        }
    }
    /// Sample at (x, y).
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }
    /// One row.
    #[inline]
    pub fn row(&self, y: usize) -> &[f32] {
        &self.data[y * self.width..(y + 1) * self.width]
    }
}

/// A boolean mask, row-major (`true` = inside).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mask {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major flags.
    pub data: Vec<bool>,
}

impl Mask {
    /// A mask with every pixel set to `value`.
    pub fn filled(width: usize, height: usize, value: bool) -> Self {
        Mask {
            width,
            height,
            data: vec![value; width * height],
        }
    }
    /// Number of `true` pixels.
    pub fn count(&self) -> usize {
        // Summed in blocks as `u32` (a `bool` is 0 or 1), which vectorises:
        // the filtered count ran one byte at a time (the hair stage's count
        // of a 12 MP mask took 28.5 M instructions per call, session 26).
        self.data
            .chunks(1 << 16)
            .map(|c| c.iter().map(|&b| b as u32).sum::<u32>() as usize)
            .sum()
    }
    /// Fraction of `true` pixels (0 for an empty mask).
    pub fn fraction(&self) -> f64 {
        if self.data.is_empty() {
            0.0
        } else {
            self.count() as f64 / self.data.len() as f64
        }
    }
    /// Flag at (x, y).
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.data[y * self.width + x]
    }
    /// The complement: every flag inverted (e.g. the analysable pixels
    /// from a glare mask).
    ///
    /// ```
    /// use trichometry::Mask;
    /// let glare = Mask { width: 2, height: 1, data: vec![true, false] };
    /// assert_eq!(glare.complement().data, vec![false, true]);
    /// ```
    #[must_use]
    pub fn complement(&self) -> Mask {
        Mask {
            width: self.width,
            height: self.height,
            data: self.data.iter().map(|&b| !b).collect(),
        }
    }
}

/// A label image: 0 = background, 1.. = one object each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Labels {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major labels.
    pub data: Vec<u32>,
    /// Largest label in use (labels are 1..=count).
    pub count: u32,
}
