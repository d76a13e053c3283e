//! End-to-end colour and erythema tests: phantoms with known truth through
//! `trichometry::analyze`.

use trichometry::calibration::{ChartReference, NeutralReference, RectPx};
use trichometry::synth::{self, chart::ChartSpec, chart::GreyCardSpec, optics::OpticsSpec};
use trichometry::{analyze, Calibration, ColourReference, Error, Image, Params, Samples, Warning};

/// A warm cast with channel cross-talk, and under-exposure: what a
/// dermatoscope's LEDs and a camera's white balance can do.
const CAST: [[f32; 3]; 3] = [[1.20, 0.06, -0.02], [0.02, 0.90, 0.03], [-0.02, 0.05, 0.80]];

fn base_spec(seed: u64) -> synth::SceneSpec {
    synth::SceneSpec {
        width: 1000,
        height: 750,
        um_per_px: 3.5,
        seed,
        ..Default::default()
    }
}

/// Realistic optics without vignetting (a spatially varying exposure no
/// global correction can undo; tested on its own below).
fn noisy_optics() -> OpticsSpec {
    OpticsSpec {
        vignetting: 0.0,
        ..OpticsSpec::realistic()
    }
}

fn chart_spec() -> ChartSpec {
    ChartSpec {
        centre: [0.3, 0.3],
        width_fraction: 0.36,
        rotation_deg: 8.0,
        keystone: 0.05,
        ..Default::default()
    }
}

fn cal(colour: ColourReference) -> Calibration {
    Calibration {
        um_per_px: None,
        colour,
    }
}

#[test]
fn chart_in_image_corrects_a_cast() {
    let spec = synth::SceneSpec {
        chart: Some(chart_spec()),
        optics: noisy_optics().with_cast(CAST, 0.85),
        ..base_spec(21)
    };
    let ph = synth::render(&spec).unwrap();
    let corners = ph.truth.chart_corners_px.unwrap();

    // Uncorrected, the cast shifts a* by several units.
    let raw = analyze(&ph.image, &cal(ColourReference::None), &Params::default()).unwrap();
    let chart = ColourReference::Chart(ChartReference {
        corners_px: corners,
        image: None,
    });
    let res = analyze(&ph.image, &cal(chart), &Params::default()).unwrap();
    let s = &res.summary;
    let a = s.erythema.erythema_a_star_mean.unwrap();
    let ei = s.erythema.erythema_index_mean.unwrap();
    let de = s.colour_delta_e2000_mean.unwrap();
    eprintln!(
        "chart in image: ΔE00 mean {de:.3}, a* {a:.3} (truth {:.3}, uncorrected {:.3}), \
         EI {ei:.3} (truth {:.3})",
        ph.truth.skin_a_star_mean,
        raw.summary.erythema.erythema_a_star_mean.unwrap(),
        ph.truth.skin_erythema_index_mean
    );
    assert_eq!(
        s.colour_calibration,
        trichometry::ColourCalibrationKind::Chart
    );
    assert!(de < 2.0, "mean ΔE2000 {de}");
    assert!((a - ph.truth.skin_a_star_mean).abs() < 0.5);
    assert!((ei - ph.truth.skin_erythema_index_mean).abs() < 1.0);
    // The cast is big enough to matter: without correction a* is off by > 2.
    assert!(
        (raw.summary.erythema.erythema_a_star_mean.unwrap() - ph.truth.skin_a_star_mean).abs()
            > 2.0
    );
    // The chart is left out of the skin.
    let (cx, cy) = (
        (corners[0][0] + corners[2][0]) / 2.0,
        (corners[0][1] + corners[2][1]) / 2.0,
    );
    assert!(!res.maps.skin_mask.get(cx as usize, cy as usize));
    assert!(!res.warnings.contains(&Warning::PoorChartFit));
    assert!(!res.warnings.contains(&Warning::UncalibratedColour));
}

#[test]
fn chart_in_separate_image_corrects_a_cast() {
    let optics = noisy_optics().with_cast(CAST, 0.85);
    let calib = synth::render(&synth::SceneSpec {
        chart: Some(ChartSpec {
            centre: [0.5, 0.5],
            width_fraction: 0.7,
            rotation_deg: -5.0,
            ..Default::default()
        }),
        optics: optics.clone(),
        ..base_spec(5)
    })
    .unwrap();
    let ph = synth::render(&synth::SceneSpec {
        optics,
        ..base_spec(6)
    })
    .unwrap();
    let chart = ColourReference::Chart(ChartReference {
        corners_px: calib.truth.chart_corners_px.unwrap(),
        image: Some(calib.image.clone()),
    });
    let res = analyze(&ph.image, &cal(chart), &Params::default()).unwrap();
    let s = &res.summary;
    let a = s.erythema.erythema_a_star_mean.unwrap();
    let ei = s.erythema.erythema_index_mean.unwrap();
    let de = s.colour_delta_e2000_mean.unwrap();
    eprintln!(
        "chart in separate image: ΔE00 mean {de:.3}, a* {a:.3} (truth {:.3}), EI {ei:.3} (truth {:.3})",
        ph.truth.skin_a_star_mean, ph.truth.skin_erythema_index_mean
    );
    assert!(de < 2.0, "mean ΔE2000 {de}");
    assert!((a - ph.truth.skin_a_star_mean).abs() < 0.5);
    assert!((ei - ph.truth.skin_erythema_index_mean).abs() < 1.0);
    // Nothing is excluded from the analysed image for a separate chart.
    assert!(res.maps.skin_mask.fraction() > 0.9);
}

#[test]
fn uncalibrated_uncast_srgb_phantom_measures_true_a_star() {
    let ph = synth::render(&synth::SceneSpec {
        optics: noisy_optics(),
        ..base_spec(7)
    })
    .unwrap();
    let res = analyze(&ph.image, &cal(ColourReference::None), &Params::default()).unwrap();
    let e = &res.summary.erythema;
    let (a, med, ei) = (
        e.erythema_a_star_mean.unwrap(),
        e.erythema_a_star_median.unwrap(),
        e.erythema_index_mean.unwrap(),
    );
    eprintln!(
        "uncalibrated: a* mean {a:.3} (truth {:.3}), median {med:.3} (truth {:.3}), \
         EI {ei:.3} (truth {:.3}), glare {:.4}",
        ph.truth.skin_a_star_mean,
        ph.truth.skin_a_star_median,
        ph.truth.skin_erythema_index_mean,
        res.summary.glare_fraction
    );
    assert!((a - ph.truth.skin_a_star_mean).abs() < 0.5);
    assert!((med - ph.truth.skin_a_star_median).abs() < 0.5);
    assert!((ei - ph.truth.skin_erythema_index_mean).abs() < 1.0);
    assert!(res.warnings.contains(&Warning::UncalibratedColour));
    assert_eq!(
        res.summary.colour_calibration,
        trichometry::ColourCalibrationKind::None
    );
    // Percentiles are ordered and bracket the median.
    assert!(e.erythema_a_star_p10.unwrap() < med && med < e.erythema_a_star_p90.unwrap());
}

/// White-balance and exposure drift: per-channel gains and a darker exposure.
const DRIFT: [[f32; 3]; 3] = [[0.85, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.2]];

#[test]
fn grey_card_in_image_removes_exposure_and_white_balance_drift() {
    let card = RectPx {
        x: 760,
        y: 40,
        w: 180,
        h: 140,
    };
    let ph = synth::render(&synth::SceneSpec {
        grey_card: Some(GreyCardSpec {
            rect: card,
            lightness: 50.0,
        }),
        optics: noisy_optics().with_cast(DRIFT, 0.7),
        ..base_spec(8)
    })
    .unwrap();
    let raw = analyze(&ph.image, &cal(ColourReference::None), &Params::default()).unwrap();
    let neutral = ColourReference::Neutral(NeutralReference {
        rect: Some(card),
        lightness: 50.0,
        image: None,
    });
    let res = analyze(&ph.image, &cal(neutral), &Params::default()).unwrap();
    let a = res.summary.erythema.erythema_a_star_mean.unwrap();
    let ei = res.summary.erythema.erythema_index_mean.unwrap();
    let a_raw = raw.summary.erythema.erythema_a_star_mean.unwrap();
    eprintln!(
        "grey card in image: a* {a:.3} (truth {:.3}, uncorrected {a_raw:.3}), EI {ei:.3} (truth {:.3})",
        ph.truth.skin_a_star_mean, ph.truth.skin_erythema_index_mean
    );
    assert_eq!(
        res.summary.colour_calibration,
        trichometry::ColourCalibrationKind::ReferencePatch
    );
    assert!((a - ph.truth.skin_a_star_mean).abs() < 0.5);
    assert!((ei - ph.truth.skin_erythema_index_mean).abs() < 1.0);
    assert!((a_raw - ph.truth.skin_a_star_mean).abs() > 2.0);
    // The card is not skin.
    assert!(!res.maps.skin_mask.get(card.x + 10, card.y + 10));
}

#[test]
fn grey_card_image_removes_drift_between_visits() {
    let optics = noisy_optics().with_cast(DRIFT, 1.3);
    let card = synth::render(&synth::SceneSpec {
        width: 300,
        height: 200,
        skin: synth::skin::SkinSpec::flat([50.0, 0.0, 0.0]),
        optics: OpticsSpec {
            glare_spots: 0,
            ..optics.clone()
        },
        ..base_spec(9)
    })
    .unwrap();
    let ph = synth::render(&synth::SceneSpec {
        optics,
        ..base_spec(10)
    })
    .unwrap();
    let neutral = ColourReference::Neutral(NeutralReference {
        rect: None,
        lightness: 50.0,
        image: Some(card.image),
    });
    let res = analyze(&ph.image, &cal(neutral), &Params::default()).unwrap();
    let a = res.summary.erythema.erythema_a_star_mean.unwrap();
    eprintln!(
        "grey card image: a* {a:.3} (truth {:.3})",
        ph.truth.skin_a_star_mean
    );
    assert!((a - ph.truth.skin_a_star_mean).abs() < 0.5);
}

#[test]
fn vignetting_shifts_a_star_slightly() {
    let clean = OpticsSpec {
        vignetting: 0.0,
        ..OpticsSpec::default()
    };
    let vig = OpticsSpec {
        vignetting: 0.3,
        ..OpticsSpec::default()
    };
    let a_of = |optics: OpticsSpec| {
        let ph = synth::render(&synth::SceneSpec {
            optics,
            ..base_spec(11)
        })
        .unwrap();
        let r = analyze(&ph.image, &cal(ColourReference::None), &Params::default()).unwrap();
        let m = r.maps.erythema.unwrap();
        // Mean a* in the 100×100 corner and in the centre, minus the truth there.
        let (w, h) = (ph.image.width(), ph.image.height());
        let truth = synth::render(&synth::SceneSpec {
            optics: OpticsSpec::default(),
            ..base_spec(11)
        })
        .unwrap();
        let tm = analyze(
            &truth.image,
            &cal(ColourReference::None),
            &Params::default(),
        )
        .unwrap()
        .maps
        .erythema
        .unwrap();
        let region = |x0: usize, y0: usize| {
            let mut d = 0f64;
            for y in y0..y0 + 100 {
                for x in x0..x0 + 100 {
                    d += (m.a_star.get(x, y) - tm.a_star.get(x, y)) as f64;
                }
            }
            d / 1e4
        };
        (
            region(0, 0),
            region(w / 2 - 50, h / 2 - 50),
            r.summary.erythema.erythema_a_star_mean.unwrap() - ph.truth.skin_a_star_mean,
        )
    };
    let (c0, m0, g0) = a_of(clean);
    let (c1, m1, g1) = a_of(vig);
    eprintln!(
        "vignetting 0.3: a* shift corner {c1:.3} centre {m1:.3} whole {g1:.3} \
         (clean: corner {c0:.3} centre {m0:.3} whole {g0:.3})"
    );
    assert!(c0.abs() < 1e-9 && m0.abs() < 1e-9);
    // The corner gets ~70 % of the light: a* scales with lightness, so it
    // drops; the centre is unaffected.
    assert!(c1 < -0.3, "corner shift {c1}");
    assert!(m1.abs() < 0.05, "centre shift {m1}");
}

#[test]
fn greyscale_needs_colour_for_colour_work() {
    let (w, h) = (64, 48);
    let grey = Image::new(w, h, 1, Samples::U8(vec![128; w * h])).unwrap();
    let res = analyze(&grey, &cal(ColourReference::None), &Params::default()).unwrap();
    assert!(res.warnings.contains(&Warning::Greyscale));
    assert!(res.summary.erythema.erythema_a_star_mean.is_none());
    assert!(res.maps.erythema.is_none());
    for reference in [
        ColourReference::Chart(ChartReference {
            corners_px: [[1.0, 1.0], [60.0, 1.0], [60.0, 40.0], [1.0, 40.0]],
            image: None,
        }),
        ColourReference::Neutral(NeutralReference {
            rect: Some(RectPx {
                x: 0,
                y: 0,
                w: 10,
                h: 10,
            }),
            lightness: 50.0,
            image: None,
        }),
        ColourReference::ShadesOfGray,
    ] {
        match analyze(&grey, &cal(reference), &Params::default()) {
            Err(Error::ColourRequired(msg)) => assert!(msg.contains("greyscale"), "{msg}"),
            other => panic!("expected ColourRequired, got {other:?}"),
        }
    }
}

#[test]
fn bad_um_per_px_is_a_parameter_error() {
    let ph = synth::render(&synth::SceneSpec {
        width: 64,
        height: 48,
        ..Default::default()
    })
    .unwrap();
    for v in [f64::NAN, -3.5, 0.0, f64::INFINITY] {
        assert!(matches!(
            Calibration::with_um_per_px(v),
            Err(Error::Parameter {
                name: "um_per_px",
                ..
            })
        ));
        let c = Calibration {
            um_per_px: Some(v),
            colour: ColourReference::None,
        };
        assert!(matches!(
            analyze(&ph.image, &c, &Params::default()),
            Err(Error::Parameter {
                name: "um_per_px",
                ..
            })
        ));
    }
}

fn small_phantom() -> synth::Phantom {
    synth::render(&synth::SceneSpec {
        width: 200,
        height: 150,
        ..Default::default()
    })
    .unwrap()
}

fn calibration_error(img: &Image, reference: ColourReference) -> String {
    match analyze(img, &cal(reference), &Params::default()) {
        Err(Error::Calibration(msg)) => msg,
        other => panic!("expected Error::Calibration, got {other:?}"),
    }
}

#[test]
fn unusable_references_are_calibration_errors() {
    let img = small_phantom().image;
    let chart = |c: [[f64; 2]; 4]| {
        ColourReference::Chart(ChartReference {
            corners_px: c,
            image: None,
        })
    };
    let m = calibration_error(
        &img,
        chart([[10.0, 10.0], [250.0, 10.0], [250.0, 100.0], [10.0, 100.0]]),
    );
    assert!(m.contains("outside"), "{m}");
    let m = calibration_error(
        &img,
        chart([[10.0, 10.0], [100.0, 10.0], [100.0, 10.0], [10.0, 100.0]]),
    );
    assert!(m.contains("convex"), "{m}");
    let m = calibration_error(
        &img,
        chart([[10.0, 10.0], [10.0, 100.0], [150.0, 100.0], [150.0, 10.0]]),
    );
    assert!(m.contains("counter-clockwise"), "{m}");
    let m = calibration_error(
        &img,
        chart([[10.0, 10.0], [22.0, 10.0], [22.0, 18.0], [10.0, 18.0]]),
    );
    assert!(m.contains("too small"), "{m}");
    let rect = |x, y, w, h| {
        ColourReference::Neutral(NeutralReference {
            rect: Some(RectPx { x, y, w, h }),
            lightness: 50.0,
            image: None,
        })
    };
    let m = calibration_error(&img, rect(190, 10, 20, 20));
    assert!(m.contains("outside"), "{m}");
    let m = calibration_error(&img, rect(10, 10, 0, 20));
    assert!(m.contains("empty"), "{m}");
    // Saturated and black cards.
    let (w, h) = (40, 30);
    let white = Image::new(w, h, 3, Samples::U8(vec![255; 3 * w * h])).unwrap();
    let black = Image::new(w, h, 3, Samples::U8(vec![0; 3 * w * h])).unwrap();
    let card = |image: Image| {
        ColourReference::Neutral(NeutralReference {
            rect: None,
            lightness: 50.0,
            image: Some(image),
        })
    };
    let m = calibration_error(&img, card(white));
    assert!(m.contains("saturated"), "{m}");
    let m = calibration_error(&img, card(black));
    assert!(m.contains("too dark"), "{m}");
    // An overexposed chart.
    let bright = synth::render(&synth::SceneSpec {
        chart: Some(ChartSpec {
            width_fraction: 0.8,
            ..Default::default()
        }),
        optics: OpticsSpec::default().with_cast(optics_identity(), 3.0),
        ..base_spec(3)
    })
    .unwrap();
    let m = calibration_error(&bright.image, chart(bright.truth.chart_corners_px.unwrap()));
    assert!(m.contains("overexposed"), "{m}");
    let dark = synth::render(&synth::SceneSpec {
        chart: Some(ChartSpec {
            width_fraction: 0.8,
            ..Default::default()
        }),
        optics: OpticsSpec::default().with_cast(optics_identity(), 0.01),
        ..base_spec(3)
    })
    .unwrap();
    let m = calibration_error(&dark.image, chart(dark.truth.chart_corners_px.unwrap()));
    assert!(m.contains("too dark"), "{m}");
}

fn optics_identity() -> [[f32; 3]; 3] {
    synth::optics::IDENTITY
}

#[test]
fn shades_of_gray_only_when_asked_and_flagged() {
    let ph = small_phantom();
    let res = analyze(
        &ph.image,
        &cal(ColourReference::ShadesOfGray),
        &Params::default(),
    )
    .unwrap();
    assert_eq!(
        res.summary.colour_calibration,
        trichometry::ColourCalibrationKind::Estimated
    );
    assert!(res.warnings.contains(&Warning::EstimatedColour));
    // Shades-of-Gray greys the skin itself: a* moves towards 0. That is why
    // it is never the default.
    let a = res.summary.erythema.erythema_a_star_mean.unwrap();
    assert!(a < ph.truth.skin_a_star_mean - 3.0, "a* {a}");
}

#[test]
fn glare_is_found_and_left_out() {
    let ph = synth::render(&synth::SceneSpec {
        optics: OpticsSpec {
            glare_spots: 12,
            glare_radius_um: 100.0,
            noise: OpticsSpec::realistic().noise,
            jpeg_quality: Some(90),
            ..OpticsSpec::default()
        },
        ..base_spec(12)
    })
    .unwrap();
    let res = analyze(&ph.image, &cal(ColourReference::None), &Params::default()).unwrap();
    let truth = &ph.truth.glare_mask;
    let found = &res.maps.glare_mask;
    let (mut tp, mut fp, mut fnn) = (0usize, 0usize, 0usize);
    for (t, f) in truth.data.iter().zip(&found.data) {
        match (t, f) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fnn += 1,
            _ => {}
        }
    }
    let recall = tp as f64 / (tp + fnn) as f64;
    let precision = tp as f64 / (tp + fp) as f64;
    eprintln!(
        "glare: truth {:.4}, found {:.4}, recall {recall:.3}, precision {precision:.3}; \
         a* {:.3} (truth {:.3})",
        truth.fraction(),
        res.summary.glare_fraction,
        res.summary.erythema.erythema_a_star_mean.unwrap(),
        ph.truth.skin_a_star_mean
    );
    assert!(recall > 0.97, "recall {recall}");
    assert!(precision > 0.6, "precision {precision}");
    // Skin excludes glare, so a* stays true.
    assert!(
        (res.summary.erythema.erythema_a_star_mean.unwrap() - ph.truth.skin_a_star_mean).abs()
            < 0.5
    );
    assert!(res
        .maps
        .skin_mask
        .data
        .iter()
        .zip(&found.data)
        .all(|(s, g)| !(s & g)));
    // No glare: no mask, no warning.
    let clean = synth::render(&base_spec(12)).unwrap();
    let r = analyze(
        &clean.image,
        &cal(ColourReference::None),
        &Params::default(),
    )
    .unwrap();
    assert_eq!(r.summary.glare_fraction, 0.0);
    assert!(!r.warnings.contains(&Warning::Glare));
    if res.summary.glare_fraction > 0.05 {
        assert!(res.warnings.contains(&Warning::Glare));
    }
}

#[test]
fn blur_lowers_the_focus_score_and_warns() {
    let score = |blur_sigma_um: f64| {
        let ph = synth::render(&synth::SceneSpec {
            optics: OpticsSpec {
                blur_sigma_um,
                noise: OpticsSpec::realistic().noise,
                jpeg_quality: Some(90),
                ..OpticsSpec::default()
            },
            ..base_spec(13)
        })
        .unwrap();
        let r = analyze(&ph.image, &cal(ColourReference::None), &Params::default()).unwrap();
        (
            r.summary.focus_score,
            r.warnings.contains(&Warning::Blurred),
        )
    };
    let (sharp, sharp_warn) = score(0.0);
    let (soft, _) = score(3.5);
    let (blurred, blurred_warn) = score(10.0);
    let (very, very_warn) = score(20.0);
    eprintln!(
        "focus: sharp {sharp:.3e}, σ=3.5 µm {soft:.3e}, σ=10 µm {blurred:.3e}, σ=20 µm {very:.3e}"
    );
    assert!(sharp > soft && soft > blurred && blurred > very);
    assert!(sharp > 2.0 * blurred && blurred > 2.0 * very);
    assert!(!sharp_warn);
    assert!(blurred_warn && very_warn);
}

#[test]
fn chart_corners_starting_at_the_wrong_patch_give_a_poor_fit_warning() {
    let ph = synth::render(&synth::SceneSpec {
        chart: Some(chart_spec()),
        optics: OpticsSpec::default().with_cast(CAST, 0.85),
        ..base_spec(22)
    })
    .unwrap();
    let c = ph.truth.chart_corners_px.unwrap();
    // Still clockwise, but starting at the corner of patch 24: the chart is
    // read upside down.
    let rotated = [c[2], c[3], c[0], c[1]];
    let res = analyze(
        &ph.image,
        &cal(ColourReference::Chart(ChartReference {
            corners_px: rotated,
            image: None,
        })),
        &Params::default(),
    )
    .unwrap();
    let de = res.summary.colour_delta_e2000_mean.unwrap();
    eprintln!("upside-down chart: mean ΔE00 {de:.2}");
    assert!(de > 5.0, "{de}");
    assert!(res.warnings.contains(&Warning::PoorChartFit));
}
