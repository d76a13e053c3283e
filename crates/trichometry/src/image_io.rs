//! Decoding: JPEG, PNG (8/16-bit), TIFF; EXIF orientation; decoder limits.

use crate::error::{Error, Result};
use crate::image::Image;
use std::path::Path;

/// Read and decode an image file.
pub fn load(path: impl AsRef<Path>) -> Result<Image> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes)
}

/// Decode encoded bytes.
pub fn decode(_bytes: &[u8]) -> Result<Image> {
    Err(Error::Unsupported("decoding is not implemented yet".into()))
}
