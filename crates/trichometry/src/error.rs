//! The one error type of the core.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, by kind. Bad user input is always an `Err`,
/// never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a decodable image (corrupt, truncated, empty).
    #[error("cannot decode image: {0}")]
    Decoding(String),
    /// The image format or pixel layout is not supported.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// The image exceeds the decoder limits (pixels or memory): a guard
    /// against decompression bombs.
    #[error("image exceeds limits: {0}")]
    Limits(String),
    /// A parameter or calibration value is invalid (NaN, negative, out of range).
    #[error("invalid parameter `{name}`: {reason}")]
    Parameter {
        /// The parameter's public name (as in Python keywords and CLI flags).
        name: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The image has no colour but the requested measure needs colour.
    #[error("colour required: {0}")]
    ColourRequired(String),
    /// A colour reference (chart or neutral patch) could not be used.
    #[error("colour calibration failed: {0}")]
    Calibration(String),
    /// Two images could not be registered (not the same spot, too little overlap).
    #[error("registration failed: {0}")]
    Registration(String),
    /// Writing an output failed.
    #[error("cannot write {path}: {reason}")]
    Output {
        /// The target path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// Shorthand for a [`Error::Parameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::Parameter {
            name,
            reason: reason.into(),
        }
    }

    /// A stable machine-readable kind, used in CLI records and Python exception mapping.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Decoding(_) => "decoding",
            Error::Unsupported(_) => "unsupported",
            Error::Limits(_) => "limits",
            Error::Parameter { .. } => "parameter",
            Error::ColourRequired(_) => "colour_required",
            Error::Calibration(_) => "calibration",
            Error::Registration(_) => "registration",
            Error::Output { .. } => "output",
        }
    }
}

/// Check that a physical scale is a finite positive number.
pub fn check_positive(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(Error::param(
            name,
            format!("must be a finite number > 0, got {value}"),
        ))
    }
}
