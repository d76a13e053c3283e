//! The change overlay: the baseline image in grey with gained, lost,
//! thinned/thickened and split-or-merged hairs and gained/lost capillaries
//! drawn on it.

use super::{ChangeKind, Comparison};
use crate::error::{Error, Result};
use crate::image::{Image, ImageRef, Samples, SamplesRef};

/// Colours of the overlay marks (sRGB).
const GAINED: [u8; 3] = [40, 220, 60];
const LOST: [u8; 3] = [235, 40, 40];
const THINNED: [u8; 3] = [255, 170, 0];
const THICKENED: [u8; 3] = [60, 140, 255];
const SPLIT_OR_MERGED: [u8; 3] = [200, 80, 255];
/// Dash period of the split-or-merged lines (px): `DASH` on, `DASH` off.
const DASH: usize = 4;

/// Draw the changes of `cmp` on the baseline image (8-bit RGB out):
/// hairs as lines along their axis (green gained, red lost, orange thinned,
/// blue thickened, dashed violet for a record joined to the other visit's
/// shaft as split or merged — see
/// [`CompareParams::join_split_hairs`](super::CompareParams::join_split_hairs);
/// unchanged hairs are not drawn), capillaries as circles (green gained, red
/// lost); the field outside the shared part is darkened to a third.
pub fn overlay(cmp: &Comparison, baseline: &ImageRef<'_>) -> Result<Image> {
    let (w, h) = (baseline.width(), baseline.height());
    let shared = &cmp.maps.shared;
    if shared.width != w || shared.height != h {
        return Err(Error::param(
            "baseline",
            "the image is not this comparison's baseline",
        ));
    }
    let c = baseline.channels();
    let mut out = vec![0u8; w * h * 3];
    for i in 0..w * h {
        let g = match baseline.samples() {
            SamplesRef::U8(s) => {
                if c == 3 {
                    ((s[3 * i] as u32 * 54 + s[3 * i + 1] as u32 * 183 + s[3 * i + 2] as u32 * 19)
                        >> 8) as u8
                } else {
                    s[i]
                }
            }
            SamplesRef::U16(s) => {
                let v = if c == 3 {
                    (s[3 * i] as u32 * 54 + s[3 * i + 1] as u32 * 183 + s[3 * i + 2] as u32 * 19)
                        >> 8
                } else {
                    s[i] as u32
                };
                (v >> 8) as u8
            }
        };
        let g = if shared.data[i] { g } else { g / 3 };
        out[3 * i..3 * i + 3].copy_from_slice(&[g, g, g]);
    }
    let mut put = |x: i64, y: i64, col: [u8; 3]| {
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            let i = 3 * (y as usize * w + x as usize);
            out[i..i + 3].copy_from_slice(&col);
        }
    };
    for m in &cmp.hair_matches {
        let col = match m.change {
            ChangeKind::Gained => GAINED,
            ChangeKind::Lost => LOST,
            ChangeKind::Thinned => THINNED,
            ChangeKind::Thickened => THICKENED,
            ChangeKind::SplitOrMerged => SPLIT_OR_MERGED,
            ChangeKind::Unchanged => continue,
        };
        let dashed = m.change == ChangeKind::SplitOrMerged;
        let [a, b] = m.ends_px;
        let n = ((b[0] - a[0]).hypot(b[1] - a[1]).ceil() as usize).max(1);
        for k in 0..=n {
            if dashed && (k / DASH) % 2 == 1 {
                continue;
            }
            let t = k as f64 / n as f64;
            let (x, y) = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]));
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1)] {
                put(x.round() as i64 + dx, y.round() as i64 + dy, col);
            }
        }
    }
    let r = 8.0;
    for m in &cmp.capillary_matches {
        let col = match m.change {
            ChangeKind::Gained => GAINED,
            ChangeKind::Lost => LOST,
            _ => continue,
        };
        for k in 0..64 {
            let t = k as f64 / 64.0 * std::f64::consts::TAU;
            put(
                (m.x_px + r * t.cos()).round() as i64,
                (m.y_px + r * t.sin()).round() as i64,
                col,
            );
        }
    }
    Image::new(w, h, 3, Samples::U8(out))
}
