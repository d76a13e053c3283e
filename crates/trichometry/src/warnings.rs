//! Warnings carried by every result: things a reader of the numbers must know.

use serde::{Deserialize, Serialize};

/// One warning. Serialised as its snake_case code (e.g. `"uncalibrated_colour"`);
/// [`Warning::message`] gives the sentence for humans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// No colour reference: colours are measured as sRGB (D65) as they are.
    UncalibratedColour,
    /// Colours were corrected by an estimate (Shades-of-Gray), not a reference.
    EstimatedColour,
    /// The source had an alpha channel; it was dropped.
    AlphaDropped,
    /// The source was greyscale: colour measures were skipped.
    Greyscale,
    /// No µm-per-pixel scale: no physical units, hair and vessel stages skipped.
    NoScale,
    /// The image is blurred (low focus score).
    Blurred,
    /// A large part of the image is glare.
    Glare,
    /// Many pixels are clipped white.
    Overexposed,
    /// Many pixels are clipped black.
    Underexposed,
    /// Little analysable skin is left (after glare, hair and vessels).
    LittleSkin,
    /// The colour chart fit is poor (high ΔE2000 after correction).
    PoorChartFit,
}

impl Warning {
    /// A sentence for humans.
    pub fn message(self) -> &'static str {
        match self {
            Warning::UncalibratedColour => {
                "no colour reference: colours measured as sRGB (D65) as they are"
            }
            Warning::EstimatedColour => {
                "colours corrected by a Shades-of-Gray estimate, not by a reference"
            }
            Warning::AlphaDropped => "the alpha channel was dropped",
            Warning::Greyscale => "greyscale image: colour measures skipped",
            Warning::NoScale => {
                "no um_per_px: physical units not reported, hair and vessel stages skipped"
            }
            Warning::Blurred => "the image is blurred (low focus score)",
            Warning::Glare => "a large part of the image is glare",
            Warning::Overexposed => "many pixels are clipped white",
            Warning::Underexposed => "many pixels are clipped black",
            Warning::LittleSkin => "little analysable skin is left",
            Warning::PoorChartFit => "poor colour chart fit (high ΔE2000 after correction)",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}
